//! The `clawgate` command line: argument parsing and one function per
//! command. Commands print results to stdout and problems to stderr, and
//! report failure through the exit code.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::chain::AttemptReport;
use crate::chat::{ChatRequest, Usage, message_text};
use crate::config::{
    self, ApiKey, Config, ConfigErrors, EnvFileError, Environment, Loaded, Secrets, Source,
};
use crate::gateway::{CompletionError, Gateway};
use crate::logging::{self, LogFormat};
use crate::rewrite::ThinkingLevel;
use crate::upstream::Reply;
use crate::{server, systemd};

#[derive(Debug, Parser)]
#[command(
    name = "clawgate",
    version,
    about = "An OpenAI-compatible gateway for Kimi with fallbacks"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log output format.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    log_format: LogFormat,
    /// Log level or tracing filter (RUST_LOG overrides it).
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Check or print the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// List configured models.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Send one message through the fallback chain, without a server.
    Agent(AgentArgs),
    /// Check the config, keys, env file and port.
    Doctor(DoctorArgs),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the config; exit 1 with every error listed if it is invalid.
    Validate {
        #[command(flatten)]
        source: SourceArgs,
        /// Do not require referenced environment variables to be set.
        #[arg(long)]
        offline: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print the resolved config with every secret redacted.
    Show {
        #[command(flatten)]
        source: SourceArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// List models, aliases and whether each provider's key is set.
    List {
        #[command(flatten)]
        source: SourceArgs,
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// Where the config and secrets come from.
#[derive(Debug, Args)]
struct SourceArgs {
    /// Config file (default: $CLAWGATE_CONFIG, then $XDG_CONFIG_HOME/clawgate/config.json).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Variables in systemd EnvironmentFile= syntax; the environment wins.
    /// Files in $CREDENTIALS_DIRECTORY (systemd LoadCredential=) come last.
    #[arg(long, value_name = "PATH")]
    env_file: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Port to listen on (overrides gateway.port).
    #[arg(long)]
    port: Option<u16>,
    /// Address to listen on (overrides gateway.bind).
    #[arg(long)]
    bind: Option<IpAddr>,
}

#[derive(Debug, Args)]
struct AgentArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[arg(long)]
    message: String,
    /// A ref or alias; default: agents.defaults.model.primary.
    #[arg(long)]
    model: Option<String>,
    #[arg(long, value_enum)]
    thinking: Option<ThinkingLevel>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct DoctorArgs {
    #[command(flatten)]
    source: SourceArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("invalid config ({origin}):\n{errors}")]
    Config {
        origin: Source,
        errors: ConfigErrors,
    },
    #[error(transparent)]
    EnvFile(#[from] EnvFileError),
    #[error("{0}")]
    Other(String),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    logging::init(cli.log_format, &cli.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Config {
                command:
                    ConfigCommand::Validate {
                        source,
                        offline,
                        json,
                    },
            } => validate(&source, offline, json),
            Command::Config {
                command: ConfigCommand::Show { source },
            } => show(&source),
            Command::Models {
                command:
                    ModelsCommand::List {
                        source,
                        provider,
                        json,
                    },
            } => list_models(&source, provider.as_deref(), json),
            Command::Agent(args) => agent(args).await,
            Command::Doctor(args) => doctor(&args.source),
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

impl SourceArgs {
    fn environment(&self) -> Result<Environment, CliError> {
        let mut env = Environment::from_process();
        for path in &self.env_file {
            env.load_env_file(path)?;
        }
        if let Some(dir) = env.get("CREDENTIALS_DIRECTORY").map(PathBuf::from) {
            env.load_credentials(&dir)?;
        }
        Ok(env)
    }

    fn load(&self, secrets: Secrets) -> Result<(Source, Loaded), CliError> {
        let env = self.environment()?;
        let source = config::locate(self.config.as_deref(), &env);
        match config::load(&source, &env, secrets) {
            Ok(loaded) => Ok((source, loaded)),
            Err(errors) => Err(CliError::Config {
                origin: source,
                errors,
            }),
        }
    }
}

/// Logs what the user should know about a config they loaded: once, at load.
fn report(source: &Source, loaded: &Loaded) {
    if !loaded.ignored.is_empty() {
        tracing::info!(
            "config {source}: ignoring keys clawgate does not use: {}",
            loaded.ignored.join(", ")
        );
    }
    for warning in &loaded.warnings {
        tracing::warn!("config {source}: {warning}");
    }
}

fn chain_text(config: &Config) -> String {
    let mut text = config.routing.primary.to_string();
    for fallback in &config.routing.fallbacks {
        text.push_str(" -> ");
        text.push_str(fallback.as_str());
    }
    text
}

async fn serve(args: ServeArgs) -> Result<ExitCode, CliError> {
    let (source, loaded) = args.source.load(Secrets::Required)?;
    report(&source, &loaded);
    let mut config = loaded.config;
    config.gateway.port = args.port.unwrap_or(config.gateway.port);
    config.gateway.bind = args.bind.unwrap_or(config.gateway.bind);
    if !config.gateway.bind.is_loopback() && config.gateway.auth_token.is_none() {
        return Err(CliError::Other(format!(
            "refusing to listen on {} without gateway.auth.token: anyone who can reach it could spend your keys",
            config.gateway.bind
        )));
    }
    let wanted = SocketAddr::new(config.gateway.bind, config.gateway.port);
    let listener = TcpListener::bind(wanted)
        .await
        .map_err(|e| CliError::Other(format!("cannot listen on {wanted}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::Other(e.to_string()))?;
    let chain = chain_text(&config);
    let gateway = Arc::new(Gateway::new(config).map_err(|e| CliError::Other(e.to_string()))?);

    // Signal handlers are installed before READY=1: from then on systemd may
    // send SIGHUP or SIGTERM, whose default action would kill the process.
    use tokio::signal::unix::{SignalKind, signal};
    let signal_error =
        |e: std::io::Error| CliError::Other(format!("cannot install signal handlers: {e}"));
    let hangups = signal(SignalKind::hangup()).map_err(signal_error)?;
    let terminate = signal(SignalKind::terminate()).map_err(signal_error)?;
    tokio::spawn(reload_on_sighup(
        hangups,
        gateway.clone(),
        args.source,
        addr,
    ));
    systemd::spawn_watchdog();
    tracing::info!(%addr, chain, "listening on http://{addr}");
    systemd::ready(&format!("serving on {addr}; chain {chain}"));
    server::run(listener, gateway, shutdown_signal(terminate))
        .await
        .map_err(|e| CliError::Other(format!("server failed: {e}")))?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP re-reads the env files and the config. An invalid new config is
/// logged and the old one keeps serving.
async fn reload_on_sighup(
    mut hangups: tokio::signal::unix::Signal,
    gateway: Arc<Gateway>,
    source: SourceArgs,
    addr: SocketAddr,
) {
    while hangups.recv().await.is_some() {
        systemd::reloading();
        match source.load(Secrets::Required) {
            Ok((path, loaded)) => {
                report(&path, &loaded);
                let config = loaded.config;
                if SocketAddr::new(config.gateway.bind, config.gateway.port) != addr {
                    tracing::warn!("gateway.port and gateway.bind take effect at the next restart");
                }
                let chain = chain_text(&config);
                gateway.replace_config(config);
                tracing::info!(chain, "config reloaded from {path}");
                systemd::ready(&format!("serving on {addr}; chain {chain}"));
            }
            Err(err) => {
                tracing::error!("reload failed; the previous config keeps serving: {err}");
                systemd::ready(&format!("serving on {addr}; last reload failed"));
            }
        }
    }
}

async fn shutdown_signal(mut terminate: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down; draining in-flight requests");
    systemd::stopping("draining in-flight requests");
}

fn validate(source_args: &SourceArgs, offline: bool, json: bool) -> Result<ExitCode, CliError> {
    let secrets = if offline {
        Secrets::Offline
    } else {
        Secrets::Required
    };
    let result = source_args.load(secrets);
    let (valid, text, value) = match &result {
        Ok((source, loaded)) => {
            let mut lines = vec![format!(
                "{source}: valid; {} providers; chain {}",
                loaded.config.providers.len(),
                chain_text(&loaded.config)
            )];
            lines.extend(loaded.warnings.iter().map(|w| format!("warning: {w}")));
            if !loaded.ignored.is_empty() {
                lines.push(format!("ignored keys: {}", loaded.ignored.join(", ")));
            }
            let value = json!({
                "valid": true,
                "source": source.to_string(),
                "errors": [],
                "warnings": loaded.warnings,
                "ignored": loaded.ignored,
            });
            (true, lines.join("\n"), value)
        }
        Err(CliError::Config {
            origin: source,
            errors,
        }) => {
            let value = json!({
                "valid": false,
                "source": source.to_string(),
                "errors": errors.0.iter().map(|e| json!({"path": e.path, "message": e.message})).collect::<Vec<_>>(),
            });
            (false, format!("{source}: invalid\n{errors}"), value)
        }
        Err(_) => return result.map(|_| ExitCode::SUCCESS),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON values serialize")
        );
    } else if valid {
        println!("{text}");
    } else {
        eprintln!("{text}");
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn show(source_args: &SourceArgs) -> Result<ExitCode, CliError> {
    let (_, loaded) = source_args.load(Secrets::Offline)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&loaded.config.redacted()).expect("JSON values serialize")
    );
    Ok(ExitCode::SUCCESS)
}

fn key_status(key: &ApiKey) -> String {
    match key {
        ApiKey::Set(_) => "set".to_string(),
        ApiKey::Missing { var } => format!("missing ({var})"),
        ApiKey::None => "none".to_string(),
    }
}

fn list_models(
    source_args: &SourceArgs,
    provider: Option<&str>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let (_, loaded) = source_args.load(Secrets::Offline)?;
    let config = &loaded.config;
    if let Some(id) = provider.filter(|id| !config.providers.contains_key(*id)) {
        return Err(CliError::Other(format!("no provider {id:?} in the config")));
    }
    let rows: Vec<Value> = config
        .models()
        .filter(|(_, p, _)| provider.is_none_or(|id| p.id == id))
        .map(|(model_ref, p, m)| {
            json!({
                "ref": model_ref.as_str(),
                "name": m.name,
                "reasoning": m.reasoning,
                "input": m.input,
                "contextWindow": m.context_window,
                "maxTokens": m.max_tokens,
                "aliases": config.aliases_of(&model_ref).collect::<Vec<_>>(),
                "key": key_status(&p.api_key),
            })
        })
        .collect();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("JSON values serialize")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let text = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".to_string(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    };
    let columns = [
        "ref",
        "name",
        "reasoning",
        "input",
        "contextWindow",
        "maxTokens",
        "aliases",
        "key",
    ];
    let headings = [
        "REF",
        "NAME",
        "REASONING",
        "INPUT",
        "CONTEXT",
        "MAX OUT",
        "ALIAS",
        "KEY",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| columns.iter().map(|c| text(&row[c])).collect())
        .collect();
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([headings[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |fields: Vec<&str>| {
        let padded: Vec<String> = fields
            .iter()
            .zip(&widths)
            .map(|(f, w)| format!("{f:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headings.to_vec());
    for row in &cells {
        line(row.iter().map(String::as_str).collect());
    }
    Ok(ExitCode::SUCCESS)
}

async fn agent(args: AgentArgs) -> Result<ExitCode, CliError> {
    // Offline: a provider without its key fails its attempt (and the chain
    // moves on) instead of refusing the whole run.
    let (source, loaded) = args.source.load(Secrets::Offline)?;
    report(&source, &loaded);
    let gateway = Gateway::new(loaded.config).map_err(|e| CliError::Other(e.to_string()))?;
    let mut body =
        json!({"messages": [{"role": "user", "content": args.message}], "stream": false});
    if let Some(model) = &args.model {
        body["model"] = json!(model);
    }
    if let Some(level) = args.thinking {
        body["reasoning_effort"] = json!(level.as_effort());
    }
    let request = ChatRequest::parse(body.to_string().as_bytes())
        .map_err(|e| CliError::Other(e.to_string()))?;
    match gateway.complete(&gateway.config(), request).await {
        Ok(answer) => {
            let Reply::Complete(response) = &answer.reply else {
                return Err(CliError::Other(
                    "the provider streamed an answer to a non-streaming request".into(),
                ));
            };
            let (text, reasoning) = message_text(response);
            if args.json {
                let mut attempts: Vec<Value> = answer
                    .failures
                    .iter()
                    .map(|f| json!(AttemptReport::from(f)))
                    .collect();
                attempts.push(json!({"provider": answer.target.model_ref.provider(),
                    "model": answer.target.model_ref.as_str(), "outcome": "ok"}));
                let value = json!({
                    "provider": answer.target.model_ref.provider(),
                    "model": answer.target.model_ref.as_str(),
                    "text": text,
                    "reasoning": reasoning,
                    "usage": Usage::of(response).unwrap_or_default(),
                    "attempts": attempts,
                });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).expect("JSON values serialize")
                );
            } else {
                println!("{text}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(CompletionError::UnknownModel(unknown)) => Err(CliError::Other(unknown.to_string())),
        Err(CompletionError::Failed(failures)) => {
            let attempts: Vec<AttemptReport> = failures.iter().map(AttemptReport::from).collect();
            if args.json {
                let value =
                    json!({"error": "every provider in the chain failed", "attempts": attempts});
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).expect("JSON values serialize")
                );
            } else {
                eprintln!("error: every provider in the chain failed:");
                for failure in &failures {
                    eprintln!("  {}: {}", failure.model_ref, failure.error);
                }
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

fn doctor(source_args: &SourceArgs) -> Result<ExitCode, CliError> {
    let mut failed = false;
    let mut check = |ok: Option<bool>, text: String| {
        let mark = match ok {
            Some(true) => "ok  ",
            Some(false) => "FAIL",
            None => "warn",
        };
        failed |= ok == Some(false);
        println!("{mark} {text}");
    };
    for path in &source_args.env_file {
        let (ok, text) = env_file_check(path);
        check(Some(ok), text);
    }
    let env = source_args.environment()?;
    let source = config::locate(source_args.config.as_deref(), &env);
    let config = match config::load(&source, &env, Secrets::Offline) {
        Ok(loaded) => {
            check(
                Some(true),
                format!(
                    "config {source} is valid; chain {}",
                    chain_text(&loaded.config)
                ),
            );
            loaded.config
        }
        Err(errors) => {
            check(
                Some(false),
                format!("config {source} is invalid:\n{errors}"),
            );
            println!("1 or more checks failed");
            return Ok(ExitCode::FAILURE);
        }
    };
    let chain = config.chain(None).unwrap_or_default();
    for provider in config.providers.values() {
        let in_chain = chain.iter().any(|t| t.provider.id == provider.id);
        let role = if in_chain {
            "in the chain"
        } else {
            "not in the chain"
        };
        match &provider.api_key {
            ApiKey::Set(_) => check(
                Some(true),
                format!("provider {} ({role}): key set", provider.id),
            ),
            ApiKey::None => check(
                Some(true),
                format!("provider {} ({role}): no key configured", provider.id),
            ),
            ApiKey::Missing { var } => check(
                if in_chain { Some(false) } else { None },
                format!("provider {} ({role}): {var} is not set", provider.id),
            ),
        }
    }
    let addr = SocketAddr::new(config.gateway.bind, config.gateway.port);
    match std::net::TcpListener::bind(addr) {
        Ok(_) => check(Some(true), format!("{addr} is free")),
        Err(err) => check(Some(false), format!("cannot listen on {addr}: {err}")),
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// An env file holds secrets: it must exist and be private to its owner.
fn env_file_check(path: &Path) -> (bool, String) {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Err(err) => (false, format!("env file {}: {err}", path.display())),
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => (
            false,
            format!(
                "env file {} is readable by group or others (mode {:o}); run chmod 600 on it",
                path.display(),
                meta.permissions().mode() & 0o777
            ),
        ),
        Ok(_) => (
            true,
            format!("env file {} is private to its owner", path.display()),
        ),
    }
}
