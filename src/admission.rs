//! Whether a request may start now: the gateway's cap on requests in flight
//! (`gateway.limits.maxConcurrentRequests`) and each client's own limits
//! (`gateway.clients.<name>.limits`: requests and tokens per minute,
//! requests at once).
//!
//! A client's limits are checked before the gateway's cap, so a client at
//! its limit never holds, even for a moment, a place another client could
//! have had. Both caps are semaphores resized in place on reload, so the
//! requests in flight count against a changed cap; the rate limits are
//! token buckets whose levels carry over a reload. Nothing here waits: a
//! request is admitted or refused at once.
//!
//! A request's tokens are reserved once its body is read
//! ([`Admission::reserve_tokens`]: its input as `count_tokens` estimates it
//! and its most output), so requests at once count against
//! `tokensPerMinute` before any has ended; when it ends, the reservation
//! is settled to what the provider reported, or to the byte estimate when
//! it reported nothing ([`Reservation`], whose drop releases what a
//! cancelled or panicking request had reserved). Its worst cost is held
//! against the budgets the same way, per target ([`budget::Reserved`]).
//!
//! With a ledger shared by several gateways (PostgreSQL), the rate limits
//! are shared too ([`RateShare`]): what each client is admitted here is
//! counted, the ledger's writer sends the counts to the database, and
//! what the other gateways admitted is charged to the buckets here, so
//! every gateway's buckets hold every gateway's use, one sync late. The
//! tokens the others' requests in flight reserved arrive the same way
//! ([`RateShare::others_reserved_tokens`]) and are set aside when a
//! request here reserves. The concurrency caps stay per gateway.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::clients::{Client, Clients, RateLimits};
use crate::ledger::budget;
use crate::ledger::storage::RateShare;
use crate::ops::memory;

/// Why a request was not admitted.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// The gateway is answering its cap of requests.
    Busy(usize),
    /// The client is over one of its limits; `retry_after` is when it is
    /// under it again (at best).
    Client {
        client: Arc<str>,
        limit: ClientLimit,
        retry_after: Duration,
    },
}

/// Which of a client's limits refused a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClientLimit {
    RequestsPerMinute(u32),
    TokensPerMinute(u64),
    ConcurrentRequests(usize),
}

impl ClientLimit {
    /// Its key under `gateway.clients.<name>.limits`.
    pub fn key(self) -> &'static str {
        match self {
            ClientLimit::RequestsPerMinute(_) => "requestsPerMinute",
            ClientLimit::TokensPerMinute(_) => "tokensPerMinute",
            ClientLimit::ConcurrentRequests(_) => "concurrentRequests",
        }
    }

    /// `60 requests per minute`, ...
    pub fn describe(self) -> String {
        match self {
            ClientLimit::RequestsPerMinute(n) => format!("{n} requests per minute"),
            ClientLimit::TokensPerMinute(n) => format!("{n} tokens per minute"),
            ClientLimit::ConcurrentRequests(n) => format!("{n} requests at once"),
        }
    }
}

/// The gateway's cap and every client's limits, kept across reloads.
pub struct Admission {
    requests: Arc<Cap>,
    clients: ArcSwap<HashMap<Arc<str>, Arc<ClientState>>>,
    /// Reloads reconfigure one at a time.
    configuring: Mutex<()>,
}

/// One request's place among those in flight, and among its client's. When
/// the last one in flight ends, the memory a burst left behind is given
/// back ([`memory::release_after_burst`]).
pub struct Slot {
    gateway: Option<Held>,
    client: Option<Held>,
}

/// A permit of a [`Cap`], given back to it when dropped.
struct Held {
    permit: Option<OwnedSemaphorePermit>,
    cap: Arc<Cap>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.cap.give_back(permit);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        drop(self.client.take());
        if let Some(held) = self.gateway.take() {
            let cap = held.cap.clone();
            drop(held);
            if cap.idle() {
                memory::release_after_burst();
            }
        }
    }
}

