//! `ledger.*` and `gateway.budgets`: where usage is recorded, and the
//! spending limits checked before each call.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use secrecy::SecretString;

use super::super::ledger::{Budget, Budgets, LedgerSettings, Period, Scope, StoreUrl, Unpriced};
use super::super::raw::{RawBudgetLimits, RawBudgets, RawLedger};
use super::super::{ModelRef, Provider, normalize_ref};
use super::{ENV_FILES, Validator, Vars, percent_decoded};

/// Raw rows kept at most ten years: a longer retention is a typo.
const MAX_RETENTION_DAYS: u64 = 3650;

/// The parameters a `postgres://` URL may carry: those the PostgreSQL
/// client reads (libpq's names). Any other is a typo, refused.
const URL_PARAMETERS: &str = "host hostaddr port user password dbname options application_name \
    sslmode connect_timeout keepalives keepalives_idle target_session_attrs channel_binding \
    load_balance_hosts";

pub(super) fn ledger_settings(raw: RawLedger, vars: &Vars, v: &mut Validator) -> LedgerSettings {
    let mut settings = LedgerSettings::default();
    if let Some(text) = raw.store {
        settings.store = match vars.unset("ledger.store") {
            // Offline validation, or an error already.
            Some(unset) => Some(StoreUrl::Unresolved {
                var: format!("${{{}}}", unset.var),
            }),
            None => {
                let url = v.ok("ledger.store", store_url(&text));
                // Written in the file, not substituted from `${VAR}`.
                let literal = !vars.substituted("ledger.store");
                if url.is_some() && literal && has_password(&text) {
                    v.warnings.push(
                        format!("ledger.store: a password written in the config file; put the URL in {ENV_FILES}, chmod 600, and write \"${{CLAWGATE_LEDGER_URL}}\" here, or use peer authentication over the Unix socket"),
                    );
                }
                url
            }
        };
        if settings.store.is_some() && raw.path.is_some() {
            v.error(
                "ledger.path",
                "ledger.path is the SQLite ledger's file, and ledger.store sends usage to PostgreSQL instead; leave one of them out",
            );
        }
    }
    settings.enabled = raw.enabled.unwrap_or(settings.enabled);
    match raw.path.map(PathBuf::from) {
        Some(path) if path.is_absolute() => settings.path = Some(path),
        Some(path) => v.error(
            "ledger.path",
            format!(
                "expected an absolute path, found {:?} (leave it out for ledger.db in the state directory)",
                path.display().to_string()
            ),
        ),
        None => {}
    }
    let days = raw.retention_days.map(|days| match days {
        1..=MAX_RETENTION_DAYS => Ok(days as u32),
        _ => Err(format!(
            "expected a number of days between 1 and {MAX_RETENTION_DAYS}, found {days}"
        )),
    });
    let days = days.and_then(|days| v.ok("ledger.retentionDays", days));
    settings.retention_days = days.unwrap_or(settings.retention_days);
    settings
}

