//! The built-in defaults: the providers and models clawgate knows without a
//! config file. They live in one data file, `catalog.json`, in the config
//! file's own shape, so that `models.mode: merge` is a plain merge of two
//! documents and both go through one validation; the Nix modules read the
//! same file with `builtins.fromJSON`.

use std::sync::LazyLock;

use serde_json::Value;

/// The catalog file, compiled in.
pub const CATALOG_JSON: &str = include_str!("catalog.json");

static CATALOG: LazyLock<Value> =
    LazyLock::new(|| serde_json::from_str(CATALOG_JSON).expect("catalog.json is valid JSON"));

/// The config used when there is no file, and the base a file merges into:
/// the catalog's `models` and `agents` sections.
pub fn defaults() -> Value {
    let mut config = serde_json::Map::new();
    for section in ["models", "agents"] {
        config.insert(section.to_string(), CATALOG[section].clone());
    }
    Value::Object(config)
}

/// The catalog's entry for model `model_id` of built-in provider `provider`.
pub fn model_entry(provider: &str, model_id: &str) -> Option<Value> {
    CATALOG["models"]["providers"][provider]["models"]
        .as_array()?
        .iter()
        .find(|m| m["id"] == model_id)
        .cloned()
}

/// A legacy model id of a built-in provider (`kimi/k2p5`) as the id it now
/// means (`kimi-for-coding`); any other id as it is.
pub fn canonical_model<'a>(provider: &str, model_id: &'a str) -> &'a str {
    let catalog: &'static Value = &CATALOG;
    catalog["modelAliases"][format!("{provider}/{model_id}")]
        .as_str()
        .unwrap_or(model_id)
}

/// A model its provider no longer serves: since when, and the model of
/// the same provider that replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retired {
    /// The day it went, `2026-05-25`.
    pub on: &'static str,
    /// The model id that replaces it, under the same provider.
    pub successor: &'static str,
}

impl Retired {
    /// What a user is told wherever the model is named: `retired on
    /// 2026-05-25; its successor is moonshot/kimi-k2.6` (`provider`, the
    /// id the user's config gives the provider).
    pub fn advice(&self, provider: &str) -> String {
        format!(
            "retired on {}; its successor is {provider}/{}",
            self.on, self.successor
        )
    }
}

/// Whether model `model_id` of built-in provider `provider` is retired
/// (the catalog's `retired`).
pub fn retired(provider: &str, model_id: &str) -> Option<Retired> {
    let catalog: &'static Value = &CATALOG;
    let entry = &catalog["retired"][format!("{provider}/{model_id}")];
    Some(Retired {
        on: entry["on"].as_str()?,
        successor: entry["successor"].as_str()?,
    })
}

/// The built-in provider an OpenClaw provider id stands for (`kimi-coding`
/// is `kimi`), if it is an alias.
pub fn provider_alias(provider: &str) -> Option<&'static str> {
    let catalog: &'static Value = &CATALOG;
    catalog["providerAliases"][provider].as_str()
}

/// OpenClaw's other names for the built-in provider `provider`
/// (`kimi-code`, `kimicode`, `kimi-coding` for `kimi`).
pub fn aliases_of_provider(provider: &str) -> impl Iterator<Item = &'static str> {
    let catalog: &'static Value = &CATALOG;
    catalog["providerAliases"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(move |(_, canonical)| canonical.as_str() == Some(provider))
        .map(|(alias, _)| alias.as_str())
}

