//! The seam a provider protocol plugs into: one module per transport
//! ([`super::openai`], [`super::anthropic`]) implementing [`Transport`],
//! chosen by the provider's `api` in [`super::transport_of`]. The attempt itself (limits,
//! timeouts, redirects, scrubbing, reading the first event) is shared, in
//! `upstream.rs`; the URL is the provider's `completions_url`, made for its
//! `api` when the config is validated.

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Map, Value};

use super::EventStream;
use crate::config::Target;
use crate::format::body::Chunks;
use crate::translate::anthropic_provider::MessagesPlan;
use crate::translate::decisions::Decisions;
use crate::wire::request::ClientRequest;

/// How one provider protocol is spoken. Every body asks for a stream.
pub trait Transport: Sync {
    /// The body for `target`, with the target's plan (made once on the
    /// request model) rendered in this protocol: the rules' `decided`,
    /// and what a Messages body takes besides, `messages`.
    fn body(
        &self,
        request: &ClientRequest,
        target: &Target,
        decided: &Decisions,
        messages: &MessagesPlan,
    ) -> Chunks;

    /// The headers this protocol adds: its version, the client's `betas`
    /// where the protocol has them, and `key` where the provider reads it
    /// (marked sensitive). `None` when the key cannot be a header value.
    fn headers(
        &self,
        target: &Target,
        key: Option<&str>,
        betas: Option<&HeaderValue>,
    ) -> Option<HeaderMap>;

    /// Whether the body for `request` is the client's own, in this
    /// protocol (an Anthropic client on the Anthropic transport): its
    /// events can then go to the client as they come ([`Item::Native`]).
    ///
    /// [`Item::Native`]: crate::format::sse::Item::Native
    fn speaks_natively(&self, _request: &ClientRequest) -> bool {
        false
    }

    /// The provider's event stream, read as OpenAI chunk events as far as
    /// `reading` asks; for a client of the provider's format, each event
    /// also as it came, before its reading.
    fn events(&self, events: EventStream, reading: EventReading) -> EventStream;

    /// A whole JSON answer as a chat completion; `None` when it is not an
    /// answer of this protocol.
    fn completion(&self, answer: Map<String, Value>) -> Option<Map<String, Value>>;
}

/// How much of a provider's stream the gateway reads as OpenAI chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventReading {
    /// All of it: the client does not speak the provider's format.
    Chunks,
    /// All of it, and each event goes to the client as it came too: a
    /// trace keeps the answer's content.
    NativeWhole,
    /// Each event goes to the client as it came (a streaming client's,
    /// or the events a whole answer is made of); the gateway reads the
    /// stream until the answer starts and for its end (usage, how it
    /// finished, an error), not the deltas between: the reasoning cache
    /// reads those it keeps itself.
    NativeEnds,
}

impl EventReading {
    /// Whether the client gets the provider's own events.
    pub fn native(self) -> bool {
        self != EventReading::Chunks
    }
}

/// A whole body, as one buffer.
pub(super) fn whole(body: &impl serde::Serialize) -> Chunks {
    Chunks::from(Bytes::from(
        serde_json::to_vec(body).expect("JSON values serialize"),
    ))
}
