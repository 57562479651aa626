//! Reaching an Anthropic Messages provider from the gateway's OpenAI-shaped
//! pipeline: the chat-completions body (after the provider rules' edits) is
//! rewritten as a Messages body, and the provider's answer, streamed or not,
//! is rewritten as the chat completion or chunks an OpenAI client expects.
//! An Anthropic client's own body skips the first rewrite: [`passthrough`].
//! Pure functions over `serde_json` values; the transport that calls them is
//! [`crate::upstream::anthropic`].
//!
//! Choices this translation makes, each documented in `docs/providers.md`:
//! - `system` and `developer` messages become the `system` blocks, in order,
//!   wherever they stood in the history.
//! - Tool-call ids go through a reversible scheme ([`ids::encode_stable`]), so
//!   Kimi's `functions.<name>:<n>` ids survive Anthropic's id alphabet and
//!   clients see the ids they sent.
//! - Tool-call `arguments` that are not a JSON object (invalid JSON from a
//!   model, say) are kept as `{"_raw_arguments": "<text>"}` rather than lost;
//!   empty arguments become `{}`; arguments written as an object (not its
//!   JSON text) are the input as they are.
//! - A chat client's body this translation cannot read whole (a member of
//!   another type than it reads, a role it has no place for) is refused
//!   before it is sent ([`unreadable`]).
//! - `reasoning_content` replayed on an assistant message becomes a
//!   `thinking` block (signature empty), even when empty: the Kimi rules add
//!   `""` where Kimi insists on reasoning being replayed.
//! - `max_tokens` and thinking (`{type: enabled, budget_tokens}`) are what
//!   the target's plan decided ([`MessagesPlan`]).
//! - Fields Anthropic has no place for (`n`, penalties, `response_format`,
//!   `logprobs`, `seed`, `reasoning_effort`, `stream_options`, ...) are
//!   dropped, and so are custom tools and a choice naming one; `user`
//!   becomes `metadata.user_id`.
//! - An `allowed_tools` choice offers only the tools it lists, its mode as
//!   the choice.

mod carried;
pub mod passthrough;
mod readable;

pub use carried::Carried;
pub use readable::unreadable;

use std::borrow::Cow;

use reqwest::header::HeaderValue;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::ids;
use crate::capabilities::ThinkingSwitch;
use crate::format::sse::{Event, Item};
use crate::wire::chunk;
use crate::wire::openai::{allowed_tools, function_name};

/// What a target's plan decided of a Messages body, in typed fields:
/// `providers::plan` decides each, once; the Anthropic transport writes
/// them, onto a translated body ([`request`]) or the client's own
/// ([`passthrough`]), and decides nothing.
#[derive(Debug, Clone, Default)]
pub struct MessagesPlan {
    /// `max_tokens` (which Anthropic requires).
    pub max_tokens: u64,
    /// Thinking on, off, not sent, or the body's own.
    pub thinking: ThinkingSwitch,
    /// The thinking budget sent with thinking on.
    pub budget: u64,
    /// Whether Claude Code's billing-header line goes from `system`.
    pub without_billing_header: bool,
    /// Members of the client's body the target is not sent.
    pub removed: &'static [&'static str],
    /// Whether server tools (a `type` and no `input_schema`) go.
    pub without_server_tools: bool,
    /// The `anthropic-beta` header sent: a Messages client's, less the
    /// betas of what the target is not sent.
    pub betas: Option<HeaderValue>,
    /// The target's own rewrites of the client's body, in order: the ones
    /// the body holds something for.
    pub rewrites: Vec<Rewrite>,
    /// The rules' decisions that a client's own Messages body takes too
    /// (made for a Messages client only: a translated body takes them as
    /// the request model's edits).
    pub carried: Carried,
}

/// A rewrite of a client's Messages body that a dialect's rules ask for
/// (`providers`, where what the front end read of the body calls for
/// it): [`passthrough`] applies it, knowing only which members it works
/// on.
#[derive(Debug, Clone, Copy)]
pub struct Rewrite {
    /// The members it reads or changes, read into a tree.
    pub members: &'static [&'static str],
    /// The rewrite, on a tree holding its members.
    pub apply: fn(&mut Map<String, Value>),
}

