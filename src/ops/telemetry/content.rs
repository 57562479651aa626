//! Prompt and completion content for a request span, when
//! `gateway.telemetry.captureContent` is on: the GenAI conventions'
//! `gen_ai.input.messages` and `gen_ai.output.messages` (each message a
//! role and typed parts), written from the OpenAI shapes every front end's
//! request and answer take inside the gateway. Pure; the caller scrubs
//! the keys out and bounds the size.

use serde_json::{Map, Value, json};

/// `gen_ai.input.messages` of an OpenAI `messages` array.
pub fn input_messages(messages: &Value) -> String {
    let messages: Vec<Value> = messages
        .as_array()
        .into_iter()
        .flatten()
        .map(|message| {
            let role = message
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("user");
            let mut parts = Vec::new();
            if role == "tool" {
                parts.push(json!({
                    "type": "tool_call_response",
                    "id": message.get("tool_call_id"),
                    "response": text_of(message.get("content")),
                }));
            } else {
                let mut answer = Said::default();
                answer.add(message);
                parts = answer.parts();
            }
            json!({"role": role, "parts": parts})
        })
        .collect();
    Value::Array(messages).to_string()
}

/// What an answer said so far, each choice's apart (a stream with `n`
/// above 1 interleaves them), gathered from whole messages or from stream
/// deltas (the same members either way).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Output {
    /// In the order first seen, at most [`MAX_CHOICES`].
    choices: Vec<Choice>,
}

/// One choice of an answer: its `index`, what it said, how it ended.
#[derive(Debug, Default, Clone, PartialEq)]
struct Choice {
    index: u64,
    said: Said,
    finish_reason: Option<String>,
}

/// What one message says, or one choice so far.
#[derive(Debug, Default, Clone, PartialEq)]
struct Said {
    text: String,
    reasoning: String,
    /// The model's refusal (OpenAI's `refusal`).
    refusal: String,
    /// `(id, name, arguments)` by the call's index.
    calls: Vec<(String, String, String)>,
}

/// The most choices an answer's content keeps.
const MAX_CHOICES: usize = 16;

impl Output {
    /// Adds each choice's `delta` (a chunk's `choices`) or `message` (a
    /// whole answer's), and its `finish_reason`. What is past
    /// [`MAX_BYTES`] is not kept: a stream may be of any length.
    pub fn add_choice(&mut self, choices: Option<&Value>) {
        let choices = choices.and_then(Value::as_array);
        for (position, choice) in choices.into_iter().flatten().enumerate() {
            let index = (choice.get("index").and_then(Value::as_u64)).unwrap_or(position as u64);
            let at = match self.choices.iter().position(|c| c.index == index) {
                Some(at) => at,
                None if self.choices.len() < MAX_CHOICES => {
                    self.choices.push(Choice {
                        index,
                        ..Choice::default()
                    });
                    self.choices.len() - 1
                }
                None => continue,
            };
            let full = self.size() > MAX_BYTES;
            let entry = &mut self.choices[at];
            if let Some(said) = choice.get("delta").or_else(|| choice.get("message"))
                && !full
            {
                entry.said.add(said);
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                entry.finish_reason = Some(reason.to_string());
            }
        }
    }

    /// The bytes kept so far.
    fn size(&self) -> usize {
        self.choices.iter().map(|choice| choice.said.size()).sum()
    }

    /// `gen_ai.output.messages`: the answer as one assistant message a
    /// choice, each with its finish reason.
    pub fn output_messages(&self) -> String {
        let messages = self.choices.iter().map(|choice| {
            let mut message = Map::new();
            message.insert("role".into(), "assistant".into());
            message.insert("parts".into(), choice.said.parts().into());
            if let Some(reason) = &choice.finish_reason {
                message.insert("finish_reason".into(), reason.as_str().into());
            }
            Value::Object(message)
        });
        Value::Array(messages.collect()).to_string()
    }
}

