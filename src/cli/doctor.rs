//! `clawgate doctor`: every check of the config, keys, files and port.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use super::{CliError, SourceArgs, chain_text};
use crate::config::{self, ApiKey, Secrets};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub source: SourceArgs,
}

pub fn doctor(source_args: &SourceArgs) -> Result<ExitCode, CliError> {
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
        let text = path.to_string_lossy();
        match text.strip_prefix('-') {
            Some(optional) if !Path::new(optional).exists() => check(
                Some(true),
                format!("optional env file {optional} is absent"),
            ),
            Some(optional) => {
                let (ok, text) = env_file_check(Path::new(optional));
                check(Some(ok), text);
            }
            None => {
                let (ok, text) = env_file_check(path);
                check(Some(ok), text);
            }
        }
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
