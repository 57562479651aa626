//! The fallback chain: a plain loop over a request's targets that sends one
//! attempt each (retrying transient failures on the same target), keeps
//! every failure, and stops at the first answer or at a failure no other
//! target could fix. `policy.rs` decides what each outcome means,
//! `cooldown.rs` keeps each target's health.
//!
//! Everything a request waits for before its first event (attempts,
//! retries, backoffs, `Retry-After` waits) fits inside one deadline,
//! `gateway.timeouts.chainSeconds`. This is the one place attempt failures
//! are logged and counted.

pub mod assemble;
pub mod concurrency;
pub mod cooldown;
pub mod placement;
pub mod policy;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use self::cooldown::{Cooldowns, CoolingDown, LateFailures, Permit, Since};
use self::policy::{Class, Decision, Outcome, classify};
use crate::config::ledger::Budgets;
use crate::config::{Limits, ModelRef, Retries, Target, Timeouts};
use crate::ledger::{Ledger, Pricing, budget};
use crate::ops::metrics;
use crate::ops::redact::Redactor;
use crate::ops::telemetry::{self, Trace};
use crate::providers::{self, Declined, Plan, Refusal, Skip};
use crate::upstream::transport::EventReading;
use crate::upstream::transport_of;
use crate::upstream::{AttemptError, Call, Reply, Upstream};
use crate::wire::request::ClientRequest;

/// Why a target ended without an answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Cause {
    #[error(transparent)]
    Attempt(#[from] AttemptError),
    #[error("not tried: cooling down for {}s after {}", remaining.as_secs(), class.label())]
    CoolingDown { class: Class, remaining: Duration },
    #[error(
        "not tried: its context window ({window} tokens) is not larger than that of a model that found the request too long"
    )]
    WindowTooSmall { window: u64 },
    #[error("not tried: the chain's deadline of {}s had passed", after.as_secs_f64())]
    DeadlinePassed { after: Duration },
    #[error(
        "not tried: the request holds at least {least} tokens, more than its context window ({window} tokens)"
    )]
    RequestTooLong { least: u64, window: u64 },
    #[error("not tried: {0}")]
    OverBudget(budget::Refusal),
    /// The target cannot take this request (the plan's skip).
    #[error("not tried: {0}")]
    Unsuitable(Skip),
    #[error("not tried: the account's quota is spent ({}){}", exhausted.what,
        exhausted.until.map_or(String::new(), |at| format!(" until {}", httpdate::fmt_http_date(at))))]
    QuotaExhausted { exhausted: crate::quota::Exhausted },
    /// Every place at the provider stayed taken while the request waited
    /// (its `maxConcurrent`).
    #[error("not tried: {0}")]
    Busy(concurrency::Busy),
}

/// A target that did not answer: a failed attempt, or a target skipped.
#[derive(Debug, Clone)]
pub struct Failure {
    pub model_ref: ModelRef,
    /// The URL called, scrubbed of secrets.
    pub url: String,
    pub cause: Cause,
    pub class: Class,
    pub decision: Decision,
    /// How long the provider asked to be left alone (`Retry-After`), or the
    /// cooldown left on a skipped target.
    pub wait: Option<Duration>,
    /// Attempts made on this target (0 when skipped).
    pub tries: u32,
}

impl Failure {
    /// The outcome label of logs, `x-clawgate-attempts` and the access
    /// line: the class, except for a target clawgate's own budgets refuse
    /// (its class is billing's for the final status, but no provider
    /// account ran out).
    pub fn outcome(&self) -> &'static str {
        match self.cause {
            Cause::OverBudget(_) => "over_budget",
            Cause::Busy(_) => "busy",
            _ => self.class.label(),
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.cause {
            Cause::Attempt(error) => error.status().map(|s| s.as_u16()),
            _ => None,
        }
    }

    pub fn error_type(&self) -> Option<&str> {
        match &self.cause {
            Cause::Attempt(error) => error.error_type(),
            _ => None,
        }
    }

    /// `ref:outcome`, as the access line and the ledger name an attempt: a
    /// target skipped because it was cooling down says so, not the
    /// failure that started its cooldown; one that cannot take the
    /// request, that the budgets refuse or whose quota reading says its
    /// window is spent says why.
    pub fn label(&self) -> String {
        let skipped = match &self.cause {
            Cause::CoolingDown { .. } => "cooling_down",
            Cause::OverBudget(_) => "over_budget",
            Cause::Busy(_) => "busy",
            Cause::QuotaExhausted { .. } => "quota",
            Cause::Unsuitable(why) => why.label(),
            _ => return format!("{}:{}", self.model_ref, self.outcome()),
        };
        format!("{}:skipped({skipped})", self.model_ref)
    }
}

