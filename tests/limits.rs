//! What may be in flight at once: `gateway.limits.maxConcurrentRequests`
//! holds across a reload that changes it, counted at the provider.

mod common;

use std::time::Duration;

use clawgate_mock::{MockOptions, MockServer};
use common::*;
use serde_json::{Value, json};

/// A provider that takes its time over every answer.
async fn slow_mock() -> MockServer {
    mock(MockOptions {
        latency_ms: 1_500,
        ..MockOptions::default()
    })
    .await
}

fn capped(mock: &MockServer, cap: usize) -> Value {
    let mut config = chain_config(mock, mock);
    config["gateway"] = json!({"limits": {"maxConcurrentRequests": cap}});
    config
}

fn reload(gw: &TestGateway, config: &Value) {
    let loaded = clawgate::config::load_str(
        &config.to_string(),
        &clawgate::config::Environment::from_pairs::<&str, &str>([]),
        clawgate::config::Secrets::Required,
    )
    .unwrap();
    gw.gateway.replace_config(loaded.config);
}

/// Sends `n` chat requests at once; their statuses once all are answered.
fn send_many(gw: &TestGateway, n: usize) -> tokio::task::JoinHandle<Vec<u16>> {
    let requests: Vec<_> = (0..n)
        .map(|_| {
            gw.client()
                .post(format!("{}/v1/chat/completions", gw.url))
                .json(&json!({"messages": user_message()}))
                .send()
        })
        .collect();
    tokio::spawn(async move {
        let mut statuses = Vec::new();
        for response in futures_util::future::join_all(requests).await {
            statuses.push(response.unwrap().status().as_u16());
        }
        statuses.sort_unstable();
        statuses
    })
}

/// Waits (bounded) until the provider is answering `n` requests.
async fn until_in_flight(mock: &MockServer, n: u32) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while mock.in_flight() < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{n} requests never reached the provider"));
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test]
async fn a_raised_cap_counts_the_requests_already_in_flight() {
    let slow = slow_mock().await;
    let gw = gateway(capped(&slow, 4)).await;
    let first = send_many(&gw, 4);
    until_in_flight(&slow, 4).await;
    reload(&gw, &capped(&slow, 5));
    // Four hold their places: one more may start, the others are refused.
    let second = send_many(&gw, 8).await.unwrap();
    assert_eq!(first.await.unwrap(), vec![200; 4]);
    assert_eq!(count(&second, 200), 1, "{second:?}");
    assert_eq!(count(&second, 503), 7, "{second:?}");
    assert_eq!(slow.peak_in_flight(), 5);
    // Once they are done, the new cap is whole.
    let third = send_many(&gw, 7).await.unwrap();
    assert_eq!(count(&third, 200), 5, "{third:?}");
    assert_eq!(slow.peak_in_flight(), 5);
}

#[tokio::test]
async fn a_lowered_cap_admits_nothing_until_in_flight_is_below_it() {
    let slow = slow_mock().await;
    let gw = gateway(capped(&slow, 5)).await;
    let first = send_many(&gw, 5);
    until_in_flight(&slow, 5).await;
    reload(&gw, &capped(&slow, 2));
    let refused = send_many(&gw, 3).await.unwrap();
    assert_eq!(refused, vec![503; 3]);
    assert_eq!(first.await.unwrap(), vec![200; 5]);
    // Raised again to 3 while none is in flight: three, not more.
    reload(&gw, &capped(&slow, 3));
    let after = send_many(&gw, 6).await.unwrap();
    assert_eq!(count(&after, 200), 3, "{after:?}");
    assert_eq!(slow.peak_in_flight(), 5, "the first five only");
}

/// Lowered while full, then raised before those in flight ended: what was
/// owed is forgiven first, so the cap is what the last reload said.
#[tokio::test]
async fn a_cap_lowered_then_raised_under_load_is_the_last_one() {
    let slow = slow_mock().await;
    let gw = gateway(capped(&slow, 4)).await;
    let first = send_many(&gw, 4);
    until_in_flight(&slow, 4).await;
    reload(&gw, &capped(&slow, 1));
    reload(&gw, &capped(&slow, 6));
    let second = send_many(&gw, 5).await.unwrap();
    assert_eq!(count(&second, 200), 2, "{second:?}");
    assert_eq!(first.await.unwrap(), vec![200; 4]);
    assert_eq!(slow.peak_in_flight(), 6);
    let third = send_many(&gw, 8).await.unwrap();
    assert_eq!(count(&third, 200), 6, "{third:?}");
}
