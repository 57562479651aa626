//! Translation between the OpenAI chat API the gateway's pipeline speaks and
//! other wire protocols: pure functions over JSON values and stream events.

pub mod anthropic_provider;
