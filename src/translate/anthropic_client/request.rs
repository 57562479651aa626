//! The Anthropic request in, a chat-completions request out.
//!
//! [`Memo`], the system prompt's and tools' translations remembered across
//! turns, is kept for speed: `docs/performance.md` says what it saves.

use std::borrow::Cow;

use std::sync::Arc;

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::format::fingerprint::Fingerprint;
use crate::format::members::{Aside, Members};
use crate::format::recent::Recent;
use crate::format::scan::{self, KnownValues, Member};
use crate::translate::chat_body;
use crate::translate::fields::{self, MessagesRow as Row};
use crate::translate::ids;
use crate::wire::anthropic::{
    Block, Blocks, Content, DocumentSource, ImageSource, Message, MessagesRequest, Original, Other,
    RequestError, ThinkingConfig, Tool as AnthropicTool, ToolChoice, effort_of_budget,
    is_attribution_block, literal_without_billing_header,
};
use crate::wire::facts::{Call, Noted, Turn};
use crate::wire::openai::{ChatRequest, MessageInfo, RequestError as ChatError};
use crate::wire::request::{ChatWriter, ClientRequest, Native, Translated};
use crate::wire::{Front, RawText, Seen, empty, is_empty};

/// The most stop sequences the chat transport's providers take (OpenAI's
/// limit for `stop`); the rest are dropped with a word.
pub const MAX_STOP_SEQUENCES: usize = 4;

/// A text of the translated body as a JSON string literal: the client's
/// own, borrowed, or one joined or made here.
type Text<'a> = Cow<'a, RawValue>;

/// The chat body's types, holding texts as [`Text`].
type Out<'a> = chat_body::Message<'a, Text<'a>>;
type ChatBody<'a> = chat_body::Body<'a, Text<'a>>;
type Body<'a> = chat_body::Content<'a, Text<'a>>;
type PartOut<'a> = chat_body::Part<'a, Text<'a>>;

/// Between texts joined into one: a blank line, escaped.
const BLANK_LINE: &str = r"\n\n";

/// Why a request cannot be translated; the message names the block.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TranslateError {
    #[error("messages[{index}]: {what} is not supported: no provider clawgate speaks to takes it")]
    Unsupported { index: usize, what: &'static str },
    /// A row of the Messages table refuses it (`translate::fields`).
    #[error("{0}")]
    Refused(String),
    #[error("messages[{index}]: unknown role {role:?} (user, assistant or system)")]
    Role { index: usize, role: String },
}

/// The chat-completions request for `request`, read whole by serde, as
/// [`Read::translate`] writes it: what the tests hold the front end's
/// reader to.
#[cfg(any(test, feature = "test-support"))]
pub fn request(request: &MessagesRequest, model: Option<&str>) -> Result<Vec<u8>, TranslateError> {
    let system = request
        .system
        .as_ref()
        .map(translated_system)
        .unwrap_or_default();
    // Only the body is returned: the tools' unknown members, which need
    // their text, are not looked for.
    let tools = request
        .tools
        .as_deref()
        .map(|tools| translated_tools(tools, ""))
        .unwrap_or_default();
    let mut seen = Seen::new(Front::Messages);
    if request.container.is_some() {
        Row::Container.mark(&mut seen);
    }
    if request.mcp_servers.is_some() {
        Row::McpServers.mark(&mut seen);
    }
    let mut native = Native::default();
    let body = write(request, &system, &tools, model, &mut seen, &mut native)?;
    refuse(&seen)?;
    Ok(serde_json::to_vec(&body).expect("a translated request always serializes"))
}

/// A refusal of the Messages table for what `seen` holds.
fn refuse(seen: &Seen) -> Result<(), TranslateError> {
    match fields::refusal(seen) {
        Some(message) => Err(TranslateError::Refused(message)),
        None => Ok(()),
    }
}

/// A Messages request body read for translation.
///
/// Claude Code sends the same system prompt and tools every turn (most
/// of its request): their translations are remembered by the
/// client's bytes ([`Recent`]), and a body that repeats them is read by
/// the scanner, which steps over them, and serde reads only the rest.
pub struct Read {
    /// The request, without `system` and `tools` (see the fields below).
    pub request: MessagesRequest,
    system: System,
    tools: Tools,
    /// The body's top-level members, as rows of the Messages table.
    members: Seen,
    /// The length of the body read (see [`write`]).
    body_len: usize,
    /// Where the body's members lie; `None` when they cannot be located
    /// (nested past the scanner's depth inside a member serde steps over).
    layout: Option<Vec<Member>>,
}

/// The system prompt, translated.
#[derive(Debug, Clone, Default)]
struct System {
    /// As one chat text; `None` when there is none.
    text: Option<Arc<RawValue>>,
    /// Its cache breakpoint (the last block's that has one).
    mark: Option<Arc<RawValue>>,
    /// The rows of the Messages table it holds.
    rows: u128,
    /// The members of its blocks no row names (`system[type].key`).
    unknown: Arc<[Box<str>]>,
}

/// The tools, translated.
#[derive(Debug, Clone, Default)]
struct Tools {
    /// The chat `tools` array; `None` when no tool has a chat form.
    json: Option<Arc<RawValue>>,
    /// The rows of the Messages table they hold.
    rows: u128,
    /// The server tools' names (which a `tool_choice` may not name).
    server: Arc<[Box<str>]>,
    /// The server tools' types, distinct, in order, the first
    /// [`MAX_SERVER_TYPES`] (their names for one without a type).
    server_types: Arc<[Box<str>]>,
    /// Client tools only, at least one, none with `defer_loading`.
    client_only: bool,
    /// The members of client tools no row names (`tools[].key`): a chat
    /// function has no place for them.
    unknown: Arc<[Box<str>]>,
}

