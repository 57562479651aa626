//! What a client's key and limits cost a request, with 100 clients
//! configured: finding the client by its key (one SHA-256 and a lookup),
//! then admitting it under its limits (requests and tokens per minute,
//! requests at once) and the gateway's cap, and letting the place go.
//! The target is under 2 µs per request; the figure is the median of
//! several rounds, in nanoseconds per request.
//!
//! Then the same with the request's row built and recorded
//! (`Ledger::record`) into each store, the stores taking turns round by
//! round: in memory only, SQLite, and PostgreSQL on a throwaway cluster (as
//! tests/postgres.rs starts one; left out, saying so, without PostgreSQL
//! installed), running and then stopped. Recording only queues the row for
//! the ledger's writer thread, so the request path should cost the same
//! whatever the store, and whether or not it can be reached: besides the
//! wall-clock time, each store's line says the request thread's own CPU
//! time and how often it waited (gave up the CPU itself: on a lock, a
//! channel or I/O), from `getrusage` on Linux. Wall-clock time above the
//! CPU time without waits is the thread preempted by others (the writer,
//! the database server, the machine's other load).
//!
//! Run: `cargo bench --bench clients` (optionally `-- REQUESTS`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clawgate::config::ledger::LedgerSettings;
use clawgate::config::{self, Environment, Secrets};
use clawgate::gateway::Gateway;
use clawgate::ledger::{self, Ledger, Row, Tokens};
use serde_json::{Map, Value, json};

// Only `start`, `url` and the server's stop and start are used here.
#[allow(dead_code)]
#[path = "../tests/common/postgres.rs"]
mod postgres;

const CLIENTS: usize = 100;
const ROUNDS: usize = 7;
/// Requests per round with a store: the rounds of a stopped database all
/// fit in the writer's queue (16,384 rows), so none is dropped.
const STORE_REQUESTS: usize = 2_000;

fn key(n: usize) -> String {
    format!("client-{n:03}-key-0123456789abcdef0123456789")
}

