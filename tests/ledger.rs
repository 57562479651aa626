//! The usage ledger through the gateway: a row per API request whatever its
//! outcome, `/v1/usage`, budgets checked before each target (skipped like a
//! cooling one, 402 `budget_exceeded` when none is left, a stream that
//! passes its budget finishing), and the status page.

mod common;

use std::sync::Arc;
use std::time::Duration;

use clawgate::config::{self, Environment, Secrets};
use clawgate::gateway::Gateway;
use clawgate::ledger::{self, Ledger};
use clawgate_mock::{MockOptions, MockServer};
use common::*;
use serde_json::{Value, json};

/// USD per million tokens: high, so that a mock's few tokens cost cents.
fn priced_provider(mock: &MockServer) -> Value {
    json!({"baseUrl": mock.base_url(), "apiKey": KEY,
           "models": [{"id": "m", "name": "Mock", "cost": {"input": 1000, "output": 2000}}]})
}

fn priced_chain(primary: &MockServer, backup: &MockServer, gateway: Value) -> Value {
    json!({
        "models": {"mode": "replace", "providers": {
            "primary": priced_provider(primary), "backup": priced_provider(backup)}},
        "agents": {"defaults": {"model": {"primary": "primary/m", "fallbacks": ["backup/m"]}}},
        "gateway": gateway,
    })
}

struct LedgerGateway {
    test: TestGateway,
    ledger: Arc<Ledger>,
    _dir: tempfile::TempDir,
}