/// The Anthropic Messages body for an OpenAI chat-completions body, with
/// the output limit and thinking the `plan` decided.
pub fn request(openai: &Map<String, Value>, plan: &MessagesPlan) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(model) = openai.get("model") {
        out.insert("model".into(), model.clone());
    }
    out.insert("max_tokens".into(), json!(plan.max_tokens));
    let (system, messages) = messages(openai.get("messages"));
    if !system.is_empty() {
        out.insert("system".into(), Value::Array(system));
    }
    out.insert("messages".into(), Value::Array(messages));

    let allowed = openai.get("tool_choice").and_then(allowed_tools);
    let tools: Vec<Value> = openai
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(tool)
        .filter(|tool| {
            (allowed.as_ref()).is_none_or(|names| names.iter().any(|name| tool["name"] == *name))
        })
        .collect();
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
    }
    let mut choice = openai.get("tool_choice").and_then(tool_choice);
    if openai.get("parallel_tool_calls") == Some(&Value::Bool(false)) {
        let choice = choice.get_or_insert_with(|| json!({"type": "auto"}));
        // `none` calls no tool, and Anthropic's takes no other member.
        if choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = Value::Bool(true);
        }
    }
    if let Some(choice) = choice {
        out.insert("tool_choice".into(), choice);
    }

    let stop: Vec<Value> = match openai.get("stop") {
        Some(Value::String(text)) => vec![json!(text)],
        Some(Value::Array(items)) => items.iter().filter(|v| v.is_string()).cloned().collect(),
        _ => Vec::new(),
    };
    if !stop.is_empty() {
        out.insert("stop_sequences".into(), Value::Array(stop));
    }
    for key in ["temperature", "top_p", "top_k", "stream"] {
        if let Some(value) = openai.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), value.clone());
        }
    }
    match plan.thinking {
        ThinkingSwitch::On | ThinkingSwitch::OwnOn => {
            out.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": plan.budget}),
            );
        }
        ThinkingSwitch::Off => {
            out.insert("thinking".into(), json!({"type": "disabled"}));
        }
        ThinkingSwitch::AsSent | ThinkingSwitch::Omitted => {}
    }
    if let Some(user) = openai.get("user").and_then(Value::as_str) {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    out
}

/// Whether an OpenAI-side request asks thinking on or off, in the words
/// the rules write it: a `thinking` switch (Moonshot's), else a
/// `reasoning` object (OpenRouter's); `None` when neither says.
pub fn asks_thinking(thinking: Option<&Value>, reasoning: Option<&Value>) -> Option<bool> {
    if let Some(kind) = thinking.and_then(|t| t.get("type")) {
        return match kind.as_str() {
            Some("enabled") => Some(true),
            Some("disabled") => Some(false),
            _ => None,
        };
    }
    let reasoning = reasoning.filter(|r| r.is_object())?;
    Some(!(reasoning["enabled"] == json!(false) || reasoning["effort"] == json!("none")))
}

/// `(system blocks, messages)`: consecutive messages of one role are merged,
/// and a user message's tool results come before its other blocks.
fn messages(messages: Option<&Value>) -> (Vec<Value>, Vec<Value>) {
    let messages: &[Value] = messages
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    // A custom tool's call has no Messages form (its tool is dropped, and
    // named): it goes, and its result with it.
    let custom: Vec<&str> = (messages.iter())
        .filter_map(|message| message.get("tool_calls")?.as_array())
        .flatten()
        .filter(|call| call.get("function").is_none())
        .filter_map(|call| call.get("id")?.as_str())
        .collect();
    let mut system = Vec::new();
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in messages {
        let content = message.get("content");
        let (role, blocks) = match message.get("role").and_then(Value::as_str) {
            Some("system" | "developer") => {
                system.extend(text_blocks(content));
                continue;
            }
            Some("assistant") => ("assistant", assistant_blocks(message)),
            Some("tool") => {
                let id = message
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if custom.contains(&id) {
                    continue;
                }
                let result = json!({
                    "type": "tool_result",
                    "tool_use_id": ids::encode_stable(id),
                    "content": tool_result_content(content),
                });
                ("user", vec![result])
            }
            // A legacy `function` message answers a `function_call`, which
            // has no Messages form either (both named).
            Some("function") => continue,
            _ => ("user", user_blocks(content)),
        };
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => out.push((role, blocks)),
        }
    }
    let messages = out
        .into_iter()
        .map(|(role, mut blocks)| {
            // A stable sort keeps the results' own order.
            blocks.sort_by_key(|block| block["type"] != "tool_result");
            json!({"role": role, "content": blocks})
        })
        .collect();
    (system, messages)
}

