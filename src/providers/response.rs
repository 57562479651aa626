//! Response shaping, one module for every dialect, streamed and not: what
//! the client gets is the OpenAI shape whichever provider answered.
//!
//! - Reasoning arrives as `reasoning_content` (message and delta), also when
//!   the provider says `reasoning` or `reasoning_details` (OpenRouter).
//! - Usage is top-level (Moonshot streams it inside `choices[0]`), counted
//!   once (some models send it twice), with cache hits also in
//!   `prompt_tokens_details.cached_tokens` (where OpenAI clients, OpenClaw
//!   included, read them; Moonshot reports `cached_tokens`), and `cost` in
//!   USD as the ledger records it ([`Pricing::cost`]: the model's prices,
//!   or the provider's own figure when it is higher; none for counts no
//!   one call could use).
//!
//! - A content filter's ending is OpenAI's `content_filter`, also when the
//!   provider says `filtered` (Kimi K3 mid-stream, kimi-code #1952).
//! - An answer that made tool calls ends `tool_calls`, also when the
//!   provider says `stop` (Kimi does, now and then): an OpenAI client
//!   looks for the calls by that ending.
//!
//! Pure: no I/O; chunks that cannot need shaping are never parsed (see
//! [`may_need_shaping`]).

use std::sync::LazyLock;

use memchr::memmem::Finder;
use serde_json::{Map, Value, json};

use crate::format::scan;
use crate::ledger::Pricing;
use crate::wire::chunk::ChunkView;
use crate::wire::usage::Usage;

/// What shaping one stream remembers from event to event.
#[derive(Debug, Default)]
pub struct StreamShaping {
    /// A usage chunk was shown (or hidden): later ones are repeats.
    usage_sent: bool,
    /// The client did not ask for usage: the gateway asked for itself.
    hide_usage: bool,
    /// A usage was read: the stream's first that counts both sides.
    usage_counted: bool,
    /// That usage, until it is taken.
    usage: Option<Usage>,
    /// A chunk of the stream made tool calls.
    calls: bool,
}

impl StreamShaping {
    pub fn new(client_wants_usage: bool) -> Self {
        Self {
            usage_sent: false,
            hide_usage: !client_wants_usage,
            usage_counted: false,
            usage: None,
            calls: false,
        }
    }

