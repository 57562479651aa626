use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::calendar::parse_date;
use super::*;
use crate::config::ledger::{Budget, Period, Scope, Unpriced};
use crate::config::{Environment, ModelRef, Secrets, load_str};

/// A clock the test sets, in milliseconds since the epoch.
fn clock_at(ms: Arc<AtomicI64>) -> Clock {
    Arc::new(move || UNIX_EPOCH + Duration::from_millis(ms.load(Ordering::SeqCst) as u64))
}

fn ms_of(date: &str, seconds_into_day: i64) -> i64 {
    parse_date(date).unwrap() * 86_400_000 + seconds_into_day * 1000
}

fn row(ts_ms: i64, model: Option<&str>, cost: Option<f64>) -> Row {
    Row {
        ts_ms,
        request_id: Some("req_1".into()),
        front_end: "openai-chat",
        model_asked: Some("default".into()),
        answered_by: model.map(str::to_string),
        attempts: model.map(|m| vec![format!("{m}:ok")]).unwrap_or_default(),
        status: if model.is_some() { 200 } else { 502 },
        end: "complete",
        first_byte_ms: 5,
        total_ms: 40,
        tokens: Tokens {
            input: Some(1000),
            cached: Some(200),
            written: None,
            output: Some(100),
            reasoning: None,
        },
        cost_usd: cost,
        uncached_cost_usd: None,
        budget_estimate_usd: None,
        agent: "openclaw",
        client: "alice".into(),
        session: None,
    }
}

/// `ledger.db` in a directory of its own, not made yet.
fn new_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    (dir, path)
}

/// A ledger in a directory of its own, on a clock the test sets, at
/// `seconds_into_day` of `date`.
fn ledger_at(
    date: &str,
    seconds_into_day: i64,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    Arc<AtomicI64>,
    Ledger,
) {
    let (dir, path) = new_file();
    let now = Arc::new(AtomicI64::new(ms_of(date, seconds_into_day)));
    let ledger = Ledger::open(&path, &settings(), clock_at(now.clone()));
    (dir, path, now, ledger)
}

fn settings() -> LedgerSettings {
    LedgerSettings::default()
}

fn all_daily(usd: f64) -> Budgets {
    Budgets {
        limits: vec![Budget {
            scope: Scope::All,
            period: Period::Day,
            usd,
            client: None,
        }],
        unpriced: Unpriced::Refuse,
    }
}

fn count(path: &std::path::Path, sql: &str) -> i64 {
    let conn = store::open_read_only(path).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn rows_and_rollups_are_written_and_totals_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/ledger.db");
    let now = Arc::new(AtomicI64::new(ms_of("2026-11-23", 3600)));
    let ledger = Ledger::open(&path, &settings(), clock_at(now.clone()));
    let budgets = Budgets::default();
    let ts = now.load(Ordering::SeqCst);
    ledger.record(row(ts, Some("moonshot/kimi-k2.6"), Some(0.25)), &[&budgets]);
    ledger.record(row(ts, Some("moonshot/kimi-k2.6"), None), &[&budgets]);
    let mut fell_over = row(ts, Some("openrouter/x"), Some(0.5));
    fell_over.attempts = vec![
        "moonshot/kimi-k2.6:timeout".into(),
        "openrouter/x:ok".into(),
    ];
    ledger.record(fell_over, &[&budgets]);
    ledger.record(row(ts, None, None), &[&budgets]);
    assert!(ledger.flush(Duration::from_secs(10)));
    assert_eq!(ledger.health().rows_written, 4);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM requests"), 4);
    assert_eq!(count(&path, "SELECT SUM(requests) FROM daily"), 4);
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM requests WHERE cost_usd IS NULL"
        ),
        2,
        "an unknown cost is NULL, not 0"
    );

    let conn = store::open_read_only(&path).unwrap();
    let today = parse_date("2026-11-23").unwrap();
    let report = query::run(
        &conn,
        &query::Query {
            since_day: today - 29,
            until_day: today,
            per: None,
            by: Some(query::Dimension::Model),
            client: None,
            limit: query::session_limit(None),
        },
    )
    .unwrap();
    let line = |key: &str| {
        report
            .lines
            .iter()
            .find(|l| l.key.as_deref() == Some(key))
            .unwrap()
            .clone()
    };
    let kimi = line("moonshot/kimi-k2.6");
    assert_eq!((kimi.requests, kimi.uncosted, kimi.cost_usd), (2, 1, 0.25));
    let backup = line("openrouter/x");
    assert_eq!(
        (
            backup.fallbacks,
            backup.primary_failures,
            backup.fallback_cost_usd
        ),
        (1, 1, 0.5)
    );
    let failed = line("(none)");
    assert_eq!((failed.requests, failed.failures), (1, 1));
    assert_eq!(report.total.requests, 4);
    assert_eq!(report.total.tokens_cached, 800);
    let days = ledger.with_totals(|t| t.per_day(today));
    assert_eq!(days[&today].requests, 3, "answered: the failed one is not");
    ledger.close(Duration::from_secs(5));

    // A restart rebuilds the running totals from the rollups: the same
    // spend, and the same answered requests (the status page's figure).
    let again = Ledger::open(&path, &settings(), clock_at(now));
    let spent = again.with_totals(|t| t.since(None, today, |_| true).cost_usd);
    assert!((spent - 0.75).abs() < 1e-12, "{spent}");
    assert_eq!(again.with_totals(|t| t.per_day(today)), days);
}

/// A request no whole answer reached (its client left first or midway,
/// its stream broke) is a failure, not an answer of unknown cost: a
/// report of the same client's answers shows their known cost, not
/// `unknown`.
#[test]
fn a_request_no_answer_reached_is_no_uncosted_answer() {
    let (_dir, path) = new_file();
    let ledger = Ledger::open(&path, &settings(), system_clock());
    let now = millis(SystemTime::now());
    ledger.record(row(now, Some("p/m"), Some(0.25)), &[]);
    let mut left = row(now, Some("p/m"), None);
    (left.status, left.end) = (499, "client_closed");
    ledger.record(left, &[]);
    let mut broken = row(now, Some("p/m"), None);
    broken.end = "stream_broken";
    ledger.record(broken, &[]);
    let mut left_midway = row(now, Some("p/m"), None);
    left_midway.end = "client_left";
    ledger.record(left_midway, &[]);
    ledger.record(row(now, Some("p/m"), None), &[]);
    assert!(ledger.flush(Duration::from_secs(10)));
    assert_eq!(
        count(&path, "SELECT SUM(uncosted) FROM daily"),
        1,
        "the last alone"
    );
    assert_eq!(count(&path, "SELECT SUM(requests) FROM daily"), 5);
    assert_eq!(count(&path, "SELECT SUM(failures) FROM daily"), 3);
    // The status page's requests answered today: the two answered whole.
    let days = ledger.with_totals(|t| t.per_day(day_of(SystemTime::now())));
    assert_eq!(days.values().map(|d| d.answered).sum::<u64>(), 2);
}

/// A report per week or month from a day inside one names its first
/// line by that day, not the period's start it does not hold.
#[test]
fn a_period_the_range_starts_inside_is_named_by_its_first_day() {
    let (wednesday, monday) = (
        parse_date("2026-11-25").unwrap(),
        parse_date("2026-11-30").unwrap(),
    );
    let line = query::Line {
        requests: 1,
        ..query::Line::default()
    };
    let rows = vec![
        (wednesday, String::new(), line.clone()),
        (monday, String::new(), line),
    ];
    for per in [Period::Week, Period::Month] {
        let query = query::Query {
            since_day: wednesday,
            until_day: monday,
            per: Some(per),
            by: None,
            client: None,
            limit: query::session_limit(None),
        };
        let report = query::assemble(&query, rows.clone());
        let periods: Vec<_> = (report.lines.iter())
            .map(|line| line.period.clone().unwrap())
            .collect();
        let expected: &[&str] = match per {
            Period::Week => &["2026-11-25", "2026-11-30"],
            _ => &["2026-11-25"],
        };
        assert_eq!(periods, expected, "{per:?}");
    }
}

