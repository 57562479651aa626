//! A chat-completion stream chunk read through borrowed views of its text:
//! what the assembly of a whole answer and the check of a stream's first
//! event read, without a `serde_json::Value` tree.

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
