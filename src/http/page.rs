//! `GET /` for a browser: the status page. Server-rendered HTML with an
//! inline SVG chart, no script, refreshing itself every
//! [`REFRESH_SECONDS`]: the chain with each target's state, the last
//! hour's requests, fallbacks and latency, each provider account's quota
//! windows or balance (read again when stale, waited for at most
//! [`QUOTA_WAIT`]), today's spend against the budgets, the last sessions
//! answered (at most [`crate::ledger::session::RECENT`]), and the spend of
//! the last 30 days.
//!
//! A request that does not ask for HTML (Claude Code's check of its base
//! URL, a probe) gets the one-line answer it always got. The page needs the
//! gateway's token when one is set: as a bearer token, or as the password of
//! HTTP Basic authentication (any user name), which a browser asks for
//! itself. Host and Origin are checked for every route as before. Every
//! text on the page is escaped; the only one a client wrote is its
//! session's name.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::chain::cooldown::TargetStatus;
use crate::config::Config;
use crate::config::clients::TOKEN_CLIENT;
use crate::gateway::Gateway;
use crate::http::status::{Standing, standing};
use crate::ledger::Ledger;
use crate::ledger::budget::{of_answers, usd};
use crate::ledger::calendar::{date, day_of};
use crate::ledger::session::Session;
use crate::quota::{QuotaStatus, amount, duration};

pub const REFRESH_SECONDS: u32 = 10;
/// Days in the spend chart, today included.
const CHART_DAYS: i64 = 30;
/// The longest the page waits for a stale quota reading; a slower one is
/// stored when it comes and shown by a later refresh.
const QUOTA_WAIT: Duration = Duration::from_secs(1);

pub async fn root(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let headers = request.headers();
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if !wants_html {
        return "clawgate\n".into_response();
    }
    if !authorized(&gateway, headers) {
        let mut response = (
            StatusCode::UNAUTHORIZED,
            "the status page needs an admin key as the password: the gateway's token (gateway.auth.token) or the key of a client with admin: true\n",
        )
            .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"clawgate\", charset=\"UTF-8\""),
        );
        return response;
    }
    refresh_quotas(&gateway).await;
    let mut response = render(&gateway).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; form-action 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Reads the quotas older than `/v1/status` would show, waiting for them
/// at most [`QUOTA_WAIT`] (a reading outliving the wait still finishes and
/// is stored: each is a task of its own).
async fn refresh_quotas(gateway: &Arc<Gateway>) {
    let config = gateway.config();
    let reading = gateway
        .quotas()
        .refresh_stale(&config, super::status::STATUS_QUOTA_AGE);
    let _ = tokio::time::timeout(QUOTA_WAIT, reading).await;
}

