//! Any other endpoint without rules of its own: the request passes as sent.
//! Only a level the client did not send itself (the model's `params`, or
//! the `thinkingDefault`) is added, as OpenAI's `reasoning_effort`, and only
//! for models that reason. Over the Anthropic transport, which has no
//! effort, a chat or Responses client's `reasoning_effort` is the thinking
//! switch; a Messages client's own `thinking` goes as it sent it.

use serde_json::Value;

use super::{Draft, Thinking, Withheld};
use crate::capabilities::{Api, Reasoning};
use crate::config::Target;
use crate::translate::decisions::Switch;
use crate::translate::fields;

pub fn apply(draft: &mut Draft, target: &Target, thinking: Thinking) {
    let from_client = ["reasoning_effort", "thinking", "reasoning"]
        .iter()
        .any(|key| draft.request().contains(key));
    if target.model.capabilities.reasoning == Reasoning::None {
        // A model that does not reason is told nothing: over the Anthropic
        // transport, which has no effort, a chat or Responses client's
        // `reasoning_effort` is then named, not lost (a Messages client's
        // own `thinking` goes as it sent it).
        if target.provider.api == Api::AnthropicMessages
            && !draft.is_messages_body()
            && fields::asks_thinking(draft.seen())
        {
            draft.withhold(Withheld::Thinking);
        }
        return;
    }
    if target.provider.api == Api::AnthropicMessages {
        effort_as_switch(draft);
    }
    if from_client {
        return;
    }
    match thinking {
        Thinking::Off => draft.decided.effort = Some("none".into()),
        Thinking::On(Some(effort)) => draft.decided.effort = Some(effort.into()),
        Thinking::On(None) | Thinking::Unspecified => {}
    }
}

/// The client's `reasoning_effort` as the switch the Anthropic transport
/// renders (`none` off, any other level on), unless the client sent a
/// switch of its own. A Messages client's own body keeps its own
/// `thinking`, or its lack of one: its `output_config.effort` is no
/// switch (on Anthropic, effort and thinking are separate settings).
fn effort_as_switch(draft: &mut Draft) {
    let request = draft.request();
    if draft.is_messages_body() || request.contains("thinking") || request.contains("reasoning") {
        return;
    }
    if let Some(Value::String(effort)) = request.value("reasoning_effort") {
        draft.decided.thinking = Some(Switch {
            on: effort != "none",
            keep: None,
        });
    }
}
