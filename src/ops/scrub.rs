//! Removing known keys from relayed bytes, as they stream.
//!
//! A [`Scrubber`] holds the keys of one config and replaces each occurrence
//! of any of them in a byte stream with `[redacted]`: written raw, or with
//! any of its characters JSON-escaped (`\u0073k-...`, `\/`, a surrogate pair
//! for a character outside the BMP), so a provider that echoes a key inside
//! any field of an answer or a stream chunk cannot hand it to a client.
//!
//! It is a search over bytes, not a JSON parse: a multi-pattern search
//! (Aho-Corasick) for the raw keys, and around each JSON escape a check of
//! the few places a key with escaped characters could start. Nothing is
//! allocated or copied when nothing matches. A [`StreamScrub`] carries one
//! stream's state across chunks: it holds back only the tail of a chunk
//! that could still be the start of a key (at most a few times the longest
//! key), never the stream.
//!
//! An escape is decoded wherever a backslash is followed by one, inside a
//! JSON string or not, so a literal `\u0073` in text may be taken for an
//! `s`: the scrubber errs on the side of redacting.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use bytes::{Bytes, BytesMut};

/// What a secret is replaced by, wherever it is found.
pub const REDACTED: &str = "[redacted]";

/// Keys and secrets shorter than this are not searched for, here or by the
/// `Redactor`: they would mangle ordinary words.
pub const MIN_KEY_LEN: usize = 4;

/// The shortest start of a key [`Scrubber::mask_start_at_end`] masks.
const MOST_OF_A_KEY: usize = 12;

/// The longest JSON escape of one key byte: `\u0041` for one ASCII byte
/// (a character of 2 to 4 bytes takes at most 12 escaped bytes).
const MAX_ESCAPED_PER_BYTE: usize = 6;

/// The keys of one config and the search for them. Cheap to clone.
#[derive(Clone, Default)]
pub struct Scrubber {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    keys: Box<[Box<[u8]>]>,
    /// The raw keys, leftmost-longest.
    raw: AhoCorasick,
    /// Bytes a key starts with.
    first: [bool; 256],
    /// Bytes that occur in some key.
    in_key: [bool; 256],
    /// Bytes that occur in some key as written with escapes: its own
    /// bytes, and a JSON escape's (backslash, `u`, hex digits).
    in_written_key: [bool; 256],
    /// The longest a key can be once written with escapes.
    longest_escaped: usize,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self.inner.as_ref().map_or(0, |inner| inner.keys.len());
        write!(f, "Scrubber({keys} keys)")
    }
}

impl Scrubber {
    /// A scrubber for `keys`; those shorter than [`MIN_KEY_LEN`] (after
    /// trimming whitespace) are left out.
    pub fn new<K: AsRef<[u8]>>(keys: impl IntoIterator<Item = K>) -> Self {
        let mut keys: Vec<Box<[u8]>> = keys
            .into_iter()
            .map(|key| -> Box<[u8]> { key.as_ref().trim_ascii().into() })
            .filter(|key| key.len() >= MIN_KEY_LEN)
            .collect();
        keys.sort();
        keys.dedup();
        if keys.is_empty() {
            return Self::default();
        }
        // A contiguous NFA, never a DFA: a DFA's construction grows with a
        // key's length times its failure chain, and a config may hold a
        // key of any length (a 64 KB run of one letter took minutes).
        let raw = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(&keys)
            .expect("a handful of short keys always builds");
        let mut first = [false; 256];
        let mut in_key = [false; 256];
        for key in &keys {
            first[usize::from(key[0])] = true;
            for &byte in key.iter() {
                in_key[usize::from(byte)] = true;
            }
        }
        let mut in_written_key = in_key;
        for byte in b"\\u0123456789abcdefABCDEF" {
            in_written_key[usize::from(*byte)] = true;
        }
        let longest_escaped =
            keys.iter().map(|key| key.len()).max().unwrap_or(0) * MAX_ESCAPED_PER_BYTE;
        Self {
            inner: Some(Arc::new(Inner {
                keys: keys.into(),
                raw,
                first,
                in_key,
                in_written_key,
                longest_escaped,
            })),
        }
    }

