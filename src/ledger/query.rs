//! Usage reports (`clawgate usage`, `GET /v1/usage`): totals per day, week
//! or month, by model, provider, client or front end, read from the daily
//! rollups only, so a report costs the same with 5 million raw rows as
//! with 5; by session, the sessions' rollups ([`super::session`]), the
//! last used first, at most [`Query::limit`].

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::Serialize;

use super::calendar::{date, parse_date, period_start, start_of_day};
use super::session::{self, Session};
use crate::config::ledger::Period;
use crate::config::suggest;
use crate::ops::redact::Redactor;

/// What a report groups by besides time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Model,
    Provider,
    /// The configured client whose key the request presented.
    Client,
    /// The calling program, from its `User-Agent`.
    Agent,
    FrontEnd,
    /// The conversation ([`super::session`]): a report's `sessions`.
    Session,
}

impl Dimension {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "model" => Some(Dimension::Model),
            "provider" => Some(Dimension::Provider),
            "client" => Some(Dimension::Client),
            "agent" => Some(Dimension::Agent),
            "front-end" | "frontend" | "front_end" | "api" => Some(Dimension::FrontEnd),
            "session" => Some(Dimension::Session),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Dimension::Model => "model",
            Dimension::Provider => "provider",
            Dimension::Client => "client",
            Dimension::Agent => "agent",
            Dimension::FrontEnd => "front-end",
            Dimension::Session => "session",
        }
    }

    /// The daily rollups' column: from this fixed list, never from the
    /// caller. Sessions are not in the daily rollups: their report's
    /// totals are not broken down (`''`).
    fn column(self) -> &'static str {
        match self {
            Dimension::Model => "model",
            Dimension::Provider => "provider",
            Dimension::Client => "client",
            Dimension::Agent => "agent",
            Dimension::FrontEnd => "front_end",
            Dimension::Session => "''",
        }
    }
}

/// A report's question.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// First and last day, inclusive.
    pub since_day: i64,
    pub until_day: i64,
    /// One line per period, or one for the whole range.
    pub per: Option<Period>,
    pub by: Option<Dimension>,
    /// One client's requests only.
    pub client: Option<String>,
    /// By session, the most sessions listed ([`session_limit`]).
    pub limit: usize,
}

/// The sessions a report lists: `asked`, else
/// [`session::DEFAULT_LIMIT`], at most [`session::MAX_LIMIT`].
pub fn session_limit(asked: Option<usize>) -> usize {
    asked
        .unwrap_or(session::DEFAULT_LIMIT)
        .clamp(1, session::MAX_LIMIT)
}

/// Whether a limit was asked of a report not by session: it is the most
/// sessions listed, so it would be ignored there, and it is refused.
pub fn limit_without_sessions(asked: Option<usize>, by: Option<Dimension>) -> bool {
    asked.is_some() && by != Some(Dimension::Session)
}

/// Every client's requests from the first day to `today`, a line each:
/// the clients the ledger knows ([`unknown_client`]).
pub fn every_client(today: i64) -> Query {
    Query {
        since_day: 0,
        until_day: today,
        per: None,
        by: Some(Dimension::Client),
        client: None,
        limit: session_limit(None),
    }
}

/// Why a report of `name`'s usage that found nothing names no client, if
/// it does not: `name` is none of `configured` (when the config was read)
/// and made no request on any day (`by_client` reads the report of
/// [`every_client`], only when `name` is not configured). A report of
/// zeros would read as no spend. `name` is quoted through `redactor` (a
/// key may be pasted there).
pub fn unknown_client<E>(
    name: &str,
    configured: Option<&[String]>,
    by_client: impl FnOnce() -> Result<Report, E>,
    redactor: &Redactor,
) -> Result<Option<String>, E> {
    let mut known: Vec<String> = configured.unwrap_or_default().to_vec();
    if known.iter().any(|known| known == name) {
        return Ok(None);
    }
    let by_client = by_client()?;
    // A row without a client (from before clients, or refused before its
    // key was read) is `(none)`, no name matches.
    let keys = by_client.lines.into_iter().filter_map(|line| line.key);
    known.extend(keys.filter(|key| key != "(none)"));
    known.sort();
    known.dedup();
    if known.iter().any(|known| known == name) {
        return Ok(None);
    }
    let shown = redactor.scrub(name);
    let hint = suggest::did_you_mean(&suggest::nearest(name, known.iter().map(String::as_str)))
        .map(|hint| format!("; {hint}"))
        .unwrap_or_default();
    let clients = match known.as_slice() {
        [] => "no client has made a request yet".to_string(),
        known => format!("the clients are {}", known.join(", ")),
    };
    let looked = match configured {
        Some(_) => "under gateway.clients or in the ledger",
        None => "in the ledger",
    };
    Ok(Some(format!(
        "{shown:?}: no such client {looked}{hint} ({clients})"
    )))
}

