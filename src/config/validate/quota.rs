//! `models.providers.<id>.quota`: whether clawgate reads the account's
//! quota (Kimi Coding's `/usages`) or balance (Moonshot's
//! `/users/me/balance`), and when a target counts as exhausted. On by
//! default for the providers' own hosts; off for any other `baseUrl` (a
//! proxy may not forward it) unless configured on.

use std::time::Duration;

use super::super::raw::{RawQuota, Toggle};
use super::super::{QuotaKind, QuotaSettings};
use super::Validator;
use crate::capabilities::{Dialect, DialectSource};

/// Windows used this far (in percent) are skipped.
const DEFAULT_THRESHOLD_PERCENT: f64 = 100.0;
/// A reading is used this long; Kimi Coding allows 30 concurrent requests
/// per account, and its endpoint is undocumented: ask rarely.
const DEFAULT_REFRESH_SECONDS: f64 = 300.0;
const MIN_REFRESH_SECONDS: f64 = 60.0;

pub(super) fn settings(
    raw: &Option<Toggle<RawQuota>>,
    path: &str,
    dialect: Dialect,
    completions_url: &reqwest::Url,
    v: &mut Validator,
) -> Option<QuotaSettings> {
    let kind = match dialect {
        Dialect::KimiCoding => Some(QuotaKind::Usages),
        Dialect::Moonshot => Some(QuotaKind::Balance),
        Dialect::OpenRouter | Dialect::Generic => None,
    };
    // The host the dialect is known by, where the quota is read.
    let by_host = Dialect::resolve(None, Some(completions_url), "");
    let own_host = kind.is_some() && by_host == (dialect, DialectSource::Host);
    let (enabled, set) = match raw {
        None => (None, &RawQuota::default()),
        Some(Toggle::On(on)) => (Some(*on), &RawQuota::default()),
        // Writing the settings out means them on.
        Some(Toggle::Set(set)) => (Some(set.enabled.unwrap_or(true)), set),
    };
    let key = |key: &str| format!("{path}.{key}");
    let threshold_percent = v.number(key("thresholdPercent"), set.threshold_percent, (1.0, 100.0));
    let refresh = v.number(
        key("refreshSeconds"),
        set.refresh_seconds,
        (MIN_REFRESH_SECONDS, 86_400.0),
    );
    if !enabled.unwrap_or(own_host) {
        return None;
    }
    let Some(kind) = kind else {
        v.error(
            path,
            "clawgate reads the quota of Kimi Coding and the balance of Moonshot only; \
             set the provider's dialect to kimi-coding or moonshot, or remove the key",
        );
        return None;
    };
    Some(QuotaSettings {
        kind,
        url: quota_url(kind, completions_url),
        threshold_percent: threshold_percent.unwrap_or(DEFAULT_THRESHOLD_PERCENT),
        refresh: Duration::from_secs_f64(refresh.unwrap_or(DEFAULT_REFRESH_SECONDS)),
    })
}

/// Beside the request URL: `.../v1/chat/completions` or `.../v1/messages`
/// becomes `.../v1/usages` or `.../v1/users/me/balance`.
fn quota_url(kind: QuotaKind, completions_url: &reqwest::Url) -> reqwest::Url {
    let path = completions_url.path();
    let root = path
        .strip_suffix("/chat/completions")
        .or_else(|| path.strip_suffix("/messages"))
        .unwrap_or(path.trim_end_matches('/'));
    let tail = match kind {
        QuotaKind::Usages => "usages",
        QuotaKind::Balance => "users/me/balance",
    };
    let mut url = completions_url.clone();
    url.set_path(&format!("{root}/{tail}"));
    url.set_query(None);
    url
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn check(
        raw: Option<Value>,
        dialect: Dialect,
        url: &str,
    ) -> Result<Option<(QuotaKind, String, f64, u64)>, String> {
        let mut v = Validator::default();
        let url: reqwest::Url = url.parse().unwrap();
        let raw: Option<Toggle<RawQuota>> = v.parse("q", raw.as_ref()).unwrap_or_default();
        let got = settings(&raw, "q", dialect, &url, &mut v);
        if !v.errors.is_empty() {
            return Err(v.errors.iter().map(|e| e.to_string()).collect());
        }
        Ok(got.map(|s| {
            (
                s.kind,
                s.url.to_string(),
                s.threshold_percent,
                s.refresh.as_secs(),
            )
        }))
    }

    #[test]
    fn on_for_the_providers_own_hosts_off_for_others_unless_asked() {
        use QuotaKind::*;
        let kimi = "https://api.kimi.com/coding/v1/chat/completions";
        let kimi_anthropic = "https://api.kimi.com/coding/v1/messages";
        let moonshot = "https://api.moonshot.cn/v1/chat/completions";
        let proxy = "http://127.0.0.1:9000/v1/chat/completions";
        let usages = "https://api.kimi.com/coding/v1/usages".to_string();
        assert_eq!(
            check(None, Dialect::KimiCoding, kimi),
            Ok(Some((Usages, usages.clone(), 100.0, 300)))
        );
        assert_eq!(
            check(None, Dialect::KimiCoding, kimi_anthropic),
            Ok(Some((Usages, usages, 100.0, 300)))
        );
        assert_eq!(
            check(None, Dialect::Moonshot, moonshot),
            Ok(Some((
                Balance,
                "https://api.moonshot.cn/v1/users/me/balance".into(),
                100.0,
                300
            )))
        );
        assert_eq!(check(None, Dialect::KimiCoding, proxy), Ok(None));
        assert_eq!(
            check(Some(json!(false)), Dialect::KimiCoding, kimi),
            Ok(None)
        );
        assert_eq!(check(None, Dialect::OpenRouter, proxy), Ok(None));
        assert_eq!(
            check(
                Some(json!({"thresholdPercent": 90, "refreshSeconds": 120})),
                Dialect::KimiCoding,
                proxy
            ),
            Ok(Some((
                Usages,
                "http://127.0.0.1:9000/v1/usages".into(),
                90.0,
                120
            )))
        );
        assert_eq!(
            check(
                Some(json!({"enabled": false, "thresholdPercent": 90})),
                Dialect::KimiCoding,
                kimi
            ),
            Ok(None)
        );
    }

    #[test]
    fn bad_settings_are_errors_that_name_the_key() {
        let kimi = "https://api.kimi.com/coding/v1/chat/completions";
        let cases = [
            (
                json!("yes"),
                "q: invalid type: string, expected true, false or {enabled, thresholdPercent, refreshSeconds}",
            ),
            (
                json!({"thresholdPercent": 0}),
                "q.thresholdPercent: expected a number from 1 to 100",
            ),
            (json!({"thresholdPercent": "90"}), "q.thresholdPercent"),
            (
                json!({"refreshSeconds": 5}),
                "q.refreshSeconds: expected a number from 60",
            ),
            (
                json!({"enabled": "on"}),
                "q.enabled: invalid type: string, expected a boolean",
            ),
        ];
        for (raw, expected) in cases {
            let got = check(Some(raw.clone()), Dialect::KimiCoding, kimi).unwrap_err();
            assert!(got.contains(expected), "{raw}: {got}");
        }
        let generic = check(
            Some(json!(true)),
            Dialect::Generic,
            "http://127.0.0.1:9000/v1/chat/completions",
        )
        .unwrap_err();
        assert!(generic.contains("Kimi Coding"), "{generic}");
    }
}
