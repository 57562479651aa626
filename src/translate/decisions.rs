//! What the rules decided for one request and target, one typed field per
//! decision (`providers::plan` makes it, each field set by the one rule
//! that decides it), and its rendering as member edits of the request
//! model ([`Decisions::write`], each message's edits made as the writer
//! reaches it; [`Decisions::chat_edits`], the same gathered): what the
//! chat transport writes on the client's bytes, and what the Anthropic
//! transport translates for a client of another API. A client's own Messages body takes the same
//! decisions in Messages' terms (`anthropic_provider::Carried`). Nothing
//! here decides, and nothing is read back out of JSON.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::capabilities::MaxTokensField;
use crate::format::body::{Chunks, Edits, ObjectEdits};
use crate::wire::facts::Facts;
use crate::wire::openai::{ChatRequest, MessageInfo, function_name};

/// The rules' decisions for one target.
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    /// The model id the target is sent.
    pub model: String,
    /// The model's `params` the request does not set itself, in order.
    pub params: Vec<(String, Value)>,
    /// Top-level members taken away, each once: a sampling field the model
    /// fixes, a thinking signal not in the target's words, what a target
    /// is never told. A member set by a field below is set, not removed.
    pub removed: Vec<Cow<'static, str>>,
    /// The output limit's two fields.
    pub output: Output,
    /// The `thinking` switch sent (Moonshot's words; over the Anthropic
    /// transport, the switch a chat client's effort becomes).
    pub thinking: Option<Switch>,
    /// The `reasoning_effort` sent.
    pub effort: Option<Cow<'static, str>>,
    /// OpenRouter's `reasoning` sent.
    pub reasoning: Option<Reasoning>,
    /// The tool choice sent, where the rules change it.
    pub tool_choice: Option<ToolChoice>,
    /// The tools sent, where the rules change them.
    pub tools: Option<Tools>,
    /// What changes in a message of the request model, by its index.
    pub turns: BTreeMap<usize, Turn>,
    /// The tool-call ids the turns send, where they change
    /// ([`Turn::call_ids`], [`Turn::result_id`]): one list for the whole
    /// history, which may have each of its turns' ids changed.
    pub ids: Vec<CallId>,
    /// The stream asked for, and its usage.
    pub stream: Stream,
}

/// The output limit's fields, `max_tokens` and `max_completion_tokens`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Output {
    pub max_tokens: Limit,
    pub max_completion_tokens: Limit,
}

impl Output {
    pub fn get(&self, field: MaxTokensField) -> Limit {
        match field {
            MaxTokensField::MaxTokens => self.max_tokens,
            MaxTokensField::MaxCompletionTokens => self.max_completion_tokens,
        }
    }

    pub fn at(&mut self, field: MaxTokensField) -> &mut Limit {
        match field {
            MaxTokensField::MaxTokens => &mut self.max_tokens,
            MaxTokensField::MaxCompletionTokens => &mut self.max_completion_tokens,
        }
    }
}

/// One output-limit field as sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Limit {
    /// As the request (or the model's `params`) has it, if at all.
    #[default]
    AsGiven,
    Removed,
    /// The other field's value, moved here as given.
    Moved,
    /// The model's most output, in place of more.
    Clamped(u64),
    /// Where the request sets no limit: the output a budget's or a rate
    /// limit's reservation assumed, so that no answer costs more than was
    /// reserved.
    Bounded(u64),
}

/// A thinking switch: on or off, and Moonshot's `keep` (the value the
/// client gave) where the model takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Switch {
    pub on: bool,
    pub keep: Option<Value>,
}

impl Switch {
    pub fn json(&self) -> Value {
        let mut switch = json!({"type": if self.on { "enabled" } else { "disabled" }});
        if let Some(keep) = &self.keep {
            switch["keep"] = keep.clone();
        }
        switch
    }
}

/// OpenRouter's `reasoning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reasoning {
    Off,
    /// A thinking budget, in tokens.
    Budget(u64),
    /// One of OpenRouter's efforts (`low`, `medium`, `high`).
    Effort(&'static str),
}

