//! Pools of equivalent targets end to end: a session named with
//! `x-clawgate-session` stays on the member it was placed on, moves only
//! when that member fails, is placed afresh once its target's cache has
//! gone cold, and new sessions favour the cheapest member without
//! starving the others. Bad pools in the config are refused by path.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use clawgate::config::{self, Environment, Secrets};
use clawgate_mock::MockServer;
use common::*;
use serde_json::{Value, json};

/// A provider entry for `mock` whose model `m` costs `input` USD per
/// million input tokens (a cache hit a fifth of it, output four times).
fn priced(mock: &MockServer, input: f64) -> Value {
    json!({
        "baseUrl": mock.base_url(),
        "apiKey": KEY,
        "models": [{"id": "m", "name": "Mock", "cost": {
            "input": input, "cacheRead": input / 5.0, "output": input * 4.0, "cacheWrite": 0,
        }}],
    })
}

/// Providers `a`, `b` and `c` (at `prices`) pooled as the primary, with
/// `cacheLifetimeSeconds` when given; short timeouts and no retries.
fn pool_config(mocks: [&MockServer; 3], prices: [f64; 3], cache_seconds: Option<u64>) -> Value {
    let mut providers = serde_json::Map::new();
    for ((id, mock), price) in ["a", "b", "c"].iter().zip(mocks).zip(prices) {
        let mut entry = priced(mock, price);
        if let Some(seconds) = cache_seconds {
            entry["cacheLifetimeSeconds"] = json!(seconds);
        }
        providers.insert(id.to_string(), entry);
    }
    json!({
        "gateway": {
            "timeouts": {"firstByteSeconds": 1, "idleSeconds": 1, "chainSeconds": 5},
            "retries": {"perTarget": 0},
        },
        "models": {"mode": "replace", "providers": providers},
        "agents": {"defaults": {"model": {"primary": ["a/m", "b/m", "c/m"]}}},
    })
}

/// One turn of `session` (none: a request without one); the provider
/// that answered.
async fn turn(gw: &TestGateway, session: Option<&str>) -> String {
    let mut request = gw
        .client()
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&json!({"messages": user_message()}));
    if let Some(session) = session {
        request = request.header("x-clawgate-session", session);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let provider = header(&response, "x-clawgate-provider").to_string();
    response.bytes().await.unwrap();
    provider
}

/// Each session's providers over `turns` turns, turn by turn.
async fn conversations(
    gw: &TestGateway,
    sessions: usize,
    turns: usize,
) -> BTreeMap<String, Vec<String>> {
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for _ in 0..turns {
        for n in 0..sessions {
            let session = format!("session-{n}");
            let provider = turn(gw, Some(&session)).await;
            seen.entry(session).or_default().push(provider);
        }
    }
    seen
}

/// `gw`'s pool of `mocks` at `prices` with its member b's account failing
/// every request from now on; the failing mock.
async fn fail_b(gw: &TestGateway, mocks: &[MockServer; 3], prices: [f64; 3]) -> MockServer {
    let failing = failing_mock(500, "server_error").await;
    let config = pool_config([&mocks[0], &failing, &mocks[2]], prices, None);
    let loaded = config::load_str(
        &config.to_string(),
        &Environment::default(),
        Secrets::Required,
    )
    .unwrap();
    gw.gateway.replace_config(loaded.config);
    failing
}

async fn three_mocks() -> [MockServer; 3] {
    [
        healthy_mock().await,
        healthy_mock().await,
        healthy_mock().await,
    ]
}

/// A gateway with a pool of three healthy mocks at `prices`.
async fn pool_of_three(prices: [f64; 3], cache_seconds: Option<u64>) -> TestGateway {
    let mocks = three_mocks().await;
    gateway(pool_config(
        [&mocks[0], &mocks[1], &mocks[2]],
        prices,
        cache_seconds,
    ))
    .await
}

#[tokio::test]
async fn sessions_stay_where_they_started_over_many_turns() {
    let gw = pool_of_three([1.0, 1.0, 1.0], None).await;
    let seen = conversations(&gw, 12, 8).await;
    for (session, providers) in &seen {
        let places: BTreeSet<&String> = providers.iter().collect();
        assert_eq!(places.len(), 1, "{session} moved: {providers:?}");
    }
    // Equal members: the sessions were spread, not herded on one.
    let used: BTreeSet<&String> = seen.values().map(|p| &p[0]).collect();
    assert!(used.len() >= 2, "{seen:?}");
    assert_eq!(gw.gateway.placements().len(), 12);
}

