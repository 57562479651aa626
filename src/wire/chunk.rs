//! A chat-completion stream chunk read through borrowed views of its text:
//! what the assembly of a whole answer and the check of a stream's first
//! event read, without a `serde_json::Value` tree; and the members the
//! views leave unread ([`unread`]), which a whole answer carries.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use smallvec::SmallVec;

/// The most choices a stream's answer may hold (the most `n` OpenAI
/// takes): each is held and assembled apart, so a provider's stream naming
/// more is refused, not held.
pub const MAX_CHOICES: u64 = 128;

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

/// Whether `value` says anything: absent, `null`, `""` and `[]` do not
/// (spaces aside); any other value does.
fn said(value: Option<&RawValue>) -> bool {
    value.is_some_and(|v| {
        let text = v.get().trim();
        let empty_array = (text.strip_prefix('['))
            .and_then(|inner| inner.strip_suffix(']'))
            .is_some_and(|inner| inner.trim().is_empty());
        !(text == "null" || text == "\"\"" || empty_array)
    })
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
    /// A chunk has one choice as a rule: read without an allocation.
    #[serde(borrow, default)]
    pub(crate) choices: Option<SmallVec<[ChoiceView<'a>; 1]>>,
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

    /// Whether the chunk adds to the answer: its usage, a tool call's
    /// piece, or a choice's ending, usage or log probabilities of a token,
    /// or a delta with text, a refusal, reasoning (`reasoning_content`,
    /// `reasoning` or its details), annotations, audio, images or a legacy
    /// `function_call`'s piece. A role alone, an empty delta (log
    /// probabilities of no token beside it, as OpenAI's first chunk may
    /// hold) or a chunk of no choice says nothing: before an answer starts
    /// it starts nothing, and after it (or while one is assembled), it is a
    /// keep-alive.
    pub(crate) fn says_something(&self) -> bool {
        #[derive(Deserialize)]
        struct Logprobs<'a> {
            #[serde(borrow, default)]
            content: Option<&'a RawValue>,
            #[serde(borrow, default)]
            refusal: Option<&'a RawValue>,
        }
        let of_a_token = |logprobs: Option<&RawValue>| {
            let logprobs = logprobs.filter(|raw| said(Some(raw)));
            logprobs.is_some_and(|raw| match serde_json::from_str::<Logprobs>(raw.get()) {
                Ok(logprobs) => said(logprobs.content) || said(logprobs.refusal),
                Err(_) => true,
            })
        };
        said(self.usage)
            || self.makes_calls()
            || self.choices.iter().flatten().any(|choice| {
                said(choice.finish_reason)
                    || said(choice.usage)
                    || of_a_token(choice.logprobs)
                    || choice.delta.as_ref().is_some_and(|d| {
                        [
                            d.content,
                            d.refusal,
                            d.reasoning_content,
                            d.reasoning,
                            d.reasoning_details,
                            d.annotations,
                            d.audio,
                            d.images,
                            d.function_call,
                        ]
                        .into_iter()
                        .any(said)
                    })
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
    /// The legacy function call (OpenAI's `functions`): its name, then its
    /// arguments in pieces.
    #[serde(borrow, default)]
    pub(crate) function_call: Option<&'a RawValue>,
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

/// The members the views above read of a chunk and of a choice, with
/// `object` (which an answer says anew). A delta's members are pieces of
/// one text or object, and not looked for.
const READ: [&[&str]; 2] = [
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
];

/// Where an unread member is: in the chunk, or in the choice of an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Chunk,
    Choice(u64),
}

/// A member found by [`unread`]: where, its key, its value as written.
pub(crate) type Found<'a> = (Place, Cow<'a, str>, &'a RawValue);

/// Each member of chunk `data`, and of its choices, that the views do not
/// read (a provider's own: OpenRouter's `provider`, a choice's
/// `native_finish_reason`), walked without building anything for the
/// others. A chunk, a `choices` or a choice of another shape has none.
pub(crate) fn unread(data: &str) -> Vec<Found<'_>> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    #[derive(Deserialize)]
    struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

    /// A value of another shape than the walk looks for adds nothing, and
    /// the walk goes on (one reader for the whole chunk: no allocation).
    macro_rules! other_shapes_add_nothing {
        () => {
            fn visit_unit<E>(self) -> Result<(), E> {
                Ok(())
            }
            fn visit_bool<E>(self, _: bool) -> Result<(), E> {
                Ok(())
            }
            fn visit_i64<E>(self, _: i64) -> Result<(), E> {
                Ok(())
            }
            fn visit_u64<E>(self, _: u64) -> Result<(), E> {
                Ok(())
            }
            fn visit_f64<E>(self, _: f64) -> Result<(), E> {
                Ok(())
            }
            fn visit_str<E>(self, _: &str) -> Result<(), E> {
                Ok(())
            }
        };
    }

    /// The chunk (`choice: false`), or one of its choices, its unread
    /// members added to `found`.
    struct Object<'f, 'a> {
        choice: bool,
        found: &'f mut Vec<Found<'a>>,
    }

    impl<'de> DeserializeSeed<'de> for Object<'_, 'de> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Object<'_, 'de> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        other_shapes_add_nothing!();
        fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(())
        }
        fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
            // A choice's members are placed once its index is known: it
            // may come after them.
            let mut own = Vec::new();
            let mut index = 0;
            while let Some(Key(key)) = map.next_key()? {
                match (self.choice, &*key) {
                    (false, "choices") => map.next_value_seed(Choices(self.found))?,
                    (true, "index") => index = number(Some(map.next_value()?)).unwrap_or(0),
                    (choice, key) if READ[usize::from(choice)].contains(&key) => {
                        map.next_value::<IgnoredAny>()?;
                    }
                    (_, _) => own.push((key, map.next_value()?)),
                }
            }
            let place = match self.choice {
                true => Place::Choice(index),
                false => Place::Chunk,
            };
            (self.found).extend(own.into_iter().map(|(key, raw)| (place, key, raw)));
            Ok(())
        }
    }

    /// A chunk's `choices`, each walked as an [`Object`].
    struct Choices<'f, 'a>(&'f mut Vec<Found<'a>>);

    impl<'de> DeserializeSeed<'de> for Choices<'_, 'de> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Choices<'_, 'de> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of choices")
        }
        other_shapes_add_nothing!();
        fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(())
        }
        fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
            let Choices(found) = self;
            loop {
                let choice = Object {
                    choice: true,
                    found: &mut *found,
                };
                if seq.next_element_seed(choice)?.is_none() {
                    return Ok(());
                }
            }
        }
    }

    let mut found = Vec::new();
    let chunk = Object {
        choice: false,
        found: &mut found,
    };
    let mut reader = serde_json::Deserializer::from_str(data);
    match chunk.deserialize(&mut reader) {
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
            {"index":0,"delta":{"role":"assistant"}}, null, 7,
            {"index":1,"delta":null,"own":true}],"object":"chat.completion.chunk","pro\u0076":1}"#;
        let each = |place, key: &str, raw: &str| (place, key.to_string(), raw.to_string());
        assert_eq!(
            found(data),
            [
                each(Place::Choice(2), "native_finish_reason", "null"),
                each(Place::Choice(1), "own", "true"),
                each(Place::Chunk, "provider", r#""P""#),
                // A key written with an escape is read as it says.
                each(Place::Chunk, "prov", "1"),
            ]
        );
        // What the views read, or no chunk at all: nothing; `choices` of
        // another shape, nothing of them.
        assert!(found(r#"{"id":"c","choices":[{"index":0,"delta":{"content":"x"}}]}"#).is_empty());
        for other in ["[]", "not json", r#"{"choices":{}}"#, r#"{"choices":[1]}"#] {
            assert!(found(other).is_empty(), "{other}");
        }
        let each = |key: &str, raw: &str| (Place::Chunk, key.to_string(), raw.to_string());
        assert_eq!(
            found(r#"{"choices":null,"provider":"P"}"#),
            [each("provider", r#""P""#)]
        );
    }
}
