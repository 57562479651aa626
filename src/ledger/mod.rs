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
//! the rollups at start, so budgets hold across restarts.

pub mod budget;
pub mod calendar;
pub mod client;
pub mod query;
pub mod recent;
pub mod store;
pub mod summary;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use self::calendar::{day_of, day_of_millis, millis};
use self::recent::Recent;
use self::store::Store;
use crate::config::Cost;
use crate::config::ledger::{Budgets, LedgerSettings};
use crate::ops::metrics;

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
    /// `complete`, `client_left`, `body_error`.
    pub end: &'static str,
    pub first_byte_ms: u64,
    pub total_ms: u64,
    pub tokens: Tokens,
    /// `None` when the provider sent no usage or the model has no price.
    pub cost_usd: Option<f64>,
    /// What budgets count when `cost_usd` is `None` but the model has a
    /// price: an estimate from the bytes sent each way, never written to the
    /// database (a client that leaves before the usage chunk still spends).
    pub budget_estimate_usd: Option<f64>,
    /// The calling program's family from its `User-Agent` (`openclaw`,
    /// `claude-code`, `codex`, ...).
    pub agent: &'static str,
    /// The client whose key the request presented (`gateway.clients`,
    /// `token` for `gateway.auth.token`, `anonymous` without a key).
    pub client: Arc<str>,
}

impl Row {
    pub fn provider(&self) -> Option<&str> {
        self.answered_by
            .as_deref()
            .and_then(|r| r.split_once('/'))
            .map(|(p, _)| p)
    }

    pub fn succeeded(&self) -> bool {
        self.answered_by.is_some() && self.status < 400 && self.end != "body_error"
    }

    /// Answered by a target after an earlier one failed or was skipped.
    pub fn fallback(&self) -> bool {
        self.answered_by.is_some() && self.attempts.len() > 1
    }

    /// The chain's first target did not answer.
    pub fn primary_failed(&self) -> bool {
        self.attempts.first().is_some_and(|a| !a.ends_with(":ok"))
    }

    /// Answered, but with no cost known.
    pub fn uncosted(&self) -> bool {
        self.answered_by.is_some() && self.cost_usd.is_none()
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
    pub requests: u64,
    pub fallbacks: u64,
    pub cost_usd: f64,
    pub uncosted: u64,
}

impl DayTotal {
    fn add(&mut self, total: DayTotal) {
        self.requests += total.requests;
        self.fallbacks += total.fallbacks;
        self.cost_usd += total.cost_usd;
        self.uncosted += total.uncosted;
    }
}

impl Totals {
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

