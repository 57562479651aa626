//! `GET /v1/status`: every configured target's health, from the gateway's
//! cooldown state (`no_key` for a target whose key variable is unset), in
//! the order of the default chain first; the budgets; and each client's
//! spend and limits. An admin key sees everything; another key sees its
//! own client, its own budgets' figures, the targets it may use, and of
//! what is everyone's (those targets, the gateway's budgets) no figure,
//! no last error (it may quote another client's request), not the last
//! hour, the queues or the ledger's health (everyone's rows and the
//! store's last error).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Json;
use axum::extract::{Extension, State};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::ApiError;
use super::error::seen_by;
use super::guard::Caller;
use crate::chain::cooldown::TargetStatus;
use crate::config::clients::Client;
use crate::config::ledger::Scope;
use crate::config::{ApiKey, Config, Model, ModelRef, Provider, Unset, placeholder_key};
use crate::gateway::Gateway;
use crate::ledger::Ledger;
use crate::ledger::budget::{self, State as BudgetState};
use crate::ops::metrics;

/// A quota older than this is read again when the status is asked for.
pub(super) const STATUS_QUOTA_AGE: Duration = Duration::from_secs(60);

pub async fn status(
    State(gateway): State<Arc<Gateway>>,
    Extension(Caller(caller)): Extension<Caller>,
) -> Json<Value> {
    let config = gateway.config();
    gateway
        .quotas()
        .refresh_stale(&config, STATUS_QUOTA_AGE)
        .await;
    let quotas = gateway.quotas().snapshot(&config, SystemTime::now());
    let mut health = gateway.cooldowns().snapshot(Instant::now());
    // A client restricted to some models sees those alone, as its
    // `GET /v1/models` lists them.
    let seen = |model_ref: &ModelRef| caller.admin || caller.may_use(model_ref);
    let chain: Vec<String> = config
        .chain(None)
        .map(|targets| {
            targets
                .iter()
                .filter(|t| seen(&t.model_ref))
                .map(|t| t.model_ref.to_string())
                .collect()
        })
        .unwrap_or_default();
    let ledger = gateway.ledger();
    let targets: Vec<Value> = config
        .models()
        .filter(|(model_ref, _, _)| seen(model_ref))
        .map(|(model_ref, provider, model)| {
            let status = health
                .remove(&model_ref)
                .unwrap_or_else(TargetStatus::unused);
            let mut entry = json!({
                "ref": model_ref.as_str(),
                "provider": model_ref.provider(),
            });
            if let Some(position) = chain.iter().position(|r| r == model_ref.as_str()) {
                entry["chainPosition"] = json!(position + 1);
            }
            if quotas
                .get(model_ref.provider())
                .is_some_and(|q| q.exhausted)
            {
                entry["quotaExhausted"] = json!(true);
            }
            let fields = serde_json::to_value(status).expect("a status serializes");
            if let (Value::Object(entry), Value::Object(fields)) = (&mut entry, fields) {
                entry.extend(fields);
            }
            // Everyone's requests: when the target last answered or failed,
            // how often, and the provider's words (which may quote one).
            if !caller.admin {
                for figure in [
                    "lastError",
                    "lastSuccess",
                    "lastFailureSecondsAgo",
                    "failures",
                ] {
                    entry[figure] = Value::Null;
                }
            }
            match standing(&config, ledger, &model_ref, provider, model) {
                Some(Standing::NoKey(unset)) => {
                    entry["state"] = json!("no_key");
                    entry["missingKey"] = json!(unset.var);
                }
                Some(Standing::PlaceholderKey(source)) => {
                    entry["state"] = json!("placeholder_key");
                    entry["placeholderKey"] = json!(source);
                }
                Some(Standing::OverBudget(refusal)) => {
                    entry["state"] = json!("over_budget");
                    entry["overBudget"] = json!(seen_by(&refusal, caller.admin));
                }
                None => {}
            }
            entry
        })
        .collect();
    let today = crate::ledger::calendar::day_of(ledger.now());
    let mut budgets = budget_states(ledger, &config, today);
    if !caller.admin {
        // Its own, and everyone's that cover a model it may use (another's
        // scope would name a model it may not).
        let covers_one = |scope: &Scope| {
            config
                .models()
                .any(|(r, _, _)| seen(&r) && scope.covers(&r))
        };
        budgets.retain(|b| match b.client.as_deref() {
            Some(client) => *client == *caller.name,
            None => covers_one(&b.budget.scope),
        });
    }
    let budgets: Vec<Value> = budgets
        .iter()
        .map(|state| {
            let mut shown = json!(state);
            if !caller.admin
                && state.client.is_none()
                && let Value::Object(fields) = &mut shown
            {
                for figure in ["limitUsd", "spentUsd", "reservedUsd", "uncosted", "warning"] {
                    fields.remove(figure);
                }
            }
            shown
        })
        .collect();
    let clients: Vec<Value> = config
        .gateway
        .clients
        .iter()
        .filter(|client| caller.admin || client.name == caller.name)
        .map(|client| client_status(ledger, client, today))
        .collect();
    let mut shown = json!({
        "defaultChain": chain,
        "targets": targets,
        "budgets": budgets,
        "clients": clients,
        "ledger": ledger.health(),
        "lastHour": ledger.recent(),
        "quotas": quotas,
        "concurrency": gateway.queues().snapshot(&config),
        "sessions": sessions_status(&gateway, &caller),
    });
    // Everyone's requests: the gateway's hour, its queues and its rows;
    // and the providers' accounts, their balances and quotas.
    if !caller.admin {
        shown["lastHour"] = Value::Null;
        shown["concurrency"] = Value::Null;
        shown["ledger"] = Value::Null;
        shown["quotas"] = Value::Null;
    }
    Json(shown)
}

