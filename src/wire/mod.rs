//! The API shapes (OpenAI chat, Anthropic Messages) the gateway reads and writes on the wire, and the
//! event-stream format streams arrive in.

pub mod anthropic;
pub mod body;
pub mod openai;
pub mod scan;
pub mod sse;
