//! The rules' decisions that a client's own Messages body takes too, in
//! Messages' terms ([`Carried`]): made from the plan's [`Decisions`]
//! once, when the plan is made (`providers`), and written onto the body by
//! [`super::passthrough`], which decides nothing.
//!
//! What is carried: the members that mean the same in both APIs
//! ([`SHARED`]: the model id; `fixedSampling` removes sampling, `params`
//! sets it); the tools' schemas in the form the rules gave them (a tool's
//! `parameters` as its `input_schema`, by name); the tool choice and the
//! tools it was narrowed to; the reasoning given back to a replayed
//! tool-call turn (a `thinking` block, as a translated request gets) or
//! taken from it (thinking off); and the tool-call ids the rules send in
//! place of the client's (Kimi's, repeated across turns), on its
//! `tool_use` and `tool_result` blocks.

use serde_json::{Map, Value, json};

use crate::translate::decisions::{CallId, Decisions, ToolChoice, Tools};
use crate::translate::ids;
use crate::wire::facts::Facts;

/// The sampling members the rules may set or remove that mean the same in
/// both APIs (the model id is always set).
const SHARED: [&str; 3] = ["temperature", "top_p", "top_k"];

/// The plan's decisions for a client's own Messages body.
#[derive(Debug, Clone, Default)]
pub struct Carried {
    /// The model id, and the [`SHARED`] members the rules set (`Some`) or
    /// removed (`None`), and `tool_choice` if they removed it.
    shared: Vec<(&'static str, Option<Value>)>,
    /// The tools the rules changed: the schemas they rewrote (a tool's
    /// `input_schema`, by name) and the tools they narrowed the offer to.
    tools: Option<Tools>,
    /// The tool choice the rules set (a forced one relaxed while
    /// thinking, K3's named tool as `required`), in Messages' shape.
    tool_choice: Option<Value>,
    /// The reasoning given back to (or taken from) replayed turns, in the
    /// order of the turns.
    reasoning: Vec<GivenReasoning>,
    /// Every tool-call id of the body as the rules send it, when they
    /// change one: all of them, so that each result still names its
    /// call's (an id clawgate handed out goes as the provider's own, in
    /// the valid Anthropic form a translated request sends it in), in the
    /// order of the body's messages.
    ids: Vec<BlockId>,
}

/// The id one `tool_use` block (its `id`) or `tool_result` block (its
/// `tool_use_id`) of the body is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BlockId {
    /// The body's message (its index in `messages`).
    message: usize,
    /// `tool_use` or `tool_result`.
    kind: &'static str,
    /// The block's place among the message's blocks of that kind.
    nth: usize,
    id: String,
}

/// The reasoning the plan gives one replayed assistant turn, or takes
/// from it: the turn is found by its place in the client's body (the
/// request model's turns know it), so that neither ids (Kimi's repeat
/// across turns: `functions.read:0` in every one) nor turns without calls
/// can mislead it.
#[derive(Debug, Clone)]
struct GivenReasoning {
    /// The body's message (its index in `messages`).
    message: usize,
    /// Given back, or (`None`) taken away.
    text: Option<String>,
}

impl Carried {
    /// What the plan's `decided` for `request` (its facts, turns counted
    /// as in its chat form) say of a Messages body; its tool-call ids only
    /// when the body's own cannot all go as written (`ids_unfit`: one
    /// repeats, or is no Anthropic id): else they go so.
    pub fn of(decided: &Decisions, request: &dyn Facts, ids_unfit: bool) -> Self {
        let mut shared = vec![("model", Some(json!(decided.model)))];
        for key in SHARED {
            if decided.removes(key) {
                shared.push((key, None));
            } else if let Some((_, value)) = decided.params.iter().find(|(k, _)| k == key) {
                shared.push((key, Some(value.clone())));
            }
        }
        // A choice with no tool to choose from.
        if decided.removes("tool_choice") {
            shared.push(("tool_choice", None));
        }
        let tool_choice = decided.tool_choice.map(|choice| match choice {
            ToolChoice::Auto => json!({"type": "auto"}),
            ToolChoice::Required => json!({"type": "any"}),
        });
        Self {
            shared,
            tools: decided.tools.clone(),
            tool_choice,
            reasoning: reasoning(decided, request),
            ids: match ids_unfit {
                true => block_ids(decided, request),
                false => Vec::new(),
            },
        }
    }

    /// Whether the client's `messages` take an edit.
    pub fn edits_messages(&self) -> bool {
        !self.reasoning.is_empty() || !self.ids.is_empty()
    }