impl Admission {
    /// A cap of `max_concurrent_requests` and the limits of `clients`.
    pub fn new(max_concurrent_requests: usize, clients: &Clients) -> Self {
        let admission = Self {
            requests: Arc::new(Cap::new(max_concurrent_requests)),
            clients: ArcSwap::default(),
            configuring: Mutex::new(()),
        };
        admission.configure(max_concurrent_requests, clients);
        admission
    }

    /// Puts a reloaded config's cap and clients' limits in force. A client
    /// kept by name keeps what it has used; requests in flight count
    /// against the new caps.
    pub fn configure(&self, max_concurrent_requests: usize, clients: &Clients) {
        let _one_at_a_time = self
            .configuring
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.requests.resize(max_concurrent_requests);
        self.clients.store(Arc::new(self.reconfigured(clients)));
    }

    /// The clients' states under `clients`' limits, from those in force.
    fn reconfigured(&self, clients: &Clients) -> HashMap<Arc<str>, Arc<ClientState>> {
        let old = self.clients.load();
        let now = Instant::now();
        let mut states = HashMap::new();
        for client in clients.iter() {
            let limits = client.limits;
            if limits == RateLimits::default() {
                continue;
            }
            let state = match old.get(&client.name) {
                Some(state) => state.reconfigure(limits, now),
                None => Arc::new(ClientState::new(limits, now)),
            };
            states.insert(client.name.clone(), state);
        }
        states
    }

    /// A place for one request of `client` (the gateway's cap only, for
    /// `None`), or why not. Held until the response (a stream included)
    /// is finished.
    pub fn admit(&self, client: Option<&Client>) -> Result<Slot, Refused> {
        let state = client.and_then(|client| {
            let states = self.clients.load();
            Some((client, states.get(&client.name)?.clone()))
        });
        let mut slot = Slot {
            gateway: None,
            client: None,
        };
        let mut took_request = None;
        if let Some((client, state)) = &state {
            let refused = |limit, retry_after| Refused::Client {
                client: client.name.clone(),
                limit,
                retry_after,
            };
            if let Some(cap) = &state.concurrent {
                let Some(held) = cap.try_hold() else {
                    return Err(refused(
                        ClientLimit::ConcurrentRequests(cap.size()),
                        Duration::from_secs(1),
                    ));
                };
                slot.client = Some(held);
            }
            let now = Instant::now();
            if let Some((limit, bucket)) = &state.tokens {
                bucket.ready(now).map_err(|wait| refused(*limit, wait))?;
            }
            if let Some((limit, bucket)) = &state.requests {
                bucket
                    .take(1.0, now)
                    .map_err(|wait| refused(*limit, wait))?;
                took_request = Some(bucket);
            }
        }
        match self.requests.try_hold() {
            Some(held) => {
                slot.gateway = Some(held);
                if let Some((_, state)) = &state {
                    state.counted_requests.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                // Refused for the gateway, not the client: the request it
                // did not make is not counted against it.
                if let Some(bucket) = took_request {
                    bucket.give_back(1.0);
                }
                return Err(Refused::Busy(self.requests.size()));
            }
        }
        Ok(slot)
    }

    /// Reserves `tokens` (a request's input as estimated and its most
    /// output) against the per-minute token limit of `client`, if it has
    /// one: refused when the bucket is not out of debt, as at admission,
    /// else taken, into debt if need be. Checked and taken under one lock,
    /// so requests at once see each other's reservations.
    pub fn reserve_tokens(
        self: &Arc<Self>,
        client: &Arc<str>,
        tokens: u64,
    ) -> Result<Option<TokenHold>, Refused> {
        let states = self.clients.load();
        let Some(state) = states.get(client) else {
            return Ok(None);
        };
        let Some((limit, bucket)) = &state.tokens else {
            return Ok(None);
        };
        let others = state.others_reserved_tokens.load(Ordering::Relaxed) as f64;
        let taken = bucket
            .reserve(tokens as f64, others, Instant::now())
            .map_err(|retry_after| Refused::Client {
                client: client.clone(),
                limit: *limit,
                retry_after,
            })?;
        let shared = taken.round() as u64;
        state.reserved_tokens.fetch_add(shared, Ordering::Relaxed);
        Ok(Some(TokenHold {
            admission: Arc::downgrade(self),
            client: client.clone(),
            reserved: state.reserved_tokens.clone(),
            taken,
            shared,
        }))
    }

    /// Counts a finished request's `tokens` (input and output, as the
    /// provider reported them or as estimated from the bytes) against the
    /// per-minute token limit of the client named `client`, if it has
    /// one. A request that used more than it reserved may take a client
    /// past the limit; its next requests wait until it is back under, a
    /// minute at most (see [`Bucket::charge`]).
    pub fn spent_tokens(&self, client: &str, tokens: u64) {
        let states = self.clients.load();
        let Some(state) = states.get(client) else {
            return;
        };
        let add = |counted: u64| Some(counted.saturating_add(tokens));
        // Never an error: `add` always gives a value.
        let _ = state
            .counted_tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, add);
        if let Some((_, bucket)) = &state.tokens {
            bucket.charge(tokens as f64, Instant::now());
        }
    }
}

