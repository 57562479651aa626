//! From a parsed document to a [`Config`]: key check, merge with the
//! built-in catalog, `${VAR}` substitution, deserialization section by
//! section (one file each), then the cross-checks (chain refs, aliases, keys
//! of the providers the chain uses). Errors are collected, never returned
//! early, so a user fixes a config in one pass.

mod base_url;
mod clients;
mod gateway;

pub use gateway::openclaws_port;
mod ledger;
mod providers;
mod quota;
mod routing;
mod telemetry;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use self::gateway::gateway_settings;
use self::providers::provider;
pub use self::providers::{PLACEHOLDER, placeholder, self_loops};
use self::routing::{check_keys_of_chain, referenced_providers, routing};
use super::clients::MIN_KEY_CHARS;
use super::raw::{RawAgentDefaults, RawGateway, RawProvider};
use super::{
    Config, ConfigError, ConfigErrors, DEFAULT_PORT, Environment, Loaded, ModelRef, Routing,
    Secrets, Unset, keys, substitute,
};
use crate::catalog;
use crate::ops::redact::{Redactor, is_plain_header, is_sensitive_header};

#[derive(Default)]
struct Validator {
    errors: Vec<ConfigError>,
    warnings: Vec<String>,
    /// For each provider whose `models` list the file gives, the file's
    /// index of each entry of the list merged with the catalog's (`None`
    /// for the catalog's own): set by [`merged_with_catalog`].
    file_indices: BTreeMap<String, Vec<Option<usize>>>,
    /// The members [`Validator::parse`] refused and took out: read on as
    /// left out, they are not refused again for that.
    refused: BTreeSet<String>,
    /// The config's keys (its providers' and clients' keys, its token, its
    /// credential headers), found in what every client is shown by
    /// [`Validator::holds_a_key`].
    keys: Redactor,
}

impl Validator {
    /// An error at `path`, a path in the merged document: a provider's
    /// model is named by its index in the file. None at a member already
    /// refused for its type, nor, under one, for what its absence left out
    /// (`required`); other errors under one are kept, since a key may
    /// itself hold a `.` (`moonshot/kimi-k2` and `moonshot/kimi-k2.6`).
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let path = self.in_file(path.into());
        self.error_in_file(path, message.into());
    }

    /// [`Self::error`] at a path already named as in the file.
    fn error_in_file(&mut self, path: String, message: String) {
        let absent = message.starts_with("required");
        let follows = |refused: &String| placed(&path, refused).is_some_and(|at| at || absent);
        if !self.refused.iter().any(follows) {
            self.errors.push(ConfigError { path, message });
        }
    }

    /// Whether a member at or under `path` was refused for its type.
    fn refused_under(&self, path: &str) -> bool {
        (self.refused.iter()).any(|refused| placed(refused, path).is_some())
    }

    /// `path` with the index of an entry of a merged `models` list
    /// (`models.providers.moonshot.models[15].id`, the catalog's models
    /// first) as the file's (`[0]`).
    fn in_file(&self, path: String) -> String {
        let in_file = self.file_indices.iter().find_map(|(provider, indices)| {
            let prefix = format!("models.providers.{provider}.models[");
            let (index, after) = path.strip_prefix(&prefix)?.split_once(']')?;
            let at: usize = index.parse().ok()?;
            let file = indices.get(at).copied().flatten()?;
            Some(format!("{prefix}{file}]{after}"))
        });
        in_file.unwrap_or(path)
    }

    /// An error at `path` if `text`, which every client is shown as `what`
    /// (a model's name, an alias), holds a key: one of this config's, or
    /// one shaped like a key.
    fn holds_a_key(&mut self, path: String, text: &str, what: &str) {
        if self.keys.scrub(text) != text {
            let message = format!(
                "holds a key (one of this config's, or shaped like one): {what} is shown to every client (GET /v1/models, `clawgate models list`)"
            );
            self.error(path, message);
        }
    }

    /// `result`'s value, or `None` with its error reported at `path`.
    fn ok<T, E: Into<String>>(
        &mut self,
        path: impl Into<String>,
        result: Result<T, E>,
    ) -> Option<T> {
        result.map_err(|message| self.error(path, message)).ok()
    }

    /// `n` when written and a whole number from 1 to `max`; `None` when
    /// left out, or with an error at `path` when not.
    fn count(&mut self, path: impl Into<String>, n: Option<u64>, max: u64) -> Option<u64> {
        let n = n?;
        let checked = (1..=max).contains(&n).then_some(n);
        let message = || format!("expected a whole number from 1 to {max}, found {n}");
        self.ok(path, checked.ok_or_else(message))
    }

    /// `n` when written and from `low` to `high`; `None` when left out, or
    /// with an error at `path` when not.
    fn number(
        &mut self,
        path: impl Into<String>,
        n: Option<f64>,
        (low, high): (f64, f64),
    ) -> Option<f64> {
        let n = n?;
        let checked = (low..=high).contains(&n).then_some(n);
        let message = || format!("expected a number from {low} to {high}, found {n}");
        self.ok(path, checked.ok_or_else(message))
    }

    /// Deserializes `value` (the default when left out), each failure
    /// reported at `path` plus the path inside the value: serde stops at
    /// the first, so the member it failed on is taken out and the rest read
    /// again, until nothing fails (the rest is read on, so that every error
    /// is reported at once), or `None` when the failure is in no member
    /// that can be taken out (a list's element, the value itself).
    fn parse<T>(&mut self, path: &str, value: Option<&Value>) -> Option<T>
    where
        T: DeserializeOwned + Default,
    {
        let Some(value) = value else {
            return Some(T::default());
        };
        let mut rest = Cow::Borrowed(value);
        loop {
            let err = match serde_path_to_error::deserialize(&*rest) {
                Ok(parsed) => return Some(parsed),
                Err(err) => err,
            };
            let full = match err.path().to_string().as_str() {
                "." | "" => path.to_string(),
                inner if inner.starts_with('[') => format!("{path}{inner}"),
                inner => format!("{path}.{inner}"),
            };
            let taken_out = without_member(rest.to_mut(), err.path());
            let full = self.in_file(full);
            self.error_in_file(full.clone(), without_value(&err.into_inner().to_string()));
            if !taken_out {
                break;
            }
            self.refused.insert(full);
        }
        None
    }
}

