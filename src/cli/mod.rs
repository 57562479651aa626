//! The `clawgate` command line: argument parsing here, one file per command.
//! Commands print results to stdout and problems to stderr, and report
//! failure through the exit code. The only place that knows about clap.
//!
//! Everything a command prints to stdout goes through `outln!` and `out!`
//! (`println!` and `print!` are refused by the lint below), that is through
//! [`out`]: one place decides what happens when the reader has gone
//! (`clawgate config show | head`). What it prints to stderr goes through
//! `errln!` ([`err`]), which a closed stderr does not stop.
#![deny(clippy::print_stdout, clippy::print_stderr)]

/// `println!` for the commands: see [`out`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for the commands: see [`out`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::out(format_args!($($arg)*))
    };
}

/// `eprintln!` for the commands: see [`err`].
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod agent;
mod config_cmd;
mod doctor;
mod explain;
mod models;
mod openclaw;
mod serve;
mod status;
mod usage;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use self::agent::AgentArgs;
use self::config_cmd::ConfigCommand;
use self::doctor::DoctorArgs;
use self::explain::ExplainArgs;
use self::models::ModelsCommand;
use self::openclaw::OpenclawCommand;
use self::serve::ServeArgs;
use self::status::StatusArgs;
use self::usage::UsageArgs;
use crate::config::{
    self, Config, ConfigErrors, EnvFileError, Environment, Loaded, Secrets, Source,
};
use crate::ops::logging::{self, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "clawgate",
    version,
    about = "An OpenAI-compatible gateway for Kimi with fallbacks"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log output format: auto (journald under systemd, else text), text, json or journald.
    #[arg(long, global = true, default_value = "auto", value_name = "FORMAT")]
    log_format: LogFormat,
    /// Log level (error, warn, info, debug, trace) or tracing filter (warn,clawgate=debug); RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "info", value_parser = logging::filter)]
    log_level: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway; it listens on http://127.0.0.1:18700 unless told otherwise.
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
    /// Check the env files, the config, the keys, the port (and, with --probe, each provider).
    Doctor(DoctorArgs),
    /// Every target's health, from the running gateway.
    Status(StatusArgs),
    /// What each target of a request's chain would be sent, or why not (no network).
    Explain(ExplainArgs),
    /// Usage and cost from the ledger: by day, week or month, by model, provider, client, agent, front end or session.
    Usage(UsageArgs),
    /// What OpenClaw needs to use this gateway.
    Openclaw {
        #[command(subcommand)]
        command: OpenclawCommand,
    },
}

/// Where the config and secrets come from.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Config file (default: $CLAWGATE_CONFIG, then $XDG_CONFIG_HOME/clawgate/config.json or config.json5).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Variables in systemd EnvironmentFile= syntax; the environment wins
    /// (on a reload of `serve`, but for a variable a file gave it at
    /// start), and a later file an earlier one.
    /// A leading `-` makes the file optional, as in systemd. Without this
    /// flag, $XDG_CONFIG_HOME/clawgate/secrets.env (the Nix modules'
    /// environmentFile) is read if it exists. Files in
    /// $CREDENTIALS_DIRECTORY (systemd LoadCredential=) come last.
    #[arg(long, value_name = "PATH", allow_hyphen_values = true)]
    env_file: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{}:\n{errors}", heading(origin, errors))]
    Config {
        origin: Source,
        errors: ConfigErrors,
    },
    #[error(transparent)]
    EnvFile(#[from] EnvFileError),
    #[error("{0}")]
    Other(String),
}

