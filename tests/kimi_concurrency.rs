//! Kimi Coding serves 30 requests at once per account and answers 429
//! over that: clawgate sends it no more than its `maxConcurrent`, a burst
//! over the cap waits a moment for a place, and a request that waited in
//! vain goes to the next target as a skip, cooling nothing down.

mod common;

use std::time::Duration;

use clawgate_mock::{MockOptions, MockServer};
use common::*;
use futures_util::future::join_all;
use serde_json::{Value, json};

/// A fake Kimi Coding account that answers 429 over 30 requests at once,
/// each answer taking `latency_ms`.
async fn kimi_coding(latency_ms: u64) -> MockServer {
    mock(MockOptions {
        max_concurrent: Some(30),
        latency_ms,
        ..MockOptions::default()
    })
    .await
}

/// Kimi Coding (its default cap, or `max_concurrent` when given), then a
/// paid fallback.
fn config(kimi: &MockServer, backup: &MockServer, max_concurrent: Option<Value>) -> Value {
    let mut kimi_entry = json!({"dialect": "kimi-coding", "baseUrl": kimi.base_url(), "apiKey": KEY,
        "models": [{"id": "kimi-for-coding"}]});
    if let Some(cap) = max_concurrent {
        kimi_entry["maxConcurrent"] = cap;
    }
    json!({
        "models": {"mode": "replace", "providers": {"kimi": kimi_entry, "backup": provider(backup)}},
        "agents": {"defaults": {"model": {"primary": "kimi/kimi-for-coding", "fallbacks": ["backup/m"]}}},
    })
}

/// `n` chat requests at once; the provider that answered each.
async fn burst(gw: &TestGateway, n: usize) -> Vec<String> {
    let requests = (0..n).map(|_| gw.chat(json!({"messages": user_message()})));
    join_all(requests)
        .await
        .into_iter()
        .map(|response| {
            assert_eq!(response.status(), 200);
            header(&response, "x-clawgate-provider").to_string()
        })
        .collect()
}

#[tokio::test]
async fn forty_requests_at_once_are_all_answered_by_kimi_coding_within_its_thirty() {
    let kimi = kimi_coding(300).await;
    let backup = healthy_mock().await;
    let gw = gateway(config(&kimi, &backup, None)).await;

    let answered_by = burst(&gw, 40).await;

    assert!(answered_by.iter().all(|p| p == "kimi"), "{answered_by:?}");
    assert_eq!(
        kimi.over_concurrency(),
        0,
        "no request over the cap was sent"
    );
    assert!(kimi.peak_in_flight() <= 30);
    assert!(backup.requests().is_empty());
    let status = gw.status().await;
    assert_eq!(target(&status, "kimi/kimi-for-coding")["state"], "healthy");
    let queue = &status["concurrency"]["kimi"];
    assert_eq!(
        (&queue["maxConcurrent"], &queue["waitSeconds"]),
        (&json!(30), &json!(2.0))
    );
    assert_eq!(
        (&queue["waited"], &queue["skipped"]),
        (&json!(10), &json!(0))
    );
    assert_eq!(
        (&queue["inFlight"], &queue["waiting"]),
        (&json!(0), &json!(0))
    );
}

#[tokio::test]
async fn past_the_queues_wait_the_rest_go_to_the_next_target_as_skips() {
    let kimi = kimi_coding(1500).await;
    let backup = healthy_mock().await;
    let cap = json!({"requests": 30, "waitSeconds": 0.2});
    let gw = gateway(config(&kimi, &backup, Some(cap))).await;

    let answered_by = burst(&gw, 40).await;

    let by_kimi = answered_by.iter().filter(|p| *p == "kimi").count();
    assert_eq!(
        (by_kimi, answered_by.len() - by_kimi),
        (30, 10),
        "{answered_by:?}"
    );
    assert_eq!(kimi.over_concurrency(), 0);
    assert_eq!(backup.requests().len(), 10);
    let status = gw.status().await;
    // A skip, not a failure: Kimi Coding is not cooled down.
    assert_eq!(target(&status, "kimi/kimi-for-coding")["state"], "healthy");
    assert_eq!(status["concurrency"]["kimi"]["skipped"], 10);
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("clawgate_provider_queue_skipped_total{provider=\"kimi\"} 10"),
        "{metrics}"
    );
    // The next request finds a place again.
    assert_eq!(burst(&gw, 1).await, ["kimi"]);
}

