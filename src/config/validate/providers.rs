//! `models.providers.*`: endpoints, keys, headers and each provider's models.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;

use super::super::raw::{RawModel, RawProvider};
use super::super::{ApiKey, Compat, Cost, Model, Provider};
use super::{MissingVar, Validator};
use crate::capabilities::{Dialect, MaxTokensField};

pub(super) fn provider(
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
                value.set_sensitive(crate::ops::redact::is_sensitive_header(name.as_str()));
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
