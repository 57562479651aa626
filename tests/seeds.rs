//! The user's reference configs, each pointed at a recording mock: the
//! request an OpenClaw turn becomes at the provider is the one the provider
//! facts call for, model by model.

mod common;

use std::path::Path;

use clawgate_mock::MockOptions;
use common::*;
use serde_json::{Value, json};

const KEYS: [(&str, &str); 4] = [
    ("MOONSHOT_API_KEY", "sk-moonshot-seed"),
    ("KIMI_API_KEY", "sk-kimi-seed"),
    ("KIMICODE_API_KEY", "sk-kimicode-seed"),
    ("OPENROUTER_API_KEY", "sk-or-seed"),
];

/// What the provider must receive for a turn asking for thinking off.
struct Expected {
    seed: &'static str,
    model: &'static str,
    /// `thinking` as sent (`None`: no thinking field at all).
    thinking: Option<&'static str>,
    max_tokens: u64,
    /// A Kimi Coding endpoint: its User-Agent gate must pass.
    kimi_coding: bool,
}

const SEEDS: [Expected; 11] = [
    Expected {
        seed: "000-01",
        model: "kimi-k2.5",
        thinking: Some("disabled"),
        max_tokens: 262_144,
        kimi_coding: false,
    },
    Expected {
        seed: "000-02",
        model: "kimi-for-coding",
        thinking: Some("disabled"),
        max_tokens: 8_192,
        kimi_coding: true,
    },
    Expected {
        seed: "000-03",
        model: "kimi-k2.5",
        thinking: Some("disabled"),
        max_tokens: 262_144,
        kimi_coding: false,
    },
    Expected {
        seed: "001-01-translated",
        model: "kimi-k2p5",
        thinking: Some("disabled"),
        max_tokens: 8_192,
        kimi_coding: true,
    },
    // A model without thinking gets no switch at all.
    Expected {
        seed: "002-01",
        model: "kimi-k2-0905-preview",
        thinking: None,
        max_tokens: 8_192,
        kimi_coding: false,
    },
    Expected {
        seed: "002-02",
        model: "kimi-for-coding",
        thinking: Some("disabled"),
        max_tokens: 32_768,
        kimi_coding: true,
    },
    Expected {
        seed: "003-01",
        model: "kimi-k2.6",
        thinking: Some("disabled"),
        max_tokens: 262_144,
        kimi_coding: false,
    },
    // OpenClaw's table says `reasoning: false` for K2.6; its switch is
    // still the one Moonshot documents.
    Expected {
        seed: "003-02",
        model: "kimi-k2.6",
        thinking: Some("disabled"),
        max_tokens: 262_144,
        kimi_coding: false,
    },
    Expected {
        seed: "003-03",
        model: "kimi-for-coding",
        thinking: Some("disabled"),
        max_tokens: 32_768,
        kimi_coding: true,
    },
    Expected {
        seed: "003-04",
        model: "kimi-for-coding",
        thinking: Some("disabled"),
        max_tokens: 32_768,
        kimi_coding: true,
    },
    Expected {
        seed: "004-01",
        model: "kimi-for-coding",
        thinking: Some("disabled"),
        max_tokens: 32_768,
        kimi_coding: true,
    },
];

fn openclaw_turn() -> Value {
    let call = |id: &str| {
        json!({"role": "assistant", "content": "", "tool_calls": [
        {"id": id, "type": "function", "function": {"name": "read", "arguments": "{}"}}]})
    };
    let result = |id: &str| json!({"role": "tool", "tool_call_id": id, "content": "ok"});
    json!({
        "messages": [
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": "tidy up"},
            call("functions.read:0"), result("functions.read:0"),
            call("functions.read:0"), result("functions.read:0"),
        ],
        "reasoning_effort": "none",
        "max_tokens": 999_999,
        "stream": true,
        "stream_options": {"include_usage": true},
    })
}

#[tokio::test]
async fn every_seed_config_sends_what_the_facts_call_for() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seeds");
    for expected in SEEDS {
        let seed = expected.seed;
        let text = std::fs::read_to_string(dir.join(format!("{seed}.json5"))).unwrap();
        let mut config: Value = json5::from_str(&text).unwrap();
        // The primary's provider now lives at a mock that, like Kimi
        // Coding, serves only recognised coding agents when it stands in
        // for Kimi Coding.
        let primary = match &config["agents"]["defaults"]["model"] {
            Value::String(primary) => primary.clone(),
            model => model["primary"].as_str().unwrap().to_string(),
        };
        let provider_id = primary.split('/').next().unwrap().to_string();
        let provider = mock(MockOptions {
            require_user_agent: expected.kimi_coding.then(|| "KimiCLI/".to_string()),
            ..MockOptions::default()
        })
        .await;
        config["models"]["providers"][&provider_id]["baseUrl"] = json!(provider.base_url());
        let gw = gateway_with_env(config, &KEYS).await;
        let response = gw.chat(openclaw_turn()).await;
        assert_eq!(
            response.status(),
            200,
            "{seed}: {}",
            response.text().await.unwrap()
        );
        assert!(
            response.text().await.unwrap().ends_with("data: [DONE]\n\n"),
            "{seed}"
        );

        let sent = &provider.requests()[0];
        let body = &sent["body"];
        assert_eq!(body["model"], expected.model, "{seed}");
        match expected.thinking {
            Some(kind) => assert_eq!(body["thinking"], json!({"type": kind}), "{seed}"),
            None => assert!(body.get("thinking").is_none(), "{seed}: {body}"),
        }
        assert!(body.get("reasoning_effort").is_none(), "{seed}: {body}");
        // The field each endpoint takes: Kimi Coding's is the one OpenClaw
        // 2026.9.6 sends there.
        let (field, other) = if expected.kimi_coding {
            ("max_completion_tokens", "max_tokens")
        } else {
            ("max_tokens", "max_completion_tokens")
        };
        assert_eq!(body[field], expected.max_tokens, "{seed}");
        assert!(body.get(other).is_none(), "{seed}: {body}");
        assert_eq!(body["messages"][0]["role"], "system", "{seed}");
        assert_eq!(
            body["messages"][4]["tool_calls"][0]["id"], "call_48530e21d1a951803b2f0bee",
            "{seed}"
        );
        assert_eq!(
            body["messages"][5]["tool_call_id"], "call_48530e21d1a951803b2f0bee",
            "{seed}"
        );
        if expected.kimi_coding {
            let agent = sent["headers"]["user-agent"].as_str().unwrap_or_default();
            assert!(agent.starts_with("KimiCLI/"), "{seed}: {agent}");
        }
    }
}