/// What the Messages front end remembers from request to request: the
/// translations of the system prompt and the tools Claude Code sends
/// unchanged every turn, under their text.
pub struct Memo {
    systems: Recent<System>,
    tools: Recent<Tools>,
}

impl Default for Memo {
    fn default() -> Self {
        Self {
            systems: Recent::new(8, 512 * 1024),
            tools: Recent::new(8, 512 * 1024),
        }
    }
}

impl Read {
    /// Reads `body`, nothing remembered; a body serde refuses is refused
    /// with its message and the path of the offending field. For tests:
    /// the front end reads with its memo ([`Read::parse_with`]).
    #[cfg(any(test, feature = "test-support"))]
    pub fn parse(body: &[u8]) -> Result<Read, RequestError> {
        Self::parse_with(body, &Memo::default())
    }

    /// Reads `body`, a system prompt or tools that `memo` holds taken as
    /// translated before; a body serde refuses is refused with its message
    /// and the path of the offending field.
    pub fn parse_with(body: &[u8], memo: &Memo) -> Result<Read, RequestError> {
        if let Some(read) = Read::by_members(body, memo) {
            return Ok(read);
        }
        let mut request = MessagesRequest::parse(body)?;
        let scanned = Members::scan(body, &mut []);
        let members = (scanned.as_ref())
            .map(|members| fields::members(Front::Messages, members.entries()))
            .unwrap_or_else(|| Seen::new(Front::Messages));
        let tools_text = (scanned.as_ref())
            .and_then(|members| members.entries().find(|(key, _)| *key == "tools"))
            .map_or("", |(_, text)| text);
        Ok(Read {
            system: request
                .system
                .take()
                .as_ref()
                .map(translated_system)
                .unwrap_or_default(),
            tools: request
                .tools
                .take()
                .as_deref()
                .map(|tools| translated_tools(tools, tools_text))
                .unwrap_or_default(),
            members,
            request,
            body_len: body.len(),
            layout: scanned.as_ref().map(Members::layout),
        })
    }

    /// `body` with its system prompt and tools taken aside (stepped over
    /// by the scan when translated before); `None` when serde would refuse
    /// any of it.
    fn by_members(body: &[u8], memo: &Memo) -> Option<Read> {
        // Claude Code's attribution block changes on every request; the
        // system prompt after it does not.
        let mut system = Aside::new("system", &memo.systems).ignoring_first(is_attribution_block);
        let mut tools = Aside::new("tools", &memo.tools);
        let mut members = Members::scan(body, &mut [&mut system, &mut tools])?;
        let system = system.translation(&mut members, System::default(), |text| {
            let system: Option<Content> = serde_json::from_str(text).ok()?;
            Some(system.as_ref().map(translated_system).unwrap_or_default())
        })?;
        let tools = tools.translation(&mut members, Tools::default(), |text| {
            let tools: Option<Vec<AnthropicTool>> = serde_json::from_str(text).ok()?;
            Some(
                (tools.as_deref())
                    .map(|tools| translated_tools(tools, text))
                    .unwrap_or_default(),
            )
        })?;
        Some(Read {
            request: members.rest().ok()?,
            system,
            tools,
            members: fields::members(Front::Messages, members.entries()),
            body_len: body.len(),
            layout: Some(members.layout()),
        })
    }

    /// The body `bytes` this was read from, with what the reading found
    /// (for a target that speaks Messages); its members are located again
    /// where the reading did not (a member serde stepped over, nested past
    /// the scanner's depth) or where they do not lie within `bytes`. The
    /// error says why they cannot be.
    pub fn original(&mut self, bytes: Bytes) -> Result<Original, String> {
        let within = |layout: &Vec<Member>| {
            (layout.iter()).all(|member| {
                bytes.get(member.raw_key.clone()).is_some()
                    && bytes.get(member.value.clone()).is_some()
            })
        };
        let layout = match self.layout.take().filter(within) {
            Some(layout) => layout,
            None => scan::members(&bytes)
                .map_err(|error| format!("the body cannot be read member by member: {error}"))?,
        };
        Ok(Original::new(bytes, layout, self.tools.client_only))
    }

    /// The chat-completions request, asking for `model` (the name the
    /// gateway resolves; `None` for its default chain), as the bytes of its
    /// JSON: written straight from the Anthropic request's fields, with
    /// tool schemas and tool inputs copied as the client wrote them (no
    /// tree of either body is built). With it, the rows of the Messages
    /// table the request holds, and what the chat form does not hold (for
    /// the plan); a request that holds a row the table refuses is refused,
    /// naming it.
    pub fn translate(
        &self,
        model: Option<&str>,
    ) -> Result<(Vec<u8>, Seen, Native), TranslateError> {
        let mut seen = self.members.clone();
        let mut native = Native::default();
        let body = self.chat_body(model, &mut seen, &mut native)?;
        refuse(&seen)?;
        Ok((self.written(&body), seen, native))
    }

