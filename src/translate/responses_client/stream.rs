//! An answer's pieces in, the Responses event sequence out.
//!
//! [`ResponseEncoder`] is written against the pieces of an answer (the
//! typed [`Part`]s of the relay's chunks, the end, a failure);
//! [`ResponseEncoder::frame`] reads them from OpenAI-shaped SSE text, for
//! tests and tools.

use super::{Call, Identity, ToolNames, status, usage_out};
#[cfg(test)]
use crate::translate::TestData;
use crate::translate::Unplaced;
use crate::translate::anthropic_client::context_overflow;
use crate::translate::held_calls::HeldCalls;
use crate::translate::ids;
use crate::wire::openai::Part;
use crate::wire::responses::{
    Echo, OutputItem, ResponseError, ResponseOut, StreamEvent, TextPart, UsageOut,
};

/// The most of an answer's text, reasoning and tool calls (ids, names,
/// arguments) one stream holds for `response.completed` (which repeats the whole output,
/// as OpenAI's does): past it the stream fails rather than growing
/// without end. The default `gateway.limits.maxResponseBytes`.
pub const MAX_HELD_BYTES: usize = 32 * 1024 * 1024;

/// What each output item counts toward [`MAX_HELD_BYTES`] beyond its text:
/// its id and structure, held and written again in `response.completed`
/// (about 150 bytes for a message), so that a provider alternating
/// one-byte reasoning and text, an item each, meets the bound too.
const ITEM_BYTES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Fresh,
    Streaming,
    Finished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Reasoning,
    Text,
    /// The model's refusal: a message of its own, its part a `refusal`.
    Refusal,
}

/// The reasoning or message item being streamed.
#[derive(Debug)]
struct Open {
    kind: Kind,
    output_index: usize,
    id: String,
    text: String,
}

/// Turns an answer's pieces into the Responses event sequence Codex and
/// the SDKs parse: `response.created` and `response.in_progress` first;
/// each item's `response.output_item.added` before any delta of it, one
/// item open at a time (reasoning as a summary part with its text deltas;
/// a message as an `output_text` part with its deltas), closed with its
/// `.done` events; tool calls held until the end and then sent whole
/// (added, one arguments delta, arguments done, item done), since
/// providers interleave the arguments of parallel calls; then
/// `response.completed` (or `response.incomplete` when the output was
/// cut) with the whole output and the usage. A failure after the start is
/// `response.failed` with the code Codex knows.
#[derive(Debug)]
pub struct ResponseEncoder {
    model: String,
    identity: Identity,
    names: ToolNames,
    echo: Echo,
    state: State,
    open: Option<Open>,
    done: Vec<OutputItem>,
    calls: HeldCalls,
    /// The bytes of text and reasoning held, with [`ITEM_BYTES`] for each
    /// item; the calls count their own.
    held: usize,
    usage: Option<UsageOut>,
    finish_reason: Option<String>,
    unplaced: Unplaced,
}

impl ResponseEncoder {
    pub fn new(model: &str, identity: Identity, names: ToolNames, echo: Echo) -> Self {
        Self {
            model: model.to_string(),
            identity,
            names,
            echo,
            state: State::Fresh,
            open: None,
            done: Vec::new(),
            calls: HeldCalls::default(),
            held: 0,
            usage: None,
            finish_reason: None,
            unplaced: Unplaced::default(),
        }
    }

    /// Whether the stream has ended, completed or failed.
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    fn snapshot(&self, status: &'static str) -> ResponseOut {
        ResponseOut {
            id: self.identity.response_id.clone(),
            object: "response",
            created_at: self.identity.created_at,
            status,
            model: self.model.clone(),
            output: self.done.clone(),
            usage: None,
            error: None,
            incomplete_details: None,
            echo: self.echo.clone(),
            store: false,
        }
    }

    /// `response.created` and `response.in_progress`, once.
    pub fn start(&mut self, events: &mut Vec<StreamEvent>) {
        if self.state != State::Fresh {
            return;
        }
        self.state = State::Streaming;
        events.push(StreamEvent::Created {
            response: self.snapshot("in_progress"),
        });
        events.push(StreamEvent::InProgress {
            response: self.snapshot("in_progress"),
        });
    }

