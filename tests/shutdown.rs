//! Graceful shutdown: in-flight requests drain, but never for longer than
//! `gateway.shutdownGraceSeconds`.

mod common;

use std::time::Duration;

use clawgate_mock::MockOptions;
use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};

async fn slow_stream_config(chunk_delay_ms: u64, grace: f64) -> (Value, clawgate_mock::MockServer) {
    let slow = mock(MockOptions {
        chunk_delay_ms,
        reasoning: String::new(),
        // The answer starts at once (a role-only chunk would not count as
        // its start), then slows down.
        first_event: Some(
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi "}}]}"#.into(),
        ),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let mut config = chain_config(&slow, &backup);
    config["gateway"] = json!({"shutdownGraceSeconds": grace});
    (config, slow)
}

fn stream_request() -> Value {
    json!({"messages": user_message(), "stream": true})
}

#[tokio::test]
async fn shutdown_lets_in_flight_streams_finish() {
    let (config, _mock) = slow_stream_config(100, 30.0).await;
    let mut gw = gateway(config).await;
    let mut body = gw.chat(stream_request()).await.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));

    let server = gw.shut_down();
    let mut rest = Vec::new();
    while let Some(chunk) = body.next().await {
        rest.extend_from_slice(&chunk.expect("the stream is not cut"));
    }
    let rest = String::from_utf8(rest).unwrap();
    assert!(rest.ends_with("data: [DONE]\n\n"), "{rest}");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
    let refused = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&stream_request())
        .send()
        .await;
    assert!(refused.is_err(), "no new connections");
}

#[tokio::test]
async fn shutdown_stops_waiting_after_the_grace() {
    let (config, _mock) = slow_stream_config(60_000, 0.2).await;
    let mut gw = gateway(config).await;
    let mut body = gw.chat(stream_request()).await.bytes_stream();
    body.next().await.unwrap().unwrap();

    let server = gw.shut_down();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops once the grace is over")
        .unwrap()
        .unwrap();
    let rest = tokio::time::timeout(Duration::from_secs(10), async {
        let mut rest = Vec::new();
        while let Some(Ok(chunk)) = body.next().await {
            rest.extend_from_slice(&chunk);
        }
        String::from_utf8(rest).unwrap()
    })
    .await
    .expect("the client's stream is closed, not left hanging");
    let events = sse_data(&rest);
    let last: Value = serde_json::from_str(events.last().expect("an error event")).unwrap();
    assert_eq!(last["error"]["code"], "gateway_shutdown", "{rest}");
    assert!(!events.iter().any(|e| e == "[DONE]"));
}

#[tokio::test]
async fn requests_still_waiting_after_the_grace_get_503() {
    let hanging = mock(MockOptions {
        hang: true,
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let mut config = chain_config(&hanging, &backup);
    config["gateway"] = json!({"shutdownGraceSeconds": 0.2});
    let mut gw = gateway(config).await;
    let url = format!("{}/v1/chat/completions", gw.url);
    let request = tokio::spawn(async move {
        reqwest::Client::new()
            .post(&url)
            .json(&json!({"messages": user_message()}))
            .send()
            .await
    });
    // Shut down only once the request is waiting on the provider.
    while hanging.requests().is_empty() {
        tokio::task::yield_now().await;
    }
    let server = gw.shut_down();
    let response = tokio::time::timeout(Duration::from_secs(10), request)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "gateway_shutdown");
    server.await.unwrap().unwrap();
}
