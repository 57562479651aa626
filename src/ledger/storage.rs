//! The one seam between the ledger and where usage is kept: [`Storage`],
//! which only the writer thread calls. Two stores sit behind it: the
//! SQLite file ([`super::store`]: the default, one gateway, nothing to
//! set up) and PostgreSQL ([`super::postgres`]: one database shared by
//! several gateways, which also carries the clients' rate-limit counters).
//! No SQLite or PostgreSQL type is seen outside `ledger/`.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::Row;
use crate::config::ledger::StoreUrl;

/// Where the ledger is kept.
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    /// The SQLite file.
    File(PathBuf),
    /// A PostgreSQL database (`ledger.store`).
    Postgres(StoreUrl),
}

/// A store failed; the message names where, never a password.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StorageError {
    /// The call may or may not have taken effect.
    #[error("{0}")]
    Failed(String),
    /// Nothing took effect in the store (it could not be connected to, is
    /// backing off, or the connection was lost or the deadline passed
    /// before anything was committed): the same call can be made again as
    /// it is.
    #[error("{0}")]
    Unreached(String),
    /// The store answers but takes no write for now (read-only during a
    /// failover, a full disk, a privilege taken away), and nothing took
    /// effect: the same call is made again once [`Storage::retry_at`]
    /// has passed; meanwhile the rows wait, as for a store that cannot be
    /// reached.
    #[error("{0}")]
    NotNow(String),
    /// The store refused what was sent (a value it cannot hold, a
    /// constraint), and nothing took effect: a part of the rows may still
    /// be taken, so the writer splits the batch until only the row
    /// refused is left out.
    #[error("{0}")]
    Refused(String),
}

/// The longest text a store is given, in bytes: a client's texts (the
/// model it named) are of any length.
pub const MAX_TEXT_BYTES: usize = 1024;

/// `text` as every store can hold it: no NUL (PostgreSQL refuses it in
/// text, and with it the whole batch), each one written as U+FFFD, and at
/// most [`MAX_TEXT_BYTES`], cut at a character. A Rust string is valid
/// UTF-8 otherwise: a JSON escape of half a surrogate pair reaches it as
/// U+FFFD, if at all.
pub fn storable(text: &str) -> Cow<'_, str> {
    let cut = if text.len() > MAX_TEXT_BYTES {
        let mut end = MAX_TEXT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        &text[..end]
    } else {
        text
    };
    match (cut.contains('\0'), cut.len() < text.len()) {
        (false, false) => Cow::Borrowed(text),
        (false, true) => Cow::Borrowed(cut),
        (true, _) => Cow::Owned(cut.replace('\0', "\u{FFFD}")),
    }
}

/// `rows` with every text [`storable`]: the same rows, borrowed, unless
/// one of them needed a change.
pub fn storable_rows(rows: &[Row]) -> Cow<'_, [Row]> {
    let fits = |text: &str| matches!(storable(text), Cow::Borrowed(t) if t.len() == text.len());
    let row_fits = |row: &Row| {
        [&row.request_id, &row.model_asked, &row.answered_by]
            .into_iter()
            .flatten()
            .all(|t| fits(t))
            && row.attempts.iter().all(|t| fits(t))
            && fits(&row.client)
            && row.session.as_deref().is_none_or(fits)
    };
    if rows.iter().all(row_fits) {
        return Cow::Borrowed(rows);
    }
    let fixed = |text: &String| storable(text).into_owned();
    Cow::Owned(
        rows.iter()
            .map(|row| Row {
                request_id: row.request_id.as_ref().map(fixed),
                model_asked: row.model_asked.as_ref().map(fixed),
                answered_by: row.answered_by.as_ref().map(fixed),
                attempts: row.attempts.iter().map(fixed).collect(),
                client: storable(&row.client).into(),
                session: row.session.as_deref().map(|s| storable(s).into()),
                ..row.clone()
            })
            .collect(),
    )
}

/// The most a count (tokens, milliseconds) is written as: far above any
/// real one, exact as a JSON number, and small enough that the sums of
/// 1024 rows fit a 64-bit column. A provider may report any count.
pub(super) const MAX_COUNT: u64 = 1 << 53;