/// The successful end of a chain.
pub struct Answer {
    pub target: Target,
    /// The targets that failed before this one.
    pub failures: Vec<Failure>,
    pub reply: Reply,
    /// For a stream: where to report how it ended (`[DONE]` or broken), so
    /// that the target's health counts failures after the start too.
    pub health: LateFailures,
    /// What the client asked that this target was not sent (its plan's).
    pub withheld: Vec<providers::Withheld>,
    /// The request's worst cost on this target, held against the budgets
    /// until its row is counted.
    pub reserved: Option<budget::Reserved>,
    /// The most output the target could give ([`Plan::most_output`]),
    /// where it holds ([`Plan::output_held`]).
    pub most_output: Option<u64>,
}

impl Answer {
    /// Targets tried, this one included (skipped ones are not counted).
    pub fn attempts(&self) -> usize {
        self.failures.iter().filter(|f| f.tries > 0).count() + 1
    }
}

/// How far a request's chain has gone while it runs: the targets it gave
/// up, and the one it is sending the request to, with its hold on the
/// budgets. What the request's row counts when the client leaves before
/// the answer begins (a whole answer still being assembled, a first token
/// not yet come): the provider had the request and may finish the answer.
/// Shared by the chain, which writes it, and the request's access record,
/// which reads it then.
#[derive(Clone, Debug, Default)]
pub struct InFlight(Arc<Mutex<Progress>>);

/// What [`InFlight`] holds.
#[derive(Debug, Default)]
pub struct Progress {
    /// Each target given up or skipped so far, as the access line names
    /// it ([`Failure::label`]).
    pub before: Vec<String>,
    pub sending: Option<Sending>,
}

/// The target a request is at, and what it may cost there.
#[derive(Debug)]
pub struct Sending {
    pub model_ref: ModelRef,
    pub pricing: Pricing,
    /// The most output the request may get there.
    pub most_output: u64,
    /// Its worst cost there, held against the budgets; the row settles it.
    pub reserved: Option<budget::Reserved>,
    /// `false` between two tries (the provider refused the last one).
    pub at_provider: bool,
}

impl InFlight {
    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes the targets given up or skipped so far, before the chain
    /// waits for a target's place (and then on the target).
    fn tried(&self, failures: &[Failure]) {
        self.progress().before = failures.iter().map(Failure::label).collect();
    }

    /// What the chain did until now, taken.
    pub fn take(&self) -> Progress {
        let mut progress = self.progress();
        Progress {
            before: std::mem::take(&mut progress.before),
            sending: progress.sending.take(),
        }
    }
}

/// A target's hold on its request's [`InFlight`] while it is tried: set
/// when made, taken back by [`Holding::answered`] or [`Holding::failed`];
/// a request dropped meanwhile (its client left) leaves it for the
/// access record. Without an `InFlight` (a probe), the budget hold is
/// kept here.
struct Holding<'a> {
    slot: Option<&'a InFlight>,
    reserved: Option<budget::Reserved>,
}

impl<'a> Holding<'a> {
    /// The attempts before are noted already, before the wait for the
    /// target's place ([`InFlight::tried`]).
    fn new(
        slot: Option<&'a InFlight>,
        target: &Target,
        plan: &Plan,
        reserved: Option<budget::Reserved>,
    ) -> Self {
        let Some(slot) = slot else {
            return Self { slot, reserved };
        };
        let mut progress = slot.progress();
        progress.sending = Some(Sending {
            model_ref: target.model_ref.clone(),
            pricing: Pricing::of(&target.model),
            most_output: plan.most_output,
            reserved,
            at_provider: true,
        });
        Self {
            slot: Some(slot),
            reserved: None,
        }
    }

    /// Whether the provider has the request: not between two tries.
    fn at_provider(&self, at: bool) {
        if let Some(slot) = self.slot
            && let Some(sending) = slot.progress().sending.as_mut()
        {
            sending.at_provider = at;
        }
    }

    /// The target answered: its budget hold goes with the answer.
    fn answered(mut self) -> Option<budget::Reserved> {
        match self.slot {
            Some(slot) => slot.progress().sending.take().and_then(|s| s.reserved),
            None => self.reserved.take(),
        }
    }

    /// The target was given up: its hold is released.
    fn failed(self) {
        if let Some(slot) = self.slot {
            slot.progress().sending = None;
        }
    }
}

