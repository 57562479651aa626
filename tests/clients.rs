//! Clients (`gateway.clients`): each with its own key, models, budgets and
//! limits, through each API front end, each refusal in that API's shape;
//! what each key may read of the usage and the status.

mod common;

use std::sync::Arc;
use std::time::Duration;

use clawgate::config::{self, Environment, Secrets};
use clawgate::gateway::Gateway;
use clawgate::ledger::{self, Ledger};
use clawgate_mock::{MockOptions, MockServer};
use common::*;
use serde_json::{Value, json};

const ALICE: &str = "alice-key-0123456789abcdef";
const BOB: &str = "bob-key-0123456789abcdef00";
const CI: &str = "ci-key-0123456789abcdef0000";
const ADMIN: &str = "admin-token-0123456789abcdef";

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn priced(mock: &MockServer) -> Value {
    json!({"baseUrl": mock.base_url(), "apiKey": KEY,
           "models": [{"id": "m", "name": "Mock", "cost": {"input": 1000, "output": 2000}}]})
}

/// `cheap/m` then `dear/m`; alice may use everything (2 requests a
/// minute), bob only `cheap/m` (a tiny daily budget), ci one request at
/// once; the token is the admin's.
fn config(cheap: &MockServer, dear: &MockServer, clients: Value) -> Value {
    json!({
        "models": {"mode": "replace", "providers": {"cheap": priced(cheap), "dear": priced(dear)}},
        "agents": {"defaults": {
            "model": {"primary": "cheap/m", "fallbacks": ["dear/m"]},
            "models": {"dear/m": {"alias": "big"}},
        }},
        "gateway": {"auth": {"token": ADMIN}, "clients": clients},
    })
}

fn three_clients() -> Value {
    json!({
        "alice": {"key": "${ALICE_KEY}", "limits": {"requestsPerMinute": 2}},
        "bob": {"key": format!("sha256:{}", sha256_hex(BOB)), "models": ["cheap/m"],
                "budgets": {"daily": 0.000001}},
        "ci": {"key": "${CI_KEY}", "models": ["big"], "limits": {"concurrentRequests": 1}},
    })
}

struct Served {
    test: TestGateway,
    ledger: Arc<Ledger>,
    _dir: tempfile::TempDir,
}

const DANA: &str = "dana-key-0123456789abcdef";

/// The config loaded with the clients' keys in the environment.
fn load(config: &Value) -> config::Config {
    let env = Environment::from_pairs([("ALICE_KEY", ALICE), ("CI_KEY", CI), ("DANA_KEY", DANA)]);
    config::load_str(&config.to_string(), &env, Secrets::Required)
        .unwrap_or_else(|errors| panic!("test config is invalid:\n{errors}"))
        .config
}

async fn start(config: Value) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let loaded = load(&config);
    let ledger = Arc::new(Ledger::open(
        &dir.path().join("ledger.db"),
        &loaded.ledger,
        ledger::system_clock(),
    ));
    let gateway = Gateway::new(loaded).unwrap().with_ledger(ledger.clone());
    Served {
        test: serve(Arc::new(gateway)).await,
        ledger,
        _dir: dir,
    }
}

impl Served {
    /// `POST` to one of the three APIs with `key`, asking for `model`.
    async fn ask(&self, api: Api, key: Option<&str>, model: &str) -> reqwest::Response {
        let (path, body) = match api {
            Api::Chat => (
                "/v1/chat/completions",
                json!({"model": model, "messages": user_message()}),
            ),
            Api::Messages => (
                "/v1/messages",
                json!({"model": model, "max_tokens": 50, "messages": user_message()}),
            ),
            Api::Responses => ("/v1/responses", json!({"model": model, "input": "hello"})),
        };
        let mut request = self
            .test
            .client()
            .post(format!("{}{path}", self.test.url))
            .header("anthropic-version", "2023-06-01")
            .json(&body);
        if let Some(key) = key {
            // Anthropic's SDKs send x-api-key; the others a bearer token.
            request = match api {
                Api::Messages => request.header("x-api-key", key),
                _ => request.bearer_auth(key),
            };
        }
        request.send().await.unwrap()
    }

    async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        let response = self
            .test
            .client()
            .get(format!("{}{path}", self.test.url))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn flush(&self) {
        let ledger = self.ledger.clone();
        tokio::task::spawn_blocking(move || ledger.flush(Duration::from_secs(5)))
            .await
            .unwrap();
    }
}

#[derive(Debug, Clone, Copy)]
enum Api {
    Chat,
    Messages,
    Responses,
}

const APIS: [Api; 3] = [Api::Chat, Api::Messages, Api::Responses];

/// The error's type, read in the API's own shape.
fn error_type(api: Api, body: &Value) -> String {
    match api {
        Api::Messages => {
            assert_eq!(body["type"], "error", "{body}");
            body["error"]["type"].as_str().unwrap().to_string()
        }
        _ => body["error"]["type"].as_str().unwrap().to_string(),
    }
}

