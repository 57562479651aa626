//! The ledger in PostgreSQL (`ledger.store`), shared by several gateways:
//! raw rows and daily rollups as in the SQLite ledger, the batches written
//! (`clawgate_batches`, so a batch is written once), and each client's
//! requests and tokens per minute and gateway (`clawgate_rates`), through
//! which the gateways share the clients' rate limits, and each gateway's
//! reservations in flight (`clawgate_reservations` for budgets,
//! `clawgate_token_reservations` for tokens, replaced at each exchange).
//!
//! Only the ledger's writer thread calls it (and reports, on a connection
//! of their own), so no request waits on the database. Every call has a
//! deadline ([`CALL_TIMEOUT`]); a failed connection is dropped and made
//! again after a backoff doubling from 200 ms to 5 s, during which calls
//! fail at once. The client runs on a single-threaded Tokio runtime of its
//! own, driven by the thread that calls.
//!
//! No TLS: the database is reached over a Unix socket or on localhost
//! (`sslmode=require` is refused by the config).
//!
//! The schema is versioned as the SQLite ledger's is (`clawgate_schema`
//! holds the version); migrations run under an advisory lock, so gateways
//! starting together apply each one once.

use std::cell::Cell;
use std::str::FromStr;
use std::time::{Duration, Instant};

use tokio_postgres::error::Severity;
use tokio_postgres::{Client, Config};

use super::pg_io::{ConnectError, connect};
use super::query::{self, Query, Report, SUMS};
use super::storage::{
    DaySpend, Location, RateCount, Reservations, Storage, StorageError, storable_rows, to_i64,
};
use super::store::rollups;
use super::{Row, session};
use crate::config::ledger::StoreUrl;
use crate::ops::redact::Redactor;
use crate::ops::with_causes;

/// The most any one call may take, connecting aside.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// The most connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The most bringing the schema up to date may take: another gateway may
/// hold the lock while it migrates.
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(10);
/// The most a statement may wait for a lock: less than [`CALL_TIMEOUT`],
/// so the server gives up with a message saying why before the client
/// does.
const LOCK_TIMEOUT: Duration = Duration::from_secs(1);
/// The most a transaction may stay open with nothing running in it: ours
/// never pause, so one that does (a gateway stopped mid-call) is ended
/// before it holds up the others' writes.
const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(5);
/// The first wait after a failure; each failure in a row doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The advisory lock migrations hold ("clawgate" in ASCII).
const MIGRATION_LOCK: i64 = 0x636c_6177_6761_7465;
/// What a call that could not connect failed to do, whatever it was for.
const CONNECT: &str = "connect to";
/// Old rows are deleted this many at a time, and a call ends once it has
/// deleted [`EXPIRE_ROUNDS`] times as many: the writer exchanges
/// reservations, rate counts and spend with the other gateways between its
/// calls.
const EXPIRE_ROWS: u64 = 20_000;
const EXPIRE_ROUNDS: u64 = 2;
/// Rate counters older than this many minutes are deleted.
const RATE_MINUTES_KEPT: i64 = 10;

/// The schema's versions, in order; `clawgate_schema.applied` says how
/// many are applied, and `clawgate_schema.version` which version a gateway
/// must know to use the database ([`required`]: the last one applied that
/// is not [`ADDITIVE`]). A database from before `applied` has `version`
/// applied.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: rows, daily rollups and the clients' rate counters.
    "
CREATE TABLE clawgate_requests (
    id BIGSERIAL PRIMARY KEY,
    ts_ms BIGINT NOT NULL,
    request_id TEXT,
    front_end TEXT NOT NULL,
    model_asked TEXT,
    answered_by TEXT,
    provider TEXT,
    attempts TEXT,
    fallback BOOLEAN NOT NULL,
    primary_failed BOOLEAN NOT NULL,
    status INTEGER NOT NULL,
    end_state TEXT NOT NULL,
    first_byte_ms BIGINT NOT NULL,
    total_ms BIGINT NOT NULL,
    tokens_in BIGINT,
    tokens_cached BIGINT,
    tokens_out BIGINT,
    tokens_reasoning BIGINT,
    cost_usd DOUBLE PRECISION,
    agent TEXT NOT NULL,
    client TEXT NOT NULL
);
CREATE INDEX clawgate_requests_ts ON clawgate_requests (ts_ms);
CREATE TABLE clawgate_daily (
    day BIGINT NOT NULL,
    front_end TEXT NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    agent TEXT NOT NULL,
    client TEXT NOT NULL,
    requests BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    fallbacks BIGINT NOT NULL,
    primary_failures BIGINT NOT NULL,
    fallback_cost_usd DOUBLE PRECISION NOT NULL,
    tokens_in BIGINT NOT NULL,
    tokens_cached BIGINT NOT NULL,
    tokens_out BIGINT NOT NULL,
    tokens_reasoning BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    uncosted BIGINT NOT NULL,
    total_ms BIGINT NOT NULL,
    PRIMARY KEY (day, front_end, model, provider, agent, client)
);
CREATE TABLE clawgate_rates (
    client TEXT NOT NULL,
    window_minute BIGINT NOT NULL,
    instance TEXT NOT NULL,
    requests BIGINT NOT NULL,
    tokens BIGINT NOT NULL,
    PRIMARY KEY (client, window_minute, instance)
);
",
    // 2: the batches written, so one written again after a commit whose
    // answer was lost is not written twice.
    "
CREATE TABLE clawgate_batches (
    id TEXT PRIMARY KEY,
    ts_ms BIGINT NOT NULL
);
CREATE INDEX clawgate_batches_ts ON clawgate_batches (ts_ms);
",
    // 3: what budgets count, `budget_cost_usd`: the cost, or the estimate
    // of an answer whose provider reported no usage (rows from before
    // counted their cost only); each gateway's budget reservations.
    "
ALTER TABLE clawgate_daily ADD COLUMN budget_cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0;
UPDATE clawgate_daily SET budget_cost_usd = cost_usd;
CREATE TABLE clawgate_reservations (
    instance TEXT NOT NULL,
    client TEXT NOT NULL,
    day BIGINT NOT NULL,
    model TEXT NOT NULL,
    requests BIGINT NOT NULL,
    usd DOUBLE PRECISION NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (instance, client, day, model)
);
CREATE TABLE clawgate_token_reservations (
    instance TEXT NOT NULL,
    client TEXT NOT NULL,
    tokens BIGINT NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (instance, client)
);
",
    // 4 (additive): each row's session and cache writes, and each
    // session's rollup per client and target that answered ('' for
    // none), expired with the rows by its last turn. Older gateways leave
    // the new columns empty and never read the new table.
    "
