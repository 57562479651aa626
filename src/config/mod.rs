//! Configuration: finding the file, reading it (JSON5, OpenClaw's shape),
//! substituting `${VAR}` secrets and validating it into the runtime types
//! the gateway serves from.
//!
//! Invariants: every error names the JSON path it is about, all errors are
//! reported together, and secrets live only in [`Secret`]s (or
//! `SecretString`s), so no `Debug`, `Display` or `config show` of a config
//! can print one.

pub mod clients;
mod env;
mod include;
mod keys;
pub mod ledger;
mod raw;
mod secret;
mod show;
pub mod suggest;
mod syntax;
mod validate;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::Serialize;
use serde_json::{Map, Value};

pub use env::substitute;
pub use secret::Secret;
pub use validate::{ENV_FILES, PLACEHOLDER, openclaws_port, placeholder as placeholder_key};

// What a config's `${VAR}` are read from, which `load` takes.
pub use crate::ops::env::{EnvFileError, Environment};

use crate::capabilities::{Api, Capabilities, Dialect, DialectSource, ThinkingLevel};
use crate::ops::env::read_at_most;
use crate::ops::redact::Redactor;

pub const DEFAULT_PORT: u16 = 18700;

/// A listen address as `gateway.bind` and `--bind` take it: an IP address,
/// or `localhost`/`loopback` for 127.0.0.1.
pub fn parse_bind(text: &str) -> Result<IpAddr, String> {
    match text {
        "localhost" | "loopback" => Ok(IpAddr::from([127, 0, 0, 1])),
        text => text
            .parse()
            .map_err(|_| format!("expected an IP address or \"localhost\", found {text:?}")),
    }
}

/// Whether only this machine can reach `ip`; an IPv4-mapped IPv6 loopback
/// (`::ffff:127.0.0.1`) counts.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The address a connection to `ip` reaches: the wildcard address
/// (`0.0.0.0`, `::`) is none to connect to, and a connection to it goes
/// to this machine's loopback one.
pub fn connected_to(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    }
}

/// Where the config comes from, in the documented order of precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    /// No file: the built-in catalog and default chain.
    Defaults,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Defaults => f.write_str("built-in defaults"),
        }
    }
}

/// `--config PATH` > `$CLAWGATE_CONFIG` > `$XDG_CONFIG_HOME/clawgate/config.json`
/// or `config.json5` (`~/.config/...` when unset), whichever exists >
/// built-in defaults. Both existing is an error: silently reading one
/// would hide what the user wrote in the other.
pub fn locate(flag: Option<&Path>, env: &Environment) -> Result<Source, AmbiguousConfig> {
    let named = flag.map(Path::to_path_buf);
    if let Some(path) = named.or_else(|| set_path(env, "CLAWGATE_CONFIG")) {
        return Ok(Source::File(path));
    }
    let Some(dir) = config_dir(env) else {
        return Ok(Source::Defaults);
    };
    let (json, json5) = (dir.join("config.json"), dir.join("config.json5"));
    // A link counts even when it leads nowhere (into a collected Nix
    // store path): reading it then says why, where the built-in defaults
    // would silently drop the user's chain.
    let there = |path: &Path| path.symlink_metadata().is_ok();
    match (there(&json), there(&json5)) {
        (true, true) => Err(AmbiguousConfig { json, json5 }),
        (true, false) => Ok(Source::File(json)),
        (false, true) => Ok(Source::File(json5)),
        (false, false) => Ok(Source::Defaults),
    }
}

/// Where clawgate looks for `config.json` and `config.json5`:
/// `$XDG_CONFIG_HOME/clawgate`, else `~/.config/clawgate`.
pub fn config_dir(env: &Environment) -> Option<PathBuf> {
    xdg_dir(env, "XDG_CONFIG_HOME", ".config")
}

/// `$<var>/clawgate`, else `~/<in_home>/clawgate`. A relative `$<var>` is
/// ignored, as the XDG spec says: what it names would move with the
/// working directory.
fn xdg_dir(env: &Environment, var: &str, in_home: &str) -> Option<PathBuf> {
    (set_path(env, var).filter(|dir| dir.is_absolute()))
        .or_else(|| env.get("HOME").map(|home| Path::new(home).join(in_home)))
        .map(|dir| dir.join("clawgate"))
}

/// The path in `var`, unless unset or empty.
fn set_path(env: &Environment, var: &str) -> Option<PathBuf> {
    env.get(var).filter(|p| !p.is_empty()).map(PathBuf::from)
}

/// For a config read from no file: the files in [`config_dir`] that look
/// like a config clawgate was meant to read (`clawgate.json5`,
/// `config.jsonc`, ...), which it does not. A misnamed file must not
/// silently mean the built-in defaults.
fn misnamed_configs(env: &Environment) -> Option<String> {
    let dir = config_dir(env)?;
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| {
            let lower = name.to_ascii_lowercase();
            [".json", ".json5", ".jsonc"]
                .iter()
                .any(|ext| lower.ends_with(ext))
        })
        .collect();
    names.sort();
    (!names.is_empty()).then(|| format!(
        "no config file: clawgate reads config.json or config.json5 in {} (or the file named by --config or $CLAWGATE_CONFIG), and does not read {} there; serving the built-in defaults until it is named config.json5 (or config.json)",
        dir.display(),
        names.join(", "),
    ))
}