fn message(body: &Value) -> String {
    body["error"]["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn each_client_gets_what_its_config_says_through_every_api() {
    let (cheap, dear) = (healthy_mock().await, healthy_mock().await);
    let served = start(config(&cheap, &dear, three_clients())).await;
    for api in APIS {
        // An unknown key, or none: 401 in the API's shape.
        for key in [Some("not-a-key-of-anyone-at-all"), None] {
            let refused = served.ask(api, key, "cheap/m").await;
            assert_eq!(refused.status(), 401, "{api:?}");
            let body: Value = refused.json().await.unwrap();
            assert_eq!(error_type(api, &body), "authentication_error", "{body}");
            // Whether a key came, and where each client sets it.
            let said = message(&body);
            let start = match key {
                Some(_) => "the key sent is not one this clawgate knows: check the key",
                None => "no key was sent, and this clawgate wants one: set your client's key",
            };
            assert!(said.starts_with(start), "{said}");
            assert!(
                said.contains(
                    "Claude Code: ANTHROPIC_AUTH_TOKEN; Codex: the variable its env_key names"
                ),
                "{said}"
            );
            assert!(!said.contains("x-api-key"), "{said}");
        }
        // A model the client may not use: 403 naming the ones it may.
        let refused = served.ask(api, Some(BOB), "dear/m").await;
        assert_eq!(refused.status(), 403, "{api:?}");
        // Asking again would be refused again: clients must not retry.
        assert_eq!(header(&refused, "x-should-retry"), "false");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(error_type(api, &body), "permission_error", "{body}");
        assert!(
            message(&body).contains("client bob may not use model \"dear/m\"; it may use cheap/m"),
            "{body}"
        );
        // ci may use `big` (dear/m) and nothing else, the default included.
        let ok = served.ask(api, Some(CI), "big").await;
        assert_eq!(ok.status(), 200, "{api:?}");
        assert_eq!(header(&ok, "x-clawgate-model"), "dear/m");
        let refused = served.ask(api, Some(CI), "default").await;
        assert_eq!(refused.status(), 403, "{api:?}");
        // The admin's token may use everything.
        assert_eq!(served.ask(api, Some(ADMIN), "big").await.status(), 200);
    }
    assert_eq!(cheap.requests().len(), 0, "no refused request reached it");
    assert_eq!(dear.requests().len(), 6);
    // Each client's model list holds what it may use.
    for (key, expected) in [
        (BOB, vec!["default", "cheap/m"]),
        (CI, vec!["dear/m", "big"]),
        (ALICE, vec!["default", "cheap/m", "dear/m", "big"]),
    ] {
        let (_, list) = served.get("/v1/models", key).await;
        let ids: Vec<&str> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, expected, "{list}");
    }
}

