//! Configs as new users write them, from the README, the seeds and the
//! blogs they copy from, and the guidance each gets at the moment it
//! matters: a budget that would turn the primary off, OpenClaw's own
//! `gateway` section, keys under another name, typographic quotes, Nix
//! pasted into JSON5, a misnamed file, a bare model id two providers serve.

mod common;

use std::path::Path;

use clawgate::config::{self, Environment, Secrets, Source};
use common::*;
use serde_json::{Value, json};

fn load(config: &Value, env: &[(&str, &str)]) -> Result<config::Loaded, String> {
    let env = Environment::from_pairs(env.iter().copied());
    config::load_str(&config.to_string(), &env, Secrets::Required).map_err(|e| e.to_string())
}

fn validate_text(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    shown(&run(
        &["config", "validate", "--config", path.to_str().unwrap()],
        &[],
    ))
}

/// The README's chain (Kimi Coding, then OpenRouter) on mocks, with the
/// README's budget example, exactly as written there.
fn readme_budget_config(kimi: &str, openrouter: &str) -> Value {
    json!({
        "models": {"providers": {
            "kimi": {"baseUrl": kimi},
            "openrouter": {"baseUrl": openrouter},
        }},
        "agents": {"defaults": {"model": {
            "primary": "kimi/kimi-for-coding",
            "fallbacks": ["openrouter/moonshotai/kimi-k2.6"],
        }}},
        "gateway": {"budgets": {"daily": 5, "providers": {"openrouter": {"monthly": 20}}}},
    })
}

const KEYS: [(&str, &str); 2] = [("KIMI_API_KEY", KEY), ("OPENROUTER_API_KEY", KEY)];

/// Kimi Coding is a subscription: free per call, so the README's budgets
/// let it answer, and nothing warns that it has no price.
#[tokio::test]
async fn the_readme_budget_example_keeps_the_subscription_primary() {
    let kimi = healthy_mock().await;
    let openrouter = healthy_mock().await;
    let config = readme_budget_config(&kimi.base_url(), &openrouter.base_url());
    let loaded = load(&config, &KEYS).unwrap();
    assert!(
        !loaded.warnings.iter().any(|w| w.contains("no price")),
        "{:?}",
        loaded.warnings
    );
    let gw = gateway_with_env(config, &KEYS).await;
    let answer = gw
        .chat(json!({"model": "default", "messages": user_message()}))
        .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(header(&answer, "x-clawgate-provider"), "kimi");
    let status = gw.status().await;
    assert_eq!(target(&status, "kimi/kimi-for-coding")["state"], "healthy");
}