/// No key required, or an admin key (`gateway.auth.token`, a client with
/// `admin: true`) as a bearer token or a Basic password: the page shows
/// every client's spend.
fn authorized(gateway: &Gateway, headers: &HeaderMap) -> bool {
    let config = gateway.config();
    let clients = &config.gateway.clients;
    if !clients.require_key() {
        return true;
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .and_then(|(scheme, value)| {
            if scheme.eq_ignore_ascii_case("bearer") {
                Some(value.trim().to_string())
            } else if scheme.eq_ignore_ascii_case("basic") {
                basic_password(value.trim())
            } else {
                None
            }
        })
        .unwrap_or_default();
    clients.find(&presented).is_some_and(|client| client.admin)
}

/// Each client's spend and requests answered today and its limits, when clients are
/// configured.
fn clients(page: &mut String, config: &Config, ledger: &Ledger, today: i64) {
    let clients = &config.gateway.clients;
    if !clients.iter().any(|c| &*c.name != TOKEN_CLIENT) {
        return;
    }
    page.push_str("<section><h2>Clients</h2><table id=\"clients\"><tr><th>Client</th><th>Spent today</th><th>Answered today</th><th>Limits</th><th>Models</th></tr>");
    for client in clients.iter() {
        let total = ledger.with_totals(|t| t.since(Some(&client.name), today, |_| true));
        let l = client.limits;
        let limits: Vec<String> = [
            l.requests_per_minute.map(|n| format!("{n} req/min")),
            l.tokens_per_minute.map(|n| format!("{n} tokens/min")),
            l.concurrent_requests.map(|n| format!("{n} at once")),
        ]
        .into_iter()
        .flatten()
        .collect();
        let models = client
            .models
            .as_ref()
            .map_or("all".to_string(), |m| m.written.join(", "));
        let _ = write!(
            page,
            "<tr><td>{}</td><td data-usd=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&client.name),
            total.cost_usd,
            escape(&usd(total.cost_usd)),
            total.answered,
            escape(&if limits.is_empty() {
                "none".to_string()
            } else {
                limits.join(", ")
            }),
            escape(&models),
        );
    }
    page.push_str("</table></section>");
}

/// The last sessions answered: what each spent, its hit rate and what
/// caching saved.
fn sessions(page: &mut String, sessions: &[Session]) {
    page.push_str("<section><h2>Sessions</h2>");
    if sessions.is_empty() {
        page.push_str("<p class=\"muted\" id=\"sessions\">No session yet: a request names its session with <code>x-clawgate-session</code>.</p></section>");
        return;
    }
    page.push_str("<table id=\"sessions\"><tr><th>Session</th><th>Client</th><th>Turns</th><th>Targets</th><th>Input</th><th>Cached</th><th>Written</th><th>Output</th><th>Hit rate</th><th>Cost</th><th>Saved</th></tr>");
    for s in sessions {
        let answered = s.turns.saturating_sub(s.failures);
        let _ = write!(
            page,
            "<tr data-session=\"{}\" data-turns=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td data-usd=\"{}\">{}</td><td data-usd=\"{}\">{}</td></tr>",
            escape(&s.session),
            s.turns,
            escape(&s.session),
            escape(&s.client),
            s.turns,
            escape(&s.targets.join(", ")),
            s.tokens_in,
            s.tokens_cached,
            s.tokens_written,
            s.tokens_out,
            s.hit_rate * 100.0,
            s.cost_usd,
            escape(&of_answers(usd(s.cost_usd), answered, s.uncosted)),
            s.saved_usd,
            escape(&of_answers(usd(s.saved_usd), answered, s.uncosted)),
        );
    }
    page.push_str("</table></section>");
}

/// The password of HTTP Basic credentials, `user:password` in base64.
fn basic_password(value: &str) -> Option<String> {
    use base64::Engine;
    let decoded = (value.len() <= 8192)
        .then(|| base64::engine::general_purpose::STANDARD.decode(value).ok())??;
    let colon = decoded.iter().position(|&b| b == b':')?;
    String::from_utf8(decoded[colon + 1..].to_vec()).ok()
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn ms(value: Option<u64>) -> String {
    value.map_or("–".to_string(), |v| format!("{v} ms"))
}

const STYLE: &str = "
:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--ink:#1b1f24;--muted:#5f6b7a;--line:#e3e6ea;--accent:#2f6fed;--ok:#1a7f37;--warn:#b35900;--bad:#c62828}
@media (prefers-color-scheme:dark){:root{--bg:#0f1216;--card:#171b21;--ink:#e6e9ee;--muted:#9aa5b4;--line:#262c35;--accent:#6d9cff;--ok:#3fb950;--warn:#e3a008;--bad:#f85149}}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:var(--bg);color:var(--ink)}
main{max-width:1080px;margin:0 auto;padding:24px}
header{display:flex;align-items:baseline;justify-content:space-between;margin-bottom:18px}
h1{font-size:22px;margin:0}h1 span{color:var(--accent)}h2{font-size:15px;margin:0 0 12px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.04em}
.muted{color:var(--muted)}.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin-bottom:16px}
.card,section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px}
section{margin-bottom:16px}.card .v{font-size:24px;font-weight:650;font-variant-numeric:tabular-nums}.card .k{color:var(--muted);font-size:12px}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}th,td{text-align:left;padding:7px 8px;border-bottom:1px solid var(--line)}th{color:var(--muted);font-weight:600;font-size:12px}
tr:last-child td{border-bottom:0}.badge{display:inline-block;padding:1px 8px;border-radius:99px;font-size:12px;font-weight:600}
.healthy{background:color-mix(in srgb,var(--ok) 15%,transparent);color:var(--ok)}.half_open{background:color-mix(in srgb,var(--warn) 15%,transparent);color:var(--warn)}
.cooling_down,.exceeded,.no_key,.over_budget{background:color-mix(in srgb,var(--bad) 15%,transparent);color:var(--bad)}.warning{background:color-mix(in srgb,var(--warn) 15%,transparent);color:var(--warn)}
.bar{height:8px;background:var(--line);border-radius:4px;overflow:hidden;min-width:120px}.bar i{display:block;height:100%;background:var(--accent)}
.bar i.warning{background:var(--warn)}.bar i.exceeded{background:var(--bad)}
svg text{fill:var(--muted);font-size:10px}svg rect.spend{fill:var(--accent)}svg line{stroke:var(--line)}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}
";

