//! Loading and validating configs: the user's reference examples, lookup
//! order, `${VAR}` substitution, and errors that name their path.

use std::path::{Path, PathBuf};

use clawgate::capabilities::Dialect;
use clawgate::config::{self, ApiKey, Environment, Loaded, Secrets, Source};
use serde_json::json;

fn load(text: &str, env: &[(&str, &str)]) -> Result<Loaded, Vec<String>> {
    config::load_str(
        text,
        &Environment::from_pairs(env.iter().copied()),
        Secrets::Required,
    )
    .map_err(|errors| errors.0.iter().map(ToString::to_string).collect())
}

fn errors_of(text: &str, env: &[(&str, &str)]) -> Vec<String> {
    match load(text, env) {
        Ok(_) => panic!("expected errors for {text}"),
        Err(errors) => errors,
    }
}

const ALL_KEYS: [(&str, &str); 4] = [
    ("MOONSHOT_API_KEY", "sk-moonshot"),
    ("KIMI_API_KEY", "sk-kimi"),
    ("KIMICODE_API_KEY", "sk-kimicode"),
    ("OPENROUTER_API_KEY", "sk-or"),
];

#[test]
fn every_reference_example_loads_unchanged() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seeds");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    assert!(paths.len() >= 14, "fixtures are present");
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        if let Err(errors) = load(&text, &ALL_KEYS) {
            panic!("{} does not load:\n{}", path.display(), errors.join("\n"));
        }
    }
}

#[test]
fn the_kimi_code_blog_config_is_read_as_written() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seeds/004-01.json5"
    ))
    .unwrap();
    let loaded = load(&text, &[]).unwrap();
    let config = &loaded.config;
    assert_eq!(config.routing.primary.as_str(), "kimi-code/kimi-for-coding");
    let provider = &config.providers["kimi-code"];
    assert_eq!(provider.dialect, Dialect::KimiCoding);
    assert_eq!(
        provider.completions_url.as_str(),
        "https://api.kimi.com/coding/v1/chat/completions"
    );
    let model = provider.model("kimi-for-coding").unwrap();
    assert_eq!(model.headers["user-agent"], "KimiCLI/0.77");
    assert!(!model.capabilities.developer_role);
    assert_eq!(model.max_tokens, Some(32768));
    assert_eq!(
        config.resolve("Kimi K2.5 (Kimi Code)").unwrap().as_str(),
        "kimi-code/kimi-for-coding"
    );
}

#[test]
fn env_block_values_feed_substitution_after_the_process_environment() {
    let text = r#"{
        env: { FLAT_KEY: "from-flat", vars: { NESTED_KEY: "from-vars", SHADOWED: "from-config" } },
        models: { mode: "replace", providers: {
            a: { baseUrl: "http://127.0.0.1:1/v1", apiKey: "${FLAT_KEY}", models: [{ id: "m" }] },
            b: { baseUrl: "http://127.0.0.1:1/v1", apiKey: "${NESTED_KEY}", models: [{ id: "m" }] },
            c: { baseUrl: "http://127.0.0.1:1/v1", apiKey: "${SHADOWED}", models: [{ id: "m" }] },
            d: { baseUrl: "http://127.0.0.1:1/v1", apiKey: "$${LITERAL}", models: [{ id: "m" }] },
        }},
        agents: { defaults: { model: { primary: "a/m", fallbacks: ["b/m", "c/m", "d/m"] } } },
    }"#;
    let loaded = load(text, &[("SHADOWED", "from-process")]).unwrap();
    let key = |id: &str| match &loaded.config.providers[id].api_key {
        ApiKey::Set(secret) => secrecy::ExposeSecret::expose_secret(secret).to_string(),
        other => panic!("{id}: {other:?}"),
    };
    assert_eq!(key("a"), "from-flat");
    assert_eq!(key("b"), "from-vars");
    assert_eq!(key("c"), "from-process");
    assert_eq!(key("d"), "${LITERAL}");
}

/// configuration.md's pool, its second account's key unset: the member is
/// named as the pool's, not as a fallback, and the first account's
/// variable is not offered as this one's.
#[test]
fn a_pool_member_without_its_key_is_named_as_the_pools() {
    let text = r#"{
      models: { providers: {
        "moonshot-b": { baseUrl: "https://api.moonshot.ai/v1", apiKey: "${MOONSHOT_B_API_KEY}",
                        models: [{ id: "kimi-k2.6" }] } } },
      agents: { defaults: { model: {
        primary: ["moonshot/kimi-k2.6", "moonshot-b/kimi-k2.6", "openrouter/moonshotai/kimi-k2.6"],
        fallbacks: ["kimi/kimi-for-coding"] } } } }"#;
    let keys = [
        ("MOONSHOT_API_KEY", "k"),
        ("OPENROUTER_API_KEY", "k"),
        ("KIMI_API_KEY", "k"),
    ];
    let loaded = load(text, &keys).unwrap();
    assert_eq!(
        loaded.warnings,
        [
            "models.providers.moonshot-b.apiKey: environment variable MOONSHOT_B_API_KEY is not set; moonshot-b/kimi-k2.6, of the primary's pool, is skipped (its sessions are placed on the pool's other members) until it is set: export it, put it in the env file clawgate reads (~/.config/clawgate/secrets.env, or the one --env-file names; under systemd, the service's EnvironmentFile=), or take moonshot-b/kimi-k2.6 out of agents.defaults.model"
        ]
    );
}

#[test]
fn a_missing_key_is_an_error_in_the_chain_and_a_warning_elsewhere() {
    let text = r#"{ agents: { defaults: { model: { primary: "moonshot/kimi-k2.6", fallbacks: ["openrouter/auto"] } } } }"#;
    let errors = errors_of(text, &[]);
    assert_eq!(
        errors,
        [
            "models.providers.moonshot.apiKey: environment variable MOONSHOT_API_KEY is not set; chain target moonshot/kimi-k2.6 needs it: export it, put it in the env file clawgate reads (~/.config/clawgate/secrets.env, or the one --env-file names; under systemd, the service's EnvironmentFile=), or take moonshot/kimi-k2.6 out of agents.defaults.model",
            "models.providers.openrouter.apiKey: environment variable OPENROUTER_API_KEY is not set; chain target openrouter/auto needs it: export it, put it in the env file clawgate reads (~/.config/clawgate/secrets.env, or the one --env-file names; under systemd, the service's EnvironmentFile=), or take openrouter/auto out of agents.defaults.model",
        ]
    );
    // With only the fallback's key, clawgate starts and says what it skips.
    let partial = load(text, &[("OPENROUTER_API_KEY", "k")]).unwrap();
    assert_eq!(
        partial.warnings,
        [
            "models.providers.moonshot.apiKey: environment variable MOONSHOT_API_KEY is not set; chain target moonshot/kimi-k2.6 is skipped (its requests fall over to openrouter/auto) until it is set: export it, put it in the env file clawgate reads (~/.config/clawgate/secrets.env, or the one --env-file names; under systemd, the service's EnvironmentFile=), or take moonshot/kimi-k2.6 out of agents.defaults.model"
        ]
    );
    // With only the primary's key, the fallback is what is skipped, and
    // nothing comes after it.
    let partial = load(text, &[("MOONSHOT_API_KEY", "k")]).unwrap();
    assert_eq!(
        partial.warnings,
        [
            "models.providers.openrouter.apiKey: environment variable OPENROUTER_API_KEY is not set; fallback openrouter/auto is skipped until it is set (a request whose earlier targets fail then fails): export it, put it in the env file clawgate reads (~/.config/clawgate/secrets.env, or the one --env-file names; under systemd, the service's EnvironmentFile=), or take openrouter/auto out of agents.defaults.model"
        ]
    );
    let loaded = load(
        text,
        &[("MOONSHOT_API_KEY", "k"), ("OPENROUTER_API_KEY", "k")],
    )
    .unwrap();
    assert!(
        loaded.warnings.is_empty(),
        "built-in providers the user did not mention stay quiet"
    );
    let with_spare = r#"{ models: { providers: { kimi: { headers: { "X-Title": "t" } } } },
        agents: { defaults: { model: { primary: "moonshot/kimi-k2.6", fallbacks: ["openrouter/auto"] } } } }"#;
    let loaded = load(
        with_spare,
        &[("MOONSHOT_API_KEY", "k"), ("OPENROUTER_API_KEY", "k")],
    )
    .unwrap();
    assert_eq!(
        loaded.warnings,
        [
            "models.providers.kimi.apiKey: environment variable KIMI_API_KEY is not set; provider \"kimi\" is not in the default chain"
        ]
    );
    // Offline validation (the Nix build) needs no secrets at all.
    let offline = config::load_str(text, &Environment::default(), Secrets::Offline).unwrap();
    assert!(
        matches!(&offline.config.providers["moonshot"].api_key, ApiKey::Missing(unset) if unset.var == "MOONSHOT_API_KEY")
    );
}

#[test]
fn no_file_means_the_built_in_catalog_and_chain() {
    let loaded = load("{}", &ALL_KEYS).unwrap();
    let config = &loaded.config;
    assert_eq!(config.gateway.port, 18700);
    // OpenClaw owns 18789-18793 and 18800-18899; both run side by side.
    assert!(
        !(18789..=18793).contains(&config.gateway.port)
            && !(18800..=18899).contains(&config.gateway.port),
        "the default port collides with OpenClaw's"
    );
    assert_eq!(config.gateway.bind.to_string(), "127.0.0.1");
    assert_eq!(config.gateway.max_body_bytes, 32 * 1024 * 1024);
    assert_eq!(config.routing.primary.as_str(), "moonshot/kimi-k2.6");
    assert_eq!(
        config.routing.fallbacks[0].as_str(),
        "openrouter/moonshotai/kimi-k2.6"
    );
    let k27 = config.providers["moonshot"]
        .model("kimi-k2.7-code")
        .unwrap();
    let cost = k27.cost.expect("the catalog prices kimi-k2.7-code");
    assert_eq!(
        (cost.input, cost.output, cost.cache_read),
        (0.95, 4.0, 0.19)
    );
    // The catalog knows no price for the legacy models (unknown, not
    // free), and Kimi Coding is a subscription: free per call.
    assert_eq!(
        config.providers["moonshot"]
            .model("kimi-k2-turbo")
            .unwrap()
            .cost,
        None
    );
    assert_eq!(
        config.providers["kimi"]
            .model("kimi-for-coding")
            .unwrap()
            .cost,
        Some(Default::default())
    );
    assert_eq!(config.providers["kimi"].dialect, Dialect::KimiCoding);
    assert_eq!(
        config.providers["kimi"].models[0].headers["user-agent"],
        "KimiCLI/0.77"
    );
}

#[test]
fn merge_extends_the_catalog_and_replace_discards_it() {
    let merged = r#"{ models: { providers: { moonshot: { baseUrl: "https://api.moonshot.cn/v1",
        models: [{ id: "kimi-k2.6", contextWindow: 1000 }, { id: "custom" }] } } } }"#;
    let loaded = load(merged, &ALL_KEYS).unwrap();
    let moonshot = &loaded.config.providers["moonshot"];
    assert_eq!(moonshot.base_url.as_str(), "https://api.moonshot.cn/v1");
    let k26 = moonshot.model("kimi-k2.6").unwrap();
    assert_eq!(
        (k26.context_window, k26.max_tokens),
        (Some(1000), Some(262_144)),
        "one field overridden"
    );
    assert!(moonshot.model("custom").is_some() && moonshot.model("kimi-k2.5").is_some());

    let replaced = r#"{ models: { mode: "replace", providers: { local: { baseUrl: "http://127.0.0.1:8000/v1",
        models: [{ id: "llama" }] } } }, agents: { defaults: { model: "local/llama" } } }"#;
    let loaded = load(replaced, &[]).unwrap();
    assert_eq!(
        loaded.config.providers.keys().collect::<Vec<_>>(),
        ["local"]
    );
    assert!(matches!(
        loaded.config.providers["local"].api_key,
        ApiKey::None
    ));
    assert!(
        loaded.config.routing.fallbacks.is_empty(),
        "a user's chain replaces the default one whole"
    );
    // Replaced without a chain: the default chain named the catalog's
    // providers, which are gone, so the chain is asked for.
    let unchained = r#"{ models: { mode: "replace", providers: { moonshot: { baseUrl: "https://api.moonshot.cn/v1" } } } }"#;
    assert_eq!(
        errors_of(unchained, &ALL_KEYS),
        ["agents.defaults.model.primary: required: the model to answer requests"]
    );
}

