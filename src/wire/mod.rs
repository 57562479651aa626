//! The API shapes the gateway reads and writes on the wire (OpenAI chat,
//! Anthropic Messages, OpenAI Responses), read and written with the
//! toolkit in [`crate::format`].

pub mod anthropic;
pub mod chunk;
pub mod facts;
pub mod openai;
pub mod request;
pub mod responses;
pub mod usage;

use std::borrow::Cow;

use serde_json::value::RawValue;

/// A JSON text as its writer wrote it (a client, or a provider's tool
/// arguments), shared: written out again byte for byte.
#[derive(Debug, Clone)]
pub struct Raw(pub std::sync::Arc<RawValue>);

impl Raw {
    /// `json` must be JSON.
    pub fn of(json: &str) -> Self {
        Self(std::sync::Arc::from(
            RawValue::from_string(json.to_string()).expect("JSON"),
        ))
    }
}

impl PartialEq for Raw {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl serde::Serialize for Raw {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// A JSON string kept as the client wrote it, escapes and all: read without
/// unescaping it and written out again without escaping it, for texts the
/// gateway passes on unread (every text of a Messages request, tool
/// descriptions, a Responses request's instructions). Escaping a long text
/// again cost more than reading it.
#[derive(Debug, Clone)]
pub struct RawText(Box<RawValue>);

impl RawText {
    /// The JSON string literal, quotes included.
    pub fn json(&self) -> &RawValue {
        &self.0
    }

    /// Whether it is the empty string.
    pub fn is_empty(&self) -> bool {
        is_empty(&self.0)
    }

    /// The text itself (borrowed when it holds no escape). A lone
    /// surrogate escape (`\ud800`), which JSON's grammar admits but no
    /// Unicode text holds, reads as U+FFFD.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        serde_json::from_str(self.0.get()).unwrap_or_else(|_| {
            let mut reader = serde_json::Deserializer::from_str(self.0.get());
            let mut bytes = serde::Deserializer::deserialize_bytes(&mut reader, LossyBytes)
                .expect("checked to be a string when read");
            // A surrogate in WTF-8 is three bytes, ED A0..BF 80..BF; U+FFFD
            // is three too.
            let mut at = 0;
            while at + 2 < bytes.len() {
                if bytes[at] == 0xED && (0xA0..=0xBF).contains(&bytes[at + 1]) {
                    bytes[at..at + 3].copy_from_slice("\u{fffd}".as_bytes());
                    at += 3;
                } else {
                    at += 1;
                }
            }
            std::borrow::Cow::Owned(String::from_utf8_lossy(&bytes).into_owned())
        })
    }

    /// `literal`, already read as a JSON string literal, kept.
    pub(crate) fn from_literal(literal: &RawValue) -> Self {
        debug_assert!(literal.get().starts_with('"'));
        Self(literal.to_owned())
    }

    /// The string literal for `text`, escaped here.
    pub fn from_text(text: &str) -> Self {
        let json = serde_json::to_string(text).expect("a str always serializes");
        // SAFETY: serde_json wrote it: one string literal, no whitespace around.
        Self(unsafe { RawValue::from_string_unchecked(json) })
    }

    /// The literal's escaped content, without its quotes.
    pub fn inner(&self) -> &str {
        inner(&self.0)
    }

    /// The string literals `texts` joined by `separator` (escaped content:
    /// `r"\n\n"` for a blank line) as one string literal, written from their
    /// escaped content: nothing is unescaped or escaped again. One text is
    /// returned as it is.
    pub fn join<'a>(texts: &[Cow<'a, RawValue>], separator: &str) -> Cow<'a, RawValue> {
        debug_assert!(serde_json::from_str::<String>(&format!("\"{separator}\"")).is_ok());
        match texts {
            [] => Cow::Borrowed(empty()),
            [one] => one.clone(),
            _ => {
                let length = texts.iter().map(|t| t.get().len()).sum::<usize>()
                    + texts.len() * separator.len();
                let mut json = String::with_capacity(length);
                json.push('"');
                for (index, text) in texts.iter().enumerate() {
                    if index > 0 {
                        json.push_str(separator);
                    }
                    json.push_str(inner(text));
                }
                json.push('"');
                // SAFETY: the escaped content of string literals and of the
                // separator, between quotes: one string literal.
                Cow::Owned(unsafe { RawValue::from_string_unchecked(json) })
            }
        }
    }

    /// The literal itself, for a place that takes a raw JSON value.
    pub fn into_json(self) -> Box<RawValue> {
        self.0
    }
}

