//! Relaying an upstream event stream to the client as it arrives, as typed
//! [`Item`]s that each front end's encoder turns into its own bytes (see
//! `http::front`).
//!
//! The relay maps the upstream stream; it spawns nothing and buffers at most
//! one event (or, after an Anthropic block's tail that could start a key,
//! the few events up to the next block's text: [`HeldText`]), so dropping
//! the client's response drops the upstream request.
//! Each chunk is relabelled with the ref that answered; for an encoder that
//! reads parts (the Anthropic and Responses ones), each chunk is read once,
//! here, into [`Item::Parts`] instead. The stream ends in
//! exactly one of two ways: [`Item::Done`] once, after the upstream's own
//! `[DONE]` (or a chat stream's end without it once every choice has its
//! finish reason, as a whole answer's end is taken); or an [`Item::Error`]
//! when the upstream breaks off, falls silent, reports an error, or ends
//! before that, or when the gateway gives up on in-flight requests at
//! shutdown. It never fakes a clean ending of an answer that did not end. A failure after the start is classified by
//! [`crate::chain::policy::classify`], like any attempt's, and reported to
//! the target's health.
//!
//! Upstream comments (`: keep-alive`, `: OPENROUTER PROCESSING`) restart
//! the idle timeout and are relayed, so the client sees the stream is
//! alive; but a stream of nothing else (comments, Anthropic's `ping`, events
//! that say nothing: an empty delta) is cut once it has gone the chain's
//! deadline without an event
//! ([`Liveness`]). The request's outcome metric is recorded when the
//! stream ends, not when it starts. An event whose data is not a JSON object cuts the
//! stream as an unreadable answer does. Every text of the provider's that
//! the relay passes on outside a chunk (an error message) and every
//! message it logs goes through the config's [`Redactor`].
//!
//! A key the model spells out across two deltas (`"sk-ab"`, then
//! `"cd…"`) is in no one event's bytes, so the scrubber of every byte sent
//! (`http::stream::Outgoing`) could not see it: the text of each delta that
//! could be the start of a key is held back ([`HeldText`]) and given to the
//! next, or sent at the end, so the key reaches the scrubber whole. So are
//! a chunk's `delta.content`, reasoning and tool calls' arguments, and the
//! `text_delta`, `thinking_delta` and `input_json_delta` of a provider's
//! own Anthropic events. A key whose start ends one string and whose rest
//! starts the next (the text, then a tool call's arguments; one call's
//! arguments, then another's; one Anthropic block, then the next) cannot be
//! joined: the held tail waits for the next string's first text, and where
//! the two spell a key, or could still, both parts are masked
//! (`Scrubber::mask_across`).

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::LazyLock;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use memchr::memmem;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::chain::cooldown::LateFailures;
use crate::chain::policy::{self, Class, Outcome, classify};
use crate::config::ModelRef;
use crate::format::body::{self, Member};
use crate::format::sse::{self, Event, ReadError, SseError};
use crate::ledger::Pricing;
use crate::ops::metrics;
use crate::ops::redact::Redactor;
use crate::providers::response::{StreamShaping, may_need_shaping, note_usage, shape_chunk};
use crate::upstream::{AttemptError, EventStream, describe, error_details, truncate};
use crate::wire::anthropic::EventKind;
use crate::wire::chunk::{ChunkView, number};
use crate::wire::usage::Usage;

mod hold;

use hold::HeldText;

/// What the relay passes to a front end's encoder.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A chat-completion chunk, relabelled and shaped.
    Chunk(Chunk),
    /// A chat-completion chunk, shaped and read: what the relay yields
    /// instead of [`Item::Chunk`] for an encoder that reads parts, not
    /// bytes ([`Answering::parts`]), so that no chunk is written only to
    /// be read again.
    Parts(Vec<Part>),
    /// An event in the client's own format, from a provider that speaks it
    /// ([`Answering::native`]): the encoder writes it much as it came. With
    /// its kind, read once, for each reader.
    Native(Event, EventKind),
    /// An upstream comment, scrubbed and on one line: a sign of life.
    KeepAlive(String),
    /// The upstream's `[DONE]`: the answer is complete.
    Done,
    /// The stream cannot go on; nothing follows.
    Error(StreamError),
}

/// One chunk as an OpenAI client gets it, `data: <json>\n\n`: the OpenAI
/// encoder sends these bytes as they are, other encoders read
/// [`Chunk::parts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    frame: Bytes,
}

impl Chunk {
    /// A chunk of `json` (one JSON object on one line).
    #[cfg(any(test, feature = "test-support"))]
    pub fn of_json(json: &[u8]) -> Self {
        let mut out = BytesMut::with_capacity(json.len() + 8);
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(json);
        out.extend_from_slice(b"\n\n");
        Self {
            frame: out.freeze(),
        }
    }

    /// The chunk as one server-sent event, `data: ...` and a blank line.
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }

    /// The event's data: the chunk's JSON text.
    pub fn data(&self) -> &[u8] {
        let frame = &self.frame[..];
        let frame = frame.strip_prefix(b"data: ").unwrap_or(frame);
        frame.strip_suffix(b"\n\n").unwrap_or(frame)
    }

    /// What the chunk says, typed (read from its JSON once, here).
    pub fn parts(&self) -> Vec<Part> {
        Part::read_json(self.data())
    }
}

pub use crate::wire::openai::Part;

