//! The field tables (`clawgate::translate::fields`) at work through the
//! gateway: what a recording mock provider received, the
//! `x-clawgate-dropped` header of the answer, and the 400s that name a
//! refused field, for each front end over both transports.

mod common;

use clawgate_mock::MockServer;
use common::{KEY, TestGateway, gateway, header, healthy_mock};
use serde_json::{Value, json};

/// A gateway whose default chain is one provider on `mock`, speaking
/// `api`.
async fn single(mock: &MockServer, api: &str) -> TestGateway {
    gateway(json!({
        "models": {"mode": "replace", "providers": {"p": {
            "baseUrl": base_url(mock, api), "apiKey": KEY, "api": api,
            "models": [{"id": "m", "maxTokens": 2048}]}}},
        "agents": {"defaults": {"model": "p/m"}},
    }))
    .await
}

/// The mock's chat endpoint's base, or its Messages endpoint's (given
/// without `/v1`, as OpenClaw writes it).
fn base_url(mock: &MockServer, api: &str) -> String {
    match api {
        ANTHROPIC => format!("http://{}/", mock.addr),
        _ => mock.base_url(),
    }
}

const OPENAI: &str = "openai-completions";
const ANTHROPIC: &str = "anthropic-messages";

fn dropped(response: &reqwest::Response) -> Vec<String> {
    let named = header(response, "x-clawgate-dropped");
    named
        .split(", ")
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect()
}

/// A Messages request holding the rows a chat provider cannot take.
fn rich_messages(stream: bool) -> Value {
    json!({
        "model": "p/m", "max_tokens": 100, "stream": stream,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]},
            {"role": "assistant", "content": [
                {"type": "redacted_thinking", "data": "x"},
                {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {}},
                {"type": "text", "text": "Hello."}]},
            {"role": "user", "content": "Say it again."},
        ],
        "tools": [{"name": "f", "input_schema": {"type": "object"}},
                  {"type": "web_search_20250305", "name": "web_search"}],
        "thinking": {"type": "enabled", "budget_tokens": 5000},
        "output_config": {"effort": "high"},
        "stop_sequences": ["a", "b", "c", "d", "e", "f"],
        "top_k": 5,
        "metadata": {"user_id": "{\"device_id\":\"d\"}"},
        "context_management": {"edits": []},
        "service_tier": "auto",
        "betas_of_tomorrow": {"x": 1},
    })
}

