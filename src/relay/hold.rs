//! The key hold: the text of a stream's deltas that could be the start of
//! a configured key, held back and given to the next delta of its string
//! (or masked with the start of the next string where the two spell a key),
//! so that a key the model spells out across deltas reaches the scrubber of
//! every byte sent whole (the relay's module header says why).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::LazyLock;

use bytes::Bytes;
use memchr::memmem;
use serde_json::{Map, Value, json};
use smallvec::{SmallVec, smallvec};

use super::{Chunk, Cut, Item, Part, frame};
use crate::format::scan;
use crate::format::sse::Event;
use crate::ops::redact::Redactor;
use crate::ops::scrub::REDACTED;
use crate::upstream::AttemptError;
use crate::wire::anthropic::{BlockKind, DeltaKind, EventKind};
use crate::wire::chunk::MAX_CHOICES;

/// The text a stream's deltas hold back: a tail of one that could be the
/// start of a key, given to the next delta of its string, masked with the
/// start of another string where the two spell a key, or sent at the end.
/// Holding nothing, a delta passes as it came, its text looked at and not
/// copied.
pub(super) struct HeldText {
    scrubber: crate::ops::scrub::Scrubber,
    /// What the choice being read holds (a chat stream's first, or the
    /// one whose chunk came last).
    held: HeldChoice,
    /// Its index.
    index: u64,
    /// What the other choices of a stream with `n` above 1 hold, by
    /// index: each choice's text is held for that choice alone.
    others: Vec<(u64, HeldChoice)>,
    /// What a provider's own Anthropic events hold ([`Item::Native`]).
    native: Option<HeldNative>,
    /// The names no hold carries, as the provider spells their pieces
    /// ([`Self::mask_split_names`]).
    names: SplitNames,
}

/// A stream's tool calls' ids and names and its audio's transcript, each
/// as the provider spells it across its pieces (its tail), by
/// [`NamePlace`]. Every provider seen sends each of these whole in one
/// delta, and clients differ in how they read one sent in pieces (some
/// join them, some keep the first), so no hold carries them: a piece is
/// masked where a key reaches into it from the pieces before, or where
/// what they spell ends on half a key or more.
#[derive(Default)]
struct SplitNames {
    joined: Vec<(NamePlace, String)>,
}

/// Which string a piece is of: a choice's tool call's `id` or `name`, or
/// its audio's `transcript` (no call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NamePlace {
    choice: u64,
    call: Option<u64>,
    member: &'static str,
}

/// The least of a joined name kept: more than a key is long, as a rule
/// (at least twice the longest key is kept).
const MIN_JOINED: usize = 4096;

/// The most names a stream's pieces are kept for: the first ones past it
/// push out the oldest.
const MAX_NAMES: usize = 256;

impl SplitNames {
    /// Whether `piece`, at `place`, is to go as `[redacted]`: a key the
    /// pieces spell reaches into it from before it (a key whole in it is
    /// the bytes' scrub's), or they end in it on half a key or more.
    fn spells_key(
        &mut self,
        scrubber: &crate::ops::scrub::Scrubber,
        place: NamePlace,
        piece: &str,
    ) -> bool {
        if piece.is_empty() {
            return false;
        }
        let at = match self.joined.iter().position(|(p, _)| *p == place) {
            Some(at) => at,
            None => {
                if self.joined.len() == MAX_NAMES {
                    self.joined.remove(0);
                }
                self.joined.push((place, String::new()));
                self.joined.len() - 1
            }
        };
        let joined = &mut self.joined[at].1;
        let start = joined.len();
        joined.push_str(piece);
        let reaches_in = (scrubber.key_ranges(joined.as_bytes()).iter())
            .any(|key| key.start < start && key.end > start);
        let spells = reaches_in || scrubber.half_a_key_at_end(joined) > 0;
        // A key reaching into the next piece starts within the longest
        // key's length before it.
        let keep = MIN_JOINED.max(2 * scrubber.longest_key());
        if joined.len() > keep {
            let mut cut = joined.len() - keep;
            while !joined.is_char_boundary(cut) {
                cut += 1;
            }
            joined.drain(..cut);
        }
        spells
    }
}

/// What one choice of a chat stream holds back.
struct HeldChoice {
    text: String,
    reasoning: String,
    /// A refusal's tail (OpenAI's `refusal`).
    refusal: String,
    /// The chunk member the held reasoning came in: `reasoning_content`
    /// (Moonshot's) or `reasoning` (OpenRouter's).
    reasoning_key: Key,
    /// The kind of OpenRouter's `reasoning_details` entry that spells the
    /// reasoning again (its `type`, `index`, `format`): a held reasoning
    /// sent on its own goes in one of these ([`mirror_details`]).
    detail_kind: Option<Map<String, Value>>,
    /// The `id` of the chunk a held text was taken from, for the chunk
    /// that sends it at the end.
    id: Value,
    /// The tail of a tool call's arguments, and the call's index.
    call: Option<(u64, String)>,
    /// The tail of a legacy `function_call`'s arguments (OpenAI's
    /// `functions`: one call, no index).
    function: String,
    /// The `logprobs` of the chunks whose text is held, joined: they go
    /// with it, or with a key it joins into (they spell it out token by
    /// token, where the bytes' scrub finds no key).
    logprobs: Map<String, Value>,
    /// Whether the text those `logprobs` spell held a key, or the start of
    /// one masked across strands: they go with it when it goes out.
    logprobs_spell_key: bool,
}

impl Default for HeldChoice {
    fn default() -> Self {
        Self {
            text: String::new(),
            reasoning: String::new(),
            refusal: String::new(),
            reasoning_key: REASONING_KEYS[0],
            detail_kind: None,
            id: Value::Null,
            call: None,
            function: String::new(),
            logprobs: Map::new(),
            logprobs_spell_key: false,
        }
    }
}

impl HeldChoice {
    /// Whether any text, reasoning or arguments are held.
    fn holds(&self) -> bool {
        !self.text.is_empty()
            || !self.reasoning.is_empty()
            || !self.refusal.is_empty()
            || self.call.is_some()
            || !self.function.is_empty()
    }
}

/// The tail of an Anthropic `text_delta`, `thinking_delta` or
/// `input_json_delta` held back, the block it goes to, and the events
/// held after it.
struct HeldNative {
    index: Value,
    delta: NativeDelta,
    text: String,
    /// The events since the block's last delta (its end, the next block's
    /// start), held until the next text says whether a key runs on from
    /// the tail into it.
    after: VecDeque<Own>,
}

/// A provider's own event and its kind, read once.
type Own = (Event, EventKind);

/// The most events held after a block's tail: a block's end, the next
/// one's start and a `ping` or two come between two texts.
const MAX_HELD_EVENTS: usize = 8;

/// Which of an answer's strings a text belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strand {
    Reasoning,
    Text,
    Refusal,
    /// The arguments of the tool call at this index.
    Call(u64),
    /// The arguments of a legacy `function_call`.
    Function,
}

/// A JSON member's key, by its name (written in quotes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key(&'static str);

impl Key {
    fn name(self) -> &'static str {
        self.0
    }

    /// Where its value starts in `rest` (after white space), when `rest`
    /// starts with it as a member's key: its name in quotes and a colon,
    /// white space allowed before the colon as JSON allows it.
    fn value_in(self, rest: &[u8]) -> Option<usize> {
        let quoted = rest.strip_prefix(b"\"")?.strip_prefix(self.0.as_bytes())?;
        let after = quoted.strip_prefix(b"\"")?;
        let colon = after.iter().position(|b| !b.is_ascii_whitespace())?;
        (after[colon] == b':').then_some(self.0.len() + 2 + colon + 1)
    }
}

/// The member that holds every key the hold reads (`choices[0].delta`,
/// an Anthropic event's `delta`): nothing before it is looked at.
const DELTA: Key = Key("delta");

const CONTENT: Key = Key("content");

const REFUSAL: Key = Key("refusal");

const ARGUMENTS: Key = Key("arguments");

/// The chunk members that carry reasoning, as providers name them.
const REASONING_KEYS: [Key; 2] = [Key("reasoning_content"), Key("reasoning")];

/// An Anthropic content delta that carries text: its kind, and the
/// member of `delta` holding the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NativeDelta {
    kind: DeltaKind,
    member: Key,
}

impl HeldText {
    pub(super) fn new(redactor: &Redactor) -> Self {
        Self {
            scrubber: redactor.scrubber().clone(),
            held: HeldChoice::default(),
            index: 0,
            others: Vec::new(),
            native: None,
            names: SplitNames::default(),
        }
    }

    /// Reads choice `index` from now on: what it held, if anything, in
    /// place of what the choice before holds (kept for it).
    fn choose(&mut self, index: u64) {
        if index == self.index {
            return;
        }
        let at = self.others.iter().position(|(i, _)| *i == index);
        let theirs = at.map_or_else(HeldChoice::default, |at| self.others.swap_remove(at).1);
        let mine = std::mem::replace(&mut self.held, theirs);
        if mine.holds() {
            self.others.push((self.index, mine));
        }
        self.index = index;
    }

    /// `text` (a delta's) after what was held, less its tail that could
    /// start a key, now held; all of it in the `last` (its choice's
    /// finish follows).
    fn pass(
        scrubber: &crate::ops::scrub::Scrubber,
        held: &mut String,
        text: &mut String,
        last: bool,
    ) {
        if !held.is_empty() {
            text.insert_str(0, held);
            held.clear();
        }
        if last {
            scrubber.mask_start_at_end(text);
            return;
        }
        let keep = scrubber.key_start_at_end(text);
        if keep > 0 {
            held.push_str(&text[text.len() - keep..]);
            text.truncate(text.len() - keep);
        }
    }

