//! The Anthropic Messages API shapes the gateway reads and writes: the
//! request as a client sends it (`POST /v1/messages`, `count_tokens`), the
//! message it answers with, and the stream's events.
//!
//! Only what the gateway acts on is typed: the members the translation
//! writes (model, limits, system, messages, tools, tool choice, thinking,
//! `output_config`, stop sequences, sampling, `metadata.user_id`), each
//! block list's last `cache_control` and a tool's (a cache breakpoint,
//! which a target may take: `providers::plan`), and the presence of
//! `container` and `mcp_servers` (refused). The other members (`top_k`,
//! `context_management`, `service_tier`, beta fields) are ignored by
//! serde; the reader notes them from the body's scanned members as rows of
//! the Messages table (`translate::fields`), so a target that does not get
//! them is named in `x-clawgate-dropped`. Tool inputs and schemas stay raw
//! JSON text ([`RawValue`]) because they pass through as they are, and no
//! block is read through a tree. Texts are kept as the client's JSON
//! string literals ([`RawText`]): nearly every text a client like Claude
//! Code sends holds escapes (`\n`), and unescaping them only to escape them
//! again in the translated body cost more than the rest of the
//! translation. The client's bytes themselves are kept whole beside the
//! translated request ([`crate::wire::request::ClientRequest::messages_body`]),
//! for a target that speaks Messages. The rules it follows are summed up
//! in `docs/claude-code.md`.

use std::borrow::Cow;

use bytes::Bytes;
use serde::de::MapAccess;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use super::{ByMembers, Key, RawText, deserialize_by_members, read_members};
use crate::format::scan::Member;

deserialize_by_members!(Message);

/// A client's Messages body as the front end read it: its bytes, where
/// each of its top-level members lies, and what the reading found of its
/// tools, so that a target speaking Messages sends it on without locating
/// them again.
#[derive(Debug, Clone)]
pub struct Original {
    bytes: Bytes,
    members: Vec<Member>,
    client_tools: bool,
}

impl Original {
    /// `members` must be where the members of `bytes` lie;
    /// `client_tools`, whether its `tools` are client tools only (each with
    /// an `input_schema`), at least one, none with `defer_loading`.
    pub fn new(bytes: Bytes, members: Vec<Member>, client_tools: bool) -> Self {
        Self {
            bytes,
            members,
            client_tools,
        }
    }

    /// Whether its `tools` are client tools only, at least one, none
    /// deferred.
    pub fn client_tools(&self) -> bool {
        self.client_tools
    }

    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Where its members lie.
    pub fn members(&self) -> &[Member] {
        &self.members
    }
}

/// A Messages request (also the `count_tokens` body, without `max_tokens`).
#[derive(Debug, Clone, Deserialize)]
pub struct MessagesRequest {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub system: Option<Content>,
    #[serde(default)]
    pub tools: Option<Vec<Tool>>,
    #[serde(default)]
    pub tool_choice: Option<Noted<ToolChoice>>,
    #[serde(default)]
    pub thinking: Option<Noted<ThinkingConfig>>,
    #[serde(default)]
    pub output_config: Option<Noted<OutputConfig>>,
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub metadata: Option<Noted<Metadata>>,
    /// Refused (`translate::fields`): only their presence is read.
    #[serde(default)]
    pub container: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub mcp_servers: Option<serde::de::IgnoredAny>,
}

/// `metadata`: Claude Code's `user_id` (a JSON text of device, account and
/// session ids), the one member the API defines.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub user_id: Option<String>,
}

/// A small object of a Messages request (`thinking`, `tool_choice`,
/// `metadata`, `output_config` and its `format`) read member by member,
/// with the names of the members no row of the Messages table gives it
/// (not `null`), which a body written anew has no place for: none, and no
/// allocation, on nearly every request.
#[derive(Debug, Clone)]
pub struct Noted<T> {
    pub value: T,
    pub unknown: Vec<Box<str>>,
}

impl<T> std::ops::Deref for Noted<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

/// The members `thinking`, `tool_choice`, `metadata`, `output_config`
/// and its `format` are made of, as read; each object knows its own
/// ([`Small::MEMBERS`]).
#[derive(Default)]
struct Members {
    kind: Option<String>,
    budget_tokens: Option<u64>,
    name: Option<String>,
    disable_parallel_tool_use: Option<bool>,
    user_id: Option<String>,
    effort: Option<String>,
    format: Option<Noted<OutputFormat>>,
    schema: Option<Box<RawValue>>,
}

/// An object read as [`Noted`]: its members, and itself made of them
/// (serde's words for what is missing or unknown).
trait Small: Sized {
    const MEMBERS: &'static [&'static str];
    fn of<E: serde::de::Error>(members: Members) -> Result<Self, E>;

    /// The `type` that names the variant, `missing` without one.
    fn kind<E: serde::de::Error>(members: &Members) -> Result<&str, E> {
        members
            .kind
            .as_deref()
            .ok_or_else(|| E::missing_field("type"))
    }
}

impl<'de, T: Small> Deserialize<'de> for Noted<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Small> serde::de::Visitor<'de> for Visitor<T> {
            type Value = Noted<T>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Noted<T>, A::Error> {
                let mut read = Members::default();
                let mut unknown = Vec::new();
                read_members(&mut map, T::MEMBERS, &mut unknown, |at, map| {
                    match T::MEMBERS[at] {
                        "type" => read.kind = map.next_value()?,
                        "budget_tokens" => read.budget_tokens = map.next_value()?,
                        "name" => read.name = map.next_value()?,
                        "disable_parallel_tool_use" => {
                            read.disable_parallel_tool_use = map.next_value()?;
                        }
                        "effort" => read.effort = map.next_value()?,
                        "format" => read.format = map.next_value()?,
                        "schema" => read.schema = map.next_value()?,
                        _ => read.user_id = map.next_value()?,
                    }
                    Ok(())
                })?;
                Ok(Noted {
                    value: T::of(read)?,
                    unknown: unknown.into_iter().map(|key| key.into()).collect(),
                })
            }
        }
        deserializer.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

impl Small for Metadata {
    const MEMBERS: &'static [&'static str] = &["user_id"];

    fn of<E: serde::de::Error>(members: Members) -> Result<Self, E> {
        Ok(Metadata {
            user_id: members.user_id,
        })
    }
}

/// Why a request body was refused; the message names the field.
#[derive(Debug, thiserror::Error)]
#[error("invalid Messages request: {0}")]
pub struct RequestError(String);

impl MessagesRequest {
    /// Reads a request body; errors name the path of the offending field.
    pub fn parse(body: &[u8]) -> Result<Self, RequestError> {
        super::read_request(body).map_err(RequestError)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Message {
    /// `user`, `assistant`, or `system` (Claude Code's mid-conversation
    /// system beta).
    pub role: String,
    pub content: Content,
    /// The other members, not `null`, by name (named unknown).
    pub unknown: Vec<Box<str>>,
}

impl<'de> ByMembers<'de> for Message {
    const EXPECTING: &'static str = "struct Message";
    const MEMBERS: &'static [&'static str] = &["role", "content"];
    const REQUIRED: u32 = 0b11;

    fn read<A: MapAccess<'de>>(&mut self, at: usize, map: &mut A) -> Result<(), A::Error> {
        match at {
            0 => self.role = map.next_value()?,
            _ => self.content = map.next_value()?,
        }
        Ok(())
    }

    fn others(&mut self, others: Vec<Cow<'de, str>>) {
        self.unknown = others.into_iter().map(Into::into).collect();
    }
}

/// Message or system content: a string, or blocks.
#[derive(Debug, Clone)]
pub enum Content {
    Text(RawText),
    Blocks(Blocks),
}

impl Default for Content {
    /// No blocks.
    fn default() -> Self {
        Content::Blocks(Blocks::default())
    }
}

/// Content blocks, and the `cache_control` of the last block that has one
/// (a cache breakpoint: the prefix up to that block).
#[derive(Debug, Clone, Default)]
pub struct Blocks {
    pub list: Vec<Block>,
    pub cache_control: Option<Box<RawValue>>,
    /// The members of the blocks that no row of the Messages table names
    /// (`translate::fields`): the block's index, and the member as
    /// `[type].key`. Read only for the blocks whose members the rows name
    /// one by one (text, image, document, thinking, a tool's use and its
    /// result); the others have the fate of the whole block.
    pub unknown: Vec<(usize, Box<str>)>,
}

