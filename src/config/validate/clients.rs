//! `gateway.clients`: each client's key (from the environment, or its
//! SHA-256), the models it may use, its budgets and its limits; and
//! `gateway.auth.token` as the one client it was before.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use secrecy::ExposeSecret;

use super::super::clients::{
    ANONYMOUS, AllowedModels, Client, Clients, KeyDigest, RateLimits, TOKEN_CLIENT, digest,
    too_short,
};
use super::super::raw::{RawClient, RawClientLimits};
use super::super::{Config, ModelRef};
use super::{Validator, Vars, ledger};

/// The clients of `config` (whose providers and routing are validated):
/// those under `gateway.clients` and the holder of `gateway.auth.token`;
/// and the digests of the keys written as theirs (`sha256:`), which are
/// the only form of those keys the scrubber can know.
pub(super) fn clients(
    raw: BTreeMap<String, RawClient>,
    config: &Config,
    vars: &Vars,
    v: &mut Validator,
) -> (Clients, Vec<KeyDigest>) {
    let mut all = Vec::new();
    let mut hashed = Vec::new();
    // Which client (or the token) each key digest belongs to.
    let mut owners: BTreeMap<KeyDigest, String> = BTreeMap::new();
    if let Some(token) = &config.gateway.auth_token {
        let token = digest(token.expose_secret().as_bytes());
        owners.insert(token, "gateway.auth.token".to_string());
        all.push(Arc::new(Client::owner(TOKEN_CLIENT, Some(token))));
    }
    for (name, raw) in raw {
        let path = format!("gateway.clients.{name}");
        if let Err(message) = check_name(&name) {
            v.error(&path, message);
            continue;
        }
        let name: Arc<str> = name.into();
        let key_path = format!("{path}.key");
        let digest = key_digest(raw.key.as_deref(), &key_path, vars, v);
        if !vars.substituted(&key_path) {
            hashed.extend(digest);
        }
        if let Some(digest) = digest {
            if let Some(owner) = owners.get(&digest) {
                v.error(
                    &key_path,
                    format!("the same key as {owner}; each client needs a key of its own"),
                );
            } else {
                owners.insert(digest, key_path.clone());
            }
        }
        let models = (raw.models).map(|written| allowed_models(written, &path, config, v));
        // The default chain as this client may use it.
        let chain: Vec<&ModelRef> = (config.routing.refs())
            .filter(|model_ref| models.as_ref().is_none_or(|m| m.allows(model_ref)))
            .collect();
        all.push(Arc::new(Client {
            digest,
            admin: raw.admin.unwrap_or(false),
            budgets: ledger::budgets(
                raw.budgets,
                &format!("{path}.budgets"),
                Some(name.clone()),
                &config.providers,
                &chain,
                v,
            ),
            models,
            limits: limits(&raw.limits, &path, v),
            name,
        }));
    }
    (Clients::new(all), hashed)
}

