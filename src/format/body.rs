//! Editing a JSON object without rebuilding it: the object is read once into
//! its members (each key with the byte range of its value in the client's
//! buffer), rules record [`Edits`], and [`write`] produces the outgoing body
//! as a list of chunks, the untouched values being slices of the original
//! buffer (no copy). The cost of a request therefore follows what the rules
//! change, not the size of the body.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::Value;
use smallvec::SmallVec;

pub use super::scan::{ElementRef, Items, Member, ScanError, Scanned, members, members_into};

/// Changes to one JSON object: members set (replaced in place, or added at
/// the end) or removed. The last change to a key wins. Keys are the
/// rules' own literals, borrowed (a history's every message may be edited:
/// no allocation per key), or owned when they come from the config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectEdits {
    changes: Vec<(Cow<'static, str>, Option<Value>)>,
    /// Members set to JSON text built from the source's own bytes: most
    /// often one per message (Kimi's renamed tool-call ids), held inline,
    /// as a history's every message may take one (an allocation each was
    /// a third of the plan of OpenClaw's 66 KB turn).
    raw: SmallVec<[(Cow<'static, str>, Pieces); 1]>,
}

/// One JSON value's text in pieces, written one after another: parts of
/// the source (shared, not copied) with new text between them.
type Pieces = SmallVec<[Bytes; 1]>;

impl ObjectEdits {
    /// Sets `key` to `json`, which must be one valid JSON value. Such a
    /// change is written but not read back by [`Self::get`]: it is for
    /// values spliced from the source's own text, which no later rule reads.
    /// `json` may be shared (a remembered rewrite): it is sent without a
    /// copy when large.
    pub fn set_raw(&mut self, key: impl Into<Cow<'static, str>>, json: impl Into<Bytes>) {
        self.set_pieces(key, [json.into()]);
    }

    /// Sets `key` to the JSON text that `pieces` make one after another,
    /// as [`Self::set_raw`] does: each piece sent without a copy when
    /// large (a member's text with a part of it replaced).
    pub fn set_pieces(
        &mut self,
        key: impl Into<Cow<'static, str>>,
        pieces: impl IntoIterator<Item = Bytes>,
    ) {
        let (key, json) = (key.into(), pieces.into_iter().collect());
        self.changes.retain(|(k, _)| *k != key);
        match self.raw.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = json,
            None => self.raw.push((key, json)),
        }
    }

    /// The JSON text `key` is set to by [`Self::set_raw`], if it is, in
    /// its pieces.
    pub fn raw(&self, key: &str) -> Option<&[Bytes]> {
        self.raw
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, json)| &json[..])
    }

    pub fn set(&mut self, key: impl Into<Cow<'static, str>>, value: Value) {
        self.change(key.into(), Some(value));
    }

    pub fn remove(&mut self, key: impl Into<Cow<'static, str>>) {
        self.change(key.into(), None);
    }

    fn change(&mut self, key: Cow<'static, str>, value: Option<Value>) {
        self.raw.retain(|(k, _)| *k != key);
        match self.changes.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.changes.push((key, value)),
        }
    }

    /// Whether nothing is changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.raw.is_empty()
    }

    /// `Some(Some(v))` when `key` is set to `v`, `Some(None)` when removed,
    /// `None` when untouched.
    pub fn get(&self, key: &str) -> Option<Option<&Value>> {
        self.changes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// Every member changed, in the order the changes were made (values
    /// set, then JSON text spliced): its key, and its new value (`None`
    /// when removed; the text, read back, when spliced).
    pub fn each(&self) -> impl Iterator<Item = (&str, Option<Value>)> {
        let changed = self.changes.iter().map(|(k, v)| (&**k, v.clone()));
        let spliced = self
            .raw
            .iter()
            .map(|(k, json)| (&**k, serde_json::from_slice(&json.concat()).ok()));
        changed.chain(spliced)
    }
}

/// Changes to a request: its top-level members, and members of the objects
/// of one array member (`messages`) by index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Edits {
    pub top: ObjectEdits,
    pub items: BTreeMap<usize, ObjectEdits>,
}

