//! `clawgate doctor`: every check of the env files, the config file, the
//! config, the keys of the chain and the port, each run and reported once
//! whatever the others found (as OpenClaw's own `doctor` and `brew doctor`
//! do); the exit code is 1 if any failed. `--probe` also sends each target
//! of the chain a minimal request through the real upstream code.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use secrecy::ExposeSecret;

use super::{SourceArgs, chain_text};
use crate::chain;
use crate::chain::policy::{self, Outcome};
use crate::config::{self, ApiKey, Config, Environment, Secrets, Source, Timeouts};
use crate::upstream::Upstream;
use crate::wire::openai::ChatRequest;
use crate::wire::request::ClientRequest;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Also send each target of the chain a minimal chat request (a few
    /// tokens each) and report its latency, status and failure class.
    #[arg(long)]
    pub probe: bool,
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Ok,
    Warn,
    Fail,
}

/// The checks' results, printed as they come, counted at the end.
#[derive(Default)]
struct Report {
    ok: usize,
    warned: usize,
    failed: usize,
}

impl Report {
    fn check(&mut self, mark: Mark, text: impl AsRef<str>) {
        let label = match mark {
            Mark::Ok => {
                self.ok += 1;
                "ok  "
            }
            Mark::Warn => {
                self.warned += 1;
                "warn"
            }
            Mark::Fail => {
                self.failed += 1;
                "FAIL"
            }
        };
        // A check's text may span lines (every error of a config): they are
        // indented under its mark.
        let text = text.as_ref().replace('\n', "\n     ");
        outln!("{label} {text}");
    }
}

