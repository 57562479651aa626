//! A client's request read member by member: the scanner checks the whole
//! body once, a front end takes aside the members whose translation it
//! remembers by their bytes ([`Aside`]: the `tools` and system prompt a
//! client sends unchanged every turn, which the scan steps over when their
//! translation is known), and serde reads the rest as if it were the whole
//! body, each value straight from the client's bytes.
//!
//! Read so, a request gives what serde reading the whole body would give,
//! with the members taken aside left at their defaults. What serde would
//! refuse in the whole body is refused by the scan (nesting included) or
//! by serde reading a member; the caller then reads the whole body again,
//! for serde's own message and path.

use std::borrow::Cow;

use serde::de::value::{BorrowedStrDeserializer, StrDeserializer};
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};

use super::recent::Recent;
use super::scan::{self, Member};

/// A scanned request body.
pub struct Members<'b> {
    body: &'b str,
    members: Vec<Member>,
    /// Which members were taken aside.
    taken: Vec<bool>,
}

impl<'b> Members<'b> {
    /// Scans `body`, a JSON object, stepping over the values of members
    /// whose translation an aside remembers; `None` when the body is not
    /// one valid JSON object (UTF-8 included).
    pub fn scan(body: &'b [u8], asides: &mut [&mut dyn Recognize]) -> Option<Self> {
        let members = scan::request_members(body, &mut |key, rest| {
            asides
                .iter_mut()
                .find_map(|aside| aside.recognize(key, rest))
        })
        .ok()?;
        // SAFETY: the scan succeeded, so `body` is UTF-8: outside strings
        // it admits only ASCII, it checks every string holding other bytes,
        // and what an aside had it step over is an element it read itself
        // and a text kept as `str` (`Recent` keeps nothing else).
        let body = unsafe { std::str::from_utf8_unchecked(body) };
        let taken = vec![false; members.len()];
        Some(Self {
            body,
            members,
            taken,
        })
    }

    /// Takes the value of member `key` aside, as written: `Ok(None)` when
    /// it is absent, [`Repeated`] when it is there more than once (which
    /// serde refuses).
    pub fn take(&mut self, key: &str) -> Result<Option<&'b str>, Repeated> {
        let mut found = None;
        for (at, member) in self.members.iter().enumerate() {
            if member.key == key {
                if found.is_some() {
                    return Err(Repeated);
                }
                found = Some(at);
            }
        }
        Ok(found.map(|at| {
            self.taken[at] = true;
            &self.body[self.members[at].value.clone()]
        }))
    }

    /// The body's members, in order, taken aside or not: each key and its
    /// value's JSON text.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &'b str)> {
        let body = self.body;
        self.members
            .iter()
            .map(move |member| (&*member.key, &body[member.value.clone()]))
    }

    /// Where each member lies in the body, in order.
    pub fn layout(&self) -> Vec<scan::Member> {
        self.members.clone()
    }

    /// The value of member `key` (the last, should it repeat), without
    /// taking it aside.
    pub fn raw(&self, key: &str) -> Option<&'b str> {
        self.entries()
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, v)| v)
    }

    /// The members not taken aside, read as `T`.
    pub fn rest<T: de::Deserialize<'b>>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(Rest {
            members: self,
            next: 0,
        })
    }
}

mod sealed {
    pub trait Sealed {}
}

/// What steps [`Members::scan`] over a member's value: only an [`Aside`],
/// which steps over nothing but what it read itself and texts it kept.
pub trait Recognize: sealed::Sealed {
    /// The length of the value of member `key` that `rest` starts with,
    /// when its translation is remembered.
    fn recognize(&mut self, key: &str, rest: &[u8]) -> Option<usize>;
}

/// A member a front end takes aside, whose translation it remembers by
/// the member's bytes.
pub struct Aside<'m, V> {
    key: &'static str,
    memo: &'m Recent<V>,
    /// Whether the first element of the member's array is left out of
    /// the translation whatever it holds (given its text, read and
    /// checked); such an element is left out of the remembered bytes too.
    ignorable_first: Option<fn(&str) -> bool>,
    /// How many bytes of the member's value the scan found to be an
    /// ignorable first element.
    ignored: usize,
    /// The translation the scan recognized.
    found: Option<V>,
}

impl<V> sealed::Sealed for Aside<'_, V> {}

