//! The `openai-completions` transport: the request model is this
//! protocol's own body, so a target gets the client's bytes with its edits
//! (untouched parts shared, never copied); the key goes in
//! `Authorization: Bearer`; answers and streams are already in the shapes
//! the pipeline reads.

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Map, Value};

use super::EventStream;
use super::transport::{EventReading, Transport};
use crate::config::Target;
use crate::format::body::Chunks;
use crate::translate::anthropic_provider::MessagesPlan;
use crate::translate::decisions::Decisions;
use crate::wire::request::ClientRequest;

pub struct OpenAi;

impl Transport for OpenAi {
    /// The client's bytes with the plan's decisions as member edits.
    fn body(
        &self,
        request: &ClientRequest,
        _target: &Target,
        decided: &Decisions,
        _plan: &MessagesPlan,
    ) -> Chunks {
        decided.write(request.chat())
    }

    /// The chat API has no betas (`translate::fields` names them dropped).
    fn headers(
        &self,
        _target: &Target,
        key: Option<&str>,
        _betas: Option<&HeaderValue>,
    ) -> Option<HeaderMap> {
        let mut headers = HeaderMap::new();
        if let Some(key) = key {
            let mut value = HeaderValue::try_from(format!("Bearer {key}")).ok()?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        Some(headers)
    }

    fn events(&self, events: EventStream, _reading: EventReading) -> EventStream {
        events
    }

    fn completion(&self, answer: Map<String, Value>) -> Option<Map<String, Value>> {
        answer.contains_key("choices").then_some(answer)
    }
}
