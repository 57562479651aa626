//! The `clawgate` binary: every command, `--env-file`, and the `serve`
//! lifecycle as systemd drives it (READY, reload on SIGHUP, STOPPING on
//! SIGTERM), with logs checked for secrets.
//!
//! The tests run on a multi-threaded runtime: the in-process mocks keep
//! serving while a test blocks on a `clawgate` child process.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clawgate_mock::{MockOptions, MockServer};
use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SECRET: &str = "sk-cli-secret-value-42";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_contains(output: &str, expected: &str) {
    assert!(
        output.contains(expected),
        "expected {expected:?} in:\n{output}"
    );
}

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, contents: &str, mode: u32) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn config(&self, value: &Value) -> PathBuf {
        self.write(
            "config.json",
            &serde_json::to_string_pretty(value).unwrap(),
            0o644,
        )
    }
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A config whose keys come from `${MOCK_KEY}`.
fn env_keyed_config(primary: &MockServer, backup: &MockServer) -> Value {
    let mut config = chain_config(primary, backup);
    for id in ["primary", "backup"] {
        config["models"]["providers"][id]["apiKey"] = json!("${MOCK_KEY}");
    }
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_reports_every_error_and_exits_1() {
    let files = Files::new();
    let bad = files.write("bad.json5", r#"{ models: { providers: { p: { baseURL: "x" } } }, agents: { defaults: { model: "p/m" } } }"#, 0o644);
    let output = run(&["config", "validate", "--config", s(&bad)], &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert_contains(
        &stderr,
        "models.providers.p.baseURL: unknown key; did you mean `baseUrl`?",
    );
    assert_contains(&stderr, "models.providers.p.baseUrl: required");

    let json_out = run(&["config", "validate", "--config", s(&bad), "--json"], &[]);
    assert_eq!(json_out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"][0]["path"], "models.providers.p.baseURL");
    // No config read at all is said in JSON too.
    let absent = files.dir.path().join("absent.json");
    let json_out = run(
        &["config", "validate", "--config", s(&absent), "--json"],
        &[],
    );
    assert_eq!(json_out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(report["valid"], false);
    let message = report["errors"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("no config file at "), "{message}");
    // A link where the config is looked for that leads nowhere (into a
    // collected Nix store path) says so, not "no config file".
    let home = files.dir.path().join("home");
    std::fs::create_dir_all(home.join(".config/clawgate")).unwrap();
    let link = home.join(".config/clawgate/config.json");
    std::os::unix::fs::symlink("/nix/store/gone-config.json", &link).unwrap();
    let dangling = run(
        &["config", "validate"],
        &[("HOME", s(&home)), ("XDG_CONFIG_HOME", "")],
    );
    assert_eq!(dangling.status.code(), Some(1));
    assert_contains(
        &text(&dangling.stderr),
        &format!("cannot read {}", link.display()),
    );

    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let good = files.config(&env_keyed_config(&primary, &backup));
    let missing = run(&["config", "validate", "--config", s(&good)], &[]);
    assert_eq!(missing.status.code(), Some(1));
    assert_contains(
        &text(&missing.stderr),
        "models.providers.primary.apiKey: environment variable MOCK_KEY is not set",
    );
    let offline = run(
        &["config", "validate", "--offline", "--config", s(&good)],
        &[],
    );
    assert_eq!(offline.status.code(), Some(0), "{}", text(&offline.stderr));
    assert_contains(
        &text(&offline.stdout),
        "valid; 2 providers; chain primary/m -> backup/m",
    );
    let from_env = run(
        &["config", "validate", "--config", s(&good)],
        &[("MOCK_KEY", SECRET)],
    );
    assert_eq!(from_env.status.code(), Some(0));
    let via_variable = run(&["config", "validate"], &[("CLAWGATE_CONFIG", s(&bad))]);
    assert_eq!(
        via_variable.status.code(),
        Some(1),
        "$CLAWGATE_CONFIG is read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_files_provide_secrets_and_the_environment_wins() {
    let files = Files::new();
    let (primary, backup) = (
        mock(MockOptions {
            require_key: Some(SECRET.into()),
            ..MockOptions::default()
        })
        .await,
        healthy_mock().await,
    );
    let config = files.config(&env_keyed_config(&primary, &backup));
    let env_file = files.write(
        "secrets.env",
        &format!("# keys\nMOCK_KEY=\"{SECRET}\"\n"),
        0o600,
    );

    let output = run(
        &[
            "agent",
            "--config",
            s(&config),
            "--env-file",
            s(&env_file),
            "--message",
            "hi",
            "--json",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        answer["provider"], "primary",
        "the key from the file was accepted"
    );

    // A leading `-` makes a file optional, as in systemd (what the launchd
    // agent passes): present, it is read; absent, it is skipped.
    let optional = format!("-{}", s(&env_file));
    let absent = format!("-{}", files.dir.path().join("absent.env").display());
    let output = run(
        &[
            "agent",
            "--config",
            s(&config),
            "--env-file",
            &optional,
            "--env-file",
            &absent,
            "--message",
            "hi",
            "--json",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["provider"], "primary");
    let required_absent = run(
        &[
            "agent",
            "--config",
            s(&config),
            "--env-file",
            &absent[1..],
            "--message",
            "hi",
        ],
        &[],
    );
    assert_eq!(required_absent.status.code(), Some(1));

    let overridden = run(
        &[
            "agent",
            "--config",
            s(&config),
            "--env-file",
            s(&env_file),
            "--message",
            "hi",
            "--json",
        ],
        &[("MOCK_KEY", "sk-from-the-environment")],
    );
    let answer: Value = serde_json::from_slice(&overridden.stdout).unwrap();
    assert_eq!(
        answer["provider"], "backup",
        "the environment's (wrong) key won over the file"
    );
    assert_eq!(answer["attempts"][0]["outcome"], "auth");

    let broken = files.write("broken.env", "this is not an assignment\n", 0o600);
    let output = run(
        &[
            "config",
            "validate",
            "--config",
            s(&config),
            "--env-file",
            s(&broken),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_contains(&text(&output.stderr), "broken.env:1: expected NAME=value");
}

/// A provider whose answer spells a configured key, in its text or its
/// reasoning: `agent` prints neither, as a served answer carries neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_prints_no_key_the_answer_spells() {
    const LEAKED: &str = "sk-YcoBiUqs1EDf831H6KCZ7tWLH3Qg7Ge8vPeT3lxshGeweoIe";
    let files = Files::new();
    let provider = mock(MockOptions {
        reply: format!("your key is {LEAKED} ok"),
        reasoning: format!("think {LEAKED} done"),
        ..MockOptions::default()
    })
    .await;
    let mut config = chain_config(&provider, &provider);
    config["models"]["providers"]["primary"]["apiKey"] = json!(LEAKED);
    let config = files.config(&config);
    for json in [false, true] {
        let mut args = vec!["agent", "--config", s(&config), "--message", "hi"];
        if json {
            args.push("--json");
        }
        let output = run(&args, &[]);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        assert!(
            !stdout.contains(LEAKED) && !stderr.contains(LEAKED),
            "{stdout}{stderr}"
        );
        assert!(stdout.contains("your key is"), "{stdout}");
        if json {
            let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
            let reasoning = answer["reasoning"].as_str().unwrap();
            assert!(
                reasoning.starts_with("think ") && reasoning.ends_with(" done"),
                "{answer}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_reports_text_reasoning_usage_and_attempts() {
    let files = Files::new();
    let (primary, backup) = (
        failing_mock(500, "server_error").await,
        healthy_mock().await,
    );
    let config = files.config(&chain_config(&primary, &backup));
    let output = run(
        &[
            "agent",
            "--config",
            s(&config),
            "--message",
            "hello there",
            "--thinking",
            "off",
            "--json",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["provider"], "backup");
    assert_eq!(answer["model"], "backup/m");
    assert_eq!(answer["text"], "Hello from clawgate-mock.");
    assert_eq!(answer["reasoning"], "The user greets me; I greet back.");
    assert_eq!(answer["usage"]["output"], 3);
    assert_eq!(
        answer["usage"]["total"],
        answer["usage"]["input"].as_u64().unwrap() + 3
    );
    assert_eq!(answer["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(answer["attempts"][0]["status"], 500);
    assert_eq!(answer["attempts"][1]["outcome"], "ok");
    let sent = &backup.requests()[0]["body"];
    assert_eq!(sent["messages"][0]["content"], "hello there");
    assert_eq!(
        sent["reasoning_effort"], "none",
        "--thinking off reaches a generic provider as reasoning_effort"
    );

    let plain = run(
        &[
            "agent",
            "--config",
            s(&config),
            "--message",
            "hi",
            "--model",
            "backup/m",
        ],
        &[],
    );
    assert_eq!(text(&plain.stdout), "Hello from clawgate-mock.\n");

    let unknown = run(
        &[
            "agent",
            "--config",
            s(&config),
            "--message",
            "hi",
            "--model",
            "x/y",
        ],
        &[],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert_contains(&text(&unknown.stderr), "unknown model `x/y`");

    let all_down = files.write(
        "down.json",
        &chain_config(
            &failing_mock(503, "server_error").await,
            &failing_mock(429, "engine_overloaded_error").await,
        )
        .to_string(),
        0o644,
    );
    let failed = run(&["agent", "--config", s(&all_down), "--message", "hi"], &[]);
    assert_eq!(failed.status.code(), Some(1));
    let stderr = text(&failed.stderr);
    assert_contains(&stderr, "primary/m (http://");
    assert_contains(&stderr, "/v1/chat/completions): 503 injected failure");
    assert_contains(&stderr, "backup/m (http://");
    assert_contains(&stderr, "/v1/chat/completions): 429 injected failure");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_and_models_list_never_print_a_key() {
    let files = Files::new();
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = env_keyed_config(&primary, &backup);
    config["models"]["providers"]["primary"]["headers"] = json!({
        "X-Api-Key": "${MOCK_KEY}",
        "X-Title": "visible",
        // A secret in a header not named like a credential.
        "X-Custom": "tenant ${MOCK_KEY}",
        // And one written literally under a name of its own.
        "X-Goog-Credential": "cred-0123456789abcdef",
    });
    // And one in a URL query.
    config["models"]["providers"]["backup"]["baseUrl"] =
        json!(format!("{}?key=${{MOCK_KEY}}", backup.base_url()));
    config["agents"]["defaults"]["models"] = json!({"primary/m": {"alias": "main"}});
    let path = files.config(&config);
    let env = [("MOCK_KEY", SECRET)];

    let shown = run(&["config", "show", "--config", s(&path)], &env);
    assert_eq!(shown.status.code(), Some(0));
    let stdout = text(&shown.stdout);
    assert!(!stdout.contains(SECRET), "{stdout}");
    let value: Value = serde_json::from_str(&stdout).unwrap();
    let primary_json = &value["models"]["providers"]["primary"];
    assert_eq!(primary_json["apiKey"], "[redacted]");
    assert_eq!(
        primary_json["models"][0]["headers"]["x-api-key"],
        "[redacted]"
    );
    assert_eq!(primary_json["models"][0]["headers"]["x-title"], "visible");
    // Only headers known to hold no credential are shown.
    for name in ["x-custom", "x-goog-credential"] {
        assert_eq!(primary_json["models"][0]["headers"][name], "[redacted]");
    }
    assert!(!stdout.contains("cred-0123456789abcdef"), "{stdout}");
    let backup_url = value["models"]["providers"]["backup"]["baseUrl"]
        .as_str()
        .unwrap();
    // A query may hold a key under any name: it is not shown at all.
    assert!(backup_url.ends_with("/v1?…"), "{backup_url}");

    let listed = run(&["models", "list", "--config", s(&path)], &env);
    let table = text(&listed.stdout);
    assert!(!table.contains(SECRET));
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("REF") && lines[0].contains("KEY"),
        "{table}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("primary/m")
            && l.contains("generic (default)")
            && l.contains("main")
            && l.ends_with("set")),
        "{table}"
    );

    let json_list = run(
        &[
            "models",
            "list",
            "--config",
            s(&path),
            "--provider",
            "backup",
            "--json",
        ],
        &[],
    );
    let rows: Value = serde_json::from_slice(&json_list.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["ref"], "backup/m");
    assert_eq!(rows[0]["key"], "missing (MOCK_KEY)");

    let unknown = run(
        &["models", "list", "--config", s(&path), "--provider", "nope"],
        &[],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert_contains(&text(&unknown.stderr), "no provider \"nope\"");
    let misspelt = run(
        &[
            "models",
            "list",
            "--config",
            s(&path),
            "--provider",
            "backpu",
        ],
        &[],
    );
    assert_eq!(misspelt.status.code(), Some(1));
    assert_contains(
        &text(&misspelt.stderr),
        "error: no provider \"backpu\" in the config; did you mean `backup`? (configured: backup, primary)",
    );
}

/// The lines `clawgate serve` of the built-in defaults logs (as text) up
/// to the one saying where it listens, with `HOME` at `home`, the two
/// default providers' keys and `env` set.
fn serve_log_to_listening(home: &std::path::Path, env: &[(&str, &std::path::Path)]) -> Vec<String> {
    let mut child = std::process::Command::new(BIN)
        .args(["serve", "--port", "0", "--log-format", "text"])
        .env_clear()
        .env("HOME", home)
        .envs(env.iter().copied())
        .env("MOONSHOT_API_KEY", "k")
        .env("OPENROUTER_API_KEY", "k")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = Vec::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
        let line = line.unwrap();
        let listening = line.contains("listening on");
        lines.push(line);
        if listening {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        lines.last().is_some_and(|l| l.contains("listening on")),
        "{lines:?}"
    );
    lines
}

#[test]
fn serve_without_a_config_file_says_it_runs_on_built_in_defaults() {
    let home = tempfile::tempdir().unwrap();
    let lines = serve_log_to_listening(home.path(), &[]);
    assert_contains(
        lines.last().unwrap(),
        "no config file, built-in defaults; chain moonshot/kimi-k2.6 -> openrouter/moonshotai/kimi-k2.6; listening on http://127.0.0.1:",
    );
}

/// A ledger that cannot be opened is said once, as an error: no line
/// after it names its path as the ledger in use.
#[test]
fn serve_with_a_ledger_it_cannot_open_does_not_name_it_in_use() {
    let home = tempfile::tempdir().unwrap();
    let not_a_dir = home.path().join("state");
    std::fs::write(&not_a_dir, "a file").unwrap();
    let lines = serve_log_to_listening(home.path(), &[("CLAWGATE_STATE_DIR", &not_a_dir)]);
    let lines = lines.join("\n");
    assert_contains(&lines, "cannot open the ledger");
    assert!(!lines.contains("usage ledger: "), "{lines}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_config_keys_env_file_and_port() {
    let files = Files::new();
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = env_keyed_config(&primary, &backup);
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    config["gateway"] = json!({"port": free_port});
    let path = files.config(&config);
    let private = files.write("private.env", &format!("MOCK_KEY={SECRET}\n"), 0o600);
    let shared = files.write("shared.env", &format!("MOCK_KEY={SECRET}\n"), 0o644);

    let ok = run(
        &["doctor", "--config", s(&path), "--env-file", s(&private)],
        &[],
    );
    let stdout = text(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{stdout}");
    assert_contains(&stdout, "ok   env file");
    assert_contains(&stdout, "ok   provider primary (in the chain): key set");
    assert_contains(&stdout, &format!("ok   127.0.0.1:{free_port} is free"));
    assert!(!stdout.contains(SECRET));

    let exposed = run(
        &["doctor", "--config", s(&path), "--env-file", s(&shared)],
        &[],
    );
    assert_eq!(exposed.status.code(), Some(1));
    assert_contains(
        &text(&exposed.stdout),
        "readable by group or others (mode 644)",
    );

    // A ledger serve could not open: a folder in its place, or a file in
    // its folder's.
    let dir = files.dir.path();
    let ledger_dir = dir.join("ledger-dir");
    std::fs::create_dir_all(ledger_dir.join("ledger.db")).unwrap();
    for state in [ledger_dir, dir.join("private.env")] {
        let unusable = run(
            &["doctor", "--config", s(&path), "--env-file", s(&private)],
            &[("CLAWGATE_STATE_DIR", s(&state))],
        );
        assert_eq!(unusable.status.code(), Some(1), "{state:?}");
        assert_contains(&text(&unusable.stdout), "FAIL ledger: ");
    }

    let no_key = run(&["doctor", "--config", s(&path)], &[]);
    assert_eq!(no_key.status.code(), Some(1));
    assert_contains(
        &text(&no_key.stdout),
        "FAIL provider primary (in the chain): MOCK_KEY is not set",
    );

    config["gateway"] = json!({"port": busy.local_addr().unwrap().port()});
    let busy_path = files.write("busy.json", &config.to_string(), 0o644);
    let in_use = run(
        &[
            "doctor",
            "--config",
            s(&busy_path),
            "--env-file",
            s(&private),
        ],
        &[],
    );
    assert_eq!(in_use.status.code(), Some(1));
    assert_contains(&text(&in_use.stdout), "FAIL cannot listen on");
}

/// A built-in provider the config neither writes nor chains needs no key:
/// doctor says so without a warning, as validation stays quiet about it;
/// one the config writes is warned about.
#[test]
fn doctor_warns_of_a_missing_key_only_where_the_config_names_the_provider() {
    let files = Files::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let keys = [("MOONSHOT_API_KEY", "k"), ("OPENROUTER_API_KEY", "k")];
    let quiet = files.config(&json!({"gateway": {"port": port}}));
    let stdout = text(&run(&["doctor", "--config", s(&quiet)], &keys).stdout);
    assert_contains(
        &stdout,
        "ok   provider kimi (built in, not in the chain): KIMI_API_KEY is not set, needed only if the chain or a request names one of its models",
    );
    assert!(!stdout.contains("warn provider kimi"), "{stdout}");
    let written = files.config(&json!({"gateway": {"port": port},
        "models": {"providers": {"kimi": {"headers": {"X-Title": "t"}}}}}));
    let stdout = text(&run(&["doctor", "--config", s(&written)], &keys).stdout);
    assert_contains(
        &stdout,
        "warn provider kimi (not in the chain): KIMI_API_KEY is not set",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_public_address_without_a_token() {
    let output = run(
        &["serve", "--bind", "0.0.0.0", "--port", "0"],
        &[("MOONSHOT_API_KEY", "k"), ("OPENROUTER_API_KEY", "k")],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_contains(
        &text(&output.stderr),
        "refusing to listen on 0.0.0.0 without gateway.auth.token",
    );
}

/// `--port` on OpenClaw's ports is refused as the file's `gateway.port`
/// is: the flag overrides the file, not its checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_openclaws_ports_from_the_flag_too() {
    for port in ["18789", "18850"] {
        let output = run(
            &["serve", "--port", port],
            &[("MOONSHOT_API_KEY", "k"), ("OPENROUTER_API_KEY", "k")],
        );
        assert_eq!(output.status.code(), Some(1), "{port}");
        assert_contains(
            &text(&output.stderr),
            &format!("--port {port} is OpenClaw's (it listens on 18789-18793 and 18800-18899)"),
        );
    }
}

/// A running `clawgate serve` with its log lines collected.
struct Served {
    child: Child,
    url: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Served {
    async fn start(config: &Path, env_file: &Path, notify: &Path) -> Self {
        Self::start_with(config, env_file, notify, &[]).await
    }

    async fn start_with(config: &Path, env_file: &Path, notify: &Path, extra: &[&str]) -> Self {
        let args = [&["--config", s(config)], extra].concat();
        Self::spawn(&args, &[], env_file, notify).await
    }

    /// `clawgate serve` on a port of its own with `env_file` and `args`,
    /// in an environment of `vars` alone, telling systemd at `notify`.
    async fn spawn(args: &[&str], vars: &[(&str, &Path)], env_file: &Path, notify: &Path) -> Self {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--port",
                "0",
                "--log-format",
                "text",
                "--env-file",
                s(env_file),
            ])
            .args(args)
            .env_clear()
            .envs(vars.iter().copied())
            .env("NOTIFY_SOCKET", notify)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let url = loop {
            let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
                .await
                .expect("clawgate logs its address")
                .unwrap()
                .expect("clawgate is running");
            logs.lock().unwrap().push(line.clone());
            if let Some(at) = line.find("listening on http://") {
                let rest = &line[at + "listening on ".len()..];
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        let sink = logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, url, logs }
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }

    async fn chat(&self) -> reqwest::Response {
        self.chat_with_token(None).await
    }

    async fn chat_with_token(&self, token: Option<&str>) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .post(format!("{}/v1/chat/completions", self.url))
            .json(&json!({"messages": user_message()}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

/// The next sd_notify datagram.
async fn notification(socket: &tokio::net::UnixDatagram) -> String {
    let mut buffer = vec![0; 4096];
    loop {
        let size = tokio::time::timeout(Duration::from_secs(20), socket.recv(&mut buffer))
            .await
            .expect("a notification arrives")
            .unwrap();
        let text = String::from_utf8_lossy(&buffer[..size]).into_owned();
        // The live status line (tests/ledger_serve.rs checks it) comes
        // between the lifecycle notifications these tests follow.
        if !(text.starts_with("STATUS=") && text.trim_end().lines().count() == 1) {
            return text;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_notifies_systemd_reloads_on_sighup_and_drains_on_sigterm() {
    let files = Files::new();
    let primary = mock(MockOptions {
        fail_status: Some(500),
        fail_message: format!("echo {SECRET}"),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let config_path = files.config(&env_keyed_config(&primary, &backup));
    let env_file = files.write("secrets.env", &format!("MOCK_KEY={SECRET}\n"), 0o600);
    let notify_path = files.dir.path().join("notify.sock");
    let socket = tokio::net::UnixDatagram::from_std({
        let socket = UnixDatagram::bind(&notify_path).unwrap();
        socket.set_nonblocking(true).unwrap();
        socket
    })
    .unwrap();

    let mut served = Served::start(&config_path, &env_file, &notify_path).await;
    let ready = notification(&socket).await;
    assert_contains(&ready, "READY=1");
    assert_contains(&ready, "STATUS=serving on");

    let response = served.chat().await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");

    // Reload: the new config drops the failing primary.
    let mut reloaded = env_keyed_config(&backup, &backup);
    reloaded["agents"]["defaults"]["model"] = json!({"primary": "backup/m"});
    std::fs::write(&config_path, reloaded.to_string()).unwrap();
    served.signal("HUP");
    assert!(notification(&socket).await.contains("RELOADING=1"));
    assert!(notification(&socket).await.contains("READY=1"));
    let response = served.chat().await;
    assert_eq!(
        header(&response, "x-clawgate-attempts"),
        "1",
        "the reloaded chain serves"
    );

    // An invalid config is refused and the previous one keeps serving.
    std::fs::write(&config_path, "{ agents: ").unwrap();
    served.signal("HUP");
    assert!(notification(&socket).await.contains("RELOADING=1"));
    let after = notification(&socket).await;
    assert_contains(&after, "READY=1");
    assert_contains(&after, "last reload refused: invalid config");
    // Why, not the heading alone (`invalid config (path):`).
    assert_contains(&after, "): invalid JSON5 at line 1");
    assert_eq!(served.chat().await.status(), 200);

    served.signal("TERM");
    assert!(notification(&socket).await.contains("STOPPING=1"));
    let status = tokio::time::timeout(Duration::from_secs(20), served.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");

    let logs = served.logs();
    assert_contains(
        &logs,
        "/v1/chat/completions): provider_error: 500 echo [redacted]; next: retry",
    );
    assert_contains(&logs, "reload refused; the previous config keeps serving");
    assert!(logs.contains("config reloaded"), "{logs}");
    assert!(!logs.contains(SECRET), "no secret in the logs:\n{logs}");
}

/// A notify socket in `files`' directory.
fn notify_socket(files: &Files) -> (PathBuf, tokio::net::UnixDatagram) {
    let path = files.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_nonblocking(true).unwrap();
    (path, tokio::net::UnixDatagram::from_std(socket).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_never_weakens_what_startup_enforced() {
    let files = Files::new();
    let backup = healthy_mock().await;
    let mut config = env_keyed_config(&backup, &backup);
    config["gateway"] = json!({"auth": {"token": "${GATEWAY_TOKEN}"}});
    let config_path = files.config(&config);
    let env_file = files.write(
        "secrets.env",
        &format!("MOCK_KEY={SECRET}\nGATEWAY_TOKEN=gateway-token-77\n"),
        0o600,
    );
    let (notify_path, socket) = notify_socket(&files);
    // The command line opens the listener to every interface.
    let mut served = Served::start_with(
        &config_path,
        &env_file,
        &notify_path,
        &["--bind", "0.0.0.0"],
    )
    .await;
    assert_contains(&notification(&socket).await, "READY=1");
    assert_eq!(served.chat().await.status(), 401);

    // The token is removed from the file: startup would refuse this.
    config["gateway"] = json!({});
    std::fs::write(&config_path, config.to_string()).unwrap();
    served.signal("HUP");
    assert!(notification(&socket).await.contains("RELOADING=1"));
    let status = notification(&socket).await;
    assert_contains(
        &status,
        "last reload refused: refusing to listen on 0.0.0.0 without gateway.auth.token",
    );
    assert_eq!(served.chat().await.status(), 401, "the API stays closed");
    let answered = served.chat_with_token(Some("gateway-token-77")).await;
    assert_eq!(answered.status(), 200);

    // A reload that changes the connect timeout says what it did with it.
    // (The port in the file is overridden by --port 0, as at startup.)
    config["gateway"] = json!({
        "auth": {"token": "${GATEWAY_TOKEN}"},
        "port": 1,
        "timeouts": {"connectSeconds": 3},
    });
    std::fs::write(&config_path, config.to_string()).unwrap();
    served.signal("HUP");
    assert!(notification(&socket).await.contains("RELOADING=1"));
    assert_contains(&notification(&socket).await, "READY=1");
    let answered = served.chat_with_token(Some("gateway-token-77")).await;
    assert_eq!(answered.status(), 200);
    served.signal("TERM");
    let _ = tokio::time::timeout(Duration::from_secs(20), served.child.wait()).await;
    let logs = served.logs();
    assert_contains(&logs, "reload refused; the previous config keeps serving");
    assert!(!logs.contains("takes a restart"), "{logs}");
    assert_contains(&logs, "gateway.timeouts.connectSeconds is now 3s");
    assert!(!logs.contains("gateway-token-77"), "{logs}");
}

/// A secret rotated in the env file is taken on a reload, though the
/// process holds it too, as it was at start (systemd's `EnvironmentFile=`
/// naming the file puts it there): the old token is refused from then on,
/// the new one is taken. A variable the process sets to another value than
/// the file's still wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_takes_a_secret_rotated_in_the_env_file() {
    let backup = healthy_mock().await;
    let mut config = env_keyed_config(&backup, &backup);
    config["gateway"] = json!({"auth": {"token": "${GATEWAY_TOKEN}"}});
    let secrets = |token: &str| format!("MOCK_KEY={SECRET}\nGATEWAY_TOKEN={token}\n");
    let (old, new) = ("gateway-token-old-0001", "gateway-token-new-0002");
    for (process, takes) in [
        (old, new),
        ("gateway-token-own-0003", "gateway-token-own-0003"),
    ] {
        let files = Files::new();
        let config_path = files.config(&config);
        let env_file = files.write("secrets.env", &secrets(old), 0o600);
        let (notify_path, socket) = notify_socket(&files);
        let args = ["--config", s(&config_path)];
        let vars = [("GATEWAY_TOKEN", Path::new(process))];
        let served = Served::spawn(&args, &vars, &env_file, &notify_path).await;
        assert_contains(&notification(&socket).await, "READY=1");
        assert_eq!(served.chat_with_token(Some(process)).await.status(), 200);

        std::fs::write(&env_file, secrets(new)).unwrap();
        served.signal("HUP");
        assert!(notification(&socket).await.contains("RELOADING=1"));
        assert_contains(&notification(&socket).await, "READY=1");
        for token in [old, new, "gateway-token-own-0003"] {
            let status = served.chat_with_token(Some(token)).await.status();
            let expected = if token == takes { 200 } else { 401 };
            assert_eq!(status, expected, "{token}, the process holding {process}");
        }
    }
}

/// Of several env files a later one wins, as with several
/// `EnvironmentFile=` lines: the process holding the later file's value (as
/// systemd gives it), a rotation there is taken on a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_env_file_wins_and_its_rotation_is_taken_on_a_reload() {
    let backup = healthy_mock().await;
    let mut config = env_keyed_config(&backup, &backup);
    config["gateway"] = json!({"auth": {"token": "${GATEWAY_TOKEN}"}});
    let files = Files::new();
    let config_path = files.config(&config);
    let first = files.write(
        "first.env",
        &format!("MOCK_KEY={SECRET}\nGATEWAY_TOKEN=gateway-token-first-01\n"),
        0o600,
    );
    let later = files.write("later.env", "GATEWAY_TOKEN=gateway-token-later-02\n", 0o600);
    let (notify_path, socket) = notify_socket(&files);
    let args = ["--config", s(&config_path), "--env-file", s(&later)];
    let vars = [("GATEWAY_TOKEN", Path::new("gateway-token-later-02"))];
    let served = Served::spawn(&args, &vars, &first, &notify_path).await;
    assert_contains(&notification(&socket).await, "READY=1");
    std::fs::write(&later, "GATEWAY_TOKEN=gateway-token-later-03\n").unwrap();
    served.signal("HUP");
    assert!(notification(&socket).await.contains("RELOADING=1"));
    assert_contains(&notification(&socket).await, "READY=1");
    for (token, expected) in [
        ("gateway-token-first-01", 401),
        ("gateway-token-later-02", 401),
        ("gateway-token-later-03", 200),
    ] {
        assert_eq!(
            served.chat_with_token(Some(token)).await.status(),
            expected,
            "{token}"
        );
    }
}

/// A gateway started from the config at the default location reads that
/// file on a reload and no other: while it is gone (moved aside, written
/// anew by an editor), the built-in defaults, with no key, never serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_while_the_config_is_away_keeps_the_one_serving() {
    let files = Files::new();
    let backup = healthy_mock().await;
    let mut config = env_keyed_config(&backup, &backup);
    config["gateway"] = json!({"auth": {"token": "${GATEWAY_TOKEN}"}});
    let home = files.dir.path().join("xdg");
    let config_path = home.join("clawgate/config.json");
    std::fs::create_dir_all(config_path.parent().unwrap()).unwrap();
    std::fs::write(&config_path, config.to_string()).unwrap();
    // The built-in providers' keys are set too: the defaults would load.
    let env_file = files.write(
        "secrets.env",
        &format!(
            "MOCK_KEY={SECRET}\nGATEWAY_TOKEN=gateway-token-77\n\
             MOONSHOT_API_KEY=sk-moonshot-1\nOPENROUTER_API_KEY=sk-or-1\n"
        ),
        0o600,
    );
    let (notify_path, socket) = notify_socket(&files);
    let vars = [("XDG_CONFIG_HOME", home.as_path())];
    let mut served = Served::spawn(&[], &vars, &env_file, &notify_path).await;
    assert_contains(&notification(&socket).await, "READY=1");
    assert_eq!(served.chat().await.status(), 401);

    let away = config_path.with_extension("json.away");
    std::fs::rename(&config_path, &away).unwrap();
    served.signal("HUP");
    assert!(notification(&socket).await.contains("RELOADING=1"));
    assert_contains(&notification(&socket).await, "last reload refused");
    assert_eq!(served.chat().await.status(), 401, "the API stays closed");

    // Back in place, the file is read again.
    std::fs::rename(&away, &config_path).unwrap();
    served.signal("HUP");
    assert!(notification(&socket).await.contains("RELOADING=1"));
    assert_contains(&notification(&socket).await, "READY=1");
    assert_eq!(served.chat().await.status(), 401);
    let answered = served.chat_with_token(Some("gateway-token-77")).await;
    assert_eq!(answered.status(), 200);

    // A named pipe in its place, which no one writes: the reload is
    // refused once its read has waited its bound, and the next one is not
    // held behind it (it held every reload after it, without a word).
    std::fs::rename(&config_path, &away).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&config_path)
        .status();
    assert!(made.unwrap().success());
    served.signal("HUP");
    assert!(notification(&socket).await.contains("RELOADING=1"));
    assert_contains(
        &notification(&socket).await,
        "last reload refused: reading the config or the env file took more than 10 s",
    );
    std::fs::remove_file(&config_path).unwrap();
    std::fs::rename(&away, &config_path).unwrap();
    served.signal("HUP");
    assert!(notification(&socket).await.contains("RELOADING=1"));
    assert_contains(&notification(&socket).await, "READY=1");
    served.signal("TERM");
    let _ = tokio::time::timeout(Duration::from_secs(20), served.child.wait()).await;
    let logs = served.logs();
    assert_contains(&logs, "a reload reads that file and no other");
    assert!(!logs.contains("built-in defaults chain"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_while_draining_ends_the_requests_at_once() {
    let files = Files::new();
    let hung = mock(MockOptions {
        hang: true,
        ..MockOptions::default()
    })
    .await;
    let mut config = env_keyed_config(&hung, &hung);
    config["gateway"] = json!({"shutdownGraceSeconds": 60});
    let config_path = files.config(&config);
    let env_file = files.write("secrets.env", &format!("MOCK_KEY={SECRET}\n"), 0o600);
    let (notify_path, socket) = notify_socket(&files);
    let mut served = Served::start(&config_path, &env_file, &notify_path).await;
    assert_contains(&notification(&socket).await, "READY=1");
    let url = served.url.clone();
    let in_flight = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{url}/v1/chat/completions"))
            .json(&json!({"messages": user_message()}))
            .send()
            .await
    });
    // The request is in flight once the hung provider has it.
    let arrived = Instant::now();
    while hung.requests().is_empty() {
        assert!(
            arrived.elapsed() < Duration::from_secs(10),
            "the request never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    served.signal("TERM");
    assert!(notification(&socket).await.contains("STOPPING=1"));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), served.child.wait())
            .await
            .is_err(),
        "the first signal drains"
    );
    served.signal("INT");
    let status = tokio::time::timeout(Duration::from_secs(5), served.child.wait())
        .await
        .expect("the second signal ends the drain at once")
        .unwrap();
    assert!(status.success(), "{status:?}");
    // The request in flight is told why it ends.
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "gateway_shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_a_line_without_secrets() {
    let files = Files::new();
    let primary = mock(MockOptions {
        fail_status: Some(502),
        fail_message: format!("upstream saw {SECRET}"),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let config = files.config(&env_keyed_config(&primary, &backup));
    let output = run(
        &[
            "agent",
            "--config",
            s(&config),
            "--message",
            "hi",
            "--log-format",
            "json",
        ],
        &[("MOCK_KEY", SECRET)],
    );
    assert_eq!(output.status.code(), Some(0));
    let stderr = text(&output.stderr);
    assert!(!stderr.contains(SECRET), "{stderr}");
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let failure = lines
        .iter()
        .find(|l| l["fields"]["outcome"] == "provider_error")
        .expect("the failed attempt is logged");
    assert_eq!(failure["level"], "WARN");
    assert_eq!(failure["fields"]["provider"], "primary");
    assert_eq!(failure["fields"]["status"], 502);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_records_requests_as_json_lines() {
    let files = Files::new();
    let record = files.dir.path().join("requests.jsonl");
    let recorder = mock(MockOptions {
        record: Some(record.clone()),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let config = files.config(&chain_config(&recorder, &backup));
    for message in ["one", "two"] {
        let output = run(
            &["agent", "--config", s(&config), "--message", message],
            &[],
        );
        assert_eq!(output.status.code(), Some(0));
    }
    let lines: Vec<Value> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["body"]["messages"][0]["content"], "two");
    assert_eq!(lines[1]["headers"]["content-type"], "application/json");
}

/// A distinctive fake key, run through every scenario: it must appear in no
/// log line, body, event, header, metrics scrape or CLI output.
const CANARY: &str = "sk-LEAKCANARY-7f3a9c2e1d5b";
const CANARY_TOKEN: &str = "gw-LEAKCANARY-token-4c1e";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_leaks_nowhere_in_any_scenario() {
    let files = Files::new();
    let echo = format!("bad key {CANARY} (Authorization: Bearer {CANARY})\nFORGED LOG LINE");
    let denied = mock(MockOptions {
        fail_status: Some(401),
        fail_type: format!("invalid_authentication_error {CANARY}"),
        fail_message: echo.clone(),
        ..MockOptions::default()
    })
    .await;
    let redirect = mock(MockOptions {
        redirect_to: Some(format!("http://127.0.0.1:1/steal?key={CANARY}")),
        ..MockOptions::default()
    })
    .await;
    let midstream = mock(MockOptions {
        error_after_chunks: Some(2),
        fail_type: "server_error".into(),
        fail_message: echo.clone(),
        ..MockOptions::default()
    })
    .await;
    let good = healthy_mock().await;
    let provider = |mock: &MockServer| json!({"baseUrl": mock.base_url(), "apiKey": "${LEAK_KEY}", "models": [{"id": "m"}]});
    let mut good_entry = provider(&good);
    good_entry["baseUrl"] = json!(format!("{}?key=${{LEAK_KEY}}", good.base_url()));
    good_entry["headers"] = json!({"X-Tenant": "tenant ${LEAK_KEY}"});
    let config = json!({
        "gateway": {"auth": {"token": "${GATEWAY_TOKEN}"}},
        "models": {"mode": "replace", "providers": {
            "denied": provider(&denied),
            "redirect": provider(&redirect),
            "midstream": provider(&midstream),
            "good": good_entry,
        }},
        "agents": {"defaults": {"model": {"primary": "denied/m", "fallbacks": ["redirect/m", "good/m"]}}},
    });
    let config_path = files.config(&config);
    let env_file = files.write(
        "secrets.env",
        &format!("LEAK_KEY={CANARY}\nGATEWAY_TOKEN={CANARY_TOKEN}\n"),
        0o600,
    );
    let (notify_path, socket) = notify_socket(&files);
    let mut served = Served::start(&config_path, &env_file, &notify_path).await;
    assert_contains(&notification(&socket).await, "READY=1");

    let client = reqwest::Client::new();
    let mut seen = Vec::new();
    let record = |response: reqwest::Response| async {
        let status = response.status();
        let headers = format!("{:?}", response.headers());
        let body = response.text().await.unwrap();
        (status.as_u16(), format!("{headers}\n{body}"))
    };
    let post = |body: Value, token: Option<&str>| {
        let mut request = client
            .post(format!("{}/v1/chat/completions", served.url))
            .header("x-request-id", "leak-scenario")
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let token = Some(CANARY_TOKEN);
    let scenarios = [
        (json!({"messages": user_message()}), token, 200),
        (
            json!({"messages": user_message(), "stream": true}),
            token,
            200,
        ),
        (
            json!({"messages": user_message(), "stream": true, "model": "midstream/m"}),
            token,
            200,
        ),
        (json!({"messages": user_message()}), None, 401),
        (json!({"messages": user_message()}), Some("wrong"), 401),
        (
            json!({"messages": user_message(), "model": "nope/m"}),
            token,
            404,
        ),
    ];
    for (body, token, status) in scenarios {
        let (got, text) = record(post(body.clone(), token).await.unwrap()).await;
        assert_eq!(got, status, "{body}: {text}");
        seen.push(text);
    }
    let midstream_event = &seen[2];
    assert!(midstream_event.contains("\"error\""), "{midstream_event}");
    let bad_json = client
        .post(format!("{}/v1/chat/completions", served.url))
        .bearer_auth(CANARY_TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    seen.push(record(bad_json).await.1);
    for path in ["/v1/models", "/metrics"] {
        let response = client
            .get(format!("{}{path}", served.url))
            .bearer_auth(CANARY_TOKEN)
            .send()
            .await
            .unwrap();
        seen.push(record(response).await.1);
    }
    served.signal("TERM");
    let _ = tokio::time::timeout(Duration::from_secs(20), served.child.wait()).await;
    seen.push(served.logs());

    let source = ["--config", s(&config_path), "--env-file", s(&env_file)];
    let commands: [&[&str]; 6] = [
        &["config", "show"],
        &["config", "validate"],
        &["config", "validate", "--json"],
        &["models", "list"],
        &["doctor"],
        &["agent", "--message", "hi", "--json"],
    ];
    for command in commands {
        let args: Vec<&str> = command.iter().chain(source.iter()).copied().collect();
        let output = run(&args, &[]);
        seen.push(format!(
            "{command:?}\n{}\n{}",
            text(&output.stdout),
            text(&output.stderr)
        ));
    }

    // The key was in play: the provider received it, with the tenant header.
    let sent = &good.requests()[0]["headers"];
    assert_eq!(sent["authorization"], format!("Bearer {CANARY}"));
    assert_eq!(sent["x-tenant"], format!("tenant {CANARY}"));
    for text in &seen {
        for secret in [CANARY, CANARY_TOKEN, "LEAKCANARY"] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
    }
    // The provider's forged line never became a log line of its own.
    let logs = &seen[seen.len() - 7];
    assert!(
        !logs.lines().any(|line| line.starts_with("FORGED LOG LINE")),
        "{logs}"
    );
    assert!(
        logs.contains("[redacted]"),
        "the scrubbing is visible:\n{logs}"
    );
    // Every line a request logs carries its id.
    let attempts: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("attempt failed"))
        .collect();
    assert!(!attempts.is_empty(), "{logs}");
    for line in attempts {
        assert!(line.contains("request{id=leak-scenario}"), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openclaw_provider_prints_the_snippet_and_never_a_literal_token() {
    let files = Files::new();
    let referenced = files.config(&json!({
        "gateway": {"port": 18701, "auth": {"token": "${CLAWGATE_TOKEN}"}},
        "agents": {"defaults": {"model": {"primary": "kimi-coding/k2p5", "fallbacks": ["openrouter/moonshotai/kimi-k2.6"]}}},
    }));
    let output = run(&["openclaw", "provider", "--config", s(&referenced)], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let snippet: Value = serde_json::from_slice(&output.stdout).unwrap();
    // The whole excerpt of OpenClaw's config: the entry and the default
    // model that uses it, the chain's primary under the provider's id.
    assert_eq!(snippet["models"]["mode"], "merge");
    assert_eq!(
        snippet["agents"]["defaults"]["model"]["primary"],
        "clawgate/kimi/kimi-for-coding"
    );
    let entry = &snippet["models"]["providers"]["clawgate"];
    assert_eq!(entry["baseUrl"], "http://127.0.0.1:18701/v1");
    assert_eq!(entry["api"], "openai-completions");
    assert_eq!(entry["apiKey"], "${CLAWGATE_TOKEN}");
    let ids: Vec<&str> = entry["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["kimi/kimi-for-coding", "openrouter/moonshotai/kimi-k2.6"]
    );
    let first = &entry["models"][0];
    assert_eq!(first["contextWindow"], 262_144);
    assert_eq!(first["maxTokens"], 32_768);
    // What makes OpenClaw offer /think off..high and send it.
    assert_eq!(first["reasoning"], true);
    assert_eq!(first["compat"]["supportsReasoningEffort"], true);

    let literal = files.write(
        "literal.json",
        &json!({"gateway": {"auth": {"token": SECRET}}}).to_string(),
        0o600,
    );
    let output = run(
        &["openclaw", "provider", "--config", s(&literal)],
        &[("MOONSHOT_API_KEY", "k"), ("OPENROUTER_API_KEY", "k")],
    );
    let shown = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(!shown.contains(SECRET), "{shown}");
    assert_contains(&shown, "\"apiKey\": \"${CLAWGATE_TOKEN}\"");
    assert_contains(&shown, "gateway.auth.token is written literally");

    // OpenClaw's own config (`gateway.mode`): its token is OpenClaw's,
    // which clawgate does not take, so OpenClaw is not told to send it.
    let openclaws = files.config(&json!({"gateway": {"mode": "local",
        "auth": {"token": "${OPENCLAW_GATEWAY_TOKEN}"}}}));
    let output = run(&["openclaw", "provider", "--config", s(&openclaws)], &[]);
    let snippet: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        snippet["models"]["providers"]["clawgate"]["apiKey"],
        "clawgate-local"
    );

    // A gateway of clients takes no placeholder: the client's own key
    // reference, and the models it may use; without one named, a
    // reference and a word on how to name one.
    let teams = files.config(&json!({
        "gateway": {"clients": {"openclaw": {"key": "${OC_KEY}", "models": ["openrouter/moonshotai/kimi-k2.6"]},
                                "ci": {"key": format!("sha256:{}", "a".repeat(64))}}},
        "agents": {"defaults": {"model": {"primary": "kimi-coding/k2p5", "fallbacks": ["openrouter/moonshotai/kimi-k2.6"]}}},
    }));
    let provider = |more: &[&str]| {
        let mut args = vec!["openclaw", "provider", "--config", s(&teams)];
        args.extend(more);
        let output = run(&args, &[]);
        let snippet = serde_json::from_slice::<Value>(&output.stdout).unwrap_or_default();
        (output.status.code(), snippet, text(&output.stderr))
    };
    let (code, snippet, said) = provider(&["--client", "openclaw"]);
    assert_eq!(code, Some(0), "{said}");
    let entry = &snippet["models"]["providers"]["clawgate"];
    assert_eq!(entry["apiKey"], "${OC_KEY}");
    assert_eq!(entry["models"].as_array().unwrap().len(), 1);
    assert_eq!(
        snippet["agents"]["defaults"]["model"]["primary"],
        "clawgate/openrouter/moonshotai/kimi-k2.6"
    );
    let (_, snippet, said) = provider(&[]);
    assert_eq!(
        snippet["models"]["providers"]["clawgate"]["apiKey"],
        "${CLAWGATE_KEY}"
    );
    assert_contains(&said, "pass --client NAME");
    let (_, snippet, said) = provider(&["--client", "ci"]);
    assert_eq!(
        snippet["models"]["providers"]["clawgate"]["apiKey"],
        "${CLAWGATE_KEY}"
    );
    assert_contains(&said, "known here only by its SHA-256");
    let (code, _, said) = provider(&["--client", "bob"]);
    assert_eq!(code, Some(1));
    assert_contains(
        &said,
        "no client \"bob\" under gateway.clients (it has: ci, openclaw)",
    );

    // The clients may be in a file the config includes, as OpenClaw's may.
    files.write(
        "clients.json",
        &json!({"openclaw": {"key": "${OC_KEY}"}}).to_string(),
        0o600,
    );
    let included = files.write(
        "included.json",
        &json!({"gateway": {"clients": {"$include": "./clients.json"}}}).to_string(),
        0o600,
    );
    let output = run(
        &[
            "openclaw",
            "provider",
            "--config",
            s(&included),
            "--client",
            "openclaw",
        ],
        &[("MOONSHOT_API_KEY", "k"), ("OPENROUTER_API_KEY", "k")],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let snippet: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        snippet["models"]["providers"]["clawgate"]["apiKey"],
        "${OC_KEY}"
    );
    // OpenClaw reaches a wildcard listener at loopback of its family.
    for (bind, base_url) in [
        ("0.0.0.0", "http://127.0.0.1:18700/v1"),
        ("::", "http://[::1]:18700/v1"),
        ("::1", "http://[::1]:18700/v1"),
        ("192.0.2.7", "http://192.0.2.7:18700/v1"),
    ] {
        let bound = files.config(&json!({"gateway": {"bind": bind,
            "clients": {"openclaw": {"key": "${OC_KEY}"}}}}));
        let args = [
            "openclaw",
            "provider",
            "--config",
            s(&bound),
            "--client",
            "openclaw",
        ];
        let output = run(&args, &[]);
        let snippet: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        let entry = &snippet["models"]["providers"]["clawgate"];
        assert_eq!(entry["baseUrl"], base_url, "{}", text(&output.stderr));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_runs_every_check_and_reports_each_problem_once() {
    let files = Files::new();
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    // A literal key in a file others can read, a missing env file, and a
    // chain whose keys are not set: all reported, each once.
    let mut config = env_keyed_config(&primary, &backup);
    config["models"]["providers"]["backup"]["apiKey"] = json!(SECRET);
    config["gateway"] = json!({"port": 0});
    let path = files.config(&config);
    let missing_env = files.dir.path().join("absent.env");
    let output = run(
        &[
            "doctor",
            "--config",
            s(&path),
            "--env-file",
            s(&missing_env),
        ],
        &[],
    );
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(!stdout.contains(SECRET), "{stdout}");
    assert!(
        !text(&output.stderr).contains("error:"),
        "{}",
        text(&output.stderr)
    );
    for expected in [
        "FAIL cannot read env file",
        "ok   config",
        &format!(
            "FAIL config {} is readable by group or others (mode 644); run chmod 600 on it (it holds secrets)",
            path.display()
        ),
        "warn config: models.providers.backup.apiKey: a secret written in the config file; write \"${BACKUP_API_KEY}\" here, and its value in the env file clawgate reads (~/.config/clawgate/secrets.env, or the one --env-file names; under systemd, the service's EnvironmentFile=), chmod 600",
        // The backup has its key: serve would start and skip the primary.
        "warn provider primary (in the chain): MOCK_KEY is not set; requests skip it until it has a value; export it, or put it in the env file clawgate reads (~/.config/clawgate/secrets.env, or the one --env-file names; under systemd, the service's EnvironmentFile=)",
        "ok   provider backup (in the chain): key set",
        "ok   127.0.0.1:0 is free",
        "checks: ",
    ] {
        assert_eq!(
            stdout.matches(expected).count(),
            1,
            "{expected:?} once in:\n{stdout}"
        );
    }

    // An invalid config is one failure listing every error; the checks that
    // need a config say they were skipped.
    let bad = files.write("bad.json", r#"{"gateway": {"authToken": "t"}}"#, 0o600);
    let output = run(&["doctor", "--config", s(&bad)], &[]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout.matches("FAIL").count(), 1, "{stdout}");
    assert_contains(&stdout, "gateway.authToken: unknown key");
    assert_contains(&stdout, "warn keys, port and probes not checked");
}

/// `clawgate doctor`'s exit code and output for a chain of two mocks keyed
/// by `${MOCK_KEY}`, the config as `edit` leaves it, and `env` as the env
/// file.
async fn doctor_with_env_file(env: &str, edit: impl FnOnce(&mut Value)) -> (Option<i32>, String) {
    let files = Files::new();
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = env_keyed_config(&primary, &backup);
    config["gateway"] = json!({"port": 0});
    edit(&mut config);
    let path = files.config(&config);
    let env = files.write("secrets.env", env, 0o600);
    let output = run(
        &["doctor", "--config", s(&path), "--env-file", s(&env)],
        &[],
    );
    (output.status.code(), text(&output.stdout))
}

/// An env file with a line that cannot be read is a failure naming that
/// line; the checks after it see the variables its other lines set, so a
/// key that is there is not reported as missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reads_the_good_lines_of_an_env_file_with_a_bad_one() {
    let env = "export OTHER_KEY=sk-other-0123456789\nMOCK_KEY=sk-mock-0123456789\n";
    let (code, stdout) = doctor_with_env_file(env, |_| ()).await;
    assert_eq!(code, Some(1), "{stdout}");
    assert_contains(
        &stdout,
        "secrets.env:1: invalid variable name: `export` is shell syntax",
    );
    assert_contains(&stdout, "ok   provider primary (in the chain): key set");
    assert!(!stdout.contains("MOCK_KEY is not set"), "{stdout}");
}

/// A key variable set but empty in the env file is said to be so, with
/// what to do about that, not "not set" and to export it: the user looking
/// at the file sees it there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_says_a_key_variable_is_set_but_empty() {
    let env = "MOCK_KEY=\nBACKUP_KEY=sk-backup-0123456789\n";
    let (_, stdout) = doctor_with_env_file(env, |config| {
        config["models"]["providers"]["backup"]["apiKey"] = json!("${BACKUP_KEY}");
    })
    .await;
    assert_contains(
        &stdout,
        "warn provider primary (in the chain): MOCK_KEY is set but empty; requests skip it until it has a value; give it its value in the env file clawgate reads",
    );
    assert!(!stdout.contains("MOCK_KEY is not set"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_probe_contacts_each_target_and_classifies_failures() {
    let files = Files::new();
    let healthy = healthy_mock().await;
    let overloaded = failing_mock(503, "engine_overloaded_error").await;
    let mut config = env_keyed_config(&healthy, &overloaded);
    config["gateway"] = json!({"port": 0});
    let path = files.config(&config);
    let env = files.write("keys.env", &format!("MOCK_KEY={SECRET}\n"), 0o600);
    let output = run(
        &[
            "doctor",
            "--probe",
            "--config",
            s(&path),
            "--env-file",
            s(&env),
        ],
        &[],
    );
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert_contains(&stdout, "ok   probe primary/m: 200 in ");
    assert_contains(&stdout, "FAIL probe backup/m: provider_error (503) in ");
    assert_contains(
        &stdout,
        &format!("({}/chat/completions)", overloaded.base_url()),
    );
    assert_eq!(healthy.requests().len(), 1);
    assert!(!stdout.contains(SECRET), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_says_what_it_loaded_and_takes_bind_localhost() {
    let files = Files::new();
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let config_path = files.config(&env_keyed_config(&primary, &backup));
    let env_file = files.write("keys.env", &format!("MOCK_KEY={SECRET}\n"), 0o600);
    let (notify, _socket) = notify_socket(&files);
    let served =
        Served::start_with(&config_path, &env_file, &notify, &["--bind", "localhost"]).await;
    assert!(
        served.url.starts_with("http://127.0.0.1:"),
        "{}",
        served.url
    );
    assert_contains(
        &served.logs(),
        &format!(
            "config {}; chain primary/m -> backup/m; listening on http://127.0.0.1:",
            config_path.display()
        ),
    );
    assert_eq!(served.chat().await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_prints_every_targets_health_from_the_running_gateway() {
    let files = Files::new();
    let (primary, backup) = (
        failing_mock(401, "invalid_authentication_error").await,
        healthy_mock().await,
    );
    let mut config = env_keyed_config(&primary, &backup);
    // Telemetry whose endpoint is in the service's environment file only.
    config["gateway"] = json!({"auth": {"token": "${GATEWAY_TOKEN}"},
        "budgets": {"daily": 5, "unpriced": "allow"}, "telemetry": {"enabled": true}});
    let config_path = files.config(&config);
    let env_file = files.write(
        "secrets.env",
        &format!("MOCK_KEY={SECRET}\nGATEWAY_TOKEN=gateway-token-77\nOTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9\n"),
        0o600,
    );
    let (notify_path, _socket) = notify_socket(&files);
    let served = Served::start(&config_path, &env_file, &notify_path).await;
    let answered = served.chat_with_token(Some("gateway-token-77")).await;
    assert_eq!(header(&answered, "x-clawgate-provider"), "backup");

    let status = |extra: &[&str]| {
        let mut args = vec![
            "status",
            "--config",
            s(&config_path),
            "--env-file",
            s(&env_file),
            "--url",
            &served.url,
        ];
        args.extend_from_slice(extra);
        run(&args, &[])
    };
    let table = status(&[]);
    assert_eq!(table.status.code(), Some(0), "{}", text(&table.stderr));
    let table = text(&table.stdout);
    let row = |target: &str| {
        table
            .lines()
            .find(|l| l.starts_with(target))
            .unwrap_or_else(|| panic!("a row for {target}:\n{table}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert!(table.starts_with("TARGET"), "{table}");
    let primary_row = row("primary/m");
    assert_eq!(&primary_row[1..3], ["1", "cooling_down"], "{table}");
    assert!(primary_row[3].ends_with('s'), "{table}");
    assert_eq!(primary_row[4], "auth=1", "{table}");
    assert_eq!(&row("backup/m")[1..3], ["2", "healthy"], "{table}");
    // The budgets and the last hour of GET /v1/status, under the targets.
    assert_eq!(
        row("all traffic")[..7],
        ["all", "traffic", "day", "$0.00", "$5.00", "0%", "1"],
        "{table}"
    );
    let hour = table
        .lines()
        .skip_while(|line| !line.starts_with("LAST HOUR"))
        .nth(1)
        .unwrap_or_else(|| panic!("the last hour:\n{table}"));
    assert_eq!(
        hour.split_whitespace().take(5).collect::<Vec<_>>(),
        ["1", "request", "0.02", "1", "0"],
        "{table}"
    );

    let json = status(&["--json"]);
    let body: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(body["defaultChain"], json!(["primary/m", "backup/m"]));

    // A shell that has the gateway token but none of the providers' keys
    // nor the telemetry endpoint (they live in the service's environment
    // file) still gets the table.
    let token_only = run(
        &["status", "--config", s(&config_path), "--url", &served.url],
        &[("GATEWAY_TOKEN", "gateway-token-77")],
    );
    assert_eq!(
        token_only.status.code(),
        Some(0),
        "{}",
        text(&token_only.stderr)
    );
    assert!(text(&token_only.stdout).starts_with("TARGET"));

    // Without the token the gateway refuses, and the command says so.
    let wrong = files.write(
        "wrong.env",
        &format!("MOCK_KEY={SECRET}\nGATEWAY_TOKEN=nope\n"),
        0o600,
    );
    let refused = run(
        &[
            "status",
            "--config",
            s(&config_path),
            "--env-file",
            s(&wrong),
            "--url",
            &served.url,
        ],
        &[],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert_contains(&text(&refused.stderr), "answered 401");
    assert!(!text(&refused.stderr).contains(SECRET));
}

/// `clawgate config show | head` and the like: every command that prints,
/// its stdout a pipe whose reader has already gone (so the first write
/// finds it closed, whatever the output's length), ends at once with the
/// status a shell gives a writer its reader left, and says nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_leaves_early_ends_every_command_quietly() {
    let files = Files::new();
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let config = files.config(&env_keyed_config(&primary, &backup));
    let ledger = files.dir.path().join("ledger.db");
    clawgate::ledger::store::Store::open(&ledger).unwrap();
    let gw = gateway(chain_config(&primary, &backup)).await;
    let config = s(&config);
    let commands: [&[&str]; 9] = [
        &["config", "show", "--config", config],
        &["config", "validate", "--config", config],
        &["models", "list", "--config", config],
        &["doctor", "--config", config],
        &["openclaw", "provider", "--config", config],
        &["status", "--config", config, "--url", &gw.url],
        &["usage", "--ledger", s(&ledger)],
        &["agent", "--config", config, "--message", "hello"],
        &["agent", "--config", config, "--message", "hello", "--json"],
    ];
    for args in commands {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = clawgate(args)
            .env("MOCK_KEY", SECRET)
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = text(&output.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "clawgate {args:?}:\n{stderr}"
        );
        assert_eq!(
            output.status.code(),
            Some(141),
            "clawgate {args:?}:\n{stderr}"
        );
    }
}

/// A command's errors to a stderr nobody reads (`2>&1 | head -1`) are
/// lost, and the command still ends with the status it reports them with.
#[test]
fn a_closed_stderr_keeps_the_exit_status() {
    let files = Files::new();
    let config = files.config(&json!({"gateway": {"prot": 1}, "ledger": {"retentionDays": 0}}));
    for args in [
        &["config", "validate", "--offline", "--config", s(&config)][..],
        &["usage", "--limit", "5", "--ledger", "/nonexistent"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = clawgate(args).stderr(writer).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "clawgate {args:?}");
    }
}

/// `--ledger` is a SQLite file: a database's URL there is refused without
/// being echoed, since it holds its password.
#[test]
fn usage_refuses_a_url_as_its_ledger_without_echoing_it() {
    let output = run(
        &[
            "usage",
            "--ledger",
            "postgres://ops:Pa55-w0rd-secret@db.example/clawgate",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("error: --ledger takes a SQLite file, not a URL"),
        "{stderr}"
    );
    assert!(!stderr.contains("Pa55"), "{stderr}");
}

/// `--limit` is the most sessions listed: asked without `--by session`,
/// it would be ignored, so it is refused.
#[test]
fn usage_refuses_a_limit_without_sessions() {
    let output = run(
        &[
            "usage",
            "--limit",
            "5",
            "--by",
            "model",
            "--ledger",
            "/nonexistent",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        "error: --limit: only with --by session (it is the most sessions listed)\n"
    );
}

#[test]
fn serve_on_a_port_in_use_says_what_to_do() {
    let files = Files::new();
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let config = files.config(&json!({"gateway": {"port": port},
        "models": {"providers": {"moonshot": {"apiKey": "k"}, "openrouter": {"apiKey": "k"}}}}));
    let expected = format!(
        "cannot listen on 127.0.0.1:{port}: Address already in use (os error 98): another process \
         listens there, often a clawgate already running (`systemctl --user status clawgate` shows \
         the service); stop it, or pick another port with --port or gateway.port"
    );
    let served = run(&["serve", "--config", s(&config)], &[]);
    assert_eq!(served.status.code(), Some(1));
    let stderr = text(&served.stderr);
    assert!(
        stderr
            .lines()
            .any(|line| line == format!("error: {expected}")),
        "{stderr}"
    );
    let doctor = run(&["doctor", "--config", s(&config)], &[]);
    assert_contains(&text(&doctor.stdout), &format!("FAIL {expected}\n"));
}

/// A ledger row as the gateway writes it: answered by `model` today, with
/// `cost` (`None`: the model has no price).
fn answered(model: &str, cost: Option<f64>) -> clawgate::ledger::Row {
    clawgate::ledger::Row {
        cost_usd: cost,
        ..common::rows::answered(model)
    }
}

/// The same, answered by `model` after the primary failed.
fn fell_over_to(model: &str, cost: Option<f64>) -> clawgate::ledger::Row {
    let attempts = vec![
        "moonshot/kimi-k2.6:provider_error".into(),
        format!("{model}:ok"),
    ];
    clawgate::ledger::Row {
        attempts,
        ..answered(model, cost)
    }
}

#[test]
fn usage_says_a_cost_is_unknown_and_a_free_model_costs_nothing() {
    let files = Files::new();
    let path = files.dir.path().join("ledger.db");
    let (mut store, _) = clawgate::ledger::store::Store::open(&path).unwrap();
    store
        .write(&[
            answered("kimi/kimi-for-coding", None),
            answered("kimi/kimi-for-coding", None),
            answered("local/free", Some(0.0)),
            answered("openrouter/k2", Some(0.5)),
            answered("openrouter/k2", None),
            answered("openrouter/tiny", Some(0.00002)),
            fell_over_to("openrouter/auto", None),
            fell_over_to("openrouter/k3", Some(0.25)),
            fell_over_to("openrouter/k3", None),
            answered("openrouter/cut", None),
            clawgate::ledger::Row {
                end: "client_left",
                ..fell_over_to("openrouter/cut", Some(0.1))
            },
        ])
        .unwrap();
    drop(store);
    let output = run(
        &[
            "usage",
            "--since",
            "today",
            "--by",
            "model",
            "--ledger",
            s(&path),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let table = text(&output.stdout);
    // The cost, or with `fallback` the fallbacks' cost, of a line.
    let column = |key: &str, fallback: bool| {
        let line = table
            .lines()
            .find(|line| line.split_whitespace().nth(1) == Some(key))
            .unwrap_or_else(|| panic!("a line for {key}:\n{table}"));
        let cells: Vec<&str> = line.split("  ").filter(|c| !c.is_empty()).collect();
        cells[cells.len() - 3 + usize::from(fallback)]
            .trim()
            .to_string()
    };
    let cost = |key: &str| column(key, false);
    assert_eq!(cost("kimi/kimi-for-coding"), "unknown", "{table}");
    assert_eq!(cost("local/free"), "$0.0000", "{table}");
    assert_eq!(cost("openrouter/k2"), "$0.5000 + unknown", "{table}");
    // Spent, however little, is not what a free model costs.
    assert_eq!(cost("openrouter/tiny"), "<$0.0001", "{table}");
    // So are the fallbacks' answers.
    assert_eq!(column("openrouter/auto", true), "unknown", "{table}");
    assert_eq!(
        column("openrouter/k3", true),
        "$0.2500 + unknown",
        "{table}"
    );
    assert_eq!(column("openrouter/k2", true), "$0.0000", "{table}");
    // A fallback cut short is no answer: the uncosted one is the other's.
    assert_eq!(column("openrouter/cut", true), "$0.1000", "{table}");
    assert!(
        table.ends_with(
            "unknown cost: answers of a model without a price (set its cost in \
             models.providers.<id>.models[].cost) or without the usage that prices them; \
             the uncosted column counts them\n"
        ),
        "{table}"
    );
}

/// By session, as by model: a cost none of whose answers had a price is
/// unknown, never $0.0000; and `--csv` lists the sessions, a spreadsheet
/// formula in a client's session id escaped.
#[test]
fn usage_by_session_says_a_cost_is_unknown_and_lists_sessions_as_csv() {
    let files = Files::new();
    let path = files.dir.path().join("ledger.db");
    let (mut store, _) = clawgate::ledger::store::Store::open(&path).unwrap();
    let in_session = |session: &str, cost: Option<f64>| clawgate::ledger::Row {
        session: Some(session.into()),
        uncached_cost_usd: cost,
        ..answered("kimi/kimi-for-coding", cost)
    };
    store
        .write(&[
            in_session("unpriced", None),
            in_session("=HYPERLINK(1)", Some(0.25)),
            in_session("=HYPERLINK(1)", None),
        ])
        .unwrap();
    drop(store);
    let usage = |more: &[&str]| {
        let args = [
            &[
                "usage",
                "--since",
                "today",
                "--by",
                "session",
                "--ledger",
                s(&path),
            ][..],
            more,
        ]
        .concat();
        let output = run(&args, &[]);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        text(&output.stdout)
    };
    let table = usage(&[]);
    let line = |session: &str| {
        (table.lines())
            .find(|line| line.starts_with(session))
            .unwrap_or_else(|| panic!("a line for {session}:\n{table}"))
            .to_string()
    };
    let last_three: Vec<String> = (line("unpriced ").split_whitespace().rev().take(3))
        .map(String::from)
        .collect();
    assert_eq!(last_three, ["unknown"; 3], "{table}");
    assert!(
        line("=HYPERLINK(1) ").contains("$0.2500 + unknown"),
        "{table}"
    );
    // Its priced turn read nothing from the cache: it saved $0.0000, and
    // what the other saved is unknown.
    assert!(
        line("=HYPERLINK(1) ").ends_with("$0.0000 + unknown"),
        "{table}"
    );
    let csv = usage(&["--csv"]);
    let mut lines = csv.lines();
    assert!(
        lines.next().unwrap().starts_with("session,client,"),
        "{csv}"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(
        rows.iter()
            .any(|row| row.starts_with("'=HYPERLINK(1),alice,")),
        "{csv}"
    );
    assert!(
        rows.iter().any(|row| row.starts_with("unpriced,alice,")),
        "{csv}"
    );
}

#[test]
fn usage_for_a_client_there_is_not_says_so_and_names_those_there_are() {
    let files = Files::new();
    let path = files.dir.path().join("ledger.db");
    let (mut store, _) = clawgate::ledger::store::Store::open(&path).unwrap();
    let ci = clawgate::ledger::Row {
        client: "ci".into(),
        ..common::rows::answered("p/m")
    };
    store.write(&[common::rows::answered("p/m"), ci]).unwrap();
    drop(store);
    let usage = |client: &str, source: &[&str], env: &[(&str, &str)]| {
        let args = [
            &["usage", "--since", "today", "--client", client][..],
            source,
        ]
        .concat();
        run(&args, env)
    };
    let ledger = ["--ledger", s(&path)];
    let found = usage("ci", &ledger, &[]);
    assert_eq!(found.status.code(), Some(0), "{}", text(&found.stderr));
    let refused = usage("cj", &ledger, &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        text(&refused.stderr),
        "error: --client \"cj\": no such client in the ledger; did you mean `ci`? (the clients are alice, ci)\n"
    );
    // A configured client with no request yet has a report of zeros; the
    // config's clients are named too.
    let config = files.config(&json!({"gateway": {"clients": {"bob": {"key": "${BOB_KEY}"}}}}));
    let config = ["--config", s(&config)];
    let env = [
        ("CLAWGATE_STATE_DIR", s(files.dir.path())),
        ("BOB_KEY", "bob-key-0123456789abcdef"),
    ];
    let bob = usage("bob", &config, &env);
    assert_eq!(bob.status.code(), Some(0), "{}", text(&bob.stderr));
    let nobody = usage("nobody", &config, &env);
    assert_eq!(nobody.status.code(), Some(1));
    assert_eq!(
        text(&nobody.stderr),
        "error: --client \"nobody\": no such client under gateway.clients or in the ledger (the clients are alice, bob, ci)\n"
    );
}

#[test]
fn explain_says_what_each_target_would_get_without_a_network_or_a_key() {
    let files = Files::new();
    // The catalog's Kimi Coding over Anthropic, then Moonshot; no key set.
    let config = files.config(&json!({
        "models": {"providers": {"kimi": {"api": "anthropic-messages"}}},
        "agents": {"defaults": {"model": {"primary": "kimi/kimi-for-coding",
                                          "fallbacks": ["moonshot/kimi-k2-turbo"]}}},
    }));
    let body = json!({"max_tokens": 1000, "thinking": {"type": "enabled", "budget_tokens": 500},
        "messages": [{"role": "user", "content": [{"type": "text", "text": "look"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}]});
    let body_file = files.write("body.json", &body.to_string(), 0o644);
    let explain = |extra: &[&str]| {
        let mut args = vec!["explain", "--config", s(&config), "--api", "messages"];
        args.extend_from_slice(extra);
        run(&args, &[("KIMI_API_KEY", "k")])
    };

    let output = explain(&["--json", s(&body_file)]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let explained: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(explained["api"], "/v1/messages");
    let targets = explained["targets"].as_array().unwrap();
    assert_eq!(targets[0]["ref"], "kimi/kimi-for-coding");
    assert_eq!(targets[0]["decision"], "send");
    assert_eq!(targets[0]["api"], "anthropic-messages");
    // The client's own body, passed through with the plan's edits.
    let sent = &targets[0]["body"];
    assert_eq!(sent["model"], "kimi-for-coding");
    assert_eq!(
        sent["thinking"],
        json!({"type": "enabled", "budget_tokens": 500})
    );
    assert_eq!(sent["messages"][0]["content"][1]["type"], "image");
    // Its edits in the body's own terms, not the chat form's
    // (`max_completion_tokens`, `reasoning_effort`, `stream_options`).
    assert_eq!(
        targets[0]["edits"],
        json!([{"member": "stream", "value": true},
            {"member": "model", "value": "kimi-for-coding"}])
    );
    assert_eq!(targets[1]["ref"], "moonshot/kimi-k2-turbo");
    assert_eq!(targets[1]["decision"], "skip");
    // A body the gateway refuses before any target: with `--json`, why,
    // as JSON, and the same exit status.
    let refused = files.write("refused.json", r#"{"messages": []}"#, 0o644);
    let output = explain(&["--json", s(&refused)]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let said: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(said["api"], "/v1/messages");
    let refusal = said["refused"].as_str().unwrap();
    assert!(refusal.contains("at least one message"), "{said}");
    // A body file that is not there is named.
    let missing = files.dir.path().join("no-such-body.json");
    let output = explain(&[s(&missing)]);
    assert_eq!(output.status.code(), Some(1));
    assert_contains(
        &text(&output.stderr),
        &format!(
            "cannot read the request body from {}: No such file",
            missing.display()
        ),
    );

    // The same from stdin, as text.
    let mut child = clawgate(&["explain", "--config", s(&config), "--api", "messages"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let shown = text(&output.stdout);
    assert_contains(
        &shown,
        "POST /v1/messages for the default model: 2 target(s)",
    );
    assert_contains(
        &shown,
        "2. moonshot/kimi-k2-turbo (moonshot dialect, openai-completions,",
    );
    assert_contains(&shown, "   skipped: `messages[0].content` holds an image");
    // Without the key (this shell has none), the gateway would skip it.
    assert_contains(
        &shown,
        "   skipped: no API key: KIMI_API_KEY is not set where explain runs",
    );

    // A body that is not a request says why, and fails.
    let bad = files.write("bad.json", "{\"messages\": 3}", 0o644);
    let output = explain(&[s(&bad)]);
    assert!(!output.status.success());
    assert_contains(&text(&output.stderr), "error:");

    // An unknown model's name is shown with its control characters escaped.
    let hostile = json!({"model": "nope\u{1b}[2J\nforged", "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}]});
    let hostile = files.write("hostile.json", &hostile.to_string(), 0o644);
    let output = explain(&[s(&hostile)]);
    assert!(!output.status.success());
    let said = text(&output.stderr);
    assert!(
        !said.contains('\u{1b}') && said.contains("\\u{1b}[2J"),
        "{said:?}"
    );
}

/// `clawgate status` reads at most 16 MiB of what answers at the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reads_a_bounded_answer() {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/v1/status",
        get(|| async {
            let chunk = bytes::Bytes::from(vec![b' '; 1024 * 1024]);
            let chunks = futures_util::stream::iter(
                (0..64).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
            );
            axum::body::Body::from_stream(chunks)
        }),
    );
    let base = provider_app(app).await;
    let files = Files::new();
    let config = files.config(&json!({}));
    let url = base.trim_end_matches("/v1").to_string();
    let output = tokio::task::spawn_blocking(move || {
        run(&["status", "--config", s(&config), "--url", &url], &[])
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_contains(&text(&output.stderr), "is larger than 16 MiB");
}

/// Pointed at another server, or at a port nothing listens on, status
/// says which, in words that tell the user what to check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_tells_another_server_and_a_dead_port() {
    let other = provider_app(axum::Router::new()).await;
    let other = other.trim_end_matches("/v1").to_string();
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let files = Files::new();
    let config = files.config(&json!({}));
    for (url, said) in [
        (
            other,
            "answered 404 Not Found: no clawgate status there; is its port clawgate's",
        ),
        (dead, "did not answer (Connection refused"),
    ] {
        let config = config.clone();
        let output = tokio::task::spawn_blocking(move || {
            run(&["status", "--config", s(&config), "--url", &url], &[])
        })
        .await
        .unwrap();
        assert_eq!(output.status.code(), Some(1));
        assert_contains(&text(&output.stderr), said);
    }
}

#[test]
fn a_missing_config_file_is_said_to_be_missing_not_invalid() {
    for command in [
        &["status"][..],
        &["config", "validate"],
        &["models", "list"],
    ] {
        let mut args = command.to_vec();
        args.extend(["--config", "/nonexistent/clawgate.json5"]);
        let output = run(&args, &[]);
        assert!(!output.status.success(), "{command:?}");
        let said = text(&output.stderr);
        assert_contains(&said, "no config file at /nonexistent/clawgate.json5");
        assert!(!said.contains("invalid config"), "{command:?}: {said}");
    }
}

#[test]
fn a_malformed_variable_is_named_as_a_variable_not_an_invalid_config() {
    let files = Files::new();
    let config = files.config(&json!({}));
    let output = run(
        &["models", "list", "--config", s(&config)],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")],
    );
    assert!(!output.status.success());
    let said = text(&output.stderr);
    assert_contains(&said, "invalid environment variable (read with the config ");
    assert_contains(&said, "OTEL_EXPORTER_OTLP_ENDPOINT: the URL has no scheme");
    assert!(!said.contains("invalid config"), "{said}");
}

/// `doctor` run beside the clawgate it checks finds its port taken by
/// that clawgate, which is no failure; anything else there still is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_the_port_held_by_a_running_clawgate() {
    let upstream = healthy_mock().await;
    let gw = gateway(chain_config(&upstream, &upstream)).await;
    let port: u16 = gw.url.rsplit(':').next().unwrap().parse().unwrap();
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other_port = other.local_addr().unwrap().port();
    let files = Files::new();
    // This config's chain; another's, which serve could not listen for;
    // a port held by something else.
    let cases = [
        (port, None, true),
        (port, Some("backup/m"), false),
        (other_port, None, false),
    ];
    for (port, primary, ok) in cases {
        let mut config = chain_config(&upstream, &upstream);
        config["gateway"] = json!({"port": port});
        if let Some(primary) = primary {
            config["agents"]["defaults"]["model"] = json!({"primary": primary});
        }
        let config = files.config(&config);
        let output =
            tokio::task::spawn_blocking(move || run(&["doctor", "--config", s(&config)], &[]))
                .await
                .unwrap();
        let said = text(&output.stdout) + &text(&output.stderr);
        let line = said
            .lines()
            .find(|l| l.contains(&format!(":{port}")))
            .unwrap_or_else(|| panic!("a line for the port: {said}"))
            .to_string();
        assert_eq!(line.starts_with("ok"), ok, "{line}");
        if ok {
            assert_contains(
                &line,
                "is held by a running clawgate serving this config's chain",
            );
        }
        if primary.is_some() {
            assert_contains(
                &line,
                "is held by a running clawgate serving another chain (primary/m -> backup/m): serve with this config cannot listen there",
            );
        }
    }
    drop(other);
}

#[test]
fn explain_names_what_each_target_would_not_get() {
    let files = Files::new();
    let config = files.config(&json!({
        "models": {"providers": {"kimi": {"api": "anthropic-messages"}}},
        "agents": {"defaults": {"model": {"primary": "kimi/kimi-for-coding",
                                          "fallbacks": ["moonshot/kimi-k3"]}}},
    }));
    // What the rules remove (K3's fixed temperature) and a server tool,
    // by its type, are named as the answer names them.
    let body = json!({"max_tokens": 1000, "top_k": 5, "temperature": 0.2,
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        "context_management": {"edits": []},
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "text", "text": "ok", "citations": [
                {"type": "char_location", "cited_text": "hi", "document_index": 0,
                 "start_char_index": 0, "end_char_index": 2}]}]},
            {"role": "user", "content": "go on"}]});
    let body_file = files.write("body.json", &body.to_string(), 0o644);
    let explain = |extra: &[&str]| {
        let mut args = vec!["explain", "--config", s(&config), "--api", "messages"];
        args.extend_from_slice(extra);
        // With the keys set, both targets are sent, and the text form
        // names what each would not get.
        let output = run(&args, &[("KIMI_API_KEY", "k"), ("MOONSHOT_API_KEY", "k")]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        output.stdout
    };
    let explained: Value = serde_json::from_slice(&explain(&["--json", s(&body_file)])).unwrap();
    let targets = explained["targets"].as_array().unwrap();
    // Over Anthropic's format, Kimi gets the client's own blocks.
    assert_eq!(
        targets[0]["dropped"],
        json!(["context_management", "web_search_20250305"])
    );
    assert_eq!(
        targets[1]["dropped"],
        json!([
            "top_k",
            "context_management",
            "citations on text blocks",
            "web_search_20250305",
            "temperature"
        ])
    );
    let shown = text(&explain(&[s(&body_file)]));
    assert_contains(
        &shown,
        "   not sent (x-clawgate-dropped): top_k, context_management, citations on text blocks, web_search_20250305, temperature\n",
    );
    assert_contains(
        &shown,
        "   not sent (x-clawgate-dropped): context_management, web_search_20250305\n",
    );
}

/// A log level misspelt would be read as a module's name and turn every
/// line off: refused, naming the levels. `RUST_LOG` spelt so is said so
/// and the flag's level used.
#[test]
fn a_misspelt_log_level_is_refused_not_a_silent_gateway() {
    let refused = run(&["--log-level", "warning", "config", "show"], &[]);
    assert_eq!(refused.status.code(), Some(2));
    assert_contains(
        &text(&refused.stderr),
        "\"warning\" is not a log level: write error, warn, info, debug or trace",
    );
    // A literal key in the config: `explain` logs a warning.
    let dir = tempfile::tempdir().unwrap();
    let (path, body) = (dir.path().join("config.json"), dir.path().join("body.json"));
    let config = serde_json::json!({"models": {"providers": {"moonshot": {"apiKey": SECRET}}}});
    std::fs::write(&path, config.to_string()).unwrap();
    std::fs::write(
        &body,
        r#"{"messages": [{"role": "user", "content": "hi"}]}"#,
    )
    .unwrap();
    let explain = ["--log-format", "text", "explain", "--config"];
    let args: Vec<&str> = explain.into_iter().chain([s(&path), s(&body)]).collect();
    let from_env = run(&args, &[("RUST_LOG", "verbose")]);
    let stderr = text(&from_env.stderr);
    assert_contains(&stderr, "warning: RUST_LOG: \"verbose\" is not a log level");
    // The flag's level is used: the warning is logged, not filtered out.
    assert_contains(&stderr, "a secret written in the config file");
}

/// `status` sends the gateway's key to this machine alone: a config whose
/// bind address is another machine's (copied from a server) is refused
/// naming it, before any connection, not asked with the token.
#[test]
fn status_sends_no_key_to_a_bind_address_of_another_machine() {
    let files = Files::new();
    let token = "gateway-token-0123456789abcdef0123456789";
    // 192.0.2.1 is for documentation (RFC 5737): no machine's address.
    let path = files.config(&json!({"gateway": {"bind": "192.0.2.1", "auth": {"token": token}}}));
    let started = std::time::Instant::now();
    let output = clawgate(&["status", "--config", s(&path)])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_contains(
        &text(&output.stderr),
        "gateway.bind (192.0.2.1) is not an address of this machine, and clawgate status sends its key to this machine alone; pass --url",
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "no connection is tried"
    );
}

/// `status` against a gateway that wants a key: one refused is told from
/// none sent; and `--url` takes the base URL clients are given (`/v1`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_tells_a_refused_key_from_none_and_takes_a_clients_base_url() {
    let files = Files::new();
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = json!({"clients": {"ops": {"key": "${OPS_KEY}", "admin": true}}});
    let gw = gateway_with_env(config.clone(), &[("OPS_KEY", "ops-key-0123456789")]).await;
    let path = files.config(&json!({}));
    let status = |key: Option<&str>, url: String| {
        let mut command = clawgate(&["status", "--config", s(&path), "--url", &url]);
        if let Some(key) = key {
            command.env("CLAWGATE_KEY", key);
        }
        command.output().unwrap()
    };
    let none = status(None, gw.url.clone());
    assert_eq!(none.status.code(), Some(1));
    assert_contains(&text(&none.stderr), "it wants a key; set CLAWGATE_KEY");
    // A token written as a variable not set here is a common cause.
    assert_contains(
        &text(&none.stderr),
        "pass the service's env file with --env-file",
    );
    let wrong = status(Some("not-the-key-0123"), gw.url.clone());
    assert_eq!(wrong.status.code(), Some(1));
    assert_contains(&text(&wrong.stderr), "it refused the key in CLAWGATE_KEY");
    let right = status(Some("ops-key-0123456789"), format!("{}/v1", gw.url));
    assert_eq!(right.status.code(), Some(0), "{}", text(&right.stderr));
    assert_contains(&text(&right.stdout), "primary/m");
}
