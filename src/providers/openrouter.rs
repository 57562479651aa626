//! OpenRouter (`openrouter.ai/api/v1`): thinking is controlled with its
//! `reasoning` object, and Moonshot's models there (`moonshotai/*`) need
//! Moonshot's tool-schema form. Attribution (`X-OpenRouter-Title`) comes
//! from the dialect's default headers, overridable in `headers`.

use serde_json::json;

use super::{Draft, Thinking, moonshot};
use crate::capabilities::Reasoning;
use crate::config::Target;

pub fn apply(draft: &mut Draft, target: &Target, thinking: Thinking) {
    let client_reasoning = draft.request().contains("reasoning");
    draft.remove("reasoning_effort");
    // A Moonshot-style switch means nothing to OpenRouter; its meaning is
    // carried over as `reasoning` (over the Anthropic transport, rendered
    // as thinking again).
    draft.omit("thinking");
    if target.model.capabilities.reasoning == Reasoning::None {
        draft.remove("reasoning");
    } else if !client_reasoning {
        match thinking {
            Thinking::Unspecified => {}
            Thinking::Off => draft.set("reasoning", json!({"enabled": false})),
            Thinking::On(effort) => {
                // OpenRouter's efforts are low, medium and high.
                let effort = match effort.as_deref() {
                    Some("minimal" | "low") => "low",
                    Some("high" | "xhigh" | "max") => "high",
                    _ => "medium",
                };
                draft.set("reasoning", json!({"effort": effort}));
            }
        }
    }
    if target.model.id.starts_with("moonshotai/") {
        moonshot::plain_any_of_schemas(draft);
    }
}
