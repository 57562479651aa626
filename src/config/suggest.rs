//! The names a user most likely meant when they wrote one the config does
//! not know: model refs, aliases, provider ids. Pure, for errors that guide
//! (as rustc's "a similar name exists").

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{ModelRef, Provider};

/// At most this many suggestions: more is a list, not a hint.
const MAX: usize = 3;

/// The `candidates` nearest `name` (all those equally near, up to three),
/// and only if near enough to be a likely misspelling, a different case, or
/// the same model id under another provider.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let name = name.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter_map(|candidate| distance(&name, candidate).map(|d| (d, candidate)))
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    let best = scored.first().map(|&(d, _)| d);
    scored
        .into_iter()
        .take_while(|&(d, _)| Some(d) == best)
        .take(MAX)
        .map(|(_, c)| c)
        .collect()
}

/// How many edits separate `name` (lowercase) from `candidate`, when few
/// enough: a third of the longer one, at least two. A ref whose model part
/// is `name`'s (a bare id, or the id under another provider) counts as one;
/// a bare id is also measured against a ref's model part (`kimi-k2.66`
/// near `moonshot/kimi-k2.6`), one edit more.
fn distance(name: &str, candidate: &str) -> Option<usize> {
    let lower = candidate.to_ascii_lowercase();
    let asked_model = name.split_once('/').map_or(name, |(_, model)| model);
    if (lower.strip_suffix(asked_model)).is_some_and(|head| head.ends_with('/')) {
        return Some(usize::from(name != lower));
    }
    let allowed = |a: &str, b: &str| (a.len().max(b.len()) / 3).max(2);
    let whole = edits_within(name, &lower, allowed(name, &lower));
    let bare_near = match (name.contains('/'), lower.split_once('/')) {
        (false, Some((_, model))) => edits_within(name, model, allowed(name, model)).map(|d| d + 1),
        _ => None,
    };
    match whole {
        Some(d) => Some(bare_near.map_or(d, |near| near.min(d))),
        None => bare_near,
    }
}

/// The edits from `a` to `b` (a swap of neighbours counting as one), if
/// at most `most`. Texts whose lengths (in bytes, as `most` is reckoned)
/// differ by more are not compared: a name as long as a request body
/// costs no more than its length.
fn edits_within(a: &str, b: &str, most: usize) -> Option<usize> {
    (a.len().abs_diff(b.len()) <= most)
        .then(|| strsim::osa_distance(a, b))
        .filter(|&edits| edits <= most)
}

/// When `name` is a provider's id (`kimi`, asked for as if it were a
/// model), the refs of its first models: what it serves.
pub fn models_of_provider(providers: &BTreeMap<String, Arc<Provider>>, name: &str) -> Vec<String> {
    let Some(provider) = providers.get(name) else {
        return Vec::new();
    };
    provider
        .models
        .iter()
        .take(MAX)
        .map(|model| ModelRef::new(&provider.id, &model.id).to_string())
        .collect()
}

/// The note for a model id a built-in provider once used (`kimi/kimi-k2p5`)
/// written as a model of its own: it is sent as written, and the provider
/// may no longer know it.
pub fn legacy_id_note(provider: &str, id: &str) -> Option<String> {
    let current = crate::catalog::canonical_model(provider, id);
    (current != id).then(|| {
        format!(
            "{id:?} is a legacy id of {provider}/{current}; this entry is sent as {id:?}, which the provider may no longer know: write id: {current:?} (or leave the entry out: the catalog has it)"
        )
    })
}

/// Every ref of `providers` whose model id is exactly `id`.
pub fn refs_with_model_id(providers: &BTreeMap<String, Arc<Provider>>, id: &str) -> Vec<ModelRef> {
    providers
        .values()
        .filter(|provider| provider.model(id).is_some())
        .map(|provider| ModelRef::new(&provider.id, id))
        .collect()
}

/// `did you mean `a` or `b`?`, or nothing.
pub fn did_you_mean(suggestions: &[impl AsRef<str>]) -> Option<String> {
    let quoted: Vec<String> = suggestions
        .iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect();
    match quoted.as_slice() {
        [] => None,
        [one] => Some(format!("did you mean {one}?")),
        [init @ .., last] => Some(format!("did you mean {} or {last}?", init.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &[
        "moonshot/kimi-k2.6",
        "moonshot/kimi-k2.5",
        "kimi/kimi-for-coding",
        "openrouter/moonshotai/kimi-k2.6",
        "openrouter/auto",
        "kimi",
        "default",
    ];

    #[test]
    fn near_names_are_suggested_nearest_first() {
        let cases: &[(&str, &[&str])] = &[
            (
                "moonshot/kimi-k2.7",
                &["moonshot/kimi-k2.5", "moonshot/kimi-k2.6"],
            ),
            ("kimi/kimi-for-code", &["kimi/kimi-for-coding"]),
            ("Moonshot/Kimi-K2.6", &["moonshot/kimi-k2.6"]),
            (
                "openrouter/kimi-k2.6",
                &["moonshot/kimi-k2.6", "openrouter/moonshotai/kimi-k2.6"],
            ),
            ("openruter/auto", &["openrouter/auto"]),
            ("kimmi", &["kimi"]),
            ("auto", &["openrouter/auto"]),
            // A bare id misspelt: the ref whose model part it is near.
            ("kimi-k2.66", &["moonshot/kimi-k2.6"]),
            ("kimi-for-codng", &["kimi/kimi-for-coding"]),
            ("gpt-4o", &[]),
            ("anthropic/claude-sonnet-4", &[]),
        ];
        for (name, expected) in cases {
            assert_eq!(nearest(name, KNOWN.iter().copied()), *expected, "{name}");
        }
    }

    #[test]
    fn suggestions_read_as_a_sentence() {
        assert_eq!(did_you_mean(&[] as &[&str]), None);
        assert_eq!(did_you_mean(&["a"]).unwrap(), "did you mean `a`?");
        assert_eq!(
            did_you_mean(&["a", "b", "c"]).unwrap(),
            "did you mean `a`, `b` or `c`?"
        );
    }
}
