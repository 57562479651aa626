//! The check that tells a key clawgate merely ignores (an OpenClaw setting
//! for something else) from a misspelling of a key it reads. The keys read
//! at each place are the serde types' own fields ([`fields`]); this file
//! says only what serde cannot: which places are clawgate's own sections,
//! the keys OpenClaw defines there, and where each is documented.
//!
//! Outside clawgate's own sections, an unknown key is accepted and reported
//! once as ignored, unless it differs from a key read at the same place only
//! by case or by a small edit (`baseURL`, `fallback`, `apikey`): that is an
//! error, because a typo must never silently drop a setting.
//!
//! Inside clawgate's own sections (`gateway` and all under it, `ledger`,
//! and `agents.defaults` with its `model`) every key is either read by
//! clawgate, a known OpenClaw key (ignored), or an error naming the nearest
//! key clawgate reads there and the docs: a user who writes
//! `gateway.authToken` must not believe auth is on.

use serde_json::Value;

use super::raw::*;

/// Where the sections are documented; an error names the anchor too.
pub const DOCS: &str = "docs/configuration.md";

/// A place in the document that clawgate reads keys at: its path (`*` for
/// a name the user chooses, `[]` for a list's items), the keys read there,
/// and for clawgate's own sections their anchor in [`DOCS`] and the keys
/// OpenClaw defines there that clawgate does not read.
type Place = (
    &'static str,
    Keys,
    Option<(&'static str, &'static [&'static str])>,
);
type Keys = fn() -> &'static [&'static str];

#[rustfmt::skip]
const PLACES: &[Place] = &[
    ("", || &["env", "gateway", "models", "agents", "ledger"], None),
    ("models", || &["mode", "providers"], None),
    ("models.providers.*", fields::<RawProvider>, None),
    ("models.providers.*.quota", fields::<RawQuota>, Some(("models", &[]))),
    ("models.providers.*.models[]", fields::<RawModel>, None),
    ("models.providers.*.models[].cost", fields::<RawCost>, None),
    ("models.providers.*.models[].compat", fields::<RawCompat>, None),
    ("agents", || &["defaults"], None),
    ("agents.defaults", fields::<RawAgentDefaults>, Some(("agentsdefaults", AGENT_DEFAULTS))),
    ("agents.defaults.model", fields::<RawChain>, Some(("agentsdefaults", &["timeoutMs"]))),
    ("agents.defaults.models.*", fields::<RawModelEntry>, None),
    ("ledger", fields::<RawLedger>, Some(("ledger", &[]))),
    ("gateway", fields::<RawGateway>, Some(("gateway", GATEWAY))),
    ("gateway.auth", fields::<RawAuth>, Some(("gateway", GATEWAY_AUTH))),
    ("gateway.timeouts", fields::<RawTimeouts>, Some(("gateway", &[]))),
    ("gateway.retries", fields::<RawRetries>, Some(("gateway", &[]))),
    ("gateway.limits", fields::<RawLimits>, Some(("gateway", &[]))),
    ("gateway.telemetry", fields::<RawTelemetry>, Some(("telemetry", &[]))),
    ("gateway.reasoningCache", fields::<RawReasoningCache>, Some(("gateway", &[]))),
    ("gateway.sessions", fields::<RawSessions>, Some(("gateway", &[]))),
    ("gateway.budgets", fields::<RawBudgets>, Some(("budgets", &[]))),
    ("gateway.budgets.providers.*", fields::<RawBudgetLimits>, Some(("budgets", &[]))),
    ("gateway.budgets.models.*", fields::<RawBudgetLimits>, Some(("budgets", &[]))),
    ("gateway.clients.*", fields::<RawClient>, Some(("clients", &[]))),
    ("gateway.clients.*.limits", fields::<RawClientLimits>, Some(("clients", &[]))),
    ("gateway.clients.*.budgets", fields::<RawBudgets>, Some(("budgets", &[]))),
    ("gateway.clients.*.budgets.providers.*", fields::<RawBudgetLimits>, Some(("budgets", &[]))),
    ("gateway.clients.*.budgets.models.*", fields::<RawBudgetLimits>, Some(("budgets", &[]))),
];

// OpenClaw's own gateway settings (its config schema, 2026): they
// configure OpenClaw's gateway, not this one.
#[rustfmt::skip]
const GATEWAY: &[&str] = &[
    "mode", "customBindHost", "controlUi", "trustedProxies", "allowRealIpFallback", "tools",
    "handshakeTimeoutMs", "channelHealthCheckMinutes", "channelStaleEventThresholdMinutes",
    "channelMaxRestartsPerHour", "tailscale", "remote", "reload", "tls", "http", "push",
    "nodes",
];

#[rustfmt::skip]
const GATEWAY_AUTH: &[&str] = &[
    "mode", "password", "allowTailscale", "rateLimit", "trustedProxy",
];

// OpenClaw's agent settings that are not about the model chain (its
// config schema, 2026, and keys of earlier releases).
#[rustfmt::skip]
const AGENT_DEFAULTS: &[&str] = &[
    "params", "imageModel", "imageGenerationModel", "videoGenerationModel",
    "musicGenerationModel", "voiceModel", "mediaGenerationAutoProviderFallback", "pdfModel",
    "pdfMaxBytesMb", "pdfMaxPages", "workspace", "skills", "silentReply", "repoRoot",
    "promptOverlays", "systemPromptOverride", "skipBootstrap", "skipOptionalBootstrapFiles",
    "contextInjection", "bootstrapMaxChars", "bootstrapTotalMaxChars",
    "bootstrapPromptTruncationWarning", "experimental", "userTimezone", "startupContext",
    "contextLimits", "timeFormat", "envelopeTimezone", "envelopeTimestamp",
    "envelopeElapsed", "contextTokens", "cliBackends", "memorySearch", "contextPruning",
    "compaction", "runRetries", "embeddedAgent", "verboseDefault", "toolProgressDetail",
    "reasoningDefault", "elevatedDefault", "blockStreamingDefault", "blockStreamingBreak",
    "blockStreamingChunk", "blockStreamingCoalesce", "humanDelay", "timeoutSeconds",
    "mediaMaxMb", "imageMaxDimensionPx", "imageQuality", "typingIntervalSeconds",
    "typingMode", "heartbeat", "maxConcurrent", "subagents", "sandbox", "tools", "identity",
];

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
    walk(root, "", "", &mut report);
    report
}