#[tokio::test]
async fn a_stream_holds_its_place_until_the_client_leaves() {
    let kimi = mock(MockOptions {
        chunk_delay_ms: 200,
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let cap = json!({"requests": 1, "waitSeconds": 0.1});
    let gw = gateway(config(&kimi, &backup, Some(cap))).await;

    let streaming = gw
        .chat(json!({"messages": user_message(), "stream": true}))
        .await;
    assert_eq!(header(&streaming, "x-clawgate-provider"), "kimi");
    // Its answer has started, not ended: the one place is still taken.
    assert_eq!(gw.status().await["concurrency"]["kimi"]["inFlight"], 1);
    assert_eq!(burst(&gw, 1).await, ["backup"]);

    drop(streaming);
    tokio::time::timeout(Duration::from_secs(10), kimi.stream_abandoned())
        .await
        .expect("the stream is dropped when the client leaves");
    assert_eq!(gw.status().await["concurrency"]["kimi"]["inFlight"], 0);
    assert_eq!(burst(&gw, 1).await, ["kimi"]);
}

#[test]
fn max_concurrent_is_checked_with_clear_errors() {
    use clawgate::config::{self, Environment, Secrets};
    let check = |cap: Value| {
        let config = json!({
            "models": {"mode": "replace", "providers": {"kimi": {"dialect": "kimi-coding",
                "baseUrl": "https://api.kimi.com/coding/v1", "apiKey": KEY,
                "models": [{"id": "kimi-for-coding"}], "maxConcurrent": cap}}},
            "agents": {"defaults": {"model": "kimi/kimi-for-coding"}},
        });
        let env = Environment::from_pairs([("X", "x")]);
        match config::load_str(&config.to_string(), &env, Secrets::Offline) {
            Ok(loaded) => Ok(loaded.config.providers["kimi"].max_concurrent),
            Err(errors) => Err(errors.to_string()),
        }
    };
    let whole = "expected a whole number of requests from 1 to 10000 (false: no cap)";
    for (cap, error) in [
        (json!(0), format!("models.providers.kimi.maxConcurrent: {whole}, found 0")),
        (json!(-5), format!("models.providers.kimi.maxConcurrent: {whole}, found -5")),
        (json!(2.5), format!("models.providers.kimi.maxConcurrent: {whole}, found 2.5")),
        (json!(1_000_000), format!("models.providers.kimi.maxConcurrent: {whole}, found 1000000")),
        (json!("30"), format!("models.providers.kimi.maxConcurrent: {whole}, found \"30\"")),
        (
            json!({"requests": 0}),
            format!("models.providers.kimi.maxConcurrent.requests: {whole}, found 0"),
        ),
        (
            json!({"waitSeconds": -1}),
            "models.providers.kimi.maxConcurrent.waitSeconds: expected seconds from 0 to 60, found -1".into(),
        ),
        (
            json!({"waitSeconds": 3600}),
            "models.providers.kimi.maxConcurrent.waitSeconds: expected seconds from 0 to 60, found 3600".into(),
        ),
        (
            json!({"requets": 3}),
            "models.providers.kimi.maxConcurrent.requets: unknown key; expected requests or waitSeconds".into(),
        ),
    ] {
        let got = check(cap.clone());
        assert!(
            got.as_ref().is_err_and(|errors| errors.contains(&error)),
            "{cap}: {got:?}"
        );
    }
    let two = Duration::from_secs(2);
    let cap = |requests, wait| Ok(Some(clawgate::config::MaxConcurrent { requests, wait }));
    assert_eq!(check(json!(12)), cap(12, two));
    assert_eq!(
        check(json!({"waitSeconds": 0.5})),
        cap(30, Duration::from_millis(500))
    );
    assert_eq!(
        check(json!({"requests": 5, "waitSeconds": 0})),
        cap(5, Duration::ZERO)
    );
    assert_eq!(check(json!(false)), Ok(None));
}
