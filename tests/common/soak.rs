//! The soak scenario shared by `tests/soak.rs` (a small count, in CI) and
//! `benches/soak.rs` (1,000 requests against a real `clawgate serve`):
//! concurrent streaming requests through a chain of `--chaos` mocks, each
//! of which fails at a random point or not at all.

use std::time::{Duration, Instant};

use clawgate_mock::{MockOptions, MockServer};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// The gateway's timeouts for a soak: short enough for it to end quickly,
/// long enough for the machine to open every connection in time.
#[derive(Debug, Clone, Copy)]
pub struct SoakTimeouts {
    pub first_byte: f64,
    pub chain: f64,
}

impl SoakTimeouts {
    /// The CI soak's: a few hundred requests.
    pub const SMALL: Self = Self {
        first_byte: 0.3,
        chain: 1.5,
    };
    /// The full soak's: a thousand requests, their connections opened at
    /// once on one machine.
    pub const LARGE: Self = Self {
        first_byte: 3.0,
        chain: 12.0,
    };

    pub fn gateway_settings(self) -> Value {
        json!({
            "timeouts": {"firstByteSeconds": self.first_byte, "idleSeconds": self.first_byte,
                         "chainSeconds": self.chain},
            "retries": {"perTarget": 1, "backoffBaseSeconds": 0.01, "backoffMaxSeconds": 0.05},
            "limits": {"maxConcurrentRequests": 4096},
        })
    }

    /// The most one request may take: the chain deadline (its first event),
    /// one idle timeout while streaming, and slack for a loaded machine.
    pub fn bound(self) -> Duration {
        Duration::from_secs_f64(self.chain + self.first_byte + 5.0)
    }
}

/// Three chaos mocks, and the `models` section chaining them.
pub async fn chaos_providers() -> (Vec<MockServer>, Value) {
    let mut mocks = Vec::new();
    let mut providers = serde_json::Map::new();
    for name in ["a", "b", "c"] {
        let mock = MockServer::start(MockOptions {
            chaos: true,
            ..MockOptions::default()
        })
        .await
        .expect("a mock starts");
        // `b` speaks Anthropic Messages: its faults come as its events.
        let api = match name {
            "b" => "anthropic-messages",
            _ => "openai-completions",
        };
        providers.insert(
            name.into(),
            json!({"baseUrl": mock.base_url(), "apiKey": "sk-soak-0123456789", "api": api,
                   "models": [{"id": "m"}]}),
        );
        mocks.push(mock);
    }
    let models = json!({"mode": "replace", "providers": providers});
    (mocks, models)
}

pub fn chaos_routing() -> Value {
    json!({"defaults": {"model": {"primary": "a/m", "fallbacks": ["b/m", "c/m"]}}})
}

/// How the requests of a soak ended.
#[derive(Debug, Default)]
pub struct SoakReport {
    /// A 200 stream ending in `[DONE]` with the whole reply.
    pub complete: usize,
    /// An error status with an OpenAI error body, or a stream ending in an
    /// error event.
    pub explicit_errors: usize,
    /// Explicit errors by their `error.code`.
    pub error_codes: std::collections::BTreeMap<String, usize>,
    /// Anything else: a hang past the bound, a silent end, a broken
    /// connection. Must be zero.
    pub unexplained: Vec<String>,
    pub slowest: Duration,
}

/// Sends `count` concurrent streaming requests to `url` and sorts out how
/// each ended (past `timeouts.bound()` is unexplained).
pub async fn soak(url: &str, count: usize, timeouts: SoakTimeouts) -> SoakReport {
    let bound = timeouts.bound();
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let (client, url) = (client.clone(), url.to_string());
            tokio::spawn(async move {
                let started = Instant::now();
                let ending = tokio::time::timeout(bound, one(&client, &url)).await;
                (
                    ending.unwrap_or(Ending::Unexplained("no end within the bound".into())),
                    started.elapsed(),
                )
            })
        })
        .collect();
    let mut report = SoakReport::default();
    for task in tasks {
        let (ending, elapsed) = task.await.expect("a soak request does not panic");
        report.slowest = report.slowest.max(elapsed);
        match ending {
            Ending::Complete => report.complete += 1,
            Ending::Error(code) => {
                report.explicit_errors += 1;
                *report.error_codes.entry(code).or_default() += 1;
            }
            Ending::Unexplained(why) => report.unexplained.push(why),
        }
    }
    report
}

enum Ending {
    Complete,
    /// With the error's code.
    Error(String),
    Unexplained(String),
}

async fn one(client: &reqwest::Client, url: &str) -> Ending {
    let request = json!({"messages": [{"role": "user", "content": "hi"}], "stream": true});
    let response = match client.post(url).json(&request).send().await {
        Ok(response) => response,
        Err(err) => return Ending::Unexplained(format!("request failed: {err}")),
    };
    let status = response.status();
    let mut body = response.bytes_stream();
    let mut text = Vec::new();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => text.extend_from_slice(&chunk),
            Err(err) => return Ending::Unexplained(format!("the body broke: {err}")),
        }
    }
    let text = String::from_utf8_lossy(&text);
    if !status.is_success() {
        let body: Value = serde_json::from_str(&text).unwrap_or_default();
        return if let Some(code) = body["error"]["code"].as_str() {
            Ending::Error(format!("{} {code}", status.as_u16()))
        } else {
            Ending::Unexplained(format!("{status} without an error body: {text}"))
        };
    }
    let events: Vec<&str> = text
        .split("\n\n")
        .filter_map(|event| event.lines().find_map(|line| line.strip_prefix("data: ")))
        .collect();
    match events.last() {
        Some(&"[DONE]") => {
            let content: String = events
                .iter()
                .filter_map(|e| serde_json::from_str::<Value>(e).ok())
                .filter_map(|c| {
                    c["choices"][0]["delta"]["content"]
                        .as_str()
                        .map(str::to_string)
                })
                .collect();
            if content == "Hello from clawgate-mock." {
                Ending::Complete
            } else {
                Ending::Unexplained(format!("[DONE] after a partial answer: {content:?}"))
            }
        }
        Some(last) => match serde_json::from_str::<Value>(last) {
            Ok(event) if event["error"].is_object() => Ending::Error(format!(
                "event {}",
                event["error"]["code"].as_str().unwrap_or("?")
            )),
            _ => Ending::Unexplained(format!("a stream without an end: {text}")),
        },
        _ => Ending::Unexplained(format!("a stream without an end: {text}")),
    }
}
