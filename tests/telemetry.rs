//! OpenTelemetry traces (`gateway.telemetry`): the spans a request exports
//! to an OTLP/HTTP receiver on port 0 (decoded with `opentelemetry-proto`),
//! their parentage and GenAI attributes, the `traceparent` each attempt
//! sends, and a collector that is down, slow or refusing costing requests
//! nothing while the drops are counted.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use clawgate::config::{self, Environment, Secrets};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::metrics::v1::HistogramDataPoint;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::{Value, json};

use clawgate_mock::MockOptions;
use common::{
    chain_config, failing_mock, gateway, gateway_with_env, header, healthy_mock, mock, user_message,
};

/// How a fake collector answers.
#[derive(Clone, Copy)]
enum Collector {
    Takes,
    Refuses,
    Hangs,
}

#[derive(Clone)]
struct Received {
    spans: Arc<Mutex<Vec<Span>>>,
    /// Each metrics export, as received.
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
    /// `service.name` of each export.
    services: Arc<Mutex<Vec<String>>>,
    mode: Collector,
}

/// A fake OTLP/HTTP collector on port 0; returns its base URL.
async fn collector(mode: Collector) -> (String, Received) {
    let received = Received {
        spans: Arc::default(),
        metrics: Arc::default(),
        services: Arc::default(),
        mode,
    };
    async fn traces(State(received): State<Received>, body: Bytes) -> StatusCode {
        match received.mode {
            Collector::Refuses => return StatusCode::SERVICE_UNAVAILABLE,
            Collector::Hangs => std::future::pending().await,
            Collector::Takes => {}
        }
        let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
        for resource_spans in request.resource_spans {
            let resource = resource_spans.resource.unwrap_or_default();
            for kv in resource.attributes {
                if kv.key == "service.name"
                    && let Some(Any::StringValue(name)) = kv.value.and_then(|v| v.value)
                {
                    received.services.lock().unwrap().push(name);
                }
            }
            for scope in resource_spans.scope_spans {
                received.spans.lock().unwrap().extend(scope.spans);
            }
        }
        StatusCode::OK
    }
    async fn metrics(State(received): State<Received>, body: Bytes) -> StatusCode {
        let request = ExportMetricsServiceRequest::decode(body).expect("an OTLP protobuf body");
        received.metrics.lock().unwrap().push(request);
        StatusCode::OK
    }
    let app = Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/metrics", post(metrics))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

impl Received {
    /// The spans received once there are `count`, waiting at most 10 s.
    async fn wait_for(&self, count: usize) -> Vec<Span> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let spans = self.spans.lock().unwrap().clone();
            if spans.len() >= count || Instant::now() > deadline {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a Any> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn text<'a>(span: &'a Span, key: &str) -> &'a str {
    match attribute(span, key) {
        Some(Any::StringValue(text)) => text,
        other => panic!("{key} is {other:?} on {}", span.name),
    }
}

fn int(span: &Span, key: &str) -> i64 {
    match attribute(span, key) {
        Some(Any::IntValue(n)) => *n,
        other => panic!("{key} is {other:?} on {}", span.name),
    }
}

fn texts(span: &Span, key: &str) -> Vec<String> {
    match attribute(span, key) {
        Some(Any::ArrayValue(array)) => array
            .values
            .iter()
            .map(|v| match &v.value {
                Some(Any::StringValue(s)) => s.clone(),
                other => panic!("{other:?} in {key}"),
            })
            .collect(),
        other => panic!("{key} is {other:?} on {}", span.name),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `chain_config` with telemetry to `collector` and no retries, so each
/// target is one attempt.
fn traced(mut config: Value, endpoint: &str) -> Value {
    config["gateway"] = json!({
        "telemetry": {"endpoint": endpoint, "serviceName": "clawgate-test", "queueSpans": 64},
        "retries": {"perTarget": 0},
    });
    config
}

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn a_fallback_is_a_request_span_over_two_attempt_spans_in_the_clients_trace() {
    let (endpoint, received) = collector(Collector::Takes).await;
    let primary = failing_mock(503, "server_error").await;
    let backup = healthy_mock().await;
    let gw = gateway(traced(chain_config(&primary, &backup), &endpoint)).await;

    for stream in [false, true] {
        received.spans.lock().unwrap().clear();
        let response = gw
            .client()
            .post(format!("{}/v1/chat/completions", gw.url))
            .header("traceparent", format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
            .json(
                &json!({"model": "primary/m", "messages": user_message(), "stream": stream,
                          "max_tokens": 50, "temperature": 0.5, "top_p": 0.9,
                          "stream_options": {"include_usage": true}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body = response.text().await.unwrap();
        let answered = if stream {
            "[DONE]"
        } else {
            "Hello from clawgate-mock."
        };
        assert!(body.contains(answered), "{body}");

        let spans = received.wait_for(3).await;
        assert_eq!(spans.len(), 3, "stream {stream}: {spans:#?}");
        let request = spans
            .iter()
            .find(|s| s.kind == SpanKind::Server as i32)
            .expect("a server span");
        let mut attempts: Vec<&Span> = spans
            .iter()
            .filter(|s| s.kind == SpanKind::Client as i32)
            .collect();
        attempts.sort_by_key(|s| int(s, "clawgate.attempt.number"));
        assert_eq!(attempts.len(), 2);

        // The client's trace, the client's span as the parent.
        assert_eq!(request.name, "chat primary/m");
        assert_eq!(hex(&request.trace_id), CLIENT_TRACE);
        assert_eq!(hex(&request.parent_span_id), CLIENT_SPAN);
        for attempt in &attempts {
            assert_eq!(attempt.trace_id, request.trace_id);
            assert_eq!(attempt.parent_span_id, request.span_id);
            assert!(attempt.start_time_unix_nano >= request.start_time_unix_nano);
            assert!(attempt.end_time_unix_nano <= request.end_time_unix_nano);
            assert_eq!(attempt.name, "chat m");
            assert_eq!(text(attempt, "gen_ai.operation.name"), "chat");
            assert_eq!(text(attempt, "server.address"), "127.0.0.1");
        }
        let (first, second) = (attempts[0], attempts[1]);
        assert_eq!(text(first, "gen_ai.provider.name"), "primary");
        assert_eq!(text(first, "error.type"), "provider_error");
        assert_eq!(int(first, "http.response.status_code"), 503);
        assert_eq!(first.status.as_ref().map(|s| s.code), Some(2));
        assert_eq!(text(second, "gen_ai.provider.name"), "backup");
        assert!(attribute(second, "error.type").is_none());
        assert!(second.status.is_none());

        // The request span, by the GenAI conventions.
        assert_eq!(text(request, "gen_ai.operation.name"), "chat");
        assert_eq!(text(request, "gen_ai.request.model"), "primary/m");
        assert_eq!(text(request, "gen_ai.provider.name"), "backup");
        assert_eq!(text(request, "gen_ai.response.model"), "m");
        assert_eq!(int(request, "gen_ai.request.max_tokens"), 50);
        assert_eq!(
            attribute(request, "gen_ai.request.temperature"),
            Some(&Any::DoubleValue(0.5))
        );
        assert_eq!(
            attribute(request, "gen_ai.request.top_p"),
            Some(&Any::DoubleValue(0.9))
        );
        assert_eq!(texts(request, "gen_ai.response.finish_reasons"), ["stop"]);
        assert!(!text(request, "gen_ai.response.id").is_empty());
        assert!(int(request, "gen_ai.usage.input_tokens") > 0);
        assert!(int(request, "gen_ai.usage.output_tokens") > 0);
        assert_eq!(texts(request, "clawgate.chain"), ["primary/m", "backup/m"]);
        assert_eq!(
            attribute(request, "clawgate.fallback"),
            Some(&Any::BoolValue(true))
        );
        assert_eq!(
            attribute(request, "clawgate.time_to_first_token_s").is_some(),
            stream
        );
        assert!(attribute(request, "error.type").is_none());
        // Content is off by default.
        assert!(attribute(request, "gen_ai.input.messages").is_none());
        assert!(attribute(request, "gen_ai.output.messages").is_none());

        // Each provider saw its own attempt's span as the parent.
        for (mock, attempt) in [(&primary, first), (&backup, second)] {
            let sent = mock.requests().last().cloned().expect("a request");
            assert_eq!(
                sent["headers"]["traceparent"],
                format!("00-{CLIENT_TRACE}-{}-01", hex(&attempt.span_id))
            );
        }
    }
    assert!(
        received
            .services
            .lock()
            .unwrap()
            .iter()
            .all(|s| s == "clawgate-test")
    );
}

#[tokio::test]
async fn a_failed_chain_is_an_error_span_and_a_request_without_traceparent_starts_a_trace() {
    let (endpoint, received) = collector(Collector::Takes).await;
    let primary = failing_mock(503, "server_error").await;
    let backup = failing_mock(401, "invalid_api_key").await;
    let gw = gateway(traced(chain_config(&primary, &backup), &endpoint)).await;
    let response = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(response.status(), 502);
    let spans = received.wait_for(3).await;
    let request = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32)
        .expect("a server span");
    assert_eq!(request.name, "chat default");
    assert!(request.parent_span_id.is_empty());
    assert_eq!(request.trace_id.len(), 16);
    assert_eq!(text(request, "error.type"), "auth");
    assert_eq!(request.status.as_ref().map(|s| s.code), Some(2));
    assert!(attribute(request, "gen_ai.provider.name").is_none());
}

/// A client that leaves before its answer begins leaves no attempt
/// unended: the attempt the provider had (and got a `traceparent` for) is
/// exported, as `client_left`, so the provider's own trace has its parent.
#[tokio::test]
async fn an_attempt_its_client_left_is_ended_as_client_left() {
    let (endpoint, received) = collector(Collector::Takes).await;
    let slow = mock(MockOptions {
        latency_ms: 3_000,
        ..Default::default()
    })
    .await;
    let backup = healthy_mock().await;
    let gw = gateway(traced(chain_config(&slow, &backup), &endpoint)).await;
    let left = gw
        .client()
        .post(format!("{}/v1/chat/completions", gw.url))
        .timeout(Duration::from_millis(300))
        .json(&json!({"model": "primary/m", "messages": user_message()}))
        .send()
        .await;
    assert!(left.is_err(), "the client left before the answer");
    let spans = received.wait_for(2).await;
    let attempt = spans
        .iter()
        .find(|s| s.kind == SpanKind::Client as i32)
        .unwrap_or_else(|| panic!("an attempt span: {spans:#?}"));
    assert_eq!(text(attempt, "error.type"), "client_left");
    assert_eq!(text(attempt, "clawgate.target"), "primary/m");
    let request = spans.iter().find(|s| s.kind == SpanKind::Server as i32);
    let request = request.expect("the request span");
    assert_eq!(attempt.parent_span_id, request.span_id);
}

/// A stream its provider breaks after it began is a failed request in its
/// trace, as in the metrics: the request span names the stream's error.
#[tokio::test]
async fn a_stream_its_provider_breaks_is_an_error_span() {
    let (endpoint, received) = collector(Collector::Takes).await;
    let breaking = mock(MockOptions {
        error_after_chunks: Some(2),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let gw = gateway(traced(chain_config(&breaking, &backup), &endpoint)).await;
    let response = gw
        .chat(json!({"messages": user_message(), "stream": true}))
        .await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(body.contains("upstream_error"), "{body}");
    let spans = received.wait_for(2).await;
    let request = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32)
        .expect("a server span");
    assert_eq!(text(request, "error.type"), "upstream_error");
    assert_eq!(request.status.as_ref().map(|s| s.code), Some(2));
}

/// A stream its client leaves midway is a failed request in its trace,
/// as in the ledger: the request span says how it ended.
#[tokio::test]
async fn a_stream_its_client_leaves_midway_is_an_error_span() {
    let (endpoint, received) = collector(Collector::Takes).await;
    let slow = mock(MockOptions {
        chunk_delay_ms: 300,
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let gw = gateway(traced(chain_config(&slow, &backup), &endpoint)).await;
    let mut response = gw
        .chat(json!({"messages": user_message(), "stream": true}))
        .await;
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap();
    assert!(first.is_some(), "the stream began");
    drop(response);
    let spans = received.wait_for(2).await;
    let request = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32)
        .expect("a server span");
    assert_eq!(text(request, "error.type"), "client_left");
    assert_eq!(request.status.as_ref().map(|s| s.code), Some(2));
}

#[tokio::test]
async fn content_when_asked_for_follows_the_conventions_and_passes_the_key_scrubber() {
    let (endpoint, received) = collector(Collector::Takes).await;
    let primary = healthy_mock().await;
    let backup = healthy_mock().await;
    let mut config = traced(chain_config(&primary, &backup), &endpoint);
    config["gateway"]["telemetry"]["captureContent"] = json!(true);
    let gw = gateway(config).await;
    let prompt = format!("my key is {} ok", common::KEY);
    for stream in [false, true] {
        received.spans.lock().unwrap().clear();
        let response = gw
            .chat(json!({"messages": [{"role": "user", "content": prompt}], "stream": stream}))
            .await;
        assert_eq!(response.status(), 200);
        response.text().await.unwrap();
        let spans = received.wait_for(2).await;
        let request = spans
            .iter()
            .find(|s| s.kind == SpanKind::Server as i32)
            .expect("a server span");
        let input: Value = serde_json::from_str(text(request, "gen_ai.input.messages")).unwrap();
        assert_eq!(
            input,
            json!([{"role": "user", "parts": [{"type": "text", "content": "my key is [redacted] ok"}]}])
        );
        let output: Value = serde_json::from_str(text(request, "gen_ai.output.messages")).unwrap();
        assert_eq!(output[0]["role"], "assistant", "stream {stream}");
        assert_eq!(output[0]["finish_reason"], "stop");
        let parts = output[0]["parts"].as_array().unwrap();
        assert!(
            parts.contains(&json!({"type": "text", "content": "Hello from clawgate-mock."})),
            "stream {stream}: {output}"
        );
        assert!(!format!("{spans:?}").contains(common::KEY));
    }
}

/// A Messages client streaming from an Anthropic-format provider gets the
/// provider's own events, and the gateway reads only the answer's start
/// and end, unless the trace keeps the content: then every delta is read.
#[tokio::test]
async fn an_anthropic_providers_own_stream_is_traced_whole_when_content_is_kept() {
    let (endpoint, received) = collector(Collector::Takes).await;
    let mock = healthy_mock().await;
    let mut provider = common::provider(&mock);
    provider["api"] = json!("anthropic-messages");
    let config = json!({
        "models": {"mode": "replace", "providers": {"claude-like": provider}},
        "agents": {"defaults": {"model": "claude-like/m"}},
    });
    for capture in [true, false] {
        let mut config = traced(config.clone(), &endpoint);
        config["gateway"]["telemetry"]["captureContent"] = json!(capture);
        let gw = gateway(config).await;
        received.spans.lock().unwrap().clear();
        let response = gw
            .messages(
                json!({"model": "claude-like/m", "max_tokens": 64, "stream": true,
                "messages": [{"role": "user", "content": "hi"}]}),
            )
            .await;
        assert_eq!(response.status(), 200);
        let events = response.text().await.unwrap();
        assert_eq!(events.matches("text_delta").count(), 3, "{events}");
        let spans = received.wait_for(2).await;
        let request = spans
            .iter()
            .find(|s| s.kind == SpanKind::Server as i32)
            .expect("a server span");
        assert_eq!(texts(request, "gen_ai.response.finish_reasons"), ["stop"]);
        assert!(!text(request, "gen_ai.response.id").is_empty());
        assert!(int(request, "gen_ai.usage.output_tokens") > 0);
        let output = attribute(request, "gen_ai.output.messages");
        if capture {
            let output: Value =
                serde_json::from_str(text(request, "gen_ai.output.messages")).unwrap();
            let parts = output[0]["parts"].as_array().unwrap();
            assert!(
                parts.contains(&json!({"type": "text", "content": "Hello from clawgate-mock."})),
                "{output}"
            );
        } else {
            assert!(output.is_none());
        }
    }
}

#[tokio::test]
async fn the_gen_ai_histograms_go_over_otlp_when_asked_for_and_at_shutdown() {
    let (endpoint, received) = collector(Collector::Takes).await;
    let primary = healthy_mock().await;
    let backup = healthy_mock().await;
    let mut config = traced(chain_config(&primary, &backup), &endpoint);
    config["gateway"]["telemetry"]["metrics"] = json!(true);
    // Not sampled: the histograms count every request all the same.
    config["gateway"]["telemetry"]["sampleRatio"] = json!(0);
    let env = [("OTEL_METRIC_EXPORT_INTERVAL", "100")];
    let gw = gateway_with_env(config, &env).await;
    for _ in 0..2 {
        let response = gw.chat(json!({"messages": user_message()})).await;
        assert_eq!(response.status(), 200);
        response.text().await.unwrap();
    }
    // A cumulative export with both requests, every interval.
    let deadline = Instant::now() + Duration::from_secs(10);
    let count = |request: &ExportMetricsServiceRequest, name: &str, token_type: Option<&str>| {
        let mut attributes = vec![
            ("gen_ai.provider.name", "primary"),
            ("gen_ai.response.model", "primary/m"),
        ];
        attributes.extend(token_type.map(|t| ("gen_ai.token.type", t)));
        histogram_count(request, name, &attributes)
    };
    loop {
        let last = received.metrics.lock().unwrap().last().cloned();
        let done = last.as_ref().is_some_and(|r| {
            count(r, "gen_ai.client.token.usage", Some("input")) == Some(2)
                && count(r, "gen_ai.client.operation.duration", None) == Some(2)
                && count(r, "gen_ai.server.time_to_first_token", None) == Some(2)
        });
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no export of both requests: {last:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(received.spans.lock().unwrap().is_empty());
    // One more at shutdown.
    let before = received.metrics.lock().unwrap().len();
    gw.gateway
        .telemetry()
        .unwrap()
        .shutdown(Duration::from_secs(5))
        .await;
    assert!(received.metrics.lock().unwrap().len() > before);
}

/// The count of histogram `name`'s data point whose attributes hold every
/// one of `attributes` (string values), in an OTLP metrics export.
fn histogram_count(
    request: &ExportMetricsServiceRequest,
    name: &str,
    attributes: &[(&str, &str)],
) -> Option<u64> {
    let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
    let metric = metrics.iter().find(|m| m.name == name)?;
    let Some(Data::Histogram(histogram)) = &metric.data else {
        return None;
    };
    let has = |point: &&HistogramDataPoint| {
        attributes.iter().all(|(key, value)| {
            point.attributes.iter().any(|kv| {
                kv.key == *key
                    && kv.value.as_ref().and_then(|v| v.value.as_ref())
                        == Some(&Any::StringValue((*value).into()))
            })
        })
    };
    histogram
        .data_points
        .iter()
        .find(has)
        .map(|point| point.count)
}

/// The histograms over OTLP count the requests `/metrics` counts: those
/// answered whole. A stream that broke after its first chunks is not one.
#[tokio::test]
async fn the_gen_ai_histograms_count_the_same_requests_over_otlp_as_on_metrics() {
    let (endpoint, received) = collector(Collector::Takes).await;
    let primary = mock(MockOptions {
        reply: "one two three four five six".into(),
        error_after_chunks: Some(4),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let mut config = traced(chain_config(&primary, &backup), &endpoint);
    config["gateway"]["telemetry"]["metrics"] = json!(true);
    let env = [("OTEL_METRIC_EXPORT_INTERVAL", "100")];
    let gw = gateway_with_env(config, &env).await;
    // Streamed: the primary's stream breaks after some text has gone on.
    let broken = gw
        .chat(json!({"messages": user_message(), "stream": true}))
        .await;
    assert_eq!(header(&broken, "x-clawgate-provider"), "primary");
    broken.text().await.unwrap();
    // Whole: the primary's break comes before anything is sent, and the
    // backup answers.
    let whole = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(header(&whole, "x-clawgate-provider"), "backup");
    whole.text().await.unwrap();
    let points = |request: &ExportMetricsServiceRequest, provider: &str| {
        let attributes = [("gen_ai.provider.name", provider)];
        histogram_count(request, "gen_ai.client.operation.duration", &attributes)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let last = received.metrics.lock().unwrap().last().cloned();
        if let Some(last) = last.filter(|last| points(last, "backup") == Some(1)) {
            assert_eq!(points(&last, "primary"), None, "{last:#?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no export of the backup's answer: {:#?}",
            received.metrics.lock().unwrap().last()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A request its client's sampled flag leaves untraced is given no span,
/// and its providers are sent the client's `traceparent` as it came: the
/// context goes on whole, as a participant that records nothing passes it.
#[tokio::test]
async fn an_unsampled_clients_traceparent_is_passed_on_as_it_came() {
    let (endpoint, received) = collector(Collector::Takes).await;
    let primary = healthy_mock().await;
    let backup = healthy_mock().await;
    let gw = gateway(traced(chain_config(&primary, &backup), &endpoint)).await;
    // The `traceparent` the provider gets for a request with `flags`.
    let onward = async |flags: &str| {
        let response = gw
            .client()
            .post(format!("{}/v1/chat/completions", gw.url))
            .header(
                "traceparent",
                format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-{flags}"),
            )
            .json(&json!({"messages": user_message()}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap();
        let sent = primary.requests().pop().unwrap();
        sent["headers"]["traceparent"].as_str().unwrap().to_string()
    };
    assert_eq!(
        onward("00").await,
        format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-00")
    );
    // Spans leave within a second of their end: none did.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(received.spans.lock().unwrap().is_empty());
    // With the trace sampled, the attempt's own span is the parent.
    let sampled = onward("01").await;
    assert!(sampled.starts_with(&format!("00-{CLIENT_TRACE}-")) && sampled.ends_with("-01"));
    assert!(!sampled.contains(CLIENT_SPAN), "{sampled}");
}

#[tokio::test]
async fn off_nothing_is_traced_and_providers_get_no_traceparent() {
    let primary = healthy_mock().await;
    let backup = healthy_mock().await;
    let gw = gateway(chain_config(&primary, &backup)).await;
    assert!(gw.gateway.telemetry().is_none());
    let response = gw
        .client()
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("traceparent", format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
        .json(&json!({"messages": user_message()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let sent = primary.requests().last().cloned().unwrap();
    assert!(sent["headers"].get("traceparent").is_none(), "{sent}");
}

#[tokio::test]
async fn shutdown_sends_what_is_queued_at_once() {
    let (endpoint, received) = collector(Collector::Takes).await;
    let primary = healthy_mock().await;
    let backup = healthy_mock().await;
    let gw = gateway(traced(chain_config(&primary, &backup), &endpoint)).await;
    let response = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap();
    let started = Instant::now();
    let telemetry = gw.gateway.telemetry().unwrap();
    telemetry.shutdown(Duration::from_secs(5)).await;
    // Not left for the next batch (a second away): sent before returning.
    assert_eq!(received.spans.lock().unwrap().len(), 2);
    assert!(started.elapsed() < Duration::from_secs(1));
}

fn dropped(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("clawgate_telemetry_dropped_spans_total "))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// Every collector failure in one test: the drop counter is process-wide.
#[tokio::test]
async fn a_collector_down_refusing_or_hanging_costs_requests_nothing_and_drops_are_counted() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let (refusing, _) = collector(Collector::Refuses).await;
    let (hanging, _) = collector(Collector::Hangs).await;
    for endpoint in [closed, refusing, hanging] {
        let primary = healthy_mock().await;
        let backup = healthy_mock().await;
        let mut config = traced(chain_config(&primary, &backup), &endpoint);
        // A queue of one: a hanging collector fills it at once.
        config["gateway"]["telemetry"]["queueSpans"] = json!(1);
        let gw = gateway(config).await;
        let before = dropped(&gw.metrics().await);
        for _ in 0..5 {
            let started = Instant::now();
            let response = gw.chat(json!({"messages": user_message()})).await;
            assert_eq!(response.status(), 200, "{endpoint}");
            response.text().await.unwrap();
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{endpoint}: a request took {:?}",
                started.elapsed()
            );
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while dropped(&gw.metrics().await) <= before && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            dropped(&gw.metrics().await) > before,
            "{endpoint}: no drops counted"
        );
    }
}

#[tokio::test]
async fn a_reload_that_changes_telemetry_says_it_takes_a_restart() {
    let (endpoint, _) = collector(Collector::Takes).await;
    let primary = healthy_mock().await;
    let backup = healthy_mock().await;
    let gw = gateway(traced(chain_config(&primary, &backup), &endpoint)).await;
    let reload = |config: Value, env: &[(&str, &str)]| {
        let env = Environment::from_pairs(env.iter().copied());
        let loaded = config::load_str(&config.to_string(), &env, Secrets::Required).unwrap();
        gw.gateway.replace_config(loaded.config)
    };
    let same = traced(chain_config(&primary, &backup), &endpoint);
    assert_eq!(reload(same.clone(), &[]), Vec::<String>::new());
    let key = [("OTEL_EXPORTER_OTLP_HEADERS", "authorization=k-0123456789")];
    assert_eq!(
        reload(same, &key),
        ["gateway.telemetry changed; it takes effect at the next restart"]
    );
    assert_eq!(
        reload(chain_config(&primary, &backup), &[]),
        ["gateway.telemetry changed; it takes effect at the next restart"]
    );
}

#[test]
fn config_show_redacts_the_export_headers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let config = json!({"gateway": {"telemetry": {"endpoint": "http://127.0.0.1:6006"}}});
    std::fs::write(&path, config.to_string()).unwrap();
    let secret = "phx-secret-0123456789abcdef";
    let headers = format!("authorization=Bearer%20{secret},x-team=t1");
    let env = [
        ("OTEL_EXPORTER_OTLP_HEADERS", headers.as_str()),
        ("MOONSHOT_API_KEY", "k-moonshot-0000"),
        ("OPENROUTER_API_KEY", "k-openrouter-0000"),
    ];
    let shown = common::run(
        &["config", "show", "--config", path.to_str().unwrap()],
        &env,
    );
    let stdout = String::from_utf8_lossy(&shown.stdout);
    assert_eq!(shown.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains(secret), "{stdout}");
    let value: Value = serde_json::from_str(&stdout).unwrap();
    let telemetry = &value["gateway"]["telemetry"];
    assert_eq!(telemetry["tracesUrl"], "http://127.0.0.1:6006/v1/traces");
    assert_eq!(
        telemetry["headers"],
        json!({"authorization": "[redacted]", "x-team": "[redacted]"})
    );
}

#[test]
fn a_bad_telemetry_config_names_the_path() {
    let load = |gateway: Value| {
        let text = json!({"gateway": gateway}).to_string();
        let env = Environment::from_pairs([
            ("MOONSHOT_API_KEY", "k-moonshot-0000"),
            ("OPENROUTER_API_KEY", "k-openrouter-0000"),
        ]);
        config::load_str(&text, &env, Secrets::Required)
            .err()
            .map(|errors| errors.to_string())
            .unwrap_or_default()
    };
    let typo = load(json!({"telemetry": {"endpont": "http://127.0.0.1:4318"}}));
    assert!(
        typo.contains("gateway.telemetry.endpont") && typo.contains("gateway.telemetry.endpoint"),
        "{typo}"
    );
    let ratio = load(json!({"telemetry": {"endpoint": "http://c:4318", "sampleRatio": 1.5}}));
    assert!(
        ratio.contains("gateway.telemetry.sampleRatio: expected a number from 0 to 1"),
        "{ratio}"
    );
    let url = load(json!({"telemetry": {"endpoint": "collector:4318"}}));
    assert!(url.contains("gateway.telemetry.endpoint: "), "{url}");
    let kind = load(json!({"telemetry": {"enabled": "yes"}}));
    assert!(kind.contains("gateway.telemetry.enabled"), "{kind}");
}

#[tokio::test]
async fn https_to_a_plain_http_collector_is_said_in_plain_words() {
    let (captured, _guard) = common::log::Captured::start();
    let (endpoint, _) = collector(Collector::Takes).await;
    let endpoint = endpoint.replacen("http://", "https://", 1);
    let primary = healthy_mock().await;
    let gw = gateway(traced(chain_config(&primary, &primary), &endpoint)).await;
    let response = gw.chat(json!({"messages": user_message()})).await;
    response.text().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let said = loop {
        let lines = captured.lines();
        let said = lines
            .iter()
            .map(|line| {
                line["fields"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .find(|message| message.contains("collector"));
        if let Some(said) = said {
            break said;
        }
        assert!(
            Instant::now() < deadline,
            "no line about the collector: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        said.contains(
            "the collector answered in plain HTTP to https://: write its endpoint with http://"
        ),
        "{said}"
    );
    assert!(!said.contains("InvalidContentType"), "{said}");
}

#[tokio::test]
async fn a_requests_span_names_its_session_and_why_its_cache_broke() {
    let (endpoint, received) = collector(Collector::Takes).await;
    let primary = healthy_mock().await;
    let backup = healthy_mock().await;
    let gw = gateway(traced(chain_config(&primary, &backup), &endpoint)).await;
    let tool =
        |name: &str| json!({"type": "function", "function": {"name": name, "parameters": {}}});
    for (tools, messages) in [
        (
            vec![tool("read")],
            json!([{"role": "user", "content": "go"}]),
        ),
        (
            vec![tool("read"), tool("grep")],
            json!([{"role": "user", "content": "go"}, {"role": "assistant", "content": "ok"},
                   {"role": "user", "content": "on"}]),
        ),
    ] {
        let response = gw
            .client()
            .post(format!("{}/v1/chat/completions", gw.url))
            .header("x-clawgate-session", "traced-1")
            .json(&json!({"tools": tools, "messages": messages}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }
    let spans = received.wait_for(4).await;
    let requests: Vec<&Span> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Server as i32)
        .collect();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(text(request, "clawgate.session"), "anonymous/traced-1");
    }
    let broke: Vec<&str> = requests
        .iter()
        .filter_map(|s| match attribute(s, "clawgate.session.cache_break") {
            Some(Any::StringValue(cause)) => Some(cause.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(broke, ["tools: added grep"]);
}
