//! The OpenAI Responses API shapes the gateway reads and writes
//! (`POST /v1/responses`, for Codex CLI and the SDKs' `responses` clients):
//! the request as a client sends it, and the response object, output items
//! and stream events it answers with.
//!
//! The request is read through borrowed views: texts are `Cow`s over the
//! client's bytes (owned only when they hold escapes), tool schemas and
//! JSON schemas stay [`RawValue`]s and pass through as their bytes, never
//! built into a tree. Members the gateway does not act on (`store`,
//! `include`, `prompt_cache_key`, `client_metadata`, `metadata`, `user`,
//! `service_tier`, `truncation`, `text.verbosity`, ...) are ignored by
//! serde. The rules it follows are summed up in `docs/codex.md`.

use std::borrow::Cow;

use serde::de::MapAccess;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{ByMembers, Key, Raw, deserialize_by_members};

deserialize_by_members!(
    Item<'a>,
    Part<'a>,
    Tool<'a>,
    CustomFormat<'a>,
    Reasoning,
    TextConfig<'a>,
    TextFormat<'a>,
);

/// A Responses request, borrowing from the client's body.
#[derive(Debug, Deserialize)]
pub struct ResponsesRequest<'a> {
    #[serde(default)]
    pub model: Option<String>,
    /// As the client wrote it: passed on without unescaping it.
    #[serde(default)]
    pub instructions: Option<super::RawText>,
    #[serde(default, borrow)]
    pub input: Option<Input<'a>>,
    #[serde(default, borrow)]
    pub tools: Option<Vec<Tool<'a>>>,
    #[serde(default, borrow)]
    pub tool_choice: Option<ToolChoice<'a>>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    #[serde(default)]
    pub reasoning: Option<Reasoning>,
    #[serde(default, borrow)]
    pub text: Option<TextConfig<'a>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Stateful continuation, which a stateless gateway cannot serve.
    #[serde(default)]
    pub previous_response_id: Option<String>,
    /// A stored conversation: stateful too.
    #[serde(default, borrow)]
    pub conversation: Option<&'a RawValue>,
    /// Run in the background and poll: needs stored responses.
    #[serde(default)]
    pub background: Option<bool>,
    #[serde(default, borrow)]
    pub user: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub prompt_cache_key: Option<Cow<'a, str>>,
    /// `auto` or `disabled` (the default).
    #[serde(default, borrow)]
    pub truncation: Option<Cow<'a, str>>,
    /// A stored prompt template, refused: only its presence is read.
    #[serde(default)]
    pub prompt: Option<serde::de::IgnoredAny>,
}

/// Why a request body was refused; the message names the field.
#[derive(Debug, thiserror::Error)]
#[error("invalid Responses request: {0}")]
pub struct RequestError(String);

impl RequestError {
    /// A body that is no valid JSON, for `why`.
    pub fn not_json(why: impl std::fmt::Display) -> Self {
        Self(format!("the request body is not valid JSON: {why}"))
    }
}

impl<'a> ResponsesRequest<'a> {
    /// Reads a request body; errors name the path of the offending field.
    /// What serde steps over unchecked (a lone surrogate, a number past
    /// f64, a body that is no object) the scanner refuses: so is the body,
    /// as chat and Messages refuse it, whose members' fates it must read.
    pub fn parse(body: &'a [u8]) -> Result<Self, RequestError> {
        let request = super::read_request(body).map_err(RequestError)?;
        crate::format::scan::members(body).map_err(RequestError::not_json)?;
        Ok(request)
    }
}

/// `input`: one user text, or items.
#[derive(Debug)]
pub enum Input<'a> {
    Text(Cow<'a, str>),
    Items(Vec<Item<'a>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Input<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(
            match TextOr::read(deserializer, "a string or an array of input items")? {
                TextOr::Text(text) => Input::Text(text),
                TextOr::List(items) => Input::Items(items),
            },
        )
    }
}

/// A string or an array of `T`, read in one pass: an untagged enum would
/// first copy the value into a tree of its own to try each variant, and
/// could only say that none matched.
enum TextOr<'a, T> {
    Text(Cow<'a, str>),
    List(Vec<T>),
}