/// An attempt as reported to clients and by `clawgate agent --json`.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptReport {
    pub provider: String,
    pub model: String,
    /// Empty, and left out, in what a client that is not an admin reads.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// `ok` or the failure class.
    pub outcome: &'static str,
    /// What the chain did next: `retry`, `next`, `next_larger`, `stop`, or
    /// `none` after the chain's last target.
    pub next: &'static str,
    pub tries: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What the user can do about it, when it is theirs to fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<&'static str>,
}

/// The reports of a chain's failed attempts, all of them: after the last
/// there was no next target, whatever its failure would have done.
pub fn reports(failures: &[Failure]) -> Vec<AttemptReport> {
    let mut reports: Vec<AttemptReport> = failures.iter().map(AttemptReport::from).collect();
    if let (Some(report), Some(failure)) = (reports.last_mut(), failures.last()) {
        report.next = next_label(failure.decision, true);
    }
    reports
}

/// What a failure's `next` says: after the chain's `last` target nothing
/// follows, whatever the failure would have had the chain do.
fn next_label(decision: Decision, last: bool) -> &'static str {
    match decision {
        Decision::Next | Decision::NextLarger if last => "none",
        decision => decision.label(),
    }
}

impl From<&Failure> for AttemptReport {
    fn from(failure: &Failure) -> Self {
        AttemptReport {
            provider: failure.model_ref.provider().to_string(),
            model: failure.model_ref.to_string(),
            url: failure.url.clone(),
            outcome: failure.outcome(),
            next: failure.decision.label(),
            tries: failure.tries,
            status: failure.status(),
            error_type: failure.error_type().map(str::to_string),
            message: Some(failure.cause.to_string()),
            hint: match failure.cause {
                Cause::Attempt(ref error) => policy::hint(failure.class, Outcome::of(error)),
                _ => None,
            },
        }
    }
}

/// What a chain run needs besides the request.
pub struct Settings<'a> {
    pub timeouts: &'a Timeouts,
    pub retries: &'a Retries,
    pub limits: &'a Limits,
    pub redactor: &'a Redactor,
    pub cooldowns: &'a Arc<Cooldowns>,
    /// Each capped provider's places (`maxConcurrent`).
    pub queues: &'a concurrency::Queues,
    pub quotas: &'a Arc<crate::quota::Quotas>,
    /// `false` for `x-clawgate-fallback: off`: only the first target.
    pub fallback: bool,
    /// The request's trace, when it is traced: each attempt gets a span.
    pub trace: Option<&'a Trace>,
    /// Else, the client's `traceparent`, which each attempt passes on.
    pub onward: Option<&'a reqwest::header::HeaderValue>,
    /// Spending so far, and the budgets each target is checked against:
    /// the gateway's and the client's.
    pub ledger: &'a Ledger,
    pub budgets: [&'a Budgets; 2],
    /// What the request may use at most, whose worst cost each target
    /// reserves against the budgets; without it (a probe), the budgets
    /// are only checked.
    pub demand: Option<&'a budget::Demand>,
    /// What the plan remembers from request to request.
    pub memo: &'a providers::Memo,
    /// Where the target being tried is noted, for the request's row.
    pub in_flight: Option<&'a InFlight>,
}

/// Tries `chain` in order. `Err` holds every failure, the last of which
/// either could not fall over or ended the chain.
pub async fn run(
    upstream: &Upstream,
    chain: &[Target],
    request: ClientRequest,
    settings: &Settings<'_>,
) -> Result<Answer, Vec<Failure>> {
    let ran = walk(upstream, chain, request, settings).await;
    // Counted once the chain is done, as the access line names them: a
    // cooling target tried anyway in the end is tried, not skipped.
    let failures = match &ran {
        Ok(answer) => &answer.failures,
        Err(failures) => failures,
    };
    for failure in failures {
        if let Cause::CoolingDown { .. } = failure.cause {
            let model = &failure.model_ref;
            metrics::skipped(model.provider(), model.as_str());
        }
    }
    ran
}

