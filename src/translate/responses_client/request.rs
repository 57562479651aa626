//! The Responses request in, a chat-completions request out.
//!
//! [`Memo`], the instructions' and tools' translations remembered across
//! turns, is kept for speed: `docs/performance.md` says what it saves.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use serde_json::json;
use serde_json::value::RawValue;

use super::ToolNames;

/// The chat body's types, holding texts as themselves.
type ChatMessage<'r> = chat_body::Message<'r, Cow<'r, str>>;
type ChatContent<'r> = chat_body::Content<'r, Cow<'r, str>>;
type ChatPart<'r> = chat_body::Part<'r, Cow<'r, str>>;
use crate::format::members::{Aside, Members};
use crate::format::recent::Recent;
use crate::translate::chat_body;
use crate::translate::fields::{self, ResponsesRow as Row};
use crate::translate::ids;
use crate::wire::responses::{
    AllowedTool, Content, Echo, Input, Item, Part, RequestError, ResponsesRequest, TextFormat,
    Tool, ToolChoice,
};
use crate::wire::{Front, Raw, RawText, Seen};

/// Why a request cannot be served; the message names the field and what
/// to do instead.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TranslateError {
    #[error(
        "previous_response_id is not supported: clawgate stores no responses; send the whole conversation in `input` (Codex does)"
    )]
    PreviousResponse,
    #[error(
        "conversation is not supported: clawgate stores no conversations; send the whole conversation in `input`"
    )]
    Conversation,
    #[error("background is not supported: clawgate stores no responses to poll; stream instead")]
    Background,
    #[error("`input` is required")]
    NoInput,
    #[error("`input` holds nothing to answer: send at least one message or item")]
    EmptyInput,
    #[error("{at}: {what} is not supported: no provider clawgate speaks to takes it")]
    Unsupported { at: String, what: String },
    #[error("{at}: {what}")]
    Invalid { at: String, what: &'static str },
    #[error(
        "{at}: {name:?} is the name of another tool too (a namespace's function is offered as `<namespace>__<name>`): give each tool a name of its own"
    )]
    SameName { at: String, name: String },
    /// A row of the Responses table refuses it (`translate::fields`).
    #[error("{0}")]
    Refused(String),
}

/// The chat-completions body for `request`, read whole by serde, as
/// [`Read::translate`] writes it: what the tests hold the front end's
/// reader to.
#[cfg(any(test, feature = "test-support"))]
pub fn request<'r>(
    request: &'r ResponsesRequest<'r>,
    model: Option<&'r str>,
) -> Result<(Vec<u8>, ToolNames), TranslateError> {
    let mut seen = Seen::new(Front::Responses);
    if request.prompt.is_some() {
        Row::Prompt.mark(&mut seen);
    }
    // The body's length unknown: room for the input.
    write(request, None, model, 4096, &mut seen, &mut None)
}

/// A Responses request body read for translation.
///
/// Codex sends the same instructions and tools every turn (most of its
/// request): their translations are remembered by the client's bytes
/// ([`Recent`]), and a body that repeats them is read by the scanner,
/// which steps over the tools, and serde reads only the rest.
pub struct Read<'a> {
    /// The request; without `instructions` and `tools` when those were
    /// taken aside.
    pub request: ResponsesRequest<'a>,
    /// Their translations, when taken aside.
    taken: Option<Taken>,
    /// The body's top-level members, as rows of the Responses table.
    members: Seen,
    /// What the answer says back: `tools` and `tool_choice` as sent.
    echo: Echo,
    /// The length of the body read (see [`write`]).
    body_len: usize,
}

/// The body's members as rows of the Responses table, and what the answer
/// echoes of them.
fn members(members: &Members, tools: Option<Raw>) -> (Seen, Echo) {
    let seen = fields::members(Front::Responses, members.entries());
    let mut echo = Echo::default();
    if let Some(tools) = tools {
        echo.tools = tools;
    }
    if let Some(choice) = members.raw("tool_choice").filter(|c| *c != "null") {
        echo.tool_choice = Raw::of(choice);
    }
    if let Some(parallel) = members.raw("parallel_tool_calls") {
        echo.parallel_tool_calls = parallel != "false";
    }
    (seen, echo)
}

/// A request's instructions and tools, translated.
struct Taken {
    /// The instructions as a chat text; `None` when none, or empty.
    instructions: Option<Arc<RawValue>>,
    tools: Arc<Tools>,
}

/// A request's tools as the chat request offers them.
#[derive(Default)]
struct Tools {
    /// The chat `tools` array; `None` when no tool has a chat form.
    json: Option<Box<RawValue>>,
    names: ToolNames,
    /// The rows of the Responses table they hold.
    rows: u128,
    /// Their members no row names.
    unknown: Vec<Box<str>>,
    /// As the client sent them, for the answer's echo.
    sent: Option<Raw>,
}

