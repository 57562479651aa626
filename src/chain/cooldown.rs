//! Per-target health: consecutive failures, the cooldown they open, the
//! single half-open probe after it, and what `/v1/status` shows.
//!
//! Targets are keyed by their model ref (provider + model). The state lives
//! in the `Gateway` and survives config reloads for refs that still exist.
//! The lock is a plain mutex held only for a map lookup, never across an
//! await. Only finished attempts are recorded: a request the client drops
//! mid-attempt records nothing, and its [`Permit`] gives back the probe slot.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use super::policy::{self, Class};
use crate::config::ModelRef;

#[derive(Debug, Default)]
pub struct Cooldowns {
    targets: Mutex<HashMap<ModelRef, Health>>,
}

#[derive(Debug, Default, Clone)]
struct Health {
    /// Failures in a row that count against the target.
    consecutive: u32,
    last_class: Option<Class>,
    open_until: Option<Instant>,
    /// A half-open probe is in flight.
    probing: bool,
    last_failure: Option<Instant>,
    /// The first line of the last failed attempt's error (the provider's
    /// status and message, or the transport failure), already scrubbed.
    last_error: Option<Arc<str>>,
    last_success: Option<SystemTime>,
    /// Failures by class since start (or since the target appeared).
    failures: BTreeMap<Class, u64>,
    recent: Recent,
    /// How many cooldowns have opened on it: an attempt admitted before the
    /// latest opened says nothing of it ([`Since`]).
    opened: u64,
}

/// The cooldowns opened on a target when an attempt on it was admitted.
/// Its success closes a cooldown and clears the failures only if no
/// cooldown opened since: an attempt sent before the failures that opened
/// one (many are in flight at once) is no probe of the target after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Since(u64);

impl Health {
    /// Opens a cooldown of `cooldown` from `now`.
    fn open(&mut self, now: Instant, cooldown: Duration) {
        self.open_until = Some(now + cooldown);
        self.opened += 1;
    }

    /// A failure of an attempt admitted at `since`, of a class that counts
    /// against the target: one more in a row, unless a cooldown opened
    /// since it was admitted (it was in flight with the failures that
    /// opened it, and says nothing of the target after them, so four
    /// requests failing at once open the first cooldown, not the third).
    /// The failures in a row, when it is counted.
    fn failed_since(&mut self, class: Class, since: Since, now: Instant) -> Option<u32> {
        if self.opened != since.0 {
            return None;
        }
        self.consecutive = self.consecutive.saturating_add(1);
        self.last_class = Some(class);
        self.last_failure = Some(now);
        Some(self.consecutive)
    }

    /// A success of an attempt admitted at `since`: the target is healthy
    /// again, unless a cooldown opened meanwhile.
    fn healthy_since(&mut self, since: Since) {
        if self.opened == since.0 {
            self.consecutive = 0;
            self.open_until = None;
        }
    }
}

/// What the last attempts on a target showed, as moving averages (each
/// new attempt weighs [`RECENT_WEIGHT`]): what placement weighs targets by.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Recent {
    /// Until the first event of an answer; `None` before the first one.
    pub first_event: Option<Duration>,
    /// The share of attempts that failed against the target.
    pub failing: f64,
    /// The share of attempts refused for the rate (429).
    pub rate_limited: f64,
    /// Output tokens a second after the first event, over whole streams
    /// that reported their usage; `None` before the first one.
    pub decode_per_second: Option<f64>,
    /// Cooling down or its probe out: requests skip it now.
    pub cooling: bool,
}

/// How much the latest attempt weighs in [`Recent`]'s averages: about the
/// last ten count.
const RECENT_WEIGHT: f64 = 0.2;

impl Recent {
    fn answered(&mut self, first_event: Option<Duration>) {
        self.failing *= 1.0 - RECENT_WEIGHT;
        self.rate_limited *= 1.0 - RECENT_WEIGHT;
        if let Some(took) = first_event {
            self.first_event = Some(match self.first_event {
                Some(before) => before.mul_f64(1.0 - RECENT_WEIGHT) + took.mul_f64(RECENT_WEIGHT),
                None => took,
            });
        }
    }

    fn decoded(&mut self, tokens: u64, took: Duration) {
        // Too short to time, or too few tokens to say a speed.
        if tokens < 16 || took < Duration::from_millis(10) {
            return;
        }
        let speed = tokens as f64 / took.as_secs_f64();
        self.decode_per_second = Some(match self.decode_per_second {
            Some(before) => before * (1.0 - RECENT_WEIGHT) + speed * RECENT_WEIGHT,
            None => speed,
        });
    }

