//! What the translation of a chat body into a Messages body reads, typed.
//! A chat client's body that does not read so cannot be written for an
//! Anthropic target without losing what it got wrong (a role the
//! translation has no place for, a text part without its text, a `stop`
//! holding a number, a `max_tokens` in quotes), so `providers::plan`
//! refuses it with a 400 naming the member; a chat target gets it as
//! written, and its provider judges. What the fields' tables name
//! (`translate::fields`) is read there; the rest goes unread here.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};

/// The first member of a chat `body` the translation cannot read: its
/// path and what it should be.
pub fn unreadable(body: &[u8]) -> Option<String> {
    let body = match crate::wire::read_request::<Body>(body) {
        Ok(body) => body,
        Err(why) => return Some(why),
    };
    (body.messages.iter().enumerate()).find_map(|(at, message)| {
        let (member, holder) = message.misplaced()?;
        Some(format!(
            "messages[{at}].{member}: only {holder} has it (the Anthropic translation has no place for it here)"
        ))
    })
}

/// The members read for their types alone.
#[derive(Deserialize)]
#[expect(dead_code, reason = "read for its members' types")]
struct Body<'a> {
    #[serde(borrow)]
    messages: Vec<Message<'a>>,
    #[serde(borrow)]
    tools: Option<Vec<Tool<'a>>>,
    #[serde(borrow)]
    tool_choice: Option<Choice<'a>>,
    parallel_tool_calls: Option<bool>,
    #[serde(borrow)]
    stop: Option<Stop<'a>>,
    #[serde(borrow)]
    user: Option<Cow<'a, str>>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<u64>,
}

#[derive(Deserialize)]
struct Message<'a> {
    role: Role,
    #[expect(dead_code, reason = "read for its type")]
    content: Option<Content>,
    #[serde(borrow)]
    tool_calls: Option<Vec<Call<'a>>>,
    #[serde(borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tool_call_id: Option<Cow<'a, str>>,
}

impl Message<'_> {
    /// A member the translation reads only on another role's message
    /// (where it would go unread and unnamed), and the role it belongs to.
    fn misplaced(&self) -> Option<(&'static str, &'static str)> {
        let assistant = matches!(self.role, Role::Assistant);
        let calls = self
            .tool_calls
            .as_ref()
            .is_some_and(|calls| !calls.is_empty());
        let reasoning = (self.reasoning_content.as_ref()).is_some_and(|text| !text.is_empty());
        let answers = (self.tool_call_id.as_ref()).is_some_and(|id| !id.is_empty());
        [
            ("tool_calls", calls && !assistant, "an assistant message"),
            (
                "reasoning_content",
                reasoning && !assistant,
                "an assistant message",
            ),
            (
                "tool_call_id",
                answers && !matches!(self.role, Role::Tool),
                "a tool message",
            ),
        ]
        .into_iter()
        .find_map(|(member, misplaced, holder)| misplaced.then_some((member, holder)))
    }
}

/// The roles the translation places (`function`: a legacy result, named
/// as dropped).
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
    Function,
}

/// A message's content: a string, or an array of parts.
struct Content;

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Content)
    }
}

impl<'de> Visitor<'de> for Content {
    type Value = Content;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of content parts")
    }

    fn visit_str<E>(self, _: &str) -> Result<Content, E> {
        Ok(Content)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut parts: A) -> Result<Content, A::Error> {
        while parts.next_element::<Part>()?.is_some() {}
        Ok(Content)
    }
}

/// A content part: those the translation writes, with what it writes
/// them from; the others are the fields' tables'.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[expect(dead_code, reason = "read for its members' types")]
enum Part<'a> {
    Text {
        #[serde(borrow)]
        text: Cow<'a, str>,
    },
    ImageUrl {
        #[serde(borrow)]
        image_url: ImageUrl<'a>,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(untagged, expecting = "a URL, or an object with a `url` string")]
#[expect(dead_code, reason = "read for its members' types")]
enum ImageUrl<'a> {
    Url(#[serde(borrow)] Cow<'a, str>),
    Object {
        #[serde(borrow)]
        url: Cow<'a, str>,
    },
}

#[derive(Deserialize)]
#[expect(dead_code, reason = "read for its members' types")]
struct Call<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    function: Option<Function<'a>>,
}

#[derive(Deserialize)]
#[expect(dead_code, reason = "read for its members' types")]
struct Function<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    arguments: Option<Arguments<'a>>,
}

/// A call's arguments: their JSON text, or the object itself (which the
/// translation takes as the `input`).
#[derive(Deserialize)]
#[serde(untagged, expecting = "a string of JSON, or an object")]
#[expect(dead_code, reason = "read for its members' types")]
enum Arguments<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Object(#[serde(borrow)] BTreeMap<Cow<'a, str>, IgnoredAny>),
}

/// A tool: a function's with its name; the others are the fields'
/// tables'.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[expect(dead_code, reason = "read for its members' types")]
enum Tool<'a> {
    Function {
        #[serde(borrow)]
        function: FunctionTool<'a>,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[expect(dead_code, reason = "read for its members' types")]
struct FunctionTool<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    description: Option<Cow<'a, str>>,
    strict: Option<bool>,
}

#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "`none`, `auto`, `required`, or an object naming a function (`{type: function, function: {name}}`), the allowed tools or a custom tool"
)]
#[expect(dead_code, reason = "read for its members' types")]
enum Choice<'a> {
    Mode(Mode),
    #[serde(borrow)]
    Named(Named<'a>),
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    None,
    Auto,
    Required,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[expect(dead_code, reason = "read for its members' types")]
enum Named<'a> {
    Function {
        #[serde(borrow)]
        function: Name<'a>,
    },
    AllowedTools {
        allowed_tools: Allowed,
    },
    Custom {
        custom: IgnoredAny,
    },
}