#[test]
fn a_day_ends_at_midnight_utc_for_rollups_and_budgets() {
    // Tuesday 2026-11-24, one second before midnight.
    let (_dir, path, now, ledger) = ledger_at("2026-11-24", 86_399);
    let budgets = Budgets {
        limits: vec![
            Budget {
                scope: Scope::All,
                period: Period::Day,
                usd: 1.0,
                client: None,
            },
            Budget {
                scope: Scope::All,
                period: Period::Week,
                usd: 1.5,
                client: None,
            },
        ],
        unpriced: Unpriced::Refuse,
    };
    ledger.record(
        row(now.load(Ordering::SeqCst), Some("p/m"), Some(1.0)),
        &[&budgets],
    );
    let states = budget::states(&ledger, &budgets, day_of(ledger.now()));
    assert!(states[0].exceeded && !states[1].exceeded);
    assert_eq!(states[0].resets_at, "2026-11-25T00:00:00Z");
    assert_eq!(states[1].resets_at, "2026-11-30T00:00:00Z");

    // Midnight: the day's budget starts again, the week's does not.
    now.store(ms_of("2026-11-25", 0), Ordering::SeqCst);
    let states = budget::states(&ledger, &budgets, day_of(ledger.now()));
    assert_eq!((states[0].spent_usd, states[1].spent_usd), (0.0, 1.0));
    ledger.record(
        row(now.load(Ordering::SeqCst), Some("p/m"), Some(0.25)),
        &[&budgets],
    );
    assert!(ledger.flush(Duration::from_secs(10)));
    assert_eq!(
        count(&path, "SELECT COUNT(DISTINCT day) FROM daily"),
        2,
        "each row rolls up into its own day"
    );
}

/// The config `text`, whose providers' key is `${K}`.
fn load_with_key(text: &str) -> crate::config::Loaded {
    let env = Environment::from_pairs([("K", "k")]);
    load_str(text, &env, Secrets::Required).unwrap()
}

#[test]
fn budgets_refuse_spent_and_unpriced_targets() {
    let config = load_with_key(
        r#"{
          models: {mode: "replace", providers: {
            paid: {baseUrl: "http://127.0.0.1:9/v1", apiKey: "${K}", models: [{id: "m", cost: {input: 1, output: 2}}]},
            unpriced: {baseUrl: "http://127.0.0.1:9/v1", apiKey: "${K}", models: [{id: "m"}]}}},
          agents: {defaults: {model: {primary: "paid/m", fallbacks: ["unpriced/m"]}}},
          gateway: {budgets: {providers: {paid: {daily: 1}}, daily: 10}}
        }"#,
    );
    let warned = config
        .warnings
        .iter()
        .any(|w| w.contains("unpriced/m has no price"));
    assert!(warned, "{:?}", config.warnings);
    let config = config.config;
    let chain = config.chain(None).unwrap();
    let ledger = Ledger::in_memory();
    let check = |target: usize| {
        budget::check(
            &ledger,
            &config.budgets,
            &chain[target].model_ref,
            &chain[target].model,
        )
    };
    assert_eq!(check(0), Ok(()));
    let refusal = check(1).unwrap_err();
    assert!(
        matches!(refusal, budget::Refusal::Unpriced { .. }),
        "{refusal}"
    );
    assert!(
        (refusal.to_string()).ends_with("refuses unpriced calls (gateway.budgets.unpriced)"),
        "{refusal}"
    );
    // A client's budget names the client's setting.
    let budget::Refusal::Unpriced { mut budget } = refusal else {
        unreachable!()
    };
    budget.client = Some("dana".into());
    let refusal = budget::Refusal::Unpriced { budget }.to_string();
    assert!(
        refusal.ends_with("(gateway.clients.dana.budgets.unpriced)"),
        "{refusal}"
    );

    let now = millis(ledger.now());
    ledger.record(row(now, Some("paid/m"), Some(1.0)), &[&config.budgets]);
    let spent = check(0).unwrap_err();
    let text = spent.to_string();
    assert!(
        text.starts_with(
            "the daily budget of $1.00 for provider paid is spent ($1.0000); it resets at "
        ),
        "{text}"
    );

    let mut allow = config.budgets.clone();
    allow.unpriced = Unpriced::Allow;
    assert_eq!(
        budget::check(&ledger, &allow, &chain[1].model_ref, &chain[1].model),
        Ok(())
    );
}

/// A request in flight at midnight is still held against the new day's
/// budget: its row lands when it ends, on the new day.
#[test]
fn a_reservation_in_flight_at_midnight_counts_on_the_new_day() {
    let config = load_with_key(
        r#"{
          models: {mode: "replace", providers: {
            paid: {baseUrl: "http://127.0.0.1:9/v1", apiKey: "${K}", models: [{id: "m", cost: {input: 1000000, output: 0}}]}}},
          agents: {defaults: {model: "paid/m"}},
          gateway: {budgets: {daily: 1}}
        }"#,
    )
    .config;
    let target = config.chain(None).unwrap().remove(0);
    let (_dir, _path, now, ledger) = ledger_at("2026-11-26", 86_399);
    // Two input tokens at $1 each: $2 held against a $1 budget's day.
    let demand = budget::Demand {
        client: Arc::from("alice"),
        input_tokens: 2,
    };
    let budgets = [&config.budgets];
    let held = budget::reserve(&ledger, &budgets, &target, &demand, 1)
        .unwrap()
        .expect("the budget covers the target");
    now.fetch_add(2_000, Ordering::SeqCst);
    let check = || budget::check(&ledger, &config.budgets, &target.model_ref, &target.model);
    assert!(
        matches!(check(), Err(budget::Refusal::Spent(_))),
        "{:?}",
        check()
    );
    drop(held);
    assert_eq!(check(), Ok(()));
}

#[test]
fn bad_budget_and_ledger_settings_are_refused_with_their_paths() {
    let env = Environment::from_pairs([("MOONSHOT_API_KEY", "k"), ("OPENROUTER_API_KEY", "k")]);
    let errors = load_str(
        r#"{
          gateway: {budgets: {daily: -1, unpriced: "maybe", providers: {nope: {daily: 1}},
                              models: {"moonshot/not-a-model": {weekly: 1}, "bare": {daily: 1}}}},
          ledger: {path: "relative/ledger.db", retentionDays: 0}
        }"#,
        &env,
        Secrets::Required,
    )
    .unwrap_err()
    .to_string();
    for expected in [
        "gateway.budgets.daily: expected an amount in USD, 0 or more, found -1",
        "gateway.budgets.unpriced: expected \"refuse\" or \"allow\", found \"maybe\"",
        "gateway.budgets.providers.nope: no provider \"nope\" is configured",
        "gateway.budgets.models.moonshot/not-a-model: no model moonshot/not-a-model is configured",
        "gateway.budgets.models.bare: expected a model ref, provider/model-id",
        "ledger.path: expected an absolute path",
        "ledger.retentionDays: expected a number of days between 1 and 3650, found 0",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
    let typo = load_str(
        r#"{gateway: {budgets: {dialy: 1}}, ledger: {retention: 3}}"#,
        &env,
        Secrets::Required,
    )
    .unwrap_err()
    .to_string();
    assert!(typo.contains("gateway.budgets.dialy"), "{typo}");
    assert!(typo.contains("ledger.retention"), "{typo}");
}

#[test]
fn a_corrupt_database_is_moved_aside_and_a_new_one_started() {
    let (dir, path) = new_file();
    std::fs::write(
        &path,
        b"this is not a database, but it is someone's file".repeat(100),
    )
    .unwrap();
    let ledger = Ledger::open(&path, &settings(), system_clock());
    assert_eq!(ledger.health().state, "writing");
    ledger.record(row(millis(SystemTime::now()), Some("p/m"), Some(0.1)), &[]);
    assert!(ledger.flush(Duration::from_secs(10)));
    assert_eq!(count(&path, "SELECT COUNT(*) FROM requests"), 1);
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("ledger.db.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "the old file is kept");
    let kept = std::fs::read(aside[0].path()).unwrap();
    assert!(kept.starts_with(b"this is not a database"));
}

#[test]
fn a_database_that_cannot_be_opened_leaves_a_memory_only_ledger() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be: SQLite cannot open it.
    let path = dir.path().join("ledger.db");
    std::fs::create_dir(&path).unwrap();
    let ledger = Ledger::open(&path, &settings(), system_clock());
    let health = ledger.health();
    assert_eq!(health.state, "memory_only");
    assert!(
        health
            .last_error
            .unwrap()
            .contains("cannot open the ledger")
    );
    let budgets = all_daily(0.5);
    ledger.record(
        row(millis(SystemTime::now()), Some("p/m"), Some(1.0)),
        &[&budgets],
    );
    assert_eq!(
        ledger.health().rows_dropped,
        1,
        "the row is counted as dropped"
    );
    assert_eq!(spent_today(&ledger), 1.0, "budgets still count in memory");
}

