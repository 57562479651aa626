//! Moonshot's Kimi API (`api.moonshot.ai`, `api.moonshot.cn`), whose rules
//! Kimi Coding shares: the thinking switch per model, fields a model fixes,
//! `tool_choice` under thinking, `reasoning_content` on replayed tool-call
//! turns, duplicate tool-call ids, and the tool-schema form Moonshot's
//! validator accepts. Sources: `../shared/facts/providers.md`.
//!
//! [`KimiTools`], the tools' reading remembered across turns, is kept for
//! speed: `docs/performance.md` says what it saves.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{Draft, Thinking, Withheld};
use crate::capabilities::{Api, ForcedToolChoice, Reasoning, ThinkingControl};
use crate::config::Target;
use crate::format::recent::Recent;
use crate::translate::decisions::{
    CallId, MADE_ID_LEN, Schema, Switch, ToolChoice, Tools, TurnReasoning,
};
use crate::translate::fields;
use crate::wire::openai::{allowed_tools, function_name};

pub fn apply(draft: &mut Draft, target: &Target, thinking: Thinking) {
    let caps = &target.model.capabilities;
    // With no tool offered, the choice goes (`no_choice_without_tools`):
    // it forces nothing.
    let given_choice = draft
        .given("tool_choice")
        .filter(|_| draft.offers_tools(target));
    let pinned = (given_choice.as_ref())
        .is_some_and(|choice| choice.get("type").is_some_and(|t| t == "function"));
    let relax = caps.forced_tool_choice == ForcedToolChoice::Relax;
    // Thinking is on unless the model cannot think, or it can be and was
    // turned off; an unspecified switch leaves the provider's default (on).
    let mut on = match caps.reasoning {
        Reasoning::None => false,
        Reasoning::Optional => !thinking.is_off(),
        Reasoning::Always => true,
    };
    // A pinned function cannot be honoured while thinking: where thinking
    // can be turned off, it is, for this request (as OpenClaw does).
    let forced_off = on && pinned && relax && caps.reasoning == Reasoning::Optional;
    if forced_off {
        on = false;
        // The thinking the client asked for is named (not a default's).
        if matches!(super::clients_thinking(draft), Thinking::On(_)) {
            draft.withhold(Withheld::Thinking);
        }
    }

    let keep = draft
        .given("thinking")
        .and_then(|t| t.get("keep").cloned())
        .filter(|k| !k.is_null());
    // The signals read into `thinking` (OpenRouter's `reasoning` object
    // included) are Moonshot's only in its own words.
    draft.remove("reasoning_effort");
    draft.remove("reasoning");
    match (caps.reasoning, caps.thinking_control) {
        // No switch is sent, whichever API the client used: what the
        // client asked of thinking that the model does not do on its own
        // (off for one that always thinks, a level, on for one that never
        // does) is named, not lost.
        (Reasoning::None, _) | (_, ThinkingControl::Omit) => {
            draft.omit("thinking");
            let own = match caps.reasoning {
                Reasoning::None => Thinking::Off,
                Reasoning::Always => Thinking::On(None),
                Reasoning::Optional => Thinking::Unspecified,
            };
            if ![Thinking::Unspecified, own].contains(&super::clients_thinking(draft)) {
                draft.withhold(Withheld::Thinking);
            }
        }
        (_, ThinkingControl::EffortMax) => {
            draft.omit("thinking");
            draft.decided.effort = Some("max".into());
            effort_has_no_place(draft, target);
            cannot_stop(draft);
        }
        (_, ThinkingControl::Effort) => {
            draft.omit("thinking");
            draft.decided.effort = Some(k3_effort(&thinking).into());
            effort_has_no_place(draft, target);
            cannot_stop(draft);
        }
        (_, ThinkingControl::Switch) if thinking == Thinking::Unspecified && !forced_off => {
            draft.remove("thinking");
        }
        (_, ThinkingControl::Switch) => {
            let kept = keep.clone().filter(|_| on && caps.thinking_keep);
            // Named where the client asked it (not a model's `params`).
            let asked = (draft.request().value("thinking"))
                .is_some_and(|thinking| thinking.get("keep").is_some_and(|k| !k.is_null()));
            if asked && kept.is_none() {
                draft.withhold(Withheld::Removed("thinking.keep".into()));
            }
            draft.decided.thinking = Some(Switch { on, keep: kept });
        }
    }

    for field in &caps.fixed_sampling {
        draft.remove_named(field);
    }
    // An allow-list: Kimi's API takes a choice of `auto`, `none` or
    // `required`, not a list, so only the listed tools are offered.
    let listed = (given_choice.as_ref()).and_then(|choice| allow_listed(draft, choice));
    if on {
        for field in &caps.fixed_sampling_when_thinking {
            draft.remove_named(field);
        }
        let forced = pinned || given_choice == Some(json!("required")) || listed == Some(true);
        if relax && forced {
            draft.decided.tool_choice = Some(ToolChoice::Auto);
            draft.withhold(Withheld::Removed(RELAXED.into()));
        }
    }

    if caps.forced_tool_choice == ForcedToolChoice::Narrow && pinned {
        narrow_tool_choice(draft, given_choice);
    }

    reasoning_content(draft, on);
    unique_tool_call_ids(draft);
    plain_any_of_schemas(draft);
}

