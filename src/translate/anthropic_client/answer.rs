//! A whole chat completion in, an Anthropic message out.

use serde_json::{Map, Value};

use super::{message_id, stop_reason, tool_input, usage_out};
use crate::translate::Unplaced;
use crate::translate::completion::FirstChoice;
use crate::translate::ids::{self, Nonce};
use crate::wire::Raw;
use crate::wire::anthropic::{BlockOut, MessageOut};
use crate::wire::usage::Usage;

/// The Anthropic message for a (shaped) chat completion, labelled `model`;
/// its tool-use ids carry `nonce` (see [`ids`]).
pub fn message(completion: &Map<String, Value>, model: &str, nonce: Nonce) -> MessageOut {
    let first = FirstChoice::of(completion);
    Unplaced::default().in_answer(&first, "Messages");
    let mut content = Vec::new();
    let thinking = first.text("reasoning_content");
    if !thinking.is_empty() {
        content.push(BlockOut::Thinking {
            thinking,
            signature: String::new(),
        });
    }
    let answer = first.text("content");
    if !answer.is_empty() {
        content.push(BlockOut::Text { text: answer });
    }
    // OpenAI's refusal: the Messages API says it as text, and why it ended.
    let refusal = first.text("refusal");
    let refused = !refusal.is_empty();
    if refused {
        content.push(BlockOut::Text { text: refusal });
    }
    for (position, call) in first.tool_calls().iter().enumerate() {
        let function = &call["function"];
        let arguments = function["arguments"].as_str().unwrap_or_default();
        content.push(BlockOut::ToolUse {
            id: ids::encode(call["id"].as_str(), position, nonce),
            name: function["name"].as_str().unwrap_or_default().to_string(),
            input: Raw::of(tool_input(arguments)),
        });
    }
    let has_tool_use = content
        .iter()
        .any(|b| matches!(b, BlockOut::ToolUse { .. }));
    let finish = first.finish_reason();
    MessageOut {
        id: message_id(completion.get("id").and_then(Value::as_str), nonce),
        kind: "message",
        role: "assistant",
        model: model.to_string(),
        content,
        stop_reason: Some(stop_reason(finish, has_tool_use, refused)),
        stop_sequence: None,
        usage: Usage::of(completion)
            .map(|u| usage_out(&u))
            .unwrap_or_default(),
    }
}
