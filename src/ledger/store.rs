//! The ledger's SQLite database: one table of raw rows (`requests`, kept
//! `ledger.retentionDays`), one of daily rollups (`daily`, kept for
//! ever) and one of sessions' rollups (`sessions`, kept as the rows),
//! written together in one transaction per batch so that a crash
//! leaves both or neither. WAL journal: readers (`clawgate usage`,
//! `/v1/usage`) never wait for the writer, and a killed process loses at
//! most the batch it was writing.
//!
//! Only the writer thread ([`super::writer`]) writes; queries open their
//! own read-only connection.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, params};

use super::calendar::day_of_millis;
use super::storage::{DaySpend, Location, Storage, StorageError, storable_rows, to_i64};
use super::{Row, session};

/// The schema's versions, in order: a database at version N (SQLite's
/// `user_version`; 0 for a new file and for ledgers made before versions
/// were kept, whose tables are version 1's) has the first N applied, and
/// each one left is applied in a transaction of its own, with the version.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: raw rows and daily rollups, by the calling program (`client`).
    "
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    request_id TEXT,
    front_end TEXT NOT NULL,
    model_asked TEXT,
    answered_by TEXT,
    provider TEXT,
    attempts TEXT,
    fallback INTEGER NOT NULL,
    primary_failed INTEGER NOT NULL,
    status INTEGER NOT NULL,
    end_state TEXT NOT NULL,
    first_byte_ms INTEGER NOT NULL,
    total_ms INTEGER NOT NULL,
    tokens_in INTEGER,
    tokens_cached INTEGER,
    tokens_out INTEGER,
    tokens_reasoning INTEGER,
    cost_usd REAL,
    client TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts_ms);
CREATE TABLE IF NOT EXISTS daily (
    day INTEGER NOT NULL,
    front_end TEXT NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    client TEXT NOT NULL,
    requests INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    fallbacks INTEGER NOT NULL,
    primary_failures INTEGER NOT NULL,
    fallback_cost_usd REAL NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_cached INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    tokens_reasoning INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    uncosted INTEGER NOT NULL,
    total_ms INTEGER NOT NULL,
    PRIMARY KEY (day, front_end, model, provider, client)
) WITHOUT ROWID;
",
    // 2: the calling program becomes `agent`; `client` is the configured
    // client whose key the request presented ('' for rows from before).
    // `daily` is rebuilt: SQLite cannot change a table's primary key.
    "
ALTER TABLE requests RENAME COLUMN client TO agent;
ALTER TABLE requests ADD COLUMN client TEXT NOT NULL DEFAULT '';
CREATE TABLE daily_2 (
    day INTEGER NOT NULL,
    front_end TEXT NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    agent TEXT NOT NULL,
    client TEXT NOT NULL,
    requests INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    fallbacks INTEGER NOT NULL,
    primary_failures INTEGER NOT NULL,
    fallback_cost_usd REAL NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_cached INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    tokens_reasoning INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    uncosted INTEGER NOT NULL,
    total_ms INTEGER NOT NULL,
    PRIMARY KEY (day, front_end, model, provider, agent, client)
) WITHOUT ROWID;
INSERT INTO daily_2 SELECT day, front_end, model, provider, client, '', requests, failures,
    fallbacks, primary_failures, fallback_cost_usd, tokens_in, tokens_cached, tokens_out,
    tokens_reasoning, cost_usd, uncosted, total_ms FROM daily;
DROP TABLE daily;
ALTER TABLE daily_2 RENAME TO daily;
",
    // 3: what budgets count, `budget_cost_usd`: the cost, or the estimate
    // from the bytes of an answer whose provider reported no usage. Rows
    // from before counted their cost only.
    "
ALTER TABLE daily ADD COLUMN budget_cost_usd REAL NOT NULL DEFAULT 0;
UPDATE daily SET budget_cost_usd = cost_usd;
",
    // 4: each row's session and cache writes, and each session's rollup
    // per client and target that answered ('' for none), expired with
    // the rows by its last turn. Rows from before have no session.
    "