#[test]
fn a_read_only_database_drops_rows_and_counts_them() {
    let (_dir, path) = new_file();
    let (store, _) = store::Store::open(&path).unwrap();
    // As on a read-only mount (mode bits do not stop root).
    store.forbid_writes().unwrap();
    let ledger = Ledger::start(store, &settings(), system_clock());
    ledger.record(row(millis(SystemTime::now()), Some("p/m"), Some(0.1)), &[]);
    assert!(ledger.flush(Duration::from_secs(10)));
    let health = ledger.health();
    assert_eq!((health.rows_written, health.rows_dropped), (0, 1));
    assert!(
        health.last_error.unwrap().contains("readonly"),
        "the reason is kept"
    );
}

#[test]
fn a_full_disk_drops_rows_without_failing_the_caller() {
    let (_dir, path) = new_file();
    let (store, _) = store::Store::open(&path).unwrap();
    let pages: u32 = {
        let conn = store::open_read_only(&path).unwrap();
        conn.query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap()
    };
    store.limit_pages(pages + 2).unwrap();
    let ledger = Ledger::start(store, &settings(), system_clock());
    let now = millis(SystemTime::now());
    for i in 0..3000 {
        let mut r = row(now, Some("p/m"), Some(0.001));
        r.request_id = Some(format!("req_{i:0>100}"));
        ledger.record(r, &[]);
    }
    assert!(ledger.flush(Duration::from_secs(20)));
    let health = ledger.health();
    assert!(health.rows_dropped > 0, "{health:?}");
    assert_eq!(health.rows_written + health.rows_dropped, 3000);
    assert!(health.last_error.unwrap().contains("full"));
    // The totals the budgets read counted every request anyway.
    let requests = ledger.with_totals(|t| t.per_day(0).values().map(|d| d.requests).sum::<u64>());
    assert_eq!(requests, 3000);
}

#[test]
fn a_full_queue_drops_instead_of_waiting() {
    // A ledger whose writer never runs: its queue fills and then drops.
    let ledger = Ledger::build(
        Some(storage::Location::File("/nonexistent/ledger.db".into())),
        system_clock(),
    );
    let (sender, _receiver) = mpsc::sync_channel(2);
    *ledger.queue.lock().unwrap() = Some(sender);
    let started = std::time::Instant::now();
    for _ in 0..10 {
        ledger.record(row(0, Some("p/m"), None), &[]);
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(ledger.health().rows_dropped, 8);
}

#[test]
fn old_rows_expire_and_their_rollups_stay() {
    let (_dir, path, now, ledger) = ledger_at("2026-01-01", 0);
    ledger.record(row(ms_of("2026-01-01", 0), Some("p/m"), Some(0.1)), &[]);
    ledger.close(Duration::from_secs(5));
    // 91 days later, a start expires it.
    now.store(ms_of("2026-04-02", 0), Ordering::SeqCst);
    let ledger = Ledger::open(&path, &settings(), clock_at(now));
    ledger.record(row(ms_of("2026-04-02", 0), Some("p/m"), Some(0.1)), &[]);
    ledger.close(Duration::from_secs(5));
    assert_eq!(count(&path, "SELECT COUNT(*) FROM requests"), 1);
    assert_eq!(count(&path, "SELECT SUM(requests) FROM daily"), 2);
}

#[test]
fn cache_reads_and_writes_are_priced_at_their_rates_zero_is_free_and_unknown_is_none() {
    let cost = |input, output, cache_read, cache_write| Cost {
        input,
        output,
        cache_read,
        cache_write,
    };
    let (price, anthropic) = (cost(0.95, 4.0, 0.16, 0.0), cost(3.0, 15.0, 0.3, 3.75));
    // (price, input, cached, written, output tokens; dollars)
    let cases = [
        (&price, 1_000_000, 400_000, 0, 100_000, 0.57 + 0.064 + 0.4),
        // Cache writes at their own price (Anthropic's: 1.25x input), else
        // at the input price; never more of them than the uncached input.
        (
            &anthropic,
            1_000_000,
            200_000,
            500_000,
            0,
            0.9 + 0.06 + 1.875,
        ),
        (&price, 1_000_000, 400_000, 500_000, 0, 0.57 + 0.064),
        (&anthropic, 10, 5, 50, 0, (5.0 * 0.3 + 5.0 * 3.75) / 1e6),
        // Never more cache reads than the input.
        (&cost(1.0, 1.0, 0.0, 0.0), 10, 50, 0, 0, 10.0 / 1e6),
    ];
    for (price, input, cached, written, output, expected) in cases {
        let usd = price_usd(Some(price), input, cached, written, output).unwrap();
        assert!((usd - expected).abs() < 1e-12, "{usd} for {expected}");
    }
    // No price is unknown; a price of zero is free.
    assert_eq!(price_usd(None, 10, 0, 0, 10), None);
    assert_eq!(price_usd(Some(&Cost::default()), 10, 0, 0, 10), Some(0.0));
}

#[test]
fn since_and_csv() {
    let today = parse_date("2026-11-23").unwrap();
    assert_eq!(query::parse_since("30d", today), Ok(today - 29));
    assert_eq!(query::parse_since("1w", today), Ok(today - 6));
    assert_eq!(query::parse_since("today", today), Ok(today));
    assert_eq!(
        query::parse_since("2026-11-01", today),
        parse_date("2026-11-01").ok_or(String::new())
    );
    // The last three overflowed the day arithmetic (a panic in a debug
    // build, a wrong date in a release one).
    for bad in [
        "",
        "30",
        "30x",
        "-3d",
        "0d",
        "99999999d",
        "2635249153387078803w",
        "9223372036854775807-03-01",
        "-9223372036854775807-03-01",
        // A day to come.
        "2026-11-24",
        "2030-01-01",
    ] {
        assert!(query::parse_since(bad, today).is_err(), "{bad:?}");
    }
    // A duration too long is said to be one, with the bound.
    for long in ["99999d", "0d", "99999999999999999999d"] {
        let error = query::parse_since(long, today).unwrap_err();
        assert!(
            error.ends_with("a duration is 1 to 36500 days (a hundred years; a month is 30 days)"),
            "{error}"
        );
    }
    assert!(
        query::parse_since("30x", today)
            .unwrap_err()
            .starts_with("expected a duration")
    );
    let report = query::Report {
        since: "2026-11-01".into(),
        until: "2026-11-23".into(),
        per: None,
        by: Some("client"),
        client: None,
        lines: vec![query::Line {
            key: Some("=cmd,\"x\"".into()),
            requests: 1,
            ..query::Line::default()
        }],
        total: query::Line::default(),
        sessions: None,
    };
    let csv = query::csv(&report);
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .starts_with("2026-11-01,\"'=cmd,\"\"x\"\"\",1,"),
        "{csv}"
    );
}

#[test]
fn a_model_ref_scope_covers_only_its_model() {
    let scope = Scope::Model(ModelRef::new("p", "m"));
    assert!(scope.covers(&ModelRef::new("p", "m")));
    assert!(!scope.covers(&ModelRef::new("p", "n")));
    assert!(Scope::Provider("p".into()).covers(&ModelRef::new("p", "n")));
}

