//! Sessions' placements shared by the gateways on one PostgreSQL store
//! (`ledger.store`), so that a session lands on the same pool member
//! whichever gateway a load balancer sends it to.
//!
//! A new session's placement is claimed in `clawgate_placements`: the
//! first gateway's proposal is written (`INSERT ... ON CONFLICT`, which
//! replaces only a placement whose cache has gone cold), and every other
//! gateway reads it back. A gateway that keeps the session holds its
//! placement warm there, and one whose chain moved it writes the member
//! that answered ([`SharedPlacements::keep`], in the background). Unlike
//! the ledger's calls, a claim is made on
//! the request's path, so it has a short deadline ([`CLAIM_TIMEOUT`]):
//! a store that is slow, down or not yet connected leaves the request
//! placed locally, never held past it. The connection is made (and made
//! again after a failure, after a backoff doubling from 200 ms to 5 s) in
//! the background; its client is shared without a lock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use tokio_postgres::{Client, Config, Statement};

use super::pg_io::{ConnectError, connect};
use super::postgres::client_config;
use super::storage::StorageError;
use crate::config::ledger::StoreUrl;

/// The most a claim may hold a request up.
pub const CLAIM_TIMEOUT: Duration = Duration::from_millis(150);
/// The most connecting and preparing may take (in the background).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Placements kept in the background at once at most: past them one is
/// left undone (the next turn of its session tries again).
const KEEPS_AT_ONCE: usize = 16;
/// Every this many claims, placements cold for a day are deleted.
const CLEAN_EVERY: u64 = 1024;
/// Calls in a row a connection may leave unanswered within
/// [`CLAIM_TIMEOUT`], with no answer for [`SILENT_AT_MOST`], before it is
/// taken for dead: a peer gone without a word (a NAT's state dropped, a
/// host frozen) leaves it open for minutes. It is dropped, with the calls
/// queued on it, and made again after the backoff. A store slow for a
/// moment (a lock, a checkpoint) answers within the second.
const UNANSWERED_AT_MOST: u64 = 8;
const SILENT_AT_MOST: Duration = Duration::from_secs(1);

/// The table, made by the first gateway that connects; its rows are the
/// placements' own, apart from the ledger's versioned schema. Without the
/// notice that it exists, logged at every start after the first.
const SCHEMA: &str = "
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE TABLE IF NOT EXISTS clawgate_placements (
    session TEXT NOT NULL,
    pool TEXT NOT NULL,
    target TEXT NOT NULL,
    warm_until_ms BIGINT NOT NULL,
    PRIMARY KEY (session, pool)
);
COMMIT";
/// Proposes `$3` for session `$1` in pool `$2`, warm until `$4`: written
/// when the session has no placement there or only a cold one (`$5`:
/// now), and then returned.
const CLAIM: &str = "
INSERT INTO clawgate_placements AS p (session, pool, target, warm_until_ms)
VALUES ($1, $2, $3, $4)
ON CONFLICT (session, pool) DO UPDATE
    SET target = EXCLUDED.target, warm_until_ms = EXCLUDED.warm_until_ms
    WHERE p.warm_until_ms < $5
RETURNING target";
/// The placement another gateway wrote first (read in a statement of its
/// own, which sees what that gateway committed).
const READ: &str = "SELECT target FROM clawgate_placements WHERE session = $1 AND pool = $2";
/// Holds session `$1` on `$3` in pool `$2` until `$4` at least, where it
/// is placed there or its placement has gone cold (`$5`: now): a gateway
/// that kept it. Another member's placement, still warm, stays.
const KEEP: &str = "
INSERT INTO clawgate_placements AS p (session, pool, target, warm_until_ms)
VALUES ($1, $2, $3, $4)
ON CONFLICT (session, pool) DO UPDATE
    SET target = EXCLUDED.target,
        warm_until_ms = GREATEST(p.warm_until_ms, EXCLUDED.warm_until_ms)
    WHERE p.target = EXCLUDED.target OR p.warm_until_ms < $5";
/// Places session `$1` on `$3` in pool `$2` until `$4`, whatever it was
/// placed on: a gateway that moved it (its member failed or cools down).
const MOVE: &str = "
INSERT INTO clawgate_placements AS p (session, pool, target, warm_until_ms)
VALUES ($1, $2, $3, $4)
ON CONFLICT (session, pool) DO UPDATE
    SET target = EXCLUDED.target, warm_until_ms = EXCLUDED.warm_until_ms";
const CLEAN: &str = "DELETE FROM clawgate_placements WHERE warm_until_ms < $1";

struct Connected {
    client: Client,
    claim: Statement,
    read: Statement,
    keep: Statement,
    moved: Statement,
    /// Calls in a row not answered in time, and when the last answer came
    /// (or the connection was made).
    unanswered: AtomicU64,
    answered_at_ms: AtomicI64,
}