#[tokio::test]
async fn a_messages_request_to_a_chat_provider_names_what_it_did_not_get() {
    for stream in [false, true] {
        let mock = healthy_mock().await;
        let gw = single(&mock, OPENAI).await;
        let response = gw.messages(rich_messages(stream)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            dropped(&response),
            [
                "thinking.budget_tokens",
                "stop_sequences[4..]",
                "top_k",
                "context_management",
                "service_tier",
                "cache_control",
                "redacted_thinking blocks",
                "server tool blocks (server_tool_use and *_tool_result)",
                "web_search_20250305",
                "unknown members",
            ],
            "stream: {stream}"
        );
        let _ = response.bytes().await;
        let sent = &mock.requests()[0]["body"];
        // Translated: the user id, four stop sequences, the effort.
        assert_eq!(sent["user"], json!("{\"device_id\":\"d\"}"));
        assert_eq!(sent["stop"], json!(["a", "b", "c", "d"]));
        assert_eq!(sent["reasoning_effort"], json!("high"));
        // Dropped: none of these reached the provider.
        for key in [
            "top_k",
            "context_management",
            "service_tier",
            "betas_of_tomorrow",
            "metadata",
        ] {
            assert!(sent.get(key).is_none(), "{key}: {sent}");
        }
        assert!(!sent.to_string().contains("cache_control"), "{sent}");
        assert!(!sent.to_string().contains("web_search"), "{sent}");
        assert_eq!(sent["tools"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_messages_request_to_an_anthropic_provider_keeps_its_own_fields() {
    let mock = healthy_mock().await;
    let gw = single(&mock, ANTHROPIC).await;
    // Without its thinking, which Anthropic's API takes with no `top_k`
    // (`thinking_written_for_anthropic_has_a_budget_its_api_takes`).
    let mut body = rich_messages(false);
    body.as_object_mut().unwrap().remove("thinking");
    let response = gw.messages(body).await;
    assert_eq!(response.status(), 200);
    // An Anthropic-format provider of no dialect of its own (Anthropic)
    // takes Anthropic's members: only Kimi's endpoints go without them
    // (`tests/anthropic_upstream.rs`).
    assert_eq!(dropped(&response), Vec::<String>::new());
    let sent = &mock.requests()[0]["body"];
    assert_eq!(
        sent["system"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
    assert_eq!(
        sent["messages"][0]["content"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
    assert_eq!(sent["stop_sequences"].as_array().unwrap().len(), 6);
    assert_eq!(sent["top_k"], json!(5));
    assert_eq!(sent["metadata"]["user_id"], json!("{\"device_id\":\"d\"}"));
    assert_eq!(sent["betas_of_tomorrow"], json!({"x": 1}));
    assert_eq!(sent["service_tier"], json!("auto"));
    assert_eq!(
        sent["messages"][1]["content"][0]["type"],
        json!("redacted_thinking")
    );
    for key in ["context_management", "output_config"] {
        assert!(sent.get(key).is_some(), "{key}: {sent}");
    }
    assert!(sent.to_string().contains("web_search"), "{sent}");
}

#[tokio::test]
async fn what_the_messages_table_refuses_is_a_400_naming_it() {
    let mock = healthy_mock().await;
    for api in [OPENAI, ANTHROPIC] {
        let gw = single(&mock, api).await;
        let plain = |extra: Value| {
            let mut body = json!({"model": "p/m", "max_tokens": 10,
                "messages": [{"role": "user", "content": "hi"}]});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            body
        };
        let cases = [
            (
                plain(json!({"mcp_servers": [{"type": "url", "url": "https://x", "name": "x"}]})),
                "`mcp_servers` is not supported: clawgate connects no MCP servers",
            ),
            (
                plain(json!({"container": "c"})),
                "`container` is not supported",
            ),
            (
                plain(
                    json!({"tools": [{"name": "f", "input_schema": {"type": "object"}},
                                       {"type": "web_search_20250305", "name": "web_search"}],
                             "tool_choice": {"type": "tool", "name": "web_search"}}),
                ),
                "`tool_choice naming a server tool` is not supported: name a tool with an `input_schema`",
            ),
            (
                plain(json!({"messages": [{"role": "user", "content": [
                    {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "x"}}]}]})),
                "messages[0]: document blocks (PDF or file) are not supported by clawgate: send the document's text",
            ),
            (
                plain(
                    json!({"messages": [{"role": "user", "content": [{"type": "search_result"}]}]}),
                ),
                "messages[0]: a block of type \"search_result\" is not supported by clawgate",
            ),
        ];
        for (body, expected) in cases {
            let response = gw.messages(body).await;
            assert_eq!(response.status(), 400, "{expected}");
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["type"], json!("error"));
            assert_eq!(error["error"]["type"], json!("invalid_request_error"));
            let message = error["error"]["message"].as_str().unwrap();
            assert!(message.contains(expected), "{api}: {message}");
        }
    }
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn a_responses_request_names_what_it_did_not_get_and_echoes_its_tools() {
    let mock = healthy_mock().await;
    let gw = single(&mock, OPENAI).await;
    let tools = json!([
        {"type": "function", "name": "shell", "parameters": {"type": "object"}},
        {"type": "function", "name": "read", "parameters": {"type": "object"}},
        {"type": "web_search", "external_web_access": false},
        {"type": "tool_search"},
    ]);
    let choice = json!({"type": "allowed_tools", "mode": "auto",
                        "tools": [{"type": "function", "name": "read"}]});
    let response = gw
        .responses(json!({
            "model": "p/m", "input": "hi", "tools": tools, "tool_choice": choice,
            "include": ["reasoning.encrypted_content"],
            "reasoning": {"effort": "low", "summary": "auto"},
            "text": {"verbosity": "low"}, "truncation": "auto",
            "prompt_cache_key": "k", "user": "u", "client_metadata": {"a": "b"},
            "store": false,
        }))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        dropped(&response),
        [
            "reasoning.summary",
            "text.verbosity",
            "include",
            "truncation: auto",
            "client_metadata",
            "web_search tools",
            "tool_search tools"
        ]
    );
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["tools"], tools);
    assert_eq!(answer["tool_choice"], choice);
    let sent = &mock.requests()[0]["body"];
    // The allowed tools only: never widened to every tool.
    let offered: Vec<&str> = sent["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(offered, ["read"]);
    assert_eq!(sent["tool_choice"], json!("auto"));
    assert_eq!(sent["prompt_cache_key"], json!("k"));
    assert_eq!(sent["user"], json!("u"));
    for key in [
        "include",
        "truncation",
        "client_metadata",
        "text",
        "verbosity",
    ] {
        assert!(sent.get(key).is_none(), "{key}: {sent}");
    }

    // Refused, naming the field and what to do.
    let response = gw
        .responses(json!({"model": "p/m", "input": "hi", "prompt": {"id": "pmpt_1"}}))
        .await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("`prompt` is not supported: clawgate stores no prompt templates"),
        "{message}"
    );
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn a_chat_request_goes_whole_to_a_chat_provider_and_names_what_messages_cannot_take() {
    let body = json!({
        "model": "p/m", "n": 1, "seed": 7, "response_format": {"type": "json_object"},
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}},
            {"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]}],
        "a_member_of_tomorrow": true,
    });
    let mock = healthy_mock().await;
    let gw = single(&mock, OPENAI).await;
    let response = gw.chat(body.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-dropped"), "");
    let sent = &mock.requests()[0]["body"];
    assert_eq!(sent["a_member_of_tomorrow"], json!(true));
    assert_eq!(sent["seed"], json!(7));

    let mock = healthy_mock().await;
    let gw = single(&mock, ANTHROPIC).await;
    let response = gw.chat(body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        dropped(&response),
        [
            "n",
            "seed",
            "response_format",
            "input_audio parts",
            "unknown members"
        ]
    );
    let sent = &mock.requests()[0]["body"];
    assert_eq!(
        sent["messages"][0]["content"],
        json!([{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}])
    );
    for key in ["n", "seed", "response_format", "a_member_of_tomorrow"] {
        assert!(sent.get(key).is_none(), "{key}: {sent}");
    }
}

/// A gateway whose providers are an OpenRouter (by its id) and a plain
/// OpenAI-compatible endpoint, both on `mock`: two OpenRouter models, one
/// that takes cache breakpoints and one that does not.
async fn with_openrouter(mock: &MockServer) -> TestGateway {
    gateway(json!({
        "models": {"mode": "replace", "providers": {
            "openrouter": {"baseUrl": mock.base_url(), "apiKey": KEY, "api": OPENAI, "models": [
                {"id": "anthropic/claude-sonnet-4.5", "reasoning": true, "input": ["text", "image"]},
                {"id": "openai/gpt-5", "reasoning": true}]},
            "plain": {"baseUrl": mock.base_url(), "apiKey": KEY, "api": OPENAI,
                      "models": [{"id": "m", "reasoning": true}]}}},
        "agents": {"defaults": {"model": "plain/m"}},
    }))
    .await
}

/// Claude Code's shape: cache breakpoints on the system prompt, on a tool
/// result and on the last user text, and a thinking budget.
fn marked_messages(model: &str) -> Value {
    json!({
        "model": model, "max_tokens": 8000,
        "thinking": {"type": "enabled", "budget_tokens": 5000},
        "system": [{"type": "text", "text": "Be brief."},
                   {"type": "text", "text": "Be kind.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "read a"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "read", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": [
                    {"type": "text", "text": "A", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
                {"type": "text", "text": "and"},
                {"type": "text", "text": "thanks", "cache_control": {"type": "ephemeral"}}]},
        ],
        "tools": [{"name": "read", "input_schema": {"type": "object"}}],
    })
}

#[tokio::test]
async fn openrouter_takes_a_messages_clients_cache_marks_and_budget_where_its_model_does() {
    let mock = healthy_mock().await;
    let gw = with_openrouter(&mock).await;

    let response = gw
        .messages(marked_messages("openrouter/anthropic/claude-sonnet-4.5"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(dropped(&response), Vec::<String>::new());
    let sent = &mock.requests()[0]["body"];
    let mark = json!({"type": "ephemeral"});
    assert_eq!(
        sent["messages"][0]["content"],
        json!([{"type": "text", "text": "Be brief.\n\nBe kind.", "cache_control": mark}])
    );
    // The tool result's own mark, on the tool message.
    assert_eq!(
        sent["messages"][3],
        json!({"role": "tool", "tool_call_id": "t1", "content": [
            {"type": "text", "text": "A", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]})
    );
    // The turn's mark on the text that ends it (its texts are one).
    assert_eq!(
        sent["messages"][4]["content"],
        json!([{"type": "text", "text": "and\n\nthanks", "cache_control": mark}])
    );
    assert_eq!(sent["messages"][1]["content"], json!("read a"));
    assert_eq!(sent["reasoning"], json!({"max_tokens": 5000}));
    assert!(sent.get("reasoning_effort").is_none(), "{sent}");

    // A model OpenRouter does not cache by marks: the budget still, no
    // marks, and the answer says so.
    let response = gw
        .messages(marked_messages("openrouter/openai/gpt-5"))
        .await;
    assert_eq!(dropped(&response), ["cache_control"]);
    let sent = &mock.requests()[1]["body"];
    assert!(!sent.to_string().contains("cache_control"), "{sent}");
    assert_eq!(sent["reasoning"], json!({"max_tokens": 5000}));

    // Any other chat provider: neither, with a word.
    let response = gw.messages(marked_messages("plain/m")).await;
    assert_eq!(
        dropped(&response),
        ["thinking.budget_tokens", "cache_control"]
    );
    let sent = &mock.requests()[2]["body"];
    assert!(!sent.to_string().contains("cache_control"), "{sent}");
    assert_eq!(sent["reasoning_effort"], json!("medium"));
    assert!(sent.get("reasoning").is_none(), "{sent}");

    // A mark on a tool has no place on OpenRouter's chat API.
    let mut body = marked_messages("openrouter/anthropic/claude-sonnet-4.5");
    body["tools"][0]["cache_control"] = mark.clone();
    let response = gw.messages(body).await;
    assert_eq!(dropped(&response), ["cache_control"]);

    // A marked tool result with an image (Claude Code's screenshot): the
    // image follows as a user message of its own, and the mark stays on
    // the result's text.
    let image = json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}});
    let body = json!({"model": "openrouter/anthropic/claude-sonnet-4.5", "max_tokens": 100,
        "tools": [{"name": "shot", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "look"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                "content": [{"type": "text", "text": "R2"}, image], "cache_control": mark}]}]});
    let response = gw.messages(body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(dropped(&response), Vec::<String>::new());
    let sent = mock.requests().pop().unwrap();
    let sent = &sent["body"]["messages"];
    assert_eq!(
        sent[2],
        json!({"role": "tool", "tool_call_id": "t1", "content": [
            {"type": "text", "text": "R2", "cache_control": mark}]})
    );
    assert_eq!(sent[3]["role"], "user");
}

#[tokio::test]
async fn a_chat_clients_cache_marks_reach_the_openrouter_models_that_take_them() {
    let mock = healthy_mock().await;
    let gw = with_openrouter(&mock).await;
    let body = |model: &str| {
        json!({"model": model, "messages": [
            {"role": "system", "content": [
                {"type": "text", "cache_control": {"type": "ephemeral"}, "text": "Be brief."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "hi"},
                {"cache_control": {"type": "ephemeral"}, "type": "text", "text": "there"}]}]})
    };
    let response = gw
        .chat(body("openrouter/anthropic/claude-sonnet-4.5"))
        .await;
    assert_eq!(header(&response, "x-clawgate-dropped"), "");
    let sent = &mock.requests()[0]["body"];
    assert_eq!(sent["messages"], body("x")["messages"]);

    let response = gw.chat(body("openrouter/openai/gpt-5")).await;
    assert_eq!(dropped(&response), ["cache_control on content parts"]);
    let sent = &mock.requests()[1]["body"];
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "hi"}, {"type": "text", "text": "there"}]}])
    );
    // Carried to any other chat provider, as written.
    let response = gw.chat(body("plain/m")).await;
    assert_eq!(header(&response, "x-clawgate-dropped"), "");
    assert_eq!(
        mock.requests()[2]["body"]["messages"],
        body("x")["messages"]
    );
}

