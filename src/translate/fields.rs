//! The fate of every documented request field, content block and tool type
//! of each front end (chat, Messages, Responses) on each transport (the
//! OpenAI chat transport, `openai-completions`; the Anthropic transport,
//! `anthropic-messages`): carried as the client wrote it, translated (and
//! how), refused with a 400 that names it and says what to do instead, or
//! dropped by design, with a log line and the `x-clawgate-dropped` header.
//!
//! The translations consult these tables: a front end notes each row its
//! request holds ([`Seen`], marked by the rows' ids, [`top_level`] for the
//! body's members) while it reads the body it reads anyway, refuses what a
//! row refuses ([`refusal`]), and the answer names what the answering
//! target did not get ([`dropped`]). A member no row names, at any depth
//! (the body's, a message's, a part's or block's and an image's or a
//! document's source, a tool's and its function's or format's, a tool
//! call's and its function's, a choice's, `thinking`'s, `metadata`'s, a
//! Responses item's, `reasoning`'s, `text`'s and its format's) is carried
//! where the transport speaks the front end's own format (chat on the
//! OpenAI transport, Messages on the Anthropic one: the client's body goes
//! on as it is, unless its plan writes the member anew) and dropped with a
//! word everywhere else: never lost in silence. A member inside one a row
//! names shares that row's fate ([`member_row`]; `tests/golden.rs` puts
//! one in every object of each front end's rich request).
//! `docs/translation.md` is [`markdown`]'s output (`tests/translation_doc.rs`
//! holds it to the tables).
//!
//! A refusal is the same on both transports: it is decided before a
//! target is chosen.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
#[cfg(any(test, feature = "test-support"))]
use std::fmt::Write;
use std::sync::{Arc, OnceLock};

use serde_json::value::RawValue;

use crate::capabilities::Api;
use crate::format::recent::Recent;
use crate::wire::openai::ChatRequest;
use crate::wire::request::ClientRequest;
use crate::wire::{Front, MAX_UNKNOWN, Seen, Withheld};

/// What a row names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A member of the body (a dotted path for a nested one).
    Field,
    /// A content block, content part, message role or input item.
    Block,
    /// A tool type, or a tool choice.
    Tool,
    /// A request header.
    Header,
}

