//! The request rules: pure functions from a client's request and the target
//! it is going to, to the [`Decisions`] that make it right for that
//! provider and model, each field set by the one rule that decides it. No
//! I/O, no clock, no config lookups beyond the [`Target`], so every rule is
//! covered by "request in -> request out" table tests.
//!
//! One file per dialect ([`moonshot`] for Moonshot's rules, which
//! [`kimi_coding`] shares; [`openrouter`]; [`openai`] for any other
//! endpoint). This file holds what every dialect shares: the model's
//! `params`, reading the client's thinking signal, the developer role, the
//! output limit, the thinking budget, streamed usage and the upstream
//! model id; and, for a Messages body ([`MessagesPlan`]), the billing
//! header and what only Anthropic serves.

mod kimi_coding;
mod moonshot;
mod openai;
mod openrouter;
mod plan;
pub mod response;
pub mod tool_results;

pub use plan::{Declined, KIMI_MAX_TOOLS, Memo, Plan, Refusal, Skip, plan};

use reqwest::header::HeaderValue;
use serde_json::{Value, json};

use crate::capabilities::{Api, Dialect, MaxTokensField, ThinkingLevel, ThinkingSwitch};
use crate::config::Target;
use crate::translate::anthropic_provider::{self, Carried, MessagesPlan};
use crate::translate::decisions::{
    CallId, Decisions, Limit, Reasoning, Switch, ToolChoice, Turn, Usage,
};
use crate::translate::fields::MessagesRow;
use crate::wire::Front;
use crate::wire::anthropic::effort_of_budget;
use crate::wire::facts::Facts;
use crate::wire::request::{ClientRequest, Native};

pub use crate::capabilities::FALLBACK_MAX_TOKENS;

/// The output a request may get from a model when neither the request,
/// the model's `params` nor its `maxTokens` names a limit, over the chat
/// transport (a Messages body is given [`FALLBACK_MAX_TOKENS`]): what a
/// budget reserves for it.
pub const UNKNOWN_MAX_OUTPUT: u64 = 16_384;

/// The smallest thinking budget Anthropic accepts.
const MIN_THINKING_BUDGET: u64 = 1024;

/// The edits that make `request` right for `target` (the rules alone,
/// without the plan's skips and stream, rendered as the chat transport
/// writes them: for the rules' table tests).
#[cfg(any(test, feature = "test-support"))]
pub fn edits(
    request: &crate::wire::openai::ChatRequest,
    target: &Target,
) -> crate::format::body::Edits {
    // A result that cannot be paired is refused by the plan.
    let repairs = tool_results::repairs(request.messages()).unwrap_or_default();
    let request = ClientRequest::from(request.clone());
    rules(&request, target, repairs, None)
        .decided
        .chat_edits(request.chat())
}

pub use crate::wire::Withheld;

/// The most output `target` may give `request`, as its rules send the
/// output limit ([`Draft::most_output`]): what the budgets and a client's
/// `tokensPerMinute` reserve for it.
pub fn most_output(request: &ClientRequest, target: &Target) -> u64 {
    let mut draft = Draft::new(request);
    fill_params(&mut draft, target);
    output_limit(&mut draft, target);
    draft.most_output(target)
}

/// What the rules decided for one target: the decisions, what the target
/// is not sent, and a Messages body's own.
struct Ruled {
    decided: Decisions,
    most_output: u64,
    /// The target cannot give more ([`Draft::output_held`]).
    output_held: bool,
    withheld: Vec<Withheld>,
    messages: MessagesPlan,
}