impl Reasoning {
    pub fn json(self) -> Value {
        match self {
            Reasoning::Off => json!({"enabled": false}),
            Reasoning::Budget(tokens) => json!({"max_tokens": tokens}),
            Reasoning::Effort(effort) => json!({"effort": effort}),
        }
    }
}

/// A tool choice the rules set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    Required,
}

/// The tools the rules change, in no API's form: which of the request's
/// tools are offered, and the schemas rewritten into the target's form.
/// Each transport renders them on its own body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tools {
    /// Only the tools of these names, a choice having narrowed them;
    /// `None`: every tool the request offers.
    pub offered: Option<Vec<String>>,
    /// Each tool whose schema the rules rewrote.
    pub schemas: Arc<[Schema]>,
}

/// A tool's schema as the rules rewrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// The tool's name.
    pub name: String,
    /// Its schema in the target's form.
    pub schema: Value,
    /// Where the schema it replaces lies in the request's `tools` text,
    /// when the rules found it there (the model's `params` are not), and
    /// its JSON text to write there (written once per `tools` text, as
    /// the rules read it).
    pub at: Option<(Range<usize>, Bytes)>,
}

impl Tools {
    /// The rewritten schema of the tool named `name`, if any.
    pub fn schema(&self, name: &str) -> Option<&Value> {
        (self.schemas.iter())
            .find(|schema| schema.name == name)
            .map(|schema| &schema.schema)
    }

    /// The `tools` of a chat body: the request's `tools` text with each
    /// rewritten schema written where it lay, or (a choice having
    /// narrowed them, or a schema found elsewhere) the tools offered,
    /// read whole, with their schemas.
    fn chat(&self, decisions: &Decisions, request: &ChatRequest) -> Option<Edit> {
        if let (None, Some(text)) = (&self.offered, request.raw_bytes("tools"))
            && let Some(pieces) = self.spliced(&text)
        {
            return Some(Edit::Pieces(pieces));
        }
        let Some(Value::Array(tools)) = decisions.given(request, "tools") else {
            return None;
        };
        let name = |tool: &Value| function_name(tool).map(str::to_owned);
        let tools = (tools.into_iter())
            .filter(|tool| {
                self.offered
                    .as_ref()
                    .is_none_or(|offered| name(tool).is_some_and(|name| offered.contains(&name)))
            })
            .map(|mut tool| {
                let schema = name(&tool).and_then(|name| self.schema(&name).cloned());
                if let (Some(schema), Some(parameters)) =
                    (schema, tool.pointer_mut("/function/parameters"))
                {
                    *parameters = schema;
                }
                tool
            });
        Some(Edit::Value(Value::Array(tools.collect())))
    }

    /// `text` in pieces, each schema written where it lay, when every one
    /// of them was found in it: the text between them shared, not copied.
    fn spliced(&self, text: &Bytes) -> Option<Vec<Bytes>> {
        let mut at: Vec<&(Range<usize>, Bytes)> = (self.schemas.iter())
            .map(|schema| schema.at.as_ref())
            .collect::<Option<_>>()?;
        at.sort_by_key(|(range, _)| range.start);
        let mut pieces = Vec::with_capacity(2 * at.len() + 1);
        let mut copied = 0;
        for (range, schema) in at {
            // A place that is not an object's in the text (a text other
            // than the one the rules read) is not written on.
            let object = text.get(range.clone()).is_some_and(|schema| {
                schema.first() == Some(&b'{') && schema.last() == Some(&b'}')
            });
            if range.start < copied || !object {
                return None;
            }
            pieces.push(text.slice(copied..range.start));
            pieces.push(schema.clone());
            copied = range.end;
        }
        pieces.push(text.slice(copied..));
        Some(pieces)
    }
}

/// A member's new value: JSON text in pieces, or a tree.
enum Edit {
    Pieces(Vec<Bytes>),
    Value(Value),
}