#[test]
fn a_budget_warns_once_per_period_at_80_percent() {
    let now = Arc::new(AtomicI64::new(ms_of("2026-11-24", 3600)));
    let ledger = Ledger::build(None, clock_at(now.clone()));
    let budgets = all_daily(1.0);
    let ts = now.load(Ordering::SeqCst);
    ledger.record(row(ts, Some("p/m"), Some(0.5)), &[&budgets]);
    assert!(
        ledger.warned.lock().unwrap().is_empty(),
        "50% is no warning"
    );
    ledger.record(row(ts, Some("p/m"), Some(0.3)), &[&budgets]);
    ledger.record(row(ts, Some("p/m"), Some(0.1)), &[&budgets]);
    assert_eq!(ledger.warned.lock().unwrap().len(), 1, "80% warns, once");
    // The next day is a new period: a new warning when it gets there.
    let tomorrow = ms_of("2026-11-25", 60);
    now.store(tomorrow, Ordering::SeqCst);
    ledger.record(row(tomorrow, Some("p/m"), Some(0.9)), &[&budgets]);
    assert_eq!(ledger.warned.lock().unwrap().len(), 2);
}

/// What `ledger`'s budgets count as spent today, by every client.
fn spent_today(ledger: &Ledger) -> f64 {
    ledger.with_totals(|t| t.since(None, day_of(SystemTime::now()), |_| true).cost_usd)
}

#[test]
fn a_priced_answer_without_usage_counts_its_estimate_against_budgets() {
    // A client that leaves before the usage chunk: the row's cost stays
    // unknown (NULL), but budgets count the estimate from the bytes.
    let ledger = Ledger::in_memory();
    let budgets = all_daily(0.5);
    let mut left = row(millis(SystemTime::now()), Some("p/m"), None);
    left.budget_estimate_usd = Some(0.25);
    ledger.record(left, &[&budgets]);
    assert_eq!(spent_today(&ledger), 0.25);
    // A known cost wins over an estimate.
    let mut known = row(millis(SystemTime::now()), Some("p/m"), Some(0.1));
    known.budget_estimate_usd = Some(9.0);
    ledger.record(known, &[&budgets]);
    assert!((spent_today(&ledger) - 0.35).abs() < 1e-9);
}

#[test]
fn an_estimate_is_written_into_the_rollups_and_counted_after_a_restart() {
    let (_dir, path) = new_file();
    let ledger = Ledger::open(&path, &settings(), system_clock());
    let budgets = all_daily(0.5);
    let mut left = row(millis(SystemTime::now()), Some("p/m"), None);
    left.budget_estimate_usd = Some(0.25);
    ledger.record(left, &[&budgets]);
    ledger.record(
        row(millis(SystemTime::now()), Some("p/m"), Some(0.125)),
        &[&budgets],
    );
    ledger.close(Duration::from_secs(10));
    let conn = store::open_read_only(&path).unwrap();
    let (cost, budget_cost): (f64, f64) = conn
        .query_row(
            "SELECT SUM(cost_usd), SUM(budget_cost_usd) FROM daily",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (cost, budget_cost),
        (0.125, 0.375),
        "an estimate is no cost"
    );
    let again = Ledger::open(&path, &settings(), system_clock());
    assert_eq!(spent_today(&again), 0.375);
}

#[test]
fn a_version_2_ledger_counts_its_costs_for_budgets_once_migrated() {
    let (_dir, path) = new_file();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for migration in &store::MIGRATIONS[..2] {
            conn.execute_batch(migration).unwrap();
        }
        conn.pragma_update(None, "user_version", 2).unwrap();
        let today = day_of(SystemTime::now());
        conn.execute(
            "INSERT INTO daily VALUES (?1, 'openai-chat', 'p/m', 'p', 'openclaw', 'alice', \
             1, 0, 0, 0, 0, 1, 0, 1, 0, 0.5, 0, 10)",
            [today],
        )
        .unwrap();
    }
    let ledger = Ledger::open(&path, &settings(), system_clock());
    assert_eq!(spent_today(&ledger), 0.5);
}

/// A flush that waits for room in a full queue (the writer stuck on a
/// locked database) does not hold up requests recording rows meanwhile:
/// they drop their row at once, as with any full queue, and the flush
/// gives up at its deadline.
#[test]
fn a_flush_waiting_for_room_does_not_hold_up_recording() {
    let (_dir, path) = new_file();
    let ledger = Ledger::open(&path, &settings(), system_clock());
    assert!(ledger.flush(Duration::from_secs(10)), "the writer runs");
    // Another connection holds the database: the writer waits on it (its
    // busy timeout), and the queue fills up behind it.
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let budgets = Budgets::default();
    let ts = calendar::millis(SystemTime::now());
    for _ in 0..QUEUE_ROWS + BATCH_ROWS + 10 {
        ledger.record(row(ts, Some("moonshot/kimi-k2.6"), None), &[&budgets]);
    }
    std::thread::scope(|scope| {
        let flushed = scope.spawn(|| ledger.flush(Duration::from_millis(500)));
        // Let the flush start waiting for room.
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        ledger.record(row(ts, Some("moonshot/kimi-k2.6"), None), &[&budgets]);
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(100),
            "recording waited {took:?}"
        );
        assert!(!flushed.join().unwrap(), "no room came before the deadline");
    });
    assert!(ledger.health().rows_dropped > 0);
    // Closing ends at its deadline too, though the writer has a full queue
    // before it (each batch waiting out the busy timeout).
    let started = Instant::now();
    ledger.close(Duration::from_millis(500));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "closing took {took:?}");
    blocker.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn a_batch_adds_each_rollup_once_with_all_its_rows() {
    let (_dir, path) = new_file();
    let (mut store, _) = store::Store::open(&path).unwrap();
    let day_one = ms_of("2026-11-23", 100);
    let day_two = ms_of("2026-11-24", 100);
    let mut fell_over = row(day_one, Some("openrouter/x"), Some(0.5));
    fell_over.attempts = vec!["moonshot/k:timeout".into(), "openrouter/x:ok".into()];
    // Two rollups on the first day (two models), one on the second; rows
    // of one rollup apart in the batch.
    let batch = [
        row(day_one, Some("moonshot/k"), Some(0.25)),
        fell_over.clone(),
        row(day_one, Some("moonshot/k"), None),
        row(day_two, Some("moonshot/k"), Some(1.0)),
        row(day_one, Some("moonshot/k"), Some(0.25)),
    ];
    store.write(&batch).unwrap();
    // A second batch adds onto the rollups the first made.
    store
        .write(&[row(day_one, Some("moonshot/k"), Some(0.5)), fell_over])
        .unwrap();
    assert_eq!(count(&path, "SELECT COUNT(*) FROM requests"), 7);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM daily"), 3);
    let conn = store::open_read_only(&path).unwrap();
    let rollup = |day: &str, model: &str| -> (i64, i64, i64, i64, f64, f64, i64, i64) {
        conn.query_row(
            "SELECT requests, fallbacks, primary_failures, uncosted, cost_usd, \
             fallback_cost_usd, tokens_in, total_ms FROM daily WHERE day = ?1 AND model = ?2",
            rusqlite::params![parse_date(day).unwrap(), model],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            },
        )
        .unwrap()
    };
    assert_eq!(
        rollup("2026-11-23", "moonshot/k"),
        (4, 0, 0, 1, 1.0, 0.0, 4000, 160)
    );
    assert_eq!(
        rollup("2026-11-23", "openrouter/x"),
        (2, 2, 2, 0, 1.0, 1.0, 2000, 80)
    );
    assert_eq!(
        rollup("2026-11-24", "moonshot/k"),
        (1, 0, 0, 0, 1.0, 0.0, 1000, 40)
    );
}

