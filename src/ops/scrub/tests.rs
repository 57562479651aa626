use std::borrow::Cow;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

const KEY: &str = "sk-live-0123456789abcdef";
const TOKEN: &str = "gw-token/with+signs";
/// A key without a hex digit or letter of its own: in a config of it
/// alone, its escapes' are the only ones (KEY's and TOKEN's would hide
/// one left out of a lookup).
const WORD: &str = "XYZW-ghij";

fn scrubber() -> Scrubber {
    Scrubber::new([KEY, TOKEN, "ab", "  "])
}

fn check(input: &str, expected: &str) {
    let got = scrubber().scrub(input.as_bytes()).into_owned();
    assert_eq!(String::from_utf8_lossy(&got), expected, "input {input:?}");
    // Fed in two pieces, split anywhere, the stream says the same.
    for split in 0..=input.len() {
        let streamed = stream(
            &scrubber(),
            &[&input.as_bytes()[..split], &input.as_bytes()[split..]],
        );
        assert_eq!(
            String::from_utf8_lossy(&streamed),
            expected,
            "input {input:?} split at {split}"
        );
    }
}

fn stream(scrubber: &Scrubber, chunks: &[&[u8]]) -> Vec<u8> {
    let mut state = scrubber.stream();
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend_from_slice(&state.feed(Bytes::copy_from_slice(chunk)));
    }
    out.extend_from_slice(&state.finish());
    out
}

#[test]
fn raw_keys_are_replaced() {
    check(
        &format!("{{\"echo\":\"{KEY}\",\"t\":\"x{TOKEN}y\"}}"),
        "{\"echo\":\"[redacted]\",\"t\":\"x[redacted]y\"}",
    );
    check(&format!("{KEY}{KEY}"), "[redacted][redacted]");
    // Too short to search for.
    check("ab cd", "ab cd");
    check("nothing here", "nothing here");
}

#[test]
fn keys_with_escaped_characters_are_replaced() {
    // Every character escaped, lower and upper case hex.
    let all: String = KEY
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    check(&format!("\"{all}\""), "\"[redacted]\"");
    check(
        &format!("\"{}\"", all.to_uppercase().replace("\\U", "\\u")),
        "\"[redacted]\"",
    );
    // Some characters escaped, the first raw.
    check(
        "x sk-live-\\u00301234\\u0035\\u0036789abcdef y",
        "x [redacted] y",
    );
    // The solidus escape, and a key inside a JSON string inside a JSON
    // string (its escape escaped once more).
    check("\"gw-token\\/with+signs\"", "\"[redacted]\"");
    check(
        "\"{\\\"k\\\":\\\"\\\\u0073k-live-0123456789abcdef\\\"}\"",
        "\"{\\\"k\\\":\\\"[redacted]\\\"}\"",
    );
    check("a\\\\\\\\sk-live-0123456789abcdef", "a[redacted]");
    // An escape that stands for something else is left alone.
    check(
        "sk-live-\\u0031123456789abcdef",
        "sk-live-\\u0031123456789abcdef",
    );
    check("\\u12 \\x \\uZZZZ \\", "\\u12 \\x \\uZZZZ \\");
}

#[test]
fn characters_outside_the_basic_plane_match_as_surrogate_pairs() {
    let scrubber = Scrubber::new(["key-\u{1F600}-end"]);
    for input in [
        "key-\\ud83d\\ude00-end",
        "key-\\uD83D\\uDE00-end",
        "key-\u{1F600}-end",
    ] {
        assert_eq!(&*scrubber.scrub(input.as_bytes()), b"[redacted]", "{input}");
    }
    // A lone or mismatched surrogate is no character.
    let lone = "key-\\ud83d-end \\ude00 \\ud83d\\u0041";
    assert_eq!(&*scrubber.scrub(lone.as_bytes()), lone.as_bytes());
}

#[test]
fn a_key_containing_another_is_replaced_whole() {
    let scrubber = Scrubber::new(["secret", "secret-longer"]);
    assert_eq!(
        &*scrubber.scrub(b"a secret-longer b secret c"),
        b"a [redacted] b [redacted] c"
    );
    // Streamed: "secret" at the end of a chunk waits for what follows.
    assert_eq!(
        stream(&scrubber, &[b"a secret", b"-longer b"]),
        b"a [redacted] b"
    );
    assert_eq!(
        stream(&scrubber, &[b"a secret", b"-long"]),
        b"a [redacted]-long"
    );
}

#[test]
fn nothing_matched_is_passed_on_without_copying() {
    let scrubber = scrubber();
    let input = b"data: {\"choices\":[{\"delta\":{\"content\":\"hello \\u00e9\"}}]}\n\n";
    assert!(matches!(scrubber.scrub(input), Cow::Borrowed(_)));
    let chunk = Bytes::from_static(input);
    let mut state = scrubber.stream();
    let out = state.feed(chunk.clone());
    assert_eq!(out.as_ptr(), chunk.as_ptr());
    assert_eq!(out.len(), chunk.len());
    assert!(state.finish().is_empty());
    // Without keys, everything is passed through.
    let none = Scrubber::new(Vec::<String>::new());
    assert!(none.is_empty());
    assert_eq!(none.stream().feed(chunk.clone()), chunk);
}