/// What changes in one message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Turn {
    /// Its `reasoning_content`, given or taken.
    pub reasoning: Option<TurnReasoning>,
    /// The ids of an assistant turn's calls, in order, where one changes:
    /// these of [`Decisions::ids`].
    pub call_ids: Option<Range<u32>>,
    /// A tool result's `tool_call_id`: this one of [`Decisions::ids`].
    pub result_id: Option<u32>,
    /// A `developer` message sent as `system`.
    pub as_system: bool,
    /// Its content's cache breakpoints.
    pub cache_mark: Option<CacheMark>,
}

/// The reasoning of a replayed assistant turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnReasoning {
    /// Given: the text the model produced for it, kept, or (`None`) empty.
    Given(Option<Arc<str>>),
    Taken,
}

impl TurnReasoning {
    /// The text given, `None` when taken.
    pub fn text(&self) -> Option<&str> {
        match self {
            TurnReasoning::Given(kept) => Some(kept.as_deref().unwrap_or_default()),
            TurnReasoning::Taken => None,
        }
    }
}

/// A tool call's id as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallId {
    /// The client's own: call `call` of message `turn`.
    Client { turn: usize, call: usize },
    /// Another text (a repaired id, or a result's call's).
    Text(String),
    /// Made anew (`call_` and hex digits).
    Made([u8; MADE_ID_LEN]),
}

/// The length of a made id: `call_` and 24 hex digits.
pub const MADE_ID_LEN: usize = "call_".len() + 24;

impl CallId {
    /// The id's text, the client's read from its request's `messages`.
    pub fn bytes<'a>(&'a self, messages: &'a [MessageInfo]) -> &'a [u8] {
        match self {
            CallId::Client { turn, call } => messages
                .get(*turn)
                .and_then(|message| message.tool_call_ids.get(*call))
                .map_or(&[], |id| id.as_bytes()),
            CallId::Text(id) => id.as_bytes(),
            CallId::Made(made) => made,
        }
    }

    /// The id as a JSON string: a made one as it is (`call_` and hex
    /// digits need no escape), any other escaped.
    fn write_json(&self, request: &ChatRequest, out: &mut Vec<u8>) {
        match self {
            CallId::Made(made) => {
                out.push(b'"');
                out.extend_from_slice(made);
                out.push(b'"');
            }
            other => {
                let text = std::str::from_utf8(other.bytes(request.messages())).unwrap_or_default();
                serde_json::to_writer(out, text).expect("a string always serializes");
            }
        }
    }
}

/// A message's cache breakpoints.
#[derive(Debug, Clone)]
pub enum CacheMark {
    /// Taken off its content's parts.
    Strip,
    /// Placed on the text that ends it.
    Place(Arc<RawValue>),
}

impl PartialEq for CacheMark {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (CacheMark::Strip, CacheMark::Strip) => true,
            (CacheMark::Place(a), CacheMark::Place(b)) => a.get() == b.get(),
            _ => false,
        }
    }
}

/// The stream asked for: every request is streamed upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stream {
    /// `stream` set, the client having not asked for one.
    pub asked: bool,
    pub usage: Option<Usage>,
}

/// `stream_options`' `include_usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// Added to the client's options.
    Include,
    /// Taken from the client's options (the member goes when nothing is
    /// left).
    Strip,
    /// The options are that alone.
    Only,
    /// No options.
    Remove,
}

impl Decisions {
    /// A top-level member as the request (or the model's `params`) gives
    /// it, before the decisions.
    pub fn given(&self, request: &dyn Facts, key: &str) -> Option<Value> {
        match self.params.iter().find(|(k, _)| k == key) {
            Some((_, value)) => Some(value.clone()),
            None => request.value(key),
        }
    }

    /// Whether `key` is set by the request or the model's `params`.
    pub fn has(&self, request: &dyn Facts, key: &str) -> bool {
        self.params.iter().any(|(k, _)| k == key) || request.contains(key)
    }