/// The rules' decisions, given the tool results paired again and, for
/// Kimi, what was read of the tools.
fn rules(
    request: &ClientRequest,
    target: &Target,
    repairs: Vec<(usize, String)>,
    kimi_tools: Option<moonshot::ToolsRead>,
) -> Ruled {
    let mut draft = Draft::new(request);
    draft.kimi_tools = kimi_tools;
    for (index, id) in &repairs {
        draft.answer_call(*index, CallId::Text(id.clone()));
    }
    draft.paired_again = repairs;
    fill_params(&mut draft, target);
    let thinking = requested_thinking(&draft, target);
    draft.limit = output_limit(&mut draft, target);
    match target.provider.dialect {
        Dialect::Moonshot => moonshot::apply(&mut draft, target, thinking),
        Dialect::KimiCoding => kimi_coding::apply(&mut draft, target, thinking),
        Dialect::OpenRouter => openrouter::apply(&mut draft, target, thinking),
        Dialect::Generic => openai::apply(&mut draft, target, thinking),
    }
    if target.provider.dialect != Dialect::OpenRouter {
        no_place_for_native(&mut draft, target);
    }
    thinking_written_anew(&mut draft, target);
    keep_not_taken(&mut draft, target);
    only_anthropic_serves(&mut draft, target);
    no_choice_without_tools(&mut draft, target);
    developer_role(&mut draft, target);
    streamed_usage(&mut draft, target);
    draft.decided.model = model_id(target).to_string();
    if target.provider.api == Api::AnthropicMessages {
        if !target.provider.dialect.is_kimi() {
            // Messages refuses a repeated `tool_use` id; Kimi's rules make
            // them unique already, and so, the same way, for any provider.
            moonshot::unique_tool_call_ids(&mut draft);
        }
        messages_body(&mut draft, target);
    }
    Ruled {
        most_output: draft.most_output(target),
        output_held: draft.output_held(target),
        decided: draft.decided,
        withheld: draft.withheld,
        messages: draft.messages,
    }
}

/// The id `target` is sent as: its model's, but where its dialect names
/// the model otherwise (OpenRouter's router).
pub fn model_id(target: &Target) -> &str {
    match target.provider.dialect {
        Dialect::OpenRouter => openrouter::model_id(&target.model.id),
        _ => &target.model.id,
    }
}

/// What a Messages body gets that a chat body has no word for: the output
/// limit it requires, thinking as the rules wrote it, with its budget,
/// and Claude Code's billing-header line taken from `system` (as the
/// translation takes it): its hash changes on every request and defeats
/// the provider's cache. A Messages client's own body takes, besides, the
/// rules' decisions that mean the same in Messages ([`Carried`]).
fn messages_body(draft: &mut Draft, target: &Target) {
    let max_tokens = draft
        .limit
        .or(target.model.max_tokens)
        .unwrap_or(FALLBACK_MAX_TOKENS);
    let asked = draft.asked_budget();
    // The thinking signals as the target is sent them.
    let decided = &draft.decided;
    let sent = |key: &str, set: Option<Value>| match set {
        Some(value) => Some(value),
        None if decided.removes(key) => None,
        None => draft.given(key),
    };
    let thinking = switch(
        sent("thinking", decided.thinking.as_ref().map(Switch::json)).as_ref(),
        sent("reasoning", decided.reasoning.map(Reasoning::json)).as_ref(),
        decided.thinking.is_none() && decided.removes("thinking"),
    );
    // The client's own `thinking` goes as sent, or on where it is on
    // already; else it is written anew, and so is a choice the rules
    // changed: what else the client's held is not sent.
    let on = draft.native().thinking_on;
    let as_sent = match thinking {
        ThinkingSwitch::AsSent => true,
        ThinkingSwitch::On | ThinkingSwitch::OwnOn => on == Some(true),
        ThinkingSwitch::Off | ThinkingSwitch::Omitted => false,
    };
    if on.is_some() && !as_sent {
        draft.withhold(Withheld::WrittenAnew("thinking"));
    }
    if draft.decided.tool_choice.is_some() || draft.decided.removes("tool_choice") {
        draft.withhold(Withheld::WrittenAnew("tool_choice"));
    }
    if draft.is_messages_body() {
        let ids_unfit = draft.native().ids_unfit;
        draft.messages.carried = Carried::of(&draft.decided, draft.request(), ids_unfit);
    }
    let mut budget = thinking_budget(asked, Some(max_tokens)).unwrap_or(MIN_THINKING_BUDGET);
    let mut thinking = match thinking {
        ThinkingSwitch::On if as_sent => ThinkingSwitch::OwnOn,
        decided => decided,
    };
    // Thinking goes where Anthropic's API takes it: the gateway's with a
    // budget of at least 1,024 and below `max_tokens`; any, the client's
    // own too, with no forced call and no sampling of the client's but a
    // `temperature` of 1 and a `top_p` of 0.95 or more. Else it is
    // written off, and the thinking asked for is
    // named: the call and the sampling are what the client asked of the
    // answer, and either front end's request is sent the same. (Kimi
    // Coding's rules are their own: a budget as above.)
    if !target.provider.dialect.is_kimi() {
        let written = thinking == ThinkingSwitch::On;
        if written {
            budget = budget.max(MIN_THINKING_BUDGET);
        }
        let thinks = written
            || thinking == ThinkingSwitch::OwnOn
            || (thinking == ThinkingSwitch::AsSent && on == Some(true));
        let refused = thinks && (forces_a_call(draft, target) || samples_apart(draft));
        if (written && budget >= max_tokens) || refused {
            // The client's own, written anew: what else it held is named.
            if !written {
                draft.withhold(Withheld::WrittenAnew("thinking"));
            }
            thinking = ThinkingSwitch::Off;
            draft.decided.thinking = Some(Switch {
                on: false,
                keep: None,
            });
            draft.withhold(Withheld::Thinking);
        }
    }
    let plan = &mut draft.messages;
    plan.max_tokens = max_tokens;
    plan.budget = budget;
    plan.without_billing_header = true;
    plan.thinking = thinking;
}

