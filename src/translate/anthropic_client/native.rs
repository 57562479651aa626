//! An Anthropic provider's own events, for an Anthropic client whose body
//! went to it (`upstream::anthropic`, `relay::Item::Native`): passed on as
//! they came, not translated through chat and back, so that thinking
//! signatures, `redacted_thinking`, citations, the stop sequence that
//! matched and the cache counts reach the client. Only what the gateway
//! owns in them is rewritten:
//!
//! - `message_start` names the ref that answered, and its usage has every
//!   count as an integer (Claude Code compacts by the sum of the three
//!   input counts);
//! - a `tool_use` block's id carries this answer's nonce, as every id
//!   handed to a Messages client does (Kimi's are not valid Anthropic ids
//!   and repeat across turns, see [`ids`]);
//! - `message_delta` says `tool_use` when the answer made tool calls and the
//!   provider said `end_turn`, and has its output count.
//!
//! A stream's events are written one by one ([`Native::write`]); a whole
//! answer is the message its events spell ([`Native::message`]).

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::format::body::{self, Edits, Items, Member, ObjectEdits};
use crate::format::scan;
use crate::format::sse::Event;
use crate::ops::scrub::Scrubber;
use crate::translate::ids::{self, Nonce};
use crate::wire::anthropic::{BlockKind, EventKind, has_type};

/// One answer's own events, as the client gets them.
#[derive(Debug)]
pub struct Native {
    model: String,
    nonce: Nonce,
    /// The `tool_use` blocks so far.
    calls: usize,
    /// Whether `message_start` was written: nothing goes before it.
    started: bool,
}

impl Native {
    /// Events labelled `model`, their tool-use ids carrying `nonce`.
    pub fn new(model: &str, nonce: Nonce) -> Self {
        Self {
            model: model.to_string(),
            nonce,
            calls: 0,
            started: false,
        }
    }

    /// `event`, of `kind`, appended to `out`: byte for byte but for what
    /// the gateway owns (module header); an event without a name is named
    /// by its `type`, and data that is not a JSON object goes on as it
    /// came.
    pub fn write(&mut self, event: &Event, kind: EventKind, out: &mut Vec<u8>) {
        let name = event.event.as_deref();
        // A client reads `message_start` first (Claude Code's reader
        // expects nothing before it): a provider's `ping` ahead of it is
        // left out, as a keep-alive with nothing to keep.
        let ping = match name {
            Some(name) => name == "ping",
            None => has_type(&event.data, 1, "ping"),
        };
        if ping && !self.started {
            return;
        }
        self.started |= match name {
            Some(name) => name == "message_start",
            None => has_type(&event.data, 1, "message_start"),
        };
        // A block's start is the gateway's only when it starts a tool call.
        let owned = match name {
            None | Some("message_start" | "message_delta") => true,
            Some("content_block_start") => kind == EventKind::Start(BlockKind::ToolUse),
            Some(_) => false,
        };
        match owned.then(|| self.rewritten(event)).flatten() {
            Some((kind, data)) => write_event(Some(&kind), &data, out),
            None => write_event(name, &event.data, out),
        }
    }