ALTER TABLE clawgate_requests ADD COLUMN session TEXT;
ALTER TABLE clawgate_requests ADD COLUMN tokens_written BIGINT;
CREATE TABLE clawgate_sessions (
    client TEXT NOT NULL,
    session TEXT NOT NULL,
    target TEXT NOT NULL,
    first_ms BIGINT NOT NULL,
    last_ms BIGINT NOT NULL,
    turns BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    tokens_in BIGINT NOT NULL,
    tokens_cached BIGINT NOT NULL,
    tokens_written BIGINT NOT NULL,
    tokens_out BIGINT NOT NULL,
    uncosted BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    uncached_cost_usd DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (client, session, target)
);
CREATE INDEX clawgate_sessions_last ON clawgate_sessions (last_ms);
",
];

/// The versions that only add what gateways of the version before
/// neither write nor read (a nullable column, a table of their own):
/// those go on using the database beside newer ones, as in a rolling
/// upgrade, since the version they check does not move.
const ADDITIVE: &[usize] = &[4];

/// The version a gateway must know to use a database with the first
/// `applied` versions applied.
fn required(applied: usize) -> usize {
    (1..=applied)
        .rev()
        .find(|v| !ADDITIVE.contains(v))
        .unwrap_or(0)
}

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

const INSERT_ROWS: &str = "INSERT INTO clawgate_requests (ts_ms, request_id, front_end, \
    model_asked, answered_by, provider, attempts, fallback, primary_failed, status, end_state, \
    first_byte_ms, total_ms, tokens_in, tokens_cached, tokens_out, tokens_reasoning, cost_usd, \
    agent, client, session, tokens_written) SELECT * FROM UNNEST($1::int8[], $2::text[], \
    $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bool[], $9::bool[], \
    $10::int4[], $11::text[], $12::int8[], $13::int8[], $14::int8[], $15::int8[], $16::int8[], \
    $17::int8[], $18::float8[], $19::text[], $20::text[], $21::text[], $22::int8[])";

/// A session's rollup, as [`UPSERT_DAYS`] a day's.
const UPSERT_SESSIONS: &str = "INSERT INTO clawgate_sessions AS s (client, session, target, \
    first_ms, last_ms, turns, failures, tokens_in, tokens_cached, tokens_written, tokens_out, \
    uncosted, cost_usd, uncached_cost_usd) SELECT * FROM UNNEST($1::text[], $2::text[], \
    $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::int8[], $9::int8[], \
    $10::int8[], $11::int8[], $12::int8[], $13::float8[], $14::float8[]) \
    ON CONFLICT (client, session, target) DO UPDATE SET \
    first_ms = LEAST(s.first_ms, excluded.first_ms), \
    last_ms = GREATEST(s.last_ms, excluded.last_ms), \
    turns = s.turns + excluded.turns, failures = s.failures + excluded.failures, \
    tokens_in = LEAST(s.tokens_in::numeric + excluded.tokens_in, 9223372036854775807), \
    tokens_cached = LEAST(s.tokens_cached::numeric + excluded.tokens_cached, \
    9223372036854775807), \
    tokens_written = LEAST(s.tokens_written::numeric + excluded.tokens_written, \
    9223372036854775807), \
    tokens_out = LEAST(s.tokens_out::numeric + excluded.tokens_out, 9223372036854775807), \
    uncosted = s.uncosted + excluded.uncosted, cost_usd = s.cost_usd + excluded.cost_usd, \
    uncached_cost_usd = s.uncached_cost_usd + excluded.uncached_cost_usd";

/// Counts are capped when written (`storage::MAX_COUNT`), and their sums
/// saturate, as in the SQLite ledger: a day's rollup that overflowed would
/// refuse every later batch with a row for it.
const UPSERT_DAYS: &str = "INSERT INTO clawgate_daily AS d (day, front_end, model, provider, \
    agent, client, requests, failures, fallbacks, primary_failures, fallback_cost_usd, tokens_in, \
    tokens_cached, tokens_out, tokens_reasoning, cost_usd, uncosted, total_ms, budget_cost_usd) \
    SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
    $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::float8[], $12::int8[], $13::int8[], \
    $14::int8[], $15::int8[], $16::float8[], $17::int8[], $18::int8[], $19::float8[]) \
    ON CONFLICT (day, front_end, model, provider, agent, client) DO UPDATE SET \
    requests = d.requests + excluded.requests, failures = d.failures + excluded.failures, \
    fallbacks = d.fallbacks + excluded.fallbacks, \
    primary_failures = d.primary_failures + excluded.primary_failures, \
    fallback_cost_usd = d.fallback_cost_usd + excluded.fallback_cost_usd, \
    tokens_in = LEAST(d.tokens_in::numeric + excluded.tokens_in, 9223372036854775807), \
    tokens_cached = LEAST(d.tokens_cached::numeric + excluded.tokens_cached, \
    9223372036854775807), \
    tokens_out = LEAST(d.tokens_out::numeric + excluded.tokens_out, 9223372036854775807), \
    tokens_reasoning = LEAST(d.tokens_reasoning::numeric + excluded.tokens_reasoning, \
    9223372036854775807), \
    cost_usd = d.cost_usd + excluded.cost_usd, uncosted = d.uncosted + excluded.uncosted, \
    total_ms = LEAST(d.total_ms::numeric + excluded.total_ms, 9223372036854775807), \
    budget_cost_usd = d.budget_cost_usd + excluded.budget_cost_usd";

const UPSERT_RATES: &str = "INSERT INTO clawgate_rates AS r (client, window_minute, instance, \
    requests, tokens) SELECT c, w, $5, n, t FROM UNNEST($1::text[], $2::int8[], $3::int8[], \
    $4::int8[]) AS u(c, w, n, t) ON CONFLICT (client, window_minute, instance) DO UPDATE SET \
    requests = r.requests + excluded.requests, tokens = r.tokens + excluded.tokens";

const OTHERS_RATES: &str = "SELECT client, window_minute, SUM(requests)::int8, \
    SUM(tokens)::int8 FROM clawgate_rates WHERE window_minute >= $1 AND instance <> $2 \
    GROUP BY client, window_minute";

/// How long a gateway's reservations count once it stopped exchanging
/// them (stopped, killed, cut off): twenty exchanges.
const RESERVATIONS_KEPT: &str = "5 seconds";

const INSERT_TOKEN_RESERVATIONS: &str = "INSERT INTO clawgate_token_reservations (instance, \
    client, tokens) SELECT $1, * FROM UNNEST($2::text[], $3::int8[])";

const INSERT_RESERVATIONS: &str = "INSERT INTO clawgate_reservations (instance, client, day, \
    model, requests, usd) SELECT $1, * FROM UNNEST($2::text[], $3::int8[], $4::text[], \
    $5::int8[], $6::float8[])";

/// The ledger's PostgreSQL database.
pub struct Postgres {
    url: StoreUrl,
    config: Config,
    /// Keeps the password out of every message.
    redactor: Redactor,
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    backoff: Duration,
    retry_at: Option<Instant>,
    /// Why the store could not be reached, said again while backing off.
    unreached_why: Option<String>,
    /// This gateway's name among those counting rates: random per process.
    instance: String,
    rates_cleaned: Option<Instant>,
    /// Whether the last [`Storage::expire`] got to the end.
    expired_all: bool,
    /// While the server takes no write ([`StorageError::NotNow`]): when
    /// one is tried again, and the wait after the next refusal.
    write_retry_at: Option<Instant>,
    write_backoff: Duration,
}

