//! `gateway.*`: where to listen, authentication, limits and timeouts.

use std::net::IpAddr;
use std::time::Duration;

use super::super::raw::{RawGateway, RawReasoningCache, RawRetries, RawSessions, Toggle};
use super::super::{
    DEFAULT_PORT, GatewaySettings, Limits, ReasoningCacheLimits, Retries, Secret, SessionLimits,
    Timeouts, is_loopback, parse_bind,
};
use super::{Validator, Vars};

/// What every `*Seconds` key takes. Below a millisecond a timeout is a
/// typo (or `1e-300`), not a setting: every wait would end at once.
pub(super) const SECONDS_RANGE: &str = "a number of seconds from 0.001 to 86400";

/// `gateway.<key>`, a number of seconds in [`SECONDS_RANGE`], or `default`.
fn seconds(v: &mut Validator, key: &str, value: Option<f64>, default: f64) -> Duration {
    let value = value.unwrap_or(default);
    if value.is_finite() && (0.001..=86_400.0).contains(&value) {
        Duration::from_secs_f64(value)
    } else {
        // Debug, so `1e-300` reads as written rather than as 300 zeros.
        let message = format!("expected {SECONDS_RANGE}, found {value:?}");
        v.error(format!("gateway.{key}"), message);
        Duration::from_secs_f64(default)
    }
}