#[test]
fn a_merged_models_error_names_the_entry_by_its_index_in_the_file() {
    let env = [
        ("MOONSHOT_API_KEY", "sk-moonshot"),
        ("OPENROUTER_API_KEY", "sk-or"),
        ("TAG", "a\rb"),
    ];
    let text = r#"{ models: { providers: { moonshot: { models: [
        { id: "kimi-k2.6", contextWindow: -5 },
    ] } } } }"#;
    assert_eq!(
        errors_of(text, &env),
        [
            "models.providers.moonshot.models[0].contextWindow: invalid value: integer `-5`, expected a whole number, 0 or more"
        ]
    );
    // A built-in model, a new one and one without an id, each where the
    // file has it.
    let text = r#"{ models: { providers: { moonshot: { models: [
        { id: "custom", headers: { "x-tag": "${TAG}" } },
        { name: "no id" },
        { id: "kimi-k2.6", input: ["txt"] },
    ] } } } }"#;
    assert_eq!(
        errors_of(text, &env),
        [
            "models.providers.moonshot.models[0].headers.x-tag: environment variable TAG contains a control character (a \\r from a file edited on Windows?); remove it",
            "models.providers.moonshot.models[2].input[0]: expected \"text\" or \"image\", found \"txt\"",
            "models.providers.moonshot.models[0].headers.x-tag: invalid header value",
            "models.providers.moonshot.models[1].id: required",
        ]
    );
}

#[test]
fn a_model_id_written_twice_in_one_list_is_refused_in_either_mode() {
    for (mode, provider) in [
        ("merge", "moonshot"),
        ("replace", "moonshot"),
        ("merge", "local"),
    ] {
        let text = format!(
            r#"{{ models: {{ mode: "{mode}", providers: {{ {provider}: {{ baseUrl: "http://127.0.0.1:9/v1", models: [
                {{ id: "kimi-k2.6", maxTokens: 100 }}, {{ id: "new" }}, {{ id: "kimi-k2.6", maxTokens: 200 }},
            ] }} }} }}, agents: {{ defaults: {{ model: "{provider}/new" }} }} }}"#
        );
        assert_eq!(
            errors_of(&text, &ALL_KEYS),
            [format!(
                "models.providers.{provider}.models[2].id: duplicate model id \"kimi-k2.6\""
            )],
            "{mode} {provider}"
        );
    }
}

#[test]
fn every_error_is_reported_at_once_with_its_path() {
    let text = r#"{
        gateway: { port: "eighty", bind: "0.0.0.0" },
        models: { mode: "mix", providers: {
            broken: { baseURL: "x", api: "anthropic-chat", models: [{ id: "m", contextwindow: 5 }, { name: "no id" }] },
            bad: { baseUrl: "not a url", models: [{ id: "m", compat: { maxTokensField: "limit" } }, { id: "m" }] },
        } },
        agents: { defaults: {
            model: { primary: "nowhere/m", fallback: ["bad/m"], fallbacks: ["moonshot/kimi-k9", "alias-missing"] },
            models: { "bad/m": { alias: "x" }, "broken/m": { alias: "x" } },
            thinkingDefault: "extreme",
        } },
    }"#;
    let errors = errors_of(text, &ALL_KEYS);
    let expected = [
        "models.providers.broken.baseURL: unknown key; did you mean `baseUrl`?",
        "models.providers.broken.models[0].contextwindow: unknown key; did you mean `contextWindow`?",
        "agents.defaults.model.fallback: unknown key; clawgate does not read it here; did you mean `agents.defaults.model.fallbacks`? (see docs/configuration.md#agentsdefaults)",
        "models.mode: expected \"merge\" or \"replace\", found \"mix\"",
        "gateway.port: invalid type: string, expected a whole number from 0 to 65535",
        "models.providers.broken.api: expected \"openai-completions\" or \"anthropic-messages\", found \"anthropic-chat\"",
        "models.providers.broken.baseUrl: required",
        "models.providers.broken.models[1].id: required",
        "models.providers.bad.baseUrl: expected an http(s) URL, found \"not a url\"",
        "models.providers.bad.models[0].compat.maxTokensField: expected one of \"max_tokens\", \"max_completion_tokens\", found \"limit\"",
        "models.providers.bad.models[1].id: duplicate model id \"m\"",
        "agents.defaults.model.primary: unknown provider \"nowhere\" in \"nowhere/m\"",
        "agents.defaults.model.fallbacks[0]: provider \"moonshot\" has no model \"kimi-k9\"; to use it, add it to models.providers.moonshot.models; did you mean `moonshot/kimi-k3`?",
        "agents.defaults.model.fallbacks[1]: \"alias-missing\" is neither an alias nor a provider/model ref",
        "agents.defaults.thinkingDefault: expected one of off, minimal, low, medium, high; found \"extreme\"",
    ];
    for line in &expected {
        assert!(
            errors.contains(&line.to_string()),
            "missing {line:?} in:\n{}",
            errors.join("\n")
        );
    }
    // A provider with errors is reported once, at its entry: the refs to it
    // do not add "unknown provider".
    assert!(
        !errors.iter().any(|e| e.contains("unknown provider \"b")),
        "{errors:#?}"
    );
}

/// A member of the wrong type does not hide the config's other errors,
/// nor adds one for being left out: all are reported at once.
#[test]
fn a_member_of_the_wrong_type_hides_no_other_error() {
    let text = r#"{ gateway: { port: "19525", timeouts: { chainSeconds: 0 }, bind: "localhost:19525" },
      models: { providers: { x: { baseUrl: 5, models: [{ id: "m", contextWindow: "big" }] } } },
      agents: { defaults: { model: { primary: "x/m" },
        models: { "openrouter/auto": { alias: "default" } } } } }"#;
    assert_eq!(
        errors_of(text, &ALL_KEYS),
        [
            "gateway.port: invalid type: string, expected a whole number from 0 to 65535",
            r#"gateway.bind: expected an IP address or "localhost", found "localhost:19525""#,
            "gateway.timeouts.chainSeconds: expected a number of seconds from 0.001 to 86400, found 0.0",
            "models.providers.x.baseUrl: invalid type: integer, expected a string",
            "models.providers.x.models[0].contextWindow: invalid type: string, expected a whole number, 0 or more",
            r#"agents.defaults.models.openrouter/auto.alias: "default" names the primary in a request; choose another alias"#,
        ]
    );
    // What the member refused left out adds no error of its own (a token
    // for a wide bind, a provider's models for the chain); a key that
    // merely begins with a refused one's is still read.
    for (text, expected) in [
        (
            r#"{gateway: {bind: "0.0.0.0", auth: {token: 123}}}"#,
            &["gateway.auth.token: invalid type: integer, expected a string"][..],
        ),
        (
            r#"{models: {providers: {x: {baseUrl: "http://127.0.0.1:9/v1", models: {id: "m"}}}},
               agents: {defaults: {model: {primary: "x/m"}}}}"#,
            &["models.providers.x.models: invalid type: object, expected an array"],
        ),
        (
            r#"{agents: {defaults: {models: {"moonshot/kimi-k2": "k2", "moonshot/kimi-k2.6": {alias: "default"}}}}}"#,
            &[
                "agents.defaults.models.moonshot/kimi-k2: invalid type: string, expected an object",
                r#"agents.defaults.models.moonshot/kimi-k2.6.alias: "default" names the primary in a request; choose another alias"#,
            ],
        ),
    ] {
        assert_eq!(errors_of(text, &ALL_KEYS), expected, "{text}");
    }
}

/// A chain's value of the wrong shape is named at its path with what
/// belongs there, and alone: the primary written beside it is not then
/// called missing.
#[test]
fn a_chain_of_the_wrong_shape_is_named_at_its_path() {
    let check = |model: &str, expected: &str| {
        let text = format!("{{ agents: {{ defaults: {{ model: {model} }} }} }}");
        assert_eq!(errors_of(&text, &ALL_KEYS), [expected], "{text}");
    };
    check(
        r#"{ primary: "moonshot/kimi-k2.6", fallbacks: "openrouter/auto" }"#,
        r#"agents.defaults.model.fallbacks: expected a list of refs, found a string: a single fallback is a list of one, ["provider/model"]"#,
    );
    check(
        r#"{ primary: "moonshot/kimi-k2.6", fallbacks: 5 }"#,
        "agents.defaults.model.fallbacks: invalid type: integer, expected a list of refs",
    );
    check(
        r#"{ primary: 5, fallbacks: ["openrouter/auto"] }"#,
        "agents.defaults.model.primary: invalid type: integer, expected a ref, or a list of equivalent refs (a pool)",
    );
    check(
        r#"{ primary: "moonshot/kimi-k2.6", fallbacks: ["openrouter/auto", { ref: "x" }] }"#,
        "agents.defaults.model.fallbacks[1]: invalid type: object, expected a ref, or a list of equivalent refs (a pool)",
    );
    check(
        r#"{ primary: "moonshot/kimi-k2.6", fallbacks: [["openrouter/auto", true]] }"#,
        "agents.defaults.model.fallbacks[0][1]: invalid type: boolean, expected a string",
    );
    check(
        "true",
        "agents.defaults.model: invalid type: boolean, expected a ref, or {primary, fallbacks}",
    );
}

#[test]
fn aliases_must_be_unique_ignoring_case_and_must_not_look_like_refs() {
    let text = r#"{ agents: { defaults: { models: {
        "moonshot/kimi-k2.6": { alias: "k" },
        "moonshot/kimi-k2.5": { alias: "k" },
        "openrouter/auto": { alias: "moonshot/kimi-k2.5" },
        "openrouter/moonshotai/kimi-k2.6": { alias: "a/b" },
        "kimi/kimi-for-coding": { alias: "Fast" },
        "moonshot/kimi-k3": { alias: "FAST" },
    } } } }"#;
    let errors = errors_of(text, &ALL_KEYS);
    assert_eq!(
        errors,
        [
            "agents.defaults.models.moonshot/kimi-k2.6.alias: \"k\" is already the alias of moonshot/kimi-k2.5",
            "agents.defaults.models.moonshot/kimi-k3.alias: \"FAST\" differs from \"Fast\", the alias of kimi/kimi-for-coding, only in case, and a request's name is matched ignoring case",
            "agents.defaults.models.openrouter/auto.alias: \"moonshot/kimi-k2.5\" would shadow a provider/model ref",
            "agents.defaults.models.openrouter/moonshotai/kimi-k2.6.alias: \"a/b\" looks like a provider/model ref: an alias is a name without `/`",
        ]
    );
}

/// A model's `params` naming what clawgate decides (`model`, `messages`,
/// `stream`, `stream_options`) are warned about at load, not kept to be
/// passed over without a word.
#[test]
fn params_clawgate_decides_are_warned_about_and_not_kept() {
    let loaded = load(
        r#"{ agents: { defaults: { models: { "moonshot/kimi-k2.6": { params: {
            model: "x", stream: false, messages: [], stream_options: {}, temperature: 0.3 } } } } } }"#,
        &ALL_KEYS,
    )
    .unwrap();
    for key in ["model", "messages", "stream", "stream_options"] {
        let warning = format!(
            "agents.defaults.models.moonshot/kimi-k2.6.params.{key}: clawgate decides `{key}` itself; the param is not applied"
        );
        assert!(loaded.warnings.contains(&warning), "{:#?}", loaded.warnings);
    }
    let chain = loaded.config.chain(Some("moonshot/kimi-k2.6")).unwrap();
    let params = chain[0].params.as_deref().unwrap();
    assert_eq!(params.keys().collect::<Vec<_>>(), ["temperature"]);
}