/// A model told only by an effort (K3) is told nothing over the
/// Anthropic transport: a Messages body has no effort but
/// `output_config.effort`, which Kimi's endpoints do not take. What the
/// client asked of thinking is then named, not lost, as it is for a
/// model that is never told.
fn effort_has_no_place(draft: &mut Draft, target: &Target) {
    if target.provider.api == Api::AnthropicMessages && fields::asks_thinking(draft.seen()) {
        draft.withhold(Withheld::Thinking);
    }
}

/// A model told only by an effort cannot stop thinking: the client's off
/// is named (it is sent the least effort, or the one the model fixes).
fn cannot_stop(draft: &mut Draft) {
    if super::clients_thinking(draft).is_off() {
        draft.withhold(Withheld::Thinking);
    }
}

/// K3's effort (`low`, `high`, `max`) for the client's level: OpenAI's
/// `minimal` and `low` are low, `medium` and `high` are high, `max` (or
/// `xhigh`) and no level at all are max (OpenClaw's default for K3). K3
/// cannot stop thinking: off is the least, low.
fn k3_effort(thinking: &Thinking) -> &'static str {
    match thinking {
        Thinking::Off => "low",
        Thinking::Unspecified | Thinking::On(None) => "max",
        Thinking::On(Some(level)) => match level.as_str() {
            "minimal" | "low" => "low",
            "medium" | "high" => "high",
            _ => "max",
        },
    }
}

/// A named function on a model that takes only `required` (K3): the
/// choice becomes `required` with only that tool offered, which keeps its
/// intent; when the tool is not offered at all, `auto`.
fn narrow_tool_choice(draft: &mut Draft, choice: Option<Value>) {
    let name = choice.and_then(|choice| function_name(&choice).map(str::to_owned));
    let Some(Value::Array(tools)) = draft.given("tools") else {
        draft.decided.tool_choice = Some(ToolChoice::Auto);
        return;
    };
    let named = |tool: &&Value| name.is_some() && function_name(tool) == name.as_deref();
    let chosen = tools.iter().filter(named).count();
    match name {
        Some(name) if chosen > 0 => {
            if chosen < tools.len() {
                draft.withhold(Withheld::Removed(NARROWED.into()));
            }
            draft.decided.tools = Some(Tools {
                offered: Some(vec![name]),
                schemas: Arc::new([]),
            });
            draft.decided.tool_choice = Some(ToolChoice::Required);
        }
        _ => {
            draft.decided.tool_choice = Some(ToolChoice::Auto);
            draft.withhold(Withheld::Removed(RELAXED.into()));
        }
    }
}

