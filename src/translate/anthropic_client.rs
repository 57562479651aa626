//! Serving an Anthropic Messages client from the gateway's OpenAI-shaped
//! pipeline: the request becomes a chat-completions request (which the
//! provider rules then shape for each target like any other), and the
//! answer, whole or streamed, becomes an Anthropic message or the exact
//! Anthropic event sequence. Rules: `../shared/facts/anthropic.md`.
//!
//! What has no OpenAI counterpart is dropped, not faked: `cache_control`,
//! `context_management`, `metadata`, `top_k`, server tools, redacted
//! thinking and thinking signatures. Blocks the pipeline cannot carry
//! (binary documents, server tool results) are refused with a message that
//! names them.

use serde_json::{Map, Value, json};

use super::ids;
use crate::wire::anthropic::{
    Block, BlockOut, Content, Delta, DocumentSource, ErrorBody, ImageSource, Message,
    MessageDeltaBody, MessageOut, MessagesRequest, StreamEvent, ThinkingConfig, ToolChoice,
    UsageOut,
};
use crate::wire::openai::Usage;

/// The attribution line Claude Code puts in its first system block. Its
/// hash changes on every request, which defeats prompt caching upstream.
const BILLING_HEADER: &str = "x-anthropic-billing-header:";

/// Why a request cannot be translated; the message names the block.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TranslateError {
    #[error("messages[{index}]: {what} is not supported by clawgate's OpenAI-compatible providers")]
    Unsupported { index: usize, what: &'static str },
    #[error("messages[{index}]: unknown role {role:?} (user, assistant or system)")]
    Role { index: usize, role: String },
}

