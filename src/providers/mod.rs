//! Request rewriting: pure functions from the client's request body to the
//! body one provider/model expects. No I/O and no clock, so every rule is
//! covered by table tests of the form "request in -> request out".
//!
//! Rules applied, in order: configured `params` fill fields the client left
//! out; `thinkingDefault` applies when the client sent no thinking signal;
//! the OpenAI `reasoning_effort` signal is translated to the provider's own
//! switch; the `developer` role becomes `system` where unsupported; the
//! output limit moves to the field the model expects; streamed usage is not
//! asked of providers that cannot send it; `model` names the upstream id.

use serde_json::{Map, Value, json};

use crate::capabilities::{Dialect, MaxTokensField, ThinkingLevel};
use crate::config::{Compat, Target};

/// What the rules need to know about where a request is going.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub dialect: Dialect,
    pub model_id: &'a str,
    pub reasoning: bool,
    pub compat: Compat,
    pub params: Option<&'a Map<String, Value>>,
    pub thinking_default: Option<ThinkingLevel>,
}

impl<'a> Rules<'a> {
    pub fn for_target(target: &'a Target) -> Self {
        Rules {
            dialect: target.provider.dialect,
            model_id: &target.model.id,
            reasoning: target.model.reasoning,
            compat: target.model.compat,
            params: target.params.as_deref(),
            thinking_default: target.thinking_default,
        }
    }
}

