//! Operations: the environment the service is given, what it tells
//! systemd, how it logs, the metrics it exports, the traces it sends,
//! keeping secrets out of all of them, and giving memory back after a burst.

pub mod env;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod redact;
pub mod scrub;
pub mod systemd;
pub mod telemetry;
pub mod throttle;

/// `text`, then each of `err`'s causes after `: `: an error and what led
/// to it, on one line.
pub fn with_causes(mut text: String, err: &dyn std::error::Error) -> String {
    for cause in std::iter::successors(err.source(), |cause| cause.source()) {
        text.push_str(": ");
        text.push_str(&cause.to_string());
    }
    text
}

/// The innermost of `err`'s causes (`err` itself when it has none): what
/// went wrong in its own words (`Connection refused`).
pub fn root_cause(err: &dyn std::error::Error) -> &dyn std::error::Error {
    std::iter::successors(Some(err), |cause| cause.source())
        .last()
        .unwrap_or(err)
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner(#[source] std::fmt::Error);

    #[test]
    fn an_error_is_told_with_each_of_its_causes_in_turn() {
        let err = Outer(Inner(std::fmt::Error));
        assert_eq!(
            super::with_causes("could not connect".into(), &err),
            format!("could not connect: inner: {}", std::fmt::Error)
        );
        assert_eq!(
            super::with_causes("alone".into(), &std::fmt::Error),
            "alone"
        );
    }
}
