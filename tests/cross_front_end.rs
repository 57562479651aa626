//! The same logical request through `/v1/chat/completions`,
//! `/v1/messages` and `/v1/responses`, to every catalog model behind a
//! mock, over either transport: the whole body the provider receives
//! (thinking, the tools and their schemas, the tool choice, every message)
//! must not depend on the client's API.

mod common;

use clawgate::translate::ids;
use clawgate_mock::MockServer;
use common::*;
use serde_json::{Value, json};

/// The catalog, every provider reached over `api` at `mock`.
async fn catalog(mock: &MockServer, api: &str) -> TestGateway {
    let base_url = match api {
        "anthropic-messages" => format!("http://{}/", mock.addr),
        _ => mock.base_url(),
    };
    let at = json!({"api": api, "baseUrl": base_url, "apiKey": KEY});
    gateway(json!({"models": {"providers": {
        "moonshot": at, "kimi": at, "openrouter": at}}}))
    .await
}

/// One turn as each client writes it for a provider over `api`: thinking
/// asked for, a system prompt, two replayed tool calls with the same id
/// (as Kimi gives them: `functions.read:0` in every turn; an Anthropic
/// client replays them as clawgate handed them out, each answer's with
/// its own nonce) and their results, and a tool whose schema has a `type`
/// beside an `anyOf`. Thinking in Messages'
/// words: over the Anthropic transport, the budget a chat client's effort
/// becomes there (half `max_tokens`); over the chat transport, the effort
/// alone (a budget is a request of its own there: OpenRouter takes it as
/// `reasoning.max_tokens`).
fn turn(model: &str, api: &str) -> (Value, Value, Value) {
    let schema = json!({"type": "object", "properties": {
        "path": {"type": "string", "anyOf": [{"enum": ["a"]}, {"pattern": "^/"}]}},
        "required": ["path"]});
    let chat = json!({"model": model, "max_tokens": 8000, "reasoning_effort": "high",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "read a"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "read", "arguments": "{\"path\":\"a\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "A"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": KIMI_ID, "type": "function",
                "function": {"name": "read", "arguments": "{\"path\":\"b\"}"}}]},
            {"role": "tool", "tool_call_id": KIMI_ID, "content": "B"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": KIMI_ID, "type": "function",
                "function": {"name": "read", "arguments": "{\"path\":\"c\"}"}}]},
            {"role": "tool", "tool_call_id": KIMI_ID, "content": "C"},
            {"role": "user", "content": "thanks"}],
        "tools": [{"type": "function", "function": {"name": "read", "description": "Read a file", "parameters": schema}}]});
    let messages = json!({"model": model, "max_tokens": 8000,
        "thinking": if api == "anthropic-messages" {
            json!({"type": "enabled", "budget_tokens": 4000})
        } else {
            json!({"type": "adaptive"})
        },
        "output_config": {"effort": "high"},
        "system": "be brief",
        "messages": [
            {"role": "user", "content": "read a"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "read", "input": {"path": "a"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "A"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": handed_out(1), "name": "read", "input": {"path": "b"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": handed_out(1), "content": "B"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": handed_out(2), "name": "read", "input": {"path": "c"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": handed_out(2), "content": "C"}]},
            {"role": "user", "content": "thanks"}],
        "tools": [{"name": "read", "description": "Read a file", "input_schema": schema}]});
    let responses = json!({"model": model, "max_output_tokens": 8000, "reasoning": {"effort": "high"},
        "instructions": "be brief",
        "input": [
            {"role": "user", "content": "read a"},
            {"type": "function_call", "call_id": "call_1", "name": "read", "arguments": "{\"path\":\"a\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "A"},
            {"type": "function_call", "call_id": KIMI_ID, "name": "read", "arguments": "{\"path\":\"b\"}"},
            {"type": "function_call_output", "call_id": KIMI_ID, "output": "B"},
            {"type": "function_call", "call_id": KIMI_ID, "name": "read", "arguments": "{\"path\":\"c\"}"},
            {"type": "function_call_output", "call_id": KIMI_ID, "output": "C"},
            {"role": "user", "content": "thanks"}],
        "tools": [{"type": "function", "name": "read", "description": "Read a file", "parameters": schema}]});
    (chat, messages, responses)
}