/// [`single`], its model one that sees images.
async fn seeing(mock: &MockServer, api: &str) -> TestGateway {
    gateway(json!({
        "models": {"mode": "replace", "providers": {"p": {
            "baseUrl": base_url(mock, api), "apiKey": KEY, "api": api,
            "models": [{"id": "m", "maxTokens": 2048, "input": ["text", "image"]}]}}},
        "agents": {"defaults": {"model": "p/m"}},
    }))
    .await
}

const PNG: &str = "data:image/png;base64,iVBORw0KGgo=";

/// A chat request whose tool message holds an image, whose user message
/// has a `name`, and whose function is `strict`.
fn chat_with_nested_members() -> Value {
    json!({
        "model": "p/m",
        "messages": [
            {"role": "user", "name": "ana", "content": "Look at the screenshot."},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "shot", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": [
                {"type": "text", "text": "the screen"},
                {"type": "image_url", "image_url": {"url": PNG}}]},
        ],
        "tools": [{"type": "function", "function": {"name": "shot", "strict": true,
            "parameters": {"type": "object", "properties": {}, "additionalProperties": false}}}],
    })
}

#[tokio::test]
async fn a_chat_tool_messages_image_reaches_an_anthropic_provider_in_its_tool_result() {
    let mock = healthy_mock().await;
    let gw = seeing(&mock, ANTHROPIC).await;
    let response = gw.chat(chat_with_nested_members()).await;
    assert_eq!(response.status(), 200);
    // Translated, not named: only the name has no place.
    assert_eq!(dropped(&response), ["name on messages"]);
    let sent = &mock.requests()[0]["body"];
    assert_eq!(
        sent["messages"][2]["content"],
        json!([{"type": "tool_result", "tool_use_id": "c1", "content": [
            {"type": "text", "text": "the screen"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": "iVBORw0KGgo="}}]}])
    );
    assert_eq!(sent["tools"][0]["strict"], json!(true));
    assert!(sent["messages"][0].get("name").is_none(), "{sent}");
    assert!(!sent.to_string().contains("\"ana\""), "{sent}");
}

#[tokio::test]
async fn a_chat_requests_nested_members_go_whole_to_a_chat_provider() {
    let mock = healthy_mock().await;
    let gw = seeing(&mock, OPENAI).await;
    let body = chat_with_nested_members();
    let response = gw.chat(body.clone()).await;
    assert_eq!(response.status(), 200);
    assert!(dropped(&response).is_empty());
    let sent = &mock.requests()[0]["body"];
    assert_eq!(sent["messages"], body["messages"]);
    assert_eq!(sent["tools"], body["tools"]);
}

/// A Messages request holding what a chat message or tool has no place
/// for: a thinking block in a user turn, a text block's citations, a
/// document's title and context, a tool's input examples, a deferred tool.
fn messages_with_nested_members() -> Value {
    json!({
        "model": "p/m", "max_tokens": 100,
        "messages": [
            {"role": "user", "content": [
                {"type": "thinking", "thinking": "user-side reasoning", "signature": "s"},
                {"type": "document", "title": "Notes", "context": "From the wiki",
                 "source": {"type": "text", "media_type": "text/plain", "data": "Keep it short."}},
                {"type": "text", "text": "Summarise."}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Short.", "citations": [{"type": "char_location",
                    "cited_text": "Keep", "document_index": 0, "start_char_index": 0,
                    "end_char_index": 4}]}]},
            {"role": "user", "content": "Again."},
        ],
        "tools": [{"name": "read", "input_schema": {"type": "object"},
                   "input_examples": [{"path": "a.rs"}]},
                  {"name": "grep", "input_schema": {"type": "object"}, "defer_loading": true}],
    })
}

#[tokio::test]
async fn what_a_chat_provider_cannot_take_of_a_messages_turn_is_named() {
    for stream in [false, true] {
        let mock = healthy_mock().await;
        let gw = single(&mock, OPENAI).await;
        let mut body = messages_with_nested_members();
        body["stream"] = json!(stream);
        let response = gw.messages(body).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            dropped(&response),
            [
                "citations on text blocks",
                "title and context of document blocks",
                "thinking blocks in a user turn",
                "input_examples on tools",
                "defer_loading on tools"
            ],
            "stream: {stream}"
        );
        let _ = response.bytes().await;
        let sent = mock.requests()[0]["body"].to_string();
        for gone in [
            "user-side reasoning",
            "From the wiki",
            "\"Notes\"",
            "cited_text",
            "input_examples",
            "defer_loading",
        ] {
            assert!(!sent.contains(gone), "{gone}: {sent}");
        }
        assert!(sent.contains("Keep it short."), "{sent}");
    }
    // On the Anthropic transport the client's blocks and tools go as sent.
    let mock = healthy_mock().await;
    let gw = single(&mock, ANTHROPIC).await;
    let body = messages_with_nested_members();
    let response = gw.messages(body.clone()).await;
    assert_eq!(response.status(), 200);
    assert!(dropped(&response).is_empty());
    let sent = &mock.requests()[0]["body"];
    assert_eq!(sent["messages"], body["messages"]);
    assert_eq!(sent["tools"], body["tools"]);
}

#[tokio::test]
async fn a_responses_images_detail_goes_to_a_chat_provider_and_is_named_on_the_anthropic_transport()
{
    let body = json!({"model": "p/m", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": PNG, "detail": "low"}]}]});
    let mock = healthy_mock().await;
    let gw = seeing(&mock, OPENAI).await;
    let response = gw.responses(body.clone()).await;
    assert_eq!(response.status(), 200);
    assert!(dropped(&response).is_empty());
    let sent = &mock.requests()[0]["body"];
    assert_eq!(
        sent["messages"][0]["content"][1],
        json!({"type": "image_url", "image_url": {"url": PNG, "detail": "low"}})
    );

    let mock = healthy_mock().await;
    let gw = seeing(&mock, ANTHROPIC).await;
    let response = gw.responses(body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(dropped(&response), ["detail on input_image parts"]);
    let sent = &mock.requests()[0]["body"];
    assert_eq!(
        sent["messages"][0]["content"][1],
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                           "data": "iVBORw0KGgo="}})
    );
}

#[tokio::test]
async fn a_responses_required_choice_with_no_tool_left_is_refused() {
    let mock = healthy_mock().await;
    for api in [OPENAI, ANTHROPIC] {
        let gw = single(&mock, api).await;
        // Any choice that forces a call: `required`, a required
        // `allowed_tools`, one naming a function or a hosted tool.
        for choice in [
            json!("required"),
            json!({"type": "allowed_tools", "mode": "required",
                   "tools": [{"type": "web_search"}]}),
            json!({"type": "function", "name": "f"}),
            json!({"type": "web_search"}),
        ] {
            let response = gw
                .responses(json!({"model": "p/m", "input": "Search for it.",
                    "tools": [{"type": "web_search"}], "tool_choice": choice}))
                .await;
            assert_eq!(response.status(), 400, "{choice}");
            let error: Value = response.json().await.unwrap();
            let message = error["error"]["message"].as_str().unwrap();
            assert!(
                message.starts_with(
                    "`tool_choice: required with no tool left to offer` is not supported: \
                     every tool it could call is one clawgate drops"
                ),
                "{message}"
            );
        }
        // The same choice with a tool the provider can run goes on.
        let response = gw
            .responses(
                json!({"model": "p/m", "input": "Search for it.", "tool_choice": "required",
                "tools": [{"type": "web_search"},
                          {"type": "function", "name": "f", "parameters": {"type": "object"}}]}),
            )
            .await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(mock.requests().len(), 2);
}

const BETAS: &str = "claude-code-20250219,context-management-2025-06-27";

/// `body` posted to `/v1/messages?beta=true` with `anthropic-beta: betas`,
/// as Claude Code sends it.
async fn with_betas(gw: &TestGateway, betas: &str, body: &Value) -> reqwest::Response {
    gw.client()
        .post(format!("{}/v1/messages?beta=true", gw.url))
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", betas)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_messages_clients_betas_go_on_to_an_anthropic_provider_and_are_named_on_the_chat_transport()
 {
    let body = json!({"model": "p/m", "max_tokens": 10,
                      "messages": [{"role": "user", "content": "hi"}]});
    for api in [ANTHROPIC, OPENAI] {
        let mock = healthy_mock().await;
        let gw = single(&mock, api).await;
        let response = with_betas(&gw, BETAS, &body).await;
        assert_eq!(response.status(), 200);
        let received = &mock.requests()[0]["headers"];
        match api {
            ANTHROPIC => {
                assert!(dropped(&response).is_empty());
                assert_eq!(received["anthropic-beta"], json!(BETAS));
            }
            _ => {
                assert_eq!(dropped(&response), ["anthropic-beta"]);
                assert!(received.get("anthropic-beta").is_none(), "{received}");
            }
        }
    }
    // Betas are the Messages API's: a chat client's header is not passed on.
    let mock = healthy_mock().await;
    let gw = single(&mock, ANTHROPIC).await;
    let response = gw
        .client()
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("anthropic-beta", BETAS)
        .json(&json!({"model": "p/m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(dropped(&response).is_empty());
    assert!(
        mock.requests()[0]["headers"]
            .get("anthropic-beta")
            .is_none()
    );
}

/// Kimi Coding's Anthropic endpoint is not sent `context_management`
/// and `output_config`, nor their betas (a strict endpoint refuses a beta
/// it does not know): each is named; the other betas go on.
#[tokio::test]
async fn the_betas_of_what_a_known_dialect_is_not_sent_go_with_it_named() {
    let mock = healthy_mock().await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {"p": {
            "baseUrl": base_url(&mock, ANTHROPIC), "apiKey": KEY, "api": ANTHROPIC,
            "dialect": "kimi-coding", "models": [{"id": "m", "maxTokens": 2048}]}}},
        "agents": {"defaults": {"model": "p/m"}},
    }))
    .await;
    let betas = "claude-code-20250219, context-management-2025-06-27,effort-2025-11-24";
    let body = json!({"model": "p/m", "max_tokens": 10,
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "messages": [{"role": "user", "content": "hi"}]});
    let response = with_betas(&gw, betas, &body).await;
    assert_eq!(response.status(), 200);
    let named = dropped(&response);
    for name in [
        "context_management",
        "anthropic-beta context-management-2025-06-27",
        "anthropic-beta effort-2025-11-24",
    ] {
        assert!(named.iter().any(|n| n == name), "{name}: {named:?}");
    }
    let received = &mock.requests()[0];
    assert_eq!(
        received["headers"]["anthropic-beta"],
        "claude-code-20250219"
    );
    assert!(received["body"].get("context_management").is_none());
    // Only betas of what it is not sent: nothing left, no header.
    let response = with_betas(&gw, "effort-2025-11-24", &body).await;
    assert_eq!(response.status(), 200);
    assert!(
        mock.requests()[1]["headers"]
            .get("anthropic-beta")
            .is_none()
    );
    // The header on several lines is one list, read whole.
    let response = gw
        .client()
        .post(format!("{}/v1/messages", gw.url))
        .header("anthropic-beta", "claude-code-20250219")
        .header(
            "anthropic-beta",
            "context-management-2025-06-27,effort-2025-11-24",
        )
        .header("anthropic-beta", "interleaved-thinking-2025-05-14")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let named = dropped(&response);
    for name in [
        "anthropic-beta context-management-2025-06-27",
        "anthropic-beta effort-2025-11-24",
    ] {
        assert!(named.iter().any(|n| n == name), "{name}: {named:?}");
    }
    assert_eq!(
        mock.requests()[2]["headers"]["anthropic-beta"],
        "claude-code-20250219, interleaved-thinking-2025-05-14"
    );
}

/// Kimi Coding with thinking off: the thinking of every replayed turn is
/// taken away, a turn without calls too, and named; what is named is what
/// goes (a `redacted_thinking` block, which the rules do not take, goes).
#[tokio::test]
async fn thinking_taken_from_replayed_turns_is_taken_where_it_is_named() {
    let mock = healthy_mock().await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {"p": {
            "baseUrl": base_url(&mock, ANTHROPIC), "apiKey": KEY, "api": ANTHROPIC,
            "dialect": "kimi-coding", "models": [{"id": "m", "reasoning": true, "maxTokens": 2048}]}}},
        "agents": {"defaults": {"model": "p/m"}},
    }))
    .await;
    let thinking = json!({"type": "thinking", "thinking": "t", "signature": "s"});
    let redacted = json!({"type": "redacted_thinking", "data": "ENCRYPTED"});
    let body = json!({"model": "p/m", "max_tokens": 1000, "thinking": {"type": "disabled"},
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [thinking, redacted, {"type": "text", "text": "a"}]},
            {"role": "user", "content": "q2"},
            {"role": "assistant", "content": [thinking, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "r"}]}]});
    let response = gw.messages(body).await;
    assert_eq!(response.status(), 200);
    assert!(
        dropped(&response).iter().any(|n| n == "thinking blocks"),
        "{:?}",
        dropped(&response)
    );
    let sent = &mock.requests()[0]["body"]["messages"];
    assert_eq!(
        sent[1]["content"],
        json!([redacted, {"type": "text", "text": "a"}])
    );
    assert_eq!(
        sent[3]["content"],
        json!([{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}])
    );
}