impl std::ops::Deref for Blocks {
    type Target = [Block];

    fn deref(&self) -> &[Block] {
        &self.list
    }
}

impl<'b> IntoIterator for &'b Blocks {
    type Item = &'b Block;
    type IntoIter = std::slice::Iter<'b, Block>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

impl From<Vec<Block>> for Blocks {
    fn from(list: Vec<Block>) -> Self {
        Self {
            list,
            ..Self::default()
        }
    }
}

impl<'de> Deserialize<'de> for Content {
    /// A string or an array of blocks, where a block that does not read
    /// is named by its index and type (`block 2 (tool_use): missing field
    /// `id``) rather than with serde's "did not match any variant". Each
    /// block is held as its raw text and read straight into its variant:
    /// no tree of the content is built.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ContentVisitor)
    }
}

struct ContentVisitor;

impl<'de> serde::de::Visitor<'de> for ContentVisitor {
    type Value = Content;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string or an array of content blocks")
    }

    /// A plain string arrives unescaped (serde gives no other view of it
    /// here) and is escaped again; blocks, the common case, keep their texts
    /// as written.
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Content, E> {
        Ok(Content::Text(RawText::from_text(text)))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
        let mut blocks = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        let mut cache_control = None;
        let mut unknown = Vec::new();
        // Each block read member by member straight from the body, once:
        // bodies are always read from a slice.
        loop {
            let mut kind = None;
            let head = match seq.next_element_seed(HeadSeed { kind: &mut kind }) {
                Ok(Some(head)) => head,
                Ok(None) => break,
                Err(err) => {
                    let kind = kind.as_deref().unwrap_or("no type");
                    let at = blocks.len();
                    return Err(serde::de::Error::custom(format!(
                        "block {at} ({kind}): {err}"
                    )));
                }
            };
            let (block, mark) = Block::from_head(head, |member| {
                if unknown.len() < MAX_UNKNOWN {
                    unknown.push((blocks.len(), member));
                }
            })
            .map_err(|(kind, err)| {
                serde::de::Error::custom(format!("block {} ({kind}): {err}", blocks.len()))
            })?;
            if mark.is_some() {
                cache_control = mark;
            }
            blocks.push(block);
        }
        Ok(Content::Blocks(Blocks {
            list: blocks,
            cache_control,
            unknown,
        }))
    }
}

/// The line Claude Code starts its system prompt with (an attribution
/// whose hash changes on every request, which defeats prompt caching
/// upstream): a block of its own, or the first line of a plain string.
pub const BILLING_HEADER: &str = "x-anthropic-billing-header:";

/// System text without a leading billing-header line.
pub fn without_billing_header(text: &str) -> &str {
    if !text.starts_with(BILLING_HEADER) {
        return text;
    }
    text.split_once('\n')
        .map_or("", |(_, rest)| rest.trim_start_matches('\n'))
}

/// [`without_billing_header`] on a string literal: the literal itself
/// (borrowed) unless it starts with the header, which is rare and short
/// (Claude Code sends it as a block of its own).
pub fn literal_without_billing_header(text: &RawText) -> Cow<'_, RawValue> {
    let escaped = text.inner();
    // The header has nothing to escape, but a client may have escaped some
    // of its letters anyway (its first, `x`, as `\u0078`): then a backslash
    // comes within its length, and only then is the text read unescaped.
    let head = &escaped.as_bytes()[..escaped.len().min(BILLING_HEADER.len())];
    let escaped_header =
        (escaped.starts_with('x') || escaped.starts_with(r"\u0078")) && head.contains(&b'\\');
    if !escaped.starts_with(BILLING_HEADER) && !escaped_header {
        return Cow::Borrowed(text.json());
    }
    let plain = text.text();
    let rest = without_billing_header(&plain);
    if rest.len() == plain.len() {
        return Cow::Borrowed(text.json());
    }
    Cow::Owned(RawText::from_text(rest).into_json())
}

/// Whether `raw`, the JSON text of a system block, is Claude Code's
/// attribution line alone (a text block whose text is the billing header
/// and nothing else): a block a chat provider's translation leaves out
/// whole.
pub fn is_attribution_block(raw: &str) -> bool {
    matches!(Block::read(raw), Ok(Block::Text { text, .. })
        if super::is_empty(&literal_without_billing_header(&text)))
}

/// A block and its `cache_control`, if it has one.
type Marked = (Block, Option<Box<RawValue>>);

#[derive(Debug, Clone)]
pub enum Block {
    Text {
        text: RawText,
        /// Whether it carries `citations` (not `null`).
        cited: bool,
    },
    Image {
        source: ImageSource,
    },
    ToolUse {
        id: String,
        name: String,
        /// The input as the client wrote it (`null` when absent): passed on
        /// as text, never parsed.
        input: Box<RawValue>,
    },
    ToolResult {
        tool_use_id: String,
        content: Option<Content>,
        is_error: Option<bool>,
    },
    Thinking {
        thinking: RawText,
    },
    RedactedThinking {},
    Document {
        source: DocumentSource,
        /// Whether it carries a `title` or a `context` (not `null`).
        titled: bool,
        /// Whether it asks for `citations` (not `null`, nor
        /// `{"enabled": false}`).
        cited: bool,
    },
    /// Any other block, by what it is.
    Unsupported(Other),
}

/// A block the translation has no variant for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Other {
    /// A server tool's call or result (`server_tool_use`,
    /// `web_search_tool_result`, `mcp_tool_use`, ...).
    ServerTool,
    /// Claude Code's tool search naming a tool it loads.
    ToolReference,
    /// Anything else (`search_result`, `container_upload`, ...), by its
    /// type.
    Else(Box<str>),
}

impl Other {
    fn of(kind: &str) -> Other {
        match kind {
            "tool_reference" => Other::ToolReference,
            "server_tool_use" | "mcp_tool_use" => Other::ServerTool,
            kind if kind.ends_with("_tool_result") => Other::ServerTool,
            // Named in the refusal: a type is a word, not a text.
            kind => Other::Else(kind.chars().take(64).collect::<String>().into()),
        }
    }
}