/// What one request holds against its client's limits and the budgets
/// until it ends: settled then to what it spent ([`Reservation::settle`]),
/// or released whole if it is dropped unsettled.
#[derive(Debug, Default)]
pub struct Reservation {
    pub tokens: Option<TokenHold>,
    pub budget: Option<budget::Reserved>,
}

impl Reservation {
    /// The request ended having used `tokens` (reported, or estimated from
    /// its bytes): they count against its client's `tokensPerMinute` in
    /// place of what was reserved. The budget's reservation is released
    /// once the caller has counted the cost (the ledger's row), by drop.
    pub fn settle(&mut self, admission: &Admission, client: &str, tokens: u64) {
        if let Some(mut hold) = self.tokens.take() {
            hold.release(admission);
        }
        if tokens > 0 {
            admission.spent_tokens(client, tokens);
        }
    }
}

/// Tokens taken from a client's `tokensPerMinute` bucket for a request in
/// flight; given back when dropped unsettled.
pub struct TokenHold {
    admission: std::sync::Weak<Admission>,
    client: Arc<str>,
    /// Its client's count of tokens reserved, the one a reload keeps.
    reserved: Arc<AtomicU64>,
    /// What the bucket was charged (a reservation past a minute's debt is
    /// charged only to that debt).
    taken: f64,
    /// What the other gateways are told it holds.
    shared: u64,
}

impl std::fmt::Debug for TokenHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenHold({}, {})", self.client, self.taken)
    }
}

impl TokenHold {
    fn release(&mut self, admission: &Admission) {
        let (taken, shared) = (
            std::mem::take(&mut self.taken),
            std::mem::take(&mut self.shared),
        );
        let less = |held: u64| Some(held.saturating_sub(shared));
        // Never an error: `less` always gives a value.
        let _ = (self.reserved).fetch_update(Ordering::Relaxed, Ordering::Relaxed, less);
        let states = admission.clients.load();
        let Some(state) = states.get(&self.client) else {
            return;
        };
        if taken > 0.0
            && let Some((_, bucket)) = &state.tokens
        {
            bucket.give_back(taken);
        }
    }
}

impl Drop for TokenHold {
    fn drop(&mut self) {
        if let Some(admission) = self.admission.upgrade() {
            self.release(&admission);
        }
    }
}

impl RateShare for Admission {
    fn take_local(&self) -> Vec<(Arc<str>, u64, u64)> {
        self.clients
            .load()
            .iter()
            .filter_map(|(name, state)| {
                let requests = state.counted_requests.swap(0, Ordering::Relaxed);
                let tokens = state.counted_tokens.swap(0, Ordering::Relaxed);
                (requests > 0 || tokens > 0).then(|| (name.clone(), requests, tokens))
            })
            .collect()
    }