    /// Typed parts, their text, reasoning and tool calls' arguments passed
    /// through the hold; a call's held arguments go before another call's
    /// first text, and what is held goes with a finish, before it.
    pub(super) fn parts(&mut self, parts: &mut Vec<Part>) {
        if self.scrubber.is_empty() {
            return;
        }
        let finish = parts.iter().position(|p| matches!(p, Part::Finish(_)));
        let last = finish.is_some();
        if self.held.holds() {
            let mut strings: Vec<(Strand, &mut String)> = (parts.iter_mut())
                .filter_map(|part| match part {
                    Part::Reasoning(text) => Some((Strand::Reasoning, text)),
                    Part::Text(text) => Some((Strand::Text, text)),
                    Part::Refusal(text) => Some((Strand::Refusal, text)),
                    Part::ToolCall {
                        index, arguments, ..
                    } => Some((Strand::Call(*index), arguments)),
                    _ => None,
                })
                .collect();
            self.across(&mut strings);
        }
        let mut released = Vec::new();
        for (at, part) in parts.iter_mut().enumerate() {
            match part {
                Part::Text(text) => Self::pass(&self.scrubber, &mut self.held.text, text, last),
                Part::Refusal(text) => {
                    Self::pass(&self.scrubber, &mut self.held.refusal, text, last)
                }
                Part::Reasoning(text) => {
                    Self::pass(&self.scrubber, &mut self.held.reasoning, text, last);
                }
                Part::ToolCall {
                    index, arguments, ..
                } => released.extend(self.pass_call(*index, arguments, last).map(|c| (at, c))),
                _ => {}
            }
        }
        for (at, call) in released.into_iter().rev() {
            parts.insert(at, call_part(call));
        }
        if let Some(at) = parts.iter().position(|p| matches!(p, Part::Finish(_)))
            && let Some(Item::Parts(rest)) = self.rest(true, "null")
        {
            parts.splice(at..at, rest);
        }
    }

    /// A chunk's bytes, its choice's `delta.content` and reasoning passed
    /// through the hold: as they came unless something is or was held,
    /// when the chunk is written again. A chunk that packs several choices
    /// goes on as one chunk a choice, each through its own choice's hold.
    pub(super) fn chunk(&mut self, bytes: Bytes) -> Result<SmallVec<[Chunk; 1]>, Unreadable> {
        let chunk = Chunk { frame: bytes };
        if self.scrubber.is_empty() {
            return Ok(smallvec![chunk]);
        }
        self.one_choice(chunk)
    }

    /// [`Self::chunk`] for a chunk read as one choice's: the chunk as it
    /// came, or written again, or, packing several, one a choice. Its text
    /// is found in its bytes; a chunk whose bytes could hide a name from
    /// that search (an escaped letter) is read whole, and one that must be
    /// read whole but cannot be is [`Unreadable`].
    fn one_choice(&mut self, chunk: Chunk) -> Result<SmallVec<[Chunk; 1]>, Unreadable> {
        let data = chunk.data();
        let texts = delta_strings(
            data,
            [
                CONTENT,
                REASONING_KEYS[0],
                REASONING_KEYS[1],
                ARGUMENTS,
                REFUSAL,
            ],
        );
        let says = texts.iter().any(Option::is_some);
        let unescapable = texts
            .iter()
            .any(|text| matches!(text, Some(Err(Unreadable))));
        let [content, reasoning_content, reasoning, arguments, refusal] =
            texts.map(|text| text.and_then(Result::ok));
        let reasoning = match (reasoning_content, reasoning) {
            (Some(text), _) => Some((REASONING_KEYS[0], text)),
            (None, text) => text.map(|text| (REASONING_KEYS[1], text)),
        };
        let keeps =
            |text: Option<&str>| text.is_some_and(|t| self.scrubber.key_start_at_end(t) > 0);
        // Log probabilities spell a text out token by token: with a key in
        // their text, even a whole one, they go. Most chunks have none, so
        // their text is searched for a key only when they do.
        static LOGPROBS: LazyLock<memmem::Finder<'static>> =
            LazyLock::new(|| memmem::Finder::new(b"\"logprobs\""));
        let spells = |text: &str| self.scrubber.holds_key(text.as_bytes());
        let spelt = LOGPROBS.find(data).is_some()
            && [&content, &refusal]
                .iter()
                .any(|t| t.as_deref().is_some_and(spells));
        // What this chunk says must be read whole.
        let read = keeps(content.as_deref())
            || keeps(reasoning.as_ref().map(|(_, text)| &**text))
            || keeps(arguments.as_deref())
            || keeps(refusal.as_deref())
            || unescapable
            || spelt
            || packs_choices(data)
            || names_a_call(data)
            || scan::hides_a_name(data);
        if !(read || self.holds()) {
            return Ok(smallvec![chunk]);
        }
        let Ok(Value::Object(mut tree)) = serde_json::from_slice::<Value>(data) else {
            // Data that says no text (no chunk at all) leaves what is held
            // for the next; one with text cannot go on unread.
            return if read || says {
                Err(Unreadable)
            } else {
                Ok(smallvec![chunk])
            };
        };
        if let Some(Value::Array(choices)) = tree.get_mut("choices")
            && choices.len() > 1
        {
            let choices = std::mem::take(choices);
            return self.each_choice(tree, choices);
        }
        let last = (tree.get("choices"))
            .and_then(|choices| choices.get(0))
            .is_some_and(|choice| !choice["finish_reason"].is_null());
        let choice = (tree.get_mut("choices"))
            .and_then(|choices| choices.get_mut(0))
            .and_then(Value::as_object_mut);
        let Some(choice) = choice else {
            // No choice to carry it (a usage chunk): held on.
            return Ok(smallvec![chunk]);
        };
        // A finish with no delta (or a `null` one) takes what its choice
        // held.
        if last && !choice.get("delta").is_some_and(Value::is_object) {
            choice.insert("delta".into(), Value::Object(Map::new()));
        }
        if !choice.get("delta").is_some_and(Value::is_object) {
            return Ok(smallvec![chunk]);
        }
        let index = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
        if index >= MAX_CHOICES {
            return Err(Unreadable);
        }
        self.choose(index);
        let logprobs = choice.shift_remove("logprobs");
        let delta = choice["delta"].as_object_mut().expect("an object");
        // The texts as the tree has them: the bytes' search found them
        // only where the names were written plainly.
        let text = |key: Key| Some(delta.get(key.name())?.as_str()?.to_owned());
        let reasoning = (REASONING_KEYS.into_iter()).find_map(|key| Some((key, text(key)?)));
        let (mut content, mut refusal) = (text(CONTENT), text(REFUSAL));
        // A legacy `function_call`'s arguments: a string of their own.
        let function_call = delta.get("function_call");
        let function = function_call.and_then(|call| call.get(ARGUMENTS.name())?.as_str());
        let mut function = function.map(str::to_owned);
        if let Some((key, _)) = reasoning {
            self.held.reasoning_key = key;
        }
        let mut reasoning = reasoning.map(|(_, text)| text);
        // OpenRouter's details spell the reasoning again: the chunk's own.
        let said = (delta.contains_key("reasoning_details") || self.held.detail_kind.is_some())
            .then(|| reasoning.clone().unwrap_or_default());
        if logprobs.is_some() || !self.held.logprobs.is_empty() {
            // What the joined log probabilities spell: what is held, then
            // this chunk's text.
            let spelt = |held: &str, text: &Option<String>| {
                let text = text.as_deref().unwrap_or("");
                self.scrubber.holds_key([held, text].concat().as_bytes())
            };
            self.held.logprobs_spell_key |=
                spelt(&self.held.text, &content) || spelt(&self.held.refusal, &refusal);
        }
        if self.held.holds() {
            let calls = delta.get_mut("tool_calls").and_then(Value::as_array_mut);
            let calls = calls.into_iter().flatten().filter_map(|call| {
                let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
                match call.pointer_mut("/function/arguments") {
                    Some(Value::String(arguments)) => Some((Strand::Call(index), arguments)),
                    _ => None,
                }
            });
            let mut strings: Vec<(Strand, &mut String)> = (reasoning.as_mut())
                .map(|text| (Strand::Reasoning, text))
                .into_iter()
                .chain(content.as_mut().map(|text| (Strand::Text, text)))
                .chain(refusal.as_mut().map(|text| (Strand::Refusal, text)))
                .chain(function.as_mut().map(|text| (Strand::Function, text)))
                .chain(calls)
                .collect();
            self.held.logprobs_spell_key |= self.across(&mut strings);
        }
        let (scrubber, key) = (&self.scrubber, self.held.reasoning_key);
        Self::pass_member(
            scrubber,
            &mut self.held.reasoning,
            delta,
            key,
            reasoning,
            last,
        );
        if let Some(said) = said {
            mirror_details(&mut self.held.detail_kind, delta, &said, key);
        }
        Self::pass_member(scrubber, &mut self.held.text, delta, CONTENT, content, last);
        Self::pass_member(
            scrubber,
            &mut self.held.refusal,
            delta,
            REFUSAL,
            refusal,
            last,
        );
        self.pass_function(delta, function, last);
        self.pass_calls(delta, last);
        self.mask_split_names(delta);
        if let Some(Value::Object(logprobs)) = logprobs {
            join_logprobs(&mut self.held.logprobs, logprobs);
        }
        if !self.held.holds()
            && let Some(logprobs) = self.logprobs_released()
        {
            choice.insert("logprobs".into(), Value::Object(logprobs));
        }
        if self.held.holds() {
            self.held.id = tree.get("id").cloned().unwrap_or(Value::Null);
        }
        Ok(smallvec![Chunk {
            frame: frame(&Value::Object(tree)),
        }])
    }

    /// A chunk packing several `choices` (the rest of it in `tree`), as one
    /// chunk a choice, in order, each passed through its choice's hold; its
    /// `usage`, if any, goes with the last.
    fn each_choice(
        &mut self,
        tree: Map<String, Value>,
        choices: Vec<Value>,
    ) -> Result<SmallVec<[Chunk; 1]>, Unreadable> {
        let last = choices.len() - 1;
        let mut chunks = SmallVec::new();
        for (at, mut choice) in choices.into_iter().enumerate() {
            // Each goes to its own hold, by its index.
            if let Value::Object(choice) = &mut choice {
                choice.entry("index").or_insert(json!(at));
            }
            let mut one = tree.clone();
            one["choices"] = Value::Array(vec![choice]);
            if at != last {
                one.shift_remove("usage");
            }
            chunks.extend(self.one_choice(Chunk {
                frame: frame(&Value::Object(one)),
            })?);
        }
        Ok(chunks)
    }

    /// The `logprobs` held, taken as their text goes out: none where it
    /// held a key.
    fn logprobs_released(&mut self) -> Option<Map<String, Value>> {
        let logprobs = std::mem::take(&mut self.held.logprobs);
        let spell_key = std::mem::take(&mut self.held.logprobs_spell_key);
        if spell_key && !logprobs.is_empty() {
            tracing::warn!("a chunk's text held a key: its logprobs are dropped with it");
        }
        (!spell_key && !logprobs.is_empty()).then_some(logprobs)
    }

    /// Whether any choice holds text, reasoning or arguments.
    fn holds(&self) -> bool {
        self.held.holds() || self.others.iter().any(|(_, held)| held.holds())
    }

