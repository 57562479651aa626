//! Which client sent a request, from its `User-Agent`: a short family name
//! (`openclaw`, `claude-code`, `codex`, ...), never the header itself, so
//! that the ledger and its rollups stay small and hold nothing the client
//! made up.

/// The family of a `User-Agent`; `unknown` when there is none.
pub fn family(user_agent: Option<&str>) -> &'static str {
    let Some(agent) = user_agent.filter(|a| !a.trim().is_empty()) else {
        return "unknown";
    };
    let agent = agent.to_ascii_lowercase();
    // Most specific first: clients built on an SDK name themselves before it.
    const FAMILIES: &[(&str, &str)] = &[
        ("openclaw", "openclaw"),
        ("claude-cli", "claude-code"),
        ("claude-code", "claude-code"),
        ("codex", "codex"),
        ("langchain", "langchain"),
        ("ai-sdk", "ai-sdk"),
        ("anthropic/python", "anthropic-python"),
        ("anthropic/js", "anthropic-js"),
        ("openai/python", "openai-python"),
        ("openai/js", "openai-js"),
        ("clawgate", "clawgate"),
        ("curl/", "curl"),
        ("python-httpx", "python"),
        ("python-requests", "python"),
        ("aiohttp", "python"),
        ("mozilla/", "browser"),
        ("node", "node"),
        ("undici", "node"),
    ];
    FAMILIES
        .iter()
        .find(|(needle, _)| agent.contains(needle))
        .map_or("other", |(_, family)| family)
}

#[cfg(test)]
mod tests {
    use super::family;

    #[test]
    fn families() {
        let cases = [
            (None, "unknown"),
            (Some(""), "unknown"),
            (Some("openclaw/2026.9.6 OpenAI/JS 5.1.0"), "openclaw"),
            (Some("claude-cli/2.1.3 (external, cli)"), "claude-code"),
            (Some("codex_cli_rs/0.50.0 (Debian 12)"), "codex"),
            (Some("OpenAI/Python 1.99.0"), "openai-python"),
            (Some("Anthropic/Python 0.60.0"), "anthropic-python"),
            (Some("ai-sdk/openai-compatible/1.0.5"), "ai-sdk"),
            (Some("curl/8.1.0"), "curl"),
            (
                Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/156"),
                "browser",
            ),
            (Some("made-up-thing/1.0"), "other"),
        ];
        for (agent, expected) in cases {
            assert_eq!(family(agent), expected, "{agent:?}");
        }
    }
}
