//! What each session (a conversation: the request's session key) spent.
//! Both stores keep one rollup per client, session and target that
//! answered (SQLite's `sessions`, PostgreSQL's `clawgate_sessions`),
//! written with the rows in the same transaction and expired with them
//! (`ledger.retentionDays`, by the session's last turn); a report groups
//! them by session, the last used first, at most [`MAX_LIMIT`]. The status
//! page shows the last sessions this gateway answered, from memory
//! ([`Recent`], at most [`RECENT`]).
//!
//! A session is its client's: two clients naming the same key have two
//! sessions, and a client that is not an admin reads only its own.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use super::Row;
use super::storage::to_i64;

/// Sessions in a report when no limit is asked.
pub const DEFAULT_LIMIT: usize = 50;
/// The most sessions a report holds.
pub const MAX_LIMIT: usize = 1000;
/// The sessions the status page shows.
pub const RECENT: usize = 20;
/// The most targets a session shown in memory names.
const MAX_TARGETS: usize = 8;

/// What the rows of one session (and target) add up to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rollup {
    pub first_ms: i64,
    pub last_ms: i64,
    pub turns: i64,
    pub failures: i64,
    pub tokens_in: i64,
    pub tokens_cached: i64,
    pub tokens_written: i64,
    pub tokens_out: i64,
    pub cost_usd: f64,
    /// What the same turns would have cost with every input token at the
    /// full input price ([`Row::uncached_cost_usd`]).
    pub uncached_cost_usd: f64,
    /// Answered turns without a known cost.
    pub uncosted: i64,
}

impl Rollup {
    /// Adds `row`. Counts saturate, as the daily rollups' do.
    pub fn add(&mut self, row: &Row) {
        fn sum(total: &mut i64, more: i64) {
            *total = total.saturating_add(more);
        }
        let count = |n: Option<u64>| to_i64(n.unwrap_or(0));
        self.first_ms = match self.turns {
            0 => row.ts_ms,
            _ => self.first_ms.min(row.ts_ms),
        };
        self.last_ms = self.last_ms.max(row.ts_ms);
        sum(&mut self.turns, 1);
        sum(&mut self.failures, i64::from(!row.succeeded()));
        sum(&mut self.tokens_in, count(row.tokens.input));
        sum(&mut self.tokens_cached, count(row.tokens.cached));
        sum(&mut self.tokens_written, count(row.tokens.written));
        sum(&mut self.tokens_out, count(row.tokens.output));
        self.cost_usd += row.cost_usd.unwrap_or(0.0);
        self.uncached_cost_usd += row.uncached_cost_usd.unwrap_or(0.0);
        sum(&mut self.uncosted, i64::from(row.uncosted()));
    }

    /// Adds another rollup of the same session.
    fn merge(&mut self, other: &Rollup) {
        if self.turns == 0 {
            *self = other.clone();
            return;
        }
        self.first_ms = self.first_ms.min(other.first_ms);
        self.last_ms = self.last_ms.max(other.last_ms);
        for (total, more) in [
            (&mut self.turns, other.turns),
            (&mut self.failures, other.failures),
            (&mut self.tokens_in, other.tokens_in),
            (&mut self.tokens_cached, other.tokens_cached),
            (&mut self.tokens_written, other.tokens_written),
            (&mut self.tokens_out, other.tokens_out),
            (&mut self.uncosted, other.uncosted),
        ] {
            *total = total.saturating_add(more);
        }
        self.cost_usd += other.cost_usd;
        self.uncached_cost_usd += other.uncached_cost_usd;
    }
}

/// A session rollup's key: client, session, and the target that answered
/// (`""` for turns no target answered).
pub type Key<'a> = (&'a str, &'a str, &'a str);

