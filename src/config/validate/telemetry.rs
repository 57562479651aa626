//! `gateway.telemetry` and the standard `OTEL_*` variables: where traces
//! go, which requests are traced. The config's keys win over the
//! variables; the export headers (an API key) come from the environment
//! only (`OTEL_EXPORTER_OTLP_HEADERS`, an env file), never the config.

use std::time::Duration;

use secrecy::SecretString;

use super::super::raw::RawTelemetry;
use super::super::{Environment, Secrets};
use super::{Validator, percent_decoded};
use crate::ops::telemetry::Settings;

const PATH: &str = "gateway.telemetry";
const DEFAULT_QUEUE_SPANS: usize = 2048;
/// `OTEL_METRIC_EXPORT_INTERVAL`'s default in the OTLP spec.
const DEFAULT_METRICS_INTERVAL: Duration = Duration::from_secs(60);

/// The telemetry to run, or `None` when it is off: no endpoint anywhere,
/// `enabled: false`, or `OTEL_SDK_DISABLED=true`. Offline (`clawgate
/// status`, a build sandbox), an endpoint the config leaves to the
/// service's environment is no error.
pub(super) fn settings(
    raw: &RawTelemetry,
    env: &Environment,
    secrets: Secrets,
    v: &mut Validator,
) -> Option<Settings> {
    let var = |name: &str| env.get(name).map(str::trim).filter(|s| !s.is_empty());
    let disabled = var("OTEL_SDK_DISABLED").is_some_and(|s| s.eq_ignore_ascii_case("true"));
    if raw.enabled == Some(false) || (disabled && raw.enabled.is_none()) {
        return None;
    }
    let Some(traces_url) = signal_url(raw, &var, "traces") else {
        if raw.enabled == Some(true) && secrets == Secrets::Required {
            v.error(
                format!("{PATH}.endpoint"),
                "telemetry is enabled but has no endpoint; set it (say \"http://127.0.0.1:4318\") or OTEL_EXPORTER_OTLP_ENDPOINT",
            );
        }
        return None;
    };
    let traces_url = v.ok(traces_url.0, traces_url.1)?;
    let wants_metrics = raw
        .metrics
        .unwrap_or_else(|| var("OTEL_METRICS_EXPORTER") == Some("otlp"));
    let metrics_url = match wants_metrics.then(|| signal_url(raw, &var, "metrics")) {
        None => None,
        Some(Some((path, url))) => v.ok(path, url),
        Some(None) => {
            v.error(
                format!("{PATH}.metrics"),
                "metrics need an endpoint: set gateway.telemetry.endpoint, OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            );
            None
        }
    };
    let metrics_interval = var("OTEL_METRIC_EXPORT_INTERVAL").and_then(|text| {
        let ms = text.parse().ok().filter(|n| (1..=86_400_000).contains(n));
        let message = || format!("expected milliseconds from 1 to 86400000, found {text:?}");
        v.ok("OTEL_METRIC_EXPORT_INTERVAL", ms.ok_or_else(message))
    });
    let metrics_interval = metrics_interval.map_or(DEFAULT_METRICS_INTERVAL, Duration::from_millis);
    for name in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Some(protocol) = var(name).filter(|p| *p != "http/protobuf") {
            v.error(
                name,
                format!("clawgate sends OTLP as http/protobuf only, not {protocol}"),
            );
        }
    }
    let (sample_ratio, parent_based) = sampling(raw, &var, v);
    let queue_spans = v.count(format!("{PATH}.queueSpans"), raw.queue_spans, 1_000_000);
    let service_name = match raw.service_name.as_deref().map(str::trim) {
        Some("") => {
            v.error(format!("{PATH}.serviceName"), "must not be empty");
            "clawgate".to_string()
        }
        Some(name) => name.to_string(),
        None => var("OTEL_SERVICE_NAME").unwrap_or("clawgate").to_string(),
    };
    let headers = [
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_HEADERS",
    ]
    .into_iter()
    .find_map(|name| Some((name, var(name)?)))
    .map_or_else(Vec::new, |(name, text)| headers(name, text, v));
    Some(Settings {
        traces_url,
        headers,
        service_name,
        sample_ratio,
        parent_based,
        queue_spans: queue_spans.map_or(DEFAULT_QUEUE_SPANS, |n| n as usize),
        capture_content: raw.capture_content.unwrap_or(false),
        metrics_url,
        metrics_interval,
    })
}

/// Where `signal` (`traces`, `metrics`) goes, and the path or variable
/// that said so: `endpoint` with `/v1/{signal}` appended, else
/// `OTEL_EXPORTER_OTLP_{SIGNAL}_ENDPOINT` as written, else
/// `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/{signal}` appended.
fn signal_url<'e>(
    raw: &RawTelemetry,
    var: &impl Fn(&str) -> Option<&'e str>,
    signal: &str,
) -> Option<(String, Result<reqwest::Url, String>)> {
    if let Some(endpoint) = raw.endpoint.as_deref() {
        return Some((format!("{PATH}.endpoint"), url(endpoint, Some(signal))));
    }
    let own = format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.to_uppercase());
    if let Some(endpoint) = var(&own) {
        return Some((own, url(endpoint, None)));
    }
    let shared = "OTEL_EXPORTER_OTLP_ENDPOINT";
    var(shared).map(|endpoint| (shared.to_string(), url(endpoint, Some(signal))))
}

