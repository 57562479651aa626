//! Prometheus metrics. Labels are low-cardinality by construction: provider
//! ids and model refs come from the config (a request naming an unknown model
//! is rejected before any metric is labelled with it) and outcomes are the
//! fixed [`crate::chain::policy::Class`] labels. Never a message.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use metrics::{Counter, Histogram, KeyName, Label, Recorder, SharedString};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use metrics_util::MetricKindMask;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The histogram buckets of durations, in seconds.
pub const SECONDS_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// The buckets of token counts: the GenAI conventions' advice.
pub const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// The process-wide recorder, installed on first use. Several gateways in one
/// process (as in tests) share it.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = recorder(GAUGES_KEPT_UNSET);
        let handle = recorder.handle();
        // Another recorder may already be installed by an embedding program;
        // then this handle renders only what clawgate recorded through it.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// How long a gauge that no page sets anew stays on it. Each gauge is set
/// for what the config holds as `/metrics` is asked for: one of a target
/// or a provider a reload took away (a cooldown state an alert watches)
/// is set no more, and leaves the page.
const GAUGES_KEPT_UNSET: std::time::Duration = std::time::Duration::from_secs(300);

/// The recorder behind `/metrics`: its buckets, and its gauges kept
/// `gauges_kept_unset` after they were last set.
fn recorder(gauges_kept_unset: std::time::Duration) -> PrometheusRecorder {
    let recorder = PrometheusBuilder::new()
        .idle_timeout(MetricKindMask::GAUGE, Some(gauges_kept_unset))
        .set_buckets(&SECONDS_BUCKETS)
        .expect("static buckets are valid")
        .set_buckets_for_metric(Matcher::Full(GEN_AI_TOKENS.into()), &TOKEN_BUCKETS)
        .expect("static buckets are valid")
        .build_recorder();
    for &(name, kind, help) in DESCRIBED {
        let (name, help) = (KeyName::from_const_str(name), SharedString::const_str(help));
        match kind {
            Kind::Counter => recorder.describe_counter(name, None, help),
            Kind::Gauge => recorder.describe_gauge(name, None, help),
            Kind::Histogram => recorder.describe_histogram(name, None, help),
        }
    }
    recorder
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric `/metrics` shows, with its `# HELP` line.
#[rustfmt::skip]
const DESCRIBED: &[(&str, Kind, &str)] = &[
    ("clawgate_requests_total", Kind::Counter, "Client requests finished, by outcome: ok, fallback, or the error's kind"),
    ("clawgate_attempts_total", Kind::Counter, "Upstream attempts, by provider, model and outcome"),
    ("clawgate_upstream_latency_seconds", Kind::Histogram, "Time from an upstream attempt's start to its response's head (a stream's first event), by provider, model and outcome"),
    ("clawgate_retries_total", Kind::Counter, "Attempts made again on the same target after a transient failure, by the failure's class"),
    ("clawgate_fallbacks_total", Kind::Counter, "Requests answered by a target after an earlier one failed, by the class of the failure just before"),
    ("clawgate_cooldown_skips_total", Kind::Counter, "Targets skipped because they were cooling down"),
    ("clawgate_target_cooldown_state", Kind::Gauge, "A target's cooldown state: 0 healthy, 1 half open, 2 cooling down"),
    ("clawgate_stream_errors_total", Kind::Counter, "Streams that had started and ended abnormally, by kind"),
    ("clawgate_session_cache_breaks_total", Kind::Counter, "Turns of a session whose prompt cache broke, by cause"),
    ("clawgate_tokens_total", Kind::Counter, "Tokens the providers reported, by provider, model and kind"),
    ("clawgate_cost_microdollars_total", Kind::Counter, "What the answered requests cost, in millionths of a US dollar"),
    ("clawgate_uncosted_requests_total", Kind::Counter, "Answered requests whose cost is not known (no price, or no usage reported)"),
    ("clawgate_ledger_rows_total", Kind::Counter, "Ledger rows written to the database or dropped"),
    ("clawgate_telemetry_dropped_spans_total", Kind::Counter, "Trace spans dropped: the exporter's queue was full, or the collector did not take them"),
    ("clawgate_provider_in_flight", Kind::Gauge, "Requests a provider with maxConcurrent is being sent now"),
    ("clawgate_provider_queue_waiting", Kind::Gauge, "Requests waiting for a place at a provider with maxConcurrent"),
    ("clawgate_provider_queue_waited_total", Kind::Counter, "Requests that waited for a place at a provider with maxConcurrent"),
    ("clawgate_provider_queue_skipped_total", Kind::Counter, "Requests that moved on to the next target, a provider's places staying taken past the wait"),
    ("clawgate_quota_used", Kind::Gauge, "What an account's quota window has used, in the provider's units"),
    ("clawgate_quota_limit", Kind::Gauge, "An account's quota window's limit, in the provider's units"),
    ("clawgate_quota_reset_seconds", Kind::Gauge, "Seconds until an account's quota window resets"),
    ("clawgate_balance", Kind::Gauge, "An account's balance, as the provider reports it"),
    ("clawgate_quota_exhausted", Kind::Gauge, "1 while a provider's quota or balance is spent (the chain skips it), else 0"),
    (GEN_AI_TOKENS, Kind::Histogram, "Tokens used per request, by token type (gen_ai.client.token.usage)"),
    ("gen_ai_client_operation_duration_seconds", Kind::Histogram, "A request from its arrival to its response's end (gen_ai.client.operation.duration)"),
    ("gen_ai_server_time_to_first_token_seconds", Kind::Histogram, "A request until its response's head: a stream's first token, else the whole answer (gen_ai.server.time_to_first_token)"),
];

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
    if outcome == "ok" {
        let series = series(provider, model);
        series.answered.increment(1);
        series.answered_latency.record(latency.as_secs_f64());
        return;
    }
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

/// A session's prompt cache broke: `cause` is one of
/// `crate::session::Break::CAUSES`, a fixed label.
pub fn session_cache_break(cause: &'static str) {
    handle();
    metrics::counter!("clawgate_session_cache_breaks_total", "cause" => cause).increment(1);
}

/// `gen_ai.client.token.usage` of the GenAI semantic conventions.
const GEN_AI_TOKENS: &str = "gen_ai_client_token_usage";

/// How long an answered request took: in all (`gen_ai.client.operation.duration`)
/// and to its response's head, the first token of a stream
/// (`gen_ai.server.time_to_first_token`).
#[derive(Debug, Clone, Copy)]
pub struct Took {
    pub total: Duration,
    /// `None` when no response head was sent (the client left first).
    pub first_byte: Option<Duration>,
}

/// What one answered request used: tokens by kind (those the provider
/// reported) and its cost, when known, in millionths of a dollar (a counter
/// counts whole units); with the GenAI conventions' histograms of its input
/// and output tokens and how long it took.
pub fn usage(
    provider: &str,
    model: &str,
    tokens: [(&'static str, Option<u64>); 4],
    cost: Option<f64>,
    took: Took,
) {
    handle();
    let series = series(provider, model);
    series.duration.record(took.total.as_secs_f64());
    if let Some(first_byte) = took.first_byte {
        series.first_token.record(first_byte.as_secs_f64());
    }
    for (kind, count) in tokens {
        let at = GEN_AI_TOKEN_TYPES.iter().position(|known| *known == kind);
        if let (Some(at), Some(count)) = (at, count) {
            series.token_usage[at].record(count as f64);
        }
    }
    for (kind, count) in tokens {
        let Some(count) = count else { continue };
        match TOKEN_KINDS.iter().position(|known| *known == kind) {
            Some(at) => series.tokens[at].increment(count),
            None => {
                let labels = labels(provider, model, Some(("kind", kind)));
                metrics::counter!("clawgate_tokens_total", labels).increment(count);
            }
        }
    }
    match cost {
        Some(usd) if usd.is_finite() && usd >= 0.0 => {
            series.cost.increment(whole_micros(&series.cost_picos, usd));
        }
        _ => series.uncosted.increment(1),
    }
}

/// The whole millionths of a dollar `usd` completes, with what `left` holds
/// of the costs before (in millionths of those): the counter counts whole
/// units, and a cost rounded on its own would drift from the ledger by up
/// to half a unit a request, a request under half a unit never counted.
fn whole_micros(left: &AtomicU64, usd: f64) -> u64 {
    let picos = (usd * 1e12).round() as u64;
    let mut whole = 0;
    let _ = left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
        let total = left.saturating_add(picos);
        whole = total / 1_000_000;
        Some(total % 1_000_000)
    });
    whole
}

/// The kinds of `clawgate_tokens_total` a target's [`Series`] holds.
const TOKEN_KINDS: [&str; 4] = ["input", "cached", "output", "reasoning"];

/// The `gen_ai.token.type`s of [`GEN_AI_TOKENS`].
const GEN_AI_TOKEN_TYPES: [&str; 2] = ["input", "output"];

/// The series of one target that every answered request adds to,
/// registered once: a `counter!` with owned labels builds, hashes and looks
/// up its whole key (and allocates its labels) on every call, a dozen times
/// per request.
struct Series {
    tokens: [Counter; 4],
    cost: Counter,
    /// What the costs counted hold below a whole unit of `cost`, in
    /// millionths of it.
    cost_picos: AtomicU64,
    uncosted: Counter,
    /// `clawgate_attempts_total` and the latency, outcome `ok`.
    answered: Counter,
    answered_latency: Histogram,
    /// The GenAI conventions' histograms, labelled by their attributes.
    token_usage: [Histogram; 2],
    duration: Histogram,
    first_token: Histogram,
}

impl Series {
    fn register(provider: &str, model: &str) -> Self {
        let target = || labels(provider, model, None);
        let gen_ai = |token_type: Option<&'static str>| {
            let mut labels = vec![
                Label::from_static_parts("gen_ai_operation_name", "chat"),
                Label::new("gen_ai_provider_name", provider.to_owned()),
                Label::new("gen_ai_response_model", model.to_owned()),
            ];
            labels.extend(token_type.map(|t| Label::from_static_parts("gen_ai_token_type", t)));
            labels
        };
        Self {
            token_usage: GEN_AI_TOKEN_TYPES
                .map(|token_type| metrics::histogram!(GEN_AI_TOKENS, gen_ai(Some(token_type)))),
            duration: metrics::histogram!("gen_ai_client_operation_duration_seconds", gen_ai(None)),
            first_token: metrics::histogram!(
                "gen_ai_server_time_to_first_token_seconds",
                gen_ai(None)
            ),
            tokens: TOKEN_KINDS.map(|kind| {
                metrics::counter!(
                    "clawgate_tokens_total",
                    labels(provider, model, Some(("kind", kind)))
                )
            }),
            cost: metrics::counter!("clawgate_cost_microdollars_total", target()),
            cost_picos: AtomicU64::new(0),
            uncosted: metrics::counter!("clawgate_uncosted_requests_total", target()),
            answered: metrics::counter!(
                "clawgate_attempts_total",
                labels(provider, model, Some(("outcome", "ok")))
            ),
            answered_latency: metrics::histogram!(
                "clawgate_upstream_latency_seconds",
                labels(provider, model, Some(("outcome", "ok")))
            ),
        }
    }
}

