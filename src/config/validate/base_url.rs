//! What can be known about a provider's `baseUrl` without calling it: the
//! mistakes that otherwise surface as a bare 404 at the first request, and
//! a key it would carry in clear.
//!
//! The rules depend on the provider's `api`: an `openai-completions` base
//! ends at the API version (`.../v1`, clawgate appends
//! `/chat/completions`), an `anthropic-messages` base usually does not
//! (requests go to `{base}/v1/messages`; a base ending in `/v1` means the
//! same endpoint).

use reqwest::Url;
use url::Host;

use super::super::clients::MIN_KEY_CHARS;
use super::super::{connected_to, is_loopback};
use super::percent_decoded;
use crate::capabilities::Api;
use crate::ops::redact::without_query;

/// Query parameters that say which API or where, never a credential:
/// their values are no secret (Azure's `api-version=2024-08-01-preview`
/// would otherwise be scrubbed from every answer). Any other may carry a
/// key under any name (Azure Functions' `code`, a signature's `sig`).
const PLAIN_PARAMETERS: &[&str] = &["api-version", "version", "alt", "region", "project"];

/// What a `baseUrl`'s query holds that may be a key: each value of a
/// parameter not [plain](PLAIN_PARAMETERS), or a name without a value (a
/// bare `?<key>`), as long as a key is. A query is sent but never shown,
/// and a provider that echoes the URL it was called at (a redirect, a 404
/// naming the path) must not show it either: these are scrubbed as keys.
/// Each is percent-decoded with `+` kept, as it is sent, and, where it holds
/// a `+`, read as a form would be too (a space), as a provider may echo it.
pub(super) fn query_secrets(base_url: &str) -> Vec<String> {
    let Some(query) = Url::parse(base_url)
        .ok()
        .and_then(|url| url.query().map(str::to_owned))
    else {
        return Vec::new();
    };
    let plain = |name: &str| {
        PLAIN_PARAMETERS
            .iter()
            .any(|p| p.eq_ignore_ascii_case(&percent_decoded(name).0))
    };
    let pieces = query
        .split('&')
        .filter_map(|pair| match pair.split_once('=') {
            Some((name, value)) if !value.is_empty() => (!plain(name)).then_some(value),
            Some((name, _)) => Some(name),
            None => Some(pair),
        });
    let decoded = pieces.map(|piece| percent_decoded(piece).0);
    let as_forms_read = |piece: String| {
        let spaced = (piece.contains('+')).then(|| piece.replace('+', " "));
        std::iter::once(piece).chain(spaced)
    };
    decoded
        .filter(|piece| piece.len() >= MIN_KEY_CHARS)
        .flat_map(as_forms_read)
        .collect()
}

/// A problem with a `baseUrl`: an error when the URL cannot work, a
/// warning when it probably does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Problem {
    Error(String),
    Warning(String),
}

/// Where the well-known providers serve each API: `(host, api, path)`.
const KNOWN_BASES: &[(&str, Api, &str)] = &[
    ("api.moonshot.ai", Api::OpenAiCompletions, "/v1"),
    ("api.moonshot.cn", Api::OpenAiCompletions, "/v1"),
    ("api.kimi.com", Api::OpenAiCompletions, "/coding/v1"),
    ("openrouter.ai", Api::OpenAiCompletions, "/api/v1"),
    ("api.openai.com", Api::OpenAiCompletions, "/v1"),
    ("api.moonshot.ai", Api::AnthropicMessages, "/anthropic"),
    ("api.moonshot.cn", Api::AnthropicMessages, "/anthropic"),
    ("api.kimi.com", Api::AnthropicMessages, "/coding"),
    ("api.anthropic.com", Api::AnthropicMessages, ""),
];

/// The endpoints of `api`, which clawgate appends to a base (the longer
/// first where one ends another: requests go to `{base}/v1/messages`, or
/// `{base}/messages` for a base ending in `/v1`).
fn endpoints(api: Api) -> &'static [&'static str] {
    match api {
        Api::OpenAiCompletions => &["/chat/completions"],
        Api::AnthropicMessages => &["/v1/messages", "/messages"],
    }
}

/// OpenAI's Responses endpoint: no `api` reaches a provider by it.
const RESPONSES_ENDPOINT: &str = "/responses";

/// Ports local model servers answer in plain HTTP on (Ollama, LM Studio,
/// vLLM, LiteLLM, llama.cpp, clawgate itself).
const PLAIN_HTTP_PORTS: &[u16] = &[11434, 1234, 8000, 4000, 8080, 18700];