/// The gateway with 100 clients (and `ledger.store` when given), and the
/// clients' keys.
fn gateway(store: Option<&str>) -> (Gateway, Vec<String>) {
    let mut clients = Map::new();
    let mut env = Vec::new();
    for n in 0..CLIENTS {
        clients.insert(
            format!("c{n:03}"),
            json!({"key": format!("${{KEY_{n}}}"), "limits": {
                "requestsPerMinute": 1_000_000, "tokensPerMinute": 1_000_000_000,
                "concurrentRequests": 64}}),
        );
        env.push((format!("KEY_{n}"), key(n)));
    }
    let mut config = json!({
        "models": {"mode": "replace", "providers": {"p": {
            "baseUrl": "http://127.0.0.1:9/v1", "apiKey": "sk-bench", "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "p/m"}}},
        "gateway": {"clients": Value::Object(clients)},
    });
    if let Some(url) = store {
        config["ledger"] = json!({"store": url});
    }
    let env = Environment::from_pairs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let loaded = config::load_str(&config.to_string(), &env, Secrets::Required)
        .unwrap_or_else(|errors| panic!("the bench config is invalid:\n{errors}"));
    let gateway = Gateway::new(loaded.config).expect("the HTTP client builds");
    (gateway, (0..CLIENTS).map(key).collect())
}

/// A finished request's row, as the gateway records it.
fn row(client: Arc<str>, n: usize) -> Row {
    Row {
        ts_ms: ledger::calendar::millis(std::time::SystemTime::now()),
        request_id: Some(format!("req_{n:032x}")),
        front_end: "openai-chat",
        model_asked: Some("p/m".into()),
        answered_by: Some("p/m".into()),
        attempts: vec!["p/m:ok".into()],
        status: 200,
        end: "complete",
        first_byte_ms: 300,
        total_ms: 2_000,
        tokens: Tokens {
            input: Some(2_000),
            cached: Some(1_000),
            written: None,
            output: Some(300),
            reasoning: Some(0),
        },
        cost_usd: Some(0.002),
        uncached_cost_usd: None,
        budget_estimate_usd: None,
        agent: "claude-code",
        client,
        session: None,
    }
}

/// The calling thread's CPU time and how often it gave up the CPU itself
/// (blocked on a lock, a channel or I/O: waited), where the OS tells
/// (Linux).
#[cfg(target_os = "linux")]
fn thread_usage() -> Option<(Duration, u64)> {
    // SAFETY: timespec and rusage are plain data, filled by the calls
    // through valid pointers. The CPU time from the clock (getrusage's is
    // counted in ticks), the waits from getrusage.
    let mut cpu: libc::timespec = unsafe { std::mem::zeroed() };
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let ok = unsafe {
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut cpu) == 0
            && libc::getrusage(libc::RUSAGE_THREAD, &mut usage) == 0
    };
    ok.then(|| {
        (
            Duration::new(cpu.tv_sec as u64, cpu.tv_nsec as u32),
            usage.ru_nvcsw as u64,
        )
    })
}

#[cfg(not(target_os = "linux"))]
fn thread_usage() -> Option<(Duration, u64)> {
    None
}

/// One round's figures per request: wall-clock and CPU nanoseconds, and
/// the times the thread waited.
#[derive(Clone, Copy)]
struct Round {
    wall_ns: f64,
    cpu_ns: Option<f64>,
    waits: Option<u64>,
}

/// One round of `requests`: the key check, admission, the row built and
/// recorded when `record`, the place let go.
fn round(gateway: &Gateway, keys: &[String], requests: usize, record: bool) -> Round {
    let before = thread_usage();
    let started = Instant::now();
    for i in 0..requests {
        let config = gateway.config();
        let client = config
            .gateway
            .clients
            .find(black_box(&keys[i % CLIENTS]))
            .expect("every key is a client's");
        let slot = gateway.admit(Some(client)).expect("under every limit");
        if record {
            gateway.ledger().record(row(client.name.clone(), i), &[]);
        }
        drop(black_box(slot));
    }
    let wall = started.elapsed();
    let after = thread_usage();
    let per_request = |d: Duration| d.as_nanos() as f64 / requests as f64;
    Round {
        wall_ns: per_request(wall),
        cpu_ns: before.zip(after).map(|(b, a)| per_request(a.0 - b.0)),
        waits: before.zip(after).map(|(b, a)| a.1 - b.1),
    }
}

/// One way of recording, timed in turn with the others.
#[derive(Clone, Copy)]
struct Case<'a> {
    name: &'a str,
    gateway: &'a Gateway,
    record: bool,
    /// Wait for the rows to be written after each round (untimed).
    flush: bool,
}

/// Rounds of [`STORE_REQUESTS`] for each case, the cases taking turns
/// within each round so that the machine's other load falls on all alike;
/// each case's median.
fn take_turns(cases: &[Case], keys: &[String]) {
    let mut samples = vec![Vec::new(); cases.len()];
    for _ in 0..ROUNDS {
        for (case, samples) in cases.iter().zip(&mut samples) {
            samples.push(round(case.gateway, keys, STORE_REQUESTS, case.record));
            if case.flush {
                flush(case.gateway.ledger());
            }
        }
    }
    for (case, rounds) in cases.iter().zip(samples) {
        let median = |mut values: Vec<f64>| {
            values.sort_by(f64::total_cmp);
            values[ROUNDS / 2]
        };
        let wall: Vec<f64> = rounds.iter().map(|r| r.wall_ns).collect();
        let cpu: Option<Vec<f64>> = rounds.iter().map(|r| r.cpu_ns).collect();
        let waits: Option<u64> = rounds.iter().map(|r| r.waits).sum();
        let (fastest, slowest) = (
            wall.iter().copied().fold(f64::INFINITY, f64::min),
            wall.iter().copied().fold(0.0, f64::max),
        );
        println!(
            "  {:<20} {:>5.0} ns per request (fastest round {fastest:.0}, slowest {slowest:.0}); on its CPU {}; waited {} times in {} requests",
            case.name,
            median(wall),
            cpu.map_or("-".into(), |cpu| format!("{:.0} ns", median(cpu))),
            waits.map_or("-".into(), |w| w.to_string()),
            ROUNDS * STORE_REQUESTS,
        );
    }
}

fn flush(ledger: &Ledger) {
    assert!(
        ledger.flush(Duration::from_secs(30)),
        "the ledger's rows are written within 30 s"
    );
}

fn main() {
    let requests: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);

    let (bare, keys) = gateway(None);
    let mut per_request: Vec<f64> = (0..ROUNDS)
        .map(|_| round(&bare, &keys, requests, false).wall_ns)
        .collect();
    per_request.sort_by(f64::total_cmp);
    println!(
        "{CLIENTS} clients, {requests} requests x {ROUNDS} rounds: key check and limits {:.0} ns per request (median; fastest {:.0}, slowest {:.0}); target under 2000 ns",
        per_request[ROUNDS / 2],
        per_request[0],
        per_request[ROUNDS - 1]
    );

    let settings = LedgerSettings::default();
    let memory = gateway(None).0.with_ledger(Arc::new(Ledger::in_memory()));
    let dir = tempfile::tempdir().unwrap();
    let sqlite = gateway(None).0.with_ledger(Arc::new(Ledger::open(
        &dir.path().join("ledger.db"),
        &settings,
        ledger::system_clock(),
    )));
    let in_memory = Case {
        name: "in memory only",
        gateway: &memory,
        record: true,
        flush: false,
    };
    let mut cases = vec![
        Case {
            name: "without recording",
            gateway: &bare,
            record: false,
            flush: false,
        },
        in_memory,
        Case {
            name: "SQLite",
            gateway: &sqlite,
            record: true,
            flush: true,
        },
    ];
    let cluster = postgres::Cluster::start("benches/clients.rs");
    let pg = cluster.as_ref().map(|cluster| {
        let (pg, _) = gateway(Some(&cluster.url()));
        let store = pg
            .config()
            .ledger
            .store
            .clone()
            .expect("ledger.store is set");
        let pg = pg.with_ledger(Arc::new(Ledger::open_postgres(
            &store,
            &settings,
            ledger::system_clock(),
            None,
        )));
        // Connected and migrated before the timing.
        pg.ledger().record(row("c000".into(), 0), &[]);
        flush(pg.ledger());
        pg
    });
    if let Some(pg) = &pg {
        cases.push(Case {
            name: "PostgreSQL",
            gateway: pg,
            record: true,
            flush: true,
        });
    }
    println!(
        "key check, limits and the row built and recorded, by store, taking turns ({ROUNDS} rounds of {STORE_REQUESTS}; medians):"
    );
    take_turns(&cases, &keys);

    let (Some(cluster), Some(pg)) = (cluster, pg) else {
        return;
    };
    cluster.stop_server();
    println!("the same with the PostgreSQL server stopped (rows wait in the writer's queue):");
    take_turns(
        &[
            in_memory,
            Case {
                name: "PostgreSQL stopped",
                gateway: &pg,
                record: true,
                flush: false,
            },
        ],
        &keys,
    );
    cluster.start_server();
    flush(pg.ledger());
    let health = pg.ledger().health();
    println!(
        "  PostgreSQL: {} rows written, {} dropped, once the server was back",
        health.rows_written, health.rows_dropped
    );
}