impl<'a, T> TextOr<'a, T> {
    fn read<'de: 'a, D: serde::Deserializer<'de>>(
        deserializer: D,
        expecting: &'static str,
    ) -> Result<Self, D::Error>
    where
        T: Deserialize<'de>,
    {
        struct Visitor<'a, T>(&'static str, std::marker::PhantomData<(&'a (), T)>);

        impl<'de: 'a, 'a, T: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<'a, T> {
            type Value = TextOr<'a, T>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(self.0)
            }

            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                text: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(TextOr::Text(Cow::Borrowed(text)))
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(TextOr::Text(Cow::Owned(text.to_string())))
            }

            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Self::Value, E> {
                Ok(TextOr::Text(Cow::Owned(text)))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(element) = seq.next_element()? {
                    list.push(element);
                }
                Ok(TextOr::List(list))
            }
        }

        deserializer.deserialize_any(Visitor(expecting, std::marker::PhantomData))
    }
}

/// One input item, read flat: a `message` (whose `type` clients may leave
/// out), `function_call`, `function_call_output`, `reasoning`, or another
/// type the translation refuses or skips by name.
#[derive(Debug, Default)]
pub struct Item<'a> {
    pub kind: Option<Cow<'a, str>>,
    pub role: Option<Cow<'a, str>>,
    /// A message's content, or a reasoning item's raw text.
    pub content: Option<Content<'a>>,
    /// A reasoning item's summary.
    pub summary: Option<Vec<Part<'a>>>,
    pub call_id: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    /// The namespace tool a function call belongs to.
    pub namespace: Option<Cow<'a, str>>,
    pub arguments: Option<Cow<'a, str>>,
    /// A function call's result: text, or content parts.
    pub output: Option<Content<'a>>,
    /// A custom tool call's free-form input.
    pub input: Option<Cow<'a, str>>,
    /// The other members, not `null`, by name (an output item's `id` and
    /// `status`, or one no row names).
    pub others: Vec<Cow<'a, str>>,
}

impl Item<'_> {
    /// The item's type; a message when the client leaves it out.
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("message")
    }

    /// Its members that no row of the Responses table names, for an item
    /// whose rows name its members one by one (a message, a reasoning
    /// item, a function or custom tool call and its output; the other
    /// items go whole, or are refused): an output item's `id` and `status`
    /// name what is stored, and are read as such.
    pub fn unknown_members(&self) -> impl Iterator<Item = &str> {
        let by_member = matches!(
            self.kind(),
            "message"
                | "reasoning"
                | "function_call"
                | "function_call_output"
                | "custom_tool_call"
                | "custom_tool_call_output"
        );
        (self.others.iter())
            .filter(move |_| by_member)
            .map(|key| &**key)
            .filter(|key| !matches!(*key, "id" | "status"))
    }
}

impl<'de: 'a, 'a> ByMembers<'de> for Item<'a> {
    const EXPECTING: &'static str = "an input item";
    const MEMBERS: &'static [&'static str] = &[
        "type",
        "role",
        "content",
        "summary",
        "call_id",
        "name",
        "namespace",
        "arguments",
        "output",
        "input",
    ];

    fn read<A: MapAccess<'de>>(&mut self, at: usize, map: &mut A) -> Result<(), A::Error> {
        let text = |text: Option<Key<'de>>| text.map(|Key(text)| text);
        match at {
            0 => self.kind = text(map.next_value()?),
            1 => self.role = text(map.next_value()?),
            2 => self.content = map.next_value()?,
            3 => self.summary = map.next_value()?,
            4 => self.call_id = text(map.next_value()?),
            5 => self.name = text(map.next_value()?),
            6 => self.namespace = text(map.next_value()?),
            7 => self.arguments = text(map.next_value()?),
            8 => self.output = map.next_value()?,
            _ => self.input = text(map.next_value()?),
        }
        Ok(())
    }

    fn others(&mut self, others: Vec<Cow<'de, str>>) {
        self.others = others;
    }
}