async fn walk(
    upstream: &Upstream,
    chain: &[Target],
    request: ClientRequest,
    settings: &Settings<'_>,
) -> Result<Answer, Vec<Failure>> {
    let deadline = Instant::now() + settings.timeouts.chain;
    let chain = if settings.fallback {
        chain
    } else {
        &chain[..chain.len().min(1)]
    };
    let mut failures = Vec::new();
    // Before any attempt: the fewest tokens the request can hold.
    // Counted only when some window is small enough for it to matter: the
    // body's length bounds it from above, and most windows are far larger.
    let mut least_tokens = None;
    // After a context-length failure: the window a target must exceed.
    let mut needs_window_over: Option<u64> = None;
    // Targets skipped for their health or quota, with their plans.
    let mut cooling: Vec<(&Target, Plan)> = Vec::new();
    let mut tried_any = false;
    for target in chain {
        let url = &target.provider.shown_url;
        let skip = |cause: Cause, class, wait| Failure {
            model_ref: target.model_ref.clone(),
            url: url.clone(),
            cause,
            class,
            decision: Decision::Next,
            wait,
            tries: 0,
        };
        if Instant::now() >= deadline {
            let after = settings.timeouts.chain;
            failures.push(skip(Cause::DeadlinePassed { after }, Class::Timeout, None));
            continue;
        }
        if let Some(window) = target.model.context_window
            && policy::most_tokens(request.facts().bytes()) > window
        {
            let least =
                *least_tokens.get_or_insert_with(|| policy::least_tokens(request.facts().bytes()));
            if least > window {
                failures.push(skip(
                    Cause::RequestTooLong { least, window },
                    Class::ContextLength,
                    None,
                ));
                continue;
            }
        }
        if let Some(floor) = needs_window_over
            && target
                .model
                .context_window
                .is_none_or(|window| window <= floor)
        {
            let window = target.model.context_window.unwrap_or(0);
            failures.push(skip(
                Cause::WindowTooSmall { window },
                Class::ContextLength,
                None,
            ));
            continue;
        }
        let plan = match providers::plan(&request, target, settings.memo) {
            // A request whose worst cost is held is sent the output limit
            // that cost assumed.
            Ok(plan) if settings.demand.is_some() => plan.bounded(&request, target),
            Ok(plan) => plan,
            Err(Declined::Skip(why)) => {
                log_skipped(target, why.label(), &why);
                failures.push(skip(Cause::Unsuitable(why), Class::Unsuitable, None));
                continue;
            }
            Err(Declined::Refuse(refusal)) => {
                failures.push(refused(target, url, refusal));
                return Err(failures);
            }
        };
        // A target whose budget is spent is skipped like a cooling one.
        let reserved = match reserve(target, &plan, settings) {
            Ok(reserved) => reserved,
            Err(refusal) => {
                log_skipped(target, "over_budget", &refusal);
                failures.push(skip(Cause::OverBudget(refusal), Class::Billing, None));
                continue;
            }
        };
        if target.provider.quota.is_some() {
            settings
                .quotas
                .refresh_in_background(&target.provider, false);
            let now = std::time::SystemTime::now();
            if let Some(exhausted) = settings.quotas.exhausted(&target.provider, now) {
                let wait = exhausted.until.and_then(|at| at.duration_since(now).ok());
                let cause = Cause::QuotaExhausted { exhausted };
                tracing::info!(
                    provider = target.model_ref.provider(),
                    model = target.model_ref.as_str(),
                    outcome = "quota",
                    next = "next",
                    "skipped {}: {cause}",
                    target.model_ref
                );
                failures.push(skip(cause, Class::Quota, wait));
                cooling.push((target, plan));
                continue;
            }
        }
        let permit = match settings.cooldowns.admit(&target.model_ref, std_now()) {
            Ok(permit) => permit,
            Err(CoolingDown { class, remaining }) => {
                log_skipped(
                    target,
                    "cooling_down",
                    format_args!(
                        "cooling down for {}s after {}",
                        remaining.as_secs(),
                        class.label()
                    ),
                );
                failures.push(skip(
                    Cause::CoolingDown { class, remaining },
                    class,
                    Some(remaining),
                ));
                cooling.push((target, plan));
                continue;
            }
        };
        let sent = Sent {
            request: &request,
            plan: &plan,
            last: chain.last().is_some_and(|last| std::ptr::eq(target, last)),
            before: &failures,
        };
        let called = try_target(upstream, target, sent, settings, deadline, permit, reserved);
        match called.await {
            Ok((reply, since, reserved)) => {
                let answered = (reply, since);
                return Ok(answer(
                    target, &plan, failures, answered, settings, reserved,
                ));
            }
            Err((failure, placed)) => {
                tried_any |= placed;
                let decision = failure.decision;
                // The quota endpoint says when the spent window resets.
                if failure.class == Class::Quota {
                    settings
                        .quotas
                        .refresh_in_background(&target.provider, true);
                }
                if decision == Decision::NextLarger {
                    needs_window_over = Some(target.model.context_window.unwrap_or(0));
                }
                failures.push(failure);
                if decision == Decision::Stop {
                    return Err(failures);
                }
            }
        }
    }
    // Every target was cooling down: rather than fail without trying, try
    // the one that failed longest ago.
    if !tried_any && Instant::now() < deadline {
        let oldest = cooling
            .iter()
            .min_by_key(|(t, _)| settings.cooldowns.last_failure(&t.model_ref));
        if let Some((target, plan)) = oldest {
            let url = &target.provider.shown_url;
            let permit = settings.cooldowns.force(&target.model_ref);
            // Reported once, as tried, not also as skipped.
            failures.retain(|f| f.model_ref != target.model_ref);
            let reserved = match reserve(target, plan, settings) {
                Ok(reserved) => reserved,
                Err(refusal) => {
                    log_skipped(target, "over_budget", &refusal);
                    failures.push(Failure {
                        model_ref: target.model_ref.clone(),
                        url: url.clone(),
                        cause: Cause::OverBudget(refusal),
                        class: Class::Billing,
                        decision: Decision::Next,
                        wait: None,
                        tries: 0,
                    });
                    return Err(failures);
                }
            };
            let sent = Sent {
                request: &request,
                plan,
                last: true,
                before: &failures,
            };
            let called = try_target(upstream, target, sent, settings, deadline, permit, reserved);
            match called.await {
                Ok((reply, since, reserved)) => {
                    let answered = (reply, since);
                    return Ok(answer(target, plan, failures, answered, settings, reserved));
                }
                Err((failure, _)) => failures.push(failure),
            }
        }
    }
    Err(failures)
}