/// Why a started stream ended without `[DONE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    /// What the failure says about the provider, as
    /// [`crate::chain::policy::classify`] decides it; `None` when it says
    /// nothing (the gateway is shutting down).
    pub class: Option<Class>,
    /// The error code clients get: `stream_timeout`, `upstream_error`, ...
    pub code: &'static str,
    /// Scrubbed and shortened, naming the ref that answered.
    pub message: String,
}

/// Who answered, and what the shaping of their stream needs to know.
pub struct Answering {
    pub model_ref: ModelRef,
    /// How the model is counted, for `usage.cost`.
    pub pricing: Pricing,
    /// The client asked for the usage chunk.
    pub client_wants_usage: bool,
    /// The encoder reads each chunk's parts ([`Item::Parts`]), not its
    /// bytes ([`Item::Chunk`]).
    pub parts: bool,
    /// The provider's own events come too ([`sse::Item::Native`]): the
    /// client gets those ([`Item::Native`]), and the chunks are read only
    /// for how the stream ends.
    pub native: bool,
    /// The upstream speaks the chat API: its stream's end without `[DONE]`
    /// once every choice has its finish reason ends a whole answer (an
    /// Anthropic stream ends by its `message_stop`).
    pub chat_upstream: bool,
    /// The request's metric outcome if the stream completes: `ok` or
    /// `fallback`.
    pub outcome: &'static str,
    /// Where the target's health learns how the stream ended.
    pub health: LateFailures,
    /// Told the answer's usage once, when its first usage chunk is read,
    /// whether or not the client sees that chunk: the one reading of it
    /// that the price shown and the ledger's row share.
    pub usage: Box<dyn FnMut(Usage) + Send>,
}

/// Records the request's outcome once the stream is over: as given when it
/// completed, `stream_broken` when it ended with an error event,
/// `client_closed` when the client went away first, and `panic` when a bug
/// in the gateway cut it.
struct RequestOutcome(Option<&'static str>);

impl Drop for RequestOutcome {
    fn drop(&mut self) {
        metrics::request(self.0.unwrap_or_else(unfinished));
    }
}

/// The outcome of a stream dropped before it finished.
fn unfinished() -> &'static str {
    if std::thread::panicking() {
        "panic"
    } else {
        "client_closed"
    }
}

pub fn relay(
    first: Event,
    mut rest: EventStream,
    answering: Answering,
    mut liveness: Liveness,
    redactor: Redactor,
    aborted: impl Future<Output = ()> + Send,
) -> impl Stream<Item = Item> + Send {
    let Answering {
        model_ref,
        pricing,
        client_wants_usage,
        parts,
        native,
        chat_upstream,
        outcome,
        health,
        usage: mut on_usage,
    } = answering;
    async_stream::stream! {
        let mut recorded = RequestOutcome(None);
        let mut aborted = pin!(aborted);
        let mut relabel = Relabel {
            model_json: serde_json::to_string(model_ref.as_str()).expect("a string serializes"),
            model_ref: model_ref.clone(),
            pricing,
            shaping: StreamShaping::new(client_wants_usage),
            members: Vec::new(),
            parts,
        };
        let mut held = HeldText::new(&redactor);
        let mut pending = Some(first);
        // Every choice of a chat stream given its finish reason: an end
        // without `[DONE]` then ends an answer that said everything, as a
        // whole answer's does (`chain::assemble`).
        let mut finished = Finished::default();
        // The answer's output tokens, once its usage is read: how fast the
        // target decoded, told with its end.
        let mut output = None;
        // Why the stream is cut, found while reading an event: handled on
        // the next turn, as a cut found reading the upstream is.
        let mut cut = None;
        loop {
            let next = match (cut.take(), pending.take()) {
                (Some(cut), _) => Err(cut),
                (None, Some(event)) => Ok(event),
                (None, None) => match next_event(&mut rest, &liveness, aborted.as_mut()).await {
                    Ok(sse::Item::Event(event)) => Ok(event),
                    Ok(sse::Item::Comment(text)) => {
                        liveness.heard(false);
                        yield Item::KeepAlive(comment(&redactor, &text));
                        continue;
                    }
                    Ok(sse::Item::Native(event)) => match held.native(event) {
                        Ok((events, adds)) => {
                            liveness.heard(adds);
                            for (event, kind) in events {
                                yield Item::Native(event, kind);
                            }
                            continue;
                        }
                        Err(unreadable) => Err(Cut::from(unreadable)),
                    },
                    Err(Cut::Ended) if chat_upstream && finished.all() => Ok(Event {
                        event: None,
                        data: "[DONE]".into(),
                        id: None,
                    }),
                    Err(cut) => Err(cut),
                },
            };
            let event = match next {
                Ok(event) => event,
                Err(cut) => {
                    while let Some(rest) = held.rest(parts, &relabel.model_json) {
                        yield rest;
                    }
                    recorded.0 = Some("stream_broken");
                    let error = broken(&model_ref, &redactor, cut);
                    if let Some(class) = error.class {
                        health.report(class);
                    }
                    yield Item::Error(error);
                    break;
                }
            };
            // Each chunk is parsed into a view once, here, for all that read one.
            let chunk = ChunkView::read(event.data.trim());
            liveness.chunk(chunk.as_ref());
            let frame = if native {
                ending(&event.data, chunk.as_ref(), &mut relabel.shaping)
            } else {
                if chat_upstream {
                    finished.read(chunk.as_ref());
                }
                relabel.frame(&event.data, chunk)
            };
            if let Some(usage) = relabel.shaping.take_usage() {
                output = Some(usage.output);
                on_usage(usage);
            }
            match frame {
                Frame::Chunk(bytes) => match held.chunk(bytes) {
                    Ok(chunks) => {
                        for chunk in chunks {
                            yield Item::Chunk(chunk);
                        }
                    }
                    Err(unreadable) => cut = Some(Cut::from(unreadable)),
                },
                Frame::Parts(mut parts) => {
                    held.parts(&mut parts);
                    yield Item::Parts(parts);
                }
                Frame::Skip => {}
                Frame::Done => {
                    while let Some(rest) = held.rest(parts, &relabel.model_json) {
                        yield rest;
                    }
                    recorded.0 = Some(outcome);
                    health.completed(output);
                    yield Item::Done;
                    break;
                }
                Frame::Error(error) => cut = Some(Cut::Reported(error)),
            }
        }
    }
}

