//! The chat-completions request and response as the gateway sees them:
//! parsing and checking a client's request (once), and the few things read
//! from or written into an answer.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::ModelRef;

/// A client's request, parsed once. Fields the gateway does not know stay
/// in `body` untouched and reach the provider as sent.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub body: Map<String, Value>,
    pub stream: bool,
}

/// Why a request body was refused; the message names the field.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RequestError {
    #[error("the request body is not valid JSON: {0}")]
    Json(String),
    #[error("{0}")]
    Invalid(String),
}

impl ChatRequest {
    pub fn parse(bytes: &[u8]) -> Result<Self, RequestError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| RequestError::Json(e.to_string()))?;
        let Value::Object(body) = value else {
            return Err(RequestError::Invalid(
                "the request body must be a JSON object".into(),
            ));
        };
        let invalid = |message: &str| Err(RequestError::Invalid(message.to_string()));
        match body.get("messages") {
            None => return invalid("`messages` is required"),
            Some(Value::Array(messages)) if messages.is_empty() => {
                return invalid("`messages` must contain at least one message");
            }
            Some(Value::Array(messages)) => {
                for (index, message) in messages.iter().enumerate() {
                    if !message.get("role").is_some_and(Value::is_string) {
                        return Err(RequestError::Invalid(format!(
                            "`messages[{index}]` must be an object with a string `role`"
                        )));
                    }
                }
            }
            Some(_) => return invalid("`messages` must be an array"),
        }
        match body.get("model") {
            None | Some(Value::String(_)) | Some(Value::Null) => {}
            Some(_) => return invalid("`model` must be a string"),
        }
        let stream = match body.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(stream)) => *stream,
            Some(_) => return invalid("`stream` must be a boolean"),
        };
        Ok(Self { body, stream })
    }

    /// The model the client asked for, if any.
    pub fn model(&self) -> Option<&str> {
        self.body.get("model").and_then(Value::as_str)
    }
}

/// Token counts in OpenClaw's terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub total: u64,
}

impl Usage {
    /// Usage from a response or stream chunk: top-level `usage`, or
    /// Moonshot's `choices[0].usage`. Cached input is OpenAI's
    /// `prompt_tokens_details.cached_tokens` or Moonshot's `cached_tokens`.
    pub fn of(response: &Map<String, Value>) -> Option<Self> {
        let usage = response
            .get("usage")
            .filter(|u| u.is_object())
            .or_else(|| {
                response
                    .get("choices")?
                    .get(0)?
                    .get("usage")
                    .filter(|u| u.is_object())
            })?;
        let number = |value: Option<&Value>| value.and_then(Value::as_u64).unwrap_or(0);
        let input = number(usage.get("prompt_tokens"));
        let output = number(usage.get("completion_tokens"));
        let cache_read = usage
            .pointer("/prompt_tokens_details/cached_tokens")
            .or_else(|| usage.get("cached_tokens"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let total = usage
            .get("total_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(input + output);
        Some(Self {
            input,
            output,
            cache_read,
            total,
        })
    }
}

/// Makes an upstream response name the ref that answered, not the
/// provider's own model id.
pub fn label_model(response: &mut Map<String, Value>, model_ref: &ModelRef) {
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

    fn check_invalid(body: &str, expected: &str) {
        let err = ChatRequest::parse(body.as_bytes()).unwrap_err();
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
            br#"{"model": "a/b", "stream": true, "messages": [{"role": "user"}], "x": 1}"#,
        )
        .unwrap();
        assert!(request.stream);
        assert_eq!(request.model(), Some("a/b"));
        assert_eq!(request.body["x"], json!(1));
    }

    #[test]
    fn usage_is_read_from_either_place() {
        let openai = json!({"usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4}}});
        let moonshot = json!({"choices": [{"delta": {}, "usage": {"prompt_tokens": 10, "completion_tokens": 5,
            "cached_tokens": 4}}]});
        let expected = Usage {
            input: 10,
            output: 5,
            cache_read: 4,
            total: 15,
        };
        assert_eq!(Usage::of(openai.as_object().unwrap()), Some(expected));
        assert_eq!(Usage::of(moonshot.as_object().unwrap()), Some(expected));
        assert_eq!(Usage::of(json!({"usage": null}).as_object().unwrap()), None);
    }
}
