//! The keys clawgate reads, and the check that tells a key it merely
//! ignores (an OpenClaw setting for something else) from a misspelling of a
//! key it reads.
//!
//! Outside clawgate's own sections, an unknown key is accepted and reported
//! once as ignored, unless it differs from a key read at the same place only
//! by case or by a small edit (`baseURL`, `fallback`, `apikey`): that is an
//! error, because a typo must never silently drop a setting.
//!
//! Inside clawgate's own sections ([`Shape::Section`]: `gateway`, its
//! `auth`, `timeouts`, `limits` and `telemetry`, and `agents.defaults` with its `model`)
//! every key is either read by clawgate, a known OpenClaw key (ignored), or
//! an error naming the nearest key clawgate reads there and the docs: a
//! user who writes `gateway.authToken` must not believe auth is on.

use serde_json::Value;

/// What is expected under a key.
enum Shape {
    /// A value clawgate reads without looking at its keys.
    Leaf,
    Object(&'static [(&'static str, Shape)]),
    /// One of clawgate's own sections: unknown keys that OpenClaw does not
    /// define there either are errors.
    Section(&'static Section),
    /// An object whose keys are names chosen by the user.
    MapOf(&'static Shape),
    ListOf(&'static Shape),
    /// `agents.defaults.model`: a ref string or `{primary, fallbacks}`.
    StringOr(&'static Shape),
}

/// A section clawgate owns.
struct Section {
    /// The keys clawgate reads here.
    read: &'static [(&'static str, Shape)],
    /// Keys OpenClaw defines here that clawgate does not read.
    openclaw: &'static [&'static str],
    /// The anchor of the section in docs/configuration.md.
    docs: &'static str,
}

/// Where the sections are documented; an error names the anchor too.
pub const DOCS: &str = "docs/configuration.md";

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
    ("quota", Shape::Leaf),
    ("maxConcurrent", Shape::Leaf),
    ("promptCacheSeconds", Shape::Leaf),
]);

const ROOT: Shape = Shape::Object(&[
    ("env", Shape::Leaf),
    ("gateway", Shape::Section(&GATEWAY)),
    (
        "models",
        Shape::Object(&[
            ("mode", Shape::Leaf),
            ("providers", Shape::MapOf(&PROVIDER)),
        ]),
    ),
    (
        "agents",
        Shape::Object(&[("defaults", Shape::Section(&AGENT_DEFAULTS))]),
    ),
    ("ledger", Shape::Section(&LEDGER)),
]);

const LEDGER: Section = Section {
    read: &[
        ("enabled", Shape::Leaf),
        ("path", Shape::Leaf),
        ("retentionDays", Shape::Leaf),
        ("store", Shape::Leaf),
    ],
    openclaw: &[],
    docs: "ledger",
};

const BUDGET_LIMITS: Section = Section {
    read: &[
        ("daily", Shape::Leaf),
        ("weekly", Shape::Leaf),
        ("monthly", Shape::Leaf),
    ],
    openclaw: &[],
    docs: "budgets",
};

const GATEWAY_BUDGETS: Section = Section {
    read: &[
        ("daily", Shape::Leaf),
        ("weekly", Shape::Leaf),
        ("monthly", Shape::Leaf),
        ("providers", Shape::MapOf(&Shape::Section(&BUDGET_LIMITS))),
        ("models", Shape::MapOf(&Shape::Section(&BUDGET_LIMITS))),
        ("unpriced", Shape::Leaf),
    ],
    openclaw: &[],
    docs: "budgets",
};

