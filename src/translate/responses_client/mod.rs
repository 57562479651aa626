//! Serving an OpenAI Responses client (Codex CLI, the SDKs' `responses`)
//! from the gateway's chat-completions pipeline: the request becomes a
//! chat-completions request (which the provider rules then shape for each
//! target like any other), and the answer, whole or streamed, becomes a
//! response object or the exact Responses event sequence. The wire rules
//! it follows are summed up in `docs/codex.md`.
//!
//! - [`request`]: the Responses request in, the chat request out;
//! - [`answer`]: a whole completion out as a response object;
//! - [`stream`]: the answer's pieces out as Responses events
//!   ([`ResponseEncoder`]), and the relay's chunks read into those pieces.
//!
//! Stateless: `store` is accepted and ignored; `previous_response_id`,
//! `conversation`, `background` and `item_reference` are refused with a
//! message saying what to send instead.

mod answer;
mod request;
mod stream;

use std::collections::BTreeSet;

use serde_json::{Map, Value};

pub use answer::response;
pub use request::{TranslateError, request};
pub use stream::{MAX_HELD_BYTES, ResponseEncoder};

use crate::translate::ids::Nonce;
use crate::wire::openai::Usage;
use crate::wire::responses::{IncompleteDetails, InputDetails, OutputDetails, UsageOut};

/// The names under which the request's namespaced tools reach the
/// provider (`<namespace>__<name>`), to tell them apart again in answers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolNames {
    flat: BTreeSet<(String, String)>,
}

impl ToolNames {
    const SEPARATOR: &str = "__";

    fn flat(namespace: &str, name: &str) -> String {
        format!("{namespace}{}{name}", Self::SEPARATOR)
    }

    fn add(&mut self, namespace: &str, flat: &str) {
        self.flat.insert((flat.to_string(), namespace.to_string()));
    }

    /// A provider's function name as the client offered it: the name and,
    /// for a namespaced tool, its namespace.
    pub fn split(&self, name: &str) -> (String, Option<String>) {
        let namespaced = self.flat.range((name.to_string(), String::new())..).next();
        match namespaced {
            Some((flat, namespace)) if flat == name => {
                let bare = &name[namespace.len() + Self::SEPARATOR.len()..];
                (bare.to_string(), Some(namespace.clone()))
            }
            _ => (name.to_string(), None),
        }
    }
}

/// What identifies one answer: its response id, and the nonce its item
/// and call ids carry (see [`crate::translate::ids`]).
#[derive(Debug, Clone)]
pub struct Identity {
    pub response_id: String,
    pub nonce: Nonce,
    /// Unix seconds.
    pub created_at: u64,
}

impl Identity {
    pub fn new(created_at: u64) -> Self {
        Self {
            response_id: format!("resp_clawgate_{:016x}", fastrand::u64(..)),
            nonce: Nonce::random(),
            created_at,
        }
    }

    fn item_id(&self, prefix: &str, output_index: usize) -> String {
        format!("{prefix}_{}_{output_index}", self.nonce)
    }
}

/// Usage in the Responses API's terms from a (shaped) completion or
/// chunk: `input_tokens` includes the cached ones, as in OpenAI's.
fn usage_out(chunk: &Map<String, Value>) -> Option<UsageOut> {
    let usage = Usage::of(chunk)?;
    let reasoning = chunk
        .get("usage")
        .and_then(|u| u.pointer("/completion_tokens_details/reasoning_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Some(UsageOut {
        input_tokens: usage.input,
        input_tokens_details: InputDetails {
            cached_tokens: usage.cache_read,
        },
        output_tokens: usage.output,
        output_tokens_details: OutputDetails {
            reasoning_tokens: reasoning,
        },
        total_tokens: usage.input + usage.output,
        cost: usage.cost,
    })
}

/// The response's status for a finish reason: `incomplete` (and why) when
/// the output was cut.
fn status(finish_reason: Option<&str>) -> (&'static str, Option<IncompleteDetails>) {
    match finish_reason {
        Some("length") => (
            "incomplete",
            Some(IncompleteDetails {
                reason: "max_output_tokens",
            }),
        ),
        Some("content_filter") => (
            "incomplete",
            Some(IncompleteDetails {
                reason: "content_filter",
            }),
        ),
        _ => ("completed", None),
    }
}

/// A tool call's arguments as the client gets them: as the provider wrote
/// them, `{}` for none (some providers send nothing for a call without
/// parameters). Text that is not JSON reaches the client, which reports it
/// to the model as a failed call, so it can try again.
fn arguments(text: &str) -> String {
    if text.trim().is_empty() {
        return "{}".to_string();
    }
    text.to_string()
}

#[cfg(test)]
mod tests;