/// The page.
fn render(gateway: &Gateway) -> String {
    let config = gateway.config();
    let ledger = gateway.ledger();
    let now = ledger.now();
    let today = day_of(now);
    let stats = ledger.recent();
    let days = ledger.with_totals(|t| t.per_day(today - CHART_DAYS + 1));
    let today_total = days.get(&today).copied().unwrap_or_default();
    let budgets = super::status::budget_states(ledger, &config, today);
    let health = ledger.health();

    let mut page = String::with_capacity(16 * 1024);
    let _ = write!(
        page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\
         <title>clawgate status</title><style>{STYLE}</style></head><body><main>\
         <header><h1><span>claw</span>gate</h1><div class=\"muted\">{} · refreshes every {REFRESH_SECONDS}s</div></header>",
        escape(&httpdate::fmt_http_date(now))
    );

    // The figures.
    let card = |page: &mut String, id: &str, value: &str, data: &str, label: &str| {
        let _ = write!(
            page,
            "<div class=\"card\"><div class=\"v\" id=\"{id}\" data-value=\"{}\">{}</div><div class=\"k\">{}</div></div>",
            escape(data),
            escape(value),
            escape(label)
        );
    };
    page.push_str("<div class=\"cards\">");
    // As budgets count it: an answer of unknown cost at its estimate (an
    // unpriced model's at none), so how many there were is said.
    let unknown = match today_total.uncosted {
        0 => String::new(),
        n => format!(", {n} of unknown cost"),
    };
    card(
        &mut page,
        "spend-today",
        &usd(today_total.cost_usd),
        &format!("{}", today_total.cost_usd),
        &format!("spent today (UTC){unknown}"),
    );
    card(
        &mut page,
        "requests-today",
        &today_total.answered.to_string(),
        &today_total.answered.to_string(),
        "answered today",
    );
    card(
        &mut page,
        "requests-per-minute",
        &format!("{:.2}", stats.requests_per_minute),
        &format!(
            "{}{}",
            stats.requests_last_hour,
            if stats.floor { "+" } else { "" }
        ),
        "requests / min (last hour)",
    );
    card(
        &mut page,
        "fallbacks-per-minute",
        &format!("{:.2}", stats.fallbacks_per_minute),
        &stats.fallbacks_last_hour.to_string(),
        "fallbacks / min (last hour)",
    );
    for (id, latency) in [("p50", stats.p50_ms), ("p99", stats.p99_ms)] {
        card(
            &mut page,
            id,
            &ms(latency),
            &latency.map_or(String::new(), |v| v.to_string()),
            &format!("{id} latency (last hour)"),
        );
    }
    page.push_str("</div>");

    // The chain.
    page.push_str("<section><h2>Chain</h2><table id=\"chain\"><tr><th>#</th><th>Target</th><th>State</th><th>Cooldown</th><th>Last error</th><th>Last success</th></tr>");
    let mut health_of = gateway.cooldowns().snapshot(Instant::now());
    let chain: Vec<String> = config
        .chain(None)
        .map(|targets| targets.iter().map(|t| t.model_ref.to_string()).collect())
        .unwrap_or_default();
    let mut refs: Vec<String> = chain.clone();
    for (model_ref, _, _) in config.models() {
        if !refs.contains(&model_ref.to_string()) && health_of.contains_key(&model_ref) {
            refs.push(model_ref.to_string());
        }
    }
    for model_ref in &refs {
        let parsed = crate::config::ModelRef::parse(model_ref);
        let mut status = parsed
            .as_ref()
            .and_then(|r| health_of.remove(r))
            .unwrap_or_else(TargetStatus::unused);
        // Requests skip it whatever its health: say why, never "healthy".
        let skipped = parsed.as_ref().and_then(|r| {
            let provider = config.providers.get(r.provider())?;
            standing(&config, ledger, r, provider, provider.model(r.model())?)
        });
        let why = match skipped {
            Some(Standing::NoKey(unset)) => {
                status.state = "no_key";
                unset.to_string()
            }
            Some(Standing::PlaceholderKey(source)) => {
                status.state = "placeholder_key";
                format!("the key in {source} is a placeholder from the docs")
            }
            Some(Standing::OverBudget(refusal)) => {
                status.state = "over_budget";
                refusal.to_string()
            }
            None => String::new(),
        };
        let position = chain
            .iter()
            .position(|r| r == model_ref)
            .map_or("–".to_string(), |p| (p + 1).to_string());
        let cooldown = status
            .cooldown_remaining_seconds
            .map_or("–".to_string(), |s| format!("{s:.0}s left"));
        let last_error = match (status.last_failure_class, status.last_failure_seconds_ago) {
            (Some(class), Some(ago)) => format!("{class}, {ago:.0}s ago"),
            (Some(class), None) => class.to_string(),
            _ => "–".to_string(),
        };
        let last_error = match &status.last_error {
            Some(said) if status.last_failure_class.is_some() => format!("{last_error}: {said}"),
            _ => last_error,
        };
        let _ = write!(
            page,
            "<tr data-target=\"{r}\"><td>{position}</td><td><code>{r}</code></td><td><span class=\"badge {state}\">{label}</span>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if why.is_empty() {
                String::new()
            } else {
                format!("<div class=\"muted why\">{}</div>", escape(&why))
            },
            escape(&cooldown),
            escape(&last_error),
            escape(status.last_success.as_deref().unwrap_or("–")),
            r = escape(model_ref),
            state = status.state,
            label = status.state.replace('_', " "),
        );
    }
    page.push_str("</table></section>");

    quotas(
        &mut page,
        &gateway.quotas().snapshot(&config, SystemTime::now()),
    );

    // Budgets.
    page.push_str("<section><h2>Budgets</h2>");
    if budgets.is_empty() {
        page.push_str(
            "<p class=\"muted\" id=\"budgets\">No budgets set (<code>gateway.budgets</code>).</p>",
        );
    } else {
        page.push_str("<table id=\"budgets\"><tr><th>Scope</th><th>Period</th><th>Spent</th><th>Limit</th><th></th><th>Resets</th></tr>");
        for state in &budgets {
            let share = if state.limit_usd > 0.0 {
                (state.spent_usd / state.limit_usd).min(1.0)
            } else {
                1.0
            };
            let class = if state.exceeded {
                "exceeded"
            } else if state.warning {
                "warning"
            } else {
                ""
            };
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td><td data-usd=\"{}\">{}</td><td>{}</td><td><div class=\"bar\"><i class=\"{class}\" style=\"width:{:.1}%\"></i></div></td><td>{}</td></tr>",
                escape(&state.scope),
                state.period,
                state.spent_usd,
                escape(&usd(state.spent_usd)),
                escape(&usd(state.limit_usd)),
                share * 100.0,
                escape(&state.resets_at),
            );
        }
        page.push_str("</table>");
    }
    page.push_str("</section>");

    clients(&mut page, &config, ledger, today);
    sessions(&mut page, &ledger.recent_sessions());
    if let Some(sessions) = gateway.sessions() {
        cache_breaks(&mut page, &sessions.recent_breaks(None), now);
    }

    // Spend, last 30 days.
    page.push_str("<section><h2>Spend, last 30 days</h2>");
    page.push_str(&chart(&days, today));
    page.push_str("</section>");

    let _ = write!(
        page,
        "<p class=\"muted\" id=\"ledger\">Ledger: {} · {} rows written, {} dropped{}</p></main></body></html>",
        escape(
            &health
                .path
                .as_ref()
                .map_or("in memory only".to_string(), |p| p.display().to_string())
        ),
        health.rows_written,
        health.rows_dropped,
        health
            .last_error
            .as_ref()
            .map_or(String::new(), |e| format!(" · last error: {}", escape(e)))
    );
    page
}

