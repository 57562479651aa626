//! A conversation's fingerprint, as facts in no API's shape: a hash of
//! each piece of its system prompt, of each tool (with its name), and of
//! each message in order (its role, and for an assistant turn whether it
//! carried its reasoning), as the request's facts give them
//! ([`Facts::message_hash`]: from the byte ranges a chat client's reader
//! holds, or noted as a Messages body was read, never re-serialised;
//! [`crate::format::fingerprint`]).
//!
//! [`first_change`] compares two turns of one conversation: `None` when
//! the later extends the earlier (the provider's prefix cache holds), else
//! what changed first ([`Break`]).

use std::sync::Arc;

use crate::format::fingerprint::{Fingerprint, hash};
use crate::wire::facts::Facts;

/// One tool: its name and a hash of its whole definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// `None` past the names' bound ([`MOST_TOOL_NAME_BYTES`]).
    pub name: Option<Arc<str>>,
    pub hash: u64,
}

/// One message: its role, a hash of its bytes without its reasoning,
/// whether it carried reasoning (an assistant turn's thinking), and its
/// index as the client numbers its messages after the system prompt (what
/// a break names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub hash: u64,
    pub reasoning: bool,
    pub at: u32,
}

/// A message's role, as the comparison needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
    Tool,
    Other,
}

/// The most pieces a conversation's fingerprint keeps of each kind
/// (system pieces, tools, messages): what a session holds is bounded
/// whatever a body holds (16 bytes a message, 64 KB at most of them;
/// the tools kept apart are fewer, [`MOST_TOOLS`]), and a change past them
/// goes unseen, never a break named that was none.
pub const MOST_PIECES: usize = 4096;

/// The most tools a conversation keeps apart, by name, to say which one
/// changed, and the most bytes of their names in all: the whole list's
/// hash tells a change anywhere in it, and one past these is said without
/// its name. A list costs 24 bytes a tool and its names: 24 KB at most.
const MOST_TOOLS: usize = 512;
const MOST_TOOL_NAME_BYTES: usize = 8 << 10;

/// A turn of a conversation: what the provider's prefix cache sees, in
/// its order (system, tools, messages), the first [`MOST_PIECES`] of each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conversation {
    /// Each piece of the system prompt (each leading system or developer
    /// message), in order.
    pub system: Vec<u64>,
    /// The whole tool list's hash: equal lists are not split again.
    pub tools: u64,
    /// Each tool, when read ([`Conversation::tool_list`]); `None` until
    /// the comparison needs them.
    pub tool_list: Option<Arc<[Tool]>>,
    /// Each message after the system prompt, in order.
    pub messages: Vec<Message>,
}

impl Conversation {
    /// The fingerprint of `request`, from its facts; the tool list is
    /// hashed whole, not split ([`Self::tool_list`]).
    pub fn of(request: &dyn Facts) -> Self {
        let infos = request.messages();
        let leading = infos
            .iter()
            .take_while(|m| matches!(&*m.role, "system" | "developer"))
            .count();
        let system = (0..leading.min(MOST_PIECES))
            .map(|index| request.message_hash(index))
            .collect();
        let messages = infos[leading..]
            .iter()
            .take(MOST_PIECES)
            .enumerate()
            .map(|(at, info)| Message {
                role: match &*info.role {
                    "user" => Role::User,
                    "assistant" => Role::Assistant,
                    "tool" => Role::Tool,
                    _ => Role::Other,
                },
                hash: request.message_hash(leading + at),
                reasoning: request.carries_reasoning(leading + at),
                at: u32::try_from(request.origin(leading + at).unwrap_or(at)).unwrap_or(u32::MAX),
            })
            .collect();
        Self {
            system,
            tools: request.raw("tools").map_or(0, |raw| hash([raw.as_bytes()])),
            tool_list: None,
            messages,
        }
    }

    /// The hash of the conversation's stable start: its system prompt,
    /// its tools and its first user message (what the turns of one
    /// conversation share, and two conversations seldom do).
    pub fn start(&self) -> u64 {
        let first_user = self
            .messages
            .iter()
            .find(|m| m.role == Role::User)
            .map_or(0, |m| m.hash);
        let mut hasher = Fingerprint::default();
        for number in self.system.iter().chain([&self.tools, &first_user]) {
            hasher.number(*number);
        }
        hasher.finish()
    }