#[test]
fn counts_too_large_to_add_neither_stop_the_writer_nor_wrap() {
    let (_dir, path) = new_file();
    let (mut store, _) = store::Store::open(&path).unwrap();
    let ts = ms_of("2026-11-23", 100);
    let mut huge = row(ts, Some("moonshot/k"), Some(0.25));
    huge.tokens.input = Some(u64::MAX);
    let max = storage::MAX_COUNT as i64;
    let one_value = |sql: &str| {
        let conn = store::open_read_only(&path).unwrap();
        conn.query_row(sql, [], |r| r.get::<_, rusqlite::types::Value>(0))
            .unwrap()
    };
    // Each count is capped, and two of them in one batch add up.
    store.write(&[huge.clone(), huge.clone()]).unwrap();
    assert_eq!(
        one_value("SELECT tokens_in FROM requests LIMIT 1"),
        rusqlite::types::Value::Integer(max)
    );
    assert_eq!(
        one_value("SELECT tokens_in FROM daily"),
        rusqlite::types::Value::Integer(2 * max)
    );
    // A full batch of them saturates, and a later one onto it is SQLite's
    // own sum, which does not wrap either.
    store.write(&vec![huge.clone(); 1024]).unwrap();
    store.write(&[huge]).unwrap();
    match one_value("SELECT tokens_in FROM daily") {
        rusqlite::types::Value::Integer(n) => assert_eq!(n, i64::MAX),
        rusqlite::types::Value::Real(x) => assert!(x >= i64::MAX as f64, "{x}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(count(&path, "SELECT requests FROM daily"), 1027);
}

#[test]
fn amounts_never_read_zero_when_they_are_not() {
    for (amount, text) in [
        (0.0, "$0.00"),
        (0.000_02, "<$0.0001"),
        (0.0031, "$0.0031"),
        (1.234, "$1.23"),
    ] {
        assert_eq!(budget::usd(amount), text);
    }
    // What a budget says is spent, to four decimals.
    for (amount, text) in [
        (0.0, "$0.0000"),
        (0.000_037_2, "<$0.0001"),
        (0.0031, "$0.0031"),
        (1.2, "$1.2000"),
    ] {
        assert_eq!(budget::spent(amount), text);
    }
    // Answers of unknown cost are never a part shown as the whole (the
    // status page's sessions, as `clawgate usage` says them).
    let of_answers =
        |amount, answered, uncosted| budget::of_answers(budget::usd(amount), answered, uncosted);
    assert_eq!(of_answers(0.0008, 2, 0), "$0.0008");
    assert_eq!(of_answers(0.0008, 2, 1), "$0.0008 + unknown");
    assert_eq!(of_answers(0.0, 2, 2), "unknown");
}

/// A ledger written by the schema before clients (version 1, no
/// `user_version`) is migrated in place when opened: its rows and rollups
/// are kept, the calling program moves to `agent`, and the budgets' totals
/// are rebuilt from it.
#[test]
fn a_ledger_from_before_clients_is_migrated_in_place() {
    let (_dir, path) = new_file();
    let now = Arc::new(AtomicI64::new(ms_of("2026-11-20", 3600)));
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(store::MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "INSERT INTO requests (ts_ms, request_id, front_end, model_asked, answered_by, provider, \
             attempts, fallback, primary_failed, status, end_state, first_byte_ms, total_ms, \
             tokens_in, tokens_cached, tokens_out, tokens_reasoning, cost_usd, client) VALUES \
             (1795136400000, 'req_old', 'openai-chat', 'default', 'p/m', 'p', 'p/m:ok', 0, 0, 200, \
             'complete', 5, 40, 1000, 0, 100, NULL, 0.75, 'claude-code');
             INSERT INTO daily VALUES (20777, 'openai-chat', 'p/m', 'p', 'claude-code', 1, 0, 0, 0, \
             0, 1000, 0, 100, 0, 0.75, 0, 40);",
        )
        .unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 0, "ledgers were not versioned before");
    }
    let ledger = Ledger::open(&path, &settings(), clock_at(now.clone()));
    assert_eq!(ledger.health().state, "writing", "{:?}", ledger.health());
    // The old day's spend counts for everyone, not for any client.
    let day = parse_date("2026-11-20").unwrap();
    assert_eq!(day, 20777);
    let everyone = ledger.with_totals(|t| t.since(None, day, |_| true));
    assert_eq!(everyone.cost_usd, 0.75);
    let alice = ledger.with_totals(|t| t.since(Some("alice"), day, |_| true));
    assert_eq!(alice.requests, 0);
    ledger.record(row(now.load(Ordering::SeqCst), Some("p/m"), Some(0.5)), &[]);
    ledger.close(Duration::from_secs(5));

    let conn = store::open_read_only(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version as usize, store::SCHEMA_VERSION);
    let rows: Vec<(String, String, String)> = conn
        .prepare("SELECT request_id, agent, client FROM requests ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            ("req_old".into(), "claude-code".into(), String::new()),
            ("req_1".into(), "openclaw".into(), "alice".into())
        ]
    );
    let report = query::run(
        &conn,
        &query::Query {
            since_day: day,
            until_day: day,
            per: None,
            by: Some(query::Dimension::Client),
            client: None,
            limit: query::session_limit(None),
        },
    )
    .unwrap();
    let keys: Vec<_> = report
        .lines
        .iter()
        .map(|l| l.key.clone().unwrap())
        .collect();
    assert_eq!(keys, ["(none)", "alice"]);
    assert_eq!(report.total.cost_usd, 1.25);
    drop(conn);

    // Opened again, nothing is migrated twice.
    let again = Ledger::open(&path, &settings(), clock_at(now));
    let alice = again.with_totals(|t| t.since(Some("alice"), day, |_| true));
    assert_eq!((alice.requests, alice.cost_usd), (1, 0.5));
}

/// A ledger from a newer clawgate is not written into.
#[test]
fn a_ledger_from_a_newer_clawgate_is_refused() {
    let (_dir, path) = new_file();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let error = store::Store::open(&path).err().unwrap().to_string();
    assert!(
        error.contains("the ledger's schema is version 99, from a newer clawgate"),
        "{error}"
    );
}

/// A test store's calls for what it keeps: nothing to expire, no spend.
macro_rules! keeps_nothing {
    () => {
        fn expire(&mut self, _: i64) -> Result<u64, StorageError> {
            Ok(0)
        }
        fn spend_since(&mut self, _: i64) -> Result<Vec<storage::DaySpend>, StorageError> {
            Ok(Vec::new())
        }
    };
}

/// A shared store whose rate syncs answer as told, recording what each
/// was sent.
struct RateStore {
    answers: std::collections::VecDeque<Result<(), StorageError>>,
    sent: Vec<Vec<RateCount>>,
}

impl Storage for RateStore {
    fn location(&self) -> Location {
        Location::File("rates".into())
    }
    fn write(&mut self, _: u64, _: &[Row]) -> Result<(), StorageError> {
        Ok(())
    }
    keeps_nothing!();
    fn shared(&self) -> bool {
        true
    }
    fn sync_rates(&mut self, sent: &[RateCount], _: i64) -> Result<Vec<RateCount>, StorageError> {
        self.sent.push(sent.to_vec());
        self.answers.pop_front().unwrap().map(|()| Vec::new())
    }
}

/// Local counts handed out once each.
#[derive(Default)]
struct LocalCounts(std::sync::Mutex<Vec<(Arc<str>, u64, u64)>>);

impl RateShare for LocalCounts {
    fn take_local(&self) -> Vec<(Arc<str>, u64, u64)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
    fn charge_others(&self, _: &str, _: u64, _: u64) {}
    fn reserved_tokens(&self) -> Vec<(Arc<str>, u64)> {
        Vec::new()
    }
    fn others_reserved_tokens(&self, _: &std::collections::HashMap<String, u64>) {}
}

#[test]
fn rate_counts_are_sent_again_only_when_they_surely_did_not_arrive() {
    let shared = Shared::default();
    let local = Arc::new(LocalCounts::default());
    *shared.rates.lock().unwrap() = Some(local.clone() as Arc<dyn RateShare>);
    let clock = clock_at(Arc::new(AtomicI64::new(ms_of("2026-11-23", 100))));
    let mut store = RateStore {
        answers: [
            Err(StorageError::Unreached("down".into())),
            Err(StorageError::Failed("lost at commit".into())),
            Ok(()),
        ]
        .into(),
        sent: Vec::new(),
    };
    let mut sync = RateSync::default();
    local.0.lock().unwrap().push(("bob".into(), 1, 10));
    for _ in 0..3 {
        sync.sync(&mut store, &shared, &clock);
    }
    let bob = RateCount {
        client: "bob".into(),
        window: ms_of("2026-11-23", 100) / 60_000,
        requests: 1,
        tokens: 10,
    };
    assert_eq!(
        store.sent,
        [vec![bob.clone()], vec![bob], vec![]],
        "sent again after Unreached, not after Failed"
    );
}

