//! Tool-call ids across the two APIs. Anthropic's `tool_use` ids must match
//! `[A-Za-z0-9_-]+` and must not repeat within a conversation; OpenAI-side
//! ids need not be either (Kimi's look like `functions.Bash:0` and come back
//! the same on every turn). So every id an answer hands out carries that
//! answer's [`Nonce`], and the mapping stays reversible without state, so a
//! client replaying an id gets the provider's own id back:
//!
//! - an id becomes `cgid_` + the nonce (8 lowercase hex digits, the
//!   answer's plus the call's position, so that two calls of one answer
//!   never share an id, even when the provider gave both the same) + `_` +
//!   the lowercase hex of its UTF-8 bytes;
//! - a call that came without an id becomes `toolu_clawgate_` + the nonce +
//!   `_` + its position, and is replayed as such;
//! - decoding drops the nonce and reverses the hex (it also reads the
//!   nonce-less `cgid_<hex>` of earlier versions, so a conversation begun
//!   before an upgrade still pairs up), and leaves every other id unchanged.

use std::borrow::Cow;
use std::fmt::{self, Write};

const PREFIX: &str = "cgid_";

/// What makes one answer's tool-use ids differ from every other answer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nonce(pub u32);

impl Nonce {
    pub fn random() -> Self {
        Self(fastrand::u32(..))
    }
}

impl fmt::Display for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// The Anthropic id of an OpenAI-side tool call: `id`, or the call's
/// `position` in the answer when it came without one.
pub fn encode(id: Option<&str>, position: usize, nonce: Nonce) -> String {
    let Some(id) = id.filter(|id| !id.is_empty()) else {
        return format!("toolu_clawgate_{nonce}_{position}");
    };
    let nonce = Nonce(nonce.0.wrapping_add(position as u32));
    let mut out = String::with_capacity(PREFIX.len() + 9 + 2 * id.len());
    write!(out, "{PREFIX}{nonce}_").expect("writing to a String cannot fail");
    push_hex(&mut out, id.as_bytes());
    out
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    for byte in bytes {
        write!(out, "{byte:02x}").expect("writing to a String cannot fail");
    }
}

/// `bytes` (an answer as it is sent) with each id of the gateway's
/// (`cgid_<nonce>_<hex>`) whose provider id `scrub` changes (one that
/// holds a key) written again from the scrubbed id: the hex would
/// otherwise hand a key to the client past every scrub of the bytes.
pub fn scrubbed<'b>(bytes: &'b [u8], scrub: impl Fn(&str) -> Option<String>) -> Cow<'b, [u8]> {
    static IDS: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(PREFIX));
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    for at in IDS.find_iter(bytes) {
        let start = at + PREFIX.len();
        if at < copied {
            continue;
        }
        let run = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'-')
            .count();
        let id = std::str::from_utf8(&bytes[at..start + run]).expect("ASCII");
        let rest = &id[PREFIX.len()..];
        let (Cow::Owned(decoded), Some((nonce, _))) = (decode(id), rest.split_once('_')) else {
            continue;
        };
        let Some(clean) = scrub(&decoded) else {
            continue;
        };
        let out = out.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
        out.extend_from_slice(&bytes[copied..start]);
        let mut written = format!("{nonce}_");
        push_hex(&mut written, clean.as_bytes());
        out.extend_from_slice(written.as_bytes());
        copied = start + run;
    }
    match out {
        None => Cow::Borrowed(bytes),
        Some(mut out) => {
            out.extend_from_slice(&bytes[copied..]);
            Cow::Owned(out)
        }
    }
}

/// Whether `id` is a valid Anthropic tool-use id (`[A-Za-z0-9_-]+`).
pub fn is_anthropic(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The Anthropic id of an OpenAI-side tool call sent TO an Anthropic
/// provider: the same on every request (so the provider's prompt cache
/// keeps working), which is safe there because the provider rules have
/// already made the history's ids unique. An id that is already valid and
/// does not start with `cgid_` passes unchanged; any other becomes `cgid_`
/// and the hex of its bytes, which [`decode`] reverses.
pub fn encode_stable(id: &str) -> Cow<'_, str> {
    if is_anthropic(id) && !id.starts_with(PREFIX) {
        return Cow::Borrowed(id);
    }
    let mut out = String::with_capacity(PREFIX.len() + 2 * id.len());
    out.push_str(PREFIX);
    push_hex(&mut out, id.as_bytes());
    Cow::Owned(out)
}