    /// Each tool of `request`, split from its `tools` (read only when the
    /// list changed, or for a new conversation), its name as `shown`
    /// gives it (a break names it in logs and the status: a key pasted
    /// into one is scrubbed there).
    pub fn tool_list(request: &dyn Facts, shown: impl Fn(Arc<str>) -> Arc<str>) -> Arc<[Tool]> {
        let Some(raw) = request.raw("tools") else {
            return Arc::from([]);
        };
        let bytes = raw.as_bytes();
        let mut left = MOST_TOOL_NAME_BYTES;
        crate::format::scan::element_ranges(bytes)
            .unwrap_or_default()
            .into_iter()
            .take(MOST_TOOLS)
            .map(|range| {
                let text = &raw[range];
                let name = tool_name(text).filter(|name| name.len() <= left);
                left -= name.as_ref().map_or(0, |name| name.len());
                Tool {
                    name: name.map(&shown),
                    hash: hash([text.as_bytes()]),
                }
            })
            .collect()
    }
}

/// A tool definition's name: `function.name` (chat) or `name`.
fn tool_name(definition: &str) -> Option<Arc<str>> {
    #[derive(serde::Deserialize)]
    struct Named<'a> {
        #[serde(borrow)]
        name: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        function: Option<Function<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Function<'a> {
        #[serde(borrow)]
        name: Option<std::borrow::Cow<'a, str>>,
    }
    let named: Named = serde_json::from_str(definition).ok()?;
    let name = named.function.and_then(|f| f.name).or(named.name)?;
    // A name is the client's text: bounded and printable, for a log line.
    let shown: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    Some(Arc::from(shown))
}

/// What changed first between two turns of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// The system prompt.
    System,
    /// The tool list: a tool added, removed or changed (by name), or the
    /// order.
    Tools(ToolChange),
    /// Message `index` (as the client numbers its messages: Messages'
    /// `messages`, a chat body's after its system prompt) rewritten, or
    /// the conversation cut before it (a compaction).
    Messages { index: usize },
    /// Message `index` (numbered so too), an assistant turn, replayed
    /// without the reasoning it carried; `restored` when the reasoning
    /// cache gave it back.
    Reasoning { index: usize, restored: bool },
    /// The prefix was extended, but the provider read little of it from
    /// its cache: another target answered than the last turn's.
    Moved,
    /// The prefix was extended, but the conversation was idle longer than
    /// the provider keeps its cache.
    Expired,
}

/// How a tool list changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChange {
    Added(Arc<str>),
    Removed(Arc<str>),
    Changed(Arc<str>),
    /// The same tools in another order, or not known tool by tool.
    Reordered,
    /// A tool not kept by name (past the first [`MOST_TOOLS`], or its
    /// name past the names' bound) added, removed or changed.
    Unnamed,
}

impl Break {
    /// The cause's label (the metric's `cause`).
    pub fn cause(&self) -> &'static str {
        match self {
            Break::System => "system",
            Break::Tools(_) => "tools",
            Break::Messages { .. } => "messages",
            Break::Reasoning { .. } => "reasoning",
            Break::Moved => "moved",
            Break::Expired => "expired",
        }
    }

    /// Every cause's label, in order.
    pub const CAUSES: [&'static str; 6] = [
        "system",
        "tools",
        "messages",
        "reasoning",
        "moved",
        "expired",
    ];
}

impl std::fmt::Display for Break {
    /// The cause and what it names: `tools: added read_file`,
    /// `messages: rewritten at 3`, `reasoning: dropped at 1, not restored`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Break::Tools(ToolChange::Added(name)) => write!(f, "tools: added {name}"),
            Break::Tools(ToolChange::Removed(name)) => write!(f, "tools: removed {name}"),
            Break::Tools(ToolChange::Changed(name)) => write!(f, "tools: changed {name}"),
            Break::Tools(ToolChange::Reordered) => write!(f, "tools: reordered"),
            Break::Tools(ToolChange::Unnamed) => write!(f, "tools: one not kept by name changed"),
            Break::Messages { index } => write!(f, "messages: rewritten at {index}"),
            Break::Reasoning { index, restored } => {
                let given = if *restored {
                    "restored by the reasoning cache"
                } else {
                    "not restored"
                };
                write!(f, "reasoning: dropped at {index}, {given}")
            }
            other => f.write_str(other.cause()),
        }
    }
}

