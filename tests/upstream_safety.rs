//! What a provider can send that must not hurt: redirects (never followed,
//! so keys stay with the provider they belong to), secrets and control
//! characters in error texts (scrubbed and escaped for clients and logs),
//! answers and events of any size (bounded by `gateway.limits`), malformed
//! first events (a failed attempt) and odd `Retry-After` values (no panic).

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clawgate_mock::MockOptions;
use common::*;
use serde_json::{Value, json};

fn stream_request() -> Value {
    json!({"messages": user_message(), "stream": true})
}

/// Log output captured from the current thread, which in a `#[tokio::test]`
/// runs the gateway, its connections and the mocks.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Captures the text log (the `serve` format without colours) until the
    /// guard is dropped.
    fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        common::log::keep_callsites_live();
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A provider message holding the configured key, a key clawgate never
/// held, and a line break that would forge a log line.
fn hostile_message() -> String {
    format!("bad key {KEY}, Authorization: Bearer sk-live-0123456789abcdef\nFAKE LOG LINE")
}

fn assert_clean(text: &str, what: &str) {
    assert!(
        !text.contains(KEY),
        "{what} holds the configured key: {text}"
    );
    assert!(
        !text.contains("sk-live-0123456789abcdef"),
        "{what} holds a bearer token: {text}"
    );
    assert!(
        !text.contains("\nFAKE LOG LINE"),
        "{what} holds a raw line break from the provider: {text}"
    );
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_is_a_failure_naming_its_target() {
    let target = healthy_mock().await;
    let location = format!("{}/chat/completions?key={KEY}", target.base_url());
    let redirecting = || {
        mock(MockOptions {
            redirect_to: Some(location.clone()),
            ..MockOptions::default()
        })
    };
    let with_api_key_header = |mut config: Value| {
        config["models"]["providers"]["primary"]["headers"] = json!({"x-api-key": KEY});
        config
    };

    // A healthy backup answers.
    let (primary, backup) = (redirecting().await, healthy_mock().await);
    let gw = gateway(with_api_key_header(chain_config(&primary, &backup))).await;
    let response = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");
    assert_eq!(header(&response, "x-clawgate-attempts"), "2");

    // No backup: the attempt is reported with the target, scrubbed.
    let (primary, backup) = (redirecting().await, failing_mock(500, "server_error").await);
    let gw = gateway(with_api_key_header(chain_config(&primary, &backup))).await;
    let response = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    let attempt = &body["error"]["attempts"][0];
    assert_eq!(attempt["outcome"], "config", "{body}");
    assert_eq!(attempt["status"], 307, "{body}");
    let message = attempt["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "{}/chat/completions?key=[redacted]",
            target.base_url()
        )),
        "{message}"
    );
    assert_clean(&body.to_string(), "the error body");

    assert!(
        target.requests().is_empty(),
        "the redirect target never sees the request or its x-api-key"
    );
}

