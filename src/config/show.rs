//! The resolved config as `clawgate config show` prints it: every secret
//! replaced by a marker saying whether it is set.

use std::borrow::Cow;

use reqwest::header::HeaderMap;
use serde_json::{Map, Value};

use super::ledger::StoreUrl;
use super::{Config, ModelRef};
use crate::ops::redact::{REDACTED, Redactor, is_sensitive_header};

impl Config {
    /// The resolved config as JSON, with every secret replaced by a marker
    /// saying whether it is set. For `clawgate config show`.
    pub fn redacted(&self) -> Value {
        let mut shown = self.shown();
        // Whatever came from `${VAR}` is a secret wherever it ended up: a
        // header not named like a credential, a `baseUrl` query.
        scrub_strings(&mut shown, &self.redactor);
        shown
    }

    fn shown(&self) -> Value {
        let headers = |headers: &HeaderMap| -> Value {
            headers
                .iter()
                .map(|(name, value)| {
                    let shown = if is_sensitive_header(name.as_str()) || value.is_sensitive() {
                        REDACTED.to_string()
                    } else {
                        value.to_str().unwrap_or("<binary>").to_string()
                    };
                    (name.to_string(), Value::String(shown))
                })
                .collect::<Map<_, _>>()
                .into()
        };
        let providers: Map<String, Value> = self
            .providers
            .values()
            .map(|p| {
                let models: Vec<Value> = p
                    .models
                    .iter()
                    .map(|m| {
                        serde_json::json!({
                            "id": m.id,
                            "name": m.name,
                            "reasoning": m.reasoning,
                            "input": m.input,
                            "cost": m.cost,
                            "contextWindow": m.context_window,
                            "maxTokens": m.max_tokens,
                            "headers": headers(&m.headers),
                            "capabilities": m.capabilities,
                        })
                    })
                    .collect();
                let value = serde_json::json!({
                    "baseUrl": self.redactor.url(&p.base_url),
                    "api": p.api,
                    "dialect": p.dialect,
                    "dialectSource": p.dialect_source,
                    "apiKey": p.api_key.describe(),
                    "cacheLifetimeSeconds": p.cache_lifetime.as_secs(),
                    "models": models,
                });
                (p.id.clone(), value)
            })
            .collect();
        let g = &self.gateway;
        let places = self.routing.places();
        // A place as written: a ref, or a pool's list.
        let place = |refs: &[ModelRef]| match refs {
            [one] => Value::String(one.to_string()),
            pool => pool.iter().map(|r| Value::String(r.to_string())).collect(),
        };
        serde_json::json!({
            "gateway": {
                "port": g.port,
                "bind": g.bind.to_string(),
                "auth": {"token": g.auth_token.as_ref().map(|_| REDACTED), "openMetrics": g.open_metrics},
                "clients": g.clients.iter()
                    .filter(|c| &*c.name != super::clients::TOKEN_CLIENT)
                    .map(|c| (c.name.to_string(), serde_json::json!({
                        "key": REDACTED,
                        "admin": c.admin,
                        "models": c.models.as_ref().map(|m| &m.written),
                        "limits": {
                            "requestsPerMinute": c.limits.requests_per_minute,
                            "tokensPerMinute": c.limits.tokens_per_minute,
                            "concurrentRequests": c.limits.concurrent_requests,
                        },
                        "budgets": c.budgets.limits.iter()
                            .map(|b| serde_json::json!({"scope": b.scope.describe(), "period": b.period.label(), "usd": b.usd}))
                            .collect::<Vec<_>>(),
                    })))
                    .collect::<Map<_, _>>(),
                "allowedHosts": g.allowed_hosts,
                "allowedOrigins": g.allowed_origins,
                "limits": {
                    "maxConnections": g.client.max_connections,
                    "maxConcurrentRequests": g.client.max_concurrent_requests,
                    "maxResponseBytes": g.limits.max_response_bytes,
                    "maxEventBytes": g.limits.max_event_bytes,
                },
                "maxBodyBytes": g.max_body_bytes,
                "sessions": g.sessions.map(|s| serde_json::json!({
                    "maxSessions": s.max_sessions,
                    "idleSeconds": s.idle.as_secs(),
                })),
                "shutdownGraceSeconds": g.shutdown_grace.as_secs_f64(),
                "retries": {
                    "perTarget": g.retries.per_target,
                    "backoffBaseSeconds": g.retries.backoff_base.as_secs_f64(),
                    "backoffMaxSeconds": g.retries.backoff_max.as_secs_f64(),
                    "maxRetryAfterSeconds": g.retries.max_retry_after.as_secs_f64(),
                },
                "timeouts": {
                    "connectSeconds": g.timeouts.connect.as_secs_f64(),
                    "firstByteSeconds": g.timeouts.first_byte.as_secs_f64(),
                    "idleSeconds": g.timeouts.idle.as_secs_f64(),
                    "chainSeconds": g.timeouts.chain.as_secs_f64(),
                    "clientHeaderSeconds": g.client.header_timeout.as_secs_f64(),
                    "clientBodySeconds": g.client.body_timeout.as_secs_f64(),
                },
                "telemetry": g.telemetry.as_ref().map(|t| serde_json::json!({
                    "tracesUrl": self.redactor.url(&t.traces_url),
                    "serviceName": t.service_name,
                    "sampleRatio": t.sample_ratio,
                    "parentBased": t.parent_based,
                    "queueSpans": t.queue_spans,
                    "captureContent": t.capture_content,
                    "metricsUrl": t.metrics_url.as_ref().map(|url| self.redactor.url(url)),
                    "metricsIntervalSeconds": t.metrics_interval.as_secs_f64(),
                    "headers": t.headers.iter()
                        .map(|(name, _)| (name.clone(), Value::String(REDACTED.into())))
                        .collect::<Map<_, _>>(),
                })),
            },
            "models": {"providers": providers},
            "ledger": {
                "enabled": self.ledger.enabled,
                "path": self.ledger.path.as_ref().map(|path| path.display().to_string()),
                "retentionDays": self.ledger.retention_days,
                // The URL with its password as `****`.
                "store": self.ledger.store.as_ref().map(|store| match store {
                    StoreUrl::Postgres { shown, .. } => shown.clone(),
                    StoreUrl::Unresolved { var } => format!("missing: {var} is not set"),
                }),
            },
            "agents": {"defaults": {
                "model": {
                    "primary": place(places[0]),
                    "fallbacks": places[1..].iter().map(|refs| place(refs)).collect::<Vec<_>>(),
                },
                "aliases": self.routing.aliases.iter()
                    .map(|(alias, target)| (alias.clone(), Value::String(target.to_string())))
                    .collect::<Map<_, _>>(),
                "thinkingDefault": self.routing.thinking_default,
            }},
        })
    }
}

fn scrub_strings(value: &mut Value, redactor: &Redactor) {
    match value {
        Value::String(text) => {
            if let Cow::Owned(scrubbed) = redactor.scrub(text) {
                *text = scrubbed;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| scrub_strings(v, redactor)),
        Value::Object(map) => map.values_mut().for_each(|v| scrub_strings(v, redactor)),
        _ => {}
    }
}
