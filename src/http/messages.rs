//! Anthropic's Messages API in front of the same chain:
//! `POST /v1/messages` and `POST /v1/messages/count_tokens`, for Claude Code
//! and the Anthropic SDKs.
//!
//! A request is read into the request model
//! ([`crate::translate::anthropic_client`]: its facts, and its chat form
//! when a target that speaks chat needs it), resolved and run exactly as
//! `POST /v1/chat/completions` is (same refs, aliases, `default`, chain and
//! provider rules, same `x-clawgate-*` headers), and the answer translated
//! back: a message, or the relay's stream mapped event by event into
//! Anthropic's named events, with a `ping` whenever the upstream is silent
//! for [`PING_EVERY`]. A `claude-*` model the config does not know is served
//! by the default chain (Claude Code sends them whatever it is told).
//!
//! Errors keep the OpenAI API's statuses and headers, their bodies in
//! Anthropic's shape with the error type the status implies
//! ([`FrontEnd::error_body`]; the guards' errors on these routes too, see
//! `http::ERROR_SHAPES`).

use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use super::error::ErrorReport;
use super::front::{FrontEnd, admit, read_limited};
use super::stream::Encoder;
use super::{AccessRecord, ApiError};
use crate::capabilities::Api;
use crate::chain::policy::{self, Told};
use crate::config::{Config, ModelRef};
use crate::format::sse::Event;
use crate::gateway::{Gateway, Memos};
use crate::ops::scrub::Scrubber;
use crate::relay::Item;
use crate::session;
use crate::translate::anthropic_client::{self, ChatForm, Native, StreamTranslator, error_kind};
use crate::translate::ids::Nonce;
use crate::translate::token_estimate;
use crate::wire::Front;
use crate::wire::anthropic::{self, ErrorBody, MessagesRequest, StreamEvent};
use crate::wire::facts::Facts;
use crate::wire::request::ClientRequest;

/// How long a stream may be silent before the client gets a `ping`.
pub const PING_EVERY: Duration = Duration::from_secs(10);

/// Anthropic's Messages API front end.
pub struct Messages;

impl FrontEnd for Messages {
    const FRONT: Front = Front::Messages;
    type Encoder = AnthropicEncoder;
    type Context = ();

    /// The body is read into Anthropic's shapes and into the request
    /// model: its chat form written at once when the first target speaks
    /// chat, else when a target that speaks chat asks for it; the client's
    /// bytes go with it, for a target that speaks Anthropic itself.
    fn decode(
        config: &Config,
        memos: &Memos,
        original: Bytes,
        record: &AccessRecord,
    ) -> Result<(ClientRequest, ()), ApiError> {
        let read = anthropic_client::Read::parse_with(&original, &memos.messages)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        record.model_asked(read.request.model.as_deref().map(shown), &config.redactor);
        let model = chain_model(config, read.request.model.as_deref()).map(str::to_owned);
        let when = match config.first_api(model.as_deref()) {
            Some(Api::OpenAiCompletions) => ChatForm::Now,
            Some(Api::AnthropicMessages) | None => ChatForm::WhenAsked,
        };
        let request = read
            .into_request(model, original, memos.requests.clone(), when)
            .map_err(ApiError::BadRequest)?;
        Ok((request, ()))
    }

