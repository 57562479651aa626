//! Several `clawgate serve` processes on one PostgreSQL database
//! (`ledger.store`): one budget and one rate limit per client across them,
//! one instance killed outright while the other serves on, the database
//! stopped and started under load, `clawgate usage` reading the same
//! totals from either instance's config, and bad `ledger.store` values.
//!
//! Each test starts a throwaway cluster (`common::postgres`) and is
//! skipped, saying so, when PostgreSQL is not installed outside CI.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clawgate::config::ledger::StoreUrl;
use clawgate::config::ledger::{Budgets, LedgerSettings};
use clawgate::ledger::postgres::Postgres;
use clawgate::ledger::query::Query;
use clawgate::ledger::storage::{Storage, StorageError};
use clawgate::ledger::{Ledger, RATE_SYNC, Row, SPEND_REFRESH, Tokens, calendar, system_clock};
use clawgate_mock::{MockOptions, MockServer};
use common::postgres::Cluster;
use common::*;
use serde_json::{Value, json};
use tokio::process::Child;

const ALICE: &str = "alice-key-0123456789abcdef";
/// Quotes the messages of a store that cannot be reached.
const TROUBLESHOOTING: &str = include_str!("../docs/troubleshooting.md");
const BOB: &str = "bob-key-0123456789abcdef";

/// One gateway's config and state directory, on the cluster's database.
struct Instance {
    config: PathBuf,
    state: PathBuf,
    url: String,
}

impl Instance {
    fn env<'a>(&'a self, cluster_url: &'a str) -> Vec<(&'a str, &'a OsStr)> {
        vec![
            ("CLAWGATE_STATE_DIR", self.state.as_os_str()),
            ("MOCK_KEY", KEY.as_ref()),
            ("ALICE_KEY", ALICE.as_ref()),
            ("BOB_KEY", BOB.as_ref()),
            ("CLAWGATE_LEDGER_URL", cluster_url.as_ref()),
        ]
    }
}

/// The shared config: a priced model, alice with a daily budget, bob with
/// a rate limit; the store from `${CLAWGATE_LEDGER_URL}`.
fn write_config(dir: &Path, name: &str, mock: &MockServer) -> Instance {
    let config = dir.join(format!("{name}.json"));
    std::fs::write(
        &config,
        json!({
            "models": {"mode": "replace", "providers": {"p": {
                "baseUrl": mock.base_url(), "apiKey": "${MOCK_KEY}",
                "models": [{"id": "m", "cost": {"input": 1000, "output": 1000}}]}}},
            "agents": {"defaults": {"model": {"primary": "p/m"}}},
            "gateway": {"clients": {
                "alice": {"key": "${ALICE_KEY}", "admin": true, "budgets": {"daily": 0.05}},
                "bob": {"key": "${BOB_KEY}", "limits": {"requestsPerMinute": 6}},
            }},
            "ledger": {"store": "${CLAWGATE_LEDGER_URL}"},
        })
        .to_string(),
    )
    .unwrap();
    Instance {
        config,
        state: dir.join(format!("{name}-state")),
        url: String::new(),
    }
}

async fn start(instance: &mut Instance, cluster: &Cluster) -> Child {
    let url = cluster.url();
    let (child, listening) = serve_process(&instance.config, &instance.env(&url)).await;
    instance.url = listening;
    child
}

/// Two gateways on the cluster's database, serving the same mock.
async fn two(cluster: &Cluster, dir: &Path, mock: &MockServer) -> [(Instance, Child); 2] {
    let mut a = write_config(dir, "a", mock);
    let mut b = write_config(dir, "b", mock);
    let (child_a, child_b) = tokio::join!(start(&mut a, cluster), start(&mut b, cluster));
    [(a, child_a), (b, child_b)]
}

async fn ask(url: &str, key: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"messages": user_message()}))
        .send()
        .await
        .unwrap()
}

/// `GET path` with alice's key (an admin's).
async fn get(url: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{url}{path}"))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap()
}

async fn status(url: &str) -> Value {
    get(url, "/v1/status").await.json().await.unwrap()
}