/// Targets whose [`Series`] are kept at most; past that the memory starts
/// over (targets come from the config, so only reloads that keep renaming
/// them get there).
const SERIES_KEPT: usize = 1024;

/// The [`Series`] of `provider`'s `model`, registered on first use.
fn series(provider: &str, model: &str) -> Arc<Series> {
    type ByProvider = HashMap<String, HashMap<String, Arc<Series>>>;
    static KEPT: Mutex<Option<(ByProvider, usize)>> = Mutex::new(None);
    let mut kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
    let (by_provider, count) = kept.get_or_insert_with(Default::default);
    if let Some(series) = by_provider
        .get(provider)
        .and_then(|models| models.get(model))
    {
        return series.clone();
    }
    if *count >= SERIES_KEPT {
        by_provider.clear();
        *count = 0;
    }
    let series = Arc::new(Series::register(provider, model));
    by_provider
        .entry(provider.to_owned())
        .or_default()
        .insert(model.to_owned(), series.clone());
    *count += 1;
    series
}

/// Spans the telemetry exporter dropped: its queue was full, or the
/// collector did not take them.
pub fn telemetry_dropped(spans: u64) {
    handle();
    metrics::counter!("clawgate_telemetry_dropped_spans_total").increment(spans);
}

/// Ledger rows `written` to the database or `dropped`.
pub fn ledger_rows(result: &'static str, rows: u64) {
    handle();
    metrics::counter!("clawgate_ledger_rows_total", "result" => result).increment(rows);
}

