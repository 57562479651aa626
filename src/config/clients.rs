//! Who may call the gateway (`gateway.clients`, and `gateway.auth.token` as
//! its one-client form), validated in `validate/clients.rs`.
//!
//! Keys are held as their SHA-256 only: a presented key is hashed once and
//! looked up by its digest, then compared in constant time. The lookup's
//! timing can only tell an attacker about digests, which say nothing about
//! a key that is not known already.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ModelRef;
use super::ledger::Budgets;

/// The ledger's name for requests made with `gateway.auth.token`.
pub const TOKEN_CLIENT: &str = "token";
/// The ledger's name for requests when no key is required.
pub const ANONYMOUS: &str = "anonymous";

/// The SHA-256 of a key.
pub type KeyDigest = [u8; 32];

/// The fewest characters in a key that guards the gateway beyond this
/// machine: a client's, and `gateway.auth.token` on an address that is
/// not loopback.
pub const MIN_KEY_CHARS: usize = 16;

/// Why `key` is too short to guard the gateway beyond this machine, if it
/// is: its length (never the key), the least `what` needs, and how to
/// make one.
pub fn too_short(key: &str, what: &str) -> Option<String> {
    let chars = key.chars().count();
    let s = if chars == 1 { "" } else { "s" };
    (chars < MIN_KEY_CHARS).then(|| {
        format!(
            "{chars} character{s}; {what} needs at least {MIN_KEY_CHARS} (`openssl rand -hex 32` makes one)"
        )
    })
}

pub fn digest(key: &[u8]) -> KeyDigest {
    Sha256::digest(key).into()
}

/// One client; shown with its key as a marker, whether or not it is set.
#[derive(Serialize)]
pub struct Client {
    /// Its name under `gateway.clients` (or [`TOKEN_CLIENT`],
    /// [`ANONYMOUS`]): what the ledger and the status page call it.
    #[serde(skip)]
    pub name: Arc<str>,
    /// `None` when its key's variable is unset (`config show`, `models`):
    /// no key matches it.
    #[serde(rename = "key", serialize_with = "super::secret::masked")]
    pub(super) digest: Option<KeyDigest>,
    /// Reads every client's usage and status, not only its own.
    pub admin: bool,
    /// `None`: every model.
    pub models: Option<AllowedModels>,
    pub limits: RateLimits,
    /// Its own budgets, on top of `gateway.budgets`.
    pub budgets: Budgets,
}

impl Client {
    /// Whether the client may ask for `model_ref` (every model, without
    /// `models`).
    pub fn may_use(&self, model_ref: &ModelRef) -> bool {
        self.models.as_ref().is_none_or(|m| m.allows(model_ref))
    }

    /// Whether this client's requests hold their worst cost before the
    /// call: it has a token limit, or budgets apply (its own, or
    /// `everyone`'s, `gateway.budgets`). Such a request that names no
    /// output limit is sent the one its reservation assumed.
    pub fn reserves(&self, everyone: &Budgets) -> bool {
        self.limits.tokens_per_minute.is_some() || !everyone.is_empty() || !self.budgets.is_empty()
    }

    /// The client that holds `gateway.auth.token`, or everyone when no key
    /// is required: it may do everything, limited only by the gateway's
    /// own settings.
    pub(super) fn owner(name: &str, digest: Option<KeyDigest>) -> Self {
        Self {
            name: name.into(),
            digest,
            admin: true,
            models: None,
            budgets: Budgets::default(),
            limits: RateLimits::default(),
        }
    }

    /// A digest that tells this client's conversations from any other's
    /// (the reasoning cache's scope): its name and key.
    pub fn scope_seed(&self) -> Vec<u8> {
        let digest = self.digest.as_ref().map_or(&[][..], |d| &d[..]);
        [self.name.as_bytes(), &[0], digest].concat()
    }
}

/// Everything but the key's digest, which is no one's business.
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.name)
            .field("admin", &self.admin)
            .field("models", &self.models)
            .field("budgets", &self.budgets)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// `gateway.clients.<name>.limits`; `None` for no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimits {
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u64>,
    pub concurrent_requests: Option<usize>,
}

/// `gateway.clients.<name>.models`: the refs and aliases a client may ask
/// for, and the targets its chains may reach; shown as written.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct AllowedModels {
    /// As written, for the refusal that lists them.
    pub written: Vec<String>,
    #[serde(skip)]
    pub(super) refs: BTreeSet<ModelRef>,
}

impl AllowedModels {
    pub fn allows(&self, model_ref: &ModelRef) -> bool {
        self.refs.contains(model_ref)
    }
}

/// Every client, by the digest of its key.
pub struct Clients {
    by_digest: HashMap<KeyDigest, Arc<Client>>,
    /// In name order, the token's holder among them.
    all: Vec<Arc<Client>>,
    /// Who a request is when no key is required.
    anonymous: Arc<Client>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.all).finish()
    }
}

impl Default for Clients {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl Clients {
    pub(super) fn new(mut all: Vec<Arc<Client>>) -> Self {
        all.sort_by(|a, b| a.name.cmp(&b.name));
        let by_digest = all
            .iter()
            .filter_map(|client| Some((client.digest?, client.clone())))
            .collect();
        Self {
            by_digest,
            all,
            anonymous: Arc::new(Client::owner(ANONYMOUS, None)),
        }
    }

    /// Whether a request must present a key: with `gateway.auth.token` or
    /// any client configured.
    pub fn require_key(&self) -> bool {
        !self.all.is_empty()
    }

    /// The client whose key `presented` is. An empty key is no one's,
    /// whatever digest a config holds.
    pub fn find(&self, presented: &str) -> Option<&Arc<Client>> {
        if presented.is_empty() {
            return None;
        }
        let presented = digest(presented.as_bytes());
        let client = self.by_digest.get(&presented)?;
        let digest = client.digest.as_ref()?;
        bool::from(digest.ct_eq(&presented)).then_some(client)
    }

    /// Who a request is when no key is required.
    pub fn anonymous(&self) -> &Arc<Client> {
        &self.anonymous
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Client>> {
        self.all.iter().find(|client| &*client.name == name)
    }

    /// Every configured client, in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Client>> {
        self.all.iter()
    }

    /// The name of every client a request may be counted to: each
    /// configured one, and everyone when no key is required.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.all.iter().map(|c| c.name.to_string()).collect();
        if !self.require_key() {
            names.push(self.anonymous.name.to_string());
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(name: &str, key: &str) -> Arc<Client> {
        Arc::new(Client::owner(name, Some(digest(key.as_bytes()))))
    }

    #[test]
    fn an_empty_key_is_no_ones() {
        // A digest of the empty string can only come from a config written
        // before validation refused it; the lookup refuses it on its own.
        let clients = Clients::new(vec![
            client("empty", ""),
            client("ci", "a-long-key-0123456789"),
        ]);
        assert!(clients.find("").is_none());
        assert_eq!(&*clients.find("a-long-key-0123456789").unwrap().name, "ci");
        assert!(clients.find("a-long-key-012345678").is_none());
    }
}