ALTER TABLE requests ADD COLUMN session TEXT;
ALTER TABLE requests ADD COLUMN tokens_written INTEGER;
CREATE TABLE sessions (
    client TEXT NOT NULL,
    session TEXT NOT NULL,
    target TEXT NOT NULL,
    first_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    turns INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_cached INTEGER NOT NULL,
    tokens_written INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    uncosted INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    uncached_cost_usd REAL NOT NULL,
    PRIMARY KEY (client, session, target)
) WITHOUT ROWID;
CREATE INDEX sessions_last ON sessions (last_ms);
",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

const INSERT_ROW: &str = "INSERT INTO requests (ts_ms, request_id, front_end, model_asked, \
    answered_by, provider, attempts, fallback, primary_failed, status, end_state, first_byte_ms, \
    total_ms, tokens_in, tokens_cached, tokens_out, tokens_reasoning, cost_usd, agent, client, \
    session, tokens_written) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
    ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)";

/// A session's rollup, as [`UPSERT_DAY`] a day's.
const UPSERT_SESSION: &str = "INSERT INTO sessions (client, session, target, first_ms, last_ms, \
    turns, failures, tokens_in, tokens_cached, tokens_written, tokens_out, uncosted, cost_usd, \
    uncached_cost_usd) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
    ON CONFLICT (client, session, target) DO UPDATE SET \
    first_ms = MIN(first_ms, excluded.first_ms), last_ms = MAX(last_ms, excluded.last_ms), \
    turns = turns + excluded.turns, failures = failures + excluded.failures, \
    tokens_in = tokens_in + excluded.tokens_in, \
    tokens_cached = tokens_cached + excluded.tokens_cached, \
    tokens_written = tokens_written + excluded.tokens_written, \
    tokens_out = tokens_out + excluded.tokens_out, uncosted = uncosted + excluded.uncosted, \
    cost_usd = cost_usd + excluded.cost_usd, \
    uncached_cost_usd = uncached_cost_usd + excluded.uncached_cost_usd";

const UPSERT_DAY: &str = "INSERT INTO daily (day, front_end, model, provider, agent, client, \
    requests, failures, fallbacks, primary_failures, fallback_cost_usd, tokens_in, tokens_cached, \
    tokens_out, tokens_reasoning, cost_usd, uncosted, total_ms, budget_cost_usd) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19) \
    ON CONFLICT (day, front_end, model, provider, agent, client) DO UPDATE SET \
    requests = requests + excluded.requests, failures = failures + excluded.failures, \
    fallbacks = fallbacks + excluded.fallbacks, \
    primary_failures = primary_failures + excluded.primary_failures, \
    fallback_cost_usd = fallback_cost_usd + excluded.fallback_cost_usd, \
    tokens_in = tokens_in + excluded.tokens_in, tokens_cached = tokens_cached + excluded.tokens_cached, \
    tokens_out = tokens_out + excluded.tokens_out, \
    tokens_reasoning = tokens_reasoning + excluded.tokens_reasoning, \
    cost_usd = cost_usd + excluded.cost_usd, uncosted = uncosted + excluded.uncosted, \
    total_ms = total_ms + excluded.total_ms, \
    budget_cost_usd = budget_cost_usd + excluded.budget_cost_usd";

/// The rollup of one day, front end, model, provider, agent and client: what a
/// batch's rows add to its `daily` row (one upsert per rollup, not per row:
/// under load a batch holds hundreds of rows and a handful of rollups).
#[derive(Default)]
pub(super) struct Rollup {
    pub requests: i64,
    pub failures: i64,
    pub fallbacks: i64,
    pub primary_failures: i64,
    pub fallback_cost_usd: f64,
    pub tokens_in: i64,
    pub tokens_cached: i64,
    pub tokens_out: i64,
    pub tokens_reasoning: i64,
    pub cost_usd: f64,
    pub uncosted: i64,
    pub total_ms: i64,
    /// What budgets count ([`Row::budget_cost`]).
    pub budget_cost_usd: f64,
}