    pub fn reasoning(&mut self, text: &str, events: &mut Vec<StreamEvent>) {
        self.delta(Kind::Reasoning, text, events);
    }

    pub fn text(&mut self, text: &str, events: &mut Vec<StreamEvent>) {
        self.delta(Kind::Text, text, events);
    }

    pub fn refusal(&mut self, text: &str, events: &mut Vec<StreamEvent>) {
        self.delta(Kind::Refusal, text, events);
    }

    fn delta(&mut self, kind: Kind, text: &str, events: &mut Vec<StreamEvent>) {
        if text.is_empty() || self.state == State::Finished {
            return;
        }
        self.start(events);
        if self.open.as_ref().is_none_or(|open| open.kind != kind) {
            self.close(events);
            self.open_item(kind, events);
        }
        let open = self.open.as_mut().expect("opened above");
        open.text.push_str(text);
        self.held += text.len();
        let (item_id, output_index) = (open.id.clone(), open.output_index);
        events.push(match kind {
            Kind::Reasoning => StreamEvent::ReasoningSummaryTextDelta {
                item_id,
                output_index,
                summary_index: 0,
                delta: text.to_string(),
            },
            Kind::Text => StreamEvent::OutputTextDelta {
                item_id,
                output_index,
                content_index: 0,
                delta: text.to_string(),
                logprobs: [],
            },
            Kind::Refusal => StreamEvent::RefusalDelta {
                item_id,
                output_index,
                content_index: 0,
                delta: text.to_string(),
            },
        });
        self.check_held(events);
    }

    fn open_item(&mut self, kind: Kind, events: &mut Vec<StreamEvent>) {
        let output_index = self.done.len();
        let prefix = match kind {
            Kind::Reasoning => "rs",
            Kind::Text | Kind::Refusal => "msg",
        };
        let id = self.identity.item_id(prefix, output_index);
        match kind {
            Kind::Reasoning => {
                events.push(StreamEvent::OutputItemAdded {
                    output_index,
                    item: OutputItem::Reasoning {
                        id: id.clone(),
                        summary: Vec::new(),
                    },
                });
                events.push(StreamEvent::ReasoningSummaryPartAdded {
                    item_id: id.clone(),
                    output_index,
                    summary_index: 0,
                    part: summary(String::new()),
                });
            }
            Kind::Text | Kind::Refusal => {
                events.push(StreamEvent::OutputItemAdded {
                    output_index,
                    item: message(id.clone(), "in_progress", Vec::new()),
                });
                events.push(StreamEvent::ContentPartAdded {
                    item_id: id.clone(),
                    output_index,
                    content_index: 0,
                    part: content_part(kind, String::new()),
                });
            }
        }
        self.open = Some(Open {
            kind,
            output_index,
            id,
            text: String::new(),
        });
        self.held += ITEM_BYTES;
    }

    /// Closes the open item with its `.done` events.
    fn close(&mut self, events: &mut Vec<StreamEvent>) {
        let Some(Open {
            kind,
            output_index,
            id,
            text,
        }) = self.open.take()
        else {
            return;
        };
        let item = match kind {
            Kind::Reasoning => {
                events.push(StreamEvent::ReasoningSummaryTextDone {
                    item_id: id.clone(),
                    output_index,
                    summary_index: 0,
                    text: text.clone(),
                });
                events.push(StreamEvent::ReasoningSummaryPartDone {
                    item_id: id.clone(),
                    output_index,
                    summary_index: 0,
                    part: summary(text.clone()),
                });
                OutputItem::Reasoning {
                    id,
                    summary: vec![summary(text)],
                }
            }
            Kind::Text | Kind::Refusal => {
                events.push(match kind {
                    Kind::Refusal => StreamEvent::RefusalDone {
                        item_id: id.clone(),
                        output_index,
                        content_index: 0,
                        refusal: text.clone(),
                    },
                    _ => StreamEvent::OutputTextDone {
                        item_id: id.clone(),
                        output_index,
                        content_index: 0,
                        text: text.clone(),
                        logprobs: [],
                    },
                });
                events.push(StreamEvent::ContentPartDone {
                    item_id: id.clone(),
                    output_index,
                    content_index: 0,
                    part: content_part(kind, text.clone()),
                });
                message(id, "completed", vec![content_part(kind, text)])
            }
        };
        events.push(StreamEvent::OutputItemDone {
            output_index,
            item: item.clone(),
        });
        self.done.push(item);
    }