/// `gateway.<key>`, a number of bytes from 1 KiB, or `default`.
fn bytes(v: &mut Validator, key: &str, value: Option<u64>, default: u64) -> usize {
    let value = value.unwrap_or(default);
    let checked = (value >= 1024).then_some(value);
    let checked = checked.ok_or_else(|| format!("must be at least 1024, found {value}"));
    let value = v.ok(format!("gateway.{key}"), checked).unwrap_or(default);
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// The ports OpenClaw's gateway and its companions listen on.
const OPENCLAW_PORTS: [std::ops::RangeInclusive<u16>; 2] = [18789..=18793, 18800..=18899];

/// Why `port` is not clawgate's to take, if it is OpenClaw's (the file's
/// `gateway.port` and `serve --port` alike).
pub fn openclaws_port(port: u16) -> Option<String> {
    (OPENCLAW_PORTS.iter().any(|ports| ports.contains(&port)))
        .then(|| format!("{port} is OpenClaw's (it listens on 18789-18793 and 18800-18899)"))
}

/// `clients`: whether `gateway.clients` has any (a key is required then).
pub(super) fn gateway_settings(
    raw: RawGateway,
    telemetry: Option<crate::ops::telemetry::Settings>,
    clients: bool,
    vars: &Vars,
    v: &mut Validator,
) -> GatewaySettings {
    if let Some(whose) = raw.port.and_then(openclaws_port) {
        v.error(
            "gateway.port",
            format!(
                "{whose}; leave gateway.port out for clawgate's {DEFAULT_PORT}, or choose a port outside those ranges"
            ),
        );
    }
    let bind = (raw.bind.as_deref()).and_then(|text| v.ok("gateway.bind", parse_bind(text)));
    let bind = bind.unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let token_unresolved = vars.unset("gateway.auth.token").is_some();
    // An unset variable is reported with the others.
    let token = raw.auth.token.filter(|_| !token_unresolved);
    if token.as_deref() == Some("") {
        v.error(
            "gateway.auth.token",
            "must not be empty; remove it to disable authentication",
        );
    }
    let auth_token = token.filter(|token| !token.is_empty()).map(Secret::from);
    // A token or clients refused for their type are reported there alone.
    let refused = v.refused_under("gateway.auth") || v.refused_under("gateway.clients");
    if !is_loopback(bind) && auth_token.is_none() && !token_unresolved && !clients && !refused {
        v.error(
            "gateway.bind",
            format!("{bind} is not a loopback address; set gateway.auth.token or gateway.clients to serve beyond this machine"),
        );
    }
    let max_body_bytes = bytes(v, "maxBodyBytes", raw.max_body_bytes, 32 << 20);
    let (t, l) = (&raw.timeouts, &raw.limits);
    let timeout = |v: &mut Validator, key: &str, value, default| {
        seconds(v, &format!("timeouts.{key}"), value, default)
    };
    let mut count = |key: &str, n, default| {
        v.count(format!("gateway.limits.{key}"), n, 1_000_000)
            .map_or(default, |n| n as usize)
    };
    // Open client connections; each holds a file descriptor, and the units
    // set `LimitNOFILE` well above this.
    let max_connections = count("maxConnections", l.max_connections, 4096);
    // Requests in flight; each also holds an upstream connection.
    let max_concurrent_requests = count("maxConcurrentRequests", l.max_concurrent_requests, 1024);
    let client_header = timeout(v, "clientHeaderSeconds", t.client_header_seconds, 30.0);
    let client_body = timeout(v, "clientBodySeconds", t.client_body_seconds, 60.0);
    // Compared with the Host header's name: no port; IPv6 in brackets.
    // Kept as written, not lowercased: what is shown of it is scrubbed of
    // the config's secrets, in the case they are written in.
    let mut allowed_hosts = Vec::new();
    for (index, host) in raw.allowed_hosts.iter().enumerate() {
        let host = host.trim().to_string();
        let name = match host.parse::<std::net::Ipv6Addr>() {
            Ok(ip) => format!("[{ip}]"),
            Err(_) => host.clone(),
        };
        let bracketed = name.starts_with('[') && name.ends_with(']');
        if name.is_empty() || name.contains('/') || (!bracketed && name.contains(':')) {
            v.error(
                format!("gateway.allowedHosts[{index}]"),
                format!("expected a host name or address without a port, found {host:?}"),
            );
        } else {
            allowed_hosts.push(name);
        }
    }
    let mut allowed_origins = Vec::new();
    for (index, origin) in raw.allowed_origins.iter().enumerate() {
        match reqwest::Url::parse(origin) {
            Ok(url) if url.host().is_some() && matches!(url.path(), "" | "/") => {
                allowed_origins.push(url.origin().ascii_serialization())
            }
            _ => v.error(
                format!("gateway.allowedOrigins[{index}]"),
                format!("expected an origin such as \"https://app.example.com\", found {origin:?}"),
            ),
        }
    }
    let timeouts = Timeouts {
        connect: timeout(v, "connectSeconds", t.connect_seconds, 10.0),
        // Per attempt, until the response headers and the first meaningful
        // event. With a hung primary the fallback starts after this: well
        // inside the minute a user waits, and far inside OpenClaw's 120 s.
        first_byte: timeout(v, "firstByteSeconds", t.first_byte_seconds, 20.0),
        // Silence allowed inside a body; under OpenClaw's 120 s between events.
        idle: timeout(v, "idleSeconds", t.idle_seconds, 90.0),
        // A request's whole wait for its first event, every attempt included.
        chain: timeout(v, "chainSeconds", t.chain_seconds, 90.0),
        client_header,
        client_body,
    };
    // OpenClaw gives up on a model after 120 s without an event: a chain
    // that may wait that long never lets its fallback answer in time.
    if timeouts.chain >= OPENCLAW_PATIENCE {
        v.warnings.push(format!(
            "gateway.timeouts.chainSeconds is {}s: OpenClaw gives up after {}s without an event, so a hung chain would never reach its fallback in time; keep it under {}",
            timeouts.chain.as_secs_f64(),
            OPENCLAW_PATIENCE.as_secs(),
            OPENCLAW_PATIENCE.as_secs()
        ));
    }
    if timeouts.first_byte >= timeouts.chain {
        v.warnings.push(format!(
            "gateway.timeouts.firstByteSeconds ({}s) is not shorter than chainSeconds ({}s): a hung primary uses the whole chain deadline and no fallback is tried",
            timeouts.first_byte.as_secs_f64(),
            timeouts.chain.as_secs_f64()
        ));
    }
    let settings = GatewaySettings {
        port: raw.port.unwrap_or(DEFAULT_PORT),
        bind,
        auth_token,
        max_body_bytes,
        shutdown_grace: seconds(v, "shutdownGraceSeconds", raw.shutdown_grace_seconds, 30.0),
        timeouts,
        retries: retries(&raw.retries, v),
        open_metrics: raw.auth.open_metrics.unwrap_or(false),
        allowed_hosts,
        allowed_origins,
        // A non-streamed answer is held whole (it is relabelled as JSON), so
        // its bound is a memory bound per request; 32 MiB is far beyond any
        // chat completion. One stream event is held while it arrives; 16 MiB
        // leaves room for large tool-call arguments or images sent in one
        // chunk.
        limits: Limits {
            max_connections,
            max_concurrent_requests,
            max_response_bytes: bytes(v, "limits.maxResponseBytes", l.max_response_bytes, 32 << 20),
            max_event_bytes: bytes(v, "limits.maxEventBytes", l.max_event_bytes, 16 << 20),
        },
        reasoning_cache: reasoning_cache(Toggle::settings(raw.reasoning_cache), v),
        sessions: sessions(Toggle::settings(raw.sessions), v),
        telemetry,
        // Read once the models are (`validate/clients.rs`).
        clients: Default::default(),
    };
    if let Some(weak) = settings.weak_token() {
        v.error("gateway.auth.token", weak);
    }
    settings
}

/// `gateway.reasoningCache`: `true` (the default bounds), `false` (off),
/// or the bounds `{maxEntries, maxBytes, maxAgeSeconds}`.
fn reasoning_cache(
    raw: Option<RawReasoningCache>,
    v: &mut Validator,
) -> Option<ReasoningCacheLimits> {
    let (raw, default) = (raw?, ReasoningCacheLimits::default());
    let key = |key: &str| format!("gateway.reasoningCache.{key}");
    let max_entries = v.count(key("maxEntries"), raw.max_entries, 10_000_000);
    let max_bytes = v.count(key("maxBytes"), raw.max_bytes, 1 << 40);
    let max_age = v.count(key("maxAgeSeconds"), raw.max_age_seconds, 30 * 86_400);
    Some(ReasoningCacheLimits {
        max_entries: max_entries.map_or(default.max_entries, |n| n as usize),
        max_bytes: max_bytes.map_or(default.max_bytes, |n| n as usize),
        max_age: max_age.map_or(default.max_age, Duration::from_secs),
    })
}

/// `gateway.sessions`: `true` (the default bounds), `false` (off: no
/// session is found, nothing compared), or the bounds
/// `{maxSessions, idleSeconds}`.
fn sessions(raw: Option<RawSessions>, v: &mut Validator) -> Option<SessionLimits> {
    let (raw, default) = (raw?, SessionLimits::default());
    let key = |key: &str| format!("gateway.sessions.{key}");
    let max_sessions = v.count(key("maxSessions"), raw.max_sessions, 1_000_000);
    let idle = v.count(key("idleSeconds"), raw.idle_seconds, 7 * 86_400);
    Some(SessionLimits {
        max_sessions: max_sessions.map_or(default.max_sessions, |n| n as usize),
        idle: idle.map_or(default.idle, Duration::from_secs),
    })
}

/// How long OpenClaw waits for a model's first event, and between events.
const OPENCLAW_PATIENCE: Duration = Duration::from_secs(120);

/// `gateway.retries`: how often and how patiently one target is retried.
fn retries(raw: &RawRetries, v: &mut Validator) -> Retries {
    let per_target = raw.per_target.map_or(Ok(1), |count| match count {
        0..=5 => Ok(count as u32),
        _ => Err(format!("expected 0 to 5 retries, found {count}")),
    });
    let per_target = v.ok("gateway.retries.perTarget", per_target).unwrap_or(1);
    let delay = |v: &mut Validator, key: &str, value, default| {
        seconds(v, &format!("retries.{key}"), value, default)
    };
    let backoff_base = delay(v, "backoffBaseSeconds", raw.backoff_base_seconds, 0.25);
    let backoff_max = delay(v, "backoffMaxSeconds", raw.backoff_max_seconds, 2.0);
    if backoff_max < backoff_base {
        v.error(
            "gateway.retries.backoffMaxSeconds",
            format!(
                "must not be less than backoffBaseSeconds ({}s)",
                backoff_base.as_secs_f64()
            ),
        );
    }
    Retries {
        per_target,
        backoff_base,
        backoff_max: backoff_max.max(backoff_base),
        max_retry_after: delay(v, "maxRetryAfterSeconds", raw.max_retry_after_seconds, 10.0),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::{
        Environment, GatewaySettings, ReasoningCacheLimits, Secrets, SessionLimits, load_str,
    };

    /// The gateway's settings read from `{gateway: <gateway>}`, or the
    /// config's errors.
    fn gateway(gateway: &str) -> Result<GatewaySettings, String> {
        load_str(
            &format!("{{ gateway: {gateway} }}"),
            &Environment::from_pairs::<&str, &str>([]),
            Secrets::Offline,
        )
        .map(|loaded| loaded.config.gateway)
        .map_err(|errors| errors.to_string())
    }

    #[test]
    fn the_reasoning_cache_is_on_by_default_off_with_false_bounds_configurable() {
        let cache =
            |raw: &str| gateway(&format!("{{ reasoningCache: {raw} }}")).map(|g| g.reasoning_cache);
        assert_eq!(
            gateway("{}").map(|g| g.reasoning_cache),
            Ok(Some(ReasoningCacheLimits::default()))
        );
        assert_eq!(cache("true"), Ok(Some(ReasoningCacheLimits::default())));
        assert_eq!(cache("false"), Ok(None));
        assert_eq!(
            cache("{maxEntries: 5, maxAgeSeconds: 60}"),
            Ok(Some(ReasoningCacheLimits {
                max_entries: 5,
                max_age: Duration::from_secs(60),
                ..ReasoningCacheLimits::default()
            }))
        );
        // Unknown keys are the key check's (`keys.rs`).
        for (raw, expected) in [
            (
                "'off'",
                "gateway.reasoningCache: invalid type: string, expected true, false or {maxEntries, maxBytes, maxAgeSeconds}",
            ),
            (
                "{maxEntries: 0}",
                "gateway.reasoningCache.maxEntries: expected a whole number from 1",
            ),
            ("{maxBytes: -1}", "gateway.reasoningCache.maxBytes"),
            (
                "{maxAgeSeconds: 1.5}",
                "gateway.reasoningCache.maxAgeSeconds",
            ),
        ] {
            let got = cache(raw).unwrap_err();
            assert!(got.starts_with(expected), "{raw}: {got}");
        }
    }

    #[test]
    fn sessions_are_on_by_default_off_with_false_bounds_configurable_bad_values_named() {
        let sessions = |raw: &str| gateway(&format!("{{ sessions: {raw} }}")).map(|g| g.sessions);
        assert_eq!(
            gateway("{}").map(|g| g.sessions),
            Ok(Some(SessionLimits::default()))
        );
        assert_eq!(sessions("false"), Ok(None));
        assert_eq!(
            sessions("{maxSessions: 5, idleSeconds: 60}"),
            Ok(Some(SessionLimits {
                max_sessions: 5,
                idle: Duration::from_secs(60),
            }))
        );
        // Unknown keys are the key check's (`keys.rs`).
        for (raw, expected) in [
            (
                "'on'",
                "gateway.sessions: invalid type: string, expected true, false or {maxSessions, idleSeconds}",
            ),
            (
                "{maxSessions: 0}",
                "gateway.sessions.maxSessions: expected a whole number from 1",
            ),
            ("{idleSeconds: 1.5}", "gateway.sessions.idleSeconds"),
            ("{idleSeconds: -1}", "gateway.sessions.idleSeconds"),
        ] {
            let got = sessions(raw).unwrap_err();
            assert!(got.starts_with(expected), "{raw}: {got}");
        }
    }

    /// `(maxResponseBytes, maxEventBytes)` read from `gateway.limits`, or the
    /// config's errors.
    fn check(limits: &str, expected: Result<(usize, usize), &str>) {
        let text = format!("{{ gateway: {{ limits: {limits} }} }}");
        let got = load_str(
            &text,
            &Environment::from_pairs::<&str, &str>([]),
            Secrets::Offline,
        )
        .map(|loaded| {
            let limits = loaded.config.gateway.limits;
            (limits.max_response_bytes, limits.max_event_bytes)
        })
        .map_err(|errors| errors.to_string());
        assert_eq!(got, expected.map_err(str::to_string), "limits {limits}");
    }

    #[test]
    fn odd_numbers_of_seconds_are_errors_naming_the_key_and_range() {
        let env = Environment::from_pairs([
            ("MOONSHOT_API_KEY", "k-moonshot"),
            ("OPENROUTER_API_KEY", "k-openrouter"),
        ]);
        let errors = |timeouts: &str| match load_str(
            &format!("{{gateway: {{timeouts: {timeouts}}}}}"),
            &env,
            Secrets::Required,
        ) {
            Ok(loaded) => Ok(loaded.config.gateway.timeouts.idle),
            Err(errors) => Err(errors.to_string()),
        };
        for (value, found) in [
            ("NaN", "NaN"),
            ("Infinity", "Infinity"),
            ("-Infinity", "-Infinity"),
            ("1e-300", "found 1e-300"),
            ("0.0005", "0.0005"),
            ("0", "found 0.0"),
            ("-1", "found -1.0"),
            ("1e300", "found 1e300"),
        ] {
            let got = errors(&format!("{{idleSeconds: {value}}}")).unwrap_err();
            assert!(
                got.starts_with(
                    "gateway.timeouts.idleSeconds: expected a number of seconds from 0.001 to 86400, found "
                ) && got.contains(found),
                "{value}: {got}"
            );
        }
        // Elsewhere a non-finite number is named too, never taken as unset.
        let got = load_str(
            "{models: {providers: {moonshot: {models: [{id: 'kimi-k2.6', cost: {input: NaN}}]}}}}",
            &env,
            Secrets::Required,
        )
        .unwrap_err()
        .to_string();
        assert!(
            got.contains("models.providers.moonshot.models[0].cost.input: expected a finite number, found NaN"),
            "{got}"
        );
        assert_eq!(
            errors("{idleSeconds: 0.001}"),
            Ok(std::time::Duration::from_millis(1))
        );
    }

    #[test]
    fn limits_have_defaults_and_a_floor() {
        check("{}", Ok((32 << 20, 16 << 20)));
        check(
            "{ maxResponseBytes: 1048576, maxEventBytes: 65536 }",
            Ok((1 << 20, 1 << 16)),
        );
        check(
            "{ maxResponseBytes: 10, maxEventBytes: 0 }",
            Err(
                "gateway.limits.maxResponseBytes: must be at least 1024, found 10\n\
                 gateway.limits.maxEventBytes: must be at least 1024, found 0",
            ),
        );
        check(
            "{ maxEventBytes: -1 }",
            Err(
                "gateway.limits.maxEventBytes: invalid value: integer `-1`, expected a whole number, 0 or more",
            ),
        );
        check(
            "{ maxConnections: 0 }",
            Err(
                "gateway.limits.maxConnections: expected a whole number from 1 to 1000000, found 0",
            ),
        );
    }

    /// `(perTarget, backoffBase, backoffMax, maxRetryAfter, chain)` read from
    /// `gateway`, or the config's errors.
    fn retries(gateway: &str) -> Result<(u32, f64, f64, f64, f64), String> {
        load_str(
            &format!("{{ gateway: {gateway} }}"),
            &Environment::from_pairs::<&str, &str>([]),
            Secrets::Offline,
        )
        .map(|loaded| {
            let g = loaded.config.gateway;
            (
                g.retries.per_target,
                g.retries.backoff_base.as_secs_f64(),
                g.retries.backoff_max.as_secs_f64(),
                g.retries.max_retry_after.as_secs_f64(),
                g.timeouts.chain.as_secs_f64(),
            )
        })
        .map_err(|errors| errors.to_string())
    }

    #[test]
    fn a_chain_deadline_that_outlasts_openclaws_patience_is_a_warning() {
        let warnings = |gateway: &str| {
            load_str(
                &format!("{{ gateway: {gateway} }}"),
                &Environment::from_pairs::<&str, &str>([]),
                Secrets::Offline,
            )
            .map(|loaded| loaded.warnings)
            .unwrap()
        };
        assert!(
            !warnings("{}").iter().any(|w| w.contains("Seconds")),
            "the defaults fit"
        );
        let long = warnings("{ timeouts: { chainSeconds: 150 } }");
        assert!(
            long.iter()
                .any(|w| w.starts_with("gateway.timeouts.chainSeconds is 150s: OpenClaw gives up")),
            "{long:?}"
        );
        let first = warnings("{ timeouts: { chainSeconds: 30, firstByteSeconds: 30 } }");
        assert!(
            first
                .iter()
                .any(|w| w.starts_with("gateway.timeouts.firstByteSeconds (30s) is not shorter")),
            "{first:?}"
        );
    }

    #[test]
    fn retries_and_the_chain_deadline_have_defaults_and_bounds() {
        assert_eq!(retries("{}"), Ok((1, 0.25, 2.0, 10.0, 90.0)));
        assert_eq!(
            retries(
                "{ retries: { perTarget: 0, backoffBaseSeconds: 0.5, backoffMaxSeconds: 1, \
                 maxRetryAfterSeconds: 3 }, timeouts: { chainSeconds: 30 } }"
            ),
            Ok((0, 0.5, 1.0, 3.0, 30.0))
        );
        assert_eq!(
            retries("{ retries: { perTarget: 9, backoffBaseSeconds: 3, backoffMaxSeconds: 1 } }"),
            Err(
                "gateway.retries.perTarget: expected 0 to 5 retries, found 9\n\
                 gateway.retries.backoffMaxSeconds: must not be less than backoffBaseSeconds (3s)"
                    .to_string()
            )
        );
        assert_eq!(
            retries("{ timeouts: { chainSeconds: 0 } }"),
            Err("gateway.timeouts.chainSeconds: expected a number of seconds from 0.001 to 86400, found 0.0"
                .to_string())
        );
    }
}