#[tokio::test]
async fn a_chat_messages_member_no_row_names_goes_to_a_chat_provider_and_is_named_on_the_anthropic_transport()
 {
    // Moonshot's partial mode: the answer continues the last assistant text.
    let body = json!({"model": "p/m", "messages": [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "The colour is", "partial": true, "refusal": null}]});
    let mock = healthy_mock().await;
    let gw = single(&mock, OPENAI).await;
    let response = gw.chat(body.clone()).await;
    assert_eq!(response.status(), 200);
    assert!(dropped(&response).is_empty());
    assert_eq!(mock.requests()[0]["body"]["messages"], body["messages"]);

    let mock = healthy_mock().await;
    let gw = single(&mock, ANTHROPIC).await;
    let response = gw.chat(body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(dropped(&response), ["unknown members"]);
    assert!(!mock.requests()[0]["body"].to_string().contains("partial"));
}

/// A content part's member the API does not define, an image's too, and
/// an image in a system message (whose content Messages' `system` takes
/// as text): the chat transport carries them, the Anthropic transport
/// names them.
#[tokio::test]
async fn a_chat_parts_member_no_row_names_goes_to_a_chat_provider_and_is_named_on_the_anthropic_transport()
 {
    let bodies = [
        json!({"model": "p/m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Name a hue.", "colour": "blue"}]}]}),
        json!({"model": "p/m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is it?"},
            {"type": "image_url", "image_url": {"url": PNG, "format": "image/png"}}]}]}),
        json!({"model": "p/m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": PNG}, "colour": "blue"}]}]}),
        json!({"model": "p/m", "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Describe this."},
                {"type": "image_url", "image_url": {"url": PNG}}]},
            {"role": "user", "content": "Go."}]}),
    ];
    for body in bodies {
        let mock = healthy_mock().await;
        let gw = seeing(&mock, OPENAI).await;
        let response = gw.chat(body.clone()).await;
        assert_eq!(response.status(), 200);
        assert!(dropped(&response).is_empty(), "{body}");
        assert_eq!(mock.requests()[0]["body"]["messages"], body["messages"]);

        let mock = healthy_mock().await;
        let gw = seeing(&mock, ANTHROPIC).await;
        let response = gw.chat(body.clone()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(dropped(&response), ["unknown members"], "{body}");
        let sent = mock.requests()[0]["body"].to_string();
        assert!(
            !sent.contains("colour") && !sent.contains("format"),
            "{sent}"
        );
    }
}

