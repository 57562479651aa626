//! Response shaping, one module for every dialect, streamed and not: what
//! the client gets is the OpenAI shape whichever provider answered.
//!
//! - Reasoning arrives as `reasoning_content` (message and delta), also when
//!   the provider says `reasoning` or `reasoning_details` (OpenRouter).
//! - Usage is top-level (Moonshot streams it inside `choices[0]`), counted
//!   once (some models send it twice), with cache hits also in
//!   `prompt_tokens_details.cached_tokens` (where OpenAI clients, OpenClaw
//!   included, read them; Moonshot reports `cached_tokens`), and `cost` in
//!   USD from the model's prices when they are known.
//!
//! - A content filter's ending is OpenAI's `content_filter`, also when the
//!   provider says `filtered` (Kimi K3 mid-stream, kimi-code #1952).
//!
//! Pure: no I/O; chunks that cannot need shaping are never parsed (see
//! [`may_need_shaping`]), and the usage chunk that ends most streams is
//! shaped over its bytes ([`shape_usage_chunk`]), not through a tree.

use std::fmt::Write as _;
use std::sync::LazyLock;

use memchr::memmem::Finder;
use serde_json::{Map, Value, json};

use crate::config::Cost;
use crate::ledger::price_usd;
use crate::wire::body::{Member, members_into};

/// What shaping one stream remembers from event to event.
#[derive(Debug, Default)]
pub struct StreamShaping {
    usage_sent: bool,
    /// The client did not ask for usage: the gateway asked for itself.
    hide_usage: bool,
}

impl StreamShaping {
    pub fn new(client_wants_usage: bool) -> Self {
        Self {
            usage_sent: false,
            hide_usage: !client_wants_usage,
        }
    }
}

/// What [`may_need_shaping`] looks for, the usage key first; searchers
/// built once (measured: 29 ns a chunk, where four `str::contains` took 39
/// and one pass over the quotes 125).
static WORDS: LazyLock<[Finder<'static>; 4]> = LazyLock::new(|| {
    [
        Finder::new(b"\"usage\""),
        Finder::new(b"\"filtered\""),
        Finder::new(b"\"reasoning\""),
        Finder::new(b"\"reasoning_details\""),
    ]
});

/// Whether a chunk's text may need shaping; the others pass as bytes.
pub fn may_need_shaping(data: &str) -> bool {
    WORDS
        .iter()
        .any(|word| word.find(data.as_bytes()).is_some())
}

/// Whether a chunk's text mentions the `usage` key (the access record
/// reads only those chunks).
pub fn mentions_usage(data: &str) -> bool {
    WORDS[0].find(data.as_bytes()).is_some()
}

/// What [`shape_usage_chunk`] made of a chunk.
#[derive(Debug, PartialEq, Eq)]
pub enum UsageChunk {
    /// Nothing for the client: the usage was sent already, or the client
    /// did not ask for it.
    Skip,
    /// The chunk with `addition` written just before byte `at`, the usage
    /// object's closing brace (`addition` may be empty).
    Add { at: usize, addition: String },
}