/// Whether the target is sent a tool choice that forces a call:
/// `required`, a named function, or an allow-list whose mode is
/// `required`, with a tool to call.
fn forces_a_call(draft: &Draft, target: &Target) -> bool {
    if !draft.offers_tools(target) || draft.decided.removes("tool_choice") {
        return false;
    }
    match draft.decided.tool_choice {
        Some(choice) => choice == ToolChoice::Required,
        None => draft.given("tool_choice").is_some_and(|choice| {
            choice == "required"
                || choice["type"] == "function"
                || (choice["type"] == "allowed_tools"
                    && choice["allowed_tools"]["mode"] == "required")
        }),
    }
}

/// Whether the target is sent sampling Anthropic's API does not take with
/// thinking: a `temperature` other than 1, a `top_k`, a `top_p` below
/// 0.95.
fn samples_apart(draft: &Draft) -> bool {
    let sent =
        |key| (draft.given(key)).filter(|value| !value.is_null() && !draft.decided.removes(key));
    let number = |key| sent(key).as_ref().and_then(Value::as_f64);
    // A Messages client's `top_k` has no place in the request model (the
    // chat API has none): its reader notes it.
    let top_k = sent("top_k").is_some() || MessagesRow::TopK.is_in(draft.seen());
    number("temperature").is_some_and(|t| t != 1.0)
        || top_k
        || number("top_p").is_some_and(|p| p < 0.95)
}

/// The thinking the rules wrote in the target's own words (a `thinking`
/// switch, Moonshot's, else OpenRouter's `reasoning`), or that they took
/// it out (`omitted`): a model that cannot be told.
fn switch(thinking: Option<&Value>, reasoning: Option<&Value>, omitted: bool) -> ThinkingSwitch {
    match anthropic_provider::asks_thinking(thinking, reasoning) {
        Some(true) => ThinkingSwitch::On,
        Some(false) => ThinkingSwitch::Off,
        None if omitted => ThinkingSwitch::Omitted,
        None => ThinkingSwitch::AsSent,
    }
}

/// The thinking budget, decided here only: the client's own (`asked`,
/// [`Draft::asked_budget`]), else half the output limit and at least
/// 1,024; below the limit where that is possible (Anthropic refuses a
/// budget that is not). `None` with neither.
pub fn thinking_budget(asked: Option<u64>, limit: Option<u64>) -> Option<u64> {
    let below = |limit: u64| limit.saturating_sub(1).max(1);
    match (asked, limit) {
        (Some(asked), Some(limit)) => Some(asked.min(below(limit))),
        (Some(asked), None) => Some(asked),
        (None, Some(limit)) => Some((limit / 2).max(MIN_THINKING_BUDGET).min(below(limit))),
        (None, None) => None,
    }
}

/// A chat client's `thinking` or `reasoning` object that a chat target is
/// sent written anew by its rules, or not at all: the members of it that
/// the rules do not read are not sent (`fields::CHAT_OBJECTS_READ`).
fn thinking_written_anew(draft: &mut Draft, target: &Target) {
    if target.provider.api != Api::OpenAiCompletions {
        return;
    }
    let decided = &draft.decided;
    let anew = [
        ("thinking", decided.thinking.is_some()),
        ("reasoning", decided.reasoning.is_some()),
    ];
    for (member, written) in anew {
        let given = draft
            .request()
            .raw(member)
            .is_some_and(|raw| raw.trim_start().starts_with('{'));
        if given && (written || draft.decided.removes(member)) {
            draft.withhold(Withheld::WrittenAnew(member));
        }
    }
}