    fn reserved_tokens(&self) -> Vec<(Arc<str>, u64)> {
        self.clients
            .load()
            .iter()
            .filter_map(|(name, state)| {
                let held = state.reserved_tokens.load(Ordering::Relaxed);
                (held > 0).then(|| (name.clone(), held))
            })
            .collect()
    }

    fn others_reserved_tokens(&self, held: &HashMap<String, u64>) {
        for (name, state) in self.clients.load().iter() {
            let tokens = held.get(&**name).copied().unwrap_or(0);
            state
                .others_reserved_tokens
                .store(tokens, Ordering::Relaxed);
        }
    }

    fn charge_others(&self, client: &str, requests: u64, tokens: u64) {
        let states = self.clients.load();
        let Some(state) = states.get(client) else {
            return;
        };
        let now = Instant::now();
        if let Some((_, bucket)) = &state.requests {
            bucket.charge(requests as f64, now);
        }
        if let Some((_, bucket)) = &state.tokens {
            bucket.charge(tokens as f64, now);
        }
    }
}

/// What a client has used of its limits.
struct ClientState {
    requests: Option<(ClientLimit, Bucket)>,
    tokens: Option<(ClientLimit, Bucket)>,
    concurrent: Option<Arc<Cap>>,
    /// Requests admitted and tokens spent since [`RateShare::take_local`]
    /// last took them.
    counted_requests: AtomicU64,
    counted_tokens: AtomicU64,
    /// Tokens this gateway's requests in flight hold ([`TokenHold`]):
    /// shared with the state a reload makes, as a request reserved before
    /// the reload may release after it.
    reserved_tokens: Arc<AtomicU64>,
    /// Tokens the other gateways' requests in flight hold, as of the last
    /// exchange: a reservation here is refused while they take the bucket
    /// out of room.
    others_reserved_tokens: AtomicU64,
}

impl ClientState {
    fn new(limits: RateLimits, now: Instant) -> Self {
        Self {
            requests: limits.requests_per_minute.map(|n| {
                (
                    ClientLimit::RequestsPerMinute(n),
                    Bucket::per_minute(n as f64, now),
                )
            }),
            tokens: limits.tokens_per_minute.map(|n| {
                (
                    ClientLimit::TokensPerMinute(n),
                    Bucket::per_minute(n as f64, now),
                )
            }),
            concurrent: limits.concurrent_requests.map(|n| Arc::new(Cap::new(n))),
            counted_requests: AtomicU64::new(0),
            counted_tokens: AtomicU64::new(0),
            reserved_tokens: Arc::default(),
            others_reserved_tokens: AtomicU64::new(0),
        }
    }

    /// This client's state under new limits: what it used carries over.
    fn reconfigure(&self, limits: RateLimits, now: Instant) -> Arc<Self> {
        let fresh = Self::new(limits, now);
        let carry = |old: &Option<(ClientLimit, Bucket)>, new: &Option<(ClientLimit, Bucket)>| {
            if let (Some((_, old)), Some((_, new))) = (old, new) {
                new.carry_over(old, now);
            }
        };
        carry(&self.requests, &fresh.requests);
        carry(&self.tokens, &fresh.tokens);
        let concurrent = match (&self.concurrent, limits.concurrent_requests) {
            (Some(cap), Some(size)) => {
                cap.resize(size);
                Some(cap.clone())
            }
            (_, size) => size.map(|n| Arc::new(Cap::new(n))),
        };
        Arc::new(Self {
            concurrent,
            counted_requests: AtomicU64::new(self.counted_requests.swap(0, Ordering::Relaxed)),
            counted_tokens: AtomicU64::new(self.counted_tokens.swap(0, Ordering::Relaxed)),
            reserved_tokens: self.reserved_tokens.clone(),
            others_reserved_tokens: AtomicU64::new(
                self.others_reserved_tokens.load(Ordering::Relaxed),
            ),
            ..fresh
        })
    }
}