impl Tools {
    fn of(offered: &[Tool], sent: Option<&str>) -> Result<Tools, TranslateError> {
        let mut seen = Seen::new(Front::Responses);
        let (tools, names) = tools(offered, &mut seen)?;
        let json = (!tools.is_empty())
            .then(|| serde_json::value::to_raw_value(&tools).expect("tools always serialize"));
        Ok(Tools {
            json,
            names,
            rows: seen.rows(),
            unknown: seen.unknown().to_vec(),
            sent: sent.map(Raw::of),
        })
    }
}

/// What the Responses front end remembers from request to request: the
/// translations of the instructions and the tools Codex sends unchanged
/// every turn, under their text.
pub struct Memo {
    instructions: Recent<Option<Arc<RawValue>>>,
    tools: Recent<Arc<Tools>>,
}

impl Default for Memo {
    fn default() -> Self {
        Self {
            instructions: Recent::new(8, 512 * 1024),
            tools: Recent::new(8, 512 * 1024),
        }
    }
}

impl<'a> Read<'a> {
    /// Reads `body`, nothing remembered; a body serde refuses is refused
    /// with its message and the path of the offending field. For tests:
    /// the front end reads with its memo ([`Read::parse_with`]).
    #[cfg(any(test, feature = "test-support"))]
    pub fn parse(body: &'a [u8]) -> Result<Read<'a>, RequestError> {
        Self::parse_with(body, &Memo::default())
    }

    /// Reads `body`, instructions or tools that `memo` holds taken as
    /// translated before; a body serde refuses is refused with its message
    /// and the path of the offending field.
    pub fn parse_with(body: &'a [u8], memo: &Memo) -> Result<Read<'a>, RequestError> {
        if let Some(read) = Read::by_members(body, memo) {
            return Ok(read);
        }
        // Refused where the scanner refuses it: its members have fates.
        let request = ResponsesRequest::parse(body)?;
        let scanned = Members::scan(body, &mut [])
            .ok_or_else(|| RequestError::not_json("it cannot be read member by member"))?;
        let (members, echo) = members(&scanned, scanned.raw("tools").map(Raw::of));
        Ok(Read {
            request,
            taken: None,
            members,
            echo,
            body_len: body.len(),
        })
    }

    /// `body` with its instructions and tools taken aside (stepped over by
    /// the scan when translated before); `None` when serde would refuse
    /// any of it, or its tools cannot be translated (the whole body is then
    /// read again, for the message).
    fn by_members(body: &'a [u8], memo: &Memo) -> Option<Read<'a>> {
        let mut instructions = Aside::new("instructions", &memo.instructions);
        let mut tools = Aside::new("tools", &memo.tools);
        let mut members = Members::scan(body, &mut [&mut instructions, &mut tools])?;
        let instructions = instructions.translation(&mut members, None, |text| {
            let text: Option<RawText> = serde_json::from_str(text).ok()?;
            Some(
                text.filter(|t| !t.is_empty())
                    .map(|t| Arc::from(t.into_json())),
            )
        })?;
        let tools = tools.translation(&mut members, Arc::default(), |text| {
            let tools: Option<Vec<Tool>> = serde_json::from_str(text).ok()?;
            Tools::of(tools.as_deref().unwrap_or_default(), Some(text))
                .ok()
                .map(Arc::new)
        })?;
        let (seen, echo) = self::members(&members, tools.sent.clone());
        Some(Read {
            request: members.rest().ok()?,
            taken: Some(Taken {
                instructions,
                tools,
            }),
            members: seen,
            echo,
            body_len: body.len(),
        })
    }

    /// The chat-completions body, asking for `model` (`None` for the
    /// default chain), the names under which namespaced tools reach the
    /// provider, the rows of the Responses table the request holds, and
    /// where it first holds an image (`input[1].content`). Tool schemas
    /// pass as the client's bytes.
    pub fn translate(&self, model: Option<&str>) -> Result<Translated, TranslateError> {
        let mut seen = self.members.clone();
        let mut first_image = None;
        let (body, names) = write(
            &self.request,
            self.taken.as_ref(),
            model,
            self.body_len,
            &mut seen,
            &mut first_image,
        )?;
        Ok(Translated {
            body,
            names,
            seen,
            first_image,
        })
    }

    /// What the answer says back of the request.
    pub fn echo(&self) -> &Echo {
        &self.echo
    }
}

/// A Responses request in chat form ([`Read::translate`]).
pub struct Translated {
    pub body: Vec<u8>,
    pub names: ToolNames,
    pub seen: Seen,
    pub first_image: Option<String>,
}

/// The chat-completions body for `request`, with its instructions and
/// tools translated already when they were taken aside; where its input
/// first holds an image goes in `first_image`.
fn write(
    request: &ResponsesRequest,
    taken: Option<&Taken>,
    model: Option<&str>,
    body_len: usize,
    seen: &mut Seen,
    first_image: &mut Option<String>,
) -> Result<(Vec<u8>, ToolNames), TranslateError> {
    if request.previous_response_id.is_some() {
        return Err(TranslateError::PreviousResponse);
    }
    if request.conversation.is_some_and(|c| c.get() != "null") {
        return Err(TranslateError::Conversation);
    }
    if request.background == Some(true) {
        return Err(TranslateError::Background);
    }
    if let Some(message) = fields::refusal(seen) {
        return Err(TranslateError::Refused(message));
    }
    let offered_here;
    let (instructions, tools) = match taken {
        Some(taken) => (taken.instructions.as_deref(), &*taken.tools),
        None => {
            offered_here = Tools::of(request.tools.as_deref().unwrap_or_default(), None)?;
            let instructions = request.instructions.as_ref().filter(|i| !i.is_empty());
            (instructions.map(RawText::json), &offered_here)
        }
    };
    // The body's length and the translations': a bound on what is written
    // (the tools' chat form is the longer one), so the buffer is not grown
    // (and copied) as it fills.
    let capacity = body_len
        + instructions.map_or(0, |text| text.get().len())
        + tools.json.as_ref().map_or(0, |json| json.get().len());
    let mut messages = Vec::new();
    if let Some(instructions) = instructions {
        messages.push(ChatMessage::new("system", ChatContent::Raw(instructions)));
    }
    match &request.input {
        None => return Err(TranslateError::NoInput),
        Some(Input::Text(text)) => {
            messages.push(ChatMessage::text("user", Cow::Borrowed(text)));
        }
        Some(Input::Items(items)) => {
            let mut turn = Turn::default();
            for (index, item) in items.iter().enumerate() {
                if !is_output(item) {
                    turn.images_out(&mut messages);
                }
                let (before, held) = (messages.len(), turn.images.len());
                item_messages(index, item, &mut turn, &mut messages, seen)?;
                let image = turn.images.len() > held
                    || messages[before..].iter().any(ChatMessage::holds_image);
                if first_image.is_none() && image {
                    let member = if item.kind() == "message" {
                        "content"
                    } else {
                        "output"
                    };
                    *first_image = Some(format!("input[{index}].{member}"));
                }
            }
            turn.images_out(&mut messages);
            turn.flush(&mut messages);
        }
    }
    if messages.is_empty() {
        return Err(TranslateError::EmptyInput);
    }
    seen.mark_all(tools.rows);
    for name in &tools.unknown {
        seen.unknown_member(name);
    }
    if let Some(reasoning) = &request.reasoning {
        if reasoning.effort.is_some() {
            Row::ReasoningEffort.mark(seen);
        }
        if reasoning.summary.as_deref().is_some_and(|s| s != "none") {
            Row::ReasoningSummary.mark(seen);
        }
        for key in &reasoning.unknown {
            seen.unknown_member(&format!("reasoning.{key}"));
        }
    }
    if let Some(text) = &request.text {
        if let Some(format) = &text.format {
            // Plain text, the default, asks nothing a transport could lose.
            if format.kind != "text" {
                Row::TextFormat.mark(seen);
            }
            format_unknown(format, seen);
        }
        if text.verbosity.is_some() {
            Row::TextVerbosity.mark(seen);
        }
        for key in &text.unknown {
            seen.unknown_member(&format!("text.{key}"));
        }
    }
    if request.truncation.as_deref() == Some("auto") {
        Row::Truncation.mark(seen);
    }
    if let Some(ToolChoice::Object(choice)) = &request.tool_choice {
        for key in choice.unknown_members() {
            seen.unknown_member(&format!("tool_choice.{key}"));
        }
        for tool in choice.tools.iter().flatten() {
            for key in tool.unknown_members() {
                seen.unknown_member(&format!("tool_choice.tools[].{key}"));
            }
        }
    }
    let stream = request.stream == Some(true);
    // `allowed_tools` narrows what is offered: the model is never offered
    // a tool the client did not allow.
    let allowed = match &request.tool_choice {
        Some(ToolChoice::Object(object)) if object.kind == "allowed_tools" => {
            Row::AllowedTools.mark(seen);
            let names = allowed_names(object.tools.iter().flatten(), &tools.names);
            Some(allowed_tools(tools.json.as_deref(), &names))
        }
        _ => None,
    };
    let offered = match &allowed {
        Some(allowed) => allowed.as_deref(),
        None => tools.json.as_deref(),
    };
    let tool_choice = match (&request.tool_choice, offered) {
        (Some(choice), Some(_)) => Some(tool_choice(choice)?),
        // A call is required, and of the tools offered none the model
        // could call is left.
        (Some(choice), None) if tools.rows != 0 && requires_a_call(choice) => {
            Row::RequiredWithoutTools.mark(seen);
            let message = fields::refusal(seen).expect("a refused row");
            return Err(TranslateError::Refused(message));
        }
        // With no tool offered (none sent, or none left), the rules take
        // the choice away, whatever it asked, and name it; and
        // `parallel_tool_calls` with it.
        (Some(choice), None) => {
            Some(tool_choice(choice).unwrap_or(chat_body::ToolChoice::Mode("auto")))
        }
        (None, _) => None,
    };
    let body = chat_body::Body {
        max_tokens: request.max_output_tokens,
        stream: stream.then_some(true),
        stream_options: stream.then_some(chat_body::StreamOptions {
            include_usage: true,
        }),
        parallel_tool_calls: request.parallel_tool_calls,
        tools: offered,
        tool_choice,
        reasoning_effort: request
            .reasoning
            .as_ref()
            .and_then(|r| r.effort.as_deref())
            .map(reasoning_effort)
            .transpose()?,
        response_format: request
            .text
            .as_ref()
            .and_then(|t| t.format.as_ref())
            .map(response_format)
            .transpose()?
            .flatten(),
        temperature: request.temperature,
        top_p: request.top_p,
        user: request.user.as_deref(),
        prompt_cache_key: request.prompt_cache_key.as_deref(),
        ..chat_body::Body::new(model, messages)
    };
    let mut bytes = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut bytes, &body).expect("a chat body always serializes");
    Ok((bytes, tools.names.clone()))
}

/// The names the provider sees of the tools `allowed` lists: a tool by
/// its name, a namespace's function by its namespace and name, and every
/// function of a namespace listed whole.
fn allowed_names<'t>(
    allowed: impl Iterator<Item = &'t AllowedTool<'t>>,
    names: &ToolNames,
) -> HashSet<String> {
    let mut flat = HashSet::new();
    for tool in allowed {
        match (&*tool.kind, tool.name.as_deref(), tool.namespace.as_deref()) {
            ("namespace", Some(namespace), _) => {
                flat.extend(names.in_namespace(namespace).map(str::to_string));
            }
            (_, Some(name), Some(namespace)) => {
                flat.insert(ToolNames::flat(namespace, name));
            }
            (_, Some(name), None) => {
                flat.insert(name.to_string());
            }
            (_, None, _) => {}
        }
    }
    flat
}

/// The chat `tools` array `offered` with only the functions named in
/// `allowed` (by the name the provider sees); `None` when none is left.
fn allowed_tools(offered: Option<&RawValue>, allowed: &HashSet<String>) -> Option<Box<RawValue>> {
    #[derive(serde::Deserialize)]
    struct Named<'a> {
        #[serde(borrow)]
        function: Function<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Function<'a> {
        #[serde(borrow)]
        name: Cow<'a, str>,
    }
    let tools: Vec<&RawValue> = serde_json::from_str(offered?.get()).ok()?;
    let kept: Vec<&RawValue> = tools
        .into_iter()
        .filter(|tool| {
            serde_json::from_str::<Named>(tool.get())
                .is_ok_and(|named| allowed.contains(&*named.function.name))
        })
        .collect();
    if kept.is_empty() {
        return None;
    }
    Some(serde_json::value::to_raw_value(&kept).expect("tools always serialize"))
}