    /// Whether there is anything to search for.
    pub(crate) fn is_empty(&self) -> bool {
        self.inner.is_none()
    }

    /// Whether `bytes` hold a key, as [`Self::scrub`] would find it.
    pub fn holds_key(&self, bytes: &[u8]) -> bool {
        !self.key_ranges(bytes).is_empty()
    }

    /// `bytes` with every key replaced; borrowed when there was none.
    pub fn scrub<'b>(&self, bytes: &'b [u8]) -> Cow<'b, [u8]> {
        let Some(inner) = &self.inner else {
            return Cow::Borrowed(bytes);
        };
        let found = inner.find(bytes);
        if found.is_empty() {
            Cow::Borrowed(bytes)
        } else {
            let mut out = Vec::with_capacity(bytes.len());
            replace_into(&mut out, bytes, &found);
            Cow::Owned(out)
        }
    }

    /// How many bytes at the end of `text` could be the start of a key
    /// (its first bytes, short of the whole key): what a stream of text
    /// deltas holds back until the next delta says whether the key goes
    /// on. 0, at the cost of a look at the last bytes, when none could.
    pub fn key_start_at_end(&self, text: &str) -> usize {
        let Some(inner) = &self.inner else {
            return 0;
        };
        let bytes = text.as_bytes();
        let longest = inner.longest_escaped / MAX_ESCAPED_PER_BYTE;
        let from = bytes.len().saturating_sub(longest.saturating_sub(1));
        // The longest such tail first.
        (from..bytes.len())
            .find(|&start| {
                let tail = &bytes[start..];
                inner.first[usize::from(tail[0])]
                    && text.is_char_boundary(start)
                    && (inner.keys.iter())
                        .any(|key| key.len() > tail.len() && key.starts_with(tail))
            })
            .map_or(0, |start| bytes.len() - start)
    }

    /// `text`, which ends a stream's or an answer's string, with the start
    /// of a key it ends on replaced, where that start is at least half the
    /// key and at least [`MOST_OF_A_KEY`] bytes: a key cut short at the
    /// end is still most of a key, and that much is more text than a
    /// sentence shares with a key by chance (a short secret's start is
    /// left). Whether anything was replaced.
    pub fn mask_start_at_end(&self, text: &mut String) -> bool {
        let held = self.half_a_key_at_end(text);
        let most = held >= MOST_OF_A_KEY;
        if most {
            text.replace_range(text.len() - held.., REDACTED);
        }
        most
    }

    /// How many bytes at the end of `text` are the start of a key, half of
    /// it or more (short of the whole); 0 when none are.
    pub fn half_a_key_at_end(&self, text: &str) -> usize {
        let Some(inner) = &self.inner else {
            return 0;
        };
        let held = self.key_start_at_end(text);
        let tail = &text.as_bytes()[text.len() - held..];
        let half = held > 0
            && (inner.keys.iter()).any(|key| key.starts_with(tail) && held * 2 >= key.len());
        if half { held } else { 0 }
    }

    /// Where `bytes` hold a key, as [`Self::scrub`] finds it, in order.
    pub fn key_ranges(&self, bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
        self.inner
            .as_ref()
            .map_or_else(Vec::new, |inner| inner.find(bytes))
    }

    /// The length of the longest key, in bytes.
    pub fn longest_key(&self) -> usize {
        self.inner
            .as_ref()
            .map_or(0, |inner| inner.longest_escaped / MAX_ESCAPED_PER_BYTE)
    }

    /// `tail` (the end of one string, held back because it could start a
    /// key) and `next` (the start of the string after it on a stream),
    /// with a key that runs from one into the other replaced in both:
    /// `tail` from where the key starts, `next` up to where it ends. Fail
    /// closed: where `tail` and the whole of `next` are still only the
    /// start of a key, both are replaced so, as what is left of it may
    /// follow. Whether anything was replaced; never with `next` empty.
    pub fn mask_across(&self, tail: &mut String, next: &mut String) -> bool {
        let Some(inner) = &self.inner else {
            return false;
        };
        if tail.is_empty() || next.is_empty() {
            return false;
        }
        let joined = [tail.as_bytes(), next.as_bytes()].concat();
        let cut = tail.len();
        let found = inner.find(&joined);
        let (start, end) = match found.iter().find(|key| key.start < cut && cut < key.end) {
            Some(key) => (key.start, key.end - cut),
            None => match inner.hold_from(&joined, &found) {
                start if start < cut => (start, next.len()),
                _ => return false,
            },
        };
        // Out to whole characters, should a match end inside one.
        let start = (0..=start).rev().find(|&at| tail.is_char_boundary(at));
        let end = (end..=next.len()).find(|&at| next.is_char_boundary(at));
        tail.replace_range(start.unwrap_or(0).., REDACTED);
        next.replace_range(..end.unwrap_or(next.len()), REDACTED);
        true
    }

    /// `strings`, a whole answer's, with a key that runs from the end of
    /// one into the start of another replaced in both, as a stream's hold
    /// replaces it ([`Self::mask_across`]): a scrub of the answer's bytes
    /// finds a key only whole. Each string's end is tried against every
    /// other's start, whatever their order: a whole answer does not say
    /// in which order a stream gave its strings (the text may come before
    /// the reasoning). Whether anything was replaced.
    pub fn mask_split_keys(&self, strings: &mut [&mut String]) -> bool {
        let mut masked = false;
        for at in 0..strings.len() {
            let keep = self.key_start_at_end(strings[at]);
            if keep == 0 {
                continue;
            }
            let text = &mut *strings[at];
            let mut tail = text.split_off(text.len() - keep);
            for other in (0..strings.len()).filter(|&other| other != at) {
                masked |= self.mask_across(&mut tail, strings[other]);
            }
            strings[at].push_str(&tail);
        }
        for text in strings.iter_mut() {
            masked |= self.mask_start_at_end(text);
        }
        masked
    }

    /// The state for scrubbing one stream, chunk by chunk.
    pub fn stream(&self) -> StreamScrub {
        StreamScrub {
            scrubber: self.clone(),
            held: Bytes::new(),
        }
    }
}

