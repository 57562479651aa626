//! The fallback policy, as pure functions: what an attempt's outcome means
//! ([`classify`]: a [`Class`] and the [`Decision`] for the chain), how long
//! a class cools its target down ([`cooldown`]), and what status a client
//! gets when every target failed ([`final_status`]).
//!
//! `docs/fallback.md` holds the same table in prose; the tests below check
//! it row by row.

use std::time::Duration;

use super::{Cause, Failure};
use crate::upstream::AttemptError;

/// An attempt's outcome, as far as the policy needs to see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// The provider's key variable is not set.
    MissingKey,
    /// The connection broke before a response.
    Transport,
    /// No connection could be made (refused, no such host, no route).
    Unreachable,
    /// A TLS handshake with a server that does not speak TLS: an
    /// `https://` baseUrl to a plain-HTTP port.
    NotTls,
    /// Nothing arrived in time (headers, first event, an error body after
    /// any status).
    Timeout,
    /// A 3xx: redirects are not followed.
    Redirected,
    /// A 2xx that is not a chat completion.
    InvalidResponse,
    /// The answer or one event is over its configured limit.
    TooLarge,
    /// The provider said no: an HTTP status, or an error inside a 200
    /// (`status: None`), with its `error.type` and message.
    Refused {
        status: Option<u16>,
        error_type: Option<&'a str>,
        message: &'a str,
    },
}

impl<'a> Outcome<'a> {
    pub fn of(error: &'a AttemptError) -> Self {
        match error {
            AttemptError::MissingKey(_) => Outcome::MissingKey,
            AttemptError::Connect(_) => Outcome::Transport,
            AttemptError::Unreachable(_) => Outcome::Unreachable,
            AttemptError::NotTls { .. } => Outcome::NotTls,
            // A stall is a stall, whatever the status line said.
            AttemptError::Timeout { .. } | AttemptError::StalledErrorBody { .. } => {
                Outcome::Timeout
            }
            AttemptError::Redirected { .. } => Outcome::Redirected,
            AttemptError::InvalidResponse(_) => Outcome::InvalidResponse,
            AttemptError::TooLarge { .. } => Outcome::TooLarge,
            AttemptError::Upstream {
                status,
                error_type,
                message,
                ..
            } => Outcome::Refused {
                status: status.map(|s| s.as_u16()),
                error_type: error_type.as_deref(),
                message,
            },
        }
    }
}

/// What went wrong, in the classes clients and cooldowns care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    Transport,
    Timeout,
    /// The provider is overloaded (Moonshot `engine_overloaded_error`, 529).
    Overloaded,
    /// This account is over its request or token rate.
    RateLimited,
    /// The account's quota is spent (`exceeded_current_quota_error`).
    Quota,
    /// 402, or a refusal that speaks of balance, credit or billing.
    Billing,
    /// 401 or 403: the key is refused.
    Auth,
    /// clawgate's configuration is at fault: a missing key, a redirect,
    /// Kimi Coding's User-Agent gate, `https://` to a plain-HTTP server.
    Config,
    /// 404: the provider does not serve the model.
    NotFound,
    /// The request is longer than the model's context window.
    ContextLength,
    /// The provider's content policy refused the request.
    ContentFilter,
    /// Any other refusal of the request itself (400, 422, ...).
    BadRequest,
    /// 5xx, or an error reported inside a 200.
    ProviderError,
    /// A 2xx that is not a chat completion.
    InvalidResponse,
    /// The answer or one event is over its configured limit.
    TooLarge,
    /// The target cannot take this request (more tools than it accepts,
    /// an image for a text-only model): skipped without being asked.
    Unsuitable,
}

impl Class {
    /// The metric and log label.
    pub fn label(self) -> &'static str {
        match self {
            Class::Transport => "transport",
            Class::Timeout => "timeout",
            Class::Overloaded => "overloaded",
            Class::RateLimited => "rate_limited",
            Class::Quota => "quota",
            Class::Billing => "billing",
            Class::Auth => "auth",
            Class::Config => "config",
            Class::NotFound => "not_found",
            Class::ContextLength => "context_length",
            Class::ContentFilter => "content_filter",
            Class::BadRequest => "bad_request",
            Class::ProviderError => "provider_error",
            Class::InvalidResponse => "invalid_response",
            Class::TooLarge => "too_large",
            Class::Unsuitable => "unsuitable",
        }
    }

    /// Whether the failure says something about the target's health. The
    /// request's own faults never cool a target down.
    pub fn counts_against_target(self) -> bool {
        !matches!(
            self,
            Class::ContextLength
                | Class::ContentFilter
                | Class::BadRequest
                | Class::TooLarge
                | Class::Unsuitable
        )
    }

    /// Failures that will not mend by themselves: they cool their target
    /// down from the first one, and for long.
    fn is_lasting(self) -> bool {
        matches!(
            self,
            Class::Quota | Class::Billing | Class::Auth | Class::Config | Class::NotFound
        )
    }

    /// Whether a config reload may have fixed it (a key, a header, a model
    /// id): such cooldowns are cleared by a reload.
    pub fn fixed_by_reload(self) -> bool {
        matches!(self, Class::Auth | Class::Config | Class::NotFound)
    }

    fn is_rate_limit(self) -> bool {
        matches!(self, Class::RateLimited | Class::Overloaded)
    }
}