/// The id Kimi gives a tool call in every turn.
const KIMI_ID: &str = "functions.read:0";

/// [`KIMI_ID`] as clawgate handed it to an Anthropic client in answer
/// `nonce`.
fn handed_out(nonce: u32) -> String {
    ids::encode(Some(KIMI_ID), 0, ids::Nonce(nonce))
}

/// A body (Messages or chat) with each text spelt one way (a string
/// content or system as one text block, no content as an empty one) and
/// consecutive turns of one role as one: the spellings mean the same to
/// the provider; and each tool-call id named by the order it first
/// appears in (ids differ as each client was handed them, and as the
/// rules make repeated ones unique, while pairing the same calls and
/// results).
fn one_spelling(mut body: Value) -> Value {
    let mut seen: Vec<String> = Vec::new();
    rename_ids(&mut body, &mut seen);
    let as_blocks = |value: Value| match value {
        Value::String(text) => json!([{"type": "text", "text": text}]),
        // A chat turn of tool calls alone: `null` or `""`.
        Value::Null => json!([{"type": "text", "text": ""}]),
        other => other,
    };
    if let Some(system) = body.get_mut("system") {
        *system = as_blocks(system.take());
    }
    let messages = body["messages"].as_array_mut().expect("messages");
    let mut turns: Vec<Value> = Vec::new();
    for mut message in messages.drain(..) {
        let content = as_blocks(message["content"].take());
        match turns.last_mut() {
            Some(last) if last["role"] == message["role"] => {
                let blocks = last["content"].as_array_mut().expect("blocks");
                blocks.extend(content.as_array().cloned().unwrap_or_default());
            }
            _ => {
                message["content"] = content;
                turns.push(message);
            }
        }
    }
    *messages = turns;
    body
}

/// Each tool-call id in `value` as `id<n>`, `n` its place in `seen`.
fn rename_ids(value: &mut Value, seen: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            // A Messages `tool_use` block, or a chat tool call.
            let is_call =
                members.get("type") == Some(&json!("tool_use")) || members.contains_key("function");
            for (key, member) in members.iter_mut() {
                let is_id = matches!(key.as_str(), "tool_use_id" | "tool_call_id")
                    || (key == "id" && is_call);
                match member {
                    Value::String(id) if is_id => {
                        let at = seen.iter().position(|s| s == id).unwrap_or_else(|| {
                            seen.push(id.clone());
                            seen.len() - 1
                        });
                        *id = format!("id{at}");
                    }
                    other => rename_ids(other, seen),
                }
            }
        }
        Value::Array(elements) => elements.iter_mut().for_each(|e| rename_ids(e, seen)),
        _ => {}
    }
}