    /// Output-limit `field` as sent: its value as given, moved or clamped;
    /// `None` when it is not sent.
    pub fn limit_sent(&self, request: &dyn Facts, field: MaxTokensField) -> Option<Value> {
        match self.output.get(field) {
            Limit::AsGiven => self.given(request, field.name()),
            Limit::Removed => None,
            Limit::Moved => self.given(request, field.other().name()),
            Limit::Clamped(most) | Limit::Bounded(most) => Some(json!(most)),
        }
    }

    /// Whether the rules take `key` away (and set nothing in its place).
    pub fn removes(&self, key: &str) -> bool {
        self.removed.iter().any(|k| k == key)
    }

    /// Undoes what the decisions set `key` to, if they set it: whether
    /// they did.
    pub fn take_back(&mut self, key: &str) -> bool {
        let limit = |limit: &mut Limit| {
            let set = matches!(limit, Limit::Moved | Limit::Clamped(_) | Limit::Bounded(_));
            if set {
                *limit = Limit::Removed;
            }
            set
        };
        match key {
            "max_tokens" => limit(&mut self.output.max_tokens),
            "max_completion_tokens" => limit(&mut self.output.max_completion_tokens),
            "thinking" => self.thinking.take().is_some(),
            "reasoning_effort" => self.effort.take().is_some(),
            "reasoning" => self.reasoning.take().is_some(),
            "tool_choice" => self.tool_choice.take().is_some(),
            "tools" => self.tools.take().is_some(),
            "stream_options" => self.stream.usage.take().is_some(),
            _ => false,
        }
    }

    /// The decisions as member edits of `request`, the request model.
    pub fn chat_edits(&self, request: &ChatRequest) -> Edits {
        Edits {
            top: self.top_edits(request),
            items: (self.turns.keys())
                .filter_map(|&index| Some((index, self.turn_edits(request, index)?)))
                .collect(),
        }
    }

    /// The body to send: `request`'s bytes with the decisions written on
    /// them ([`Self::chat_edits`], each message's made as it is reached).
    pub fn write(&self, request: &ChatRequest) -> Chunks {
        let turns = (!self.turns.is_empty())
            .then_some(|index| self.turn_edits(request, index).map(Cow::Owned));
        request.write_with(&self.top_edits(request), turns)
    }

    /// The top-level members' edits.
    fn top_edits(&self, request: &ChatRequest) -> ObjectEdits {
        let mut top = ObjectEdits::default();
        for (key, value) in &self.params {
            top.set(key.clone(), value.clone());
        }
        for key in &self.removed {
            top.remove(key.clone());
        }
        for (field, limit) in [
            (MaxTokensField::MaxTokens, self.output.max_tokens),
            (
                MaxTokensField::MaxCompletionTokens,
                self.output.max_completion_tokens,
            ),
        ] {
            match limit {
                Limit::AsGiven => {}
                Limit::Removed => top.remove(field.name()),
                Limit::Moved | Limit::Clamped(_) | Limit::Bounded(_) => {
                    if let Some(value) = self.limit_sent(request, field) {
                        top.set(field.name(), value);
                    }
                }
            }
        }
        if let Some(switch) = &self.thinking {
            top.set("thinking", switch.json());
        }
        if let Some(effort) = &self.effort {
            top.set("reasoning_effort", json!(effort));
        }
        if let Some(reasoning) = self.reasoning {
            top.set("reasoning", reasoning.json());
        }
        if let Some(choice) = self.tool_choice {
            let value = match choice {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::Required => json!("required"),
            };
            top.set("tool_choice", value);
        }
        match self
            .tools
            .as_ref()
            .and_then(|tools| tools.chat(self, request))
        {
            Some(Edit::Pieces(pieces)) => top.set_pieces("tools", pieces),
            Some(Edit::Value(tools)) => top.set("tools", tools),
            None => {}
        }
        top.set("model", json!(self.model));
        if self.stream.asked {
            top.set("stream", json!(true));
        }
        self.stream_options(request, &mut top);
        top
    }