    /// Notes whether chunk `data` makes tool calls (until one does); and
    /// whether it must be shaped for its ending: a `stop` ending a stream
    /// that made calls. A search of its text, and a reading of a chunk
    /// that names `tool_calls` only until the stream has made a call.
    pub fn ends_calls_as_stop(&mut self, data: &str) -> bool {
        static CALLS: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"tool_calls\""));
        static STOP: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"stop\""));
        if !self.calls && CALLS.find(data.as_bytes()).is_some() {
            self.calls = ChunkView::read(data).is_some_and(|chunk| chunk.makes_calls());
        }
        self.calls && STOP.find(data.as_bytes()).is_some()
    }

    /// The stream's usage, once: the first that a usage chunk says in
    /// full, whether or not the client sees that chunk.
    pub fn take_usage(&mut self) -> Option<Usage> {
        self.usage.take()
    }

    fn count(&mut self, read: Option<Usage>) {
        if !self.usage_counted && read.is_some() {
            self.usage_counted = true;
            self.usage = read;
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

/// Whether a chunk's text may need shaping; the others pass as bytes. A
/// name written with an escape (`"\u0075sage"`) could be any of the words,
/// as a client's JSON reader reads it: such a chunk is shaped, so that a
/// provider's usage is counted (and priced, and held to the budgets)
/// however it spells it.
pub fn may_need_shaping(data: &str) -> bool {
    WORDS
        .iter()
        .any(|word| word.find(data.as_bytes()).is_some())
        || scan::hides_a_name(data.as_bytes())
}

/// Whether a chunk's text may name the `usage` key, plainly or with an
/// escape ([`note_usage`] reads only those chunks).
fn mentions_usage(data: &str) -> bool {
    WORDS[0].find(data.as_bytes()).is_some() || scan::hides_a_name(data.as_bytes())
}

/// Shapes one streamed chunk; `false` when it is to be dropped (a repeated
/// usage chunk with nothing else in it).
pub fn shape_chunk(
    chunk: &mut Map<String, Value>,
    pricing: &Pricing,
    state: &mut StreamShaping,
) -> bool {
    shape_choices(chunk, "delta", state.calls);
    let nested = first_choice_usage(chunk);
    let usage = match (chunk.remove("usage"), nested) {
        (Some(Value::Object(usage)), _) | (_, Some(usage)) => Some(usage),
        _ => None,
    };
    let Some(mut usage) = usage else {
        return true;
    };
    let read = Usage::read(&usage);
    state.count(read);
    if state.usage_sent || state.hide_usage {
        // Shown once, and only to a client that asked: otherwise the chunk
        // keeps whatever else it carries, and is dropped when it carries
        // nothing else.
        state.usage_sent = true;
        return choices(chunk).any(carries_something);
    }
    state.usage_sent = true;
    if let Some(read) = &read {
        normalize_usage(&mut usage, read, pricing);
    }
    chunk.insert("usage".into(), Value::Object(usage));
    true
}

/// Notes the usage of a chunk that is not shaped (the client gets the
/// provider's own events, and these chunks only say how the stream ends),
/// as [`shape_chunk`] notes it.
pub fn note_usage(data: &str, state: &mut StreamShaping) {
    if state.usage_counted || !mentions_usage(data) {
        return;
    }
    let usage = match ChunkView::read(data) {
        Some(chunk) => Usage::in_chunk(&chunk),
        // Not plainly read (a repeated key, a value of another shape): the
        // whole chunk as a tree.
        None => match serde_json::from_str(data) {
            Ok(Value::Object(chunk)) => Usage::of(&chunk),
            _ => None,
        },
    };
    state.count(usage);
}

/// Each choice's reasoning as `reasoning_content` in what it says (`said`:
/// a chunk's `delta`, a whole completion's `message`), and its ending in
/// OpenAI's words; `made_calls`: the stream's earlier chunks made calls.
fn shape_choices(body: &mut Map<String, Value>, said: &str, made_calls: bool) {
    for choice in choices(body) {
        let mut calls = made_calls;
        if let Some(Value::Object(message)) = choice.get_mut(said) {
            reasoning_as_content(message);
            calls |= (message.get("tool_calls"))
                .and_then(Value::as_array)
                .is_some_and(|calls| !calls.is_empty());
        }
        ending(choice, calls);
    }
}

/// A choice's ending in OpenAI's words: `filtered` as `content_filter`,
/// and `stop` after tool calls as `tool_calls`.
fn ending(choice: &mut Map<String, Value>, made_calls: bool) {
    let said = match choice.get("finish_reason").and_then(Value::as_str) {
        Some("filtered") => "content_filter",
        Some("stop") if made_calls => "tool_calls",
        _ => return,
    };
    choice.insert("finish_reason".into(), json!(said));
}

/// Shapes a whole (non-streamed) completion.
pub fn shape_completion(body: &mut Map<String, Value>, pricing: &Pricing) {
    shape_choices(body, "message", false);
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
        if let Some(read) = Usage::read(&usage) {
            normalize_usage(&mut usage, &read, pricing);
        }
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

/// The usage rules: a total, the cache hits where OpenAI clients read
/// them, and the cost at the model's prices unless the provider said it;
/// `read` is what `usage` says.
fn normalize_usage(usage: &mut Map<String, Value>, read: &Usage, pricing: &Pricing) {
    if !usage.get("total_tokens").is_some_and(Value::is_u64) {
        usage.insert("total_tokens".into(), json!(read.total));
    }
    if let Some(cached) = read.cache_read {
        let details = usage
            .entry("prompt_tokens_details")
            .or_insert_with(|| json!({}));
        if let Value::Object(details) = details {
            details.insert("cached_tokens".into(), json!(cached));
        }
    }
    // What the ledger records: the client reads the same; for counts no
    // call could have used, no cost.
    match pricing.cost(Some(read)) {
        Some(usd) => usage.insert("cost".into(), json!(usd)),
        None => usage.remove("cost"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::Cost;

    const K2_6: Pricing = Pricing {
        price: Some(Cost {
            input: 0.95,
            output: 4.0,
            cache_read: 0.16,
            cache_write: 0.0,
        }),
        context_window: None,
    };
    const UNPRICED: Pricing = Pricing {
        price: None,
        context_window: None,
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
        assert!(shape_chunk(&mut chunk, &K2_6, &mut state));
        let usage = &chunk["usage"];
        assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 400_000);
        // 600k fresh at 0.95, 400k cached at 0.16, 100k out at 4.00.
        let cost = usage["cost"].as_f64().unwrap();
        assert!((cost - (0.57 + 0.064 + 0.4)).abs() < 1e-9, "{cost}");
        assert!(chunk["choices"][0].get("usage").is_none());

        let mut repeat =
            object(json!({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}));
        assert!(
            !shape_chunk(&mut repeat, &K2_6, &mut state),
            "a repeated usage chunk is dropped"
        );
        let mut nested_repeat =
            object(json!({"choices": [{"index": 0, "delta": {}, "usage": {"prompt_tokens": 1}}]}));
        assert!(!shape_chunk(&mut nested_repeat, &K2_6, &mut state));
        let mut content_and_repeat = object(
            json!({"choices": [{"delta": {"content": "x"}, "usage": {"prompt_tokens": 1}}]}),
        );
        assert!(shape_chunk(&mut content_and_repeat, &K2_6, &mut state));
        assert!(content_and_repeat.get("usage").is_none());
        // The first usage is the one counted; the repeats are not.
        let counted = state.take_usage().expect("the first usage counted");
        assert_eq!(
            (counted.input, counted.cache_read),
            (1_000_000, Some(400_000))
        );
        assert_eq!(state.take_usage(), None);
    }

    /// The stream's usage is counted whether or not the client sees it,
    /// from the first chunk that counts both sides.
    #[test]
    fn the_first_full_usage_is_counted_whether_or_not_it_is_shown() {
        for client_wants_usage in [true, false] {
            let mut state = StreamShaping::new(client_wants_usage);
            let mut partial = object(json!({"choices": [], "usage": {"prompt_tokens": 5}}));
            shape_chunk(&mut partial, &UNPRICED, &mut state);
            assert_eq!(state.take_usage(), None, "{client_wants_usage}");
            let mut full = object(
                json!({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}}),
            );
            shape_chunk(&mut full, &UNPRICED, &mut state);
            let counted = state.take_usage().map(|u| (u.input, u.output));
            assert_eq!(counted, Some((5, 3)), "{client_wants_usage}");
            let mut again = object(
                json!({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 9}}),
            );
            shape_chunk(&mut again, &UNPRICED, &mut state);
            assert_eq!(state.take_usage(), None, "{client_wants_usage}");
        }
    }

    #[test]
    fn usage_the_client_did_not_ask_for_is_not_shown() {
        let mut state = StreamShaping::new(false);
        let mut usage_only = object(json!({"choices": [], "usage": {"prompt_tokens": 1}}));
        assert!(!shape_chunk(&mut usage_only, &K2_6, &mut state));
        let mut finish = object(
            json!({"choices": [{"delta": {}, "finish_reason": "stop", "usage": {"prompt_tokens": 1}}]}),
        );
        assert!(shape_chunk(&mut finish, &K2_6, &mut state));
        assert!(finish.get("usage").is_none() && finish["choices"][0].get("usage").is_none());
    }

    #[test]
    fn openrouter_reasoning_becomes_reasoning_content() {
        let mut state = StreamShaping::default();
        let mut chunk =
            object(json!({"choices": [{"delta": {"reasoning": "think", "content": ""}}]}));
        shape_chunk(&mut chunk, &UNPRICED, &mut state);
        assert_eq!(
            chunk["choices"][0]["delta"],
            json!({"reasoning_content": "think", "content": ""})
        );

        let mut completion = object(json!({"choices": [{"message": {"content": "a",
            "reasoning_details": [{"type": "reasoning.text", "text": "one "}, {"text": "two"}]}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2}}));
        shape_completion(&mut completion, &UNPRICED);
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
        // A name written with an escape may be any of them.
        assert!(may_need_shaping(r#"{"\u0075sage":{}}"#));
        assert!(may_need_shaping(
            r#"{"choices":[{"finish_reason":"\u0066iltered"}]}"#
        ));
        assert!(!may_need_shaping(
            r#"{"choices":[{"delta":{"content":"\u00e9"}}]}"#
        ));
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
            &K2_6,
            &mut StreamShaping::new(true)
        ));
        assert_eq!(chunk["choices"][0]["finish_reason"], "content_filter");
        let mut completion = object(json!({"choices": [{"message": {"content": "a"},
            "finish_reason": "filtered"}]}));
        shape_completion(&mut completion, &UNPRICED);
        assert_eq!(completion["choices"][0]["finish_reason"], "content_filter");
        // The word in content is left alone.
        let mut text = object(json!({"choices": [{"delta": {"content": "filtered"}}]}));
        shape_chunk(&mut text, &K2_6, &mut StreamShaping::new(true));
        assert_eq!(text["choices"][0]["delta"]["content"], "filtered");
    }

    /// The chunk a client gets for `data`, or `None` when it is dropped.
    fn shaped(data: &str, pricing: &Pricing, state: &mut StreamShaping) -> Option<Value> {
        let mut chunk = serde_json::from_str(data).unwrap();
        shape_chunk(&mut chunk, pricing, state).then_some(Value::Object(chunk))
    }

    #[test]
    fn the_usage_chunk_that_ends_a_stream_is_priced_and_counted_once() {
        let openai = r#"{"id":"c","object":"chat.completion.chunk","created":0,"model":"m","choices":[],"usage":{"prompt_tokens":1000000,"completion_tokens":100000,"total_tokens":1100000,"prompt_tokens_details":{"cached_tokens":400000}}}"#;
        let mut state = StreamShaping::new(true);
        let shaped = shaped(openai, &K2_6, &mut state).expect("the usage is sent");
        let usage = &shaped["usage"];
        let cost = usage["cost"].as_f64().unwrap();
        assert!((cost - (0.57 + 0.064 + 0.4)).abs() < 1e-9, "{cost}");
        assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 400_000);
        // Counted once: a second usage chunk is dropped.
        assert_eq!(self::shaped(openai, &K2_6, &mut state), None);
        // Kimi's top-level cached_tokens, no total: both written; no price, no cost.
        let kimi = r#"{"choices":[ ],"usage":{"prompt_tokens":3,"completion_tokens":4,"cached_tokens":2}}"#;
        assert_eq!(
            self::shaped(kimi, &UNPRICED, &mut StreamShaping::new(true)),
            Some(
                json!({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4,
                "cached_tokens": 2, "total_tokens": 7, "prompt_tokens_details": {"cached_tokens": 2}}})
            )
        );
        // A usage that does not count both sides is passed on as it came.
        let partial = r#"{"choices":[],"usage":{"prompt_tokens":1.5,"completion_tokens":2}}"#;
        assert_eq!(
            self::shaped(partial, &K2_6, &mut StreamShaping::new(true)),
            Some(serde_json::from_str(partial).unwrap())
        );
        // A client that did not ask for usage does not get it.
        assert_eq!(
            self::shaped(openai, &K2_6, &mut StreamShaping::new(false)),
            None
        );
    }

    /// A chunk that is not shaped has its usage noted through views of its
    /// text, or through a tree when the views do not read it plainly; a
    /// chunk that a tree would refuse for a value the usage does not hold
    /// is still counted, the provider having reported it.
    #[test]
    fn a_chunks_usage_is_noted_however_the_chunk_is_read() {
        let chunks = [
            (
                r#"{"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5}}"#,
                Some(3),
            ),
            (
                r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop","usage":{"prompt_tokens":9,"completion_tokens":2,"cached_tokens":4}}]}"#,
                Some(9),
            ),
            (
                r#"{"usage":5,"choices":[{"usage":{"prompt_tokens":1,"completion_tokens":1}}]}"#,
                Some(1),
            ),
            (r#"{"usage":{"prompt_tokens":3}}"#, None),
            (
                r#"{"usage":{"prompt_tokens":-1,"completion_tokens":2}}"#,
                None,
            ),
            (r#"{"choices":[],"usage":"none"}"#, None),
            // Not read plainly: a repeated key (serde's tree keeps the
            // last), a space before the object, a choice that is no object.
            (
                r#"{"usage":{"prompt_tokens":1,"completion_tokens":2},"usage":{"prompt_tokens":3,"completion_tokens":4}}"#,
                Some(3),
            ),
            (
                r#" {"usage":{"prompt_tokens":7,"completion_tokens":2}}"#,
                Some(7),
            ),
            (
                r#"{"choices":[3,{"usage":{"prompt_tokens":1,"completion_tokens":1}}]}"#,
                None,
            ),
            (r#"["usage"]"#, None),
            (
                r#"{"usage":{"prompt_tokens":1,"completion_tokens":2}"#,
                None,
            ),
            // Refused as a tree, for a value the usage does not hold.
            (
                r#"{"usage":{"prompt_tokens":6,"completion_tokens":2},"x":1e400}"#,
                Some(6),
            ),
            (
                r#"{"usage":{"prompt_tokens":8,"completion_tokens":2},"x":"\ud800"}"#,
                Some(8),
            ),
            // Its name written with an escape, as a client's reader reads it.
            (
                r#"{"choices":[],"\u0075sage":{"prompt_tokens":4,"completion_tokens":2}}"#,
                Some(4),
            ),
            (
                r#"{"choices":[{"delta":{},"\u0075sage":{"prompt_tokens":2,"completion_tokens":2}}]}"#,
                Some(2),
            ),
        ];
        for (chunk, input) in chunks {
            let mut state = StreamShaping::new(true);
            note_usage(chunk, &mut state);
            let noted = state.take_usage().map(|u| u.input);
            assert_eq!(noted, input, "{chunk}");
        }
    }

    /// A whole answer whose message made calls ends `tool_calls`, also
    /// when its provider said `stop`; one without calls keeps `stop`.
    #[test]
    fn a_stop_after_tool_calls_ends_tool_calls_in_a_whole_answer() {
        for (calls, ending) in [
            (
                json!([{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]),
                "tool_calls",
            ),
            (json!([]), "stop"),
            (Value::Null, "stop"),
        ] {
            let mut completion = json!({"choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": null, "tool_calls": calls}}]});
            let Value::Object(body) = &mut completion else {
                unreachable!()
            };
            shape_completion(body, &UNPRICED);
            assert_eq!(
                completion["choices"][0]["finish_reason"], ending,
                "{completion}"
            );
        }
    }

    /// The `cost` an answer shows is the ledger's: a provider's own figure
    /// (OpenRouter's `usage.cost`) below what the prices say is raised to
    /// them, one above is kept.
    #[test]
    fn an_answers_cost_is_the_ledgers() {
        for (reported, shown) in [(1e-7, 0.00495), (0.5, 0.5)] {
            let mut completion = json!({"choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": "hi"}}],
                "usage": {"prompt_tokens": 1000, "completion_tokens": 1000, "cost": reported}});
            let Value::Object(body) = &mut completion else {
                unreachable!()
            };
            shape_completion(body, &K2_6);
            let cost = completion["usage"]["cost"].as_f64().unwrap();
            assert!((cost - shown).abs() < 1e-12, "{reported}: {completion}");
        }
    }

    /// Counts no one call could use (past twice the context window) are
    /// no usage to the ledger: the answer shows no cost for them either,
    /// not the prices' nor the provider's own; streamed or not.
    #[test]
    fn counts_no_call_could_use_get_no_cost() {
        let pricing = Pricing {
            context_window: Some(100_000),
            ..K2_6
        };
        for (input, output, costed) in [(3_000_000, 900_000, false), (150_000, 50_000, true)] {
            let usage =
                json!({"prompt_tokens": input, "completion_tokens": output, "cost": 3900.0});
            let mut completion = object(json!({"choices": [], "usage": usage}));
            shape_completion(&mut completion, &pricing);
            let mut chunk = object(json!({"choices": [], "usage": usage}));
            shape_chunk(&mut chunk, &pricing, &mut StreamShaping::new(true));
            for shaped in [&completion, &chunk] {
                assert_eq!(shaped["usage"].get("cost").is_some(), costed, "{shaped:?}");
            }
        }
    }
}