/// The OpenAI-side id an Anthropic id stands for.
pub fn decode(id: &str) -> Cow<'_, str> {
    let Some(rest) = id.strip_prefix(PREFIX) else {
        return Cow::Borrowed(id);
    };
    let hex = match rest.split_once('_') {
        Some((nonce, hex)) if nonce.len() == 8 && is_lower_hex(nonce) => hex,
        Some(_) => return Cow::Borrowed(id),
        None => rest,
    };
    // An id with a nonce and no hex is no encoding of the gateway's (its
    // ids have one per byte of a provider's id, which is never empty).
    let nonced = rest.len() > hex.len();
    if (nonced && hex.is_empty()) || hex.len() % 2 != 0 || !is_lower_hex(hex) {
        return Cow::Borrowed(id);
    }
    let bytes: Vec<u8> = hex
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |b: u8| (b as char).to_digit(16).expect("checked hex") as u8;
            digit(pair[0]) << 4 | digit(pair[1])
        })
        .collect();
    match String::from_utf8(bytes) {
        Ok(decoded) => Cow::Owned(decoded),
        Err(_) => Cow::Borrowed(id),
    }
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: Nonce = Nonce(0x0badcafe);

    fn check(id: &str, encoded: &str) {
        assert_eq!(encode(Some(id), 0, NONCE), encoded, "encode {id:?}");
        assert_eq!(decode(encoded), id, "decode {encoded:?}");
    }

    #[test]
    fn ids_map_reversibly_through_the_nonce() {
        check("toolu_01A-b", "cgid_0badcafe_746f6f6c755f3031412d62");
        check("call_1", "cgid_0badcafe_63616c6c5f31");
        check(
            "functions.read:0",
            "cgid_0badcafe_66756e6374696f6e732e726561643a30",
        );
        check("cgid_x", "cgid_0badcafe_636769645f78");
        check("é", "cgid_0badcafe_c3a9");
    }

    #[test]
    fn the_same_provider_id_gets_a_new_anthropic_id_in_every_answer() {
        let first = encode(Some("functions.Bash:0"), 0, Nonce(1));
        let second = encode(Some("functions.Bash:0"), 0, Nonce(2));
        assert_ne!(first, second);
        assert_eq!(decode(&first), decode(&second));
        assert_eq!(decode(&first), "functions.Bash:0");
    }

    /// Two calls of one answer never share an id, even with the same
    /// provider id (Kimi numbers its calls per turn); both decode to it.
    #[test]
    fn two_calls_of_one_answer_with_one_provider_id_get_two_ids() {
        let first = encode(Some("functions.Bash:0"), 0, NONCE);
        let second = encode(Some("functions.Bash:0"), 1, NONCE);
        assert_ne!(first, second);
        assert_eq!(
            (decode(&first), decode(&second)),
            (decode(&second), decode(&first))
        );
        assert_eq!(decode(&second), "functions.Bash:0");
        // The position wraps the nonce round, never out of its 8 digits.
        let last = encode(Some("x"), 1, Nonce(u32::MAX));
        assert_eq!(last, "cgid_00000000_78");
    }

    /// A provider id holding a key (as `scrub` finds it) is written again
    /// from the scrubbed id wherever an answer's bytes carry it; the rest
    /// of the bytes, and ids that hold none, are left as they are.
    #[test]
    fn a_key_in_a_provider_id_is_scrubbed_from_its_hex() {
        let scrub = |id: &str| {
            id.contains("sk-secret")
                .then(|| id.replace("sk-secret", "[redacted]"))
        };
        let leaked = encode(Some("call_sk-secret"), 0, NONCE);
        let kept = encode(Some("functions.Bash:0"), 1, NONCE);
        let bytes = format!(r#"{{"id":"{leaked}"}} {{"id":"{kept}"}} cgid_"#);
        let clean = scrubbed(bytes.as_bytes(), scrub);
        let clean = std::str::from_utf8(&clean).unwrap();
        let fixed = encode(Some("call_[redacted]"), 0, NONCE);
        assert_eq!(
            clean,
            format!(r#"{{"id":"{fixed}"}} {{"id":"{kept}"}} cgid_"#)
        );
        assert!(matches!(scrubbed(kept.as_bytes(), scrub), Cow::Borrowed(_)));
    }

    #[test]
    fn calls_without_an_id_get_one_per_answer_and_position() {
        assert_eq!(encode(None, 1, NONCE), "toolu_clawgate_0badcafe_1");
        assert_eq!(encode(Some(""), 0, NONCE), "toolu_clawgate_0badcafe_0");
        assert_ne!(encode(None, 0, Nonce(1)), encode(None, 0, Nonce(2)));
        assert_eq!(
            decode("toolu_clawgate_0badcafe_1"),
            "toolu_clawgate_0badcafe_1"
        );
    }

    #[test]
    fn ids_of_earlier_versions_still_decode() {
        assert_eq!(
            decode("cgid_66756e6374696f6e732e726561643a30"),
            "functions.read:0"
        );
    }

    #[test]
    fn ids_that_are_not_encodings_decode_unchanged() {
        for id in [
            "cgid_zz",
            "cgid_abc",
            "cgid_ABCD",
            "cgid_ff",
            "cgid_0badcafe_abc",
            "cgid_0badcafX_abcd",
            "cgid_short_abcd",
            "cgid_deadbeef_",
            "plain",
        ] {
            assert_eq!(decode(id), id);
        }
    }

    #[test]
    fn stable_ids_round_trip_and_only_foreign_ones_are_encoded() {
        let cases = [
            ("call_abc-123", "call_abc-123"),
            ("toolu_01A", "toolu_01A"),
            (
                "functions.get_weather:0",
                "cgid_66756e6374696f6e732e6765745f776561746865723a30",
            ),
            ("cgid_41", "cgid_636769645f3431"),
            ("", "cgid_"),
            ("é", "cgid_c3a9"),
        ];
        for (id, encoded) in cases {
            assert_eq!(encode_stable(id), encoded, "encode {id:?}");
            assert_eq!(decode(encoded), id, "decode {encoded:?}");
        }
        for id in ["cgid_zz", "cgid_4", "cgid_ff"] {
            assert_eq!(decode(id), id, "not an encoding: unchanged");
        }
    }
}
