//! The Kimi catalog as it stands in late 2026: K3.1 listed, and the
//! retired ids still loadable, each use of one told its successor (the
//! config's warnings, `clawgate models list`, `clawgate doctor`, and the
//! error a client gets when the provider no longer knows the model).

mod common;

use clawgate::config::{self, Environment, Secrets};
use clawgate_mock::MockOptions;
use common::*;
use serde_json::{Value, json};

fn moonshot_at(base_url: &str, primary: &str) -> Value {
    json!({
        "models": {"mode": "merge", "providers": {"moonshot": {"baseUrl": base_url, "apiKey": "${MOONSHOT_API_KEY}"}}},
        "agents": {"defaults": {"model": {"primary": primary, "fallbacks": ["moonshot/kimi-k2.6"]}}},
    })
}

fn write_config(dir: &tempfile::TempDir, config: &Value) -> String {
    let path = dir.path().join("clawgate.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn a_config_naming_a_retired_model_loads_with_a_warning_naming_its_successor() {
    let config = moonshot_at(
        "https://api.moonshot.ai/v1",
        "moonshot/kimi-k2-turbo-preview",
    );
    let env = Environment::from_pairs([("MOONSHOT_API_KEY", KEY)]);
    let loaded = config::load_str(&config.to_string(), &env, Secrets::Offline)
        .unwrap_or_else(|errors| panic!("a retired model still loads:\n{errors}"));
    let warning = loaded
        .warnings
        .iter()
        .find(|w| w.contains("kimi-k2-turbo-preview"))
        .unwrap_or_else(|| panic!("no warning in {:?}", loaded.warnings));
    assert_eq!(
        warning,
        "agents.defaults.model.primary: moonshot/kimi-k2-turbo-preview was retired on 2026-05-25; \
         its successor is moonshot/kimi-k2.6; the provider answers it as an unknown model"
    );
    // The catalog's other models, retired ones included, are not named by
    // this config: no warning about them.
    assert!(
        !loaded.warnings.iter().any(|w| w.contains("moonshot-v1")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn models_list_shows_k3_1_and_marks_retired_ids_with_their_successor() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &dir,
        &moonshot_at("https://api.moonshot.ai/v1", "moonshot/kimi-k3.1-pro"),
    );
    let listed = run(&["models", "list", "--config", &path, "--json"], &[]);
    assert_eq!(listed.status.code(), Some(0), "{}", shown(&listed));
    let rows: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let row = |model_ref: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["ref"] == model_ref)
            .unwrap_or_else(|| panic!("{model_ref} not listed: {rows}"))
            .clone()
    };
    for current in [
        "moonshot/kimi-k3.1-pro",
        "moonshot/kimi-k3.1-pro-highspeed",
        "moonshot/kimi-k2.6",
    ] {
        assert_eq!(row(current)["retired"], Value::Null, "{current}");
    }
    assert_eq!(
        row("moonshot/moonshot-v1-128k")["retired"],
        json!({"on": "2026-08-31", "successor": "moonshot/kimi-k2.6"})
    );

    let table = run(&["models", "list", "--config", &path], &[]);
    let table = String::from_utf8_lossy(&table.stdout).to_string();
    let line = |model_ref: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{model_ref} ")))
            .unwrap_or_else(|| panic!("{model_ref} not in\n{table}"))
            .to_string()
    };
    assert!(table.lines().next().unwrap().contains("RETIRED"), "{table}");
    assert!(
        line("moonshot/kimi-k2-0905-preview").contains("2026-05-25 -> moonshot/kimi-k2.6"),
        "{table}"
    );
    assert!(!line("moonshot/kimi-k3.1-pro").contains("->"), "{table}");
}

#[test]
fn doctor_marks_a_retired_model_of_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &dir,
        &moonshot_at("https://api.moonshot.ai/v1", "moonshot/moonshot-v1-32k"),
    );
    let checked = run(&["doctor", "--config", &path], &[("MOONSHOT_API_KEY", KEY)]);
    let out = shown(&checked);
    assert!(
        out.lines().any(|l| l.starts_with("warn")
            && l.contains("moonshot/moonshot-v1-32k was retired on 2026-08-31; its successor is moonshot/kimi-k2.6")),
        "{out}"
    );
}

#[tokio::test]
async fn a_retired_model_the_provider_no_longer_knows_is_told_its_successor() {
    // Moonshot's answer to a model it does not serve.
    let provider = mock(MockOptions {
        fail_status: Some(404),
        fail_type: "resource_not_found_error".into(),
        fail_message: "Not found the model kimi-k2-turbo-preview or Permission denied".into(),
        ..MockOptions::default()
    })
    .await;
    let gw = gateway(json!({
        "models": {"mode": "merge", "providers": {"moonshot": {"baseUrl": provider.base_url(), "apiKey": KEY}}},
        "agents": {"defaults": {"model": "moonshot/kimi-k2-turbo-preview"}},
    }))
    .await;
    let response = gw
        .chat(json!({"messages": user_message(), "model": "moonshot/kimi-k2-turbo-preview"}))
        .await;
    assert!(!response.status().is_success());
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Not found the model")
            && message.contains(
                "moonshot/kimi-k2-turbo-preview was retired on 2026-05-25; its successor is moonshot/kimi-k2.6"
            ),
        "{body}"
    );

    // A model that is not retired is told nothing of the kind.
    let gw = gateway(json!({
        "models": {"mode": "merge", "providers": {"moonshot": {"baseUrl": provider.base_url(), "apiKey": KEY}}},
        "agents": {"defaults": {"model": "moonshot/kimi-k2.6"}},
    }))
    .await;
    let body: Value = gw
        .chat(json!({"messages": user_message()}))
        .await
        .json()
        .await
        .unwrap();
    assert!(!body.to_string().contains("successor"), "{body}");
}