    fn failed(&mut self, class: Class) {
        let average = |value: &mut f64, hit: bool| {
            *value = *value * (1.0 - RECENT_WEIGHT) + if hit { RECENT_WEIGHT } else { 0.0 };
        };
        average(&mut self.rate_limited, class == Class::RateLimited);
        average(
            &mut self.failing,
            class.counts_against_target() && class != Class::RateLimited,
        );
    }
}

/// Why a target is not tried now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoolingDown {
    /// The class of the failure that opened the cooldown.
    pub class: Class,
    /// Zero while the half-open probe of another request is in flight.
    pub remaining: Duration,
}

/// Leave to attempt a target. Dropped without a verdict (the client went
/// away), it records nothing and frees the probe slot if it held it.
#[must_use]
pub struct Permit<'a> {
    cooldowns: &'a Cooldowns,
    model_ref: ModelRef,
    probe: bool,
    since: Since,
    /// Until the answer's first event, when it came.
    first_event: Option<Duration>,
}

impl Cooldowns {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<ModelRef, Health>) -> T) -> T {
        f(&mut self.targets.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A permit for `model_ref`, or why it is cooling down. After a cooldown
    /// one request at a time is let through as the probe.
    pub fn admit(&self, model_ref: &ModelRef, now: Instant) -> Result<Permit<'_>, CoolingDown> {
        self.with(|targets| {
            let health = targets.entry(model_ref.clone()).or_default();
            let mut probe = false;
            if let Some(until) = health.open_until {
                let class = health.last_class.unwrap_or(Class::ProviderError);
                if now < until {
                    return Err(CoolingDown {
                        class,
                        remaining: until - now,
                    });
                }
                if health.probing {
                    return Err(CoolingDown {
                        class,
                        remaining: Duration::ZERO,
                    });
                }
                health.probing = true;
                probe = true;
            }
            Ok(Permit {
                cooldowns: self,
                model_ref: model_ref.clone(),
                probe,
                since: Since(health.opened),
                first_event: None,
            })
        })
    }

    /// A permit regardless of any cooldown: used when every target is
    /// cooling down, so that the request is tried rather than refused.
    pub fn force(&self, model_ref: &ModelRef) -> Permit<'_> {
        let opened = self.with(|targets| targets.get(model_ref).map_or(0, |h| h.opened));
        Permit {
            cooldowns: self,
            model_ref: model_ref.clone(),
            probe: false,
            since: Since(opened),
            first_event: None,
        }
    }

    /// A failure after the target's answer had started (a stream that broke
    /// off, fell silent or reported an error): it counts like a failed
    /// attempt, so a provider that always breaks midway cools down too
    /// (`since`: when the attempt was admitted).
    fn record_late_failure(&self, model_ref: &ModelRef, class: Class, since: Since, now: Instant) {
        self.with(|targets| {
            let health = targets.entry(model_ref.clone()).or_default();
            *health.failures.entry(class).or_default() += 1;
            health.recent.failed(class);
            if !class.counts_against_target() {
                return;
            }
            let Some(consecutive) = health.failed_since(class, since, now) else {
                return;
            };
            // The relay reports the class only.
            health.last_error = None;
            if let Some(cooldown) = policy::cooldown(class, consecutive, None) {
                health.open(now, cooldown);
            }
        });
    }

    /// What the last attempts showed of each of `refs`, in order, under
    /// one lock: `each` is called once per ref.
    pub fn recent<'r>(
        &self,
        refs: impl Iterator<Item = &'r ModelRef>,
        now: Instant,
        mut each: impl FnMut(Recent),
    ) {
        self.with(|targets| {
            for model_ref in refs {
                let recent = targets
                    .get(model_ref)
                    .map_or_else(Recent::default, |h| Recent {
                        cooling: h.probing || h.open_until.is_some_and(|until| now < until),
                        ..h.recent
                    });
                each(recent);
            }
        });
    }

    /// When `model_ref` last failed, for choosing among cooling targets.
    pub fn last_failure(&self, model_ref: &ModelRef) -> Option<Instant> {
        self.with(|targets| targets.get(model_ref).and_then(|h| h.last_failure))
    }

    /// Forgets targets not in `keep`, and the cooldowns a reload may have
    /// mended (auth, config, unknown model).
    pub fn retain(&self, keep: &[ModelRef]) {
        self.with(|targets| {
            targets.retain(|model_ref, _| keep.contains(model_ref));
            for health in targets.values_mut() {
                if health.last_class.is_some_and(Class::fixed_by_reload) {
                    health.open_until = None;
                    health.consecutive = 0;
                }
            }
        });
    }

    /// Forgets the health of `provider`'s targets: a reload gave it
    /// another key or `baseUrl`, another account, whose quota, billing,
    /// auth and other failures are not the old one's.
    pub fn forget_provider(&self, provider: &str) {
        self.with(|targets| targets.retain(|model_ref, _| model_ref.provider() != provider));
    }

    /// Every known target's health, for `/v1/status`.
    pub fn snapshot(&self, now: Instant) -> BTreeMap<ModelRef, TargetStatus> {
        self.with(|targets| {
            targets
                .iter()
                .map(|(model_ref, h)| {
                    let remaining = h
                        .open_until
                        .map(|until| until.saturating_duration_since(now));
                    let state = match remaining {
                        None => "healthy",
                        Some(left) if !left.is_zero() => "cooling_down",
                        Some(_) => "half_open",
                    };
                    let status = TargetStatus {
                        state,
                        consecutive_failures: h.consecutive,
                        last_failure_class: h.last_class.map(Class::label),
                        hint: h
                            .last_class
                            .filter(|_| h.consecutive > 0)
                            .and_then(policy::class_hint),
                        cooldown_remaining_seconds: remaining
                            .filter(|left| !left.is_zero())
                            .map(|left| left.as_secs_f64()),
                        failures: h.failures.iter().map(|(c, n)| (c.label(), *n)).collect(),
                        last_failure_seconds_ago: h
                            .last_failure
                            .map(|at| now.saturating_duration_since(at).as_secs_f64()),
                        last_error: h.last_error.as_deref().map(str::to_string),
                        last_success: h.last_success.map(httpdate::fmt_http_date),
                    };
                    (model_ref.clone(), status)
                })
                .collect()
        })
    }
}

