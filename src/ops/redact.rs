//! Keeping secrets out of everything clawgate prints.
//!
//! A [`Redactor`] knows every secret of one config (each value that came
//! from `${VAR}` substitution, each key and token field, each credential
//! header). Every path by which text from outside (a provider's answer, an
//! error message, a config value being shown) reaches a client, a log or the
//! terminal goes through [`Redactor::scrub`] or [`Redactor::provider_text`].
//! Besides the known secrets they remove anything shaped like a credential
//! (`Bearer ...`, `sk-...`, `key=...` in a URL), so a provider echoing a key
//! clawgate never held is caught too.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

pub use super::scrub::REDACTED;
use super::scrub::{MIN_KEY_LEN, Scrubber};

/// Header names whose values are credentials.
pub fn is_sensitive_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "authorization"
        || name == "proxy-authorization"
        || name == "cookie"
        || [
            "key",
            "token",
            "secret",
            "auth",
            "password",
            "credential",
            "signature",
        ]
        .iter()
        .any(|word| name.contains(word))
}

/// Whether a header's value names the caller, its project or the API's
/// version, never a credential: shown where the config is, and not a
/// secret (a project named `clawgate` would otherwise be scrubbed from
/// every message). Any other header may carry one under any name
/// (`x-goog-credential`).
pub fn is_plain_header(name: &str) -> bool {
    const PLAIN: &[&str] = &[
        "accept",
        "anthropic-beta",
        "anthropic-version",
        "http-referer",
        "openai-organization",
        "openai-project",
        "referer",
        "user-agent",
        "x-openrouter-title",
        "x-project-name",
        "x-title",
    ];
    PLAIN.contains(&name.to_ascii_lowercase().as_str())
}

/// The secrets of one config, and the scrubbing every outside text goes
/// through. Cheap to clone; its `Debug` shows only how many it holds.
#[derive(Clone, Default)]
pub struct Redactor {
    /// How many secrets it holds (all its `Debug` shows).
    count: usize,
    /// The secrets' search, for texts and relayed bytes.
    scrubber: Scrubber,
    /// The secrets as a provider may echo them otherwise, for texts only
    /// ([`encoded_forms`]).
    encoded: Option<Arc<AhoCorasick>>,
    /// The SHA-256 of the keys known only so (clients written `sha256:`):
    /// a word of a text whose digest is one is a key.
    digests: Arc<[[u8; 32]]>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.count)
    }
}

impl Redactor {
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Self {
        // A header's value (`Bearer <token>`: a scheme and a token of 16
        // characters or more) is a secret, and so is its token alone,
        // which a prompt or an error may quote.
        fn token(whole: &str) -> Option<&str> {
            let (_, token) = whole.split_once(' ')?;
            let token = token.trim_start();
            (token.len() >= 16 && !token.contains(char::is_whitespace)).then_some(token)
        }
        let mut secrets: Vec<Box<str>> = secrets
            .into_iter()
            .flat_map(|s| {
                let whole = s.as_ref().trim();
                [Some(whole), token(whole)].map(|part| part.map(str::to_string))
            })
            .flatten()
            .filter(|s| s.len() >= MIN_KEY_LEN)
            .map(String::into_boxed_str)
            .collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        let forms = encoded_forms(&secrets);
        let encoded = (!forms.is_empty()).then(|| {
            let search = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(&forms)
                .expect("a handful of short forms always builds");
            Arc::new(search)
        });
        Self {
            scrubber: Scrubber::new(secrets.iter().map(|secret| secret.as_bytes())),
            count: secrets.len(),
            encoded,
            digests: Arc::default(),
        }
    }

    /// Also a secret: a word of a text (or its part after a `/`, `=` or
    /// `:`) whose SHA-256 is one of `digests`, the keys known only by
    /// theirs. Relayed bytes are not searched so.
    pub fn with_digests(mut self, digests: Vec<[u8; 32]>) -> Self {
        self.count += digests.len();
        self.digests = digests.into();
        self
    }

    /// The streaming scrubber for relayed bytes (answers, stream chunks):
    /// every secret, raw or JSON-escaped, and nothing else.
    pub fn scrubber(&self) -> &Scrubber {
        &self.scrubber
    }