/// `ledger.store` checked: a `postgres://` or `postgresql://` URL with
/// known parameters and no TLS asked for. Messages never quote the URL,
/// which may hold a password.
pub(super) fn store_url(text: &str) -> Result<StoreUrl, String> {
    let expected = "expected a postgres:// or postgresql:// URL, such as postgresql:///clawgate?host=/run/postgresql (leave ledger.store out for the SQLite ledger)";
    let Some((scheme, _)) = text.split_once("://") else {
        return Err(format!("{expected}; found no scheme"));
    };
    if !matches!(scheme, "postgres" | "postgresql") {
        let scheme = if scheme.len() <= 16 && scheme.chars().all(|c| c.is_ascii_alphanumeric()) {
            scheme
        } else {
            "another"
        };
        return Err(format!("{expected}; found a {scheme}:// URL"));
    }
    // The PostgreSQL client ends the user and password at their first `@`,
    // a URL reader at the last: a second would be read as part of the
    // host, and the password's end shown, logged and looked up as one.
    let authority = text[scheme.len() + 3..].split(['/', '?']).next();
    if authority.is_some_and(|authority| authority.matches('@').count() > 1) {
        return Err(
            "the user or password holds an `@`: write it `%40` (a URL's `@` ends its user and password)".into(),
        );
    }
    let url = parse_url(text).map_err(|e| format!("not a valid URL ({e}); {expected}"))?;
    let mut shown = url.clone();
    if url.password().is_some() {
        let _ = shown.set_password(Some("****"));
    }
    let mut pairs = Vec::new();
    let mut password_in_query = false;
    for (name, value) in url.query_pairs() {
        if !URL_PARAMETERS.split(' ').any(|known| known == name) {
            let name = if name.len() <= 32 {
                name.as_ref()
            } else {
                "(a long name)"
            };
            return Err(format!(
                "unknown URL parameter {name:?}; a postgres:// URL takes {}",
                URL_PARAMETERS.replace(' ', ", ")
            ));
        }
        if name == "sslmode" && !matches!(value.as_ref(), "disable" | "prefer") {
            return Err(
                "sslmode: clawgate connects to PostgreSQL without TLS, over a Unix socket or to localhost; use sslmode=disable or prefer (or leave it out), and put a TLS-terminating proxy on this machine for a remote database".into(),
            );
        }
        let value = if name == "password" {
            password_in_query = true;
            "****".into()
        } else {
            value
        };
        pairs.push((name.into_owned(), value.into_owned()));
    }
    // A value the PostgreSQL client cannot read (a port, a timeout, a
    // mode) is refused here as at start, where the gateway could only
    // count in memory. Its errors name options, never values.
    if let Err(error) = text.parse::<tokio_postgres::Config>() {
        let mut words = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            words = format!("{words}: {cause}");
            source = cause.source();
        }
        return Err(words);
    }
    if password_in_query {
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    Ok(StoreUrl::Postgres {
        url: SecretString::from(text.to_string()),
        shown: shown.to_string().replacen(STAND_IN, "@/", 1),
    })
}

/// libpq's URLs may leave the host out after a user
/// (`postgresql://me@/db?host=/run/postgresql`), which the `url` crate
/// refuses: such a URL is read with this stand-in host, never shown.
const STAND_IN: &str = "@stand-in.invalid/";

fn parse_url(text: &str) -> Result<url::Url, url::ParseError> {
    match url::Url::parse(text) {
        Err(url::ParseError::EmptyHost) if text.contains("@/") => {
            url::Url::parse(&text.replacen("@/", STAND_IN, 1))
        }
        parsed => parsed,
    }
}

/// Whether a URL carries a password (in its userinfo or as `password=`).
pub(super) fn has_password(text: &str) -> bool {
    parse_url(text).is_ok_and(|url| {
        url.password().is_some() || url.query_pairs().any(|(name, _)| name == "password")
    })
}

/// The password a URL carries, as the PostgreSQL client reads it, to be
/// scrubbed like any secret: the userinfo's or the `password=` value,
/// percent-decoded and nothing else (`+` is a plus in both, for libpq and
/// tokio-postgres alike; a form's query would read it as a space).
pub(super) fn store_password(url: &StoreUrl) -> Option<String> {
    // An escape that is not one is kept, as the client keeps it.
    Some(percent_decoded(&written_password(url.expose()?)?).0)
}

/// The password a URL's text carries, as written (not decoded).
pub(super) fn written_password(text: &str) -> Option<String> {
    let url = parse_url(text).ok()?;
    let raw = url.password().or_else(|| {
        url.query()?
            .split('&')
            .find_map(|pair| pair.strip_prefix("password="))
    })?;
    Some(raw.to_string())
}