/// Both `config.json` and `config.json5` exist where clawgate looks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "both {} and {} exist; clawgate reads one config file: merge them into one and remove the other, or choose with --config",
    json.display(),
    json5.display()
)]
pub struct AmbiguousConfig {
    pub json: PathBuf,
    pub json5: PathBuf,
}

/// `$XDG_CONFIG_HOME/clawgate/secrets.env` (`~/.config/...`): where the
/// docs and the Nix modules' example put the service's environment file,
/// so the CLI reads the keys the service has.
pub fn default_env_file(env: &Environment) -> Option<PathBuf> {
    config_dir(env).map(|dir| dir.join("secrets.env"))
}

/// `$CLAWGATE_STATE_DIR` > `$XDG_STATE_HOME/clawgate` > `~/.local/state/clawgate`.
pub fn state_dir(env: &Environment) -> Option<PathBuf> {
    set_path(env, "CLAWGATE_STATE_DIR").or_else(|| xdg_dir(env, "XDG_STATE_HOME", ".local/state"))
}

/// Whether validation requires the referenced environment variables to be
/// set. `Offline` is for checking a config where the secrets are absent,
/// such as the Nix build sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    Required,
    Offline,
}

/// A validated config together with what the user should be told about it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// Paths of keys clawgate accepted but does not use.
    pub ignored: Vec<String>,
    pub warnings: Vec<String>,
    /// Paths of secrets written literally in the file rather than as
    /// `${VAR}` (each also a warning): the file then needs mode 600.
    pub literal_secrets: Vec<String>,
}

/// The largest config file clawgate reads. A config is a few kilobytes;
/// the bound keeps a wrong path (a log, a disk image) from being read whole.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;

/// The deepest nesting of objects and arrays a config may have. Configs
/// are about six levels deep; the parse stops at the first level beyond,
/// so no file can exhaust the stack.
pub const MAX_CONFIG_DEPTH: usize = 64;

/// Reads and validates the config from `source`.
pub fn load(source: &Source, env: &Environment, secrets: Secrets) -> Result<Loaded, ConfigErrors> {
    match source {
        Source::File(path) => {
            let document = read_document(path).map_err(|errors| errors.scrubbed(env))?;
            validate::validate(document, env, secrets)
        }
        Source::Defaults => load_str("{}", env, secrets).map(|mut loaded| {
            loaded.warnings.extend(misnamed_configs(env));
            loaded
        }),
    }
}

/// The config file at `path` as a document, its `$include`s read: what
/// is validated, and what a command that reads the file as written reads.
pub fn read_document(path: &Path) -> Result<Value, ConfigErrors> {
    let document = parse_document(&read_bounded(path)?)?;
    include::resolve(document, path)
}

/// The file's text, if it is no larger than [`MAX_CONFIG_BYTES`]: never
/// more than that is read.
fn read_bounded(path: &Path) -> Result<String, ConfigErrors> {
    let cannot = |why: String| {
        // A link that leads nowhere (into a collected Nix store path, or
        // round to itself) is named as one, with where it leads; one into
        // a folder it may not read is not.
        let gone = std::fs::metadata(path)
            .is_err_and(|e| e.kind() != std::io::ErrorKind::PermissionDenied);
        let why = match std::fs::read_link(path) {
            Ok(target) if gone => {
                format!(
                    "it is a link to {}, which leads to no file",
                    target.display()
                )
            }
            _ => why,
        };
        ConfigErrors::single("", format!("cannot read {}: {why}", path.display()))
    };
    let bytes = read_at_most(path, MAX_CONFIG_BYTES).map_err(|e| cannot(e.to_string()))?;
    let bytes = bytes.ok_or_else(|| too_large(&path.display().to_string()))?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        cannot(format!("not UTF-8 text (at byte {at})"))
    })
}

fn too_large(what: &str) -> ConfigErrors {
    ConfigErrors::single(
        "",
        format!(
            "{what} is larger than {} KiB, the most clawgate reads as a config; is it the right file?",
            MAX_CONFIG_BYTES / 1024
        ),
    )
}

/// Validates config text; [`load`] without the file system.
pub fn load_str(text: &str, env: &Environment, secrets: Secrets) -> Result<Loaded, ConfigErrors> {
    let document = parse_document(text).map_err(|errors| errors.scrubbed(env))?;
    validate::validate(document, env, secrets)
}

