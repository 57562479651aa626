//! Request in -> request out, per rule and for combinations, through the
//! catalog's own models (and a plain local provider for the generic rules).

use serde_json::{Value, json};

use super::edits;
use super::{Declined, Skip};
use crate::config::{Config, Environment, ModelRef, Secrets, load_str};
use crate::wire::openai::ChatRequest;

fn config(extra: Value) -> Config {
    let mut document = json!({
        "models": {"providers": {"local": {"baseUrl": "http://127.0.0.1:9/v1", "models": [
            {"id": "plain"}, {"id": "thinker", "reasoning": true}
        ]}}},
    });
    crate::catalog::merge(&mut document, extra);
    let env = Environment::from_pairs([
        ("MOONSHOT_API_KEY", "k1"),
        ("KIMI_API_KEY", "k2"),
        ("OPENROUTER_API_KEY", "k3"),
    ]);
    load_str(&document.to_string(), &env, Secrets::Required)
        .unwrap_or_else(|e| panic!("{e}"))
        .config
}

/// Applies the rules for `model_ref` under `extra` config to `input`; the
/// result must equal `expected` once `model` (the upstream id) is left out.
fn check_with(extra: Value, model_ref: &str, input: Value, expected: Value) {
    let config = config(extra);
    let target = config
        .target(&ModelRef::parse(model_ref).unwrap())
        .unwrap_or_else(|| panic!("no target {model_ref}"));
    let request = ChatRequest::parse(input.to_string()).unwrap();
    let out = request.write(&edits(&request, &target)).to_vec();
    let mut out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out["model"], json!(super::model_id(&target)), "{model_ref}");
    out.as_object_mut().unwrap().remove("model");
    assert_eq!(out, expected, "{model_ref}: {input}");
}

fn check(model_ref: &str, input: Value, expected: Value) {
    check_with(json!({}), model_ref, input, expected);
}

/// `input`, with a user message, to `model_ref` becomes `expected`, with
/// one too.
fn check_body(model_ref: &str, input: Value, expected: Value) {
    check(model_ref, with_messages(input), with_messages(expected));
}

/// `messages` in a request to `model_ref` become `expected`.
fn check_messages(model_ref: &str, messages: &Value, expected: &Value) {
    check(
        model_ref,
        json!({"messages": messages}),
        json!({"messages": expected}),
    );
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

/// `input` plus a user message, so that it is a valid request.
fn with_messages(mut body: Value) -> Value {
    if body.get("messages").is_none() {
        body["messages"] = json!([user("hi")]);
    }
    body
}

#[test]
fn unknown_fields_pass_untouched_and_model_is_the_upstream_id() {
    check(
        "local/plain",
        json!({"model": "local/plain", "messages": [user("hi")], "x_custom": {"a": 1}, "temperature": 0.2}),
        json!({"messages": [user("hi")], "x_custom": {"a": 1}, "temperature": 0.2}),
    );
}

#[test]
fn developer_becomes_system_where_unsupported() {
    let messages = json!([{"role": "developer", "content": "be brief"}, {"role": "user", "content": "hi", "name": "developer"}]);
    for kimi in ["moonshot/kimi-k2.5", "kimi/kimi-for-coding"] {
        check(
            kimi,
            json!({"messages": messages}),
            json!({"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi", "name": "developer"}]}),
        );
    }
    check_messages("openrouter/moonshotai/kimi-k2.6", &messages, &messages);
}

#[test]
fn the_k2_switch_follows_reasoning_effort_and_thinking() {
    let cases = [
        (
            json!({"reasoning_effort": "none"}),
            json!({"thinking": {"type": "disabled"}}),
        ),
        (
            json!({"reasoning_effort": "high"}),
            json!({"thinking": {"type": "enabled"}}),
        ),
        (
            json!({"reasoning_effort": "minimal"}),
            json!({"thinking": {"type": "enabled"}}),
        ),
        (
            json!({"thinking": {"type": "disabled"}}),
            json!({"thinking": {"type": "disabled"}}),
        ),
        // OpenRouter's object, read as the switch and not sent on.
        (
            json!({"reasoning": {"effort": "high"}}),
            json!({"thinking": {"type": "enabled"}}),
        ),
        (
            json!({"reasoning": {"enabled": false}}),
            json!({"thinking": {"type": "disabled"}}),
        ),
        // Nothing asked: the provider's default.
        (json!({}), json!({})),
    ];
    for (input, expected) in cases {
        check(
            "moonshot/kimi-k2.5",
            with_messages(input),
            with_messages(expected),
        );
    }
}

#[test]
fn thinking_keep_reaches_only_k2_6_with_thinking_on() {
    let keep = json!({"thinking": {"type": "enabled", "keep": "all"}});
    check(
        "moonshot/kimi-k2.6",
        with_messages(keep.clone()),
        with_messages(keep.clone()),
    );
    check(
        "moonshot/kimi-k2.5",
        with_messages(keep.clone()),
        with_messages(json!({"thinking": {"type": "enabled"}})),
    );
    check_body(
        "moonshot/kimi-k2.6",
        json!({"thinking": {"type": "disabled", "keep": "all"}}),
        json!({"thinking": {"type": "disabled"}}),
    );
}