const GATEWAY: Section = Section {
    read: &[
        ("port", Shape::Leaf),
        ("bind", Shape::Leaf),
        ("auth", Shape::Section(&GATEWAY_AUTH)),
        ("maxBodyBytes", Shape::Leaf),
        ("shutdownGraceSeconds", Shape::Leaf),
        ("allowedHosts", Shape::Leaf),
        ("allowedOrigins", Shape::Leaf),
        ("timeouts", Shape::Section(&GATEWAY_TIMEOUTS)),
        ("retries", Shape::Section(&GATEWAY_RETRIES)),
        ("limits", Shape::Section(&GATEWAY_LIMITS)),
        ("budgets", Shape::Section(&GATEWAY_BUDGETS)),
        ("clients", Shape::MapOf(&Shape::Section(&CLIENT))),
        ("reasoningCache", Shape::Leaf),
        ("telemetry", Shape::Section(&GATEWAY_TELEMETRY)),
    ],
    // OpenClaw's own gateway settings (its config schema, 2026): they
    // configure OpenClaw's gateway, not this one.
    openclaw: &[
        "mode",
        "customBindHost",
        "controlUi",
        "trustedProxies",
        "allowRealIpFallback",
        "tools",
        "handshakeTimeoutMs",
        "channelHealthCheckMinutes",
        "channelStaleEventThresholdMinutes",
        "channelMaxRestartsPerHour",
        "tailscale",
        "remote",
        "reload",
        "tls",
        "http",
        "push",
        "nodes",
    ],
    docs: "gateway",
};

const CLIENT: Section = Section {
    read: &[
        ("key", Shape::Leaf),
        ("admin", Shape::Leaf),
        ("models", Shape::Leaf),
        ("budgets", Shape::Section(&GATEWAY_BUDGETS)),
        ("limits", Shape::Section(&CLIENT_LIMITS)),
    ],
    openclaw: &[],
    docs: "clients",
};

const CLIENT_LIMITS: Section = Section {
    read: &[
        ("requestsPerMinute", Shape::Leaf),
        ("tokensPerMinute", Shape::Leaf),
        ("concurrentRequests", Shape::Leaf),
    ],
    openclaw: &[],
    docs: "clients",
};

const GATEWAY_AUTH: Section = Section {
    read: &[("token", Shape::Leaf), ("openMetrics", Shape::Leaf)],
    openclaw: &[
        "mode",
        "password",
        "allowTailscale",
        "rateLimit",
        "trustedProxy",
    ],
    docs: "gateway",
};

const GATEWAY_TIMEOUTS: Section = Section {
    read: &[
        ("connectSeconds", Shape::Leaf),
        ("firstByteSeconds", Shape::Leaf),
        ("idleSeconds", Shape::Leaf),
        ("chainSeconds", Shape::Leaf),
        ("clientHeaderSeconds", Shape::Leaf),
        ("clientBodySeconds", Shape::Leaf),
    ],
    openclaw: &[],
    docs: "gateway",
};

const GATEWAY_RETRIES: Section = Section {
    read: &[
        ("perTarget", Shape::Leaf),
        ("backoffBaseSeconds", Shape::Leaf),
        ("backoffMaxSeconds", Shape::Leaf),
        ("maxRetryAfterSeconds", Shape::Leaf),
    ],
    openclaw: &[],
    docs: "gateway",
};

const GATEWAY_TELEMETRY: Section = Section {
    read: &[
        ("enabled", Shape::Leaf),
        ("endpoint", Shape::Leaf),
        ("serviceName", Shape::Leaf),
        ("sampleRatio", Shape::Leaf),
        ("queueSpans", Shape::Leaf),
        ("captureContent", Shape::Leaf),
        ("metrics", Shape::Leaf),
    ],
    openclaw: &[],
    docs: "telemetry",
};

const GATEWAY_LIMITS: Section = Section {
    read: &[
        ("maxConnections", Shape::Leaf),
        ("maxConcurrentRequests", Shape::Leaf),
        ("maxResponseBytes", Shape::Leaf),
        ("maxEventBytes", Shape::Leaf),
    ],
    openclaw: &[],
    docs: "gateway",
};