/// What becomes of a field on one transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Sent as the client wrote it (the rules may still edit it).
    Carried,
    /// Sent in the transport's own terms: how.
    Translated(&'static str),
    /// A 400 in the front end's shape naming the field: what to do instead.
    Refused(&'static str),
    /// Left out, with a warn line and the `x-clawgate-dropped` header: why.
    Dropped(&'static str),
    /// Decided per target by the provider rules (`providers::plan`):
    /// sent in the target's terms where it takes it, else left out as a
    /// dropped field is (the plan's [`Withheld`]): how.
    Planned(&'static str),
}

/// One row of a front end's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// As the header and the docs name it.
    pub name: &'static str,
    pub kind: Kind,
    /// On the OpenAI chat transport (`openai-completions`).
    pub openai: Fate,
    /// On the Anthropic transport (`anthropic-messages`).
    pub anthropic: Fate,
}

impl Row {
    pub fn fate(&self, api: Api) -> Fate {
        match api {
            Api::OpenAiCompletions => self.openai,
            Api::AnthropicMessages => self.anthropic,
        }
    }
}

/// A front end's table: its rows' ids (an enum, in table order) and the
/// rows.
macro_rules! table {
    ($(#[$doc:meta])* $table:ident, $ids:ident, $front:ident {
        $($id:ident => $name:literal, $kind:ident, $openai:expr, $anthropic:expr;)*
    }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        pub enum $ids { $($id),* }

        $(#[$doc])*
        pub const $table: &[Row] = &[$(Row {
            name: $name,
            kind: Kind::$kind,
            openai: $openai,
            anthropic: $anthropic,
        }),*];

        impl $ids {
            /// Notes this row on `seen`.
            pub fn mark(self, seen: &mut Seen) {
                seen.mark(self as u8);
            }

            /// Whether `seen`, a request's, is of this table's front end
            /// and holds this row.
            pub fn is_in(self, seen: &Seen) -> bool {
                seen.front == Front::$front && seen.has(self as usize)
            }

            /// This row's bit, as [`Seen::rows`] holds it.
            pub const fn bit(self) -> u128 {
                1 << self as u8
            }
        }
    };
}

use Fate::{Carried, Dropped, Planned, Refused, Translated};

const SAME: Fate = Carried;

/// Claude Code's auto mode asking Anthropic's API to check an action.
const SAFEGUARDS: &str = "Claude Code's auto mode asks Anthropic's API to check its actions, which no provider of clawgate's runs, with their context (home and working directories, git state), which is not sent on: refused, Claude Code checks them itself";

/// `prompt_cache_key` on the chat transport, as the facts of 2026-11 have
/// it: what each provider is known to do with it.
const PROMPT_CACHE_KEY: &str = "sent as `prompt_cache_key`: honoured by OpenAI and OpenRouter; not established on Moonshot's open platform; ignored by Kimi Coding, whose prefix cache is automatic";

/// The thinking budget a chat client's switch is sent with on the
/// Anthropic transport, where it gives none of its own
/// (`providers::thinking_budget`).
macro_rules! half_budget {
    () => {
        "a budget of half `max_tokens`, at least 1,024, below `max_tokens`; where none fits (`max_tokens` of 1,024 or less), or with a forced call or sampling Anthropic's API refuses with thinking (see providers.md), thinking off, named (on Kimi Coding, one less than `max_tokens`)"
    };
}

table! {
    /// `POST /v1/chat/completions`: the OpenAI chat API.
    CHAT, ChatRow, Chat {
        Model => "model", Field, Translated("the target's model id"), Translated("the target's model id");
        Messages => "messages", Field, SAME, Translated("`system` blocks and `messages` (see the rows below)");
        MaxTokens => "max_tokens", Field, Translated("as the model's output-limit field, clamped to its limit"), Translated("`max_tokens`; when absent, the model's `maxTokens`, else 4,096");
        MaxCompletionTokens => "max_completion_tokens", Field, Translated("as the model's output-limit field, clamped to its limit (with `max_tokens` too, the lower)"), Translated("`max_tokens` (with `max_tokens` too, the lower)");
        Temperature => "temperature", Field, Carried, Carried;
        TopP => "top_p", Field, Carried, Carried;
        TopK => "top_k", Field, Carried, Carried;
        Stop => "stop", Field, Carried, Translated("`stop_sequences`");
        Stream => "stream", Field, Translated("always streamed upstream; a whole answer is assembled"), Translated("always streamed upstream; a whole answer is assembled");
        StreamOptions => "stream_options", Field, Translated("usage asked for where the model streams it"), Translated("Anthropic's stream always carries usage");
        Tools => "tools", Field, Carried, Translated("function tools as `{name, description, input_schema}` (see the rows below)");
        ToolChoice => "tool_choice", Field, Carried, Translated("`auto`, `none`, `any`, `{type: tool, name}` (see the rows below)");
        ParallelToolCalls => "parallel_tool_calls", Field, Carried, Translated("`false` as `disable_parallel_tool_use` (with `tool_choice: none`, which calls no tool, nothing)");
        User => "user", Field, Carried, Translated("`metadata.user_id`");
        ReasoningEffort => "reasoning_effort", Field, Translated("the model's own switch (the provider rules); a level the API does not define is refused (`max`, Moonshot's highest, is taken)"), Translated("`thinking`, as the plan decides (a level the API does not define is refused)");
        Thinking => "thinking", Field, Translated("Moonshot's switch, as the plan decides (a `type` other than `enabled` or `disabled` is refused)"), Translated(concat!("`thinking` with the client's `budget_tokens`, else ", half_budget!(), "; a `type` other than `enabled` or `disabled` is refused"));
        ThinkingBudget => "thinking.budget_tokens", Field, Planned("OpenRouter: `reasoning: {max_tokens}` (a reasoning model); sent in `thinking` where the rules send it as it came; Moonshot's switch and the other rules that write `thinking` anew have no budget: named"), Translated("the thinking budget, at least 1,024 and below `max_tokens`, else thinking off, named (on Kimi Coding, below `max_tokens`); not a whole number: refused");
        Reasoning => "reasoning", Field, Translated("OpenRouter's object, as the plan decides"), Translated(concat!("`thinking` with ", half_budget!()));
        N => "n", Field, Carried, Dropped("Messages answers one choice");
        PresencePenalty => "presence_penalty", Field, Carried, Dropped("Messages has no penalties");
        FrequencyPenalty => "frequency_penalty", Field, Carried, Dropped("Messages has no penalties");
        Seed => "seed", Field, Carried, Dropped("Messages has no seed");
        Logprobs => "logprobs", Field, Carried, Dropped("Messages returns no log probabilities");
        TopLogprobs => "top_logprobs", Field, Carried, Dropped("Messages returns no log probabilities");
        LogitBias => "logit_bias", Field, Carried, Dropped("Messages has no logit bias");
        ResponseFormat => "response_format", Field, Carried, Dropped("Messages has no response format: ask for JSON in the prompt");
        Metadata => "metadata", Field, Carried, Dropped("Messages' `metadata` takes only `user_id` (send `user`)");
        Store => "store", Field, Carried, Dropped("nothing is stored");
        ServiceTier => "service_tier", Field, Carried, Dropped("an OpenAI tier");
        Modalities => "modalities", Field, Carried, Dropped("Messages answers text");
        Audio => "audio", Field, Carried, Dropped("Messages answers text");
        Prediction => "prediction", Field, Carried, Dropped("Messages has no predicted output");
        WebSearchOptions => "web_search_options", Field, Carried, Dropped("a search OpenAI runs");
        SafetyIdentifier => "safety_identifier", Field, Carried, Dropped("Messages has no such field");
        PromptCacheKey => "prompt_cache_key", Field, Translated(PROMPT_CACHE_KEY), Dropped("Messages caches by `cache_control`");
        Verbosity => "verbosity", Field, Carried, Dropped("Messages has no verbosity");
        Functions => "functions", Field, Carried, Dropped("deprecated: send `tools`");
        FunctionCall => "function_call", Field, Carried, Dropped("deprecated: send `tool_choice`");
        SystemMessage => "system and developer messages", Block, Carried, Translated("`system` text blocks, in order (a mid-conversation place is lost)");
        ToolMessage => "tool messages", Block, Carried, Translated("`tool_result` blocks (their text and images), consecutive results in one user turn");
        MessageName => "name on messages", Block, Carried, Dropped("Messages names no participants");
        EmptyMessage => "empty user and assistant messages", Block, Carried, Dropped("Messages refuses empty content: the turns either side become one");
        ReasoningContent => "assistant reasoning_content", Block, Carried, Translated("a `thinking` block first, signature empty");
        ToolCalls => "assistant tool_calls", Block, Carried, Translated("`tool_use` blocks, arguments parsed into `input`");
        TextPart => "text parts", Block, Carried, Translated("`text` blocks");
        ImagePart => "image_url parts", Block, Carried, Translated("`image` blocks (base64 or URL source), in a tool message's `tool_result` too");
        ImageDetail => "detail on image_url parts", Block, Carried, Dropped("Messages images have no detail level");
        AudioPart => "input_audio parts", Block, Carried, Dropped("Messages takes no audio");
        FilePart => "file parts", Block, Carried, Dropped("send the file's text as a text part");
        PartCacheControl => "cache_control on content parts", Block, Planned("carried; OpenRouter's models other than `anthropic/*` and `google/*` get the parts without it"), Carried;
        FunctionStrict => "strict on function tools", Tool, Carried, Translated("`strict` on the tool");
        CustomTool => "custom tools (and a tool_choice naming one)", Tool, Carried, Dropped("Messages tools take JSON input: offer a function tool");
        AllowedTools => "tool_choice: allowed_tools", Tool, Carried, Translated("only the listed tools are offered; its mode as `tool_choice` (`required` as `any`)");
    }
}

table! {
    /// `POST /v1/messages`: Anthropic's Messages API.
    MESSAGES, MessagesRow, Messages {
        Model => "model", Field, Translated("the target's model id"), Translated("the target's model id");
        MaxTokens => "max_tokens", Field, Translated("`max_tokens`, as the model's output-limit field"), Translated("clamped to the model's `maxTokens`");
        Messages => "messages", Field, Translated("chat messages (see the rows below)"), SAME;
        System => "system", Field, Translated("a system message, Claude Code's billing line left out"), Translated("Claude Code's billing line left out");
        Tools => "tools", Field, Translated("function tools, `input_schema` as `parameters`"), Translated("schemas as the model's rules leave them");
        ToolChoice => "tool_choice", Field, Translated("`auto`, `required`, `none` or a named function, as the plan relaxes it"), Translated("as the plan relaxes it");
        Thinking => "thinking", Field, Translated("`reasoning_effort`: disabled as `none`; enabled by its budget (below 4,096 `low`, from 16,384 `high`, else `medium`); adaptive leaves it to `output_config.effort`"), Translated("what the target's plan decides: the client's own switch when on");
        ThinkingBudget => "thinking.budget_tokens", Field, Planned("OpenRouter: `reasoning: {max_tokens}` (a reasoning model); the other chat providers have no budget: it chooses `reasoning_effort` (see `thinking`)"), Translated("kept below `max_tokens`");
        OutputConfig => "output_config", Field, Translated("`effort` as `reasoning_effort` (`max` as `xhigh`, chat's highest; one the API does not define is refused); `format`'s JSON schema as `response_format: {type: json_schema}`, named `output`, strict (a format of another type: an unknown member)"), Planned("the known dialects' endpoints (Moonshot's, Kimi Coding's, OpenRouter's) do not take it: its effort decides the plan's thinking, and its `format` has no place (ask for JSON in the prompt); other Anthropic-format providers get it as sent");
        OutputConfigEffort => "output_config.effort", Field, Translated("`reasoning_effort`, as the plan decides it"), Translated("as the plan decides it (the known dialects' endpoints take no `output_config`: see that row)");
        StopSequences => "stop_sequences", Field, Translated("`stop`"), SAME;
        StopSequencesBeyond => "stop_sequences[4..]", Field, Dropped("chat providers take at most 4 stop sequences (OpenAI's limit)"), SAME;
        Temperature => "temperature", Field, Carried, Carried;
        TopP => "top_p", Field, Carried, Carried;
        TopK => "top_k", Field, Dropped("the chat API has no `top_k`"), Carried;
        MetadataUserId => "metadata.user_id", Field, Translated("`user`"), Carried;
        Stream => "stream", Field, Translated("always streamed upstream; a whole answer is assembled"), Translated("always streamed upstream; a whole answer is assembled");
        ContextManagement => "context_management", Field, Dropped("Anthropic's beta, which clawgate does not ask for"), Planned("Anthropic's beta: the known dialects' endpoints (Moonshot's, Kimi Coding's, OpenRouter's) do not take it; other Anthropic-format providers get it as sent");
        Container => "container", Field, Refused("clawgate's providers run no code containers: run the code in your client"), Refused("clawgate's providers run no code containers: run the code in your client");
        McpServers => "mcp_servers", Field, Refused("clawgate connects no MCP servers: connect them in your client (Claude Code: `claude mcp add`), whose tools are then offered as tools"), Refused("clawgate connects no MCP servers: connect them in your client (Claude Code: `claude mcp add`), whose tools are then offered as tools");
        Safeguards => "safeguards", Field, Refused(SAFEGUARDS), Refused(SAFEGUARDS);
        ServiceTier => "service_tier", Field, Dropped("an Anthropic tier"), Carried;
        AnthropicBeta => "anthropic-beta", Header, Dropped("chat providers take no betas"), Carried;
        CacheControl => "cache_control", Block, Planned("OpenRouter's `anthropic/*` and `google/*` models: on a text part holding the marked turn's (or system prompt's) last text, the turn's texts being joined into one (a tool result's text where its images follow it in a user message of their own; a mark on a tool is dropped); the other chat providers get no marks (Moonshot and Kimi cache on their own)"), Carried;
        SystemRole => "role: system messages", Block, Translated("system messages where they stand"), Carried;
        Text => "text blocks", Block, Translated("message text (a turn's texts joined by a blank line)"), Carried;
        Citations => "citations on text blocks", Block, Dropped("chat text has no citations"), Carried;
        Image => "image blocks", Block, Translated("`image_url` parts (a data URL for base64)"), Carried;
        TextDocument => "document blocks with a text source", Block, Translated("their text"), Carried;
        DocumentContext => "title and context of document blocks", Block, Dropped("a chat part has no title or context: put them in the text"), Carried;
        DocumentCitations => "citations on document blocks", Block, Dropped("a chat answer has no citations"), Carried;
        Document => "document blocks (PDF or file)", Block, Refused("send the document's text as a text block"), Refused("send the document's text as a text block");
        ToolUse => "tool_use blocks", Block, Translated("assistant `tool_calls`"), Carried;
        ToolResult => "tool_result blocks", Block, Translated("`tool` messages (`is_error` as an `Error: ` prefix, images after them in a user message)"), Carried;
        ThinkingBlock => "thinking blocks", Block, Translated("assistant `reasoning_content` (the signature is not sent)"), Carried;
        UserThinking => "thinking blocks in a user turn", Block, Dropped("a chat user message holds no reasoning"), Carried;
        RedactedThinking => "redacted_thinking blocks", Block, Dropped("encrypted reasoning only Anthropic reads"), Carried;
        ServerToolBlocks => "server tool blocks (server_tool_use and *_tool_result)", Block, Dropped("a tool Anthropic ran; the model's own text says what it learnt"), Carried;
        ToolReference => "tool_reference blocks", Block, Dropped("chat has no tool references; the tools are offered whole"), Planned("Kimi Coding, whose endpoint refuses them: each is sent as a text block saying whether the tool it names is offered (`Tool read is available.`); other Anthropic-format providers get them as sent");
        OtherInToolResult => "other blocks in a tool_result", Block, Dropped("no chat form"), Carried;
        OtherBlock => "other blocks", Block, Refused("send text, image, tool_use, tool_result or thinking blocks"), Refused("send text, image, tool_use, tool_result or thinking blocks");
        ClientTool => "tools with input_schema", Tool, Translated("function tools, `strict` kept"), Carried;
        InputExamples => "input_examples on tools", Tool, Dropped("a chat tool takes no examples: put them in its description"), Carried;
        DeferLoading => "defer_loading on tools", Tool, Dropped("a chat tool is offered whole: the deferred tool is sent loaded"), Planned("Kimi Coding, whose endpoint refuses it: the deferred tool is sent loaded; other Anthropic-format providers get it as sent");
        ServerTool => "server tools (a type and no input_schema)", Tool, Dropped("only Anthropic runs them; Kimi refuses them; named by their types (`web_search_20250305`)"), Planned("named by their types (`web_search_20250305`); only Anthropic runs them: the known dialects' endpoints (Moonshot's, Kimi Coding's, OpenRouter's) do not take them; other Anthropic-format providers get them as sent");
        ServerToolChoice => "tool_choice naming a server tool", Tool, Refused("name a tool with an `input_schema`, or let the model choose (`auto`)"), Refused("name a tool with an `input_schema`, or let the model choose (`auto`)");
    }
}

table! {
    /// `POST /v1/responses`: OpenAI's Responses API.
    RESPONSES, ResponsesRow, Responses {
        Model => "model", Field, Translated("the target's model id"), Translated("the target's model id");
        Instructions => "instructions", Field, Translated("a system message"), Translated("`system`");
        Input => "input", Field, Translated("chat messages (see the rows below)"), Translated("messages");
        Tools => "tools", Field, Translated("function tools (see the rows below)"), Translated("tools with `input_schema`");
        ToolChoice => "tool_choice", Field, Translated("`auto`, `none`, `required` or a named function or custom tool"), Translated("`auto`, `none`, `any` or a named tool");
        AllowedTools => "tool_choice: allowed_tools", Tool, Translated("only the listed tools are offered; its mode as `tool_choice`"), Translated("only the listed tools are offered; its mode as `tool_choice`");
        RequiredWithoutTools => "tool_choice: required with no tool left to offer", Tool, Refused("every tool it could call is one clawgate drops: offer a function, namespace or custom tool, or let the model choose (`auto`)"), Refused("every tool it could call is one clawgate drops: offer a function, namespace or custom tool, or let the model choose (`auto`)");
        ParallelToolCalls => "parallel_tool_calls", Field, Translated("`parallel_tool_calls`"), Translated("`disable_parallel_tool_use`");
        MaxOutputTokens => "max_output_tokens", Field, Translated("as the model's output-limit field"), Translated("`max_tokens`");
        ReasoningEffort => "reasoning.effort", Field, Translated("`reasoning_effort`, the model's own switch"), Translated("`thinking`, as the plan decides");
        ReasoningSummary => "reasoning.summary", Field, Dropped("clawgate does not summarise: the provider's reasoning comes back whole as the summary text"), Dropped("clawgate does not summarise: the provider's reasoning comes back whole as the summary text");
        TextFormat => "text.format", Field, Translated("`response_format`"), Dropped("Messages has no response format: ask for JSON in the prompt");
        TextVerbosity => "text.verbosity", Field, Dropped("the providers have no verbosity"), Dropped("the providers have no verbosity");
        Stream => "stream", Field, Translated("always streamed upstream; a whole answer is assembled"), Translated("always streamed upstream; a whole answer is assembled");
        Temperature => "temperature", Field, Carried, Carried;
        TopP => "top_p", Field, Carried, Carried;
        User => "user", Field, Translated("`user`"), Translated("`metadata.user_id`");
        PromptCacheKey => "prompt_cache_key", Field, Translated(PROMPT_CACHE_KEY), Dropped("Messages caches by `cache_control`");
        Include => "include", Field, Dropped("clawgate has no encrypted reasoning or log probabilities to return"), Dropped("clawgate has no encrypted reasoning or log probabilities to return");
        Truncation => "truncation: auto", Field, Dropped("clawgate does not truncate: a conversation that does not fit fails with `context_length_exceeded`"), Dropped("clawgate does not truncate: a conversation that does not fit fails with `context_length_exceeded`");
        Store => "store", Field, Translated("nothing is stored; the answer says `store: false`"), Translated("nothing is stored; the answer says `store: false`");
        Metadata => "metadata", Field, Dropped("nothing is stored to attach it to"), Dropped("nothing is stored to attach it to");
        ClientMetadata => "client_metadata", Field, Dropped("nothing is stored to attach it to"), Dropped("nothing is stored to attach it to");
        SafetyIdentifier => "safety_identifier", Field, Dropped("an OpenAI field"), Dropped("an OpenAI field");
        ServiceTier => "service_tier", Field, Dropped("an OpenAI tier"), Dropped("an OpenAI tier");
        MaxToolCalls => "max_tool_calls", Field, Dropped("the providers have no such limit"), Dropped("the providers have no such limit");
        TopLogprobs => "top_logprobs", Field, Dropped("no log probabilities are returned"), Dropped("no log probabilities are returned");
        StreamOptions => "stream_options", Field, Dropped("events are not obfuscated"), Dropped("events are not obfuscated");
        PreviousResponseId => "previous_response_id", Field, Refused("clawgate stores no responses: send the whole conversation in `input` (Codex does)"), Refused("clawgate stores no responses: send the whole conversation in `input` (Codex does)");
        Conversation => "conversation", Field, Refused("clawgate stores no conversations: send the whole conversation in `input`"), Refused("clawgate stores no conversations: send the whole conversation in `input`");
        Background => "background: true", Field, Refused("clawgate stores no responses to poll: stream instead"), Refused("clawgate stores no responses to poll: stream instead");
        Prompt => "prompt", Field, Refused("clawgate stores no prompt templates: send `instructions` and `input`"), Refused("clawgate stores no prompt templates: send `instructions` and `input`");
        MessageItem => "message items", Block, Translated("chat messages (`developer` as `system`)"), Translated("messages");
        FunctionCall => "function_call items", Block, Translated("assistant `tool_calls`"), Translated("`tool_use` blocks");
        FunctionCallOutput => "function_call_output items", Block, Translated("`tool` messages (images after them in a user message)"), Translated("`tool_result` blocks, their text (images after them, in the same user turn)");
        CustomToolCall => "custom_tool_call and its output", Block, Translated("a function call whose one argument is `input`"), Translated("a `tool_use` whose one input is `input`");
        ReasoningItem => "reasoning items", Block, Translated("assistant `reasoning_content` (its text, else its summary)"), Translated("a `thinking` block");
        WebSearchCall => "web_search_call items", Block, Dropped("a search OpenAI ran; the assistant's text says what it found"), Dropped("a search OpenAI ran; the assistant's text says what it found");
        ItemReference => "item_reference items", Block, Refused("clawgate stores no items: send the item itself"), Refused("clawgate stores no items: send the item itself");
        OtherItem => "other input items", Block, Refused("send messages, function calls, their outputs and reasoning"), Refused("send messages, function calls, their outputs and reasoning");
        TextPart => "input_text and output_text parts", Block, Translated("text"), Translated("text");
        ImagePart => "input_image parts with an image_url", Block, Translated("`image_url` parts"), Translated("`image` blocks");
        ImageDetail => "detail on input_image parts", Block, Translated("`image_url.detail`"), Dropped("Messages images have no detail level");
        FileImage => "input_image parts by file_id", Block, Refused("send an image_url or a data URL"), Refused("send an image_url or a data URL");
        OtherPart => "other content parts (input_file ...)", Block, Refused("send text, or images by URL"), Refused("send text, or images by URL");
        FunctionTool => "function tools", Tool, Translated("function tools"), Translated("tools with `input_schema`");
        NamespaceTool => "namespace tools", Tool, Translated("their functions, named `<namespace>__<name>`"), Translated("their functions, named `<namespace>__<name>`");
        NamespaceDescription => "description on namespace tools", Tool, Dropped("a chat function has no namespace: each keeps its own description"), Dropped("a Messages tool has no namespace: each keeps its own description");
        CustomTool => "custom tools", Tool, Translated("a function taking its free-form input as `input` (a grammar told in the description)"), Translated("a tool taking its free-form input as `input`");
        WebSearchTool => "web_search tools", Tool, Dropped("a search OpenAI runs"), Dropped("a search OpenAI runs");
        ToolSearchTool => "tool_search tools", Tool, Dropped("a search over deferred tools only OpenAI's models call"), Dropped("a search over deferred tools only OpenAI's models call");
        DeferLoading => "defer_loading on tools", Tool, Dropped("every tool is offered whole: none is loaded later"), Dropped("every tool is offered whole: none is loaded later");
        OtherTool => "other tools (file_search or mcp or code_interpreter ...)", Tool, Refused("offer function, namespace or custom tools"), Refused("offer function, namespace or custom tools");
    }
}

/// Where each nested member of a front end's request finds its fate: a
/// pattern of member paths and the row whose fate the members share.
///
/// A path names a member as `key.key`, an array's element as `[tag]`,
/// its tag the element's `type`, else its `role`, else empty
/// (`messages[user].content[text].cache_control`). A pattern's segment
/// may list alternatives (`a|b`); a tag `*` is any tag, `+` any but
/// none and `*_end` any ending so; a last segment `*` is the member
/// before it and all it holds, carried or translated whole. The first pattern that matches
/// decides. A top-level member with a row of its own name is that row,
/// and so is all it holds unless a pattern here looks inside it.
#[cfg(any(test, feature = "test-support"))]
type Members = &'static [(&'static str, u8)];

#[cfg(any(test, feature = "test-support"))]
macro_rules! members {
    ($ids:ident { $($pattern:literal => $row:ident,)* }) => {
        &[$(($pattern, $ids::$row as u8)),*]
    };
}

#[cfg(any(test, feature = "test-support"))]
const CHAT_MEMBERS: Members = members!(ChatRow {
    "messages[*].role" => Messages,
    "messages[*].name" => MessageName,
    "messages[system|developer].content[*].cache_control.*" => PartCacheControl,
    "messages[system|developer].content" => SystemMessage,
    "messages[system|developer].content[text].type|text" => SystemMessage,
    "messages[tool].tool_call_id" => ToolMessage,
    "messages[tool].content" => ToolMessage,
    "messages[assistant].reasoning_content" => ReasoningContent,
    "messages[assistant].tool_calls[function].id|type" => ToolCalls,
    "messages[assistant].tool_calls[function].function.name|arguments" => ToolCalls,
    "messages[*].content" => Messages,
    "messages[*].content[*].cache_control.*" => PartCacheControl,
    "messages[*].content[text].type|text" => TextPart,
    "messages[*].content[image_url].type" => ImagePart,
    "messages[*].content[image_url].image_url.url" => ImagePart,
    "messages[*].content[image_url].image_url.detail" => ImageDetail,
    "messages[*].content[input_audio].*" => AudioPart,
    "messages[*].content[file].*" => FilePart,
    "tools[function].type" => Tools,
    "tools[function].function.name|description" => Tools,
    "tools[function].function.parameters.*" => Tools,
    "tools[function].function.strict" => FunctionStrict,
    "tools[custom].*" => CustomTool,
    "tool_choice.type" => ToolChoice,
    "tool_choice.function.name" => ToolChoice,
    "tool_choice.allowed_tools.mode|tools.*" => AllowedTools,
    "tool_choice.custom.*" => CustomTool,
    "thinking.type|keep" => Thinking,
    "thinking.budget_tokens" => ThinkingBudget,
});

#[cfg(any(test, feature = "test-support"))]
const MESSAGES_MEMBERS: Members = members!(MessagesRow {
    "system[text].type|text" => System,
    "system[text].cache_control.*" => CacheControl,
    "messages[system].role|content" => SystemRole,
    "messages[*].role" => Messages,
    "messages[*].content" => Messages,
    "messages[*].content[*].cache_control.*" => CacheControl,
    "messages[*].content[text].type|text" => Text,
    "messages[*].content[text].citations.*" => Citations,
    "messages[*].content[image].type|source.*" => Image,
    "messages[*].content[document].type|source.*" => TextDocument,
    "messages[*].content[document].title|context" => DocumentContext,
    "messages[*].content[document].citations.*" => DocumentCitations,
    "messages[user].content[thinking].*" => UserThinking,
    "messages[*].content[thinking].type|thinking|signature" => ThinkingBlock,
    "messages[*].content[redacted_thinking].*" => RedactedThinking,
    "messages[*].content[server_tool_use|*_tool_result].*" => ServerToolBlocks,
    "messages[*].content[tool_use].type|id|name|input.*" => ToolUse,
    "messages[*].content[tool_result].type|tool_use_id|content|is_error" => ToolResult,
    "messages[*].content[tool_result].content[text].type|text" => ToolResult,
    "messages[*].content[tool_result].content[image].type|source.*" => ToolResult,
    "messages[*].content[tool_result].content[tool_reference].*" => ToolReference,
    "messages[*].content[tool_result].content[*].*" => OtherInToolResult,
    "tools[].name|description|strict" => ClientTool,
    "tools[].input_schema.*" => ClientTool,
    "tools[].cache_control.*" => CacheControl,
    "tools[].input_examples.*" => InputExamples,
    "tools[].defer_loading" => DeferLoading,
    "tools[+].*" => ServerTool,
    "tool_choice.type|name|disable_parallel_tool_use" => ToolChoice,
    "thinking.type" => Thinking,
    "thinking.budget_tokens" => ThinkingBudget,
    "output_config.effort" => OutputConfigEffort,
    "output_config.format.type|schema.*" => OutputConfig,
    "metadata.user_id" => MetadataUserId,
});

#[cfg(any(test, feature = "test-support"))]
const RESPONSES_MEMBERS: Members = members!(ResponsesRow {
    "input[message|user|assistant|system|developer].type|role|content|id|status" => MessageItem,
    "input[*].content[input_text|output_text].type|text" => TextPart,
    "input[*].content[output_text].annotations|logprobs.*" => TextPart,
    "input[*].content[input_image].type|image_url" => ImagePart,
    "input[*].content[input_image].detail" => ImageDetail,
    "input[reasoning].type|id|summary|content|status" => ReasoningItem,
    "input[reasoning].summary[summary_text].type|text" => ReasoningItem,
    "input[reasoning].content[reasoning_text].type|text" => ReasoningItem,
    "input[function_call].type|id|call_id|name|namespace|arguments|status" => FunctionCall,
    "input[function_call_output].type|id|call_id|output|status" => FunctionCallOutput,
    "input[function_call_output].output[*].*" => FunctionCallOutput,
    "input[custom_tool_call].type|id|call_id|name|namespace|input|status" => CustomToolCall,
    "input[custom_tool_call_output].type|id|call_id|output|status" => CustomToolCall,
    "input[custom_tool_call_output].output[*].*" => CustomToolCall,
    "input[web_search_call].*" => WebSearchCall,
    "tools[function|namespace].defer_loading" => DeferLoading,
    "tools[namespace].tools[function].defer_loading" => DeferLoading,
    "tools[function].*" => FunctionTool,
    "tools[namespace].description" => NamespaceDescription,
    "tools[namespace].*" => NamespaceTool,
    "tools[custom].*" => CustomTool,
    "tools[web_search|web_search_preview].*" => WebSearchTool,
    "tools[tool_search].*" => ToolSearchTool,
    "tool_choice.type|name" => ToolChoice,
    "tool_choice.mode|tools.*" => AllowedTools,
    "reasoning.effort" => ReasoningEffort,
    "reasoning.summary" => ReasoningSummary,
    "text.format.*" => TextFormat,
    "text.verbosity" => TextVerbosity,
    "truncation" => Truncation,
    "background" => Background,
});

/// The row whose fate the member at `path` of a `front` request has (see
/// [`Members`] for how a path is written); `None` when no row gives it
/// one.
#[cfg(any(test, feature = "test-support"))]
pub fn member_row(front: Front, path: &str) -> Option<usize> {
    let patterns = match front {
        Front::Chat => CHAT_MEMBERS,
        Front::Messages => MESSAGES_MEMBERS,
        Front::Responses => RESPONSES_MEMBERS,
    };
    let path = segments(path);
    if let Some(&(_, row)) = patterns
        .iter()
        .find(|(pattern, _)| matched_by(&segments(pattern), &path))
    {
        return Some(row.into());
    }
    // A top-level member named by a row: itself, and what it holds when
    // no pattern looks inside it.
    let (Segment::Key(key), rest) = path.split_first()? else {
        return None;
    };
    let looked_into = patterns
        .iter()
        .any(|(pattern, _)| matches!(segments(pattern).first(), Some(Segment::Key(k)) if k == key));
    let row = table(front)
        .iter()
        .position(|row| row.kind == Kind::Field && row.name == *key)?;
    (rest.is_empty() || !looked_into).then_some(row)
}

/// One segment of a member path or pattern: a member's key, or an array
/// element's tag.
#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, PartialEq)]
enum Segment<'a> {
    Key(&'a str),
    Element(&'a str),
}

#[cfg(any(test, feature = "test-support"))]
fn segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut elements) = part.split_once('[').map_or((part, ""), |(k, e)| (k, e));
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        while let Some((tag, rest)) = elements.split_once(']') {
            out.push(Segment::Element(tag));
            elements = rest.strip_prefix('[').unwrap_or(rest);
        }
    }
    out
}