/// Message content, or a function call's output: a string, or parts.
#[derive(Debug)]
pub enum Content<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<Part<'a>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Content<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(
            match TextOr::read(deserializer, "a string or an array of content parts")? {
                TextOr::Text(text) => Content::Text(text),
                TextOr::List(parts) => Content::Parts(parts),
            },
        )
    }
}

/// One content part, read flat: `input_text`, `output_text`,
/// `summary_text`, `reasoning_text` (a `text`), `refusal`, `input_image`
/// (an `image_url`), or another type refused by name.
#[derive(Debug, Default)]
pub struct Part<'a> {
    pub kind: Option<Cow<'a, str>>,
    pub text: Option<Cow<'a, str>>,
    pub refusal: Option<Cow<'a, str>>,
    pub image_url: Option<Cow<'a, str>>,
    /// An image's detail level (`low`, `high`, `auto`).
    pub detail: Option<Cow<'a, str>>,
    pub file_id: Option<Cow<'a, str>>,
    /// An output text's `annotations` and `logprobs` that say something
    /// (not `null` or `[]`: clawgate's own answers carry them empty).
    pub said: Vec<&'static str>,
    /// The other members, not `null`, by name (one no row names).
    pub others: Vec<Cow<'a, str>>,
}

impl Part<'_> {
    /// Its members that no row of the Responses table names, for a part
    /// whose rows name its members one by one (texts, a reasoning item's
    /// summaries and texts, and images; the others go whole, or are
    /// refused): an output text's `annotations` and `logprobs` only when
    /// they say something (clawgate's own answers carry them empty).
    pub fn unknown_members(&self) -> impl Iterator<Item = &str> {
        let kind = self.kind.as_deref().unwrap_or("input_text");
        let by_member = matches!(
            kind,
            "input_text" | "output_text" | "summary_text" | "reasoning_text" | "input_image"
        );
        (self.said.iter().copied())
            .chain(self.others.iter().map(|key| &**key))
            .filter(move |_| by_member)
    }
}

impl<'de: 'a, 'a> ByMembers<'de> for Part<'a> {
    const EXPECTING: &'static str = "a content part";
    const MEMBERS: &'static [&'static str] = &[
        "type",
        "text",
        "refusal",
        "image_url",
        "detail",
        "file_id",
        "annotations",
        "logprobs",
    ];

    fn read<A: MapAccess<'de>>(&mut self, at: usize, map: &mut A) -> Result<(), A::Error> {
        if let name @ ("annotations" | "logprobs") = Self::MEMBERS[at] {
            let value: &RawValue = map.next_value()?;
            let empty = (value.get().strip_prefix('['))
                .is_some_and(|inner| inner.trim_start().starts_with(']'));
            if !(value.get() == "null" || empty) {
                self.said.push(name);
            }
            return Ok(());
        }
        let text = map.next_value::<Option<Key>>()?.map(|Key(text)| text);
        *[
            &mut self.kind,
            &mut self.text,
            &mut self.refusal,
            &mut self.image_url,
            &mut self.detail,
            &mut self.file_id,
        ][at] = text;
        Ok(())
    }

    fn others(&mut self, others: Vec<Cow<'de, str>>) {
        self.others = others;
    }
}

/// A tool offered to the model. `function` tools (also inside a
/// `namespace`) and `custom` (free-form input) tools reach the provider;
/// the other types are refused or dropped by name.
#[derive(Debug, Default)]
pub struct Tool<'a> {
    pub kind: Cow<'a, str>,
    pub name: Option<Cow<'a, str>>,
    /// As the client wrote it: passed on without unescaping it.
    pub description: Option<super::RawText>,
    pub parameters: Option<&'a RawValue>,
    pub strict: Option<bool>,
    /// A namespace's own tools.
    pub tools: Option<Vec<Tool<'a>>>,
    /// A custom tool's input format: `text`, or a `grammar`.
    pub format: Option<CustomFormat<'a>>,
    /// Tool search's deferred loading: only its presence is read.
    pub defer_loading: Option<serde::de::IgnoredAny>,
    /// The other members, not `null`, by name.
    pub others: Vec<Cow<'a, str>>,
}