/// What the user can do about a failure, for the attempt report, the log,
/// `doctor --probe` and `clawgate status`; `None` where there is nothing to
/// do but let the chain fall over.
pub fn hint(class: Class, outcome: Outcome<'_>) -> Option<&'static str> {
    match (class, outcome) {
        (
            Class::Config,
            Outcome::Refused {
                status: Some(403), ..
            },
        ) => Some(
            "the provider admits coding agents only (Kimi Coding's User-Agent gate): \
             set the User-Agent it expects in the provider's or model's headers",
        ),
        (Class::Config, Outcome::Redirected) => {
            Some("check the provider's baseUrl: redirects are not followed")
        }
        (Class::Config, Outcome::MissingKey) => Some("set the provider's API key variable"),
        (
            Class::Config,
            Outcome::Refused {
                status: Some(508), ..
            },
        ) => Some(
            "the provider's baseUrl leads back to this gateway (or round a loop of proxies): point it at the provider's real endpoint",
        ),
        (Class::Transport, Outcome::Unreachable) => Some(
            "nothing answered at the provider's baseUrl: check its host and port, and that the server is up",
        ),
        (Class::Config, Outcome::NotTls) => Some(
            "the server at the provider's baseUrl speaks plain HTTP: write its baseUrl with http://",
        ),
        _ => class_hint(class),
    }
}

/// [`hint`] for a class alone, where the status is not at hand (a target's
/// cooldown in `clawgate status`).
pub fn class_hint(class: Class) -> Option<&'static str> {
    match class {
        Class::Config => Some("a configuration problem: see `clawgate doctor --probe`"),
        Class::Auth => Some("check the provider's API key"),
        Class::Quota => Some(
            "the account's usage quota is used up (Kimi Coding's weekly or 5-hour window): \
             the key is fine; the target is skipped until the window resets",
        ),
        Class::Billing => Some("the account's balance is used up: top it up; the key is fine"),
        Class::RateLimited => Some(
            "the account is over its request or token rate (shared by all its models): \
             clawgate backs off; lower the concurrency if it persists",
        ),
        Class::Overloaded => {
            Some("the provider is overloaded for now: clawgate retries and falls over meanwhile")
        }
        Class::NotFound => Some(
            "check the model id: the provider does not serve it (or, when the message says nothing is served at the URL, the baseUrl)",
        ),
        _ => None,
    }
}

/// A rate limit's figures as Moonshot states them ("... request reached
/// TPM rate limit, current:1200, limit:1000"): `TPM current=1200
/// limit=1000`, for the log.
pub fn rate_limit_figures(message: &str) -> Option<String> {
    let (before, after) = message.split_once(" rate limit")?;
    let kind = before.rsplit(' ').next().filter(|k| !k.is_empty())?;
    let number = |key: &str| -> Option<u64> {
        let start = after.find(key)? + key.len();
        let digits: String = after[start..]
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    let (current, limit) = (number("current:")?, number("limit:")?);
    Some(format!("{kind} current={current} limit={limit}"))
}

/// What the chain does after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try the same target again after a backoff (within its retry budget
    /// and the chain deadline), else move on.
    Retry,
    /// Move on to the next target.
    Next,
    /// Move on only to targets whose context window is known to be larger.
    NextLarger,
    /// Stop: no other target would answer differently; pass the failure on.
    Stop,
}

impl Decision {
    pub fn label(self) -> &'static str {
        match self {
            Decision::Retry => "retry",
            Decision::Next => "next",
            Decision::NextLarger => "next_larger",
            Decision::Stop => "stop",
        }
    }
}