#[test]
fn k2_7_code_gets_no_thinking_fields_no_fixed_sampling_and_a_relaxed_tool_choice() {
    let tools = json!([{"type": "function", "function": {"name": "read", "parameters": {}}}]);
    check(
        "moonshot/kimi-k2.7-code",
        with_messages(json!({
            "reasoning_effort": "none", "thinking": {"type": "disabled"},
            "temperature": 0.2, "top_p": 0.9, "n": 1, "presence_penalty": 0.1, "frequency_penalty": 0.1,
            "max_tokens": 100, "tools": tools, "tool_choice": "required",
        })),
        with_messages(json!({"max_tokens": 100, "tools": tools, "tool_choice": "auto"})),
    );
    check_body(
        "moonshot/kimi-k2.7-code",
        json!({"tools": tools, "tool_choice": {"type": "function", "function": {"name": "read"}}}),
        json!({"tools": tools, "tool_choice": "auto"}),
    );
    // An allow-list: Kimi's API takes no list, so the listed tools alone
    // are offered, its mode the choice, relaxed while thinking.
    let two = json!([
        {"type": "function", "function": {"name": "read", "parameters": {}}},
        {"type": "function", "function": {"name": "write", "parameters": {}}},
    ]);
    let allowed = |mode: &str| {
        json!({"tools": two, "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": mode,
            "tools": [{"type": "function", "function": {"name": "read"}}]}}})
    };
    let read = json!([two[0]]);
    let sent = |choice: &str| with_messages(json!({"tools": read, "tool_choice": choice}));
    for (model_ref, mode, choice, relaxed) in [
        ("moonshot/kimi-k2.7-code", "required", "auto", true),
        ("moonshot/kimi-k2.7-code", "auto", "auto", false),
        ("moonshot/kimi-k3", "required", "required", false),
        ("kimi/kimi-for-coding", "required", "auto", true),
    ] {
        let expected = match model_ref {
            "moonshot/kimi-k3" => {
                let mut sent = sent(choice);
                sent["reasoning_effort"] = json!("max");
                sent
            }
            _ => sent(choice),
        };
        check(model_ref, with_messages(allowed(mode)), expected);
        let plan = plan_with(json!({}), model_ref, with_messages(allowed(mode)));
        let named = plan
            .withheld
            .contains(&super::Withheld::Removed(super::moonshot::RELAXED.into()));
        assert_eq!(named, relaxed, "{model_ref} {mode}");
    }
    // A list that names no tool offered offers none, and forces nothing.
    let none = json!({"tools": two, "tool_choice": {"type": "allowed_tools",
        "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "x"}}]}}});
    check(
        "moonshot/kimi-k3",
        with_messages(none.clone()),
        with_messages(json!({"reasoning_effort": "max"})),
    );
    let plan = plan_with(json!({}), "moonshot/kimi-k3", with_messages(none));
    assert!(
        plan.withheld
            .contains(&super::Withheld::Removed(super::moonshot::RELAXED.into()))
    );
}

#[test]
fn k3_effort_follows_the_clients_level_with_no_thinking_member() {
    // K3 takes low, high and max (req_llm #904); it has no switch.
    let cases = [
        (json!({}), "max"),
        (json!({"reasoning_effort": "minimal"}), "low"),
        (json!({"reasoning_effort": "low"}), "low"),
        (json!({"reasoning_effort": "medium"}), "high"),
        (json!({"reasoning_effort": "high"}), "high"),
        (json!({"reasoning_effort": "max"}), "max"),
        (json!({"reasoning_effort": "none"}), "low"),
        (json!({"thinking": {"type": "enabled"}}), "max"),
        (json!({"thinking": {"type": "disabled"}}), "low"),
        // A budget reads as a Messages client's does: low under 4,096,
        // medium (K3's high) to 16,384, high from there.
        (
            json!({"thinking": {"type": "enabled", "budget_tokens": 3000}}),
            "low",
        ),
        (
            json!({"thinking": {"type": "enabled", "budget_tokens": 8000}}),
            "high",
        ),
        (
            json!({"thinking": {"type": "enabled", "budget_tokens": 20000}}),
            "high",
        ),
    ];
    for k3 in ["moonshot/kimi-k3", "kimi/k3", "kimi/k3-256k"] {
        for (input, effort) in &cases {
            check(
                k3,
                with_messages(input.clone()),
                with_messages(json!({"reasoning_effort": effort})),
            );
            // Off, which K3 cannot do, is named.
            let plan = plan_with(json!({}), k3, with_messages(input.clone()));
            let named = plan.withheld.contains(&super::Withheld::Thinking);
            let off =
                input["thinking"]["type"] == "disabled" || input["reasoning_effort"] == "none";
            assert_eq!(named, off, "{k3}: {input}");
        }
    }
    // Or from thinkingDefault when the client says nothing.
    check_with(
        json!({"agents": {"defaults": {"thinkingDefault": "low"}}}),
        "kimi/k3",
        with_messages(json!({})),
        with_messages(json!({"reasoning_effort": "low"})),
    );
}

#[test]
fn k3_drops_the_sampling_it_fixes() {
    for k3 in ["moonshot/kimi-k3", "kimi/k3", "kimi/k3-256k"] {
        check(
            k3,
            with_messages(json!({"temperature": 0.7, "top_p": 0.9, "n": 1,
                "presence_penalty": 0.1, "frequency_penalty": 0.1, "reasoning_effort": "high"})),
            with_messages(json!({"reasoning_effort": "high"})),
        );
    }
}

#[test]
fn k3_takes_required_and_a_named_tool_as_required_with_only_that_tool() {
    let tool =
        |name: &str| json!({"type": "function", "function": {"name": name, "parameters": {}}});
    let pinned = json!({"type": "function", "function": {"name": "read"}});
    for k3 in ["moonshot/kimi-k3", "kimi/k3"] {
        // `required` is accepted by K3 (oh-my-pi #5994).
        check(
            k3,
            with_messages(json!({"tools": [tool("read")], "tool_choice": "required"})),
            with_messages(
                json!({"tools": [tool("read")], "tool_choice": "required", "reasoning_effort": "max"}),
            ),
        );
        // A named function keeps its intent as `required` over that tool.
        check(
            k3,
            with_messages(json!({"tools": [tool("grep"), tool("read")], "tool_choice": pinned})),
            with_messages(
                json!({"tools": [tool("read")], "tool_choice": "required", "reasoning_effort": "max"}),
            ),
        );
        // A named function not offered cannot hold: auto.
        check(
            k3,
            with_messages(json!({"tools": [tool("grep")], "tool_choice": pinned})),
            with_messages(
                json!({"tools": [tool("grep")], "tool_choice": "auto", "reasoning_effort": "max"}),
            ),
        );
    }
    // Every other thinking model refuses `required` and a named function
    // (inspect_ai PR #5152): relaxed as before.
    for model in [
        "kimi/kimi-for-coding",
        "moonshot/kimi-k2.7-code-highspeed",
        "moonshot/kimi-k2.5",
    ] {
        let out = {
            let config = config(json!({}));
            let target = config.target(&ModelRef::parse(model).unwrap()).unwrap();
            let input = with_messages(
                json!({"tools": [tool("read")], "tool_choice": "required", "reasoning_effort": "high"}),
            );
            let request = ChatRequest::parse(input.to_string()).unwrap();
            let out: Value =
                serde_json::from_slice(&request.write(&edits(&request, &target)).to_vec()).unwrap();
            out
        };
        assert_eq!(out["tool_choice"], "auto", "{model}");
    }
}

#[test]
fn k2_7_code_highspeed_never_gets_thinking_disabled() {
    // "invalid thinking: only type=enabled is allowed" (kimi-code #797).
    for input in [
        json!({"reasoning_effort": "none"}),
        json!({"thinking": {"type": "disabled"}}),
        json!({"reasoning_effort": "high"}),
    ] {
        check(
            "moonshot/kimi-k2.7-code-highspeed",
            with_messages(input),
            with_messages(json!({})),
        );
    }
}

#[test]
fn the_output_limit_goes_in_the_field_each_endpoint_takes() {
    // Moonshot takes max_tokens (pi-ai's max_completion_tokens broke it,
    // oh-my-pi #2289); Kimi Coding gets max_completion_tokens, as
    // OpenClaw 2026.9.6 sends it there. Both ways.
    check_body(
        "moonshot/kimi-k2.6",
        json!({"max_completion_tokens": 1000, "reasoning_effort": "none"}),
        json!({"max_tokens": 1000, "thinking": {"type": "disabled"}}),
    );
    check_body(
        "kimi/kimi-for-coding",
        json!({"max_tokens": 1000}),
        json!({"max_completion_tokens": 1000}),
    );
    check_body(
        "kimi/kimi-for-coding",
        json!({"max_completion_tokens": 1000}),
        json!({"max_completion_tokens": 1000}),
    );
    // Both given: the lower, whichever field it came in and the target
    // takes.
    for (max_tokens, max_completion_tokens, lower) in [(10, 200, 10), (200, 10, 10)] {
        let both =
            json!({"max_tokens": max_tokens, "max_completion_tokens": max_completion_tokens});
        check_body(
            "moonshot/kimi-k2.6",
            both.clone(),
            json!({"max_tokens": lower}),
        );
        check_body(
            "kimi/kimi-for-coding",
            both,
            json!({"max_completion_tokens": lower}),
        );
    }
    // A model's `params` fill the field the client left out, and never
    // lower the one it gave.
    let extra = json!({"agents": {"defaults": {"models": {"moonshot/kimi-k2.6": {
        "params": {"max_completion_tokens": 4096}}}}}});
    check_with(
        extra,
        "moonshot/kimi-k2.6",
        with_messages(json!({"max_tokens": 32000})),
        with_messages(json!({"max_tokens": 32000})),
    );
}

#[test]
fn under_thinking_required_becomes_auto_and_a_pinned_function_turns_thinking_off() {
    let tools = json!([{"type": "function", "function": {"name": "read", "parameters": {}}}]);
    check_body(
        "moonshot/kimi-k2.6",
        json!({"reasoning_effort": "high", "tools": tools, "tool_choice": "required"}),
        json!({"thinking": {"type": "enabled"}, "tools": tools, "tool_choice": "auto"}),
    );
    let pinned = json!({"type": "function", "function": {"name": "read"}});
    check_body(
        "moonshot/kimi-k2.6",
        json!({"reasoning_effort": "high", "tools": tools, "tool_choice": pinned, "temperature": 0.7}),
        json!({"thinking": {"type": "disabled"}, "tools": tools, "tool_choice": pinned, "temperature": 0.7}),
    );
    // The thinking asked for is named; a default turned off is not.
    for model_ref in ["moonshot/kimi-k2.6", "kimi/kimi-for-coding"] {
        let named = |input: Value| {
            let plan = plan_with(json!({}), model_ref, with_messages(input));
            plan.withheld.contains(&super::Withheld::Thinking)
        };
        for asked in [
            json!({"reasoning_effort": "high"}),
            json!({"thinking": {"type": "enabled"}}),
        ] {
            let mut input = json!({"tools": tools, "tool_choice": pinned});
            input
                .as_object_mut()
                .unwrap()
                .extend(asked.as_object().unwrap().clone());
            assert!(named(input), "{model_ref}: {asked}");
        }
        assert!(
            !named(json!({"tools": tools, "tool_choice": pinned})),
            "{model_ref}"
        );
    }
    // With thinking off nothing is changed.
    check_body(
        "moonshot/kimi-k2.6",
        json!({"reasoning_effort": "none", "tools": tools, "tool_choice": "required", "temperature": 0.7}),
        json!({"thinking": {"type": "disabled"}, "tools": tools, "tool_choice": "required", "temperature": 0.7}),
    );
}

#[test]
fn a_tool_choice_with_no_tools_is_taken_away_and_named() {
    for model_ref in [
        "moonshot/kimi-k2.6",
        "moonshot/kimi-k2.7-code",
        "openrouter/auto",
    ] {
        for tools in [None, Some(json!([]))] {
            let mut input = json!({"tool_choice": "required", "parallel_tool_calls": false});
            let mut expected = json!({});
            if let Some(tools) = tools {
                input["tools"] = tools.clone();
                expected["tools"] = tools;
            }
            check_body(model_ref, input.clone(), expected);
            let plan = plan_with(json!({}), model_ref, with_messages(input));
            let names: Vec<_> = (plan.withheld.iter())
                .filter_map(super::Withheld::removed)
                .collect();
            assert_eq!(names, ["tool_choice", "parallel_tool_calls"], "{model_ref}");
        }
    }
    // A pinned function with no tool forces nothing: thinking stays on.
    let pinned = json!({"type": "function", "function": {"name": "read"}});
    check_body(
        "moonshot/kimi-k2.6",
        json!({"reasoning_effort": "high", "tool_choice": pinned}),
        json!({"thinking": {"type": "enabled"}}),
    );
}

#[test]
fn k2_6_drops_temperature_and_top_p_while_thinking() {
    check_body(
        "moonshot/kimi-k2.6",
        json!({"reasoning_effort": "low", "temperature": 0.7, "top_p": 0.5, "n": 2}),
        json!({"thinking": {"type": "enabled"}, "n": 2}),
    );
    // Not with thinking off.
    check_body(
        "moonshot/kimi-k2.6",
        json!({"reasoning_effort": "none", "temperature": 0.7, "top_p": 0.5}),
        json!({"thinking": {"type": "disabled"}, "temperature": 0.7, "top_p": 0.5}),
    );
}

#[test]
fn models_that_do_not_reason_get_no_thinking_signal_not_even_the_default() {
    check_with(
        json!({"agents": {"defaults": {"thinkingDefault": "high"}}}),
        "moonshot/kimi-k2-turbo",
        with_messages(json!({"reasoning_effort": "high", "thinking": {"type": "enabled"}})),
        with_messages(json!({})),
    );
    check_with(
        json!({"agents": {"defaults": {"thinkingDefault": "off"}}}),
        "moonshot/kimi-k2-turbo",
        with_messages(json!({})),
        with_messages(json!({})),
    );
}

#[test]
fn over_the_anthropic_transport_a_plain_endpoints_effort_is_the_switch() {
    let extra = json!({"models": {"providers": {"claude": {
        "baseUrl": "http://127.0.0.1:9/", "api": "anthropic-messages", "apiKey": "k",
        "models": [{"id": "thinker", "reasoning": true}, {"id": "plain"}]}}}});
    let cases = [
        (
            "claude/thinker",
            json!({"reasoning_effort": "high"}),
            json!({"reasoning_effort": "high", "thinking": {"type": "enabled"}}),
        ),
        (
            "claude/thinker",
            json!({"reasoning_effort": "none"}),
            json!({"reasoning_effort": "none", "thinking": {"type": "disabled"}}),
        ),
        // The client's own switch wins; a model that does not reason is
        // told nothing.
        (
            "claude/thinker",
            json!({"reasoning_effort": "high", "thinking": {"type": "disabled"}}),
            json!({"reasoning_effort": "high", "thinking": {"type": "disabled"}}),
        ),
        (
            "claude/plain",
            json!({"reasoning_effort": "high"}),
            json!({"reasoning_effort": "high"}),
        ),
        // Over the chat transport, the effort is the endpoint's own.
        (
            "local/thinker",
            json!({"reasoning_effort": "high"}),
            json!({"reasoning_effort": "high"}),
        ),
    ];
    for (model_ref, input, expected) in cases {
        check_with(
            extra.clone(),
            model_ref,
            with_messages(input),
            with_messages(expected),
        );
    }
}

#[test]
fn the_request_wins_then_params_then_the_thinking_default() {
    let extra = json!({"agents": {"defaults": {
        "thinkingDefault": "off",
        "models": {"moonshot/kimi-k2.5": {"params": {"thinking": {"type": "enabled"}, "temperature": 0.6}}},
    }}});
    // The request's own signal.
    check_with(
        extra.clone(),
        "moonshot/kimi-k2.5",
        with_messages(json!({"reasoning_effort": "none"})),
        with_messages(json!({"thinking": {"type": "disabled"}, "temperature": 0.6})),
    );
    // The model's params.
    check_with(
        extra,
        "moonshot/kimi-k2.5",
        with_messages(json!({})),
        with_messages(json!({"thinking": {"type": "enabled"}, "temperature": 0.6})),
    );
    // The default.
    check_with(
        json!({"agents": {"defaults": {"thinkingDefault": "off"}}}),
        "moonshot/kimi-k2.5",
        with_messages(json!({})),
        with_messages(json!({"thinking": {"type": "disabled"}})),
    );
    // A budget in a model's params goes as written, no level beside it
    // (a client's reads as one: `k3_effort_follows_the_clients_level...`).
    let thinking = json!({"type": "enabled", "budget_tokens": 3000});
    check_with(
        json!({"agents": {"defaults": {"models": {"local/thinker": {"params": {"thinking": thinking}}}}}}),
        "local/thinker",
        with_messages(json!({})),
        with_messages(json!({"thinking": thinking})),
    );
}

fn tool_turn(ids: &[&str], reasoning: Option<&str>) -> Value {
    let calls: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "type": "function", "function": {"name": "read", "arguments": "{}"}}))
        .collect();
    let mut message = json!({"role": "assistant", "content": "", "tool_calls": calls});
    if let Some(reasoning) = reasoning {
        message["reasoning_content"] = json!(reasoning);
    }
    message
}

