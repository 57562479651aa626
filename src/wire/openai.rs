//! The chat-completions request and response as the gateway sees them: the
//! client's request read once, without building it (its members and a
//! summary of each message, the bytes kept as they came), and the few things
//! read from or written into an answer.

use std::borrow::Cow;
use std::collections::HashSet;

use bytes::Bytes;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::usage::Usage;
use crate::format::body::{
    self, Chunks, Edits, ElementRef, Items, Member, ObjectEdits, ScanError, Scanned,
};
use crate::format::scan::KnownValues;

/// The `reasoning_effort` levels a chat request may ask for, lowest first:
/// OpenAI's, and `max`, Moonshot's highest (what OpenClaw sends K3).
pub const EFFORTS: [&str; 7] = ["none", "minimal", "low", "medium", "high", "xhigh", "max"];

/// A client's request, read once. Members the gateway does not know stay in
/// the client's bytes untouched and reach the provider as sent.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    body: Bytes,
    members: Vec<Member>,
    /// Where each message and its members lie in `body`.
    message_items: Items,
    messages: Vec<MessageInfo>,
    model: Option<String>,
    pub stream: bool,
}

/// What the rules need to know of one message; its content is not read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageInfo {
    /// Borrowed for the five roles of the API: no allocation per message.
    pub role: Cow<'static, str>,
    /// The ids of an assistant message's `tool_calls`, in order.
    pub tool_call_ids: Vec<String>,
    /// A tool result's `tool_call_id`.
    pub tool_call_id: Option<String>,
    pub has_reasoning_content: bool,
}

impl MessageInfo {
    /// The summary of a message (an item of `messages` scanned with its
    /// `tool_calls`); `None` when it has no string `role`. Only the small
    /// members are read.
    fn read(body: &[u8], item: ElementRef) -> Option<Self> {
        let members = item.members()?;
        let member = |key: &str| Member::last(members, key).map(|m| &body[m.value.clone()]);
        let role = match member("role")? {
            b"\"system\"" => Cow::Borrowed("system"),
            b"\"user\"" => Cow::Borrowed("user"),
            b"\"assistant\"" => Cow::Borrowed("assistant"),
            b"\"tool\"" => Cow::Borrowed("tool"),
            b"\"developer\"" => Cow::Borrowed("developer"),
            raw => Cow::Owned(string(raw)?),
        };
        Some(MessageInfo {
            role,
            tool_call_ids: tool_call_ids(body, item).unwrap_or_default(),
            tool_call_id: member("tool_call_id").and_then(string),
            has_reasoning_content: member("reasoning_content").is_some_and(|raw| raw != b"null"),
        })
    }
}

/// The calls of a message's `tool_calls` (its last member of that name),
/// as the scan recorded them; `None` when it is not an array.
fn tool_calls<'e>(
    body: &[u8],
    item: ElementRef<'e>,
) -> Option<impl ExactSizeIterator<Item = ElementRef<'e>>> {
    let members = item.members()?;
    let last = Member::last(members, "tool_calls")?;
    // The scan records the last `tool_calls` that is an array: it is this
    // member when this one is an array.
    if body[last.value.start] != b'[' {
        return None;
    }
    item.nested()
}

/// The ids of a message's tool calls, in order (calls without one are
/// skipped); `None` when `tool_calls` is absent or not an array of objects
/// each with at most one `id`, a string or null.
fn tool_call_ids(body: &[u8], item: ElementRef) -> Option<Vec<String>> {
    let calls = tool_calls(body, item)?;
    let mut ids = Vec::with_capacity(calls.len());
    for call in calls {
        let mut id = call.members()?.iter().filter(|m| m.key == "id");
        let member = match (id.next(), id.next()) {
            (None, _) => continue,
            (Some(member), None) => member,
            (Some(_), Some(_)) => return None,
        };
        match &body[member.value.clone()] {
            b"null" => {}
            raw => ids.push(string(raw)?),
        }
    }
    Some(ids)
}

/// The JSON value `raw` (scanned, so well-formed) as a string; `None` when
/// it is not one. A literal without escapes, as ids and roles are, is
/// copied as it stands instead of read through serde_json, which cost more
/// than the copy on a turn with dozens of tool-call ids.
fn string(raw: &[u8]) -> Option<String> {
    let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if memchr::memchr(b'\\', inner).is_none() {
        return std::str::from_utf8(inner).ok().map(str::to_owned);
    }
    serde_json::from_slice(raw).ok()
}

/// Whether a content array (scanned, so well-formed) holds a part of type
/// `image_url`.
fn has_image_part(content: &[u8]) -> bool {
    let Ok(parts) = crate::format::scan::element_ranges(content) else {
        return false;
    };
    parts.into_iter().any(|part| {
        body::members(&content[part.clone()]).is_ok_and(|members| {
            Member::last(&members, "type").is_some_and(|kind| {
                let value = &content[part.start + kind.value.start..part.start + kind.value.end];
                value == b"\"image_url\""
            })
        })
    })
}

/// What a request's content parts hold besides their types
/// ([`ChatRequest::part_kinds`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartsHold {
    /// A part's `cache_control` (not `null`).
    pub cache_control: bool,
    /// An `image_url` part's `detail` (not `null`).
    pub image_detail: bool,
    /// What a transport that writes the parts anew has no place for, each
    /// once, the first [`super::MAX_UNKNOWN`]: a member of a text or
    /// `image_url` part that the API does not define
    /// (`messages[].content[text].key`, `...[image_url].image_url.key`),
    /// and a part other than text in a system, developer or assistant
    /// message, whose content the API takes as text
    /// (`messages[system].content[image_url]`).
    pub unknown: Vec<Box<str>>,
}

