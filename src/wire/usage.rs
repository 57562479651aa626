//! The one reader of an OpenAI usage object, whatever carries it: a whole
//! completion, a stream chunk read as a tree, or a chunk read through
//! borrowed views ([`ChunkView`]).
//!
//! The convention for cached tokens is OpenAI's: `prompt_tokens` counts
//! every prompt token, and the cache's share of them is said inside it
//! (`prompt_tokens_details.cached_tokens` read from the cache, Moonshot's
//! top-level `cached_tokens` the same; `cache_write_tokens` written to it,
//! as OpenRouter and the Anthropic transport's reading say it). So
//! [`Usage::input`] includes [`Usage::cache_read`] and
//! [`Usage::cache_written`]; a format that counts them apart (Anthropic's)
//! subtracts them when it writes ([`Usage::uncached_input`]).

use serde::Serialize;
use serde_json::{Map, Value};

use super::chunk::ChunkView;

/// What a usage object says, in the convention above. A usage without
/// both `prompt_tokens` and `completion_tokens` as counts is not read: it
/// says nothing a price or a budget could use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_written: Option<u64>,
    /// `total_tokens`, or input and output when it is not said.
    pub total: u64,
    /// Of the output, the reasoning's tokens
    /// (`completion_tokens_details.reasoning_tokens`), when said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<u64>,
    /// The cost the provider reported (`usage.cost`, OpenRouter's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
}

/// A token count as a provider writes it: a whole number, also written
/// as a float (`100.0`); `None` for anything else (negative, fractional,
/// not a number, past 2^53 as a float).
pub fn count(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        let float = value.as_f64()?;
        let whole = float >= 0.0 && float.fract() == 0.0 && float <= 9_007_199_254_740_992.0;
        whole.then_some(float as u64)
    })
}

impl Usage {
    /// The usage object itself. A count that is not a whole number
    /// ([`count`]) is not said.
    pub fn read(usage: &Map<String, Value>) -> Option<Self> {
        let detail = |outer: &str, key: &str| count(usage.get(outer)?.get(key)?);
        let count = |key: &str| usage.get(key).and_then(count);
        let (input, output) = (count("prompt_tokens")?, count("completion_tokens")?);
        // Cache reads and writes are part of the input, reasoning of the
        // output: a count past what is left of its whole is taken as that.
        let cache_read = (detail("prompt_tokens_details", "cached_tokens"))
            .or_else(|| count("cached_tokens"))
            .map(|cached| cached.min(input));
        let unread = input - cache_read.unwrap_or(0);
        Some(Self {
            input,
            output,
            cache_read,
            cache_written: (detail("prompt_tokens_details", "cache_write_tokens"))
                .map(|written| written.min(unread)),
            total: count("total_tokens").unwrap_or(input.saturating_add(output)),
            reasoning: (detail("completion_tokens_details", "reasoning_tokens"))
                .map(|reasoning| reasoning.min(output)),
            cost: usage.get("cost").and_then(Value::as_f64),
        })
    }

    /// The usage of a completion or stream chunk: its top-level `usage`,
    /// or Moonshot's place for it in a stream, `choices[0].usage`.
    pub fn of(response: &Map<String, Value>) -> Option<Self> {
        let first_choice = || response.get("choices")?.get(0)?.get("usage");
        match response.get("usage") {
            Some(Value::Object(usage)) => Self::read(usage),
            _ => match first_choice() {
                Some(Value::Object(usage)) => Self::read(usage),
                _ => None,
            },
        }
    }

    /// [`Usage::of`] a chunk read through views: only its usage object is
    /// read as a tree, a few dozen bytes once a stream.
    pub(crate) fn in_chunk(chunk: &ChunkView<'_>) -> Option<Self> {
        let first_choice = || chunk.choices.as_ref()?.first()?.usage;
        let object =
            |raw: &serde_json::value::RawValue| match serde_json::from_str::<Value>(raw.get()) {
                Ok(Value::Object(usage)) => Some(usage),
                _ => None,
            };
        match chunk.usage.and_then(object) {
            Some(usage) => Self::read(&usage),
            None => Self::read(&first_choice().and_then(object)?),
        }
    }

