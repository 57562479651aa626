//! A one-pass JSON scanner: it checks a whole document against the JSON
//! grammar (RFC 8259) and records where the members of the top-level object
//! lie, the elements of one of its arrays, and the members of those
//! elements, without building anything. It refuses what serde_json refuses
//! where the grammar is silent (a number beyond an `f64`'s range, a `\u`
//! escape of half a surrogate pair, nesting past [`MAX_DEPTH`]), so that a
//! body it passes is one every tree reading of it takes: a transport that
//! reads a body into a tree to translate it never finds one it cannot.
//! Strings, the bulk of a chat request, are skipped with `memchr`; the
//! cost is one fast pass over the bytes.
//!
//! [`KnownValues`], the values a request repeats from the one before, and
//! the strings read sixteen and sixty-four bytes at a time (SSE2, with a
//! portable path beside it) are kept for speed: `docs/performance.md` says
//! what each saves.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use memchr::memmem;

use super::recent::Recent;

/// One member of an object: its key (unescaped), where the key lies as
/// written (quotes included), and where its value lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Borrowed for the keys chat requests and answers are made of (see
    /// [`known_key`]), so that recording a member allocates nothing.
    pub key: Cow<'static, str>,
    pub raw_key: Range<usize>,
    pub value: Range<usize>,
}

impl Member {
    /// The member of `members` named `key` that serde_json reads: the last,
    /// should the key repeat.
    pub fn last<'m>(members: &'m [Member], key: &str) -> Option<&'m Member> {
        members.iter().rev().find(|m| m.key == key)
    }
}

/// `raw` as one of the keys of chat requests, messages and stream chunks
/// (written without escapes), if it is one. A `match` on the bytes: the
/// compiler compares the length first and each candidate of that length
/// with a few loads, where a search through a list called `memcmp` per
/// candidate.
fn known_key(raw: &[u8]) -> Option<&'static str> {
    Some(match raw {
        b"role" => "role",
        b"content" => "content",
        b"name" => "name",
        b"tool_calls" => "tool_calls",
        b"tool_call_id" => "tool_call_id",
        b"reasoning_content" => "reasoning_content",
        b"id" => "id",
        b"type" => "type",
        b"function" => "function",
        b"arguments" => "arguments",
        b"model" => "model",
        b"messages" => "messages",
        b"tools" => "tools",
        b"tool_choice" => "tool_choice",
        b"stream" => "stream",
        b"stream_options" => "stream_options",
        b"temperature" => "temperature",
        b"top_p" => "top_p",
        b"max_tokens" => "max_tokens",
        b"max_completion_tokens" => "max_completion_tokens",
        b"thinking" => "thinking",
        b"object" => "object",
        b"created" => "created",
        b"choices" => "choices",
        b"usage" => "usage",
        b"index" => "index",
        b"delta" => "delta",
        b"finish_reason" => "finish_reason",
        b"error" => "error",
        b"text" => "text",
        b"parallel_tool_calls" => "parallel_tool_calls",
        b"response_format" => "response_format",
        b"stop" => "stop",
        b"seed" => "seed",
        b"user" => "user",
        b"metadata" => "metadata",
        b"reasoning_effort" => "reasoning_effort",
        b"prompt_cache_key" => "prompt_cache_key",
        // Messages and Responses requests.
        b"system" => "system",
        b"output_config" => "output_config",
        b"context_management" => "context_management",
        b"instructions" => "instructions",
        b"input" => "input",
        b"reasoning" => "reasoning",
        b"store" => "store",
        b"include" => "include",
        b"max_output_tokens" => "max_output_tokens",
        _ => return None,
    })
}

/// The recorded array's elements, the members of those that are objects,
/// and the elements (and members) of their array member `nested_key`:
/// four pools, so that recording a message or a call allocates nothing of
/// its own. Read through [`ElementRef`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Items {
    elements: Vec<Element>,
    members: Vec<Member>,
    nested: Vec<Element>,
    nested_members: Vec<Member>,
}

/// Where an element lies, and where its members and nested elements lie in
/// the pools of its [`Items`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Element {
    range: Range<usize>,
    members: Option<Range<usize>>,
    nested: Option<Range<usize>>,
}

/// One recorded element: where it lies, its members when it is an object,
/// and the elements of its member named by the scan's `nested_key` when
/// that is an array (of the last such member, should the key repeat): a
/// message's `tool_calls`.
#[derive(Debug, Clone, Copy)]
pub struct ElementRef<'s> {
    element: &'s Element,
    members: &'s [Member],
    /// The pools of the nested elements; `None` for a nested element.
    nested: Option<(&'s [Element], &'s [Member])>,
}

impl Items {
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<ElementRef<'_>> {
        Some(self.element(self.elements.get(index)?))
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = ElementRef<'_>> {
        self.elements.iter().map(|element| self.element(element))
    }

    fn element<'s>(&'s self, element: &'s Element) -> ElementRef<'s> {
        ElementRef {
            element,
            members: &self.members,
            nested: Some((&self.nested, &self.nested_members)),
        }
    }
}

impl<'s> ElementRef<'s> {
    pub fn range(&self) -> Range<usize> {
        self.element.range.clone()
    }

    /// Its members, when it is an object.
    pub fn members(&self) -> Option<&'s [Member]> {
        Some(&self.members[self.element.members.clone()?])
    }

    /// The elements of its nested array, when it has one.
    pub fn nested(self) -> Option<impl ExactSizeIterator<Item = ElementRef<'s>> + 's> {
        let (elements, members) = self.nested?;
        let nested = &elements[self.element.nested.clone()?];
        Some(nested.iter().map(move |element| ElementRef {
            element,
            members,
            nested: None,
        }))
    }
}

/// A scanned object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    pub members: Vec<Member>,
    /// The elements of the member named by `items_key`, when it is an array
    /// (of the last such member, should the key repeat).
    pub items: Option<Items>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("{what} at byte {at}")]
    Syntax { what: &'static str, at: usize },
    /// Valid JSON, but not an object.
    #[error("not a JSON object")]
    NotObject,
}

/// What JSON's grammar admits but serde (and the gateway's readers, and
/// some clients' parsers) cannot read: past a bound, not a typo.
const NESTED_TOO_DEEPLY: &str = "nested too deeply";
const OUT_OF_RANGE: &str = "number out of range";
const LONE_SURROGATE: &str = "lone surrogate in a \\u escape";

impl ScanError {
    /// Whether the text is JSON past a bound ([`MAX_DEPTH`], an f64's
    /// range, a whole UTF-16 character), not text that is no JSON.
    pub fn past_a_bound(&self) -> bool {
        matches!(self, ScanError::Syntax { what, .. }
            if [NESTED_TOO_DEEPLY, OUT_OF_RANGE, LONE_SURROGATE].contains(what))
    }
}

