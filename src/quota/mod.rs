//! What each provider account has left: Kimi Coding's usage windows
//! (`GET {baseUrl}/usages`, weekly and 5-hour) and Moonshot's balance
//! (`GET /v1/users/me/balance`), read at most once per `refreshSeconds`
//! (in the background when a request meets a stale reading, at once after a
//! quota failure, and on demand for `/v1/status` and `doctor --probe`).
//!
//! A target whose window is used past its threshold (until the window's
//! reset) or whose balance is zero is skipped by the chain, which then
//! falls over before the provider's 403 or 429. Reading never fails or
//! delays a request: an absent endpoint or a changed shape is one log line
//! and no skip. This module and `upstream` are the only ones that call
//! providers; it sends the same key and headers as requests do.

pub mod parse;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::Value;

pub use self::parse::{Reading, Window};
use crate::config::{ApiKey, Config, Provider, QuotaKind};
use crate::ops::redact::Redactor;

/// The most of a quota answer that is read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// The longest a reading may take.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// After a quota failure a reading is taken again at once, but not more
/// often than this.
const MIN_INTERVAL: Duration = Duration::from_secs(30);

/// Every provider's last reading; shared by the gateway across reloads.
/// A reading is its account's: when a reload changes a provider's key or
/// `baseUrl`, it is forgotten ([`Quotas::forget`]), and a reading of the
/// old account still under way is not kept.
#[derive(Debug)]
pub struct Quotas {
    client: reqwest::Client,
    providers: Mutex<HashMap<String, Entry>>,
    /// Numbers each entry made: a reading lands only in the entry it was
    /// started for.
    entries_made: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default, Clone)]
struct Entry {
    reading: Option<Reading>,
    read_at: Option<Instant>,
    /// When the last attempt to read started, successful or not.
    tried_at: Option<Instant>,
    /// Why the last reading failed; logged when it changes.
    problem: Option<String>,
    reading_now: bool,
    /// Which entry of its provider this is ([`Quotas::entries_made`]).
    number: u64,
}

impl Entry {
    /// Whether the reading is recent enough to hold without a reset to go
    /// by: two refreshes.
    fn fresh(&self, refresh: Duration) -> bool {
        self.read_at.is_some_and(|at| at.elapsed() < refresh * 2)
    }
}

/// Why a provider's targets are skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Exhausted {
    /// `Weekly limit 100/100`, `balance 0`.
    pub what: String,
    /// The window's reset, when known.
    pub until: Option<SystemTime>,
}

impl Default for Quotas {
    fn default() -> Self {
        Self::new()
    }
}

