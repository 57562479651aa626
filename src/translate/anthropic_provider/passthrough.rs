//! An Anthropic client's own Messages body for an Anthropic target, with the
//! least change: rather than translating it to chat completions and back,
//! the body the client sent goes on with the few edits the target needs.
//!
//! What changes (each documented in `docs/providers.md`):
//! - `model` becomes the target's model id; `max_tokens` is clamped to the
//!   model's output limit (and a thinking budget kept below it);
//! - Claude Code's billing-header line goes from `system` (a block that is
//!   the line alone goes whole): its hash changes on every request and
//!   defeats the provider's cache;
//! - `role: "system"` messages (Claude Code's mid-conversation system beta)
//!   move to the end of `system`;
//! - `cache_control` stays on every block (Anthropic and Kimi's endpoint
//!   honour it); the members only Anthropic serves go
//!   (`context_management`, `output_config`; `container` and `mcp_servers`
//!   are refused before, see `translate::fields`), and so do server tools
//!   (those without an `input_schema`);
//! - `tool_choice` is what the target's plan decided (a forced choice
//!   relaxed while Kimi thinks, K3's named tool narrowed), rendered by the
//!   transport ([`replace_tool_choice`]);
//! - thinking is what the target's plan decided (on, off, not sent, or
//!   the body's own), a budget kept below `max_tokens`;
//! - `tool_reference` blocks (Claude Code's tool search), which Kimi
//!   refuses, become text naming the tool, which stays offered (or saying
//!   it is not available, for a tool not offered); tools' `defer_loading`
//!   goes (every tool offered is sent whole);
//! - `stream` is what the chain asks for, not what the client asked.
//!
//! Tool-use ids are left as the client sent them: the ids clawgate hands an
//! Anthropic client (`cgid_<nonce>_<hex>`, see [`crate::translate::ids`])
//! are valid Anthropic ids, and a call and its result carry the same one.

use std::borrow::Cow;

use memchr::memmem;
use serde_json::{Map, Value, json};

use super::thinking_budget;
use crate::capabilities::ThinkingSwitch;
use crate::format::scan;
use crate::wire::anthropic::{BILLING_HEADER, Original, without_billing_header};

/// Members of a Messages body that only Anthropic serves: beta features
/// and server-side execution.
const ANTHROPIC_ONLY: [&str; 4] = [
    "context_management",
    "output_config",
    "container",
    "mcp_servers",
];

/// What the body needs to know of its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts<'a> {
    /// The provider's model id.
    pub model: &'a str,
    /// The model's output limit, if known.
    pub max_output: Option<u64>,
    /// The output limit when neither the body nor the model gives one.
    pub default_max_tokens: u64,
    /// Thinking as the target's plan decided it.
    pub thinking: ThinkingSwitch,
    /// Whether to ask for a streamed answer.
    pub stream: bool,
}

/// The body to send for the client's Messages `body`.
pub fn passthrough(mut out: Map<String, Value>, facts: Facts) -> Map<String, Value> {
    out.insert("model".into(), json!(facts.model));
    let asked = out.get("max_tokens").and_then(Value::as_u64);
    let max_tokens = match (asked, facts.max_output) {
        (Some(asked), Some(max)) => asked.min(max),
        (asked, max) => asked.or(max).unwrap_or(facts.default_max_tokens),
    };
    out.insert("max_tokens".into(), json!(max_tokens));
    for key in ANTHROPIC_ONLY {
        out.remove(key);
    }
    strip_billing_header(&mut out);
    system_messages_to_system(&mut out);
    keep_client_tools(&mut out);
    tool_references(&mut out);
    thinking(&mut out, facts.thinking, max_tokens);
    if facts.stream {
        out.insert("stream".into(), json!(true));
    } else {
        out.remove("stream");
    }
    out
}

/// Which members of the client's body the plan's edits change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Edited {
    pub messages: bool,
    pub tools: bool,
}

