//! `agents.defaults.*`: the chain, aliases, per-model params, the thinking
//! default, and the keys the chain needs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::super::raw::{RawAgentDefaults, RawChain, RawPlace};
use super::super::{
    MAX_POOL, ModelRef, Pool, Provider, Routing, Secrets, models_of, normalize_ref, suggest,
};
use super::{ENV_FILES, Validator, Vars};
use crate::catalog;

/// Fields a model's `params` may not set: the gateway decides them.
const NOT_PARAMS: [&str; 4] = ["model", "messages", "stream", "stream_options"];

/// Provider ids named by the chain or by `agents.defaults.models`.
pub(super) fn referenced_providers(raw: &RawAgentDefaults) -> BTreeSet<String> {
    let chain = (raw.model.iter()).flat_map(|chain| chain.primary.iter().chain(&chain.fallbacks));
    (chain.flat_map(RawPlace::refs))
        .chain(raw.models.keys())
        .filter_map(|text| {
            text.split_once('/')
                .map(|(provider, _)| provider.to_string())
        })
        .collect()
}

/// The providers a config defines: the valid ones, and the ids of those
/// whose entry has errors (reported at the entry, not again at each use).
pub(super) struct Known<'a> {
    pub providers: &'a BTreeMap<String, Arc<Provider>>,
    pub broken: &'a BTreeSet<String>,
}

fn known_ref(
    text: &str,
    path: &str,
    known: &Known<'_>,
    aliases: &BTreeMap<String, ModelRef>,
    v: &mut Validator,
) -> Option<ModelRef> {
    let providers = known.providers;
    if let Some(target) = aliases.get(text) {
        return Some(target.clone());
    }
    let hint = || {
        let refs: Vec<ModelRef> = models_of(providers).map(|(r, ..)| r).collect();
        let candidates = refs
            .iter()
            .map(ModelRef::as_str)
            .chain(aliases.keys().map(String::as_str));
        suggest::did_you_mean(&suggest::nearest(text, candidates))
            .map(|hint| format!("; {hint}"))
            .unwrap_or_default()
    };
    if text.trim().is_empty() {
        v.error(
            path,
            "empty: name a provider/model ref (`kimi/k3`) or an alias",
        );
        return None;
    }
    let Some(model_ref) = ModelRef::parse(text) else {
        v.error(
            path,
            format!(
                "{text:?} is neither an alias nor a provider/model ref{}",
                hint()
            ),
        );
        return None;
    };
    let model_ref = normalize_ref(providers, model_ref);
    match providers.get(model_ref.provider()) {
        None if known.broken.contains(model_ref.provider()) => {}
        None => v.error(
            path,
            format!(
                "unknown provider {:?} in {text:?}{}",
                model_ref.provider(),
                hint()
            ),
        ),
        Some(provider) if provider.model(model_ref.model()).is_none() => v.error(
            path,
            format!(
                "provider {:?} has no model {:?}; to use it, add it to models.providers.{}.models{}",
                provider.id,
                model_ref.model(),
                provider.id,
                hint()
            ),
        ),
        Some(provider) => {
            if let Some(retired) = provider.model(model_ref.model()).and_then(|m| m.retired) {
                v.warnings.push(format!(
                    "{path}: {model_ref} was {}; the provider answers it as an unknown model",
                    retired.advice(&provider.id)
                ));
            }
            return Some(model_ref);
        }
    }
    None
}

/// A configured model to name as a fallback for a chain of `primary` alone:
/// never `primary` itself, nor a model that is not configured. The built-in
/// OpenRouter Kimi when it is there, else a model of another provider (a
/// fallback on the same account shares its outages), else another model.
fn fallback_to_suggest(
    primary: &ModelRef,
    providers: &BTreeMap<String, Arc<Provider>>,
) -> Option<ModelRef> {
    let configured = || models_of(providers).map(|(model_ref, ..)| model_ref);
    let usual = ModelRef::new("openrouter", "moonshotai/kimi-k2.6");
    configured()
        .find(|other| *other == usual && other != primary)
        .or_else(|| configured().find(|other| other.provider() != primary.provider()))
        .or_else(|| configured().find(|other| other != primary))
}

