//! The reasoning a model produced before its tool calls, kept so that it
//! can be given back when a client replays the turn without it (LangChain's
//! `ChatOpenAI`, `@ai-sdk/openai`, history compaction): Kimi refuses such a
//! turn while thinking ("reasoning_content is missing in assistant tool
//! call message"), and `""` keeps it going but loses what the model thought.
//!
//! Bounded three ways (entries, bytes, age); the oldest entry goes first.
//! A key is a digest of the gateway token the client used (so nothing is
//! shared between tokens, and a reload that changes the token forgets
//! everything) and of the turn's tool calls: their ids, names and
//! arguments (parsed and written back with sorted keys, so a client that
//! re-serialises them still finds the turn). Kimi's ids repeat across
//! turns (`functions.read:0`); with names and arguments, two turns meet
//! only when they made the same calls, for the same token.
//!
//! Off with `gateway.reasoningCache: false`. Nothing here is logged: the
//! reasoning is the user's content.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use memchr::memmem::Finder;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::clients::Client;
use crate::format::sse::Event;
use crate::translate::anthropic_provider::{Said, StreamTranslator};
use crate::translate::held_calls::MAX_HELD_CALLS;
use crate::wire::anthropic::{BlockKind, DeltaKind, EventKind};
pub use crate::wire::facts::Call as OwnedCall;
use crate::wire::facts::Facts;
use crate::wire::openai::Part;
use crate::wire::request::ClientRequest;

/// The bounds (`gateway.reasoningCache`), a setting of the config.
pub use crate::config::ReasoningCacheLimits as Limits;

/// Reasoning longer than this is not kept: one turn must not push out
/// hundreds of others.
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;

/// Bytes an entry costs besides its text, in the cache's accounting: the
/// key (twice: map and queue), the map slot, the `Arc` header, the time.
/// `tests/reasoning_cache.rs` measures the real cost against it.
pub const ENTRY_OVERHEAD_BYTES: usize = 128;

/// Whose request it is: a digest of the client's name and key (see
/// [`Client::scope_seed`]), so one client's reasoning is never given to
/// another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scope([u8; 16]);

impl Scope {
    /// One client's: its name and the digest of its key.
    pub fn of_client(client: &Client) -> Self {
        Self::of_seed(&client.scope_seed())
    }

    /// A scope from any bytes that tell one owner from another.
    pub fn of_seed(seed: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"clawgate reasoning scope\0");
        hasher.update(seed);
        Self(hasher.finalize()[..16].try_into().expect("16 bytes"))
    }

    /// This scope narrowed to one conversation: the user message the turn
    /// answers (the last `user` message before it), by its content's
    /// fingerprint ([`Facts::content_hash`]). Kimi's tool-call ids repeat
    /// in every conversation (`functions.exec:0`), so without it the same
    /// call with the same arguments in two conversations of one token
    /// would share an entry. The fingerprint is a session's (64 bits of
    /// XXH3 and foldhash over every byte, not a cryptographic hash): the
    /// scope is already the client's, so two of its own conversations
    /// alike in it would at most share the reasoning of an identical call,
    /// and a 60 KB message costs no SHA-256 pass per turn.
    ///
    /// And to the turn's place after that message (`after`: the assistant
    /// turns between them): an agent that makes the same call twice in
    /// one loop (the same Kimi id, name and arguments) gets each turn's
    /// own reasoning back, not the last one's.
    pub fn within(self, user_message: Option<u64>, after: usize) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(self.0);
        if let Some(fingerprint) = user_message {
            hasher.update(fingerprint.to_le_bytes());
        }
        hasher.update((after as u64).to_le_bytes());
        Self(hasher.finalize()[..16].try_into().expect("16 bytes"))
    }
}

/// The content's fingerprint of the last `user` message among the first
/// `before` messages of `request`.
pub fn user_message_before(request: &dyn Facts, before: usize) -> Option<u64> {
    let messages = request.messages();
    (0..before.min(messages.len()))
        .rev()
        .find(|&index| messages[index].role == "user")
        .and_then(|index| request.content_hash(index))
}

/// The scope of the answer to `request`: its token's, narrowed to the
/// conversation by the request's last user message, and to its place after
/// it (the assistant turns since).
pub fn answer_scope(scope: Scope, request: &dyn Facts) -> Scope {
    let messages = request.messages();
    let after = (messages.iter().rev())
        .take_while(|message| message.role != "user")
        .filter(|message| message.role == "assistant")
        .count();
    scope.within(user_message_before(request, messages.len()), after)
}

/// One assistant turn's tool calls, for a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key([u8; 16]);

/// A tool call as the answer gave it and the replay carries it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub arguments: &'a str,
}