/// Whether `pattern` (its segments) matches `path`'s.
#[cfg(any(test, feature = "test-support"))]
fn matched_by(pattern: &[Segment], path: &[Segment]) -> bool {
    match (pattern.split_first(), path.split_first()) {
        (Some((Segment::Key("*"), [])), _) => true,
        (None, None) => true,
        (Some((want, pattern)), Some((got, path))) => {
            let one = match (want, got) {
                (Segment::Key(want), Segment::Key(got)) => want.split('|').any(|w| w == *got),
                (Segment::Element(want), Segment::Element(got)) => want.split('|').any(|w| {
                    w == *got
                        || (w == "+" && !got.is_empty())
                        || w.strip_prefix('*').is_some_and(|end| got.ends_with(end))
                }),
                _ => false,
            };
            one && matched_by(pattern, path)
        }
        _ => false,
    }
}

/// The table of `front`.
pub fn table(front: Front) -> &'static [Row] {
    match front {
        Front::Chat => CHAT,
        Front::Messages => MESSAGES,
        Front::Responses => RESPONSES,
    }
}

/// The transport that speaks `front`'s own format, if any: the client's
/// body goes on there as it came, unknown members and all.
pub fn same_format(front: Front) -> Option<Api> {
    match front {
        Front::Chat => Some(Api::OpenAiCompletions),
        Front::Messages => Some(Api::AnthropicMessages),
        Front::Responses => None,
    }
}