#[test]
fn only_what_could_start_a_key_is_held_back() {
    let scrubber = scrubber();
    let mut state = scrubber.stream();
    assert_eq!(state.feed(Bytes::from_static(b"hello sk-li")), "hello ");
    assert_eq!(state.held(), 5);
    assert_eq!(state.feed(Bytes::from_static(b"ke it")), "sk-like it");
    assert_eq!(state.held(), 0);
    assert_eq!(state.feed(Bytes::from_static(b"tail \\u00")), "tail ");
    assert_eq!(state.finish(), "\\u00");
}

/// A key written with a random choice, character by character, of raw and
/// escaped (`\uXXXX` in either case, `\/` for a solidus).
fn encoded(key: &str, escapes: &[u8]) -> String {
    key.chars()
        .zip(escapes.iter().cycle())
        .map(|(c, how)| match how % 4 {
            0 | 1 => c.to_string(),
            2 if c == '/' => "\\/".to_string(),
            2 => format!("\\u{:04x}", c as u32),
            _ => format!("\\u{:04X}", c as u32),
        })
        .collect()
}

/// The text with every JSON escape decoded, left to right.
fn decoded(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'\\'
            && let Escape::Whole { len, utf8, n } = escape(&bytes[at..])
        {
            out.extend_from_slice(&utf8[..n]);
            at += len;
            continue;
        }
        out.push(bytes[at]);
        at += 1;
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn streams_split_anywhere_never_pass_a_key_on(
        pieces in prop::collection::vec(("[a-z0-9 \\\\u\"{}:/-]{0,12}", 0..3usize, prop::collection::vec(any::<u8>(), 1..8)), 1..8),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        word_alone in any::<bool>(),
    ) {
        let (scrubber, keys) = if word_alone {
            (Scrubber::new([WORD]), vec![WORD])
        } else {
            (scrubber(), vec![KEY, TOKEN])
        };
        let mut text = String::new();
        for (filler, which, escapes) in &pieces {
            text.push_str(filler);
            text.push_str(&encoded(keys[*which % keys.len()], escapes));
        }
        let bytes = text.as_bytes();
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        cuts.sort();
        let mut chunks = Vec::new();
        let mut from = 0;
        for cut in cuts {
            chunks.push(&bytes[from..cut]);
            from = cut;
        }
        chunks.push(&bytes[from..]);

        let whole = scrubber.scrub(bytes).into_owned();
        let mut state = scrubber.stream();
        let mut streamed = Vec::new();
        for chunk in &chunks {
            streamed.extend_from_slice(&state.feed(Bytes::copy_from_slice(chunk)));
            prop_assert!(state.held() <= 2 * KEY.len() * MAX_ESCAPED_PER_BYTE + MAX_BACKSLASHES_BEFORE);
        }
        streamed.extend_from_slice(&state.finish());

        prop_assert_eq!(&streamed, &whole);
        for key in keys {
            prop_assert!(!contains(&decoded(&streamed), key.as_bytes()), "{:?}", String::from_utf8_lossy(&streamed));
        }
    }

    #[test]
    fn text_without_keys_is_unchanged(text in "[a-z0-9 \\\\u\"{}:/-]{0,64}") {
        prop_assume!(![KEY, TOKEN].iter().any(|key| contains(&decoded(text.as_bytes()), key.as_bytes())));
        let scrubber = scrubber();
        prop_assert!(matches!(scrubber.scrub(text.as_bytes()), Cow::Borrowed(_)));
        let streamed = stream(&scrubber, &[text.as_bytes()]);
        prop_assert_eq!(streamed, text.as_bytes());
    }
}

/// A config may hold a key of any length. Building the matcher for a long
/// run of one letter (the worst failure chain) once took minutes, as a DFA;
/// it must stay linear (the fuzz test found it, through `Redactor::new`).
#[test]
fn a_very_long_key_builds_and_is_found() {
    let long = "a".repeat(256 * 1024);
    let scrubber = Scrubber::new([long.as_str()]);
    let text = format!("x{long}y");
    let scrubbed = scrubber.scrub(text.as_bytes());
    assert!(!scrubbed.windows(long.len()).any(|w| w == long.as_bytes()));
    assert!(scrubbed.starts_with(b"x") && scrubbed.ends_with(b"y"));
}

