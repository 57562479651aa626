//! clawgate: an OpenAI-compatible gateway that forwards chat completions
//! along a fallback chain of providers (Kimi, Kimi Coding, OpenRouter, ...),
//! applying each provider's and model's rules on the way.
//!
//! Map of the crate, top to bottom (a module uses only those below it):
//! - [`cli`]: the `clawgate` command, one file per command.
//! - [`server`]: serving with bounded connections and a bounded drain.
//! - [`http`]: the axum edge.
//! - [`gateway`]: shared state (config, upstream client) and `run_chain`;
//!   [`admission`]: the cap on requests in flight and each client's limits.
//! - [`relay`]: relaying an upstream stream to the client.
//! - [`chain`]: the fallback loop over a request's targets.
//! - [`providers`]: each provider dialect's request rules.
//! - [`upstream`]: one attempt against a provider, and its typed outcome.
//! - [`quota`]: what each provider account has left (Kimi Coding, Moonshot);
//!   [`reasoning_cache`]: reasoning kept to give back on replayed tool-call turns.
//! - [`ledger`]: the usage ledger (SQLite, or PostgreSQL shared by several
//!   instances), budgets, the last hour's figures.
//! - [`config`]: finding, reading and validating the OpenClaw-shaped config;
//!   [`catalog`]: the built-in providers and models it merges with.
//! - [`translate`]: OpenAI <-> Anthropic Messages, pure.
//! - [`wire`]: the OpenAI and Anthropic API shapes the gateway reads and writes.
//! - [`format`]: the JSON and event-stream toolkit they are read and written with.
//! - [`capabilities`]: the shared vocabulary (dialects, thinking levels).
//! - [`ops`]: systemd, logging, metrics, redaction.

pub mod admission;
pub mod capabilities;
pub mod catalog;
pub mod chain;
pub mod cli;
pub mod config;
pub mod format;
pub mod gateway;
pub mod http;
pub mod ledger;
pub mod ops;
pub mod providers;
pub mod quota;
pub mod reasoning_cache;
pub mod relay;
pub mod server;
pub mod session;
pub mod translate;
pub mod upstream;
pub mod wire;