fn tool_result(id: &str) -> Value {
    json!({"role": "tool", "tool_call_id": id, "content": "ok"})
}

#[test]
fn replayed_tool_turns_carry_reasoning_content_only_while_thinking() {
    let history = json!([
        user("a"),
        tool_turn(&["c1"], None),
        tool_result("c1"),
        tool_turn(&["c2"], Some("why"))
    ]);
    let mut on = history.clone();
    on[1]["reasoning_content"] = json!("");
    check(
        "moonshot/kimi-k2.6",
        json!({"messages": history, "reasoning_effort": "high"}),
        json!({"messages": on, "thinking": {"type": "enabled"}}),
    );
    let mut off = history.clone();
    off[3].as_object_mut().unwrap().remove("reasoning_content");
    check(
        "moonshot/kimi-k2.6",
        json!({"messages": history, "reasoning_effort": "none"}),
        json!({"messages": off, "thinking": {"type": "disabled"}}),
    );
}

#[test]
fn duplicate_tool_call_ids_are_rewritten_as_openclaw_does() {
    // The first occurrence stays; later ones are call_ + 24 hex digits of
    // sha256("<id>:<occurrence>:0"); results follow first-in first-out.
    let history = json!([
        user("a"),
        tool_turn(&["functions.read:0"], Some("r")),
        tool_result("functions.read:0"),
        tool_turn(&["functions.read:0", "functions read:1"], Some("r")),
        tool_result("functions.read:0"),
        tool_result("functions read:1"),
        tool_turn(&["functions.read:0"], Some("r")),
        tool_result("functions.read:0"),
    ]);
    let expected = json!([
        user("a"),
        tool_turn(&["functions.read:0"], Some("r")),
        tool_result("functions.read:0"),
        tool_turn(
            &["call_48530e21d1a951803b2f0bee", "functions.read:1"],
            Some("r")
        ),
        tool_result("call_48530e21d1a951803b2f0bee"),
        tool_result("functions.read:1"),
        tool_turn(&["call_cb629c3ab1cdd19559c02863"], Some("r")),
        tool_result("call_cb629c3ab1cdd19559c02863"),
    ]);
    check_messages("kimi/kimi-for-coding", &history, &expected);
}

#[test]
fn an_id_repaired_to_one_already_sent_is_made_unique_too() {
    // `functions read:0` repaired is `functions.read:0`, which the first
    // turn holds: it is a later occurrence, made anew, not sent twice.
    let turns = |ids: [&str; 2]| {
        let turn = |id| [tool_turn(&[id], Some("r")), tool_result(id)];
        let [first, second] = ids.map(turn);
        Value::from_iter([user("a")].into_iter().chain(first).chain(second))
    };
    // call_ + sha256("functions read:0:1:0"), its first occurrence's.
    let made = "call_267a56f75b603619bdc547ce";
    check_messages(
        "kimi/kimi-for-coding",
        &turns(["functions.read:0", "functions read:0"]),
        &turns(["functions.read:0", made]),
    );
}

#[test]
fn a_tool_result_without_its_id_is_paired_again_before_ids_are_made_unique() {
    // The second turn repeats Kimi's id; its result lost the id. It is
    // paired with its own call, then follows that call's new id.
    let turn = tool_turn(&["functions.read:0"], Some("r"));
    let history = json!([
        user("a"),
        turn,
        tool_result("functions.read:0"),
        turn,
        tool_result(""),
    ]);
    let mut expected = history.clone();
    expected[3] = tool_turn(&["call_48530e21d1a951803b2f0bee"], Some("r"));
    expected[4] = tool_result("call_48530e21d1a951803b2f0bee");
    check_messages("kimi/kimi-for-coding", &history, &expected);
    // Any provider: the id is given back.
    let plain = json!([user("a"), tool_turn(&["c1"], None), tool_result("")]);
    let repaired = json!([user("a"), tool_turn(&["c1"], None), tool_result("c1")]);
    check_messages("local/plain", &plain, &repaired);
}

#[test]
fn output_limits_move_to_the_models_field_and_are_clamped() {
    // Kimi For Coding's maximum output is 32768.
    check_body(
        "kimi/kimi-for-coding",
        json!({"max_tokens": 242097}),
        json!({"max_completion_tokens": 32768}),
    );
    check_with(
        json!({"models": {"providers": {"local": {"models": [
            {"id": "plain", "maxTokens": 1000, "compat": {"maxTokensField": "max_tokens"}}
        ]}}}}),
        "local/plain",
        with_messages(json!({"max_completion_tokens": 5000})),
        with_messages(json!({"max_tokens": 1000})),
    );
}

#[test]
fn streamed_usage_is_not_asked_of_models_that_cannot_send_it() {
    check_with(
        json!({"models": {"providers": {"local": {"models": [
            {"id": "plain", "compat": {"supportsUsageInStreaming": false}}
        ]}}}}),
        "local/plain",
        with_messages(
            json!({"stream": true, "stream_options": {"include_usage": true, "other": 1}}),
        ),
        with_messages(json!({"stream": true, "stream_options": {"other": 1}})),
    );
}

fn tools_with(schema: Value) -> Value {
    json!([{"type": "function", "function": {"name": "t", "parameters": {"type": "object", "properties": {"x": schema}}}}])
}

#[test]
fn typed_any_of_schemas_are_rewritten_for_moonshot_models() {
    let mixed =
        json!({"type": "string", "anyOf": [{"enum": ["a"]}, {"type": "string", "pattern": "b"}]});
    let lifted =
        json!({"anyOf": [{"enum": ["a"], "type": "string"}, {"type": "string", "pattern": "b"}]});
    for moonshot in ["moonshot/kimi-k2.6", "openrouter/moonshotai/kimi-k2.6"] {
        check(
            moonshot,
            with_messages(json!({"tools": tools_with(mixed.clone())})),
            with_messages(json!({"tools": tools_with(lifted.clone())})),
        );
    }
    // A branch with a $ref, or another type, is not plain: left alone.
    let not_plain = json!({"type": "string", "anyOf": [{"$ref": "#/x"}]});
    check_body(
        "moonshot/kimi-k2.6",
        json!({"tools": tools_with(not_plain.clone())}),
        json!({"tools": tools_with(not_plain)}),
    );
    check_body(
        "local/plain",
        json!({"tools": tools_with(mixed.clone())}),
        json!({"tools": tools_with(mixed)}),
    );
}

/// `\u0061nyOf` is `anyOf` to Moonshot's validator: a tool that spells the
/// key with an escape is rewritten too, through the whole rule set.
#[test]
fn an_any_of_spelt_with_an_escape_is_rewritten_for_moonshot_models() {
    let lifted = json!({"anyOf": [{"enum": ["a"], "type": "string"}]});
    for moonshot in ["moonshot/kimi-k2.6", "openrouter/moonshotai/kimi-k2.6"] {
        let config = config(json!({}));
        let target = config.target(&ModelRef::parse(moonshot).unwrap()).unwrap();
        let text = r#"{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"t","parameters":{"type":"object","properties":{"x":{"type":"string","\u0061nyOf":[{"enum":["a"]}]}}}}}]}"#;
        let request = ChatRequest::parse(text.to_string()).unwrap();
        let out: Value =
            serde_json::from_slice(&request.write(&edits(&request, &target)).to_vec()).unwrap();
        assert_eq!(
            out["tools"],
            tools_with(lifted.clone()),
            "{moonshot}: {out}"
        );
    }
}