/// The choices of a chat stream seen, and those given a finish reason,
/// each a bit (a choice past 127, which a whole answer does not keep
/// either, is not told apart). A chunk its view cannot read notes no
/// choice, as a whole answer refuses it (`chain::assemble`).
#[derive(Default)]
struct Finished {
    seen: u128,
    done: u128,
}

impl Finished {
    /// Notes the choices of a chunk (`None`: not one).
    fn read(&mut self, chunk: Option<&ChunkView>) {
        self.seen |= 1;
        let choices = chunk.and_then(|chunk| chunk.choices.as_ref());
        for choice in choices.into_iter().flatten() {
            let bit = 1u128 << number(choice.index).unwrap_or(0).min(127);
            self.seen |= bit;
            if choice.finish_reason.is_some() {
                self.done |= bit;
            }
        }
    }

    /// Whether every choice seen has finished.
    fn all(&self) -> bool {
        self.done != 0 && self.done & self.seen == self.seen
    }
}

/// Why a started stream cannot go on.
#[derive(Debug)]
enum Cut {
    /// The gateway is shutting down: nothing to say about the provider.
    Shutdown,
    /// The upstream broke off, fell silent, sent too much or ended early:
    /// the client's code for it, and the failure as an attempt's would be.
    Upstream(&'static str, AttemptError),
    /// The provider reported an error inside the stream (unscrubbed).
    Reported(AttemptError),
    /// The upstream ended without its last event (`[DONE]`,
    /// `message_stop`).
    Ended,
}

/// How long a started stream may go on without an event: `idle` of
/// silence, a comment restarting it; `most` of keep-alives alone (comments,
/// Anthropic's `ping`, events that say nothing), counted from the last
/// event.
pub struct Liveness {
    idle: Duration,
    most: Duration,
    last_event: Instant,
    /// A keep-alive came since the last event.
    kept_alive: bool,
}

impl Liveness {
    /// `idle` and `most`, counted from now: the stream's first event.
    pub fn new(idle: Duration, most: Duration) -> Liveness {
        Liveness {
            idle,
            most,
            last_event: Instant::now(),
            kept_alive: false,
        }
    }

    /// A chunk (`None`: not one, `[DONE]` among them): an event, unless it
    /// says nothing (an empty delta, a role alone, no choice).
    fn chunk(&mut self, chunk: Option<&ChunkView>) {
        self.heard(chunk.is_none_or(|chunk| chunk.error.is_some() || chunk.says_something()));
    }

    /// Something came: an event when it `adds` to the answer, else a
    /// keep-alive (a comment, a `ping`, an empty delta).
    fn heard(&mut self, adds: bool) {
        if adds {
            self.last_event = Instant::now();
        }
        self.kept_alive = !adds;
    }

    /// How long to wait for the next item, and the timeout if none comes:
    /// `idle` of silence, or what is left of `most` once keep-alives came.
    fn wait(&self) -> (Duration, AttemptError) {
        let left = self.most.saturating_sub(self.last_event.elapsed());
        let (wait, waiting_for, after) = match self.kept_alive && left < self.idle {
            true => (left, "stream event but keep-alives", self.most),
            false => (self.idle, "next stream event", self.idle),
        };
        (wait, AttemptError::Timeout { waiting_for, after })
    }
}

/// The next upstream event, or why the stream cannot go on.
async fn next_event(
    rest: &mut EventStream,
    liveness: &Liveness,
    mut aborted: Pin<&mut impl Future<Output = ()>>,
) -> Result<sse::Item, Cut> {
    let (wait, timeout) = liveness.wait();
    let next = tokio::select! {
        biased;
        () = aborted.as_mut() => return Err(Cut::Shutdown),
        next = tokio::time::timeout(wait, rest.next()) => next,
    };
    let (code, error) = match next {
        // A comment is a sign of life: the idle timeout starts again.
        Ok(Some(Ok(item))) => return Ok(item),
        Ok(Some(Err(ReadError::Body(err)))) => (
            "stream_interrupted",
            AttemptError::Connect(format!("the upstream stream broke off: {}", describe(&err))),
        ),
        Ok(Some(Err(ReadError::Sse(SseError::TooLarge { limit })))) => (
            "event_too_large",
            AttemptError::TooLarge {
                what: "an upstream event",
                limit,
                key: "maxEventBytes",
            },
        ),
        Ok(Some(Err(error @ ReadError::OutOfOrder(_)))) => (
            "stream_out_of_order",
            AttemptError::InvalidResponse(error.to_string()),
        ),
        Ok(Some(Err(error @ ReadError::NotJson))) => (
            "stream_unreadable",
            AttemptError::InvalidResponse(error.to_string()),
        ),
        Ok(Some(Err(ReadError::Sse(SseError::Incomplete)))) => (
            "stream_truncated",
            AttemptError::InvalidResponse("the upstream stream ended inside an event".into()),
        ),
        Ok(None) => return Err(Cut::Ended),
        Err(_) => ("stream_timeout", timeout),
    };
    Err(Cut::Upstream(code, error))
}

/// Whether `data` has the escape of half a surrogate pair (`\uD800` to
/// `\uDFFF`, in either case): a string of it that no view can read (a half
/// with no other) would be read as no text, so such an event is read
/// through the scan, which refuses it.
fn spells_a_surrogate(data: &str) -> bool {
    static LOWER: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(br"\ud"));
    static UPPER: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(br"\uD"));
    LOWER.find(data.as_bytes()).is_some() || UPPER.find(data.as_bytes()).is_some()
}