/// Parses config text (JSON5) within the size and depth bounds. Plain JSON,
/// what Nix writes, is read by the faster JSON parser; the JSON5 parser is
/// for the rest, and its error is the one shown. Errors never quote a value.
pub fn parse_document(text: &str) -> Result<Value, ConfigErrors> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(too_large("the config"));
    }
    if let Ok(Json5Value(document)) = serde_json::from_str(text.trim_start_matches('\u{feff}')) {
        return Ok(document);
    }
    json5::from_str(text)
        .map(|Json5Value(document)| document)
        .map_err(|e| match syntax::written_twice(&e) {
            Some((path, message)) => ConfigErrors::single(&path, message),
            None => ConfigErrors::single("", syntax::explain(text, &e)),
        })
}

/// Stands in for JSON5's `NaN`, `Infinity` and `-Infinity`, which a JSON
/// value cannot hold (serde_json would make them `null`, and the key would
/// silently take its default). Validation reports each by its path.
pub(crate) const NON_FINITE_PREFIX: &str = "\u{0}clawgate-non-finite:";

/// A JSON value read from JSON or JSON5, keeping non-finite numbers as
/// [`NON_FINITE_PREFIX`] strings, and at most [`MAX_CONFIG_DEPTH`] levels
/// of objects and arrays deep: the parse stops at the first level beyond,
/// so no file can exhaust the stack, and the parser places the error. A
/// key written twice in one object is an error too, placed at the second
/// (a map keeps the last, and the first would be lost unseen).
struct Json5Value(Value);

impl<'de> serde::Deserialize<'de> for Json5Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::DeserializeSeed;
        let top = Nested {
            left: MAX_CONFIG_DEPTH,
            at: &Place::Top,
        };
        top.deserialize(deserializer).map(Json5Value)
    }
}

/// A value that may hold `left` more levels of objects and arrays, at
/// `at` in the document.
#[derive(Clone, Copy)]
struct Nested<'p> {
    left: usize,
    at: &'p Place<'p>,
}

/// A place in the document: the document itself, or a member's key or an
/// element's index under its parent's place. Built on the stack as the
/// parse goes down; spelt as a path only for an error.
enum Place<'p> {
    Top,
    Key(&'p Place<'p>, &'p str),
    Index(&'p Place<'p>, usize),
}

/// The path of `at` as errors name it (`models.providers.x.models[0]`).
fn path_of(at: &Place<'_>) -> String {
    match at {
        Place::Top => String::new(),
        Place::Key(parent, key) => keys::join(&path_of(parent), key),
        Place::Index(parent, index) => format!("{}[{index}]", path_of(parent)),
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Nested<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Nested<'_> {
    /// How many levels a value inside an object or array here may hold,
    /// or the error when it is one too many.
    fn inner<E: serde::de::Error>(self) -> Result<usize, E> {
        (self.left.checked_sub(1)).ok_or_else(|| E::custom(syntax::too_deep(MAX_CONFIG_DEPTH)))
    }
}

/// A member's key, refused when the object (its members so far, at a
/// place) already has a member of that name: the error is raised as the
/// key is read, so the parser places it on the second.
struct Key<'a, 'p>(&'a Map<String, Value>, &'p Place<'p>);

impl<'de> serde::de::DeserializeSeed<'de> for Key<'_, '_> {
    type Value = String;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Key<'_, '_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<String, E> {
        if self.0.contains_key(key) {
            // Scrubbed of credential shapes and with control characters
            // escaped, as any text from outside.
            let path = Redactor::default().provider_text(&path_of(&Place::Key(self.1, key)));
            return Err(E::custom(syntax::twice(&path)));
        }
        Ok(key.to_string())
    }
}

impl<'de> serde::de::Visitor<'de> for Nested<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON5 value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        let name = match value {
            _ if value.is_finite() => return Ok(Value::from(value)),
            _ if value.is_nan() => "NaN",
            _ if value > 0.0 => "Infinity",
            _ => "-Infinity",
        };
        Ok(Value::String(format!("{NON_FINITE_PREFIX}{name}")))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_string()))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let left = self.inner()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Nested {
            left,
            at: &Place::Index(self.at, items.len()),
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let left = self.inner()?;
        let mut members = Map::new();
        while let Some(key) = map.next_key_seed(Key(&members, self.at))? {
            let at = &Place::Key(self.at, &key);
            let value = map.next_value_seed(Nested { left, at })?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

/// The runtime configuration.
#[derive(Debug)]
pub struct Config {
    pub gateway: GatewaySettings,
    pub providers: BTreeMap<String, Arc<Provider>>,
    pub routing: Routing,
    /// Every secret of this config; all outside text is scrubbed with it.
    pub redactor: Redactor,
    /// `ledger.*`: where usage is recorded.
    pub ledger: ledger::LedgerSettings,
    /// `gateway.budgets`: spending limits checked before each call.
    pub budgets: ledger::Budgets,
}

#[derive(Debug)]
pub struct GatewaySettings {
    pub port: u16,
    pub bind: IpAddr,
    pub auth_token: Option<Secret>,
    pub max_body_bytes: usize,
    pub shutdown_grace: Duration,
    pub timeouts: Timeouts,
    pub retries: Retries,
    /// Serve `/metrics` without the token (`gateway.auth.openMetrics`).
    pub open_metrics: bool,
    /// `Host` names accepted besides loopback names and the bind address,
    /// as written (compared ignoring case), without port.
    pub allowed_hosts: Vec<String>,
    /// Browser origins (`scheme://host[:port]`) allowed to call the API.
    pub allowed_origins: Vec<String>,
    pub limits: Limits,
    /// `None` with `gateway.reasoningCache: false`.
    pub reasoning_cache: Option<ReasoningCacheLimits>,
    /// `None` with `gateway.sessions: false`.
    pub sessions: Option<SessionLimits>,
    /// `gateway.telemetry` with the `OTEL_*` variables; `None` when off.
    pub telemetry: Option<crate::ops::telemetry::Settings>,
    /// `gateway.clients` and the holder of `auth_token`.
    pub clients: clients::Clients,
}

impl GatewaySettings {
    /// Where a client on this machine reaches the listener: the bind
    /// address, or loopback of its family for a wildcard, with the port
    /// (`127.0.0.1:18700`, `[::1]:18700`).
    pub fn local_address(&self, port: u16) -> std::net::SocketAddr {
        std::net::SocketAddr::new(connected_to(self.bind), port)
    }

    /// Why `auth_token` is too short to guard `bind`, if it is: on an
    /// address that is not loopback it guards a network, as a client's key
    /// does, and needs a client key's length; on loopback any token will do.
    pub fn weak_token(&self) -> Option<String> {
        use secrecy::ExposeSecret;
        let token = self
            .auth_token
            .as_ref()
            .filter(|_| !is_loopback(self.bind))?;
        let what = format!("a token that guards {}, not a loopback address,", self.bind);
        clients::too_short(token.expose_secret(), &what).map(|why| format!("the token is {why}"))
    }
}

/// The reasoning cache's bounds (`gateway.reasoningCache`; see
/// `crate::reasoning_cache`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReasoningCacheLimits {
    pub max_entries: usize,
    /// The reasoning text held, in bytes, all entries together.
    pub max_bytes: usize,
    #[serde(rename = "maxAgeSeconds", serialize_with = "show::seconds")]
    pub max_age: Duration,
}

impl Default for ReasoningCacheLimits {
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            max_bytes: 32 * 1024 * 1024,
            max_age: Duration::from_secs(6 * 3600),
        }
    }
}