/// An `allowed_tools` choice as Kimi's API takes it, which has no list:
/// the listed tools the request offers, alone, and the list's mode as the
/// choice (`required`, else `auto`). Whether it forces a call; `None` for
/// a choice of another type. A list that names none of the request's
/// tools offers none (a `required` one, named, forces nothing).
fn allow_listed(draft: &mut Draft, choice: &Value) -> Option<bool> {
    let listed = allowed_tools(choice)?;
    let required = choice["allowed_tools"]["mode"] == "required";
    let offered = match draft.given("tools") {
        Some(Value::Array(tools)) => (tools.iter().filter_map(function_name))
            .filter(|name| listed.contains(name))
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    if offered.is_empty() {
        for key in ["tools", "tool_choice", "parallel_tool_calls"] {
            draft.remove(key);
        }
        if required {
            draft.withhold(Withheld::Removed(RELAXED.into()));
        }
        return Some(false);
    }
    draft.decided.tools = Some(Tools {
        offered: Some(offered),
        schemas: Arc::new([]),
    });
    draft.decided.tool_choice = Some(match required {
        true => ToolChoice::Required,
        false => ToolChoice::Auto,
    });
    Some(required)
}

/// How the answer names the tools a named choice narrowed away.
pub(super) const NARROWED: &str = "tools other than the one tool_choice names";

/// How the answer names a forced call sent as `auto` (Kimi refuses one
/// while thinking; K3 has no tool of the name).
pub(super) const RELAXED: &str = "tool_choice forcing a call";

/// With thinking on, every replayed assistant turn that made tool calls
/// carries `reasoning_content` (Kimi answers 400 otherwise): the reasoning
/// the model produced for it when the gateway kept it
/// (`crate::reasoning_cache`), else `""`, which is accepted; with thinking
/// off, none does.
fn reasoning_content(draft: &mut Draft, on: bool) {
    let request = draft.request();
    for (index, message) in request.messages().iter().enumerate() {
        if message.role != "assistant" {
            continue;
        }
        if on && !message.tool_call_ids.is_empty() && !message.has_reasoning_content {
            let kept = draft.restored_reasoning(index).cloned();
            draft.turn(index).reasoning = Some(TurnReasoning::Given(kept));
        } else if !on && message.has_reasoning_content {
            draft.turn(index).reasoning = Some(TurnReasoning::Taken);
            let named = fields::replayed_reasoning(draft.seen().front);
            draft.withhold(Withheld::Removed(named.into()));
        }
    }
}

/// Kimi's tool-call ids (`functions.<name>:<n>`) are unique only within one
/// turn, and a history with a repeated id is refused. Exactly as OpenClaw
/// does, so a history that went through both gets the same ids: the first
/// occurrence of an id is kept; a later one becomes `call_` + the first 24
/// hex digits of sha256("<id>:<occurrence>:<attempt>") (attempt counting
/// up past collisions); tool results take their call's new id first-in,
/// first-out. A `functions <name>:<n>` with a space is repaired too (and
/// made anew when an earlier call holds the repaired id).
pub(super) fn unique_tool_call_ids(draft: &mut Draft) {
    let request = draft.request();
    let calls: usize = request
        .messages()
        .iter()
        .map(|message| message.tool_call_ids.len())
        .sum();
    if calls == 0 {
        return;
    }
    // Results whose empty id was paired again (see `tool_results`); in
    // the common case none, and nothing is allocated.
    let paired_again = draft.paired_again.clone();
    // Every call and result may take a new id.
    draft.decided.ids.reserve(2 * calls);
    // Ids are looked up a few times each: a fast hash (foldhash, seeded per
    // process), the maps sized once, each id's count and results waiting
    // in one entry. Kept ids are borrowed from the request and made ones
    // held inline ([`NewId`]), all compared as bytes: nothing is copied.
    let mut used: HashSet<NewId> = HashSet::with_capacity(calls);
    let mut seen: HashMap<&str, (usize, VecDeque<NewId>)> = HashMap::with_capacity(calls);
    let mut renamed: Vec<NewId> = Vec::new();
    for (index, message) in request.messages().iter().enumerate() {
        if message.role == "assistant" && !message.tool_call_ids.is_empty() {
            renamed.clear();
            for (call, id) in message.tool_call_ids.iter().enumerate() {
                let (occurrence, pending) = seen.entry(id).or_default();
                *occurrence += 1;
                // The first occurrence is kept (repaired), unless an earlier
                // call already has that id: a repaired one may.
                let kept = (*occurrence == 1)
                    .then(|| repaired(id, (index, call)))
                    .filter(|kept| !used.contains(kept.as_bytes()));
                let new_id = kept.unwrap_or_else(|| openai_style_id(id, *occurrence, &used));
                used.insert(new_id.clone());
                pending.push_back(new_id.clone());
                renamed.push(new_id);
            }
            let same = renamed
                .iter()
                .map(NewId::as_bytes)
                .eq(message.tool_call_ids.iter().map(String::as_bytes));
            if !same {
                draft.rename_calls(index, renamed.iter().map(NewId::sent));
            }
        } else if message.role == "tool" {
            let again = paired_again.iter().find(|(i, _)| *i == index);
            let Some(id) = again.map(|(_, id)| id).or(message.tool_call_id.as_ref()) else {
                continue;
            };
            let Some(new_id) = seen
                .get_mut(id.as_str())
                .and_then(|(_, pending)| pending.pop_front())
            else {
                continue;
            };
            if new_id.as_bytes() != id.as_bytes() || again.is_some() {
                draft.answer_call(index, new_id.sent());
            }
        }
    }
}

/// A call's id as sent: the client's own (call `.1` of message `.0`),
/// repaired, or made ([`openai_style_id`], held inline: `call_` and 24
/// hex digits). Compared and hashed as bytes: a made one is never read as
/// text.
#[derive(Debug, Clone)]
enum NewId<'r> {
    Kept(&'r str, (usize, usize)),
    Repaired(String),
    Made([u8; MADE_ID_LEN]),
}

impl NewId<'_> {
    fn as_bytes(&self) -> &[u8] {
        match self {
            NewId::Kept(id, _) => id.as_bytes(),
            NewId::Repaired(id) => id.as_bytes(),
            NewId::Made(made) => made,
        }
    }

    /// The id as the plan holds it.
    fn sent(&self) -> CallId {
        match self {
            NewId::Kept(_, (turn, call)) => CallId::Client {
                turn: *turn,
                call: *call,
            },
            NewId::Repaired(id) => CallId::Text(id.clone()),
            NewId::Made(made) => CallId::Made(*made),
        }
    }
}

