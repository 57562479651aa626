//! Table tests: OpenAI request in, Anthropic request out; Anthropic answer
//! and events in, OpenAI completion and chunks out.

use serde_json::{Map, Value, json};

use super::*;

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// The plan the rules make of `openai` for a model without an output
/// limit (`providers::plan`): the body's limit, else 4,096; its thinking
/// switch, with the budget the rules give it.
fn plan_of(openai: &Value) -> MessagesPlan {
    let max_tokens = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|key| openai[*key].as_u64())
        .unwrap_or(4096);
    let thinking = match asks_thinking(openai.get("thinking"), openai.get("reasoning")) {
        Some(true) => ThinkingSwitch::On,
        Some(false) => ThinkingSwitch::Off,
        None => ThinkingSwitch::AsSent,
    };
    MessagesPlan {
        max_tokens,
        thinking,
        budget: budget_below(None, max_tokens),
        ..MessagesPlan::default()
    }
}

/// The budget the rules give (`providers::thinking_budget`): the client's,
/// else half the limit and at least 1,024; below the limit either way.
fn budget_below(asked: Option<u64>, limit: u64) -> u64 {
    let below = limit.saturating_sub(1).max(1);
    asked.unwrap_or((limit / 2).max(1024)).min(below)
}

fn check(openai: Value, expected: Value) {
    let got = Value::Object(request(&object(openai.clone()), &plan_of(&openai)));
    assert_eq!(got, expected, "request {openai}");
}

#[test]
fn requests_are_translated() {
    // The smallest request: max_tokens from the default.
    check(
        json!({"model": "k", "messages": [{"role": "user", "content": "hi"}]}),
        json!({"model": "k", "max_tokens": 4096,
               "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}),
    );
    // System and developer messages, wherever they are, become system
    // blocks; the client's limit wins; sampling and stream pass; fields
    // without an Anthropic place are dropped; user becomes metadata.
    check(
        json!({"model": "k", "max_completion_tokens": 100, "temperature": 0.5, "top_p": 0.9,
               "stream": true, "stream_options": {"include_usage": true}, "n": 1,
               "presence_penalty": 0, "response_format": {"type": "json_object"},
               "reasoning_effort": "max", "user": "u1", "stop": "END",
               "messages": [
                   {"role": "system", "content": "be brief"},
                   {"role": "user", "content": "a"},
                   {"role": "developer", "content": [{"type": "text", "text": "mid"}]},
                   {"role": "user", "content": "b"}]}),
        json!({"model": "k", "max_tokens": 100, "temperature": 0.5, "top_p": 0.9, "stream": true,
               "metadata": {"user_id": "u1"}, "stop_sequences": ["END"],
               "system": [{"type": "text", "text": "be brief"}, {"type": "text", "text": "mid"}],
               "messages": [{"role": "user", "content": [
                   {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]}),
    );
    // Images, as data URLs and URLs.
    check(
        json!({"max_tokens": 10, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]}),
        json!({"max_tokens": 10, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]}]}),
    );
}

#[test]
fn tool_turns_are_translated_with_reasoning_and_paired_ids() {
    let call = |id: &str, arguments: &str| {
        json!({"id": id, "type": "function",
               "function": {"name": "get_weather", "arguments": arguments}})
    };
    check(
        json!({"max_tokens": 10, "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "", "reasoning_content": "I should look",
             "tool_calls": [call("functions.get_weather:0", "{\"city\":\"Paris\"}"),
                            call("call_2", ""), call("call_3", "not json")]},
            {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "sunny"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "rain"}]},
            {"role": "user", "content": "and?"},
            {"role": "tool", "tool_call_id": "call_3", "content": "snow"}]}),
        json!({"max_tokens": 10, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "I should look", "signature": ""},
                {"type": "tool_use", "id": "cgid_66756e6374696f6e732e6765745f776561746865723a30",
                 "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {}},
                {"type": "tool_use", "id": "call_3", "name": "get_weather",
                 "input": {"_raw_arguments": "not json"}}]},
            // Results first, in their order, then the user's text.
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "cgid_66756e6374696f6e732e6765745f776561746865723a30",
                 "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "call_2",
                 "content": [{"type": "text", "text": "rain"}]},
                {"type": "tool_result", "tool_use_id": "call_3", "content": "snow"},
                {"type": "text", "text": "and?"}]}]}),
    );
    // An empty reasoning_content (what the Kimi rules add) still replays.
    check(
        json!({"max_tokens": 10, "messages": [
            {"role": "assistant", "reasoning_content": "", "content": "ok"}]}),
        json!({"max_tokens": 10, "messages": [{"role": "assistant", "content": [
            {"type": "thinking", "thinking": "", "signature": ""},
            {"type": "text", "text": "ok"}]}]}),
    );
}