/// The session store's bounds (`gateway.sessions`; see `crate::session`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionLimits {
    /// The most sessions kept; the least recently seen goes first.
    pub max_sessions: usize,
    /// A session unseen this long is forgotten.
    #[serde(rename = "idleSeconds", serialize_with = "show::whole_seconds")]
    pub idle: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            max_sessions: 2_000,
            idle: Duration::from_secs(3600),
        }
    }
}

/// How long a provider keeps a prompt's cache when no provider says
/// otherwise: about five minutes, as Kimi's.
pub const DEFAULT_CACHE_LIFETIME: Duration = Duration::from_secs(300);

/// Bounds on what clients may hold and on what is read from a provider.
/// The connection-level ones (`max_connections`, and the client timeouts
/// in [`Timeouts`]) are read when the server starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    pub max_connections: usize,
    /// Requests being answered at once; more get 503.
    pub max_concurrent_requests: usize,
    /// The most of a non-streamed answer that is read; a larger one fails
    /// its attempt.
    pub max_response_bytes: usize,
    /// The most one stream event may hold; a larger one fails the attempt
    /// before the first event, or ends the stream with an error event.
    pub max_event_bytes: usize,
}

/// Limits on one upstream attempt, and on a client's request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timeouts {
    /// To establish the connection.
    #[serde(rename = "connectSeconds", serialize_with = "show::seconds")]
    pub connect: Duration,
    /// Until the response headers and, when streaming, the first event.
    /// Until then a failure can still fall over to the next provider.
    #[serde(rename = "firstByteSeconds", serialize_with = "show::seconds")]
    pub first_byte: Duration,
    /// The longest silence allowed while reading a response body.
    #[serde(rename = "idleSeconds", serialize_with = "show::seconds")]
    pub idle: Duration,
    /// The most a request waits for its first event across every attempt,
    /// retry and backoff of its chain.
    #[serde(rename = "chainSeconds", serialize_with = "show::seconds")]
    pub chain: Duration,
    /// Until a request's headers have arrived, counted from the moment the
    /// connection is ready for one (accepted, or idle after a response).
    #[serde(rename = "clientHeaderSeconds", serialize_with = "show::seconds")]
    pub client_header: Duration,
    /// To receive a request's body.
    #[serde(rename = "clientBodySeconds", serialize_with = "show::seconds")]
    pub client_body: Duration,
}