impl std::borrow::Borrow<[u8]> for NewId<'_> {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for NewId<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for NewId<'_> {}

/// As the bytes' own hash, which `Borrow<[u8]>` requires.
impl std::hash::Hash for NewId<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

/// `functions read:0` (a space where a dot belongs) as `functions.read:0`.
fn repaired(id: &str, at: (usize, usize)) -> NewId<'_> {
    match id.strip_prefix("functions ") {
        Some(rest) if !rest.contains(' ') => NewId::Repaired(format!("functions.{rest}")),
        _ => NewId::Kept(id, at),
    }
}

fn openai_style_id<'r>(id: &str, occurrence: usize, used: &HashSet<NewId>) -> NewId<'r> {
    (0..)
        .map(|attempt| made_id(id, occurrence, attempt))
        .find(|candidate| !used.contains(&candidate[..]))
        .map(NewId::Made)
        .expect("an unused id exists")
}

/// `call_` and the first 24 hex digits of sha256("<id>:<occurrence>:<attempt>").
fn made_id(id: &str, occurrence: usize, attempt: usize) -> [u8; MADE_ID_LEN] {
    let (mut occurrence_digits, mut attempt_digits) = ([0u8; 20], [0u8; 20]);
    // Updated in place: the hasher's state is not moved at each piece.
    let mut hasher = Sha256::new();
    for piece in [
        id.as_bytes(),
        b":",
        decimal(occurrence, &mut occurrence_digits),
        b":",
        decimal(attempt, &mut attempt_digits),
    ] {
        hasher.update(piece);
    }
    let digest = hasher.finalize();
    let mut out = [0u8; MADE_ID_LEN];
    out[..5].copy_from_slice(b"call_");
    for (pair, byte) in out[5..].chunks_exact_mut(2).zip(&digest[..12]) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0xf)];
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `n` in decimal, written at the end of `digits`.
fn decimal(mut n: usize, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &digits[at..];
        }
    }
}

