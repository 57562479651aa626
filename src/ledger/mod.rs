//! The usage ledger: one row per finished API request, what it cost, and
//! the budgets held against it.
//!
//! The request path only touches memory: [`Ledger::record`] updates the
//! running totals (spend per model and day, which the budgets read) and the
//! last hour's figures (the status page, `STATUS=`), then offers the row to
//! a bounded queue. A writer thread takes rows off the queue in batches and
//! writes them with their daily rollups ([`store`]). A full queue, a full
//! disk, a locked or read-only database: the row is dropped, counted
//! (`clawgate_ledger_rows_total{result="dropped"}`) and logged, and the
//! request is not slowed.
//!
//! Days are UTC days ([`calendar`]). The running totals are rebuilt from
//! the rollups (what budgets count: costs, and estimates) at start, so
//! budgets hold across restarts. Beside them, the worst costs of the
//! requests in flight ([`budget::Reserved`]) count as spent until each
//! request's row is counted.
//!
//! Where rows go is a [`storage::Storage`]: the SQLite file, or a
//! PostgreSQL database that several gateways share ([`postgres`]). With a
//! shared one, the writer also reads everyone's spend back every
//! [`SPEND_REFRESH`] (the running totals are then that spend plus this
//! gateway's rows not yet written) and exchanges the clients' rate
//! counters and the reservations (budgets' and tokens') every
//! [`RATE_SYNC`] with the admission's [`storage::RateShare`]. A budget then overshoots by at most
//! one request's worst cost per gateway, plus what the others reserved in
//! one exchange and spent in one refresh interval and one batch; a rate
//! limit by what the others admit in two rate syncs.
//!
//! A shared store that cannot be reached is an outage: logged at once and
//! every [`OUTAGE_LOG_EVERY`], shown in [`Health`] until a call succeeds;
//! the rows it holds up wait in the [`spool`] on disk when there is a
//! state directory. A row a store refuses for what it holds costs that
//! row alone: the writer halves the batch until the row is alone.

pub mod budget;
pub mod calendar;
pub mod client;
mod pg_io;
pub mod placements;
pub mod postgres;
pub mod query;
pub mod recent;
pub mod session;
pub mod spool;
pub mod storage;
pub mod store;
pub mod summary;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use self::calendar::{day_of, day_of_millis, millis};
use self::postgres::Postgres;
use self::recent::Recent;
use self::spool::{Segment, Spool};
use self::storage::{Location, RateCount, RateShare, Reservations, Storage, StorageError};
use self::store::Store;
use crate::config::Cost;
use crate::config::ledger::{Budgets, LedgerSettings, StoreUrl};
use crate::ops::metrics;
use crate::wire::usage::Usage;

/// Rows waiting for the writer at most; more are dropped, not waited for.
pub const QUEUE_ROWS: usize = 16_384;
/// Rows written in one transaction at most.
const BATCH_ROWS: usize = 1024;
/// Transactions start at most this often: under load the rows of the gap
/// go in one transaction (a commit costs far more than a row), while the
/// first row after a quiet spell is written at once. A gateway killed
/// outright loses at most this much of its rows.
const COMMIT_GAP: Duration = Duration::from_millis(20);
/// Running totals are kept (and rebuilt) this many days back: a month and
/// the week that may straddle it, and the status page's 30 days.
const TOTAL_DAYS: i64 = 40;
/// A shared store's spend is read back this often: what the other
/// gateways spent reaches this one's budgets within it.
pub const SPEND_REFRESH: Duration = Duration::from_secs(1);
/// What the budgets count is kept in the spool this often at most, when
/// it changed: a gateway started while the shared store cannot be reached
/// counts from it, missing at most this much of its own spend.
const KEEP_SPEND_EVERY: Duration = Duration::from_secs(10);
/// The clients' rate counters are exchanged through a shared store this
/// often.
pub const RATE_SYNC: Duration = Duration::from_millis(250);
/// Usage reports running at once on PostgreSQL, each on a connection of
/// its own: one more is refused ([`ReportError::Busy`]), not queued, so a
/// burst of them cannot take the database's connections. Clients' keys
/// (not admins') run one of them at most, so an admin always has one.
pub const REPORTS_AT_ONCE: usize = 2;

/// A usage report that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{REPORTS_AT_ONCE} usage reports are running already; try again shortly")]
    Busy,
    #[error(
        "a usage report asked with a client's key is running already (admins keep the other place); try again shortly"
    )]
    ClientsBusy,
    #[error("{0}")]
    Failed(String),
}

/// `mutex`'s guard, though a thread panicked holding it: the ledger's
/// totals and notes go on counting.
fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The time source: the system clock, or a fixed one in tests.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(SystemTime::now)
}

/// Token counts as the provider reported them; `None` when it did not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: Option<u64>,
    pub cached: Option<u64>,
    /// Of the input, the tokens written to the provider's cache.
    pub written: Option<u64>,
    pub output: Option<u64>,
    pub reasoning: Option<u64>,
}

/// One finished request.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub ts_ms: i64,
    pub request_id: Option<String>,
    /// `openai-chat`, `anthropic-messages`, `openai-responses`.
    pub front_end: &'static str,
    pub model_asked: Option<String>,
    /// The ref of the target that answered.
    pub answered_by: Option<String>,
    /// `ref:outcome` per target, in order (`ok` for the one that answered).
    pub attempts: Vec<String>,
    pub status: u16,
    /// `complete`, `stream_broken`, `client_left`, `shutdown`, `body_error`,
    /// `panic`.
    pub end: &'static str,
    /// The time to the response head; for a request the client left
    /// before one was sent (status [`CLIENT_CLOSED_REQUEST`]), the time
    /// it left.
    pub first_byte_ms: u64,
    pub total_ms: u64,
    pub tokens: Tokens,
    /// `None` when the provider sent no usage or the model has no price.
    pub cost_usd: Option<f64>,
    /// What the call would have cost with every input token at the model's
    /// full input price (no cache price): what caching saved is this less
    /// `cost_usd`. `None` when the model has no price or no usage came.
    pub uncached_cost_usd: Option<f64>,
    /// What budgets count when `cost_usd` is `None` but the model has a
    /// price: an estimate from the bytes sent each way (a client that
    /// leaves before the usage chunk still spends). Written into the
    /// rollups' `budget_cost_usd` with the costs, never as a cost.
    pub budget_estimate_usd: Option<f64>,
    /// The calling program's family from its `User-Agent` (`openclaw`,
    /// `claude-code`, `codex`, ...).
    pub agent: &'static str,
    /// The client whose key the request presented (`gateway.clients`,
    /// `token` for `gateway.auth.token`, `anonymous` without a key).
    pub client: Arc<str>,
    /// The conversation the request belongs to, when it is known.
    pub session: Option<Arc<str>>,
}

/// The status of a request the client left before its response's head
/// (nginx's): no response was sent.
pub const CLIENT_CLOSED_REQUEST: u16 = 499;

/// Whether a request a target answered, with `status`, ended (`end`) with
/// the whole answer: what counts as a success, in the ledger and in the
/// GenAI metrics, on `/metrics` and over OTLP alike. An answer cut short
/// (its stream broken, its body failed, its client gone, shutdown, a
/// panic) is not one.
pub fn answered_whole(status: u16, end: &str) -> bool {
    status < 400 && end == "complete"
}