/// Rewrites `body` in place for `rules`.
pub fn apply(body: &mut Map<String, Value>, rules: &Rules<'_>) {
    if let Some(params) = rules.params {
        for (key, value) in params {
            body.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    thinking(body, rules);
    if !rules.compat.supports_developer_role {
        developer_to_system(body);
    }
    if let Some(field) = rules.compat.max_tokens_field {
        max_tokens_field(body, field);
    }
    if !rules.compat.supports_usage_in_streaming {
        drop_stream_usage(body);
    }
    body.insert("model".into(), Value::String(rules.model_id.to_string()));
}

const THINKING_SIGNALS: [&str; 3] = ["reasoning_effort", "thinking", "reasoning"];

fn thinking(body: &mut Map<String, Value>, rules: &Rules<'_>) {
    let has_signal = THINKING_SIGNALS.iter().any(|key| body.contains_key(*key));
    if let (false, Some(level)) = (has_signal, rules.thinking_default) {
        body.insert("reasoning_effort".into(), json!(level.as_effort()));
    }
    match rules.dialect {
        Dialect::Moonshot | Dialect::KimiCoding => {
            let effort = body.remove("reasoning_effort");
            if !rules.reasoning || body.contains_key("thinking") {
                return;
            }
            if let Some(effort) = effort {
                let kind = if effort == "none" {
                    "disabled"
                } else {
                    "enabled"
                };
                body.insert("thinking".into(), json!({ "type": kind }));
            }
        }
        Dialect::OpenRouter => {
            let Some(effort) = body.remove("reasoning_effort") else {
                return;
            };
            if body.contains_key("reasoning") {
                return;
            }
            let reasoning = if effort == "none" {
                json!({ "enabled": false })
            } else {
                // OpenRouter's efforts are low, medium and high.
                let effort = if effort == "minimal" {
                    json!("low")
                } else {
                    effort
                };
                json!({ "effort": effort })
            };
            body.insert("reasoning".into(), reasoning);
        }
        Dialect::Generic => {}
    }
}

fn developer_to_system(body: &mut Map<String, Value>) {
    let Some(Value::Array(messages)) = body.get_mut("messages") else {
        return;
    };
    for message in messages {
        if let Some(role) = message.get_mut("role").filter(|role| *role == "developer") {
            *role = json!("system");
        }
    }
}

fn max_tokens_field(body: &mut Map<String, Value>, field: MaxTokensField) {
    let other = match field {
        MaxTokensField::MaxTokens => MaxTokensField::MaxCompletionTokens,
        MaxTokensField::MaxCompletionTokens => MaxTokensField::MaxTokens,
    };
    if let Some(limit) = body.remove(other.name()) {
        body.entry(field.name()).or_insert(limit);
    }
}

fn drop_stream_usage(body: &mut Map<String, Value>) {
    let Some(Value::Object(options)) = body.get_mut("stream_options") else {
        return;
    };
    options.remove("include_usage");
    if options.is_empty() {
        body.remove("stream_options");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_COMPAT: Compat = Compat {
        supports_developer_role: true,
        supports_usage_in_streaming: true,
        max_tokens_field: None,
    };

    fn rules(dialect: Dialect) -> Rules<'static> {
        Rules {
            dialect,
            model_id: "upstream-id",
            reasoning: true,
            compat: Compat {
                supports_developer_role: dialect.supports_developer_role(),
                ..DEFAULT_COMPAT
            },
            params: None,
            thinking_default: None,
        }
    }

    fn check(rules: Rules<'_>, input: Value, expected: Value) {
        let Value::Object(mut body) = input.clone() else {
            panic!("input must be an object")
        };
        apply(&mut body, &rules);
        assert_eq!(Value::Object(body), expected, "input {input}");
    }

    #[test]
    fn model_is_replaced_and_unknown_fields_pass_untouched() {
        check(
            rules(Dialect::Generic),
            json!({"model": "moonshot/kimi-k2.6", "messages": [], "x_custom": {"a": 1}, "temperature": 0.2}),
            json!({"model": "upstream-id", "messages": [], "x_custom": {"a": 1}, "temperature": 0.2}),
        );
    }

    #[test]
    fn developer_role_becomes_system_for_kimi() {
        let input = json!({"messages": [
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": "hi", "name": "developer"}
        ]});
        check(
            rules(Dialect::Moonshot),
            input.clone(),
            json!({"model": "upstream-id", "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hi", "name": "developer"}
            ]}),
        );
        let mut kept = input;
        kept["model"] = json!("upstream-id");
        check(rules(Dialect::OpenRouter), kept.clone(), kept);
    }

    #[test]
    fn reasoning_effort_becomes_each_providers_switch() {
        let cases = [
            (
                Dialect::Moonshot,
                json!("none"),
                json!({"thinking": {"type": "disabled"}}),
            ),
            (
                Dialect::KimiCoding,
                json!("high"),
                json!({"thinking": {"type": "enabled"}}),
            ),
            (
                Dialect::OpenRouter,
                json!("none"),
                json!({"reasoning": {"enabled": false}}),
            ),
            (
                Dialect::OpenRouter,
                json!("minimal"),
                json!({"reasoning": {"effort": "low"}}),
            ),
            (
                Dialect::OpenRouter,
                json!("medium"),
                json!({"reasoning": {"effort": "medium"}}),
            ),
            (
                Dialect::Generic,
                json!("low"),
                json!({"reasoning_effort": "low"}),
            ),
        ];
        for (dialect, effort, mut expected) in cases {
            expected["model"] = json!("upstream-id");
            check(
                rules(dialect),
                json!({"reasoning_effort": effort}),
                expected,
            );
        }
    }

    #[test]
    fn explicit_provider_switches_win_over_reasoning_effort() {
        check(
            rules(Dialect::Moonshot),
            json!({"reasoning_effort": "high", "thinking": {"type": "disabled"}}),
            json!({"thinking": {"type": "disabled"}, "model": "upstream-id"}),
        );
        check(
            rules(Dialect::OpenRouter),
            json!({"reasoning_effort": "high", "reasoning": {"max_tokens": 10}}),
            json!({"reasoning": {"max_tokens": 10}, "model": "upstream-id"}),
        );
    }

    #[test]
    fn non_reasoning_kimi_models_get_no_thinking_switch() {
        let plain = Rules {
            reasoning: false,
            ..rules(Dialect::Moonshot)
        };
        check(
            plain,
            json!({"reasoning_effort": "high"}),
            json!({"model": "upstream-id"}),
        );
    }

    #[test]
    fn thinking_default_applies_only_without_a_client_signal() {
        let with_default = Rules {
            thinking_default: Some(ThinkingLevel::Off),
            ..rules(Dialect::Moonshot)
        };
        check(
            with_default,
            json!({}),
            json!({"thinking": {"type": "disabled"}, "model": "upstream-id"}),
        );
        check(
            with_default,
            json!({"reasoning_effort": "low"}),
            json!({"thinking": {"type": "enabled"}, "model": "upstream-id"}),
        );
    }

    #[test]
    fn params_fill_only_what_the_client_left_out() {
        let params: Map<String, Value> = serde_json::from_value(
            json!({"temperature": 1, "thinking": {"type": "enabled", "keep": "all"}}),
        )
        .unwrap();
        let with_params = Rules {
            params: Some(&params),
            ..rules(Dialect::Moonshot)
        };
        check(
            with_params,
            json!({"temperature": 0.5}),
            json!({"temperature": 0.5, "thinking": {"type": "enabled", "keep": "all"}, "model": "upstream-id"}),
        );
    }

    #[test]
    fn output_limit_moves_to_the_configured_field() {
        let to_max_tokens = Rules {
            compat: Compat {
                max_tokens_field: Some(MaxTokensField::MaxTokens),
                ..DEFAULT_COMPAT
            },
            ..rules(Dialect::Generic)
        };
        check(
            to_max_tokens,
            json!({"max_completion_tokens": 100}),
            json!({"max_tokens": 100, "model": "upstream-id"}),
        );
        // When both are present the configured field keeps its own value.
        check(
            to_max_tokens,
            json!({"max_tokens": 5, "max_completion_tokens": 100}),
            json!({"max_tokens": 5, "model": "upstream-id"}),
        );
        check(
            rules(Dialect::Generic),
            json!({"max_completion_tokens": 7}),
            json!({"max_completion_tokens": 7, "model": "upstream-id"}),
        );
    }

    #[test]
    fn streamed_usage_is_not_requested_where_unsupported() {
        let no_usage = Rules {
            compat: Compat {
                supports_usage_in_streaming: false,
                ..DEFAULT_COMPAT
            },
            ..rules(Dialect::Generic)
        };
        check(
            no_usage,
            json!({"stream": true, "stream_options": {"include_usage": true}}),
            json!({"stream": true, "model": "upstream-id"}),
        );
        check(
            no_usage,
            json!({"stream_options": {"include_usage": true, "other": 1}}),
            json!({"stream_options": {"other": 1}, "model": "upstream-id"}),
        );
    }
}
