//! The `openai-completions` transport: the request model is this
//! protocol's own body, so a target gets the client's bytes with its edits
//! (untouched parts shared, never copied); the key goes in
//! `Authorization: Bearer`; answers and streams are already in the shapes
//! the pipeline reads.

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

use super::EventStream;
use super::transport::{EventReading, Transport};
use crate::config::Target;
use crate::format::body::{Chunks, Edits};
use crate::translate::anthropic_provider::MessagesPlan;
use crate::wire::request::ClientRequest;

pub struct OpenAi;

impl Transport for OpenAi {
    /// The client's bytes with the plan's edits, and the effort the plan
    /// fixes as `reasoning_effort`.
    fn body(
        &self,
        request: &ClientRequest,
        _target: &Target,
        edits: &Edits,
        plan: &MessagesPlan,
    ) -> Chunks {
        let request = &request.chat;
        match plan.effort {
            None => request.write(edits),
            Some(effort) => {
                let mut edits = edits.clone();
                edits.top.set("reasoning_effort", json!(effort.as_effort()));
                request.write(&edits)
            }
        }
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