/// A chat client's `thinking.keep` goes out only to a model that takes
/// it (Kimi K2.6's switch) or in a `thinking` sent as it came; anywhere
/// else it is named as removed.
fn keep_not_taken(draft: &mut Draft, target: &Target) {
    let asked = (draft.request().value("thinking"))
        .is_some_and(|thinking| thinking.get("keep").is_some_and(|keep| !keep.is_null()));
    let decided = &draft.decided;
    let kept = decided
        .thinking
        .as_ref()
        .is_some_and(|switch| switch.keep.is_some());
    let as_sent = target.provider.api == Api::OpenAiCompletions
        && decided.thinking.is_none()
        && !decided.removes("thinking");
    if asked && !kept && !as_sent {
        draft.withhold(Withheld::Removed("thinking.keep".into()));
    }
}

/// A translated request's cache breakpoints, and a thinking budget, have
/// no place in a chat body but OpenRouter's (`openrouter`) and a chat
/// client's own `thinking` sent as it came: on the chat transport they
/// are withheld, with a word. (The Anthropic transport sends them.)
fn no_place_for_native(draft: &mut Draft, target: &Target) {
    if target.provider.api != Api::OpenAiCompletions {
        return;
    }
    let native = draft.native();
    if !native.cache_marks.is_empty() || native.unplaced_marks {
        draft.withhold(Withheld::CacheMarks);
    }
    let decided = &draft.decided;
    let thinking_as_sent = decided.thinking.is_none() && !decided.removes("thinking");
    if native.thinking_budget.is_some() || (draft.chat_budget().is_some() && !thinking_as_sent) {
        draft.withhold(Withheld::ThinkingBudget);
    }
}

/// Whether `target`'s rules give replayed tool-call turns the reasoning
/// the model produced for them (Moonshot's: Kimi answers 400 without it),
/// so that the gateway keeps that reasoning for chains that reach it.
pub fn gives_reasoning_back(target: &Target) -> bool {
    target.provider.dialect.is_kimi()
}

/// What the client (or, failing that, the model's `params` or the
/// `thinkingDefault`) asked of thinking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Thinking {
    /// Nothing was asked: the provider's default applies.
    Unspecified,
    Off,
    /// On, at an OpenAI `reasoning_effort` level when one was given.
    On(Option<String>),
}

impl Thinking {
    fn of_level(level: ThinkingLevel) -> Self {
        match level {
            ThinkingLevel::Off => Thinking::Off,
            other => Thinking::On(Some(other.as_effort().to_string())),
        }
    }

    /// The signal in a client's request: `reasoning_effort`, else an
    /// OpenAI-style `thinking` object (a budget in it, Anthropic's in a
    /// chat body, read as the level a Messages client's is), else
    /// OpenRouter's `reasoning`.
    fn read(get: impl Fn(&str) -> Option<Value>) -> Self {
        let level = |thinking: &Value| {
            let budget = thinking["budget_tokens"].as_u64()?;
            Some(effort_of_budget(budget).to_string())
        };
        Self::read_with(get, level)
    }

    /// The signal in a model's `params` as filled ([`fill_params`]),
    /// which go to its provider as written: a budget there is no level.
    fn of_params(params: &[(String, Value)]) -> Self {
        let get = |key: &str| {
            (params.iter())
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        Self::read_with(get, |_| None)
    }

    /// The signal, a `thinking` object on at the level `level` reads in
    /// it.
    fn read_with(
        get: impl Fn(&str) -> Option<Value>,
        level: impl Fn(&Value) -> Option<String>,
    ) -> Self {
        if let Some(Value::String(effort)) = get("reasoning_effort") {
            return match effort.as_str() {
                "none" | "off" => Thinking::Off,
                _ => Thinking::On(Some(effort)),
            };
        }
        if let Some(thinking) = get("thinking").filter(Value::is_object) {
            return match thinking["type"].as_str() {
                Some("disabled") => Thinking::Off,
                _ => Thinking::On(level(&thinking)),
            };
        }
        if let Some(reasoning) = get("reasoning").filter(Value::is_object) {
            if reasoning["enabled"] == json!(false) || reasoning["effort"] == json!("none") {
                return Thinking::Off;
            }
            return Thinking::On(reasoning["effort"].as_str().map(str::to_string));
        }
        Thinking::Unspecified
    }

    pub fn is_off(&self) -> bool {
        *self == Thinking::Off
    }
}

/// What the client itself asked of thinking (not the model's `params` or
/// the `thinkingDefault`): its signal, or a Messages client's own switch
/// where that names no level (adaptive: on).
fn clients_thinking(draft: &Draft) -> Thinking {
    let asked = Thinking::read(|key| draft.request().value(key));
    match (asked, draft.native().thinking_on) {
        (Thinking::Unspecified, Some(true)) => Thinking::On(None),
        (Thinking::Unspecified, Some(false)) => Thinking::Off,
        (asked, _) => asked,
    }
}

/// The request's signal, else the model's `params` where the client gave
/// no thinking of its own (as [`fill_params`] filled them: a Messages
/// client's adaptive `thinking` names no level, and is its own all the
/// same), else `thinkingDefault`.
fn requested_thinking(draft: &Draft, target: &Target) -> Thinking {
    let from_request = Thinking::read(|key| draft.request().value(key));
    if from_request != Thinking::Unspecified {
        return from_request;
    }
    let from_params = Thinking::of_params(&draft.decided.params);
    if from_params != Thinking::Unspecified {
        return from_params;
    }
    target
        .thinking_default
        .map_or(Thinking::Unspecified, Thinking::of_level)
}

/// A request with the decisions made for it so far; what the rules work
/// on.
pub struct Draft<'r> {
    request: &'r ClientRequest,
    /// The decisions so far, each field set by the rule that decides it.
    pub decided: Decisions,
    /// The request's `tools` as Moonshot's rules read them, when the plan
    /// has read them already.
    kimi_tools: Option<moonshot::ToolsRead>,
    /// What the target is not sent of what the client asked.
    withheld: Vec<Withheld>,
    /// A Messages body's typed decisions (the Anthropic transport's).
    pub messages: MessagesPlan,
    /// The output limit sent, once decided ([`output_limit`]), if any.
    limit: Option<u64>,
    /// The tool results whose empty id was paired again with its call
    /// ([`tool_results::repairs`]), as `(message index, call id)`.
    paired_again: Vec<(usize, String)>,
}