    /// Claude Code's session, from the session part of its
    /// `metadata.user_id` (carried into the model as `user`, the only
    /// thing the model's `user` is taken from here).
    fn session_hint(request: &dyn Facts) -> Option<session::Hint<'_>> {
        let user_id = session::json_string(request.raw("user")?)?;
        let id = session::key::claude_code_user_id(&user_id)?.to_string();
        Some(session::Hint {
            id: id.into(),
            from: "metadata.user_id",
        })
    }

    /// `message_delta` needs the usage chunk.
    fn wants_usage(_request: &dyn Facts) -> bool {
        true
    }

    fn answer(completion: Map<String, Value>, model_ref: &ModelRef, _: &()) -> Bytes {
        let message = anthropic_client::message(&completion, model_ref.as_str(), Nonce::random());
        serde_json::to_vec(&message)
            .expect("a message always serializes")
            .into()
    }

    /// The provider's own message, as its events spell it ([`Native`]).
    fn native_answer(
        native: &[Event],
        model_ref: &ModelRef,
        _: &(),
        scrubber: &Scrubber,
    ) -> Option<Bytes> {
        let message = Native::new(model_ref.as_str(), Nonce::random()).message(native, scrubber)?;
        Some(
            serde_json::to_vec(&message)
                .expect("a message always serializes")
                .into(),
        )
    }

    fn encoder(model_ref: &ModelRef, _: ()) -> AnthropicEncoder {
        let nonce = Nonce::random();
        AnthropicEncoder {
            translator: StreamTranslator::new(model_ref.as_str(), nonce),
            native: Native::new(model_ref.as_str(), nonce),
            relaying: false,
            ended: false,
            text: Vec::new(),
        }
    }

    fn error_body(report: &ErrorReport) -> Value {
        anthropic_error_body(report)
    }
}

/// The relay's items as Anthropic's named events (see
/// [`StreamTranslator`]), or the provider's own events when it speaks
/// Anthropic ([`Native`]), with a `ping` after each [`PING_EVERY`] of
/// silence.
pub struct AnthropicEncoder {
    translator: StreamTranslator,
    native: Native,
    /// The provider's own events came ([`Item::Native`]): they make the
    /// stream, `message_stop` included; only a failure is the gateway's.
    relaying: bool,
    /// A relayed stream has ended.
    ended: bool,
    /// The events' text, kept from item to item (serialised into a vector,
    /// then appended to what the stream driver gathers).
    text: Vec<u8>,
}

impl AnthropicEncoder {
    /// A relayed stream's last event: the failure, told as the same
    /// failure before the first byte is.
    fn end_relayed(&mut self, kind: &'static str, message: &str, out: &mut BytesMut) {
        self.ended = true;
        let error = StreamEvent::Error {
            error: ErrorBody {
                kind,
                message: message.to_string(),
            },
        };
        self.sse(vec![error], out);
    }

    fn sse(&mut self, events: Vec<StreamEvent>, out: &mut BytesMut) {
        self.text.clear();
        for event in &events {
            event.write_sse(&mut self.text);
        }
        out.extend_from_slice(&self.text);
    }
}

impl Encoder for AnthropicEncoder {
    const PARTS: bool = true;

    fn encode(&mut self, item: Item, out: &mut BytesMut) {
        let translator = &mut self.translator;
        let events = match item {
            Item::Native(event, kind) => {
                self.relaying = true;
                self.text.clear();
                self.native.write(&event, kind, &mut self.text);
                out.extend_from_slice(&self.text);
                return;
            }
            Item::Chunk(chunk) => translator.parts(&chunk.parts()),
            Item::Parts(parts) => translator.parts(&parts),
            // Anthropic's keep-alive is the `ping` after a silence.
            Item::KeepAlive(_) => return,
            // The provider's `message_stop` has gone already.
            Item::Done if self.relaying => {
                self.ended = true;
                return;
            }
            Item::Done => translator.done(),
            Item::Error(error) => {
                // Told as the same failure before the first byte is, an
                // overflow in the words Claude Code recovers from.
                let told = error.class.and_then(policy::told);
                let kind = told.map_or_else(|| error_kind(error.code), told_type);
                let overflow = (told == Some(Told::TooLong))
                    .then(|| anthropic_client::context_overflow(&error.message))
                    .flatten();
                let message = overflow.as_deref().unwrap_or(&error.message);
                if self.relaying {
                    return self.end_relayed(kind, message, out);
                }
                translator.failed(kind, message)
            }
        };
        self.sse(events, out);
    }