impl<V: Clone> Recognize for Aside<'_, V> {
    fn recognize(&mut self, key: &str, rest: &[u8]) -> Option<usize> {
        if key != self.key {
            return None;
        }
        self.ignored = self.ignorable_length(rest);
        let kept = &rest[self.ignored..];
        // What is kept after an ignorable first element starts with `,` or
        // `]`, which no value starts with: such bytes match only behind
        // that element (`"system":,{...}]` is no value at all).
        if self.ignored == 0 && matches!(kept.trim_ascii_start().first(), Some(b',' | b']')) {
            return None;
        }
        let (length, translation) = self.memo.starting(kept)?;
        self.found = Some(translation);
        Some(self.ignored + length)
    }
}

impl<'m, V: Clone> Aside<'m, V> {
    /// Texts shorter than this cost less to translate than to look up and
    /// keep.
    const SMALLEST: usize = 1024;

    pub fn new(key: &'static str, memo: &'m Recent<V>) -> Self {
        Self {
            key,
            memo,
            ignorable_first: None,
            ignored: 0,
            found: None,
        }
    }

    /// The same, for a member whose array's first element may be one that
    /// `ignorable` says the translation leaves out (Claude Code's
    /// attribution block, whose hash changes on every request, before a
    /// system prompt that does not): remembered without it.
    pub fn ignoring_first(mut self, ignorable: fn(&str) -> bool) -> Self {
        self.ignorable_first = Some(ignorable);
        self
    }

    /// How many bytes of the value `bytes` start with are an ignorable
    /// first element (0 when there is none).
    fn ignorable_length(&self, bytes: &[u8]) -> usize {
        let Some(ignorable) = self.ignorable_first else {
            return 0;
        };
        // A member's value lies at depth 1.
        let Some(element) = scan::first_element(bytes, 1) else {
            return 0;
        };
        match std::str::from_utf8(&bytes[element.clone()]) {
            Ok(text) if ignorable(text) => element.end,
            _ => 0,
        }
    }

    /// The member's translation, after [`Members::scan`] asked this aside
    /// about it: the one the scan recognized, else what `work` makes of its
    /// text (remembered when the text is long: shorter ones cost less to
    /// translate again than to look up and keep); `absent` when the body
    /// has no such member. `None` when the member is there twice or `work`
    /// fails (nothing is remembered then).
    pub fn translation(
        mut self,
        members: &mut Members,
        absent: V,
        work: impl FnOnce(&str) -> Option<V>,
    ) -> Option<V> {
        let text = members.take(self.key).ok()?;
        match (self.found.take(), text) {
            (Some(translation), _) => Some(translation),
            (None, None) => Some(absent),
            (None, Some(text)) => {
                let translation = work(text)?;
                // The scan found it is not kept: no need to look again.
                let kept = &text[self.ignored..];
                if kept.len() >= Self::SMALLEST {
                    self.memo.insert(kept, translation.clone());
                }
                Some(translation)
            }
        }
    }
}

/// A member to be taken aside is there more than once.
#[derive(Debug, PartialEq, Eq)]
pub struct Repeated;

/// The members not taken aside as one object, for serde.
struct Rest<'m, 'b> {
    members: &'m Members<'b>,
    /// The member to give next.
    next: usize,
}

impl<'b> Rest<'_, 'b> {
    /// The next member not taken aside, and steps past it.
    fn advance(&mut self) -> Option<&Member> {
        let members = self.members;
        while self.next < members.members.len() {
            let at = self.next;
            self.next += 1;
            if !members.taken[at] {
                return Some(&members.members[at]);
            }
        }
        None
    }
}