pub(super) fn routing(
    raw: RawAgentDefaults,
    providers: &BTreeMap<String, Arc<Provider>>,
    broken: &BTreeSet<String>,
    v: &mut Validator,
) -> Option<Routing> {
    let known = Known { providers, broken };
    let mut aliases: BTreeMap<String, ModelRef> = BTreeMap::new();
    let mut params = HashMap::new();
    let mut params_written: HashMap<ModelRef, String> = HashMap::new();
    let no_aliases = BTreeMap::new();
    for (key, entry) in raw.models {
        let path = format!("agents.defaults.models.{key}");
        let Some(model_ref) = known_ref(&key, &path, &known, &no_aliases, v) else {
            continue;
        };
        if let Some(alias) = &entry.alias {
            v.holds_a_key(format!("{path}.alias"), alias, "an alias");
            let mut refuse = |message: String| v.error(format!("{path}.alias"), message);
            if alias.trim().is_empty() {
                refuse("must not be empty".into());
            } else if alias.eq_ignore_ascii_case("default") {
                // A request's `default` is the primary's: the alias could
                // never be reached.
                refuse("\"default\" names the primary in a request; choose another alias".into());
            } else if ModelRef::parse(alias).is_some_and(|r| providers.contains_key(r.provider())) {
                refuse(format!("{alias:?} would shadow a provider/model ref"));
            } else if alias.contains('/') {
                refuse(format!(
                    "{alias:?} looks like a provider/model ref: an alias is a name without `/`"
                ));
            } else if let Some((other, previous)) = (aliases.iter())
                .find(|(other, _)| *other != alias && other.eq_ignore_ascii_case(alias))
            {
                // A request's name is matched ignoring case when no alias
                // matches it exactly: which of the two would it be?
                refuse(format!(
                    "{alias:?} differs from {other:?}, the alias of {previous}, only in case, and a request's name is matched ignoring case"
                ));
            } else if let Some(previous) = aliases.insert(alias.clone(), model_ref.clone()) {
                refuse(format!("{alias:?} is already the alias of {previous}"));
            }
        }
        if let Some(mut entry_params) = entry.params {
            for key in NOT_PARAMS {
                if entry_params.remove(key).is_some() {
                    v.warnings.push(format!(
                        "{path}.params.{key}: clawgate decides `{key}` itself; the param is not applied"
                    ));
                }
            }
            // Two keys for one model (a legacy id, a provider's alias):
            // the params of one would be lost unseen.
            if let Some(first) = params_written.insert(model_ref.clone(), key.clone()) {
                v.error(
                    format!("{path}.params"),
                    format!("{first:?} names the same model, {model_ref}, with params of its own: write the model's params once"),
                );
            }
            params.insert(model_ref, Arc::new(entry_params));
        }
    }

    let RawChain { primary, fallbacks } = raw.model.unwrap_or_default();
    let mut chain = Chain::default();
    let path = "agents.defaults.model.primary";
    let primary = match primary {
        Some(primary) => chain.place(&primary, path, &known, &aliases, v),
        None => {
            v.error(path, "required: the model to answer requests");
            None
        }
    };
    let first_place = chain.refs.len();
    for (index, fallback) in fallbacks.iter().enumerate() {
        let path = format!("agents.defaults.model.fallbacks[{index}]");
        chain.place(fallback, &path, &known, &aliases, v);
    }
    let Chain { mut refs, pools } = chain;
    let resolved_fallbacks = refs.split_off(first_place);

    if let (Some(primary), true) = (&primary, resolved_fallbacks.is_empty() && pools.is_empty()) {
        let add = match fallback_to_suggest(primary, providers) {
            Some(other) => format!("add agents.defaults.model.fallbacks (e.g. [\"{other}\"])"),
            None => "configure a second provider in models.providers and list one of its models in agents.defaults.model.fallbacks".to_string(),
        };
        v.warnings.push(format!(
            "agents.defaults.model: the chain is {primary} alone; when it fails, every request fails: {add}"
        ));
    }
    let thinking = raw.thinking_default.map(|level| level.parse());
    let thinking_default = thinking.and_then(|t| v.ok("agents.defaults.thinkingDefault", t));
    Some(Routing {
        primary: primary?,
        fallbacks: resolved_fallbacks,
        pools,
        aliases,
        params,
        thinking_default,
    })
}