impl Postgres {
    /// The store at `url`. Nothing is connected yet: the first call
    /// connects (and migrates), and each call after a failure again.
    pub fn new(url: &StoreUrl) -> Result<Self, StorageError> {
        let config = client_config(url)?;
        // The password as the client sends it: all it could ever echo.
        let redactor = Redactor::new(
            config
                .get_password()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                StorageError::Failed(format!("cannot start the PostgreSQL client: {e}"))
            })?;
        Ok(Self {
            url: url.clone(),
            config,
            redactor,
            runtime,
            client: None,
            backoff: FIRST_BACKOFF,
            retry_at: None,
            unreached_why: None,
            expired_all: true,
            write_retry_at: None,
            write_backoff: FIRST_BACKOFF,
            instance: format!("{}-{:016x}", std::process::id(), fastrand::u64(..)),
            rates_cleaned: None,
        })
    }

    /// Runs `query` against the rollups.
    pub fn report(&mut self, query: &Query) -> Result<Report, StorageError> {
        let key = query::key_column(query);
        let sums: Vec<String> = SUMS
            .iter()
            .map(|c| match *c {
                "fallback_cost_usd" | "cost_usd" => format!("SUM({c})::float8"),
                _ => format!("SUM({c})::int8"),
            })
            .collect();
        // Grouped by position: not broken down, the key is the constant
        // '', which PostgreSQL refuses to group by as written.
        let sql = format!(
            "SELECT day, {key}::text, {} FROM clawgate_daily WHERE day BETWEEN $1 AND $2 \
             AND ($3::text IS NULL OR client = $3) GROUP BY 1, 2",
            sums.join(", ")
        );
        let client = query.client.clone();
        let (since, until) = (query.since_day, query.until_day);
        let rows = self.call("read usage from", async |db, _| {
            db.query(&sql, &[&since, &until, &client]).await
        })?;
        let lines = rows
            .iter()
            .map(|r| {
                let line = query::line_of([
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(7),
                    r.get(8),
                    r.get(9),
                    r.get(10),
                    r.get(12),
                    r.get(13),
                ])
                .costs(r.get(6), r.get(11));
                (r.get(0), r.get(1), line)
            })
            .collect();
        let mut report = query::assemble(query, lines);
        if query.by == Some(query::Dimension::Session) {
            report.sessions = Some(self.sessions(query)?);
        }
        Ok(report)
    }

    /// The sessions of a report by session.
    fn sessions(&mut self, query: &Query) -> Result<Vec<session::Session>, StorageError> {
        let sum = |c: &str| format!("SUM({c})::int8");
        let sql = query::SESSIONS
            .replace("{targets}", "string_agg(NULLIF(target, ''), chr(10))")
            .replace("{table}", "clawgate_sessions")
            .replace("{since}", "$1")
            .replace("{client}", "$2::text")
            .replace("{limit}", "$3")
            .replace("{until}", "$4")
            // The sums back to integers and floats, as in `report`.
            .replace("SUM(cost_usd)", "SUM(cost_usd)::float8")
            .replace("SUM(uncached_cost_usd)", "SUM(uncached_cost_usd)::float8");
        let sql = [
            "turns",
            "failures",
            "tokens_in",
            "tokens_cached",
            "tokens_written",
        ]
        .into_iter()
        .chain(["tokens_out", "uncosted"])
        .fold(sql, |sql, c| sql.replace(&format!("SUM({c})"), &sum(c)));
        let ((since, until), client) = (query::range_ms(query), query.client.clone());
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let rows = self.call("read sessions from", async |db, _| {
            db.query(&sql, &[&since, &client, &limit, &until]).await
        })?;
        Ok(rows
            .iter()
            .map(|r| {
                query::session_of(
                    (r.get(0), r.get(1), session::targets(r.get(2))),
                    [
                        r.get(3),
                        r.get(4),
                        r.get(5),
                        r.get(6),
                        r.get(7),
                        r.get(8),
                        r.get(9),
                        r.get(10),
                        r.get(11),
                    ],
                    (r.get(12), r.get(13)),
                )
            })
            .collect())
    }

    /// Runs `work` on the connection, connecting (and migrating) first if
    /// need be, within the deadlines. A failure that leaves the connection
    /// unusable, or a deadline passed, drops it and starts a backoff.
    ///
    /// `work` sets its flag just before it sends what may make its changes
    /// take effect (`COMMIT`, or a statement outside a transaction). Until
    /// then, a connection lost or a deadline passed (which drops the
    /// connection, and with it the open transaction) surely changed
    /// nothing: that is [`StorageError::Unreached`], and the same call can
    /// be made again. A call that is safe to make again whatever happened
    /// (a write, by its batch's number) never sets the flag. A statement
    /// refused on a live connection for its values is
    /// [`StorageError::Refused`]; for anything else it is
    /// [`StorageError::Failed`], so a call that cannot succeed is not made
    /// again and again, but where [`Self::call_as`] says it is safe again.
    fn call<T>(
        &mut self,
        what: &str,
        work: impl AsyncFnOnce(&mut Client, &Cell<bool>) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, StorageError> {
        self.call_as(what, Again::Never, work)
    }

    /// [`Self::call`], where `again` says whether a statement the server
    /// refused for a passing state of its own ([`not_now`]) is tried again.
    fn call_as<T>(
        &mut self,
        what: &str,
        again: Again,
        work: impl AsyncFnOnce(&mut Client, &Cell<bool>) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, StorageError> {
        if let Some(at) = self.retry_at
            && Instant::now() < at
        {
            let why = self.unreached_why.as_deref().unwrap_or("not reachable");
            return Err(self.unreached(CONNECT, format!("{why}; trying again shortly")));
        }
        let mut client = match self.client.take().filter(|c| !c.is_closed()) {
            Some(client) => client,
            None => match self.connect() {
                Ok(client) => client,
                Err(why) => {
                    self.back_off();
                    self.unreached_why = Some(why.clone());
                    return Err(self.unreached(CONNECT, why));
                }
            },
        };
        let committing = Cell::new(false);
        let outcome = self.runtime.block_on(async {
            // Made inside the runtime: the timer needs its context.
            tokio::time::timeout(CALL_TIMEOUT, work(&mut client, &committing)).await
        });
        let lost = match outcome {
            Ok(Ok(value)) => {
                self.client = Some(client);
                self.backoff = FIRST_BACKOFF;
                self.retry_at = None;
                self.unreached_why = None;
                return Ok(value);
            }
            Ok(Err(err)) => {
                // Lost, or given up for time: treated alike, and as a
                // deadline passed here is.
                let lost = connection_lost(&client, &err) || gave_up(&err);
                let why = if connection_lost(&client, &err) {
                    format!(
                        "connection lost ({})",
                        described(&err, &self.config, &self.redactor)
                    )
                } else {
                    error_text(&err, &self.redactor)
                };
                // Any error but the server's refusal of a statement may
                // leave the connection out of step: it is made again.
                if lost || err.as_db_error().is_none() {
                    self.back_off();
                } else {
                    self.client = Some(client);
                }
                if !lost {
                    return Err(if refused(&err) {
                        StorageError::Refused(self.message(what, why))
                    } else if again == Again::Safe && not_now(&err) {
                        self.write_waits();
                        StorageError::NotNow(self.message(what, why))
                    } else {
                        self.failure(what, why)
                    });
                }
                why
            }
            Err(_) => {
                self.back_off();
                format!("no answer within {} s", CALL_TIMEOUT.as_secs())
            }
        };
        self.unreached_why = Some(lost.clone());
        if committing.get() {
            Err(self.failure(what, lost))
        } else {
            Err(self.unreached(what, lost))
        }
    }

    /// A new connection, its schema brought up to date.
    fn connect(&mut self) -> Result<Client, String> {
        let redactor = self.redactor.clone();
        let config = self.config.clone();
        let scrub = |e: ConnectError| match e {
            ConnectError::Postgres(e) => described(&e, &config, &redactor),
            ConnectError::Io(e) => described_io(&e, &config),
        };
        self.runtime.block_on(async {
            // The connection's I/O runs on this runtime while a call
            // blocks on it; it ends when the client is dropped.
            let mut client = tokio::time::timeout(CONNECT_TIMEOUT, connect(&config))
                .await
                .map_err(|_| format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()))?
                .map_err(scrub)?;
            tokio::time::timeout(MIGRATE_TIMEOUT, migrate(&mut client, &redactor))
                .await
                .map_err(|_| {
                    format!(
                        "the schema was not brought up to date within {} s",
                        MIGRATE_TIMEOUT.as_secs()
                    )
                })??;
            Ok(client)
        })
    }

    /// Writes wait, the wait doubling from [`FIRST_BACKOFF`] to
    /// [`MAX_BACKOFF`] until one is taken: the connection and every other
    /// call go on.
    fn write_waits(&mut self) {
        self.write_retry_at = Some(Instant::now() + self.write_backoff);
        self.write_backoff = (self.write_backoff * 2).min(MAX_BACKOFF);
    }

    fn back_off(&mut self) {
        self.client = None;
        self.retry_at = Some(Instant::now() + self.backoff);
        // Doubling to a cap: a plain delay between the writer's turns, not
        // a retry loop (the writer decides what is tried again).
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    fn unreached(&self, what: &str, why: String) -> StorageError {
        StorageError::Unreached(self.message(what, why))
    }

    fn failure(&self, what: &str, why: String) -> StorageError {
        StorageError::Failed(self.message(what, why))
    }

    fn message(&self, what: &str, why: String) -> String {
        format!("cannot {what} {}: {why}", self.url.shown())
    }
}

/// The client's settings from `ledger.store`, with the deadlines and
/// server options every connection has; no connection is made. An unset
/// variable or a URL the client cannot read is an error naming it.
pub fn client_config(url: &StoreUrl) -> Result<Config, StorageError> {
    let shown = url.shown();
    let Some(text) = url.expose() else {
        return Err(StorageError::Failed(format!(
            "ledger.store: environment variable {} is not set",
            shown.trim_start_matches("${").trim_end_matches('}')
        )));
    };
    let mut config = Config::from_str(text).map_err(|e| {
        // The password is not known yet; the client's parse errors
        // name options, not values, and the URL itself is scrubbed.
        let redactor = Redactor::new([text]);
        StorageError::Failed(format!(
            "ledger.store {shown}: {}",
            error_text(&e, &redactor)
        ))
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("clawgate");
    }
    config.options(server_options(config.get_options()));
    Ok(config)
}

/// Brings the schema to [`SCHEMA_VERSION`] under the advisory lock, one
/// transaction for all that is left. A database that needs a newer
/// clawgate ([`required`]) is refused, not written into; one that a newer
/// clawgate only added to is used as it is.
///
/// Every connection comes here (each usage report opens one), so the
/// version is read first with a plain query: the lock is taken, and DDL
/// run, only for a schema that is missing or behind.
async fn migrate(client: &mut Client, redactor: &Redactor) -> Result<(), String> {
    let error = |e: tokio_postgres::Error| error_text(&e, redactor);
    let current = match client.query_opt("SELECT * FROM clawgate_schema", &[]).await {
        Ok(row) => row.as_ref().map(versions).unwrap_or_default(),
        Err(err) if err.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => (0, 0),
        Err(err) => return Err(error(err)),
    };
    match up_to_date(current) {
        Ok(true) => return Ok(()),
        Ok(false) => {}
        Err(why) => return Err(why),
    }
    let tx = client.transaction().await.map_err(error)?;
    // Waiting for another gateway's migration, and running one, may take
    // longer than a call.
    let ms = MIGRATE_TIMEOUT.as_millis();
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = {ms}; SET LOCAL lock_timeout = {ms}"
    ))
    .await
    .map_err(error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(error)?;
    // Without the notices that the table and column exist, at every
    // connection.
    tx.batch_execute(
        "SET LOCAL client_min_messages = warning; \
         CREATE TABLE IF NOT EXISTS clawgate_schema (version INTEGER NOT NULL); \
         ALTER TABLE clawgate_schema ADD COLUMN IF NOT EXISTS applied INTEGER",
    )
    .await
    .map_err(error)?;
    let current = tx
        .query_opt("SELECT * FROM clawgate_schema", &[])
        .await
        .map_err(error)?
        .as_ref()
        .map(versions)
        .unwrap_or_default();
    if up_to_date(current)? {
        return tx.commit().await.map_err(error);
    }
    for migration in &MIGRATIONS[current.1..] {
        tx.batch_execute(migration).await.map_err(error)?;
    }
    tx.execute("DELETE FROM clawgate_schema", &[])
        .await
        .map_err(error)?;
    tx.execute(
        "INSERT INTO clawgate_schema (version, applied) VALUES ($1, $2)",
        &[&(required(SCHEMA_VERSION) as i32), &(SCHEMA_VERSION as i32)],
    )
    .await
    .map_err(error)?;
    tx.commit().await.map_err(error)
}

/// `clawgate_schema`'s row: the version required and the versions
/// applied (`version`'s own for a database from before `applied`).
fn versions(row: &tokio_postgres::Row) -> (usize, usize) {
    let count = |n: i32| usize::try_from(n).unwrap_or(usize::MAX);
    let version = count(row.get::<_, i32>("version"));
    let applied = (row.try_get::<_, Option<i32>>("applied").ok().flatten()).map_or(version, count);
    (version, applied)
}

/// Whether a schema of `(version required, versions applied)` needs no
/// migration; an error when this clawgate cannot use it.
fn up_to_date((version, applied): (usize, usize)) -> Result<bool, String> {
    if version > SCHEMA_VERSION {
        return Err(newer(version));
    }
    Ok(applied >= SCHEMA_VERSION)
}

/// The connection's `options`: the server ends what passes the client's
/// deadlines too, instead of working on (and holding locks) for a client
/// that gave up. Options set in the URL come after, so they win.
fn server_options(set: Option<&str>) -> String {
    let ms = |d: Duration| d.as_millis();
    let ours = format!(
        "-c statement_timeout={} -c lock_timeout={} -c idle_in_transaction_session_timeout={}",
        ms(CALL_TIMEOUT),
        ms(LOCK_TIMEOUT),
        ms(IDLE_IN_TRANSACTION_TIMEOUT)
    );
    match set.map(str::trim).filter(|s| !s.is_empty()) {
        Some(set) => format!("{ours} {set}"),
        None => ours,
    }
}

/// Whether a call that the server refused for a passing state of its own
/// ([`not_now`]) is made again ([`Postgres::call_as`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Again {
    /// It took no effect, and is safe to make again whatever happened (a
    /// write, by its batch's number): it waits ([`StorageError::NotNow`]).
    Safe,
    /// It is not: [`StorageError::Failed`].
    Never,
}

