//! The fallback policy end to end, through `clawgate-mock` fault injection:
//! one row per failure class, streamed and not, checking which upstreams
//! were called and how often, what the client got and how long it took;
//! then retries, `Retry-After`, cooldowns, the chain deadline, the
//! per-request opt-out and `/v1/status`.
//!
//! Timeouts are configured short (0.3 s) so that time can be measured
//! honestly: upper bounds carry generous slack, nothing sleeps to wait.

mod common;

use std::time::Duration;

use clawgate_mock::{MockOptions, MockServer};
use common::*;
use serde_json::{Value, json};
use tokio::time::Instant;

/// Short timeouts and quick backoffs, so each row takes well under a second.
fn fast(mut config: Value) -> Value {
    config["gateway"] = json!({
        "timeouts": {"firstByteSeconds": 0.3, "idleSeconds": 0.3, "chainSeconds": 3},
        "retries": {"perTarget": 1, "backoffBaseSeconds": 0.01, "backoffMaxSeconds": 0.02},
    });
    config
}

fn fail(status: u16, kind: &str, message: &str) -> MockOptions {
    MockOptions {
        fail_status: Some(status),
        fail_type: kind.into(),
        fail_message: message.into(),
        ..MockOptions::default()
    }
}

/// What a row expects of the primary and of the request.
#[derive(Clone, Copy)]
enum Expect {
    /// Retried once, then the backup answered.
    RetriedThenBackup,
    /// Not retried; the backup answered.
    Backup,
    /// The request itself was refused: passed on, the backup not called.
    Final(u16),
}

struct Outcome {
    status: u16,
    provider: String,
    body: String,
    elapsed: Duration,
}

async fn send(gw: &TestGateway, stream: bool) -> Outcome {
    let started = Instant::now();
    let response = gw
        .chat(json!({"messages": user_message(), "stream": stream}))
        .await;
    let status = response.status().as_u16();
    let provider = header(&response, "x-clawgate-provider").to_string();
    let body = response.text().await.unwrap();
    Outcome {
        status,
        provider,
        body,
        elapsed: started.elapsed(),
    }
}

/// A chat request limited to the chain's first target
/// (`x-clawgate-fallback: off`).
async fn without_fallback(gw: &TestGateway) -> reqwest::Response {
    (gw.client())
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("x-clawgate-fallback", "off")
        .json(&json!({"messages": user_message()}))
        .send()
        .await
        .unwrap()
}

/// The answer is whole: a JSON completion, or a stream ending in `[DONE]`.
fn assert_complete(outcome: &Outcome, stream: bool, row: &str) {
    if stream {
        let events = sse_data(&outcome.body);
        assert_eq!(
            events.last().map(String::as_str),
            Some("[DONE]"),
            "{row}: {}",
            outcome.body
        );
    } else {
        let body: Value = serde_json::from_str(&outcome.body).unwrap();
        assert_eq!(
            body["choices"][0]["message"]["content"], "Hello from clawgate-mock.",
            "{row}"
        );
    }
}

