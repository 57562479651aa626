//! Property tests: whatever the input, the config reader, `${VAR}`
//! substitution and the request rules answer without panicking, and answer
//! the way they promise.

use std::collections::HashMap;

use clawgate::config::{self, Environment, Secrets, substitute};
use clawgate::providers;
use clawgate::wire::openai::ChatRequest;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Keys the config reader knows, mixed with near-misses and OpenClaw's own,
/// so generated documents reach deep into validation.
const KEYS: &[&str] = &[
    "gateway",
    "port",
    "bind",
    "auth",
    "token",
    "timeouts",
    "connectSeconds",
    "limits",
    "maxConnections",
    "models",
    "mode",
    "providers",
    "moonshot",
    "kimi",
    "openrouter",
    "local",
    "baseUrl",
    "apiKey",
    "api",
    "headers",
    "id",
    "name",
    "reasoning",
    "input",
    "cost",
    "contextWindow",
    "maxTokens",
    "compat",
    "agents",
    "defaults",
    "model",
    "primary",
    "fallbacks",
    "alias",
    "params",
    "thinkingDefault",
    "env",
    "vars",
    "channels",
    "baseURL",
    "fallback",
    "allowedHosts",
    "allowedOrigins",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e9f64..1e9).prop_map(|n| json!(n)),
        prop_oneof![
            "[a-z0-9/._-]{0,12}",
            Just("moonshot/kimi-k2.6".to_string()),
            Just("http://127.0.0.1:9/v1".to_string()),
            Just("${MOONSHOT_API_KEY}".to_string()),
            Just("${UNSET_VAR}".to_string()),
            Just("replace".to_string()),
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|pairs| {
                Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

fn env() -> Environment {
    Environment::from_pairs([
        ("MOONSHOT_API_KEY", "sk-moonshot-property"),
        ("OPENROUTER_API_KEY", "sk-openrouter-property"),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any text: a config, or errors; text that is not JSON5 is refused
    /// with one error that says where, at a line and column of the text,
    /// and points there.
    #[test]
    fn any_text_is_a_config_or_errors_that_say_where(text in "\\PC{0,200}") {
        let Err(errors) = config::load_str(&text, &env(), Secrets::Required) else {
            return Ok(());
        };
        prop_assert!(!errors.0.is_empty());
        if config::parse_document(&text).is_err() {
            prop_assert_eq!(errors.0.len(), 1);
            let error = &errors.0[0];
            // A syntax error shows its line; a key written twice names its
            // path and where the second is.
            let (line, column) = syntax_place(&error.message)
                .or_else(|| twice_place(&error.message))
                .ok_or_else(|| TestCaseError::fail(format!("no place: {error}")))?;
            let lines: Vec<&str> = text.split('\n').collect();
            prop_assert!((1..=lines.len()).contains(&line), "{error}");
            prop_assert!((1..=lines[line - 1].chars().count() + 1).contains(&column), "{error}");
            prop_assert!(error.message.ends_with('^') || !error.path.is_empty(), "{error}");
        }
    }

    /// Any JSON document: a config, or errors that each name the JSON path
    /// they are about (only a non-object document is about the root).
    #[test]
    fn any_document_is_a_config_or_errors_with_paths(document in json_value()) {
        let text = document.to_string();
        match config::load_str(&text, &env(), Secrets::Required) {
            Ok(loaded) => {
                // A loaded config always has a chain that resolves.
                prop_assert!(loaded.config.chain(None).is_ok_and(|chain| !chain.is_empty()));
            }
            Err(errors) => {
                prop_assert!(!errors.0.is_empty());
                for error in &errors.0 {
                    prop_assert!(
                        !error.path.is_empty() || !document.is_object(),
                        "no path: {error} for {text}"
                    );
                    prop_assert!(!error.message.contains("sk-moonshot-property"), "{error}");
                }
            }
        }
    }

    /// Text without `$` is left as it is.
    #[test]
    fn substitution_leaves_plain_text_alone(text in "[^$]{0,64}") {
        let (out, missing) = substitute(&text, |_| Some("value"));
        prop_assert_eq!(out, text);
        prop_assert!(missing.is_empty());
    }

    /// Literal pieces and `${NAME}` references come out as the pieces and
    /// the names' values, in order; unknown names stay as written.
    #[test]
    fn substitution_replaces_exactly_the_references(
        pieces in prop::collection::vec(
            prop_oneof![
                "[^$]{0,8}".prop_map(|s| (s, None)),
                "[A-Z_][A-Z0-9_]{0,6}".prop_map(|name| (String::new(), Some(name))),
            ],
            0..8,
        ),
        known in prop::collection::hash_map("[A-Z_][A-Z0-9_]{0,6}", "[^$]{0,8}", 0..6),
    ) {
        let mut input = String::new();
        let mut expected = String::new();
        let mut expected_missing = Vec::new();
        for (literal, name) in &pieces {
            input.push_str(literal);
            expected.push_str(literal);
            if let Some(name) = name {
                input.push_str(&format!("${{{name}}}"));
                match known.get(name) {
                    Some(value) => expected.push_str(value),
                    None => {
                        expected.push_str(&format!("${{{name}}}"));
                        expected_missing.push(name.clone());
                    }
                }
            }
        }
        let lookup: HashMap<&str, &str> =
            known.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (out, missing) = substitute(&input, |name| lookup.get(name).copied());
        prop_assert_eq!(out, expected);
        prop_assert_eq!(missing, expected_missing);
    }

    /// Any request the gateway accepts goes out, for every dialect's rules,
    /// as one valid JSON object naming the upstream model.
    #[test]
    fn any_request_object_yields_a_json_object(
        extra in prop::collection::vec((prop::sample::select(REQUEST_KEYS), json_value()), 0..6),
        messages in prop::collection::vec(message(), 1..6),
        target in prop::sample::select(TARGETS),
    ) {
        let mut body: Map<String, Value> = extra.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        body.insert("messages".into(), Value::Array(messages));
        body.remove("model");
        body.remove("stream");
        let Ok(request) = ChatRequest::parse(Value::Object(body).to_string()) else {
            return Ok(());
        };
        let config = config::load_str("{}", &env(), Secrets::Required).unwrap().config;
        let target = config.target(&config::ModelRef::parse(target).unwrap()).unwrap();
        let out = request.write(&providers::edits(&request, &target)).to_vec();
        let parsed: Map<String, Value> = serde_json::from_slice(&out).unwrap();
        prop_assert_eq!(parsed.get("model"), Some(&json!(providers::model_id(&target))));
    }
}

/// The line and column a syntax error names: `invalid JSON5 at line 1,
/// column 7: ...`.
/// Where a key written twice is written again, as its error says.
fn twice_place(message: &str) -> Option<(usize, usize)> {
    let rest = message.strip_prefix("written twice (again at line ")?;
    let (line, rest) = rest.split_once(", column ")?;
    let (column, _) = rest.split_once(')')?;
    Some((line.parse().ok()?, column.parse().ok()?))
}

fn syntax_place(message: &str) -> Option<(usize, usize)> {
    let rest = message.strip_prefix("invalid JSON5 at line ")?;
    let (line, rest) = rest.split_once(", column ")?;
    let (column, _) = rest.split_once(':')?;
    Some((line.parse().ok()?, column.parse().ok()?))
}

const REQUEST_KEYS: &[&str] = &[
    "reasoning_effort",
    "thinking",
    "reasoning",
    "tool_choice",
    "tools",
    "temperature",
    "max_tokens",
    "max_completion_tokens",
    "stream_options",
    "top_p",
    "n",
    "x_custom",
];

const TARGETS: &[&str] = &[
    "moonshot/kimi-k2.6",
    "moonshot/kimi-k2.7-code",
    "moonshot/kimi-k3",
    "moonshot/kimi-k2-turbo",
    "kimi/kimi-for-coding",
    "openrouter/moonshotai/kimi-k2.6",
    "openrouter/auto",
];

fn message() -> impl Strategy<Value = Value> {
    let id = prop::sample::select(&["functions.read:0", "functions read:1", "call_1", ""][..]);
    prop_oneof![
        "[a-z]{0,8}".prop_map(|text| json!({"role": "user", "content": text})),
        Just(json!({"role": "developer", "content": "rules"})),
        (prop::collection::vec(id.clone(), 0..3), any::<bool>()).prop_map(|(ids, reasoning)| {
            let calls: Vec<Value> = ids
                .iter()
                .map(|id| {
                    json!({"id": id, "type": "function",
                "function": {"name": "read", "arguments": "{}"}})
                })
                .collect();
            let mut message = json!({"role": "assistant", "content": "", "tool_calls": calls});
            if reasoning {
                message["reasoning_content"] = json!("r");
            }
            message
        }),
        id.prop_map(|id| json!({"role": "tool", "tool_call_id": id, "content": "ok"})),
    ]
}