impl Key {
    pub fn new(scope: Scope, calls: &[Call<'_>]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(scope.0);
        for call in calls {
            for part in [call.id, call.name, &canonical(call.arguments)] {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part.as_bytes());
            }
        }
        Self(hasher.finalize()[..16].try_into().expect("16 bytes"))
    }
}

/// JSON arguments with sorted keys and no spaces, none (`""`, a call
/// whose input an Anthropic stream left empty) as `{}`, which a replay of
/// it carries; anything else as it is.
fn canonical(arguments: &str) -> String {
    if arguments.trim().is_empty() {
        return "{}".to_string();
    }
    fn sorted(value: Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(String, Value)> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
            other => other,
        }
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(value) => sorted(value).to_string(),
        Err(_) => arguments.to_string(),
    }
}

#[derive(Debug)]
pub struct ReasoningCache {
    limits: Limits,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Keys in the order they were stored; a key stored again appears
    /// twice, and the stale place is skipped when it comes up.
    order: VecDeque<(Key, u64, Instant)>,
    bytes: usize,
    /// Counts stores: tells a key's current place from its stale ones.
    stores: u64,
}

#[derive(Debug)]
struct Entry {
    text: Arc<str>,
    store: u64,
}

impl ReasoningCache {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            inner: Mutex::default(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Keeps `reasoning` for the turn `key`; empty or oversized reasoning is
    /// not kept.
    pub fn insert(&self, key: Key, reasoning: &str, now: Instant) {
        if reasoning.is_empty() || reasoning.len() > MAX_ENTRY_BYTES.min(self.limits.max_bytes) {
            return;
        }
        let text: Arc<str> = Arc::from(reasoning);
        self.with(|inner| {
            let added = text.len() + ENTRY_OVERHEAD_BYTES;
            inner.stores += 1;
            let store = inner.stores;
            if let Some(old) = inner.entries.insert(key, Entry { text, store }) {
                inner.bytes -= old.text.len() + ENTRY_OVERHEAD_BYTES;
            }
            inner.bytes += added;
            inner.order.push_back((key, store, now));
            self.evict(inner, now);
        });
    }

    /// The reasoning kept for `key`, if it is younger than the age limit.
    pub fn get(&self, key: &Key, now: Instant) -> Option<Arc<str>> {
        self.with(|inner| {
            self.evict(inner, now);
            inner.entries.get(key).map(|entry| entry.text.clone())
        })
    }

    /// Entries held and the bytes they count for.
    #[cfg(any(test, feature = "test-support"))]
    pub fn usage(&self) -> (usize, usize) {
        self.with(|inner| (inner.entries.len(), inner.bytes))
    }

    /// Drops the oldest entries until every bound holds.
    fn evict(&self, inner: &mut Inner, now: Instant) {
        let limits = &self.limits;
        while let Some(&(key, store, stored)) = inner.order.front() {
            let over = inner.entries.len() > limits.max_entries
                || inner.bytes > limits.max_bytes
                || now.saturating_duration_since(stored) >= limits.max_age;
            // A place left by a key stored again later: skip it.
            let current = inner.entries.get(&key).is_some_and(|e| e.store == store);
            if current && !over {
                break;
            }
            inner.order.pop_front();
            if current {
                let entry = inner.entries.remove(&key).expect("present");
                inner.bytes -= entry.text.len() + ENTRY_OVERHEAD_BYTES;
            }
        }
        // Stale places pile up only as fast as keys are stored again.
        if inner.order.len() > 2 * limits.max_entries + 64 {
            let entries = &inner.entries;
            inner
                .order
                .retain(|(key, store, _)| entries.get(key).is_some_and(|e| e.store == *store));
        }
    }
}

impl<'a> From<&'a OwnedCall> for Call<'a> {
    fn from(call: &'a OwnedCall) -> Self {
        Call {
            id: &call.id,
            name: &call.name,
            arguments: &call.arguments,
        }
    }
}

impl ReasoningCache {
    /// Keeps the reasoning of a whole answer (a chat completion) that
    /// made tool calls.
    pub fn remember_completion(&self, scope: Scope, completion: &serde_json::Map<String, Value>) {
        let message = &completion
            .get("choices")
            .and_then(|c| c.get(0))
            .map_or(&Value::Null, |choice| &choice["message"]);
        let calls = OwnedCall::all_of(&message["tool_calls"]);
        if let (Some(reasoning), false) = (message["reasoning_content"].as_str(), calls.is_empty())
        {
            let calls: Vec<Call> = calls.iter().map(Call::from).collect();
            self.insert(Key::new(scope, &calls), reasoning, Instant::now());
        }
    }

    /// The reasoning kept for a replayed assistant turn with these calls.
    pub fn recall(&self, scope: Scope, calls: &[OwnedCall]) -> Option<Arc<str>> {
        let calls: Vec<Call> = calls.iter().map(Call::from).collect();
        self.get(&Key::new(scope, &calls), Instant::now())
    }
}