/// A chat tool's member the API does not define, at either level, and a
/// tool of another type: the chat transport carries them, the Anthropic
/// transport names them.
#[tokio::test]
async fn a_chat_tools_member_no_row_names_goes_to_a_chat_provider_and_is_named_on_the_anthropic_transport()
 {
    let body = json!({"model": "p/m", "messages": [{"role": "user", "content": "hi"}],
        "tools": [
            {"type": "function", "defer_loading": true,
             "function": {"name": "f", "parameters": {"type": "object"}, "examples": [{"q": 1}]}},
            {"type": "web_search_preview"}]});
    let mock = healthy_mock().await;
    let gw = single(&mock, OPENAI).await;
    let response = gw.chat(body.clone()).await;
    assert_eq!(response.status(), 200);
    assert!(dropped(&response).is_empty());
    assert_eq!(mock.requests()[0]["body"]["tools"], body["tools"]);

    let mock = healthy_mock().await;
    let gw = single(&mock, ANTHROPIC).await;
    // Twice: the second request's tools are the memo's.
    for _ in 0..2 {
        let response = gw.chat(body.clone()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(dropped(&response), ["unknown members"]);
    }
    let sent = mock.requests()[1]["body"]["tools"].to_string();
    assert!(sent.contains(r#""name":"f""#), "{sent}");
    for lost in ["defer_loading", "examples", "web_search_preview"] {
        assert!(!sent.contains(lost), "{sent}");
    }
}

#[tokio::test]
async fn a_messages_tools_member_no_row_names_goes_to_an_anthropic_provider_and_is_named_on_the_chat_transport()
 {
    let body = json!({"model": "p/m", "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"name": "f", "input_schema": {"type": "object"}, "eager_input_streaming": true}]});
    let mock = healthy_mock().await;
    let gw = single(&mock, ANTHROPIC).await;
    let response = gw.messages(body.clone()).await;
    assert_eq!(response.status(), 200);
    assert!(dropped(&response).is_empty());
    assert_eq!(mock.requests()[0]["body"]["tools"], body["tools"]);

    let mock = healthy_mock().await;
    let gw = single(&mock, OPENAI).await;
    // Twice: the second request's tools are the memo's.
    for _ in 0..2 {
        let response = gw.messages(body.clone()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(dropped(&response), ["unknown members"]);
    }
    assert!(
        !mock.requests()[1]["body"]
            .to_string()
            .contains("eager_input_streaming")
    );
}

/// A system prompt's block that is not text, in `system` or in a system
/// message: an Anthropic provider gets it as sent, the chat transport,
/// whose system message is text, names it.
#[tokio::test]
async fn a_messages_system_block_that_is_not_text_is_named_on_the_chat_transport() {
    let image = json!({"type": "image", "source": {"type": "base64",
        "media_type": "image/png", "data": "iVBORw0KGgo="}});
    let bodies = [
        json!({"model": "p/m", "max_tokens": 10,
            "system": [{"type": "text", "text": "Be brief."}, image],
            "messages": [{"role": "user", "content": "hi"}]}),
        json!({"model": "p/m", "max_tokens": 10, "messages": [
            {"role": "user", "content": "hi"},
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}, image]}]}),
    ];
    for body in bodies {
        let mock = healthy_mock().await;
        let gw = seeing(&mock, ANTHROPIC).await;
        let response = gw.messages(body.clone()).await;
        assert_eq!(response.status(), 200);
        assert!(dropped(&response).is_empty(), "{body}");
        let sent = &mock.requests()[0]["body"];
        assert!(sent.to_string().contains("iVBORw0KGgo="), "{sent}");

        let mock = healthy_mock().await;
        let gw = seeing(&mock, OPENAI).await;
        // Twice: the second request's system prompt is the memo's.
        for _ in 0..2 {
            let response = gw.messages(body.clone()).await;
            assert_eq!(response.status(), 200);
            assert_eq!(dropped(&response), ["unknown members"], "{body}");
        }
        let sent = &mock.requests()[0]["body"];
        assert!(!sent.to_string().contains("iVBORw0KGgo="), "{sent}");
        assert!(sent.to_string().contains("Be brief."), "{sent}");
    }
}

/// A member of `thinking`, `tool_choice`, `metadata` or `output_config`
/// (or its `format`) that no row names (`thinking.display`,
/// `output_config.task_budget`): an Anthropic provider gets it as sent,
/// the chat transport, which writes them anew, names it.
#[tokio::test]
async fn a_member_no_row_names_in_thinking_tool_choice_metadata_or_output_config_is_named_where_it_is_dropped()
 {
    let tools = json!([{"name": "f", "input_schema": {"type": "object"}}]);
    let bodies = [
        json!({"thinking": {"type": "adaptive", "display": "omitted"}}),
        json!({"tools": tools, "tool_choice": {"type": "auto", "colour": "blue"}}),
        json!({"metadata": {"user_id": "u-1", "session": "s-1"}}),
        json!({"output_config": {"effort": "low",
            "task_budget": {"type": "tokens", "total": 400000}}}),
        json!({"output_config": {"task_budget": {"type": "tokens", "total": 400000}}}),
        json!({"output_config": {"format": {"type": "json_schema",
            "schema": {"type": "object"}, "colour": "blue"}}}),
    ];
    for extra in bodies {
        let mut body = json!({"model": "p/m", "max_tokens": 2000,
            "messages": [{"role": "user", "content": "hi"}]});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        let mock = healthy_mock().await;
        let gw = single(&mock, ANTHROPIC).await;
        let response = gw.messages(body.clone()).await;
        assert_eq!(response.status(), 200);
        assert!(dropped(&response).is_empty(), "{body}");
        let sent = &mock.requests()[0]["body"];
        for key in ["thinking", "tool_choice", "metadata", "output_config"] {
            assert_eq!(sent.get(key), body.get(key), "{key}: {sent}");
        }

        let mock = healthy_mock().await;
        let gw = single(&mock, OPENAI).await;
        let response = gw.messages(body.clone()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(dropped(&response), ["unknown members"], "{body}");
        let sent = mock.requests()[0]["body"].to_string();
        for mark in ["display", "colour", "s-1", "task_budget"] {
            assert!(!sent.contains(mark), "{mark}: {sent}");
        }
    }
}

/// Over the Anthropic transport, a `thinking` or `tool_choice` the plan
/// writes anew (Kimi Coding's switch, K3's named tool sent as `any`)
/// loses the members the API does not give it, and the
/// answer names them; one sent as the client wrote it keeps them, and is
/// not named.
#[tokio::test]
async fn unknown_members_of_a_thinking_or_tool_choice_the_plan_writes_anew_are_named() {
    let mock = healthy_mock().await;
    let gw = gateway(json!({
        "models": {"providers": {"kimi": {"baseUrl": base_url(&mock, ANTHROPIC),
                                          "apiKey": KEY, "api": ANTHROPIC}}},
        "agents": {"defaults": {"model": "kimi/kimi-for-coding"}},
    }))
    .await;
    let tools = json!([{"name": "f", "input_schema": {"type": "object"}}]);
    let cases = [
        (
            json!({"thinking": {"type": "disabled", "display": "x"}}),
            "thinking",
        ),
        (
            json!({"thinking": {"type": "enabled", "budget_tokens": 1024, "display": "x"}}),
            "thinking",
        ),
        (
            json!({"model": "kimi/k3", "tools": tools,
                   "tool_choice": {"type": "tool", "name": "f", "colour": "blue"}}),
            "tool_choice",
        ),
        (
            json!({"tools": tools, "tool_choice": {"type": "auto", "colour": "blue"}}),
            "tool_choice",
        ),
    ];
    let mut outcomes = Vec::new();
    for (at, (extra, member)) in cases.into_iter().enumerate() {
        let mut body = json!({"model": "kimi/kimi-for-coding", "max_tokens": 2000,
            "messages": [{"role": "user", "content": "hi"}]});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        let response = gw.messages(body.clone()).await;
        assert_eq!(response.status(), 200);
        let named = dropped(&response).contains(&"unknown members".to_string());
        let sent = &mock.requests()[at]["body"][member];
        let kept = sent == &body[member];
        assert_ne!(named, kept, "{body} sent {sent}");
        outcomes.push(named);
    }
    assert_eq!(outcomes, [true, false, true, false]);
}

#[tokio::test]
async fn a_member_no_row_names_in_a_messages_block_or_a_responses_item_is_named_where_it_is_dropped()
 {
    let body = json!({"model": "p/m", "max_tokens": 10, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "hi", "colour": "blue"}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "t1", "name": "f", "input": {}, "caller": {"type": "direct"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
            "content": [{"type": "text", "text": "ok", "colour": "red"}]}]}]});
    let mock = healthy_mock().await;
    let gw = single(&mock, ANTHROPIC).await;
    let response = gw.messages(body.clone()).await;
    assert_eq!(response.status(), 200);
    assert!(dropped(&response).is_empty());
    assert_eq!(mock.requests()[0]["body"]["messages"], body["messages"]);

    let mock = healthy_mock().await;
    let gw = single(&mock, OPENAI).await;
    let response = gw.messages(body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(dropped(&response), ["unknown members"]);
    let sent = mock.requests()[0]["body"].to_string();
    assert!(
        !sent.contains("colour") && !sent.contains("caller"),
        "{sent}"
    );

    // A Responses item's, its reasoning's, text's or tool choice's: no
    // transport speaks Responses.
    let bodies = [
        json!({"model": "p/m", "input": [
            {"type": "message", "role": "user", "content": "hi", "phase": "final"}]}),
        json!({"model": "p/m", "input": "hi", "reasoning": {"effort": "low", "colour": "blue"}}),
        json!({"model": "p/m", "input": "hi", "text": {"format": {"type": "text"}, "colour": "blue"}}),
        json!({"model": "p/m", "input": "hi", "tools": [{"type": "function", "name": "f",
            "parameters": {"type": "object"}}],
            "tool_choice": {"type": "function", "name": "f", "colour": "blue"}}),
    ];
    for (body, api) in bodies
        .iter()
        .flat_map(|body| [(body, OPENAI), (body, ANTHROPIC)])
    {
        let mock = healthy_mock().await;
        let gw = single(&mock, api).await;
        let response = gw.responses(body.clone()).await;
        assert_eq!(response.status(), 200);
        let named = dropped(&response);
        assert!(
            named.contains(&"unknown members".to_string()),
            "{api}: {body} {named:?}"
        );
    }
    // An output item's id and status name what is stored: nothing lost.
    let body = json!({"model": "p/m", "input": [
        {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
         "content": [{"type": "output_text", "text": "Hello"}]},
        {"type": "message", "role": "user", "content": "Again."}]});
    let mock = healthy_mock().await;
    let gw = single(&mock, OPENAI).await;
    let response = gw.responses(body).await;
    assert_eq!(response.status(), 200);
    assert!(dropped(&response).is_empty());
    // A tool choice with only its own members, or another written `null`.
    let body = json!({"model": "p/m", "input": "hi", "tools": [{"type": "function", "name": "f",
        "parameters": {"type": "object"}}],
        "tool_choice": {"type": "function", "name": "f", "colour": null}});
    let response = gw.responses(body).await;
    assert_eq!(response.status(), 200);
    assert!(dropped(&response).is_empty());
}

/// A Messages request whose only tools are server tools loses them on a
/// chat provider, and its `tool_choice` with them: both are named.
#[tokio::test]
async fn a_tool_choice_left_with_no_tool_of_the_clients_own_is_named() {
    let mock = healthy_mock().await;
    let gw = single(&mock, OPENAI).await;
    let body = json!({"model": "p/m", "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        "tool_choice": {"type": "auto"}});
    let response = gw.messages(body.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(dropped(&response), ["web_search_20250305", "tool_choice"]);
    let _ = response.bytes().await;
    let sent = &mock.requests()[0]["body"];
    assert!(
        sent.get("tools").is_none() && sent.get("tool_choice").is_none(),
        "{sent}"
    );

    // With a tool of its own, the choice goes on.
    let mut own = body;
    own["tools"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "f", "input_schema": {"type": "object"}}));
    let response = gw.messages(own).await;
    assert_eq!(dropped(&response), ["web_search_20250305"]);
}

/// A reasoning item's (or its summary's or text's) and a custom tool
/// call's (and its output's) member no row names is named on both
/// transports, as a message's or a function call's is: `encrypted_content`,
/// which clawgate neither reads nor returns, too. Their known members go
/// on.
#[tokio::test]
async fn a_reasoning_items_or_custom_calls_member_no_row_names_is_named() {
    let bodies = [
        json!({"model": "p/m", "input": [
            {"role": "user", "content": "hi"},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "SUMM"}],
             "extra_member": "IMPORTANT"},
            {"role": "assistant", "content": "prev"},
            {"role": "user", "content": "again"}]}),
        json!({"model": "p/m", "input": [
            {"role": "user", "content": "hi"},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "SUMM", "extra": "IMPORTANT"}],
             "content": [{"type": "reasoning_text", "text": "RAW", "extra": "IMPORTANT"}]},
            {"role": "assistant", "content": "prev"},
            {"role": "user", "content": "again"}]}),
        json!({"model": "p/m", "input": [
            {"role": "user", "content": "hi"},
            {"type": "reasoning", "summary": [], "encrypted_content": "gAAAA"},
            {"role": "assistant", "content": "prev"},
            {"role": "user", "content": "again"}]}),
        json!({"model": "p/m", "tools": [{"type": "custom", "name": "apply_patch"}], "input": [
            {"role": "user", "content": "patch it"},
            {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "*** Begin",
             "zz": "IMPORTANT"},
            {"type": "custom_tool_call_output", "call_id": "c1", "output": "done", "yy": 2}]}),
    ];
    for api in [OPENAI, ANTHROPIC] {
        for body in &bodies {
            let mock = healthy_mock().await;
            let gw = seeing(&mock, api).await;
            let response = gw.responses(body.clone()).await;
            assert_eq!(response.status(), 200, "{api}: {body}");
            assert!(
                dropped(&response).contains(&"unknown members".to_string()),
                "{api}: {body}"
            );
            let sent = mock.requests()[0]["body"].to_string();
            assert!(
                !sent.contains("IMPORTANT") && !sent.contains("gAAAA"),
                "{sent}"
            );
        }
    }
    // Without the unknown member, nothing is named.
    let mock = healthy_mock().await;
    let gw = seeing(&mock, OPENAI).await;
    let mut plain = bodies[0].clone();
    plain["input"][1]
        .as_object_mut()
        .unwrap()
        .remove("extra_member");
    let response = gw.responses(plain).await;
    assert!(dropped(&response).is_empty(), "{:?}", dropped(&response));
    assert!(mock.requests()[0]["body"].to_string().contains("SUMM"));
}