/// One stream being scrubbed: feed it each chunk in order and pass on what
/// it returns, then [`finish`](Self::finish) when the stream ends.
#[derive(Debug)]
pub struct StreamScrub {
    scrubber: Scrubber,
    /// The tail of what was fed that could still be the start of a key.
    held: Bytes,
}

impl StreamScrub {
    /// The part of everything fed so far that can be passed on: scrubbed,
    /// without the tail that could still be the start of a key. The chunk
    /// itself (or a slice of it) when nothing was held and nothing matched.
    pub fn feed(&mut self, chunk: Bytes) -> Bytes {
        let Some(inner) = &self.scrubber.inner else {
            return chunk;
        };
        let mut bytes = if self.held.is_empty() {
            chunk
        } else {
            let mut joined = BytesMut::with_capacity(self.held.len() + chunk.len());
            joined.extend_from_slice(&self.held);
            joined.extend_from_slice(&chunk);
            joined.freeze()
        };
        let found = inner.find(&bytes);
        let hold = inner.hold_from(&bytes, &found);
        // Split, not sliced: when nothing is held (the common case) the
        // chunk passes on as it came, where a slice of a chunk that came
        // without a shared reference count (a whole answer) allocates one.
        self.held = bytes.split_off(hold);
        let ready = found.iter().take_while(|m| m.end <= hold).count();
        if ready == 0 {
            bytes
        } else {
            let mut out = Vec::with_capacity(hold + REDACTED.len() * ready);
            replace_into(&mut out, &bytes, &found[..ready]);
            Bytes::from(out)
        }
    }

    /// What was held back, scrubbed: the stream has ended.
    pub fn finish(&mut self) -> Bytes {
        let held = std::mem::take(&mut self.held);
        match self.scrubber.scrub(&held) {
            Cow::Borrowed(_) => held,
            Cow::Owned(out) => Bytes::from(out),
        }
    }

    /// How many bytes are held back now (bounded by a few times the
    /// longest key).
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held.len()
    }
}