#[test]
fn a_non_loopback_bind_needs_a_token() {
    let errors = errors_of(r#"{ gateway: { bind: "0.0.0.0" } }"#, &ALL_KEYS);
    assert_eq!(
        errors,
        [
            "gateway.bind: 0.0.0.0 is not a loopback address; set gateway.auth.token or gateway.clients to serve beyond this machine"
        ]
    );
    assert!(
        load(
            r#"{ gateway: { bind: "0.0.0.0", auth: { token: "t0ken-0123456789" } } }"#,
            &ALL_KEYS
        )
        .is_ok()
    );
    let errors = errors_of(r#"{ gateway: { auth: { token: "${TOKEN}" } } }"#, &ALL_KEYS);
    assert_eq!(
        errors,
        [
            "gateway.auth.token: environment variable TOKEN is not set: export it, or put it in the env file clawgate reads (~/.config/clawgate/secrets.env, or the one --env-file names; under systemd, the service's EnvironmentFile=)"
        ]
    );
}

/// Beyond this machine the token guards a network, as a client's key
/// does, and needs a client key's length; on loopback any token will do.
#[test]
fn a_token_on_a_public_bind_is_as_long_as_a_client_key() {
    let short = |bind: &str, length: &str| {
        format!(
            "gateway.auth.token: the token is {length}; a token that guards {bind}, not a loopback address, needs at least 16 (`openssl rand -hex 32` makes one)"
        )
    };
    let errors = errors_of(
        r#"{ gateway: { bind: "0.0.0.0", auth: { token: "changeme" } } }"#,
        &ALL_KEYS,
    );
    assert_eq!(errors, [short("0.0.0.0", "8 characters")]);
    let errors = errors_of(
        r#"{ gateway: { bind: "0.0.0.0", auth: { token: "a" } } }"#,
        &ALL_KEYS,
    );
    assert_eq!(errors, [short("0.0.0.0", "1 character")]);
    // From the environment, with clients beside it: the same, and the
    // token is never shown.
    let env = [ALL_KEYS.as_slice(), &[("TOKEN", "s3cr3t-t0ken")]].concat();
    let errors = errors_of(
        r#"{ gateway: { bind: "192.168.1.5", auth: { token: "${TOKEN}" }, clients: { ci: { key: "sha256:0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a" } } } }"#,
        &env,
    );
    assert_eq!(errors, [short("192.168.1.5", "12 characters")]);
    for bind in ["127.0.0.1", "::1", "localhost"] {
        let text = format!("{{ gateway: {{ bind: '{bind}', auth: {{ token: 't' }} }} }}");
        assert!(load(&text, &ALL_KEYS).is_ok(), "{bind}");
    }
    let text = r#"{ gateway: { bind: "::", auth: { token: "0123456789abcdef" } } }"#;
    assert!(load(text, &ALL_KEYS).is_ok());
}

/// A section of the wrong type is named alone, in JSON's words: what
/// reads through it (the chain's providers) is not then called unknown or
/// missing; and a `null` is a value left out.
#[test]
fn a_section_of_the_wrong_type_is_named_alone() {
    let check =
        |text: &str, expected: &str| assert_eq!(errors_of(text, &ALL_KEYS), [expected], "{text}");
    check(
        "{ models: 'x' }",
        "models: expected an object (mode, providers), found a string",
    );
    check(
        "{ models: { providers: [] } }",
        "models.providers: expected an object of providers by id, found an array",
    );
    check(
        "{ agents: 5 }",
        "agents: expected an object (defaults), found a number",
    );
    check(
        "{ gateway: 'x' }",
        "gateway: invalid type: string, expected an object",
    );
    check(
        "{ gateway: { clients: [] } }",
        "gateway.clients: invalid type: array, expected an object",
    );
    // At any depth: the built-in chain and catalog stay.
    for text in [
        "{ models: null, agents: null, ledger: null }",
        "{ gateway: { port: null, clients: null, budgets: null }, agents: { defaults: { model: null } } }",
        "{ agents: { defaults: { model: { primary: 'moonshot/kimi-k2.6', fallbacks: null } } } }",
        "{ models: { providers: { moonshot: null, openrouter: { models: null } } } }",
    ] {
        let loaded = load(text, &ALL_KEYS).expect(text);
        assert_eq!(loaded.config.providers.len(), 3, "{text}");
    }
}

#[test]
fn syntax_errors_and_non_objects_are_reported() {
    assert!(
        errors_of("{ models: ", &[])[0]
            .starts_with("invalid JSON5 at line 1, column 1: this `{` is never closed: add `}`")
    );
    assert_eq!(errors_of("[]", &[]), ["the config must be a JSON object"]);
}

#[test]
fn a_key_written_twice_is_an_error_naming_its_path_and_the_second() {
    let check =
        |text: &str, expected: &str| assert_eq!(errors_of(text, &ALL_KEYS), [expected], "{text}");
    let replaced = "; the second would replace the first whole: write it once, merging the two";
    check(
        "{ agents: { defaults: { model: { primary: 'openrouter/auto' } } },\n  gateway: { port: 19590 },\n  agents: { defaults: {} } }",
        &format!("agents: written twice (again at line 3, column 3){replaced}"),
    );
    // As Nix writes it, at any depth, in a list's object too.
    check(
        r#"{ "gateway": { "port": 19501, "port": 19502 } }"#,
        &format!("gateway.port: written twice (again at line 1, column 31){replaced}"),
    );
    check(
        r#"{ "models": { "providers": { "x": { "models": [{ "id": "a" }, { "id": "b", "id": "c" }] } } } }"#,
        &format!(
            "models.providers.x.models[1].id: written twice (again at line 1, column 76){replaced}"
        ),
    );
    // A key shaped like a credential is not shown.
    check(
        "{ env: { 'sk-0123456789abcdef': 'a', 'sk-0123456789abcdef': 'b' } }",
        &format!("env.[redacted]: written twice (again at line 1, column 38){replaced}"),
    );
    // One name in two objects is two keys.
    assert!(
        load(
            "{ gateway: { port: 19501 }, ledger: { port: 1 } }",
            &ALL_KEYS
        )
        .is_err_and(|e| !e.join("").contains("twice"))
    );
    assert!(load("{ agents: { defaults: { models: { 'openrouter/auto': { alias: 'a' }, 'moonshot/kimi-k2.6': { alias: 'b' } } } } }", &ALL_KEYS).is_ok());
}

#[test]
fn ignored_keys_are_listed_and_debug_output_holds_no_secret() {
    let text = r#"{ channels: { telegram: {} }, gateway: { mode: "local" },
        models: { providers: { moonshot: { apiKey: "sk-very-secret-value", auth: "api-key" } } },
        agents: { defaults: { workspace: "~/w" } } }"#;
    let loaded = load(text, &ALL_KEYS).unwrap();
    assert_eq!(
        loaded.ignored,
        [
            "channels",
            "gateway.mode",
            "models.providers.moonshot.auth",
            "agents.defaults.workspace"
        ]
    );
    let debug = format!("{:?}", loaded.config);
    assert!(
        !debug.contains("sk-very-secret-value") && !debug.contains("sk-or"),
        "Debug prints no key"
    );
    let shown = loaded.config.redacted().to_string();
    assert!(!shown.contains("sk-very-secret-value") && !shown.contains("sk-or"));
    assert_eq!(
        loaded.config.redacted()["models"]["providers"]["moonshot"]["apiKey"],
        json!("[redacted]")
    );
}

#[test]
fn the_config_file_is_found_in_the_documented_order() {
    let dir = tempfile::tempdir().unwrap();
    let xdg = dir.path().join("xdg");
    std::fs::create_dir_all(xdg.join("clawgate")).unwrap();
    let xdg_file = xdg.join("clawgate/config.json");
    let env = |pairs: &[(&str, &str)]| Environment::from_pairs(pairs.iter().copied());
    let xdg_text = xdg.to_str().unwrap();
    let home_text = dir.path().to_str().unwrap();

    assert_eq!(
        config::locate(None, &env(&[("XDG_CONFIG_HOME", xdg_text)])).unwrap(),
        Source::Defaults
    );
    std::fs::write(&xdg_file, "{}").unwrap();
    assert_eq!(
        config::locate(None, &env(&[("XDG_CONFIG_HOME", xdg_text)])).unwrap(),
        Source::File(xdg_file.clone())
    );
    assert_eq!(
        config::locate(
            None,
            &env(&[
                ("XDG_CONFIG_HOME", xdg_text),
                ("CLAWGATE_CONFIG", "/etc/c.json")
            ])
        )
        .unwrap(),
        Source::File("/etc/c.json".into())
    );
    assert_eq!(
        config::locate(
            Some(Path::new("/flag.json")),
            &env(&[("CLAWGATE_CONFIG", "/etc/c.json")])
        )
        .unwrap(),
        Source::File("/flag.json".into())
    );
    std::fs::create_dir_all(dir.path().join(".config/clawgate")).unwrap();
    std::fs::write(dir.path().join(".config/clawgate/config.json"), "{}").unwrap();
    assert_eq!(
        config::locate(None, &env(&[("HOME", home_text)])).unwrap(),
        Source::File(dir.path().join(".config/clawgate/config.json"))
    );
    // A relative XDG directory is ignored, as the XDG spec says.
    for (set, state) in [
        (Some(("XDG_STATE_HOME", "/state")), "/state/clawgate"),
        (Some(("CLAWGATE_STATE_DIR", "/s")), "/s"),
        (None, "/home/a/.local/state/clawgate"),
        (
            Some(("XDG_STATE_HOME", "st")),
            "/home/a/.local/state/clawgate",
        ),
    ] {
        let pairs: Vec<_> = [("HOME", "/home/a")].into_iter().chain(set).collect();
        assert_eq!(
            config::state_dir(&env(&pairs)),
            Some(state.into()),
            "{set:?}"
        );
    }
    assert_eq!(
        config::config_dir(&env(&[("HOME", "/home/a"), ("XDG_CONFIG_HOME", "cfg")])),
        Some("/home/a/.config/clawgate".into())
    );

    let missing = config::load(
        &Source::File(dir.path().join("absent.json")),
        &env(&[]),
        Secrets::Offline,
    )
    .unwrap_err();
    assert!(missing.to_string().starts_with("cannot read "), "{missing}");
}

/// A `config.json` that is a link to nothing (into a collected Nix store
/// path) or to itself is read, and says why it cannot be: the built-in
/// defaults would silently drop the user's chain.
#[test]
fn a_config_link_that_leads_nowhere_is_an_error_not_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let env = Environment::from_pairs([("HOME", dir.path().to_str().unwrap())]);
    let folder = dir.path().join(".config/clawgate");
    std::fs::create_dir_all(&folder).unwrap();
    let link = folder.join("config.json");
    for target in [Path::new("/nix/store/gone-config.json"), &link] {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(target, &link).unwrap();
        let found = config::locate(None, &env).unwrap();
        assert_eq!(found, Source::File(link.clone()));
        let error = config::load(&found, &env, Secrets::Offline).unwrap_err();
        let said = format!(
            "cannot read {}: it is a link to {}, which leads to no file",
            link.display(),
            target.display()
        );
        assert_eq!(error.to_string(), said);
    }
}

#[test]
fn config_json5_is_found_and_both_files_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_str().unwrap();
    let env = Environment::from_pairs([("HOME", home)]);
    let folder = dir.path().join(".config/clawgate");
    std::fs::create_dir_all(&folder).unwrap();
    // Every example is .json5: that name is found too.
    std::fs::write(folder.join("config.json5"), "{ gateway: { port: 18777 } }").unwrap();
    let found = config::locate(None, &env).unwrap();
    assert_eq!(found, Source::File(folder.join("config.json5")));
    let loaded = config::load(&found, &env, Secrets::Offline).unwrap();
    assert_eq!(loaded.config.gateway.port, 18777);
    // Both: neither is silently ignored.
    std::fs::write(folder.join("config.json"), "{}").unwrap();
    let error = config::locate(None, &env).unwrap_err().to_string();
    assert!(
        error.contains("config.json5") && error.contains("config.json "),
        "{error}"
    );
    assert!(error.contains("--config"), "{error}");
    // An explicit choice settles it.
    assert_eq!(
        config::locate(Some(&folder.join("config.json")), &env).unwrap(),
        Source::File(folder.join("config.json"))
    );
}

#[test]
fn the_shipped_examples_validate() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json5") {
            let text = std::fs::read_to_string(&path).unwrap();
            if let Err(errors) = load(&text, &ALL_KEYS) {
                panic!("{} does not load:\n{}", path.display(), errors.join("\n"));
            }
            count += 1;
        }
    }
    assert_eq!(count, 2);
}