/// Notes the top-level member `key` (its value the JSON text `value`) of a
/// `seen.front` body: the row that
/// names it, else the member as unknown. Rows named by a nested path
/// (`metadata.user_id`) are found by their first segment; a member such a
/// row only partly covers (`thinking`, `metadata`) is marked by the reader,
/// which knows what it holds.
fn top_level(seen: &mut Seen, key: &str, value: &str) {
    // A member whose value is `null` is read as absent, and an empty
    // list (Codex's `include: []`) asks for nothing a target could lose.
    let empty_list = || {
        (value.strip_prefix('['))
            .and_then(|inner| inner.strip_suffix(']'))
            .is_some_and(|inner| inner.trim().is_empty())
    };
    if value == "null" || empty_list() {
        return;
    }
    match index(seen.front).get(key) {
        Some(Some(row)) => seen.mark(*row),
        // Marked by the reader, which knows what the member holds.
        Some(None) => {}
        None => seen.unknown_member(key),
    }
}

/// The top-level member names of `front`'s table: the row each names, or
/// `None` for a member that rows name only nested (`metadata.user_id`)
/// or by value (`truncation: auto`). Built once: a request looks up each
/// of its members.
fn index(front: Front) -> &'static HashMap<&'static str, Option<u8>> {
    static INDEX: [OnceLock<HashMap<&str, Option<u8>>>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    INDEX[front as usize].get_or_init(|| {
        let mut index = HashMap::new();
        for (at, row) in table(front).iter().enumerate() {
            if row.kind != Kind::Field {
                continue;
            }
            match row.name.find(['.', '[', ':']) {
                None => {
                    index.insert(row.name, Some(at as u8));
                }
                Some(end) => {
                    index.entry(&row.name[..end]).or_insert(None);
                }
            }
        }
        index
    })
}

/// The rows of `front`'s table that a body's top-level `members` (key,
/// value as written) name, and its unknown members ([`top_level`]).
pub fn members<'k>(front: Front, members: impl IntoIterator<Item = (&'k str, &'k str)>) -> Seen {
    let mut seen = Seen::new(front);
    for (key, value) in members {
        top_level(&mut seen, key, value);
    }
    seen
}

