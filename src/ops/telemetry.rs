//! OpenTelemetry traces over OTLP/HTTP (protobuf), by the GenAI semantic
//! conventions: a server span per request (`chat {model}`), a client span
//! per upstream attempt, both built once they have ended from what the
//! request already records, never while it runs.
//!
//! Off (`gateway.telemetry` unset and no `OTEL_EXPORTER_OTLP_*ENDPOINT`),
//! nothing here runs: no exporter, no ids, no spans. On, a request that is
//! sampled gets a [`Trace`] (its ids; the client's `traceparent` makes it
//! a child), each attempt sends the provider its own `traceparent`, and
//! finished spans are offered to a bounded queue that `export.rs` drains on
//! a task of its own. A collector that is down, slow or refusing costs a
//! request nothing: a full queue drops the span, counted in
//! `clawgate_telemetry_dropped_spans_total`. Prompts and completions
//! (`content.rs`) are in a span only when asked for; the GenAI histograms
//! (`histograms.rs`) go over OTLP only when asked for.

pub mod content;
mod export;
pub mod histograms;
mod span;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::SecretString;

pub use self::export::Exporter;
use self::histograms::{Answered, Histograms};
pub use self::span::Attributes;
use self::span::{Head, KIND_CLIENT, KIND_SERVER};

/// `gateway.telemetry` with the `OTEL_*` variables applied: where spans go
/// and which requests are traced.
#[derive(Debug)]
pub struct Settings {
    /// The OTLP/HTTP traces URL (`.../v1/traces`).
    pub traces_url: reqwest::Url,
    /// Sent with every export (an API key): from the environment only.
    pub headers: Vec<(String, SecretString)>,
    /// `service.name` of the spans' resource.
    pub service_name: String,
    /// The share of requests traced that carry no sampled parent.
    pub sample_ratio: f64,
    /// Follow the client's `traceparent` sampled flag when there is one.
    pub parent_based: bool,
    /// Spans waiting for export at most; more are dropped and counted.
    pub queue_spans: usize,
    /// Export prompts and completions (`gen_ai.input.messages`,
    /// `gen_ai.output.messages`), scrubbed of the config's keys.
    pub capture_content: bool,
    /// Where the GenAI histograms go over OTLP, when they do
    /// (`gateway.telemetry.metrics`, `OTEL_METRICS_EXPORTER=otlp`).
    pub metrics_url: Option<reqwest::Url>,
    /// How often they are sent (`OTEL_METRIC_EXPORT_INTERVAL`).
    pub metrics_interval: Duration,
}

impl Settings {
    /// Whether `other` would run the same exporter (headers included).
    pub fn same_as(&self, other: &Settings) -> bool {
        use secrecy::ExposeSecret;
        let headers = |s: &Settings| {
            s.headers
                .iter()
                .map(|(name, value)| (name.clone(), value.expose_secret().to_string()))
                .collect::<Vec<_>>()
        };
        self.traces_url == other.traces_url
            && self.service_name == other.service_name
            && self.sample_ratio == other.sample_ratio
            && self.parent_based == other.parent_based
            && self.queue_spans == other.queue_spans
            && self.capture_content == other.capture_content
            && self.metrics_url == other.metrics_url
            && self.metrics_interval == other.metrics_interval
            && headers(self) == headers(other)
    }
}

/// The running exporter and the sampling decision for new requests.
pub struct Telemetry {
    sample_ratio: f64,
    parent_based: bool,
    capture_content: bool,
    /// The GenAI histograms, when they are sent over OTLP.
    histograms: Option<Arc<Histograms>>,
    exporter: Exporter,
}

impl Telemetry {
    /// Starts the exporter on the current Tokio runtime.
    pub fn start(settings: &Settings) -> Result<Arc<Self>, reqwest::Error> {
        let histograms = settings
            .metrics_url
            .as_ref()
            .map(|_| Arc::new(Histograms::default()));
        Ok(Arc::new(Self {
            sample_ratio: settings.sample_ratio,
            parent_based: settings.parent_based,
            capture_content: settings.capture_content,
            exporter: Exporter::start(settings, histograms.clone())?,
            histograms,
        }))
    }

