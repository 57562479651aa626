//! Tool-call ids across the two APIs. Anthropic's `tool_use` ids must match
//! `[A-Za-z0-9_-]+`; OpenAI-side ids need not (Kimi's look like
//! `functions.read:0`). The mapping is reversible and stateless, so a
//! client replaying an id gets the provider's own id back:
//!
//! - an id of `[A-Za-z0-9_-]+` that does not start with `cgid_` passes
//!   unchanged;
//! - any other id becomes `cgid_` + the lowercase hex of its UTF-8 bytes;
//! - decoding reverses that, and leaves every other id unchanged.

use std::borrow::Cow;
use std::fmt::Write;

const PREFIX: &str = "cgid_";

/// The Anthropic-safe form of an OpenAI-side tool-call id.
pub fn encode(id: &str) -> Cow<'_, str> {
    let safe = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if safe && !id.starts_with(PREFIX) {
        return Cow::Borrowed(id);
    }
    let mut out = String::with_capacity(PREFIX.len() + 2 * id.len());
    out.push_str(PREFIX);
    for byte in id.bytes() {
        write!(out, "{byte:02x}").expect("writing to a String cannot fail");
    }
    Cow::Owned(out)
}

/// The OpenAI-side id an Anthropic id stands for.
pub fn decode(id: &str) -> Cow<'_, str> {
    let Some(hex) = id.strip_prefix(PREFIX) else {
        return Cow::Borrowed(id);
    };
    let lower_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    if hex.len() % 2 != 0 || !hex.as_bytes().iter().all(lower_hex) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &str, encoded: &str) {
        assert_eq!(encode(id), encoded, "encode {id:?}");
        assert_eq!(decode(encoded), id, "decode {encoded:?}");
    }

    #[test]
    fn ids_map_reversibly() {
        check("toolu_01A-b", "toolu_01A-b");
        check("call_abc123", "call_abc123");
        check("functions.read:0", "cgid_66756e6374696f6e732e726561643a30");
        check("cgid_x", "cgid_636769645f78");
        check("", "cgid_");
        check("é", "cgid_c3a9");
    }

    #[test]
    fn ids_that_are_not_encodings_decode_unchanged() {
        for id in ["cgid_zz", "cgid_abc", "cgid_ABCD", "cgid_ff", "plain"] {
            assert_eq!(decode(id), id);
        }
    }
}
