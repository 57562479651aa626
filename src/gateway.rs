//! The gateway's shared state: the current config (swapped whole on reload),
//! the upstream client, which outlives reloads so pooled connections survive
//! them, each target's health (kept across reloads for targets that still
//! exist), and the cap on requests in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::chain::cooldown::Cooldowns;
use crate::chain::{self, Answer, Failure};
use crate::config::{Config, Target, UnknownModel};
use crate::ledger::Ledger;
use crate::ops::memory;
use crate::quota::Quotas;
use crate::reasoning_cache::ReasoningCache;
use crate::upstream::Upstream;
use crate::wire::openai::ChatRequest;

pub struct Gateway {
    config: ArcSwap<Config>,
    /// Rebuilt only when a reload changes how connections are made.
    upstream: ArcSwap<Upstream>,
    /// `gateway.limits.maxConcurrentRequests`, one semaphore for the
    /// gateway's life: a reload resizes it.
    requests: Arc<Cap>,
    /// Cancelled when shutdown's grace is over: in-flight requests end.
    abort: CancellationToken,
    cooldowns: Arc<Cooldowns>,
    /// Usage and spend; in memory only unless [`Self::with_ledger`] is given
    /// one with a database.
    ledger: Arc<Ledger>,
    /// Each provider account's quota or balance, kept across reloads.
    quotas: Arc<Quotas>,
    /// Reasoning to give back on replayed tool-call turns; `None` when
    /// `gateway.reasoningCache` is off. Kept across reloads that leave its
    /// bounds as they are.
    reasoning: ArcSwapOption<ReasoningCache>,
}

/// How one request may use its chain.
#[derive(Debug, Clone, Copy)]
pub struct RequestOptions {
    /// `false` for `x-clawgate-fallback: off`: the first target only.
    pub fallback: bool,
}

impl Default for RequestOptions {
    fn default() -> Self {
        Self { fallback: true }
    }
}

/// The cap on requests in flight. One semaphore, resized in place on
/// reload: swapping in a new one let the requests holding the old one's
/// permits and the new one's full count be in flight together.
struct Cap {
    permits: Arc<Semaphore>,
    /// The cap in force.
    size: AtomicUsize,
    /// Permits still to be taken out of circulation after a reload lowered
    /// the cap while more than the new cap were held: each one returned
    /// while this is above zero is forgotten instead.
    owed: AtomicUsize,
    /// Reloads resize one at a time.
    resizing: std::sync::Mutex<()>,
}

impl Cap {
    fn new(size: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(size)),
            size: AtomicUsize::new(size),
            owed: AtomicUsize::new(0),
            resizing: std::sync::Mutex::new(()),
        }
    }

    /// Makes `size` the cap: requests in flight keep their permits and
    /// count against it.
    fn resize(&self, size: usize) {
        let _one_at_a_time = self.resizing.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.size.swap(size, Ordering::SeqCst);
        if size > old {
            // Permits owed are forgiven first, then new ones added.
            let mut grow = size - old;
            let forgiven = self
                .owed
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |owed| {
                    Some(owed - owed.min(grow))
                })
                .map_or(0, |owed| owed.min(grow));
            grow -= forgiven;
            self.permits.add_permits(grow);
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
        self.owed.load(Ordering::SeqCst) == 0
            && self.permits.available_permits() >= self.size.load(Ordering::SeqCst)
    }
}

