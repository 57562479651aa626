//! The small shared vocabulary of providers and models: which dialect a
//! provider speaks and over which transport, OpenClaw's thinking levels,
//! and the output-limit field a model expects. A leaf: it imports nothing
//! from the rest of the crate, so `config` and the provider rules can both
//! use it without importing each other.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    /// Moonshot's open platform, `api.moonshot.ai` and `api.moonshot.cn`.
    Moonshot,
    /// Kimi Coding, `api.kimi.com/coding`: Moonshot's rules plus an access
    /// gate on the `User-Agent`.
    KimiCoding,
    /// Spelt as the `dialect` key takes it (not kebab-case's `open-router`).
    #[serde(rename = "openrouter")]
    OpenRouter,
    /// Any other OpenAI-compatible endpoint: requests pass as they are.
    Generic,
}

/// The wire protocol a provider speaks (OpenClaw's `api` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Api {
    /// OpenAI chat completions: `POST {baseUrl}/chat/completions`.
    #[serde(rename = "openai-completions")]
    OpenAiCompletions,
    /// Anthropic Messages: `POST {baseUrl}/v1/messages`, `baseUrl` given
    /// without `/v1` as OpenClaw writes it.
    #[serde(rename = "anthropic-messages")]
    AnthropicMessages,
}

impl Api {
    /// Every transport: where a list of them is needed, it is this one.
    pub const ALL: [Api; 2] = [Api::OpenAiCompletions, Api::AnthropicMessages];

    /// The `api` key's spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "openai-completions" => Some(Api::OpenAiCompletions),
            "anthropic-messages" => Some(Api::AnthropicMessages),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Api::OpenAiCompletions => "openai-completions",
            Api::AnthropicMessages => "anthropic-messages",
        }
    }
}

/// Where a provider's dialect was learnt, in the order it is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DialectSource {
    /// The provider entry's `dialect` key.
    Config,
    /// A well-known endpoint host.
    Host,
    /// A well-known provider id (`moonshot`, `kimi-code`, ...).
    ProviderId,
    /// Nothing known: plain OpenAI-compatible.
    Default,
}

/// A `User-Agent` Kimi Coding accepts; sent when the config sets none.
pub const KIMI_CODING_USER_AGENT: &str = "KimiCLI/0.77";

/// The `User-Agent` OpenClaw sends to Kimi Coding's Anthropic endpoint,
/// which applies the same coding-agent gate.
pub const KIMI_CODING_ANTHROPIC_USER_AGENT: &str = "claude-code/0.1.0";

impl Dialect {
    /// The dialect of a provider: its `dialect` key, else its host, else its
    /// id, else generic. A provider called `moonshot` behind a proxy still
    /// gets Moonshot's rules.
    pub fn resolve(
        explicit: Option<Dialect>,
        base_url: Option<&reqwest::Url>,
        provider_id: &str,
    ) -> (Self, DialectSource) {
        if let Some(dialect) = explicit {
            return (dialect, DialectSource::Config);
        }
        let by_host = match base_url.and_then(|url| url.host_str()) {
            Some("api.moonshot.ai" | "api.moonshot.cn") => Some(Dialect::Moonshot),
            Some("api.kimi.com") => Some(Dialect::KimiCoding),
            Some("openrouter.ai") => Some(Dialect::OpenRouter),
            _ => None,
        };
        if let Some(dialect) = by_host {
            return (dialect, DialectSource::Host);
        }
        match provider_id.to_ascii_lowercase().as_str() {
            "moonshot" | "moonshot-cn" => (Dialect::Moonshot, DialectSource::ProviderId),
            "kimi" | "kimi-coding" | "kimi-code" | "kimicode" => {
                (Dialect::KimiCoding, DialectSource::ProviderId)
            }
            "openrouter" => (Dialect::OpenRouter, DialectSource::ProviderId),
            _ => (Dialect::Generic, DialectSource::Default),
        }
    }

    /// The `dialect` key's spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "moonshot" => Some(Dialect::Moonshot),
            "kimi-coding" => Some(Dialect::KimiCoding),
            "openrouter" => Some(Dialect::OpenRouter),
            "openai" | "generic" => Some(Dialect::Generic),
            _ => None,
        }
    }

    pub fn is_kimi(self) -> bool {
        matches!(self, Dialect::Moonshot | Dialect::KimiCoding)
    }

    /// The built-in provider whose catalog entries describe this dialect's
    /// models.
    pub fn catalog_provider(self) -> Option<&'static str> {
        match self {
            Dialect::Moonshot => Some("moonshot"),
            Dialect::KimiCoding => Some("kimi"),
            Dialect::OpenRouter => Some("openrouter"),
            Dialect::Generic => None,
        }
    }

    /// Headers the provider needs that the user's config may leave out,
    /// for the protocol it is reached over.
    pub fn default_headers(self, api: Api) -> &'static [(&'static str, &'static str)] {
        match self {
            Dialect::KimiCoding if api == Api::AnthropicMessages => {
                &[("user-agent", KIMI_CODING_ANTHROPIC_USER_AGENT)]
            }
            Dialect::KimiCoding => &[("user-agent", KIMI_CODING_USER_AGENT)],
            Dialect::OpenRouter => &[("x-openrouter-title", "clawgate")],
            Dialect::Moonshot | Dialect::Generic => &[],
        }
    }
}