/// The budgets at `path` (`gateway.budgets`, or a client's with its name
/// as `client`).
///
/// `chain`: the default chain (as far as `client` may use it). Budgets
/// that refuse its primary for want of
/// a price are an error, not a warning: every request would skip it and
/// pay the fallbacks; a fallback they refuse is a warning. (Any other
/// model a client names is refused with the same reason when asked for.)
pub(super) fn budgets(
    raw: RawBudgets,
    path: &str,
    client: Option<Arc<str>>,
    providers: &BTreeMap<String, Arc<Provider>>,
    chain: &[&ModelRef],
    v: &mut Validator,
) -> Budgets {
    let mut budgets = Budgets::default();
    match raw.unpriced.as_deref() {
        None | Some("refuse") => {}
        Some("allow") => budgets.unpriced = Unpriced::Allow,
        Some(other) => v.error(
            format!("{path}.unpriced"),
            format!("expected \"refuse\" or \"allow\", found {other:?}"),
        ),
    }
    // The limits of `scope`, each period's, written at `at`.
    let mut limits = |scope: Scope, at: &str, raw: &RawBudgetLimits, v: &mut Validator| {
        let periods = [
            (Period::Day, raw.daily),
            (Period::Week, raw.weekly),
            (Period::Month, raw.monthly),
        ];
        for (period, usd) in periods {
            match usd {
                Some(usd) if usd.is_finite() && usd >= 0.0 => budgets.limits.push(Budget {
                    scope: scope.clone(),
                    period,
                    usd,
                    client: client.clone(),
                }),
                Some(usd) => v.error(
                    format!("{at}.{}", period.key()),
                    format!("expected an amount in USD, 0 or more, found {usd}"),
                ),
                None => {}
            }
        }
    };
    let all = RawBudgetLimits {
        daily: raw.daily,
        weekly: raw.weekly,
        monthly: raw.monthly,
    };
    limits(Scope::All, path, &all, v);
    for (id, limits_of) in &raw.providers {
        let at = format!("{path}.providers.{id}");
        if !providers.contains_key(id) {
            v.error(at, format!("no provider {id:?} is configured"));
            continue;
        }
        limits(Scope::Provider(id.clone()), &at, limits_of, v);
    }
    for (name, limits_of) in &raw.models {
        let written = format!("{path}.models.{name}");
        let Some(model_ref) = ModelRef::parse(name) else {
            v.error(written, "expected a model ref, provider/model-id");
            continue;
        };
        let model_ref = normalize_ref(providers, model_ref);
        let known = providers
            .get(model_ref.provider())
            .is_some_and(|p| p.model(model_ref.model()).is_some());
        if !known {
            v.error(written, format!("no model {model_ref} is configured"));
            continue;
        }
        let at = format!("{path}.models.{model_ref}");
        limits(Scope::Model(model_ref), &at, limits_of, v);
    }
    if budgets.unpriced == Unpriced::Refuse {
        let unpriced = |model_ref: &ModelRef| {
            providers
                .get(model_ref.provider())
                .and_then(|p| p.model(model_ref.model()))
                .is_some_and(|m| m.cost.is_none())
        };
        let mut refused: Vec<String> = chain
            .iter()
            .filter(|model_ref| unpriced(model_ref))
            .filter(|model_ref| budgets.covering(model_ref).next().is_some())
            .map(|model_ref| model_ref.to_string())
            .collect();
        if let Some(primary) = chain.first()
            && refused.first().map(String::as_str) == Some(primary.as_str())
        {
            refused.remove(0);
            v.error(
                path,
                format!(
                    "the primary model {primary} has no price, so the budgets refuse it and every request would skip it for the fallbacks ({path}.unpriced is \"refuse\"); give it a cost in models.providers.{}.models (0 if calls to it are free), or set {path}.unpriced to \"allow\"",
                    primary.provider()
                ),
            );
        }
        if !refused.is_empty() {
            v.warnings.push(format!(
                "{path}: {} ha{} no price, so the budgets covering {} refuse {} ({path}.unpriced is \"refuse\"; set a cost, or \"allow\" to let unpriced calls through, counted apart)",
                refused.join(", "),
                if refused.len() == 1 { "s" } else { "ve" },
                if refused.len() == 1 { "it" } else { "them" },
                if refused.len() == 1 { "it" } else { "them" },
            ));
        }
    }
    budgets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_read_as_the_postgresql_client_reads_it() {
        for (text, password) in [
            (
                "postgresql://gw:pa+ss%2Bw0rd@/db?host=/run/pg",
                "pa+ss+w0rd",
            ),
            ("postgresql://gw:p%40ss%25w0rd@localhost/db", "p@ss%w0rd"),
            (
                "postgresql://gw@/db?host=/run/pg&password=pa+ss%2Bw0rd",
                "pa+ss+w0rd",
            ),
            ("postgresql://gw@localhost/db?password=a%26b%3Dc", "a&b=c"),
        ] {
            let url = store_url(text).unwrap();
            assert_eq!(store_password(&url).as_deref(), Some(password), "{text}");
        }
        let url = store_url("postgresql:///db?host=/run/pg").unwrap();
        assert_eq!(store_password(&url), None);
    }
}