/// Tool types the provider cannot run, left out: Codex offers `web_search`
/// (often with `external_web_access: false`) whatever the model, and, for
/// the models it knows, `tool_search` over deferred (MCP) tools, which
/// only OpenAI's own models can call.
const DROPPED_TOOLS: &[&str] = &[
    "web_search",
    "web_search_preview",
    "web_search_2025_08_26",
    "tool_search",
];

/// The one parameter a `custom` tool's function takes: its free-form input.
static CUSTOM_PARAMETERS: LazyLock<Box<RawValue>> = LazyLock::new(|| {
    RawValue::from_string(
        r#"{"type":"object","properties":{"input":{"type":"string","description":"The tool's whole input, as free-form text"}},"required":["input"],"additionalProperties":false}"#
            .to_string(),
    )
    .expect("valid JSON")
});

/// The chat tools for the request's `function` tools, namespaces flattened
/// (`<namespace>__<name>`); dropped hosted tools logged, the others refused.
fn tools<'r>(
    offered: &'r [Tool<'r>],
    seen: &mut Seen,
) -> Result<(Vec<chat_body::Tool<'r>>, ToolNames), TranslateError> {
    let mut out: Vec<chat_body::Tool<'r>> = Vec::new();
    let mut names = ToolNames::default();
    let mut taken = HashSet::new();
    for (index, tool) in offered.iter().enumerate() {
        let at = format!("tools[{index}]");
        // Each new function's name is one no tool before it has.
        let before = out.len();
        tool_unknown(tool, "tools[]", seen);
        match &*tool.kind {
            "function" => {
                Row::FunctionTool.mark(seen);
                out.push(function(&at, tool, None)?);
            }
            "namespace" => {
                Row::NamespaceTool.mark(seen);
                if tool.description.is_some() {
                    Row::NamespaceDescription.mark(seen);
                }
                let namespace = tool.name.as_deref().ok_or(TranslateError::Invalid {
                    at: at.clone(),
                    what: "a namespace needs a `name`",
                })?;
                for (inner, nested) in tool.tools.iter().flatten().enumerate() {
                    let at = format!("{at}.tools[{inner}]");
                    tool_unknown(nested, "tools[].tools[]", seen);
                    if nested.kind != "function" {
                        return Err(unsupported(at, format!("a tool of type {:?}", nested.kind)));
                    }
                    let chat = function(&at, nested, Some(namespace))?;
                    names.add(namespace, &chat.function.name);
                    out.push(chat);
                }
            }
            "custom" => {
                Row::CustomTool.mark(seen);
                let chat = custom(&at, tool)?;
                names.add_custom(&chat.function.name);
                out.push(chat);
            }
            "tool_search" => Row::ToolSearchTool.mark(seen),
            kind if DROPPED_TOOLS.contains(&kind) => Row::WebSearchTool.mark(seen),
            kind => {
                return Err(unsupported(
                    at,
                    format!(
                        "a tool of type {kind:?} (only `function`, `namespace` and `custom` tools are)"
                    ),
                ));
            }
        }
        for added in &out[before..] {
            let name = &added.function.name;
            if !taken.insert(name.clone()) {
                let name = name.to_string();
                return Err(TranslateError::SameName { at, name });
            }
        }
    }
    Ok((out, names))
}

