//! The `anthropic-messages` transport (Kimi Coding's Anthropic endpoint,
//! Moonshot's, Anthropic's): the body in Messages form, the version and
//! key headers, and answers and streams read back into the OpenAI shapes
//! the pipeline works on. The translation itself is
//! [`crate::translate::anthropic_provider`].
//!
//! The body is the rules' edits applied once on the request model: a
//! request from an OpenAI client is written with its edits and translated;
//! an Anthropic client's own body goes on with the least change
//! ([`passthrough`]), the rules' sampling edits included, so that the same
//! target gets the same rules whichever API the client used.

use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use super::EventStream;
use super::transport::{Transport, whole};
use crate::capabilities::{Dialect, ForcedToolChoice, Reasoning};
use crate::config::Target;
use crate::providers::{Thinking, requested_thinking};
use crate::translate::anthropic_provider::passthrough::{self, Facts};
use crate::translate::anthropic_provider::{self, FALLBACK_MAX_TOKENS, StreamTranslator};
use crate::wire::body::{Chunks, Edits};
use crate::wire::openai::ChatRequest;
use crate::wire::sse::Item;

pub struct Anthropic;

impl Transport for Anthropic {
    fn body(&self, request: &ChatRequest, target: &Target, edits: &Edits) -> Chunks {
        let original = request
            .anthropic_original()
            .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(bytes).ok());
        let body = match original {
            Some(original) => {
                let mut body = passthrough::passthrough(original, facts(request, target));
                rules_edits(&mut body, edits);
                body
            }
            None => {
                // The written body is a JSON object by construction: the
                // request parsed as one and the edits write JSON values.
                let openai: Map<String, Value> =
                    serde_json::from_slice(&request.write(edits).to_vec()).unwrap_or_default();
                let max_output = target.model.max_tokens.unwrap_or(FALLBACK_MAX_TOKENS);
                let mut body = anthropic_provider::request(&openai, max_output);
                body.insert("stream".into(), Value::Bool(true));
                body
            }
        };
        whole(&body)
    }

    fn headers(&self, target: &Target, key: Option<&str>) -> Option<HeaderMap> {
        let mut headers = HeaderMap::new();
        headers.insert(VERSION_HEADER, HeaderValue::from_static(VERSION));
        if let Some(key) = key {
            let (name, value) = auth_header(target.provider.dialect, key)?;
            headers.insert(name, value);
        }
        Some(headers)
    }

    fn events(&self, events: EventStream) -> EventStream {
        openai_events(events)
    }

    fn completion(&self, answer: Map<String, Value>) -> Option<Map<String, Value>> {
        anthropic_provider::answer(&answer, now())
    }
}

/// The members the rules may set or remove that mean the same in both
/// APIs: an Anthropic client's body takes the rules' edits of these.
const SHARED_SAMPLING: [&str; 3] = ["temperature", "top_p", "top_k"];

/// The rules' edits of [`SHARED_SAMPLING`] members, applied to a
/// passed-through body (`fixedSampling` removes them, `params` sets them).
fn rules_edits(body: &mut Map<String, Value>, edits: &Edits) {
    for key in SHARED_SAMPLING {
        match edits.top.get(key) {
            Some(Some(value)) => {
                body.insert(key.to_string(), value.clone());
            }
            Some(None) => {
                body.remove(key);
            }
            None => {}
        }
    }
}

/// What [`passthrough`] needs to know of `target`. The thinking default is
/// read as the OpenAI path reads it (the request, else the model's
/// `params`, else `thinkingDefault`), for a model whose thinking has a
/// switch.
fn facts<'a>(request: &ChatRequest, target: &'a Target) -> Facts<'a> {
    let caps = &target.model.capabilities;
    let default_thinking = match (caps.reasoning, requested_thinking(request, target)) {
        (Reasoning::Optional, Thinking::On(_)) => Some(true),
        (Reasoning::Optional, Thinking::Off) => Some(false),
        _ => None,
    };
    Facts {
        model: &target.model.id,
        max_output: target.model.max_tokens,
        default_max_tokens: FALLBACK_MAX_TOKENS,
        default_thinking,
        narrow_forced_choice: caps.forced_tool_choice == ForcedToolChoice::Narrow,
        relax_forced_choice: caps.forced_tool_choice == ForcedToolChoice::Relax
            && caps.reasoning != Reasoning::None,
        stream: true,
    }
}

/// The API version every request names.
pub const VERSION: &str = "2023-06-01";

/// The header carrying the key on Anthropic's and Kimi Coding's endpoints.
const KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

pub const VERSION_HEADER: HeaderName = HeaderName::from_static("anthropic-version");

/// The header that carries `key` to a provider of `dialect`, marked
/// sensitive, or `None` when the key cannot be a header value. Moonshot's
/// Anthropic endpoint (`api.moonshot.ai/anthropic`) documents Bearer auth;
/// Kimi Coding's, like Anthropic's, reads `x-api-key`.
fn auth_header(dialect: Dialect, key: &str) -> Option<(HeaderName, HeaderValue)> {
    let (name, text) = match dialect {
        Dialect::Moonshot => (AUTHORIZATION, format!("Bearer {key}")),
        _ => (KEY_HEADER, key.to_string()),
    };
    let mut value = HeaderValue::try_from(text).ok()?;
    value.set_sensitive(true);
    Some((name, value))
}

/// The provider's event stream read as OpenAI chunk events, mapped one
/// event at a time (no task, no buffer beyond one event's items).
fn openai_events(events: EventStream) -> EventStream {
    let translator = StreamTranslator::new(now());
    let translated = events
        .scan(translator, |translator, item| {
            let items: Vec<_> = match item {
                Ok(Item::Event(event)) => {
                    let items: Vec<_> = translator.translate(&event).into_iter().map(Ok).collect();
                    if items.is_empty() {
                        // An event with no OpenAI counterpart (a block's
                        // end, a signature) is still a sign of life for
                        // the idle timer, as a comment is.
                        vec![Ok(Item::Comment(String::new()))]
                    } else {
                        items
                    }
                }
                other => vec![other],
            };
            futures_util::future::ready(Some(futures_util::stream::iter(items)))
        })
        .flatten();
    Box::pin(translated)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_go_in_the_header_each_endpoint_reads() {
        let cases = [
            (Dialect::KimiCoding, "x-api-key", "sk-1"),
            (Dialect::Generic, "x-api-key", "sk-1"),
            (Dialect::Moonshot, "authorization", "Bearer sk-1"),
        ];
        for (dialect, name, value) in cases {
            let (got_name, got_value) = auth_header(dialect, "sk-1").unwrap();
            assert_eq!(
                (got_name.as_str(), got_value.to_str().unwrap()),
                (name, value)
            );
            assert!(got_value.is_sensitive());
        }
        assert!(auth_header(Dialect::KimiCoding, "bad\nkey").is_none());
    }
}
