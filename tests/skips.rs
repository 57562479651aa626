//! A target that cannot take a request (more tools than Kimi accepts, an
//! image for a model whose `input` is text only) is skipped with its
//! reason, and the chain's next target answers, whichever front end and
//! transport; when no target can take it, the client gets a 400 in its
//! front end's shape naming the field and the targets.
//!
//! Every test here captures the log (a current-thread runtime with a
//! subscriber of its own): a test without would leave tracing's
//! per-callsite cache saying nobody listens.

mod common;

use common::log::Captured;
use common::*;
use serde_json::{Value, json};

fn field<'a>(line: &'a Value, name: &str) -> &'a Value {
    &line["fields"][name]
}

/// The three front ends.
#[derive(Debug, Clone, Copy)]
enum Front {
    Chat,
    Messages,
    Responses,
}

const FRONTS: [Front; 3] = [Front::Chat, Front::Messages, Front::Responses];

impl Front {
    /// A request for `model` with `tools` function tools and, if `image`,
    /// an image beside the text, in this front end's format.
    fn request(self, model: &str, tools: usize, image: bool) -> Value {
        const DATA: &str = "iVBORw0KGgo=";
        let mut body = match self {
            Front::Chat => {
                let mut content = vec![json!({"type": "text", "text": "what is this?"})];
                if image {
                    content.push(json!({"type": "image_url",
                        "image_url": {"url": format!("data:image/png;base64,{DATA}")}}));
                }
                json!({"model": model, "messages": [{"role": "user", "content": content}]})
            }
            Front::Messages => {
                let mut content = vec![json!({"type": "text", "text": "what is this?"})];
                if image {
                    content.push(json!({"type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": DATA}}));
                }
                json!({"model": model, "max_tokens": 100,
                       "messages": [{"role": "user", "content": content}]})
            }
            Front::Responses => {
                let mut content = vec![json!({"type": "input_text", "text": "what is this?"})];
                if image {
                    content.push(json!({"type": "input_image",
                        "image_url": format!("data:image/png;base64,{DATA}")}));
                }
                json!({"model": model, "input": [{"role": "user", "content": content}]})
            }
        };
        if tools > 0 {
            let tools: Vec<Value> = (0..tools)
                .map(|i| {
                    let name = format!("tool_{i}");
                    let schema = json!({"type": "object", "properties": {}});
                    match self {
                        Front::Chat => json!({"type": "function",
                            "function": {"name": name, "parameters": schema}}),
                        Front::Messages => json!({"name": name, "input_schema": schema}),
                        Front::Responses => {
                            json!({"type": "function", "name": name, "parameters": schema})
                        }
                    }
                })
                .collect();
            body["tools"] = json!(tools);
        }
        body
    }

    async fn send(self, gw: &TestGateway, body: Value) -> reqwest::Response {
        match self {
            Front::Chat => gw.chat(body).await,
            Front::Messages => gw.messages(body).await,
            Front::Responses => gw.responses(body).await,
        }
    }

    /// The error's type and message, read from this front end's shape.
    fn error(self, body: &Value) -> (String, String) {
        if let Front::Messages = self {
            assert_eq!(body["type"], "error", "{body}");
        }
        let error = &body["error"];
        let kind = error["type"].as_str().unwrap_or_default().to_string();
        let message = error["message"].as_str().unwrap_or_default().to_string();
        (kind, message)
    }
}

/// Sends `body` through `front` as the `nth` request (from 1) of a test
/// that captures the log: who answered, and the access line's attempts.
async fn answered(
    gw: &TestGateway,
    captured: &Captured,
    front: Front,
    body: Value,
    nth: usize,
) -> (String, String) {
    let response = front.send(gw, body).await;
    assert_eq!(response.status(), 200, "{front:?}");
    let provider = header(&response, "x-clawgate-provider").to_string();
    response.bytes().await.unwrap();
    let line = &captured.wait_for(nth).await[nth - 1];
    let attempts = field(line, "attempts").as_str().unwrap().to_string();
    (provider, attempts)
}

/// How many tools each recorded request offered.
fn tools_sent(mock: &clawgate_mock::MockServer) -> Vec<usize> {
    mock.requests()
        .iter()
        .map(|r| r["body"]["tools"].as_array().map_or(0, Vec::len))
        .collect()
}