fn newer(version: usize) -> String {
    format!(
        "the ledger's schema is version {version}, from a newer clawgate (this one knows up to {SCHEMA_VERSION}); use that clawgate"
    )
}

/// Whether the server refused a statement for want of time or a lock
/// (the timeouts above, a deadlock): nothing of its transaction took
/// effect, and the same call may well succeed shortly.
fn gave_up(err: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    err.code().is_some_and(|code| {
        [
            SqlState::QUERY_CANCELED,
            SqlState::LOCK_NOT_AVAILABLE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::T_R_SERIALIZATION_FAILURE,
        ]
        .contains(code)
    })
}

/// Whether the server refused a statement for a state of its own that
/// passes (a database read-only during a failover, resources such as its
/// disk run out, an operator's intervention, an I/O error, a privilege
/// taken away): a write refused so is made again later, not dropped.
fn not_now(err: &tokio_postgres::Error) -> bool {
    err.code().is_some_and(|code| {
        let code = code.code();
        code == "25006" || code == "42501" || ["53", "57", "58"].contains(&&code[..2])
    })
}

/// Whether the server refused a statement for the values it was given (a
/// data exception, a constraint, a value past a limit): its transaction
/// took no effect, and the same statement with other values may.
fn refused(err: &tokio_postgres::Error) -> bool {
    err.code()
        .is_some_and(|code| ["22", "23", "54"].contains(&&code.code()[..2]))
}