    /// The body's messages whose tool-call ids change.
    pub fn renamed_messages(&self) -> impl Iterator<Item = usize> + '_ {
        self.ids.iter().map(|id| id.message)
    }

    /// Message `index` of the body (`message`) with its blocks' tool-call
    /// ids as the rules send them; whether one changed.
    pub fn rename_in(&self, index: usize, message: &mut Value) -> bool {
        let Some(Value::Array(blocks)) = message.get_mut("content") else {
            return false;
        };
        let mut changed = false;
        // The ids are in the order of the messages.
        let from = self.ids.partition_point(|id| id.message < index);
        for id in self.ids[from..].iter().take_while(|id| id.message == index) {
            let member = if id.kind == "tool_use" {
                "id"
            } else {
                "tool_use_id"
            };
            let block = (blocks.iter_mut())
                .filter(|block| block["type"] == id.kind)
                .nth(id.nth);
            if let Some(Value::Object(block)) = block
                && block.get(member).and_then(Value::as_str) != Some(&id.id)
            {
                block.insert(member.into(), Value::String(id.id.clone()));
                changed = true;
            }
        }
        changed
    }

    /// Whether the client's `tools` take an edit.
    pub fn edits_tools(&self) -> bool {
        self.tools.is_some()
    }

    /// Written onto `body`, the tree of the client's Messages body's
    /// members it edits, but for `messages` ([`Self::write_messages`]).
    pub fn write(&self, body: &mut Map<String, Value>) {
        for (key, value) in &self.shared {
            match value {
                Some(value) => body.insert(key.to_string(), value.clone()),
                None => body.remove(*key),
            };
        }
        if let (Some(planned), Some(Value::Array(tools))) = (&self.tools, body.get_mut("tools")) {
            for tool in tools.iter_mut() {
                let schema = (tool.get("name").and_then(Value::as_str))
                    .and_then(|name| planned.schema(name));
                if let (Some(schema), Some(tool)) = (schema, tool.as_object_mut())
                    && tool.contains_key("input_schema")
                {
                    tool.insert("input_schema".into(), schema.clone());
                }
            }
        }
        if let Some(choice) = &self.tool_choice {
            super::passthrough::replace_tool_choice(body, choice.clone());
        }
        let offered = self.tools.as_ref().and_then(|tools| tools.offered.as_ref());
        if let (Some(offered), Some(Value::Array(tools))) = (offered, body.get_mut("tools")) {
            tools.retain(|tool| {
                (tool.get("name").and_then(Value::as_str))
                    .is_some_and(|n| offered.iter().any(|o| o == n))
            });
        }
    }

    /// Its edits of the messages, written onto `body` when a target's
    /// rewrite read them into the tree (else the passthrough edits them
    /// turn by turn: see [`Self::reasoning_for`]), before any rewrite: the
    /// messages are still the client's, as the request model counts them.
    pub fn write_messages(&self, body: &mut Map<String, Value>) {
        self.give_reasoning_in(body);
        if let Some(Value::Array(messages)) = body.get_mut("messages") {
            for (index, message) in messages.iter_mut().enumerate() {
                self.rename_in(index, message);
            }
        }
    }

    /// The reasoning of each turn, on its message of the body's
    /// `messages`, when the tree holds them (a target's rewrite read
    /// them); else the passthrough gives it turn by turn
    /// ([`Self::reasoning`]).
    fn give_reasoning_in(&self, body: &mut Map<String, Value>) {
        let Some(Value::Array(messages)) = body.get_mut("messages") else {
            return;
        };
        for (index, text) in self.reasoning() {
            match messages.get_mut(index) {
                Some(message) if message["role"] == "assistant" => {
                    super::passthrough::give_reasoning(message, text);
                }
                _ => {}
            }
        }
    }

    /// The body's messages the plan gives reasoning back to, each with
    /// its text, or (`None`) takes it from.
    pub fn reasoning(&self) -> impl Iterator<Item = (usize, Option<&str>)> {
        (self.reasoning.iter()).map(|given| (given.message, given.text.as_deref()))
    }
}

/// The reasoning the plan gives back to (or takes from) the request
/// model's replayed turns, each on the body's message it came from.
fn reasoning(decided: &Decisions, request: &dyn Facts) -> Vec<GivenReasoning> {
    (decided.turns.iter())
        .filter_map(|(&index, turn)| {
            Some(GivenReasoning {
                message: request.origin(index).unwrap_or(index),
                text: turn.reasoning.as_ref()?.text().map(str::to_string),
            })
        })
        .collect()
}