/// Every turn through the three front ends to every catalog model, its
/// providers reached over `api` at a mock: fails naming each body the
/// mock got that differs from the chat client's. The mock and the gateway
/// are left for more checks.
async fn same_bodies(api: &str) -> (MockServer, TestGateway) {
    let upstream = healthy_mock().await;
    let gw = catalog(&upstream, api).await;
    let refs: Vec<String> = gw
        .gateway
        .config()
        .models()
        .map(|(model_ref, _, _)| model_ref.to_string())
        .collect();
    assert!(refs.len() >= 20, "{refs:?}");
    let mut differing = Vec::new();
    // Each turn also as it forces a tool: by name, and any tool (in chat's,
    // Messages' and Responses' words).
    let forced = [
        [
            json!({"type": "function", "function": {"name": "read"}}),
            json!({"type": "tool", "name": "read"}),
            json!({"type": "function", "name": "read"}),
        ],
        [json!("required"), json!({"type": "any"}), json!("required")],
    ];
    let turns = refs.iter().flat_map(|model| {
        let (chat, messages, responses) = turn(model, api);
        let plain = [chat, messages, responses];
        let with = forced.clone().map(|choices| {
            let mut bodies = plain.clone();
            for (body, choice) in bodies.iter_mut().zip(choices) {
                body["tool_choice"] = choice;
            }
            (model, bodies)
        });
        [(model, plain)].into_iter().chain(with)
    });
    for (model, [chat, messages, responses]) in turns {
        for answered in [
            gw.chat(chat).await,
            gw.messages(messages).await,
            gw.responses(responses).await,
        ] {
            assert_eq!(answered.status(), 200, "{model}");
            answered.bytes().await.unwrap();
        }
        let requests = upstream.requests();
        let [.., from_chat, from_messages, from_responses] = &requests[..] else {
            panic!("three requests");
        };
        let from_chat = one_spelling(from_chat["body"].clone());
        for (front, body) in [("messages", from_messages), ("responses", from_responses)] {
            let body = one_spelling(body["body"].clone());
            if body != from_chat {
                differing.push(format!(
                    "{model}:\n  from chat:      {from_chat}\n  from {front}: {body}"
                ));
            }
        }
    }
    assert!(
        differing.is_empty(),
        "over {api}:\n{}",
        differing.join("\n")
    );
    (upstream, gw)
}

#[tokio::test]
async fn every_front_end_sends_every_catalog_model_the_same_body_over_openai() {
    same_bodies("openai-completions").await;
}

#[tokio::test]
async fn every_front_end_sends_every_catalog_model_the_same_body_over_anthropic() {
    let (upstream, gw) = same_bodies("anthropic-messages").await;

    // And the plan was followed: thinking as each model takes it, the
    // replayed tool call given back its reasoning (none was kept: `""`)
    // where the model thinks on Kimi, Moonshot's schema form for its models.
    let lifted = json!([{"enum": ["a"], "type": "string"}, {"pattern": "^/", "type": "string"}]);
    let on = Some(json!({"type": "enabled", "budget_tokens": 4000}));
    let cases = [
        ("moonshot/kimi-k2.6", on.clone(), true, true),
        ("moonshot/kimi-k2.7-code", None, true, true),
        ("kimi/k3", None, true, true),
        ("moonshot/kimi-k2-turbo", None, false, true),
        ("moonshot/moonshot-v1-8k", None, false, true),
        ("openrouter/moonshotai/kimi-k2.6", on.clone(), false, true),
        ("openrouter/auto", on, false, false),
    ];
    for (model, thinking, given_back, moonshot_form) in cases {
        let (_, messages, _) = turn(model, "anthropic-messages");
        gw.messages(messages).await.bytes().await.unwrap();
        let sent = one_spelling(upstream.requests().last().unwrap()["body"].clone());
        assert_eq!(sent.get("thinking"), thinking.as_ref(), "{model}");
        // Every replayed turn, those whose Kimi id repeats too.
        for turn in [1, 3, 5] {
            let replayed = &sent["messages"][turn]["content"][0];
            let expected = json!({"type": "thinking", "thinking": "", "signature": ""});
            assert_eq!(*replayed == expected, given_back, "{model}: {replayed}");
        }
        let branches = &sent["tools"][0]["input_schema"]["properties"]["path"]["anyOf"];
        assert_eq!(*branches == lifted, moonshot_form, "{model}: {branches}");
    }
}