/// The shared placements of one store.
pub struct SharedPlacements {
    config: Config,
    connected: ArcSwapOption<Connected>,
    connecting: AtomicBool,
    /// No connection is tried before this (milliseconds since the Unix
    /// epoch), after a failure.
    retry_at_ms: AtomicU64,
    backoff_ms: AtomicU64,
    claims: AtomicU64,
    /// The placements being kept ([`SharedPlacements::keep`]).
    keeps: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for SharedPlacements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedPlacements")
            .field("connected", &self.connected.load().is_some())
            .finish()
    }
}

impl SharedPlacements {
    /// The placements of the store at `url`; nothing is connected until
    /// the first claim asks for it.
    pub fn new(url: &StoreUrl) -> Result<Arc<Self>, StorageError> {
        Ok(Arc::new(Self {
            config: client_config(url)?,
            connected: ArcSwapOption::empty(),
            connecting: AtomicBool::new(false),
            retry_at_ms: AtomicU64::new(0),
            backoff_ms: AtomicU64::new(FIRST_BACKOFF.as_millis() as u64),
            claims: AtomicU64::new(0),
            keeps: Arc::new(tokio::sync::Semaphore::new(KEEPS_AT_ONCE)),
        }))
    }

    /// Starts connecting (on the current Tokio runtime), so that the
    /// first sessions are already agreed on.
    pub fn start(self: &Arc<Self>) {
        self.connect_in_background();
    }

    /// The target of `session` in `pool` across the gateways: `proposed`
    /// if this claim is the first (or the placement there has gone cold),
    /// else the one written first. `None` when the store did not answer
    /// within [`CLAIM_TIMEOUT`] (or is not connected yet: a connection is
    /// then made in the background).
    pub async fn claim(
        self: &Arc<Self>,
        session: &str,
        pool: &str,
        proposed: &str,
        warm_for: Duration,
    ) -> Option<String> {
        let Some(connected) = self.connected.load_full() else {
            self.connect_in_background();
            return None;
        };
        let now = now_ms();
        let warm_until = now.saturating_add(warm_for.as_millis() as i64);
        let work = async {
            let claimed = connected
                .client
                .query_opt(
                    &connected.claim,
                    &[&session, &pool, &proposed, &warm_until, &now],
                )
                .await?;
            match claimed {
                Some(row) => Ok(Some(row.get::<_, String>(0))),
                None => connected
                    .client
                    .query_opt(&connected.read, &[&session, &pool])
                    .await
                    .map(|row| row.map(|row| row.get::<_, String>(0))),
            }
        };
        let answer = tokio::time::timeout(CLAIM_TIMEOUT, work).await;
        if self.claims.fetch_add(1, Ordering::Relaxed) % CLEAN_EVERY == CLEAN_EVERY - 1 {
            self.clean(connected.clone(), now);
        }
        self.answered(&connected, answer.is_ok());
        match answer {
            Ok(Ok(target)) => target,
            Ok(Err(error)) => {
                if connected.client.is_closed() {
                    tracing::warn!(
                        "session placements: the shared store's connection closed ({error}); placing locally until it is back"
                    );
                    self.dropped(&connected);
                }
                None
            }
            Err(_) => None,
        }
    }

    /// Counts a call on `connected` that was answered in time or not;
    /// past [`UNANSWERED_AT_MOST`] in a row not answered, and
    /// [`SILENT_AT_MOST`] without an answer, it is dropped.
    fn answered(&self, connected: &Arc<Connected>, in_time: bool) {
        let now = now_ms();
        if in_time {
            connected.unanswered.store(0, Ordering::Relaxed);
            connected.answered_at_ms.store(now, Ordering::Relaxed);
            return;
        }
        let unanswered = connected.unanswered.fetch_add(1, Ordering::Relaxed) + 1;
        let silent = now - connected.answered_at_ms.load(Ordering::Relaxed);
        if unanswered >= UNANSWERED_AT_MOST
            && silent >= SILENT_AT_MOST.as_millis() as i64
            && self.dropped(connected)
        {
            tracing::warn!(
                "session placements: the shared store answered none of {unanswered} calls in a row within {}ms, nor anything for {silent}ms; connecting again, placing locally meanwhile",
                CLAIM_TIMEOUT.as_millis()
            );
        }
    }

    /// Stops using `connected`, if it is still the connection (one made
    /// again meanwhile stays), and connects again after the backoff:
    /// whether it was.
    fn dropped(&self, connected: &Arc<Connected>) -> bool {
        let current = self.connected.load();
        let still = current
            .as_ref()
            .is_some_and(|now| Arc::ptr_eq(now, connected));
        if still {
            self.connected.store(None);
            self.failed();
        }
        still
    }

