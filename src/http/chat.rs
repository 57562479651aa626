//! `POST /v1/chat/completions`, the OpenAI chat API: the request model is
//! this API's own body, read once and kept as bytes; whole answers are
//! chat completions, streams the relay's chunks as they came (only the
//! model relabelled), errors OpenAI's shape.

use bytes::{Bytes, BytesMut};
use serde_json::{Map, Value};

use super::front::FrontEnd;
use super::stream::Encoder;
use super::{AccessRecord, ApiError};
use crate::config::{Config, ModelRef};
use crate::gateway::Memos;
use crate::relay::{self, Item};
use crate::translate::fields;
use crate::wire::Front;
use crate::wire::facts::Facts;
use crate::wire::openai::{ChatRequest, EFFORTS, label_model};
use crate::wire::request::ClientRequest;

/// The OpenAI chat-completions front end.
pub struct Chat;

impl FrontEnd for Chat {
    const FRONT: Front = Front::Chat;
    type Encoder = OpenAiEncoder;
    type Context = ();

    fn decode(
        config: &Config,
        memos: &Memos,
        body: Bytes,
        record: &AccessRecord,
    ) -> Result<(ClientRequest, ()), ApiError> {
        let request = ChatRequest::parse_with(body, &memos.requests)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        if let Some(why) = undefined_thinking(&request) {
            return Err(ApiError::BadRequest(why));
        }
        record.model_asked(request.model(), &config.redactor);
        let seen = fields::chat(&request, &memos.chat_tools);
        Ok((ClientRequest::new(request, seen), ()))
    }

    fn wants_usage(request: &dyn Facts) -> bool {
        request.wants_usage()
    }

    fn answer(mut completion: Map<String, Value>, model_ref: &ModelRef, _: &()) -> Bytes {
        label_model(&mut completion, model_ref.as_str());
        serde_json::to_vec(&completion)
            .expect("a JSON value always serializes")
            .into()
    }

    fn encoder(_model_ref: &ModelRef, _: ()) -> OpenAiEncoder {
        OpenAiEncoder { finished: false }
    }
}

/// Why the request's thinking signals mean nothing the rules could carry
/// out, if they do not: a `reasoning_effort` no API defines, or a
/// `thinking` switch (Moonshot's) neither on nor off. Either would be
/// read as "on" by the rules of every target that translates it. (`off`
/// is read as `none`, as the rules always have; `null` is left out.) Or
/// a budget that is no number of tokens, which the rules would pass over.
fn undefined_thinking(request: &ChatRequest) -> Option<String> {
    let given = |key: &str| request.value(key).filter(|value| !value.is_null());
    if let Some(effort) = given("reasoning_effort")
        && !effort
            .as_str()
            .is_some_and(|e| EFFORTS.contains(&e) || e == "off")
    {
        let levels = EFFORTS.join(", ");
        return Some(format!(
            "`reasoning_effort` must be one of {levels} (or off)"
        ));
    }
    let thinking = given("thinking")?;
    if !matches!(
        thinking.get("type").and_then(Value::as_str),
        Some("enabled" | "disabled")
    ) {
        return Some(
            "`thinking.type` must be enabled or disabled (Moonshot's switch; `reasoning_effort` asks for a level, and /v1/messages takes Anthropic's adaptive thinking)"
                .into(),
        );
    }
    let budget = thinking
        .get("budget_tokens")
        .filter(|budget| !budget.is_null());
    budget
        .filter(|budget| budget.as_u64().is_none())
        .map(|_| "`thinking.budget_tokens` must be a whole number of tokens".into())
}

/// The relay's items as OpenAI's event stream: each chunk's bytes as they
/// are, `data: [DONE]`, or an error event.
pub struct OpenAiEncoder {
    finished: bool,
}

const DONE: &[u8] = b"data: [DONE]\n\n";

impl Encoder for OpenAiEncoder {
    fn encode(&mut self, item: Item, out: &mut BytesMut) {
        match item {
            Item::Chunk(chunk) => out.extend_from_slice(chunk.frame()),
            // Not sent to an encoder that reads bytes (`PARTS` is false),
            // nor to an OpenAI client (only a Messages body is sent in a
            // provider's own format, `Transport::speaks_natively`).
            Item::Parts(_) | Item::Native(..) => {}
            Item::KeepAlive(text) => relay::write_comment(&text, out),
            Item::Done => {
                self.finished = true;
                out.extend_from_slice(DONE);
            }
            Item::Error(error) => {
                self.finished = true;
                out.extend_from_slice(&relay::error_frame(&error));
            }
        }
    }

    fn is_finished(&self) -> bool {
        self.finished
    }

    fn cut_off(&mut self, _out: &mut BytesMut) {
        self.finished = true;
    }
}