/// The other names a provider reads the header `name` under: OpenRouter
/// takes its title as `X-OpenRouter-Title` or, its older spelling,
/// `X-Title`.
pub fn same_header(name: &str) -> &'static [&'static str] {
    match name {
        "x-title" => &["x-openrouter-title"],
        "x-openrouter-title" => &["x-title"],
        _ => &[],
    }
}

/// Whether a model thinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reasoning {
    None,
    /// A switch turns it on or off.
    Optional,
    /// Always on; it cannot be turned off.
    Always,
}

/// How the provider is told about thinking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThinkingControl {
    /// `thinking: {type: enabled | disabled}`.
    Switch,
    /// Nothing is sent (Kimi K2.7 Code rejects any `thinking` field).
    Omit,
    /// `reasoning_effort: "max"` (what OpenClaw sends Kimi K3).
    EffortMax,
    /// `reasoning_effort` `low`, `high` or `max` from the client's level
    /// (or `thinkingDefault`), `max` when none is given; no `thinking`
    /// (Kimi K3 since September 2026).
    Effort,
}

/// What happens to a `tool_choice` Kimi cannot take while thinking
/// (`required`, or a pinned function).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForcedToolChoice {
    /// `required` becomes `auto`; a pinned function turns thinking off where
    /// it can be turned off, else becomes `auto` (as OpenClaw does).
    Relax,
    /// Sent as the client set it.
    Keep,
    /// `required` is kept; a named function becomes `required` with only
    /// that tool offered, or `auto` when it is not offered (Kimi K3, which
    /// accepts `required` but not a named function).
    Narrow,
}

/// Everything the rules need to know about one model at one provider.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    pub reasoning: Reasoning,
    pub thinking_control: ThinkingControl,
    /// Accepts `thinking.keep` (only with thinking on).
    pub thinking_keep: bool,
    /// Request fields the model fixes: never sent.
    pub fixed_sampling: Vec<String>,
    /// Fields the model fixes while thinking.
    pub fixed_sampling_when_thinking: Vec<String>,
    pub forced_tool_choice: ForcedToolChoice,
    pub developer_role: bool,
    /// Which field carries the output limit; `None` passes the client's own.
    pub max_tokens_field: Option<MaxTokensField>,
    pub streamed_usage: bool,
}

/// Capabilities as written in a model entry's `compat` (OpenClaw's keys and
/// clawgate's): each field unset falls back to the dialect's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CapabilitySettings {
    pub reasoning: Option<Reasoning>,
    pub thinking_control: Option<ThinkingControl>,
    pub thinking_keep: Option<bool>,
    pub fixed_sampling: Option<Vec<String>>,
    pub fixed_sampling_when_thinking: Option<Vec<String>>,
    pub forced_tool_choice: Option<ForcedToolChoice>,
    pub developer_role: Option<bool>,
    pub max_tokens_field: Option<MaxTokensField>,
    pub streamed_usage: Option<bool>,
}

impl CapabilitySettings {
    /// The effective capabilities for a model of `dialect` that the entry
    /// says reasons (`reasoning: true`) or not.
    pub fn resolve(&self, dialect: Dialect, reasons: bool) -> Capabilities {
        let reasoning = match (self.reasoning, reasons) {
            (Some(reasoning), _) => reasoning,
            (None, true) => Reasoning::Optional,
            (None, false) => Reasoning::None,
        };
        let thinking_control = self.thinking_control.unwrap_or(match reasoning {
            Reasoning::Optional => ThinkingControl::Switch,
            Reasoning::None | Reasoning::Always => ThinkingControl::Omit,
        });
        Capabilities {
            reasoning,
            thinking_control,
            thinking_keep: self.thinking_keep.unwrap_or(false),
            fixed_sampling: self.fixed_sampling.clone().unwrap_or_default(),
            fixed_sampling_when_thinking: self
                .fixed_sampling_when_thinking
                .clone()
                .unwrap_or_default(),
            forced_tool_choice: self.forced_tool_choice.unwrap_or(ForcedToolChoice::Relax),
            developer_role: self.developer_role.unwrap_or(!dialect.is_kimi()),
            max_tokens_field: self.max_tokens_field,
            streamed_usage: self.streamed_usage.unwrap_or(true),
        }
    }
}