/// What `rows` add to each session's rollups, in the order of their keys
/// (writers sharing a database take the rows' locks in one order). Rows
/// without a session add nothing.
pub fn rollups(rows: &[Row]) -> Vec<(Key<'_>, Rollup)> {
    let mut rollups: HashMap<Key<'_>, Rollup> = HashMap::new();
    for row in rows {
        if let Some(session) = row.session.as_deref() {
            let key = (
                &*row.client,
                session,
                row.answered_by.as_deref().unwrap_or(""),
            );
            rollups.entry(key).or_default().add(row);
        }
    }
    let mut rollups: Vec<_> = rollups.into_iter().collect();
    rollups.sort_by(|a, b| a.0.cmp(&b.0));
    rollups
}

/// One session in a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub session: String,
    /// The client whose key the session's requests presented.
    pub client: String,
    /// Its first and last turn, in milliseconds since the epoch.
    pub first_ms: i64,
    pub last_ms: i64,
    pub turns: u64,
    pub failures: u64,
    /// The targets that answered it, by ref, sorted.
    pub targets: Vec<String>,
    /// Every input token, cached and written ones included (OpenAI's
    /// `prompt_tokens`).
    pub tokens_in: u64,
    /// Of the input, read from the provider's cache.
    pub tokens_cached: u64,
    /// Of the input, written to the provider's cache.
    pub tokens_written: u64,
    pub tokens_out: u64,
    /// Cached over input; 0 without input.
    pub hit_rate: f64,
    pub cost_usd: f64,
    /// What it would have cost at the full input price.
    pub uncached_cost_usd: f64,
    /// What caching saved: the two costs' difference.
    pub saved_usd: f64,
    /// Answered turns without a known cost.
    pub uncosted: u64,
}

impl Session {
    pub fn of(client: String, session: String, mut targets: Vec<String>, r: &Rollup) -> Self {
        targets.retain(|t| !t.is_empty());
        targets.sort();
        targets.dedup();
        let n = |count: i64| count.max(0) as u64;
        Self {
            session,
            client,
            first_ms: r.first_ms,
            last_ms: r.last_ms,
            turns: n(r.turns),
            failures: n(r.failures),
            targets,
            tokens_in: n(r.tokens_in),
            tokens_cached: n(r.tokens_cached),
            tokens_written: n(r.tokens_written),
            tokens_out: n(r.tokens_out),
            hit_rate: match r.tokens_in {
                0 => 0.0,
                input => r.tokens_cached as f64 / input as f64,
            },
            cost_usd: r.cost_usd,
            uncached_cost_usd: r.uncached_cost_usd,
            saved_usd: r.uncached_cost_usd - r.cost_usd,
            uncosted: n(r.uncosted),
        }
    }
}

/// The targets of a session as a store aggregates them: refs joined by a
/// line feed, which no ref holds.
pub(super) const TARGET_SEPARATOR: char = '\n';

/// A stored session's targets, from their aggregate.
pub(super) fn targets(joined: Option<String>) -> Vec<String> {
    joined
        .map(|text| text.split(TARGET_SEPARATOR).map(str::to_string).collect())
        .unwrap_or_default()
}

/// The sessions this gateway answered last, in memory, for the status
/// page: at most [`RECENT`], the one used longest ago let go first.
#[derive(Debug, Default)]
pub struct Recent {
    /// Newest last.
    sessions: VecDeque<Kept>,
}

#[derive(Debug)]
struct Kept {
    client: std::sync::Arc<str>,
    session: std::sync::Arc<str>,
    targets: Vec<String>,
    rollup: Rollup,
}

impl Recent {
    pub fn add(&mut self, row: &Row) {
        let Some(session) = &row.session else { return };
        let found =
            (self.sessions.iter()).position(|k| k.session == *session && k.client == row.client);
        let mut kept = match found.and_then(|at| self.sessions.remove(at)) {
            Some(kept) => kept,
            None => Kept {
                client: row.client.clone(),
                session: session.clone(),
                targets: Vec::new(),
                rollup: Rollup::default(),
            },
        };
        let mut one = Rollup::default();
        one.add(row);
        kept.rollup.merge(&one);
        if let Some(target) = &row.answered_by
            && !kept.targets.contains(target)
            && kept.targets.len() < MAX_TARGETS
        {
            kept.targets.push(target.clone());
        }
        if self.sessions.len() >= RECENT {
            self.sessions.pop_front();
        }
        self.sessions.push_back(kept);
    }