/// A primary the budgets refuse for want of a price is an error, not a
/// warning: every request would skip it and pay the fallback.
#[test]
fn a_primary_the_budgets_refuse_is_an_error() {
    let mut config = readme_budget_config("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1");
    config["agents"]["defaults"]["model"]["primary"] = json!("moonshot/kimi-k2-turbo");
    let errors = load(
        &config,
        &[("MOONSHOT_API_KEY", KEY), ("OPENROUTER_API_KEY", KEY)],
    )
    .unwrap_err();
    assert!(
        errors.contains("gateway.budgets: the primary model moonshot/kimi-k2-turbo has no price, so the budgets refuse it and every request would skip it for the fallbacks (gateway.budgets.unpriced is \"refuse\"); give it a cost in models.providers.moonshot.models (0 if calls to it are free), or set gateway.budgets.unpriced to \"allow\""),
        "{errors}"
    );
    // A client's budgets likewise, as far as the client may use the chain.
    let mut client = config.clone();
    client["gateway"] =
        json!({"clients": {"dana": {"key": "${DANA_KEY}", "budgets": {"daily": 1.3}}}});
    let env = [
        ("MOONSHOT_API_KEY", KEY),
        ("OPENROUTER_API_KEY", KEY),
        ("DANA_KEY", "dana-key-0123456789abcdef"),
    ];
    let errors = load(&client, &env).unwrap_err();
    assert!(
        errors.contains("gateway.clients.dana.budgets: the primary model moonshot/kimi-k2-turbo has no price, so the budgets refuse it and every request would skip it for the fallbacks (gateway.clients.dana.budgets.unpriced is \"refuse\"); give it a cost in models.providers.moonshot.models (0 if calls to it are free), or set gateway.clients.dana.budgets.unpriced to \"allow\""),
        "{errors}"
    );
    client["gateway"]["clients"]["dana"]["models"] = json!(["openrouter/moonshotai/kimi-k2.6"]);
    load(&client, &env).unwrap();
    // A cost of zero written by the user is free, not unknown.
    config["models"]["providers"]["moonshot"] = json!({"models": [
        {"id": "kimi-k2-turbo", "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0}},
    ]});
    let loaded = load(
        &config,
        &[("MOONSHOT_API_KEY", KEY), ("OPENROUTER_API_KEY", KEY)],
    )
    .unwrap();
    assert!(
        !loaded
            .warnings
            .iter()
            .any(|w| w.contains("moonshot/kimi-k2-turbo")),
        "{:?}",
        loaded.warnings
    );
}

/// A target the budgets skip says so in the status, the page and the
/// error's attempts: never "healthy", never the provider's "billing".
#[tokio::test]
async fn a_target_over_its_budget_shows_as_such() {
    let kimi = failing_mock(503, "server_error").await;
    let openrouter = healthy_mock().await;
    let mut config = readme_budget_config(&kimi.base_url(), &openrouter.base_url());
    config["gateway"]["budgets"] = json!({"providers": {"openrouter": {"daily": 0}}});
    let gw = gateway_with_env(config, &KEYS).await;
    let status = gw.status().await;
    let openrouter_status = target(&status, "openrouter/moonshotai/kimi-k2.6");
    assert_eq!(openrouter_status["state"], "over_budget", "{status}");
    let why = openrouter_status["overBudget"].as_str().unwrap();
    assert!(
        why.starts_with(
            "the daily budget of $0.00 for provider openrouter is spent ($0.0000); it resets at "
        ),
        "{why}"
    );
    let answer = gw
        .chat(json!({"model": "default", "messages": user_message()}))
        .await;
    let error: Value = answer.json().await.unwrap();
    let attempts = &error["error"]["attempts"];
    assert_eq!(attempts[1]["model"], "openrouter/moonshotai/kimi-k2.6");
    assert_eq!(attempts[1]["outcome"], "over_budget", "{error}");
    // The page says it too.
    let page = gw.page().await;
    assert!(
        page.contains("<span class=\"badge over_budget\">over budget</span><div class=\"muted why\">the daily budget of $0.00 for provider openrouter is spent"),
        "{page}"
    );
}

/// `openclaw.json` taken as it is: its `gateway` section is OpenClaw's
/// (its `mode` says so), so its port and token stay OpenClaw's.
#[test]
fn openclaws_gateway_section_is_not_clawgates_listen_address() {
    let openclaw = json!({
        "gateway": {"mode": "local", "port": 18789, "bind": "loopback",
                    "auth": {"mode": "token", "token": "${OPENCLAW_GATEWAY_TOKEN}"}},
        "agents": {"defaults": {"model": {"primary": "moonshot/kimi-k2.6"}}},
    });
    let loaded = load(&openclaw, &[("MOONSHOT_API_KEY", KEY)]).unwrap();
    assert_eq!(loaded.config.gateway.port, 18700);
    assert!(loaded.config.gateway.auth_token.is_none());
    assert!(
        loaded.warnings.iter().any(|w| w == "gateway: gateway.mode marks this section as OpenClaw's own gateway, so gateway.port (18789), gateway.bind, gateway.auth.token configure OpenClaw, not clawgate; clawgate listens without a token on 127.0.0.1:18700, or where --port and --bind say (or give clawgate a config file of its own)"),
        "{:?}",
        loaded.warnings
    );
    // OpenClaw's port written as clawgate's own is refused, with the fix.
    let errors = load(
        &json!({"gateway": {"port": 18789}}),
        &[("MOONSHOT_API_KEY", KEY), ("OPENROUTER_API_KEY", KEY)],
    )
    .unwrap_err();
    assert!(
        errors.contains("gateway.port: 18789 is OpenClaw's (it listens on 18789-18793 and 18800-18899); leave gateway.port out for clawgate's 18700, or choose a port outside those ranges"),
        "{errors}"
    );
}

/// The seeds export `KIMICODE_API_KEY`; the built-in provider reads
/// `KIMI_API_KEY`. The error names the one that is set.
#[test]
fn a_key_exported_under_the_seeds_name_is_noticed() {
    let config = json!({"agents": {"defaults": {"model": {"primary": "kimi/kimi-for-coding"}}}});
    let errors = load(&config, &[("KIMICODE_API_KEY", "sk-kimi-0123456789")]).unwrap_err();
    assert!(
        errors.contains("models.providers.kimi.apiKey: environment variable KIMI_API_KEY is not set (KIMICODE_API_KEY is: the kimi provider reads KIMI_API_KEY; rename the variable, or write apiKey: \"${KIMICODE_API_KEY}\" in models.providers.kimi)"),
        "{errors}"
    );
    assert!(!errors.contains("sk-kimi-0123456789"), "{errors}");
}

/// Words for the listen address that are spelled near no key clawgate
/// reads: the answer, or no suggestion, never one that points away.
#[test]
fn other_words_for_the_listen_address_point_at_bind() {
    let dir = tempfile::tempdir().unwrap();
    for key in ["listen", "host", "address"] {
        let out = validate_text(
            dir.path(),
            "config.json5",
            &format!("{{ gateway: {{ {key}: \"0.0.0.0\" }} }}"),
        );
        assert!(
            out.contains(&format!("gateway.{key}: unknown key; clawgate does not read it here; did you mean `gateway.bind`? (see docs/configuration.md#gateway)")),
            "{out}"
        );
    }
    let out = validate_text(dir.path(), "config.json5", "{ gateway: { throttle: {} } }");
    assert!(
        out.contains("gateway.throttle: unknown key; clawgate does not read it here (see docs/configuration.md#gateway)"),
        "{out}"
    );
}

/// A ref pasted from a blog with typographic quotes, and Nix pasted into
/// the JSON5 file: each is named for what it is.
#[test]
fn pasted_quotes_and_nix_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = validate_text(
        dir.path(),
        "config.json5",
        "{\n  agents: { defaults: { model: { primary: \u{201c}kimi/kimi-for-coding\u{201d} } } },\n}\n",
    );
    assert!(
        out.contains("invalid JSON5 at line 2, column 43: `\u{201c}` is a typographic quote (pasted from a web page or a document?); JSON5 strings take straight quotes, `\"` or `'`"),
        "{out}"
    );
    assert!(
        out.contains("primary: \u{201c}\u{2026}/\u{2026}\u{201d}"),
        "{out}"
    );
    let out = validate_text(
        dir.path(),
        "config.json5",
        "{\n  agents.defaults.model.primary = \"kimi/kimi-for-coding\";\n}\n",
    );
    assert!(
        out.contains("unexpected `=`: this looks like Nix (`key = value;`); a JSON5 config writes `key: value,` (Nix belongs in the modules' services.clawgate.settings, see docs/nix.md)"),
        "{out}"
    );
}

