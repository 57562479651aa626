//! The same request through every front end and every transport: for each
//! catalog model, what reaches the provider must not depend on the API the
//! client used (the rules run once, on the one request model).

use bytes::Bytes;
use serde_json::{Value, json};

use super::AccessRecord;
use super::chat::Chat;
use super::front::FrontEnd;
use super::messages::Messages;
use super::responses::Responses;
use crate::capabilities::{Api, Reasoning, ThinkingControl};
use crate::chain;
use crate::config::{Config, Environment, Secrets, Target, load_str};
use crate::gateway::Memos;
use crate::translate::fields;
use crate::wire::Front;
use crate::wire::request::ClientRequest;

/// The catalog's providers with a key each; with `anthropic`, each spoken
/// to over its Anthropic endpoint instead.
fn config(anthropic: bool) -> Config {
    let document = match anthropic {
        true => json!({"models": {"providers": {
            "moonshot": {"api": "anthropic-messages", "baseUrl": "https://api.moonshot.ai/anthropic"},
            "kimi": {"api": "anthropic-messages", "baseUrl": "https://api.kimi.com/coding"},
            "openrouter": {"api": "anthropic-messages", "baseUrl": "https://openrouter.ai/api"},
        }}}),
        false => json!({}),
    };
    load(&document)
}

/// The config `document` with the built-in providers' keys set.
fn load(document: &Value) -> Config {
    let keys = ["MOONSHOT_API_KEY", "KIMI_API_KEY", "OPENROUTER_API_KEY"];
    let env = Environment::from_pairs(keys.map(|key| (key, "k")));
    load_str(&document.to_string(), &env, Secrets::Required)
        .unwrap_or_else(|e| panic!("{e}"))
        .config
}

