//! The fallback chain: a plain loop over a request's targets that sends one
//! attempt each, keeps every failure, and stops at the first answer or at a
//! failure that another provider could not fix.
//!
//! This is the one place attempt failures are logged and counted.

use std::time::Instant;

use serde::Serialize;

use crate::config::{Limits, ModelRef, Target, Timeouts};
use crate::ops::metrics;
use crate::ops::redact::Redactor;
use crate::providers;
use crate::upstream::{AttemptError, Reply, Upstream};
use crate::wire::openai::ChatRequest;

/// A failed attempt.
#[derive(Debug, Clone)]
pub struct Failure {
    pub model_ref: ModelRef,
    pub error: AttemptError,
}

/// The successful end of a chain.
pub struct Answer {
    pub target: Target,
    /// The attempts that failed before this one.
    pub failures: Vec<Failure>,
    pub reply: Reply,
}

impl Answer {
    pub fn attempts(&self) -> usize {
        self.failures.len() + 1
    }
}

/// An attempt as reported to clients and by `clawgate agent --json`.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptReport {
    pub provider: String,
    pub model: String,
    /// `ok` or the failure kind.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl From<&Failure> for AttemptReport {
    fn from(failure: &Failure) -> Self {
        AttemptReport {
            provider: failure.model_ref.provider().to_string(),
            model: failure.model_ref.to_string(),
            outcome: failure.error.kind().label(),
            status: failure.error.status().map(|s| s.as_u16()),
            error_type: failure.error.error_type().map(str::to_string),
            message: Some(failure.error.to_string()),
        }
    }
}

/// Tries `chain` in order. `Err` holds every failure, the last of which
/// either could not fall over or ended the chain.
pub async fn run(
    upstream: &Upstream,
    chain: &[Target],
    request: ChatRequest,
    timeouts: &Timeouts,
    limits: &Limits,
    redactor: &Redactor,
) -> Result<Answer, Vec<Failure>> {
    let stream = request.stream;
    let mut failures = Vec::new();
    for (index, target) in chain.iter().enumerate() {
        // Each target gets the client's request with its own rules' edits,
        // in its provider's protocol (see `providers::transport`).
        let edits = providers::edits(&request, target);
        let body = providers::transport::body(&request, target, &edits, stream);

        let provider = target.model_ref.provider();
        let model = target.model_ref.as_str();
        let started = Instant::now();
        let result = match body {
            Ok(body) => {
                upstream
                    .attempt(target, body, stream, timeouts, limits, redactor)
                    .await
            }
            // A body clawgate will not send fails like a provider's refusal.
            Err(refused) => Err(refused.into()),
        };
        match result {
            Ok(reply) => {
                metrics::attempt(provider, model, "ok", started.elapsed());
                if index > 0 {
                    metrics::fallback(provider, model);
                    tracing::info!(
                        provider,
                        model,
                        attempt = index + 1,
                        "answered by fallback {model} (attempt {})",
                        index + 1
                    );
                }
                return Ok(Answer {
                    target: target.clone(),
                    failures,
                    reply,
                });
            }
            Err(error) => {
                let kind = error.kind();
                metrics::attempt(provider, model, kind.label(), started.elapsed());
                tracing::warn!(
                    provider,
                    model,
                    attempt = index + 1,
                    kind = kind.label(),
                    status = error.status().map(|s| s.as_u16()),
                    error_type = error.error_type(),
                    falls_over = kind.falls_over(),
                    "attempt {} failed: {model}: {}: {error}",
                    index + 1,
                    kind.label()
                );
                failures.push(Failure {
                    model_ref: target.model_ref.clone(),
                    error,
                });
                if !kind.falls_over() {
                    break;
                }
            }
        }
    }
    Err(failures)
}