#[tokio::test]
async fn a_replayed_output_texts_annotations_and_logprobs_are_named_when_they_say_something() {
    let turn = |annotations: Value, logprobs: Value| {
        json!({"model": "p/m", "input": [
            {"role": "user", "content": "q"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text",
                "text": "Paris is sunny [1].", "annotations": annotations, "logprobs": logprobs}]},
            {"role": "user", "content": "source?"}]})
    };
    let citation = json!([{"type": "url_citation", "url": "https://weather.example/paris",
        "title": "Paris weather", "start_index": 0, "end_index": 18}]);
    let logprob = json!([{"token": "Paris", "logprob": -0.1, "bytes": [80], "top_logprobs": []}]);
    let mock = healthy_mock().await;
    let gw = single(&mock, OPENAI).await;
    for (body, named) in [
        (turn(json!([]), json!([])), false),
        (turn(Value::Null, json!([])), false),
        (turn(citation.clone(), json!([])), true),
        (turn(json!([]), logprob), true),
    ] {
        let response = gw.responses(body.clone()).await;
        assert_eq!(response.status(), 200);
        let said: &[&str] = if named { &["unknown members"] } else { &[] };
        assert_eq!(dropped(&response), said, "{body}");
    }
    assert!(
        !mock.requests()[2]["body"]
            .to_string()
            .contains("weather.example")
    );
}