impl Row {
    /// Whether a response head was sent.
    pub fn head_sent(&self) -> bool {
        self.status != CLIENT_CLOSED_REQUEST
    }

    pub fn provider(&self) -> Option<&str> {
        self.answered_by
            .as_deref()
            .and_then(|r| r.split_once('/'))
            .map(|(p, _)| p)
    }

    pub fn succeeded(&self) -> bool {
        self.answered_by.is_some() && answered_whole(self.status, self.end)
    }

    /// Answered by a target after an earlier one failed or was skipped.
    pub fn fallback(&self) -> bool {
        self.answered_by.is_some() && self.attempts.len() > 1
    }

    /// The chain's first target did not answer.
    pub fn primary_failed(&self) -> bool {
        self.attempts.first().is_some_and(|a| !a.ends_with(":ok"))
    }

    /// Answered, but with no cost known. A request no whole answer reached
    /// (its client left first or midway, its stream broke) is a failure,
    /// not this.
    pub fn uncosted(&self) -> bool {
        self.succeeded() && self.cost_usd.is_none()
    }

    /// What the budgets count: the cost, else the estimate.
    pub fn budget_cost(&self) -> Option<f64> {
        self.cost_usd.or(self.budget_estimate_usd)
    }
}

enum Message {
    Row(Box<Row>),
    /// Answered once everything queued before it is written (or dropped).
    Flush(mpsc::Sender<()>),
}

/// Spend per (day, model ref), and per (client, day, model ref), kept
/// [`TOTAL_DAYS`] back.
#[derive(Debug, Default)]
pub struct Totals {
    pub days: BTreeMap<(i64, String), DayTotal>,
    pub clients: BTreeMap<(String, i64, String), DayTotal>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct DayTotal {
    /// Every request a target was reached for.
    pub requests: u64,
    /// Those answered whole ([`Row::succeeded`]).
    pub answered: u64,
    pub fallbacks: u64,
    pub cost_usd: f64,
    pub uncosted: u64,
}

impl DayTotal {
    fn add(&mut self, total: DayTotal) {
        self.requests += total.requests;
        self.answered += total.answered;
        self.fallbacks += total.fallbacks;
        self.cost_usd += total.cost_usd;
        self.uncosted += total.uncosted;
    }
}

/// What a row adds to the running totals: (day, client, model, total);
/// none for a request no target answered.
fn row_total(row: &Row) -> Option<(i64, &str, &str, DayTotal)> {
    let model = row.answered_by.as_deref()?;
    Some((
        day_of_millis(row.ts_ms),
        &row.client,
        model,
        DayTotal {
            requests: 1,
            answered: u64::from(row.succeeded()),
            fallbacks: u64::from(row.fallback()),
            cost_usd: row.budget_cost().unwrap_or(0.0),
            uncosted: u64::from(row.uncosted()),
        },
    ))
}

impl Totals {
    /// Takes back what [`Self::add`] added (a row now in the database);
    /// an entry left with no request goes.
    fn remove(&mut self, day: i64, client: &str, model: &str, total: DayTotal) {
        fn take(map_entry: Option<&mut DayTotal>, total: DayTotal) -> bool {
            let Some(entry) = map_entry else { return false };
            entry.requests = entry.requests.saturating_sub(total.requests);
            entry.answered = entry.answered.saturating_sub(total.answered);
            entry.fallbacks = entry.fallbacks.saturating_sub(total.fallbacks);
            entry.cost_usd -= total.cost_usd;
            entry.uncosted = entry.uncosted.saturating_sub(total.uncosted);
            entry.requests == 0
        }
        let key = (day, model.to_string());
        if take(self.days.get_mut(&key), total) {
            self.days.remove(&key);
        }
        let key = (client.to_string(), day, model.to_string());
        if take(self.clients.get_mut(&key), total) {
            self.clients.remove(&key);
        }
    }

    /// Adds every total of `other`.
    fn merge(&mut self, other: &Totals) {
        for ((day, model), total) in &other.days {
            self.days
                .entry((*day, model.clone()))
                .or_default()
                .add(*total);
        }
        for (key, total) in &other.clients {
            self.clients.entry(key.clone()).or_default().add(*total);
        }
    }

    fn add(&mut self, day: i64, client: &str, model: &str, total: DayTotal) {
        self.days
            .entry((day, model.to_string()))
            .or_default()
            .add(total);
        self.clients
            .entry((client.to_string(), day, model.to_string()))
            .or_default()
            .add(total);
    }

    /// The totals as a store's spend reads ([`totals_of`] in reverse).
    fn as_spend(&self) -> Vec<storage::DaySpend> {
        (self.clients.iter())
            .map(|((client, day, model), total)| storage::DaySpend {
                day: *day,
                client: client.clone(),
                model: model.clone(),
                requests: total.requests,
                fallbacks: total.fallbacks,
                cost_usd: total.cost_usd,
                uncosted: total.uncosted,
                answered: total.answered,
            })
            .collect()
    }

    fn forget_before(&mut self, day: i64) {
        self.days = self.days.split_off(&(day, String::new()));
        self.clients.retain(|(_, d, _), _| *d >= day);
    }

    /// The totals of every model `covers` accepts, from `first_day` on:
    /// everyone's, or `client`'s.
    pub fn since(
        &self,
        client: Option<&str>,
        first_day: i64,
        covers: impl Fn(&str) -> bool,
    ) -> DayTotal {
        let mut sum = DayTotal::default();
        match client {
            None => self
                .days
                .range((first_day, String::new())..)
                .filter(|((_, model), _)| covers(model))
                .for_each(|(_, total)| sum.add(*total)),
            Some(client) => self
                .clients
                .range((client.to_string(), first_day, String::new())..)
                .take_while(|((c, _, _), _)| c == client)
                .filter(|((_, _, model), _)| covers(model))
                .for_each(|(_, total)| sum.add(*total)),
        }
        sum
    }