/// Kimi over the OpenAI transport, Kimi Coding over the Anthropic one
/// (both by their ids), then a plain OpenAI-compatible backup.
async fn kimi_chain(
    kimi: &clawgate_mock::MockServer,
    coding: &clawgate_mock::MockServer,
    backup: &clawgate_mock::MockServer,
) -> TestGateway {
    let model = json!([{"id": "m", "input": ["text", "image"]}]);
    gateway(json!({
        "models": {"mode": "replace", "providers": {
            "moonshot": {"baseUrl": kimi.base_url(), "apiKey": KEY, "models": model},
            "kimi-code": {"baseUrl": format!("http://{}/", coding.addr), "apiKey": KEY,
                          "api": "anthropic-messages", "models": model},
            "backup": {"baseUrl": backup.base_url(), "apiKey": KEY, "models": model}}},
        "agents": {"defaults": {"model": {"primary": "moonshot/m",
                                          "fallbacks": ["kimi-code/m", "backup/m"]}}},
    }))
    .await
}

#[tokio::test]
async fn more_tools_than_kimi_takes_skip_both_kimi_transports_to_the_fallback() {
    let (captured, _guard) = Captured::start();
    let kimi = healthy_mock().await;
    let coding = healthy_mock().await;
    let backup = healthy_mock().await;
    let gw = kimi_chain(&kimi, &coding, &backup).await;
    for (nth, front) in FRONTS.into_iter().enumerate() {
        let body = front.request("moonshot/m", 129, false);
        let (provider, attempts) = answered(&gw, &captured, front, body, nth + 1).await;
        assert_eq!(provider, "backup", "{front:?}");
        assert_eq!(
            attempts,
            "moonshot/m:skipped(too_many_tools),kimi-code/m:skipped(too_many_tools),backup/m:ok",
            "{front:?}"
        );
    }
    assert!(kimi.requests().is_empty());
    assert!(coding.requests().is_empty());
    assert_eq!(tools_sent(&backup), [129, 129, 129]);

    // 128 is what Kimi takes, on either transport.
    for front in FRONTS {
        let response = front
            .send(&gw, front.request("moonshot/m", 128, false))
            .await;
        assert_eq!(
            header(&response, "x-clawgate-provider"),
            "moonshot",
            "{front:?}"
        );
    }
    assert_eq!(tools_sent(&kimi), [128, 128, 128]);
    let response = Front::Messages
        .send(&gw, Front::Messages.request("kimi-code/m", 128, false))
        .await;
    assert_eq!(header(&response, "x-clawgate-provider"), "kimi-code");
    assert_eq!(tools_sent(&coding), [128]);
}

/// A text-only model first, then one that takes images.
async fn text_first(
    text: &clawgate_mock::MockServer,
    vision: &clawgate_mock::MockServer,
    fallback: &str,
) -> TestGateway {
    gateway(json!({
        "models": {"mode": "replace", "providers": {
            "text": {"baseUrl": text.base_url(), "apiKey": KEY,
                     "models": [{"id": "m", "input": ["text"]}]},
            "plain": {"baseUrl": vision.base_url(), "apiKey": KEY, "models": [{"id": "m"}]},
            "vision": {"baseUrl": vision.base_url(), "apiKey": KEY,
                       "models": [{"id": "m", "input": ["text", "image"]}]}}},
        "agents": {"defaults": {"model": {"primary": "text/m", "fallbacks": [fallback]}}},
    }))
    .await
}

#[tokio::test]
async fn an_image_skips_a_text_only_model_to_one_that_sees() {
    let (captured, _guard) = Captured::start();
    let text = healthy_mock().await;
    let vision = healthy_mock().await;
    let gw = text_first(&text, &vision, "vision/m").await;
    for (nth, front) in FRONTS.into_iter().enumerate() {
        let body = front.request("text/m", 1, true);
        let (provider, attempts) = answered(&gw, &captured, front, body, nth + 1).await;
        assert_eq!(provider, "vision", "{front:?}");
        assert_eq!(
            attempts, "text/m:skipped(image_input),vision/m:ok",
            "{front:?}"
        );
    }
    assert!(text.requests().is_empty());
    let images = vision
        .requests()
        .iter()
        .filter(|r| r["body"].to_string().contains("image/png;base64"))
        .count();
    assert_eq!(images, 3, "the image reached the model that sees");

    // Without an image, the text-only model answers.
    for front in FRONTS {
        let response = front.send(&gw, front.request("text/m", 1, false)).await;
        assert_eq!(
            header(&response, "x-clawgate-provider"),
            "text",
            "{front:?}"
        );
    }
    // A text that speaks of image_url is no image.
    let body = json!({"model": "text/m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "{\"type\": \"image_url\"}"}]}]});
    let response = gw.chat(body).await;
    assert_eq!(header(&response, "x-clawgate-provider"), "text");
    assert_eq!(text.requests().len(), 4);
}

