//! What the rules, sessions, budgets and the reasoning cache read of a
//! client's request ([`Facts`]), read once by its front end: a chat
//! client's are its chat form's ([`ChatRequest`], ranges of its own
//! bytes); a Messages client's are noted as its chat form is made
//! ([`Noted`]), a form written at once when its first target speaks chat,
//! else only when a target that speaks chat asks for it
//! (`wire::request::ClientRequest::chat_form`).
//!
//! The turns are the request model's: one per chat message the body
//! makes (each tool result of a Messages user turn is a turn), so that a
//! decision about turn `n` means the same for a chat form written later
//! and for the client's own body. The settings are named as the rules and
//! `params` name them (OpenAI's names).

use serde_json::Value;
use serde_json::value::RawValue;
use std::sync::Arc;

use super::openai::{ChatRequest, MessageInfo};
use crate::format::fingerprint::Fingerprint;
use crate::format::scan;

/// What the gateway reads of a request before, and besides, writing it
/// for a target.
pub trait Facts: std::fmt::Debug + Send + Sync {
    /// The model the client asked for, if any.
    fn model(&self) -> Option<&str>;

    /// Whether the client asked for a stream.
    fn stream(&self) -> bool;

    /// Whether a streaming client asked for the usage chunk.
    fn wants_usage(&self) -> bool;

    /// What the rules need of each turn; its content is not read.
    fn messages(&self) -> &[MessageInfo];

    /// A setting (a top-level member of the request model) as JSON text.
    fn raw(&self, key: &str) -> Option<&str>;

    /// A setting as a JSON value; for the small ones the rules read.
    fn value(&self, key: &str) -> Option<Value> {
        serde_json::from_str(self.raw(key)?).ok()
    }

    /// Whether the request holds the setting `key`.
    fn contains(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    /// The turns whose content carries a chat client's own cache marks.
    fn marked_messages(&self) -> Vec<usize>;

    /// Whether turn `index` has text to hold a cache breakpoint.
    fn holds_cache_mark(&self, index: usize) -> bool;

    /// Turn `index` as a provider's prefix cache sees it, its reasoning
    /// left out ([`crate::format::fingerprint`]).
    fn message_hash(&self, index: usize) -> u64;

    /// Whether turn `index` carries reasoning, in any member a client
    /// gives it back in (Moonshot's `reasoning_content`, OpenRouter's
    /// `reasoning` and `reasoning_details`).
    fn carries_reasoning(&self, index: usize) -> bool {
        self.messages()[index].has_reasoning_content
    }

    /// Turn `index`'s content alone, fingerprinted; `None` without one.
    fn content_hash(&self, index: usize) -> Option<u64>;

    /// Turn `index`'s message as the client numbers its messages, where
    /// that is not the turn's own index (a Messages body's).
    fn origin(&self, _index: usize) -> Option<usize> {
        None
    }

    /// The tool calls of assistant turn `index`, in order, when it carries
    /// no reasoning (the turns the reasoning cache gives reasoning back
    /// to; what another holds is not asked).
    fn calls(&self, index: usize) -> Vec<Call>;

    /// The client's bytes: what its tokens are estimated from.
    fn bytes(&self) -> &[u8];
}

/// A tool call of a replayed turn, as the reasoning cache knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Call {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text.
    pub arguments: String,
}

impl Call {
    /// The calls of a `tool_calls` array as a client or provider wrote it.
    pub fn all_of(tool_calls: &Value) -> Vec<Call> {
        let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
        (tool_calls.as_array().into_iter().flatten())
            .map(|call| Call {
                id: text(&call["id"]),
                name: text(&call["function"]["name"]),
                arguments: match &call["function"]["arguments"] {
                    Value::String(text) => text.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                },
            })
            .collect()
    }
}

impl Facts for ChatRequest {
    fn model(&self) -> Option<&str> {
        ChatRequest::model(self)
    }

    fn stream(&self) -> bool {
        self.stream
    }

    fn wants_usage(&self) -> bool {
        ChatRequest::wants_usage(self)
    }

    fn messages(&self) -> &[MessageInfo] {
        ChatRequest::messages(self)
    }

    fn raw(&self, key: &str) -> Option<&str> {
        ChatRequest::raw(self, key)
    }

    fn marked_messages(&self) -> Vec<usize> {
        ChatRequest::marked_messages(self)
    }

    fn holds_cache_mark(&self, index: usize) -> bool {
        ChatRequest::holds_cache_mark(self, index)
    }

    /// A turn member by member, without its cache marks, which a client
    /// moves each turn and the provider's cache does not read
    /// ([`content_pieces`]); an assistant turn, which alone carries
    /// reasoning, without it too.
    fn message_hash(&self, index: usize) -> u64 {
        let mut fingerprint = Fingerprint::default();
        let assistant = &*self.messages()[index].role == "assistant";
        for (key, value) in self.message_entries(index) {
            match key {
                "reasoning_content" | "reasoning" | "reasoning_details" if assistant => {}
                "cache_control" => {}
                "content" => {
                    fingerprint.piece(key.as_bytes());
                    content_pieces(value, |piece| fingerprint.piece(piece));
                }
                _ => {
                    fingerprint.piece(key.as_bytes());
                    fingerprint.piece(value.as_bytes());
                }
            }
        }
        fingerprint.finish()
    }