    /// Holds `session` on `target` in `pool`, warm for `warm_for` from
    /// now (`moved`: whatever it was placed on; else only where it is
    /// placed there or its placement has gone cold), in the background and
    /// within [`CLAIM_TIMEOUT`]: nothing waits for it, at most
    /// [`KEEPS_AT_ONCE`] run at once (one more is left undone), and a
    /// store that is away leaves it undone (the others then place the
    /// session afresh once it is cold there).
    pub fn keep(
        self: &Arc<Self>,
        (session, pool, target): (&str, &str, &str),
        warm_for: Duration,
        moved: bool,
    ) {
        let Some(connected) = self.connected.load_full() else {
            self.connect_in_background();
            return;
        };
        let Ok(running) = self.keeps.clone().try_acquire_owned() else {
            return;
        };
        let now = now_ms();
        let warm_until = now.saturating_add(warm_for.as_millis() as i64);
        let (session, pool, target) = (session.to_owned(), pool.to_owned(), target.to_owned());
        let this = self.clone();
        tokio::spawn(async move {
            let _running = running;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
                [&session, &pool, &target, &warm_until, &now];
            let work = match moved {
                true => connected.client.execute(&connected.moved, &params[..4]),
                false => connected.client.execute(&connected.keep, &params),
            };
            let answer = tokio::time::timeout(CLAIM_TIMEOUT, work).await;
            this.answered(&connected, answer.is_ok());
            if let Ok(Err(error)) = answer {
                tracing::debug!("session placements: a placement not kept in the store: {error}");
                if connected.client.is_closed() {
                    this.dropped(&connected);
                }
            }
        });
    }

    /// Deletes placements cold for a day, in the background.
    fn clean(&self, connected: Arc<Connected>, now: i64) {
        let before = now - 86_400_000;
        tokio::spawn(async move {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&before];
            let work = connected.client.execute(CLEAN, &params);
            let _ = tokio::time::timeout(CONNECT_TIMEOUT, work).await;
        });
    }

    /// Starts connecting unless a connection is being made or the backoff
    /// after a failure has not passed.
    fn connect_in_background(self: &Arc<Self>) {
        if (now_ms() as u64) < self.retry_at_ms.load(Ordering::Relaxed)
            || self.connecting.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(CONNECT_TIMEOUT, this.connect()).await {
                Ok(Ok(connected)) => {
                    this.backoff_ms
                        .store(FIRST_BACKOFF.as_millis() as u64, Ordering::Relaxed);
                    this.connected.store(Some(Arc::new(connected)));
                    tracing::info!("session placements: shared with the gateways on the store");
                }
                Ok(Err(error)) => {
                    tracing::debug!("session placements: cannot reach the shared store: {error}");
                    this.failed();
                }
                Err(_) => this.failed(),
            }
            this.connecting.store(false, Ordering::Release);
        });
    }

    async fn connect(&self) -> Result<Connected, ConnectError> {
        let client = connect(&self.config).await?;
        client.batch_execute(SCHEMA).await?;
        let claim = client.prepare(CLAIM).await?;
        let read = client.prepare(READ).await?;
        let keep = client.prepare(KEEP).await?;
        let moved = client.prepare(MOVE).await?;
        Ok(Connected {
            client,
            claim,
            read,
            keep,
            moved,
            unanswered: AtomicU64::new(0),
            answered_at_ms: AtomicI64::new(now_ms()),
        })
    }

    fn failed(&self) {
        let backoff = self.backoff_ms.load(Ordering::Relaxed);
        self.retry_at_ms
            .store(now_ms() as u64 + backoff, Ordering::Relaxed);
        let next = (backoff * 2).min(MAX_BACKOFF.as_millis() as u64);
        self.backoff_ms.store(next, Ordering::Relaxed);
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_store_that_is_not_there_never_holds_a_claim_up() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "postgresql://clawgate@/clawgate?host={}",
            dir.path().display()
        );
        let url = StoreUrl::Postgres {
            url: secrecy::SecretString::from(text),
            shown: "postgresql://clawgate@/clawgate".into(),
        };
        let shared = SharedPlacements::new(&url).unwrap();
        shared.start();
        for _ in 0..20 {
            let started = std::time::Instant::now();
            let claimed = shared
                .claim("s", "a/m b/m", "a/m", Duration::from_secs(300))
                .await;
            assert_eq!(claimed, None);
            assert!(started.elapsed() < CLAIM_TIMEOUT, "{:?}", started.elapsed());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // It failed, and waits out a backoff before trying again.
        assert!(shared.retry_at_ms.load(Ordering::Relaxed) > 0);
        assert!(shared.connected.load().is_none());
    }
}