impl<'r> Draft<'r> {
    fn new(request: &'r ClientRequest) -> Self {
        Self {
            request,
            decided: Decisions::default(),
            kimi_tools: None,
            withheld: Vec::new(),
            messages: MessagesPlan::default(),
            limit: None,
            paired_again: Vec::new(),
        }
    }

    /// Notes that the target is not sent `what` (once).
    pub fn withhold(&mut self, what: Withheld) {
        if !self.withheld.contains(&what) {
            self.withheld.push(what);
        }
    }

    /// The request's facts, as the client's body reads in the request
    /// model.
    pub fn request(&self) -> &'r dyn Facts {
        self.request.facts()
    }

    /// Whether the body sent over the Anthropic transport is the client's
    /// own Messages body (not one written from the request model).
    pub fn is_messages_body(&self) -> bool {
        self.request.messages_body.is_some()
    }

    /// What the client's own body said that the chat form does not.
    pub fn native(&self) -> &'r Native {
        &self.request.native
    }

    /// The documented fields the client's body held, as its front end's
    /// reader noted them.
    pub fn seen(&self) -> &'r crate::wire::Seen {
        &self.request.seen
    }

    /// The reasoning the gateway kept for chat message `index`, if the
    /// client left it out.
    pub fn restored_reasoning(&self, index: usize) -> Option<&'r std::sync::Arc<str>> {
        self.request.restored_reasoning(index)
    }

    /// The thinking budget the client asked for: Messages'
    /// `thinking.budget_tokens`, or a chat client's own `thinking`'s (the
    /// shape Anthropic's and LiteLLM's clients send on the chat API).
    pub fn asked_budget(&self) -> Option<u64> {
        self.native().thinking_budget.or_else(|| self.chat_budget())
    }

    /// A chat body's `thinking.budget_tokens` (a chat client's; the chat
    /// form of another API's request has none).
    fn chat_budget(&self) -> Option<u64> {
        self.request()
            .value("thinking")?
            .get("budget_tokens")?
            .as_u64()
    }

    /// The output limit the target is sent, if any (decided before the
    /// dialect's rules run).
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// A top-level member as the request, or the model's `params`, gives
    /// it: what the rules read, before what they decide.
    pub fn given(&self, key: &str) -> Option<Value> {
        self.decided.given(self.request(), key)
    }

    /// Whether the request, or the model's `params`, sets `key`.
    pub fn has(&self, key: &str) -> bool {
        self.decided.has(self.request(), key)
    }

    /// Whether the request offers `target` a tool: a list of them that is
    /// not empty, read as text (a list can be long, and only that
    /// matters); on Anthropic's format, a body written from the chat form
    /// keeps only its function tools (a custom tool has no Messages form),
    /// so one of them must be there.
    pub fn offers_tools(&self, target: &Target) -> bool {
        let Some(tools) = self.request().raw("tools") else {
            return false;
        };
        let list = tools.trim_start().strip_prefix('[');
        if list.is_none_or(|items| items.trim_start().starts_with(']')) {
            return false;
        }
        if target.provider.api == Api::OpenAiCompletions || self.is_messages_body() {
            return true;
        }
        #[derive(serde::Deserialize)]
        struct Kind<'a> {
            #[serde(rename = "type", borrow)]
            kind: Option<std::borrow::Cow<'a, str>>,
        }
        serde_json::from_str::<Vec<Kind>>(tools).is_ok_and(|tools| {
            tools
                .iter()
                .any(|tool| tool.kind.as_deref() == Some("function"))
        })
    }

    /// Takes `key` away if the request or the `params` set it.
    pub fn remove(&mut self, key: &'static str) {
        if self.has(key) {
            self.omit(key);
        }
    }

    /// Takes `key` away (a field a model fixes: the catalog's and the
    /// config's names), and whatever an earlier rule decided for it (a
    /// field the model fixes is never sent); names it in the answer when
    /// the client sent it (a rule took it from what the client asked).
    pub fn remove_named(&mut self, key: &str) {
        if self.request().contains(key) {
            self.withhold(Withheld::Removed(key.to_owned().into()));
        }
        let decided = self.decided.take_back(key);
        if (decided || self.has(key)) && !self.decided.removes(key) {
            self.decided.removed.push(key.to_owned().into());
        }
    }

    /// Takes `key` away whatever the request holds: a decision that a
    /// transport renders on a body of its own too (an Anthropic client's
    /// `thinking`, which its request model carries as `reasoning_effort`).
    pub fn omit(&mut self, key: &'static str) {
        if !self.decided.removes(key) {
            self.decided.removed.push(key.into());
        }
    }

    /// What changes in message `index`.
    pub fn turn(&mut self, index: usize) -> &mut Turn {
        self.decided.turns.entry(index).or_default()
    }

    /// Message `index`'s calls are sent `ids`, in order.
    pub fn rename_calls(&mut self, index: usize, ids: impl IntoIterator<Item = CallId>) {
        let start = self.decided.ids.len() as u32;
        self.decided.ids.extend(ids);
        let end = self.decided.ids.len() as u32;
        self.turn(index).call_ids = Some(start..end);
    }

    /// Tool result `index` is sent as the answer to the call `id`.
    pub fn answer_call(&mut self, index: usize, id: CallId) {
        let at = self.decided.ids.len() as u32;
        self.decided.ids.push(id);
        self.turn(index).result_id = Some(at);
    }

    /// The most output `target` may give, once the output limit is
    /// decided ([`output_limit`]): each choice's ([`Self::choice_output`])
    /// times the choices asked for ([`choices`]).
    fn most_output(&self, target: &Target) -> u64 {
        let choices = choices(&self.decided, self.request(), target);
        self.choice_output(target).saturating_mul(choices)
    }

    /// Whether the target cannot give more than [`Self::most_output`]: a
    /// Messages body always has its limit, the model has its own, or the
    /// request's is sent.
    fn output_held(&self, target: &Target) -> bool {
        let sent = |field| self.decided.limit_sent(self.request(), field).is_some();
        target.provider.api == Api::AnthropicMessages
            || target.model.max_tokens.is_some()
            || [
                MaxTokensField::MaxTokens,
                MaxTokensField::MaxCompletionTokens,
            ]
            .into_iter()
            .any(sent)
    }

    /// The most output one choice may give: the larger of the two fields
    /// as sent (a provider may read either), else the model's
    /// `maxTokens`, else the `max_tokens` a Messages body is given, or
    /// [`UNKNOWN_MAX_OUTPUT`].
    fn choice_output(&self, target: &Target) -> u64 {
        let sent = |field| self.decided.limit_sent(self.request(), field)?.as_u64();
        let none = match target.provider.api {
            Api::AnthropicMessages => FALLBACK_MAX_TOKENS,
            Api::OpenAiCompletions => UNKNOWN_MAX_OUTPUT,
        };
        [
            MaxTokensField::MaxTokens,
            MaxTokensField::MaxCompletionTokens,
        ]
        .into_iter()
        .filter_map(sent)
        .max()
        .or(target.model.max_tokens)
        .unwrap_or(none)
    }
}