/// How a failing target is retried before the chain moves on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Retries {
    /// Extra attempts on the same target after a transient failure.
    pub per_target: u32,
    /// The first backoff; each further retry doubles it, up to `backoff_max`.
    #[serde(rename = "backoffBaseSeconds", serialize_with = "show::seconds")]
    pub backoff_base: Duration,
    #[serde(rename = "backoffMaxSeconds", serialize_with = "show::seconds")]
    pub backoff_max: Duration,
    /// The longest `Retry-After` waited for; a provider asking for more is
    /// left for the next target.
    #[serde(rename = "maxRetryAfterSeconds", serialize_with = "show::seconds")]
    pub max_retry_after: Duration,
}

/// A provider; `config show` shows what it was configured with, in the
/// file's order, and not what is derived (its URLs, quota and cap).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    #[serde(skip)]
    pub id: String,
    #[serde(serialize_with = "show::url")]
    pub base_url: reqwest::Url,
    /// The protocol requests are sent in.
    pub api: Api,
    /// Where requests go: `baseUrl` + `/chat/completions`, or for
    /// `anthropic-messages` `baseUrl` + `/v1/messages`.
    #[serde(skip)]
    pub completions_url: reqwest::Url,
    /// `completions_url` as errors and logs show it
    /// ([`crate::ops::redact::Redactor::url`]).
    #[serde(skip)]
    pub shown_url: String,
    pub dialect: Dialect,
    pub dialect_source: DialectSource,
    pub api_key: ApiKey,
    /// The variable `apiKey` names (`${VAR}`), whether or not it is set:
    /// what an error about a refused key tells the user to fix.
    #[serde(skip)]
    pub key_var: Option<String>,
    /// How long it keeps a prompt's cache after its last use
    /// (`cacheLifetimeSeconds`): a session idle longer finds it gone.
    #[serde(
        rename = "cacheLifetimeSeconds",
        serialize_with = "show::whole_seconds"
    )]
    pub cache_lifetime: Duration,
    pub models: Vec<Arc<Model>>,
    /// Where the account's quota or balance is read, if it is.
    #[serde(skip)]
    pub quota: Option<QuotaSettings>,
    /// How many requests it is sent at once, and how long one waits for
    /// a place (`maxConcurrent`; see `crate::chain::concurrency`).
    #[serde(skip)]
    pub max_concurrent: Option<MaxConcurrent>,
    /// Written in the config, not only the built-in catalog's.
    #[serde(skip)]
    pub written: bool,
}

/// A provider's cap on requests at once (`models.providers.<id>.maxConcurrent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxConcurrent {
    pub requests: u32,
    /// How long a request waits for a place before the chain moves on.
    pub wait: std::time::Duration,
}

/// What a provider's account allows, and where clawgate reads it
/// (`models.providers.<id>.quota`; see `crate::quota`).
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaSettings {
    pub kind: QuotaKind,
    pub url: reqwest::Url,
    /// A window used this far (in percent of its limit) is skipped.
    pub threshold_percent: f64,
    /// How long a reading is used before it is read again.
    pub refresh: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaKind {
    /// Kimi Coding's `GET {baseUrl}/usages`: weekly and 5-hour windows.
    Usages,
    /// Moonshot's `GET /v1/users/me/balance`.
    Balance,
}

impl Provider {
    pub fn model(&self, id: &str) -> Option<&Arc<Model>> {
        self.models.iter().find(|m| m.id == id)
    }

    /// Whether `other` reaches the same account: the same `baseUrl` and
    /// key (compared, never shown).
    pub fn same_account(&self, other: &Provider) -> bool {
        use secrecy::ExposeSecret;
        self.base_url == other.base_url
            && match (&self.api_key, &other.api_key) {
                (ApiKey::Set(a), ApiKey::Set(b)) => a.expose_secret() == b.expose_secret(),
                (ApiKey::Missing(a), ApiKey::Missing(b)) => a.var == b.var,
                (ApiKey::None, ApiKey::None) => true,
                _ => false,
            }
    }
}

/// A variable that gives a secret no value: not set, or set but empty
/// (as good as unset for a key).
#[derive(Debug, Clone, PartialEq)]
pub struct Unset {
    pub var: String,
    pub empty: bool,
}

impl Unset {
    /// How every message says it.
    pub fn state(&self) -> &'static str {
        match self.empty {
            true => "is set but empty",
            false => "is not set",
        }
    }

    /// What to do, before [`ENV_FILES`].
    pub fn fix(&self) -> &'static str {
        match self.empty {
            true => "give it its value in",
            false => "export it, or put it in",
        }
    }
}

impl fmt::Display for Unset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.var, self.state())
    }
}