#[tokio::test]
async fn a_mid_stream_error_event_is_scrubbed_for_the_client_and_the_log() {
    let (logs, _guard) = Logs::capture();
    let primary = mock(MockOptions {
        error_after_chunks: Some(2),
        fail_type: format!("server_error {KEY}"),
        fail_message: hostile_message(),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let gw = gateway(chain_config(&primary, &backup)).await;
    let body = gw.chat(stream_request()).await.text().await.unwrap();
    let events = sse_data(&body);
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "upstream_error", "{body}");
    let message = last["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("primary/m: the provider reported: bad key [redacted]"),
        "{message}"
    );
    assert_clean(&body, "the client's stream");
    let logs = logs.text();
    assert!(logs.contains("stream ended abnormally"), "{logs}");
    assert!(
        logs.contains("\\nFAKE LOG LINE"),
        "escaped, not dropped: {logs}"
    );
    assert_clean(&logs, "the log");
}

#[tokio::test]
async fn error_texts_of_failed_attempts_are_scrubbed_and_escaped_in_the_log() {
    let (logs, _guard) = Logs::capture();
    let primary = mock(MockOptions {
        fail_status: Some(500),
        fail_type: format!("server_error\n{KEY}"),
        fail_message: hostile_message(),
        ..MockOptions::default()
    })
    .await;
    let backup = failing_mock(503, "server_error").await;
    let gw = gateway(chain_config(&primary, &backup)).await;
    let response = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(response.status(), 502);
    let body = response.text().await.unwrap();
    assert_clean(&body, "the error body");
    let logs = logs.text();
    assert!(logs.contains("attempt failed"), "{logs}");
    assert!(logs.contains("\\nFAKE LOG LINE"), "{logs}");
    assert_clean(&logs, "the log");
}

#[tokio::test]
async fn an_answer_over_the_limit_fails_its_attempt_and_releases_the_provider() {
    let limits = json!({"limits": {"maxResponseBytes": 1024 * 1024}});
    let large = || {
        mock(MockOptions {
            reply_bytes: Some(2 * 1024 * 1024),
            chunk_delay_ms: 10,
            ..MockOptions::default()
        })
    };

    let (primary, backup) = (large().await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = limits.clone();
    let gw = gateway(config).await;
    let response = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");
    tokio::time::timeout(Duration::from_secs(10), primary.stream_abandoned())
        .await
        .expect("the oversized answer's connection is dropped, not read to its end");

    let (primary, backup) = (large().await, large().await);
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = limits;
    let gw = gateway(config).await;
    let response = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["attempts"][0]["outcome"], "too_large");
    assert_eq!(
        body["error"]["attempts"][1]["message"],
        "the response is larger than the limit of 1048576 bytes (gateway.limits.maxResponseBytes)"
    );
}

#[tokio::test]
async fn a_client_leaving_during_a_slow_large_answer_cancels_the_upstream_request() {
    // The gateway streams from the provider also for a client that does not
    // stream: the provider sends 8 MB of text, then nothing more (the
    // answer never ends, so the mock cannot have finished it however fast
    // the machine); the client gives up after a second.
    let slow = MockOptions {
        reply_bytes: Some(8 * 1024 * 1024),
        stall_after_chunks: Some(2),
        ..MockOptions::default()
    };
    let (primary, backup) = (mock(slow).await, healthy_mock().await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    let request = gw.chat(json!({"messages": user_message()}));
    assert!(
        tokio::time::timeout(Duration::from_secs(1), request)
            .await
            .is_err()
    );
    tokio::time::timeout(Duration::from_secs(10), primary.stream_abandoned())
        .await
        .expect("the upstream request is dropped when the client leaves");
}

#[tokio::test]
async fn an_event_over_the_limit_fails_the_attempt_or_ends_the_stream() {
    let limit = 64 * 1024;
    let gateway_limits = json!({"limits": {"maxEventBytes": limit}});

    // Before the stream starts: the attempt fails and the backup answers.
    let huge_first = format!(
        r#"{{"choices":[{{"delta":{{"content":"{}"}}}}]}}"#,
        "x".repeat(2 * limit)
    );
    let (primary, backup) = (
        mock(MockOptions {
            first_event: Some(huge_first),
            ..MockOptions::default()
        })
        .await,
        healthy_mock().await,
    );
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = gateway_limits.clone();
    let gw = gateway(config).await;
    let response = gw.chat(stream_request()).await;
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");
    let events = sse_data(&response.text().await.unwrap());
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));

    // After it started: an error event ends it, and the upstream is let go.
    let (primary, backup) = (
        mock(MockOptions {
            reply_bytes: Some(4 * 1024 * 1024),
            chunk_delay_ms: 100,
            ..MockOptions::default()
        })
        .await,
        healthy_mock().await,
    );
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = gateway_limits;
    let gw = gateway(config).await;
    let response = gw.chat(stream_request()).await;
    assert_eq!(header(&response, "x-clawgate-provider"), "primary");
    let events = sse_data(&response.text().await.unwrap());
    assert!(!events.iter().any(|e| e == "[DONE]"), "{events:?}");
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "event_too_large", "{last}");
    assert_eq!(
        last["error"]["message"],
        "primary/m: an upstream event is larger than the limit of 65536 bytes (gateway.limits.maxEventBytes)"
    );
    tokio::time::timeout(Duration::from_secs(10), primary.stream_abandoned())
        .await
        .expect("the upstream stream is dropped at the oversized event");
    assert!(backup.requests().is_empty());
}

