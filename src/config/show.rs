//! The resolved config as `clawgate config show` prints it, serialised
//! from the runtime types (their `Serialize`, and thin views where the
//! file groups settings otherwise: `gateway`, its telemetry, the chain).
//!
//! A secret is a [`Secret`], whose only serialisation is [`REDACTED`]; a
//! key in any other secret type (`SecretString`) does not serialise at
//! all, so a new secret cannot be shown by accident: a derive over it
//! does not compile until it is masked. Whatever came from `${VAR}` is
//! scrubbed from the whole besides, wherever it ended up (a header not
//! named like a credential, a `baseUrl` query).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::HeaderMap;
use secrecy::SecretString;
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::clients::TOKEN_CLIENT;
use super::{Config, GatewaySettings, ModelRef, Secret};
use crate::ops::redact::{REDACTED, Redactor, is_sensitive_header};

impl Config {
    /// The resolved config as JSON, with every secret replaced by a marker
    /// saying whether it is set. For `clawgate config show`.
    pub fn redacted(&self) -> Value {
        let mut shown = self.shown();
        super::validate::each_leaf(&mut shown, String::new(), &mut |_, leaf| {
            if let Value::String(text) = leaf
                && let Cow::Owned(scrubbed) = self.redactor.scrub(text)
            {
                *text = scrubbed;
            }
        });
        shown
    }

    /// The config as serialised, before the `${VAR}` values are scrubbed.
    fn shown(&self) -> Value {
        // A place of the chain as written: a ref, or a pool's list.
        let place = |place: &[ModelRef]| match place {
            [one] => serde_json::json!(one),
            pool => serde_json::json!(pool),
        };
        let places: Vec<Value> = self.routing.places().into_iter().map(place).collect();
        serde_json::json!({
            "gateway": Gateway::of(&self.gateway),
            "models": {"providers": &self.providers},
            "ledger": &self.ledger,
            "agents": {"defaults": {
                "model": {"primary": places[0], "fallbacks": places[1..]},
                "aliases": &self.routing.aliases,
                "thinkingDefault": self.routing.thinking_default,
            }},
        })
    }
}

/// `gateway` as the file groups it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Gateway<'a> {
    port: u16,
    bind: std::net::IpAddr,
    auth: Auth<'a>,
    clients: BTreeMap<&'a str, &'a super::clients::Client>,
    allowed_hosts: &'a [String],
    allowed_origins: &'a [String],
    limits: Limits<'a>,
    max_body_bytes: usize,
    sessions: Option<super::SessionLimits>,
    #[serde(serialize_with = "seconds")]
    shutdown_grace_seconds: Duration,
    retries: &'a super::Retries,
    timeouts: Timeouts<'a>,
    telemetry: Option<Telemetry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Auth<'a> {
    token: Option<&'a Secret>,
    open_metrics: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Limits<'a> {
    max_connections: usize,
    max_concurrent_requests: usize,
    #[serde(flatten)]
    upstream: &'a super::Limits,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Timeouts<'a> {
    #[serde(flatten)]
    upstream: &'a super::Timeouts,
    #[serde(serialize_with = "seconds")]
    client_header_seconds: Duration,
    #[serde(serialize_with = "seconds")]
    client_body_seconds: Duration,
}

impl<'a> Gateway<'a> {
    fn of(g: &'a GatewaySettings) -> Self {
        Gateway {
            port: g.port,
            bind: g.bind,
            auth: Auth {
                token: g.auth_token.as_ref(),
                open_metrics: g.open_metrics,
            },
            // The token's holder is `auth.token`.
            clients: (g.clients.iter())
                .filter(|c| &*c.name != TOKEN_CLIENT)
                .map(|c| (&*c.name, &**c))
                .collect(),
            allowed_hosts: &g.allowed_hosts,
            allowed_origins: &g.allowed_origins,
            limits: Limits {
                max_connections: g.client.max_connections,
                max_concurrent_requests: g.client.max_concurrent_requests,
                upstream: &g.limits,
            },
            max_body_bytes: g.max_body_bytes,
            sessions: g.sessions,
            shutdown_grace_seconds: g.shutdown_grace,
            retries: &g.retries,
            timeouts: Timeouts {
                upstream: &g.timeouts,
                client_header_seconds: g.client.header_timeout,
                client_body_seconds: g.client.body_timeout,
            },
            telemetry: g.telemetry.as_ref().map(Telemetry::of),
        }
    }
}

