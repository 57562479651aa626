//! Non-streaming requests are sent upstream as streams, so that the first
//! event and idle timeouts protect them as well; this module asks for the
//! stream and assembles its chunks into the one `chat.completion` the
//! client asked for: content, reasoning (under the field the provider used),
//! tool calls with their arguments concatenated per index (a legacy
//! `function_call`'s too), finish reason,
//! usage (top-level or Moonshot's per choice; the first that counts both
//! sides, as a stream's, so a repeated usage chunk is not counted twice),
//! and the provider's own members of the chunk and its choices
//! (OpenRouter's `provider`, `citations`, a choice's
//! `native_finish_reason`), as a stream carries them. When the provider's own
//! events come too (a client of its format), they are kept whole, for the
//! client's answer, and the chunks, read then only for the answer's start
//! and end, give the completion its id, usage and finish reason alone.
//!
//! Nothing has reached the client while a stream is assembled, so a stream
//! that breaks, falls silent or reports an error midway fails its attempt
//! and the chain can still fall over; keep-alives (comments, Anthropic's
//! `ping`, chunks or events that add nothing to the answer) are no sign
//! of life here, so a provider that sends only those cannot hold the
//! request past `idleSeconds`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::format::sse::{Event, Item, ReadError, SseError};
use crate::ops::redact::Redactor;
use crate::ops::scrub::REDACTED;
use crate::translate::held_calls::{HeldCalls, TooManyCalls};
use crate::upstream::{AttemptError, EventStream, Reply, describe, error_details, truncate};
use crate::wire::anthropic::{DeltaKind, EventKind};
use crate::wire::chunk::{self, ChunkView, MAX_CHOICES, Place, number, text as string};
use crate::wire::usage::Usage;

/// Why a stream cannot be assembled into one answer.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum Unassembled {
    #[error(transparent)]
    Calls(#[from] TooManyCalls),
    #[error("the answer holds more than {MAX_CHOICES} choices")]
    Choices,
}

/// A whole answer given to a request for a stream (a provider that ignored
/// `stream`), as the stream it spells: one chunk holding each choice's
/// message as its delta, a usage chunk when there is usage, `[DONE]`. The
/// answer's other members (`system_fingerprint`, OpenRouter's `provider`)
/// are each chunk's, and a choice's (`logprobs`, `native_finish_reason`)
/// its chunk choice's, as a stream carries them.
pub fn replay(mut completion: Map<String, Value>) -> Reply {
    let choices = match completion.remove("choices") {
        Some(Value::Array(choices)) => choices,
        _ => Vec::new(),
    };
    let choices: Vec<Value> = (choices.into_iter().enumerate())
        .map(|(position, choice)| {
            let Value::Object(mut choice) = choice else {
                return json!({"index": position, "delta": {}, "finish_reason": null});
            };
            let mut delta = choice.remove("message").unwrap_or_else(|| json!({}));
            let calls = delta.get_mut("tool_calls").and_then(Value::as_array_mut);
            for (index, call) in calls.into_iter().flatten().enumerate() {
                if let Value::Object(call) = call {
                    call.entry("index").or_insert(json!(index));
                }
            }
            choice.entry("index").or_insert(json!(position));
            choice.insert("delta".into(), delta);
            choice.entry("finish_reason").or_insert(Value::Null);
            Value::Object(choice)
        })
        .collect();
    let usage = completion.remove("usage");
    let mut chunk = completion;
    chunk.insert("object".into(), json!("chat.completion.chunk"));
    let mut usage_chunk = chunk.clone();
    chunk.insert("choices".into(), Value::Array(choices));
    let event = |data: String| Event {
        event: None,
        data,
        id: None,
    };
    let mut rest = Vec::new();
    if let Some(usage) = usage.filter(Value::is_object) {
        usage_chunk.insert("choices".into(), json!([]));
        usage_chunk.insert("usage".into(), usage);
        rest.push(Ok(Item::Event(event(
            Value::Object(usage_chunk).to_string(),
        ))));
    }
    rest.push(Ok(Item::Event(event("[DONE]".into()))));
    Reply::Stream {
        first: event(Value::Object(chunk).to_string()),
        rest: Box::pin(futures_util::stream::iter(rest)),
        native: false,
    }
}

/// Reads the rest of a stream whose first meaningful event is `first` and
/// returns the completion it spells, and the provider's own events when
/// they came too ([`Item::Native`], for the client to read its answer
/// from), or why it could not. Both count against `max_bytes`; the whole
/// is read by the chain's `deadline`, each wait within `idle`.
pub async fn collect(
    first: Event,
    mut rest: EventStream,
    (idle, deadline): (Duration, tokio::time::Instant),
    max_bytes: usize,
    redactor: &Redactor,
) -> Result<(Map<String, Value>, Vec<Event>), AttemptError> {
    let scrub = |text: String| truncate(redactor.provider_text(&text));
    let too_large = || AttemptError::TooLarge {
        what: "the response",
        limit: max_bytes,
        key: "maxResponseBytes",
    };
    let started = tokio::time::Instant::now();
    let mut completion = Completion::default();
    let mut native = Vec::new();
    let mut read = 0usize;
    let mut event = first;
    // The client sees nothing while its answer is assembled, so a
    // keep-alive (a comment, Anthropic's `ping`, an event the transport
    // read nothing from, a chunk that says nothing: an empty delta, no
    // choice) is no sign of life here: only a chunk that adds to the
    // answer or the provider's own event of the answer ends the silence.
    let mut silent_until = (tokio::time::Instant::now() + idle).min(deadline);
    loop {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok((completion.finish(), native));
        }
        read += data.len();
        if read > max_bytes {
            return Err(too_large());
        }
        match ChunkView::read(data) {
            Some(chunk) if chunk.error.is_some() => {
                let (error_type, message) = error_details(data.as_bytes());
                return Err(AttemptError::Upstream {
                    status: None,
                    error_type: error_type.map(scrub),
                    message: scrub(message),
                    retry_after: None,
                });
            }
            Some(chunk) => {
                if chunk.says_something() {
                    silent_until = (tokio::time::Instant::now() + idle).min(deadline);
                }
                completion
                    .push(chunk)
                    .map_err(|e| AttemptError::InvalidResponse(e.to_string()))?;
                completion.others(data);
            }
            None => {
                return Err(AttemptError::InvalidResponse(
                    "a stream event is not a chat completion chunk".into(),
                ));
            }
        }
        event = loop {
            match tokio::time::timeout_at(silent_until, rest.next()).await {
                Err(_) if silent_until == deadline => {
                    return Err(AttemptError::Timeout {
                        waiting_for: "rest of the answer by the chain's deadline",
                        after: started.elapsed(),
                    });
                }
                Err(_) => {
                    return Err(AttemptError::Timeout {
                        waiting_for: "more of the stream",
                        after: idle,
                    });
                }
                Ok(Some(Ok(Item::Event(event)))) => break event,
                Ok(Some(Ok(Item::Comment(_)))) => continue,
                Ok(Some(Ok(Item::Native(event)))) => {
                    // Kept whole, so counted whole: a stream's id is
                    // copied into each of its events.
                    read += event.size();
                    if read > max_bytes {
                        return Err(too_large());
                    }
                    // Most go unread as chunks (`EventReading::NativeEnds`):
                    // one that is not JSON breaks the answer here.
                    match adds_to_the_answer(&event) {
                        None => {
                            return Err(AttemptError::InvalidResponse(
                                "a stream event is not JSON".into(),
                            ));
                        }
                        Some(true) => {
                            silent_until = (tokio::time::Instant::now() + idle).min(deadline)
                        }
                        Some(false) => {}
                    }
                    native.push(event);
                }
                Ok(Some(Err(ReadError::Body(err)))) => {
                    return Err(AttemptError::Connect(scrub(describe(&err))));
                }
                Ok(Some(Err(ReadError::Sse(SseError::TooLarge { limit })))) => {
                    return Err(AttemptError::TooLarge {
                        what: "a stream event",
                        limit,
                        key: "maxEventBytes",
                    });
                }
                Ok(Some(Err(error @ (ReadError::OutOfOrder(_) | ReadError::NotJson)))) => {
                    return Err(AttemptError::InvalidResponse(error.to_string()));
                }
                // A provider that ends without `[DONE]` after finishing
                // every choice has still said everything.
                Ok(None) if completion.finished() => return Ok((completion.finish(), native)),
                Ok(None) | Ok(Some(Err(ReadError::Sse(SseError::Incomplete)))) => {
                    return Err(AttemptError::InvalidResponse(
                        "the stream ended before the answer did".into(),
                    ));
                }
            }
        };
    }
}

