//! OpenRouter (`openrouter.ai/api/v1`): thinking is controlled with its
//! `reasoning` object (a thinking budget as `reasoning.max_tokens`), cache
//! breakpoints (`cache_control` on text parts) reach the models that take
//! them, and Moonshot's models there (`moonshotai/*`) need Moonshot's
//! tool-schema form. Attribution (`X-OpenRouter-Title`) comes from the
//! dialect's default headers, overridable in `headers`.

use super::{Draft, Thinking, Withheld, moonshot};
use crate::capabilities::{self, Api};
use crate::config::Target;
use crate::translate::decisions::{CacheMark, Reasoning};
use crate::translate::fields;

/// The id OpenRouter is sent for a model's: its router, `auto` in the
/// catalog (the ref `openrouter/auto`, as OpenClaw writes it), is
/// `openrouter/auto` on its API.
pub fn model_id(id: &str) -> &str {
    match id {
        "auto" => "openrouter/auto",
        id => id,
    }
}

pub fn apply(draft: &mut Draft, target: &Target, thinking: Thinking) {
    let client_reasoning = draft.request().contains("reasoning");
    draft.remove("reasoning_effort");
    // A Moonshot-style switch means nothing to OpenRouter; its meaning is
    // carried over as `reasoning` (over the Anthropic transport, rendered
    // as thinking again).
    draft.omit("thinking");
    let budget = draft.asked_budget();
    let mut budget_sent = false;
    if target.model.capabilities.reasoning == capabilities::Reasoning::None {
        draft.remove("reasoning");
        // The model does not reason: what the client asked of it is named.
        if fields::asks_thinking(draft.seen()) {
            draft.withhold(Withheld::Thinking);
        }
    } else if !client_reasoning {
        match thinking {
            Thinking::Unspecified => {}
            Thinking::Off => draft.decided.reasoning = Some(Reasoning::Off),
            // The client's own budget, where it gave one (a
            // `thinking.budget_tokens`), below the output limit.
            Thinking::On(_) if budget.is_some() => {
                let budget = super::thinking_budget(budget, draft.limit());
                draft.decided.reasoning = budget.map(Reasoning::Budget);
                budget_sent = true;
            }
            Thinking::On(effort) => {
                // OpenRouter's efforts are low, medium and high.
                let effort = match effort.as_deref() {
                    Some("minimal" | "low") => "low",
                    Some("high") => "high",
                    Some("xhigh" | "max") => {
                        draft.withhold(Withheld::MaxEffort);
                        "high"
                    }
                    _ => "medium",
                };
                draft.decided.reasoning = Some(Reasoning::Effort(effort));
            }
        }
    }
    if target.provider.api == Api::OpenAiCompletions {
        if budget.is_some() && !budget_sent {
            draft.withhold(Withheld::ThinkingBudget);
        }
        cache_marks(draft, target);
    }
    if target.model.id.starts_with("moonshotai/") {
        moonshot::plain_any_of_schemas(draft);
    }
}

/// Whether OpenRouter honours cache breakpoints for `model`: Anthropic's
/// and Google's models take them (on text parts); the others cache on
/// their own, if at all.
fn takes_cache_marks(model: &str) -> bool {
    model.starts_with("anthropic/") || model.starts_with("google/")
}

/// The client's cache breakpoints on text parts for a model that takes
/// them (a translated request's, placed on the text that ends the marked
/// turn; a chat client's, as it wrote them); withheld for one that does
/// not, the chat client's parts written without them.
fn cache_marks(draft: &mut Draft, target: &Target) {
    let (request, native) = (draft.request(), draft.native());
    if !takes_cache_marks(&target.model.id) {
        if !native.cache_marks.is_empty() || native.unplaced_marks {
            draft.withhold(Withheld::CacheMarks);
        }
        for index in request.marked_messages() {
            draft.turn(index).cache_mark = Some(CacheMark::Strip);
            draft.withhold(Withheld::CacheMarks);
        }
        return;
    }
    if native.unplaced_marks {
        draft.withhold(Withheld::CacheMarks);
    }
    let mut marked: Vec<usize> = Vec::with_capacity(native.cache_marks.len());
    for (index, mark) in &native.cache_marks {
        if marked.contains(index) {
            continue;
        }
        marked.push(*index);
        match request.holds_cache_mark(*index) {
            true => draft.turn(*index).cache_mark = Some(CacheMark::Place(mark.clone())),
            false => draft.withhold(Withheld::CacheMarks),
        }
    }
}
