//! The warn line that says what a target did not get: said at most once
//! a minute per target and set of fields, while `x-clawgate-dropped` is on
//! every answer. Alone in its binary: the log is captured per thread, and
//! tracing's per-callsite interest is shared by every test thread.

mod common;

use common::log::Captured;
use common::{KEY, gateway, header, healthy_mock};
use serde_json::json;

#[tokio::test]
async fn the_warn_line_is_said_once_a_minute_and_the_header_every_time() {
    let (captured, _guard) = Captured::start();
    let mock = healthy_mock().await;
    // A provider name of this test's own: the warn lines are remembered
    // for the life of the process, across tests.
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {"warned-once": {
            "baseUrl": mock.base_url(), "apiKey": KEY, "api": "openai-completions",
            "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": "warned-once/m"}},
    }))
    .await;
    let body = json!({"model": "warned-once/m", "max_tokens": 10, "top_k": 3,
                      "messages": [{"role": "user", "content": "hi"}]});
    for _ in 0..3 {
        let response = gw.messages(body.clone()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-clawgate-dropped"), "top_k");
        let _ = response.bytes().await;
    }
    let warned = captured
        .lines()
        .into_iter()
        .filter(|line| {
            line["level"] == "WARN"
                && line["fields"]["target"] == "warned-once/m"
                && line["fields"]["dropped"] == "top_k"
        })
        .count();
    assert_eq!(warned, 1);

    // A member nested in a block is named, and said, as a top-level one is.
    let cited = json!({"model": "warned-once/m", "max_tokens": 10, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "hi", "citations": []}]}]});
    let response = gw.messages(cited).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-clawgate-dropped"),
        "citations on text blocks"
    );
    let _ = response.bytes().await;
    let said = captured.lines().into_iter().any(|line| {
        line["level"] == "WARN" && line["fields"]["dropped"] == "citations on text blocks"
    });
    assert!(said);
}

/// What a model's rules take from the client's request is named too:
/// K3 fixes `temperature`, `top_p` and `n`.
#[tokio::test]
async fn what_the_rules_remove_is_named_in_the_header_and_the_line() {
    let (captured, _guard) = Captured::start();
    let mock = healthy_mock().await;
    let gw = gateway(json!({
        "models": {"providers": {"kimi": {"baseUrl": mock.base_url(), "apiKey": KEY}}},
        "agents": {"defaults": {"model": "kimi/k3"}},
    }))
    .await;
    let body = json!({"model": "kimi/k3", "temperature": 0.2, "top_p": 0.5,
                      "messages": [{"role": "user", "content": "hi"}]});
    let response = gw.chat(body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-clawgate-dropped"),
        "temperature, top_p"
    );
    let _ = response.bytes().await;
    let sent = &mock.requests()[0]["body"];
    assert!(sent.get("temperature").is_none(), "{sent}");
    let warned = captured.lines().into_iter().any(|line| {
        line["level"] == "WARN"
            && line["fields"]["target"] == "kimi/k3"
            && line["fields"]["dropped"] == "temperature, top_p"
    });
    assert!(warned);
}

/// Two requests whose unknown members differ are each named by name in a
/// line, though the header says `unknown members` for both; and
/// `citations` on a system prompt's text block, or a system message's,
/// are named as on a user's.
#[tokio::test]
async fn each_set_of_unknown_members_is_said_by_name_and_system_citations_are_named() {
    let (captured, _guard) = Captured::start();
    let mock = healthy_mock().await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {"named-each": {
            "baseUrl": mock.base_url(), "apiKey": KEY, "api": "openai-completions",
            "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": "named-each/m"}},
    }))
    .await;
    for odd in ["first_odd", "second_odd"] {
        let body = json!({"model": "named-each/m", "max_tokens": 10, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi", odd: 1}]}]});
        let response = gw.messages(body).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-clawgate-dropped"), "unknown members");
        let _ = response.bytes().await;
    }
    let lines = captured.lines();
    for odd in ["first_odd", "second_odd"] {
        let said = lines.iter().any(|line| {
            line["level"] == "WARN"
                && line["fields"]["target"] == "named-each/m"
                && (line["fields"]["unknown"].as_str()).is_some_and(|u| u.contains(odd))
        });
        assert!(said, "{odd}: {lines:?}");
    }

    let citation = json!([{"type": "char_location", "cited_text": "c", "document_index": 0,
                           "start_char_index": 0, "end_char_index": 1}]);
    let in_system = json!({"model": "named-each/m", "max_tokens": 10,
        "system": [{"type": "text", "text": "S1", "citations": citation}],
        "messages": [{"role": "user", "content": "hi"}]});
    let in_a_system_message = json!({"model": "named-each/m", "max_tokens": 10, "messages": [
        {"role": "system", "content": [{"type": "text", "text": "S1", "citations": citation}]},
        {"role": "user", "content": "hi"}]});
    for body in [in_system, in_a_system_message] {
        let response = gw.messages(body.clone()).await;
        assert_eq!(response.status(), 200, "{body}");
        let dropped = header(&response, "x-clawgate-dropped");
        assert!(
            dropped.contains("citations on text blocks"),
            "{body}: {dropped}"
        );
        let _ = response.bytes().await;
    }
}

/// To a target of the client's own format, an unknown member goes as sent:
/// a line about what else was dropped does not name it.
#[tokio::test]
async fn an_unknown_member_a_same_format_target_gets_is_not_said_dropped() {
    let (captured, _guard) = Captured::start();
    let mock = healthy_mock().await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {"carried-unknown": {
            "baseUrl": format!("{}/", mock.base_url().trim_end_matches("/v1")), "apiKey": KEY,
            "api": "anthropic-messages", "dialect": "kimi-coding",
            "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": "carried-unknown/m"}},
    }))
    .await;
    let body = json!({"model": "carried-unknown/m", "max_tokens": 10, "future_member": 1,
                      "context_management": {"edits": []},
                      "messages": [{"role": "user", "content": "hi"}]});
    let response = gw.messages(body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-clawgate-dropped"),
        "context_management"
    );
    let _ = response.bytes().await;
    let sent = &mock.requests()[0]["body"];
    assert_eq!(sent["future_member"], 1, "carried: {sent}");
    let lines = captured.lines();
    let line = (lines.iter())
        .find(|line| line["level"] == "WARN" && line["fields"]["target"] == "carried-unknown/m")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(line["fields"]["unknown"], "", "{line}");
}

