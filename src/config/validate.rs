//! From a parsed document to a [`Config`]: key check, merge with the
//! built-in catalog, `${VAR}` substitution, deserialization section by
//! section, then the cross-checks (chain refs, aliases, keys of the providers
//! the chain uses). Errors are collected, never returned early, so a user
//! fixes a config in one pass.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::raw::{RawAgentDefaults, RawGateway, RawModel, RawModelChoice, RawProvider};
use super::{
    ApiKey, Compat, Config, ConfigError, ConfigErrors, Cost, DEFAULT_PORT, Environment,
    GatewaySettings, Loaded, Model, ModelRef, Provider, Routing, Secrets, Timeouts, keys,
    substitute,
};
use crate::catalog;
use crate::provider::Dialect;
use crate::rewrite::{MaxTokensField, ThinkingLevel};

const DEFAULT_MAX_BODY_BYTES: u64 = 32 * 1024 * 1024;

struct Validator {
    errors: Vec<ConfigError>,
    warnings: Vec<String>,
}

impl Validator {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Deserializes `value`, reporting a failure at `path` plus the path
    /// inside the value.
    fn parse<T: DeserializeOwned + Default>(&mut self, path: &str, value: Option<&Value>) -> T {
        let Some(value) = value else {
            return T::default();
        };
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(parsed) => parsed,
            Err(err) => {
                let inner = err.path().to_string();
                let full = match inner.as_str() {
                    "." | "" => path.to_string(),
                    inner if inner.starts_with('[') => format!("{path}{inner}"),
                    inner => format!("{path}.{inner}"),
                };
                self.error(full, err.into_inner().to_string());
                T::default()
            }
        }
    }
}

/// A `${VAR}` that the environment does not define, and where it was used.
struct MissingVar {
    path: String,
    var: String,
}

pub(super) fn validate(
    user: Value,
    env: &Environment,
    secrets: Secrets,
) -> Result<Loaded, ConfigErrors> {
    let mut v = Validator {
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    if !user.is_object() {
        return Err(ConfigErrors::single(
            "",
            "the config must be a JSON object".into(),
        ));
    }
    let report = keys::check(&user);
    for (path, message) in report.errors {
        v.error(path, message);
    }

    let env_block = env_block(&user);
    let user_providers: BTreeSet<String> = match user.pointer("/models/providers") {
        Some(Value::Object(providers)) => providers.keys().cloned().collect(),
        _ => BTreeSet::new(),
    };
    let mut document = merged_with_catalog(user, &mut v);
    let lookup = |name: &str| {
        env.get(name)
            .or_else(|| env_block.get(name).map(String::as_str))
    };
    let mut missing = Vec::new();
    for section in ["gateway", "models", "agents"] {
        if let Some(value) = document.get_mut(section) {
            substitute_strings(value, section.to_string(), &lookup, &mut missing);
        }
    }

    let raw_gateway: RawGateway = v.parse("gateway", document.get("gateway"));
    let gateway = gateway_settings(raw_gateway, &missing, &mut v);

    let raw_agents: RawAgentDefaults =
        v.parse("agents.defaults", document.pointer("/agents/defaults"));
    let referenced = referenced_providers(&raw_agents);

    let mut providers = BTreeMap::new();
    if let Some(Value::Object(raw_providers)) = document.pointer("/models/providers") {
        for (id, raw) in raw_providers {
            let path = format!("models.providers.{id}");
            let raw: RawProvider = v.parse(&path, Some(raw));
            if raw.base_url.is_none() && !referenced.contains(id.as_str()) {
                // A fragment adding OpenClaw options to a provider defined
                // elsewhere; nothing here routes to it.
                v.warnings
                    .push(format!("{path}: no baseUrl; the provider is skipped"));
                continue;
            }
            if let Some(provider) = provider(id, raw, &path, &missing, &mut v) {
                providers.insert(id.clone(), Arc::new(provider));
            }
        }
    } else if document.pointer("/models/providers").is_some() {
        v.error("models.providers", "expected an object of providers by id");
    }

    let routing = routing(raw_agents, &providers, &mut v);

    if let Some(routing) = &routing {
        check_keys_of_chain(
            routing,
            &providers,
            &user_providers,
            &missing,
            secrets,
            &mut v,
        );
    }
    if secrets == Secrets::Required {
        for var in missing
            .iter()
            .filter(|m| !m.path.starts_with("models.providers."))
        {
            v.error(
                &var.path,
                format!("environment variable {} is not set", var.var),
            );
        }
    }

    match routing {
        Some(routing) if v.errors.is_empty() => Ok(Loaded {
            config: Config {
                gateway,
                providers,
                routing,
            },
            ignored: report.ignored,
            warnings: v.warnings,
        }),
        _ => Err(ConfigErrors(v.errors)),
    }
}

/// Provider ids named by the chain or by `agents.defaults.models`.
fn referenced_providers(raw: &RawAgentDefaults) -> BTreeSet<String> {
    let chain: Vec<&str> = match &raw.model {
        Some(RawModelChoice::Ref(primary)) => vec![primary.as_str()],
        Some(RawModelChoice::Chain { primary, fallbacks }) => primary
            .iter()
            .chain(fallbacks)
            .map(String::as_str)
            .collect(),
        None => Vec::new(),
    };
    chain
        .into_iter()
        .chain(raw.models.keys().map(String::as_str))
        .filter_map(|text| {
            text.split_once('/')
                .map(|(provider, _)| provider.to_string())
        })
        .collect()
}

/// The config's own `env` block: string values at its top level and in
/// `env.vars`. They feed `${VAR}` substitution after the process environment.
fn env_block(user: &Value) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    let Some(Value::Object(env)) = user.get("env") else {
        return vars;
    };
    let nested = env
        .get("vars")
        .and_then(Value::as_object)
        .into_iter()
        .flatten();
    for (name, value) in env.iter().chain(nested) {
        if let Value::String(value) = value {
            vars.insert(name.clone(), value.clone());
        }
    }
    vars
}