/// A provider's key as far as the config could resolve it; serialised as
/// [`ApiKey::describe`] says it.
#[derive(Debug)]
pub enum ApiKey {
    Set(Secret),
    /// The config names a variable that gives it no value.
    Missing(Unset),
    /// The provider has no `apiKey` (a local server, say).
    None,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Model {
    pub id: String,
    pub name: String,
    /// As written (OpenClaw's `reasoning`); `capabilities.reasoning` says how.
    pub reasoning: bool,
    pub input: Vec<String>,
    /// `None` when neither the config nor the catalog gives a price: its
    /// calls cannot be counted in dollars. A price of zero is free (a
    /// subscription such as Kimi Coding's, or a local model).
    pub cost: Option<Cost>,
    pub context_window: Option<u64>,
    pub max_tokens: Option<u64>,
    /// Dialect defaults, then provider headers, then model headers.
    #[serde(serialize_with = "show::headers")]
    pub headers: HeaderMap,
    pub capabilities: Capabilities,
    /// The catalog says its provider no longer serves it, and names the
    /// model that replaces it.
    #[serde(skip)]
    pub retired: Option<crate::catalog::Retired>,
}

/// USD per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cost {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
}

/// `provider/model-id`; the model id may itself contain `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ModelRef(String);

impl ModelRef {
    pub fn parse(text: &str) -> Option<Self> {
        match text.split_once('/') {
            Some((provider, model)) if !provider.is_empty() && !model.is_empty() => {
                Some(Self(text.to_string()))
            }
            _ => None,
        }
    }

    pub fn new(provider: &str, model: &str) -> Self {
        Self(format!("{provider}/{model}"))
    }

    pub fn provider(&self) -> &str {
        self.0.split_once('/').map_or("", |(provider, _)| provider)
    }

    pub fn model(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, model)| model)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug)]
pub struct Routing {
    /// The first ref of the chain's first place: what `default` names.
    pub primary: ModelRef,
    /// The refs of the later places, in order (a pool's members in a row).
    pub fallbacks: Vec<ModelRef>,
    /// The places written as lists: each a pool of equivalent refs, of
    /// which a session is placed on one (`crate::chain::placement`). A
    /// ref is in one pool at most; the primary's pool, if any, holds it.
    pub pools: Vec<Pool>,
    pub aliases: BTreeMap<String, ModelRef>,
    /// `agents.defaults.models.<ref>.params`: request fields to apply when
    /// the client does not set them.
    pub params: HashMap<ModelRef, Arc<Map<String, Value>>>,
    pub thinking_default: Option<ThinkingLevel>,
}

/// The most refs a pool holds: placement weighs each on the request's path.
pub const MAX_POOL: usize = 8;

/// A place of the chain written as a list: refs any of which may answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// In the order written; from 2 to [`MAX_POOL`], each once.
    pub members: Vec<ModelRef>,
}

impl Routing {
    /// Every ref of the default chain, in order.
    pub fn refs(&self) -> impl Iterator<Item = &ModelRef> {
        self.place_of(&self.primary).iter().chain(&self.fallbacks)
    }

    /// The place of `model_ref`: its pool, or itself.
    fn place_of<'a>(&'a self, model_ref: &'a ModelRef) -> &'a [ModelRef] {
        match self.pool_of(model_ref) {
            Some(pool) => &self.pools[pool].members,
            None => std::slice::from_ref(model_ref),
        }
    }

    /// The default chain's places in order, as written: a pool's members
    /// together, any other ref alone.
    pub fn places(&self) -> Vec<&[ModelRef]> {
        let pooled = |a: &ModelRef, b: &ModelRef| {
            let pool = self.pool_of(a);
            pool.is_some() && self.pool_of(b) == pool
        };
        let rest = self.fallbacks.chunk_by(pooled);
        let first = self.place_of(&self.primary);
        std::iter::once(first).chain(rest).collect()
    }

    /// The index of the pool `model_ref` is in, if any.
    pub fn pool_of(&self, model_ref: &ModelRef) -> Option<usize> {
        self.pools
            .iter()
            .position(|p| p.members.contains(model_ref))
    }
}

/// A ref as OpenClaw users write it, as this config knows it: OpenClaw's
/// provider aliases (`kimi-coding/...` for `kimi/...`) where that provider
/// is not configured under the alias, and legacy model ids (`kimi/k2p5` for
/// `kimi/kimi-for-coding`) where the old id is not configured.
pub fn normalize_ref(providers: &BTreeMap<String, Arc<Provider>>, model_ref: ModelRef) -> ModelRef {
    let mut provider = model_ref.provider();
    if !providers.contains_key(provider) {
        match crate::catalog::provider_alias(provider) {
            Some(canonical) if providers.contains_key(canonical) => provider = canonical,
            _ => return model_ref,
        }
    }
    let model = match providers[provider].model(model_ref.model()) {
        Some(_) => model_ref.model(),
        None => crate::catalog::canonical_model(provider, model_ref.model()),
    };
    ModelRef::new(provider, model)
}