impl<'de> de::Deserializer<'de> for Rest<'_, 'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(RestMap {
            rest: self,
            value: None,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct RestMap<'m, 'b> {
    rest: Rest<'m, 'b>,
    /// The text of the value whose key was given last.
    value: Option<&'b str>,
}

impl<'de> MapAccess<'de> for RestMap<'_, 'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let body = self.rest.members.body;
        let Some(member) = self.rest.advance() else {
            return Ok(None);
        };
        self.value = Some(&body[member.value.clone()]);
        // The key is its unescaped text; a borrowed one is the common case.
        match &member.key {
            Cow::Borrowed(key) => seed.deserialize(BorrowedStrDeserializer::new(key)),
            Cow::Owned(key) => seed.deserialize(StrDeserializer::new(key)),
        }
        .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let text = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("a value asked for before its key"))?;
        let mut reader = serde_json::Deserializer::from_str(text);
        let value = seed.deserialize(&mut reader)?;
        reader.end()?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::value::RawValue;

    use super::{Aside, Members, Repeated};
    use crate::format::recent::Recent;

    #[derive(Debug, Deserialize)]
    struct Body<'a> {
        #[serde(default)]
        model: Option<String>,
        #[serde(borrow, default)]
        messages: Vec<&'a RawValue>,
        #[serde(borrow, default)]
        tools: Option<&'a RawValue>,
        #[serde(default)]
        stream: Option<bool>,
    }

    fn scan(body: &str) -> Option<Members<'_>> {
        Members::scan(body.as_bytes(), &mut [])
    }

    fn raw(body: &Body) -> Vec<String> {
        body.messages.iter().map(|m| m.get().to_string()).collect()
    }

    /// The rest reads as serde reads the whole body with the taken members
    /// absent; values keep their bytes and borrow from the body; escaped
    /// keys are matched by their text.
    #[test]
    fn the_rest_reads_like_the_body_without_the_members_taken() {
        let body = r#"{"model":"m","\u0074ools":[{"a":1}], "messages":[{"role":"user"} , "x"],"stream":true,"other":{"deep":[1,2]}}"#;
        let mut members = scan(body).unwrap();
        assert_eq!(members.take("tools"), Ok(Some(r#"[{"a":1}]"#)));
        assert_eq!(members.take("absent"), Ok(None));
        let rest: Body = members.rest().unwrap();
        assert_eq!(rest.model.as_deref(), Some("m"));
        assert!(rest.tools.is_none());
        assert_eq!(rest.stream, Some(true));
        assert_eq!(raw(&rest), [r#"{"role":"user"}"#, r#""x""#]);
        let whole: Body = serde_json::from_str(body).unwrap();
        assert_eq!(raw(&whole), raw(&rest));
        assert_eq!(whole.tools.unwrap().get(), r#"[{"a":1}]"#);
    }

    /// What serde refuses in the whole body it refuses in the rest or the
    /// scan refuses; a key taken aside that repeats is refused by `take`; a
    /// body that is not one JSON object does not scan.
    #[test]
    fn what_serde_refuses_is_refused() {
        let wrong_type = r#"{"model":5,"messages":[]}"#;
        let members = scan(wrong_type).unwrap();
        assert!(members.rest::<Body>().is_err());
        assert!(serde_json::from_str::<Body>(wrong_type).is_err());
        let repeated = r#"{"model":"a","model":"b","messages":[]}"#;
        let members = scan(repeated).unwrap();
        assert!(members.rest::<Body>().is_err());
        assert!(serde_json::from_str::<Body>(repeated).is_err());
        let mut twice = scan(r#"{"tools":[],"tools":[1]}"#).unwrap();
        assert_eq!(twice.take("tools"), Err(Repeated));
        for broken in [
            r#"{"model":"m""#,
            "[1]",
            r#"{"a":1} x"#,
            "",
            r#"{"a":"\u12"}"#,
        ] {
            assert!(scan(broken).is_none(), "{broken}");
        }
        assert!(Members::scan(b"{\"a\":\"caf\xc3\"}", &mut []).is_none());
        // Nesting: 127 levels in all scan, 128 do not (serde's limit for
        // what it reads typed: a member read alone gets the whole of it
        // again, so the scan holds the body to it).
        let nested = |levels: usize| {
            format!(
                r#"{{"model":"m","other":{}{}}}"#,
                "[".repeat(levels),
                "]".repeat(levels)
            )
        };
        assert!(scan(&nested(126)).is_some());
        assert!(scan(&nested(127)).is_none());
    }

    /// An aside's translation: worked out the first time (remembered, the
    /// text being long), recognized by the scan the second, the absent
    /// value without the member, nothing when it repeats or `work` fails.
    #[test]
    fn an_aside_is_translated_once_then_recognized() {
        let memo: Recent<usize> = Recent::new(2, 1 << 20);
        let long = format!(r#"{{"tools": "{}", "model": "m"}}"#, "t".repeat(2000));
        let mut works = 0;
        for round in 0..2 {
            let mut tools = Aside::new("tools", &memo);
            let mut members = Members::scan(long.as_bytes(), &mut [&mut tools]).unwrap();
            assert_eq!(tools.found.is_some(), round == 1);
            let translated = tools.translation(&mut members, 0, |text| {
                works += 1;
                Some(text.len())
            });
            assert_eq!(translated, Some(2002));
            let rest: Body = members.rest().unwrap();
            assert_eq!(rest.model.as_deref(), Some("m"));
        }
        assert_eq!(works, 1);
        let mut absent = scan(r#"{"model": "m"}"#).unwrap();
        let aside = Aside::new("tools", &memo);
        assert_eq!(aside.translation(&mut absent, 7, |_| None), Some(7));
        let mut twice = scan(r#"{"tools": 1, "tools": 2}"#).unwrap();
        let aside = Aside::new("tools", &memo);
        assert_eq!(aside.translation(&mut twice, 7, |_| Some(1)), None);
        let mut failing = scan(r#"{"tools": 1}"#).unwrap();
        let aside = Aside::new("tools", &memo);
        assert_eq!(aside.translation(&mut failing, 7, |_| None), None);
        // A short text is translated every time; a failure is not kept.
        for (text, fails, expected_works) in [
            (r#"{"tools": "short"}"#.to_string(), false, 2),
            (format!(r#"{{"tools": "{}"}}"#, "f".repeat(2000)), true, 2),
        ] {
            let mut works = 0;
            for round in 0..2 {
                let mut tools = Aside::new("tools", &memo);
                let mut members = Members::scan(text.as_bytes(), &mut [&mut tools]).unwrap();
                let translated = tools.translation(&mut members, 0, |_| {
                    works += 1;
                    (!fails || round == 1).then_some(1)
                });
                assert_eq!(translated.is_some(), !fails || round == 1);
            }
            assert_eq!(works, expected_works, "{text:.20}");
        }
    }

    /// An ignorable first element is left out of the remembered bytes: a
    /// turn whose first element changed is recognized all the same; one
    /// whose first element is not ignorable, or whose rest changed, is not.
    #[test]
    fn an_ignorable_first_element_is_not_remembered() {
        let memo: Recent<usize> = Recent::new(4, 1 << 20);
        let tail = "t".repeat(2000);
        let body =
            |first: &str, rest: &str| format!(r#"{{"system": [{first}, "{rest}"], "model": "m"}}"#);
        let ignorable = |element: &str| element.starts_with(r#"{"hash""#);
        let mut works = 0;
        for (first, rest, recognized) in [
            (r#"{"hash": 1}"#, tail.as_str(), false),
            (r#"{"hash": 2}"#, tail.as_str(), true),
            (r#"{"hash": [3, {"deep": "x"}]}"#, tail.as_str(), true),
            (r#"{"other": 1}"#, tail.as_str(), false),
            (r#"{"hash": 4}"#, &tail[1..], false),
            ("5", tail.as_str(), false),
        ] {
            let text = body(first, rest);
            let mut system = Aside::new("system", &memo).ignoring_first(ignorable);
            let mut members = Members::scan(text.as_bytes(), &mut [&mut system]).unwrap();
            assert_eq!(system.found.is_some(), recognized, "{first}");
            let translated = system.translation(&mut members, 0, |text| {
                works += 1;
                Some(text.len())
            });
            assert!(translated.is_some());
            let rest: Body = members.rest().unwrap();
            assert_eq!(rest.model.as_deref(), Some("m"));
        }
        assert_eq!(works, 4);
        // An ignorable element that does not read stops the scan.
        let broken = body(r#"{"hash": [}"#, &tail);
        let mut system = Aside::new("system", &memo).ignoring_first(ignorable);
        assert!(Members::scan(broken.as_bytes(), &mut [&mut system]).is_none());
        // The remembered rest without its array and first element is no
        // value: the scan reads it and refuses it (found by tests/fuzz.rs).
        for headless in [
            format!(r#"{{"system": , "{tail}"], "model": "m"}}"#),
            format!(r#"{{"system":, "{tail}"], "model": "m"}}"#),
        ] {
            let mut system = Aside::new("system", &memo).ignoring_first(ignorable);
            assert!(
                Members::scan(headless.as_bytes(), &mut [&mut system]).is_none(),
                "{headless:.40}"
            );
        }
    }
}
