//! Sessions: every request's conversation, found from what its client
//! sends or derived from the conversation's start, named in its access
//! line; and each turn compared with the one before, a cache break named
//! by its cause in the access line, `/metrics` and the status.
//!
//! Each test runs on a current-thread runtime with a log subscriber set
//! for that thread, so every access line the gateway writes is captured.

mod common;

use clawgate_mock::{MockOptions, MockServer};
use common::log::Captured;
use common::*;
use serde_json::{Value, json};

/// A gateway whose one target is `p/m` on `mock`, with `more` merged into
/// the provider's entry.
async fn one_target(mock: &MockServer, more: Value) -> TestGateway {
    let mut entry = provider(mock);
    if let (Value::Object(entry), Value::Object(more)) = (&mut entry, more) {
        entry.extend(more);
    }
    gateway(json!({
        "models": {"mode": "replace", "providers": {"p": entry}},
        "agents": {"defaults": {"model": {"primary": "p/m"}}},
    }))
    .await
}

/// Posts `body` to `path` with `headers`; the status, the body read.
async fn send(
    gw: &TestGateway,
    path: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> (u16, String) {
    let mut request = gw.client().post(format!("{}{path}", gw.url)).json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if path == "/v1/messages" {
        request = request.header("anthropic-version", "2023-06-01");
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// The session and cache break of the `n`th access line (from 1).
async fn line(captured: &Captured, n: usize) -> (String, Option<String>) {
    let lines = captured.wait_for(n).await;
    let fields = &lines[n - 1]["fields"];
    let session = fields["session"].as_str().unwrap_or_default().to_string();
    (session, fields["cache_break"].as_str().map(str::to_string))
}

fn chat(tools: &[&str], messages: Vec<Value>) -> Value {
    let tools: Vec<Value> = tools
        .iter()
        .map(|name| json!({"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}))
        .collect();
    let mut all = vec![json!({"role": "system", "content": "You are a coding agent."})];
    all.extend(messages);
    json!({"tools": tools, "messages": all})
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

fn assistant(text: &str) -> Value {
    json!({"role": "assistant", "content": text})
}

/// `clawgate_session_cache_breaks_total{cause}` on `/metrics` (the
/// recorder is the process's: compared before and after).
async fn breaks(gw: &TestGateway, cause: &str) -> u64 {
    let metrics = gw.metrics().await;
    let prefix = format!("clawgate_session_cache_breaks_total{{cause=\"{cause}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[tokio::test]
async fn each_conversation_gets_one_session_from_what_its_client_sends_or_its_start() {
    let (captured, _guard) = Captured::start();
    let mock = healthy_mock().await;
    let gw = one_target(&mock, json!({})).await;
    let mut n = 0;
    let mut session = async |path: &str, headers: &[(&str, &str)], body: Value| {
        let (status, text) = send(&gw, path, headers, body).await;
        assert_eq!(status, 200, "{text}");
        n += 1;
        line(&captured, n).await.0
    };

    // Derived from the start: the turns of one conversation share it.
    let first = session(
        "/v1/chat/completions",
        &[],
        chat(&["read"], vec![user("fix the bug")]),
    )
    .await;
    let later = chat(
        &["read"],
        vec![
            user("fix the bug"),
            assistant("Which one?"),
            user("the parser"),
        ],
    );
    assert_eq!(session("/v1/chat/completions", &[], later).await, first);
    let other = session(
        "/v1/chat/completions",
        &[],
        chat(&["read"], vec![user("write docs")]),
    )
    .await;
    assert_ne!(other, first, "two conversations, two sessions");
    assert!(first.starts_with("anonymous/~"), "{first}");

    // Named by the client: clawgate's header, `prompt_cache_key`.
    let named = [("x-clawgate-session", "conv-1")];
    let body = chat(&[], vec![user("hi")]);
    assert_eq!(
        session("/v1/chat/completions", &named, body.clone()).await,
        "anonymous/conv-1"
    );
    let mut keyed = body.clone();
    keyed["prompt_cache_key"] = json!("pck-7");
    assert_eq!(
        session("/v1/chat/completions", &[], keyed).await,
        "anonymous/pck-7"
    );

    // Claude Code: its header, else the session part of `metadata.user_id`.
    let user_id = r#"{"device_id":"d1","account_uuid":"a1","session_id":"cc-5f0c"}"#;
    let messages = json!({"model": "p/m", "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}], "metadata": {"user_id": user_id}});
    assert_eq!(
        session("/v1/messages", &[], messages.clone()).await,
        "anonymous/cc-5f0c"
    );
    let header = [("X-Claude-Code-Session-Id", "cc-header")];
    assert_eq!(
        session("/v1/messages", &header, messages.clone()).await,
        "anonymous/cc-header"
    );
    // A client's own header that cannot name a session is passed over.
    let long = "x".repeat(200);
    let bad = [("X-Claude-Code-Session-Id", long.as_str())];
    assert_eq!(
        session("/v1/messages", &bad, messages).await,
        "anonymous/cc-5f0c"
    );

    // Codex: its `session-id` header on the Responses API.
    let codex = [("session-id", "019a-codex")];
    let responses = json!({"model": "p/m", "input": "hi"});
    assert_eq!(
        session("/v1/responses", &codex, responses).await,
        "anonymous/019a-codex"
    );

    // clawgate's own header, bad, is refused with a 400 naming it; so is
    // one that would join a derived session.
    for bad in ["two words", long.as_str(), "~1e6c5678f9072374"] {
        let (status, text) = send(
            &gw,
            "/v1/chat/completions",
            &[("x-clawgate-session", bad)],
            body.clone(),
        )
        .await;
        assert_eq!(status, 400, "{text}");
        assert!(
            text.contains("`x-clawgate-session` must be 1 to 128 visible ASCII characters"),
            "{text}"
        );
    }
    // Given twice, it names no one session: refused too.
    let twice = [("x-clawgate-session", "one"), ("x-clawgate-session", "two")];
    let (status, text) = send(&gw, "/v1/chat/completions", &twice, body.clone()).await;
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("`x-clawgate-session` is given more than once"),
        "{text}"
    );
}

/// A request no chain serves (a model the config does not have) reaches
/// no provider's cache: it takes no place among the sessions kept, which
/// it would evict a real one from, and its access line names none.
#[tokio::test]
async fn a_request_for_an_unknown_model_keeps_no_session() {
    let (captured, _guard) = Captured::start();
    let mock = healthy_mock().await;
    let gw = one_target(&mock, json!({})).await;
    let sessions = gw.gateway.sessions().unwrap();
    let mut body = chat(&[], vec![user("hello")]);
    body["model"] = json!("no-such-model");
    for named in [&[("x-clawgate-session", "nosuch")][..], &[]] {
        let (status, _) = send(&gw, "/v1/chat/completions", named, body.clone()).await;
        assert_eq!(status, 404);
    }
    assert_eq!(sessions.len(), 0);
    assert_eq!(line(&captured, 2).await.0, "");
    body["model"] = json!("p/m");
    let named = [("x-clawgate-session", "real")];
    let (status, _) = send(&gw, "/v1/chat/completions", &named, body).await;
    assert_eq!(status, 200);
    assert_eq!(sessions.len(), 1);
    assert_eq!(line(&captured, 3).await.0, "anonymous/real");
}

#[tokio::test]
async fn a_session_is_its_clients_alone() {
    let (captured, _guard) = Captured::start();
    let mock = healthy_mock().await;
    let mut config = json!({
        "models": {"mode": "replace", "providers": {"p": provider(&mock)}},
        "agents": {"defaults": {"model": {"primary": "p/m"}}},
        "gateway": {"clients": {
            "alice": {"key": "${ALICE_KEY}"},
            "bob": {"key": "${BOB_KEY}"},
        }},
    });
    config["gateway"]["auth"] = json!({"token": "admin-token-0123456789abcdef"});
    let env = [
        ("ALICE_KEY", "alice-key-0123456789abcdef"),
        ("BOB_KEY", "bob-key-0123456789abcdef00"),
    ];
    let gw = gateway_with_env(config, &env).await;
    let body = chat(&[], vec![user("same words")]);
    let mut sessions = Vec::new();
    for (n, key) in ["alice-key-0123456789abcdef", "bob-key-0123456789abcdef00"]
        .iter()
        .enumerate()
    {
        for named in [None, Some("shared")] {
            let mut request = gw
                .client()
                .post(format!("{}/v1/chat/completions", gw.url))
                .bearer_auth(key)
                .json(&body);
            if let Some(named) = named {
                request = request.header("x-clawgate-session", named);
            }
            assert_eq!(request.send().await.unwrap().status(), 200);
            sessions.push(line(&captured, sessions.len() + 1).await.0);
        }
        let client = ["alice", "bob"][n];
        assert!(
            sessions[2 * n].starts_with(&format!("{client}/~")),
            "{sessions:?}"
        );
        assert_eq!(sessions[2 * n + 1], format!("{client}/shared"));
    }
    assert_ne!(
        sessions[0], sessions[2],
        "the same start, two clients: two sessions"
    );
}

#[tokio::test]
async fn a_turn_that_changes_the_tool_list_names_the_tool() {
    let (captured, _guard) = Captured::start();
    let mock = healthy_mock().await;
    let gw = one_target(&mock, json!({})).await;
    let before = breaks(&gw, "tools").await;
    let named = [("x-clawgate-session", "tools-1")];
    send(
        &gw,
        "/v1/chat/completions",
        &named,
        chat(&["read"], vec![user("go")]),
    )
    .await;
    assert_eq!(
        line(&captured, 1).await.1,
        None,
        "a first turn breaks nothing"
    );
    let more = vec![user("go"), assistant("ok"), user("and search")];
    send(
        &gw,
        "/v1/chat/completions",
        &named,
        chat(&["read", "grep"], more),
    )
    .await;
    let (session, cause) = line(&captured, 2).await;
    assert_eq!(session, "anonymous/tools-1");
    assert_eq!(cause.as_deref(), Some("tools: added grep"));
    assert!(breaks(&gw, "tools").await > before);
    // The status names it; the page shows it.
    let status = gw.status().await;
    let recent = status["sessions"]["recentBreaks"].as_array().unwrap();
    assert!(
        recent.iter().any(|b| b["session"] == "anonymous/tools-1"
            && b["cause"] == "tools"
            && b["detail"] == "tools: added grep"),
        "{status}"
    );
    let page = gw.page().await;
    assert!(page.contains("<h2>Cache breaks</h2>"), "{page}");
    assert!(
        page.contains("data-session=\"anonymous/tools-1\" data-cause=\"tools\""),
        "{page}"
    );
}

#[tokio::test]
async fn a_replayed_turn_without_its_reasoning_is_a_reasoning_break() {
    let (captured, _guard) = Captured::start();
    let mock = healthy_mock().await;
    let gw = one_target(&mock, json!({})).await;
    let before = breaks(&gw, "reasoning").await;
    let named = [("x-clawgate-session", "reasoning-1")];
    let call =
        json!([{"id": "c1", "type": "function", "function": {"name": "read", "arguments": "{}"}}]);
    let with = json!({"role": "assistant", "content": "", "reasoning_content": "I should read it.", "tool_calls": call});
    let without = json!({"role": "assistant", "content": "", "tool_calls": call});
    let result = json!({"role": "tool", "tool_call_id": "c1", "content": "fn main() {}"});
    let first = vec![user("read main"), with, result.clone()];
    send(&gw, "/v1/chat/completions", &named, chat(&["read"], first)).await;
    let second = vec![
        user("read main"),
        without,
        result,
        assistant("Done."),
        user("thanks"),
    ];
    send(&gw, "/v1/chat/completions", &named, chat(&["read"], second)).await;
    let (_, cause) = line(&captured, 2).await;
    assert_eq!(
        cause.as_deref(),
        Some("reasoning: dropped at 1, not restored")
    );
    assert!(breaks(&gw, "reasoning").await > before);
}

#[tokio::test]
async fn a_compaction_that_rewrites_message_3_is_a_messages_break() {
    let (captured, _guard) = Captured::start();
    let mock = healthy_mock().await;
    let gw = one_target(&mock, json!({})).await;
    let before = breaks(&gw, "messages").await;
    let named = [("x-clawgate-session", "compacted-1")];
    let start = || vec![user("one"), assistant("a"), user("two")];
    let mut first = start();
    first.extend([assistant("a long answer"), user("three")]);
    send(&gw, "/v1/chat/completions", &named, chat(&[], first)).await;
    let mut second = start();
    second.extend([
        assistant("(summarised)"),
        user("three"),
        assistant("b"),
        user("four"),
    ]);
    send(&gw, "/v1/chat/completions", &named, chat(&[], second)).await;
    let (_, cause) = line(&captured, 2).await;
    assert_eq!(cause.as_deref(), Some("messages: rewritten at 3"));
    assert!(breaks(&gw, "messages").await > before);
}

/// The turn before is the last one to the same place of the chain,
/// however the client names it: `default`, then the model's own ref.
#[tokio::test]
async fn a_turn_to_the_same_model_by_another_name_is_compared_with_the_one_before() {
    let (captured, _guard) = Captured::start();
    let mock = healthy_mock().await;
    let gw = one_target(&mock, json!({})).await;
    let before = breaks(&gw, "system").await;
    let named = [("x-clawgate-session", "renamed-1")];
    let mut first = chat(&[], vec![user("one")]);
    first["model"] = json!("default");
    send(&gw, "/v1/chat/completions", &named, first).await;
    let mut second = chat(&[], vec![user("one"), assistant("a"), user("two")]);
    second["model"] = json!("p/m");
    second["messages"][0]["content"] = json!("You are another agent.");
    send(&gw, "/v1/chat/completions", &named, second).await;
    let (_, cause) = line(&captured, 2).await;
    assert!(
        cause.as_deref().is_some_and(|c| c.starts_with("system")),
        "{cause:?}"
    );
    assert!(breaks(&gw, "system").await > before);
}

#[tokio::test]
async fn a_messages_break_is_named_by_the_messages_clients_own_index() {
    let (captured, _guard) = Captured::start();
    let mock = healthy_mock().await;
    let gw = one_target(&mock, json!({})).await;
    let named = [("x-clawgate-session", "messages-index-1")];
    let text = |role: &str, text: &str| json!({"role": role, "content": text});
    let calls = json!({"role": "assistant", "content": [
        {"type": "tool_use", "id": "t1", "name": "read", "input": {}},
        {"type": "tool_use", "id": "t2", "name": "read", "input": {}},
    ]});
    // Two tool results and a text in one user turn: three chat turns, one
    // Messages message (index 2).
    let results = json!({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": "one"},
        {"type": "tool_result", "tool_use_id": "t2", "content": "two"},
        {"type": "text", "text": "and now?"},
    ]});
    let body = |answer: &str| {
        json!({
            "model": "p/m",
            "max_tokens": 64,
            "tools": [{"name": "read", "input_schema": {"type": "object"}}],
            "messages": [
                text("user", "read both"), calls, results,
                text("assistant", answer), text("user", "thanks"),
            ],
        })
    };
    send(&gw, "/v1/messages", &named, body("first")).await;
    send(&gw, "/v1/messages", &named, body("rewritten")).await;
    let (_, cause) = line(&captured, 2).await;
    assert_eq!(cause.as_deref(), Some("messages: rewritten at 3"));
}

#[tokio::test]
async fn a_turn_answered_by_another_target_with_a_cold_cache_has_moved() {
    let (captured, _guard) = Captured::start();
    // The primary fails the first request only; its cache reports nothing.
    let primary = mock(MockOptions {
        fail_status: Some(500),
        fail_times: Some(1),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = json!({"retries": {"perTarget": 0}});
    let gw = gateway(config).await;
    let before = breaks(&gw, "moved").await;
    let named = [("x-clawgate-session", "moved-1")];
    send(
        &gw,
        "/v1/chat/completions",
        &named,
        chat(&[], vec![user("go")]),
    )
    .await;
    let lines = captured.wait_for(1).await;
    assert_eq!(lines[0]["fields"]["answered_by"], "backup/m", "{lines:?}");
    let more = vec![user("go"), assistant("ok"), user("on")];
    send(&gw, "/v1/chat/completions", &named, chat(&[], more)).await;
    let lines = captured.wait_for(2).await;
    assert_eq!(lines[1]["fields"]["answered_by"], "primary/m");
    assert_eq!(lines[1]["fields"]["cache_break"], "moved");
    assert!(breaks(&gw, "moved").await > before);
}

#[tokio::test]
async fn a_turn_idle_past_its_providers_cache_lifetime_has_expired() {
    let (captured, _guard) = Captured::start();
    let mock = healthy_mock().await;
    let gw = one_target(&mock, json!({"cacheLifetimeSeconds": 1})).await;
    let before = breaks(&gw, "expired").await;
    let named = [("x-clawgate-session", "idle-1")];
    let turns = [
        vec![user("go")],
        vec![user("go"), assistant("ok"), user("on")],
        vec![
            user("go"),
            assistant("ok"),
            user("on"),
            assistant("ok"),
            user("more"),
        ],
    ];
    send(
        &gw,
        "/v1/chat/completions",
        &named,
        chat(&[], turns[0].clone()),
    )
    .await;
    send(
        &gw,
        "/v1/chat/completions",
        &named,
        chat(&[], turns[1].clone()),
    )
    .await;
    assert_eq!(
        line(&captured, 2).await.1,
        None,
        "a prompt turn finds its cache"
    );
    // Not a synchronisation: the time the provider's cache outlives.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    send(
        &gw,
        "/v1/chat/completions",
        &named,
        chat(&[], turns[2].clone()),
    )
    .await;
    assert_eq!(line(&captured, 3).await.1.as_deref(), Some("expired"));
    assert!(breaks(&gw, "expired").await > before);
}

#[tokio::test]
async fn a_providers_cache_lifetime_must_be_whole_seconds_within_a_day() {
    let mock = healthy_mock().await;
    for bad in [json!(-1), json!(1.5), json!("5m"), json!(86_401)] {
        let mut entry = provider(&mock);
        entry["cacheLifetimeSeconds"] = bad.clone();
        let config = json!({"models": {"mode": "replace", "providers": {"p": entry}},
            "agents": {"defaults": {"model": {"primary": "p/m"}}}});
        let env = clawgate::config::Environment::from_pairs::<&str, &str>([]);
        let errors = clawgate::config::load_str(
            &config.to_string(),
            &env,
            clawgate::config::Secrets::Required,
        )
        .err()
        .unwrap_or_else(|| panic!("{bad} was taken"))
        .to_string();
        assert!(
            errors.contains("models.providers.p.cacheLifetimeSeconds: expected a whole number of seconds from 0 to 86400"),
            "{bad}: {errors}"
        );
    }
}