    fn is_finished(&self) -> bool {
        self.ended || self.translator.is_finished()
    }

    fn keep_alive(&self) -> Option<(Duration, Bytes)> {
        Some((PING_EVERY, Bytes::from(StreamEvent::Ping.to_sse())))
    }

    fn cut_off(&mut self, out: &mut BytesMut) {
        if self.relaying {
            if !self.ended {
                self.end_relayed("api_error", "the stream ended unexpectedly", out);
            }
            return;
        }
        if let Some(event) = self.translator.cut_off() {
            self.sse(vec![event], out);
        }
    }
}

/// `POST /v1/messages/count_tokens`: an estimate, without calling a
/// provider (see [`token_estimate`] for the rule and its accuracy).
pub async fn count_tokens(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
) -> Result<Response, ApiError> {
    let config = gateway.config();
    // Cheap, but it reads a whole body: it counts against the same cap
    // (not against a client's limits, which count calls to providers).
    let _slot = admit(&gateway, None)?;
    let body = read_limited(request, &config).await?;
    let parsed = MessagesRequest::parse(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let tokens = token_estimate::input_tokens(&parsed);
    Ok(Json(json!({ "input_tokens": tokens })).into_response())
}

/// The model name to resolve: the client's, except that a `claude-*` name
/// the config does not know means the default chain.
fn chain_model<'a>(config: &Config, requested: Option<&'a str>) -> Option<&'a str> {
    let name = requested.filter(|name| !name.is_empty())?;
    if name == "default" || config.resolve(name).is_some() {
        return Some(name);
    }
    if name.to_ascii_lowercase().starts_with("claude") {
        if SAID.first_time(std::ptr::from_ref(config) as usize, shown(name)) {
            tracing::info!(
                "model {:?} is not configured; served by the default chain (said once per name)",
                shown(name)
            );
        }
        return None;
    }
    Some(name)
}

/// The `claude-*` names said to be served by the default chain.
static SAID: Said = Said::new();

/// Names [`Said`] remembers at most; past that it starts over.
const SAID_NAMES: usize = 256;

/// Names met under one config: Claude Code sends the same few `claude-*`
/// names on every request, and the line that says where they go is worth
/// reading once, not beside every access line.
struct Said(Mutex<Option<(usize, HashSet<String>)>>);

impl Said {
    const fn new() -> Self {
        Self(Mutex::new(None))
    }

    /// Whether `name` (as logged, so at most [`SHOWN_NAME_CHARS`]
    /// characters) is met for the first time under the config whose
    /// address is `config`. Another config (a reload, which may have
    /// changed where the names go) starts over.
    fn first_time(&self, config: usize, name: &str) -> bool {
        let mut said = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (under, names) = said.get_or_insert_with(|| (config, HashSet::new()));
        if *under != config || names.len() >= SAID_NAMES {
            *under = config;
            names.clear();
        }
        names.insert(name.to_owned())
    }
}

/// The most of a client-chosen model name that goes into a log line.
const SHOWN_NAME_CHARS: usize = 128;

/// A client-chosen name as logged: cut to [`SHOWN_NAME_CHARS`] characters.
fn shown(name: &str) -> &str {
    match name.char_indices().nth(SHOWN_NAME_CHARS) {
        Some((end, _)) => &name[..end],
        None => name,
    }
}

/// The Anthropic error body for `report`:
/// `{"type": "error", "error": {"type", "message"}, "request_id"}`, the
/// type the status implies; a budget's refusal adds `error.budget`, as
/// every API's does. The status and headers (`Retry-After`,
/// `x-clawgate-attempts`) are the OpenAI API's. A provider's
/// context-overflow message is worded as Claude Code needs to recover from
/// it.
fn anthropic_error_body(report: &ErrorReport) -> Value {
    let mut message = report.message.clone();
    if report.status == StatusCode::BAD_REQUEST
        && let Some(rewritten) = anthropic_client::context_overflow(&message)
    {
        message = rewritten;
    }
    let mut body = json!({
        "type": "error",
        "error": {"type": report.told.map_or_else(|| anthropic::error_type(report.status.as_u16()), told_type), "message": message},
    });
    if let Some(budget) = &report.budget {
        body["error"]["budget"] = budget.clone();
    }
    if let Some(id) = &report.request_id {
        body["request_id"] = json!(&**id);
    }
    body
}

