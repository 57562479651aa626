//! The config file as written: serde shapes for the sections clawgate reads.
//! Keys it does not read were already reported by [`super::keys`]; here
//! serde simply skips them. Validation into runtime types is in
//! [`super::validate`].

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
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
    pub retries: RawRetries,
    pub limits: RawLimits,
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub reasoning_cache: Option<Toggle<RawReasoningCache>>,
    pub sessions: Option<Toggle<RawSessions>>,
    pub budgets: RawBudgets,
    pub telemetry: RawTelemetry,
    /// `gateway.clients`, by name; read in `validate/clients.rs`.
    pub clients: BTreeMap<String, RawClient>,
}

/// `gateway.reasoningCache`'s bounds.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawReasoningCache {
    pub max_entries: Option<u64>,
    pub max_bytes: Option<u64>,
    pub max_age_seconds: Option<u64>,
}

/// `gateway.sessions`' bounds.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawSessions {
    pub max_sessions: Option<u64>,
    pub idle_seconds: Option<u64>,
}

/// `models.providers.<id>.quota` written out.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawQuota {
    pub enabled: Option<bool>,
    pub threshold_percent: Option<f64>,
    pub refresh_seconds: Option<f64>,
}

/// `true`, `false`, or the settings written out, which mean on unless they
/// say otherwise.
#[derive(Debug)]
pub enum Toggle<T> {
    On(bool),
    Set(T),
}

impl<T: Default> Toggle<T> {
    /// The settings `toggle` writes: none when off; when on or left out,
    /// the default (every setting left out).
    pub fn settings(toggle: Option<Self>) -> Option<T> {
        match toggle {
            None | Some(Toggle::On(true)) => Some(T::default()),
            Some(Toggle::On(false)) => None,
            Some(Toggle::Set(settings)) => Some(settings),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Toggle<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Either<T>(PhantomData<T>);
        impl<'de, T: DeserializeOwned> Visitor<'de> for Either<T> {
            type Value = Toggle<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "true, false or {{{}}}", fields::<T>().join(", "))
            }
            fn visit_bool<E>(self, on: bool) -> Result<Toggle<T>, E> {
                Ok(Toggle::On(on))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Toggle<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Toggle::Set)
            }
        }
        deserializer.deserialize_any(Either(PhantomData))
    }
}

/// The keys serde reads into `T`, a struct, or the words it takes, an
/// enum: the fields or variants its derived `Deserialize` asks for.
pub fn fields<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe<'a>(&'a Cell<&'static [&'static str]>);
    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0.set(fields);
            Err(de::Error::custom("fields read"))
        }
        fn deserialize_enum<V: Visitor<'de>>(
            self,
            name: &'static str,
            variants: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, Self::Error> {
            self.deserialize_struct(name, variants, visitor)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map
            identifier ignored_any
        }
    }
    let read = Cell::new(&[][..]);
    let _ = T::deserialize(Probe(&read));
    read.get()
}

/// `gateway.clients.<name>`: one client's key, models, budgets and limits.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawClient {
    pub key: Option<String>,
    pub admin: Option<bool>,
    pub models: Option<Vec<String>>,
    pub budgets: RawBudgets,
    pub limits: RawClientLimits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawClientLimits {
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
    pub concurrent_requests: Option<u64>,
}

/// `gateway.telemetry`: OpenTelemetry traces over OTLP/HTTP.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawTelemetry {
    pub enabled: Option<bool>,
    pub endpoint: Option<String>,
    pub service_name: Option<String>,
    pub sample_ratio: Option<f64>,
    pub queue_spans: Option<u64>,
    pub capture_content: Option<bool>,
    pub metrics: Option<bool>,
}

/// `gateway.budgets`: USD per period for all traffic, per provider, per
/// model; and what to do with models that have no price.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawBudgets {
    pub daily: Option<f64>,
    pub weekly: Option<f64>,
    pub monthly: Option<f64>,
    pub providers: BTreeMap<String, RawBudgetLimits>,
    pub models: BTreeMap<String, RawBudgetLimits>,
    pub unpriced: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RawBudgetLimits {
    pub daily: Option<f64>,
    pub weekly: Option<f64>,
    pub monthly: Option<f64>,
}