/// A token bucket holding up to a minute's worth, refilled continuously.
/// A level below zero is a debt (tokens counted after the fact), of at
/// most another minute's worth.
struct Bucket(Mutex<Level>);

/// The longest a refused client is told to wait: out of the deepest debt
/// (a minute) and then a whole bucket's take (another minute at most).
/// Only a level gone wrong (not a number) could ask for longer.
const MAX_WAIT: Duration = Duration::from_secs(120);

struct Level {
    capacity: f64,
    per_second: f64,
    level: f64,
    at: Instant,
}

impl Level {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level + elapsed * self.per_second).min(self.capacity);
        self.at = now;
    }

    /// How long until the level is `needed`, at most [`MAX_WAIT`].
    fn wait_for(&self, needed: f64) -> Duration {
        let seconds = ((needed - self.level) / self.per_second).max(0.0);
        Duration::try_from_secs_f64(seconds)
            .unwrap_or(MAX_WAIT)
            .min(MAX_WAIT)
    }

    /// Sets the level, in debt by at most the capacity: whatever a
    /// provider reports for a request (a sentinel such as 4294967295
    /// prompt tokens, a bug), its client waits at most a minute to be out
    /// of debt, not a month.
    fn set(&mut self, level: f64) {
        self.level = level.max(-self.capacity);
    }
}

impl Bucket {
    fn per_minute(capacity: f64, now: Instant) -> Self {
        Self(Mutex::new(Level {
            capacity,
            per_second: capacity / 60.0,
            level: capacity,
            at: now,
        }))
    }

    fn level(&self) -> std::sync::MutexGuard<'_, Level> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes `n` if the bucket holds that much, else says how long until
    /// it does.
    fn take(&self, n: f64, now: Instant) -> Result<(), Duration> {
        let mut level = self.level();
        level.refill(now);
        if level.level >= n {
            level.level -= n;
            Ok(())
        } else {
            Err(level.wait_for(n))
        }
    }

    /// Whether the bucket is out of debt, else how long until it is.
    fn ready(&self, now: Instant) -> Result<(), Duration> {
        let mut level = self.level();
        level.refill(now);
        if level.level > 0.0 {
            Ok(())
        } else {
            Err(level
                .wait_for(f64::MIN_POSITIVE)
                .max(Duration::from_millis(1)))
        }
    }

    /// Takes `n` if the bucket is out of debt once `others` (what other
    /// gateways hold) is set aside, into debt if need be (of a minute's
    /// worth at most), and says how much it took; else how long until it
    /// is out of debt.
    fn reserve(&self, n: f64, others: f64, now: Instant) -> Result<f64, Duration> {
        let mut level = self.level();
        level.refill(now);
        if level.level - others <= 0.0 {
            return Err(level
                .wait_for(others + f64::MIN_POSITIVE)
                .max(Duration::from_millis(1)));
        }
        let before = level.level;
        level.set(before - n);
        Ok(before - level.level)
    }

    /// Takes `n`, into debt if need be (of a minute's worth at most).
    fn charge(&self, n: f64, now: Instant) {
        let mut level = self.level();
        level.refill(now);
        let after = level.level - n;
        level.set(after);
    }

    fn give_back(&self, n: f64) {
        let mut level = self.level();
        level.level = (level.level + n).min(level.capacity);
    }

    /// What `old` had used, counted against this (new) bucket.
    fn carry_over(&self, old: &Bucket, now: Instant) {
        let used = {
            let mut old = old.level();
            old.refill(now);
            old.capacity - old.level
        };
        let mut level = self.level();
        let after = level.capacity - used;
        level.set(after);
    }
}