    /// The chat body [`write`] makes of this request, not yet written.
    fn chat_body<'a>(
        &'a self,
        model: Option<&'a str>,
        seen: &mut Seen,
        native: &mut Native,
    ) -> Result<ChatBody<'a>, TranslateError> {
        write(
            &self.request,
            &self.system,
            &self.tools,
            model,
            seen,
            native,
        )
    }

    /// `body` as the bytes of its JSON.
    fn written(&self, body: &ChatBody<'_>) -> Vec<u8> {
        // The body's length and the translations': a bound on what is
        // written, so the buffer is not grown (and copied) as it fills.
        let capacity = self.body_len
            + [self.system.text.as_deref(), self.tools.json.as_deref()]
                .into_iter()
                .flatten()
                .map(|text| text.get().len())
                .sum::<usize>();
        let mut out = Vec::with_capacity(capacity);
        serde_json::to_writer(&mut out, body).expect("a translated request always serializes");
        out
    }

    /// The client's request, read from `bytes` (the body this was read
    /// from), asking for `model` (the name the gateway resolves): its facts,
    /// noted from its chat form as it is made; that form written now or
    /// when a target that speaks chat first asks for it (`when`; read with
    /// what `known` holds stepped over); and beside them the client's own
    /// body and what it said that the chat form does not. The error names
    /// what is wrong with the body.
    pub fn into_request(
        mut self,
        model: Option<String>,
        bytes: Bytes,
        known: Arc<KnownValues>,
        when: ChatForm,
    ) -> Result<ClientRequest, String> {
        let original = self
            .original(bytes.clone())
            .map_err(|error| format!("invalid Messages request: {error}"))?;
        let mut seen = self.members.clone();
        let mut native = Native::default();
        let mut body = (self.chat_body(model.as_deref(), &mut seen, &mut native))
            .map_err(|e| e.to_string())?;
        refuse(&seen).map_err(|e| e.to_string())?;
        if body.messages.is_empty() {
            return Err(ChatError::NoMessage.to_string());
        }
        // Role `system` messages (Claude Code's beta) are the system
        // prompt's: with no other, there is no turn to answer (and a
        // provider that moves them into `system` would be sent none).
        if body.messages.iter().all(|message| message.role == "system") {
            return Err("`messages` holds only system messages: send at least one user or assistant message".into());
        }
        let settings = match when {
            ChatForm::Now => ChatRequest::parse_with(self.written(&body), &known),
            ChatForm::WhenAsked => settings(&mut body),
        };
        let settings = settings.map_err(|e| e.to_string())?;
        let facts = noted(
            &body,
            settings,
            self.tools.json.clone(),
            bytes,
            &native.message_origins,
        );
        let write = (when == ChatForm::WhenAsked).then(|| {
            let write = move || {
                let (chat, _, _) = self
                    .translate(model.as_deref())
                    .map_err(|e| e.to_string())?;
                ChatRequest::parse_with(chat, &known).map_err(|e| e.to_string())
            };
            Box::new(write) as ChatWriter
        });
        let mut request = ClientRequest::translated(Translated { facts, write }, seen);
        request.messages_body = Some(original);
        request.native = native;
        Ok(request)
    }
}

/// When a Messages body's chat form is written: at once when the first
/// target speaks chat (writing it later would walk the body twice), else
/// when a target that speaks chat asks for it, if one does. The facts are
/// noted alike either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatForm {
    Now,
    WhenAsked,
}

/// The settings of the chat body `chat` alone, written and read back
/// without its messages and tools.
fn settings(chat: &mut ChatBody<'_>) -> Result<ChatRequest, ChatError> {
    let messages = std::mem::take(&mut chat.messages);
    let tools = chat.tools.take();
    let settings = serde_json::to_vec(&*chat).expect("a translated request always serializes");
    (chat.messages, chat.tools) = (messages, tools);
    ChatRequest::of_settings(settings)
}

/// The facts of the chat body `chat` (the translation, written or not),
/// its `settings` read, its `tools`' chat form, of the client's `bytes`:
/// each message noted, with what the rules read of it unless the settings
/// are the whole chat form, which holds that; each turn numbered as the
/// client numbers its messages (`origins`).
fn noted(
    chat: &ChatBody<'_>,
    settings: ChatRequest,
    tools: Option<Arc<RawValue>>,
    bytes: Bytes,
    origins: &[Option<u32>],
) -> Noted {
    let infos = match settings.messages() {
        [] => (chat.messages.iter())
            .map(|message| MessageInfo {
                role: Cow::Borrowed(message.role),
                tool_call_ids: (message.tool_calls.iter())
                    .map(|call| call.id.to_string())
                    .collect(),
                tool_call_id: message.tool_call_id.as_deref().map(str::to_owned),
                has_reasoning_content: message.reasoning_content.is_some(),
            })
            .collect(),
        _ => Vec::new(),
    };
    Noted {
        settings,
        tools,
        messages: infos,
        turns: (chat.messages.iter().enumerate())
            .map(|(at, message)| Turn {
                origin: origins.get(at).copied().flatten(),
                ..turn(message)
            })
            .collect(),
        bytes,
    }
}