#[tokio::test]
async fn a_client_over_its_rate_limit_gets_429_and_cools_nothing() {
    let (cheap, dear) = (healthy_mock().await, healthy_mock().await);
    let served = start(config(&cheap, &dear, three_clients())).await;
    assert_eq!(
        served.ask(Api::Chat, Some(ALICE), "cheap/m").await.status(),
        200
    );
    assert_eq!(
        served
            .ask(Api::Messages, Some(ALICE), "cheap/m")
            .await
            .status(),
        200
    );
    for api in APIS {
        let refused = served.ask(api, Some(ALICE), "cheap/m").await;
        assert_eq!(refused.status(), 429, "{api:?}");
        let retry_after: u64 = header(&refused, "retry-after").parse().unwrap();
        assert!((1..=30).contains(&retry_after), "{retry_after}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(error_type(api, &body), "rate_limit_error", "{body}");
        assert!(
            message(&body).contains(
                "client alice is over its limit of 2 requests per minute (gateway.clients.alice.limits.requestsPerMinute)"
            ),
            "{body}"
        );
    }
    // Not the provider's failure: nothing cools down, and bob is served.
    assert_eq!(cheap.requests().len(), 2);
    let (_, status) = served.get("/v1/status", ADMIN).await;
    assert_eq!(target(&status, "cheap/m")["state"], "healthy", "{status}");
    assert_eq!(
        served.ask(Api::Chat, Some(BOB), "cheap/m").await.status(),
        200
    );
}

#[tokio::test]
async fn a_client_at_its_concurrency_limit_takes_no_other_clients_place() {
    let slow = mock(MockOptions {
        latency_ms: 1_000,
        ..MockOptions::default()
    })
    .await;
    let mut config = config(&slow, &slow, three_clients());
    // Two places for everyone; ci may hold one of them.
    config["gateway"]["limits"] = json!({"maxConcurrentRequests": 2});
    let served = Arc::new(start(config).await);
    let held = {
        let served = served.clone();
        tokio::spawn(async move { served.ask(Api::Chat, Some(CI), "big").await.status() })
    };
    tokio::time::timeout(Duration::from_secs(10), async {
        while slow.in_flight() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let (refused, alice) = tokio::join!(
        served.ask(Api::Responses, Some(CI), "big"),
        served.ask(Api::Chat, Some(ALICE), "cheap/m"),
    );
    assert_eq!(refused.status(), 429);
    assert_eq!(header(&refused, "retry-after"), "1");
    let body: Value = refused.json().await.unwrap();
    assert!(message(&body).contains("1 requests at once"), "{body}");
    assert_eq!(alice.status(), 200, "the other place was alice's to take");
    assert_eq!(held.await.unwrap(), 200);
    assert_eq!(slow.peak_in_flight(), 2);
}

#[tokio::test]
async fn a_client_over_its_budget_gets_402_naming_it_and_others_are_served() {
    let (cheap, dear) = (healthy_mock().await, healthy_mock().await);
    let served = start(config(&cheap, &dear, three_clients())).await;
    assert_eq!(
        served.ask(Api::Chat, Some(BOB), "cheap/m").await.status(),
        200
    );
    served.flush().await;
    for api in APIS {
        let refused = served.ask(api, Some(BOB), "cheap/m").await;
        assert_eq!(refused.status(), 402, "{api:?}");
        assert!(header(&refused, "retry-after").parse::<u64>().unwrap() >= 1);
        let body: Value = refused.json().await.unwrap();
        let text = message(&body);
        assert!(
            text.contains("the daily budget of <$0.0001 for all traffic of client bob is spent"),
            "{body}"
        );
        assert!(text.contains("it resets at "), "{body}");
        assert_eq!(body["error"]["budget"]["client"], "bob", "{api:?}: {body}");
    }
    // Bob's budget is his own; and his chain never fell over to dear/m.
    assert_eq!(
        served.ask(Api::Chat, Some(ALICE), "cheap/m").await.status(),
        200
    );
    assert!(dear.requests().is_empty());
}

#[tokio::test]
async fn tokens_per_minute_are_counted_when_a_request_ends() {
    let (cheap, dear) = (healthy_mock().await, healthy_mock().await);
    let clients = json!({"alice": {"key": "${ALICE_KEY}", "limits": {"tokensPerMinute": 5}}});
    let served = start(config(&cheap, &dear, clients)).await;
    assert_eq!(
        served.ask(Api::Chat, Some(ALICE), "cheap/m").await.status(),
        200
    );
    // The mock's answer used more than five tokens: alice waits.
    let mut refused = None;
    for _ in 0..100 {
        let response = served.ask(Api::Chat, Some(ALICE), "cheap/m").await;
        if response.status() == 429 {
            refused = Some(response);
            break;
        }
        // The row (and its tokens) is counted once the body is dropped.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused = refused.expect("the tokens limit refused a request");
    let body: Value = refused.json().await.unwrap();
    assert!(message(&body).contains("5 tokens per minute"), "{body}");
}

#[tokio::test]
async fn a_clients_key_reads_its_own_usage_and_an_admin_key_everyones() {
    let (cheap, dear) = (healthy_mock().await, healthy_mock().await);
    let mut clients = three_clients();
    clients["dana"] = json!({"key": "${DANA_KEY}", "admin": true});
    let served = start(config(&cheap, &dear, clients)).await;
    for key in [ALICE, ALICE, BOB, CI] {
        let model = if key == CI { "big" } else { "cheap/m" };
        assert_eq!(served.ask(Api::Chat, Some(key), model).await.status(), 200);
    }
    served.flush().await;
    let (status, report) = served.get("/v1/usage?by=client", ALICE).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["client"], "alice", "{report}");
    assert_eq!(report["total"]["requests"], 2, "{report}");
    let (status, refused) = served.get("/v1/usage?client=bob", ALICE).await;
    assert_eq!(status, 403, "{refused}");
    assert!(
        message(&refused).contains("client alice may read its own usage only"),
        "{refused}"
    );
    // A key pasted into the query is not quoted back (one the gateway
    // knows: ci's; bob's is configured by its digest).
    for query in [
        format!("client={CI}"),
        format!("by={CI}"),
        format!("{CI}=1"),
    ] {
        let (status, refused) = served.get(&format!("/v1/usage?{query}"), ALICE).await;
        assert!(status == 400 || status == 403, "{query}: {refused}");
        assert!(!refused.to_string().contains(CI), "{query}: {refused}");
        assert!(
            message(&refused).contains("[redacted]"),
            "{query}: {refused}"
        );
    }
    for admin in [ADMIN, DANA] {
        let (status, report) = served.get("/v1/usage?by=client", admin).await;
        assert_eq!(status, 200);
        let lines: Vec<(String, u64)> = report["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["key"].as_str().unwrap().to_string(),
                    l["requests"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                ("alice".to_string(), 2),
                ("bob".to_string(), 1),
                ("ci".to_string(), 1)
            ],
            "{report}"
        );
        let (_, bob) = served.get("/v1/usage?client=bob", admin).await;
        assert_eq!(bob["total"]["requests"], 1, "{bob}");
        // A client with no request yet is reported so; a name no client
        // has is said to be none, with the nearest.
        let (status, dana) = served.get("/v1/usage?client=dana", admin).await;
        assert_eq!(
            (status, &dana["total"]["requests"]),
            (200, &json!(0)),
            "{dana}"
        );
        let (status, nobody) = served.get("/v1/usage?client=bbo", admin).await;
        assert_eq!(status, 400, "{nobody}");
        assert!(
            message(&nobody).starts_with("client \"bbo\": no such client under gateway.clients or in the ledger; did you mean `bob`?"),
            "{nobody}"
        );
        // Nor does it quote back a key pasted there.
        let (status, pasted) = served.get(&format!("/v1/usage?client={CI}"), admin).await;
        assert_eq!(status, 400, "{pasted}");
        assert!(!pasted.to_string().contains(CI), "{pasted}");
    }
    // The status: each client's spend and limits, to an admin; its own to
    // a client.
    let (_, status) = served.get("/v1/status", ADMIN).await;
    let names: Vec<&str> = status["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob", "ci", "dana", "token"], "{status}");
    let alice = &status["clients"][0];
    assert_eq!(alice["today"]["requests"], 2, "{status}");
    assert_eq!(alice["limits"]["requestsPerMinute"], 2, "{status}");
    let refs = |status: &Value, list: &str| -> Vec<String> {
        let items = status[list].as_array().unwrap().iter();
        items
            .map(|t| t.get("ref").unwrap_or(t).as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(refs(&status, "targets"), ["cheap/m", "dear/m"], "{status}");
    let (_, status) = served.get("/v1/status", BOB).await;
    let clients = status["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 1, "{status}");
    assert_eq!(clients[0]["name"], "bob");
    // Bob may use cheap/m alone: the targets and the chain it sees.
    assert_eq!(refs(&status, "targets"), ["cheap/m"], "{status}");
    assert_eq!(refs(&status, "defaultChain"), ["cheap/m"], "{status}");
    let budgets = status["budgets"].as_array().unwrap();
    assert!(budgets.iter().all(|b| b["client"] == "bob"), "{status}");
    // The status page is for admin keys.
    let page = served
        .test
        .client()
        .get(format!("{}/", served.test.url))
        .bearer_auth(BOB)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 401);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("gateway.auth.token) or the key of a client with admin: true")
    );
    let page = served
        .test
        .client()
        .get(format!("{}/", served.test.url))
        .bearer_auth(ADMIN)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains("<table id=\"clients\">"), "{page}");
    assert!(!page.contains(ALICE) && !page.contains(BOB));
}

#[tokio::test]
async fn a_reload_applies_new_limits_and_keeps_what_was_used() {
    let (cheap, dear) = (healthy_mock().await, healthy_mock().await);
    let served = start(config(&cheap, &dear, three_clients())).await;
    for _ in 0..2 {
        assert_eq!(
            served.ask(Api::Chat, Some(ALICE), "cheap/m").await.status(),
            200
        );
    }
    // Raised from 2 to 3 a minute: one more, not three more.
    let mut clients = three_clients();
    clients["alice"]["limits"]["requestsPerMinute"] = json!(3);
    let reload = |clients| {
        let reloaded = load(&config(&cheap, &dear, clients));
        served.test.gateway.replace_config(reloaded);
    };
    reload(clients);
    assert_eq!(
        served.ask(Api::Chat, Some(ALICE), "cheap/m").await.status(),
        200
    );
    assert_eq!(
        served.ask(Api::Chat, Some(ALICE), "cheap/m").await.status(),
        429
    );
    // A key removed by the reload is refused from then on.
    reload(json!({"alice": {"key": "${ALICE_KEY}"}}));
    assert_eq!(
        served.ask(Api::Chat, Some(BOB), "cheap/m").await.status(),
        401
    );
    assert_eq!(
        served.ask(Api::Chat, Some(ALICE), "cheap/m").await.status(),
        200
    );
}

#[tokio::test]
async fn a_client_kept_to_some_models_never_falls_over_to_others() {
    let (cheap, dear) = (
        failing_mock(500, "server_error").await,
        healthy_mock().await,
    );
    let mut config = config(&cheap, &dear, three_clients());
    config["gateway"]["retries"] = json!({"perTarget": 0});
    let served = start(config.clone()).await;
    let refused = served.ask(Api::Chat, Some(BOB), "cheap/m").await;
    assert_eq!(refused.status(), 502);
    assert!(dear.requests().is_empty(), "bob may not use dear/m");
    // Told why his chain was one target long, in his 502, without the
    // name of a model he may not use ...
    let body: Value = refused.json().await.unwrap();
    assert!(
        message(&body).contains(
            "gateway.clients.bob.models leaves out the chain's one fallback, so it was not tried"
        ),
        "{body}"
    );
    assert!(!body.to_string().contains("dear"), "{body}");
    let answered = served.ask(Api::Chat, Some(ALICE), "cheap/m").await;
    assert_eq!(answered.status(), 200);
    assert_eq!(header(&answered, "x-clawgate-model"), "dear/m");
    // ... and at load, naming the client and the targets.
    let env = Environment::from_pairs([("ALICE_KEY", ALICE), ("CI_KEY", CI)]);
    let loaded = config::load_str(&config.to_string(), &env, Secrets::Required).unwrap();
    assert!(
        loaded.warnings.iter().any(|w| w
            == "gateway.clients.bob.models: leaves out the chain's fallbacks dear/m; this client's requests never fall over to them (add them to its models if they may)"),
        "{:?}",
        loaded.warnings
    );
    assert!(
        !loaded.warnings.iter().any(|w| w.contains("clients.ci")),
        "ci's big is the chain's last target: {:?}",
        loaded.warnings
    );
}

#[tokio::test]
async fn a_clients_failure_and_402_hold_no_url_and_no_one_elses_figures() {
    let (cheap, dear) = (
        failing_mock(500, "server_error").await,
        failing_mock(500, "server_error").await,
    );
    let mut clients = three_clients();
    clients["dana"] = json!({"key": "${DANA_KEY}"});
    let mut failing = config(&cheap, &dear, clients.clone());
    failing["gateway"]["retries"] = json!({"perTarget": 0});
    let served = start(failing).await;
    let address = cheap.base_url();
    let host_port = address
        .trim_start_matches("http://")
        .trim_end_matches("/v1");
    for api in APIS {
        let failed = served.ask(api, Some(DANA), "cheap/m").await;
        assert_eq!(failed.status(), 502, "{api:?}");
        let body = failed.text().await.unwrap();
        assert!(!body.contains(host_port), "{api:?}: {body}");
        assert!(!body.contains("\"url\""), "{api:?}: {body}");
    }
    // An admin key reads where each attempt went.
    let failed = served.ask(Api::Chat, Some(ADMIN), "cheap/m").await;
    let body: Value = failed.json().await.unwrap();
    assert!(
        body["error"]["attempts"][0]["url"]
            .as_str()
            .unwrap()
            .contains(host_port),
        "{body}"
    );
    // Where a provider redirects is an address too: the client is told of
    // a redirect, an admin key where it led.
    let redirecting = mock(clawgate_mock::MockOptions {
        redirect_to: Some("https://elsewhere.example/v1/chat/completions".into()),
        ..Default::default()
    })
    .await;
    let mut redirected = config(&redirecting, &dear, clients.clone());
    redirected["gateway"]["retries"] = json!({"perTarget": 0});
    // A redirect is a config fault, which cools its target: a gateway each.
    for api in APIS {
        let served = start(redirected.clone()).await;
        let body = served
            .ask(api, Some(DANA), "cheap/m")
            .await
            .text()
            .await
            .unwrap();
        assert!(
            body.contains("answered 307 Temporary Redirect; redirects are not followed"),
            "{api:?}: {body}"
        );
        assert!(!body.contains("elsewhere.example"), "{api:?}: {body}");
    }
    let served = start(redirected).await;
    let body = served
        .ask(Api::Chat, Some(ADMIN), "cheap/m")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("redirecting to https://elsewhere.example/"),
        "{body}"
    );

    // The gateway's own budget, spent by the admin: dana learns which
    // budget and when it resets, not what everyone spent.
    let (cheap, dear) = (healthy_mock().await, healthy_mock().await);
    let mut budgeted = config(&cheap, &dear, clients);
    budgeted["gateway"]["budgets"] = json!({"daily": 0.000001});
    let served = start(budgeted).await;
    assert_eq!(
        served.ask(Api::Chat, Some(ADMIN), "cheap/m").await.status(),
        200
    );
    served.flush().await;
    let refused = served.ask(Api::Chat, Some(DANA), "cheap/m").await;
    assert_eq!(refused.status(), 402);
    let body: Value = refused.json().await.unwrap();
    let text = message(&body);
    assert!(
        text.contains("the gateway's daily budget for all traffic is spent; it resets at "),
        "{body}"
    );
    assert!(!text.contains('$'), "{body}");
    let budget = &body["error"]["budget"];
    assert!(
        budget.get("spentUsd").is_none() && budget.get("limitUsd").is_none(),
        "{body}"
    );
    let refused = served.ask(Api::Chat, Some(ADMIN), "cheap/m").await;
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"]["budget"]["spentUsd"].as_f64().unwrap() > 0.0,
        "{body}"
    );
}