/// Whether a message's `content` (its JSON text) says nothing: `""`, or
/// an array of no parts or of text parts of empty text alone (an array of
/// more than 512 bytes is taken to say something, unread).
fn says_nothing(content: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Part<'a> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
        #[serde(default, borrow)]
        text: Option<Cow<'a, str>>,
    }
    let empty_text = |part: &Part| part.kind == "text" && part.text.as_deref() == Some("");
    match content.as_bytes().first() {
        Some(b'"') => content == "\"\"",
        Some(b'[') if content.len() <= 512 => serde_json::from_str::<Vec<Part>>(content)
            .is_ok_and(|parts| parts.iter().all(empty_text)),
        _ => false,
    }
}

/// Whether a JSON text is an array of nothing (`[]`, `[ ]`), or no array.
fn is_empty_array(value: &str) -> bool {
    let mut written = value.bytes().filter(|byte| !byte.is_ascii_whitespace());
    written.next() != Some(b'[') || written.next() == Some(b']')
}

/// The rows of the chat table a chat request holds: its members, its
/// messages' roles (already read), and its content parts' types (read
/// from the messages whose content is an array).
pub fn chat(request: &ChatRequest, memo: &ToolsMemo) -> Seen {
    let mut seen = members(Front::Chat, request.entries());
    for (index, message) in request.messages().iter().enumerate() {
        // Whether it says anything, as the Anthropic translation judges
        // (`anthropic_provider::messages` leaves out one that does not).
        let (mut content, mut said) = (None, false);
        for (key, value) in request.message_entries(index) {
            match key {
                _ if value == "null" => {}
                "name" => ChatRow::MessageName.mark(&mut seen),
                "content" => content = Some(value),
                "tool_calls" => said |= !is_empty_array(value),
                "reasoning_content" => said = true,
                // Their rows are marked below, or the message's.
                "role" | "tool_call_id" => {}
                other => seen.unknown_member(&format!("messages[].{other}")),
            }
        }
        let user_or_assistant = matches!(&*message.role, "user" | "assistant");
        if user_or_assistant && !said && content.is_none_or(says_nothing) {
            ChatRow::EmptyMessage.mark(&mut seen);
        }
        match &*message.role {
            "system" | "developer" => ChatRow::SystemMessage.mark(&mut seen),
            "tool" => ChatRow::ToolMessage.mark(&mut seen),
            // The legacy answer to a `function_call`: carried where chat
            // is, named where it is not.
            "function" => seen.unknown_member("messages[function]"),
            _ => {}
        }
        if message.has_reasoning_content {
            ChatRow::ReasoningContent.mark(&mut seen);
        }
        if !message.tool_call_ids.is_empty() {
            ChatRow::ToolCalls.mark(&mut seen);
        }
    }
    let (kinds, holds) = request.part_kinds();
    for kind in kinds {
        let row = match kind {
            "text" => ChatRow::TextPart,
            "image_url" => ChatRow::ImagePart,
            "input_audio" => ChatRow::AudioPart,
            "file" => ChatRow::FilePart,
            // Not in the API's documentation: as an unknown member is.
            other => {
                seen.unknown_member(&format!("a content part of type {other:?}"));
                continue;
            }
        };
        row.mark(&mut seen);
    }
    if holds.cache_control {
        ChatRow::PartCacheControl.mark(&mut seen);
    }
    if holds.image_detail {
        ChatRow::ImageDetail.mark(&mut seen);
    }
    for name in &holds.unknown {
        seen.unknown_member(name);
    }
    chat_tools(request, memo, &mut seen);
    // The members of `stream_options` besides `include_usage`
    // (`include_obfuscation`), of `thinking` besides its switch, `keep`
    // and its budget, and of OpenRouter's `reasoning` besides its switch
    // and effort (`exclude`, `max_tokens`), which the rules read nowhere:
    // carried where the client's object is, named where it is translated
    // or written anew.
    for (member, read) in CHAT_OBJECTS_READ {
        if let Some(serde_json::Value::Object(members)) = request.value(member) {
            for (key, _) in members.iter().filter(|(_, value)| !value.is_null()) {
                match read.iter().find(|(name, _)| name == key) {
                    Some((_, Some(row))) => row.mark(&mut seen),
                    Some((_, None)) => {}
                    None => seen.unknown_member(&format!("{member}.{key}")),
                }
            }
        }
    }
    seen
}

/// A member the gateway reads of one of a chat request's objects, with
/// its row where it has one of its own.
type MemberRead = (&'static str, Option<ChatRow>);

/// A chat request's objects the gateway reads some members of, and those
/// members: [`chat`] notes the others.
const CHAT_OBJECTS_READ: [(&str, &[MemberRead]); 3] = [
    ("stream_options", &[("include_usage", None)]),
    (
        "thinking",
        &[
            ("type", None),
            ("keep", None),
            ("budget_tokens", Some(ChatRow::ThinkingBudget)),
        ],
    ),
    ("reasoning", &[("effort", None), ("enabled", None)]),
];

/// Notes what a request holds that only a transport of another format
/// than its front end's loses, and that costs a reading of its own: the
/// members of a chat request's tool calls, and of their functions, that
/// the API does not define (a function is read again for them, its
/// arguments with it). Called once the chain is known, with its targets'
/// transports: a chain that speaks the front end's format pays nothing.
pub fn before_transports(
    request: &ClientRequest,
    apis: impl IntoIterator<Item = Api>,
    seen: &mut Seen,
) {
    let own = same_format(seen.front);
    if seen.front != Front::Chat || apis.into_iter().all(|api| Some(api) == own) {
        return;
    }
    let request = request.chat();
    let assistant =
        (request.messages().iter().enumerate()).filter(|(_, message)| message.role == "assistant");
    for (index, _) in assistant {
        tool_calls_unknown(request, index, seen);
    }
}

/// Names the members of message `index`'s tool calls, and of their
/// functions, that the API does not define.
fn tool_calls_unknown(request: &ChatRequest, index: usize, seen: &mut Seen) {
    for (key, value) in request.tool_call_entries(index) {
        if seen.unknown().len() >= MAX_UNKNOWN {
            return;
        }
        match key {
            _ if value == "null" => {}
            // `index` is a streamed call's place among its deltas, which
            // clients replay as they assembled it: it means nothing here.
            "id" | "type" | "index" => {}
            "function" => {
                let Ok(members) = crate::format::scan::members(value.as_bytes()) else {
                    continue;
                };
                for member in members {
                    let inner = &value[member.value.clone()];
                    if !matches!(&*member.key, "name" | "arguments") && inner != "null" {
                        seen.unknown_member(&format!(
                            "messages[].tool_calls[].function.{}",
                            member.key
                        ));
                    }
                }
            }
            other => seen.unknown_member(&format!("messages[].tool_calls[].{other}")),
        }
    }
}

/// The rows a chat request's `tools` and `tool_choice` hold beyond
/// function tools, and the members of either the API does not define. The
/// tools are read once per text ([`ToolsMemo`]): they run to tens of
/// kilobytes, and a client sends the same every turn. A choice naming a
/// custom tool is one row with the tools: it goes where they go.
fn chat_tools(request: &ChatRequest, memo: &ToolsMemo, seen: &mut Seen) {
    if let Some(tools) = request.raw("tools") {
        let held = memo.0.remembered(tools, || tools_held(tools));
        if held.custom {
            ChatRow::CustomTool.mark(seen);
        }
        if held.strict {
            ChatRow::FunctionStrict.mark(seen);
        }
        for name in held.unknown.iter() {
            seen.unknown_member(name);
        }
    }
    let Some(serde_json::Value::Object(choice)) = request.value("tool_choice") else {
        return;
    };
    // The members of the object each kind of choice holds, as the API
    // defines them; a choice naming a custom tool goes whole.
    let (kind, inner): (&str, &[&str]) = match choice.get("type").and_then(|t| t.as_str()) {
        Some("allowed_tools") => {
            ChatRow::AllowedTools.mark(seen);
            ("allowed_tools", &["mode", "tools"])
        }
        Some("custom") => return ChatRow::CustomTool.mark(seen),
        Some("function") => ("function", &["name"]),
        _ => return,
    };
    for (key, value) in &choice {
        if key != "type" && key != kind && !value.is_null() {
            seen.unknown_member(&format!("tool_choice.{key}"));
        }
    }
    if let Some(serde_json::Value::Object(object)) = choice.get(kind) {
        for (key, value) in object {
            if !inner.contains(&key.as_str()) && !value.is_null() {
                seen.unknown_member(&format!("tool_choice.{kind}.{key}"));
            }
        }
    }
}

/// What a chat `tools` text holds that the rows name: a custom tool, a
/// function's `strict`, and the members the API does not define
/// (`tools[].{key}`, `tools[].function.{key}`, a tool of another type),
/// which only the chat transport carries.
#[derive(Debug, Clone, Default)]
struct ToolsHeld {
    custom: bool,
    strict: bool,
    unknown: Arc<[Box<str>]>,
}

/// [`ToolsHeld`] of the last few chat `tools` texts, none longer than
/// 512 KB: a repeated turn costs one comparison of bytes.
pub struct ToolsMemo(Recent<ToolsHeld>);

impl Default for ToolsMemo {
    fn default() -> Self {
        Self(Recent::new(8, 512 * 1024))
    }
}

/// Reads a chat `tools` text: each tool's members, and a function tool's
/// function's (its schema stepped over); a tool that is not an object, or
/// a function without a name, is named too. A text that is not an array
/// holds nothing here: the provider judges it. At most [`MAX_UNKNOWN`]
/// names are kept, as a request keeps.
fn tools_held(tools: &str) -> ToolsHeld {
    type Members<'a> = BTreeMap<String, &'a RawValue>;
    /// The members not `known`, named at `at`.
    fn others<'m>(
        members: &'m Members,
        known: &'m [&str],
        at: &'m str,
    ) -> impl Iterator<Item = String> + 'm {
        (members.iter())
            .filter(|(key, value)| !known.contains(&key.as_str()) && value.get() != "null")
            .map(move |(key, _)| format!("{at}.{key}"))
    }
    let mut held = ToolsHeld::default();
    let Ok(read) = serde_json::from_str::<Vec<&RawValue>>(tools) else {
        return held;
    };
    let mut unknown: BTreeSet<String> = BTreeSet::new();
    for tool in read {
        if unknown.len() >= MAX_UNKNOWN {
            break;
        }
        let Ok(tool) = serde_json::from_str::<Members>(tool.get()) else {
            unknown.insert("a tool that is not an object".into());
            continue;
        };
        let kind =
            (tool.get("type")).and_then(|kind| serde_json::from_str::<String>(kind.get()).ok());
        match kind.as_deref() {
            Some("function") => {
                unknown.extend(others(&tool, &["type", "function"], "tools[]"));
                let function = (tool.get("function"))
                    .and_then(|function| serde_json::from_str::<Members>(function.get()).ok());
                let Some(function) = function.filter(|f| f.contains_key("name")) else {
                    unknown.insert("a function tool without a name".into());
                    continue;
                };
                held.strict |= function.get("strict").is_some_and(|s| s.get() != "null");
                let known = ["name", "description", "parameters", "strict"];
                unknown.extend(others(&function, &known, "tools[].function"));
            }
            // A custom tool is a row of its own, whatever it holds.
            Some("custom") => held.custom = true,
            Some(other) => {
                unknown.insert(format!("a tool of type {other:?}"));
            }
            None => {
                unknown.insert("a tool without a type".into());
            }
        }
    }
    let unknown = unknown.into_iter().take(MAX_UNKNOWN);
    held.unknown = unknown.map(String::into_boxed_str).collect();
    held
}

