//! The relay's OpenAI chunks in, Anthropic's stream events out.

use serde_json::{Map, Value, json};

use super::{message_id, stop_reason, tool_input, usage_out};
use crate::translate::ids::{self, Nonce};
use crate::wire::anthropic::{
    BlockOut, Delta, ErrorBody, MessageDeltaBody, MessageOut, StreamEvent, UsageOut,
};
use crate::wire::openai::Usage;

/// A tool call as its chunks arrive: held whole until the stream ends.
#[derive(Debug)]
struct ToolCall {
    /// `tool_calls[].index` in the chunks.
    openai_index: u64,
    id: Option<String>,
    name: Option<String>,
    arguments: String,
}

/// The streamed block that is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Thinking,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing sent yet: `message_start` waits for the first chunk's id.
    Fresh,
    Streaming,
    /// Ended, with `message_stop` or an error event.
    Finished,
}

/// Turns the relay's OpenAI chunks (already shaped: reasoning as
/// `reasoning_content`, usage once and top-level, errors as `{"error"}`)
/// into Anthropic's event sequence: one `message_start` (and a `ping`),
/// blocks with contiguous indices and one open at a time, deltas matching
/// their block, and `message_delta` (stop reason and cumulative usage) held
/// until the end, then `message_stop`; or an `error` event.
///
/// Thinking and text stream as they come. Tool calls are held until
/// `[DONE]` and then sent whole, each as a start, one `input_json_delta`
/// and a stop: providers interleave the arguments of parallel calls and mix
/// them with text in one chunk, which a block that cannot be reopened
/// could not follow without losing arguments.
#[derive(Debug)]
pub struct StreamTranslator {
    model: String,
    nonce: Nonce,
    state: State,
    next_index: usize,
    open: Option<(usize, Open)>,
    calls: Vec<ToolCall>,
    /// The bytes of tool-call arguments held so far.
    held: usize,
    finish_reason: Option<String>,
    usage: UsageOut,
}

/// The most of tool-call arguments one answer may hold until `[DONE]`
/// (the default `gateway.limits.maxResponseBytes`): past it the stream
/// ends with an error rather than growing without end.
pub const MAX_HELD_ARGUMENT_BYTES: usize = 32 * 1024 * 1024;

impl StreamTranslator {
    /// A translator labelling the message `model`, its tool-use ids (and
    /// its message id, when the provider gives none) carrying `nonce`.
    pub fn new(model: &str, nonce: Nonce) -> Self {
        Self {
            model: model.to_string(),
            nonce,
            state: State::Fresh,
            next_index: 0,
            open: None,
            calls: Vec::new(),
            held: 0,
            finish_reason: None,
            usage: UsageOut::default(),
        }
    }

    /// Whether the stream has ended, cleanly or with an error event.
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// The events for a piece of the relay's output: whole SSE events
    /// (`data: ...` lines, a blank line after each), one or more.
    pub fn frame(&mut self, frame: &[u8]) -> Vec<StreamEvent> {
        let text = String::from_utf8_lossy(frame);
        let mut events = Vec::new();
        for event in text.split("\n\n") {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if !data.is_empty() {
                events.extend(self.data(&data.join("\n")));
            }
        }
        events
    }

