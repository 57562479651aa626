//! An Anthropic client's own Messages body for an Anthropic target, with
//! the least change: rather than translating it to chat completions and back,
//! the body the client sent goes on with what the target's plan decided
//! ([`MessagesPlan`], made by the rules in `providers`), rendered here.
//! Nothing is decided here: the plan says what goes and what changes.
//!
//! What the plan may say (each documented in `docs/providers.md`):
//! - `max_tokens`, and thinking (on, off, not sent, or the body's own; a
//!   budget sent is the plan's);
//! - that Claude Code's billing-header line goes from `system` (a block that
//!   is the line alone goes whole, unless it holds more than a text block's
//!   members: it then goes on as written);
//! - members the target is not sent, and that server tools (those without
//!   an `input_schema`) go;
//! - the target's own rewrites of the body ([`super::Rewrite`]), the ones
//!   the body holds something for, each on the members it names;
//! - what the rules decided that means the same in Messages (the model id,
//!   sampling, the tool choice, the tools' schemas, reasoning given back:
//!   [`super::Carried`]).
//!
//! `stream` is always asked for.
//!
//! The decisions are written onto the client's bytes as member edits, by
//! the writer the chat transport uses too ([`body::write`]). `messages`,
//! `tools` and `system` (most of a conversation's bytes) go as the client
//! wrote them, sliced from its buffer, unless the plan edits them; so does
//! any member the plan neither reads nor sets. Those it reads are read into
//! a tree ([`apply`]) and written again. When the plan gives a replayed turn
//! reasoning (or takes it), or changes tool-call ids, the messages are
//! scanned with their blocks and only the turns that take it are read.
//!
//! Tool-use ids are left as the client sent them (the ids clawgate hands an
//! Anthropic client, `cgid_<nonce>_<hex>` as [`crate::translate::ids`]
//! makes them, are valid Anthropic ids, and a call and its result carry
//! the same one), unless they cannot all go as written (Kimi's own, in a
//! history resumed from it, repeat and are no Anthropic ids) and the rules
//! change one: every call and result then takes the id a translated
//! request would send.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use bytes::Bytes;
use memchr::memmem;
use serde_json::{Map, Value, json};

use super::{Carried, MessagesPlan};
use crate::capabilities::ThinkingSwitch;
use crate::format::body::{self, Chunks, Edits};
use crate::format::scan::{self, Items, Member, Scanned};
use crate::wire::anthropic::{BILLING_HEADER, Original, without_billing_header};