/// `request` with the reasoning kept for each replayed assistant turn that
/// made tool calls and arrives without `reasoning_content`.
pub fn restore(cache: &ReasoningCache, scope: Scope, client: ClientRequest) -> ClientRequest {
    let request = client.facts();
    // One pass: the fingerprint of the user message a turn answers is made
    // (its text hashed) once, when a turn first needs it, and serves every
    // turn after it until the next user message; each turn's scope adds
    // its place after it.
    let mut found: Vec<(usize, Arc<str>)> = Vec::new();
    let mut last_user: Option<usize> = None;
    let mut made: Option<(Option<usize>, Option<u64>)> = None;
    // The assistant turns since the last user message.
    let mut after = 0;
    for (index, message) in request.messages().iter().enumerate() {
        if message.role == "user" {
            last_user = Some(index);
            after = 0;
            continue;
        }
        if message.role != "assistant" {
            continue;
        }
        after += 1;
        if message.tool_call_ids.is_empty() || message.has_reasoning_content {
            continue;
        }
        let calls = request.calls(index);
        if calls.is_empty() {
            continue;
        }
        let content = match made {
            Some((user, content)) if user == last_user => content,
            _ => {
                let content = last_user.and_then(|user| request.content_hash(user));
                made = Some((last_user, content));
                content
            }
        };
        let turn_scope = scope.within(content, after - 1);
        if let Some(reasoning) = cache.recall(turn_scope, &calls) {
            found.push((index, reasoning));
        }
    }
    if found.is_empty() {
        return client;
    }
    tracing::debug!(
        turns = found.len(),
        "reasoning restored into replayed tool-call turns"
    );
    client.with_restored_reasoning(found)
}

/// Gathers one answer's reasoning and tool calls from its chunks, or
/// from a provider's own Anthropic events, to keep them when the answer
/// completes. Only chunks that can carry either are parsed, and reasoning
/// only once the answer makes a call: most answers make none, and their
/// reasoning is never kept, so its chunks wait as text (up to
/// [`UNREAD_BYTES`]) instead of being read. What it holds is bounded like
/// an entry.
#[derive(Debug, Default)]
pub struct Collector {
    reasoning: String,
    calls: Vec<OwnedCall>,
    /// The reader of a provider's own events, made when the answer makes
    /// a call (or its events waiting unread grow past [`UNREAD_BYTES`]).
    events: Option<StreamTranslator>,
    /// A provider's own events not read yet, and their bytes: until the
    /// answer makes a call, its reasoning may never be kept.
    waiting: Vec<Event>,
    waiting_bytes: usize,
    /// Chunks with reasoning not read yet, one per line (a chunk's JSON
    /// text is on one line).
    unread: Vec<u8>,
    /// Over a bound: nothing is kept for this answer.
    given_up: bool,
}

/// Reasoning chunks wait unread up to this many bytes; past it they are
/// read as they come.
const UNREAD_BYTES: usize = 64 * 1024;

impl Collector {
    /// One chunk's JSON text.
    pub fn feed(&mut self, data: &[u8]) {
        if self.given_up {
            return;
        }
        static REASONING: LazyLock<Finder<'static>> =
            LazyLock::new(|| Finder::new(b"\"reasoning_content\""));
        static TOOL_CALLS: LazyLock<Finder<'static>> =
            LazyLock::new(|| Finder::new(b"\"tool_calls\""));
        let calls = TOOL_CALLS.find(data).is_some();
        if !calls && REASONING.find(data).is_none() {
            return;
        }
        if !calls
            && self.calls.is_empty()
            && self.unread.len() + data.len() < UNREAD_BYTES
            && !data.contains(&b'\n')
        {
            self.unread.extend_from_slice(data);
            self.unread.push(b'\n');
            return;
        }
        self.read_unread();
        self.read(data);
    }

    /// One of a provider's own Anthropic events, of `kind` (the answer of
    /// an Anthropic client's own body: `Item::Native`), read once into what
    /// it says (`anthropic_provider::Said`), no chunk written; its
    /// text deltas are passed over, as nothing the cache keeps. As with
    /// chunks, nothing is read until the answer makes a call (a block
    /// starts a `tool_use`): the events before that can say reasoning (a
    /// thinking delta, a block's start) wait as they came, up to
    /// [`UNREAD_BYTES`], and are then read in their order; the others say
    /// nothing the cache keeps of an answer's first call.
    pub fn feed_native(&mut self, event: &Event, kind: EventKind) {
        if self.given_up || kind == EventKind::Delta(DeltaKind::Text) {
            return;
        }
        if self.events.is_none() {
            // A call starts a block; a delta starts none.
            let starts = matches!(kind, EventKind::Start(_));
            let calls = kind == EventKind::Start(BlockKind::ToolUse);
            if !calls && !starts && kind != EventKind::Delta(DeltaKind::Thinking) {
                return;
            }
            if !calls && self.waiting_bytes + event.data.len() < UNREAD_BYTES {
                self.waiting_bytes += event.data.len();
                self.waiting.push(event.clone());
                return;
            }
            self.events = Some(StreamTranslator::new(0));
            for waiting in std::mem::take(&mut self.waiting) {
                self.read_native(&waiting);
            }
        }
        self.read_native(event);
    }