    /// One piece of a tool call: the latest call with its index, unless a
    /// new id starts another (some providers give every call index 0).
    /// The first id and name stay; arguments add up.
    pub fn tool_call(
        &mut self,
        openai_index: u64,
        id: Option<&str>,
        name: Option<&str>,
        arguments: &str,
        events: &mut Vec<StreamEvent>,
    ) {
        if self.state == State::Finished {
            return;
        }
        self.start(events);
        let id = id.filter(|id| !id.is_empty());
        let name = name.filter(|n| !n.is_empty());
        match self.calls.hold(openai_index, id, name, arguments) {
            Ok(()) => self.check_held(events),
            Err(too_many) => self.fail("server_error", too_many.to_string(), events),
        }
    }

    pub fn usage(&mut self, usage: UsageOut) {
        self.usage = Some(usage);
    }

    pub fn finish_reason(&mut self, reason: &str) {
        self.finish_reason = Some(reason.to_string());
    }

    /// The end of the answer: the open item closed, the held tool calls
    /// sent whole, then `response.completed` (or `response.incomplete`).
    /// A call that never got a name cannot be run and is left out.
    pub fn done(&mut self, events: &mut Vec<StreamEvent>) {
        if self.state == State::Finished {
            return;
        }
        self.start(events);
        self.close(events);
        let mut position = 0;
        for call in self.calls.take() {
            let Some(name) = call.name else {
                tracing::warn!("a streamed tool call came without a name; left out");
                continue;
            };
            let output_index = self.done.len();
            let id = self.identity.item_id("fc", output_index);
            let call_id = ids::encode(call.id.as_deref(), position, self.identity.nonce);
            position += 1;
            let call = self.names.call(&name, &call.arguments);
            events.push(StreamEvent::OutputItemAdded {
                output_index,
                item: call.item(id.clone(), call_id.clone(), false),
            });
            let payload = call.payload().to_string();
            events.extend(match call {
                Call::Function { .. } => [
                    StreamEvent::FunctionCallArgumentsDelta {
                        item_id: id.clone(),
                        output_index,
                        delta: payload.clone(),
                    },
                    StreamEvent::FunctionCallArgumentsDone {
                        item_id: id.clone(),
                        output_index,
                        arguments: payload,
                    },
                ],
                Call::Custom { .. } => [
                    StreamEvent::CustomToolCallInputDelta {
                        item_id: id.clone(),
                        output_index,
                        delta: payload.clone(),
                    },
                    StreamEvent::CustomToolCallInputDone {
                        item_id: id.clone(),
                        output_index,
                        input: payload,
                    },
                ],
            });
            let done = call.item(id, call_id, true);
            events.push(StreamEvent::OutputItemDone {
                output_index,
                item: done.clone(),
            });
            self.done.push(done);
        }
        let (status, incomplete_details) = status(self.finish_reason.as_deref());
        // The last item is the one the answer was cut in: its `.done`
        // event is among these.
        if incomplete_details.is_some() {
            let last_done = events.iter_mut().rev().find_map(|event| match event {
                StreamEvent::OutputItemDone { item, .. } => Some(item),
                _ => None,
            });
            last_done
                .into_iter()
                .chain(self.done.last_mut())
                .for_each(OutputItem::cut);
        }
        let mut response = self.snapshot(status);
        response.output = std::mem::take(&mut self.done);
        response.usage = self.usage;
        response.incomplete_details = incomplete_details;
        events.push(match status {
            "completed" => StreamEvent::Completed { response },
            _ => StreamEvent::Incomplete { response },
        });
        self.state = State::Finished;
    }