    /// Each day's spend and requests from `first_day` on, all models.
    pub fn per_day(&self, first_day: i64) -> BTreeMap<i64, DayTotal> {
        let mut days: BTreeMap<i64, DayTotal> = BTreeMap::new();
        for ((day, _), total) in self.days.range((first_day, String::new())..) {
            days.entry(*day).or_default().add(*total);
        }
        days
    }
}

/// Whether rows reach the database, for `/v1/status` and the page.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `writing`; `unreachable` while the store cannot be reached (rows
    /// wait, `lastError` says why); or `memory_only` (disabled, or the
    /// database could not be opened).
    pub state: &'static str,
    /// While unreachable: for how long.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable_seconds: Option<u64>,
    /// While a shared store is unreachable: what budgets and rate limits
    /// do meanwhile ([`PER_INSTANCE`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_instance: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// A PostgreSQL store's URL, its password hidden.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    pub rows_written: u64,
    pub rows_dropped: u64,
    /// Spooled segments that could not be read (their rows neither written
    /// nor counted as dropped), left on disk for someone to look at.
    #[serde(skip_serializing_if = "is_zero")]
    pub segments_set_aside: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The ledger. Cheap to share; every method is safe to call from a
/// request.
pub struct Ledger {
    queue: Mutex<Option<SyncSender<Message>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    location: Option<Location>,
    /// Whether other gateways share the store: then rows not yet written
    /// are also kept in `shared.pending`.
    sharing: bool,
    recent: Mutex<Recent>,
    /// The last sessions answered, for the status page.
    sessions: Mutex<session::Recent>,
    shared: Arc<Shared>,
    clock: Clock,
    /// Budgets already warned about at 80%: (budget index text, period start).
    warned: Mutex<std::collections::HashSet<(String, i64)>>,
    /// The usage reports running on PostgreSQL, and those of them asked
    /// with a client's key (not an admin's).
    reports: tokio::sync::Semaphore,
    clients_reports: tokio::sync::Semaphore,
}

/// What the writer thread and the request path both update.
#[derive(Default)]
struct Shared {
    /// The running totals the budgets read. Locked before `pending`.
    totals: Mutex<Totals>,
    /// With a shared store: this gateway's rows not yet in the database
    /// (queued, or dropped), which the spend read back lacks.
    pending: Mutex<Totals>,
    /// The worst costs of this gateway's requests in flight
    /// ([`budget::Reserved`]), which the budgets count as spent. Locked
    /// before `others_reserved`, which is locked before `totals`.
    reserved: Mutex<Totals>,
    /// With a shared store: the other gateways' reservations, as of the
    /// last exchange.
    others_reserved: Mutex<Totals>,
    /// With a shared store: the clients' rate limits to share.
    rates: Mutex<Option<Arc<dyn RateShare>>>,
    /// Set when closing: a writer waiting out a backoff gives up.
    closing: AtomicBool,
    written: AtomicU64,
    dropped: AtomicU64,
    /// Spooled segments that could not be read, left on disk.
    set_aside: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// When a drop was last logged: one line a minute at most.
    last_drop_log: Mutex<Option<Instant>>,
    /// Whether the store is shared (then an outage makes the budgets and
    /// rate limits per instance).
    sharing: AtomicBool,
    /// While the store cannot be reached.
    outage: Mutex<Option<Outage>>,
    /// Whether rows waiting for the store are spooled to disk.
    spooling: AtomicBool,
    /// When a store's refusal (not an outage) was last logged.
    last_failure_log: Mutex<Option<Instant>>,
}

/// The store cannot be reached: since when, why, and when it was last
/// said in the log.
struct Outage {
    since: Instant,
    why: String,
    logged: Instant,
}

/// An outage is logged when it starts, then this often while it lasts;
/// so is a store's failure to take rows or answer.
pub const OUTAGE_LOG_EVERY: Duration = Duration::from_secs(30);

/// What budgets and rate limits do while a shared store is away.
pub const PER_INSTANCE: &str = "budgets and rate limits count this instance's requests only (with \
    the other instances' spend as last read): a shared budget may be overshot by what the other \
    instances spend meanwhile, and a client's rate limit by its limit on each other instance";

impl Shared {
    /// The running totals become `base` (everyone's spend as read from a
    /// shared store) plus this gateway's rows not yet written.
    fn replace_base(&self, mut base: Totals) {
        let mut totals = locked(&self.totals);
        let pending = locked(&self.pending);
        base.merge(&pending);
        *totals = base;
    }

    /// `rows` are in the shared database: the spend read back has them.
    fn written_out(&self, rows: &[Row]) {
        let mut pending = locked(&self.pending);
        for (day, client, model, total) in rows.iter().filter_map(row_total) {
            pending.remove(day, client, model, total);
        }
    }

    /// `rows` are in the store; with `pending`, they were this gateway's
    /// rows not yet in a shared store, which the spend read back now has.
    fn wrote(&self, rows: &[Row], pending: bool) {
        self.reached();
        self.written.fetch_add(rows.len() as u64, Ordering::Relaxed);
        metrics::ledger_rows("written", rows.len() as u64);
        if pending {
            self.written_out(rows);
        }
    }

    /// Whether the store cannot be reached now.
    fn unreached(&self) -> bool {
        locked(&self.outage).is_some()
    }

    fn note_error(&self, why: String) {
        *locked(&self.last_error) = Some(why);
    }

    /// A call to the store failed: an outage starts (or goes on) when it
    /// could not be reached; otherwise the store refused the call, said
    /// once per [`OUTAGE_LOG_EVERY`] at most.
    fn failed(&self, err: &StorageError) {
        let why = err.to_string();
        self.note_error(why.clone());
        if !matches!(err, StorageError::Unreached(_)) {
            let mut last = locked(&self.last_failure_log);
            if last.is_none_or(|at| at.elapsed() >= OUTAGE_LOG_EVERY) {
                *last = Some(Instant::now());
                tracing::error!("ledger: {why}");
            }
            return;
        }
        let mut outage = locked(&self.outage);
        match outage.as_mut() {
            Some(outage) => outage.why = why,
            None => {
                let now = Instant::now();
                let room = if self.spooling.load(Ordering::Relaxed) {
                    format!(
                        "on disk in the state directory's ledger-spool (up to {})",
                        spool::SEGMENT_ROWS * spool::MAX_SEGMENTS
                    )
                } else {
                    format!("in memory (up to {QUEUE_ROWS})")
                };
                tracing::error!(
                    "ledger: {why}; rows wait {room} until it answers{}",
                    self.per_instance()
                );
                *outage = Some(Outage {
                    since: now,
                    why,
                    logged: now,
                });
            }
        }
    }

    /// Says again, once per [`OUTAGE_LOG_EVERY`], that the store is still
    /// away, with the rows the writer holds for it.
    fn still_unreached(&self, holding: usize) {
        let mut outage = locked(&self.outage);
        let Some(outage) = outage
            .as_mut()
            .filter(|o| o.logged.elapsed() >= OUTAGE_LOG_EVERY)
        else {
            return;
        };
        outage.logged = Instant::now();
        tracing::error!(
            rows_held = holding,
            "ledger: not written for {} s: {}; {holding} rows held for it and more in the queue, \
             {} dropped so far{}",
            outage.since.elapsed().as_secs(),
            outage.why,
            self.dropped.load(Ordering::Relaxed),
            self.per_instance()
        );
    }

    /// A call to the store succeeded: an outage is over, and its error
    /// leaves the status.
    fn reached(&self) {
        let Some(outage) = locked(&self.outage).take() else {
            return;
        };
        tracing::warn!(
            "ledger: the store answers again after {} s; the rows held are written, and budgets \
             and rate limits are shared again",
            outage.since.elapsed().as_secs()
        );
        *locked(&self.last_error) = None;
    }

    fn per_instance(&self) -> String {
        if self.sharing.load(Ordering::Relaxed) {
            format!("; meanwhile {PER_INSTANCE}")
        } else {
            String::new()
        }
    }

    fn dropped(&self, rows: u64, why: &str) {
        self.dropped.fetch_add(rows, Ordering::Relaxed);
        metrics::ledger_rows("dropped", rows);
        *locked(&self.last_error) = Some(why.to_string());
        let mut last = locked(&self.last_drop_log);
        if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
            *last = Some(Instant::now());
            tracing::error!(
                rows,
                dropped_total = self.dropped.load(Ordering::Relaxed),
                "ledger: rows dropped ({why}); requests are served as before"
            );
        }
    }
}

impl Ledger {
    /// A ledger that keeps running totals in memory only: for a gateway
    /// without a state directory, `ledger.enabled: false`, and tests.
    pub fn in_memory() -> Self {
        Self::build(None, system_clock())
    }