#[test]
fn loopback_binds_include_mapped_ipv6_and_localhost() {
    for bind in ["::ffff:127.0.0.1", "localhost", "::1", "127.0.0.2"] {
        let text = format!("{{gateway: {{bind: '{bind}'}}}}");
        assert!(load(&text, &ALL_KEYS).is_ok(), "{bind} needs no token");
    }
    let errors = errors_of("{gateway: {bind: '::ffff:10.0.0.1'}}", &ALL_KEYS);
    assert!(
        errors[0].contains("not a loopback address; set gateway.auth.token"),
        "{errors:?}"
    );
}

/// A provider's key must be a key: a `${...}` clawgate does not
/// substitute (a name in lower case, with spaces, a shell default), or a
/// shell's `$NAME`, is refused, not sent as the key; a variable set but empty is as missing
/// as one unset. A model's `input` takes the kinds the gateway reads, and
/// an alias may not be `default`, which a request names the primary by.
#[test]
fn keys_left_unsubstituted_or_empty_unknown_input_kinds_and_a_default_alias_are_refused() {
    let env = [("my_key", "k"), ("EMPTYV", ""), ("OPENROUTER_API_KEY", "k")];
    let provider = |key: &str| {
        format!(
            "{{models: {{mode: 'replace', providers: {{a: {{baseUrl: 'http://127.0.0.1:9/v1', apiKey: '{key}', models: [{{id: 'm'}}]}}}}}}, agents: {{defaults: {{model: {{primary: 'a/m'}}}}}}}}"
        )
    };
    for key in ["${my_key}", "${ MY_KEY }", "${MY_KEY:-x}"] {
        let errors = errors_of(&provider(key), &env).join("\n");
        assert!(
            errors.contains("holds a `${...}` that is not substituted"),
            "{key}: {errors}"
        );
    }
    // A shell's `$NAME`, which would go out as the key itself.
    let errors = errors_of(&provider("$MY_KEY"), &env).join("\n");
    assert!(
        errors.contains(r#"models.providers.a.apiKey: a shell variable, which the config does not substitute: write "${MY_KEY}""#),
        "{errors}"
    );
    for default in ["default", "Default"] {
        let alias = format!(
            "{{agents: {{defaults: {{model: {{primary: 'openrouter/auto'}}, models: {{'openrouter/auto': {{alias: '{default}'}}}}}}}}}}"
        );
        let errors = errors_of(&alias, &env).join("\n");
        assert!(
            errors.contains("agents.defaults.models.openrouter/auto.alias: \"default\" names the primary in a request"),
            "{errors}"
        );
    }
    let errors = errors_of(&provider("${EMPTYV}"), &env).join("\n");
    assert!(
        errors.contains("environment variable EMPTYV is set but empty; chain target a/m needs it: give it its value in the env file clawgate reads"),
        "{errors}"
    );
    let typo = "{models: {mode: 'replace', providers: {a: {baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'k', models: [{id: 'm', input: ['text', 'images']}]}}}, agents: {defaults: {model: {primary: 'a/m'}}}}";
    let errors = errors_of(typo, &env).join("\n");
    assert!(errors.contains("models.providers.a.models[0].input[1]: expected \"text\" or \"image\", found \"images\""), "{errors}");
    // A limit of no tokens, and an id a table or a log line would break at.
    let model = |entry: &str| {
        format!(
            "{{models: {{mode: 'replace', providers: {{a: {{baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'k', models: [{entry}, {{id: 'n'}}]}}}}}}, agents: {{defaults: {{model: {{primary: 'a/n'}}}}}}}}"
        )
    };
    // A price past a dollar a token, or none a number can hold: its calls
    // could be neither costed nor counted as uncosted.
    for cost in [
        "{input: 1e308, output: 1e308}",
        "{input: -1}",
        "{cacheRead: 2000000}",
    ] {
        let errors = errors_of(&model(&format!("{{id: 'm', cost: {cost}}}")), &env).join("\n");
        assert!(
            errors.contains("models.providers.a.models[0].cost: costs must be numbers from 0 to 1000000 (USD per million tokens)"),
            "{cost}: {errors}"
        );
    }
    let errors = errors_of(&model("{id: 'm', maxTokens: 0}"), &env).join("\n");
    assert!(
        errors.contains("models.providers.a.models[0].maxTokens: expected 1 or more"),
        "{errors}"
    );
    let errors = errors_of(&model("{id: 'm\\nx'}"), &env).join("\n");
    assert!(
        errors.contains("models.providers.a.models[0].id: holds a control character"),
        "{errors}"
    );
    // Two keys for one model, each with params: one's would be lost.
    let twice = "{agents: {defaults: {model: 'kimi/kimi-for-coding', models: {
        'kimi-code/kimi-for-coding': {params: {top_p: 0.1}}, 'kimi/kimi-code': {params: {temperature: 0.2}}}}}}";
    let errors = errors_of(twice, &[("KIMI_API_KEY", "k")]).join("\n");
    assert!(
        errors.contains("names the same model, kimi/kimi-for-coding, with params of its own"),
        "{errors}"
    );
}

/// A variable named but not quite (a `${` never closed, text beside the
/// `${NAME}`, a shell's `$NAME}`, the name alone) is refused where it is
/// written, saying how to write it, and never sent as the key; the name
/// in the message is not masked as a secret. A token from a variable set
/// but empty is as missing as one unset, and said so.
#[test]
fn a_variable_named_but_not_quite_is_refused_saying_how_to_write_it() {
    let env = [
        ("KIMI_API_KEY", "sk-kimi-0123456789abcdef"),
        ("CLAWGATE_TOKEN", ""),
    ];
    // A provider `kimi` with `member`.
    let with = |member: String| {
        format!(
            "{{models: {{mode: 'replace', providers: {{kimi: {{baseUrl: 'http://127.0.0.1:9/v1', {member}, models: [{{id: 'm'}}]}}}}}}, agents: {{defaults: {{model: {{primary: 'kimi/m'}}}}}}}}"
        )
    };
    let provider = |key: &str| with(format!("apiKey: '{key}'"));
    let at = "models.providers.kimi.apiKey";
    for (key, said) in [
        (
            "${KIMI_API_KEY",
            r#"its `${` is never closed: write "${KIMI_API_KEY}""#,
        ),
        (
            "${KIMI_API_KEY}}",
            r#"write "${KIMI_API_KEY}" alone: the brace beside it would be sent as part of the key"#,
        ),
        (
            "Bearer ${KIMI_API_KEY}",
            r#"clawgate sends `Bearer` (or the header its API takes) itself: write "${KIMI_API_KEY}" alone"#,
        ),
        (
            "$KIMI_API_KEY}",
            r#"a shell variable, which the config does not substitute: write "${KIMI_API_KEY}""#,
        ),
        (
            "KIMI_API_KEY",
            r#"the name of a variable, not a key: write "${KIMI_API_KEY}" to use its value"#,
        ),
        (
            "{KIMI_API_KEY}",
            r#"the name of a variable, not a key: write "${KIMI_API_KEY}" to use its value"#,
        ),
        (
            "${KIMI_API_KEY} ",
            r#"write "${KIMI_API_KEY}" without the space or line break beside it: it would be part of the key, which HTTP takes without it"#,
        ),
        (
            " ${KIMI_API_KEY}",
            r#"write "${KIMI_API_KEY}" without the space or line break beside it: it would be part of the key, which HTTP takes without it"#,
        ),
    ] {
        let errors = errors_of(&provider(key), &env);
        assert_eq!(errors, [format!("{at}: {said}")], "{key}");
    }
    // Keys that are keys, and `$${` written on purpose, pass; a literal
    // key in capitals or after a `$` is a key unless it names a variable
    // set or named as secrets are, and is masked as any literal key.
    for key in [
        "sk-kimi-0123456789abcdef",
        "EMPTY",
        "${KIMI_API_KEY}",
        "$${NOT_A_VAR}",
        "CI_TOKEN_8F3K2X",
        "sk-${KIMI_API_KEY}",
        "$ecretTok3nAbc",
    ] {
        let loaded = load(&provider(key), &env).unwrap_or_else(|e| panic!("{key}: {e:?}"));
        if !key.contains("${") && key != "EMPTY" {
            assert!(
                loaded
                    .warnings
                    .iter()
                    .any(|w| w.starts_with(&format!("{at}: a secret written in the config file"))),
                "{key}: {:?}",
                loaded.warnings
            );
            assert!(
                !loaded.config.redactor.scrub(key).contains(key),
                "{key} is masked"
            );
        }
    }
    // A header may hold a variable among other text; not a `${` left open.
    let header = |value: &str| with(format!("headers: {{'X-Api-Key': '{value}'}}"));
    assert!(load(&header("Bearer ${KIMI_API_KEY}"), &env).is_ok());
    // A credential header in capitals is a literal secret, masked.
    let loaded = load(&header("PROD_KEY_7F3A"), &env).unwrap();
    assert!(
        !loaded
            .config
            .redactor
            .scrub("PROD_KEY_7F3A")
            .contains("PROD_KEY")
    );
    let errors = errors_of(&header("Bearer ${KIMI_API_KEY"), &env);
    assert_eq!(
        errors,
        [
            r#"models.providers.kimi.headers.X-Api-Key: its `${` is never closed: write "${KIMI_API_KEY}""#
        ]
    );
    // The built-in chain's keys are all set, so the token's is the one error.
    let env = [ALL_KEYS.as_slice(), &env].concat();
    let errors = errors_of("{gateway: {auth: {token: '${CLAWGATE_TOKEN'}}}", &env);
    assert_eq!(
        errors,
        [r#"gateway.auth.token: its `${` is never closed: write "${CLAWGATE_TOKEN}""#]
    );
    // A client's key, or the token, with a space at its end could never
    // be presented (HTTP drops it); a client's key is never partly in the
    // file.
    let env = [
        env.as_slice(),
        &[("ALICE_KEY", "alice-key-0123456789abcdef")],
    ]
    .concat();
    for (gateway, said) in [
        (
            "{auth: {token: '${ALICE_KEY}\\n'}}",
            r#"gateway.auth.token: write "${ALICE_KEY}" without the space or line break beside it"#,
        ),
        (
            "{clients: {a: {key: '${ALICE_KEY} '}}}",
            r#"gateway.clients.a.key: write "${ALICE_KEY}" without the space or line break beside it"#,
        ),
        (
            "{clients: {a: {key: 'x${ALICE_KEY}'}}}",
            r#"gateway.clients.a.key: write "${ALICE_KEY}" alone, the whole key in the env file clawgate reads"#,
        ),
    ] {
        let errors = errors_of(&format!("{{gateway: {gateway}}}"), &env).join("\n");
        assert!(errors.contains(said), "{gateway}: {errors}");
    }
    let errors = errors_of(
        "{gateway: {bind: '0.0.0.0', auth: {token: '${CLAWGATE_TOKEN}'}}}",
        &env,
    );
    assert_eq!(
        errors,
        [
            "gateway.auth.token: environment variable CLAWGATE_TOKEN is set but empty: give it its value in the env file clawgate reads (~/.config/clawgate/secrets.env, or the one --env-file names; under systemd, the service's EnvironmentFile=)"
        ]
    );
}

#[test]
fn errors_never_echo_a_substituted_secret() {
    let secret = "sk-echo-me-not-0123456789";
    let env = [
        ("MOONSHOT_API_KEY", "k-moonshot"),
        ("OPENROUTER_API_KEY", "k-openrouter"),
        ("BIND", secret),
        ("TOKEN", secret),
    ];
    // A bad bind address is quoted in our message, scrubbed; a wrong type
    // is named without its value.
    for (text, expected) in [
        ("{gateway: {bind: '${BIND}'}}", "[redacted]"),
        (
            "{gateway: {auth: '${TOKEN}'}}",
            "invalid type: string, expected",
        ),
        (
            "{gateway: {port: '${TOKEN}'}}",
            "invalid type: string, expected",
        ),
    ] {
        let errors = errors_of(text, &env);
        assert!(
            !errors.join("\n").contains("echo-me-not"),
            "{text}: {errors:?}"
        );
        assert!(errors.join("\n").contains(expected), "{text}: {errors:?}");
    }
    // A key pasted literally where a URL or a ref goes: quoted as the
    // typo it looks like, but a key's shape is scrubbed.
    for text in [
        "{models: {providers: {p: {baseUrl: 'sk-echo-me-not-0123456789', models: [{id: 'm'}]}}}}",
        "{agents: {defaults: {model: {primary: 'sk-echo-me-not-0123456789'}}}}",
    ] {
        let errors = errors_of(text, &env).join("\n");
        assert!(!errors.contains("echo-me-not"), "{text}: {errors}");
        assert!(errors.contains("[redacted]"), "{text}: {errors}");
    }
    // A key pasted as a key's name: in an error's path, and in the keys
    // clawgate ignores.
    let errors = errors_of(
        "{gateway: {auth: {'sk-echo-me-not-0123456789': true}}}",
        &env,
    );
    assert!(!errors.join("\n").contains("echo-me-not"), "{errors:?}");
    let ignored = load(
        "{models: {providers: {moonshot: {'k-moonshot': ''}}}}",
        &env,
    )
    .unwrap()
    .ignored;
    assert_eq!(ignored, ["models.providers.moonshot.[redacted]"]);
}

#[test]
fn credentials_with_control_characters_are_refused_by_name() {
    let errors = errors_of(
        "{}",
        &[
            ("MOONSHOT_API_KEY", "sk-from-windows\r"),
            ("OPENROUTER_API_KEY", "k-openrouter"),
        ],
    );
    assert_eq!(
        errors,
        [
            "models.providers.moonshot.apiKey: environment variable MOONSHOT_API_KEY contains a control character (a \\r from a file edited on Windows?); remove it"
        ]
    );
}

#[test]
fn openclaw_provider_aliases_and_legacy_model_ids_resolve() {
    let loaded = load(
        r#"{agents: {defaults: {model: {primary: "kimi-coding/k2p5", fallbacks: ["kimi/kimi-code"]}}}}"#,
        &ALL_KEYS,
    )
    .unwrap();
    let config = &loaded.config;
    assert_eq!(config.routing.primary.as_str(), "kimi/kimi-for-coding");
    // The legacy fallback is the primary again: listed once.
    assert!(
        config.routing.fallbacks.is_empty(),
        "{:?}",
        config.routing.fallbacks
    );
    for name in [
        "kimi-code/kimi-for-coding",
        "kimicode/kimi-k2p5",
        "kimi/k2p5",
    ] {
        assert_eq!(
            config.resolve(name).map(|r| r.to_string()),
            Some("kimi/kimi-for-coding".to_string()),
            "{name}"
        );
    }
    // A provider configured under an alias's name is that provider.
    let own = load(
        r#"{models: {providers: {"kimi-code": {baseUrl: "http://127.0.0.1:9/v1", models: [{id: "kimi-for-coding"}]}}},
            agents: {defaults: {model: "kimi-code/kimi-for-coding"}}}"#,
        &ALL_KEYS,
    )
    .unwrap();
    assert_eq!(
        own.config.routing.primary.as_str(),
        "kimi-code/kimi-for-coding"
    );
}