#[tokio::test]
async fn when_one_target_fails_only_its_sessions_move() {
    let mocks = three_mocks().await;
    let prices = [1.0, 1.0, 1.0];
    let gw = gateway(pool_config([&mocks[0], &mocks[1], &mocks[2]], prices, None)).await;
    let before = conversations(&gw, 15, 1).await;
    let started: BTreeMap<&String, &String> = before.iter().map(|(s, p)| (s, &p[0])).collect();
    let on_b = started.values().filter(|p| p.as_str() == "b").count();
    assert!(on_b > 0 && on_b < 15, "{started:?}");

    // b's account now fails every request.
    let _failing = fail_b(&gw, &mocks, prices).await;

    let after = conversations(&gw, 15, 4).await;
    for (session, providers) in &after {
        let first = started[session];
        if first == "b" {
            // Moved once, to another member, and stayed there.
            assert_ne!(providers[0], "b", "{session}: {providers:?}");
            assert!(
                providers.iter().all(|p| *p == providers[0]),
                "{session}: {providers:?}"
            );
        } else {
            assert!(
                providers.iter().all(|p| p == first),
                "{session} was on {first}: {providers:?}"
            );
        }
    }
}

/// A member that cools down has its sessions drawn again among the
/// others, spread by their weights: not all moved to the next member in
/// the chain, which would herd them there.
#[tokio::test]
async fn a_cooling_members_sessions_are_spread_over_the_others() {
    let mocks = three_mocks().await;
    let prices = [1.0, 1.0, 1.0];
    let gw = gateway(pool_config([&mocks[0], &mocks[1], &mocks[2]], prices, None)).await;
    let before = conversations(&gw, 60, 1).await;
    let _failing = fail_b(&gw, &mocks, prices).await;
    let after = conversations(&gw, 60, 2).await;
    let moved: BTreeSet<&str> = (before.iter())
        .filter(|(_, providers)| providers[0] == "b")
        .map(|(session, _)| after[session][1].as_str())
        .collect();
    assert_eq!(
        moved,
        BTreeSet::from(["a", "c"]),
        "b's sessions spread: {after:?}"
    );
}

#[tokio::test]
async fn the_cheapest_target_gets_the_most_new_sessions_and_none_gets_none() {
    let gw = pool_of_three([2.0, 0.5, 1.0], None).await;
    let seen = conversations(&gw, 120, 1).await;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for providers in seen.values() {
        *counts.entry(providers[0].as_str()).or_default() += 1;
    }
    let count = |id| counts.get(id).copied().unwrap_or(0);
    assert!(
        count("b") > count("c") && count("b") > count("a"),
        "b is the cheapest: {counts:?}"
    );
    for id in ["a", "b", "c"] {
        assert!(count(id) > 0, "{id} got no session: {counts:?}");
    }
}