/// The chain as its places are read: every ref once, in order, and the
/// places written as lists.
#[derive(Default)]
struct Chain {
    refs: Vec<ModelRef>,
    pools: Vec<Pool>,
}

impl Chain {
    /// Reads one place (`path`: where it is written) onto the chain; its
    /// first ref, if it resolves. A ref already in the chain is listed
    /// once, where it came first (a warning); a pool's errors (empty, too
    /// large, a ref twice in it) are errors.
    fn place(
        &mut self,
        place: &RawPlace,
        path: &str,
        known: &Known<'_>,
        aliases: &BTreeMap<String, ModelRef>,
        v: &mut Validator,
    ) -> Option<ModelRef> {
        let RawPlace::Pool(written) = place else {
            let text = &place.refs()[0];
            let model_ref = known_ref(text, path, known, aliases, v)?;
            self.add(model_ref.clone(), text, path, v);
            return Some(model_ref);
        };
        if written.is_empty() {
            v.error(
                path,
                "an empty list names no model: write a ref, or a list of equivalent refs (a pool)",
            );
            return None;
        }
        let n = written.len();
        if n > MAX_POOL {
            v.error(
                path,
                format!("a pool holds at most {MAX_POOL} refs, found {n}"),
            );
            return None;
        }
        let mut members: Vec<ModelRef> = Vec::new();
        for (index, text) in written.iter().enumerate() {
            let path = format!("{path}[{index}]");
            let Some(model_ref) = known_ref(text, &path, known, aliases, v) else {
                continue;
            };
            if members.contains(&model_ref) {
                v.error(
                    &path,
                    format!("{text:?} ({model_ref}) is already in this pool"),
                );
            } else if self.add(model_ref.clone(), text, &path, v) {
                members.push(model_ref);
            }
        }
        let first = members.first().cloned();
        if members.len() > 1 {
            self.pools.push(Pool { members });
        }
        first
    }

    /// Adds `model_ref` unless the chain has it (then a warning): whether
    /// it was added.
    fn add(&mut self, model_ref: ModelRef, text: &str, path: &str, v: &mut Validator) -> bool {
        if self.refs.contains(&model_ref) {
            v.warnings.push(format!(
                "{path}: {text:?} is already in the chain; listed once"
            ));
            return false;
        }
        self.refs.push(model_ref);
        true
    }
}

/// A variable that is set and looks like the key `var` names, under
/// another name: `KIMICODE_API_KEY` (the seeds' name) for `KIMI_API_KEY`.
/// Its name ends in `KEY` and holds the provider's id, one of OpenClaw's
/// aliases for it, or the first word of `var`, spelled without `_`/`-`.
fn key_under_another_name<'a>(
    provider: &str,
    var: &str,
    set: &[&'a str],
    taken: &[&str],
) -> Option<&'a str> {
    let flat = |text: &str| text.replace(['_', '-'], "").to_ascii_lowercase();
    let mut stems = vec![flat(provider)];
    stems.extend(catalog::aliases_of_provider(provider).map(flat));
    stems.extend(var.split('_').next().map(flat));
    stems.retain(|stem| stem.len() >= 3);
    let mut found: Vec<&str> = set
        .iter()
        .copied()
        .filter(|name| *name != var && name.to_ascii_uppercase().ends_with("KEY"))
        // Another provider's own (a second account's): not this one's.
        .filter(|name| !taken.contains(name))
        .filter(|name| stems.iter().any(|stem| flat(name).contains(stem.as_str())))
        .collect();
    found.sort_unstable();
    found.first().copied()
}