/// Names are the user's, within what a ledger column, a log field and a
/// URL's query may hold without escaping.
fn check_name(name: &str) -> Result<(), String> {
    if name == TOKEN_CLIENT || name == ANONYMOUS {
        return Err(format!(
            "the name {name:?} is reserved ({TOKEN_CLIENT:?} is gateway.auth.token's, {ANONYMOUS:?} is for requests when no key is required); choose another"
        ));
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    let fits = (1..=64).contains(&name.len()) && name.bytes().all(allowed);
    let message =
        || format!("a client's name is 1 to 64 letters, digits, '-', '_' or '.', found {name:?}");
    fits.then_some(()).ok_or_else(message)
}

/// The digest of the key at `path`: `"${VAR}"` (the key, from the
/// environment) or `"sha256:"` and its 64 hex digits. Never a key written
/// in the file: that would end up in the Nix store and in backups.
fn key_digest(key: Option<&str>, path: &str, vars: &Vars, v: &mut Validator) -> Option<KeyDigest> {
    // An unset variable is reported with the others.
    if vars.unset(path).is_some() {
        return None;
    }
    let digest = match key {
        None => Err("missing: set it to \"${VAR}\" (the client's key in the environment file) or \"sha256:\" and the key's SHA-256 in hex".into()),
        Some(key) if vars.substituted(path) => match too_short(key, "a client key") {
            Some(why) => Err(format!("the key from the environment is {why}")),
            None => Ok(digest(key.as_bytes())),
        },
        Some(key) => match key.strip_prefix("sha256:") {
            None => Err("expected \"${VAR}\" (the client's key in the environment file) or \"sha256:\" and the key's SHA-256 in hex (`printf %s \"$KEY\" | sha256sum`); a key written in the config file would end up in the Nix store and in backups".into()),
            Some(hex) => hex_digest(hex),
        },
    };
    v.ok(path, digest)
}

/// The digest written as 64 hex digits, unless it is a [`known_key`]'s.
fn hex_digest(hex: &str) -> Result<KeyDigest, String> {
    let all_hex = hex.bytes().all(|b| b.is_ascii_hexdigit());
    if hex.len() != 64 || !all_hex {
        return Err(format!(
            "expected 64 hex digits after \"sha256:\", found {} characters{}",
            hex.chars().count(),
            if all_hex { "" } else { ", not all hex digits" }
        ));
    }
    let mut digest = [0; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        // Two hex digits, checked above.
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or_default();
    }
    match known_key(&digest) {
        None => Ok(digest),
        Some(known) => Err(format!(
            "this is the SHA-256 of {known}, a key anyone can send; make a key with `openssl rand -hex 32`, give it to the client and write the SHA-256 of that key here"
        )),
    }
}

/// What a digest is the SHA-256 of, when it is a key anyone could guess:
/// the empty string (`printf %s "$KEY" | sha256sum` with `KEY` unset) or
/// `test` (an example once given in the docs).
fn known_key(hash: &KeyDigest) -> Option<&'static str> {
    [
        (
            "the empty string (`$KEY` was unset when it was hashed?)",
            "",
        ),
        ("\"test\", the docs' example", "test"),
    ]
    .into_iter()
    .find_map(|(said, key)| (digest(key.as_bytes()) == *hash).then_some(said))
}

/// Each entry a ref, an alias or `default`, resolved as a request's model
/// is.
fn allowed_models(
    written: Vec<String>,
    path: &str,
    config: &Config,
    v: &mut Validator,
) -> AllowedModels {
    let routing = &config.routing;
    let mut refs = BTreeSet::new();
    // Every target the entries' chains reach, their fallbacks included.
    let mut reached = Vec::new();
    if written.is_empty() {
        v.error(
            format!("{path}.models"),
            "an empty list allows no model; leave it out to allow every model",
        );
    }
    for (index, name) in written.iter().enumerate() {
        match config.chain(Some(name)) {
            Ok(chain) => {
                // The model named (one member of a pool names that member
                // alone); `default`, the primary's place (its whole pool).
                match config.resolve(name) {
                    Some(model_ref) if name != "default" => {
                        refs.insert(model_ref);
                    }
                    _ => refs.extend(routing.place_of(&routing.primary).iter().cloned()),
                }
                reached.extend(chain.into_iter().map(|t| t.model_ref));
            }
            Err(unknown) => v.error(format!("{path}.models[{index}]"), unknown.to_string()),
        }
    }
    // Said at load: a client's requests fail where the owner's fall over.
    let left_out: BTreeSet<String> = reached
        .into_iter()
        .filter(|model_ref| !refs.contains(model_ref))
        .map(|model_ref| model_ref.to_string())
        .collect();
    if !refs.is_empty() && !left_out.is_empty() {
        let left_out: Vec<String> = left_out.into_iter().collect();
        v.warnings.push(format!(
            "{path}.models: leaves out the chain's fallbacks {}; this client's requests never fall over to them (add them to its models if they may)",
            left_out.join(", ")
        ));
    }
    AllowedModels { written, refs }
}

fn limits(raw: &RawClientLimits, path: &str, v: &mut Validator) -> RateLimits {
    let mut number = |key: &str, value: Option<u64>, max: u64| {
        v.count(format!("{path}.limits.{key}"), value, max)
    };
    RateLimits {
        requests_per_minute: number("requestsPerMinute", raw.requests_per_minute, 1_000_000)
            .map(|n| n as u32),
        tokens_per_minute: number("tokensPerMinute", raw.tokens_per_minute, 1_000_000_000_000),
        concurrent_requests: number("concurrentRequests", raw.concurrent_requests, 1_000_000)
            .map(|n| n as usize),
    }
}
