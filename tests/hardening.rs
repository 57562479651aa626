//! What a hostile or careless client can no longer do: hold connections or
//! request slots forever, reach the API from a web page or a rebound DNS
//! name, read metrics without the token, or make the gateway read a body it
//! has already refused. Raw TCP where the exact bytes matter.

mod common;

use std::time::{Duration, Instant};

use clawgate::mock::MockOptions;
use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn addr(gw: &TestGateway) -> String {
    gw.url.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection or `limit` passes; returns
/// what was read and whether the server closed it.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut buffer)).await {
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buffer[..n]),
        }
    }
}

/// A chain of two healthy mocks with `gateway` settings merged in.
async fn gateway_with(gateway_settings: Value) -> (TestGateway, clawgate::mock::MockServer) {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = gateway_settings;
    (gateway(config).await, primary)
}

fn body_of(response: &str) -> Value {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|_| panic!("a JSON body in {response:?}"))
}

#[tokio::test]
async fn silent_dripping_and_idle_connections_are_closed() {
    let (gw, _) = gateway_with(json!({"timeouts": {"clientHeaderSeconds": 0.5}})).await;

    // Sends nothing at all.
    let mut silent = TcpStream::connect(addr(&gw)).await.unwrap();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(3)).await;
    assert!(closed, "a silent connection is closed");

    // Sends its headers one byte every 100 ms: never finishes in time.
    let mut drip = TcpStream::connect(addr(&gw)).await.unwrap();
    let started = Instant::now();
    let head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut closed = false;
    for byte in head {
        if drip.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    if !closed {
        closed = read_until_closed(&mut drip, Duration::from_secs(2)).await.1;
    }
    assert!(closed, "a dripping client is cut off");
    assert!(started.elapsed() < Duration::from_secs(4));

    // Idle on keep-alive after a complete request.
    let mut idle = TcpStream::connect(addr(&gw)).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let (response, closed) = read_until_closed(&mut idle, Duration::from_secs(3)).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(closed, "an idle kept-alive connection is closed");
}

#[tokio::test]
async fn a_stalled_body_gets_408_and_a_declared_oversize_body_413_before_it_is_sent() {
    let (gw, primary) = gateway_with(json!({
        "timeouts": {"clientBodySeconds": 0.5},
        "maxBodyBytes": 4096,
    }))
    .await;

    let mut stalled = TcpStream::connect(addr(&gw)).await.unwrap();
    stalled
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"messages\":")
        .await
        .unwrap();
    let (response, _) = read_until_closed(&mut stalled, Duration::from_secs(3)).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert_eq!(body_of(&response)["error"]["code"], "request_timeout");

    // The body is never sent: the answer must come from the header alone.
    let mut oversize = TcpStream::connect(addr(&gw)).await.unwrap();
    oversize
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n")
        .await
        .unwrap();
    let (response, _) = read_until_closed(&mut oversize, Duration::from_secs(2)).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert_eq!(body_of(&response)["error"]["code"], "request_too_large");
    assert!(primary.requests().is_empty());
}