/// Each tool-call id of the body's blocks as the rules send it, when they
/// change one (else none): a call's as decided or its own, a result's as
/// decided or its call's own. The request model's turns are placed in the
/// body by their origin; a user message's results are its tool turns, in
/// order.
fn block_ids(decided: &Decisions, request: &dyn Facts) -> Vec<BlockId> {
    let renames =
        (decided.turns.values()).any(|turn| turn.call_ids.is_some() || turn.result_id.is_some());
    if !renames {
        return Vec::new();
    }
    let messages = request.messages();
    // As a translated request sends it ([`ids::encode_stable`]): Kimi's
    // `functions.f:0` is no Anthropic id.
    let sent = |id: &str| ids::encode_stable(id).into_owned();
    let text = |id: &CallId| sent(&String::from_utf8_lossy(id.bytes(messages)));
    let mut ids = Vec::new();
    // The body's message the last tool turn came from, and how many had.
    let mut results = (None, 0);
    for (index, message) in messages.iter().enumerate() {
        let Some(origin) = request.origin(index) else {
            continue;
        };
        let turn = decided.turns.get(&index);
        if message.role == "assistant" {
            let decided_ids = turn.and_then(|turn| turn.call_ids.clone());
            for (nth, own) in message.tool_call_ids.iter().enumerate() {
                let id = match &decided_ids {
                    Some(range) => (decided.ids.get(range.start as usize + nth)).map(text),
                    None => Some(sent(own)),
                };
                ids.extend(id.map(|id| BlockId {
                    message: origin,
                    kind: "tool_use",
                    nth,
                    id,
                }));
            }
        } else if message.role == "tool" {
            let nth = match results {
                (Some(from), n) if from == origin => n,
                _ => 0,
            };
            results = (Some(origin), nth + 1);
            let decided_id = turn.and_then(|turn| turn.result_id);
            let id = match decided_id {
                Some(at) => decided.ids.get(at as usize).map(text),
                None => message.tool_call_id.as_deref().map(sent),
            };
            ids.extend(id.map(|id| BlockId {
                message: origin,
                kind: "tool_result",
                nth,
                id,
            }));
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use crate::wire::openai::ChatRequest;

    use std::sync::Arc;

    use super::*;
    use crate::translate::decisions::{Schema, TurnReasoning};

    /// The plan's edits rendered on a passed-through body: sampling, the
    /// tools' schemas by name, reasoning given to (or taken from) each
    /// replayed turn the plan names.
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
        let mut decided = Decisions {
            removed: vec!["temperature".into()],
            tools: Some(Tools {
                offered: None,
                schemas: vec![Schema {
                    name: "read".into(),
                    schema: json!({"anyOf": [{"enum": ["a"], "type": "string"}]}),
                    at: None,
                }]
                .into(),
            }),
            ..Decisions::default()
        };
        decided.turns.entry(1).or_default().reasoning =
            Some(TurnReasoning::Given(Some("kept".into())));
        decided.turns.entry(3).or_default().reasoning = Some(TurnReasoning::Taken);
        let render = |body: Value| {
            let Value::Object(mut body) = body else {
                unreachable!()
            };
            let carried = Carried::of(&decided, &request, false);
            carried.write_messages(&mut body);
            carried.write(&mut body);
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
        // Bad input: a turn whose content is not blocks is left alone.
        let mut odd = body(false, false);
        odd["messages"][1] = json!({"role": "assistant", "content": "text"});
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
        let read = Read::parse(body.as_bytes()).unwrap();
        let (translated, _, _) = read.translate(None).unwrap();
        let request = ChatRequest::parse(translated).unwrap();
        let render = |mut out: Value, reasoning: Option<&str>| {
            let mut decided = Decisions::default();
            decided.turns.entry(1).or_default().reasoning = Some(match reasoning {
                Some(text) => TurnReasoning::Given(Some(text.into())),
                None => TurnReasoning::Taken,
            });
            Carried::of(&decided, &request, false).write_messages(out.as_object_mut().unwrap());
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
        let cases = [
            // Relaxed while thinking.
            (
                Some(ToolChoice::Auto),
                None,
                json!({"type": "auto", "disable_parallel_tool_use": true}),
                vec!["Bash", "Read"],
            ),
            // K3: the named tool as `any`, over that tool alone.
            (
                Some(ToolChoice::Required),
                Some(vec!["Read".to_string()]),
                json!({"type": "any", "disable_parallel_tool_use": true}),
                vec!["Read"],
            ),
            // The plan leaves it: as sent.
            (
                None,
                None,
                forced["tool_choice"].clone(),
                vec!["Bash", "Read"],
            ),
        ];
        for (choice, tools, expected, offered) in cases {
            let decided = Decisions {
                tool_choice: choice,
                tools: tools.map(|offered| Tools {
                    offered: Some(offered),
                    schemas: Arc::new([]),
                }),
                ..Decisions::default()
            };
            let Value::Object(mut out) = forced.clone() else {
                unreachable!()
            };
            Carried::of(&decided, &request, false).write(&mut out);
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
        let decided = Decisions {
            tool_choice: Some(ToolChoice::Auto),
            ..Decisions::default()
        };
        let mut out = Map::new();
        Carried::of(&decided, &request, false).write(&mut out);
        assert!(out.get("tool_choice").is_none());
    }
}
