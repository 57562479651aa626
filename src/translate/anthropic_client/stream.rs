//! The relay's typed items in, Anthropic's stream events out.

use super::{message_id, stop_reason, tool_input, usage_out};
#[cfg(test)]
use crate::translate::TestData;
use crate::translate::Unplaced;
use crate::translate::held_calls::HeldCalls;
use crate::translate::ids::{self, Nonce};
use crate::wire::Raw;
use crate::wire::anthropic::{
    BlockOut, Delta, ErrorBody, MessageDeltaBody, MessageOut, StreamEvent, UsageOut,
};
use crate::wire::openai::Part;

/// The streamed block that is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Thinking,
    Text,
    /// A text block of the model's refusal (OpenAI's `refusal`).
    Refusal,
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
    calls: HeldCalls,
    finish_reason: Option<String>,
    /// Whether the model refused (OpenAI's `refusal`, sent as text).
    refused: bool,
    usage: UsageOut,
    unplaced: Unplaced,
}

/// The most of tool calls (ids, names, arguments) one answer may hold until
/// `[DONE]` (the default `gateway.limits.maxResponseBytes`): past it, or
/// past [`MAX_HELD_CALLS`](crate::translate::held_calls::MAX_HELD_CALLS)
/// calls, the stream ends with an error rather than growing without end.
pub const MAX_HELD_CALL_BYTES: usize = 32 * 1024 * 1024;

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
            calls: HeldCalls::default(),
            finish_reason: None,
            refused: false,
            usage: UsageOut::default(),
            unplaced: Unplaced::default(),
        }
    }

    /// Whether the stream has ended, cleanly or with an error event.
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// The events for a piece of OpenAI-shaped SSE text (whole events).
    /// For tests; the gateway's encoder hands over typed items.
    #[cfg(test)]
    pub(super) fn frame(&mut self, frame: &[u8]) -> Vec<StreamEvent> {
        let data = TestData::frame(frame);
        data.into_iter().flat_map(|data| self.read(data)).collect()
    }

    /// The events for one event's data. For tests.
    #[cfg(test)]
    pub(super) fn data(&mut self, data: &str) -> Vec<StreamEvent> {
        self.read(TestData::read(data))
    }

    #[cfg(test)]
    fn read(&mut self, data: TestData) -> Vec<StreamEvent> {
        match data {
            TestData::Done => self.done(),
            TestData::Error { code, message } => self.failed(error_kind(&code), &message),
            TestData::Parts(parts) => self.parts(&parts),
        }
    }

    /// The events for one chunk's parts.
    pub fn parts(&mut self, parts: &[Part]) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        if self.state == State::Finished {
            return events;
        }
        if self.state == State::Fresh {
            let id = parts.iter().find_map(|part| match part {
                Part::Id(id) => Some(id.as_str()),
                _ => None,
            });
            self.start(id, &mut events);
        }
        for part in parts {
            match part {
                Part::Id(_) => {}
                Part::Usage(usage) => self.usage = usage_out(usage),
                Part::Reasoning(thinking) => {
                    let index = self.ensure_open(Open::Thinking, &mut events);
                    events.push(StreamEvent::ContentBlockDelta {
                        index,
                        delta: Delta::ThinkingDelta {
                            thinking: thinking.clone(),
                        },
                    });
                }
                Part::Text(text) | Part::Refusal(text) => {
                    let kind = match part {
                        Part::Refusal(_) => Open::Refusal,
                        _ => Open::Text,
                    };
                    self.refused |= kind == Open::Refusal;
                    let index = self.ensure_open(kind, &mut events);
                    events.push(StreamEvent::ContentBlockDelta {
                        index,
                        delta: Delta::TextDelta { text: text.clone() },
                    });
                }
                Part::ToolCall {
                    index,
                    id,
                    name,
                    arguments,
                } => {
                    let held = self
                        .calls
                        .hold(*index, id.as_deref(), name.as_deref(), arguments);
                    let over = match held {
                        Err(too_many) => Some(too_many.to_string()),
                        Ok(()) if self.calls.bytes() > MAX_HELD_CALL_BYTES => Some(format!(
                            "the tool calls are larger than {MAX_HELD_CALL_BYTES} bytes"
                        )),
                        Ok(()) => None,
                    };
                    if let Some(message) = over {
                        events.push(self.error("api_error", &message));
                        return events;
                    }
                }
                Part::Finish(reason) => self.finish_reason = Some(reason.clone()),
                Part::Unplaced(member) => self.unplaced.note(member, "Messages"),
            }
        }
        events
    }

    /// The events for the end of the answer (`[DONE]`).
    pub fn done(&mut self) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        match self.state {
            State::Finished => return events,
            State::Fresh => self.start(None, &mut events),
            State::Streaming => {}
        }
        self.finish(&mut events);
        events
    }

    /// The events for a stream that failed: an `error` event of `kind`
    /// with `message` (already scrubbed); it ends the stream.
    pub fn failed(&mut self, kind: &'static str, message: &str) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        match self.state {
            State::Finished => return events,
            State::Fresh => self.start(None, &mut events),
            State::Streaming => {}
        }
        events.push(self.error(kind, message));
        events
    }

    /// `message_start`, with the first chunk's id, and a `ping` after it
    /// as Anthropic's own streams have.
    fn start(&mut self, openai_id: Option<&str>, events: &mut Vec<StreamEvent>) {
        self.state = State::Streaming;
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
        if let Some((index, open)) = self.open
            && open == kind
        {
            return index;
        }
        self.close(events);
        let content_block = match kind {
            Open::Thinking => BlockOut::Thinking {
                thinking: String::new(),
                signature: String::new(),
            },
            Open::Text | Open::Refusal => BlockOut::Text {
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

    /// The held tool calls as whole blocks, then `message_delta` and
    /// `message_stop`. A call that never got a name cannot be run and is
    /// left out.
    fn finish(&mut self, events: &mut Vec<StreamEvent>) {
        self.close(events);
        let mut has_tool_use = false;
        for (position, call) in self.calls.take().into_iter().enumerate() {
            let Some(name) = call.name else {
                tracing::warn!("a streamed tool call came without a name; left out");
                continue;
            };
            has_tool_use = true;
            let index = self.open_block(
                BlockOut::ToolUse {
                    id: ids::encode(call.id.as_deref(), position, self.nonce),
                    name,
                    input: Raw::of("{}"),
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
                stop_reason: Some(stop_reason(
                    self.finish_reason.as_deref(),
                    has_tool_use,
                    self.refused,
                )),
                stop_sequence: None,
            },
            usage: self.usage,
        });
        events.push(StreamEvent::MessageStop);
        self.state = State::Finished;
    }

    /// The `error` event that ends the stream.
    fn error(&mut self, kind: &'static str, message: &str) -> StreamEvent {
        self.state = State::Finished;
        StreamEvent::Error {
            error: ErrorBody {
                kind,
                message: message.to_string(),
            },
        }
    }

    /// The error event for a stream that ended without a word.
    pub fn cut_off(&mut self) -> Option<StreamEvent> {
        if self.is_finished() {
            return None;
        }
        Some(self.error("api_error", "the stream ended unexpectedly"))
    }
}

/// Anthropic's error type for the relay's error code.
pub fn error_kind(code: &str) -> &'static str {
    match code {
        "gateway_shutdown" => "overloaded_error",
        "stream_timeout" => "timeout_error",
        _ => "api_error",
    }
}