    /// A failure after the start: `response.failed` with `code`; it ends
    /// the stream.
    pub fn fail(&mut self, code: &'static str, message: String, events: &mut Vec<StreamEvent>) {
        if self.state == State::Finished {
            return;
        }
        self.start(events);
        let mut response = self.snapshot("failed");
        response.usage = self.usage;
        response.error = Some(ResponseError { code, message });
        events.push(StreamEvent::Failed { response });
        self.state = State::Finished;
    }

    fn check_held(&mut self, events: &mut Vec<StreamEvent>) {
        if self.held + self.calls.bytes() > MAX_HELD_BYTES {
            let message = format!("the answer is larger than {MAX_HELD_BYTES} bytes");
            self.fail("server_error", message, events);
        }
    }

    /// The events for one chunk's parts.
    pub fn parts(&mut self, parts: &[Part]) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        if self.state == State::Finished {
            return events;
        }
        self.start(&mut events);
        for part in parts {
            match part {
                Part::Id(_) => {}
                Part::Usage(usage) => self.usage(usage_out(usage)),
                Part::Reasoning(text) => self.reasoning(text, &mut events),
                Part::Text(text) => self.text(text, &mut events),
                Part::Refusal(text) => self.refusal(text, &mut events),
                Part::ToolCall {
                    index,
                    id,
                    name,
                    arguments,
                } => self.tool_call(
                    *index,
                    id.as_deref(),
                    name.as_deref(),
                    arguments,
                    &mut events,
                ),
                Part::Finish(reason) => self.finish_reason(reason),
                Part::Unplaced(member) => self.unplaced.note(member, "Responses"),
            }
        }
        events
    }

    /// The events for a piece of OpenAI-shaped SSE text (whole events):
    /// chunks, `[DONE]`, or an error (its code left to the message). For
    /// tests; the gateway's encoder hands over typed items.
    #[cfg(test)]
    pub(super) fn frame(&mut self, frame: &[u8]) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        for data in TestData::frame(frame) {
            match data {
                TestData::Done => self.done(&mut events),
                TestData::Error { message, .. } => {
                    self.fail(failure_code(None, &message), message, &mut events)
                }
                TestData::Parts(parts) => events.extend(self.parts(&parts)),
            }
        }
        events
    }

    /// The events for a stream that ended without a word.
    pub fn cut_off(&mut self) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        self.fail(
            "server_error",
            "the stream ended unexpectedly".into(),
            &mut events,
        );
        events
    }
}

/// The `response.failed` code for a stream's failure: the codes Codex
/// tells apart (`context_length_exceeded` and `insufficient_quota` stop
/// it, `rate_limit_exceeded` makes it wait and retry), else
/// `server_error`, on which it retries. `known` is the code the failure's
/// class gives, when it gives one; else the message is read.
pub fn failure_code(known: Option<&'static str>, message: &str) -> &'static str {
    if let Some(code) = known {
        return code;
    }
    let lower = message.to_ascii_lowercase();
    if context_overflow(message).is_some() || lower.contains("context_length_exceeded") {
        "context_length_exceeded"
    } else if lower.contains("quota") || lower.contains("insufficient balance") {
        "insufficient_quota"
    } else if lower.contains("rate limit") || lower.contains("rate_limit") {
        "rate_limit_exceeded"
    } else {
        "server_error"
    }
}

fn summary(text: String) -> TextPart {
    TextPart::SummaryText { text }
}

/// A message's part of `kind`: `output_text`, or `refusal`.
fn content_part(kind: Kind, text: String) -> TextPart {
    match kind {
        Kind::Refusal => TextPart::Refusal { refusal: text },
        _ => TextPart::OutputText {
            text,
            annotations: [],
        },
    }
}

fn message(id: String, status: &'static str, content: Vec<TextPart>) -> OutputItem {
    OutputItem::Message {
        id,
        status,
        role: "assistant",
        content,
    }
}