    /// The prompt tokens neither read from nor written to the cache, as
    /// a format that counts those apart says `input_tokens`.
    pub fn uncached_input(&self) -> u64 {
        self.input
            .saturating_sub(self.cache_read.unwrap_or(0))
            .saturating_sub(self.cache_written.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read_both_ways(chunk: &Value) -> Option<Usage> {
        let text = chunk.to_string();
        let view = ChunkView::read(&text).expect("a chunk");
        let through_views = Usage::in_chunk(&view);
        assert_eq!(
            Usage::of(chunk.as_object().unwrap()),
            through_views,
            "{chunk}"
        );
        through_views
    }

    #[test]
    fn usage_is_read_at_the_top_or_in_the_first_choice() {
        let top = json!({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3,
            "prompt_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 2},
            "completion_tokens_details": {"reasoning_tokens": 1}, "cost": 0.5}});
        assert_eq!(
            read_both_ways(&top),
            Some(Usage {
                input: 9,
                output: 3,
                cache_read: Some(4),
                cache_written: Some(2),
                total: 12,
                reasoning: Some(1),
                cost: Some(0.5),
            })
        );
        let moonshot = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop",
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 8,
                      "cached_tokens": 3}}]});
        let read = read_both_ways(&moonshot).unwrap();
        assert_eq!((read.input, read.cache_read, read.total), (5, Some(3), 8));
        assert_eq!(read.uncached_input(), 2);
        // A part past its whole is taken as the whole.
        let past = json!({"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 500, "cache_write_tokens": 99},
            "completion_tokens_details": {"reasoning_tokens": 50}, "cached_tokens": 999_999}});
        let read = read_both_ways(&past).unwrap();
        assert_eq!(
            (read.cache_read, read.cache_written, read.reasoning),
            (Some(10), Some(0), Some(5))
        );
    }

    #[test]
    fn a_usage_that_does_not_count_both_sides_is_not_read() {
        for usage in [
            json!({"prompt_tokens": 5}),
            json!({"completion_tokens": 5}),
            json!({"prompt_tokens": "5", "completion_tokens": 1}),
            json!({"prompt_tokens": -1, "completion_tokens": 1}),
            json!({"prompt_tokens": 1.5, "completion_tokens": 1}),
        ] {
            assert_eq!(read_both_ways(&json!({"usage": usage})), None, "{usage}");
        }
        for chunk in [
            json!({"usage": null}),
            json!({"usage": [1, 2]}),
            json!({"choices": [{"usage": "none"}]}),
            json!({"choices": []}),
        ] {
            assert_eq!(read_both_ways(&chunk), None, "{chunk}");
        }
    }

    /// A count written as a whole float is that count (some providers
    /// write `100.0`); one negative, fractional or past a float's whole
    /// numbers is none.
    #[test]
    fn counts_are_whole_numbers_however_written() {
        let cases = [
            (json!(100), Some(100)),
            (json!(100.0), Some(100)),
            (json!(0.0), Some(0)),
            (json!(1.5), None),
            (json!(-1), None),
            (json!(-1.0), None),
            (json!(1e300), None),
            (json!("100"), None),
            (json!(null), None),
        ];
        for (value, expected) in cases {
            assert_eq!(count(&value), expected, "{value}");
        }
        let usage = json!({"prompt_tokens": 50.0, "completion_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 10.0}});
        let read = Usage::read(usage.as_object().unwrap()).unwrap();
        assert_eq!(
            (read.input, read.output, read.cache_read),
            (50, 7, Some(10))
        );
    }

    #[test]
    fn a_top_level_usage_that_is_no_object_leaves_the_first_choice_read() {
        let chunk = json!({"usage": null, "choices": [{"usage":
            {"prompt_tokens": 5, "completion_tokens": 2}}]});
        assert_eq!(read_both_ways(&chunk).map(|u| u.total), Some(7));
    }

    #[test]
    fn cache_shares_are_taken_from_the_input_not_below_zero() {
        let usage = Usage {
            input: 3,
            cache_read: Some(2),
            cache_written: Some(5),
            ..Usage::default()
        };
        assert_eq!(usage.uncached_input(), 0);
    }
}