#[test]
fn tools_and_tool_choice_are_translated() {
    let tools = json!([
        {"type": "function", "function": {"name": "f", "description": "does f",
         "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "g"}},
        {"type": "web_search"}]);
    let translated_tools = json!([
        {"name": "f", "description": "does f",
         "input_schema": {"type": "object", "properties": {"x": {"type": "string"}}}},
        {"name": "g", "input_schema": {"type": "object"}}]);
    let cases = [
        (json!("auto"), None, json!({"type": "auto"})),
        (json!("none"), None, json!({"type": "none"})),
        (json!("required"), None, json!({"type": "any"})),
        (
            json!({"type": "function", "function": {"name": "f"}}),
            None,
            json!({"type": "tool", "name": "f"}),
        ),
        (
            json!("required"),
            Some(false),
            json!({"type": "any", "disable_parallel_tool_use": true}),
        ),
        (
            Value::Null,
            Some(false),
            json!({"type": "auto", "disable_parallel_tool_use": true}),
        ),
        // `none` calls no tool, and Anthropic's takes no other member.
        (json!("none"), Some(false), json!({"type": "none"})),
    ];
    for (choice, parallel, expected) in cases {
        let mut openai = json!({"max_tokens": 5, "messages": [], "tools": tools});
        if !choice.is_null() {
            openai["tool_choice"] = choice;
        }
        if let Some(parallel) = parallel {
            openai["parallel_tool_calls"] = json!(parallel);
        }
        check(
            openai,
            json!({"max_tokens": 5, "messages": [], "tools": translated_tools, "tool_choice": expected}),
        );
    }
}

/// An `allowed_tools` choice offers only the tools it lists, its mode as
/// the choice (`required` as `any`); custom tools, and a choice naming
/// one, have no Messages form and are left out (the chat table names them
/// dropped).
#[test]
fn allowed_tools_narrow_the_offer_and_custom_tools_are_left_out() {
    let function = |name: &str| json!({"type": "function", "function": {"name": name}});
    let tools = json!([function("f"), function("g"),
        {"type": "custom", "custom": {"name": "patch", "format": {"type": "text"}}}]);
    let schema = |name: &str| json!({"name": name, "input_schema": {"type": "object"}});
    let allowed = |mode: &str| json!({"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": [function("g")]}});
    for (choice, expected) in [
        (allowed("required"), json!({"type": "any"})),
        (allowed("auto"), json!({"type": "auto"})),
    ] {
        check(
            json!({"max_tokens": 5, "messages": [], "tools": tools, "tool_choice": choice}),
            json!({"max_tokens": 5, "messages": [], "tools": [schema("g")], "tool_choice": expected}),
        );
    }
    check(
        json!({"max_tokens": 5, "messages": [], "tools": tools,
               "tool_choice": {"type": "custom", "custom": {"name": "patch"}}}),
        json!({"max_tokens": 5, "messages": [], "tools": [schema("f"), schema("g")]}),
    );
}

#[test]
fn the_thinking_switch_gets_a_budget_below_max_tokens() {
    let cases = [
        (
            json!({"type": "enabled"}),
            32768,
            json!({"type": "enabled", "budget_tokens": 16384}),
        ),
        (
            json!({"type": "enabled", "keep": "all"}),
            1500,
            json!({"type": "enabled", "budget_tokens": 1024}),
        ),
        (
            json!({"type": "enabled"}),
            600,
            json!({"type": "enabled", "budget_tokens": 599}),
        ),
        (
            json!({"type": "disabled"}),
            600,
            json!({"type": "disabled"}),
        ),
    ];
    for (thinking, max_tokens, expected) in cases {
        check(
            json!({"max_tokens": max_tokens, "messages": [], "thinking": thinking}),
            json!({"max_tokens": max_tokens, "messages": [], "thinking": expected}),
        );
    }
}

/// A translated body writes thinking on anew whether or not a Messages
/// client's own switch was on (which only its own body keeps as sent).
#[test]
fn a_translated_body_writes_the_clients_own_switch_on_anew() {
    let openai = object(json!({"max_tokens": 4000, "messages": []}));
    for switch in [ThinkingSwitch::On, ThinkingSwitch::OwnOn] {
        let plan = MessagesPlan {
            max_tokens: 4000,
            thinking: switch,
            budget: 2000,
            ..MessagesPlan::default()
        };
        let body = super::request(&openai, &plan);
        assert_eq!(
            body["thinking"],
            json!({"type": "enabled", "budget_tokens": 2000}),
            "{switch:?}"
        );
    }
}

#[test]
fn answers_are_translated() {
    let message = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "kimi-for-coding",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "Calling."},
            {"type": "tool_use", "id": "cgid_66756e6374696f6e732e663a30", "name": "f", "input": {"x": 1}}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": 5,
                  "cache_read_input_tokens": 100, "cache_creation_input_tokens": 7}});
    let got = Value::Object(answer(&object(message), 42).unwrap());
    assert_eq!(
        got,
        json!({
            "id": "msg_1", "object": "chat.completion", "created": 42, "model": "kimi-for-coding",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Calling.", "reasoning_content": "hmm",
                "tool_calls": [{"id": "functions.f:0", "type": "function",
                                "function": {"name": "f", "arguments": "{\"x\":1}"}}]}}],
            "usage": {"prompt_tokens": 117, "completion_tokens": 5, "total_tokens": 122,
                      "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 7}}})
    );
    assert!(answer(&object(json!({"type": "error"})), 0).is_none());
}

/// A provider's figures too large to add up stop at the largest count
/// rather than overflowing.
#[test]
fn usage_figures_that_overflow_when_added_stay_at_the_largest() {
    let message = json!({"type": "message", "content": [],
        "usage": {"input_tokens": u64::MAX, "output_tokens": 5, "cache_read_input_tokens": 1}});
    let got = answer(&object(message), 0).unwrap();
    assert_eq!(got["usage"]["prompt_tokens"], json!(u64::MAX));
    assert_eq!(got["usage"]["total_tokens"], json!(u64::MAX));
}

#[test]
fn stop_reasons_become_finish_reasons() {
    let cases = [
        (Some("end_turn"), false, "stop"),
        (Some("stop_sequence"), false, "stop"),
        (Some("pause_turn"), false, "stop"),
        (Some("max_tokens"), false, "length"),
        (Some("model_context_window_exceeded"), false, "length"),
        (Some("tool_use"), false, "tool_calls"),
        (Some("refusal"), false, "content_filter"),
        (None, false, "stop"),
        (Some("end_turn"), true, "tool_calls"),
    ];
    for (stop, calls, expected) in cases {
        assert_eq!(
            finish_reason(stop, calls),
            expected,
            "{stop:?} with calls {calls}"
        );
    }
}

/// The OpenAI data (or `: comment`) each event becomes.
fn run(events: &[(&str, Value)]) -> Vec<String> {
    let mut translator = StreamTranslator::new(7);
    events
        .iter()
        .flat_map(|(name, data)| {
            let event = Event {
                event: Some(name.to_string()),
                data: data.to_string(),
                id: None,
            };
            translator.translate(&event)
        })
        .map(|item| match item {
            Item::Event(event) => event.data,
            Item::Comment(text) => format!(": {text}"),
            Item::Native(event) => format!("native {}", event.data),
        })
        .collect()
}

fn chunk(delta: Value, finish: Value) -> String {
    json!({"id": "msg_1", "object": "chat.completion.chunk", "created": 7, "model": "k",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    .to_string()
}

/// Counts written as whole floats are counts: the usage chunk says them.
#[test]
fn usage_written_as_whole_floats_is_counted() {
    let start = json!({"type": "message_start", "message": {"id": "msg_1", "model": "k",
        "usage": {"input_tokens": 100.0, "output_tokens": 1.0}}});
    let ending = json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
        "usage": {"output_tokens": 25.0}});
    let out = run(&[("message_start", start), ("message_delta", ending)]);
    let usage: Value = serde_json::from_str(out.last().unwrap()).unwrap();
    assert_eq!(usage["usage"]["prompt_tokens"], 100, "{usage}");
    assert_eq!(usage["usage"]["completion_tokens"], 25, "{usage}");
}

