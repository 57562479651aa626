//! A whole chat completion in, a response object out.

use serde_json::{Map, Value};

use super::{Identity, ToolNames, status, usage_out};
use crate::translate::Unplaced;
use crate::translate::completion::FirstChoice;
use crate::translate::ids;
use crate::wire::responses::{Echo, OutputItem, ResponseOut, TextPart};
use crate::wire::usage::Usage;

/// The response object for a (shaped) chat completion, labelled `model`:
/// output items in the order reasoning, message, function calls.
pub fn response(
    completion: &Map<String, Value>,
    model: &str,
    identity: &Identity,
    names: &ToolNames,
    echo: &Echo,
) -> ResponseOut {
    let first = FirstChoice::of(completion);
    Unplaced::default().in_answer(&first, "Responses");
    let mut output = Vec::new();
    let reasoning = first.text("reasoning_content");
    if !reasoning.is_empty() {
        output.push(OutputItem::Reasoning {
            id: identity.item_id("rs", output.len()),
            summary: vec![TextPart::SummaryText { text: reasoning }],
        });
    }
    let calls = first.tool_calls();
    let (answer, refusal) = (first.text("content"), first.text("refusal"));
    let mut message = |part| {
        output.push(OutputItem::Message {
            id: identity.item_id("msg", output.len()),
            status: "completed",
            role: "assistant",
            content: vec![part],
        });
    };
    if !answer.is_empty() || (calls.is_empty() && refusal.is_empty()) {
        message(TextPart::OutputText {
            text: answer,
            annotations: [],
        });
    }
    // OpenAI's refusal: a message of its own, as a stream gives it.
    if !refusal.is_empty() {
        message(TextPart::Refusal { refusal });
    }
    for (position, call) in calls.iter().enumerate() {
        let function = &call["function"];
        let call_id = ids::encode(call["id"].as_str(), position, identity.nonce);
        let call = names.call(
            function["name"].as_str().unwrap_or_default(),
            function["arguments"].as_str().unwrap_or_default(),
        );
        output.push(call.item(identity.item_id("fc", output.len()), call_id, true));
    }
    let finish = first.finish_reason();
    let (status, incomplete_details) = status(finish);
    if incomplete_details.is_some()
        && let Some(last) = output.last_mut()
    {
        last.cut();
    }
    ResponseOut {
        id: identity.response_id.clone(),
        object: "response",
        created_at: identity.created_at,
        status,
        model: model.to_string(),
        output,
        usage: Usage::of(completion).map(|usage| usage_out(&usage)),
        error: None,
        incomplete_details,
        echo: echo.clone(),
        store: false,
    }
}