/// Whether two turns of one session share nothing, neither the system
/// prompt nor the first message: another conversation within the session
/// (a side request, a title or a check), not a change of this one.
pub fn unrelated(one: &Conversation, other: &Conversation) -> bool {
    let first = |c: &Conversation| c.messages.first().map(|m| (m.role, m.hash));
    one.system != other.system && (first(one).is_none() || first(one) != first(other))
}

/// What changed first from `before` to `after`, or `None` when `after`
/// extends `before` (or repeats it). `restored` says whether the reasoning
/// cache gave back the reasoning of message `index` of `after`.
pub fn first_change(
    before: &Conversation,
    after: &Conversation,
    restored: impl Fn(usize) -> bool,
) -> Option<Break> {
    if before.system != after.system {
        return Some(Break::System);
    }
    if before.tools != after.tools {
        return Some(Break::Tools(tool_change(
            before.tool_list.as_deref(),
            after.tool_list.as_deref(),
        )));
    }
    for (index, old) in before.messages.iter().enumerate() {
        // Named as the client numbers its messages: the later turn's, or
        // for a cut, the earlier's.
        let named = |message: &Message| message.at as usize;
        let Some(new) = after.messages.get(index) else {
            return Some(Break::Messages { index: named(old) });
        };
        if old.role != new.role || old.hash != new.hash {
            return Some(Break::Messages { index: named(new) });
        }
        if old.reasoning && !new.reasoning {
            return Some(Break::Reasoning {
                index: named(new),
                restored: restored(index),
            });
        }
    }
    None
}

/// The first difference between two tool lists, by name: one added,
/// removed or changed; else the same tools in another order; else one not
/// kept by name.
fn tool_change(before: Option<&[Tool]>, after: Option<&[Tool]>) -> ToolChange {
    let (Some(before), Some(after)) = (before, after) else {
        return ToolChange::Reordered;
    };
    let named = |list: &[Tool], name: &str| {
        (list.iter())
            .find(|t| t.name.as_deref() == Some(name))
            .cloned()
    };
    fn names(list: &[Tool]) -> impl Iterator<Item = (&Tool, &Arc<str>)> {
        list.iter().filter_map(|t| Some((t, t.name.as_ref()?)))
    }
    if let Some((_, added)) = names(after).find(|(_, n)| named(before, n).is_none()) {
        return ToolChange::Added(added.clone());
    }
    if let Some((_, removed)) = names(before).find(|(_, n)| named(after, n).is_none()) {
        return ToolChange::Removed(removed.clone());
    }
    let changed =
        names(after).find(|(t, n)| named(before, n).is_some_and(|old| old.hash != t.hash));
    if let Some((_, name)) = changed {
        return ToolChange::Changed(name.clone());
    }
    let hashes = |list: &[Tool]| list.iter().map(|t| t.hash).collect::<Vec<_>>();
    let (mut before, mut after) = (hashes(before), hashes(after));
    if before != after {
        before.sort_unstable();
        after.sort_unstable();
        if before == after {
            return ToolChange::Reordered;
        }
    }
    ToolChange::Unnamed
}

#[cfg(test)]
mod tests {
    use crate::wire::openai::ChatRequest;
    use serde_json::{Value, json};

    use super::*;

    fn turn(body: Value) -> Conversation {
        let request = ChatRequest::parse(serde_json::to_vec(&body).unwrap()).unwrap();
        let mut conversation = Conversation::of(&request);
        conversation.tool_list = Some(Conversation::tool_list(&request, |name| name));
        conversation
    }

    fn tool(name: &str, description: &str) -> Value {
        json!({"type": "function", "function": {"name": name, "description": description, "parameters": {}}})
    }

    fn body(tools: Vec<Value>, messages: Vec<Value>) -> Value {
        let mut all = vec![json!({"role": "system", "content": "Be brief."})];
        all.extend(messages);
        json!({"model": "m", "tools": tools, "messages": all})
    }

    fn user(text: &str) -> Value {
        json!({"role": "user", "content": text})
    }

    fn assistant(text: &str, reasoning: Option<&str>) -> Value {
        let mut message = json!({"role": "assistant", "content": text});
        if let Some(r) = reasoning {
            message["reasoning_content"] = json!(r);
        }
        message
    }

