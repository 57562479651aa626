//! The traps a newcomer walked into, each reproduced: a config
//! that points a provider at clawgate itself, keys copied from the docs,
//! a variable name the config does not use, dotted keys, a status that
//! called a keyless target healthy.
//!
//! The async tests run on a multi-threaded runtime: the in-process gateway
//! and mocks keep serving while a test blocks on a `clawgate` child process.

mod common;

use std::path::{Path, PathBuf};

use clawgate::config::{self, Environment, Secrets, Source};
use common::*;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

fn write(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    path
}

fn load(value: Value, env: &[(&str, &str)]) -> Result<config::Loaded, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "config.json", &value);
    let env = Environment::from_pairs(env.iter().copied());
    config::load(&Source::File(path), &env, Secrets::Offline).map_err(|e| e.to_string())
}

/// The README's invitation: one file for OpenClaw and clawgate, so
/// `models.providers.clawgate` points at clawgate's own address.
fn shared_with_openclaw(base_url: &str, port: Option<u16>) -> Value {
    let mut config = json!({
        "models": {"providers": {"clawgate": {
            "baseUrl": base_url, "api": "openai-completions",
            "models": [{"id": "moonshot/kimi-k2.6"}]}}},
        "agents": {"defaults": {"model": {"primary": "clawgate/moonshot/kimi-k2.6"}}},
    });
    if let Some(port) = port {
        config["gateway"] = json!({"port": port});
    }
    config
}

#[test]
fn a_provider_at_the_gateways_own_address_is_a_config_error() {
    for (base_url, port) in [
        ("http://127.0.0.1:18700/v1", None),
        ("http://localhost:18700/v1", None),
        ("http://127.0.0.1:18711/v1", Some(18711)),
    ] {
        let error = load(shared_with_openclaw(base_url, port), &[]).unwrap_err();
        assert!(
            error.contains("models.providers.clawgate.baseUrl")
                && error.contains("this gateway's own address"),
            "{base_url}: {error}"
        );
    }
    // Another port, or another machine, is a provider like any other.
    for base_url in [
        "http://127.0.0.1:18701/v1",
        "http://192.0.2.7:18700/v1",
        "http://[::1]:18700/v1",
    ] {
        let loaded = load(shared_with_openclaw(base_url, None), &[]);
        assert!(loaded.is_ok(), "{base_url}: {:?}", loaded.err());
    }
}

#[test]
fn serve_refuses_a_provider_at_the_port_its_flag_chooses() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "config.json",
        &shared_with_openclaw("http://127.0.0.1:18719/v1", None),
    );
    let output = run(
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--port",
            "18719",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", shown(&output));
    let text = shown(&output);
    assert!(text.contains("this gateway's own address"), "{text}");
    assert!(!text.contains("listening on"), "{text}");
}

#[test]
fn placeholder_keys_are_flagged_by_validate_and_doctor_never_as_set() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "config.json",
        &json!({
            "models": {"providers": {
                "moonshot": {"apiKey": "${MOONSHOT_API_KEY}"},
                "openrouter": {"apiKey": "${OPENROUTER_API_KEY}"}}},
        }),
    );
    let path = config.to_str().unwrap();
    let env = [
        ("MOONSHOT_API_KEY", "sk-..."),
        ("OPENROUTER_API_KEY", "sk-or-v1-real-looking-key"),
    ];
    let validate = shown(&run(&["config", "validate", "--config", path], &env));
    assert!(
        validate.contains("models.providers.moonshot.apiKey: the key looks like a placeholder"),
        "{validate}"
    );
    assert!(
        !validate.contains("openrouter.apiKey: the key"),
        "{validate}"
    );

    let doctor = run(&["doctor", "--config", path], &env);
    let text = shown(&doctor);
    assert!(
        text.contains("FAIL provider moonshot (in the chain): the key looks like a placeholder"),
        "{text}"
    );
    assert!(
        !text.contains("provider moonshot (in the chain): key set"),
        "{text}"
    );
    assert!(
        text.contains("provider openrouter (in the chain): key set"),
        "{text}"
    );
    // Reported once, by the key check.
    assert_eq!(
        text.matches("looks like a placeholder").count(),
        1,
        "{text}"
    );
    assert_eq!(doctor.status.code(), Some(1), "{text}");
}

