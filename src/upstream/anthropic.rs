//! The `anthropic-messages` transport (Kimi Coding's Anthropic endpoint,
//! Moonshot's, Anthropic's): the body in Messages form, the version and
//! key headers, and answers and streams read back into the OpenAI shapes
//! the pipeline works on. The translation itself is
//! [`crate::translate::anthropic_provider`].
//!
//! The body is the target's plan, made once on the request model and only
//! rendered here: a request from an OpenAI client is written with the
//! plan's edits and translated; an Anthropic client's own body goes on
//! with the least change ([`passthrough`]) and the plan's edits that mean
//! something in Messages (thinking, sampling, the tools' schemas, the
//! reasoning given back to replayed tool calls), so that the same target
//! gets the same request whichever API the client used.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use super::EventStream;
use super::transport::{Transport, whole};
use crate::capabilities::Dialect;
use crate::config::Target;
use crate::format::body::{Chunks, Edits};
use crate::format::sse::{Event, Item};
use crate::translate::anthropic_provider::passthrough;
use crate::translate::anthropic_provider::{self, MessagesPlan, StreamTranslator};
use crate::translate::ids;
use crate::wire::openai::ChatRequest;
use crate::wire::request::ClientRequest;

pub struct Anthropic;

impl Transport for Anthropic {
    fn body(
        &self,
        request: &ClientRequest,
        _target: &Target,
        edits: &Edits,
        plan: &MessagesPlan,
    ) -> Chunks {
        let (original, request) = (request.messages_body.as_ref(), &request.chat);
        if let Some(original) = original {
            let edited = passthrough::Edited {
                messages: (edits.items.values())
                    .any(|edit| edit.get("reasoning_content").is_some()),
                tools: edits.top.get("tools").is_some() || edits.top.raw("tools").is_some(),
            };
            let body = passthrough::passthrough_bytes(original, plan, edited, |body| {
                plan_edits(body, request, edits)
            });
            if let Some(body) = body {
                return Chunks::from(Bytes::from(body));
            }
        }
        let original = original.and_then(|original| {
            serde_json::from_slice::<Map<String, Value>>(original.bytes()).ok()
        });
        let body = match original {
            Some(original) => {
                let mut body = passthrough::passthrough(original, plan);
                plan_edits(&mut body, request, edits);
                body
            }
            None => {
                // The written body is a JSON object by construction: the
                // request parsed as one and the edits write JSON values.
                let openai: Map<String, Value> =
                    serde_json::from_slice(&request.write(edits).to_vec()).unwrap_or_default();
                let mut body = anthropic_provider::request(&openai, plan);
                body.insert("stream".into(), Value::Bool(true));
                body
            }
        };
        whole(&body)
    }

    /// The client's betas go on whole: no provider's refusal of a beta is
    /// known (`docs/translation.md`).
    fn headers(
        &self,
        target: &Target,
        key: Option<&str>,
        betas: Option<&HeaderValue>,
    ) -> Option<HeaderMap> {
        let mut headers = HeaderMap::new();
        headers.insert(VERSION_HEADER, HeaderValue::from_static(VERSION));
        if let Some(betas) = betas {
            headers.insert(BETA_HEADER, betas.clone());
        }
        if let Some(key) = key {
            let (name, value) = auth_header(target.provider.dialect, key)?;
            headers.insert(name, value);
        }
        Some(headers)
    }

    fn speaks_natively(&self, request: &ClientRequest) -> bool {
        request.messages_body.is_some()
    }

    fn events(&self, events: EventStream, native: bool) -> EventStream {
        openai_events(events, native)
    }

    fn completion(&self, answer: Map<String, Value>) -> Option<Map<String, Value>> {
        anthropic_provider::answer(&answer, now())
    }
}

/// The members the rules may set or remove that mean the same in both
/// APIs: an Anthropic client's body takes the rules' edits of these.
const SHARED: [&str; 4] = ["model", "temperature", "top_p", "top_k"];

