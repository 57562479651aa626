//! Kimi Coding (`api.kimi.com/coding`): Moonshot's models behind an access
//! gate on the `User-Agent` (only recognised coding agents are served; the
//! default, `KimiCLI/0.77` on the OpenAI endpoint and `claude-code/0.1.0` on
//! the Anthropic one, comes from the dialect's default headers). Its request
//! rules are Moonshot's, whichever endpoint the request is then sent to.

use super::{Draft, Thinking, moonshot};
use crate::config::Target;

pub fn apply(draft: &mut Draft, target: &Target, thinking: Thinking) {
    moonshot::apply(draft, target, thinking);
}