    /// The tail held of each string that `strings` (one delta's texts, in
    /// order) do not go on with, against the first text there of another
    /// string: a key that runs from the tail into it is masked in both
    /// (`Scrubber::mask_across`), so that the tail, held until its own
    /// string goes on, another call's text comes or the answer ends, can
    /// never join what follows it into a key. Nothing is released here.
    fn across(&mut self, strings: &mut [(Strand, &mut String)]) -> bool {
        let mut masked = false;
        let call = (self.held.call.as_mut()).map(|(index, text)| (Strand::Call(*index), text));
        let held = [
            (Strand::Reasoning, &mut self.held.reasoning),
            (Strand::Text, &mut self.held.text),
            (Strand::Refusal, &mut self.held.refusal),
            (Strand::Function, &mut self.held.function),
        ];
        for (strand, tail) in held.into_iter().chain(call) {
            let goes_on = |(s, text): &(Strand, &mut String)| *s == strand && !text.is_empty();
            if tail.is_empty() || strings.iter().any(goes_on) {
                continue;
            }
            if let Some((_, next)) =
                (strings.iter_mut()).find(|(s, text)| *s != strand && !text.is_empty())
            {
                masked |= self.scrubber.mask_across(tail, next);
            }
        }
        masked
    }

    /// `delta`'s legacy `function_call` (its `arguments` read as
    /// `arguments`) passed through the hold as a string of its own: its
    /// tail that could start a key held, what was held going before its
    /// next piece, or in a `function_call` of its own with the `last`
    /// delta.
    fn pass_function(
        &mut self,
        delta: &mut Map<String, Value>,
        arguments: Option<String>,
        last: bool,
    ) {
        let held = &mut self.held.function;
        if arguments.is_none() && (held.is_empty() || !last) {
            return;
        }
        let call = delta.entry("function_call").or_insert_with(|| json!({}));
        if let Value::Object(call) = call {
            Self::pass_member(&self.scrubber, held, call, ARGUMENTS, arguments, last);
        }
    }

    /// `delta`'s `tool_calls` passed through the hold, each call's
    /// arguments; a call's held arguments go before another call's first
    /// text (masked where a key runs on into it: [`Self::across`]), or
    /// with the `last` delta.
    fn pass_calls(&mut self, delta: &mut Map<String, Value>, last: bool) {
        let Some(Value::Array(calls)) = delta.get_mut("tool_calls") else {
            if last && let Some(held) = self.held.call.take() {
                delta.insert("tool_calls".into(), json!([call_entry(held)]));
            }
            return;
        };
        let mut passed = Vec::with_capacity(calls.len() + 1);
        for mut call in calls.drain(..) {
            let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
            if let Some(Value::String(arguments)) = call.pointer_mut("/function/arguments")
                && let Some(other) = self.pass_call(index, arguments, last)
            {
                passed.push(call_entry(other));
            }
            passed.push(call);
        }
        if last && let Some(held) = self.held.call.take() {
            passed.push(call_entry(held));
        }
        *calls = passed;
    }

    /// The `arguments` of the call at `index` passed through the hold,
    /// their tail that could start a key held; when they have text, the
    /// arguments another call held, which go out before them.
    fn pass_call(
        &mut self,
        index: u64,
        arguments: &mut String,
        last: bool,
    ) -> Option<(u64, String)> {
        let other = (!arguments.is_empty())
            .then(|| self.held.call.take_if(|(held, _)| *held != index))
            .flatten();
        if self
            .held
            .call
            .as_ref()
            .is_none_or(|(held, _)| *held == index)
        {
            let mut held = self
                .held
                .call
                .take()
                .map(|(_, text)| text)
                .unwrap_or_default();
            Self::pass(&self.scrubber, &mut held, arguments, last);
            if !held.is_empty() {
                self.held.call = Some((index, held));
            }
        }
        other
    }

    /// `delta`'s member `key` (its text read as `text`) passed through
    /// `held`: left out when it has none and none is held.
    fn pass_member(
        scrubber: &crate::ops::scrub::Scrubber,
        held: &mut String,
        delta: &mut Map<String, Value>,
        key: Key,
        text: Option<String>,
        last: bool,
    ) {
        if text.is_none() && held.is_empty() {
            return;
        }
        let mut text = text.unwrap_or_default();
        Self::pass(scrubber, held, &mut text, last);
        delta.insert(key.name().into(), Value::String(text));
    }

    /// `delta`'s tool-call ids and names and audio transcript, each piece
    /// as [`SplitNames::spells_key`] judges it against the pieces before
    /// it of its [`NamePlace`]: `[redacted]` where a key reaches into it
    /// or it ends on half of one.
    fn mask_split_names(&mut self, delta: &mut Map<String, Value>) {
        let choice = self.index;
        let mut pieces: Vec<(NamePlace, &mut String)> = Vec::new();
        for (member, value) in delta.iter_mut() {
            match (member.as_str(), value) {
                ("tool_calls", Value::Array(calls)) => {
                    for call in calls.iter_mut().filter_map(Value::as_object_mut) {
                        let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
                        pieces.extend(call_names(call).map(|(member, text)| {
                            let call = Some(index);
                            (
                                NamePlace {
                                    choice,
                                    call,
                                    member,
                                },
                                text,
                            )
                        }));
                    }
                }
                ("audio", Value::Object(audio)) => {
                    if let Some(Value::String(transcript)) = audio.get_mut("transcript") {
                        let place = NamePlace {
                            choice,
                            call: None,
                            member: "transcript",
                        };
                        pieces.push((place, transcript));
                    }
                }
                _ => {}
            }
        }
        for (place, piece) in pieces {
            if self.names.spells_key(&self.scrubber, place, piece) {
                *piece = REDACTED.to_string();
            }
        }
    }

    /// A provider's own Anthropic event: a `text_delta`, `thinking_delta`
    /// or `input_json_delta` passed through the hold, written again only
    /// when something is or was held. A block's held tail waits, with the
    /// events after it (its block's end, the next one's start), for the
    /// next block's first text: a key running on into it is masked in
    /// both (`Scrubber::mask_across`), then the tail goes out as a delta
    /// of its own block, the events after it, and the text. What comes
    /// out, in order: as a rule the event alone. Its text is found in its
    /// bytes; an event whose bytes could hide a name from that search (an
    /// escaped letter) is read whole, and one that must be read whole but
    /// cannot be is [`Unreadable`].
    ///
    /// With them, whether the event adds to the answer
    /// ([`EventKind::adds`]): one that adds nothing is a keep-alive.
    pub(super) fn native(
        &mut self,
        mut event: Event,
    ) -> Result<(SmallVec<[Own; 2]>, bool), Unreadable> {
        let holds_keys = !self.scrubber.is_empty();
        // A name written with an escape would hide from the searches
        // below: such an event goes on written again, its names plain
        // (when there are keys to hold; else as it came, taken to add to
        // the answer).
        let hidden = scan::hides_a_name(event.data.as_bytes());
        if holds_keys && hidden {
            let Ok(tree) = serde_json::from_str::<Value>(&event.data) else {
                return Err(Unreadable);
            };
            event.data = tree.to_string();
        }
        let kind = EventKind::of(&event);
        let native = native_text(kind);
        let text = native.and_then(|(delta, _)| delta_string(event.data.as_bytes(), delta.member));
        let unescapable = matches!(text, Some(Err(Unreadable)));
        let text = text.and_then(Result::ok);
        // An empty text (a tool's first `input_json_delta`) says nothing.
        let says = unescapable || text.as_deref().is_some_and(|text| !text.is_empty());
        // A piece that could not be read, or whose name could hide from the
        // search, is not known to be empty.
        let piece = match &text {
            _ if unescapable || hidden && !holds_keys => None,
            Some(text) => Some(&**text),
            None => Some(""),
        };
        let adds = kind.adds(event.event.as_deref(), piece);
        let keep = unescapable
            || (text.as_deref()).is_some_and(|text| self.scrubber.key_start_at_end(text) > 0);
        if !holds_keys || !keep && self.native.is_none() {
            return Ok((smallvec![(event, kind)], adds));
        }
        let Some((delta, holder)) = native.filter(|_| says) else {
            return Ok((self.held_after((event, kind)), adds));
        };
        self.hold_native(event, kind, delta, holder)
            .map(|events| (events, adds))
    }

    /// [`Self::native`] for an event whose `delta` (in its member `holder`)
    /// says text, with something held or to hold.
    fn hold_native(
        &mut self,
        event: Event,
        kind: EventKind,
        delta: NativeDelta,
        holder: &str,
    ) -> Result<SmallVec<[Own; 2]>, Unreadable> {
        // It says text: it cannot go on unread.
        let Ok(Value::Object(mut tree)) = serde_json::from_str::<Value>(&event.data) else {
            return Err(Unreadable);
        };
        let index = tree.get("index").cloned().unwrap_or(Value::Null);
        let text = (tree.get_mut(holder))
            .and_then(|d| d.get_mut(delta.member.name()))
            .filter(|text| text.as_str().is_some_and(|text| !text.is_empty()));
        let Some(Value::String(text)) = text else {
            return Ok(self.held_after((event, kind)));
        };
        let mut out = SmallVec::new();
        let mut held = String::new();
        match self.native.take() {
            Some(same) if same.index == index && same.delta == delta => {
                out.extend(same.after);
                held = same.text;
            }
            Some(mut other) => {
                self.scrubber.mask_across(&mut other.text, text);
                self.native = Some(other);
                out.extend(std::iter::from_fn(|| self.native_rest()));
            }
            None => {}
        }
        Self::pass(&self.scrubber, &mut held, text, false);
        if !held.is_empty() {
            self.native = Some(HeldNative {
                index,
                delta,
                text: held,
                after: VecDeque::new(),
            });
        }
        let data = Value::Object(tree).to_string();
        out.push((Event { data, ..event }, kind));
        Ok(out)
    }

    /// An event that carries no text, after a block's held tail: held
    /// with it, up to [`MAX_HELD_EVENTS`]; past them, the tail goes out
    /// masked whole (what follows it is not known), and the events after
    /// it.
    fn held_after(&mut self, event: Own) -> SmallVec<[Own; 2]> {
        let Some(held) = self.native.as_mut() else {
            return smallvec![event];
        };
        held.after.push_back(event);
        if held.after.len() <= MAX_HELD_EVENTS {
            return SmallVec::new();
        }
        held.text = REDACTED.into();
        std::iter::from_fn(|| self.native_rest()).collect()
    }

