//! The chat-completions body the Messages and Responses front ends write
//! from their clients' requests: one set of types for both, members in the
//! order written, absent ones left out. `T` is how a translator holds a
//! text: the client's JSON string literal as it came (`Cow<RawValue>`, the
//! Messages front end), or the text itself (`Cow<str>`, the Responses one).

use std::borrow::Cow;

use serde::Serialize;
use serde_json::value::RawValue;

#[derive(Serialize)]
pub struct Body<'a, T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a str>,
    pub messages: Vec<Message<'a, T>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// The tools' chat form, as its JSON text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_cache_key: Option<&'a str>,
}

impl<'a, T> Body<'a, T> {
    /// A body of `messages` and nothing else set.
    pub fn new(model: Option<&'a str>, messages: Vec<Message<'a, T>>) -> Self {
        Self {
            model,
            messages,
            max_tokens: None,
            stream: None,
            stream_options: None,
            tools: None,
            tool_choice: None,
            parallel_tool_calls: None,
            reasoning_effort: None,
            response_format: None,
            stop: None,
            temperature: None,
            top_p: None,
            user: None,
            prompt_cache_key: None,
        }
    }
}

#[derive(Serialize)]
pub struct StreamOptions {
    pub include_usage: bool,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum ToolChoice<'a> {
    /// `auto`, `none` or `required`.
    Mode(&'static str),
    /// The function the model must call.
    Named {
        #[serde(rename = "type")]
        kind: &'static str,
        function: Named<'a>,
    },
}

impl<'a> ToolChoice<'a> {
    pub fn function(name: impl Into<Cow<'a, str>>) -> Self {
        Self::Named {
            kind: "function",
            function: Named { name: name.into() },
        }
    }
}

#[derive(Serialize)]
pub struct Named<'a> {
    pub name: Cow<'a, str>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat<'a> {
    JsonObject,
    JsonSchema { json_schema: JsonSchema<'a> },
}

#[derive(Serialize)]
pub struct JsonSchema<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// One chat message.
#[derive(Serialize)]
pub struct Message<'a, T> {
    pub role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<Cow<'a, str>>,
    pub content: Content<'a, T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<T>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall<'a>>,
}

impl<'a, T> Message<'a, T> {
    pub fn new(role: &'static str, content: Content<'a, T>) -> Self {
        Self {
            role,
            tool_call_id: None,
            content,
            reasoning_content: None,
            tool_calls: Vec::new(),
        }
    }

    pub fn text(role: &'static str, text: T) -> Self {
        Self::new(role, Content::Text(text))
    }

    /// Whether its content holds an image.
    pub fn holds_image(&self) -> bool {
        matches!(&self.content, Content::Parts(parts)
            if parts.iter().any(|part| matches!(part, Part::ImageUrl { .. })))
    }
}

/// A message's `content`: a text, a string the client wrote (kept as its
/// JSON text), or parts.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Content<'a, T> {
    Text(T),
    Raw(&'a RawValue),
    Parts(Vec<Part<'a, T>>),
}

/// A part of a user message's content.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part<'a, T> {
    Text { text: T },
    ImageUrl { image_url: ImageUrl<'a> },
}

#[derive(Serialize)]
pub struct ImageUrl<'a> {
    pub url: Cow<'a, str>,
    /// The detail level the client asked the image read at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Cow<'a, str>>,
}

/// One call an assistant message made.
#[derive(Serialize)]
pub struct ToolCall<'a> {
    pub id: Cow<'a, str>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: Call<'a>,
}

impl<'a> ToolCall<'a> {
    pub fn function(id: Cow<'a, str>, name: Cow<'a, str>, arguments: Cow<'a, str>) -> Self {
        Self {
            id,
            kind: "function",
            function: Call { name, arguments },
        }
    }
}

#[derive(Serialize)]
pub struct Call<'a> {
    pub name: Cow<'a, str>,
    /// The arguments as JSON text, as the client wrote them.
    pub arguments: Cow<'a, str>,
}

/// One tool of the `tools` array.
#[derive(Serialize)]
pub struct Tool<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: Function<'a>,
}

#[derive(Serialize)]
pub struct Function<'a> {
    pub name: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Description<'a>>,
    /// The client's schema, copied as its JSON text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// A function's description: the client's own, as its JSON text, or one
/// the translation wrote.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Description<'a> {
    Raw(&'a RawValue),
    Text(String),
}