/// What is noted of one chat message besides what the rules read.
fn turn(message: &Out<'_>) -> Turn {
    let mut whole = Fingerprint::default();
    whole.piece(message.role.as_bytes());
    whole.piece(
        message
            .tool_call_id
            .as_deref()
            .unwrap_or_default()
            .as_bytes(),
    );
    let mut content = Fingerprint::default();
    let mut piece = |text: &[u8]| content.piece(text);
    match &message.content {
        chat_body::Content::Text(text) => piece(text.get().as_bytes()),
        chat_body::Content::Raw(text) => piece(text.get().as_bytes()),
        chat_body::Content::Parts(parts) => {
            for part in parts {
                match part {
                    PartOut::Text { text } => piece(text.get().as_bytes()),
                    PartOut::ImageUrl { image_url } => piece(image_url.url.as_bytes()),
                }
            }
        }
    }
    // The content once, by its own hash.
    whole.number(content.finish());
    for call in &message.tool_calls {
        for text in [&call.id, &call.function.name, &call.function.arguments] {
            whole.piece(text.as_bytes());
        }
    }
    let calls = match message.reasoning_content {
        Some(_) => Vec::new(),
        None => (message.tool_calls.iter())
            .map(|call| Call {
                id: call.id.to_string(),
                name: call.function.name.to_string(),
                arguments: call.function.arguments.to_string(),
            })
            .collect(),
    };
    Turn {
        hash: whole.finish(),
        content_hash: Some(content.finish()),
        holds_text: holds_text(message),
        calls,
        origin: None,
    }
}

/// Whether a chat message holds text (a cache mark's place).
fn holds_text(message: &Out<'_>) -> bool {
    match &message.content {
        chat_body::Content::Text(text) => !is_empty(text),
        chat_body::Content::Raw(text) => text.get().starts_with('"') && !is_empty(text),
        chat_body::Content::Parts(parts) => {
            (parts.iter()).any(|part| matches!(part, PartOut::Text { .. }))
        }
    }
}

/// The system prompt as one chat text, and the rows it holds.
fn translated_system(system: &Content) -> System {
    let text = system_text(system);
    let mut rows = 0;
    let mut mark = None;
    let mut unknown = Vec::new();
    if let Content::Blocks(blocks) = system {
        if let Some(cache_control) = &blocks.cache_control {
            rows |= Row::CacheControl.bit();
            mark = Some(Arc::from(cache_control.clone()));
        }
        unknown.extend((blocks.unknown.iter()).map(|(_, name)| format!("system{name}").into()));
        unknown.extend(not_text(blocks, "system"));
        if cited(blocks) {
            rows |= Row::Citations.bit();
        }
    }
    System {
        text: (!is_empty(&text)).then(|| Arc::from(text.into_owned())),
        mark,
        rows,
        unknown: unknown.into(),
    }
}

/// The blocks of a system prompt (`at`: `system`, or a system message's
/// `messages[system].content`) that are not text, which the chat system
/// message, text alone, has no place for: each kind once, as
/// `at[kind]`.
fn not_text(blocks: &Blocks, at: &str) -> Vec<Box<str>> {
    let mut kinds: Vec<&str> = Vec::new();
    for block in blocks {
        if !matches!(block, Block::Text { .. }) && !kinds.contains(&block.kind()) {
            kinds.push(block.kind());
        }
    }
    kinds
        .into_iter()
        .map(|kind| format!("{at}[{kind}]").into())
        .collect()
}

/// Whether a text block among `blocks` carries `citations`, which the
/// chat system message, text alone, drops.
fn cited(blocks: &Blocks) -> bool {
    (blocks.into_iter()).any(|block| matches!(block, Block::Text { cited: true, .. }))
}

/// The most server-tool types a request's answer names (each compared
/// only with those, and the header kept short).
const MAX_SERVER_TYPES: usize = 16;

/// The chat `tools` array for `tools` (whose JSON text is `text`), and
/// the rows they hold.
fn translated_tools(tools: &[AnthropicTool], text: &str) -> Tools {
    let mut rows = 0;
    let mut server = Vec::new();
    let mut server_types: Vec<Box<str>> = Vec::new();
    for tool in tools {
        if tool.cache_control.is_some() {
            rows |= Row::CacheControl.bit();
        }
        if tool.input_examples.is_some() {
            rows |= Row::InputExamples.bit();
        }
        if tool.defer_loading {
            rows |= Row::DeferLoading.bit();
        }
        if tool.input_schema.is_some() {
            rows |= Row::ClientTool.bit();
        } else {
            rows |= Row::ServerTool.bit();
            server.push(tool.name.clone().into_boxed_str());
            let kind = crate::wire::client_name(tool.kind.as_deref().unwrap_or(&tool.name));
            if server_types.len() < MAX_SERVER_TYPES && !server_types.contains(&kind) {
                server_types.push(kind);
            }
        }
    }
    Tools {
        json: tools_json(tools),
        rows,
        client_only: !tools.is_empty()
            && server.is_empty()
            && tools.iter().all(|tool| !tool.defer_loading),
        server: server.into(),
        unknown: unknown_tool_members(text).into(),
        server_types: server_types.into(),
    }
}

/// The members of a client tool that a row names, or that its chat
/// function is made of.
const CLIENT_TOOL_MEMBERS: &[&str] = &[
    "name",
    "description",
    "input_schema",
    "type",
    "cache_control",
    "strict",
    "input_examples",
    "defer_loading",
];