/// Moonshot's schema validator refuses an object with both a simple `type`
/// and an `anyOf` of plain branches; the equivalent form moves the type
/// into each branch that has none.
///
/// OpenClaw and Claude Code send the same tools every turn, so the outcome
/// for a whole `tools` text is remembered ([`KimiTools`], read by the
/// plan): a repeated turn costs one comparison of bytes. Otherwise only a tool whose bytes mention
/// `anyOf` (or hold a `\u` escape) can need the rule, so the others are
/// never parsed: the tools array is split into its elements by the scanner,
/// and each element with `anyOf` is parsed and its schema rewritten. The
/// plan holds each schema rewritten, by the tool's name and where the
/// schema lay ([`Tools`]); the chat transport writes it there, on the
/// client's text, and a Messages body takes it by name.
pub(super) fn plain_any_of_schemas(draft: &mut Draft) {
    if let Some(offered) = (draft.decided.tools.as_ref()).and_then(|tools| tools.offered.clone()) {
        // A choice narrowed the tools (K3's): the ones offered.
        let schemas = match draft.given("tools") {
            Some(Value::Array(tools)) => rewritten_schemas(&tools, &offered),
            _ => Vec::new(),
        };
        draft.decided.tools = Some(Tools {
            offered: Some(offered),
            schemas: schemas.into(),
        });
        return;
    }
    // Tools the model's `params` give a request without any.
    if let Some((_, Value::Array(tools))) =
        (draft.decided.params.iter_mut()).find(|(key, _)| key == "tools")
    {
        for tool in tools {
            rewrite_tool(tool);
        }
        return;
    }
    let read = match draft.kimi_tools.take() {
        Some(read) => read,
        None => match draft.request().raw("tools") {
            Some(tools) => rewritten_tools(tools),
            None => return,
        },
    };
    if read.rewritten.is_some() {
        draft.decided.tools = read.rewritten;
    }
}

/// The schemas of the `offered` among `tools` that take Moonshot's form,
/// rewritten.
fn rewritten_schemas(tools: &[Value], offered: &[String]) -> Vec<Schema> {
    (tools.iter())
        .filter(|tool| function_name(tool).is_some_and(|name| offered.iter().any(|o| o == name)))
        .filter_map(|tool| rewritten_schema(&mut tool.clone()))
        .collect()
}

/// A named tool's schema in Moonshot's form, `tool` rewritten, when the
/// rule changes it (where it lay not known).
fn rewritten_schema(tool: &mut Value) -> Option<Schema> {
    if !rewrite_tool(tool) {
        return None;
    }
    Some(Schema {
        name: function_name(tool)?.to_owned(),
        schema: tool.pointer("/function/parameters")?.clone(),
        at: None,
    })
}

/// What the rules read of a `tools` text: how many tools it holds, and
/// each tool that needs Moonshot's schema form, its schema rewritten and
/// where the schema lay ([`Tools`]; `None` when none does).
#[derive(Debug, Clone, Default)]
pub(super) struct ToolsRead {
    pub count: usize,
    pub rewritten: Option<Tools>,
}

/// [`ToolsRead`] of a `tools` text (not an array: none).
fn rewritten_tools(tools: &str) -> ToolsRead {
    #[cfg(test)]
    tests::SPLITS.with(|splits| splits.set(splits.get() + 1));
    let Ok(elements) = crate::format::scan::element_ranges(tools.as_bytes()) else {
        return ToolsRead::default();
    };
    let count = elements.len();
    let any_of = memchr::memmem::Finder::new(b"anyOf");
    let mut schemas = Vec::new();
    for range in elements {
        let tool = &tools[range.clone()];
        // A key may be spelt with escapes (`\u0061nyOf`): such a tool is
        // read too.
        let bytes = tool.as_bytes();
        if any_of.find(bytes).is_none() && memchr::memmem::find(bytes, b"\\u").is_none() {
            continue;
        }
        if let Some(mut schema) = rewritten_tool(tool) {
            schema.at = (schema.at.take())
                .map(|(at, text)| (range.start + at.start..range.start + at.end, text));
            schemas.push(schema);
        }
    }
    ToolsRead {
        count,
        rewritten: (!schemas.is_empty()).then(|| Tools {
            offered: None,
            schemas: schemas.into(),
        }),
    }
}

/// The outcome of [`rewritten_tools`] for the last few `tools` texts seen
/// (clients and agents with different tool sets), none longer than 512 KB:
/// a larger `tools` is worked out every time.
pub struct KimiTools(Recent<ToolsRead>);

impl Default for KimiTools {
    fn default() -> Self {
        Self(Recent::new(16, 512 * 1024))
    }
}

impl KimiTools {
    /// [`rewritten_tools`], remembered: a repeated turn costs one
    /// comparison of bytes.
    pub(super) fn read(&self, tools: &str) -> ToolsRead {
        self.0.remembered(tools, || rewritten_tools(tools))
    }
}

fn rewrite_tool(tool: &mut Value) -> bool {
    tool.pointer_mut("/function/parameters")
        .is_some_and(rewrite_schema)
}