#[tokio::test]
async fn a_502_after_an_over_budget_attempt_shows_the_gateways_figures_to_an_admin_only() {
    // cheap/m priced and healthy; dear/m free (a subscription's) and down.
    let (cheap, dear) = (
        healthy_mock().await,
        failing_mock(500, "server_error").await,
    );
    let mut clients = three_clients();
    clients["dana"] = json!({"key": "${DANA_KEY}"});
    let mut config = config(&cheap, &dear, clients);
    config["models"]["providers"]["dear"]["models"][0]["cost"] =
        json!({"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0});
    config["gateway"]["budgets"] = json!({"daily": 0.000001});
    config["gateway"]["retries"] = json!({"perTarget": 0});
    let served = start(config).await;
    assert_eq!(
        served.ask(Api::Chat, Some(ADMIN), "cheap/m").await.status(),
        200
    );
    served.flush().await;

    // The gateway's budget is spent: cheap/m is skipped, dear/m fails.
    let served = &served;
    let failed = |key| async move {
        let answered = served.ask(Api::Chat, Some(key), "cheap/m").await;
        assert_eq!(answered.status(), 502);
        let body: Value = answered.json().await.unwrap();
        let over = body["error"]["attempts"][0]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("the over-budget attempt: {body}"))
            .to_string();
        (over, message(&body))
    };
    let (over, summary) = failed(DANA).await;
    assert!(
        over.contains("the gateway's daily budget for all traffic is spent; it resets at "),
        "{over}"
    );
    for text in [&over, &summary] {
        assert!(!text.contains('$'), "no figure of everyone's spend: {text}");
    }
    let (over, summary) = failed(ADMIN).await;
    for text in [&over, &summary] {
        assert!(
            text.contains("is spent ($"),
            "the admin reads the figures: {text}"
        );
    }
}

#[tokio::test]
async fn a_spent_budget_leaves_a_free_model_to_answer() {
    let (cheap, free) = (healthy_mock().await, healthy_mock().await);
    let mut config = config(
        &cheap,
        &free,
        json!({"alice": {"key": "${ALICE_KEY}",
                                                  "budgets": {"daily": 0.000001}}}),
    );
    config["models"]["providers"]["dear"]["models"][0]["cost"] =
        json!({"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0});
    config["gateway"]["budgets"] = json!({"daily": 0.000001});
    let served = start(config).await;
    assert_eq!(
        served.ask(Api::Chat, Some(ALICE), "cheap/m").await.status(),
        200
    );
    served.flush().await;
    // Both budgets spent: the priced model is skipped, the $0 one (a
    // subscription's) answers.
    let answered = served.ask(Api::Chat, Some(ALICE), "cheap/m").await;
    assert_eq!(answered.status(), 200);
    assert_eq!(header(&answered, "x-clawgate-model"), "dear/m");
    assert_eq!(
        served.ask(Api::Chat, Some(ALICE), "big").await.status(),
        200
    );
}

#[tokio::test]
async fn the_ledgers_health_is_shown_to_an_admin_only() {
    let (cheap, dear) = (healthy_mock().await, healthy_mock().await);
    let mut clients = three_clients();
    clients["dana"] = json!({"key": "${DANA_KEY}"});
    let served = start(config(&cheap, &dear, clients)).await;
    for key in [ADMIN, DANA] {
        let answered = served.ask(Api::Chat, Some(key), "cheap/m").await;
        assert_eq!(answered.status(), 200);
    }
    served.flush().await;
    let (status, admin) = served.get("/v1/status", ADMIN).await;
    assert_eq!(status, 200);
    assert_eq!(admin["ledger"]["rowsWritten"], 2, "{admin}");
    let (status, seen) = served.get("/v1/status", DANA).await;
    assert_eq!(status, 200);
    assert!(seen["ledger"].is_null(), "everyone's rows: {seen}");
    assert!(!seen.to_string().contains("rowsWritten"), "{seen}");
    // A ledger that cannot be read: where it is, an admin's to know.
    let file = served._dir.path().join("ledger.db");
    for end in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{end}", file.display()));
    }
    std::fs::create_dir(&file).unwrap();
    let (status, admin) = served.get("/v1/usage", ADMIN).await;
    assert_eq!(status, 503, "{admin}");
    assert!(admin.to_string().contains("ledger.db"), "{admin}");
    let (status, seen) = served.get("/v1/usage", DANA).await;
    assert_eq!(status, 503, "{seen}");
    assert!(
        message(&seen).contains("cannot read the usage ledger now"),
        "{seen}"
    );
    assert!(!seen.to_string().contains("ledger.db"), "{seen}");
}

#[tokio::test]
async fn a_clients_status_and_models_show_its_own_and_nothing_of_others() {
    use axum::routing::post;
    // A provider that quotes the request in its error, as some do.
    let echo = axum::Router::new().route(
        "/v1/chat/completions",
        post(|body: String| async move {
            let quoted = body.replace('"', "'");
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"error": {"message": format!("cannot answer {quoted}")}})),
            )
        }),
    );
    let base = provider_app(echo).await;
    let dear = healthy_mock().await;
    let mut clients = three_clients();
    clients["dana"] = json!({"key": "${DANA_KEY}"});
    let mut config = config(&dear, &dear, clients);
    config["models"]["providers"]["cheap"]["baseUrl"] = json!(base);
    config["gateway"]["budgets"] = json!({"daily": 100});
    config["gateway"]["retries"] = json!({"perTarget": 0});
    let served = start(config).await;
    let secret = json!({"model": "cheap/m",
        "messages": [{"role": "user", "content": "my password is hunter2"}]});
    let failed = served
        .test
        .client()
        .post(format!("{}/v1/chat/completions", served.test.url))
        .bearer_auth(ALICE)
        .json(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 200, "fell over to dear/m");
    served.flush().await;

    let (_, admin) = served.get("/v1/status", ADMIN).await;
    assert!(
        admin.to_string().contains("hunter2"),
        "the admin reads it: {admin}"
    );
    let (status, seen) = served.get("/v1/status", DANA).await;
    assert_eq!(status, 200);
    let text = seen.to_string();
    assert!(!text.contains("hunter2"), "{seen}");
    assert!(!text.contains(&base), "{seen}");
    assert!(seen["lastHour"].is_null(), "{seen}");
    // Nor when, or how often, anyone's requests answered or failed; the
    // targets' health stands.
    for figure in [
        "lastError",
        "lastSuccess",
        "lastFailureSecondsAgo",
        "failures",
    ] {
        assert!(
            target(&seen, "cheap/m")[figure].is_null(),
            "{figure}: {seen}"
        );
        assert!(
            target(&seen, "dear/m")[figure].is_null(),
            "{figure}: {seen}"
        );
    }
    assert!(
        target(&admin, "dear/m")["lastSuccess"].is_string(),
        "{admin}"
    );
    assert!(target(&admin, "cheap/m")["lastFailureSecondsAgo"].is_number());
    assert_eq!(target(&admin, "cheap/m")["failures"]["provider_error"], 1);
    assert_eq!(target(&seen, "cheap/m")["state"], "healthy", "{seen}");
    assert_eq!(target(&seen, "cheap/m")["consecutiveFailures"], 1, "{seen}");
    let gateways = seen["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b.get("client").is_none())
        .unwrap_or_else(|| panic!("the gateway's budget, by name: {seen}"));
    assert!(gateways.get("spentUsd").is_none() && gateways.get("limitUsd").is_none());
    assert!(gateways.get("reservedUsd").is_none(), "{seen}");
    assert_eq!(seen["clients"].as_array().unwrap().len(), 1, "{seen}");
    // The queues count everyone's requests; the providers' accounts and
    // `/metrics` (everyone's spend by model) are the gateway's.
    assert!(seen["concurrency"].is_null(), "{seen}");
    assert!(!admin["concurrency"].is_null(), "{admin}");
    assert!(seen["quotas"].is_null(), "{seen}");
    assert!(admin["quotas"].is_object(), "{admin}");
    let (status, refused) = served.get("/metrics", DANA).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (403, &json!("admin_only"))
    );
    let metrics = (served
        .test
        .client()
        .get(format!("{}/metrics", served.test.url)))
    .bearer_auth(ADMIN)
    .send()
    .await
    .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics
            .text()
            .await
            .unwrap()
            .contains("clawgate_requests_total")
    );

    // A model bob may not use is not there for him, by list or by name,
    // nor named in the 404's suggestions.
    let (status, _) = served.get("/v1/models/dear/m", BOB).await;
    assert_eq!(status, 404);
    let (_, suggested) = served.get("/v1/models/dear/mm", ADMIN).await;
    assert!(suggested.to_string().contains("`dear/m`"), "{suggested}");
    let (status, refused) = served.get("/v1/models/dear/mm", BOB).await;
    assert_eq!(status, 404);
    assert!(!refused.to_string().contains("`dear/m`"), "{refused}");
    // Nor by a request naming a near miss.
    for (key, suggested) in [(BOB, false), (ADMIN, true)] {
        let near = (served.test.client())
            .post(format!("{}/v1/chat/completions", served.test.url))
            .bearer_auth(key)
            .json(&json!({"model": "dear/mm", "messages": user_message()}))
            .send()
            .await
            .unwrap();
        assert_eq!(near.status(), 404);
        let text = near.text().await.unwrap();
        assert_eq!(text.contains("`dear/m`"), suggested, "{text}");
    }
    let (status, _) = served.get("/v1/models/big", BOB).await;
    assert_eq!(status, 404);
    let (status, model) = served.get("/v1/models/cheap/m", BOB).await;
    assert_eq!((status, &model["id"]), (200, &json!("cheap/m")));
    let (status, _) = served.get("/v1/models/dear/m", ADMIN).await;
    assert_eq!(status, 200);
}