/// The 400's message for the first refused row `seen` holds, naming it and
/// what to do instead.
pub fn refusal(seen: &Seen) -> Option<String> {
    table(seen.front)
        .iter()
        .enumerate()
        .find_map(|(index, row)| match (seen.has(index), row.openai) {
            (true, Refused(instead)) => Some(format!("`{}` is not supported: {instead}", row.name)),
            _ => None,
        })
}

/// What a target of transport `api` did not get of a request that holds
/// `seen`, as the answer's `x-clawgate-dropped` and `clawgate explain`
/// name it: the rows dropped there, and the planned rows its plan
/// `withheld` (server tools by their types, `web_search_20250305`), then
/// the unknown members when the transport does not speak the front end's
/// format, then what the rules removed ([`Withheld::Removed`]).
pub fn dropped<'a>(seen: &'a Seen, api: Api, withheld: &'a [Withheld]) -> Vec<&'a str> {
    let mut names: Vec<&str> = table(seen.front)
        .iter()
        .enumerate()
        .filter(|(index, row)| {
            seen.has(*index)
                && match row.fate(api) {
                    Dropped(_) => true,
                    Planned(_) | Translated(_) => withheld
                        .iter()
                        .any(|what| planned_rows(seen.front, what).contains(index)),
                    _ => false,
                }
        })
        .map(|(_, row)| row.name)
        .collect();
    let server_tools = MESSAGES[MessagesRow::ServerTool as usize].name;
    if let Some(at) = names.iter().position(|name| *name == server_tools) {
        // With no tool of the client's own left, its `tool_choice` goes
        // with the server tools.
        let choice = MessagesRow::ToolChoice as usize;
        if seen.has(choice) && !seen.has(MessagesRow::ClientTool as usize) {
            names.push(MESSAGES[choice].name);
        }
        if !seen.server_tool_types().is_empty() {
            let types = seen.server_tool_types().iter().map(|kind| &**kind);
            names.splice(at..=at, types);
        }
    }
    if !unknown_dropped(seen, api, withheld).is_empty() {
        names.push(UNKNOWN);
    }
    // What the plan removed may be what the transport drops too (`n` on
    // the Anthropic transport, where the model also fixes sampling):
    // each is named once.
    for removed in withheld.iter().filter_map(Withheld::removed) {
        if !names.contains(&removed) {
            names.push(removed);
        }
    }
    names
}

/// The unknown members of a request that holds `seen` that a target of
/// transport `api` does not get: all, where the transport does not speak
/// the front end's format; else those of a member its plan `withheld` by
/// writing it anew (`thinking.display`).
pub fn unknown_dropped<'s>(seen: &'s Seen, api: Api, withheld: &[Withheld]) -> Vec<&'s str> {
    let same = same_format(seen.front) == Some(api);
    let written_anew = |name: &str| {
        withheld.iter().any(|what| {
            let Withheld::WrittenAnew(member) = what else {
                return false;
            };
            name.strip_prefix(member)
                .is_some_and(|rest| rest.starts_with('.'))
        })
    };
    (seen.unknown().iter())
        .map(|name| &**name)
        .filter(|name| !same || written_anew(name))
        .collect()
}

/// The rows of `front`'s table that name what a plan withheld: a planned
/// row, or translated ones whose value the plan lowered or could not send.
pub fn planned_rows(front: Front, withheld: &Withheld) -> &'static [usize] {
    // Each front end's rows, decided for every kind of withheld and every
    // front end (no catch-all: a new one of either is decided here).
    let (chat, messages, responses): (&[usize], &[usize], &[usize]) = match withheld {
        Withheld::CacheMarks => (
            &[ChatRow::PartCacheControl as usize],
            &[MessagesRow::CacheControl as usize],
            &[],
        ),
        Withheld::ThinkingBudget => (
            &[ChatRow::ThinkingBudget as usize],
            &[MessagesRow::ThinkingBudget as usize],
            &[],
        ),
        Withheld::MaxEffort => (
            &[ChatRow::ReasoningEffort as usize],
            &[MessagesRow::OutputConfigEffort as usize],
            &[ResponsesRow::ReasoningEffort as usize],
        ),
        Withheld::Thinking => (
            &[
                ChatRow::ReasoningEffort as usize,
                ChatRow::Thinking as usize,
                ChatRow::ThinkingBudget as usize,
                ChatRow::Reasoning as usize,
            ],
            &[
                MessagesRow::Thinking as usize,
                MessagesRow::ThinkingBudget as usize,
                MessagesRow::OutputConfigEffort as usize,
            ],
            &[ResponsesRow::ReasoningEffort as usize],
        ),
        Withheld::ContextManagement => (&[], &[MessagesRow::ContextManagement as usize], &[]),
        Withheld::OutputConfig => (&[], &[MessagesRow::OutputConfig as usize], &[]),
        Withheld::ServerTools => (&[], &[MessagesRow::ServerTool as usize], &[]),
        Withheld::DeferredTools => (&[], &[MessagesRow::DeferLoading as usize], &[]),
        Withheld::ToolReferences => (&[], &[MessagesRow::ToolReference as usize], &[]),
        Withheld::WrittenAnew(_) | Withheld::Removed(_) => (&[], &[], &[]),
    };
    match front {
        Front::Chat => chat,
        Front::Messages => messages,
        Front::Responses => responses,
    }
}

/// How `front`'s table names a replayed turn's reasoning (a chat turn's
/// `reasoning_content`, Messages' thinking blocks, Responses' reasoning
/// items): what the answer names when the rules take it.
pub fn replayed_reasoning(front: Front) -> &'static str {
    match front {
        Front::Chat => CHAT[ChatRow::ReasoningContent as usize].name,
        Front::Messages => MESSAGES[MessagesRow::ThinkingBlock as usize].name,
        Front::Responses => RESPONSES[ResponsesRow::ReasoningItem as usize].name,
    }
}

/// Whether the client asked something of thinking (a switch, an effort, a
/// budget), as its reader noted it in `seen`.
pub fn asks_thinking(seen: &Seen) -> bool {
    (planned_rows(seen.front, &Withheld::Thinking).iter()).any(|row| seen.has(*row))
}

