//! The resolved config as `clawgate config show` prints it, serialised
//! from the runtime types (their `Serialize`, and where the file groups
//! settings otherwise, `gateway`, its telemetry and the chain, their
//! objects built here with `json!`).
//!
//! A secret is a [`Secret`](super::Secret), whose only serialisation is
//! [`REDACTED`]; a key in any other secret type (`SecretString`) does not
//! serialise at all, so a new secret cannot be shown by accident: a derive
//! or a `json!` over it does not compile until it is masked. Whatever came
//! from `${VAR}` is scrubbed from the whole besides, wherever it ended up
//! (a header not named like a credential, a `baseUrl` query).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::HeaderMap;
use secrecy::ExposeSecret;
use serde::Serializer;
use serde_json::{Map, Value, json};

use super::clients::TOKEN_CLIENT;
use super::{Config, GatewaySettings, ModelRef};
use crate::ops::redact::{REDACTED, Redactor, is_plain_header};

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
            [one] => json!(one),
            pool => json!(pool),
        };
        let places: Vec<Value> = self.routing.places().into_iter().map(place).collect();
        let mut gateway = gateway(&self.gateway);
        gateway["budgets"] = json!(self.budgets);
        json!({
            "gateway": gateway,
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
fn gateway(g: &GatewaySettings) -> Value {
    // The token's holder is `auth.token`.
    let clients: BTreeMap<&str, &super::clients::Client> = (g.clients.iter())
        .filter(|c| &*c.name != TOKEN_CLIENT)
        .map(|c| (&*c.name, &**c))
        .collect();
    json!({
        "port": g.port,
        "bind": g.bind,
        "auth": {"token": g.auth_token, "openMetrics": g.open_metrics},
        "clients": clients,
        "allowedHosts": g.allowed_hosts,
        "allowedOrigins": g.allowed_origins,
        "limits": g.limits,
        "maxBodyBytes": g.max_body_bytes,
        "sessions": g.sessions,
        "shutdownGraceSeconds": g.shutdown_grace.as_secs_f64(),
        "retries": g.retries,
        "timeouts": g.timeouts,
        "reasoningCache": g.reasoning_cache.map_or(json!(false), |cache| json!(cache)),
        "telemetry": g.telemetry.as_ref().map(telemetry),
    })
}

/// `gateway.telemetry` with the `OTEL_*` variables, as resolved: its URLs
/// with their query as `…`, as [`url`] shows a `baseUrl`, and the export
/// headers by name, each value as [`REDACTED`] but [`is_plain_header`]'s.
fn telemetry(t: &crate::ops::telemetry::Settings) -> Value {
    let headers: Map<String, Value> = (t.headers.iter())
        .map(|(name, value)| {
            let shown = match is_plain_header(name) {
                true => value.expose_secret(),
                false => REDACTED,
            };
            (name.clone(), shown.into())
        })
        .collect();
    json!({
        "tracesUrl": Redactor::default().url(&t.traces_url),
        "serviceName": t.service_name,
        "sampleRatio": t.sample_ratio,
        "parentBased": t.parent_based,
        "queueSpans": t.queue_spans,
        "captureContent": t.capture_content,
        "metricsUrl": t.metrics_url.as_ref().map(|u| Redactor::default().url(u)),
        "metricsIntervalSeconds": t.metrics_interval.as_secs_f64(),
        "headers": headers,
    })
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

/// Headers by name, each value as [`REDACTED`] but those of
/// [`is_plain_header`]'s: a credential may go under any name
/// (`x-goog-credential`).
pub(super) fn headers<S: Serializer>(headers: &HeaderMap, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(headers.iter().map(|(name, value)| {
        let plain = is_plain_header(name.as_str()) && !value.is_sensitive();
        let shown = match value.to_str() {
            Ok(text) if plain => text,
            Ok(_) => REDACTED,
            Err(_) => "<binary>",
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

    /// Phoenix's project header (docs/observability.md) names a project,
    /// not a credential: shown, and not scrubbed from what clawgate says
    /// (`clawgate` in every message); the key beside it is a secret.
    #[test]
    fn a_project_named_in_the_export_headers_is_no_secret() {
        let text = r#"{ gateway: { telemetry: { endpoint: "http://127.0.0.1:6006" } },
            models: { mode: "replace", providers: { p: { baseUrl: "http://127.0.0.1:9/v1",
                apiKey: "${P_KEY}", models: [{ id: "m" }] } } },
            agents: { defaults: { model: "p/m" } } }"#;
        let env = Environment::from_pairs([
            ("P_KEY", "sk-provider-key-0123".to_string()),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-project-name=clawgate,authorization=Bearer%20phoenix-key-0123".to_string(),
            ),
        ]);
        let config = load_str(text, &env, Secrets::Required).unwrap().config;
        let shown = config.shown();
        let headers = &shown["gateway"]["telemetry"]["headers"];
        assert_eq!(headers["x-project-name"], "clawgate");
        assert_eq!(headers["authorization"], REDACTED);
        assert_eq!(shown["gateway"]["telemetry"]["serviceName"], "clawgate");
        let said = "clawgate sends OTLP as http/protobuf only";
        assert_eq!(config.redactor.scrub(said), said);
        assert!(!shown.to_string().contains("phoenix-key-0123"), "{shown}");
    }
}
