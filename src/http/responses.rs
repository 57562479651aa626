//! `POST /v1/responses` (and `/responses`), OpenAI's Responses API, for
//! Codex CLI and the SDKs' `responses` clients: a front end like the
//! others ([`FrontEnd`]), so the same model resolution, chain, rules,
//! deadlines, access line, metrics and `x-clawgate-*` headers apply.
//!
//! The body is read into the Responses shapes and translated into the
//! request model ([`crate::translate::responses_client`]); whole answers
//! are response objects, streams the Responses event sequence written from
//! the relay's typed items, with an SSE comment after each
//! [`KEEP_ALIVE_EVERY`] of silence. Errors before the start keep OpenAI's
//! shape, which is the Responses API's too; after it, `response.failed`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use serde_json::{Map, Value};

use super::front::FrontEnd;
use super::stream::Encoder;
use super::{AccessRecord, ApiError};
use crate::chain::policy::{self, Class, Told};
use crate::config::{Config, ModelRef};
use crate::gateway::Memos;
use crate::relay::{self, Item};
use crate::translate::responses_client::{
    self, Identity, ResponseEncoder, ToolNames, failure_code,
};
use crate::wire::Front;
use crate::wire::facts::Facts;
use crate::wire::openai::ChatRequest;
use crate::wire::request::ClientRequest;
use crate::wire::responses::{Echo, StreamEvent};

/// How long a stream may be silent before the client gets a comment.
pub const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(10);

/// The Responses API front end.
pub struct Responses;

/// What an answer needs of the request: how its tools reached the
/// provider, and what the response object says back (whether it allowed
/// parallel calls, its `tools` and `tool_choice` as sent).
pub struct Context {
    names: ToolNames,
    echo: Echo,
}

impl FrontEnd for Responses {
    const FRONT: Front = Front::Responses;
    type Encoder = ResponsesEncoder;
    type Context = Context;

    /// The body is read into the Responses shapes (borrowed) and translated
    /// into the request model; the parsed copy ends here.
    fn decode(
        config: &Config,
        memos: &Memos,
        body: Bytes,
        record: &AccessRecord,
    ) -> Result<(ClientRequest, Context), ApiError> {
        let bad = |err: &dyn std::fmt::Display| ApiError::BadRequest(err.to_string());
        let read =
            responses_client::Read::parse_with(&body, &memos.responses).map_err(|e| bad(&e))?;
        let parsed = &read.request;
        let model = parsed.model.as_deref().filter(|m| !m.is_empty());
        record.model_asked(model, &config.redactor);
        let translated = read.translate(model).map_err(|e| bad(&e))?;
        let request =
            ChatRequest::parse_with(translated.body, &memos.requests).map_err(|e| bad(&e))?;
        let context = Context {
            names: translated.names,
            echo: read.echo().clone(),
        };
        let mut request = ClientRequest::new(request, translated.seen);
        request.native.first_image = translated.first_image;
        Ok((request, context))
    }

    /// `response.completed` carries the usage.
    fn wants_usage(_request: &dyn Facts) -> bool {
        true
    }

    fn answer(completion: Map<String, Value>, model_ref: &ModelRef, context: &Context) -> Bytes {
        let response = responses_client::response(
            &completion,
            model_ref.as_str(),
            &Identity::new(unix_seconds()),
            &context.names,
            &context.echo,
        );
        serde_json::to_vec(&response)
            .expect("a response always serializes")
            .into()
    }