    /// The spend of every model `covers` accepts, from `first_day` on.
    pub fn spent(&self, first_day: i64, covers: impl Fn(&str) -> bool) -> f64 {
        self.since(None, first_day, covers).cost_usd
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
    /// `writing`, or `memory_only` (disabled, or the database could not
    /// be opened).
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    pub rows_written: u64,
    pub rows_dropped: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The ledger. Cheap to share; every method is safe to call from a
/// request.
pub struct Ledger {
    queue: Mutex<Option<SyncSender<Message>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    path: Option<PathBuf>,
    totals: Mutex<Totals>,
    recent: Mutex<Recent>,
    shared: Arc<Shared>,
    clock: Clock,
    /// Budgets already warned about at 80%: (budget index text, period start).
    warned: Mutex<std::collections::HashSet<(String, i64)>>,
}

/// What the writer thread and the request path both update.
#[derive(Default)]
struct Shared {
    written: AtomicU64,
    dropped: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// When a drop was last logged: one line a minute at most.
    last_drop_log: Mutex<Option<Instant>>,
}

impl Shared {
    fn dropped(&self, rows: u64, why: &str) {
        self.dropped.fetch_add(rows, Ordering::Relaxed);
        metrics::ledger_rows("dropped", rows);
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(why.to_string());
        let mut last = self
            .last_drop_log
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
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

    fn build(path: Option<PathBuf>, clock: Clock) -> Self {
        Self {
            queue: Mutex::new(None),
            writer: Mutex::new(None),
            path,
            totals: Mutex::default(),
            recent: Mutex::default(),
            shared: Arc::default(),
            clock,
            warned: Mutex::default(),
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
                store
            }
            Err(err) => {
                let ledger = Self::build(Some(path.to_path_buf()), clock);
                let why = format!("cannot open the ledger: {err}");
                tracing::error!("{why}; usage is counted in memory only until a restart");
                *ledger.shared.last_error.lock().unwrap() = Some(why);
                return ledger;
            }
        };
        Self::start(store, settings, clock)
    }

    /// The ledger writing into `store`, its totals rebuilt from it.
    pub fn start(store: Store, settings: &LedgerSettings, clock: Clock) -> Self {
        let path = store.path().to_path_buf();
        let ledger = Self::build(Some(path.clone()), clock);
        let today = day_of((ledger.clock)());
        match store.spend_since(today - TOTAL_DAYS) {
            Ok(days) => {
                let mut totals = ledger.totals.lock().unwrap();
                for d in days {
                    let total = DayTotal {
                        requests: d.requests,
                        fallbacks: d.fallbacks,
                        cost_usd: d.cost_usd,
                        uncosted: d.uncosted,
                    };
                    totals.add(d.day, &d.client, &d.model, total);
                }
            }
            Err(err) => tracing::error!(
                "ledger: cannot read the running totals from {}: {err}; budgets count from now",
                path.display()
            ),
        }
        let (sender, receiver) = mpsc::sync_channel(QUEUE_ROWS);
        let shared = ledger.shared.clone();
        let retention = Duration::from_secs(u64::from(settings.retention_days) * 86_400);
        let clock = ledger.clock.clone();
        let writer = std::thread::Builder::new()
            .name("clawgate-ledger".into())
            .spawn(move || write_rows(store, receiver, shared, retention, clock));
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

    /// Where rows are written, when they are.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
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
        if let Some(model) = &row.answered_by {
            let provider = row.provider().unwrap_or_default();
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
                    first_byte: Duration::from_millis(row.first_byte_ms),
                },
            );
            let mut totals = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
            totals.add(
                day,
                &row.client,
                model,
                DayTotal {
                    requests: 1,
                    fallbacks: u64::from(row.fallback()),
                    cost_usd: row.budget_cost().unwrap_or(0.0),
                    uncosted: u64::from(row.uncosted()),
                },
            );
            totals.forget_before(day - TOTAL_DAYS);
        }
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(&row);
        if row.budget_cost().is_some() {
            for budgets in budgets {
                self.warn_near_budgets(budgets, day);
            }
        }
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(queue) = queue.as_ref() else {
            if self.path.is_some() {
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
        let queue = self
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
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

    /// Flushes and stops the writer (at shutdown).
    pub fn close(&self, within: Duration) {
        self.flush(within);
        drop(
            self.queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        if let Some(writer) = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = writer.join();
        }
    }

    pub fn health(&self) -> Health {
        let writing = self
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        Health {
            state: if writing { "writing" } else { "memory_only" },
            path: self.path.clone(),
            rows_written: self.shared.written.load(Ordering::Relaxed),
            rows_dropped: self.shared.dropped.load(Ordering::Relaxed),
            last_error: self
                .shared
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// Runs `f` over the running totals.
    pub fn with_totals<T>(&self, f: impl FnOnce(&Totals) -> T) -> T {
        f(&self.totals.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The last hour's figures.
    pub fn recent(&self) -> recent::Stats {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stats(Instant::now())
    }

    /// Logs once per budget and period when its spend passes 80%.
    fn warn_near_budgets(&self, budgets: &Budgets, day: i64) {
        for state in budget::states(self, budgets, day) {
            if !state.warning {
                continue;
            }
            let key = (
                format!(
                    "{:?}{:?}{:?}",
                    state.budget.client, state.budget.scope, state.budget.period
                ),
                state.period_start,
            );
            let first = self
                .warned
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key);
            if first {
                tracing::warn!(
                    scope = state.budget.describe(),
                    period = state.budget.period.label(),
                    spent_usd = state.spent_usd,
                    limit_usd = state.budget.usd,
                    "budget: {} of the {} budget of ${:.2} for {} is spent (${:.4}); it resets at {}",
                    percent(state.spent_usd, state.budget.usd),
                    state.budget.period.key(),
                    state.budget.usd,
                    state.budget.describe(),
                    state.spent_usd,
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

/// The writer thread: batches from the queue into transactions; expires old
/// rows at start and once a day.
fn write_rows(
    mut store: Store,
    queue: Receiver<Message>,
    shared: Arc<Shared>,
    retention: Duration,
    clock: Clock,
) {
    let mut expired_on = None;
    let mut batch: Vec<Row> = Vec::with_capacity(BATCH_ROWS);
    let mut flushes = Vec::new();
    let mut last_commit: Option<Instant> = None;
    loop {
        let today = day_of(clock());
        if expired_on != Some(today) {
            expired_on = Some(today);
            let before = millis(clock()) - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
            match store.expire(before) {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "ledger: expired rows past ledger.retentionDays"),
                Err(err) => tracing::warn!(
                    "ledger: cannot expire old rows in {}: {err}",
                    store.path().display()
                ),
            }
        }
        let first = match queue.recv_timeout(Duration::from_secs(60)) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if let Some(wait) = last_commit.and_then(|at| COMMIT_GAP.checked_sub(at.elapsed())) {
            std::thread::sleep(wait);
        }
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
        if !batch.is_empty() {
            last_commit = Some(Instant::now());
            match store.write(&batch) {
                Ok(()) => {
                    shared
                        .written
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    metrics::ledger_rows("written", batch.len() as u64);
                }
                Err(err) => shared.dropped(
                    batch.len() as u64,
                    &format!("cannot write {}: {err}", store.path().display()),
                ),
            }
            batch.clear();
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// What a call cost at `price` (USD per million tokens): uncached input,
/// cache reads (at the input price when no cache price is set) and output.
/// `None` for a model without a price: unknown, not free (a price of
/// zero is free: `Some(0.0)`). The same rule as the `cost` the gateway
/// adds to a usage object, which is written with it
/// (`providers::response`).
pub fn price_usd(price: Option<&Cost>, input: u64, cached: u64, output: u64) -> Option<f64> {
    let price = price?;
    let cached = cached.min(input);
    let cache_rate = if price.cache_read > 0.0 {
        price.cache_read
    } else {
        price.input
    };
    Some(
        ((input - cached) as f64 * price.input
            + cached as f64 * cache_rate
            + output as f64 * price.output)
            / 1_000_000.0,
    )
}

/// `ledger.path`, else `ledger.db` in the state directory.
pub fn default_path(settings: &LedgerSettings, state_dir: Option<&Path>) -> Option<PathBuf> {
    settings
        .path
        .clone()
        .or_else(|| state_dir.map(|dir| dir.join("ledger.db")))
}

#[cfg(test)]
mod tests;