/// Rows of a client's odd texts (a NUL, what half a surrogate pair
/// decodes to, a 100 KB model name) among another client's.
fn odd_and_plain_rows(now: i64) -> Vec<Row> {
    let odd = ["p/m\0x".to_string(), "\u{FFFD}".into(), "m".repeat(100_000)];
    let mut rows = Vec::new();
    for (i, model) in odd.into_iter().enumerate() {
        let mut r = row(now, Some("p/m"), Some(0.01));
        r.model_asked = Some(model);
        r.request_id = Some(format!("odd-{i}"));
        r.client = "bob".into();
        rows.push(r);
        rows.push(row(now, Some("p/m"), Some(0.01)));
    }
    rows
}

#[test]
fn texts_a_store_cannot_hold_are_made_storable_and_cost_no_row() {
    let (_dir, path) = new_file();
    let ledger = Ledger::open(&path, &settings(), system_clock());
    for r in odd_and_plain_rows(millis(SystemTime::now())) {
        ledger.record(r, &[]);
    }
    assert!(ledger.flush(Duration::from_secs(10)));
    assert_eq!(ledger.health().rows_dropped, 0);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM requests"), 6);
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM requests WHERE client = 'alice'"
        ),
        3
    );
    assert_eq!(
        count(&path, "SELECT MAX(LENGTH(model_asked)) FROM requests"),
        storage::MAX_TEXT_BYTES as i64
    );
    assert_eq!(
        count(
            &path,
            "SELECT COUNT(*) FROM requests WHERE model_asked = 'p/m' || char(65533) || 'x'"
        ),
        1,
        "the NUL is written as U+FFFD"
    );
}

#[test]
fn storable_texts_are_cut_at_a_character_and_borrowed_when_fine() {
    use std::borrow::Cow;
    assert!(matches!(storage::storable("p/m"), Cow::Borrowed("p/m")));
    assert_eq!(storage::storable("a\0b\0"), "a\u{FFFD}b\u{FFFD}");
    let wide = "é".repeat(storage::MAX_TEXT_BYTES);
    let cut = storage::storable(&wide);
    assert_eq!(cut.len(), storage::MAX_TEXT_BYTES);
    assert!(cut.chars().all(|c| c == 'é'));
    let rows = [row(0, Some("p/m"), None)];
    assert!(matches!(storage::storable_rows(&rows), Cow::Borrowed(_)));
}

/// A store (shared by other gateways when `shared`) that refuses every
/// batch holding a row of `refused`'s client for its contents, and counts
/// the calls.
struct Refusing {
    refused: &'static str,
    written: Arc<std::sync::Mutex<Vec<String>>>,
    calls: Arc<AtomicI64>,
    shared: bool,
}

impl Storage for Refusing {
    fn location(&self) -> Location {
        Location::File("refusing".into())
    }
    fn write(&mut self, _: u64, rows: &[Row]) -> Result<(), StorageError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if rows.iter().any(|r| &*r.client == self.refused) {
            return Err(StorageError::Refused("invalid byte sequence".into()));
        }
        let mut written = self.written.lock().unwrap();
        written.extend(rows.iter().map(|r| r.request_id.clone().unwrap()));
        Ok(())
    }
    keeps_nothing!();
    fn shared(&self) -> bool {
        self.shared
    }
}

/// A store that refuses its first batch for what a row holds, then
/// cannot be reached.
struct RefusesThenGoes {
    calls: usize,
}

impl Storage for RefusesThenGoes {
    fn location(&self) -> Location {
        Location::File("refuses-then-goes".into())
    }
    fn write(&mut self, _: u64, _: &[Row]) -> Result<(), StorageError> {
        self.calls += 1;
        Err(match self.calls {
            1 => StorageError::Refused("invalid byte sequence".into()),
            _ => StorageError::Unreached("connection refused".into()),
        })
    }
    keeps_nothing!();
    fn shared(&self) -> bool {
        true
    }
}

/// A spooled segment the store refuses is halved on disk: its rows are
/// there until written, whatever happens to the process meanwhile (they
/// were moved to memory and the segment deleted).
#[test]
fn a_refused_spooled_segment_is_halved_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let now = millis(SystemTime::now());
    let mut spool = Spool::open(dir.path()).unwrap();
    assert_eq!(spool.append(&rows_of("alice", "a", 0.25, 4, now), now), 0);
    spool.seal();
    let shared = Shared::default();
    let mut batches = Batches::new(spool.writer());
    let mut store = RefusesThenGoes { calls: 0 };
    replay(&mut spool, &mut store, &shared, &mut batches);
    assert_eq!(store.calls, 2, "refused, then away");
    assert_eq!(batches.rows(), 0, "none in memory alone");
    // All four on disk, two segments of two.
    let mut halves = 0;
    while let Some(segment) = spool.first() {
        assert_eq!(segment.unwrap().rows.len(), 2);
        spool.done_first();
        halves += 1;
    }
    assert_eq!(halves, 2);
}

/// A store that writes a batch once by its id, as PostgreSQL's does, and
/// refuses any batch holding `mallory`'s row.
#[derive(Default)]
struct OnceById {
    ids: std::collections::HashSet<String>,
    written: Vec<String>,
}

impl Storage for OnceById {
    fn location(&self) -> Location {
        Location::File("once-by-id".into())
    }
    fn write(&mut self, _: u64, _: &[Row]) -> Result<(), StorageError> {
        unreachable!("the spool's segments are written by their ids")
    }
    fn write_once(&mut self, id: &str, rows: &[Row]) -> Result<(), StorageError> {
        if rows.iter().any(|r| &*r.client == "mallory") {
            return Err(StorageError::Refused("invalid byte sequence".into()));
        }
        if self.ids.insert(id.to_string()) {
            (self.written).extend(rows.iter().map(|r| r.request_id.clone().unwrap()));
        }
        Ok(())
    }
    keeps_nothing!();
    fn shared(&self) -> bool {
        true
    }
}

/// A gateway killed after a refused segment's halves are on disk and
/// before the segment is deleted reads all three again at its restart:
/// the segment, refused again, is halved under the same ids, which the
/// store has written already.
#[test]
fn a_segment_halved_again_after_a_restart_writes_no_row_twice() {
    let dir = tempfile::tempdir().unwrap();
    let now = millis(SystemTime::now());
    let mut rows = rows_of("alice", "a", 0.25, 4, now);
    rows[3].client = "mallory".into();
    let mut spool = Spool::open(dir.path()).unwrap();
    assert_eq!(spool.append(&rows, now), 0);
    spool.seal();
    let segment = |dir: &std::path::Path| {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        names.sort();
        names
    };
    let [whole] = &segment(dir.path())[..] else {
        panic!("one segment");
    };
    let kept = std::fs::read(whole).unwrap();
    let (shared, mut batches) = (Shared::default(), Batches::new(spool.writer()));
    replay(
        &mut spool,
        &mut RefusesThenGoes { calls: 0 },
        &shared,
        &mut batches,
    );
    assert_eq!(segment(dir.path()).len(), 2, "its halves, the segment gone");
    // Killed before the segment went: it is back beside its halves.
    std::fs::write(whole, kept).unwrap();
    drop(spool);
    let mut spool = Spool::open(dir.path()).unwrap();
    let mut store = OnceById::default();
    let (shared, mut batches) = (Shared::default(), Batches::new(spool.writer()));
    replay(&mut spool, &mut store, &shared, &mut batches);
    store.written.sort();
    assert_eq!(store.written, ["a_0", "a_1", "a_2"]);
    assert!(segment(dir.path()).is_empty());
}

#[test]
fn a_batch_refused_for_one_row_is_split_until_only_that_row_is_lost() {
    let written = Arc::default();
    let calls = Arc::new(AtomicI64::new(0));
    let store = Refusing {
        refused: "mallory",
        written: Arc::clone(&written),
        calls: calls.clone(),
        shared: false,
    };
    let ledger = Ledger::start(store, &settings(), system_clock());
    let now = millis(SystemTime::now());
    for i in 0..100 {
        let mut r = row(now, Some("p/m"), Some(0.01));
        r.request_id = Some(format!("req_{i}"));
        if i == 37 {
            r.client = "mallory".into();
        }
        ledger.record(r, &[]);
    }
    assert!(ledger.flush(Duration::from_secs(10)));
    let health = ledger.health();
    assert_eq!((health.rows_written, health.rows_dropped), (99, 1));
    assert!(health.last_error.unwrap().contains("invalid byte sequence"));
    let written = written.lock().unwrap();
    assert!(!written.contains(&"req_37".to_string()));
    assert_eq!(written.len(), 99);
    // Halving finds the row in about 2·log2(n) calls per batch.
    assert!(calls.load(Ordering::SeqCst) <= 40, "{calls:?}");
}