pub async fn doctor(args: &DoctorArgs) -> ExitCode {
    let mut report = Report::default();
    let env = environment(&args.source, &mut report);
    let config = match config::locate(args.source.config.as_deref(), &env) {
        Ok(source) => check_config(&source, &env, &mut report),
        Err(ambiguous) => {
            report.check(Mark::Fail, ambiguous.to_string());
            None
        }
    };
    if let Some(config) = &config {
        check_keys(config, &mut report);
        check_ledger(config, &env, &mut report);
        check_port(config, &mut report);
        if args.probe {
            probe(config, &mut report).await;
            probe_quotas(config, &mut report).await;
            probe_ledger(config, &mut report).await;
        }
    } else {
        report.check(
            Mark::Warn,
            "keys, port and probes not checked: they need a valid config",
        );
    }
    outln!(
        "{} checks: {} ok, {} warnings, {} failed",
        report.ok + report.warned + report.failed,
        report.ok,
        report.warned,
        report.failed
    );
    if report.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The process environment with every env file that can be read (a later
/// file's variables winning, as `serve` reads them), each file checked
/// (exists, private) and reported once.
fn environment(source: &SourceArgs, report: &mut Report) -> Environment {
    let mut env = Environment::from_process();
    let mut files = Vec::new();
    for path in &source.env_files(&env) {
        let text = path.to_string_lossy();
        let (path, optional) = match text.strip_prefix('-') {
            Some(optional) => (PathBuf::from(optional), true),
            None => (path.clone(), false),
        };
        if optional && !path.exists() {
            report.check(
                Mark::Ok,
                format!("optional env file {} is absent", path.display()),
            );
            continue;
        }
        let (mark, text) = private_file_check("env file", &path);
        let mut file = Environment::default();
        match file.load_env_file(&path) {
            Ok(()) => report.check(mark, text),
            Err(err) => report.check(Mark::Fail, err.to_string()),
        }
        files.push(file);
    }
    for file in files.into_iter().rev() {
        env.fill(file);
    }
    if let Some(dir) = env.get("CREDENTIALS_DIRECTORY").map(PathBuf::from) {
        match env.load_credentials(&dir) {
            Ok(()) => report.check(
                Mark::Ok,
                format!("systemd credentials read from {}", dir.display()),
            ),
            Err(err) => report.check(Mark::Fail, err.to_string()),
        }
    }
    env
}

/// The config file and the config: valid or every error, and the
/// variables `serve` cannot start without (the ledger's store, the
/// gateway's token, a client's key: a provider's key is [`check_keys`]'s);
/// each warning; a file holding secrets must be private.
fn check_config(source: &Source, env: &Environment, report: &mut Report) -> Option<Config> {
    match config::load(source, env, Secrets::Offline) {
        Ok(loaded) => {
            report.check(
                Mark::Ok,
                format!(
                    "config {source} is valid; chain {}",
                    chain_text(&loaded.config)
                ),
            );
            if let Err(unset) = config::load(source, env, Secrets::Required) {
                let keys =
                    |error: &config::ConfigError| error.path.starts_with("models.providers.");
                for error in unset.0.into_iter().filter(|error| !keys(error)) {
                    report.check(Mark::Fail, format!("serve refuses to start: {error}"));
                }
            }
            if let (Source::File(path), false) = (source, loaded.literal_secrets.is_empty()) {
                let (mark, text) = private_file_check("config", path);
                let mark = if mark == Mark::Ok {
                    Mark::Ok
                } else {
                    Mark::Fail
                };
                report.check(mark, format!("{text} (it holds secrets)"));
            }
            // A placeholder key is the key check's to report.
            for warning in loaded
                .warnings
                .iter()
                .filter(|w| !w.contains(config::PLACEHOLDER))
            {
                report.check(Mark::Warn, format!("config: {warning}"));
            }
            Some(loaded.config)
        }
        Err(errors) => {
            report.check(Mark::Fail, format!("config {source} is invalid:\n{errors}"));
            None
        }
    }
}

/// Each provider's key. A chain target without its key fails the check
/// when no target of the chain has one (nothing could answer), and is a
/// warning otherwise (`serve` starts and skips it), as at startup, as is
/// a provider the config writes but does not chain.
fn check_keys(config: &Config, report: &mut Report) {
    let chain = config.chain(None).unwrap_or_default();
    let servable = chain.iter().any(|t| !t.provider.api_key.is_missing());
    for provider in config.providers.values() {
        let in_chain = chain.iter().any(|t| t.provider.id == provider.id);
        let role = if in_chain {
            "in the chain"
        } else {
            "not in the chain"
        };
        match &provider.api_key {
            ApiKey::Set(key) => match config::placeholder_key(key.expose_secret()) {
                None => report.check(
                    Mark::Ok,
                    format!("provider {} ({role}): key set", provider.id),
                ),
                Some(marker) => report.check(
                    if in_chain { Mark::Fail } else { Mark::Warn },
                    format!(
                        "provider {} ({role}): {} (it has `{marker}`); put the real key in its variable",
                        provider.id,
                        config::PLACEHOLDER
                    ),
                ),
            },
            ApiKey::None => report.check(
                Mark::Ok,
                format!("provider {} ({role}): no key configured", provider.id),
            ),
            // A built-in provider the config neither writes nor chains
            // needs no key.
            ApiKey::Missing(unset) if !in_chain && !provider.written => report.check(
                Mark::Ok,
                format!(
                    "provider {} (built in, not in the chain): {unset}, needed only if the chain or a request names one of its models",
                    provider.id
                ),
            ),
            ApiKey::Missing(unset) => {
                let mark = if in_chain && !servable {
                    Mark::Fail
                } else {
                    Mark::Warn
                };
                let skipped = if in_chain && servable {
                    "; requests skip it until it has a value"
                } else {
                    ""
                };
                report.check(
                    mark,
                    format!(
                        "provider {} ({role}): {unset}{skipped}; {} {}",
                        provider.id,
                        unset.fix(),
                        config::ENV_FILES
                    ),
                );
            }
        }
    }
}

/// Where usage is recorded: a `ledger.store` whose URL the client cannot
/// read fails (`serve` would count usage in memory only; one whose
/// variable is unset, [`check_config`] fails); `--probe` connects to it.
fn check_ledger(config: &Config, env: &Environment, report: &mut Report) {
    let settings = &config.ledger;
    if !settings.enabled {
        report.check(Mark::Ok, "ledger: off (ledger.enabled is false)");
        return;
    }
    if let Some(url) = &settings.store {
        if url.expose().is_none() {
            return;
        }
        match crate::ledger::postgres::client_config(url) {
            Ok(_) => report.check(
                Mark::Ok,
                format!(
                    "ledger: the PostgreSQL store {} (not connected to: --probe connects)",
                    url.shown()
                ),
            ),
            Err(err) => report.check(
                Mark::Fail,
                format!("{err}; serve would count usage in memory only"),
            ),
        }
        return;
    }
    match crate::ledger::default_path(settings, config::state_dir(env).as_deref()) {
        Some(path) => match unusable(&path) {
            None => report.check(Mark::Ok, format!("ledger: {}", path.display())),
            Some(why) => report.check(
                Mark::Fail,
                format!("ledger: {why}; serve would count usage in memory only"),
            ),
        },
        None => report.check(
            Mark::Warn,
            "ledger: no state directory ($CLAWGATE_STATE_DIR, $XDG_STATE_HOME or $HOME) and no ledger.path; usage is counted in memory only",
        ),
    }
}

/// Why `serve` could not open a SQLite ledger at `path`, as far as can be
/// told without writing: it is not a file, or the nearest folder above it
/// that exists is not a folder.
fn unusable(path: &std::path::Path) -> Option<String> {
    let shown = path.display();
    if let Ok(meta) = path.metadata() {
        return (!meta.is_file()).then(|| format!("{shown} is not a file"));
    }
    let above = path.ancestors().skip(1).find(|dir| dir.exists())?;
    (!above.is_dir()).then(|| format!("{shown}: {} is not a folder", above.display()))
}

/// Connects to `ledger.store`, as `serve`'s ledger writer would.
async fn probe_ledger(config: &Config, report: &mut Report) {
    let Some(url) = config
        .ledger
        .store
        .clone()
        .filter(|_| config.ledger.enabled)
    else {
        return;
    };
    let started = Instant::now();
    let shown = url.shown().to_string();
    let result = tokio::task::spawn_blocking(move || crate::ledger::probe(&url)).await;
    let millis = started.elapsed().as_millis();
    match result {
        Ok(Ok(())) => report.check(
            Mark::Ok,
            format!("probe ledger: {shown} answered in {millis} ms"),
        ),
        Ok(Err(why)) => report.check(Mark::Fail, format!("probe ledger: {why}")),
        Err(err) => report.check(Mark::Fail, format!("probe ledger: {err}")),
    }
}

fn check_port(config: &Config, report: &mut Report) {
    let addr = SocketAddr::new(config.gateway.bind, config.gateway.port);
    let local = config.gateway.local_address(addr.port());
    let another = |what: &str| {
        format!(
            "{addr} is held by a running clawgate {what}: serve with this config cannot listen there; stop that one, or set gateway.port"
        )
    };
    match std::net::TcpListener::bind(addr) {
        Ok(_) => report.check(Mark::Ok, format!("{addr} is free")),
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse && clawgate_at(local) => {
            let ours = config.chain(None).map(|targets| {
                let refs = targets.iter().map(|t| t.model_ref.to_string());
                refs.collect::<Vec<_>>()
            });
            // The token goes to this machine only: a bind address may
            // name another's (a config copied from a server).
            let token =
                (config.gateway.auth_token.as_ref()).filter(|_| super::on_this_machine(local.ip()));
            match served_chain(local, token.map(|t| t.expose_secret())) {
                Some(Ok(chain)) if ours.as_ref().is_ok_and(|ours| *ours == chain) => report.check(
                    Mark::Ok,
                    format!("{addr} is held by a running clawgate serving this config's chain"),
                ),
                Some(Ok(chain)) => report.check(
                    Mark::Fail,
                    another(&format!("serving another chain ({})", chain.join(" -> "))),
                ),
                Some(Err(401 | 403)) if token.is_some() => report.check(
                    Mark::Fail,
                    another("that refuses this config's gateway.auth.token"),
                ),
                _ => report.check(
                    Mark::Ok,
                    format!("{addr} is held by a running clawgate (the one this config serves?)"),
                ),
            }
        }
        Err(err) => report.check(Mark::Fail, super::serve::cannot_listen(addr, &err)),
    }
}

/// The default chain the clawgate at `addr` serves, asked with `token`
/// within a second: `Err` with the status it refused with, `None` when
/// its answer cannot be read.
fn served_chain(addr: SocketAddr, token: Option<&str>) -> Option<Result<Vec<String>, u16>> {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let (status, body) = local_get(addr, "/v1/status", &auth, 1 << 20)?;
    if status != 200 {
        return Some(Err(status));
    }
    let status: serde_json::Value = serde_json::from_str(&body).ok()?;
    let chain = status["defaultChain"].as_array()?.iter();
    Some(Ok(chain
        .filter_map(|r| r.as_str().map(String::from))
        .collect()))
}

/// Whether what listens at `addr` is a clawgate: its `GET /` (not asking
/// for HTML) answers `clawgate`, within a second.
fn clawgate_at(addr: SocketAddr) -> bool {
    local_get(addr, "/", "", 4096)
        .is_some_and(|(status, body)| status == 200 && body == "clawgate\n")
}

/// `GET path` from what listens at `addr`, with the `headers` lines, within
/// a second a step: its status and body (`most` bytes read at most).
fn local_get(addr: SocketAddr, path: &str, headers: &str, most: u64) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let wait = Duration::from_secs(1);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, wait).ok()?;
    stream.set_read_timeout(Some(wait)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: localhost\r\n{headers}\r\n"
    )
    .ok()?;
    let mut answer = Vec::new();
    stream.take(most).read_to_end(&mut answer).ok()?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// The longest a probe waits for a provider's answer to begin.
const PROBE_FIRST_BYTE: Duration = Duration::from_secs(30);

/// Sends each target of the default chain one minimal, non-streamed request.
async fn probe(config: &Config, report: &mut Report) {
    let upstream = match Upstream::new(config.gateway.timeouts.connect) {
        Ok(upstream) => upstream,
        Err(err) => {
            report.check(Mark::Fail, format!("probe: no HTTP client: {err}"));
            return;
        }
    };
    // A probe waits for a first byte at most this long, whatever the
    // config allows a real request.
    let timeouts = Timeouts {
        first_byte: config.gateway.timeouts.first_byte.min(PROBE_FIRST_BYTE),
        ..config.gateway.timeouts
    };
    let body =
        r#"{"messages":[{"role":"user","content":"Reply with one word: ok"}],"max_tokens":16}"#;
    let request =
        ClientRequest::from(ChatRequest::parse(body).expect("the probe request is valid"));
    let (cooldowns, quotas) = Default::default();
    // A probe is not traffic: no ledger row, no budget.
    let ledger = crate::ledger::Ledger::in_memory();
    let budgets = crate::config::ledger::Budgets::default();
    let settings = chain::Settings {
        timeouts: &timeouts,
        retries: &config.gateway.retries,
        limits: &config.gateway.limits,
        redactor: &config.redactor,
        cooldowns: &cooldowns,
        queues: &chain::concurrency::Queues::default(),
        quotas: &quotas,
        fallback: false,
        trace: None,
        onward: None,
        ledger: &ledger,
        budgets: [&budgets, &budgets],
        demand: None,
        memo: &crate::providers::Memo::default(),
        in_flight: None,
    };
    for target in config.chain(None).unwrap_or_default() {
        let started = Instant::now();
        let result = chain::probe(&upstream, &target, &request, &settings).await;
        let millis = started.elapsed().as_millis();
        let url = &target.provider.shown_url;
        match result {
            Ok(_) => report.check(
                Mark::Ok,
                format!("probe {}: 200 in {millis} ms ({url})", target.model_ref),
            ),
            Err(error) => {
                let status = error
                    .status()
                    .map_or("no status".to_string(), |s| s.as_u16().to_string());
                let class = policy::classify(Outcome::of(&error)).0;
                let hint = policy::hint(class, Outcome::of(&error))
                    .map_or(String::new(), |hint| format!("; {hint}"));
                report.check(
                    Mark::Fail,
                    format!(
                        "probe {}: {} ({status}) in {millis} ms ({url}): {error}{hint}",
                        target.model_ref,
                        class.label()
                    ),
                );
            }
        }
    }
}

/// Reads the quota or balance of each provider of the chain that has one
/// (`models.providers.<id>.quota`): a spent account is a warning (the
/// chain skips it until the reset), an unreadable endpoint too.
async fn probe_quotas(config: &Config, report: &mut Report) {
    let quotas = crate::quota::Quotas::new();
    let chain = config.chain(None).unwrap_or_default();
    let mut seen = Vec::new();
    for target in &chain {
        let provider = &target.provider;
        let Some(settings) = &provider.quota else {
            continue;
        };
        if seen.contains(&provider.id) || !provider.api_key.is_set() {
            continue;
        }
        seen.push(provider.id.clone());
        let url = config.redactor.url(&settings.url);
        match quotas.read_now(provider).await {
            Ok(reading) => {
                let now = std::time::SystemTime::now();
                let text = crate::quota::describe(&reading, now);
                match crate::quota::exhausted(&reading, settings.threshold_percent, true, now) {
                    Some(spent) => report.check(
                        Mark::Warn,
                        format!(
                            "quota {}: {text} ({url}): spent ({}): requests skip it{}",
                            provider.id,
                            spent.what,
                            spent.until.map_or(String::new(), |at| format!(
                                " until {}",
                                httpdate::fmt_http_date(at)
                            ))
                        ),
                    ),
                    None => {
                        report.check(Mark::Ok, format!("quota {}: {text} ({url})", provider.id))
                    }
                }
            }
            Err(problem) => report.check(
                Mark::Warn,
                format!(
                    "quota {}: cannot read it ({url}): {problem}; requests are not affected",
                    provider.id
                ),
            ),
        }
    }
}

/// A file that holds secrets must exist and be private to its owner.
fn private_file_check(what: &str, path: &Path) -> (Mark, String) {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Err(err) => (Mark::Fail, format!("{what} {}: {err}", path.display())),
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => (
            Mark::Fail,
            format!(
                "{what} {} is readable by group or others (mode {:o}); run chmod 600 on it",
                path.display(),
                meta.permissions().mode() & 0o777
            ),
        ),
        Ok(_) => (
            Mark::Ok,
            format!("{what} {} is private to its owner", path.display()),
        ),
    }
}
