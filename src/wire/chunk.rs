//! A chat-completion stream chunk read through borrowed views of its text:
//! what the assembly of a whole answer and the check of a stream's first
//! event read, without a `serde_json::Value` tree; and the members the
//! views leave unread ([`unread`]), which a whole answer carries.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// The string `raw` holds, unescaped (borrowed when it has no escapes);
/// `None` when absent or not a string, as a tree's `as_str` would say.
pub(crate) fn text(raw: Option<&RawValue>) -> Option<Cow<'_, str>> {
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    serde_json::from_str::<Text>(raw?.get()).ok().map(|t| t.0)
}

/// The unsigned integer `raw` holds; `None` when absent or not one.
pub(crate) fn number(raw: Option<&RawValue>) -> Option<u64> {
    serde_json::from_str(raw?.get()).ok()
}

/// One chunk: its structure typed, its values borrowed from the event's
/// text (read when they are used, kept as text otherwise), so that reading
/// a chunk builds no tree. A value of an unexpected type is ignored, as in
/// a tree.
#[derive(Deserialize)]
pub(crate) struct ChunkView<'a> {
    #[serde(borrow, default)]
    pub(crate) id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) created: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) model: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) system_fingerprint: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) usage: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) error: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) choices: Option<Vec<ChoiceView<'a>>>,
}

impl<'a> ChunkView<'a> {
    /// The chunk that `data` is, if it is a JSON object of this shape
    /// (serde would also read a pub(crate) struct from an array).
    pub(crate) fn read(data: &'a str) -> Option<Self> {
        data.starts_with('{')
            .then(|| serde_json::from_str(data).ok())
            .flatten()
    }

    /// Whether the chunk carries usage: top-level, or in its first choice
    /// (Moonshot's place for it).
    pub(crate) fn has_usage(&self) -> bool {
        self.usage.is_some()
            || (self.choices.as_ref())
                .and_then(|choices| choices.first())
                .is_some_and(|choice| choice.usage.is_some())
    }

    /// Whether a choice of the chunk makes a tool call: a delta with a
    /// list of calls that is not empty.
    pub(crate) fn makes_calls(&self) -> bool {
        (self.choices.iter().flatten()).any(|choice| {
            (choice.delta.as_ref())
                .and_then(|delta| delta.tool_calls.as_ref())
                .is_some_and(|calls| !calls.is_empty())
        })
    }

    /// Whether the chunk has nothing that shaping changes (usage, the
    /// reasoning aliases, a `filtered` ending), also where it is spelt with
    /// escapes that [`crate::providers::response::may_need_shaping`] does
    /// not see.
    pub(crate) fn plain(&self) -> bool {
        !self.has_usage()
            && self.choices.iter().flatten().all(|choice| {
                text(choice.finish_reason).as_deref() != Some("filtered")
                    && (choice.delta.as_ref()).is_none_or(|delta| {
                        delta.reasoning.is_none() && delta.reasoning_details.is_none()
                    })
            })
    }
}

#[derive(Deserialize)]
pub(crate) struct ChoiceView<'a> {
    #[serde(borrow, default)]
    pub(crate) index: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) usage: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) finish_reason: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) logprobs: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) delta: Option<DeltaView<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct DeltaView<'a> {
    #[serde(borrow, default)]
    pub(crate) role: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) content: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) refusal: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) annotations: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) reasoning_content: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) reasoning: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) reasoning_details: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) tool_calls: Option<Vec<CallView<'a>>>,
    /// OpenAI's spoken answer: `data` and `transcript` in pieces.
    #[serde(borrow, default)]
    pub(crate) audio: Option<&'a RawValue>,
    /// OpenRouter's images made by the model, each whole.
    #[serde(borrow, default)]
    pub(crate) images: Option<&'a RawValue>,
}

#[derive(Deserialize)]
pub(crate) struct CallView<'a> {
    #[serde(borrow, default)]
    pub(crate) index: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) function: Option<FunctionView<'a>>,
    /// A custom tool's call (OpenAI's free-form tools): its `name`, and
    /// its `input` in pieces.
    #[serde(borrow, default)]
    pub(crate) custom: Option<CustomView<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct CustomView<'a> {
    #[serde(borrow, default)]
    pub(crate) name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) input: Option<&'a RawValue>,
}

#[derive(Deserialize)]
pub(crate) struct FunctionView<'a> {
    #[serde(borrow, default)]
    pub(crate) name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(crate) arguments: Option<&'a RawValue>,
}