    /// `text` without any known secret (raw, or JSON-escaped as a
    /// provider's error body may echo it) or credential-shaped word.
    pub fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let out = match self.scrubber.scrub(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            // A key is replaced whole, so what is left is still UTF-8.
            Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
        };
        let out = match self
            .encoded
            .as_ref()
            .and_then(|search| replaced(search, &out))
        {
            Some(cleaned) => Cow::Owned(cleaned),
            None => out,
        };
        let out = match scrub_shapes(&out) {
            Some(cleaned) => Cow::Owned(cleaned),
            None => out,
        };
        match scrub_digests(&out, &self.digests) {
            Some(cleaned) => Cow::Owned(cleaned),
            None => out,
        }
    }

    /// Text that came from a provider, made safe for a client, a log line or
    /// a terminal: scrubbed, and with control characters escaped (`\n`,
    /// `\u{1b}`) so it cannot forge log lines or terminal output.
    pub fn provider_text(&self, text: &str) -> String {
        escape_controls(&self.scrub(text))
    }

    /// A URL as clawgate shows it (errors, logs, `config show`, the
    /// status): its query, which may hold a key under any name, as `…`,
    /// and the rest as [`Redactor::provider_text`] leaves it.
    pub fn url(&self, url: &reqwest::Url) -> String {
        self.provider_text(&without_query(url))
    }
}

/// `text`'s first `most` characters, and whether that cut anything: a
/// client's text (a model's name) is shown so, whatever its length.
pub fn cut_to(text: &str, most: usize) -> (&str, bool) {
    match text.char_indices().nth(most) {
        Some((end, _)) => (&text[..end], true),
        None => (text, false),
    }
}

/// Secrets shorter than this have no [`encoded_forms`]: the middle of a
/// short one's base64 would mangle ordinary words.
const MIN_ENCODED_LEN: usize = 12;

/// RFC 3986's unreserved characters are the ones a URL leaves as they
/// are; `urllib`'s `quote` leaves `/` too.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

/// How a provider may echo a secret other than as written, each searched
/// in any case (so the secret itself in another case too): percent-encoded
/// (in a URL), and base64-encoded, standard or URL-safe, at each of the
/// three places it can start in a longer text (`Basic` credentials,
/// `Bearer <key>` encoded whole): the characters that encode its bytes
/// alone.
fn encoded_forms(secrets: &[Box<str>]) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut forms = Vec::new();
    for secret in secrets
        .iter()
        .filter(|secret| secret.len() >= MIN_ENCODED_LEN)
    {
        forms.push(secret.to_string());
        // An encoder that leaves only letters and digits encodes the rest.
        for set in [UNRESERVED, UNRESERVED_AND_SLASH, NON_ALPHANUMERIC] {
            forms.push(utf8_percent_encode(secret, set).to_string());
        }
        for offset in 0..3 {
            let mut bytes = vec![0; offset];
            bytes.extend_from_slice(secret.as_bytes());
            let (start, end) = ((8 * offset).div_ceil(6), 8 * bytes.len() / 6);
            for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
                forms.push(engine.encode(&bytes)[start..end].to_string());
            }
        }
    }
    forms.sort();
    forms.dedup();
    forms
}