/// Every problem with `url` as the base of `api`; `keyed`: whether
/// requests to it carry the provider's key.
pub(super) fn check(api: Api, url: &Url, keyed: bool) -> Vec<Problem> {
    // A URL is shown in errors, logs and `config show`: credentials in it
    // would be too (and every other message here quotes the URL).
    if !url.username().is_empty() || url.password().is_some() {
        return vec![Problem::Error(
            "a user or password in the URL would be shown in errors and logs; put the key in apiKey (or a header in headers)".into(),
        )];
    }
    let mut problems = Vec::new();
    let path = url.path().trim_end_matches('/');
    // A URL suggested is shown without its query, which may hold a key.
    let suggested = |fixed: &Url| without_query(fixed).trim_end_matches('/').to_string();
    let trimmed = |tail: &str| {
        let mut fixed = url.clone();
        fixed.set_path(&path[..path.len() - tail.len()]);
        suggested(&fixed)
    };
    // A base ends before the endpoint: its own api's is appended again,
    // another's is followed by this api's.
    let ending = |api: Api| endpoints(api).iter().find(|e| path.ends_with(**e));
    let appended = endpoints(api)[0];
    if let Some(endpoint) = ending(api) {
        let known = (*endpoint != appended).then(|| format!(" (as {appended})"));
        problems.push(Problem::Error(format!(
            "ends in {endpoint}, which clawgate appends itself{}; use {:?}",
            known.unwrap_or_default(),
            trimmed(endpoint)
        )));
    } else if let Some((other, endpoint)) = (Api::ALL.iter())
        .filter(|other| **other != api)
        .find_map(|&other| Some((other, ending(other)?)))
    {
        problems.push(Problem::Error(format!(
            "ends in {endpoint}, the endpoint of the {other} API, but api is {api:?} (clawgate would append {appended} to it); for the {other} API use {:?} with api {other:?}, else the provider's {api} base",
            trimmed(endpoint),
            other = other.as_str(),
            api = api.as_str(),
        )));
    } else if path.ends_with(RESPONSES_ENDPOINT) {
        problems.push(Problem::Error(format!(
            "ends in {RESPONSES_ENDPOINT}, the endpoint of OpenAI's Responses API, which clawgate does not reach providers by (it would append {appended} to it); use {:?} with api \"openai-completions\"",
            trimmed(RESPONSES_ENDPOINT),
        )));
    }
    // OpenClaw writes an anthropic-messages base without `/v1`; one with it
    // names the same endpoint (requests go to `.../v1/messages` either way).
    let compared = match api {
        Api::AnthropicMessages => path.strip_suffix("/v1").unwrap_or(path),
        Api::OpenAiCompletions => path,
    };
    let host = url.host_str().unwrap_or_default();
    let expected = KNOWN_BASES
        .iter()
        .find(|(known, known_api, _)| *known == host && *known_api == api);
    if let (Some((_, _, expected)), true) = (expected, problems.is_empty())
        && compared != *expected
    {
        let mut fixed = url.clone();
        fixed.set_path(expected);
        problems.push(Problem::Error(format!(
            "{host} serves the {} API under {:?}, not {:?}; use {:?}",
            api.as_str(),
            if expected.is_empty() { "/" } else { expected },
            if path.is_empty() { "/" } else { path },
            suggested(&fixed)
        )));
    }
    let port = url.port();
    match url.scheme() {
        "https" if port == Some(80) => problems.push(Problem::Error(
            "https:// to port 80, which speaks plain HTTP; use http:// or drop the port".into(),
        )),
        "http" if port == Some(443) => problems.push(Problem::Error(
            "http:// to port 443, which speaks TLS; use https:// and drop the port".into(),
        )),
        "https" if is_local(url) && port.is_some_and(|p| PLAIN_HTTP_PORTS.contains(&p)) => {
            let mut fixed = url.clone();
            let _ = fixed.set_scheme("http");
            problems.push(Problem::Warning(format!(
                "https:// to a local server on port {}, which usually speaks plain HTTP; if requests fail with a TLS error, use {:?}",
                port.unwrap_or_default(),
                suggested(&fixed)
            )));
        }
        // A warning, not an error: a proxy on a network the user trusts
        // may be meant.
        "http" if keyed && !is_this_machine(url) => problems.push(Problem::Warning(format!(
            "plain http:// to {}, which is not a loopback name or address: the provider's key would travel unencrypted; use https://, unless this is a proxy on a network you trust",
            url.host_str().unwrap_or_default()
        ))),
        _ => {}
    }
    problems
}