#[test]
fn openrouter_gets_its_reasoning_object() {
    let cases = [
        (
            json!({"reasoning_effort": "none"}),
            json!({"reasoning": {"enabled": false}}),
        ),
        (
            json!({"reasoning_effort": "minimal"}),
            json!({"reasoning": {"effort": "low"}}),
        ),
        (
            json!({"reasoning_effort": "medium"}),
            json!({"reasoning": {"effort": "medium"}}),
        ),
        (
            json!({"thinking": {"type": "disabled"}}),
            json!({"reasoning": {"enabled": false}}),
        ),
        (
            json!({"reasoning_effort": "high", "reasoning": {"max_tokens": 10}}),
            json!({"reasoning": {"max_tokens": 10}}),
        ),
    ];
    for (input, expected) in cases {
        check(
            "openrouter/moonshotai/kimi-k2.6",
            with_messages(input),
            with_messages(expected),
        );
    }
}

#[test]
fn generic_endpoints_get_the_clients_signal_and_a_default_only_for_models_that_reason() {
    check_body(
        "local/plain",
        json!({"reasoning_effort": "low"}),
        json!({"reasoning_effort": "low"}),
    );
    let default_high = json!({"agents": {"defaults": {"thinkingDefault": "high"}}});
    check_with(
        default_high.clone(),
        "local/thinker",
        with_messages(json!({})),
        with_messages(json!({"reasoning_effort": "high"})),
    );
    check_with(
        default_high,
        "local/plain",
        with_messages(json!({})),
        with_messages(json!({})),
    );
}

#[test]
fn rules_combine() {
    // Thinking on, duplicated ids, a developer message and tools at once.
    let history = json!([
        {"role": "developer", "content": "rules"},
        user("a"),
        tool_turn(&["functions.read:0"], None),
        tool_result("functions.read:0"),
        tool_turn(&["functions.read:0"], None),
        tool_result("functions.read:0"),
    ]);
    let mut expected = history.clone();
    expected[0]["role"] = json!("system");
    expected[2]["reasoning_content"] = json!("");
    expected[4] = tool_turn(&["call_48530e21d1a951803b2f0bee"], Some(""));
    expected[5] = tool_result("call_48530e21d1a951803b2f0bee");
    check(
        "moonshot/kimi-k2.6",
        json!({"messages": history, "reasoning_effort": "medium", "tools": tools_with(json!({"type": "string"}))}),
        json!({"messages": expected, "thinking": {"type": "enabled"}, "tools": tools_with(json!({"type": "string"}))}),
    );
    // Thinking off with reasoning in the history.
    let mut off = json!([user("a"), tool_turn(&["c1"], Some("r")), tool_result("c1")]);
    let input = json!({"messages": off, "reasoning_effort": "none"});
    off[1].as_object_mut().unwrap().remove("reasoning_content");
    check(
        "moonshot/kimi-k2.5",
        input,
        json!({"messages": off, "thinking": {"type": "disabled"}}),
    );
}

#[test]
fn a_provider_named_like_kimi_behind_any_url_gets_kimis_rules() {
    check_with(
        json!({"models": {"providers": {"kimi-code": {"baseUrl": "http://127.0.0.1:9/v1",
            "models": [{"id": "kimi-for-coding"}]}}}}),
        "kimi-code/kimi-for-coding",
        json!({"messages": [{"role": "developer", "content": "x"}], "reasoning_effort": "none", "max_tokens": 99999}),
        json!({"messages": [{"role": "system", "content": "x"}], "thinking": {"type": "disabled"}, "max_completion_tokens": 32768}),
    );
}

#[test]
fn streams_ask_for_usage_where_the_provider_can_send_it() {
    check_body(
        "moonshot/kimi-k2.5",
        json!({"stream": true}),
        json!({"stream": true, "stream_options": {"include_usage": true}}),
    );
    check(
        "local/plain",
        with_messages(json!({"stream": true, "stream_options": {"other": 1}})),
        with_messages(
            json!({"stream": true, "stream_options": {"other": 1, "include_usage": true}}),
        ),
    );
    // Not for answers that are not streamed.
    check_body("moonshot/kimi-k2.5", json!({}), json!({}));
}

#[test]
fn params_cannot_set_what_the_gateway_decides() {
    check_with(
        json!({"agents": {"defaults": {"models": {"local/plain": {"params": {
            "stream": true, "model": "x", "messages": [], "stream_options": {}, "temperature": 0.3
        }}}}}}),
        "local/plain",
        with_messages(json!({})),
        with_messages(json!({"temperature": 0.3})),
    );
}

/// `count` function tools.
fn tools(count: usize) -> Value {
    let tools: Vec<Value> = (0..count)
        .map(|i| json!({"type": "function", "function": {"name": format!("t{i}")}}))
        .collect();
    json!(tools)
}