/// Names the members of `tool` (at `at`) that its type does not have, for
/// the types whose members the translation reads one by one (a function,
/// a namespace, a custom tool; the others go whole, or are refused), and
/// marks its deferred loading.
fn tool_unknown(tool: &Tool, at: &str, seen: &mut Seen) {
    let has: &[&str] = match &*tool.kind {
        "function" => &["parameters", "strict", "defer_loading"],
        "namespace" => &["tools", "defer_loading"],
        "custom" => &["format"],
        _ => return,
    };
    if tool.defer_loading.is_some() && has.contains(&"defer_loading") {
        Row::DeferLoading.mark(seen);
    }
    let read = [
        ("parameters", tool.parameters.is_some()),
        ("strict", tool.strict.is_some()),
        ("tools", tool.tools.is_some()),
        ("format", tool.format.is_some()),
        ("defer_loading", tool.defer_loading.is_some()),
    ];
    let read = read.iter().filter(|(name, is)| *is && !has.contains(name));
    for name in read
        .map(|(name, _)| *name)
        .chain(tool.others.iter().map(|o| &**o))
    {
        seen.unknown_member(&format!("{at}.{name}"));
    }
    if let Some(format) = tool.format.as_ref().filter(|_| tool.kind == "custom") {
        let grammar = [
            ("syntax", format.syntax.is_some()),
            ("definition", format.definition.is_some()),
        ];
        let misplaced = (grammar.iter())
            .filter(|(_, is)| *is && format.kind != "grammar")
            .map(|(name, _)| *name);
        for name in misplaced.chain(format.others.iter().map(|o| &**o)) {
            seen.unknown_member(&format!("{at}.format.{name}"));
        }
    }
}