    /// Message `index`'s edits, if it takes any.
    fn turn_edits(&self, request: &ChatRequest, index: usize) -> Option<ObjectEdits> {
        let turn = self.turns.get(&index)?;
        let mut item = ObjectEdits::default();
        turn.write(request, index, &self.ids, &mut item);
        (item != ObjectEdits::default()).then_some(item)
    }

    fn stream_options(&self, request: &ChatRequest, top: &mut ObjectEdits) {
        let Some(usage) = self.stream.usage else {
            return;
        };
        let given = || match request.value("stream_options") {
            Some(Value::Object(options)) => options,
            _ => Map::new(),
        };
        match usage {
            Usage::Include => {
                let mut options = given();
                options.insert("include_usage".into(), json!(true));
                top.set("stream_options", Value::Object(options));
            }
            Usage::Strip => {
                let mut options = given();
                if options.remove("include_usage").is_none() {
                    return;
                }
                match options.is_empty() {
                    true => top.remove("stream_options"),
                    false => top.set("stream_options", Value::Object(options)),
                }
            }
            Usage::Only => top.set("stream_options", json!({"include_usage": true})),
            Usage::Remove => top.remove("stream_options"),
        }
    }
}

impl Turn {
    fn write(&self, request: &ChatRequest, index: usize, ids: &[CallId], item: &mut ObjectEdits) {
        if self.as_system {
            item.set("role", json!("system"));
        }
        match self.reasoning.as_ref().map(TurnReasoning::text) {
            // Most often empty (nothing kept): no text to write.
            Some(Some("")) => item.set_raw("reasoning_content", Bytes::from_static(b"\"\"")),
            Some(Some(text)) => item.set("reasoning_content", json!(text)),
            Some(None) => item.remove("reasoning_content"),
            None => {}
        }
        let named = |at: &Range<u32>| ids.get(at.start as usize..at.end as usize);
        if let Some(json) = (self.call_ids.as_ref().and_then(named)).and_then(|calls| {
            request.tool_calls_with_ids(index, calls, |id, out| id.write_json(request, out))
        }) {
            item.set_raw("tool_calls", json);
        }
        if let Some(id) = self.result_id.and_then(|at| ids.get(at as usize)) {
            let mut json = Vec::with_capacity(MADE_ID_LEN + 2);
            id.write_json(request, &mut json);
            item.set_raw("tool_call_id", json.into_boxed_slice());
        }
        let content = match &self.cache_mark {
            Some(CacheMark::Strip) => request.content_without_cache_marks(index),
            Some(CacheMark::Place(mark)) => request.content_with_cache_mark(index, mark),
            None => None,
        };
        if let Some(content) = content {
            item.set_raw("content", content);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The tools the rules change, on a chat body: a schema written where
    /// it lay; the tools a choice narrowed to, with their schemas; and a
    /// place that is not an object's in the text read whole by name,
    /// never written at the wrong place.
    #[test]
    fn the_tools_the_plan_changes_are_written_on_a_chat_body() {
        let tool = |name: &str, schema: Value| json!({"type": "function", "function": {"name": name, "parameters": schema}});
        let tools = json!([
            tool("a", json!({"type": "object"})),
            tool("b", json!({"x": 1}))
        ]);
        let body =
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": tools})
                .to_string();
        let request = ChatRequest::parse(body).unwrap();
        let text = request.raw("tools").unwrap();
        let at = text.find(r#"{"x":1}"#).unwrap();
        let new = json!({"y": 2});
        let schema = |at: Option<Range<usize>>| Schema {
            name: "b".into(),
            schema: new.clone(),
            at: at.map(|at| (at, Bytes::from(new.to_string()))),
        };
        let sent = |tools: Tools| {
            let decided = Decisions {
                tools: Some(tools),
                ..Decisions::default()
            };
            let sent: Value = serde_json::from_slice(&decided.write(&request).to_vec()).unwrap();
            sent["tools"].clone()
        };
        let rewritten = json!([tool("a", json!({"type": "object"})), tool("b", new.clone())]);
        for at in [
            Some(at..at + 7),
            None,
            Some(at..text.len() + 1),
            Some(at + 2..at),
            Some(at + 1..at + 6),
        ] {
            let tools = Tools {
                offered: None,
                schemas: vec![schema(at.clone())].into(),
            };
            assert_eq!(sent(tools), rewritten, "{at:?}");
        }
        let narrowed = Tools {
            offered: Some(vec!["b".into()]),
            schemas: vec![schema(Some(at..at + 7))].into(),
        };
        assert_eq!(sent(narrowed), json!([tool("b", new.clone())]));
    }

    /// The body written with each message's edits made as it is reached is
    /// the body written from the decisions' edits gathered first (what
    /// `clawgate explain` and the rules' tests read).
    #[test]
    fn the_body_written_is_the_edits_written() {
        let request = ChatRequest::parse(
            json!({"model": "m", "stream": true, "stream_options": {"x": 1}, "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]},
                {"role": "assistant", "tool_calls": [
                    {"id": "functions.read:0", "type": "function", "function": {"name": "read", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "functions.read:0", "content": "A"},
                {"role": "assistant", "reasoning_content": "mine", "content": "done"}],
                "max_tokens": 100, "temperature": 0.5})
            .to_string(),
        )
        .unwrap();
        let mut decided = Decisions {
            model: "kimi".into(),
            params: vec![("top_p".into(), json!(0.9))],
            removed: vec!["temperature".into()],
            output: Output {
                max_tokens: Limit::Removed,
                max_completion_tokens: Limit::Moved,
            },
            thinking: Some(Switch {
                on: true,
                keep: None,
            }),
            stream: Stream {
                asked: false,
                usage: Some(Usage::Include),
            },
            ids: vec![CallId::Made(*b"call_0123456789abcdef01234567")],
            ..Decisions::default()
        };
        fn turn(decided: &mut Decisions, index: usize) -> &mut Turn {
            decided.turns.entry(index).or_default()
        }
        turn(&mut decided, 0).as_system = true;
        turn(&mut decided, 1).cache_mark = Some(CacheMark::Strip);
        turn(&mut decided, 2).call_ids = Some(0..1);
        turn(&mut decided, 2).reasoning = Some(TurnReasoning::Given(None));
        turn(&mut decided, 3).result_id = Some(0);
        turn(&mut decided, 4).reasoning = Some(TurnReasoning::Taken);
        let edits = decided.chat_edits(&request);
        assert_eq!(edits.items.len(), 5);
        let written = decided.write(&request).to_vec();
        assert_eq!(written, request.write(&edits).to_vec());
        let sent: Value = serde_json::from_slice(&written).unwrap();
        assert_eq!(sent["messages"][0]["role"], "system");
        assert_eq!(
            sent["messages"][1]["content"],
            json!([{"type": "text", "text": "hi"}])
        );
        let made = "call_0123456789abcdef01234567";
        assert_eq!(sent["messages"][2]["tool_calls"][0]["id"], made);
        assert_eq!(sent["messages"][2]["reasoning_content"], "");
        assert_eq!(sent["messages"][3]["tool_call_id"], made);
        assert_eq!(sent["messages"][4].get("reasoning_content"), None);
        assert_eq!(sent["max_completion_tokens"], 100);
        assert_eq!(sent.get("max_tokens"), None);
        assert_eq!(sent.get("temperature"), None);
        assert_eq!(sent["top_p"], 0.9);
        assert_eq!(sent["thinking"], json!({"type": "enabled"}));
        assert_eq!(
            sent["stream_options"],
            json!({"x": 1, "include_usage": true})
        );
        assert_eq!(sent["model"], "kimi");
        // No message edited: the messages go as written.
        decided.turns.clear();
        let written = decided.write(&request).to_vec();
        assert_eq!(
            written,
            request.write(&decided.chat_edits(&request)).to_vec()
        );
    }
}