    fn carries_reasoning(&self, index: usize) -> bool {
        ["reasoning_content", "reasoning", "reasoning_details"]
            .iter()
            .any(|key| {
                // An empty one carries nothing.
                let said = |raw: &str| !matches!(raw, "null" | "\"\"" | "[]");
                self.message_member(index, key).is_some_and(said)
            })
    }

    fn content_hash(&self, index: usize) -> Option<u64> {
        let content = self.message_member(index, "content")?;
        // Without its cache marks: a client moves them turn by turn.
        let mut fingerprint = Fingerprint::default();
        content_pieces(content, |piece| fingerprint.piece(piece));
        Some(fingerprint.finish())
    }

    fn calls(&self, index: usize) -> Vec<Call> {
        let calls = self.message_member(index, "tool_calls");
        match calls.and_then(|raw| serde_json::from_str(raw).ok()) {
            Some(calls) => Call::all_of(&calls),
            None => Vec::new(),
        }
    }

    fn bytes(&self) -> &[u8] {
        ChatRequest::bytes(self)
    }
}

/// The facts of a body in another API's format, noted by its front end's
/// reader as it made the body's chat form: the settings in the request
/// model's words, the tools' chat form, and each turn, alike whether that
/// form is written at once or later (a conversation is fingerprinted the
/// same whichever target it goes to first).
#[derive(Debug)]
pub struct Noted {
    /// The settings: a chat body of them alone (without `messages` and
    /// `tools`), or the whole chat form when it is written at once.
    pub settings: ChatRequest,
    /// The tools' chat form, as JSON text.
    pub tools: Option<Arc<RawValue>>,
    /// What the rules need of each turn, when the settings are not the
    /// whole chat form (whose own they are then).
    pub messages: Vec<MessageInfo>,
    /// Each turn's own notes, in the same order.
    pub turns: Vec<Turn>,
    /// The client's own bytes.
    pub bytes: bytes::Bytes,
}

/// What is noted of one turn besides its [`MessageInfo`].
#[derive(Debug, Clone, Default)]
pub struct Turn {
    /// The turn, its reasoning left out, fingerprinted.
    pub hash: u64,
    /// Its content alone, fingerprinted.
    pub content_hash: Option<u64>,
    /// Whether it has text to hold a cache breakpoint.
    pub holds_text: bool,
    /// An assistant turn's calls, when it carries no reasoning: the turns
    /// the reasoning cache may give reasoning back to.
    pub calls: Vec<Call>,
    /// Its message's index in the client's own body, where the client
    /// numbers its messages otherwise (a Messages user turn's tool results
    /// are a turn each).
    pub origin: Option<u32>,
}

impl Facts for Noted {
    fn model(&self) -> Option<&str> {
        self.settings.model()
    }

    fn stream(&self) -> bool {
        self.settings.stream
    }

    fn wants_usage(&self) -> bool {
        self.settings.wants_usage()
    }

    fn messages(&self) -> &[MessageInfo] {
        // A chat form holds a message at least; the settings alone, none.
        match self.settings.messages() {
            [] => &self.messages,
            whole => whole,
        }
    }

    fn raw(&self, key: &str) -> Option<&str> {
        match key {
            "tools" => self.tools.as_deref().map(RawValue::get),
            // The turns are read as turns (`messages`).
            "messages" => None,
            key => self.settings.raw(key),
        }
    }

    fn marked_messages(&self) -> Vec<usize> {
        // The request model's parts carry no marks of a translated body:
        // its marks are noted beside it (`wire::request::Native`).
        Vec::new()
    }

    fn holds_cache_mark(&self, index: usize) -> bool {
        self.turns.get(index).is_some_and(|turn| turn.holds_text)
    }

    fn message_hash(&self, index: usize) -> u64 {
        self.turns.get(index).map_or(0, |turn| turn.hash)
    }

    fn content_hash(&self, index: usize) -> Option<u64> {
        self.turns.get(index)?.content_hash
    }

    fn origin(&self, index: usize) -> Option<usize> {
        Some(self.turns.get(index)?.origin? as usize)
    }

    fn calls(&self, index: usize) -> Vec<Call> {
        self.turns
            .get(index)
            .map_or_else(Vec::new, |turn| turn.calls.clone())
    }

    fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The pieces of a chat message's `content` (`raw`, its JSON text) as a
/// session compares them: a string whole; an array part by part, each
/// member but its `cache_control`, a lone text part by its text alone, so
/// that it reads as the same text written as a string.
fn content_pieces(raw: &str, mut piece: impl FnMut(&[u8])) {
    let bytes = raw.as_bytes();
    let parts = match bytes.first() {
        Some(b'[') => scan::element_ranges(bytes).ok(),
        _ => None,
    };
    let Some(parts) = parts else {
        return piece(bytes);
    };
    for part in &parts {
        let part = &bytes[part.clone()];
        let Ok(members) = scan::members(part) else {
            piece(part);
            continue;
        };
        let value = |member: &scan::Member| &part[member.value.clone()];
        let text = scan::Member::last(&members, "text");
        let only_text = parts.len() == 1
            && text.is_some()
            && members
                .iter()
                .all(|m| matches!(&*m.key, "type" | "text" | "cache_control"));
        match text {
            Some(text) if only_text => piece(value(text)),
            _ => (members.iter())
                .filter(|member| member.key != "cache_control")
                .for_each(|member| {
                    piece(member.key.as_bytes());
                    piece(value(member));
                }),
        }
    }
}
