//! The keys clawgate reads, and the check that tells a key it merely
//! ignores (an OpenClaw setting for something else) from a misspelling of a
//! key it reads.
//!
//! An unknown key is accepted and reported once as ignored, unless it differs
//! from a key read at the same place only by case or by a small edit
//! (`baseURL`, `fallback`, `apikey`): that is an error, because a typo must
//! never silently drop a setting.

use serde_json::Value;

/// What is expected under a key.
enum Shape {
    /// A value clawgate reads without looking at its keys.
    Leaf,
    Object(&'static [(&'static str, Shape)]),
    /// An object whose keys are names chosen by the user.
    MapOf(&'static Shape),
    ListOf(&'static Shape),
    /// `agents.defaults.model`: a ref string or `{primary, fallbacks}`.
    StringOr(&'static Shape),
}

const COST: Shape = Shape::Object(&[
    ("input", Shape::Leaf),
    ("output", Shape::Leaf),
    ("cacheRead", Shape::Leaf),
    ("cacheWrite", Shape::Leaf),
]);

const COMPAT: Shape = Shape::Object(&[
    ("supportsDeveloperRole", Shape::Leaf),
    ("supportsUsageInStreaming", Shape::Leaf),
    ("maxTokensField", Shape::Leaf),
    ("thinking", Shape::Leaf),
    ("thinkingControl", Shape::Leaf),
    ("thinkingKeep", Shape::Leaf),
    ("fixedSampling", Shape::Leaf),
    ("fixedSamplingWhenThinking", Shape::Leaf),
    ("forcedToolChoice", Shape::Leaf),
]);

const MODEL: Shape = Shape::Object(&[
    ("id", Shape::Leaf),
    ("name", Shape::Leaf),
    ("reasoning", Shape::Leaf),
    ("input", Shape::Leaf),
    ("cost", COST),
    ("contextWindow", Shape::Leaf),
    ("maxTokens", Shape::Leaf),
    ("headers", Shape::Leaf),
    ("compat", COMPAT),
]);

const PROVIDER: Shape = Shape::Object(&[
    ("dialect", Shape::Leaf),
    ("baseUrl", Shape::Leaf),
    ("apiKey", Shape::Leaf),
    ("api", Shape::Leaf),
    ("headers", Shape::Leaf),
    ("models", Shape::ListOf(&MODEL)),
]);

const ROOT: Shape = Shape::Object(&[
    ("env", Shape::Leaf),
    (
        "gateway",
        Shape::Object(&[
            ("port", Shape::Leaf),
            ("bind", Shape::Leaf),
            (
                "auth",
                Shape::Object(&[("token", Shape::Leaf), ("openMetrics", Shape::Leaf)]),
            ),
            ("maxBodyBytes", Shape::Leaf),
            ("shutdownGraceSeconds", Shape::Leaf),
            ("allowedHosts", Shape::Leaf),
            ("allowedOrigins", Shape::Leaf),
            (
                "timeouts",
                Shape::Object(&[
                    ("connectSeconds", Shape::Leaf),
                    ("firstByteSeconds", Shape::Leaf),
                    ("idleSeconds", Shape::Leaf),
                    ("chainSeconds", Shape::Leaf),
                    ("clientHeaderSeconds", Shape::Leaf),
                    ("clientBodySeconds", Shape::Leaf),
                ]),
            ),
            (
                "retries",
                Shape::Object(&[
                    ("perTarget", Shape::Leaf),
                    ("backoffBaseSeconds", Shape::Leaf),
                    ("backoffMaxSeconds", Shape::Leaf),
                    ("maxRetryAfterSeconds", Shape::Leaf),
                ]),
            ),
            (
                "limits",
                Shape::Object(&[
                    ("maxConnections", Shape::Leaf),
                    ("maxConcurrentRequests", Shape::Leaf),
                    ("maxResponseBytes", Shape::Leaf),
                    ("maxEventBytes", Shape::Leaf),
                ]),
            ),
        ]),
    ),
    (
        "models",
        Shape::Object(&[
            ("mode", Shape::Leaf),
            ("providers", Shape::MapOf(&PROVIDER)),
        ]),
    ),
    (
        "agents",
        Shape::Object(&[(
            "defaults",
            Shape::Object(&[
                (
                    "model",
                    Shape::StringOr(&Shape::Object(&[
                        ("primary", Shape::Leaf),
                        ("fallbacks", Shape::Leaf),
                    ])),
                ),
                (
                    "models",
                    Shape::MapOf(&Shape::Object(&[
                        ("alias", Shape::Leaf),
                        ("params", Shape::Leaf),
                    ])),
                ),
                ("thinkingDefault", Shape::Leaf),
            ]),
        )]),
    ),
]);

/// The outcome of checking a config's keys.
#[derive(Debug, Default, PartialEq)]
pub struct KeyReport {
    /// Paths of keys clawgate does not read, in document order.
    pub ignored: Vec<String>,
    /// `(path, message)` for keys that look like misspellings.
    pub errors: Vec<(String, String)>,
}

pub fn check(root: &Value) -> KeyReport {
    let mut report = KeyReport::default();
    walk(root, &ROOT, "", &mut report);
    report
}

fn walk(value: &Value, shape: &Shape, path: &str, report: &mut KeyReport) {
    match (shape, value) {
        (Shape::Object(known), Value::Object(map)) => {
            for (key, child) in map {
                let child_path = join(path, key);
                match known.iter().find(|(name, _)| name == key) {
                    Some((_, child_shape)) => walk(child, child_shape, &child_path, report),
                    None => match near_miss(key, known.iter().map(|(name, _)| *name)) {
                        Some(suggestion) => report.errors.push((
                            child_path,
                            format!("unknown key; did you mean `{suggestion}`?"),
                        )),
                        None => report.ignored.push(child_path),
                    },
                }
            }
        }
        (Shape::MapOf(inner), Value::Object(map)) => {
            for (key, child) in map {
                walk(child, inner, &join(path, key), report);
            }
        }
        (Shape::ListOf(inner), Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                walk(item, inner, &format!("{path}[{index}]"), report);
            }
        }
        (Shape::StringOr(inner), value) if !value.is_string() => walk(value, inner, path, report),
        // Type mismatches are reported by deserialization, with the same path.
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The known key `key` most likely misspells, if any: the same letters in
/// another case, or a small edit away, a swap of neighbours counting as one (one edit for short keys, whose
/// neighbours are mostly unrelated words, two otherwise).
fn near_miss<'a>(key: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lower = key.to_ascii_lowercase();
    known
        .map(|name| {
            let distance = strsim::osa_distance(&lower, &name.to_ascii_lowercase());
            (distance, name)
        })
        .filter(|&(distance, name)| {
            let allowed = if name.len() <= 4 { 1 } else { 2 };
            distance <= allowed
        })
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check_keys(config: Value, ignored: &[&str], errors: &[(&str, &str)]) {
        let report = check(&config);
        assert_eq!(report.ignored, ignored, "ignored keys of {config}");
        let errors: Vec<(String, String)> = errors
            .iter()
            .map(|(p, s)| (p.to_string(), format!("unknown key; did you mean `{s}`?")))
            .collect();
        assert_eq!(report.errors, errors, "errors of {config}");
    }

    #[test]
    fn openclaw_keys_clawgate_does_not_use_are_ignored() {
        check_keys(
            json!({
                "channels": {"telegram": {}},
                "plugins": {},
                "tools": {"web": {}},
                "gateway": {"mode": "local", "auth": {"mode": "token", "token": "t"}},
                "agents": {"defaults": {"workspace": "~/w", "model": "kimi/kimi-for-coding"}, "list": []},
                "models": {"providers": {"kimi": {"auth": "api-key", "baseUrl": "u",
                    "models": [{"id": "m", "params": {}}]}}}
            }),
            &[
                "channels",
                "plugins",
                "tools",
                "gateway.mode",
                "gateway.auth.mode",
                "agents.defaults.workspace",
                "agents.list",
                "models.providers.kimi.auth",
                "models.providers.kimi.models[0].params",
            ],
            &[],
        );
    }

    #[test]
    fn misspellings_of_read_keys_are_errors() {
        check_keys(
            json!({
                "models": {"providers": {"moonshot": {"baseURL": "u", "apikey": "k",
                    "models": [{"id": "m", "contextwindow": 1, "maxToken": 2}]}}},
                "agents": {"defaults": {"model": {"primary": "a/b", "fallback": ["c/d"]}}},
                "gateway": {"prot": 1},
                "agent": {}
            }),
            &[],
            &[
                ("models.providers.moonshot.baseURL", "baseUrl"),
                ("models.providers.moonshot.apikey", "apiKey"),
                (
                    "models.providers.moonshot.models[0].contextwindow",
                    "contextWindow",
                ),
                ("models.providers.moonshot.models[0].maxToken", "maxTokens"),
                ("agents.defaults.model.fallback", "fallbacks"),
                ("gateway.prot", "port"),
                ("agent", "agents"),
            ],
        );
    }

    #[test]
    fn short_unrelated_keys_are_not_mistaken_for_typos() {
        // `ui` is one letter from `id`'s length but two edits from any key.
        check_keys(
            json!({"ui": {}, "web": {}, "tls": {}}),
            &["ui", "web", "tls"],
            &[],
        );
    }
}