/// Whether `err` means the connection is gone. The client runs only while
/// a call blocks on it, so a server that shut down (or a connection that
/// closed) in between is only seen by the next statement: as an error
/// saying the connection is closed, or as the server's own FATAL error (such
/// as 57P01, "terminating connection due to administrator command") in
/// answer to it.
fn connection_lost(client: &Client, err: &tokio_postgres::Error) -> bool {
    client.is_closed()
        || err.is_closed()
        || err
            .as_db_error()
            .is_some_and(|e| matches!(e.parsed_severity(), Some(Severity::Fatal | Severity::Panic)))
}

/// The error's text, led by what it means in words a user acts on when
/// it is a connection's failure (authentication, a database or host that
/// is not there, nothing listening).
fn described(error: &tokio_postgres::Error, config: &Config, redactor: &Redactor) -> String {
    let text = error_text(error, redactor);
    match in_words(error, config) {
        Some(words) => format!("{words} ({text})"),
        None => text,
    }
}

/// [`described`] for a socket that could not be opened.
fn described_io(error: &std::io::Error, config: &Config) -> String {
    match io_in_words(error, config) {
        Some(words) => format!("{words} ({error})"),
        None => error.to_string(),
    }
}

/// Where `config` connects first, as a person names it.
fn place(config: &Config) -> String {
    use tokio_postgres::config::Host;
    let port = config.get_ports().first().copied().unwrap_or(5432);
    match config.get_hosts().first() {
        Some(Host::Tcp(host)) => format!("{host}:{port}"),
        Some(Host::Unix(dir)) => format!("{}/.s.PGSQL.{port}", dir.display()),
        None => format!("localhost:{port}"),
    }
}

/// What a failure to connect means, for the person who set `ledger.store`.
fn in_words(error: &tokio_postgres::Error, config: &Config) -> Option<String> {
    use tokio_postgres::error::SqlState;
    let user = config.get_user().unwrap_or("(the system user)");
    let database = config.get_dbname().unwrap_or(user);
    if let Some(code) = error.code() {
        let words = if *code == SqlState::INVALID_PASSWORD {
            format!("authentication failed: the password for user \"{user}\" is wrong")
        } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
            format!(
                "authentication failed: the server does not let user \"{user}\" in (no such role, or no pg_hba.conf line for it)"
            )
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            format!("database \"{database}\" does not exist: create it, or correct ledger.store")
        } else if [
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
        ]
        .contains(code)
        {
            "the server is shutting down or starting up".to_string()
        } else if *code == SqlState::TOO_MANY_CONNECTIONS {
            "the server has no connection left (max_connections)".to_string()
        } else {
            return None;
        };
        return Some(words);
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return io_in_words(io, config);
        }
        source = cause.source();
    }
    None
}

/// What a socket's failure means, for the person who set `ledger.store`.
fn io_in_words(io: &std::io::Error, config: &Config) -> Option<String> {
    let place = place(config);
    let text = io.to_string();
    Some(match io.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            format!("connection refused at {place}: is PostgreSQL running and listening there?")
        }
        std::io::ErrorKind::NotFound => {
            format!("no PostgreSQL socket at {place}: is PostgreSQL running?")
        }
        _ if text.contains("lookup")
            || text.contains("name resolution")
            || text.contains("resolve") =>
        {
            format!("unknown host: {place} cannot be resolved; correct the host in ledger.store")
        }
        _ => return None,
    })
}

/// A row of day, client, model, requests, fallbacks, dollars, uncosted
/// calls and answered ones.
fn day_spend(r: &tokio_postgres::Row) -> DaySpend {
    DaySpend {
        day: r.get(0),
        client: r.get(1),
        model: r.get(2),
        requests: r.get::<_, i64>(3).max(0) as u64,
        fallbacks: r.get::<_, i64>(4).max(0) as u64,
        cost_usd: r.get(5),
        uncosted: r.get::<_, i64>(6).max(0) as u64,
        answered: r.get::<_, i64>(7).max(0) as u64,
    }
}