/// The sessions kept (everyone's: an admin's figure only) and their
/// recent cache breaks, the latest first (a client sees its own).
pub(super) fn sessions_status(gateway: &Gateway, caller: &Client) -> Value {
    let Some(sessions) = gateway.sessions() else {
        return Value::Null;
    };
    let own = (!caller.admin).then_some(&*caller.name);
    let breaks: Vec<Value> = sessions
        .recent_breaks(own)
        .iter()
        .map(|noted| {
            json!({
                "session": &*noted.session,
                "cause": noted.cause,
                "detail": noted.detail,
                "target": noted.target.as_deref(),
                "at": noted.at,
            })
        })
        .collect();
    json!({
        "kept": caller.admin.then(|| sessions.len()),
        "recentBreaks": breaks,
    })
}

/// Why requests skip a target, or are sure to fail on it, whatever its
/// health: such a target is not healthy, whatever its history.
pub(super) enum Standing<'a> {
    /// Its key variable is unset or empty.
    NoKey(&'a Unset),
    /// Its key is a placeholder copied from the docs (`sk-...`): the
    /// provider will refuse it. Where the key came from.
    PlaceholderKey(String),
    /// The budgets refuse it (spent, or no price to count it by).
    OverBudget(budget::Refusal),
}

/// The one decision of whether requests skip a target now, for the status
/// (`/v1/status`, `clawgate status`) and the status page alike.
pub(super) fn standing<'a>(
    config: &Config,
    ledger: &Ledger,
    model_ref: &ModelRef,
    provider: &'a Provider,
    model: &Model,
) -> Option<Standing<'a>> {
    match &provider.api_key {
        ApiKey::Missing(unset) => return Some(Standing::NoKey(unset)),
        ApiKey::Set(key) if placeholder_key(key.expose_secret()).is_some() => {
            let source = match &provider.key_var {
                Some(var) => var.clone(),
                None => format!("models.providers.{}.apiKey", provider.id),
            };
            return Some(Standing::PlaceholderKey(source));
        }
        _ => {}
    }
    budget::check(ledger, &config.budgets, model_ref, model)
        .err()
        .map(Standing::OverBudget)
}

/// `/metrics`, with each target's cooldown state brought up to date first:
/// for an admin key (or anyone, with `gateway.auth.openMetrics`), as they
/// are everyone's figures.
pub async fn metrics_page(
    State(gateway): State<Arc<Gateway>>,
    Extension(Caller(caller)): Extension<Caller>,
) -> Result<String, ApiError> {
    if !caller.admin {
        return Err(ApiError::AdminOnly {
            what: "/metrics",
            also: ", or gateway.auth.openMetrics for a scraper",
        });
    }
    for (model_ref, status) in gateway.cooldowns().snapshot(Instant::now()) {
        metrics::cooldown_state(model_ref.provider(), model_ref.as_str(), status.state);
    }
    gateway.quotas().record_metrics(&gateway.config());
    gateway.queues().record_metrics(&gateway.config());
    Ok(metrics::render())
}

/// Every budget's state: the gateway's, then each client's.
pub(super) fn budget_states(ledger: &Ledger, config: &Config, today: i64) -> Vec<BudgetState> {
    let mut states = budget::states(ledger, &config.budgets, today);
    for client in config.gateway.clients.iter() {
        states.extend(budget::states(ledger, &client.budgets, today));
    }
    states
}

/// A client's spend and requests answered today (`today.requests`), its
/// models and limits.
pub(super) fn client_status(ledger: &Ledger, client: &Client, today: i64) -> Value {
    let total = ledger.with_totals(|t| t.since(Some(&client.name), today, |_| true));
    let limits = client.limits;
    json!({
        "name": &*client.name,
        "admin": client.admin,
        "models": client.models.as_ref().map(|m| &m.written),
        "limits": {
            "requestsPerMinute": limits.requests_per_minute,
            "tokensPerMinute": limits.tokens_per_minute,
            "concurrentRequests": limits.concurrent_requests,
        },
        "today": {"requests": total.answered, "costUsd": total.cost_usd},
    })
}