impl<'de: 'a, 'a> ByMembers<'de> for Tool<'a> {
    const EXPECTING: &'static str = "struct Tool";
    const MEMBERS: &'static [&'static str] = &[
        "type",
        "name",
        "description",
        "parameters",
        "strict",
        "tools",
        "format",
        "defer_loading",
    ];
    const REQUIRED: u32 = 1;

    fn read<A: MapAccess<'de>>(&mut self, at: usize, map: &mut A) -> Result<(), A::Error> {
        match at {
            0 => self.kind = map.next_value::<Key>()?.0,
            1 => self.name = map.next_value::<Option<Key>>()?.map(|Key(name)| name),
            2 => self.description = map.next_value()?,
            3 => self.parameters = map.next_value()?,
            4 => self.strict = map.next_value()?,
            5 => self.tools = map.next_value()?,
            6 => self.format = map.next_value()?,
            _ => self.defer_loading = map.next_value()?,
        }
        Ok(())
    }

    fn others(&mut self, others: Vec<Cow<'de, str>>) {
        self.others = others;
    }
}

#[derive(Debug, Default)]
pub struct CustomFormat<'a> {
    pub kind: Cow<'a, str>,
    /// `lark` or `regex`.
    pub syntax: Option<Cow<'a, str>>,
    pub definition: Option<Cow<'a, str>>,
    /// The other members, not `null`, by name.
    pub others: Vec<Cow<'a, str>>,
}

impl<'de: 'a, 'a> ByMembers<'de> for CustomFormat<'a> {
    const EXPECTING: &'static str = "struct CustomFormat";
    const MEMBERS: &'static [&'static str] = &["type", "syntax", "definition"];
    const REQUIRED: u32 = 1;

    fn read<A: MapAccess<'de>>(&mut self, at: usize, map: &mut A) -> Result<(), A::Error> {
        match at {
            0 => self.kind = map.next_value::<Key>()?.0,
            1 => self.syntax = map.next_value::<Option<Key>>()?.map(|Key(text)| text),
            _ => self.definition = map.next_value::<Option<Key>>()?.map(|Key(text)| text),
        }
        Ok(())
    }

    fn others(&mut self, others: Vec<Cow<'de, str>>) {
        self.others = others;
    }
}

/// `tool_choice`: a mode, or an object naming a tool or the allowed tools.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice<'a> {
    #[serde(borrow)]
    Mode(Cow<'a, str>),
    #[serde(borrow)]
    Object(ToolChoiceObject<'a>),
}

#[derive(Debug, Deserialize)]
pub struct ToolChoiceObject<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub name: Option<Cow<'a, str>>,
    /// The namespace of the function named, as its calls carry it.
    #[serde(default, borrow)]
    pub namespace: Option<Cow<'a, str>>,
    /// `allowed_tools`: `auto` or `required`.
    #[serde(default, borrow)]
    pub mode: Option<Cow<'a, str>>,
    /// `allowed_tools`: the tools the model may call (`{type, name}`).
    #[serde(default, borrow)]
    pub tools: Option<Vec<AllowedTool<'a>>>,
    /// Any other member, by name (`null` for one written as `null`).
    #[serde(flatten)]
    pub others: std::collections::BTreeMap<String, Option<serde::de::IgnoredAny>>,
}

impl ToolChoiceObject<'_> {
    /// The names of its members the API does not give it, not `null`.
    pub fn unknown_members(&self) -> impl Iterator<Item = &str> {
        not_null(&self.others)
    }
}

/// The names of `others` (members serde gathered past the named ones) not
/// written as `null`.
fn not_null(
    others: &std::collections::BTreeMap<String, Option<serde::de::IgnoredAny>>,
) -> impl Iterator<Item = &str> {
    (others.iter())
        .filter(|(_, value)| value.is_some())
        .map(|(name, _)| name.as_str())
}