/// The plan's edits of the request model that a passed-through body takes
/// too: [`SHARED`] members (the model id; `fixedSampling` removes
/// sampling, `params` sets it), the tools' schemas in the form the rules gave them
/// (a tool's `parameters` as its `input_schema`, by name), the tool choice
/// and the tools it was narrowed to, and the
/// reasoning given back to a replayed tool-call turn (a `thinking` block,
/// as a translated request gets) or taken from it (thinking off). A turn
/// is found by its first tool call's id, which both bodies share (the
/// body's decoded, as the model holds it).
fn plan_edits(body: &mut Map<String, Value>, request: &ChatRequest, edits: &Edits) {
    for key in SHARED {
        match edits.top.get(key) {
            Some(Some(value)) => {
                body.insert(key.to_string(), value.clone());
            }
            Some(None) => {
                body.remove(key);
            }
            None => {}
        }
    }
    schemas(body, edits);
    // The tool choice the plan set (a forced one relaxed while thinking,
    // K3's named tool as `required`), and the tools it narrowed to.
    if let Some(choice) = edits.top.get("tool_choice").flatten()
        && let Some(choice) = anthropic_provider::tool_choice(choice)
    {
        passthrough::replace_tool_choice(body, choice);
    }
    if let (Some(Some(Value::Array(planned))), Some(Value::Array(tools))) =
        (edits.top.get("tools"), body.get_mut("tools"))
    {
        let name =
            |tool: &Value, at: &str| tool.pointer(at).and_then(Value::as_str).map(str::to_string);
        let offered: Vec<String> = planned
            .iter()
            .filter_map(|t| name(t, "/function/name"))
            .collect();
        tools.retain(|tool| name(tool, "/name").is_some_and(|n| offered.contains(&n)));
    }
    give_reasoning(body, request, edits);
}

/// The reasoning the plan gives back to (or takes from) each replayed
/// tool-call turn of the model, on the body's turn of the same place: the
/// n-th assistant turn with tool calls of one is the n-th of the other,
/// whose first call has the same id (the body's decoded, as the model
/// holds it). Ids alone do not say which turn is which: Kimi's repeat
/// across turns (`functions.read:0` in every one).
fn give_reasoning(body: &mut Map<String, Value>, request: &ChatRequest, edits: &Edits) {
    let given = edits
        .items
        .iter()
        .filter_map(|(index, edit)| Some((*index, edit.get("reasoning_content")?)));
    let mut given = given.peekable();
    if given.peek().is_none() {
        return;
    }
    let Some(Value::Array(messages)) = body.get_mut("messages") else {
        return;
    };
    let mut turns = messages.iter_mut().filter_map(|message| {
        let id = (message["role"] == "assistant")
            .then(|| first_call(message))
            .flatten()?
            .to_string();
        Some((id, message))
    });
    let mut body_turn = turns.next();
    for (index, message) in request.messages().iter().enumerate() {
        let Some(id) = message.tool_call_ids.first() else {
            continue;
        };
        if let Some((_, reasoning)) = given.next_if(|(at, _)| *at == index)
            && let Some((body_id, body_message)) = body_turn.as_mut()
            && ids::decode(body_id) == id.as_str()
        {
            passthrough::give_reasoning(body_message, reasoning.and_then(Value::as_str));
        }
        while given.next_if(|(at, _)| *at <= index).is_some() {}
        body_turn = turns.next();
    }
}

/// The id of the first `tool_use` of an assistant `message`.
fn first_call(message: &Value) -> Option<&str> {
    message["content"]
        .as_array()?
        .iter()
        .find(|block| block["type"] == "tool_use")?["id"]
        .as_str()
}