/// The members each view above reads, with `object` (which an answer says
/// anew): of a chunk, of a choice, of a delta.
const READ: [&[&str]; 3] = [
    &[
        "id",
        "object",
        "created",
        "model",
        "system_fingerprint",
        "usage",
        "error",
        "choices",
    ],
    &["index", "usage", "finish_reason", "logprobs", "delta"],
    &[
        "role",
        "content",
        "refusal",
        "annotations",
        "reasoning_content",
        "reasoning",
        "reasoning_details",
        "tool_calls",
        "audio",
        "images",
    ],
];

/// Where an unread member is: in the chunk, or in the choice of an index,
/// or in that choice's delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Chunk,
    Choice(u64),
    Delta(u64),
}

/// A member found by [`unread`]: where, its key, its value as written.
pub(crate) type Found<'a> = (Place, Cow<'a, str>, &'a RawValue);

/// Each member of chunk `data` the views do not read (a provider's own:
/// OpenRouter's `provider`, a choice's `native_finish_reason`), walked
/// without building anything for the others; nothing when `data` is not
/// a chunk of that shape.
pub(crate) fn unread(data: &str) -> Vec<Found<'_>> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    #[derive(Deserialize)]
    struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

    /// The object at `level` of [`READ`] (0, 1, 2) of choice `index`
    /// (read from it at level 1), its unread members added to `found`.
    struct Object<'f, 'a> {
        level: usize,
        index: u64,
        found: &'f mut Vec<Found<'a>>,
    }

    impl<'de> DeserializeSeed<'de> for Object<'_, 'de> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Object<'_, 'de> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
            // Its own members and its delta's are placed once the object
            // ends: a choice's index may come after its delta.
            let (mut own, mut delta) = (Vec::new(), Vec::new());
            let mut index = self.index;
            while let Some(Key(key)) = map.next_key()? {
                match (self.level, &*key) {
                    (0, "choices") => map.next_value_seed(Choices(self.found))?,
                    (1, "delta") => map.next_value_seed(Object {
                        level: 2,
                        index: 0,
                        found: &mut delta,
                    })?,
                    (1, "index") => index = number(Some(map.next_value()?)).unwrap_or(0),
                    (level, key) if READ[level].contains(&key) => {
                        map.next_value::<IgnoredAny>()?;
                    }
                    (_, _) => own.push((Place::Chunk, key, map.next_value()?)),
                }
            }
            let place = match self.level {
                0 => Place::Chunk,
                1 => Place::Choice(index),
                _ => Place::Delta(self.index),
            };
            let delta = delta
                .into_iter()
                .map(|(_, key, raw)| (Place::Delta(index), key, raw));
            let own = own.into_iter().map(|(_, key, raw)| (place, key, raw));
            self.found.extend(own.chain(delta));
            Ok(())
        }
    }

    /// A chunk's `choices`, each an [`Object`] at level 1.
    struct Choices<'f, 'a>(&'f mut Vec<Found<'a>>);

    impl<'de> DeserializeSeed<'de> for Choices<'_, 'de> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de> Visitor<'de> for Choices<'_, 'de> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of choices")
        }
        fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
            let Choices(found) = self;
            loop {
                let choice = Object {
                    level: 1,
                    index: 0,
                    found: &mut *found,
                };
                if seq.next_element_seed(choice)?.is_none() {
                    return Ok(());
                }
            }
        }
    }

    let mut found = Vec::new();
    let walk = Object {
        level: 0,
        index: 0,
        found: &mut found,
    };
    let mut reader = serde_json::Deserializer::from_str(data);
    match walk.deserialize(&mut reader) {
        Ok(()) => found,
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(data: &str) -> Vec<(Place, String, String)> {
        (unread(data).into_iter())
            .map(|(place, key, raw)| (place, key.into_owned(), raw.get().to_string()))
            .collect()
    }

    #[test]
    fn the_members_no_view_reads_are_found_where_they_are() {
        let data = r#"{"id":"c","provider":"P","choices":[
            {"delta":{"content":"x","extra":[1]},"native_finish_reason":null,"index":2},
            {"index":0,"delta":{"role":"assistant"}}],"object":"chat.completion.chunk","pro\u0076":1}"#;
        let each = |place, key: &str, raw: &str| (place, key.to_string(), raw.to_string());
        assert_eq!(
            found(data),
            [
                each(Place::Choice(2), "native_finish_reason", "null"),
                each(Place::Delta(2), "extra", "[1]"),
                each(Place::Chunk, "provider", r#""P""#),
                // A key written with an escape is read as it says.
                each(Place::Chunk, "prov", "1"),
            ]
        );
        // What the views read, or no chunk at all: nothing.
        assert!(found(r#"{"id":"c","choices":[{"index":0,"delta":{"content":"x"}}]}"#).is_empty());
        for other in ["[]", "not json", r#"{"choices":{}}"#, r#"{"choices":[1]}"#] {
            assert!(found(other).is_empty(), "{other}");
        }
    }
}