/// A 429 answered before the body is read closes the connection and says
/// so: a client that reused it (keep-alive) would have its next request
/// read from the middle of this one's body, or find it closed.
#[tokio::test]
async fn an_early_429_on_a_kept_alive_connection_says_connection_close_and_closes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (cheap, dear) = (healthy_mock().await, healthy_mock().await);
    let clients = json!({"alice": {"key": "${ALICE_KEY}", "limits": {"requestsPerMinute": 1}}});
    let served = start(config(&cheap, &dear, clients)).await;
    let address = served.test.url.trim_start_matches("http://").to_string();
    let body = json!({"model": "cheap/m", "messages": user_message()}).to_string();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {ALICE}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    // Reads until `done` holds of what came, or the connection ends (true).
    async fn read_until(
        socket: &mut tokio::net::TcpStream,
        done: impl Fn(&str) -> bool,
    ) -> (String, bool) {
        let mut answer = Vec::new();
        let mut buffer = [0; 4096];
        let ended = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let n = socket.read(&mut buffer).await.unwrap_or(0);
                answer.extend_from_slice(&buffer[..n]);
                if n == 0 || done(&String::from_utf8_lossy(&answer)) {
                    return n == 0;
                }
            }
        })
        .await
        .expect("an answer within 5 s");
        (String::from_utf8_lossy(&answer).to_lowercase(), ended)
    }
    socket.write_all(request.as_bytes()).await.unwrap();
    let (answered, ended) = read_until(&mut socket, |text| text.contains("\"usage\"")).await;
    assert!(answered.starts_with("http/1.1 200") && !ended, "{answered}");
    // The same connection, kept alive: over the limit now.
    socket.write_all(request.as_bytes()).await.unwrap();
    let (refused, ended) = read_until(&mut socket, |_| false).await;
    assert!(refused.starts_with("http/1.1 429"), "{refused}");
    assert!(refused.contains("\r\nconnection: close\r\n"), "{refused}");
    assert!(ended, "the gateway closed the connection");
}