/// The one classification of an attempt's outcome.
pub fn classify(outcome: Outcome<'_>) -> (Class, Decision) {
    use Decision::{Next, NextLarger, Retry, Stop};
    match outcome {
        Outcome::MissingKey | Outcome::Redirected => (Class::Config, Next),
        Outcome::Transport | Outcome::Unreachable => (Class::Transport, Retry),
        // A server that does not speak TLS will not start to by retrying.
        Outcome::NotTls => (Class::Config, Next),
        // A target that kept us waiting once is not waited for again.
        Outcome::Timeout => (Class::Timeout, Next),
        Outcome::InvalidResponse => (Class::InvalidResponse, Next),
        Outcome::TooLarge => (Class::TooLarge, Next),
        Outcome::Refused {
            status,
            error_type,
            message,
        } => {
            // An error inside a 200 whose code is an HTTP status
            // (OpenRouter's `{"error": {"code": 429, ...}}`, read as its
            // type) is that status's.
            let status = status.or_else(|| {
                (error_type?.parse::<u16>().ok()).filter(|code| (400..=599).contains(code))
            });
            let error_type = error_type.unwrap_or_default().to_ascii_lowercase();
            let message = message.to_ascii_lowercase();
            let says = |words: &[&str]| words.iter().any(|w| message.contains(w));
            let is_type = |words: &[&str]| words.iter().any(|w| error_type.contains(w));
            let billing = is_type(&["billing", "insufficient", "payment"])
                || says(&["balance", "billing", "credit", "insufficient", "payment"]);
            // Kimi Coding's weekly and 5-hour windows speak of a usage
            // limit; its weekly 403 shares the User-Agent gate's type.
            let quota =
                is_type(&["quota"]) || says(&["quota", "usage limit", "5h limit", "5-hour limit"]);
            let overloaded = is_type(&["overload"]) || says(&["overloaded"]);
            let context = is_type(&["context_length"])
                || (says(&["context"]) && says(&["length", "window", "limit", "too long"]))
                || says(&["token limit", "token length", "too many tokens"]);
            let filter = is_type(&["content_filter"])
                || says(&["content filter", "content_filter", "high risk"]);
            match status {
                Some(402) => (Class::Billing, Next),
                Some(429) if overloaded => (Class::Overloaded, Retry),
                Some(429) if billing => (Class::Billing, Next),
                Some(429) if quota => (Class::Quota, Next),
                Some(429) => (Class::RateLimited, Retry),
                Some(401) => (Class::Auth, Next),
                Some(403) if quota => (Class::Quota, Next),
                Some(403) if is_type(&["access_terminated"]) || says(&["coding agents"]) => {
                    (Class::Config, Next)
                }
                Some(403) => (Class::Auth, Next),
                Some(404) => (Class::NotFound, Next),
                Some(408 | 499 | 504 | 522 | 524) => (Class::Timeout, Next),
                // Loop Detected: a baseUrl leading back to this gateway (or
                // round another proxy); asking again only goes round again.
                // (Some shared hosts send a 508 for "resource limit
                // reached": a server's error like any other.)
                Some(508) if says(&["loop", "clawgate"]) => (Class::Config, Next),
                Some(529) => (Class::Overloaded, Retry),
                Some(400..=499) if context => (Class::ContextLength, NextLarger),
                // Too large for this provider's limit; the next may take it.
                Some(413) => (Class::TooLarge, Next),
                Some(400..=499) if filter => (Class::ContentFilter, Stop),
                Some(400..=499) => (Class::BadRequest, Stop),
                // An error inside a 200 carries only its type and text.
                None if overloaded => (Class::Overloaded, Retry),
                None if billing => (Class::Billing, Next),
                None if quota => (Class::Quota, Next),
                None if is_type(&["rate_limit"]) => (Class::RateLimited, Retry),
                None if context => (Class::ContextLength, NextLarger),
                None if filter => (Class::ContentFilter, Stop),
                // Anthropic's error types, as its streams report them.
                None if is_type(&["authentication", "permission", "invalid_api_key"]) => {
                    (Class::Auth, Next)
                }
                None if is_type(&["not_found"]) => (Class::NotFound, Next),
                None if is_type(&["timeout"]) => (Class::Timeout, Next),
                None if is_type(&["invalid_request", "request_too_large"]) => {
                    (Class::BadRequest, Stop)
                }
                _ => (Class::ProviderError, Retry),
            }
        }
    }
}

/// Consecutive failures of a passing kind before a target cools down; one
/// slow answer does not bench a primary.
pub const PASSING_FAILURES_TO_OPEN: u32 = 2;

/// How long a target cools down after its `consecutive`-th failure in a
/// row of class `class`, or `None` when it stays in use.
///
/// Lasting failures (auth, billing, quota, config, unknown model): 10 min
/// from the first, doubling, at most 1 h, as OpenClaw. Passing ones (rate
/// limits, overloads, timeouts, transport and provider errors): from the
/// second in a row, 30 s, 60 s, then 5 min, as OpenClaw's timeout and
/// overload steps; a rate limit's `Retry-After` lengthens it.
pub fn cooldown(class: Class, consecutive: u32, retry_after: Option<Duration>) -> Option<Duration> {
    if !class.counts_against_target() || consecutive == 0 {
        return None;
    }
    if class.is_lasting() {
        let doublings = (consecutive - 1).min(3);
        let step = Duration::from_secs(600 << doublings).min(Duration::from_secs(3600));
        // A spent quota is spent until its window resets, when the answer
        // says when.
        if class == Class::Quota {
            return Some(step.max(retry_after.unwrap_or_default()));
        }
        return Some(step);
    }
    if consecutive < PASSING_FAILURES_TO_OPEN {
        return None;
    }
    let step = match consecutive - PASSING_FAILURES_TO_OPEN {
        0 => Duration::from_secs(30),
        1 => Duration::from_secs(60),
        _ => Duration::from_secs(300),
    };
    Some(step.max(retry_after.unwrap_or_default()))
}

/// The status a client gets when no target answered, and the wait it is
/// told about. Shared by every front end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinalStatus {
    pub status: u16,
    /// The OpenAI-shaped error's `code`.
    pub code: &'static str,
    pub retry_after: Option<Duration>,
    /// The failure's class as clients are told it, when it has one.
    pub told: Option<Told>,
}

/// A failure as a client is told it: the same before the first byte (the
/// chain's final status) and after it (the error event that ends a started
/// stream), on every front end, each in its own words (OpenAI's
/// `error.type` and `code`, Anthropic's error type, Responses'
/// `response.failed` code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Told {
    /// The account is over its rate.
    RateLimited,
    /// The provider is overloaded: a rate limit to OpenAI clients, which
    /// have no word of their own for it.
    Overloaded,
    /// No credit or quota left.
    OutOfCredit,
    /// The request is too long for the model's context window.
    TooLong,
    /// The provider refused the request itself (a bad request, its
    /// content filter); before the first byte its own status and type are
    /// passed on.
    Refused,
}

