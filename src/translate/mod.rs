//! Translation between the OpenAI chat API the gateway's pipeline speaks and
//! Anthropic's Messages API. Pure: JSON in, JSON out, no I/O, no clock.
//!
//! - [`anthropic_client`]: serving an Anthropic client (`POST /v1/messages`)
//!   from the OpenAI-shaped chain: its request in, the answer and the
//!   stream's events back out.
//! - [`anthropic_provider`]: reaching a provider that speaks Anthropic
//!   (`api: "anthropic-messages"`): the chain's OpenAI request out, its
//!   answer and events back in OpenAI's shape.
//! - [`responses_client`]: serving an OpenAI Responses client
//!   (`POST /v1/responses`, Codex) from the chat-completions chain.
//! - [`completion`]: a whole chat completion's first choice, as both
//!   answer translations read it.
//! - [`decisions`]: the rules' decisions for a target, typed, and their
//!   rendering as edits of the request model.
//! - [`held_calls`]: streamed tool calls held until they are whole.
//! - [`ids`]: the reversible mapping of tool-call ids between the two APIs.
//! - [`token_estimate`]: `count_tokens` without a provider.

pub mod anthropic_client;
pub mod anthropic_provider;
pub mod chat_body;
pub mod completion;
pub mod decisions;
pub mod fields;
pub mod held_calls;
pub mod ids;
pub mod responses_client;
pub mod token_estimate;

/// The members of an answer that are not carried to a client of another API
/// (OpenAI's `annotations`, `images`, `audio`, for a Messages or
/// Responses client): each named once in the log as the answer meets it,
/// not dropped without a word.
#[derive(Debug, Default)]
pub struct Unplaced(Vec<&'static str>);

impl Unplaced {
    /// `member` of the answer, not carried to a client of `api`: at WARN,
    /// but for reasoning's signatures, which OpenRouter sends with most
    /// reasoning and the docs say are not carried (an INFO line, beside the
    /// answer's access line).
    pub fn note(&mut self, member: &'static str, api: &str) {
        if self.0.contains(&member) {
            return;
        }
        self.0.push(member);
        let line = format!("the answer's `{member}` is not carried to a {api} client: dropped");
        if member == crate::wire::openai::SIGNED_REASONING {
            tracing::info!(member, "{line}");
        } else {
            tracing::warn!(member, "{line}");
        }
    }

    /// Notes each of the chat-only members a whole answer's `first`
    /// choice holds ([`crate::wire::openai::Part::Unplaced`], in a stream).
    pub fn in_answer(&mut self, first: &completion::FirstChoice, api: &str) {
        for member in ["annotations", "images", "audio"] {
            if first.holds(member) {
                self.note(member, api);
            }
        }
        if (first.member("reasoning_details")).is_some_and(crate::wire::openai::signs_reasoning) {
            self.note(crate::wire::openai::SIGNED_REASONING, api);
        }
    }
}

/// One event's data of OpenAI-shaped SSE text, as the stream encoders'
/// tests hand it over (the gateway's encoders get typed items instead):
/// the end (`[DONE]`), an error object (`{"error": {"message", "code"}}`),
/// or a chunk's parts. Text that is no JSON object (scrubbed provider
/// text) is a chunk of no parts.
#[cfg(test)]
pub(crate) enum TestData {
    Done,
    Error { code: String, message: String },
    Parts(Vec<crate::wire::openai::Part>),
}

#[cfg(test)]
impl TestData {
    /// Each event's data of `frame` (whole events), read by the one
    /// event-stream parser.
    pub(crate) fn frame(frame: &[u8]) -> Vec<Self> {
        let data = crate::format::sse::data_of(frame);
        data.iter().map(|data| Self::read(data)).collect()
    }

    pub(crate) fn read(data: &str) -> Self {
        use serde_json::Value;
        let data = data.trim();
        if data == "[DONE]" {
            return Self::Done;
        }
        let Ok(Value::Object(chunk)) = serde_json::from_str::<Value>(data) else {
            return Self::Parts(Vec::new());
        };
        match chunk.get("error").filter(|e| !e.is_null()) {
            Some(error) => Self::Error {
                code: error["code"].as_str().unwrap_or_default().to_string(),
                message: (error["message"].as_str())
                    .unwrap_or("the upstream stream failed")
                    .to_string(),
            },
            None => Self::Parts(crate::wire::openai::Part::read_json(data.as_bytes())),
        }
    }
}