fn std_now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Whether the budgets let `target` be called, its request's worst cost
/// under its `plan` then reserved against them (only checked without a
/// demand).
fn reserve(
    target: &Target,
    plan: &Plan,
    settings: &Settings,
) -> Result<Option<budget::Reserved>, budget::Refusal> {
    let (model_ref, model) = (&target.model_ref, &target.model);
    let reserved = match settings.demand {
        Some(demand) => budget::reserve(
            settings.ledger,
            &settings.budgets,
            target,
            demand,
            plan.most_output,
        ),
        None => settings
            .budgets
            .iter()
            .try_for_each(|budgets| budget::check(settings.ledger, budgets, model_ref, model))
            .map(|()| None),
    };
    if let Err(budget::Refusal::Spent(_)) = &reserved {
        settings.ledger.refused_by(&settings.budgets);
    }
    reserved
}

/// The answer of `target`: its `reply`, from an attempt admitted at
/// `since`.
fn answer(
    target: &Target,
    plan: &Plan,
    failures: Vec<Failure>,
    (reply, since): (Reply, Since),
    settings: &Settings,
    reserved: Option<budget::Reserved>,
) -> Answer {
    let (provider, model) = (target.model_ref.provider(), target.model_ref.as_str());
    if !failures.is_empty() {
        let reason = failures.last().map_or("none", |f| f.class.label());
        metrics::fallback(provider, model, reason);
    }
    Answer {
        target: target.clone(),
        failures,
        reply,
        health: LateFailures::new(settings.cooldowns.clone(), target.model_ref.clone(), since),
        withheld: plan.withheld.clone(),
        reserved,
        most_output: plan.output_held.then_some(plan.most_output),
    }
}