/// The tools' schemas as the plan's edit of `tools` left them.
fn schemas(body: &mut Map<String, Value>, edits: &Edits) {
    let edited: Option<Vec<Value>> = match edits.top.get("tools") {
        Some(Some(Value::Array(tools))) => Some(tools.clone()),
        Some(_) => None,
        None => edits
            .top
            .raw("tools")
            .and_then(|json| serde_json::from_slice(json).ok()),
    };
    let (Some(edited), Some(Value::Array(tools))) = (edited, body.get_mut("tools")) else {
        return;
    };
    for tool in tools.iter_mut() {
        let name = tool.get("name").and_then(Value::as_str);
        let planned = edited
            .iter()
            .find(|e| e.pointer("/function/name").and_then(Value::as_str) == name)
            .and_then(|e| e.pointer("/function/parameters"));
        if let (Some(schema), Some(tool)) = (planned, tool.as_object_mut())
            && tool.contains_key("input_schema")
        {
            tool.insert("input_schema".into(), schema.clone());
        }
    }
}

/// The API version every request names.
pub const VERSION: &str = "2023-06-01";

/// The header carrying the key on Anthropic's and Kimi Coding's endpoints.
const KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

pub const VERSION_HEADER: HeaderName = HeaderName::from_static("anthropic-version");
/// The Messages API's feature flags, as the client listed them.
const BETA_HEADER: HeaderName = HeaderName::from_static("anthropic-beta");

/// The header that carries `key` to a provider of `dialect`, marked
/// sensitive, or `None` when the key cannot be a header value. Moonshot's
/// Anthropic endpoint (`api.moonshot.ai/anthropic`) documents Bearer auth;
/// Kimi Coding's, like Anthropic's, reads `x-api-key`.
fn auth_header(dialect: Dialect, key: &str) -> Option<(HeaderName, HeaderValue)> {
    let (name, text) = match dialect {
        Dialect::Moonshot => (AUTHORIZATION, format!("Bearer {key}")),
        Dialect::KimiCoding | Dialect::OpenRouter | Dialect::Generic => {
            (KEY_HEADER, key.to_string())
        }
    };
    let mut value = HeaderValue::try_from(text).ok()?;
    value.set_sensitive(true);
    Some((name, value))
}

/// The provider's event stream read as OpenAI chunk events, mapped one
/// event at a time (no task, no buffer beyond one event's items). With
/// `native`, each event goes on as it came too, before its reading, except
/// an `error` event: its reading ends the stream, and the client's encoder
/// says it in the class the gateway gives it.
fn openai_events(events: EventStream, native: bool) -> EventStream {
    let translator = StreamTranslator::new(now());
    let translated = events
        .scan(translator, move |translator, item| {
            let items: Vec<_> = match item {
                Ok(Item::Event(event)) if native && !is_error(&event) => {
                    let read = translator.translate(&event);
                    std::iter::once(Ok(Item::Native(event)))
                        .chain(read.into_iter().map(Ok))
                        .collect()
                }
                Ok(Item::Event(event)) => {
                    let items: Vec<_> = translator.translate(&event).into_iter().map(Ok).collect();
                    if items.is_empty() {
                        // An event with no OpenAI counterpart (a block's
                        // end, a signature) is still a sign of life for
                        // the idle timer, as a comment is.
                        vec![Ok(Item::Comment(String::new()))]
                    } else {
                        items
                    }
                }
                other => vec![other],
            };
            futures_util::future::ready(Some(futures_util::stream::iter(items)))
        })
        .flatten();
    Box::pin(translated)
}