/// Nesting this deep is refused: serde_json reads at most 127 levels of
/// arrays and objects, the top one included, and a body the scanner
/// passes must read with serde alike (`format::members` reads a body's
/// members one by one, each with a fresh serde limit).
const MAX_DEPTH: usize = 127;

/// Scans `buffer`, which must hold exactly one JSON object.
///
/// The bytes must be UTF-8. Outside strings the grammar admits only ASCII,
/// so only strings that hold other bytes are checked, as they are skipped.
pub fn object(buffer: &[u8], items_key: Option<&str>) -> Result<Scanned, ScanError> {
    object_nested(buffer, items_key, None)
}

/// [`object`], also recording the elements of the array member
/// `nested_key` of each item ([`Element::nested`]), in the same pass.
pub fn object_nested(
    buffer: &[u8],
    items_key: Option<&str>,
    nested_key: Option<&str>,
) -> Result<Scanned, ScanError> {
    scan_object(buffer, items_key, nested_key, None, None)
}

/// [`object_nested`] for a client's request: with `known`, the large value
/// of a member other than `items_key` is not read again when an earlier
/// request sent it byte for byte ([`KnownValues`]).
pub fn request(
    buffer: &[u8],
    items_key: &str,
    nested_key: &str,
    known: Option<&KnownValues>,
) -> Result<Scanned, ScanError> {
    scan_object(buffer, Some(items_key), Some(nested_key), known, None)
}

/// The members of a client's request, nothing else recorded. Before
/// anything else, `recognized` is asked about each member's value (its
/// key, and the bytes from the value on): the length of a whole value it
/// has seen before, checked, valid and UTF-8, which the bytes start with,
/// to be stepped over.
pub fn request_members(
    buffer: &[u8],
    recognized: &mut Recognized<'_>,
) -> Result<Vec<Member>, ScanError> {
    Ok(scan_object(buffer, None, None, None, Some(recognized))?.members)
}

/// Where the first element of the array `bytes` starts with lies, read
/// and checked as far as its end, the array lying at `depth` (1 for a
/// member of the body); `None` when `bytes` does not start with an array,
/// the array is empty or its first element does not read.
pub fn first_element(bytes: &[u8], depth: usize) -> Option<Range<usize>> {
    let mut scanner = Scanner { b: bytes, i: 0 };
    scanner.ws();
    if scanner.peek() != Some(b'[') {
        return None;
    }
    scanner.i += 1;
    scanner.ws();
    if scanner.peek() == Some(b']') {
        return None;
    }
    scanner.value(depth + 1).ok()
}

/// What [`request_members`] asks about each member's value: given its key
/// and the bytes from the value on, the length of a value seen before.
pub type Recognized<'r> = dyn FnMut(&str, &[u8]) -> Option<usize> + 'r;

fn scan_object(
    buffer: &[u8],
    items_key: Option<&str>,
    nested_key: Option<&str>,
    known: Option<&KnownValues>,
    recognized: Option<&mut Recognized<'_>>,
) -> Result<Scanned, ScanError> {
    let mut members = Vec::with_capacity(16);
    let items = scan_object_into(
        buffer,
        items_key,
        nested_key,
        known,
        recognized,
        &mut members,
    )?;
    Ok(Scanned { members, items })
}

/// [`scan_object`] recording the members into `members` (emptied first),
/// for a caller that scans one object after another with one vector.
fn scan_object_into(
    buffer: &[u8],
    items_key: Option<&str>,
    nested_key: Option<&str>,
    known: Option<&KnownValues>,
    mut recognized: Option<&mut Recognized<'_>>,
    members: &mut Vec<Member>,
) -> Result<Option<Items>, ScanError> {
    members.clear();
    let mut scanner = Scanner { b: buffer, i: 0 };
    scanner.ws();
    if scanner.peek() != Some(b'{') {
        // Report a syntax error first, if there is one.
        scanner.value(0)?;
        scanner.ws();
        return Err(match scanner.peek() {
            None => ScanError::NotObject,
            Some(_) => scanner.error("trailing characters"),
        });
    }
    let mut items = None;
    scanner.object(0, members, |scanner, key, depth| {
        let rest = &scanner.b[scanner.i..];
        if let Some(length) = recognized
            .as_mut()
            .and_then(|recognized| recognized(key, rest))
        {
            debug_assert!(length <= rest.len());
            scanner.i += length.min(rest.len());
            return Ok(true);
        }
        if Some(key) == items_key && scanner.peek() == Some(b'[') {
            let mut elements = Items::default();
            scanner.array_elements(depth, &mut elements, nested_key)?;
            items = Some(elements);
            Ok(true)
        } else if let Some(known) = known.filter(|_| matches!(scanner.peek(), Some(b'[' | b'{'))) {
            scanner.known_value(key, depth, known)?;
            Ok(true)
        } else {
            Ok(false)
        }
    })?;
    scanner.ws();
    if scanner.i != buffer.len() {
        return Err(scanner.error("trailing characters"));
    }
    Ok(items)
}

/// Where each element of the array in `buffer` lies (nothing else is
/// recorded).
pub fn element_ranges(buffer: &[u8]) -> Result<Vec<Range<usize>>, ScanError> {
    let mut scanner = Scanner { b: buffer, i: 0 };
    scanner.ws();
    if scanner.peek() != Some(b'[') {
        return Err(scanner.error("expected an array"));
    }
    let mut ranges = Vec::new();
    scanner.elements(0, |scanner, depth| {
        ranges.push(scanner.value(depth)?);
        Ok(())
    })?;
    scanner.ws();
    if scanner.i != buffer.len() {
        return Err(scanner.error("trailing characters"));
    }
    Ok(ranges)
}

