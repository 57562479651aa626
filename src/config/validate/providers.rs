//! `models.providers.*`: endpoints, keys, headers and each provider's models.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use serde::de::DeserializeOwned;
use serde::de::value::StrDeserializer;

use super::super::raw::{
    RawCompat, RawCost, RawMaxConcurrent, RawModel, RawProvider, Requests, fields,
};
use super::super::{
    ApiKey, ConfigError, Cost, DEFAULT_CACHE_LIFETIME, MaxConcurrent, Model, Provider, Secret,
    connected_to, suggest,
};
use super::base_url::{self, Problem};
use super::{Validator, Vars, quota};
use crate::capabilities::{self, Api, CapabilitySettings, Dialect};
use crate::catalog;
use crate::ops::redact::{Redactor, is_sensitive_header, without_query};

/// The most a price may be, in USD per million tokens: a dollar a token.
const MAX_PRICE: f64 = 1_000_000.0;

pub(super) fn provider(
    id: &str,
    raw: RawProvider,
    path: &str,
    vars: &Vars,
    redactor: &Redactor,
    v: &mut Validator,
) -> Option<Provider> {
    if id.is_empty() || id.contains('/') || id.chars().any(char::is_whitespace) {
        v.error(
            path,
            "a provider id must be non-empty, without `/` or spaces",
        );
    }
    let api = raw.api.as_deref().and_then(|text| {
        let message =
            || format!("expected \"openai-completions\" or \"anthropic-messages\", found {text:?}");
        v.ok(format!("{path}.api"), Api::parse(text).ok_or_else(message))
    });
    let api = api.unwrap_or(Api::OpenAiCompletions);
    let url_path = format!("{path}.baseUrl");
    // A variable left unset before its query would be sent as written: a
    // provider's key may be missing (in the query too), its place not.
    let in_place = |text: &str| text.split('?').next().is_some_and(|at| at.contains("${"));
    let unset = (vars.unset(&url_path))
        .filter(|_| raw.base_url.as_deref().is_some_and(in_place))
        .map(|unset| super::not_set(&unset));
    let base_url = (unset.map_or(Ok(()), Err))
        .and_then(|()| raw.base_url.as_deref().ok_or("required".into()))
        .and_then(|text| {
            let url = reqwest::Url::parse(text).ok();
            let url =
                url.filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some());
            url.ok_or_else(|| format!("expected an http(s) URL, found {text:?}"))
        });
    let key_path = format!("{path}.apiKey");
    // Whether requests carry a key: written, or from a variable set or
    // not; or a credential header, the provider's or a model's.
    let credential = |headers: &BTreeMap<String, String>| {
        (headers.iter()).any(|(name, value)| is_sensitive_header(name) && !value.is_empty())
    };
    let keyed = vars.unset(&key_path).is_some()
        || raw.api_key.as_ref().is_some_and(|k| !k.is_empty())
        || credential(&raw.headers)
        || raw.models.iter().any(|model| credential(&model.headers));
    let base_url = v.ok(&url_path, base_url).filter(|url| {
        let mut usable = true;
        for problem in base_url::check(api, url, keyed) {
            match problem {
                Problem::Error(message) => {
                    usable = false;
                    v.error(&url_path, message);
                }
                Problem::Warning(message) => v.warnings.push(format!("{url_path}: {message}")),
            }
        }
        usable
    });
    let api_key = match (raw.api_key, vars.unset(&key_path)) {
        (_, Some(unset)) => ApiKey::Missing(unset),
        (Some(key), None) if !key.is_empty() => {
            if let Some(marker) = placeholder(&key) {
                v.warnings.push(format!(
                    "{key_path}: {PLACEHOLDER} (it has `{marker}`), not a real key; the provider will refuse it (401)"
                ));
            }
            ApiKey::Set(Secret::from(key))
        }
        _ => ApiKey::None,
    };
    let explicit = raw.dialect.as_deref().and_then(|text| {
        let message = || format!("expected \"moonshot\", \"kimi-coding\", \"openrouter\" or \"openai\", found {text:?}");
        v.ok(format!("{path}.dialect"), Dialect::parse(text).ok_or_else(message))
    });
    let (dialect, dialect_source) = Dialect::resolve(explicit, base_url.as_ref(), id);
    let mut provider_headers = HeaderMap::new();
    for (name, value) in dialect.default_headers(api) {
        provider_headers.insert(*name, HeaderValue::from_static(value));
    }
    extend_headers(&mut provider_headers, &raw.headers, path, v);

    let mut seen = BTreeSet::new();
    let mut models = Vec::new();
    for (index, mut raw_model) in raw.models.into_iter().enumerate() {
        let model_path = format!("{path}.models[{index}]");
        if let Some(model_id) = raw_model.id.clone() {
            // The list is the catalog's and the file's together: its
            // index would not be the file's.
            if let Some(note) = suggest::legacy_id_note(id, &model_id) {
                v.warnings.push(format!("{path}.models: {note}"));
            }
            // A model the catalog knows for this dialect brings its facts;
            // the entry overrides them field by field.
            if let Some(known) = catalog_model(dialect, &model_id) {
                // OpenClaw's own configs write zeros where they know no
                // price: pasted over a model the catalog prices, they make
                // it free, out of every budget.
                let zero = |c: &RawCost| {
                    let all = [c.input, c.output, c.cache_read, c.cache_write];
                    all.iter().all(|c| c.is_none_or(|c| c == 0.0))
                        && all.iter().any(Option::is_some)
                };
                let priced = known.cost.input.is_some_and(|c| c > 0.0)
                    || known.cost.output.is_some_and(|c| c > 0.0);
                if zero(&raw_model.cost) && priced {
                    v.warnings.push(format!(
                        "{path}.models ({model_id}): a cost of zeros makes the model free, out of every budget, where the built-in catalog prices it; leave `cost` out for the catalog's price (OpenClaw writes zeros for a price it does not know), or keep the zeros if your calls to it are free"
                    ));
                }
                raw_model.fill_from(known);
            }
        }
        if let Some(model) = model(raw_model, &model_path, dialect, &provider_headers, v) {
            v.holds_a_key(format!("{model_path}.name"), &model.name, "a model's name");
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
    let url = request_url(&base_url, api);
    let quota = quota::settings(&raw.quota, &format!("{path}.quota"), dialect, &url, v);
    Some(Provider {
        id: id.to_string(),
        base_url,
        api,
        shown_url: redactor.url(&url),
        completions_url: url,
        api_key,
        key_var: vars.named_at(&key_path).map(str::to_string),
        dialect,
        dialect_source,
        models,
        quota,
        max_concurrent: max_concurrent(raw.max_concurrent, path, dialect, v),
        cache_lifetime: (raw.cache_lifetime_seconds).map_or(DEFAULT_CACHE_LIFETIME, |c| c.0),
        written: false,
    })
}

/// Kimi Coding serves at most 30 requests at once per account
/// (forum.moonshot.ai #287); other providers state no such cap.
fn default_max_concurrent(dialect: Dialect) -> Option<u32> {
    (dialect == Dialect::KimiCoding).then_some(30)
}

/// A request waits this long for a place, unless `waitSeconds` says.
const DEFAULT_WAIT: Duration = Duration::from_secs(2);

/// The `maxConcurrent` of the provider at `path`, with the dialect's
/// defaults: `None` for no cap.
fn max_concurrent(
    raw: Option<RawMaxConcurrent>,
    path: &str,
    dialect: Dialect,
    v: &mut Validator,
) -> Option<MaxConcurrent> {
    let (requests, wait) = match raw {
        None => (None, None),
        Some(RawMaxConcurrent::Off) => return None,
        Some(RawMaxConcurrent::Requests(requests)) => (Some(requests), None),
        Some(RawMaxConcurrent::Queue { requests, wait }) => {
            if requests.is_none() && default_max_concurrent(dialect).is_none() {
                v.error(
                    format!("{path}.maxConcurrent.requests"),
                    "required: this provider has no default cap",
                );
            }
            (requests, wait)
        }
    };
    Some(MaxConcurrent {
        requests: requests
            .map(|Requests(n)| n)
            .or_else(|| default_max_concurrent(dialect))?,
        wait: wait.map_or(DEFAULT_WAIT, |wait| wait.0),
    })
}

/// The catalog's entry for `model_id` under the built-in provider of
/// `dialect`, legacy ids included.
fn catalog_model(dialect: Dialect, model_id: &str) -> Option<RawModel> {
    let provider = dialect.catalog_provider()?;
    let model_id = catalog::canonical_model(provider, model_id);
    let entry = catalog::model_entry(provider, model_id)?;
    serde_json::from_value(entry).ok()
}

/// Whether the catalog says `model_id` is retired under the built-in
/// provider of `dialect`, legacy ids included.
fn retired(dialect: Dialect, model_id: &str) -> Option<catalog::Retired> {
    let provider = dialect.catalog_provider()?;
    catalog::retired(provider, catalog::canonical_model(provider, model_id))
}

/// Where requests to a provider go. An Anthropic `baseUrl` is written
/// without `/v1` (`https://api.kimi.com/coding/`); one that ends in `/v1`
/// anyway (the OpenAI-style URL a built-in provider switched to
/// `anthropic-messages` keeps) means the same endpoint, not `/v1/v1`.
fn request_url(base: &reqwest::Url, api: Api) -> reqwest::Url {
    let path = base.path().trim_end_matches('/');
    let path = match api {
        Api::OpenAiCompletions => format!("{path}/chat/completions"),
        Api::AnthropicMessages => {
            let root = path.strip_suffix("/v1").unwrap_or(path);
            format!("{root}/v1/messages")
        }
    };
    let mut url = base.clone();
    url.set_path(&path);
    url
}

/// `raw`, the `headers` of the provider or model at `path`, onto `headers`.
fn extend_headers(
    headers: &mut HeaderMap,
    raw: &BTreeMap<String, String>,
    path: &str,
    v: &mut Validator,
) {
    let written = |name: &str| raw.keys().any(|key| key.eq_ignore_ascii_case(name));
    for (name, value) in raw {
        let parsed_name = HeaderName::from_bytes(name.as_bytes());
        let parsed_value = HeaderValue::from_str(value);
        match (parsed_name, parsed_value) {
            (Ok(name), Ok(mut value)) => {
                value.set_sensitive(is_sensitive_header(name.as_str()));
                // A header under another of its names (OpenRouter's
                // `X-Title`) takes the place of the one set before, a
                // default's, unless both are written here.
                for other in capabilities::same_header(name.as_str()) {
                    if !written(other) {
                        headers.remove(*other);
                    }
                }
                headers.insert(name, value);
            }
            (Err(_), _) => v.error(format!("{path}.headers.{name}"), "invalid header name"),
            (_, Err(_)) => v.error(format!("{path}.headers.{name}"), "invalid header value"),
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
    let Some(id) = raw.id.filter(|id| !id.trim().is_empty()) else {
        v.error(format!("{path}.id"), "required");
        return None;
    };
    // An id is sent, logged and printed in tables: a control character
    // would break each.
    if id.contains(char::is_control) {
        v.error(
            format!("{path}.id"),
            "holds a control character (a line break, a tab)",
        );
        return None;
    }
    if raw.max_tokens == Some(0) {
        v.error(
            format!("{path}.maxTokens"),
            "expected 1 or more: a limit of 0 leaves no room for an answer (leave it out when it is not known)",
        );
    }
    let settings = capability_settings(&raw.compat, &format!("{path}.compat"), v);
    // A cost written (here or in the catalog's entry) is a price, zero
    // included; none written is no price.
    let c = &raw.cost;
    let written = [c.input, c.output, c.cache_read, c.cache_write];
    let cost = written.iter().any(Option::is_some).then(|| Cost {
        input: c.input.unwrap_or(0.0),
        output: c.output.unwrap_or(0.0),
        cache_read: c.cache_read.unwrap_or(0.0),
        cache_write: c.cache_write.unwrap_or(0.0),
    });
    // A price past a dollar a token is a mistake, and one near f64's
    // range makes every call's cost unreadable, neither counted nor
    // uncosted.
    if written
        .iter()
        .flatten()
        .any(|c| !(0.0..=MAX_PRICE).contains(c))
    {
        v.error(
            format!("{path}.cost"),
            format!("costs must be numbers from 0 to {MAX_PRICE} (USD per million tokens)"),
        );
    }
    // A word not among the kinds the gateway reads would make the model
    // silently text-only (an image is skipped by `image`'s absence).
    for (index, kind) in raw.input.iter().flatten().enumerate() {
        if kind != "text" && kind != "image" {
            v.error(
                format!("{path}.input[{index}]"),
                format!("expected \"text\" or \"image\", found {kind:?}"),
            );
        }
    }
    let mut headers = provider_headers.clone();
    extend_headers(&mut headers, &raw.headers, path, v);
    Some(Model {
        retired: retired(dialect, &id),
        name: raw.name.unwrap_or_else(|| id.clone()),
        id,
        reasoning: raw.reasoning.unwrap_or(false),
        input: raw.input.unwrap_or_else(|| vec!["text".to_string()]),
        cost,
        context_window: raw.context_window,
        max_tokens: raw.max_tokens,
        headers,
        capabilities: settings.resolve(dialect, raw.reasoning.unwrap_or(false)),
    })
}

/// A model's `compat`, each value checked against the words it may take.
fn capability_settings(raw: &RawCompat, path: &str, v: &mut Validator) -> CapabilitySettings {
    CapabilitySettings {
        reasoning: word(v, path, "thinking", &raw.thinking),
        thinking_control: word(v, path, "thinkingControl", &raw.thinking_control),
        thinking_keep: raw.thinking_keep,
        fixed_sampling: raw.fixed_sampling.clone(),
        fixed_sampling_when_thinking: raw.fixed_sampling_when_thinking.clone(),
        forced_tool_choice: word(v, path, "forcedToolChoice", &raw.forced_tool_choice),
        developer_role: raw.supports_developer_role,
        max_tokens_field: word(v, path, "maxTokensField", &raw.max_tokens_field),
        streamed_usage: raw.supports_usage_in_streaming,
    }
}

/// `value`, when written, as one of the words `T` takes (its serde
/// names), else an error at `path.key` listing them.
fn word<T: DeserializeOwned>(
    v: &mut Validator,
    path: &str,
    key: &str,
    value: &Option<String>,
) -> Option<T> {
    let value = value.as_deref()?;
    let parsed = T::deserialize(StrDeserializer::<serde::de::value::Error>::new(value));
    let names: Vec<String> = fields::<T>().iter().map(|n| format!("{n:?}")).collect();
    let message = |_| format!("expected one of {}, found {value:?}", names.join(", "));
    v.ok(format!("{path}.{key}"), parsed.map_err(message))
}

/// How a placeholder key is described, wherever it is reported.
pub const PLACEHOLDER: &str = "the key looks like a placeholder from the docs";

/// What makes a key a placeholder copied from docs or a blog
/// (`sk-...`, `sk-kimi-YOUR_API_KEY_HERE`, `<your key>`), if it is one:
/// an ellipsis, or a word of its own (between `-`, `_`, spaces or `<>`)
/// that no random key has. Only the marker is ever shown, never the key.
pub fn placeholder(key: &str) -> Option<&'static str> {
    if key.contains("...") || key.contains('\u{2026}') {
        return Some("...");
    }
    const WORDS: [&str; 6] = ["your", "here", "changeme", "placeholder", "replace", "xxx"];
    key.split(|c: char| !c.is_ascii_alphanumeric())
        .map(|word| {
            let lower = word.to_ascii_lowercase();
            if lower.len() >= 3 && lower.bytes().all(|b| b == b'x') {
                "xxx".to_string()
            } else {
                lower
            }
        })
        .find_map(|word| WORDS.into_iter().find(|w| *w == word))
}

/// Whether `provider` is reached at this gateway's own address, so that
/// clawgate would call itself: the same port on the bind address, on
/// `localhost` when clawgate listens on loopback, or on any loopback
/// address when it listens on every address. The wildcard address
/// (`0.0.0.0`, `[::]`) is no address to connect to: a connection to it
/// goes to the loopback one (`127.0.0.1`, `::1`). (A name that resolves
/// here is caught at run time: `upstream::LOOP_HEADER`.)
fn calls_itself(provider: &Provider, bind: IpAddr, port: u16) -> bool {
    let url = &provider.base_url;
    if url.port_or_known_default() != Some(port) {
        return false;
    }
    let name = url.host_str().unwrap_or_default();
    if name.eq_ignore_ascii_case("localhost") {
        return bind.is_loopback() || bind.is_unspecified();
    }
    let host: Option<IpAddr> = name
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok();
    let host = host.map(connected_to);
    host.is_some_and(|host| host == bind || (bind.is_unspecified() && host.is_loopback()))
}

/// An error at its `baseUrl` for each provider that [`calls_itself`].
pub fn self_loops(
    providers: &BTreeMap<String, Arc<Provider>>,
    bind: IpAddr,
    port: u16,
) -> Vec<ConfigError> {
    let listen = std::net::SocketAddr::new(bind, port);
    providers
        .values()
        .filter(|provider| calls_itself(provider, bind, port))
        .map(|provider| ConfigError {
            path: format!("models.providers.{}.baseUrl", provider.id),
            message: format!(
                "{} is this gateway's own address ({listen}): clawgate would send every request to itself; point the provider at its real endpoint (an OpenClaw config shared with clawgate must keep its `clawgate` provider out of clawgate's config)",
                without_query(&provider.base_url)
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::config::{Environment, MaxConcurrent, Secrets, load_str};

    #[test]
    fn a_cap_written_without_requests_needs_a_dialect_that_has_one() {
        let cap = |written: &str| {
            let text = format!(
                "{{models: {{providers: {{p: {{baseUrl: 'http://127.0.0.1:9/v1', models: [{{id: 'm'}}],
                  maxConcurrent: {written}}}}}}}, agents: {{defaults: {{model: 'p/m'}}}}}}"
            );
            load_str(&text, &Environment::default(), Secrets::Offline)
                .map(|loaded| loaded.config.providers["p"].max_concurrent)
                .map_err(|errors| errors.to_string())
        };
        assert_eq!(
            cap("{waitSeconds: 1}"),
            Err("models.providers.p.maxConcurrent.requests: required: this provider has no default cap".into())
        );
        assert_eq!(
            cap("true"),
            Err("models.providers.p.maxConcurrent: expected a whole number of requests from 1 to 10000 (false: no cap), found true".into())
        );
        let wait = std::time::Duration::from_millis(1500);
        assert_eq!(
            cap("{requests: 4, waitSeconds: 1.5}"),
            Ok(Some(MaxConcurrent { requests: 4, wait }))
        );
        assert_eq!(cap("null"), Ok(None), "no cap unless the dialect has one");
    }

    /// OpenRouter reads its title as `X-OpenRouter-Title` or `X-Title`:
    /// either, written by the user, takes the default's place; both
    /// written, both go.
    #[test]
    fn a_header_written_under_another_of_its_names_takes_the_defaults_place() {
        let headers = |provider: &str, model: &str| {
            let text = format!(
                "{{models: {{providers: {{openrouter: {{baseUrl: 'http://127.0.0.1:9/v1', {provider}
                  models: [{{id: 'm', {model}}}]}}}}}}, agents: {{defaults: {{model: 'openrouter/m'}}}}}}"
            );
            let config = load_str(&text, &Environment::default(), Secrets::Offline)
                .unwrap()
                .config;
            let headers = &config.providers["openrouter"].model("m").unwrap().headers;
            let get = |name| headers.get(name).map(|v| v.to_str().unwrap().to_string());
            (get("x-openrouter-title"), get("x-title"))
        };
        let own = || Some("My App".to_string());
        assert_eq!(headers("", ""), (Some("clawgate".into()), None));
        assert_eq!(
            headers("headers: {'X-Title': 'My App'},", ""),
            (None, own())
        );
        assert_eq!(headers("", "headers: {'X-Title': 'My App'}"), (None, own()));
        assert_eq!(
            headers(
                "headers: {'X-Title': 'My App', 'X-OpenRouter-Title': 'Mine'},",
                ""
            ),
            (Some("Mine".into()), own())
        );
    }

    /// A provider found calling this gateway when it listens elsewhere
    /// than its config says (`--port`, checked at start and on reload) is
    /// named by its URL as shown: its query, which may hold a key under
    /// any name, is not.
    #[test]
    fn a_self_call_is_named_without_the_urls_query() {
        let text = "{models: {providers: {p: {baseUrl: 'http://127.0.0.1:4000/v1?sig=S3cretPass',
            models: [{id: 'm'}]}}}, agents: {defaults: {model: 'p/m'}}}";
        let config = load_str(text, &Environment::default(), Secrets::Offline)
            .unwrap()
            .config;
        let loops = super::self_loops(&config.providers, [127, 0, 0, 1].into(), 4000);
        assert_eq!(loops.len(), 1);
        assert!(
            !loops[0].message.contains("S3cretPass"),
            "{}",
            loops[0].message
        );
        assert!(
            loops[0].message.contains("127.0.0.1:4000"),
            "{}",
            loops[0].message
        );
    }

    #[test]
    fn a_self_call_through_the_wildcard_address_is_found() {
        let calls = |base: &str, bind: &str| {
            let text = format!(
                "{{models: {{providers: {{p: {{baseUrl: '{base}', models: [{{id: 'm'}}]}}}}}}, agents: {{defaults: {{model: 'p/m'}}}}}}"
            );
            let config = load_str(&text, &Environment::default(), Secrets::Offline)
                .unwrap()
                .config;
            let bind = bind.parse().unwrap();
            !super::self_loops(&config.providers, bind, 4000).is_empty()
        };
        for (base, bind) in [
            ("http://0.0.0.0:4000/v1", "127.0.0.1"),
            ("http://0.0.0.0:4000/v1", "0.0.0.0"),
            ("http://0.0.0.0:4000/v1", "::"),
            ("http://[::]:4000/v1", "::1"),
            ("http://[::]:4000/v1", "::"),
        ] {
            assert!(calls(base, bind), "{base} on {bind}");
        }
        // It reaches the loopback address only, of its own family.
        for (base, bind) in [
            ("http://0.0.0.0:4001/v1", "127.0.0.1"),
            ("http://0.0.0.0:4000/v1", "192.168.1.5"),
            ("http://[::]:4000/v1", "127.0.0.1"),
        ] {
            assert!(!calls(base, bind), "{base} on {bind}");
        }
    }

    #[test]
    fn placeholders_from_docs_are_told_from_random_keys() {
        for (key, marker) in [
            ("sk-...", "..."),
            ("sk-kimi-YOUR_API_KEY_HERE", "your"),
            ("<your key>", "your"),
            ("sk-or-v1-xxxxxxxx", "xxx"),
            ("CHANGEME", "changeme"),
            ("paste your Moonshot key here", "your"),
        ] {
            assert_eq!(super::placeholder(key), Some(marker), "{key}");
        }
        for key in [
            "sk-1YOURHEREabcXXXXdef0123456789",
            "sk-or-v1-0123456789abcdef0123456789abcdef",
            "sk-kimi-Here4YouR9xxxxQ",
        ] {
            assert_eq!(super::placeholder(key), None, "{key}");
        }
    }
    use super::*;

    #[test]
    fn request_urls_follow_the_api() {
        let cases = [
            (
                "https://api.kimi.com/coding/v1",
                Api::OpenAiCompletions,
                "https://api.kimi.com/coding/v1/chat/completions",
            ),
            (
                "https://api.kimi.com/coding/v1/",
                Api::OpenAiCompletions,
                "https://api.kimi.com/coding/v1/chat/completions",
            ),
            (
                "https://api.kimi.com/coding/",
                Api::AnthropicMessages,
                "https://api.kimi.com/coding/v1/messages",
            ),
            (
                "https://api.kimi.com/coding",
                Api::AnthropicMessages,
                "https://api.kimi.com/coding/v1/messages",
            ),
            (
                "https://api.kimi.com/coding/v1",
                Api::AnthropicMessages,
                "https://api.kimi.com/coding/v1/messages",
            ),
            (
                "https://api.kimi.com/coding/v1/",
                Api::AnthropicMessages,
                "https://api.kimi.com/coding/v1/messages",
            ),
            (
                "https://api.moonshot.ai/anthropic",
                Api::AnthropicMessages,
                "https://api.moonshot.ai/anthropic/v1/messages",
            ),
            (
                "http://127.0.0.1:9/",
                Api::AnthropicMessages,
                "http://127.0.0.1:9/v1/messages",
            ),
            (
                "http://127.0.0.1:9/xv1",
                Api::AnthropicMessages,
                "http://127.0.0.1:9/xv1/v1/messages",
            ),
        ];
        for (base, api, expected) in cases {
            let url = request_url(&reqwest::Url::parse(base).unwrap(), api);
            assert_eq!(url.as_str(), expected, "{base} over {api:?}");
        }
    }
}
