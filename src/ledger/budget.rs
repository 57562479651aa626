//! Budgets against the running totals: whether a target may be called
//! ([`check`], before every attempt), and each budget's state (the log's
//! 80% warning, `/v1/status`, the status page).
//!
//! A call's cost is known only when it ends, so requests in flight when a
//! budget is reached may pass it by their own cost; the next request is
//! refused. A model without a price cannot be counted in dollars: per
//! `gateway.budgets.unpriced` a budget covering it refuses it, or lets it
//! through and counts its calls apart (never as $0).

use serde::Serialize;

use super::Ledger;
use super::calendar::{day_of, midnight_rfc3339, next_period_start, period_start};
use crate::config::ledger::{Budget, Budgets, Unpriced};
use crate::config::{Model, ModelRef};

/// Spend at which a budget warns.
pub const WARN_AT: f64 = 0.8;

/// Why a target may not be called.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The budget is spent for its period.
    Spent(Box<State>),
    /// The model has no price and the budget refuses unpriced calls.
    Unpriced { budget: Budget },
}

impl Refusal {
    pub fn budget(&self) -> &Budget {
        match self {
            Refusal::Spent(state) => &state.budget,
            Refusal::Unpriced { budget } => budget,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Spent(state) => write!(
                f,
                "the {} budget of {} for {} is spent (${:.4}); it resets at {}",
                state.budget.period.key(),
                usd(state.budget.usd),
                state.budget.describe(),
                state.spent_usd,
                state.resets_at
            ),
            Refusal::Unpriced { budget } => write!(
                f,
                "the model has no price, and the {} budget for {} refuses unpriced calls (gateway.budgets.unpriced)",
                budget.period.key(),
                budget.describe()
            ),
        }
    }
}

/// One budget now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    #[serde(skip)]
    pub budget: Budget,
    /// The client whose budget it is; none for `gateway.budgets`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    pub scope: String,
    pub period: &'static str,
    pub limit_usd: f64,
    pub spent_usd: f64,
    /// Calls the budget could not count in dollars (unpriced or no usage).
    pub uncosted: u64,
    /// `spent >= 80%` of the limit.
    pub warning: bool,
    pub exceeded: bool,
    #[serde(skip)]
    pub period_start: i64,
    /// RFC 3339, UTC.
    pub resets_at: String,
    /// The day it resets at the start of.
    #[serde(skip)]
    pub resets_day: i64,
}

/// An amount in dollars: cents, four decimals below a cent, and never
/// `$0.0000` for an amount that is not zero.
pub fn usd(amount: f64) -> String {
    match amount.abs() {
        0.0 => "$0.00".to_string(),
        small if small < 0.000_05 => "<$0.0001".to_string(),
        small if small < 0.01 => format!("${amount:.4}"),
        _ => format!("${amount:.2}"),
    }
}

/// The state of every budget on `day`.
pub fn states(ledger: &Ledger, budgets: &Budgets, day: i64) -> Vec<State> {
    ledger.with_totals(|totals| {
        budgets
            .limits
            .iter()
            .map(|budget| {
                let start = period_start(budget.period, day);
                let covers = |model: &str| budget.scope.covers_ref(model);
                let total = totals.since(budget.client.as_deref(), start, covers);
                // `+ 0.0`: an empty sum is -0.0, shown as "$-0.00".
                let (spent, uncosted) = (total.cost_usd + 0.0, total.uncosted);
                State {
                    budget: budget.clone(),
                    client: budget.client.as_deref().map(str::to_string),
                    scope: budget.describe(),
                    period: budget.period.label(),
                    limit_usd: budget.usd,
                    spent_usd: spent,
                    uncosted,
                    warning: spent >= budget.usd * WARN_AT,
                    exceeded: spent >= budget.usd,
                    period_start: start,
                    resets_at: midnight_rfc3339(next_period_start(budget.period, day)),
                    resets_day: next_period_start(budget.period, day),
                }
            })
            .collect()
    })
}

/// Whether the model `model_ref` may be called now under `budgets`: asked
/// before every attempt, and by the status (a target the budgets refuse is
/// shown as such, not as healthy).
pub fn check(
    ledger: &Ledger,
    budgets: &Budgets,
    model_ref: &ModelRef,
    model: &Model,
) -> Result<(), Refusal> {
    // A budget limits spend: a model priced at $0 spends nothing, so no
    // budget refuses it, spent or not.
    let free = model.cost.as_ref().is_some_and(|c| {
        [c.input, c.output, c.cache_read, c.cache_write]
            .iter()
            .all(|price| *price == 0.0)
    });
    if budgets.is_empty() || free {
        return Ok(());
    }
    let covering: Vec<&Budget> = budgets.covering(model_ref).collect();
    if covering.is_empty() {
        return Ok(());
    }
    if model.cost.is_none() && budgets.unpriced == Unpriced::Refuse {
        return Err(Refusal::Unpriced {
            budget: covering[0].clone(),
        });
    }
    let day = day_of(ledger.now());
    let spent = states(ledger, budgets, day)
        .into_iter()
        .filter(|state| state.exceeded && state.budget.scope.covers(model_ref))
        // The one that resets last says when the target is back.
        .max_by(|a, b| a.resets_at.cmp(&b.resets_at));
    match spent {
        Some(state) => Err(Refusal::Spent(Box::new(state))),
        None => Ok(()),
    }
}
