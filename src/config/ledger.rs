//! The ledger's and the budgets' runtime settings (`ledger.*`,
//! `gateway.budgets`), validated in `validate/ledger.rs`.

use std::path::PathBuf;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, Serializer};

use super::ModelRef;

/// Raw rows are kept this many days by default; daily rollups for ever.
const DEFAULT_RETENTION_DAYS: u32 = 90;

/// `ledger.*`: where usage is recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerSettings {
    /// `ledger.enabled` (default true).
    pub enabled: bool,
    /// `ledger.path`; `None`: `ledger.db` in the state directory.
    pub path: Option<PathBuf>,
    /// `ledger.retentionDays`: how long raw rows are kept.
    pub retention_days: u32,
    /// `ledger.store`: a PostgreSQL database shared by several gateways;
    /// `None`: the SQLite file (`path`).
    pub store: Option<StoreUrl>,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            path: None,
            retention_days: DEFAULT_RETENTION_DAYS,
            store: None,
        }
    }
}

/// `ledger.store`: a `postgres://` or `postgresql://` URL. It may hold a
/// password, so it is held as a secret; [`StoreUrl::shown`] is the URL
/// with the password replaced, for logs, errors and status. A `${VAR}`
/// not set (validation offline) is kept as `Unresolved`.
#[derive(Clone)]
pub enum StoreUrl {
    Postgres { url: SecretString, shown: String },
    Unresolved { var: String },
}

impl StoreUrl {
    /// The URL with its password (userinfo or `password=`) hidden.
    pub fn shown(&self) -> &str {
        match self {
            StoreUrl::Postgres { shown, .. } => shown,
            StoreUrl::Unresolved { var } => var,
        }
    }

    /// The URL itself, to connect with; `None` while unresolved.
    pub fn expose(&self) -> Option<&str> {
        match self {
            StoreUrl::Postgres { url, .. } => Some(url.expose_secret()),
            StoreUrl::Unresolved { .. } => None,
        }
    }
}

/// As `config show` shows it: the URL with its password as `****`.
impl Serialize for StoreUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StoreUrl::Postgres { shown, .. } => s.serialize_str(shown),
            StoreUrl::Unresolved { var } => {
                s.collect_str(&format_args!("missing: {var} is not set"))
            }
        }
    }
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreUrl({})", self.shown())
    }
}

impl PartialEq for StoreUrl {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (StoreUrl::Unresolved { var: a }, StoreUrl::Unresolved { var: b }) => a == b,
            (a, b) => a.expose().is_some() && a.expose() == b.expose(),
        }
    }
}

/// A budget period, in UTC; shown by its [label](Period::label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    pub const ALL: [Period; 3] = [Period::Day, Period::Week, Period::Month];

    pub fn label(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// The config key of a budget for this period.
    pub fn key(self) -> &'static str {
        match self {
            Period::Day => "daily",
            Period::Week => "weekly",
            Period::Month => "monthly",
        }
    }

    /// A period by its label or its config key.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.label() == text || p.key() == text)
    }
}

/// What a budget counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    All,
    Provider(String),
    Model(ModelRef),
}

/// Shown as [described](Scope::describe).
impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.describe())
    }
}

impl Scope {
    pub fn covers(&self, model_ref: &ModelRef) -> bool {
        self.covers_ref(model_ref.as_str())
    }

    /// [`Self::covers`] for a ref as text (`provider/model-id`).
    pub fn covers_ref(&self, model_ref: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Provider(id) => model_ref
                .split_once('/')
                .is_some_and(|(provider, _)| provider == id),
            Scope::Model(model) => model.as_str() == model_ref,
        }
    }

    /// `all`, `provider openrouter`, `model moonshot/kimi-k2.6`.
    pub fn describe(&self) -> String {
        match self {
            Scope::All => "all traffic".to_string(),
            Scope::Provider(id) => format!("provider {id}"),
            Scope::Model(model) => format!("model {model}"),
        }
    }
}

/// One limit: at most `usd` per `period` for `scope`, of one client's
/// calls or of everyone's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budget {
    pub scope: Scope,
    pub period: Period,
    pub usd: f64,
    /// `None` for `gateway.budgets`, else the client whose budget it is.
    #[serde(skip)]
    pub client: Option<Arc<str>>,
}

impl Budget {
    /// `all traffic`, `provider openrouter of client alice`, ...
    pub fn describe(&self) -> String {
        match &self.client {
            None => self.scope.describe(),
            Some(client) => format!("{} of client {client}", self.scope.describe()),
        }
    }
}

/// `gateway.budgets.unpriced`: what a budget does with a model that has no
/// price, whose calls it cannot count in dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unpriced {
    /// Skip it like a spent target (the default: never counted as $0).
    #[default]
    Refuse,
    /// Let it through; its calls are counted as unpriced, not as $0.
    Allow,
}

/// `gateway.budgets`; shown as its limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Budgets {
    pub limits: Vec<Budget>,
    #[serde(skip)]
    pub unpriced: Unpriced,
}

impl Budgets {
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty()
    }

    /// The budgets that count calls to `model_ref`.
    pub fn covering<'a>(&'a self, model_ref: &'a ModelRef) -> impl Iterator<Item = &'a Budget> {
        self.limits.iter().filter(|b| b.scope.covers(model_ref))
    }
}