/// Text blocks of a string or an array of parts; other parts are dropped.
fn text_blocks(content: Option<&Value>) -> Vec<Value> {
    match content {
        Some(Value::String(text)) if !text.is_empty() => {
            vec![json!({"type": "text", "text": text})]
        }
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| {
                let text = part.get("text").and_then(Value::as_str)?;
                (!text.is_empty()).then(|| marked(json!({"type": "text", "text": text}), part))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `block` with the `cache_control` of the chat `part` it came from, if
/// it has one (OpenRouter's form for Anthropic's models; the Anthropic
/// transport honours it).
fn marked(mut block: Value, part: &Value) -> Value {
    if let Some(mark) = part.get("cache_control").filter(|m| !m.is_null()) {
        block["cache_control"] = mark.clone();
    }
    block
}

fn user_blocks(content: Option<&Value>) -> Vec<Value> {
    let Some(Value::Array(parts)) = content else {
        return text_blocks(content);
    };
    parts
        .iter()
        .filter_map(|part| match part.get("type").and_then(Value::as_str) {
            Some("text") => part
                .get("text")
                .and_then(Value::as_str)
                .filter(|text| !text.is_empty())
                .map(|text| marked(json!({"type": "text", "text": text}), part)),
            Some("image_url") => {
                let url = part
                    .pointer("/image_url/url")
                    .or_else(|| part.get("image_url"))
                    .and_then(Value::as_str)?;
                Some(marked(
                    json!({"type": "image", "source": image_source(url)}),
                    part,
                ))
            }
            _ => None,
        })
        .collect()
}

/// A base64 data URL as a base64 source, its media type without its
/// parameters (`image/png;charset=utf-8` is `image/png`); anything else as
/// a URL source, which the provider judges.
fn image_source(url: &str) -> Value {
    let data = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(','));
    match data {
        Some((meta, data))
            if meta
                .split(';')
                .skip(1)
                .any(|p| p.eq_ignore_ascii_case("base64")) =>
        {
            let media_type = meta.split(';').next().unwrap_or_default();
            json!({"type": "base64", "media_type": media_type, "data": data})
        }
        _ => json!({"type": "url", "url": url}),
    }
}

/// A tool message's content as a `tool_result`'s: its text, and its
/// images as image blocks (which a `tool_result` takes).
fn tool_result_content(content: Option<&Value>) -> Value {
    match content {
        Some(Value::String(text)) => json!(text),
        Some(Value::Array(_)) => Value::Array(user_blocks(content)),
        _ => json!(""),
    }
}

fn assistant_blocks(message: &Value) -> Vec<Value> {
    let mut blocks = Vec::new();
    if let Some(reasoning) = message.get("reasoning_content").and_then(Value::as_str) {
        blocks.push(json!({"type": "thinking", "thinking": reasoning, "signature": ""}));
    }
    blocks.extend(text_blocks(message.get("content")));
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|call| call.get("function").is_some())
    {
        let id = call.get("id").and_then(Value::as_str).unwrap_or_default();
        let name = function_name(call).unwrap_or_default();
        // Arguments written as the object itself are that input.
        let input = match call.pointer("/function/arguments") {
            Some(object @ Value::Object(_)) => object.clone(),
            arguments => tool_input(arguments.and_then(Value::as_str).unwrap_or_default()),
        };
        blocks.push(json!({
            "type": "tool_use",
            "id": ids::encode_stable(id),
            "name": name,
            "input": input,
        }));
    }
    blocks
}

/// A tool call's `arguments` string as a `tool_use` input object.
fn tool_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(object @ Value::Object(_)) => object,
        _ => json!({"_raw_arguments": arguments}),
    }
}