#[test]
fn config_show_names_each_providers_dialect_and_where_it_came_from() {
    let loaded = load(
        r#"{models: {providers: {
            moonshot: {baseUrl: "http://proxy.corp/v1"},
            mine: {baseUrl: "http://127.0.0.1:9/v1", dialect: "kimi-coding", models: [{id: "k"}]},
        }}}"#,
        &ALL_KEYS,
    )
    .unwrap();
    let shown = loaded.config.redacted();
    let limits = &shown["gateway"]["limits"];
    for key in [
        "maxConnections",
        "maxConcurrentRequests",
        "maxResponseBytes",
        "maxEventBytes",
    ] {
        assert!(limits[key].is_u64(), "{key} in {limits}");
    }
    let providers = &shown["models"]["providers"];
    assert_eq!(providers["moonshot"]["dialect"], "moonshot");
    assert_eq!(providers["moonshot"]["dialectSource"], "provider-id");
    assert_eq!(providers["mine"]["dialect"], "kimi-coding");
    assert_eq!(providers["mine"]["dialectSource"], "config");
    assert_eq!(providers["openrouter"]["dialectSource"], "host");
    // The spelling the `dialect` key accepts, not `open-router`.
    assert_eq!(providers["openrouter"]["dialect"], "openrouter");
    // A catalog model's capabilities come along.
    let k27 = providers["moonshot"]["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "kimi-k2.7-code")
        .unwrap();
    assert_eq!(k27["capabilities"]["reasoning"], "always");
    assert_eq!(k27["capabilities"]["thinkingControl"], "omit");
}

/// A key sent over plain HTTP beyond this machine would cross the network
/// in clear: a warning at the provider's baseUrl (a proxy on a trusted
/// network may be meant). To this machine, or without a key, none.
#[test]
fn a_key_over_plain_http_beyond_this_machine_is_a_warning() {
    let env = [ALL_KEYS.as_slice(), &[("LAN_KEY", "sk-lan-0123456789")]].concat();
    let loaded = load(
        r#"{ models: { providers: {
            lan: { baseUrl: "http://192.168.1.20:4000/v1", apiKey: "${LAN_KEY}", models: [{ id: "m" }] },
            open: { baseUrl: "http://10.0.0.7/v1", models: [{ id: "m" }] },
            here: { baseUrl: "http://127.0.0.1:8000/v1", apiKey: "${LAN_KEY}", models: [{ id: "m" }] },
            moonshot: { baseUrl: "http://proxy.corp/v1" },
            header: { baseUrl: "http://10.0.0.8/v1", models: [{ id: "m", headers: { Authorization: "Bearer ${LAN_KEY}" } }] },
        } } }"#,
        &env,
    )
    .unwrap();
    let clear: Vec<&str> = (loaded.warnings.iter())
        .map(String::as_str)
        .filter(|w| w.contains("unencrypted"))
        .collect();
    let warning = |id: &str, host: &str| {
        format!(
            "models.providers.{id}.baseUrl: plain http:// to {host}, which is not a loopback name or address: the provider's key would travel unencrypted; use https://, unless this is a proxy on a network you trust"
        )
    };
    // The built-in moonshot's key comes from the catalog's apiKey.
    assert_eq!(
        clear,
        [
            warning("moonshot", "proxy.corp"),
            warning("lan", "192.168.1.20"),
            warning("header", "10.0.0.8"),
        ]
    );
}

#[test]
fn allowed_hosts_are_names_without_ports() {
    let loaded = load(
        "{gateway: {allowedHosts: ['Clawgate.Internal', '::1', '[fd00::1]']}}",
        &ALL_KEYS,
    )
    .unwrap();
    // As written: a Host is compared with them ignoring case.
    assert_eq!(
        loaded.config.gateway.allowed_hosts,
        ["Clawgate.Internal", "[::1]", "[fd00::1]"]
    );
    let errors = errors_of(
        "{gateway: {allowedHosts: ['myhost:8080', 'http://x/']}}",
        &ALL_KEYS,
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("gateway.allowedHosts[0]: expected a host name"),
        "{errors:?}"
    );
    // A secret put there by mistake is masked in its error, in any case.
    let secret = "MixedCaseTokenValue0123456789abcd";
    let env = [ALL_KEYS.as_slice(), &[("CLAWGATE_TOKEN", secret)]].concat();
    let text =
        "{gateway: {auth: {token: '${CLAWGATE_TOKEN}'}, allowedHosts: ['${CLAWGATE_TOKEN}:1']}}";
    let errors = errors_of(text, &env).join("\n");
    assert!(errors.contains("found \"[redacted]:1\""), "{errors}");
    assert!(
        !errors.to_lowercase().contains(&secret.to_lowercase()),
        "{errors}"
    );
}

#[test]
fn unknown_keys_in_clawgate_sections_fail_the_config() {
    for (text, path, nearest) in [
        (
            "{gateway: {authToken: 't'}}",
            "gateway.authToken",
            "gateway.auth.token",
        ),
        (
            "{gateway: {timeouts: {firstByte: 5}}}",
            "gateway.timeouts.firstByte",
            "gateway.timeouts.firstByteSeconds",
        ),
        (
            "{gateway: {maxBody: 5}}",
            "gateway.maxBody",
            "gateway.maxBodyBytes",
        ),
        (
            "{agents: {defaults: {fallbacks: ['openrouter/moonshotai/kimi-k2.6']}}}",
            "agents.defaults.fallbacks",
            "agents.defaults.model.fallbacks",
        ),
        (
            "{agents: {defaults: {thinking: 'low'}}}",
            "agents.defaults.thinking",
            "agents.defaults.thinkingDefault",
        ),
    ] {
        let errors = errors_of(text, &ALL_KEYS);
        assert_eq!(errors.len(), 1, "{text}: {errors:#?}");
        assert!(
            errors[0].starts_with(&format!("{path}: unknown key"))
                && errors[0].contains(&format!("did you mean `{nearest}`?")),
            "{text}: {}",
            errors[0]
        );
    }
}

#[test]
fn impossible_base_urls_are_errors_at_the_provider_only() {
    let text = r#"{
        models: { providers: { local: { baseUrl: "http://127.0.0.1:8080/v1/chat/completions", models: [{ id: "m" }] } } },
        agents: { defaults: { model: { primary: "local/m" } } },
    }"#;
    assert_eq!(
        errors_of(text, &ALL_KEYS),
        [
            "models.providers.local.baseUrl: ends in /chat/completions, which clawgate appends itself; use \"http://127.0.0.1:8080/v1\""
        ]
    );
    let text =
        r#"{ models: { providers: { openrouter: { baseUrl: "https://openrouter.ai/v1" } } } }"#;
    assert_eq!(
        errors_of(text, &ALL_KEYS),
        [
            "models.providers.openrouter.baseUrl: openrouter.ai serves the openai-completions API under \"/api/v1\", not \"/v1\"; use \"https://openrouter.ai/api/v1\""
        ]
    );
}