/// An upstream comment as the client gets it: scrubbed, on one line.
fn comment(redactor: &Redactor, text: &str) -> String {
    redactor.provider_text(text).replace(['\n', '\r'], " ")
}

/// What one upstream event becomes for the client.
enum Frame {
    Chunk(Bytes),
    /// The chunk read, for an encoder that reads parts.
    Parts(Vec<Part>),
    /// Nothing for the client (a repeated usage chunk).
    Skip,
    Done,
    /// The provider reported an error inside the stream (unscrubbed).
    Error(AttemptError),
}

/// What turns one stream's upstream events into what the client gets.
struct Relabel {
    model_ref: ModelRef,
    /// `model_ref` as a JSON string.
    model_json: String,
    pricing: Pricing,
    shaping: StreamShaping,
    /// Where each event's members are recorded (one vector for the whole
    /// stream).
    members: Vec<Member>,
    /// Chunks are read into parts ([`Frame::Parts`]), not written.
    parts: bool,
}

impl Relabel {
    /// The frame of chunk `data`, read as `chunk`.
    fn frame(&mut self, data: &str, chunk: Option<ChunkView>) -> Frame {
        let data = data.trim();
        if data == "[DONE]" {
            return Frame::Done;
        }
        // An encoder of parts reads the calls' ending itself.
        let calls_end = !self.parts && self.shaping.ends_calls_as_stop(data);
        let shape = may_need_shaping(data) || calls_end;
        if self.parts && !shape && !spells_a_surrogate(data) {
            // The common chunk, for an encoder that reads parts: read once,
            // straight from the provider's text (the model's name is the
            // encoder's to write).
            if let Some(chunk) = chunk.filter(ChunkView::plain) {
                if chunk.error.is_some() {
                    return reported_error(data);
                }
                return Frame::Parts(Part::of_view(chunk));
            }
        }
        self.write(data, shape)
    }

    /// The chunk as the OpenAI encoder sends it, or its parts when parts
    /// are wanted (read from the provider's text, or from the shaped tree
    /// when it had to be read through one). `shape`: [`may_need_shaping`]
    /// said it may.
    fn write(&mut self, data: &str, shape: bool) -> Frame {
        let members = &mut self.members;
        match body::members_into(data.as_bytes(), members).map(|()| &*members) {
            Ok(members)
                if members
                    .iter()
                    .any(|m| m.key == "error" && &data[m.value.clone()] != "null") =>
            {
                reported_error(data)
            }
            Ok(_) if self.parts && !shape => Frame::Parts(Part::read_json(data.as_bytes())),
            Ok(members) if !shape && memchr::memchr2(b'\n', b'\r', data.as_bytes()).is_none() => {
                Frame::Chunk(with_model(data, members, &self.model_json))
            }
            Ok(_) => self.through_tree(data),
            // JSON past a bound (nested past serde's depth, a number out of
            // an f64's range, half a surrogate pair): neither read nor
            // passed on, as clients' parsers may fail on it too.
            Err(error) if error.past_a_bound() => Frame::Error(AttemptError::InvalidResponse(
                format!("the provider sent an event no reader takes: {error}"),
            )),
            // Not a JSON object: no client's reader takes it (an SDK fails
            // on it, or reads nothing), so the stream is cut, not passed
            // on or left out without a word.
            Err(_) => Frame::Error(AttemptError::InvalidResponse(
                "the provider sent an event that is not a JSON object".into(),
            )),
        }
    }

    /// A chunk to shape, or an object written over several lines (an
    /// event's data must be on one): read and written again.
    fn through_tree(&mut self, data: &str) -> Frame {
        match serde_json::from_str::<Value>(data) {
            Ok(Value::Object(mut chunk)) => {
                if !shape_chunk(&mut chunk, &self.pricing, &mut self.shaping) {
                    return Frame::Skip;
                }
                if self.parts {
                    return Frame::Parts(Part::read_json(
                        &serde_json::to_vec(&chunk).unwrap_or_default(),
                    ));
                }
                crate::wire::openai::label_model(&mut chunk, self.model_ref.as_str());
                Frame::Chunk(frame(&Value::Object(chunk)))
            }
            _ => Frame::Error(AttemptError::InvalidResponse(
                "the provider sent an unreadable event".into(),
            )),
        }
    }
}

