//! Helpers shared by the integration tests: mock providers and a gateway on
//! port 0, configured from JSON. No fixed ports, no network, no sleeps.
#![allow(dead_code)]

pub mod ledgered;
pub mod log;
pub mod postgres;
pub mod rows;
pub mod soak;

use std::sync::Arc;

use clawgate::config::{self, Environment, Secrets};
use clawgate::gateway::Gateway;
use clawgate_mock::{MockOptions, MockServer};
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub const KEY: &str = "sk-test-secret-0123456789";

/// The `clawgate` binary of this build.
pub const BIN: &str = env!("CARGO_BIN_EXE_clawgate");

/// `clawgate args` with an empty environment but `PATH`.
pub fn clawgate(args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

/// A `clawgate` run's stdout and stderr, together.
pub fn shown(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `clawgate args` with only `env` (and `PATH`) set.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    clawgate(args)
        .envs(env.iter().copied())
        .output()
        .expect("clawgate runs")
}

/// `clawgate serve --port 0 --config config` as a process with only `env`
/// set, and the URL it logs that it listens on. Its stderr is read on
/// (and dropped) after that; it is killed when dropped.
pub async fn serve_process(
    config: &std::path::Path,
    env: &[(&str, &std::ffi::OsStr)],
) -> (tokio::process::Child, String) {
    spawn_serve(config, env, None).await
}

/// The log lines of a `clawgate serve` process, as they come.
#[derive(Clone, Default)]
pub struct ServeLog(Arc<std::sync::Mutex<Vec<String>>>);

impl ServeLog {
    /// Waits up to `within` for a line holding every one of `words`.
    pub async fn wait_for(&self, words: &[&str], within: std::time::Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(line) = self.lines(words).pop() {
                return line;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no line with {words:?} within {within:?}:\n{}",
                self.lines(&[]).join("\n")
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The lines holding every one of `words` so far.
    pub fn lines(&self, words: &[&str]) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|line| words.iter().all(|w| line.contains(w)))
            .cloned()
            .collect()
    }
}

/// [`serve_process`], its log kept as it comes.
pub async fn serve_process_logged(
    config: &std::path::Path,
    env: &[(&str, &std::ffi::OsStr)],
) -> (tokio::process::Child, String, ServeLog) {
    let log = ServeLog::default();
    let (child, url) = spawn_serve(config, env, Some(log.clone())).await;
    (child, url, log)
}

async fn spawn_serve(
    config: &std::path::Path,
    env: &[(&str, &std::ffi::OsStr)],
    log: Option<ServeLog>,
) -> (tokio::process::Child, String) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(BIN)
        .env_clear()
        .envs(env.iter().copied())
        .args(["serve", "--port", "0", "--log-format", "text", "--config"])
        .arg(config)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (found, url) = oneshot::channel();
    tokio::spawn(async move {
        let mut found = Some(found);
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(at) = line.find("listening on http://") {
                let rest = &line[at + "listening on ".len()..];
                if let Some(found) = found.take() {
                    let _ = found.send(rest.split_whitespace().next().unwrap().to_string());
                }
            }
            if let Some(log) = &log {
                log.0.lock().unwrap().push(line);
            }
        }
    });
    let url = tokio::time::timeout(std::time::Duration::from_secs(20), url)
        .await
        .expect("clawgate logs its address")
        .expect("clawgate is running");
    (child, url)
}

pub struct TestGateway {
    pub url: String,
    pub gateway: Arc<Gateway>,
    /// Dropping it (with the gateway) shuts the server down.
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestGateway {
    /// Starts a graceful shutdown; the handle resolves when the server stops.
    pub fn shut_down(&mut self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        let _ = self.stop.take().expect("shut down once").send(());
        self.server.take().expect("shut down once")
    }

    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::new()
    }

    pub async fn chat(&self, body: Value) -> reqwest::Response {
        self.post("/v1/chat/completions", body).await
    }

    /// `POST {path}` with the JSON `body`, no credentials.
    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client()
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .expect("the gateway answers")
    }
}

impl TestGateway {
    /// `GET /v1/status`, read as JSON.
    pub async fn status(&self) -> Value {
        self.client()
            .get(format!("{}/v1/status", self.url))
            .send()
            .await
            .expect("the gateway answers")
            .json()
            .await
            .expect("the status is JSON")
    }

    /// `GET /v1/usage?{query}` without credentials, read as JSON.
    pub async fn usage(&self, query: &str) -> Value {
        self.client()
            .get(format!("{}/v1/usage?{query}", self.url))
            .send()
            .await
            .expect("the gateway answers")
            .json()
            .await
            .expect("the report is JSON")
    }

    /// The status page as a browser gets it (`GET /` asking for HTML).
    pub async fn page(&self) -> String {
        let response = self
            .client()
            .get(format!("{}/", self.url))
            .header("accept", "text/html")
            .send()
            .await
            .expect("the gateway answers");
        assert_eq!(response.status(), 200, "the status page");
        response.text().await.expect("the page is text")
    }