const AGENT_DEFAULTS: Section = Section {
    read: &[
        ("model", Shape::StringOr(&Shape::Section(&AGENT_MODEL))),
        (
            "models",
            Shape::MapOf(&Shape::Object(&[
                ("alias", Shape::Leaf),
                ("params", Shape::Leaf),
            ])),
        ),
        ("thinkingDefault", Shape::Leaf),
    ],
    // OpenClaw's agent settings that are not about the model chain (its
    // config schema, 2026, and keys of earlier releases).
    openclaw: &[
        "params",
        "imageModel",
        "imageGenerationModel",
        "videoGenerationModel",
        "musicGenerationModel",
        "voiceModel",
        "mediaGenerationAutoProviderFallback",
        "pdfModel",
        "pdfMaxBytesMb",
        "pdfMaxPages",
        "workspace",
        "skills",
        "silentReply",
        "repoRoot",
        "promptOverlays",
        "systemPromptOverride",
        "skipBootstrap",
        "skipOptionalBootstrapFiles",
        "contextInjection",
        "bootstrapMaxChars",
        "bootstrapTotalMaxChars",
        "bootstrapPromptTruncationWarning",
        "experimental",
        "userTimezone",
        "startupContext",
        "contextLimits",
        "timeFormat",
        "envelopeTimezone",
        "envelopeTimestamp",
        "envelopeElapsed",
        "contextTokens",
        "cliBackends",
        "memorySearch",
        "contextPruning",
        "compaction",
        "runRetries",
        "embeddedAgent",
        "verboseDefault",
        "toolProgressDetail",
        "reasoningDefault",
        "elevatedDefault",
        "blockStreamingDefault",
        "blockStreamingBreak",
        "blockStreamingChunk",
        "blockStreamingCoalesce",
        "humanDelay",
        "timeoutSeconds",
        "mediaMaxMb",
        "imageMaxDimensionPx",
        "imageQuality",
        "typingIntervalSeconds",
        "typingMode",
        "heartbeat",
        "maxConcurrent",
        "subagents",
        "sandbox",
        "tools",
        "identity",
    ],
    docs: "agentsdefaults",
};

const AGENT_MODEL: Section = Section {
    read: &[("primary", Shape::Leaf), ("fallbacks", Shape::Leaf)],
    openclaw: &["timeoutMs"],
    docs: "agentsdefaults",
};

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
                    None if dotted(key, known.iter().map(|(name, _)| *name)) => {
                        report.errors.push((child_path, dotted_message(key)));
                    }
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
        (Shape::Section(section), Value::Object(map)) => {
            for (key, child) in map {
                let child_path = join(path, key);
                if let Some((_, child_shape)) = section.read.iter().find(|(name, _)| name == key) {
                    walk(child, child_shape, &child_path, report);
                } else if dotted(key, section.read.iter().map(|(name, _)| *name)) {
                    report.errors.push((child_path, dotted_message(key)));
                } else if section.openclaw.contains(&key.as_str()) {
                    report.ignored.push(child_path);
                } else {
                    let message = unknown_in_section(key, child, path, section);
                    report.errors.push((child_path, message));
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

/// A quoted key written as a path (`"agents.defaults.model.primary"`), its
/// first part a key read here: JSON5 takes it as one key of that name.
fn dotted<'a>(key: &str, mut known: impl Iterator<Item = &'a str>) -> bool {
    key.split_once('.')
        .is_some_and(|(head, _)| known.any(|name| name == head))
}

fn dotted_message(key: &str) -> String {
    let parts: Vec<&str> = key.split('.').collect();
    let (last, outer) = parts.split_last().expect("a dotted key has parts");
    let mut nested = format!("{last}: ...");
    for part in outer.iter().rev() {
        nested = format!("{part}: {{ {nested} }}");
    }
    format!("a dotted key is one key with dots in its name, not a path; nest it: `{nested}`")
}

/// Words users write for a key clawgate reads under another name, by the
/// section they write them in: no spelling is near, so only a table knows.
const SAID_OTHERWISE: &[(&str, &[&str], &str)] = &[
    (
        "gateway",
        &[
            "listen",
            "listenaddress",
            "listenaddr",
            "host",
            "hostname",
            "address",
            "addr",
            "ip",
            "interface",
        ],
        "bind",
    ),
    ("gateway", &["token", "apikey", "bearer"], "auth.token"),
    (
        "gateway",
        &["otel", "otlp", "opentelemetry", "tracing", "traces"],
        "telemetry",
    ),
    (
        "gateway.auth",
        &["apikey", "bearer", "key", "secret"],
        "token",
    ),
];

/// The error for `key`, unknown inside `section` at `path`: the key
/// clawgate reads there under another name, else the nearest one
/// (nested ones included, so `authToken` finds `auth.token`) when it is
/// near enough to be a misspelling (a suggestion that points away is worse
/// than none), and where the section is documented.
fn unknown_in_section(key: &str, value: &Value, path: &str, section: &Section) -> String {
    let lower = key.to_ascii_lowercase();
    let said_otherwise = SAID_OTHERWISE
        .iter()
        .find(|(at, words, _)| *at == path && words.contains(&lower.as_str()))
        .map(|(_, _, meant)| join(path, meant));
    let mut candidates = Vec::new();
    section_keys(section.read, "", &mut candidates);
    // One edit in a short key, about one in four in a longer one.
    let near_enough = (key.chars().count() / 4).max(1) as f64;
    // A misspelt section whose keys are right (`timeout: {firstByteSeconds}`)
    // means the key of that name in the nearest section.
    let inner = value.as_object().and_then(|map| map.keys().next());
    let by_inner = inner.and_then(|inner| {
        candidates
            .iter()
            .filter_map(|candidate| {
                let (head, last) = candidate.rsplit_once('.')?;
                let distance = closeness(key, head);
                (last == inner && distance <= near_enough).then_some((distance, candidate))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, candidate)| join(path, candidate))
    });
    let nearest = said_otherwise.or(by_inner).or_else(|| {
        candidates
            .iter()
            .map(|candidate| (closeness(key, candidate), candidate))
            .filter(|(distance, _)| *distance <= near_enough)
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, candidate)| join(path, candidate))
    });
    let docs = format!("{DOCS}#{}", section.docs);
    match nearest {
        Some(nearest) => format!(
            "unknown key; clawgate does not read it here; did you mean `{nearest}`? (see {docs})"
        ),
        None => format!("unknown key; clawgate does not read it here (see {docs})"),
    }
}