/// A chunk read only for how the stream ends, when the client gets the
/// provider's own events: `[DONE]`, an error, or nothing (its usage, if
/// it says one, noted in `shaping`).
fn ending(data: &str, chunk: Option<&ChunkView>, shaping: &mut StreamShaping) -> Frame {
    let data = data.trim();
    if data == "[DONE]" {
        return Frame::Done;
    }
    note_usage(data, shaping);
    match chunk {
        Some(chunk) if chunk.error.is_some() => reported_error(data),
        _ => Frame::Skip,
    }
}

/// The error a chunk with a non-null `error` member reports.
fn reported_error(data: &str) -> Frame {
    let (error_type, message) = error_details(data.as_bytes());
    Frame::Error(AttemptError::Upstream {
        status: None,
        error_type,
        message: format!("the provider reported: {message}"),
        retry_after: None,
    })
}

/// The event `data` (one JSON object on one line, whose members are
/// `members`) naming `model` (a JSON string) as its model: the bytes as
/// they came, with only the `model` value replaced (or added at the end).
fn with_model(data: &str, members: &[Member], model: &str) -> Bytes {
    let mut model_member = String::new();
    let (replaced, with) = match Member::last(members, "model") {
        Some(member) => (member.value.clone(), model),
        None => {
            let close = data.rfind('}').unwrap_or(data.len());
            if !members.is_empty() {
                model_member.push(',');
            }
            model_member.push_str("\"model\":");
            model_member.push_str(model);
            (close..close, model_member.as_str())
        }
    };
    // The exact length: a buffer the frame fills freezes as it is, where
    // one with room to spare takes a second allocation to share it.
    let len = b"data: ".len() + data.len() - replaced.len() + with.len() + b"\n\n".len();
    let mut out = BytesMut::with_capacity(len);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(&data.as_bytes()[..replaced.start]);
    out.extend_from_slice(with.as_bytes());
    out.extend_from_slice(&data.as_bytes()[replaced.end..]);
    out.extend_from_slice(b"\n\n");
    debug_assert_eq!(out.len(), len);
    out.freeze()
}