impl Quotas {
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .timeout(READ_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            client,
            providers: Mutex::default(),
            entries_made: Default::default(),
        }
    }

    /// Forgets what was read of `provider`'s account: a reload gave it
    /// another key or `baseUrl`, so its targets are no longer skipped for
    /// the old account's quota or balance.
    pub fn forget(&self, provider: &str) {
        self.with(|entries| entries.remove(provider));
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Entry>) -> T) -> T {
        f(&mut self.providers.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether `provider`'s account is exhausted now, by its last reading.
    pub fn exhausted(&self, provider: &Provider, now: SystemTime) -> Option<Exhausted> {
        let settings = provider.quota.as_ref()?;
        self.with(|entries| {
            let entry = entries.get(&provider.id)?;
            exhausted(
                entry.reading.as_ref()?,
                settings.threshold_percent,
                entry.fresh(settings.refresh),
                now,
            )
        })
    }

    /// How hard `provider`'s account is pressed now, by its last reading
    /// ([`pressure`]): 1 unpressed or unknown, `None` when it is exhausted.
    pub fn pressure(&self, provider: &Provider, now: SystemTime) -> Option<f64> {
        let Some(settings) = provider.quota.as_ref() else {
            return Some(1.0);
        };
        self.with(|entries| {
            let Some((entry, reading)) = entries
                .get(&provider.id)
                .and_then(|e| Some((e, e.reading.as_ref()?)))
            else {
                return Some(1.0);
            };
            let fresh = entry.fresh(settings.refresh);
            match exhausted(reading, settings.threshold_percent, fresh, now) {
                Some(_) => None,
                None => Some(pressure(reading, now)),
            }
        })
    }

    /// Reads `provider`'s quota in the background if its reading is due
    /// (or, with `soon`, if the last one is older than [`MIN_INTERVAL`]).
    /// Never waits.
    pub fn refresh_in_background(self: &Arc<Self>, provider: &Arc<Provider>, soon: bool) {
        let Some(number) = self.begin(provider, soon) else {
            return;
        };
        let (quotas, provider) = (self.clone(), provider.clone());
        tokio::spawn(async move { quotas.read(&provider, number).await });
    }

    /// Reads every configured provider whose reading is older than
    /// `max_age`, waiting for them (each bounded by its timeout). Each
    /// reading is a task of its own: a caller that stops waiting (a status
    /// request whose client left) leaves it to finish and be stored, where
    /// dropped midway it would leave its provider marked as being read, and
    /// never read again.
    pub async fn refresh_stale(self: &Arc<Self>, config: &Config, max_age: Duration) {
        let reads: Vec<_> = (config.providers.values())
            .filter(|provider| provider.quota.is_some())
            .filter_map(|provider| {
                let number = self.begin_if_older(provider, max_age)?;
                let (quotas, provider) = (self.clone(), provider.clone());
                Some(tokio::spawn(
                    async move { quotas.read(&provider, number).await },
                ))
            })
            .collect();
        futures_util::future::join_all(reads).await;
    }

    fn begin(&self, provider: &Provider, soon: bool) -> Option<u64> {
        let settings = provider.quota.as_ref()?;
        let age = if soon { MIN_INTERVAL } else { settings.refresh };
        self.begin_if_older(provider, age)
    }

    /// Marks a reading of `provider` as started if none is under way and the
    /// last try is older than `age`: the number of the entry it is for, if
    /// it was.
    fn begin_if_older(&self, provider: &Provider, age: Duration) -> Option<u64> {
        if !provider.api_key.is_set() {
            return None;
        }
        self.with(|entries| {
            // Looked up first: the id is copied only the first time (this
            // runs for every request to the provider).
            if !entries.contains_key(&provider.id) {
                let number = self.entries_made.fetch_add(1, Ordering::Relaxed);
                let entry = Entry {
                    number,
                    ..Entry::default()
                };
                entries.insert(provider.id.clone(), entry);
            }
            let entry = entries.get_mut(&provider.id).expect("inserted above");
            let due = entry.tried_at.is_none_or(|at| at.elapsed() >= age);
            if entry.reading_now || !due {
                return None;
            }
            entry.reading_now = true;
            entry.tried_at = Some(Instant::now());
            Some(entry.number)
        })
    }

    /// One reading for the entry numbered `number`, stored there (not if
    /// the entry was forgotten meanwhile); a failure is logged once per
    /// change.
    async fn read(&self, provider: &Provider, number: u64) {
        let result = fetch(&self.client, provider).await;
        let id = &provider.id;
        self.with(|entries| {
            let Some(entry) = entries.get_mut(id).filter(|e| e.number == number) else {
                return;
            };
            entry.reading_now = false;
            match result {
                Ok(reading) => {
                    if entry.problem.take().is_some() {
                        tracing::info!(provider = %id, "quota of {id} is readable again");
                    }
                    entry.reading = Some(reading);
                    entry.read_at = Some(Instant::now());
                }
                Err(problem) => {
                    if entry.problem.as_ref() != Some(&problem) {
                        tracing::warn!(
                            provider = %id,
                            "cannot read the quota of {id}: {problem}; requests are not affected"
                        );
                    }
                    entry.problem = Some(problem);
                }
            }
        });
    }

    /// One reading of `provider`'s quota now, not stored (`doctor --probe`).
    pub async fn read_now(&self, provider: &Provider) -> Result<Reading, String> {
        fetch(&self.client, provider).await
    }

    /// Every provider's reading, for `/v1/status`.
    pub fn snapshot(&self, config: &Config, now: SystemTime) -> BTreeMap<String, QuotaStatus> {
        let entries = self.with(|entries| entries.clone());
        config
            .providers
            .values()
            .filter_map(|provider| {
                let settings = provider.quota.as_ref()?;
                let entry = entries.get(&provider.id).cloned().unwrap_or_default();
                let exhausted = self.exhausted(provider, now);
                let fresh = entry.fresh(settings.refresh);
                let (windows, balance) = match &entry.reading {
                    Some(Reading::Windows(windows)) => (
                        windows
                            .iter()
                            .map(|w| WindowStatus::of(w, settings.threshold_percent, fresh, now))
                            .collect(),
                        None,
                    ),
                    Some(Reading::Balance { available }) => (Vec::new(), Some(*available)),
                    None => (Vec::new(), None),
                };
                let status = QuotaStatus {
                    kind: match settings.kind {
                        QuotaKind::Usages => "usages",
                        QuotaKind::Balance => "balance",
                    },
                    threshold_percent: settings.threshold_percent,
                    read_seconds_ago: entry.read_at.map(|at| at.elapsed().as_secs()),
                    windows,
                    balance,
                    exhausted: exhausted.is_some(),
                    skipped_until: exhausted.and_then(|e| e.until).map(httpdate::fmt_http_date),
                    problem: entry.problem.clone().or_else(|| without_key(provider)),
                };
                Some((provider.id.clone(), status))
            })
            .collect()
    }

    /// Brings the quota gauges up to date, for `/metrics`.
    pub fn record_metrics(&self, config: &Config) {
        crate::ops::metrics::handle();
        let now = SystemTime::now();
        for (provider, status) in self.snapshot(config, now) {
            for window in &status.windows {
                let labels = [
                    ("provider", provider.clone()),
                    ("window", window.label.to_string()),
                ];
                metrics::gauge!("clawgate_quota_used", &labels).set(window.used);
                metrics::gauge!("clawgate_quota_limit", &labels).set(window.limit);
                if let Some(reset) = window.reset_in_seconds {
                    metrics::gauge!("clawgate_quota_reset_seconds", &labels).set(reset as f64);
                }
            }
            if let Some(balance) = status.balance {
                metrics::gauge!("clawgate_balance", "provider" => provider.clone()).set(balance);
            }
            metrics::gauge!("clawgate_quota_exhausted", "provider" => provider)
                .set(if status.exhausted { 1.0 } else { 0.0 });
        }
    }
}

/// Whether a reading says the account is exhausted: a window used to
/// `threshold_percent` whose reset is ahead (or unknown, while the reading
/// is `fresh`), or a balance of zero or less (while `fresh`).
pub fn exhausted(
    reading: &Reading,
    threshold_percent: f64,
    fresh: bool,
    now: SystemTime,
) -> Option<Exhausted> {
    match reading {
        Reading::Balance { available } if *available <= 0.0 && fresh => Some(Exhausted {
            what: format!("balance {available}"),
            until: None,
        }),
        Reading::Balance { .. } => None,
        Reading::Windows(windows) => windows
            .iter()
            .filter(|w| spent(w, threshold_percent, fresh, now))
            // The window that resets last decides.
            .max_by_key(|w| w.reset_at)
            .map(|w| Exhausted {
                what: format!("{} {}/{}", w.name, w.used, w.limit),
                until: w.reset_at,
            }),
    }
}

/// The most a window's pressure counts: a target ten times as dear.
const MOST_PRESSURE: f64 = 10.0;

/// How hard an account is pressed, from 1 (as fast as its windows allow,
/// or slower) up to [`MOST_PRESSURE`]: for each window, the share of it
/// used against the share of its time gone (from the time to its reset
/// and its length, `weekly` or `5h`; a window of unknown length or reset
/// counts as just begun). A window half used with a tenth of its time
/// gone leaves 0.5 of the quota for 0.9 of the time: 1.8. The most
/// pressed window decides. A balance presses nothing until it is spent.
pub fn pressure(reading: &Reading, now: SystemTime) -> f64 {
    let Reading::Windows(windows) = reading else {
        return 1.0;
    };
    windows
        .iter()
        .map(|window| {
            let length = match window.label() {
                "weekly" => Some(Duration::from_secs(7 * 86_400)),
                "5h" => Some(Duration::from_secs(5 * 3_600)),
                _ => None,
            };
            let left_time = match (length, window.reset_at) {
                (Some(length), Some(reset)) => {
                    let until = reset.duration_since(now).unwrap_or_default();
                    (until.as_secs_f64() / length.as_secs_f64()).clamp(0.0, 1.0)
                }
                _ => 1.0,
            };
            let left_quota = (1.0 - window.used_percent() / 100.0).clamp(0.0, 1.0);
            if left_quota >= left_time {
                1.0
            } else {
                (left_time / left_quota.max(1.0 / MOST_PRESSURE)).min(MOST_PRESSURE)
            }
        })
        .fold(1.0, f64::max)
}

/// Whether `window` is used to `threshold_percent` and its reset is ahead
/// (or unknown, while the reading is `fresh`).
fn spent(window: &Window, threshold_percent: f64, fresh: bool, now: SystemTime) -> bool {
    window.used_percent() >= threshold_percent
        && match window.reset_at {
            Some(reset) => reset > now,
            None => fresh,
        }
}

/// A quota figure as people read it: a whole number as it is, else two
/// decimals (the status page, `clawgate status`).
pub fn amount(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value}")
    } else {
        format!("{value:.2}")
    }
}