/// A member whose key variable is not set is skipped by requests, as the
/// startup warning says: no new session is drawn onto it (each was, and
/// spent an attempt there, whenever its cooldown ended). Each draw is a
/// gateway's first, before any cooldown: the cheapest member, the keyless
/// one, would have been drawn about four times in five.
#[tokio::test]
async fn a_member_without_its_key_gets_no_new_session() {
    let mocks = three_mocks().await;
    let mut config = pool_config([&mocks[0], &mocks[1], &mocks[2]], [0.1, 1.0, 1.0], None);
    config["models"]["providers"]["a"]["apiKey"] = json!("${CLAWGATE_TEST_UNSET_POOL_KEY}");
    for n in 0..12 {
        let gw = gateway(config.clone()).await;
        let response = gw
            .client()
            .post(format!("{}/v1/chat/completions", gw.url))
            .header("x-clawgate-session", format!("keyless-{n}"))
            .json(&json!({"messages": user_message()}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let attempts = header(&response, "x-clawgate-attempts");
        assert_eq!(attempts, "1", "session {n} was drawn onto a first");
    }
}

#[tokio::test]
async fn with_sessions_off_requests_are_drawn_one_by_one() {
    let mocks = three_mocks().await;
    let mut config = pool_config([&mocks[0], &mocks[1], &mocks[2]], [1.0, 1.0, 1.0], None);
    config["gateway"]["sessions"] = json!(false);
    let gw = gateway(config).await;
    let mut used = BTreeSet::new();
    for _ in 0..30 {
        used.insert(turn(&gw, None).await);
    }
    assert_eq!(used.len(), 3, "{used:?}");
    assert!(gw.gateway.placements().is_empty());
}

#[tokio::test]
async fn a_session_idle_past_its_targets_cache_is_placed_again() {
    // A cache kept for no time: every turn finds it cold.
    let gw = pool_of_three([1.0, 1.0, 1.0], Some(0)).await;
    let seen = conversations(&gw, 1, 30).await;
    let places: BTreeSet<&String> = seen["session-0"].iter().collect();
    assert!(places.len() >= 2, "{seen:?}");
}

#[tokio::test]
async fn a_pool_in_the_fallbacks_is_reached_after_the_primary() {
    let primary = failing_mock(500, "server_error").await;
    let mocks = three_mocks().await;
    let mut config = pool_config([&mocks[0], &mocks[1], &mocks[2]], [1.0, 1.0, 1.0], None);
    config["models"]["providers"]["p"] = priced(&primary, 1.0);
    config["agents"]["defaults"]["model"] =
        json!({"primary": "p/m", "fallbacks": [["a/m", "b/m", "c/m"]]});
    let gw = gateway(config).await;
    let seen = conversations(&gw, 9, 3).await;
    for (session, providers) in &seen {
        assert_ne!(providers[0], "p");
        assert!(
            providers.iter().all(|p| *p == providers[0]),
            "{session}: {providers:?}"
        );
    }
}

fn pool_errors(model: Value) -> Vec<String> {
    let mocks = ["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"];
    let providers: serde_json::Map<String, Value> = ["a", "b"]
        .iter()
        .zip(mocks)
        .map(|(id, url)| {
            let entry = json!({"baseUrl": url, "apiKey": KEY, "models": [{"id": "m"}]});
            (id.to_string(), entry)
        })
        .collect();
    let config = json!({
        "models": {"mode": "replace", "providers": providers},
        "agents": {"defaults": {"model": model}},
    });
    match config::load_str(
        &config.to_string(),
        &Environment::default(),
        Secrets::Required,
    ) {
        Ok(_) => panic!("expected errors for {model}"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn bad_pools_are_refused_by_their_path() {
    assert_eq!(
        pool_errors(json!({"primary": []})),
        [
            "agents.defaults.model.primary: an empty list names no model: write a ref, or a list of equivalent refs (a pool)"
        ]
    );
    assert_eq!(
        pool_errors(json!({"primary": "a/m", "fallbacks": [["b/m", "b/m"]]})),
        ["agents.defaults.model.fallbacks[0][1]: \"b/m\" (b/m) is already in this pool"]
    );
    let unknown = pool_errors(json!({"primary": ["a/m", "c/m"]}));
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert!(
        unknown[0]
            .starts_with("agents.defaults.model.primary[1]: unknown provider \"c\" in \"c/m\""),
        "{unknown:?}"
    );
    let nine: Vec<String> = (0..9).map(|_| "a/m".to_string()).collect();
    assert_eq!(
        pool_errors(json!({"primary": nine})),
        ["agents.defaults.model.primary: a pool holds at most 8 refs, found 9"]
    );
}

#[test]
fn config_show_writes_pools_as_lists() {
    let config = json!({
        "models": {"mode": "replace", "providers": {
            "a": {"baseUrl": "http://127.0.0.1:9/v1", "apiKey": KEY, "models": [{"id": "m"}]},
            "b": {"baseUrl": "http://127.0.0.1:10/v1", "apiKey": KEY, "models": [{"id": "m"}]},
            "c": {"baseUrl": "http://127.0.0.1:11/v1", "apiKey": KEY, "models": [{"id": "m"}]},
        }},
        "agents": {"defaults": {"model": {"primary": ["a/m", "b/m"], "fallbacks": ["c/m"]}}},
    });
    let loaded = config::load_str(
        &config.to_string(),
        &Environment::default(),
        Secrets::Required,
    )
    .unwrap();
    let shown = loaded.config.redacted();
    assert_eq!(
        shown["agents"]["defaults"]["model"],
        json!({"primary": ["a/m", "b/m"], "fallbacks": ["c/m"]})
    );
    assert_eq!(
        shown["models"]["providers"]["a"]["cacheLifetimeSeconds"],
        300
    );
    let chain: Vec<String> = loaded
        .config
        .chain(None)
        .unwrap()
        .iter()
        .map(|t| t.model_ref.to_string())
        .collect();
    assert_eq!(chain, ["a/m", "b/m", "c/m"]);
    // A member named by a client is asked for its pool.
    let named: Vec<String> = loaded
        .config
        .chain(Some("b/m"))
        .unwrap()
        .iter()
        .map(|t| t.model_ref.to_string())
        .collect();
    assert_eq!(named, ["a/m", "b/m", "c/m"]);
}

/// A client's `models` naming one member of a pool allow that member
/// alone: asking for the pool (`default`, or another member by name), its
/// requests go to it and never to the members it may not use; `default`
/// allows the whole primary pool. A model outside every allowed place is
/// a 403.
#[tokio::test]
async fn a_client_allowed_one_member_of_a_pool_is_placed_on_that_member() {
    let mocks = three_mocks().await;
    let mut config = pool_config([&mocks[0], &mocks[1], &mocks[2]], [1.0, 1.0, 1.0], None);
    config["agents"]["defaults"]["model"] =
        json!({"primary": ["a/m", "b/m"], "fallbacks": ["c/m"]});
    config["gateway"]["clients"] = json!({
        "bob": {"key": "${BOB_KEY}", "models": ["b/m"]},
        "carol": {"key": "${CAROL_KEY}", "models": ["default"]},
    });
    const BOB: &str = "bob-key-0123456789abcdef00";
    const CAROL: &str = "carol-key-0123456789abcdef0";
    let gw = gateway_with_env(config, &[("BOB_KEY", BOB), ("CAROL_KEY", CAROL)]).await;
    let ask = |key: &str, model: &str, session: String| {
        (gw.client().post(format!("{}/v1/chat/completions", gw.url)))
            .bearer_auth(key)
            .header("x-clawgate-session", session)
            .json(&json!({"model": model, "messages": user_message()}))
            .send()
    };
    let mut carols = BTreeSet::new();
    for turn in 0..12 {
        for model in ["default", "a/m", "b/m"] {
            let response = ask(BOB, model, format!("bob-{model}-{turn}"))
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "bob {model}");
            assert_eq!(header(&response, "x-clawgate-model"), "b/m", "bob {model}");
        }
        let response = ask(CAROL, "default", format!("carol-{turn}"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        carols.insert(header(&response, "x-clawgate-model").to_string());
    }
    assert!(
        carols.iter().all(|m| m == "a/m" || m == "b/m"),
        "{carols:?}"
    );
    let response = ask(BOB, "c/m", "bob-c".into()).await.unwrap();
    assert_eq!(response.status(), 403);
    let response = ask(CAROL, "c/m", "carol-c".into()).await.unwrap();
    assert_eq!(response.status(), 403);
}

/// A turn answered after a later one leaves the later one's place as it
/// was (docs/sessions.md): the earlier turn's fallback does not move the
/// session off the member that answered the later turn at once.
#[tokio::test]
async fn a_turn_answered_after_a_later_one_does_not_move_the_session() {
    // `x` hangs on a request whose text says "slow"; answers any other.
    let slow = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|body: String| async move {
            if body.contains("slow") {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            let chunk = json!({"id": "c", "object": "chat.completion.chunk", "model": "m",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hello"},
                             "finish_reason": "stop"}]});
            (
                [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
                format!("data: {chunk}\n\ndata: [DONE]\n\n"),
            )
        }),
    );
    let (x, y) = (provider_app(slow).await, healthy_mock().await);
    let gw = gateway(json!({
        "gateway": {
            "timeouts": {"firstByteSeconds": 1, "idleSeconds": 1, "chainSeconds": 5},
            "retries": {"perTarget": 0},
        },
        "models": {"mode": "replace", "providers": {
            "x": {"baseUrl": x, "apiKey": KEY, "models": [{"id": "m"}]},
            "y": {"baseUrl": y.base_url(), "apiKey": KEY, "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": ["x/m", "y/m"]}}},
    }))
    .await;
    let ask = |session: String, text: &'static str| {
        let request = (gw.client())
            .post(format!("{}/v1/chat/completions", gw.url))
            .header("x-clawgate-session", session)
            .json(&json!({"messages": [{"role": "user", "content": text}]}));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            header(&response, "x-clawgate-provider").to_string()
        }
    };
    // A session placed on `x`.
    let mut session = None;
    for n in 0..40 {
        let id = format!("s{n}");
        if ask(id.clone(), "hi").await == "x" {
            session = Some(id);
            break;
        }
    }
    let session = session.expect("a session placed on x");
    // The earlier turn hangs on `x` and falls over to `y`; the later one
    // is answered by `x` meanwhile; the next stays on `x`.
    let earlier = tokio::spawn(ask(session.clone(), "slow"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ask(session.clone(), "hi").await, "x");
    assert_eq!(earlier.await.unwrap(), "y");
    assert_eq!(ask(session, "hi").await, "x");
}
