//! Provider dialects: which family of OpenAI-compatible API a provider
//! speaks, recognised from its endpoint rather than its id (users name Kimi
//! Coding `kimi`, `kimi-code` or `kimicode`), and the defaults each family
//! needs.

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
