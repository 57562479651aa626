//! Kimi Coding (`api.kimi.com/coding`): Moonshot's models behind an access
//! gate on the `User-Agent` (only recognised coding agents are served; the
//! default, `KimiCLI/0.77` on the OpenAI endpoint and `claude-code/0.1.0` on
//! the Anthropic one, comes from the dialect's default headers). Its request
//! rules are Moonshot's, whichever endpoint the request is then sent to.

use serde_json::json;

use super::{Draft, Thinking, Withheld, moonshot};
use crate::catalog;
use crate::config::Target;

pub fn apply(draft: &mut Draft, target: &Target, thinking: Thinking) {
    moonshot::apply(draft, target, thinking);
    cap_effort(draft, target);
}

/// kimi-for-coding answered 429 to every request with `max` effort
/// (kimi-code #1252): it is sent `high`, the highest it takes, and the
/// answer names `reasoning_effort` as changed when the client asked `max`.
fn cap_effort(draft: &mut Draft, target: &Target) {
    let model = catalog::canonical_model("kimi", &target.model.id);
    if !model.starts_with("kimi-for-coding") || draft.get("reasoning_effort") != Some(json!("max"))
    {
        return;
    }
    draft.set("reasoning_effort", json!("high"));
    let asked =
        |effort: Option<serde_json::Value>| effort.is_some_and(|e| e == "max" || e == "xhigh");
    let request = draft.request();
    if asked(request.value("reasoning_effort"))
        || asked(
            request
                .value("reasoning")
                .and_then(|r| r.get("effort").cloned()),
        )
    {
        draft.withhold(Withheld::MaxEffort);
    }
}