#[test]
fn seed_004s_literal_key_suggests_the_variable_its_env_block_defines() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seeds/004-01.json5"),
    )
    .unwrap();
    let value: Value = json5::from_str(&text).unwrap();
    let loaded = load(value, &[]).unwrap();
    let warnings = loaded.warnings.join("\n");
    assert!(
        warnings.contains("models.providers.kimi-code.apiKey: a secret written in the config file; write \"${KIMICODE_API_KEY}\" here, and its value in the env file clawgate reads (~/.config/clawgate/secrets.env, or the one --env-file names; under systemd, the service's EnvironmentFile=), chmod 600"),
        "{warnings}"
    );
    assert!(!warnings.contains("KIMI_CODE_API_KEY"), "{warnings}");
    // And the key itself is the blog's placeholder.
    assert!(
        warnings.contains("kimi-code.apiKey: the key looks like a placeholder"),
        "{warnings}"
    );

    // Without a variable in the file, OpenClaw's alias finds the built-in one.
    let loaded = load(
        json!({"models": {"providers": {"kimi-code": {
            "baseUrl": "https://api.kimi.com/coding/v1", "apiKey": "sk-kimi-0123456789abcdef",
            "models": [{"id": "kimi-for-coding"}]}}}}),
        &[],
    )
    .unwrap();
    let warnings = loaded.warnings.join("\n");
    assert!(
        warnings.contains("write \"${KIMI_API_KEY}\" here"),
        "{warnings}"
    );
}

