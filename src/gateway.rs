//! The gateway's shared state: the current config (swapped whole on reload)
//! and the upstream client, which outlives reloads so pooled connections
//! survive them.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::chain::{self, Answer, Failure};
use crate::config::{Config, UnknownModel};
use crate::upstream::Upstream;
use crate::wire::openai::ChatRequest;

pub struct Gateway {
    config: ArcSwap<Config>,
    upstream: Upstream,
    /// Cancelled when shutdown's grace is over: in-flight requests end.
    abort: CancellationToken,
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
        Ok(Self {
            config: ArcSwap::from_pointee(config),
            upstream,
            abort: CancellationToken::new(),
        })
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

    pub fn replace_config(&self, config: Config) {
        self.config.store(Arc::new(config));
    }

    /// Resolves the request's chain in `config` (the snapshot the request
    /// started with, from [`Self::config`]) and runs it.
    pub async fn complete(
        &self,
        config: &Config,
        request: ChatRequest,
    ) -> Result<Answer, CompletionError> {
        let chain = config.chain(request.model())?;
        chain::run(
            &self.upstream,
            &chain,
            request,
            &config.gateway.timeouts,
            &config.gateway.limits,
            &config.redactor,
        )
        .await
        .map_err(CompletionError::Failed)
    }
}