#[tokio::test]
async fn the_fault_matrix() {
    use Expect::*;
    let hang = MockOptions {
        hang: true,
        ..MockOptions::default()
    };
    let rows: Vec<(&str, MockOptions, Expect)> = vec![
        ("hang before headers", hang, Backup),
        ("500", fail(500, "server_error", "boom"), RetriedThenBackup),
        ("502", fail(502, "", "Bad Gateway"), RetriedThenBackup),
        ("503", fail(503, "", "unavailable"), RetriedThenBackup),
        ("529", fail(529, "", "overloaded"), RetriedThenBackup),
        (
            "429 overloaded",
            fail(
                429,
                "engine_overloaded_error",
                "The engine is currently overloaded",
            ),
            RetriedThenBackup,
        ),
        (
            "429 rate limit",
            fail(429, "rate_limit_reached_error", "max RPM reached"),
            RetriedThenBackup,
        ),
        (
            "429 quota",
            fail(429, "exceeded_current_quota_error", "quota exceeded"),
            Backup,
        ),
        (
            "429 billing text",
            fail(429, "", "Your account balance is insufficient"),
            Backup,
        ),
        ("402", fail(402, "", "Insufficient credits"), Backup),
        (
            "401",
            fail(401, "invalid_authentication_error", "bad key"),
            Backup,
        ),
        ("403", fail(403, "permission_denied_error", "no"), Backup),
        (
            "403 Kimi Coding User-Agent gate",
            MockOptions {
                require_user_agent: Some("KimiCLI/".into()),
                ..MockOptions::default()
            },
            Backup,
        ),
        (
            "404",
            fail(404, "resource_not_found_error", "no such model"),
            Backup,
        ),
        ("408", fail(408, "", "timeout"), Backup),
        ("499", fail(499, "", "closed"), Backup),
        ("504", fail(504, "", "gateway timeout"), Backup),
        ("522", fail(522, "", "origin timeout"), Backup),
        ("524", fail(524, "", "a timeout occurred"), Backup),
        (
            "400 content filter",
            fail(400, "content_filter", "considered high risk"),
            Final(400),
        ),
        (
            "400 invalid request",
            fail(400, "invalid_request_error", "tool_choice is invalid"),
            Final(400),
        ),
        ("422", fail(422, "", "Unprocessable Entity"), Final(422)),
        // One provider's body limit: the next may take the body.
        ("413", fail(413, "", "Request Entity Too Large"), Backup),
        // A stall is a stall, whatever the status said:
        // cut at the first-byte timeout, not retried.
        (
            "503 headers, then no body",
            MockOptions {
                stall_error_body: true,
                ..fail(503, "", "")
            },
            Backup,
        ),
        (
            "429 headers, then no body",
            MockOptions {
                stall_error_body: true,
                ..fail(429, "", "")
            },
            Backup,
        ),
    ];
    for (name, options, expect) in rows {
        for stream in [false, true] {
            let row = format!("{name} (stream: {stream})");
            let (primary, backup) = (mock(options.clone()).await, healthy_mock().await);
            let gw = gateway(fast(chain_config(&primary, &backup))).await;
            let outcome = send(&gw, stream).await;
            let (primary_calls, backup_calls) = match expect {
                RetriedThenBackup => (2, 1),
                Backup => (1, 1),
                Final(_) => (1, 0),
            };
            assert_eq!(primary.requests().len(), primary_calls, "{row}");
            assert_eq!(backup.requests().len(), backup_calls, "{row}");
            match expect {
                Final(status) => {
                    assert_eq!(outcome.status, status, "{row}: {}", outcome.body);
                    let body: Value = serde_json::from_str(&outcome.body).unwrap();
                    assert_eq!(body["error"]["code"], "upstream_rejected_request", "{row}");
                }
                _ => {
                    assert_eq!(outcome.status, 200, "{row}: {}", outcome.body);
                    assert_eq!(outcome.provider, "backup", "{row}");
                    assert_complete(&outcome, stream, &row);
                }
            }
            // The slowest row waits one 0.3 s first-byte timeout.
            assert!(
                outcome.elapsed < Duration::from_secs(2),
                "{row}: {:?}",
                outcome.elapsed
            );
        }
    }
}

#[tokio::test]
async fn streams_fall_over_until_the_first_meaningful_event() {
    let rows: Vec<(&str, MockOptions)> = vec![
        (
            "headers, then silence",
            MockOptions {
                first_byte_delay_ms: 5_000,
                ..MockOptions::default()
            },
        ),
        (
            "a role-only chunk, then silence",
            MockOptions {
                chunk_delay_ms: 5_000,
                ..MockOptions::default()
            },
        ),
        (
            "keep-alive comments, then silence",
            MockOptions {
                comment: Some("keep-alive".into()),
                chunk_delay_ms: 5_000,
                ..MockOptions::default()
            },
        ),
        (
            "dropped before the first event",
            MockOptions {
                drop_after_chunks: Some(0),
                ..MockOptions::default()
            },
        ),
        (
            "an error event first",
            MockOptions {
                error_after_chunks: Some(0),
                fail_type: "server_error".into(),
                ..MockOptions::default()
            },
        ),
        (
            "a malformed first event",
            MockOptions {
                first_event: Some("not json".into()),
                ..MockOptions::default()
            },
        ),
    ];
    for (name, options) in rows {
        let (primary, backup) = (mock(options).await, healthy_mock().await);
        let gw = gateway(fast(chain_config(&primary, &backup))).await;
        let outcome = send(&gw, true).await;
        assert_eq!(outcome.status, 200, "{name}");
        assert_eq!(outcome.provider, "backup", "{name}");
        assert_complete(&outcome, true, name);
        assert!(
            !outcome.body.contains("keep-alive"),
            "{name}: {}",
            outcome.body
        );
        assert!(outcome.elapsed < Duration::from_secs(2), "{name}");
    }
}