/// Which rollup a row adds to: day, front end, model, provider, agent,
/// client.
pub(super) type RollupKey<'a> = (i64, &'static str, &'a str, &'a str, &'static str, &'a str);

/// What `rows` add to each rollup, in the order of their keys (writers
/// sharing a database take the rows' locks in one order: no deadlock).
pub(super) fn rollups(rows: &[Row]) -> Vec<(RollupKey<'_>, Rollup)> {
    let mut rollups: HashMap<RollupKey<'_>, Rollup> = HashMap::new();
    for row in rows {
        rollups.entry(Rollup::key(row)).or_default().add(row);
    }
    let mut rollups: Vec<_> = rollups.into_iter().collect();
    rollups.sort_by(|a, b| a.0.cmp(&b.0));
    rollups
}

impl Rollup {
    fn key(row: &Row) -> RollupKey<'_> {
        (
            day_of_millis(row.ts_ms),
            row.front_end,
            row.answered_by.as_deref().unwrap_or(""),
            row.provider().unwrap_or(""),
            row.agent,
            &row.client,
        )
    }

    /// Counts saturate: each is capped at [`super::storage::MAX_COUNT`], and a sum that
    /// wrapped would subtract from the rollup.
    fn add(&mut self, row: &Row) {
        fn sum(total: &mut i64, more: i64) {
            *total = total.saturating_add(more);
        }
        let cost = row.cost_usd.unwrap_or(0.0);
        sum(&mut self.requests, 1);
        sum(&mut self.failures, i64::from(!row.succeeded()));
        sum(&mut self.fallbacks, i64::from(row.fallback()));
        sum(&mut self.primary_failures, i64::from(row.primary_failed()));
        if row.fallback() {
            self.fallback_cost_usd += cost;
        }
        sum(&mut self.tokens_in, to_i64(row.tokens.input.unwrap_or(0)));
        sum(
            &mut self.tokens_cached,
            to_i64(row.tokens.cached.unwrap_or(0)),
        );
        sum(&mut self.tokens_out, to_i64(row.tokens.output.unwrap_or(0)));
        sum(
            &mut self.tokens_reasoning,
            to_i64(row.tokens.reasoning.unwrap_or(0)),
        );
        self.cost_usd += cost;
        self.budget_cost_usd += row.budget_cost().unwrap_or(0.0);
        sum(&mut self.uncosted, i64::from(row.uncosted()));
        sum(&mut self.total_ms, to_i64(row.total_ms));
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create {dir}: {source}")]
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: the ledger's schema is version {version}, from a newer clawgate (this one knows up to {SCHEMA_VERSION}); use that clawgate, or move the file aside"
    )]
    Newer { path: PathBuf, version: usize },
    #[error("{path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