#[test]
fn a_dotted_key_is_explained_not_ignored() {
    let error = load(
        json!({"agents.defaults.model.primary": "openrouter/moonshotai/kimi-k2.6"}),
        &[],
    )
    .unwrap_err();
    assert!(
        error.contains("agents.defaults.model.primary")
            && error.contains("nest it: `agents: { defaults: { model: { primary: ... } } }`"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_a_keyless_target_and_the_last_error_and_takes_a_port() {
    // The provider's message quotes the key: the status shows it scrubbed.
    let down = mock(clawgate_mock::MockOptions {
        fail_status: Some(503),
        fail_message: format!("overloaded (key {KEY})"),
        ..clawgate_mock::MockOptions::default()
    })
    .await;
    let up = healthy_mock().await;
    let mut config = chain_config(&down, &up);
    config["models"]["providers"]["spare"] =
        json!({"baseUrl": up.base_url(), "apiKey": "${SPARE_KEY}", "models": [{"id": "m"}]});
    config["agents"]["defaults"]["model"]["fallbacks"] = json!(["backup/m", "spare/m"]);
    // A key copied from the docs is no healthy target either.
    config["models"]["providers"]["copied"] = json!({"baseUrl": up.base_url(),
        "apiKey": "${COPIED_KEY}", "models": [{"id": "m"}]});
    config["agents"]["defaults"]["model"]["fallbacks"] = json!(["backup/m", "spare/m", "copied/m"]);
    let gw = gateway_with_env(config.clone(), &[("COPIED_KEY", "sk-...")]).await;
    let answer = gw
        .chat(json!({"model": "default", "messages": user_message()}))
        .await;
    assert_eq!(answer.status(), 200);

    let status = gw.status().await;
    let spare = target(&status, "spare/m");
    assert_eq!(spare["state"], "no_key", "{status}");
    assert_eq!(spare["missingKey"], "SPARE_KEY", "{status}");
    let copied = target(&status, "copied/m");
    assert_eq!(copied["state"], "placeholder_key", "{status}");
    assert_eq!(copied["placeholderKey"], "COPIED_KEY", "{status}");
    assert!(
        gw.page()
            .await
            .contains("the key in COPIED_KEY is a placeholder from the docs")
    );
    let said = "503 overloaded (key [redacted])";
    assert_eq!(target(&status, "primary/m")["lastError"], said, "{status}");
    assert!(target(&status, "backup/m")["lastError"].is_null());
    let page = gw.page().await;
    assert!(page.contains(said), "{page}");
    assert!(!page.contains(KEY));

    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "config.json", &config);
    let port = gw.url.rsplit(':').next().unwrap().to_string();
    for how in [["--url", gw.url.as_str()], ["--port", port.as_str()]] {
        let output = run(
            &["status", "--config", file.to_str().unwrap(), how[0], how[1]],
            &[],
        );
        let text = shown(&output);
        assert_eq!(output.status.code(), Some(0), "{text}");
        let row = |target: &str| {
            text.lines()
                .find(|l| l.starts_with(target))
                .unwrap_or_else(|| panic!("no {target} row in:\n{text}"))
                .to_string()
        };
        assert!(
            row("spare/m").contains("no key (SPARE_KEY unset)"),
            "{text}"
        );
        assert!(row("primary/m").contains("provider_error"), "{text}");
        assert!(
            row("primary/m").ends_with(&format!("ago: {said}  -")),
            "{text}"
        );
        assert!(row("backup/m").contains("healthy"), "{text}");
    }

    // A URL without its scheme says so, not "is clawgate serve running?".
    let output = run(
        &[
            "status",
            "--config",
            file.to_str().unwrap(),
            "--url",
            "127.0.0.1:18700",
        ],
        &[],
    );
    let text = shown(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("no scheme; write it as http://127.0.0.1:18700"),
        "{text}"
    );
    assert!(!text.contains("running"), "{text}");
}

#[test]
fn the_cli_reads_the_services_env_file_without_being_told() {
    let home = tempfile::tempdir().unwrap();
    let folder = home.path().join(".config/clawgate");
    std::fs::create_dir_all(&folder).unwrap();
    let home = home.path().to_str().unwrap();
    // The built-in chain needs both keys: without them, validation fails.
    let output = run(&["config", "validate"], &[("HOME", home)]);
    assert_eq!(output.status.code(), Some(1), "{}", shown(&output));
    assert!(shown(&output).contains("MOONSHOT_API_KEY is not set"));

    // Where docs/nix.md and the Nix modules put the service's keys.
    let secrets = folder.join("secrets.env");
    std::fs::write(
        &secrets,
        "MOONSHOT_API_KEY=sk-moonshot-from-file\nOPENROUTER_API_KEY=sk-or-from-file\n",
    )
    .unwrap();
    let private = std::os::unix::fs::PermissionsExt::from_mode(0o600);
    std::fs::set_permissions(&secrets, private).unwrap();
    let output = run(&["config", "validate"], &[("HOME", home)]);
    assert_eq!(output.status.code(), Some(0), "{}", shown(&output));
    let doctor = shown(&run(&["doctor"], &[("HOME", home)]));
    assert!(
        doctor.contains("provider moonshot (in the chain): key set"),
        "{doctor}"
    );
    assert!(
        doctor.contains("secrets.env is private to its owner"),
        "{doctor}"
    );
    assert!(!doctor.contains("sk-moonshot-from-file"), "{doctor}");

    // An explicit --env-file replaces it.
    let other = folder.join("other.env");
    std::fs::write(&other, "UNRELATED=1\n").unwrap();
    let output = run(
        &["config", "validate", "--env-file", other.to_str().unwrap()],
        &[("HOME", home)],
    );
    assert_eq!(output.status.code(), Some(1), "{}", shown(&output));
}

/// Serves `config` (its one provider pointing at the gateway's own port,
/// which only a bound listener knows) and returns the gateway's URL.
async fn gateway_at_itself() -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // A name the config check cannot resolve to this address, as a LAN name
    // or a second address of the machine would be.
    let config = json!({
        "models": {"mode": "replace", "providers": {"me": {
            "baseUrl": format!("{url}/v1").replace("127.0.0.1", "127.0.0.1."),
            "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "me/m"}}},
    });
    let loaded = config::load_str(
        &config.to_string(),
        &Environment::default(),
        Secrets::Required,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let gateway = std::sync::Arc::new(clawgate::gateway::Gateway::new(loaded.config).unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(clawgate::server::run(listener, gateway, async {
        let _ = stopped.await;
    }));
    (url, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_from_this_gateway_itself_is_refused_at_once() {
    let (url, _stop) = gateway_at_itself().await;
    let started = std::time::Instant::now();
    let response = reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .json(&json!({"model": "default", "messages": user_message()}))
        .timeout(std::time::Duration::from_secs(20))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    // One hop: the inner request is refused with 508, the outer one fails.
    assert_eq!(status, 502, "{body}");
    let attempts = body["error"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{body}");
    assert_eq!(attempts[0]["status"], 508, "{body}");
    assert!(
        attempts[0]["message"]
            .as_str()
            .unwrap()
            .contains("baseUrl points back at the gateway"),
        "{body}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// Issue 42, trap 3: an OpenAI SDK (or Codex, or Claude Code) whose
/// request every provider refused for clawgate's keys hears that its own
/// token was fine and which variable holds the key to fix, alike on every
/// API: a 502 not worth retrying, never a 401 (`AuthenticationError`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_hears_that_the_providers_refused_their_keys() {
    let refusing = mock(clawgate_mock::MockOptions {
        require_key: Some("the-right-key".into()),
        ..Default::default()
    })
    .await;
    let config = json!({
        "models": {"mode": "replace", "providers": {
            "kimi": {"baseUrl": refusing.base_url(), "apiKey": "${KIMI_API_KEY}", "models": [{"id": "m"}]},
            "spare": {"baseUrl": refusing.base_url(), "apiKey": "sk-spare-literal", "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "kimi/m", "fallbacks": ["spare/m"]}}},
    });
    let expected = "clawgate's providers refused the API keys clawgate holds for them, not your token: \
        kimi/m answered 401 (the key in KIMI_API_KEY); \
        spare/m answered 401 (the apiKey of models.providers.spare); \
        fix each key where it is named, then reload clawgate (a NixOS service: restart it)";
    let chat =
        |stream: bool| json!({"model": "default", "stream": stream, "messages": user_message()});
    let cases = [
        ("/v1/chat/completions", chat(false), "upstream_error"),
        ("/v1/chat/completions", chat(true), "upstream_error"),
        (
            "/v1/responses",
            json!({"model": "default", "input": "hello"}),
            "upstream_error",
        ),
        (
            "/v1/messages",
            json!({"model": "default", "max_tokens": 16, "messages": user_message()}),
            "api_error",
        ),
    ];
    for (path, body, kind) in cases {
        // A gateway each: once refused, the targets cool down.
        let env = [("KIMI_API_KEY", "sk-wrong-kimi-key")];
        let gw = gateway_with_env(config.clone(), &env).await;
        let response = gw
            .client()
            .post(format!("{}{path}", gw.url))
            .header("anthropic-version", "2023-06-01")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 502, "{path} {body}");
        assert_eq!(response.headers()["x-should-retry"], "false", "{path}");
        let text = response.text().await.unwrap();
        assert!(
            !text.contains("sk-wrong-kimi-key") && !text.contains("sk-spare-literal"),
            "{text}"
        );
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["error"]["message"], expected, "{path}");
        assert_eq!(body["error"]["type"], kind, "{path}");
        if kind == "upstream_error" {
            assert_eq!(body["error"]["code"], "upstream_auth_failed", "{path}");
        }
    }
}

/// The next line of a child's log, within a bound.
async fn next_log_line(
    log: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
) -> String {
    tokio::time::timeout(std::time::Duration::from_secs(10), log.next_line())
        .await
        .expect("a log line in time")
        .unwrap()
        .expect("serve runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_gateway_token_is_a_warning_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "config.json",
        &json!({"gateway": {"auth": {"token": "the-gateway-token-77"}},
                "models": {"providers": {"moonshot": {"apiKey": "k"}, "openrouter": {"apiKey": "k"}}}}),
    );
    let mut child = tokio::process::Command::new(BIN)
        .args(["serve", "--port", "0", "--log-format", "text", "--config"])
        .arg(&config)
        .env_clear()
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut log = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut url = None;
    while url.is_none() {
        url = next_log_line(&mut log)
            .await
            .split("listening on ")
            .nth(1)
            .map(|rest| rest.split_whitespace().next().unwrap().to_string());
    }
    let url = url.unwrap();
    let client = reqwest::Client::new();
    for (name, value) in [("x-api-key", "not-the-token"), ("x-unrelated", "1")] {
        let response = client
            .post(format!("{url}/v1/messages"))
            .header(name, value)
            .json(&json!({"model": "default", "max_tokens": 8, "messages": user_message()}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        // A wrong token stays wrong: clients stop instead of retrying.
        assert_eq!(response.headers()["x-should-retry"], "false");
        let body: Value = response.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        // Claude Code shows "Not logged in" instead of a message naming x-api-key.
        assert!(message.contains("gateway.auth.token") && !message.contains("x-api-key"));
    }
    let mut warnings = Vec::new();
    while warnings.len() < 2 {
        let line = next_log_line(&mut log).await;
        if line.contains("WARN") && line.contains("request refused (401)") {
            warnings.push(line);
        }
    }
    assert!(
        warnings[0].contains("the key sent is neither gateway.auth.token nor a client"),
        "{warnings:?}"
    );
    assert!(warnings[1].contains("no key sent"), "{warnings:?}");
    assert!(
        !warnings.join("\n").contains("not-the-token"),
        "{warnings:?}"
    );
    child.kill().await.unwrap();
}

/// The one attempt of a chat that failed through `base_url` (provider
/// `local`).
async fn first_attempt(base_url: String) -> Value {
    let config = json!({
        "models": {"mode": "replace", "providers": {"local": {
            "baseUrl": base_url, "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "local/m"}}},
    });
    let gw = gateway(config).await;
    let body: Value = gw
        .chat(json!({"model": "default", "messages": user_message()}))
        .await
        .json()
        .await
        .unwrap();
    body["error"]["attempts"][0].clone()
}

/// [`first_attempt`]'s message.
async fn attempt_message(base_url: String) -> String {
    let attempt = first_attempt(base_url).await;
    attempt["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{attempt}"))
        .to_string()
}

/// Issue 42: `https://` to a plain-HTTP port is the config's fault, and no
/// retry mends it: the attempt is not retried, and says what to check.
#[tokio::test]
async fn https_to_a_plain_http_port_says_so_and_is_not_retried() {
    let plain = healthy_mock().await;
    let url = plain.base_url().replace("http://", "https://");
    let address = url
        .trim_start_matches("https://")
        .trim_end_matches("/v1")
        .to_string();
    let attempt = first_attempt(url).await;
    assert_eq!(
        attempt["message"],
        format!(
            "the server at {address} does not speak TLS (it answered in plain HTTP): \
             check http:// vs https:// in models.providers.local.baseUrl"
        ),
        "{attempt}"
    );
    assert_eq!(
        (&attempt["outcome"], &attempt["next"], &attempt["tries"]),
        // The chain's one target: nothing comes after it.
        (&json!("config"), &json!("none"), &json!(1)),
        "{attempt}"
    );
    assert_eq!(
        attempt["hint"],
        "the server at the provider's baseUrl speaks plain HTTP: write its baseUrl with http://"
    );
}

/// A baseUrl where nothing listens: the attempt says what to check, and
/// as the chain's last it names no next step.
#[tokio::test]
async fn a_base_url_where_nothing_listens_says_what_to_check() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let attempt = first_attempt(url).await;
    assert_eq!(
        (&attempt["outcome"], &attempt["next"]),
        (&json!("transport"), &json!("none")),
        "{attempt}"
    );
    assert_eq!(
        attempt["hint"],
        "nothing answered at the provider's baseUrl: check its host and port, and that the server is up"
    );
}

#[tokio::test]
async fn a_404_without_an_api_error_points_at_the_base_url() {
    let server = healthy_mock().await;
    // The mock serves /v1/chat/completions; without /v1 the path is unknown.
    let url = server.base_url().trim_end_matches("/v1").to_string();
    let message = attempt_message(url).await;
    assert!(
        message.starts_with("404 ")
            && message.contains("nothing is served at this URL; check the provider's baseUrl"),
        "{message}"
    );
    // A provider's own 404 about the model keeps its words.
    let missing = failing_mock(404, "model_not_found").await;
    let message = attempt_message(missing.base_url()).await;
    assert!(!message.contains("nothing is served"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_placeholder_key_is_named_in_the_hint() {
    let refusing = mock(clawgate_mock::MockOptions {
        require_key: Some("the-right-key".into()),
        ..Default::default()
    })
    .await;
    let config = json!({
        "models": {"mode": "replace", "providers": {
            "kimi": {"baseUrl": refusing.base_url(), "apiKey": "${KIMI_API_KEY}", "models": [{"id": "m"}]},
            "spare": {"baseUrl": refusing.base_url(), "apiKey": "${SPARE_KEY}", "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "kimi/m", "fallbacks": ["spare/m"]}}},
    });
    let env = [
        ("KIMI_API_KEY", "sk-kimi-YOUR_API_KEY_HERE"),
        ("SPARE_KEY", "sk-a-wrong-but-real-looking-key"),
    ];
    let gw = gateway_with_env(config, &env).await;
    let body: Value = gw
        .chat(json!({"model": "default", "messages": user_message()}))
        .await
        .json()
        .await
        .unwrap();
    let hints: Vec<&str> = body["error"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["hint"].as_str().unwrap())
        .collect();
    assert!(
        hints[0].contains("looks like a placeholder from the docs"),
        "{body}"
    );
    assert!(!hints[1].contains("placeholder"), "{body}");
    let body: Value = gw
        .messages(json!({"model": "default", "max_tokens": 8, "messages": user_message()}))
        .await
        .json()
        .await
        .unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("(the key in KIMI_API_KEY, a placeholder from the docs)"),
        "{message}"
    );
}