/// The body to send for the client's Messages body `original` (as the
/// front end read it): its bytes with what the plan decided (module
/// header).
pub fn passthrough(original: &Original, plan: &MessagesPlan) -> Chunks {
    let carried = &plan.carried;
    let (source, members) = (original.bytes(), original.members());
    // The members the plan's rewrites work on.
    let rewritten: Vec<&str> = (plan.rewrites.iter())
        .flat_map(|rewrite| rewrite.members.iter().copied())
        .collect();
    // The messages, each with its blocks, when the plan gives a replayed
    // turn reasoning or takes it, or changes tool-call ids, and no rewrite
    // reads them whole: else they are read into the tree.
    let scanned = (carried.edits_messages() && !rewritten.contains(&MESSAGES))
        .then(|| scan::object_nested(source, Some(MESSAGES), Some("content")).ok())
        .flatten()
        .filter(|scanned| scanned.items.is_some());
    // The tree of the members the plan reads; a member that goes as
    // written unless the plan sets or removes it stands in it as `null`,
    // with how it goes (as it came, or `system` less its billing header)
    // in `as_written`.
    let mut tree = Map::new();
    let mut as_written: Vec<(&str, Written)> = Vec::new();
    for member in members {
        let (key, raw) = (&*member.key, &source[member.value.clone()]);
        let written = match key {
            _ if rewritten.contains(&key) => Written::Tree,
            MESSAGES if carried.edits_messages() && scanned.is_none() => Written::Tree,
            MESSAGES => Written::AsCame,
            TOOLS
                if carried.edits_tools()
                    || plan.without_server_tools && !original.client_tools() =>
            {
                Written::Tree
            }
            TOOLS => Written::AsCame,
            SYSTEM if plan.without_billing_header => {
                system_as_written(source, member.value.clone())
            }
            SYSTEM => Written::AsCame,
            _ if READ_BY_THE_PLAN.contains(&key) => Written::Tree,
            // Set or removed whole, if at all.
            _ => Written::AsCame,
        };
        // The front end read every member as JSON: one that did not read
        // again would go as it came.
        let read = match written {
            Written::Tree => serde_json::from_slice(raw).ok(),
            _ => None,
        };
        let value = read.unwrap_or_else(|| {
            let written = match written {
                Written::Tree => Written::AsCame,
                written => written,
            };
            as_written.push((key, written));
            Value::Null
        });
        tree.insert(key.into(), value);
    }
    let mut tree = apply(tree, plan);
    let mut edits = Edits::default();
    // A repeated member takes the one decision.
    let mut decided: Vec<&str> = Vec::with_capacity(members.len());
    for member in members {
        let key = &*member.key;
        if decided.contains(&key) {
            continue;
        }
        decided.push(key);
        let written = as_written.iter().find(|(k, _)| *k == key);
        match (tree.shift_remove(key), written) {
            (None, _) => edits.top.remove(key.to_owned()),
            (Some(Value::Null), Some((_, Written::Pieces(pieces)))) => {
                edits.top.set_pieces(key.to_owned(), pieces.iter().cloned());
            }
            (Some(Value::Null), Some(_)) => {}
            (Some(value), _) => edits.top.set(key.to_owned(), value),
        }
    }
    // What the plan adds.
    for (key, value) in tree {
        edits.top.set(key, value);
    }
    match scanned {
        Some(Scanned {
            members,
            items: Some(items),
        }) => {
            edit_turns(source, &items, carried, &mut edits);
            body::write(source, &members, &edits, MESSAGES, &items)
        }
        _ => body::write(source, members, &edits, MESSAGES, &Items::default()),
    }
}

/// The plan's reasoning given to (or taken from) the replayed turns among
/// the messages as written (`messages`, scanned with their blocks), and
/// the tool-call ids it changes: each turn that takes either read alone,
/// an edit of its `content` in `edits`.
fn edit_turns(source: &Bytes, messages: &Items, carried: &Carried, edits: &mut Edits) {
    let text = |members: &[Member], key: &str| {
        let member = Member::last(members, key)?;
        serde_json::from_slice::<Cow<str>>(&source[member.value.clone()]).ok()
    };
    // An assistant turn's only: the plan gives none to another.
    let assistant = |index: usize| {
        (messages.get(index).and_then(|message| message.members()))
            .is_some_and(|members| text(members, "role").is_some_and(|role| role == "assistant"))
    };
    let given: Vec<(usize, Option<&str>)> = (carried.reasoning())
        .filter(|(index, _)| assistant(*index))
        .collect();
    let mut edited: Vec<usize> = (given.iter().map(|(index, _)| *index))
        .chain(carried.renamed_messages())
        .collect();
    edited.sort_unstable();
    edited.dedup();
    for index in edited {
        let Some(message) = messages.get(index) else {
            continue;
        };
        let Ok(mut turn) = serde_json::from_slice::<Value>(&source[message.range()]) else {
            continue;
        };
        let reasoning = given.iter().find(|(given, _)| *given == index);
        let gave = reasoning.is_some_and(|(_, reasoning)| give_reasoning(&mut turn, *reasoning));
        if carried.rename_in(index, &mut turn) || gave {
            let content = turn["content"].take();
            edits
                .items
                .entry(index)
                .or_default()
                .set("content", content);
        }
    }
}

