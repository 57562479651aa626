//! What two pages say of one thing, they say alike: the README's snippets
//! against the guide they summarise, and the pages that say how a client
//! sends its key.

const README: &str = include_str!("../README.md");
const CODEX: &str = include_str!("../docs/codex.md");
const CLIENTS: &str = include_str!("../docs/clients.md");
const CLAUDE_CODE: &str = include_str!("../docs/claude-code.md");

/// The first ```toml block of `page` that sets `model_provider`.
fn codex_snippet(page: &str) -> &str {
    page.split("```toml")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .find(|block| block.contains("model_provider"))
        .unwrap_or_else(|| panic!("a Codex config.toml snippet"))
}

#[test]
fn the_readmes_codex_snippet_sets_what_docs_codex_sets() {
    let setting = |snippet: &str| -> Vec<String> {
        snippet
            .lines()
            .filter_map(|line| line.split_once('=').map(|(key, _)| key.trim().to_string()))
            .collect()
    };
    let readme = setting(codex_snippet(README));
    for key in setting(codex_snippet(CODEX)) {
        assert!(readme.contains(&key), "README's Codex snippet lacks {key}");
    }
}

#[test]
fn claude_codes_auth_token_travels_as_a_bearer_token_on_every_page() {
    // docs/claude-code.md and the Anthropic facts: ANTHROPIC_AUTH_TOKEN is
    // sent as `Authorization: Bearer`, ANTHROPIC_API_KEY as `x-api-key`.
    assert!(CLAUDE_CODE.contains("`ANTHROPIC_AUTH_TOKEN` travels as `Authorization: Bearer`"));
    let bearer = CLIENTS
        .split("`x-api-key: <key>`")
        .next()
        .expect("clients.md names x-api-key");
    assert!(
        bearer.contains("Claude Code's `ANTHROPIC_AUTH_TOKEN`"),
        "docs/clients.md puts ANTHROPIC_AUTH_TOKEN with the bearer tokens"
    );
    let (_, after) = CLIENTS.split_once("`x-api-key: <key>`").unwrap();
    let sentence = after.split('.').next().unwrap();
    assert!(!sentence.contains("ANTHROPIC_AUTH_TOKEN"), "{sentence}");
}
