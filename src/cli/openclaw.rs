//! `clawgate openclaw provider`: what an OpenClaw config needs to use this
//! gateway, for users without Nix: the `models.providers.clawgate` entry
//! and the `agents.defaults.model.primary` that points at it (the Nix
//! modules compute the same JSON in `nix/openclaw.nix`).
//!
//! OpenClaw 2026.9 offers `/think` levels off to high for a model whose
//! entry says `reasoning: true` (and only `off` otherwise), and sends them
//! to a custom provider only with `compat.supportsReasoningEffort`; its
//! bundled Moonshot policies key on the provider id, so a `clawgate`
//! provider's models are taken as the entry describes them.

use std::net::IpAddr;
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Map, Value, json};

use super::{CliError, SourceArgs, print_json};
use crate::config::{Config, Secrets, Source};

#[derive(Debug, Subcommand)]
pub enum OpenclawCommand {
    /// Print the OpenClaw config excerpt (JSON) to merge into ~/.openclaw/openclaw.json:
    /// `models.providers.clawgate` and `agents.defaults.model.primary`.
    Provider {
        #[command(flatten)]
        source: SourceArgs,
    },
}

pub fn provider(source_args: &SourceArgs) -> Result<ExitCode, CliError> {
    let (source, loaded) = source_args.load(Secrets::Offline)?;
    let token = token_as_written(&source)?;
    if token.as_deref().is_some_and(|t| !is_reference(t)) {
        errln!(
            "warning: gateway.auth.token is written literally; the entry names it as ${{CLAWGATE_TOKEN}}: \
             put the token in OpenClaw's environment under that name"
        );
    }
    print_json(&snippet(&loaded.config, token.as_deref()));
    Ok(ExitCode::SUCCESS)
}

/// The excerpt of OpenClaw's config that wires it to this gateway: the
/// provider entry and OpenClaw's default model, the chain's primary.
pub fn snippet(config: &Config, token: Option<&str>) -> Value {
    let primary = config
        .chain(None)
        .unwrap_or_default()
        .first()
        .map(|target| format!("clawgate/{}", target.model_ref.as_str()));
    json!({
        "models": {"mode": "merge", "providers": {"clawgate": entry(config, token)}},
        "agents": {"defaults": {"model": {"primary": primary}}},
    })
}

/// `gateway.auth.token` as the file writes it: a `${VAR}` reference is
/// kept (OpenClaw resolves it from its own environment); a literal token is
/// never printed. None where `gateway.mode` marks the section as
/// OpenClaw's own gateway: clawgate takes no token of it, and OpenClaw is
/// not to send its own token on.
fn token_as_written(source: &Source) -> Result<Option<String>, CliError> {
    let Source::File(path) = source else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Other(format!("cannot read {}: {e}", path.display())))?;
    let document: Value = crate::config::parse_document(&text).unwrap_or(Value::Null);
    if document.pointer("/gateway/mode").is_some() {
        return Ok(None);
    }
    Ok(document
        .pointer("/gateway/auth/token")
        .and_then(Value::as_str)
        .map(str::to_string))
}

/// The entry for `config`: the gateway's address, the token reference, and
/// every model of the default chain with its facts.
pub fn entry(config: &Config, token: Option<&str>) -> Value {
    let gateway = &config.gateway;
    // Where a client on this machine reaches the listener: the bind
    // address itself, or loopback of the same family for a wildcard.
    let host = match gateway.bind {
        IpAddr::V4(bind) if bind.is_unspecified() => "127.0.0.1".to_string(),
        IpAddr::V6(bind) if bind.is_unspecified() => "[::1]".to_string(),
        IpAddr::V6(bind) => format!("[{bind}]"),
        IpAddr::V4(bind) => bind.to_string(),
    };
    let api_key = match token {
        None => "clawgate-local".to_string(),
        Some(token) if is_reference(token) => token.to_string(),
        Some(_) => "${CLAWGATE_TOKEN}".to_string(),
    };
    let models: Vec<Value> = config
        .chain(None)
        .unwrap_or_default()
        .iter()
        .map(|target| {
            let model = &target.model;
            let mut entry = json!({
                "id": target.model_ref.as_str(),
                "name": format!("{} via clawgate", model.name),
                "reasoning": model.reasoning,
                "input": model.input,
                // OpenClaw writes zeros for a price it does not know.
                "cost": model.cost.unwrap_or_default(),
                "compat": {"supportsReasoningEffort": true, "supportsUsageInStreaming": true},
            });
            let object = entry.as_object_mut().expect("an object");
            insert_some(object, "contextWindow", model.context_window);
            insert_some(object, "maxTokens", model.max_tokens);
            entry
        })
        .collect();
    json!({
        "baseUrl": format!("http://{host}:{}/v1", gateway.port),
        "api": "openai-completions",
        "apiKey": api_key,
        "models": models,
    })
}

/// Exactly one `${NAME}` reference: safe to print, OpenClaw resolves it.
fn is_reference(token: &str) -> bool {
    token
        .strip_prefix("${")
        .and_then(|rest| rest.strip_suffix('}'))
        .is_some_and(|name| {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name
                    .chars()
                    .all(|c| c == '_' || c.is_ascii_uppercase() || c.is_ascii_digit())
        })
}

fn insert_some(object: &mut Map<String, Value>, key: &str, value: Option<u64>) {
    if let Some(value) = value {
        object.insert(key.to_string(), json!(value));
    }
}