#[tokio::test]
async fn a_malformed_first_event_fails_the_attempt() {
    for first in ["not json", r#"{"object":"chat.completion.chunk"}"#, "[1,2]"] {
        let (primary, backup) = (
            mock(MockOptions {
                first_event: Some(first.into()),
                ..MockOptions::default()
            })
            .await,
            healthy_mock().await,
        );
        let gw = gateway(chain_config(&primary, &backup)).await;
        let response = gw.chat(stream_request()).await;
        assert_eq!(response.status(), 200, "{first}");
        assert_eq!(
            header(&response, "x-clawgate-provider"),
            "backup",
            "{first}"
        );
        let events = sse_data(&response.text().await.unwrap());
        assert!(!events.iter().any(|e| e == first), "{first}: {events:?}");
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    }
}

#[tokio::test]
async fn comments_are_signs_of_life_relayed_once_the_stream_has_started() {
    let primary = mock(MockOptions {
        comment: Some("OPENROUTER PROCESSING".into()),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let gw = gateway(chain_config(&primary, &backup)).await;
    let response = gw.chat(stream_request()).await;
    assert_eq!(header(&response, "x-clawgate-provider"), "primary");
    let body = response.text().await.unwrap();
    // Comments before the answer started are not relayed; later ones are.
    assert!(body.starts_with("data: "), "{body}");
    assert!(
        body.contains("\n\n: OPENROUTER PROCESSING\n\ndata: "),
        "{body}"
    );
    let events = sse_data(&body);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let text: String = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str::<Value>(e).unwrap())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(text, "Hello from clawgate-mock.");
}

#[tokio::test]
async fn odd_retry_after_values_never_panic_and_are_capped() {
    // (primary's Retry-After, the one passed on with the backup's `3`).
    let cases = [
        ("1e20", "3"),
        ("NaN", "3"),
        ("inf", "3"),
        ("-1", "3"),
        ("", "3"),
        ("99999999999999999999999", "3"),
        ("Fri, 31 Dec 9999 23:59:59 GMT", "3"),
        ("Thu, 01 Jan 1970 00:00:00 GMT", "1"),
        ("2", "2"),
    ];
    for (text, expected) in cases {
        let primary = mock(MockOptions {
            fail_status: Some(429),
            retry_after_text: Some(text.into()),
            ..MockOptions::default()
        })
        .await;
        let backup = mock(MockOptions {
            fail_status: Some(429),
            retry_after: Some(3),
            ..MockOptions::default()
        })
        .await;
        let mut config = chain_config(&primary, &backup);
        // Parsing is under test here, not waiting: no retries.
        config["gateway"] = json!({"retries": {"perTarget": 0}});
        let gw = gateway(config).await;
        let response = gw.chat(json!({"messages": user_message()})).await;
        assert_eq!(response.status(), 429, "Retry-After {text:?}");
        assert_eq!(
            header(&response, "retry-after"),
            expected,
            "Retry-After {text:?}"
        );
    }

    // Alone, a huge value is capped at an hour.
    let huge = || {
        mock(MockOptions {
            fail_status: Some(429),
            retry_after_text: Some("99999999999".into()),
            ..MockOptions::default()
        })
    };
    let (primary, backup) = (huge().await, huge().await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    let response = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(header(&response, "retry-after"), "3600");
}