/// What was invalid: the config, or only the environment variables read
/// with it (`OTEL_*`), which the file does not hold.
fn heading(origin: &Source, errors: &ConfigErrors) -> String {
    let variable = |path: &str| {
        !path.is_empty()
            && path
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    };
    if !errors.0.is_empty() && errors.0.iter().all(|e| variable(&e.path)) {
        format!("invalid environment variable (read with the config {origin})")
    } else {
        format!("invalid config ({origin})")
    }
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
            errln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::serve(args).await,
            Command::Config {
                command:
                    ConfigCommand::Validate {
                        source,
                        offline,
                        json,
                    },
            } => config_cmd::validate(&source, offline, json),
            Command::Config {
                command: ConfigCommand::Show { source },
            } => config_cmd::show(&source),
            Command::Models {
                command:
                    ModelsCommand::List {
                        source,
                        provider,
                        json,
                    },
            } => models::list_models(&source, provider.as_deref(), json),
            Command::Agent(args) => agent::agent(args).await,
            Command::Doctor(args) => Ok(doctor::doctor(&args).await),
            Command::Status(args) => status::status(&args).await,
            Command::Explain(args) => explain::explain(&args),
            Command::Usage(args) => usage::usage(&args),
            Command::Openclaw {
                command: OpenclawCommand::Provider { source, client },
            } => openclaw::provider(&source, client.as_deref()),
        }
    });
    // The runtime's last tasks may log; then the access lines still
    // waiting are written, before the process exits.
    drop(runtime);
    logging::flush();
    match result {
        Ok(code) => code,
        Err(err) => {
            errln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

impl SourceArgs {
    /// The env files to read: those given, else the default one (optional,
    /// so `-`-prefixed), where the service's environment file lives.
    fn env_files(&self, env: &Environment) -> Vec<PathBuf> {
        if !self.env_file.is_empty() {
            return self.env_file.clone();
        }
        config::default_env_file(env)
            .map(|path| {
                let mut optional = std::ffi::OsString::from("-");
                optional.push(path);
                PathBuf::from(optional)
            })
            .into_iter()
            .collect()
    }

    fn environment(&self) -> Result<Environment, CliError> {
        self.environment_over(Environment::from_process())
    }

    /// `process`, the env files' variables it does not set, then systemd
    /// credentials.
    fn environment_over(&self, mut process: Environment) -> Result<Environment, CliError> {
        let files = self.env_files_read(&process)?;
        process.fill(files);
        if let Some(dir) = process.get("CREDENTIALS_DIRECTORY").map(PathBuf::from) {
            process.load_credentials(&dir)?;
        }
        Ok(process)
    }

    /// The variables of the env files alone: a later file's win, as a
    /// later `EnvironmentFile=`'s do under systemd.
    fn env_files_read(&self, process: &Environment) -> Result<Environment, CliError> {
        let mut files = Environment::default();
        for path in self.env_files(process).iter().rev() {
            let text = path.to_string_lossy();
            match text.strip_prefix('-') {
                Some(optional) if !Path::new(optional).exists() => {}
                Some(optional) => files.load_env_file(Path::new(optional))?,
                None => files.load_env_file(path)?,
            }
        }
        Ok(files)
    }

    /// The process environment `serve` reads under the env files, at start
    /// and on every reload: without the variables a file sets, at start,
    /// to the value the process holds. Under systemd's `EnvironmentFile=`
    /// naming that file, they came from it as it was at start; a reload
    /// takes the file as it is then (a key rotated there, or taken out, is
    /// so from the reload on), not the process's copy. A variable the
    /// process sets to another value still wins.
    fn process_under_files(&self) -> Result<Environment, CliError> {
        let mut process = Environment::from_process();
        process.remove_same(&self.env_files_read(&process)?);
        Ok(process)
    }

    fn load(&self, secrets: Secrets) -> Result<(Source, Loaded), CliError> {
        self.load_over(Environment::from_process(), secrets)
    }

    /// [`Self::load`] with `process` as the process environment.
    fn load_over(
        &self,
        process: Environment,
        secrets: Secrets,
    ) -> Result<(Source, Loaded), CliError> {
        let env = self.environment_over(process)?;
        let source = config::locate(self.config.as_deref(), &env)
            .map_err(|e| CliError::Other(e.to_string()))?;
        // Said as what it is: a file that is not there is no invalid config
        // (a link that leads nowhere is there, and its reading says why).
        if let Source::File(path) = &source
            && path.symlink_metadata().is_err()
        {
            return Err(CliError::Other(format!(
                "no config file at {} (named by --config or $CLAWGATE_CONFIG): check the path, or leave both out for the default location",
                path.display()
            )));
        }
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

/// The default chain, a pool's members in brackets: `[a | b] -> c`.
fn chain_text(config: &Config) -> String {
    let places: Vec<String> = config
        .routing
        .places()
        .into_iter()
        .map(|refs| match refs {
            [one] => one.to_string(),
            pool => {
                let members: Vec<&str> = pool.iter().map(|r| r.as_str()).collect();
                format!("[{}]", members.join(" | "))
            }
        })
        .collect();
    places.join(" -> ")
}

/// Whether `ip` is an address of this machine: the one this machine sends
/// from to it (a host may let a socket bind any address, so binding proves
/// nothing). A config's bind address may name another's (a config copied
/// from a server), and the commands that ask the running gateway send its
/// key to this machine alone.
fn on_this_machine(ip: std::net::IpAddr) -> bool {
    use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};
    let any: std::net::IpAddr = match ip {
        std::net::IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        std::net::IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let from = UdpSocket::bind((any, 0)).and_then(|socket| {
        socket.connect((ip, 9))?;
        socket.local_addr()
    });
    crate::config::is_loopback(ip) || from.is_ok_and(|from| from.ip() == ip)
}

fn print_json(value: &impl serde::Serialize) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialize")
    );
}

/// Writes a command's output to stdout, at once. When the reader has gone
/// (`clawgate doctor | head` once `head` has its lines), nothing more the
/// command prints can be read: the process ends here, quietly, with status
/// 141, what a shell reports for a writer its reader left (128 + SIGPIPE,
/// as `yes | head` ends), so a script with `pipefail` sees the output cut
/// short rather than a success. `print!` would panic instead ("failed
/// printing to stdout: Broken pipe"). This is not done with SIGPIPE's
/// default action: the process's sockets (`agent`, `doctor --probe`,
/// `serve`) keep seeing a closed peer as an error, not as a signal.
pub(crate) fn out(text: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let Err(err) = stdout.write_fmt(text).and_then(|()| stdout.flush()) else {
        return;
    };
    logging::flush();
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(CLOSED_STDOUT);
    }
    let _ = writeln!(std::io::stderr(), "error: cannot write to stdout: {err}");
    std::process::exit(1);
}

/// The exit status of a command whose reader closed its stdout early.
const CLOSED_STDOUT: i32 = 141;

/// Writes a command's problems to stderr. When nothing reads them any more
/// (`clawgate config validate 2>&1 | head -1`), they are lost, and the
/// command goes on to end with the status it was going to: `eprint!`
/// would panic instead ("failed printing to stderr"), and end with 101.
pub(crate) fn err(text: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = std::io::stderr().lock().write_fmt(text);
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::{Cli, on_this_machine};

    /// Loopback and this machine's own address are its; an address for
    /// documentation (RFC 5737), no machine's, is not.
    #[test]
    fn an_address_is_this_machines_when_it_sends_from_it() {
        assert!(on_this_machine([127, 0, 0, 1].into()));
        assert!(on_this_machine("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!on_this_machine([192, 0, 2, 1].into()));
        // The address this machine sends from to the world, where it has
        // a route there.
        let own = std::net::UdpSocket::bind(("0.0.0.0", 0))
            .and_then(|socket| {
                socket.connect(("198.51.100.1", 9))?;
                socket.local_addr()
            })
            .map(|own| own.ip());
        if let Ok(own) = own {
            assert!(on_this_machine(own), "{own}");
        }
    }

    /// Every flag of every command, with the command's path, that `--help`
    /// shows without a description.
    fn undescribed(command: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in command.get_arguments() {
            if arg.get_help().is_none() && !arg.is_positional() {
                out.push(format!("{path} --{}", arg.get_id()));
            }
        }
        for sub in command.get_subcommands() {
            undescribed(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_flag_is_described_and_serve_shows_the_default_address() {
        let mut command = Cli::command();
        command.build();
        let mut missing = Vec::new();
        undescribed(&command, "clawgate", &mut missing);
        assert!(missing.is_empty(), "flags without help: {missing:?}");
        let serve = command.find_subcommand_mut("serve").unwrap();
        let help = serve.render_help().to_string();
        assert!(help.contains("127.0.0.1:18700"), "{help}");
        assert!(help.contains("[default: 18700]"), "{help}");
        assert!(help.contains("[default: 127.0.0.1]"), "{help}");
    }
}