/// A history resumed from Kimi itself reaches every catalog model over
/// the Anthropic transport from an Anthropic client as from a chat one:
/// the ids Kimi repeats across turns (`functions.read:0`, not as clawgate
/// hands them out) made unique by the rules on its own body too, each
/// result naming its call's id.
#[tokio::test]
async fn kimis_own_repeated_ids_in_a_messages_history_are_sent_unique() {
    let upstream = healthy_mock().await;
    let gw = catalog(&upstream, "anthropic-messages").await;
    let refs: Vec<String> = (gw.gateway.config().models())
        .map(|(model_ref, _, _)| model_ref.to_string())
        .collect();
    let mut unique_somewhere = false;
    for model in &refs {
        let (chat, messages, _) = turn(model, "anthropic-messages");
        let mut messages = messages.to_string();
        for nonce in [1, 2] {
            messages = messages.replace(&handed_out(nonce), KIMI_ID);
        }
        let messages: Value = serde_json::from_str(&messages).unwrap();
        for answered in [gw.chat(chat).await, gw.messages(messages).await] {
            assert_eq!(answered.status(), 200, "{model}");
            answered.bytes().await.unwrap();
        }
        let requests = upstream.requests();
        let [.., from_chat, from_messages] = &requests[..] else {
            panic!("two requests");
        };
        let sent = &from_messages["body"];
        assert_eq!(
            one_spelling(sent.clone()),
            one_spelling(from_chat["body"].clone()),
            "{model}"
        );
        let calls = calls_and_results(sent, model);
        if calls[1] != calls[2] {
            unique_somewhere = true;
            let first = ids::encode_stable(KIMI_ID);
            assert_eq!(
                calls[1], first,
                "{model}: the first is kept, as an Anthropic id"
            );
        }
    }
    // Kimi's dialect makes them unique: not a test that passes for want of
    // a rule.
    assert!(unique_somewhere, "no model was sent unique ids");

    // With a `role: system` message, which Kimi Coding's rewrite moves
    // into `system` (the messages read whole): the same ids.
    let model = "kimi/kimi-for-coding";
    let (_, messages, _) = turn(model, "anthropic-messages");
    let mut messages = messages.to_string();
    for nonce in [1, 2] {
        messages = messages.replace(&handed_out(nonce), KIMI_ID);
    }
    let mut messages: Value = serde_json::from_str(&messages).unwrap();
    let turns = messages["messages"].as_array_mut().unwrap();
    turns.insert(1, json!({"role": "system", "content": "mid-conversation"}));
    gw.messages(messages).await.bytes().await.unwrap();
    let sent = upstream.requests().last().unwrap()["body"].clone();
    assert!(
        sent["system"].to_string().contains("mid-conversation"),
        "{sent}"
    );
    let calls = calls_and_results(&sent, model);
    assert_eq!(calls[1], ids::encode_stable(KIMI_ID), "{sent}");
    assert_ne!(calls[1], calls[2], "{sent}");

    // Parallel calls, their results in another order and before text:
    // each result still names its own call, and no id repeats.
    let call =
        |id: &str, name: &str| json!({"type": "tool_use", "id": id, "name": name, "input": {}});
    let result =
        |id: &str, text: &str| json!({"type": "tool_result", "tool_use_id": id, "content": text});
    let (read, write) = ("functions.read:0", "functions.write:1");
    let calls = json!([call(read, "read"), call(write, "write")]);
    let results =
        json!([result(write, "write"), result(read, "read"), {"type": "text", "text": "go on"}]);
    let parallel = json!({"model": model, "max_tokens": 100, "messages": [
        {"role": "user", "content": "start"},
        {"role": "assistant", "content": calls}, {"role": "user", "content": results},
        {"role": "assistant", "content": calls}, {"role": "user", "content": results}],
        "tools": [{"name": "read", "input_schema": {"type": "object"}},
                  {"name": "write", "input_schema": {"type": "object"}}]});
    gw.messages(parallel).await.bytes().await.unwrap();
    let sent = upstream.requests().last().unwrap()["body"].clone();
    let blocks: Vec<Value> = (sent["messages"].as_array().unwrap().iter())
        .flat_map(|message| message["content"].as_array().cloned().unwrap_or_default())
        .collect();
    let calls: Vec<(&str, &str)> = (blocks.iter())
        .filter(|block| block["type"] == "tool_use")
        .map(|block| {
            (
                block["id"].as_str().unwrap(),
                block["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(calls.len(), 4, "{sent}");
    for (at, (id, _)) in calls.iter().enumerate() {
        assert!(!calls[..at].iter().any(|(other, _)| other == id), "{sent}");
    }
    let results = blocks.iter().filter(|block| block["type"] == "tool_result");
    for block in results {
        let id = block["tool_use_id"].as_str().unwrap();
        let named = calls
            .iter()
            .find(|(call, _)| *call == id)
            .map(|(_, name)| *name);
        assert_eq!(named, block["content"].as_str(), "{sent}");
    }

    // An id Kimi wrote with a space, which the rules repair: no repeat,
    // but no Anthropic id either, so the call and its result take the
    // repaired one.
    let spaced = "functions read:0";
    let once = json!({"model": model, "max_tokens": 100, "messages": [
        {"role": "user", "content": "start"},
        {"role": "assistant", "content": [call(spaced, "read")]},
        {"role": "user", "content": [result(spaced, "read")]}],
        "tools": [{"name": "read", "input_schema": {"type": "object"}}]});
    gw.messages(once).await.bytes().await.unwrap();
    let sent = upstream.requests().last().unwrap()["body"].clone();
    let repaired = ids::encode_stable("functions.read:0");
    let block = |message: usize, kind: &str| {
        let blocks = sent["messages"][message]["content"].as_array().unwrap();
        blocks
            .iter()
            .find(|block| block["type"] == kind)
            .unwrap()
            .clone()
    };
    assert_eq!(block(1, "tool_use")["id"], *repaired, "{sent}");
    assert_eq!(block(2, "tool_result")["tool_use_id"], *repaired, "{sent}");

    // The ids clawgate handed out never repeat as written: they go as
    // they are, though the provider's own under them do.
    let (_, messages, _) = turn(model, "anthropic-messages");
    gw.messages(messages).await.bytes().await.unwrap();
    let sent = upstream.requests().last().unwrap()["body"].clone();
    let calls = calls_and_results(&sent, model);
    assert_eq!(calls, ["call_1", &handed_out(1), &handed_out(2)], "{sent}");
}

/// The three tool calls' ids `sent` (a Messages body) holds, each checked
/// to be its result's.
fn calls_and_results(sent: &Value, model: &str) -> Vec<String> {
    let blocks = (sent["messages"].as_array().unwrap().iter())
        .flat_map(|message| message["content"].as_array().cloned().unwrap_or_default());
    let ids: Vec<String> = blocks
        .filter_map(|block| match block["type"].as_str() {
            Some("tool_use") => block["id"].as_str().map(str::to_string),
            Some("tool_result") => block["tool_use_id"].as_str().map(str::to_string),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 6, "{model}: {ids:?}");
    for pair in ids.chunks(2) {
        assert_eq!(
            pair[0], pair[1],
            "{model}: a result names its call: {ids:?}"
        );
    }
    ids.into_iter().step_by(2).collect()
}

/// A thinking budget reaches OpenRouter from an Anthropic client, as a
/// chat client's effort does: as `reasoning` over the chat transport (its
/// `max_tokens`, the effort's level), as the thinking switch with that
/// budget over the Anthropic one (with half the limit for the effort),
/// below the output limit on both.
#[tokio::test]
async fn a_thinking_budget_reaches_openrouter_from_either_front_end() {
    for api in ["openai-completions", "anthropic-messages"] {
        let upstream = healthy_mock().await;
        let gw = catalog(&upstream, api).await;
        for model in ["openrouter/moonshotai/kimi-k2.6", "openrouter/auto"] {
            let messages = json!({"model": model, "max_tokens": 8000,
                "thinking": {"type": "enabled", "budget_tokens": 3000},
                "messages": [{"role": "user", "content": "hi"}]});
            let chat = json!({"model": model, "max_tokens": 8000, "reasoning_effort": "high",
                "messages": [{"role": "user", "content": "hi"}]});
            gw.messages(messages).await.bytes().await.unwrap();
            let from_messages = upstream.requests().last().unwrap()["body"].clone();
            gw.chat(chat).await.bytes().await.unwrap();
            let from_chat = upstream.requests().last().unwrap()["body"].clone();
            let (budget, effort) = match api {
                "openai-completions" => (
                    ("reasoning", json!({"max_tokens": 3000})),
                    ("reasoning", json!({"effort": "high"})),
                ),
                _ => (
                    (
                        "thinking",
                        json!({"type": "enabled", "budget_tokens": 3000}),
                    ),
                    (
                        "thinking",
                        json!({"type": "enabled", "budget_tokens": 4000}),
                    ),
                ),
            };
            assert_eq!(
                from_messages[budget.0], budget.1,
                "{model} over {api}: {from_messages}"
            );
            assert_eq!(
                from_chat[effort.0], effort.1,
                "{model} over {api}: {from_chat}"
            );
            // A budget at or over the output limit is kept below it, on
            // either transport (the one rule, `providers::thinking_budget`).
            let over = json!({"model": model, "max_tokens": 2000,
                "thinking": {"type": "enabled", "budget_tokens": 3000},
                "messages": [{"role": "user", "content": "hi"}]});
            gw.messages(over).await.bytes().await.unwrap();
            let sent = upstream.requests().last().unwrap()["body"].clone();
            let below = match api {
                "openai-completions" => &sent["reasoning"]["max_tokens"],
                _ => &sent["thinking"]["budget_tokens"],
            };
            assert_eq!(*below, json!(1999), "{model} over {api}: {sent}");
        }
    }
}

/// A tool choice with no tool offered (and a word on parallel calls)
/// reaches no provider, from any front end over either transport, forced
/// or not, and the answer names it.
#[tokio::test]
async fn a_tool_choice_with_no_tools_reaches_no_provider_and_is_named() {
    let user = json!([{"role": "user", "content": "hi"}]);
    for api in ["openai-completions", "anthropic-messages"] {
        let upstream = healthy_mock().await;
        let gw = catalog(&upstream, api).await;
        for model in ["moonshot/kimi-k2.6", "kimi/k3", "openrouter/auto"] {
            let asked = [
                ("auto", json!("auto"), json!({"type": "auto"})),
                (
                    "forced",
                    json!("required"),
                    json!({"type": "any", "disable_parallel_tool_use": true}),
                ),
            ];
            // Responses' own kinds too, which no chat choice translates.
            let responses_choices = [json!("auto"), json!({"type": "web_search_preview"})];
            for ((how, chat_choice, messages_choice), responses_choice) in
                asked.into_iter().zip(responses_choices)
            {
                let chat = json!({"model": model, "messages": user,
                    "tool_choice": chat_choice, "parallel_tool_calls": false});
                let messages = json!({"model": model, "max_tokens": 100, "messages": user,
                    "tool_choice": messages_choice, "tools": []});
                let responses = json!({"model": model, "input": "hi",
                    "tool_choice": responses_choice});
                for (front, answered) in [
                    ("chat", gw.chat(chat).await),
                    ("messages", gw.messages(messages).await),
                    ("responses", gw.responses(responses).await),
                ] {
                    let what = format!("{api} {model} {how} from {front}");
                    assert_eq!(answered.status(), 200, "{what}");
                    let dropped = answered.headers()["x-clawgate-dropped"].to_str().unwrap();
                    assert!(dropped.contains("tool_choice"), "{what}: {dropped}");
                    answered.bytes().await.unwrap();
                    let sent = upstream.requests().last().unwrap()["body"].clone();
                    assert_eq!(sent.get("tool_choice"), None, "{what}: {sent}");
                    assert_eq!(sent.get("parallel_tool_calls"), None, "{what}: {sent}");
                }
            }
        }
    }
}