    fn build(location: Option<Location>, clock: Clock) -> Self {
        Self {
            queue: Mutex::new(None),
            writer: Mutex::new(None),
            location,
            sharing: false,
            recent: Mutex::default(),
            sessions: Mutex::default(),
            shared: Arc::default(),
            clock,
            warned: Mutex::default(),
            reports: tokio::sync::Semaphore::new(REPORTS_AT_ONCE),
            clients_reports: tokio::sync::Semaphore::new(REPORTS_AT_ONCE - 1),
        }
    }

    /// Opens the ledger at `path` (for `settings.enabled`), rebuilds the
    /// running totals and starts the writer. A database that cannot be
    /// opened leaves a memory-only ledger and an error in the log and in
    /// [`Self::health`]: the gateway serves either way.
    pub fn open(path: &Path, settings: &LedgerSettings, clock: Clock) -> Self {
        if !settings.enabled {
            return Self::build(None, clock);
        }
        let store = match Store::open(path) {
            Ok((store, note)) => {
                if let Some(note) = note {
                    tracing::error!("ledger: {note}");
                }
                tracing::info!("usage ledger: {}", path.display());
                store
            }
            Err(err) => {
                let ledger = Self::build(Some(Location::File(path.to_path_buf())), clock);
                let why = format!("cannot open the ledger: {err}");
                tracing::error!("{why}; usage is counted in memory only until a restart");
                ledger.shared.note_error(why);
                return ledger;
            }
        };
        Self::start(store, settings, clock)
    }

    /// Opens the ledger in the PostgreSQL database at `url` (for
    /// `settings.enabled`) and starts the writer, which connects. A
    /// database that cannot be reached is tried again with backoff while
    /// the gateway serves: rows wait in the queue meanwhile (those past
    /// its room are dropped and counted), and the budgets count what this
    /// gateway spends.
    ///
    /// With `spool_dir` (in the state directory), rows waiting for the
    /// database are kept there ([`spool`]), so a gateway stopped or killed
    /// during an outage loses none of them; without one, or one that
    /// cannot be made, they wait in memory.
    pub fn open_postgres(
        url: &StoreUrl,
        settings: &LedgerSettings,
        clock: Clock,
        spool_dir: Option<&Path>,
    ) -> Self {
        let location = Location::Postgres(url.clone());
        if !settings.enabled {
            return Self::build(None, clock);
        }
        let spool = spool_dir.and_then(|dir| match Spool::open(dir) {
            Ok(spool) => Some(spool),
            Err(err) => {
                tracing::error!(
                    "ledger: cannot keep rows for an unreachable store in {}: {err}; they wait in memory only",
                    dir.display()
                );
                None
            }
        });
        match Postgres::new(url) {
            Ok(store) => Self::start_spooled(store, settings, clock, spool),
            Err(err) => {
                let ledger = Self::build(Some(location), clock);
                tracing::error!("ledger: {err}; usage is counted in memory only until a restart");
                ledger.shared.note_error(err.to_string());
                ledger
            }
        }
    }

    /// The ledger writing into `storage`, its totals rebuilt from it (by
    /// the writer, for a shared store: its first call may wait on the
    /// network, which a caller on an async thread must not).
    pub fn start(storage: impl Storage + 'static, settings: &LedgerSettings, clock: Clock) -> Self {
        Self::start_spooled(storage, settings, clock, None)
    }

    /// [`Self::start`], rows waiting for an unreachable store kept in
    /// `spool` (and those an earlier run left there written first).
    pub fn start_spooled(
        storage: impl Storage + 'static,
        settings: &LedgerSettings,
        clock: Clock,
        spool: Option<Spool>,
    ) -> Self {
        let mut storage: Box<dyn Storage> = Box::new(storage);
        let location = storage.location();
        let mut ledger = Self::build(Some(location.clone()), clock);
        ledger.sharing = storage.shared();
        ledger
            .shared
            .sharing
            .store(ledger.sharing, Ordering::Relaxed);
        ledger
            .shared
            .spooling
            .store(spool.is_some(), Ordering::Relaxed);
        if !ledger.sharing {
            let today = day_of((ledger.clock)());
            match storage.spend_since(today - TOTAL_DAYS) {
                Ok(days) => ledger.shared.replace_base(totals_of(days)),
                Err(err) => tracing::error!("ledger: {err}; budgets count from now"),
            }
        } else if let Some(kept) = spool.as_ref().and_then(Spool::kept_spend) {
            // Until the store is read (the writer's first call, which may
            // wait on the network), the spend last counted.
            ledger.shared.replace_base(totals_of(kept));
        }
        let (sender, receiver) = mpsc::sync_channel(QUEUE_ROWS);
        let shared = ledger.shared.clone();
        let retention = Duration::from_secs(u64::from(settings.retention_days) * 86_400);
        let clock = ledger.clock.clone();
        let writer = std::thread::Builder::new()
            .name("clawgate-ledger".into())
            .spawn(move || write_rows(storage, receiver, shared, retention, clock, spool));
        match writer {
            Ok(handle) => {
                *ledger.queue.lock().unwrap() = Some(sender);
                *ledger.writer.lock().unwrap() = Some(handle);
            }
            Err(err) => {
                *ledger.shared.last_error.lock().unwrap() =
                    Some(format!("cannot start the ledger writer: {err}"));
            }
        }
        ledger
    }

    /// The SQLite file rows are written to, when they are.
    pub fn path(&self) -> Option<&Path> {
        match &self.location {
            Some(Location::File(path)) => Some(path),
            _ => None,
        }
    }

    /// Where rows are written, when they are.
    pub fn location(&self) -> Option<&Location> {
        self.location.as_ref()
    }

    /// Runs a usage report against the store, asked with an admin's key
    /// or a client's (blocking: call it from a blocking thread).
    pub fn report(&self, query: &query::Query, admin: bool) -> Result<query::Report, ReportError> {
        let location = self
            .location
            .as_ref()
            .ok_or_else(|| ReportError::Failed("the usage ledger is off".into()))?;
        let busy = |_| ReportError::Busy;
        let _running = match location {
            Location::Postgres(_) => {
                let client = (!admin)
                    .then(|| self.clients_reports.try_acquire())
                    .transpose()
                    .map_err(|_| ReportError::ClientsBusy)?;
                Some((self.reports.try_acquire().map_err(busy)?, client))
            }
            Location::File(_) => None,
        };
        report_at(location, query).map_err(ReportError::Failed)
    }

    /// With a shared store, the clients' rate counters of `rates` are
    /// exchanged with the other gateways'; without one, nothing is.
    pub fn share_rates(&self, rates: Arc<dyn RateShare>) {
        if self.sharing {
            *locked(&self.shared.rates) = Some(rates);
        }
    }

    pub fn now(&self) -> SystemTime {
        (self.clock)()
    }