/// A tool `allowed_tools` lets the model call.
#[derive(Debug, Deserialize)]
pub struct AllowedTool<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub name: Option<Cow<'a, str>>,
    /// The namespace of the function named.
    #[serde(default, borrow)]
    pub namespace: Option<Cow<'a, str>>,
    /// Any other member, by name (`null` for one written as `null`).
    #[serde(flatten)]
    pub others: std::collections::BTreeMap<String, Option<serde::de::IgnoredAny>>,
}

impl AllowedTool<'_> {
    /// The names of its members the API does not give it, not `null`.
    pub fn unknown_members(&self) -> impl Iterator<Item = &str> {
        not_null(&self.others)
    }
}

/// `reasoning`, read member by member: the names of the members the API
/// does not give it are kept, as a block's are.
#[derive(Debug, Default)]
pub struct Reasoning {
    pub effort: Option<String>,
    /// Only whether it asks for one is read.
    pub summary: Option<String>,
    pub unknown: Vec<Box<str>>,
}

impl<'de> ByMembers<'de> for Reasoning {
    const EXPECTING: &'static str = "struct Reasoning";
    const MEMBERS: &'static [&'static str] = &["effort", "summary"];

    fn read<A: MapAccess<'de>>(&mut self, at: usize, map: &mut A) -> Result<(), A::Error> {
        match at {
            0 => self.effort = map.next_value()?,
            _ => self.summary = map.next_value()?,
        }
        Ok(())
    }

    fn others(&mut self, others: Vec<Cow<'de, str>>) {
        self.unknown = others.into_iter().map(Into::into).collect();
    }
}

/// `text`, read member by member as [`Reasoning`] is.
#[derive(Debug, Default)]
pub struct TextConfig<'a> {
    pub format: Option<TextFormat<'a>>,
    /// Only its presence is read.
    pub verbosity: Option<serde::de::IgnoredAny>,
    pub unknown: Vec<Box<str>>,
}

impl<'de: 'a, 'a> ByMembers<'de> for TextConfig<'a> {
    const EXPECTING: &'static str = "struct TextConfig";
    const MEMBERS: &'static [&'static str] = &["format", "verbosity"];

    fn read<A: MapAccess<'de>>(&mut self, at: usize, map: &mut A) -> Result<(), A::Error> {
        match at {
            0 => self.format = map.next_value()?,
            _ => self.verbosity = map.next_value()?,
        }
        Ok(())
    }

    fn others(&mut self, others: Vec<Cow<'de, str>>) {
        self.unknown = others.into_iter().map(Into::into).collect();
    }
}

/// `text.format`: `text`, `json_object`, or `json_schema`.
#[derive(Debug, Default)]
pub struct TextFormat<'a> {
    pub kind: Cow<'a, str>,
    pub name: Option<Cow<'a, str>>,
    pub description: Option<Cow<'a, str>>,
    pub schema: Option<&'a RawValue>,
    pub strict: Option<bool>,
    /// The other members, not `null`, by name.
    pub others: Vec<Cow<'a, str>>,
}

impl<'de: 'a, 'a> ByMembers<'de> for TextFormat<'a> {
    const EXPECTING: &'static str = "struct TextFormat";
    const MEMBERS: &'static [&'static str] = &["type", "name", "description", "schema", "strict"];
    const REQUIRED: u32 = 1;

    fn read<A: MapAccess<'de>>(&mut self, at: usize, map: &mut A) -> Result<(), A::Error> {
        let text = |text: Option<Key<'de>>| text.map(|Key(text)| text);
        match at {
            0 => self.kind = map.next_value::<Key>()?.0,
            1 => self.name = text(map.next_value()?),
            2 => self.description = text(map.next_value()?),
            3 => self.schema = map.next_value()?,
            _ => self.strict = map.next_value()?,
        }
        Ok(())
    }

    fn others(&mut self, others: Vec<Cow<'de, str>>) {
        self.others = others;
    }
}