/// The commonest chunk to shape, the usage chunk that ends a stream
/// (`"choices": []`, the usage at the top, its counts plain integers),
/// shaped over its bytes: what [`shape_chunk`] does to it, without a tree.
/// `members` are the chunk's (`data`'s) top-level members. `None`, with
/// `state` untouched, for any other chunk: [`shape_chunk`] shapes those.
pub fn shape_usage_chunk(
    data: &str,
    members: &[Member],
    cost: Option<&Cost>,
    state: &mut StreamShaping,
) -> Option<UsageChunk> {
    let (_usage, others) = WORDS.split_first().expect("the usage word first");
    if others
        .iter()
        .any(|word| word.find(data.as_bytes()).is_some())
    {
        return None;
    }
    if let Some(choices) = last(members, "choices") {
        let text = &data[choices];
        let inside = text.strip_prefix('[')?.strip_suffix(']')?;
        if !inside.trim_ascii().is_empty() {
            return None;
        }
    }
    let usage = last(members, "usage")?;
    let text = &data[usage.clone()];
    if !text.starts_with('{') {
        return None;
    }
    let close = usage.start + text.rfind('}')?;
    if state.usage_sent || state.hide_usage {
        state.usage_sent = true;
        return Some(UsageChunk::Skip);
    }
    let mut inner = Vec::new();
    members_into(text.as_bytes(), &mut inner).ok()?;
    let prompt = count(&inner, text, "prompt_tokens")?;
    let completion = count(&inner, text, "completion_tokens")?;
    let total = count(&inner, text, "total_tokens")?;
    let (cached, written, add_details) = match last(&inner, "prompt_tokens_details") {
        Some(details) => {
            // Only the details that hold the cached count already: into
            // any other object the tree would write it.
            let details = &text[details];
            if !details.starts_with('{') {
                return None;
            }
            let mut members = Vec::new();
            members_into(details.as_bytes(), &mut members).ok()?;
            let cached = count(&members, details, "cached_tokens")??;
            let written = count(&members, details, "cache_write_tokens")?;
            (Some(cached), written, false)
        }
        None => {
            let cached = count(&inner, text, "cached_tokens")?;
            (cached, None, cached.is_some())
        }
    };
    state.usage_sent = true;
    let (prompt, completion) = (prompt.unwrap_or(0), completion.unwrap_or(0));
    // The members written after the usage's own, one comma before each
    // but a first in an empty object.
    let mut addition = String::new();
    let comma = |addition: &str| {
        if inner.is_empty() && addition.is_empty() {
            ""
        } else {
            ","
        }
    };
    if total.is_none() {
        let (comma, total) = (comma(&addition), prompt.saturating_add(completion));
        let _ = write!(addition, "{comma}\"total_tokens\":{total}");
    }
    if let (true, Some(cached)) = (add_details, cached) {
        let comma = comma(&addition);
        let _ = write!(
            addition,
            "{comma}\"prompt_tokens_details\":{{\"cached_tokens\":{cached}}}"
        );
    }
    let (cached, written) = (cached.unwrap_or(0), written.unwrap_or(0));
    if let Some(usd) = price_usd(cost, prompt, cached, written, completion)
        && last(&inner, "cost").is_none()
    {
        let (comma, usd) = (comma(&addition), json!(usd));
        let _ = write!(addition, "{comma}\"cost\":{usd}");
    }
    Some(UsageChunk::Add {
        at: close,
        addition,
    })
}

/// Where the value of the member `key` that serde_json reads lies.
fn last(members: &[Member], key: &str) -> Option<std::ops::Range<usize>> {
    Member::last(members, key).map(|m| m.value.clone())
}

/// The count `key` in the object `text` (whose members are `members`) as
/// `Value::as_u64` reads it: `Some(None)` when there is none, `None` when
/// it is one `as_u64` would not read (a fraction, a sign, a string), which
/// the tree path decides.
fn count(members: &[Member], text: &str, key: &str) -> Option<Option<u64>> {
    let Some(value) = last(members, key) else {
        return Some(None);
    };
    let digits = &text[value];
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(Some)
}

/// Shapes one streamed chunk; `false` when it is to be dropped (a repeated
/// usage chunk with nothing else in it).
pub fn shape_chunk(
    chunk: &mut Map<String, Value>,
    cost: Option<&Cost>,
    state: &mut StreamShaping,
) -> bool {
    for choice in choices(chunk) {
        if let Some(Value::Object(delta)) = choice.get_mut("delta") {
            reasoning_as_content(delta);
        }
        filter_ending(choice);
    }
    let nested = first_choice_usage(chunk);
    let usage = match (chunk.remove("usage"), nested) {
        (Some(Value::Object(usage)), _) | (_, Some(usage)) => Some(usage),
        _ => None,
    };
    let Some(mut usage) = usage else {
        return true;
    };
    if state.usage_sent || state.hide_usage {
        // Counted once, and shown only to a client that asked: otherwise
        // the chunk keeps whatever else it carries, and is dropped when it
        // carries nothing else.
        state.usage_sent = true;
        return choices(chunk).any(carries_something);
    }
    state.usage_sent = true;
    normalize_usage(&mut usage, cost);
    chunk.insert("usage".into(), Value::Object(usage));
    true
}