/// Merges a user's config over the built-in one (`models.mode: merge`):
/// objects merge key by key with the user's values winning, and a provider's
/// `models` list merges by `id`, so a user can override one field of a
/// built-in model or add models to a built-in provider. Other arrays are
/// replaced whole. An id the user's list gives twice is kept twice, for
/// validation to refuse as it does in `replace` mode.
pub fn merge(base: &mut Value, user: Value) {
    match (base, user) {
        (Value::Object(base), Value::Object(user)) => {
            for (key, value) in user {
                match base.get_mut(&key) {
                    Some(existing)
                        if key == "models" && existing.is_array() && value.is_array() =>
                    {
                        merge_models_by_id(existing, value)
                    }
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, user) => *base = user,
    }
}

fn merge_models_by_id(base: &mut Value, user: Value) {
    let (Value::Array(base), Value::Array(user)) = (base, user) else {
        unreachable!("checked by the caller")
    };
    // Each built-in entry takes the first of the user's entries with its id.
    let mut built_in = vec![true; base.len()];
    for entry in user {
        let id = entry.get("id").cloned();
        let same = (base.iter().zip(&built_in))
            .position(|(b, &open)| open && id.is_some() && b.get("id") == id.as_ref());
        match same {
            Some(at) => {
                built_in[at] = false;
                merge(&mut base[at], entry);
            }
            None => base.push(entry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_catalog_holds_every_model_of_the_facts_file() {
        let defaults = defaults();
        let ids = |provider: &str| -> Vec<String> {
            defaults["models"]["providers"][provider]["models"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_string())
                .collect()
        };
        for id in [
            "kimi-k3.1-pro",
            "kimi-k3.1-pro-highspeed",
            "kimi-k3",
            "kimi-k2.6",
            "kimi-k2.7-code",
            "kimi-k2.7-code-highspeed",
            "kimi-k2.5",
        ] {
            assert!(ids("moonshot").contains(&id.to_string()), "{id}");
        }
        for id in [
            "kimi-for-coding",
            "kimi-for-coding-highspeed",
            "k3",
            "k3-256k",
        ] {
            assert!(ids("kimi").contains(&id.to_string()), "{id}");
        }
    }

    #[test]
    fn retired_models_stay_in_the_catalog_and_name_a_successor_it_serves() {
        let listed = CATALOG["retired"].as_object().unwrap();
        let ids = [
            "kimi-k2-turbo-preview",
            "kimi-k2-0905-preview",
            "moonshot-v1-8k",
            "moonshot-v1-32k",
            "moonshot-v1-128k",
        ];
        for id in ids {
            let mark = retired("moonshot", id).unwrap_or_else(|| panic!("{id} is not retired"));
            assert!(
                model_entry("moonshot", id).is_some(),
                "{id} is still loadable"
            );
            assert!(
                model_entry("moonshot", mark.successor).is_some()
                    && retired("moonshot", mark.successor).is_none(),
                "{id}'s successor {} is served",
                mark.successor
            );
        }
        assert_eq!(
            listed.keys().filter(|k| !k.starts_with("//")).count(),
            ids.len()
        );
        assert_eq!(retired("moonshot", "kimi-k2.6"), None);
        assert_eq!(retired("kimi", "kimi-k2-turbo-preview"), None);
    }

    #[test]
    fn kimi_k3_1_is_priced_as_the_facts_have_it() {
        for (id, input, cache_read, output) in [
            ("kimi-k3.1-pro", 2.0, 0.2, 10.0),
            ("kimi-k3.1-pro-highspeed", 4.0, 0.2, 20.0),
        ] {
            let entry = model_entry("moonshot", id).unwrap_or_else(|| panic!("{id}"));
            let cost = &entry["cost"];
            assert_eq!(
                (
                    cost["input"].as_f64(),
                    cost["cacheRead"].as_f64(),
                    cost["output"].as_f64()
                ),
                (Some(input), Some(cache_read), Some(output)),
                "{id}"
            );
        }
    }

    #[test]
    fn merge_overrides_fields_and_extends_model_lists() {
        let mut base = json!({"providers": {"p": {"baseUrl": "a", "models": [
            {"id": "m1", "name": "One", "contextWindow": 10},
            {"id": "m2"}
        ]}}, "list": [1, 2]});
        let user = json!({"providers": {"p": {"baseUrl": "b", "models": [
            {"id": "m1", "contextWindow": 20},
            {"id": "m3"},
            {"id": "m1", "contextWindow": 30}
        ]}, "q": {"baseUrl": "c"}}, "list": [3]});
        merge(&mut base, user);
        assert_eq!(
            base,
            json!({"providers": {
                "p": {"baseUrl": "b", "models": [
                    {"id": "m1", "name": "One", "contextWindow": 20},
                    {"id": "m2"},
                    {"id": "m3"},
                    {"id": "m1", "contextWindow": 30}
                ]},
                "q": {"baseUrl": "c"}
            }, "list": [3]})
        );
    }
}