/// A function tool in Messages form; `None` for a custom tool, whose
/// free-form input has no Messages form (`translate::fields` names it
/// dropped).
fn tool(tool: &Value) -> Option<Value> {
    if tool.get("type").and_then(Value::as_str) != Some("function") {
        return None;
    }
    let function = tool.get("function")?;
    let mut out = json!({
        "name": function.get("name")?.as_str()?,
        "input_schema": function.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object"})),
    });
    if let Some(description) = function.get("description").filter(|d| d.is_string()) {
        out["description"] = description.clone();
    }
    if let Some(strict) = function.get("strict").filter(|s| s.is_boolean()) {
        out["strict"] = strict.clone();
    }
    Some(out)
}

/// A chat `tool_choice` in Messages form; `None` when it has none (a
/// choice naming a custom tool, which is not sent). An `allowed_tools`
/// choice is its mode: the tools it lists are the ones offered
/// ([`allowed_tools`]).
pub fn tool_choice(choice: &Value) -> Option<Value> {
    match choice {
        Value::String(kind) => match kind.as_str() {
            "auto" => Some(json!({"type": "auto"})),
            "none" => Some(json!({"type": "none"})),
            "required" => Some(json!({"type": "any"})),
            _ => None,
        },
        Value::Object(_) if choice["type"] == "allowed_tools" => {
            tool_choice(choice.pointer("/allowed_tools/mode")?)
        }
        Value::Object(_) => {
            let name = function_name(choice)?;
            Some(json!({"type": "tool", "name": name}))
        }
        _ => None,
    }
}

/// An OpenAI `finish_reason` for an Anthropic `stop_reason`; `tool_calls`
/// for an answer that holds tool calls and ended on its own (Kimi may say
/// `end_turn` then), never for one cut off (`length`: its last call's
/// arguments may be cut too) or refused.
fn finish_reason(stop_reason: Option<&str>, has_tool_calls: bool) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("refusal") => "content_filter",
        Some("tool_use") => "tool_calls",
        _ if has_tool_calls => "tool_calls",
        _ => "stop",
    }
}

/// Anthropic usage figures, kept as they arrive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Usage {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_creation: u64,
    /// Some figure came as a whole number: an answer that reports none
    /// has its usage unknown (priced from its bytes), never zero.
    reported: bool,
}

impl Usage {
    /// Overwrites the figures `usage` carries (Anthropic's stream figures
    /// are cumulative).
    fn update(&mut self, usage: Option<&Value>) {
        let Some(usage) = usage else { return };
        let fields = [
            ("input_tokens", &mut self.input),
            ("output_tokens", &mut self.output),
            ("cache_read_input_tokens", &mut self.cache_read),
            ("cache_creation_input_tokens", &mut self.cache_creation),
        ];
        for (key, slot) in fields {
            if let Some(value) = usage.get(key).and_then(crate::wire::usage::count) {
                *slot = value;
                self.reported = true;
            }
        }
    }

    /// In OpenAI's terms ([`Self::openai`]), when any figure was reported.
    fn reported(self) -> Option<OpenAiUsage> {
        self.reported.then(|| self.openai())
    }

    /// In OpenAI's terms: `prompt_tokens` counts cached input too. The
    /// figures are the provider's: sums stop at the largest count rather
    /// than overflow.
    fn openai(self) -> OpenAiUsage {
        let prompt = (self.input)
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_creation);
        OpenAiUsage {
            prompt_tokens: prompt,
            completion_tokens: self.output,
            total_tokens: prompt.saturating_add(self.output),
            prompt_tokens_details: CacheDetails {
                cached_tokens: self.cache_read,
                cache_write_tokens: self.cache_creation,
            },
        }
    }
}

/// Usage in OpenAI's terms, written in the order OpenAI writes it.
#[derive(Serialize)]
struct OpenAiUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: CacheDetails,
}