#[tokio::test]
async fn a_stream_broken_after_it_started_ends_with_an_error_event_not_a_fallback() {
    let primary = mock(MockOptions {
        reasoning: String::new(),
        drop_after_chunks: Some(3),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let gw = gateway(fast(chain_config(&primary, &backup))).await;
    let outcome = send(&gw, true).await;
    assert_eq!(outcome.provider, "primary");
    let events = sse_data(&outcome.body);
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "stream_interrupted", "{events:?}");
    assert!(backup.requests().is_empty());
}

#[tokio::test]
async fn context_length_moves_on_only_to_a_larger_window() {
    let too_long = fail(
        400,
        "invalid_request_error",
        "Invalid request: Your request exceeded model token limit: 8192",
    );
    let with_windows = |primary: &MockServer, backup: &MockServer, windows: (u64, u64)| {
        let mut config = fast(chain_config(primary, backup));
        let providers = &mut config["models"]["providers"];
        providers["primary"]["models"][0]["contextWindow"] = json!(windows.0);
        providers["backup"]["models"][0]["contextWindow"] = json!(windows.1);
        config
    };

    let (primary, backup) = (mock(too_long.clone()).await, healthy_mock().await);
    let gw = gateway(with_windows(&primary, &backup, (8192, 262_144))).await;
    let outcome = send(&gw, false).await;
    assert_eq!(outcome.status, 200);
    assert_eq!(outcome.provider, "backup");

    let (primary, backup) = (mock(too_long).await, healthy_mock().await);
    let gw = gateway(with_windows(&primary, &backup, (8192, 4096))).await;
    let outcome = send(&gw, false).await;
    assert_eq!(outcome.status, 400, "{}", outcome.body);
    assert!(
        backup.requests().is_empty(),
        "a smaller window is not tried"
    );
    let body: Value = serde_json::from_str(&outcome.body).unwrap();
    assert_eq!(body["error"]["code"], "upstream_rejected_request");
    let attempts = body["error"]["attempts"].as_array().unwrap();
    assert_eq!(attempts[1]["outcome"], "context_length");
    assert_eq!(attempts[1]["tries"], 0);
}

#[tokio::test]
async fn retry_after_is_honoured_within_the_cap() {
    let primary = mock(MockOptions {
        fail_times: Some(1),
        retry_after: Some(1),
        ..fail(429, "rate_limit_reached_error", "slow down")
    })
    .await;
    let backup = healthy_mock().await;
    let gw = gateway(fast(chain_config(&primary, &backup))).await;
    let outcome = send(&gw, true).await;
    assert_eq!(outcome.provider, "primary", "the retry after 1 s answered");
    assert_eq!(primary.requests().len(), 2);
    assert!(backup.requests().is_empty());
    assert!(
        outcome.elapsed >= Duration::from_secs(1),
        "{:?}",
        outcome.elapsed
    );

    // Longer than gateway.retries.maxRetryAfterSeconds: move on at once.
    let primary = mock(MockOptions {
        retry_after: Some(60),
        ..fail(429, "rate_limit_reached_error", "slow down")
    })
    .await;
    let backup = healthy_mock().await;
    let gw = gateway(fast(chain_config(&primary, &backup))).await;
    let outcome = send(&gw, true).await;
    assert_eq!(outcome.provider, "backup");
    assert_eq!(primary.requests().len(), 1);
    assert!(
        outcome.elapsed < Duration::from_secs(1),
        "{:?}",
        outcome.elapsed
    );
}

#[tokio::test]
async fn exhausted_chains_answer_with_the_status_that_means_the_same() {
    let hang = MockOptions {
        hang: true,
        ..MockOptions::default()
    };
    let cases: Vec<(MockOptions, MockOptions, u16, Option<&str>)> = vec![
        (
            fail(429, "rate_limit_reached_error", "slow"),
            fail(429, "engine_overloaded_error", "busy"),
            429,
            Some("5"),
        ),
        (hang.clone(), hang, 504, None),
        (
            fail(401, "invalid_authentication_error", "bad"),
            fail(401, "incorrect_api_key_error", "bad"),
            502,
            None,
        ),
        (
            fail(403, "permission_denied_error", "no"),
            fail(403, "permission_denied_error", "no"),
            502,
            None,
        ),
        (
            fail(402, "", "no credits"),
            fail(429, "exceeded_current_quota_error", "quota"),
            402,
            None,
        ),
        (
            fail(500, "server_error", "boom"),
            fail(401, "invalid_authentication_error", "bad"),
            502,
            None,
        ),
        (
            fail(404, "resource_not_found_error", "Not found the model m"),
            fail(404, "not_found_error", "model: m"),
            404,
            None,
        ),
        (
            fail(404, "resource_not_found_error", "Not found the model m"),
            fail(500, "server_error", "boom"),
            502,
            None,
        ),
    ];
    for (primary, backup, status, retry_after) in cases {
        let (primary, backup) = (mock(primary).await, mock(backup).await);
        let gw = gateway(fast(chain_config(&primary, &backup))).await;
        for stream in [false, true] {
            let response = gw
                .chat(json!({"messages": user_message(), "stream": stream}))
                .await;
            assert_eq!(response.status(), status);
            assert_eq!(
                response
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap()),
                retry_after,
                "{status}"
            );
            let body: Value = response.json().await.unwrap();
            let attempts = body["error"]["attempts"].as_array().unwrap();
            assert!(!attempts.is_empty(), "{body}");
            for attempt in attempts {
                let url = attempt["url"].as_str().unwrap();
                assert!(url.ends_with("/v1/chat/completions"), "{body}");
                // Refused keys are named by their variables instead.
                if body["error"]["code"] != "upstream_auth_failed" {
                    assert!(body["error"]["message"].as_str().unwrap().contains(url));
                }
            }
        }
    }
}