/// Time left until a reset, at a glance: `3d 4h`, `4h 12m`, `12m`, `40s`.
pub fn duration(seconds: u64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// A reading in one line: `Weekly limit 10/100 (10%, resets in 3d 2h);
/// 5h limit 2/20 (10%)` or `balance 49.5`.
pub fn describe(reading: &Reading, now: SystemTime) -> String {
    match reading {
        Reading::Balance { available } => format!("balance {available}"),
        Reading::Windows(windows) => windows
            .iter()
            .map(|w| {
                let reset = w
                    .reset_at
                    .and_then(|at| at.duration_since(now).ok())
                    .map_or(String::new(), |left| {
                        let hours = left.as_secs() / 3600;
                        format!(", resets in {}d {}h", hours / 24, hours % 24)
                    });
                format!(
                    "{} {}/{} ({:.0}%{reset})",
                    w.name,
                    w.used,
                    w.limit,
                    w.used_percent()
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// A provider's quota as `/v1/status` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaStatus {
    /// `usages` (Kimi Coding) or `balance` (Moonshot).
    pub kind: &'static str,
    pub threshold_percent: f64,
    pub read_seconds_ago: Option<u64>,
    pub windows: Vec<WindowStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<f64>,
    /// Its targets are skipped now.
    pub exhausted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_until: Option<String>,
    /// Why the last reading failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowStatus {
    pub name: String,
    /// `weekly`, `5h` or `other`.
    pub label: &'static str,
    pub used: f64,
    pub limit: f64,
    pub remaining: f64,
    pub used_percent: f64,
    /// An HTTP date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_in_seconds: Option<u64>,
    /// This window is spent: it skips the provider's targets now.
    pub exhausted: bool,
}

impl WindowStatus {
    fn of(window: &Window, threshold_percent: f64, fresh: bool, now: SystemTime) -> Self {
        Self {
            exhausted: spent(window, threshold_percent, fresh, now),
            name: window.name.clone(),
            label: window.label(),
            used: window.used,
            limit: window.limit,
            remaining: window.remaining,
            used_percent: (window.used_percent() * 10.0).round() / 10.0,
            reset_at: window.reset_at.map(httpdate::fmt_http_date),
            reset_in_seconds: window
                .reset_at
                .and_then(|at| at.duration_since(now).ok())
                .map(|d| d.as_secs()),
        }
    }
}

/// Why `provider`'s quota is never read, when it has no key to read it
/// with: it would otherwise show as not read yet, for ever.
fn without_key(provider: &Provider) -> Option<String> {
    match &provider.api_key {
        ApiKey::Set(_) => None,
        ApiKey::Missing(unset) => Some(format!("no key: ${{{}}} {}", unset.var, unset.state())),
        ApiKey::None => Some("no key: the provider has no apiKey".into()),
    }
}

/// One reading of `provider`'s quota endpoint. The error is clawgate's own
/// words (a status, a shape), never the provider's text.
pub async fn fetch(client: &reqwest::Client, provider: &Provider) -> Result<Reading, String> {
    let settings = provider.quota.as_ref().ok_or("no quota endpoint")?;
    let ApiKey::Set(key) = &provider.api_key else {
        return Err(without_key(provider).unwrap_or_default());
    };
    let mut request = client.get(settings.url.clone());
    // The same headers as its requests: Kimi Coding's User-Agent gate.
    if let Some(model) = provider.models.first() {
        request = request.headers(model.headers.clone());
    }
    let mut auth = HeaderValue::try_from(format!("Bearer {}", key.expose_secret()))
        .map_err(|_| "the API key is not a valid header value".to_string())?;
    auth.set_sensitive(true);
    let response = request
        .header(AUTHORIZATION, auth)
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(|err| {
            if err.is_timeout() {
                format!("no answer within {}s", READ_TIMEOUT.as_secs())
            } else {
                "could not connect".to_string()
            }
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!(
            "the endpoint answered {}{}",
            status.as_u16(),
            if status.as_u16() == 404 {
                " (not served here)"
            } else {
                ""
            }
        ));
    }
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| "the answer broke off".to_string())?;
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!("the answer is over {MAX_ANSWER_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    let answer: Value =
        serde_json::from_slice(&body).map_err(|_| "the answer is not JSON".to_string())?;
    let mut reading = match settings.kind {
        QuotaKind::Usages => parse::usages(&answer, SystemTime::now()),
        QuotaKind::Balance => parse::balance(&answer),
    }
    .map_err(|problem| format!("its shape has changed: {problem}"))?;
    // A window's name is the provider's text, shown in `/v1/status`,
    // `/metrics` and the log: the key, echoed in it, is masked there.
    if let Reading::Windows(windows) = &mut reading {
        let redactor = Redactor::new([key.expose_secret()]);
        for window in windows {
            if let Cow::Owned(masked) = redactor.scrub(&window.name) {
                window.name = masked;
            }
        }
    }
    Ok(reading)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(used: f64, limit: f64, reset: Option<u64>) -> Window {
        Window {
            name: "Weekly limit".into(),
            used,
            limit,
            remaining: limit - used,
            reset_at: reset.map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s)),
        }
    }

    #[test]
    fn pressure_weighs_the_quota_left_against_the_time_to_the_reset() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let week = 7 * 86_400;
        let at = |fraction_left: f64| Some(1_000_000 + (week as f64 * fraction_left) as u64);
        let weekly = |used: f64, left: f64| Reading::Windows(vec![window(used, 100.0, at(left))]);
        let cases = [
            // Half used, half the time left: on pace.
            (weekly(50.0, 0.5), 1.0),
            // Little used: no pressure.
            (weekly(10.0, 0.9), 1.0),
            // Half used with 0.9 of the time to go.
            (weekly(50.0, 0.9), 1.8),
            // All but spent early: the most.
            (weekly(99.9, 1.0), 10.0),
            // An unknown reset counts as a window just begun.
            (Reading::Windows(vec![window(75.0, 100.0, None)]), 4.0),
            (Reading::Balance { available: 3.0 }, 1.0),
        ];
        for (reading, expected) in cases {
            let got = pressure(&reading, now);
            assert!(
                (got - expected).abs() < 1e-6,
                "{reading:?}: {got} != {expected}"
            );
        }
    }

    #[test]
    fn a_target_is_skipped_while_a_window_is_spent_until_its_reset() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let windows = |list: Vec<Window>| Reading::Windows(list);
        let cases: &[(Reading, f64, bool, Option<Option<u64>>)] = &[
            (
                windows(vec![window(100.0, 100.0, Some(2000))]),
                100.0,
                true,
                Some(Some(2000)),
            ),
            // The reset has passed: the window is open again.
            (
                windows(vec![window(100.0, 100.0, Some(900))]),
                100.0,
                true,
                None,
            ),
            (
                windows(vec![window(99.0, 100.0, Some(2000))]),
                100.0,
                true,
                None,
            ),
            (
                windows(vec![window(90.0, 100.0, Some(2000))]),
                90.0,
                true,
                Some(Some(2000)),
            ),
            // No reset known: only while the reading is fresh.
            (
                windows(vec![window(100.0, 100.0, None)]),
                100.0,
                true,
                Some(None),
            ),
            (
                windows(vec![window(100.0, 100.0, None)]),
                100.0,
                false,
                None,
            ),
            // Of two spent windows, the later reset.
            (
                windows(vec![
                    window(5.0, 5.0, Some(1500)),
                    window(100.0, 100.0, Some(9000)),
                ]),
                100.0,
                true,
                Some(Some(9000)),
            ),
            (Reading::Balance { available: 0.0 }, 100.0, true, Some(None)),
            (
                Reading::Balance { available: -1.5 },
                100.0,
                true,
                Some(None),
            ),
            (Reading::Balance { available: 0.01 }, 100.0, true, None),
            (Reading::Balance { available: 0.0 }, 100.0, false, None),
        ];
        for (reading, threshold, fresh, expected) in cases {
            let got = exhausted(reading, *threshold, *fresh, now).map(|e| {
                e.until
                    .map(|t| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs())
            });
            assert_eq!(got, *expected, "{reading:?} at {threshold}%");
        }
    }
}