/// One request's place among those in flight. When the last one in flight
/// ends, the memory a burst left behind is given back
/// ([`memory::release_after_burst`]).
pub struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    requests: Arc<Cap>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.requests.give_back(permit);
        }
        if self.requests.idle() {
            memory::release_after_burst();
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CompletionError {
    #[error(transparent)]
    UnknownModel(#[from] UnknownModel),
    #[error("every provider in the chain failed")]
    Failed(Vec<Failure>),
}

impl Gateway {
    pub fn new(config: Config) -> Result<Self, reqwest::Error> {
        let upstream = Upstream::new(config.gateway.timeouts.connect)?;
        let requests = Cap::new(config.gateway.client.max_concurrent_requests);
        let reasoning = config
            .gateway
            .reasoning_cache
            .map(|limits| Arc::new(ReasoningCache::new(limits)));
        Ok(Self {
            config: ArcSwap::from_pointee(config),
            upstream: ArcSwap::from_pointee(upstream),
            requests: Arc::new(requests),
            abort: CancellationToken::new(),
            cooldowns: Arc::default(),
            ledger: Arc::new(Ledger::in_memory()),
            quotas: Arc::default(),
            reasoning: ArcSwapOption::new(reasoning),
        })
    }

    /// The gateway recording into `ledger`.
    pub fn with_ledger(mut self, ledger: Arc<Ledger>) -> Self {
        self.ledger = ledger;
        self
    }

    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// Ends every in-flight request: waiting ones with 503, streams with an
    /// error event. Called when shutdown's grace is over.
    pub fn abort_in_flight(&self) {
        self.abort.cancel();
    }

    /// Resolves when [`Self::abort_in_flight`] is called.
    pub fn aborted(&self) -> WaitForCancellationFutureOwned {
        self.abort.clone().cancelled_owned()
    }

    /// The config in force now. A request takes one snapshot and keeps it,
    /// so a reload never changes a request midway.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// A slot for one request, or `None` when the cap is reached. The slot is
    /// held until the response (a stream included) is finished.
    pub fn admit(&self) -> Option<Slot> {
        let permit = self.requests.permits.clone().try_acquire_owned().ok()?;
        Some(Slot {
            permit: Some(permit),
            requests: self.requests.clone(),
        })
    }

    /// Puts `config` in force for new requests and applies whatever else it
    /// changes. Returns what the user should be told: settings applied in a
    /// particular way, or that need a restart. Never drops one silently.
    pub fn replace_config(&self, config: Config) -> Vec<String> {
        let mut notes = Vec::new();
        let old = self.config();
        let (old_g, new_g) = (&old.gateway, &config.gateway);
        if old_g.timeouts.connect != new_g.timeouts.connect {
            match Upstream::new(new_g.timeouts.connect) {
                Ok(upstream) => {
                    self.upstream.store(Arc::new(upstream));
                    notes.push(format!(
                        "gateway.timeouts.connectSeconds is now {}s for new upstream connections",
                        new_g.timeouts.connect.as_secs_f64()
                    ));
                }
                Err(err) => notes.push(format!(
                    "gateway.timeouts.connectSeconds not applied ({err}); the previous value stays"
                )),
            }
        }
        if old_g.client.max_concurrent_requests != new_g.client.max_concurrent_requests {
            self.requests.resize(new_g.client.max_concurrent_requests);
            notes.push(format!(
                "gateway.limits.maxConcurrentRequests is now {}; requests in flight count against it",
                new_g.client.max_concurrent_requests
            ));
        }
        let restart_only = [
            (
                "gateway.timeouts.clientHeaderSeconds",
                old_g.client.header_timeout != new_g.client.header_timeout,
            ),
            (
                "gateway.limits.maxConnections",
                old_g.client.max_connections != new_g.client.max_connections,
            ),
            ("ledger", old.ledger != config.ledger),
        ];
        for (key, changed) in restart_only {
            if changed {
                notes.push(format!(
                    "{key} changed; it takes effect at the next restart"
                ));
            }
        }
        // A new token is a new owner: what the old one's clients were
        // given is forgotten with it.
        let token = |g: &crate::config::GatewaySettings| {
            g.auth_token
                .as_ref()
                .map(|t| secrecy::ExposeSecret::expose_secret(t).to_string())
        };
        if old_g.reasoning_cache != new_g.reasoning_cache || token(old_g) != token(new_g) {
            let cache = new_g
                .reasoning_cache
                .map(|limits| Arc::new(ReasoningCache::new(limits)));
            self.reasoning.store(cache);
        }
        let targets: Vec<_> = config.models().map(|(model_ref, _, _)| model_ref).collect();
        self.cooldowns.retain(&targets);
        self.config.store(Arc::new(config));
        notes
    }

    /// Every target's health, for `/v1/status`.
    pub fn cooldowns(&self) -> &Cooldowns {
        &self.cooldowns
    }

    /// The reasoning cache, unless `gateway.reasoningCache` is off.
    pub fn reasoning_cache(&self) -> Option<Arc<ReasoningCache>> {
        self.reasoning.load_full()
    }

    /// Every provider account's quota, for `/v1/status` and `/metrics`.
    pub fn quotas(&self) -> &Quotas {
        &self.quotas
    }

    /// Resolves the request's chain in `config` (the snapshot the request
    /// started with, from [`Self::config`]) and runs it.
    pub async fn complete(
        &self,
        config: &Config,
        request: ChatRequest,
    ) -> Result<Answer, CompletionError> {
        self.complete_with(config, request, RequestOptions::default())
            .await
    }

    /// [`Self::complete`] with per-request options.
    pub async fn complete_with(
        &self,
        config: &Config,
        request: ChatRequest,
        options: RequestOptions,
    ) -> Result<Answer, CompletionError> {
        let chain = config.chain(request.model())?;
        self.run_chain(config, &chain, request, options).await
    }

    /// [`Self::complete_with`] along a chain already resolved in `config`.
    pub async fn run_chain(
        &self,
        config: &Config,
        chain: &[Target],
        request: ChatRequest,
        options: RequestOptions,
    ) -> Result<Answer, CompletionError> {
        let upstream = self.upstream.load_full();
        let settings = chain::Settings {
            timeouts: &config.gateway.timeouts,
            retries: &config.gateway.retries,
            limits: &config.gateway.limits,
            redactor: &config.redactor,
            cooldowns: &self.cooldowns,
            quotas: &self.quotas,
            fallback: options.fallback,
            ledger: &self.ledger,
            budgets: &config.budgets,
        };
        chain::run(&upstream, chain, request, &settings)
            .await
            .map_err(CompletionError::Failed)
    }
}