/// The built-in defaults with the user's config merged over them, per
/// `models.mode`.
fn merged_with_catalog(user: Value, v: &mut Validator) -> Value {
    let mut base = catalog::defaults();
    match user.pointer("/models/mode") {
        None => {}
        Some(Value::String(mode)) if mode == "merge" => {}
        Some(Value::String(mode)) if mode == "replace" => {
            base["models"]["providers"] = Value::Object(Map::new());
        }
        Some(other) => v.error(
            "models.mode",
            format!("expected \"merge\" or \"replace\", found {other}"),
        ),
    }
    // A user's chain replaces the default chain whole: merging would keep
    // default fallbacks the user never asked for.
    if user.pointer("/agents/defaults/model").is_some() {
        if let Some(Value::Object(defaults)) = base.pointer_mut("/agents/defaults") {
            defaults.remove("model");
        }
    }
    catalog::merge(&mut base, user);
    base
}

fn substitute_strings<'a>(
    value: &mut Value,
    path: String,
    lookup: &impl Fn(&str) -> Option<&'a str>,
    missing: &mut Vec<MissingVar>,
) {
    match value {
        Value::String(text) if text.contains("${") => {
            let (replaced, unknown) = substitute(text, lookup);
            *text = replaced;
            missing.extend(unknown.into_iter().map(|var| MissingVar {
                path: path.clone(),
                var,
            }));
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                substitute_strings(item, format!("{path}[{index}]"), lookup, missing);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                substitute_strings(item, format!("{path}.{key}"), lookup, missing);
            }
        }
        _ => {}
    }
}

fn seconds(v: &mut Validator, path: &str, value: Option<f64>, default: f64) -> Duration {
    let value = value.unwrap_or(default);
    if value.is_finite() && value > 0.0 && value <= 86_400.0 {
        Duration::from_secs_f64(value)
    } else {
        v.error(
            path,
            format!("expected a number of seconds between 0 and 86400, found {value}"),
        );
        Duration::from_secs_f64(default)
    }
}

