//! The API shapes the gateway reads and writes on the wire.

pub mod body;
pub mod openai;