/// The most of an error's first line that the status keeps.
const LAST_ERROR_CHARS: usize = 200;

fn first_line(error: &str) -> Arc<str> {
    let line = error.lines().next().unwrap_or_default();
    match line.char_indices().nth(LAST_ERROR_CHARS) {
        Some((end, _)) => format!("{}…", &line[..end]).into(),
        None => line.into(),
    }
}

/// Lets whoever relays a started answer report that it broke later, or
/// how fast it came.
#[derive(Clone)]
pub struct LateFailures {
    cooldowns: Arc<Cooldowns>,
    model_ref: ModelRef,
    /// When the attempt that answered was admitted.
    since: Since,
    /// When the answer's first event was in hand.
    started: Instant,
}

impl LateFailures {
    /// For the answer of an attempt on `model_ref` admitted at `since`.
    pub fn new(cooldowns: Arc<Cooldowns>, model_ref: ModelRef, since: Since) -> Self {
        Self {
            cooldowns,
            model_ref,
            since,
            started: Instant::now(),
        }
    }

    pub fn report(&self, class: Class) {
        let now = Instant::now();
        (self.cooldowns).record_late_failure(&self.model_ref, class, self.since, now);
    }

    /// The stream ended with `[DONE]`, having reported `output` tokens:
    /// the target is healthy again, and decoded that fast.
    pub fn completed(&self, output: Option<u64>) {
        let took = self.started.elapsed();
        self.cooldowns.with(|targets| {
            let health = targets.entry(self.model_ref.clone()).or_default();
            if let Some(tokens) = output {
                health.recent.decoded(tokens, took);
            }
            health.healthy_since(self.since);
            health.last_success = Some(SystemTime::now());
        });
    }
}

/// One target's health as `/v1/status` reports it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetStatus {
    /// `healthy`, `cooling_down` or `half_open`.
    pub state: &'static str,
    pub consecutive_failures: u32,
    pub last_failure_class: Option<&'static str>,
    /// What to do about the last failure, while it stands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<&'static str>,
    pub cooldown_remaining_seconds: Option<f64>,
    pub failures: BTreeMap<&'static str, u64>,
    pub last_failure_seconds_ago: Option<f64>,
    /// The last failed attempt's status and message (or transport
    /// failure), first line, scrubbed.
    pub last_error: Option<String>,
    /// An HTTP date.
    pub last_success: Option<String>,
}