/// `text` with every match of `search` replaced; `None` when there is none.
fn replaced(search: &AhoCorasick, text: &str) -> Option<String> {
    let mut found = search.find_iter(text).peekable();
    found.peek()?;
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for at in found {
        out.push_str(&text[copied..at.start()]);
        out.push_str(REDACTED);
        copied = at.end();
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// `url` without its query (shown as `?…`, which may hold a key under any
/// name) and fragment.
pub fn without_query(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let mut shown = shown.to_string();
    if url.query().is_some() {
        shown.push_str("?…");
    }
    shown
}

/// Control characters, and the marks that reorder text as a terminal
/// shows it (the bidirectional overrides, embeddings and isolates), as
/// Rust-style escapes; everything else as is.
pub fn escape_controls(text: &str) -> String {
    let escaped = |c: char| {
        c.is_control()
            || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(escaped) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escaped(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Replaces credential-shaped words; `None` when there are none.
///
/// - `Bearer <token>` (any case) keeps the scheme: `Bearer [redacted]`;
/// - `sk-` followed by 8 or more key characters (OpenAI, Moonshot, Kimi and
///   OpenRouter keys all look like this);
/// - the value of a `key=`, `api_key=`, `token=` or `access_token=` pair
///   whose name starts a word, as in a URL query (`?key=`, `/token=`,
///   `my_api_key=`; not `monkey=`).
fn scrub_shapes(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    let is_key_byte = |b: u8| {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
    };
    while i < bytes.len() {
        // The start of the secret value, if a credential shape begins at i.
        let value_start = if starts_with_ignore_case(&bytes[i..], b"bearer ")
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
        {
            let mut j = i + 7;
            while j < bytes.len() && bytes[j] == b' ' {
                j += 1;
            }
            Some(j)
        } else if bytes[i..].starts_with(b"sk-")
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
            && bytes[i + 3..]
                .iter()
                .take_while(|b| is_key_byte(**b))
                .count()
                >= 8
        {
            Some(i)
        } else {
            ["key=", "api_key=", "apikey=", "token=", "access_token="]
                .iter()
                .find(|shape| {
                    starts_with_ignore_case(&bytes[i..], shape.as_bytes())
                        && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
                })
                .map(|shape| i + shape.len())
        };
        let Some(start) = value_start else {
            i += 1;
            continue;
        };
        let end = start
            + bytes[start..]
                .iter()
                .take_while(|b| is_key_byte(**b))
                .count();
        if end == start {
            i += 1;
            continue;
        }
        let buffer = out.get_or_insert_with(|| String::with_capacity(text.len()));
        buffer.push_str(&text[copied..start]);
        buffer.push_str(REDACTED);
        copied = end;
        i = end;
    }
    out.map(|mut buffer| {
        buffer.push_str(&text[copied..]);
        buffer
    })
}

/// Replaces each word of `text` (a run of characters that are neither
/// space, quote, bracket, comma, semicolon, `&` nor `\\`, which starts a
/// JSON escape) whose SHA-256 is one of `digests`, whole or from after a
/// `/`, `=` or `:` in it (the first three and the last three of them),
/// with or without a full stop after it; `None` when there is none. Only
/// what could be a client's key is hashed: 16 characters at least (as
/// the config checks of those it reads), 512 bytes at most, so a text's
/// cost stays in proportion to its length.
fn scrub_digests(text: &str, digests: &[[u8; 32]]) -> Option<String> {
    const SHORTEST: usize = 16;
    const LONGEST: usize = 512;
    const SEPARATORS: usize = 3;
    if digests.is_empty() {
        return None;
    }
    let is_key = |part: &str| {
        (SHORTEST..=LONGEST).contains(&part.len())
            && digests.contains(&Sha256::digest(part.as_bytes()).into())
    };
    let ends_word =
        |c: char| c.is_whitespace() || c.is_control() || "\"'`<>()[]{},;&\\".contains(c);
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut start = 0;
    for (end, c) in text.char_indices().chain([(text.len(), ' ')]) {
        if !ends_word(c) {
            continue;
        }
        let word = &text[start..end];
        let after = |(at, _): (usize, &str)| at + 1;
        let first = word
            .match_indices(['/', '=', ':'])
            .take(SEPARATORS)
            .map(after);
        let last = word
            .rmatch_indices(['/', '=', ':'])
            .take(SEPARATORS)
            .map(after);
        let found = std::iter::once(0)
            .chain(first)
            .chain(last)
            .find_map(|from| {
                let part = &word[from..];
                let stopped = part.trim_end_matches(['.', ':', '!', '?']);
                let found = is_key(part).then_some(part);
                let found =
                    found.or_else(|| (stopped != part && is_key(stopped)).then_some(stopped));
                found.map(|part| (start + from, start + from + part.len()))
            });
        if let Some((from, to)) = found {
            let buffer = out.get_or_insert_with(|| String::with_capacity(text.len()));
            buffer.push_str(&text[copied..from]);
            buffer.push_str(REDACTED);
            copied = to;
        }
        start = end + c.len_utf8();
    }
    out.map(|mut buffer| {
        buffer.push_str(&text[copied..]);
        buffer
    })
}

fn starts_with_ignore_case(haystack: &[u8], prefix: &[u8]) -> bool {
    haystack.len() >= prefix.len() && haystack[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key echoed in another case, percent-encoded or base64-encoded
    /// (alone, or inside `Bearer <key>` or `user:key` encoded whole) is
    /// scrubbed from a text; other words are not.
    #[test]
    fn a_key_echoed_encoded_is_scrubbed() {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        // No `sk-`: the credential shapes alone would not catch it.
        let key = "HuntSecret/0123+456789abcdef==";
        let redactor = Redactor::new([key]);
        let echoes = [
            key.to_uppercase(),
            key.to_lowercase(),
            "HuntSecret%2F0123%2B456789abcdef%3D%3D".into(),
            "HuntSecret/0123%2b456789abcdef%3d%3d".into(),
            STANDARD.encode(key),
            URL_SAFE.encode(key),
            STANDARD.encode(format!("Bearer {key}")),
            STANDARD.encode(format!("user:{key}")),
        ];
        for echo in echoes {
            let text = format!("400: bad key {echo} (see docs)");
            let shown = redactor.scrub(&text);
            // A base64 form keeps the characters that also encode what
            // stands beside the key.
            let kept = shown
                .strip_prefix("400: bad key ")
                .and_then(|rest| rest.strip_suffix(" (see docs)"))
                .and_then(|rest| rest.split_once(REDACTED))
                .map(|(before, after)| before.len() + after.len());
            assert!(kept.is_some_and(|kept| kept <= 16), "{echo}: {shown}");
        }
        let plain = "400: the model kimi-k2.6 is not available; c2VjcmV0cw== aGVsbG8gd29ybGQ=";
        assert_eq!(redactor.scrub(plain), plain);
        // A key's `-` and `_`, which a URL leaves as they are, encoded too
        // by an encoder that leaves only letters and digits.
        let dashed = Redactor::new(["sk-or-v1-0123456789_abcdef"]);
        let echo = "bad key sk%2Dor%2dv1%2D0123456789%5Fabcdef";
        assert!(!dashed.scrub(echo).contains("0123456789"), "{echo}");
        // A short secret has no encoded forms: its base64 would be a word.
        let short = Redactor::new(["abcd1234"]);
        assert_eq!(
            short.scrub("YWJjZDEyMzQ= ABCD1234"),
            "YWJjZDEyMzQ= ABCD1234"
        );
    }

    #[test]
    fn credential_headers_are_sensitive() {
        for name in [
            "Authorization",
            "x-api-key",
            "X-Auth-Token",
            "api-secret",
            "Cookie",
        ] {
            assert!(is_sensitive_header(name), "{name}");
        }
        for name in ["User-Agent", "HTTP-Referer", "X-Title", "content-type"] {
            assert!(!is_sensitive_header(name), "{name}");
        }
    }

    #[test]
    fn a_secret_echoed_with_json_escapes_is_replaced_too() {
        let redactor = Redactor::new(["sk-live/abcdef0123456789"]);
        check(
            &redactor,
            &[
                (
                    r#"{"detail":"key sk-live\/abcdef0123456789 rejected"}"#,
                    r#"{"detail":"key [redacted] rejected"}"#,
                ),
                (
                    r"key \u0073k-live/abcdef0123456789 rejected",
                    "key [redacted] rejected",
                ),
            ],
        );
    }

    #[test]
    fn a_url_is_shown_without_its_query() {
        let redactor = Redactor::default();
        let url = |text| reqwest::Url::parse(text).unwrap();
        assert_eq!(
            redactor.url(&url("https://otlp.example/v1/traces?api-key=abc123def456")),
            "https://otlp.example/v1/traces?…"
        );
        assert_eq!(
            redactor.url(&url("https://gw.example/v1/chat/completions")),
            "https://gw.example/v1/chat/completions"
        );
    }

    /// Each text is scrubbed into the one beside it.
    fn check(redactor: &Redactor, cases: &[(&str, &str)]) {
        for (text, expected) in cases {
            assert_eq!(redactor.scrub(text), *expected, "text {text:?}");
        }
    }

    #[test]
    fn known_secrets_are_replaced_everywhere() {
        let redactor = Redactor::new([
            "hunter2-long-secret",
            "abc",
            "x9q7-token",
            "Bearer phx-0123456789abcdef",
            "correct horse battery staple",
        ]);
        check(
            &redactor,
            &[
                // A header's token, quoted without its scheme.
                ("the key phx-0123456789abcdef", "the key [redacted]"),
                // Not a word of a phrase.
                ("a staple", "a staple"),
                (
                    "bad key hunter2-long-secret, hunter2-long-secret",
                    "bad key [redacted], [redacted]",
                ),
                // Too short to search for: ordinary words stay intact.
                ("abc def", "abc def"),
                ("t=x9q7-token;", "t=[redacted];"),
            ],
        );
    }

    /// A key known only by its SHA-256 (a client written `sha256:`) is
    /// found as a word, or a word's part after a `/`, `=` or `:`.
    #[test]
    fn keys_known_by_their_digest_are_replaced_as_words() {
        let key = "cikeyzz0123456789abcdefghijkl";
        let redactor = Redactor::default().with_digests(vec![Sha256::digest(key).into()]);
        check(
            &redactor,
            &[
                (key, "[redacted]"),
                ("alice/cikeyzz0123456789abcdefghijkl", "alice/[redacted]"),
                (
                    "model \"cikeyzz0123456789abcdefghijkl\" not found.",
                    "model \"[redacted]\" not found.",
                ),
                (
                    "the key cikeyzz0123456789abcdefghijkl.",
                    "the key [redacted].",
                ),
                (
                    "/v1?k=cikeyzz0123456789abcdefghijkl&x",
                    "/v1?k=[redacted]&x",
                ),
                ("[cikeyzz0123456789abcdefghijkl, x]", "[[redacted], x]"),
                // Another word, or the key within one, is not the key.
                (
                    "cikeyzz0123456789abcdefghijklm",
                    "cikeyzz0123456789abcdefghijklm",
                ),
                ("plain text", "plain text"),
                // In a JSON text, before an escape.
                (
                    r#"{"content":"my key: cikeyzz0123456789abcdefghijkl\nthanks"}"#,
                    r#"{"content":"my key: [redacted]\nthanks"}"#,
                ),
            ],
        );
        assert!(matches!(redactor.scrub("plain text"), Cow::Borrowed(_)));
        // A long word of separators costs in proportion to its length.
        let long = format!("/{}", "/a".repeat(200_000));
        let started = std::time::Instant::now();
        assert!(matches!(redactor.scrub(&long), Cow::Borrowed(_)));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn credential_shapes_are_replaced_without_knowing_the_key() {
        check(
            &Redactor::default(),
            &[
                (
                    "Invalid header Authorization: Bearer sk-live-0123456789abcdef",
                    "Invalid header Authorization: Bearer [redacted]",
                ),
                ("bearer abc.def", "bearer [redacted]"),
                (
                    "key sk-or-v1-0123456789abcdef is invalid",
                    "key [redacted] is invalid",
                ),
                (
                    "GET https://x.test/v1?key=AIzaSy123&alt=sse",
                    "GET https://x.test/v1?key=[redacted]&alt=sse",
                ),
                ("the task-list is empty", "the task-list is empty"),
                ("sk-short", "sk-short"),
                ("monkey=1 and turkey", "monkey=1 and turkey"),
                ("client/key=hunter2topsecret", "client/key=[redacted]"),
                ("client/sk-other0aaaaaaaaaaaa", "client/[redacted]"),
                (
                    "my_api_key=abc123, token=x",
                    "my_api_key=[redacted], token=[redacted]",
                ),
                ("plain text", "plain text"),
            ],
        );
    }

    #[test]
    fn the_scrubber_holds_the_same_secrets() {
        let redactor = Redactor::new(["hunter2-long-secret", "abc", " x9q7-token "]);
        assert_eq!(
            &*redactor
                .scrubber()
                .scrub(br#"{"a":"hunter2-long-secret","b":"x9q7-\u0074oken","c":"abc"}"#),
            br#"{"a":"[redacted]","b":"[redacted]","c":"abc"}"#
        );
    }

    #[test]
    fn provider_text_escapes_control_characters() {
        let redactor = Redactor::new(["secret-value"]);
        assert_eq!(
            redactor.provider_text("line one\nFAKE log line secret-value\r\u{1b}[31m"),
            "line one\\nFAKE log line [redacted]\\r\\u{1b}[31m"
        );
        // Nor may a text reorder what a terminal shows after it.
        assert_eq!(
            escape_controls("tool \u{202e}live\u{2066}x\u{200f} ok"),
            "tool \\u{202e}live\\u{2066}x\\u{200f} ok"
        );
    }
}