/// The place at `pattern`, if clawgate reads keys there.
fn place(pattern: &str) -> Option<&'static Place> {
    PLACES.iter().find(|(at, ..)| *at == pattern)
}

/// Checks the keys under `value`, at `path` in the document and `pattern`
/// among the [`PLACES`].
fn walk(value: &Value, pattern: &str, path: &str, report: &mut KeyReport) {
    if let Value::Array(items) = value {
        for (index, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{index}]");
            walk(item, &format!("{pattern}[]"), &item_path, report);
        }
    }
    let Value::Object(map) = value else {
        return;
    };
    let Some((_, read, section)) = place(pattern) else {
        // A map of names the user chooses, or a value clawgate reads
        // without looking at its keys.
        let names = join(pattern, "*");
        if PLACES.iter().any(|(at, ..)| at.starts_with(&names)) {
            for (key, child) in map {
                walk(child, &names, &join(path, key), report);
            }
        }
        return;
    };
    let read = read();
    for (key, child) in map {
        let child_path = join(path, key);
        if read.contains(&key.as_str()) {
            walk(child, &join(pattern, key), &child_path, report);
            continue;
        }
        // A quoted key written as a path (`"agents.defaults.model.primary"`),
        // its first part a key read here: JSON5 takes it as one key of that
        // name.
        let dotted = key
            .split_once('.')
            .is_some_and(|(head, _)| read.contains(&head));
        // The error for a key not read here, or none for one ignored.
        let error = match section {
            _ if dotted => Some(dotted_message(key)),
            Some((_, openclaw)) if openclaw.contains(&key.as_str()) => None,
            Some((docs, _)) => Some(unknown_in_section(key, child, path, pattern, docs)),
            None => near_miss(key, read).map(|near| format!("unknown key; did you mean `{near}`?")),
        };
        match error {
            Some(message) => report.errors.push((child_path, message)),
            None => report.ignored.push(child_path),
        }
    }
}

fn dotted_message(key: &str) -> String {
    let mut parts = key.rsplit('.');
    let last = parts.next().unwrap_or(key);
    let nested = parts.fold(format!("{last}: ..."), |inner, part| {
        format!("{part}: {{ {inner} }}")
    });
    format!("a dotted key is one key with dots in its name, not a path; nest it: `{nested}`")
}