/// `gateway.telemetry` with the `OTEL_*` variables, as resolved; the
/// export headers by name.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Telemetry<'a> {
    /// With its query as `…`, as [`url`] shows a `baseUrl` (and `metrics_url`).
    traces_url: String,
    service_name: &'a str,
    sample_ratio: f64,
    parent_based: bool,
    queue_spans: usize,
    capture_content: bool,
    metrics_url: Option<String>,
    #[serde(serialize_with = "seconds")]
    metrics_interval_seconds: Duration,
    #[serde(serialize_with = "names_masked")]
    headers: &'a [(String, SecretString)],
}

impl<'a> Telemetry<'a> {
    fn of(t: &'a crate::ops::telemetry::Settings) -> Self {
        Telemetry {
            traces_url: Redactor::default().url(&t.traces_url),
            service_name: &t.service_name,
            sample_ratio: t.sample_ratio,
            parent_based: t.parent_based,
            queue_spans: t.queue_spans,
            capture_content: t.capture_content,
            metrics_url: t.metrics_url.as_ref().map(|u| Redactor::default().url(u)),
            metrics_interval_seconds: t.metrics_interval,
            headers: &t.headers,
        }
    }
}

/// Pairs by name, every value as [`REDACTED`] (the telemetry export's
/// headers).
fn names_masked<S: Serializer>(pairs: &&[(String, SecretString)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(pairs.iter().map(|(name, _)| (name, REDACTED)))
}

/// A duration in seconds, fractions kept.
pub(super) fn seconds<S: Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(duration.as_secs_f64())
}

/// A duration in whole seconds.
pub(super) fn whole_seconds<S: Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(duration.as_secs())
}

/// A URL with its query, which may hold a key under any name, as `…`.
pub(super) fn url<S: Serializer>(url: &reqwest::Url, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&Redactor::default().url(url))
}

/// Headers by name, a credential's value as [`REDACTED`].
pub(super) fn headers<S: Serializer>(headers: &HeaderMap, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(headers.iter().map(|(name, value)| {
        let shown = if is_sensitive_header(name.as_str()) || value.is_sensitive() {
            REDACTED
        } else {
            value.to_str().unwrap_or("<binary>")
        };
        (name.as_str(), shown)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Environment, Secrets, load_str};

    /// Every secret in its typed place is masked by its type: the config
    /// as serialised holds none before anything is scrubbed.
    #[test]
    fn no_secret_is_serialised_even_before_scrubbing() {
        let secrets = [
            "tok3n-written-in-the-file",
            "k3y-written-in-the-file",
            "cl1ent-key-from-the-environment",
            "hdr-written-in-the-file",
            "m0del-hdr-written-in-the-file",
            "0tlp-header-from-the-environment",
            "pg-passw0rd-in-the-file",
        ];
        let text = format!(
            r#"{{ gateway: {{ auth: {{ token: "{}" }}, clients: {{ ci: {{ key: "${{CI_KEY}}" }} }},
                telemetry: {{ endpoint: "http://127.0.0.1:4318" }} }},
              models: {{ providers: {{ p: {{ baseUrl: "http://127.0.0.1:9/v1", apiKey: "{}",
                headers: {{ "x-api-key": "{}" }},
                models: [{{ id: "m", headers: {{ authorization: "{}" }} }}] }} }} }},
              agents: {{ defaults: {{ model: "p/m" }} }},
              ledger: {{ store: "postgres://gw:{}@localhost/usage" }} }}"#,
            secrets[0], secrets[1], secrets[3], secrets[4], secrets[6]
        );
        let env = Environment::from_pairs([
            ("CI_KEY", secrets[2].to_string()),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                format!("x-honeycomb-team={}", secrets[5]),
            ),
        ]);
        let config = load_str(&text, &env, Secrets::Required).unwrap().config;
        let shown = config.shown().to_string();
        for secret in secrets {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert_eq!(config.shown()["gateway"]["auth"]["token"], REDACTED);
        assert_eq!(config.shown()["gateway"]["clients"]["ci"]["key"], REDACTED);
    }
}