/// The error's text, the password (if it somehow appears) scrubbed.
fn error_text(error: &tokio_postgres::Error, redactor: &Redactor) -> String {
    // The client's own text is only its kind ("db error"); the server's
    // message, or the I/O error, is its source: text from outside, which
    // must not forge a log line or a terminal's output.
    let text = with_causes(error.to_string(), error);
    redactor.provider_text(&text)
}

impl Storage for Postgres {
    fn location(&self) -> Location {
        Location::Postgres(self.url.clone())
    }

    /// The batch's number, with this gateway's name, goes in
    /// `clawgate_batches` in the same transaction as its rows. Rows sent
    /// again after a connection lost at `COMMIT` find it there if that
    /// commit happened, and are not written twice: a write is always safe
    /// to make again, and a batch is written once.
    fn write(&mut self, batch: u64, rows: &[Row]) -> Result<(), StorageError> {
        let batch = format!("{}-{batch}", self.instance);
        self.write_once(&batch, rows)
    }

    fn write_once(&mut self, batch: &str, rows: &[Row]) -> Result<(), StorageError> {
        let rows = &*storable_rows(rows);
        let batch_ts = rows.iter().map(|r| r.ts_ms).max().unwrap_or_default();
        let attempts: Vec<Option<String>> = rows
            .iter()
            .map(|r| (!r.attempts.is_empty()).then(|| r.attempts.join(",")))
            .collect();
        let rollups = rollups(rows);
        let column = |f: fn(&Row) -> Option<u64>| -> Vec<Option<i64>> {
            rows.iter().map(|r| f(r).map(to_i64)).collect()
        };
        let ts: Vec<i64> = rows.iter().map(|r| r.ts_ms).collect();
        let request_id: Vec<Option<&str>> = rows.iter().map(|r| r.request_id.as_deref()).collect();
        let front_end: Vec<&str> = rows.iter().map(|r| r.front_end).collect();
        let asked: Vec<Option<&str>> = rows.iter().map(|r| r.model_asked.as_deref()).collect();
        let answered: Vec<Option<&str>> = rows.iter().map(|r| r.answered_by.as_deref()).collect();
        let provider: Vec<Option<&str>> = rows.iter().map(Row::provider).collect();
        let fallback: Vec<bool> = rows.iter().map(Row::fallback).collect();
        let primary_failed: Vec<bool> = rows.iter().map(Row::primary_failed).collect();
        let status: Vec<i32> = rows.iter().map(|r| i32::from(r.status)).collect();
        let end: Vec<&str> = rows.iter().map(|r| r.end).collect();
        let first_byte: Vec<i64> = rows.iter().map(|r| to_i64(r.first_byte_ms)).collect();
        let total: Vec<i64> = rows.iter().map(|r| to_i64(r.total_ms)).collect();
        let tokens_in = column(|r| r.tokens.input);
        let tokens_cached = column(|r| r.tokens.cached);
        let tokens_out = column(|r| r.tokens.output);
        let tokens_reasoning = column(|r| r.tokens.reasoning);
        let cost: Vec<Option<f64>> = rows.iter().map(|r| r.cost_usd).collect();
        let agent: Vec<&str> = rows.iter().map(|r| r.agent).collect();
        let client: Vec<&str> = rows.iter().map(|r| &*r.client).collect();
        let session: Vec<Option<&str>> = rows.iter().map(|r| r.session.as_deref()).collect();
        let tokens_written = column(|r| r.tokens.written);
        let sessions = session::rollups(rows);
        let s_client: Vec<&str> = sessions.iter().map(|(k, _)| k.0).collect();
        let s_session: Vec<&str> = sessions.iter().map(|(k, _)| k.1).collect();
        let s_target: Vec<&str> = sessions.iter().map(|(k, _)| k.2).collect();
        let s_sum = |f: fn(&session::Rollup) -> i64| -> Vec<i64> {
            sessions.iter().map(|(_, r)| f(r)).collect()
        };
        let s_cost = |f: fn(&session::Rollup) -> f64| -> Vec<f64> {
            sessions.iter().map(|(_, r)| f(r)).collect()
        };

        let day: Vec<i64> = rollups.iter().map(|(k, _)| k.0).collect();
        let d_front_end: Vec<&str> = rollups.iter().map(|(k, _)| k.1).collect();
        let d_model: Vec<&str> = rollups.iter().map(|(k, _)| k.2).collect();
        let d_provider: Vec<&str> = rollups.iter().map(|(k, _)| k.3).collect();
        let d_agent: Vec<&str> = rollups.iter().map(|(k, _)| k.4).collect();
        let d_client: Vec<&str> = rollups.iter().map(|(k, _)| k.5).collect();
        let sum = |f: fn(&super::store::Rollup) -> i64| -> Vec<i64> {
            rollups.iter().map(|(_, r)| f(r)).collect()
        };
        let requests = sum(|r| r.requests);
        let failures = sum(|r| r.failures);
        let fallbacks = sum(|r| r.fallbacks);
        let primary_failures = sum(|r| r.primary_failures);
        let fallback_cost: Vec<f64> = rollups.iter().map(|(_, r)| r.fallback_cost_usd).collect();
        let d_tokens_in = sum(|r| r.tokens_in);
        let d_tokens_cached = sum(|r| r.tokens_cached);
        let d_tokens_out = sum(|r| r.tokens_out);
        let d_tokens_reasoning = sum(|r| r.tokens_reasoning);
        let d_cost: Vec<f64> = rollups.iter().map(|(_, r)| r.cost_usd).collect();
        let uncosted = sum(|r| r.uncosted);
        let d_total = sum(|r| r.total_ms);
        let d_budget_cost: Vec<f64> = rollups.iter().map(|(_, r)| r.budget_cost_usd).collect();

        // Its batch's number makes it safe to send again whatever the
        // server said.
        let written = self.call_as("write rows to", Again::Safe, async |db, _| {
            let tx = db.transaction().await?;
            let new = tx
                .execute(
                    "INSERT INTO clawgate_batches (id, ts_ms) VALUES ($1, $2) \
                     ON CONFLICT (id) DO NOTHING",
                    &[&batch, &batch_ts],
                )
                .await?;
            if new == 0 {
                // Committed before; the answer was lost.
                return tx.rollback().await;
            }
            tx.execute(
                INSERT_ROWS,
                &[
                    &ts,
                    &request_id,
                    &front_end,
                    &asked,
                    &answered,
                    &provider,
                    &attempts,
                    &fallback,
                    &primary_failed,
                    &status,
                    &end,
                    &first_byte,
                    &total,
                    &tokens_in,
                    &tokens_cached,
                    &tokens_out,
                    &tokens_reasoning,
                    &cost,
                    &agent,
                    &client,
                    &session,
                    &tokens_written,
                ],
            )
            .await?;
            tx.execute(
                UPSERT_SESSIONS,
                &[
                    &s_client,
                    &s_session,
                    &s_target,
                    &s_sum(|r| r.first_ms),
                    &s_sum(|r| r.last_ms),
                    &s_sum(|r| r.turns),
                    &s_sum(|r| r.failures),
                    &s_sum(|r| r.tokens_in),
                    &s_sum(|r| r.tokens_cached),
                    &s_sum(|r| r.tokens_written),
                    &s_sum(|r| r.tokens_out),
                    &s_sum(|r| r.uncosted),
                    &s_cost(|r| r.cost_usd),
                    &s_cost(|r| r.uncached_cost_usd),
                ],
            )
            .await?;
            tx.execute(
                UPSERT_DAYS,
                &[
                    &day,
                    &d_front_end,
                    &d_model,
                    &d_provider,
                    &d_agent,
                    &d_client,
                    &requests,
                    &failures,
                    &fallbacks,
                    &primary_failures,
                    &fallback_cost,
                    &d_tokens_in,
                    &d_tokens_cached,
                    &d_tokens_out,
                    &d_tokens_reasoning,
                    &d_cost,
                    &uncosted,
                    &d_total,
                    &d_budget_cost,
                ],
            )
            .await?;
            tx.commit().await
        });
        if written.is_ok() {
            (self.write_retry_at, self.write_backoff) = (None, FIRST_BACKOFF);
        }
        written
    }

