//! `clawgate serve`: bind, tell systemd, serve until SIGTERM, reload on SIGHUP.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use tokio::net::TcpListener;

use super::{CliError, SourceArgs, chain_text, report};
use crate::config::Secrets;
use crate::gateway::Gateway;
use crate::ops::systemd;
use crate::server;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Port to listen on (overrides gateway.port).
    #[arg(long)]
    port: Option<u16>,
    /// Address to listen on (overrides gateway.bind).
    #[arg(long)]
    bind: Option<IpAddr>,
}

pub async fn serve(args: ServeArgs) -> Result<ExitCode, CliError> {
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