/// Whether `event` is an `error` event (named so, or typed so when it has
/// no name).
fn is_error(event: &Event) -> bool {
    match &event.event {
        Some(name) => name == "error",
        None => event
            .data
            .trim_start()
            .strip_prefix('{')
            .is_some_and(|rest| rest.trim_start().starts_with(r#""type":"error""#)),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_go_in_the_header_each_endpoint_reads() {
        let cases = [
            (Dialect::KimiCoding, "x-api-key", "sk-1"),
            (Dialect::Generic, "x-api-key", "sk-1"),
            (Dialect::Moonshot, "authorization", "Bearer sk-1"),
        ];
        for (dialect, name, value) in cases {
            let (got_name, got_value) = auth_header(dialect, "sk-1").unwrap();
            assert_eq!(
                (got_name.as_str(), got_value.to_str().unwrap()),
                (name, value)
            );
            assert!(got_value.is_sensitive());
        }
        assert!(auth_header(Dialect::KimiCoding, "bad\nkey").is_none());
    }

    /// The plan's edits rendered on a passed-through body: sampling, the
    /// tools' schemas by name, reasoning given to (or taken from) the
    /// replayed turn whose first call has the id the request model gives.
    #[test]
    fn a_passed_through_body_takes_the_plans_edits() {
        use serde_json::json;
        let request = ChatRequest::parse(
            json!({"messages": [
                {"role": "user", "content": "read"},
                {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "read", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "A"},
                {"role": "assistant", "tool_calls": [{"id": "call_2", "type": "function",
                    "function": {"name": "read", "arguments": "{}"}}]}]})
            .to_string(),
        )
        .unwrap();
        let turn = |id: &str, thinking: bool| {
            let mut blocks =
                vec![json!({"type": "tool_use", "id": id, "name": "read", "input": {}})];
            if thinking {
                blocks.insert(
                    0,
                    json!({"type": "thinking", "thinking": "mine", "signature": "s"}),
                );
            }
            json!({"role": "assistant", "content": blocks})
        };
        let body = |first: bool, second: bool| {
            json!({"temperature": 0.5, "messages": [
                {"role": "user", "content": "read"}, turn("call_1", first),
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "A"}]},
                turn("call_2", second)],
                "tools": [{"name": "read", "input_schema": {"type": "string", "anyOf": [{"enum": ["a"]}]}},
                          {"name": "other", "input_schema": {"type": "object"}}]})
        };
        let mut edits = Edits::default();
        edits.top.remove("temperature");
        edits.top.set_raw(
            "tools",
            json!([{"type": "function", "function": {"name": "read",
                "parameters": {"anyOf": [{"enum": ["a"], "type": "string"}]}}}])
            .to_string(),
        );
        edits
            .items
            .entry(1)
            .or_default()
            .set("reasoning_content", json!("kept"));
        edits
            .items
            .entry(3)
            .or_default()
            .remove("reasoning_content");
        let render = |body: Value| {
            let Value::Object(mut body) = body else {
                unreachable!()
            };
            plan_edits(&mut body, &request, &edits);
            Value::Object(body)
        };

        let out = render(body(false, true));
        assert_eq!(out.get("temperature"), None);
        assert_eq!(
            out["tools"][0]["input_schema"],
            json!({"anyOf": [{"enum": ["a"], "type": "string"}]})
        );
        assert_eq!(out["tools"][1]["input_schema"], json!({"type": "object"}));
        // Given back where the turn has none, taken where thinking is off.
        assert_eq!(
            out["messages"][1]["content"][0],
            json!({"type": "thinking", "thinking": "kept", "signature": ""})
        );
        assert_eq!(out["messages"][3], turn("call_2", false));
        // A turn that has its own thinking keeps it.
        let out = render(body(true, false));
        assert_eq!(out["messages"][1], turn("call_1", true));
        // Bad input: turns the request model does not know, or whose
        // content is not blocks, are left alone.
        let mut odd = body(false, false);
        odd["messages"][1] = json!({"role": "assistant", "content": "text"});
        odd["messages"][3] = turn("call_9", true);
        let out = render(odd.clone());
        assert_eq!(out["messages"], odd["messages"]);
    }

    /// An Anthropic client replays the tool-use ids clawgate handed it
    /// (`cgid_…`), which the request model holds decoded: the turn is
    /// still found, and takes the reasoning the plan gives it.
    #[test]
    fn a_turn_replayed_with_clawgates_ids_takes_the_plans_reasoning() {
        use crate::translate::anthropic_client::Read;
        use crate::translate::ids::Nonce;
        use serde_json::json;
        let id = ids::encode(Some("functions.Bash:0"), 0, Nonce(7));
        let turn = json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": id, "name": "Bash", "input": {}}]});
        let body = json!({"max_tokens": 100, "messages": [
            {"role": "user", "content": "run"}, turn,
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "ok"}]}],
            "tools": [{"name": "Bash", "input_schema": {"type": "object"}}]})
        .to_string();
        let mut read = Read::parse(body.as_bytes()).unwrap();
        let (translated, _, _) = read.translate(None).unwrap();
        let mut request = ClientRequest::from(ChatRequest::parse(translated).unwrap());
        request.messages_body = Some(read.original(Bytes::from(body.clone())));
        let render = |mut out: Value, reasoning: Option<&str>| {
            let mut edits = Edits::default();
            let edit = edits.items.entry(1).or_default();
            match reasoning {
                Some(text) => edit.set("reasoning_content", json!(text)),
                None => edit.remove("reasoning_content"),
            }
            plan_edits(out.as_object_mut().unwrap(), &request.chat, &edits);
            out
        };
        let body: Value = serde_json::from_str(&body).unwrap();

        let out = render(body.clone(), Some("kept"));
        assert_eq!(
            out["messages"][1]["content"][0],
            json!({"type": "thinking", "thinking": "kept", "signature": ""})
        );
        // Thinking off: the turn's own thinking is taken away.
        let mut thinking = body;
        thinking["messages"][1]["content"]
            .as_array_mut()
            .unwrap()
            .insert(
                0,
                json!({"type": "thinking", "thinking": "mine", "signature": "s"}),
            );
        let out = render(thinking, None);
        assert_eq!(out["messages"][1], turn);
    }

    /// The plan's tool choice in Messages form, keeping the client's
    /// `disable_parallel_tool_use`; the tools it narrowed to; nothing where
    /// the plan or the body has no choice.
    #[test]
    fn a_passed_through_body_takes_the_plans_tool_choice() {
        use serde_json::json;
        let request =
            ChatRequest::parse(r#"{"messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        let tool = |name: &str| json!({"name": name, "input_schema": {"type": "object"}});
        let forced = json!({"tools": [tool("Bash"), tool("Read")],
            "tool_choice": {"type": "tool", "name": "Read", "disable_parallel_tool_use": true}});
        let function = |name: &str| json!({"type": "function", "function": {"name": name}});
        let cases = [
            // Relaxed while thinking.
            (
                Some(json!("auto")),
                None,
                forced.clone(),
                json!({"type": "auto", "disable_parallel_tool_use": true}),
                vec!["Bash", "Read"],
            ),
            // K3: the named tool as `any`, over that tool alone.
            (
                Some(json!("required")),
                Some(json!([function("Read")])),
                forced.clone(),
                json!({"type": "any", "disable_parallel_tool_use": true}),
                vec!["Read"],
            ),
            // The plan leaves it: as sent.
            (
                None,
                None,
                forced.clone(),
                forced["tool_choice"].clone(),
                vec!["Bash", "Read"],
            ),
            // A choice the plan cannot say in Messages: as sent.
            (
                Some(json!("sometimes")),
                None,
                forced.clone(),
                forced["tool_choice"].clone(),
                vec!["Bash", "Read"],
            ),
        ];
        for (choice, tools, body, expected, offered) in cases {
            let mut edits = Edits::default();
            if let Some(choice) = &choice {
                edits.top.set("tool_choice", choice.clone());
            }
            if let Some(tools) = &tools {
                edits.top.set("tools", tools.clone());
            }
            let Value::Object(mut out) = body else {
                unreachable!()
            };
            plan_edits(&mut out, &request, &edits);
            assert_eq!(out["tool_choice"], expected, "{choice:?}");
            let names: Vec<&str> = out["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap())
                .collect();
            assert_eq!(names, offered, "{choice:?}");
        }
        // No choice in the body: none is added.
        let mut edits = Edits::default();
        edits.top.set("tool_choice", json!("auto"));
        let mut out = Map::new();
        plan_edits(&mut out, &request, &edits);
        assert!(out.get("tool_choice").is_none());
    }
}
