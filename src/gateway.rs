//! The gateway's shared state: the current config (swapped whole on reload),
//! the upstream client, which outlives reloads so pooled connections survive
//! them, each target's health (kept across reloads for targets that still
//! exist), and the cap on requests in flight.

use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

pub use crate::admission::Slot;
use crate::admission::{Admission, Refused};
use crate::chain::concurrency::Queues;
use crate::chain::cooldown::Cooldowns;
use crate::chain::placement::{Placements, Readings, Ticket};
use crate::chain::{self, Answer, Failure};
use crate::config::clients::Client;
use crate::config::{Config, Target, UnknownModel};
use crate::format::scan::KnownValues;
use crate::ledger::Ledger;
use crate::ops::telemetry::{Telemetry, Trace};
use crate::ops::throttle::Throttle;
use crate::providers;
use crate::quota::Quotas;
use crate::reasoning_cache::ReasoningCache;
use crate::session::Sessions;
use crate::translate::{anthropic_client, fields, responses_client};
use crate::upstream::Upstream;
use crate::wire::request::ClientRequest;

pub struct Gateway {
    config: ArcSwap<Config>,
    /// Rebuilt only when a reload changes how connections are made.
    upstream: ArcSwap<Upstream>,
    /// `gateway.limits.maxConcurrentRequests` and each client's limits,
    /// for the gateway's life: a reload reconfigures them.
    admission: Arc<Admission>,
    /// Cancelled when shutdown's grace is over: in-flight requests end.
    abort: CancellationToken,
    cooldowns: Arc<Cooldowns>,
    /// Each capped provider's places, kept across reloads.
    queues: Queues,
    /// Each session's target in each pool, kept across reloads (a target
    /// no longer in its pool is placed afresh).
    placements: Placements,
    /// Usage and spend; in memory only unless [`Self::with_ledger`] is given
    /// one with a database.
    ledger: Arc<Ledger>,
    /// Each provider account's quota or balance, kept across reloads.
    quotas: Arc<Quotas>,
    /// Reasoning to give back on replayed tool-call turns; `None` when
    /// `gateway.reasoningCache` is off. Kept across reloads that leave its
    /// bounds as they are.
    reasoning: ArcSwapOption<ReasoningCache>,
    /// The conversations in flight (`None` with `gateway.sessions: false`).
    sessions: ArcSwapOption<Sessions>,
    /// The span exporter, when `gateway.telemetry` is on; its settings are
    /// read once, at start.
    telemetry: Option<Arc<Telemetry>>,
    memos: Memos,
    /// Warn lines said at most once a minute each.
    log_throttle: Throttle,
}

/// What reading requests remembers from one to the next, for the
/// gateway's life: the work done on texts a client sends unchanged every
/// turn (tools, system prompts, instructions), each memo owned by the
/// module that does the work and read without a lock.
#[derive(Default)]
pub struct Memos {
    /// Large member values of chat requests, stepped over unread.
    pub requests: Arc<KnownValues>,
    /// What chat requests' tools hold that the fields' rows name.
    pub chat_tools: fields::ToolsMemo,
    /// The Messages front end's translated system prompts and tools.
    pub messages: anthropic_client::Memo,
    /// The Responses front end's translated instructions and tools.
    pub responses: responses_client::Memo,
    /// The plan's reading of Kimi's tools.
    pub plan: providers::Memo,
}

/// How one request may use its chain.
#[derive(Debug, Clone)]
pub struct RequestOptions {
    /// `false` for `x-clawgate-fallback: off`: the first target only.
    pub fallback: bool,
    /// The request's trace, when it is traced: each attempt gets a span.
    pub trace: Option<Arc<Trace>>,
    /// The client's `traceparent`, passed on when the request is not
    /// traced.
    pub onward: Option<reqwest::header::HeaderValue>,
    /// Whose request it is: its budgets are checked with the gateway's.
    pub client: Option<Arc<Client>>,
    /// What the request may use at most: each target's worst cost is
    /// reserved against the budgets ([`crate::ledger::budget::reserve`]).
    pub demand: Option<crate::ledger::budget::Demand>,
    /// The conversation the request belongs to, when one is named.
    pub session: Option<Arc<str>>,
    /// Where the chain notes the target it is sending the request to.
    pub in_flight: Option<crate::chain::InFlight>,
}