/// Names the members of `text.format` its type does not have: a schema's
/// own for `json_schema`, none for `text` and `json_object`.
fn format_unknown(format: &TextFormat, seen: &mut Seen) {
    let schema_members = [
        ("name", format.name.is_some()),
        ("description", format.description.is_some()),
        ("schema", format.schema.is_some()),
        ("strict", format.strict.is_some()),
    ];
    let misplaced = schema_members
        .iter()
        .filter(|(_, is)| *is && format.kind != "json_schema");
    for name in misplaced
        .map(|(name, _)| *name)
        .chain(format.others.iter().map(|o| &**o))
    {
        seen.unknown_member(&format!("text.format.{name}"));
    }
}

fn function<'r>(
    at: &str,
    tool: &'r Tool<'r>,
    namespace: Option<&str>,
) -> Result<chat_body::Tool<'r>, TranslateError> {
    let name = tool.name.as_deref().ok_or(TranslateError::Invalid {
        at: at.to_string(),
        what: "a function tool needs a `name`",
    })?;
    Ok(chat_body::Tool {
        kind: "function",
        function: chat_body::Function {
            name: match namespace {
                Some(namespace) => Cow::Owned(ToolNames::flat(namespace, name)),
                None => Cow::Borrowed(name),
            },
            description: tool
                .description
                .as_ref()
                .map(|d| chat_body::Description::Raw(d.json())),
            parameters: tool.parameters,
            strict: tool.strict,
        },
    })
}

/// A `custom` tool as a function taking its free-form input as one string
/// argument, `input`; its grammar, if any, is told in the description.
fn custom<'r>(at: &str, tool: &'r Tool<'r>) -> Result<chat_body::Tool<'r>, TranslateError> {
    let name = tool.name.as_deref().ok_or(TranslateError::Invalid {
        at: at.to_string(),
        what: "a custom tool needs a `name`",
    })?;
    let mut description = tool
        .description
        .as_ref()
        .map(|d| d.text().into_owned())
        .unwrap_or_default();
    if !description.is_empty() {
        description.push_str("\n\n");
    }
    description.push_str("Pass the whole input as the string argument `input`");
    match &tool.format {
        Some(format) if format.kind == "grammar" => {
            let syntax = format.syntax.as_deref().unwrap_or("lark");
            let definition = format.definition.as_deref().unwrap_or_default();
            description.push_str(&format!(
                "; it must follow this {syntax} grammar:\n{definition}"
            ));
        }
        Some(format) if format.kind != "text" => {
            return Err(unsupported(
                format!("{at}.format"),
                format!("a custom tool format of type {:?}", format.kind),
            ));
        }
        _ => description.push('.'),
    }
    Ok(chat_body::Tool {
        kind: "function",
        function: chat_body::Function {
            name: Cow::Borrowed(name),
            description: Some(chat_body::Description::Text(description)),
            parameters: Some(&**CUSTOM_PARAMETERS),
            strict: None,
        },
    })
}