/// Names the client writes (a member's, a server tool's type) are kept to
/// 128 characters in the line and the header, and a key pasted in one is
/// not repeated: a client's 1 MB name held that much for a minute a line,
/// and was written whole to the log and into the header.
#[tokio::test]
async fn the_names_a_client_writes_are_cut_short_and_scrubbed() {
    let (captured, _guard) = Captured::start();
    let mock = healthy_mock().await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {"long-names": {
            "baseUrl": mock.base_url(), "apiKey": KEY, "api": "openai-completions",
            "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": "long-names/m"}},
    }))
    .await;
    let long = format!("{KEY}{}", "n".repeat(1 << 20));
    let body = json!({"model": "long-names/m", "max_tokens": 10, &long: 1,
        "tools": [{"name": "web_search", "type": format!("web_search_{long}")}],
        "messages": [{"role": "user", "content": "hi"}]});
    let response = gw.messages(body).await;
    assert_eq!(response.status(), 200);
    let named = header(&response, "x-clawgate-dropped").to_string();
    let _ = response.bytes().await;
    assert!(named.len() < 1024, "{} bytes", named.len());
    assert!(!named.contains(KEY), "{named}");
    let lines = captured.lines();
    let line = (lines.iter())
        .find(|line| line["level"] == "WARN" && line["fields"]["target"] == "long-names/m")
        .expect("the line is said");
    let said = line.to_string();
    assert!(said.len() < 2048, "{} bytes", said.len());
    assert!(!said.contains(KEY), "{said}");
    assert!(said.contains('…'), "{said}");
}

/// What an answer holds that the client's API has no place for (a chat
/// provider's `annotations` and `images`, OpenRouter's reasoning
/// signatures, to a Messages or Responses client) is named in the log,
/// streamed or whole, not lost without a word.
#[tokio::test]
async fn answer_members_the_clients_api_cannot_hold_are_named() {
    let (captured, _guard) = Captured::start();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|| async {
            let cite =
                json!({"type": "url_citation", "url_citation": {"url": "https://a.example"}});
            let image =
                json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}});
            let chunks = [
                json!({"id": "c1", "model": "m", "choices": [{"index": 0,
                    "delta": {"role": "assistant", "content": "Paris", "annotations": [cite]}}]}),
                json!({"id": "c1", "model": "m", "choices": [{"index": 0,
                    "delta": {"reasoning_details": [{"type": "reasoning.text", "text": "",
                        "signature": "EqQBCkYIBxgCKkD", "format": "anthropic-claude-v1", "index": 0}]}}]}),
                json!({"id": "c1", "model": "m", "choices": [{"index": 0,
                    "delta": {"images": [image]}, "finish_reason": "stop"}]}),
            ];
            let body: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
            (
                [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
                body + "data: [DONE]\n\n",
            )
        }),
    );
    let base = common::provider_app(app).await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {"cites": {
            "baseUrl": base, "apiKey": KEY, "api": "openai-completions",
            "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": "cites/m"}},
    }))
    .await;
    for stream in [false, true] {
        let messages = json!({"model": "cites/m", "max_tokens": 10, "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]});
        let responses = json!({"model": "cites/m", "stream": stream, "input": "hi"});
        for (api, body) in [("Messages", messages), ("Responses", responses)] {
            let before = captured.lines().len();
            let response = match api {
                "Messages" => gw.messages(body).await,
                _ => gw.responses(body).await,
            };
            assert_eq!(response.status(), 200, "{api}");
            let text = response.text().await.unwrap();
            assert!(text.contains("Pari"), "{api}: {text}");
            let named = |level: &str| -> Vec<String> {
                (captured.lines()[before..].iter())
                    .filter(|line| line["level"] == level)
                    .filter_map(|line| line["fields"]["message"].as_str().map(str::to_string))
                    .collect()
            };
            // Reasoning's signatures, documented as not carried and sent
            // with most of OpenRouter's reasoning, at INFO.
            let signed = "reasoning_details signatures and encrypted reasoning";
            for (member, level) in [
                ("annotations", "WARN"),
                ("images", "WARN"),
                (signed, "INFO"),
            ] {
                let said =
                    format!("the answer's `{member}` is not carried to a {api} client: dropped");
                let named = named(level);
                assert!(named.contains(&said), "{api}, stream {stream}: {named:?}");
            }
        }
    }
}