/// One entry of a request's chain: everything an upstream attempt needs.
#[derive(Debug, Clone)]
pub struct Target {
    pub model_ref: ModelRef,
    pub provider: Arc<Provider>,
    pub model: Arc<Model>,
    pub params: Option<Arc<Map<String, Value>>>,
    pub thinking_default: Option<ThinkingLevel>,
    /// Its pool in [`Routing::pools`], when its place in the chain is one.
    pub pool: Option<usize>,
}

/// The client named a model clawgate cannot resolve: `suggestions` are
/// the refs and aliases it most likely meant; `ambiguous`, the refs of
/// every provider serving a bare model id that several serve.
#[derive(Debug)]
pub struct UnknownModel {
    pub name: String,
    pub suggestions: Vec<String>,
    pub ambiguous: Vec<ModelRef>,
}

/// The most characters of a model's name an error shows.
const MAX_SHOWN_NAME: usize = 128;

impl fmt::Display for UnknownModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [first, rest @ ..] = &self.ambiguous[..]
            && !rest.is_empty()
        {
            let rest: Vec<String> = rest.iter().map(|r| format!("`{r}`")).collect();
            write!(
                f,
                "model `{}` is ambiguous: `{first}` and {} both serve it; name one as provider/model",
                self.name,
                rest.join(" and ")
            )?;
        } else {
            write!(
                f,
                "unknown model `{}`: not a configured provider/model ref or alias",
                self.name
            )?;
            if let Some(hint) = suggest::did_you_mean(&self.suggestions) {
                write!(f, "; {hint}")?;
            }
        }
        f.write_str(" (GET /v1/models and `clawgate models list` list them)")
    }
}

impl std::error::Error for UnknownModel {}

impl Config {
    /// Resolves a requested model (a ref, an alias, `default` or nothing) to
    /// its chain: the model itself (or the pool it is in, each member
    /// marked with it), then the configured fallbacks, each once.
    pub fn chain(&self, requested: Option<&str>) -> Result<Vec<Target>, UnknownModel> {
        let first = self.first_ref(requested)?;
        let mut chain: Vec<Target> = Vec::new();
        let refs = self.routing.place_of(&first).iter();
        for model_ref in refs.chain(&self.routing.fallbacks) {
            if chain.iter().all(|t| t.model_ref != *model_ref) {
                // Every ref in routing was validated, so each resolves.
                chain.extend(self.target(model_ref));
            }
        }
        Ok(chain)
    }

    /// The ref `requested` names first: the primary's for none or
    /// `default`, else the model or alias it resolves to (a pool's, when
    /// it names one).
    fn first_ref(&self, requested: Option<&str>) -> Result<ModelRef, UnknownModel> {
        match requested {
            None | Some("" | "default") => Ok(self.routing.primary.clone()),
            Some(name) => self.resolve(name).ok_or_else(|| self.unknown(name)),
        }
    }

    /// The API of the first target [`Config::chain`] gives `requested` (a
    /// pool's first member as written), without making the chain; `None`
    /// when it names no model.
    pub fn first_api(&self, requested: Option<&str>) -> Option<Api> {
        let first = self.first_ref(requested).ok()?;
        let first = self.routing.place_of(&first).first()?;
        Some(self.providers.get(first.provider())?.api)
    }

    /// Why `name`, which [`Config::resolve`] did not resolve, names no model.
    pub fn unknown(&self, name: &str) -> UnknownModel {
        // A key pasted where a model goes is not echoed, nor more than the
        // start of a name as long as a body.
        let scrubbed = self.redactor.scrub(name);
        let shown = match crate::ops::redact::cut_to(&scrubbed, MAX_SHOWN_NAME) {
            (start, true) => format!("{start}… ({} bytes)", name.len()),
            (whole, false) => whole.to_string(),
        };
        UnknownModel {
            name: shown,
            suggestions: self.suggest(name),
            ambiguous: suggest::refs_with_model_id(&self.providers, name),
        }
    }

    /// `unknown`, as `client` may see it: its suggestions and the refs it
    /// finds ambiguous only among the models the client may use, so that
    /// no error names one its `models` leaves out.
    pub fn seen_by(&self, mut unknown: UnknownModel, client: &clients::Client) -> UnknownModel {
        unknown.suggestions.retain(|suggested| {
            let resolved = self.first_ref(Some(suggested));
            resolved.is_ok_and(|model_ref| client.may_use(&model_ref))
        });
        unknown
            .ambiguous
            .retain(|model_ref| client.may_use(model_ref));
        unknown
    }