    /// What a provider's own events hold, one at a time: the held text as
    /// a delta of its own block, then the events after it.
    fn native_rest(&mut self) -> Option<Own> {
        let held = self.native.as_mut()?;
        let event = if held.text.is_empty() {
            held.after.pop_front()
        } else {
            let mut text = std::mem::take(&mut held.text);
            self.scrubber.mask_start_at_end(&mut text);
            let data = json!({"type": "content_block_delta", "index": held.index,
                "delta": {"type": held.delta.kind.name(), held.delta.member.name(): text}});
            let event = Event {
                event: Some("content_block_delta".into()),
                data: data.to_string(),
                id: None,
            };
            Some((event, EventKind::Delta(held.delta.kind)))
        };
        if held.text.is_empty() && held.after.is_empty() {
            self.native = None;
        }
        event
    }

    /// What is still held at the end of the stream, as one more item: a
    /// provider's own event, its parts, or a chunk naming `model` (a JSON
    /// string). `None` once nothing is.
    pub(super) fn rest(&mut self, parts: bool, model: &str) -> Option<Item> {
        if let Some((event, kind)) = self.native_rest() {
            return Some(Item::Native(event, kind));
        }
        if !self.held.holds()
            && let Some(&(index, _)) = self.others.first()
        {
            self.choose(index);
        }
        let (mut text, mut reasoning, mut refusal) = (
            std::mem::take(&mut self.held.text),
            std::mem::take(&mut self.held.reasoning),
            std::mem::take(&mut self.held.refusal),
        );
        let mut call = self.held.call.take();
        let mut function = std::mem::take(&mut self.held.function);
        // What a key could have started is released at the end: one that
        // is most of a key goes masked.
        for held in [&mut text, &mut reasoning, &mut refusal, &mut function]
            .into_iter()
            .chain(call.as_mut().map(|(_, arguments)| arguments))
        {
            self.scrubber.mask_start_at_end(held);
        }
        if parts {
            let rest: Vec<Part> = [
                Part::Reasoning(reasoning),
                Part::Text(text),
                Part::Refusal(refusal),
            ]
            .into_iter()
            .filter(|part| {
                !matches!(part, Part::Reasoning(t) | Part::Text(t) | Part::Refusal(t) if t.is_empty())
            })
                .chain(call.map(call_part))
                .collect();
            return (!rest.is_empty()).then_some(Item::Parts(rest));
        }
        let held = [&text, &reasoning, &refusal, &function];
        if held.iter().all(|held| held.is_empty()) && call.is_none() {
            return None;
        }
        let mut delta = Map::new();
        if !reasoning.is_empty() {
            let key = self.held.reasoning_key;
            delta.insert(key.name().into(), Value::String(reasoning));
            mirror_details(&mut self.held.detail_kind, &mut delta, "", key);
        }
        if !text.is_empty() {
            delta.insert("content".into(), Value::String(text));
        }
        if !refusal.is_empty() {
            delta.insert("refusal".into(), Value::String(refusal));
        }
        if let Some(call) = call {
            delta.insert("tool_calls".into(), json!([call_entry(call)]));
        }
        if !function.is_empty() {
            delta.insert("function_call".into(), json!({"arguments": function}));
        }
        let model: Value = serde_json::from_str(model).unwrap_or(Value::Null);
        let mut chunk = json!({"id": self.held.id, "object": "chat.completion.chunk", "model": model,
            "choices": [{"index": self.index, "delta": delta, "finish_reason": null}]});
        // The tail of the text a key could have started, and what it says.
        if let Some(logprobs) = self.logprobs_released() {
            chunk["choices"][0]["logprobs"] = Value::Object(logprobs);
        }
        Some(Item::Chunk(Chunk {
            frame: frame(&chunk),
        }))
    }
}

/// OpenRouter's `reasoning_details` in a delta whose reasoning (`key`) went
/// through the hold, `said` what the chunk's reasoning was before it. Where
/// their texts (`text`, or a summary's `summary`) spell that reasoning, as
/// OpenRouter sends them, they are made to spell what went on in its place
/// (the tail held before, less the tail held now), in the first: a key's
/// start held back in one never goes on in the other. A delta with none,
/// given reasoning the hold passed, gets one spelling it, of the last
/// entry's kind (`kind`). Details that spell something else go on as
/// they came.
fn mirror_details(
    kind: &mut Option<Map<String, Value>>,
    delta: &mut Map<String, Value>,
    said: &str,
    key: Key,
) {
    let passed = match delta.get(key.name()) {
        Some(Value::String(text)) => text.clone(),
        _ => String::new(),
    };
    let Some(Value::Array(details)) = delta.get_mut("reasoning_details") else {
        if let Some(mut entry) = kind
            .clone()
            .filter(|_| said.is_empty() && !passed.is_empty())
        {
            let member = detail_text(&entry).unwrap_or("text");
            entry.insert(member.into(), Value::String(passed));
            delta.insert("reasoning_details".into(), json!([entry]));
        }
        return;
    };
    let spelt: String = (details.iter())
        .filter_map(|entry| entry.as_object().and_then(|e| e[detail_text(e)?].as_str()))
        .collect();
    if spelt != said {
        return;
    }
    let mut passed = Some(passed);
    for entry in details.iter_mut().filter_map(Value::as_object_mut) {
        let Some(member) = detail_text(entry) else {
            continue;
        };
        if passed.is_some() {
            // What a held text sent on its own is given: the entry's kind.
            let mut entry_kind = Map::new();
            for name in ["type", "index", "format", member] {
                if let Some(value) = entry.get(name) {
                    entry_kind.insert(name.into(), value.clone());
                }
            }
            *kind = Some(entry_kind);
        }
        let text = Value::String(passed.take().unwrap_or_default());
        entry.insert(member.into(), text);
    }
}

/// The member of a `reasoning_details` entry that holds its text: `text`,
/// or a summary's `summary`.
fn detail_text(entry: &Map<String, Value>) -> Option<&'static str> {
    ["text", "summary"]
        .into_iter()
        .find(|member| entry.get(*member).is_some_and(Value::is_string))
}

/// Whether a chunk's bytes hold more than one `delta`: a chunk that packs
/// several choices, which the fast path, reading one, cannot pass.
fn packs_choices(data: &[u8]) -> bool {
    static DELTAS: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(&format!("\"{}\"", DELTA.name())).into_owned());
    (DELTAS.find_iter(data))
        .filter(|&at| DELTA.value_in(&data[at..]).is_some())
        .nth(1)
        .is_some()
}

/// `more` (a chunk's `logprobs`) after `held`: each list (`content`,
/// `refusal`) goes on, and anything else is the first seen.
fn join_logprobs(held: &mut Map<String, Value>, more: Map<String, Value>) {
    for (key, value) in more {
        match (held.get_mut(&key), value) {
            (Some(Value::Array(items)), Value::Array(more)) => items.extend(more),
            (Some(Value::Null) | None, value) => drop(held.insert(key, value)),
            _ => {}
        }
    }
}

/// Held arguments of the call at `index`, as a part of their own.
fn call_part((index, arguments): (u64, String)) -> Part {
    Part::ToolCall {
        index,
        id: None,
        name: None,
        arguments,
    }
}

/// Held arguments of the call at `index`, as a chunk's `tool_calls` entry.
fn call_entry((index, arguments): (u64, String)) -> Value {
    json!({"index": index, "function": {"arguments": arguments}})
}

/// Where an event of `kind` carries text, when it does: the kind
/// and member of the text, and the object that holds it: a delta's text,
/// thinking or tool input (in `delta`), or the text or thinking a block
/// starts with, which its deltas go on from (in `content_block`).
fn native_text(kind: EventKind) -> Option<(NativeDelta, &'static str)> {
    let (kind, holder) = match kind {
        EventKind::Delta(kind) => (kind, "delta"),
        EventKind::Start(BlockKind::Text) => (DeltaKind::Text, "content_block"),
        EventKind::Start(BlockKind::Thinking) => (DeltaKind::Thinking, "content_block"),
        EventKind::Start(_) | EventKind::Other => return None,
    };
    let member = Key(kind.member()?);
    Some((NativeDelta { kind, member }, holder))
}

/// The text of a JSON object's member `key` (the last `"key":` in `data`:
/// a chunk's `delta.content`, whose `reasoning_content` is another key),
/// unescaped only when it has an escape.
fn delta_string(data: &[u8], key: Key) -> Option<Text<'_>> {
    let [text] = delta_strings(data, [key]);
    text
}

/// A tool call's `id` and `function.name`, where they are strings.
fn call_names(call: &mut Map<String, Value>) -> impl Iterator<Item = (&'static str, &mut String)> {
    call.iter_mut()
        .filter_map(|(member, value)| match (member.as_str(), value) {
            ("id", Value::String(id)) => Some(("id", id)),
            ("function", Value::Object(function)) => match function.get_mut("name") {
                Some(Value::String(name)) => Some(("name", name)),
                _ => None,
            },
            _ => None,
        })
}

/// Whether a chunk may hold a piece of a tool call's id or name (an `id`
/// or a `name` after its `tool_calls`), or of an audio transcript: such a
/// chunk is read whole, for [`HeldText::mask_split_names`].
fn names_a_call(data: &[u8]) -> bool {
    static CALLS: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"\"tool_calls\""));
    static ID: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"\"id\""));
    static NAME: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"\"name\""));
    static TRANSCRIPT: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"\"transcript\""));
    let after_calls = CALLS.find(data).map(|at| &data[at..]);
    after_calls.is_some_and(|calls| ID.find(calls).is_some() || NAME.find(calls).is_some())
        || TRANSCRIPT.find(data).is_some()
}

/// The text of each of `keys`, as [`delta_string`] reads one, found in
/// one pass from the last quote back to the `delta` that holds them all: a
/// chunk is short, and this builds no searcher per call, as a substring
/// search would. A key whose value is not a string is another's, or says
/// nothing (`logprobs`, after the delta, has `content` and `refusal`
/// lists, or nulls).
fn delta_strings<const N: usize>(data: &[u8], keys: [Key; N]) -> [Option<Text<'_>>; N] {
    let mut found = [None; N];
    let mut left = N;
    for at in memchr::memrchr_iter(b'"', data) {
        let rest = &data[at..];
        for (key, found) in keys.iter().zip(&mut found) {
            if found.is_some() {
                continue;
            }
            let Some(value) = key.value_in(rest) else {
                continue;
            };
            if (rest[value..].iter())
                .find(|b| !b.is_ascii_whitespace())
                .is_some_and(|b| *b == b'"')
            {
                *found = Some(at + value);
                left -= 1;
            }
        }
        if left == 0 || DELTA.value_in(rest).is_some() {
            break;
        }
    }
    found.map(|at| string_at(data, at?))
}

