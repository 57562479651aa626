//! `clawgate serve`: bind, tell systemd, serve until SIGTERM, reload on SIGHUP.
//!
//! Startup and every reload compute the settings to serve with in one place,
//! [`effective`], so a reload can never weaken what startup enforced: the
//! command line's overrides apply again, and a config that startup would
//! refuse is refused, the previous one serving on.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::{CliError, SourceArgs, chain_text, report};
use crate::config::{self, Config, Environment, Secrets, Source, is_loopback, parse_bind};
use crate::gateway::Gateway;
use crate::ledger::{self, Ledger};
use crate::ops::systemd;
use crate::server;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Port to listen on (overrides gateway.port) [default: 18700].
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// Address to listen on: an IP address, or `localhost` (overrides
    /// gateway.bind) [default: 127.0.0.1]. Anything but loopback needs
    /// gateway.auth.token or gateway.clients.
    #[arg(long, value_name = "ADDR", value_parser = parse_bind)]
    bind: Option<IpAddr>,
}

/// The command line's overrides of the config.
#[derive(Debug, Clone, Copy)]
struct Overrides {
    port: Option<u16>,
    bind: Option<IpAddr>,
}

/// The config `serve` runs with: `config` with the command line's overrides
/// applied, and refused if it would expose the keys. `listening` is the
/// address already bound (on reload): bind and port cannot change without a
/// restart, so the config keeps that address, is checked against it, and a
/// note says so. Returns the config and what the user should be told.
fn effective(
    mut config: Config,
    overrides: Overrides,
    listening: Option<SocketAddr>,
) -> Result<(Config, Vec<String>), String> {
    let mut notes = Vec::new();
    if let Some(whose) = overrides.port.and_then(config::openclaws_port) {
        return Err(format!(
            "--port {whose}; choose a port outside those ranges"
        ));
    }
    config.gateway.port = overrides.port.unwrap_or(config.gateway.port);
    config.gateway.bind = overrides.bind.unwrap_or(config.gateway.bind);
    if let Some(addr) = listening {
        let wanted = SocketAddr::new(config.gateway.bind, config.gateway.port);
        // Port 0 asks for any port: the one bound satisfies it.
        let same = wanted.ip() == addr.ip() && (wanted.port() == addr.port() || wanted.port() == 0);
        if !same {
            notes.push(format!(
                "gateway.bind/gateway.port now say {wanted}; that takes a restart, so clawgate keeps serving on {addr}"
            ));
        }
        config.gateway.bind = addr.ip();
        config.gateway.port = addr.port();
    }
    if let Some(error) = config.self_loops().into_iter().next() {
        return Err(error);
    }
    if !is_loopback(config.gateway.bind) && !config.gateway.clients.require_key() {
        return Err(format!(
            "refusing to listen on {} without gateway.auth.token or gateway.clients: anyone who can reach it could spend your keys",
            config.gateway.bind
        ));
    }
    if let Some(weak) = config.gateway.weak_token() {
        return Err(format!("refusing to listen: gateway.auth.token: {weak}"));
    }
    Ok((config, notes))
}