impl TargetStatus {
    /// A target no request has used yet.
    pub fn unused() -> Self {
        Self {
            state: "healthy",
            consecutive_failures: 0,
            last_failure_class: None,
            hint: None,
            cooldown_remaining_seconds: None,
            failures: BTreeMap::new(),
            last_failure_seconds_ago: None,
            last_error: None,
            last_success: None,
        }
    }
}

impl Permit<'_> {
    /// Whether this permit is the half-open probe.
    #[cfg(test)]
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// The answer's first event came `after` the attempt started.
    pub fn took(mut self, after: Duration) -> Self {
        self.first_event = Some(after);
        self
    }

    /// When it was admitted: what [`LateFailures`] of its answer go by.
    pub fn since(&self) -> Since {
        self.since
    }

    /// The answer started streaming to the client: the cooldown (if this
    /// was the probe) closes, unless another opened since the attempt was
    /// admitted, but the failure count stands until the stream completes
    /// ([`LateFailures::completed`]) or breaks.
    pub fn started(self) {
        self.cooldowns.with(|targets| {
            let health = targets.entry(self.model_ref.clone()).or_default();
            if health.opened == self.since.0 {
                health.open_until = None;
            }
            health.recent.answered(self.first_event);
        });
    }

    /// The attempt answered whole: the target is healthy again, unless a
    /// cooldown opened since it was admitted.
    pub fn succeeded(self) {
        self.cooldowns.with(|targets| {
            let health = targets.entry(self.model_ref.clone()).or_default();
            health.recent.answered(self.first_event);
            health.healthy_since(self.since);
            health.last_success = Some(SystemTime::now());
        });
    }

    /// The attempt failed with `class` (`error`: what it said, scrubbed).
    /// Returns the cooldown it opened.
    pub fn failed(
        self,
        class: Class,
        error: Option<&str>,
        retry_after: Option<Duration>,
        now: Instant,
    ) -> Option<Duration> {
        self.cooldowns.with(|targets| {
            let health = targets.entry(self.model_ref.clone()).or_default();
            *health.failures.entry(class).or_default() += 1;
            health.recent.failed(class);
            if !class.counts_against_target() {
                return None;
            }
            let Some(consecutive) = health.failed_since(class, self.since, now) else {
                // Not one more in a row, but a wait the provider asks for
                // still holds the cooldown open that long.
                if let (Some(until), Some(wait)) = (health.open_until, retry_after) {
                    health.open_until = Some(until.max(now + wait));
                }
                return None;
            };
            health.last_error = error.map(first_line);
            // A failed probe reopens the cooldown even below the threshold.
            let consecutive = if self.probe {
                consecutive.max(policy::PASSING_FAILURES_TO_OPEN)
            } else {
                consecutive
            };
            let cooldown = policy::cooldown(class, consecutive, retry_after);
            if let Some(cooldown) = cooldown {
                health.open(now, cooldown);
            }
            cooldown
        })
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe {
            self.cooldowns.with(|targets| {
                if let Some(health) = targets.get_mut(&self.model_ref) {
                    health.probing = false;
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> ModelRef {
        ModelRef::new("p", "m")
    }

    #[test]
    fn recent_attempts_are_averaged_for_placement() {
        let mut recent = Recent::default();
        recent.failed(Class::RateLimited);
        recent.failed(Class::Timeout);
        // A request's own fault says nothing of the target.
        recent.failed(Class::BadRequest);
        assert!((recent.rate_limited - 0.2 * 0.8 * 0.8).abs() < 1e-12);
        assert!((recent.failing - 0.2 * 0.8).abs() < 1e-12);
        recent.answered(Some(Duration::from_secs(2)));
        recent.answered(Some(Duration::from_secs(1)));
        assert_eq!(recent.first_event, Some(Duration::from_millis(1800)));
        assert!((recent.failing - 0.2 * 0.8 * 0.8 * 0.8).abs() < 1e-12);
        recent.decoded(1000, Duration::from_secs(2));
        recent.decoded(8, Duration::from_secs(2));
        assert_eq!(recent.decode_per_second, Some(500.0));

        let cooldowns = Cooldowns::default();
        let now = Instant::now();
        let permit = cooldowns.admit(&target(), now).unwrap();
        permit.took(Duration::from_millis(300)).started();
        let mut seen = Vec::new();
        cooldowns.recent([target(), ModelRef::new("q", "m")].iter(), now, |r| {
            seen.push(r)
        });
        assert_eq!(seen[0].first_event, Some(Duration::from_millis(300)));
        assert!(!seen[0].cooling);
        assert_eq!(seen[1], Recent::default());
    }

    #[test]
    fn two_timeouts_open_a_cooldown_then_one_probe_closes_it() {
        let cooldowns = Cooldowns::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let failed = |now| {
            cooldowns.admit(&target(), now).expect("admitted").failed(
                Class::Timeout,
                None,
                None,
                now,
            )
        };
        assert_eq!(failed(at(0)), None);
        assert_eq!(failed(at(1)), Some(Duration::from_secs(30)));
        let refused = cooldowns.admit(&target(), at(11)).err().expect("cooling");
        assert_eq!(refused.remaining, Duration::from_secs(20));
        assert_eq!(refused.class, Class::Timeout);

        // Half open: one probe; others are refused while it is out.
        let probe = cooldowns.admit(&target(), at(31)).expect("the probe");
        assert!(probe.is_probe());
        let other = cooldowns
            .admit(&target(), at(31))
            .err()
            .expect("probe in flight");
        assert_eq!(other.remaining, Duration::ZERO);
        // The probe fails: a longer cooldown.
        assert_eq!(
            probe.failed(Class::Timeout, None, None, at(32)),
            Some(Duration::from_secs(60))
        );
        assert!(cooldowns.admit(&target(), at(91)).is_err());
        let probe = cooldowns.admit(&target(), at(92)).expect("next probe");
        probe.succeeded();
        let permit = cooldowns.admit(&target(), at(92)).expect("closed again");
        assert!(!permit.is_probe());
    }

    #[test]
    fn a_dropped_probe_frees_its_slot_and_counts_nothing() {
        let cooldowns = Cooldowns::default();
        let now = Instant::now();
        let permit = cooldowns.admit(&target(), now).unwrap();
        permit.failed(Class::Auth, None, None, now);
        let later = now + Duration::from_secs(601);
        let probe = cooldowns.admit(&target(), later).unwrap();
        assert!(probe.is_probe());
        drop(probe);
        let again = cooldowns.admit(&target(), later).expect("the slot is free");
        assert!(again.is_probe());
        drop(again);
        let status = &cooldowns.snapshot(later)[&target()];
        assert_eq!(status.consecutive_failures, 1);
        assert_eq!(status.state, "half_open");
    }

    #[test]
    fn streams_that_break_after_starting_cool_their_target_too() {
        let cooldowns = Arc::new(Cooldowns::default());
        let now = Instant::now();
        let late = LateFailures::new(cooldowns.clone(), target(), Since::default());
        for _ in 0..2 {
            cooldowns.admit(&target(), now).unwrap().started();
            late.report(Class::Transport);
        }
        let refused = cooldowns.admit(&target(), Instant::now()).err();
        assert_eq!(refused.map(|c| c.class), Some(Class::Transport));

        // A stream that completes resets the count.
        let other = ModelRef::new("q", "m");
        let late = LateFailures::new(cooldowns.clone(), other.clone(), Since::default());
        for _ in 0..3 {
            cooldowns.admit(&other, now).unwrap().started();
            late.report(Class::Timeout);
            late.completed(None);
        }
        assert!(cooldowns.admit(&other, now).is_ok());
    }

    /// Many attempts are in flight at once: one admitted before the
    /// failures that opened a cooldown, and answering after, neither
    /// closes it nor clears the failures; the probe after it does.
    #[test]
    fn an_attempt_admitted_before_a_cooldown_opened_says_nothing_of_it() {
        let cooldowns = Arc::new(Cooldowns::default());
        let now = Instant::now();
        let (whole, streamed) = (
            cooldowns.admit(&target(), now).unwrap(),
            cooldowns.admit(&target(), now).unwrap(),
        );
        let late = LateFailures::new(cooldowns.clone(), target(), streamed.since());
        for _ in 0..2 {
            let permit = cooldowns.admit(&target(), now).unwrap();
            permit.failed(Class::ProviderError, None, None, now);
        }
        whole.succeeded();
        streamed.started();
        late.completed(None);
        let refused = cooldowns.admit(&target(), now).err();
        assert_eq!(refused.map(|c| c.remaining), Some(Duration::from_secs(30)));
        let status = &cooldowns.snapshot(now)[&target()];
        assert_eq!(
            (status.state, status.consecutive_failures),
            ("cooling_down", 2)
        );
        assert!(status.last_success.is_some());
        let later = now + Duration::from_secs(31);
        let probe = cooldowns.admit(&target(), later).expect("the probe");
        let late = LateFailures::new(cooldowns.clone(), target(), probe.since());
        probe.started();
        late.completed(None);
        let status = &cooldowns.snapshot(later)[&target()];
        assert_eq!((status.state, status.consecutive_failures), ("healthy", 0));
    }

    #[test]
    fn failures_in_flight_together_open_the_first_cooldown_only() {
        let cooldowns = Arc::new(Cooldowns::default());
        let now = Instant::now();
        // Four requests on a hung target, and a fifth streaming from it.
        let permits: Vec<Permit> = (0..4)
            .map(|_| cooldowns.admit(&target(), now).unwrap())
            .collect();
        let streamed = cooldowns.admit(&target(), now).unwrap();
        let late = LateFailures::new(cooldowns.clone(), target(), streamed.since());
        streamed.started();
        let limited = cooldowns.admit(&target(), now).unwrap();
        let opened: Vec<Option<Duration>> = (permits.into_iter())
            .map(|permit| permit.failed(Class::Timeout, None, None, now))
            .collect();
        let thirty = Some(Duration::from_secs(30));
        assert_eq!(opened, [None, thirty, None, None]);
        late.report(Class::Transport);
        let status = &cooldowns.snapshot(now)[&target()];
        assert_eq!(status.consecutive_failures, 2);
        assert_eq!(status.cooldown_remaining_seconds, Some(30.0));
        // Not in a row either, but the wait it asks for holds.
        let wait = Some(Duration::from_secs(120));
        assert_eq!(limited.failed(Class::RateLimited, None, wait, now), None);
        let status = &cooldowns.snapshot(now)[&target()];
        assert_eq!(status.consecutive_failures, 2);
        assert_eq!(status.cooldown_remaining_seconds, Some(120.0));
        assert_eq!(
            (status.failures["timeout"], status.failures["transport"]),
            (4, 1)
        );
        // The probe after it is the next failure in a row: 60 s.
        let later = now + Duration::from_secs(121);
        let probe = cooldowns.admit(&target(), later).expect("the probe");
        let sixty = Some(Duration::from_secs(60));
        assert_eq!(probe.failed(Class::Timeout, None, None, later), sixty);
    }

    #[test]
    fn the_requests_own_faults_never_cool_a_target() {
        let cooldowns = Cooldowns::default();
        let now = Instant::now();
        for _ in 0..5 {
            let permit = cooldowns.admit(&target(), now).unwrap();
            assert_eq!(permit.failed(Class::BadRequest, None, None, now), None);
        }
        let status = &cooldowns.snapshot(now)[&target()];
        assert_eq!(status.state, "healthy");
        assert_eq!(status.failures["bad_request"], 5);
    }

    #[test]
    fn a_reload_keeps_existing_targets_and_clears_what_it_may_have_fixed() {
        let cooldowns = Cooldowns::default();
        let now = Instant::now();
        let (auth, busy, gone) = (
            ModelRef::new("a", "m"),
            ModelRef::new("b", "m"),
            ModelRef::new("c", "m"),
        );
        // Until each target cools down.
        let fail = |r: &ModelRef, class| {
            while let Ok(permit) = cooldowns.admit(r, now) {
                permit.failed(class, None, None, now);
            }
        };
        fail(&auth, Class::Auth);
        fail(&busy, Class::Overloaded);
        fail(&gone, Class::Timeout);
        cooldowns.retain(&[auth.clone(), busy.clone()]);
        let snapshot = cooldowns.snapshot(now);
        assert_eq!(snapshot.len(), 2);
        assert_eq!(snapshot[&auth].state, "healthy");
        assert_eq!(snapshot[&busy].state, "cooling_down");
    }

    #[test]
    fn another_account_forgets_its_providers_cooldowns_only() {
        let cooldowns = Cooldowns::default();
        let now = Instant::now();
        let (changed, kept) = (ModelRef::new("kimi", "m"), ModelRef::new("other", "m"));
        for (target, class) in [(&changed, Class::Quota), (&kept, Class::Billing)] {
            while let Ok(permit) = cooldowns.admit(target, now) {
                permit.failed(class, None, None, now);
            }
        }
        cooldowns.forget_provider("kimi");
        assert!(cooldowns.admit(&changed, now).is_ok(), "a new account");
        assert!(cooldowns.admit(&kept, now).is_err(), "still cooling down");
    }
}