/// Whether a provider's own event adds to the answer, as the relay judges
/// one ([`EventKind::adds`]); `None`: it is not JSON.
fn adds_to_the_answer(event: &Event) -> Option<bool> {
    let kind = EventKind::of(event);
    let Some(member) = kind.delta().and_then(DeltaKind::member) else {
        serde_json::from_str::<serde::de::IgnoredAny>(&event.data).ok()?;
        return Some(kind.adds(event.event.as_deref(), None));
    };
    let data: Value = serde_json::from_str(&event.data).ok()?;
    // Absent, `null` or not a string, as the relay's search finds none.
    let piece = (data.get("delta").and_then(|delta| delta.get(member)))
        .and_then(Value::as_str)
        .unwrap_or("");
    Some(kind.adds(event.event.as_deref(), Some(piece)))
}

/// The value of `raw`, read once when it is kept.
fn value(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

fn is_object(raw: &&RawValue) -> bool {
    raw.get().starts_with('{')
}

/// `completion`, a whole answer (assembled, or the provider's own), less
/// the `logprobs` of each choice whose text or refusal held a key: they
/// would spell it out token by token, where the answer's scrub finds it
/// only whole.
pub fn without_spelt_keys(completion: &mut Map<String, Value>, redactor: &Redactor) {
    let spells = |text: Option<&Value>| {
        let text = text.and_then(Value::as_str).unwrap_or("");
        redactor.scrubber().holds_key(text.as_bytes())
    };
    let choices = completion.get_mut("choices").and_then(Value::as_array_mut);
    for choice in choices
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
        .filter(|choice| choice.contains_key("logprobs"))
    {
        let message = choice.get("message");
        let held = spells(message.and_then(|m| m.get("content")))
            || spells(message.and_then(|m| m.get("refusal")));
        if held && choice.shift_remove("logprobs").is_some() {
            tracing::warn!("an answer's text held a key: its logprobs are dropped with it");
        }
    }
}

/// `completion`, a whole answer (assembled, or the provider's own), with a
/// key that runs from one of a choice's strings into another (its
/// reasoning, its text, its refusal, each call's arguments, a legacy
/// `function_call`'s too, in whichever order the stream gave them)
/// replaced in both, as a stream's hold replaces it
/// ([`crate::ops::scrub::Scrubber::mask_split_keys`]); the choice's
/// `logprobs`, which would spell it token by token, go with it.
pub fn masked_across_strings(completion: &mut Map<String, Value>, redactor: &Redactor) {
    let choices = completion.get_mut("choices").and_then(Value::as_array_mut);
    for choice in (choices.into_iter().flatten()).filter_map(Value::as_object_mut) {
        let masked = (choice.get_mut("message").and_then(Value::as_object_mut))
            .is_some_and(|message| masked_in(message, redactor));
        if masked && choice.shift_remove("logprobs").is_some() {
            tracing::warn!("an answer's text held a key: its logprobs are dropped with it");
        }
    }
}

/// [`masked_across_strings`] in one choice's `message`: whether a key was
/// replaced.
fn masked_in(message: &mut Map<String, Value>, redactor: &Redactor) -> bool {
    // The reasoning as a stream holds it: `reasoning_content`, else
    // OpenRouter's `reasoning`; the other, and `reasoning_details`, spell
    // it again.
    let reasoning = match message.get("reasoning_content") {
        Some(Value::String(_)) => "reasoning_content",
        _ => "reasoning",
    };
    // What it said, kept only when something spells it again.
    let mirrored = message.contains_key("reasoning_details")
        || (message.contains_key("reasoning") && message.contains_key("reasoning_content"));
    let said = (message.get(reasoning).and_then(Value::as_str))
        .filter(|_| mirrored)
        .map(str::to_owned);
    let mut strings: Vec<&mut String> = Vec::new();
    let mut calls = None;
    for (key, value) in message.iter_mut() {
        match (key.as_str(), value) {
            ("content" | "refusal", Value::String(text)) => strings.push(text),
            (key, Value::String(text)) if key == reasoning => strings.push(text),
            ("tool_calls", Value::Array(list)) => calls = Some(list),
            ("function_call", Value::Object(call)) => {
                if let Some(Value::String(arguments)) = call.get_mut("arguments") {
                    strings.push(arguments);
                }
            }
            _ => {}
        }
    }
    // A function's arguments, or a custom tool's input.
    let arguments = (calls.into_iter().flatten()).filter_map(|call| {
        let object = call.as_object_mut()?;
        let inner = match object.contains_key("custom") {
            true => object.get_mut("custom")?.get_mut("input"),
            false => object.get_mut("function")?.get_mut("arguments"),
        };
        match inner {
            Some(Value::String(arguments)) => Some(arguments),
            _ => None,
        }
    });
    strings.extend(arguments);
    strings.retain(|text| !text.is_empty());
    let masked = redactor.scrubber().mask_split_keys(&mut strings);
    if masked && let Some(said) = said {
        mirror_reasoning(message, reasoning, &said, redactor);
    }
    masked
}

/// The strings of `message` that spell its `reasoning` (said `said` before
/// a key was replaced in it) again: each the same as `said` now says what
/// the reasoning says, and any other loses the tail that could start a key.
fn mirror_reasoning(
    message: &mut Map<String, Value>,
    reasoning: &str,
    said: &str,
    redactor: &Redactor,
) {
    let now = message.get(reasoning).cloned().unwrap_or(Value::Null);
    let scrubber = redactor.scrubber();
    let mirror = |text: &mut Value| {
        let Value::String(mirrored) = text else {
            return;
        };
        if mirrored == said {
            *text = now.clone();
            return;
        }
        let keep = scrubber.key_start_at_end(mirrored);
        if keep > 0 {
            let at = mirrored.len() - keep;
            mirrored.replace_range(at.., REDACTED);
        }
    };
    for (key, value) in message.iter_mut() {
        match (key.as_str(), value) {
            ("reasoning" | "reasoning_content", value) if key != reasoning => mirror(value),
            ("reasoning_details", Value::Array(details)) => {
                for detail in details.iter_mut().filter_map(Value::as_object_mut) {
                    for member in ["text", "summary"] {
                        if let Some(text) = detail.get_mut(member) {
                            mirror(text);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// Adds `others` to `members`, where it says nothing of its own.
fn beside(members: &mut Map<String, Value>, others: Map<String, Value>) {
    for (key, value) in others {
        members.entry(key).or_insert(value);
    }
}

/// Keeps member `key` said `raw` among `others`: the last said that is
/// not null, as a stream's last word on it.
fn keep(others: &mut Map<String, Value>, key: Cow<'_, str>, raw: &RawValue) {
    let said = value(raw);
    if !said.is_null() || !others.contains_key(&*key) {
        others.insert(key.into_owned(), said);
    }
}

/// A completion being assembled from chunks.
#[derive(Debug, Default)]
struct Completion {
    /// `id`, `created`, `model`, `system_fingerprint`: the first seen.
    head: Map<String, Value>,
    /// The chunks' members of the provider's own ([`chunk::unread`]).
    others: Map<String, Value>,
    choices: BTreeMap<u64, Choice>,
    /// The usage, as its text: the first that counts both sides, as a
    /// stream's is counted, else the last one.
    usage: Option<Box<RawValue>>,
    /// `usage` counts both sides: later ones are repeats.
    usage_counted: bool,
}

#[derive(Debug, Default)]
struct Choice {
    role: Option<Value>,
    content: Option<String>,
    /// The model's refusal (OpenAI's `refusal`), as its pieces came.
    refusal: Option<String>,
    /// Each chunk's `annotations` (OpenRouter's web citations), in order.
    annotations: Vec<Value>,
    /// Each chunk's `logprobs` arrays (`content`, `refusal`), joined.
    logprobs: BTreeMap<String, Vec<Value>>,
    /// `reasoning_content`, or OpenRouter's `reasoning`, as sent.
    reasoning: BTreeMap<&'static str, String>,
    /// OpenRouter's `reasoning_details`, their pieces joined
    /// ([`join_details`]).
    reasoning_details: Vec<Value>,
    /// Joined as a stream's are for an encoder that sends each call whole
    /// ([`HeldCalls`]): by index, unless a new id starts another call, the
    /// first name kept.
    tool_calls: HeldCalls,
    /// The ids of the calls among them that are custom tools' (their
    /// `input` joined where a function's `arguments` are).
    custom_calls: Vec<String>,
    /// The legacy `function_call` (OpenAI's `functions`): its name as
    /// first said, its arguments joined.
    function_call: Option<(Option<String>, String)>,
    /// OpenAI's `audio`, its pieces joined ([`join_audio`]).
    audio: Option<Map<String, Value>>,
    /// OpenRouter's `images`, in order.
    images: Vec<Value>,
    finish_reason: Option<Value>,
    /// The choice's members of the provider's own.
    others: Map<String, Value>,
}

impl Completion {
    /// Keeps a usage object as a stream keeps its usage
    /// (`providers::response`): the first that counts both sides, so a
    /// provider that says it twice is counted once, as the ledger counts
    /// it; until one does, the last.
    fn usage(&mut self, usage: &RawValue) {
        if self.usage_counted || !is_object(&usage) {
            return;
        }
        self.usage_counted = matches!(
            serde_json::from_str(usage.get()),
            Ok(Value::Object(read)) if Usage::read(&read).is_some()
        );
        self.usage = Some(usage.to_owned());
    }

    fn push(&mut self, chunk: ChunkView) -> Result<(), Unassembled> {
        let head = [
            ("id", chunk.id),
            ("created", chunk.created),
            ("model", chunk.model),
            ("system_fingerprint", chunk.system_fingerprint),
        ];
        for (key, raw) in head {
            if let Some(raw) = raw
                && !self.head.contains_key(key)
            {
                self.head.insert(key.to_string(), value(raw));
            }
        }
        if let Some(usage) = chunk.usage {
            self.usage(usage);
        }
        for choice in chunk.choices.into_iter().flatten() {
            // Moonshot sends usage inside the choice.
            if let Some(usage) = choice.usage {
                self.usage(usage);
            }
            let index = number(choice.index).unwrap_or(0);
            if index >= MAX_CHOICES {
                return Err(Unassembled::Choices);
            }
            let entry = self.choices.entry(index).or_default();
            if let Some(reason) = choice.finish_reason {
                entry.finish_reason = Some(value(reason));
            }
            if let Some(Value::Object(logprobs)) = choice.logprobs.map(value) {
                for (key, items) in logprobs {
                    if let Value::Array(items) = items {
                        entry.logprobs.entry(key).or_default().extend(items);
                    }
                }
            }
            let Some(delta) = choice.delta else {
                continue;
            };
            if let Some(role) = delta.role {
                entry.role = Some(value(role));
            }
            if let Some(text) = string(delta.content) {
                entry.content.get_or_insert_default().push_str(&text);
            }
            if let Some(text) = string(delta.refusal) {
                entry.refusal.get_or_insert_default().push_str(&text);
            }
            if let Some(Value::Array(annotations)) = delta.annotations.map(value) {
                entry.annotations.extend(annotations);
            }
            for (field, raw) in [
                ("reasoning_content", delta.reasoning_content),
                ("reasoning", delta.reasoning),
            ] {
                if let Some(text) = string(raw) {
                    entry.reasoning.entry(field).or_default().push_str(&text);
                }
            }
            if let Some(Value::Array(details)) = delta.reasoning_details.map(value) {
                join_details(&mut entry.reasoning_details, details);
            }
            if let Some(Value::Object(audio)) = delta.audio.map(value) {
                join_audio(&mut entry.audio, audio);
            }
            if let Some(Value::Array(images)) = delta.images.map(value) {
                entry.images.extend(images);
            }
            if let Some(Value::Object(piece)) = delta.function_call.map(value) {
                let text = |key| {
                    piece
                        .get(key)
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty())
                };
                let (said_name, said_arguments) = (text("name"), text("arguments"));
                // A piece that says nothing makes no call.
                if said_name.is_some() || said_arguments.is_some() {
                    let (name, arguments) = entry.function_call.get_or_insert_default();
                    if name.is_none() {
                        *name = said_name.map(str::to_owned);
                    }
                    arguments.push_str(said_arguments.unwrap_or_default());
                }
            }
            for (position, call) in delta.tool_calls.into_iter().flatten().enumerate() {
                let id = string(call.id);
                let (name, arguments) = match (call.function, call.custom) {
                    (Some(function), _) => (string(function.name), string(function.arguments)),
                    (None, Some(custom)) => {
                        if let Some(id) = &id {
                            entry.custom_calls.push(id.to_string());
                        }
                        (string(custom.name), string(custom.input))
                    }
                    (None, None) => (None, None),
                };
                // A call without its index is its place in the delta, as
                // the stream's reading takes it (`wire::openai`).
                entry.tool_calls.hold(
                    number(call.index).unwrap_or(position as u64),
                    id.as_deref(),
                    name.as_deref(),
                    arguments.as_deref().unwrap_or_default(),
                )?;
            }
        }
        Ok(())
    }

    /// Keeps the members of chunk `data` (read by [`Self::push`] already)
    /// that the answer's reading does not take: a provider's own, which a
    /// stream carries to its client.
    fn others(&mut self, data: &str) {
        for (place, key, raw) in chunk::unread(data) {
            let others = match place {
                Place::Chunk => Some(&mut self.others),
                Place::Choice(index) => self.choices.get_mut(&index).map(|c| &mut c.others),
            };
            if let Some(others) = others {
                keep(others, key, raw);
            }
        }
    }

    fn finished(&self) -> bool {
        !self.choices.is_empty() && self.choices.values().all(|c| c.finish_reason.is_some())
    }

    fn finish(self) -> Map<String, Value> {
        let choices: Vec<Value> = self
            .choices
            .into_iter()
            .map(|(index, mut choice)| {
                let mut message = Map::new();
                message.insert(
                    "role".into(),
                    choice.role.unwrap_or_else(|| json!("assistant")),
                );
                message.insert(
                    "content".into(),
                    choice.content.map_or(Value::Null, Value::String),
                );
                if let Some(refusal) = choice.refusal {
                    message.insert("refusal".into(), Value::String(refusal));
                }
                if !choice.annotations.is_empty() {
                    message.insert("annotations".into(), Value::Array(choice.annotations));
                }
                for (field, text) in choice.reasoning {
                    message.insert(field.into(), Value::String(text));
                }
                if !choice.reasoning_details.is_empty() {
                    let details = Value::Array(choice.reasoning_details);
                    message.insert("reasoning_details".into(), details);
                }
                if let Some(audio) = choice.audio {
                    message.insert("audio".into(), Value::Object(audio));
                }
                if !choice.images.is_empty() {
                    message.insert("images".into(), Value::Array(choice.images));
                }
                let custom = choice.custom_calls;
                // A call that said nothing of its own (no id, name or
                // arguments: a value of another type, ignored) is none.
                let calls: Vec<Value> = (choice.tool_calls.take().into_iter())
                    .filter(|call| {
                        call.id.is_some() || call.name.is_some() || !call.arguments.is_empty()
                    })
                    .map(|call| {
                        let name = call.name.unwrap_or_default();
                        match &call.id {
                            Some(id) if custom.contains(id) => json!({
                                "id": call.id,
                                "type": "custom",
                                "custom": {"name": name, "input": call.arguments},
                            }),
                            _ => json!({
                                "id": call.id,
                                "type": "function",
                                "function": {"name": name, "arguments": call.arguments},
                            }),
                        }
                    })
                    .collect();
                if !calls.is_empty() {
                    message.insert("tool_calls".into(), Value::Array(calls));
                }
                if let Some((name, arguments)) = choice.function_call {
                    let call = json!({"name": name.unwrap_or_default(), "arguments": arguments});
                    message.insert("function_call".into(), call);
                }
                let mut out = Map::new();
                out.insert("index".into(), json!(index));
                out.insert("message".into(), Value::Object(message));
                let finish = choice.finish_reason.unwrap_or(Value::Null);
                out.insert("finish_reason".into(), finish);
                if !choice.logprobs.is_empty() {
                    out.insert("logprobs".into(), json!(choice.logprobs));
                }
                beside(&mut out, choice.others);
                Value::Object(out)
            })
            .collect();
        let mut completion = self.head;
        completion.insert("object".into(), json!("chat.completion"));
        completion.insert("choices".into(), Value::Array(choices));
        if let Some(usage) = self.usage {
            completion.insert("usage".into(), value(&usage));
        }
        beside(&mut completion, self.others);
        completion
    }
}

/// A stream's `audio` piece added to those before: its `data` and
/// `transcript` appended, what else it says (`id`, `expires_at`) kept as
/// first said.
fn join_audio(audio: &mut Option<Map<String, Value>>, piece: Map<String, Value>) {
    let audio = audio.get_or_insert_default();
    for (key, more) in piece {
        match (audio.get_mut(&key), more) {
            (Some(Value::String(text)), Value::String(more))
                if matches!(key.as_str(), "data" | "transcript") =>
            {
                text.push_str(&more);
            }
            (Some(said), more) if !said.is_null() || more.is_null() => {}
            (_, more) => {
                audio.insert(key, more);
            }
        }
    }
}

/// A stream's `reasoning_details` pieces added to those before: a piece of
/// the same `type`, `index` and `id` as the last one (a member neither
/// has is the same) goes on with it: its `text`, `summary` or `data`
/// appended, what else it says kept, an empty string never in place of
/// one said. Any other is a detail of its own. Nothing a piece says is
/// lost.
fn join_details(details: &mut Vec<Value>, pieces: Vec<Value>) {
    for piece in pieces {
        let Value::Object(piece) = piece else {
            details.push(piece);
            continue;
        };
        let same = |last: &Map<String, Value>| {
            ["type", "index", "id"]
                .iter()
                .all(|key| last.get(*key) == piece.get(*key))
        };
        match details.last_mut() {
            Some(Value::Object(last)) if same(last) => {
                for (key, more) in piece {
                    match (last.get_mut(&key), more) {
                        (Some(Value::String(text)), Value::String(more))
                            if matches!(key.as_str(), "text" | "summary" | "data") =>
                        {
                            text.push_str(&more);
                        }
                        (Some(Value::String(said)), Value::String(more))
                            if more.is_empty() && !said.is_empty() => {}
                        (_, Value::Null) => {
                            last.entry(key).or_insert(Value::Null);
                        }
                        (_, more) => {
                            last.insert(key, more);
                        }
                    }
                }
            }
            _ => details.push(Value::Object(piece)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::held_calls::MAX_HELD_CALLS;

    fn assemble(chunks: &[Value]) -> Value {
        let mut completion = Completion::default();
        let texts: Vec<String> = chunks.iter().map(Value::to_string).collect();
        for text in &texts {
            completion
                .push(serde_json::from_str(text).unwrap())
                .unwrap();
            completion.others(text);
        }
        Value::Object(completion.finish())
    }

    /// A provider's own members of the chunks and of a choice reach a
    /// client that asked for a whole answer as a stream carries them (the
    /// last said that is not null); those the answer reads, or says anew,
    /// are not repeated.
    #[test]
    fn the_providers_own_members_are_carried() {
        let cited = ["https://a.example", "https://b.example"];
        let chunk = |delta: Value, finish: Value, native: Value| {
            json!({"id": "gen-1", "object": "chat.completion.chunk", "model": "m",
                "provider": "Perplexity", "citations": cited, "service_tier": null,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                             "native_finish_reason": native}]})
        };
        let answer = assemble(&[
            chunk(
                json!({"role": "assistant", "content": "Paris [1]"}),
                Value::Null,
                Value::Null,
            ),
            chunk(json!({"content": "[2]"}), json!("stop"), json!("end_turn")),
            json!({"choices": [], "service_tier": "default", "message": "not the answer's"}),
        ]);
        assert_eq!(
            answer,
            json!({"id": "gen-1", "object": "chat.completion", "model": "m",
                "provider": "Perplexity", "citations": cited, "service_tier": "default",
                "message": "not the answer's",
                "choices": [{"index": 0, "finish_reason": "stop", "native_finish_reason": "end_turn",
                    "message": {"role": "assistant", "content": "Paris [1][2]"}}]})
        );
    }

    /// What a chat client's stream carries besides text, reasoning and
    /// calls reaches a client that asked for a whole answer too: the
    /// tokens' log probabilities, a refusal, the annotations.
    #[test]
    fn logprobs_a_refusal_and_annotations_are_assembled() {
        let chunk = |delta: Value, logprobs: Value| json!({"choices": [{"index": 0, "delta": delta, "logprobs": logprobs}]});
        let token =
            |t: &str| json!({"token": t, "logprob": -0.5, "bytes": null, "top_logprobs": []});
        let cite = json!({"type": "url_citation", "url_citation": {"url": "https://a.example"}});
        let chunks = [
            chunk(
                json!({"role": "assistant", "content": "Hi"}),
                json!({"content": [token("Hi")]}),
            ),
            chunk(
                json!({"content": " there"}),
                json!({"content": [token(" there")], "refusal": null}),
            ),
            chunk(json!({"annotations": [cite]}), Value::Null),
            chunk(
                json!({"refusal": "I can't "}),
                json!({"refusal": [token("I")]}),
            ),
            chunk(json!({"refusal": "help."}), Value::Null),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        ];
        let choice = &assemble(&chunks)["choices"][0];
        assert_eq!(
            choice["logprobs"],
            json!({"content": [token("Hi"), token(" there")], "refusal": [token("I")]})
        );
        let message = &choice["message"];
        assert_eq!(message["content"], "Hi there");
        assert_eq!(message["refusal"], "I can't help.");
        assert_eq!(message["annotations"], json!([cite]));
    }

    /// OpenRouter's `reasoning_details` reach a client that asked for a
    /// whole answer: each detail's pieces joined, a signature kept.
    #[test]
    fn reasoning_details_are_joined() {
        let chunk = |details: Value| json!({"choices": [{"index": 0, "delta": {"reasoning_details": details}}]});
        let text = |text: &str, index: u64| json!({"type": "reasoning.text", "text": text, "index": index, "format": "anthropic-claude-v1"});
        let chunks = [
            chunk(json!([text("Think ", 0)])),
            chunk(json!([text("hard.", 0)])),
            chunk(json!([{"type": "reasoning.text", "text": "", "signature": "sig", "index": 0}])),
            chunk(json!([{"type": "reasoning.text", "signature": "", "index": 0}])),
            chunk(json!([{"type": "reasoning.encrypted", "data": "opaque", "index": 1}])),
            chunk(json!([text("Again.", 2), "odd"])),
            chunk(json!([{"type": "reasoning.summary", "summary": "In "}])),
            chunk(json!([{"type": "reasoning.summary", "summary": "short."}])),
            json!({"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]}),
        ];
        let message = &assemble(&chunks)["choices"][0]["message"];
        assert_eq!(
            message["reasoning_details"],
            json!([
                {"type": "reasoning.text", "text": "Think hard.", "index": 0, "format": "anthropic-claude-v1", "signature": "sig"},
                {"type": "reasoning.encrypted", "data": "opaque", "index": 1},
                text("Again.", 2),
                "odd",
                {"type": "reasoning.summary", "summary": "In short."},
            ])
        );
        assert_eq!(message["content"], "Hi");
    }

    /// A whole answer, assembled or the provider's own, keeps its log
    /// probabilities unless its text or refusal held a key.
    #[test]
    fn logprobs_go_with_a_key_in_a_whole_answer() {
        let redactor = Redactor::new(["configured-key-123"]);
        let logprobs = json!({"content": [{"token": "configured-k"}, {"token": "ey-123"}]});
        for (member, text, kept) in [
            ("content", "plain", true),
            ("content", "it is configured-key-123", false),
            ("refusal", "no: configured-key-123", false),
        ] {
            let answer = json!({"choices": [
                {"index": 0, "message": {member: text}, "logprobs": logprobs}]});
            let Value::Object(mut answer) = answer else {
                unreachable!()
            };
            without_spelt_keys(&mut answer, &redactor);
            let choice = &answer["choices"][0];
            assert_eq!(choice.get("logprobs").is_some(), kept, "{text}");
        }
    }

    /// Calls are joined as a stream's are for a Messages or Responses
    /// client: a new id at an index that has a call starts another (some
    /// providers give every call index 0), a name said again is not added
    /// to the first, and an empty id or name is none.
    #[test]
    fn calls_join_as_a_streams_do() {
        let calls =
            |calls: Value| json!({"choices": [{"index": 0, "delta": {"tool_calls": calls}}]});
        let chunks = [
            calls(
                json!([{"index": 0, "id": "a", "function": {"name": "read", "arguments": "{\"p\":1}"}}]),
            ),
            calls(json!([{"index": 0, "id": "b", "function": {"name": "ls", "arguments": "{"}}])),
            calls(json!([{"index": 0, "function": {"name": "ls", "arguments": "}"}}])),
            // An empty id and name on a later delta are none.
            calls(json!([{"index": 1, "id": "c", "function": {"name": "cd", "arguments": ""}}])),
            calls(
                json!([{"index": 1, "id": "", "function": {"name": "", "arguments": "{\"d\":2}"}}]),
            ),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        ];
        let assembled = assemble(&chunks);
        assert_eq!(
            assembled["choices"][0]["message"]["tool_calls"],
            json!([
                {"id": "a", "type": "function", "function": {"name": "read", "arguments": "{\"p\":1}"}},
                {"id": "b", "type": "function", "function": {"name": "ls", "arguments": "{}"}},
                {"id": "c", "type": "function", "function": {"name": "cd", "arguments": "{\"d\":2}"}},
            ])
        );
        // Calls sent whole in one delta, without index or id, are each its
        // own (they were joined as one).
        let unindexed = assemble(&[calls(json!([
            {"type": "function", "function": {"name": "a", "arguments": "{\"x\":1}"}},
            {"type": "function", "function": {"name": "b", "arguments": "{\"y\":2}"}}]))]);
        let names: Vec<(&Value, &Value)> = (unindexed["choices"][0]["message"]["tool_calls"]
            .as_array()
            .unwrap()
            .iter())
        .map(|call| (&call["function"]["name"], &call["function"]["arguments"]))
        .collect();
        assert_eq!(
            names,
            [
                (&json!("a"), &json!("{\"x\":1}")),
                (&json!("b"), &json!("{\"y\":2}"))
            ]
        );
        // As many calls as a stream holds, and no more.
        let mut completion = Completion::default();
        let over: Vec<String> = (0..=MAX_HELD_CALLS)
            .map(|n| {
                calls(json!([{"index": n, "id": n.to_string(), "function": {"name": "f"}}]))
                    .to_string()
            })
            .collect();
        let pushed: Result<Vec<()>, _> = (over.iter())
            .map(|text| completion.push(serde_json::from_str(text).unwrap()))
            .collect();
        assert_eq!(pushed, Err(Unassembled::Calls(TooManyCalls)));
    }

    /// A legacy `function_call` (a client of OpenAI's `functions`, carried
    /// to a chat provider) is joined as a call is: its name as first said,
    /// its arguments in order; a key split across its pieces is masked.
    #[test]
    fn a_legacy_function_call_is_assembled() {
        let piece =
            |call: Value| json!({"choices": [{"index": 0, "delta": {"function_call": call}}]});
        let chunks = [
            piece(json!({"name": "get_weather", "arguments": ""})),
            piece(json!({"arguments": "{\"city\":"})),
            piece(json!({"name": "", "arguments": "\"Paris\"}"})),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "function_call"}]}),
        ];
        // A piece that says nothing makes no call.
        let empty = assemble(&[
            piece(json!({})),
            piece(json!({"name": null, "arguments": ""})),
        ]);
        assert_eq!(
            empty["choices"][0]["message"].get("function_call"),
            None,
            "{empty}"
        );
        let assembled = assemble(&chunks);
        assert_eq!(
            assembled["choices"][0]["message"]["function_call"],
            json!({"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"})
        );
        assert_eq!(assembled["choices"][0]["finish_reason"], "function_call");
        let key = "sk-or-v1-0123456789abcdef0123456789abcdef";
        let redactor = Redactor::new([key.to_string()]);
        let mut answer = json!({"choices": [{"index": 0, "message": {
            "content": format!("use {}", &key[..12]),
            "function_call": {"name": "f", "arguments": format!("{}\"}}", &key[12..])},
        }}]});
        masked_across_strings(answer.as_object_mut().unwrap(), &redactor);
        assert!(!answer.to_string().contains(&key[12..]), "{answer}");
    }

    /// As many choices as `n` may ask for, and no more: each is a message
    /// held until the end (a provider's 20 MB of tiny choices took 1.2 GB).
    #[test]
    fn choices_are_bounded() {
        let choice = |index: u64| {
            let chunk = json!({"choices": [{"index": index, "delta": {"content": "x"}}]});
            Completion::default().push(serde_json::from_str(&chunk.to_string()).unwrap())
        };
        assert_eq!(choice(MAX_CHOICES - 1), Ok(()));
        assert_eq!(choice(MAX_CHOICES), Err(Unassembled::Choices));
        assert_eq!(choice(u64::MAX), Err(Unassembled::Choices));
    }

    #[test]
    fn content_reasoning_tool_calls_and_usage_are_assembled() {
        let chunk = |delta: Value, finish: Value| {
            json!({"id": "c1", "created": 7, "model": "m", "object": "chat.completion.chunk",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        };
        let delta = |delta: Value| chunk(delta, Value::Null);
        let chunks = [
            delta(json!({"role": "assistant", "content": ""})),
            delta(json!({"reasoning_content": "Think "})),
            delta(json!({"reasoning_content": "hard."})),
            delta(json!({"content": "Calling."})),
            delta(
                json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                                        "function": {"name": "read", "arguments": ""}}]}),
            ),
            delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"pa"}}]})),
            delta(
                json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                                        "function": {"name": "ls", "arguments": "{}"}}]}),
            ),
            delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": "th\":\"a\"}"}}]})),
            chunk(json!({}), json!("tool_calls")),
            json!({"id": "c1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 5}}),
        ];
        assert_eq!(
            assemble(&chunks),
            json!({
                "id": "c1", "created": 7, "model": "m", "object": "chat.completion",
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                    "role": "assistant", "content": "Calling.", "reasoning_content": "Think hard.",
                    "tool_calls": [
                        {"id": "call_a", "type": "function", "function": {"name": "read", "arguments": "{\"path\":\"a\"}"}},
                        {"id": "call_b", "type": "function", "function": {"name": "ls", "arguments": "{}"}},
                    ]}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 5},
            })
        );
    }

    #[test]
    fn escapes_are_read_and_values_of_other_types_ignored() {
        let chunks = [
            json!({"id": null, "choices": [{"index": 0, "delta": {"role": "assistant",
                   "content": "a \"quoted\"\nline \u{e9}", "reasoning": 5}}]}),
            json!({"id": "c2", "usage": "none", "choices": [{"delta": {"content": ["x"],
                   "tool_calls": [{"id": "call_1", "function": {"name": "f\u{f6}", "arguments": "{\"k\":"}},
                                  {"function": {"arguments": 3}}]}}]}),
            json!({"choices": [{"delta": {"tool_calls": [{"function": {"arguments": "1}"}}]},
                   "finish_reason": "tool_calls"}]}),
        ];
        assert_eq!(
            assemble(&chunks),
            json!({
                "id": "c2", "object": "chat.completion",
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                    "role": "assistant", "content": "a \"quoted\"\nline \u{e9}",
                    "tool_calls": [{"id": "call_1", "type": "function",
                                    "function": {"name": "f\u{f6}", "arguments": "{\"k\":1}"}}]}}],
            })
        );
    }

    #[test]
    fn a_chunk_of_the_wrong_shape_does_not_read() {
        for data in [
            "[1]",
            "{\"choices\": 3}",
            "{\"choices\": [{\"delta\": \"x\"}]}",
            "nope",
        ] {
            assert!(ChunkView::read(data).is_none(), "{data}");
        }
    }

    #[test]
    fn moonshot_usage_in_the_choice_is_taken_once() {
        let usage = json!({"prompt_tokens": 1, "completion_tokens": 2, "cached_tokens": 1});
        let chunks = [
            json!({"choices": [{"index": 0, "delta": {"content": "hi"}}]}),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "usage": usage}]}),
            json!({"choices": [{"index": 0, "delta": {}, "usage": usage}]}),
        ];
        let completion = assemble(&chunks);
        assert_eq!(completion["usage"], usage);
        assert_eq!(completion["choices"][0]["finish_reason"], "stop");
        assert_eq!(completion["choices"][0]["message"]["content"], "hi");
    }

    /// What a stream says beyond text and function calls is in the whole
    /// answer too: a custom tool's call (its input joined), the spoken
    /// answer (its data and transcript joined) and images made.
    #[test]
    fn custom_calls_audio_and_images_are_assembled() {
        let image =
            json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}});
        let chunks = [
            json!({"choices": [{"index": 0, "delta": {"role": "assistant",
                "audio": {"id": "audio_1", "transcript": "hi", "data": "AA"}}}]}),
            json!({"choices": [{"index": 0, "delta": {"audio": {"transcript": " there", "data": "BB"}}}]}),
            json!({"choices": [{"index": 0, "delta": {"audio": {"expires_at": 123}, "images": [image]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_c1",
                "type": "custom", "custom": {"name": "apply_patch", "input": "*** Begin"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0,
                "custom": {"input": " Patch"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1, "id": "call_f",
                "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        ];
        let message = &assemble(&chunks)["choices"][0]["message"];
        assert_eq!(
            message["audio"],
            json!({"id": "audio_1", "transcript": "hi there", "data": "AABB", "expires_at": 123})
        );
        assert_eq!(message["images"], json!([image]));
        assert_eq!(
            message["tool_calls"],
            json!([
                {"id": "call_c1", "type": "custom",
                 "custom": {"name": "apply_patch", "input": "*** Begin Patch"}},
                {"id": "call_f", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            ])
        );
    }

    /// A usage said twice with other counts: the whole answer keeps the
    /// first that counts both sides, as a stream counts it (and the
    /// ledger with it); a partial one before it is not kept.
    #[test]
    fn a_usage_said_twice_keeps_the_first_that_counts_both_sides() {
        let partial = json!({"prompt_tokens": 7});
        let first = json!({"prompt_tokens": 7, "completion_tokens": 2});
        let again = json!({"prompt_tokens": 9, "completion_tokens": 4});
        let chunks = [
            json!({"choices": [{"index": 0, "delta": {"content": "hi"}}], "usage": partial}),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": first}),
            json!({"choices": [], "usage": again}),
        ];
        assert_eq!(assemble(&chunks)["usage"], first);
        // With none that counts both sides, the last is kept.
        let only_partial = [
            json!({"choices": [{"index": 0, "delta": {"content": "hi"}}], "usage": {"prompt_tokens": 1}}),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": partial}),
        ];
        assert_eq!(assemble(&only_partial)["usage"], partial);
    }

    #[tokio::test]
    async fn the_providers_own_events_count_whole_toward_the_response_bound() {
        let event = |data: &str, id: Option<String>| Event {
            event: Some("ping".into()),
            data: data.into(),
            id,
        };
        let chunk = json!({"choices": [{"index": 0, "delta": {"content": "hi"}}]}).to_string();
        // Tiny events, each carrying a long id: their data alone is 200
        // bytes, what is kept over 100 KB.
        let id = Some("i".repeat(1000));
        let mut rest: Vec<_> = (0..100)
            .map(|_| Ok(Item::Native(event("{}", id.clone()))))
            .collect();
        rest.push(Ok(Item::Event(event("[DONE]", None))));
        let result = collect(
            event(&chunk, None),
            Box::pin(futures_util::stream::iter(rest)),
            (Duration::from_secs(5), far()),
            10_000,
            &Redactor::default(),
        )
        .await;
        assert!(
            matches!(
                result,
                Err(AttemptError::TooLarge {
                    key: "maxResponseBytes",
                    ..
                })
            ),
            "{:?}",
            result.map(|(_, native)| native.len())
        );
    }

    /// An event named `name`, without an id.
    fn event(name: Option<&str>, data: &str) -> Event {
        Event {
            event: name.map(str::to_string),
            data: data.into(),
            id: None,
        }
    }

    /// A provider's own event is judged as the relay judges it
    /// ([`EventKind::adds`]): a `ping`, or a text, thinking or tool-input
    /// delta with an empty or null piece, adds nothing; any other event,
    /// a signature's delta among them, does; one that is not JSON breaks
    /// the answer.
    #[test]
    fn a_providers_own_event_adds_as_the_relay_judges_it() {
        let delta =
            |delta: &str| format!(r#"{{"type":"content_block_delta","index":0,"delta":{delta}}}"#);
        let cases = [
            (Some("ping"), r#"{"type":"ping"}"#.to_string(), Some(false)),
            (
                None,
                delta(r#"{"type":"text_delta","text":""}"#),
                Some(false),
            ),
            (
                None,
                delta(r#"{"type":"thinking_delta","thinking":null}"#),
                Some(false),
            ),
            (
                None,
                delta(r#"{"type":"input_json_delta","partial_json":""}"#),
                Some(false),
            ),
            (
                None,
                delta(r#"{"type":"text_delta","text":"hi"}"#),
                Some(true),
            ),
            (
                None,
                delta(r#"{"type":"signature_delta","signature":""}"#),
                Some(true),
            ),
            (
                Some("message_delta"),
                r#"{"type":"message_delta","delta":{}}"#.into(),
                Some(true),
            ),
            (Some("content_block_delta"), "not json".into(), None),
        ];
        for (name, data, adds) in cases {
            assert_eq!(adds_to_the_answer(&event(name, &data)), adds, "{data}");
        }
    }

    /// Keep-alives are no sign of life while an answer is assembled (its
    /// client sees none): a provider that sends only comments, only
    /// Anthropic's `ping` events, or only chunks or events that add
    /// nothing (an empty delta, its own or a chunk's; no choice), after
    /// its first chunk times out after `idle`, where it used to hold the
    /// request without end. Its own events of the answer, and chunks that
    /// add to it, do count.
    #[tokio::test(start_paused = true)]
    async fn only_events_end_a_silence_while_an_answer_is_assembled() {
        let chunk = json!({"choices": [{"index": 0, "delta": {"content": "hi"}}]}).to_string();
        let every_second = |item: fn() -> Item| {
            futures_util::stream::unfold((), move |()| async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Some((Ok(item()), ()))
            })
        };
        let redactor = Redactor::default();
        let comment = || Item::Comment("keep-alive".into());
        let ping = || Item::Native(event(Some("ping"), r#"{"type":"ping"}"#));
        let empty_delta = || {
            let data = r#"{"choices":[{"index":0,"delta":{"content":""}}]}"#;
            Item::Event(event(None, data))
        };
        let no_choice = || Item::Event(event(None, r#"{"choices":[]}"#));
        let empty_native = || {
            let data = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}"#;
            Item::Native(event(Some("content_block_delta"), data))
        };
        let keep_alives = [
            comment as fn() -> Item,
            ping,
            empty_delta,
            no_choice,
            empty_native,
        ];
        // How long `rest` takes to time out, by `deadline`.
        let times_out = async |rest, deadline| {
            let started = tokio::time::Instant::now();
            let collected = collect(
                event(None, &chunk),
                Box::pin(rest),
                (Duration::from_secs(5), deadline),
                10_000_000,
                &redactor,
            );
            let result = tokio::time::timeout(Duration::from_secs(60), collected).await;
            assert!(
                matches!(result, Ok(Err(AttemptError::Timeout { .. }))),
                "{:?}",
                result.map(|r| r.map(|(_, native)| native.len()))
            );
            started.elapsed()
        };
        for keep_alive in keep_alives {
            let waited = times_out(every_second(keep_alive), far()).await;
            assert_eq!(waited, Duration::from_secs(5));
        }
        // What adds to the answer, a second apart for a minute, then the
        // end: alive throughout.
        let for_a_minute = |item: fn() -> Item| {
            let rest = every_second(item).take(60);
            let done = futures_util::stream::iter([Ok(Item::Event(event(None, "[DONE]")))]);
            collect(
                event(None, &chunk),
                Box::pin(rest.chain(done)),
                (Duration::from_secs(5), far()),
                10_000_000,
                &redactor,
            )
        };
        // The provider's own deltas.
        let (_, native) = for_a_minute(|| {
            let data = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}"#;
            Item::Native(event(Some("content_block_delta"), data))
        })
        .await
        .unwrap();
        assert_eq!(native.len(), 60);
        // A chunk of a character each.
        let (completion, _) = for_a_minute(|| {
            let data = r#"{"choices":[{"index":0,"delta":{"content":"a"}}]}"#;
            Item::Event(event(None, data))
        })
        .await
        .unwrap();
        let text = completion["choices"][0]["message"]["content"]
            .as_str()
            .unwrap();
        assert_eq!(text.len(), 2 + 60);
        // Alive throughout, but past the chain's deadline: the attempt
        // fails then, so the request is answered by its deadline.
        let alive = every_second(|| {
            Item::Event(event(
                None,
                r#"{"choices":[{"index":0,"delta":{"content":"a"}}]}"#,
            ))
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
        assert_eq!(times_out(alive, deadline).await, Duration::from_secs(8));
    }

    /// A deadline no test reaches.
    fn far() -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_secs(86_400)
    }

    /// A provider's own event that is not JSON (a delta cut short, read by
    /// no chunk) fails the attempt, so the chain can fall over, rather
    /// than leaving the answer without it.
    #[tokio::test]
    async fn a_providers_own_event_that_is_not_json_fails_the_answer() {
        let chunk = json!({"choices": [{"index": 0, "delta": {"content": "Hello "}}]}).to_string();
        let redactor = Redactor::default();
        let collected = |delta: &str| {
            let rest = vec![
                Ok(Item::Native(event(Some("content_block_delta"), delta))),
                Ok(Item::Event(event(None, "[DONE]"))),
            ];
            collect(
                event(None, &chunk),
                Box::pin(futures_util::stream::iter(rest)),
                (Duration::from_secs(5), far()),
                10_000,
                &redactor,
            )
        };
        let cut =
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"wor"#;
        let result = collected(cut).await;
        assert!(
            matches!(&result, Err(AttemptError::InvalidResponse(why)) if why.contains("not JSON")),
            "{:?}",
            result.map(|(_, native)| native.len())
        );
        let whole = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"world"}}"#;
        let (_, native) = collected(whole).await.unwrap();
        assert_eq!(native.len(), 1);
    }
}