#[derive(Serialize)]
struct CacheDetails {
    cached_tokens: u64,
    cache_write_tokens: u64,
}

/// An Anthropic message as an OpenAI `chat.completion`, or `None` when the
/// body is not a message.
pub fn answer(message: &Map<String, Value>, created: u64) -> Option<Map<String, Value>> {
    if message.get("type").and_then(Value::as_str) != Some("message") {
        return None;
    }
    let mut content = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for block in message.get("content")?.as_array()? {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => content.push_str(block["text"].as_str().unwrap_or_default()),
            Some("thinking") => {
                reasoning.push_str(block["thinking"].as_str().unwrap_or_default());
            }
            Some("tool_use") => calls.push(json!({
                "id": ids::decode(block["id"].as_str().unwrap_or_default()),
                "type": "function",
                "function": {
                    "name": block["name"],
                    "arguments": block.get("input").unwrap_or(&json!({})).to_string(),
                },
            })),
            _ => {}
        }
    }
    let mut reply = json!({"role": "assistant", "content": content});
    if !reasoning.is_empty() {
        reply["reasoning_content"] = json!(reasoning);
    }
    let stop_reason = message.get("stop_reason").and_then(Value::as_str);
    let finish = finish_reason(stop_reason, !calls.is_empty());
    if !calls.is_empty() {
        reply["tool_calls"] = Value::Array(calls);
    }
    let mut usage = Usage::default();
    usage.update(message.get("usage"));
    let fields = [
        (
            "id",
            message.get("id").cloned().unwrap_or_else(|| json!("msg")),
        ),
        ("object", json!("chat.completion")),
        ("created", json!(created)),
        (
            "model",
            message.get("model").cloned().unwrap_or(Value::Null),
        ),
        (
            "choices",
            json!([{"index": 0, "message": reply, "finish_reason": finish}]),
        ),
        ("usage", json!(usage.reported())),
    ];
    Some(
        (fields.into_iter())
            .filter(|(key, value)| !(*key == "usage" && value.is_null()))
            .map(|(key, value)| (key.to_string(), value))
            .collect(),
    )
}

/// One Anthropic event as [`StreamTranslator::read`] reads it.
pub struct Reading {
    pub items: Vec<Item>,
    /// The event is the provider's error (its item is the error chunk).
    pub error: bool,
    /// The event's data is not JSON: nothing can be read of it, and a
    /// stream that sends it cannot go on.
    pub unreadable: bool,
}

