//! Any other OpenAI-compatible endpoint: the request passes as sent. Only a
//! level the client did not send itself (the model's `params`, or the
//! `thinkingDefault`) is added, as OpenAI's `reasoning_effort`, and only for
//! models that reason.

use serde_json::json;

use super::{Draft, Thinking};
use crate::capabilities::Reasoning;
use crate::config::Target;

pub fn apply(draft: &mut Draft, target: &Target, thinking: Thinking) {
    let from_client = ["reasoning_effort", "thinking", "reasoning"]
        .iter()
        .any(|key| draft.request().contains(key));
    if from_client || target.model.capabilities.reasoning == Reasoning::None {
        return;
    }
    match thinking {
        Thinking::Off => draft.set("reasoning_effort", json!("none")),
        Thinking::On(Some(effort)) => draft.set("reasoning_effort", json!(effort)),
        Thinking::On(None) | Thinking::Unspecified => {}
    }
}
