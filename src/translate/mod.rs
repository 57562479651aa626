//! Translation between the OpenAI chat API the gateway's pipeline speaks and
//! Anthropic's Messages API. Pure: JSON in, JSON out, no I/O, no clock.
//!
//! - [`anthropic_client`]: serving an Anthropic client (`POST /v1/messages`)
//!   from the OpenAI-shaped chain: its request in, the answer and the
//!   stream's events back out.
//! - [`ids`]: the reversible mapping of tool-call ids between the two APIs.
//! - [`token_estimate`]: `count_tokens` without a provider.

pub mod anthropic_client;
pub mod ids;
pub mod token_estimate;