/// The plan on the tree of the whole body: what [`passthrough`] writes,
/// for the tests to hold it to (a rewrite that reads a member it does not
/// name is found out by the difference).
#[cfg(test)]
pub(crate) fn on_the_whole_tree(
    body: Map<String, Value>,
    plan: &MessagesPlan,
) -> Map<String, Value> {
    apply(body, plan)
}

/// The members [`apply`] reads what they hold of, besides `messages`,
/// `tools`, `system` and the rewrites' (read where the plan edits them):
/// any other it sets or removes whole, and one it does not goes as the
/// client wrote it.
const READ_BY_THE_PLAN: [&str; 3] = ["thinking", "output_config", "tool_choice"];

/// The plan on `out`, the tree of the members it works on (module
/// header).
fn apply(mut out: Map<String, Value>, plan: &MessagesPlan) -> Map<String, Value> {
    out.insert("max_tokens".into(), json!(plan.max_tokens));
    for key in plan.removed {
        out.remove(*key);
    }
    if plan.without_billing_header {
        strip_billing_header(&mut out);
    }
    if plan.without_server_tools {
        keep_client_tools(&mut out);
    }
    plan.carried.write_messages(&mut out);
    for rewrite in &plan.rewrites {
        (rewrite.apply)(&mut out);
    }
    thinking(&mut out, plan);
    out.insert("stream".into(), json!(true));
    plan.carried.write(&mut out);
    out
}

const MESSAGES: &str = "messages";
const TOOLS: &str = "tools";
const SYSTEM: &str = "system";

/// How a member of the client's body goes to the provider.
enum Written {
    /// Read into the tree the plan edits, and written from it.
    Tree,
    /// As it came, unless the plan sets or removes it.
    AsCame,
    /// As these pieces of text, parts of the client's buffer among them.
    Pieces(Vec<Bytes>),
}

/// `system` (at `range` in `source`) as written, less the blocks that
/// are the billing header alone ([`strip_billing_header`]): as it came
/// when none is, else the pieces of the text that goes, the blocks kept
/// sliced from `source`, not copied; by the tree when that needs it (a
/// string with the header, a block with more text after it, blocks that
/// are all headers, or a letter written as an escape, which could spell
/// the header).
fn system_as_written(source: &Bytes, range: Range<usize>) -> Written {
    static HEADER: LazyLock<memmem::Finder> = LazyLock::new(|| memmem::Finder::new(BILLING_HEADER));
    let system = &source[range.clone()];
    if scan::hides_a_name(system) {
        return Written::Tree;
    }
    if HEADER.find(system).is_none() {
        return Written::AsCame;
    }
    let Ok(blocks) = scan::element_ranges(system) else {
        return Written::Tree;
    };
    let mut pieces = vec![Bytes::from_static(b"[")];
    for block in blocks {
        let text = &system[block.clone()];
        let kept = match HEADER.find(text) {
            None => true,
            Some(_) => {
                let Ok(block) = serde_json::from_slice::<Value>(text) else {
                    return Written::Tree;
                };
                match after_billing_header(&block) {
                    None => true,
                    Some("") => false,
                    // Rewritten: only the tree writes a block anew.
                    Some(_) => return Written::Tree,
                }
            }
        };
        if kept {
            if pieces.len() > 1 {
                pieces.push(Bytes::from_static(b","));
            }
            pieces.push(source.slice(range.start + block.start..range.start + block.end));
        }
    }
    pieces.push(Bytes::from_static(b"]"));
    match pieces.len() > 2 {
        true => Written::Pieces(pieces),
        false => Written::Tree,
    }
}

/// `system` without Claude Code's billing-header line, as the translated
/// path leaves it (`wire::anthropic::without_billing_header`): a block that
/// is the line alone goes, one that says more keeps the more, and one that
/// holds more than a text block's members goes on as written (the
/// translated path names those members instead).
fn strip_billing_header(body: &mut Map<String, Value>) {
    let empty = match body.get_mut("system") {
        Some(Value::Array(blocks)) => {
            blocks.retain_mut(|block| match after_billing_header(block) {
                None => true,
                Some("") => false,
                Some(rest) => {
                    block["text"] = Value::String(rest.to_string());
                    true
                }
            });
            blocks.is_empty()
        }
        Some(Value::String(text)) => {
            let rest = without_billing_header(text);
            if rest.len() != text.len() {
                *text = rest.to_string();
            }
            text.is_empty()
        }
        _ => false,
    };
    if empty {
        body.remove("system");
    }
}