/// One tool's JSON text's schema as rewritten, with the tool's name and
/// where in the text its schema lies (the last `function`'s last
/// `parameters`, as serde reads them), or `None` when it needs no change
/// (or is not JSON, which the provider will judge, or has no name): the
/// only place a tool is parsed into a tree.
fn rewritten_tool(tool: &str) -> Option<Schema> {
    #[cfg(test)]
    tests::TREES.with(|trees| trees.set(trees.get() + 1));
    let mut schema = rewritten_schema(&mut serde_json::from_str(tool).ok()?)?;
    let member = |json: &[u8], key: &str| {
        let members = crate::format::scan::members(json).ok()?;
        crate::format::scan::Member::last(&members, key).map(|member| member.value.clone())
    };
    let function = member(tool.as_bytes(), "function")?;
    let parameters = member(&tool.as_bytes()[function.clone()], "parameters")?;
    let at = function.start + parameters.start..function.start + parameters.end;
    schema.at = Some((at, Bytes::from(schema.schema.to_string())));
    Some(schema)
}

/// Keywords whose values are schemas, or maps or lists of schemas.
const SUBSCHEMAS: [&str; 12] = [
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "items",
    "prefixItems",
    "additionalProperties",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "contains",
];

fn rewrite_schema(schema: &mut Value) -> bool {
    let Value::Object(object) = schema else {
        return false;
    };
    let mut changed = lift_type(object);
    for keyword in SUBSCHEMAS {
        let Some(value) = object.get_mut(keyword) else {
            continue;
        };
        changed |= match (keyword, value) {
            ("properties" | "patternProperties" | "$defs" | "definitions", Value::Object(map)) => {
                map.values_mut()
                    .fold(false, |acc, s| rewrite_schema(s) | acc)
            }
            (_, Value::Array(list)) => list
                .iter_mut()
                .fold(false, |acc, s| rewrite_schema(s) | acc),
            (_, value @ Value::Object(_)) => rewrite_schema(value),
            _ => false,
        };
    }
    changed
}