    /// `GET /metrics`: the Prometheus text.
    pub async fn metrics(&self) -> String {
        self.client()
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .expect("the gateway answers")
            .text()
            .await
            .expect("the metrics are text")
    }

    /// `POST /v1/messages` (Anthropic's API) with `body`, no credentials.
    pub async fn messages(&self, body: Value) -> reqwest::Response {
        self.client()
            .post(format!("{}/v1/messages?beta=true", self.url))
            .header("anthropic-version", "2023-06-01")
            .json(&body)
            .send()
            .await
            .expect("the gateway answers")
    }

    /// `POST /v1/responses` (OpenAI's Responses API) with `body`.
    pub async fn responses(&self, body: Value) -> reqwest::Response {
        self.post("/v1/responses", body).await
    }
}

/// The target `model_ref` in a `/v1/status` answer.
pub fn target<'a>(status: &'a Value, model_ref: &str) -> &'a Value {
    status["targets"]
        .as_array()
        .and_then(|targets| targets.iter().find(|t| t["ref"] == model_ref))
        .unwrap_or_else(|| panic!("no target {model_ref} in {status}"))
}

/// The `(event, data)` pairs of an SSE body with named events, in order.
pub fn sse_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|event| !event.trim().is_empty())
        .map(|event| {
            let name = event
                .lines()
                .find_map(|line| line.strip_prefix("event: "))
                .unwrap_or_default();
            let data = event
                .lines()
                .find_map(|line| line.strip_prefix("data: "))
                .unwrap_or("null");
            let data = serde_json::from_str(data).unwrap_or_else(|_| panic!("JSON data: {data}"));
            (name.to_string(), data)
        })
        .collect()
}

/// Serves `app`, a provider written for one test, on a port of its own;
/// its base URL (`http://…/v1`).
pub async fn provider_app(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

pub async fn mock(options: MockOptions) -> MockServer {
    MockServer::start(options)
        .await
        .expect("a mock starts on a free port")
}

pub async fn healthy_mock() -> MockServer {
    mock(MockOptions::default()).await
}

pub async fn failing_mock(status: u16, kind: &str) -> MockServer {
    mock(MockOptions {
        fail_status: Some(status),
        fail_type: kind.into(),
        ..MockOptions::default()
    })
    .await
}

/// A provider entry pointing at a mock, with one model `m` and the test key.
pub fn provider(mock: &MockServer) -> Value {
    json!({"baseUrl": mock.base_url(), "apiKey": KEY, "models": [{"id": "m", "name": "Mock"}]})
}

/// A config with providers `primary` and `backup`, chained in that order.
pub fn chain_config(primary: &MockServer, backup: &MockServer) -> Value {
    json!({
        "models": {"mode": "replace", "providers": {"primary": provider(primary), "backup": provider(backup)}},
        "agents": {"defaults": {"model": {"primary": "primary/m", "fallbacks": ["backup/m"]}}},
    })
}

/// Sends `n` chat requests at once to the gateway at `url`, each `body`
/// with `key`; their statuses, each answer read to its end.
pub async fn at_once(url: &str, key: &str, body: &Value, n: usize) -> Vec<u16> {
    let client = reqwest::Client::new();
    let requests = (0..n).map(|_| {
        let client = client.clone();
        async move {
            let response = client
                .post(format!("{url}/v1/chat/completions"))
                .bearer_auth(key)
                .json(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            response.bytes().await.unwrap();
            status
        }
    });
    futures_util::future::join_all(requests).await
}

pub fn user_message() -> Value {
    json!([{"role": "user", "content": "hello"}])
}

pub async fn gateway(config: Value) -> TestGateway {
    gateway_with_env(config, &[]).await
}

pub async fn gateway_with_env(config: Value, env: &[(&str, &str)]) -> TestGateway {
    serve(built(config, env)).await
}

/// The gateway of `config`, not yet serving.
pub fn built(config: Value, env: &[(&str, &str)]) -> Arc<Gateway> {
    let env = Environment::from_pairs(env.iter().copied());
    let loaded = config::load_str(&config.to_string(), &env, Secrets::Required)
        .unwrap_or_else(|errors| panic!("test config is invalid:\n{errors}"));
    Arc::new(Gateway::new(loaded.config).expect("the HTTP client builds"))
}

/// Serves `gateway` on port 0.
pub async fn serve(gateway: Arc<Gateway>) -> TestGateway {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    serve_on(listener, gateway)
}

/// Serves `gateway` on `listener`, bound by the test (to know the
/// gateway's address before its config).
pub fn serve_on(listener: tokio::net::TcpListener, gateway: Arc<Gateway>) -> TestGateway {
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(clawgate::server::run(listener, gateway.clone(), async {
        let _ = stopped.await;
    }));
    TestGateway {
        url,
        gateway,
        stop: Some(stop),
        server: Some(server),
    }
}

pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| event.lines().find_map(|line| line.strip_prefix("data: ")))
        .map(str::to_string)
        .collect()
}