/// The members of the client tools in `text` (a `tools` array) that no
/// row names, each once, as `tools[].key`; a server tool goes whole, as
/// its row says. Read once per distinct tools (the memo keeps it).
fn unknown_tool_members(text: &str) -> Vec<Box<str>> {
    let bytes = text.as_bytes();
    let mut unknown: Vec<Box<str>> = Vec::new();
    for tool in crate::format::scan::element_ranges(bytes).unwrap_or_default() {
        let tool = &bytes[tool];
        let Ok(members) = crate::format::scan::members(tool) else {
            continue;
        };
        if !members.iter().any(|member| member.key == "input_schema") {
            continue;
        }
        for member in &members {
            if CLIENT_TOOL_MEMBERS.contains(&&*member.key) || &tool[member.value.clone()] == b"null"
            {
                continue;
            }
            let name = format!("tools[].{}", member.key);
            if !unknown.iter().any(|known| **known == *name) {
                unknown.push(name.into());
            }
        }
    }
    unknown
}

/// The chat `tools` array for `tools`, `None` when none has a chat form.
fn tools_json(tools: &[AnthropicTool]) -> Option<Arc<RawValue>> {
    let tools: Vec<chat_body::Tool> = tools
        .iter()
        .filter_map(|tool| {
            // Server tools (web search, ...) have no schema and no
            // OpenAI-side counterpart.
            Some(chat_body::Tool {
                kind: "function",
                function: chat_body::Function {
                    name: Cow::Borrowed(&tool.name),
                    description: (tool.description.as_ref())
                        .map(|text| chat_body::Description::Raw(text.json())),
                    parameters: Some(tool.input_schema.as_deref()?),
                    strict: tool.strict,
                },
            })
        })
        .collect();
    if tools.is_empty() {
        return None;
    }
    let text = serde_json::value::to_raw_value(&tools).expect("tools always serialize");
    Some(Arc::from(text))
}

/// The chat-completions body for `request` with its system prompt and
/// tools already translated, not yet written; what the chat form does not
/// hold is noted on `native`.
fn write<'a>(
    request: &'a MessagesRequest,
    system: &'a System,
    tools: &'a Tools,
    model: Option<&'a str>,
    seen: &mut Seen,
    native: &mut Native,
) -> Result<ChatBody<'a>, TranslateError> {
    seen.mark_all(system.rows | tools.rows);
    for name in tools.unknown.iter().chain(system.unknown.iter()) {
        seen.unknown_member(name);
    }
    seen.server_tools(tools.server_types.clone());
    // A breakpoint on a tool has no chat message to stand on.
    native.unplaced_marks = tools.rows & Row::CacheControl.bit() != 0;
    if let (Some(_), Some(mark)) = (&system.text, &system.mark) {
        native.cache_marks.push((0, mark.clone()));
    }
    let offers_none = tools.rows == 0;
    let (system, tools_json) = (system.text.as_deref(), tools.json.as_deref());
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if let Some(system) = system {
        messages.push(Out::text("system", Cow::Borrowed(system)));
    }
    native.message_origins = vec![None; messages.len()];
    for (index, message) in request.messages.iter().enumerate() {
        let before = messages.len();
        translate_message(index, message, &mut messages, seen, native)?;
        let origin = u32::try_from(index).ok();
        (native.message_origins).resize(messages.len(), origin);
        if native.first_image.is_none() && messages[before..].iter().any(Out::holds_image) {
            native.first_image = Some(format!("messages[{index}].content"));
        }
        if let Content::Blocks(Blocks {
            cache_control: Some(mark),
            ..
        }) = &message.content
        {
            // The breakpoint ends the turn: on the last chat message made
            // of it that holds text (a tool result's, not the images after
            // it), else its last.
            let made = before..messages.len();
            let last = (made.clone().rev()).find(|&at| holds_text(&messages[at]));
            match last.or(made.last()) {
                Some(at) => native.cache_marks.push((at, Arc::from(mark.clone()))),
                None => native.unplaced_marks = true,
            }
        }
    }
    native.ids_unfit = ids_unfit(&request.messages);
    if let Some(ToolChoice::Tool { name, .. }) = request.tool_choice.as_deref()
        && tools.server.iter().any(|server| **server == **name)
    {
        Row::ServerToolChoice.mark(seen);
    }
    if let Some(ThinkingConfig::Enabled {
        budget_tokens: Some(budget),
    }) = request.thinking.as_deref()
    {
        let budget = *budget;
        Row::ThinkingBudget.mark(seen);
        native.thinking_budget = Some(budget);
    }
    if (request.output_config.as_ref()).is_some_and(|config| config.effort.is_some()) {
        Row::OutputConfigEffort.mark(seen);
    }
    native.thinking_on = request
        .thinking
        .as_deref()
        .map(|thinking| !matches!(thinking, ThinkingConfig::Disabled {}));
    let user = request.metadata.as_ref().and_then(|m| m.user_id.as_deref());
    small_objects_unknown(request, seen);
    if user.is_some() {
        Row::MetadataUserId.mark(seen);
    }
    let stop = request.stop_sequences.as_deref().filter(|s| !s.is_empty());
    let stop = stop.map(|stop| {
        if stop.len() > MAX_STOP_SEQUENCES {
            Row::StopSequencesBeyond.mark(seen);
        }
        &stop[..stop.len().min(MAX_STOP_SEQUENCES)]
    });
    let tools = tools_json;
    // With no tool of the client's own left, the choice goes with the
    // server tools; with none at all, the rules take it away, and name it.
    let choice = (request.tool_choice.as_deref()).filter(|_| tools.is_some() || offers_none);
    Ok(chat_body::Body {
        max_tokens: request.max_tokens,
        stream: (request.stream == Some(true)).then_some(true),
        stream_options: (request.stream == Some(true)).then_some(chat_body::StreamOptions {
            include_usage: true,
        }),
        tools,
        tool_choice: choice.map(|choice| match choice {
            ToolChoice::Auto { .. } => chat_body::ToolChoice::Mode("auto"),
            ToolChoice::Any { .. } => chat_body::ToolChoice::Mode("required"),
            ToolChoice::None {} => chat_body::ToolChoice::Mode("none"),
            ToolChoice::Tool { name, .. } => chat_body::ToolChoice::function(name),
        }),
        parallel_tool_calls: (choice.filter(|_| tools.is_some()))
            .filter(|choice| choice.disables_parallel_calls())
            .map(|_| false),
        reasoning_effort: reasoning_effort(request)?,
        response_format: response_format(request, seen),
        stop,
        temperature: request.temperature,
        top_p: request.top_p,
        user,
        ..chat_body::Body::new(model, messages)
    })
}