#[tokio::test]
async fn a_responses_choice_with_no_tool_left_is_named_with_parallel_tool_calls() {
    let mock = healthy_mock().await;
    for (api, kind) in [(OPENAI, "OpenAI"), (ANTHROPIC, "Anthropic")] {
        let gw = single(&mock, api).await;
        let response = gw
            .responses(json!({"model": "p/m", "input": "hi", "parallel_tool_calls": false}))
            .await;
        assert_eq!(response.status(), 200, "{kind}");
        assert_eq!(dropped(&response), ["parallel_tool_calls"], "{kind}");
        let response = gw
            .responses(
                json!({"model": "p/m", "input": "hi", "tools": [{"type": "web_search"}],
                "tool_choice": "none", "parallel_tool_calls": false}),
            )
            .await;
        assert_eq!(response.status(), 200, "{kind}");
        let mut said = dropped(&response);
        said.sort();
        assert_eq!(
            said,
            ["parallel_tool_calls", "tool_choice", "web_search tools"],
            "{kind}"
        );
    }
    for request in mock.requests() {
        let sent = request["body"].to_string();
        assert!(
            !sent.contains("tool_choice") && !sent.contains("parallel"),
            "{sent}"
        );
    }
}

#[tokio::test]
async fn a_stream_options_member_no_row_names_is_carried_or_named() {
    let body = |stream: bool| {
        json!({"model": "p/m", "messages": [{"role": "user", "content": "hi"}], "stream": stream,
            "stream_options": {"include_usage": true, "include_obfuscation": false}})
    };
    // Streamed to a chat provider, the client's options go as sent.
    let mock = healthy_mock().await;
    let gw = single(&mock, OPENAI).await;
    let response = gw.chat(body(true)).await;
    assert_eq!(response.status(), 200);
    assert!(dropped(&response).is_empty());
    assert_eq!(
        mock.requests()[0]["body"]["stream_options"]["include_obfuscation"],
        false
    );
    // Not streamed, the options are the gateway's own: the member is named.
    let response = gw.chat(body(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(dropped(&response), ["unknown members"]);
    assert!(
        !mock.requests()[1]["body"]
            .to_string()
            .contains("obfuscation")
    );
    // To an Anthropic provider, named either way.
    let mock = healthy_mock().await;
    let gw = single(&mock, ANTHROPIC).await;
    for stream in [true, false] {
        let response = gw.chat(body(stream)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(dropped(&response), ["unknown members"], "{stream}");
    }
}

#[tokio::test]
async fn a_replayed_custom_call_and_a_function_message_go_named_over_the_anthropic_transport() {
    let body = json!({"model": "p/m", "max_tokens": 20,
        "tools": [{"type": "custom", "custom": {"name": "c"}}],
        "messages": [{"role": "user", "content": "a"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "custom", "custom": {"name": "c", "input": "raw text"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
            {"role": "assistant", "content": null, "function_call": {"name": "f", "arguments": "{}"}},
            {"role": "function", "name": "f", "content": "the function's answer"},
            {"role": "user", "content": "b"}]});
    let mock = healthy_mock().await;
    let gw = single(&mock, ANTHROPIC).await;
    let response = gw.chat(body.clone()).await;
    assert_eq!(response.status(), 200);
    let said = dropped(&response);
    assert!(said.contains(&"unknown members".to_string()), "{said:?}");
    assert!(
        said.iter().any(|name| name.starts_with("custom tools")),
        "{said:?}"
    );
    let sent = mock.requests()[0]["body"].clone();
    let text = sent.to_string();
    for lost in [
        "tool_use",
        "tool_result",
        "the function's answer",
        "raw text",
    ] {
        assert!(!text.contains(lost), "{lost} in {text}");
    }
    assert_eq!(
        sent["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])
    );
    // To a chat provider, all of it as sent.
    let mock = healthy_mock().await;
    let gw = single(&mock, OPENAI).await;
    let response = gw.chat(body.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(mock.requests()[0]["body"]["messages"], body["messages"]);
}

/// A gateway whose default chain is one chat provider of `dialect` on
/// `mock`, serving `model`.
async fn of_dialect(mock: &MockServer, dialect: &str, model: &str) -> TestGateway {
    gateway(json!({
        "models": {"mode": "replace", "providers": {"p": {
            "baseUrl": mock.base_url(), "apiKey": KEY, "dialect": dialect,
            "models": [{"id": model, "reasoning": true}]}}},
        "agents": {"defaults": {"model": format!("p/{model}")}},
    }))
    .await
}

/// Of a chat client's `thinking` (Moonshot's switch) and `reasoning`
/// (OpenRouter's), the members the rules do not read go where the
/// client's object goes as sent, and are named where a rule writes the
/// object anew or takes it out, or the transport translates it.
#[tokio::test]
async fn a_thinking_or_reasoning_member_the_rules_do_not_read_is_carried_or_named() {
    let with = |member: Value| {
        let mut body = json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5000});
        body.as_object_mut()
            .unwrap()
            .extend(member.as_object().unwrap().clone());
        body
    };
    let thinking = with(json!({"thinking": {"type": "enabled", "foo": 1}}));
    let reasoning = with(json!({"reasoning": {"effort": "high", "exclude": true}}));
    // As sent to a provider of no known dialect.
    let mock = healthy_mock().await;
    let gw = single(&mock, OPENAI).await;
    for body in [&thinking, &reasoning] {
        let response = gw.chat(body.clone()).await;
        assert_eq!(response.status(), 200);
        assert!(dropped(&response).is_empty(), "{body}");
    }
    let sent = mock.requests();
    assert_eq!(sent[0]["body"]["thinking"]["foo"], 1);
    assert_eq!(sent[1]["body"]["reasoning"]["exclude"], true);
    // Moonshot's rules write its switch anew: what else the client's
    // objects held is named.
    let mock = healthy_mock().await;
    let gw = of_dialect(&mock, "moonshot", "kimi-k2.6").await;
    for body in [&thinking, &reasoning] {
        let response = gw.chat(body.clone()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(dropped(&response), ["unknown members"], "{body}");
    }
    for request in mock.requests() {
        let sent = request["body"].to_string();
        assert!(!sent.contains("foo") && !sent.contains("exclude"), "{sent}");
    }
    // The Anthropic transport translates both: named.
    let mock = healthy_mock().await;
    let gw = single(&mock, ANTHROPIC).await;
    for body in [&thinking, &reasoning] {
        let response = gw.chat(body.clone()).await;
        assert_eq!(response.status(), 200);
        assert!(
            dropped(&response).contains(&"unknown members".to_string()),
            "{body}"
        );
    }
}

/// A chat client's `thinking.budget_tokens` (the shape Anthropic's and
/// LiteLLM's clients send on the chat API) is the thinking budget where a
/// target takes one, as a Messages client's is: Messages' own on the
/// Anthropic transport, OpenRouter's `reasoning.max_tokens`, in `thinking`
/// as sent to a provider of no known dialect; named where the rules write
/// `thinking` anew without it (Moonshot's switch). One that is no number
/// of tokens is refused.
#[tokio::test]
async fn a_chat_clients_thinking_budget_is_the_budget_where_a_target_takes_one() {
    let body = json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1800,
        "thinking": {"type": "enabled", "budget_tokens": 1500}});
    let sent_by = |mock: &MockServer| mock.requests()[0]["body"].clone();
    for (api, at) in [
        (ANTHROPIC, "/thinking/budget_tokens"),
        (OPENAI, "/thinking/budget_tokens"),
    ] {
        let mock = healthy_mock().await;
        let gw = gateway(json!({
            "models": {"mode": "replace", "providers": {"p": {
                "baseUrl": base_url(&mock, api), "apiKey": KEY, "api": api,
                "models": [{"id": "m", "reasoning": true}]}}},
            "agents": {"defaults": {"model": "p/m"}},
        }))
        .await;
        let response = gw.chat(body.clone()).await;
        assert_eq!(response.status(), 200, "{api}");
        assert!(
            dropped(&response).is_empty(),
            "{api}: {:?}",
            dropped(&response)
        );
        assert_eq!(sent_by(&mock).pointer(at), Some(&json!(1500)), "{api}");
    }
    let mock = healthy_mock().await;
    let gw = of_dialect(&mock, "openrouter", "anthropic/claude-sonnet-4.5").await;
    let response = gw.chat(body.clone()).await;
    assert!(dropped(&response).is_empty());
    let sent = sent_by(&mock);
    assert_eq!(sent["reasoning"], json!({"max_tokens": 1500}), "{sent}");
    assert!(sent.get("thinking").is_none(), "{sent}");
    let mock = healthy_mock().await;
    let gw = of_dialect(&mock, "moonshot", "kimi-k2.6").await;
    let response = gw.chat(body.clone()).await;
    assert_eq!(dropped(&response), ["thinking.budget_tokens"]);
    assert!(!sent_by(&mock).to_string().contains("budget_tokens"));
    for budget in [json!("lots"), json!(-1), json!(1.5)] {
        let mut body = body.clone();
        body["thinking"]["budget_tokens"] = budget;
        let response = gw.chat(body).await;
        assert_eq!(response.status(), 400);
        let error = response.text().await.unwrap();
        assert!(
            error.contains("`thinking.budget_tokens` must be a whole number"),
            "{error}"
        );
    }
}

/// Thinking the gateway writes for Anthropic's API has a budget that API
/// takes, at least 1,024 and below `max_tokens`: a smaller budget asked is
/// raised to it, and where none fits thinking goes off, the ask named.
/// Kimi Coding's endpoint, not known to hold the minimum, gets a budget
/// below `max_tokens` as before.
#[tokio::test]
async fn thinking_written_for_anthropic_has_a_budget_its_api_takes() {
    let ask = |max_tokens: u64, thinking: Value| {
        json!({"messages": [{"role": "user", "content": "hi"}],
               "max_tokens": max_tokens, "thinking": thinking})
    };
    let enabled = json!({"type": "enabled"});
    // `openai`: no known dialect, Anthropic's API's rules.
    let cases = [
        (
            "openai",
            ask(4000, json!({"type": "enabled", "budget_tokens": 500})),
            json!({"type": "enabled", "budget_tokens": 1024}),
            vec![],
        ),
        (
            "openai",
            ask(800, enabled.clone()),
            json!({"type": "disabled"}),
            vec!["thinking"],
        ),
        (
            "openai",
            ask(1024, enabled.clone()),
            json!({"type": "disabled"}),
            vec!["thinking"],
        ),
        (
            "openai",
            ask(1025, enabled.clone()),
            json!({"type": "enabled", "budget_tokens": 1024}),
            vec![],
        ),
        (
            "kimi-coding",
            ask(800, enabled.clone()),
            json!({"type": "enabled", "budget_tokens": 799}),
            vec![],
        ),
    ];
    // Nor with a forced call or the client's own sampling, which go on.
    let tools =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    let mut asks = Vec::new();
    for (key, value) in [
        ("tool_choice", json!("required")),
        (
            "tool_choice",
            json!({"type": "function", "function": {"name": "f"}}),
        ),
        ("temperature", json!(0.3)),
        ("top_p", json!(0.5)),
    ] {
        let mut body = ask(4000, enabled.clone());
        body["tools"] = tools.clone();
        body[key] = value;
        asks.push((
            "openai",
            body,
            json!({"type": "disabled"}),
            vec!["thinking"],
        ));
    }
    let mut kept = ask(4000, enabled.clone());
    kept["temperature"] = json!(1);
    kept["top_p"] = json!(0.95);
    kept["tools"] = tools;
    kept["tool_choice"] = json!("auto");
    let on = json!({"type": "enabled", "budget_tokens": 2000});
    asks.push(("openai", kept, on, vec![]));
    // A Messages client's own thinking with its `top_k`, as a chat
    // client's would be.
    let mock = healthy_mock().await;
    let gw = single(&mock, ANTHROPIC).await;
    let response = gw
        .messages(json!({"model": "p/m", "max_tokens": 4000, "top_k": 5,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        dropped(&response).iter().any(|n| n == "thinking"),
        "{:?}",
        dropped(&response)
    );
    let sent = mock.requests().pop().unwrap();
    assert_eq!(sent["body"]["thinking"], json!({"type": "disabled"}));
    assert_eq!(sent["body"]["top_k"], 5);
    for (dialect, body, sent, named) in cases.into_iter().chain(asks) {
        let mock = healthy_mock().await;
        let gw = gateway(json!({
            "models": {"mode": "replace", "providers": {"p": {
                "baseUrl": base_url(&mock, ANTHROPIC), "apiKey": KEY, "api": ANTHROPIC,
                "dialect": dialect, "models": [{"id": "m", "reasoning": true}]}}},
            "agents": {"defaults": {"model": "p/m"}},
        }))
        .await;
        let response = gw.chat(body.clone()).await;
        assert_eq!(response.status(), 200, "{dialect}: {body}");
        assert_eq!(dropped(&response), named, "{dialect}: {body}");
        let request = &mock.requests()[0]["body"];
        assert_eq!(request["thinking"], sent, "{dialect}: {body}");
    }
}

/// `body`, a Responses request, on either transport (neither speaks
/// Responses): its member `member` is not sent, and the answer names
/// unknown members.
async fn named_on_both_transports(body: Value, member: &str) {
    for api in [OPENAI, ANTHROPIC] {
        let mock = healthy_mock().await;
        let gw = single(&mock, api).await;
        let response = gw.responses(body.clone()).await;
        assert_eq!(response.status(), 200, "{api}");
        assert_eq!(dropped(&response), ["unknown members"], "{api}");
        let sent = mock.requests()[0]["body"].to_string();
        assert!(!sent.contains(member), "{api}: {sent}");
    }
}

/// A member no row names in a tool output's parts is named where it is
/// dropped, as one in a message's parts is.
#[tokio::test]
async fn a_tool_outputs_part_member_no_row_names_is_named() {
    let body = json!({"model": "p/m", "input": [
        {"type": "function_call", "call_id": "c1", "name": "get", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": [
            {"type": "input_text", "text": "out", "cache_control": {"type": "ephemeral"}}]}],
        "tools": [{"type": "function", "name": "get", "parameters": {"type": "object"}}]});
    named_on_both_transports(body, "cache_control").await;
}

/// A member no row names in one of `allowed_tools`' tools is named, as
/// one of the choice itself is.
#[tokio::test]
async fn an_allowed_tools_member_no_row_names_is_named() {
    let body = json!({"model": "p/m", "input": "hi",
        "tools": [{"type": "function", "name": "get", "parameters": {"type": "object"}}],
        "tool_choice": {"type": "allowed_tools", "mode": "auto",
            "tools": [{"type": "function", "name": "get", "foo_at": 5}]}});
    named_on_both_transports(body, "foo_at").await;
}