impl Said {
    /// Adds an OpenAI message or a chunk's `delta`.
    fn add(&mut self, delta: &Value) {
        if let Some(text) = delta.get("content") {
            self.text.push_str(&text_of(Some(text)));
        }
        if let Some(reasoning) = delta.get("reasoning_content").and_then(Value::as_str) {
            self.reasoning.push_str(reasoning);
        }
        if let Some(refusal) = delta.get("refusal").and_then(Value::as_str) {
            self.refusal.push_str(refusal);
        }
        let calls = delta.get("tool_calls").and_then(Value::as_array);
        for (position, call) in calls.into_iter().flatten().enumerate() {
            let index = call
                .get("index")
                .and_then(Value::as_u64)
                .map_or(position, |i| i as usize);
            // A client's index is its own: a bounded list whatever it says.
            if index > 1024 {
                continue;
            }
            if self.calls.len() <= index {
                self.calls.resize(index + 1, Default::default());
            }
            let (id, name, arguments) = &mut self.calls[index];
            let function = call.get("function");
            id.push_str(field(Some(call), "id"));
            name.push_str(field(function, "name"));
            arguments.push_str(field(function, "arguments"));
        }
    }

    fn size(&self) -> usize {
        let calls: usize = self
            .calls
            .iter()
            .map(|(i, n, a)| i.len() + n.len() + a.len())
            .sum();
        self.text.len() + self.reasoning.len() + self.refusal.len() + calls
    }

    fn parts(&self) -> Vec<Value> {
        let mut parts = Vec::new();
        if !self.reasoning.is_empty() {
            parts.push(json!({"type": "reasoning", "content": self.reasoning}));
        }
        if !self.text.is_empty() {
            parts.push(json!({"type": "text", "content": self.text}));
        }
        // A part of the conventions' generic shape, of its own type.
        if !self.refusal.is_empty() {
            parts.push(json!({"type": "refusal", "content": self.refusal}));
        }
        for (id, name, arguments) in &self.calls {
            let arguments = serde_json::from_str::<Value>(arguments)
                .unwrap_or_else(|_| Value::String(arguments.clone()));
            parts
                .push(json!({"type": "tool_call", "id": id, "name": name, "arguments": arguments}));
        }
        parts
    }
}

/// The most of one content attribute kept.
const MAX_BYTES: usize = 128 * 1024;

/// What ends a string [`bounded`] cut.
const CUT: &str = "…[cut]";

/// The length a string is cut to at the least, so that a role, a type or
/// an id is never cut.
const SHORTEST: usize = 64;

/// `json`, a JSON array of messages, at most [`MAX_BYTES`] long and still
/// JSON: where it is longer, its strings are cut to the longest length
/// that fits (the long ones only, each marked), and where even strings
/// cut to [`SHORTEST`] do not fit, the earliest messages go first.
pub fn bounded(json: String) -> String {
    if json.len() <= MAX_BYTES {
        return json;
    }
    let Ok(Value::Array(mut messages)) = serde_json::from_str::<Value>(&json) else {
        // Never the case for what this module writes.
        return "[]".into();
    };
    // The brackets, and each message with its comma.
    let mut size = 1 + messages
        .iter()
        .map(|message| written(message, SHORTEST).len() + 1)
        .sum::<usize>();
    let mut earliest = 0;
    while size > MAX_BYTES && earliest < messages.len() {
        size -= written(&messages[earliest], SHORTEST).len() + 1;
        earliest += 1;
    }
    let messages = Value::Array(messages.split_off(earliest));
    // The longest cut that fits, found by halving the range; the shortest
    // fits now.
    let (mut low, mut high) = (SHORTEST, longest_string(&messages));
    let mut fits = written(&messages, SHORTEST);
    while low < high {
        let keep = low + (high - low).div_ceil(2);
        let text = written(&messages, keep);
        if text.len() <= MAX_BYTES {
            (low, fits) = (keep, text);
        } else {
            high = keep - 1;
        }
    }
    fits
}

