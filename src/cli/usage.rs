//! `clawgate usage`: totals from the usage ledger by day, week or month,
//! by model, provider, client or front end, as a table, JSON or CSV; or
//! by session, each session's turns, tokens, hit rate and what caching
//! saved, the last used first. Reads
//! the database directly (read-only; the running gateway keeps writing),
//! so it works whether or not the gateway runs. With `ledger.store` set,
//! it reads the PostgreSQL database every gateway writes into.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{CliError, SourceArgs, print_json};
use crate::config::ledger::Period;
use crate::config::{self, Secrets};
use crate::ledger::session::Session;
use crate::ledger::storage::Location;
use crate::ledger::{self, budget, calendar, query};
use crate::ops::redact::Redactor;

#[derive(Debug, Args)]
pub struct UsageArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// From when: 30d (the last 30 days, today included), 4w, 3mo, today, or a date YYYY-MM-DD (UTC).
    #[arg(long, default_value = "30d", value_name = "WHEN")]
    since: String,
    /// One line per day, week or month (default: one line for the whole range).
    #[arg(long, value_name = "PERIOD", value_parser = ["day", "week", "month"])]
    per: Option<String>,
    /// Group by model, provider, client (gateway.clients), agent (the
    /// calling program), front-end, or session (a line per conversation,
    /// the last used first).
    #[arg(long, value_name = "WHAT", value_parser = ["model", "provider", "client", "agent", "front-end", "session"])]
    by: Option<String>,
    /// With --by session: the most sessions listed (default 50, at most 1000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
    limit: Option<u16>,
    /// One client's usage only (its name under gateway.clients, token or anonymous).
    #[arg(long, value_name = "NAME")]
    client: Option<String>,
    /// Print JSON (the same as GET /v1/usage).
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV.
    #[arg(long)]
    csv: bool,
    /// The SQLite ledger file (default: ledger.store, else ledger.path, else ledger.db in the state directory).
    #[arg(long, value_name = "PATH")]
    ledger: Option<PathBuf>,
}

