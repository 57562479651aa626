//! Budgets against the running totals: whether a target may be called
//! ([`reserve`], before every attempt; [`check`] for the status), and each
//! budget's state (the log's 80% warning, `/v1/status`, the status page).
//!
//! A call's cost is known only when it ends, so a target is called only
//! while its budgets' spend plus what requests in flight reserved is under
//! the limit, and then its request's worst cost ([`Demand::worst_usd`]:
//! its input as estimated and its most output, at the model's prices) is
//! reserved ([`Reserved`]) until its row is counted. Requests at once
//! therefore pass a budget by one request's worst cost at most on one
//! gateway; with a shared store, the other gateways' reservations arrive
//! with the rate counters ([`super::RATE_SYNC`]). A model without a price
//! cannot be counted in dollars: per `gateway.budgets.unpriced` a budget
//! covering it refuses it, or lets it through and counts its calls apart
//! (never as $0).

use std::sync::{Arc, PoisonError};

use serde::Serialize;

use super::calendar::{day_of, midnight_rfc3339, next_period_start, period_start};
use super::{DayTotal, Ledger, Shared, price_usd};
use crate::config::ledger::{Budget, Budgets, Unpriced};
use crate::config::{Model, ModelRef, Target};

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
            Refusal::Spent(state) => {
                write!(
                    f,
                    "the {} budget of {} for {} is spent ({}",
                    state.budget.period.key(),
                    usd(state.budget.usd),
                    state.budget.describe(),
                    spent(state.spent_usd),
                )?;
                if state.reserved_usd > 0.0 {
                    write!(
                        f,
                        ", and {} reserved by requests in flight",
                        spent(state.reserved_usd)
                    )?;
                }
                write!(f, "); it resets at {}", state.resets_at)
            }
            Refusal::Unpriced { budget } => {
                write!(
                    f,
                    "the model has no price, and the {} budget for {} refuses unpriced calls (",
                    budget.period.key(),
                    budget.describe()
                )?;
                match &budget.client {
                    Some(client) => write!(f, "gateway.clients.{client}.budgets.unpriced)"),
                    None => write!(f, "gateway.budgets.unpriced)"),
                }
            }
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
    /// The worst cost of the requests in flight that it covers (every
    /// gateway's, with a shared store), counted as spent until they end.
    #[serde(skip_serializing_if = "is_zero")]
    pub reserved_usd: f64,
    /// Calls the budget could not count in dollars (unpriced or no usage).
    pub uncosted: u64,
    /// `spent >= 80%` of the limit.
    pub warning: bool,
    /// `spent + reserved >= limit`: no target it covers is called.
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

/// An amount spent, to four decimals, and never `$0.0000` for one that is
/// not zero (a budget of `<$0.0001` is spent by `<$0.0001`).
pub fn spent(amount: f64) -> String {
    match amount.abs() {
        small if small > 0.0 && small < 0.000_05 => "<$0.0001".to_string(),
        _ => format!("${amount:.4}"),
    }
}

/// `known`, the cost of `answered` answers but `uncosted` of them, as the
/// whole is said: `unknown` when none had a known cost, `+ unknown` when
/// some had not, never a part shown as the whole (nor `$0.0000`, what a
/// model priced at zero costs).
pub fn of_answers(known: String, answered: u64, uncosted: u64) -> String {
    match uncosted {
        0 => known,
        _ if uncosted >= answered => "unknown".to_string(),
        _ => format!("{known} + unknown"),
    }
}

fn is_zero(amount: &f64) -> bool {
    *amount == 0.0
}

/// What a request may use at most, for its reservations: its input tokens
/// as `count_tokens` estimates them (its most output depends on the
/// target: `providers::most_output`).
#[derive(Debug, Clone)]
pub struct Demand {
    /// The client whose request it is.
    pub client: Arc<str>,
    pub input_tokens: u64,
}

impl Demand {
    /// The request's worst cost on `target`, where it may get
    /// `most_output`: its input (at the input price or, where writing it
    /// to the cache costs more, at that) and most output at the model's
    /// prices (0 without a price: such a call is counted apart).
    pub fn worst_usd(&self, target: &Target, most_output: u64) -> f64 {
        let input = self.input_tokens;
        let priced = |written| {
            let price = target.model.cost.as_ref();
            price_usd(price, input, 0, written, most_output).unwrap_or(0.0)
        };
        priced(0).max(priced(input))
    }
}

/// A request's worst cost on the target it calls, held against every
/// budget until the request's row is counted; released when dropped.
pub struct Reserved {
    shared: Arc<Shared>,
    day: i64,
    client: Arc<str>,
    model: String,
    usd: f64,
}

impl std::fmt::Debug for Reserved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Reserved({}, {}, ${})",
            self.client, self.model, self.usd
        )
    }
}

impl Reserved {
    fn total(&self) -> DayTotal {
        DayTotal {
            requests: 1,
            cost_usd: self.usd,
            ..DayTotal::default()
        }
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        let total = self.total();
        self.shared
            .reserved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(self.day, &self.client, &self.model, total);
    }
}

/// The state of every budget on `day`.
pub fn states(ledger: &Ledger, budgets: &Budgets, day: i64) -> Vec<State> {
    states_with(ledger, budgets, day, None)
}