/// Where `path` stands to `base`: `Some(true)` at it, `Some(false)` under
/// it (past a `.` or a `[`), `None` elsewhere.
fn placed(path: &str, base: &str) -> Option<bool> {
    let rest = path.strip_prefix(base)?;
    (rest.is_empty() || rest.starts_with(['.', '['])).then_some(rest.is_empty())
}

/// Takes out of `value` the object member at `path`; `false` when `path`
/// names none (a list's element, `value` itself, an enum's variant).
fn without_member(value: &mut Value, path: &serde_path_to_error::Path) -> bool {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let Some((Segment::Map { key }, parents)) = segments.split_last() else {
        return false;
    };
    let mut parent = Some(value);
    for segment in parents {
        parent = match (segment, parent) {
            (Segment::Map { key }, Some(Value::Object(members))) => members.get_mut(key),
            (Segment::Seq { index }, Some(Value::Array(items))) => items.get_mut(*index),
            _ => None,
        };
    }
    let members = parent.and_then(Value::as_object_mut);
    members.is_some_and(|members| members.remove(key).is_some())
}

/// `text` with its percent escapes decoded (`+` stays a plus), and whether
/// it was well formed: an escape that is not `%` and two hex digits is kept
/// as written, and bytes that are not UTF-8 become U+FFFD; either makes it
/// not well formed.
pub(super) fn percent_decoded(text: &str) -> (String, bool) {
    let escapes_whole = text.split('%').skip(1).all(|after| {
        (after.as_bytes().get(..2)).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    let decoded = percent_encoding::percent_decode_str(text);
    match decoded.clone().decode_utf8() {
        Ok(text) => (text.into_owned(), escapes_whole),
        Err(_) => (decoded.decode_utf8_lossy().into_owned(), false),
    }
}

/// serde's message without the value it quotes, which may be a key written
/// where another type belongs (`auth: "sk-..."`): `invalid type: string
/// "...", expected a map` becomes `invalid type: string, expected an object`,
/// and `unknown variant `...`, expected one of ...` loses the variant. Only
/// a number out of range where a number belongs is kept.
fn without_value(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        let Some(rest) = message.strip_prefix(prefix) else {
            continue;
        };
        // What was expected is the program's words, never the user's.
        let Some(at) = rest.rfind(", expected ") else {
            return format!("{prefix}not as expected");
        };
        let (found, expected) = rest.split_at(at);
        let kind = found.split(['`', '"']).next().unwrap_or_default().trim();
        // In JSON's words, not serde's or a Rust type's.
        let kind = match kind {
            "map" => "object",
            "sequence" => "array",
            kind => kind,
        };
        let expected = match expected {
            ", expected a map" => ", expected an object",
            ", expected a sequence" => ", expected an array",
            _ if expected.starts_with(", expected struct ") => ", expected an object",
            ", expected u8" => ", expected a whole number from 0 to 255",
            ", expected u16" => ", expected a whole number from 0 to 65535",
            ", expected u32" => ", expected a whole number from 0 to 4294967295",
            ", expected u64" | ", expected usize" => ", expected a whole number, 0 or more",
            ", expected i64" | ", expected i32" => ", expected a whole number",
            ", expected f64" | ", expected f32" => ", expected a number",
            expected => expected,
        };
        // A number out of range in a number's place is no secret, and
        // worth seeing (`integer `-1`, expected a whole number, 0 or more`).
        if prefix == "invalid value: " && matches!(kind, "integer" | "floating point") {
            let found = &rest[..at];
            return format!("{prefix}{found}{expected}");
        }
        return format!("{prefix}{kind}{expected}");
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        return match rest.rfind("`, expected ") {
            Some(at) => format!("unknown value{}", &rest[at + 1..]),
            None => "unknown value".to_string(),
        };
    }
    message.to_string()
}

/// Reports each JSON5 `NaN`, `Infinity` and `-Infinity` by its path (with
/// the range a number of seconds takes there), and leaves `null` in its
/// place so that nothing else reports it again.
fn non_finite_numbers(user: &mut Value, v: &mut Validator) {
    each_leaf(user, String::new(), &mut |path, value| {
        let Value::String(text) = value else { return };
        let Some(number) = text.strip_prefix(super::NON_FINITE_PREFIX) else {
            return;
        };
        let message = if path.ends_with("Seconds") {
            format!("expected {}, found {number}", gateway::SECONDS_RANGE)
        } else {
            format!("expected a finite number, found {number}")
        };
        v.error(path, message);
        *value = Value::Null;
    });
}

/// `value` without the members that are `null`, at any depth: a `null` is
/// a value left out, so the default, or the built-in catalog's, stays (a
/// list's `null` is an item, and stays to be refused).
fn without_nulls(value: &mut Value) {
    match value {
        Value::Object(members) => {
            members.retain(|_, member| !member.is_null());
            members.values_mut().for_each(without_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(without_nulls),
        _ => {}
    }
}

/// Calls `f` with each value under `value` that is neither an object nor
/// an array, and its path (`path` for `value` itself).
pub(super) fn each_leaf(value: &mut Value, path: String, f: &mut impl FnMut(String, &mut Value)) {
    match value {
        Value::Object(members) => {
            for (key, member) in members {
                each_leaf(member, keys::join(&path, key), f);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                each_leaf(item, format!("{path}[{index}]"), f);
            }
        }
        leaf => f(path, leaf),
    }
}

/// The members of the object at `pointer` in `value`: none when there is
/// no object there.
fn members<'a>(value: &'a Value, pointer: &str) -> impl Iterator<Item = (&'a String, &'a Value)> {
    value
        .pointer(pointer)
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

/// A value as an error shows it: a short string quoted (most likely a typo
/// the user will recognise; known secrets are scrubbed from every message
/// anyway), anything else by its type alone.
fn found(value: &Value) -> String {
    match value {
        Value::String(text) if text.chars().count() <= 32 => format!("{text:?}"),
        Value::String(_) => "a long string".into(),
        other => kind(other).into(),
    }
}

/// What kind of JSON value `value` is, never what it says.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The sections of objects that no serde type reads whole: their path
/// and what they hold.
const CONTAINERS: [(&str, &str); 3] = [
    ("models", "an object (mode, providers)"),
    ("models.providers", "an object of providers by id"),
    ("agents", "an object (defaults)"),
];

pub(super) fn validate(
    mut user: Value,
    env: &Environment,
    secrets: Secrets,
) -> Result<Loaded, ConfigErrors> {
    let mut v = Validator::default();
    if !user.is_object() {
        let message = "the config must be a JSON object".to_string();
        return Err(ConfigErrors::single("", message));
    }
    non_finite_numbers(&mut user, &mut v);
    without_nulls(&mut user);
    let report = keys::check(&user);
    for (path, message) in report.errors {
        v.error(path, message);
    }
    // The sections no serde type reads whole: one that is no object is
    // reported here, and nothing that reads through it is checked further
    // (read as empty, the chain would name providers "unknown").
    let mut unreadable = Vec::new();
    for (path, what) in CONTAINERS {
        let pointer = format!("/{}", path.replace('.', "/"));
        if let Some(value) = user.pointer(&pointer).filter(|value| !value.is_object()) {
            v.error(path, format!("expected {what}, found {}", kind(value)));
            unreadable.push(path);
        }
    }
    let openclaws_token = set_aside_openclaws_gateway(&mut user, &mut v);

    let env_block = env_block(&user);
    // The secrets that name a variable but not quite: refused, and no
    // secret (a name, or a value that came from a variable).
    let mut mistaken = BTreeSet::new();
    let defined = |name: &str| env.get(name).is_some() || env_block.contains_key(name);
    for (path, value, place) in secret_places(&user) {
        let whole = !matches!(place, Secret::Header { .. });
        let text = value.as_str().unwrap_or_default();
        let mistake = reference_mistake(text, whole, &defined)
            .or_else(|| matches!(place, Secret::ClientKey).then(|| partly_written(text))?);
        if let Some(mistake) = mistake {
            v.error(&path, mistake);
            mistaken.insert(path);
        }
    }
    let mut literal = literal_secret_paths(&user, &env_block, &mistaken);
    for (path, var) in &literal {
        v.warnings.push(format!(
            "{path}: a secret written in the config file; write \"${{{var}}}\" here, and its value in {ENV_FILES}, chmod 600"
        ));
    }
    let env_section = user.get("env").cloned();
    let written: BTreeSet<String> = (members(&user, "/models/providers"))
        .map(|(id, _)| id.clone())
        .collect();
    let mut document = merged_with_catalog(user, &mut v);
    let lookup = |name: &str| {
        env.get(name)
            .or_else(|| env_block.get(name).map(String::as_str))
    };
    let mut vars = Vars::default();
    for section in ["gateway", "models", "agents", "ledger"] {
        if let Some(value) = document.get_mut(section) {
            vars.substitute(value, section.to_string(), &lookup);
        }
    }
    for Var {
        path, var, value, ..
    } in &vars.used
    {
        if value.chars().any(char::is_control) {
            v.error(
                path,
                format!("environment variable {var} contains a control character (a \\r from a file edited on Windows?); remove it"),
            );
        }
    }
    // A secret whose value comes from the config's own `env` block is
    // written in the file as much as a literal `apiKey` is: a key, the
    // token, a credential header, a store URL's password (the URL holding
    // it, or the password alone).
    let store_password = (document.pointer("/ledger/store"))
        .and_then(Value::as_str)
        .and_then(ledger::written_password);
    for var in &vars.used {
        let header = var.path.rsplit_once(".headers.");
        let in_password = |password: &String| {
            !var.value.is_empty()
                && (password.contains(&var.value) || var.value.contains(password.as_str()))
        };
        let is_secret = var.path.ends_with(".apiKey")
            || var.path == "gateway.auth.token"
            || header.is_some_and(|(_, name)| is_sensitive_header(name))
            || (var.path == "ledger.store" && store_password.as_ref().is_some_and(in_password));
        let from_file = env.get(&var.var).is_none() && env_block.contains_key(&var.var);
        let path = env_block_path(env_section.as_ref(), &var.var);
        // A client's key written in the file is refused, however it gets
        // there.
        let client_key = var.path.starts_with("gateway.clients.") && var.path.ends_with(".key");
        if client_key && from_file {
            v.error(
                &var.path,
                format!("its key comes from {path}, in the config file, where a client's key is refused: put {} in {ENV_FILES}, chmod 600", var.var),
            );
            continue;
        }
        if is_secret && from_file && !literal.iter().any(|(p, _)| *p == path) {
            v.warnings.push(format!(
                "{path}: a secret written in the config file (used by {}); move it to {ENV_FILES}, chmod 600",
                var.path
            ));
            literal.push((path, var.var.clone()));
        }
    }
    let mut raw: RawGateway = (v.parse("gateway", document.get("gateway"))).unwrap_or_default();
    let budgets = std::mem::take(&mut raw.budgets);
    let raw_clients = std::mem::take(&mut raw.clients);
    let telemetry = telemetry::settings(&raw.telemetry, env, secrets, &mut v);
    let gateway = gateway_settings(raw, telemetry, !raw_clients.is_empty(), &vars, &mut v);
    // Every substituted value, every key, token and credential header
    // written literally (a `baseUrl`'s query among them), and the telemetry
    // export's headers are secrets
    // wherever the config is shown. A ledger.store URL from `${VAR}` without
    // a password holds none: it is shown whole, to say which database is
    // written to (a password is a secret, below, and shown as `****`).
    let raw_ledger = (v.parse("ledger", document.get("ledger"))).unwrap_or_default();
    let ledger_settings = ledger::ledger_settings(raw_ledger, &vars, &mut v);
    let export_headers = gateway.telemetry.iter().flat_map(|t| &t.headers);
    let store = ledger_settings.store.as_ref();
    let open_store =
        (store.and_then(|store| store.expose())).filter(|url| !ledger::has_password(url));
    // Only keys as long as one: `apiKey: "ollama"` is a local server's
    // placeholder, which a model's name may well hold.
    let keys = literal_secrets(&document, &mistaken);
    v.keys = Redactor::new(keys.iter().filter(|key| key.len() >= MIN_KEY_CHARS));
    let redactor = Redactor::new(
        (vars.used.iter())
            .filter(|var| var.path != "ledger.store" || Some(var.value.as_str()) != open_store)
            .map(|var| var.value.clone())
            .chain(keys)
            .chain(
                (export_headers.filter(|(name, _)| !is_plain_header(name)))
                    .map(|(_, value)| value.expose_secret().to_string()),
            )
            .chain(openclaws_token)
            .chain(store.and_then(ledger::store_password)),
    );

    // A section that could not be read is reported where it failed and
    // not checked further: read as empty, its chain would lack a primary
    // that is written.
    let agents = document.pointer("/agents/defaults");
    let raw_agents: Option<RawAgentDefaults> = v.parse("agents.defaults", agents);
    let raw_agents = raw_agents.filter(|_| !unreadable.contains(&"agents"));
    let providers_read = !unreadable.iter().any(|path| path.starts_with("models"));
    let referenced = (raw_agents.as_ref()).map_or_else(BTreeSet::new, referenced_providers);

    let mut providers = BTreeMap::new();
    // Providers whose entry has errors: already reported where they are, so
    // a chain naming them does not add a misleading "unknown provider".
    let mut broken = BTreeSet::new();
    for (id, raw) in members(&document, "/models/providers") {
        let path = format!("models.providers.{id}");
        // A provider with a member refused is reported there alone: the
        // refs to it add nothing.
        let raw = v.parse::<RawProvider>(&path, Some(raw));
        let Some(raw) = raw.filter(|_| !v.refused_under(&path)) else {
            broken.insert(id.clone());
            continue;
        };
        if raw.base_url.is_none() && !referenced.contains(id.as_str()) {
            // A fragment adding OpenClaw options to a provider defined
            // elsewhere; nothing here routes to it.
            v.warnings
                .push(format!("{path}: no baseUrl; the provider is skipped"));
            continue;
        }
        let Some(mut provider) = provider(id, raw, &path, &vars, &redactor, &mut v) else {
            broken.insert(id.clone());
            continue;
        };
        provider.written = written.contains(id);
        providers.insert(id.clone(), Arc::new(provider));
    }

    v.errors
        .extend(self_loops(&providers, gateway.bind, gateway.port));
    let routing = (raw_agents.filter(|_| providers_read))
        .and_then(|raw| routing(raw, &providers, &broken, &mut v));
    let chain: Vec<&ModelRef> = routing.iter().flat_map(Routing::refs).collect();
    let budgets = ledger::budgets(budgets, "gateway.budgets", None, &providers, &chain, &mut v);

    if let Some(routing) = &routing {
        let set: Vec<&str> = env
            .names()
            .chain(env_block.keys().map(String::as_str))
            .collect();
        check_keys_of_chain(routing, &providers, &written, &vars, &set, secrets, &mut v);
    }
    if secrets == Secrets::Required {
        for var in (vars.missing.iter()).filter(|m| !m.path.starts_with("models.providers.")) {
            v.error(&var.path, not_set(&var.unset()));
        }
    }

    // Messages may quote values (serde's `invalid type: string "..."`),
    // and a path names keys as written: a key pasted as one, too.
    let scrub = |text: String| redactor.scrub(&text).into_owned();
    let errors = |mut v: Validator| {
        for error in &mut v.errors {
            error.path = scrub(std::mem::take(&mut error.path));
            error.message = scrub(std::mem::take(&mut error.message));
        }
        ConfigErrors(v.errors)
    };
    // Clients name models as requests do, so they are read once the
    // chains are.
    let Some(routing) = routing else {
        return Err(errors(v));
    };
    let mut config = Config {
        gateway,
        providers,
        routing,
        redactor: redactor.clone(),
        ledger: ledger_settings,
        budgets,
    };
    let hashed;
    (config.gateway.clients, hashed) = clients::clients(raw_clients, &config, &vars, &mut v);
    config.redactor = config.redactor.with_digests(hashed);
    if !v.errors.is_empty() {
        return Err(errors(v));
    }
    Ok(Loaded {
        config,
        ignored: report.ignored.into_iter().map(scrub).collect(),
        warnings: v.warnings.into_iter().map(scrub).collect(),
        literal_secrets: literal.into_iter().map(|(path, _)| path).collect(),
    })
}

/// OpenClaw's `gateway` section (marked by `gateway.mode`, a key only
/// OpenClaw reads) configures OpenClaw's own gateway: its `port` (18789),
/// `bind` and `auth.token` are not clawgate's listen address and token, so
/// they are taken out of the document, with a warning naming them. Returns
/// the token as written, to be scrubbed like any secret.
fn set_aside_openclaws_gateway(user: &mut Value, v: &mut Validator) -> Option<String> {
    let gateway = user.get_mut("gateway")?.as_object_mut()?;
    gateway.get("mode")?;
    let mut set_aside = Vec::new();
    if let Some(port) = gateway.remove("port") {
        set_aside.push(format!("gateway.port ({port})"));
    }
    if gateway.remove("bind").is_some() {
        set_aside.push("gateway.bind".to_string());
    }
    let token = gateway
        .get_mut("auth")
        .and_then(Value::as_object_mut)
        .and_then(|auth| auth.remove("token"));
    if token.is_some() {
        set_aside.push("gateway.auth.token".to_string());
    }
    if !set_aside.is_empty() {
        v.warnings.push(format!(
            "gateway: gateway.mode marks this section as OpenClaw's own gateway, so {} configure{} OpenClaw, not clawgate; clawgate listens without a token on 127.0.0.1:{DEFAULT_PORT}, or where --port and --bind say (or give clawgate a config file of its own)",
            set_aside.join(", "),
            if set_aside.len() == 1 { "s" } else { "" },
        ));
    }
    match token {
        Some(Value::String(token)) if !token.is_empty() && !token.contains("${") => Some(token),
        _ => None,
    }
}

/// A place a config writes a secret, and whose it is.
enum Secret<'a> {
    /// `gateway.auth.token`.
    Token,
    /// A provider's `apiKey`.
    ApiKey { provider: &'a str },
    /// A header named like a credential, the provider's or a model's.
    Header { provider: &'a str, name: &'a str },
    /// A client's `key`.
    ClientKey,
}

/// Every place `document` writes a secret: its path, the value and whose
/// it is. The one list [`literal_secret_paths`] and [`literal_secrets`]
/// read.
fn secret_places(document: &Value) -> Vec<(String, &Value, Secret<'_>)> {
    let mut found = Vec::new();
    for (id, provider) in members(document, "/models/providers") {
        let place = Secret::ApiKey { provider: id };
        let key = provider.get("apiKey");
        found.extend(key.map(|key| (format!("models.providers.{id}.apiKey"), key, place)));
        let models = provider.get("models").and_then(Value::as_array);
        let holders = std::iter::once((format!("models.providers.{id}"), provider)).chain(
            (models.into_iter().flatten().enumerate())
                .map(|(at, model)| (format!("models.providers.{id}.models[{at}]"), model)),
        );
        for (path, holder) in holders {
            let headers = members(holder, "/headers");
            for (name, value) in headers.filter(|(name, _)| is_sensitive_header(name)) {
                let place = Secret::Header { provider: id, name };
                found.push((format!("{path}.headers.{name}"), value, place));
            }
        }
    }
    let token = document.pointer("/gateway/auth/token");
    found.extend(token.map(|token| ("gateway.auth.token".to_string(), token, Secret::Token)));
    for (name, client) in members(document, "/gateway/clients") {
        let path = format!("gateway.clients.{name}.key");
        found.extend(client.get("key").map(|key| (path, key, Secret::ClientKey)));
    }
    found
}

/// Where the user's own document writes a secret literally (a provider's
/// `apiKey` or credential header, `gateway.auth.token`) instead of
/// `${VAR}`, with the variable to use instead: for a key, one the config's
/// `env` block already sets to that value, else the built-in provider's
/// (OpenClaw's aliases such as `kimi-code` included), else `<ID>_API_KEY`.
/// A client's key written in place is refused, not warned about.
fn literal_secret_paths(
    user: &Value,
    env_block: &HashMap<String, String>,
    mistaken: &BTreeSet<String>,
) -> Vec<(String, String)> {
    let variable = |name: String| {
        name.to_ascii_uppercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    };
    let mut found = Vec::new();
    for (path, value, place) in secret_places(user) {
        let Value::String(written) = value else {
            continue;
        };
        if written.is_empty() || written.contains("${") || mistaken.contains(&path) {
            continue;
        }
        let var = match place {
            Secret::Token => "CLAWGATE_TOKEN".to_string(),
            Secret::ClientKey => continue,
            Secret::Header { provider, name } => variable(format!("{provider}_{name}")),
            Secret::ApiKey { provider } => {
                let defined = (env_block.iter())
                    .filter(|(_, value)| *value == written)
                    .map(|(name, _)| name.clone())
                    .min();
                let canonical = catalog::provider_alias(provider).unwrap_or(provider);
                let built_in = || {
                    catalog::defaults()
                        .pointer(&format!("/models/providers/{canonical}/apiKey"))
                        .and_then(Value::as_str)
                        .and_then(|text| text.strip_prefix("${")?.strip_suffix('}'))
                        .map(str::to_string)
                };
                (defined.or_else(built_in))
                    .unwrap_or_else(|| variable(format!("{provider}_API_KEY")))
            }
        };
        found.push((path, var));
    }
    found
}

/// Values written literally where a secret belongs: provider `apiKey`s,
/// `gateway.auth.token`, clients' keys (but digests), headers named like
/// credentials, and what a provider's `baseUrl` query holds as long as a
/// key ([`base_url::query_secrets`]).
fn literal_secrets(document: &Value, mistaken: &BTreeSet<String>) -> Vec<String> {
    // A `${VAR}` left unsubstituted (VAR unset) is a name, not a secret:
    // scrubbing it would hide the variable from the messages naming it.
    let unresolved = |text: &str| {
        text.strip_prefix("${")
            .and_then(|rest| rest.strip_suffix('}'))
            .is_some_and(|name| !name.contains(['$', '{', '}']))
    };
    let queries = (members(document, "/models/providers"))
        .filter_map(|(_, provider)| provider.get("baseUrl")?.as_str())
        .flat_map(base_url::query_secrets);
    (secret_places(document).into_iter())
        .filter_map(|(path, value, place)| {
            let text = value.as_str()?;
            let digest = matches!(place, Secret::ClientKey) && text.starts_with("sha256:");
            // Refused naming its variable: a name, or a value from one.
            let named = mistaken.contains(&path);
            (!digest && !unresolved(text) && !named).then(|| text.to_string())
        })
        .chain(queries)
        .collect()
}

/// What is wrong with how `written`, a secret as the file writes it,
/// names its variable, when it means to and does not: a `${` never
/// closed or around no variable's name; and for a value that is the
/// secret whole (a key or token, not a header), a scheme or a brace
/// beside its `${NAME}`, which would go out as part of the key, or a shell's `$NAME`
/// or the bare name of a variable that is `defined`, or named as secrets
/// are (`..._KEY`, `..._TOKEN`): a key or token is no such word.
fn reference_mistake(written: &str, whole: bool, defined: &dyn Fn(&str) -> bool) -> Option<String> {
    use crate::ops::env::is_env_name;
    // `$${` is a `${` written on purpose.
    let opened = written.match_indices("${").map(|(at, _)| at);
    for at in opened.filter(|&at| !written[..at].ends_with('$')) {
        let rest = &written[at + 2..];
        match rest.split_once('}') {
            Some((name, _)) if is_env_name(name, false) => {}
            Some(_) => return Some("holds a `${...}` that is not substituted: write ${NAME}, NAME in capitals, digits and `_` (no spaces, no default)".into()),
            None => {
                let name = rest.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').next();
                let name = name.filter(|name| is_env_name(name, false)).unwrap_or("NAME");
                return Some(format!("its `${{` is never closed: write \"${{{name}}}\""));
            }
        }
    }
    if !whole || written.contains("$${") {
        return None;
    }
    // Text beside a `${NAME}` may be meant (`sk-${PART}`), but not a
    // scheme, which clawgate sends itself, nor a brace too many.
    if let Some(at) = written.find("${") {
        let name = written[at + 2..].split('}').next().unwrap_or_default();
        let alone = format!("${{{name}}}");
        let (before, after) = (&written[..at], &written[at + alone.len()..]);
        let scheme = ["bearer", "basic"].contains(&before.trim().to_ascii_lowercase().as_str());
        if scheme {
            return Some(format!(
                "clawgate sends `Bearer` (or the header its API takes) itself: write \"{alone}\" alone"
            ));
        }
        if written.trim() != written {
            return Some(format!(
                "write \"{alone}\" without the space or line break beside it: it would be part of the key, which HTTP takes without it"
            ));
        }
        return (before.ends_with(['{', '$']) || after.starts_with('}')).then(|| {
            format!("write \"{alone}\" alone: the brace beside it would be sent as part of the key")
        });
    }
    let name = written.strip_prefix('$').unwrap_or(written);
    let (name, braced) = match name.strip_prefix('{') {
        Some(inner) => (inner.strip_suffix('}').unwrap_or(inner), true),
        None => (name.strip_suffix('}').unwrap_or(name), false),
    };
    let secret_name = ["_KEY", "_TOKEN", "_SECRET", "_PASSWORD"]
        .iter()
        .any(|end| name.to_ascii_uppercase().ends_with(end));
    if !(defined(name) || secret_name) {
        return None;
    }
    if written.starts_with('$') && is_env_name(name, true) {
        return Some(format!(
            "a shell variable, which the config does not substitute: write \"${{{name}}}\""
        ));
    }
    (is_env_name(name, false) && (braced || name.len() == written.len())).then(|| {
        format!("the name of a variable, not a key: write \"${{{name}}}\" to use its value")
    })
}

/// What is wrong with a client's key written partly in the file around
/// its `${NAME}` (`x${KEY}`): that part would be in the file, and in the
/// Nix store.
fn partly_written(written: &str) -> Option<String> {
    let at = written.find("${")?;
    let name = written[at + 2..].split('}').next().unwrap_or_default();
    (written != format!("${{{name}}}")).then(|| {
        format!("write \"${{{name}}}\" alone, the whole key in {ENV_FILES}: no part of a client's key is written in the config")
    })
}

/// The config's own `env` block: string values at its top level and in
/// `env.vars`. They feed `${VAR}` substitution after the process environment.
fn env_block(user: &Value) -> HashMap<String, String> {
    (members(user, "/env").chain(members(user, "/env/vars")))
        .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_string())))
        .collect()
}

