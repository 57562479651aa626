//! `clawgate agent`: one message through the fallback chain, without a server.

use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};

use super::{CliError, SourceArgs, print_json, report};
use crate::capabilities::ThinkingLevel;
use crate::chain::AttemptReport;
use crate::config::Secrets;
use crate::gateway::{CompletionError, Gateway};
use crate::ledger::Pricing;
use crate::providers::response::shape_completion;
use crate::upstream::Reply;
use crate::wire::openai::{ChatRequest, message_text};
use crate::wire::usage::Usage;

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The user message to send.
    #[arg(long)]
    message: String,
    /// A ref or alias; default: agents.defaults.model.primary.
    #[arg(long)]
    model: Option<String>,
    /// Thinking level: off, minimal, low, medium or high.
    #[arg(long, value_name = "LEVEL")]
    thinking: Option<ThinkingLevel>,
    /// Print the answer, reasoning, usage and every attempt as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn agent(args: AgentArgs) -> Result<ExitCode, CliError> {
    // Offline: a provider without its key fails its attempt (and the chain
    // moves on) instead of refusing the whole run.
    let (source, loaded) = args.source.load(Secrets::Offline)?;
    report(&source, &loaded);
    let gateway = Gateway::new(loaded.config).map_err(|e| CliError::Other(e.to_string()))?;
    let mut body =
        json!({"messages": [{"role": "user", "content": args.message}], "stream": false});
    if let Some(model) = &args.model {
        body["model"] = json!(model);
    }
    if let Some(level) = args.thinking {
        body["reasoning_effort"] = json!(level.as_effort());
    }
    let request =
        ChatRequest::parse(body.to_string()).map_err(|e| CliError::Other(e.to_string()))?;
    match gateway.complete(&gateway.config(), request).await {
        Ok(answer) => {
            let Reply::Complete {
                completion: mut response,
                ..
            } = answer.reply
            else {
                return Err(CliError::Other(
                    "the provider streamed an answer to a non-streaming request".into(),
                ));
            };
            shape_completion(&mut response, &Pricing::of(&answer.target.model));
            let response = &response;
            // Scrubbed as a served answer's bytes are (`http::stream::Outgoing`):
            // a key the model spells out whole is never printed.
            let redactor = &gateway.config().redactor;
            let scrubbed = |text: String| match redactor.scrubber().scrub(text.as_bytes()) {
                std::borrow::Cow::Borrowed(_) => text,
                std::borrow::Cow::Owned(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            };
            let (text, reasoning) = message_text(response);
            let (text, reasoning) = (scrubbed(text), reasoning.map(scrubbed));
            if args.json {
                let mut attempts: Vec<Value> = answer
                    .failures
                    .iter()
                    .map(|f| json!(AttemptReport::from(f)))
                    .collect();
                attempts.push(json!({"provider": answer.target.model_ref.provider(),
                    "model": answer.target.model_ref.as_str(), "outcome": "ok"}));
                let value = json!({
                    "provider": answer.target.model_ref.provider(),
                    "model": answer.target.model_ref.as_str(),
                    "text": text,
                    "reasoning": reasoning,
                    "usage": Usage::of(response).unwrap_or_default(),
                    "attempts": attempts,
                });
                print_json(&value);
            } else {
                outln!("{text}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(CompletionError::UnknownModel(unknown)) => Err(CliError::Other(unknown.to_string())),
        Err(CompletionError::Failed(failures)) => {
            let attempts = crate::chain::reports(&failures);
            if args.json {
                let value =
                    json!({"error": "every provider in the chain failed", "attempts": attempts});
                print_json(&value);
            } else {
                errln!("error: every provider in the chain failed:");
                for failure in &failures {
                    errln!(
                        "  {} ({}): {}",
                        failure.model_ref,
                        failure.url,
                        failure.cause
                    );
                }
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