/// Thinking as a target's plan decided it (`providers::plan`), for a
/// transport that renders it on a body of its own (an Anthropic client's,
/// on the Anthropic transport); the chat body carries it as the rules'
/// edits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ThinkingSwitch {
    /// Left as the client's body has it: the rules said nothing.
    #[default]
    AsSent,
    /// On, written anew: `enabled` with the plan's budget (half the
    /// output limit unless the client gave one).
    On,
    /// On, and so is the client's own switch in its Messages body
    /// (`enabled`, `adaptive`): that body keeps it as sent; a body written
    /// anew is written `On`.
    OwnOn,
    Off,
    /// Not sent: the model cannot be told.
    Omitted,
}

/// OpenClaw's thinking levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ThinkingLevel {
    Off,
    Minimal,
    Low,
    Medium,
    High,
}

impl ThinkingLevel {
    /// The OpenAI `reasoning_effort` value for this level.
    pub fn as_effort(self) -> &'static str {
        match self {
            ThinkingLevel::Off => "none",
            ThinkingLevel::Minimal => "minimal",
            ThinkingLevel::Low => "low",
            ThinkingLevel::Medium => "medium",
            ThinkingLevel::High => "high",
        }
    }
}

impl FromStr for ThinkingLevel {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "off" => Ok(ThinkingLevel::Off),
            "minimal" => Ok(ThinkingLevel::Minimal),
            "low" => Ok(ThinkingLevel::Low),
            "medium" => Ok(ThinkingLevel::Medium),
            "high" => Ok(ThinkingLevel::High),
            other => Err(format!(
                "expected one of off, minimal, low, medium, high; found {other:?}"
            )),
        }
    }
}

/// The output limit a Messages body gets when neither the client nor the
/// model's catalog entry gives one (Anthropic requires `max_tokens`).
pub const FALLBACK_MAX_TOKENS: u64 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxTokensField {
    MaxTokens,
    MaxCompletionTokens,
}

impl MaxTokensField {
    /// The field that is not this one.
    pub fn other(self) -> Self {
        match self {
            MaxTokensField::MaxTokens => MaxTokensField::MaxCompletionTokens,
            MaxTokensField::MaxCompletionTokens => MaxTokensField::MaxTokens,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MaxTokensField::MaxTokens => "max_tokens",
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialect_comes_from_the_key_then_the_host_then_the_id() {
        use DialectSource::*;
        let cases = [
            (
                Some(Dialect::OpenRouter),
                "https://api.moonshot.ai/v1",
                "x",
                Dialect::OpenRouter,
                Config,
            ),
            (
                None,
                "https://api.moonshot.ai/v1",
                "x",
                Dialect::Moonshot,
                Host,
            ),
            (
                None,
                "https://api.moonshot.cn/v1",
                "x",
                Dialect::Moonshot,
                Host,
            ),
            (
                None,
                "https://api.kimi.com/coding/v1",
                "openrouter",
                Dialect::KimiCoding,
                Host,
            ),
            (
                None,
                "https://openrouter.ai/api/v1",
                "x",
                Dialect::OpenRouter,
                Host,
            ),
            (
                None,
                "http://127.0.0.1:9000/v1",
                "moonshot",
                Dialect::Moonshot,
                ProviderId,
            ),
            (
                None,
                "http://proxy.corp/v1",
                "kimi-code",
                Dialect::KimiCoding,
                ProviderId,
            ),
            (
                None,
                "http://proxy.corp/v1",
                "kimicode",
                Dialect::KimiCoding,
                ProviderId,
            ),
            (
                None,
                "http://proxy.corp/v1",
                "kimi-coding",
                Dialect::KimiCoding,
                ProviderId,
            ),
            (
                None,
                "http://proxy.corp/v1",
                "kimi",
                Dialect::KimiCoding,
                ProviderId,
            ),
            (
                None,
                "http://proxy.corp/v1",
                "openrouter",
                Dialect::OpenRouter,
                ProviderId,
            ),
            (
                None,
                "https://moonshot.example.com/v1",
                "local",
                Dialect::Generic,
                Default,
            ),
        ];
        for (explicit, url, id, dialect, source) in cases {
            let url: reqwest::Url = url.parse().unwrap();
            assert_eq!(
                Dialect::resolve(explicit, Some(&url), id),
                (dialect, source),
                "{url} {id}"
            );
        }
    }
}

#[cfg(test)]
mod dialect_spelling {
    use super::Dialect;

    #[test]
    fn every_dialect_is_shown_as_the_config_spells_it() {
        for dialect in [
            Dialect::Moonshot,
            Dialect::KimiCoding,
            Dialect::OpenRouter,
            Dialect::Generic,
        ] {
            let shown = serde_json::to_value(dialect).unwrap();
            let shown = shown.as_str().unwrap();
            assert_eq!(Dialect::parse(shown), Some(dialect), "{shown}");
        }
    }
}