/// Where the config's `env` block defines `name`: at its top level, else in
/// `env.vars`.
fn env_block_path(env_section: Option<&Value>, name: &str) -> String {
    match env_section.and_then(|env| env.get(name)) {
        Some(Value::String(_)) => format!("env.{name}"),
        _ => format!("env.vars.{name}"),
    }
}

/// The built-in defaults with the user's config merged over them, per
/// `models.mode`; [`Validator::file_indices`] records where each entry of a
/// merged `models` list is in the file.
fn merged_with_catalog(user: Value, v: &mut Validator) -> Value {
    let written: BTreeMap<String, Vec<Option<Value>>> = (members(&user, "/models/providers"))
        .filter_map(|(id, provider)| {
            let models = provider.get("models")?.as_array()?;
            Some((
                id.clone(),
                models.iter().map(|m| m.get("id").cloned()).collect(),
            ))
        })
        .collect();
    let mut base = catalog::defaults();
    match user.pointer("/models/mode") {
        None => {}
        Some(Value::String(mode)) if mode == "merge" => {}
        Some(Value::String(mode)) if mode == "replace" => {
            base["models"]["providers"] = Value::Object(Map::new());
        }
        Some(other) => v.error(
            "models.mode",
            format!("expected \"merge\" or \"replace\", found {}", found(other)),
        ),
    }
    // A user's chain replaces the default chain whole: merging would keep
    // default fallbacks the user never asked for. With the catalog's
    // providers replaced, the default chain, which names them, goes too:
    // the chain is then the user's to write.
    let replaced = user.pointer("/models/mode").and_then(Value::as_str) == Some("replace");
    if (user.pointer("/agents/defaults/model").is_some() || replaced)
        && let Some(Value::Object(defaults)) = base.pointer_mut("/agents/defaults")
    {
        defaults.remove("model");
    }
    catalog::merge(&mut base, user);
    for (id, written) in written {
        if let Some(models) = base["models"]["providers"][id.as_str()]["models"].as_array() {
            v.file_indices.insert(id, file_indices(&written, models));
        }
    }
    base
}