fn unsupported(at: String, what: String) -> TranslateError {
    TranslateError::Unsupported { at, what }
}

fn tool_choice<'r>(choice: &'r ToolChoice) -> Result<chat_body::ToolChoice<'r>, TranslateError> {
    let at = || "tool_choice".to_string();
    let mode = chat_body::ToolChoice::Mode;
    match choice {
        ToolChoice::Mode(chosen) => match &**chosen {
            "auto" => Ok(mode("auto")),
            "none" => Ok(mode("none")),
            "required" => Ok(mode("required")),
            other => Err(unsupported(at(), format!("the mode {other:?}"))),
        },
        ToolChoice::Object(object) => match &*object.kind {
            // A custom tool is offered as a function of its name.
            "function" | "custom" => {
                let name = object.name.as_deref().ok_or(TranslateError::Invalid {
                    at: at(),
                    what: "a function or custom choice needs a `name`",
                })?;
                Ok(match object.namespace.as_deref() {
                    Some(namespace) => {
                        chat_body::ToolChoice::function(ToolNames::flat(namespace, name))
                    }
                    None => chat_body::ToolChoice::function(name),
                })
            }
            // The provider sees only the allowed tools; the mode applies.
            "allowed_tools" => match object.mode.as_deref() {
                Some("required") => Ok(mode("required")),
                Some("auto") => Ok(mode("auto")),
                _ => Err(TranslateError::Invalid {
                    at: "tool_choice.mode".into(),
                    what: "an allowed_tools choice's mode is `auto` or `required`",
                }),
            },
            kind => Err(unsupported(at(), format!("a choice of type {kind:?}"))),
        },
    }
}

/// Whether `choice` makes the model call a tool: `required`, an
/// `allowed_tools` choice whose mode is, or a choice naming one tool (a
/// function, a hosted tool's type), which forces its call.
fn requires_a_call(choice: &ToolChoice) -> bool {
    match choice {
        ToolChoice::Mode(mode) => mode == "required",
        ToolChoice::Object(object) if object.kind == "allowed_tools" => {
            object.mode.as_deref() == Some("required")
        }
        ToolChoice::Object(_) => true,
    }
}

/// `reasoning.effort` as the chat API's `reasoning_effort`, the same word,
/// which the provider rules turn into each target's own switch (lowering
/// what its models do not take).
fn reasoning_effort(effort: &str) -> Result<&'static str, TranslateError> {
    Ok(match effort {
        "none" => "none",
        "minimal" => "minimal",
        "low" => "low",
        "medium" => "medium",
        "high" => "high",
        "xhigh" => "xhigh",
        _ => {
            return Err(TranslateError::Invalid {
                at: "reasoning.effort".into(),
                what: "must be none, minimal, low, medium, high or xhigh",
            });
        }
    })
}

fn response_format<'r>(
    format: &'r TextFormat<'r>,
) -> Result<Option<chat_body::ResponseFormat<'r>>, TranslateError> {
    match &*format.kind {
        "text" => Ok(None),
        "json_object" => Ok(Some(chat_body::ResponseFormat::JsonObject)),
        "json_schema" => Ok(Some(chat_body::ResponseFormat::JsonSchema {
            json_schema: chat_body::JsonSchema {
                name: format.name.as_deref().ok_or(TranslateError::Invalid {
                    at: "text.format".into(),
                    what: "a json_schema format needs a `name`",
                })?,
                description: format.description.as_deref(),
                schema: format.schema,
                strict: format.strict,
            },
        })),
        kind => Err(unsupported(
            "text.format".into(),
            format!("a format of type {kind:?}"),
        )),
    }
}

/// The assistant turn being gathered from consecutive `reasoning`,
/// assistant `message` and `function_call` items: chat puts them in one
/// message, which the tool results then follow.
#[derive(Default)]
struct Turn<'r> {
    reasoning: Vec<Cow<'r, str>>,
    text: Vec<Cow<'r, str>>,
    calls: Vec<chat_body::ToolCall<'r>>,
    /// The images of the tool outputs since the calls: a tool message
    /// carries text only, and no other message may come between the
    /// results of one turn's calls, so they follow the last as the user's.
    images: Vec<ChatPart<'r>>,
}

/// Notes the members of `parts` (content parts at `place`) that no row
/// names, each by its place and its part's type.
fn unknown_part_members(place: std::fmt::Arguments<'_>, parts: &[Part<'_>], seen: &mut Seen) {
    for part in parts {
        let kind = part.kind.as_deref().unwrap_or("input_text");
        for key in part.unknown_members() {
            seen.unknown_member(&format!("{place}[{kind}].{key}"));
        }
    }
}

/// Whether `item` is a tool's output.
fn is_output(item: &Item<'_>) -> bool {
    matches!(
        item.kind(),
        "function_call_output" | "custom_tool_call_output"
    )
}

impl<'r> Turn<'r> {
    /// The images held for after the tool outputs, as a user message.
    fn images_out(&mut self, out: &mut Vec<ChatMessage<'r>>) {
        if !self.images.is_empty() {
            let images = std::mem::take(&mut self.images);
            out.push(ChatMessage::new("user", ChatContent::Parts(images)));
        }
    }