impl Told {
    /// The HTTP status before the first byte.
    pub fn status(self) -> u16 {
        match self {
            Told::RateLimited | Told::Overloaded => 429,
            Told::OutOfCredit => 402,
            Told::TooLong | Told::Refused => 400,
        }
    }

    /// OpenAI's `error.type`.
    pub fn kind(self) -> &'static str {
        match self {
            Told::RateLimited | Told::Overloaded => "rate_limit_error",
            Told::OutOfCredit => "insufficient_quota",
            Told::TooLong | Told::Refused => "invalid_request_error",
        }
    }

    /// OpenAI's `error.code`.
    pub fn code(self) -> &'static str {
        match self {
            Told::RateLimited | Told::Overloaded => "upstream_rate_limited",
            Told::OutOfCredit => "upstream_out_of_credit",
            Told::TooLong => "context_length_exceeded",
            Told::Refused => "upstream_rejected_request",
        }
    }
}

/// How a failure of `class` is told, where its class is the whole story;
/// `None` where the failure's own code says more (a broken or silent
/// stream, a provider error).
pub fn told(class: Class) -> Option<Told> {
    match class {
        Class::RateLimited => Some(Told::RateLimited),
        Class::Overloaded => Some(Told::Overloaded),
        Class::Quota | Class::Billing => Some(Told::OutOfCredit),
        Class::ContextLength => Some(Told::TooLong),
        Class::BadRequest | Class::ContentFilter => Some(Told::Refused),
        _ => None,
    }
}

/// The failure whose verdict on the request is passed on as is, if the
/// chain ended because the request itself was refused: the last attempt,
/// or the rules' refusal in its place (no try, but a stop), when it said
/// stop or was a context-length failure no later target could take (later
/// targets all skipped for a window too small).
pub fn refusal(failures: &[Failure]) -> Option<&Failure> {
    let last = (failures.iter().rev()).find(|f| f.tries > 0 || f.decision == Decision::Stop)?;
    let after_it_only_smaller_windows = failures
        .iter()
        .skip_while(|f| !std::ptr::eq(*f, last))
        .skip(1)
        .all(|f| f.tries == 0 && f.class == Class::ContextLength);
    let refused = match last.decision {
        Decision::Stop => true,
        Decision::NextLarger => after_it_only_smaller_windows,
        _ => false,
    };
    refused.then_some(last)
}

/// The most bytes of request text one token can stand for, in the
/// tokenizers Kimi and OpenRouter's models use: English averages about 4,
/// Chinese fewer; only runs of one repeated character go higher. Dividing
/// by it gives a number of tokens the request certainly exceeds, in
/// practice: a target whose window is smaller is skipped without asking.
const MAX_BYTES_PER_TOKEN: u64 = 8;

/// What [`least_tokens`] can at most be, without reading the body: its
/// length over [`MAX_BYTES_PER_TOKEN`].
pub fn most_tokens(body: &[u8]) -> u64 {
    body.len() as u64 / MAX_BYTES_PER_TOKEN
}

/// A lower bound of the tokens in a request body: its bytes, less inline
/// images (images are counted by the provider in their own way): `data:`
/// URLs (chat, Responses) and the strings of members named `data`
/// (Messages' base64 sources), over [`MAX_BYTES_PER_TOKEN`]. A text left
/// out is only a lower bound lowered.
pub fn least_tokens(body: &[u8]) -> u64 {
    let finder = memchr::memmem::Finder::new(b"\"data");
    let mut inline = 0usize;
    let mut at = 0usize;
    while let Some(found) = finder.find(&body[at..]) {
        let after = at + found + b"\"data".len();
        let start = match body[after..].first() {
            // A data URL: the string is the image.
            Some(b':') => at + found + 1,
            // A member `data`: its string, if it holds one.
            Some(b'"') => match string_after_colon(body, after + 1) {
                Some(start) => start,
                None => {
                    at = after;
                    continue;
                }
            },
            _ => {
                at = after;
                continue;
            }
        };
        // A JSON string ends at the next quote (base64 and a data URL hold
        // none).
        let end = memchr::memchr(b'"', &body[start..]).map_or(body.len(), |n| start + n);
        inline += end - start;
        at = end;
    }
    (body.len() - inline) as u64 / MAX_BYTES_PER_TOKEN
}

/// Where the string that follows a member's key starts (past its colon,
/// whitespace and opening quote), when its value is a string.
fn string_after_colon(body: &[u8], at: usize) -> Option<usize> {
    let blank = |b: &&u8| b.is_ascii_whitespace();
    let rest = &body[at..];
    let colon = rest.len() - rest.iter().skip_while(blank).count();
    (rest.get(colon) == Some(&b':')).then_some(())?;
    let rest = &rest[colon + 1..];
    let quote = rest.len() - rest.iter().skip_while(blank).count();
    (rest.get(quote) == Some(&b'"')).then_some(at + colon + 1 + quote + 1)
}

