//! Editing a JSON object without rebuilding it: the object is read once into
//! its members (each key with the byte range of its value in the client's
//! buffer), rules record [`Edits`], and [`write`] produces the outgoing body
//! as a list of chunks, the untouched values being slices of the original
//! buffer (no copy). The cost of a request therefore follows what the rules
//! change, not the size of the body.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// One member of a JSON object: its (unescaped) key and where its value
/// lies in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub key: String,
    pub value: Range<usize>,
}

/// The members of the JSON object in `buffer`, in order, or an error when
/// the buffer is not one JSON object. Values are checked for syntax (in one linear
/// pass) but not built.
pub fn members(buffer: &[u8]) -> Result<Vec<Member>, serde_json::Error> {
    struct Members<'b> {
        base: usize,
        len: usize,
        _buffer: std::marker::PhantomData<&'b ()>,
    }
    impl<'de> Visitor<'de> for Members<'de> {
        type Value = Vec<Member>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Member>, A::Error> {
            let mut out = Vec::new();
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                let raw: &'de RawValue = map.next_value()?;
                let start = raw.get().as_ptr() as usize - self.base;
                debug_assert!(start + raw.get().len() <= self.len);
                out.push(Member {
                    key: key.into_owned(),
                    value: start..start + raw.get().len(),
                });
            }
            Ok(out)
        }
    }
    let text = std::str::from_utf8(buffer).map_err(serde::de::Error::custom)?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let members = deserializer.deserialize_map(Members {
        base: text.as_ptr() as usize,
        len: text.len(),
        _buffer: std::marker::PhantomData,
    })?;
    deserializer.end()?;
    Ok(members)
}

/// Changes to one JSON object: members set (replaced in place, or added at
/// the end) or removed. The last change to a key wins.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectEdits {
    changes: Vec<(String, Option<Value>)>,
}

impl ObjectEdits {
    pub fn set(&mut self, key: &str, value: Value) {
        self.change(key, Some(value));
    }

    pub fn remove(&mut self, key: &str) {
        self.change(key, None);
    }

    fn change(&mut self, key: &str, value: Option<Value>) {
        match self.changes.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.changes.push((key.to_string(), value)),
        }
    }

    /// `Some(Some(v))` when `key` is set to `v`, `Some(None)` when removed,
    /// `None` when untouched.
    pub fn get(&self, key: &str) -> Option<Option<&Value>> {
        self.changes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Changes to a request: its top-level members, and members of the objects
/// of one array member (`messages`) by index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Edits {
    pub top: ObjectEdits,
    pub items: BTreeMap<usize, ObjectEdits>,
}

/// The outgoing body: chunks that are either slices of the client's buffer
/// or small new pieces. Its length is known, so it is sent with a
/// `Content-Length` like any other body.
#[derive(Debug, Clone, Default)]
pub struct Chunks {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl Chunks {
    fn push(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.len += bytes.len();
            self.chunks.push_back(bytes);
        }
    }

    fn push_static(&mut self, bytes: &'static [u8]) {
        self.push(Bytes::from_static(bytes));
    }

    fn push_json(&mut self, value: &impl serde::Serialize) {
        let mut out = BytesMut::new().writer();
        serde_json::to_writer(&mut out, value).expect("JSON values serialize");
        self.push(out.into_inner().freeze());
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
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
/// `edits` applied; members of the array member `items_key` are edited per
/// `edits.items`.
pub fn write(source: &Bytes, members: &[Member], edits: &Edits, items_key: &str) -> Chunks {
    let mut out = Chunks::default();
    write_object(&mut out, source, members, &edits.top, |out, member| {
        if member.key != items_key || edits.items.is_empty() {
            return false;
        }
        write_items(out, source, member.value.clone(), &edits.items);
        true
    });
    out
}

fn write_object(
    out: &mut Chunks,
    source: &Bytes,
    members: &[Member],
    edits: &ObjectEdits,
    mut nested: impl FnMut(&mut Chunks, &Member) -> bool,
) {
    out.push_static(b"{");
    let mut first = true;
    let mut separator = |out: &mut Chunks| {
        if !std::mem::take(&mut first) {
            out.push_static(b",");
        }
    };
    for member in members {
        match edits.get(&member.key) {
            Some(None) => continue,
            Some(Some(value)) => {
                separator(out);
                out.push_json(&member.key);
                out.push_static(b":");
                out.push_json(value);
            }
            None => {
                separator(out);
                out.push_json(&member.key);
                out.push_static(b":");
                if !nested(out, member) {
                    out.push(source.slice(member.value.clone()));
                }
            }
        }
    }
    for (key, value) in &edits.changes {
        let (Some(value), false) = (value, members.iter().any(|m| &m.key == key)) else {
            continue;
        };
        separator(out);
        out.push_json(key);
        out.push_static(b":");
        out.push_json(value);
    }
    out.push_static(b"}");
}

/// The array at `range` with the objects at the edited indexes rewritten.
fn write_items(
    out: &mut Chunks,
    source: &Bytes,
    range: Range<usize>,
    items: &BTreeMap<usize, ObjectEdits>,
) {
    let array = &source[range.clone()];
    let Ok(elements) = serde_json::from_slice::<Vec<&RawValue>>(array) else {
        out.push(source.slice(range));
        return;
    };
    out.push_static(b"[");
    for (index, element) in elements.iter().enumerate() {
        if index > 0 {
            out.push_static(b",");
        }
        let start = range.start + (element.get().as_ptr() as usize - array.as_ptr() as usize);
        let element_range = start..start + element.get().len();
        match (items.get(&index), members(element.get().as_bytes())) {
            (Some(edits), Ok(inner)) => {
                let inner: Vec<Member> = inner
                    .into_iter()
                    .map(|m| Member {
                        key: m.key,
                        value: m.value.start + start..m.value.end + start,
                    })
                    .collect();
                write_object(out, source, &inner, edits, |_, _| false);
            }
            _ => out.push(source.slice(element_range)),
        }
    }
    out.push_static(b"]");
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
        let members = members(&source).unwrap();
        let mut edits = Edits::default();
        edit(&mut edits);
        let out = write(&source, &members, &edits, "messages");
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
        let members = members(&source).unwrap();
        let mut edits = Edits::default();
        edits.top.set("model", json!("upstream-id"));
        let out = write(&source, &members, &edits, "messages");
        assert!(
            out.written_bytes(&source) < 100,
            "{}",
            out.written_bytes(&source)
        );
    }

    #[test]
    fn non_objects_are_refused() {
        for input in ["[]", "1", "\"x\"", "{", "{} x", "{\"a\":}"] {
            assert!(members(input.as_bytes()).is_err(), "{input}");
        }
    }
}