pub fn usage(args: &UsageArgs) -> Result<ExitCode, CliError> {
    let by = args.by.as_deref().and_then(query::Dimension::parse);
    let limit = args.limit.map(usize::from);
    if query::limit_without_sessions(limit, by) {
        return Err(CliError::Other(
            "--limit: only with --by session (it is the most sessions listed)".into(),
        ));
    }
    // The clients the config names, when it is read (not with --ledger),
    // and its secrets, scrubbed from what is quoted.
    let mut configured = None;
    let mut redactor = Redactor::default();
    let location = match &args.ledger {
        // A database's URL holds its password: named, never echoed.
        Some(path) if path.to_string_lossy().contains("://") => {
            return Err(CliError::Other(
                "--ledger takes a SQLite file, not a URL: a shared store is ledger.store in the config (its password from an environment variable), which `clawgate usage` reads without --ledger"
                    .into(),
            ));
        }
        Some(path) => Location::File(path.clone()),
        None => {
            let (_, loaded) = args.source.load(Secrets::Offline)?;
            configured = Some(loaded.config.gateway.clients.names());
            redactor = loaded.config.redactor.clone();
            match &loaded.config.ledger.store {
                Some(url) => Location::Postgres(url.clone()),
                None => {
                    let env = args.source.environment()?;
                    let state_dir = config::state_dir(&env);
                    let path = ledger::default_path(&loaded.config.ledger, state_dir.as_deref())
                        .ok_or_else(|| {
                            CliError::Other(
                                "no state directory: set CLAWGATE_STATE_DIR or XDG_STATE_HOME, or pass --ledger"
                                    .into(),
                            )
                        })?;
                    Location::File(path)
                }
            }
        }
    };
    if let Location::File(path) = &location {
        let shown = path.display();
        if !path.exists() {
            return Err(CliError::Other(match args.ledger {
                Some(_) => format!("--ledger {shown}: no such file"),
                None => format!(
                    "no usage ledger at {shown} yet: clawgate serve creates it with the first request (or pass --ledger)"
                ),
            }));
        }
        if !path.is_file() {
            return Err(CliError::Other(format!(
                "{shown} is not a ledger file (a folder?)"
            )));
        }
    }
    let today = calendar::day_of(std::time::SystemTime::now());
    let since_day = query::parse_since(&args.since, today)
        .map_err(|e| CliError::Other(format!("--since: {e}")))?;
    let question = query::Query {
        since_day,
        until_day: today,
        per: args.per.as_deref().and_then(Period::parse),
        by,
        client: args.client.clone(),
        limit: query::session_limit(limit),
    };
    let report = ledger::report_at(&location, &question).map_err(CliError::Other)?;
    if let Some(name) = &args.client
        && report.total.requests == 0
    {
        let by_client = || ledger::report_at(&location, &query::every_client(today));
        let unknown = query::unknown_client(name, configured.as_deref(), by_client, &redactor);
        if let Some(why) = unknown.map_err(CliError::Other)? {
            return Err(CliError::Other(format!("--client {why}")));
        }
    }
    if args.json {
        print_json(&report);
    } else if args.csv {
        out!("{}", query::csv(&report));
    } else if let Some(sessions) = &report.sessions {
        out!("{}", sessions_table(&report, sessions));
    } else {
        out!("{}", table(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// The report as an aligned table with a total line.
fn table(report: &query::Report) -> String {
    let mut rows: Vec<Vec<String>> = vec![vec![
        report.per.map_or("since".to_string(), |p| p.to_string()),
        report.by.unwrap_or("").to_string(),
        "requests".into(),
        "failed".into(),
        "fallbacks".into(),
        "primary failed".into(),
        "tokens in".into(),
        "cached".into(),
        "out".into(),
        "cost".into(),
        "fallback cost".into(),
        "uncosted".into(),
    ]];
    let cells = |period: String, key: String, line: &query::Line| {
        let answered = line.requests - line.failures;
        // The fallbacks' answers of unknown cost, as far as the counts
        // tell: those of the uncosted that the other answers cannot hold
        // (`fallbacks` counts the failed ones too).
        let fallback_answers = line.fallbacks.saturating_sub(line.failures);
        let others = answered.saturating_sub(fallback_answers);
        let fallbacks_uncosted = line.uncosted.saturating_sub(others);
        let fallbacks = line.fallbacks.min(answered);
        vec![
            period,
            key,
            line.requests.to_string(),
            line.failures.to_string(),
            line.fallbacks.to_string(),
            line.primary_failures.to_string(),
            line.tokens_in.to_string(),
            line.tokens_cached.to_string(),
            line.tokens_out.to_string(),
            cost(line.cost_usd, answered, line.uncosted),
            cost(line.fallback_cost_usd, fallbacks, fallbacks_uncosted),
            line.uncosted.to_string(),
        ]
    };
    for line in &report.lines {
        rows.push(cells(
            line.period.clone().unwrap_or_else(|| report.since.clone()),
            line.key.clone().unwrap_or_default(),
            line,
        ));
    }
    if report.lines.len() != 1 {
        rows.push(cells("total".into(), String::new(), &report.total));
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!("usage {} .. {} (UTC days)\n", report.since, report.until);
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 1 || report.by.is_some())
            .map(|(i, cell)| {
                if i < 2 {
                    format!("{cell:<w$}", w = widths[i])
                } else {
                    format!("{cell:>w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    if report.total.uncosted > 0 {
        out.push_str(UNKNOWN_COST);
    }
    out
}

/// A report by session: a line per session, the last used first.
fn sessions_table(report: &query::Report, sessions: &[Session]) -> String {
    let mut rows: Vec<Vec<String>> = vec![
        [
            "session",
            "client",
            "last turn",
            "turns",
            "targets",
            "in",
            "cached",
            "written",
            "out",
            "hit rate",
            "cost",
            "uncached",
            "saved",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for s in sessions {
        let at = calendar::date(calendar::day_of_millis(s.last_ms));
        let time = s.last_ms.rem_euclid(86_400_000) / 1000;
        rows.push(vec![
            s.session.clone(),
            s.client.clone(),
            format!("{at} {:02}:{:02}", time / 3600, time / 60 % 60),
            s.turns.to_string(),
            s.targets.join(" "),
            s.tokens_in.to_string(),
            s.tokens_cached.to_string(),
            s.tokens_written.to_string(),
            s.tokens_out.to_string(),
            format!("{:.1}%", s.hit_rate * 100.0),
            cost(s.cost_usd, s.turns - s.failures, s.uncosted),
            cost(s.uncached_cost_usd, s.turns - s.failures, s.uncosted),
            cost(s.saved_usd, s.turns - s.failures, s.uncosted),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!(
        "sessions {} .. {} (UTC days), the last used first\n",
        report.since, report.until
    );
    if sessions.is_empty() {
        out.push_str(
            "no session in this range: a request names its session with x-clawgate-session\n",
        );
        return out;
    }
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| match i {
                0..=2 | 4 => format!("{cell:<w$}", w = widths[i]),
                _ => format!("{cell:>w$}", w = widths[i]),
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    let uncosted: u64 = sessions.iter().map(|s| s.uncosted).sum();
    if uncosted > 0 {
        out.push_str(&format!("{uncosted} turns of unknown cost are not in the costs: answers of a model without a price (set its cost in models.providers.<id>.models[].cost) or without the usage that prices them\n"));
    }
    out
}

/// What `answered` answers cost, `usd` of those with a known cost,
/// `uncosted` the others ([`budget::of_answers`]), to four decimals
/// ([`budget::spent`]).
fn cost(usd: f64, answered: u64, uncosted: u64) -> String {
    budget::of_answers(budget::spent(usd), answered, uncosted)
}

/// Under a table with answers of unknown cost.
const UNKNOWN_COST: &str = "unknown cost: answers of a model without a price (set its cost in models.providers.<id>.models[].cost) or without the usage that prices them; the uncosted column counts them\n";
