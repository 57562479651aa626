//! Moonshot's Kimi API (`api.moonshot.ai`, `api.moonshot.cn`), whose rules
//! Kimi Coding shares: the thinking switch per model, fields a model fixes,
//! `tool_choice` under thinking, `reasoning_content` on replayed tool-call
//! turns, duplicate tool-call ids, and the tool-schema form Moonshot's
//! validator accepts. Sources: `../shared/facts/providers.md`.

use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{Draft, Thinking};
use crate::capabilities::{ForcedToolChoice, Reasoning, ThinkingControl};
use crate::config::Target;

pub fn apply(draft: &mut Draft, target: &Target, thinking: Thinking) {
    let caps = &target.model.capabilities;
    let pinned = draft
        .get("tool_choice")
        .is_some_and(|choice| choice.get("type").is_some_and(|t| t == "function"));
    let relax = caps.forced_tool_choice == ForcedToolChoice::Relax;
    // Thinking is on unless the model cannot think, or it can be and was
    // turned off; an unspecified switch leaves the provider's default (on).
    let mut on = match caps.reasoning {
        Reasoning::None => false,
        Reasoning::Optional => !thinking.is_off(),
        Reasoning::Always => true,
    };
    // A pinned function cannot be honoured while thinking: where thinking
    // can be turned off, it is, for this request (as OpenClaw does).
    let forced_off = on && pinned && relax && caps.reasoning == Reasoning::Optional;
    if forced_off {
        on = false;
    }

    let keep = draft
        .get("thinking")
        .and_then(|t| t.get("keep").cloned())
        .filter(|k| !k.is_null());
    draft.remove("reasoning_effort");
    match (caps.reasoning, caps.thinking_control) {
        (Reasoning::None, _) | (_, ThinkingControl::Omit) => draft.remove("thinking"),
        (_, ThinkingControl::EffortMax) => {
            draft.remove("thinking");
            draft.set("reasoning_effort", json!("max"));
        }
        (_, ThinkingControl::Effort) => {
            draft.remove("thinking");
            draft.set("reasoning_effort", json!(k3_effort(&thinking)));
        }
        (_, ThinkingControl::Switch) if thinking == Thinking::Unspecified && !forced_off => {
            draft.remove("thinking");
        }
        (_, ThinkingControl::Switch) => {
            let mut switch = json!({"type": if on { "enabled" } else { "disabled" }});
            if let (Some(keep), true, true) = (keep, on, caps.thinking_keep) {
                switch["keep"] = keep;
            }
            draft.set("thinking", switch);
        }
    }

    for field in &caps.fixed_sampling {
        draft.remove(field);
    }
    if on {
        for field in &caps.fixed_sampling_when_thinking {
            draft.remove(field);
        }
        if relax && (pinned || draft.get("tool_choice") == Some(json!("required"))) {
            draft.set("tool_choice", json!("auto"));
        }
    }

    if caps.forced_tool_choice == ForcedToolChoice::Narrow && pinned {
        narrow_tool_choice(draft);
    }

    reasoning_content(draft, on);
    unique_tool_call_ids(draft);
    if draft
        .request()
        .raw("tools")
        .is_some_and(|t| t.contains("anyOf"))
    {
        plain_any_of_schemas(draft);
    }
}

/// K3's effort (`low`, `high`, `max`) for the client's level: OpenAI's
/// `minimal` and `low` are low, `medium` and `high` are high, `max` (or
/// `xhigh`) and no level at all are max (OpenClaw's default for K3). K3
/// cannot stop thinking: off is the least, low.
fn k3_effort(thinking: &Thinking) -> &'static str {
    match thinking {
        Thinking::Off => "low",
        Thinking::Unspecified | Thinking::On(None) => "max",
        Thinking::On(Some(level)) => match level.as_str() {
            "minimal" | "low" => "low",
            "medium" | "high" => "high",
            _ => "max",
        },
    }
}

/// A named function on a model that takes only `required` (K3): the
/// choice becomes `required` with only that tool offered, which keeps its
/// intent; when the tool is not offered at all, `auto`.
fn narrow_tool_choice(draft: &mut Draft) {
    let name = draft
        .get("tool_choice")
        .and_then(|choice| choice.pointer("/function/name").cloned());
    let Some(Value::Array(tools)) = draft.get("tools") else {
        draft.set("tool_choice", json!("auto"));
        return;
    };
    let chosen: Vec<Value> = tools
        .into_iter()
        .filter(|tool| name.is_some() && tool.pointer("/function/name") == name.as_ref())
        .collect();
    if chosen.is_empty() {
        draft.set("tool_choice", json!("auto"));
    } else {
        draft.set("tools", Value::Array(chosen));
        draft.set("tool_choice", json!("required"));
    }
}

/// With thinking on, every replayed assistant turn that made tool calls
/// carries `reasoning_content` (Kimi answers 400 otherwise): the reasoning
/// the model produced for it when the gateway kept it
/// (`crate::reasoning_cache`), else `""`, which is accepted; with thinking
/// off, none does.
fn reasoning_content(draft: &mut Draft, on: bool) {
    let request = draft.request();
    for (index, message) in request.messages().iter().enumerate() {
        if message.role != "assistant" {
            continue;
        }
        if on && !message.tool_call_ids.is_empty() && !message.has_reasoning_content {
            let kept = request.restored_reasoning(index).unwrap_or_default();
            draft.set_in_message(index, "reasoning_content", json!(kept));
        } else if !on && message.has_reasoning_content {
            draft.remove_in_message(index, "reasoning_content");
        }
    }
}

