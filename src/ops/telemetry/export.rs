//! The span exporter: a bounded queue that requests offer finished spans
//! to without waiting, and one task that sends them in batches over
//! OTLP/HTTP (protobuf). The task is woken by the first span of a batch and
//! by a full batch, not by every span: a wake-up per span woke a thread per
//! request at a moderate pace. A full queue drops the span; a batch the
//! collector does not take (down, slow past [`EXPORT_TIMEOUT`], refusing)
//! is dropped too. Both are counted in
//! `clawgate_telemetry_dropped_spans_total` and warned about at most once a
//! minute. With metrics on, a second task
//! sends the GenAI histograms every interval and once more at shutdown.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::histograms::Histograms;
use super::span;
use super::{Settings, scope, text};
use crate::ops::{metrics, with_causes};

/// Spans sent in one request at most.
const BATCH_SPANS: usize = 512;
/// How long a span waits for others to share its batch.
const BATCH_DELAY: Duration = Duration::from_secs(1);
/// How long the collector has to take a batch.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// Drops are warned about at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// A finished span, encoded ([`span`]).
type Span = Vec<u8>;

pub struct Exporter {
    queue: Arc<Queue>,
    dropped: Arc<AtomicU64>,
    closing: CancellationToken,
    /// The span task, and the metrics task when there is one.
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// Where one signal goes: the client, its URL and the export headers.
struct Collector {
    client: reqwest::Client,
    url: reqwest::Url,
    /// The URL as logged: a query may hold a key, the log shows there is one.
    shown: String,
    headers: HeaderMap,
}

impl Collector {
    fn new(client: &reqwest::Client, url: &reqwest::Url, headers: &HeaderMap) -> Self {
        Self {
            client: client.clone(),
            url: url.clone(),
            shown: crate::ops::redact::Redactor::default().url(url),
            headers: headers.clone(),
        }
    }

    /// Posts one OTLP request; `Err` says why the collector did not take it.
    async fn post(&self, body: Vec<u8>) -> Result<(), String> {
        let sent = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("the collector answered {}", response.status())),
            Err(err) if err.is_timeout() => Err(format!(
                "the collector did not answer within {}s",
                EXPORT_TIMEOUT.as_secs()
            )),
            // rustls reads a plain HTTP answer to its handshake as a
            // record of an invalid content type.
            Err(err) if describe(&err).contains("InvalidContentType") => Err(
                "the collector answered in plain HTTP to https://: write its endpoint with http://"
                    .to_string(),
            ),
            Err(err) => Err(format!(
                "cannot reach the collector: {}",
                describe(&err.without_url())
            )),
        }
    }
}

impl Exporter {
    /// Starts the export tasks on the current Tokio runtime; `histograms`
    /// are sent when `settings` has a metrics URL.
    pub fn start(
        settings: &Settings,
        histograms: Option<Arc<Histograms>>,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        // Names and values were checked with the config.
        for (name, value) in &settings.headers {
            let name = HeaderName::from_bytes(name.as_bytes());
            let value = HeaderValue::from_str(value.expose_secret());
            if let (Ok(name), Ok(mut value)) = (name, value) {
                value.set_sensitive(true);
                headers.insert(name, value);
            }
        }
        let resource = Resource {
            attributes: vec![
                text("service.name", settings.service_name.clone()),
                text("service.version", env!("CARGO_PKG_VERSION")),
            ],
            ..Resource::default()
        };
        let queue = Arc::new(Queue {
            spans: Mutex::default(),
            capacity: settings.queue_spans.max(1),
            ready: Notify::new(),
        });
        let dropped = Arc::new(AtomicU64::new(0));
        let closing = CancellationToken::new();
        let mut workers = Vec::new();
        if let (Some(url), Some(histograms)) = (&settings.metrics_url, histograms) {
            let metrics = Metrics {
                collector: Collector::new(&client, url, &headers),
                resource: resource.clone(),
                histograms,
                interval: settings.metrics_interval,
            };
            workers.push(tokio::spawn(metrics.run(closing.clone())));
        }
        let worker = Worker {
            collector: Collector::new(&client, &settings.traces_url, &headers),
            resource: resource.encode_to_vec(),
            scope: scope().encode_to_vec(),
            dropped: dropped.clone(),
            warned: None,
            reported: 0,
        };
        workers.push(tokio::spawn(worker.run(queue.clone(), closing.clone())));
        Ok(Self {
            queue,
            dropped,
            closing,
            workers: Mutex::new(workers),
        })
    }