#[test]
fn literal_secrets_are_warned_about_with_the_variable_to_use() {
    let text = r#"{
        gateway: { auth: { token: "plain-token" } },
        models: { providers: {
            moonshot: { apiKey: "sk-literal-moonshot" },
            "my-llm": { baseUrl: "http://127.0.0.1:8080/v1", apiKey: "sk-literal-local", models: [{ id: "m" }] },
            openrouter: { apiKey: "${OPENROUTER_API_KEY}" },
        } },
    }"#;
    let loaded = load(text, &ALL_KEYS).unwrap();
    assert_eq!(
        loaded.literal_secrets,
        [
            "models.providers.moonshot.apiKey",
            "models.providers.my-llm.apiKey",
            "gateway.auth.token"
        ]
    );
    let warnings = loaded.warnings.join("\n");
    for expected in [
        "models.providers.moonshot.apiKey: a secret written in the config file; write \"${MOONSHOT_API_KEY}\" here, and its value in the env file clawgate reads (~/.config/clawgate/secrets.env, or the one --env-file names; under systemd, the service's EnvironmentFile=), chmod 600",
        "models.providers.my-llm.apiKey: a secret written in the config file; write \"${MY_LLM_API_KEY}\" here, and its value in the env file clawgate reads (~/.config/clawgate/secrets.env, or the one --env-file names; under systemd, the service's EnvironmentFile=), chmod 600",
        "gateway.auth.token: a secret written in the config file; write \"${CLAWGATE_TOKEN}\" here, and its value in the env file clawgate reads (~/.config/clawgate/secrets.env, or the one --env-file names; under systemd, the service's EnvironmentFile=), chmod 600",
    ] {
        assert!(
            warnings.contains(expected),
            "{expected} not in:\n{warnings}"
        );
    }
    assert!(!warnings.contains("sk-literal"), "{warnings}");

    // A key in the config's own env block is in the file too, unless the
    // environment overrides it.
    let text = r#"{ env: { vars: { OPENROUTER_API_KEY: "sk-in-file" } } }"#;
    let loaded = load(text, &[("MOONSHOT_API_KEY", "k")]).unwrap();
    assert_eq!(loaded.literal_secrets, ["env.vars.OPENROUTER_API_KEY"]);
    assert_eq!(
        loaded.warnings,
        [
            "env.vars.OPENROUTER_API_KEY: a secret written in the config file (used by models.providers.openrouter.apiKey); move it to the env file clawgate reads (~/.config/clawgate/secrets.env, or the one --env-file names; under systemd, the service's EnvironmentFile=), chmod 600"
        ]
    );
    let overridden = load(
        text,
        &[("MOONSHOT_API_KEY", "k"), ("OPENROUTER_API_KEY", "k")],
    )
    .unwrap();
    assert!(overridden.literal_secrets.is_empty());
    // So is a store URL's password, and a credential header's value, from
    // the block: a file the Nix modules put in the store.
    let text = r#"{ env: { CLAWGATE_LEDGER_URL: "postgresql://gw:hunter2-secret@db.example/usage",
        HDR_TOKEN: "hdr-token-0123456789" },
        ledger: { store: "${CLAWGATE_LEDGER_URL}" },
        models: { providers: { proxy: { baseUrl: "https://proxy.example.com/v1",
          headers: { Authorization: "Bearer ${HDR_TOKEN}" }, models: [{ id: "m" }] } } } }"#;
    let loaded = load(text, &ALL_KEYS).unwrap();
    assert_eq!(
        loaded.literal_secrets,
        ["env.HDR_TOKEN", "env.CLAWGATE_LEDGER_URL"]
    );
    let warnings = loaded.warnings.join("\n");
    let said =
        "env.CLAWGATE_LEDGER_URL: a secret written in the config file (used by ledger.store)";
    assert!(warnings.contains(said), "{warnings}");
    // A store URL without a password holds no secret; a password alone in
    // a variable is one, and the host beside it none.
    let text = r#"{ env: { CLAWGATE_LEDGER_URL: "postgresql://gw@db.example/usage" },
        ledger: { store: "${CLAWGATE_LEDGER_URL}" } }"#;
    assert!(load(text, &ALL_KEYS).unwrap().literal_secrets.is_empty());
    let text = r#"{ env: { PW: "hunter2-secret", HOST: "db.example" },
        ledger: { store: "postgresql://gw:${PW}@${HOST}/usage" } }"#;
    assert_eq!(load(text, &ALL_KEYS).unwrap().literal_secrets, ["env.PW"]);

    // A credential written in a header, the provider's or a model's.
    let text = r#"{ models: { providers: { proxy: { baseUrl: "https://proxy.example.com/v1",
        headers: { Authorization: "Bearer sk-literal-header-0123" },
        models: [{ id: "m", headers: { "x-api-key": "literal-model-key-0123" } }] } } } }"#;
    let loaded = load(text, &ALL_KEYS).unwrap();
    assert_eq!(
        loaded.literal_secrets,
        [
            "models.providers.proxy.headers.Authorization",
            "models.providers.proxy.models[0].headers.x-api-key"
        ]
    );
    // A client's key from the config's own env block is refused, as one
    // written in place is.
    let text = r#"{ env: { CI_KEY: "ci-client-key-0123456789abcdef" },
        gateway: { clients: { ci: { key: "${CI_KEY}" } } } }"#;
    let errors = errors_of(text, &ALL_KEYS).join("\n");
    assert!(
        errors.contains("gateway.clients.ci.key: its key comes from env.CI_KEY, in the config file, where a client's key is refused"),
        "{errors}"
    );
    assert!(!errors.contains("ci-client-key"), "{errors}");
}

#[test]
fn unknown_refs_suggest_the_nearest_and_a_bare_id_is_found_under_its_provider() {
    let errors = errors_of(
        r#"{agents: {defaults: {model: {primary: "kimi-for-coding", fallbacks: ["openruter/moonshotai/kimi-k2.6"]}}}}"#,
        &ALL_KEYS,
    );
    assert_eq!(
        errors,
        [
            "agents.defaults.model.primary: \"kimi-for-coding\" is neither an alias nor a provider/model ref; did you mean `kimi/kimi-for-coding`?",
            "agents.defaults.model.fallbacks[0]: unknown provider \"openruter\" in \"openruter/moonshotai/kimi-k2.6\"; did you mean `openrouter/moonshotai/kimi-k2.6`?",
        ]
    );
    // An empty ref is said to be empty, not near a model.
    let errors = errors_of(r#"{agents: {defaults: {model: {primary: ""}}}}"#, &ALL_KEYS);
    assert_eq!(
        errors,
        ["agents.defaults.model.primary: empty: name a provider/model ref (`kimi/k3`) or an alias"]
    );
    let config = load("{}", &ALL_KEYS).unwrap().config;
    // A bare id one provider has is that provider's; OpenRouter's ids hold a `/`.
    for (name, resolved) in [
        ("kimi-for-coding", Some("kimi/kimi-for-coding")),
        (
            "moonshotai/kimi-k2.6",
            Some("openrouter/moonshotai/kimi-k2.6"),
        ),
        ("kimi-k2.6", Some("moonshot/kimi-k2.6")),
        ("kimi-k9", None),
    ] {
        assert_eq!(
            config.resolve(name).map(|r| r.to_string()).as_deref(),
            resolved,
            "{name}"
        );
    }
    let unknown = config.chain(Some("moonshot/kimi-k2.66")).unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "unknown model `moonshot/kimi-k2.66`: not a configured provider/model ref or alias; did you mean `moonshot/kimi-k2.6`? (GET /v1/models and `clawgate models list` list them)"
    );
}

#[test]
fn clients_keys_models_and_limits_are_checked_with_their_paths() {
    let config = |clients: serde_json::Value| {
        json!({
            "models": {"mode": "replace", "providers": {
                "p": {"baseUrl": "https://p.example/v1", "apiKey": "${P_KEY}",
                      "models": [{"id": "m", "cost": {"input": 1, "output": 2}}]}}},
            "agents": {"defaults": {"model": {"primary": "p/m"}}},
            "gateway": {"auth": {"token": "${TOKEN}"}, "clients": clients},
        })
        .to_string()
    };
    let env = [
        ("P_KEY", "sk-p"),
        ("TOKEN", "the-admin-token-0123456789"),
        ("ALICE_KEY", "alice-key-0123456789abcdef"),
        ("SHORT_KEY", "k3y-5"),
    ];
    let good_digest = "a".repeat(64);
    let loaded = load(
        &config(json!({
            "alice": {"key": "${ALICE_KEY}", "models": ["p/m", "default"],
                      "limits": {"requestsPerMinute": 60, "tokensPerMinute": 100000, "concurrentRequests": 4},
                      "budgets": {"daily": 5, "providers": {"p": {"monthly": 50}}}},
            "ci": {"key": format!("sha256:{good_digest}")},
        })),
        &env,
    )
    .unwrap();
    let clients = &loaded.config.gateway.clients;
    let alice = clients.get("alice").unwrap();
    assert_eq!(alice.limits.requests_per_minute, Some(60));
    assert_eq!(alice.budgets.limits.len(), 2);
    assert_eq!(alice.budgets.limits[0].client.as_deref(), Some("alice"));
    assert!(clients.find("alice-key-0123456789abcdef").is_some());
    assert!(clients.find("the-admin-token-0123456789").unwrap().admin);
    assert!(clients.find("alice-key-0123456789abcdeX").is_none());
    // No key is ever printed, not even by Debug.
    let debug = format!("{:?}", loaded.config);
    assert!(!debug.contains("alice-key-0123456789abcdef"), "{debug}");
    // Nor a digest (ci's is 0xaa, 32 times).
    assert!(
        debug.contains("\"ci\"") && !debug.contains("170, 170"),
        "{debug}"
    );

    let errors = errors_of(
        &config(json!({
            "literal": {"key": "alice-key-written-in-the-file"},
            "badhex": {"key": "sha256:1234"},
            "nothex": {"key": format!("sha256:{}", "z".repeat(64))},
            // `printf %s "$KEY" | sha256sum` with KEY unset, and the hash of
            // "test", once the docs' example.
            "unset": {"key": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
            "example": {"key": "sha256:9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"},
            "short": {"key": "${SHORT_KEY}"},
            "nokey": {},
            "twin": {"key": "${ALICE_KEY}"},
            "alice": {"key": "${ALICE_KEY}"},
            "token": {"key": "${ALICE_KEY}"},
            "bad name": {"key": "${ALICE_KEY}"},
            "limited": {"key": format!("sha256:{good_digest}"),
                        "limits": {"requestsPerMinute": 0, "concurrentRequests": 2000000},
                        "models": ["p/nope"], "budgets": {"daily": -1}},
        })),
        &env,
    );
    let expected = [
        "gateway.clients.literal.key: expected \"${VAR}\" (the client's key in the environment file) or \"sha256:\" and the key's SHA-256 in hex",
        "gateway.clients.badhex.key: expected 64 hex digits after \"sha256:\", found 4 characters",
        "gateway.clients.nothex.key: expected 64 hex digits after \"sha256:\", found 64 characters, not all hex digits",
        "gateway.clients.unset.key: this is the SHA-256 of the empty string (`$KEY` was unset when it was hashed?), a key anyone can send; make a key with `openssl rand -hex 32`",
        "gateway.clients.example.key: this is the SHA-256 of \"test\", the docs' example, a key anyone can send",
        "gateway.clients.short.key: the key from the environment is 5 characters; a client key needs at least 16",
        "gateway.clients.nokey.key: missing",
        "gateway.clients.twin.key: the same key as gateway.clients.alice.key; each client needs a key of its own",
        "gateway.clients.token: the name \"token\" is reserved",
        "gateway.clients.bad name: a client's name is 1 to 64 letters",
        "gateway.clients.limited.limits.requestsPerMinute: expected a whole number from 1 to 1000000, found 0",
        "gateway.clients.limited.limits.concurrentRequests: expected a whole number from 1 to 1000000, found 2000000",
        "gateway.clients.limited.models[0]: unknown model `p/nope`",
        "gateway.clients.limited.budgets.daily: expected an amount in USD, 0 or more, found -1",
    ];
    for wanted in expected {
        assert!(
            errors.iter().any(|e| e.starts_with(wanted)),
            "no error starting {wanted:?} in:\n{}",
            errors.join("\n")
        );
    }
    let all = errors.join("\n");
    assert!(!all.contains("alice-key"), "{all}");
    // A key equal to the token is the token's.
    let errors = errors_of(&config(json!({"x": {"key": "${TOKEN}"}})), &env);
    assert!(
        errors[0].starts_with("gateway.clients.x.key: the same key as gateway.auth.token"),
        "{errors:?}"
    );
    // A client is a key, so a non-loopback bind may serve with clients only.
    let mut open = serde_json::from_str::<serde_json::Value>(&config(json!({
        "alice": {"key": "${ALICE_KEY}"}})))
    .unwrap();
    open["gateway"]["bind"] = json!("0.0.0.0");
    open["gateway"]["auth"] = json!({});
    assert!(load(&open.to_string(), &env).is_ok());
}

/// `ledger.store` as the user writes it, with `env`: the store shown
/// (password hidden), or the errors.
fn store_of(ledger: serde_json::Value, env: &[(&str, &str)]) -> Result<String, Vec<String>> {
    let env: Vec<(&str, &str)> = ALL_KEYS
        .iter()
        .copied()
        .chain(env.iter().copied())
        .collect();
    let loaded = load(&json!({ "ledger": ledger }).to_string(), &env)?;
    Ok(loaded
        .config
        .ledger
        .store
        .map_or("(sqlite)".into(), |url| url.shown().to_string()))
}

#[test]
fn ledger_store_takes_a_postgres_url_from_the_environment_and_shows_it_without_its_password() {
    let check = |ledger: serde_json::Value, env: &[(&str, &str)], expected: &str| {
        assert_eq!(
            store_of(ledger.clone(), env).as_deref(),
            Ok(expected),
            "{ledger}"
        );
    };
    check(json!({}), &[], "(sqlite)");
    check(
        json!({"store": "postgresql:///clawgate?host=/run/postgresql"}),
        &[],
        "postgresql:///clawgate?host=/run/postgresql",
    );
    check(
        json!({"store": "${PG_URL}"}),
        &[(
            "PG_URL",
            "postgres://gw:hunter2-secret@127.0.0.1:5432/usage",
        )],
        "postgres://gw:****@127.0.0.1:5432/usage",
    );
    check(
        json!({"store": "postgres://gw:${PG_PASSWORD}@localhost/usage"}),
        &[("PG_PASSWORD", "hunter2-secret")],
        "postgres://gw:****@localhost/usage",
    );
    check(
        json!({"store": "${PG_URL}"}),
        &[(
            "PG_URL",
            "postgresql://gw:hunter2-secret@/usage?host=/run/postgresql",
        )],
        "postgresql://gw:****@/usage?host=/run/postgresql",
    );
    check(
        json!({"store": "${PG_URL}"}),
        &[(
            "PG_URL",
            "postgres://gw@localhost/usage?password=hunter2-secret&sslmode=disable",
        )],
        "postgres://gw@localhost/usage?password=****&sslmode=disable",
    );
}

#[test]
fn a_ledger_store_password_with_plus_signs_is_scrubbed_as_the_client_reads_it() {
    // As PostgreSQL's client reads these URLs, the password is pa+ss+w0rd
    // in each: percent-decoded, `+` a plus in the userinfo and the query.
    for url in [
        "postgresql://gw:pa+ss%2Bw0rd@/usage?host=/run/postgresql",
        "postgresql://gw@/usage?host=/run/postgresql&password=pa+ss%2Bw0rd",
    ] {
        let env: Vec<(&str, &str)> = ALL_KEYS.iter().copied().chain([("PG_URL", url)]).collect();
        let loaded = load(&json!({"ledger": {"store": "${PG_URL}"}}).to_string(), &env)
            .unwrap_or_else(|errors| panic!("{url}: {errors:?}"));
        // What `clawgate config show` prints.
        let shown = loaded.config.redacted().to_string();
        for form in ["pa+ss+w0rd", "pa+ss%2Bw0rd", "pa ss"] {
            assert!(!shown.contains(form), "{url}: {shown}");
        }
        // What every error and log line goes through.
        let message = loaded
            .config
            .redactor
            .scrub("FATAL: password authentication failed: pa+ss+w0rd");
        assert!(!message.contains("pa+ss+w0rd"), "{url}: {message}");
    }
}

#[test]
fn a_bad_ledger_store_is_a_config_error_that_never_quotes_the_password() {
    let check = |ledger: serde_json::Value, env: &[(&str, &str)], expected: &str| {
        let errors = store_of(ledger.clone(), env).expect_err("an error");
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{ledger}: {errors:?} lack {expected:?}"
        );
        assert!(!errors.join(" ").contains("hunter2"), "{errors:?}");
    };
    let env = |url| [("PG_URL", url)];
    check(
        json!({"store": "${PG_URL}"}),
        &env("mysql://gw:hunter2@localhost/usage"),
        "ledger.store: expected a postgres:// or postgresql:// URL",
    );
    check(
        json!({"store": "${PG_URL}"}),
        &env("mysql://gw:hunter2@localhost/usage"),
        "found a mysql:// URL",
    );
    check(
        json!({"store": "/var/lib/clawgate/ledger.db"}),
        &[],
        "found no scheme",
    );
    check(
        json!({"store": "${PG_URL}"}),
        &env("postgres://gw:hunter2@[::1/usage"),
        "ledger.store: not a valid URL",
    );
    check(
        json!({"store": "${PG_URL}"}),
        &env("postgres://gw:hunter2@localhost/usage?colour=blue"),
        "unknown URL parameter \"colour\"",
    );
    // A value the PostgreSQL client cannot read: refused here, as it would
    // be at start, where the gateway could only count in memory.
    for (query, option) in [
        ("connect_timeout=10s", "connect_timeout"),
        ("keepalives=maybe", "keepalives"),
        ("target_session_attrs=bogus", "target_session_attrs"),
        ("load_balance_hosts=x", "load_balance_hosts"),
    ] {
        let url = format!("postgres://gw:hunter2@localhost/usage?{query}");
        check(
            json!({"store": "${PG_URL}"}),
            &[("PG_URL", url.as_str())],
            &format!(
                "ledger.store: invalid connection string: invalid value for option `{option}`"
            ),
        );
    }
    check(
        json!({"store": "${PG_URL}"}),
        &env("postgres://gw:hunter2@localhost:abc/usage"),
        "ledger.store: not a valid URL (invalid port number)",
    );
    check(
        json!({"store": "${PG_URL}"}),
        &env("postgres://gw:hunter2@db.example/usage?sslmode=require"),
        "ledger.store: sslmode: clawgate connects to PostgreSQL without TLS",
    );
    check(
        json!({"store": "${PG_URL}"}),
        &[],
        "ledger.store: environment variable PG_URL is not set",
    );
    check(
        json!({"store": "postgresql:///c?host=/run/postgresql", "path": "/var/lib/l.db"}),
        &[],
        "ledger.path: ledger.path is the SQLite ledger's file",
    );
    check(json!({"stores": "postgresql:///c"}), &[], "ledger.stores");
    // An `@` the PostgreSQL client would end the password at, and look the
    // rest up as a host.
    for url in [
        "postgresql://gw:hun@ter2@localhost:5432/usage",
        "postgresql://gw@x:hunter2@localhost/usage",
    ] {
        check(
            json!({"store": "${PG_URL}"}),
            &env(url),
            "ledger.store: the user or password holds an `@`: write it `%40`",
        );
    }
}