    fn is_empty(&self) -> bool {
        self.reasoning.is_empty() && self.text.is_empty() && self.calls.is_empty()
    }

    fn flush(&mut self, out: &mut Vec<ChatMessage<'r>>) {
        if self.is_empty() {
            return;
        }
        let (reasoning, text, calls) = (
            std::mem::take(&mut self.reasoning),
            std::mem::take(&mut self.text),
            std::mem::take(&mut self.calls),
        );
        let mut message = ChatMessage::text("assistant", joined(text));
        let reasoning = joined(reasoning);
        if !reasoning.is_empty() {
            message.reasoning_content = Some(reasoning);
        }
        message.tool_calls = calls;
        out.push(message);
    }
}

/// Texts joined by a blank line; one text passes as it is.
fn joined(mut texts: Vec<Cow<'_, str>>) -> Cow<'_, str> {
    match texts.len() {
        0 => Cow::Borrowed(""),
        1 => texts.pop().expect("one text"),
        _ => Cow::Owned(texts.join("\n\n")),
    }
}

fn item_messages<'r>(
    index: usize,
    item: &'r Item<'r>,
    turn: &mut Turn<'r>,
    out: &mut Vec<ChatMessage<'r>>,
    seen: &mut Seen,
) -> Result<(), TranslateError> {
    let at = || format!("input[{index}]");
    let invalid = |what| TranslateError::Invalid { at: at(), what };
    for key in item.unknown_members() {
        seen.unknown_member(&format!("input[{}].{key}", item.kind()));
    }
    match item.kind() {
        "reasoning" => {
            Row::ReasoningItem.mark(seen);
            let content = match &item.content {
                Some(Content::Parts(parts)) => &parts[..],
                _ => &[],
            };
            let parts = [
                ("summary", item.summary.as_deref().unwrap_or_default()),
                ("content", content),
            ];
            for (at, parts) in parts {
                unknown_part_members(format_args!("input[reasoning].{at}"), parts, seen);
            }
            // A new answer's reasoning starts a new turn.
            if !turn.text.is_empty() || !turn.calls.is_empty() {
                turn.flush(out);
            }
            // The raw text when the client kept it, else the summary
            // (where clawgate puts a provider's reasoning).
            let raw = item
                .content
                .as_ref()
                .map(|c| texts(index, c, seen))
                .transpose()?;
            let text = match raw.filter(|t| !t.is_empty()) {
                Some(text) => text,
                None => joined(
                    item.summary
                        .iter()
                        .flatten()
                        .filter_map(|p| p.text.as_deref().map(Cow::Borrowed))
                        .collect(),
                ),
            };
            if !text.is_empty() {
                turn.reasoning.push(text);
            }
        }
        "function_call" | "custom_tool_call" => {
            let custom = item.kind() == "custom_tool_call";
            seen.mark(if custom {
                Row::CustomToolCall
            } else {
                Row::FunctionCall
            } as u8);
            let (needs_id, needs_name) = if custom {
                (
                    "a custom_tool_call needs a `call_id`",
                    "a custom_tool_call needs a `name`",
                )
            } else {
                (
                    "a function_call needs a `call_id`",
                    "a function_call needs a `name`",
                )
            };
            let call_id = item.call_id.as_deref().ok_or(invalid(needs_id))?;
            let name = item.name.as_deref().ok_or(invalid(needs_name))?;
            let name = match item.namespace.as_deref() {
                Some(namespace) => Cow::Owned(ToolNames::flat(namespace, name)),
                None => Cow::Borrowed(name),
            };
            let arguments = if custom {
                let input = item.input.as_deref().unwrap_or_default();
                Cow::Owned(json!({ "input": input }).to_string())
            } else {
                Cow::Borrowed(item.arguments.as_deref().unwrap_or("{}"))
            };
            turn.calls.push(chat_body::ToolCall::function(
                ids::decode(call_id),
                name,
                arguments,
            ));
        }
        "function_call_output" | "custom_tool_call_output" => {
            seen.mark(if item.kind() == "function_call_output" {
                Row::FunctionCallOutput
            } else {
                Row::CustomToolCall
            } as u8);
            turn.flush(out);
            let call_id = item
                .call_id
                .as_deref()
                .ok_or(invalid("an output item needs a `call_id`"))?;
            let (text, images) = match &item.output {
                None => (Cow::Borrowed(""), Vec::new()),
                Some(Content::Text(text)) => (Cow::Borrowed(&**text), Vec::new()),
                Some(Content::Parts(parts)) => {
                    let mut texts = Vec::new();
                    let mut images = Vec::new();
                    unknown_part_members(
                        format_args!("input[{}].output", item.kind()),
                        parts,
                        seen,
                    );
                    for part in parts {
                        match content_part(index, part, seen)? {
                            ChatPart::Text { text } => texts.push(text),
                            image => images.push(image),
                        }
                    }
                    (joined(texts), images)
                }
            };
            let mut message = ChatMessage::text("tool", text);
            message.tool_call_id = Some(ids::decode(call_id));
            out.push(message);
            turn.images.extend(images);
        }
        "message" => {
            Row::MessageItem.mark(seen);
            let role = item
                .role
                .as_deref()
                .ok_or(invalid("a message needs a `role`"))?;
            let content = item
                .content
                .as_ref()
                .ok_or(invalid("a message needs `content`"))?;
            if let Content::Parts(parts) = content {
                unknown_part_members(format_args!("input[message].content"), parts, seen);
            }
            match role {
                "assistant" => {
                    if !turn.calls.is_empty() {
                        turn.flush(out);
                    }
                    let text = texts(index, content, seen)?;
                    if !text.is_empty() {
                        turn.text.push(text);
                    }
                }
                "system" | "developer" => {
                    turn.flush(out);
                    out.push(ChatMessage::text("system", texts(index, content, seen)?));
                }
                "user" => {
                    turn.flush(out);
                    out.push(ChatMessage::new(
                        "user",
                        user_content(index, content, seen)?,
                    ));
                }
                _ => {
                    return Err(invalid(
                        "a message's role must be user, assistant, system or developer",
                    ));
                }
            }
        }
        // A search the model ran at OpenAI, in a conversation begun there:
        // its results are in the assistant's text already.
        "web_search_call" => {
            Row::WebSearchCall.mark(seen);
            turn.flush(out);
        }
        "item_reference" => {
            return Err(unsupported(
                at(),
                "an item_reference (clawgate stores no items; send the item itself)".into(),
            ));
        }
        kind => return Err(unsupported(at(), format!("an input item of type {kind:?}"))),
    }
    Ok(())
}