/// A store whose calls all answer `Unreached` while `down` is set.
struct Flaky {
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl Flaky {
    fn answer<T>(&self, value: T) -> Result<T, StorageError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StorageError::Unreached(
                "cannot write rows to postgresql://gw:****@db/usage: connection refused".into(),
            ))
        } else {
            Ok(value)
        }
    }
}

impl Storage for Flaky {
    fn location(&self) -> Location {
        Location::File("flaky".into())
    }
    fn write(&mut self, _: u64, _: &[Row]) -> Result<(), StorageError> {
        self.answer(())
    }
    fn expire(&mut self, _: i64) -> Result<u64, StorageError> {
        self.answer(0)
    }
    fn spend_since(&mut self, _: i64) -> Result<Vec<storage::DaySpend>, StorageError> {
        self.answer(Vec::new())
    }
    fn shared(&self) -> bool {
        true
    }
}

#[test]
fn an_unreachable_shared_store_shows_in_the_health_until_it_answers_again() {
    let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let ledger = Ledger::start(Flaky { down: down.clone() }, &settings(), system_clock());
    ledger.record(row(millis(SystemTime::now()), Some("p/m"), Some(0.1)), &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while ledger.health().state != "unreachable" {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            ledger.health()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let health = ledger.health();
    assert!(health.last_error.unwrap().contains("connection refused"));
    assert_eq!(health.per_instance, Some(PER_INSTANCE));
    assert_eq!(health.rows_written, 0);
    down.store(false, Ordering::SeqCst);
    assert!(ledger.flush(Duration::from_secs(10)));
    let health = ledger.health();
    assert_eq!(health.state, "writing", "{health:?}");
    assert_eq!(health.last_error, None, "the outage's error is cleared");
    assert_eq!(health.per_instance, None);
    assert_eq!((health.rows_written, health.rows_dropped), (1, 0));
}

#[test]
fn an_outage_is_said_again_only_once_per_interval() {
    let shared = Shared::default();
    shared.failed(&StorageError::Unreached(
        "cannot connect to db: refused".into(),
    ));
    let logged = |shared: &Shared| shared.outage.lock().unwrap().as_ref().unwrap().logged;
    let first = logged(&shared);
    shared.still_unreached(3);
    assert_eq!(logged(&shared), first, "not again within the interval");
    let long_ago = std::time::Instant::now() - OUTAGE_LOG_EVERY - Duration::from_secs(1);
    shared.outage.lock().unwrap().as_mut().unwrap().logged = long_ago;
    shared.still_unreached(3);
    assert!(logged(&shared) > long_ago, "said again past it");
    // A later failure of the same outage is not a new start.
    shared.failed(&StorageError::Unreached(
        "cannot connect to db: lost".into(),
    ));
    assert_eq!(
        shared.outage.lock().unwrap().as_ref().unwrap().why,
        "cannot connect to db: lost"
    );
    shared.reached();
    assert!(shared.outage.lock().unwrap().is_none());
    assert_eq!(*shared.last_error.lock().unwrap(), None);
}

/// A version 3 ledger (rows and rollups without sessions) is brought to
/// version 4 in place: its rows kept, without a session, and new rows
/// written with theirs.
#[test]
fn a_version_3_ledger_takes_sessions_once_migrated() {
    let (_dir, path) = new_file();
    let now = Arc::new(AtomicI64::new(ms_of("2026-11-23", 3600)));
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for migration in &store::MIGRATIONS[..3] {
            conn.execute_batch(migration).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute(
            "INSERT INTO requests (ts_ms, front_end, fallback, primary_failed, status, \
             end_state, first_byte_ms, total_ms, agent, client) \
             VALUES (?1, 'openai-chat', 0, 0, 200, 'complete', 1, 2, 'openclaw', 'alice')",
            [now.load(Ordering::SeqCst) - 1000],
        )
        .unwrap();
    }
    let ledger = Ledger::open(&path, &settings(), clock_at(now.clone()));
    let mut turn = row(now.load(Ordering::SeqCst), Some("p/m"), Some(0.25));
    turn.session = Some("conversation-1".into());
    turn.tokens.written = Some(7);
    ledger.record(turn, &[&Budgets::default()]);
    assert!(ledger.flush(Duration::from_secs(10)));
    let conn = store::open_read_only(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, store::SCHEMA_VERSION as i64);
    assert_eq!(count(&path, "SELECT COUNT(*) FROM requests"), 2);
    assert_eq!(
        count(&path, "SELECT COUNT(*) FROM requests WHERE session IS NULL"),
        1
    );
    assert_eq!(
        count(
            &path,
            "SELECT tokens_written FROM requests WHERE session = 'conversation-1'"
        ),
        7
    );
    assert_eq!(count(&path, "SELECT turns FROM sessions"), 1);
}

/// A report by session lists each client's sessions apart, the last used
/// first, at most its limit, with their targets, tokens and costs; the
/// sessions go with the rows past `retentionDays`.
#[test]
fn a_report_by_session_lists_the_last_used_first_within_its_limit() {
    let (_dir, path, now, ledger) = ledger_at("2026-11-23", 3600);
    let ts = now.load(Ordering::SeqCst);
    let turn = |client: &str, session: &str, target: &str, at: i64| {
        let mut turn = row(at, Some(target), Some(0.25));
        turn.client = client.into();
        turn.session = Some(session.into());
        turn.tokens.written = Some(10);
        turn.uncached_cost_usd = Some(1.0);
        turn
    };
    let budgets = Budgets::default();
    ledger.record(turn("alice", "s1", "p/m", ts), &[&budgets]);
    ledger.record(turn("alice", "s1", "q/m", ts + 2), &[&budgets]);
    ledger.record(turn("bob", "s1", "p/m", ts + 1), &[&budgets]);
    ledger.record(turn("alice", "s2", "p/m", ts - 5), &[&budgets]);
    ledger.record(row(ts, Some("p/m"), Some(0.25)), &[&budgets]);
    // A session used five days ago on one target and today on another.
    const DAY_MS: i64 = 86_400_000;
    ledger.record(turn("carol", "s3", "p/m", ts - 5 * DAY_MS), &[&budgets]);
    ledger.record(turn("carol", "s3", "q/m", ts - 3), &[&budgets]);
    assert!(ledger.flush(Duration::from_secs(10)));
    let today = parse_date("2026-11-23").unwrap();
    let report_of = |(since_day, until_day), client: Option<&str>, limit| {
        let conn = store::open_read_only(&path).unwrap();
        let question = query::Query {
            since_day,
            until_day,
            per: None,
            by: Some(query::Dimension::Session),
            client: client.map(str::to_string),
            limit,
        };
        query::run(&conn, &question).unwrap()
    };
    let report = |client: Option<&str>, limit| report_of((today, today), client, limit);
    // Each session used in the range is given whole, the range's end
    // held to: that day, carol's alone, with both its turns.
    let earlier = report_of((today - 5, today - 5), None, 10);
    let earlier = earlier.sessions.unwrap();
    let seen: Vec<_> = earlier
        .iter()
        .map(|s| (&*s.client, &*s.session, s.turns, s.targets.clone()))
        .collect();
    assert_eq!(
        seen,
        [("carol", "s3", 2, vec!["p/m".to_string(), "q/m".into()])]
    );
    let all = report(None, 10);
    assert_eq!(all.total.requests, 6, "the totals count every request");
    assert!(all.lines.iter().all(|l| l.key.is_none()));
    let sessions = all.sessions.unwrap();
    let seen: Vec<_> = sessions
        .iter()
        .map(|s| (&*s.client, &*s.session, s.turns))
        .collect();
    assert_eq!(
        seen,
        [
            ("alice", "s1", 2),
            ("bob", "s1", 1),
            ("carol", "s3", 2),
            ("alice", "s2", 1)
        ]
    );
    let first = &sessions[0];
    assert_eq!(first.targets, ["p/m", "q/m"]);
    assert_eq!((first.first_ms, first.last_ms), (ts, ts + 2));
    assert_eq!(
        (
            first.tokens_in,
            first.tokens_cached,
            first.tokens_written,
            first.tokens_out
        ),
        (2000, 400, 20, 200)
    );
    assert_eq!(
        (first.hit_rate, first.cost_usd, first.saved_usd),
        (0.2, 0.5, 1.5)
    );

    let alices = report(Some("alice"), 1).sessions.unwrap();
    assert_eq!(alices.len(), 1, "the limit holds");
    assert_eq!((&*alices[0].client, &*alices[0].session), ("alice", "s1"));

    let mut store = store::Store::open(&path).unwrap().0;
    store.expire(ts).unwrap();
    let left = report(None, 10).sessions.unwrap();
    let left: Vec<_> = left.iter().map(|s| (&*s.client, &*s.session)).collect();
    assert_eq!(left, [("alice", "s1"), ("bob", "s1")], "s2 ended before");
}

/// Rows of `client` at `now`, costing `usd` each, their ids `prefix_<i>`.
fn rows_of(client: &str, prefix: &str, usd: f64, n: usize, now: i64) -> Vec<Row> {
    (0..n)
        .map(|i| {
            let mut r = row(now, Some("p/m"), Some(usd));
            r.request_id = Some(format!("{prefix}_{i}"));
            r.client = client.into();
            r
        })
        .collect()
}

/// What `totals` hold of `client`'s spend.
fn spend_of(totals: &std::sync::Mutex<Totals>, client: &str) -> f64 {
    let totals = totals.lock().unwrap();
    (totals.clients.iter())
        .filter(|((c, _, _), _)| c == client)
        .map(|(_, total)| total.cost_usd)
        .sum()
}

#[test]
fn a_foreign_segment_split_after_a_refusal_takes_nothing_from_our_pending_spend() {
    let dir = tempfile::tempdir().unwrap();
    let now = millis(SystemTime::now());
    // Another gateway's segment: three rows of alice's and one the store
    // refuses.
    let mut theirs = rows_of("alice", "theirs", 0.25, 3, now);
    theirs.extend(rows_of("mallory", "bad", 0.25, 1, now));
    let mut other = Spool::open(dir.path()).unwrap();
    assert_eq!(other.append(&theirs, now), 0);
    other.seal();
    drop(other);

    // This gateway's own rows of alice's, not yet written: $1 pending.
    let shared = Shared::default();
    let ours = rows_of("alice", "ours", 0.5, 2, now);
    for (day, client, model, total) in ours.iter().filter_map(row_total) {
        shared
            .pending
            .lock()
            .unwrap()
            .add(day, client, model, total);
    }
    let written = Arc::default();
    let mut store = Refusing {
        refused: "mallory",
        written: Arc::clone(&written),
        calls: Arc::default(),
        shared: true,
    };
    let mut spool = Spool::open(dir.path()).unwrap();
    let mut batches = Batches::new(spool.writer());
    replay(&mut spool, &mut store, &shared, &mut batches);
    write_waiting(&mut store, &mut batches, Some(&mut spool), &shared);
    assert_eq!(written.lock().unwrap().len(), 3, "alice's three written");
    assert_eq!(shared.dropped.load(Ordering::SeqCst), 1);
    assert_eq!(
        spend_of(&shared.pending, "alice"),
        1.0,
        "ours still pending"
    );

    // Our own batch, split the same way: what is written leaves `pending`,
    // what is refused stays in it.
    let mut mixed = ours.clone();
    mixed.extend(rows_of("mallory", "bad_ours", 0.25, 1, now));
    let total = mixed.iter().filter_map(row_total);
    for (day, client, model, total) in total.filter(|(_, c, _, _)| *c == "mallory") {
        shared
            .pending
            .lock()
            .unwrap()
            .add(day, client, model, total);
    }
    batches.push_back(mixed, true);
    write_waiting(&mut store, &mut batches, Some(&mut spool), &shared);
    assert_eq!(written.lock().unwrap().len(), 5);
    assert_eq!(spend_of(&shared.pending, "alice"), 0.0);
    assert_eq!(spend_of(&shared.pending, "mallory"), 0.25);
    assert!(spool.is_empty());
}

#[test]
fn a_spooled_segment_that_cannot_be_read_is_left_on_disk_and_not_written_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let now = millis(SystemTime::now());
    let mut earlier = Spool::open(dir.path()).unwrap();
    assert_eq!(
        earlier.append(&rows_of("alice", "kept", 0.1, 2, now), now),
        0
    );
    earlier.seal();
    drop(earlier);
    let unreadable = dir
        .path()
        .join("ledger-spool-0000000000000-0-s000001.jsonl");
    std::fs::create_dir(&unreadable).unwrap();

    let shared = Shared::default();
    let written = Arc::default();
    let calls = Arc::new(AtomicI64::new(0));
    let mut store = Refusing {
        refused: "mallory",
        written: Arc::clone(&written),
        calls: calls.clone(),
        shared: false,
    };
    let mut spool = Spool::open(dir.path()).unwrap();
    let mut batches = Batches::new(spool.writer());
    replay(&mut spool, &mut store, &shared, &mut batches);
    assert_eq!(*written.lock().unwrap(), ["kept_0", "kept_1"]);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "nothing written for it");
    assert!(unreadable.is_dir(), "left on disk");
    assert_eq!(spool.set_aside(), 1);
    assert_eq!(
        shared.set_aside.load(Ordering::Relaxed),
        1,
        "for the status"
    );
    assert!(spool.is_empty() && batches.waiting.is_empty());
}