#[test]
fn config_show_names_the_ledger_store_with_its_password_hidden() {
    let shown = |ledger: serde_json::Value, env: &[(&str, &str)], secrets: Secrets| {
        let env: Vec<(&str, &str)> = ALL_KEYS
            .iter()
            .copied()
            .chain(env.iter().copied())
            .collect();
        let loaded = config::load_str(
            &json!({ "ledger": ledger }).to_string(),
            &Environment::from_pairs(env),
            secrets,
        )
        .unwrap();
        let text = loaded.config.redacted().to_string();
        assert!(!text.contains("hunter2"), "{text}");
        loaded.config.redacted()["ledger"].clone()
    };
    let store =
        |ledger, env: &[(&str, &str)]| shown(ledger, env, Secrets::Required)["store"].clone();
    // A password, from the environment or written in the file: `****`.
    assert_eq!(
        store(
            json!({"store": "${PG_URL}"}),
            &[(
                "PG_URL",
                "postgres://gw:hunter2-secret@127.0.0.1:5432/usage"
            )]
        ),
        "postgres://gw:****@127.0.0.1:5432/usage"
    );
    assert_eq!(
        store(
            json!({"store": "postgres://gw:${PG_PASSWORD}@localhost/usage?password=hunter2"}),
            &[("PG_PASSWORD", "hunter2-secret")]
        ),
        "postgres://gw:****@localhost/usage?password=****"
    );
    // No password: the whole URL, from the environment too (it holds no
    // secret, and says which database is written to).
    assert_eq!(
        store(
            json!({"store": "${PG_URL}"}),
            &[(
                "PG_URL",
                "postgresql://clawgate@/clawgate?host=/run/postgresql"
            )]
        ),
        "postgresql://clawgate@/clawgate?host=/run/postgresql"
    );
    // Offline (`config show` without the service's environment).
    assert_eq!(
        shown(json!({"store": "${PG_URL}"}), &[], Secrets::Offline)["store"],
        "missing: ${PG_URL} is not set"
    );
    // The SQLite ledger: no store, the file and the rest as set.
    assert_eq!(
        shown(
            json!({"path": "/srv/clawgate/ledger.db", "retentionDays": 30}),
            &[],
            Secrets::Required
        ),
        json!({"enabled": true, "path": "/srv/clawgate/ledger.db", "retentionDays": 30, "store": null})
    );
}

#[test]
fn a_password_written_in_ledger_store_is_warned_about_and_scrubbed() {
    let env: Vec<(&str, &str)> = ALL_KEYS.to_vec();
    let loaded = load(
        &json!({"ledger": {"store": "postgres://gw:hunter2-secret@localhost/usage"}}).to_string(),
        &env,
    )
    .unwrap();
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.starts_with("ledger.store: a password written in the config file")),
        "{:?}",
        loaded.warnings
    );
    assert_eq!(
        loaded
            .config
            .redactor
            .scrub("connecting with hunter2-secret"),
        "connecting with [redacted]"
    );
}

#[test]
fn config_show_hides_url_queries_and_a_base_url_refuses_credentials() {
    // A query may hold a key under any name, from the environment or not.
    let loaded = load(
        r#"{models: {providers: {gw: {baseUrl: "https://gw.example/v1?api-key=q9Zk3vL0pW", apiKey: "${MOONSHOT_API_KEY}",
            models: [{id: "m"}]}}},
           gateway: {telemetry: {endpoint: "https://otlp.example?code=x8Yq2mR7tT"}}}"#,
        &ALL_KEYS,
    )
    .unwrap();
    let shown = loaded.config.redacted();
    let text = shown.to_string();
    for secret in ["q9Zk3vL0pW", "x8Yq2mR7tT"] {
        assert!(!text.contains(secret), "{text}");
    }
    assert_eq!(
        shown["models"]["providers"]["gw"]["baseUrl"],
        "https://gw.example/v1?…"
    );
    assert_eq!(
        shown["gateway"]["telemetry"]["tracesUrl"],
        "https://otlp.example/v1/traces?…"
    );
    // A user or password in a base would be shown wherever the URL is.
    let errors = errors_of(
        r#"{models: {providers: {gw: {baseUrl: "https://gw:S3cretPass@gw.example/v1", apiKey: "${MOONSHOT_API_KEY}",
            models: [{id: "m"}]}}}}"#,
        &ALL_KEYS,
    );
    let errors = errors.join("\n");
    assert!(
        errors.contains("models.providers.gw.baseUrl: a user or password in the URL"),
        "{errors}"
    );
    assert!(!errors.contains("S3cretPass"), "{errors}");
}

#[test]
fn a_legacy_model_id_written_as_a_model_of_its_own_gets_a_note() {
    // Seed 001's Kimi Coding model, as its Nix settings write it.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seeds/001-01-translated.json5"
    ))
    .unwrap();
    let loaded = load(&text, &[("KIMI_API_KEY", "k"), ("OPENROUTER_API_KEY", "k")]).unwrap();
    assert!(
        loaded.warnings.iter().any(|w| w
            == "models.providers.kimi.models: \"kimi-k2p5\" is a legacy id of kimi/kimi-for-coding; this entry is sent as \"kimi-k2p5\", which the provider may no longer know: write id: \"kimi-for-coding\" (or leave the entry out: the catalog has it)"),
        "{:?}",
        loaded.warnings
    );
    // The current id has no note.
    let current = text.replace("kimi-k2p5", "kimi-for-coding");
    let loaded = load(
        &current,
        &[("KIMI_API_KEY", "k"), ("OPENROUTER_API_KEY", "k")],
    )
    .unwrap();
    assert!(
        !loaded.warnings.iter().any(|w| w.contains("legacy id")),
        "{:?}",
        loaded.warnings
    );
}

/// The checks of single values, each named at its path: an empty token, a
/// retention out of bounds, a header name no HTTP request can carry, on a
/// provider and on a model; a provider without `baseUrl` that nothing
/// routes to is skipped with a warning.
#[test]
fn single_values_out_of_bounds_are_named_at_their_path() {
    let text = r#"{
        gateway: { auth: { token: "" } },
        ledger: { retentionDays: 0 },
        models: { providers: {
            local: { baseUrl: "http://127.0.0.1:9/v1", headers: { "bad name": "x" },
                     models: [{ id: "m", headers: { "x(y)": "z" } }] },
            fragment: { headers: { "x-extra": "1" } },
        } },
        agents: { defaults: { model: { primary: "local/m" } } },
    }"#;
    let errors = errors_of(text, &[]);
    let expected = [
        "gateway.auth.token: must not be empty; remove it to disable authentication",
        "ledger.retentionDays: expected a number of days between 1 and 3650, found 0",
        "models.providers.local.headers.bad name: invalid header name",
        "models.providers.local.models[0].headers.x(y): invalid header name",
    ];
    for line in expected {
        assert!(
            errors.contains(&line.to_string()),
            "missing {line:?} in:\n{}",
            errors.join("\n")
        );
    }
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");

    let without_errors = r#"{
        models: { providers: {
            local: { baseUrl: "http://127.0.0.1:9/v1", models: [{ id: "m" }] },
            fragment: { headers: { "x-extra": "1" } },
        } },
        agents: { defaults: { model: { primary: "local/m" } } },
    }"#;
    let loaded = load(without_errors, &[]).unwrap();
    assert!(
        (loaded.warnings.iter())
            .any(|w| w == "models.providers.fragment: no baseUrl; the provider is skipped"),
        "{:#?}",
        loaded.warnings
    );
    assert!(!loaded.config.providers.contains_key("fragment"));
}