    #[test]
    fn a_turn_that_appends_extends_and_each_change_is_named_first() {
        let tools = || vec![tool("read", "Reads."), tool("write", "Writes.")];
        let one = turn(body(tools(), vec![user("hi")]));
        let two = turn(body(
            tools(),
            vec![user("hi"), assistant("yes", Some("hmm")), user("more")],
        ));
        assert_eq!(first_change(&one, &two, |_| false), None);
        assert_eq!(first_change(&two, &two, |_| false), None);

        let mut system = body(tools(), vec![user("hi")]);
        system["messages"][0]["content"] = json!("Be long.");
        assert_eq!(
            first_change(&one, &turn(system), |_| false),
            Some(Break::System)
        );

        // A date changed inside a long prompt, its length the same.
        let dated = |date: &str| {
            let mut body = body(tools(), vec![user("hi")]);
            let prompt = format!("{}Today is {date}.{}", "a".repeat(600), "b".repeat(600));
            body["messages"][0]["content"] = json!(prompt);
            turn(body)
        };
        assert_eq!(
            first_change(&dated("2026-11-29"), &dated("2026-11-30"), |_| false),
            Some(Break::System)
        );
        // Two tools of a long list swapped in its middle.
        let long = |order: [&str; 2]| {
            let mut tools = vec![tool("first", &"f".repeat(400))];
            tools.extend(order.map(|name| tool(name, "Same length.")));
            tools.push(tool("last", &"l".repeat(400)));
            turn(body(tools, vec![user("hi")]))
        };
        assert_eq!(
            first_change(&long(["aa", "bb"]), &long(["bb", "aa"]), |_| false)
                .unwrap()
                .to_string(),
            "tools: reordered"
        );

        let cases = [
            (
                vec![
                    tool("read", "Reads."),
                    tool("write", "Writes."),
                    tool("grep", ""),
                ],
                "tools: added grep",
            ),
            (vec![tool("read", "Reads.")], "tools: removed write"),
            (
                vec![tool("read", "Reads files."), tool("write", "Writes.")],
                "tools: changed read",
            ),
            (
                vec![tool("write", "Writes."), tool("read", "Reads.")],
                "tools: reordered",
            ),
        ];
        for (tools, expected) in cases {
            let got = first_change(&one, &turn(body(tools, vec![user("hi")])), |_| false);
            assert_eq!(got.unwrap().to_string(), expected);
        }

        let three = |second: Value| {
            turn(body(
                tools(),
                vec![user("hi"), second, user("more"), assistant("ok", None)],
            ))
        };
        let before = three(assistant("yes", Some("hmm")));
        let rewritten = three(assistant("no", Some("hmm")));
        assert_eq!(
            first_change(&before, &rewritten, |_| false),
            Some(Break::Messages { index: 1 })
        );
        let dropped = three(assistant("yes", None));
        assert_eq!(
            first_change(&before, &dropped, |_| false)
                .unwrap()
                .to_string(),
            "reasoning: dropped at 1, not restored"
        );
        assert_eq!(
            first_change(&before, &dropped, |index| index == 1),
            Some(Break::Reasoning {
                index: 1,
                restored: true
            })
        );
        // OpenRouter's spellings of reasoning, dropped, are reasoning too.
        for key in ["reasoning", "reasoning_details"] {
            let mut spelled = assistant("yes", None);
            spelled[key] = json!("hmm");
            let before = three(spelled);
            let dropped = three(assistant("yes", None));
            assert_eq!(
                first_change(&before, &dropped, |_| false)
                    .unwrap()
                    .to_string(),
                "reasoning: dropped at 1, not restored",
                "{key}"
            );
        }
        // A cache mark moved to the last message, the one it left written
        // as a string again: the provider's cache reads no marks.
        let marked = |text: &str| {
            json!({"role": "user", "content": [
                {"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]})
        };
        let one = turn(body(tools(), vec![marked("hi")]));
        let two = turn(body(
            tools(),
            vec![user("hi"), assistant("yo", None), marked("more")],
        ));
        assert_eq!(first_change(&one, &two, |_| false), None);
        // And moved off an assistant turn.
        let answered = |marked: bool| {
            let mut part = json!({"type": "text", "text": "yo"});
            if marked {
                part["cache_control"] = json!({"type": "ephemeral"});
            }
            json!({"role": "assistant", "content": [part]})
        };
        let three = turn(body(tools(), vec![user("hi"), answered(true)]));
        let four = turn(body(
            tools(),
            vec![user("hi"), answered(false), marked("more")],
        ));
        assert_eq!(first_change(&three, &four, |_| false), None);
        let parts = |texts: [&str; 2]| {
            let parts = texts.map(|text| json!({"type": "text", "text": text}));
            json!({"role": "user", "content": parts})
        };
        let edited = turn(body(tools(), vec![parts(["hi", "there"])]));
        let other = turn(body(tools(), vec![parts(["hi", "here"])]));
        assert_eq!(
            first_change(&edited, &other, |_| false),
            Some(Break::Messages { index: 0 })
        );
        // Cut short, as a compaction does: the first message it lost.
        let cut = turn(body(tools(), vec![user("hi")]));
        assert_eq!(
            first_change(&before, &cut, |_| false),
            Some(Break::Messages { index: 1 })
        );
    }

    /// A tool list is kept apart by name for its first tools, their names
    /// bounded in all: a body of thousands of tools with long names of
    /// four-byte characters costs a session kilobytes, not a megabyte. A
    /// change past them is a change of the tools all the same.
    #[test]
    fn a_tool_list_is_kept_bounded_and_still_tells_a_change() {
        let long = |i: usize| format!("{i}{}", "\u{1F600}".repeat(63));
        let tools = |n: usize| (0..n).map(|i| tool(&long(i), "d")).collect::<Vec<_>>();
        let before = turn(body(tools(4096), vec![user("hi")]));
        let list = before.tool_list.as_deref().unwrap();
        let named: usize = list
            .iter()
            .filter_map(|t| t.name.as_ref())
            .map(|n| n.len())
            .sum();
        let held = std::mem::size_of_val(list) + named;
        assert!(held <= 24 << 10, "{held} bytes for {} tools", list.len());
        assert_eq!(list[0].name.as_deref(), Some(long(0).as_str()));
        let change = |at: usize| {
            let mut changed = tools(4096);
            changed[at] = tool(&long(at), "another");
            first_change(&before, &turn(body(changed, vec![user("hi")])), |_| false)
        };
        let named = |name: String| Some(Break::Tools(ToolChange::Changed(Arc::from(name))));
        // A tool kept by name, the first or the last named after tools
        // that are not: named.
        assert_eq!(change(0), named(long(0)));
        let last_named = list.iter().rposition(|t| t.name.is_some()).unwrap();
        assert!(list[..last_named].iter().all(|t| t.name.is_some()));
        assert!(
            list[last_named + 1..].len() > 1,
            "two tools at least past the names' bound"
        );
        let kept = list[last_named].name.as_deref().unwrap().to_string();
        assert_eq!(change(last_named), named(kept));
        // One past the names' bound, or past the tools kept: said so.
        let unnamed = Some(Break::Tools(ToolChange::Unnamed));
        assert_eq!(change(last_named + 2), unnamed);
        assert_eq!(change(4000), unnamed);
    }

    #[test]
    fn a_conversation_keeps_a_bounded_fingerprint_and_names_no_break_past_it() {
        let many = |n: usize| (0..n).map(|i| user(&format!("m{i}"))).collect::<Vec<_>>();
        let long = turn(body(vec![], many(MOST_PIECES + 100)));
        assert_eq!(long.messages.len(), MOST_PIECES);
        let longer = turn(body(vec![], many(MOST_PIECES + 200)));
        assert_eq!(first_change(&long, &longer, |_| false), None);
        let mut edited = many(MOST_PIECES + 100);
        edited[10] = user("changed");
        let edited = turn(body(vec![], edited));
        assert_eq!(
            first_change(&long, &edited, |_| false),
            Some(Break::Messages { index: 10 })
        );
    }

    #[test]
    fn the_start_is_shared_by_the_turns_of_a_conversation_only() {
        let one = turn(body(vec![], vec![user("hi")]));
        let two = turn(body(
            vec![],
            vec![user("hi"), assistant("yes", None), user("go")],
        ));
        let other = turn(body(vec![], vec![user("hello")]));
        assert_eq!(one.start(), two.start());
        assert_ne!(one.start(), other.start());
        // Lengths are hashed: the pieces cannot slide into each other.
        assert_ne!(hash([&b"ab"[..], b"c"]), hash([&b"a"[..], b"bc"]));
    }
}