pub async fn serve(args: ServeArgs) -> Result<ExitCode, CliError> {
    let overrides = Overrides {
        port: args.port,
        bind: args.bind,
    };
    let process = args.source.process_under_files()?;
    let (source, loaded) = args.source.load_over(process.clone(), Secrets::Required)?;
    report(&source, &loaded);
    let (config, _) = effective(loaded.config, overrides, None).map_err(CliError::Other)?;
    if let Some(warning) =
        server::raise_fd_limit(server::descriptors_needed(&config.gateway.limits))
    {
        tracing::warn!("{warning}");
    }
    let wanted = SocketAddr::new(config.gateway.bind, config.gateway.port);
    let listener = server::bind(wanted).map_err(|e| CliError::Other(cannot_listen(wanted, &e)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::Other(e.to_string()))?;
    let chain = chain_text(&config);
    if let Some(telemetry) = &config.gateway.telemetry {
        tracing::info!(
            "telemetry: traces to {} as {} (sampling {})",
            config.redactor.url(&telemetry.traces_url),
            telemetry.service_name,
            telemetry.sample_ratio
        );
    }
    let grace = config.gateway.shutdown_grace;
    let ledger = open_ledger(&config, &args.source)?;
    let shared_placements = match (&config.ledger.store, config.ledger.enabled) {
        (Some(url), true) => crate::ledger::placements::SharedPlacements::new(url).ok(),
        _ => None,
    };
    let gateway = Gateway::new(config).map_err(|e| CliError::Other(e.to_string()))?;
    let mut gateway = gateway.with_ledger(ledger.clone());
    if let Some(shared) = shared_placements {
        gateway = gateway.with_shared_placements(shared);
    }
    let gateway = Arc::new(gateway);

    // Signal handlers are installed before READY=1: from then on systemd may
    // send SIGHUP or SIGTERM, whose default action would kill the process.
    use tokio::signal::unix::{SignalKind, signal};
    let signal_error =
        |e: std::io::Error| CliError::Other(format!("cannot install signal handlers: {e}"));
    let hangups = signal(SignalKind::hangup()).map_err(signal_error)?;
    let terminate = signal(SignalKind::terminate()).map_err(signal_error)?;
    let interrupt = signal(SignalKind::interrupt()).map_err(signal_error)?;
    // Why the last reload was refused, until one succeeds: the live status
    // line keeps saying it.
    let refused: RefusedReload = Arc::default();
    tokio::spawn(reload_on_sighup(
        hangups,
        gateway.clone(),
        (args.source, process, source.clone()),
        overrides,
        addr,
        refused.clone(),
    ));
    systemd::spawn_watchdog();
    let loaded_from = match &source {
        Source::File(path) => format!("config {}", path.display()),
        Source::Defaults => "no config file, built-in defaults".to_string(),
    };
    tracing::info!(%addr, chain, "{loaded_from}; chain {chain}; listening on http://{addr}");
    systemd::ready(&format!("serving on {addr}; chain {chain}"));
    systemd::spawn_live_status(LIVE_STATUS_EVERY, {
        let gateway = gateway.clone();
        move || {
            let line = live_status(&gateway);
            match refused.lock().map(|r| r.clone()) {
                Ok(Some(why)) => format!("last reload refused: {}; {line}", in_one_line(&why)),
                _ => line,
            }
        }
    });
    let (shutdown, hurry) = shutdown_signals(terminate, interrupt);
    server::run_until(listener, gateway.clone(), shutdown, hurry)
        .await
        .map_err(|e| CliError::Other(format!("server failed: {e}")))?;
    // The last requests' spans are sent, within the drain's grace.
    if let Some(telemetry) = gateway.telemetry() {
        telemetry.shutdown(grace.min(FLUSH_AT_MOST)).await;
    }
    // Rows of the last requests are written before the process ends.
    tokio::task::spawn_blocking(move || ledger.close(std::time::Duration::from_secs(5)))
        .await
        .ok();
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The longest shutdown waits for the last spans to be sent.
const FLUSH_AT_MOST: std::time::Duration = std::time::Duration::from_secs(5);

/// How often `STATUS=` is brought up to date (only sent when it changed).
const LIVE_STATUS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The ledger at `ledger.path`, else `ledger.db` in the state directory;
/// in memory only when `ledger.enabled` is false or there is no state
/// directory. A database that cannot be opened is logged, not fatal.
/// Why `serve` cannot listen on `addr`, and what to do about it (also
/// `doctor`'s port check).
pub(super) fn cannot_listen(addr: SocketAddr, err: &std::io::Error) -> String {
    let what_to_do = match err.kind() {
        std::io::ErrorKind::AddrInUse => "another process listens there, often a clawgate \
             already running (`systemctl --user status clawgate` shows the service); stop it, \
             or pick another port with --port or gateway.port"
            .to_string(),
        std::io::ErrorKind::PermissionDenied if addr.port() < 1024 => {
            "ports below 1024 need privileges; pick another with --port or gateway.port".into()
        }
        std::io::ErrorKind::AddrNotAvailable => format!(
            "{} is not an address of this machine; set gateway.bind (or --bind) to one of its addresses, such as 127.0.0.1",
            addr.ip()
        ),
        _ => return format!("cannot listen on {addr}: {err}"),
    };
    format!("cannot listen on {addr}: {err}: {what_to_do}")
}

fn open_ledger(config: &Config, source: &SourceArgs) -> Result<Arc<Ledger>, CliError> {
    let env = source.environment()?;
    let state_dir = config::state_dir(&env);
    let path = ledger::default_path(&config.ledger, state_dir.as_deref());
    if let (Some(url), true) = (&config.ledger.store, config.ledger.enabled) {
        let spool = state_dir.as_deref().map(|dir| dir.join("ledger-spool"));
        let ledger = Ledger::open_postgres(
            url,
            &config.ledger,
            ledger::system_clock(),
            spool.as_deref(),
        );
        tracing::info!("usage ledger: {}", url.shown());
        return Ok(Arc::new(ledger));
    }
    let ledger = match path {
        Some(path) if config.ledger.enabled => {
            Ledger::open(&path, &config.ledger, ledger::system_clock())
        }
        Some(_) => Ledger::in_memory(),
        None => {
            tracing::warn!(
                "usage ledger: no state directory ($CLAWGATE_STATE_DIR, $XDG_STATE_HOME or $HOME); usage is counted in memory only"
            );
            Ledger::in_memory()
        }
    };
    Ok(Arc::new(ledger))
}

/// The `STATUS=` line: the last hour's requests and fallbacks, cooling
/// targets, today's spend.
fn live_status(gateway: &Gateway) -> String {
    let now = std::time::Instant::now();
    let cooling: Vec<(String, std::time::Duration)> = gateway
        .cooldowns()
        .snapshot(now)
        .into_iter()
        .filter_map(|(model_ref, status)| {
            let remaining = status.cooldown_remaining_seconds?;
            Some((
                model_ref.to_string(),
                std::time::Duration::from_secs_f64(remaining.max(0.0)),
            ))
        })
        .collect();
    let ledger = gateway.ledger();
    let today = ledger::calendar::day_of(ledger.now());
    let spent = ledger.with_totals(|totals| totals.since(None, today, |_| true));
    ledger::summary::line(&ledger.recent(), &cooling, spent)
}

/// Why the last reload was refused, until one succeeds.
type RefusedReload = Arc<std::sync::Mutex<Option<String>>>;

/// SIGHUP re-reads the env files and the config and applies them exactly as
/// startup would. A config startup would refuse is logged, shown in the
/// systemd status (`refused` keeps it there), and the old one keeps
/// serving. A gateway started from a file reads that file and no other
/// (`started`): one gone for a moment (moved aside, written anew by an
/// editor) must not make the built-in defaults, with no key, serve. The
/// env files are read under `process`, the process environment as start
/// read it ([`SourceArgs::process_under_files`]).
async fn reload_on_sighup(
    mut hangups: tokio::signal::unix::Signal,
    gateway: Arc<Gateway>,
    (source, process, started): (SourceArgs, Environment, Source),
    overrides: Overrides,
    addr: SocketAddr,
    refused: RefusedReload,
) {
    let source = Arc::new(source);
    while hangups.recv().await.is_some() {
        let (source, process, started) = (source.clone(), process.clone(), started.clone());
        let reason = reload(&gateway, addr, move || {
            let elsewhere = |now: &dyn std::fmt::Display| {
                format!(
                    "the gateway started from the config {started}, and a reload reads that \
                     file and no other; {now}: put it back, or restart to start from what \
                     is there now"
                )
            };
            if let Source::File(file) = &started
                && !file.exists()
            {
                return Err(elsewhere(&"it is gone"));
            }
            let loaded = source.load_over(process, Secrets::Required);
            let (path, loaded) = loaded.map_err(|e| e.to_string())?;
            if matches!(started, Source::File(_)) && path != started {
                return Err(elsewhere(&format_args!("now it would read {path}")));
            }
            report(&path, &loaded);
            let (config, notes) = effective(loaded.config, overrides, Some(addr))?;
            Ok((path, config, notes))
        })
        .await;
        if let Ok(mut refused) = refused.lock() {
            *refused = reason;
        }
    }
}

/// What a reload read: where from, the config to serve, notes for the log.
type Reloaded = (Source, Config, Vec<String>);

/// The longest a reload waits for its files: one that never comes (a
/// named pipe no one writes, a hung network filesystem) is refused, and
/// the next reload does not wait behind it.
const RELOAD_READ_AT_MOST: std::time::Duration = std::time::Duration::from_secs(10);

/// The stack of the thread a reload reads on: far more than the config's
/// depth limit needs, so that a file the depth check misjudged still cannot
/// overflow it and take the gateway down (pages are only committed when
/// touched).
const RELOAD_STACK_BYTES: usize = 256 << 20;

/// One reload: `read` runs on a thread of its own with a deep stack (it
/// reads files and parses them), and whatever it does, failing or
/// panicking included, the gateway either serves the new config or keeps
/// the old one and the log says why. Returns the reason a reload was
/// refused.
async fn reload(
    gateway: &Gateway,
    addr: SocketAddr,
    read: impl FnOnce() -> Result<Reloaded, String> + Send + 'static,
) -> Option<String> {
    systemd::reloading();
    let (done, result) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("clawgate-reload".into())
        .stack_size(RELOAD_STACK_BYTES)
        .spawn(move || {
            let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read));
            let _ = done.send(read);
        });
    let applied = match spawned {
        Err(err) => Err(format!("could not start reading the config: {err}")),
        Ok(_) => match tokio::time::timeout(RELOAD_READ_AT_MOST, result).await {
            Err(_) => Err(format!(
                "reading the config or the env file took more than {} s (a named pipe no one writes? a hung filesystem?)",
                RELOAD_READ_AT_MOST.as_secs()
            )),
            Ok(Ok(Ok(read))) => read,
            // The panic's own message went to stderr; it may quote the file.
            Ok(Ok(Err(_panic))) => Err(
                "reading the config failed unexpectedly (a bug in clawgate: please report it)"
                    .into(),
            ),
            Ok(Err(_)) => Err("reading the config was cancelled".into()),
        },
    };
    match applied {
        Ok((path, config, mut notes)) => {
            let chain = chain_text(&config);
            notes.extend(gateway.replace_config(config));
            for note in &notes {
                tracing::warn!("reload: {note}");
            }
            tracing::info!(chain, "config reloaded from {path}");
            systemd::ready(&format!("serving on {addr}; chain {chain}"));
            None
        }
        Err(reason) => {
            tracing::error!("reload refused; the previous config keeps serving: {reason}");
            systemd::ready(&format!(
                "serving on {addr}; last reload refused: {}",
                in_one_line(&reason)
            ));
            Some(reason)
        }
    }
}

