//! The Anthropic request in, a chat-completions request out.

use serde_json::{Map, Value, json};

use crate::translate::ids;
use crate::wire::anthropic::{
    Block, Content, DocumentSource, ImageSource, Message, MessagesRequest, ThinkingConfig,
    ToolChoice, without_billing_header,
};

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

/// The system prompt's text, without Claude Code's attribution line (in a
/// block of its own or leading a plain string).
fn system_text(system: &Content) -> String {
    match system {
        Content::Text(text) => without_billing_header(text).to_string(),
        Content::Blocks(blocks) => blocks
            .iter()
            .filter_map(|block| match block {
                Block::Text { text } => Some(without_billing_header(text)),
                _ => None,
            })
            .filter(|text| !text.is_empty())
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
                is_error,
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
                // OpenAI's tool message has no failure flag: the model
                // learns of the failure from the text.
                let text = match is_error {
                    Some(true) => format!("Error: {text}"),
                    _ => text,
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
/// Blocks of Anthropic's server tools (`server_tool_use`,
/// `web_search_tool_result`, ...), found in a conversation begun on Claude,
/// are left out: the model's own text already says what it learnt.
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
            Block::RedactedThinking {} | Block::Unsupported => {}
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