/// How many choices `target` is asked to answer with: the `n` sent (a
/// Messages body asks for one), each given the output limit.
fn choices(decided: &Decisions, request: &dyn Facts, target: &Target) -> u64 {
    if target.provider.api == Api::AnthropicMessages || decided.removes("n") {
        return 1;
    }
    let n = decided.given(request, "n").and_then(|n| n.as_u64());
    n.unwrap_or(1).max(1)
}

/// The `params` a Messages body has a place for: sampling it shares with
/// chat, the output limit, and the thinking signal the rules read.
const MESSAGES_PARAMS: [&str; 8] = [
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "max_completion_tokens",
    "reasoning_effort",
    "thinking",
    "reasoning",
];

/// The settings that go by more than one name in the chat form: the
/// output limit, and thinking (an effort, a switch, OpenRouter's object).
/// A param under any of a setting's names fills it only where the client
/// gave it under none.
const ONE_SETTING: [&[&str]; 2] = [
    &["max_tokens", "max_completion_tokens"],
    &["reasoning_effort", "thinking", "reasoning"],
];

/// Whether the client's own request, in the API it spoke, gives the
/// setting the param `key` is for: under any of the setting's names in
/// its chat form (a Messages client's `max_tokens` and a Responses
/// client's `max_output_tokens` are its `max_tokens`; their `thinking`,
/// `output_config.effort` and `reasoning.effort`, its
/// `reasoning_effort`), or in what the chat form has no place for: a
/// Messages client's `top_k`, and its `thinking` where that names no
/// level (adaptive).
fn clients_own(draft: &Draft, key: &str) -> bool {
    let names = (ONE_SETTING.iter())
        .find(|names| names.contains(&key))
        .copied()
        .unwrap_or(&[]);
    if draft.request().contains(key) || names.iter().any(|name| draft.request().contains(name)) {
        return true;
    }
    match key {
        "top_k" => MessagesRow::TopK.is_in(draft.seen()),
        "reasoning_effort" | "thinking" | "reasoning" => draft.native().thinking_on.is_some(),
        _ => false,
    }
}

