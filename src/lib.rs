//! clawgate: an OpenAI-compatible gateway that forwards chat completions
//! along a fallback chain of providers (Kimi, Kimi Code, OpenRouter, ...),
//! fixing each provider's quirks on the way.
//!
//! Map of the crate:
//! - [`config`]: finding, reading and validating the OpenClaw-shaped config;
//!   [`catalog`] holds the built-in providers and models it merges with.
//! - [`provider`]: provider dialects, recognised from the endpoint.
//! - [`rewrite`]: pure request rewriting per provider and model.
//! - [`chat`]: the request and response shapes the gateway reads.
//! - [`upstream`]: one attempt against a provider, and its typed outcome.
//! - [`chain`]: the fallback loop over a request's targets.
//! - [`sse`]: relaying a stream to the client.
//! - [`gateway`]: shared state (config, upstream client) and `complete`.
//! - [`http`]: the axum edge; [`server`]: serving with bounded shutdown.
//! - [`systemd`], [`logging`], [`metrics`], [`redact`]: operations.
//! - [`cli`]: the `clawgate` command; [`mock`]: the `clawgate-mock` provider.

pub mod catalog;
pub mod chain;
pub mod chat;
pub mod cli;
pub mod config;
pub mod gateway;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod mock;
pub mod provider;
pub mod redact;
pub mod rewrite;
pub mod server;
pub mod sse;
pub mod systemd;
pub mod upstream;