/// The single-target warning names a fallback that exists and is not the
/// target itself, or none: following it never makes the config invalid.
#[test]
fn the_single_target_warning_names_a_real_other_fallback() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/local-only.json5");
    let out = shown(&run(&["config", "validate", "--config", example], &[]));
    assert!(
        out.contains("warning: agents.defaults.model: the chain is local/qwen3-coder alone; when it fails, every request fails: configure a second provider in models.providers and list one of its models in agents.defaults.model.fallbacks"),
        "{out}"
    );
    let loaded = load(
        &json!({"agents": {"defaults": {"model": "openrouter/moonshotai/kimi-k2.6"}}}),
        &[("OPENROUTER_API_KEY", KEY)],
    )
    .unwrap();
    let warning = loaded
        .warnings
        .iter()
        .find(|w| w.contains("alone"))
        .unwrap();
    assert!(
        warning.ends_with("add agents.defaults.model.fallbacks (e.g. [\"kimi/kimi-for-coding\"])"),
        "{warning}"
    );
}

/// `~/.config/clawgate/clawgate.json5` is not where clawgate looks: it
/// says where it looked and what it did not read.
#[test]
fn a_misnamed_config_file_is_named() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("clawgate");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("clawgate.json5"), "{ gateway: { port: 18701 } }").unwrap();
    let xdg = home.path().to_str().unwrap();
    let env = Environment::from_pairs([
        ("XDG_CONFIG_HOME", xdg),
        ("MOONSHOT_API_KEY", KEY),
        ("OPENROUTER_API_KEY", KEY),
    ]);
    let source = config::locate(None, &env).unwrap();
    assert_eq!(source, Source::Defaults);
    let loaded = config::load(&source, &env, Secrets::Required).unwrap();
    let expected = format!(
        "no config file: clawgate reads config.json or config.json5 in {} (or the file named by --config or $CLAWGATE_CONFIG), and does not read clawgate.json5 there; serving the built-in defaults until it is named config.json5 (or config.json)",
        dir.display()
    );
    assert!(loaded.warnings.contains(&expected), "{:?}", loaded.warnings);
    let out = shown(&run(
        &["config", "validate"],
        &[
            ("XDG_CONFIG_HOME", xdg),
            ("MOONSHOT_API_KEY", KEY),
            ("OPENROUTER_API_KEY", KEY),
        ],
    ));
    assert!(out.contains(&expected), "{out}");
}

/// A bare model id that two providers serve is ambiguous, not unknown.
#[tokio::test]
async fn a_bare_id_two_providers_serve_is_called_ambiguous() {
    let upstream = healthy_mock().await;
    let mut config = chain_config(&upstream, &upstream);
    config["models"]["providers"]["primary"]["models"] = json!([{"id": "kimi-for-coding"}]);
    config["models"]["providers"]["backup"]["models"] = json!([{"id": "kimi-for-coding"}]);
    config["agents"]["defaults"]["model"] =
        json!({"primary": "primary/kimi-for-coding", "fallbacks": ["backup/kimi-for-coding"]});
    let gw = gateway(config).await;
    let answer = gw
        .chat(json!({"model": "kimi-for-coding", "messages": user_message()}))
        .await;
    assert_eq!(answer.status(), 404);
    let error: Value = answer.json().await.unwrap();
    assert_eq!(
        error["error"]["message"],
        "model `kimi-for-coding` is ambiguous: `backup/kimi-for-coding` and `primary/kimi-for-coding` both serve it; name one as provider/model (GET /v1/models and `clawgate models list` list them)"
    );
}