/// `agents.defaults.models.<ref>.params` fill the settings the client
/// left out ([`clients_own`]), decided here only: every rule and
/// transport reads the params as filled. Over the Anthropic transport, one
/// a Messages body has no place for is not set, and the answer names it
/// (`params.<name>`). So is `n` for a client whose API answers one choice
/// (Messages, Responses): the others' text and calls would be read into
/// it.
fn fill_params(draft: &mut Draft, target: &Target) {
    let Some(params) = &target.params else { return };
    let messages = target.provider.api == Api::AnthropicMessages;
    let one_choice = draft.seen().front != Front::Chat;
    for (key, value) in params.iter() {
        if clients_own(draft, key) {
            continue;
        }
        if (messages && !MESSAGES_PARAMS.contains(&key.as_str())) || (one_choice && key == "n") {
            draft.withhold(Withheld::Removed(format!("params.{key}").into()));
            continue;
        }
        draft.decided.params.push((key.clone(), value.clone()));
    }
}

/// Members of a Messages body that only Anthropic serves (its betas),
/// which the Anthropic endpoints of the dialects clawgate knows (Moonshot's,
/// Kimi Coding's, OpenRouter's) do not take.
/// (`container` and `mcp_servers` are refused before any target.)
const ANTHROPIC_ONLY: [&str; 2] = ["context_management", "output_config"];

/// The betas of [`ANTHROPIC_ONLY`]'s members (`context-management-2025-06-27`,
/// `effort-2025-11-24`), by the start of their names: a strict endpoint
/// refuses a beta it does not know, and these say nothing without their
/// members.
const ANTHROPIC_ONLY_BETAS: [&str; 2] = ["context-management-", "effort-"];

/// A client's own Messages body goes to the Anthropic endpoint of a
/// dialect clawgate knows without what only Anthropic serves: its beta
/// members with their betas, and server tools (web search, code
/// execution, ...), which run at Anthropic. A provider of no dialect
/// (Anthropic itself) gets them. The answer names them dropped (where the
/// client sent them).
fn only_anthropic_serves(draft: &mut Draft, target: &Target) {
    if target.provider.api != Api::AnthropicMessages {
        return;
    }
    draft.messages.betas = draft.native().betas.clone();
    if target.provider.dialect == Dialect::Generic {
        return;
    }
    draft.messages.removed = &ANTHROPIC_ONLY;
    draft.messages.without_server_tools = true;
    for what in [
        Withheld::ContextManagement,
        Withheld::OutputConfig,
        Withheld::ServerTools,
    ] {
        draft.withhold(what);
    }
    // Their betas go with them, each named.
    let Some(given) = draft.messages.betas.take() else {
        return;
    };
    let Ok(list) = given.to_str() else {
        // Not text: nothing in it can be told apart, so it goes whole.
        draft.withhold(Withheld::Removed("anthropic-beta".into()));
        return;
    };
    let (mut kept, mut dropped) = (Vec::new(), Vec::new());
    for beta in list
        .split(',')
        .map(str::trim)
        .filter(|beta| !beta.is_empty())
    {
        match ANTHROPIC_ONLY_BETAS
            .iter()
            .any(|start| beta.starts_with(start))
        {
            true => dropped.push(beta),
            false => kept.push(beta),
        }
    }
    for beta in dropped {
        draft.withhold(Withheld::Removed(format!("anthropic-beta {beta}").into()));
    }
    draft.messages.betas = (!kept.is_empty())
        .then(|| HeaderValue::from_str(&kept.join(", ")).ok())
        .flatten();
}