/// `clawgate_ledger_rows_total{result}` on `/metrics`.
async fn ledger_rows(url: &str, result: &str) -> u64 {
    let text = get(url, "/metrics").await.text().await.unwrap();
    let prefix = format!("clawgate_ledger_rows_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_enforce_one_budget_and_one_rate_limit() {
    let Some(cluster) = Cluster::start("two_gateways_enforce_one_budget_and_one_rate_limit") else {
        return;
    };
    let mock = healthy_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let [(a, _a), (b, _b)] = two(&cluster, dir.path(), &mock).await;

    // Alice spends her daily budget through a.
    let mut served = 0;
    loop {
        let response = ask(&a.url, ALICE).await;
        match response.status().as_u16() {
            200 => served += 1,
            402 => break,
            other => panic!("{other}: {}", response.text().await.unwrap()),
        }
        assert!(served < 50, "the budget never ran out");
    }
    assert!(
        served >= 2,
        "each request costs a part of the budget: {served}"
    );
    // b sees a's spend within the documented bound: one refresh after the
    // rows are written (a batch within 20 ms).
    tokio::time::sleep(SPEND_REFRESH + Duration::from_millis(500)).await;
    let refused = ask(&b.url, ALICE).await;
    assert_eq!(
        refused.status(),
        402,
        "b refuses alice: her budget is spent on a"
    );
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("budget of $0.05 for all traffic of client alice is spent"),
        "{body}"
    );

    // Bob may make 6 requests a minute: 4 through a, then 2 through b.
    for _ in 0..4 {
        assert_eq!(ask(&a.url, BOB).await.status(), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.psql("SELECT COALESCE(SUM(requests), 0) FROM clawgate_rates WHERE client = 'bob'")
        != "4"
    {
        assert!(Instant::now() < deadline, "a's counts reach the database");
        tokio::time::sleep(RATE_SYNC / 5).await;
    }
    // b takes them in at its next sync.
    tokio::time::sleep(RATE_SYNC * 2).await;
    for _ in 0..2 {
        assert_eq!(ask(&b.url, BOB).await.status(), 200);
    }
    let limited = ask(&b.url, BOB).await;
    assert_eq!(
        limited.status(),
        429,
        "bob's 6 a minute are used, 4 of them on a"
    );
    assert!(header(&limited, "retry-after").parse::<u64>().unwrap() >= 1);
    tokio::time::sleep(RATE_SYNC * 2).await;
    assert_eq!(ask(&a.url, BOB).await.status(), 429, "and a knows of b's 2");

    // Both show the same spend for alice once written and read back.
    tokio::time::sleep(SPEND_REFRESH + Duration::from_millis(500)).await;
    let spent = |s: &Value| {
        s["clients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "alice")
            .map(|c| c.to_string())
    };
    let (status_a, status_b) = (status(&a.url).await, status(&b.url).await);
    assert_eq!(status_a["ledger"]["store"], status_b["ledger"]["store"]);
    assert!(
        status_a["ledger"]["store"]
            .as_str()
            .unwrap()
            .starts_with("postgresql://postgres@/clawgate?host="),
        "{}",
        status_a["ledger"]
    );
    assert_eq!(spent(&status_a), spent(&status_b));
}

/// A config as [`write_config`]'s, alice's daily budget $1.00.
fn write_budget_config(dir: &Path, name: &str, mock: &MockServer) -> Instance {
    let instance = write_config(dir, name, mock);
    let text = std::fs::read_to_string(&instance.config).unwrap();
    let mut config: Value = serde_json::from_str(&text).unwrap();
    config["gateway"]["clients"]["alice"]["budgets"]["daily"] = json!(1.0);
    std::fs::write(&instance.config, config.to_string()).unwrap();
    instance
}

/// The body the reservation tests send: 20 tokens of output at most.
fn small_body() -> Value {
    json!({"max_tokens": 20, "messages": user_message()})
}

/// A request's worst cost, as reserved: its body's bytes as tokens (four
/// ASCII bytes a token) and 20 tokens out, at $0.001 a token.
fn worst_usd() -> f64 {
    (small_body().to_string().len().div_ceil(4) + 20) as f64 * 0.001
}

/// Sends `n` requests at once with alice's key to `url`; their statuses.
async fn at_once(url: &str, n: usize) -> Vec<u16> {
    common::at_once(url, ALICE, &small_body(), n).await
}

/// Alice's spend today in the database, as budgets count it, once her
/// `answered` requests are written.
async fn alice_spent(cluster: &Cluster, answered: usize) -> f64 {
    let today = calendar::day_of(std::time::SystemTime::now());
    let of_alice =
        format!("FROM clawgate_daily WHERE client = 'alice' AND day = {today} AND model <> ''");
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.psql(&format!("SELECT COALESCE(SUM(requests), 0) {of_alice}"))
        != answered.to_string()
    {
        assert!(Instant::now() < deadline, "{answered} rows are written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster
        .psql(&format!("SELECT SUM(budget_cost_usd) {of_alice}"))
        .parse()
        .unwrap()
}

/// Waits until the instance at `url` counts at least `usd` spent on alice's
/// daily budget (its spend read back from the database).
async fn sees_spent(url: &str, usd: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = status(url).await;
        let spent = status["budgets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["client"] == "alice")
            .map_or(0.0, |b| b["spentUsd"].as_f64().unwrap());
        if spent >= usd - 1e-9 {
            return;
        }
        assert!(Instant::now() < deadline, "{url} sees ${spent} of ${usd}");
        tokio::time::sleep(SPEND_REFRESH / 4).await;
    }
}

/// Writes a row of alice's that cost `usd` today, as another gateway would.
fn spend_earlier(cluster: &Cluster, usd: f64) {
    let url = store_url(&cluster.url());
    std::thread::scope(|scope| {
        // The store blocks on a runtime of its own: not on a test's.
        scope.spawn(|| {
            let mut store = Postgres::new(&url).unwrap();
            let mut row = row_with_tokens_in(1);
            row.ts_ms = calendar::millis(std::time::SystemTime::now());
            row.cost_usd = Some(usd);
            store.write(1, &[row]).unwrap();
        });
    });
}

/// The bound with a shared store, one instance: as on SQLite, requests at
/// once pass a budget by one request's worst cost at most.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_requests_at_once_on_one_gateway_end_within_the_bound() {
    let Some(cluster) = Cluster::start("fifty_requests_at_once_on_one_gateway") else {
        return;
    };
    spend_earlier(&cluster, 0.95);
    let mock = mock(MockOptions {
        latency_ms: 1000,
        ..MockOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = write_budget_config(dir.path(), "a", &mock);
    let _a = start(&mut a, &cluster).await;
    sees_spent(&a.url, 0.95).await;
    let statuses = at_once(&a.url, 50).await;
    let served = statuses.iter().filter(|s| **s == 200).count();
    assert!((1..=2).contains(&served), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [200, 402].contains(s)),
        "{statuses:?}"
    );
    let spent = alice_spent(&cluster, 1 + served).await;
    assert!(spent <= 1.0 + worst_usd(), "${spent}: {statuses:?}");
}

/// Two instances, 25 requests at once each: each passes the budget by
/// one request's worst cost at most before it sees the other's
/// reservations, which it does within one exchange ([`RATE_SYNC`]); then
/// a request in flight on one holds the budget on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_see_each_others_reservations_within_one_exchange() {
    let Some(cluster) = Cluster::start("two_gateways_see_each_others_reservations") else {
        return;
    };
    spend_earlier(&cluster, 0.95);
    let mock = mock(MockOptions {
        latency_ms: 2000,
        ..MockOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = write_budget_config(dir.path(), "a", &mock);
    let mut b = write_budget_config(dir.path(), "b", &mock);
    let (_a, _b) = tokio::join!(start(&mut a, &cluster), start(&mut b, &cluster));
    tokio::join!(sees_spent(&a.url, 0.95), sees_spent(&b.url, 0.95));
    let (on_a, on_b) = tokio::join!(at_once(&a.url, 25), at_once(&b.url, 25));
    let served = [&on_a, &on_b]
        .iter()
        .map(|s| s.iter().filter(|s| **s == 200).count())
        .sum::<usize>();
    assert!((1..=4).contains(&served), "{on_a:?} {on_b:?}");
    let spent = alice_spent(&cluster, 1 + served).await;
    assert!(
        spent <= 1.0 + 2.0 * worst_usd(),
        "${spent}: {on_a:?} {on_b:?}"
    );

    // Now $0.01 under $1.00, less than a reservation: one request in
    // flight on a holds the budget, and b, once a's reservation is in the
    // database and an exchange later, refuses alice.
    assert!(spent < 0.99, "${spent}");
    spend_earlier(&cluster, 0.99 - spent);
    tokio::join!(sees_spent(&a.url, 0.99), sees_spent(&b.url, 0.99));
    let (in_flight, refused) = tokio::join!(at_once(&a.url, 1), async {
        seen_on_b(&cluster, "clawgate_reservations").await;
        at_once(&b.url, 1).await
    });
    assert_eq!(in_flight, [200]);
    assert_eq!(refused, [402], "b saw a's reservation");
}

/// Waits until a reservation is in `table`, then for two exchanges: by
/// then the other instance has read it.
async fn seen_on_b(cluster: &Cluster, table: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while cluster.psql(&format!("SELECT COUNT(*) FROM {table}")) == "0" {
        assert!(
            Instant::now() < deadline,
            "a's reservation reaches the database"
        );
        tokio::time::sleep(RATE_SYNC / 5).await;
    }
    tokio::time::sleep(RATE_SYNC * 2).await;
}

/// A request's tokens reserved on one instance hold the client's
/// `tokensPerMinute` on the other within one exchange after they reach
/// the database, and are given back everywhere when it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_reservation_on_one_gateway_holds_the_limit_on_the_other() {
    let Some(cluster) = Cluster::start("a_token_reservation_on_one_gateway") else {
        return;
    };
    let mock = mock(MockOptions {
        latency_ms: 2000,
        ..MockOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let limited = |name| {
        let instance = write_config(dir.path(), name, &mock);
        let text = std::fs::read_to_string(&instance.config).unwrap();
        let mut config: Value = serde_json::from_str(&text).unwrap();
        config["gateway"]["clients"]["alice"]["limits"] = json!({"tokensPerMinute": 1000});
        std::fs::write(&instance.config, config.to_string()).unwrap();
        instance
    };
    let (mut a, mut b) = (limited("a"), limited("b"));
    let (_a, _b) = tokio::join!(start(&mut a, &cluster), start(&mut b, &cluster));
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.psql("SELECT to_regclass('clawgate_token_reservations') IS NOT NULL") != "t" {
        assert!(
            Instant::now() < deadline,
            "the schema is brought up to date"
        );
        tokio::time::sleep(RATE_SYNC / 5).await;
    }
    let most = json!({"max_tokens": 5000, "messages": user_message()});
    let (in_flight, refused) = tokio::join!(common::at_once(&a.url, ALICE, &most, 1), async {
        seen_on_b(&cluster, "clawgate_token_reservations").await;
        at_once(&b.url, 1).await
    });
    assert_eq!(in_flight, [200]);
    assert_eq!(refused, [429], "b saw a's 5,000 tokens held");
    // Ended: only what it used counts, on b too, an exchange later.
    tokio::time::sleep(RATE_SYNC * 4).await;
    assert_eq!(at_once(&b.url, 1).await, [200]);
}

/// Sends chat requests to `url` from `tasks` tasks until `stop`; counts
/// each status that is not 200 in `failed` and the 200s in `ok`.
fn traffic(
    url: &str,
    tasks: usize,
    stop: &Arc<AtomicBool>,
    ok: &Arc<AtomicUsize>,
    failed: &Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..tasks)
        .map(|_| {
            let (url, stop, ok, failed) =
                (url.to_string(), stop.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                while !stop.load(Ordering::SeqCst) {
                    let answer = client
                        .post(format!("{url}/v1/chat/completions"))
                        .bearer_auth(ALICE)
                        .json(&json!({"model": "p/m", "messages": user_message()}))
                        .send()
                        .await;
                    match answer {
                        Ok(response) if response.status() == 200 => {
                            response.bytes().await.unwrap();
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        _ => {
                            failed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            })
        })
        .collect()
}

/// An unbudgeted config: the traffic tests count failures, not refusals.
fn unbudgeted(instance: &Instance) {
    let mut config: Value =
        serde_json::from_slice(&std::fs::read(&instance.config).unwrap()).unwrap();
    config["gateway"]["clients"]["alice"]["budgets"] = json!({});
    std::fs::write(&instance.config, config.to_string()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gateway_killed_mid_traffic_leaves_the_other_serving_and_usage_agrees() {
    let Some(cluster) = Cluster::start("one_gateway_killed_mid_traffic") else {
        return;
    };
    let mock = healthy_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = write_config(dir.path(), "a", &mock);
    let mut b = write_config(dir.path(), "b", &mock);
    unbudgeted(&a);
    unbudgeted(&b);
    let mut child_a = start(&mut a, &cluster).await;
    let _child_b = start(&mut b, &cluster).await;

    let stop = Arc::new(AtomicBool::new(false));
    let (ok_a, failed_a) = (Arc::default(), Arc::default());
    let (ok_b, failed_b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut senders = traffic(&a.url, 4, &stop, &ok_a, &failed_a);
    senders.extend(traffic(&b.url, 4, &stop, &ok_b, &failed_b));
    let deadline = Instant::now() + Duration::from_secs(30);
    while ok_a.load(Ordering::SeqCst) < 100 || ok_b.load(Ordering::SeqCst) < 100 {
        assert!(Instant::now() < deadline, "both serve");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child_a.start_kill().unwrap();
    child_a.wait().await.unwrap();
    let after_kill = ok_b.load(Ordering::SeqCst);
    while ok_b.load(Ordering::SeqCst) < after_kill + 100 {
        assert!(Instant::now() < deadline, "b serves on");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.await.unwrap();
    }
    assert_eq!(
        failed_b.load(Ordering::SeqCst),
        0,
        "b never failed a request"
    );

    // b's rows all reach the database; a's, up to the kill.
    let served_b = ok_b.load(Ordering::SeqCst) as u64;
    let deadline = Instant::now() + Duration::from_secs(15);
    while ledger_rows(&b.url, "written").await < served_b {
        assert!(Instant::now() < deadline, "b's rows are written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ledger_rows(&b.url, "dropped").await, 0);
    let in_database: u64 = cluster
        .psql("SELECT COUNT(*) FROM clawgate_requests")
        .parse()
        .unwrap();
    let rolled: u64 = cluster
        .psql("SELECT SUM(requests) FROM clawgate_daily")
        .parse()
        .unwrap();
    assert_eq!(in_database, rolled, "rows and rollups written together");
    assert!(
        in_database >= served_b + 50
            && in_database <= served_b + ok_a.load(Ordering::SeqCst) as u64,
        "{in_database} rows: b's {served_b} and a's but its last batch or so"
    );

    // `clawgate usage` from either gateway's config reads the same totals.
    let url = cluster.url();
    let usage = |instance: &Instance| {
        let output = clawgate(&["usage", "--json", "--by", "client", "--config"])
            .arg(&instance.config)
            .envs(instance.env(&url))
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", shown(&output));
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let (from_a, from_b) = (usage(&a), usage(&b));
    assert_eq!(from_a, from_b);
    assert_eq!(from_a["total"]["requests"], in_database, "{from_a}");
    assert_eq!(from_a["lines"][0]["key"], "alice", "{from_a}");
    // And `GET /v1/usage` from the gateway still running.
    let answer: Value = get(&b.url, "/v1/usage?by=client")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["total"], from_a["total"], "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_stopped_and_started_under_load_fails_no_request() {
    let Some(cluster) = Cluster::start("the_database_stopped_and_started_under_load") else {
        return;
    };
    let mock = healthy_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = write_config(dir.path(), "a", &mock);
    unbudgeted(&a);
    let url = cluster.url();
    let (_child, served, log) = serve_process_logged(&a.config, &a.env(&url)).await;
    a.url = served;

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let senders = traffic(&a.url, 4, &stop, &ok, &failed);
    let wait_for = async |count: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while ok.load(Ordering::SeqCst) < count {
            assert!(Instant::now() < deadline, "requests are served");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    wait_for(100).await;
    let stopped_at = Instant::now();
    cluster.stop_server();
    let before_outage = ok.load(Ordering::SeqCst);
    // The outage is an error in the log at once, and in the status. A
    // call that may have taken effect when the connection went (sharing
    // the rate limits) is an error of its own first; the outage's line
    // comes with the next call, within the second.
    log.wait_for(
        &[
            "ERROR",
            "ledger: cannot",
            "budgets and rate limits count this instance's requests only",
        ],
        Duration::from_secs(3),
    )
    .await;
    let ledger = status(&a.url).await["ledger"].clone();
    assert_eq!(ledger["state"], "unreachable", "{ledger}");
    assert!(ledger["perInstance"].is_string(), "{ledger}");
    wait_for(before_outage + 200).await;
    assert_eq!(
        log.lines(&["ERROR", "ledger: cannot", "rows wait on disk"])
            .len(),
        1,
        "said once, then at most every {:?}",
        clawgate::ledger::OUTAGE_LOG_EVERY
    );
    cluster.start_server();
    let outage = stopped_at.elapsed();
    let after_outage = ok.load(Ordering::SeqCst);
    wait_for(after_outage + 100).await;
    // Recovered: said, and the error leaves the status.
    let recovered = "the rows held are written, and budgets and rate limits are shared again";
    assert!(TROUBLESHOOTING.contains(recovered));
    assert!(TROUBLESHOOTING.contains(clawgate::ledger::PER_INSTANCE));
    log.wait_for(
        &["WARN", "ledger: the store answers again", recovered],
        Duration::from_secs(10),
    )
    .await;
    let ledger = status(&a.url).await["ledger"].clone();
    assert_eq!(ledger["state"], "writing", "{ledger}");
    assert!(ledger["lastError"].is_null(), "{ledger}");
    assert!(ledger["perInstance"].is_null(), "{ledger}");
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "no request failed for the database"
    );

    // Every row is written once the database is back, or counted dropped.
    let served = ok.load(Ordering::SeqCst) as u64;
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut written, mut dropped);
    loop {
        written = ledger_rows(&a.url, "written").await;
        dropped = ledger_rows(&a.url, "dropped").await;
        if written + dropped >= served {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{served} served, {written} written, {dropped} dropped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(written + dropped, served);
    let in_database: u64 = cluster
        .psql("SELECT COUNT(*) FROM clawgate_requests")
        .parse()
        .unwrap();
    assert_eq!(in_database, written);
    assert!(
        written > (after_outage as u64),
        "rows queued during the {outage:?} outage were written when it came back: {written} written, {after_outage} served before it ended, {dropped} dropped"
    );
    // The batch that met the closed connection waited with the others and
    // was written once, whether or not its commit had happened.
    assert_eq!(dropped, 0, "{dropped} dropped");
    let ledger = &status(&a.url).await["ledger"];
    assert_eq!(ledger["rowsDropped"], dropped, "{ledger}");
}

#[tokio::test]
async fn bad_ledger_store_values_are_refused_without_showing_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let check = |store: &str, expected: &str| {
        std::fs::write(
            &config,
            json!({"ledger": {"store": "${CLAWGATE_LEDGER_URL}"}}).to_string(),
        )
        .unwrap();
        let output = clawgate(&["config", "validate", "--config"])
            .arg(&config)
            .env("CLAWGATE_LEDGER_URL", store)
            .env("MOONSHOT_API_KEY", "sk-m")
            .env("OPENROUTER_API_KEY", "sk-o")
            .output()
            .unwrap();
        let text = shown(&output);
        assert!(!output.status.success(), "{store}: {text}");
        assert!(text.contains(expected), "{store}: {text}");
        assert!(!text.contains("hunter2"), "{text}");
    };
    check(
        "mysql://gw:hunter2@localhost/usage",
        "ledger.store: expected a postgres:// or postgresql:// URL",
    );
    check(
        "postgres://gw:hunter2@[::1/usage",
        "ledger.store: not a valid URL",
    );
    check(
        "postgres://gw:hunter2@localhost/usage?sslmode=verify-full",
        "without TLS",
    );
    check(
        "postgres://gw:hunter2@localhost/usage?pool=3",
        "unknown URL parameter \"pool\"",
    );

    // A database that is not there: `clawgate usage` says so, password
    // hidden.
    std::fs::write(
        &config,
        json!({"ledger": {"store": "${CLAWGATE_LEDGER_URL}"}}).to_string(),
    )
    .unwrap();
    let output = clawgate(&["usage", "--config"])
        .arg(&config)
        .env(
            "CLAWGATE_LEDGER_URL",
            format!(
                "postgresql://gw:hunter2@/usage?host={}",
                dir.path().display()
            ),
        )
        .output()
        .unwrap();
    let text = shown(&output);
    assert!(!output.status.success(), "{text}");
    assert!(
        text.contains("cannot connect to postgresql://gw:****@/usage?host="),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");

    // `doctor` checks the store's variable (`--probe` connects: below).
    let output = clawgate(&["doctor", "--config"])
        .arg(&config)
        .env("MOONSHOT_API_KEY", "sk-m")
        .output()
        .unwrap();
    let text = shown(&output);
    assert!(!output.status.success(), "{text}");
    assert!(
        text.contains(
            "FAIL serve refuses to start: ledger.store: environment variable CLAWGATE_LEDGER_URL is not set: export it, or put it in the env file clawgate reads (~/.config/clawgate/secrets.env, or the one --env-file names; under systemd, the service's EnvironmentFile=)"
        ),
        "{text}"
    );
    assert!(TROUBLESHOOTING.contains(
        "FAIL serve refuses to start: ledger.store: environment variable CLAWGATE_LEDGER_URL is not set: export it, or put it in the env file clawgate reads (~/.config/clawgate/secrets.env, or the one --env-file names; under systemd, the service's EnvironmentFile=)"
    ));
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_config_show_name_the_store_with_its_password_hidden() {
    let Some(cluster) = Cluster::start("status_and_config_show_name_the_store") else {
        return;
    };
    let mock = healthy_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let instance = write_config(dir.path(), "a", &mock);
    // The throwaway cluster trusts its socket: the password is only carried.
    let url = cluster
        .url()
        .replacen("://postgres@", "://postgres:hunter2-secret@", 1);
    let hidden = cluster
        .url()
        .replacen("://postgres@", "://postgres:****@", 1);
    let env = instance.env(&url);
    let (_child, served) = serve_process(&instance.config, &env).await;
    assert_eq!(ask(&served, ALICE).await.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(&served).await["ledger"]["rowsWritten"] != 1 {
        assert!(Instant::now() < deadline, "the row is written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let config = instance.config.to_str().unwrap();
    let output = clawgate(&["status", "--config", config, "--url", &served])
        .env("CLAWGATE_KEY", ALICE)
        .env("CLAWGATE_LEDGER_URL", &url)
        .output()
        .unwrap();
    let text = shown(&output);
    assert!(output.status.success(), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    let mut lines = text.lines().skip_while(|line| !line.starts_with("LEDGER"));
    assert!(lines.next().is_some(), "a ledger table:\n{text}");
    assert_eq!(
        lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>(),
        [hidden.as_str(), "writing", "1", "0", "-"],
        "{text}"
    );

    let output = clawgate(&["config", "show", "--config", config])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = shown(&output);
    assert!(output.status.success(), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    let shown_config: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown_config["ledger"]["store"], hidden.as_str(), "{text}");
}

/// A row as the gateway writes it, with `tokens` tokens in.
fn row_with_tokens_in(tokens: u64) -> Row {
    Row {
        ts_ms: 1_795_000_000_000,
        tokens: Tokens {
            input: Some(tokens),
            cached: None,
            written: None,
            output: Some(1),
            reasoning: None,
        },
        cost_usd: Some(0.01),
        ..common::rows::answered("p/m")
    }
}

fn store_url(url: &str) -> StoreUrl {
    StoreUrl::Postgres {
        url: secrecy::SecretString::from(url.to_string()),
        shown: "postgresql://(test)".into(),
    }
}

#[test]
fn counts_too_large_to_add_neither_stop_the_writer_nor_overflow() {
    let Some(cluster) = Cluster::start("counts_too_large_to_add") else {
        return;
    };
    let mut store = Postgres::new(&store_url(&cluster.url())).unwrap();
    let huge = row_with_tokens_in(u64::MAX);
    // Each count is capped (exact as a JSON number), and two add up.
    store.write(1, &[huge.clone(), huge.clone()]).unwrap();
    let max: u64 = cluster
        .psql("SELECT MAX(tokens_in) FROM clawgate_requests")
        .parse()
        .unwrap();
    assert_eq!(max, 1 << 53);
    assert_eq!(
        cluster.psql("SELECT tokens_in FROM clawgate_daily"),
        (2u64 << 53).to_string()
    );
    // A full batch of them, then more onto the day's rollup: the sum
    // saturates instead of refusing every later batch for that day.
    store.write(2, &vec![huge.clone(); 1024]).unwrap();
    store.write(3, &[huge]).unwrap();
    store.write(4, &[row_with_tokens_in(7)]).unwrap();
    assert_eq!(
        cluster.psql("SELECT tokens_in FROM clawgate_daily"),
        i64::MAX.to_string()
    );
    assert_eq!(cluster.psql("SELECT requests FROM clawgate_daily"), "1028");
}

/// A priced answer without usage counts its estimate against budgets:
/// written into the rollups, it is still there after the running totals
/// are read back from the database, and a version 2 rollup's costs count.
#[test]
fn an_estimate_outlives_the_refresh_of_the_running_totals() {
    let Some(cluster) = Cluster::start("an_estimate_outlives_the_refresh") else {
        return;
    };
    let ledger = Ledger::open_postgres(
        &store_url(&cluster.url()),
        &LedgerSettings::default(),
        system_clock(),
        None,
    );
    let mut left = row_with_tokens_in(0);
    left.ts_ms = calendar::millis(std::time::SystemTime::now());
    left.tokens = Tokens::default();
    left.cost_usd = None;
    left.budget_estimate_usd = Some(0.25);
    ledger.record(left, &[&Budgets::default()]);
    let today = calendar::day_of(std::time::SystemTime::now());
    let spent = || ledger.with_totals(|t| t.since(None, today, |_| true).cost_usd);
    assert_eq!(spent(), 0.25);
    assert!(ledger.flush(Duration::from_secs(10)));
    std::thread::sleep(SPEND_REFRESH * 5 / 2);
    assert_eq!(spent(), 0.25, "read back from the database");
    assert_eq!(
        cluster.psql("SELECT cost_usd, budget_cost_usd FROM clawgate_daily"),
        "0|0.25"
    );
    ledger.close(Duration::from_secs(5));
}

/// A database of schema version 2 (rollups without `budget_cost_usd`)
/// is brought to version 3 with its costs counted for budgets.
#[test]
fn a_version_2_database_counts_its_costs_for_budgets_once_migrated() {
    let Some(cluster) = Cluster::start("a_version_2_database_counts_its_costs") else {
        return;
    };
    let mut store = Postgres::new(&store_url(&cluster.url())).unwrap();
    store.write(1, &[row_with_tokens_in(1)]).unwrap();
    drop(store);
    // Back to how version 2 left it.
    cluster.psql(
        "ALTER TABLE clawgate_daily DROP COLUMN budget_cost_usd; \
         DROP TABLE clawgate_reservations, clawgate_token_reservations, clawgate_sessions; \
         ALTER TABLE clawgate_requests DROP COLUMN session, DROP COLUMN tokens_written; \
         ALTER TABLE clawgate_schema DROP COLUMN applied; \
         UPDATE clawgate_schema SET version = 2",
    );
    let mut store = Postgres::new(&store_url(&cluster.url())).unwrap();
    let day = 1_795_000_000_000 / 86_400_000;
    let spend = store.spend_since(day).unwrap();
    assert_eq!(spend.len(), 1, "{spend:?}");
    assert_eq!(spend[0].cost_usd, 0.01);
    assert_eq!(
        cluster.psql("SELECT version, applied FROM clawgate_schema"),
        "3|4"
    );
}

/// Sessions are an additive version (4): a version 3 database takes them
/// while gateways of version 3 keep using it beside the newer ones (the
/// version they check stays 3, and their rows, written without a session,
/// still go in).
#[test]
fn a_version_3_database_takes_sessions_and_version_3_gateways_keep_using_it() {
    let Some(cluster) = Cluster::start("a_version_3_database_takes_sessions") else {
        return;
    };
    let mut store = Postgres::new(&store_url(&cluster.url())).unwrap();
    store.write(1, &[row_with_tokens_in(1)]).unwrap();
    drop(store);
    // Back to how version 3 left it.
    cluster.psql(
        "ALTER TABLE clawgate_requests DROP COLUMN session, DROP COLUMN tokens_written; \
         DROP TABLE clawgate_sessions; ALTER TABLE clawgate_schema DROP COLUMN applied; \
         UPDATE clawgate_schema SET version = 3",
    );
    let mut store = Postgres::new(&store_url(&cluster.url())).unwrap();
    let mut turn = row_with_tokens_in(10);
    turn.session = Some("conversation-1".into());
    turn.tokens.cached = Some(4);
    turn.tokens.written = Some(2);
    turn.uncached_cost_usd = Some(0.03);
    store.write(2, &[turn.clone(), turn]).unwrap();
    assert_eq!(
        cluster.psql("SELECT version, applied FROM clawgate_schema"),
        "3|4"
    );
    // A version 3 gateway: the version it reads is its own, and its
    // insert names the columns it knows.
    assert_eq!(cluster.psql("SELECT version FROM clawgate_schema"), "3");
    cluster.psql(
        "INSERT INTO clawgate_requests (ts_ms, request_id, front_end, model_asked, answered_by, \
         provider, attempts, fallback, primary_failed, status, end_state, first_byte_ms, \
         total_ms, tokens_in, tokens_cached, tokens_out, tokens_reasoning, cost_usd, agent, \
         client) VALUES (1795000000000, NULL, 'openai-chat', 'p/m', 'p/m', 'p', 'p/m:ok', false, \
         false, 200, 'complete', 5, 40, 3, NULL, 1, NULL, 0.01, 'openclaw', 'alice')",
    );
    assert_eq!(
        cluster.psql("SELECT COUNT(*), COUNT(session) FROM clawgate_requests"),
        "4|2"
    );
    let day = 1_795_000_000_000 / 86_400_000;
    let report = store
        .report(&Query {
            since_day: day,
            until_day: day,
            per: None,
            by: Some(clawgate::ledger::query::Dimension::Session),
            client: Some("alice".into()),
            limit: 10,
        })
        .unwrap();
    let report = serde_json::to_value(report).unwrap();
    // The rollups count what went through the store (the raw insert
    // above has none).
    assert_eq!(report["total"]["requests"], 3, "{report}");
    let session = &report["sessions"][0];
    assert_eq!(report["sessions"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(session["session"], "conversation-1", "{report}");
    assert_eq!(session["targets"], json!(["p/m"]), "{report}");
    assert_eq!(
        [
            &session["turns"],
            &session["tokensIn"],
            &session["tokensCached"],
            &session["tokensWritten"],
            &session["tokensOut"],
        ],
        [&json!(2), &json!(20), &json!(8), &json!(4), &json!(2)],
        "{report}"
    );
    assert_eq!(session["hitRate"], 0.4, "{report}");
    // A newer gateway's own additions are no reason to refuse it.
    cluster.psql("UPDATE clawgate_schema SET applied = 9");
    let mut again = Postgres::new(&store_url(&cluster.url())).unwrap();
    again.spend_since(0).unwrap();
    // A version it does not know is.
    cluster.psql("UPDATE clawgate_schema SET version = 9");
    let mut refused = Postgres::new(&store_url(&cluster.url())).unwrap();
    let err = refused.spend_since(0).unwrap_err().to_string();
    assert!(err.contains("from a newer clawgate"), "{err}");
}

/// Stands between the store and the server, in `dir`, and once cuts the
/// store's connection just after passing a `COMMIT` on: the server commits,
/// the store never hears so.
fn cut_at_commit(server: PathBuf, dir: &Path) -> Arc<AtomicBool> {
    use std::io::{Read, Write};
    use std::os::unix::net::{UnixListener, UnixStream};
    let listener = UnixListener::bind(dir.join(server.file_name().unwrap())).unwrap();
    let cut = Arc::new(AtomicBool::new(false));
    let done = cut.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let mut client = client.unwrap();
            let mut to_server = UnixStream::connect(&server).unwrap();
            let (mut from_server, mut to_client) =
                (to_server.try_clone().unwrap(), client.try_clone().unwrap());
            let swallow = Arc::new(AtomicBool::new(false));
            let quiet = swallow.clone();
            std::thread::spawn(move || {
                let mut buf = [0; 8192];
                while let Ok(n @ 1..) = from_server.read(&mut buf) {
                    if quiet.load(Ordering::SeqCst) || to_client.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
            let done = done.clone();
            std::thread::spawn(move || {
                let mut buf = [0; 8192];
                while let Ok(n @ 1..) = client.read(&mut buf) {
                    let commit = buf[..n].windows(7).any(|w| w == b"COMMIT\0");
                    if commit && !done.load(Ordering::SeqCst) {
                        swallow.store(true, Ordering::SeqCst);
                        to_server.write_all(&buf[..n]).unwrap();
                        std::thread::sleep(Duration::from_millis(300));
                        done.store(true, Ordering::SeqCst);
                        let _ = client.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                    if to_server.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    cut
}

#[test]
fn a_batch_whose_commit_was_not_answered_is_written_again_once() {
    let Some(cluster) = Cluster::start("a_batch_whose_commit_was_not_answered") else {
        return;
    };
    // The schema made first, straight to the server: its migration commits
    // too.
    Postgres::new(&store_url(&cluster.url()))
        .unwrap()
        .spend_since(0)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = cut_at_commit(cluster.socket(), dir.path());
    let mut store = Postgres::new(&store_url(&Cluster::url_in(dir.path()))).unwrap();
    let batch = [row_with_tokens_in(5), row_with_tokens_in(7)];
    let err = store.write(1, &batch).unwrap_err();
    assert!(
        cut.load(Ordering::SeqCst),
        "the connection was cut at COMMIT"
    );
    assert!(
        matches!(&err, StorageError::Unreached(_)),
        "the batch is to be sent again: {err:?}"
    );
    assert_eq!(
        cluster.psql("SELECT COUNT(*) FROM clawgate_requests"),
        "2",
        "the server committed"
    );
    while let Some(at) = store.retry_at() {
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
    }
    store.write(1, &batch).unwrap();
    assert_eq!(cluster.psql("SELECT COUNT(*) FROM clawgate_requests"), "2");
    assert_eq!(cluster.psql("SELECT requests FROM clawgate_daily"), "2");
    // The next batch, and another gateway's first, are written.
    store.write(2, &[row_with_tokens_in(1)]).unwrap();
    let mut other = Postgres::new(&store_url(&cluster.url())).unwrap();
    other.write(1, &[row_with_tokens_in(1)]).unwrap();
    assert_eq!(cluster.psql("SELECT requests FROM clawgate_daily"), "4");
    assert_eq!(cluster.psql("SELECT COUNT(*) FROM clawgate_batches"), "3");
    // The batches are kept as long as their rows.
    assert_eq!(store.expire(1_795_000_000_000).unwrap(), 0);
    assert_eq!(cluster.psql("SELECT COUNT(*) FROM clawgate_batches"), "3");
    assert_eq!(store.expire(1_795_000_000_001).unwrap(), 4);
    assert_eq!(cluster.psql("SELECT COUNT(*) FROM clawgate_batches"), "0");
}

#[test]
fn old_rows_are_expired_a_slice_at_a_time() {
    let Some(cluster) = Cluster::start("old_rows_are_expired_a_slice") else {
        return;
    };
    let mut store = Postgres::new(&store_url(&cluster.url())).unwrap();
    store.write(1, &[row_with_tokens_in(1)]).unwrap();
    cluster.psql(&insert_old_rows(45_000));
    // Two slices of 20,000, the exchanges with the other gateways between.
    assert_eq!(store.expire(1_000_000).unwrap(), 40_000);
    assert!(!store.expired_all());
    assert_eq!(store.expire(1_000_000).unwrap(), 5_000);
    assert!(store.expired_all());
    assert_eq!(
        cluster.psql("SELECT COUNT(*) FROM clawgate_requests"),
        "1",
        "the row of now is kept"
    );
    // Sessions' rollups likewise, once the rows are gone.
    cluster.psql(&insert_old_sessions(45_000));
    assert_eq!(store.expire(1_000_000).unwrap(), 0);
    assert!(!store.expired_all());
    assert_eq!(
        cluster.psql("SELECT COUNT(*) FROM clawgate_sessions"),
        "5000"
    );
    assert_eq!(store.expire(1_000_000).unwrap(), 0);
    assert!(store.expired_all());
    assert_eq!(cluster.psql("SELECT COUNT(*) FROM clawgate_sessions"), "0");
    // The writer goes on slice after slice, its exchanges between.
    cluster.psql(&insert_old_rows(45_000));
    let ledger = Ledger::start(store, &LedgerSettings::default(), system_clock());
    let deadline = Instant::now() + Duration::from_secs(20);
    while cluster.psql("SELECT COUNT(*) FROM clawgate_requests") != "1" {
        assert!(Instant::now() < deadline, "the old rows are expired");
        std::thread::sleep(Duration::from_millis(50));
    }
    ledger.close(Duration::from_secs(5));
}

/// `n` rows of long ago, as the statement that inserts them.
fn insert_old_rows(n: u64) -> String {
    format!(
        "INSERT INTO clawgate_requests (ts_ms, front_end, fallback, primary_failed, status, \
         end_state, first_byte_ms, total_ms, agent, client) \
         SELECT 1000 + i, 'chat', false, false, 200, 'complete', 1, 1, '', '' \
         FROM generate_series(1, {n}) AS i"
    )
}

/// Rows another instance is deleting (its locks held) are left to it:
/// an expiry goes on with the others instead of waiting for them until the
/// server's lock timeout ends it, as every instance expires at midnight.
#[test]
fn rows_another_instance_is_expiring_are_left_to_it() {
    let Some(cluster) = Cluster::start("rows_another_instance_is_expiring") else {
        return;
    };
    let mut store = Postgres::new(&store_url(&cluster.url())).unwrap();
    store.write(1, &[row_with_tokens_in(1)]).unwrap();
    cluster.psql(&insert_old_rows(1000));
    let hold = "SELECT COUNT(*) FROM (SELECT id FROM clawgate_requests WHERE ts_ms < 1101 \
                FOR UPDATE) AS locked; SELECT pg_sleep(2)";
    let held = "SELECT COUNT(*) FROM pg_stat_activity WHERE state = 'active' \
                AND query LIKE '%pg_sleep(2)%' AND pid <> pg_backend_pid()";
    while_held(&cluster, hold, held, || {
        let started = Instant::now();
        assert_eq!(store.expire(1_000_000).unwrap(), 900);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    });
    assert_eq!(store.expire(1_000_000).unwrap(), 100, "once let go");
}

/// `n` sessions' rollups last seen long ago, as the statement that
/// inserts them.
fn insert_old_sessions(n: u64) -> String {
    format!(
        "INSERT INTO clawgate_sessions (client, session, target, first_ms, last_ms, turns, \
         failures, tokens_in, tokens_cached, tokens_written, tokens_out, uncosted, cost_usd, \
         uncached_cost_usd) \
         SELECT '', 's' || i, 'p/m', 1000, 1000 + i, 1, 0, 0, 0, 0, 0, 0, 0, 0 \
         FROM generate_series(1, {n}) AS i"
    )
}

/// `clawgate_daily` locked whole by another session for three seconds:
/// the task holding it, once the lock is granted.
fn daily_locked_for_3s(cluster: &Arc<Cluster>) -> tokio::task::JoinHandle<String> {
    let holder = tokio::task::spawn_blocking({
        let cluster = cluster.clone();
        move || cluster.psql("LOCK TABLE clawgate_daily; SELECT pg_sleep(3)")
    });
    while cluster.psql(
        "SELECT COUNT(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
         WHERE c.relname = 'clawgate_daily' AND l.mode = 'AccessExclusiveLock' AND l.granted",
    ) != "1"
    {
        assert!(!holder.is_finished(), "the lock is taken");
    }
    holder
}

/// Runs `work` while another session holds a lock: `hold` takes it and
/// sleeps, `held` counts it granted (1).
fn while_held(cluster: &Cluster, hold: &str, held: &str, work: impl FnOnce()) {
    std::thread::scope(|scope| {
        let holder = scope.spawn(|| cluster.psql(hold));
        while cluster.psql(held) != "1" {
            assert!(!holder.is_finished(), "the lock is taken");
        }
        work();
        holder.join().unwrap();
    });
}

#[test]
fn a_write_held_up_by_a_lock_is_ended_by_the_server_and_kept_to_try_again() {
    let Some(cluster) = Cluster::start("a_write_held_up_by_a_lock") else {
        return;
    };
    let mut store = Postgres::new(&store_url(&cluster.url())).unwrap();
    store.write(1, &[row_with_tokens_in(1)]).unwrap();
    let hold = "LOCK TABLE clawgate_daily IN EXCLUSIVE MODE; SELECT pg_sleep(2)";
    let held = "SELECT COUNT(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                WHERE c.relname = 'clawgate_daily' AND l.mode = 'ExclusiveLock' AND l.granted";
    while_held(&cluster, hold, held, || {
        let started = Instant::now();
        let err = store.write(2, &[row_with_tokens_in(2)]).unwrap_err();
        assert!(
            started.elapsed() < clawgate::ledger::postgres::CALL_TIMEOUT,
            "the server's lock_timeout, before the client's deadline: {:?}",
            started.elapsed()
        );
        assert!(
            matches!(&err, StorageError::Unreached(why) if why.contains("lock timeout")),
            "nothing was written; the batch is tried again: {err:?}"
        );
    });
    while let Some(at) = store.retry_at() {
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
    }
    store.write(2, &[row_with_tokens_in(2)]).unwrap();
    assert_eq!(
        cluster.psql("SELECT SUM(tokens_in) FROM clawgate_daily"),
        "3"
    );
}

#[test]
fn a_connection_to_an_up_to_date_schema_takes_no_migration_lock() {
    let Some(cluster) = Cluster::start("a_connection_to_an_up_to_date_schema") else {
        return;
    };
    let mut first = Postgres::new(&store_url(&cluster.url())).unwrap();
    first.write(1, &[row_with_tokens_in(1)]).unwrap();
    // Another gateway holds the migration lock ("clawgate" in ASCII) for
    // longer than a call may take.
    let hold = "SELECT pg_advisory_lock(x'636c617767617465'::int8), pg_sleep(3)";
    let held = "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted";
    while_held(&cluster, hold, held, || {
        let started = Instant::now();
        let mut second = Postgres::new(&store_url(&cluster.url())).unwrap();
        let days = second.spend_since(0).unwrap();
        assert_eq!(days.len(), 1);
        assert!(
            started.elapsed() < clawgate::ledger::postgres::CALL_TIMEOUT,
            "connected without waiting for the lock: {:?}",
            started.elapsed()
        );
    });
}

#[test]
fn a_report_not_broken_down_reads_the_totals() {
    let Some(cluster) = Cluster::start("a_report_not_broken_down") else {
        return;
    };
    let mut store = Postgres::new(&store_url(&cluster.url())).unwrap();
    store
        .write(1, &[row_with_tokens_in(5), row_with_tokens_in(7)])
        .unwrap();
    let day = 1_795_000_000_000 / 86_400_000;
    let report = store
        .report(&Query {
            since_day: day - 1,
            until_day: day + 1,
            per: None,
            by: None,
            client: None,
            limit: 50,
        })
        .unwrap();
    let report = serde_json::to_value(report).unwrap();
    assert_eq!(report["total"]["requests"], 2, "{report}");
    assert_eq!(report["total"]["tokensIn"], 12, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_reports_run_two_at_a_time_and_one_more_is_told_to_retry() {
    let Some(cluster) = Cluster::start("usage_reports_run_two_at_a_time") else {
        return;
    };
    let cluster = Arc::new(cluster);
    let mock = healthy_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = write_config(dir.path(), "a", &mock);
    let _child = start(&mut a, &cluster).await;
    let first = get(&a.url, "/v1/usage").await;
    assert_eq!(first.status(), 200, "{}", first.text().await.unwrap());

    // Reports wait for this lock (until the server's lock_timeout): two of
    // them hold both places meanwhile.
    let holder = daily_locked_for_3s(&cluster);
    let (one, two, three) = tokio::join!(
        get(&a.url, "/v1/usage"),
        get(&a.url, "/v1/usage"),
        get(&a.url, "/v1/usage")
    );
    let mut told_to_retry = 0;
    for answer in [one, two, three] {
        assert_eq!(answer.status(), 503);
        if let Some(after) = answer.headers().get("retry-after") {
            assert_eq!(after, "1");
            let body: Value = answer.json().await.unwrap();
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("2 usage reports are running already"),
                "{body}"
            );
            told_to_retry += 1;
        }
    }
    assert_eq!(told_to_retry, 1, "two ran; the third was refused at once");
    holder.await.unwrap();
    assert_eq!(get(&a.url, "/v1/usage").await.status(), 200);

    // Clients' keys run one report at most: an admin keeps the other.
    let holder = daily_locked_for_3s(&cluster);
    let bobs = || {
        reqwest::Client::new()
            .get(format!("{}/v1/usage", a.url))
            .bearer_auth(BOB)
            .send()
    };
    let (bob, bob_again) = (tokio::spawn(bobs()), tokio::spawn(bobs()));
    // Both of bob's are in (waiting for the lock, or refused) before the
    // admin's comes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let alice = get(&a.url, "/v1/usage").await;
    let told = |answer: &reqwest::Response| answer.headers().contains_key("retry-after");
    let (bob, bob_again) = (
        bob.await.unwrap().unwrap(),
        bob_again.await.unwrap().unwrap(),
    );
    assert_eq!(
        [told(&bob), told(&bob_again)]
            .iter()
            .filter(|t| **t)
            .count(),
        1,
        "one of bob's ran, the other was told to retry"
    );
    assert_eq!(alice.status(), 503, "the admin's ran into the lock");
    assert!(!told(&alice), "the admin's ran");
    holder.await.unwrap();
}

/// Bodies whose texts PostgreSQL cannot hold as they are: a NUL, halves
/// of surrogate pairs (escaped), a 100 KB model name.
fn odd_bodies() -> Vec<String> {
    let messages = user_message().to_string();
    vec![
        format!(r#"{{"model":"p/m\u0000x","messages":{messages}}}"#),
        format!(r#"{{"model":"\ud800","messages":{messages}}}"#),
        format!(r#"{{"model":"a\udc00\ud800b","messages":{messages}}}"#),
        format!(
            r#"{{"model":"{}","messages":{messages}}}"#,
            "m".repeat(100_000)
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_broken_escapes_and_a_long_model_name_lose_no_other_clients_rows() {
    let Some(cluster) = Cluster::start("a_nul_broken_escapes_and_a_long_model_name") else {
        return;
    };
    let mock = healthy_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = write_config(dir.path(), "a", &mock);
    unbudgeted(&a);
    let _child = start(&mut a, &cluster).await;

    // Bob's odd requests go with alice's plain ones, in the same batches.
    let client = reqwest::Client::new();
    let odd = odd_bodies().into_iter().map(|body| {
        client
            .post(format!("{}/v1/chat/completions", a.url))
            .bearer_auth(BOB)
            .header("content-type", "application/json")
            .body(body)
            .send()
    });
    let plain = (0..40).map(|_| ask(&a.url, ALICE));
    let (odd, plain) = tokio::join!(
        futures_util::future::join_all(odd),
        futures_util::future::join_all(plain)
    );
    for answer in plain {
        assert_eq!(answer.status(), 200);
    }
    for answer in odd {
        answer.unwrap();
    }
    let sent = 44;
    let deadline = Instant::now() + Duration::from_secs(15);
    while ledger_rows(&a.url, "written").await + ledger_rows(&a.url, "dropped").await < sent {
        assert!(Instant::now() < deadline, "every row is written or dropped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ledger_rows(&a.url, "dropped").await, 0);
    assert_eq!(
        cluster.psql("SELECT COUNT(*) FROM clawgate_requests WHERE client = 'alice'"),
        "40"
    );
    assert_eq!(
        cluster.psql("SELECT COUNT(*) FROM clawgate_requests WHERE client = 'bob'"),
        "4"
    );
    assert_eq!(
        cluster.psql("SELECT SUM(requests) FROM clawgate_daily WHERE client = 'alice'"),
        "40",
        "the rollups too"
    );
}

/// A ledger writing to `cluster`'s store once `setup` has run there.
fn ledger_on(cluster: &Cluster, setup: &str) -> Ledger {
    let mut store = Postgres::new(&store_url(&cluster.url())).unwrap();
    store.spend_since(0).unwrap();
    cluster.psql(setup);
    Ledger::start(store, &LedgerSettings::default(), system_clock())
}

/// A row of now with `tokens` of input.
fn row_of_now(tokens: u64) -> Row {
    Row {
        ts_ms: calendar::millis(std::time::SystemTime::now()),
        ..row_with_tokens_in(tokens)
    }
}

#[test]
fn a_row_the_database_refuses_costs_that_row_alone() {
    let Some(cluster) = Cluster::start("a_row_the_database_refuses") else {
        return;
    };
    // A rule the database holds rows to, as one with a constraint of its
    // own would.
    let ledger = ledger_on(
        &cluster,
        "ALTER TABLE clawgate_requests ADD CONSTRAINT no_mallory CHECK (client <> 'mallory')",
    );
    for i in 0..200 {
        let mut row = row_of_now(i);
        if i % 50 == 7 {
            row.client = "mallory".into();
        }
        ledger.record(row, &[]);
    }
    assert!(ledger.flush(Duration::from_secs(20)));
    let health = ledger.health();
    assert_eq!(
        (health.rows_written, health.rows_dropped),
        (196, 4),
        "{health:?}"
    );
    assert!(
        health.last_error.as_deref().unwrap().contains("no_mallory"),
        "{health:?}"
    );
    assert_eq!(
        cluster.psql("SELECT COUNT(*) FROM clawgate_requests"),
        "196"
    );
    assert_eq!(
        cluster.psql("SELECT SUM(requests) FROM clawgate_daily"),
        "196"
    );
    ledger.close(Duration::from_secs(5));
}

#[test]
fn rows_the_server_will_not_take_for_now_wait_and_are_written_when_it_does() {
    let Some(cluster) = Cluster::start("rows_the_server_will_not_take") else {
        return;
    };
    // A database that answers and takes no write, as one read-only during
    // a failover, or with its disk full, does.
    let ledger = ledger_on(
        &cluster,
        "CREATE FUNCTION read_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         RAISE EXCEPTION 'cannot execute INSERT in a read-only transaction' \
         USING ERRCODE = '25006'; END $$; \
         CREATE TRIGGER read_only BEFORE INSERT ON clawgate_batches \
         FOR EACH ROW EXECUTE FUNCTION read_only()",
    );
    for i in 0..100 {
        ledger.record(row_of_now(i), &[]);
    }
    assert!(
        !ledger.flush(Duration::from_secs(2)),
        "nothing can be written"
    );
    let health = ledger.health();
    assert_eq!(
        (health.rows_written, health.rows_dropped),
        (0, 0),
        "{health:?}"
    );
    assert!(
        health.last_error.as_deref().unwrap().contains("read-only"),
        "{health:?}"
    );
    // The store answers all the while: no outage comes and goes.
    assert_eq!(health.state, "writing", "{health:?}");
    cluster.psql("DROP TRIGGER read_only ON clawgate_batches");
    assert!(ledger.flush(Duration::from_secs(20)));
    let health = ledger.health();
    assert_eq!(
        (health.rows_written, health.rows_dropped),
        (100, 0),
        "{health:?}"
    );
    assert_eq!(
        cluster.psql("SELECT COUNT(*) FROM clawgate_requests"),
        "100"
    );
    // A refusal no wait mends (an error of the database's own code) costs
    // the batch, as before: it is not held for ever.
    cluster.psql(
        "CREATE OR REPLACE FUNCTION read_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         RAISE EXCEPTION 'no'; END $$; \
         CREATE TRIGGER read_only BEFORE INSERT ON clawgate_batches \
         FOR EACH ROW EXECUTE FUNCTION read_only()",
    );
    ledger.record(row_of_now(1), &[]);
    assert!(ledger.flush(Duration::from_secs(5)));
    assert_eq!(ledger.health().rows_dropped, 1);
    ledger.close(Duration::from_secs(5));
}

/// A gateway on `url` whose store is broken: the log says what is wrong
/// in `words` at once, `/v1/status` and `clawgate status` too, and
/// `doctor --probe` fails with them.
/// `quoted` is how docs/troubleshooting.md quotes them.
async fn a_broken_store_is_told(url: &str, words: &str, quoted: &str) {
    assert!(
        TROUBLESHOOTING.contains(quoted),
        "docs/troubleshooting.md quotes {quoted}"
    );
    let mock = healthy_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let instance = write_config(dir.path(), "a", &mock);
    let env = instance.env(url);
    let started = Instant::now();
    let (_child, served, log) = serve_process_logged(&instance.config, &env).await;
    let line = log
        .wait_for(
            &["ERROR", "ledger: cannot connect to", words],
            Duration::from_secs(5),
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(!line.contains("hunter2"), "{line}");
    assert!(
        line.contains("budgets and rate limits count this instance"),
        "{line}"
    );
    // Requests are served all the same.
    assert_eq!(ask(&served, ALICE).await.status(), 200);
    let ledger = &status(&served).await["ledger"];
    assert_eq!(ledger["state"], "unreachable", "{ledger}");
    assert!(
        ledger["lastError"].as_str().unwrap().contains(words),
        "{ledger}"
    );
    assert!(ledger["perInstance"].is_string(), "{ledger}");

    let config = instance.config.to_str().unwrap();
    let output = clawgate(&["status", "--config", config, "--url", &served])
        .env("CLAWGATE_KEY", ALICE)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = shown(&output);
    let row = text
        .lines()
        .skip_while(|line| !line.starts_with("LEDGER"))
        .nth(1)
        .unwrap_or_default();
    assert!(row.contains("unreachable") && row.contains(words), "{text}");
    assert!(!text.contains("hunter2"), "{text}");

    let output = clawgate(&["doctor", "--config", config])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = shown(&output);
    assert!(text.contains("ok   ledger: the PostgreSQL store"), "{text}");
    let output = clawgate(&["doctor", "--probe", "--config", config])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = shown(&output);
    assert!(!output.status.success(), "{text}");
    let probed = text
        .lines()
        .find(|line| line.starts_with("FAIL probe ledger:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(probed.contains(words), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_or_a_missing_database_is_an_error_in_words_at_start() {
    let Some(cluster) = Cluster::start("a_wrong_password_or_a_missing_database") else {
        return;
    };
    cluster.require_password("gw", "right-password");
    let url = cluster.url();
    let wrong = url.replacen("://postgres@", "://gw:hunter2@", 1);
    let said = "authentication failed: the password for user \"gw\" is wrong";
    a_broken_store_is_told(&wrong, said, said).await;
    let missing = url.replacen("/clawgate?", "/nodb?", 1);
    a_broken_store_is_told(
        &missing,
        "database \"nodb\" does not exist: create it, or correct ledger.store",
        "does not exist: create it, or correct ledger.store",
    )
    .await;
    let nowhere = tempfile::tempdir().unwrap();
    let said = "is PostgreSQL running?";
    a_broken_store_is_told(
        &Cluster::url_in(nowhere.path()),
        "no PostgreSQL socket at",
        said,
    )
    .await;
}

/// The rows in `state`'s spool, as lines of its segments.
fn spooled(state: &Path) -> usize {
    std::fs::read_dir(state.join("ledger-spool"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                // The segments, not the spend kept beside them.
                .filter(|e| e.file_name().to_string_lossy().starts_with("ledger-spool-"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .map(|text| text.lines().count())
                .sum()
        })
        .unwrap_or(0)
}

/// Two gateways given one state directory: the second keeps its rows for
/// an unreachable store in memory, and says so, rather than write and
/// delete the first one's spooled segments under it.
#[tokio::test]
async fn a_second_gateway_on_the_same_state_directory_spools_nothing_there() {
    let Some(cluster) = Cluster::start("a_second_gateway_on_the_same_state") else {
        return;
    };
    let mock = healthy_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let a = write_config(dir.path(), "a", &mock);
    let mut b = write_config(dir.path(), "b", &mock);
    b.state = a.state.clone();
    let url = cluster.url();
    let (_a, _, a_log) = serve_process_logged(&a.config, &a.env(&url)).await;
    let (_b, _, b_log) = serve_process_logged(&b.config, &b.env(&url)).await;
    b_log
        .wait_for(
            &["another clawgate process spools in this state directory"],
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(
        a_log.lines(&["spools in this state directory"]),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_answered_during_an_outage_survive_a_kill_and_are_written_once_after() {
    let Some(cluster) = Cluster::start("rows_answered_during_an_outage_survive_a_kill") else {
        return;
    };
    let mock = healthy_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = write_config(dir.path(), "a", &mock);
    unbudgeted(&a);
    let mut child = start(&mut a, &cluster).await;
    for _ in 0..5 {
        assert_eq!(ask(&a.url, ALICE).await.status(), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while ledger_rows(&a.url, "written").await < 5 {
        assert!(Instant::now() < deadline, "the first rows are written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    cluster.stop_server();
    for _ in 0..200 {
        assert_eq!(ask(&a.url, ALICE).await.status(), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while spooled(&a.state) < 200 {
        assert!(
            Instant::now() < deadline,
            "the outage's rows reach the spool: {}",
            spooled(&a.state)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status(&a.url).await["ledger"]["rowsDropped"], 0);
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    cluster.start_server();
    let _child = start(&mut a, &cluster).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while cluster.psql("SELECT COUNT(*) FROM clawgate_requests") != "205" {
        assert!(
            Instant::now() < deadline,
            "the spooled rows are written at start: {}",
            cluster.psql("SELECT COUNT(*) FROM clawgate_requests")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(spooled(&a.state), 0, "the spool is emptied");
    assert_eq!(
        cluster.psql("SELECT SUM(requests) FROM clawgate_daily"),
        "205"
    );
    assert_eq!(ledger_rows(&a.url, "written").await, 200);
    // Once each: more traffic, and no row comes twice.
    assert_eq!(ask(&a.url, ALICE).await.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.psql("SELECT COUNT(*) FROM clawgate_requests") != "206" {
        assert!(Instant::now() < deadline, "the next row is written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_spooled_segment_written_again_is_written_once() {
    let Some(cluster) = Cluster::start("a_spooled_segment_written_again") else {
        return;
    };
    let mut store = Postgres::new(&store_url(&cluster.url())).unwrap();
    let rows = [row_with_tokens_in(1), row_with_tokens_in(2)];
    store.write_once("ledger-spool-1-2-3.jsonl", &rows).unwrap();
    // Another gateway (a restart) writes the same segment: it is there.
    let mut again = Postgres::new(&store_url(&cluster.url())).unwrap();
    again.write_once("ledger-spool-1-2-3.jsonl", &rows).unwrap();
    assert_eq!(cluster.psql("SELECT COUNT(*) FROM clawgate_requests"), "2");
    assert_eq!(
        cluster.psql("SELECT SUM(requests) FROM clawgate_daily"),
        "2"
    );
}

/// Two gateways with a pool of three providers on the cluster's database:
/// each new session is placed once, by the first gateway it reaches, and
/// the other puts it on the same member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_put_a_session_on_the_same_pool_member() {
    let test = "two_gateways_put_a_session_on_the_same_pool_member";
    let Some(cluster) = Cluster::start(test) else {
        return;
    };
    let pair = pooled_pair(&cluster, 300).await;
    let [a, b] = &pair.urls;
    let mut used = std::collections::BTreeSet::new();
    for n in 0..12 {
        // Odd sessions start on b.
        let (first, second) = if n % 2 == 0 { (a, b) } else { (b, a) };
        let session = format!("shared-{n}");
        let placed = pooled_turn(first, &session).await;
        let then = pooled_turn(second, &session).await;
        assert_eq!(placed, then, "{session} moved between the gateways");
        used.insert(placed);
    }
    assert!(used.len() >= 2, "{used:?}");
    let rows = cluster.psql("SELECT count(*) FROM clawgate_placements");
    assert_eq!(rows.trim(), "12", "{rows}");
}

/// A gateway without a member's key does not follow the other's
/// placement on it: the session's turns there go to a member it has the
/// key for at their first attempt, not to the keyless one skipped.
#[tokio::test]
async fn a_placement_on_a_member_this_gateway_has_no_key_for_is_not_followed() {
    let Some(cluster) = Cluster::start("a_placement_on_a_member_this_gateway") else {
        return;
    };
    let pair = pooled_pair_keyed(&cluster, 300, false).await;
    let [a, b] = &pair.urls;
    let mut on_x = 0;
    for n in 0..24 {
        let session = format!("keyless-{n}");
        if pooled_turn(a, &session).await != "x" {
            continue;
        }
        on_x += 1;
        let response = pooled_answer(b, &session).await;
        assert_ne!(header(&response, "x-clawgate-provider"), "x");
        assert_eq!(
            header(&response, "x-clawgate-attempts"),
            "1",
            "{session}: b followed a onto x"
        );
    }
    assert!(on_x > 0, "a placed no session on x");
}

#[tokio::test]
async fn a_session_kept_on_one_gateway_past_its_cache_lifetime_is_found_placed_by_the_other() {
    let test = "a_session_kept_on_one_gateway_past";
    let Some(cluster) = Cluster::start(test) else {
        return;
    };
    // Caches kept two seconds: a's turns come each second, so the
    // session stays warm on a for four seconds.
    let pair = pooled_pair(&cluster, 2).await;
    let [a, b] = &pair.urls;
    let sessions: Vec<String> = (0..8).map(|n| format!("kept-{n}")).collect();
    let mut placed = Vec::new();
    for session in &sessions {
        placed.push(pooled_turn(a, session).await);
    }
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for (session, placed) in sessions.iter().zip(&placed) {
            assert_eq!(&pooled_turn(a, session).await, placed, "{session} on a");
        }
    }
    for (session, placed) in sessions.iter().zip(&placed) {
        assert_eq!(&pooled_turn(b, session).await, placed, "{session} on b");
    }
}

/// A kept placement is held warm only where it is the one in the store
/// (or that one went cold): another gateway's, still warm, stays; a move
/// takes its place whatever it was.
#[tokio::test]
async fn a_kept_placement_never_overwrites_a_warm_one_and_a_move_does() {
    use clawgate::ledger::placements::SharedPlacements;
    let Some(cluster) = Cluster::start("a_kept_placement_never_overwrites") else {
        return;
    };
    let shared = SharedPlacements::new(&store_url(&cluster.url())).unwrap();
    shared.start();
    let minute = Duration::from_secs(60);
    let mut claimed = None;
    for _ in 0..100 {
        claimed = shared.claim("s", "x/m y/m", "x/m", minute).await;
        if claimed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(claimed.as_deref(), Some("x/m"));
    let placed = || cluster.psql("SELECT target FROM clawgate_placements WHERE session = 's'");
    shared.keep(("s", "x/m y/m", "y/m"), minute, false);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(placed(), "x/m", "another's warm placement stays");
    shared.keep(("s", "x/m y/m", "y/m"), minute, true);
    let deadline = Instant::now() + Duration::from_secs(5);
    while placed() != "y/m" {
        assert!(Instant::now() < deadline, "the move is written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A placements connection that stops answering without closing (a peer
/// gone without a word) is taken for dead after a few calls unanswered in
/// time, and made again: claims are agreed on again within seconds, where
/// they waited for the kernel to give the socket up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placements_connection_that_stops_answering_is_made_again() {
    use clawgate::ledger::placements::SharedPlacements;
    let Some(cluster) = Cluster::start("a_placements_connection_that_stops") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (made, frozen_below) = freezing_proxy(cluster.socket(), dir.path());
    let shared = SharedPlacements::new(&store_url(&Cluster::url_in(dir.path()))).unwrap();
    shared.start();
    let minute = Duration::from_secs(60);
    let claimed_within = |session: &'static str, limit: Duration| {
        let shared = shared.clone();
        async move {
            let deadline = Instant::now() + limit;
            while Instant::now() < deadline {
                if let Some(target) = shared.claim(session, "x/m y/m", "x/m", minute).await {
                    return Some(target);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None
        }
    };
    assert_eq!(
        claimed_within("s", Duration::from_secs(5)).await.as_deref(),
        Some("x/m")
    );
    // Every connection made so far now answers nothing, and stays open.
    frozen_below.store(made.load(Ordering::SeqCst) + 1, Ordering::SeqCst);
    let claimed = claimed_within("t", Duration::from_secs(10)).await;
    assert_eq!(
        claimed.as_deref(),
        Some("x/m"),
        "claims are agreed on again"
    );
}

/// Stands between clients and the server, in `dir`, forwarding each
/// connection (numbered from 1, the count made so far in the first
/// value) until it is numbered below the second value: then it forwards
/// nothing either way, and stays open.
fn freezing_proxy(server: PathBuf, dir: &Path) -> (Arc<AtomicUsize>, Arc<AtomicUsize>) {
    use std::io::{Read, Write};
    use std::os::unix::net::{UnixListener, UnixStream};
    let listener = UnixListener::bind(dir.join(server.file_name().unwrap())).unwrap();
    let (made, frozen_below) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (counted, frozen) = (made.clone(), frozen_below.clone());
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let client = client.unwrap();
            let number = counted.fetch_add(1, Ordering::SeqCst) + 1;
            let server = UnixStream::connect(&server).unwrap();
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                let frozen = frozen.clone();
                std::thread::spawn(move || {
                    let mut buf = [0; 8192];
                    while let Ok(n @ 1..) = from.read(&mut buf) {
                        while number < frozen.load(Ordering::SeqCst) {
                            // Held open, silent.
                            std::thread::sleep(Duration::from_secs(3600));
                        }
                        if to.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        }
    });
    (made, frozen_below)
}

/// Two gateways on one store, and what they need while they run.
struct Pooled {
    urls: [String; 2],
    _children: Vec<Child>,
    _mocks: [MockServer; 3],
    _dir: tempfile::TempDir,
}

/// Two gateways on `cluster` whose model is a pool of three mocks, each
/// keeping a prompt's cache `lifetime` seconds.
async fn pooled_pair(cluster: &Cluster, lifetime: u64) -> Pooled {
    pooled_pair_keyed(cluster, lifetime, true).await
}

/// [`pooled_pair`], x's key (`X_KEY`) given to b only when `b_has_x`.
async fn pooled_pair_keyed(cluster: &Cluster, lifetime: u64, b_has_x: bool) -> Pooled {
    let mocks = [
        healthy_mock().await,
        healthy_mock().await,
        healthy_mock().await,
    ];
    let dir = tempfile::tempdir().unwrap();
    let providers: serde_json::Map<String, Value> = ["x", "y", "z"]
        .iter()
        .zip(&mocks)
        .map(|(id, mock)| {
            let key = if *id == "x" {
                "${X_KEY}"
            } else {
                "${MOCK_KEY}"
            };
            let entry = json!({"baseUrl": mock.base_url(), "apiKey": key,
                "cacheLifetimeSeconds": lifetime,
                "models": [{"id": "m", "cost": {"input": 1, "output": 1}}]});
            (id.to_string(), entry)
        })
        .collect();
    let config = json!({
        "models": {"mode": "replace", "providers": providers},
        "agents": {"defaults": {"model": {"primary": ["x/m", "y/m", "z/m"]}}},
        "ledger": {"store": "${CLAWGATE_LEDGER_URL}"},
    });
    let (mut urls, mut children) = (Vec::new(), Vec::new());
    for name in ["a", "b"] {
        let instance = Instance {
            config: dir.path().join(format!("{name}.json")),
            state: dir.path().join(format!("{name}-state")),
            url: String::new(),
        };
        std::fs::write(&instance.config, config.to_string()).unwrap();
        let url = cluster.url();
        let mut env = instance.env(&url);
        if name == "a" || b_has_x {
            env.push(("X_KEY", KEY.as_ref()));
        }
        let (child, listening, log) = serve_process_logged(&instance.config, &env).await;
        log.wait_for(&["session placements: shared"], Duration::from_secs(20))
            .await;
        // The second finds the table made: the database's notice that it
        // exists is no line of the gateway's.
        assert_eq!(log.lines(&["NOTICE"]), Vec::<String>::new(), "{name}");
        urls.push(listening);
        children.push(child);
    }
    Pooled {
        urls: urls.try_into().unwrap(),
        _children: children,
        _mocks: mocks,
        _dir: dir,
    }
}

/// A turn of `session` through the gateway at `url`: the provider that
/// answered it.
async fn pooled_turn(url: &str, session: &str) -> String {
    let response = pooled_answer(url, session).await;
    header(&response, "x-clawgate-provider").to_string()
}

/// A turn of `session` through the gateway at `url`, answered.
async fn pooled_answer(url: &str, session: &str) -> reqwest::Response {
    let response = reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .header("x-clawgate-session", session)
        .json(&json!({"messages": user_message()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
}