fn image_turn() -> Value {
    json!([user("hi"), {"role": "user", "content": [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}])
}

#[test]
fn the_plan_skips_targets_that_cannot_take_the_request() {
    use super::{Refusal, plan};
    let config = config(json!({}));
    let too_many = Skip::TooManyTools {
        count: 129,
        max: 128,
    };
    let cases: Vec<(&str, Value, Option<Declined>)> = vec![
        // Kimi, whichever of its dialects: at most 128 tools.
        ("moonshot/kimi-k2.6", json!({"tools": tools(128)}), None),
        (
            "moonshot/kimi-k2.6",
            json!({"tools": tools(129)}),
            Some(Declined::Skip(too_many.clone())),
        ),
        (
            "kimi/kimi-for-coding",
            json!({"tools": tools(129)}),
            Some(Declined::Skip(too_many)),
        ),
        // Others take what they take.
        (
            "openrouter/moonshotai/kimi-k2.6",
            json!({"tools": tools(129)}),
            None,
        ),
        ("local/plain", json!({"tools": tools(300)}), None),
        // Tools that are not an array count none: the provider judges.
        ("moonshot/kimi-k2.6", json!({"tools": "x"}), None),
        // An image, for a model whose input is text only.
        (
            "moonshot/kimi-k2-turbo",
            json!({"messages": image_turn()}),
            Some(Declined::Skip(Skip::Image {
                place: "messages[1].content".into(),
            })),
        ),
        (
            "moonshot/kimi-k2.6",
            json!({"messages": image_turn()}),
            None,
        ),
        (
            "local/plain",
            json!({"messages": image_turn()}),
            Some(Declined::Skip(Skip::Image {
                place: "messages[1].content".into(),
            })),
        ),
        ("moonshot/kimi-k2-turbo", json!({}), None),
        // A result that cannot be paired is refused, for every target.
        (
            "local/plain",
            json!({"messages": [user("hi"), {"role": "tool", "content": "x"}]}),
            Some(Declined::Refuse(Refusal::UnpairedToolResult {
                index: 1,
                candidates: 0,
            })),
        ),
    ];
    for (model_ref, body, expected) in cases {
        let target = config.target(&ModelRef::parse(model_ref).unwrap()).unwrap();
        let request = ChatRequest::parse(with_messages(body.clone()).to_string()).unwrap();
        let got = plan(&request.into(), &target, &super::Memo::default()).err();
        assert_eq!(got, expected, "{model_ref}: {body}");
    }
}

#[test]
fn the_plan_asks_for_a_stream_whatever_the_client_asked() {
    let config = config(json!({}));
    let cases = [
        // Not streamed by the client: a stream with usage, where the
        // provider streams usage.
        (
            "local/plain",
            json!({}),
            json!({"stream": true, "stream_options": {"include_usage": true}}),
        ),
        (
            "local/plain",
            json!({"stream": false, "stream_options": {"x": 1}}),
            json!({"stream": true, "stream_options": {"include_usage": true}}),
        ),
        // Streamed: as the rules left it.
        (
            "local/plain",
            json!({"stream": true}),
            json!({"stream": true, "stream_options": {"include_usage": true}}),
        ),
    ];
    for (model_ref, body, expected) in cases {
        let target = config.target(&ModelRef::parse(model_ref).unwrap()).unwrap();
        let request = ChatRequest::parse(with_messages(body.clone()).to_string()).unwrap();
        let plan = super::plan(&request.clone().into(), &target, &super::Memo::default()).unwrap();
        let out: Value =
            serde_json::from_slice(&request.write(&plan.decided.chat_edits(&request)).to_vec())
                .unwrap();
        for (key, value) in expected.as_object().unwrap() {
            assert_eq!(&out[key], value, "{model_ref}: {body}: {key}");
        }
    }
}

/// The plan for `model_ref` under `extra` config, of the OpenAI `input`.
fn plan_with(extra: Value, model_ref: &str, input: Value) -> super::Plan {
    let config = config(extra);
    let target = config
        .target(&ModelRef::parse(model_ref).unwrap())
        .unwrap_or_else(|| panic!("no target {model_ref}"));
    let request = ChatRequest::parse(input.to_string()).unwrap();
    super::plan(&request.into(), &target, &super::Memo::default()).expect("planned")
}

/// The catalog's providers over their Anthropic endpoints, and Anthropic.
fn over_anthropic() -> Value {
    json!({"models": {"providers": {
        "moonshot": {"api": "anthropic-messages", "baseUrl": "https://api.moonshot.ai/anthropic"},
        "kimi": {"api": "anthropic-messages", "baseUrl": "https://api.kimi.com/coding"},
        "openrouter": {"api": "anthropic-messages", "baseUrl": "https://openrouter.ai/api"},
        "claude": {"baseUrl": "http://127.0.0.1:9/", "api": "anthropic-messages", "apiKey": "k",
            "models": [{"id": "opus", "reasoning": true, "maxTokens": 32000}]},
    }}})
}

/// The thinking budget is decided in one place: the client's own, else
/// half the output limit and at least 1,024, below the limit either way.
#[test]
fn the_thinking_budget_is_the_clients_or_half_the_limit_below_it() {
    let cases = [
        (None, Some(32768), Some(16384)),
        (None, Some(1500), Some(1024)),
        (None, Some(600), Some(599)),
        (None, Some(1), Some(1)),
        (Some(2000), Some(32768), Some(2000)),
        (Some(40000), Some(32000), Some(31999)),
        (Some(2000), None, Some(2000)),
        (None, None, None),
    ];
    for (asked, limit, expected) in cases {
        assert_eq!(
            super::thinking_budget(asked, limit),
            expected,
            "{asked:?} {limit:?}"
        );
    }
}

/// A Messages body's output limit is decided with the chat body's: the
/// client's, clamped to the model's, else the model's, else 4,096.
#[test]
fn a_messages_body_gets_the_limit_the_rules_decide() {
    let cases = [
        ("claude/opus", json!({"max_tokens": 100}), 100),
        (
            "claude/opus",
            json!({"max_completion_tokens": 1_000_000}),
            32000,
        ),
        ("claude/opus", json!({}), 32000),
        (
            "kimi/kimi-for-coding",
            json!({"max_tokens": 1_000_000}),
            32768,
        ),
    ];
    for (model_ref, input, expected) in cases {
        let plan = plan_with(over_anthropic(), model_ref, with_messages(input.clone()));
        assert_eq!(plan.messages.max_tokens, expected, "{model_ref}: {input}");
    }
    let plain = json!({"models": {"providers": {"claude": {
        "baseUrl": "http://127.0.0.1:9/", "api": "anthropic-messages", "apiKey": "k",
        "models": [{"id": "plain"}]}}}});
    let plan = plan_with(plain, "claude/plain", with_messages(json!({})));
    assert_eq!(plan.messages.max_tokens, super::FALLBACK_MAX_TOKENS);
}

/// Thinking and its budget, as the rules wrote them, for a Messages body.
#[test]
fn a_messages_body_gets_the_switch_and_budget_the_rules_decide() {
    use crate::capabilities::ThinkingSwitch;
    let cases = [
        (json!({"reasoning_effort": "high"}), ThinkingSwitch::On),
        (json!({"reasoning_effort": "none"}), ThinkingSwitch::Off),
        (json!({"thinking": {"type": "enabled"}}), ThinkingSwitch::On),
        (json!({}), ThinkingSwitch::AsSent),
    ];
    for (mut input, expected) in cases {
        input["max_tokens"] = json!(10_000);
        let input = with_messages(input);
        let plan = plan_with(over_anthropic(), "claude/opus", input.clone());
        assert_eq!(plan.messages.thinking, expected, "{input}");
        assert_eq!(plan.messages.budget, 5000, "{input}");
    }
    // A model that cannot be told gets no switch.
    let plan = plan_with(
        over_anthropic(),
        "moonshot/kimi-k2.7-code",
        with_messages(json!({"thinking": {"type": "enabled"}})),
    );
    assert_eq!(plan.messages.thinking, ThinkingSwitch::Omitted);
}

/// A Messages client's own switch that is on where the rules say on is
/// sent as the client wrote it (`adaptive` stays adaptive, a budget the
/// client gave stays its own, below the output limit), and not named as
/// written anew; one that is off the plan writes anew.
#[test]
fn a_messages_clients_own_switch_that_is_on_goes_as_sent() {
    use crate::capabilities::ThinkingSwitch;
    let body = |thinking: Value| {
        json!({"max_tokens": 10_000, "thinking": thinking, "output_config": {"effort": "high"},
            "messages": [{"role": "user", "content": "hi"}]})
    };
    for (thinking, expected) in [
        (json!({"type": "adaptive"}), ThinkingSwitch::OwnOn),
        (
            json!({"type": "enabled", "budget_tokens": 2048}),
            ThinkingSwitch::OwnOn,
        ),
        (json!({"type": "disabled"}), ThinkingSwitch::Off),
    ] {
        let plan = messages_plan(
            over_anthropic(),
            "moonshot/kimi-k2.6",
            body(thinking.clone()),
        );
        assert_eq!(plan.messages.thinking, expected, "{thinking}");
        let anew = super::Withheld::WrittenAnew("thinking");
        let as_sent = expected == ThinkingSwitch::OwnOn;
        assert_eq!(plan.withheld.contains(&anew), !as_sent, "{thinking}");
    }
}

/// A provider of no dialect (Anthropic itself) is sent a Messages
/// client's `thinking` as the client wrote it, or none where it wrote
/// none: its `output_config.effort` is no switch (on Anthropic, effort and
/// thinking are separate settings; thinking turned on with a `temperature`
/// other than 1, or with a budget under 1,024, is refused there).
#[test]
fn a_messages_clients_effort_turns_no_thinking_on_for_a_provider_of_no_dialect() {
    use crate::capabilities::ThinkingSwitch;
    for thinking in [
        None,
        Some(json!({"type": "adaptive"})),
        Some(json!({"type": "enabled", "budget_tokens": 2048})),
        Some(json!({"type": "disabled"})),
    ] {
        let mut body = json!({"max_tokens": 1000, "temperature": 1,
            "output_config": {"effort": "low"}, "messages": [{"role": "user", "content": "hi"}]});
        if let Some(thinking) = &thinking {
            body["thinking"] = thinking.clone();
        }
        let plan = messages_plan(over_anthropic(), "claude/opus", body);
        assert_eq!(
            plan.messages.thinking,
            ThinkingSwitch::AsSent,
            "{thinking:?}"
        );
        assert!(
            !plan
                .withheld
                .contains(&super::Withheld::WrittenAnew("thinking")),
            "{thinking:?}"
        );
    }
    // A chat client's effort is the switch there: it has no other.
    let plan = plan_with(
        over_anthropic(),
        "claude/opus",
        with_messages(json!({"reasoning_effort": "low"})),
    );
    assert_eq!(plan.messages.thinking, ThinkingSwitch::On);
}

/// kimi-for-coding's cap on `max` effort is the plan's effort, which each
/// transport writes in its own words: `reasoning_effort` on the chat
/// transport; nothing over the Anthropic one, whose Kimi endpoints take no
/// effort.
#[test]
fn kimi_for_codings_effort_cap_is_the_plans_effort() {
    // Told by `reasoning_effort`, on either endpoint.
    let told_by_effort = |api: &str| {
        json!({"models": {"providers": {"kc": {"dialect": "kimi-coding", "api": api,
            "baseUrl": "http://127.0.0.1:9/", "apiKey": "k", "models": [
                {"id": "kimi-for-coding", "compat": {"thinkingControl": "effort"}},
                {"id": "k3"}]}}}})
    };
    for api in ["openai-completions", "anthropic-messages"] {
        let plan = plan_with(
            told_by_effort(api),
            "kc/kimi-for-coding",
            with_messages(json!({"reasoning_effort": "max"})),
        );
        assert_eq!(plan.decided.effort.as_deref(), Some("high"), "{api}");
        assert!(plan.withheld.contains(&super::Withheld::MaxEffort));
        // Written by the chat transport as `reasoning_effort`.
        let request =
            ChatRequest::parse(with_messages(json!({"reasoning_effort": "max"})).to_string())
                .unwrap();
        let sent = plan.decided.chat_edits(&request);
        assert_eq!(sent.top.get("reasoning_effort"), Some(Some(&json!("high"))));
    }
    // Asked another level, or on another model: nothing fixed.
    for (model_ref, effort, sent) in [
        ("kc/kimi-for-coding", "low", "low"),
        ("kc/k3", "max", "max"),
    ] {
        let plan = plan_with(
            told_by_effort("openai-completions"),
            model_ref,
            with_messages(json!({"reasoning_effort": effort})),
        );
        assert_eq!(plan.decided.effort.as_deref(), Some(sent), "{model_ref}");
        assert!(!plan.withheld.contains(&super::Withheld::MaxEffort));
    }
}

/// A Messages body that chat cannot hold (a tool schema nested to the
/// scanner's depth, one level deeper in chat's `function.parameters`)
/// goes on to a target that speaks Messages; a target that speaks chat is
/// skipped, naming why, rather than failing the request; and when the
/// first target speaks chat, the body is refused at once, as before.
#[test]
fn a_body_chat_cannot_hold_skips_only_the_chat_targets() {
    use crate::translate::anthropic_client::{ChatForm, Read};
    let config = config(json!({}));
    let chat = config
        .target(&ModelRef::parse("local/plain").unwrap())
        .unwrap();
    let body = |levels: usize| {
        let schema = format!("{}{{}}{}", r#"{"a":"#.repeat(levels), "}".repeat(levels));
        format!(
            r#"{{"max_tokens":5,"messages":[{{"role":"user","content":"hi"}}],"tools":[{{"name":"t","input_schema":{schema}}}]}}"#
        )
    };
    let request = |text: &str, when| {
        let read = Read::parse(text.as_bytes()).ok()?;
        read.into_request(None, text.to_string().into(), Default::default(), when)
            .ok()
    };
    // The deepest schema the Messages reader takes.
    let deepest = (100..200)
        .take_while(|levels| request(&body(*levels), ChatForm::WhenAsked).is_some())
        .last()
        .expect("a schema the reader takes");
    let text = body(deepest);
    let request = request(&text, ChatForm::WhenAsked).unwrap();
    let why = request.chat_form().expect_err("too deep for chat");
    match super::plan(&request, &chat, &super::Memo::default()) {
        Err(Declined::Skip(skip @ Skip::NoChatForm { .. })) => {
            assert_eq!(skip.label(), "no_chat_form");
            assert!(skip.to_string().ends_with(why), "{skip}");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    let read = Read::parse(text.as_bytes()).unwrap();
    let now = read.into_request(None, text.clone().into(), Default::default(), ChatForm::Now);
    assert!(now.is_err());
}

/// A Messages body with no message chat can hold is refused as it is read,
/// whenever its chat form is to be written.
#[test]
fn a_messages_body_without_a_message_is_refused_as_it_is_read() {
    use crate::translate::anthropic_client::{ChatForm, Read};
    for messages in [r#"[]"#, r#"[{"role":"user","content":[]}]"#] {
        let text = format!(r#"{{"max_tokens":5,"messages":{messages}}}"#);
        for when in [ChatForm::Now, ChatForm::WhenAsked] {
            let read = Read::parse(text.as_bytes()).unwrap();
            let refused = read
                .into_request(None, text.clone().into(), Default::default(), when)
                .unwrap_err();
            assert_eq!(refused, "`messages` must contain at least one message");
        }
    }
}

/// The plan for `model_ref` under `extra` config, of the Messages
/// `body`, as the Messages reader reads it.
fn messages_plan(extra: Value, model_ref: &str, body: Value) -> super::Plan {
    let config = config(extra);
    let target = config.target(&ModelRef::parse(model_ref).unwrap()).unwrap();
    super::plan(&messages_request(&body), &target, &super::Memo::default()).expect("planned")
}

/// The request the Messages reader makes of `body`.
fn messages_request(body: &Value) -> crate::wire::request::ClientRequest {
    use crate::translate::anthropic_client::{ChatForm, Read};
    let text = body.to_string();
    let read = Read::parse(text.as_bytes()).unwrap();
    (read.into_request(None, text.into(), Default::default(), ChatForm::WhenAsked)).unwrap()
}

/// A Messages body holding what each of Kimi Coding's rewrites is for: a
/// system message, a tool reference, a deferred tool.
fn kimi_coding_fodder() -> Value {
    json!({"max_tokens": 10, "messages": [
        {"role": "system", "content": "x"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
            "content": [{"type": "tool_reference", "tool_name": "A"}]}]}],
        "tools": [{"name": "A", "input_schema": {"type": "object"}, "defer_loading": true}]})
}

/// Kimi Coding's rewrites of a Messages body are its own: Moonshot's and
/// OpenRouter's Anthropic endpoints and Anthropic do not get them; only
/// Anthropic (a provider of no dialect) gets what only it serves.
#[test]
fn only_kimi_coding_gets_its_rewrites_of_a_messages_body() {
    let cases = [
        ("kimi/kimi-for-coding", 3, true),
        ("moonshot/kimi-k2.6", 0, true),
        ("openrouter/moonshotai/kimi-k2.6", 0, true),
        ("claude/opus", 0, false),
    ];
    for (model_ref, rewrites, kimi) in cases {
        let plan = messages_plan(over_anthropic(), model_ref, kimi_coding_fodder());
        let messages = &plan.messages;
        assert_eq!(messages.rewrites.len(), rewrites, "{model_ref}");
        assert_eq!(messages.without_server_tools, kimi, "{model_ref}");
        assert_eq!(!messages.removed.is_empty(), kimi, "{model_ref}");
        assert!(messages.without_billing_header, "{model_ref}");
    }
    // Over the chat transport, no Messages body is planned.
    let plan = messages_plan(json!({}), "kimi/kimi-for-coding", kimi_coding_fodder());
    assert_eq!(plan.messages.rewrites.len(), 0);
    assert_eq!(plan.messages.max_tokens, 0);
}

/// Each of Kimi Coding's rewrites is planned where the Messages front end
/// read what it is for, a name spelt with escapes too, and only there: a
/// text that quotes the name, or a chat client's body, calls for none.
#[test]
fn a_rewrite_is_planned_where_the_body_holds_what_it_is_for() {
    let rewrites = |body: &str| -> Vec<&'static [&'static str]> {
        let body: Value = serde_json::from_str(body).unwrap();
        let plan = messages_plan(over_anthropic(), "kimi/kimi-for-coding", body);
        plan.messages.rewrites.iter().map(|r| r.members).collect()
    };
    let system: &[&str] = &["messages", "system"];
    let reference: &[&str] = &["messages", "tools"];
    let deferred: &[&str] = &["tools"];
    for (body, expected) in [
        (
            r#"{"max_tokens":1,"messages":[{"role":"user","content":"hi"},{"role":"system","content":"x"}]}"#,
            vec![system],
        ),
        (
            r#"{"max_tokens":1,"messages":[{"role":"user","content":"hi"},{"role":"syst\u0065m","content":"x"}]}"#,
            vec![system],
        ),
        (
            r#"{"max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"tool_r\u0065ference","tool_name":"A"}]}]}]}"#,
            vec![reference],
        ),
        (
            r#"{"max_tokens":1,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"A","input_schema":{},"defer_loading":true}]}"#,
            vec![deferred],
        ),
        (
            r#"{"max_tokens":1,"messages":[{"role":"user","content":"a \"system\" word"}]}"#,
            vec![],
        ),
    ] {
        assert_eq!(rewrites(body), expected, "{body}");
    }
    let chat = plan_with(
        over_anthropic(),
        "kimi/kimi-for-coding",
        with_messages(json!({})),
    );
    assert!(chat.messages.rewrites.is_empty());
}

/// Kimi Coding's rewrites of a client's Messages body, as the passthrough
/// writes them, from the tree of the whole and from the bytes.
mod kimi_coding_rewrites {
    use bytes::Bytes;
    use serde_json::{Value, json};

    use super::super::kimi_coding::rewrites_for;
    use crate::translate::anthropic_client::Read;
    use crate::translate::anthropic_provider::MessagesPlan;
    use crate::translate::anthropic_provider::passthrough;

    /// The plan for `body`: the rewrites its reading holds something for.
    fn plan(body: &str) -> MessagesPlan {
        let read = Read::parse(body.as_bytes()).unwrap();
        let (_, seen, _) = read.translate(None).unwrap();
        MessagesPlan {
            max_tokens: 100,
            thinking: crate::capabilities::ThinkingSwitch::AsSent,
            budget: 99,
            without_billing_header: true,
            removed: &[],
            without_server_tools: true,
            rewrites: rewrites_for(&seen),
            carried: Default::default(),
            betas: None,
        }
    }

    /// The body written for `body`: the same from the tree of the whole
    /// and from its bytes, as the front end reads it.
    fn written(body: &Value) -> Value {
        let Value::Object(tree) = body.clone() else {
            panic!("not an object: {body}")
        };
        let from_tree = Value::Object(passthrough::on_the_whole_tree(
            tree,
            &plan(&body.to_string()),
        ));
        let from_bytes: Value = serde_json::from_slice(&from_bytes(&body.to_string())).unwrap();
        assert_eq!(from_bytes, from_tree, "{body}: from its bytes");
        from_tree
    }

    /// The body written for `body` as the front end reads it.
    fn from_bytes(body: &str) -> Vec<u8> {
        let mut read = Read::parse(body.as_bytes()).unwrap();
        let original = read
            .original(Bytes::copy_from_slice(body.as_bytes()))
            .unwrap();
        passthrough::passthrough(&original, &plan(body)).to_vec()
    }

    /// Claude Code's tool search (kimi-cli #1449, cc-switch #2941); the
    /// thinking block of the earlier turn stays (ccx #213).
    #[test]
    fn tool_references_become_text_and_deferred_tools_are_sent_whole() {
        let result = |content: Value| json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": content}]});
        let turn = json!({"role": "assistant", "content": [
            {"type": "thinking", "thinking": "I need a tool for this.", "signature": "s"},
            {"type": "tool_use", "id": "t1", "name": "ToolSearch", "input": {"query": "github"}}]});
        let body = json!({"max_tokens": 100, "messages": [
            {"role": "user", "content": "open a PR"}, turn.clone(),
            result(json!([
                {"type": "tool_reference", "tool_name": "mcp__github__create_pr"},
                {"type": "tool_reference", "tool_name": "mcp__gone__x"},
            ])),
        ],
        "tools": [
            {"name": "ToolSearch", "input_schema": {"type": "object"}},
            {"name": "mcp__github__create_pr", "input_schema": {"type": "object"}, "defer_loading": true},
        ]});
        assert_eq!(
            written(&body),
            json!({"max_tokens": 100, "stream": true, "messages": [
                {"role": "user", "content": "open a PR"}, turn.clone(),
                result(json!([{"type": "text", "text": "Tool mcp__github__create_pr is available."},
                              {"type": "text", "text": "Tool mcp__gone__x is not available."}])),
            ],
            "tools": [
                {"name": "ToolSearch", "input_schema": {"type": "object"}},
                {"name": "mcp__github__create_pr", "input_schema": {"type": "object"}},
            ]}),
        );
        // A reference to a tool not offered (a server tool, which goes)
        // says so: nothing the client sent is lost in silence.
        let body = json!({"max_tokens": 100, "messages": [
                {"role": "user", "content": "x"}, turn.clone(),
                result(json!([{"type": "tool_reference", "tool_name": "web_search"}]))],
                "tools": [{"type": "web_search_20250305", "name": "web_search"}]});
        assert_eq!(
            written(&body),
            json!({"max_tokens": 100, "stream": true, "messages": [
                {"role": "user", "content": "x"}, turn,
                result(json!([{"type": "text", "text": "Tool web_search is not available."}]))]}),
        );
    }

    #[test]
    fn mid_conversation_system_messages_move_to_the_system_prompt() {
        let body = json!({"max_tokens": 10, "system": "Be brief.", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "system", "content": [{"type": "text", "text": "Plan mode is on.", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": [{"type": "text", "text": "go"}]},
            {"role": "assistant", "content": "ok"},
            {"role": "system", "content": "Plan mode is off."},
        ]});
        assert_eq!(
            written(&body),
            json!({"max_tokens": 100, "stream": true,
            "system": [{"type": "text", "text": "Be brief."},
                       {"type": "text", "text": "Plan mode is on.", "cache_control": {"type": "ephemeral"}},
                       {"type": "text", "text": "Plan mode is off."}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "go"}]},
                {"role": "assistant", "content": "ok"},
            ]})
        );
        // Without system messages, the messages are not touched.
        let body = json!({"max_tokens": 10, "messages": [
            {"role": "user", "content": "hi"}, {"role": "user", "content": "again"}]});
        assert_eq!(written(&body)["messages"], body["messages"]);
    }
    /// A reference in a block of its own is sent as text too, and a
    /// deferred tool whose `defer_loading` is `null` is sent without it:
    /// where the reader notes one, the rewrite finds it.
    #[test]
    fn a_reference_on_its_own_and_a_null_deferral_are_rewritten() {
        let body = json!({"max_tokens": 10, "messages": [
            {"role": "user", "content": [{"type": "tool_reference", "tool_name": "A"}]}],
            "tools": [{"name": "A", "input_schema": {"type": "object"}, "defer_loading": null}]});
        let out = written(&body);
        assert_eq!(
            out["messages"][0]["content"],
            json!([{"type": "text", "text": "Tool A is available."}])
        );
        assert_eq!(
            out["tools"],
            json!([{"name": "A", "input_schema": {"type": "object"}}])
        );
    }

    /// A body that holds none of what the rewrites are for goes as the
    /// client wrote it, a text that quotes a name and escapes included.
    #[test]
    fn a_body_without_what_a_rewrite_is_for_goes_as_written() {
        let body = r#"{"max_tokens":10,"messages":[ {"role":"user","content":"a \"system\" word, caf\u00e9"} ],"tools":[ {"name":"A","input_schema":{}} ]}"#;
        let written = String::from_utf8(from_bytes(body)).unwrap();
        assert!(
            written.contains(
                r#""messages":[ {"role":"user","content":"a \"system\" word, caf\u00e9"} ]"#
            ),
            "{written}"
        );
        assert!(
            written.contains(r#""tools":[ {"name":"A","input_schema":{}} ]"#),
            "{written}"
        );
    }
}

/// What the rules removed of what the client asked, by name (the answer's
/// `x-clawgate-dropped`).
fn removed(plan: &super::Plan) -> Vec<&str> {
    plan.withheld
        .iter()
        .filter_map(super::Withheld::removed)
        .collect()
}

/// The sampling a model fixes, taken from what the client sent, is named
/// (K3's `temperature`, `top_p` and `n`); what the client did not send
/// is not.
#[test]
fn fixed_sampling_taken_from_the_client_is_named() {
    let input = with_messages(json!({"temperature": 0.2, "top_p": 0.5, "n": 1}));
    let plan = plan_with(json!({}), "kimi/k3", input);
    let mut names = removed(&plan);
    names.sort_unstable();
    assert_eq!(names, ["n", "temperature", "top_p"]);
    let plan = plan_with(json!({}), "kimi/k3", with_messages(json!({"top_p": 0.5})));
    assert_eq!(removed(&plan), ["top_p"]);
    let plan = plan_with(
        json!({}),
        "moonshot/kimi-k2.5",
        with_messages(json!({"temperature": 0.2})),
    );
    assert!(removed(&plan).is_empty());
}

/// K2.6 takes no `temperature` while it thinks: named then, not with
/// thinking off.
#[test]
fn k2_6s_temperature_is_named_while_it_thinks() {
    let thinking = with_messages(json!({"temperature": 0.2}));
    let plan = plan_with(json!({}), "moonshot/kimi-k2.6", thinking);
    assert_eq!(removed(&plan), ["temperature"]);
    let off = with_messages(json!({"temperature": 0.2, "reasoning_effort": "none"}));
    let plan = plan_with(json!({}), "moonshot/kimi-k2.6", off);
    assert!(removed(&plan).is_empty());
}

/// K3's named tool narrows the tools offered to that one: the others are
/// named; a choice of the only tool narrows nothing away.
#[test]
fn k3s_narrowed_tools_are_named() {
    let tool = |name: &str| json!({"type": "function", "function": {"name": name, "parameters": {"type": "object"}}});
    let choice = json!({"type": "function", "function": {"name": "read"}});
    let input =
        with_messages(json!({"tools": [tool("read"), tool("write")], "tool_choice": choice}));
    let plan = plan_with(json!({}), "kimi/k3", input);
    assert_eq!(removed(&plan), [super::moonshot::NARROWED]);
    let input = with_messages(json!({"tools": [tool("read")], "tool_choice": choice}));
    let plan = plan_with(json!({}), "kimi/k3", input);
    assert!(removed(&plan).is_empty());
}

/// Over the Anthropic transport, `params` a Messages body has no place
/// for are not set, and named; those it has a place for are set.
#[test]
fn params_a_messages_body_cannot_take_are_named() {
    let extra = json!({
        "models": {"providers": {"claude": {
            "baseUrl": "http://127.0.0.1:9/", "api": "anthropic-messages", "apiKey": "k",
            "models": [{"id": "opus"}]}}},
        "agents": {"defaults": {"models": {"claude/opus": {"params": {
            "presence_penalty": 0.5, "temperature": 0.3}}}}},
    });
    let plan = plan_with(extra, "claude/opus", with_messages(json!({})));
    assert_eq!(removed(&plan), ["params.presence_penalty"]);
    assert_eq!(
        plan.decided.params,
        [("temperature".to_string(), json!(0.3))]
    );
}

/// The catalog's providers over their Anthropic endpoints, and Anthropic,
/// with `params` for `model_ref`.
fn params_over_anthropic(model_ref: &str, params: Value) -> Value {
    let mut extra = over_anthropic();
    extra["agents"] = json!({"defaults": {"models": {model_ref: {"params": params}}}});
    extra
}

/// The plan for the Messages `body` to `model_ref` under `extra` config,
/// and the body the provider is sent: the client's own, as the plan
/// leaves it.
fn messages_sent(extra: Value, model_ref: &str, body: Value) -> (super::Plan, Value) {
    use crate::translate::anthropic_provider::passthrough;
    let config = config(extra);
    let target = config.target(&ModelRef::parse(model_ref).unwrap()).unwrap();
    let request = messages_request(&body);
    let plan = super::plan(&request, &target, &super::Memo::default()).expect("planned");
    let original = request.messages_body.as_ref().expect("a Messages body");
    let sent = passthrough::passthrough(original, &plan.messages).to_vec();
    (plan, serde_json::from_slice(&sent).unwrap())
}

/// A model's `params` fill only what the client's own request leaves
/// out, in the API it spoke: a Messages client's `top_k`, which the chat
/// form has no place for, is its own.
#[test]
fn params_leave_a_messages_clients_top_k_alone() {
    let params = json!({"top_k": 40});
    let body =
        json!({"max_tokens": 100, "top_k": 5, "messages": [{"role": "user", "content": "hi"}]});
    let extra = params_over_anthropic("claude/opus", params.clone());
    let (plan, sent) = messages_sent(extra, "claude/opus", body.clone());
    assert_eq!(sent["top_k"], json!(5));
    assert!(plan.decided.params.is_empty(), "{:?}", plan.decided.params);
    // A chat target has no place for the client's `top_k` (it is named
    // dropped): the params' does not go in its place.
    let extra = json!({"agents": {"defaults": {"models": {"local/plain": {"params": params}}}}});
    let plan = messages_plan(extra, "local/plain", body);
    assert!(plan.decided.params.is_empty(), "{:?}", plan.decided.params);
}

/// A Messages client's `thinking` is its own, whatever the params say of
/// thinking: the chat form holds it as an effort, or, adaptive, not at
/// all.
#[test]
fn params_leave_a_messages_clients_thinking_alone() {
    use crate::capabilities::ThinkingSwitch;
    let params = json!({"thinking": {"type": "disabled"}, "reasoning_effort": "none"});
    for model_ref in ["claude/opus", "moonshot/kimi-k2.6"] {
        let extra = params_over_anthropic(model_ref, params.clone());
        for thinking in [
            json!({"type": "enabled", "budget_tokens": 2000}),
            json!({"type": "adaptive"}),
        ] {
            let body = json!({"max_tokens": 32000, "thinking": thinking,
                "messages": [{"role": "user", "content": "hi"}]});
            let (plan, sent) = messages_sent(extra.clone(), model_ref, body);
            assert_ne!(
                plan.messages.thinking,
                ThinkingSwitch::Off,
                "{model_ref}: {thinking}"
            );
            assert_eq!(sent["thinking"], thinking, "{model_ref}");
            assert!(plan.decided.params.is_empty(), "{model_ref}: {thinking}");
        }
    }
}

/// The output limit the client gives, under either name, is its own: the
/// params' `max_completion_tokens` neither lowers a Messages client's
/// `max_tokens` nor raises a chat client's.
#[test]
fn params_never_change_the_output_limit_a_client_gives() {
    let extra = params_over_anthropic("claude/opus", json!({"max_completion_tokens": 4096}));
    let body = json!({"max_tokens": 32000, "messages": [{"role": "user", "content": "hi"}]});
    let (plan, sent) = messages_sent(extra, "claude/opus", body);
    assert_eq!(sent["max_tokens"], json!(32000));
    assert_eq!(plan.messages.max_tokens, 32000);
    assert!(plan.decided.params.is_empty(), "{:?}", plan.decided.params);
    let extra = params_over_anthropic("claude/opus", json!({"max_completion_tokens": 20000}));
    let plan = plan_with(
        extra,
        "claude/opus",
        with_messages(json!({"max_tokens": 100})),
    );
    assert_eq!(plan.messages.max_tokens, 100);
}

/// Where a Messages client gives none of them, the params fill `top_k`,
/// `thinking` and the output limit.
#[test]
fn params_fill_what_a_messages_client_leaves_out() {
    use crate::capabilities::ThinkingSwitch;
    let params =
        json!({"top_k": 40, "thinking": {"type": "disabled"}, "max_completion_tokens": 4096});
    let extra = params_over_anthropic("claude/opus", params);
    let body = json!({"messages": [{"role": "user", "content": "hi"}]});
    let (plan, sent) = messages_sent(extra, "claude/opus", body);
    assert_eq!(sent["top_k"], json!(40));
    assert_eq!(sent["thinking"], json!({"type": "disabled"}));
    assert_eq!(plan.messages.thinking, ThinkingSwitch::Off);
    assert_eq!(sent["max_tokens"], json!(4096));
    assert_eq!(plan.decided.params.len(), 3);
}

/// The plan for the Responses `body` to `model_ref` under `extra` config,
/// as the Responses front end reads it.
fn responses_plan(extra: Value, model_ref: &str, body: Value) -> super::Plan {
    use crate::translate::responses_client::Read;
    let config = config(extra);
    let target = config.target(&ModelRef::parse(model_ref).unwrap()).unwrap();
    let text = body.to_string();
    let translated = Read::parse(text.as_bytes())
        .unwrap()
        .translate(None)
        .unwrap();
    let chat = ChatRequest::parse(translated.body).unwrap();
    let request = crate::wire::request::ClientRequest::new(chat, translated.seen);
    super::plan(&request, &target, &super::Memo::default()).expect("planned")
}

/// A Responses client's `max_output_tokens` and `reasoning` are its
/// output limit and thinking: the params' `max_completion_tokens` and
/// `thinking` do not take their place, on either transport; a client
/// that gives none gets the params'.
#[test]
fn params_leave_a_responses_clients_own_settings_alone() {
    let params = json!({"max_completion_tokens": 4096, "thinking": {"type": "disabled"}});
    let own = json!({"input": "hi", "max_output_tokens": 32000, "reasoning": {"effort": "high"}});
    for model_ref in ["claude/opus", "local/thinker"] {
        let extra = params_over_anthropic(model_ref, params.clone());
        let plan = responses_plan(extra.clone(), model_ref, own.clone());
        assert!(
            plan.decided.params.is_empty(),
            "{model_ref}: {:?}",
            plan.decided.params
        );
        assert_eq!(plan.most_output, 32000, "{model_ref}");
        let plan = responses_plan(extra, model_ref, json!({"input": "hi"}));
        assert_eq!(plan.decided.params.len(), 2, "{model_ref}");
        assert_eq!(plan.most_output, 4096, "{model_ref}");
    }
    let extra = params_over_anthropic("claude/opus", params);
    let plan = responses_plan(extra, "claude/opus", own);
    assert_eq!(plan.messages.max_tokens, 32000);
}

/// The most output a target may give, as the rules send the output limit,
/// is what a budget reserves: the request's own, else the output a
/// model's `params` give it (the larger of the two fields sent, which the
/// provider may read); at most the model's `maxTokens`; a
/// model that reads one field that one; the 4,096 a Messages body is
/// given with none at all.
#[test]
fn the_most_output_is_the_limit_the_rules_send() {
    let config = config(json!({
        "models": {"mode": "replace", "providers": {
            "p": {"baseUrl": "http://127.0.0.1:9/v1", "apiKey": "k", "models": [{"id": "m"},
                {"id": "capped", "maxTokens": 40000},
                {"id": "one-field", "compat": {"maxTokensField": "max_tokens"}}]},
            "a": {"api": "anthropic-messages", "baseUrl": "http://127.0.0.1:9", "apiKey": "k",
                "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "p/m", "fallbacks": ["p/capped", "p/one-field", "a/m"]},
            "models": {"p/m": {"params": {"max_completion_tokens": 64000}},
                "p/capped": {"params": {"max_tokens": 64000}},
                "p/one-field": {"params": {"max_completion_tokens": 64000}}}}}
    }));
    let chain = config.chain(None).unwrap();
    let most = |limits: Value, target: usize| {
        let request = ChatRequest::parse(with_messages(limits).to_string()).unwrap();
        let request = crate::wire::request::ClientRequest::from(request);
        let most = super::most_output(&request, &chain[target]);
        // The plan says the same.
        let planned = super::plan(&request, &chain[target], &super::Memo::default()).unwrap();
        assert_eq!(planned.most_output, most);
        most
    };
    assert_eq!(most(json!({}), 0), 64_000);
    // The request's own, under either name, takes the place of the
    // params'.
    assert_eq!(most(json!({"max_tokens": 20}), 0), 20);
    assert_eq!(most(json!({"max_tokens": 100_000}), 0), 100_000);
    assert_eq!(most(json!({"max_completion_tokens": 20}), 0), 20);
    // At most the model's `maxTokens`, as the rules send it.
    assert_eq!(most(json!({}), 1), 40_000);
    assert_eq!(most(json!({"max_completion_tokens": 90_000}), 1), 40_000);
    // A model that reads one field is sent that one: the request's own,
    // else the other moved to it (here the params').
    assert_eq!(most(json!({"max_tokens": 20}), 2), 20);
    assert_eq!(most(json!({}), 2), 64_000);
    // With none at all over the Anthropic transport: what a Messages body
    // is given; over the chat transport, 16,384.
    assert_eq!(most(json!({}), 3), 4096);
    // Each of `n` choices may give as much; a Messages body asks for one.
    assert_eq!(most(json!({"n": 5, "max_completion_tokens": 20}), 0), 100);
    assert_eq!(most(json!({"n": 5, "max_tokens": 20}), 3), 20);
    let plain = config.chain(Some("local/plain")).unwrap();
    let request = crate::wire::request::ClientRequest::from(
        ChatRequest::parse(with_messages(json!({})).to_string()).unwrap(),
    );
    assert_eq!(
        super::most_output(&request, &plain[0]),
        super::UNKNOWN_MAX_OUTPUT
    );
}

/// A request's worst cost prices its input where writing it to the cache
/// is dearer at that (Anthropic-style prices): the answer may cost it.
#[test]
fn the_worst_cost_prices_the_input_at_the_dearer_of_reading_and_writing_it() {
    use crate::ledger::budget::Demand;
    let config = config(json!({
        "models": {"mode": "replace", "providers": {
            "p": {"baseUrl": "http://127.0.0.1:9/v1", "apiKey": "k", "models": [
                {"id": "plain", "cost": {"input": 3, "output": 15}},
                {"id": "dear-write", "cost": {"input": 3, "output": 15, "cacheWrite": 3.75}}]}}},
        "agents": {"defaults": {"model": {"primary": "p/plain", "fallbacks": ["p/dear-write"]}}}
    }));
    let chain = config.chain(None).unwrap();
    let demand = Demand {
        client: "c".into(),
        input_tokens: 1_000_000,
    };
    assert_eq!(demand.worst_usd(&chain[0], 1_000_000), 18.0);
    assert_eq!(demand.worst_usd(&chain[1], 1_000_000), 18.75);
}

/// A field the model fixes is never sent, whatever an earlier rule made of
/// it: the output limit clamped or moved to it, the effort or the switch
/// the thinking rules write, a tool choice relaxed.
#[test]
fn a_fixed_field_is_never_sent_whatever_a_rule_made_of_it() {
    let extra = json!({"models": {"providers": {"moonshot": {"models": [
        {"id": "capped", "maxTokens": 8000, "reasoning": true,
            "compat": {"fixedSampling": ["max_tokens", "thinking", "tool_choice"]}},
        {"id": "moved", "compat": {"maxTokensField": "max_completion_tokens",
            "fixedSampling": ["max_completion_tokens"]}},
        {"id": "effort", "reasoning": true,
            "compat": {"thinkingControl": "effort", "fixedSampling": ["reasoning_effort"]}}]}}}});
    let pinned = json!({"type": "function", "function": {"name": "f"}});
    let tools = json!([{"type": "function", "function": {"name": "f", "parameters": {}}}]);
    for (model_ref, input, gone) in [
        (
            "moonshot/capped",
            json!({"max_tokens": 32000, "reasoning_effort": "high", "tool_choice": pinned,
                "tools": tools}),
            &["max_tokens", "thinking", "tool_choice"][..],
        ),
        (
            "moonshot/moved",
            json!({"max_tokens": 100}),
            &["max_tokens", "max_completion_tokens"],
        ),
        (
            "moonshot/effort",
            json!({"reasoning_effort": "low"}),
            &["reasoning_effort"],
        ),
    ] {
        let config = config(extra.clone());
        let target = config.target(&ModelRef::parse(model_ref).unwrap()).unwrap();
        let request = ChatRequest::parse(with_messages(input.clone()).to_string()).unwrap();
        let sent: Value =
            serde_json::from_slice(&request.write(&edits(&request, &target)).to_vec()).unwrap();
        for key in gone {
            assert_eq!(sent.get(*key), None, "{model_ref}: {key} in {sent}");
        }
    }
    // Named where the client sent it.
    let plan = plan_with(
        extra,
        "moonshot/capped",
        with_messages(json!({"max_tokens": 32000})),
    );
    assert_eq!(removed(&plan), ["max_tokens"]);
}

/// Tools a model's `params` give a request without any take Moonshot's
/// schema form, as the request's own do.
#[test]
fn tools_from_params_take_moonshots_schema_form() {
    let tool = |parameters: Value| json!([{"type": "function", "function": {"name": "f", "parameters": parameters}}]);
    let extra = json!({"agents": {"defaults": {"models": {"moonshot/kimi-k2.6": {"params": {
        "tools": tool(json!({"type": "string", "anyOf": [{"enum": ["a"]}]}))}}}}}});
    let config = config(extra);
    let target = config
        .target(&ModelRef::parse("moonshot/kimi-k2.6").unwrap())
        .unwrap();
    let request = ChatRequest::parse(with_messages(json!({})).to_string()).unwrap();
    let sent: Value =
        serde_json::from_slice(&request.write(&edits(&request, &target)).to_vec()).unwrap();
    assert_eq!(
        sent["tools"],
        tool(json!({"anyOf": [{"enum": ["a"], "type": "string"}]}))
    );
}