    /// The message a whole answer's `events` spell (the provider's stream,
    /// read to its end), or `None` when none came. Blocks are built from
    /// their deltas: text, thinking and its signature, a tool's input from
    /// its JSON pieces, citations; `message_delta` gives the stop reason,
    /// the stop sequence and the final usage. A stream that does not start
    /// with `message_start` spells a message all the same, under an id of
    /// the gateway's: it is the only reading of the answer. A key that
    /// `scrubber` finds running from one block into the next is replaced
    /// in both.
    pub fn message(mut self, events: &[Event], scrubber: &Scrubber) -> Option<Map<String, Value>> {
        if events.is_empty() {
            return None;
        }
        let Value::Object(mut message) = json!({"id": super::message_id(None, self.nonce),
            "type": "message", "role": "assistant", "model": self.model,
            "stop_reason": null, "stop_sequence": null})
        else {
            unreachable!("an object literal")
        };
        message.insert("usage".into(), filled(None, &USAGE_COUNTS));
        let mut blocks: Vec<Value> = Vec::new();
        // Each block's tool input, as its pieces arrive.
        let mut inputs: Vec<String> = Vec::new();
        for event in events {
            let Some((kind, data)) = self.rewritten(event) else {
                continue;
            };
            let Ok(mut data) = serde_json::from_str::<Map<String, Value>>(&data) else {
                continue;
            };
            let index = data.get("index").and_then(Value::as_u64);
            let at = index.and_then(|i| usize::try_from(i).ok());
            match kind.as_str() {
                "message_start" => {
                    if let Some(Value::Object(start)) = data.remove("message") {
                        message = start;
                    }
                }
                "content_block_start" => {
                    if let (Some(block), Some(at)) = (data.remove("content_block"), at)
                        && at == blocks.len()
                    {
                        blocks.push(block);
                        inputs.push(String::new());
                    }
                }
                "content_block_delta" => {
                    let (Some(block), Some(delta)) =
                        (at.and_then(|at| blocks.get_mut(at)), data.get("delta"))
                    else {
                        continue;
                    };
                    let piece = |key: &str| delta.get(key).and_then(Value::as_str);
                    match delta.get("type").and_then(Value::as_str) {
                        Some("text_delta") => append(block, "text", piece("text")),
                        Some("thinking_delta") => append(block, "thinking", piece("thinking")),
                        Some("signature_delta") => {
                            if let Some(signature) = piece("signature") {
                                block["signature"] = json!(signature);
                            }
                        }
                        Some("input_json_delta") => {
                            if let (Some(input), Some(json)) =
                                (at.and_then(|at| inputs.get_mut(at)), piece("partial_json"))
                            {
                                input.push_str(json);
                            }
                        }
                        Some("citations_delta") => {
                            if let (Some(citation), Some(block)) =
                                (delta.get("citation"), block.as_object_mut())
                            {
                                let citations = block.entry("citations").or_insert(json!([]));
                                if let Value::Array(citations) = citations {
                                    citations.push(citation.clone());
                                }
                            }
                        }
                        _ => {}
                    }
                }
                "message_delta" => {
                    if let Some(Value::Object(delta)) = data.remove("delta") {
                        message.extend(delta);
                    }
                    if let (Some(Value::Object(usage)), Some(Value::Object(total))) =
                        (data.remove("usage"), message.get_mut("usage"))
                    {
                        total.extend(usage);
                    }
                }
                _ => {}
            }
        }
        // A key running from one block's text (or a tool's input, as its
        // pieces spell it) into another's is replaced in both, as a
        // stream's hold replaces it.
        let mut texts: Vec<&mut String> = Vec::new();
        for (block, input) in blocks.iter_mut().zip(&mut inputs) {
            let text = if input.is_empty() {
                block_text(block)
            } else {
                Some(input)
            };
            texts.extend(text.filter(|text| !text.is_empty()));
        }
        scrubber.mask_split_keys(&mut texts);
        for (block, input) in blocks.iter_mut().zip(&inputs) {
            if !input.is_empty() {
                block["input"] = serde_json::from_str(input).unwrap_or(json!({}));
            }
        }
        message.insert("content".into(), Value::Array(blocks));
        Some(message)
    }

    /// `event`'s kind (its name, else its data's `type`) and its data with
    /// what the gateway owns in it rewritten (module header), its other
    /// members as they came (the whole data, when what the gateway owns is
    /// already as it writes it): `None` when the data is no JSON object or
    /// names no kind.
    fn rewritten(&mut self, event: &Event) -> Option<(String, String)> {
        let data = Bytes::copy_from_slice(event.data.as_bytes());
        let members = scan::members(&data).ok()?;
        let kind = match &event.event {
            Some(name) => name.clone(),
            None => text(&data, &members, "type")?,
        };
        let mut edits = Edits::default();
        match kind.as_str() {
            "message_start" => {
                let message = edited(&data, &members, "message", |message, members, edits| {
                    edits.set("model", json!(self.model));
                    if let Some(usage) = counted(message, members, &USAGE_COUNTS) {
                        edits.set("usage", usage);
                    }
                });
                if let Some(message) = message {
                    edits.top.set_raw("message", message);
                }
            }
            "content_block_start" => {
                let (calls, nonce) = (&mut self.calls, self.nonce);
                let block = edited(&data, &members, "content_block", |block, members, edits| {
                    if text(block, members, "type").as_deref() == Some("tool_use") {
                        let id = text(block, members, "id");
                        edits.set("id", json!(ids::encode(id.as_deref(), *calls, nonce)));
                        *calls += 1;
                    }
                });
                if let Some(block) = block {
                    edits.top.set_raw("content_block", block);
                }
            }
            "message_delta" => {
                let delta = (self.calls > 0).then(|| {
                    edited(&data, &members, "delta", |delta, members, edits| {
                        let reason = text(delta, members, "stop_reason");
                        if reason.as_deref() == Some("end_turn") {
                            edits.set("stop_reason", json!("tool_use"));
                        }
                    })
                });
                if let Some(delta) = delta.flatten() {
                    edits.top.set_raw("delta", delta);
                }
                if let Some(usage) = counted(&data, &members, &["output_tokens"]) {
                    edits.top.set("usage", usage);
                }
            }
            _ => return Some((kind, event.data.clone())),
        }
        if edits.top.is_empty() {
            return Some((kind, event.data.clone()));
        }
        let written = body::write(&data, &members, &edits, "", &Items::default()).to_vec();
        let written = String::from_utf8(written).expect("JSON text written from JSON text");
        Some((kind, written))
    }
}

