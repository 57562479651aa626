//! Keeping secrets out of everything clawgate prints: which header values are
//! secret, and scrubbing a known secret out of text that came from elsewhere
//! (an upstream's error message may echo what it was sent).

/// Header names whose values are credentials.
pub fn is_sensitive_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "authorization"
        || name == "proxy-authorization"
        || name == "cookie"
        || ["key", "token", "secret", "auth", "password"]
            .iter()
            .any(|word| name.contains(word))
}

pub const REDACTED: &str = "[redacted]";

/// `text` with every occurrence of `secret` replaced. Secrets shorter than
/// four characters are not searched for: they would mangle ordinary words.
pub fn scrub(text: &str, secret: &str) -> String {
    if secret.len() < 4 {
        return text.to_string();
    }
    text.replace(secret, REDACTED)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn scrub_replaces_every_occurrence() {
        assert_eq!(
            scrub("bad key sk-abcd, sk-abcd", "sk-abcd"),
            "bad key [redacted], [redacted]"
        );
        assert_eq!(scrub("a b c", "a"), "a b c");
    }
}