    fn encoder(model_ref: &ModelRef, context: Context) -> ResponsesEncoder {
        ResponsesEncoder {
            events: ResponseEncoder::new(
                model_ref.as_str(),
                Identity::new(unix_seconds()),
                context.names,
                context.echo,
            ),
            sequence: 0,
            text: Vec::new(),
        }
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The relay's items as the Responses event sequence (see
/// [`ResponseEncoder`]), each event named and numbered.
pub struct ResponsesEncoder {
    events: ResponseEncoder,
    sequence: u64,
    /// The events' text, kept from item to item (serialised into a vector,
    /// then appended to what the stream driver gathers).
    text: Vec<u8>,
}

impl ResponsesEncoder {
    fn sse(&mut self, events: Vec<StreamEvent>, out: &mut BytesMut) {
        self.text.clear();
        for event in events {
            event.write_sse(self.sequence, &mut self.text);
            self.sequence += 1;
        }
        out.extend_from_slice(&self.text);
    }
}

impl Encoder for ResponsesEncoder {
    const PARTS: bool = true;

    fn encode(&mut self, item: Item, out: &mut BytesMut) {
        let events = match item {
            Item::Chunk(chunk) => self.events.parts(&chunk.parts()),
            Item::Parts(parts) => self.events.parts(&parts),
            // Only a Messages body is sent in a provider's own format
            // (`Transport::speaks_natively`).
            Item::Native(..) => return,
            // A sign of life from the provider: a comment keeps the
            // client's idle timer alive too.
            Item::KeepAlive(text) => return relay::write_comment(&text, out),
            Item::Done => {
                let mut events = Vec::new();
                self.events.done(&mut events);
                events
            }
            Item::Error(error) => {
                let code = failure_code(error.class.and_then(class_code), &error.message);
                let mut events = Vec::new();
                self.events.fail(code, error.message, &mut events);
                events
            }
        };
        self.sse(events, out)
    }

    fn is_finished(&self) -> bool {
        self.events.is_finished()
    }

    fn keep_alive(&self) -> Option<(Duration, Bytes)> {
        Some((KEEP_ALIVE_EVERY, Bytes::from_static(b": keep-alive\n\n")))
    }

    fn cut_off(&mut self, out: &mut BytesMut) {
        let events = self.events.cut_off();
        self.sse(events, out)
    }
}

/// The `response.failed` code a failure's class gives, when it gives one:
/// what `chain::policy` decided, not read again from the message.
fn class_code(class: Class) -> Option<&'static str> {
    // Told as the same failure before the first byte is.
    if let Some(told) = policy::told(class) {
        return match told {
            Told::RateLimited | Told::Overloaded => Some("rate_limit_exceeded"),
            Told::OutOfCredit => Some("insufficient_quota"),
            Told::TooLong => Some("context_length_exceeded"),
            // A refusal inside a stream says nothing a code can: the
            // message is read.
            Told::Refused => None,
        };
    }
    match class {
        // Told above.
        Class::RateLimited
        | Class::Overloaded
        | Class::Quota
        | Class::Billing
        | Class::ContextLength
        | Class::BadRequest
        | Class::ContentFilter => None,
        Class::Transport
        | Class::Timeout
        | Class::ProviderError
        | Class::InvalidResponse
        | Class::TooLarge => Some("server_error"),
        Class::Auth | Class::Config | Class::NotFound | Class::Unsuitable => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::stream::{Outgoing, encode, event_names};
    use crate::ops::redact::Redactor;
    use crate::relay::{Chunk, StreamError};
    use futures_util::StreamExt;

    fn encoder() -> ResponsesEncoder {
        Responses::encoder(
            &ModelRef::parse("p/m").unwrap(),
            Context {
                names: ToolNames::default(),
                echo: Echo::default(),
            },
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_upstream_gets_comments_and_a_stream_that_stops_fails() {
        let items = async_stream::stream! {
            yield Item::Chunk(Chunk::of_json(br#"{"choices":[{"delta":{"content":"a"}}]}"#));
            yield Item::KeepAlive("OPENROUTER PROCESSING".into());
            tokio::time::sleep(Duration::from_secs(25)).await;
        };
        let outgoing = Outgoing::new(&Redactor::new(["k"]));
        let events: Vec<String> = encode(items, encoder(), outgoing, ())
            .map(|e| String::from_utf8(e.unwrap().to_vec()).unwrap())
            .collect()
            .await;
        assert_eq!(
            event_names(&events),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                ": OPENROUTER PROCESSING",
                ": keep-alive",
                ": keep-alive",
                "response.failed"
            ]
        );
        let last = events.last().unwrap();
        assert!(last.contains("\"sequence_number\":5"), "{last}");
        assert!(last.contains("\"code\":\"server_error\""), "{last}");
    }

    #[test]
    fn a_failure_takes_the_code_its_class_gives() {
        let cases = [
            (Some(Class::RateLimited), "x", "rate_limit_exceeded"),
            (Some(Class::Quota), "x", "insufficient_quota"),
            (Some(Class::ContextLength), "x", "context_length_exceeded"),
            (
                Some(Class::Timeout),
                "rate limit in the text",
                "server_error",
            ),
            (None, "the gateway is shutting down", "server_error"),
            (
                Some(Class::BadRequest),
                "maximum context length is 8192 tokens, you requested 9000",
                "context_length_exceeded",
            ),
        ];
        for (class, message, code) in cases {
            let mut encoder = encoder();
            let error = StreamError {
                class,
                code: "upstream_error",
                message: message.into(),
            };
            let mut out = BytesMut::new();
            encoder.encode(Item::Error(error), &mut out);
            let text = String::from_utf8(out.to_vec()).unwrap();
            assert!(
                text.contains(&format!("\"code\":\"{code}\"")),
                "{class:?}: {text}"
            );
            assert!(encoder.is_finished());
        }
    }
}