/// The outgoing body: large untouched parts of the client's buffer as
/// slices of it (no copy), everything else (keys, new values, small
/// untouched values) gathered into a few new buffers. Its length is known,
/// so it is sent with a `Content-Length` like any other body.
#[derive(Debug, Default)]
pub struct Chunks {
    chunks: VecDeque<Bytes>,
    /// Small pieces not yet closed into a chunk.
    pending: BytesMut,
    len: usize,
}

/// Untouched values shorter than this are copied: a slice costs more than
/// copying a few bytes, and fewer, larger chunks are cheaper to send.
const SLICE_AT_LEAST: usize = 512;

impl From<Bytes> for Chunks {
    /// A body that is one buffer, such as a translated request.
    fn from(bytes: Bytes) -> Self {
        let len = bytes.len();
        Self {
            chunks: VecDeque::from([bytes]),
            pending: BytesMut::new(),
            len,
        }
    }
}

impl Chunks {
    fn copy(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Part of the client's buffer: sliced when large, else copied.
    fn source(&mut self, source: &Bytes, range: Range<usize>) {
        if range.len() < SLICE_AT_LEAST {
            self.copy(&source[range]);
            return;
        }
        self.flush();
        self.len += range.len();
        self.chunks.push_back(source.slice(range));
    }

    /// A value of the edits' own: shared when large, else copied.
    fn shared(&mut self, bytes: &Bytes) {
        self.source(bytes, 0..bytes.len());
    }

    fn json(&mut self, value: &impl serde::Serialize) {
        let before = self.pending.len();
        serde_json::to_writer((&mut self.pending).writer(), value).expect("JSON values serialize");
        self.len += self.pending.len() - before;
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            self.chunks.push_back(self.pending.split().freeze());
        }
    }

    fn finish(mut self) -> Self {
        self.flush();
        self
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// One contiguous copy (for tests, logs and recording).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for chunk in &self.chunks {
            out.extend_from_slice(chunk);
        }
        out
    }

    /// How many bytes were newly written rather than sliced from the source.
    #[cfg(test)]
    pub fn written_bytes(&self, source: &Bytes) -> usize {
        let range = source.as_ptr() as usize..source.as_ptr() as usize + source.len();
        self.chunks
            .iter()
            .filter(|c| !range.contains(&(c.as_ptr() as usize)))
            .map(Bytes::len)
            .sum()
    }
}

/// Writes the object in `source` (whose members are `members`) with
/// `edits` applied; the elements of the array member `items_key` (at
/// `items`) are edited per `edits.items`.
pub fn write(
    source: &Bytes,
    members: &[Member],
    edits: &Edits,
    items_key: &str,
    items: &Items,
) -> Chunks {
    let edited =
        (!edits.items.is_empty()).then_some(|index| edits.items.get(&index).map(Cow::Borrowed));
    write_with(source, members, &edits.top, items_key, items, edited)
}

/// [`write`], the edits of each element of `items_key` made as the
/// element is reached by `item` (`None`: no element is edited), rather
/// than gathered first.
pub fn write_with<'e>(
    source: &Bytes,
    members: &[Member],
    top: &ObjectEdits,
    items_key: &str,
    items: &Items,
    item: Option<impl FnMut(usize) -> Option<Cow<'e, ObjectEdits>>>,
) -> Chunks {
    let mut out = Chunks::default();
    let mut item = item;
    write_object(&mut out, source, members, top, |out, member| {
        let Some(item) = item
            .as_mut()
            .filter(|_| member.key == items_key && !items.is_empty())
        else {
            return false;
        };
        write_items(out, source, items, item);
        true
    });
    out.finish()
}

fn write_object(
    out: &mut Chunks,
    source: &Bytes,
    members: &[Member],
    edits: &ObjectEdits,
    mut nested: impl FnMut(&mut Chunks, &Member) -> bool,
) {
    out.copy(b"{");
    let mut first = true;
    let mut separator = |out: &mut Chunks| {
        if !std::mem::take(&mut first) {
            out.copy(b",");
        }
    };
    for member in members {
        if let Some(json) = edits.raw(&member.key) {
            separator(out);
            out.copy(&source[member.raw_key.clone()]);
            out.copy(b":");
            json.iter().for_each(|piece| out.shared(piece));
            continue;
        }
        match edits.get(&member.key) {
            Some(None) => continue,
            Some(Some(value)) => {
                separator(out);
                out.copy(&source[member.raw_key.clone()]);
                out.copy(b":");
                out.json(value);
            }
            None => {
                separator(out);
                out.copy(&source[member.raw_key.clone()]);
                out.copy(b":");
                if !nested(out, member) {
                    out.source(source, member.value.clone());
                }
            }
        }
    }
    for (key, value) in &edits.changes {
        let (Some(value), false) = (value, members.iter().any(|m| &m.key == key)) else {
            continue;
        };
        separator(out);
        out.json(key);
        out.copy(b":");
        out.json(value);
    }
    for (key, json) in &edits.raw {
        if members.iter().any(|m| &m.key == key) {
            continue;
        }
        separator(out);
        out.json(key);
        out.copy(b":");
        json.iter().for_each(|piece| out.shared(piece));
    }
    out.copy(b"}");
}