    /// One event, read once into what the cache keeps of it.
    fn read_native(&mut self, event: &Event) {
        let Some(events) = self.events.as_mut() else {
            return;
        };
        let part = match events.said(event) {
            Said::Reasoning(text) => Part::Reasoning(text.into_owned()),
            Said::Call {
                index,
                id,
                name,
                arguments,
            } => Part::ToolCall {
                index,
                id: Some(id),
                name: name.as_str().map(str::to_string),
                arguments,
            },
            Said::Arguments { index, piece } => Part::ToolCall {
                index,
                id: None,
                name: None,
                arguments: piece.into_owned(),
            },
            _ => return,
        };
        self.take(&[part]);
    }

    /// The chunks that waited, read in their order.
    fn read_unread(&mut self) {
        let unread = std::mem::take(&mut self.unread);
        for chunk in unread.split(|&b| b == b'\n').filter(|c| !c.is_empty()) {
            self.read(chunk);
        }
    }

    fn read(&mut self, data: &[u8]) {
        if self.given_up {
            return;
        }
        // Read through borrowed views of the chunk's text, not a tree.
        self.take(&Part::read_json(data));
    }

    /// One chunk's parts, as the relay read them for an encoder that
    /// reads parts ([`crate::relay::Item::Parts`]).
    pub fn feed_parts(&mut self, parts: &[Part]) {
        if self.given_up
            || !parts
                .iter()
                .any(|part| matches!(part, Part::Reasoning(_) | Part::ToolCall { .. }))
        {
            return;
        }
        self.read_unread();
        self.take(parts);
    }

    fn take(&mut self, parts: &[Part]) {
        for part in parts {
            if self.given_up {
                return;
            }
            match part {
                Part::Reasoning(text) => self.reasoning.push_str(text),
                Part::ToolCall {
                    index,
                    id,
                    name,
                    arguments,
                } => self.take_call(*index, id.as_deref(), name.as_deref(), arguments),
                _ => {}
            }
        }
        let held = self.reasoning.len()
            + self
                .calls
                .iter()
                .map(|c| c.arguments.len() + c.name.len() + c.id.len())
                .sum::<usize>();
        if held > 2 * MAX_ENTRY_BYTES {
            self.given_up = true;
            self.reasoning = String::new();
            self.calls = Vec::new();
        }
    }

    /// One piece of a tool call, into the call of its index (each later
    /// id and name replaces the one before; arguments add up). An index
    /// past [`MAX_HELD_CALLS`] gives up.
    fn take_call(&mut self, index: u64, id: Option<&str>, name: Option<&str>, arguments: &str) {
        let Some(index) = usize::try_from(index).ok().filter(|i| *i < MAX_HELD_CALLS) else {
            self.given_up = true;
            return;
        };
        if self.calls.len() <= index {
            self.calls.resize_with(index + 1, OwnedCall::default);
        }
        let call = &mut self.calls[index];
        if let Some(id) = id {
            call.id = id.to_string();
        }
        if let Some(name) = name {
            call.name = name.to_string();
        }
        call.arguments.push_str(arguments);
    }