    /// Records a finished request: totals and recent figures now, the row
    /// when the writer gets to it. Never blocks on the database. `budgets`
    /// are those the row counts against (to warn at 80%): the gateway's
    /// and its client's.
    pub fn record(&self, row: Row, budgets: &[&Budgets]) {
        let day = day_of_millis(row.ts_ms);
        if let Some((day, client, model, total)) = row_total(&row) {
            let provider = row.provider().unwrap_or_default();
            // The answers' series: a request its client left, or whose
            // stream broke, is counted by its attempts, not here.
            if row.succeeded() {
                metrics::usage(
                    provider,
                    model,
                    [
                        ("input", row.tokens.input),
                        ("cached", row.tokens.cached),
                        ("output", row.tokens.output),
                        ("reasoning", row.tokens.reasoning),
                    ],
                    row.cost_usd,
                    metrics::Took {
                        total: Duration::from_millis(row.total_ms),
                        first_byte: (row.head_sent())
                            .then(|| Duration::from_millis(row.first_byte_ms)),
                    },
                );
            }
            // `totals` before `pending`, as everywhere.
            let kept = [
                Some(&self.shared.totals),
                self.sharing.then_some(&self.shared.pending),
            ];
            let mut held = Vec::with_capacity(2);
            for totals in kept.into_iter().flatten() {
                let mut totals = locked(totals);
                totals.add(day, client, model, total);
                totals.forget_before(day - TOTAL_DAYS);
                held.push(totals);
            }
        }
        locked(&self.recent).add(&row);
        if row.session.is_some() {
            locked(&self.sessions).add(&row);
        }
        if row.budget_cost().is_some() {
            for budgets in budgets {
                self.warn_near_budgets(budgets, day);
            }
        }
        let queue = locked(&self.queue);
        let Some(queue) = queue.as_ref() else {
            if self.location.is_some() {
                self.shared.dropped(1, "the ledger database is not open");
            }
            return;
        };
        match queue.try_send(Message::Row(Box::new(row))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.shared.dropped(1, "the write queue is full"),
            Err(TrySendError::Disconnected(_)) => {
                self.shared.dropped(1, "the ledger writer has stopped")
            }
        }
    }

    /// Waits until every row recorded before the call is written or
    /// dropped (at most `within`). For shutdown and tests.
    pub fn flush(&self, within: Duration) -> bool {
        let (done, wait) = mpsc::channel();
        // The sender is taken out of the lock before the send, which may
        // wait for room: requests recording rows meanwhile must not wait on
        // the lock (they drop their row when the queue is full).
        let queue = locked(&self.queue).clone();
        let Some(queue) = queue else {
            return true;
        };
        let deadline = Instant::now() + within;
        let mut message = Message::Flush(done);
        loop {
            match queue.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    message = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(TrySendError::Full(_)) => return false,
            }
        }
        wait.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }

    /// Flushes and stops the writer (at shutdown), within `within` in all.
    /// Rows a shared store did not take by then are dropped, counted; a
    /// writer still at work then (a database answering slowly, a file
    /// another process holds locked) is left with the rows it holds, so
    /// that a stop ends before the service manager's kill.
    pub fn close(&self, within: Duration) {
        let deadline = Instant::now() + within;
        self.flush(within);
        self.shared.closing.store(true, Ordering::SeqCst);
        drop(locked(&self.queue).take());
        let Some(writer) = locked(&self.writer).take() else {
            return;
        };
        while !writer.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if writer.is_finished() {
            let _ = writer.join();
        } else {
            tracing::warn!(
                "usage ledger: still writing after {within:?} at shutdown; the rows it holds are left unwritten (a shared store's spooled rows are written at the next start)"
            );
        }
    }

    pub fn health(&self) -> Health {
        let writing = locked(&self.queue).is_some();
        let unreachable = locked(&self.shared.outage)
            .as_ref()
            .map(|outage| outage.since.elapsed().as_secs());
        Health {
            state: match (writing, unreachable) {
                (false, _) => "memory_only",
                (true, Some(_)) => "unreachable",
                (true, None) => "writing",
            },
            unreachable_seconds: unreachable,
            per_instance: unreachable.filter(|_| self.sharing).map(|_| PER_INSTANCE),
            path: self.path().map(Path::to_path_buf),
            store: match &self.location {
                Some(Location::Postgres(url)) => Some(url.shown().to_string()),
                _ => None,
            },
            rows_written: self.shared.written.load(Ordering::Relaxed),
            rows_dropped: self.shared.dropped.load(Ordering::Relaxed),
            segments_set_aside: self.shared.set_aside.load(Ordering::Relaxed),
            last_error: locked(&self.shared.last_error).clone(),
        }
    }

    /// Runs `f` over the running totals and the reservations (this
    /// gateway's, from `mine` when the caller holds their lock, and the
    /// others').
    fn with_spend<T>(
        &self,
        mine: Option<&Totals>,
        f: impl FnOnce(&Totals, [&Totals; 2]) -> T,
    ) -> T {
        let own;
        let mine = match mine {
            Some(mine) => mine,
            None => {
                own = locked(&self.shared.reserved);
                &*own
            }
        };
        let others = locked(&self.shared.others_reserved);
        let totals = locked(&self.shared.totals);
        f(&totals, [mine, &others])
    }

    /// Runs `f` over the running totals.
    pub fn with_totals<T>(&self, f: impl FnOnce(&Totals) -> T) -> T {
        f(&locked(&self.shared.totals))
    }

    /// The last hour's figures.
    pub fn recent(&self) -> recent::Stats {
        locked(&self.recent).stats(Instant::now())
    }

    /// The last sessions this gateway answered, the last used first.
    pub fn recent_sessions(&self) -> Vec<session::Session> {
        locked(&self.sessions).sessions()
    }

    /// A request found a budget of `budgets` spent: its warning is logged
    /// as a row's would be, once per period. The spend may have come from
    /// the other gateways' rows, read back with no row of this one's to
    /// check it, and a spent budget lets no row through.
    pub fn refused_by(&self, budgets: &[&Budgets]) {
        let day = day_of(self.now());
        for budgets in budgets {
            self.warn_near_budgets(budgets, day);
        }
    }

    /// Logs once per budget and period when its spend passes 80%.
    fn warn_near_budgets(&self, budgets: &Budgets, day: i64) {
        for state in budget::warned(self, budgets, day) {
            let key = (
                format!(
                    "{:?}{:?}{:?}",
                    state.budget.client, state.budget.scope, state.budget.period
                ),
                state.period_start,
            );
            let first = locked(&self.warned).insert(key);
            if first {
                tracing::warn!(
                    scope = state.budget.describe(),
                    period = state.budget.period.label(),
                    spent_usd = state.spent_usd,
                    limit_usd = state.budget.usd,
                    "budget: {} of the {} budget of {} for {} is spent ({}); it resets at {}",
                    percent(state.spent_usd, state.budget.usd),
                    state.budget.period.key(),
                    budget::usd(state.budget.usd),
                    state.budget.describe(),
                    budget::spent(state.spent_usd),
                    state.resets_at
                );
            }
        }
    }
}

fn percent(spent: f64, limit: f64) -> String {
    if limit <= 0.0 {
        return "all".to_string();
    }
    format!("{:.0}%", spent / limit * 100.0)
}

/// The running totals of the spend per day read from a store.
fn totals_of(days: Vec<storage::DaySpend>) -> Totals {
    let mut totals = Totals::default();
    for d in days {
        let total = DayTotal {
            requests: d.requests,
            answered: d.answered,
            fallbacks: d.fallbacks,
            cost_usd: d.cost_usd,
            uncosted: d.uncosted,
        };
        totals.add(d.day, &d.client, &d.model, total);
    }
    totals
}

/// Rows the writer holds to write: numbered batches, written in order.
/// A batch the store could not be reached for stays first and is tried
/// again as it is; one the store refused for its contents is split in two
/// (each half a new batch), until the row refused is alone and dropped.
#[derive(Default)]
struct Batches {
    waiting: std::collections::VecDeque<Waiting>,
    /// This writer's name among the batches ids: the spool's when there
    /// is one, so a batch moved there keeps its id.
    writer: u64,
    numbered: u64,
}

