//! The API shapes the gateway reads and writes on the wire (OpenAI chat,
//! Anthropic Messages, OpenAI Responses), and the event-stream format streams arrive in.

pub mod anthropic;
pub mod body;
pub mod openai;
pub mod responses;
pub mod scan;
pub mod sse;
