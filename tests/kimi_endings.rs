//! Issue 20 item 5 end to end through `clawgate-mock`: a stream Kimi K3
//! ends with its content filter reaches each API's client as that API's
//! content-filter ending (OpenAI chat, Anthropic Messages, Responses); a
//! tool result that lost its `tool_call_id` is paired again with its call,
//! or refused before any provider is asked.

mod common;

use clawgate_mock::{MockOptions, MockServer};
use common::*;
use serde_json::{Value, json};

async fn filtering(reason: &str) -> MockServer {
    mock(MockOptions {
        // The role chunk and a few reasoning words, then the filter.
        filter_after_chunks: Some(4),
        filter_reason: reason.into(),
        ..MockOptions::default()
    })
    .await
}

fn single(primary: &MockServer) -> Value {
    json!({
        "models": {"mode": "replace", "providers": {"primary": provider(primary)}},
        "agents": {"defaults": {"model": {"primary": "primary/m"}}},
    })
}

#[tokio::test]
async fn a_filtered_stream_ends_as_content_filter_for_openai_clients() {
    for reason in ["content_filter", "filtered"] {
        let primary = filtering(reason).await;
        let gw = gateway(single(&primary)).await;
        let response = gw
            .chat(json!({"model": "primary/m", "stream": true, "messages": user_message()}))
            .await;
        assert_eq!(response.status(), 200);
        let data = sse_data(&response.text().await.unwrap());
        assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{data:?}");
        let finishes: Vec<Value> = data
            .iter()
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|c| c["choices"][0].get("finish_reason").cloned())
            .filter(|f| !f.is_null())
            .collect();
        assert_eq!(finishes, [json!("content_filter")], "{reason}: {data:?}");

        // Not streamed: the assembled answer says the same.
        let answer: Value = gw
            .chat(json!({"model": "primary/m", "messages": user_message()}))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            answer["choices"][0]["finish_reason"], "content_filter",
            "{answer}"
        );
    }
}

#[tokio::test]
async fn a_filtered_stream_ends_as_a_refusal_for_anthropic_clients() {
    for reason in ["content_filter", "filtered"] {
        let primary = filtering(reason).await;
        let gw = gateway(single(&primary)).await;
        let ask = |stream: bool| {
            json!({"model": "primary/m", "max_tokens": 100, "stream": stream,
                   "messages": [{"role": "user", "content": "hello"}]})
        };
        let events = sse_events(&gw.messages(ask(true)).await.text().await.unwrap());
        let delta = events
            .iter()
            .find(|(name, _)| name == "message_delta")
            .unwrap_or_else(|| panic!("{events:?}"));
        assert_eq!(delta.1["delta"]["stop_reason"], "refusal", "{reason}");
        assert_eq!(events.last().unwrap().0, "message_stop");

        let answer: Value = gw.messages(ask(false)).await.json().await.unwrap();
        assert_eq!(answer["stop_reason"], "refusal", "{answer}");
    }
}

fn history(result_id: &str) -> Value {
    json!([
        {"role": "user", "content": "read a.txt"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "functions.read:0", "type": "function",
             "function": {"name": "read", "arguments": "{\"path\":\"a.txt\"}"}}]},
        {"role": "tool", "tool_call_id": result_id, "content": "contents"},
    ])
}

#[tokio::test]
async fn an_empty_tool_call_id_is_paired_with_its_call_or_refused_naming_the_message() {
    let primary = healthy_mock().await;
    let gw = gateway(single(&primary)).await;
    let response = gw
        .chat(json!({"model": "primary/m", "messages": history("")}))
        .await;
    assert_eq!(response.status(), 200);
    let sent = &primary.requests()[0]["body"];
    assert_eq!(sent["messages"][2]["tool_call_id"], "functions.read:0");

    // Two calls, two results without ids: which is which cannot be told.
    let mut ambiguous = history("");
    ambiguous[1]["tool_calls"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "functions.read:1", "type": "function",
                     "function": {"name": "read", "arguments": "{\"path\":\"b.txt\"}"}}));
    ambiguous
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "tool", "tool_call_id": "", "content": "b"}));
    let response = gw
        .chat(json!({"model": "primary/m", "messages": ambiguous}))
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("messages[2] is a tool result without a tool_call_id"),
        "{message}"
    );
    assert_eq!(primary.requests().len(), 1, "no provider was asked");
}

#[tokio::test]
async fn a_filtered_stream_ends_as_an_incomplete_response_for_responses_clients() {
    for reason in ["content_filter", "filtered"] {
        let primary = filtering(reason).await;
        let gw = gateway(single(&primary)).await;
        let ask = |stream: bool| {
            json!({"model": "primary/m", "stream": stream,
                   "input": [{"type": "message", "role": "user",
                              "content": [{"type": "input_text", "text": "hello"}]}]})
        };
        let post = |body: Value| {
            gw.client()
                .post(format!("{}/v1/responses", gw.url))
                .json(&body)
                .send()
        };

        let response = post(ask(true)).await.unwrap();
        assert_eq!(response.status(), 200);
        let events = sse_events(&response.text().await.unwrap());
        let (last, ending) = events.last().unwrap_or_else(|| panic!("{events:?}"));
        assert_eq!(last, "response.incomplete", "{reason}: {events:?}");
        assert_eq!(ending["response"]["status"], "incomplete");
        assert_eq!(
            ending["response"]["incomplete_details"]["reason"], "content_filter",
            "{reason}: {ending}"
        );
        assert!(
            !events.iter().any(|(name, _)| name == "response.completed"),
            "{events:?}"
        );

        // Not streamed: the response object says the same.
        let response = post(ask(false)).await.unwrap();
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["status"], "incomplete", "{reason}: {answer}");
        assert_eq!(
            answer["incomplete_details"]["reason"], "content_filter",
            "{answer}"
        );
    }
}