/// When no provider knows the model (Kimi's 404 `resource_not_found_error`),
/// the client is told so: 404, in its own API's words (Anthropic's
/// `not_found_error`, which Claude Code reads as a wrong model), not to be
/// retried, where a 502 has Claude Code retry for 40 seconds in silence.
#[tokio::test]
async fn a_model_no_provider_knows_is_a_404_not_to_retry_on_each_api() {
    let fail = |kind: &str| {
        mock(MockOptions {
            fail_status: Some(404),
            fail_type: kind.into(),
            fail_message: "Not found the model m".into(),
            ..MockOptions::default()
        })
    };
    let (primary, backup) = (
        fail("resource_not_found_error").await,
        fail("not_found_error").await,
    );
    let gw = gateway(fast(chain_config(&primary, &backup))).await;
    let chat = gw.chat(json!({"messages": user_message()})).await;
    let messages = gw
        .messages(json!({"model": "primary/m", "max_tokens": 10, "messages": user_message()}))
        .await;
    let responses = gw
        .responses(json!({"model": "primary/m", "input": "hi"}))
        .await;
    for (front, response, kind) in [
        ("chat", chat, "invalid_request_error"),
        ("messages", messages, "not_found_error"),
        ("responses", responses, "invalid_request_error"),
    ] {
        assert_eq!(response.status(), 404, "{front}");
        assert_eq!(header(&response, "x-should-retry"), "false", "{front}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], kind, "{front}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("every provider answered not found"),
            "{front}: {body}"
        );
    }
}

/// A provider that is in fact this gateway (a name the config cannot tell
/// is its own) is answered 508 by itself: the attempt fails at once, as
/// configuration, not retried, and the chain falls over.
#[tokio::test]
async fn a_provider_leading_back_to_the_gateway_is_left_at_once() {
    let backup = healthy_mock().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let itself = json!({
        "baseUrl": format!("http://{}/v1", listener.local_addr().unwrap()),
        "apiKey": KEY,
        "models": [{"id": "m"}],
    });
    let config = fast(json!({
        "models": {"mode": "replace", "providers": {"itself": itself, "backup": provider(&backup)}},
        "agents": {"defaults": {"model": {"primary": "itself/m", "fallbacks": ["backup/m"]}}},
    }));
    let gw = serve_on(listener, built(config, &[]));
    let body: Value = without_fallback(&gw).await.json().await.unwrap();
    let attempt = &body["error"]["attempts"][0];
    assert_eq!(
        (&attempt["outcome"], &attempt["tries"]),
        (&json!("config"), &json!(1)),
        "{body}"
    );
    let outcome = send(&gw, false).await;
    assert_eq!(
        (outcome.status, outcome.provider.as_str()),
        (200, "backup"),
        "{}",
        outcome.body
    );
}

/// A `Retry-After` is waited for only with time left after it for the
/// next target's first byte: waiting 7 s of an 8 s chain left a healthy
/// fallback one second, too little, and the request failed.
#[tokio::test]
async fn a_retry_wait_leaves_the_next_target_its_first_byte() {
    let primary = mock(MockOptions {
        retry_after: Some(7),
        ..fail(429, "rate_limit_reached_error", "slow down")
    })
    .await;
    let backup = mock(MockOptions {
        latency_ms: 1500,
        ..MockOptions::default()
    })
    .await;
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = json!({
        "timeouts": {"firstByteSeconds": 3, "chainSeconds": 8},
        "retries": {"maxRetryAfterSeconds": 10},
    });
    let gw = gateway(config).await;
    let outcome = send(&gw, false).await;
    assert_eq!(outcome.status, 200, "{}", outcome.body);
    assert_eq!(outcome.provider, "backup");
    assert_eq!(primary.requests().len(), 1, "not waited for");
}

