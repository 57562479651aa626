//! The small shared vocabulary of providers and models: which dialect a
//! provider speaks, OpenClaw's thinking levels, and the output-limit field a
//! model expects. A leaf: it imports nothing from the rest of the crate, so
//! `config` and the provider rules can both use it without importing each
//! other.

use std::str::FromStr;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    /// Moonshot's open platform, `api.moonshot.ai` and `api.moonshot.cn`.
    Moonshot,
    /// Kimi Coding, `api.kimi.com/coding`: Moonshot's rules plus an access
    /// gate on the `User-Agent`.
    KimiCoding,
    OpenRouter,
    /// Any other OpenAI-compatible endpoint: requests pass as they are.
    Generic,
}

/// A `User-Agent` Kimi Coding accepts; sent when the config sets none.
pub const KIMI_CODING_USER_AGENT: &str = "KimiCLI/0.77";

impl Dialect {
    pub fn detect(base_url: &reqwest::Url) -> Self {
        match base_url.host_str().unwrap_or_default() {
            "api.moonshot.ai" | "api.moonshot.cn" => Dialect::Moonshot,
            "api.kimi.com" => Dialect::KimiCoding,
            "openrouter.ai" => Dialect::OpenRouter,
            _ => Dialect::Generic,
        }
    }

    /// Moonshot-family APIs reject the `developer` role.
    pub fn supports_developer_role(self) -> bool {
        !self.is_kimi()
    }

    pub fn is_kimi(self) -> bool {
        matches!(self, Dialect::Moonshot | Dialect::KimiCoding)
    }

    /// Headers the provider needs that the user's config may leave out.
    pub fn default_headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Dialect::KimiCoding => &[("user-agent", KIMI_CODING_USER_AGENT)],
            _ => &[],
        }
    }
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxTokensField {
    MaxTokens,
    MaxCompletionTokens,
}

impl MaxTokensField {
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
    fn dialect_follows_the_endpoint() {
        let cases = [
            ("https://api.moonshot.ai/v1", Dialect::Moonshot),
            ("https://api.moonshot.cn/v1", Dialect::Moonshot),
            ("https://api.kimi.com/coding/v1", Dialect::KimiCoding),
            ("https://openrouter.ai/api/v1", Dialect::OpenRouter),
            ("http://127.0.0.1:9000/v1", Dialect::Generic),
            ("https://moonshot.example.com/v1", Dialect::Generic),
        ];
        for (url, expected) in cases {
            assert_eq!(Dialect::detect(&url.parse().unwrap()), expected, "{url}");
        }
    }
}
