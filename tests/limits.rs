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

/// A provider's whole answer of more objects and arrays than a tree of it
/// is made of (300,000 `{}` beside a valid message, 0.6 MB: a tree some
/// hundred bytes a node) is refused as the attempt's failure, not read.
#[tokio::test]
async fn an_answer_of_too_many_objects_is_refused_unread() {
    let padded = json!({"id": "c1", "object": "chat.completion", "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                     "finish_reason": "stop"}],
        "pad": vec![json!({}); 300_000]})
    .to_string();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move || {
            let padded = padded.clone();
            async move { ([("content-type", "application/json")], padded) }
        }),
    );
    let base = provider_app(app).await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {"p": {"baseUrl": base, "apiKey": KEY,
            "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "p/m"}}},
    }))
    .await;
    let answer = gw
        .chat(json!({"model": "p/m", "messages": user_message()}))
        .await;
    assert_eq!(answer.status(), 502);
    let text = answer.text().await.unwrap();
    assert!(
        text.contains("more than 200000 objects and arrays"),
        "{text}"
    );
}

/// A provider whose stream never ends, a 4 KB chunk after another as fast
/// as they are taken; `ended` is set once the gateway lets its stream go.
async fn endless_provider(ended: std::sync::Arc<std::sync::atomic::AtomicBool>) -> String {
    use axum::response::IntoResponse;
    use futures_util::StreamExt as _;
    struct Ended(std::sync::Arc<std::sync::atomic::AtomicBool>);
    impl Drop for Ended {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move || {
            let ended = Ended(ended.clone());
            async move {
                let text = "x".repeat(4096);
                let chunk = json!({"id": "c1", "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {"content": text}}]});
                let event = bytes::Bytes::from(format!("data: {chunk}\n\n"));
                let events = futures_util::stream::repeat(event).map(move |event| {
                    let _held = &ended;
                    Ok::<_, std::convert::Infallible>(event)
                });
                (
                    [("content-type", "text/event-stream")],
                    axum::body::Body::from_stream(events),
                )
                    .into_response()
            }
        }),
    );
    provider_app(app).await
}

/// `body` sent on a connection of its own, the answer's first bytes read
/// (how many are returned), and then nothing more: the connection is left
/// open.
async fn stalled(gw: &TestGateway, body: Value) -> (tokio::net::TcpStream, usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = body.to_string();
    let mut stalled = tokio::net::TcpStream::connect(gw.url.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.write_all(body.as_bytes()).await.unwrap();
    let mut first = vec![0; 4096];
    let read = stalled.read(&mut first).await.unwrap();
    let head = String::from_utf8_lossy(&first[..read]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    (stalled, read)
}

/// `idleSeconds` lowered by a reload holds for the next request's client
/// too: one that stops reading a whole answer (12 MB, more than the
/// sockets hold) has its connection closed after the new timeout.
#[tokio::test]
async fn a_reloaded_idle_timeout_closes_a_client_that_stops_reading() {
    use tokio::io::AsyncReadExt;
    let big = mock(MockOptions {
        reply_bytes: Some(12 << 20),
        ..MockOptions::default()
    })
    .await;
    let config = |idle: u64| {
        let mut config = chain_config(&big, &big);
        config["gateway"] = json!({"timeouts": {"idleSeconds": idle}});
        config
    };
    let gw = gateway(config(300)).await;
    reload(&gw, &config(1));
    let (mut stalled, read) = stalled(&gw, json!({"messages": user_message()})).await;
    // It reads nothing for three seconds, then all there is.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stalled.read_to_end(&mut rest)).await;
    assert!(
        read + rest.len() < 12 << 20,
        "the whole answer came: {} bytes",
        read + rest.len()
    );
}

/// A client that stops reading a stream, its connection left open, holds
/// its place (and its provider's stream) for `idleSeconds` at most: its
/// connection is then closed, the provider's stream let go, and the next
/// request has the place.
#[tokio::test]
async fn a_client_that_stops_reading_a_stream_is_let_go_after_idle_seconds() {
    use futures_util::StreamExt as _;
    let ended = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let base = endless_provider(ended.clone()).await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {"p": {"baseUrl": base, "apiKey": KEY,
            "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "p/m"}}},
        "gateway": {"limits": {"maxConcurrentRequests": 1}, "timeouts": {"idleSeconds": 1}},
    }))
    .await;
    let streamed = json!({"model": "p/m", "stream": true, "messages": user_message()});
    let (stalled, _) = stalled(&gw, streamed).await;
    let busy = gw
        .chat(json!({"model": "p/m", "messages": user_message()}))
        .await;
    assert_eq!(busy.status(), 503, "the one place is taken");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !ended.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < deadline,
            "the provider's stream is still held"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The place is free again: a request whose provider never ends is
    // answered as far as a first chunk, so it is streamed and let go.
    let next = (gw.client().post(format!("{}/v1/chat/completions", gw.url)))
        .json(&json!({"model": "p/m", "stream": true, "messages": user_message()}))
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 200);
    let mut chunks = next.bytes_stream();
    assert!(chunks.next().await.unwrap().is_ok());
    drop(stalled);
}
