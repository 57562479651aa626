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

use serde_json::Value;

pub use answer::response;
#[cfg(any(test, feature = "test-support"))]
pub use request::request;
pub use request::{Memo, Read, TranslateError};
pub use stream::{MAX_HELD_BYTES, ResponseEncoder, failure_code};

use crate::translate::ids::Nonce;
use crate::wire::responses::{
    IncompleteDetails, InputDetails, OutputDetails, OutputItem, UsageOut,
};
use crate::wire::usage::Usage;

/// What a provider's function name stands for in the request: the names
/// under which namespaced tools reach the provider
/// (`<namespace>__<name>`), and which tools are `custom` (their free-form
/// input travels as a function's one `input` argument).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolNames {
    /// `(flat name, namespace)`.
    flat: BTreeSet<(String, String)>,
    custom: BTreeSet<String>,
}

impl ToolNames {
    const SEPARATOR: &str = "__";

    fn flat(namespace: &str, name: &str) -> String {
        format!("{namespace}{}{name}", Self::SEPARATOR)
    }

    fn add(&mut self, namespace: &str, flat: &str) {
        self.flat.insert((flat.to_string(), namespace.to_string()));
    }

    /// The flat names of `namespace`'s functions.
    fn in_namespace<'n>(&'n self, namespace: &'n str) -> impl Iterator<Item = &'n str> {
        (self.flat.iter())
            .filter(move |(_, of)| of == namespace)
            .map(|(flat, _)| flat.as_str())
    }

    fn add_custom(&mut self, name: &str) {
        self.custom.insert(name.to_string());
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

    /// The provider's call to `name` with `arguments`, as the client's
    /// tools know it.
    fn call(&self, name: &str, arguments: &str) -> Call {
        if self.custom.contains(name) {
            return Call::Custom {
                name: name.to_string(),
                input: custom_input(arguments),
            };
        }
        let (name, namespace) = self.split(name);
        Call::Function {
            name,
            namespace,
            arguments: self::arguments(arguments),
        }
    }
}

/// A tool call in the client's terms.
#[derive(Debug, Clone, PartialEq)]
enum Call {
    Function {
        name: String,
        namespace: Option<String>,
        arguments: String,
    },
    Custom {
        name: String,
        input: String,
    },
}

impl Call {
    /// What the call's deltas carry: the arguments, or the input.
    fn payload(&self) -> &str {
        match self {
            Call::Function { arguments, .. } => arguments,
            Call::Custom { input, .. } => input,
        }
    }

    /// The output item: whole when `done`, else as `output_item.added`
    /// announces it (in progress, nothing in it yet).
    fn item(&self, id: String, call_id: String, done: bool) -> OutputItem {
        match self {
            Call::Function {
                name,
                namespace,
                arguments,
            } => OutputItem::FunctionCall {
                id,
                status: if done { "completed" } else { "in_progress" },
                call_id,
                name: name.clone(),
                namespace: namespace.clone(),
                arguments: if done {
                    arguments.clone()
                } else {
                    String::new()
                },
            },
            Call::Custom { name, input } => OutputItem::CustomToolCall {
                id,
                call_id,
                name: name.clone(),
                input: if done { input.clone() } else { String::new() },
            },
        }
    }
}

/// A custom tool's input from the function arguments it was called with:
/// `{"input": "..."}` as offered; a model that wrote the input bare (a JSON
/// string, or text that is no JSON) is taken at its word, and arguments of
/// any other shape go as they came, so nothing the model wrote is lost.
fn custom_input(arguments: &str) -> String {
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(object)) if object.len() == 1 => match object.get("input") {
            Some(Value::String(input)) => input.clone(),
            _ => arguments.to_string(),
        },
        Ok(Value::String(input)) => input,
        _ => arguments.to_string(),
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

/// Usage in the Responses API's terms: `input_tokens` includes the cached
/// ones, as in OpenAI's.
fn usage_out(usage: &Usage) -> UsageOut {
    UsageOut {
        input_tokens: usage.input,
        input_tokens_details: InputDetails {
            cached_tokens: usage.cache_read.unwrap_or(0),
            cache_write_tokens: usage.cache_written,
        },
        output_tokens: usage.output,
        output_tokens_details: OutputDetails {
            reasoning_tokens: usage.reasoning.unwrap_or(0),
        },
        total_tokens: usage.input.saturating_add(usage.output),
        cost: usage.cost,
    }
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