/// `endpoint` as a URL, with `/v1/{signal}` appended to its path when
/// `signal` is given (and not already there).
fn url(endpoint: &str, signal: Option<&str>) -> Result<reqwest::Url, String> {
    if !endpoint.contains("://") {
        // Not quoted: what was written may hold a user and password.
        return Err(
            "the URL has no scheme; write it as http://HOST:PORT (or https:// for a collector that speaks TLS)"
                .into(),
        );
    }
    let mut url = reqwest::Url::parse(endpoint)
        .map_err(|e| format!("not a URL ({e}); expected say \"http://127.0.0.1:4318\""))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "expected an http:// or https:// URL, found {}://",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "a user or password in the URL would be shown and logged; put credentials in OTEL_EXPORTER_OTLP_HEADERS".into(),
        );
    }
    let Some(signal) = signal.filter(|s| !url.path().ends_with(&format!("/v1/{s}"))) else {
        return Ok(url);
    };
    let path = format!("{}/v1/{signal}", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(url)
}

/// `(ratio, parent-based)`: `sampleRatio` (following a client's sampled
/// flag), else `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`, else
/// every request (`parentbased_always_on`).
fn sampling<'e>(
    raw: &RawTelemetry,
    var: &impl Fn(&str) -> Option<&'e str>,
    v: &mut Validator,
) -> (f64, bool) {
    let ratio =
        |n, path: &str, v: &mut Validator| v.number(path, Some(n), (0.0, 1.0)).unwrap_or(1.0);
    if let Some(value) = raw.sample_ratio {
        return (ratio(value, &format!("{PATH}.sampleRatio"), v), true);
    }
    let arg = |v: &mut Validator| {
        let text = var("OTEL_TRACES_SAMPLER_ARG")?;
        let message = |_| format!("expected a number from 0 to 1, found {text:?}");
        let value = v.ok("OTEL_TRACES_SAMPLER_ARG", text.parse().map_err(message))?;
        Some(ratio(value, "OTEL_TRACES_SAMPLER_ARG", v))
    };
    match var("OTEL_TRACES_SAMPLER") {
        None | Some("parentbased_always_on") => (1.0, true),
        Some("always_on") => (1.0, false),
        Some("always_off") => (0.0, false),
        Some("parentbased_always_off") => (0.0, true),
        Some("traceidratio") => (arg(v).unwrap_or(1.0), false),
        Some("parentbased_traceidratio") => (arg(v).unwrap_or(1.0), true),
        Some(other) => {
            v.error(
                "OTEL_TRACES_SAMPLER",
                format!(
                    "unknown sampler {other:?}; expected always_on, always_off, traceidratio or their parentbased_ forms"
                ),
            );
            (1.0, true)
        }
    }
}