/// Notes the members of `thinking`, `tool_choice`, `metadata` and
/// `output_config` (and its `format`) that no row names
/// (`thinking.display`, `output_config.task_budget`): the chat form has no
/// place for them, nor a Messages body whose plan writes the object anew.
fn small_objects_unknown(request: &MessagesRequest, seen: &mut Seen) {
    let output_config = request.output_config.as_ref();
    let objects = [
        ("thinking", request.thinking.as_ref().map(|t| &t.unknown)),
        (
            "tool_choice",
            request.tool_choice.as_ref().map(|t| &t.unknown),
        ),
        ("metadata", request.metadata.as_ref().map(|m| &m.unknown)),
        ("output_config", output_config.map(|c| &c.unknown)),
        (
            "output_config.format",
            (output_config.and_then(|c| c.format.as_ref())).map(|f| &f.unknown),
        ),
    ];
    for (at, unknown) in objects {
        for key in unknown.into_iter().flatten() {
            seen.unknown_member(&format!("{at}.{key}"));
        }
    }
}

/// `thinking` and `output_config.effort` as an OpenAI `reasoning_effort`,
/// which the provider rules turn into each target's own switch. Nothing
/// asked (or adaptive thinking without an effort) leaves the provider's
/// default and the config's `thinkingDefault` in charge. Each effort keeps
/// its level: `xhigh` is chat's own word, and `max`, which chat has none
/// for, is its highest, `xhigh` (each dialect's rules lower what its
/// models do not take); an effort the API does not define is refused,
/// named.
fn reasoning_effort(request: &MessagesRequest) -> Result<Option<&'static str>, TranslateError> {
    let effort = match request
        .output_config
        .as_ref()
        .and_then(|c| c.effort.as_deref())
    {
        None => None,
        Some("low") => Some("low"),
        Some("medium") => Some("medium"),
        Some("high") => Some("high"),
        Some("xhigh" | "max") => Some("xhigh"),
        Some(_) => {
            return Err(TranslateError::Refused(
                "`output_config.effort` must be low, medium, high, xhigh or max".to_string(),
            ));
        }
    };
    Ok(match request.thinking.as_deref() {
        Some(ThinkingConfig::Disabled {}) => Some("none"),
        Some(ThinkingConfig::Enabled { budget_tokens }) => {
            effort.or(Some(budget_tokens.map_or("medium", effort_of_budget)))
        }
        Some(ThinkingConfig::Adaptive {}) | None => effort,
    })
}

/// `output_config.format` as the chat `response_format`: its JSON schema,
/// named because chat requires a name (Messages' format has none), strict
/// because Anthropic's structured outputs always are. A format the API
/// does not document is noted as an unknown member is: the answer names
/// what was left out.
fn response_format<'r>(
    request: &'r MessagesRequest,
    seen: &mut Seen,
) -> Option<chat_body::ResponseFormat<'r>> {
    let format = request.output_config.as_ref()?.format.as_ref()?;
    match (&*format.kind, format.schema.as_deref()) {
        ("json_schema", Some(schema)) => Some(chat_body::ResponseFormat::JsonSchema {
            json_schema: chat_body::JsonSchema {
                name: "output",
                description: None,
                schema: Some(schema),
                strict: Some(true),
            },
        }),
        ("json_schema", None) => {
            seen.unknown_member("output_config.format without a schema");
            None
        }
        (kind, _) => {
            seen.unknown_member(&format!("output_config.format of type {kind:?}"));
            None
        }
    }
}

/// The system prompt's text, without Claude Code's attribution line (in a
/// block of its own or leading a plain string); borrowed when it is one
/// string.
fn system_text(system: &Content) -> Text<'_> {
    match system {
        Content::Text(text) => literal_without_billing_header(text),
        Content::Blocks(blocks) => {
            let texts: Vec<Text> = blocks
                .iter()
                .filter_map(|block| match block {
                    Block::Text { text, .. } => Some(literal_without_billing_header(text)),
                    _ => None,
                })
                .filter(|text| !is_empty(text))
                .collect();
            RawText::join(&texts, BLANK_LINE)
        }
    }
}

