//! `GET /v1/status`: every configured target's health, from the gateway's
//! cooldown state (`no_key` for a target whose key variable is unset), in
//! the order of the default chain first.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::chain::cooldown::TargetStatus;
use crate::config::{ApiKey, Config, Model, ModelRef, Provider};
use crate::gateway::Gateway;
use crate::ledger::{Ledger, budget};
use crate::ops::metrics;

/// A quota older than this is read again when the status is asked for.
pub(super) const STATUS_QUOTA_AGE: Duration = Duration::from_secs(60);

pub async fn status(State(gateway): State<Arc<Gateway>>) -> Json<Value> {
    let config = gateway.config();
    gateway
        .quotas()
        .refresh_stale(&config, STATUS_QUOTA_AGE)
        .await;
    let quotas = gateway.quotas().snapshot(&config, SystemTime::now());
    let mut health = gateway.cooldowns().snapshot(Instant::now());
    let chain: Vec<String> = config
        .chain(None)
        .map(|targets| targets.iter().map(|t| t.model_ref.to_string()).collect())
        .unwrap_or_default();
    let ledger = gateway.ledger();
    let targets: Vec<Value> = config
        .models()
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
            match standing(&config, ledger, &model_ref, provider, model) {
                Some(Standing::NoKey(var)) => {
                    entry["state"] = json!("no_key");
                    entry["missingKey"] = json!(var);
                }
                Some(Standing::OverBudget(refusal)) => {
                    entry["state"] = json!("over_budget");
                    entry["overBudget"] = json!(refusal.to_string());
                }
                None => {}
            }
            entry
        })
        .collect();
    let today = crate::ledger::calendar::day_of(ledger.now());
    let budgets = budget::states(ledger, &config.budgets, today);
    Json(json!({
        "defaultChain": chain,
        "targets": targets,
        "budgets": budgets,
        "ledger": ledger.health(),
        "lastHour": ledger.recent(),
        "quotas": quotas,
    }))
}

/// Why requests skip a target whatever its health: such a target is not
/// healthy, whatever its history.
pub(super) enum Standing<'a> {
    /// Its key variable is unset.
    NoKey(&'a str),
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
    if let ApiKey::Missing { var } = &provider.api_key {
        return Some(Standing::NoKey(var));
    }
    budget::check(ledger, &config.budgets, model_ref, model)
        .err()
        .map(Standing::OverBudget)
}

/// `/metrics`, with each target's cooldown state brought up to date first.
pub async fn metrics_page(State(gateway): State<Arc<Gateway>>) -> String {
    for (model_ref, status) in gateway.cooldowns().snapshot(Instant::now()) {
        metrics::cooldown_state(model_ref.provider(), model_ref.as_str(), status.state);
    }
    gateway.quotas().record_metrics(&gateway.config());
    metrics::render()
}