/// The sessions' recent cache breaks, the latest first: a row each, with
/// its session (the client's own text, escaped), cause and what changed.
fn cache_breaks(page: &mut String, breaks: &[crate::session::Noted], now: SystemTime) {
    page.push_str("<section><h2>Cache breaks</h2>");
    if breaks.is_empty() {
        page.push_str("<p class=\"muted\" id=\"cache-breaks-none\">No session's prompt cache broke lately.</p></section>");
        return;
    }
    page.push_str("<table id=\"cache-breaks\"><tr><th>Session</th><th>Cause</th><th>What changed</th><th>Target</th><th>Ago</th></tr>");
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for noted in breaks {
        let _ = write!(
            page,
            "<tr data-session=\"{session}\" data-cause=\"{cause}\"><td><code>{session}</code></td><td><span class=\"badge warning\">{cause}</span></td><td>{detail}</td><td>{target}</td><td>{ago}</td></tr>",
            session = escape(&noted.session),
            cause = noted.cause,
            detail = escape(&noted.detail),
            target = escape(noted.target.as_deref().unwrap_or("-")),
            ago = duration(now.saturating_sub(noted.at)),
        );
    }
    page.push_str("</table></section>");
}

/// Each provider account's usage windows or balance, a row each, when some
/// provider has a reading or a problem to show. A window's name comes from
/// the provider's answer and is escaped like every other text.
fn quotas(page: &mut String, quotas: &BTreeMap<String, QuotaStatus>) {
    let shown = quotas
        .values()
        .any(|q| !q.windows.is_empty() || q.balance.is_some() || q.problem.is_some());
    if !shown {
        return;
    }
    page.push_str("<section><h2>Quotas</h2><table id=\"quotas\"><tr><th>Provider</th><th>Window</th><th>Used / limit</th><th>%</th><th></th><th>Resets in</th><th>State</th></tr>");
    let row = |page: &mut String,
               provider: &str,
               window: &str,
               cells: &str,
               state: QuotaState,
               note: &str| {
        let (badge, label) = match state {
            QuotaState::Ok => ("healthy", "ok"),
            QuotaState::Exhausted => ("exceeded", "exhausted"),
            QuotaState::Unread => ("warning", "unread"),
        };
        let _ = write!(
            page,
            "<tr data-provider=\"{p}\" data-window=\"{}\" data-state=\"{label}\"><td><code>{p}</code></td>{cells}<td><span class=\"badge {badge}\">{label}</span> <span class=\"muted\">{}</span></td></tr>",
            escape(window),
            escape(note),
            p = escape(provider),
        );
    };
    for (provider, quota) in quotas {
        // A reading that could not be taken again: what is shown may be old.
        let (quiet, note) = match &quota.problem {
            Some(problem) => (
                QuotaState::Unread,
                format!("last reading failed: {problem}"),
            ),
            None => (QuotaState::Ok, String::new()),
        };
        let skipped = match &quota.skipped_until {
            Some(until) => format!("skipped until {until}"),
            None => "skipped until a reading says otherwise".to_string(),
        };
        for window in &quota.windows {
            let share = window.used_percent.clamp(0.0, 100.0);
            let bar = if window.exhausted {
                "exceeded"
            } else if share >= 80.0 {
                "warning"
            } else {
                ""
            };
            let cells = format!(
                "<td>{}</td><td data-used=\"{}\" data-limit=\"{}\">{} / {}</td><td>{:.0}%</td><td><div class=\"bar\"><i class=\"{bar}\" style=\"width:{share:.1}%\"></i></div></td><td title=\"{}\">{}</td>",
                escape(&window.name),
                window.used,
                window.limit,
                amount(window.used),
                amount(window.limit),
                window.used_percent,
                escape(window.reset_at.as_deref().unwrap_or("")),
                window.reset_in_seconds.map_or("–".to_string(), duration),
            );
            let (state, note) = if window.exhausted {
                (QuotaState::Exhausted, &skipped)
            } else {
                (quiet, &note)
            };
            row(page, provider, window.label, &cells, state, note);
        }
        if let Some(balance) = quota.balance {
            let cells = format!(
                "<td>balance</td><td data-balance=\"{balance}\">{} available</td><td>–</td><td></td><td>–</td>",
                amount(balance)
            );
            let (state, note) = if quota.exhausted {
                (QuotaState::Exhausted, &skipped)
            } else {
                (quiet, &note)
            };
            row(page, provider, "balance", &cells, state, note);
        }
        if quota.windows.is_empty() && quota.balance.is_none() {
            let cells = "<td>–</td><td>–</td><td>–</td><td></td><td>–</td>";
            let note = quota.problem.as_deref().unwrap_or("not read yet");
            row(page, provider, "", cells, QuotaState::Unread, note);
        }
    }
    page.push_str("</table></section>");
}