/// The response object: the non-streamed answer, and what
/// `response.created`, `response.completed` and the like carry.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ResponseOut {
    pub id: String,
    pub object: &'static str,
    pub created_at: u64,
    /// `in_progress`, `completed`, `incomplete` or `failed`.
    pub status: &'static str,
    pub model: String,
    pub output: Vec<OutputItem>,
    pub usage: Option<UsageOut>,
    pub error: Option<ResponseError>,
    pub incomplete_details: Option<IncompleteDetails>,
    #[serde(flatten)]
    pub echo: Echo,
    pub store: bool,
}

/// What a response object says back of its request: whether parallel
/// calls were allowed, and the `tool_choice` and `tools` as the client
/// sent them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Echo {
    pub parallel_tool_calls: bool,
    pub tool_choice: Raw,
    pub tools: Raw,
}

impl Default for Echo {
    /// The API's defaults: parallel calls, `auto`, no tools.
    fn default() -> Self {
        Self {
            parallel_tool_calls: true,
            tool_choice: Raw::of("\"auto\""),
            tools: Raw::of("[]"),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ResponseError {
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IncompleteDetails {
    pub reason: &'static str,
}

/// Usage in the Responses API's terms (`input_tokens` includes the cached
/// ones), with the cost in USD when the model's prices are known.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct UsageOut {
    pub input_tokens: u64,
    pub input_tokens_details: InputDetails,
    pub output_tokens: u64,
    pub output_tokens_details: OutputDetails,
    pub total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct InputDetails {
    pub cached_tokens: u64,
    /// Prompt-cache writes, where the provider reports them (an
    /// Anthropic-format one does).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct OutputDetails {
    pub reasoning_tokens: u64,
}

/// An output item.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    Reasoning {
        id: String,
        summary: Vec<TextPart>,
    },
    Message {
        id: String,
        status: &'static str,
        role: &'static str,
        content: Vec<TextPart>,
    },
    FunctionCall {
        id: String,
        status: &'static str,
        call_id: String,
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        arguments: String,
    },
    /// A call to a `custom` tool, with its free-form input.
    CustomToolCall {
        id: String,
        call_id: String,
        name: String,
        input: String,
    },
}

impl OutputItem {
    /// Marks the item the answer was cut in (by its token limit or a
    /// filter) `incomplete`, as OpenAI does; the items without a status
    /// have nothing to mark.
    pub fn cut(&mut self) {
        match self {
            OutputItem::Message { status, .. } | OutputItem::FunctionCall { status, .. } => {
                *status = "incomplete";
            }
            OutputItem::Reasoning { .. } | OutputItem::CustomToolCall { .. } => {}
        }
    }
}

/// `output_text` (with its empty `annotations`), a message's `refusal`,
/// or `summary_text`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TextPart {
    OutputText { text: String, annotations: [(); 0] },
    Refusal { refusal: String },
    SummaryText { text: String },
}

/// A stream event. Each is sent as `event: <type>` and its JSON, which
/// carries `type` and the event's `sequence_number`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type")]
pub enum StreamEvent {
    #[serde(rename = "response.created")]
    Created { response: ResponseOut },
    #[serde(rename = "response.in_progress")]
    InProgress { response: ResponseOut },
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded {
        output_index: usize,
        item: OutputItem,
    },
    #[serde(rename = "response.output_item.done")]
    OutputItemDone {
        output_index: usize,
        item: OutputItem,
    },
    #[serde(rename = "response.content_part.added")]
    ContentPartAdded {
        item_id: String,
        output_index: usize,
        content_index: usize,
        part: TextPart,
    },
    #[serde(rename = "response.content_part.done")]
    ContentPartDone {
        item_id: String,
        output_index: usize,
        content_index: usize,
        part: TextPart,
    },
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta {
        item_id: String,
        output_index: usize,
        content_index: usize,
        delta: String,
        logprobs: [(); 0],
    },
    #[serde(rename = "response.output_text.done")]
    OutputTextDone {
        item_id: String,
        output_index: usize,
        content_index: usize,
        text: String,
        logprobs: [(); 0],
    },
    #[serde(rename = "response.refusal.delta")]
    RefusalDelta {
        item_id: String,
        output_index: usize,
        content_index: usize,
        delta: String,
    },
    #[serde(rename = "response.refusal.done")]
    RefusalDone {
        item_id: String,
        output_index: usize,
        content_index: usize,
        refusal: String,
    },
    #[serde(rename = "response.reasoning_summary_part.added")]
    ReasoningSummaryPartAdded {
        item_id: String,
        output_index: usize,
        summary_index: usize,
        part: TextPart,
    },
    #[serde(rename = "response.reasoning_summary_part.done")]
    ReasoningSummaryPartDone {
        item_id: String,
        output_index: usize,
        summary_index: usize,
        part: TextPart,
    },
    #[serde(rename = "response.reasoning_summary_text.delta")]
    ReasoningSummaryTextDelta {
        item_id: String,
        output_index: usize,
        summary_index: usize,
        delta: String,
    },
    #[serde(rename = "response.reasoning_summary_text.done")]
    ReasoningSummaryTextDone {
        item_id: String,
        output_index: usize,
        summary_index: usize,
        text: String,
    },
    #[serde(rename = "response.function_call_arguments.delta")]
    FunctionCallArgumentsDelta {
        item_id: String,
        output_index: usize,
        delta: String,
    },
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCallArgumentsDone {
        item_id: String,
        output_index: usize,
        arguments: String,
    },
    #[serde(rename = "response.custom_tool_call_input.delta")]
    CustomToolCallInputDelta {
        item_id: String,
        output_index: usize,
        delta: String,
    },
    #[serde(rename = "response.custom_tool_call_input.done")]
    CustomToolCallInputDone {
        item_id: String,
        output_index: usize,
        input: String,
    },
    #[serde(rename = "response.completed")]
    Completed { response: ResponseOut },
    #[serde(rename = "response.incomplete")]
    Incomplete { response: ResponseOut },
    #[serde(rename = "response.failed")]
    Failed { response: ResponseOut },
}

impl StreamEvent {
    /// The event's `type`.
    pub fn name(&self) -> &'static str {
        match self {
            StreamEvent::Created { .. } => "response.created",
            StreamEvent::InProgress { .. } => "response.in_progress",
            StreamEvent::OutputItemAdded { .. } => "response.output_item.added",
            StreamEvent::OutputItemDone { .. } => "response.output_item.done",
            StreamEvent::ContentPartAdded { .. } => "response.content_part.added",
            StreamEvent::ContentPartDone { .. } => "response.content_part.done",
            StreamEvent::OutputTextDelta { .. } => "response.output_text.delta",
            StreamEvent::OutputTextDone { .. } => "response.output_text.done",
            StreamEvent::RefusalDelta { .. } => "response.refusal.delta",
            StreamEvent::RefusalDone { .. } => "response.refusal.done",
            StreamEvent::ReasoningSummaryPartAdded { .. } => {
                "response.reasoning_summary_part.added"
            }
            StreamEvent::ReasoningSummaryPartDone { .. } => "response.reasoning_summary_part.done",
            StreamEvent::ReasoningSummaryTextDelta { .. } => {
                "response.reasoning_summary_text.delta"
            }
            StreamEvent::ReasoningSummaryTextDone { .. } => "response.reasoning_summary_text.done",
            StreamEvent::FunctionCallArgumentsDelta { .. } => {
                "response.function_call_arguments.delta"
            }
            StreamEvent::FunctionCallArgumentsDone { .. } => {
                "response.function_call_arguments.done"
            }
            StreamEvent::CustomToolCallInputDelta { .. } => "response.custom_tool_call_input.delta",
            StreamEvent::CustomToolCallInputDone { .. } => "response.custom_tool_call_input.done",
            StreamEvent::Completed { .. } => "response.completed",
            StreamEvent::Incomplete { .. } => "response.incomplete",
            StreamEvent::Failed { .. } => "response.failed",
        }
    }