/// The text of a system block that starts with the billing header, less
/// the header's line (empty when the block is the header alone); `None`
/// for any other block, and for a block of the line alone that holds
/// more than a text block's members (it goes on as written: what else it
/// holds is not lost). A cache breakpoint on the line alone, whose hash
/// changes every turn, marks nothing a cache could keep.
fn after_billing_header(block: &Value) -> Option<&str> {
    let text = block["text"].as_str()?;
    let rest = text
        .starts_with(BILLING_HEADER)
        .then(|| without_billing_header(text))?;
    let holds_more = (block.as_object().into_iter().flatten()).any(|(key, value)| {
        !matches!(key.as_str(), "type" | "text" | "cache_control") && !value.is_null()
    });
    (!rest.is_empty() || !holds_more).then_some(rest)
}

/// Keeps the client's own tools: server tools (web search, code execution,
/// ...) have a `type` and no `input_schema`. A `null` schema is none, as
/// the front end reads it.
fn keep_client_tools(body: &mut Map<String, Value>) {
    let Some(Value::Array(tools)) = body.get_mut("tools") else {
        return;
    };
    tools.retain(|tool| tool.get("input_schema").is_some_and(|s| !s.is_null()));
    if tools.is_empty() {
        body.remove("tools");
        body.remove("tool_choice");
    }
}

/// A replayed assistant `turn` given `reasoning` as a `thinking` block
/// first (signature empty, as on the translated path) when it has no
/// thinking of either kind, or, with `None`, its `thinking` blocks taken
/// away (the reasoning the request model knows, and the plan names; a
/// `redacted_thinking` block is neither); whether that changed it.
pub fn give_reasoning(turn: &mut Value, reasoning: Option<&str>) -> bool {
    let Some(blocks) = turn.get_mut("content").and_then(Value::as_array_mut) else {
        return false;
    };
    let thinks = |block: &Value| {
        matches!(
            block["type"].as_str(),
            Some("thinking" | "redacted_thinking")
        )
    };
    let before = blocks.len();
    match reasoning {
        Some(_) if blocks.iter().any(thinks) => {}
        Some(text) => blocks.insert(
            0,
            json!({"type": "thinking", "thinking": text, "signature": ""}),
        ),
        None => blocks.retain(|block| block["type"] != "thinking"),
    }
    blocks.len() != before
}

/// Thinking as the plan decided it; a budget sent is the plan's.
fn thinking(body: &mut Map<String, Value>, plan: &MessagesPlan) {
    match plan.thinking {
        ThinkingSwitch::AsSent | ThinkingSwitch::OwnOn => {}
        ThinkingSwitch::Omitted => {
            body.remove("thinking");
        }
        ThinkingSwitch::Off => {
            body.insert("thinking".into(), json!({"type": "disabled"}));
        }
        ThinkingSwitch::On => {
            body.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": plan.budget}),
            );
        }
    }
    if let Some(budget) = body
        .get_mut("thinking")
        .and_then(|thinking| thinking.get_mut("budget_tokens"))
    {
        *budget = json!(plan.budget);
    }
}

/// The body's `tool_choice`, if it has one, replaced by `choice`, keeping
/// `disable_parallel_tool_use` (but on `none`, which takes no other
/// member).
pub fn replace_tool_choice(body: &mut Map<String, Value>, mut choice: Value) {
    let Some(old) = body.get_mut("tool_choice") else {
        return;
    };
    if let Some(flag) = old.get("disable_parallel_tool_use")
        && choice["type"] != "none"
    {
        choice["disable_parallel_tool_use"] = flag.clone();
    }
    *old = choice;
}