/// The text of a `text` block, or the thinking of a `thinking` one.
fn block_text(block: &mut Value) -> Option<&mut String> {
    let member = match block.get("type")?.as_str()? {
        "text" => "text",
        "thinking" => "thinking",
        _ => return None,
    };
    match block.get_mut(member)? {
        Value::String(text) => Some(text),
        _ => None,
    }
}

/// Member `key` of `object` (whose members are `members`) as a string;
/// `None` when it is absent or not one.
fn text(object: &[u8], members: &[Member], key: &str) -> Option<String> {
    let member = Member::last(members, key)?;
    serde_json::from_slice(&object[member.value.clone()]).ok()
}

/// Member `key` of `object`, an object, with `edit` made to it (given its
/// text and its members): its JSON text, its other members as they came;
/// `None` when it is absent or not an object.
fn edited(
    object: &Bytes,
    members: &[Member],
    key: &str,
    edit: impl FnOnce(&Bytes, &[Member], &mut ObjectEdits),
) -> Option<Bytes> {
    let member = Member::last(members, key)?;
    let inner = object.slice(member.value.clone());
    let inner_members = scan::members(&inner).ok()?;
    let mut edits = Edits::default();
    edit(&inner, &inner_members, &mut edits.top);
    let written = body::write(&inner, &inner_members, &edits, "", &Items::default());
    Some(written.to_vec().into())
}

/// The `usage` of `holder` (whose members are `members`) with each of
/// `names` an integer ([`filled`]); `None` when each is written as one
/// already, and the usage goes on as it came.
fn counted(holder: &[u8], members: &[Member], names: &[&str]) -> Option<Value> {
    let usage = Member::last(members, "usage").map(|usage| &holder[usage.value.clone()]);
    let as_integers = |usage: &[u8]| {
        let counts = scan::members(usage).ok()?;
        let integer = |count: &Member| is_integer(&usage[count.value.clone()]);
        Some(
            names
                .iter()
                .all(|name| Member::last(&counts, name).is_some_and(integer)),
        )
    };
    if usage.and_then(as_integers) == Some(true) {
        return None;
    }
    Some(filled(
        usage.and_then(|usage| serde_json::from_slice(usage).ok()),
        names,
    ))
}

/// Whether `text`, a JSON number, is a count as it stands: digits only,
/// few enough to be a `u64`.
fn is_integer(text: &[u8]) -> bool {
    (1..=19).contains(&text.len()) && text.iter().all(u8::is_ascii_digit)
}

/// `usage` (none: an empty one) with each of `names` an integer: the
/// count it says (a whole float as its integer), else 0.
fn filled(usage: Option<Value>, names: &[&str]) -> Value {
    let mut usage = match usage {
        Some(Value::Object(usage)) => usage,
        _ => Map::new(),
    };
    for name in names {
        let count = usage.get(*name).and_then(crate::wire::usage::count);
        usage.insert((*name).to_string(), json!(count.unwrap_or(0)));
    }
    Value::Object(usage)
}

/// `piece` appended to `block`'s text member `key`.
fn append(block: &mut Value, key: &str, piece: Option<&str>) {
    let (Some(piece), Some(block)) = (piece, block.as_object_mut()) else {
        return;
    };
    match block.get_mut(key) {
        Some(Value::String(text)) => text.push_str(piece),
        _ => {
            block.insert(key.to_string(), json!(piece));
        }
    }
}

/// The counts a `message_start`'s usage always has.
const USAGE_COUNTS: [&str; 4] = [
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
];

/// One event in the stream format: its name, when it has one, and each
/// line of `data` on a `data:` line.
fn write_event(name: Option<&str>, data: &str, out: &mut Vec<u8>) {
    if let Some(name) = name {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    for line in data.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}