/// For each entry of a merged `models` list, its index in `written` (the
/// ids of the file's entries, in order): the k-th entry with an id (or
/// with none) is the file's k-th with it, a catalog entry the file does
/// not name is none of the file's.
fn file_indices(written: &[Option<Value>], merged: &[Value]) -> Vec<Option<usize>> {
    merged
        .iter()
        .enumerate()
        .map(|(at, entry)| {
            let id = entry.get("id");
            let before = merged[..at].iter().filter(|e| e.get("id") == id).count();
            let mut same = (written.iter().enumerate()).filter(|(_, w)| w.as_ref() == id);
            same.nth(before).map(|(index, _)| index)
        })
        .collect()
}

/// Where a secret's variable is set, as every message says it.
pub const ENV_FILES: &str = "the env file clawgate reads (~/.config/clawgate/secrets.env, or the one --env-file names; under systemd, the service's EnvironmentFile=)";

/// What a `${VAR}` that gives its string no value is told.
pub(super) fn not_set(unset: &Unset) -> String {
    format!("environment variable {unset}: {} {ENV_FILES}", unset.fix())
}

/// A `${VAR}` found in a string, with the path of the string and the
/// variable's value.
struct Var {
    path: String,
    var: String,
    value: String,
    /// For a variable that gave no value: it is set, but empty.
    empty: bool,
}