/// How a key fares against the bytes from some position on.
#[derive(Debug, PartialEq, Eq)]
enum Fit {
    /// The key ends at this position.
    Whole(usize),
    /// The bytes ran out while they still fitted the key.
    Prefix,
    No,
}

/// A JSON escape at the start of some bytes (which start with `\`).
enum Escape {
    /// `len` bytes standing for the character whose UTF-8 is `utf8[..n]`.
    Whole {
        len: usize,
        utf8: [u8; 4],
        n: usize,
    },
    /// The bytes end inside what is so far a valid escape.
    Cut,
    None,
}

impl Inner {
    /// The ranges of every key in `bytes`, sorted and disjoint (overlapping
    /// matches merged). Allocates only when there is one.
    fn find(&self, bytes: &[u8]) -> Vec<Range<usize>> {
        let mut found: Vec<Range<usize>> = self
            .raw
            .find_iter(bytes)
            .map(|m| widen(bytes, m.start())..m.end())
            .collect();
        let mut escaped_any = false;
        // Starts before this were tried already.
        let mut tried = 0;
        for slash in memchr::memchr_iter(b'\\', bytes) {
            let Escape::Whole { utf8, n, .. } = escape(&bytes[slash..]) else {
                continue;
            };
            if !utf8[..n].iter().any(|b| self.in_key[usize::from(*b)]) {
                continue;
            }
            // A key holding this escape starts here or at most a key's
            // length before it.
            let longest = self.longest_escaped / MAX_ESCAPED_PER_BYTE;
            let from = tried.max(slash.saturating_sub(longest - 1));
            for start in from..=slash {
                if start != slash && !self.first[usize::from(bytes[start])] {
                    continue;
                }
                if let Some(end) = self.longest_whole(bytes, start) {
                    found.push(widen(bytes, start)..end);
                    escaped_any = true;
                }
            }
            tried = slash + 1;
        }
        if escaped_any {
            found.sort_by_key(|m| m.start);
        }
        merge(&mut found);
        found
    }

    /// The end of the longest key that starts at `start`, if one does.
    fn longest_whole(&self, bytes: &[u8], start: usize) -> Option<usize> {
        self.keys
            .iter()
            .filter_map(|key| match fit(bytes, start, key) {
                Fit::Whole(end) => Some(end),
                _ => None,
            })
            .max()
    }

    /// Where to stop passing bytes on: the first position near the end
    /// from which the bytes are still the beginning of some key (or the
    /// start of a match reaching past it); the length when there is none.
    fn hold_from(&self, bytes: &[u8], found: &[Range<usize>]) -> usize {
        // A key begun near the end runs to the end, so every byte from its
        // start on is one a written key holds: look only at the run of such
        // bytes the chunk ends with (none, for a chunk ending an SSE event
        // with its blank line), and at most a written key's length of it.
        let window = bytes
            .len()
            .saturating_sub(self.longest_escaped.saturating_sub(1));
        let from = bytes[window..]
            .iter()
            .rposition(|&byte| !self.in_written_key[usize::from(byte)])
            .map_or(window, |last_other| window + last_other + 1);
        let mut hold = (from..bytes.len())
            .find(|&start| {
                let byte = bytes[start];
                (byte == b'\\' || self.first[usize::from(byte)])
                    && self
                        .keys
                        .iter()
                        .any(|key| fit(bytes, start, key) == Fit::Prefix)
            })
            .map_or(bytes.len(), |start| widen(bytes, start));
        // A match that a held key overlaps is held with it, so the two are
        // judged together once more bytes have come.
        if let Some(straddling) = found.iter().find(|m| m.start < hold && hold < m.end) {
            hold = straddling.start;
        }
        hold
    }
}

/// The most backslashes just before a key that are replaced with it.
const MAX_BACKSLASHES_BEFORE: usize = 15;

/// `start` moved back over the backslashes just before it, so that a key
/// escaped once more inside a string in a string (`\\u0073k-...`) is
/// replaced whole and leaves no backslash escaping the replacement.
fn widen(bytes: &[u8], start: usize) -> usize {
    let before = bytes[..start]
        .iter()
        .rev()
        .take(MAX_BACKSLASHES_BEFORE)
        .take_while(|&&b| b == b'\\')
        .count();
    start - before
}