/// What no `Retry-After` and no cooldown says, when all were rate limited.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The status that means to the client what happened upstream: the
/// provider's own when it refused the request itself; 429 with
/// `Retry-After` when every target was rate limited or overloaded; 504 when
/// all timed out; 402 when all were out of money; 404 when none knew the
/// model (Kimi's `resource_not_found_error`); else 502 (also when all
/// refused the key, with its own code).
pub fn final_status(failures: &[Failure]) -> FinalStatus {
    // A target left untried because the deadline had passed says nothing
    // about why the tried ones failed.
    let telling = || {
        failures
            .iter()
            .filter(|f| !(f.tries == 0 && matches!(f.cause, Cause::DeadlinePassed { .. })))
    };
    let all =
        |test: fn(Class) -> bool| telling().next().is_some() && telling().all(|f| test(f.class));
    let status = |status: u16, code: &'static str| FinalStatus {
        status,
        code,
        retry_after: None,
        told: None,
    };
    let told = |told: Told| FinalStatus {
        status: told.status(),
        code: told.code(),
        retry_after: None,
        told: Some(told),
    };
    // The request itself was refused: content policy, a bad request, or
    // too long for every window there was to try.
    if let Some(refusal) = refusal(failures) {
        return status(refusal.status().unwrap_or(400), "upstream_rejected_request");
    }
    // No target could take the request as it is (too many tools, an
    // image for a text-only model, too long), and none was asked.
    let unsuitable = failures
        .iter()
        .any(|f| matches!(f.cause, Cause::Unsuitable(_)));
    if unsuitable
        && failures
            .iter()
            .all(|f| f.tries == 0 && matches!(f.class, Class::Unsuitable | Class::ContextLength))
    {
        return status(400, "no_target_takes_request");
    }
    // Too long for every window, known before or learnt by trying.
    if failures.iter().all(|f| f.class == Class::ContextLength) {
        let status = failures.iter().find_map(Failure::status).unwrap_or(400);
        return FinalStatus {
            status,
            ..told(Told::TooLong)
        };
    }
    if all(Class::is_rate_limit) {
        let wait = failures
            .iter()
            .filter_map(|f| f.wait)
            .min()
            .unwrap_or(DEFAULT_RETRY_AFTER)
            .max(Duration::from_secs(1));
        let overloaded = telling().all(|f| f.class == Class::Overloaded);
        return FinalStatus {
            retry_after: Some(wait),
            ..told(match overloaded {
                true => Told::Overloaded,
                false => Told::RateLimited,
            })
        };
    }
    // Every provider that was asked found the body too large.
    let tried = || failures.iter().filter(|f| f.tries > 0);
    if tried().next().is_some() && tried().all(|f| f.status() == Some(413)) {
        return status(413, "upstream_request_too_large");
    }
    if all(|c| c == Class::Timeout) {
        return status(504, "upstream_timeout");
    }
    if all(|c| c == Class::Auth) {
        // Not the provider's 401 or 403: the client would read it as its
        // own token refused, and the key to fix is clawgate's.
        return status(502, "upstream_auth_failed");
    }
    if all(|c| matches!(c, Class::Billing | Class::Quota)) {
        return told(Told::OutOfCredit);
    }
    if all(|c| c == Class::NotFound) {
        return status(404, "upstream_model_not_found");
    }
    status(502, "all_providers_failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, error_type: &'static str, message: &'static str) -> Outcome<'static> {
        Outcome::Refused {
            status: (status != 0).then_some(status),
            error_type: (!error_type.is_empty()).then_some(error_type),
            message,
        }
    }

    /// A refusal's status, type and message (0 and "" where it has none),
    /// with the class and decision it should get.
    type Refusal = (u16, &'static str, &'static str, Class, Decision);

    /// Each refusal is classified and decided as its row says.
    fn check_refusals(cases: &[Refusal]) {
        for &(status, error_type, message, class, decision) in cases {
            assert_eq!(
                classify(refused(status, error_type, message)),
                (class, decision),
                "{status} {error_type:?} {message:?}"
            );
        }
    }

    #[test]
    fn every_outcome_in_the_issue_is_classified() {
        use Class::*;
        use Decision::*;
        let cases: &[(Outcome, Class, Decision)] = &[
            (Outcome::Transport, Transport, Retry),
            (Outcome::NotTls, Config, Next),
            (Outcome::Timeout, Timeout, Next),
            (Outcome::MissingKey, Config, Next),
            (Outcome::Redirected, Config, Next),
            (Outcome::InvalidResponse, InvalidResponse, Next),
            (Outcome::TooLarge, TooLarge, Next),
        ];
        for (outcome, class, decision) in cases {
            assert_eq!(classify(*outcome), (*class, *decision), "{outcome:?}");
        }
        let token_limit = "Invalid request: Your request exceeded model token limit: 262144";
        let context = "This model's maximum context length is 8192 tokens";
        let high_risk = "The request was rejected because it was considered high risk";
        #[rustfmt::skip]
        let refusals: &[Refusal] = &[
            (429, "engine_overloaded_error", "The engine is currently overloaded", Overloaded, Retry),
            (429, "rate_limit_reached_error", "max RPM reached", RateLimited, Retry),
            (429, "exceeded_current_quota_error", "You exceeded your current quota", Quota, Next),
            (429, "", "Your account balance is insufficient", Billing, Next),
            (429, "", "Too Many Requests", RateLimited, Retry),
            (402, "", "Insufficient credits", Billing, Next),
            (401, "invalid_authentication_error", "Invalid Authentication", Auth, Next),
            (403, "permission_denied_error", "forbidden", Auth, Next),
            (403, "access_terminated_error", "Kimi For Coding is currently only available for Coding Agents", Config, Next),
            (404, "resource_not_found_error", "Not found the model", NotFound, Next),
            (408, "", "", Timeout, Next),
            (499, "", "", Timeout, Next),
            (504, "", "Gateway Timeout", Timeout, Next),
            (522, "", "", Timeout, Next),
            (524, "", "", Timeout, Next),
            (508, "invalid_request_error", "this request came from this clawgate itself", Config, Next),
            (508, "", "Loop Detected", Config, Next),
            (508, "", "Resource Limit Is Reached", ProviderError, Retry),
            (529, "", "overloaded", Overloaded, Retry),
            (500, "server_error", "boom", ProviderError, Retry),
            (502, "", "Bad Gateway", ProviderError, Retry),
            (503, "", "Service Unavailable", ProviderError, Retry),
            (400, "invalid_request_error", token_limit, ContextLength, NextLarger),
            (400, "invalid_request_error", "Input token length too long", ContextLength, NextLarger),
            (400, "", context, ContextLength, NextLarger),
            (400, "content_filter", high_risk, ContentFilter, Stop),
            (400, "invalid_request_error", "messages: missing", BadRequest, Stop),
            (422, "", "Unprocessable Entity", BadRequest, Stop),
            (413, "", "too big", TooLarge, Next),
            (0, "engine_overloaded_error", "overloaded", Overloaded, Retry),
            (0, "rate_limit_reached_error", "slow down", RateLimited, Retry),
            (0, "server_error", "boom", ProviderError, Retry),
            (0, "", "exceeded model token limit", ContextLength, NextLarger),
            // Anthropic error events inside a 200 stream, by type.
            (0, "overloaded_error", "Overloaded", Overloaded, Retry),
            (0, "rate_limit_error", "slow down", RateLimited, Retry),
            (0, "billing_error", "no", Billing, Next),
            (0, "authentication_error", "bad key", Auth, Next),
            (0, "permission_error", "no", Auth, Next),
            (0, "not_found_error", "no", NotFound, Next),
            (0, "resource_not_found_error", "no", NotFound, Next),
            (0, "timeout_error", "slow", Timeout, Next),
            (0, "invalid_request_error", "bad field", BadRequest, Stop),
            (0, "api_error", "boom", ProviderError, Retry),
            (529, "overloaded_error", "Overloaded", Overloaded, Retry),
        ];
        check_refusals(refusals);
    }

    /// The answers Kimi users met in 2026, verbatim (facts: "Kimi in the
    /// field, 2026"), each told apart from the others.
    #[test]
    fn quota_billing_rate_limits_and_overload_are_told_apart() {
        use Class::*;
        use Decision::*;
        let weekly = "You've reached your weekly (7-day) usage limit. Your quota will reset \
                      when the current 7-day window ends. Upgrade your plan for more quota.";
        let gate = "Kimi For Coding is currently only available for Coding Agents such as \
                    Kimi CLI, Claude Code, Roo Code, Kilo Code, etc.";
        let tpm = "Your account org-abc<ak-def> request reached TPM rate limit, \
                   current:1200345, limit:1000000";
        let suspended = "Your account org-abc<ak-def> is suspended due to insufficient balance, \
                         please recharge your account or check your plan and billing details";
        let overloaded = "The engine is currently overloaded, please try again later";
        #[rustfmt::skip]
        let refusals: &[Refusal] = &[
            // The weekly quota shares the gate's type: quota, not config.
            (403, "access_terminated_error", weekly, Quota, Next),
            (403, "access_terminated_error", gate, Config, Next),
            (429, "rate_limit_error", "You've reached your 5h limit", Quota, Next),
            (429, "", "5-hour limit reached, resets at 14:00", Quota, Next),
            (429, "exceeded_current_quota_error", suspended, Billing, Next),
            (429, "engine_overloaded_error", overloaded, Overloaded, Retry),
            (429, "rate_limit_reached_error", tpm, RateLimited, Retry),
            // The Anthropic endpoint's type for a rate limit.
            (429, "rate_limit_error", "Too many requests", RateLimited, Retry),
            // Inside a stream: a quota in a rate-limit type is still quota.
            (0, "rate_limit_error", weekly, Quota, Next),
            (0, "rate_limit_error", tpm, RateLimited, Retry),
            // OpenRouter's code inside a 200 is an HTTP status, read as
            // the type: that status's class, whatever the text.
            (0, "429", "Provider returned error", RateLimited, Retry),
            (0, "402", "Provider returned error", Billing, Next),
            (0, "400", "Provider returned error", BadRequest, Stop),
            (0, "401", "Provider returned error", Auth, Next),
            (0, "503", "Provider returned error", ProviderError, Retry),
            (0, "42", "Provider returned error", ProviderError, Retry),
        ];
        check_refusals(refusals);
        assert_eq!(
            rate_limit_figures(tpm).as_deref(),
            Some("TPM current=1200345 limit=1000000")
        );
        assert_eq!(rate_limit_figures("Too many requests"), None);
        assert_eq!(rate_limit_figures("reached TPM rate limit"), None);
        assert_eq!(
            rate_limit_figures(" rate limit, current:1, limit:2"),
            None,
            "no kind"
        );
    }

    #[test]
    fn each_class_says_the_right_thing_to_do() {
        let quota = hint(Class::Quota, refused(403, "", "")).unwrap();
        assert!(quota.contains("quota") && quota.contains("the key is fine"));
        assert!(!quota.contains("check the provider's API key"));
        for (class, status, words) in [
            (Class::Billing, 429, "top it up"),
            (Class::RateLimited, 429, "backs off"),
            (Class::Overloaded, 429, "retries"),
            (Class::Config, 403, "User-Agent"),
        ] {
            let said = hint(class, refused(status, "", "")).unwrap();
            assert!(said.contains(words), "{class:?}: {said}");
        }
        assert_eq!(class_hint(Class::Timeout), None);
        assert_eq!(
            class_hint(Class::Quota),
            hint(Class::Quota, refused(0, "", ""))
        );
    }

    #[test]
    fn a_quota_cools_down_until_the_reset_it_announced() {
        let hour = Duration::from_secs(3600);
        let day = Some(Duration::from_secs(86_400));
        assert_eq!(cooldown(Class::Quota, 1, day), day);
        assert_eq!(cooldown(Class::Quota, 9, None), Some(hour));
        assert_eq!(
            cooldown(Class::Billing, 1, day),
            Some(Duration::from_secs(600)),
            "billing has no window"
        );
    }

    /// Issue 23 item 3: an attempt cut because its headers or body did not
    /// arrive in time is a timeout (no retry on the same target, counted
    /// towards its cooldown), whatever status came before the stall.
    #[test]
    fn a_stall_is_a_timeout_whatever_the_status() {
        let after = Duration::from_secs(20);
        let stalls = [
            AttemptError::Timeout {
                waiting_for: "response headers",
                after,
            },
            AttemptError::Timeout {
                waiting_for: "first event",
                after,
            },
            AttemptError::StalledErrorBody {
                status: reqwest::StatusCode::SERVICE_UNAVAILABLE,
                after,
            },
            AttemptError::StalledErrorBody {
                status: reqwest::StatusCode::TOO_MANY_REQUESTS,
                after,
            },
            AttemptError::StalledErrorBody {
                status: reqwest::StatusCode::BAD_REQUEST,
                after,
            },
        ];
        for stall in &stalls {
            assert_eq!(
                classify(Outcome::of(stall)),
                (Class::Timeout, Decision::Next),
                "{stall}"
            );
            assert!(Class::Timeout.counts_against_target());
        }
        assert_eq!(
            cooldown(Class::Timeout, PASSING_FAILURES_TO_OPEN, None),
            Some(Duration::from_secs(30))
        );
    }

    /// A 413 is this provider's limit: the next one may take the body.
    #[test]
    fn a_body_too_large_for_one_provider_moves_on() {
        assert_eq!(
            classify(refused(413, "", "Request Entity Too Large")),
            (Class::TooLarge, Decision::Next)
        );
        assert_eq!(
            classify(refused(
                413,
                "",
                "the context length of this model is exceeded"
            )),
            (Class::ContextLength, Decision::NextLarger)
        );
        assert!(!Class::TooLarge.counts_against_target());
    }

    #[test]
    fn configuration_failures_say_what_to_fix() {
        let (gate, _) = classify(refused(
            403,
            "access_terminated_error",
            "only for Coding Agents",
        ));
        let said = |class, outcome| hint(class, outcome).unwrap();
        assert!(said(gate, refused(403, "", "")).contains("User-Agent"));
        assert!(said(Class::Auth, refused(401, "", "")).contains("API key"));
        assert_eq!(hint(Class::Timeout, refused(0, "", "")), None);
        assert_eq!(hint(Class::ProviderError, refused(500, "", "")), None);
        let config = |outcome| said(Class::Config, outcome);
        assert!(config(Outcome::MissingKey).contains("API key variable"));
        assert!(config(Outcome::Redirected).contains("redirects are not followed"));
        assert!(config(Outcome::NotTls).contains("write its baseUrl with http://"));
    }

    #[test]
    fn cooldowns_grow_and_differ_by_class() {
        let secs = |s: u64| Some(Duration::from_secs(s));
        let cases: &[(Class, u32, Option<Duration>, Option<Duration>)] = &[
            (Class::Timeout, 1, None, None),
            (Class::Timeout, 2, None, secs(30)),
            (Class::Timeout, 3, None, secs(60)),
            (Class::Timeout, 4, None, secs(300)),
            (Class::Timeout, 40, None, secs(300)),
            (Class::RateLimited, 1, secs(90), None),
            (Class::RateLimited, 2, secs(90), secs(90)),
            (Class::Overloaded, 2, None, secs(30)),
            (Class::Auth, 1, None, secs(600)),
            (Class::Auth, 2, None, secs(1200)),
            (Class::Billing, 3, None, secs(2400)),
            (Class::Quota, 9, None, secs(3600)),
            (Class::Config, 1, None, secs(600)),
            (Class::NotFound, 1, None, secs(600)),
            (Class::BadRequest, 5, None, None),
            (Class::ContextLength, 5, None, None),
            (Class::ContentFilter, 5, None, None),
            (Class::TooLarge, 5, None, None),
        ];
        for (class, consecutive, retry_after, expected) in cases {
            assert_eq!(
                cooldown(*class, *consecutive, *retry_after),
                *expected,
                "{class:?} x{consecutive}"
            );
        }
    }

    #[test]
    fn a_failure_is_told_by_its_class_before_and_after_the_first_byte() {
        use crate::config::ModelRef;
        let cases = [
            (Class::RateLimited, Some(Told::RateLimited)),
            (Class::Overloaded, Some(Told::Overloaded)),
            (Class::Quota, Some(Told::OutOfCredit)),
            (Class::Billing, Some(Told::OutOfCredit)),
            (Class::Timeout, None),
            (Class::Transport, None),
            (Class::ProviderError, None),
            (Class::InvalidResponse, None),
            (Class::TooLarge, None),
            (Class::ContextLength, Some(Told::TooLong)),
            (Class::BadRequest, Some(Told::Refused)),
            (Class::ContentFilter, Some(Told::Refused)),
            (Class::Unsuitable, None),
        ];
        let failed = |class: Class| Failure {
            model_ref: ModelRef::new("p", "m"),
            url: String::new(),
            cause: Cause::Attempt(AttemptError::Connect("x".into())),
            class,
            decision: match class {
                Class::BadRequest | Class::ContentFilter => Decision::Stop,
                _ => Decision::Next,
            },
            wait: None,
            tries: 1,
        };
        for (class, expected) in cases {
            assert_eq!(told(class), expected, "{class:?}");
            // Before the first byte, a chain that failed so is told the
            // same, with the status and code that go with it (a refusal
            // with the provider's own type, where it said one).
            if let Some(told) = expected {
                let verdict = final_status(&[failed(class)]);
                if told != Told::Refused {
                    assert_eq!(verdict.told, Some(told), "{class:?}");
                }
                assert_eq!((verdict.status, verdict.code), (told.status(), told.code()));
            }
        }
        // Overloaded only when every target was.
        let mixed = final_status(&[failed(Class::Overloaded), failed(Class::RateLimited)]);
        assert_eq!(mixed.told, Some(Told::RateLimited));
        let words = |told: Told| (told.status(), told.kind(), told.code());
        assert_eq!(
            words(Told::Overloaded),
            (429, "rate_limit_error", "upstream_rate_limited")
        );
        assert_eq!(
            words(Told::OutOfCredit),
            (402, "insufficient_quota", "upstream_out_of_credit")
        );
    }

    #[test]
    fn targets_left_untried_by_the_deadline_do_not_change_the_final_status() {
        use crate::config::ModelRef;
        let failure =
            |name: &str, cause: Cause, class: Class, wait: Option<u64>, tries: u32| Failure {
                model_ref: ModelRef::new(name, "m"),
                url: String::new(),
                cause,
                class,
                decision: Decision::Next,
                wait: wait.map(Duration::from_secs),
                tries,
            };
        let limited = || {
            failure(
                "a",
                Cause::Attempt(AttemptError::Connect("x".into())),
                Class::RateLimited,
                Some(8),
                2,
            )
        };
        let untried = || {
            failure(
                "b",
                Cause::DeadlinePassed {
                    after: Duration::from_secs(90),
                },
                Class::Timeout,
                None,
                0,
            )
        };
        let got = final_status(&[limited(), untried()]);
        assert_eq!(
            (got.status, got.code, got.retry_after),
            (429, "upstream_rate_limited", Some(Duration::from_secs(8)))
        );
        // Untried targets alone would say nothing; a tried timeout does.
        let timed_out = failure(
            "c",
            Cause::Attempt(AttemptError::Connect("x".into())),
            Class::Timeout,
            None,
            1,
        );
        assert_eq!(final_status(&[timed_out, untried()]).status, 504);
        assert_eq!(
            final_status(&[
                limited(),
                failure(
                    "d",
                    Cause::Attempt(AttemptError::Connect("x".into())),
                    Class::Transport,
                    None,
                    1
                )
            ])
            .status,
            502
        );
    }

    #[test]
    fn the_least_tokens_of_a_request_leave_inline_images_out() {
        let text = |n: usize| {
            format!(
                r#"{{"messages":[{{"role":"user","content":"{}"}}]}}"#,
                "a".repeat(n)
            )
        };
        let plain = text(8000);
        assert_eq!(least_tokens(plain.as_bytes()), plain.len() as u64 / 8);
        let image = format!(
            r#"{{"messages":[{{"role":"user","content":[{{"type":"image_url","image_url":{{"url":"data:image/png;base64,{}"}}}}]}}]}}"#,
            "A".repeat(1_000_000)
        );
        assert!(least_tokens(image.as_bytes()) < 20, "an image is not text");
        // A Messages image: its base64 source's `data`, however spaced.
        for colon in [":", " : "] {
            let image = format!(
                r#"{{"messages":[{{"role":"user","content":[{{"type":"image","source":{{"type":"base64","media_type":"image/png","data"{colon}"{}"}}}}]}}]}}"#,
                "A".repeat(1_000_000)
            );
            assert!(least_tokens(image.as_bytes()) < 20, "an image is not text");
        }
        // A member `data` that holds no string, and a key that only starts
        // so, are text.
        let other = format!(r#"{{"data":[1],"database":"{}"}}"#, "a".repeat(8000));
        assert_eq!(least_tokens(other.as_bytes()), other.len() as u64 / 8);
        // A quote-less tail (not JSON) still ends the scan.
        assert_eq!(least_tokens(br#""data:abc"#), 0);
        assert_eq!(least_tokens(b""), 0);
    }
}