/// Attempts `target` once its provider gives it a place (the attempts
/// before it noted first), retrying transient failures within its budget
/// and the chain's deadline: the reply and what stays reserved, or the
/// failure and whether a place was taken.
async fn try_target(
    upstream: &Upstream,
    target: &Target,
    sent: Sent<'_>,
    settings: &Settings<'_>,
    deadline: Instant,
    permit: Permit<'_>,
    reserved: Option<budget::Reserved>,
) -> Result<(Reply, Since, Option<budget::Reserved>), (Failure, bool)> {
    if let Some(slot) = settings.in_flight {
        slot.tried(sent.before);
    }
    let place = match settings.queues.place(&target.provider, deadline).await {
        Ok(place) => place,
        Err(busy) => return Err((busy_skip(target, busy), false)),
    };
    let holding = Holding::new(settings.in_flight, target, sent.plan, reserved);
    let (provider, model) = (target.model_ref.provider(), target.model_ref.as_str());
    let url = &target.provider.shown_url;
    let retries = settings.retries;
    let mut tries = 0;
    let mut backoff = retries.backoff_base;
    loop {
        tries += 1;
        let started = Instant::now();
        let span = (settings.trace).map(|trace| OpenSpan::new(trace, target, tries));
        let traceparent =
            (span.as_ref().map(OpenSpan::traceparent)).or_else(|| settings.onward.cloned());
        let result = attempt(upstream, target, sent, settings, deadline, traceparent).await;
        let latency = started.elapsed();
        let since = permit.since();
        if let Some(span) = span {
            span.end(Some(&result));
        }
        let error = match result {
            Ok(reply) => {
                match reply {
                    Reply::Complete { .. } => permit.succeeded(),
                    // For a stream, the latency is its first event's.
                    Reply::Stream { .. } => permit.took(latency).started(),
                }
                metrics::attempt(provider, model, "ok", latency);
                // The access line says who answered; this is for debugging.
                tracing::debug!(
                    provider,
                    model,
                    url,
                    tries,
                    outcome = "ok",
                    latency_ms = latency.as_millis() as u64,
                    "attempt answered"
                );
                return Ok((concurrency::hold(place, reply), since, holding.answered()));
            }
            Err(error) => error,
        };
        let (class, mut decision) = classify(Outcome::of(&error));
        let retry_after = error.retry_after();
        // The chain's deadline, not the target, ended the attempt: nothing
        // wrong was seen of the target, whose health stays as it was.
        let cut_by_deadline =
            matches!(error, AttemptError::Timeout { .. }) && Instant::now() >= deadline;
        // A retry happens only if its wait fits the budget and the deadline,
        // with time left after it for the next target's first byte.
        let room = if sent.last {
            Duration::ZERO
        } else {
            settings.timeouts.first_byte
        };
        let mut wait = None;
        if decision == Decision::Retry {
            let delay = match retry_after {
                Some(asked) if asked > retries.max_retry_after => None,
                Some(asked) => Some(asked),
                None => Some(jitter(backoff)),
            };
            let fits = delay.filter(|delay| {
                tries <= retries.per_target && Instant::now() + *delay + room < deadline
            });
            match fits {
                Some(delay) => wait = Some(delay),
                None => decision = Decision::Next,
            }
        }
        metrics::attempt(provider, model, class.label(), latency);
        let next = next_label(decision, sent.last);
        tracing::warn!(
            provider,
            model,
            url,
            tries,
            outcome = class.label(),
            status = error.status().map(|s| s.as_u16()),
            error_type = error.error_type(),
            latency_ms = latency.as_millis() as u64,
            next,
            hint = policy::hint(class, Outcome::of(&error)),
            // Which key to check: the variable it came from.
            key_var = (class == Class::Auth)
                .then_some(target.provider.key_var.as_deref())
                .flatten(),
            rate_limit = policy::rate_limit_figures(&error.to_string()).as_deref(),
            "attempt failed: {model} ({url}): {}: {error}; next: {next}",
            class.label(),
        );
        match wait {
            Some(delay) => {
                metrics::retry(provider, model, class.label());
                holding.at_provider(false);
                tokio::time::sleep(delay).await;
                holding.at_provider(true);
                backoff = (backoff * 2).min(retries.backoff_max);
            }
            None => {
                // Only the target's last try counts towards its health.
                let said = error.to_string();
                let cooldown = if cut_by_deadline {
                    None
                } else {
                    permit.failed(class, Some(&said), retry_after, std_now())
                };
                if let Some(cooldown) = cooldown {
                    tracing::warn!(
                        provider,
                        model,
                        cooldown_s = cooldown.as_secs(),
                        "{model} cools down for {}s after {}",
                        cooldown.as_secs(),
                        class.label()
                    );
                }
                holding.failed();
                let failure = Failure {
                    model_ref: target.model_ref.clone(),
                    url: url.to_string(),
                    cause: Cause::Attempt(with_successor(target, class, error)),
                    class,
                    decision,
                    wait: retry_after,
                    tries,
                };
                return Err((failure, true));
            }
        }
    }
}

/// A request and its plan for one target: what an attempt sends.
#[derive(Clone, Copy)]
struct Sent<'a> {
    request: &'a ClientRequest,
    plan: &'a Plan,
    /// No target follows: a failure's line says `next="none"`.
    last: bool,
    /// The targets given up or skipped before this one.
    before: &'a [Failure],
}