/// The image is named where the client's own body holds it, after a
/// system prompt (which the chat form makes a message of) and a first
/// turn: `messages[2]` in a Messages body, `input[1]` in a Responses one.
#[tokio::test]
async fn an_image_is_named_where_the_clients_own_body_holds_it() {
    let (_captured, _guard) = Captured::start();
    let text = healthy_mock().await;
    let other = healthy_mock().await;
    let gw = text_first(&text, &other, "plain/m").await;
    for (front, place) in [
        (Front::Chat, "messages[2].content"),
        (Front::Messages, "messages[2].content"),
        (Front::Responses, "input[1].content"),
    ] {
        let mut body = front.request("text/m", 0, true);
        let (turns, before) = match front {
            Front::Chat => (
                "messages",
                vec![
                    json!({"role": "system", "content": "be brief"}),
                    json!({"role": "user", "content": "hello"}),
                ],
            ),
            Front::Messages => {
                body["system"] = json!("be brief");
                (
                    "messages",
                    vec![
                        json!({"role": "user", "content": "hello"}),
                        json!({"role": "assistant", "content": "hi"}),
                    ],
                )
            }
            Front::Responses => {
                body["instructions"] = json!("be brief");
                ("input", vec![json!({"role": "user", "content": "hello"})])
            }
        };
        let turns = body[turns].as_array_mut().unwrap();
        turns.splice(0..0, before);
        let response = front.send(&gw, body).await;
        assert_eq!(response.status(), 400, "{front:?}");
        let body: Value = response.json().await.unwrap();
        let (_, message) = front.error(&body);
        assert!(
            message.contains(&format!(
                "not tried: `{place}` holds an image and the model takes text only"
            )),
            "{front:?}: {message}"
        );
    }
    assert!(text.requests().is_empty());
}

#[tokio::test]
async fn when_no_target_takes_the_request_the_client_is_told_which_field_and_which_targets() {
    let (_captured, _guard) = Captured::start();
    let text = healthy_mock().await;
    let other = healthy_mock().await;
    // `plain/m` says nothing of its input: text only, as OpenClaw reads it.
    let gw = text_first(&text, &other, "plain/m").await;
    for front in FRONTS {
        let response = front.send(&gw, front.request("text/m", 0, true)).await;
        assert_eq!(response.status(), 400, "{front:?}");
        assert_eq!(header(&response, "x-clawgate-attempts"), "0", "{front:?}");
        let body: Value = response.json().await.unwrap();
        let (kind, message) = front.error(&body);
        assert_eq!(kind, "invalid_request_error", "{front:?}: {body}");
        assert!(
            message.starts_with("no target of the chain can take this request: text/m ("),
            "{front:?}: {message}"
        );
        for target in ["text/m", "plain/m"] {
            assert!(message.contains(target), "{front:?}: {message}");
        }
        let place = match front {
            Front::Responses => "input[0].content",
            Front::Chat | Front::Messages => "messages[0].content",
        };
        assert!(
            message.contains(&format!(
                "not tried: `{place}` holds an image and the model takes text only"
            )),
            "{front:?}: {message}"
        );
    }
    assert!(text.requests().is_empty());
    assert!(other.requests().is_empty());

    // Kimi alone, over both transports, with too many tools: the field and
    // the limit are named.
    let kimi = healthy_mock().await;
    let coding = healthy_mock().await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {
            "moonshot": {"baseUrl": kimi.base_url(), "apiKey": KEY, "models": [{"id": "m"}]},
            "kimi-code": {"baseUrl": format!("http://{}/", coding.addr), "apiKey": KEY,
                          "api": "anthropic-messages", "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "moonshot/m", "fallbacks": ["kimi-code/m"]}}},
    }))
    .await;
    for front in FRONTS {
        let response = front
            .send(&gw, front.request("moonshot/m", 200, false))
            .await;
        assert_eq!(response.status(), 400, "{front:?}");
        let body: Value = response.json().await.unwrap();
        let (_, message) = front.error(&body);
        assert_eq!(
            message
                .matches("not tried: `tools` holds 200 tools and Kimi accepts at most 128")
                .count(),
            2,
            "{front:?}: {message}"
        );
        if let Front::Chat = front {
            let attempts = body["error"]["attempts"].as_array().unwrap();
            let outcomes: Vec<_> = attempts
                .iter()
                .map(|a| (&a["outcome"], &a["tries"]))
                .collect();
            assert_eq!(outcomes, [(&json!("unsuitable"), &json!(0)); 2]);
            assert_eq!(body["error"]["code"], "no_target_takes_request");
        }
    }
    assert!(kimi.requests().is_empty());
    assert!(coding.requests().is_empty());
}