impl Block {
    /// Its `type`, as the API spells it (`other` for a block of no
    /// variant here).
    pub fn kind(&self) -> &'static str {
        match self {
            Block::Text { .. } => "text",
            Block::Image { .. } => "image",
            Block::ToolUse { .. } => "tool_use",
            Block::ToolResult { .. } => "tool_result",
            Block::Thinking { .. } => "thinking",
            Block::RedactedThinking {} => "redacted_thinking",
            Block::Document { .. } => "document",
            Block::Unsupported(_) => "other",
        }
    }

    /// The block whose JSON text is `raw`, read by its `type` into its
    /// variant's fields; on failure, the type (for the message) and why.
    fn read(raw: &str) -> Result<Block, (String, serde_json::Error)> {
        Self::read_noting(raw, |_| {}).map(|(block, _)| block)
    }

    /// The block, and its `cache_control` if it has one.
    #[cfg(test)]
    fn read_marked(raw: &str) -> Result<Marked, (String, serde_json::Error)> {
        Self::read_noting(raw, |_| {})
    }

    /// The block, and its `cache_control` if it has one; each member no
    /// row names given to `unknown`, as `[type].key`.
    fn read_noting(
        raw: &str,
        unknown: impl FnMut(Box<str>),
    ) -> Result<Marked, (String, serde_json::Error)> {
        use serde::de::DeserializeSeed;
        let mut kind = None;
        let mut reader = serde_json::Deserializer::from_str(raw);
        let head = (HeadSeed { kind: &mut kind }.deserialize(&mut reader))
            .and_then(|head| reader.end().map(|()| head));
        match head {
            Ok(head) => Self::from_head(head, unknown),
            Err(err) => Err((kind.unwrap_or_else(|| "no type".into()), err)),
        }
    }

    /// The block whose members `head` read, and its `cache_control` if it
    /// has one; each member no row names given to `unknown`, as
    /// `[type].key`. A block whose members are not plainly what its
    /// variant holds is read again from those members, for serde's own
    /// reading and error.
    fn from_head(
        mut head: Head<'_>,
        mut unknown: impl FnMut(Box<str>),
    ) -> Result<Marked, (String, serde_json::Error)> {
        use serde_json::from_str;

        #[derive(Deserialize)]
        struct Text {
            text: RawText,
            #[serde(default)]
            citations: Option<serde::de::IgnoredAny>,
        }
        #[derive(Deserialize)]
        struct Image {
            source: ImageSource,
        }
        #[derive(Deserialize)]
        struct ToolUse {
            id: String,
            name: String,
            #[serde(default)]
            input: Option<Box<RawValue>>,
        }
        #[derive(Deserialize)]
        struct ToolResult {
            tool_use_id: String,
            #[serde(default)]
            content: Option<Content>,
            #[serde(default)]
            is_error: Option<bool>,
        }
        #[derive(Deserialize)]
        struct Thinking {
            thinking: RawText,
        }
        #[derive(Deserialize)]
        struct Document {
            source: DocumentSource,
            #[serde(default)]
            title: Option<serde::de::IgnoredAny>,
            #[serde(default)]
            context: Option<serde::de::IgnoredAny>,
            #[serde(default)]
            citations: Option<Box<RawValue>>,
        }

        let Some(kind) = head.kind.clone() else {
            return Err(("no type".into(), serde::de::Error::missing_field("type")));
        };
        head.unknown_members(&kind, &mut unknown);
        if let Some(source) = head.source {
            source_unknown(&kind, source, &mut unknown);
        }
        let mark = (head.cache_control)
            .filter(|m| m.get() != "null")
            .map(ToOwned::to_owned);
        if let Some(block) = head.block(&kind) {
            return Ok((block, mark));
        }
        let raw = &head.written(&kind);
        let named = |err| (kind.chars().take(40).collect::<String>(), err);
        let block = match kind.as_ref() {
            "text" => {
                let Text { text, citations } = from_str(raw).map_err(named)?;
                Block::Text {
                    text,
                    cited: citations.is_some(),
                }
            }
            "image" => Block::Image {
                source: from_str::<Image>(raw).map_err(named)?.source,
            },
            "tool_use" => {
                let ToolUse { id, name, input } = from_str(raw).map_err(named)?;
                let input = input
                    .unwrap_or_else(|| RawValue::from_string("null".into()).expect("null is JSON"));
                Block::ToolUse { id, name, input }
            }
            "tool_result" => {
                let ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                } = from_str(raw).map_err(named)?;
                Block::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                }
            }
            "thinking" => Block::Thinking {
                thinking: from_str::<Thinking>(raw).map_err(named)?.thinking,
            },
            "redacted_thinking" => Block::RedactedThinking {},
            "document" => {
                let Document {
                    source,
                    title,
                    context,
                    citations,
                } = from_str(raw).map_err(named)?;
                Block::Document {
                    source,
                    titled: title.is_some() || context.is_some(),
                    cited: citations.as_deref().is_some_and(asks_citations),
                }
            }
            other => Block::Unsupported(Other::of(other)),
        };
        Ok((block, mark))
    }
}