/// Anthropic's error type for a failure told as `told`, before the first
/// byte or after it: its own word for an overload, else the status's.
fn told_type(told: Told) -> &'static str {
    match told {
        Told::Overloaded => "overloaded_error",
        Told::TooLong | Told::Refused => "invalid_request_error",
        other => anthropic::error_type(other.status()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::stream::{Outgoing, encode};
    use crate::ops::redact::Redactor;
    use crate::relay::Chunk;
    use futures_util::StreamExt;

    fn report(status: StatusCode, message: &str, request_id: Option<&str>) -> ErrorReport {
        ErrorReport {
            status,
            kind: "upstream_error".into(),
            code: "upstream_unavailable",
            message: message.into(),
            request_id: request_id.map(Into::into),
            attempts: None,
            tried: None,
            retry_after: None,
            budget: None,
            told: None,
            final_refusal: false,
        }
    }

    #[test]
    fn an_unknown_claude_name_is_said_once_per_config_and_the_memory_is_bounded() {
        let said = Said::new();
        assert!(said.first_time(1, "claude-a"));
        assert!(!said.first_time(1, "claude-a"));
        assert!(said.first_time(1, "claude-b"));
        // Another config: said again.
        assert!(said.first_time(2, "claude-a"));
        assert!(!said.first_time(2, "claude-a"));
        // More names than are remembered: the set starts over, so the first
        // name is said again rather than the set growing.
        for n in 0..SAID_NAMES {
            said.first_time(2, &format!("claude-{n}"));
        }
        assert!(said.0.lock().unwrap().as_ref().unwrap().1.len() <= SAID_NAMES);
        assert!(said.first_time(2, "claude-a"));
        // What is kept is the name as logged: cut to its first characters.
        let long = format!("claude-{}", "x".repeat(100_000));
        assert!(said.first_time(3, shown(&long)));
        let kept = said.0.lock().unwrap();
        assert!(
            kept.as_ref()
                .unwrap()
                .1
                .iter()
                .all(|name| name.chars().count() <= SHOWN_NAME_CHARS)
        );
    }

    /// The names of the events the Messages encoder writes for `items`.
    async fn event_names(
        items: impl futures_util::Stream<Item = Item> + Send + 'static,
    ) -> Vec<String> {
        let encoder = Messages::encoder(&ModelRef::parse("p/m").unwrap(), ());
        let outgoing = Outgoing::new(&Redactor::new(["k"]));
        let events: Vec<String> = encode(items, encoder, outgoing, ())
            .map(|e| String::from_utf8(e.unwrap().to_vec()).unwrap())
            .collect()
            .await;
        crate::http::stream::event_names(&events)
    }

    #[test]
    fn error_bodies_take_anthropics_shape_and_type() {
        let unavailable = report(
            StatusCode::SERVICE_UNAVAILABLE,
            "no provider can take the request now",
            Some("req_1"),
        );
        assert_eq!(
            Messages::error_body(&unavailable),
            json!({"type": "error", "error": {"type": "overloaded_error",
                   "message": "no provider can take the request now"}, "request_id": "req_1"})
        );
        let overflow = report(
            StatusCode::BAD_REQUEST,
            "kimi/k2 rejected the request: Your request exceeded model token limit: 262144 (requested: 262200)",
            None,
        );
        assert_eq!(
            Messages::error_body(&overflow)["error"],
            json!({"type": "invalid_request_error", "message": "prompt is too long: 262200 tokens > 262144"})
        );
        assert_eq!(
            Messages::error_body(&report(StatusCode::TOO_MANY_REQUESTS, "", None))["error"]["type"],
            json!("rate_limit_error")
        );
    }

    /// The error event that ends a started stream, for each class whose
    /// word is the same before the first byte.
    #[tokio::test]
    async fn a_failure_after_the_first_byte_is_told_as_before_it() {
        use crate::chain::policy::Class;
        use crate::relay::StreamError;
        for (class, message, kind, said) in [
            (
                Class::ContextLength,
                "Your request exceeded model token limit: 262144 (requested: 262200)",
                "invalid_request_error",
                "prompt is too long: 262200 tokens > 262144",
            ),
            (
                Class::ContentFilter,
                "high risk",
                "invalid_request_error",
                "high risk",
            ),
            (Class::BadRequest, "bad", "invalid_request_error", "bad"),
            (Class::Overloaded, "busy", "overloaded_error", "busy"),
        ] {
            let items = futures_util::stream::iter([
                Item::Chunk(Chunk::of_json(
                    br#"{"choices":[{"delta":{"content":"a"}}]}"#,
                )),
                Item::Error(StreamError {
                    class: Some(class),
                    code: "upstream_error",
                    message: message.into(),
                }),
            ]);
            let encoder = Messages::encoder(&ModelRef::parse("p/m").unwrap(), ());
            let outgoing = Outgoing::new(&Redactor::new(["k"]));
            let text: String = encode(items, encoder, outgoing, ())
                .map(|e| String::from_utf8(e.unwrap().to_vec()).unwrap())
                .collect()
                .await;
            let error: Value = text
                .lines()
                .filter_map(|line| line.strip_prefix("data: "))
                .filter_map(|data| serde_json::from_str(data).ok())
                .find(|event: &Value| event["type"] == "error")
                .unwrap_or_else(|| panic!("an error event: {text}"));
            assert_eq!(error["error"]["type"], kind, "{class:?}");
            assert_eq!(error["error"]["message"], said, "{class:?}");
        }
    }

    #[test]
    fn logged_model_names_are_cut() {
        assert_eq!(shown("claude-sonnet-4-5"), "claude-sonnet-4-5");
        let long = "é".repeat(300);
        assert_eq!(shown(&long).chars().count(), SHOWN_NAME_CHARS);
    }

    /// A tool call's argument deltas are held until the call is whole, so
    /// they send the client nothing: the silence it sees still gets pings.
    #[tokio::test(start_paused = true)]
    async fn a_tool_call_streamed_for_long_still_gets_pings() {
        let items = async_stream::stream! {
            yield Item::Chunk(Chunk::of_json(
                br#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
            ));
            for _ in 0..8 {
                tokio::time::sleep(Duration::from_secs(4)).await;
                yield Item::Chunk(Chunk::of_json(
                    br#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":" "}}]}}]}"#,
                ));
            }
            yield Item::Chunk(Chunk::of_json(
                br#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#,
            ));
            yield Item::Done;
        };
        let names = event_names(items).await;
        let before_the_call = names
            .iter()
            .take_while(|name| **name != "content_block_start")
            .filter(|name| **name == "ping")
            .count();
        // The ping after message_start (as Anthropic sends one), then 32 s
        // of held deltas: a ping at 10, 20 and 30 s.
        assert_eq!(before_the_call, 4, "{names:?}");
        assert_eq!(
            names.last().map(String::as_str),
            Some("message_stop"),
            "{names:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_upstream_gets_pings_and_a_stream_that_stops_gets_an_error() {
        let items = async_stream::stream! {
            yield Item::Chunk(Chunk::of_json(br#"{"choices":[{"delta":{"content":"a"}}]}"#));
            tokio::time::sleep(Duration::from_secs(25)).await;
        };
        let names = event_names(items).await.join(" ");
        assert_eq!(
            names,
            "message_start ping content_block_start content_block_delta ping ping error"
        );
    }
}