    /// The refs and aliases `name` most likely meant, nearest first.
    pub fn suggest(&self, name: &str) -> Vec<String> {
        let served = suggest::models_of_provider(&self.providers, name);
        if !served.is_empty() {
            return served;
        }
        let refs: Vec<ModelRef> = self.models().map(|(model_ref, _, _)| model_ref).collect();
        let candidates = refs
            .iter()
            .map(ModelRef::as_str)
            .chain(self.routing.aliases.keys().map(String::as_str))
            .chain(["default"]);
        suggest::nearest(name, candidates)
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// An alias (exact, then ignoring ASCII case), a known ref, or a bare
    /// model id that exactly one provider has (`kimi-for-coding`, or
    /// `moonshotai/kimi-k2.6` for OpenRouter's).
    pub fn resolve(&self, name: &str) -> Option<ModelRef> {
        let aliases = &self.routing.aliases;
        let by_case = || (aliases.iter()).find(|(a, _)| a.eq_ignore_ascii_case(name));
        if let Some((_, target)) = aliases.get_key_value(name).or_else(by_case) {
            return Some(target.clone());
        }
        let as_ref = ModelRef::parse(name).map(|r| normalize_ref(&self.providers, r));
        if let Some(model_ref) = as_ref.filter(|r| self.model(r).is_some()) {
            return Some(model_ref);
        }
        match &suggest::refs_with_model_id(&self.providers, name)[..] {
            [only] => Some(only.clone()),
            _ => None,
        }
    }

    /// The provider and model `model_ref` names, if both are configured.
    fn model(&self, model_ref: &ModelRef) -> Option<(&Arc<Provider>, &Arc<Model>)> {
        let provider = self.providers.get(model_ref.provider())?;
        Some((provider, provider.model(model_ref.model())?))
    }

    pub fn target(&self, model_ref: &ModelRef) -> Option<Target> {
        let (provider, model) = self.model(model_ref)?;
        Some(Target {
            model_ref: model_ref.clone(),
            provider: provider.clone(),
            model: model.clone(),
            params: self.routing.params.get(model_ref).cloned(),
            thinking_default: self.routing.thinking_default,
            pool: self.routing.pool_of(model_ref),
        })
    }

    /// Aliases pointing at `model_ref`.
    pub fn aliases_of<'a>(&'a self, model_ref: &'a ModelRef) -> impl Iterator<Item = &'a str> + 'a {
        self.routing
            .aliases
            .iter()
            .filter(move |(_, target)| *target == model_ref)
            .map(|(alias, _)| alias.as_str())
    }

    /// Every model as `(ref, provider, model)`, in provider then config order.
    pub fn models(&self) -> impl Iterator<Item = (ModelRef, &Arc<Provider>, &Arc<Model>)> {
        models_of(&self.providers)
    }

    /// A `baseUrl`-naming error for each provider reached at this gateway's
    /// own address (checked again once `--port`/`--bind` apply).
    pub fn self_loops(&self) -> Vec<String> {
        let (bind, port) = (self.gateway.bind, self.gateway.port);
        let loops = validate::self_loops(&self.providers, bind, port);
        loops.iter().map(ConfigError::to_string).collect()
    }
}

/// Every model of `providers` as `(ref, provider, model)`, in provider then
/// config order.
fn models_of(
    providers: &BTreeMap<String, Arc<Provider>>,
) -> impl Iterator<Item = (ModelRef, &Arc<Provider>, &Arc<Model>)> {
    providers.values().flat_map(|provider| {
        provider
            .models
            .iter()
            .map(move |model| (ModelRef::new(&provider.id, &model.id), provider, model))
    })
}

/// One problem in a config, located by its JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a config, in the order found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    fn single(path: &str, message: String) -> Self {
        Self(vec![ConfigError {
            path: path.to_string(),
            message,
        }])
    }

    /// These errors of a file that could not be read, scrubbed of every
    /// value of `env` shaped as a key (as long as one, and no path or
    /// list: not starting with `/`, `~` or `.`, no `:` or space): a syntax
    /// error quotes its line with the values masked but a bare key shown,
    /// and a key the config names as `${VAR}` may be pasted where a key
    /// goes by mistake.
    fn scrubbed(mut self, env: &Environment) -> Self {
        let key_like = |value: &&str| {
            value.len() >= clients::MIN_KEY_CHARS
                && !value.starts_with(['/', '~', '.'])
                && !value.contains([':', ' ', '\t'])
        };
        let values = env.values().filter(key_like);
        let redactor = Redactor::new(values);
        for error in &mut self.0 {
            error.path = redactor.scrub(&error.path).into_owned();
            error.message = redactor.scrub(&error.message).into_owned();
        }
        self
    }
}

/// One error a line.
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ConfigError::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for ConfigErrors {}

impl ApiKey {
    /// Whether a key is configured and its variable set.
    pub fn is_set(&self) -> bool {
        matches!(self, ApiKey::Set(_))
    }

    /// Whether the config names a variable that gives no key: requests
    /// skip the provider.
    pub fn is_missing(&self) -> bool {
        matches!(self, ApiKey::Missing(_))
    }

    /// A description that never contains the key.
    pub fn describe(&self) -> String {
        match self {
            ApiKey::Set(_) => crate::ops::redact::REDACTED.to_string(),
            ApiKey::Missing(unset) => format!("missing: ${{{}}} {}", unset.var, unset.state()),
            ApiKey::None => "none".to_string(),
        }
    }
}

impl Serialize for ApiKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.describe())
    }
}