    /// Queues `span` for export, or drops it (counted) when the queue is
    /// full or the exporter has stopped. Never waits.
    pub fn offer(&self, span: Span) {
        let queued = {
            let mut spans = self.queue.lock();
            if spans.len() >= self.queue.capacity {
                drop(spans);
                drop_spans(&self.dropped, 1);
                return;
            }
            spans.push(span);
            spans.len()
        };
        if queued == 1 || queued == BATCH_SPANS {
            self.queue.ready.notify_one();
        }
    }

    /// Sends what is queued, then stops; gives up after `within`.
    pub async fn shutdown(&self, within: Duration) {
        self.closing.cancel();
        let workers =
            std::mem::take(&mut *self.workers.lock().unwrap_or_else(PoisonError::into_inner));
        let all = futures_util::future::join_all(workers);
        if tokio::time::timeout(within, all).await.is_err() {
            tracing::warn!(
                "telemetry: what was not sent within {}s of shutdown is dropped",
                within.as_secs_f64()
            );
        }
    }
}

/// Finished spans waiting for export.
struct Queue {
    spans: Mutex<Vec<Span>>,
    capacity: usize,
    /// A batch has begun, or is full.
    ready: Notify,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Span>> {
        self.spans.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn drop_spans(dropped: &AtomicU64, count: u64) {
    dropped.fetch_add(count, Ordering::Relaxed);
    metrics::telemetry_dropped(count);
}

struct Worker {
    collector: Collector,
    /// The encoded `Resource` and `InstrumentationScope` of every batch.
    resource: Vec<u8>,
    scope: Vec<u8>,
    dropped: Arc<AtomicU64>,
    /// When drops were last warned about, and how many had been by then.
    warned: Option<Instant>,
    reported: u64,
}

impl Worker {
    async fn run(mut self, queue: Arc<Queue>, closing: CancellationToken) {
        loop {
            let closed = tokio::select! {
                () = queue.ready.notified() => false,
                () = closing.cancelled() => true,
            };
            // A batch has begun: it waits for others until it is full.
            let full = queue.lock().len() >= BATCH_SPANS;
            let closed = if closed || full {
                closed
            } else {
                tokio::select! {
                    () = tokio::time::sleep(BATCH_DELAY) => false,
                    () = queue.ready.notified() => false,
                    () = closing.cancelled() => true,
                }
            };
            let spans = std::mem::take(&mut *queue.lock());
            for batch in spans.chunks(BATCH_SPANS) {
                self.send(batch).await;
            }
            if closed {
                // What was queued before shutdown is sent above; no more.
                return;
            }
        }
    }

    /// Sends one batch; a batch not taken is dropped, counted and warned
    /// about.
    async fn send(&mut self, spans: &[Span]) {
        let count = spans.len() as u64;
        let mut body = Vec::new();
        span::export_request(&mut body, &self.resource, &self.scope, spans);
        let failure = self.collector.post(body).await.err();
        if failure.is_some() {
            drop_spans(&self.dropped, count);
        }
        self.warn(failure.as_deref());
    }

    /// Warns of the spans dropped since the last warning, at most once a
    /// minute.
    fn warn(&mut self, failure: Option<&str>) {
        let dropped = self.dropped.load(Ordering::Relaxed);
        let due = self.warned.is_none_or(|at| at.elapsed() >= WARN_EVERY);
        if dropped == self.reported || !due {
            return;
        }
        let why = failure.unwrap_or("the export queue was full");
        tracing::warn!(
            dropped = dropped - self.reported,
            url = %self.collector.shown,
            "telemetry: {} spans dropped ({why}); requests are not affected",
            dropped - self.reported
        );
        self.warned = Some(Instant::now());
        self.reported = dropped;
    }
}

/// The task that sends the GenAI histograms.
struct Metrics {
    collector: Collector,
    resource: Resource,
    histograms: Arc<Histograms>,
    interval: Duration,
}

impl Metrics {
    async fn run(self, closing: CancellationToken) {
        let mut warned: Option<Instant> = None;
        loop {
            let last = tokio::select! {
                () = tokio::time::sleep(self.interval) => false,
                () = closing.cancelled() => true,
            };
            if let Some(request) = self.histograms.request(&self.resource) {
                let sent = self.collector.post(request.encode_to_vec()).await;
                if let Err(why) = sent
                    && warned.is_none_or(|at| at.elapsed() >= WARN_EVERY)
                {
                    tracing::warn!(
                        url = %self.collector.shown,
                        "telemetry: metrics not sent ({why}); they are cumulative, the next export catches up"
                    );
                    warned = Some(Instant::now());
                }
            }
            if last {
                return;
            }
        }
    }
}

/// A transport error with its causes, as one line.
fn describe(err: &reqwest::Error) -> String {
    with_causes(err.to_string(), err)
}