impl Batches {
    fn new(writer: u64) -> Self {
        Self {
            waiting: Default::default(),
            writer,
            numbered: 0,
        }
    }

    /// A new batch's id: written again under it, a batch is written once.
    fn id(&mut self) -> String {
        self.numbered += 1;
        format!("{:016x}-b{}", self.writer, self.numbered)
    }

    /// Adds `rows`, this gateway's when `ours`, as a new batch.
    fn push_back(&mut self, rows: Vec<Row>, ours: bool) {
        let id = self.id();
        self.push_back_as(id, rows, ours);
    }

    /// Adds `rows` as the batch `id`.
    fn push_back_as(&mut self, id: String, rows: Vec<Row>, ours: bool) {
        self.waiting.push_back(Waiting { id, rows, ours });
    }

    /// The first batch, split in two halves that take its place (nothing
    /// of it was written: they are new batches, as much ours as it was).
    fn split_first(&mut self) {
        let Some(Waiting {
            id,
            rows: mut first,
            ours,
        }) = self.waiting.pop_front()
        else {
            return;
        };
        let second = first.split_off(first.len() / 2);
        let halves = half_ids(&id).into_iter().zip([first, second]);
        for (id, rows) in halves.rev() {
            self.waiting.push_front(Waiting { id, rows, ours });
        }
    }

    fn rows(&self) -> usize {
        self.waiting.iter().map(|batch| batch.rows.len()).sum()
    }
}

/// The ids of the two halves of the batch `id` the store refused: the
/// same whenever it is split, so a half written before a crash, its batch
/// read again from the spool and split again, is not written twice.
fn half_ids(id: &str) -> [String; 2] {
    [format!("{id}.1"), format!("{id}.2")]
}

/// A batch waiting for the store. Only `ours` (rows this gateway
/// recorded, not a foreign segment of the spool's) has its spend in
/// `pending`, to be taken out once written.
struct Waiting {
    id: String,
    rows: Vec<Row>,
    ours: bool,
}

/// The writer thread: batches from the queue into transactions; expires old
/// rows at start and once a day. With a shared store, it also reads the
/// spend back and exchanges rate counters on their intervals; a batch the
/// store could not be reached for is kept and tried again after the
/// store's backoff, new rows waiting in the queue (those past its room
/// are dropped, counted, by [`Ledger::record`]). Every call's outcome
/// tells [`Shared::reached`] or [`Shared::unreached`] whether the store
/// is there.
fn write_rows(
    mut storage: Box<dyn Storage>,
    queue: Receiver<Message>,
    shared: Arc<Shared>,
    retention: Duration,
    clock: Clock,
    mut spool: Option<Spool>,
) {
    let sharing = storage.shared();
    let mut expired_on = None;
    let mut batches = Batches::new(
        spool
            .as_ref()
            .map_or_else(|| fastrand::u64(..), Spool::writer),
    );
    let mut flushes = Vec::new();
    let mut last_commit: Option<Instant> = None;
    let mut next_refresh = Instant::now();
    let mut next_rates = Instant::now();
    let mut kept = KeptSpend::default();
    let mut rates = RateSync::default();
    loop {
        let today = day_of(clock());
        let mut wait = Duration::from_secs(60);
        // With a shared store, what the other gateways spent and reserve
        // is read first (at start, before anything else is asked of it).
        if sharing {
            let now = Instant::now();
            if now >= next_rates {
                rates.sync(storage.as_mut(), &shared, &clock);
                share_reservations(storage.as_mut(), &shared);
                next_rates = now + RATE_SYNC;
            }
            if now >= next_refresh {
                match storage.spend_since(today - TOTAL_DAYS) {
                    Ok(days) => {
                        shared.reached();
                        shared.replace_base(totals_of(days));
                    }
                    Err(err) => shared.failed(&err),
                }
                next_refresh = now + SPEND_REFRESH;
                if let Some(spool) = &spool {
                    kept.keep(spool, &shared, now);
                }
            }
            wait = next_rates
                .min(next_refresh)
                .saturating_duration_since(Instant::now());
        }
        if expired_on != Some(today) && storage.retry_at().is_none() {
            let before = millis(clock()) - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
            match storage.expire(before) {
                Ok(n) => {
                    shared.reached();
                    if n > 0 {
                        tracing::info!(rows = n, "ledger: expired rows past ledger.retentionDays");
                    }
                    // A shared store deletes a slice at a time: the rest
                    // on the next turns, the exchanges between.
                    if storage.expired_all() {
                        expired_on = Some(today);
                    } else {
                        wait = Duration::ZERO;
                    }
                }
                // Tried again tomorrow; an outage is reported as such.
                Err(err) => {
                    expired_on = Some(today);
                    shared.failed(&err);
                }
            }
        }
        shared.still_unreached(batches.rows() + spool.as_ref().map_or(0, Spool::rows));
        if storage.retry_at().is_some() {
            // With a spool, what waits for the store waits on disk.
            if let Some(spool) = spool.as_mut() {
                hold_on_disk(spool, &mut batches, &shared);
                let mut rows = Vec::new();
                for message in queue.try_iter() {
                    match message {
                        Message::Row(row) => rows.push(*row),
                        Message::Flush(done) => flushes.push(done),
                    }
                }
                spool_rows(spool, &rows, &shared, &clock);
                for done in flushes.drain(..) {
                    let _ = done.send(());
                }
            }
            if shared.closing.load(Ordering::SeqCst) {
                let left = batches.rows()
                    + queue
                        .try_iter()
                        .filter(|m| matches!(m, Message::Row(_)))
                        .count();
                if left > 0 {
                    shared.dropped(left as u64, "the database was not reachable at shutdown");
                }
                return;
            }
            let at = storage.retry_at().unwrap_or_else(Instant::now);
            std::thread::sleep(
                at.saturating_duration_since(Instant::now())
                    .min(wait)
                    .max(Duration::from_millis(10)),
            );
            continue;
        }
        // What an earlier run or an outage spooled goes first.
        if let Some(spool) = spool.as_mut() {
            replay(spool, storage.as_mut(), &shared, &mut batches);
        }
        // Batches the store could not be reached for are tried again as
        // they are; new rows wait in the queue meanwhile.
        if batches.waiting.is_empty() {
            let first = match queue.recv_timeout(wait) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            if let Some(wait) = last_commit.and_then(|at| COMMIT_GAP.checked_sub(at.elapsed())) {
                std::thread::sleep(wait);
            }
            let mut batch = Vec::with_capacity(BATCH_ROWS);
            let mut next = Some(first);
            while let Some(message) = next.take() {
                match message {
                    Message::Row(row) => batch.push(*row),
                    Message::Flush(done) => flushes.push(done),
                }
                if batch.len() < BATCH_ROWS {
                    next = queue.try_recv().ok();
                }
            }
            match spool.as_mut() {
                // Behind rows already spooled, or while the store is
                // away: on disk, in order.
                Some(spool) if !spool.is_empty() || shared.unreached() => {
                    spool_rows(spool, &batch, &shared, &clock);
                }
                _ if !batch.is_empty() => batches.push_back(batch, true),
                _ => {}
            }
        }
        if let Some(spool) = spool.as_mut() {
            replay(spool, storage.as_mut(), &shared, &mut batches);
        }
        if !batches.waiting.is_empty() {
            last_commit = Some(Instant::now());
        }
        write_waiting(storage.as_mut(), &mut batches, spool.as_mut(), &shared);
        let spooled = spool
            .as_ref()
            .is_none_or(|spool| spool.is_empty() || shared.unreached());
        if batches.waiting.is_empty() && spooled {
            for done in flushes.drain(..) {
                let _ = done.send(());
            }
        }
    }
}