/// `--since`: `30d` (the last 30 days, today included), `4w`, `3mo`,
/// `today`, or a date `YYYY-MM-DD`.
pub fn parse_since(text: &str, today: i64) -> Result<i64, String> {
    let text = text.trim();
    if text == "today" {
        return Ok(today);
    }
    if let Some(day) = parse_date(text) {
        // A report from a day to come would be empty, and look like no
        // spend at all.
        return match day > today {
            true => Err(format!(
                "{text} is after today (UTC): the report would be empty"
            )),
            false => Ok(day),
        };
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let days_per = match unit {
        "d" | "day" | "days" => Some(1),
        "w" | "week" | "weeks" => Some(7),
        "mo" | "month" | "months" => Some(30),
        _ => None,
    };
    let days = match (number.parse::<i64>(), days_per) {
        (Ok(n), Some(per)) => n.checked_mul(per),
        // More digits than any count holds: a duration still.
        (Err(_), Some(_)) if !number.is_empty() => None,
        _ => {
            return Err(format!(
                "expected a duration such as 30d, 4w or 3mo (a month is 30 days), \"today\", or a date YYYY-MM-DD; found {text:?}"
            ));
        }
    };
    match days {
        Some(days @ 1..=MOST_DAYS) => Ok(today - days + 1),
        _ => Err(format!(
            "{text:?}: a duration is 1 to {MOST_DAYS} days (a hundred years; a month is 30 days)"
        )),
    }
}

/// The longest `--since` duration, in days.
const MOST_DAYS: i64 = 36_500;

/// One line of a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    /// The first day of the line's period (`None` for the whole range).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// The model, provider, client or front end (`None` when not grouped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub requests: u64,
    pub failures: u64,
    /// Answered by a fallback after the primary failed or was skipped.
    pub fallbacks: u64,
    /// The chain's first target did not answer.
    pub primary_failures: u64,
    /// What the answers of fallbacks cost.
    pub fallback_cost_usd: f64,
    pub tokens_in: u64,
    pub tokens_cached: u64,
    pub tokens_out: u64,
    pub tokens_reasoning: u64,
    /// What the answers with a known cost cost.
    pub cost_usd: f64,
    /// Answers without a known cost (no price, or no usage sent).
    pub uncosted: u64,
    pub total_ms: u64,
}

impl Line {
    fn add(&mut self, other: &Line) {
        self.requests += other.requests;
        self.failures += other.failures;
        self.fallbacks += other.fallbacks;
        self.primary_failures += other.primary_failures;
        self.fallback_cost_usd += other.fallback_cost_usd;
        self.tokens_in += other.tokens_in;
        self.tokens_cached += other.tokens_cached;
        self.tokens_out += other.tokens_out;
        self.tokens_reasoning += other.tokens_reasoning;
        self.cost_usd += other.cost_usd;
        self.uncosted += other.uncosted;
        self.total_ms += other.total_ms;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub since: String,
    pub until: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    pub lines: Vec<Line>,
    pub total: Line,
    /// By session: the sessions used in the range, the last used first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Vec<Session>>,
}

/// The rollup columns a report sums, in order after `day` and the key:
/// the same text for both stores (PostgreSQL casts the sums back to
/// integers).
pub(super) const SUMS: [&str; 12] = [
    "requests",
    "failures",
    "fallbacks",
    "primary_failures",
    "fallback_cost_usd",
    "tokens_in",
    "tokens_cached",
    "tokens_out",
    "tokens_reasoning",
    "cost_usd",
    "uncosted",
    "total_ms",
];

/// The column a report groups by besides the day (`''` for none).
pub(super) fn key_column(query: &Query) -> &'static str {
    query.by.map_or("''", Dimension::column)
}

/// Runs `query` against the rollups of the SQLite ledger.
pub fn run(conn: &Connection, query: &Query) -> rusqlite::Result<Report> {
    let mut report = totals(conn, query)?;
    if query.by == Some(Dimension::Session) {
        report.sessions = Some(sessions(conn, query)?);
    }
    Ok(report)
}