/// Why a reload was refused, in the one line `systemctl status` shows: a
/// heading that ends in `:` (`invalid config (path):`) with the first
/// reason under it, and a word that the log has the rest.
fn in_one_line(reason: &str) -> String {
    let mut lines = reason
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty());
    let first = lines.next().unwrap_or_default();
    let Some(heading) = first.strip_suffix(':') else {
        return first.to_string();
    };
    match (lines.next(), lines.next()) {
        (Some(reason), None) => format!("{heading}: {reason}"),
        (Some(reason), Some(_)) => format!("{heading}: {reason} (more in the log)"),
        (None, _) => heading.to_string(),
    }
}

/// The first SIGTERM or SIGINT, and the second: after the first the
/// gateway drains its in-flight requests, after the second it ends them
/// at once, each told and counted as at the grace's end; a third stops
/// the process there and then.
fn shutdown_signals(
    mut terminate: tokio::signal::unix::Signal,
    mut interrupt: tokio::signal::unix::Signal,
) -> (
    impl Future<Output = ()> + Send + 'static,
    impl Future<Output = ()> + Send + 'static,
) {
    let (count, seen) = tokio::sync::watch::channel(0);
    tokio::spawn(async move {
        for signal in 1.. {
            tokio::select! {
                Some(()) = terminate.recv() => {}
                Some(()) = interrupt.recv() => {}
                // No signal can come any more: nothing to shut down for.
                else => std::future::pending().await,
            }
            if signal == 1 {
                tracing::info!(
                    "shutting down; draining in-flight requests (a second signal ends them now)"
                );
                systemd::stopping("draining in-flight requests");
            } else if signal > 2 {
                tracing::warn!("third signal: stopping now");
                std::process::exit(1);
            }
            let _ = count.send(signal);
        }
    });
    let after = |signals: u32| {
        let mut seen = seen.clone();
        async move {
            let _ = seen.wait_for(|count| *count >= signals).await;
        }
    };
    (after(1), after(2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Environment, load_str};

    fn config(gateway: &str) -> Config {
        let env = Environment::from_pairs([
            ("MOONSHOT_API_KEY", "k-moonshot"),
            ("OPENROUTER_API_KEY", "k-openrouter"),
        ]);
        load_str(&format!("{{gateway: {gateway}}}"), &env, Secrets::Required)
            .unwrap()
            .config
    }

    const NONE: Overrides = Overrides {
        port: None,
        bind: None,
    };

    #[test]
    fn a_refused_reload_is_said_in_one_line_with_its_first_reason() {
        let invalid = "invalid config (/c.json5):\n  gateway.port: expected a port\n  gateway.bind: expected an address\n";
        assert_eq!(
            in_one_line(invalid),
            "invalid config (/c.json5): gateway.port: expected a port (more in the log)"
        );
        assert_eq!(
            in_one_line("invalid config (/c.json5):\n  gateway.port: expected a port"),
            "invalid config (/c.json5): gateway.port: expected a port"
        );
        assert_eq!(
            in_one_line("refusing to listen\nhere"),
            "refusing to listen"
        );
    }

    #[test]
    fn the_command_line_wins_and_exposure_needs_a_token() {
        let public = Overrides {
            port: Some(9),
            bind: Some(IpAddr::from([0, 0, 0, 0])),
        };
        let refused = effective(config("{}"), public, None).unwrap_err();
        assert!(
            refused.contains("refusing to listen on 0.0.0.0"),
            "{refused}"
        );
        // A token the file's loopback address takes is too short for
        // the command line's.
        let refused = effective(config("{auth: {token: 't0ken'}}"), public, None).unwrap_err();
        assert_eq!(
            refused,
            "refusing to listen: gateway.auth.token: the token is 5 characters; a token that guards 0.0.0.0, not a loopback address, needs at least 16 (`openssl rand -hex 32` makes one)"
        );
        let token = "{auth: {token: 't0ken-0123456789'}}";
        let (served, notes) = effective(config(token), public, None).unwrap();
        assert_eq!(
            (served.gateway.bind, served.gateway.port, notes.len()),
            (IpAddr::from([0, 0, 0, 0]), 9, 0)
        );
    }

    #[tokio::test]
    async fn a_reload_that_fails_or_panics_keeps_the_old_config() {
        let gateway = Gateway::new(config("{port: 18701}")).unwrap();
        let addr: SocketAddr = "127.0.0.1:18701".parse().unwrap();
        let before = gateway.config().gateway.timeouts.connect;

        let refused = reload(&gateway, addr, || Err("invalid config (x)".into())).await;
        assert_eq!(refused.as_deref(), Some("invalid config (x)"));
        let refused = reload(&gateway, addr, || panic!("a bug while reading")).await;
        assert_eq!(
            refused.as_deref(),
            Some("reading the config failed unexpectedly (a bug in clawgate: please report it)")
        );
        assert_eq!(gateway.config().gateway.timeouts.connect, before);

        // And the gateway still takes a good one afterwards.
        let next = config("{port: 18701, timeouts: {connectSeconds: 3.5}}");
        let applied = reload(&gateway, addr, move || {
            Ok((Source::Defaults, next, Vec::new()))
        })
        .await;
        assert_eq!(applied, None);
        assert_eq!(
            gateway.config().gateway.timeouts.connect,
            std::time::Duration::from_millis(3500)
        );
    }

    #[test]
    fn a_reload_keeps_the_bound_address_and_is_checked_against_it() {
        let bound: SocketAddr = "0.0.0.0:18700".parse().unwrap();
        // The file now says loopback and drops the token: the listener is
        // still public, so the reload is refused.
        let refused = effective(config("{bind: '127.0.0.1'}"), NONE, Some(bound)).unwrap_err();
        assert!(
            refused.contains("refusing to listen on 0.0.0.0"),
            "{refused}"
        );

        let (served, notes) = effective(
            config("{bind: '127.0.0.1', port: 18701, auth: {token: 't0ken-0123456789'}}"),
            NONE,
            Some(bound),
        )
        .unwrap();
        assert_eq!(
            SocketAddr::new(served.gateway.bind, served.gateway.port),
            bound
        );
        assert_eq!(
            notes,
            [
                "gateway.bind/gateway.port now say 127.0.0.1:18701; that takes a restart, so clawgate keeps serving on 0.0.0.0:18700"
            ]
        );
    }
}