    /// The events for one event's data.
    pub fn data(&mut self, data: &str) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        if self.state == State::Finished {
            return events;
        }
        let data = data.trim();
        // What is not a JSON object (`[DONE]`, scrubbed provider text) is
        // no chunk.
        let chunk = match serde_json::from_str::<Value>(data) {
            Ok(Value::Object(chunk)) => Some(chunk),
            _ => None,
        };
        if self.state == State::Fresh {
            self.start(chunk.as_ref(), &mut events);
        }
        if data == "[DONE]" {
            self.finish(&mut events);
            return events;
        }
        let Some(chunk) = chunk else {
            return events;
        };
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            events.push(self.error(error));
            return events;
        }
        if let Some(usage) = Usage::of(&chunk) {
            self.usage = usage_out(&usage);
        }
        let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) else {
            return events;
        };
        let delta = &choice["delta"];
        if let Some(thinking) = delta["reasoning_content"]
            .as_str()
            .filter(|t| !t.is_empty())
        {
            let index = self.ensure_open(Open::Thinking, &mut events);
            events.push(StreamEvent::ContentBlockDelta {
                index,
                delta: Delta::ThinkingDelta {
                    thinking: thinking.to_string(),
                },
            });
        }
        if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            let index = self.ensure_open(Open::Text, &mut events);
            events.push(StreamEvent::ContentBlockDelta {
                index,
                delta: Delta::TextDelta {
                    text: text.to_string(),
                },
            });
        }
        for (position, call) in delta["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            self.hold(call, position as u64);
        }
        if self.held > MAX_HELD_ARGUMENT_BYTES {
            let message = format!(
                "the tool calls' arguments are larger than {MAX_HELD_ARGUMENT_BYTES} bytes"
            );
            events.push(self.error(&json!({ "message": message })));
            return events;
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.finish_reason = Some(reason.to_string());
        }
        events
    }

    /// `message_start`, with the first chunk's id, and a `ping` after it
    /// as Anthropic's own streams have.
    fn start(&mut self, chunk: Option<&Map<String, Value>>, events: &mut Vec<StreamEvent>) {
        self.state = State::Streaming;
        let openai_id = chunk.and_then(|c| c.get("id")).and_then(Value::as_str);
        events.push(StreamEvent::MessageStart {
            message: MessageOut {
                id: message_id(openai_id, self.nonce),
                kind: "message",
                role: "assistant",
                model: self.model.clone(),
                content: Vec::new(),
                stop_reason: None,
                stop_sequence: None,
                usage: UsageOut::default(),
            },
        });
        events.push(StreamEvent::Ping);
    }

    /// The index of the open block of `kind`, opening it (and closing the
    /// one before) when needed.
    fn ensure_open(&mut self, kind: Open, events: &mut Vec<StreamEvent>) -> usize {
        if let Some((index, open)) = self.open {
            if open == kind {
                return index;
            }
        }
        self.close(events);
        let content_block = match kind {
            Open::Thinking => BlockOut::Thinking {
                thinking: String::new(),
                signature: String::new(),
            },
            Open::Text => BlockOut::Text {
                text: String::new(),
            },
        };
        let index = self.open_block(content_block, events);
        self.open = Some((index, kind));
        index
    }

    fn open_block(&mut self, content_block: BlockOut, events: &mut Vec<StreamEvent>) -> usize {
        let index = self.next_index;
        self.next_index += 1;
        events.push(StreamEvent::ContentBlockStart {
            index,
            content_block,
        });
        index
    }

    fn close(&mut self, events: &mut Vec<StreamEvent>) {
        if let Some((index, _)) = self.open.take() {
            events.push(StreamEvent::ContentBlockStop { index });
        }
    }

    /// Adds one `delta.tool_calls[]` entry to the call it belongs to: the
    /// latest with its index, unless a new id starts another (some
    /// providers give every call index 0). The first id and name stay.
    fn hold(&mut self, call: &Value, position: u64) {
        let openai_index = call["index"].as_u64().unwrap_or(position);
        let id = call["id"].as_str().filter(|id| !id.is_empty());
        let name = call["function"]["name"].as_str().filter(|n| !n.is_empty());
        let arguments = call["function"]["arguments"].as_str().unwrap_or_default();
        let existing = self
            .calls
            .iter()
            .rposition(|c| c.openai_index == openai_index)
            .filter(|&at| match (id, &self.calls[at].id) {
                (Some(new), Some(old)) => new == old,
                _ => true,
            });
        let at = existing.unwrap_or_else(|| {
            self.calls.push(ToolCall {
                openai_index,
                id: None,
                name: None,
                arguments: String::new(),
            });
            self.calls.len() - 1
        });
        let entry = &mut self.calls[at];
        if entry.id.is_none() {
            entry.id = id.map(str::to_string);
        }
        if entry.name.is_none() {
            entry.name = name.map(str::to_string);
        }
        entry.arguments.push_str(arguments);
        self.held += arguments.len();
    }

    /// The held tool calls as whole blocks, then `message_delta` and
    /// `message_stop`. A call that never got a name cannot be run and is
    /// left out.
    fn finish(&mut self, events: &mut Vec<StreamEvent>) {
        self.close(events);
        let mut has_tool_use = false;
        for (position, call) in std::mem::take(&mut self.calls).into_iter().enumerate() {
            let Some(name) = call.name else {
                tracing::warn!("a streamed tool call came without a name; left out");
                continue;
            };
            has_tool_use = true;
            let index = self.open_block(
                BlockOut::ToolUse {
                    id: ids::encode(call.id.as_deref(), position, self.nonce),
                    name,
                    input: json!({}),
                },
                events,
            );
            events.push(StreamEvent::ContentBlockDelta {
                index,
                delta: Delta::InputJsonDelta {
                    partial_json: tool_input(&call.arguments).to_string(),
                },
            });
            events.push(StreamEvent::ContentBlockStop { index });
        }
        events.push(StreamEvent::MessageDelta {
            delta: MessageDeltaBody {
                stop_reason: Some(stop_reason(self.finish_reason.as_deref(), has_tool_use)),
                stop_sequence: None,
            },
            usage: self.usage,
        });
        events.push(StreamEvent::MessageStop);
        self.state = State::Finished;
    }

    /// The event for the relay's error frame (`{"error": {"message",
    /// "code"}}`, already scrubbed); it ends the stream.
    fn error(&mut self, error: &Value) -> StreamEvent {
        self.state = State::Finished;
        let kind = match error["code"].as_str() {
            Some("gateway_shutdown") => "overloaded_error",
            Some("stream_timeout") => "timeout_error",
            _ => "api_error",
        };
        StreamEvent::Error {
            error: ErrorBody {
                kind,
                message: error["message"]
                    .as_str()
                    .unwrap_or("the upstream stream failed")
                    .to_string(),
            },
        }
    }

    /// The error event for a stream that ended without a word.
    pub fn cut_off(&mut self) -> Option<StreamEvent> {
        if self.is_finished() {
            return None;
        }
        Some(self.error(&json!({"message": "the stream ended unexpectedly"})))
    }
}
