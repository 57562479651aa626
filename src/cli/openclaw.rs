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

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Map, Value, json};

use super::{CliError, SourceArgs, print_json};
use crate::config::clients::TOKEN_CLIENT;
use crate::config::{Config, Secrets, Source, Target};

#[derive(Debug, Subcommand)]
pub enum OpenclawCommand {
    /// Print the OpenClaw config excerpt (JSON) to merge into ~/.openclaw/openclaw.json:
    /// `models.providers.clawgate` and `agents.defaults.model.primary`.
    Provider {
        #[command(flatten)]
        source: SourceArgs,
        /// The client under gateway.clients that OpenClaw is: the entry names its key
        /// (its `${VAR}`) and lists the models it may use
        #[arg(long, value_name = "NAME")]
        client: Option<String>,
    },
}

pub fn provider(source_args: &SourceArgs, client: Option<&str>) -> Result<ExitCode, CliError> {
    let (source, loaded) = source_args.load(Secrets::Offline)?;
    let config = &loaded.config;
    let clients = &config.gateway.clients;
    let client = match client {
        Some(name) => Some(clients.get(name).ok_or_else(|| {
            let names: Vec<&str> = clients.iter().map(|c| &*c.name).collect();
            CliError::Other(format!(
                "no client {name:?} under gateway.clients (it has: {})",
                names.join(", ")
            ))
        })?),
        None => None,
    };
    // The token's holder is named by the token.
    let client = client.filter(|client| &*client.name != TOKEN_CLIENT);
    // The key as the file writes it: the client's, else the token's.
    let (at, written) = match client {
        Some(client) => (
            "client's key",
            written(&source, &format!("/gateway/clients/{}/key", client.name))?,
        ),
        None => (
            "gateway.auth.token",
            written(&source, "/gateway/auth/token")?,
        ),
    };
    let api_key = match written {
        Some(key) if is_reference(&key) => key,
        Some(_) if client.is_some() => {
            errln!(
                "warning: the client's key is known here only by its SHA-256; the entry names it as ${{CLAWGATE_KEY}}: \
                 put the key in OpenClaw's environment under that name"
            );
            "${CLAWGATE_KEY}".into()
        }
        Some(_) => {
            errln!(
                "warning: {at} is written literally; the entry names it as ${{CLAWGATE_TOKEN}}: \
                 put the token in OpenClaw's environment under that name"
            );
            "${CLAWGATE_TOKEN}".into()
        }
        None if config.gateway.clients.require_key() => {
            errln!(
                "warning: this gateway takes a client's key; the entry names it as ${{CLAWGATE_KEY}}: \
                 pass --client NAME to name that client's own, or put its key in OpenClaw's environment under that name"
            );
            "${CLAWGATE_KEY}".into()
        }
        None => "clawgate-local".into(),
    };
    let allowed = |target: &Target| client.is_none_or(|client| client.may_use(&target.model_ref));
    print_json(&snippet(config, &api_key, allowed));
    Ok(ExitCode::SUCCESS)
}

/// The excerpt of OpenClaw's config that wires it to this gateway: the
/// provider entry and OpenClaw's default model, the first of the chain's
/// targets `allowed`.
pub fn snippet(config: &Config, api_key: &str, allowed: impl Fn(&Target) -> bool) -> Value {
    let chain: Vec<Target> = (config.chain(None).unwrap_or_default())
        .into_iter()
        .filter(|target| allowed(target))
        .collect();
    let primary = (chain.first()).map(|target| format!("clawgate/{}", target.model_ref.as_str()));
    json!({
        "models": {"mode": "merge", "providers": {"clawgate": entry(config, &chain, api_key)}},
        "agents": {"defaults": {"model": {"primary": primary}}},
    })
}

/// The string at `pointer` in the config file as written: a `${VAR}`
/// reference is kept (OpenClaw resolves it from its own environment); a
/// literal key is never printed. None where `gateway.mode` marks the
/// gateway section as OpenClaw's own: clawgate takes no key of it, and
/// OpenClaw is not to send its own token on.
fn written(source: &Source, pointer: &str) -> Result<Option<String>, CliError> {
    let Source::File(path) = source else {
        return Ok(None);
    };
    // Loaded already: a document that cannot be read now says nothing.
    let document = crate::config::read_document(path).unwrap_or(Value::Null);
    if document.pointer("/gateway/mode").is_some() {
        return Ok(None);
    }
    Ok(document
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string))
}

/// The entry for `config`: the gateway's address, the key OpenClaw sends
/// (`api_key`: a reference, or the placeholder a keyless gateway takes),
/// and each model of `chain` with its facts.
pub fn entry(config: &Config, chain: &[Target], api_key: &str) -> Value {
    let gateway = &config.gateway;
    let models: Vec<Value> = chain
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
        "baseUrl": format!("http://{}/v1", gateway.local_address(gateway.port)),
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