    /// The stream completed: keeps its reasoning if it made tool calls.
    pub fn finish(self, cache: &ReasoningCache, scope: Scope) {
        if self.given_up || self.calls.is_empty() {
            return;
        }
        let calls: Vec<Call> = self.calls.iter().map(Call::from).collect();
        cache.insert(Key::new(scope, &calls), &self.reasoning, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use crate::wire::openai::ChatRequest;
    use std::time::Duration;

    use super::*;

    /// `event` fed to `collector`, its kind read as the relay reads it.
    fn feed(collector: &mut Collector, event: &Event) {
        collector.feed_native(event, EventKind::of(event));
    }

    fn call<'a>(id: &'a str, arguments: &'a str) -> Call<'a> {
        Call {
            id,
            name: "read",
            arguments,
        }
    }

    fn scope(token: &str) -> Scope {
        Scope::of_seed(token.as_bytes())
    }

    /// One call of `read` with `arguments`, by Kimi's id, as `tool_calls`.
    fn read_call(arguments: &str) -> serde_json::Value {
        serde_json::json!([{"id": "functions.read:0", "type": "function",
            "function": {"name": "read", "arguments": arguments}}])
    }

    /// Two conversations of one token make the same call with the same
    /// arguments (Kimi's ids repeat: `functions.read:0`): each replay gets
    /// its own conversation's reasoning back, told apart by the user
    /// message the turn answers, not the one kept last.
    #[test]
    fn the_same_call_in_two_conversations_keeps_two_reasonings() {
        let cache = ReasoningCache::new(Limits::default());
        let token = scope("t");
        let calls = read_call("{\"path\":\"a\"}");
        let asked = |question: &str| {
            ChatRequest::parse(
                serde_json::json!({"model": "m", "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": question}]})
                .to_string(),
            )
            .unwrap()
        };
        for (question, reasoning) in [
            ("what is in a?", "For the first."),
            ("summarise a", "For the second."),
        ] {
            let answer = serde_json::json!({"choices": [{"message": {"role": "assistant",
                "reasoning_content": reasoning, "tool_calls": calls}}]});
            cache.remember_completion(
                answer_scope(token, &asked(question)),
                answer.as_object().unwrap(),
            );
        }
        for (question, reasoning) in [
            ("what is in a?", "For the first."),
            ("summarise a", "For the second."),
        ] {
            let replay = ChatRequest::parse(
                serde_json::json!({"model": "m", "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": null, "tool_calls": calls},
                    {"role": "tool", "tool_call_id": "functions.read:0", "content": "hello"},
                    {"role": "user", "content": "and then?"}]})
                .to_string(),
            )
            .unwrap();
            let restored = restore(&cache, token, replay.into());
            assert_eq!(
                restored.restored_reasoning(2).map(|kept| &**kept),
                Some(reasoning),
                "{question}"
            );
        }
        // Another token never gets either.
        let replay = ChatRequest::parse(
            serde_json::json!({"model": "m", "messages": [
                {"role": "user", "content": "what is in a?"},
                {"role": "assistant", "content": null, "tool_calls": calls}]})
            .to_string(),
        )
        .unwrap();
        assert_eq!(
            restore(&cache, scope("other"), replay.into()).restored_reasoning(1),
            None
        );
    }

    /// An agent loop that makes the same call twice after one user message
    /// (Kimi's id, name and arguments alike): each turn gets its own
    /// reasoning back, not the later one's.
    #[test]
    fn the_same_call_twice_in_one_loop_keeps_each_turns_reasoning() {
        let cache = ReasoningCache::new(Limits::default());
        let token = scope("t");
        let calls = read_call("{\"path\":\"a\"}");
        let user = serde_json::json!({"role": "user", "content": "read a until it changes"});
        let call = serde_json::json!({"role": "assistant", "content": null, "tool_calls": calls});
        let result = serde_json::json!({"role": "tool", "tool_call_id": "functions.read:0", "content": "same"});
        let request = |messages: Vec<serde_json::Value>| {
            ChatRequest::parse(serde_json::json!({"model": "m", "messages": messages}).to_string())
                .unwrap()
        };
        for (asked, reasoning) in [
            (vec![user.clone()], "R-ONE"),
            (vec![user.clone(), call.clone(), result.clone()], "R-TWO"),
        ] {
            let answer = serde_json::json!({"choices": [{"message": {"role": "assistant",
                "reasoning_content": reasoning, "tool_calls": calls}}]});
            cache.remember_completion(
                answer_scope(token, &request(asked)),
                answer.as_object().unwrap(),
            );
        }
        let replay = request(vec![user, call.clone(), result.clone(), call, result]);
        let restored = restore(&cache, token, replay.into());
        let kept = |index| {
            restored
                .restored_reasoning(index)
                .map(|kept| kept.to_string())
        };
        assert_eq!(
            (kept(1), kept(3)),
            (Some("R-ONE".into()), Some("R-TWO".into()))
        );
    }

    /// The user message a turn answers is found again without the cache
    /// mark its client moves on to the next message (OpenClaw marks the
    /// last user message for a provider that caches by marks).
    #[test]
    fn a_turn_is_found_again_after_its_cache_mark_moved_on() {
        let cache = ReasoningCache::new(Limits::default());
        let token = scope("t");
        let calls = read_call("{}");
        let question = |marked: bool| {
            let mut part = serde_json::json!({"type": "text", "text": "what is in a?"});
            if marked {
                part["cache_control"] = serde_json::json!({"type": "ephemeral"});
            }
            serde_json::json!({"role": "user", "content": [part]})
        };
        let asked = ChatRequest::parse(
            serde_json::json!({"model": "m", "messages": [question(true)]}).to_string(),
        )
        .unwrap();
        let answer = serde_json::json!({"choices": [{"message": {"role": "assistant",
            "reasoning_content": "Read it.", "tool_calls": calls}}]});
        cache.remember_completion(answer_scope(token, &asked), answer.as_object().unwrap());
        let replay = ChatRequest::parse(
            serde_json::json!({"model": "m", "messages": [
                question(false),
                {"role": "assistant", "content": null, "tool_calls": calls},
                {"role": "tool", "tool_call_id": "functions.read:0", "content": "hello"}]})
            .to_string(),
        )
        .unwrap();
        let restored = restore(&cache, token, replay.into());
        assert_eq!(
            restored.restored_reasoning(1).map(|kept| &**kept),
            Some("Read it.")
        );
    }

    /// A long user message before thousands of tool-call turns is hashed
    /// once, not once a turn: the replay is read in about the time its
    /// bytes take (hashed once a turn, this one would hash 4 GB).
    #[test]
    fn a_long_conversation_is_restored_in_one_pass() {
        let cache = ReasoningCache::new(Limits::default());
        let token = scope("t");
        let mut messages =
            vec![serde_json::json!({"role": "user", "content": "x".repeat(1 << 20)})];
        for turn in 0..4000 {
            messages.push(serde_json::json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": format!("c{turn}"), "type": "function", "function": {"name": "read", "arguments": "{}"}}]}));
            messages.push(serde_json::json!({"role": "tool", "tool_call_id": format!("c{turn}"), "content": "ok"}));
        }
        let replay =
            ChatRequest::parse(serde_json::json!({"model": "m", "messages": messages}).to_string())
                .unwrap();
        let started = Instant::now();
        let restored = restore(&cache, token, replay.into());
        assert_eq!(restored.restored_reasoning(1), None);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_streamed_answer_is_kept_under_the_calls_a_replay_carries() {
        let cache = ReasoningCache::new(Limits::default());
        let scope = scope("t");
        let mut collector = Collector::default();
        for chunk in [
            r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"delta":{"reasoning_content":"I need "}}]}"#,
            r#"{"choices":[{"delta":{"reasoning_content":"the file."}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"functions.read:0","type":"function","function":{"name":"read","arguments":"{\"pa"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"th\": \"a\"}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#,
        ] {
            collector.feed(chunk.as_bytes());
        }
        collector.finish(&cache, scope);
        let replayed = OwnedCall::all_of(
            &serde_json::json!([{"id": "functions.read:0", "type": "function",
            "function": {"name": "read", "arguments": "{\"path\":\"a\"}"}}]),
        );
        assert_eq!(
            cache.recall(scope, &replayed).as_deref(),
            Some("I need the file.")
        );

        // A whole answer likewise; one without tool calls is not kept.
        let completion = serde_json::json!({"choices": [{"message": {"role": "assistant",
            "reasoning_content": "Then grep.", "tool_calls": [{"id": "functions.grep:1",
            "type": "function", "function": {"name": "grep", "arguments": "{}"}}]}}]});
        cache.remember_completion(scope, completion.as_object().unwrap());
        let grep = OwnedCall::all_of(&completion["choices"][0]["message"]["tool_calls"]);
        assert_eq!(cache.recall(scope, &grep).as_deref(), Some("Then grep."));
        // A call with no arguments, as an Anthropic stream leaves it, is
        // the `{}` its replay carries.
        let mut collector = Collector::default();
        for chunk in [
            r#"{"choices":[{"delta":{"reasoning_content":"Now the time."}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"toolu_1","type":"function","function":{"name":"now","arguments":""}}]}}]}"#,
        ] {
            collector.feed(chunk.as_bytes());
        }
        collector.finish(&cache, scope);
        let now = OwnedCall::all_of(&serde_json::json!([{"id": "toolu_1", "type": "function",
            "function": {"name": "now", "arguments": "{}"}}]));
        assert_eq!(cache.recall(scope, &now).as_deref(), Some("Now the time."));
        let plain = serde_json::json!({"choices": [{"message": {"reasoning_content": "x", "content": "hi"}}]});
        cache.remember_completion(scope, plain.as_object().unwrap());
        assert_eq!(cache.usage().0, 3);
    }

    /// A provider's own Anthropic events are read for the cache as its
    /// chunks are: the thinking, named or not, and the call with its input
    /// pieces; the text deltas, passed over, add nothing.
    #[test]
    fn a_providers_own_events_are_kept_under_the_calls_a_replay_carries() {
        let cache = ReasoningCache::new(Limits::default());
        let scope = scope("t");
        let event = |name: Option<&str>, data: &str| Event {
            event: name.map(str::to_string),
            data: data.into(),
            id: None,
        };
        let delta = Some("content_block_delta");
        let mut collector = Collector::default();
        for (name, data) in [
            (
                Some("message_start"),
                r#"{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":3}}}"#,
            ),
            (
                Some("content_block_start"),
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            ),
            (
                delta,
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"I need "}}"#,
            ),
            (
                None,
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"the file."}}"#,
            ),
            (
                Some("content_block_stop"),
                r#"{"type":"content_block_stop","index":0}"#,
            ),
            (
                Some("content_block_start"),
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
            ),
            (
                delta,
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Reading it."}}"#,
            ),
            (
                Some("content_block_stop"),
                r#"{"type":"content_block_stop","index":1}"#,
            ),
            (
                Some("content_block_start"),
                r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"read","input":{}}}"#,
            ),
            (
                delta,
                r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"path\": "}}"#,
            ),
            (
                delta,
                r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"\"a\"}"}}"#,
            ),
            (
                Some("content_block_stop"),
                r#"{"type":"content_block_stop","index":2}"#,
            ),
            (
                Some("message_delta"),
                r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}"#,
            ),
            (Some("message_stop"), r#"{"type":"message_stop"}"#),
        ] {
            feed(&mut collector, &event(name, data));
        }
        collector.finish(&cache, scope);
        let replayed = OwnedCall::all_of(&serde_json::json!([{"id": "toolu_1", "type": "function",
            "function": {"name": "read", "arguments": "{\"path\":\"a\"}"}}]));
        assert_eq!(
            cache.recall(scope, &replayed).as_deref(),
            Some("I need the file.")
        );
        assert_eq!(cache.usage().0, 1);
    }

    /// A provider's own events wait unread until the answer makes a call,
    /// and past `UNREAD_BYTES` are read as they come: either way all the
    /// thinking is kept, in order; an answer that makes none reads none.
    #[test]
    fn own_events_read_late_or_early_keep_the_thinking_whole() {
        let event = |data: serde_json::Value| Event {
            event: Some(data["type"].as_str().unwrap().to_string()),
            data: data.to_string(),
            id: None,
        };
        let thinking = |text: &str| {
            event(
                serde_json::json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "thinking_delta", "thinking": text}}),
            )
        };
        let call = event(
            serde_json::json!({"type": "content_block_start", "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "read", "input": {}}}),
        );
        let replayed = OwnedCall::all_of(&serde_json::json!([{"id": "toolu_1", "type": "function",
            "function": {"name": "read", "arguments": "{}"}}]));
        for pieces in [3, 100] {
            let cache = ReasoningCache::new(Limits::default());
            let piece = "t".repeat(1000);
            let mut collector = Collector::default();
            for n in 0..pieces {
                feed(&mut collector, &thinking(&format!("{n}:{piece}")));
            }
            assert_eq!(collector.events.is_some(), pieces == 100, "{pieces}");
            feed(&mut collector, &call);
            collector.finish(&cache, scope("t"));
            let kept = cache.recall(scope("t"), &replayed).unwrap();
            let whole: String = (0..pieces).map(|n| format!("{n}:{piece}")).collect();
            assert!(*kept == *whole, "{pieces} pieces kept in order");
        }
        let mut collector = Collector::default();
        feed(&mut collector, &thinking("no call"));
        assert!(collector.events.is_none() && collector.calls.is_empty());
    }

    /// Reasoning waits unread until a call comes, and past
    /// `UNREAD_BYTES` is read as it comes: either way all of it is kept,
    /// in order, also reasoning that comes between calls.
    #[test]
    fn reasoning_read_late_or_early_is_kept_whole_and_in_order() {
        let chunk = |text: &str| {
            serde_json::json!({"choices": [{"delta": {"reasoning_content": text}}]}).to_string()
        };
        let call = |id: &str| {
            serde_json::json!({"choices": [{"delta": {"tool_calls": [{"index": id.len() - 1,
                "id": id, "type": "function", "function": {"name": "read", "arguments": "{}"}}]}}]})
            .to_string()
        };
        // 200 chunks of 500 characters: past the unread bound.
        let long: Vec<String> = (0..200).map(|i| format!("{:0>500}", i)).collect();
        for (before, after) in [
            (
                vec!["a ".to_string(), "b ".to_string()],
                vec!["c".to_string()],
            ),
            (long.clone(), vec!["end".to_string()]),
        ] {
            let cache = ReasoningCache::new(Limits::default());
            let scope = scope("t");
            let mut collector = Collector::default();
            for text in &before {
                collector.feed(chunk(text).as_bytes());
            }
            collector.feed(call("1").as_bytes());
            for text in &after {
                collector.feed(chunk(text).as_bytes());
            }
            collector.feed(call("22").as_bytes());
            collector.finish(&cache, scope);
            let calls = OwnedCall::all_of(&serde_json::json!([
                {"id": "1", "type": "function", "function": {"name": "read", "arguments": "{}"}},
                {"id": "22", "type": "function", "function": {"name": "read", "arguments": "{}"}}]));
            let expected: String = before.iter().chain(&after).map(String::as_str).collect();
            assert_eq!(
                cache.recall(scope, &calls).as_deref(),
                Some(expected.as_str()),
                "{} chunks before the first call",
                before.len()
            );
        }
        // No call: nothing is kept, whatever was read.
        let cache = ReasoningCache::new(Limits::default());
        let mut collector = Collector::default();
        for text in &long {
            collector.feed(chunk(text).as_bytes());
        }
        collector.finish(&cache, scope("t"));
        assert_eq!(cache.usage().0, 0);
    }

    #[test]
    fn a_turn_is_found_again_by_its_calls_for_its_token_only() {
        let cache = ReasoningCache::new(Limits::default());
        let now = Instant::now();
        let (a, b) = (scope("token-a"), scope("token-b"));
        let turn = [call("functions.read:0", r#"{"path": "a.txt", "n": 1}"#)];
        cache.insert(Key::new(a, &turn), "I should read a.txt first.", now);

        // Re-serialised arguments (another key order, no spaces) still match.
        let replayed = [call("functions.read:0", r#"{"n":1,"path":"a.txt"}"#)];
        assert_eq!(
            cache.get(&Key::new(a, &replayed), now).as_deref(),
            Some("I should read a.txt first.")
        );
        // Another token, another id, other arguments, no authentication: no.
        assert_eq!(cache.get(&Key::new(b, &replayed), now), None);
        assert_eq!(
            cache.get(&Key::new(Scope::of_seed(b""), &replayed), now),
            None
        );
        let other_id = [call("functions.read:1", r#"{"n":1,"path":"a.txt"}"#)];
        assert_eq!(cache.get(&Key::new(a, &other_id), now), None);
        let other_args = [call("functions.read:0", r#"{"n":2,"path":"a.txt"}"#)];
        assert_eq!(cache.get(&Key::new(a, &other_args), now), None);
        // Ids and names are framed: ("ab", "c") is not ("a", "bc").
        let framed = |id, name| {
            Key::new(
                a,
                &[Call {
                    id,
                    name,
                    arguments: "{}",
                }],
            )
        };
        assert_ne!(framed("ab", "c"), framed("a", "bc"));
    }

    #[test]
    fn entries_bytes_and_age_are_bounded_oldest_first() {
        let limits = Limits {
            max_entries: 3,
            max_bytes: 3 * (10 + ENTRY_OVERHEAD_BYTES),
            max_age: Duration::from_secs(60),
        };
        let cache = ReasoningCache::new(limits);
        let t0 = Instant::now();
        let key = |n: usize| Key::new(scope("t"), &[call(&format!("c{n}"), "{}")]);
        for n in 0..5 {
            cache.insert(key(n), "0123456789", t0);
        }
        assert_eq!(cache.usage(), (3, 3 * (10 + ENTRY_OVERHEAD_BYTES)));
        assert_eq!(cache.get(&key(1), t0), None, "the oldest went first");
        assert!(cache.get(&key(4), t0).is_some());

        // A longer text pushes out as many as its bytes need.
        cache.insert(key(9), &"x".repeat(10 + ENTRY_OVERHEAD_BYTES + 10), t0);
        assert_eq!(cache.usage().0, 2);
        assert_eq!(cache.get(&key(2), t0), None);

        // Too old is gone; oversized and empty are never kept.
        assert_eq!(cache.get(&key(4), t0 + Duration::from_secs(60)), None);
        assert_eq!(cache.usage(), (0, 0));
        cache.insert(key(7), "", t0);
        cache.insert(key(8), &"x".repeat(MAX_ENTRY_BYTES + 1), t0);
        assert_eq!(cache.usage(), (0, 0));
    }

    #[test]
    fn storing_a_key_again_replaces_it_and_counts_it_once() {
        let limits = Limits {
            max_entries: 2,
            ..Limits::default()
        };
        let cache = ReasoningCache::new(limits);
        let t0 = Instant::now();
        let key = |n: usize| Key::new(scope("t"), &[call(&format!("c{n}"), "{}")]);
        for _ in 0..1000 {
            cache.insert(key(0), "first", t0);
        }
        cache.insert(key(0), "second", t0);
        cache.insert(key(1), "other", t0);
        assert_eq!(cache.get(&key(0), t0).as_deref(), Some("second"));
        assert_eq!(cache.usage(), (2, 11 + 2 * ENTRY_OVERHEAD_BYTES));
        let stale = cache.with(|inner| inner.order.len());
        assert!(stale <= 2 * 2 + 64 + 1, "stale places are swept: {stale}");
    }
}
