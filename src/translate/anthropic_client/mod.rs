//! Serving an Anthropic Messages client from the gateway's OpenAI-shaped
//! pipeline: the request is read into the request model, its facts noted
//! as its chat-completions form is made (which the provider rules then
//! plan for each target like any other; that form is written only for a
//! target that speaks chat; one that speaks Messages is sent the client's
//! own body with the plan's edits, `anthropic_provider::passthrough`), and
//! the answer, whole or streamed,
//! becomes an Anthropic message or the exact Anthropic event sequence. The
//! wire rules it follows are summed up in `docs/claude-code.md`.
//!
//! - [`request`]: the Anthropic request in, the OpenAI request out;
//! - [`answer`]: a whole completion out as a message;
//! - [`stream`]: the relay's chunks out as Anthropic's events;
//! - [`native`]: an Anthropic provider's own events out, as they came but
//!   for what the gateway owns in them;
//! - [`overflow`]: a provider's context-overflow error in Claude Code's
//!   wording.
//!
//! What becomes of each field, block and tool type is the Messages table's
//! (`translate::fields`, `docs/translation.md`): the reader notes every
//! row the request holds, and refuses what the table refuses (binary
//! documents, unknown blocks, `container`, `mcp_servers`, a `tool_choice`
//! naming a server tool) with a 400 naming it. What the chat form cannot
//! hold is not faked: the cache breakpoints (by the chat message that ends
//! the marked turn) and the thinking budget are noted beside it
//! (`wire::request::Native`) for the plan, which sends them to a target that
//! takes them (OpenRouter) and otherwise withholds them; `top_k`,
//! `context_management`, `service_tier`, server tools and their blocks,
//! redacted thinking, thinking signatures and stop sequences beyond four
//! are dropped. Whatever a target does not get is named in the answer's
//! `x-clawgate-dropped` header and a warn line.

mod answer;
mod native;
mod overflow;
mod request;
mod stream;

use serde_json::Value;

pub use answer::message;
pub use native::Native;
pub use overflow::context_overflow;
#[cfg(any(test, feature = "test-support"))]
pub use request::request;
pub use request::{ChatForm, Memo, Read, TranslateError};
pub use stream::{StreamTranslator, error_kind};

use crate::translate::ids::Nonce;
use crate::wire::anthropic::UsageOut;
use crate::wire::usage::Usage;

/// Usage in Anthropic's terms: cache reads and writes are not part of
/// `input_tokens`.
fn usage_out(usage: &Usage) -> UsageOut {
    UsageOut {
        input_tokens: usage.uncached_input(),
        output_tokens: usage.output,
        cache_creation_input_tokens: usage.cache_written.unwrap_or(0),
        cache_read_input_tokens: usage.cache_read.unwrap_or(0),
    }
}

/// An Anthropic `stop_reason` for an OpenAI `finish_reason`: `refusal`
/// for an answer filtered or `refused` (that held OpenAI's `refusal`, sent
/// as its text); `tool_use` for an answer that holds tool calls and ended
/// on its own (Kimi sometimes says `stop` then), never for one cut off
/// (`max_tokens`: its last call's input may be cut too) or refused.
fn stop_reason(finish_reason: Option<&str>, has_tool_use: bool, refused: bool) -> &'static str {
    match finish_reason {
        Some("length") => "max_tokens",
        Some("content_filter") => "refusal",
        _ if refused => "refusal",
        _ if has_tool_use => "tool_use",
        _ => "end_turn",
    }
}

/// An Anthropic message id from the completion's id and the answer's
/// `nonce`; without one, an id of the answer's own. Never the provider's
/// alone: one that gives every answer the same id would have a client
/// that joins its transcript by message id (Claude Code, on resume) merge
/// the turns.
fn message_id(openai_id: Option<&str>, nonce: Nonce) -> String {
    let id: String = openai_id
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(64)
        .collect();
    if id.is_empty() {
        format!("msg_clawgate_{nonce}")
    } else {
        format!("msg_{id}_{nonce}")
    }
}

/// A tool call's arguments as the object Anthropic's `input` must be, as
/// the provider wrote them (every number to its last digit). Text that is
/// not a JSON object gives `{}`: the client then reports invalid
/// parameters to the model, which can try again.
fn tool_input(arguments: &str) -> &str {
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(_)) => arguments,
        _ => "{}",
    }
}

#[cfg(test)]
mod tests;