    /// Adds an answered request to the GenAI histograms sent over OTLP
    /// (every request, sampled or not), when they are.
    pub fn record_answer(&self, answered: &Answered) {
        if let Some(histograms) = &self.histograms {
            histograms.record(answered);
        }
    }

    /// The trace of a new request with `headers`, or `None` when it is not
    /// sampled. A valid `traceparent` makes the request's span its child.
    pub fn trace(self: &Arc<Self>, headers: &HeaderMap) -> Option<Arc<Trace>> {
        let parent = headers
            .get("traceparent")
            .and_then(|value| Traceparent::parse(value.as_bytes()));
        let sampled = match &parent {
            Some(parent) if self.parent_based => parent.sampled,
            _ => fastrand::f64() < self.sample_ratio,
        };
        if !sampled {
            return None;
        }
        Some(Arc::new(Trace {
            trace_id: parent
                .as_ref()
                .map_or_else(|| nonzero(fastrand::u128(..)), |p| p.trace_id),
            span_id: nonzero(fastrand::u64(..)).to_be_bytes(),
            parent: parent.map(|p| p.span_id),
            started: SystemTime::now(),
            attempts: AtomicU32::new(0),
            telemetry: self.clone(),
        }))
    }

    /// The client's `traceparent` as the providers of a request that is
    /// not traced are sent it: a participant that records nothing passes
    /// the context on as it came (W3C Trace Context), so that a trace the
    /// client's side keeps, or decides later, stays one. `None` without a
    /// valid one.
    pub fn passed_on(headers: &HeaderMap) -> Option<HeaderValue> {
        let parent = headers
            .get("traceparent")
            .and_then(|value| Traceparent::parse(value.as_bytes()))?;
        Some(traceparent(parent.trace_id, parent.span_id, parent.sampled))
    }

    /// Sends what is queued and stops the exporter, waiting at most
    /// `within`.
    pub async fn shutdown(&self, within: Duration) {
        self.exporter.shutdown(within).await;
    }
}

fn nonzero<T: Default + PartialEq + From<u8>>(id: T) -> T {
    if id == T::default() { T::from(1) } else { id }
}

/// A W3C `traceparent`: `00-{trace id}-{parent span id}-{flags}`.
#[derive(Debug, PartialEq)]
struct Traceparent {
    trace_id: u128,
    span_id: [u8; 8],
    sampled: bool,
}

impl Traceparent {
    fn parse(value: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(value).ok()?.trim();
        let mut parts = text.split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        // Version 00 has exactly four parts; a later one may add more.
        let version_ok = match version {
            "00" => parts.next().is_none(),
            "ff" => false,
            later => hex(later, 2),
        };
        if !version_ok
            || !hex(trace, 32)
            || !hex(span, 16)
            || !hex(flags, 2)
            || trace.bytes().any(|b| b.is_ascii_uppercase())
        {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok()?;
        let span_id = u64::from_str_radix(span, 16).ok()?;
        if trace_id == 0 || span_id == 0 {
            return None;
        }
        Some(Self {
            trace_id,
            span_id: span_id.to_be_bytes(),
            sampled: u8::from_str_radix(flags, 16).ok()? & 1 == 1,
        })
    }
}

/// One sampled request's trace: its ids, when it started, and its
/// attempts so far.
pub struct Trace {
    trace_id: u128,
    /// The request's span.
    span_id: [u8; 8],
    /// The client's span, from its `traceparent`.
    parent: Option<[u8; 8]>,
    started: SystemTime,
    attempts: AtomicU32,
    telemetry: Arc<Telemetry>,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Trace({:032x})", self.trace_id)
    }
}

/// An attempt's span while the attempt runs.
pub struct AttemptSpan {
    span_id: [u8; 8],
    started: SystemTime,
    /// Its place among the request's attempts, from 1.
    pub number: u32,
}

impl AttemptSpan {
    /// The `traceparent` the provider receives for this attempt.
    pub fn traceparent(&self, trace: &Trace) -> HeaderValue {
        traceparent(trace.trace_id, self.span_id, true)
    }
}