/// The spend last kept in the spool ([`Spool::keep_spend`]), and when.
#[derive(Default)]
struct KeptSpend {
    spend: Vec<storage::DaySpend>,
    at: Option<Instant>,
    /// Whether the last try failed: said once until one succeeds.
    failing: bool,
}

impl KeptSpend {
    /// Keeps what the budgets count now, at most every
    /// [`KEEP_SPEND_EVERY`], when it changed.
    fn keep(&mut self, spool: &Spool, shared: &Shared, now: Instant) {
        if self.at.is_some_and(|at| now < at + KEEP_SPEND_EVERY) {
            return;
        }
        let spend = locked(&shared.totals).as_spend();
        if spend == self.spend {
            return;
        }
        self.at = Some(now);
        match spool.keep_spend(&spend) {
            Ok(()) => (self.spend, self.failing) = (spend, false),
            Err(err) if !self.failing => {
                self.failing = true;
                tracing::warn!(
                    "ledger: cannot keep the spend counted in the state directory ({err}); a restart while the database cannot be reached would count budgets from nothing"
                );
            }
            Err(_) => {}
        }
    }
}

/// Writes the batches waiting, oldest first, until none is left or the
/// store cannot be reached (then, with a spool, they wait on disk). A
/// batch of ours written takes its spend out of `pending`, with a shared
/// store.
fn write_waiting(
    storage: &mut dyn Storage,
    batches: &mut Batches,
    mut spool: Option<&mut Spool>,
    shared: &Shared,
) {
    while let Some(batch) = batches.waiting.front() {
        match storage.write_once(&batch.id, &batch.rows) {
            Ok(()) => {
                shared.wrote(&batch.rows, batch.ours && storage.shared());
                batches.waiting.pop_front();
            }
            Err(err @ (StorageError::Unreached(_) | StorageError::NotNow(_))) => {
                shared.failed(&err);
                if let Some(spool) = spool.as_deref_mut() {
                    hold_on_disk(spool, batches, shared);
                }
                return;
            }
            Err(StorageError::Refused(_)) if batch.rows.len() > 1 => batches.split_first(),
            // The store refused the rows (this one alone, when it
            // refused it for its contents); their spend stays in
            // `pending`, so a shared store's budgets go on counting it.
            Err(err) => {
                shared.dropped(batch.rows.len() as u64, &err.to_string());
                batches.waiting.pop_front();
            }
        }
    }
}

/// Adds `rows` to the spool; those past its room are dropped, counted.
fn spool_rows(spool: &mut Spool, rows: &[Row], shared: &Shared, clock: &Clock) {
    let lost = spool.append(rows, millis(clock()));
    if lost > 0 {
        shared.dropped(lost as u64, "the spool for an unreachable store is full");
    }
}

/// Moves the batches held for the store to the spool, each a segment
/// under its own id: one whose commit may have happened unheard is still
/// written once. What does not fit is dropped, counted.
fn hold_on_disk(spool: &mut Spool, batches: &mut Batches, shared: &Shared) {
    for Waiting { id, rows, ours } in batches.waiting.drain(..) {
        if !spool.hold(&id, &rows, ours) {
            shared.dropped(
                rows.len() as u64,
                "the spool for an unreachable store is full",
            );
        }
    }
}

/// Writes the spool's sealed segments, oldest first, each under its own
/// id, then (once the store answers) the one rows were being added to,
/// until it is empty or the store cannot be reached.
fn replay(spool: &mut Spool, storage: &mut dyn Storage, shared: &Shared, batches: &mut Batches) {
    while storage.retry_at().is_none() {
        let Some(segment) = spool.first() else {
            if spool.is_empty() || shared.unreached() {
                return;
            }
            spool.seal();
            continue;
        };
        let Segment {
            id,
            mut rows,
            ours,
            torn,
        } = match segment {
            Ok(segment) => segment,
            Err(err) => {
                spool.set_aside_first();
                shared.set_aside.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    set_aside = spool.set_aside(),
                    "ledger: a spooled segment cannot be read ({err}); it is left on disk and \
                     its rows are not written"
                );
                continue;
            }
        };
        if torn > 0 {
            shared.dropped(torn as u64, "a spooled line was cut short or is no row");
        }
        match storage.write_once(&id, &rows) {
            Ok(()) => shared.wrote(&rows, ours && storage.shared()),
            Err(err @ (StorageError::Unreached(_) | StorageError::NotNow(_))) => {
                shared.failed(&err);
                return;
            }
            // Split as any batch is, each half a segment of its own on
            // disk before this one goes (in memory where the spool has no
            // room): a kill meanwhile loses none of them.
            Err(StorageError::Refused(_)) if rows.len() > 1 => {
                let second = rows.split_off(rows.len() / 2);
                for (id, half) in half_ids(&id).into_iter().zip([rows, second]) {
                    if !spool.hold(&id, &half, ours) {
                        batches.push_back_as(id, half, ours);
                    }
                }
            }
            Err(err) => shared.dropped(rows.len() as u64, &err.to_string()),
        }
        spool.done_first();
    }
}

/// Sends this gateway's reservations (budgets' and, through the
/// admission's [`RateShare`], tokens') and takes the other gateways' (each
/// gateway's as of its last exchange) in place of those seen before. While
/// the store cannot be reached, the last ones seen are kept.
fn share_reservations(storage: &mut dyn Storage, shared: &Shared) {
    let spend: Vec<storage::DaySpend> = locked(&shared.reserved)
        .clients
        .iter()
        .map(|((client, day, model), total)| storage::DaySpend {
            day: *day,
            client: client.clone(),
            model: model.clone(),
            requests: total.requests,
            fallbacks: 0,
            cost_usd: total.cost_usd,
            uncosted: 0,
            answered: 0,
        })
        .collect();
    let rates = locked(&shared.rates).clone();
    let tokens = rates.as_ref().map_or_else(Vec::new, |rates| {
        (rates.reserved_tokens().into_iter())
            .map(|(client, tokens)| (client.to_string(), tokens))
            .collect()
    });
    // Unreached, the others' last reservations are forgotten, as the
    // store forgets them: budgets and limits then count this instance's
    // own, as they do for spend while the store is away.
    let others = storage
        .share_reservations(&Reservations { spend, tokens })
        .unwrap_or_else(|err| {
            shared.note_error(err.to_string());
            Reservations::default()
        });
    *locked(&shared.others_reserved) = totals_of(others.spend);
    if let Some(rates) = rates {
        rates.others_reserved_tokens(&others.tokens.into_iter().collect());
    }
}

/// The writer's side of sharing the clients' rate limits: what this
/// gateway counted and could not send yet, and what it has seen of the
/// others' counts per client and minute.
#[derive(Default)]
struct RateSync {
    unsent: HashMap<(Arc<str>, i64), (u64, u64)>,
    seen: HashMap<(String, i64), (u64, u64)>,
}

