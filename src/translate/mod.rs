//! Translation between the OpenAI chat API the gateway's pipeline speaks and
//! Anthropic's Messages API. Pure: JSON in, JSON out, no I/O, no clock.
//!
//! - [`anthropic_client`]: serving an Anthropic client (`POST /v1/messages`)
//!   from the OpenAI-shaped chain: its request in, the answer and the
//!   stream's events back out.
//! - [`anthropic_provider`]: reaching a provider that speaks Anthropic
//!   (`api: "anthropic-messages"`): the chain's OpenAI request out, its
//!   answer and events back in OpenAI's shape.
//! - [`responses_client`]: serving an OpenAI Responses client
//!   (`POST /v1/responses`, Codex) from the chat-completions chain.
//! - [`completion`]: a whole chat completion's first choice, as both
//!   answer translations read it.
//! - [`held_calls`]: streamed tool calls held until they are whole.
//! - [`ids`]: the reversible mapping of tool-call ids between the two APIs.
//! - [`token_estimate`]: `count_tokens` without a provider.

pub mod anthropic_client;
pub mod anthropic_provider;
pub mod chat_body;
pub mod completion;
pub mod fields;
pub mod held_calls;
pub mod ids;
pub mod responses_client;
pub mod token_estimate;
