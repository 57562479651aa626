//! A newcomer's first hour at the HTTP edge: the routes clients expect
//! (`/v1/models` with `default` and aliases, `GET /v1/models/{id}`, paths
//! without `/v1`), and unknown routes and models answered with what exists.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn models_lists_default_and_aliases_and_each_can_be_fetched() {
    let upstream = healthy_mock().await;
    let mut config = chain_config(&upstream, &upstream);
    config["agents"]["defaults"]["models"] = json!({"backup/m": {"alias": "spare"}});
    let gw = gateway(config).await;
    let client = gw.client();
    let list: Value = client
        .get(format!("{}/v1/models", gw.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<(&str, &Value)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_str().unwrap(), &m["alias_of"]))
        .collect();
    assert_eq!(
        ids,
        [
            ("default", &json!("primary/m")),
            ("backup/m", &Value::Null),
            ("spare", &json!("backup/m")),
            ("primary/m", &Value::Null),
        ]
    );
    for (id, alias_of) in [
        ("default", json!("primary/m")),
        ("spare", json!("backup/m")),
        ("primary/m", Value::Null),
    ] {
        for prefix in ["/v1", ""] {
            let model: Value = client
                .get(format!("{}{prefix}/models/{id}", gw.url))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(
                (&model["id"], &model["alias_of"]),
                (&json!(id), &alias_of),
                "{model}"
            );
        }
    }
    let missing = client
        .get(format!("{}/v1/models/primary/mm", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let error: Value = missing.json().await.unwrap();
    assert_eq!(error["error"]["code"], "model_not_found");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("did you mean `primary/m`?"), "{message}");
}

#[tokio::test]
async fn chat_without_v1_is_served_and_unknown_routes_list_the_real_ones() {
    let upstream = healthy_mock().await;
    let gw = gateway(chain_config(&upstream, &upstream)).await;
    let client = gw.client();
    let answered = client
        .post(format!("{}/chat/completions", gw.url))
        .json(&json!({"messages": user_message()}))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
    assert_eq!(header(&answered, "x-clawgate-model"), "primary/m");

    let unknown = client
        .post(format!("{}/v1/completions", gw.url))
        .json(&json!({"prompt": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let error: Value = unknown.json().await.unwrap();
    assert_eq!(error["error"]["code"], "not_found");
    assert_eq!(
        error["error"]["message"],
        "no route POST /v1/completions; clawgate serves POST /v1/chat/completions, POST /v1/messages, POST /v1/messages/count_tokens, POST /v1/responses, GET /v1/models, GET /v1/models/{id}, GET /v1/status, GET /v1/usage, POST /chat/completions, POST /responses, GET /models, GET /models/{id}, GET /metrics, GET /healthz, GET, HEAD /"
    );
}

#[tokio::test]
async fn a_request_for_an_unknown_model_is_told_the_nearest_known_ones() {
    let upstream = healthy_mock().await;
    let mut config = chain_config(&upstream, &upstream);
    config["agents"]["defaults"]["models"] = json!({"backup/m": {"alias": "spare"}});
    let gw = gateway(config).await;
    let refused = gw
        .chat(json!({"model": "spear", "messages": user_message()}))
        .await;
    assert_eq!(refused.status(), 404);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(
        error["error"]["message"],
        "unknown model `spear`: not a configured provider/model ref or alias; did you mean `spare`? (GET /v1/models and `clawgate models list` list them)"
    );
    // A bare id one provider has is that provider's model.
    let mut config = chain_config(&upstream, &upstream);
    config["models"]["providers"]["backup"]["models"] = json!([{"id": "m"}, {"id": "only-here"}]);
    let gw = gateway(config).await;
    let answered = gw
        .chat(json!({"model": "only-here", "messages": user_message()}))
        .await;
    assert_eq!(answered.status(), 200);
    assert_eq!(header(&answered, "x-clawgate-model"), "backup/only-here");
    // A provider's name is asked for as if it were a model: its models.
    let refused = gw
        .chat(json!({"model": "backup", "messages": user_message()}))
        .await;
    assert_eq!(refused.status(), 404);
    let error: Value = refused.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `backup/m` or `backup/only-here`?"),
        "{error}"
    );
}

#[tokio::test]
async fn a_primary_without_its_key_is_skipped_and_the_fallback_answers() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["models"]["providers"]["primary"]["apiKey"] = json!("${PRIMARY_KEY}");
    let gw = gateway(config).await;
    let answered = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(answered.status(), 200);
    assert_eq!(header(&answered, "x-clawgate-model"), "backup/m");
    assert_eq!(header(&answered, "x-clawgate-attempts"), "2");
    assert!(primary.requests().is_empty(), "no request without a key");
}
