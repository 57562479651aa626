//! docs/troubleshooting.md quotes the messages users meet: this test makes
//! clawgate produce each one (config, startup, HTTP, each upstream failure
//! class, broken streams) and checks that the doc quotes it as it is
//! today, so a message change that leaves the doc behind fails here.

mod common;

use clawgate::config::{self, Environment, Secrets};
use clawgate_mock::MockOptions;
use common::*;
use serde_json::{Value, json};

const DOC: &str = include_str!("../docs/troubleshooting.md");

/// Fails with every message the doc does not quote.
fn assert_quoted(messages: &[String]) {
    let missing: Vec<&String> = messages
        .iter()
        .filter(|m| !DOC.contains(m.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/troubleshooting.md does not quote:\n{}",
        missing
            .iter()
            .map(|m| format!("  {m}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn config_messages(text: &str, env: &[(&str, &str)]) -> Vec<String> {
    let env = Environment::from_pairs(env.iter().copied());
    match config::load_str(text, &env, Secrets::Required) {
        Ok(loaded) => loaded.warnings,
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

const KEYS: [(&str, &str); 3] = [
    ("MOONSHOT_API_KEY", "k"),
    ("KIMI_API_KEY", "k"),
    ("OPENROUTER_API_KEY", "k"),
];

#[test]
fn config_errors_and_warnings_are_quoted() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("{gateway: {authToken: 'x'}}", &KEYS),
        ("{agents: {defaults: {fallbacks: []}}}", &KEYS),
        (
            "{models: {providers: {moonshot: {baseURL: 'https://api.moonshot.ai/v1'}}}}",
            &KEYS,
        ),
        (
            "{models: {providers: {moonshot: {baseUrl: 'https://api.moonshot.ai/v1/chat/completions'}}}}",
            &KEYS,
        ),
        (
            "{models: {providers: {openrouter: {baseUrl: 'https://openrouter.ai/v1'}}}}",
            &KEYS,
        ),
        (
            "{models: {providers: {moonshot: {apiKey: 'sk-pasted-key'}}}}",
            &KEYS,
        ),
        (
            "{models: {providers: {lan: {baseUrl: 'http://192.168.1.20:4000/v1', apiKey: '${LAN_KEY}', models: [{id: 'm'}]}}}}",
            &[
                ("MOONSHOT_API_KEY", "k"),
                ("OPENROUTER_API_KEY", "k"),
                ("LAN_KEY", "k"),
            ],
        ),
        ("{}", &[]),
        ("{}", &[("OPENROUTER_API_KEY", "k")]),
        (
            "{agents: {defaults: {model: 'moonshot/kimi-k2.66'}}}",
            &KEYS,
        ),
        ("{agents: {defaults: {model: 'kimi-for-coding'}}}", &KEYS),
        ("{agents: {defaults: {model: 'openruter/auto'}}}", &KEYS),
        ("{gateway: {bind: '0.0.0.0'}}", &KEYS),
        (
            "{gateway: {bind: '0.0.0.0', auth: {token: 'changeme'}}}",
            &KEYS,
        ),
        (
            "{gateway: {clients: {ci: {key: 'ci-key-written-in-the-file'}}}}",
            &KEYS,
        ),
        (
            "{gateway: {clients: {ci: {key: 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'}}}}",
            &KEYS,
        ),
        ("{models: {mode: 'mix'}}", &KEYS),
        (
            "{}",
            &[
                ("MOONSHOT_API_KEY", "sk-copied\r"),
                ("OPENROUTER_API_KEY", "k"),
            ],
        ),
        // The newcomer traps.
        (
            "{models: {providers: {clawgate: {baseUrl: 'http://127.0.0.1:18700/v1', models: [{id: 'm'}]}}}}",
            &KEYS,
        ),
        (
            "{'agents.defaults.model.primary': 'moonshot/kimi-k2.6'}",
            &KEYS,
        ),
        (
            "{}",
            &[("MOONSHOT_API_KEY", "sk-..."), ("OPENROUTER_API_KEY", "k")],
        ),
        ("{agents: {defaults: {model: 'moonshot/kimi-k2.6'}}}", &KEYS),
        // The first hour, round three.
        ("{gateway: {listen: '0.0.0.0'}}", &KEYS),
        (
            "{agents: {defaults: {model: 'kimi/kimi-for-coding'}}}",
            &[("KIMICODE_API_KEY", "k")],
        ),
        (
            "{agents: {defaults: {model: {primary: 'moonshot/kimi-k2-turbo', fallbacks: ['openrouter/moonshotai/kimi-k2.6']}}}, gateway: {budgets: {daily: 5}}}",
            &KEYS,
        ),
        (
            "{agents: {defaults: {model: {primary: 'kimi/kimi-for-coding', fallbacks: ['moonshot/kimi-k2-turbo']}}}, gateway: {budgets: {daily: 5}}}",
            &KEYS,
        ),
        (
            "{gateway: {mode: 'local', port: 18789, auth: {mode: 'token', token: 't'}}}",
            &KEYS,
        ),
        ("{gateway: {port: 18789}}", &KEYS),
        (
            "{agents: {defaults: {model: 'moonshot/kimi-k2.6'}},\n  gateway: {},\n  agents: {}}",
            &KEYS,
        ),
        // Telemetry.
        ("{gateway: {telemetry: {enabled: true}}}", &KEYS),
        (
            "{gateway: {telemetry: {endpoint: 'http://127.0.0.1:4318'}}}",
            &[
                ("MOONSHOT_API_KEY", "k"),
                ("OPENROUTER_API_KEY", "k"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ],
        ),
    ];
    let mut messages = Vec::new();
    for (text, env) in cases {
        let found = config_messages(text, env);
        assert!(!found.is_empty(), "{text} gives a message");
        messages.extend(found);
    }
    // The first line of a syntax error; the rest shows the user's file.
    for text in [
        "{\n  a: 'x'\n  b: 1\n}",
        "{\n  agents: { defaults: { model: { primary: \u{201c}kimi/kimi-for-coding\u{201d} } } },\n}",
        "{\n  agents: { defaults: { model = 'kimi/kimi-for-coding'; } },\n}",
    ] {
        let syntax = config_messages(text, &KEYS);
        messages.push(syntax[0].lines().next().unwrap().to_string());
    }
    assert_quoted(&messages);
}

fn run(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = std::process::Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("clawgate runs");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn startup_errors_are_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let missing_env = dir.path().join("secrets.env");
    let exported = dir.path().join("exported.env");
    std::fs::write(&exported, "export MOONSHOT_API_KEY=sk-x\n").unwrap();
    let cases = [
        run(&["serve", "--bind", "0.0.0.0", "--port", "0"], &KEYS),
        run(&["serve", "--port", &port], &KEYS).replace(&port, "18700"),
        run(
            &["serve", "--env-file", missing_env.to_str().unwrap()],
            &KEYS,
        )
        .replace(dir.path().to_str().unwrap(), "~/.config/clawgate"),
        run(&["serve", "--env-file", exported.to_str().unwrap()], &KEYS)
            .replace(exported.to_str().unwrap(), "~/.config/clawgate/secrets.env"),
    ];
    let messages: Vec<String> = cases
        .iter()
        .map(|stderr| {
            let line = stderr
                .lines()
                .find(|line| line.starts_with("error: "))
                .unwrap_or_else(|| panic!("an error line in:\n{stderr}"));
            line.to_string()
        })
        .collect();
    assert_quoted(&messages);
}

/// The error message of a refused request.
async fn refusal(response: reqwest::Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["error"]["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn http_errors_are_quoted() {
    let upstream = healthy_mock().await;
    let mut config = chain_config(&upstream, &upstream);
    config["gateway"] = json!({"auth": {"token": "t0ken"}, "maxBodyBytes": 1024});
    let gw = gateway(config).await;
    let client = gw.client();
    let url = |path: &str| format!("{}{path}", gw.url);
    let chat = |body: Value| {
        client
            .post(url("/v1/chat/completions"))
            .bearer_auth("t0ken")
            .json(&body)
    };
    let mut messages = vec![
        refusal(
            client
                .post(url("/v1/chat/completions"))
                .send()
                .await
                .unwrap(),
        )
        .await,
        refusal(
            client
                .post(url("/v1/chat/completions"))
                .bearer_auth("not-the-token")
                .send()
                .await
                .unwrap(),
        )
        .await,
        refusal(
            chat(json!({"model": "primary/mm", "messages": user_message()}))
                .send()
                .await
                .unwrap(),
        )
        .await,
        refusal(
            chat(json!({"messages": [{"role": "user", "content": "x".repeat(2048)}]}))
                .send()
                .await
                .unwrap(),
        )
        .await,
        // The list of routes grows with the API; the doc quotes the start.
        refusal(
            client
                .post(url("/v1/completions"))
                .bearer_auth("t0ken")
                .send()
                .await
                .unwrap(),
        )
        .await
        .split_inclusive("clawgate serves")
        .next()
        .unwrap()
        .to_string(),
        refusal(
            chat(json!({"messages": user_message()}))
                .header("host", "evil.example")
                .send()
                .await
                .unwrap(),
        )
        .await,
        refusal(
            chat(json!({"messages": user_message()}))
                .header("origin", "https://evil.example")
                .send()
                .await
                .unwrap(),
        )
        .await,
        refusal(chat(json!({"messages": "hello"})).send().await.unwrap()).await,
    ];
    // A client kept to backup/m, and one allowed a request a minute.
    let mut config = chain_config(&upstream, &upstream);
    config["gateway"] = json!({"clients": {
        "ci": {"key": "${CI_KEY}", "models": ["backup/m"]},
        "cd": {"key": "${CD_KEY}", "limits": {"requestsPerMinute": 1}}}});
    let (ci_key, cd_key) = ("ci-key-0123456789abcdef", "cd-key-0123456789abcdef");
    let keyed = gateway_with_env(config, &[("CI_KEY", ci_key), ("CD_KEY", cd_key)]).await;
    let ask = |key: &str, model: &str| {
        client
            .post(format!("{}/v1/chat/completions", keyed.url))
            .bearer_auth(key)
            .json(&json!({"model": model, "messages": user_message()}))
            .send()
    };
    messages.push(refusal(ask(ci_key, "primary/m").await.unwrap()).await);
    assert_eq!(ask(cd_key, "backup/m").await.unwrap().status(), 200);
    messages.push(refusal(ask(cd_key, "backup/m").await.unwrap()).await);
    messages.push(
        refusal(
            client
                .get(url("/v1/chat/completions"))
                .bearer_auth("t0ken")
                .send()
                .await
                .unwrap(),
        )
        .await,
    );
    assert_quoted(&messages);
}

/// The outcome label of the first attempt, and the response's error code,
/// when the first provider is a mock with `options`, its entry changed by
/// `provider_extra`, and the second a mock answering 429.
async fn failure(
    options: MockOptions,
    provider_extra: Value,
    gateway_extra: Value,
) -> (String, String) {
    let mock = mock(options).await;
    let limited = self::mock(status(429)).await;
    let mut entry = provider(&mock);
    for (key, value) in provider_extra.as_object().unwrap() {
        entry[key] = value.clone();
    }
    let config = json!({
        "gateway": gateway_extra,
        "models": {"mode": "replace", "providers": {"only": entry, "limited": provider(&limited)}},
        "agents": {"defaults": {"model": {"primary": "only/m", "fallbacks": ["limited/m"]}}},
    });
    let gw = gateway(config).await;
    let body: Value = gw
        .chat(json!({"messages": user_message()}))
        .await
        .json()
        .await
        .unwrap();
    let error = &body["error"];
    (
        error["attempts"][0]["outcome"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        error["code"].as_str().unwrap_or_default().to_string(),
    )
}

fn status(code: u16) -> MockOptions {
    MockOptions {
        fail_status: Some(code),
        ..MockOptions::default()
    }
}

#[tokio::test]
async fn every_upstream_failure_class_is_explained() {
    let none = json!({});
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        port
    };
    let cases = [
        failure(
            MockOptions::default(),
            json!({"apiKey": "${UNSET_KEY}"}),
            none.clone(),
        )
        .await,
        failure(
            MockOptions::default(),
            json!({"baseUrl": format!("http://127.0.0.1:{closed_port}/v1")}),
            none.clone(),
        )
        .await,
        failure(
            MockOptions {
                hang: true,
                ..MockOptions::default()
            },
            none.clone(),
            json!({"timeouts": {"firstByteSeconds": 0.2}}),
        )
        .await,
        failure(status(429), none.clone(), none.clone()).await,
        failure(status(401), none.clone(), none.clone()).await,
        failure(status(404), none.clone(), none.clone()).await,
        failure(status(503), none.clone(), none.clone()).await,
        failure(status(400), none.clone(), none.clone()).await,
        failure(
            MockOptions {
                redirect_to: Some("https://example.com/".into()),
                ..MockOptions::default()
            },
            none.clone(),
            none.clone(),
        )
        .await,
        failure(
            MockOptions {
                reply_bytes: Some(64 * 1024),
                ..MockOptions::default()
            },
            none.clone(),
            json!({"limits": {"maxResponseBytes": 1024}}),
        )
        .await,
    ];
    let mut messages = Vec::new();
    // Every provider timed out: 504.
    let hanging = mock(MockOptions {
        hang: true,
        ..MockOptions::default()
    })
    .await;
    let mut config = chain_config(&hanging, &hanging);
    config["gateway"] = json!({"timeouts": {"firstByteSeconds": 0.2}});
    let body: Value = gateway(config)
        .await
        .chat(json!({"messages": user_message()}))
        .await
        .json()
        .await
        .unwrap();
    messages.push(format!("`{}`", body["error"]["code"].as_str().unwrap()));
    // A 200 that is not a completion stream.
    let garbled = mock(MockOptions {
        first_event: Some("not json".into()),
        ..MockOptions::default()
    })
    .await;
    let body: Value = gateway(chain_config(&garbled, &garbled))
        .await
        .chat(json!({"stream": true, "messages": user_message()}))
        .await
        .json()
        .await
        .unwrap();
    messages.push(format!(
        "`{}`",
        body["error"]["attempts"][0]["outcome"].as_str().unwrap()
    ));
    for (outcome, code) in cases {
        assert!(!outcome.is_empty() && !code.is_empty(), "{outcome} {code}");
        messages.push(format!("`{outcome}`"));
        messages.push(format!("`{code}`"));
    }
    assert_quoted(&messages);
}

#[tokio::test]
async fn a_busy_gateway_is_quoted() {
    let hanging = mock(MockOptions {
        hang: true,
        ..MockOptions::default()
    })
    .await;
    let mut config = chain_config(&hanging, &hanging);
    config["gateway"] = json!({"limits": {"maxConcurrentRequests": 1}});
    let gw = gateway(config).await;
    let held = tokio::spawn({
        let request = gw.client().post(format!("{}/v1/chat/completions", gw.url));
        request.json(&json!({"messages": user_message()})).send()
    });
    // The first request holds the only slot once the mock has it.
    let arrived = async {
        while hanging.requests().is_empty() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), arrived)
        .await
        .expect("the first request reaches the mock");
    let refused = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(refused.status(), 503);
    let message = refusal(refused)
        .await
        .replace("limit of 1 requests", "limit of 1024 requests");
    held.abort();
    assert_quoted(&[message]);
}

#[tokio::test]
async fn broken_streams_are_explained() {
    let mut messages = Vec::new();
    for (options, gateway_extra) in [
        (
            MockOptions {
                drop_after_chunks: Some(2),
                ..MockOptions::default()
            },
            json!({}),
        ),
        (
            MockOptions {
                end_after_chunks: Some(3),
                ..MockOptions::default()
            },
            json!({}),
        ),
        (
            MockOptions {
                error_after_chunks: Some(2),
                ..MockOptions::default()
            },
            json!({}),
        ),
        (
            MockOptions {
                stall_after_chunks: Some(2),
                ..MockOptions::default()
            },
            json!({"timeouts": {"idleSeconds": 0.3}}),
        ),
    ] {
        let mock = mock(options).await;
        let mut config = chain_config(&mock, &mock);
        config["gateway"] = gateway_extra;
        let gw = gateway(config).await;
        let body = gw
            .chat(json!({"stream": true, "messages": user_message()}))
            .await
            .text()
            .await
            .unwrap();
        let last: Value = serde_json::from_str(sse_data(&body).last().unwrap()).unwrap();
        messages.push(format!("`{}`", last["error"]["code"].as_str().unwrap()));
    }
    assert_quoted(&messages);
}

#[tokio::test]
async fn keys_the_providers_refuse_are_quoted() {
    let refusing = mock(MockOptions {
        require_key: Some("the-right-key".into()),
        ..MockOptions::default()
    })
    .await;
    let config = json!({
        "models": {"mode": "replace", "providers": {"kimi": {
            "baseUrl": refusing.base_url(), "apiKey": "${KIMI_API_KEY}", "models": [{"id": "k"}]}}},
        "agents": {"defaults": {"model": {"primary": "kimi/k"}}},
    });
    let gw = gateway_with_env(config, &[("KIMI_API_KEY", "sk-wrong")]).await;
    let response = gw
        .chat(json!({"model": "default", "messages": user_message()}))
        .await;
    assert_quoted(&[refusal(response).await]);
}

#[tokio::test]
async fn https_to_a_plain_http_server_is_quoted() {
    let plain = healthy_mock().await;
    let url = plain.base_url().replace("http://", "https://");
    let address = url.trim_start_matches("https://").trim_end_matches("/v1");
    let config = json!({
        "models": {"mode": "replace", "providers": {"ollama": {"baseUrl": url, "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "ollama/m"}}},
    });
    let body: Value = gateway(config)
        .await
        .chat(json!({"messages": user_message()}))
        .await
        .json()
        .await
        .unwrap();
    let message = body["error"]["attempts"][0]["message"].as_str().unwrap();
    assert_quoted(&[message.replace(address, "127.0.0.1:11434")]);
}

#[tokio::test]
async fn targets_that_cannot_take_a_request_are_explained() {
    let upstream = healthy_mock().await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {
            "moonshot": {"baseUrl": upstream.base_url(), "apiKey": KEY, "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "moonshot/m"}}},
    }))
    .await;
    let tools: Vec<Value> = (0..129)
        .map(|i| json!({"type": "function", "function": {"name": format!("t{i}")}}))
        .collect();
    let image = json!([{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]);
    let mut messages = Vec::new();
    for body in [
        json!({"messages": user_message(), "tools": tools}),
        json!({"messages": image}),
    ] {
        let message = refusal(gw.chat(body).await).await;
        // The message names the target and its URL, then why.
        let (start, rest) = message.split_once(" moonshot/m (").unwrap();
        let (_, why) = rest.split_once("): ").unwrap();
        messages.extend([start.to_string(), why.to_string()]);
    }
    assert_quoted(&messages);
}
