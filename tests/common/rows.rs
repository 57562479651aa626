//! Ledger rows as the gateway writes them, for the tests that put rows in
//! a ledger or a store by hand: [`answered`] is one answered request, and
//! a test changes what it is about with the struct's update syntax
//! (`Row { cost_usd: Some(0.5), ..answered("p/m") }`).

use clawgate::ledger::{Row, Tokens, calendar};

/// A request of alice's answered now by `model` at the first try, 1000
/// tokens in and 100 out, without a price.
pub fn answered(model: &str) -> Row {
    Row {
        ts_ms: calendar::millis(std::time::SystemTime::now()),
        request_id: None,
        front_end: "openai-chat",
        model_asked: Some(model.into()),
        answered_by: Some(model.into()),
        attempts: vec![format!("{model}:ok")],
        status: 200,
        end: "complete",
        first_byte_ms: 5,
        total_ms: 40,
        tokens: Tokens {
            input: Some(1000),
            cached: None,
            written: None,
            output: Some(100),
            reasoning: None,
        },
        cost_usd: None,
        uncached_cost_usd: None,
        budget_estimate_usd: None,
        agent: "openclaw",
        client: "alice".into(),
        session: None,
    }
}