/// How the header and the log name a request's unknown members: their
/// names are the client's and go only to the log.
pub const UNKNOWN: &str = "unknown members";

/// `docs/translation.md`, written from the tables.
#[cfg(any(test, feature = "test-support"))]
pub fn markdown() -> String {
    let mut out = String::from(
        "# What becomes of each request field\n\n\
         <!-- Written from the tables in `src/translate/fields.rs`;\n\
         `tests/translation_doc.rs` fails when the two differ. Edit the tables,\n\
         then run `CLAWGATE_WRITE_DOCS=1 cargo test --test translation_doc`. -->\n\n\
         For each API clawgate serves, every documented request field, content\n\
         block, tool type and header, and what happens to it on each provider\n\
         transport:\n\
         the OpenAI chat transport (`api: \"openai-completions\"`: Moonshot, Kimi\n\
         Coding's OpenAI endpoint, OpenRouter, any OpenAI-compatible endpoint)\n\
         and the Anthropic transport (`api: \"anthropic-messages\"`: Kimi\n\
         Coding's and Moonshot's Anthropic endpoints, Anthropic).\n\n\
         - **carried**: sent as the client wrote it (the provider rules in\n\
         [providers.md](providers.md) may still edit it);\n\
         - **translated**: sent in the transport's own terms, as said;\n\
         - **refused**: a 400 in the API's own error shape, naming the field and\n\
         what to send instead; no provider is called;\n\
         - **dropped**: left out by design. The answer names it in the\n\
         `x-clawgate-dropped` header (comma-separated; on a stream, with the\n\
         response's head), and the log says so in a warn line naming the\n\
         fields and the target (at most once a minute per target and set of\n\
         fields, the unknown members below counted by name);\n\
         - **per target**: the provider rules (`src/providers/`) decide for\n\
         each target: sent in its own terms where it takes it, else left out\n\
         and named as a dropped field is.\n\n\
         A chat provider's tool-call arguments reach a Messages client as it\n\
         wrote them, and an Anthropic provider's streamed `tool_use` input a\n\
         client as it wrote it. Where clawgate reads the numbers of arguments, inputs and tool\n\
         schemas and writes them anew (chat arguments and schemas made\n\
         Anthropic's in a request; an Anthropic provider's whole answer, made a\n\
         chat one or given to a Messages client; a replayed turn the rules edit;\n\
         a `messages` array or tool list a rule edits, which is then written anew\n\
         whole, as when Kimi Coding's rules move a system message) they keep\n\
         their value, not always their writing (`1e2` comes out `100.0`): an\n\
         integer past 64 bits or a decimal of more than 17 significant digits\n\
         comes out as the nearest 64-bit float, and one past its range (`1e400`)\n\
         leaves the arguments unreadable, kept as `{\"_raw_arguments\": ...}` in\n\
         a request and `{}` in an answer. A body that passes in its own format,\n\
         and that the rules leave alone, keeps them byte for byte. Send such\n\
         values as strings.\n\n\
         A chat body is read whole where the Anthropic transport translates\n\
         it: a member of another type than the chat API's (`max_tokens: \"100\"`,\n\
         a number in `stop`, a text part without its `text`, a role other than\n\
         `system`, `developer`, `user`, `assistant`, `tool` or `function`), or a\n\
         message's member only another role has (`tool_calls` or\n\
         `reasoning_content` on a message not the assistant's, `tool_call_id`\n\
         on one not a tool result), is refused there with a 400 naming it,\n\
         where the OpenAI transport carries\n\
         it and the provider judges. A tool call's `arguments` written as an\n\
         object rather than its JSON text is taken as the `input`.\n\n\
         A top-level member no table names, or a member none names of a\n\
         chat message, of its text or image parts or of a chat\n\
         `tool_choice`, of a Messages content\n\
         block, client tool, `thinking`, `tool_choice`, `metadata` or\n\
         `output_config` (or its `format`), or of a Responses input item,\n\
         `reasoning` or `text` (`messages[].partial`,\n\
         `tools[].eager_input_streaming`, `output_config.task_budget`), and a\n\
         part or block other than text in a system prompt (a chat system or\n\
         developer message, Messages' `system` or a system message) or in a\n\
         chat assistant message, are carried where the transport\n\
         speaks the API's own format (the chat API on the OpenAI transport,\n\
         Messages on the Anthropic transport: the client's body goes on as it\n\
         came) and dropped everywhere else, named `unknown members` in the\n\
         header and by name in the log line. A Messages `thinking` or\n\
         `tool_choice` that the target's rules write anew (a switch the\n\
         model needs, a choice it cannot take) loses its unknown members\n\
         on the Anthropic transport too, and they are named the same way.\n\n\
         A `tool_choice` (and chat's `parallel_tool_calls`) with no tool\n\
         offered says nothing the model can act on, and OpenAI's and\n\
         Anthropic's APIs refuse it: the rules take it away for every target,\n\
         from each front end over either transport, and the answer names it\n\
         (`x-clawgate-dropped: tool_choice`). With tools offered that are all\n\
         dropped (a Messages body's server tools for a chat target), the choice\n\
         goes with them; a Responses choice that requires a call (`required`,\n\
         or one naming a function or a hosted tool) is refused.\n\n\
         A member nested in a block, part, tool or item has the fate of the\n\
         row that names it (`name on messages`, `citations on text blocks`,\n\
         ...), or of the block, part, tool or item that holds it, which goes\n\
         whole; `tests/golden.rs` fails on a member of the rich requests\n\
         that no row gives a fate.\n\n\
         The `anthropic-beta` header of a Messages request goes on to an\n\
         Anthropic-format provider; the known dialects' endpoints (Moonshot's,\n\
         Kimi Coding's, OpenRouter's), which are not sent `context_management`\n\
         and `output_config`, are not sent their betas either\n\
         (`context-management-…`, `effort-…`: a strict endpoint refuses a beta\n\
         it does not know), and the answer names each\n\
         (`x-clawgate-dropped: anthropic-beta context-management-2025-06-27`).\n\
         A chat provider gets none.\n",
    );
    for front in Front::ALL {
        let title = match front {
            Front::Chat => "The OpenAI chat API (`POST /v1/chat/completions`)",
            Front::Messages => "Anthropic's Messages API (`POST /v1/messages`)",
            Front::Responses => "OpenAI's Responses API (`POST /v1/responses`)",
        };
        let _ = write!(
            out,
            "\n## {title}\n\n| field, block or tool | OpenAI transport | Anthropic transport |\n|---|---|---|\n"
        );
        for row in table(front) {
            let name = match row.kind {
                Kind::Field => format!("`{}`", row.name),
                Kind::Header => format!("the `{}` header", row.name),
                Kind::Block | Kind::Tool => row.name.to_string(),
            };
            let _ = writeln!(
                out,
                "| {name} | {} | {} |",
                cell(row.openai),
                cell(row.anthropic)
            );
        }
    }
    out
}