/// The database, open for writing.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating) the database at `path`. A file that is not a
    /// database, or a corrupt one, is moved aside (never deleted) and a new
    /// one started; the returned note says where it went.
    pub fn open(path: &Path) -> Result<(Self, Option<String>), StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(|source| StoreError::Dir {
                dir: dir.to_path_buf(),
                source,
            })?;
        }
        match Self::open_once(path) {
            Ok(store) => Ok((store, None)),
            Err(StoreError::Sqlite { source, .. }) if is_corrupt(&source) => {
                let aside = aside_name(path);
                std::fs::rename(path, &aside).map_err(|e| StoreError::Sqlite {
                    path: path.to_path_buf(),
                    source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
                })?;
                for suffix in ["-wal", "-shm"] {
                    let side = PathBuf::from(format!("{}{suffix}", path.display()));
                    let _ = std::fs::rename(&side, format!("{}{suffix}", aside.display()));
                }
                let note = format!(
                    "{} was not a readable ledger ({source}); moved it to {} and started a new one",
                    path.display(),
                    aside.display()
                );
                Ok((Self::open_once(path)?, Some(note)))
            }
            Err(err) => Err(err),
        }
    }

    fn open_once(path: &Path) -> Result<Self, StoreError> {
        let error = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(error)?;
        conn.busy_timeout(Duration::from_secs(2)).map_err(error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(error)?;
        // In WAL mode NORMAL loses no committed transaction on a process
        // crash, only possibly the last ones on a power cut.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(error)?;
        let mut store = Self {
            conn,
            path: path.to_path_buf(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Brings the schema to [`SCHEMA_VERSION`], one version per
    /// transaction. A ledger from a newer clawgate is refused, not
    /// written into.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let error = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(error)?;
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        if version > SCHEMA_VERSION {
            return Err(StoreError::Newer { path, version });
        }
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = self.conn.transaction().map_err(error)?;
            tx.execute_batch(migration).map_err(error)?;
            tx.pragma_update(None, "user_version", (index + 1) as i64)
                .map_err(error)?;
            tx.commit().map_err(error)?;
        }
        Ok(())
    }

    /// Refuses every write from now on, as a read-only mount does. For
    /// tests of a failing writer.
    #[cfg(test)]
    pub fn forbid_writes(&self) -> rusqlite::Result<()> {
        self.conn.pragma_update(None, "query_only", true)
    }

    /// Caps the database at `pages` pages, so that writes past it fail as
    /// on a full disk (`SQLITE_FULL`). For tests of a failing writer.
    #[cfg(test)]
    pub fn limit_pages(&self, pages: u32) -> rusqlite::Result<()> {
        self.conn.pragma_update(None, "max_page_count", pages)
    }

    /// Writes `rows` and their rollups in one transaction: each row, and
    /// each rollup once with what all its rows add.
    pub fn write(&mut self, rows: &[Row]) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(INSERT_ROW)?;
            for row in rows {
                let attempts = row.attempts.join(",");
                insert.execute(params![
                    row.ts_ms,
                    row.request_id,
                    row.front_end,
                    row.model_asked,
                    row.answered_by,
                    row.provider(),
                    (!attempts.is_empty()).then_some(attempts),
                    row.fallback(),
                    row.primary_failed(),
                    row.status,
                    row.end,
                    to_i64(row.first_byte_ms),
                    to_i64(row.total_ms),
                    row.tokens.input.map(to_i64),
                    row.tokens.cached.map(to_i64),
                    row.tokens.output.map(to_i64),
                    row.tokens.reasoning.map(to_i64),
                    row.cost_usd,
                    row.agent,
                    &*row.client,
                    row.session.as_deref(),
                    row.tokens.written.map(to_i64),
                ])?;
            }
            let mut upsert = tx.prepare_cached(UPSERT_SESSION)?;
            for ((client, session, target), r) in session::rollups(rows) {
                upsert.execute(params![
                    client,
                    session,
                    target,
                    r.first_ms,
                    r.last_ms,
                    r.turns,
                    r.failures,
                    r.tokens_in,
                    r.tokens_cached,
                    r.tokens_written,
                    r.tokens_out,
                    r.uncosted,
                    r.cost_usd,
                    r.uncached_cost_usd,
                ])?;
            }
            let mut upsert = tx.prepare_cached(UPSERT_DAY)?;
            for ((day, front_end, model, provider, agent, client), r) in rollups(rows) {
                upsert.execute(params![
                    day,
                    front_end,
                    model,
                    provider,
                    agent,
                    client,
                    r.requests,
                    r.failures,
                    r.fallbacks,
                    r.primary_failures,
                    r.fallback_cost_usd,
                    r.tokens_in,
                    r.tokens_cached,
                    r.tokens_out,
                    r.tokens_reasoning,
                    r.cost_usd,
                    r.uncosted,
                    r.total_ms,
                    r.budget_cost_usd,
                ])?;
            }
        }
        tx.commit()
    }

    /// Deletes raw rows older than `before_ms`, a chunk at a time so that
    /// readers are never held long; rollups stay. Returns the rows deleted.
    pub fn expire(&mut self, before_ms: i64) -> rusqlite::Result<u64> {
        let mut deleted = 0;
        loop {
            let n = self.conn.execute(
                "DELETE FROM requests WHERE id IN \
                 (SELECT id FROM requests WHERE ts_ms < ?1 ORDER BY ts_ms LIMIT 20000)",
                [before_ms],
            )?;
            deleted += n as u64;
            if n < 20000 {
                self.conn
                    .execute("DELETE FROM sessions WHERE last_ms < ?1", [before_ms])?;
                return Ok(deleted);
            }
        }
    }

    /// Each model's spend per day from `since_day` on, to rebuild the
    /// running totals at start. Requests no target answered (their model
    /// is empty) are left out, as the running totals leave them out.
    pub fn spend_since(&self, since_day: i64) -> rusqlite::Result<Vec<DaySpend>> {
        let mut statement = self.conn.prepare(
            "SELECT day, client, model, SUM(requests), SUM(fallbacks), \
             SUM(budget_cost_usd), SUM(uncosted), SUM(requests - failures) FROM daily \
             WHERE day >= ?1 AND model != '' GROUP BY day, client, model",
        )?;
        let rows = statement.query_map([since_day], |r| {
            Ok(DaySpend {
                day: r.get(0)?,
                client: r.get(1)?,
                model: r.get(2)?,
                requests: r.get::<_, i64>(3)? as u64,
                fallbacks: r.get::<_, i64>(4)? as u64,
                cost_usd: r.get(5)?,
                uncosted: r.get::<_, i64>(6)? as u64,
                answered: r.get::<_, i64>(7)?.max(0) as u64,
            })
        })?;
        rows.collect()
    }
}