/// One attempt on `target`: the request model with the target's plan
/// (made once, whatever the front end and the transport), in its
/// provider's protocol ([`transport_of`]). Every request is streamed
/// upstream; a non-streaming one is assembled here, and a whole answer to
/// a streaming one is replayed as a stream.
async fn attempt(
    upstream: &Upstream,
    target: &Target,
    sent: Sent<'_>,
    settings: &Settings<'_>,
    deadline: Instant,
    traceparent: Option<reqwest::header::HeaderValue>,
) -> Result<Reply, AttemptError> {
    let transport = transport_of(target.provider.api);
    let plan = sent.plan;
    let body = transport.body(sent.request, target, &plan.decided, &plan.messages);
    let reading = reading(transport.speaks_natively(sent.request), settings);
    let reply = upstream
        .attempt(
            target,
            Call {
                body,
                reading,
                traceparent,
                betas: plan.messages.betas.as_ref(),
            },
            settings.timeouts,
            deadline,
            settings.limits,
            settings.redactor,
        )
        .await?;
    let stream = sent.request.facts().stream();
    let reply = match reply {
        Reply::Stream { first, rest, .. } if !stream => assemble::collect(
            first,
            rest,
            (settings.timeouts.idle, deadline),
            settings.limits.max_response_bytes,
            settings.redactor,
        )
        .await
        .map(|(completion, native)| Reply::Complete { completion, native })?,
        reply => reply,
    };
    match reply {
        // Replayed, it is a stream like any: the relay's key hold reads
        // it (log probabilities spelling a key go there).
        Reply::Complete { completion, .. } if stream => Ok(assemble::replay(completion)),
        Reply::Complete {
            mut completion,
            native,
        } => {
            assemble::without_spelt_keys(&mut completion, settings.redactor);
            assemble::masked_across_strings(&mut completion, settings.redactor);
            Ok(Reply::Complete { completion, native })
        }
        reply => Ok(reply),
    }
}

/// How much of the provider's stream the gateway reads: a client of the
/// provider's format (`native`) gets its events as they came, or the
/// answer they spell, and only the answer's start and end are read,
/// unless the trace keeps the answer's content.
fn reading(native: bool, settings: &Settings<'_>) -> EventReading {
    let captured = settings.trace.is_some_and(Trace::captures_content);
    match native {
        false => EventReading::Chunks,
        true if !captured => EventReading::NativeEnds,
        true => EventReading::NativeWhole,
    }
}

/// What `target` is sent for `request`: its plan (made once on the
/// request model whatever the front end), written by the provider's
/// transport; or why it is not sent.
#[cfg(test)]
pub(crate) fn body(
    request: &ClientRequest,
    target: &Target,
    memo: &providers::Memo,
) -> Result<crate::format::body::Chunks, Declined> {
    let plan = providers::plan(request, target, memo)?;
    let transport = transport_of(target.provider.api);
    Ok(transport.body(request, target, &plan.decided, &plan.messages))
}

/// One non-streaming attempt on `target` outside any chain (`clawgate
/// doctor --probe`), through the same path as a request's.
pub async fn probe(
    upstream: &Upstream,
    target: &Target,
    request: &ClientRequest,
    settings: &Settings<'_>,
) -> Result<Reply, AttemptError> {
    let deadline = Instant::now() + settings.timeouts.first_byte;
    let plan = providers::plan(request, target, settings.memo).map_err(AttemptError::from)?;
    let sent = Sent {
        request,
        plan: &plan,
        last: true,
        before: &[],
    };
    attempt(upstream, target, sent, settings, deadline, None).await
}

/// An attempt's span while its attempt runs: ended with the attempt's
/// result, or, when the attempt is dropped unfinished (its client left),
/// as `client_left`, so that the provider's trace under its `traceparent`
/// has its parent.
struct OpenSpan<'a> {
    trace: &'a Trace,
    span: Option<telemetry::AttemptSpan>,
    target: &'a Target,
    tries: u32,
}

impl<'a> OpenSpan<'a> {
    fn new(trace: &'a Trace, target: &'a Target, tries: u32) -> Self {
        let span = Some(trace.attempt());
        Self {
            trace,
            span,
            target,
            tries,
        }
    }

    fn traceparent(&self) -> reqwest::header::HeaderValue {
        let span = self.span.as_ref().expect("open until ended");
        span.traceparent(self.trace)
    }

    /// Ends the span: by the attempt's `result`, or as left unfinished.
    fn end(mut self, result: Option<&Result<Reply, AttemptError>>) {
        if let Some(span) = self.span.take() {
            end_span(self.trace, span, self.target, self.tries, result);
        }
    }
}

impl Drop for OpenSpan<'_> {
    fn drop(&mut self) {
        if let Some(span) = self.span.take() {
            end_span(self.trace, span, self.target, self.tries, None);
        }
    }
}

