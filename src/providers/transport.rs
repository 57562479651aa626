//! The body one target is sent: the client's request with the target's
//! rules applied, in the protocol the target's provider speaks; or the
//! reason clawgate will not send it.

use bytes::Bytes;
use reqwest::StatusCode;
use serde_json::{Map, Value};

use super::{Thinking, requested_thinking};
use crate::capabilities::{Api, ForcedToolChoice, Reasoning};
use crate::config::Target;
use crate::translate::anthropic_provider::passthrough::{self, Facts};
use crate::translate::anthropic_provider::{self, FALLBACK_MAX_TOKENS};
use crate::upstream::AttemptError;
use crate::wire::body::{Chunks, Edits};
use crate::wire::openai::ChatRequest;

/// The most tools Kimi accepts in one request.
pub const KIMI_MAX_TOOLS: usize = 128;

/// A request clawgate will not send to a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "clawgate refused to send it: {count} tools offered and Kimi accepts at most {max} (clawgate does not choose which to drop)"
    )]
    TooManyTools { count: usize, max: usize },
    #[error(
        "clawgate refused to send it: messages[{index}] is a tool result without a tool_call_id, and {} (give each result its call's id)",
        if *candidates == 0 { "no call of the turn before it is left unanswered".to_string() }
        else { format!("{candidates} calls of the turn before it could be its call") }
    )]
    UnpairedToolResult { index: usize, candidates: usize },
}

/// The request's own fault, classified as a provider's 400 would be (no
/// retry, no other target, no cooldown), but said to be clawgate's.
impl From<Refusal> for AttemptError {
    fn from(refusal: Refusal) -> Self {
        AttemptError::Upstream {
            status: Some(StatusCode::BAD_REQUEST),
            error_type: Some("invalid_request_error".into()),
            message: refusal.to_string(),
            retry_after: None,
        }
    }
}

/// The request body for `target`, with `edits` (the target's rules, as
/// [`super::edits`] makes them, and whatever the chain adds).
///
/// - An OpenAI target gets the client's bytes with `edits` (untouched parts
///   shared, never copied); `stream` is whatever the edits leave.
/// - An Anthropic target gets, for a request that came from an Anthropic
///   client, that client's own body with the least change
///   ([`passthrough`]); otherwise the edited body translated. Either way
///   it asks for a stream exactly when `stream` is set.
pub fn body(
    request: &ChatRequest,
    target: &Target,
    edits: &Edits,
    stream: bool,
) -> Result<Chunks, Refusal> {
    if let Err(unpaired) = super::tool_results::repairs(request.messages()) {
        return Err(Refusal::UnpairedToolResult {
            index: unpaired.index,
            candidates: unpaired.candidates,
        });
    }
    if target.provider.api == Api::OpenAiCompletions {
        return Ok(request.write(edits));
    }
    let original = request
        .anthropic_original()
        .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(bytes).ok());
    let max_output = target.model.max_tokens;
    let body = match original {
        Some(original) => passthrough::passthrough(&original, facts(request, target, stream)),
        None => {
            // The written body is a JSON object by construction: the request
            // parsed as one and the edits write JSON values.
            let openai: Map<String, Value> =
                serde_json::from_slice(&request.write(edits).to_vec()).unwrap_or_default();
            let mut body =
                anthropic_provider::request(&openai, max_output.unwrap_or(FALLBACK_MAX_TOKENS));
            body.remove("stream");
            if stream {
                body.insert("stream".into(), Value::Bool(true));
            }
            body
        }
    };
    let tools = body
        .get("tools")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if target.provider.dialect.is_kimi() && tools > KIMI_MAX_TOOLS {
        return Err(Refusal::TooManyTools {
            count: tools,
            max: KIMI_MAX_TOOLS,
        });
    }
    let bytes = serde_json::to_vec(&body).expect("JSON values serialize");
    Ok(Chunks::from(Bytes::from(bytes)))
}

/// What [`passthrough`] needs to know of `target`. The thinking default is
/// read as the OpenAI path reads it (the request, else the model's
/// `params`, else `thinkingDefault`), for a model whose thinking has a
/// switch.
fn facts<'a>(request: &ChatRequest, target: &'a Target, stream: bool) -> Facts<'a> {
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
        relax_forced_choice: caps.forced_tool_choice == ForcedToolChoice::Relax
            && caps.reasoning != Reasoning::None,
        stream,
    }
}
