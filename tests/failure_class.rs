//! One failure, one class: an upstream overload (Moonshot's
//! `engine_overloaded_error`, the Anthropic transport's `overloaded_error`)
//! or rate limit is told to the client in the same words before the first
//! byte (the chain's final status) and after it (the error event that ends
//! the stream), on each front end and over both transports.

mod common;

use clawgate_mock::{MockOptions, MockServer};
use common::*;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy)]
enum Front {
    Chat,
    Messages,
    Responses,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Failure {
    Overloaded,
    RateLimited,
}

#[derive(Debug, Clone, Copy)]
enum Transport {
    OpenAi,
    Anthropic,
}

impl Transport {
    /// The provider's error type for `failure`, and the status it answers
    /// with before a stream.
    fn failure(self, failure: Failure) -> (&'static str, u16) {
        match (self, failure) {
            (Transport::OpenAi, Failure::Overloaded) => ("engine_overloaded_error", 429),
            (Transport::OpenAi, Failure::RateLimited) => ("rate_limit_reached_error", 429),
            (Transport::Anthropic, Failure::Overloaded) => ("overloaded_error", 529),
            (Transport::Anthropic, Failure::RateLimited) => ("rate_limit_error", 429),
        }
    }

    /// An event after which the stream has started.
    fn started_after(self) -> usize {
        match self {
            Transport::OpenAi => 3,
            Transport::Anthropic => 6,
        }
    }

    fn provider(self, mock: &MockServer) -> Value {
        match self {
            Transport::OpenAi => provider(mock),
            Transport::Anthropic => json!({"baseUrl": format!("http://{}/", mock.addr),
                "apiKey": KEY, "api": "anthropic-messages", "models": [{"id": "m"}]}),
        }
    }
}

impl Front {
    async fn send(self, gw: &TestGateway) -> reqwest::Response {
        match self {
            Front::Chat => {
                gw.chat(json!({"model": "p/m", "stream": true, "messages": user_message()}))
                    .await
            }
            Front::Messages => {
                gw.messages(json!({"model": "p/m", "stream": true, "max_tokens": 100,
                                   "messages": user_message()}))
                    .await
            }
            Front::Responses => {
                gw.responses(json!({"model": "p/m", "stream": true, "input": "hi"}))
                    .await
            }
        }
    }

    /// What the client is told of a failure before the first byte: the
    /// status, and the class in this front end's words.
    async fn before(self, response: reqwest::Response) -> (u16, Value) {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        let words = match self {
            Front::Chat | Front::Responses => json!([body["error"]["type"], body["error"]["code"]]),
            Front::Messages => json!(body["error"]["type"]),
        };
        (status, words)
    }

    /// What it is told after the first byte: the stream's last event, in
    /// the same words.
    async fn after(self, response: reqwest::Response) -> Value {
        assert_eq!(response.status(), 200, "{self:?}");
        let text = response.text().await.unwrap();
        match self {
            Front::Chat => {
                let data = sse_data(&text);
                let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
                json!([last["error"]["type"], last["error"]["code"]])
            }
            Front::Messages => {
                let events = sse_events(&text);
                let (name, last) = events.last().unwrap();
                assert_eq!(name, "error", "{text}");
                json!(last["error"]["type"])
            }
            Front::Responses => {
                let events = sse_events(&text);
                let (name, last) = events.last().unwrap();
                assert_eq!(name, "response.failed", "{text}");
                last["response"]["error"]["code"].clone()
            }
        }
    }

    /// The words for `failure`: before the first byte (with a 429), and
    /// after it.
    fn expected(self, failure: Failure) -> (Value, Value) {
        match (self, failure) {
            (Front::Chat, _) => {
                let words = json!(["rate_limit_error", "upstream_rate_limited"]);
                (words.clone(), words)
            }
            (Front::Messages, Failure::Overloaded) => {
                (json!("overloaded_error"), json!("overloaded_error"))
            }
            (Front::Messages, Failure::RateLimited) => {
                (json!("rate_limit_error"), json!("rate_limit_error"))
            }
            // Codex reads the status before the stream, the code in it:
            // a 429 and `rate_limit_exceeded` both make it wait and retry.
            (Front::Responses, _) => (
                json!(["rate_limit_error", "upstream_rate_limited"]),
                json!("rate_limit_exceeded"),
            ),
        }
    }
}

async fn single(transport: Transport, options: MockOptions) -> (MockServer, TestGateway) {
    let upstream = mock(options).await;
    let gw = gateway(json!({
        "gateway": {"retries": {"perTarget": 0}},
        "models": {"mode": "replace", "providers": {"p": transport.provider(&upstream)}},
        "agents": {"defaults": {"model": {"primary": "p/m"}}},
    }))
    .await;
    (upstream, gw)
}

#[tokio::test]
async fn an_overload_or_rate_limit_is_told_alike_before_and_after_the_first_byte() {
    for transport in [Transport::OpenAi, Transport::Anthropic] {
        for failure in [Failure::Overloaded, Failure::RateLimited] {
            let (kind, status) = transport.failure(failure);
            let (_before_mock, before_gw) = single(
                transport,
                MockOptions {
                    fail_status: Some(status),
                    fail_type: kind.into(),
                    ..MockOptions::default()
                },
            )
            .await;
            let (_after_mock, after_gw) = single(
                transport,
                MockOptions {
                    error_after_chunks: Some(transport.started_after()),
                    fail_type: kind.into(),
                    fail_message: "try again later".into(),
                    ..MockOptions::default()
                },
            )
            .await;
            for front in [Front::Chat, Front::Messages, Front::Responses] {
                let case = format!("{transport:?} {failure:?} {front:?}");
                let (expected_before, expected_after) = front.expected(failure);
                let (got_status, before) = front.before(front.send(&before_gw).await).await;
                assert_eq!(got_status, 429, "{case}");
                assert_eq!(before, expected_before, "{case}: before the first byte");
                let after = front.after(front.send(&after_gw).await).await;
                assert_eq!(after, expected_after, "{case}: after the first byte");
            }
        }
    }
}
