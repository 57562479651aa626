//! Which conversation a request belongs to, from what its client sends, in
//! this order: clawgate's own `x-clawgate-session`; Claude Code's
//! `X-Claude-Code-Session-Id`; Codex's `session-id` (`session_id` in older
//! releases); OpenClaw's `x-session-affinity`; then what the body says, as
//! its front end's reader found it (Claude Code's `metadata.user_id`,
//! whose session part is taken; any client's `prompt_cache_key`). Never
//! `user`: it names a person, not a conversation.
//!
//! A value is 1 to [`MAX_LEN`] visible ASCII characters, not starting
//! with `~` (a derived id's mark). One that is not
//! is refused with a 400 naming the header when it came in
//! `x-clawgate-session` (the client asked clawgate for that session, and
//! would otherwise be counted in another without knowing it), and passed
//! over, the next source tried, when a client sent it for its own purposes
//! (the caller logs it).

/// The longest session id taken.
pub const MAX_LEN: usize = 128;

/// clawgate's own header ([`crate::http`] names it too).
pub const GATEWAY_HEADER: &str = "x-clawgate-session";

/// The headers read, in order, after [`GATEWAY_HEADER`]: each client's own.
pub const CLIENT_HEADERS: [&str; 4] = [
    "x-claude-code-session-id",
    "session-id",
    "session_id",
    "x-session-affinity",
];

/// What a request named, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named<'r> {
    pub id: &'r str,
    /// The header or body field it came from.
    pub from: &'static str,
}

/// Why a named session was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{from}` must be 1 to {MAX_LEN} visible ASCII characters (letters, digits, punctuation; no spaces or controls), not starting with `~`, which marks the ids clawgate derives"
)]
pub struct Invalid {
    pub from: &'static str,
}

/// Whether `id` can name a session: a derived one starts with `~`, so a
/// client's never does (it would join the conversation derived so).
pub fn valid(id: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id.first() != Some(&b'~')
        && id.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// The session the headers name: `Err` when `x-clawgate-session` is
/// there but not valid; the client headers that are not valid are
/// passed over and given to `ignored`.
pub fn from_headers<'h>(
    header: impl Fn(&str) -> Option<&'h [u8]>,
    mut ignored: impl FnMut(&'static str),
) -> Result<Option<Named<'h>>, Invalid> {
    if let Some(value) = header(GATEWAY_HEADER) {
        return match std::str::from_utf8(value) {
            Ok(id) if valid(value) => Ok(Some(Named {
                id,
                from: GATEWAY_HEADER,
            })),
            _ => Err(Invalid {
                from: GATEWAY_HEADER,
            }),
        };
    }
    for name in CLIENT_HEADERS {
        let Some(value) = header(name) else { continue };
        match std::str::from_utf8(value) {
            Ok(id) if valid(value) => return Ok(Some(Named { id, from: name })),
            _ => ignored(name),
        }
    }
    Ok(None)
}

/// The session part of Claude Code's `metadata.user_id`: a JSON text
/// `{"device_id", "account_uuid", "session_id"}`, or in older releases
/// `user_<hash>_account_<uuid>_session_<uuid>`.
pub fn claude_code_user_id(user_id: &str) -> Option<&str> {
    if user_id.trim_start().starts_with('{') {
        #[derive(serde::Deserialize)]
        struct Ids<'a> {
            #[serde(borrow)]
            session_id: Option<&'a str>,
        }
        // An escaped id cannot be borrowed; no session id holds escapes.
        let ids: Ids = serde_json::from_str(user_id).ok()?;
        return ids.session_id;
    }
    let (_, session) = user_id.rsplit_once("_session_")?;
    Some(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found<'h>(
        headers: &[(&str, &'h str)],
    ) -> (Result<Option<Named<'h>>, Invalid>, Vec<&'static str>) {
        let mut ignored = Vec::new();
        let got = from_headers(
            |name| {
                headers
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.as_bytes())
            },
            |name| ignored.push(name),
        );
        (got, ignored)
    }

    #[test]
    fn headers_are_read_in_order_and_a_bad_own_header_is_refused() {
        let (got, _) = found(&[("session-id", "codex-1"), ("x-clawgate-session", "mine")]);
        assert_eq!(
            got,
            Ok(Some(Named {
                id: "mine",
                from: GATEWAY_HEADER
            }))
        );
        let (got, _) = found(&[
            ("session-id", "codex-1"),
            ("x-claude-code-session-id", "cc"),
        ]);
        assert_eq!(got.unwrap().unwrap().from, "x-claude-code-session-id");
        let (got, _) = found(&[("session_id", "old-codex")]);
        assert_eq!(got.unwrap().unwrap().id, "old-codex");
        assert_eq!(found(&[]).0, Ok(None));

        let long = "x".repeat(MAX_LEN + 1);
        for bad in [
            "",
            "two words",
            "tab\there",
            long.as_str(),
            "~1e6c5678f9072374",
        ] {
            let (got, _) = found(&[("x-clawgate-session", bad)]);
            assert_eq!(
                got,
                Err(Invalid {
                    from: GATEWAY_HEADER
                }),
                "{bad:?}"
            );
            // A client's own header is passed over for the next one.
            let (got, ignored) = found(&[("x-claude-code-session-id", bad), ("session-id", "c")]);
            assert_eq!(got.unwrap().unwrap().id, "c", "{bad:?}");
            assert_eq!(ignored, ["x-claude-code-session-id"]);
        }
        assert!(valid(&[b'x'; MAX_LEN]));
        assert!(!valid("é".as_bytes()));
    }

    #[test]
    fn claude_codes_user_id_gives_its_session_part() {
        let json = r#"{"device_id":"d1","account_uuid":"a1","session_id":"5f0c"}"#;
        assert_eq!(claude_code_user_id(json), Some("5f0c"));
        assert_eq!(
            claude_code_user_id("user_abc_account_1234_session_9e2a-77"),
            Some("9e2a-77")
        );
        for none in [r#"{"device_id":"d1"}"#, "someone@example.com", "{not json"] {
            assert_eq!(claude_code_user_id(none), None, "{none}");
        }
    }
}