impl Default for RequestOptions {
    fn default() -> Self {
        Self {
            fallback: true,
            trace: None,
            onward: None,
            client: None,
            demand: None,
            session: None,
            in_flight: None,
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
    /// The gateway serving `config`. With `gateway.telemetry` on, its
    /// exporter starts on the current Tokio runtime (none outside one).
    pub fn new(config: Config) -> Result<Self, reqwest::Error> {
        let upstream = Upstream::new(config.gateway.timeouts.connect)?;
        let telemetry = match &config.gateway.telemetry {
            Some(settings) if tokio::runtime::Handle::try_current().is_ok() => {
                Some(Telemetry::start(settings)?)
            }
            _ => None,
        };
        let admission = Arc::new(Admission::new(
            config.gateway.limits.max_concurrent_requests,
            &config.gateway.clients,
        ));
        let reasoning = config
            .gateway
            .reasoning_cache
            .map(|limits| Arc::new(ReasoningCache::new(limits)));
        let sessions = config.gateway.sessions.map(|l| Arc::new(Sessions::new(l)));
        Ok(Self {
            config: ArcSwap::from_pointee(config),
            upstream: ArcSwap::from_pointee(upstream),
            admission,
            abort: CancellationToken::new(),
            cooldowns: Arc::default(),
            queues: Queues::default(),
            placements: Placements::default(),
            ledger: Arc::new(Ledger::in_memory()),
            quotas: Arc::default(),
            reasoning: ArcSwapOption::new(reasoning),
            sessions: ArcSwapOption::new(sessions),
            telemetry,
            memos: Memos::default(),
            log_throttle: Throttle::default(),
        })
    }

    /// The gateway recording into `ledger`.
    pub fn with_ledger(mut self, ledger: Arc<Ledger>) -> Self {
        ledger.share_rates(self.admission.clone());
        self.ledger = ledger;
        self
    }

    /// The gateway agreeing on new sessions' placements with the others on
    /// `shared`'s store.
    pub fn with_shared_placements(
        mut self,
        shared: Arc<crate::ledger::placements::SharedPlacements>,
    ) -> Self {
        shared.start();
        self.placements.share(shared);
        self
    }

    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    pub fn memos(&self) -> &Memos {
        &self.memos
    }

    pub fn log_throttle(&self) -> &Throttle {
        &self.log_throttle
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

    /// The token [`Self::abort_in_flight`] cancels: once it is, shutdown's
    /// grace is over, and what ends unanswered was ended by it.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.abort.clone()
    }

    /// The config in force now. A request takes one snapshot and keeps it,
    /// so a reload never changes a request midway.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// A slot for one request of `client` (under the gateway's cap only,
    /// for `None`), or why not. The slot is held until the response (a
    /// stream included) is finished.
    pub fn admit(&self, client: Option<&Client>) -> Result<Slot, Refused> {
        self.admission.admit(client)
    }

    /// Reserves a request's most `tokens` against its client's
    /// `tokensPerMinute` ([`Admission::reserve_tokens`]).
    pub fn reserve_tokens(
        &self,
        client: &Arc<str>,
        tokens: u64,
    ) -> Result<Option<crate::admission::TokenHold>, Refused> {
        self.admission.reserve_tokens(client, tokens)
    }

    /// A finished request's reservation settled to the `tokens` it used.
    pub fn settle(
        &self,
        reservation: &mut crate::admission::Reservation,
        client: &str,
        tokens: u64,
    ) {
        reservation.settle(&self.admission, client, tokens);
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
        self.admission
            .configure(new_g.limits.max_concurrent_requests, &new_g.clients);
        if old_g.limits.max_concurrent_requests != new_g.limits.max_concurrent_requests {
            notes.push(format!(
                "gateway.limits.maxConcurrentRequests is now {}; requests in flight count against it",
                new_g.limits.max_concurrent_requests
            ));
        }
        let restart_only = [
            (
                "gateway.timeouts.clientHeaderSeconds",
                old_g.timeouts.client_header != new_g.timeouts.client_header,
            ),
            (
                "gateway.limits.maxConnections",
                old_g.limits.max_connections != new_g.limits.max_connections,
            ),
            ("ledger", old.ledger != config.ledger),
            (
                "gateway.telemetry",
                match (&old_g.telemetry, &new_g.telemetry) {
                    (Some(old), Some(new)) => !old.same_as(new),
                    (old, new) => old.is_some() != new.is_some(),
                },
            ),
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
        if old_g.sessions != new_g.sessions {
            let sessions = new_g.sessions.map(|limits| Arc::new(Sessions::new(limits)));
            self.sessions.store(sessions);
        }
        let targets: Vec<_> = config.models().map(|(model_ref, _, _)| model_ref).collect();
        self.cooldowns.retain(&targets);
        let providers: Vec<&str> = config.providers.keys().map(String::as_str).collect();
        self.queues.retain(&providers);
        // Health and quota belong to an account: another key or `baseUrl`
        // starts afresh.
        for (id, provider) in &config.providers {
            if old
                .providers
                .get(id)
                .is_some_and(|before| !before.same_account(provider))
            {
                self.quotas.forget(id);
                self.cooldowns.forget_provider(id);
            }
        }
        self.config.store(Arc::new(config));
        notes
    }

    /// Every target's health, for `/v1/status`.
    pub fn cooldowns(&self) -> &Cooldowns {
        &self.cooldowns
    }

    /// Each capped provider's queue, for `/v1/status` and `/metrics`.
    pub fn queues(&self) -> &Queues {
        &self.queues
    }

    /// The reasoning cache, unless `gateway.reasoningCache` is off.
    pub fn reasoning_cache(&self) -> Option<Arc<ReasoningCache>> {
        self.reasoning.load_full()
    }

    /// The session store, unless `gateway.sessions` is `false`.
    pub fn sessions(&self) -> Option<Arc<Sessions>> {
        self.sessions.load_full()
    }

    /// The span exporter, when telemetry is on.
    pub fn telemetry(&self) -> Option<&Arc<Telemetry>> {
        self.telemetry.as_ref()
    }

    /// Every provider account's quota, for `/v1/status` and `/metrics`.
    pub fn quotas(&self) -> &Arc<Quotas> {
        &self.quotas
    }

    /// Resolves the request's chain in `config` (the snapshot the request
    /// started with, from [`Self::config`]) and runs it.
    pub async fn complete(
        &self,
        config: &Config,
        request: impl Into<ClientRequest>,
    ) -> Result<Answer, CompletionError> {
        self.complete_with(config, request, RequestOptions::default())
            .await
    }

    /// [`Self::complete`] with per-request options.
    pub async fn complete_with(
        &self,
        config: &Config,
        request: impl Into<ClientRequest>,
        options: RequestOptions,
    ) -> Result<Answer, CompletionError> {
        let request = request.into();
        let mut chain = config.chain(request.facts().model())?;
        self.run_chain(config, &mut chain, request, options).await
    }

    /// [`Self::complete_with`] along a chain already resolved in `config`,
    /// each pool's members ordered for the request's session first
    /// ([`Placements::order`]).
    pub async fn run_chain(
        &self,
        config: &Config,
        chain: &mut [Target],
        request: ClientRequest,
        options: RequestOptions,
    ) -> Result<Answer, CompletionError> {
        let session = options.session.as_ref();
        let pooled = !config.routing.pools.is_empty();
        let mut ticket = Ticket::default();
        if pooled {
            let readings = Readings {
                cooldowns: &self.cooldowns,
                quotas: &self.quotas,
                pools: &config.routing.pools,
            };
            let now = std::time::Instant::now();
            ticket = self.placements.order(chain, session, &readings, now).await;
        }
        let upstream = self.upstream.load_full();
        let no_budgets = crate::config::ledger::Budgets::default();
        let client_budgets = options.client.as_ref().map_or(&no_budgets, |c| &c.budgets);
        let settings = chain::Settings {
            timeouts: &config.gateway.timeouts,
            retries: &config.gateway.retries,
            limits: &config.gateway.limits,
            redactor: &config.redactor,
            cooldowns: &self.cooldowns,
            queues: &self.queues,
            quotas: &self.quotas,
            fallback: options.fallback,
            trace: options.trace.as_deref(),
            onward: options.onward.as_ref(),
            ledger: &self.ledger,
            budgets: [&config.budgets, client_budgets],
            demand: options.demand.as_ref(),
            memo: &self.memos.plan,
            in_flight: options.in_flight.as_ref(),
        };
        let answer = chain::run(&upstream, chain, request, &settings)
            .await
            .map_err(CompletionError::Failed)?;
        if pooled {
            // The member the session was placed on in the pool that answered.
            let placed = chain
                .iter()
                .find(|t| t.pool.is_some() && t.pool == answer.target.pool)
                .map(|t| &t.model_ref);
            let now = std::time::Instant::now();
            let pools = &config.routing.pools;
            self.placements
                .answered((session, ticket), placed, &answer.target, pools, now);
        }
        Ok(answer)
    }

    /// Where sessions are placed, for `/v1/status` and tests.
    pub fn placements(&self) -> &Placements {
        &self.placements
    }
}