fn content_part<'r>(
    index: usize,
    part: &'r Part<'r>,
    seen: &mut Seen,
) -> Result<ChatPart<'r>, TranslateError> {
    let at = || format!("input[{index}]");
    // A text part without its text would be an empty one, which the
    // Anthropic transport leaves out (its message with it).
    let text = |text: &'r Option<Cow<'r, str>>, missing| match text {
        Some(text) => Ok(ChatPart::Text {
            text: Cow::Borrowed(text),
        }),
        None => Err(TranslateError::Invalid {
            at: at(),
            what: missing,
        }),
    };
    match part.kind.as_deref().unwrap_or("input_text") {
        "input_text" | "output_text" | "text" | "summary_text" | "reasoning_text" => {
            Row::TextPart.mark(seen);
            text(&part.text, "a text part without its `text`")
        }
        "refusal" => text(&part.refusal, "a refusal part without its `refusal`"),
        "input_image" => match part.image_url.as_deref() {
            Some(url) => {
                Row::ImagePart.mark(seen);
                // `auto`, the default, asks nothing a transport could lose.
                if part
                    .detail
                    .as_deref()
                    .is_some_and(|detail| detail != "auto")
                {
                    Row::ImageDetail.mark(seen);
                }
                Ok(ChatPart::ImageUrl {
                    image_url: chat_body::ImageUrl {
                        url: Cow::Borrowed(url),
                        detail: part.detail.as_deref().map(Cow::Borrowed),
                    },
                })
            }
            None => Err(unsupported(
                at(),
                "an input_image by file_id (send an image_url or a data URL)".into(),
            )),
        },
        kind => Err(unsupported(
            at(),
            format!("a content part of type {kind:?}"),
        )),
    }
}

/// The text of content: the string, or the parts' texts joined by a blank
/// line. Images have no place here (system and assistant content).
fn texts<'r>(
    index: usize,
    content: &'r Content<'r>,
    seen: &mut Seen,
) -> Result<Cow<'r, str>, TranslateError> {
    match content {
        Content::Text(text) => Ok(Cow::Borrowed(text)),
        Content::Parts(parts) => {
            let mut out = Vec::with_capacity(parts.len());
            for part in parts {
                match content_part(index, part, seen)? {
                    ChatPart::Text { text } => out.push(text),
                    ChatPart::ImageUrl { .. } => {
                        return Err(unsupported(
                            format!("input[{index}]"),
                            "an image outside a user message".into(),
                        ));
                    }
                }
            }
            Ok(joined(out))
        }
    }
}

/// A user message's content: one string when it is text only, else the
/// chat API's parts.
fn user_content<'r>(
    index: usize,
    content: &'r Content<'r>,
    seen: &mut Seen,
) -> Result<ChatContent<'r>, TranslateError> {
    let Content::Parts(parts) = content else {
        return texts(index, content, seen).map(ChatContent::Text);
    };
    let parts = parts
        .iter()
        .map(|part| content_part(index, part, seen))
        .collect::<Result<Vec<_>, _>>()?;
    if parts.iter().all(|p| matches!(p, ChatPart::Text { .. })) {
        let texts = parts
            .into_iter()
            .filter_map(|p| match p {
                ChatPart::Text { text } => Some(text),
                ChatPart::ImageUrl { .. } => None,
            })
            .collect();
        return Ok(ChatContent::Text(joined(texts)));
    }
    Ok(ChatContent::Parts(parts))
}