/// What one Anthropic event says, read once ([`StreamTranslator::said`]):
/// what its chunks are written from, and what the reasoning cache keeps of
/// a provider's own events. Text is borrowed from the event where it has
/// no escape.
#[derive(Debug, PartialEq)]
pub enum Said<'a> {
    /// The message starts: its id, model and first usage are the
    /// translator's now.
    Start,
    Text(Cow<'a, str>),
    Reasoning(Cow<'a, str>),
    /// A `tool_use` block starts the answer's call `index`; `arguments`,
    /// when a provider sends the input whole here rather than in pieces.
    Call {
        index: u64,
        id: String,
        name: Value,
        arguments: String,
    },
    /// A piece of the arguments of call `index`, the open block's.
    Arguments {
        index: u64,
        piece: Cow<'a, str>,
    },
    /// The message ends, as the chat form says it; its usage is the
    /// translator's now.
    End(&'static str),
    /// `message_stop`.
    Done,
    Ping,
    /// The provider's error event's `error`.
    Error(Value),
    /// Nothing a chunk carries: a block's end, a signature, empty text, a
    /// block with no OpenAI place (`redacted_thinking`), an event unknown.
    Nothing,
}

/// Rewrites an Anthropic event stream as OpenAI chunk events, one event at
/// a time. Its state is a few fields whatever the stream's length: the
/// message's id and model, the open tool call, the tool-call count and
/// usage.
#[derive(Debug)]
pub struct StreamTranslator {
    created: u64,
    id: String,
    model: Value,
    /// The index among the answer's tool calls of the open `tool_use`
    /// block, if the open block is one, and whether any of its input was
    /// said.
    open_tool: Option<(u64, bool)>,
    tool_calls: u64,
    usage: Usage,
}

impl StreamTranslator {
    /// `created` is the chunks' `created` time.
    pub fn new(created: u64) -> Self {
        Self {
            created,
            id: "msg".to_string(),
            model: Value::Null,
            open_tool: None,
            tool_calls: 0,
            usage: Usage::default(),
        }
    }

    /// The OpenAI items for one Anthropic event: chunks, a `[DONE]`, an
    /// error event, or a comment for a `ping`. Data that is not JSON is
    /// passed on as it is, for the reader to refuse ([`Reading::unreadable`]).
    pub fn translate(&mut self, event: &Event) -> Vec<Item> {
        self.read(event).items
    }

    /// [`Self::translate`], saying whether the event is the provider's
    /// error (known by its type, or by its name without one).
    pub fn read(&mut self, event: &Event) -> Reading {
        let Ok(data) = serde_json::from_str::<Members>(&event.data) else {
            return Reading {
                items: vec![data_item(event.data.clone())],
                error: false,
                unreadable: true,
            };
        };
        let kind = chunk::text(data.kind);
        let kind = kind.as_deref().or(event.event.as_deref());
        let error = kind == Some("error");
        let said = self.said_in(kind.unwrap_or_default(), data);
        Reading {
            error,
            items: self.chunks(said),
            unreadable: false,
        }
    }

    /// What `event` says; [`Said::Nothing`] for data that is not JSON.
    pub fn said<'a>(&mut self, event: &'a Event) -> Said<'a> {
        let Ok(data) = serde_json::from_str::<Members>(&event.data) else {
            return Said::Nothing;
        };
        match chunk::text(data.kind) {
            Some(kind) => self.said_in(&kind, data),
            None => self.said_in(event.event.as_deref().unwrap_or_default(), data),
        }
    }

    fn said_in<'a>(&mut self, kind: &str, data: Members<'a>) -> Said<'a> {
        match kind {
            "message_start" => {
                let message: Members = read(data.message);
                if let Some(id) = chunk::text(message.id) {
                    self.id = id.into_owned();
                }
                self.model = tree(message.model);
                self.usage.update(Some(&tree(message.usage)));
                Said::Start
            }
            "content_block_start" => self.block_start(read(data.content_block)),
            "content_block_delta" => self.block_delta(data.delta()),
            // A call that said no input takes none: `{}`, as OpenAI
            // writes it, not an empty text no JSON reader takes.
            "content_block_stop" => match self.open_tool.take() {
                Some((index, false)) => Said::Arguments {
                    index,
                    piece: Cow::Borrowed("{}"),
                },
                _ => Said::Nothing,
            },
            "message_delta" => {
                self.usage.update(Some(&tree(data.usage)));
                let stop_reason = chunk::text(data.delta().stop_reason);
                Said::End(finish_reason(stop_reason.as_deref(), self.tool_calls > 0))
            }
            "message_stop" => Said::Done,
            "ping" => Said::Ping,
            "error" => Said::Error(data.error.map_or_else(|| json!({}), |raw| tree(Some(raw)))),
            _ => Said::Nothing,
        }
    }

    fn block_start<'a>(&mut self, block: Members<'_>) -> Said<'a> {
        self.open_tool = None;
        let text = |raw| Cow::Owned(chunk::text(raw).unwrap_or_default().into_owned());
        match chunk::text(block.kind).as_deref() {
            Some("text") => nonempty(text(block.text), Said::Text),
            Some("thinking") => nonempty(text(block.thinking), Said::Reasoning),
            Some("tool_use") => {
                let index = self.tool_calls;
                self.tool_calls += 1;
                // Anthropic starts a call with `input: {}` and streams the
                // input; a provider that sends it whole here is honoured,
                // as it wrote it.
                let arguments = match (tree(block.input), block.input) {
                    (Value::Object(input), Some(raw)) if !input.is_empty() => raw.get().to_string(),
                    _ => String::new(),
                };
                self.open_tool = Some((index, !arguments.is_empty()));
                Said::Call {
                    index,
                    id: ids::decode(&chunk::text(block.id).unwrap_or_default()).into_owned(),
                    name: tree(block.name),
                    arguments,
                }
            }
            // `redacted_thinking` and blocks yet unknown have no OpenAI
            // place.
            _ => Said::Nothing,
        }
    }

    fn block_delta<'a>(&mut self, delta: Members<'a>) -> Said<'a> {
        let text = |raw| chunk::text(raw).unwrap_or_default();
        match chunk::text(delta.kind).as_deref() {
            Some("text_delta") => nonempty(text(delta.text), Said::Text),
            Some("thinking_delta") => nonempty(text(delta.thinking), Said::Reasoning),
            Some("input_json_delta") => match &mut self.open_tool {
                Some((index, said)) => nonempty(text(delta.partial_json), |piece| {
                    *said = true;
                    Said::Arguments {
                        index: *index,
                        piece,
                    }
                }),
                None => Said::Nothing,
            },
            _ => Said::Nothing,
        }
    }

    /// The OpenAI items `said` is written as.
    fn chunks(&self, said: Said<'_>) -> Vec<Item> {
        let item = match said {
            Said::Start => self.chunk(&json!({"role": "assistant", "content": ""}), None),
            Said::Text(text) => self.chunk(&OneMember("content", &text), None),
            Said::Reasoning(text) => self.chunk(&OneMember("reasoning_content", &text), None),
            Said::Call {
                index,
                id,
                name,
                arguments,
            } => {
                let call = json!({"index": index, "id": id, "type": "function",
                    "function": {"name": name, "arguments": arguments}});
                self.chunk(&json!({"tool_calls": [call]}), None)
            }
            Said::Arguments { index, piece } => {
                let call = json!({"index": index, "function": {"arguments": piece}});
                self.chunk(&json!({"tool_calls": [call]}), None)
            }
            Said::End(finish) => {
                let end = self.chunk(&json!({}), Some(finish));
                let Some(usage) = self.usage.reported() else {
                    return vec![end];
                };
                let usage = UsageChunkOut {
                    id: &self.id,
                    object: "chat.completion.chunk",
                    created: self.created,
                    model: &self.model,
                    choices: [],
                    usage,
                };
                let usage = serde_json::to_string(&usage).expect("a chunk serializes");
                return vec![end, data_item(usage)];
            }
            Said::Done => data_item("[DONE]".to_string()),
            Said::Ping => Item::Comment("ping".to_string()),
            Said::Error(error) => data_item(json!({"error": error}).to_string()),
            Said::Nothing => return Vec::new(),
        };
        vec![item]
    }

    fn chunk(&self, delta: &impl Serialize, finish: Option<&'static str>) -> Item {
        let chunk = ChunkOut {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: [ChoiceOut {
                index: 0,
                delta,
                finish_reason: finish,
            }],
        };
        data_item(serde_json::to_string(&chunk).expect("a chunk serializes"))
    }
}