impl PartsHold {
    fn unknown(&mut self, name: std::fmt::Arguments) {
        if self.unknown.len() < super::MAX_UNKNOWN {
            let name = name.to_string();
            if !self.unknown.iter().any(|known| **known == *name) {
                self.unknown.push(name.into());
            }
        }
    }
}

/// The members of a text part and of an `image_url` part, and of the
/// latter's `image_url` object, as the API defines them.
const TEXT_PART: &[&str] = &["type", "text", "cache_control"];
const IMAGE_PART: &[&str] = &["type", "image_url", "cache_control"];
const IMAGE_URL: &[&str] = &["url", "detail"];

/// The members of `object` (its bytes; scanned, so well-formed) that are
/// not `known` nor `null`.
fn others<'o>(
    object: &'o [u8],
    members: &'o [Member],
    known: &'o [&str],
) -> impl Iterator<Item = &'o str> {
    members
        .iter()
        .filter(|m| !known.contains(&&*m.key) && &object[m.value.clone()] != b"null")
        .map(|m| &*m.key)
}

/// The objects of a content array (scanned, so well-formed): where each
/// lies in `content` and its members (ranges within the part).
fn parts(content: &str) -> impl Iterator<Item = (std::ops::Range<usize>, Vec<Member>)> + '_ {
    let bytes = content.as_bytes();
    crate::format::scan::element_ranges(bytes)
        .unwrap_or_default()
        .into_iter()
        .filter_map(move |part| {
            let members = body::members(&bytes[part.clone()]).ok()?;
            Some((part, members))
        })
}

/// Why a request body was refused; the message names the field.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RequestError {
    #[error("the request body is not valid JSON: {0}")]
    Json(String),
    #[error("{0}")]
    Invalid(String),
    /// A request with no message: chat requires one.
    #[error("`messages` must contain at least one message")]
    NoMessage,
}

impl ChatRequest {
    /// Reads `body`, every member of it.
    pub fn parse(body: impl Into<Bytes>) -> Result<Self, RequestError> {
        Self::read(body.into(), None, true)
    }

    /// The settings of a request alone (its top-level members, with
    /// `messages` empty), as a body of another format's facts hold them
    /// (`wire::facts::Noted`).
    pub fn of_settings(body: impl Into<Bytes>) -> Result<Self, RequestError> {
        Self::read(body.into(), None, false)
    }

    /// [`ChatRequest::parse`], a large member value that `known` holds
    /// (one an earlier request sent byte for byte) stepped over unread.
    pub fn parse_with(body: impl Into<Bytes>, known: &KnownValues) -> Result<Self, RequestError> {
        Self::read(body.into(), Some(known), true)
    }

    /// The request in `body`; one without a message is refused when
    /// `a_message` is asked for.
    fn read(
        body: Bytes,
        known: Option<&KnownValues>,
        a_message: bool,
    ) -> Result<Self, RequestError> {
        let invalid = |message: &str| Err(RequestError::Invalid(message.to_string()));
        let scanned = crate::format::scan::request(&body, "messages", "tool_calls", known);
        let Scanned { members, items } = match scanned {
            Ok(scanned) => scanned,
            Err(ScanError::NotObject) => {
                return invalid("the request body must be a JSON object");
            }
            Err(err) => return Err(RequestError::Json(err.to_string())),
        };
        let raw = |key: &str| Member::last(&members, key).map(|m| &body[m.value.clone()]);
        if members.iter().filter(|m| m.key == "messages").count() > 1 {
            return invalid("`messages` must appear once");
        }
        let message_items = match (raw("messages"), items) {
            (None, _) => return invalid("`messages` is required"),
            (Some(_), None) => return invalid("`messages` must be an array"),
            (Some(_), Some(items)) if items.is_empty() && a_message => {
                return Err(RequestError::NoMessage);
            }
            (Some(_), Some(items)) => items,
        };
        let mut messages = Vec::with_capacity(message_items.len());
        for (index, item) in message_items.iter().enumerate() {
            let info = MessageInfo::read(&body, item);
            match info {
                Some(info) => messages.push(info),
                None => {
                    return Err(RequestError::Invalid(format!(
                        "`messages[{index}]` must be an object with a string `role`"
                    )));
                }
            }
        }
        let model = match raw("model").map(serde_json::from_slice::<Option<String>>) {
            None => None,
            Some(Ok(model)) => model,
            Some(Err(_)) => return invalid("`model` must be a string"),
        };
        let stream = match raw("stream").map(serde_json::from_slice::<Option<bool>>) {
            None => false,
            Some(Ok(stream)) => stream.unwrap_or(false),
            Some(Err(_)) => return invalid("`stream` must be a boolean"),
        };
        Ok(Self {
            body,
            members,
            message_items,
            messages,
            model,
            stream,
        })
    }

    /// The JSON text of member `key` of message `index`, as the client
    /// wrote it.
    pub fn message_member(&self, index: usize, key: &str) -> Option<&str> {
        let members = self.message_items.get(index)?.members()?;
        let member = Member::last(members, key)?;
        Some(self.text(member))
    }

    /// Message `index` as its JSON text, as the client wrote it.
    pub fn message_bytes(&self, index: usize) -> &[u8] {
        self.message_items
            .get(index)
            .map_or(&[], |item| &self.body[item.range()])
    }