fn gateway_settings(raw: RawGateway, missing: &[MissingVar], v: &mut Validator) -> GatewaySettings {
    let bind = match raw.bind.as_deref() {
        None => IpAddr::from([127, 0, 0, 1]),
        Some("loopback" | "localhost") => IpAddr::from([127, 0, 0, 1]),
        Some(text) => text.parse().unwrap_or_else(|_| {
            v.error(
                "gateway.bind",
                format!("expected an IP address, found {text:?}"),
            );
            IpAddr::from([127, 0, 0, 1])
        }),
    };
    let token_unresolved = missing.iter().any(|m| m.path == "gateway.auth.token");
    let auth_token = match raw.auth.token {
        // Reported with the other unset variables.
        Some(_) if token_unresolved => None,
        Some(token) if token.is_empty() => {
            v.error(
                "gateway.auth.token",
                "must not be empty; remove it to disable authentication",
            );
            None
        }
        Some(token) => Some(SecretString::from(token)),
        None => None,
    };
    if !bind.is_loopback() && auth_token.is_none() && !token_unresolved {
        v.error(
            "gateway.bind",
            format!("{bind} is not a loopback address; set gateway.auth.token to serve beyond this machine"),
        );
    }
    let max_body_bytes = raw.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    if max_body_bytes < 1024 {
        v.error(
            "gateway.maxBodyBytes",
            format!("must be at least 1024, found {max_body_bytes}"),
        );
    }
    GatewaySettings {
        port: raw.port.unwrap_or(DEFAULT_PORT),
        bind,
        auth_token,
        max_body_bytes: usize::try_from(max_body_bytes).unwrap_or(usize::MAX),
        shutdown_grace: seconds(
            v,
            "gateway.shutdownGraceSeconds",
            raw.shutdown_grace_seconds,
            30.0,
        ),
        timeouts: Timeouts {
            connect: seconds(
                v,
                "gateway.timeouts.connectSeconds",
                raw.timeouts.connect_seconds,
                10.0,
            ),
            first_byte: seconds(
                v,
                "gateway.timeouts.firstByteSeconds",
                raw.timeouts.first_byte_seconds,
                300.0,
            ),
            idle: seconds(
                v,
                "gateway.timeouts.idleSeconds",
                raw.timeouts.idle_seconds,
                300.0,
            ),
        },
    }
}

fn provider(
    id: &str,
    raw: RawProvider,
    path: &str,
    missing: &[MissingVar],
    v: &mut Validator,
) -> Option<Provider> {
    if id.is_empty() || id.contains('/') || id.chars().any(char::is_whitespace) {
        v.error(
            path,
            "a provider id must be non-empty, without `/` or spaces",
        );
    }
    match raw.api.as_deref() {
        None | Some("openai-completions") => {}
        Some(other) => v.error(
            format!("{path}.api"),
            format!("API {other:?} is not supported yet; clawgate speaks \"openai-completions\""),
        ),
    }
    let base_url = match raw.base_url.as_deref() {
        None => {
            v.error(format!("{path}.baseUrl"), "required");
            None
        }
        Some(text) => match reqwest::Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Some(url)
            }
            _ => {
                v.error(
                    format!("{path}.baseUrl"),
                    format!("expected an http(s) URL, found {text:?}"),
                );
                None
            }
        },
    };
    let key_path = format!("{path}.apiKey");
    let api_key = match (raw.api_key, missing.iter().find(|m| m.path == key_path)) {
        (_, Some(unset)) => ApiKey::Missing {
            var: unset.var.clone(),
        },
        (Some(key), None) if !key.is_empty() => ApiKey::Set(SecretString::from(key)),
        _ => ApiKey::None,
    };
    let dialect = base_url.as_ref().map_or(Dialect::Generic, Dialect::detect);
    let mut provider_headers = HeaderMap::new();
    for (name, value) in dialect.default_headers() {
        provider_headers.insert(*name, HeaderValue::from_static(value));
    }
    extend_headers(
        &mut provider_headers,
        &raw.headers,
        &format!("{path}.headers"),
        v,
    );

    let mut seen = BTreeSet::new();
    let mut models = Vec::new();
    for (index, raw_model) in raw.models.into_iter().enumerate() {
        let model_path = format!("{path}.models[{index}]");
        if let Some(model) = model(raw_model, &model_path, dialect, &provider_headers, v) {
            if !seen.insert(model.id.clone()) {
                v.error(
                    format!("{model_path}.id"),
                    format!("duplicate model id {:?}", model.id),
                );
            }
            models.push(Arc::new(model));
        }
    }
    let base_url = base_url?;
    let completions_url = join_url(&base_url, "chat/completions");
    Some(Provider {
        id: id.to_string(),
        base_url,
        completions_url,
        api_key,
        dialect,
        models,
    })
}