impl LedgerGateway {
    /// A gateway on port 0 whose ledger is a database in a fresh directory.
    async fn start(config: Value) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let loaded = config::load_str(
            &config.to_string(),
            &Environment::from_pairs::<&str, &str>([]),
            Secrets::Required,
        )
        .unwrap_or_else(|errors| panic!("test config is invalid:\n{errors}"));
        let path = dir.path().join("state/ledger.db");
        let ledger = Arc::new(Ledger::open(
            &path,
            &loaded.config.ledger,
            ledger::system_clock(),
        ));
        let gateway = Gateway::new(loaded.config)
            .unwrap()
            .with_ledger(ledger.clone());
        let test = serve(Arc::new(gateway)).await;
        LedgerGateway {
            test,
            ledger,
            _dir: dir,
        }
    }

    /// One before a single priced mock of `options`, `primary/m`.
    async fn before(options: MockOptions) -> (MockServer, Self) {
        let primary = mock(options).await;
        let gw = Self::start(json!({
            "models": {"mode": "replace", "providers": {"primary": priced_provider(&primary)}},
            "agents": {"defaults": {"model": {"primary": "primary/m"}}},
        }))
        .await;
        (primary, gw)
    }

    fn path(&self) -> std::path::PathBuf {
        self.ledger.path().unwrap().to_path_buf()
    }

    /// Waits (at most 10 s) until `rows` rows are written: a row is
    /// recorded when the server drops the response body, which may come
    /// just after the client has read it.
    async fn rows(&self, rows: i64) -> Vec<Value> {
        for _ in 0..200 {
            let ledger = self.ledger.clone();
            tokio::task::spawn_blocking(move || ledger.flush(Duration::from_secs(5)))
                .await
                .unwrap();
            let found = read_rows(&self.path());
            if found.len() as i64 >= rows {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fewer than {rows} rows: {:?}", read_rows(&self.path()));
    }
}

fn read_rows(path: &std::path::Path) -> Vec<Value> {
    let conn = clawgate::ledger::store::open_read_only(path).unwrap();
    let mut statement = conn
        .prepare(
            "SELECT front_end, model_asked, answered_by, attempts, status, end_state, tokens_in, \
             tokens_out, cost_usd, agent, request_id FROM requests ORDER BY id",
        )
        .unwrap();
    statement
        .query_map([], |r| {
            Ok(json!({
                "front_end": r.get::<_, String>(0)?,
                "model_asked": r.get::<_, Option<String>>(1)?,
                "answered_by": r.get::<_, Option<String>>(2)?,
                "attempts": r.get::<_, Option<String>>(3)?,
                "status": r.get::<_, i64>(4)?,
                "end": r.get::<_, String>(5)?,
                "tokens_in": r.get::<_, Option<i64>>(6)?,
                "tokens_out": r.get::<_, Option<i64>>(7)?,
                "cost_usd": r.get::<_, Option<f64>>(8)?,
                "agent": r.get::<_, String>(9)?,
                "request_id": r.get::<_, Option<String>>(10)?,
            }))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn chat_body(stream: bool) -> Value {
    json!({"model": "default", "messages": user_message(), "stream": stream})
}

fn messages_body(stream: bool) -> Value {
    json!({"model": "default", "max_tokens": 64, "stream": stream,
           "messages": [{"role": "user", "content": "hello"}]})
}

#[tokio::test]
async fn every_api_request_becomes_one_row_with_its_tokens_and_cost() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let gw = LedgerGateway::start(priced_chain(&primary, &backup, json!({}))).await;
    let client = gw.test.client();
    let url = &gw.test.url;
    let send = |path: &str, body: Value| {
        client
            .post(format!("{url}{path}"))
            .header("user-agent", "OpenAI/Python 1.99.0")
            .header("anthropic-version", "2023-06-01")
            .json(&body)
            .send()
    };
    let plain = send("/v1/chat/completions", chat_body(false))
        .await
        .unwrap();
    let usage: Value = plain.json().await.unwrap();
    for (path, body) in [
        ("/v1/chat/completions", chat_body(true)),
        ("/v1/messages", messages_body(false)),
        ("/v1/messages", messages_body(true)),
    ] {
        send(path, body).await.unwrap().text().await.unwrap();
    }
    let unknown = send(
        "/v1/chat/completions",
        json!({"model": "nope/x", "messages": user_message()}),
    )
    .await
    .unwrap();
    assert_eq!(unknown.status(), 404);
    let bad = client
        .post(format!("{url}/v1/chat/completions"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    // Not a completion: no row.
    client.get(format!("{url}/v1/models")).send().await.unwrap();

    let rows = gw.rows(6).await;
    assert_eq!(rows.len(), 6, "{rows:#?}");
    let fronts: Vec<&str> = rows
        .iter()
        .map(|r| r["front_end"].as_str().unwrap())
        .collect();
    assert_eq!(fronts.iter().filter(|f| **f == "openai-chat").count(), 4);
    assert_eq!(
        fronts
            .iter()
            .filter(|f| **f == "anthropic-messages")
            .count(),
        2
    );
    let answered: Vec<&Value> = rows
        .iter()
        .filter(|r| r["answered_by"] == "primary/m")
        .collect();
    assert_eq!(answered.len(), 4);
    for row in &answered {
        let (input, output) = (
            row["tokens_in"].as_f64().unwrap(),
            row["tokens_out"].as_f64().unwrap(),
        );
        let expected = (input * 1000.0 + output * 2000.0) / 1e6;
        let cost = row["cost_usd"]
            .as_f64()
            .expect("a priced answer has a cost");
        assert!((cost - expected).abs() < 1e-12, "{row}");
        assert_eq!(row["status"], 200);
        assert_eq!(row["end"], "complete");
        assert!(row["request_id"].as_str().unwrap().starts_with("req_"));
    }
    // The non-streamed answer's cost is the one the client was told.
    let told = usage["usage"]["cost"].as_f64().unwrap();
    assert!((answered[0]["cost_usd"].as_f64().unwrap() - told).abs() < 1e-12);
    let refused: Vec<&Value> = rows.iter().filter(|r| r["answered_by"].is_null()).collect();
    assert_eq!(refused.len(), 2);
    assert!(
        refused.iter().all(|r| r["cost_usd"].is_null()),
        "no cost, not 0"
    );
    assert!(
        rows.iter()
            .filter(|r| r["status"] != 400)
            .all(|r| r["agent"] == "openai-python")
    );

    // /v1/usage reads the same numbers from the rollups.
    let report = gw.test.usage("since=today&by=front-end").await;
    assert_eq!(report["total"]["requests"], 6, "{report}");
    assert_eq!(report["total"]["failures"], 2);
    let sum: f64 = answered
        .iter()
        .map(|r| r["cost_usd"].as_f64().unwrap())
        .sum();
    assert!((report["total"]["costUsd"].as_f64().unwrap() - sum).abs() < 1e-9);
    let keys: Vec<&str> = report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["anthropic-messages", "openai-chat"]);
}

#[tokio::test]
async fn usage_refuses_unknown_or_repeated_parameters_and_bad_values() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let gw = LedgerGateway::start(priced_chain(&primary, &backup, json!({}))).await;
    for query in [
        "since=yesterday",
        "per=year",
        "by=colour",
        "limit=0",
        "limit=5",
        "by=model&limit=5",
        "top=3",
        "client=alice&client=bob",
        "by=model&by=client",
    ] {
        let response = gw
            .test
            .client()
            .get(format!("{}/v1/usage?{query}", gw.test.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_request", "{query}: {body}");
    }
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_still_gets_a_row() {
    // The mock falls silent after its third chunk; the client reads until
    // some content has come, then leaves.
    let (_primary, gw) = LedgerGateway::before(MockOptions {
        stall_after_chunks: Some(3),
        ..MockOptions::default()
    })
    .await;
    let mut response = gw.test.chat(chat_body(true)).await;
    assert_eq!(response.status(), 200);
    let mut seen = String::new();
    while !seen.contains("\"content\"") {
        let chunk = response
            .chunk()
            .await
            .unwrap()
            .expect("the stream has begun");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(response);
    let rows = gw.rows(1).await;
    assert_eq!(rows[0]["end"], "client_left", "{rows:?}");
    assert_eq!(rows[0]["answered_by"], "primary/m");
}

#[tokio::test]
async fn a_stream_broken_after_it_began_is_a_failed_row() {
    // The mock drops the connection after its third chunk: the client
    // gets a 200 whose stream ends with an error event.
    let (_primary, gw) = LedgerGateway::before(MockOptions {
        drop_after_chunks: Some(3),
        ..MockOptions::default()
    })
    .await;
    let response = gw.test.chat(chat_body(true)).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(body.contains("stream_interrupted"), "{body}");
    let rows = gw.rows(1).await;
    assert_eq!(rows[0]["end"], "stream_broken", "{rows:?}");
    assert_eq!(rows[0]["answered_by"], "primary/m");
    let report = gw.test.usage("since=today").await;
    assert_eq!(report["total"]["requests"], 1, "{report}");
    assert_eq!(report["total"]["failures"], 1, "{report}");
}

#[tokio::test]
async fn a_spent_provider_budget_is_skipped_like_a_cooling_target() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let budgets = json!({"budgets": {"providers": {"primary": {"daily": 0.000001}}}});
    let gw = LedgerGateway::start(priced_chain(&primary, &backup, budgets)).await;
    let first = gw.test.chat(chat_body(false)).await;
    assert_eq!(header(&first, "x-clawgate-provider"), "primary");
    first.text().await.unwrap();
    gw.rows(1).await;
    let second = gw.test.chat(chat_body(false)).await;
    assert_eq!(second.status(), 200);
    assert_eq!(header(&second, "x-clawgate-provider"), "backup");
    assert_eq!(
        header(&second, "x-clawgate-attempts"),
        "1",
        "the skipped target was not tried"
    );
    second.text().await.unwrap();
    assert_eq!(
        primary.requests().len(),
        1,
        "the spent target got no second call"
    );
    let rows = gw.rows(2).await;
    assert_eq!(
        rows[1]["attempts"],
        "primary/m:skipped(over_budget),backup/m:ok"
    );

    let status = gw.test.status().await;
    let budget = &status["budgets"][0];
    assert_eq!(
        (budget["exceeded"].as_bool(), budget["warning"].as_bool()),
        (Some(true), Some(true)),
        "{status}"
    );
    assert_eq!(budget["scope"], "provider primary");
}

/// Every target over a budget: the 402 names the budget that resets
/// first, when the chain can answer again, not the first target's (a
/// month's, here, ahead of a day's).
#[tokio::test]
async fn no_target_within_budget_names_the_budget_that_resets_first() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let budgets = json!({"budgets": {"providers": {
        "primary": {"monthly": 0.01}, "backup": {"daily": 0.01}}}});
    let gw = LedgerGateway::start(priced_chain(&primary, &backup, budgets)).await;
    for model in ["primary/m", "backup/m"] {
        let spent = ledger::Row {
            cost_usd: Some(0.02),
            ..common::rows::answered(model)
        };
        gw.ledger
            .record(spent, &[&clawgate::config::ledger::Budgets::default()]);
    }
    let refused = gw.test.chat(chat_body(false)).await;
    assert_eq!(refused.status(), 402);
    let retry_after: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!((1..=86_400).contains(&retry_after), "{retry_after}");
    let body: Value = refused.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    // On a month's last day the two reset together, and the first is named.
    let tomorrow = clawgate::ledger::calendar::midnight_rfc3339(
        clawgate::ledger::calendar::day_of(std::time::SystemTime::now()) + 1,
    );
    assert!(
        message.ends_with(&format!("it resets at {tomorrow}")),
        "{message}"
    );
    assert_eq!(primary.requests().len() + backup.requests().len(), 0);
}

#[tokio::test]
async fn no_target_within_budget_is_402_in_each_apis_shape_and_a_stream_that_passes_it_finishes() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let budgets = json!({"budgets": {"daily": 0.000001}});
    let gw = LedgerGateway::start(priced_chain(&primary, &backup, budgets)).await;

    // The stream that reaches the budget ends as it should.
    let stream = gw.test.chat(chat_body(true)).await;
    assert_eq!(stream.status(), 200);
    let body = stream.text().await.unwrap();
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    gw.rows(1).await;

    // The next request is refused before any call.
    let refused = gw.test.chat(chat_body(false)).await;
    assert_eq!(refused.status(), 402);
    let retry_after: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!((1..=86_400).contains(&retry_after), "{retry_after}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
    assert_eq!(body["error"]["budget"]["period"], "day");
    assert_eq!(body["error"]["budget"]["limitUsd"], 0.000001);
    assert!(
        body["error"]["budget"]["resetsAt"]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00Z")
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("the daily budget of <$0.0001 for all traffic is spent"),
        "{message}"
    );

    let anthropic = gw.test.messages(messages_body(false)).await;
    assert_eq!(anthropic.status(), 402);
    let body: Value = anthropic.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("budget"),
        "{body}"
    );
    assert_eq!(primary.requests().len() + backup.requests().len(), 1);
}

#[tokio::test]
async fn an_unpriced_model_under_a_budget_is_refused_or_counted_apart() {
    let mock = healthy_mock().await;
    // The unpriced model is asked for by name: as the default chain's
    // primary the config would be refused (tests/config_guidance.rs).
    let config = |unpriced: &str| {
        json!({
            "models": {"mode": "replace", "providers": {
                "unpriced": provider(&mock), "paid": priced_provider(&mock)}},
            "agents": {"defaults": {"model": {"primary": "paid/m"}}},
            "gateway": {"budgets": {"monthly": 5, "unpriced": unpriced}},
        })
    };
    let unpriced_body = json!({"model": "unpriced/m", "messages": user_message()});
    let refusing = LedgerGateway::start(config("refuse")).await;
    let response = refusing.test.chat(unpriced_body.clone()).await;
    assert_eq!(response.status(), 402);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["budget"]["unpriced"], true, "{body}");
    assert!(mock.requests().is_empty());

    let allowing = LedgerGateway::start(config("allow")).await;
    let response = allowing.test.chat(unpriced_body).await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap();
    let rows = allowing.rows(1).await;
    assert!(
        rows[0]["cost_usd"].is_null(),
        "unpriced is not $0: {rows:?}"
    );
    let status = allowing.test.status().await;
    assert_eq!(status["budgets"][0]["uncosted"], 1, "{status}");
    assert_eq!(status["budgets"][0]["spentUsd"], 0.0);
    // The page's spend today says an answer's cost was not known.
    let html = allowing.test.page().await;
    assert!(
        html.contains("spent today (UTC), 1 of unknown cost"),
        "{html}"
    );
}

#[tokio::test]
async fn the_status_page_shows_the_ledgers_numbers_to_a_browser_only() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let gw = LedgerGateway::start(priced_chain(
        &primary,
        &backup,
        json!({"budgets": {"daily": 10}}),
    ))
    .await;
    gw.test.chat(chat_body(false)).await.text().await.unwrap();
    let rows = gw.rows(1).await;
    let client = gw.test.client();
    let url = &gw.test.url;

    let plain = client.get(format!("{url}/")).send().await.unwrap();
    assert_eq!(
        plain.text().await.unwrap(),
        "clawgate\n",
        "non-browsers get the old answer"
    );
    let page = client
        .get(format!("{url}/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(header(&page, "content-security-policy").contains("default-src 'none'"));
    let html = page.text().await.unwrap();
    let cost = rows[0]["cost_usd"].as_f64().unwrap();
    assert!(
        html.contains(&format!("id=\"spend-today\" data-value=\"{cost}\"")),
        "{html}"
    );
    assert!(
        html.contains("id=\"requests-today\" data-value=\"1\""),
        "{html}"
    );
    assert!(html.contains("<code>primary/m</code>"));
    assert!(html.contains("<svg id=\"spend-chart\""));
    assert!(html.contains("http-equiv=\"refresh\""));
    assert!(!html.contains("<script"), "usable without JavaScript");
}

/// Issue 42: after a restart the page's "answered today" is rebuilt from
/// the ledger, and counts what was answered, not the requests that failed;
/// answers without a price draw no spend, not a full bar.
#[tokio::test]
async fn after_a_restart_the_status_page_counts_only_answered_requests() {
    let (healthy, broken) = (
        healthy_mock().await,
        failing_mock(500, "server_error").await,
    );
    let config = json!({
        "models": {"mode": "replace", "providers": {
            "primary": provider(&healthy), "broken": provider(&broken)}},
        "agents": {"defaults": {"model": {"primary": "primary/m"}}},
    });
    let gw = LedgerGateway::start(config.clone()).await;
    assert_eq!(gw.test.chat(chat_body(false)).await.status(), 200);
    let failed = json!({"model": "broken/m", "messages": user_message()});
    assert_eq!(gw.test.chat(failed).await.status(), 502);
    gw.rows(2).await;
    let answered = "id=\"requests-today\" data-value=\"1\"";
    assert!(gw.test.page().await.contains(answered));
    gw.ledger.close(Duration::from_secs(5));

    // `clawgate serve` again, on the same ledger.
    let loaded = config::load_str(
        &config.to_string(),
        &Environment::from_pairs::<&str, &str>([]),
        Secrets::Required,
    )
    .unwrap();
    let ledger = Ledger::open(&gw.path(), &loaded.config.ledger, ledger::system_clock());
    let gateway = Gateway::new(loaded.config)
        .unwrap()
        .with_ledger(Arc::new(ledger));
    let again = serve(Arc::new(gateway)).await;
    let html = again.page().await;
    assert!(html.contains(answered), "{html}");
    assert!(
        html.contains("<text x=\"4\" y=\"11\">no spend in the last 30 days</text>"),
        "{html}"
    );
    assert!(!html.contains("height=\"142.0\""), "a full bar: {html}");
}

#[tokio::test]
async fn the_status_page_needs_the_token_when_one_is_set() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let gw = LedgerGateway::start(priced_chain(
        &primary,
        &backup,
        json!({"auth": {"token": "t0ken-page"}}),
    ))
    .await;
    let client = gw.test.client();
    let get = |auth: Option<&str>| {
        let mut request = client
            .get(format!("{}/", gw.test.url))
            .header("accept", "text/html");
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    let anonymous = get(None).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(header(&anonymous, "www-authenticate").starts_with("Basic "));
    // "anyone:t0ken-page" and "anyone:wrong".
    assert_eq!(
        get(Some("Basic YW55b25lOnQwa2VuLXBhZ2U="))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        get(Some("Basic YW55b25lOndyb25n")).await.unwrap().status(),
        401
    );
    assert_eq!(get(Some("Bearer t0ken-page")).await.unwrap().status(), 200);
    assert_eq!(get(Some("Basic !!!")).await.unwrap().status(), 401);
    // The Host check still applies.
    let rebinding = client
        .get(format!("{}/", gw.test.url))
        .header("accept", "text/html")
        .header("host", "evil.example")
        .header("authorization", "Bearer t0ken-page")
        .send()
        .await
        .unwrap();
    assert_eq!(rebinding.status(), 403);
    // /v1/usage is behind the token like the API.
    let usage = client
        .get(format!("{}/v1/usage", gw.test.url))
        .send()
        .await
        .unwrap();
    assert_eq!(usage.status(), 401);
}

#[tokio::test]
async fn without_a_database_usage_is_unavailable_and_a_ledger_change_needs_a_restart() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    // common::gateway's ledger counts in memory only.
    let gw = gateway(priced_chain(&primary, &backup, json!({}))).await;
    let response = gw
        .client()
        .get(format!("{}/v1/usage", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let id = header(&response, "x-request-id").to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ledger_unavailable", "{body}");
    // Its body repeats the request's id, as every error body does.
    assert_eq!(body["error"]["request_id"], id, "{body}");

    let mut changed = priced_chain(&primary, &backup, json!({}));
    changed["ledger"] = json!({"retentionDays": 30});
    let loaded = config::load_str(
        &changed.to_string(),
        &Environment::from_pairs::<&str, &str>([]),
        Secrets::Required,
    )
    .unwrap();
    let notes = gw.gateway.replace_config(loaded.config);
    assert_eq!(
        notes,
        ["ledger changed; it takes effect at the next restart"]
    );
}

/// A provider that writes `usage`'s name with an escape (`"\u0075sage"`,
/// which every client's JSON reader reads as `usage`) still has its tokens
/// counted and priced in the ledger, for a chat client, a Messages client
/// (whose encoder reads the chunks into parts) and a whole answer alike:
/// what the provider reports is never lost to the budgets.
#[tokio::test]
async fn a_usage_whose_name_is_escaped_is_counted_and_priced() {
    use axum::routing::post;
    let stream = [
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"\u0075sage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}"#,
        "[DONE]",
    ]
    .map(|data| format!("data: {data}\n\n"))
    .concat();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let stream = stream.clone();
            async move { ([("content-type", "text/event-stream")], stream) }
        }),
    );
    let base = provider_app(app).await;
    let config = json!({
        "models": {"mode": "replace", "providers": {"p": {"baseUrl": base, "apiKey": KEY,
            "models": [{"id": "m", "cost": {"input": 1000, "output": 2000}}]}}},
        "agents": {"defaults": {"model": {"primary": "p/m"}}},
    });
    let gw = LedgerGateway::start(config).await;
    for (path, body) in [
        ("/v1/chat/completions", chat_body(true)),
        ("/v1/chat/completions", chat_body(false)),
        ("/v1/messages", messages_body(true)),
    ] {
        let response = gw.test.post(path, body).await;
        assert_eq!(response.status(), 200, "{path}");
        let text = response.text().await.unwrap();
        assert!(text.contains("hi"), "{path}: {text}");
    }
    let rows = gw.rows(3).await;
    // 7 tokens in at $1000 and 3 out at $2000 a million: $0.013.
    for row in &rows {
        assert_eq!(
            (&row["tokens_in"], &row["tokens_out"]),
            (&json!(7), &json!(3)),
            "{row}"
        );
        let cost = row["cost_usd"].as_f64().unwrap_or_default();
        assert!((cost - 0.013).abs() < 1e-9, "{row}");
    }
}