/// `00-{trace id}-{span id}-{01 sampled, else 00}`, written digit by digit.
fn traceparent(trace_id: u128, span_id: [u8; 8], sampled: bool) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = *b"00-00000000000000000000000000000000-0000000000000000-01";
    if !sampled {
        text[54] = b'0';
    }
    let ids = trace_id.to_be_bytes().into_iter().chain(span_id);
    // The trace id's 32 digits from byte 3, the span's 16 from byte 36.
    let places = (3..35).step_by(2).chain((36..52).step_by(2));
    for (byte, at) in ids.zip(places) {
        text[at] = HEX[usize::from(byte >> 4)];
        text[at + 1] = HEX[usize::from(byte & 0xf)];
    }
    HeaderValue::from_bytes(&text).expect("hex digits and dashes are a valid header value")
}

impl Trace {
    /// Whether the request's prompt and completion go in its span.
    pub fn captures_content(&self) -> bool {
        self.telemetry.capture_content
    }

    /// A new attempt of this request, starting now.
    pub fn attempt(&self) -> AttemptSpan {
        AttemptSpan {
            span_id: nonzero(fastrand::u64(..)).to_be_bytes(),
            started: SystemTime::now(),
            number: self.attempts.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }

    /// Ends `attempt` now: its client span `{operation} {model}`, child of
    /// the request's, is queued for export. `failed` is its `error.type`.
    pub fn end_attempt(
        &self,
        attempt: AttemptSpan,
        name: [&str; 2],
        attributes: Attributes,
        failed: Option<&str>,
    ) {
        let head = Head {
            trace_id: self.trace_id.to_be_bytes(),
            span_id: attempt.span_id,
            parent: Some(self.span_id),
            name,
            kind: KIND_CLIENT,
            started: attempt.started,
            ended: SystemTime::now(),
        };
        self.telemetry
            .exporter
            .offer(attributes.finish(&head, failed));
    }

    /// Ends the request's server span `{operation} {model}` now and queues
    /// it for export.
    pub fn end_request(&self, name: [&str; 2], attributes: Attributes, failed: Option<&str>) {
        let head = Head {
            trace_id: self.trace_id.to_be_bytes(),
            span_id: self.span_id,
            parent: self.parent,
            name,
            kind: KIND_SERVER,
            started: self.started,
            ended: SystemTime::now(),
        };
        self.telemetry
            .exporter
            .offer(attributes.finish(&head, failed));
    }
}

/// The instrumentation scope of everything clawgate exports.
fn scope() -> opentelemetry_proto::tonic::common::v1::InstrumentationScope {
    opentelemetry_proto::tonic::common::v1::InstrumentationScope {
        name: "clawgate".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

/// A string attribute of the resource or a metric (a span's are written
/// by [`Attributes`]).
pub fn text(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

/// `server.address` and `server.port` of `url`.
pub fn server(attributes: &mut Attributes, url: &reqwest::Url) {
    if let Some(host) = url.host_str() {
        attributes.text("server.address", host);
    }
    if let Some(port) = url.port_or_known_default() {
        attributes.int("server.port", port.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempts_traceparent_is_written_as_the_w3c_spec_says() {
        for (trace_id, span_id) in [
            (0x4bf92f3577b34da6a3ce929d0e0e4736, 0x00f067aa0ba902b7),
            (1, 1),
            (u128::MAX, u64::MAX),
        ] {
            let written = traceparent(trace_id, u64::to_be_bytes(span_id), true);
            let expected = format!("00-{trace_id:032x}-{span_id:016x}-01");
            assert_eq!(written.to_str().unwrap(), expected);
            let read = Traceparent::parse(written.as_bytes()).unwrap();
            assert_eq!(
                (read.trace_id, read.span_id),
                (trace_id, span_id.to_be_bytes())
            );
        }
    }

    #[test]
    fn traceparent_is_read_as_the_w3c_spec_says() {
        let good = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            Traceparent::parse(good),
            Some(Traceparent {
                trace_id: 0x4bf92f3577b34da6a3ce929d0e0e4736,
                span_id: 0x00f067aa0ba902b7u64.to_be_bytes(),
                sampled: true,
            })
        );
        let unsampled = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        assert!(!Traceparent::parse(unsampled).unwrap().sampled);
        // A later version may carry more parts.
        let later = b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what";
        assert!(Traceparent::parse(later).is_some());
        for bad in [
            &b""[..],
            b"garbage",
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-x1",
        ] {
            assert_eq!(
                Traceparent::parse(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