/// A count as written to a store: capped at [`MAX_COUNT`].
pub(super) fn to_i64(n: u64) -> i64 {
    n.min(MAX_COUNT) as i64
}

/// One client's requests and tokens in one UTC minute (`window`: minutes
/// since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCount {
    pub client: String,
    pub window: i64,
    pub requests: u64,
    pub tokens: u64,
}

/// Requests in flight, as reserved: their worst costs (a [`DaySpend`] per
/// client, day and model, `cost_usd` the dollars reserved) and their
/// tokens per client.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reservations {
    pub spend: Vec<DaySpend>,
    pub tokens: Vec<(String, u64)>,
}

/// Where usage is kept. Called by the writer thread only, never from a
/// request: a slow call costs rows the queue holds meanwhile, not latency.
pub trait Storage: Send {
    fn location(&self) -> Location;

    /// Writes `rows` and their daily rollups, all or none. `batch` numbers
    /// them: rows written again after an error come with the same number,
    /// so a store that cannot tell whether a lost commit happened writes
    /// them once all the same.
    fn write(&mut self, batch: u64, rows: &[Row]) -> Result<(), StorageError>;

    /// Writes `rows` as [`Self::write`] does, as the batch named `id`
    /// (a spool's segment, [`super::spool`]) whichever gateway writes it:
    /// once, however often it is written.
    fn write_once(&mut self, _id: &str, rows: &[Row]) -> Result<(), StorageError> {
        self.write(0, rows)
    }

    /// Deletes raw rows older than `before_ms`; rollups stay. A store
    /// other gateways share deletes a slice of them at a time, so that
    /// the writer's exchanges with it go on between: [`Self::expired_all`]
    /// says whether it got to the end.
    fn expire(&mut self, before_ms: i64) -> Result<u64, StorageError>;

    /// Whether the last [`Self::expire`] deleted all it was asked to.
    fn expired_all(&self) -> bool {
        true
    }

    /// Each client's and model's spend per day from `since_day` on.
    fn spend_since(&mut self, since_day: i64) -> Result<Vec<DaySpend>, StorageError>;

    /// Whether other gateways write into the same store: their spend is
    /// then read back every [`super::SPEND_REFRESH`], and the clients' rate
    /// counters are exchanged through it.
    fn shared(&self) -> bool {
        false
    }

    /// Adds this gateway's counts `sent` and returns the other gateways'
    /// totals per client and window from `since_window` on.
    fn sync_rates(
        &mut self,
        _sent: &[RateCount],
        _since_window: i64,
    ) -> Result<Vec<RateCount>, StorageError> {
        Ok(Vec::new())
    }

    /// Replaces this gateway's reservations in flight (`mine`: budget
    /// reservations per client, day and model, and token reservations per
    /// client) and returns the other gateways' (from their last exchange;
    /// a gateway that stopped exchanging is left out).
    fn share_reservations(&mut self, _mine: &Reservations) -> Result<Reservations, StorageError> {
        Ok(Reservations::default())
    }

    /// While the store is backing off after a failure: when it tries again.
    fn retry_at(&self) -> Option<Instant> {
        None
    }
}

/// The rate limiter's side of sharing the clients' limits through a
/// shared store (the gateway's admission implements it).
pub trait RateShare: Send + Sync {
    /// Requests and tokens per client counted here since the last call.
    fn take_local(&self) -> Vec<(Arc<str>, u64, u64)>;

    /// Counts what other gateways admitted for `client` against its limits
    /// here.
    fn charge_others(&self, client: &str, requests: u64, tokens: u64);

    /// Tokens per client that requests in flight here hold.
    fn reserved_tokens(&self) -> Vec<(Arc<str>, u64)>;

    /// What requests in flight on the other gateways hold, per client (a
    /// client not named holds none).
    fn others_reserved_tokens(&self, held: &std::collections::HashMap<String, u64>);
}

/// What one day of one model cost one client, for the running totals:
/// `cost_usd` is what budgets count (the rollups' `budget_cost_usd`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DaySpend {
    pub day: i64,
    pub client: String,
    pub model: String,
    pub requests: u64,
    pub fallbacks: u64,
    pub cost_usd: f64,
    pub uncosted: u64,
    /// Of `requests`, those answered whole.
    pub answered: u64,
}