fn translate_message<'a>(
    index: usize,
    message: &'a Message,
    out: &mut Vec<Out<'a>>,
    seen: &mut Seen,
    native: &mut Native,
) -> Result<(), TranslateError> {
    for name in &message.unknown {
        seen.unknown_member(&format!("messages[].{name}"));
    }
    if let Content::Blocks(blocks) = &message.content {
        if blocks.cache_control.is_some() {
            Row::CacheControl.mark(seen);
        }
        // A user turn's thinking block goes whole (its row says so).
        let whole = |at: usize| {
            message.role == "user" && matches!(blocks.list.get(at), Some(Block::Thinking { .. }))
        };
        for (at, name) in &blocks.unknown {
            if !whole(*at) {
                seen.unknown_member(&format!("messages[].content{name}"));
            }
        }
    }
    match message.role.as_str() {
        "system" => {
            Row::SystemRole.mark(seen);
            if let Content::Blocks(blocks) = &message.content {
                for name in not_text(blocks, "messages[system].content") {
                    seen.unknown_member(&name);
                }
                if cited(blocks) {
                    Row::Citations.mark(seen);
                }
            }
            out.push(Out::text("system", system_text(&message.content)));
            Ok(())
        }
        "user" => user_message(index, &message.content, out, seen, native),
        "assistant" => {
            out.push(assistant_message(index, &message.content, seen)?);
            Ok(())
        }
        role => Err(TranslateError::Role {
            index,
            role: role.to_string(),
        }),
    }
}

/// Whether the tool-use ids among `messages`, as written, cannot all go
/// on ([`Native::ids_unfit`]).
fn ids_unfit(messages: &[Message]) -> bool {
    let mut calls = std::collections::HashSet::new();
    let mut blocks = messages.iter().flat_map(|message| match &message.content {
        Content::Blocks(blocks) => &blocks[..],
        Content::Text(_) => &[],
    });
    blocks.any(|block| match block {
        Block::ToolUse { id, .. } => !ids::is_anthropic(id) || !calls.insert(id.as_str()),
        Block::ToolResult { tool_use_id, .. } => !ids::is_anthropic(tool_use_id),
        _ => false,
    })
}

/// A user turn: its tool results first, as `tool` messages, then whatever
/// else it holds as one user message.
fn user_message<'a>(
    index: usize,
    content: &'a Content,
    out: &mut Vec<Out<'a>>,
    seen: &mut Seen,
    native: &mut Native,
) -> Result<(), TranslateError> {
    let blocks = match content {
        Content::Text(text) => {
            out.push(Out::text("user", Cow::Borrowed(text.json())));
            return Ok(());
        }
        Content::Blocks(blocks) => blocks,
    };
    let mut parts = Vec::new();
    for block in blocks {
        match block {
            Block::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => {
                Row::ToolResult.mark(seen);
                let (text, images): (Text, _) = match content {
                    None => (Cow::Borrowed(empty()), Vec::new()),
                    Some(Content::Text(text)) => (Cow::Borrowed(text.json()), Vec::new()),
                    Some(Content::Blocks(blocks)) => {
                        let mut texts = Vec::new();
                        let mut images = Vec::new();
                        // Blocks a tool result may hold that have no OpenAI
                        // form (tool references, search results) are left
                        // out rather than failing the whole turn.
                        for (_, name) in &blocks.unknown {
                            seen.unknown_member(&format!(
                                "messages[].content[tool_result].content{name}"
                            ));
                        }
                        if let Some(mark) = &blocks.cache_control {
                            Row::CacheControl.mark(seen);
                            // On the tool message pushed below.
                            native
                                .cache_marks
                                .push((out.len(), Arc::from(mark.clone())));
                        }
                        for block in blocks {
                            if let Block::Unsupported(other) = block {
                                seen.mark(match other {
                                    Other::ToolReference => Row::ToolReference,
                                    Other::ServerTool => Row::ServerToolBlocks,
                                    Other::Else(_) => Row::OtherInToolResult,
                                } as u8);
                                continue;
                            }
                            match part(index, block, seen)? {
                                Some(PartOut::Text { text }) => texts.push(text),
                                Some(image @ PartOut::ImageUrl { .. }) => images.push(image),
                                None => {}
                            }
                        }
                        (RawText::join(&texts, BLANK_LINE), images)
                    }
                };
                // OpenAI's tool message has no failure flag: the model
                // learns of the failure from the text.
                let text = match is_error {
                    Some(true) => RawText::join(&[error_prefix(), text], ""),
                    _ => text,
                };
                let mut message = Out::text("tool", text);
                message.tool_call_id = Some(ids::decode(tool_use_id));
                out.push(message);
                // A tool message carries text only: its images follow in
                // the user message.
                parts.extend(images);
            }
            Block::ToolUse { .. } => {
                return Err(TranslateError::Unsupported {
                    index,
                    what: "a tool_use block in a user message",
                });
            }
            other => parts.extend(part(index, other, seen)?),
        }
    }
    if !parts.is_empty() {
        out.push(Out {
            content: parts_content(parts),
            ..Out::text("user", Cow::Borrowed(empty()))
        });
    }
    Ok(())
}