/// A turn as an OpenAI client writes it, and the same turn as an
/// Anthropic client and a Responses client do, all asking for sampling a
/// model may fix.
fn bodies(model: &str) -> [(&'static str, Value); 3] {
    let schema =
        json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]});
    [
        (
            "openai",
            json!({"model": model, "stream": true, "max_tokens": 1_000_000, "temperature": 0.2, "top_p": 0.5,
                "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
                "tools": [{"type": "function", "function": {"name": "read", "description": "Read a file", "parameters": schema}}]}),
        ),
        (
            "anthropic",
            json!({"model": model, "stream": true, "max_tokens": 1_000_000, "temperature": 0.2, "top_p": 0.5,
                "system": "be brief", "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"name": "read", "description": "Read a file", "input_schema": schema}]}),
        ),
        (
            "responses",
            json!({"model": model, "stream": true, "max_output_tokens": 1_000_000, "temperature": 0.2, "top_p": 0.5,
                "instructions": "be brief", "input": [{"role": "user", "content": "hi"}],
                "tools": [{"type": "function", "name": "read", "description": "Read a file", "parameters": schema}]}),
        ),
    ]
}

/// `body` as the front end `front_end` reads it.
fn decoded(config: &Config, front_end: &str, body: &Value) -> ClientRequest {
    let bytes = Bytes::from(body.to_string());
    let record = AccessRecord::default();
    let memos = &Memos::default();
    match front_end {
        "openai" => Chat::decode(config, memos, bytes, &record).map(|(request, ())| request),
        "anthropic" => Messages::decode(config, memos, bytes, &record).map(|(request, ())| request),
        _ => Responses::decode(config, memos, bytes, &record).map(|(request, _)| request),
    }
    .unwrap_or_else(|e| panic!("{front_end}: {e}"))
}

/// What the provider gets, in the members the rules decide.
fn sent(config: &Config, front_end: &str, body: &Value, target: &Target) -> Value {
    let request = decoded(config, front_end, body);
    let out = chain::body(&request, target, &Memos::default().plan).expect("sent");
    // A Messages body's chat form is written for a target that speaks
    // chat, and for no other when its first target speaks Messages.
    let first = config.first_api(body["model"].as_str());
    if front_end == "anthropic" && first == Some(Api::AnthropicMessages) {
        let chat = target.provider.api == Api::OpenAiCompletions;
        assert_eq!(request.chat_written(), chat, "{}", target.model_ref);
    }
    let out: Value = serde_json::from_slice(&out.to_vec()).unwrap();
    let keys = [
        "model",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "n",
        "presence_penalty",
        "frequency_penalty",
        "max_tokens",
        "max_completion_tokens",
        "thinking",
        "reasoning_effort",
        "tool_choice",
    ];
    keys.iter()
        .filter_map(|key| out.get(*key).map(|value| (key.to_string(), value.clone())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[test]
fn every_catalog_model_gets_the_same_request_from_either_front_end_over_either_transport() {
    let openai = config(false);
    let anthropic = config(true);
    let mut checked = 0;
    for (model_ref, _, _) in openai.models() {
        for config in [&openai, &anthropic] {
            let target = config.target(&model_ref).expect("a catalog target");
            let [(a, first), (b, second), (c, third)] = bodies(model_ref.as_str());
            let from_openai = sent(config, a, &first, &target);
            let from_anthropic = sent(config, b, &second, &target);
            let from_responses = sent(config, c, &third, &target);
            let transport = format!("{:?}", target.provider.api);
            assert_eq!(
                from_openai, from_anthropic,
                "{model_ref} over {transport}: the OpenAI client's request (left) and the Anthropic client's (right) differ"
            );
            assert_eq!(
                from_openai, from_responses,
                "{model_ref} over {transport}: the OpenAI client's request (left) and the Responses client's (right) differ"
            );
            // The rules did run: the model is the provider's id, and a
            // model that fixes sampling gets none of it from either client.
            assert_eq!(
                from_openai["model"],
                json!(crate::providers::model_id(&target))
            );
            for fixed in &target.model.capabilities.fixed_sampling {
                assert!(
                    from_openai.get(fixed).is_none(),
                    "{model_ref} over {transport}: fixed {fixed} was forwarded"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "{checked} combinations");
}

/// A model that is never told of thinking (one that always thinks, one
/// that never does) names what the client asked that it does not do on
/// its own, in the client's terms, on either transport: off for K2
/// Thinking, a level or a budget; on for K2 Turbo. An ask it does anyway
/// is not named. (It used to be lost without a word.)
#[test]
fn a_model_never_told_of_thinking_names_what_it_does_not_do() {
    let hi = json!([{"role": "user", "content": "hi"}]);
    let cases = [
        (
            "moonshot/kimi-k2-thinking",
            "openai",
            json!({"reasoning_effort": "none"}),
            Some("reasoning_effort"),
        ),
        (
            "moonshot/kimi-k2-thinking",
            "openai",
            json!({"reasoning_effort": "high"}),
            Some("reasoning_effort"),
        ),
        (
            "moonshot/kimi-k2-thinking",
            "openai",
            json!({"thinking": {"type": "enabled"}}),
            None,
        ),
        (
            "moonshot/kimi-k2-thinking",
            "anthropic",
            json!({"thinking": {"type": "disabled"}}),
            Some("thinking"),
        ),
        (
            "moonshot/kimi-k2-thinking",
            "anthropic",
            json!({"thinking": {"type": "enabled", "budget_tokens": 2000}}),
            Some("thinking.budget_tokens"),
        ),
        (
            "moonshot/kimi-k2-thinking",
            "anthropic",
            json!({"thinking": {"type": "adaptive"}}),
            None,
        ),
        (
            "moonshot/kimi-k2-turbo",
            "openai",
            json!({"reasoning_effort": "high"}),
            Some("reasoning_effort"),
        ),
        (
            "moonshot/kimi-k2-turbo",
            "openai",
            json!({"reasoning_effort": "none"}),
            None,
        ),
        (
            "moonshot/kimi-k2-turbo",
            "anthropic",
            json!({"output_config": {"effort": "low"}}),
            Some("output_config.effort"),
        ),
        (
            "moonshot/kimi-k2-turbo",
            "responses",
            json!({"reasoning": {"effort": "low"}}),
            Some("reasoning.effort"),
        ),
    ];
    for anthropic in [false, true] {
        let config = config(anthropic);
        for (model_ref, front_end, ask, named) in &cases {
            let target = (config.target(&crate::config::ModelRef::parse(model_ref).unwrap()))
                .expect("a catalog target");
            let mut body = match *front_end {
                "responses" => json!({"input": "hi"}),
                _ => json!({"max_tokens": 4096, "messages": hi}),
            };
            body["model"] = json!(model_ref);
            for (key, value) in ask.as_object().unwrap() {
                body[key] = value.clone();
            }
            let request = decoded(&config, front_end, &body);
            let plan = crate::providers::plan(&request, &target, &Default::default()).unwrap();
            let dropped = fields::dropped(&request.seen, target.provider.api, &plan.withheld);
            let thinking = [
                "reasoning_effort",
                "thinking",
                "thinking.budget_tokens",
                "output_config.effort",
                "reasoning.effort",
            ];
            let said: Vec<_> = dropped.iter().filter(|d| thinking.contains(d)).collect();
            match named {
                Some(name) => assert!(
                    said.contains(&name),
                    "{model_ref} {ask} (anthropic: {anthropic}): {dropped:?}"
                ),
                None => assert!(
                    said.is_empty(),
                    "{model_ref} {ask} (anthropic: {anthropic}): {dropped:?}"
                ),
            }
        }
    }
    // What the config fills in is not the client's ask: Claude Code's
    // adaptive thinking (on, no level) is not named for a model that
    // always thinks, and is for one that never does, whatever the
    // `thinkingDefault`.
    for default in ["low", "off"] {
        let config = load(&json!({"agents": {"defaults": {"thinkingDefault": default}}}));
        for (model_ref, named) in [
            ("moonshot/kimi-k2-thinking", false),
            ("moonshot/kimi-k2-turbo", true),
        ] {
            let target = config
                .target(&crate::config::ModelRef::parse(model_ref).unwrap())
                .unwrap();
            let body = json!({"model": model_ref, "max_tokens": 4096, "messages": hi,
                "thinking": {"type": "adaptive"}});
            let request = decoded(&config, "anthropic", &body);
            let plan = crate::providers::plan(&request, &target, &Default::default()).unwrap();
            let dropped = fields::dropped(&request.seen, target.provider.api, &plan.withheld);
            assert_eq!(
                dropped.contains(&"thinking"),
                named,
                "{model_ref}, {default}: {dropped:?}"
            );
        }
    }
}

/// One reasoning level through each front end reaches every catalog
/// model alike over either transport: `xhigh` is each API's own word, not
/// lowered before the rules (K3 takes it as `max`, as it does Messages'
/// `max`). Where the model is told only by an effort and the transport has
/// no place for one (K3 over Kimi's Anthropic endpoints), or is never told
/// (K2.7 Code, a model that does not think), or is told less (OpenRouter's
/// highest effort is `high`), each client is told, in its own terms, that
/// what it asked was not sent.
#[test]
fn one_effort_through_each_front_end_reaches_every_catalog_model_alike() {
    let openai = config(false);
    let anthropic = config(true);
    let hi = json!([{"role": "user", "content": "hi"}]);
    for level in ["low", "medium", "high", "xhigh"] {
        let fronts = [
            (
                "openai",
                json!({"max_tokens": 4000, "messages": hi, "reasoning_effort": level}),
                "reasoning_effort",
            ),
            (
                "anthropic",
                json!({"max_tokens": 4000, "messages": hi, "output_config": {"effort": level}}),
                "output_config.effort",
            ),
            (
                "responses",
                json!({"max_output_tokens": 4000, "input": "hi", "reasoning": {"effort": level}}),
                "reasoning.effort",
            ),
        ];
        for (model_ref, _, _) in openai.models() {
            for config in [&openai, &anthropic] {
                let target = config.target(&model_ref).expect("a catalog target");
                let transport = format!("{:?}", target.provider.api);
                let caps = &target.model.capabilities;
                let told_by_effort = caps.thinking_control == ThinkingControl::Effort;
                let never_told = caps.reasoning == Reasoning::None
                    || caps.thinking_control == ThinkingControl::Omit;
                let mut first = None;
                for (front_end, mut body, asked) in fronts.clone() {
                    body["model"] = json!(model_ref.as_str());
                    let to = sent(config, front_end, &body, &target);
                    let expected = first.get_or_insert_with(|| to.clone());
                    assert_eq!(
                        &to, expected,
                        "{model_ref} over {transport}, {level}: {front_end}"
                    );
                    let request = decoded(config, front_end, &body);
                    let plan = crate::providers::plan(&request, &target, &Default::default())
                        .expect("planned");
                    let dropped =
                        fields::dropped(&request.seen, target.provider.api, &plan.withheld);
                    let unsent = never_told
                        || (told_by_effort && target.provider.api == Api::AnthropicMessages);
                    // OpenRouter's highest effort is `high`: `xhigh` is
                    // lowered, and named.
                    let lowered = level == "xhigh"
                        && target.provider.dialect == crate::capabilities::Dialect::OpenRouter;
                    assert_eq!(
                        dropped.contains(&asked),
                        unsent || lowered,
                        "{model_ref} over {transport}, {level}: {front_end} dropped {dropped:?}"
                    );
                    // Kimi's Anthropic endpoints take no `output_config`.
                    assert_eq!(
                        dropped.contains(&"output_config"),
                        front_end == "anthropic" && target.provider.api == Api::AnthropicMessages,
                        "{model_ref} over {transport}, {level}: {front_end} dropped {dropped:?}"
                    );
                }
                if told_by_effort && target.provider.api == Api::OpenAiCompletions {
                    let k3 = match level {
                        "low" => "low",
                        "medium" | "high" => "high",
                        _ => "max",
                    };
                    assert_eq!(first.unwrap()["reasoning_effort"], json!(k3), "{model_ref}");
                }
            }
        }
    }
    // Messages' `max`, which chat has no word for, is chat's highest.
    let target = openai
        .target(&crate::config::ModelRef::parse("moonshot/kimi-k3").unwrap())
        .unwrap();
    let body = json!({"model": "moonshot/kimi-k3", "max_tokens": 1000, "messages": hi,
        "output_config": {"effort": "max"}});
    assert_eq!(
        sent(&openai, "anthropic", &body, &target)["reasoning_effort"],
        "max"
    );
    // A Messages client's own switch and budget: named where K3 cannot be
    // told them; a model with a switch is told.
    let body = json!({"max_tokens": 4096, "messages": hi,
        "thinking": {"type": "enabled", "budget_tokens": 2000}});
    for (model_ref, named) in [("kimi/k3", true), ("moonshot/kimi-k2.6", false)] {
        let target = anthropic
            .target(&crate::config::ModelRef::parse(model_ref).unwrap())
            .unwrap();
        let request = decoded(&anthropic, "anthropic", &body);
        let plan = crate::providers::plan(&request, &target, &Default::default()).unwrap();
        let dropped = fields::dropped(&request.seen, target.provider.api, &plan.withheld);
        for member in ["thinking", "thinking.budget_tokens"] {
            assert_eq!(dropped.contains(&member), named, "{model_ref}: {dropped:?}");
        }
    }
}

/// Issue 17's case: kimi-k2.7-code fixes temperature and top_p; an
/// Anthropic client's own body passed through to an Anthropic endpoint
/// must not carry them (Moonshot refuses them).
#[test]
fn the_passthrough_honours_fixed_sampling() {
    let config = config(true);
    let target = config
        .target(&crate::config::ModelRef::parse("moonshot/kimi-k2.7-code").unwrap())
        .unwrap();
    assert_eq!(target.provider.api, Api::AnthropicMessages);
    let body = json!({"model": "moonshot/kimi-k2.7-code", "max_tokens": 100, "temperature": 0.2, "top_p": 0.5,
        "messages": [{"role": "user", "content": "hi"}]});
    let sent = sent(&config, "anthropic", &body, &target);
    assert_eq!(sent.get("temperature"), None, "{sent}");
    assert_eq!(sent.get("top_p"), None, "{sent}");
}

/// Each API's requests are found by their path, with `/v1` or without, so
/// the access record writes their ledger rows under the API's own name.
#[test]
fn each_api_is_found_by_its_path_for_the_ledger() {
    let mut names = Vec::new();
    for front in Front::ALL {
        assert_eq!(Front::at(front.path()), Some(front));
        assert_eq!(Front::at(super::unversioned(front.path())), Some(front));
        names.push(front.ledger_name());
    }
    names.dedup();
    assert_eq!(
        names,
        ["openai-chat", "anthropic-messages", "openai-responses"]
    );
    for other in [
        "/v1/models",
        "/v1/messages/count_tokens",
        "/v2/messages",
        "",
    ] {
        assert_eq!(Front::at(other), None, "{other}");
    }
}

/// What a test's log holds, as text.
#[derive(Clone, Default)]
struct Logged(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logged {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A bug that panics in a handler answers 500 in its front end's shape,
/// and the request has its access line, as any other.
#[tokio::test]
async fn a_handler_that_panics_answers_500_with_its_access_line() {
    let logged = Logged::default();
    let writer = logged.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // The test's runtime has one thread: the server's tasks log to it.
    let _log = tracing::subscriber::set_default(subscriber);
    let gateway = std::sync::Arc::new(crate::gateway::Gateway::new(load(&json!({}))).unwrap());
    async fn panics() -> &'static str {
        panic!("a bug")
    }
    let app = axum::Router::new()
        .route("/v1/messages", axum::routing::post(panics))
        .route("/v1/chat/completions", axum::routing::post(panics))
        .layer(axum::middleware::from_fn_with_state(
            gateway.clone(),
            super::way_in,
        ))
        .with_state(gateway);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    for (path, kind) in [
        ("/v1/messages", "api_error"),
        ("/v1/chat/completions", "server_error"),
    ] {
        let url = format!("http://{address}{path}");
        let response = client.post(url).json(&json!({})).send().await.unwrap();
        assert_eq!(response.status(), 500, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], kind, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("a bug: its log says where"),
            "{body}"
        );
    }
    let log = String::from_utf8(logged.0.lock().unwrap().clone()).unwrap();
    for line in ["POST /v1/messages 500", "POST /v1/chat/completions 500"] {
        assert!(log.contains(line), "{line} not in {log}");
    }
}

/// What the rules change of what a client asked, not only what they
/// remove, is named: a `thinking.keep` the model does not take, a forced
/// call relaxed while Kimi thinks, a replayed turn's reasoning taken while
/// it does not, and an effort for a model told nothing of thinking over a
/// transport with no place for one.
#[test]
fn what_the_rules_change_of_what_was_asked_is_named() {
    let config = load(&json!({"models": {"providers": {"plain": {
        "baseUrl": "http://127.0.0.1:9/", "api": "anthropic-messages", "apiKey": "k",
        "models": [{"id": "m"}]}}}}));
    let named = |model_ref: &str, body: Value| {
        let target = config
            .target(&crate::config::ModelRef::parse(model_ref).unwrap())
            .unwrap();
        let request = decoded(&config, "openai", &body);
        let plan = crate::providers::plan(&request, &target, &Default::default()).unwrap();
        fields::dropped(&request.seen, target.provider.api, &plan.withheld)
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let hi = json!({"role": "user", "content": "hi"});
    let tools = json!([{"type": "function", "function": {"name": "read", "parameters": {}}}]);
    let keep = json!({"messages": [hi], "thinking": {"type": "enabled", "keep": "all"}});
    assert!(named("moonshot/kimi-k2.5", keep.clone()).contains(&"thinking.keep".into()));
    assert!(!named("moonshot/kimi-k2.6", keep.clone()).contains(&"thinking.keep".into()));
    // A `thinking` written anew for another API, or a reasoning effort,
    // has no `keep`.
    for model_ref in ["plain/m", "openrouter/moonshotai/kimi-k2.6"] {
        let names = named(model_ref, keep.clone());
        assert!(
            names.contains(&"thinking.keep".into()),
            "{model_ref}: {names:?}"
        );
    }
    let forced = json!({"messages": [hi], "reasoning_effort": "high", "tools": tools,
        "tool_choice": "required"});
    let relaxed = "tool_choice forcing a call".to_string();
    assert!(named("moonshot/kimi-k2.6", forced).contains(&relaxed));
    let replayed = json!({"reasoning_effort": "none", "messages": [hi,
        {"role": "assistant", "content": "ok", "reasoning_content": "I thought."},
        {"role": "user", "content": "more"}]});
    let names = named("moonshot/kimi-k2.6", replayed);
    assert!(
        names.contains(&"assistant reasoning_content".into()),
        "{names:?}"
    );
    let effort = json!({"messages": [hi], "reasoning_effort": "high"});
    assert!(named("plain/m", effort).contains(&"reasoning_effort".into()));
    // A `keep` of the model's own `params`, which the client never sent,
    // is not named to it.
    let config = load(
        &json!({"agents": {"defaults": {"models": {"moonshot/kimi-k2.5": {
        "params": {"thinking": {"type": "enabled", "keep": "all"}}}}}}}),
    );
    let target = config
        .target(&crate::config::ModelRef::parse("moonshot/kimi-k2.5").unwrap())
        .unwrap();
    let request = decoded(&config, "openai", &json!({"messages": [hi]}));
    let plan = crate::providers::plan(&request, &target, &Default::default()).unwrap();
    let dropped = fields::dropped(&request.seen, target.provider.api, &plan.withheld);
    assert!(!dropped.contains(&"thinking.keep"), "{dropped:?}");
}

/// A refusal's log line that quotes the client (an unknown model's name)
/// stays one line in the text log: a client cannot forge a line.
#[test]
fn a_refusal_s_log_line_quoting_the_client_is_one_line() {
    let written = Logged::default();
    let writer = written.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let forged = "p/m\n2026-11-30T00:00:00Z INFO clawgate::access: POST / 200";
    tracing::subscriber::with_default(subscriber, || {
        super::ApiError::NotFound(forged.into()).report();
    });
    let log = String::from_utf8(written.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("request refused"), "{log}");
    assert_eq!(log.lines().count(), 1, "{log}");
}