/// Words users write for a key clawgate reads under another name, by the
/// section they write them in: no spelling is near, so only a table knows.
#[rustfmt::skip]
const SAID_OTHERWISE: &[(&str, &[&str], &str)] = &[
    ("gateway", &["listen", "listenaddress", "listenaddr", "host", "hostname", "address",
                  "addr", "ip", "interface"], "bind"),
    ("gateway", &["token", "apikey", "bearer"], "auth.token"),
    ("gateway", &["otel", "otlp", "opentelemetry", "tracing", "traces"], "telemetry"),
    ("gateway.auth", &["apikey", "bearer", "key", "secret"], "token"),
];

/// The error for `key`, unknown inside `section` at `path`: the key
/// clawgate reads there under another name, else the nearest one
/// (nested ones included, so `authToken` finds `auth.token`) when it is
/// near enough to be a misspelling (a suggestion that points away is worse
/// than none), and where the section is documented.
fn unknown_in_section(key: &str, value: &Value, path: &str, pattern: &str, docs: &str) -> String {
    let lower = key.to_ascii_lowercase();
    let said_otherwise = SAID_OTHERWISE
        .iter()
        .find(|(at, words, _)| *at == path && words.contains(&lower.as_str()))
        .map(|(_, _, meant)| join(path, meant));
    let mut candidates = Vec::new();
    section_keys(pattern, "", &mut candidates);
    // One edit in a short key, about one in four in a longer one.
    let near_enough = (key.chars().count() / 4).max(1) as f64;
    // The candidate `distance` finds nearest, if near enough.
    let nearest_by = |distance: &dyn Fn(&str) -> Option<f64>| {
        candidates
            .iter()
            .filter_map(|candidate| Some((distance(candidate)?, candidate)))
            .filter(|(distance, _)| *distance <= near_enough)
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, candidate)| join(path, candidate))
    };
    // A misspelt section whose keys are right (`timeout: {firstByteSeconds}`)
    // means the key of that name in the nearest section.
    let inner = value.as_object().and_then(|map| map.keys().next());
    let by_inner = inner.and_then(|inner| {
        nearest_by(&|candidate| {
            let (head, last) = candidate.rsplit_once('.')?;
            (last == inner).then(|| closeness(key, head))
        })
    });
    let nearest = (said_otherwise.or(by_inner))
        .or_else(|| nearest_by(&|candidate| Some(closeness(key, candidate))));
    let docs = format!("{DOCS}#{docs}");
    match nearest {
        Some(nearest) => format!(
            "unknown key; clawgate does not read it here; did you mean `{nearest}`? (see {docs})"
        ),
        None => format!("unknown key; clawgate does not read it here (see {docs})"),
    }
}

/// Every key path read in the section at `pattern`, relative to it
/// (`auth.token`), its inner sections and their keys included.
fn section_keys(pattern: &str, prefix: &str, out: &mut Vec<String>) {
    let Some((_, read, _)) = place(pattern) else {
        return;
    };
    for name in read() {
        let path = join(prefix, name);
        if let Some((_, _, Some(_))) = place(&join(pattern, name)) {
            section_keys(&join(pattern, name), &path, out);
        }
        out.push(path);
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

/// `key` under `path` (`path.key`, or `key` at the top).
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The known key `key` most likely misspells, if any: the same letters in
/// another case, or a small edit away, a swap of neighbours counting as one (one edit for short keys, whose
/// neighbours are mostly unrelated words, two otherwise).
fn near_miss<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = key.to_ascii_lowercase();
    let distance = |name: &str| strsim::osa_distance(&lower, &name.to_ascii_lowercase());
    let allowed = |name: &str| if name.len() <= 4 { 1 } else { 2 };
    (known.iter().map(|&name| (distance(name), name)))
        .filter(|&(distance, name)| distance <= allowed(name))
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

    /// Each place's keys are a struct's fields as serde reads them: a type
    /// that is not a struct would read none, and every key would be unknown.
    #[test]
    fn every_place_reads_its_types_keys() {
        for (at, read, _) in PLACES {
            assert!(!read().is_empty(), "no keys read at {at:?}");
        }
        assert!(fields::<RawModel>().contains(&"contextWindow"));
        assert!(fields::<Value>().is_empty());
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
            (
                json!({"agents": {"defaults": {"modle": "a/b"}}}),
                "agents.defaults.model",
            ),
            (
                json!({"gateway": {"reasoningCache": {"maxentries": 5}}}),
                "gateway.reasoningCache.maxEntries",
            ),
            (
                json!({"gateway": {"sessions": {"maxsessions": 5}}}),
                "gateway.sessions.maxSessions",
            ),
            (
                json!({"models": {"providers": {"kimi": {"quota": {"refreshSecond": 60}}}}}),
                "models.providers.kimi.quota.refreshSeconds",
            ),
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