/// `base` + `/` + `tail`, whatever the trailing slash of `base`.
fn join_url(base: &reqwest::Url, tail: &str) -> reqwest::Url {
    let mut url = base.clone();
    let path = format!("{}/{tail}", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

fn extend_headers(
    headers: &mut HeaderMap,
    raw: &BTreeMap<String, String>,
    path: &str,
    v: &mut Validator,
) {
    for (name, value) in raw {
        let parsed_name = HeaderName::from_bytes(name.as_bytes());
        let parsed_value = HeaderValue::from_str(value);
        match (parsed_name, parsed_value) {
            (Ok(name), Ok(mut value)) => {
                value.set_sensitive(crate::redact::is_sensitive_header(name.as_str()));
                headers.insert(name, value);
            }
            (Err(_), _) => v.error(format!("{path}.{name}"), "invalid header name"),
            (_, Err(_)) => v.error(format!("{path}.{name}"), "invalid header value"),
        }
    }
}

fn model(
    raw: RawModel,
    path: &str,
    dialect: Dialect,
    provider_headers: &HeaderMap,
    v: &mut Validator,
) -> Option<Model> {
    let id = match raw.id {
        Some(id) if !id.trim().is_empty() => id,
        _ => {
            v.error(format!("{path}.id"), "required");
            return None;
        }
    };
    let max_tokens_field = match raw.compat.max_tokens_field.as_deref() {
        None => None,
        Some("max_tokens") => Some(MaxTokensField::MaxTokens),
        Some("max_completion_tokens") => Some(MaxTokensField::MaxCompletionTokens),
        Some(other) => {
            v.error(
                format!("{path}.compat.maxTokensField"),
                format!("expected \"max_tokens\" or \"max_completion_tokens\", found {other:?}"),
            );
            None
        }
    };
    let cost = raw.cost;
    if [cost.input, cost.output, cost.cache_read, cost.cache_write]
        .iter()
        .any(|c| !c.is_finite() || *c < 0.0)
    {
        v.error(format!("{path}.cost"), "costs must be non-negative numbers");
    }
    let mut headers = provider_headers.clone();
    extend_headers(&mut headers, &raw.headers, &format!("{path}.headers"), v);
    Some(Model {
        name: raw.name.unwrap_or_else(|| id.clone()),
        id,
        reasoning: raw.reasoning.unwrap_or(false),
        input: raw.input.unwrap_or_else(|| vec!["text".to_string()]),
        cost: Cost {
            input: cost.input,
            output: cost.output,
            cache_read: cost.cache_read,
            cache_write: cost.cache_write,
        },
        context_window: raw.context_window,
        max_tokens: raw.max_tokens,
        headers,
        compat: Compat {
            supports_developer_role: raw
                .compat
                .supports_developer_role
                .unwrap_or(dialect.supports_developer_role()),
            supports_usage_in_streaming: raw.compat.supports_usage_in_streaming.unwrap_or(true),
            max_tokens_field,
        },
    })
}

fn known_ref(
    text: &str,
    path: &str,
    providers: &BTreeMap<String, Arc<Provider>>,
    aliases: &BTreeMap<String, ModelRef>,
    v: &mut Validator,
) -> Option<ModelRef> {
    if let Some(target) = aliases.get(text) {
        return Some(target.clone());
    }
    let Some(model_ref) = ModelRef::parse(text) else {
        v.error(
            path,
            format!("{text:?} is neither an alias nor a provider/model ref"),
        );
        return None;
    };
    match providers.get(model_ref.provider()) {
        None => v.error(
            path,
            format!("unknown provider {:?} in {text:?}", model_ref.provider()),
        ),
        Some(provider) if provider.model(model_ref.model()).is_none() => v.error(
            path,
            format!(
                "provider {:?} has no model {:?}; add it to models.providers.{}.models",
                provider.id,
                model_ref.model(),
                provider.id
            ),
        ),
        Some(_) => return Some(model_ref),
    }
    None
}

fn routing(
    raw: RawAgentDefaults,
    providers: &BTreeMap<String, Arc<Provider>>,
    v: &mut Validator,
) -> Option<Routing> {
    let mut aliases = BTreeMap::new();
    let mut params = HashMap::new();
    let no_aliases = BTreeMap::new();
    for (key, entry) in &raw.models {
        let path = format!("agents.defaults.models.{key}");
        let Some(model_ref) = known_ref(key, &path, providers, &no_aliases, v) else {
            continue;
        };
        if let Some(alias) = &entry.alias {
            if alias.trim().is_empty() {
                v.error(format!("{path}.alias"), "must not be empty");
            } else if ModelRef::parse(alias).is_some_and(|r| providers.contains_key(r.provider())) {
                v.error(
                    format!("{path}.alias"),
                    format!("{alias:?} would shadow a provider/model ref"),
                );
            } else if let Some(previous) = aliases.insert(alias.clone(), model_ref.clone()) {
                v.error(
                    format!("{path}.alias"),
                    format!("{alias:?} is already the alias of {previous}"),
                );
            }
        }
        if let Some(entry_params) = &entry.params {
            params.insert(model_ref, Arc::new(entry_params.clone()));
        }
    }

    let (primary, fallbacks) = match raw.model {
        Some(RawModelChoice::Ref(primary)) => (Some(primary), Vec::new()),
        Some(RawModelChoice::Chain { primary, fallbacks }) => (primary, fallbacks),
        None => (None, Vec::new()),
    };
    let primary = match primary {
        Some(primary) => known_ref(
            &primary,
            "agents.defaults.model.primary",
            providers,
            &aliases,
            v,
        ),
        None => {
            v.error(
                "agents.defaults.model.primary",
                "required: the model to answer requests",
            );
            None
        }
    };
    let mut resolved_fallbacks = Vec::new();
    for (index, fallback) in fallbacks.iter().enumerate() {
        let path = format!("agents.defaults.model.fallbacks[{index}]");
        if let Some(model_ref) = known_ref(fallback, &path, providers, &aliases, v) {
            if resolved_fallbacks.contains(&model_ref) || primary.as_ref() == Some(&model_ref) {
                v.warnings.push(format!(
                    "{path}: {fallback:?} is already in the chain; listed once"
                ));
            } else {
                resolved_fallbacks.push(model_ref);
            }
        }
    }

    let thinking_default = raw.thinking_default.as_deref().and_then(|level| {
        let parsed = level.parse::<ThinkingLevel>();
        if let Err(message) = &parsed {
            v.error("agents.defaults.thinkingDefault", message.clone());
        }
        parsed.ok()
    });
    Some(Routing {
        primary: primary?,
        fallbacks: resolved_fallbacks,
        aliases,
        params,
        thinking_default,
    })
}

/// A provider in the default chain without its key cannot serve: an error
/// (unless offline). Any other provider the user configured without its key
/// is a warning; built-in providers the user never mentioned stay quiet
/// (`clawgate models list` shows their key status).
fn check_keys_of_chain(
    routing: &Routing,
    providers: &BTreeMap<String, Arc<Provider>>,
    user_providers: &BTreeSet<String>,
    missing: &[MissingVar],
    secrets: Secrets,
    v: &mut Validator,
) {
    let in_chain: BTreeSet<&str> = std::iter::once(&routing.primary)
        .chain(&routing.fallbacks)
        .map(ModelRef::provider)
        .collect();
    for var in missing
        .iter()
        .filter(|m| m.path.starts_with("models.providers."))
    {
        let provider = var.path["models.providers.".len()..]
            .split('.')
            .next()
            .unwrap_or_default();
        if !providers.contains_key(provider) {
            continue;
        }
        let message = format!("environment variable {} is not set", var.var);
        if in_chain.contains(provider) && secrets == Secrets::Required {
            v.error(&var.path, message);
        } else if !in_chain.contains(provider) && user_providers.contains(provider) {
            v.warnings.push(format!(
                "{}: {message}; provider {provider:?} is not in the default chain",
                var.path
            ));
        }
    }
}