#[test]
fn a_text_ending_in_the_start_of_a_key_says_how_much_to_hold_back() {
    let scrubber = scrubber();
    for (text, held) in [
        ("the key is sk-li", "sk-li"),
        ("the key is s", "s"),
        ("the key is gw-token/with+sign", "gw-token/with+sign"),
        // A whole key is the scrubber's; nothing past it is held.
        ("the key is sk-live-0123456789abcdef", ""),
        ("the key is sk-lx", ""),
        ("plain word", ""),
        ("", ""),
        ("naïve é", ""),
    ] {
        let n = scrubber.key_start_at_end(text);
        assert_eq!(&text[text.len() - n..], held, "{text:?}");
    }
    assert_eq!(Scrubber::default().key_start_at_end("sk-li"), 0);
}

#[test]
fn a_key_running_from_one_string_into_the_next_is_replaced_in_both() {
    let scrubber = scrubber();
    for (tail, next, masked) in [
        // Across the two: each part replaced.
        (
            "sk-live-0123",
            "456789abcdef and on",
            Some(("[redacted]", "[redacted] and on")),
        ),
        (
            "s",
            "k-live-0123456789abcdef",
            Some(("[redacted]", "[redacted]")),
        ),
        // Escaped in the next, as JSON text may hold it.
        (
            "sk-live-",
            "\\u0030123456789abcdef.",
            Some(("[redacted]", "[redacted].")),
        ),
        // Still only the start of a key with all of the next: fail closed.
        ("sk-live-0", "12345", Some(("[redacted]", "[redacted]"))),
        // No key across them.
        ("sk-live-0", "12x", None),
        ("s", "{\"path\":\"x\"}", None),
        ("sk-li", "", None),
        ("", "sk-live-0123456789abcdef", None),
    ] {
        let (mut t, mut n) = (tail.to_string(), next.to_string());
        let replaced = scrubber.mask_across(&mut t, &mut n);
        match masked {
            Some((t_out, n_out)) => {
                assert!(replaced, "{tail:?} {next:?}");
                assert_eq!(
                    (t.as_str(), n.as_str()),
                    (t_out, n_out),
                    "{tail:?} {next:?}"
                );
            }
            None => {
                assert!(!replaced, "{tail:?} {next:?}");
                assert_eq!((t.as_str(), n.as_str()), (tail, next));
            }
        }
    }
    let (mut t, mut n) = ("sk-li".to_string(), "ve-0123456789abcdef".to_string());
    assert!(!Scrubber::default().mask_across(&mut t, &mut n));
}

/// A whole answer's strings: a key running from the end of one into the
/// start of another, in either order, is replaced in both, the rest of
/// each kept; strings that spell no key across their ends are left as
/// they are.
#[test]
fn mask_split_keys_replaces_a_key_across_two_strings_in_either_order() {
    let scrubber = scrubber();
    let mut strings = [
        "I recall sk-live-0123".to_string(),
        "456789abcdef, then".to_string(),
        "a plain sk-".to_string(),
        "and more".to_string(),
    ];
    let mut refs: Vec<&mut String> = strings.iter_mut().collect();
    assert!(scrubber.mask_split_keys(&mut refs));
    assert_eq!(
        strings,
        [
            "I recall [redacted]",
            "[redacted], then",
            "a plain sk-",
            "and more"
        ]
    );
    // The key's rest before its start: the text came before the
    // reasoning that ends it, and the answer lists the reasoning first.
    let mut strings = [
        "456789abcdef, the rest".to_string(),
        "the key is sk-live-0123".to_string(),
    ];
    let mut refs: Vec<&mut String> = strings.iter_mut().collect();
    assert!(scrubber.mask_split_keys(&mut refs));
    assert_eq!(strings, ["[redacted], the rest", "the key is [redacted]"]);
    let mut plain = ["no key".to_string(), "here".to_string()];
    let mut refs: Vec<&mut String> = plain.iter_mut().collect();
    assert!(!scrubber.mask_split_keys(&mut refs));
}

/// A string that ends on half a key or more (and 12 bytes or more) goes
/// masked from there; on less, or on a key's start in its middle, as
/// written.
#[test]
fn a_string_ending_on_most_of_a_key_is_masked_from_there() {
    let scrubber = scrubber();
    for (text, expected) in [
        (
            format!("it is {}", &KEY[..KEY.len() - 1]),
            "it is [redacted]".to_string(),
        ),
        (
            format!("it is {}", &KEY[..KEY.len() / 2]),
            "it is [redacted]".to_string(),
        ),
        (
            format!("it is {}", &KEY[..KEY.len() / 2 - 1]),
            format!("it is {}", &KEY[..KEY.len() / 2 - 1]),
        ),
        (
            format!("{} and more", &KEY[..20]),
            format!("{} and more", &KEY[..20]),
        ),
        ("it is sk-".to_string(), "it is sk-".to_string()),
    ] {
        let mut masked = text.clone();
        assert_eq!(
            scrubber.mask_start_at_end(&mut masked),
            masked != text,
            "{text}"
        );
        assert_eq!(masked, expected, "{text}");
    }
}
