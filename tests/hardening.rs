//! What a hostile or careless client can no longer do: hold connections or
//! request slots forever, reach the API from a web page or a rebound DNS
//! name, read metrics without the token, or make the gateway read a body it
//! has already refused. Raw TCP where the exact bytes matter. And what a
//! broken config can no longer do: crash `serve`, a reload or the CLI, or
//! print a key it holds.

mod common;

use std::time::{Duration, Instant};

use clawgate_mock::MockOptions;
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
async fn gateway_with(gateway_settings: Value) -> (TestGateway, clawgate_mock::MockServer) {
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

/// Sends one request on `connection` and reads its whole answer: the
/// server has accepted the connection and keeps it open.
async fn served_once(connection: &mut TcpStream) {
    connection
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 512];
    while !answer.ends_with(b"ok\n") {
        let read = tokio::time::timeout(Duration::from_secs(5), connection.read(&mut buffer))
            .await
            .expect("answered")
            .unwrap();
        assert!(read > 0, "closed before answering");
        answer.extend_from_slice(&buffer[..read]);
    }
}

#[tokio::test]
async fn open_connections_are_capped_and_the_next_client_waits_its_turn() {
    let (gw, _) = gateway_with(json!({
        "limits": {"maxConnections": 2},
        "timeouts": {"clientHeaderSeconds": 30},
    }))
    .await;
    // Two connections the server has accepted: each has answered a request.
    let mut first = TcpStream::connect(addr(&gw)).await.unwrap();
    let mut second = TcpStream::connect(addr(&gw)).await.unwrap();
    for connection in [&mut first, &mut second] {
        served_once(connection).await;
    }
    let mut waiting = tokio::spawn({
        let url = gw.url.clone();
        async move {
            reqwest::Client::new()
                .get(format!("{url}/healthz"))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut waiting)
            .await
            .is_err(),
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
    // The holder's request is in flight once the provider has it.
    let started = Instant::now();
    while slow.requests().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10), "never sent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
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
        "allowedHosts": ["Clawgate.Internal"],
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
        "CLAWGATE.internal".to_string(),
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
    for header in [
        "access-control-allow-methods: GET, POST",
        "access-control-allow-headers: authorization, content-type, x-request-id, x-clawgate-fallback, x-clawgate-session,",
        "access-control-max-age: 600",
        "access-control-allow-origin: http://localhost:3000",
        "x-clawgate-dropped, retry-after",
    ] {
        assert!(preflight.contains(header), "{header} in {preflight}");
    }
    // The headers an SDK's preflight asks for are allowed; a list that is
    // not one of header names is not echoed.
    for (asked, allowed) in [
        ("x-stainless-os, x-stainless-retry-count", true),
        ("x-stainless-os, bad name", false),
    ] {
        let preflight = send_raw(
            &gw,
            &format!("OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost:3000\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: {asked}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(preflight.starts_with("HTTP/1.1 204"), "{preflight}");
        assert_eq!(preflight.contains("x-stainless-os"), allowed, "{preflight}");
    }
    // Only the allowed requests reached the provider.
    assert_eq!(primary.requests().len(), 6);
}

#[tokio::test]
async fn host_is_one_name_and_port_without_userinfo() {
    let (gw, primary) = gateway_with(json!({})).await;
    let port = addr(&gw).rsplit(':').next().unwrap().to_string();

    // Userinfo: the part before `@` is not the host, nor echoed.
    for host in [
        format!("127.0.0.1:{port}@evil.example"),
        format!("user:pass@127.0.0.1:{port}"),
        format!("localhost:{port}:1"),
        "localhost:http".to_string(),
    ] {
        let response = send_raw(&gw, &chat_request(&host, "")).await;
        assert!(response.starts_with("HTTP/1.1 403"), "{host}: {response}");
        assert_eq!(body_of(&response)["error"]["code"], "host_not_allowed");
        assert!(!response.contains("pass@"), "{response}");
    }
    // Two Host headers: neither is believed.
    for second in ["evil.example", "localhost"] {
        let response = send_raw(
            &gw,
            &chat_request(&format!("localhost:{port}"), &format!("Host: {second}\r\n")),
        )
        .await;
        assert!(response.starts_with("HTTP/1.1 400"), "{response}");
        assert!(
            body_of(&response)["error"]["message"]
                .as_str()
                .unwrap()
                .contains("more than one Host header"),
            "{response}"
        );
    }
    // A request to an absolute URI is to its host, whatever `Host` says.
    for (target, host, status) in [
        ("http://evil.example/v1/status", "127.0.0.1", "403"),
        ("http://evil.example/v1/status", "", "403"),
        (
            &*format!("http://localhost:{port}/v1/status"),
            "evil.example",
            "200",
        ),
    ] {
        let host = match host {
            "" => String::new(),
            host => format!("Host: {host}\r\n"),
        };
        let request = format!("GET {target} HTTP/1.1\r\n{host}Connection: close\r\n\r\n");
        let response = send_raw(&gw, &request).await;
        let first = format!("HTTP/1.1 {status}");
        assert!(response.starts_with(&first), "{target}, {host}: {response}");
    }
    // No Host at all: a 400 in HTTP/1.1, as HTTP/1.0 may.
    for (version, status) in [("1.1", "HTTP/1.1 400"), ("1.0", "HTTP/1.0 200")] {
        let request = format!("GET /v1/status HTTP/{version}\r\nConnection: close\r\n\r\n");
        let response = send_raw(&gw, &request).await;
        assert!(response.starts_with(status), "{version}: {response}");
    }
    assert!(primary.requests().is_empty());
    let response = send_raw(&gw, &chat_request(&format!("localhost:{port}"), "")).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

/// A key sent as a Host or an Origin is not echoed in the refusal, in
/// any case it is written in.
#[tokio::test]
async fn a_key_sent_as_a_host_or_origin_is_not_echoed() {
    let token = "AdminTokenSecret0123456789abcdef";
    let (gw, _) = gateway_with(json!({"auth": {"token": token}})).await;
    let auth = format!("Authorization: Bearer {token}\r\n");
    for (host, origin) in [
        (format!("x.{token}"), String::new()),
        (
            "localhost".into(),
            format!("Origin: http://x.{token}.example\r\n"),
        ),
    ] {
        let response = send_raw(&gw, &chat_request(&host, &format!("{auth}{origin}"))).await;
        assert!(response.starts_with("HTTP/1.1 403"), "{host}: {response}");
        let message = body_of(&response)["error"]["message"].to_string();
        assert!(
            !message.to_lowercase().contains(&token.to_lowercase()),
            "{message}"
        );
        assert!(message.contains("[redacted]"), "{message}");
    }
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

// ---- Configs: bounded reading, and no secret in any error ----

/// Secrets a config holds literally, long enough that any part of one
/// found in an output is a leak.
const LITERAL_KEY: &str = "sk-literal-Q7w8e9r0t1y2u3i4o5";
const GATEWAY_TOKEN: &str = "gw-token-Z1x2c3v4b5n6m7a8s9";
const HEADER_SECRET: &str = "hdr-secret-P0o9i8u7y6t5r4e3";
const ENV_BLOCK_SECRET: &str = "env-block-L1k2j3h4g5f6d7s8a9";
const SECRETS: [&str; 5] = [
    LITERAL_KEY,
    GATEWAY_TOKEN,
    HEADER_SECRET,
    ENV_BLOCK_SECRET,
    KEY,
];

/// The first 12-character piece of a secret found in `output`.
fn leaked(output: &str) -> Option<String> {
    SECRETS.iter().find_map(|secret| {
        let chars: Vec<char> = secret.chars().collect();
        chars
            .windows(12)
            .map(|window| window.iter().collect::<String>())
            .find(|piece| output.contains(piece.as_str()))
    })
}

/// A JSON5 config holding every kind of literal secret, one per line.
fn config_with_literal_secrets(base_url: &str) -> String {
    format!(
        r#"{{
  // clawgate config with literal secrets (a supported, warned setup)
  env: {{ OTHER_KEY: "{ENV_BLOCK_SECRET}" }},
  gateway: {{
    port: 0,
    auth: {{ token: "{GATEWAY_TOKEN}" }},
    timeouts: {{ connectSeconds: 5, firstByteSeconds: 20 }},
  }},
  models: {{
    mode: "replace",
    providers: {{
      primary: {{
        baseUrl: "{base_url}",
        apiKey: "{LITERAL_KEY}",
        headers: {{ "X-Api-Key": "{HEADER_SECRET}" }},
        models: [{{ id: "m", name: "Mock" }}],
      }},
      backup: {{
        baseUrl: "{base_url}",
        apiKey: "${{OTHER_KEY}}",
        models: [{{ id: "m", name: "Mock", contextWindow: 128000 }}],
      }},
    }},
  }},
  agents: {{ defaults: {{ model: {{ primary: "primary/m", fallbacks: ["backup/m"] }} }} }},
}}
"#
    )
}

/// Everything `config validate`, `serve` and a reload print about `text`:
/// its errors, or its warnings.
fn printed(text: &str) -> String {
    let env = clawgate::config::Environment::from_pairs([("CLAWGATE_TEST", "1")]);
    match clawgate::config::load_str(text, &env, clawgate::config::Secrets::Offline) {
        Ok(loaded) => loaded.warnings.join("\n"),
        Err(errors) => errors.to_string(),
    }
}

#[test]
fn the_config_with_literal_secrets_is_valid_and_warned_about() {
    let text = config_with_literal_secrets("http://127.0.0.1:9/v1");
    let env = clawgate::config::Environment::default();
    let loaded = clawgate::config::load_str(&text, &env, clawgate::config::Secrets::Offline)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        loaded.literal_secrets.len() >= 2,
        "{:?}",
        loaded.literal_secrets
    );
    assert_eq!(leaked(&printed(&text)), None);
}

/// Every way of corrupting one character: deleted, or replaced by a
/// character that JSON5 gives a meaning to.
const CORRUPTIONS: &[Option<char>] = &[
    None,
    Some(','),
    Some(':'),
    Some('"'),
    Some('\''),
    Some('{'),
    Some('}'),
    Some('['),
    Some(']'),
    Some('/'),
    Some('\\'),
    Some(' '),
    Some('\n'),
    Some('x'),
    Some('5'),
];

fn corrupted(text: &str, at: usize, with: Option<char>) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    match with {
        None => {
            chars.remove(at);
        }
        Some(c) => chars[at] = c,
    }
    chars.into_iter().collect()
}

#[test]
fn no_one_character_corruption_makes_an_error_print_a_secret() {
    let text = config_with_literal_secrets("http://127.0.0.1:9/v1");
    let length = text.chars().count();
    // Each position gets three of the corruptions, in turn: every pair of
    // position and corruption is a few positions away from one tried.
    for at in 0..length {
        for with in (0..3).map(|k| CORRUPTIONS[(at + k * 5) % CORRUPTIONS.len()]) {
            let broken = corrupted(&text, at, with);
            let output = printed(&broken);
            if let Some(piece) = leaked(&output) {
                panic!(
                    "{piece:?} printed for a corruption at {at} ({with:?}):\n{broken}\n---\n{output}"
                );
            }
        }
    }
}

/// Each field of the config, as a JSON pointer, with a value of the wrong
/// type holding a secret.
#[test]
fn no_field_of_the_wrong_type_makes_an_error_print_a_secret() {
    let text = config_with_literal_secrets("http://127.0.0.1:9/v1");
    let document: Value = json5_value(&text);
    let mut pointers = Vec::new();
    collect_pointers(&document, String::new(), &mut pointers);
    assert!(pointers.len() > 20, "{pointers:?}");
    let wrong = [
        json!(LITERAL_KEY),
        json!([LITERAL_KEY]),
        json!({"x": LITERAL_KEY}),
        json!(12345678901234567u64),
        json!(true),
        json!(null),
    ];
    for pointer in &pointers {
        for value in &wrong {
            let mut broken = document.clone();
            *broken.pointer_mut(pointer).unwrap() = value.clone();
            // As Nix writes it (JSON), and as a person does (JSON5).
            for text in [broken.to_string(), json5_like(&broken)] {
                let output = printed(&text);
                assert_eq!(leaked(&output), None, "{pointer} = {value}:\n{output}");
                // A number is shown only where a number belongs (`port:
                // invalid value: integer `...`, expected a whole number from 0 to 65535`).
                if !output.contains("invalid value: integer") {
                    assert!(!output.contains("12345678901234567"), "{pointer}: {output}");
                }
            }
        }
    }
}

fn json5_value(text: &str) -> Value {
    clawgate::config::parse_document(text).unwrap_or_else(|e| panic!("{e}"))
}

/// `value` as JSON5 with unquoted keys where they can be.
fn json5_like(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let members: Vec<String> = map
                .iter()
                .map(|(key, value)| {
                    let bare = key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !key.starts_with(|c: char| c.is_ascii_digit());
                    let key = if bare {
                        key.clone()
                    } else {
                        Value::from(key.as_str()).to_string()
                    };
                    format!("{key}: {}", json5_like(value))
                })
                .collect();
            format!("{{\n{},\n}}", members.join(",\n"))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(json5_like).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

fn collect_pointers(value: &Value, at: String, out: &mut Vec<String>) {
    if !at.is_empty() {
        out.push(at.clone());
    }
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                collect_pointers(
                    value,
                    format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (index, value) in items.iter().enumerate() {
                collect_pointers(value, format!("{at}/{index}"), out);
            }
        }
        _ => {}
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Two corruptions at once, anywhere.
    #[test]
    fn no_two_corruptions_make_an_error_print_a_secret(
        first in proptest::prelude::any::<proptest::sample::Index>(),
        second in proptest::prelude::any::<proptest::sample::Index>(),
        how in proptest::prelude::any::<(proptest::sample::Index, proptest::sample::Index)>(),
    ) {
        let text = config_with_literal_secrets("http://127.0.0.1:9/v1");
        let once = corrupted(&text, first.index(text.chars().count()), CORRUPTIONS[how.0.index(CORRUPTIONS.len())]);
        let twice = corrupted(&once, second.index(once.chars().count()), CORRUPTIONS[how.1.index(CORRUPTIONS.len())]);
        let output = printed(&twice);
        proptest::prop_assert_eq!(leaked(&output), None, "{}\n---\n{}", twice, output);
    }
}

#[test]
fn every_command_refuses_a_deep_or_huge_config_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("deep.json5");
    // Valid JSON5 ten thousand levels deep: it used to overflow the stack.
    std::fs::write(
        &deep,
        format!("{{ a: {}1{} }}", "[".repeat(10_000), "]".repeat(10_000)),
    )
    .unwrap();
    let huge = dir.path().join("huge.json");
    // A 50 MB string: it used to take 16 s to read.
    let mut text = String::from("{\"gateway\": {\"x\": \"");
    text.push_str(&"a".repeat(50 << 20));
    text.push_str("\"}}");
    std::fs::write(&huge, text).unwrap();

    for (file, expected) in [
        (&deep, "nested more than 64 levels deep"),
        (
            &huge,
            "is larger than 1024 KiB, the most clawgate reads as a config",
        ),
    ] {
        let path = file.to_str().unwrap();
        for args in [
            &["config", "validate", "--config", path][..],
            &["config", "show", "--config", path],
            &["models", "list", "--config", path],
            &["serve", "--port", "0", "--config", path],
        ] {
            let output = run(args, &[]);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
            assert!(stderr.contains(expected), "{args:?}: {stderr}");
            assert!(
                stderr.len() < 2000,
                "{args:?}: a short message, not the file"
            );
        }
    }
}

#[test]
fn the_cli_never_prints_a_secret_from_a_broken_config_or_env_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = config_with_literal_secrets("http://127.0.0.1:9/v1");
    let cases = [
        // A missing comma after the literal key.
        text.replace(
            &format!("apiKey: \"{LITERAL_KEY}\","),
            &format!("apiKey: \"{LITERAL_KEY}\""),
        ),
        // A token where an object belongs.
        text.replace(
            &format!("auth: {{ token: \"{GATEWAY_TOKEN}\" }}"),
            &format!("auth: \"{GATEWAY_TOKEN}\""),
        ),
        // A header value's quotes forgotten.
        text.replace(&format!("\"{HEADER_SECRET}\""), HEADER_SECRET),
    ];
    for (index, broken) in cases.iter().enumerate() {
        let path = dir.path().join(format!("broken-{index}.json5"));
        std::fs::write(&path, broken).unwrap();
        let path = path.to_str().unwrap();
        for args in [
            &["config", "validate", "--config", path][..],
            &["config", "validate", "--json", "--config", path],
            &["serve", "--port", "0", "--config", path],
        ] {
            let output = run(args, &[]);
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert_eq!(output.status.code(), Some(1), "{args:?}: {all}");
            assert!(all.contains("broken-"), "{args:?}: {all}");
            assert_eq!(leaked(&all), None, "{args:?}: {all}");
        }
    }

    // An env file with `NAME: value` where `NAME=value` belongs.
    let env_file = dir.path().join("secrets.env");
    std::fs::write(&env_file, format!("MOONSHOT_API_KEY: {LITERAL_KEY}=\n")).unwrap();
    let output = run(
        &[
            "config",
            "validate",
            "--env-file",
            env_file.to_str().unwrap(),
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(":1: invalid variable name: \"MOONSHOT_API_KEY\" is followed by ':'"),
        "{stderr}"
    );
    assert_eq!(leaked(&stderr), None, "{stderr}");
}

/// `clawgate serve` as a child process, its log lines collected.
struct Served {
    child: tokio::process::Child,
    url: String,
    logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Served {
    async fn start(config: &std::path::Path) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(BIN)
            .args(["serve", "--port", "0", "--log-format", "json", "--config"])
            .arg(config)
            .env_clear()
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let url = loop {
            let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
                .await
                .expect("clawgate logs its address")
                .unwrap()
                .expect("clawgate is running");
            logs.lock().unwrap().push(line.clone());
            if let Some(at) = line.find("listening on http://") {
                let rest = &line[at + "listening on ".len()..];
                break rest.split(['"', ' ']).next().unwrap().to_string();
            }
        };
        let sink = logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, url, logs }
    }

    /// Sends SIGHUP and waits (bounded) for the reload's log line (one JSON
    /// object, its message's lines escaped).
    async fn reload(&self) -> String {
        let seen = self.logs.lock().unwrap().len();
        let pid = self.child.id().unwrap() as i32;
        // SAFETY: a plain kill(2) of our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let line = self.logs.lock().unwrap()[seen..]
                .iter()
                .find(|line| line.contains("reload refused") || line.contains("config reloaded"))
                .cloned();
            if let Some(line) = line {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no reload line in:\n{}",
                self.logs.lock().unwrap().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn answers(&self) -> reqwest::StatusCode {
        reqwest::Client::new()
            .post(format!("{}/v1/chat/completions", self.url))
            .bearer_auth(GATEWAY_TOKEN)
            .json(&json!({"messages": user_message()}))
            .send()
            .await
            .expect("the gateway is up")
            .status()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reload_however_broken_stops_the_gateway_or_prints_a_secret() {
    let backend = healthy_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json5");
    let good = config_with_literal_secrets(&backend.base_url());
    std::fs::write(&path, &good).unwrap();
    let mut served = Served::start(&path).await;
    assert_eq!(served.answers().await, 200);

    let deep = format!("{{ a: {}1{} }}", "[".repeat(4_000), "]".repeat(4_000));
    // The depth check once lost count after a JSON5 line continuation
    // (a backslash before the line break), and the reload overflowed.
    let continued = format!(
        "{{ k: \"a\\\nb\", a: {}1{} }}",
        "[".repeat(4_000),
        "]".repeat(4_000)
    );
    let huge = format!("{{ a: \"{}\" }}", "x".repeat(2 << 20));
    let missing_comma = good.replace(
        &format!("apiKey: \"{LITERAL_KEY}\","),
        &format!("apiKey: \"{LITERAL_KEY}\""),
    );
    let token_as_auth = good.replace(
        &format!("auth: {{ token: \"{GATEWAY_TOKEN}\" }}"),
        &format!("auth: \"{GATEWAY_TOKEN}\""),
    );
    for (text, why) in [
        (&deep, "nested more than 64 levels deep"),
        (&continued, "nested more than 64 levels deep"),
        (&huge, "larger than 1024 KiB"),
        (
            &missing_comma,
            "a comma is probably missing between members",
        ),
        (
            &token_as_auth,
            "gateway.auth: invalid type: string, expected",
        ),
    ] {
        std::fs::write(&path, text).unwrap();
        let line = served.reload().await;
        assert!(
            line.contains("reload refused; the previous config keeps serving"),
            "{line}"
        );
        assert!(line.contains(why), "{line}");
        assert_eq!(served.answers().await, 200, "still serving after: {why}");
    }
    std::fs::write(&path, &good).unwrap();
    assert!(served.reload().await.contains("config reloaded"));
    assert_eq!(served.answers().await, 200);
    assert!(served.child.try_wait().unwrap().is_none(), "still running");
    let logs = served.logs.lock().unwrap().join("\n");
    assert_eq!(leaked(&logs), None, "{logs}");
}

/// A model named by a string as long as a body is no model: the 404 comes
/// at once (no suggestion is sought by comparing it with every known
/// name), and shows only the name's start, on every front end.
#[tokio::test]
async fn a_model_name_as_long_as_a_body_is_refused_at_once() {
    let keys = [
        ("MOONSHOT_API_KEY", "sk-moonshot"),
        ("KIMI_API_KEY", "sk-kimi"),
        ("OPENROUTER_API_KEY", "sk-or"),
    ];
    let gw = gateway_with_env(json!({}), &keys).await;
    let name = "a".repeat(1_000_000);
    let started = Instant::now();
    let messages = json!([{"role": "user", "content": "hi"}]);
    for response in [
        gw.chat(json!({"model": name, "messages": messages})).await,
        gw.messages(json!({"model": name, "max_tokens": 8, "messages": messages}))
            .await,
        gw.responses(json!({"model": name, "input": "hi"})).await,
        gw.client()
            .get(format!("{}/v1/models/{}", gw.url, &name[..60_000]))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(response.status(), 404);
        let body = response.text().await.unwrap();
        assert!(body.len() < 2_000, "{} bytes", body.len());
        assert!(
            body.contains("… (1000000 bytes)") || body.contains("… (60000 bytes)"),
            "{body}"
        );
    }
    let took = started.elapsed();
    // A debug build took 143 s before; well under a second now.
    assert!(took < Duration::from_secs(20), "{took:?}");
}