#[test]
fn streams_are_translated_event_by_event() {
    let start = json!({"type": "message_start", "message": {"id": "msg_1", "model": "k",
        "usage": {"input_tokens": 3, "output_tokens": 1, "cache_read_input_tokens": 20,
                  "cache_creation_input_tokens": 2}}});
    let block = |index: u64, block: Value| {
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        )
    };
    let delta = |index: u64, delta: Value| {
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        )
    };
    let stop = |index: u64| {
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        )
    };
    let events = [
        ("message_start", start),
        ("ping", json!({"type": "ping"})),
        block(
            0,
            json!({"type": "thinking", "thinking": "", "signature": ""}),
        ),
        delta(
            0,
            json!({"type": "thinking_delta", "thinking": "Let me see."}),
        ),
        delta(0, json!({"type": "signature_delta", "signature": "sig"})),
        stop(0),
        block(1, json!({"type": "text", "text": ""})),
        delta(1, json!({"type": "text_delta", "text": "Hi"})),
        stop(1),
        block(
            2,
            json!({"type": "tool_use", "id": "cgid_612e623a30", "name": "f", "input": {}}),
        ),
        delta(2, json!({"type": "input_json_delta", "partial_json": ""})),
        delta(
            2,
            json!({"type": "input_json_delta", "partial_json": "{\"x\":"}),
        ),
        delta(2, json!({"type": "input_json_delta", "partial_json": "1}"})),
        stop(2),
        block(
            3,
            json!({"type": "tool_use", "id": "toolu_2", "name": "g", "input": {"y": 2}}),
        ),
        stop(3),
        // A call that says no input: `{}` at its end.
        block(
            4,
            json!({"type": "tool_use", "id": "toolu_3", "name": "h", "input": {}}),
        ),
        delta(4, json!({"type": "input_json_delta", "partial_json": ""})),
        stop(4),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                 "usage": {"output_tokens": 9}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    let usage = json!({"id": "msg_1", "object": "chat.completion.chunk", "created": 7, "model": "k",
        "choices": [], "usage": {"prompt_tokens": 25, "completion_tokens": 9, "total_tokens": 34,
        "prompt_tokens_details": {"cached_tokens": 20, "cache_write_tokens": 2}}});
    assert_eq!(
        run(&events),
        vec![
            chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            ": ping".to_string(),
            chunk(json!({"reasoning_content": "Let me see."}), Value::Null),
            chunk(json!({"content": "Hi"}), Value::Null),
            chunk(
                json!({"tool_calls": [{"index": 0, "id": "a.b:0", "type": "function",
                                         "function": {"name": "f", "arguments": ""}}]}),
                Value::Null
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"x\":"}}]}),
                Value::Null
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
                Value::Null
            ),
            chunk(
                json!({"tool_calls": [{"index": 1, "id": "toolu_2", "type": "function",
                                         "function": {"name": "g", "arguments": "{\"y\":2}"}}]}),
                Value::Null
            ),
            chunk(
                json!({"tool_calls": [{"index": 2, "id": "toolu_3", "type": "function",
                                         "function": {"name": "h", "arguments": ""}}]}),
                Value::Null
            ),
            chunk(
                json!({"tool_calls": [{"index": 2, "function": {"arguments": "{}"}}]}),
                Value::Null
            ),
            chunk(json!({}), json!("tool_calls")),
            usage.to_string(),
            "[DONE]".to_string(),
        ]
    );
}

#[test]
fn stream_errors_and_odd_events_are_passed_on() {
    let error =
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
    assert_eq!(
        run(&[("error", error)]),
        vec![json!({"error": {"type": "overloaded_error", "message": "Overloaded"}}).to_string()]
    );
    // Unknown events are skipped; a delta outside a tool block is not a
    // tool call.
    assert!(run(&[("mystery", json!({"type": "mystery"}))]).is_empty());
    assert!(
        run(&[(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
                      "delta": {"type": "input_json_delta", "partial_json": "{}"}})
        )])
        .is_empty()
    );
    // A member of another shape is as good as absent; a type that is not
    // a string leaves the event's name; escaped text is read.
    let start = json!({"type": "message_start", "message": {"id": "msg_1", "model": "k",
        "usage": {"input_tokens": 1.5, "output_tokens": "2"}}});
    let delta = |delta: Value| {
        (
            "content_block_delta",
            json!({"type": 7, "index": 0, "delta": delta}),
        )
    };
    let ending =
        json!({"type": "message_delta", "delta": {"stop_reason": ["end_turn"]}, "usage": null});
    assert_eq!(
        run(&[
            ("message_start", start),
            delta(json!({"type": "text_delta", "text": {"a": 1}})),
            delta(json!({"type": "text_delta", "text": "a\nb é"})),
            delta(json!("text_delta")),
            ("message_delta", ending),
        ]),
        vec![
            chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            chunk(json!({"content": "a\nb é"}), Value::Null),
            // Figures that are no whole numbers are none: no usage chunk
            // (unknown, priced from the bytes), never zeros.
            chunk(json!({}), json!("stop")),
        ]
    );
    // Data that is not JSON is passed on for the reader to reject.
    let mut translator = StreamTranslator::new(0);
    let odd = Event {
        event: None,
        data: "not json".into(),
        id: None,
    };
    assert_eq!(
        translator.translate(&odd),
        vec![Item::Event(Event {
            event: None,
            data: "not json".into(),
            id: None
        })]
    );
}