/// Whether `json` holds a letter, a digit or `_` written as a `\u` escape,
/// which no JSON encoder writes but which would hide a member's name from
/// a search of the bytes (`"syst\u0065m"`): such bytes must be read whole.
pub fn hides_a_name(json: &[u8]) -> bool {
    static ESCAPE: LazyLock<memmem::Finder> = LazyLock::new(|| memmem::Finder::new(b"\\u00"));
    ESCAPE.find_iter(json).any(|at| {
        let hex = json
            .get(at + 4..at + 6)
            .and_then(|hex| std::str::from_utf8(hex).ok());
        hex.and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .is_some_and(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
    })
}

/// The members of the object in `buffer` (its values checked, not built).
pub fn members(buffer: &[u8]) -> Result<Vec<Member>, ScanError> {
    Ok(object(buffer, None)?.members)
}

/// [`members`] into `members` (emptied first): a stream's chunks, one
/// after another, scanned without a vector each.
pub fn members_into(buffer: &[u8], members: &mut Vec<Member>) -> Result<(), ScanError> {
    scan_object_into(buffer, None, None, None, None, members).map(|_| ())
}

/// What a run of string text holds that needs a closer look.
#[derive(Debug, PartialEq, Eq)]
struct Unusual {
    /// A control character (below 0x20), which JSON strings may not hold
    /// raw.
    control: bool,
    /// A byte above 0x7f: the run must then be checked to be UTF-8.
    non_ascii: bool,
}

/// The least and the greatest byte of the run: a minimum and maximum
/// reduction, which the compiler turns into vector code (16 bytes per
/// instruction pair on any x86-64), with no branch per byte.
fn unusual(bytes: &[u8]) -> Unusual {
    let (least, greatest) = bytes
        .iter()
        .fold((u8::MAX, 0u8), |(lo, hi), &b| (lo.min(b), hi.max(b)));
    Unusual {
        control: least < 0x20,
        non_ascii: greatest > 0x7f,
    }
}

/// Where the plain text at the start of `bytes` ends: at a quote, a
/// backslash, a control character or a byte beyond ASCII, whichever comes
/// first. Sixteen bytes are compared at a time (SSE2, on every x86-64),
/// so the runs between the escapes of a long prompt, a few dozen bytes
/// each, cost a few instructions rather than a search started per run;
/// past the first sixteen, sixty-four are checked per step with one
/// branch, for the long prompts that run for kilobytes without an escape.
#[cfg(target_arch = "x86_64")]
fn plain_run(bytes: &[u8]) -> Option<usize> {
    use std::arch::x86_64::{_mm_movemask_epi8, _mm_or_si128};
    // The sixteen bytes at `at` (the loop conditions keep them inside
    // `bytes`, so the compiler drops the check).
    let block = |at: usize| -> &[u8; 16] {
        bytes[at..at + 16]
            .try_into()
            .expect("a range of sixteen bytes")
    };
    let mut at = 0;
    if at + 16 <= bytes.len() {
        let mask = sse2::mask(sse2::flags(block(at)));
        if mask != 0 {
            return Some(at + mask.trailing_zeros() as usize);
        }
        at += 16;
    }
    while at + 64 <= bytes.len() {
        let [a, b, c, d] = [0, 16, 32, 48].map(|offset| sse2::flags(block(at + offset)));
        // SAFETY: SSE2 is part of x86-64.
        let any = unsafe { _mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d)) };
        // SAFETY: as above.
        if unsafe { _mm_movemask_epi8(any) } != 0 {
            break;
        }
        at += 64;
    }
    while at + 16 <= bytes.len() {
        let mask = sse2::mask(sse2::flags(block(at)));
        if mask != 0 {
            return Some(at + mask.trailing_zeros() as usize);
        }
        at += 16;
    }
    plain_run_portable(&bytes[at..]).map(|offset| at + offset)
}