/// A chain target whose provider lacks its key cannot answer. When no
/// target of the default chain has its key, each missing one is an error
/// (unless offline); when some have, the others are warnings: clawgate
/// starts and serves from the targets it can (a target without its key
/// fails as `config` and the chain falls over), as LiteLLM does with
/// a deployment whose key is unset. Either way the message names the
/// targets that need the variable and the ways to provide it. Any other
/// provider the user configured without its key is a warning; built-in
/// providers the user never mentioned stay quiet (`clawgate models list`
/// shows their key status).
pub(super) fn check_keys_of_chain(
    routing: &Routing,
    providers: &BTreeMap<String, Arc<Provider>>,
    user_providers: &BTreeSet<String>,
    vars: &Vars,
    set: &[&str],
    secrets: Secrets,
    v: &mut Validator,
) {
    let chain: Vec<&ModelRef> = routing.refs().collect();
    let servable: Vec<&str> = chain
        .iter()
        .filter(|r| {
            providers
                .get(r.provider())
                .is_some_and(|p| !p.api_key.is_missing())
        })
        .map(|r| r.as_str())
        .collect();
    // The variables other providers' keys are read from.
    let taken: Vec<&str> = (vars.used.iter())
        .filter(|used| used.path.starts_with("models.providers."))
        .map(|used| used.var.as_str())
        .collect();
    for var in (vars.missing.iter()).filter(|m| m.path.starts_with("models.providers.")) {
        let provider = var.path["models.providers.".len()..]
            .split('.')
            .next()
            .unwrap_or_default();
        if !providers.contains_key(provider) {
            continue;
        }
        let mut message = format!("environment variable {}", var.unset());
        if let Some(other) = key_under_another_name(provider, &var.var, set, &taken) {
            message.push_str(&format!(
                " ({other} is: the {provider} provider reads {}; rename the variable, or write apiKey: \"${{{other}}}\" in models.providers.{provider})",
                var.var
            ));
        }
        let targets: Vec<&str> = chain
            .iter()
            .filter(|r| r.provider() == provider)
            .map(|r| r.as_str())
            .collect();
        if targets.is_empty() {
            if user_providers.contains(provider) {
                v.warnings.push(format!(
                    "{}: {message}; provider {provider:?} is not in the default chain",
                    var.path
                ));
            }
            continue;
        }
        if secrets == Secrets::Offline {
            continue;
        }
        let targets = targets.join(", ");
        let (until, fix) = match var.unset().empty {
            true => ("until it has a value", "give it its value in"),
            false => ("until it is set", "export it, put it in"),
        };
        let how = format!("{fix} {ENV_FILES}, or take {targets} out of agents.defaults.model");
        if servable.is_empty() {
            v.error(
                &var.path,
                format!("{message}; chain target {targets} needs it: {how}"),
            );
        } else if chain[0].provider() == provider {
            v.warnings.push(format!(
                "{}: {message}; chain target {targets} is skipped (its requests fall over to {}) {until}: {how}",
                var.path,
                servable.join(", ")
            ));
        } else if (routing.pool_of(&routing.primary)).is_some_and(|pool| {
            chain
                .iter()
                .any(|r| r.provider() == provider && routing.pool_of(r) == Some(pool))
        }) {
            v.warnings.push(format!(
                "{}: {message}; {targets}, of the primary's pool, is skipped (its sessions are placed on the pool's other members) {until}: {how}",
                var.path
            ));
        } else {
            // A fallback: what falls over to it goes on past it.
            let last = chain
                .iter()
                .rposition(|r| r.provider() == provider)
                .unwrap_or(0);
            let after: Vec<&str> = chain[last + 1..]
                .iter()
                .map(|r| r.as_str())
                .filter(|r| servable.contains(r))
                .collect();
            let then = match after.as_slice() {
                [] => "then fails".to_string(),
                after => format!("goes on to {}", after.join(", ")),
            };
            v.warnings.push(format!(
                "{}: {message}; fallback {targets} is skipped {until} (a request whose earlier targets fail {then}): {how}",
                var.path
            ));
        }
    }
}