/// This machine or a private network: where local model servers run.
fn is_local(url: &Url) -> bool {
    is_this_machine(url) || matches!(url.host(), Some(Host::Ipv4(ip)) if ip.is_private())
}

/// This machine: a loopback address (127.0.0.0/8, ::1, or the wildcard
/// one a connection to which reaches them) or `localhost`.
fn is_this_machine(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => is_loopback(connected_to(ip.into())),
        Some(Host::Ipv6(ip)) => is_loopback(connected_to(ip.into())),
        Some(Host::Domain(name)) => name == "localhost" || name.ends_with(".localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The problems of `url` as the base of `api` for a provider with a
    /// key.
    fn check_url(api: &str, url: &str) -> Vec<Problem> {
        check(Api::parse(api).unwrap(), &Url::parse(url).unwrap(), true)
    }

    #[test]
    fn credentials_in_a_base_are_refused_without_being_quoted() {
        for url in [
            "https://gw:S3cretPass@litellm.internal/v1",
            "https://S3cretPass@api.moonshot.ai/v1/chat/completions",
        ] {
            let problems = check_url("openai-completions", url);
            assert_eq!(problems.len(), 1, "{problems:?}");
            let Problem::Error(message) = &problems[0] else {
                panic!("an error: {problems:?}");
            };
            assert!(
                message.starts_with("a user or password in the URL"),
                "{message}"
            );
            assert!(!message.contains("S3cretPass"), "{message}");
        }
    }

    /// A base's query may hold a key under any name: the fix suggested
    /// shows it as `?…`.
    #[test]
    fn a_fix_suggested_never_quotes_the_query() {
        for (api, url) in [
            (
                "openai-completions",
                "https://127.0.0.1:8000/v1?api-key=S3cretPass",
            ),
            (
                "openai-completions",
                "https://h.example/v1/chat/completions?sig=S3cretPass",
            ),
            (
                "openai-completions",
                "https://api.moonshot.ai/api/v1?code=S3cretPass",
            ),
        ] {
            let problems = check_url(api, url);
            assert!(!problems.is_empty(), "{url}");
            for problem in problems {
                let (Problem::Error(message) | Problem::Warning(message)) = problem;
                assert!(!message.contains("S3cretPass"), "{message}");
                assert!(message.contains("?…"), "{message}");
            }
        }
    }

    #[test]
    fn bases_that_cannot_be_right_are_named_with_the_fix() {
        let errors = [
            (
                "openai-completions",
                "https://api.moonshot.ai/v1/chat/completions",
                "ends in /chat/completions, which clawgate appends itself; use \"https://api.moonshot.ai/v1\"",
            ),
            (
                "openai-completions",
                "http://127.0.0.1:9001/v1/chat/completions/",
                "ends in /chat/completions, which clawgate appends itself; use \"http://127.0.0.1:9001/v1\"",
            ),
            (
                "openai-completions",
                "https://api.moonshot.ai",
                "api.moonshot.ai serves the openai-completions API under \"/v1\", not \"/\"; use \"https://api.moonshot.ai/v1\"",
            ),
            (
                "openai-completions",
                "https://openrouter.ai/v1",
                "openrouter.ai serves the openai-completions API under \"/api/v1\", not \"/v1\"; use \"https://openrouter.ai/api/v1\"",
            ),
            (
                "openai-completions",
                "https://api.kimi.com/coding/",
                "api.kimi.com serves the openai-completions API under \"/coding/v1\", not \"/coding\"; use \"https://api.kimi.com/coding/v1\"",
            ),
            (
                "anthropic-messages",
                "https://api.kimi.com/coding/v1/messages",
                "ends in /v1/messages, which clawgate appends itself; use \"https://api.kimi.com/coding\"",
            ),
            (
                "openai-completions",
                "https://10.0.0.5:80/v1",
                "https:// to port 80, which speaks plain HTTP; use http:// or drop the port",
            ),
            (
                "openai-completions",
                "http://example.com:443/v1",
                "http:// to port 443, which speaks TLS; use https:// and drop the port",
            ),
        ];
        for (api, url, message) in errors {
            assert_eq!(
                check_url(api, url),
                [Problem::Error(message.into())],
                "{api} {url}"
            );
        }
    }

    #[test]
    fn a_base_ending_in_any_apis_endpoint_is_refused() {
        let other = |endpoint: &str, other: &str, api: &str, appended: &str, fixed: &str| {
            format!(
                "ends in {endpoint}, the endpoint of the {other} API, but api is \"{api}\" (clawgate would append {appended} to it); for the {other} API use \"{fixed}\" with api \"{other}\", else the provider's {api} base"
            )
        };
        let errors = [
            (
                "anthropic-messages",
                "https://api.example.com/v1/chat/completions",
                other("/chat/completions", "openai-completions", "anthropic-messages", "/v1/messages", "https://api.example.com/v1"),
            ),
            (
                "openai-completions",
                "https://api.example.com/v1/messages/",
                other("/v1/messages", "anthropic-messages", "openai-completions", "/chat/completions", "https://api.example.com"),
            ),
            (
                "openai-completions",
                "https://api.example.com/anthropic/messages",
                other("/messages", "anthropic-messages", "openai-completions", "/chat/completions", "https://api.example.com/anthropic"),
            ),
            (
                "anthropic-messages",
                "https://api.example.com/anthropic/messages",
                "ends in /messages, which clawgate appends itself (as /v1/messages); use \"https://api.example.com/anthropic\"".into(),
            ),
            (
                "openai-completions",
                "https://api.example.com/v1/responses",
                "ends in /responses, the endpoint of OpenAI's Responses API, which clawgate does not reach providers by (it would append /chat/completions to it); use \"https://api.example.com/v1\" with api \"openai-completions\"".into(),
            ),
        ];
        for (api, url, message) in errors {
            assert_eq!(
                check_url(api, url),
                [Problem::Error(message)],
                "{api} {url}"
            );
        }
    }

    #[test]
    fn local_https_on_a_plain_http_port_is_a_warning() {
        assert_eq!(
            check_url("openai-completions", "https://localhost:11434/v1"),
            [Problem::Warning(
                "https:// to a local server on port 11434, which usually speaks plain HTTP; if requests fail with a TLS error, use \"http://localhost:11434/v1\"".into()
            )]
        );
    }

    /// Plain HTTP beyond this machine would carry the key in clear: a
    /// warning (a proxy on a trusted network may be meant); to this
    /// machine, or without a key, nothing.
    #[test]
    fn plain_http_beyond_this_machine_with_a_key_is_a_warning() {
        let clear = |host: &str| {
            Problem::Warning(format!(
                "plain http:// to {host}, which is not a loopback name or address: the provider's key would travel unencrypted; use https://, unless this is a proxy on a network you trust"
            ))
        };
        for (url, host) in [
            ("http://api.example.com/v1", "api.example.com"),
            ("http://203.0.113.7/v1", "203.0.113.7"),
            ("http://192.168.1.20:8000/v1", "192.168.1.20"),
            ("http://[fd00::1]:4000/v1?key=S3cretPass", "[fd00::1]"),
        ] {
            assert_eq!(check_url("openai-completions", url), [clear(host)], "{url}");
        }
        for url in [
            "http://127.0.0.1:9001/v1",
            "http://127.8.9.10/v1",
            "http://[::1]:8000/v1",
            "http://localhost:11434/v1",
            "http://llm.localhost/v1",
            // A connection to the wildcard address stays on this machine.
            "http://0.0.0.0:11434/v1",
            "http://[::]:8000/v1",
        ] {
            assert_eq!(check_url("openai-completions", url), [], "{url}");
        }
        let url = Url::parse("http://api.example.com/v1").unwrap();
        assert_eq!(check(Api::OpenAiCompletions, &url, false), []);
    }

    #[test]
    fn right_bases_pass() {
        for (api, url) in [
            ("openai-completions", "https://api.moonshot.ai/v1"),
            ("openai-completions", "https://api.moonshot.cn/v1/"),
            ("openai-completions", "https://api.kimi.com/coding/v1"),
            ("openai-completions", "https://openrouter.ai/api/v1"),
            ("openai-completions", "http://127.0.0.1:9001/v1"),
            ("openai-completions", "http://localhost:11434/v1"),
            ("openai-completions", "https://llm.example.com/custom/path"),
            ("anthropic-messages", "https://api.kimi.com/coding/"),
            ("anthropic-messages", "https://api.kimi.com/coding/v1"),
            ("anthropic-messages", "https://api.anthropic.com"),
            ("anthropic-messages", "https://api.moonshot.ai/anthropic"),
        ] {
            assert_eq!(check_url(api, url), [], "{api} {url}");
        }
    }
}
