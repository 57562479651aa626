//! A whole chat completion as the answer translations read it: the first
//! choice's message (its reasoning, text and tool calls) and why it ended.

use serde_json::{Map, Value};

/// The first choice of a (shaped) chat completion.
pub struct FirstChoice<'a> {
    choice: Option<&'a Value>,
}

impl<'a> FirstChoice<'a> {
    pub fn of(completion: &'a Map<String, Value>) -> Self {
        Self {
            choice: completion.get("choices").and_then(|c| c.get(0)),
        }
    }

    fn message(&self) -> Option<&'a Value> {
        self.choice.and_then(|c| c.get("message"))
    }

    /// Whether the message holds `key`, other than as `null`.
    pub fn holds(&self, key: &str) -> bool {
        self.member(key).is_some_and(|v| !v.is_null())
    }

    /// The message's `key`.
    pub fn member(&self, key: &str) -> Option<&'a Value> {
        self.message().and_then(|m| m.get(key))
    }

    /// The message's `key` (`content`, `reasoning_content`) as text: a
    /// string, or the text of its parts; empty when absent.
    pub fn text(&self, key: &str) -> String {
        match self.message().and_then(|m| m.get(key)) {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect(),
            _ => String::new(),
        }
    }

    /// The message's tool calls, as the completion holds them.
    pub fn tool_calls(&self) -> &'a [Value] {
        self.message()
            .and_then(|m| m.get("tool_calls"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub fn finish_reason(&self) -> Option<&'a str> {
        self.choice
            .and_then(|c| c.get("finish_reason"))
            .and_then(Value::as_str)
    }
}