/// `finish_reason: "filtered"` as OpenAI's `content_filter`.
fn filter_ending(choice: &mut Map<String, Value>) {
    if choice.get("finish_reason") == Some(&json!("filtered")) {
        choice.insert("finish_reason".into(), json!("content_filter"));
    }
}

/// Shapes a whole (non-streamed) completion.
pub fn shape_completion(body: &mut Map<String, Value>, cost: Option<&Cost>) {
    for choice in choices(body) {
        if let Some(Value::Object(message)) = choice.get_mut("message") {
            reasoning_as_content(message);
        }
        filter_ending(choice);
    }
    let nested = first_choice_usage(body);
    let usage = match (body.remove("usage"), nested) {
        (Some(Value::Object(usage)), _) | (_, Some(usage)) => Some(usage),
        (Some(other), None) => {
            body.insert("usage".into(), other);
            None
        }
        (None, None) => None,
    };
    if let Some(mut usage) = usage {
        normalize_usage(&mut usage, cost);
        body.insert("usage".into(), Value::Object(usage));
    }
}

/// Whether a streamed choice says anything: a delta with content, or a
/// finish reason.
fn carries_something(choice: &mut Map<String, Value>) -> bool {
    let delta = choice
        .get("delta")
        .and_then(Value::as_object)
        .is_some_and(|d| d.iter().any(|(_, v)| !v.is_null() && *v != json!("")));
    let finish = choice.get("finish_reason").is_some_and(|f| !f.is_null());
    delta || finish
}