/// A string of a delta, unescaped, or [`Unreadable`] when serde cannot
/// unescape it (a lone surrogate): what it says cannot be judged.
type Text<'a> = Result<Cow<'a, str>, Unreadable>;

/// The JSON string that starts at `at` in `data` (after white space).
fn string_at(data: &[u8], mut at: usize) -> Option<Text<'_>> {
    while data.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    let rest = data.get(at..)?.strip_prefix(b"\"")?;
    // To the closing quote; the byte after a backslash is never it.
    let mut end = 0;
    loop {
        match rest.get(end)? {
            b'\\' => end += 2,
            b'"' => break,
            _ => end += 1,
        }
    }
    let raw = &rest[..end];
    if memchr::memchr(b'\\', raw).is_none() {
        return std::str::from_utf8(raw)
            .ok()
            .map(|text| Ok(Cow::Borrowed(text)));
    }
    let unescaped = serde_json::from_slice::<String>(&data[at..at + raw.len() + 2]);
    Some(unescaped.map(Cow::Owned).map_err(|_| Unreadable))
}

/// A provider's event the key hold had to read whole (a key's start could
/// be in it, or a name written with an escape could hide one) that serde
/// cannot read: a number out of its range, a lone surrogate; or a chunk of
/// a choice past [`MAX_CHOICES`], each of which the hold would keep apart.
/// It cannot be passed on unread, so the stream is cut.
#[derive(Debug)]
pub(super) struct Unreadable;