/// What the translator reads of an Anthropic event (its `type`,
/// `message`, `content_block`, `delta`, `usage`, `error`) and of an
/// object it holds (a message, a block's start, a delta: their `type`,
/// `id`, `model`, `usage`, `name`, `input`, `text`, `thinking`,
/// `partial_json`, `stop_reason`), each member kept as written until the
/// event's type needs it (most events are deltas), read with
/// [`chunk::text`] or as a [`tree`] (a member of another shape is as good
/// as absent). A member written twice is read as its last, as the clients'
/// JSON readers and the key hold read it, never dropped with the rest.
#[derive(Default)]
struct Members<'a> {
    kind: Option<&'a RawValue>,
    message: Option<&'a RawValue>,
    content_block: Option<&'a RawValue>,
    delta: Option<&'a RawValue>,
    usage: Option<&'a RawValue>,
    error: Option<&'a RawValue>,
    id: Option<&'a RawValue>,
    model: Option<&'a RawValue>,
    name: Option<&'a RawValue>,
    input: Option<&'a RawValue>,
    text: Option<&'a RawValue>,
    thinking: Option<&'a RawValue>,
    partial_json: Option<&'a RawValue>,
    stop_reason: Option<&'a RawValue>,
}

impl<'a> Members<'a> {
    /// Its `delta`, read (empty when it has none or is not an object).
    fn delta(&self) -> Members<'a> {
        read(self.delta)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Object<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Object<'a> {
            type Value = Members<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<M>(self, mut map: M) -> Result<Members<'a>, M::Error>
            where
                M: serde::de::MapAccess<'de>,
            {
                let mut members = Members::default();
                while let Some(Name(place)) = map.next_key()? {
                    match place {
                        Some(place) => {
                            // `null` is as good as absent, the last one too.
                            let value: &RawValue = map.next_value()?;
                            *place(&mut members) = (value.get() != "null").then_some(value);
                        }
                        None => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(members)
            }
        }
        deserializer.deserialize_map(Object(std::marker::PhantomData))
    }
}