/// A quota row's state.
#[derive(Clone, Copy)]
enum QuotaState {
    Ok,
    /// The provider's targets are skipped because of it.
    Exhausted,
    /// Not read yet, or the last reading failed.
    Unread,
}

/// The least the chart's scale stands for: a month of spend below a cent
/// draws low bars, not full ones.
const CHART_SCALE_FLOOR_USD: f64 = 0.01;

/// Bars of each day's spend, oldest on the left, with the largest day's
/// amount as the scale (at least [`CHART_SCALE_FLOOR_USD`]); without any
/// spend, no bars and a line that says so.
fn chart(days: &std::collections::BTreeMap<i64, crate::ledger::DayTotal>, today: i64) -> String {
    const WIDTH: f64 = 1000.0;
    const HEIGHT: f64 = 180.0;
    const TOP: f64 = 16.0;
    const BOTTOM: f64 = 22.0;
    let first = today - CHART_DAYS + 1;
    let max = days.values().map(|d| d.cost_usd).fold(0.0_f64, f64::max);
    let scale = max.max(CHART_SCALE_FLOOR_USD);
    let slot = WIDTH / CHART_DAYS as f64;
    let label = if max > 0.0 {
        format!("max {}", usd(max))
    } else {
        "no spend in the last 30 days".to_string()
    };
    let mut svg = format!(
        "<svg id=\"spend-chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"100%\" role=\"img\" aria-label=\"spend per day, last 30 days\">\
         <line x1=\"0\" y1=\"{y}\" x2=\"{WIDTH}\" y2=\"{y}\"/>\
         <text x=\"4\" y=\"11\">{}</text>",
        escape(&label),
        y = HEIGHT - BOTTOM
    );
    for i in 0..CHART_DAYS {
        let day = first + i;
        let cost = days.get(&day).map_or(0.0, |d| d.cost_usd);
        let h = (cost.max(0.0) / scale) * (HEIGHT - TOP - BOTTOM);
        let x = i as f64 * slot + slot * 0.15;
        let _ = write!(
            svg,
            "<rect class=\"spend\" data-day=\"{d}\" data-usd=\"{cost}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" rx=\"2\"><title>{d}: {}</title></rect>",
            HEIGHT - BOTTOM - h,
            slot * 0.7,
            escape(&usd(cost)),
            d = date(day),
        );
        if i % 5 == 0 || day == today {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                i as f64 * slot + 2.0,
                HEIGHT - 6.0,
                &date(day)[5..]
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::WindowStatus;

    #[test]
    fn basic_credentials_decode() {
        // "user:s3cret" and ":t" in base64.
        assert_eq!(
            basic_password("dXNlcjpzM2NyZXQ=").as_deref(),
            Some("s3cret")
        );
        assert_eq!(basic_password("OnQ=").as_deref(), Some("t"));
        assert_eq!(basic_password("!!!!"), None);
        assert_eq!(basic_password("a"), None);
        // No colon: no password.
        assert_eq!(basic_password("dXNlcg=="), None);
    }

    fn window(name: &str, used: f64, limit: f64, exhausted: bool) -> WindowStatus {
        WindowStatus {
            name: name.into(),
            label: "weekly",
            used,
            limit,
            remaining: limit - used,
            used_percent: 100.0 * used / limit,
            reset_at: Some("Thu, 26 Nov 2026 10:00:00 GMT".into()),
            reset_in_seconds: Some(2 * 86_400 + 3 * 3600 + 59),
            exhausted,
        }
    }

    fn quota(windows: Vec<WindowStatus>) -> QuotaStatus {
        QuotaStatus {
            kind: "usages",
            threshold_percent: 100.0,
            read_seconds_ago: Some(3),
            exhausted: windows.iter().any(|w| w.exhausted),
            windows,
            balance: None,
            skipped_until: None,
            problem: None,
        }
    }

    fn section(list: Vec<(&str, QuotaStatus)>) -> String {
        let mut page = String::new();
        quotas(
            &mut page,
            &list.into_iter().map(|(p, q)| (p.to_string(), q)).collect(),
        );
        page
    }

    #[test]
    fn the_quotas_section_shows_each_window_with_its_state() {
        let mut spent = quota(vec![
            window("Weekly limit", 100.0, 100.0, true),
            window("5h limit", 17.0, 20.0, false),
        ]);
        spent.skipped_until = Some("Thu, 26 Nov 2026 10:00:00 GMT".into());
        let mut broke = quota(Vec::new());
        broke.kind = "balance";
        broke.balance = Some(0.0);
        broke.exhausted = true;
        let mut moonshot = quota(Vec::new());
        moonshot.kind = "balance";
        moonshot.balance = Some(49.5);
        let html = section(vec![
            ("kimi", spent),
            ("moonshot", moonshot),
            ("broke", broke),
        ]);
        let rows: Vec<&str> = html.split("<tr").skip(2).collect();
        assert_eq!(rows.len(), 4, "{html}");
        // Providers in order of their ids.
        let weekly = rows[1];
        assert!(weekly.contains("data-state=\"exhausted\""), "{weekly}");
        assert!(weekly.contains("<td>Weekly limit</td>"), "{weekly}");
        assert!(weekly.contains(">100 / 100</td><td>100%</td>"), "{weekly}");
        assert!(weekly.contains("<i class=\"exceeded\" style=\"width:100.0%\">"));
        assert!(weekly.contains(">2d 3h</td>"));
        assert!(weekly.contains("skipped until Thu, 26 Nov 2026 10:00:00 GMT"));
        let five = rows[2];
        assert!(five.contains("data-state=\"ok\""), "{five}");
        assert!(five.contains(">17 / 20</td><td>85%</td>"), "{five}");
        assert!(five.contains("<i class=\"warning\" style=\"width:85.0%\">"));
        assert!(
            rows[0].contains(
                "data-provider=\"broke\" data-window=\"balance\" data-state=\"exhausted\""
            )
        );
        assert!(rows[0].contains(">0 available<"));
        assert!(
            rows[3]
                .contains("data-provider=\"moonshot\" data-window=\"balance\" data-state=\"ok\"")
        );
        assert!(rows[3].contains(">49.50 available<"));
    }

    #[test]
    fn the_quotas_section_says_what_could_not_be_read() {
        let mut absent = quota(Vec::new());
        absent.problem = Some("the endpoint answered 404 (not served here)".into());
        let mut stale = quota(vec![window("Weekly limit", 10.0, 100.0, false)]);
        stale.problem = Some("could not connect".into());
        let html = section(vec![("kimi", absent), ("proxy", stale)]);
        assert!(html.contains("data-provider=\"kimi\" data-window=\"\" data-state=\"unread\""));
        assert!(html.contains("the endpoint answered 404 (not served here)"));
        assert!(
            html.contains("data-provider=\"proxy\" data-window=\"weekly\" data-state=\"unread\"")
        );
        assert!(html.contains("last reading failed: could not connect"));
    }

    #[test]
    fn the_quotas_section_is_left_out_until_there_is_something_to_show() {
        assert_eq!(section(Vec::new()), "");
        let unread = quota(Vec::new());
        assert_eq!(section(vec![("kimi", unread)]), "");
        // Once one provider has a reading, the others show as not read yet.
        let html = section(vec![
            ("a", quota(Vec::new())),
            ("b", quota(vec![window("Weekly limit", 1.0, 100.0, false)])),
        ]);
        assert!(html.contains("data-provider=\"a\" data-window=\"\" data-state=\"unread\""));
        assert!(html.contains("not read yet"));
    }

    #[test]
    fn the_quotas_section_escapes_the_providers_texts() {
        let mut hostile = quota(vec![window(
            "<img src=x onerror=alert(1)>",
            1.0,
            2.0,
            false,
        )]);
        hostile.problem = Some("<b>\"</b>".into());
        let html = section(vec![("a<b>\"", hostile)]);
        assert!(!html.contains("<img") && !html.contains("<b>"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(html.contains("data-provider=\"a&lt;b&gt;&quot;\""));
    }

    /// A cost under the smallest shown is `<$0.0001`: its `<` is text,
    /// escaped as every other text of the page is.
    #[test]
    fn a_cost_too_small_to_show_is_escaped() {
        let session = Session {
            session: "s".into(),
            cost_usd: 0.000_014,
            saved_usd: 0.000_001,
            ..Session::default()
        };
        let mut page = String::new();
        sessions(&mut page, &[session]);
        assert!(page.contains(">&lt;$0.0001<"), "{page}");
        assert!(!page.contains("><$"), "{page}");
    }

    #[test]
    fn durations_read_at_a_glance() {
        for (seconds, text) in [
            (40, "40s"),
            (720, "12m"),
            (15_120, "4h 12m"),
            (273_600, "3d 4h"),
        ] {
            assert_eq!(duration(seconds), text);
        }
        assert_eq!(amount(100.0), "100");
        assert_eq!(amount(49.5), "49.50");
    }

    /// The chart's label and each bar's height, oldest first.
    fn bars(spend: &[(i64, f64)]) -> (String, Vec<f64>) {
        let days = spend
            .iter()
            .map(|&(day, cost_usd)| {
                let total = crate::ledger::DayTotal {
                    requests: 1,
                    cost_usd,
                    ..Default::default()
                };
                (day, total)
            })
            .collect();
        let svg = chart(&days, 100);
        let label = svg.split("y=\"11\">").nth(1).unwrap();
        let label = label[..label.find('<').unwrap()].to_string();
        let heights = svg
            .split("height=\"")
            .skip(1)
            .map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap())
            .collect();
        (label, heights)
    }

    #[test]
    fn the_spend_chart_fills_only_for_spend_it_can_show() {
        // No spend (unpriced models answered): no bars, and it says so.
        let (label, heights) = bars(&[(100, 0.0), (99, 0.0)]);
        assert_eq!(label, "no spend in the last 30 days");
        assert_eq!(heights.len(), 30);
        assert!(heights.iter().all(|&h| h == 0.0), "{heights:?}");
        // A few tokens' worth: a low bar, labelled with what it is.
        let (label, heights) = bars(&[(100, 0.000_02)]);
        assert_eq!(label, "max &lt;$0.0001");
        assert!(heights[29] < 1.0, "{heights:?}");
        // Real spend: the largest day fills the chart.
        let (label, heights) = bars(&[(100, 1.5), (99, 0.75)]);
        assert_eq!(label, "max $1.50");
        assert_eq!((heights[28], heights[29]), (71.0, 142.0));
    }

    #[test]
    fn the_sessions_section_escapes_the_clients_names_for_them() {
        let mut page = String::new();
        sessions(&mut page, &[]);
        assert!(page.contains("No session yet"), "{page}");
        let session = Session {
            session: "<script>x</script>".into(),
            client: "alice".into(),
            turns: 3,
            targets: vec!["moonshot/kimi-k2.6".into()],
            tokens_in: 3000,
            tokens_cached: 2400,
            hit_rate: 0.8,
            cost_usd: 0.5,
            saved_usd: 1.5,
            ..Session::default()
        };
        let mut page = String::new();
        sessions(&mut page, &[session]);
        assert!(
            page.contains("<tr data-session=\"&lt;script&gt;x&lt;/script&gt;\" data-turns=\"3\">"),
            "{page}"
        );
        assert!(page.contains("<td>&lt;script&gt;x&lt;/script&gt;</td><td>alice</td><td>3</td><td>moonshot/kimi-k2.6</td><td>3000</td><td>2400</td>"), "{page}");
        assert!(page.contains("<td>80.0%</td>"), "{page}");
        assert!(!page.contains("<script>"), "{page}");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
