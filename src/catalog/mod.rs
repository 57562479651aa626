//! The built-in defaults: the providers and models clawgate knows without a
//! config file, in the config file's own shape so that `models.mode: merge`
//! is a plain merge of two documents and both go through one validation.
//!
//! Costs are USD per million tokens; zero means unknown. Sources:
//! Moonshot's published rates and the OpenClaw Moonshot catalog.

use serde_json::{Value, json};

/// The config used when there is no file, and the base a file merges into.
pub fn defaults() -> Value {
    json!({
        "models": {
            "mode": "merge",
            "providers": {
                "moonshot": {
                    "baseUrl": "https://api.moonshot.ai/v1",
                    "apiKey": "${MOONSHOT_API_KEY}",
                    "api": "openai-completions",
                    "models": moonshot_models(),
                },
                "kimi": {
                    "baseUrl": "https://api.kimi.com/coding/v1",
                    "apiKey": "${KIMI_API_KEY}",
                    "api": "openai-completions",
                    "models": [
                        model("kimi-for-coding", "Kimi For Coding", true, &["text", "image"], 262_144, 32_768, [0.0; 3]),
                    ],
                },
                "openrouter": {
                    "baseUrl": "https://openrouter.ai/api/v1",
                    "apiKey": "${OPENROUTER_API_KEY}",
                    "api": "openai-completions",
                    "models": [
                        model("auto", "OpenRouter Auto", true, &["text", "image"], 2_000_000, 0, [0.0; 3]),
                        model("moonshotai/kimi-k2.6", "Kimi K2.6 (OpenRouter)", true, &["text", "image"], 262_144, 262_144, [0.0; 3]),
                    ],
                },
            },
        },
        "agents": {
            "defaults": {
                "model": {
                    "primary": "moonshot/kimi-k2.6",
                    "fallbacks": ["openrouter/moonshotai/kimi-k2.6"],
                },
            },
        },
    })
}

fn moonshot_models() -> Value {
    let text = &["text"][..];
    let vision = &["text", "image"][..];
    json!([
        model(
            "kimi-k2.6",
            "Kimi K2.6",
            true,
            vision,
            262_144,
            262_144,
            [0.95, 4.0, 0.16]
        ),
        model(
            "kimi-k2.7-code",
            "Kimi K2.7 Code",
            true,
            vision,
            262_144,
            262_144,
            [0.95, 4.0, 0.19]
        ),
        model(
            "kimi-k2.5",
            "Kimi K2.5",
            true,
            vision,
            262_144,
            262_144,
            [0.60, 3.0, 0.10]
        ),
        model(
            "kimi-k2-thinking",
            "Kimi K2 Thinking",
            true,
            text,
            262_144,
            262_144,
            [0.0; 3]
        ),
        model(
            "kimi-k2-thinking-turbo",
            "Kimi K2 Thinking Turbo",
            true,
            text,
            262_144,
            262_144,
            [0.0; 3]
        ),
        model(
            "kimi-k2-turbo",
            "Kimi K2 Turbo",
            false,
            text,
            256_000,
            16_384,
            [0.0; 3]
        ),
        model(
            "kimi-k2-0905-preview",
            "Kimi K2 0905 Preview",
            false,
            text,
            256_000,
            8_192,
            [0.0; 3]
        ),
        model(
            "kimi-k2-turbo-preview",
            "Kimi K2 Turbo Preview",
            false,
            text,
            256_000,
            8_192,
            [0.0; 3]
        ),
        model(
            "moonshot-v1-8k",
            "Moonshot V1 8K",
            false,
            text,
            8_192,
            0,
            [0.0; 3]
        ),
        model(
            "moonshot-v1-32k",
            "Moonshot V1 32K",
            false,
            text,
            32_768,
            0,
            [0.0; 3]
        ),
        model(
            "moonshot-v1-128k",
            "Moonshot V1 128K",
            false,
            text,
            131_072,
            0,
            [0.0; 3]
        ),
    ])
}

/// One catalog entry; `max_tokens` 0 means unknown and is left out.
fn model(
    id: &str,
    name: &str,
    reasoning: bool,
    input: &[&str],
    context_window: u64,
    max_tokens: u64,
    [cost_in, cost_out, cache_read]: [f64; 3],
) -> Value {
    let mut entry = json!({
        "id": id,
        "name": name,
        "reasoning": reasoning,
        "input": input,
        "contextWindow": context_window,
        "cost": {"input": cost_in, "output": cost_out, "cacheRead": cache_read, "cacheWrite": 0.0},
    });
    if max_tokens > 0 {
        entry["maxTokens"] = json!(max_tokens);
    }
    entry
}

/// Merges a user's config over the built-in one (`models.mode: merge`):
/// objects merge key by key with the user's values winning, and a provider's
/// `models` list merges by `id`, so a user can override one field of a
/// built-in model or add models to a built-in provider. Other arrays are
/// replaced whole.
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
    for entry in user {
        let id = entry.get("id").cloned();
        match base
            .iter_mut()
            .find(|b| id.is_some() && b.get("id") == id.as_ref())
        {
            Some(existing) => merge(existing, entry),
            None => base.push(entry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_overrides_fields_and_extends_model_lists() {
        let mut base = json!({"providers": {"p": {"baseUrl": "a", "models": [
            {"id": "m1", "name": "One", "contextWindow": 10},
            {"id": "m2"}
        ]}}, "list": [1, 2]});
        let user = json!({"providers": {"p": {"baseUrl": "b", "models": [
            {"id": "m1", "contextWindow": 20},
            {"id": "m3"}
        ]}, "q": {"baseUrl": "c"}}, "list": [3]});
        merge(&mut base, user);
        assert_eq!(
            base,
            json!({"providers": {
                "p": {"baseUrl": "b", "models": [
                    {"id": "m1", "name": "One", "contextWindow": 20},
                    {"id": "m2"},
                    {"id": "m3"}
                ]},
                "q": {"baseUrl": "c"}
            }, "list": [3]})
        );
    }
}