/// The body to send for the client's Messages body `original` (as the
/// front end read it), written with its `messages`, `tools` and `system`
/// (most of a conversation's bytes) as the client wrote them, or for
/// `system`, with its billing-header blocks left out: [`passthrough`] and
/// then `edit` (the plan's edits) work on a tree of the other members,
/// where those stand as `null`. A member that takes an edit of its own is
/// read into the tree: `tools` the plan edits, or that are not client
/// tools only with none deferred (what [`keep_client_tools`] and
/// [`tool_references`] change), and `system` where [`system_as_written`]
/// says so. `None` when the messages take one (`edited.messages`, a
/// `role: "system"` message or a `tool_reference` block in them, or a
/// letter written as an escape that could spell one), or when the body was
/// not read member by member: the caller then edits a tree of the whole
/// body.
pub fn passthrough_bytes(
    original: &Original,
    facts: Facts,
    edited: Edited,
    edit: impl FnOnce(&mut Map<String, Value>),
) -> Option<Vec<u8>> {
    let (text, members) = original.members()?;
    let mut body = Map::new();
    let mut as_written: Vec<(&str, Cow<str>)> = Vec::new();
    for member in members {
        let (key, raw) = (&*member.key, &text[member.value.clone()]);
        if body.contains_key(key) {
            return None;
        }
        let text = match key {
            MESSAGES if edited.messages || messages_need_a_tree(raw.as_bytes()) => return None,
            MESSAGES => Some(Cow::Borrowed(raw)),
            TOOLS if !edited.tools && original.client_tools() => Some(Cow::Borrowed(raw)),
            SYSTEM => system_as_written(raw),
            _ => None,
        };
        let value = match text {
            Some(text) => {
                as_written.push((key, text));
                Value::Null
            }
            None => serde_json::from_str(raw).ok()?,
        };
        body.insert(key.into(), value);
    }
    if !body.contains_key(MESSAGES) {
        return None;
    }
    let mut body = passthrough(body, facts);
    edit(&mut body);
    let mut out = Vec::with_capacity(text.len() + 64);
    out.push(b'{');
    for (index, (key, value)) in body.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, key).expect("a key serializes");
        out.push(b':');
        let written = as_written.iter().find(|(k, _)| k == key);
        match (value, written) {
            (Value::Null, Some((_, text))) => out.extend_from_slice(text.as_bytes()),
            _ => serde_json::to_writer(&mut out, value).expect("JSON values serialize"),
        }
    }
    out.push(b'}');
    Some(out)
}

const MESSAGES: &str = "messages";
const TOOLS: &str = "tools";
const SYSTEM: &str = "system";

/// Whether `messages` may hold what [`passthrough`] edits in them: a
/// `system` role (moved to `system`) or a `tool_reference` block. Read on
/// the bytes, erring towards yes: the string `"system"` anywhere (a text
/// that quotes the word has it escaped, `\"system\"`, and does not count),
/// and any letter written as an escape, which no JSON encoder writes but
/// which would hide a name from that search (`"syst\u0065m"`).
fn messages_need_a_tree(messages: &[u8]) -> bool {
    memmem::find(messages, b"\"system\"").is_some()
        || memmem::find(messages, b"\"tool_reference\"").is_some()
        || escapes_a_letter(messages)
}

/// `system` as written, less the blocks that are the billing header
/// alone ([`strip_billing_header`]): `None` when that needs the tree (a
/// string with the header, a block with more text after it, blocks that
/// are all headers, or a letter written as an escape, which could spell
/// the header).
fn system_as_written(system: &str) -> Option<Cow<'_, str>> {
    let header = memmem::Finder::new(BILLING_HEADER);
    if escapes_a_letter(system.as_bytes()) {
        return None;
    }
    if header.find(system.as_bytes()).is_none() {
        return Some(Cow::Borrowed(system));
    }
    let mut kept: Vec<&str> = Vec::new();
    for block in scan::element_ranges(system.as_bytes()).ok()? {
        let block = &system[block];
        if header.find(block.as_bytes()).is_none() {
            kept.push(block);
            continue;
        }
        let read: Value = serde_json::from_str(block).ok()?;
        match after_billing_header(&read) {
            None => kept.push(block),
            Some("") => {}
            // Rewritten: only the tree writes a block anew.
            Some(_) => return None,
        }
    }
    (!kept.is_empty()).then(|| Cow::Owned(format!("[{}]", kept.join(","))))
}

/// Whether `json` holds an ASCII letter written as a `\u` escape.
fn escapes_a_letter(json: &[u8]) -> bool {
    memmem::find_iter(json, b"\\u00").any(|at| {
        let hex = json
            .get(at + 4..at + 6)
            .and_then(|hex| std::str::from_utf8(hex).ok());
        hex.and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .is_some_and(|byte| byte.is_ascii_alphabetic())
    })
}

/// `system` without Claude Code's billing-header line, as the translated
/// path leaves it (`wire::anthropic::without_billing_header`): a block that
/// is the line alone goes, one that says more keeps the more.
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
/// for any other block.
fn after_billing_header(block: &Value) -> Option<&str> {
    let text = block["text"].as_str()?;
    text.starts_with(BILLING_HEADER)
        .then(|| without_billing_header(text))
}

/// Moves the `role: "system"` messages of Claude Code's mid-conversation
/// system beta, which Messages APIs other than Anthropic's refuse, to the
/// end of `system`, in order (as the translation does with OpenAI system
/// messages); the turns on either side, now neighbours of one role, become
/// one turn.
fn system_messages_to_system(body: &mut Map<String, Value>) {
    let Some(Value::Array(messages)) = body.get_mut("messages") else {
        return;
    };
    if !messages.iter().any(|m| m["role"] == "system") {
        return;
    }
    let mut moved = Vec::new();
    let mut kept: Vec<Value> = Vec::with_capacity(messages.len());
    for message in messages.drain(..) {
        if message["role"] == "system" {
            moved.extend(content_blocks(&message["content"]));
            continue;
        }
        match kept.last_mut() {
            Some(last) if last["role"] == message["role"] => {
                let mut blocks = content_blocks(&last["content"]);
                blocks.extend(content_blocks(&message["content"]));
                last["content"] = Value::Array(blocks);
            }
            _ => kept.push(message),
        }
    }
    *messages = kept;
    let mut system = match body.remove("system") {
        Some(system) => content_blocks(&system),
        None => Vec::new(),
    };
    system.extend(moved);
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
}