/// A text-like or image block of user content; `None` for what is dropped.
/// A block the Messages table refuses is refused, naming its message.
fn part<'b>(
    index: usize,
    block: &'b Block,
    seen: &mut Seen,
) -> Result<Option<PartOut<'b>>, TranslateError> {
    let unsupported = |what| Err(TranslateError::Unsupported { index, what });
    // What a refused row refuses: its name, or the block's own words.
    let refused = |row: Row, what: Option<String>| {
        let fields::Fate::Refused(instead) = fields::MESSAGES[row as usize].openai else {
            unreachable!("a refused row")
        };
        let what = what.unwrap_or_else(|| format!("{} are", fields::MESSAGES[row as usize].name));
        Err(TranslateError::Refused(format!(
            "messages[{index}]: {what} not supported by clawgate: {instead}"
        )))
    };
    Ok(Some(match block {
        Block::Text { text, cited } => {
            Row::Text.mark(seen);
            if *cited {
                Row::Citations.mark(seen);
            }
            PartOut::Text {
                text: Cow::Borrowed(text.json()),
            }
        }
        Block::Image { source } => {
            Row::Image.mark(seen);
            let url = match source {
                ImageSource::Base64 { media_type, data } => {
                    format!("data:{media_type};base64,{data}")
                }
                ImageSource::Url { url } => url.clone(),
                ImageSource::Unsupported => return unsupported("an image source of this type"),
            };
            PartOut::ImageUrl {
                image_url: chat_body::ImageUrl {
                    url: Cow::Owned(url),
                    detail: None,
                },
            }
        }
        Block::Document {
            source: DocumentSource::Text { data },
            titled,
            cited,
        } => {
            Row::TextDocument.mark(seen);
            if *titled {
                Row::DocumentContext.mark(seen);
            }
            if *cited {
                Row::DocumentCitations.mark(seen);
            }
            PartOut::Text {
                text: Cow::Owned(RawText::from_text(data).into_json()),
            }
        }
        Block::Document { .. } => return refused(Row::Document, None),
        // Thinking belongs to assistant turns: a chat user message has no
        // place for it.
        Block::Thinking { .. } => {
            Row::UserThinking.mark(seen);
            return Ok(None);
        }
        Block::RedactedThinking {} => {
            Row::RedactedThinking.mark(seen);
            return Ok(None);
        }
        Block::ToolUse { .. } | Block::ToolResult { .. } => {
            return unsupported("a nested tool block");
        }
        Block::Unsupported(Other::ServerTool) => {
            Row::ServerToolBlocks.mark(seen);
            return Ok(None);
        }
        Block::Unsupported(Other::ToolReference) => {
            Row::ToolReference.mark(seen);
            return Ok(None);
        }
        Block::Unsupported(Other::Else(kind)) => {
            let what = format!("a block of type {kind:?} is");
            return refused(Row::OtherBlock, Some(what));
        }
    }))
}

/// Text only: one string (blocks joined by a blank line); with images, the
/// OpenAI parts array.
fn parts_content(parts: Vec<PartOut<'_>>) -> Body<'_> {
    if parts.iter().all(|p| matches!(p, PartOut::Text { .. })) {
        let texts: Vec<Text> = parts
            .into_iter()
            .map(|p| match p {
                PartOut::Text { text } => text,
                PartOut::ImageUrl { .. } => unreachable!("checked: text only"),
            })
            .collect();
        return Body::Text(RawText::join(&texts, BLANK_LINE));
    }
    Body::Parts(parts)
}

/// An assistant turn: text, thinking as `reasoning_content` (what Kimi needs
/// on replayed tool-call turns with thinking on), tool uses as `tool_calls`.
/// Blocks of Anthropic's server tools (`server_tool_use`,
/// `web_search_tool_result`, ...), found in a conversation begun on Claude,
/// are left out: the model's own text already says what it learnt.
fn assistant_message<'c>(
    index: usize,
    content: &'c Content,
    seen: &mut Seen,
) -> Result<Out<'c>, TranslateError> {
    let blocks = match content {
        Content::Text(text) => return Ok(Out::text("assistant", Cow::Borrowed(text.json()))),
        Content::Blocks(blocks) => blocks,
    };
    let mut texts = Vec::new();
    let mut thinking = Vec::new();
    let mut calls = Vec::new();
    for block in blocks {
        match block {
            Block::Text { text, cited } => {
                Row::Text.mark(seen);
                if *cited {
                    Row::Citations.mark(seen);
                }
                texts.push(Cow::Borrowed(text.json()));
            }
            Block::Thinking { thinking: text } => {
                Row::ThinkingBlock.mark(seen);
                thinking.push(Cow::Borrowed(text.json()));
            }
            Block::RedactedThinking {} => Row::RedactedThinking.mark(seen),
            Block::Unsupported(Other::ServerTool) => Row::ServerToolBlocks.mark(seen),
            Block::Unsupported(Other::ToolReference) => Row::ToolReference.mark(seen),
            Block::Unsupported(Other::Else(_)) => Row::OtherBlock.mark(seen),
            Block::ToolUse { id, name, input } => {
                Row::ToolUse.mark(seen);
                let arguments = match input.get() {
                    "null" => "{}",
                    input => input,
                };
                calls.push(chat_body::ToolCall::function(
                    ids::decode(id),
                    Cow::Borrowed(name),
                    Cow::Borrowed(arguments),
                ));
            }
            Block::Image { .. } | Block::Document { .. } | Block::ToolResult { .. } => {
                return Err(TranslateError::Unsupported {
                    index,
                    what: "an image, document or tool_result block in an assistant message",
                });
            }
        }
    }
    let thinking = RawText::join(&thinking, BLANK_LINE);
    Ok(Out {
        reasoning_content: (!is_empty(&thinking)).then_some(thinking),
        tool_calls: calls,
        ..Out::text("assistant", RawText::join(&texts, BLANK_LINE))
    })
}

/// What a failed tool's text starts with.
fn error_prefix() -> Text<'static> {
    static PREFIX: std::sync::LazyLock<Box<RawValue>> =
        std::sync::LazyLock::new(|| RawText::from_text("Error: ").into_json());
    Cow::Borrowed(&PREFIX)
}