    /// The members of message `index`, in order: each key and its value's
    /// JSON text.
    pub fn message_entries(&self, index: usize) -> impl Iterator<Item = (&str, &str)> {
        let members = self
            .message_items
            .get(index)
            .and_then(|item| item.members());
        members
            .into_iter()
            .flatten()
            .map(|member| (&*member.key, self.text(member)))
    }

    /// The members of message `index`'s tool calls, call after call: each
    /// key and its value's JSON text.
    pub fn tool_call_entries(&self, index: usize) -> impl Iterator<Item = (&str, &str)> {
        let calls = (self.message_items.get(index)).and_then(|item| tool_calls(&self.body, item));
        (calls.into_iter().flatten())
            .flat_map(|call| call.members().unwrap_or_default())
            .map(|member| (&*member.key, self.text(member)))
    }

    /// Whether a streaming client asked for the usage chunk
    /// (`stream_options.include_usage`).
    pub fn wants_usage(&self) -> bool {
        // Read from the member's bytes (the last `include_usage`, as serde
        // would keep), not parsed into a tree: it is asked twice a request.
        // A value beside it that a tree refuses (a number out of range, a
        // lone surrogate escape) does not hide the client's `true`.
        self.raw("stream_options").is_some_and(|raw| {
            body::members(raw.as_bytes()).is_ok_and(|members| {
                Member::last(&members, "include_usage")
                    .is_some_and(|m| &raw[m.value.clone()] == "true")
            })
        })
    }