/// What the `${VAR}` substitution did: the variables used, and those the
/// environment does not define (their `value` empty), each by the path of
/// its string.
#[derive(Default)]
pub(super) struct Vars {
    used: Vec<Var>,
    missing: Vec<Var>,
}

impl Vars {
    /// Substitutes the `${VAR}`s of every string under `value` (at `path`),
    /// recording each variable used and each one unset.
    fn substitute<'a>(
        &mut self,
        value: &mut Value,
        path: String,
        lookup: &impl Fn(&str) -> Option<&'a str>,
    ) {
        each_leaf(value, path, &mut |path, value| {
            let Value::String(text) = value else { return };
            if !text.contains("${") {
                return;
            }
            let var = |var: &str, value: &str| Var {
                path: path.clone(),
                var: var.to_string(),
                value: value.to_string(),
                empty: value.is_empty() && lookup(var).is_some(),
            };
            // A key or token from a variable set but empty is as good as
            // unset: it is missing (said so where it is named).
            let key = path.ends_with(".apiKey")
                || path == "gateway.auth.token"
                || (path.starts_with("gateway.clients.") && path.ends_with(".key"));
            let recording = |name: &str| {
                let value = lookup(name).filter(|value| !(key && value.is_empty()));
                self.used.extend(value.map(|value| var(name, value)));
                value
            };
            let (replaced, unknown) = substitute(text, recording);
            *text = replaced;
            self.missing
                .extend(unknown.iter().map(|name| var(name, "")));
        });
    }

    /// The variable the string at `path` names that gave it no value, if
    /// any.
    fn unset(&self, path: &str) -> Option<Unset> {
        let missing = self.missing.iter().find(|m| m.path == path);
        missing.map(Var::unset)
    }

    /// Whether a variable was substituted in the string at `path`.
    fn substituted(&self, path: &str) -> bool {
        self.used.iter().any(|u| u.path == path)
    }

    /// The variable the string at `path` names, set or not.
    fn named_at(&self, path: &str) -> Option<&str> {
        let used = self.used.iter().find(|u| u.path == path);
        let missing = || self.missing.iter().find(|m| m.path == path);
        used.or_else(missing).map(|u| u.var.as_str())
    }
}