/// Every key path read under `read`, relative to it (`auth.token`).
fn section_keys(read: &[(&str, Shape)], prefix: &str, out: &mut Vec<String>) {
    for (name, shape) in read {
        let path = join(prefix, name);
        match shape {
            Shape::Section(inner) => section_keys(inner.read, &path, out),
            Shape::StringOr(inner) => {
                out.push(path.clone());
                if let Shape::Section(inner) = inner {
                    section_keys(inner.read, &path, out);
                }
            }
            _ => out.push(path),
        }
    }
}

/// How far `key` is from the key path `candidate`, lower is nearer: the
/// path's last segment or whole path spelled differently (case and dots
/// ignored) by so many edits, with a key that abbreviates the candidate
/// (`firstByte` for `firstByteSeconds`) counting as almost equal.
fn closeness(key: &str, candidate: &str) -> f64 {
    let key = key.to_ascii_lowercase();
    let candidate = candidate.to_ascii_lowercase();
    let last = candidate.rsplit('.').next().unwrap_or(&candidate);
    let flat = candidate.replace('.', "");
    if key == flat || key == last {
        return 0.0;
    }
    if last.starts_with(&key) || flat.starts_with(&key) || key.starts_with(last) {
        return 0.5;
    }
    let edits = strsim::osa_distance(&key, last).min(strsim::osa_distance(&key, &flat));
    edits as f64
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
            .map(|(p, s)| (p.to_string(), s.to_string()))
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
                "gateway": {"prot": 1, "timeout": {"firstByteSeconds": 5}},
                "agent": {}
            }),
            &[],
            &[
                (
                    "models.providers.moonshot.baseURL",
                    "unknown key; did you mean `baseUrl`?",
                ),
                (
                    "models.providers.moonshot.apikey",
                    "unknown key; did you mean `apiKey`?",
                ),
                (
                    "models.providers.moonshot.models[0].contextwindow",
                    "unknown key; did you mean `contextWindow`?",
                ),
                (
                    "models.providers.moonshot.models[0].maxToken",
                    "unknown key; did you mean `maxTokens`?",
                ),
                (
                    "agents.defaults.model.fallback",
                    "unknown key; clawgate does not read it here; did you mean `agents.defaults.model.fallbacks`? (see docs/configuration.md#agentsdefaults)",
                ),
                (
                    "gateway.prot",
                    "unknown key; clawgate does not read it here; did you mean `gateway.port`? (see docs/configuration.md#gateway)",
                ),
                (
                    "gateway.timeout",
                    "unknown key; clawgate does not read it here; did you mean `gateway.timeouts.firstByteSeconds`? (see docs/configuration.md#gateway)",
                ),
                ("agent", "unknown key; did you mean `agents`?"),
            ],
        );
    }

    #[test]
    fn dotted_keys_are_errors_that_show_the_nesting() {
        let report = check(&json!({
            "agents.defaults.model.primary": "kimi/kimi-for-coding",
            "agents": {"defaults": {"model.fallbacks": []}},
            "gateway": {"auth.token": "${T}"},
            "channels.telegram": {},
            "agents.defaults.models": {"kimi/k2.5": {}},
        }));
        let expected = |path: &str, nested: &str| {
            (
                path.to_string(),
                format!(
                    "a dotted key is one key with dots in its name, not a path; nest it: `{nested}`"
                ),
            )
        };
        assert_eq!(
            report.errors,
            [
                expected(
                    "agents.defaults.model.primary",
                    "agents: { defaults: { model: { primary: ... } } }"
                ),
                expected(
                    "agents.defaults.model.fallbacks",
                    "model: { fallbacks: ... }"
                ),
                expected("gateway.auth.token", "auth: { token: ... }"),
                expected(
                    "agents.defaults.models",
                    "agents: { defaults: { models: ... } }"
                ),
            ]
        );
        // A key whose first part clawgate does not read stays ignored.
        assert_eq!(report.ignored, ["channels.telegram"]);
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

    #[test]
    fn unknown_keys_in_clawgate_sections_are_errors_naming_the_nearest_key() {
        let cases = [
            (json!({"gateway": {"authToken": "t"}}), "gateway.auth.token"),
            (
                json!({"gateway": {"timeouts": {"firstByte": 9}}}),
                "gateway.timeouts.firstByteSeconds",
            ),
            (json!({"gateway": {"maxBody": 9}}), "gateway.maxBodyBytes"),
            (
                json!({"agents": {"defaults": {"fallbacks": []}}}),
                "agents.defaults.model.fallbacks",
            ),
            (
                json!({"agents": {"defaults": {"thinking": "low"}}}),
                "agents.defaults.thinkingDefault",
            ),
            (
                json!({"gateway": {"limits": {"maxConnection": 9}}}),
                "gateway.limits.maxConnections",
            ),
            (
                json!({"gateway": {"auth": {"bearer": "t"}}}),
                "gateway.auth.token",
            ),
            // Other words for the listen address (none is spelled near it).
            (json!({"gateway": {"listen": "0.0.0.0"}}), "gateway.bind"),
            (json!({"gateway": {"host": "0.0.0.0"}}), "gateway.bind"),
            (json!({"gateway": {"address": "::1"}}), "gateway.bind"),
            (json!({"gateway": {"otel": {}}}), "gateway.telemetry"),
        ];
        for (config, nearest) in cases {
            let report = check(&config);
            assert!(report.ignored.is_empty(), "{config}: {report:?}");
            let [(_, message)] = &report.errors[..] else {
                panic!("one error expected for {config}: {report:?}");
            };
            assert!(
                message.contains(&format!("did you mean `{nearest}`?")),
                "{config}: {message}"
            );
            assert!(message.contains("docs/configuration.md#"), "{message}");
        }
    }

    /// Better no suggestion than one that points away: a key no read key
    /// is spelled near gets the docs, not the least far key.
    #[test]
    fn a_key_spelled_near_nothing_gets_no_suggestion() {
        for (config, path) in [
            (json!({"gateway": {"throttle": {}}}), "gateway.throttle"),
            (json!({"gateway": {"frobnicate": 1}}), "gateway.frobnicate"),
            (
                json!({"gateway": {"limits": {"qps": 1}}}),
                "gateway.limits.qps",
            ),
        ] {
            let report = check(&config);
            assert_eq!(
                report.errors,
                [(
                    path.to_string(),
                    "unknown key; clawgate does not read it here (see docs/configuration.md#gateway)"
                        .to_string()
                )],
                "{config}"
            );
        }
    }

    #[test]
    fn openclaw_keys_inside_clawgate_sections_stay_accepted() {
        check_keys(
            json!({
                "gateway": {"mode": "local", "controlUi": {}, "auth": {"mode": "token", "password": "p"}},
                "agents": {"defaults": {"heartbeat": {}, "sandbox": {}, "contextTokens": 1}},
            }),
            &[
                "gateway.mode",
                "gateway.controlUi",
                "gateway.auth.mode",
                "gateway.auth.password",
                "agents.defaults.heartbeat",
                "agents.defaults.sandbox",
                "agents.defaults.contextTokens",
            ],
            &[],
        );
    }
}
