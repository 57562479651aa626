//! One log line per request, whatever its outcome, written when the
//! response ends and carrying the request id.
//!
//! Each test runs on a current-thread runtime with a log subscriber set for
//! that thread, so every line the gateway writes is captured. Every test in
//! this file sets one: a test without would leave tracing's per-callsite
//! cache saying nobody listens.

mod common;

use clawgate_mock::MockOptions;
use common::log::Captured;
use common::*;
use serde_json::{Value, json};

fn field<'a>(line: &'a Value, name: &str) -> &'a Value {
    &line["fields"][name]
}

#[tokio::test]
async fn every_request_gets_one_line_whatever_its_outcome() {
    let (captured, _guard) = Captured::start();
    let primary = failing_mock(503, "overloaded").await;
    let backup = healthy_mock().await;
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = json!({"auth": {"token": "t0ken"}, "maxBodyBytes": 2048});
    let gw = gateway(config).await;
    let client = gw.client();
    let post = |body: Value| {
        client
            .post(format!("{}/v1/chat/completions", gw.url))
            .bearer_auth("t0ken")
            .header("x-request-id", "req-first-hour")
            .json(&body)
    };

    let answered = post(json!({"messages": user_message()}))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
    answered.bytes().await.unwrap();
    let unknown = post(json!({"model": "primary/n", "messages": user_message()}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let too_large = post(json!({"messages": [{"role": "user", "content": "x".repeat(4096)}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), 413);
    let no_token = client
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&json!({"messages": user_message()}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);

    let lines = captured.wait_for(4).await;
    assert_eq!(lines.len(), 4, "{lines:#?}");
    for line in &lines {
        assert_eq!(line["level"], "INFO", "{line}");
        let expected = format!("POST /v1/chat/completions {}", field(line, "status"));
        assert_eq!(field(line, "message"), &json!(expected));
        assert!(field(line, "total_ms").is_u64(), "{line}");
        assert!(field(line, "first_byte_ms").is_u64(), "{line}");
        assert_eq!(field(line, "end"), "complete", "{line}");
        assert!(
            line["span"]["id"].is_string(),
            "the line carries the request id: {line}"
        );
    }
    let answered = &lines[0];
    assert_eq!(answered["span"]["id"], "req-first-hour");
    assert_eq!(field(answered, "status"), 200);
    assert_eq!(field(answered, "model"), "default");
    assert_eq!(field(answered, "answered_by"), "backup/m");
    assert_eq!(
        field(answered, "attempts"),
        "primary/m:provider_error,backup/m:ok"
    );
    assert!(field(answered, "tokens_in").is_u64(), "{answered}");
    assert!(field(answered, "tokens_out").is_u64(), "{answered}");

    assert_eq!(field(&lines[1], "status"), 404);
    assert_eq!(field(&lines[1], "model"), "primary/n");
    assert!(field(&lines[1], "answered_by").is_null());
    assert_eq!(field(&lines[2], "status"), 413);
    assert_eq!(field(&lines[3], "status"), 401);

    // Probes and scrapers are logged at debug only: the next info line is
    // the request after them.
    let health = client
        .get(format!("{}/healthz", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    health.bytes().await.unwrap();
    let unknown_route = client
        .get(format!("{}/v2/models", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_route.status(), 404);
    let lines = captured.wait_for(5).await;
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert_eq!(field(&lines[4], "message"), "GET /v2/models 404");
}

#[tokio::test]
async fn a_stream_is_logged_at_its_end_and_a_client_that_leaves_is_marked() {
    let (captured, _guard) = Captured::start();
    let upstream = healthy_mock().await;
    let slow = mock(MockOptions {
        stall_after_chunks: Some(2),
        ..MockOptions::default()
    })
    .await;
    let config = json!({
        "models": {"mode": "replace", "providers": {"fast": provider(&upstream), "slow": provider(&slow)}},
        "agents": {"defaults": {"model": {"primary": "fast/m"}}},
    });
    let gw = gateway(config).await;

    // The client did not ask for usage; the log still has the tokens.
    let streamed = gw
        .chat(json!({"stream": true, "messages": user_message()}))
        .await;
    let body = streamed.text().await.unwrap();
    assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
    assert!(!body.contains("\"usage\""), "{body}");
    let lines = captured.wait_for(1).await;
    assert_eq!(field(&lines[0], "end"), "complete");
    assert_eq!(field(&lines[0], "answered_by"), "fast/m");
    assert!(field(&lines[0], "tokens_out").is_u64(), "{}", lines[0]);

    // The slow stream sends its first two chunks (a role, then the start of
    // the answer), then nothing: the client reads the head and leaves.
    let mut left = gw
        .chat(json!({"model": "slow/m", "stream": true, "messages": user_message()}))
        .await;
    assert_eq!(left.status(), 200);
    left.chunk().await.unwrap();
    drop(left);
    let lines = captured.wait_for(2).await;
    assert_eq!(field(&lines[1], "end"), "client_left", "{}", lines[1]);
    assert_eq!(field(&lines[1], "answered_by"), "slow/m");
}

/// Sends a chat request to `gw` and leaves after 300 ms, before any head.
async fn leave_before_the_head(gw: &TestGateway) {
    let left = gw
        .client()
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&json!({"messages": user_message()}))
        .timeout(std::time::Duration::from_millis(300))
        .send()
        .await;
    assert!(left.is_err_and(|e| e.is_timeout()), "no head came");
}

/// A primary that fails (503) and a backup whose streams stall after their
/// first chunks, chained: the mocks, kept alive, and the config.
async fn failing_then_stalling() -> ([clawgate_mock::MockServer; 2], Value) {
    let primary = failing_mock(503, "overloaded").await;
    let slow = mock(MockOptions {
        stall_after_chunks: Some(2),
        ..MockOptions::default()
    })
    .await;
    let config = chain_config(&primary, &slow);
    ([primary, slow], config)
}

/// A client that leaves before the response's head (a whole answer still
/// being assembled, after the primary failed) gets its line too: 499,
/// `client_left`, no first byte, every attempt, and the target it was
/// being sent to named as answering.
#[tokio::test]
async fn a_client_that_leaves_before_the_head_gets_a_line() {
    let (captured, _guard) = Captured::start();
    let (_mocks, config) = failing_then_stalling().await;
    let gw = gateway(config).await;
    // And it is counted, as a stream its client left is.
    let closed = || async {
        let text = (gw
            .client()
            .get(format!("{}/metrics", gw.url))
            .send()
            .await
            .unwrap())
        .text()
        .await
        .unwrap();
        let series = r#"clawgate_requests_total{outcome="client_closed"} "#;
        (text.lines().find_map(|line| line.strip_prefix(series)))
            .map_or(0.0, |count| count.trim().parse::<f64>().unwrap())
    };
    let before = closed().await;
    leave_before_the_head(&gw).await;
    let lines = captured.wait_for(1).await;
    assert!(closed().await > before, "counted as client_closed");
    assert_eq!(field(&lines[0], "status"), 499, "{}", lines[0]);
    assert_eq!(field(&lines[0], "end"), "client_left");
    assert!(field(&lines[0], "first_byte_ms").is_null(), "{}", lines[0]);
    cut_on_the_backup(&lines[0], "client_left");
}

/// That `line`'s request failed on the primary and was cut (`end`) on the
/// backup, which is named as answering: it had the request.
fn cut_on_the_backup(line: &Value, end: &str) {
    assert_eq!(field(line, "answered_by"), "backup/m", "{line}");
    let attempts = field(line, "attempts").as_str().unwrap();
    assert!(
        attempts.starts_with("primary/m:") && attempts.ends_with(&format!(",backup/m:{end}")),
        "{attempts}"
    );
}

/// A request that shutdown's end of grace cuts while its chain waits on a
/// provider keeps its attempts, as one its client leaves does: what was
/// tried before, and the target it was sent to, noted `shutdown` and named
/// as answering (it had the request, so it is counted at its most).
#[tokio::test]
async fn a_request_shutdown_cuts_keeps_its_attempts() {
    let (captured, _guard) = Captured::start();
    let (mocks, mut config) = failing_then_stalling().await;
    config["gateway"] = json!({"shutdownGraceSeconds": 0.2});
    let mut gw = gateway(config).await;
    let url = format!("{}/v1/chat/completions", gw.url);
    let request = tokio::spawn(async move {
        let body = json!({"messages": user_message()});
        reqwest::Client::new().post(&url).json(&body).send().await
    });
    // Shut down only once the backup is assembling the whole answer.
    while mocks[1].requests().is_empty() {
        tokio::task::yield_now().await;
    }
    let server = gw.shut_down();
    let response = request.await.unwrap().unwrap();
    assert_eq!(response.status(), 503);
    server.await.unwrap().unwrap();
    let lines = captured.wait_for(1).await;
    assert_eq!(field(&lines[0], "status"), 503, "{}", lines[0]);
    cut_on_the_backup(&lines[0], "shutdown");
}

/// A client that leaves while it sends its body left: its line says 499
/// `client_left`, not a 400 that no one read.
#[tokio::test]
async fn a_client_that_leaves_while_sending_its_body_left() {
    use tokio::io::AsyncWriteExt;
    let (captured, _guard) = Captured::start();
    let backup = healthy_mock().await;
    let gw = gateway(chain_config(&backup, &backup)).await;
    let address = gw.url.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n\
                content-type: application/json\r\ncontent-length: 5000\r\n\r\n{\"messages\": [";
    socket.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    drop(socket);
    let lines = captured.wait_for(1).await;
    assert_eq!(field(&lines[0], "status"), 499, "{}", lines[0]);
    assert_eq!(field(&lines[0], "end"), "client_left", "{}", lines[0]);
    assert!(backup.requests().is_empty());
}

/// A client that leaves while the chain waits for a provider's place
/// (its `maxConcurrent` taken) gets a line naming what was tried before:
/// the primary's failure. Nothing answered.
#[tokio::test]
async fn a_client_that_leaves_waiting_for_a_place_keeps_the_attempts_before() {
    let (captured, _guard) = Captured::start();
    let (_mocks, mut config) = failing_then_stalling().await;
    config["models"]["providers"]["backup"]["maxConcurrent"] =
        json!({"requests": 1, "waitSeconds": 5});
    let gw = gateway(config).await;
    // The backup's one place, held by a stream that stalls.
    let holder = gw
        .chat(json!({"model": "backup/m", "stream": true, "messages": user_message()}))
        .await;
    assert_eq!(holder.status(), 200);
    leave_before_the_head(&gw).await;
    let lines = captured.wait_for(1).await;
    assert_eq!(field(&lines[0], "status"), 499, "{}", lines[0]);
    assert!(field(&lines[0], "answered_by").is_null(), "{}", lines[0]);
    let attempts = field(&lines[0], "attempts").as_str().unwrap();
    assert!(attempts.starts_with("primary/m:"), "{attempts}");
    assert!(!attempts.contains("backup"), "{attempts}");
    drop(holder);
}

/// A client that leaves while the chain waits to try a target again (it
/// asked to be retried after a while) is not counted as answered there:
/// the provider refused the request and makes no answer.
#[tokio::test]
async fn a_client_that_leaves_between_two_tries_is_not_answered() {
    let (captured, _guard) = Captured::start();
    let busy = mock(MockOptions {
        fail_status: Some(429),
        retry_after: Some(2),
        ..MockOptions::default()
    })
    .await;
    let config = json!({
        "models": {"mode": "replace", "providers": {"busy": provider(&busy)}},
        "agents": {"defaults": {"model": {"primary": "busy/m"}}},
    });
    let gw = gateway(config).await;
    leave_before_the_head(&gw).await;
    let lines = captured.wait_for(1).await;
    assert_eq!(field(&lines[0], "status"), 499, "{}", lines[0]);
    assert!(field(&lines[0], "answered_by").is_null(), "{}", lines[0]);
    assert_eq!(field(&lines[0], "attempts"), "busy/m:client_left");
}

/// Sends the `sent`th chat request; its status and its access line's
/// `attempts`.
async fn attempts_of(gw: &TestGateway, captured: &Captured, sent: usize) -> (u16, String) {
    let answer = gw.chat(json!({"messages": user_message()})).await;
    let status = answer.status().as_u16();
    answer.bytes().await.unwrap();
    let lines = captured.wait_for(sent).await;
    let attempts = field(&lines[sent - 1], "attempts").as_str().unwrap();
    (status, attempts.to_string())
}

#[tokio::test]
async fn a_target_skipped_while_cooling_down_says_so() {
    let (captured, _guard) = Captured::start();
    let primary = failing_mock(503, "overloaded").await;
    let backup = healthy_mock().await;
    let gw = gateway(chain_config(&primary, &backup)).await;
    // Failures cool the primary down (after a few, at most); from then on
    // requests skip it, and the access line says skipped, not the failure
    // that started the cooldown.
    for sent in 1..=6 {
        let (status, attempts) = attempts_of(&gw, &captured, sent).await;
        assert_eq!(status, 200);
        if attempts.contains("skipped") {
            assert_eq!(attempts, "primary/m:skipped(cooling_down),backup/m:ok");
            return;
        }
        assert_eq!(attempts, "primary/m:provider_error,backup/m:ok");
    }
    panic!("the primary never cooled down");
}

/// `clawgate_cooldown_skips_total` counts what the access lines say was
/// skipped while cooling down: with both targets cooling, the one tried
/// anyway is tried, not also skipped.
#[tokio::test]
async fn the_cooldown_skips_counted_are_those_the_access_lines_name() {
    let (captured, _guard) = Captured::start();
    let limited = || MockOptions {
        fail_status: Some(429),
        fail_type: "rate_limit_reached_error".into(),
        retry_after: Some(120),
        ..MockOptions::default()
    };
    let (a, b) = (mock(limited()).await, mock(limited()).await);
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {"skips-a": provider(&a), "skips-b": provider(&b)}},
        "agents": {"defaults": {"model": {"primary": "skips-a/m", "fallbacks": ["skips-b/m"]}}},
    }))
    .await;
    let mut named = std::collections::BTreeMap::new();
    for sent in 1..=4 {
        let (_, attempts) = attempts_of(&gw, &captured, sent).await;
        for attempt in attempts.split(',') {
            if let Some(target) = attempt.strip_suffix(":skipped(cooling_down)") {
                *named.entry(target.to_string()).or_insert(0) += 1;
            }
        }
    }
    assert!(!named.is_empty(), "both targets cooled down");
    let metrics = gw.metrics().await;
    for target in ["skips-a/m", "skips-b/m"] {
        let provider = target.split('/').next().unwrap();
        let line =
            format!("clawgate_cooldown_skips_total{{provider=\"{provider}\",model=\"{target}\"}} ");
        let counted = (metrics.lines())
            .find_map(|l| l.strip_prefix(line.as_str()))
            .map_or(0, |n| n.trim().parse::<u64>().unwrap());
        let said = named.get(target).copied().unwrap_or(0);
        assert_eq!(counted, said, "{target}: {named:?}");
    }
}

#[tokio::test]
async fn a_key_the_provider_refuses_is_named_by_its_variable_in_the_warn_line() {
    let (captured, _guard) = Captured::start();
    let primary = failing_mock(401, "invalid_authentication_error").await;
    let backup = healthy_mock().await;
    let mut config = chain_config(&primary, &backup);
    config["models"]["providers"]["primary"]["apiKey"] = json!("${PRIMARY_KEY}");
    let gw = gateway_with_env(config, &[("PRIMARY_KEY", "sk-primary-key-0123")]).await;
    let answered = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(answered.status(), 200);
    answered.bytes().await.unwrap();
    let lines = captured.lines();
    let refused = lines
        .iter()
        .find(|line| line["fields"]["outcome"] == "auth")
        .unwrap_or_else(|| panic!("the attempt's line: {lines:?}"));
    assert_eq!(field(refused, "key_var"), "PRIMARY_KEY", "{refused}");
    assert!(!refused.to_string().contains("sk-primary-key-0123"));
}

#[tokio::test]
async fn refused_lines_name_the_client_and_the_reason() {
    let (captured, _guard) = Captured::start();
    let primary = healthy_mock().await;
    let backup = healthy_mock().await;
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = json!({"clients": {"ci": {"key": "${CI_KEY}", "models": ["primary/m"],
        "limits": {"requestsPerMinute": 2}}}});
    let key = "ci-key-0123456789abcdef";
    let gw = gateway_with_env(config, &[("CI_KEY", key)]).await;
    let ask = |model: &str| {
        gw.client()
            .post(format!("{}/v1/chat/completions", gw.url))
            .bearer_auth(key)
            .json(&json!({"model": model, "messages": user_message()}))
            .send()
    };
    assert_eq!(ask("primary/m").await.unwrap().status(), 200);
    assert_eq!(ask("backup/m").await.unwrap().status(), 403);
    assert_eq!(ask("primary/m").await.unwrap().status(), 429);
    let lines = captured.wait_for(3).await;
    let said: Vec<(&Value, &Value, &Value)> = lines
        .iter()
        .map(|line| {
            (
                field(line, "status"),
                field(line, "client"),
                field(line, "reason"),
            )
        })
        .collect();
    assert_eq!(
        said,
        [
            (&json!(200), &json!("ci"), &Value::Null),
            (&json!(403), &json!("ci"), &json!("model_not_allowed")),
            (&json!(429), &json!("ci"), &json!("client_rate_limited")),
        ]
    );
    assert_eq!(field(&lines[1], "model"), "backup/m");
}

#[tokio::test]
async fn the_chains_last_target_names_no_next_one() {
    let (captured, _guard) = Captured::start();
    let primary = failing_mock(503, "overloaded").await;
    let backup = failing_mock(503, "overloaded").await;
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = json!({"retries": {"perTarget": 0}});
    let gw = gateway(config).await;
    let failed = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(failed.status(), 502);
    failed.bytes().await.unwrap();
    let lines = captured.lines();
    let next_of = |model: &str| {
        lines
            .iter()
            .find(|l| l["fields"]["model"] == model && l["fields"]["tries"].is_u64())
            .map(|l| field(l, "next").clone())
            .unwrap_or_else(|| panic!("{model}'s attempt line: {lines:?}"))
    };
    assert_eq!(next_of("primary/m"), "next");
    assert_eq!(next_of("backup/m"), "none");
}

/// A request still sending its body a second after the grace (not in the
/// chain, so not ended by it) is cut: its connection closes, and its access
/// line says shutdown cut it, not its client.
#[tokio::test]
async fn a_request_cut_by_shutdown_says_so_in_its_line() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (captured, _guard) = Captured::start();
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = json!({"shutdownGraceSeconds": 0.2});
    let mut gw = gateway(config).await;
    let host = gw.url.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"mess"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    // The gateway has read the head and waits for the rest of the body.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let server = gw.shut_down();
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("the server stops a second after the grace")
        .unwrap()
        .unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tcp.read_to_end(&mut rest),
    )
    .await
    .expect("the connection is closed")
    .unwrap();
    let lines = captured.wait_for(1).await;
    assert_eq!(field(&lines[0], "end"), "shutdown", "{}", lines[0]);
    assert_eq!(field(&lines[0], "status"), 499, "{}", lines[0]);
}
