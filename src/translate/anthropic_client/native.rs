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

use serde_json::{Map, Value, json};

use crate::format::sse::Event;
use crate::translate::ids::{self, Nonce};
use crate::wire::anthropic::has_type;

/// One answer's own events, as the client gets them.
#[derive(Debug)]
pub struct Native {
    model: String,
    nonce: Nonce,
    /// The `tool_use` blocks so far.
    calls: usize,
}

impl Native {
    /// Events labelled `model`, their tool-use ids carrying `nonce`.
    pub fn new(model: &str, nonce: Nonce) -> Self {
        Self {
            model: model.to_string(),
            nonce,
            calls: 0,
        }
    }

    /// `event`, appended to `out`: byte for byte but for what the gateway
    /// owns (module header); an event without a name is named by its
    /// `type`, and data that is not a JSON object goes on as it came.
    pub fn write(&mut self, event: &Event, out: &mut Vec<u8>) {
        let name = event.event.as_deref();
        // A block's start is the gateway's only when it starts a tool call.
        let owned = match name {
            None | Some("message_start" | "message_delta") => true,
            Some("content_block_start") => has_type(&event.data, 2, "tool_use"),
            Some(_) => false,
        };
        if !owned {
            write_event(name, &event.data, out);
            return;
        }
        let Some((kind, mut data)) = read(event) else {
            write_event(name, &event.data, out);
            return;
        };
        self.own(&kind, &mut data);
        write_event(Some(&kind), &Value::Object(data).to_string(), out);
    }

    /// The message a whole answer's `events` spell (the provider's stream,
    /// read to its end), or `None` when none came. Blocks are built from
    /// their deltas: text, thinking and its signature, a tool's input from
    /// its JSON pieces, citations; `message_delta` gives the stop reason,
    /// the stop sequence and the final usage. A stream that does not start
    /// with `message_start` spells a message all the same, under an id of
    /// the gateway's: it is the only reading of the answer.
    pub fn message(mut self, events: &[Event]) -> Option<Map<String, Value>> {
        if events.is_empty() {
            return None;
        }
        let Value::Object(mut message) = json!({"id": super::message_id(None, self.nonce),
            "type": "message", "role": "assistant", "model": self.model,
            "stop_reason": null, "stop_sequence": null})
        else {
            unreachable!("an object literal")
        };
        counts(&mut message, &USAGE_COUNTS);
        let mut blocks: Vec<Value> = Vec::new();
        // Each block's tool input, as its pieces arrive.
        let mut inputs: Vec<String> = Vec::new();
        for event in events {
            let Some((kind, mut data)) = read(event) else {
                continue;
            };
            self.own(&kind, &mut data);
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
                "content_block_stop" => {
                    if let (Some(block), Some(input)) = (
                        at.and_then(|at| blocks.get_mut(at)),
                        at.and_then(|at| inputs.get(at)),
                    ) && !input.is_empty()
                    {
                        block["input"] = serde_json::from_str(input).unwrap_or(json!({}));
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
        message.insert("content".into(), Value::Array(blocks));
        Some(message)
    }

    /// What the gateway owns in an event of `kind` (module header),
    /// rewritten in `data`.
    fn own(&mut self, kind: &str, data: &mut Map<String, Value>) {
        match kind {
            "message_start" => {
                if let Some(Value::Object(message)) = data.get_mut("message") {
                    message.insert("model".into(), json!(self.model));
                    counts(message, &USAGE_COUNTS);
                }
            }
            "content_block_start" => {
                if let Some(Value::Object(block)) = data.get_mut("content_block")
                    && block.get("type").and_then(Value::as_str) == Some("tool_use")
                {
                    let id = block.get("id").and_then(Value::as_str);
                    let id = ids::encode(id, self.calls, self.nonce);
                    block.insert("id".into(), json!(id));
                    self.calls += 1;
                }
            }
            "message_delta" => {
                if self.calls > 0 {
                    let delta = data.get_mut("delta");
                    if let Some(reason) = delta.and_then(|d| d.get_mut("stop_reason"))
                        && reason == "end_turn"
                    {
                        *reason = json!("tool_use");
                    }
                }
                counts(data, &["output_tokens"]);
            }
            _ => {}
        }
    }
}

/// `event`'s kind (its name, else its data's `type`) and its data, when
/// that is a JSON object.
fn read(event: &Event) -> Option<(String, Map<String, Value>)> {
    let Ok(Value::Object(data)) = serde_json::from_str::<Value>(&event.data) else {
        return None;
    };
    let kind = match (&event.event, data.get("type")) {
        (Some(name), _) => name.clone(),
        (None, Some(Value::String(kind))) => kind.clone(),
        (None, _) => return None,
    };
    Some((kind, data))
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

/// `holder`'s `usage` with each of `names` an integer: 0 where it is
/// missing or not one.
fn counts(holder: &mut Map<String, Value>, names: &[&str]) {
    let usage = holder
        .entry("usage")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(usage) = usage {
        for name in names {
            if !usage.get(*name).is_some_and(Value::is_u64) {
                usage.insert((*name).to_string(), json!(0));
            }
        }
    }
}

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
