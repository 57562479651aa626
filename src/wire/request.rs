//! A client's request as every stage after its front end sees it: its
//! facts ([`Facts`]: what the rules, sessions, budgets and the reasoning
//! cache read), its chat form ([`ChatRequest`]: the client's bytes for a
//! chat client, a translation for the others, a Messages client's written
//! only when a target that speaks chat needs it), and beside them what
//! that form does not hold: the client's own Messages body, what that body
//! said in its own terms, the documented fields the client's body held,
//! and the reasoning the gateway gave back to replayed turns. The chat
//! form carries no other API's body.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use serde_json::value::RawValue;

use super::Seen;
use super::anthropic::Original;
use super::facts::{Facts, Noted};
use super::openai::ChatRequest;

/// One client request, read once by its front end.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    /// The request in chat form, once written (or why it cannot be):
    /// what the chat transport writes on.
    chat: OnceLock<Result<ChatRequest, String>>,
    /// A Messages client's facts, noted as its body was read, and how its
    /// chat form is written.
    translated: Option<Arc<Translated>>,
    /// The client's own Messages body (`POST /v1/messages`), for a target
    /// that speaks Messages itself.
    pub messages_body: Option<Original>,
    /// What the client's own body said that the chat form does not.
    pub native: Native,
    /// The documented fields the client's body held, as its front end's
    /// reader noted them (`translate::fields`).
    pub seen: Seen,
    /// Reasoning the gateway kept for replayed assistant tool-call turns
    /// that arrived without it, by chat message index
    /// (`crate::reasoning_cache`).
    restored_reasoning: Vec<(usize, Arc<str>)>,
}

/// What a request translated from another API said that its chat form
/// does not hold, as that front end's reader found it, for the plan: a
/// target may take it in its own terms (OpenRouter's `cache_control` on
/// text parts, its `reasoning.max_tokens`), or the answer says it was
/// dropped.
#[derive(Debug, Clone, Default)]
pub struct Native {
    /// The client's cache breakpoints (`cache_control`), each with the
    /// chat message that ends the turn or system prompt that held it.
    pub cache_marks: Vec<(usize, Arc<RawValue>)>,
    /// Whether a breakpoint had no chat message to stand on (one on a
    /// tool).
    pub unplaced_marks: bool,
    /// The thinking budget (Messages' `thinking.budget_tokens`).
    pub thinking_budget: Option<u64>,
    /// Whether the client's own `thinking` (Messages') is on (enabled or
    /// adaptive) or off; `None` without one.
    pub thinking_on: Option<bool>,
    /// Where the client's own body first holds an image, in its own terms
    /// (`messages[2].content`, `input[1].output`): the chat form's message
    /// numbers are not the client's.
    pub first_image: Option<String>,
    /// Each chat message's index in the client's own `messages`, in the
    /// chat form's order; `None` for the system prompt made of `system`.
    pub message_origins: Vec<Option<u32>>,
    /// The client's `anthropic-beta` header (Messages'), as it came.
    pub betas: Option<reqwest::header::HeaderValue>,
    /// Whether the tool-use ids of the client's own Messages body cannot
    /// all go as written: a call's id repeats (clawgate's, `cgid_…`,
    /// never do; Kimi's own do, in a history resumed from it), or a call's
    /// or a result's is no Anthropic id (empty, or Kimi's `functions
    /// f:0`). Its body then takes the ids the rules decide.
    pub ids_unfit: bool,
}

/// A body of another format: its facts, and how its chat form is written
/// (by the front end's translation, the same each time) when a target
/// that speaks chat first asks for it; `None` when it was written at once,
/// the facts' settings being then the whole chat form.
pub struct Translated {
    pub facts: Noted,
    pub write: Option<ChatWriter>,
}

/// How a request's chat form is written, or why it cannot be.
pub type ChatWriter = Box<dyn Fn() -> Result<ChatRequest, String> + Send + Sync>;

impl std::fmt::Debug for Translated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Translated")
            .field("facts", &self.facts)
            .finish_non_exhaustive()
    }
}

/// A chat client's request, with nothing beside its chat form.
impl From<ChatRequest> for ClientRequest {
    fn from(chat: ChatRequest) -> Self {
        Self::new(chat, Seen::default())
    }
}

impl ClientRequest {
    /// A request whose chat form is all there is, with what its reader
    /// `seen`.
    pub fn new(chat: ChatRequest, seen: Seen) -> Self {
        Self {
            chat: OnceLock::from(Ok(chat)),
            translated: None,
            messages_body: None,
            native: Native::default(),
            seen,
            restored_reasoning: Vec::new(),
        }
    }

    /// A request of another format, by its facts.
    pub fn translated(translated: Translated, seen: Seen) -> Self {
        Self {
            chat: OnceLock::new(),
            translated: Some(Arc::new(translated)),
            messages_body: None,
            native: Native::default(),
            seen,
            restored_reasoning: Vec::new(),
        }
    }

    /// What the rules, sessions, budgets and the reasoning cache read.
    pub fn facts(&self) -> &dyn Facts {
        match &self.translated {
            Some(translated) => &translated.facts,
            None => self.chat(),
        }
    }

    /// The request in chat form, written now if it was not yet; the error
    /// says why it cannot be (a body another format takes that chat does
    /// not: `providers::plan` skips a chat target for it).
    pub fn chat_form(&self) -> Result<&ChatRequest, &str> {
        let written = match self.translated.as_deref() {
            Some(Translated {
                write: None, facts, ..
            }) => return Ok(&facts.settings),
            Some(Translated {
                write: Some(write), ..
            }) => self.chat.get_or_init(write),
            None => (self.chat.get())
                .expect("a request without facts of its own is made with its chat form"),
        };
        written.as_ref().map_err(String::as_str)
    }

    /// The request in chat form, for a target that speaks chat: the plan
    /// of such a target skips it when it cannot be written
    /// ([`Self::chat_form`]).
    pub fn chat(&self) -> &ChatRequest {
        self.chat_form()
            .expect("a chat target is planned only for a request with a chat form")
    }

    /// Whether the chat form has been written.
    #[cfg(test)]
    pub fn chat_written(&self) -> bool {
        let at_once = matches!(
            self.translated.as_deref(),
            Some(Translated { write: None, .. })
        );
        at_once || self.chat.get().is_some()
    }

    /// Gives replayed tool-call turns the reasoning the model produced for
    /// them: `(chat message index, text)`.
    pub fn with_restored_reasoning(mut self, found: Vec<(usize, Arc<str>)>) -> Self {
        self.restored_reasoning = found;
        self
    }

    /// Where the client's body first holds an image, in its own terms;
    /// `None` without one.
    pub fn first_image(&self) -> Option<Cow<'_, str>> {
        match (&self.native.first_image, &self.translated) {
            (Some(place), _) => Some(Cow::Borrowed(place)),
            (None, Some(_)) => None,
            (None, None) => (self.chat().first_image())
                .map(|index| Cow::Owned(format!("messages[{index}].content"))),
        }
    }

    /// The reasoning kept for chat message `index`, if the client left it
    /// out.
    pub fn restored_reasoning(&self, index: usize) -> Option<&Arc<str>> {
        self.restored_reasoning
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, text)| text)
    }
}