/// The escaped content of `literal`, a JSON string literal.
fn inner(literal: &RawValue) -> &str {
    let json = literal.get();
    debug_assert!(json.len() >= 2 && json.starts_with('"') && json.ends_with('"'));
    &json[1..json.len() - 1]
}

/// Whether the string literal `literal` is the empty string.
pub fn is_empty(literal: &RawValue) -> bool {
    literal.get() == empty().get()
}

/// The empty string literal.
pub fn empty() -> &'static RawValue {
    static EMPTY: std::sync::LazyLock<Box<RawValue>> =
        std::sync::LazyLock::new(|| RawText::from_text("").into_json());
    &EMPTY
}

/// A string's bytes, lone surrogates included (serde_json gives them as
/// WTF-8), for [`RawText::text`].
struct LossyBytes;

impl serde::de::Visitor<'_> for LossyBytes {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_bytes<E>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
        Ok(bytes.to_vec())
    }
}

/// A string as written, read by a hand-written reader: borrowed from the
/// body unless it holds an escape (serde's own `Cow` is always a copy).
pub struct Key<'a>(pub Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                text: &'de str,
            ) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(text)))
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(text.to_owned())))
            }

            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// Reads an object member by member, as serde's derive reads a struct (a
/// repeated member refused): each member `members` names by `read` (its
/// index in `members`, and the map to read its value from), and the name
/// of each other member that is not `null` into `others`: what the
/// readers of blocks, items and parts name as unknown.
///
/// Returns the members read, as a mask (bit `i`: `members[i]`; at most
/// 32 members).
pub fn read_members<'de, A: serde::de::MapAccess<'de>>(
    map: &mut A,
    members: &'static [&'static str],
    others: &mut Vec<Cow<'de, str>>,
    mut read: impl FnMut(usize, &mut A) -> Result<(), A::Error>,
) -> Result<u32, A::Error> {
    debug_assert!(members.len() <= 32, "a mask of 32 members");
    let mut done = 0u32;
    while let Some(Key(key)) = map.next_key()? {
        let Some(at) = members.iter().position(|known| *known == key) else {
            let value: &RawValue = map.next_value()?;
            if value.get() != "null" {
                others.push(key);
            }
            continue;
        };
        if done & 1 << at != 0 {
            return Err(serde::de::Error::duplicate_field(members[at]));
        }
        done |= 1 << at;
        read(at, map)?;
    }
    Ok(done)
}

/// An object read member by member ([`read_members`]) by one visitor
/// ([`by_members`]): the members it knows, each read into it in turn, and
/// the names of the others, which its readers name as unknown.
pub trait ByMembers<'de>: Default {
    /// What serde's error says was expected.
    const EXPECTING: &'static str;
    /// The members it knows; [`ByMembers::read`] is given each one's index.
    const MEMBERS: &'static [&'static str];
    /// The members it cannot do without, as a mask of [`Self::MEMBERS`].
    const REQUIRED: u32 = 0;

    /// Reads member `at` of [`Self::MEMBERS`] from `map`.
    fn read<A: serde::de::MapAccess<'de>>(
        &mut self,
        at: usize,
        map: &mut A,
    ) -> Result<(), A::Error>;

    /// Keeps the names of the members it does not know (not `null`).
    fn others(&mut self, others: Vec<Cow<'de, str>>);
}

