//! Any other endpoint without rules of its own: the request passes as sent.
//! Only a level the client did not send itself (the model's `params`, or
//! the `thinkingDefault`) is added, as OpenAI's `reasoning_effort`, and only
//! for models that reason. Over the Anthropic transport, which has no
//! effort, the client's `reasoning_effort` is the thinking switch.

use serde_json::{Value, json};

use super::{Draft, Thinking};
use crate::capabilities::{Api, Reasoning};
use crate::config::Target;

pub fn apply(draft: &mut Draft, target: &Target, thinking: Thinking) {
    let from_client = ["reasoning_effort", "thinking", "reasoning"]
        .iter()
        .any(|key| draft.request().contains(key));
    if target.model.capabilities.reasoning == Reasoning::None {
        return;
    }
    if target.provider.api == Api::AnthropicMessages {
        effort_as_switch(draft);
    }
    if from_client {
        return;
    }
    match thinking {
        Thinking::Off => draft.set("reasoning_effort", json!("none")),
        Thinking::On(Some(effort)) => draft.set("reasoning_effort", json!(effort)),
        Thinking::On(None) | Thinking::Unspecified => {}
    }
}

/// The client's `reasoning_effort` (a Messages client's thinking, as the
/// front end read it) as the switch the Anthropic transport renders
/// (`none` off, any other level on), unless the client sent a switch of
/// its own.
fn effort_as_switch(draft: &mut Draft) {
    let request = draft.request();
    if request.contains("thinking") || request.contains("reasoning") {
        return;
    }
    if let Some(Value::String(effort)) = request.value("reasoning_effort") {
        let kind = if effort == "none" {
            "disabled"
        } else {
            "enabled"
        };
        draft.set("thinking", json!({"type": kind}));
    }
}