#[derive(Deserialize)]
#[expect(dead_code, reason = "read for its members' types")]
struct Name<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

#[derive(Deserialize)]
#[expect(dead_code, reason = "read for its members' types")]
struct Allowed {
    mode: Mode,
}

#[derive(Deserialize)]
#[serde(untagged, expecting = "a string, or an array of strings")]
#[expect(dead_code, reason = "read for its members' types")]
enum Stop<'a> {
    One(#[serde(borrow)] Cow<'a, str>),
    Many(#[serde(borrow)] Vec<Cow<'a, str>>),
}

#[cfg(test)]
mod tests {
    use super::unreadable;

    /// Each member the translation would have lost or changed in silence
    /// is named, with what it should be; a body it reads whole passes.
    #[test]
    fn what_the_translation_cannot_read_is_named() {
        let good = r#"{"model": "m", "max_tokens": 100, "stop": ["END"], "user": "u",
            "parallel_tool_calls": false, "tool_choice": {"type": "function", "function": {"name": "get"}},
            "tools": [{"type": "function", "function": {"name": "get", "parameters": {}}}, {"type": "custom", "custom": {"name": "c"}}],
            "messages": [{"role": "system", "content": "s"},
              {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:,"}}, {"type": "input_audio", "input_audio": {}}]},
              {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get", "arguments": {"path": "/"}}}]},
              {"role": "tool", "tool_call_id": "c1", "content": "ok"},
              {"role": "user", "content": "go on", "tool_calls": [], "reasoning_content": "", "tool_call_id": ""}]}"#;
        assert_eq!(unreadable(good.as_bytes()), None);
        for (body, named) in [
            (
                r#"{"messages": [{"role": "critic", "content": "x"}]}"#,
                "messages[0].role: unknown variant `critic`",
            ),
            (
                r#"{"messages": [{"role": "user", "content": 5}]}"#,
                "messages[0].content: invalid type: integer `5`, expected a string or an array of content parts",
            ),
            (
                r#"{"messages": [{"role": "assistant", "content": {"type": "text", "text": "x"}}]}"#,
                "messages[0].content: invalid type: map, expected a string or an array",
            ),
            (
                r#"{"messages": [{"role": "user", "content": [{"text": "no type"}]}]}"#,
                "messages[0].content[0]: missing field `type`",
            ),
            (
                r#"{"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}"#,
                "messages[0].content[0]: invalid type: integer `5`, expected a string",
            ),
            (
                r#"{"messages": [{"role": "user", "content": [{"type": "text"}]}]}"#,
                "messages[0].content[0]: missing field `text`",
            ),
            (
                r#"{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}"#,
                "messages[0].content[0]: a URL, or an object with a `url` string",
            ),
            (
                r#"{"messages": [{"role": "assistant", "tool_calls": "nope"}]}"#,
                "messages[0].tool_calls: invalid type: string",
            ),
            (
                r#"{"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": 5}}]}]}"#,
                "messages[0].tool_calls[0].function.arguments: a string of JSON, or an object",
            ),
            (
                r#"{"messages": [{"role": "user", "content": "x", "tool_calls": [{"id": "c", "function": {"name": "f"}}]}]}"#,
                "messages[0].tool_calls: only an assistant message has it",
            ),
            (
                r#"{"messages": [{"role": "assistant", "content": "x"}, {"role": "tool", "tool_call_id": "c", "content": "r", "reasoning_content": "why"}]}"#,
                "messages[1].reasoning_content: only an assistant message has it",
            ),
            (
                r#"{"messages": [{"role": "assistant", "content": "x", "tool_call_id": "c"}]}"#,
                "messages[0].tool_call_id: only a tool message has it",
            ),
            (
                r#"{"messages": [], "max_tokens": "100"}"#,
                "max_tokens: invalid type: string",
            ),
            (
                r#"{"messages": [], "max_tokens": 1.5}"#,
                "max_tokens: invalid type: floating point",
            ),
            (
                r#"{"messages": [], "max_tokens": -1}"#,
                "max_tokens: invalid value: integer `-1`",
            ),
            (
                r#"{"messages": [], "stop": ["END", 5]}"#,
                "stop: a string, or an array of strings",
            ),
            (
                r#"{"messages": [], "user": 42}"#,
                "user: invalid type: integer `42`",
            ),
            (
                r#"{"messages": [], "tool_choice": "bogus"}"#,
                "tool_choice: `none`, `auto`, `required`",
            ),
            (
                r#"{"messages": [], "tool_choice": {"type": "function"}}"#,
                "tool_choice: `none`, `auto`, `required`",
            ),
            (
                r#"{"messages": [], "parallel_tool_calls": "no"}"#,
                "parallel_tool_calls: invalid type: string",
            ),
            (
                r#"{"messages": [], "tools": [{"type": "function", "function": {"name": 5}}]}"#,
                "tools[0]: invalid type: integer `5`, expected a string",
            ),
            (
                r#"{"messages": [], "tools": [{"type": "function"}]}"#,
                "tools[0]: missing field `function`",
            ),
        ] {
            let got = unreadable(body.as_bytes()).unwrap_or_else(|| panic!("{body} is read"));
            assert!(got.starts_with(named), "{body}: {got}");
        }
    }
}