    /// Deletes the rows, the batches' numbers, then the sessions' rollups
    /// older than `before_ms`, 20,000 at a time; counts the rows.
    fn expire(&mut self, before_ms: i64) -> Result<u64, StorageError> {
        let mut rows = 0;
        let mut deleted = 0;
        self.expired_all = false;
        // Each table, the column a row is found again by, and its time.
        // Rows another instance is deleting now (at midnight, all of them
        // do) are left to it, not waited for.
        let tables = [
            ("clawgate_requests", "id", "ts_ms"),
            ("clawgate_batches", "id", "ts_ms"),
            ("clawgate_sessions", "ctid", "last_ms"),
        ];
        for (table, key, time) in tables {
            let delete = format!(
                "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} \
                 WHERE {time} < $1 LIMIT {EXPIRE_ROWS} FOR UPDATE SKIP LOCKED)"
            );
            loop {
                if deleted >= EXPIRE_ROWS * EXPIRE_ROUNDS {
                    return Ok(rows);
                }
                let n = self.call("expire old rows in", async |db, committing| {
                    committing.set(true);
                    db.execute(&delete, &[&before_ms]).await
                })?;
                deleted += n;
                if table == "clawgate_requests" {
                    rows += n;
                }
                if n < EXPIRE_ROWS {
                    break;
                }
            }
        }
        self.expired_all = true;
        Ok(rows)
    }

    fn expired_all(&self) -> bool {
        self.expired_all
    }

    fn spend_since(&mut self, since_day: i64) -> Result<Vec<DaySpend>, StorageError> {
        let rows = self.call("read spend from", async |db, _| {
            db.query(
                "SELECT day, client, model, SUM(requests)::int8, SUM(fallbacks)::int8, \
                 SUM(budget_cost_usd)::float8, SUM(uncosted)::int8, \
                 SUM(requests - failures)::int8 FROM clawgate_daily \
                 WHERE day >= $1 AND model <> '' GROUP BY day, client, model",
                &[&since_day],
            )
            .await
        })?;
        Ok(rows.iter().map(day_spend).collect())
    }

    fn shared(&self) -> bool {
        true
    }