/// The comparisons of [`plain_run`], sixteen bytes at a time.
#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };

    /// The sixteen bytes of `chunk`, loaded.
    #[inline(always)]
    fn load(chunk: &[u8; 16]) -> __m128i {
        // SAFETY: SSE2 is part of x86-64; the load reads the sixteen bytes
        // of `chunk`, unaligned.
        unsafe { _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>()) }
    }

    /// `bytes`, each with its top bit set when it is a quote, a backslash
    /// or a control character.
    #[inline(always)]
    fn special(bytes: __m128i) -> __m128i {
        // SAFETY: SSE2 is part of x86-64.
        unsafe {
            let quote = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'\\' as i8));
            // Unsigned byte <= 0x1f exactly when max(byte, 0x1f) is 0x1f.
            let limit = _mm_set1_epi8(0x1f);
            let control = _mm_cmpeq_epi8(_mm_max_epu8(bytes, limit), limit);
            _mm_or_si128(_mm_or_si128(quote, backslash), control)
        }
    }

    /// `chunk`, each byte with its top bit set when it is a quote, a
    /// backslash, a control character or beyond ASCII.
    #[inline(always)]
    pub(super) fn flags(chunk: &[u8; 16]) -> __m128i {
        let bytes = load(chunk);
        // A byte beyond ASCII has its top bit set already.
        // SAFETY: SSE2 is part of x86-64.
        unsafe { _mm_or_si128(special(bytes), bytes) }
    }

    /// The top bits of `flags`: bit `n` for byte `n`.
    #[inline(always)]
    pub(super) fn mask(flags: __m128i) -> u32 {
        // SAFETY: SSE2 is part of x86-64.
        unsafe { _mm_movemask_epi8(flags) as u32 }
    }

    /// For `block`: bit `n` of the first mask set when byte `n` is a
    /// quote, a backslash or a control character; of the second, when it
    /// is beyond ASCII.
    #[inline(always)]
    pub(super) fn masks64(block: &[u8; 64]) -> (u64, u64) {
        let quarter = |at: usize| -> (u64, u64) {
            let chunk: &[u8; 16] = block[at..at + 16]
                .try_into()
                .expect("a range of sixteen bytes");
            let bytes = load(chunk);
            (u64::from(mask(special(bytes))), u64::from(mask(bytes)))
        };
        let mut masks = (0, 0);
        for (index, at) in [0, 16, 32, 48].into_iter().enumerate() {
            let (special, beyond) = quarter(at);
            masks.0 |= special << (16 * index);
            masks.1 |= beyond << (16 * index);
        }
        masks
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn plain_run(bytes: &[u8]) -> Option<usize> {
    plain_run_portable(bytes)
}

/// [`plain_run`] without vector code: the next quote or backslash by
/// `memchr`, then the run before it checked for the other two.
fn plain_run_portable(bytes: &[u8]) -> Option<usize> {
    let end = memchr::memchr2(b'"', b'\\', bytes).unwrap_or(bytes.len());
    let run = &bytes[..end];
    let unusual = unusual(run);
    if unusual.control || unusual.non_ascii {
        return run.iter().position(|&b| !(0x20..=0x7f).contains(&b));
    }
    (end < bytes.len()).then_some(end)
}

/// Large member values of requests read before, by key, newest first:
/// the `tools` OpenClaw and Codex send unchanged every turn.
///
/// The bytes of a JSON value fix where it ends, so bytes equal to a value
/// already read whole are that same valid value, at the same depth (a
/// member of the request): it need not be read again. Bounded in count and
/// size; a value is copied once, when first read.
pub struct KnownValues {
    /// Each value's text, with its member's key.
    values: Recent<Box<str>>,
    /// Values found known.
    #[cfg(test)]
    hits: std::sync::atomic::AtomicUsize,
}

impl Default for KnownValues {
    fn default() -> Self {
        Self {
            values: Recent::new(16, 512 * 1024),
            #[cfg(test)]
            hits: Default::default(),
        }
    }
}

impl KnownValues {
    /// Smaller values cost less to read than to look up and keep.
    const SMALLEST: usize = 4 * 1024;

    /// The length of the value of `key` that `rest` starts with, if it is
    /// one read before.
    fn length(&self, key: &str, rest: &[u8]) -> Option<usize> {
        if rest.len() < Self::SMALLEST {
            return None;
        }
        let length = self.values.find(|value, known| {
            (**known == *key && rest.starts_with(value)).then_some(value.len())
        });
        #[cfg(test)]
        if length.is_some() {
            self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        length
    }

    /// Keeps `value`, read whole and valid, as the value of `key`.
    fn remember(&self, key: &str, value: &[u8]) {
        if value.len() < Self::SMALLEST {
            return;
        }
        // Read whole, so UTF-8; checked again as it is kept (once per
        // text), so that what is stepped over later is UTF-8 by its type.
        if let Ok(value) = std::str::from_utf8(value) {
            self.values.insert(value, key.into());
        }
    }
}

/// Strings are read one byte at a time up to this length when the vector
/// search cannot be used.
const SHORT_STRING: usize = 16;

struct Scanner<'b> {
    b: &'b [u8],
    i: usize,
}

type Nested<'s, 'b> = dyn FnMut(&mut Scanner<'b>, &str, usize) -> Result<bool, ScanError> + 's;

impl<'b> Scanner<'b> {
    fn error(&self, what: &'static str) -> ScanError {
        ScanError::Syntax { what, at: self.i }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), ScanError> {
        self.ws();
        if self.peek() == Some(byte) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    /// Skips one value, returning where it lay.
    fn value(&mut self, depth: usize) -> Result<Range<usize>, ScanError> {
        self.ws();
        let start = self.i;
        match self.peek() {
            Some(b'{') => self.skip_object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => self.string()?,
            Some(b't') => self.literal(b"true")?,
            Some(b'f') => self.literal(b"false")?,
            Some(b'n') => self.literal(b"null")?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(_) => return Err(self.error("expected a value")),
            None => return Err(self.error("unexpected end of input")),
        }
        Ok(start..self.i)
    }

    /// Reads an object starting at `{`; `nested` may consume a member's
    /// value itself (returning true), else it is skipped.
    /// Reads an object starting at `{`, its members pushed onto `members`;
    /// `nested` may consume a member's value itself (returning true), else
    /// it is skipped.
    fn object(
        &mut self,
        depth: usize,
        members: &mut Vec<Member>,
        mut nested: impl FnMut(&mut Scanner<'b>, &str, usize) -> Result<bool, ScanError>,
    ) -> Result<(), ScanError> {
        self.object_dyn(depth, members, &mut nested)
    }

    fn object_dyn(
        &mut self,
        depth: usize,
        members: &mut Vec<Member>,
        nested: &mut Nested<'_, 'b>,
    ) -> Result<(), ScanError> {
        self.members_of(depth, |scanner, key_start, depth| {
            let raw_key = &scanner.b[key_start + 1..scanner.i - 1];
            let key = if let Some(known) = known_key(raw_key) {
                Cow::Borrowed(known)
            } else if raw_key.contains(&b'\\') {
                Cow::Owned(
                    serde_json::from_slice::<String>(&scanner.b[key_start..scanner.i])
                        .map_err(|_| scanner.error("invalid string"))?,
                )
            } else {
                Cow::Owned(
                    std::str::from_utf8(raw_key)
                        .map_err(|_| scanner.error("invalid UTF-8"))?
                        .to_owned(),
                )
            };
            let raw_key = key_start..scanner.i;
            scanner.expect(b':', "expected `:`")?;
            scanner.ws();
            let start = scanner.i;
            let value = if nested(scanner, &key, depth)? {
                start..scanner.i
            } else {
                scanner.value(depth)?
            };
            members.push(Member {
                key,
                raw_key,
                value,
            });
            Ok(())
        })
    }

    /// Skips the value of member `key`, an array or an object: at once when
    /// it is a value read before ([`KnownValues`]), else read and
    /// remembered.
    fn known_value(
        &mut self,
        key: &str,
        depth: usize,
        known: &KnownValues,
    ) -> Result<(), ScanError> {
        if let Some(length) = known.length(key, &self.b[self.i..]) {
            self.i += length;
            return Ok(());
        }
        let start = self.i;
        self.value(depth)?;
        known.remember(key, &self.b[start..self.i]);
        Ok(())
    }

    /// Skips an object starting at `{`, recording nothing.
    fn skip_object(&mut self, depth: usize) -> Result<(), ScanError> {
        self.members_of(depth, |scanner, _, depth| {
            scanner.expect(b':', "expected `:`")?;
            scanner.value(depth).map(drop)
        })
    }

    /// Reads an object starting at `{`: each member's key is read (as a
    /// string: where it starts is passed on), then `each` reads the rest
    /// of the member, from the `:`, one level deeper.
    fn members_of(
        &mut self,
        depth: usize,
        mut each: impl FnMut(&mut Self, usize, usize) -> Result<(), ScanError>,
    ) -> Result<(), ScanError> {
        self.delimited(depth, b'}', "expected `,` or `}`", |scanner, depth| {
            scanner.ws();
            if scanner.peek() != Some(b'"') {
                return Err(scanner.error("expected a string key"));
            }
            let key_start = scanner.i;
            scanner.string()?;
            each(scanner, key_start, depth)
        })
    }

    fn array(&mut self, depth: usize) -> Result<(), ScanError> {
        self.elements(depth, |scanner, depth| scanner.value(depth).map(drop))
    }

    /// Reads an array starting at `[`, recording each element into
    /// `items` and, for objects, their members and the elements of their
    /// array member `nested_key` (with their members).
    fn array_elements(
        &mut self,
        depth: usize,
        items: &mut Items,
        nested_key: Option<&str>,
    ) -> Result<(), ScanError> {
        let Items {
            elements,
            members,
            nested,
            nested_members,
        } = items;
        self.elements(depth, |scanner, depth| {
            scanner.element(depth, elements, members, |scanner, key, depth| {
                if Some(key) == nested_key && scanner.peek() == Some(b'[') {
                    let first = nested.len();
                    scanner.flat_elements(depth, nested, nested_members)?;
                    Ok(Some(first..nested.len()))
                } else {
                    Ok(None)
                }
            })
        })
    }

    /// [`Self::array_elements`] for a nested array: each element, and the
    /// members of those that are objects, nothing deeper.
    fn flat_elements(
        &mut self,
        depth: usize,
        elements: &mut Vec<Element>,
        members: &mut Vec<Member>,
    ) -> Result<(), ScanError> {
        self.elements(depth, |scanner, depth| {
            scanner.element(depth, elements, members, |_, _, _| Ok(None))
        })
    }

    /// Reads one element of an array onto `elements`, an object's members
    /// onto `members`; `nested` may read a member's value itself, returning
    /// the elements it recorded elsewhere (the element's `nested`).
    fn element(
        &mut self,
        depth: usize,
        elements: &mut Vec<Element>,
        members: &mut Vec<Member>,
        mut nested: impl FnMut(&mut Self, &str, usize) -> Result<Option<Range<usize>>, ScanError>,
    ) -> Result<(), ScanError> {
        self.ws();
        let start = self.i;
        let mut nested_range = None;
        let element_members = if self.peek() == Some(b'{') {
            let first = members.len();
            self.object(depth, members, |scanner, key, depth| {
                let range = nested(scanner, key, depth)?;
                let read = range.is_some();
                if read {
                    nested_range = range;
                }
                Ok(read)
            })?;
            Some(first..members.len())
        } else {
            self.value(depth)?;
            None
        };
        elements.push(Element {
            range: start..self.i,
            members: element_members,
            nested: nested_range,
        });
        Ok(())
    }

    /// Reads an array starting at `[`, `each` reading each element one
    /// level deeper.
    fn elements(
        &mut self,
        depth: usize,
        each: impl FnMut(&mut Self, usize) -> Result<(), ScanError>,
    ) -> Result<(), ScanError> {
        self.delimited(depth, b']', "expected `,` or `]`", each)
    }

    /// Reads an array or object starting at its opening byte up to its
    /// `close`, `each` reading each element or member one level deeper.
    fn delimited(
        &mut self,
        depth: usize,
        close: u8,
        unclosed: &'static str,
        mut each: impl FnMut(&mut Self, usize) -> Result<(), ScanError>,
    ) -> Result<(), ScanError> {
        if depth >= MAX_DEPTH {
            return Err(self.error(NESTED_TOO_DEEPLY));
        }
        self.i += 1;
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            return Ok(());
        }
        loop {
            each(self, depth + 1)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(byte) if byte == close => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.error(unclosed)),
            }
        }
    }

    /// Skips a string starting at `"`: long runs of plain text are skipped
    /// sixteen bytes at a time ([`plain_run`]), text beyond ASCII a run at a
    /// time (checked as UTF-8), and after an escape the rest sixty-four
    /// bytes at a time (`escaped_text`).
    fn string(&mut self) -> Result<(), ScanError> {
        // Most strings (keys, roles, ids) end within a few bytes. With
        // sixteen bytes left, the first comparison of sixteen at a time
        // finds their end; nearer the end of the buffer (and without the
        // vector search) they are read one byte at a time, cheaper than a
        // `memchr`, with the position in a register until the end.
        let start = self.i + 1;
        let vector = cfg!(target_arch = "x86_64") && self.b.len() >= start + SHORT_STRING;
        let head = if vector {
            &[][..]
        } else {
            &self.b[start.min(self.b.len())..self.b.len().min(start + SHORT_STRING)]
        };
        let mut read = 0;
        for &byte in head {
            match byte {
                b'"' => {
                    self.i = start + read + 1;
                    return Ok(());
                }
                0..=0x1f => {
                    self.i = start + read;
                    return Err(self.error("control character in a string"));
                }
                // Escapes and other characters than ASCII: as below.
                b'\\' | 0x80.. => break,
                _ => read += 1,
            }
        }
        self.i = start + read;
        loop {
            let Some(offset) = plain_run(&self.b[self.i..]) else {
                self.i = self.b.len();
                return Err(self.error("unterminated string"));
            };
            self.i += offset;
            match self.b[self.i] {
                b'"' => {
                    self.i += 1;
                    return Ok(());
                }
                b'\\' => {
                    self.escape()?;
                    // Text with one escape often has more (a prompt's or a
                    // file's newlines, one every line): read on a block at
                    // a time.
                    #[cfg(target_arch = "x86_64")]
                    if self.escaped_text()? {
                        return Ok(());
                    }
                }
                0..=0x1f => return Err(self.error("control character in a string")),
                _ => self.beyond_ascii()?,
            }
        }
    }

    /// Steps over the escape at the backslash at `self.i`; a surrogate
    /// pair's two `\u` escapes at once, as one character.
    fn escape(&mut self) -> Result<(), ScanError> {
        match self.b.get(self.i + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 2,
            Some(b'u') => match self.unit(self.i) {
                Some(0xD800..=0xDBFF) => match self.unit(self.i + 6) {
                    Some(0xDC00..=0xDFFF) => self.i += 12,
                    _ => return Err(self.error(LONE_SURROGATE)),
                },
                Some(0xDC00..=0xDFFF) => return Err(self.error(LONE_SURROGATE)),
                Some(_) => self.i += 6,
                None => return Err(self.error("invalid escape")),
            },
            _ => return Err(self.error("invalid escape")),
        }
        Ok(())
    }

    /// The UTF-16 unit of the `\uXXXX` escape at `at`, if there is one.
    fn unit(&self, at: usize) -> Option<u16> {
        let escape = self.b.get(at..at + 6)?.strip_prefix(b"\\u")?;
        let hex = std::str::from_utf8(escape).ok()?;
        // `from_str_radix` would take a sign.
        hex.bytes()
            .all(|b| b.is_ascii_hexdigit())
            .then(|| u16::from_str_radix(hex, 16).ok())
            .flatten()
    }

    /// Steps over the text beyond ASCII at `self.i`: the run up to the next
    /// quote or backslash is checked whole. It starts and ends next to
    /// ASCII bytes, which never continue a character, so the runs are
    /// UTF-8 exactly when the string is.
    fn beyond_ascii(&mut self) -> Result<(), ScanError> {
        let rest = &self.b[self.i..];
        let Some(offset) = memchr::memchr2(b'"', b'\\', rest) else {
            self.i = self.b.len();
            return Err(self.error("unterminated string"));
        };
        let text = &rest[..offset];
        let unusual = unusual(text);
        if unusual.control {
            self.i += text.iter().position(|&c| c < 0x20).unwrap_or(0);
            return Err(self.error("control character in a string"));
        }
        if let Err(error) = std::str::from_utf8(text) {
            self.i += error.valid_up_to();
            return Err(self.error("invalid UTF-8"));
        }
        self.i += offset;
        Ok(())
    }

    /// Inside a string, sixty-four bytes at a time while that many are
    /// left: one comparison of the block finds every quote, backslash and
    /// control character in it, and the escapes among them are stepped over
    /// without comparing the block again (with [`plain_run`], a prompt with
    /// a newline every line compared each of its blocks about six times).
    /// Text beyond ASCII is checked once, as UTF-8, from where this began
    /// to where it ends: escapes are ASCII, which UTF-8 never mistakes for
    /// part of a character, so the bytes are UTF-8 exactly when the text
    /// between the escapes is. `true` when the string ended, `false` when
    /// fewer than sixty-four bytes are left (the caller reads on, from a
    /// character's first byte).
    #[cfg(target_arch = "x86_64")]
    fn escaped_text(&mut self) -> Result<bool, ScanError> {
        let from = self.i;
        let mut beyond_ascii = false;
        // Whether `self.i` is where a block ended (it may cut a character),
        // not just past an escape.
        let mut block_end = false;
        let quote = 'blocks: loop {
            if self.i + 64 > self.b.len() {
                if block_end {
                    // Back to the first byte of a character the block cut.
                    let cut = |i: usize| self.b.get(i).is_some_and(|b| (0x80..0xc0).contains(b));
                    while self.i > from && cut(self.i) {
                        self.i -= 1;
                    }
                }
                break None;
            }
            let at = self.i;
            let block: &[u8; 64] = self.b[at..at + 64]
                .try_into()
                .expect("a range of sixty-four bytes");
            let (mut special, beyond) = sse2::masks64(block);
            beyond_ascii |= beyond != 0;
            while special != 0 {
                self.i = at + special.trailing_zeros() as usize;
                match self.b[self.i] {
                    b'"' => break 'blocks Some(self.i),
                    b'\\' => {
                        self.escape()?;
                        let past = self.i - at;
                        if past >= 64 {
                            block_end = false;
                            continue 'blocks;
                        }
                        // The escaped characters (a quote, a backslash)
                        // are text: only what follows is looked at.
                        special &= u64::MAX << past;
                    }
                    _ => return Err(self.error("control character in a string")),
                }
            }
            self.i = at + 64;
            block_end = true;
        };
        let end = quote.unwrap_or(self.i);
        if beyond_ascii && let Err(error) = std::str::from_utf8(&self.b[from..end]) {
            self.i = from + error.valid_up_to();
            return Err(self.error("invalid UTF-8"));
        }
        match quote {
            Some(quote) => {
                self.i = quote + 1;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), ScanError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn number(&mut self) -> Result<(), ScanError> {
        let start = self.i;
        let digits = |s: &mut Self| {
            let start = s.i;
            while s.peek().is_some_and(|c| c.is_ascii_digit()) {
                s.i += 1;
            }
            s.i > start
        };
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !digits(self) {
                return Err(self.error("invalid number"));
            }
        }
        let exponent = matches!(self.peek(), Some(b'e' | b'E'));
        if exponent {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !digits(self) {
                return Err(self.error("invalid number"));
            }
        }
        // serde_json reads a number past an `f64`'s range as an error, not
        // as infinity. Only one with an exponent, or more digits than a
        // `u64` holds, can be.
        let text = &self.b[start..self.i];
        if (exponent || text.len() > 20)
            && !(std::str::from_utf8(text).ok())
                .and_then(|text| text.parse::<f64>().ok())
                .is_some_and(f64::is_finite)
        {
            self.i = start;
            return Err(self.error(OUT_OF_RANGE));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A request's large `tools` read once is skipped the next time, with
    /// the same result; bytes that only start like it, or differ in one
    /// byte, are read (and refused when invalid) as if it were unknown.
    #[test]
    fn a_large_value_read_before_is_skipped_and_only_that_value() {
        let known = KnownValues::default();
        let hits = || known.hits.load(std::sync::atomic::Ordering::Relaxed);
        let request = |body: &[u8], items, nested| request(body, items, nested, Some(&known));
        let tools: Vec<String> = (0..80)
            .map(|i| format!(r#"{{"type":"function","function":{{"name":"known_value_test_{i}","parameters":{{"type":"object"}}}}}}"#))
            .collect();
        let tools = format!("[{}]", tools.join(","));
        assert!(tools.len() > 4096);
        let body = format!(
            r#"{{"messages":[{{"role":"user","content":"hi"}}],"tools":{tools},"stream":true}}"#
        );
        let before = hits();
        let first = request(body.as_bytes(), "messages", "tool_calls").unwrap();
        assert_eq!(hits(), before, "read the first time");
        let second = request(body.as_bytes(), "messages", "tool_calls").unwrap();
        assert_eq!(hits(), before + 1, "skipped the second time");
        assert_eq!(first, second);
        let tools_member = second.members.iter().find(|m| m.key == "tools").unwrap();
        assert_eq!(text(&body, &tools_member.value), tools);

        // The known value followed by what cannot follow a member.
        let trailing =
            format!(r#"{{"messages":[{{"role":"user","content":"hi"}}],"tools":{tools} x}}"#);
        assert!(request(trailing.as_bytes(), "messages", "tool_calls").is_err());
        // One byte of it changed into a control character inside a string:
        // not the known value, read, refused.
        let mut bytes = body.clone().into_bytes();
        let at = body.find("known_value_test_7").unwrap() + "known_value_test".len();
        bytes[at] = 0x01;
        let before = hits();
        assert!(request(&bytes, "messages", "tool_calls").is_err());
        assert_eq!(hits(), before, "not taken for the known value");
        // Chunks and other objects are never looked up.
        let before = hits();
        object(body.as_bytes(), Some("messages")).unwrap();
        assert_eq!(hits(), before);
    }

    fn text<'a>(buffer: &'a str, range: &Range<usize>) -> &'a str {
        &buffer[range.clone()]
    }

    #[test]
    fn members_scanned_into_one_vector_are_each_objects_own() {
        let objects = [
            r#"{"id":"c1","model":"m","choices":[{"delta":{"content":"a"}}]}"#,
            r#"{"error":{"message":"x"}}"#,
            r#"{}"#,
            r#"{"a" : 1 , "b":[2]}"#,
            r#"{"a": 1,"#,
            r#"[1]"#,
            r#"{"usage":{"prompt_tokens":1},"choices":[]}"#,
        ];
        let mut reused = Vec::new();
        for object in objects {
            let into = members_into(object.as_bytes(), &mut reused);
            match members(object.as_bytes()) {
                Ok(alone) => {
                    assert_eq!(into, Ok(()), "{object}");
                    assert_eq!(reused, alone, "{object}");
                }
                Err(error) => assert_eq!(into, Err(error), "{object}"),
            }
        }
    }

    #[test]
    fn members_items_and_their_members_are_found() {
        let input = r#" { "a" : 1 , "m\u0065ssages" : [ {"role":"user","content":"x\"y"} , 2 ], "z": {"k": [true, null]} } "#;
        let scanned = object(input.as_bytes(), Some("messages")).unwrap();
        let keys: Vec<&str> = scanned.members.iter().map(|m| m.key.as_ref()).collect();
        assert_eq!(keys, ["a", "messages", "z"]);
        assert_eq!(
            text(input, &scanned.members[2].value),
            r#"{"k": [true, null]}"#
        );
        let items = scanned.items.unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(text(input, &items.get(1).unwrap().range()), "2");
        assert!(items.get(1).unwrap().members().is_none());
        let first = items.get(0).unwrap().members().unwrap();
        assert_eq!(first[1].key, "content");
        assert_eq!(text(input, &first[1].value), r#""x\"y""#);
    }

    #[test]
    fn the_nested_arrays_of_items_are_found_in_the_same_pass() {
        let input = r#"{"messages": [{"tool_calls": [{"id": "a"}, 3], "tool_calls": [{"id": "b"}]},
            {"role": "user"}, {"tool_calls": null}, [1]]}"#;
        let plain = object(input.as_bytes(), Some("messages")).unwrap();
        let scanned =
            object_nested(input.as_bytes(), Some("messages"), Some("tool_calls")).unwrap();
        assert_eq!(scanned.members, plain.members);
        let items = scanned.items.unwrap();
        let nested: Vec<Option<Vec<&str>>> = items
            .iter()
            .map(|item| {
                Some(
                    item.nested()?
                        .map(|call| text(input, &call.range()))
                        .collect(),
                )
            })
            .collect();
        // The last `tool_calls` of the first message, as for `items`.
        assert_eq!(nested, [Some(vec![r#"{"id": "b"}"#]), None, None, None]);
        let call = items.get(0).unwrap().nested().unwrap().next().unwrap();
        assert!(call.nested().is_none());
        let id = &call.members().unwrap()[0];
        assert_eq!((id.key.as_ref(), text(input, &id.value)), ("id", r#""b""#));
        // The second message's members follow the first's calls in the
        // scan, but not in its pool.
        let keys: Vec<&str> = items
            .get(1)
            .unwrap()
            .members()
            .unwrap()
            .iter()
            .map(|m| m.key.as_ref())
            .collect();
        assert_eq!(keys, ["role"]);
        // Apart from the nested elements, the items are those a plain scan finds.
        let plain = plain.items.unwrap();
        assert_eq!(items.len(), plain.len());
        for (item, plain) in items.iter().zip(plain.iter()) {
            assert_eq!(
                (item.range(), item.members()),
                (plain.range(), plain.members())
            );
        }
    }

    #[test]
    fn what_is_not_json_is_refused() {
        for input in [
            "",
            "{",
            "{]",
            "[]",
            "1",
            "\"s\"",
            "{} x",
            "{\"a\":}",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "{a:1}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":-}",
            "{\"a\":1e}",
            "{\"a\":tru}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12\"}",
            "{\"a\":\"tab\there\"}",
            "{\"a\":[1,]}",
            "{\"a\":\"unterminated}",
        ] {
            let scanned = object(input.as_bytes(), None);
            let by_serde =
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(input);
            assert!(
                scanned.is_err() && by_serde.is_err(),
                "{input:?}: {scanned:?}"
            );
        }
        assert_eq!(object(b"[1]", None), Err(ScanError::NotObject));
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert!(object(deep.as_bytes(), None).is_err());
    }

    #[test]
    fn text_is_utf8_inside_strings_and_ascii_outside() {
        let valid = "{\"caf\u{e9}\": \"\u{1f600} na\u{ef}ve \\n \u{4e2d}\u{6587}\"}";
        assert!(object(valid.as_bytes(), None).is_ok());
        for bad in [
            &b"{\"a\":\"\xff\"}"[..],
            b"{\"a\":\"ok \xc3\"}",
            b"{\"a\":\"\xc3\\n\xa9\"}",
            b"{\"\xe2\x82\":1}",
            b"{\"a\":1}\xc3\xa9",
            b"{\xc3\xa9:1}",
            b"{\"a\":\xc3\xa9}",
        ] {
            let scanned = object(bad, None);
            let by_serde = serde_json::from_slice::<serde_json::Value>(bad);
            assert!(
                scanned.is_err() && by_serde.is_err(),
                "{bad:?}: {scanned:?}"
            );
        }
        assert_eq!(
            object(b"{\"a\":\"abc\xff\"}", None),
            Err(ScanError::Syntax {
                what: "invalid UTF-8",
                at: 9
            })
        );
    }

    #[test]
    fn short_and_long_strings_are_read_alike() {
        // Across the length where strings stop being read byte by byte.
        for n in 0..40 {
            let text = "a".repeat(n);
            let at = 6 + n;
            let control = format!("{{\"a\":\"{text}\u{1}\"}}");
            assert_eq!(
                object(control.as_bytes(), None),
                Err(ScanError::Syntax {
                    what: "control character in a string",
                    at
                }),
                "{n}"
            );
            for ok in [
                format!("{{\"a\":\"{text}\"}}"),
                format!("{{\"a\":\"{text}\u{e9}\\\"{text}\"}}"),
            ] {
                let scanned = object(ok.as_bytes(), None).unwrap();
                assert_eq!(scanned.members[0].value, 5..ok.len() - 1, "{ok}");
            }
        }
    }

    fn json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            // Quarters: exact in binary, so they read back equal.
            any::<i32>().prop_map(|n| serde_json::json!(f64::from(n) / 4.0)),
            "\\PC{0,12}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
                prop::collection::btree_map("\\PC{0,6}", inner, 0..5)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A string read a block at a time after an escape, cut off where a
    /// block ends with the buffer (the fuzz target found this panic).
    #[test]
    fn an_escaped_text_cut_off_at_a_block_end_is_unterminated() {
        for text in ["x", "\u{e9}", "\u{4e2d}x"] {
            for extra in 0..4 {
                let mut body = b"{\"k\": \"\\n".to_vec();
                while body.len() < 8 + 64 + extra {
                    body.extend_from_slice(text.as_bytes());
                }
                body.truncate(8 + 64 + extra);
                assert!(
                    object(&body, None).is_err(),
                    "{:?}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
    }

    proptest! {
        /// On any valid document the scanner agrees with serde_json on the
        /// members and their values.
        #[test]
        fn valid_documents_are_read_as_serde_reads_them(
            members in prop::collection::btree_map("\\PC{0,6}", json(), 0..6),
            pretty in any::<bool>(),
        ) {
            let value = serde_json::Value::Object(members.into_iter().collect());
            let text = if pretty { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) }.unwrap();
            let scanned = object(text.as_bytes(), None).unwrap();
            let object = value.as_object().unwrap();
            prop_assert_eq!(scanned.members.len(), object.len());
            for member in &scanned.members {
                let parsed: serde_json::Value = serde_json::from_str(&text[member.value.clone()]).unwrap();
                prop_assert_eq!(&parsed, &object[member.key.as_ref()]);
            }
        }

        /// The word-at-a-time check finds what a byte-by-byte look finds.
        #[test]
        fn unusual_bytes_are_found_as_one_by_one(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
            let expected = Unusual {
                control: bytes.iter().any(|&c| c < 0x20),
                non_ascii: bytes.iter().any(|&c| c > 0x7f),
            };
            prop_assert_eq!(unusual(&bytes), expected);
        }

        /// The vector search for the end of plain text finds what the
        /// portable one finds, at any length and alignment.
        #[test]
        fn plain_runs_end_where_the_portable_search_says(
            bytes in prop::collection::vec(
                prop::sample::select(&b"ab \"\\\n\x1f\x20\x7f\x80\xc3\xa9\xff"[..]), 0..80),
            plain in 0usize..70,
        ) {
            // A plain prefix of its own length, so the special byte falls
            // anywhere in a block of sixteen.
            let mut text = vec![b'x'; plain];
            text.extend(bytes);
            prop_assert_eq!(plain_run(&text), plain_run_portable(&text));
        }

        /// Long strings of any bytes: accepted exactly as serde_json accepts
        /// them.
        #[test]
        fn long_strings_are_judged_as_serde_judges_them(
            bytes in prop::collection::vec(
                prop::sample::select(&b"ab \"\\\nu0\x1f\x7f\xc3\xa9\xe4\xb8\xad\xff"[..]), 0..120),
            plain in 0usize..40,
        ) {
            let mut text = b"{\"k\": \"".to_vec();
            text.extend(std::iter::repeat_n(b'x', plain));
            text.extend(bytes);
            text.extend(b"\"}");
            let scanned = object(&text, None).is_ok();
            let by_serde = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&text).is_ok();
            prop_assert_eq!(scanned, by_serde, "{:?}", String::from_utf8_lossy(&text));
        }

        /// Long texts of escapes, plain runs and text beyond ASCII (what
        /// the block walk after an escape reads), now and then with a
        /// fault in them: judged as serde_json judges them, the string
        /// ending where serde's does (the member after it is read).
        #[test]
        fn escaped_texts_are_judged_as_serde_judges_them(
            pieces in prop::collection::vec(prop::sample::select(vec![
                &b"plain text "[..], b"x", b"\\n", b"\\\"", b"\\\\", b"\\/", b"\\t",
                b"\\u00e9", b"\\u4E2d", b"\xc3\xa9", b"\xe4\xb8\xad", b"a long run of plain text, longer than a block of sixty-four bytes",
                b"\\ud83d\\ude00", b"\\uD83D\\uDE00",
            ]), 1..60),
            fault in prop::option::of((0usize..60, prop::sample::select(vec![
                &b"\""[..], b"\\x", b"\\u12g4", b"\x01", b"\x1f", b"\xff", b"\xc3", b"\\",
                b"\\ud800", b"\\udc00", b"\\udbff\\u0041", b"\\ud800\\ud800", b"\\ud83d\\",
                b"\\u+123", b"\\u-fff",
            ]))),
            offset in 0usize..70,
        ) {
            let mut text = b"{\"k\": \"".to_vec();
            text.extend(std::iter::repeat_n(b'x', offset));
            for (index, piece) in pieces.iter().enumerate() {
                if let Some((at, bad)) = fault
                    && at == index {
                        text.extend_from_slice(bad);
                    }
                text.extend_from_slice(piece);
            }
            text.extend(b"\", \"z\": 1}");
            let scanned = object(&text, None).map(|s| s.members.len());
            let by_serde = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&text)
                .map(|map| map.len());
            prop_assert_eq!(scanned.ok(), by_serde.ok(), "{:?}", String::from_utf8_lossy(&text));
        }

        /// Any bytes: the scanner accepts exactly what serde_json accepts as
        /// an object, and never panics.
        #[test]
        fn any_bytes_are_judged_as_serde_judges_them(bytes in prop::collection::vec(
            prop::sample::select(&b"{}[]\",:0123456789-+.eEtrufalsn \\\n\tabu\xc3\xa9\xff"[..]), 0..40)
        ) {
            let scanned = object(&bytes, None).is_ok();
            let by_serde = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes).is_ok();
            prop_assert_eq!(scanned, by_serde, "{:?}", String::from_utf8_lossy(&bytes));
        }

        /// Numbers near and past the ends of an `f64`'s range, and integers
        /// past a `u64`'s: taken exactly when serde_json takes them.
        #[test]
        fn numbers_are_judged_as_serde_judges_them(
            minus in any::<bool>(),
            whole in "[1-9][0-9]{0,30}|0",
            fraction in prop::option::of("[0-9]{1,20}"),
            exponent in prop::option::of(("[eE]", "[+-]?", 0u32..700)),
        ) {
            let mut number = format!("{}{whole}", if minus { "-" } else { "" });
            if let Some(fraction) = fraction {
                number.push('.');
                number.push_str(&fraction);
            }
            if let Some((e, sign, power)) = exponent {
                number.push_str(&format!("{e}{sign}{power}"));
            }
            let text = format!("{{\"n\": [{number}], \"z\": 1}}");
            let scanned = object(text.as_bytes(), None).is_ok();
            let by_serde = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text).is_ok();
            prop_assert_eq!(scanned, by_serde, "{}", text);
        }
    }

    /// What serde_json refuses where JSON's grammar is silent is refused,
    /// at the place it starts: a transport that reads the body into a tree
    /// never finds one it cannot read.
    #[test]
    fn numbers_out_of_range_and_lone_surrogates_are_refused() {
        let refused = [
            (r#"{"t": 1e400}"#, "number out of range at byte 6"),
            (r#"{"t": [-2E+308]}"#, "number out of range at byte 7"),
            (
                r#"{"t": "a\ud800"}"#,
                "lone surrogate in a \\u escape at byte 8",
            ),
            (
                r#"{"t": "\udc00b"}"#,
                "lone surrogate in a \\u escape at byte 7",
            ),
            (
                r#"{"t": "\ud800\u0041"}"#,
                "lone surrogate in a \\u escape at byte 7",
            ),
            (
                r#"{"t": "\ud800\ud800"}"#,
                "lone surrogate in a \\u escape at byte 7",
            ),
        ];
        for (text, error) in refused {
            let scanned = object(text.as_bytes(), None).map(|s| s.members.len());
            assert_eq!(scanned.unwrap_err().to_string(), error, "{text}");
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_err(),
                "{text}"
            );
        }
        let long = format!(r#"{{"t": {}}}"#, "9".repeat(400));
        assert!(object(long.as_bytes(), None).is_err());
        let taken = [
            r#"{"t": 1e308}"#,
            r#"{"t": 1e-400}"#,
            r#"{"t": 123456789012345678901234567890}"#,
            r#"{"t": "\ud83d\ude00 \uD83D\uDE00"}"#,
        ];
        for text in taken {
            assert!(object(text.as_bytes(), None).is_ok(), "{text}");
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_ok(),
                "{text}"
            );
        }
    }
}