/// Kimi's tool-call ids (`functions.<name>:<n>`) are unique only within one
/// turn, and a history with a repeated id is refused. Exactly as OpenClaw
/// does, so a history that went through both gets the same ids: the first
/// occurrence of an id is kept; a later one becomes `call_` + the first 24
/// hex digits of sha256("<id>:<occurrence>:<attempt>") (attempt counting
/// up past collisions); tool results take their call's new id first-in,
/// first-out. A `functions <name>:<n>` with a space is repaired too.
fn unique_tool_call_ids(draft: &mut Draft) {
    let request = draft.request();
    // Results whose empty id was paired again (see `tool_results`).
    let paired_again: HashMap<usize, String> = super::tool_results::repairs(request.messages())
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut used: HashSet<String> = HashSet::new();
    let mut occurrences: HashMap<&str, usize> = HashMap::new();
    let mut pending: HashMap<&str, VecDeque<String>> = HashMap::new();
    for (index, message) in request.messages().iter().enumerate() {
        if message.role == "assistant" && !message.tool_call_ids.is_empty() {
            let mut renamed = Vec::new();
            for id in &message.tool_call_ids {
                let occurrence = occurrences.entry(id).or_default();
                *occurrence += 1;
                let new_id = if *occurrence == 1 && !used.contains(id.as_str()) {
                    repaired(id)
                } else {
                    openai_style_id(id, *occurrence, &used)
                };
                used.insert(new_id.clone());
                pending.entry(id).or_default().push_back(new_id.clone());
                renamed.push(new_id);
            }
            if renamed != message.tool_call_ids {
                rename_calls(draft, index, &renamed);
            }
        } else if message.role == "tool" {
            let Some(id) = paired_again.get(&index).or(message.tool_call_id.as_ref()) else {
                continue;
            };
            let Some(new_id) = pending.get_mut(id.as_str()).and_then(VecDeque::pop_front) else {
                continue;
            };
            if new_id != *id || paired_again.contains_key(&index) {
                draft.set_in_message(index, "tool_call_id", json!(new_id));
            }
        }
    }
}

/// `functions read:0` (a space where a dot belongs) as `functions.read:0`.
fn repaired(id: &str) -> String {
    match id.strip_prefix("functions ") {
        Some(rest) if !rest.contains(' ') => format!("functions.{rest}"),
        _ => id.to_string(),
    }
}

fn openai_style_id(id: &str, occurrence: usize, used: &HashSet<String>) -> String {
    (0..)
        .map(|attempt| {
            let digest = Sha256::digest(format!("{id}:{occurrence}:{attempt}"));
            let mut out = String::with_capacity(29);
            out.push_str("call_");
            for byte in &digest[..12] {
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
            out
        })
        .find(|candidate| !used.contains(candidate))
        .expect("an unused id exists")
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn rename_calls(draft: &mut Draft, index: usize, ids: &[String]) {
    if let Some(json) = draft.request().tool_calls_with_ids(index, ids) {
        draft.set_raw_in_message(index, "tool_calls", json);
    }
}

/// Moonshot's schema validator refuses an object with both a simple `type`
/// and an `anyOf` of plain branches; the equivalent form moves the type
/// into each branch that has none.
pub(super) fn plain_any_of_schemas(draft: &mut Draft) {
    let Some(Value::Array(mut tools)) = draft.get("tools") else {
        return;
    };
    let mut changed = false;
    for tool in &mut tools {
        if let Some(schema) = tool.pointer_mut("/function/parameters") {
            changed |= rewrite_schema(schema);
        }
    }
    if changed {
        draft.set("tools", Value::Array(tools));
    }
}

/// Keywords whose values are schemas, or maps or lists of schemas.
const SUBSCHEMAS: [&str; 12] = [
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "items",
    "prefixItems",
    "additionalProperties",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "contains",
];

fn rewrite_schema(schema: &mut Value) -> bool {
    let Value::Object(object) = schema else {
        return false;
    };
    let mut changed = lift_type(object);
    for keyword in SUBSCHEMAS {
        let Some(value) = object.get_mut(keyword) else {
            continue;
        };
        changed |= match (keyword, value) {
            ("properties" | "patternProperties" | "$defs" | "definitions", Value::Object(map)) => {
                map.values_mut()
                    .fold(false, |acc, s| rewrite_schema(s) | acc)
            }
            (_, Value::Array(list)) => list
                .iter_mut()
                .fold(false, |acc, s| rewrite_schema(s) | acc),
            (_, value @ Value::Object(_)) => rewrite_schema(value),
            _ => false,
        };
    }
    changed
}

fn lift_type(object: &mut Map<String, Value>) -> bool {
    let Some(Value::String(parent)) = object.get("type").cloned() else {
        return false;
    };
    let Some(Value::Array(branches)) = object.get("anyOf") else {
        return false;
    };
    let plain = branches.iter().all(|branch| {
        branch.as_object().is_some_and(|b| {
            !b.contains_key("$ref")
                && !b.contains_key("anyOf")
                && !b.contains_key("oneOf")
                && b.get("type").is_none_or(|t| *t == json!(parent))
        })
    });
    if !plain || branches.is_empty() {
        return false;
    }
    object.remove("type");
    if let Some(Value::Array(branches)) = object.get_mut("anyOf") {
        for branch in branches.iter_mut().filter_map(Value::as_object_mut) {
            branch.entry("type").or_insert_with(|| json!(parent));
        }
    }
    true
}