#[test]
fn a_member_written_twice_is_read_as_its_last_as_clients_read_it() {
    // serde's derived readers refuse a repeated member, and the delta's
    // text was lost without a word; JSON.parse, Python's json and the key
    // hold all take the last.
    let mut translator = StreamTranslator::new(7);
    let said = |translator: &mut StreamTranslator, data: &str| {
        let event = Event {
            event: None,
            data: data.into(),
            id: None,
        };
        (translator.translate(&event).into_iter())
            .map(|item| match item {
                Item::Event(event) => event.data,
                other => panic!("not data: {other:?}"),
            })
            .collect::<Vec<_>>()
    };
    let start = r#"{"type":"message_start","message":{"id":"msg_0","id":"msg_1","model":"k"}}"#;
    assert_eq!(
        said(&mut translator, start),
        [chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null
        )]
    );
    let cases = [
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"first","text":"last"}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"first"},"delta":{"type":"text_delta","text":"last"}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"first","t\u0065xt":"last"}}"#,
        r#"{"type":"ping","type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"last"}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":null,"delta":{"type":"text_delta","text":"last"}}"#,
    ];
    for data in cases {
        assert_eq!(
            said(&mut translator, data),
            [chunk(json!({"content": "last"}), Value::Null)],
            "{data}"
        );
    }
    // A member that is `null` is absent, written last or not: an error
    // without its object is still the provider's error.
    for error in [
        r#"{"type":"error","error":null}"#,
        r#"{"type":"error","error":{"type":"overloaded_error"},"error":null}"#,
    ] {
        assert_eq!(said(&mut translator, error), [r#"{"error":{}}"#], "{error}");
    }
}

/// A target, as the passthrough tests name it, and its plan
/// (`providers::plan` makes it so for a Kimi Coding model).
#[derive(Debug, Clone, Copy)]
struct Facts {
    model: &'static str,
    max_output: Option<u64>,
    default_max_tokens: u64,
    thinking: ThinkingSwitch,
}

/// The plan the rules make of a Messages `body` for `facts`' Kimi Coding
/// model: its limit clamped to the model's, its budget below it, and
/// Moonshot's and Kimi Coding's rules for a Messages body.
fn plan(facts: Facts, body: &Value) -> MessagesPlan {
    let asked = body["max_tokens"].as_u64();
    let max_tokens = match (asked, facts.max_output) {
        (Some(asked), Some(max)) => asked.min(max),
        (asked, max) => asked.or(max).unwrap_or(facts.default_max_tokens),
    };
    let budget = body
        .pointer("/thinking/budget_tokens")
        .and_then(Value::as_u64);
    MessagesPlan {
        max_tokens,
        thinking: facts.thinking,
        budget: budget_below(budget, max_tokens),
        without_billing_header: true,
        removed: &["context_management", "output_config"],
        without_server_tools: true,
        rewrites: Vec::new(),
        carried: Default::default(),
        betas: None,
    }
}

/// The body written for `body` with the plan for `facts`, from the tree
/// of the whole ([`passthrough::on_the_whole_tree`]), and the model id the
/// transport writes.
fn passthrough_tree(body: Map<String, Value>, facts: Facts) -> Map<String, Value> {
    let plan = plan(facts, &Value::Object(body.clone()));
    let mut out = passthrough::on_the_whole_tree(body, &plan);
    out.insert("model".into(), json!(facts.model));
    out
}

mod passthrough_tests {
    use serde_json::{Value, json};

    use super::object;
    use super::passthrough_tree as passthrough;
    use crate::capabilities::ThinkingSwitch;
    use bytes::Bytes;

    use super::Facts;
    use crate::capabilities::Api;
    use crate::translate::anthropic_client::Read;
    use crate::translate::anthropic_provider::Carried;
    use crate::translate::anthropic_provider::passthrough as rendered;
    use crate::translate::decisions::{Decisions, Tools, TurnReasoning};
    use crate::translate::fields;
    use crate::wire::openai::ChatRequest;

    /// [`rendered::passthrough`] of `body`, read by the Messages front end,
    /// with the plan the rules make of it for `facts`, which carries
    /// `decided` (the model id set, as the rules set it); `None` when the
    /// front end refuses it.
    fn passthrough_bytes(body: &[u8], facts: Facts, decided: Decisions) -> Option<Vec<u8>> {
        passthrough_bytes_of(
            body,
            facts,
            decided,
            r#"{"messages":[{"role":"user","content":"hi"}]}"#,
        )
    }

    /// [`passthrough_bytes`], `decided` made of the request model `chat`.
    fn passthrough_bytes_of(
        body: &[u8],
        facts: Facts,
        mut decided: Decisions,
        chat: &str,
    ) -> Option<Vec<u8>> {
        let mut read = Read::parse(body).ok()?;
        let original = read.original(Bytes::copy_from_slice(body)).unwrap();
        let mut plan = super::plan(facts, &serde_json::from_slice(body).ok()?);
        decided.model = facts.model.to_string();
        plan.carried = Carried::of(
            &decided,
            &ChatRequest::parse(chat.to_string()).unwrap(),
            false,
        );
        Some(rendered::passthrough(&original, &plan).to_vec())
    }

    const KIMI: Facts = Facts {
        model: "kimi-for-coding",
        max_output: Some(4096),
        default_max_tokens: 8192,
        thinking: ThinkingSwitch::AsSent,
    };

    /// The same body from the tree of the whole and, where the front end
    /// takes it, from its bytes; every body asks for a stream.
    fn check(facts: Facts, body: Value, mut expected: Value) {
        expected["stream"] = json!(true);
        let got = Value::Object(passthrough(object(body.clone()), facts));
        assert_eq!(got, expected, "body {body}");
        let bytes = serde_json::to_vec(&body).unwrap();
        if let Some(written) = passthrough_bytes(&bytes, facts, Decisions::default()) {
            let written: Value = serde_json::from_slice(&written).unwrap();
            assert_eq!(written, expected, "body {body}, from its bytes");
        }
    }

    #[test]
    fn the_messages_go_as_written_unless_they_are_edited() {
        let body = r#"{"model":"claude-opus-4-7","max_tokens":32000,
            "messages": [ {"role":"user","content":"caf\u00e9 \"system\" \u001b[1m", "n": 1.0} ],
            "output_config":{"effort":"high"},"stream":true}"#;
        let decided = Decisions {
            params: vec![("temperature".into(), json!(0.6))],
            ..Decisions::default()
        };
        let written = passthrough_bytes(body.as_bytes(), KIMI, decided).unwrap();
        assert_eq!(
            String::from_utf8(written).unwrap(),
            r#"{"model":"kimi-for-coding","max_tokens":4096,"messages":[ {"role":"user","content":"caf\u00e9 \"system\" \u001b[1m", "n": 1.0} ],"stream":true,"temperature":0.6}"#
        );
        // A member the plan neither reads nor sets goes as written, even
        // what a reader would write otherwise.
        let body = r#"{"messages":[],"metadata":{"user_id":"u","n":123456789012345678901234567890},"x":1.10 ,"top_k":5}"#;
        let written = passthrough_bytes(body.as_bytes(), KIMI, Decisions::default()).unwrap();
        let written = String::from_utf8(written).unwrap();
        assert!(
            written.starts_with(
                r#"{"messages":[],"metadata":{"user_id":"u","n":123456789012345678901234567890},"x":1.10,"top_k":5,"#
            ),
            "{written}"
        );
        // A member the body repeats and the plan leaves alone goes as
        // written; one the plan removes goes from each place. The front end
        // refuses a repeated member it reads.
        for (body, sent) in [
            (
                r#"{"messages":[],"x":1,"x":2}"#,
                r#"{"messages":[],"x":1,"x":2,"#,
            ),
            (
                r#"{"messages":[],"context_management":{},"context_management":{"a":1},"y":1}"#,
                r#"{"messages":[],"y":1,"#,
            ),
        ] {
            let written = passthrough_bytes(body.as_bytes(), KIMI, Decisions::default()).unwrap();
            let written = String::from_utf8(written).unwrap();
            assert!(written.starts_with(sent), "{written}");
        }
        for body in [
            r#"{"messages":[],"max_tokens":1,"max_tokens":2}"#,
            r#"{"messages":[],"messages":[]}"#,
            r#"{"max_tokens":1}"#,
        ] {
            assert_eq!(
                passthrough_bytes(body.as_bytes(), KIMI, Decisions::default()),
                None,
                "{body}"
            );
        }
        // Reasoning given back to a replayed turn: that turn is read and
        // written again, the others go as written. A role written with an
        // escape is still the assistant's, as the request model reads it.
        let first = r#"{"role":"user","content":"caf\u00e9" }"#;
        for role in ["assistant", "assist\\u0061nt"] {
            let turn = format!(
                r#"{{"messages":[{first},{{"role":"{role}","content":[{{"type":"tool_use","id":"c1","name":"f","input":{{}}}}]}}]}}"#
            );
            let chat = r#"{"messages":[{"role":"user","content":"go"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}]}"#;
            let mut decided = Decisions::default();
            let given = |decided: &mut Decisions, index: usize| {
                decided.turns.clear();
                decided.turns.entry(index).or_default().reasoning =
                    Some(TurnReasoning::Given(Some("kept".into())));
            };
            given(&mut decided, 1);
            let written =
                passthrough_bytes_of(turn.as_bytes(), KIMI, decided.clone(), chat).unwrap();
            let text = String::from_utf8(written.clone()).unwrap();
            assert!(
                text.starts_with(&format!(r#"{{"messages":[{first},"#)),
                "{text}"
            );
            let written: Value = serde_json::from_slice(&written).unwrap();
            assert_eq!(
                written["messages"][1]["content"],
                json!([{"type": "thinking", "thinking": "kept", "signature": ""},
                    {"type": "tool_use", "id": "c1", "name": "f", "input": {}}]),
                "{text}"
            );
            // Given back nowhere (the request model's turn is not a
            // replayed tool-call turn): the messages go as written.
            given(&mut decided, 0);
            let written = passthrough_bytes_of(turn.as_bytes(), KIMI, decided, chat).unwrap();
            let text = String::from_utf8(written).unwrap();
            let messages = &turn[r#"{"messages":"#.len()..turn.len() - 1];
            assert!(
                text.starts_with(&format!(r#"{{"messages":{messages},"#)),
                "{text}"
            );
        }
    }

    /// Several replayed turns, with an assistant turn of text between
    /// them: each takes the reasoning the plan gives its place, is left
    /// alone where it has its own, or has its own taken away; every other
    /// message goes as written.
    #[test]
    fn each_replayed_turn_takes_its_own_reasoning() {
        let thinking = r#"{"type":"thinking","thinking":"mine","signature":"s"}"#;
        let call =
            |id: &str| format!(r#"{{"type":"tool_use","id":"{id}","name":"f","input":{{}}}}"#);
        let result = |id: &str| {
            format!(
                r#"{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"{id}","content":"ok"}}]}}"#
            )
        };
        let messages = [
            r#"{"role":"user","content":"go"}"#.to_string(),
            r#"{"role":"assistant","content":[{"type":"text","text":"sure"}]}"#.to_string(),
            r#"{"role":"user","content":"then"}"#.to_string(),
            format!(
                r#"{{"role":"assistant","content":[{thinking},{}]}}"#,
                call("c1")
            ),
            result("c1"),
            format!(r#"{{"role":"assistant","content":[{}]}}"#, call("c2")),
            result("c2"),
            format!(
                r#"{{"role":"assistant","content":[{thinking},{}]}}"#,
                call("c3")
            ),
            result("c3"),
        ];
        let body = format!(
            r#"{{"max_tokens":100,"messages":[{}]}}"#,
            messages.join(",")
        );
        let chat_call = |id: &str| {
            json!({"role": "assistant", "tool_calls": [{"id": id, "type": "function",
                "function": {"name": "f", "arguments": "{}"}}]})
        };
        let chat_result = |id: &str| json!({"role": "tool", "tool_call_id": id, "content": "ok"});
        // The chat form: the same turns, at indexes of its own.
        let chat = json!({"messages": [
            {"role": "user", "content": "go"}, {"role": "assistant", "content": "sure"},
            {"role": "user", "content": "then"}, chat_call("c1"), chat_result("c1"),
            chat_call("c2"), chat_result("c2"), chat_call("c3"), chat_result("c3")]})
        .to_string();
        let written = |reasoning: &[(usize, Option<&str>)]| {
            let mut decided = Decisions::default();
            for (index, text) in reasoning {
                decided.turns.entry(*index).or_default().reasoning = Some(match text {
                    Some(text) => TurnReasoning::Given(Some((*text).into())),
                    None => TurnReasoning::Taken,
                });
            }
            let out = passthrough_bytes_of(body.as_bytes(), KIMI, decided, &chat).unwrap();
            String::from_utf8(out).unwrap()
        };
        let as_written = |out: &str, at: &[usize]| {
            for index in at {
                assert!(out.contains(&messages[*index]), "{index}: {out}");
            }
        };
        // Given back: the turn without its own takes it; one with its own
        // keeps that.
        let out = written(&[(3, Some("one")), (5, Some("two"))]);
        let read: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            read["messages"][5]["content"][0],
            json!({"type": "thinking", "thinking": "two", "signature": ""})
        );
        as_written(&out, &[0, 1, 2, 3, 4, 6, 7, 8]);
        // Taken away (thinking off): from the turns that have their own.
        let out = written(&[(3, None), (5, None), (7, None)]);
        let read: Value = serde_json::from_str(&out).unwrap();
        for index in [3, 7] {
            assert_eq!(
                read["messages"][index]["content"].as_array().unwrap().len(),
                1
            );
            assert_eq!(read["messages"][index]["content"][0]["type"], "tool_use");
        }
        as_written(&out, &[0, 1, 2, 4, 5, 6, 8]);
    }

    #[test]
    fn the_tools_and_system_go_as_written_unless_they_are_edited() {
        let tools =
            r#"[ {"name":"Read","description":"caf\u00e9","input_schema":{"type":"object"}} ]"#;
        let system = r#"[{"type":"text","text":"x-anthropic-billing-header: cch=1;"} , {"type":"text", "text":"Be brief.","cache_control":{"type":"ephemeral"}}]"#;
        let body =
            format!(r#"{{"max_tokens":10,"system":{system},"messages":[],"tools":{tools}}}"#);
        let written = |edited| {
            let out = passthrough_bytes(body.as_bytes(), KIMI, edited).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            written(Decisions::default()),
            format!(
                r#"{{"max_tokens":10,"system":[{{"type":"text", "text":"Be brief.","cache_control":{{"type":"ephemeral"}}}}],"messages":[],"tools":{tools},"stream":true,"model":"kimi-for-coding"}}"#
            )
        );
        // Tools the plan edits are read into the tree.
        let tools_edited = Decisions {
            tools: Some(Tools::default()),
            ..Decisions::default()
        };
        let edited = written(tools_edited);
        assert!(
            edited.contains(r#""tools":[{"name":"Read","description":"café","#),
            "{edited}"
        );
        // As are tools and a system prompt that the passthrough edits:
        // each the same from the bytes as from the tree (`check`).
        let read = json!({"name": "Read", "input_schema": {"type": "object"}});
        for (system, tools) in [
            (
                json!("x-anthropic-billing-header: cch=1;\nBe brief."),
                json!([read]),
            ),
            (
                json!([{"type": "text", "text": "x-anthropic-billing-header: cch=1;"}]),
                json!([read, {"type": "web_search_20250305", "name": "web_search"}]),
            ),
            (
                json!([
                    {"type": "text", "text": "x-anthropic-billing-header: cch=1;"},
                    {"type": "text", "text": "Be brief."},
                ]),
                json!([{"name": "Grep", "input_schema": {}, "defer_loading": true}]),
            ),
            (json!([{"type": "text", "text": "Be brief."}]), json!([])),
            // The blocks kept on either side of the header's are joined.
            (
                json!([
                    {"type": "text", "text": "Be brief."},
                    {"type": "text", "text": "x-anthropic-billing-header: cch=1;"},
                    {"type": "text", "text": "Be kind."},
                    {"type": "text", "text": "Be quick."},
                ]),
                json!([read]),
            ),
        ] {
            let body = json!({"max_tokens": 10, "system": system, "messages": [], "tools": tools});
            let bytes = serde_json::to_vec(&body).unwrap();
            let written = passthrough_bytes(&bytes, KIMI, Decisions::default()).unwrap();
            let written: Value = serde_json::from_slice(&written).unwrap();
            assert_eq!(
                written,
                Value::Object(passthrough(object(body.clone()), KIMI)),
                "{body}"
            );
        }
        // A billing header written with escapes is still seen.
        let escaped = r#"{"system":[{"type":"text","text":"\u0078-anthropic-billing-header: c;"},{"type":"text","text":"B"}],"messages":[]}"#;
        let out = passthrough_bytes(escaped.as_bytes(), KIMI, Decisions::default()).unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["system"], json!([{"type": "text", "text": "B"}]));
    }

    #[test]
    fn claude_codes_body_passes_with_the_least_change() {
        // Its messages, cache marks and all, pass as they are.
        let messages = json!([
            {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "t", "signature": "s"},
                {"type": "tool_use", "id": "cgid_0000abcd_6162", "name": "Bash", "input": {"command": "ls"}},
            ]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "cgid_0000abcd_6162",
                "content": [{"type": "text", "text": "a.txt", "cache_control": {"type": "ephemeral"}}]}]},
        ]);
        check(
            KIMI,
            json!({
                "model": "claude-opus-4-7", "max_tokens": 32000, "stream": true,
                "system": [
                    {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1; cch=1a2b;"},
                    {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
                ],
                "messages": messages,
                "tools": [
                    {"name": "Bash", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}},
                    {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
                ],
                "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
                "thinking": {"type": "enabled", "budget_tokens": 31999},
                "context_management": {"edits": []}, "output_config": {"effort": "high"},
                "metadata": {"user_id": "u"}, "temperature": 1,
            }),
            json!({
                "model": "kimi-for-coding", "max_tokens": 4096,
                // Cache marks stay: the Anthropic transport honours them.
                "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
                "messages": messages,
                "tools": [{"name": "Bash", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
                // The choice as sent: relaxing it is the plan's, rendered by the
                // transport.
                "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
                "thinking": {"type": "enabled", "budget_tokens": 4095},
                "metadata": {"user_id": "u"}, "temperature": 1,
            }),
        );
    }

    /// A tool whose `input_schema` is `null` has none, as the front end
    /// reads it: a server tool, which goes (and which the table names
    /// dropped, by its name where it has no type).
    #[test]
    fn a_tool_with_a_null_schema_is_a_server_tool() {
        let body = json!({"max_tokens": 10, "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"name": "Read", "input_schema": {"type": "object"}},
                      {"name": "odd", "input_schema": null}]});
        check(
            KIMI,
            body.clone(),
            json!({"model": "kimi-for-coding", "max_tokens": 10,
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"name": "Read", "input_schema": {"type": "object"}}]}),
        );
        let (_, seen, _) = Read::parse(body.to_string().as_bytes())
            .unwrap()
            .translate(None)
            .unwrap();
        let withheld = [crate::wire::Withheld::ServerTools];
        let dropped = fields::dropped(&seen, Api::AnthropicMessages, &withheld);
        assert_eq!(dropped, ["odd"]);
    }

    #[test]
    fn the_stream_is_the_chains_and_limits_come_from_the_model() {
        let body = json!({"model": "x", "stream": false,
                          "messages": [{"role": "user", "content": "hi"}]});
        let streamed = Facts { ..KIMI };
        check(
            streamed,
            body.clone(),
            json!({"model": "kimi-for-coding", "max_tokens": 4096, "stream": true,
                   "messages": [{"role": "user", "content": "hi"}]}),
        );
        // No limit anywhere: the default. A limit under the model's stays.
        let unknown = Facts {
            max_output: None,
            ..KIMI
        };
        check(
            unknown,
            body,
            json!({"model": "kimi-for-coding", "max_tokens": 8192,
                   "messages": [{"role": "user", "content": "hi"}]}),
        );
        check(
            KIMI,
            json!({"max_tokens": 100, "messages": []}),
            json!({"model": "kimi-for-coding", "max_tokens": 100, "messages": []}),
        );
    }

    #[test]
    fn a_string_system_prompt_loses_its_billing_line_only() {
        check(
            KIMI,
            json!({"max_tokens": 10, "system": "x-anthropic-billing-header: cch=1;\nBe brief.", "messages": []}),
            json!({"model": "kimi-for-coding", "max_tokens": 10, "system": "Be brief.", "messages": []}),
        );
        check(
            KIMI,
            json!({"max_tokens": 10, "system": "x-anthropic-billing-header: cch=1;", "messages": []}),
            json!({"model": "kimi-for-coding", "max_tokens": 10, "messages": []}),
        );
        check(
            KIMI,
            json!({"max_tokens": 10, "system": "Be brief.", "messages": []}),
            json!({"model": "kimi-for-coding", "max_tokens": 10, "system": "Be brief.", "messages": []}),
        );
    }

    /// A block that starts with the billing line and says more keeps the
    /// more, as the translated path keeps it; a block that is the line
    /// alone goes. Alike from the tree and from the bytes.
    #[test]
    fn a_system_block_loses_its_billing_line_only() {
        let system = json!([
            {"type": "text", "text": "x-anthropic-billing-header: cch=1;\nAnswer only in French.",
             "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "x-anthropic-billing-header: cch=2;"},
            {"type": "text", "text": "x-anthropic-billing-header: cch=3;",
             "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "x-anthropic-billing-header: cch=4;", "colour": "blue"},
            {"type": "text", "text": "Be brief."},
        ]);
        let body = json!({"max_tokens": 100, "messages": [{"role": "user", "content": "hi"}],
            "system": system});
        // A block of the line alone that holds more than a text block's
        // members goes on as written: what else it holds is not lost.
        let expected = json!([
            {"type": "text", "text": "Answer only in French.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "x-anthropic-billing-header: cch=4;", "colour": "blue"},
            {"type": "text", "text": "Be brief."},
        ]);
        let tree = passthrough(object(body.clone()), KIMI);
        assert_eq!(tree["system"], expected);
        let bytes = serde_json::to_vec(&body).unwrap();
        let written = passthrough_bytes(&bytes, KIMI, Decisions::default()).unwrap();
        let written: Value = serde_json::from_slice(&written).unwrap();
        assert_eq!(written["system"], expected);
    }

    #[test]
    fn server_tools_go_and_thinking_is_the_plans() {
        // Only server tools: no tools and no choice left.
        check(
            KIMI,
            json!({"max_tokens": 10, "messages": [], "tools": [{"type": "web_search_20250305", "name": "web_search"}],
                   "tool_choice": {"type": "any"}}),
            json!({"model": "kimi-for-coding", "max_tokens": 10, "messages": []}),
        );
        // Thinking is what the plan decided: on (written anew, with half
        // the output limit, or the client's budget below it), the body's
        // own switch that is on (its budget below the output limit), off,
        // not sent, or the body's own.
        let with = |thinking: ThinkingSwitch| Facts { thinking, ..KIMI };
        let cases = [
            (
                ThinkingSwitch::On,
                json!(null),
                json!({"type": "enabled", "budget_tokens": 2000}),
            ),
            (
                ThinkingSwitch::OwnOn,
                json!({"type": "adaptive"}),
                json!({"type": "adaptive"}),
            ),
            (
                ThinkingSwitch::OwnOn,
                json!({"type": "enabled", "budget_tokens": 9000}),
                json!({"type": "enabled", "budget_tokens": 3999}),
            ),
            (
                ThinkingSwitch::On,
                json!({"type": "disabled"}),
                json!({"type": "enabled", "budget_tokens": 2000}),
            ),
            (
                ThinkingSwitch::On,
                json!({"type": "enabled", "budget_tokens": 1500}),
                json!({"type": "enabled", "budget_tokens": 1500}),
            ),
            (
                ThinkingSwitch::On,
                json!({"type": "enabled", "budget_tokens": 9000}),
                json!({"type": "enabled", "budget_tokens": 3999}),
            ),
            (
                ThinkingSwitch::Off,
                json!(null),
                json!({"type": "disabled"}),
            ),
            (
                ThinkingSwitch::Off,
                json!({"type": "enabled", "budget_tokens": 1500}),
                json!({"type": "disabled"}),
            ),
            (
                ThinkingSwitch::Omitted,
                json!({"type": "enabled"}),
                json!(null),
            ),
            (ThinkingSwitch::AsSent, json!(null), json!(null)),
        ];
        for (plan, sent, expected) in cases {
            let mut body = json!({"max_tokens": 4000, "messages": []});
            if !sent.is_null() {
                body["thinking"] = sent.clone();
            }
            let got = passthrough(object(body), with(plan));
            assert_eq!(
                got.get("thinking").cloned().unwrap_or(Value::Null),
                expected,
                "{plan:?} {sent}"
            );
        }
        // The body's own, as sent.
        check(
            KIMI,
            json!({"max_tokens": 10, "messages": [], "thinking": {"type": "adaptive"}}),
            json!({"model": "kimi-for-coding", "max_tokens": 10, "messages": [], "thinking": {"type": "adaptive"}}),
        );
    }
}

/// Each event is read once into what it says, which the chunks are
/// written from: a call's ids are the client's, its number counts the
/// answer's calls, a piece of arguments goes to the open call only, and
/// empty text, a signature or a block with no OpenAI place say nothing.
#[test]
fn each_event_says_one_thing() {
    let mut translator = StreamTranslator::new(7);
    let mut said = |data: Value| {
        let event = Event {
            event: None,
            data: data.to_string(),
            id: None,
        };
        format!("{:?}", translator.said(&event))
    };
    let delta = |delta: Value| json!({"type": "content_block_delta", "index": 0, "delta": delta});
    let start =
        |block: Value| json!({"type": "content_block_start", "index": 0, "content_block": block});
    let cases = [
        (
            json!({"type": "message_start", "message": {"id": "msg_1", "model": "k"}}),
            "Start",
        ),
        (
            start(json!({"type": "thinking", "thinking": ""})),
            "Nothing",
        ),
        (
            delta(json!({"type": "thinking_delta", "thinking": "Hm\n"})),
            r#"Reasoning("Hm\n")"#,
        ),
        (
            delta(json!({"type": "signature_delta", "signature": "s"})),
            "Nothing",
        ),
        (
            start(json!({"type": "redacted_thinking", "data": "x"})),
            "Nothing",
        ),
        (
            delta(json!({"type": "input_json_delta", "partial_json": "{}"})),
            "Nothing",
        ),
        (
            start(json!({"type": "text", "text": "Hi"})),
            r#"Text("Hi")"#,
        ),
        (delta(json!({"type": "text_delta", "text": ""})), "Nothing"),
        (
            start(json!({"type": "tool_use", "id": "toolu_1", "name": "read", "input": {"a": 1}})),
            r#"Call { index: 0, id: "toolu_1", name: String("read"), arguments: "{\"a\":1}" }"#,
        ),
        (
            delta(json!({"type": "input_json_delta", "partial_json": "{\"b\""})),
            r#"Arguments { index: 0, piece: "{\"b\"" }"#,
        ),
        (json!({"type": "content_block_stop", "index": 0}), "Nothing"),
        (
            delta(json!({"type": "input_json_delta", "partial_json": ":2}"})),
            "Nothing",
        ),
        (
            start(json!({"type": "tool_use", "id": "toolu_2", "name": "write", "input": {}})),
            r#"Call { index: 1, id: "toolu_2", name: String("write"), arguments: "" }"#,
        ),
        (
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}}),
            r#"End("tool_calls")"#,
        ),
        (json!({"type": "message_stop"}), "Done"),
        (json!({"type": "ping"}), "Ping"),
        (
            json!({"type": "error", "error": {"type": "overloaded_error"}}),
            r#"Error(Object {"type": String("overloaded_error")})"#,
        ),
        (json!({"type": "something_new"}), "Nothing"),
    ];
    for (data, expected) in cases {
        assert_eq!(said(data.clone()), expected, "{data}");
    }
    let not_json = Event {
        event: Some("content_block_delta".into()),
        data: "{not json".into(),
        id: None,
    };
    assert_eq!(translator.said(&not_json), Said::Nothing);
}

/// An answer that holds tool calls says so when it ended on its own,
/// whatever the provider called that (Kimi says `end_turn`), never when
/// it was cut off or refused: a call's arguments may be cut too.
#[test]
fn an_answer_cut_off_in_a_call_is_said_cut_off() {
    for (stop_reason, calls, expected) in [
        (Some("end_turn"), true, "tool_calls"),
        (Some("tool_use"), true, "tool_calls"),
        (Some("stop_sequence"), true, "tool_calls"),
        (None, true, "tool_calls"),
        (Some("max_tokens"), true, "length"),
        (Some("model_context_window_exceeded"), true, "length"),
        (Some("refusal"), true, "content_filter"),
        (Some("end_turn"), false, "stop"),
        (Some("max_tokens"), false, "length"),
    ] {
        assert_eq!(
            finish_reason(stop_reason, calls),
            expected,
            "{stop_reason:?}, calls: {calls}"
        );
    }
}

#[test]
fn a_base64_data_url_is_a_base64_source_of_its_media_type_alone() {
    for (url, source) in [
        (
            "data:image/png;base64,iVBO",
            json!({"type": "base64", "media_type": "image/png", "data": "iVBO"}),
        ),
        (
            "data:image/png;charset=utf-8;base64,iVBO",
            json!({"type": "base64", "media_type": "image/png", "data": "iVBO"}),
        ),
        (
            "data:image/jpeg;BASE64,/9j/",
            json!({"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}),
        ),
        // Not base64: the provider judges the URL.
        (
            "data:image/svg+xml,%3Csvg%3E",
            json!({"type": "url", "url": "data:image/svg+xml,%3Csvg%3E"}),
        ),
        (
            "https://example.com/a.png",
            json!({"type": "url", "url": "https://example.com/a.png"}),
        ),
    ] {
        assert_eq!(image_source(url), source, "{url}");
    }
}

/// The numbers of a tool call's arguments keep their value where the
/// request's turns are written as Anthropic's (a decimal of 16 digits came
/// out one digit off, read the fast way), and an input a provider sends
/// whole reaches the client as it wrote it, to the last digit.
#[test]
fn a_tool_calls_numbers_keep_their_value_both_ways() {
    let openai = json!({"max_tokens": 10, "messages": [{"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function",
         "function": {"name": "f", "arguments": r#"{"lat":9145.731834770435,"n":18446744073709551615}"#}}]}]});
    let body = request(&object(openai.clone()), &plan_of(&openai));
    assert_eq!(
        body["messages"][0]["content"][0]["input"].to_string(),
        r#"{"lat":9145.731834770435,"n":18446744073709551615}"#
    );
    let input = r#"{"lat": 9145.731834770435, "id": 123456789012345678901}"#;
    let start = format!(
        r#"{{"type": "content_block_start", "index": 0, "content_block": {{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {input}}}}}"#
    );
    let mut translator = StreamTranslator::new(7);
    let said: String = (translator.translate(&Event {
        event: Some("content_block_start".into()),
        data: start,
        id: None,
    }))
    .into_iter()
    .map(|item| match item {
        Item::Event(event) => event.data,
        other => panic!("not an event: {other:?}"),
    })
    .collect();
    let chunk: Value = serde_json::from_str(&said).unwrap();
    assert_eq!(
        chunk["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
        input
    );
}