/// The sessions' query, the same text for both stores but for how the
/// targets are joined (`{targets}`) and the parameters' spelling.
/// A session used in the range (a target's turns from `{since}` to
/// before `{until}`) is given whole: every target's turns, in the range
/// or not (a session's figures are kept per session, not per day).
pub(super) const SESSIONS: &str = "SELECT client, session, {targets}, MIN(first_ms), \
    MAX(last_ms), SUM(turns), SUM(failures), SUM(tokens_in), SUM(tokens_cached), \
    SUM(tokens_written), SUM(tokens_out), SUM(uncosted), SUM(cost_usd), \
    SUM(uncached_cost_usd) FROM {table} WHERE ({client} IS NULL OR client = {client}) \
    AND (client, session) IN (SELECT client, session FROM {table} \
    WHERE last_ms >= {since} AND first_ms < {until} \
    AND ({client} IS NULL OR client = {client})) GROUP BY client, session \
    ORDER BY MAX(last_ms) DESC, client, session LIMIT {limit}";

/// The first millisecond of the report's range, and the first after it:
/// the sessions used between.
pub(super) fn range_ms(query: &Query) -> (i64, i64) {
    let ms = |day| super::calendar::millis(start_of_day(day));
    (ms(query.since_day), ms(query.until_day.saturating_add(1)))
}

/// A session from its counts in [`SESSIONS`] order after the targets
/// (first, last, turns, failures, tokens in, cached, written, out,
/// uncosted) and its two costs.
pub(super) fn session_of(
    (client, session, targets): (String, String, Vec<String>),
    counts: [i64; 9],
    (cost_usd, uncached_cost_usd): (f64, f64),
) -> Session {
    let [first_ms, last_ms, turns, failures] = [0, 1, 2, 3].map(|i| counts[i]);
    let rollup = session::Rollup {
        first_ms,
        last_ms,
        turns,
        failures,
        tokens_in: counts[4],
        tokens_cached: counts[5],
        tokens_written: counts[6],
        tokens_out: counts[7],
        cost_usd,
        uncached_cost_usd,
        uncosted: counts[8],
    };
    Session::of(client, session, targets, &rollup)
}

fn sessions(conn: &Connection, query: &Query) -> rusqlite::Result<Vec<Session>> {
    let sql = SESSIONS
        .replace("{targets}", "group_concat(NULLIF(target, ''), char(10))")
        .replace("{table}", "sessions")
        .replace("{since}", "?1")
        .replace("{client}", "?2")
        .replace("{limit}", "?3")
        .replace("{until}", "?4");
    let mut statement = conn.prepare(&sql)?;
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let (since, until) = range_ms(query);
    let parameters = rusqlite::params![since, query.client, limit, until];
    let rows = statement.query_map(parameters, |r| {
        let count = |i| r.get::<_, i64>(i);
        Ok(session_of(
            (r.get(0)?, r.get(1)?, session::targets(r.get(2)?)),
            [
                count(3)?,
                count(4)?,
                count(5)?,
                count(6)?,
                count(7)?,
                count(8)?,
                count(9)?,
                count(10)?,
                count(11)?,
            ],
            (r.get(12)?, r.get(13)?),
        ))
    })?;
    rows.collect()
}

/// The totals of the daily rollups, as `query` groups them.
fn totals(conn: &Connection, query: &Query) -> rusqlite::Result<Report> {
    let key = key_column(query);
    let sums: Vec<String> = SUMS.iter().map(|c| format!("SUM({c})")).collect();
    let sql = format!(
        "SELECT day, {key}, {} FROM daily WHERE day BETWEEN ?1 AND ?2 \
         AND (?3 IS NULL OR client = ?3) GROUP BY day, {key}",
        sums.join(", ")
    );
    let mut statement = conn.prepare(&sql)?;
    let count = |r: &rusqlite::Row, i| r.get::<_, i64>(i);
    let parameters = rusqlite::params![query.since_day, query.until_day, query.client];
    let rows = statement.query_map(parameters, |r| {
        let line = line_of([
            count(r, 2)?,
            count(r, 3)?,
            count(r, 4)?,
            count(r, 5)?,
            count(r, 7)?,
            count(r, 8)?,
            count(r, 9)?,
            count(r, 10)?,
            count(r, 12)?,
            count(r, 13)?,
        ])
        .costs(r.get(6)?, r.get(11)?);
        Ok((r.get(0)?, r.get(1)?, line))
    })?;
    Ok(assemble(query, rows.collect::<rusqlite::Result<Vec<_>>>()?))
}

