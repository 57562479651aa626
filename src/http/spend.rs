//! A request's row in the usage ledger ([`crate::ledger`]): every request
//! to one of the completion APIs gets one, whatever its outcome, from the
//! access record the shared path keeps for it ([`super::access_log`]),
//! so an API cannot forget its spend once it names its [`Front`]. The
//! row's tokens (reported, or estimated from the bytes each way when no
//! usage came) count against its client's limits, and its cost (or that
//! estimate) against the gateway's and the client's budgets, in place of
//! what the request reserved.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{Method, StatusCode, header};

use super::access_log::Entry;
use crate::admission::Reservation;
use crate::gateway::Gateway;
use crate::ledger::{self, Row, Tokens};
use crate::wire::Front;

/// What a request to one of the completion APIs records besides its line.
pub(super) struct Spend {
    pub(super) gateway: Arc<Gateway>,
    /// The API, by its ledger name.
    pub(super) front_end: &'static str,
    /// The client program's family, from its `User-Agent`.
    pub(super) agent: &'static str,
    pub(super) request_id: Option<Arc<str>>,
}

impl Spend {
    /// For a POST to a front end's path ([`Front::at`]); `None` for any
    /// other request, which the ledger does not record.
    pub(super) fn of(gateway: Arc<Gateway>, request: &Request) -> Option<Spend> {
        if request.method() != Method::POST {
            return None;
        }
        let front = Front::at(request.uri().path())?;
        let agent = (request.headers().get(header::USER_AGENT)).and_then(|v| v.to_str().ok());
        Some(Spend {
            gateway,
            front_end: front.ledger_name(),
            agent: ledger::client::family(agent),
            request_id: super::guard::request_id(),
        })
    }

    /// The row for the request `entry` records, which ended with `status`
    /// and `end` after `first_byte` and `total`, its body of `request_bytes`
    /// (as declared) answered with `sent` bytes (what a budget and the
    /// token limit count when no usage came); and the tokens it used, as
    /// reported or else as estimated from those bytes.
    pub(super) fn row(
        &self,
        entry: &Entry,
        (status, end): (StatusCode, &'static str),
        (first_byte, total): (Duration, Duration),
        (request_bytes, sent): (Option<u64>, u64),
    ) -> (Row, u64) {
        let usage = entry.usage;
        // A provider's counts are not trusted to be sane: they saturate.
        let tokens = match (usage, entry.estimated_tokens(request_bytes, sent)) {
            (Some(u), _) => u.input.saturating_add(u.output),
            (None, Some((input, output))) => input.saturating_add(output),
            (None, None) => 0,
        };
        let row = Row {
            ts_ms: ledger::calendar::millis(self.gateway.ledger().now()),
            request_id: self.request_id.as_ref().map(|id| id.to_string()),
            front_end: self.front_end,
            model_asked: entry.model_asked.clone(),
            answered_by: entry.answered_by.clone(),
            attempts: entry.attempts.clone(),
            status: status.as_u16(),
            end,
            first_byte_ms: first_byte.as_millis() as u64,
            total_ms: total.as_millis() as u64,
            tokens: Tokens {
                input: usage.map(|u| u.input),
                cached: usage.and_then(|u| u.cache_read),
                output: usage.map(|u| u.output),
                reasoning: usage.and_then(|u| u.reasoning),
            },
            cost_usd: entry.cost(),
            budget_estimate_usd: entry.estimate(request_bytes, sent),
            agent: self.agent,
            // No client for a request refused before its key was checked.
            client: entry.client.clone().unwrap_or_else(|| "".into()),
        };
        (row, tokens)
    }

    /// Writes `row`, settling the request's `reservation`: its `tokens`
    /// against its client's limits in place of those reserved, its cost
    /// against the gateway's and the client's budgets, and only then the
    /// reserved worst cost released (counted twice for a moment, never
    /// not at all).
    pub(super) fn record(self, row: Row, tokens: u64, mut reservation: Reservation) {
        self.gateway.settle(&mut reservation, &row.client, tokens);
        let config = self.gateway.config();
        let client = config.gateway.clients.get(&row.client);
        let budgets: Vec<_> = std::iter::once(&config.budgets)
            .chain(client.map(|c| &c.budgets))
            .collect();
        self.gateway.ledger().record(row, &budgets);
        drop(reservation);
    }
}