/// How `key` fits the bytes from `start` on, each key byte written raw or
/// as part of a JSON escape.
fn fit(bytes: &[u8], start: usize, key: &[u8]) -> Fit {
    let mut at = start;
    let mut k = 0;
    while k < key.len() {
        let Some(&byte) = bytes.get(at) else {
            return Fit::Prefix;
        };
        if byte == b'\\' {
            match escape(&bytes[at..]) {
                Escape::Whole { len, utf8, n } if key[k..].starts_with(&utf8[..n]) => {
                    at += len;
                    k += n;
                    continue;
                }
                Escape::Cut => return Fit::Prefix,
                _ => {}
            }
        }
        if byte != key[k] {
            return Fit::No;
        }
        at += 1;
        k += 1;
    }
    Fit::Whole(at)
}

/// The JSON escape that `bytes` (starting with `\`) begins with.
fn escape(bytes: &[u8]) -> Escape {
    debug_assert_eq!(bytes.first(), Some(&b'\\'));
    match bytes.get(1) {
        None => Escape::Cut,
        Some(&byte @ (b'/' | b'\\' | b'"')) => Escape::Whole {
            len: 2,
            utf8: [byte, 0, 0, 0],
            n: 1,
        },
        Some(b'u') => unicode_escape(bytes),
        Some(_) => Escape::None,
    }
}

/// `\uXXXX`, or a surrogate pair `\uD83D\uDE00`.
fn unicode_escape(bytes: &[u8]) -> Escape {
    let unit = match hex4(&bytes[2..]) {
        Hex::Unit(unit) => unit,
        Hex::Cut => return Escape::Cut,
        Hex::No => return Escape::None,
    };
    let code = match unit {
        0xD800..=0xDBFF => {
            let low = match bytes.get(6..8) {
                None if bytes.len() == 6 || bytes[6..] == *b"\\" => return Escape::Cut,
                Some(b"\\u") => match hex4(&bytes[8..]) {
                    Hex::Unit(low @ 0xDC00..=0xDFFF) => low,
                    Hex::Cut => return Escape::Cut,
                    _ => return Escape::None,
                },
                _ => return Escape::None,
            };
            0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
        }
        0xDC00..=0xDFFF => return Escape::None,
        _ => u32::from(unit),
    };
    let Some(c) = char::from_u32(code) else {
        return Escape::None;
    };
    let mut utf8 = [0; 4];
    let n = c.encode_utf8(&mut utf8).len();
    Escape::Whole {
        len: if code > 0xFFFF { 12 } else { 6 },
        utf8,
        n,
    }
}

enum Hex {
    Unit(u16),
    Cut,
    No,
}

/// Four hex digits at the start of `bytes`.
fn hex4(bytes: &[u8]) -> Hex {
    let mut unit = 0u16;
    for i in 0..4 {
        let Some(&byte) = bytes.get(i) else {
            return Hex::Cut;
        };
        let Some(digit) = char::from(byte).to_digit(16) else {
            return Hex::No;
        };
        unit = unit << 4 | digit as u16;
    }
    Hex::Unit(unit)
}

/// Merges overlapping ranges of a list sorted by start.
fn merge(found: &mut Vec<Range<usize>>) {
    let mut merged = 0;
    for i in 0..found.len() {
        if merged > 0 && found[i].start < found[merged - 1].end {
            found[merged - 1].end = found[merged - 1].end.max(found[i].end);
        } else {
            found[merged] = found[i].clone();
            merged += 1;
        }
    }
    found.truncate(merged);
}

/// `bytes` into `out` with each (sorted, disjoint) range replaced.
fn replace_into(out: &mut Vec<u8>, bytes: &[u8], found: &[Range<usize>]) {
    let mut copied = 0;
    for range in found {
        out.extend_from_slice(&bytes[copied..range.start]);
        out.extend_from_slice(REDACTED.as_bytes());
        copied = range.end;
    }
    out.extend_from_slice(&bytes[copied..]);
}

#[cfg(test)]
mod tests;