/// Ends an attempt's span (GenAI client span, `chat {model}`): the target,
/// its place in the request, and how it ended (`None`: unfinished, its
/// client gone).
fn end_span(
    trace: &Trace,
    span: telemetry::AttemptSpan,
    target: &Target,
    tries: u32,
    result: Option<&Result<Reply, AttemptError>>,
) {
    let model = target.model.id.as_str();
    let mut attributes = telemetry::Attributes::with_capacity(10);
    attributes.text("gen_ai.operation.name", "chat");
    attributes.text("gen_ai.provider.name", target.model_ref.provider());
    attributes.text("gen_ai.request.model", model);
    attributes.text("clawgate.target", target.model_ref.as_str());
    attributes.int("clawgate.attempt.number", span.number.into());
    attributes.int("clawgate.attempt.try", tries.into());
    telemetry::server(&mut attributes, &target.provider.completions_url);
    let failed = match result {
        Some(Ok(_)) => None,
        Some(Err(error)) => {
            if let Some(status) = error.status() {
                attributes.int("http.response.status_code", status.as_u16().into());
            }
            Some(classify(Outcome::of(error)).0.label())
        }
        None => Some("client_left"),
    };
    trace.end_attempt(span, ["chat", model], attributes, failed);
}

/// The request's own fault, classified as a provider's 400 would be (no
/// retry, no other target, no cooldown), but said to be clawgate's (a
/// skip is one only outside a chain, where no other target follows).
impl From<Declined> for AttemptError {
    fn from(declined: Declined) -> Self {
        let message = match declined {
            Declined::Refuse(refusal) => refusal.to_string(),
            Declined::Skip(why) => format!("clawgate did not send it: {why}"),
        };
        AttemptError::Upstream {
            status: Some(reqwest::StatusCode::BAD_REQUEST),
            error_type: Some("invalid_request_error".into()),
            message,
            retry_after: None,
        }
    }
}

/// A refused request in the place of the attempt it saves: the client
/// gets it as it would a provider's 400, naming the field, but counted as
/// no target tried (nothing was sent) and said as clawgate's.
fn refused(target: &Target, url: &str, refusal: Refusal) -> Failure {
    let error = AttemptError::from(Declined::Refuse(refusal));
    let (class, decision) = classify(Outcome::of(&error));
    tracing::info!(
        provider = target.model_ref.provider(),
        model = target.model_ref.as_str(),
        outcome = class.label(),
        next = decision.label(),
        "refused to send to {}: {error}",
        target.model_ref
    );
    Failure {
        model_ref: target.model_ref.clone(),
        url: url.to_string(),
        cause: Cause::Attempt(error),
        class,
        decision,
        wait: None,
        tries: 0,
    }
}

/// A retired model's "not found" with the model that replaces it: the
/// provider's own message says only that it does not know the model.
fn with_successor(target: &Target, class: Class, error: AttemptError) -> AttemptError {
    match (class, target.model.retired, error) {
        (
            Class::NotFound,
            Some(retired),
            AttemptError::Upstream {
                status,
                error_type,
                message,
                retry_after,
            },
        ) => AttemptError::Upstream {
            message: format!(
                "{message} ({} was {})",
                target.model_ref,
                retired.advice(target.model_ref.provider())
            ),
            status,
            error_type,
            retry_after,
        },
        (_, _, error) => error,
    }
}

/// `delay` scaled by a random factor in [0.5, 1.0): retries of many
/// requests spread out instead of arriving together.
fn jitter(delay: Duration) -> Duration {
    delay.mul_f64(0.5 + fastrand::f64() / 2.0)
}

/// A target skipped (`outcome`: why, for the log's field) without a try:
/// logged as every skip is, `skipped {model}: {why}`.
fn log_skipped(target: &Target, outcome: &str, why: impl std::fmt::Display) {
    let model = target.model_ref.as_str();
    tracing::info!(
        provider = target.model_ref.provider(),
        model,
        outcome,
        next = "next",
        "skipped {model}: {why}"
    );
}

/// A target skipped because its provider's places stayed taken: a skip
/// (no cooldown), classed as a rate limit for the final status; logged.
fn busy_skip(target: &Target, busy: concurrency::Busy) -> Failure {
    log_skipped(target, "busy", busy);
    Failure {
        model_ref: target.model_ref.clone(),
        url: target.provider.shown_url.clone(),
        cause: Cause::Busy(busy),
        class: Class::RateLimited,
        decision: Decision::Next,
        wait: None,
        tries: 0,
    }
}