    /// The event as SSE text, numbered `sequence`.
    #[cfg(test)]
    pub(crate) fn to_sse(&self, sequence: u64) -> String {
        let mut out = Vec::new();
        self.write_sse(sequence, &mut out);
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }

    /// [`Self::to_sse`], appended to `out`: the event's object is written
    /// straight into it and `sequence_number` added before its closing
    /// brace (no map of the event is built, as `#[serde(flatten)]` would).
    pub fn write_sse(&self, sequence: u64, out: &mut Vec<u8>) {
        use std::io::Write;
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(self.name().as_bytes());
        out.extend_from_slice(b"\ndata: ");
        let from = out.len();
        serde_json::to_writer(&mut *out, self).expect("stream events always serialize");
        // The data is one line: a client's own JSON echoed (its `tools`,
        // written over several lines) has its line breaks between tokens,
        // where a space means the same (a string holds none unescaped).
        let mut at = from;
        while let Some(found) = memchr::memchr2(b'\n', b'\r', &out[at..]) {
            out[at + found] = b' ';
            at += found + 1;
        }
        // Every event is an object with at least its `type`.
        debug_assert!(out.ends_with(b"}") && !out.ends_with(b"{}"));
        out.pop();
        write!(out, ",\"sequence_number\":{sequence}}}\n\n").expect("writing to a Vec");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_codex_request_is_read_without_copying_plain_texts() {
        let body = br#"{"model": "kimi/k2", "stream": true, "store": false, "include": ["reasoning.encrypted_content"],
            "input": [{"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "be brief"}]},
                      {"role": "user", "content": "hi"},
                      {"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": "{}"},
                      {"type": "function_call_output", "call_id": "c1", "output": "ok"}],
            "tools": [{"type": "function", "name": "exec_command", "parameters": {"type": "object"}, "strict": false},
                      {"type": "web_search", "external_web_access": false}],
            "tool_choice": "auto", "reasoning": {"summary": "auto"}, "client_metadata": {"a": "b"}}"#;
        let request = ResponsesRequest::parse(body).unwrap();
        let Some(Input::Items(items)) = &request.input else {
            panic!("items")
        };
        assert_eq!(items[0].kind(), "message");
        assert_eq!(items[1].kind(), "message");
        assert!(matches!(
            items[1].content,
            Some(Content::Text(Cow::Borrowed("hi")))
        ));
        assert_eq!(items[3].kind(), "function_call_output");
        let tools = request.tools.as_ref().unwrap();
        assert_eq!(tools[0].parameters.unwrap().get(), r#"{"type": "object"}"#);
        assert_eq!(tools[1].kind, "web_search");
    }

    #[test]
    fn bad_requests_name_the_field() {
        for (body, expected) in [
            (
                &br#"{"input": 3}"#[..],
                "input: invalid type: integer `3`, expected a string or an array of input items",
            ),
            (
                br#"{"input": [{"role": "user", "content": {"text": "hi"}}]}"#,
                "input[0].content: invalid type: map, expected a string or an array of content parts",
            ),
            (
                br#"{"input": [{"role": "user", "content": [{"type": "input_text", "text": 7}]}]}"#,
                "input[0].content[0].text: invalid type: integer `7`",
            ),
            (
                br#"{"tools": [{"name": "x"}]}"#,
                "tools[0]: missing field `type`",
            ),
            (br#"{"stream": "yes"}"#, "stream: invalid type"),
            (
                br#"{"instructions": 5}"#,
                "instructions: invalid type: integer `5`, expected a string",
            ),
            (
                br#"{"tools": [{"type": "function", "description": []}]}"#,
                "tools[0].description: invalid type: sequence, expected a string",
            ),
            (br#"{} x"#, "trailing data"),
        ] {
            let err = ResponsesRequest::parse(body).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn events_carry_their_type_and_sequence_number() {
        let event = StreamEvent::OutputTextDelta {
            item_id: "msg_1".into(),
            output_index: 0,
            content_index: 0,
            delta: "hi".into(),
            logprobs: [],
        };
        assert_eq!(
            event.to_sse(3),
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"hi\",\"logprobs\":[],\"sequence_number\":3}\n\n"
        );
    }
}