/// A shared store that answers, its spend alice's `usd` today.
struct SpentToday {
    usd: f64,
}

impl Storage for SpentToday {
    fn location(&self) -> Location {
        Location::File("spent".into())
    }
    fn write(&mut self, _: u64, _: &[Row]) -> Result<(), StorageError> {
        Ok(())
    }
    fn expire(&mut self, _: i64) -> Result<u64, StorageError> {
        Ok(0)
    }
    fn spend_since(&mut self, _: i64) -> Result<Vec<storage::DaySpend>, StorageError> {
        Ok(vec![storage::DaySpend {
            day: day_of(SystemTime::now()),
            client: "alice".into(),
            model: "p/m".into(),
            requests: 3,
            fallbacks: 0,
            cost_usd: self.usd,
            uncosted: 0,
            answered: 3,
        }])
    }
    fn shared(&self) -> bool {
        true
    }
}

/// A gateway started while its shared store cannot be reached counts its
/// budgets from the spend it last kept in the state directory, not from
/// nothing (every client's budget would start over with each restart).
#[test]
fn a_restart_while_the_shared_store_is_away_counts_from_the_spend_last_kept() {
    let dir = tempfile::tempdir().unwrap();
    let spool = || Some(Spool::open(dir.path()).unwrap());
    let ledger = Ledger::start_spooled(
        SpentToday { usd: 1.5 },
        &settings(),
        system_clock(),
        spool(),
    );
    let kept = dir.path().join("ledger-spend.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !kept.exists() {
        assert!(std::time::Instant::now() < deadline, "the spend is kept");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(spend_of(&ledger.shared.totals, "alice"), 1.5);
    ledger.close(Duration::from_secs(5));
    let mode = std::os::unix::fs::PermissionsExt::mode(&kept.metadata().unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "its owner's alone");

    let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let again = Ledger::start_spooled(Flaky { down }, &settings(), system_clock(), spool());
    assert_eq!(spend_of(&again.shared.totals, "alice"), 1.5);
    // A kept file that does not read is no spend, and no failure.
    again.close(Duration::from_secs(5));
    std::fs::write(&kept, "{").unwrap();
    let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let third = Ledger::start_spooled(Flaky { down }, &settings(), system_clock(), spool());
    assert_eq!(spend_of(&third.shared.totals, "alice"), 0.0);
}