/// `Deserialize` for each [`ByMembers`] type named, through [`by_members`]:
/// `Message` for a type that owns what it holds, `Tool<'a>` for one that
/// borrows from the body.
macro_rules! deserialize_by_members {
    ($($ty:ident $(<$a:lifetime>)?),+ $(,)?) => {
        $(deserialize_by_members!(@one $ty $(<$a>)?);)+
    };
    (@one $ty:ident <$a:lifetime>) => {
        impl<'de: $a, $a> serde::Deserialize<'de> for $ty<$a> {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::wire::by_members(deserializer)
            }
        }
    };
    (@one $ty:ident) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::wire::by_members(deserializer)
            }
        }
    };
}
pub(crate) use deserialize_by_members;

/// A [`ByMembers`] object from `deserializer`: serde's own words for a
/// repeated or a missing member.
pub fn by_members<'de, T: ByMembers<'de>, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    struct Visitor<T>(std::marker::PhantomData<T>);
    impl<'de, T: ByMembers<'de>> serde::de::Visitor<'de> for Visitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(T::EXPECTING)
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
            let mut object = T::default();
            let mut others = Vec::new();
            let read = read_members(&mut map, T::MEMBERS, &mut others, |at, map| {
                object.read(at, map)
            })?;
            if let Some(at) = (0..T::MEMBERS.len()).find(|at| T::REQUIRED & !read & 1 << at != 0) {
                return Err(serde::de::Error::missing_field(T::MEMBERS[at]));
            }
            object.others(others);
            Ok(object)
        }
    }
    deserializer.deserialize_map(Visitor(std::marker::PhantomData))
}

impl<'de> serde::Deserialize<'de> for RawText {
    /// A string, refused otherwise with serde's own message (`invalid type:
    /// integer `5`, expected a string`).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, Unexpected};
        use serde_json::Value;
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        if raw.get().starts_with('"') {
            return Ok(Self(raw));
        }
        let value: Value = serde_json::from_str(raw.get()).map_err(D::Error::custom)?;
        let unexpected = match &value {
            Value::Null => Unexpected::Unit,
            Value::Bool(b) => Unexpected::Bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => Unexpected::Unsigned(u),
                (None, Some(i), _) => Unexpected::Signed(i),
                (None, None, f) => Unexpected::Float(f.unwrap_or_default()),
            },
            Value::String(_) => Unexpected::Str("a string"),
            Value::Array(_) => Unexpected::Seq,
            Value::Object(_) => Unexpected::Map,
        };
        Err(D::Error::invalid_type(unexpected, &"a string"))
    }
}