    /// The model the client asked for, if any.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    pub fn messages(&self) -> &[MessageInfo] {
        &self.messages
    }

    /// The JSON text of a top-level member as the client sent it (the last
    /// one, should a key repeat).
    pub fn raw(&self, key: &str) -> Option<&str> {
        let member = Member::last(&self.members, key)?;
        Some(self.text(member))
    }

    /// [`Self::raw`] as a part of the body, shared, not copied.
    pub fn raw_bytes(&self, key: &str) -> Option<Bytes> {
        let member = Member::last(&self.members, key)?;
        Some(self.body.slice(member.value.clone()))
    }

    /// A member's value as text, without checking it again: rules read
    /// `tools` (tens of kilobytes) several times per request.
    fn text(&self, member: &Member) -> &str {
        let bytes = &self.body[member.value.clone()];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: `parse` accepted the body only after the scanner read it
        // whole: every string in it is UTF-8 (checked, `scan::Scanner::string`)
        // and everything outside strings is ASCII, so any value it recorded,
        // which starts and ends at an ASCII byte, is UTF-8.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// A top-level member as a JSON value; for the small members rules read.
    pub fn value(&self, key: &str) -> Option<Value> {
        serde_json::from_str(self.raw(key)?).ok()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.members.iter().any(|m| m.key == key)
    }

    /// Message `index`'s `tool_calls` as the client wrote them, with the
    /// `id` of each call that has one replaced, in order, by `ids`, each
    /// written as a JSON string by `write_id`: the JSON text, built from
    /// the client's bytes (nothing parsed into a tree).
    pub fn tool_calls_with_ids<T>(
        &self,
        index: usize,
        ids: &[T],
        write_id: impl Fn(&T, &mut Vec<u8>),
    ) -> Option<Bytes> {
        let item = self.message_items.get(index)?;
        let members = item.members()?;
        let member = Member::last(members, "tool_calls")?;
        let calls = tool_calls(&self.body, item)?;
        let text = &self.body[member.value.clone()];
        // The scan's ranges are in the whole body; `text` starts here.
        let base = member.value.start;
        let mut out = Vec::with_capacity(text.len() + 16 * ids.len());
        let mut copied = 0;
        let mut ids = ids.iter();
        for call in calls {
            let Some(id) = call
                .members()
                .and_then(|m| Member::last(m, "id"))
                .filter(|m| self.body[m.value.start] == b'"')
            else {
                continue;
            };
            let Some(new_id) = ids.next() else { break };
            out.extend_from_slice(&text[copied..id.value.start - base]);
            write_id(new_id, &mut out);
            copied = id.value.end - base;
        }
        out.extend_from_slice(&text[copied..]);
        // Exactly its length: a `Bytes` of a `Vec` with room to spare
        // allocates a shared header besides.
        Some(Bytes::from(out.into_boxed_slice()))
    }

    /// The body to send: the client's bytes with `edits` applied.
    pub fn write(&self, edits: &Edits) -> Chunks {
        body::write(
            &self.body,
            &self.members,
            edits,
            "messages",
            &self.message_items,
        )
    }

    /// [`Self::write`], each message's edits made by `message` as the
    /// message is reached (`None`: no message is edited).
    pub fn write_with<'e>(
        &self,
        top: &ObjectEdits,
        message: Option<impl FnMut(usize) -> Option<Cow<'e, ObjectEdits>>>,
    ) -> Chunks {
        body::write_with(
            &self.body,
            &self.members,
            top,
            "messages",
            &self.message_items,
            message,
        )
    }

    /// The index of the first message whose content holds an image part
    /// (`image_url`; every front end's images are that in the model).
    /// Only a content that is an array can, and only one whose bytes
    /// mention `image_url` is read further: most requests cost a byte
    /// search of their content arrays.
    pub fn first_image(&self) -> Option<usize> {
        let finder = memchr::memmem::Finder::new(b"image_url");
        self.message_items.iter().position(|item| {
            let Some(content) = item.members().and_then(|m| Member::last(m, "content")) else {
                return false;
            };
            let bytes = &self.body[content.value.clone()];
            bytes.first() == Some(&b'[') && finder.find(bytes).is_some() && has_image_part(bytes)
        })
    }

    /// The top-level members, in order: each key and its value's JSON text.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.members
            .iter()
            .map(|member| (&*member.key, self.text(member)))
    }

    /// The types of the content parts of every message whose content is
    /// an array (each type once, in the order met), and what else its
    /// parts hold: read only from those arrays, as [`Self::first_image`]
    /// reads them.
    pub fn part_kinds(&self) -> (Vec<&str>, PartsHold) {
        let mut kinds: Vec<&str> = Vec::new();
        // The types met, found in a set: a body may hold many thousand.
        let mut met: HashSet<&str> = HashSet::new();
        let mut holds = PartsHold::default();
        for (item, message) in self.message_items.iter().zip(&self.messages) {
            let Some(content) = item.members().and_then(|m| Member::last(m, "content")) else {
                continue;
            };
            let bytes = &self.body[content.value.clone()];
            if bytes.first() != Some(&b'[') {
                continue;
            }
            let Ok(parts) = crate::format::scan::element_ranges(bytes) else {
                continue;
            };
            // Whose content the API takes as text parts alone.
            let text_only = matches!(&*message.role, "system" | "developer" | "assistant");
            for part in parts {
                let part = &bytes[part];
                let Ok(members) = body::members(part) else {
                    continue;
                };
                let value =
                    |m: &Member| std::str::from_utf8(&part[m.value.clone()]).unwrap_or_default();
                holds.cache_control |=
                    Member::last(&members, "cache_control").is_some_and(|m| value(m) != "null");
                let Some(kind) = Member::last(&members, "type").map(value) else {
                    continue;
                };
                let kind = kind.trim_matches('"');
                if met.insert(kind) {
                    kinds.push(kind);
                }
                match kind {
                    "text" => {
                        for key in others(part, &members, TEXT_PART) {
                            holds.unknown(format_args!("messages[].content[text].{key}"));
                        }
                    }
                    "image_url" => {
                        if text_only {
                            holds.unknown(format_args!(
                                "messages[{}].content[image_url]",
                                message.role
                            ));
                        }
                        for key in others(part, &members, IMAGE_PART) {
                            holds.unknown(format_args!("messages[].content[image_url].{key}"));
                        }
                        let Some(image_url) = Member::last(&members, "image_url") else {
                            continue;
                        };
                        let image_url = &part[image_url.value.clone()];
                        // One read of the object, which holds the image's
                        // data: its detail and any member it should not.
                        let Some(inner) = (image_url.first() == Some(&b'{'))
                            .then(|| body::members(image_url).ok())
                            .flatten()
                        else {
                            continue;
                        };
                        holds.image_detail |= Member::last(&inner, "detail")
                            .is_some_and(|m| &image_url[m.value.clone()] != b"null");
                        for key in others(image_url, &inner, IMAGE_URL) {
                            holds.unknown(format_args!(
                                "messages[].content[image_url].image_url.{key}"
                            ));
                        }
                    }
                    _ => {}
                }
            }
        }
        (kinds, holds)
    }

    /// The indexes of the messages whose content is an array with a part
    /// that holds a `cache_control` (not `null`).
    pub fn marked_messages(&self) -> Vec<usize> {
        let finder = memchr::memmem::Finder::new(b"cache_control");
        (0..self.message_items.len())
            .filter(|&index| {
                let Some(content) = self.message_member(index, "content") else {
                    return false;
                };
                content.starts_with('[')
                    && finder.find(content.as_bytes()).is_some()
                    && parts(content).any(|(_, members)| {
                        Member::last(&members, "cache_control")
                            .is_some_and(|m| &content.as_bytes()[m.value.clone()] != b"null")
                    })
            })
            .collect()
    }

    /// Message `index`'s content array without the parts' `cache_control`
    /// members, written from the client's bytes (nothing parsed into a
    /// tree); `None` when its content is not an array.
    pub fn content_without_cache_marks(&self, index: usize) -> Option<Bytes> {
        let content = self.message_member(index, "content")?;
        if !content.starts_with('[') {
            return None;
        }
        let bytes = content.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut copied = 0;
        for (part, members) in parts(content) {
            // Whether a member before this one stays in the part.
            let mut kept = false;
            for (at, member) in members.iter().enumerate() {
                if member.key != "cache_control" {
                    kept = true;
                    continue;
                }
                // The member and one comma beside it: the one after the
                // member before it when one stays (a mark cut before this
                // one ended where that member's value ends), else the one
                // after it.
                let cut = match (kept, members.get(at + 1)) {
                    (true, _) => members[at - 1].value.end..member.value.end,
                    (false, Some(after)) => member.raw_key.start..after.raw_key.start,
                    (false, None) => member.raw_key.start..member.value.end,
                };
                let cut = part.start + cut.start..part.start + cut.end;
                out.extend_from_slice(&bytes[copied..cut.start]);
                copied = cut.end;
            }
        }
        out.extend_from_slice(&bytes[copied..]);
        Some(Bytes::from(out))
    }

    /// Whether message `index`'s content has text to hold a cache
    /// breakpoint ([`Self::content_with_cache_mark`]).
    pub fn holds_cache_mark(&self, index: usize) -> bool {
        self.cache_mark_place(index).is_some()
    }

    /// Message `index`'s content with the cache breakpoint `mark` on its
    /// last text: a string as one text part holding it, an array with it
    /// added to its last text part; `None` when there is no text to hold
    /// it (an empty or absent content, no text part).
    pub fn content_with_cache_mark(&self, index: usize, mark: &RawValue) -> Option<Bytes> {
        let (content, place) = self.cache_mark_place(index)?;
        let (bytes, mark) = (content.as_bytes(), mark.get().as_bytes());
        let mut out = Vec::with_capacity(bytes.len() + mark.len() + 48);
        match place {
            MarkPlace::Text => {
                out.extend_from_slice(br#"[{"type":"text","text":"#);
                out.extend_from_slice(bytes);
                out.extend_from_slice(br#","cache_control":"#);
                out.extend_from_slice(mark);
                out.extend_from_slice(b"}]");
            }
            MarkPlace::PartEndingAt(end) => {
                out.extend_from_slice(&bytes[..end]);
                out.extend_from_slice(br#","cache_control":"#);
                out.extend_from_slice(mark);
                out.extend_from_slice(&bytes[end..]);
            }
        }
        Some(Bytes::from(out))
    }

    /// Message `index`'s content and where a cache breakpoint goes in it.
    fn cache_mark_place(&self, index: usize) -> Option<(&str, MarkPlace)> {
        let content = self.message_member(index, "content")?;
        if content.starts_with('"') {
            return (content != "\"\"").then_some((content, MarkPlace::Text));
        }
        if !content.starts_with('[') {
            return None;
        }
        let bytes = content.as_bytes();
        let part = parts(content)
            .filter(|(part, members)| {
                Member::last(members, "type").is_some_and(|kind| {
                    &bytes[part.start + kind.value.start..part.start + kind.value.end]
                        == b"\"text\""
                })
            })
            .map(|(part, _)| part)
            .last()?;
        // Before the part's closing brace (a translation's parts hold no
        // mark of their own).
        Some((content, MarkPlace::PartEndingAt(part.end - 1)))
    }

    /// The client's bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }
}

/// What [`signs_reasoning`] finds, as the log names it.
pub const SIGNED_REASONING: &str = "reasoning_details signatures and encrypted reasoning";

/// Whether OpenRouter's `reasoning_details` hold more than the text they
/// spell (which reaches every client as reasoning): a detail's signature,
/// or reasoning given encrypted (`reasoning.encrypted`), which clawgate
/// does not carry to a Messages or Responses client (its `signature` and
/// `encrypted_content` stay empty).
pub fn signs_reasoning(details: &Value) -> bool {
    let signed = |detail: &Value| {
        detail
            .get("signature")
            .is_some_and(|s| s.as_str().is_some_and(|s| !s.is_empty()))
            || detail.get("type").and_then(Value::as_str) == Some("reasoning.encrypted")
    };
    details
        .as_array()
        .is_some_and(|details| details.iter().any(signed))
}

/// What one chat-completion chunk says, typed: what encoders other than
/// the OpenAI one write from (the OpenAI encoder relays the chunk's bytes).
/// Only the first choice is read: clawgate's front ends answer one.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// The chunk's `id`.
    Id(String),
    Reasoning(String),
    Text(String),
    /// The model's refusal (OpenAI's `delta.refusal`), in its place of the
    /// text.
    Refusal(String),
    /// One `delta.tool_calls[]` entry: a call starts with its id and name,
    /// then its arguments arrive in pieces under the same index.
    ToolCall {
        index: u64,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    Usage(Usage),
    /// The choice's `finish_reason`.
    Finish(String),
    /// A member of the delta that only the chat format has a place for
    /// (`annotations`, `images`, `audio`): the encoder names it
    /// ([`crate::translate::Unplaced`]).
    Unplaced(&'static str),
}

impl Part {
    /// The parts of the chunk whose JSON text is `json`, in the order an
    /// encoder needs them (id, usage, reasoning, text, tool calls, finish),
    /// read through borrowed views of the text: no tree is built for the
    /// chunks of an answer, but for the usage object of a chunk with
    /// usage and OpenRouter's `reasoning_details` where they may hold a
    /// signature. A chunk the views do not read plainly (a repeated key) is
    /// written again through a tree, as serde reads it, and read the same
    /// way; one of another shape (`choices` not an array of objects) says
    /// nothing.
    pub fn read_json(json: &[u8]) -> Vec<Part> {
        use super::chunk::ChunkView;

        if let Some(chunk) = std::str::from_utf8(json).ok().and_then(ChunkView::read) {
            return Part::of_view(chunk);
        }
        match serde_json::from_slice::<Value>(json) {
            Ok(tree @ Value::Object(_)) => {
                let text = tree.to_string();
                ChunkView::read(&text)
                    .map(Part::of_view)
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }

    /// The parts of a chunk read through borrowed views.
    pub(crate) fn of_view(chunk: super::chunk::ChunkView<'_>) -> Vec<Part> {
        use super::chunk::{number, text};

        let mut parts = Vec::new();
        if let Some(id) = text(chunk.id) {
            parts.push(Part::Id(id.into_owned()));
        }
        if let Some(usage) = Usage::in_chunk(&chunk) {
            parts.push(Part::Usage(usage));
        }
        let mut choices = chunk.choices.unwrap_or_default();
        if choices.is_empty() {
            return parts;
        }
        let choice = choices.swap_remove(0);
        let nonempty = |raw| text(raw).filter(|t| !t.is_empty()).map(Cow::into_owned);
        if let Some(delta) = choice.delta {
            if let Some(thinking) = nonempty(delta.reasoning_content) {
                parts.push(Part::Reasoning(thinking));
            }
            if let Some(content) = nonempty(delta.content) {
                parts.push(Part::Text(content));
            }
            if let Some(refusal) = nonempty(delta.refusal) {
                parts.push(Part::Refusal(refusal));
            }
            let chat_only = [
                ("annotations", delta.annotations),
                ("images", delta.images),
                ("audio", delta.audio),
            ];
            for (member, raw) in chat_only {
                if raw.is_some_and(|raw| raw.get() != "null") {
                    parts.push(Part::Unplaced(member));
                }
            }
            // Read whole only where a signature may be: OpenRouter sends
            // details with each piece of reasoning, a signature once.
            let details = (delta.reasoning_details.map(RawValue::get))
                .filter(|raw| raw.contains("signature") || raw.contains("reasoning.encrypted"));
            if let Some(Ok(details)) = details.map(serde_json::from_str)
                && signs_reasoning(&details)
            {
                parts.push(Part::Unplaced(SIGNED_REASONING));
            }
            let calls = delta.tool_calls.into_iter().flatten();
            for (position, call) in calls.enumerate() {
                let (name, arguments) = match call.function {
                    Some(function) => (function.name, function.arguments),
                    None => (None, None),
                };
                parts.push(Part::ToolCall {
                    index: number(call.index).unwrap_or(position as u64),
                    id: nonempty(call.id),
                    name: nonempty(name),
                    arguments: text(arguments).map(Cow::into_owned).unwrap_or_default(),
                });
            }
        }
        if let Some(reason) = text(choice.finish_reason) {
            parts.push(Part::Finish(reason.into_owned()));
        }
        parts
    }
}

/// Where a cache breakpoint goes in a message's content.
enum MarkPlace {
    /// The content is one text: it becomes a text part holding the mark.
    Text,
    /// In the last text part, before its closing brace at this offset.
    PartEndingAt(usize),
}

/// The function a chat tool, tool choice or tool call names
/// (`function.name`), when it names one as a string.
pub fn function_name(tool: &Value) -> Option<&str> {
    tool.pointer("/function/name")?.as_str()
}

/// The functions an `allowed_tools` tool choice lists; `None` for a
/// choice of another type.
pub fn allowed_tools(choice: &Value) -> Option<Vec<&str>> {
    if choice["type"] != "allowed_tools" {
        return None;
    }
    let tools = choice.pointer("/allowed_tools/tools")?.as_array()?;
    Some(tools.iter().filter_map(function_name).collect())
}

/// Makes an upstream response name the ref that answered, not the
/// provider's own model id.
pub fn label_model(response: &mut Map<String, Value>, model_ref: &str) {
    response.insert("model".into(), Value::String(model_ref.to_string()));
}

/// `(content, reasoning)` of the first choice of a completion.
pub fn message_text(response: &Map<String, Value>) -> (String, Option<String>) {
    let message = response
        .get("choices")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("message"));
    let text = |key: &str| {
        message
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let reasoning = text("reasoning_content")
        .or_else(|| text("reasoning"))
        .filter(|r| !r.is_empty());
    (text("content").unwrap_or_default(), reasoning)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cache_marks_are_cut_from_a_content_array_leaving_json() {
        let cases = [
            (r#""hi""#, None),
            (r#"[]"#, Some(r#"[]"#)),
            (
                r#"[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}}]"#,
                Some(r#"[{"type":"text","text":"a"}]"#),
            ),
            (
                r#"[{"cache_control":{"type":"ephemeral"},"type":"text","text":"a"}]"#,
                Some(r#"[{"type":"text","text":"a"}]"#),
            ),
            (
                r#"[{"type":"text","cache_control":null,"text":"a"},{"cache_control":1}]"#,
                Some(r#"[{"type":"text","text":"a"},{}]"#),
            ),
            // Repeated, first or last: each goes, and the part stays JSON.
            (
                r#"[{"cache_control":1,"cache_control":2,"type":"text","text":"a"}]"#,
                Some(r#"[{"type":"text","text":"a"}]"#),
            ),
            (
                r#"[{"type":"text","text":"a","cache_control":1,"cache_control":2}]"#,
                Some(r#"[{"type":"text","text":"a"}]"#),
            ),
            (
                r#"[{"cache_control":1,"type":"text","cache_control":2,"text":"a"}]"#,
                Some(r#"[{"type":"text","text":"a"}]"#),
            ),
            (
                r#"[{"cache_control":1,"cache_control":2}]"#,
                Some(r#"[{}]"#),
            ),
        ];
        for (content, expected) in cases {
            let body = format!(r#"{{"messages":[{{"role":"user","content":{content}}}]}}"#);
            let request = ChatRequest::parse(body.clone()).expect(&body);
            let cut = request.content_without_cache_marks(0);
            let cut = cut.as_deref().map(|b| std::str::from_utf8(b).unwrap());
            assert_eq!(cut, expected, "{content}");
            if let Some(cut) = cut {
                serde_json::from_str::<Value>(cut).expect(cut);
            }
        }
    }

    #[test]
    fn the_first_image_is_found_where_a_part_says_it_is_one() {
        let image = r#"{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}"#;
        let cases: Vec<(String, Option<usize>)> = vec![
            (r#"[{"role":"user","content":"hi"}]"#.into(), None),
            (format!(r#"[{{"role":"user","content":[{image}]}}]"#), Some(0)),
            (
                format!(
                    r#"[{{"role":"system","content":"s"}},{{"role":"user","content":[{{"type":"text","text":"a"}},{image}]}},{{"role":"user","content":[{image}]}}]"#
                ),
                Some(1),
            ),
            // Spaced, and the type after the part's other members.
            (
                r#"[{"role":"user","content":[ { "image_url" : {"url":"u"} , "type" : "image_url" } ]}]"#.into(),
                Some(0),
            ),
            // Words about images are not images.
            (
                r#"[{"role":"user","content":"an image_url part: {\"type\":\"image_url\"}"}]"#.into(),
                None,
            ),
            (
                r#"[{"role":"user","content":[{"type":"text","text":"{\"type\":\"image_url\"}"}]}]"#.into(),
                None,
            ),
            (
                r#"[{"role":"user","content":[{"type":"text","image_url":"x"}]}]"#.into(),
                None,
            ),
            // Odd parts and contents are passed over, not failed on.
            (
                r#"[{"role":"user","content":["image_url", 7, null, {"type": ["image_url"]}]}]"#.into(),
                None,
            ),
            (r#"[{"role":"user","content":null},{"role":"user"}]"#.into(), None),
            // A repeated content: the last, as serde reads it.
            (
                format!(r#"[{{"role":"user","content":[{image}],"content":"hi"}}]"#),
                None,
            ),
        ];
        for (messages, expected) in cases {
            let body = format!(r#"{{"messages":{messages}}}"#);
            let request = ChatRequest::parse(body.clone()).expect(&body);
            assert_eq!(request.first_image(), expected, "{body}");
        }
    }

    #[test]
    fn wants_usage_reads_the_members_bytes_as_serde_reads_the_tree() {
        for (options, wanted) in [
            (None, false),
            (Some(r#"{"include_usage":true}"#), true),
            (Some(r#"{ "include_usage" : true }"#), true),
            (Some(r#"{"include_usage":false}"#), false),
            (Some(r#"{"include_usage":"true"}"#), false),
            (Some(r#"{"include_usage":1}"#), false),
            // A repeated key: the last one, as serde keeps.
            (
                Some(r#"{"include_usage":true,"include_usage":false}"#),
                false,
            ),
            (
                Some(r#"{"include_usage":false,"include_usage":true}"#),
                true,
            ),
            (Some(r#"{"include_\u0075sage":true}"#), true),
            (Some(r#"{"other":{"include_usage":true}}"#), false),
            (Some("null"), false),
            (Some("[true]"), false),
        ] {
            let body = match options {
                Some(options) => {
                    format!(
                        r#"{{"messages":[{{"role":"user","content":"hi"}}],"stream":true,"stream_options":{options}}}"#
                    )
                }
                None => {
                    r#"{"messages":[{"role":"user","content":"hi"}],"stream":true}"#.to_string()
                }
            };
            let request = ChatRequest::parse(Bytes::from(body)).unwrap();
            let through_a_tree = request
                .value("stream_options")
                .is_some_and(|o| o.get("include_usage") == Some(&Value::Bool(true)));
            assert_eq!(through_a_tree, wanted, "{options:?}");
            assert_eq!(request.wants_usage(), wanted, "{options:?}");
        }
        // What a tree refuses beside `include_usage` is refused whole: no
        // reading of the request meets it.
        let body = r#"{"messages":[{"role":"user","content":"hi"}],"stream":true,
            "stream_options":{"include_usage":true,"x":1e400}}"#;
        let refused = ChatRequest::parse(Bytes::from(body)).unwrap_err();
        assert!(
            matches!(&refused, RequestError::Json(why) if why.starts_with("number out of range")),
            "{refused:?}"
        );
    }

    #[test]
    fn many_distinct_part_types_are_each_read_once_in_order() {
        let parts: Vec<String> = (0..200_000)
            .map(|n| format!(r#"{{"type":"t{n}"}}"#))
            .chain([
                r#"{"type":"text","text":"hi"}"#.into(),
                r#"{"type":"t7"}"#.into(),
            ])
            .collect();
        let body = format!(
            r#"{{"messages":[{{"role":"user","content":[{}]}}]}}"#,
            parts.join(",")
        );
        let request = ChatRequest::parse(Bytes::from(body)).unwrap();
        let (kinds, _) = request.part_kinds();
        assert_eq!(kinds.len(), 200_001);
        assert_eq!((kinds[0], kinds[7], kinds[200_000]), ("t0", "t7", "text"));
    }

    #[test]
    fn a_chunks_parts_are_read_in_the_order_encoders_need_them() {
        let call = |index, id: Option<&str>, name: Option<&str>, arguments: &str| Part::ToolCall {
            index,
            id: id.map(Into::into),
            name: name.map(Into::into),
            arguments: arguments.into(),
        };
        let usage = |input, output| {
            Part::Usage(Usage {
                input,
                output,
                total: input + output,
                ..Usage::default()
            })
        };
        let cases = [
            (
                r#"{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
                vec![Part::Id("c1".into())],
            ),
            (
                r#"{"id":"c1","choices":[{"delta":{"reasoning_content":"think \"x\"\n"}}]}"#,
                vec![
                    Part::Id("c1".into()),
                    Part::Reasoning("think \"x\"\n".into()),
                ],
            ),
            (
                r#"{"choices":[{"delta":{"content":"caf\u00e9"},"finish_reason":null}]}"#,
                vec![Part::Text("café".into())],
            ),
            (
                r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function",
                "function":{"name":"Bash","arguments":""}},{"function":{"arguments":"{}"}}]}}]}"#,
                vec![
                    call(0, Some("call_1"), Some("Bash"), ""),
                    call(1, None, None, "{}"),
                ],
            ),
            (
                r#"{"choices":[{"delta":{"tool_calls":[{"index":"x","id":"","function":{"name":""}}]}}]}"#,
                vec![call(0, None, None, "")],
            ),
            (
                r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":{"a":1}}}]}}]}"#,
                vec![call(0, None, None, "")],
            ),
            (
                r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}],"system_fingerprint":"fp"}"#,
                vec![Part::Finish("tool_calls".into())],
            ),
            (
                r#"{"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5}}"#,
                vec![Part::Id("c1".into()), usage(3, 5)],
            ),
            (
                r#"{"choices":[{"delta":{"content":"a"},"usage":{"prompt_tokens":1,"completion_tokens":2}}]}"#,
                vec![usage(1, 2), Part::Text("a".into())],
            ),
            // A repeated key: the last, as serde's tree keeps it.
            (
                r#"{"id":"a","id":"b","choices":[{"delta":{"content":"x"}}]}"#,
                vec![Part::Id("b".into()), Part::Text("x".into())],
            ),
            // Of another shape, or no chunk at all: nothing.
            (r#"{"id":7,"choices":"none"}"#, vec![]),
            (
                r#"{"choices":[{"delta":{"content":["a"]}},{"delta":3}]}"#,
                vec![],
            ),
            (r#"[{"id":"c1"}]"#, vec![]),
            ("not json", vec![]),
            ("", vec![]),
        ];
        for (chunk, expected) in cases {
            assert_eq!(Part::read_json(chunk.as_bytes()), expected, "{chunk}");
        }
    }

    #[test]
    fn tool_call_ids_are_read_from_the_scan_as_a_typed_read_would() {
        let cases = [
            (
                r#"[{"id":"a"},{"type":"function"},{"id":null},{"id":"b\u0021"}]"#,
                vec!["a", "b!"],
            ),
            // An id of another type, or twice in one call: none is read.
            (r#"[{"id":"a"},{"id":5}]"#, vec![]),
            (r#"[{"id":"a","id":"b"}]"#, vec![]),
            (r#"[{"id":"a"},3]"#, vec![]),
            (r#"{"id":"a"}"#, vec![]),
            ("null", vec![]),
            // The last `tool_calls` counts.
            (r#"[{"id":"a"}],"tool_calls":[{"id":"b"}]"#, vec!["b"]),
            (r#"[{"id":"a"}],"tool_calls":null"#, vec![]),
        ];
        for (calls, expected) in cases {
            let body = format!(r#"{{"messages":[{{"role":"assistant","tool_calls":{calls}}}]}}"#);
            let request = ChatRequest::parse(body.clone()).unwrap();
            assert_eq!(request.messages()[0].tool_call_ids, expected, "{body}");
        }
    }

    fn check_invalid(body: &str, expected: &str) {
        let err = ChatRequest::parse(body.to_string()).unwrap_err();
        assert!(err.to_string().contains(expected), "{body}: {err}");
    }

    #[test]
    fn bad_requests_name_the_field() {
        check_invalid("{", "not valid JSON");
        check_invalid("[]", "must be a JSON object");
        check_invalid("{}", "`messages` is required");
        check_invalid(r#"{"messages": "hi"}"#, "`messages` must be an array");
        check_invalid(r#"{"messages": []}"#, "at least one message");
        check_invalid(
            r#"{"messages": [{"role": "user"}], "messages": "x"}"#,
            "`messages` must appear once",
        );
        check_invalid(
            r#"{"messages": [{"content": "x"}]}"#,
            "`messages[0]` must be an object with a string `role`",
        );
        check_invalid(
            r#"{"messages": [{"role": "user"}], "model": 3}"#,
            "`model` must be a string",
        );
        check_invalid(
            r#"{"messages": [{"role": "user"}], "stream": "yes"}"#,
            "`stream` must be a boolean",
        );
    }

    #[test]
    fn good_requests_keep_every_field() {
        let request = ChatRequest::parse(
            &br#"{"model": "a/b", "stream": true, "messages": [{"role": "user"}, {"role": "assistant",
                "tool_calls": [{"id": "functions.read:0"}, {"id": "call_1"}], "reasoning_content": ""},
                {"role": "tool", "tool_call_id": "call_1", "content": "x"}], "x": 1}"#[..],
        )
        .unwrap();
        assert!(request.stream);
        assert_eq!(request.model(), Some("a/b"));
        assert_eq!(request.value("x"), Some(json!(1)));
        assert_eq!(
            request.messages()[1],
            MessageInfo {
                role: "assistant".into(),
                tool_call_ids: vec!["functions.read:0".into(), "call_1".into()],
                tool_call_id: None,
                has_reasoning_content: true,
            }
        );
        assert_eq!(
            request.messages()[2].tool_call_id.as_deref(),
            Some("call_1")
        );
        let out: Value =
            serde_json::from_slice(&request.write(&Edits::default()).to_vec()).unwrap();
        let original: Value = serde_json::from_slice(request.bytes()).unwrap();
        assert_eq!(out, original);
    }
}