/// Content as blocks: a string is one text block (none when empty).
fn content_blocks(content: &Value) -> Vec<Value> {
    match content {
        Value::Array(blocks) => blocks.clone(),
        Value::String(text) if text.is_empty() => Vec::new(),
        Value::String(text) => vec![json!({"type": "text", "text": text})],
        _ => Vec::new(),
    }
}

/// Keeps the client's own tools: server tools (web search, code execution,
/// ...) have a `type` and no `input_schema`, and run only at Anthropic. A
/// `null` schema is none, as the front end reads it (`translate::fields`
/// names such a tool a dropped server tool).
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

/// Claude Code's tool search answers with `tool_reference` blocks in a
/// tool result, naming the tools it loads; Kimi refuses the request
/// ("Invalid request Error", kimi-cli #1449). A reference becomes a text
/// block naming the tool: available when the body offers it (the tool
/// itself is in `tools`, sent whole: `defer_loading` goes), not available
/// otherwise (a server tool, which goes): the model learns what the
/// search found either way, and nothing is left out.
fn tool_references(body: &mut Map<String, Value>) {
    let mut offered: Vec<String> = Vec::new();
    if let Some(Value::Array(tools)) = body.get_mut("tools") {
        for tool in tools.iter_mut().filter_map(Value::as_object_mut) {
            tool.remove("defer_loading");
            if let Some(name) = tool.get("name").and_then(Value::as_str) {
                offered.push(name.to_string());
            }
        }
    }
    let Some(Value::Array(messages)) = body.get_mut("messages") else {
        return;
    };
    for message in messages.iter_mut() {
        let Some(Value::Array(blocks)) = message.get_mut("content") else {
            continue;
        };
        for block in blocks.iter_mut() {
            let Some(Value::Array(content)) = block.get_mut("content") else {
                continue;
            };
            for inner in content.iter_mut() {
                if inner["type"] != "tool_reference" {
                    continue;
                }
                let name = inner["tool_name"].as_str().unwrap_or_default();
                let text = if offered.iter().any(|o| o == name) {
                    format!("Tool {name} is available.")
                } else {
                    format!("Tool {name} is not available.")
                };
                *inner = json!({"type": "text", "text": text});
            }
        }
    }
}

/// A replayed assistant `turn` given `reasoning` as a `thinking` block
/// first (signature empty, as on the translated path) when it has none,
/// or, with `None`, its thinking blocks taken away.
pub fn give_reasoning(turn: &mut Value, reasoning: Option<&str>) {
    let Some(blocks) = turn.get_mut("content").and_then(Value::as_array_mut) else {
        return;
    };
    let is_thinking = |block: &Value| {
        matches!(
            block["type"].as_str(),
            Some("thinking" | "redacted_thinking")
        )
    };
    match reasoning {
        Some(_) if blocks.iter().any(is_thinking) => {}
        Some(text) => blocks.insert(
            0,
            json!({"type": "thinking", "thinking": text, "signature": ""}),
        ),
        None => blocks.retain(|block| !is_thinking(block)),
    }
}

/// Thinking as the plan decided it, and a budget kept below `max_tokens`
/// (Anthropic refuses one that is not).
fn thinking(body: &mut Map<String, Value>, plan: ThinkingSwitch, max_tokens: u64) {
    match plan {
        ThinkingSwitch::AsSent => {}
        ThinkingSwitch::Omitted => {
            body.remove("thinking");
        }
        ThinkingSwitch::Off => {
            body.insert("thinking".into(), json!({"type": "disabled"}));
        }
        ThinkingSwitch::On => {
            let on = body.get("thinking").is_some_and(|thinking| {
                matches!(thinking["type"].as_str(), Some("enabled" | "adaptive"))
            });
            if !on {
                let budget = thinking_budget(max_tokens);
                body.insert(
                    "thinking".into(),
                    json!({"type": "enabled", "budget_tokens": budget}),
                );
            }
        }
    }
    if let Some(thinking) = body.get_mut("thinking")
        && let Some(budget) = thinking.get("budget_tokens").and_then(Value::as_u64)
    {
        let below = max_tokens.saturating_sub(1).max(1);
        if budget > below {
            thinking["budget_tokens"] = json!(below);
        }
    }
}

/// The body's `tool_choice`, if it has one, replaced by `choice`, keeping
/// `disable_parallel_tool_use`.
pub fn replace_tool_choice(body: &mut Map<String, Value>, mut choice: Value) {
    let Some(old) = body.get_mut("tool_choice") else {
        return;
    };
    if let Some(flag) = old.get("disable_parallel_tool_use") {
        choice["disable_parallel_tool_use"] = flag.clone();
    }
    *old = choice;
}