/// `ledger`: where usage is recorded.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawLedger {
    pub enabled: Option<bool>,
    pub path: Option<String>,
    pub retention_days: Option<u64>,
    pub store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawAuth {
    pub token: Option<String>,
    pub open_metrics: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawLimits {
    pub max_connections: Option<u64>,
    pub max_concurrent_requests: Option<u64>,
    pub max_response_bytes: Option<u64>,
    pub max_event_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawRetries {
    pub per_target: Option<u64>,
    pub backoff_base_seconds: Option<f64>,
    pub backoff_max_seconds: Option<f64>,
    pub max_retry_after_seconds: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawTimeouts {
    pub connect_seconds: Option<f64>,
    pub first_byte_seconds: Option<f64>,
    pub idle_seconds: Option<f64>,
    pub chain_seconds: Option<f64>,
    pub client_header_seconds: Option<f64>,
    pub client_body_seconds: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawProvider {
    pub dialect: Option<String>,
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub api: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub models: Vec<RawModel>,
    pub quota: Option<Toggle<RawQuota>>,
    pub max_concurrent: Option<RawMaxConcurrent>,
    pub cache_lifetime_seconds: Option<CacheLifetime>,
}

/// `maxConcurrent`: a number of requests, `false` (no cap, even Kimi
/// Coding's), or `{requests, waitSeconds}`, each left out for its default.
#[derive(Debug)]
pub enum RawMaxConcurrent {
    Off,
    Requests(Requests),
    Queue {
        requests: Option<Requests>,
        wait: Option<Wait>,
    },
}

impl<'de> Deserialize<'de> for RawMaxConcurrent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = RawMaxConcurrent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of requests, false or {requests, waitSeconds}")
            }
            fn visit_bool<E: de::Error>(self, on: bool) -> Result<Self::Value, E> {
                match on {
                    false => Ok(RawMaxConcurrent::Off),
                    true => Requests::of(Value::Bool(on)).map(RawMaxConcurrent::Requests),
                }
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
                Requests::of(n.into()).map(RawMaxConcurrent::Requests)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
                Requests::of(n.into()).map(RawMaxConcurrent::Requests)
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
                Requests::of(n.into()).map(RawMaxConcurrent::Requests)
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Requests::of(text.into()).map(RawMaxConcurrent::Requests)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let (mut requests, mut wait) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "requests" => requests = Some(map.next_value()?),
                        "waitSeconds" => wait = Some(map.next_value()?),
                        // Read as a value, so that the error is at its path.
                        _ => map.next_value::<UnknownKey>().map(|_| ())?,
                    }
                }
                Ok(RawMaxConcurrent::Queue { requests, wait })
            }
        }
        deserializer.deserialize_any(Either)
    }
}

/// A value `check` takes, else serde's error saying what was `expected`
/// and quoting what was found.
fn checked<T, E: de::Error>(
    value: Value,
    expected: fmt::Arguments<'_>,
    check: impl FnOnce(&Value) -> Option<T>,
) -> Result<T, E> {
    check(&value).ok_or_else(|| E::custom(format!("{expected}, found {value}")))
}

/// More requests at once than any account allows: a typo.
const MOST_REQUESTS: u64 = 10_000;

/// A cap's number of requests: a whole number from 1 to [`MOST_REQUESTS`].
#[derive(Debug, Clone, Copy)]
pub struct Requests(pub u32);

impl Requests {
    fn of<E: de::Error>(value: Value) -> Result<Self, E> {
        let expected = format_args!(
            "expected a whole number of requests from 1 to {MOST_REQUESTS} (false: no cap)"
        );
        checked(value, expected, |value| {
            let n = value.as_u64().filter(|n| (1..=MOST_REQUESTS).contains(n))?;
            Some(Self(u32::try_from(n).ok()?))
        })
    }
}

impl<'de> Deserialize<'de> for Requests {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::of(Value::deserialize(deserializer)?)
    }
}

/// Seconds from 0 to `MOST`, a whole number of them if `WHOLE`.
#[derive(Debug, Clone, Copy)]
pub struct Seconds<const MOST: u64, const WHOLE: bool>(pub Duration);

/// How long a request waits for a place: seconds from 0 to a minute (a
/// longer wait is no longer a short queue).
pub type Wait = Seconds<60, false>;

/// `cacheLifetimeSeconds`: how long the provider keeps a prompt's cache,
/// a whole number of seconds from 0 (it keeps none) to a day (no provider
/// keeps one longer).
pub type CacheLifetime = Seconds<86_400, true>;

impl<'de, const MOST: u64, const WHOLE: bool> Deserialize<'de> for Seconds<MOST, WHOLE> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let whole = if WHOLE { "a whole number of " } else { "" };
        let expected = format_args!("expected {whole}seconds from 0 to {MOST}");
        checked(Value::deserialize(deserializer)?, expected, |value| {
            let seconds = if WHOLE {
                value.as_u64()? as f64
            } else {
                value.as_f64()?
            };
            (0.0..=MOST as f64)
                .contains(&seconds)
                .then(|| Self(Duration::from_secs_f64(seconds)))
        })
    }
}