/// A target whose attempt the chain's deadline cut short showed nothing
/// wrong: it is not counted against, nor cooled down, however often.
#[tokio::test]
async fn an_attempt_the_chain_deadline_cuts_is_not_the_targets_failure() {
    let slow = mock(MockOptions {
        latency_ms: 2000,
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let mut config = chain_config(&slow, &backup);
    config["gateway"] = json!({
        "timeouts": {"firstByteSeconds": 5, "chainSeconds": 0.5},
        "retries": {"perTarget": 0},
    });
    let gw = gateway(config).await;
    for _ in 0..3 {
        let outcome = send(&gw, false).await;
        assert_eq!(outcome.status, 504, "{}", outcome.body);
    }
    assert_eq!(slow.requests().len(), 3, "tried each time");
    let status = gw.status().await;
    let primary_status = target(&status, "primary/m");
    assert_eq!(primary_status["state"], "healthy", "{status}");
}

#[tokio::test]
async fn with_every_target_hung_the_chain_deadline_holds() {
    let hang = || {
        mock(MockOptions {
            hang: true,
            ..MockOptions::default()
        })
    };
    let (a, b, c) = (hang().await, hang().await, hang().await);
    let config = json!({
        "gateway": {"timeouts": {"firstByteSeconds": 0.5, "chainSeconds": 1.3}},
        "models": {"mode": "replace", "providers": {"a": provider(&a), "b": provider(&b), "c": provider(&c)}},
        "agents": {"defaults": {"model": {"primary": "a/m", "fallbacks": ["b/m", "c/m"]}}},
    });
    let gw = gateway(config).await;
    let outcome = send(&gw, true).await;
    assert_eq!(outcome.status, 504, "{}", outcome.body);
    // 0.5 + 0.5 + the 0.3 s left of the chain deadline.
    assert!(
        outcome.elapsed >= Duration::from_millis(1250)
            && outcome.elapsed < Duration::from_millis(2300),
        "{:?}",
        outcome.elapsed
    );
    let body: Value = serde_json::from_str(&outcome.body).unwrap();
    let attempts = body["error"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{body}");
    for attempt in attempts {
        assert_eq!(attempt["outcome"], "timeout", "{body}");
        assert_eq!(attempt["tries"], 1, "{body}");
    }
    let last = attempts[2]["message"].as_str().unwrap();
    assert!(last.starts_with("no response headers within 0."), "{last}");
    assert!(
        !last.contains("within 0.5"),
        "the last attempt got only what was left: {last}"
    );
}

#[tokio::test]
async fn a_failing_target_cools_down_and_is_skipped_and_status_shows_it() {
    let (primary, backup) = (
        failing_mock(500, "server_error").await,
        healthy_mock().await,
    );
    let mut config = fast(chain_config(&primary, &backup));
    config["gateway"]["retries"]["perTarget"] = json!(0);
    let gw = gateway(config).await;
    for _ in 0..3 {
        assert_eq!(send(&gw, false).await.provider, "backup");
    }
    assert_eq!(
        primary.requests().len(),
        2,
        "two failures in a row open the cooldown; the third request skips it"
    );

    let status = gw.status().await;
    let primary_status = target(&status, "primary/m");
    assert_eq!(primary_status["state"], "cooling_down", "{status}");
    assert_eq!(primary_status["failures"]["provider_error"], 2);
    let remaining = primary_status["cooldownRemainingSeconds"].as_f64().unwrap();
    assert!(remaining > 25.0 && remaining <= 30.0, "{remaining}");
    let backup_status = target(&status, "backup/m");
    assert_eq!(backup_status["state"], "healthy");
    assert!(backup_status["lastSuccess"].is_string());
    assert_eq!(status["defaultChain"], json!(["primary/m", "backup/m"]));

    // With fallback off, the cooling primary is still tried, as it is all
    // there is; the request's failure is its own.
    let response = without_fallback(&gw).await;
    assert_eq!(response.status(), 502);
    assert_eq!(primary.requests().len(), 3);
    assert_eq!(backup.requests().len(), 3);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["attempts"].as_array().unwrap().len(), 1);

    // The cooldown survives a reload that keeps the target.
    let reloaded = clawgate::config::load_str(
        &config_with_fast_retries(&primary, &backup).to_string(),
        &clawgate::config::Environment::from_pairs::<&str, &str>([]),
        clawgate::config::Secrets::Required,
    )
    .unwrap();
    gw.gateway.replace_config(reloaded.config);
    assert_eq!(send(&gw, false).await.provider, "backup");
    assert_eq!(primary.requests().len(), 3, "still cooling down");
}

fn config_with_fast_retries(primary: &MockServer, backup: &MockServer) -> Value {
    let mut config = fast(chain_config(primary, backup));
    config["gateway"]["retries"]["perTarget"] = json!(0);
    config
}

#[tokio::test]
async fn fallback_off_limits_the_chain_to_its_first_target() {
    let (primary, backup) = (
        failing_mock(404, "resource_not_found_error").await,
        healthy_mock().await,
    );
    let gw = gateway(fast(chain_config(&primary, &backup))).await;
    let response = without_fallback(&gw).await;
    // The one target tried knows no such model.
    assert_eq!(response.status(), 404);
    assert!(backup.requests().is_empty());
    assert_eq!(
        send(&gw, false).await.provider,
        "backup",
        "without the header it falls over"
    );
    // `on` is as without it; any other word, or the header twice, is
    // refused before any target: "no fallback" said otherwise never
    // reaches a fallback.
    let asked = |values: &'static [&'static str]| {
        let mut request = (gw.client())
            .post(format!("{}/v1/chat/completions", gw.url))
            .json(&json!({"messages": user_message()}));
        for value in values {
            request = request.header("x-clawgate-fallback", *value);
        }
        request.send()
    };
    let response = asked(&[" On "]).await.unwrap();
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");
    let (primary_asked, backup_asked) = (primary.requests().len(), backup.requests().len());
    for values in [&["false"][..], &["0"], &["off;"], &["on", "off"]] {
        let response = asked(values).await.unwrap();
        assert_eq!(response.status(), 400, "{values:?}");
        let body = response.text().await.unwrap();
        assert!(body.contains("x-clawgate-fallback"), "{values:?}: {body}");
    }
    assert_eq!(primary.requests().len(), primary_asked);
    assert_eq!(backup.requests().len(), backup_asked);
}

#[tokio::test]
async fn the_default_timeouts_start_the_fallback_well_within_a_minute() {
    // A hung primary costs one connect plus one first-byte timeout before
    // the fallback is asked; rows above measure the same path with short
    // values, so here the defaults themselves are checked.
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    let timeouts = gw.gateway.config().gateway.timeouts;
    assert!(timeouts.first_byte + timeouts.connect <= Duration::from_secs(30));
    assert!(timeouts.chain < Duration::from_secs(120));
    assert!(timeouts.idle < Duration::from_secs(120));
}

/// The mock's own non-streamed answer for `options`, shaped and labelled
/// as the gateway shapes any complete answer, without its `id`.
/// Two tools the mock's `--tool-call`s name (it calls only tools offered).
fn offered_tools() -> Value {
    let tool = |name: &str| json!({"type": "function", "function": {"name": name, "parameters": {"type": "object"}}});
    json!([tool("read_file"), tool("list_dir")])
}

async fn native_answer(mock: &MockServer) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/chat/completions", mock.base_url()))
        .json(&json!({"model": "m", "messages": user_message(), "tools": offered_tools()}))
        .send()
        .await
        .unwrap();
    let Value::Object(mut body) = response.json().await.unwrap() else {
        panic!("an object");
    };
    clawgate::providers::response::shape_completion(&mut body, &Default::default());
    let model_ref = clawgate::config::ModelRef::new("primary", "m");
    clawgate::wire::openai::label_model(&mut body, model_ref.as_str());
    body.remove("id");
    Value::Object(body)
}