#[cfg(any(test, feature = "test-support"))]
fn cell(fate: Fate) -> String {
    match fate {
        Carried => "carried".into(),
        Translated(how) => format!("translated: {how}"),
        Refused(instead) => format!("**refused**: {instead}"),
        Dropped(why) => format!("**dropped**: {why}"),
        Planned(how) => format!("per target: {how}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A user or assistant message is named empty exactly when the
    /// Anthropic translation leaves it out.
    #[test]
    fn a_message_is_named_empty_as_the_translation_leaves_it_out() {
        let call = json!([{"type": "function", "function": {"name": "f", "arguments": "{}"}}]);
        let empty_texts = json!([{"type": "text", "text": ""}, {"type": "text", "text": ""}]);
        let messages = [
            json!({"role": "assistant"}),
            json!({"role": "assistant", "content": null}),
            json!({"role": "user", "content": ""}),
            json!({"role": "assistant", "content": []}),
            json!({"role": "user", "content": empty_texts}),
            json!({"role": "assistant", "content": "", "tool_calls": []}),
            json!({"role": "user", "content": "hi"}),
            json!({"role": "assistant", "content": [{"type": "text", "text": "x"}]}),
            json!({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}),
            // A call without an id is still a call.
            json!({"role": "assistant", "content": null, "tool_calls": call}),
            json!({"role": "assistant", "content": "", "reasoning_content": ""}),
            json!({"role": "tool", "tool_call_id": "c", "content": ""}),
            json!({"role": "system", "content": ""}),
        ];
        for message in messages {
            let body = json!({"model": "m", "messages": [message]});
            let bytes = serde_json::to_vec(&body).unwrap();
            let request = ChatRequest::parse(bytes).unwrap();
            let named = chat(&request, &ToolsMemo::default()).has(ChatRow::EmptyMessage as usize);
            let plan = crate::translate::anthropic_provider::MessagesPlan::default();
            let written =
                crate::translate::anthropic_provider::request(body.as_object().unwrap(), &plan);
            let role = body["messages"][0]["role"].as_str().unwrap();
            let left_out = written["messages"].as_array().unwrap().is_empty()
                && matches!(role, "user" | "assistant");
            assert_eq!(named, left_out, "{}", body["messages"][0]);
        }
    }

    /// Each table fits its bits, names each row once, and refuses alike on
    /// both transports (a refusal is decided before a target is).
    #[test]
    fn the_tables_are_well_formed() {
        for front in Front::ALL {
            let table = table(front);
            assert!(table.len() <= 128, "{front:?}");
            for (index, row) in table.iter().enumerate() {
                assert!(
                    table[..index].iter().all(|other| other.name != row.name),
                    "{front:?}: {} twice",
                    row.name
                );
                let refused = |fate| matches!(fate, Refused(_));
                assert_eq!(
                    refused(row.openai),
                    refused(row.anthropic),
                    "{front:?}: {}",
                    row.name
                );
                assert!(
                    !row.name.contains(','),
                    "{}: the header's separator",
                    row.name
                );
            }
        }
        assert_eq!(
            MESSAGES[MessagesRow::ServerToolChoice as usize].name,
            "tool_choice naming a server tool"
        );
    }

    /// A row left to the plan can be named by it: some [`Withheld`] is
    /// that row.
    #[test]
    fn every_planned_row_is_one_a_plan_can_withhold() {
        for front in Front::ALL {
            for (index, row) in table(front).iter().enumerate() {
                let planned =
                    matches!(row.openai, Planned(_)) || matches!(row.anthropic, Planned(_));
                let named = [
                    Withheld::CacheMarks,
                    Withheld::ThinkingBudget,
                    Withheld::ContextManagement,
                    Withheld::OutputConfig,
                    Withheld::ServerTools,
                    Withheld::DeferredTools,
                    Withheld::ToolReferences,
                ]
                .into_iter()
                .any(|what| planned_rows(front, &what).contains(&index));
                assert_eq!(planned, named, "{front:?}: {}", row.name);
            }
        }
    }

    #[test]
    fn of_many_distinct_unknown_members_the_first_32_are_kept() {
        let keys: Vec<String> = (0..200_000).map(|n| format!("x{n}")).collect();
        let seen = members(Front::Chat, keys.iter().map(|k| (k.as_str(), "1")));
        let kept: Vec<&str> = seen.unknown().iter().map(|k| &**k).collect();
        assert_eq!(kept, keys[..32]);
        assert_eq!(dropped(&seen, Api::AnthropicMessages, &[]), [UNKNOWN]);
    }

    #[test]
    fn top_level_members_mark_their_rows_or_are_unknown() {
        let mut seen = Seen::new(Front::Messages);
        for key in ["model", "top_k", "metadata", "thinking", "betas"] {
            top_level(&mut seen, key, "1");
        }
        top_level(&mut seen, "service_tier", "null");
        assert!(!seen.has(MessagesRow::ServiceTier as usize));
        assert!(seen.has(MessagesRow::Model as usize));
        assert!(seen.has(MessagesRow::TopK as usize));
        // Partly covered: the reader marks what it holds.
        assert!(!seen.has(MessagesRow::MetadataUserId as usize));
        assert_eq!(seen.unknown(), ["betas".into()]);
        assert_eq!(
            dropped(&seen, Api::OpenAiCompletions, &[]),
            ["top_k", UNKNOWN]
        );
        // The same format: unknown members go on.
        assert!(dropped(&seen, Api::AnthropicMessages, &[]).is_empty());
        // A planned row is named when the plan withheld it.
        MessagesRow::ThinkingBudget.mark(&mut seen);
        assert_eq!(
            dropped(&seen, Api::OpenAiCompletions, &[Withheld::ThinkingBudget]),
            ["thinking.budget_tokens", "top_k", UNKNOWN]
        );
        assert_eq!(
            dropped(&seen, Api::OpenAiCompletions, &[Withheld::CacheMarks]),
            ["top_k", UNKNOWN]
        );
    }

    /// Custom tools and a choice naming one are named where they are
    /// dropped (the Anthropic transport); an `allowed_tools` choice is
    /// translated there, and the chat transport carries all three.
    #[test]
    fn a_chat_requests_custom_tools_are_named_where_they_are_dropped() {
        use serde_json::json;
        let function = json!({"type": "function", "function": {"name": "f"}});
        let custom = json!({"type": "custom", "custom": {"name": "patch"}});
        let seen = |choice: serde_json::Value, tools: serde_json::Value| {
            let body = json!({"messages": [{"role": "user", "content": "hi"}],
                "tools": tools, "tool_choice": choice});
            chat(
                &ChatRequest::parse(body.to_string()).unwrap(),
                &ToolsMemo::default(),
            )
        };
        let custom_choice = seen(
            json!({"type": "custom", "custom": {"name": "patch"}}),
            json!([function]),
        );
        assert_eq!(
            dropped(&custom_choice, Api::AnthropicMessages, &[]),
            ["custom tools (and a tool_choice naming one)"]
        );
        assert!(dropped(&custom_choice, Api::OpenAiCompletions, &[]).is_empty());
        let custom_tool = seen(json!("auto"), json!([function, custom]));
        assert!(custom_tool.has(ChatRow::CustomTool as usize));
        let allowed = seen(
            json!({"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [function]}}),
            json!([function]),
        );
        assert!(allowed.has(ChatRow::AllowedTools as usize));
        assert!(dropped(&allowed, Api::AnthropicMessages, &[]).is_empty());
        // A function whose text says "custom" is a function.
        let quoted = seen(
            json!("auto"),
            json!([{"type": "function", "function": {"name": "custom", "description": "\"custom\""}}]),
        );
        assert!(dropped(&quoted, Api::AnthropicMessages, &[]).is_empty());
    }

    /// A member the API does not give a chat `tool_choice` or the object
    /// it names its tool or tools in is unknown: carried by the chat
    /// transport, named on the Anthropic one, which writes the choice
    /// anew.
    #[test]
    fn a_chat_tool_choices_unknown_members_are_named_where_it_is_written_anew() {
        use serde_json::json;
        let seen = |choice: serde_json::Value| {
            let body = json!({"messages": [{"role": "user", "content": "hi"}],
                "tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": choice});
            chat(
                &ChatRequest::parse(body.to_string()).unwrap(),
                &ToolsMemo::default(),
            )
        };
        let function = seen(
            json!({"type": "function", "function": {"name": "f", "colour": 1},
                                   "shade": 2, "custom": null}),
        );
        assert_eq!(
            function.unknown(),
            [
                "tool_choice.shade".into(),
                "tool_choice.function.colour".into()
            ]
        );
        assert_eq!(dropped(&function, Api::AnthropicMessages, &[]), [UNKNOWN]);
        assert!(dropped(&function, Api::OpenAiCompletions, &[]).is_empty());
        let allowed = seen(
            json!({"type": "allowed_tools", "allowed_tools": {"mode": "auto",
            "tools": [{"type": "function", "function": {"name": "f"}}], "colour": 1}}),
        );
        assert_eq!(
            allowed.unknown(),
            ["tool_choice.allowed_tools.colour".into()]
        );
        for plain in [
            json!("auto"),
            json!({"type": "function", "function": {"name": "f"}}),
            json!({"type": "custom", "custom": {"name": "patch", "colour": 1}}),
        ] {
            assert!(seen(plain.clone()).unknown().is_empty(), "{plain}");
        }
    }

    /// A chat tool's members the API does not define, at either level,
    /// and a tool of another type, are named where the tools are
    /// translated (the Anthropic transport) and carried on the chat one;
    /// `strict` and a custom tool mark their rows; a repeated text is
    /// read from the memo, to the same rows.
    #[test]
    fn a_chat_tools_unknown_members_are_named_where_they_are_translated() {
        use serde_json::json;
        let memo = ToolsMemo::default();
        let seen = |tools: serde_json::Value| {
            let body = json!({"messages": [{"role": "user", "content": "hi"}], "tools": tools});
            chat(&ChatRequest::parse(body.to_string()).unwrap(), &memo)
        };
        let tools = json!([
            {"type": "function", "defer": true, "cache_control": null,
             "function": {"name": "f", "parameters": {"type": "object", "properties":
                 {"colour": {"type": "string"}}}, "strict": true, "examples": [{}]}},
            {"type": "function", "function": {"name": "g", "examples": []}},
            {"type": "web_search"},
            {"function": {"name": "h"}},
            {"type": "function", "function": {"description": "nameless"}},
            1,
            {"type": "custom", "custom": {"name": "patch", "format": {"type": "text"}}}]);
        for _ in 0..2 {
            let held = seen(tools.clone());
            assert_eq!(
                held.unknown(),
                [
                    "a function tool without a name".into(),
                    "a tool of type \"web_search\"".into(),
                    "a tool that is not an object".into(),
                    "a tool without a type".into(),
                    "tools[].defer".into(),
                    "tools[].function.examples".into(),
                ]
            );
            assert!(held.has(ChatRow::FunctionStrict as usize));
            assert!(held.has(ChatRow::CustomTool as usize));
            assert!(dropped(&held, Api::AnthropicMessages, &[]).contains(&UNKNOWN));
            assert!(!dropped(&held, Api::OpenAiCompletions, &[]).contains(&UNKNOWN));
        }
        let plain = seen(json!([{"type": "function", "function": {"name": "f",
            "description": "d", "parameters": {"type": "object", "strict": true}}}]));
        assert!(plain.unknown().is_empty());
        // A schema's own `strict` is the schema's, not the function's.
        assert!(!plain.has(ChatRow::FunctionStrict as usize));
        // Not an array of objects: the provider judges it.
        assert!(seen(json!("tools")).unknown().is_empty());
    }

    #[test]
    fn a_refusal_names_the_field_and_what_to_do() {
        let mut seen = Seen::new(Front::Messages);
        assert_eq!(refusal(&seen), None);
        MessagesRow::McpServers.mark(&mut seen);
        let message = refusal(&seen).unwrap();
        assert!(
            message.starts_with("`mcp_servers` is not supported"),
            "{message}"
        );
        assert!(message.contains("claude mcp add"), "{message}");
    }
}