/// `value` written with its strings cut to `keep` bytes.
fn written(value: &Value, keep: usize) -> String {
    let mut value = value.clone();
    cut_strings(&mut value, keep);
    value.to_string()
}

/// The length in bytes of `value`'s longest string.
fn longest_string(value: &Value) -> usize {
    match value {
        Value::String(text) => text.len(),
        Value::Array(items) => items.iter().map(longest_string).max().unwrap_or(0),
        Value::Object(members) => members.values().map(longest_string).max().unwrap_or(0),
        _ => 0,
    }
}

/// Each string of `value` longer than `keep` bytes cut to `keep` (at a
/// character boundary) and marked.
fn cut_strings(value: &mut Value, keep: usize) {
    match value {
        Value::String(text) if text.len() > keep => {
            let mut end = keep;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push_str(CUT);
        }
        Value::Array(items) => items.iter_mut().for_each(|item| cut_strings(item, keep)),
        Value::Object(members) => members
            .values_mut()
            .for_each(|member| cut_strings(member, keep)),
        _ => {}
    }
}

/// The string `key` of `value`, empty when it is not there.
fn field<'a>(value: Option<&'a Value>, key: &str) -> &'a str {
    value
        .and_then(|v| v.get(key))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A message's `content`: a string, or the text of its text parts.
fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_become_role_and_typed_parts() {
        let messages = json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]},
            {"role": "assistant", "content": null, "reasoning_content": "Look it up.",
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get", "arguments": "{\"q\":1}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
        ]);
        let written: Value = serde_json::from_str(&input_messages(&messages)).unwrap();
        assert_eq!(
            written,
            json!([
                {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
                {"role": "user", "parts": [{"type": "text", "content": "Hi there"}]},
                {"role": "assistant", "parts": [
                    {"type": "reasoning", "content": "Look it up."},
                    {"type": "tool_call", "id": "c1", "name": "get", "arguments": {"q": 1}},
                ]},
                {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "42"}]},
            ])
        );
        assert_eq!(input_messages(&json!("not a list")), "[]");
    }

    /// A refusal is kept, as a part of its own (it used to leave the
    /// output with no part at all).
    #[test]
    fn a_refusal_is_a_part_of_its_own() {
        let mut streamed = Output::default();
        for delta in [json!({"refusal": "I can't "}), json!({"refusal": "help."})] {
            streamed.add_choice(Some(&json!([{"delta": delta}])));
        }
        streamed.add_choice(Some(&json!([{"delta": {}, "finish_reason": "stop"}])));
        let written: Value = serde_json::from_str(&streamed.output_messages()).unwrap();
        assert_eq!(
            written[0]["parts"],
            json!([{"type": "refusal", "content": "I can't help."}])
        );
    }

    #[test]
    fn a_streamed_answer_is_gathered_like_a_whole_one() {
        let whole = json!([{"message": {"role": "assistant", "content": "Hello",
            "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}]},
            "finish_reason": "tool_calls"}]);
        let mut at_once = Output::default();
        at_once.add_choice(Some(&whole));
        let mut streamed = Output::default();
        for delta in [
            json!({"role": "assistant", "content": "Hel"}),
            json!({"content": "lo"}),
            json!({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{"}}]}),
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]}),
            json!({"tool_calls": [{"index": 99999, "function": {"arguments": "x"}}]}),
        ] {
            streamed.add_choice(Some(&json!([{"delta": delta}])));
        }
        streamed.add_choice(Some(&json!([{"index": 0, "finish_reason": "tool_calls"}])));
        assert_eq!(streamed, at_once);
        // A long stream is kept up to the bound, not whole.
        let mut long = Output::default();
        let piece = json!([{"delta": {"content": "x".repeat(1000)}}]);
        for _ in 0..1000 {
            long.add_choice(Some(&piece));
        }
        assert!((MAX_BYTES..MAX_BYTES + 1000).contains(&long.size()));
        // Its ending is kept all the same.
        long.add_choice(Some(&json!([{"delta": {}, "finish_reason": "length"}])));
        let written: Value = serde_json::from_str(&long.output_messages()).unwrap();
        assert_eq!(written[0]["finish_reason"], "length");
        let written: Value = serde_json::from_str(&streamed.output_messages()).unwrap();
        assert_eq!(
            written,
            json!([{"role": "assistant", "finish_reason": "tool_calls", "parts": [
                {"type": "text", "content": "Hello"},
                {"type": "tool_call", "id": "c", "name": "f", "arguments": {}},
            ]}])
        );
    }

    /// A stream with `n` above 1 interleaves its choices: each is a
    /// message of its own, with its own ending.
    #[test]
    fn each_choice_is_a_message_of_its_own() {
        let mut streamed = Output::default();
        for (index, delta, finish) in [
            (0, json!({"content": "Hel"}), None),
            (1, json!({"content": "Bon"}), None),
            (0, json!({"content": "lo"}), Some("stop")),
            (1, json!({"content": "jour"}), Some("length")),
        ] {
            let choice = json!([{"index": index, "delta": delta, "finish_reason": finish}]);
            streamed.add_choice(Some(&choice));
        }
        let written: Value = serde_json::from_str(&streamed.output_messages()).unwrap();
        assert_eq!(
            written,
            json!([
                {"role": "assistant", "finish_reason": "stop", "parts": [{"type": "text", "content": "Hello"}]},
                {"role": "assistant", "finish_reason": "length", "parts": [{"type": "text", "content": "Bonjour"}]},
            ])
        );
        // A provider's choices are kept up to a bound.
        let mut many = Output::default();
        let choices: Vec<Value> = (0..100)
            .map(|i| json!({"index": i, "delta": {"content": "x"}}))
            .collect();
        many.add_choice(Some(&Value::Array(choices)));
        assert_eq!(many.choices.len(), MAX_CHOICES);
    }

    /// Content past the bound is cut where it is long and stays JSON: the
    /// long strings cut and marked, the rest whole; and where there are
    /// too many messages for that, the earliest go.
    #[test]
    fn content_past_the_bound_stays_json() {
        let short = input_messages(&json!([{"role": "user", "content": "Hi"}]));
        assert_eq!(bounded(short.clone()), short);

        let long = "é".repeat(MAX_BYTES);
        let messages = json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": long},
            {"role": "tool", "tool_call_id": "call_1", "content": long},
        ]);
        let cut = bounded(input_messages(&messages));
        assert!(cut.len() <= MAX_BYTES, "{}", cut.len());
        let cut: Value = serde_json::from_str(&cut).expect("still JSON");
        assert_eq!(cut[0]["parts"][0]["content"], "Be brief.");
        assert_eq!(cut[1]["role"], "user");
        assert_eq!(cut[2]["parts"][0]["id"], "call_1");
        let text = cut[1]["parts"][0]["content"].as_str().unwrap();
        assert!(
            text.ends_with(CUT) && text.len() > MAX_BYTES / 3,
            "{}",
            text.len()
        );

        let many: Vec<Value> = (0..20_000)
            .map(|i| json!({"role": "user", "content": format!("message {i}")}))
            .collect();
        let cut = bounded(input_messages(&Value::Array(many)));
        assert!(cut.len() <= MAX_BYTES, "{}", cut.len());
        let cut: Vec<Value> = serde_json::from_str(&cut).expect("still JSON");
        assert!(cut.len() > 1_000, "{}", cut.len());
        assert_eq!(cut.last().unwrap()["parts"][0]["content"], "message 19999");
        assert_ne!(cut[0]["parts"][0]["content"], "message 0");
    }
}