/// `key=value,key=value` (values percent-encoded), as the OTLP exporter
/// spec writes them. An error names the variable and the header, never the
/// value.
fn headers(var: &str, text: &str, v: &mut Validator) -> Vec<(String, SecretString)> {
    let mut headers = Vec::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, value)) = pair.split_once('=') else {
            v.error(var, "expected name=value pairs separated by commas");
            continue;
        };
        let name = name.trim();
        let (value, well_formed) = percent_decoded(value.trim());
        let valid = well_formed
            && reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && reqwest::header::HeaderValue::from_str(&value).is_ok();
        if !valid {
            v.error(
                var,
                format!("the header {name:?} is not a valid header name and value"),
            );
            continue;
        }
        headers.push((name.to_string(), SecretString::from(value)));
    }
    headers
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn check(raw: RawTelemetry, env: &[(&str, &str)]) -> Result<Option<Settings>, Vec<String>> {
        let mut v = Validator::default();
        let got = settings(
            &raw,
            &Environment::from_pairs(env.iter().copied()),
            Secrets::Required,
            &mut v,
        );
        match v.errors.is_empty() {
            true => Ok(got),
            false => Err(v.errors.iter().map(|e| e.to_string()).collect()),
        }
    }

    #[test]
    fn off_unless_an_endpoint_is_given() {
        assert!(check(RawTelemetry::default(), &[]).unwrap().is_none());
        let off = RawTelemetry {
            enabled: Some(false),
            endpoint: Some("http://127.0.0.1:4318".into()),
            ..RawTelemetry::default()
        };
        assert!(check(off, &[]).unwrap().is_none());
        let from_env = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")];
        let on = check(RawTelemetry::default(), &from_env).unwrap().unwrap();
        assert_eq!(on.traces_url.as_str(), "http://collector:4318/v1/traces");
        let disabled = [from_env[0], ("OTEL_SDK_DISABLED", "true")];
        assert!(check(RawTelemetry::default(), &disabled).unwrap().is_none());
    }

    #[test]
    fn the_config_wins_and_the_variables_fill_in() {
        let raw = RawTelemetry {
            endpoint: Some("http://127.0.0.1:6006".into()),
            ..RawTelemetry::default()
        };
        let env = [
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://other/x"),
            ("OTEL_SERVICE_NAME", "gw"),
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "api_key=abc%3D%3D, x-team = t1",
            ),
        ];
        let got = check(raw, &env).unwrap().unwrap();
        assert_eq!(got.traces_url.as_str(), "http://127.0.0.1:6006/v1/traces");
        assert_eq!(got.service_name, "gw");
        assert_eq!((got.sample_ratio, got.parent_based), (0.25, false));
        let headers: Vec<_> = got
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.expose_secret()))
            .collect();
        assert_eq!(headers, [("api_key", "abc=="), ("x-team", "t1")]);
        let traces = [(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "https://c.example/otlp",
        )];
        let got = check(RawTelemetry::default(), &traces).unwrap().unwrap();
        assert_eq!(got.traces_url.as_str(), "https://c.example/otlp");
    }

    #[test]
    fn metrics_go_beside_the_traces_when_asked_for() {
        let raw = |metrics| RawTelemetry {
            endpoint: Some("http://c:4318/".into()),
            metrics,
            ..RawTelemetry::default()
        };
        assert_eq!(check(raw(None), &[]).unwrap().unwrap().metrics_url, None);
        let on = check(raw(Some(true)), &[("OTEL_METRIC_EXPORT_INTERVAL", "500")])
            .unwrap()
            .unwrap();
        assert_eq!(
            on.metrics_url.map(String::from).as_deref(),
            Some("http://c:4318/v1/metrics")
        );
        assert_eq!(on.metrics_interval, Duration::from_millis(500));
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m/x"),
            ("OTEL_METRICS_EXPORTER", "otlp"),
        ];
        let from_env = check(RawTelemetry::default(), &env).unwrap().unwrap();
        assert_eq!(from_env.traces_url.as_str(), "http://c:4318/v1/traces");
        assert_eq!(from_env.metrics_url.unwrap().as_str(), "http://m/x");
        let traces_only = [
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c/t"),
            ("OTEL_METRICS_EXPORTER", "otlp"),
        ];
        assert!(
            check(RawTelemetry::default(), &traces_only).unwrap_err()[0]
                .starts_with("gateway.telemetry.metrics: metrics need an endpoint")
        );
    }

    #[test]
    fn mistakes_name_their_path_and_never_a_header_value() {
        let with = |raw: RawTelemetry, env: &[(&str, &str)]| check(raw, env).unwrap_err();
        let endpoint = |e: &str| RawTelemetry {
            endpoint: Some(e.into()),
            ..RawTelemetry::default()
        };
        assert_eq!(
            with(
                RawTelemetry {
                    enabled: Some(true),
                    ..RawTelemetry::default()
                },
                &[]
            )[0],
            "gateway.telemetry.endpoint: telemetry is enabled but has no endpoint; set it (say \"http://127.0.0.1:4318\") or OTEL_EXPORTER_OTLP_ENDPOINT"
        );
        assert!(
            with(endpoint("127.0.0.1:4318"), &[])[0].starts_with("gateway.telemetry.endpoint: ")
        );
        assert_eq!(
            with(endpoint("collector/v1"), &[])[0],
            "gateway.telemetry.endpoint: the URL has no scheme; write it as http://HOST:PORT (or https:// for a collector that speaks TLS)"
        );
        assert_eq!(
            with(endpoint("http://u:p4ss@c:4318"), &[])[0],
            "gateway.telemetry.endpoint: a user or password in the URL would be shown and logged; put credentials in OTEL_EXPORTER_OTLP_HEADERS"
        );
        assert_eq!(
            with(endpoint("ftp://x"), &[])[0],
            "gateway.telemetry.endpoint: expected an http:// or https:// URL, found ftp://"
        );
        let ratio = RawTelemetry {
            sample_ratio: Some(2.0),
            ..endpoint("http://c")
        };
        assert_eq!(
            with(ratio, &[])[0],
            "gateway.telemetry.sampleRatio: expected a number from 0 to 1, found 2"
        );
        assert_eq!(
            with(
                endpoint("http://c"),
                &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]
            )[0],
            "OTEL_EXPORTER_OTLP_PROTOCOL: clawgate sends OTLP as http/protobuf only, not grpc"
        );
        let bad = with(
            endpoint("http://c"),
            &[("OTEL_EXPORTER_OTLP_HEADERS", "api_key=sk-secret\nvalue")],
        );
        assert_eq!(
            bad,
            [
                "OTEL_EXPORTER_OTLP_HEADERS: the header \"api_key\" is not a valid header name and value"
            ]
        );
    }
}