impl From<Unreadable> for Cut {
    fn from(_: Unreadable) -> Self {
        Cut::Upstream(
            "stream_unreadable",
            AttemptError::InvalidResponse(
                "the provider sent an event clawgate cannot read for keys".into(),
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delta_s_content_is_read_from_its_bytes_unescaped_only_when_escaped() {
        for (data, content) in [
            (
                r#"{"choices":[{"delta":{"content":"a key sk"}}]}"#,
                Some("a key sk"),
            ),
            (
                r#"{"choices":[{"delta":{"content": "say \"hi\" \u0073"}}]}"#,
                Some("say \"hi\" s"),
            ),
            (r#"{"choices":[{"delta":{"reasoning_content":"x"}}]}"#, None),
            (r#"{"choices":[{"delta":{"content":null}}]}"#, None),
            (r#"{"choices":[{"delta":{"content":"cut"#, None),
            // White space before a colon is JSON too.
            (
                r#"{"choices":[{"delta" : {"content" :"spaced"}}]}"#,
                Some("spaced"),
            ),
            (
                "{\"choices\":[{\"delta\":{\"content\"\n:\t\"new line\"}}]}",
                Some("new line"),
            ),
            // Only what `delta` holds is read.
            (
                r#"{"message":{"content":"old"},"choices":[{"delta":{"role":"assistant"}}]}"#,
                None,
            ),
            (
                r#"{"message":{"content":"old"},"choices":[{"delta" :{"role":"assistant"}}]}"#,
                None,
            ),
        ] {
            let read = delta_string(data.as_bytes(), CONTENT).and_then(Result::ok);
            assert_eq!(read.as_deref(), content, "{data}");
            let escaped = data.contains('\\');
            assert_eq!(matches!(read, Some(Cow::Owned(_))), escaped, "{data}");
        }
    }

    /// The client's text of `chunks` passed through a hold for
    /// `configured-key-123`, and what the end gives; `UNREADABLE` where
    /// the hold cuts the stream.
    fn held_chunks(chunks: &[&str]) -> Vec<String> {
        let mut held = HeldText::new(&Redactor::new(["configured-key-123"]));
        let mut out = Vec::new();
        for json in chunks {
            match held.chunk(Chunk::of_json(json.as_bytes()).frame().clone()) {
                Ok(chunks) => out.extend(chunks.into_iter().map(Item::Chunk)),
                Err(Unreadable) => return [text_of(out), vec!["UNREADABLE".into()]].concat(),
            }
        }
        while let Some(rest) = held.rest(false, r#""p/m""#) {
            out.push(rest);
        }
        text_of(out)
    }

    fn text_of(items: Vec<Item>) -> Vec<String> {
        (items.into_iter())
            .map(|item| match item {
                Item::Chunk(chunk) => String::from_utf8(chunk.data().to_vec()).unwrap(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    /// A stream naming more choices than an answer may hold is cut at the
    /// first past them: each choice holding a key's start is kept apart,
    /// and a provider numbering them without end would grow the hold, and
    /// the search for each chunk's choice, without end.
    #[test]
    fn a_stream_naming_more_choices_than_an_answer_holds_is_cut() {
        let chunks: Vec<String> = (0..=MAX_CHOICES)
            .map(|index| {
                format!(
                    r#"{{"choices":[{{"index":{index},"delta":{{"content":"a configured-k"}}}}]}}"#
                )
            })
            .collect();
        let chunks: Vec<&str> = chunks.iter().map(String::as_str).collect();
        let got = held_chunks(&chunks);
        assert_eq!(got.len(), MAX_CHOICES as usize + 1, "{:?}", got.last());
        assert_eq!(got.last().unwrap(), "UNREADABLE");
        assert!(
            got[..MAX_CHOICES as usize]
                .iter()
                .all(|c| c.contains(r#""content":"a ""#))
        );
        let got = held_chunks(&chunks[..MAX_CHOICES as usize]);
        assert!(!got.contains(&"UNREADABLE".to_string()));
    }

    #[test]
    fn a_chunk_ending_in_the_start_of_a_key_holds_it_for_the_next() {
        let plain = r#"{"id":"c","choices":[{"index":0,"delta":{"content":"plain"}}]}"#;
        let start = r#"{"id":"c","choices":[{"index":0,"delta":{"content":"is configured-k"}}]}"#;
        let end = r#"{"id":"c","choices":[{"index":0,"delta":{"content":"ey-123 ok"}}]}"#;
        let finish = r#"{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
        // Nothing held: the bytes as they came.
        assert_eq!(held_chunks(&[plain]), [plain]);
        let got = held_chunks(&[start, end]);
        assert!(got[0].contains(r#""content":"is ""#), "{got:?}");
        assert!(
            got[1].contains(r#""content":"configured-key-123 ok""#),
            "{got:?}"
        );
        assert_eq!(got.len(), 2);
        // Given to a finishing chunk, or sent at the end.
        let got = held_chunks(&[start, finish]);
        assert!(got[1].contains(r#""content":"[redacted]""#), "{got:?}");
        assert_eq!(got.len(), 2);
        let got = held_chunks(&[start]);
        assert!(got[1].contains(r#""content":"[redacted]""#), "{got:?}");
        assert!(got[1].contains(r#""id":"c""#) && got[1].contains(r#""model":"p/m""#));
    }

    /// A tool call's id and name, and an audio transcript, go whole as
    /// they came; sent in pieces, a piece goes `[redacted]` where a key
    /// the pieces spell reaches into it, or where they end on half a key
    /// or more: per choice and call, and never more than that.
    #[test]
    fn a_key_spelt_across_a_call_s_name_or_id_pieces_is_masked() {
        let call = |index: u64, member: &str| {
            let (id, name) = match member.split_once('=') {
                Some(("id", id)) => (format!(r#","id":"{id}""#), String::new()),
                Some(("name", name)) => (String::new(), format!(r#""name":"{name}","#)),
                _ => unreachable!(),
            };
            format!(
                r#"{{"id":"c","choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":{index}{id},"function":{{{name}"arguments":""}}}}]}}}}]}}"#
            )
        };
        // Whole, as they came (a key whole in one is the bytes' scrub's).
        for whole in [
            "name=read_configured-key-123",
            "name=list_files",
            "id=call_1",
        ] {
            let chunk = call(0, whole);
            assert_eq!(held_chunks(&[&chunk]), [chunk], "{whole}");
        }
        for member in ["name", "id"] {
            let got = held_chunks(&[
                &call(0, &format!("{member}=config")),
                &call(1, &format!("{member}=conf")),
                &call(0, &format!("{member}=ured-")),
                &call(0, &format!("{member}=key-123")),
                &call(0, &format!("{member}=_read")),
            ]);
            // Six of the key's eighteen characters; from half of it on,
            // masked to its end; what follows it as it came.
            assert!(got[0].contains(r#""config""#), "{got:?}");
            assert!(got[2].contains(r#""[redacted]""#), "{got:?}");
            assert!(got[3].contains(r#""[redacted]""#), "{got:?}");
            assert!(got[4].contains(r#""_read""#), "{got:?}");
            // Another call's pieces are its own: not joined with these.
            assert!(got[1].contains(r#""conf""#), "{got:?}");
        }
        // A piece that ends a key begun before it and holds another whole.
        let got = held_chunks(&[
            &call(0, "name=configu"),
            &call(0, "name=red-key-123configured-key-123"),
        ]);
        assert!(got[1].contains(r#""[redacted]""#), "{got:?}");
        let audio = |text: &str| {
            format!(
                r#"{{"id":"c","choices":[{{"index":0,"delta":{{"audio":{{"transcript":"{text}"}}}}}}]}}"#
            )
        };
        let got = held_chunks(&[
            &audio("is config"),
            &audio("ured-key-123"),
            &audio(" and more"),
        ]);
        assert!(got[0].contains(r#""is config""#), "{got:?}");
        assert!(got[1].contains(r#""[redacted]""#), "{got:?}");
        assert!(got[2].contains(r#"" and more""#), "{got:?}");
    }

    /// A provider's bytes may spell a member's name in ways a search of
    /// them misses: white space before its colon, a letter of its name
    /// escaped. Its text is held all the same; and a chunk the hold must
    /// read whole but serde cannot read (a number out of range, a lone
    /// surrogate) is not passed on: the stream is cut.
    #[test]
    fn a_key_start_in_a_name_spelt_unusually_is_held_and_an_unreadable_one_cuts() {
        let chunk = |name: &str, text: &str| {
            format!(r#"{{"id":"c","choices":[{{"index":0,"delta":{{{name}"{text}"}}}}]}}"#)
        };
        for name in [r#""content" :"#, "\"content\"\t:\t", r#""c\u006fntent":"#] {
            let got = held_chunks(&[&chunk(name, "is configured-k"), &chunk(name, "ey-123 ok")]);
            assert!(got[0].contains(r#""content":"is ""#), "{name}: {got:?}");
            assert!(
                got[1].contains(r#""content":"configured-key-123 ok""#),
                "{name}: {got:?}"
            );
        }
        // Packed choices spaced so are each held too.
        let packed = r#"{"id":"c","choices":[{"index":0,"delta" :{"content":"a"}},{"index":1,"delta" :{"content":"is configured-k"}}]}"#;
        let got = held_chunks(&[packed]);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[1].contains(r#""content":"is ""#), "{got:?}");
        for unreadable in [
            r#"{"id":"c","n":1e999,"choices":[{"index":0,"delta":{"content":"is configured-k"}}]}"#,
            r#"{"id":"c","choices":[{"index":0,"delta":{"content":"\ud800 is configured-k"}}]}"#,
            // A string serde cannot unescape is not judged by its bytes.
            r#"{"id":"c","choices":[{"index":0,"delta":{"content":"\ud800 configured\u002d"}}]}"#,
        ] {
            assert_eq!(held_chunks(&[unreadable]), ["UNREADABLE"]);
        }
        // Nor is one that follows a held tail with text of its own.
        let start = chunk(r#""content":"#, "is configured-k");
        let rest =
            r#"{"id":"c","n":1e999,"choices":[{"index":0,"delta":{"content":"ey-123 ok"}}]}"#;
        let got = held_chunks(&[&start, rest]);
        assert_eq!(
            got.last().map(String::as_str),
            Some("UNREADABLE"),
            "{got:?}"
        );
        assert!(!got.concat().contains("ey-123"), "{got:?}");
        // One that needs no reading goes on as it came, and data that is
        // no chunk leaves what is held for the next.
        let plain = r#"{"id":"c","n":1e999,"choices":[{"index":0,"delta":{"content":"ok"}}]}"#;
        assert_eq!(held_chunks(&[plain]), [plain]);
        let content = r#""content":"#;
        let got = held_chunks(&[
            &chunk(content, "is configured-k"),
            "keep-alive",
            &chunk(content, "ey-123 ok"),
        ]);
        assert_eq!(got[1], "keep-alive", "{got:?}");
        assert!(got[2].contains("configured-key-123 ok"), "{got:?}");
    }

    /// A choice's `logprobs` come after its `delta` and hold `content`
    /// and `refusal` members of their own (lists): the delta's are read.
    #[test]
    fn a_key_split_across_chunks_with_logprobs_is_held_too() {
        let chunk = |text: &str| {
            let logprobs =
                r#"{"content":[{"token":"k","logprob":-0.1,"top_logprobs":[]}],"refusal":null}"#;
            format!(
                r#"{{"id":"c","choices":[{{"index":0,"delta":{{"content":"{text}"}},"logprobs":{logprobs},"finish_reason":null}}]}}"#
            )
        };
        let (start, end) = (chunk("is configured-k"), chunk("ey-123 ok"));
        assert_eq!(
            delta_string(start.as_bytes(), CONTENT)
                .and_then(Result::ok)
                .as_deref(),
            Some("is configured-k")
        );
        let got = held_chunks(&[&start, &end]);
        assert!(got[0].contains(r#""content":"is ""#), "{got:?}");
        assert!(
            got[1].contains(r#""content":"configured-key-123 ok""#),
            "{got:?}"
        );
        // The held text's log probabilities are held with it, and go with
        // the key it joins into; with a text that only looked like one,
        // they go on with it.
        assert!(!got.concat().contains("logprobs"), "{got:?}");
        let got = held_chunks(&[&start, &chunk("ay ok")]);
        assert!(!got[0].contains("logprobs"), "{got:?}");
        let tokens = r#""content":[{"token":"k","logprob":-0.1,"top_logprobs":[]},{"token":"k","#;
        assert!(got[1].contains(tokens), "{got:?}");
        // A key whole in one chunk (its tokens spell it), and one whose tail
        // is held then goes with a text that is no key: the log
        // probabilities go with the key all the same.
        let whole = chunk("the key configured-key-123 said");
        let got = held_chunks(&[&whole]);
        assert_eq!(got.len(), 1);
        assert!(!got[0].contains("logprobs"), "{got:?}");
        let got = held_chunks(&[&chunk("configured-key-123 and configured-k"), &chunk("ay")]);
        assert!(!got.concat().contains("logprobs"), "{got:?}");
        let got = held_chunks(&[&chunk("configured-key-123 and configured-k")]);
        assert!(!got.concat().contains("logprobs"), "{got:?}");
        // A `null` member in `logprobs` is not the delta's.
        let null = r#"{"choices":[{"delta":{"content":"a key sk"},"logprobs":{"content":null}}]}"#;
        assert_eq!(
            delta_string(null.as_bytes(), CONTENT)
                .and_then(Result::ok)
                .as_deref(),
            Some("a key sk")
        );
    }

    /// A stream of several choices (`n` above 1) holds each one's text for
    /// that choice alone: a tail held goes on with its own choice's next
    /// text, or at the end under its own index.
    #[test]
    fn each_choice_of_a_stream_holds_its_own_text() {
        let chunk = |index: u8, text: &str| {
            format!(
                r#"{{"id":"c","choices":[{{"index":{index},"delta":{{"content":"{text}"}}}}]}}"#
            )
        };
        let got = held_chunks(&[
            &chunk(0, "is configured-k"),
            &chunk(1, "hello"),
            &chunk(0, "ey-123 ok"),
            &chunk(1, "is conf"),
        ]);
        let said = |got: &[String], at: usize, index: u8, text: &str| {
            let (index, text) = (
                format!(r#""index":{index}"#),
                format!(r#""content":"{text}""#),
            );
            assert!(
                got[at].contains(&index) && got[at].contains(&text),
                "{got:#?}"
            );
        };
        said(&got, 0, 0, "is ");
        said(&got, 1, 1, "hello");
        said(&got, 2, 0, "configured-key-123 ok");
        said(&got, 3, 1, "is ");
        said(&got, 4, 1, "conf");
        assert_eq!(got.len(), 5, "{got:#?}");
        // Both holding at the end: each tail goes out once, as its own.
        let got = held_chunks(&[&chunk(0, "a conf"), &chunk(1, "b config")]);
        said(&got, 0, 0, "a ");
        said(&got, 1, 1, "b ");
        let tails = [&got[2], &got[3]];
        assert!(
            tails
                .iter()
                .any(|t| t.contains(r#""index":0"#) && t.contains(r#""content":"conf""#))
        );
        assert!(
            tails
                .iter()
                .any(|t| t.contains(r#""index":1"#) && t.contains(r#""content":"config""#))
        );
        assert_eq!(got.len(), 4, "{got:#?}");
        // A finish with no delta, or a `null` one, takes what its choice
        // held.
        for finish in [
            r#"{"id":"c","choices":[{"index":0,"finish_reason":"stop"}]}"#,
            r#"{"id":"c","choices":[{"index":0,"delta":null,"finish_reason":"stop"}]}"#,
        ] {
            let got = held_chunks(&[&chunk(0, "a conf"), finish]);
            assert!(got[1].contains(r#""content":"conf""#), "{got:#?}");
            assert!(got[1].contains(r#""finish_reason":"stop""#), "{got:#?}");
            assert_eq!(got.len(), 2, "{got:#?}");
        }
    }

    /// OpenRouter's `reasoning_details` spell the reasoning again: they
    /// are held with it, and a key split across two deltas goes on in
    /// neither.
    #[test]
    fn reasoning_details_are_held_with_the_reasoning_they_spell() {
        // As the relay reads OpenRouter's chunks (`reasoning` shaped into
        // `reasoning_content`) and as they come; a text's detail, and a
        // summary's.
        for (key, kind, member) in [
            (REASONING_KEYS[0], "reasoning.text", "text"),
            (REASONING_KEYS[1], "reasoning.text", "text"),
            (REASONING_KEYS[0], "reasoning.summary", "summary"),
        ] {
            let chunk = |text: &str| {
                let delta = json!({key.name(): text, "reasoning_details":
                    [{"type": kind, member: text, "index": 0, "format": "unknown"}]});
                json!({"id": "c", "choices": [{"index": 0, "delta": delta}]}).to_string()
            };
            let details = |got: &[String]| -> Vec<String> {
                (got.iter())
                    .map(|c| serde_json::from_str::<Value>(c).unwrap())
                    .map(|c| c["choices"][0]["delta"]["reasoning_details"][0][member].clone())
                    .map(|text| text.as_str().unwrap_or_default().to_owned())
                    .collect()
            };
            let reasoning = |got: &[String]| -> Vec<String> {
                got.iter().map(|c| delta_text(c, key)).collect()
            };
            let got = held_chunks(&[&chunk("I recall configured-k"), &chunk("ey-123, noted")]);
            assert_eq!(details(&got), reasoning(&got), "{got:#?}");
            assert_eq!(
                details(&got),
                ["I recall ", "configured-key-123, noted"],
                "{got:#?}"
            );
            // A tail held to the end goes with a detail of its own kind.
            let got = held_chunks(&[&chunk("held at the end: configured-k")]);
            assert_eq!(details(&got), ["held at the end: ", "[redacted]"]);
            assert!(got[1].contains(r#""format":"unknown""#), "{got:#?}");
            assert!(got[1].contains(kind), "{got:#?}");
        }
        // Details that spell something else go on as they came.
        let other = r#"{"choices":[{"index":0,"delta":{"reasoning":"a conf","reasoning_details":[{"type":"reasoning.text","text":"other"}]}}]}"#;
        assert!(held_chunks(&[other])[0].contains(r#""text":"other""#));
    }

    /// The text of choice `index` in `chunks`, put together.
    fn text_of_choice(chunks: &[String], index: u8) -> String {
        (chunks.iter())
            .filter(|c| c.contains(&format!(r#""index":{index}"#)))
            .map(|c| delta_text(c, CONTENT))
            .collect()
    }

    /// The string `key` of `chunk`'s delta, unescaped; empty without one.
    fn delta_text(chunk: &str, key: Key) -> String {
        delta_string(chunk.as_bytes(), key)
            .and_then(Result::ok)
            .unwrap_or_default()
            .into_owned()
    }

    /// A chunk that packs several choices goes on as one chunk a choice,
    /// each choice's text through its own hold.
    #[test]
    fn a_chunk_packing_several_choices_holds_each_one_s_text() {
        let packed = |first: &str, second: &str| {
            format!(
                r#"{{"id":"c","choices":[{{"index":0,"delta":{{"content":"{first}"}},"finish_reason":null}},{{"index":1,"delta":{{"content":"{second}"}},"finish_reason":null}}],"usage":null}}"#
            )
        };
        let got = held_chunks(&[
            &packed("plain", "is configured-k"),
            &packed("a conf", "ey-123 ok"),
            &packed("igured-key-123", "done"),
        ]);
        // Each key whole in one chunk, where the bytes' scrub masks it.
        for chunk in &got {
            assert_eq!(chunk.matches(r#""index":"#).count(), 1, "{got:#?}");
            let text = delta_string(chunk.as_bytes(), CONTENT)
                .and_then(Result::ok)
                .unwrap_or_default();
            assert_eq!(
                text.matches("conf").count(),
                text.matches("configured-key-123").count(),
                "{got:#?}"
            );
        }
        // Each choice's text in its order, under its own index.
        let text = |index| text_of_choice(&got, index);
        assert_eq!(text(0), "plaina configured-key-123", "{got:#?}");
        assert_eq!(text(1), "is configured-key-123 okdone", "{got:#?}");
        // The chunk's usage goes once, with its last choice.
        assert_eq!(got.concat().matches(r#""usage""#).count(), 3, "{got:#?}");
        // Choices packed without their index are held by their place.
        let unnumbered = |first: &str, second: &str| {
            format!(
                r#"{{"choices":[{{"delta":{{"content":"{first}"}}}},{{"delta":{{"content":"{second}"}}}}]}}"#
            )
        };
        let got = held_chunks(&[
            &unnumbered("a conf", "b"),
            &unnumbered("igured-key-123", "c"),
        ]);
        let text = |index| text_of_choice(&got, index);
        assert_eq!(text(0), "a configured-key-123", "{got:#?}");
        assert_eq!(text(1), "bc", "{got:#?}");
        // Nothing held, and one choice: the bytes as they came.
        let one = r#"{"id":"c","choices":[{"index":0,"delta":{"content":"plain"}}]}"#;
        assert_eq!(held_chunks(&[one]), [one]);
    }

    /// A provider's own event out of the hold, whose kind must be what its
    /// text says.
    fn own((event, kind): Own) -> Event {
        assert_eq!(kind, EventKind::of(&event), "{event:?}");
        event
    }

    /// Whether a provider's own event adds to the answer (else it is a
    /// keep-alive), with keys to hold and without: a `ping` and a block's
    /// delta with an empty piece do not; a text that starts a key, held,
    /// does, and so does one whose name hides behind an escape. Without
    /// keys, every event goes on as it came.
    #[test]
    fn a_ping_or_an_empty_delta_adds_nothing_to_the_answer() {
        let delta =
            |delta: &str| format!(r#"{{"type":"content_block_delta","index":0,"delta":{delta}}}"#);
        let cases = [
            ("ping", r#"{"type":"ping"}"#.to_string(), false),
            ("content_block_delta", delta(r#"{"type":"text_delta","text":""}"#), false),
            ("content_block_delta", delta(r#"{"type":"thinking_delta","thinking":""}"#), false),
            ("content_block_delta", delta(r#"{"type":"input_json_delta","partial_json":""}"#), false),
            ("content_block_delta", delta(r#"{"type":"text_delta"}"#), false),
            ("content_block_delta", delta(r#"{"type":"text_delta","text":"hi"}"#), true),
            ("content_block_delta", delta(r#"{"type":"text_delta","text":"configured-k"}"#), true),
            ("content_block_delta", delta(r#"{"type":"signature_delta","signature":""}"#), true),
            ("content_block_delta", delta(r#"{"type":"citations_delta","citation":{}}"#), true),
            ("content_block_delta", delta(r#"{"type":"text_delta","t\u0065xt":"hi"}"#), true),
            ("", r#"{"type":"ping"}"#.into(), true),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#.into(),
                true,
            ),
            ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#.into(), true),
            ("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"}}"#.into(), true),
        ];
        for keys in [&["configured-key-123"][..], &[]] {
            for (name, data, adds) in &cases {
                let mut held = HeldText::new(&Redactor::new(keys.iter().copied()));
                let event = Event {
                    event: (!name.is_empty()).then(|| (*name).into()),
                    data: data.clone(),
                    id: None,
                };
                let (events, added) = held.native(event.clone()).unwrap();
                assert_eq!(added, *adds, "{keys:?} {name} {data}");
                if keys.is_empty() {
                    let events: Vec<Event> = events.into_iter().map(own).collect();
                    assert_eq!(events, [event], "{name} {data}");
                }
            }
        }
    }

    /// The events a hold for `configured-key-123` lets through for
    /// `events` (name, or none when empty; data), and what the end gives,
    /// as `name data`;
    /// ` UNREADABLE` where the hold cuts the stream.
    fn held_native(events: &[(&str, &str)]) -> Vec<String> {
        let mut held = HeldText::new(&Redactor::new(["configured-key-123"]));
        let mut out: Vec<Event> = Vec::new();
        for (name, data) in events {
            let event = Event {
                event: (!name.is_empty()).then(|| (*name).into()),
                data: (*data).into(),
                id: None,
            };
            match held.native(event) {
                Ok((events, _)) => out.extend(events.into_iter().map(own)),
                Err(Unreadable) => {
                    out.push(Event {
                        event: None,
                        data: "UNREADABLE".into(),
                        id: None,
                    });
                    break;
                }
            }
        }
        while let Some(item) = held.rest(true, "null") {
            match item {
                Item::Native(event, kind) => out.push(own((event, kind))),
                other => panic!("{other:?}"),
            }
        }
        (out.into_iter())
            .map(|event| format!("{} {}", event.event.unwrap_or_default(), event.data))
            .collect()
    }

    /// A provider's own delta holds its text for the hold however its
    /// bytes spell the member's name; one the hold must read whole but
    /// cannot read cuts the stream.
    #[test]
    fn a_native_delta_spelt_unusually_is_held_and_an_unreadable_one_cuts() {
        let text = |name: &str, text: &str| {
            format!(
                r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta",{name}"{text}"}}}}"#
            )
        };
        let delta = "content_block_delta";
        for name in [r#""text" :"#, r#""t\u0065xt":"#] {
            let (start, end) = (text(name, "is configured-k"), text(name, "ey-123 ok"));
            let got = held_native(&[(delta, &start), (delta, &end)]);
            assert!(got[0].contains(r#""text":"is ""#), "{name}: {got:?}");
            assert!(
                got[1].contains(r#""text":"configured-key-123 ok""#),
                "{name}: {got:?}"
            );
        }
        // Its kind's name escaped too, in an event that has no name.
        let typed = |text: &str| {
            format!(
                r#"{{"t\u0079pe":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{text}"}}}}"#
            )
        };
        let got = held_native(&[("", &typed("is configured-k")), ("", &typed("ey-123"))]);
        assert!(got[1].contains(r#""text":"configured-key-123""#), "{got:?}");
        let unreadable = r#"{"type":"content_block_delta","index":0,"pad":1e999,"delta":{"type":"text_delta","text":"is configured-k"}}"#;
        assert_eq!(held_native(&[(delta, unreadable)]), [" UNREADABLE"]);
        // One that follows a held tail, with text of its own, cuts too.
        let rest = r#"{"type":"content_block_delta","index":0,"pad":1e999,"delta":{"type":"text_delta","text":"ey-123 ok"}}"#;
        let got = held_native(&[
            (delta, &text(r#""text":"#, "is configured-k")),
            (delta, rest),
        ]);
        assert_eq!(got[1], " UNREADABLE", "{got:?}");
        assert!(!got.concat().contains("ey-123"), "{got:?}");
    }

    /// A block's start may carry text its deltas go on from: a key's start
    /// at its end is held for the block's first delta, or goes as a delta
    /// of its own before the block's end.
    #[test]
    fn a_block_start_ending_in_the_start_of_a_key_holds_it_for_its_delta() {
        let (start, delta) = ("content_block_start", "content_block_delta");
        for (kind, member) in [("text", "text"), ("thinking", "thinking")] {
            let begins = format!(
                r#"{{"type":"content_block_start","index":0,"content_block":{{"type":"{kind}","{member}":"is configured-k"}}}}"#
            );
            let goes_on = format!(
                r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"{kind}_delta","{member}":"ey-123 ok"}}}}"#
            );
            let got = held_native(&[(start, &begins), (delta, &goes_on)]);
            assert_eq!(got.len(), 2, "{got:?}");
            assert!(got[0].contains(&format!(r#""{member}":"is ""#)), "{got:?}");
            assert!(
                got[1].contains(&format!(r#""{member}":"configured-key-123 ok""#)),
                "{got:?}"
            );
            let stop = r#"{"type":"content_block_stop","index":0}"#;
            let got = held_native(&[(start, &begins), ("content_block_stop", stop)]);
            assert_eq!(got.len(), 3, "{got:?}");
            assert!(
                got[1].starts_with(delta) && got[1].contains("[redacted]"),
                "{got:?}"
            );
        }
    }

    #[test]
    fn a_native_delta_ending_in_the_start_of_a_key_holds_it_for_its_block() {
        let text = |index: u8, text: &str| {
            format!(
                r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"text_delta","text":"{text}"}}}}"#
            )
        };
        let stop = r#"{"type":"content_block_stop","index":0}"#;
        let (plain, start, end) = (
            text(0, "plain"),
            text(0, "is configured-k"),
            text(0, "ey-123 ok"),
        );
        // Nothing held: the event as it came.
        let delta = "content_block_delta";
        assert_eq!(
            held_native(&[(delta, &plain)]),
            [format!("{delta} {plain}")]
        );
        let got = held_native(&[(delta, &start), (delta, &end)]);
        assert!(got[0].contains(r#""text":"is ""#), "{got:?}");
        assert!(
            got[1].contains(r#""text":"configured-key-123 ok""#),
            "{got:?}"
        );
        assert_eq!(got.len(), 2);
        // Before another block's delta or the block's end, as a delta of
        // its own block; or at the end of the stream.
        for next in [text(1, "more"), stop.to_string()] {
            let name = if next == stop {
                "content_block_stop"
            } else {
                delta
            };
            let got = held_native(&[(delta, &start), (name, &next)]);
            assert_eq!(got.len(), 3, "{got:?}");
            assert!(got[1].contains(r#""index":0"#) && got[1].contains(r#""text":"[redacted]""#));
            assert_eq!(got[2], format!("{name} {next}"));
        }
        let got = held_native(&[(delta, &start)]);
        assert!(got[1].starts_with(delta) && got[1].contains(r#""text":"[redacted]""#));
        // Thinking likewise, in its own member.
        let thinking = r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"so configured"}}"#;
        let got = held_native(&[(delta, thinking), (delta, thinking)]);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(
            got[1].contains(r#""thinking":"configuredso ""#)
                && got[2].contains(r#""thinking":"configured""#),
            "{got:?}"
        );
    }

    /// OpenRouter's `reasoning`, and a chat client's refusal, are held as
    /// content is, under their own names: a key split across two deltas
    /// is joined, so scrubbed whole; held to the end, it goes out in a
    /// chunk of its own.
    #[test]
    fn a_chunk_ending_in_the_start_of_a_key_in_its_reasoning_or_refusal_holds_it_under_its_name() {
        for member in ["reasoning", "refusal"] {
            let chunk = |text: &str| {
                format!(r#"{{"id":"c","choices":[{{"index":0,"delta":{{"{member}":"{text}"}}}}]}}"#)
            };
            let (start, end) = (chunk("is configured-k"), chunk("ey-123 ok"));
            let got = held_chunks(&[&start, &end]);
            assert!(got[0].contains(&format!(r#""{member}":"is ""#)), "{got:?}");
            assert!(!got[0].contains("content"), "{got:?}");
            assert!(
                got[1].contains(&format!(r#""{member}":"configured-key-123 ok""#)),
                "{got:?}"
            );
            let got = held_chunks(&[&start]);
            assert!(
                got[1].contains(&format!(r#""{member}":"[redacted]""#)),
                "{got:?}"
            );
        }
    }

    #[test]
    fn a_call_s_arguments_ending_in_the_start_of_a_key_hold_it_for_that_call() {
        let call = |index: u8, arguments: &str| {
            format!(
                r#"{{"id":"c","choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":{index},"function":{{"arguments":"{arguments}"}}}}]}}}}]}}"#
            )
        };
        let (start, end) = (call(0, "is configured-k"), call(0, "ey-123"));
        let got = held_chunks(&[&start, &end]);
        assert!(got[0].contains(r#""arguments":"is ""#), "{got:?}");
        assert!(
            got[1].contains(r#""arguments":"configured-key-123""#),
            "{got:?}"
        );
        // Before another call's arguments, under its own index; at the end.
        let got = held_chunks(&[&start, &call(1, "x")]);
        let second: Value = serde_json::from_str(&got[1]).unwrap();
        let calls = &second["choices"][0]["delta"]["tool_calls"];
        assert_eq!(
            calls[0],
            json!({"index": 0, "function": {"arguments": "configured-k"}})
        );
        assert_eq!(calls[1]["index"], 1);
        let got = held_chunks(&[&start]);
        assert!(got[1].contains(r#""arguments":"[redacted]""#), "{got:?}");
    }

    #[test]
    fn parts_ending_in_the_start_of_a_key_hold_it_for_the_next() {
        let mut held = HeldText::new(&Redactor::new(["configured-key-123"]));
        let mut first = vec![Part::Text("is config".into()), Part::Reasoning("c".into())];
        held.parts(&mut first);
        assert_eq!(
            first,
            [Part::Text("is ".into()), Part::Reasoning(String::new())]
        );
        let mut next = vec![Part::Text("ured-key-123".into())];
        held.parts(&mut next);
        assert_eq!(next, [Part::Text("configured-key-123".into())]);
        assert_eq!(
            held.rest(true, "null"),
            Some(Item::Parts(vec![Part::Reasoning("c".into())]))
        );
        assert_eq!(held.rest(true, "null"), None);
        // What is held goes with the finish, before it.
        let mut first = vec![Part::Text("is config".into())];
        held.parts(&mut first);
        let mut last = vec![Part::Finish("stop".into())];
        held.parts(&mut last);
        let config = Part::Text("config".into());
        assert_eq!(last, [config, Part::Finish("stop".into())]);
    }

    /// A refusal is held as text is, on a strand of its own: a key split
    /// across its deltas is joined (and so scrubbed whole), and a tail of
    /// the text does not run into it.
    #[test]
    fn a_refusal_holds_the_start_of_a_key_on_its_own_strand() {
        let mut held = HeldText::new(&Redactor::new(["configured-key-123"]));
        let mut first = vec![Part::Text("ok".into()), Part::Refusal("no config".into())];
        held.parts(&mut first);
        assert_eq!(
            first,
            [Part::Text("ok".into()), Part::Refusal("no ".into())]
        );
        let mut next = vec![Part::Refusal("ured-key-123".into())];
        held.parts(&mut next);
        assert_eq!(next, [Part::Refusal("configured-key-123".into())]);
        let mut last = vec![
            Part::Refusal("x config".into()),
            Part::Finish("stop".into()),
        ];
        held.parts(&mut last);
        assert_eq!(
            last,
            [
                Part::Refusal("x config".into()),
                Part::Finish("stop".into())
            ]
        );
    }

    #[test]
    fn parts_of_a_key_running_from_one_call_into_the_next_are_masked_in_both() {
        let mut held = HeldText::new(&Redactor::new(["configured-key-123"]));
        let call = |index: u64, arguments: &str| Part::ToolCall {
            index,
            id: None,
            name: None,
            arguments: arguments.into(),
        };
        let mut first = vec![call(0, "is configured-k")];
        held.parts(&mut first);
        assert_eq!(first, [call(0, "is ")]);
        // A header without text: the held arguments wait.
        let mut header = vec![call(1, "")];
        held.parts(&mut header);
        assert_eq!(header, [call(1, "")]);
        let mut next = vec![call(1, "ey-123 ok")];
        held.parts(&mut next);
        assert_eq!(next, [call(0, "[redacted]"), call(1, "[redacted] ok")]);
        // From the text into a call; the text's tail goes with the finish.
        let mut text = vec![Part::Text("is configured-k".into())];
        held.parts(&mut text);
        let mut last = vec![call(2, "ey-123"), Part::Finish("tool_calls".into())];
        held.parts(&mut last);
        let redacted = Part::Text("[redacted]".into());
        let finish = Part::Finish("tool_calls".into());
        assert_eq!(last, [call(2, "[redacted]"), redacted, finish]);
    }

    #[test]
    fn a_key_running_from_one_call_or_the_text_into_the_next_call_is_masked_in_both() {
        let call = |index: u8, arguments: &str| {
            format!(
                r#"{{"id":"c","choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":{index},"function":{{"arguments":"{arguments}"}}}}]}}}}]}}"#
            )
        };
        let text = r#"{"id":"c","choices":[{"index":0,"delta":{"content":"is configured-k"}}]}"#;
        let calls = |got: &[String]| -> Vec<Value> {
            (got.iter())
                .map(|chunk| serde_json::from_str::<Value>(chunk).unwrap())
                .flat_map(|chunk| {
                    let calls = chunk["choices"][0]["delta"]["tool_calls"].clone();
                    calls.as_array().cloned().unwrap_or_default()
                })
                .collect()
        };
        // The next call's first text, after a header without any: the
        // held arguments wait for it, and both parts are masked.
        let got = held_chunks(&[
            &call(0, "is configured-k"),
            &call(1, ""),
            &call(1, "ey-123 ok"),
        ]);
        let got = calls(&got);
        let arguments: Vec<_> = got
            .iter()
            .map(|c| (c["index"].clone(), c["function"]["arguments"].clone()))
            .collect();
        assert_eq!(
            arguments,
            [
                (json!(0), json!("is ")),
                (json!(1), json!("")),
                (json!(0), json!("[redacted]")),
                (json!(1), json!("[redacted] ok")),
            ]
        );
        // No key across them: each as it was.
        let got = calls(&held_chunks(&[&call(0, "is configured-k"), &call(1, "x")]));
        assert_eq!(got[1]["function"]["arguments"], "configured-k");
        assert_eq!(got[2]["function"]["arguments"], "x");
        // From the text into a call: the text's tail masked where it goes.
        let got = held_chunks(&[text, &call(0, "ey-123 ok")]);
        let second: Value = serde_json::from_str(&got[1]).unwrap();
        let delta = &second["choices"][0]["delta"];
        assert_eq!(delta["content"], "[redacted]", "{got:?}");
        assert_eq!(
            delta["tool_calls"][0]["function"]["arguments"],
            "[redacted] ok"
        );
    }

    #[test]
    fn a_key_running_from_one_native_block_into_the_next_is_masked_in_both() {
        let delta = |index: u8, kind: &str, member: &str, text: &str| {
            (
                "content_block_delta",
                format!(
                    r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"{kind}","{member}":"{text}"}}}}"#
                ),
            )
        };
        let stop = (
            "content_block_stop",
            r#"{"type":"content_block_stop","index":0}"#.to_string(),
        );
        let start = |kind: &str| {
            (
                "content_block_start",
                format!(
                    r#"{{"type":"content_block_start","index":1,"content_block":{{"type":"{kind}"}}}}"#
                ),
            )
        };
        let first = delta(0, "text_delta", "text", "is configured-k");
        for (next_start, next, rest) in [
            (
                start("text"),
                delta(1, "text_delta", "text", "ey-123 ok"),
                "[redacted] ok",
            ),
            (
                start("tool_use"),
                delta(1, "input_json_delta", "partial_json", "ey-123\\\"}"),
                "[redacted]\\\"}",
            ),
        ] {
            let empty = delta(1, "input_json_delta", "partial_json", "");
            let events = [first.clone(), stop.clone(), next_start.clone(), empty, next];
            let events: Vec<(&str, &str)> = events.iter().map(|(n, d)| (*n, d.as_str())).collect();
            let got = held_native(&events);
            // In order: the tail in its block, before the block's end.
            assert_eq!(got.len(), 6, "{got:?}");
            assert!(got[0].contains(r#""text":"is ""#), "{got:?}");
            assert!(
                got[1].contains(r#""index":0"#) && got[1].contains(r#""text":"[redacted]""#),
                "{got:?}"
            );
            assert!(
                got[2].starts_with("content_block_stop")
                    && got[3].starts_with("content_block_start")
            );
            assert!(got[5].contains(rest), "{rest} in {got:?}");
        }
        // Nothing after it: the tail as it was, then what came.
        let got = held_native(&[(first.0, &first.1), (stop.0, &stop.1)]);
        assert!(
            got[1].contains(r#""text":"[redacted]""#) && got[2].starts_with("content_block_stop")
        );
        // Too much between: the tail masked whole, what follows unknown.
        let ping = ("ping", r#"{"type":"ping"}"#);
        let mut events = vec![(first.0, first.1.as_str())];
        events.extend([ping; MAX_HELD_EVENTS + 1]);
        let got = held_native(&events);
        assert_eq!(got.len(), MAX_HELD_EVENTS + 3, "{got:?}");
        assert!(got[1].contains(r#""text":"[redacted]""#), "{got:?}");
    }
}