/// The state of each budget whose spend on `day` has reached the warning
/// line (what [`State::warning`] says): written only for those, as a row
/// of every priced request asks.
pub fn warned(ledger: &Ledger, budgets: &Budgets, day: i64) -> Vec<State> {
    if budgets.limits.is_empty() {
        return Vec::new();
    }
    standings(ledger, budgets.limits.iter(), day, None)
        .into_iter()
        .filter(|(budget, standing)| standing.warns(budget))
        .map(|(budget, standing)| standing.state(budget, day))
        .collect()
}

/// [`states`], this gateway's reservations read from `reserved` when the
/// caller holds their lock.
fn states_with(
    ledger: &Ledger,
    budgets: &Budgets,
    day: i64,
    reserved: Option<&super::Totals>,
) -> Vec<State> {
    standings(ledger, budgets.limits.iter(), day, reserved)
        .into_iter()
        .map(|(budget, standing)| standing.state(budget, day))
        .collect()
}

/// Where one budget stands: what it counted and what is reserved against
/// it; a [`State`] is written from it only where one is shown.
struct Standing {
    total: DayTotal,
    held: f64,
}

impl Standing {
    fn exceeded(&self, budget: &Budget) -> bool {
        self.total.cost_usd + self.held.max(0.0) >= budget.usd
    }

    /// Whether what it counted has reached the warning line.
    fn warns(&self, budget: &Budget) -> bool {
        self.total.cost_usd >= budget.usd * WARN_AT
    }

    fn state(&self, budget: &Budget, day: i64) -> State {
        // `+ 0.0`: an empty sum is -0.0, shown as "$-0.00".
        let (spent, held) = (self.total.cost_usd + 0.0, self.held.max(0.0));
        let next = next_period_start(budget.period, day);
        State {
            budget: budget.clone(),
            client: budget.client.as_deref().map(str::to_string),
            scope: budget.describe(),
            period: budget.period.label(),
            limit_usd: budget.usd,
            spent_usd: spent,
            reserved_usd: held,
            uncosted: self.total.uncosted,
            warning: self.warns(budget),
            exceeded: self.exceeded(budget),
            period_start: period_start(budget.period, day),
            resets_at: midnight_rfc3339(next),
            resets_day: next,
        }
    }
}

/// Where each of `budgets` stands on `day`, under one read of the spend.
fn standings<'b>(
    ledger: &Ledger,
    budgets: impl Iterator<Item = &'b Budget>,
    day: i64,
    reserved: Option<&super::Totals>,
) -> Vec<(&'b Budget, Standing)> {
    ledger.with_spend(reserved, |totals, reserved| {
        budgets
            .map(|budget| {
                let start = period_start(budget.period, day);
                let covers = |model: &str| budget.scope.covers_ref(model);
                let total = totals.since(budget.client.as_deref(), start, covers);
                // Every request in flight, whatever day it began: its row
                // lands when it ends, in this period (one held across
                // midnight counts on the new day).
                let held = reserved
                    .iter()
                    .map(|r| r.since(budget.client.as_deref(), i64::MIN, covers).cost_usd)
                    .sum::<f64>();
                (budget, Standing { total, held })
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
    check_with(ledger, budgets, model_ref, model, None)
}

/// [`check`], this gateway's reservations read from `reserved` when the
/// caller holds their lock.
fn check_with(
    ledger: &Ledger,
    budgets: &Budgets,
    model_ref: &ModelRef,
    model: &Model,
    reserved: Option<&super::Totals>,
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
    let spent = standings(ledger, covering.into_iter(), day, reserved)
        .into_iter()
        .filter(|(budget, standing)| standing.exceeded(budget))
        // The one that resets last says when the target is back.
        .max_by_key(|(budget, _)| next_period_start(budget.period, day));
    match spent {
        Some((budget, standing)) => Err(Refusal::Spent(Box::new(standing.state(budget, day)))),
        None => Ok(()),
    }
}

/// Whether `model_ref` may be called now under every one of `budgets`
/// ([`check`]), and if so its request's worst cost reserved against them:
/// checked and reserved under one lock, so that requests at once see each
/// other's reservations. `None` when no budget covers the model.
pub fn reserve(
    ledger: &Ledger,
    budgets: &[&Budgets],
    target: &Target,
    demand: &Demand,
    most_output: u64,
) -> Result<Option<Reserved>, Refusal> {
    let (model_ref, model) = (&target.model_ref, &*target.model);
    if budgets
        .iter()
        .all(|b| b.covering(model_ref).next().is_none())
    {
        return Ok(None);
    }
    let mut reserved = ledger
        .shared
        .reserved
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    budgets
        .iter()
        .try_for_each(|budgets| check_with(ledger, budgets, model_ref, model, Some(&reserved)))?;
    let held = Reserved {
        shared: ledger.shared.clone(),
        day: day_of(ledger.now()),
        client: demand.client.clone(),
        model: model_ref.as_str().to_string(),
        usd: demand.worst_usd(target, most_output),
    };
    reserved.add(held.day, &held.client, &held.model, held.total());
    Ok(Some(held))
}
