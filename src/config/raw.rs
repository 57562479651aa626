//! The config file as written: serde shapes for the sections clawgate reads.
//! Keys it does not read were already reported by [`super::keys`]; here
//! serde simply skips them. Validation into runtime types is in
//! [`super::validate`].

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawGateway {
    pub port: Option<u16>,
    pub bind: Option<String>,
    pub auth: RawAuth,
    pub max_body_bytes: Option<u64>,
    pub shutdown_grace_seconds: Option<f64>,
    pub timeouts: RawTimeouts,
    pub limits: RawLimits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawAuth {
    pub token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawTimeouts {
    pub connect_seconds: Option<f64>,
    pub first_byte_seconds: Option<f64>,
    pub idle_seconds: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawLimits {
    pub max_response_bytes: Option<u64>,
    pub max_event_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawProvider {
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub api: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub models: Vec<RawModel>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawModel {
    pub id: Option<String>,
    pub name: Option<String>,
    pub reasoning: Option<bool>,
    pub input: Option<Vec<String>>,
    pub cost: RawCost,
    pub context_window: Option<u64>,
    pub max_tokens: Option<u64>,
    pub headers: BTreeMap<String, String>,
    pub compat: RawCompat,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawCost {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawCompat {
    pub supports_developer_role: Option<bool>,
    pub supports_usage_in_streaming: Option<bool>,
    pub max_tokens_field: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawAgentDefaults {
    pub model: Option<RawModelChoice>,
    pub models: BTreeMap<String, RawModelEntry>,
    pub thinking_default: Option<String>,
}

/// `agents.defaults.model`: OpenClaw accepts a bare ref as well as
/// `{primary, fallbacks}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawModelChoice {
    Ref(String),
    Chain {
        primary: Option<String>,
        #[serde(default)]
        fallbacks: Vec<String>,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawModelEntry {
    pub alias: Option<String>,
    pub params: Option<Map<String, Value>>,
}