fn frame(value: &Value) -> Bytes {
    let mut out = b"data: ".to_vec();
    serde_json::to_writer(&mut out, value).expect("a JSON value always serializes");
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The error that ends a stream which cannot end cleanly, classified as
/// an attempt's failure would be. Provider text in it is scrubbed here, for
/// the log and the client.
fn broken(model_ref: &ModelRef, redactor: &Redactor, cut: Cut) -> StreamError {
    let (code, class, message) = match &cut {
        Cut::Ended => {
            let error = AttemptError::InvalidResponse(
                "the upstream stream ended before its last event (`[DONE]`, `message_stop`)".into(),
            );
            (
                "stream_truncated",
                Some(classify(Outcome::of(&error)).0),
                error.to_string(),
            )
        }
        Cut::Shutdown => (
            "gateway_shutdown",
            None,
            "the gateway is shutting down".to_string(),
        ),
        Cut::Upstream(code, error) => (
            *code,
            Some(classify(Outcome::of(error)).0),
            error.to_string(),
        ),
        Cut::Reported(error) => {
            let message = match error {
                AttemptError::Upstream { message, .. } => message.clone(),
                other => other.to_string(),
            };
            (
                "upstream_error",
                Some(classify(Outcome::of(error)).0),
                message,
            )
        }
    };
    let message = truncate(redactor.provider_text(&message));
    metrics::stream_error(model_ref.provider(), model_ref.as_str(), code);
    tracing::warn!(
        provider = model_ref.provider(),
        model = model_ref.as_str(),
        code,
        outcome = class.map(Class::label),
        "stream ended abnormally: {message}"
    );
    StreamError {
        class,
        code,
        message: format!("{model_ref}: {message}"),
    }
}

/// The SSE comment for a keep-alive's `text` (one line: see [`comment`]),
/// appended to `out`; the OpenAI and Responses streams relay it as it came.
pub fn write_comment(text: &str, out: &mut BytesMut) {
    out.extend_from_slice(b": ");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// The OpenAI error event for `error`: told as the same failure before
/// the first byte is, where its class says it all.
pub fn error_frame(error: &StreamError) -> Bytes {
    let (kind, code) = match error.class.and_then(policy::told) {
        Some(told) => (told.kind(), told.code()),
        None => ("upstream_error", error.code),
    };
    frame(&json!({
        "error": {
            "message": error.message,
            "type": kind,
            "code": code,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream dropped unfinished was closed by its client, unless a
    /// panic unwound it.
    #[test]
    fn an_unfinished_stream_is_counted_as_what_cut_it() {
        assert_eq!(unfinished(), "client_closed");
        struct Dropped(std::sync::mpsc::Sender<&'static str>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                self.0.send(unfinished()).unwrap();
            }
        }
        let (said, outcome) = std::sync::mpsc::channel();
        let unwound = std::panic::catch_unwind(|| {
            let _dropped = Dropped(said);
            panic!("a bug mid-stream");
        });
        assert!(unwound.is_err());
        assert_eq!(outcome.recv().unwrap(), "panic");
    }

    impl Relabel {
        /// [`Relabel::frame`] of `data`, read as the stream reads it.
        fn framed(&mut self, data: &str) -> Frame {
            self.frame(data, ChunkView::read(data.trim()))
        }
    }

    fn relabel(parts: bool) -> Relabel {
        let model_ref = ModelRef::parse("kimi/kimi-for-coding").unwrap();
        Relabel {
            model_json: serde_json::to_string(model_ref.as_str()).unwrap(),
            model_ref,
            pricing: Pricing {
                price: Some(crate::config::Cost {
                    input: 1.0,
                    output: 2.0,
                    ..Default::default()
                }),
                context_window: None,
            },
            shaping: StreamShaping::new(true),
            members: Vec::new(),
            parts,
        }
    }

    fn check(data: &str, expected: &str) {
        let got = match relabel(false).framed(data) {
            Frame::Chunk(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
            Frame::Parts(parts) => panic!("parts {parts:?} from a relay asked for bytes"),
            Frame::Skip => "SKIP".to_string(),
            Frame::Done => "DONE".to_string(),
            Frame::Error(message) => format!("ERROR {message}"),
        };
        assert_eq!(got, expected, "data {data:?}");
    }

    /// A stream that made tool calls and says `stop` ends `tool_calls` for
    /// a chat client (Kimi says `stop` now and then); one without calls
    /// keeps its `stop`, and the chunks between pass as they came.
    #[test]
    fn a_stop_after_tool_calls_ends_tool_calls() {
        let text = |frame: Frame| match frame {
            Frame::Chunk(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
            _ => panic!("a chunk"),
        };
        let mut relay = relabel(false);
        let call = r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{}"}}]}}]}"#;
        assert!(text(relay.framed(call)).contains(r#""arguments":"{}""#));
        let content = r#"{"choices":[{"index":0,"delta":{"content":"x"}}]}"#;
        assert!(text(relay.framed(content)).contains(r#""content":"x""#));
        let stop = r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
        assert!(text(relay.framed(stop)).contains(r#""finish_reason":"tool_calls""#));
        let mut plain = relabel(false);
        assert!(text(plain.framed(content)).contains(r#""content":"x""#));
        assert!(text(plain.framed(stop)).contains(r#""finish_reason":"stop""#));
        // Every chunk shaped (OpenRouter's reasoning in each): the calls
        // are seen all the same.
        let mut shaped = relabel(false);
        let reasoning = |delta: &str| {
            format!(r#"{{"choices":[{{"index":0,"delta":{{"reasoning":"r",{delta}}}}}]}}"#)
        };
        let call = reasoning(
            r#""tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{}"}}]"#,
        );
        assert!(text(shaped.framed(&call)).contains(r#""arguments":"{}""#));
        let stop = r#"{"choices":[{"index":0,"delta":{"reasoning":"r"},"finish_reason":"stop"}]}"#;
        assert!(text(shaped.framed(stop)).contains(r#""finish_reason":"tool_calls""#));
        // An empty or null list of calls is none.
        for none in [r#""tool_calls":[]"#, r#""tool_calls":null"#] {
            let mut empty = relabel(false);
            let _ = text(empty.framed(&reasoning(none)));
            assert!(
                text(empty.framed(stop)).contains(r#""finish_reason":"stop""#),
                "{none}"
            );
        }
    }

    /// An event of JSON past a bound (nested past serde's depth, a number
    /// out of an f64's range, half a surrogate pair) is not passed on as
    /// text: the stream ends, named. Read into parts, it is read whole
    /// (what it says kept, what is past the bound not carried) or it ends
    /// the stream too, never read as nothing.
    #[test]
    fn an_event_past_a_bound_ends_the_stream() {
        let deep = format!(
            r#"{{"choices":[{{"delta":{{"content":"hi"}}}}],"z":{}1{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let events = [
            (deep.as_str(), "nested too deeply"),
            (
                r#"{"choices":[{"delta":{"content":"hi"}}],"n":1e400}"#,
                "number out of range",
            ),
            (
                r#"{"choices":[{"delta":{"content":"hi \ud800"}}]}"#,
                "lone surrogate",
            ),
        ];
        for (data, why) in events {
            match relabel(false).framed(data) {
                Frame::Error(error) => assert!(error.to_string().contains(why), "{error}"),
                _ => panic!("{why} passed"),
            }
            match relabel(true).framed(data) {
                Frame::Error(error) => assert!(error.to_string().contains(why), "{error}"),
                Frame::Parts(parts) => assert_eq!(parts, [Part::Text("hi".into())], "{why}"),
                _ => panic!("{why}: neither read nor refused"),
            }
        }
    }

    /// What an encoder that reads parts gets for each event is what it
    /// would read from the bytes the OpenAI encoder gets: the same parts,
    /// shaped alike (usage priced, counted once; reasoning aliases; a
    /// filtered ending), the same errors and endings.
    #[test]
    fn parts_are_what_the_relayed_bytes_say() {
        let events = [
            "[DONE]",
            r#"{"id":"c1","model":"kimi-for-coding","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#,
            r#"{"id":"c1","choices":[{"delta":{"reasoning_content":"hm"}}]}"#,
            r#"{"id":"c1","choices":[{"delta":{"reasoning":"aliased"}}]}"#,
            r#"{"id":"c1","choices":[{"delta":{"reasoning_details":[{"type":"reasoning.text","text":"one"}]}}]}"#,
            r#"{"id":"c1","choices":[{"delta":{"\u0072easoning":"escaped alias"}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"read","arguments":"{\"a\""}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"filtered"}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"\u0066iltered"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":10,"completion_tokens_details":{"reasoning_tokens":4}}}"#,
            r#"{"choices":[{"delta":{},"usage":{"prompt_tokens":7,"completion_tokens":1,"cached_tokens":2}}]}"#,
            r#"{"choices":[],"\u0075sage":{"prompt_tokens":5,"completion_tokens":5}}"#,
            r#"{"error":{"message":"overloaded","type":"engine_overloaded_error"}}"#,
            r#"{"error":null,"choices":[{"delta":{"content":"x"}}]}"#,
            r#"{"choices":[{"delta":{"content":"a"}}],"choices":[{"delta":{"content":"b"}}]}"#,
            "{\n\"model\": \"x\",\n\"choices\": [{\"delta\":{\"content\":\"multi\"}}]\n}",
            r#"{"choices":{"not":"an array"}}"#,
            "keep-alive configured-key-123",
            "{unreadable",
        ];
        let outcome = |frame: Frame| match frame {
            Frame::Chunk(bytes) => format!("{:?}", Part::read_json(Chunk { frame: bytes }.data())),
            Frame::Parts(parts) => format!("{parts:?}"),
            Frame::Skip => "SKIP".into(),
            Frame::Done => "DONE".into(),
            Frame::Error(error) => format!("ERROR {error}"),
        };
        // Each stream's shaping is its own: usage is counted once per
        // stream, so each event is read by a relay of its own, and then
        // all in one stream.
        let (mut bytes, mut parts) = (relabel(false), relabel(true));
        for data in events {
            let via_bytes = outcome(relabel(false).framed(data));
            let via_parts = outcome(relabel(true).framed(data));
            assert_eq!(via_parts, via_bytes, "event {data}");
            assert_eq!(
                outcome(parts.framed(data)),
                outcome(bytes.framed(data)),
                "in a stream: {data}"
            );
        }
        // The usage was priced and its reasoning tokens kept.
        let Frame::Parts(usage) = relabel(true).framed(events[9]) else {
            panic!("usage read");
        };
        let [Part::Usage(usage)] = usage.as_slice() else {
            panic!("one usage part: {usage:?}");
        };
        assert_eq!(
            (usage.input, usage.output, usage.reasoning),
            (1000, 10, Some(4))
        );
        assert!(usage.cost.is_some_and(|cost| cost > 0.0), "{usage:?}");
        // A usage whose name is written with an escape is counted, and
        // priced, as one written plainly: on both paths.
        for parts in [false, true] {
            let mut relay = relabel(parts);
            let _ = relay.framed(events[11]);
            let counted = relay.shaping.take_usage();
            assert_eq!(counted.map(|u| u.input), Some(5), "parts: {parts}");
            let mut plain = relabel(parts);
            let _ = plain.framed(&events[11].replace(r"\u0075", "u"));
            assert_eq!(plain.shaping.take_usage(), counted, "parts: {parts}");
        }
    }

    #[test]
    fn events_are_relabelled_or_end_the_stream() {
        check("[DONE]", "DONE");
        check(" [DONE] ", "DONE");
        check(
            r#"{"model":"kimi-for-coding","choices":[{"delta":{"content":"hi"}}]}"#,
            "data: {\"model\":\"kimi/kimi-for-coding\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n",
        );
        check(
            r#"{"error":{"message":"overloaded","type":"engine_overloaded_error"}}"#,
            "ERROR the provider reported: overloaded",
        );
        check(
            r#"{"error":null,"choices":[]}"#,
            "data: {\"error\":null,\"choices\":[],\"model\":\"kimi/kimi-for-coding\"}\n\n",
        );
        // Bytes as they came, only the model replaced or added.
        check(
            r#"{ "id" : "c1" , "model" : "x" , "choices": [] }"#,
            "data: { \"id\" : \"c1\" , \"model\" : \"kimi/kimi-for-coding\" , \"choices\": [] }\n\n",
        );
        check("{}", "data: {\"model\":\"kimi/kimi-for-coding\"}\n\n");
        // The usage chunk: shaped, the model relabelled, the total and the
        // cost written; a usage that does not count both sides is not
        // priced.
        check(
            r#"{"id":"c","model":"k","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":10}}"#,
            "data: {\"id\":\"c\",\"model\":\"kimi/kimi-for-coding\",\"choices\":[],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":10,\"total_tokens\":1010,\"cost\":0.00102}}\n\n",
        );
        check(
            r#"{"usage":{"prompt_tokens":1,"total_tokens":1},"choices":[]}"#,
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"total_tokens\":1},\"model\":\"kimi/kimi-for-coding\"}\n\n",
        );
        // An object over several lines comes out on one.
        check(
            "{\n\"model\": \"x\",\n\"choices\": []\n}",
            "data: {\"model\":\"kimi/kimi-for-coding\",\"choices\":[]}\n\n",
        );
        check(
            "{\"model\": \"x\",\r\"choices\": []}",
            "data: {\"model\":\"kimi/kimi-for-coding\",\"choices\":[]}\n\n",
        );
        // Data that is not a JSON object cuts the stream: no client's
        // reader takes it, whether it is read into parts or sent on.
        let not_json =
            "ERROR invalid response: the provider sent an event that is not a JSON object";
        for data in [
            "keep-alive",
            "two\nlines",
            r#"{"choices":[{"delta":{"content":"x""#,
            "[1]",
        ] {
            check(data, not_json);
            let parts = relabel(true).framed(data);
            assert!(matches!(parts, Frame::Error(_)), "{data}");
        }
    }

    #[test]
    fn error_events_are_scrubbed_and_escaped_for_the_client_and_the_log() {
        let model_ref = ModelRef::parse("kimi/kimi-for-coding").unwrap();
        let redactor = Redactor::new(["configured-key-123"]);
        let error = broken(
            &model_ref,
            &redactor,
            Cut::Reported(reported(
                None,
                "the provider reported: bad configured-key-123\nFAKE Bearer sk-abcdefghijkl",
            )),
        );
        let frame = String::from_utf8(error_frame(&error).to_vec()).unwrap();
        assert_eq!(
            frame,
            "data: {\"error\":{\"message\":\"kimi/kimi-for-coding: the provider reported: bad [redacted]\\\\nFAKE Bearer [redacted]\",\"type\":\"upstream_error\",\"code\":\"upstream_error\"}}\n\n"
        );
    }

    #[test]
    fn an_error_event_carries_the_type_and_code_the_class_has_before_the_first_byte() {
        for (class, kind, code) in [
            (
                Class::ContextLength,
                "invalid_request_error",
                "context_length_exceeded",
            ),
            (
                Class::ContentFilter,
                "invalid_request_error",
                "upstream_rejected_request",
            ),
            (
                Class::Overloaded,
                "rate_limit_error",
                "upstream_rate_limited",
            ),
            (Class::ProviderError, "upstream_error", "upstream_error"),
        ] {
            let error = StreamError {
                class: Some(class),
                code: "upstream_error",
                message: "m".into(),
            };
            let frame = String::from_utf8(error_frame(&error).to_vec()).unwrap();
            let event: Value =
                serde_json::from_str(frame.trim().trim_start_matches("data: ")).unwrap();
            assert_eq!(
                (&event["error"]["type"], &event["error"]["code"]),
                (&json!(kind), &json!(code)),
                "{class:?}"
            );
        }
    }

    fn reported(error_type: Option<&str>, message: &str) -> AttemptError {
        AttemptError::Upstream {
            status: None,
            error_type: error_type.map(str::to_string),
            message: message.to_string(),
            retry_after: None,
        }
    }

    /// A chat stream has finished once every choice it named has its
    /// finish reason; a call's index is no choice.
    #[test]
    fn a_stream_has_finished_once_every_choice_has() {
        let chunk = |index: u64, finish: Value, delta: Value| {
            json!({"choices": [{"index": index, "delta": delta, "finish_reason": finish}]})
                .to_string()
        };
        let call = json!({"tool_calls": [{"index": 1, "id": "c", "function": {"name": "f"}}]});
        let mut one = Finished::default();
        let read = |finished: &mut Finished, data: String| {
            finished.read(ChunkView::read(&data).as_ref());
        };
        read(&mut one, chunk(0, Value::Null, json!({"content": "a"})));
        read(&mut one, chunk(0, Value::Null, call));
        assert!(!one.all());
        read(&mut one, chunk(0, json!("tool_calls"), json!({})));
        assert!(one.all());

        let mut two = Finished::default();
        read(&mut two, chunk(1, Value::Null, json!({"content": "b"})));
        read(&mut two, chunk(0, json!("stop"), json!({})));
        assert!(!two.all(), "choice 1 has not finished");
        read(&mut two, chunk(1, json!("length"), json!({})));
        assert!(two.all());
    }

    /// A failure after the start is classified by the one policy, as the
    /// same failure before it would be.
    #[test]
    fn late_failures_are_classified_by_the_policy() {
        let model_ref = ModelRef::parse("kimi/kimi-for-coding").unwrap();
        let redactor = Redactor::new(["configured-key-123"]);
        let timeout = AttemptError::Timeout {
            waiting_for: "next stream event",
            after: Duration::from_secs(1),
        };
        let cases = [
            (Cut::Shutdown, None, "gateway_shutdown"),
            (
                Cut::Upstream("stream_timeout", timeout),
                Some(Class::Timeout),
                "stream_timeout",
            ),
            (
                Cut::Upstream(
                    "stream_truncated",
                    AttemptError::InvalidResponse("x".into()),
                ),
                Some(Class::InvalidResponse),
                "stream_truncated",
            ),
            (
                Cut::Reported(reported(Some("engine_overloaded_error"), "busy")),
                Some(Class::Overloaded),
                "upstream_error",
            ),
            (
                Cut::Reported(reported(Some("rate_limit_error"), "slow down")),
                Some(Class::RateLimited),
                "upstream_error",
            ),
            (
                Cut::Reported(reported(None, "You exceeded your current quota")),
                Some(Class::Quota),
                "upstream_error",
            ),
            (
                Cut::Reported(reported(None, "something broke")),
                Some(Class::ProviderError),
                "upstream_error",
            ),
        ];
        for (cut, class, code) in cases {
            let label = format!("{cut:?}");
            let error = broken(&model_ref, &redactor, cut);
            assert_eq!((error.class, error.code), (class, code), "{label}");
        }
    }
}