/// The chat-completions request for `request`, asking for `model` (the
/// name the gateway resolves; `None` for its default chain).
pub fn request(request: &MessagesRequest, model: Option<&str>) -> Result<Value, TranslateError> {
    let mut out = Map::new();
    if let Some(model) = model {
        out.insert("model".into(), json!(model));
    }
    let mut messages = Vec::new();
    if let Some(system) = &request.system {
        let text = system_text(system);
        if !text.is_empty() {
            messages.push(json!({"role": "system", "content": text}));
        }
    }
    for (index, message) in request.messages.iter().enumerate() {
        translate_message(index, message, &mut messages)?;
    }
    out.insert("messages".into(), Value::Array(messages));
    if let Some(max_tokens) = request.max_tokens {
        out.insert("max_tokens".into(), json!(max_tokens));
    }
    if request.stream == Some(true) {
        out.insert("stream".into(), json!(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    let tools: Vec<Value> = request
        .tools
        .iter()
        .flatten()
        .filter_map(|tool| {
            // Server tools (web search, ...) have no schema and no
            // OpenAI-side counterpart.
            let schema = tool.input_schema.as_ref()?;
            let mut function = json!({"name": tool.name, "parameters": schema});
            if let Some(description) = &tool.description {
                function["description"] = json!(description);
            }
            Some(json!({"type": "function", "function": function}))
        })
        .collect();
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = &request.tool_choice {
            let openai = match choice {
                ToolChoice::Auto { .. } => json!("auto"),
                ToolChoice::Any { .. } => json!("required"),
                ToolChoice::None {} => json!("none"),
                ToolChoice::Tool { name, .. } => {
                    json!({"type": "function", "function": {"name": name}})
                }
            };
            out.insert("tool_choice".into(), openai);
            if choice.disables_parallel_calls() {
                out.insert("parallel_tool_calls".into(), json!(false));
            }
        }
    }
    if let Some(effort) = reasoning_effort(request) {
        out.insert("reasoning_effort".into(), json!(effort));
    }
    if let Some(stop) = request.stop_sequences.as_ref().filter(|s| !s.is_empty()) {
        out.insert("stop".into(), json!(stop));
    }
    if let Some(temperature) = request.temperature {
        out.insert("temperature".into(), json!(temperature));
    }
    if let Some(top_p) = request.top_p {
        out.insert("top_p".into(), json!(top_p));
    }
    Ok(Value::Object(out))
}

/// `thinking` and `output_config.effort` as an OpenAI `reasoning_effort`,
/// which the provider rules turn into each target's own switch. Nothing
/// asked (or adaptive thinking without an effort) leaves the provider's
/// default and the config's `thinkingDefault` in charge.
fn reasoning_effort(request: &MessagesRequest) -> Option<&'static str> {
    let effort = request
        .output_config
        .as_ref()
        .and_then(|c| c.effort.as_deref())
        .and_then(|effort| match effort {
            "low" => Some("low"),
            "medium" => Some("medium"),
            "high" | "xhigh" | "max" => Some("high"),
            _ => None,
        });
    match &request.thinking {
        Some(ThinkingConfig::Disabled {}) => Some("none"),
        Some(ThinkingConfig::Enabled { budget_tokens }) => effort.or(Some(match budget_tokens {
            Some(budget) if *budget < 4_096 => "low",
            Some(budget) if *budget >= 16_384 => "high",
            _ => "medium",
        })),
        Some(ThinkingConfig::Adaptive {}) | None => effort,
    }
}

/// The system prompt's text, without Claude Code's attribution line.
fn system_text(system: &Content) -> String {
    match system {
        Content::Text(text) => text.clone(),
        Content::Blocks(blocks) => blocks
            .iter()
            .filter_map(|block| match block {
                Block::Text { text } if !text.starts_with(BILLING_HEADER) => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n\n"),
    }
}

fn translate_message(
    index: usize,
    message: &Message,
    out: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    match message.role.as_str() {
        "system" => {
            out.push(json!({"role": "system", "content": system_text(&message.content)}));
            Ok(())
        }
        "user" => user_message(index, &message.content, out),
        "assistant" => {
            out.push(assistant_message(index, &message.content)?);
            Ok(())
        }
        role => Err(TranslateError::Role {
            index,
            role: role.to_string(),
        }),
    }
}

/// A user turn: its tool results first, as `tool` messages, then whatever
/// else it holds as one user message.
fn user_message(
    index: usize,
    content: &Content,
    out: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    let blocks = match content {
        Content::Text(text) => {
            out.push(json!({"role": "user", "content": text}));
            return Ok(());
        }
        Content::Blocks(blocks) => blocks,
    };
    let mut parts = Vec::new();
    for block in blocks {
        match block {
            Block::ToolResult {
                tool_use_id,
                content,
                ..
            } => {
                let (text, images) = match content {
                    None => (String::new(), Vec::new()),
                    Some(Content::Text(text)) => (text.clone(), Vec::new()),
                    Some(Content::Blocks(blocks)) => {
                        let mut texts = Vec::new();
                        let mut images = Vec::new();
                        // Blocks a tool result may hold that have no OpenAI
                        // form (tool references, search results) are left
                        // out rather than failing the whole turn.
                        let known = blocks.iter().filter(|b| !matches!(b, Block::Unsupported));
                        for block in known {
                            match part(index, block)? {
                                Some(Part::Text(text)) => texts.push(text),
                                Some(Part::Image(image)) => images.push(image),
                                None => {}
                            }
                        }
                        (texts.join("\n\n"), images)
                    }
                };
                out.push(json!({
                    "role": "tool",
                    "tool_call_id": ids::decode(tool_use_id),
                    "content": text,
                }));
                // A tool message carries text only: its images follow in
                // the user message.
                parts.extend(images.into_iter().map(Part::Image));
            }
            Block::ToolUse { .. } => {
                return Err(TranslateError::Unsupported {
                    index,
                    what: "a tool_use block in a user message",
                });
            }
            other => parts.extend(part(index, other)?),
        }
    }
    if !parts.is_empty() {
        out.push(json!({"role": "user", "content": parts_content(parts)}));
    }
    Ok(())
}

enum Part {
    Text(String),
    /// An OpenAI `image_url` part.
    Image(Value),
}

/// A text-like or image block of user content; `None` for what is dropped.
fn part(index: usize, block: &Block) -> Result<Option<Part>, TranslateError> {
    let unsupported = |what| Err(TranslateError::Unsupported { index, what });
    Ok(Some(match block {
        Block::Text { text } => Part::Text(text.clone()),
        Block::Image { source } => {
            let url = match source {
                ImageSource::Base64 { media_type, data } => {
                    format!("data:{media_type};base64,{data}")
                }
                ImageSource::Url { url } => url.clone(),
                ImageSource::Unsupported => return unsupported("an image source of this type"),
            };
            Part::Image(json!({"type": "image_url", "image_url": {"url": url}}))
        }
        Block::Document {
            source: DocumentSource::Text { data },
        } => Part::Text(data.clone()),
        Block::Document { .. } => return unsupported("a document block (PDF or file)"),
        // Thinking belongs to assistant turns; in a user turn it says nothing.
        Block::Thinking { .. } | Block::RedactedThinking {} => return Ok(None),
        Block::ToolUse { .. } | Block::ToolResult { .. } => {
            return unsupported("a nested tool block");
        }
        Block::Unsupported => return unsupported("a block of this type"),
    }))
}

/// Text only: one string (blocks joined by a blank line); with images, the
/// OpenAI parts array.
fn parts_content(parts: Vec<Part>) -> Value {
    if parts.iter().all(|p| matches!(p, Part::Text(_))) {
        let texts: Vec<String> = parts
            .into_iter()
            .map(|p| match p {
                Part::Text(text) => text,
                Part::Image(_) => unreachable!("checked: text only"),
            })
            .collect();
        return json!(texts.join("\n\n"));
    }
    let parts: Vec<Value> = parts
        .into_iter()
        .map(|p| match p {
            Part::Text(text) => json!({"type": "text", "text": text}),
            Part::Image(image) => image,
        })
        .collect();
    Value::Array(parts)
}

/// An assistant turn: text, thinking as `reasoning_content` (what Kimi needs
/// on replayed tool-call turns with thinking on), tool uses as `tool_calls`.
fn assistant_message(index: usize, content: &Content) -> Result<Value, TranslateError> {
    let blocks = match content {
        Content::Text(text) => return Ok(json!({"role": "assistant", "content": text})),
        Content::Blocks(blocks) => blocks,
    };
    let mut texts = Vec::new();
    let mut thinking = Vec::new();
    let mut calls = Vec::new();
    for block in blocks {
        match block {
            Block::Text { text } => texts.push(text.as_str()),
            Block::Thinking { thinking: text } => thinking.push(text.as_str()),
            Block::RedactedThinking {} => {}
            Block::ToolUse { id, name, input } => {
                let arguments = match input {
                    Value::Null => "{}".to_string(),
                    input => input.to_string(),
                };
                calls.push(json!({
                    "id": ids::decode(id),
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }));
            }
            Block::Image { .. } | Block::Document { .. } | Block::ToolResult { .. } => {
                return Err(TranslateError::Unsupported {
                    index,
                    what: "an image, document or tool_result block in an assistant message",
                });
            }
            Block::Unsupported => {
                return Err(TranslateError::Unsupported {
                    index,
                    what: "a block of this type",
                });
            }
        }
    }
    let mut message = json!({"role": "assistant", "content": texts.join("\n\n")});
    let thinking = thinking.join("\n\n");
    if !thinking.is_empty() {
        message["reasoning_content"] = json!(thinking);
    }
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    Ok(message)
}

/// Usage in Anthropic's terms: cache reads are not part of `input_tokens`.
fn usage_out(usage: &Usage) -> UsageOut {
    UsageOut {
        input_tokens: usage.input.saturating_sub(usage.cache_read),
        output_tokens: usage.output,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: usage.cache_read,
    }
}

fn stop_reason(finish_reason: Option<&str>, has_tool_use: bool) -> &'static str {
    if has_tool_use {
        // Kimi sometimes says `stop` with tool calls present.
        return "tool_use";
    }
    match finish_reason {
        Some("length") => "max_tokens",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// An Anthropic message id from the completion's id.
fn message_id(openai_id: Option<&str>) -> String {
    let id: String = openai_id
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(64)
        .collect();
    if id.is_empty() {
        "msg_clawgate".to_string()
    } else {
        format!("msg_{id}")
    }
}

/// The Anthropic message for a (shaped) chat completion, labelled `model`.
pub fn message(completion: &Map<String, Value>, model: &str) -> MessageOut {
    let choice = completion.get("choices").and_then(|c| c.get(0));
    let message = choice.and_then(|c| c.get("message"));
    let text = |key: &str| {
        message
            .and_then(|m| m.get(key))
            .map(content_text)
            .unwrap_or_default()
    };
    let mut content = Vec::new();
    let thinking = text("reasoning_content");
    if !thinking.is_empty() {
        content.push(BlockOut::Thinking {
            thinking,
            signature: String::new(),
        });
    }
    let answer = text("content");
    if !answer.is_empty() {
        content.push(BlockOut::Text { text: answer });
    }
    let calls = message
        .and_then(|m| m.get("tool_calls"))
        .and_then(Value::as_array);
    for (position, call) in calls.into_iter().flatten().enumerate() {
        let function = &call["function"];
        let arguments = function["arguments"].as_str().unwrap_or_default();
        content.push(BlockOut::ToolUse {
            id: tool_use_id(call["id"].as_str(), position),
            name: function["name"].as_str().unwrap_or_default().to_string(),
            input: tool_input(arguments),
        });
    }
    let has_tool_use = content
        .iter()
        .any(|b| matches!(b, BlockOut::ToolUse { .. }));
    let finish = choice
        .and_then(|c| c.get("finish_reason"))
        .and_then(Value::as_str);
    MessageOut {
        id: message_id(completion.get("id").and_then(Value::as_str)),
        kind: "message",
        role: "assistant",
        model: model.to_string(),
        content,
        stop_reason: Some(stop_reason(finish, has_tool_use)),
        stop_sequence: None,
        usage: Usage::of(completion)
            .map(|u| usage_out(&u))
            .unwrap_or_default(),
    }
}

/// A message's `content`: a string, or the text of its parts.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

fn tool_use_id(openai_id: Option<&str>, position: usize) -> String {
    match openai_id.filter(|id| !id.is_empty()) {
        Some(id) => ids::encode(id).into_owned(),
        None => format!("toolu_clawgate_{position}"),
    }
}

/// A tool call's arguments as the object Anthropic's `input` must be. Text
/// that is not a JSON object gives `{}`: the client then reports invalid
/// parameters to the model, which can try again.
fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => value,
        _ => json!({}),
    }
}

/// A provider's context-overflow message in the two wordings Claude Code
/// recovers from: `prompt is too long: N tokens > M` (it compacts the
/// conversation) and ``input length and `max_tokens` exceed context limit:
/// X + Y > Z`` (it asks again for less output); `None` unless the numbers
/// are known. They are read after the phrase that names the limit, so digits
/// in a model name do not count: the limit, the tokens requested, and, where
/// the provider splits them (OpenRouter, OpenAI), the input and the output.
pub fn context_overflow(message: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    let phrases = [
        "maximum context length",
        "context length",
        "token limit",
        "context window",
        "too long",
    ];
    let start = phrases.iter().find_map(|p| lower.find(p))?;
    let numbers: Vec<u64> = lower[start..]
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .take(4)
        .collect();
    match numbers[..] {
        [limit, _, input, output, ..] if input <= limit => Some(format!(
            "input length and `max_tokens` exceed context limit: {input} + {output} > {limit}"
        )),
        [limit, _, input, _, ..] => Some(format!("prompt is too long: {input} tokens > {limit}")),
        [limit, requested, ..] if requested > limit => {
            Some(format!("prompt is too long: {requested} tokens > {limit}"))
        }
        _ => None,
    }
}

/// The OpenAI-side tool call a `tool_use` block is being built from.
#[derive(Debug)]
struct ToolCall {
    /// `tool_calls[].index` in the chunks.
    openai_index: u64,
    id: Option<String>,
    name: Option<String>,
    /// Arguments that arrived before the block could be opened.
    pending: String,
    /// The block's index once opened.
    block: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Thinking,
    Text,
    /// The tool call at this position in `calls`.
    Tool(usize),
}

/// Turns the relay's OpenAI chunks (already shaped: reasoning as
/// `reasoning_content`, usage once and top-level, errors as `{"error"}`)
/// into Anthropic's event sequence: one `message_start` (and a `ping`), blocks with
/// contiguous indices and one open at a time, deltas matching their block,
/// and `message_delta` (stop reason and cumulative usage) held until the
/// end, then `message_stop`; or an `error` event.
#[derive(Debug)]
pub struct StreamTranslator {
    id: String,
    model: String,
    started: bool,
    next_index: usize,
    open: Option<(usize, Open)>,
    calls: Vec<ToolCall>,
    finish_reason: Option<String>,
    usage: UsageOut,
    finished: bool,
}

impl StreamTranslator {
    pub fn new(model: &str) -> Self {
        Self {
            id: message_id(None),
            model: model.to_string(),
            started: false,
            next_index: 0,
            open: None,
            calls: Vec::new(),
            finish_reason: None,
            usage: UsageOut::default(),
            finished: false,
        }
    }

    /// Whether the stream has ended, cleanly or with an error event.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The events for a piece of the relay's output: whole SSE events
    /// (`data: ...` lines, a blank line after each), one or more.
    pub fn frame(&mut self, frame: &[u8]) -> Vec<StreamEvent> {
        let text = String::from_utf8_lossy(frame);
        let mut events = Vec::new();
        for event in text.split("\n\n") {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if !data.is_empty() {
                events.extend(self.data(&data.join("\n")));
            }
        }
        events
    }

    /// The events for one event's data.
    pub fn data(&mut self, data: &str) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        if self.finished {
            return events;
        }
        if !self.started {
            self.started = true;
            events.push(StreamEvent::MessageStart {
                message: MessageOut {
                    id: self.id.clone(),
                    kind: "message",
                    role: "assistant",
                    model: self.model.clone(),
                    content: Vec::new(),
                    stop_reason: None,
                    stop_sequence: None,
                    usage: UsageOut::default(),
                },
            });
            // As Anthropic's own streams do.
            events.push(StreamEvent::Ping);
        }
        let data = data.trim();
        if data == "[DONE]" {
            self.finish(&mut events);
            return events;
        }
        // What is not a JSON object (scrubbed provider text) says nothing.
        let Ok(Value::Object(chunk)) = serde_json::from_str::<Value>(data) else {
            return events;
        };
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            events.push(self.error(error));
            return events;
        }
        if let Some(usage) = Usage::of(&chunk) {
            self.usage = usage_out(&usage);
        }
        let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) else {
            return events;
        };
        let delta = &choice["delta"];
        if let Some(thinking) = delta["reasoning_content"]
            .as_str()
            .filter(|t| !t.is_empty())
        {
            let index = self.ensure_open(Open::Thinking, &mut events);
            events.push(StreamEvent::ContentBlockDelta {
                index,
                delta: Delta::ThinkingDelta {
                    thinking: thinking.to_string(),
                },
            });
        }
        if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            let index = self.ensure_open(Open::Text, &mut events);
            events.push(StreamEvent::ContentBlockDelta {
                index,
                delta: Delta::TextDelta {
                    text: text.to_string(),
                },
            });
        }
        for (position, call) in delta["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            self.tool_call_delta(call, position as u64, &mut events);
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.finish_reason = Some(reason.to_string());
        }
        events
    }

    /// The index of the open block of `kind`, opening it (and closing the
    /// one before) when needed.
    fn ensure_open(&mut self, kind: Open, events: &mut Vec<StreamEvent>) -> usize {
        if let Some((index, open)) = self.open {
            if open == kind {
                return index;
            }
        }
        self.close(events);
        let index = self.next_index;
        self.next_index += 1;
        let content_block = match kind {
            Open::Thinking => BlockOut::Thinking {
                thinking: String::new(),
                signature: String::new(),
            },
            Open::Text => BlockOut::Text {
                text: String::new(),
            },
            Open::Tool(position) => {
                let call = &mut self.calls[position];
                call.block = Some(index);
                BlockOut::ToolUse {
                    id: tool_use_id(call.id.as_deref(), position),
                    name: call.name.clone().unwrap_or_default(),
                    input: json!({}),
                }
            }
        };
        events.push(StreamEvent::ContentBlockStart {
            index,
            content_block,
        });
        self.open = Some((index, kind));
        index
    }

    fn close(&mut self, events: &mut Vec<StreamEvent>) {
        if let Some((index, _)) = self.open.take() {
            events.push(StreamEvent::ContentBlockStop { index });
        }
    }

    /// One `delta.tool_calls[]` entry. A call's block opens once its name is
    /// known; arguments that came before (or with) the name are sent right
    /// after the start, so none are lost. Repeated names are ignored.
    fn tool_call_delta(&mut self, call: &Value, position: u64, events: &mut Vec<StreamEvent>) {
        let openai_index = call["index"].as_u64().unwrap_or(position);
        let id = call["id"].as_str().filter(|id| !id.is_empty());
        let name = call["function"]["name"].as_str().filter(|n| !n.is_empty());
        let arguments = call["function"]["arguments"].as_str().unwrap_or_default();
        // The latest call with this index, unless a new id starts another
        // (some providers give every call index 0).
        let existing = self
            .calls
            .iter()
            .rposition(|c| c.openai_index == openai_index)
            .filter(|&at| match (id, &self.calls[at].id) {
                (Some(new), Some(old)) => new == old,
                _ => true,
            });
        let at = match existing {
            Some(at) => at,
            None => {
                self.calls.push(ToolCall {
                    openai_index,
                    id: None,
                    name: None,
                    pending: String::new(),
                    block: None,
                });
                self.calls.len() - 1
            }
        };
        let entry = &mut self.calls[at];
        if entry.id.is_none() {
            entry.id = id.map(str::to_string);
        }
        if entry.name.is_none() {
            entry.name = name.map(str::to_string);
        }
        entry.pending.push_str(arguments);
        match (entry.block, entry.name.is_some()) {
            (None, true) => {
                let index = self.ensure_open(Open::Tool(at), events);
                self.flush_arguments(at, index, events);
            }
            (Some(index), _) if self.open == Some((index, Open::Tool(at))) => {
                self.flush_arguments(at, index, events);
            }
            (Some(_), _) => {
                if !self.calls[at].pending.is_empty() {
                    // A block cannot be reopened once another has started.
                    tracing::warn!("tool-call arguments arrived after their block closed; dropped");
                    self.calls[at].pending.clear();
                }
            }
            (None, false) => {}
        }
    }

    fn flush_arguments(&mut self, at: usize, index: usize, events: &mut Vec<StreamEvent>) {
        let pending = std::mem::take(&mut self.calls[at].pending);
        if !pending.is_empty() {
            events.push(StreamEvent::ContentBlockDelta {
                index,
                delta: Delta::InputJsonDelta {
                    partial_json: pending,
                },
            });
        }
    }

    fn finish(&mut self, events: &mut Vec<StreamEvent>) {
        self.close(events);
        let has_tool_use = self.calls.iter().any(|c| c.block.is_some());
        events.push(StreamEvent::MessageDelta {
            delta: MessageDeltaBody {
                stop_reason: Some(stop_reason(self.finish_reason.as_deref(), has_tool_use)),
                stop_sequence: None,
            },
            usage: self.usage,
        });
        events.push(StreamEvent::MessageStop);
        self.finished = true;
    }

    /// The event for the relay's error frame (`{"error": {"message",
    /// "code"}}`, already scrubbed); it ends the stream.
    fn error(&mut self, error: &Value) -> StreamEvent {
        self.finished = true;
        let kind = match error["code"].as_str() {
            Some("gateway_shutdown") => "overloaded_error",
            Some("stream_timeout") => "timeout_error",
            _ => "api_error",
        };
        StreamEvent::Error {
            error: ErrorBody {
                kind,
                message: error["message"]
                    .as_str()
                    .unwrap_or("the upstream stream failed")
                    .to_string(),
            },
        }
    }

    /// The error event for a stream that ended without a word.
    pub fn cut_off(&mut self) -> Option<StreamEvent> {
        if self.finished {
            return None;
        }
        Some(self.error(&json!({"message": "the stream ended unexpectedly"})))
    }
}

#[cfg(test)]
mod tests;