impl RateSync {
    /// Sends this gateway's counts and charges the others' new ones to the
    /// local limits: each gateway's buckets then hold every gateway's use,
    /// one sync late.
    fn sync(&mut self, storage: &mut dyn Storage, shared: &Shared, clock: &Clock) {
        let Some(rates) = locked(&shared.rates).clone() else {
            return;
        };
        let window = millis(clock()).div_euclid(60_000);
        for (client, requests, tokens) in rates.take_local() {
            let sum = self.unsent.entry((client, window)).or_default();
            sum.0 = sum.0.saturating_add(requests);
            sum.1 = sum.1.saturating_add(tokens);
        }
        // Counts older than the last minute no longer limit anyone.
        self.unsent.retain(|(_, w), _| *w >= window - 1);
        let sent: Vec<RateCount> = self
            .unsent
            .iter()
            .map(|((client, w), (requests, tokens))| RateCount {
                client: client.to_string(),
                window: *w,
                requests: *requests,
                tokens: *tokens,
            })
            .collect();
        match storage.sync_rates(&sent, window - 1) {
            Ok(others) => {
                shared.reached();
                self.unsent.clear();
                for count in others {
                    let seen = self
                        .seen
                        .entry((count.client.clone(), count.window))
                        .or_default();
                    let requests = count.requests.saturating_sub(seen.0);
                    let tokens = count.tokens.saturating_sub(seen.1);
                    if requests > 0 || tokens > 0 {
                        rates.charge_others(&count.client, requests, tokens);
                    }
                    *seen = (seen.0.max(count.requests), seen.1.max(count.tokens));
                }
                self.seen.retain(|(_, w), _| *w >= window - 1);
            }
            // The counts surely did not arrive: they go with the next sync.
            Err(err @ StorageError::Unreached(_)) => shared.failed(&err),
            // They may have arrived: sent again they could count twice,
            // which would limit clients below their limits; a sync's worth
            // left out errs the other way, for one minute at most.
            Err(err) => {
                self.unsent.clear();
                shared.failed(&err);
            }
        }
    }
}

/// What a call cost at `price` (USD per million tokens): uncached input,
/// cache reads and cache writes (each at the input price when it has no
/// price of its own; `input` counts both, as OpenAI's `prompt_tokens`
/// does) and output.
/// `None` for a model without a price: unknown, not free (a price of
/// zero is free: `Some(0.0)`). [`call_cost`] weighs it against a
/// provider's own figure.
pub fn price_usd(
    price: Option<&Cost>,
    input: u64,
    cached: u64,
    written: u64,
    output: u64,
) -> Option<f64> {
    let price = price?;
    let cached = cached.min(input);
    let written = written.min(input - cached);
    let or_input = |rate: f64| if rate > 0.0 { rate } else { price.input };
    Some(
        ((input - cached - written) as f64 * price.input
            + cached as f64 * or_input(price.cache_read)
            + written as f64 * or_input(price.cache_write)
            + output as f64 * price.output)
            / 1_000_000.0,
    )
}

/// What a call to a model is counted by: its prices, and the most tokens
/// one call to it can use.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pricing {
    pub price: Option<Cost>,
    pub context_window: Option<u64>,
}

/// The most tokens a call to a model of no known context window can
/// have used; a model's own bound is twice its window.
const MOST_TOKENS_OF_NO_KNOWN_WINDOW: u64 = 4_000_000;

impl Pricing {
    pub fn of(model: &crate::config::Model) -> Self {
        Self {
            price: model.cost,
            context_window: model.context_window,
        }
    }

    /// The most tokens one call can use: twice the context window, else
    /// [`MOST_TOKENS_OF_NO_KNOWN_WINDOW`].
    pub fn most_tokens(&self) -> u64 {
        (self.context_window).map_or(MOST_TOKENS_OF_NO_KNOWN_WINDOW, |window| {
            window.saturating_mul(2)
        })
    }

    /// Whether `usage` is what one call could have used: a faulty or
    /// hostile provider's counts would be priced as given and spend every
    /// budget. Usage past it is no usage, in the ledger and in the answer.
    pub fn takes(&self, usage: &Usage) -> bool {
        usage.input.saturating_add(usage.output) <= self.most_tokens()
    }

    /// [`call_cost`] of `usage`, when it [`Self::takes`] it.
    pub fn cost(&self, usage: Option<&Usage>) -> Option<f64> {
        call_cost(usage.filter(|usage| self.takes(usage)), self.price.as_ref())
    }
}

/// What a call cost: from the answering model's configured `price` and
/// the reported tokens, or as the provider reported it (`usage.cost`,
/// when no more than $1,000 per million of its tokens), whichever is
/// higher; `None` when neither is known. A provider's answer never lowers
/// what the user's prices say a call cost, so a reported `cost: 0` cannot
/// take a priced call past a budget. The ledger's row and the `cost` an
/// answer's usage shows (`providers::response`) are both this.
pub fn call_cost(usage: Option<&Usage>, price: Option<&Cost>) -> Option<f64> {
    let usage = usage?;
    // A reported cost past what any model's tokens cost (this many
    // dollars a token) is no cost: priced as given, it would spend every
    // budget, and stay in the day's totals.
    const MOST_USD_PER_TOKEN: f64 = 0.001;
    let most = usage.input.saturating_add(usage.output) as f64 * MOST_USD_PER_TOKEN;
    let reported = (usage.cost).filter(|c| c.is_finite() && *c >= 0.0 && *c <= most);
    let priced = price_usd(
        price,
        usage.input,
        usage.cache_read.unwrap_or(0),
        usage.cache_written.unwrap_or(0),
        usage.output,
    );
    match (reported, priced) {
        (Some(reported), Some(priced)) => Some(reported.max(priced)),
        (reported, priced) => reported.or(priced),
    }
}

/// `ledger.path`, else `ledger.db` in the state directory.
pub fn default_path(settings: &LedgerSettings, state_dir: Option<&Path>) -> Option<PathBuf> {
    settings
        .path
        .clone()
        .or_else(|| state_dir.map(|dir| dir.join("ledger.db")))
}

/// Runs a usage report against the store at `location`, on a connection of
/// its own (blocking: from a blocking thread or the command line).
pub fn report_at(location: &Location, query: &query::Query) -> Result<query::Report, String> {
    match location {
        Location::File(path) => {
            let conn = store::open_read_only(path).map_err(|e| e.to_string())?;
            query::run(&conn, query).map_err(|e| format!("{}: {e}", path.display()))
        }
        // On a thread of its own: the client blocks on a runtime of its
        // own, which a thread of another runtime (the command line's, a
        // blocking task's) must not.
        Location::Postgres(url) => std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let mut store = Postgres::new(url)?;
                    store.report(query)
                })
                .join()
                .map_err(|_| "the usage report failed".to_string())?
                .map_err(|e| e.to_string())
        }),
    }
}

/// Connects to a PostgreSQL store and reads from it as the writer would
/// (bringing its schema up to date first, as the writer does): for
/// `clawgate doctor --probe`. `Ok` when it answered.
pub fn probe(url: &StoreUrl) -> Result<(), String> {
    // On a thread of its own, as `report_at` is.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let mut store = Postgres::new(url)?;
                store.spend_since(i64::MAX).map(drop)
            })
            .join()
            .map_err(|_| "the probe failed".to_string())?
            .map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests;
