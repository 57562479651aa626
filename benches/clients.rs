//! What a client's key and limits cost a request, with 100 clients
//! configured: finding the client by its key (one SHA-256 and a lookup),
//! then admitting it under its limits (requests and tokens per minute,
//! requests at once) and the gateway's cap, and letting the place go.
//! The target is under 2 µs per request; the figure is the median of
//! several rounds, in nanoseconds per request.
//!
//! Run: `cargo bench --bench clients` (optionally `-- REQUESTS`).

use std::hint::black_box;
use std::time::Instant;

use clawgate::config::{self, Environment, Secrets};
use clawgate::gateway::Gateway;
use serde_json::{Map, Value, json};

const CLIENTS: usize = 100;
const ROUNDS: usize = 7;

fn key(n: usize) -> String {
    format!("client-{n:03}-key-0123456789abcdef0123456789")
}

fn main() {
    let requests: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
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
    let config = json!({
        "models": {"mode": "replace", "providers": {"p": {
            "baseUrl": "http://127.0.0.1:9/v1", "apiKey": "sk-bench", "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "p/m"}}},
        "gateway": {"clients": Value::Object(clients)},
    });
    let env = Environment::from_pairs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let loaded = config::load_str(&config.to_string(), &env, Secrets::Required)
        .unwrap_or_else(|errors| panic!("the bench config is invalid:\n{errors}"));
    let gateway = Gateway::new(loaded.config).expect("the HTTP client builds");
    let keys: Vec<String> = (0..CLIENTS).map(key).collect();

    let mut per_request = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for i in 0..requests {
            let config = gateway.config();
            let client = config
                .gateway
                .clients
                .find(black_box(&keys[i % CLIENTS]))
                .expect("every key is a client's");
            let slot = gateway.admit(Some(client)).expect("under every limit");
            drop(black_box(slot));
        }
        per_request.push(started.elapsed().as_nanos() as f64 / requests as f64);
    }
    per_request.sort_by(f64::total_cmp);
    let median = per_request[ROUNDS / 2];
    println!(
        "{CLIENTS} clients, {requests} requests x {ROUNDS} rounds: key check and limits {median:.0} ns per request (median; fastest {:.0}, slowest {:.0}); target under 2000 ns",
        per_request[0],
        per_request[ROUNDS - 1]
    );
}