impl Var {
    fn unset(&self) -> Unset {
        let (var, empty) = (self.var.clone(), self.empty);
        Unset { var, empty }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{literal_secrets, percent_decoded};

    #[test]
    fn every_place_a_secret_is_written_is_scrubbed() {
        let document = json!({
            "gateway": {
                "auth": {"token": "t-token"},
                "clients": {
                    "ci": {"key": "c-key"},
                    "ops": {"key": "sha256:00ff"},
                },
            },
            "models": {"providers": {"p": {
                "apiKey": "p-key",
                "baseUrl": "https://p.example/v1?api-version=2024-08-01-preview&code=q-code-0123456789&sig&s-bare-0123456789&token=b64+key%2F0123456789",
                "headers": {"X-Api-Key": "p-header", "User-Agent": "shown"},
                "models": [{"id": "m", "headers": {"Authorization": "m-header"}}],
            }, "q": {"apiKey": "${UNSET}"}}},
        });
        let mut found = literal_secrets(&document, &std::collections::BTreeSet::new());
        found.sort();
        // A `+` is sent as a plus, and may be echoed read as a form reads it.
        let expected = [
            "b64 key/0123456789",
            "b64+key/0123456789",
            "c-key",
            "m-header",
            "p-header",
            "p-key",
            "q-code-0123456789",
            "s-bare-0123456789",
            "t-token",
        ];
        assert_eq!(found, expected);
    }

    #[test]
    fn percent_escapes_are_decoded_and_a_malformed_one_is_kept() {
        for (text, decoded, well_formed) in [
            ("p%40ss%25w0rd", "p@ss%w0rd", true),
            ("pa+ss%2Bw0rd", "pa+ss+w0rd", true),
            ("a%3D%3d", "a==", true),
            ("%zz%41", "%zzA", false),
            ("100%", "100%", false),
            ("%4", "%4", false),
            ("%ff", "\u{FFFD}", false),
        ] {
            assert_eq!(
                percent_decoded(text),
                (decoded.to_string(), well_formed),
                "{text}"
            );
        }
    }
}