/// Gives `unknown` each member of an image's or a document's `source`
/// that its type of source does not have, as `[kind].source.key`: its
/// members found by the scanner, its data stepped over, not copied (a
/// source of another type goes whole, or is refused).
fn source_unknown(kind: &str, source: &RawValue, unknown: &mut impl FnMut(Box<str>)) {
    let text = source.get();
    let Ok(members) = crate::format::scan::members(text.as_bytes()) else {
        return;
    };
    let source_kind = Member::last(&members, "type").map(|member| &text[member.value.clone()]);
    let has: &[&str] = match (kind, source_kind) {
        ("image", Some(r#""base64""#)) | ("document", Some(r#""text""#)) => &["media_type", "data"],
        ("image", Some(r#""url""#)) => &["url"],
        _ => return,
    };
    for member in &members {
        let key = &*member.key;
        if key != "type" && !has.contains(&key) && &text[member.value.clone()] != "null" {
            unknown(format!("[{kind}].source.{key}").into());
        }
    }
}

/// Whether a document's `citations` ask for any: not `null`, nor
/// `{"enabled": false}`.
fn asks_citations(citations: &RawValue) -> bool {
    citations.get() != "null"
        && serde_json::from_str::<Value>(citations.get())
            .map_or(true, |value| value != serde_json::json!({"enabled": false}))
}

/// The most unknown members of a content array kept to be named.
const MAX_UNKNOWN: usize = 32;

/// The type and members of a block, as written, in one pass: the commonest
/// blocks' (text, thinking, a tool's use and its result) read from here,
/// a block whose members are not plainly these read again into its
/// variant, for serde's own reading and error. Every member a block type
/// has is known here (as written, `null` too); any other is kept by name,
/// to be named unknown.
#[derive(Default)]
struct Head<'a> {
    kind: Option<Cow<'a, str>>,
    text: Option<&'a RawValue>,
    thinking: Option<&'a RawValue>,
    signature: Option<&'a RawValue>,
    cache_control: Option<&'a RawValue>,
    id: Option<&'a RawValue>,
    name: Option<&'a RawValue>,
    input: Option<&'a RawValue>,
    tool_use_id: Option<&'a RawValue>,
    content: Option<&'a RawValue>,
    is_error: Option<&'a RawValue>,
    citations: Option<&'a RawValue>,
    source: Option<&'a RawValue>,
    title: Option<&'a RawValue>,
    context: Option<&'a RawValue>,
    data: Option<&'a RawValue>,
    /// The members the head does not know, not `null`.
    others: Vec<Cow<'a, str>>,
}

/// The members [`Head`] knows, in the order of its fields (after `type`):
/// bit `i` of a mask is member `i`.
const HEAD_MEMBERS: &[&str] = HEAD_READ.split_at(1).1;

/// What [`Head`] reads: `type`, then [`HEAD_MEMBERS`].
const HEAD_READ: [&str; 16] = [
    "type",
    "text",
    "thinking",
    "signature",
    "cache_control",
    "id",
    "name",
    "input",
    "tool_use_id",
    "content",
    "is_error",
    "citations",
    "source",
    "title",
    "context",
    "data",
];

/// The members of `HEAD_MEMBERS` a block of type `kind` has, as a mask;
/// `None` for a block whose members no row names one by one (it goes
/// whole, or is refused).
fn block_members(kind: &str) -> Option<u16> {
    let mask = |names: &[&str]| {
        names.iter().fold(0, |mask, name| {
            mask | HEAD_MEMBERS
                .iter()
                .position(|known| known == name)
                .map_or(0, |at| 1 << at)
        })
    };
    Some(match kind {
        "text" => mask(&["text", "cache_control", "citations"]),
        "thinking" => mask(&["thinking", "signature", "cache_control"]),
        "tool_use" => mask(&["id", "name", "input", "cache_control"]),
        "tool_result" => mask(&["tool_use_id", "content", "is_error", "cache_control"]),
        "image" => mask(&["source", "cache_control"]),
        "document" => mask(&["source", "title", "context", "citations", "cache_control"]),
        _ => return None,
    })
}

impl<'a> Head<'a> {
    fn slots(&mut self) -> [&mut Option<&'a RawValue>; 15] {
        [
            &mut self.text,
            &mut self.thinking,
            &mut self.signature,
            &mut self.cache_control,
            &mut self.id,
            &mut self.name,
            &mut self.input,
            &mut self.tool_use_id,
            &mut self.content,
            &mut self.is_error,
            &mut self.citations,
            &mut self.source,
            &mut self.title,
            &mut self.context,
            &mut self.data,
        ]
    }

    /// The block as JSON text again, from its type and the members read
    /// (a member the head does not know is not one its variant reads).
    fn written(&mut self, kind: &str) -> String {
        let mut text = format!(
            "{{\"type\":{}",
            serde_json::to_string(kind).expect("a string")
        );
        for (name, member) in HEAD_MEMBERS.iter().zip(self.slots()) {
            if let Some(member) = member {
                text.push_str(&format!(",\"{name}\":{}", member.get()));
            }
        }
        text.push('}');
        text
    }

    /// Gives `unknown` each member a block of type `kind` does not have,
    /// as `[kind].key`.
    fn unknown_members(&mut self, kind: &str, unknown: &mut impl FnMut(Box<str>)) {
        let Some(has) = block_members(kind) else {
            return;
        };
        let present = (self.slots().iter().enumerate())
            .filter(|(_, slot)| slot.is_some_and(|member| member.get() != "null"))
            .fold(0u16, |mask, (at, _)| mask | 1 << at);
        for (at, name) in HEAD_MEMBERS.iter().enumerate() {
            if present & !has & (1 << at) != 0 {
                unknown(format!("[{kind}].{name}").into());
            }
        }
        for name in &self.others {
            unknown(format!("[{kind}].{name}").into());
        }
    }
}

impl Head<'_> {
    /// The block of type `kind` from the members read, when they
    /// are plainly what it holds (strings, a boolean, content as a
    /// string or blocks, a source); `None` for a second reading.
    fn block(&self, kind: &str) -> Option<Block> {
        Some(match kind {
            "text" => Block::Text {
                text: literal(self.text)?,
                cited: self.citations.is_some_and(|c| c.get() != "null"),
            },
            "thinking" => Block::Thinking {
                thinking: literal(self.thinking)?,
            },
            "tool_use" => Block::ToolUse {
                id: plain(self.id)?,
                name: plain(self.name)?,
                input: self.input.map_or_else(
                    || RawValue::from_string("null".into()).expect("null is JSON"),
                    ToOwned::to_owned,
                ),
            },
            // An image's or a document's source read from its member
            // alone: its data is not copied into a block written again.
            "image" => Block::Image {
                source: serde_json::from_str(self.source?.get()).ok()?,
            },
            "document" => Block::Document {
                source: serde_json::from_str(self.source?.get()).ok()?,
                titled: [self.title, self.context]
                    .iter()
                    .any(|member| member.is_some_and(|m| m.get() != "null")),
                cited: self.citations.is_some_and(asks_citations),
            },
            "tool_result" => Block::ToolResult {
                tool_use_id: plain(self.tool_use_id)?,
                content: match self.content.map(RawValue::get) {
                    None | Some("null") => None,
                    Some(text) if text.starts_with('"') => {
                        Some(Content::Text(RawText::from_literal(self.content?)))
                    }
                    Some(blocks) if blocks.starts_with('[') => {
                        Some(serde_json::from_str(blocks).ok()?)
                    }
                    Some(_) => return None,
                },
                is_error: match self.is_error.map(RawValue::get) {
                    None | Some("null") => None,
                    Some("true") => Some(true),
                    Some("false") => Some(false),
                    Some(_) => return None,
                },
            },
            _ => return None,
        })
    }
}

/// A string member as its literal.
fn literal(member: Option<&RawValue>) -> Option<RawText> {
    member
        .filter(|member| member.get().starts_with('"'))
        .map(RawText::from_literal)
}
/// A string member with nothing escaped, as its text.
fn plain(member: Option<&RawValue>) -> Option<String> {
    let literal = member?.get();
    let text = literal.strip_prefix('"')?.strip_suffix('"')?;
    (!text.contains('\\')).then(|| text.to_owned())
}

/// Reads a [`Head`] member by member, each key borrowed (copied only when
/// it holds an escape), a repeated member refused as serde's derive
/// refuses it; on failure, the block's type (when it was read before) is
/// left in `kind`, to name the block.
struct HeadSeed<'k> {
    kind: &'k mut Option<String>,
}

impl<'de> serde::de::DeserializeSeed<'de> for HeadSeed<'_> {
    type Value = Head<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Head<'de>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for HeadSeed<'_> {
    type Value = Head<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a content block")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Head<'de>, A::Error> {
        let mut head = Head::default();
        let mut others = Vec::new();
        let read = read_members(&mut map, &HEAD_READ, &mut others, |at, map| {
            match at {
                0 => head.kind = map.next_value::<Option<Key>>()?.map(|Key(kind)| kind),
                at => *head.slots()[at - 1] = Some(map.next_value()?),
            }
            Ok(())
        });
        if let Err(err) = read {
            *self.kind = head.kind.map(|kind| kind.chars().take(40).collect());
            return Err(err);
        }
        head.others = others;
        Ok(head)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource {
    Base64 {
        media_type: String,
        data: String,
    },
    Url {
        url: String,
    },
    #[serde(other)]
    Unsupported,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DocumentSource {
    /// A plain-text document: its text is usable as is.
    Text { data: String },
    #[serde(other)]
    Unsupported,
}

/// A client tool has an `input_schema`; a server tool (web search, ...)
/// has a `type` instead.
#[derive(Debug, Clone, Deserialize)]
pub struct Tool {
    pub name: String,
    /// As the client wrote it: passed on without unescaping it.
    #[serde(default)]
    pub description: Option<super::RawText>,
    /// The schema as the client wrote it: passed on as text, never parsed.
    #[serde(default)]
    pub input_schema: Option<Box<RawValue>>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// A cache breakpoint after the tools: only its presence is read.
    #[serde(default)]
    pub cache_control: Option<serde::de::IgnoredAny>,
    /// Tool search's deferred loading: only its presence is read, `null`
    /// too (a target that refuses the member is not sent it).
    #[serde(default, deserialize_with = "present")]
    pub defer_loading: bool,
    /// Whether the input must follow the schema exactly.
    #[serde(default)]
    pub strict: Option<bool>,
    /// Examples of its input: only their presence is read.
    #[serde(default)]
    pub input_examples: Option<serde::de::IgnoredAny>,
}

/// That a member is there, whatever its value (`null` too): serde reaches
/// only a member that is.
fn present<'de, D: serde::Deserializer<'de>>(member: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(member).map(|_| true)
}

#[derive(Debug, Clone)]
pub enum ToolChoice {
    Auto {
        disable_parallel_tool_use: Option<bool>,
    },
    Any {
        disable_parallel_tool_use: Option<bool>,
    },
    Tool {
        name: String,
        disable_parallel_tool_use: Option<bool>,
    },
    None {},
}

impl Small for ToolChoice {
    const MEMBERS: &'static [&'static str] = &["type", "name", "disable_parallel_tool_use"];

    fn of<E: serde::de::Error>(members: Members) -> Result<Self, E> {
        let disable_parallel_tool_use = members.disable_parallel_tool_use;
        Ok(match Self::kind(&members)? {
            "auto" => ToolChoice::Auto {
                disable_parallel_tool_use,
            },
            "any" => ToolChoice::Any {
                disable_parallel_tool_use,
            },
            "tool" => ToolChoice::Tool {
                name: members.name.ok_or_else(|| E::missing_field("name"))?,
                disable_parallel_tool_use,
            },
            "none" => ToolChoice::None {},
            other => return Err(E::unknown_variant(other, &["auto", "any", "tool", "none"])),
        })
    }
}

impl ToolChoice {
    pub fn disables_parallel_calls(&self) -> bool {
        match self {
            ToolChoice::Auto {
                disable_parallel_tool_use,
            }
            | ToolChoice::Any {
                disable_parallel_tool_use,
            }
            | ToolChoice::Tool {
                disable_parallel_tool_use,
                ..
            } => *disable_parallel_tool_use == Some(true),
            ToolChoice::None {} => false,
        }
    }
}

/// The OpenAI effort a thinking budget of `tokens` reads as, in any
/// request that gives one: under 4,096 `low`, from 16,384 `high`, else
/// `medium`.
pub fn effort_of_budget(tokens: u64) -> &'static str {
    match tokens {
        0..4_096 => "low",
        16_384.. => "high",
        _ => "medium",
    }
}

#[derive(Debug, Clone)]
pub enum ThinkingConfig {
    Enabled {
        budget_tokens: Option<u64>,
    },
    Disabled {},
    /// The model decides how much to think.
    Adaptive {},
}

impl Small for ThinkingConfig {
    const MEMBERS: &'static [&'static str] = &["type", "budget_tokens"];

    fn of<E: serde::de::Error>(members: Members) -> Result<Self, E> {
        Ok(match Self::kind(&members)? {
            "enabled" => ThinkingConfig::Enabled {
                budget_tokens: members.budget_tokens,
            },
            "disabled" => ThinkingConfig::Disabled {},
            "adaptive" => ThinkingConfig::Adaptive {},
            other => {
                return Err(E::unknown_variant(
                    other,
                    &["enabled", "disabled", "adaptive"],
                ));
            }
        })
    }
}