    /// The sessions, the last used first.
    pub fn sessions(&self) -> Vec<Session> {
        (self.sessions.iter().rev())
            .map(|k| {
                let (client, session) = (k.client.to_string(), k.session.to_string());
                Session::of(client, session, k.targets.clone(), &k.rollup)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Tokens;

    fn turn(client: &str, session: Option<&str>, target: &str, ts_ms: i64) -> Row {
        Row {
            ts_ms,
            request_id: None,
            front_end: "openai-chat",
            model_asked: None,
            answered_by: Some(target.to_string()),
            attempts: vec![format!("{target}:ok")],
            status: 200,
            end: "complete",
            first_byte_ms: 1,
            total_ms: 2,
            tokens: Tokens {
                input: Some(1000),
                cached: Some(800),
                written: Some(100),
                output: Some(50),
                reasoning: None,
            },
            cost_usd: Some(0.5),
            uncached_cost_usd: Some(2.0),
            budget_estimate_usd: None,
            agent: "other",
            client: client.into(),
            session: session.map(Into::into),
        }
    }

    #[test]
    fn a_session_adds_its_turns_on_every_target_and_says_what_caching_saved() {
        let rows = [
            turn("alice", Some("s1"), "moonshot/kimi-k2.6", 10),
            turn("alice", Some("s1"), "moonshot/kimi-k2.6", 30),
            turn("alice", Some("s1"), "openrouter/kimi", 20),
            turn("alice", None, "moonshot/kimi-k2.6", 40),
        ];
        let rollups = rollups(&rows);
        assert_eq!(rollups.len(), 2, "one per target, none without a session");
        let mut total = Rollup::default();
        for (_, r) in &rollups {
            total.merge(r);
        }
        let targets = rollups.iter().map(|(k, _)| k.2.to_string()).collect();
        let session = Session::of("alice".into(), "s1".into(), targets, &total);
        assert_eq!(
            (session.first_ms, session.last_ms, session.turns),
            (10, 30, 3)
        );
        assert_eq!(session.targets, ["moonshot/kimi-k2.6", "openrouter/kimi"]);
        assert_eq!(
            (
                session.tokens_in,
                session.tokens_cached,
                session.tokens_written
            ),
            (3000, 2400, 300)
        );
        assert_eq!(session.hit_rate, 0.8);
        assert_eq!((session.cost_usd, session.saved_usd), (1.5, 4.5));
    }

    #[test]
    fn the_recent_sessions_are_bounded_and_each_clients_own() {
        let mut recent = Recent::default();
        recent.add(&turn("alice", Some("s"), "a/m", 1));
        recent.add(&turn("bob", Some("s"), "a/m", 2));
        recent.add(&turn("alice", Some("s"), "b/m", 3));
        let sessions = recent.sessions();
        assert_eq!(sessions.len(), 2);
        assert_eq!((&*sessions[0].client, sessions[0].turns), ("alice", 2));
        assert_eq!(sessions[0].targets, ["a/m", "b/m"]);
        assert_eq!((&*sessions[1].client, sessions[1].turns), ("bob", 1));
        for i in 0..(RECENT as i64 + 5) {
            recent.add(&turn("carol", Some(&format!("c{i}")), "a/m", 10 + i));
        }
        let sessions = recent.sessions();
        assert_eq!(sessions.len(), RECENT);
        assert_eq!(sessions[0].session, format!("c{}", RECENT + 4));
    }

    #[test]
    fn a_session_without_input_has_no_hit_rate_to_divide() {
        let session = Session::of("a".into(), "s".into(), vec![], &Rollup::default());
        assert_eq!(session.hit_rate, 0.0);
    }
}