/// A cap on requests in flight. One semaphore, resized in place: swapping
/// in a new one let the requests holding the old one's permits and the
/// new one's full count be in flight together.
struct Cap {
    permits: Arc<Semaphore>,
    /// The cap in force.
    size: AtomicUsize,
    /// Permits still to be taken out of circulation after the cap was
    /// lowered while more than the new cap were held: each one given back
    /// while this is above zero is forgotten instead.
    owed: AtomicUsize,
    /// Resized one at a time.
    resizing: Mutex<()>,
}

impl Cap {
    fn new(size: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(size)),
            size: AtomicUsize::new(size),
            owed: AtomicUsize::new(0),
            resizing: Mutex::new(()),
        }
    }

    fn size(&self) -> usize {
        self.size.load(Ordering::SeqCst)
    }

    fn try_hold(self: &Arc<Self>) -> Option<Held> {
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        Some(Held {
            permit: Some(permit),
            cap: self.clone(),
        })
    }

    /// Makes `size` the cap: requests in flight keep their permits and
    /// count against it.
    fn resize(&self, size: usize) {
        let _one_at_a_time = self.resizing.lock().unwrap_or_else(PoisonError::into_inner);
        let old = self.size.swap(size, Ordering::SeqCst);
        if size > old {
            // Permits owed are forgiven first, then new ones added.
            let grow = size - old;
            let forgiven = self
                .owed
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |owed| {
                    Some(owed - owed.min(grow))
                })
                .map_or(0, |owed| owed.min(grow));
            self.permits.add_permits(grow - forgiven);
        } else {
            let shrink = old - size;
            let taken = self.permits.forget_permits(shrink);
            self.owed.fetch_add(shrink - taken, Ordering::SeqCst);
        }
    }

    /// Gives back a permit, or forgets it while permits are owed.
    fn give_back(&self, permit: OwnedSemaphorePermit) {
        let owed = self
            .owed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |owed| {
                owed.checked_sub(1)
            });
        if owed.is_ok() {
            permit.forget();
        }
    }

    /// Whether nothing is in flight.
    fn idle(&self) -> bool {
        self.owed.load(Ordering::SeqCst) == 0 && self.permits.available_permits() >= self.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_bucket_refills_over_a_minute_and_says_when_it_will_hold_enough() {
        let bucket = Bucket::per_minute(60.0, Instant::now());
        for _ in 0..60 {
            bucket.take(1.0, Instant::now()).unwrap();
        }
        let wait = bucket.take(1.0, Instant::now()).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        tokio::time::advance(Duration::from_millis(1500)).await;
        bucket.take(1.0, Instant::now()).unwrap();
        assert!(bucket.take(1.0, Instant::now()).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_counted_after_the_fact_leave_a_debt_to_wait_out() {
        let bucket = Bucket::per_minute(600.0, Instant::now());
        assert!(bucket.ready(Instant::now()).is_ok());
        bucket.charge(900.0, Instant::now());
        let wait = bucket.ready(Instant::now()).unwrap_err();
        assert!(
            (Duration::from_secs(30)..Duration::from_millis(30_010)).contains(&wait),
            "{wait:?}"
        );
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(bucket.ready(Instant::now()).is_ok());
    }

    /// A config with one client, `a`, of these `limits`, and the gateway's
    /// admission of it (100 requests at once).
    fn one_client(limits: &str) -> (crate::config::Config, Admission) {
        let text = format!(
            r#"{{"gateway": {{"clients": {{"a": {{"key": "${{A_KEY}}", "limits": {limits}}}}}}}}}"#
        );
        let config = crate::config::load_str(
            &text,
            &crate::config::Environment::from_pairs([
                ("A_KEY", "a-key-0123456789abcdef"),
                ("MOONSHOT_API_KEY", "sk-m"),
                ("OPENROUTER_API_KEY", "sk-o"),
            ]),
            crate::config::Secrets::Required,
        )
        .unwrap()
        .config;
        let admission = Admission::new(100, &config.gateway.clients);
        (config, admission)
    }

    #[tokio::test(start_paused = true)]
    async fn absurd_token_counts_leave_a_debt_of_at_most_a_minute() {
        let (config, admission) = one_client(r#"{"tokensPerMinute": 1}"#);
        let a = config.gateway.clients.get("a").unwrap();
        drop(admission.admit(Some(a)).unwrap());
        admission.spent_tokens("a", u64::MAX);
        admission.spent_tokens("a", 4_294_967_296);
        let Err(Refused::Client { retry_after, .. }) = admission.admit(Some(a)) else {
            panic!("refused while in debt");
        };
        assert!(retry_after <= Duration::from_secs(61), "{retry_after:?}");
        tokio::time::advance(Duration::from_secs(61)).await;
        drop(admission.admit(Some(a)).unwrap());
        assert_eq!(admission.take_local(), vec![("a".into(), 2, u64::MAX)]);
    }

    #[test]
    fn a_wait_is_told_without_panicking_whatever_the_level() {
        for (level, needed) in [(-1e300, 1.0), (f64::NAN, 1.0), (0.0, f64::INFINITY)] {
            let level = Level {
                capacity: 1.0,
                per_second: 1.0 / 60.0,
                level,
                at: Instant::now(),
            };
            assert!(level.wait_for(needed) <= MAX_WAIT);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn what_other_gateways_admitted_counts_against_the_limits_here() {
        let (config, admission) = one_client(r#"{"requestsPerMinute": 10}"#);
        let a = config.gateway.clients.get("a").unwrap();
        for _ in 0..4 {
            drop(admission.admit(Some(a)).unwrap());
        }
        admission.spent_tokens("a", 120);
        assert_eq!(admission.take_local(), vec![("a".into(), 4, 120)]);
        assert_eq!(admission.take_local(), vec![]);
        // Six more elsewhere: the minute's ten are used.
        admission.charge_others("a", 6, 0);
        assert!(matches!(
            admission.admit(Some(a)),
            Err(Refused::Client {
                limit: ClientLimit::RequestsPerMinute(10),
                ..
            })
        ));
        assert_eq!(admission.take_local(), vec![]);
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_reserved_before_a_reload_and_settled_after_it_are_no_longer_held() {
        let (config, admission) = one_client(r#"{"tokensPerMinute": 1000}"#);
        let clients = &config.gateway.clients;
        let admission = Arc::new(admission);
        let a: Arc<str> = "a".into();
        let reserve = || Reservation {
            tokens: admission.reserve_tokens(&a, 300).unwrap(),
            budget: None,
        };

        // Reloaded while it is held, settled after.
        let mut held = reserve();
        admission.configure(100, clients);
        assert_eq!(admission.reserved_tokens(), vec![(a.clone(), 300)]);
        held.settle(&admission, "a", 120);
        assert_eq!(admission.reserved_tokens(), vec![]);

        // Settled while a reload is under way: after the reload has made
        // the client's new state, before it is in force.
        let mut held = reserve();
        let next = admission.reconfigured(clients);
        held.settle(&admission, "a", 120);
        admission.clients.store(Arc::new(next));
        assert_eq!(admission.reserved_tokens(), vec![]);

        // Dropped unsettled across a reload.
        let held = reserve();
        admission.configure(100, clients);
        drop(held);
        assert_eq!(admission.reserved_tokens(), vec![]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reload_carries_over_what_a_bucket_has_used() {
        let old = Bucket::per_minute(10.0, Instant::now());
        for _ in 0..10 {
            old.take(1.0, Instant::now()).unwrap();
        }
        let raised = Bucket::per_minute(12.0, Instant::now());
        raised.carry_over(&old, Instant::now());
        raised.take(2.0, Instant::now()).unwrap();
        assert!(raised.take(1.0, Instant::now()).is_err());
    }
}
