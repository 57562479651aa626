//! The body one target is sent: the client's request with the target's
//! rules applied, in the protocol the target's provider speaks.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::capabilities::Api;
use crate::config::Target;
use crate::translate::anthropic_provider::{self, FALLBACK_MAX_TOKENS};
use crate::wire::body::{Chunks, Edits};
use crate::wire::openai::ChatRequest;

/// The request body for `target`, given the `edits` its rules (and the
/// chain) make. For an OpenAI target it is the client's bytes with the
/// edits (untouched parts shared, never copied); for an Anthropic target
/// that edited body translated to Anthropic Messages.
pub fn body(request: &ChatRequest, target: &Target, edits: &Edits) -> Chunks {
    let edited = request.write(edits);
    match target.provider.api {
        Api::OpenAiCompletions => edited,
        Api::AnthropicMessages => {
            // The written body is a JSON object by construction: the request
            // parsed as one and the edits write JSON values.
            let openai: Map<String, Value> =
                serde_json::from_slice(&edited.to_vec()).unwrap_or_default();
            let max_tokens = target.model.max_tokens.unwrap_or(FALLBACK_MAX_TOKENS);
            let translated = anthropic_provider::request(&openai, max_tokens);
            let bytes = serde_json::to_vec(&translated).expect("JSON values serialize");
            Chunks::from(Bytes::from(bytes))
        }
    }
}