#[tokio::test]
async fn non_streaming_requests_are_streamed_upstream_and_assembled_exactly() {
    for style in ["openai", "moonshot", "openrouter"] {
        let options = MockOptions {
            style: style.into(),
            cached_tokens: 2,
            tool_calls: vec![
                r#"read_file={"path":"src/main.rs","lines":[1,20]}"#.into(),
                r#"list_dir={"path":"é/ü"}"#.into(),
            ],
            ..MockOptions::default()
        };
        let (primary, backup) = (mock(options).await, healthy_mock().await);
        let gw = gateway(fast(chain_config(&primary, &backup))).await;
        let response = gw
            .chat(json!({"messages": user_message(), "tools": offered_tools()}))
            .await;
        assert_eq!(response.status(), 200, "{style}");
        let sent = &primary.requests()[0]["body"];
        assert_eq!(sent["stream"], true, "{style}: asked as a stream");
        let mut assembled: Value = response.json().await.unwrap();
        assembled.as_object_mut().unwrap().remove("id");
        let native = native_answer(&primary).await;
        assert_eq!(assembled, native, "{style}");
        assert_eq!(
            assembled["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            r#"{"path":"src/main.rs","lines":[1,20]}"#
        );
    }
}

#[tokio::test]
async fn a_non_streaming_answer_that_breaks_midway_still_falls_over() {
    let rows = [
        (
            "dropped midway",
            MockOptions {
                drop_after_chunks: Some(4),
                ..MockOptions::default()
            },
        ),
        (
            "silent midway",
            MockOptions {
                chunk_delay_ms: 5_000,
                first_event: Some(r#"{"choices":[{"index":0,"delta":{"content":"Hi "}}]}"#.into()),
                ..MockOptions::default()
            },
        ),
        (
            "an error event midway",
            MockOptions {
                error_after_chunks: Some(4),
                ..MockOptions::default()
            },
        ),
    ];
    for (name, options) in rows {
        let (primary, backup) = (mock(options).await, healthy_mock().await);
        let gw = gateway(fast(chain_config(&primary, &backup))).await;
        let outcome = send(&gw, false).await;
        assert_eq!(outcome.status, 200, "{name}: {}", outcome.body);
        assert_eq!(outcome.provider, "backup", "{name}");
        assert_complete(&outcome, false, name);
        assert!(outcome.elapsed < Duration::from_secs(3), "{name}");
    }
}

#[tokio::test]
async fn kimi_codings_user_agent_gate_is_reported_as_configuration() {
    let gated = mock(MockOptions {
        require_user_agent: Some("KimiCLI/".into()),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let gw = gateway(fast(chain_config(&gated, &backup))).await;
    let response = without_fallback(&gw).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    let attempt = &body["error"]["attempts"][0];
    assert_eq!(attempt["outcome"], "config", "{body}");
    assert_eq!(attempt["status"], 403);
    assert!(
        attempt["hint"].as_str().unwrap().contains("User-Agent"),
        "{body}"
    );
    assert_eq!(gated.requests().len(), 1, "not retried");
}

#[tokio::test]
async fn a_target_whose_streams_keep_breaking_midway_cools_down() {
    let primary = mock(MockOptions {
        drop_after_chunks: Some(3),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let gw = gateway(fast(chain_config(&primary, &backup))).await;
    for _ in 0..2 {
        let outcome = send(&gw, true).await;
        assert_eq!(outcome.provider, "primary");
        let events = sse_data(&outcome.body);
        assert!(
            events.last().unwrap().contains("stream_interrupted"),
            "{events:?}"
        );
    }
    let outcome = send(&gw, true).await;
    assert_eq!(
        outcome.provider, "backup",
        "two broken streams in a row cool the primary"
    );
    assert_complete(&outcome, true, "after the cooldown opened");
    assert_eq!(primary.requests().len(), 2);
}

#[tokio::test]
async fn targets_left_when_the_deadline_passes_are_listed_as_not_tried() {
    let hang = MockOptions {
        hang: true,
        ..MockOptions::default()
    };
    let (primary, backup) = (mock(hang).await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = json!({"timeouts": {"firstByteSeconds": 0.5, "chainSeconds": 0.4}});
    let gw = gateway(config).await;
    let outcome = send(&gw, false).await;
    assert_eq!(outcome.status, 504, "{}", outcome.body);
    assert!(
        outcome.elapsed < Duration::from_secs(2),
        "{:?}",
        outcome.elapsed
    );
    let body: Value = serde_json::from_str(&outcome.body).unwrap();
    let attempts = body["error"]["attempts"].as_array().unwrap();
    assert_eq!(attempts[1]["tries"], 0, "{body}");
    assert!(
        attempts[1]["message"]
            .as_str()
            .unwrap()
            .contains("deadline"),
        "{body}"
    );
    assert!(backup.requests().is_empty());
}

#[tokio::test]
async fn a_stalled_error_body_is_a_timeout_waited_for_once() {
    let primary = mock(MockOptions {
        stall_error_body: true,
        ..fail(503, "", "")
    })
    .await;
    let backup = healthy_mock().await;
    let gw = gateway(fast(chain_config(&primary, &backup))).await;
    for stream in [false, true] {
        let outcome = tokio::time::timeout(Duration::from_secs(10), send(&gw, stream))
            .await
            .expect("the stalled body does not hold the request");
        assert_eq!(outcome.provider, "backup", "{}", outcome.body);
        // One try, cut at 0.3 s: a timeout is not retried on its target.
        assert!(
            outcome.elapsed < Duration::from_millis(1500),
            "{:?}",
            outcome.elapsed
        );
    }
    assert_eq!(primary.requests().len(), 2);
    // Two timeouts in a row cool the target down: the next request does
    // not wait for it at all.
    let outcome = send(&gw, false).await;
    assert_eq!(outcome.provider, "backup", "{}", outcome.body);
    assert_eq!(primary.requests().len(), 2);
    let status = gw.status().await;
    let primary_status = target(&status, "primary/m");
    assert_eq!(primary_status["state"], "cooling_down", "{status}");
    assert_eq!(primary_status["failures"]["timeout"], 2, "{status}");
}

/// Some OpenAI-compatible servers ignore `stream`: one JSON body answers a
/// request for a stream, and it is the whole answer, streamed or not.
#[tokio::test]
async fn a_json_answer_to_a_stream_request_is_the_whole_answer() {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            axum::Json(
                json!({"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
                "system_fingerprint": "fp_1", "provider": "P",
                "choices": [{"index": 0, "finish_reason": "stop", "native_finish_reason": "end",
                    "logprobs": {"content": [{"token": "w", "logprob": 0}]},
                    "message": {"role": "assistant", "content": "whole answer"}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
            )
        }),
    );
    let base = provider_app(app).await;
    let config = json!({
        "models": {"mode": "replace", "providers": {"plain": {"baseUrl": base, "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "plain/m"}}},
    });
    let gw = gateway(fast(config)).await;
    let response = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "whole answer");
    assert_eq!(body["usage"]["total_tokens"], 5);
    // The provider's other members reach the client, as a stream carries
    // them.
    assert_eq!(body["system_fingerprint"], "fp_1", "{body:#}");
    assert_eq!(body["provider"], "P", "{body:#}");
    assert_eq!(
        body["choices"][0]["native_finish_reason"], "end",
        "{body:#}"
    );
    assert_eq!(
        body["choices"][0]["logprobs"]["content"][0]["token"], "w",
        "{body:#}"
    );

    let response = gw
        .chat(json!({"messages": user_message(), "stream": true,
            "stream_options": {"include_usage": true}}))
        .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("\"content\":\"whole answer\""), "{text}");
    assert!(text.contains("\"total_tokens\":5"), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    for said in [
        r#""system_fingerprint":"fp_1""#,
        r#""provider":"P""#,
        r#""native_finish_reason":"end""#,
        r#""token":"w""#,
    ] {
        assert!(text.contains(said), "{said} in {text}");
    }

    let response = gw
        .messages(json!({"model": "plain/m", "max_tokens": 10, "stream": true,
            "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    let text = response.text().await.unwrap();
    assert!(text.contains("\"text\":\"whole answer\""), "{text}");
    assert!(text.contains("event: message_stop"), "{text}");
}

#[tokio::test]
async fn targets_whose_window_is_known_too_small_are_skipped_before_trying() {
    let (small, large) = (healthy_mock().await, healthy_mock().await);
    let mut config = chain_config(&small, &large);
    config["models"]["providers"]["primary"]["models"][0]["contextWindow"] = json!(1000);
    config["models"]["providers"]["backup"]["models"][0]["contextWindow"] = json!(1_000_000);
    let gw = gateway(config).await;
    // 40 KB of text is at least 5,000 tokens: more than 1,000.
    let long = json!([{"role": "user", "content": "word ".repeat(8000)}]);
    let response = gw.chat(json!({"messages": long})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");
    assert_eq!(header(&response, "x-clawgate-attempts"), "1");
    assert!(
        small.requests().is_empty(),
        "the small window was not asked"
    );

    // Too long for every window: 400, and no provider is called.
    let mut config = chain_config(&small, &large);
    config["models"]["providers"]["primary"]["models"][0]["contextWindow"] = json!(1000);
    config["models"]["providers"]["backup"]["models"][0]["contextWindow"] = json!(2000);
    let gw = gateway(config).await;
    let response = gw.chat(json!({"messages": long})).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "context_length_exceeded", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("holds at least 5005 tokens, more than its context window (1000 tokens)"),
        "{body}"
    );
    assert!(small.requests().is_empty() && large.requests().len() == 1);

    // A short request is not affected.
    let response = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(header(&response, "x-clawgate-provider"), "primary");
}

/// A provider that answers a request for a stream with the head of a JSON
/// body and then nothing: the body never ends.
async fn stalling_json_provider() -> String {
    use axum::response::IntoResponse;
    use futures_util::StreamExt;
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|| async {
            let body = futures_util::stream::iter([Ok::<_, std::io::Error>(
                bytes::Bytes::from_static(b"{\"id\":\"c1\",\"choices\":["),
            )])
            .chain(futures_util::stream::pending());
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                axum::body::Body::from_stream(body),
            )
                .into_response()
        }),
    );
    provider_app(app).await
}

#[tokio::test]
async fn a_json_answer_that_stalls_falls_over_within_the_first_byte_timeout() {
    let primary = stalling_json_provider().await;
    let backup = healthy_mock().await;
    let mut config = chain_config(&backup, &backup);
    config["models"]["providers"]["primary"]["baseUrl"] = json!(primary);
    // The idle timeout alone would hold the request far longer.
    config["gateway"] = json!({
        "timeouts": {"firstByteSeconds": 0.5, "idleSeconds": 30, "chainSeconds": 10},
        "retries": {"perTarget": 0},
    });
    let gw = gateway(config).await;
    for stream in [false, true] {
        let started = Instant::now();
        let response = gw
            .chat(json!({"messages": user_message(), "stream": stream}))
            .await;
        assert_eq!(response.status(), 200, "stream={stream}");
        assert_eq!(header(&response, "x-clawgate-provider"), "backup");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "stream={stream}: {:?}",
            started.elapsed()
        );
    }
}