fn choices(body: &mut Map<String, Value>) -> impl Iterator<Item = &mut Map<String, Value>> {
    body.get_mut("choices")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

/// Moonshot's usage inside the first choice, taken out of it.
fn first_choice_usage(body: &mut Map<String, Value>) -> Option<Map<String, Value>> {
    let choice = body.get_mut("choices")?.get_mut(0)?.as_object_mut()?;
    match choice.remove("usage")? {
        Value::Object(usage) => Some(usage),
        _ => None,
    }
}

/// `reasoning` (or the text of `reasoning_details`) as `reasoning_content`.
fn reasoning_as_content(message: &mut Map<String, Value>) {
    if message.contains_key("reasoning_content") {
        message.remove("reasoning");
        return;
    }
    let text = match message.remove("reasoning") {
        Some(Value::String(text)) => Some(text),
        _ => message
            .get("reasoning_details")
            .and_then(Value::as_array)
            .map(|details| {
                details
                    .iter()
                    .filter_map(|d| d.get("text").and_then(Value::as_str))
                    .collect::<String>()
            })
            .filter(|text| !text.is_empty()),
    };
    if let Some(text) = text {
        message.insert("reasoning_content".into(), json!(text));
    }
}

/// The usage rules. [`shape_usage_chunk`] applies the same ones over a
/// chunk's bytes: a change to one is a change to both (the property test
/// `the_byte_path_shapes_usage_as_the_tree_does` compares them).
fn normalize_usage(usage: &mut Map<String, Value>, cost: Option<&Cost>) {
    let number = |usage: &Map<String, Value>, key: &str| usage.get(key).and_then(Value::as_u64);
    let prompt = number(usage, "prompt_tokens").unwrap_or(0);
    let completion = number(usage, "completion_tokens").unwrap_or(0);
    let details = |key: &str| {
        usage
            .get("prompt_tokens_details")
            .and_then(|d| d.get(key))
            .and_then(Value::as_u64)
    };
    let cached = details("cached_tokens").or_else(|| number(usage, "cached_tokens"));
    let written = details("cache_write_tokens").unwrap_or(0);
    if number(usage, "total_tokens").is_none() {
        usage.insert(
            "total_tokens".into(),
            json!(prompt.saturating_add(completion)),
        );
    }
    if let Some(cached) = cached {
        let details = usage
            .entry("prompt_tokens_details")
            .or_insert_with(|| json!({}));
        if let Value::Object(details) = details {
            details.insert("cached_tokens".into(), json!(cached));
        }
    }
    if let Some(usd) = price_usd(cost, prompt, cached.unwrap_or(0), written, completion)
        && !usage.contains_key("cost")
    {
        usage.insert("cost".into(), json!(usd));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K2_6: Cost = Cost {
        input: 0.95,
        output: 4.0,
        cache_read: 0.16,
        cache_write: 0.0,
    };

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("an object"),
        }
    }

    #[test]
    fn moonshot_usage_moves_up_gets_cached_tokens_and_a_cost_and_counts_once() {
        let mut state = StreamShaping::new(true);
        let mut chunk = object(
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop",
            "usage": {"prompt_tokens": 1_000_000, "completion_tokens": 100_000, "total_tokens": 1_100_000, "cached_tokens": 400_000}}]}),
        );
        assert!(shape_chunk(&mut chunk, Some(&K2_6), &mut state));
        let usage = &chunk["usage"];
        assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 400_000);
        // 600k fresh at 0.95, 400k cached at 0.16, 100k out at 4.00.
        let cost = usage["cost"].as_f64().unwrap();
        assert!((cost - (0.57 + 0.064 + 0.4)).abs() < 1e-9, "{cost}");
        assert!(chunk["choices"][0].get("usage").is_none());

        let mut repeat =
            object(json!({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}));
        assert!(
            !shape_chunk(&mut repeat, Some(&K2_6), &mut state),
            "a repeated usage chunk is dropped"
        );
        let mut nested_repeat =
            object(json!({"choices": [{"index": 0, "delta": {}, "usage": {"prompt_tokens": 1}}]}));
        assert!(!shape_chunk(&mut nested_repeat, Some(&K2_6), &mut state));
        let mut content_and_repeat = object(
            json!({"choices": [{"delta": {"content": "x"}, "usage": {"prompt_tokens": 1}}]}),
        );
        assert!(shape_chunk(
            &mut content_and_repeat,
            Some(&K2_6),
            &mut state
        ));
        assert!(content_and_repeat.get("usage").is_none());
    }

    #[test]
    fn usage_the_client_did_not_ask_for_is_not_shown() {
        let mut state = StreamShaping::new(false);
        let mut usage_only = object(json!({"choices": [], "usage": {"prompt_tokens": 1}}));
        assert!(!shape_chunk(&mut usage_only, Some(&K2_6), &mut state));
        let mut finish = object(
            json!({"choices": [{"delta": {}, "finish_reason": "stop", "usage": {"prompt_tokens": 1}}]}),
        );
        assert!(shape_chunk(&mut finish, Some(&K2_6), &mut state));
        assert!(finish.get("usage").is_none() && finish["choices"][0].get("usage").is_none());
    }

    #[test]
    fn openrouter_reasoning_becomes_reasoning_content() {
        let mut state = StreamShaping::default();
        let mut chunk =
            object(json!({"choices": [{"delta": {"reasoning": "think", "content": ""}}]}));
        shape_chunk(&mut chunk, None, &mut state);
        assert_eq!(
            chunk["choices"][0]["delta"],
            json!({"reasoning_content": "think", "content": ""})
        );

        let mut completion = object(json!({"choices": [{"message": {"content": "a",
            "reasoning_details": [{"type": "reasoning.text", "text": "one "}, {"text": "two"}]}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2}}));
        shape_completion(&mut completion, None);
        assert_eq!(
            completion["choices"][0]["message"]["reasoning_content"],
            "one two"
        );
        assert_eq!(completion["usage"]["total_tokens"], 5);
        assert!(
            completion["usage"].get("cost").is_none(),
            "unknown prices give no cost"
        );
    }

    #[test]
    fn chunks_without_usage_or_reasoning_are_not_parsed() {
        assert!(!may_need_shaping(
            r#"{"choices":[{"delta":{"content":"hi"}}]}"#
        ));
        assert!(may_need_shaping(r#"{"choices":[],"usage":{}}"#));
        assert!(!may_need_shaping(
            r#"{"choices":[{"delta":{"reasoning_content":"x"}}]}"#
        ));
        assert!(may_need_shaping(
            r#"{"choices":[{"delta":{"reasoning":"x"}}]}"#
        ));
        assert!(may_need_shaping(
            r#"{"choices":[{"finish_reason":"filtered"}]}"#
        ));
        assert!(may_need_shaping(r#"{"reasoning_details":[]}"#));
        assert!(!may_need_shaping(
            r#"{"usage_x":1,"reasoningx":"filtered_"}"#
        ));
        assert!(!may_need_shaping(r#"""#));
    }

    proptest::proptest! {
        /// The searchers find what substring searches find.
        #[test]
        fn the_searchers_find_what_substring_searches_find(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "\"", "usage", "filtered", "reasoning", "_details", "_content", "{", ":", "x", "u", "r",
            ]), 0..12)
        ) {
            let data = pieces.concat();
            let naive = ["\"usage\"", "\"filtered\"", "\"reasoning\"", "\"reasoning_details\""]
                .iter()
                .any(|word| data.contains(word));
            proptest::prop_assert_eq!(may_need_shaping(&data), naive, "{}", data);
        }
    }

    #[test]
    fn kimis_filtered_ending_is_openais_content_filter() {
        let data = r#"{"choices":[{"index":0,"delta":{},"finish_reason":"filtered"}]}"#;
        assert!(may_need_shaping(data));
        let mut chunk = serde_json::from_str(data).unwrap();
        assert!(shape_chunk(
            &mut chunk,
            Some(&K2_6),
            &mut StreamShaping::new(true)
        ));
        assert_eq!(chunk["choices"][0]["finish_reason"], "content_filter");
        let mut completion = object(json!({"choices": [{"message": {"content": "a"},
            "finish_reason": "filtered"}]}));
        shape_completion(&mut completion, None);
        assert_eq!(completion["choices"][0]["finish_reason"], "content_filter");
        // The word in content is left alone.
        let mut text = object(json!({"choices": [{"delta": {"content": "filtered"}}]}));
        shape_chunk(&mut text, Some(&K2_6), &mut StreamShaping::new(true));
        assert_eq!(text["choices"][0]["delta"]["content"], "filtered");
    }

    /// The byte path's answer for `data`: what the client gets, parsed.
    fn shaped_over_bytes(
        data: &str,
        cost: Option<&Cost>,
        state: &mut StreamShaping,
    ) -> Option<Option<Value>> {
        let mut members = Vec::new();
        members_into(data.as_bytes(), &mut members).unwrap();
        shape_usage_chunk(data, &members, cost, state).map(|shaped| match shaped {
            UsageChunk::Skip => None,
            UsageChunk::Add { at, addition } => {
                let text = format!("{}{addition}{}", &data[..at], &data[at..]);
                Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}")))
            }
        })
    }

    #[test]
    fn the_usage_chunk_that_ends_a_stream_is_shaped_over_its_bytes() {
        let openai = r#"{"id":"c","object":"chat.completion.chunk","created":0,"model":"m","choices":[],"usage":{"prompt_tokens":1000000,"completion_tokens":100000,"total_tokens":1100000,"prompt_tokens_details":{"cached_tokens":400000}}}"#;
        let mut state = StreamShaping::new(true);
        let shaped =
            shaped_over_bytes(openai, Some(&K2_6), &mut state).expect("the byte path takes it");
        let usage = &shaped.unwrap()["usage"];
        let cost = usage["cost"].as_f64().unwrap();
        assert!((cost - (0.57 + 0.064 + 0.4)).abs() < 1e-9, "{cost}");
        assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 400_000);
        // Counted once: a second usage chunk is dropped.
        assert_eq!(
            shaped_over_bytes(openai, Some(&K2_6), &mut state),
            Some(None)
        );
        // Kimi's top-level cached_tokens, no total: both written; no price, no cost.
        let kimi = r#"{"choices":[ ],"usage":{"prompt_tokens":3,"completion_tokens":4,"cached_tokens":2}}"#;
        let shaped = shaped_over_bytes(kimi, None, &mut StreamShaping::new(true));
        assert_eq!(
            shaped,
            Some(Some(
                json!({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4,
                "cached_tokens": 2, "total_tokens": 7, "prompt_tokens_details": {"cached_tokens": 2}}})
            ))
        );
        // An empty usage object gets a total without a leading comma.
        let empty = r#"{"choices":[],"usage":{}}"#;
        let shaped = shaped_over_bytes(empty, None, &mut StreamShaping::new(true));
        assert_eq!(
            shaped,
            Some(Some(json!({"choices": [], "usage": {"total_tokens": 0}})))
        );
        // A client that did not ask for usage does not get it.
        assert_eq!(
            shaped_over_bytes(openai, Some(&K2_6), &mut StreamShaping::new(false)),
            Some(None)
        );
        // What the tree decides: usage inside a choice (Moonshot), other
        // words to shape, counts that are not plain integers.
        for tree in [
            r#"{"choices":[{"index":0,"delta":{},"usage":{"prompt_tokens":1}}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":1},"reasoning":"x"}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":1.5}}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":-1}}"#,
            r#"{"choices":[],"usage":null}"#,
            r#"{"choices":[],"usage":{"cached_tokens":1,"prompt_tokens_details":{}}}"#,
        ] {
            let mut state = StreamShaping::new(true);
            assert_eq!(
                shaped_over_bytes(tree, Some(&K2_6), &mut state),
                None,
                "{tree}"
            );
            assert!(
                !state.usage_sent,
                "{tree}: the state is the tree's to change"
            );
        }
    }

    fn count() -> impl proptest::strategy::Strategy<Value = Option<Value>> {
        use proptest::prelude::*;
        // Mostly counts the byte path reads, so that it is exercised.
        prop_oneof![
            3 => Just(None),
            8 => (0u64..2_000_000).prop_map(|n| Some(json!(n))),
            1 => Just(Some(json!(u64::MAX))),
            1 => Just(Some(json!(1.5))),
            1 => Just(Some(json!(-3))),
            1 => Just(Some(json!("7"))),
            1 => Just(Some(Value::Null)),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(1024))]
        /// Where the byte path takes a chunk, the client gets what the tree
        /// path gives it (members' order aside), and the stream's state
        /// changes alike; where it does not, the state is untouched.
        #[test]
        fn the_byte_path_shapes_usage_as_the_tree_does(
            prompt in count(), completion in count(), total in count(), cached in count(),
            details in proptest::option::of(count()), details_object in proptest::bool::ANY,
            cost_member in proptest::bool::ANY, priced in proptest::bool::ANY,
            choices in proptest::sample::select(vec!["", "[]", "[ ]", "[{\"index\":0,\"delta\":{}}]"]),
            model in proptest::bool::ANY, sent in proptest::bool::ANY, wants in proptest::bool::ANY,
            spaced in proptest::bool::ANY,
        ) {
            let mut usage = Map::new();
            for (key, value) in [("prompt_tokens", prompt), ("completion_tokens", completion),
                ("total_tokens", total), ("cached_tokens", cached)] {
                if let Some(value) = value { usage.insert(key.into(), value); }
            }
            if let Some(details) = details {
                usage.insert("prompt_tokens_details".into(), match (details_object, details) {
                    (true, Some(cached)) => json!({"cached_tokens": cached}),
                    (true, None) => json!({}),
                    (false, _) => Value::Null,
                });
            }
            if cost_member { usage.insert("cost".into(), json!(0.25)); }
            let mut data = String::from("{");
            if model { data.push_str(r#""model":"m","#); }
            if !choices.is_empty() { data.push_str(&format!(r#""choices":{choices},"#)); }
            data.push_str(&format!(r#""usage":{}}}"#, Value::Object(usage)));
            if spaced {
                data = data.replace(',', " , ").replace(':', " : ").replace('}', " } ");
            }
            let cost = priced.then_some(K2_6);
            let mut bytes_state = StreamShaping::new(wants);
            bytes_state.usage_sent = sent;
            let mut tree_state = StreamShaping::new(wants);
            tree_state.usage_sent = sent;
            let mut tree: Map<String, Value> = serde_json::from_str(&data).unwrap();
            let kept = shape_chunk(&mut tree, cost.as_ref(), &mut tree_state);
            match shaped_over_bytes(&data, cost.as_ref(), &mut bytes_state) {
                Some(shaped) => {
                    // Both read back from text: serde_json's reading of a
                    // float may differ from the float by its last bit.
                    let tree = Value::Object(tree).to_string();
                    let tree: Value = serde_json::from_str(&tree).unwrap();
                    proptest::prop_assert_eq!(shaped, kept.then_some(tree), "{}", data);
                    proptest::prop_assert_eq!(bytes_state.usage_sent, tree_state.usage_sent);
                }
                None => proptest::prop_assert_eq!(bytes_state.usage_sent, sent, "{}", data),
            }
        }
    }
}