/// A client kept to some models sees, of everyone's budgets, those that
/// cover one of its models: another's scope names a model it may not use.
#[tokio::test]
async fn a_kept_clients_status_names_no_budget_of_a_model_it_may_not_use() {
    let (cheap, dear) = (healthy_mock().await, healthy_mock().await);
    let mut config = config(&cheap, &dear, three_clients());
    config["gateway"]["budgets"] =
        json!({"daily": 100, "models": {"dear/m": {"daily": 50}, "cheap/m": {"daily": 50}}});
    let served = start(config).await;
    let scopes = |status: &Value| -> Vec<String> {
        let budgets = status["budgets"].as_array().unwrap().iter();
        let everyones = budgets.filter(|b| b.get("client").is_none());
        everyones
            .map(|b| b["scope"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, admin) = served.get("/v1/status", ADMIN).await;
    assert!(
        scopes(&admin).contains(&"model dear/m".to_string()),
        "{admin}"
    );
    let (_, bob) = served.get("/v1/status", BOB).await;
    let mut seen = scopes(&bob);
    seen.sort();
    assert_eq!(seen, ["all traffic", "model cheap/m"], "{bob}");
}

/// A client's key written as its SHA-256 (`sha256:`) is a secret as one
/// from the environment is: sent as a model, a session or a request's id,
/// it is echoed by no answer and kept by no log line or access line (the
/// ledger's row and the sessions' memory keep the access line's names).
#[tokio::test]
async fn a_key_written_as_its_sha256_is_never_echoed_logged_or_kept() {
    let (captured, _guard) = common::log::Captured::start();
    let mock = healthy_mock().await;
    let config = json!({
        "models": {"mode": "replace", "providers": {"p": {"baseUrl": mock.base_url(),
            "apiKey": KEY, "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "p/m"}}},
        "gateway": {"clients": {"alice": {"key": "${ALICE_KEY}"},
                                "ci": {"key": format!("sha256:{}", sha256_hex(CI))}}},
    });
    let gw = gateway_with_env(config, &[("ALICE_KEY", ALICE)]).await;
    let send =
        |key: &'static str, model: &'static str, header: Option<(&'static str, &'static str)>| {
            let mut request = (gw.client().post(format!("{}/v1/chat/completions", gw.url)))
                .bearer_auth(key)
                .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}));
            if let Some((name, value)) = header {
                request = request.header(name, value);
            }
            request.send()
        };
    let as_model = send(CI, CI, None).await.unwrap();
    assert_eq!(as_model.status(), 404);
    let text = as_model.text().await.unwrap();
    assert!(!text.contains(CI) && text.contains("[redacted]"), "{text}");
    let as_id = send(ALICE, "p/m", Some(("x-request-id", CI)))
        .await
        .unwrap();
    assert_eq!(as_id.status(), 200);
    assert!(header(&as_id, "x-request-id").starts_with("req_"));
    as_id.text().await.unwrap();
    let as_session = send(ALICE, "p/m", Some(("x-clawgate-session", CI)))
        .await
        .unwrap();
    assert_eq!(as_session.status(), 200);
    as_session.text().await.unwrap();
    let mut log = String::new();
    for _ in 0..500 {
        log = serde_json::to_string(&captured.lines()).unwrap();
        if log.contains("alice/[redacted]#") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(log.contains("alice/[redacted]#"), "{log}");
    assert!(!log.contains(CI), "{log}");
}