/// serde stops at a section's first wrong type; every other one in the
/// section is listed too, at its path, in one pass (but after a list's
/// element of the wrong type: it cannot be taken out without renumbering
/// the elements after it).
#[test]
fn every_wrong_type_in_a_section_is_listed() {
    let text = r#"{
        gateway: { timeouts: { firstByteSeconds: "20" }, bind: 5, port: "x", maxBodyBytes: "big" },
        models: { providers: { local: { baseUrl: "http://127.0.0.1:9/v1", api: 1,
                                        models: [{ id: "m", contextWindow: "big", reasoning: "yes" }] } } },
        agents: { defaults: { model: { primary: "local/m" } } },
    }"#;
    let mut errors = errors_of(text, &[]);
    errors.sort();
    assert_eq!(
        errors,
        [
            "gateway.bind: invalid type: integer, expected a string",
            "gateway.maxBodyBytes: invalid type: string, expected a whole number, 0 or more",
            "gateway.port: invalid type: string, expected a whole number from 0 to 65535",
            "gateway.timeouts.firstByteSeconds: invalid type: string, expected a number",
            "models.providers.local.api: invalid type: integer, expected a string",
            "models.providers.local.models[0].contextWindow: invalid type: string, expected a whole number, 0 or more",
            "models.providers.local.models[0].reasoning: invalid type: string, expected a boolean",
        ],
    );
}

/// A `${VAR}` left unset in a provider's `baseUrl` is an error naming the
/// variable, with the secrets or without: it would be sent as written
/// (`http://${p_host}:9/v1`), where an unset key only leaves its target
/// out.
#[test]
fn an_unset_variable_in_a_base_url_is_an_error_naming_it() {
    let env = Environment::from_pairs([("P_KEY", "k-0123456789abcdef")]);
    for (base_url, var) in [("http://${P_HOST}:9/v1", "P_HOST"), ("${P_URL}", "P_URL")] {
        let text = json!({
            "models": {"mode": "replace", "providers": {"p": {
                "baseUrl": base_url, "apiKey": "${P_KEY}", "models": [{"id": "m"}]}}},
            "agents": {"defaults": {"model": "p/m"}},
        })
        .to_string();
        for secrets in [Secrets::Required, Secrets::Offline] {
            let error = config::load_str(&text, &env, secrets)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(&format!(
                    "models.providers.p.baseUrl: environment variable {var} is not set"
                )),
                "{error}"
            );
            assert!(!error.contains("expected an http(s) URL"), "{error}");
        }
    }
}

/// OpenClaw's `$include`: a file, or a list of them, relative to the file
/// that names it, merged in order with the object's own members over them
/// (objects member by member, lists one after the other); an include of
/// itself, a file that is not there and a syntax error in an included file
/// are errors naming the file, at the `$include`.
#[test]
fn openclaws_include_is_read_as_openclaw_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    };
    let load_file = |path: &Path| {
        config::load(
            &Source::File(path.to_path_buf()),
            &Environment::from_pairs(ALL_KEYS),
            Secrets::Required,
        )
        .map_err(|errors| errors.0.iter().map(ToString::to_string).collect::<Vec<_>>())
    };
    write(
        "parts/models.json5",
        "{providers: {moonshot: {baseUrl: 'http://127.0.0.1:9/v1'}}, $include: './more.json5'}",
    );
    write(
        "parts/more.json5",
        "{providers: {local: {baseUrl: 'http://127.0.0.1:8/v1', apiKey: 'k', models: [{id: 'a'}]}}}",
    );
    write(
        "fallbacks.json5",
        "{fallbacks: ['openrouter/moonshotai/kimi-k2.6']}",
    );
    let main = write(
        "config.json5",
        "{models: {$include: './parts/models.json5'},
          agents: {defaults: {model: {$include: ['./fallbacks.json5'], primary: 'moonshot/kimi-k2.6',
                                      fallbacks: ['local/a']}}}}",
    );
    let loaded = load_file(&main).unwrap();
    let config = &loaded.config;
    assert_eq!(
        config.providers["moonshot"].base_url.as_str(),
        "http://127.0.0.1:9/v1"
    );
    assert!(config.providers.contains_key("local"));
    let chain: Vec<String> = (config.chain(None).unwrap().iter())
        .map(|target| target.model_ref.to_string())
        .collect();
    assert_eq!(
        chain,
        [
            "moonshot/kimi-k2.6",
            "openrouter/moonshotai/kimi-k2.6",
            "local/a"
        ]
    );
    assert!(
        !loaded.ignored.iter().any(|key| key.contains("$include")),
        "{:?}",
        loaded.ignored
    );

    let error_of = |text: &str| load_file(&write("bad.json5", text)).unwrap_err().join("\n");
    let cycle = write("loop.json5", "{$include: './bad.json5'}");
    let errors = error_of("{models: {$include: './loop.json5'}}");
    assert!(errors.contains("models.$include: in "), "{errors}");
    assert!(errors.contains("includes itself:"), "{errors}");
    assert!(errors.contains(&cycle.display().to_string()), "{errors}");
    let errors = error_of("{models: {$include: './none.json5'}}");
    assert!(errors.starts_with("models.$include: in "), "{errors}");
    assert!(errors.contains("none.json5: cannot read"), "{errors}");
    write("broken.json5", "{providers: {,}}");
    let errors = error_of("{models: {$include: 'broken.json5'}}");
    assert!(errors.contains("broken.json5"), "{errors}");
    write("list.json5", "['a']");
    let errors = error_of("{models: {$include: 'list.json5', mode: 'merge'}}");
    assert!(
        errors.contains("models.$include: the files hold no object"),
        "{errors}"
    );
    // Ten levels deep at most.
    for level in 0..11 {
        write(
            &format!("deep{level}.json5"),
            &format!("{{$include: './deep{}.json5'}}", level + 1),
        );
    }
    write("deep11.json5", "{}");
    let errors = error_of("{models: {$include: './deep0.json5'}}");
    assert!(
        errors.contains("more than 10 levels of $include"),
        "{errors}"
    );
    let errors = error_of("{models: {$include: 3}}");
    assert!(
        errors.contains("models.$include: expected a file name or a list of file names"),
        "{errors}"
    );
}

/// OpenClaw writes zeros where it knows no price: pasted over a model the
/// catalog prices, they would make it free unseen, so a warning says so;
/// over a model the catalog gives no price, or prices at zero, nothing.
#[test]
fn an_openclaw_cost_of_zeros_over_a_priced_catalog_model_is_warned_about() {
    let zeros = "cost: {input: 0, output: 0, cacheRead: 0, cacheWrite: 0}";
    let warnings = |provider: &str, model: &str| {
        let text = format!(
            "{{models: {{providers: {{{provider}: {{models: [{{id: '{model}', {zeros}}}]}}}}}}, agents: {{defaults: {{model: '{provider}/{model}'}}}}}}"
        );
        load(&text, &ALL_KEYS).unwrap().warnings.join("\n")
    };
    let warned = warnings("moonshot", "kimi-k2.6");
    assert!(
        warned.contains(
            "models.providers.moonshot.models (kimi-k2.6): a cost of zeros makes the model free"
        ),
        "{warned}"
    );
    let warned = warnings("kimi", "kimi-for-coding");
    assert!(!warned.contains("a cost of zeros"), "{warned}");
    let warned = warnings("moonshot", "my-own-model");
    assert!(!warned.contains("a cost of zeros"), "{warned}");
}

/// `clawgate config show` prints the gateway's budgets and the reasoning
/// cache's bounds as resolved, beside the rest of `gateway`.
#[test]
fn config_show_prints_the_budgets_and_the_reasoning_cache() {
    let config = json!({"gateway": {"budgets": {"daily": 5},
                                    "reasoningCache": {"maxEntries": 10}}});
    let shown = load(&config.to_string(), &ALL_KEYS)
        .unwrap()
        .config
        .redacted();
    let daily = json!([{"scope": "all traffic", "period": "day", "usd": 5.0}]);
    assert_eq!(shown["gateway"]["budgets"], daily, "{shown}");
    let cache = &shown["gateway"]["reasoningCache"];
    assert_eq!(cache["maxEntries"], 10, "{shown}");
    assert_eq!(cache["maxAgeSeconds"], 21_600.0, "{shown}");
    let off = json!({"gateway": {"reasoningCache": false}});
    let shown = load(&off.to_string(), &ALL_KEYS).unwrap().config.redacted();
    assert_eq!(shown["gateway"]["reasoningCache"], false, "{shown}");
    assert_eq!(shown["gateway"]["budgets"], json!([]), "{shown}");
}

/// What every client is shown (a model's name, an alias: `GET /v1/models`,
/// `clawgate models list`) may not hold a key: one of the config's (a
/// provider's, a client's, the token) or one shaped like a key. A name
/// from a variable that is no key is shown as it is.
#[test]
fn a_key_in_a_models_name_or_an_alias_is_an_error() {
    let env = Environment::from_pairs([
        ("P_KEY", "provkey-0123456789abcdef"),
        ("ALICE_KEY", "alicekey-0123456789abcdef"),
        ("MODEL_NAME", "Kimi for coding"),
    ]);
    // A local server's placeholder key is no key a name can leak.
    let local = json!({
        "models": {"mode": "replace", "providers": {"ollama": {
            "baseUrl": "http://127.0.0.1:11434/v1", "apiKey": "ollama",
            "models": [{"id": "qwen", "name": "qwen on ollama"}]}}},
        "agents": {"defaults": {"model": "ollama/qwen", "models": {
            "ollama/qwen": {"alias": "ollama-coder"}}}},
    });
    config::load_str(&local.to_string(), &env, Secrets::Required).unwrap();
    let text = json!({
        "gateway": {"clients": {"alice": {"key": "${ALICE_KEY}"}}},
        "models": {"mode": "replace", "providers": {"p": {
            "baseUrl": "https://p.example/v1", "apiKey": "${P_KEY}",
            "models": [
                {"id": "m", "name": "${P_KEY}"},
                {"id": "m2", "name": "sk-pasted0123456789abcdefXYZ"},
                {"id": "m3", "name": "${MODEL_NAME}"},
            ]}}},
        "agents": {"defaults": {"model": "p/m3", "models": {
            "p/m": {"alias": "${ALICE_KEY}"},
            "p/m3": {"alias": "coder"},
        }}},
    })
    .to_string();
    let errors = config::load_str(&text, &env, Secrets::Required)
        .unwrap_err()
        .to_string();
    for path in [
        "models.providers.p.models[0].name",
        "models.providers.p.models[1].name",
        "agents.defaults.models.p/m.alias",
    ] {
        let expected = format!("{path}: holds a key (one of this config's, or shaped like one)");
        assert!(errors.contains(&expected), "{path}: {errors}");
    }
    assert!(!errors.contains("m3"), "{errors}");
    for key in ["provkey-0123", "alicekey-0123", "sk-pasted"] {
        assert!(!errors.contains(key), "{errors}");
    }
}

/// A syntax error quotes its line with the values masked but a bare key
/// shown: a key of the environment's, pasted where a key goes, is
/// scrubbed from it; a path, which a message may name, is not.
#[test]
fn a_syntax_error_never_quotes_a_key_of_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("a-home-long-enough-to-be-a-key");
    std::fs::create_dir(&home).unwrap();
    let env = Environment::from_pairs([
        ("CLAWGATE_TOKEN", "tokSECRET0123456789abcdef"),
        ("HOME", home.to_str().unwrap()),
    ]);
    let text = r#"{ gateway: { auth: { token: "${CLAWGATE_TOKEN}" } }, env: { tokSECRET0123456789abcdef: 1,, } }"#;
    let error = config::load_str(text, &env, Secrets::Required)
        .unwrap_err()
        .to_string();
    assert!(error.contains("unexpected `,`"), "{error}");
    assert!(!error.contains("tokSECRET"), "{error}");
    assert!(error.contains("[redacted]"), "{error}");
    // A file that cannot be read is named by its path, the HOME in it.
    let missing = home.join("config.json");
    let error = config::load(&Source::File(missing.clone()), &env, Secrets::Required)
        .unwrap_err()
        .to_string();
    assert!(error.contains(missing.to_str().unwrap()), "{error}");
}