/// `output_config`: its other members (`task_budget`) are named unknown
/// where the object does not go as sent.
#[derive(Debug, Clone)]
pub struct OutputConfig {
    /// `low`, `medium`, `high`, `xhigh` or `max`.
    pub effort: Option<String>,
    /// Structured output: the form the answer's text must take.
    pub format: Option<Noted<OutputFormat>>,
}

impl Small for OutputConfig {
    const MEMBERS: &'static [&'static str] = &["effort", "format"];

    fn of<E: serde::de::Error>(members: Members) -> Result<Self, E> {
        Ok(OutputConfig {
            effort: members.effort,
            format: members.format,
        })
    }
}

/// `output_config.format`: `json_schema` and its schema is the one kind
/// the API documents.
#[derive(Debug, Clone)]
pub struct OutputFormat {
    pub kind: String,
    /// As the client wrote it: passed on as text, never parsed.
    pub schema: Option<Box<RawValue>>,
}

impl Small for OutputFormat {
    const MEMBERS: &'static [&'static str] = &["type", "schema"];

    fn of<E: serde::de::Error>(members: Members) -> Result<Self, E> {
        let Some(kind) = members.kind else {
            return Err(E::missing_field("type"));
        };
        Ok(OutputFormat {
            kind,
            schema: members.schema,
        })
    }
}

/// A message as the gateway answers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageOut {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub role: &'static str,
    pub model: String,
    pub content: Vec<BlockOut>,
    pub stop_reason: Option<&'static str>,
    pub stop_sequence: Option<String>,
    pub usage: UsageOut,
}

/// A content block of an answer; in a stream's `content_block_start` the
/// text, thinking and input are empty.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockOut {
    Thinking {
        thinking: String,
        signature: String,
    },
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: super::Raw,
    },
}

/// Usage in Anthropic's terms: `input_tokens` excludes cache reads. All
/// four figures are always present (Claude Code sums the three inputs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UsageOut {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
}

/// A stream delta, matching its block's type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Delta {
    TextDelta { text: String },
    ThinkingDelta { thinking: String },
    InputJsonDelta { partial_json: String },
}

/// The kind of delta a provider's own stream event carries: its delta's
/// `type` ([`EventKind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaKind {
    Text,
    Thinking,
    InputJson,
    /// A delta of any other type (a signature, a citation).
    Other,
}

/// The type of block a provider's own `content_block_start` starts: its
/// block's `type` ([`EventKind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    Text,
    Thinking,
    ToolUse,
    /// A block of any other type (a server tool's, a redacted thinking).
    Other,
}

/// What a provider's own stream event is to those that pass it on (the
/// relay's key hold, the reasoning cache), known from its bytes without
/// reading them, in one pass over its `type` members: a block's delta or
/// start (named so, or, without a name, typed so), of the kind its
/// delta's or block's `type` names (the first such `type` one level in
/// that names a kind known here), or another event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Delta(DeltaKind),
    Start(BlockKind),
    Other,
}

impl EventKind {
    pub fn of(event: &crate::format::sse::Event) -> Self {
        let named = event.event.as_deref();
        let (mut delta, mut start) = (
            named == Some("content_block_delta"),
            named == Some("content_block_start"),
        );
        if named.is_some() && !delta && !start {
            return EventKind::Other;
        }
        let (mut delta_kind, mut block_kind) = (None, None);
        for (depth, kind) in types(event.data.as_bytes()) {
            match (depth, kind) {
                (1, b"content_block_delta") if named.is_none() => delta = true,
                (1, b"content_block_start") if named.is_none() => start = true,
                (2, b"text_delta") => delta_kind = delta_kind.or(Some(DeltaKind::Text)),
                (2, b"thinking_delta") => delta_kind = delta_kind.or(Some(DeltaKind::Thinking)),
                (2, b"input_json_delta") => delta_kind = delta_kind.or(Some(DeltaKind::InputJson)),
                (2, b"text") => block_kind = block_kind.or(Some(BlockKind::Text)),
                (2, b"thinking") => block_kind = block_kind.or(Some(BlockKind::Thinking)),
                (2, b"tool_use") => block_kind = block_kind.or(Some(BlockKind::ToolUse)),
                _ => continue,
            }
            // What is known is not changed by the rest of the text.
            if delta && delta_kind.is_some() || start && block_kind.is_some() {
                break;
            }
        }
        match (delta, start) {
            (true, _) => EventKind::Delta(delta_kind.unwrap_or(DeltaKind::Other)),
            (_, true) => EventKind::Start(block_kind.unwrap_or(BlockKind::Other)),
            _ => EventKind::Other,
        }
    }

    /// The kind of delta it is; `None` when it is not a block's delta.
    pub fn delta(self) -> Option<DeltaKind> {
        match self {
            EventKind::Delta(kind) => Some(kind),
            _ => None,
        }
    }

    /// Whether an event of this kind, named `name`, adds to the answer
    /// (one that adds nothing is a keep-alive): any but a `ping`, and a
    /// text, thinking or tool-input delta only when its piece (its
    /// [`DeltaKind::member`]: `None` when it could not be read, `""` when
    /// absent) is not empty. The one rule for the relay, which holds a
    /// client's stream, and for a whole answer being assembled.
    pub fn adds(self, name: Option<&str>, piece: Option<&str>) -> bool {
        match self.delta().and_then(DeltaKind::member) {
            Some(_) => piece != Some(""),
            None => name != Some("ping"),
        }
    }
}

impl DeltaKind {
    /// Whether `event` is a block's delta, of whatever kind.
    pub fn is_delta(event: &crate::format::sse::Event) -> bool {
        match event.event.as_deref() {
            Some(name) => name == "content_block_delta",
            None => has_type(&event.data, 1, "content_block_delta"),
        }
    }

    /// The member of its delta that holds its piece; `None` for another
    /// kind.
    pub fn member(self) -> Option<&'static str> {
        match self {
            DeltaKind::Text => Some("text"),
            DeltaKind::Thinking => Some("thinking"),
            DeltaKind::InputJson => Some("partial_json"),
            DeltaKind::Other => None,
        }
    }

    /// Its `type`, as the delta names it; `None` for another kind.
    pub fn name(self) -> Option<&'static str> {
        match self {
            DeltaKind::Text => Some("text_delta"),
            DeltaKind::Thinking => Some("thinking_delta"),
            DeltaKind::InputJson => Some("input_json_delta"),
            DeltaKind::Other => None,
        }
    }
}

/// Whether `data`, a stream event's JSON object, has a `"type"` member
/// `depth` objects deep (1: the event's own; 2: its block's, its delta's
/// or its message's) whose value is `kind` ([`types`]).
pub fn has_type(data: &str, depth: usize, kind: &str) -> bool {
    types(data.as_bytes()).any(|(at, value)| at == depth && value == kind.as_bytes())
}

/// The values of the `"type"` members of `data`, one JSON object's text,
/// in order, each with how many objects deep it lies ([`values_of`]); a
/// value is as written between its quotes (one with an escape is passed
/// over: no kind has one).
fn types(data: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    values_of(data, b"type").filter_map(|(depth, value)| {
        let value = string(value, 0).filter(|_| value.first() == Some(&b'"'))?;
        (!value.escaped).then_some((depth, value.text))
    })
}