/// A tool choice, or a word on parallel calls, with no tool offered says
/// nothing the model can act on (OpenAI's and Anthropic's APIs refuse
/// them): taken away for every target, whichever front end and rule wrote
/// them, and named.
fn no_choice_without_tools(draft: &mut Draft, target: &Target) {
    if draft.offers_tools(target) {
        return;
    }
    for key in ["tool_choice", "parallel_tool_calls"] {
        if draft.has(key) {
            draft.remove_named(key);
        }
    }
}

/// Where the model does not take the `developer` role, it becomes `system`.
fn developer_role(draft: &mut Draft, target: &Target) {
    if target.model.capabilities.developer_role {
        return;
    }
    let request = draft.request();
    for (index, message) in request.messages().iter().enumerate() {
        if message.role == "developer" {
            draft.turn(index).as_system = true;
        }
    }
}

/// The output limit moves to the field the model expects and is clamped to
/// the model's maximum output: the limit sent, if any.
fn output_limit(draft: &mut Draft, target: &Target) -> Option<u64> {
    // Both fields given by the client: the lower is its limit, on every
    // target (a model's `params` fill neither where it gave one:
    // `clients_own`).
    let asked = |field: MaxTokensField| {
        let value = draft.request().value(field.name());
        value.and_then(|value| value.as_u64())
    };
    let lower = match (
        asked(MaxTokensField::MaxTokens),
        asked(MaxTokensField::MaxCompletionTokens),
    ) {
        (Some(max_tokens), Some(max_completion_tokens)) if max_tokens < max_completion_tokens => {
            Some(MaxTokensField::MaxTokens)
        }
        (Some(_), Some(_)) => Some(MaxTokensField::MaxCompletionTokens),
        _ => None,
    };
    if let Some(field) = target.model.capabilities.max_tokens_field
        && draft.has(field.other().name())
    {
        *draft.decided.output.at(field.other()) = Limit::Removed;
        if !draft.has(field.name()) || lower == Some(field.other()) {
            *draft.decided.output.at(field) = Limit::Moved;
        }
    }
    let fields = [
        MaxTokensField::MaxCompletionTokens,
        MaxTokensField::MaxTokens,
    ];
    let mut sent = [None; 2];
    for (at, field) in fields.into_iter().enumerate() {
        let given = draft.decided.limit_sent(draft.request(), field);
        let Some(asked) = given.and_then(|v| v.as_u64()) else {
            continue;
        };
        sent[at] = Some(match target.model.max_tokens {
            Some(maximum) if asked > maximum => {
                *draft.decided.output.at(field) = Limit::Clamped(maximum);
                maximum
            }
            _ => asked,
        });
    }
    // Where both go (no field of the model's own), the lower the client
    // gave; else the one that goes.
    let lower = lower.and_then(|lower| sent[fields.iter().position(|f| *f == lower)?]);
    lower.or(sent[0]).or(sent[1])
}

/// Providers that cannot stream usage are not asked to.
/// Providers that can stream usage are asked to, so that usage and cost
/// are known for every stream (the client gets the usage chunk only if it
/// asked: see [`Facts::wants_usage`]).
fn streamed_usage(draft: &mut Draft, target: &Target) {
    let request = draft.request();
    if target.model.capabilities.streamed_usage {
        if request.stream() && !request.wants_usage() {
            draft.decided.stream.usage = Some(Usage::Include);
        }
        return;
    }
    if let Some(Value::Object(options)) = draft.given("stream_options")
        && options.contains_key("include_usage")
    {
        draft.decided.stream.usage = Some(Usage::Strip);
    }
}

#[cfg(test)]
mod tests;