fn lift_type(object: &mut Map<String, Value>) -> bool {
    let Some(Value::String(parent)) = object.get("type") else {
        return false;
    };
    let Some(Value::Array(branches)) = object.get("anyOf") else {
        return false;
    };
    let plain = branches.iter().all(|branch| {
        branch.as_object().is_some_and(|b| {
            !b.contains_key("$ref")
                && !b.contains_key("anyOf")
                && !b.contains_key("oneOf")
                && b.get("type").is_none_or(|t| t.as_str() == Some(parent))
        })
    });
    if !plain || branches.is_empty() {
        return false;
    }
    let parent = parent.clone();
    object.remove("type");
    if let Some(Value::Array(branches)) = object.get_mut("anyOf") {
        for branch in branches.iter_mut().filter_map(Value::as_object_mut) {
            branch
                .entry("type")
                .or_insert_with(|| Value::String(parent.clone()));
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use serde_json::{Value, json};

    use super::{Draft, Schema, Tools, plain_any_of_schemas, rewrite_tool};
    use crate::wire::openai::ChatRequest;
    use crate::wire::request::ClientRequest;

    /// The rule as it was first written: the whole `tools` read into a
    /// tree and each tool's schema rewritten there.
    fn plain_any_of_schemas_in_tree(draft: &mut Draft) {
        let Some(Value::Array(mut tools)) = draft.given("tools") else {
            return;
        };
        let mut changed = false;
        for tool in &mut tools {
            changed |= rewrite_tool(tool);
        }
        // The whole tree sent in place of the tools, as a model's
        // `params` would send it.
        if changed {
            draft
                .decided
                .params
                .push(("tools".into(), Value::Array(tools)));
        }
    }

    thread_local! {
        /// Tools parsed into a tree on this thread.
        pub static TREES: Cell<usize> = const { Cell::new(0) };
        /// `tools` texts split into their elements on this thread.
        pub static SPLITS: Cell<usize> = const { Cell::new(0) };
    }

    fn trees() -> usize {
        TREES.with(Cell::get)
    }

    /// The request `text` after `rule`, read back as a value.
    fn run(text: &str, rule: fn(&mut Draft)) -> Value {
        let request = ClientRequest::from(ChatRequest::parse(text.to_string()).unwrap());
        let mut draft = Draft::new(&request);
        rule(&mut draft);
        serde_json::from_slice(
            &request
                .chat()
                .write(&draft.decided.chat_edits(request.chat()))
                .to_vec(),
        )
        .unwrap()
    }

    fn request(tools: &Value) -> String {
        json!({"messages": [{"role": "user", "content": "hi"}], "tools": tools}).to_string()
    }

    fn tool(name: &str, parameters: Value) -> Value {
        json!({"type": "function", "function": {"name": name, "description": "d", "parameters": parameters}})
    }

    /// The rule on `tools` gives `expected`, exactly as the whole-tree
    /// rewrite it replaced does.
    fn check(tools: Value, expected: Value) {
        let text = request(&tools);
        let out = run(&text, plain_any_of_schemas);
        assert_eq!(out["tools"], expected, "{tools}");
        assert_eq!(out, run(&text, plain_any_of_schemas_in_tree), "{tools}");
    }

    #[test]
    fn the_rewrite_is_the_whole_tree_rewrite() {
        let mixed = json!({"type": "string", "anyOf": [{"enum": ["a"]}, {"type": "string"}]});
        let lifted = json!({"anyOf": [{"enum": ["a"], "type": "string"}, {"type": "string"}]});
        let object = |x: Value| json!({"type": "object", "properties": {"x": x}});
        let plain = tool("plain", object(json!({"type": "string"})));
        let rewritten = [
            // One tool among plain ones, nested under properties.
            (
                json!([
                    plain.clone(),
                    tool("m", object(mixed.clone())),
                    plain.clone()
                ]),
                json!([
                    plain.clone(),
                    tool("m", object(lifted.clone())),
                    plain.clone()
                ]),
            ),
            // Under items, $defs, additionalProperties and anyOf itself.
            (
                json!([tool("i", json!({"type": "array", "items": mixed.clone()}))]),
                json!([tool("i", json!({"type": "array", "items": lifted.clone()}))]),
            ),
            (
                json!([tool(
                    "d",
                    json!({"$defs": {"a": mixed.clone()}, "additionalProperties": mixed.clone()})
                )]),
                json!([tool(
                    "d",
                    json!({"$defs": {"a": lifted.clone()}, "additionalProperties": lifted.clone()})
                )]),
            ),
            (
                json!([tool(
                    "n",
                    json!({"anyOf": [mixed.clone(), {"type": "null"}]})
                )]),
                json!([tool(
                    "n",
                    json!({"anyOf": [lifted.clone(), {"type": "null"}]})
                )]),
            ),
            // Two tools rewritten, the same one twice.
            (
                json!([
                    tool("m", mixed.clone()),
                    plain.clone(),
                    tool("m", mixed.clone())
                ]),
                json!([
                    tool("m", lifted.clone()),
                    plain.clone(),
                    tool("m", lifted.clone())
                ]),
            ),
        ];
        for (tools, expected) in rewritten {
            check(tools, expected);
        }
        let untouched = [
            // No anyOf anywhere.
            json!([plain.clone()]),
            // Not plain: a $ref, a nested anyOf, another type, no branches.
            json!([tool(
                "r",
                json!({"type": "string", "anyOf": [{"$ref": "#/x"}]})
            )]),
            json!([tool(
                "t",
                json!({"type": "string", "anyOf": [{"type": "number"}]})
            )]),
            json!([tool("e", json!({"type": "string", "anyOf": []}))]),
            json!([tool(
                "a",
                json!({"type": "string", "anyOf": [{"anyOf": [{}]}]})
            )]),
            // anyOf only in a description, outside the parameters, or in
            // something that is not a tool.
            json!([tool("s", json!({"type": "string", "description": "anyOf"}))]),
            json!([{"type": "function", "anyOf": mixed.clone(), "function": {"name": "o"}}]),
            json!(["anyOf", 1, null]),
            json!([]),
            // Not an array at all.
            json!({"anyOf": mixed.clone()}),
        ];
        for tools in untouched {
            check(tools.clone(), tools);
        }
    }

    /// Each tool rewritten is named with its schema as rewritten: what a
    /// Messages body's `input_schema` takes, without the text read again.
    #[test]
    fn a_rewritten_tools_schema_is_named() {
        let tools = json!([
            tool("plain", json!({"type": "object"})),
            tool("m", json!({"type": "string", "anyOf": [{"enum": ["a"]}]}))
        ]);
        let text = tools.to_string();
        let read = super::rewritten_tools(&text);
        assert_eq!(read.count, 2);
        let Some(Tools {
            offered: None,
            schemas,
        }) = read.rewritten
        else {
            panic!("rewritten")
        };
        let lifted = json!({"anyOf": [{"enum": ["a"], "type": "string"}]});
        let [Schema { name, schema, at }] = &*schemas else {
            panic!("one schema: {schemas:?}")
        };
        assert_eq!((name.as_str(), schema), ("m", &lifted));
        // Where the schema it replaces lies in the text, and what is
        // written there.
        let (at, written) = at.clone().unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&text[at]).unwrap(),
            tools[1]["function"]["parameters"]
        );
        assert_eq!(serde_json::from_slice::<Value>(&written).unwrap(), lifted);
    }

    #[test]
    fn untouched_tools_keep_their_bytes_and_escapes_are_read() {
        // Written by hand: spaces, an escaped key, a non-ASCII escape.
        let text = r#"{"messages":[{"role":"user","content":"hi"}], "tools" : [ {"type": "function", "function": {"name": "keep", "parameters": {"type": "object", "description": "caf\u00e9"}}} ,
            {"type":"function","function":{"name":"fix","parameters":{"type":"string","\u0061nyOf":[{"enum":["a"]}]}}} ]}"#;
        let request = ClientRequest::from(ChatRequest::parse(text.to_string()).unwrap());
        let mut draft = Draft::new(&request);
        plain_any_of_schemas(&mut draft);
        let out = String::from_utf8(
            request
                .chat()
                .write(&draft.decided.chat_edits(request.chat()))
                .to_vec(),
        )
        .unwrap();
        // `\u0061nyOf` is anyOf to Moonshot's validator: a tool with an
        // escape is read as a tree. The first tool, which needs no change,
        // goes out exactly as written.
        assert!(
            out.contains(r#"[ {"type": "function", "function": {"name": "keep", "parameters": {"type": "object", "description": "caf\u00e9"}}} ,"#),
            "{out}"
        );
        let out: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(out, run(text, plain_any_of_schemas_in_tree));
        assert_eq!(
            out["tools"][1]["function"]["parameters"],
            json!({"anyOf": [{"enum": ["a"], "type": "string"}]})
        );
    }

    #[test]
    fn tools_without_any_of_are_never_parsed_and_rewritten_ones_are_remembered() {
        let plain: Vec<Value> = (0..14)
            .map(|i| {
                tool(
                    &format!("plain_{i}"),
                    json!({"type": "object", "properties": {"p": {"type": "string"}}}),
                )
            })
            .collect();
        let text = request(&json!(plain));
        let before = trees();
        run(&text, plain_any_of_schemas);
        assert_eq!(trees(), before, "no tool was parsed");

        let mut tools = plain.clone();
        tools.push(tool(
            "remembered",
            json!({"type": "string", "anyOf": [{"enum": ["a"]}]}),
        ));
        let text = request(&json!(tools));
        // As the plan reads Kimi's tools: through the gateway's memo.
        let memo = super::KimiTools::default();
        let planned = |text: &str| {
            let request = ClientRequest::from(ChatRequest::parse(text.to_string()).unwrap());
            let mut draft = Draft::new(&request);
            draft.kimi_tools = Some(memo.read(request.chat().raw("tools").unwrap()));
            plain_any_of_schemas(&mut draft);
            serde_json::from_slice::<Value>(
                &request
                    .chat()
                    .write(&draft.decided.chat_edits(request.chat()))
                    .to_vec(),
            )
            .unwrap()
        };
        let before = trees();
        let first = planned(&text);
        assert_eq!(trees(), before + 1, "only the tool with anyOf is parsed");
        let splits = SPLITS.with(Cell::get);
        let second = planned(&text);
        assert_eq!(trees(), before + 1, "the second turn parses nothing");
        assert_eq!(
            SPLITS.with(Cell::get),
            splits,
            "the second turn's tools are known whole: not even split"
        );
        // Without the memo, the same work again.
        assert_eq!(run(&text, plain_any_of_schemas), first);
        assert_eq!(trees(), before + 2);
        assert_eq!(first, second);
        assert_eq!(
            first["tools"][14]["function"]["parameters"],
            json!({"anyOf": [{"enum": ["a"], "type": "string"}]})
        );
    }
}