/// Where each value of a member named `name` starts in `data`, one JSON
/// object's text (the rest of the text from there), in order, each with
/// how many objects deep it lies, read from the text without a tree:
/// strings are stepped over whole, so none can spell a member.
fn values_of<'a>(data: &'a [u8], name: &'a [u8]) -> impl Iterator<Item = (usize, &'a [u8])> {
    let mut at = 0;
    let mut depth: usize = 0;
    std::iter::from_fn(move || {
        loop {
            let found = at + memchr::memchr3(b'"', b'{', b'}', &data[at..])?;
            at = found + 1;
            match data[found] {
                b'{' => depth += 1,
                b'}' => depth = depth.saturating_sub(1),
                _ => {
                    let key = string(data, found)?;
                    at = key.end + 1;
                    let rest = data[at..].trim_ascii_start();
                    let Some(rest) = rest.strip_prefix(b":") else {
                        // A string value, stepped over.
                        continue;
                    };
                    let rest = rest.trim_ascii_start();
                    at = data.len() - rest.len();
                    if rest.first() == Some(&b'"') {
                        // The value is a string: the next key is after it.
                        at = string(data, at)?.end + 1;
                    }
                    if key.text == name {
                        return Some((depth, rest));
                    }
                }
            }
        }
    })
}

/// A provider's stream event's own `index` (a block's), read from its
/// bytes as [`has_type`] reads a type: `None` when it has none, or one
/// that is not a whole number.
pub fn block_index(data: &str) -> Option<u64> {
    let (_, rest) = values_of(data.as_bytes(), b"index").find(|(depth, _)| *depth == 1)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let after = rest.get(digits).copied();
    if digits == 0 || matches!(after, Some(b'.' | b'e' | b'E')) {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// The order a provider's own stream keeps, checked event by event for a
/// client that gets its events as they came: one `message_start`, blocks
/// started in turn from 0, one open at a time, each delta and end for the
/// open block. A chat client's answer is rebuilt from the events and
/// needs none of it; a Messages client's SDK indexes its blocks by these
/// numbers. A stream without `message_start` is taken, as its reading
/// takes it; events of a kind not known here pass.
#[derive(Debug, Default)]
pub struct BlockOrder {
    started: bool,
    open: Option<u64>,
    next: u64,
}

impl BlockOrder {
    /// Takes `event` in its turn, or says how it breaks the order.
    pub fn take(&mut self, event: &crate::format::sse::Event) -> Result<(), String> {
        let kind = match event.event.as_deref() {
            Some(name) => name.as_bytes(),
            None => types(event.data.as_bytes())
                .find(|(depth, _)| *depth == 1)
                .map_or(&b""[..], |(_, kind)| kind),
        };
        let index = || block_index(&event.data);
        let open = |index: Option<u64>| index.is_some() && index == self.open;
        let name =
            |index: Option<u64>| index.map_or_else(|| "with no index".into(), |i| i.to_string());
        match kind {
            b"message_start" if self.started => Err("a second message_start".into()),
            b"message_start" => {
                self.started = true;
                Ok(())
            }
            b"content_block_start" => match (index(), self.open) {
                (_, Some(open)) => {
                    Err(format!("a block started while block {open} was still open"))
                }
                (Some(index), None) if index == self.next => {
                    self.open = Some(index);
                    self.next += 1;
                    Ok(())
                }
                (index, None) => Err(format!(
                    "block {} started where block {} came next",
                    name(index),
                    self.next
                )),
            },
            b"content_block_delta" if !open(index()) => Err(format!(
                "a delta for block {}, which was not open",
                name(index())
            )),
            b"content_block_stop" if !open(index()) => Err(format!(
                "the end of block {}, which was not open",
                name(index())
            )),
            b"content_block_stop" => {
                self.open = None;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// A JSON string's text between its quotes, as written.
struct Written<'a> {
    text: &'a [u8],
    /// It holds an escape.
    escaped: bool,
    /// Where its closing quote is.
    end: usize,
}

/// The string whose opening quote is at `open` in `data`; `None` when it
/// does not close.
fn string(data: &[u8], open: usize) -> Option<Written<'_>> {
    let mut at = open + 1;
    let mut escaped = false;
    loop {
        let found = at + memchr::memchr2(b'"', b'\\', &data[at..])?;
        if data[found] == b'"' {
            return Some(Written {
                text: &data[open + 1..found],
                escaped,
                end: found,
            });
        }
        escaped = true;
        at = found + 2;
        if at > data.len() {
            return None;
        }
    }
}

/// One stream event; its `type` is also the SSE event name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    MessageStart {
        message: MessageOut,
    },
    ContentBlockStart {
        index: usize,
        content_block: BlockOut,
    },
    ContentBlockDelta {
        index: usize,
        delta: Delta,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        delta: MessageDeltaBody,
        usage: UsageOut,
    },
    MessageStop,
    Ping,
    Error {
        error: ErrorBody,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageDeltaBody {
    pub stop_reason: Option<&'static str>,
    pub stop_sequence: Option<String>,
}

/// `{"type": T, "message": M}`, inside `{"type": "error", "error": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorBody {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub message: String,
}

impl StreamEvent {
    pub fn name(&self) -> &'static str {
        match self {
            StreamEvent::MessageStart { .. } => "message_start",
            StreamEvent::ContentBlockStart { .. } => "content_block_start",
            StreamEvent::ContentBlockDelta { .. } => "content_block_delta",
            StreamEvent::ContentBlockStop { .. } => "content_block_stop",
            StreamEvent::MessageDelta { .. } => "message_delta",
            StreamEvent::MessageStop => "message_stop",
            StreamEvent::Ping => "ping",
            StreamEvent::Error { .. } => "error",
        }
    }

    /// The event as SSE: `event: NAME` then `data: JSON`.
    pub fn to_sse(&self) -> String {
        let mut out = Vec::new();
        self.write_sse(&mut out);
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }

    /// [`Self::to_sse`], appended to `out`.
    pub fn write_sse(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(self.name().as_bytes());
        out.extend_from_slice(b"\ndata: ");
        serde_json::to_writer(&mut *out, self).expect("stream events always serialize");
        out.extend_from_slice(b"\n\n");
    }
}

/// Anthropic's error type for an HTTP status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_block_holding_the_attribution_line_alone_is_one() {
        for (raw, expected) in [
            (
                r#"{"type":"text","text":"x-anthropic-billing-header: cch=1;"}"#,
                true,
            ),
            (
                r#"{"type":"text","text":"x-anthropic-billing-header: cch=2;","cache_control":{"type":"ephemeral"}}"#,
                true,
            ),
            (
                r#"{"type":"text","text":"\u0078-anthropic-billing-header: cch=3;"}"#,
                true,
            ),
            (
                r#"{"type":"text","text":"x-anthropic-billing-header: cch=1;\nmore"}"#,
                false,
            ),
            (r#"{"type":"text","text":"You are Claude Code."}"#, false),
            (r#"{"type":"text","text":5}"#, false),
            (
                r#"{"type":"image","source":{"type":"url","url":"http://x"}}"#,
                false,
            ),
            ("5", false),
        ] {
            assert_eq!(is_attribution_block(raw), expected, "{raw}");
        }
    }

    #[test]
    fn error_types_follow_the_status() {
        for (status, kind) in [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (402, "billing_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (405, "invalid_request_error"),
            (408, "invalid_request_error"),
            (413, "request_too_large"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (502, "api_error"),
            (503, "overloaded_error"),
            (504, "timeout_error"),
            (529, "overloaded_error"),
        ] {
            assert_eq!(error_type(status), kind, "{status}");
        }
    }

    #[test]
    fn requests_name_the_bad_field() {
        let err = MessagesRequest::parse(br#"{"messages": [{"role": "user", "content": 3}]}"#)
            .unwrap_err();
        assert!(err.to_string().contains("messages[0]"), "{err}");
        let err = MessagesRequest::parse(br#"{"model": "m"}"#).unwrap_err();
        assert!(err.to_string().contains("messages"), "{err}");
        let err = MessagesRequest::parse(
            br#"{"messages": [], "tools": [{"name": "t", "description": 5}]}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("tools[0].description: invalid type: integer `5`, expected a string"),
            "{err}"
        );
    }

    /// A document's `citations` ask for some unless they are `null` or
    /// `{"enabled": false}`.
    #[test]
    fn a_documents_citations_ask_for_some_unless_switched_off() {
        for (citations, asked) in [
            (r#"{"enabled": true}"#, true),
            (r#"{"enabled": false}"#, false),
            ("null", false),
            ("7", true),
        ] {
            let body = format!(
                r#"{{"messages": [{{"role": "user", "content": [{{"type": "document",
                "source": {{"type": "text", "media_type": "text/plain", "data": "d"}},
                "citations": {citations}}}]}}]}}"#
            );
            let request = MessagesRequest::parse(body.as_bytes()).unwrap();
            let Content::Blocks(blocks) = &request.messages[0].content else {
                panic!("blocks")
            };
            let Some(Block::Document { cited, .. }) = blocks.list.first() else {
                panic!("a document")
            };
            assert_eq!(*cited, asked, "{citations}");
        }
    }

    /// `thinking`, `tool_choice`, `metadata` and `output_config` (and its
    /// `format`) are read member by member: serde's words for what is
    /// wrong, and the members no row gives them kept by name.
    #[test]
    fn the_small_objects_name_what_is_wrong_and_keep_their_unknown_members() {
        for (member, expected) in [
            (
                r#""thinking": {"budget_tokens": 5}"#,
                "thinking: missing field `type`",
            ),
            (
                r#""thinking": {"type": "on"}"#,
                "thinking: unknown variant `on`, expected one of `enabled`, `disabled`, `adaptive`",
            ),
            (
                r#""tool_choice": {"type": "tool"}"#,
                "tool_choice: missing field `name`",
            ),
            (
                r#""tool_choice": {"type": "auto", "type": "any"}"#,
                "tool_choice: duplicate field `type`",
            ),
            (
                r#""metadata": {"user_id": 5}"#,
                "metadata.user_id: invalid type: integer `5`",
            ),
            (
                r#""metadata": []"#,
                "metadata: invalid type: sequence, expected an object",
            ),
            (
                r#""output_config": {"effort": 5}"#,
                "output_config.effort: invalid type: integer `5`",
            ),
            (
                r#""output_config": {"format": {"schema": {}}}"#,
                "output_config.format: missing field `type`",
            ),
        ] {
            let body = format!(r#"{{"messages": [], {member}}}"#);
            let err = MessagesRequest::parse(body.as_bytes()).unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        }
        let read = MessagesRequest::parse(
            br#"{"messages": [],
                "thinking": {"type": "enabled", "budget_tokens": 2048, "display": "omitted"},
                "tool_choice": {"type": "tool", "name": "f", "x": null},
                "metadata": {"user_id": "u", "session": "s"},
                "output_config": {"effort": "low", "task_budget": {"total": 4},
                                  "format": {"type": "json_schema", "schema": {"a": 1},
                                             "name": "n"}}}"#,
        )
        .unwrap();
        let thinking = read.thinking.unwrap();
        assert!(matches!(
            thinking.value,
            ThinkingConfig::Enabled {
                budget_tokens: Some(2048)
            }
        ));
        assert_eq!(thinking.unknown, ["display".into()]);
        // A member that is `null` is absent.
        assert!(read.tool_choice.unwrap().unknown.is_empty());
        let metadata = read.metadata.unwrap();
        assert_eq!(metadata.user_id.as_deref(), Some("u"));
        assert_eq!(metadata.unknown, ["session".into()]);
        let config = read.output_config.unwrap();
        assert_eq!(config.effort.as_deref(), Some("low"));
        assert_eq!(config.unknown, ["task_budget".into()]);
        let format = config.value.format.unwrap();
        assert_eq!(format.kind, "json_schema");
        assert_eq!(
            format.schema.as_deref().map(RawValue::get),
            Some(r#"{"a": 1}"#)
        );
        assert_eq!(format.unknown, ["name".into()]);
    }

    #[test]
    fn a_block_that_does_not_read_is_named_by_index_and_type() {
        let err = MessagesRequest::parse(
            br#"{"messages": [{"role": "assistant", "content": [{"type": "text", "text": "a"},
                {"type": "tool_use", "name": "Bash", "input": {}}]}]}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "invalid Messages request: messages[0].content: block 1 (tool_use): missing field `id`"
            ),
            "{err}"
        );
        let err = MessagesRequest::parse(
            br#"{"messages": [{"role": "user", "content": [{"text": "a"}]}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("block 0 (no type)"), "{err}");
    }

    #[test]
    fn a_tools_use_and_result_read_as_their_members_say() {
        let read = |raw: &str| {
            Block::read_marked(raw)
                .map(|(block, mark)| (format!("{block:?}"), mark.map(|m| m.get().to_owned())))
        };
        // A tool result's text keeps the client's literal, escapes and all.
        let (block, mark) = read(
            r#"{"type":"tool_result","tool_use_id":"toolu_1","content":"a\n\u00e9 \"b\"","is_error":true,"cache_control":{"type":"ephemeral"}}"#,
        )
        .unwrap();
        assert_eq!(
            block,
            r#"ToolResult { tool_use_id: "toolu_1", content: Some(Text(RawText(RawValue("a\n\u00e9 \"b\"")))), is_error: Some(true) }"#
        );
        assert_eq!(mark.as_deref(), Some(r#"{"type":"ephemeral"}"#));
        let (block, _) = read(
            r#"{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"x"}],"is_error":null}"#,
        )
        .unwrap();
        assert!(
            block.contains("content: Some(Blocks(") && block.ends_with("is_error: None }"),
            "{block}"
        );
        // An escaped id is read by serde, unescaped.
        let (block, _) = read(
            r#"{"type":"tool_use","id":"to\u006fl_1","name":"Bash","input":{"command":"ls"}}"#,
        )
        .unwrap();
        assert_eq!(
            block,
            r#"ToolUse { id: "tool_1", name: "Bash", input: RawValue({"command":"ls"}) }"#
        );
        // Members of another shape, or repeated, are serde's errors, named.
        for (raw, kind, error) in [
            (
                r#"{"type":"tool_result","tool_use_id":"t","is_error":"yes"}"#,
                "tool_result",
                "invalid type: string \"yes\", expected a boolean",
            ),
            (
                r#"{"type":"tool_result","tool_use_id":"t","content":5}"#,
                "tool_result",
                "a string or an array of content blocks",
            ),
            (
                r#"{"type":"tool_result","tool_use_id":"t","content":"a","content":"b"}"#,
                "tool_result",
                "duplicate field `content`",
            ),
            (
                r#"{"type":"tool_use","id":7,"name":"Bash"}"#,
                "tool_use",
                "invalid type: integer `7`, expected a string",
            ),
        ] {
            let (named, err) = Block::read_marked(raw).unwrap_err();
            assert_eq!(named, kind, "{raw}");
            assert!(err.to_string().contains(error), "{raw}: {err}");
        }
    }

    #[test]
    fn the_billing_header_line_is_stripped_from_system_text() {
        for (text, expected) in [
            ("x-anthropic-billing-header: cch=1;", ""),
            (
                "x-anthropic-billing-header: cch=1;\nYou are Claude Code.",
                "You are Claude Code.",
            ),
            ("You are Claude Code.", "You are Claude Code."),
            (
                "Say x-anthropic-billing-header: no",
                "Say x-anthropic-billing-header: no",
            ),
        ] {
            assert_eq!(without_billing_header(text), expected, "{text:?}");
        }
    }

    #[test]
    fn the_billing_header_is_stripped_from_a_literal_as_from_its_text() {
        for json in [
            r#""x-anthropic-billing-header: cch=1;""#,
            r#""x-anthropic-billing-header: cch=1;\n\nYou are \"Claude Code\".""#,
            // Letters of the header escaped: still the header.
            r#""\u0078-anthropic-billing-header: cch=1;\nYou are Claude Code.""#,
            r#""You are Claude Code.\nx-anthropic-billing-header: no""#,
            r#""Say \"x-anthropic-billing-header:\" twice""#,
            r#""x-anthropic-billing-heade\u0072: cch=1;\nrest""#,
            r#""x\ny""#,
            r#""""#,
        ] {
            let literal: RawText = serde_json::from_str(json).unwrap();
            let stripped = literal_without_billing_header(&literal);
            let text: String = serde_json::from_str(stripped.get()).unwrap();
            assert_eq!(text, without_billing_header(&literal.text()), "{json}");
            // Untouched literals are the client's own, not a copy.
            if text == literal.text() {
                assert!(matches!(stripped, Cow::Borrowed(_)), "{json}");
            }
        }
    }

    #[test]
    fn events_are_named_like_their_type() {
        let event = StreamEvent::ContentBlockStop { index: 2 };
        assert_eq!(
            event.to_sse(),
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n"
        );
        assert_eq!(
            StreamEvent::Ping.to_sse(),
            "event: ping\ndata: {\"type\":\"ping\"}\n\n"
        );
    }

    /// A stream event named `name` (none with `None`) holding `data`.
    fn event(name: Option<&str>, data: &str) -> crate::format::sse::Event {
        crate::format::sse::Event {
            event: name.map(str::to_string),
            data: data.into(),
            id: None,
        }
    }

    #[test]
    fn a_delta_is_known_by_its_type_members() {
        let delta = |delta: &str| {
            let data = format!(r#"{{"type":"content_block_delta","index":0,"delta":{delta}}}"#);
            EventKind::of(&event(Some("content_block_delta"), &data)).delta()
        };
        use DeltaKind::{InputJson, Other, Text, Thinking};
        assert_eq!(delta(r#"{"type":"text_delta","text":"hi"}"#), Some(Text));
        assert_eq!(delta(r#"{"type" : "text_delta","text":"x"}"#), Some(Text));
        // A thinking or a tool's input that spells another kind holds it
        // escaped, or follows its own key when it is the word alone.
        let cases = [
            (
                r#"{"type":"thinking_delta","thinking":"a \"text_delta\" event"}"#,
                Thinking,
            ),
            (
                r#"{"type":"thinking_delta","thinking":"text_delta"}"#,
                Thinking,
            ),
            (
                r#"{"type":"input_json_delta","partial_json":"{\"k\": \"text_delta\"}"}"#,
                InputJson,
            ),
            (
                r#"{"type":"input_json_delta","partial_json":"text_delta"}"#,
                InputJson,
            ),
            (r#"{"type":"text_delta","text":"thinking_delta"}"#, Text),
            (
                r#"{"type":"signature_delta","signature":"text_delta"}"#,
                Other,
            ),
            // A type written with an escape is no kind the gateway knows.
            (r#"{"type":"text_delta\u0041","text":"x"}"#, Other),
        ];
        for (data, kind) in cases {
            assert_eq!(delta(data), Some(kind), "{data}");
        }
        // Without a name, the event's own type says it is a delta.
        let unnamed = r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"t"}}"#;
        assert_eq!(EventKind::of(&event(None, unnamed)).delta(), Some(Thinking));
        let start =
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text_delta"}}"#;
        assert_eq!(
            EventKind::of(&event(Some("content_block_start"), start)).delta(),
            None
        );
        assert_eq!(EventKind::of(&event(None, start)).delta(), None);
        let spelled = r#"{"type":"ping","note":"content_block_delta"}"#;
        assert_eq!(EventKind::of(&event(None, spelled)).delta(), None);
        // Only the event's own type says what it is, and only its delta's
        // the kind: a tool's input may hold members called `type`.
        let nested = r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"x","name":"emit","input":{"type":"content_block_delta"}}}"#;
        assert_eq!(EventKind::of(&event(None, nested)).delta(), None);
        assert!(has_type(nested, 2, "tool_use") && !has_type(nested, 1, "tool_use"));
        let deep = r#"{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"type":"text_delta"}}}"#;
        assert_eq!(EventKind::of(&event(None, deep)).delta(), Some(Other));
        // Text that is not one object reads without harm: a brace too many
        // is no depth below the event's own.
        for odd in [r#""type"#, r#"{"type":"te\"#, r#"{"a":"\"#] {
            assert_eq!(EventKind::of(&event(None, odd)).delta(), None, "{odd}");
        }
        let unbalanced = r#"}}{"type":"content_block_delta","delta":{"type":"text_delta"}}"#;
        assert_eq!(EventKind::of(&event(None, unbalanced)).delta(), Some(Text));
        // A block's start is known by its block's type, whatever the
        // block holds.
        let started = |block: &str| {
            let data =
                format!(r#"{{"type":"content_block_start","index":0,"content_block":{block}}}"#);
            (
                EventKind::of(&event(Some("content_block_start"), &data)),
                EventKind::of(&event(None, &data)),
            )
        };
        for (block, kind) in [
            (r#"{"type":"text","text":"tool_use"}"#, BlockKind::Text),
            (
                r#"{"type":"thinking","thinking":"","signature":""}"#,
                BlockKind::Thinking,
            ),
            (
                r#"{"type":"tool_use","id":"x","name":"emit","input":{"type":"text"}}"#,
                BlockKind::ToolUse,
            ),
            (
                r#"{"type":"server_tool_use","id":"x","name":"web_search"}"#,
                BlockKind::Other,
            ),
        ] {
            let kind = EventKind::Start(kind);
            assert_eq!(started(block), (kind, kind), "{block}");
        }
        for other in [
            r#"{"type":"message_stop"}"#,
            r#"{"type":"ping","note":"content_block_start"}"#,
        ] {
            assert_eq!(
                EventKind::of(&event(None, other)),
                EventKind::Other,
                "{other}"
            );
        }
        assert_eq!(Thinking.name(), Some("thinking_delta"));
        assert_eq!(Other.name(), None);
    }

    #[test]
    fn a_block_s_index_is_the_event_s_own_whole_number() {
        let cases = [
            (
                r#"{"type":"content_block_delta","index":3,"delta":{}}"#,
                Some(3),
            ),
            (r#"{"index" : 12 ,"type":"content_block_stop"}"#, Some(12)),
            // A nested one, or one a string spells, is not the event's.
            (r#"{"type":"x","delta":{"index":4}}"#, None),
            (r#"{"type":"x","text":"\"index\":5"}"#, None),
            (r#"{"index":"1"}"#, None),
            (r#"{"index":1.5}"#, None),
            (r#"{"index":-1}"#, None),
            (r#"{"index":1e3}"#, None),
            (r#"{"index":99999999999999999999999}"#, None),
        ];
        for (data, index) in cases {
            assert_eq!(block_index(data), index, "{data}");
        }
    }

    /// The order a Messages client's SDK relies on: each fault named.
    #[test]
    fn a_stream_out_of_block_order_is_named_where_it_breaks() {
        let start = r#"{"type":"message_start","message":{}}"#;
        let block = |kind: &str, index: u64| format!(r#"{{"type":"{kind}","index":{index}}}"#);
        let well = [
            start.to_string(),
            block("content_block_start", 0),
            block("content_block_delta", 0),
            block("content_block_stop", 0),
            r#"{"type":"ping"}"#.to_string(),
            block("content_block_start", 1),
            block("content_block_delta", 1),
            block("content_block_stop", 1),
            r#"{"type":"message_delta","delta":{}}"#.to_string(),
            r#"{"type":"message_stop"}"#.to_string(),
        ];
        let mut order = BlockOrder::default();
        for data in &well {
            // Named as Anthropic names them, or only typed.
            let name = data.split('"').nth(3).map(str::to_string);
            assert_eq!(order.take(&event(name.as_deref(), data)), Ok(()), "{data}");
        }
        let broken: [(&[String], &str); 5] = [
            (
                &[start.into(), block("content_block_start", 1)],
                "block 1 started where block 0 came next",
            ),
            (
                &[start.into(), block("content_block_delta", 0)],
                "a delta for block 0, which was not open",
            ),
            (
                &[
                    block("content_block_start", 0),
                    block("content_block_stop", 7),
                ],
                "the end of block 7, which was not open",
            ),
            (
                &[
                    block("content_block_start", 0),
                    block("content_block_start", 1),
                ],
                "a block started while block 0 was still open",
            ),
            (&[start.into(), start.into()], "a second message_start"),
        ];
        for (events, why) in broken {
            let mut order = BlockOrder::default();
            let (last, before) = events.split_last().unwrap();
            for data in before {
                assert_eq!(order.take(&event(None, data)), Ok(()), "{data}");
            }
            assert_eq!(order.take(&event(None, last)), Err(why.to_string()));
        }
    }
}