impl Storage for Store {
    fn location(&self) -> Location {
        Location::File(self.path.clone())
    }

    /// A local commit is known to have happened or not: `batch` is not
    /// needed.
    fn write(&mut self, _batch: u64, rows: &[Row]) -> Result<(), StorageError> {
        Store::write(self, &storable_rows(rows)).map_err(|e| {
            use rusqlite::ErrorCode::{ConstraintViolation, TooBig, TypeMismatch};
            let refused = e
                .sqlite_error_code()
                .is_some_and(|code| [ConstraintViolation, TooBig, TypeMismatch].contains(&code));
            match self.error("write", e) {
                StorageError::Failed(why) if refused => StorageError::Refused(why),
                other => other,
            }
        })
    }

    fn expire(&mut self, before_ms: i64) -> Result<u64, StorageError> {
        Store::expire(self, before_ms).map_err(|e| self.error("expire old rows in", e))
    }

    fn spend_since(&mut self, since_day: i64) -> Result<Vec<DaySpend>, StorageError> {
        Store::spend_since(self, since_day)
            .map_err(|e| self.error("read the running totals from", e))
    }
}

impl Store {
    fn error(&self, what: &str, err: rusqlite::Error) -> StorageError {
        StorageError::Failed(format!("cannot {what} {}: {err}", self.path.display()))
    }
}

/// Opens the ledger at `path` for reading only (queries, `clawgate usage`).
pub fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    let error = |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(error)?;
    conn.busy_timeout(Duration::from_secs(2)).map_err(error)?;
    Ok(conn)
}

fn is_corrupt(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
}

/// `ledger.db.corrupt-<unix seconds>`, unused.
fn aside_name(path: &Path) -> PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut n = 0;
    loop {
        let name = match n {
            0 => format!("{}.corrupt-{now}", path.display()),
            n => format!("{}.corrupt-{now}-{n}", path.display()),
        };
        let candidate = PathBuf::from(name);
        if !candidate.exists() {
            return candidate;
        }
        n += 1;
    }
}

/// The state directory, readable by its owner only when it is created.
pub(super) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}
