//! A request's row in the usage ledger ([`crate::ledger`]): every request
//! to one of the completion APIs gets one, whatever its outcome, from the
//! access record the shared path keeps for it (the access log makes the
//! row), so an API cannot forget its spend once it names its [`Front`]. The
//! row's tokens (reported, or estimated from the bytes each way when no
//! usage came) count against its client's limits, and its cost (or that
//! estimate) against the gateway's and the client's budgets, in place of
//! what the request reserved.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{Method, header};

use crate::admission::Reservation;
use crate::gateway::Gateway;
use crate::ledger::{self, Row};
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
