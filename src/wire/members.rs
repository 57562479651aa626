//! A client's request read member by member: the scanner checks the whole
//! body once (stepping over large values it has read before, see
//! [`scan::request_members`]), a front end takes aside the members whose
//! work it remembers by their bytes (the `tools` and system prompt a client
//! sends unchanged every turn), and serde reads the rest as if it were the
//! whole body, each value straight from the client's bytes.
//!
//! Read so, a request gives what serde reading the whole body would give,
//! with the members taken aside left at their defaults; a body serde would
//! refuse is refused here too (the caller then reads the whole body again
//! for serde's message and path).

use std::borrow::Cow;

use serde::de::value::{BorrowedStrDeserializer, StrDeserializer};
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};

use super::recent::Recent;
use super::scan::{self, Member, Recognized};

/// A scanned request body.
pub struct Members<'b> {
    body: &'b str,
    members: Vec<Member>,
    /// Which members were taken aside.
    taken: Vec<bool>,
}

impl<'b> Members<'b> {
    /// Scans `body`, a JSON object, whose member `changing` differs from
    /// turn to turn (the conversation) and is not remembered; `None` when
    /// the body is not one valid JSON object (UTF-8 included). The values
    /// `recognized` knows are stepped over (see
    /// [`scan::request_members`]).
    pub fn scan(body: &'b [u8], changing: &str, recognized: &mut Recognized<'_>) -> Option<Self> {
        let members = scan::request_members(body, changing, recognized).ok()?;
        // SAFETY: the scan succeeded, so `body` is UTF-8: outside strings
        // it admits only ASCII, it checks every string holding other bytes,
        // and the values it stepped over are texts it checked before.
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

    /// The members not taken aside, read as `T`.
    pub fn rest<T: de::Deserialize<'b>>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(Rest {
            members: self,
            next: 0,
        })
    }
}

/// A member a front end takes aside, whose translation it remembers by
/// the member's bytes.
pub struct Aside<'m, V> {
    key: &'static str,
    memo: &'m Recent<V>,
    /// The translation the scan recognized.
    found: Option<V>,
}

impl<'m, V: Clone> Aside<'m, V> {
    /// Texts shorter than this cost less to translate than to look up and
    /// keep.
    const SMALLEST: usize = 1024;

    pub fn new(key: &'static str, memo: &'m Recent<V>) -> Self {
        Self {
            key,
            memo,
            found: None,
        }
    }

    /// For [`Members::scan`]: the length of this member's value when its
    /// translation is remembered (kept for [`Aside::translation`]).
    pub fn recognize(&mut self, key: &str, rest: &[u8]) -> Option<usize> {
        if key != self.key {
            return None;
        }
        let (length, translation) = self.memo.starting(rest)?;
        self.found = Some(translation);
        Some(length)
    }

    /// The member's translation: the one the scan recognized, else what
    /// `work` makes of its text (remembered when the text is long);
    /// `absent` when the body has no such member. `None` when the member is
    /// there twice or `work` fails.
    pub fn translation(
        self,
        members: &mut Members,
        absent: V,
        work: impl FnOnce(&str) -> Option<V>,
    ) -> Option<V> {
        let text = members.take(self.key).ok()?;
        match (self.found, text) {
            (Some(translation), _) => Some(translation),
            (None, None) => Some(absent),
            (None, Some(text)) => self
                .memo
                .remembered(text.as_bytes(), Self::SMALLEST, || work(text)),
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

    use super::Members;

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
        Members::scan(body.as_bytes(), "messages", &mut |_, _| None)
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
        let mut members = Members::scan(body.as_bytes(), "messages", &mut |_, _| None).unwrap();
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

    /// What serde refuses in the whole body it refuses in the rest; a key
    /// taken aside that repeats is refused by `take`; a body that is not
    /// one JSON object does not scan.
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
        assert_eq!(twice.take("tools"), Err(super::Repeated));
        for broken in [
            r#"{"model":"m""#,
            "[1]",
            r#"{"a":1} x"#,
            "",
            r#"{"a":"\u12"}"#,
        ] {
            assert!(scan(broken).is_none(), "{broken}");
        }
        let not_utf8 = b"{\"a\":\"caf\xc3\"}";
        assert!(Members::scan(not_utf8, "messages", &mut |_, _| None).is_none());
    }

    /// A value recognized is stepped over whatever it holds, and taken
    /// aside like any other.
    #[test]
    fn recognized_values_are_stepped_over() {
        let body = r#"{"tools": [{"a": "\u12 not even read"}], "model": "m"}"#;
        let mut asked = Vec::new();
        let mut members = Members::scan(body.as_bytes(), "messages", &mut |key, rest| {
            asked.push(key.to_string());
            (key == "tools").then(|| rest.iter().position(|&b| b == b']').unwrap() + 1)
        })
        .unwrap();
        assert_eq!(asked, ["tools", "model"]);
        assert_eq!(
            members.take("tools"),
            Ok(Some(r#"[{"a": "\u12 not even read"}]"#))
        );
        let rest: Body = members.rest().unwrap();
        assert_eq!(rest.model.as_deref(), Some("m"));
    }

    /// An aside's translation: worked out the first time (remembered, the
    /// text being long), recognized by the scan the second, the absent
    /// value without the member, nothing when it repeats or `work` fails.
    #[test]
    fn an_aside_is_translated_once_then_recognized() {
        use super::Aside;
        use crate::wire::recent::Recent;
        let memo: Recent<usize> = Recent::new(2, 1 << 20);
        let long = format!(r#"{{"tools": "{}", "model": "m"}}"#, "t".repeat(2000));
        let mut works = 0;
        for round in 0..2 {
            let mut tools = Aside::new("tools", &memo);
            let mut members = Members::scan(long.as_bytes(), "messages", &mut |key, rest| {
                tools.recognize(key, rest)
            })
            .unwrap();
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
    }
}
