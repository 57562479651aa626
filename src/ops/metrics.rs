//! Prometheus metrics. Labels are low-cardinality by construction: provider
//! ids and model refs come from the config (a request naming an unknown model
//! is rejected before any metric is labelled with it) and outcomes are the
//! fixed [`crate::chain::policy::Class`] labels. Never a message.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::Label;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide recorder, installed on first use. Several gateways in one
/// process (as in tests) share it.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
            ])
            .expect("static buckets are valid")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed by an embedding program;
        // then this handle renders only what clawgate recorded through it.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// A metric's provider and model labels, and one more of a fixed name and
/// value: moved into the metric's key, the fixed one never copied.
fn labels(provider: &str, model: &str, more: Option<(&'static str, &'static str)>) -> Vec<Label> {
    let mut labels = Vec::with_capacity(3);
    labels.push(Label::new("provider", provider.to_owned()));
    labels.push(Label::new("model", model.to_owned()));
    if let Some((key, value)) = more {
        labels.push(Label::from_static_parts(key, value));
    }
    labels
}

pub fn render() -> String {
    handle().render()
}

/// A client request finished: `outcome` is `ok`, `fallback`, or an error kind.
pub fn request(outcome: &'static str) {
    handle();
    metrics::counter!("clawgate_requests_total", "outcome" => outcome).increment(1);
}

/// One upstream attempt, with the time until its response started.
pub fn attempt(provider: &str, model: &str, outcome: &'static str, latency: Duration) {
    handle();
    let labels = labels(provider, model, Some(("outcome", outcome)));
    metrics::counter!("clawgate_attempts_total", labels.clone()).increment(1);
    metrics::histogram!("clawgate_upstream_latency_seconds", labels).record(latency.as_secs_f64());
}

/// A request was answered by a target after an earlier one failed;
/// `reason` is the class of the failure just before it.
pub fn fallback(provider: &str, model: &str, reason: &'static str) {
    handle();
    let labels = labels(provider, model, Some(("reason", reason)));
    metrics::counter!("clawgate_fallbacks_total", labels).increment(1);
}

/// A target is tried again after a transient failure of class `class`.
pub fn retry(provider: &str, model: &str, class: &'static str) {
    handle();
    let labels = labels(provider, model, Some(("class", class)));
    metrics::counter!("clawgate_retries_total", labels).increment(1);
}

/// A target was skipped because it is cooling down.
pub fn skipped(provider: &str, model: &str) {
    handle();
    let labels = labels(provider, model, None);
    metrics::counter!("clawgate_cooldown_skips_total", labels).increment(1);
}

/// A target's cooldown state: 0 healthy, 1 half open, 2 cooling down.
pub fn cooldown_state(provider: &str, model: &str, state: &'static str) {
    handle();
    let value = match state {
        "cooling_down" => 2.0,
        "half_open" => 1.0,
        _ => 0.0,
    };
    let labels = labels(provider, model, None);
    metrics::gauge!("clawgate_target_cooldown_state", labels).set(value);
}

/// A stream that had started ended abnormally.
pub fn stream_error(provider: &str, model: &str, kind: &'static str) {
    handle();
    let labels = labels(provider, model, Some(("kind", kind)));
    metrics::counter!("clawgate_stream_errors_total", labels).increment(1);
}

/// What one answered request used: tokens by kind (those the provider
/// reported) and its cost, when known, in millionths of a dollar (a counter
/// counts whole units).
pub fn usage(
    provider: &str,
    model: &str,
    tokens: [(&'static str, Option<u64>); 4],
    cost: Option<f64>,
) {
    handle();
    for (kind, count) in tokens {
        if let Some(count) = count {
            let labels = labels(provider, model, Some(("kind", kind)));
            metrics::counter!("clawgate_tokens_total", labels).increment(count);
        }
    }
    let labels = labels(provider, model, None);
    match cost {
        Some(usd) if usd.is_finite() && usd >= 0.0 => {
            metrics::counter!("clawgate_cost_microdollars_total", labels)
                .increment((usd * 1e6).round() as u64);
        }
        _ => metrics::counter!("clawgate_uncosted_requests_total", labels).increment(1),
    }
}

/// Ledger rows `written` to the database or `dropped`.
pub fn ledger_rows(result: &'static str, rows: u64) {
    handle();
    metrics::counter!("clawgate_ledger_rows_total", "result" => result).increment(rows);
}