/// The array of `elements`, with the objects at the edited indexes
/// rewritten; each run of untouched elements goes out as one piece of the
/// source, the separators between them included.
fn write_items<'e>(
    out: &mut Chunks,
    source: &Bytes,
    elements: &Items,
    mut item: impl FnMut(usize) -> Option<Cow<'e, ObjectEdits>>,
) {
    out.copy(b"[");
    let mut run: Option<Range<usize>> = None;
    for (index, element) in elements.iter().enumerate() {
        let edited = element
            .members()
            .and_then(|inner| Some((item(index)?, inner)));
        let Some((edits, inner)) = edited else {
            run = Some(match run {
                Some(run) => run.start..element.range().end,
                None => {
                    if index > 0 {
                        out.copy(b",");
                    }
                    element.range()
                }
            });
            continue;
        };
        if let Some(run) = run.take() {
            out.source(source, run);
        }
        if index > 0 {
            out.copy(b",");
        }
        write_object(out, source, inner, &edits, |_, _| false);
    }
    if let Some(run) = run {
        out.source(source, run);
    }
    out.copy(b"]");
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let Some(chunk) = self.chunks.pop_front() else {
            return Poll::Ready(None);
        };
        self.len -= chunk.len();
        Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.len as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(input: &str, edit: impl FnOnce(&mut Edits), expected: Value) {
        let source = Bytes::from(input.to_string());
        let Scanned { members, items } =
            crate::format::scan::object(&source, Some("messages")).unwrap();
        let mut edits = Edits::default();
        edit(&mut edits);
        let out = write(
            &source,
            &members,
            &edits,
            "messages",
            &items.unwrap_or_default(),
        );
        let parsed: Value = serde_json::from_slice(&out.to_vec()).unwrap();
        assert_eq!(parsed, expected, "input {input}");
        assert_eq!(out.len(), out.to_vec().len());
    }

    #[test]
    fn untouched_objects_come_out_equal() {
        check(
            r#" { "a" : 1 , "b\u0022" : {"x": [1, 2]}, "messages": [{"role":"user"}] } "#,
            |_| {},
            json!({"a": 1, "b\"": {"x": [1, 2]}, "messages": [{"role": "user"}]}),
        );
        check("{}", |_| {}, json!({}));
    }

    #[test]
    fn members_are_set_removed_and_added_in_place() {
        check(
            r#"{"model":"a","temperature":0.5,"stream":true}"#,
            |e| {
                e.top.set("model", json!("b"));
                e.top.remove("temperature");
                e.top.set("thinking", json!({"type": "enabled"}));
                e.top.set("gone", json!(1));
                e.top.remove("gone");
            },
            json!({"model": "b", "stream": true, "thinking": {"type": "enabled"}}),
        );
    }

    #[test]
    fn only_edited_messages_are_rewritten() {
        let input = r#"{"messages":[{"role":"developer","content":"a"},{"role":"user","content":"b"},{"role":"assistant","tool_calls":[]}]}"#;
        check(
            input,
            |e| {
                e.items.entry(0).or_default().set("role", json!("system"));
                e.items
                    .entry(2)
                    .or_default()
                    .set("reasoning_content", json!(""));
            },
            json!({"messages": [
                {"role": "system", "content": "a"},
                {"role": "user", "content": "b"},
                {"role": "assistant", "tool_calls": [], "reasoning_content": ""}
            ]}),
        );
    }

    #[test]
    fn unchanged_parts_are_slices_of_the_source() {
        let big = "x".repeat(10_000);
        let input =
            json!({"model": "m", "messages": [{"role": "user", "content": big}], "tools": [big]})
                .to_string();
        let source = Bytes::from(input);
        let Scanned { members, items } =
            crate::format::scan::object(&source, Some("messages")).unwrap();
        let mut edits = Edits::default();
        edits.top.set("model", json!("upstream-id"));
        let out = write(&source, &members, &edits, "messages", &items.unwrap());
        assert!(
            out.written_bytes(&source) < 100,
            "{}",
            out.written_bytes(&source)
        );
    }

    /// A member set in pieces is their text one after another, the
    /// source's own parts sliced from it, not copied; read back whole.
    #[test]
    fn a_member_set_in_pieces_shares_the_sources_parts() {
        let big = "x".repeat(10_000);
        let input = json!({"model": "m", "tools": [big, {"a": 1}, big]}).to_string();
        let source = Bytes::from(input);
        let Scanned { members, .. } = crate::format::scan::object(&source, None).unwrap();
        let tools = members.iter().find(|m| m.key == "tools").unwrap();
        let text = source.slice(tools.value.clone());
        let at = memchr::memmem::find(&text, br#"{"a":1}"#).unwrap();
        let mut edits = Edits::default();
        edits.top.set_pieces(
            "tools",
            [
                text.slice(..at),
                Bytes::from_static(br#"{"b":2}"#),
                text.slice(at + 7..),
            ],
        );
        let expected = json!([big, {"b": 2}, big]);
        assert_eq!(
            edits.top.each().collect::<Vec<_>>(),
            [("tools", Some(expected.clone()))]
        );
        let out = write(&source, &members, &edits, "messages", &Items::default());
        assert!(
            out.written_bytes(&source) < 100,
            "{}",
            out.written_bytes(&source)
        );
        let out: Value = serde_json::from_slice(&out.to_vec()).unwrap();
        assert_eq!(out, json!({"model": "m", "tools": expected}));
    }

    #[test]
    fn non_objects_are_refused() {
        for input in ["[]", "1", "\"x\"", "{", "{} x", "{\"a\":}"] {
            assert!(members(input.as_bytes()).is_err(), "{input}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn leaf() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<i32>().prop_map(|n| json!(n)),
                "[a-z\"\\\\ ]{0,6}".prop_map(Value::String),
                "x{600,700}".prop_map(Value::String),
            ]
        }

        fn object() -> impl Strategy<Value = serde_json::Map<String, Value>> {
            prop::collection::vec(("[a-d]", leaf()), 0..5)
                .prop_map(|pairs| pairs.into_iter().collect())
        }

        proptest! {
            /// Writing edits over the bytes gives what applying them to the
            /// parsed value gives.
            #[test]
            fn writing_edits_equals_editing_the_value(
                top in object(),
                messages in prop::collection::vec(object(), 1..8),
                top_changes in prop::collection::vec(("[a-f]", prop::option::of(leaf())), 0..4),
                item_changes in prop::collection::vec((0usize..8, "[a-f]", prop::option::of(leaf())), 0..6),
                pretty in any::<bool>(),
            ) {
                let mut value = Value::Object(top);
                value["messages"] = json!(messages);
                let text = if pretty { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) }.unwrap();
                let source = Bytes::from(text);
                let Scanned { members, items } = crate::format::scan::object(&source, Some("messages")).unwrap();
                let mut edits = Edits::default();
                let mut expected = value.clone();
                for (key, change) in top_changes {
                    if key == "messages" { continue; }
                    match change {
                        Some(v) => { edits.top.set(key.clone(), v.clone()); expected[&key] = v; }
                        None => { edits.top.remove(key.clone()); expected.as_object_mut().unwrap().remove(&key); }
                    }
                }
                for (index, key, change) in item_changes {
                    if index >= messages.len() { continue; }
                    let item = edits.items.entry(index).or_default();
                    let target = &mut expected["messages"][index];
                    match change {
                        Some(v) => { item.set(key.clone(), v.clone()); target[&key] = v; }
                        None => { item.remove(key.clone()); target.as_object_mut().unwrap().remove(&key); }
                    }
                }
                let out = write(&source, &members, &edits, "messages", &items.unwrap());
                let written: Value = serde_json::from_slice(&out.to_vec()).unwrap();
                prop_assert_eq!(written, expected);
                prop_assert_eq!(out.len(), out.to_vec().len());
            }
        }
    }
}
