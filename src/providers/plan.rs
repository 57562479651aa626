//! The one decision per request and target: what the target is sent (the
//! rules' [`Decisions`], the stream asked for whatever the client asked), or
//! why it is not sent at all: a [`Skip`] (the target cannot take this
//! request; the chain moves on to the next) or a [`Refusal`] (no target
//! could; the client gets a 400 naming the field). Pure, like every rule:
//! the transports only render a plan onto their own bodies.

use super::Withheld;
use super::moonshot::KimiTools;
use crate::capabilities::{Api, MaxTokensField};
use crate::config::Target;
use crate::translate::anthropic_provider::{self, MessagesPlan};
use crate::translate::decisions::{Decisions, Limit, Stream, Usage};
use crate::wire::Front;
use crate::wire::request::ClientRequest;

/// The most tools Kimi accepts in one request, on either API.
pub const KIMI_MAX_TOOLS: usize = 128;

/// What one target is sent for one request.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The rules' decisions, the stream asked for.
    pub decided: Decisions,
    /// The most output the target may give, as the output limit is sent
    /// (`providers::most_output`): what the budgets reserve.
    pub most_output: u64,
    /// The target cannot give more than `most_output`: a limit is sent,
    /// or the model has one (else an answer without usage is not
    /// estimated as if it could not).
    pub output_held: bool,
    /// What the client asked that this target is not sent (the answer
    /// names it as dropped).
    pub withheld: Vec<Withheld>,
    /// What a Messages body gets, in typed fields (the Anthropic
    /// transport's: output limit, thinking and its budget, what goes,
    /// the target's own rewrites).
    pub messages: MessagesPlan,
}

impl Plan {
    /// The plan under a reservation (a budget or a rate limit holds the
    /// request's worst cost before the call): a chat target that would be
    /// sent no output limit is sent the one the reservation assumed for
    /// each choice ([`Plan::most_output`] over the choices), in the field
    /// the model reads, so that no answer costs more than was reserved. A
    /// Messages body always has its limit.
    pub fn bounded(mut self, client: &ClientRequest, target: &Target) -> Self {
        let fields = [
            MaxTokensField::MaxTokens,
            MaxTokensField::MaxCompletionTokens,
        ];
        let sent = (fields.iter())
            .any(|field| (self.decided).limit_sent(client.facts(), *field).is_some());
        if target.provider.api == Api::OpenAiCompletions && !sent {
            let field =
                (target.model.capabilities.max_tokens_field).unwrap_or(MaxTokensField::MaxTokens);
            let choices = super::choices(&self.decided, client.facts(), target);
            *self.decided.output.at(field) = Limit::Bounded(self.most_output / choices);
            self.output_held = true;
        }
        self
    }
}

/// Why a target is not sent the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Declined {
    Skip(Skip),
    Refuse(Refusal),
}

/// A request this target cannot take, though another may: the chain moves
/// on, with a logged reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    #[error("`tools` holds {count} tools and Kimi accepts at most {max}")]
    TooManyTools { count: usize, max: usize },
    #[error(
        "`{place}` holds an image and the model takes text only (its `input` has no \"image\")"
    )]
    Image {
        /// Where the client's body first holds an image, in its own terms
        /// (`messages[2].content`, `input[1].output`).
        place: String,
    },
    /// The body has no chat form for a target that speaks chat (one the
    /// client's own format takes and chat does not).
    #[error("the request cannot be written for a chat target: {why}")]
    NoChatForm { why: String },
}

impl Skip {
    /// The access line's and the log's label: `skipped(<label>)`.
    pub fn label(&self) -> &'static str {
        match self {
            Skip::TooManyTools { .. } => "too_many_tools",
            Skip::Image { .. } => "image_input",
            Skip::NoChatForm { .. } => "no_chat_form",
        }
    }
}

/// A request clawgate sends to no target: the request's own fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "clawgate refused to send it: messages[{index}] is a tool result without a tool_call_id, and {} (give each result its call's id)",
        if *candidates == 0 { "no call of the turn before it is left unanswered".to_string() }
        else { format!("{candidates} calls of the turn before it could be its call") }
    )]
    UnpairedToolResult { index: usize, candidates: usize },
    /// A chat body the Anthropic translation cannot read whole
    /// ([`anthropic_provider::unreadable`]): its member and what it should
    /// be.
    #[error("clawgate refused to send it to an Anthropic-format target: {0}")]
    Unreadable(String),
}

/// What the plan remembers from request to request: Kimi's reading of
/// the `tools` text a client sends every turn. One for the gateway's
/// life, held by [`crate::gateway::Memos`].
#[derive(Default)]
pub struct Memo {
    kimi_tools: KimiTools,
}

/// What `target` is to be sent for `request`, or why it is not.
pub fn plan(client: &ClientRequest, target: &Target, memo: &Memo) -> Result<Plan, Declined> {
    if target.provider.api == Api::OpenAiCompletions
        && let Err(why) = client.chat_form()
    {
        return Err(Declined::Skip(Skip::NoChatForm {
            why: why.to_string(),
        }));
    }
    // A chat client's body, translated for an Anthropic target, is read
    // whole there: what it cannot read would be lost in silence.
    if target.provider.api == Api::AnthropicMessages
        && client.seen.front == Front::Chat
        && let Some(why) = anthropic_provider::unreadable(client.chat().bytes())
    {
        return Err(Declined::Refuse(Refusal::Unreadable(why)));
    }
    let request = client.facts();
    // A tool result that cannot be paired with its call (see
    // `tool_results`; the others are repaired by the rules).
    let repairs = super::tool_results::repairs(request.messages()).map_err(|unpaired| {
        Declined::Refuse(Refusal::UnpairedToolResult {
            index: unpaired.index,
            candidates: unpaired.candidates,
        })
    })?;
    // Kimi's tools are read once (remembered across turns): their number
    // here, their schema form in the rules.
    let kimi_tools = match request.raw("tools") {
        Some(tools) if target.provider.dialect.is_kimi() => Some(memo.kimi_tools.read(tools)),
        _ => None,
    };
    if let Some(read) = &kimi_tools
        && read.count > KIMI_MAX_TOOLS
    {
        return Err(Declined::Skip(Skip::TooManyTools {
            count: read.count,
            max: KIMI_MAX_TOOLS,
        }));
    }
    if !target.model.input.iter().any(|kind| kind == "image")
        && let Some(place) = client.first_image()
    {
        return Err(Declined::Skip(Skip::Image {
            place: place.into_owned(),
        }));
    }
    let mut ruled = super::rules(client, target, repairs, kimi_tools);
    if !request.stream() {
        ruled.decided.stream = streamed(target);
        // The options are the gateway's own: the client's are not sent.
        ruled.withheld.push(Withheld::WrittenAnew("stream_options"));
    }
    Ok(Plan {
        decided: ruled.decided,
        most_output: ruled.most_output,
        output_held: ruled.output_held,
        withheld: ruled.withheld,
        messages: ruled.messages,
    })
}

/// Every request is streamed upstream: one the client did not stream asks
/// for a stream (with usage, where the provider can stream it), and is
/// assembled for the client (`chain::assemble`).
fn streamed(target: &Target) -> Stream {
    Stream {
        asked: true,
        usage: Some(match target.model.capabilities.streamed_usage {
            true => Usage::Only,
            false => Usage::Remove,
        }),
    }
}