/// A key read nowhere: always an error, at its own path.
struct UnknownKey;

impl<'de> Deserialize<'de> for UnknownKey {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(de::Error::custom(
            "unknown key; expected requests or waitSeconds",
        ))
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
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

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawCost {
    pub input: Option<f64>,
    pub output: Option<f64>,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
}

/// A model's `compat`: OpenClaw's keys, and the capabilities clawgate adds.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawCompat {
    pub supports_developer_role: Option<bool>,
    pub supports_usage_in_streaming: Option<bool>,
    pub max_tokens_field: Option<String>,
    pub thinking: Option<String>,
    pub thinking_control: Option<String>,
    pub thinking_keep: Option<bool>,
    pub fixed_sampling: Option<Vec<String>>,
    pub fixed_sampling_when_thinking: Option<Vec<String>>,
    pub forced_tool_choice: Option<String>,
}

impl RawModel {
    /// Fills every field this entry leaves out from `base` (the catalog's
    /// entry for the same model): the user's entry wins field by field.
    pub fn fill_from(&mut self, base: RawModel) {
        macro_rules! fill {
            ($($($field:ident).+),+) => {$(
                if self.$($field).+.is_none() {
                    self.$($field).+ = base.$($field).+;
                }
            )+};
        }
        fill! {
            name, reasoning, input, context_window, max_tokens,
            cost.input, cost.output, cost.cache_read, cost.cache_write,
            compat.supports_developer_role, compat.supports_usage_in_streaming,
            compat.max_tokens_field, compat.thinking, compat.thinking_control,
            compat.thinking_keep, compat.fixed_sampling, compat.fixed_sampling_when_thinking,
            compat.forced_tool_choice
        }
        for (name, value) in base.headers {
            self.headers.entry(name).or_insert(value);
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawAgentDefaults {
    #[serde(deserialize_with = "chain")]
    pub model: Option<RawChain>,
    pub models: BTreeMap<String, RawModelEntry>,
    pub thinking_default: Option<String>,
}

/// `agents.defaults.model`: OpenClaw accepts a bare ref, a chain of it
/// alone, as well as `{primary, fallbacks}`. Its shapes, and a place's,
/// are told apart by hand rather than by an untagged enum, which would
/// say only that none matched: a mistake inside is reported at its path.
fn chain<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<RawChain>, D::Error> {
    struct Either;
    impl<'de> Visitor<'de> for Either {
        type Value = Option<RawChain>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a ref, or {primary, fallbacks}")
        }
        fn visit_str<E>(self, primary: &str) -> Result<Self::Value, E> {
            Ok(Some(RawChain {
                primary: Some(RawPlace::Ref(primary.to_string())),
                fallbacks: Vec::new(),
            }))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            RawChain::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
    deserializer.deserialize_any(Either)
}

/// The chain as written: each place a ref or a pool.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawChain {
    pub primary: Option<RawPlace>,
    #[serde(deserialize_with = "fallbacks")]
    pub fallbacks: Vec<RawPlace>,
}

/// `fallbacks`: a list of places; one ref written alone is refused, saying
/// how to write it.
fn fallbacks<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<RawPlace>, D::Error> {
    struct List;
    impl<'de> Visitor<'de> for List {
        type Value = Vec<RawPlace>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of refs")
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err(E::custom(
                "expected a list of refs, found a string: a single fallback is a list of one, [\"provider/model\"]",
            ))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Vec::deserialize(de::value::SeqAccessDeserializer::new(seq))
        }
    }
    deserializer.deserialize_any(List)
}

/// One place of the chain: a ref, or a pool of equivalent refs (a list).
#[derive(Debug)]
pub enum RawPlace {
    Ref(String),
    Pool(Vec<String>),
}

impl<'de> Deserialize<'de> for RawPlace {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = RawPlace;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a ref, or a list of equivalent refs (a pool)")
            }
            fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
                Ok(RawPlace::Ref(text.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Vec::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(RawPlace::Pool)
            }
        }
        deserializer.deserialize_any(Either)
    }
}

impl RawPlace {
    /// The refs as written, one for a plain ref.
    pub fn refs(&self) -> &[String] {
        match self {
            RawPlace::Ref(text) => std::slice::from_ref(text),
            RawPlace::Pool(refs) => refs,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawModelEntry {
    pub alias: Option<String>,
    pub params: Option<Map<String, Value>>,
}