/// A line from its counts in [`SUMS`] order (the two costs left out).
pub(super) fn line_of(counts: [i64; 10]) -> Line {
    let n = counts.map(|n| n.max(0) as u64);
    Line {
        requests: n[0],
        failures: n[1],
        fallbacks: n[2],
        primary_failures: n[3],
        tokens_in: n[4],
        tokens_cached: n[5],
        tokens_out: n[6],
        tokens_reasoning: n[7],
        uncosted: n[8],
        total_ms: n[9],
        ..Line::default()
    }
}

impl Line {
    pub(super) fn costs(mut self, fallback_cost_usd: f64, cost_usd: f64) -> Self {
        self.fallback_cost_usd = fallback_cost_usd;
        self.cost_usd = cost_usd;
        self
    }
}

/// The report from the rollups' sums per day and key, whichever store
/// they came from.
pub(super) fn assemble(query: &Query, rows: Vec<(i64, String, Line)>) -> Report {
    let mut grouped: BTreeMap<(i64, String), Line> = BTreeMap::new();
    let mut total = Line::default();
    // By session, the lines are the range's or periods' totals.
    let by = query.by.filter(|by| *by != Dimension::Session);
    for (day, key, line) in rows {
        total.add(&line);
        // A period the range starts inside is named by the range's first
        // day: a week of `--since` a Wednesday is no whole week.
        let bucket = query.per.map_or(query.since_day, |p| {
            period_start(p, day).max(query.since_day)
        });
        let key = match (by, key.is_empty()) {
            (Some(_), true) => "(none)".to_string(),
            _ => key,
        };
        grouped.entry((bucket, key)).or_default().add(&line);
    }
    let lines = grouped
        .into_iter()
        .map(|((bucket, key), mut line)| {
            line.period = query.per.map(|_| date(bucket));
            line.key = by.map(|_| key);
            line
        })
        .collect();
    Report {
        since: date(query.since_day),
        until: date(query.until_day),
        per: query.per.map(Period::label),
        by: query.by.map(Dimension::label),
        client: query.client.clone(),
        lines,
        total,
        sessions: None,
    }
}

/// The report as CSV, one header line then one line per row.
pub fn csv(report: &Report) -> String {
    if let Some(sessions) = &report.sessions {
        return sessions_csv(sessions);
    }
    let mut out = String::from(
        "period,key,requests,failures,fallbacks,primary_failures,fallback_cost_usd,tokens_in,tokens_cached,tokens_out,tokens_reasoning,cost_usd,uncosted\n",
    );
    for line in &report.lines {
        out.push_str(&format!(
            "{},{},{},{},{},{},{:.6},{},{},{},{},{:.6},{}\n",
            line.period.as_deref().unwrap_or(&report.since),
            csv_field(line.key.as_deref().unwrap_or("all")),
            line.requests,
            line.failures,
            line.fallbacks,
            line.primary_failures,
            line.fallback_cost_usd,
            line.tokens_in,
            line.tokens_cached,
            line.tokens_out,
            line.tokens_reasoning,
            line.cost_usd,
            line.uncosted
        ));
    }
    out
}

/// A report by session as CSV: a line per session, the last used first.
fn sessions_csv(sessions: &[Session]) -> String {
    let mut out = String::from(
        "session,client,first_ms,last_ms,turns,failures,targets,tokens_in,tokens_cached,tokens_written,tokens_out,cost_usd,uncached_cost_usd,saved_usd,uncosted\n",
    );
    for s in sessions {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{:.6},{:.6},{:.6},{}\n",
            csv_field(&s.session),
            csv_field(&s.client),
            s.first_ms,
            s.last_ms,
            s.turns,
            s.failures,
            csv_field(&s.targets.join(" ")),
            s.tokens_in,
            s.tokens_cached,
            s.tokens_written,
            s.tokens_out,
            s.cost_usd,
            s.uncached_cost_usd,
            s.saved_usd,
            s.uncosted
        ));
    }
    out
}

/// Quoted when it holds a comma, quote or line break; a leading `=`, `+`,
/// `-` or `@` is escaped so that a spreadsheet does not run it.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}