/// A member's name, unescaped (`"t\u0065xt"` is `text`): its place in
/// [`Members`], `None` for one not read.
struct Name<'a>(Option<Place<'a>>);

type Place<'a> = for<'m> fn(&'m mut Members<'a>) -> &'m mut Option<&'a RawValue>;

impl<'de, 'a> Deserialize<'de> for Name<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Identifier<'a>(std::marker::PhantomData<&'a ()>);
        impl<'a> serde::de::Visitor<'_> for Identifier<'a> {
            type Value = Name<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member's name")
            }

            fn visit_str<E>(self, name: &str) -> Result<Name<'a>, E> {
                let place: Place<'a> = match name {
                    "type" => |m| &mut m.kind,
                    "message" => |m| &mut m.message,
                    "content_block" => |m| &mut m.content_block,
                    "delta" => |m| &mut m.delta,
                    "usage" => |m| &mut m.usage,
                    "error" => |m| &mut m.error,
                    "id" => |m| &mut m.id,
                    "model" => |m| &mut m.model,
                    "name" => |m| &mut m.name,
                    "input" => |m| &mut m.input,
                    "text" => |m| &mut m.text,
                    "thinking" => |m| &mut m.thinking,
                    "partial_json" => |m| &mut m.partial_json,
                    "stop_reason" => |m| &mut m.stop_reason,
                    _ => return Ok(Name(None)),
                };
                Ok(Name(Some(place)))
            }
        }
        deserializer.deserialize_identifier(Identifier(std::marker::PhantomData))
    }
}

/// A member read into `T` (its default when absent or of another shape).
fn read<'a, T: Deserialize<'a> + Default>(raw: Option<&'a RawValue>) -> T {
    raw.and_then(|raw| serde_json::from_str(raw.get()).ok())
        .unwrap_or_default()
}

/// `said` of `text`, or nothing for empty text.
fn nonempty<'a>(text: Cow<'a, str>, said: impl FnOnce(Cow<'a, str>) -> Said<'a>) -> Said<'a> {
    if text.is_empty() {
        Said::Nothing
    } else {
        said(text)
    }
}

/// A member's value as a tree (`null` when absent): for the events that
/// come once or twice a stream.
fn tree(raw: Option<&RawValue>) -> Value {
    raw.and_then(|raw| serde_json::from_str(raw.get()).ok())
        .unwrap_or(Value::Null)
}

/// The chunk that carries an answer's usage, its choices empty.
#[derive(Serialize)]
struct UsageChunkOut<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a Value,
    choices: [(); 0],
    usage: OpenAiUsage,
}

/// An OpenAI chunk, written in the order OpenAI writes its members.
#[derive(Serialize)]
struct ChunkOut<'a, D> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a Value,
    choices: [ChoiceOut<'a, D>; 1],
}

#[derive(Serialize)]
struct ChoiceOut<'a, D> {
    index: u8,
    delta: &'a D,
    finish_reason: Option<&'static str>,
}

/// A delta of one member, `{field: text}`.
struct OneMember<'a>(&'static str, &'a str);

impl Serialize for OneMember<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.0, self.1)?;
        map.end()
    }
}

fn data_item(data: String) -> Item {
    Item::Event(Event {
        event: None,
        data,
        id: None,
    })
}

#[cfg(test)]
mod tests;