/// A whole request body read as `T`; the error names the path of the
/// offending field (`messages[2].content[0].type: unknown variant …`).
///
/// Read without tracking the path first: tracking it costs on every value
/// (a seventh of a large request's CPU), and only a refused body needs it,
/// so that one is read again with it. The body is checked for UTF-8 once
/// and read as text: read as bytes, serde_json checks every string and
/// every raw value it borrows again.
pub(crate) fn read_request<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    if let Some(request) = std::str::from_utf8(body)
        .ok()
        .and_then(|text| serde_json::from_str(text).ok())
    {
        return Ok(request);
    }
    let mut reader = serde_json::Deserializer::from_slice(body);
    let request: T = serde_path_to_error::deserialize(&mut reader).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        }
    })?;
    reader
        .end()
        .map_err(|err| format!("trailing data: {err}"))?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use serde_json::value::RawValue;

    use super::RawText;

    /// A body that is not UTF-8 is refused, with serde's words and the
    /// path, whatever the fast reading does first; one that is, with text
    /// beyond ASCII in a borrowed value, is read whole.
    #[test]
    fn a_body_that_is_not_utf8_is_refused_and_one_that_is_read() {
        #[derive(serde::Deserialize, Debug)]
        struct Body<'a> {
            #[serde(borrow)]
            texts: Vec<&'a RawValue>,
        }
        let refused = super::read_request::<Body>(b"{\"texts\": [\"ok\", \"caf\xc3\"]}");
        let error = refused.unwrap_err();
        assert!(error.starts_with("texts[1]: "), "{error}");
        assert!(error.contains("invalid unicode code point"), "{error}");
        let read =
            super::read_request::<Body>("{\"texts\": [\"caf\u{e9}\", 5]}".as_bytes()).unwrap();
        assert_eq!(read.texts[0].get(), "\"caf\u{e9}\"");
        assert_eq!(read.texts[1].get(), "5");
    }

    #[test]
    fn a_raw_text_is_written_as_read_and_refuses_what_is_not_a_string() {
        let json = r#""line one\nsays \"hi\" \u00e9""#;
        let text: RawText = serde_json::from_str(json).unwrap();
        assert_eq!(text.text(), "line one\nsays \"hi\" é");
        assert_eq!(serde_json::to_string(&text.json()).unwrap(), json);
        assert!(!text.is_empty());
        assert!(serde_json::from_str::<RawText>(r#""""#).unwrap().is_empty());
        for (json, expected) in [
            ("5", "invalid type: integer `5`, expected a string"),
            (
                "-1.5",
                "invalid type: floating point `-1.5`, expected a string",
            ),
            ("true", "invalid type: boolean `true`, expected a string"),
            ("[]", "invalid type: sequence, expected a string"),
        ] {
            let refused = serde_json::from_str::<RawText>(json)
                .unwrap_err()
                .to_string();
            let typed = serde_json::from_str::<String>(json)
                .unwrap_err()
                .to_string();
            assert!(refused.starts_with(expected), "{refused}");
            // The same words as a typed read gives.
            assert!(typed.starts_with(expected), "{typed}");
        }
    }

    #[test]
    fn literals_join_from_their_escaped_content() {
        let literal = |json: &str| -> Cow<RawValue> {
            Cow::Owned(serde_json::from_str::<Box<RawValue>>(json).unwrap())
        };
        let texts = [
            literal(r#""a \"quoted\" line\n""#),
            literal(r#""""#),
            literal(r#""\u00e9\\""#),
        ];
        let joined = RawText::join(&texts, r"\n\n");
        let text: String = serde_json::from_str(joined.get()).unwrap();
        assert_eq!(text, "a \"quoted\" line\n\n\n\n\né\\");
        let one = RawText::join(&texts[..1], r"\n\n");
        assert_eq!(one.get(), texts[0].get());
        assert_eq!(RawText::join(&[], "").get(), r#""""#);
        // A lone surrogate, which serde refuses to read into a `str`.
        let lone: RawText = serde_json::from_str(r#""a\ud800b \ud83d\ude00""#).unwrap();
        assert_eq!(lone.text(), "a\u{fffd}b \u{1f600}");
        let made = RawText::from_text("tab\t \"é\"");
        assert_eq!(made.text(), "tab\t \"é\"");
        assert_eq!(made.inner(), r#"tab\t \"é\""#);
    }
}

/// What the client asked that a target is not sent, where the field
/// tables leave the decision to the provider rules (`translate::fields`'
/// planned rows), or what the rules removed of what a row carries
/// ([`Withheld::Removed`]): the answer names it as dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Withheld {
    /// Cache breakpoints (`cache_control`).
    CacheMarks,
    /// A thinking budget (`thinking.budget_tokens`).
    ThinkingBudget,
    /// A `max` effort the model refuses, sent as the highest it takes.
    MaxEffort,
    /// What the client asked of thinking (a switch, an effort, a budget),
    /// which the target cannot be told: a model told only by an effort,
    /// over a transport whose body has no place for one.
    Thinking,
    /// Messages' `context_management` (Anthropic's beta).
    ContextManagement,
    /// Messages' `output_config`.
    OutputConfig,
    /// Messages' server tools (a `type` and no `input_schema`).
    ServerTools,
    /// Messages tools' `defer_loading`: the deferred tools sent loaded.
    DeferredTools,
    /// Messages' `tool_reference` blocks in tool results: each sent as a
    /// text block naming its tool.
    ToolReferences,
    /// A member of the client's body that the target is sent written anew
    /// (a Messages client's `thinking` and `tool_choice`; the
    /// `stream_options` of a request not streamed): the members the API
    /// does not give it, which the client's held, are not sent.
    WrittenAnew(&'static str),
    /// What a rule removed, by the name the header and the log give it (a
    /// member a model fixes, `temperature`; the tools a choice narrowed
    /// away; a `params` member the body has no place for).
    Removed(std::borrow::Cow<'static, str>),
}

impl Withheld {
    /// The name of what a rule removed, for the header and the log.
    pub fn removed(&self) -> Option<&str> {
        match self {
            Withheld::Removed(name) => Some(name),
            _ => None,
        }
    }
}

/// The API a request came in on (its front end).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Front {
    /// `POST /v1/chat/completions`.
    #[default]
    Chat,
    /// `POST /v1/messages`.
    Messages,
    /// `POST /v1/responses`.
    Responses,
}

impl Front {
    /// Every front end, in the order the docs list them: where a list of
    /// them is needed, it is this one.
    pub const ALL: [Front; 3] = [Front::Chat, Front::Messages, Front::Responses];

    /// Its short name (`clawgate explain --api`, the golden fixtures).
    pub fn name(self) -> &'static str {
        match self {
            Front::Chat => "chat",
            Front::Messages => "messages",
            Front::Responses => "responses",
        }
    }
}

/// The most unknown members a request keeps, to name in the log: enough to
/// show what a client sends, and each key is compared only with those, so
/// a body of many thousand distinct keys is read in linear time.
pub const MAX_UNKNOWN: usize = 32;

/// A name of the client's (a member's, a tool type's) as kept to name in
/// the log and `x-clawgate-dropped`: its first 128 characters, an ellipsis
/// for the rest, so what a request holds of them is bounded whatever the
/// body says.
pub fn client_name(name: &str) -> Box<str> {
    match name.char_indices().nth(128) {
        Some((end, _)) => format!("{}…", &name[..end]).into(),
        None => name.into(),
    }
}

/// The documented fields, blocks and tool types a client's request holds,
/// as rows of its front end's table (`translate::fields`), and the
/// top-level members that table does not know: noted while the request
/// is read, so the fate of each is decided once the answering target is
/// known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    pub front: Front,
    /// Bit `i` set: row `i` of the front end's table is present.
    rows: u128,
    /// Members no row names, as the client spelt them: top-level ones, a
    /// chat message's (`messages[].key`) and content part's
    /// (`messages[].content[text].key`), a Messages content block's
    /// (`messages[].content[text].key`), client tool's (`tools[].key`)
    /// and `thinking`'s, `tool_choice`'s or `metadata`'s
    /// (`thinking.key`), a Responses input item's (`input[message].key`);
    /// and a system prompt's part or block that is not text
    /// (`messages[system].content[image_url]`, `system[image]`).
    unknown: Vec<Box<str>>,
    /// The types of the server tools (Messages' `web_search_20250305`, ...),
    /// as the client spelt them: what the answer names when they go.
    server_tools: Option<std::sync::Arc<[Box<str>]>>,
}

impl Seen {
    pub fn new(front: Front) -> Self {
        Self {
            front,
            ..Self::default()
        }
    }

    /// Notes row `row` of the front end's table.
    pub fn mark(&mut self, row: u8) {
        self.rows |= 1 << row;
    }

    /// Notes every row of `rows` (bits, as [`Self::rows`] gives them).
    pub fn mark_all(&mut self, rows: u128) {
        self.rows |= rows;
    }

    pub fn has(&self, row: usize) -> bool {
        row < 128 && self.rows & (1 << row) != 0
    }

    pub fn rows(&self) -> u128 {
        self.rows
    }

    /// Notes the types of the request's server tools.
    pub fn server_tools(&mut self, types: std::sync::Arc<[Box<str>]>) {
        self.server_tools = (!types.is_empty()).then_some(types);
    }

    /// The types of the request's server tools, if it has any.
    pub fn server_tool_types(&self) -> &[Box<str>] {
        self.server_tools.as_deref().unwrap_or_default()
    }

    /// Notes a member no row names (once each, the first
    /// [`MAX_UNKNOWN`]).
    pub fn unknown_member(&mut self, key: &str) {
        if self.unknown.len() < MAX_UNKNOWN {
            let key = client_name(key);
            if !self.unknown.contains(&key) {
                self.unknown.push(key);
            }
        }
    }

    pub fn unknown(&self) -> &[Box<str>] {
        &self.unknown
    }
}