#[tokio::test]
async fn open_connections_are_capped_and_the_next_client_waits_its_turn() {
    let (gw, _) = gateway_with(json!({
        "limits": {"maxConnections": 2},
        "timeouts": {"clientHeaderSeconds": 30},
    }))
    .await;
    let first = TcpStream::connect(addr(&gw)).await.unwrap();
    let _second = TcpStream::connect(addr(&gw)).await.unwrap();
    // Let the server accept both.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = tokio::spawn({
        let url = gw.url.clone();
        async move {
            reqwest::Client::new()
                .get(format!("{url}/healthz"))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "a third connection is not served while two are open"
    );
    drop(first);
    let status = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once a connection closes")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn requests_over_the_concurrency_cap_get_503_with_retry_after() {
    let slow = mock(MockOptions {
        first_byte_delay_ms: 1500,
        ..MockOptions::default()
    })
    .await;
    let mut config = chain_config(&slow, &slow);
    config["gateway"] = json!({"limits": {"maxConcurrentRequests": 1}});
    let gw = gateway(config).await;
    let url = gw.url.clone();
    let holder = tokio::spawn(async move {
        let response = reqwest::Client::new()
            .post(format!("{url}/v1/chat/completions"))
            .json(&json!({"messages": user_message(), "stream": true}))
            .send()
            .await
            .unwrap();
        response.text().await.unwrap()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(header(&refused, "retry-after"), "1");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "gateway_busy");
    assert!(holder.await.unwrap().contains("[DONE]"));
    // The slot is free again once the stream has ended.
    assert_eq!(
        gw.chat(json!({"messages": user_message()})).await.status(),
        200
    );
}

async fn send_raw(gw: &TestGateway, request: &str) -> String {
    let mut stream = TcpStream::connect(addr(gw)).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    read_until_closed(&mut stream, Duration::from_secs(2))
        .await
        .0
}

fn chat_request(host: &str, extra: &str) -> String {
    let body = json!({"messages": user_message()}).to_string();
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn web_pages_and_rebound_names_cannot_reach_a_loopback_gateway() {
    let (gw, primary) = gateway_with(json!({
        "allowedHosts": ["clawgate.internal"],
        "allowedOrigins": ["http://localhost:3000"],
    }))
    .await;
    let port = addr(&gw).rsplit(':').next().unwrap().to_string();

    // DNS rebinding: the page's own name still arrives in Host.
    let response = send_raw(&gw, &chat_request(&format!("evil.example:{port}"), "")).await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert_eq!(body_of(&response)["error"]["code"], "host_not_allowed");
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "clawgate.internal".to_string(),
    ] {
        let response = send_raw(&gw, &chat_request(&host, "")).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{host}: {response}");
    }

    // A simple (no-preflight) cross-site POST from a page.
    let response = send_raw(
        &gw,
        &chat_request("localhost", "Origin: https://evil.example\r\n"),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert_eq!(body_of(&response)["error"]["code"], "origin_not_allowed");

    // A configured origin is served, with CORS headers and a preflight.
    let response = send_raw(
        &gw,
        &chat_request("localhost", "Origin: http://localhost:3000\r\n"),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("access-control-allow-origin: http://localhost:3000"),
        "{response}"
    );
    let preflight = send_raw(
        &gw,
        "OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost:3000\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(preflight.starts_with("HTTP/1.1 204"), "{preflight}");
    // Only the allowed requests reached the provider.
    assert_eq!(primary.requests().len(), 5);
}

#[tokio::test]
async fn metrics_need_the_token_unless_opened_for_a_scraper() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = json!({"auth": {"token": "scrape-token-123"}});
    let gw = gateway(config.clone()).await;
    let get = |gw: &TestGateway, auth: Option<&str>| {
        let mut request = gw.client().get(format!("{}/metrics", gw.url));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    assert_eq!(get(&gw, None).await.unwrap().status(), 401);
    // The scheme is matched in any case.
    assert_eq!(
        get(&gw, Some("bearer scrape-token-123"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        get(&gw, Some("BEARER scrape-token-123"))
            .await
            .unwrap()
            .status(),
        200
    );

    config["gateway"]["auth"]["openMetrics"] = json!(true);
    let open = gateway(config).await;
    assert_eq!(get(&open, None).await.unwrap().status(), 200);
    let models = open
        .client()
        .get(format!("{}/v1/models", open.url))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 401, "only /metrics is opened");
}

#[tokio::test]
async fn wrong_methods_and_huge_headers_get_openai_shaped_errors() {
    let (gw, _) = gateway_with(json!({})).await;
    let wrong = gw
        .client()
        .get(format!("{}/v1/chat/completions", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 405);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");

    let huge = gw
        .client()
        .get(format!("{}/v1/models", gw.url))
        .header("x-padding", "a".repeat(70 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 431);
    let body: Value = huge.json().await.unwrap();
    assert_eq!(body["error"]["code"], "headers_too_large");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_errors_repeat_it() {
    let (gw, _) = gateway_with(json!({})).await;
    let given = gw
        .client()
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("x-request-id", "client-chosen-42")
        .json(&json!({"messages": user_message(), "model": "nope/nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&given, "x-request-id"), "client-chosen-42");
    let body: Value = given.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], "client-chosen-42");

    let long = gw
        .client()
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("x-request-id", "x".repeat(200))
        .json(&json!({"messages": user_message()}))
        .send()
        .await
        .unwrap();
    let id = header(&long, "x-request-id").to_string();
    assert!(id.starts_with("req_") && id.len() == 36, "{id}");
}

/// Counts allocations made on the current thread, so a test can assert that
/// a path allocates nothing while other tests run beside it.
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Counting;

    thread_local! {
        static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    }

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            ALLOCATIONS.with(|count| count.set(count.get() + 1));
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            ALLOCATIONS.with(|count| count.set(count.get() + 1));
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    /// How many allocations `f` made on this thread.
    pub fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
        let before = ALLOCATIONS.with(Cell::get);
        let out = f();
        (out, ALLOCATIONS.with(Cell::get) - before)
    }
}

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

#[test]
fn scrubbing_bytes_without_a_key_allocates_nothing() {
    use bytes::Bytes;
    use clawgate::ops::scrub::Scrubber;

    let scrubber = Scrubber::new([KEY, "gw-token-abcdef", "sk-or-v1-0123456789abcdef"]);
    // A stream chunk with escapes, backslashes and the keys' first bytes.
    let chunk = Bytes::from(
        "data: {\"choices\":[{\"delta\":{\"content\":\"s sk- gw \\u00e9\\\\ \\\"quoted\\\" \\/\"}}]}\n\n".repeat(50),
    );
    let (scrubbed, count) = counting::allocations(|| scrubber.scrub(&chunk).len());
    assert_eq!((scrubbed, count), (chunk.len(), 0));
    // A `Bytes` made from a `Vec` allocates its shared header on its first
    // clone: that is the bytes crate's, not the scrubber's.
    drop(chunk.clone());
    let mut stream = scrubber.stream();
    let (passed, count) = counting::allocations(|| {
        (0..10)
            .map(|_| stream.feed(chunk.clone()).len())
            .sum::<usize>()
    });
    assert_eq!((passed, count), (10 * chunk.len(), 0));

    // The same chunk holding a key does allocate (the test can fail).
    let leaky = Bytes::from(format!("data: {{\"echo\":\"{KEY}\"}}\n\n"));
    let (out, count) = counting::allocations(|| stream.feed(leaky.clone()));
    assert!(count > 0);
    assert!(!String::from_utf8_lossy(&out).contains(KEY));
}