    fn sync_rates(
        &mut self,
        sent: &[RateCount],
        since_window: i64,
    ) -> Result<Vec<RateCount>, StorageError> {
        let clients: Vec<&str> = sent.iter().map(|c| c.client.as_str()).collect();
        let windows: Vec<i64> = sent.iter().map(|c| c.window).collect();
        let requests: Vec<i64> = sent.iter().map(|c| to_i64(c.requests)).collect();
        let tokens: Vec<i64> = sent.iter().map(|c| to_i64(c.tokens)).collect();
        let instance = self.instance.clone();
        let clean = self
            .rates_cleaned
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(60));
        // One transaction: these counts are in the database once and
        // only once the others' totals are read back.
        let rows = self.call("share rate limits through", async |db, committing| {
            let tx = db.transaction().await?;
            if !clients.is_empty() {
                tx.execute(
                    UPSERT_RATES,
                    &[&clients, &windows, &requests, &tokens, &instance],
                )
                .await?;
            }
            if clean {
                tx.execute(
                    "DELETE FROM clawgate_rates WHERE window_minute < $1",
                    &[&(since_window - RATE_MINUTES_KEPT)],
                )
                .await?;
            }
            let rows = tx.query(OTHERS_RATES, &[&since_window, &instance]).await?;
            committing.set(true);
            tx.commit().await?;
            Ok(rows)
        })?;
        if clean {
            self.rates_cleaned = Some(Instant::now());
        }
        Ok(rows
            .iter()
            .map(|r| RateCount {
                client: r.get(0),
                window: r.get(1),
                requests: r.get::<_, i64>(2).max(0) as u64,
                tokens: r.get::<_, i64>(3).max(0) as u64,
            })
            .collect())
    }

    fn share_reservations(&mut self, mine: &Reservations) -> Result<Reservations, StorageError> {
        let token_clients: Vec<&str> = mine.tokens.iter().map(|(c, _)| c.as_str()).collect();
        let tokens: Vec<i64> = mine.tokens.iter().map(|(_, t)| to_i64(*t)).collect();
        let mine = &mine.spend;
        let clients: Vec<&str> = mine.iter().map(|r| r.client.as_str()).collect();
        let days: Vec<i64> = mine.iter().map(|r| r.day).collect();
        let models: Vec<&str> = mine.iter().map(|r| r.model.as_str()).collect();
        let requests: Vec<i64> = mine.iter().map(|r| to_i64(r.requests)).collect();
        let usd: Vec<f64> = mine.iter().map(|r| r.cost_usd).collect();
        let instance = self.instance.clone();
        let others = format!(
            "SELECT day, client, model, SUM(requests)::int8, 0::int8, SUM(usd)::float8, 0::int8, 0::int8 \
             FROM clawgate_reservations WHERE instance <> $1 \
             AND at > now() - interval '{RESERVATIONS_KEPT}' GROUP BY day, client, model"
        );
        let others_tokens = format!(
            "SELECT client, SUM(tokens)::int8 FROM clawgate_token_reservations \
             WHERE instance <> $1 AND at > now() - interval '{RESERVATIONS_KEPT}' GROUP BY client"
        );
        let forget = |table: &str| {
            format!(
                "DELETE FROM {table} WHERE instance = $1 \
                 OR at < now() - interval '{RESERVATIONS_KEPT}'"
            )
        };
        let (forget, forget_tokens) = (
            forget("clawgate_reservations"),
            forget("clawgate_token_reservations"),
        );
        // Replaced whole in one transaction, made again as it is if it
        // fails: a snapshot, not a count to add.
        let (rows, token_rows) = self.call("share reservations through", async |db, _| {
            let tx = db.transaction().await?;
            tx.execute(&forget, &[&instance]).await?;
            tx.execute(&forget_tokens, &[&instance]).await?;
            if !clients.is_empty() {
                tx.execute(
                    INSERT_RESERVATIONS,
                    &[&instance, &clients, &days, &models, &requests, &usd],
                )
                .await?;
            }
            if !token_clients.is_empty() {
                tx.execute(
                    INSERT_TOKEN_RESERVATIONS,
                    &[&instance, &token_clients, &tokens],
                )
                .await?;
            }
            let rows = tx.query(&others, &[&instance]).await?;
            let token_rows = tx.query(&others_tokens, &[&instance]).await?;
            tx.commit().await?;
            Ok((rows, token_rows))
        })?;
        Ok(Reservations {
            spend: rows.iter().map(day_spend).collect(),
            tokens: token_rows
                .iter()
                .map(|r| (r.get(0), r.get::<_, i64>(1).max(0) as u64))
                .collect(),
        })
    }

    fn retry_at(&self) -> Option<Instant> {
        let later = self.retry_at.max(self.write_retry_at);
        later.filter(|at| Instant::now() < *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> StoreUrl {
        StoreUrl::Postgres {
            url: secrecy::SecretString::from(text.to_string()),
            shown: "postgres://(shown)".into(),
        }
    }

    #[test]
    fn the_urls_the_config_accepts_are_read_by_the_client() {
        for text in [
            "postgresql:///clawgate?host=/run/postgresql",
            "postgres://gw:pw@127.0.0.1:5432/usage?sslmode=disable&application_name=gw",
            "postgresql://clawgate@/clawgate?host=/tmp/socket&port=5433&connect_timeout=3",
        ] {
            Postgres::new(&url(text)).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    #[test]
    fn the_server_ends_what_passes_the_deadlines_and_the_urls_options_are_kept() {
        let ours = "-c statement_timeout=2000 -c lock_timeout=1000 \
                    -c idle_in_transaction_session_timeout=5000";
        let store = Postgres::new(&url("postgresql:///clawgate?host=/run/postgresql")).unwrap();
        assert_eq!(store.config.get_options(), Some(ours));
        let store = Postgres::new(&url(
            "postgresql:///clawgate?host=/run/postgresql&options=-c%20search_path%3Dusage",
        ))
        .unwrap();
        assert_eq!(
            store.config.get_options(),
            Some(format!("{ours} -c search_path=usage").as_str())
        );
    }

    /// A server on a port of its own that takes one connection, reads the
    /// startup message and answers as `answer` does.
    fn fake_server<T: Send + 'static>(
        answer: impl FnOnce(std::net::TcpStream) -> T + Send + 'static,
    ) -> (u16, std::thread::JoinHandle<T>) {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut startup = [0; 1024];
            let _ = socket.read(&mut startup);
            answer(socket)
        });
        (port, served)
    }

    /// The error a spend query to the store at `text` ends in.
    fn spend_error(text: &str) -> String {
        let mut store = Postgres::new(&url(text)).unwrap();
        store.spend_since(0).unwrap_err().to_string()
    }

    /// The URL of the fake server at `port`, with a password.
    fn fake_url(port: u16) -> String {
        format!("postgresql://u:secret-pw@127.0.0.1:{port}/db")
    }

    /// A server that says a message of 2 GB is coming, then sends it as
    /// fast as it can, is cut at the message's header: nothing of it is
    /// buffered.
    #[test]
    fn a_server_that_sends_a_message_past_the_bound_is_cut_at_once() {
        use std::io::Write;
        let (port, sent) = fake_server(|mut socket| {
            let mut header = vec![b'R'];
            header.extend(0x7fff_fff0_u32.to_be_bytes());
            socket.write_all(&header).unwrap();
            let zeros = vec![0; 64 * 1024];
            let mut sent = 0;
            while socket.write_all(&zeros).is_ok() && sent < 1 << 30 {
                sent += zeros.len();
            }
            sent
        });
        let started = Instant::now();
        let err = spend_error(&fake_url(port));
        assert!(err.contains("more than the 1048576 one may hold"), "{err}");
        assert!(
            started.elapsed() < CONNECT_TIMEOUT,
            "{:?}",
            started.elapsed()
        );
        // The server could write little before the connection was closed.
        assert!(sent.join().unwrap() < 64 << 20);
    }

    /// The server's own words are text from outside: a line break or an
    /// escape sequence in them is shown escaped, so they cannot forge a
    /// log line or recolour a terminal.
    #[test]
    fn a_servers_message_cannot_forge_a_log_line() {
        use std::io::Write;
        let (port, _) = fake_server(|mut socket| {
            let mut fields = Vec::new();
            for (code, text) in [
                (b'S', "FATAL"),
                (b'C', "28P01"),
                (
                    b'M',
                    "auth failed\n2026-11-30T21:30:00Z  INFO clawgate::access: FORGED \u{1b}[31m",
                ),
            ] {
                fields.push(code);
                fields.extend(text.as_bytes());
                fields.push(0);
            }
            fields.push(0);
            let mut message = vec![b'E'];
            message.extend((fields.len() as u32 + 4).to_be_bytes());
            message.extend(fields);
            socket.write_all(&message).unwrap();
        });
        let err = spend_error(&fake_url(port));
        assert!(err.contains("auth failed\\n2026-11-30"), "{err}");
        assert!(!err.contains('\n') && !err.contains('\u{1b}'), "{err}");
    }

    #[test]
    fn a_connection_that_fails_says_what_to_correct() {
        for (text, said) in [
            (
                "postgresql://u:secret-pw@127.0.0.1:1/db",
                "connection refused at 127.0.0.1:1: is PostgreSQL running and listening there?",
            ),
            (
                "postgresql://u:secret-pw@no-such-host.invalid/db",
                "unknown host: no-such-host.invalid:5432 cannot be resolved; correct the host in ledger.store",
            ),
        ] {
            let err = spend_error(text);
            assert!(
                err.starts_with(&format!("cannot connect to postgres://(shown): {said} (")),
                "{err}"
            );
            assert!(!err.contains("secret-pw"), "{err}");
        }
    }

    #[test]
    fn a_database_that_is_not_there_fails_at_once_then_backs_off() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("postgresql://u:secret-pw@/db?host={}", dir.path().display());
        let mut store = Postgres::new(&url(&text)).unwrap();
        let started = Instant::now();
        let err = store.spend_since(0).unwrap_err().to_string();
        assert!(started.elapsed() < CALL_TIMEOUT, "{:?}", started.elapsed());
        assert!(
            err.starts_with("cannot connect to postgres://(shown): no PostgreSQL socket at "),
            "{err}"
        );
        assert!(!err.contains("secret-pw"), "{err}");
        assert!(store.retry_at().is_some());
        let again = store.spend_since(0).unwrap_err().to_string();
        assert!(again.contains("trying again shortly"), "{again}");
    }
}