#[cfg(test)]
mod tests {

    /// Each metric the code records has its HELP line: every name written
    /// in a `counter!`, `gauge!` or `histogram!` in `src/` (outside tests)
    /// is in [`DESCRIBED`].
    #[test]
    fn every_metric_recorded_is_described() {
        fn sources(dir: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    sources(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    out.push(text.split("#[cfg(test)]").next().unwrap().to_string());
                }
            }
        }
        let mut texts = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut texts,
        );
        let described: Vec<&str> = DESCRIBED.iter().map(|(name, ..)| *name).collect();
        let mut recorded = 0;
        for text in &texts {
            for macro_name in ["counter!(", "gauge!(", "histogram!("] {
                for (at, _) in text.match_indices(macro_name) {
                    let rest = text[at + macro_name.len()..].trim_start();
                    let Some(name) = rest.strip_prefix('"').and_then(|r| r.split('"').next())
                    else {
                        continue;
                    };
                    recorded += 1;
                    assert!(
                        described.contains(&name),
                        "{name} has no HELP line in DESCRIBED"
                    );
                }
            }
        }
        assert!(recorded > 20, "the metrics were found: {recorded}");
    }
    /// A gauge no page sets anew (a target a reload took away) leaves the
    /// page; one set again stays, and so do counters.
    #[test]
    fn a_gauge_set_no_more_leaves_the_page() {
        let recorder = super::recorder(std::time::Duration::from_millis(50));
        let set = |gauges: &[&'static str]| {
            metrics::with_local_recorder(&recorder, || {
                for name in gauges {
                    metrics::gauge!(*name, "provider" => "p").set(2.0);
                }
                metrics::counter!("clawgate_kept_total").increment(1);
            })
        };
        set(&["clawgate_removed", "clawgate_kept"]);
        let page = recorder.handle().render();
        assert!(
            page.contains("clawgate_removed{provider=\"p\"} 2"),
            "{page}"
        );
        std::thread::sleep(std::time::Duration::from_millis(120));
        set(&["clawgate_kept"]);
        let page = recorder.handle().render();
        assert!(!page.contains("clawgate_removed"), "{page}");
        assert!(page.contains("clawgate_kept{provider=\"p\"} 2"), "{page}");
        assert!(page.contains("clawgate_kept_total 2"), "{page}");
    }

    /// Costs are counted whole: twenty of a quarter of a unit make five,
    /// and 806.4 five times 4,032, not 4,030.
    #[test]
    fn costs_add_up_to_whole_units() {
        let left = super::AtomicU64::new(0);
        let quarters: u64 = (0..20)
            .map(|_| super::whole_micros(&left, 0.000_000_25))
            .sum();
        assert_eq!(quarters, 5);
        let left = super::AtomicU64::new(0);
        let counted: u64 = (0..5)
            .map(|_| super::whole_micros(&left, 0.000_806_4))
            .sum();
        assert_eq!(counted, 4032);
    }

    use super::*;

    /// The line of `text` that starts with `series`' name and labels.
    fn value(text: &str, series: &str) -> Option<String> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(str::to_string)
    }

    #[test]
    fn a_targets_series_registered_once_add_up_across_requests() {
        // A target of this test's own: the registry is process-wide.
        let (provider, model) = ("series-test", "series-test/m");
        for (input, cost) in [(10, Some(0.25)), (5, None), (1, Some(0.5))] {
            usage(
                provider,
                model,
                [
                    ("input", Some(input)),
                    ("cached", None),
                    ("output", Some(2)),
                    ("surprise", Some(7)),
                ],
                cost,
                Took {
                    total: Duration::from_millis(300),
                    first_byte: Some(Duration::from_millis(80)),
                },
            );
            attempt(provider, model, "ok", Duration::from_millis(20));
        }
        attempt(provider, model, "timeout", Duration::from_millis(20));
        let text = render();
        let labels = "provider=\"series-test\",model=\"series-test/m\"";
        let at = |name: &str, more: &str| value(&text, &format!("{name}{{{labels}{more}}}"));
        for (name, more, expected) in [
            ("clawgate_tokens_total", ",kind=\"input\"", "16"),
            ("clawgate_tokens_total", ",kind=\"output\"", "6"),
            // Registered with the others, so at 0 until reported.
            ("clawgate_tokens_total", ",kind=\"cached\"", "0"),
            // A kind the series does not hold is counted all the same.
            ("clawgate_tokens_total", ",kind=\"surprise\"", "21"),
            ("clawgate_cost_microdollars_total", "", "750000"),
            ("clawgate_uncosted_requests_total", "", "1"),
            ("clawgate_attempts_total", ",outcome=\"ok\"", "3"),
            ("clawgate_attempts_total", ",outcome=\"timeout\"", "1"),
            (
                "clawgate_upstream_latency_seconds_count",
                ",outcome=\"ok\"",
                "3",
            ),
        ] {
            assert_eq!(
                at(name, more).as_deref(),
                Some(expected),
                "{name}{more} in {text}"
            );
        }
        // The GenAI conventions' histograms.
        let gen_ai = "gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"series-test\",gen_ai_response_model=\"series-test/m\"";
        let at = |name: &str, more: &str| value(&text, &format!("{name}{{{gen_ai}{more}}}"));
        let tokens = "gen_ai_client_token_usage";
        let input = ",gen_ai_token_type=\"input\"";
        assert_eq!(
            at(&format!("{tokens}_sum"), input).as_deref(),
            Some("16"),
            "{text}"
        );
        assert_eq!(at(&format!("{tokens}_count"), input).as_deref(), Some("3"));
        // Token buckets, not seconds: of 10, 5 and 1 tokens, one is within 4.
        let bucket = |le: &str| at(&format!("{tokens}_bucket"), &format!("{input},le=\"{le}\""));
        assert_eq!(
            (bucket("4").as_deref(), bucket("16").as_deref()),
            (Some("1"), Some("3"))
        );
        let output = ",gen_ai_token_type=\"output\"";
        assert_eq!(at(&format!("{tokens}_sum"), output).as_deref(), Some("6"));
        for name in [
            "gen_ai_client_operation_duration_seconds",
            "gen_ai_server_time_to_first_token_seconds",
        ] {
            assert_eq!(at(&format!("{name}_count"), "").as_deref(), Some("3"));
            assert_eq!(
                at(&format!("{name}_bucket"), ",le=\"0.05\"").as_deref(),
                Some("0")
            );
        }
    }
}
