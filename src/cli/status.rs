//! `clawgate status`: asks the running gateway (at the configured address,
//! with the configured token, or the key in `CLAWGATE_KEY`) for
//! `GET /v1/status` and prints every target's health and each client's
//! spend and limits as tables, or the JSON as it came.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use secrecy::ExposeSecret;
use serde_json::Value;

use super::{CliError, SourceArgs, print_json};
use crate::config::Secrets;
use crate::ledger::budget::{spent, usd};
use crate::ops::redact::{Redactor, escape_controls};
use crate::quota::{amount, duration};

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Print the gateway's JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// The gateway's base URL (`http://HOST:PORT`, a path before `/v1`
    /// kept), when it does not listen where the config says; no user,
    /// password or query: the key is `$CLAWGATE_KEY` when set, else the
    /// config's token.
    #[arg(long, value_name = "URL", conflicts_with = "port")]
    url: Option<String>,
    /// The gateway's port, when `serve --port` chose another than the config's.
    #[arg(long, value_name = "N")]
    port: Option<u16>,
}

/// How long the running gateway has to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

pub async fn status(args: &StatusArgs) -> Result<ExitCode, CliError> {
    // Only the gateway token is needed, not the providers' keys (those are
    // in the service's environment file, not in this shell).
    let (_, loaded) = args.source.load(Secrets::Offline)?;
    let gateway = &loaded.config.gateway;
    // A client's own key (an admin's sees every client) before the token.
    let key = std::env::var("CLAWGATE_KEY").ok().filter(|k| !k.is_empty());
    let (key, sent) = match (key, &gateway.auth_token) {
        (Some(key), _) => (Some(key), Some("CLAWGATE_KEY")),
        (None, Some(token)) => (
            Some(token.expose_secret().to_string()),
            Some("the config's gateway.auth.token"),
        ),
        (None, None) => (None, None),
    };
    let url = match &args.url {
        Some(url) => status_url(url, &loaded.config.redactor).map_err(CliError::Other)?,
        None => {
            let addr = gateway.local_address(args.port.unwrap_or(gateway.port));
            if key.is_some() && !super::on_this_machine(addr.ip()) {
                return Err(CliError::Other(format!(
                    "gateway.bind ({}) is not an address of this machine, and clawgate status sends its key to this machine alone; pass --url to ask the gateway there",
                    addr.ip()
                )));
            }
            format!("http://{addr}/v1/status")
        }
    };
    // Why, in the innermost cause's words (`Connection refused`), not
    // reqwest's own (`error sending request`).
    let unreachable = |err: reqwest::Error| {
        let why = crate::ops::root_cause(&err);
        CliError::Other(format!(
            "the gateway at {url} did not answer ({why}); is `clawgate serve` running?"
        ))
    };
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(unreachable)?;
    let mut request = client.get(&url);
    if let Some(key) = &key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.map_err(unreachable)?;
    if response.status() == reqwest::StatusCode::UNAUTHORIZED {
        let what = match sent {
            None => "it wants a key; set CLAWGATE_KEY to a client's key (an admin key shows every client), or gateway.auth.token in the config (a ${VAR} in it set here too: pass the service's env file with --env-file)".to_string(),
            Some(from) => format!(
                "it refused the key in {from}; set CLAWGATE_KEY to a key of one of its clients (an admin key shows every client), or its gateway.auth.token"
            ),
        };
        return Err(CliError::Other(format!(
            "the gateway at {url} answered {}: {what}",
            response.status()
        )));
    }
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Err(CliError::Other(format!(
            "the server at {url} answered {}: no clawgate status there; is its port clawgate's (gateway.port, --port)?",
            response.status()
        )));
    }
    if !response.status().is_success() {
        return Err(CliError::Other(format!(
            "the gateway at {url} answered {}",
            response.status()
        )));
    }
    let body = read_bounded(response).await.map_err(CliError::Other)?;
    if args.json {
        print_json(&body);
    } else {
        out!("{}", table(&body));
        out!("{}", hints(&body));
        out!("{}", quota_table(&body));
        out!("{}", concurrency_table(&body));
        out!("{}", budget_table(&body));
        out!("{}", client_table(&body));
        out!("{}", last_hour(&body));
        out!("{}", cache_breaks_table(&body));
        out!("{}", ledger_table(&body));
    }
    Ok(ExitCode::SUCCESS)
}

/// The most `clawgate status` reads of an answer: far more than any
/// gateway's status, far less than a machine's memory.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// The answer's JSON, read within [`MAX_ANSWER_BYTES`].
async fn read_bounded(mut response: reqwest::Response) -> Result<Value, String> {
    let url = response.url().to_string();
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() > MAX_ANSWER_BYTES => {
                return Err(format!(
                    "the answer of {url} is larger than {} MiB; is it a clawgate?",
                    MAX_ANSWER_BYTES / (1024 * 1024)
                ));
            }
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(err) => return Err(format!("could not read the answer of {url}: {err}")),
        }
    }
    serde_json::from_slice(&body)
        .map_err(|err| format!("the answer of {url} is not the status's JSON: {err}"))
}

/// The status's URL on the gateway `--url` names, or what is wrong with
/// it, quoted with any key in it `[redacted]` (`redactor`). It names no
/// user, password, query or fragment: it is printed in every message, and
/// a key goes in `CLAWGATE_KEY`.
fn status_url(text: &str, redactor: &Redactor) -> Result<String, String> {
    let problem = |what: &str| format!("--url {:?}: {what}", quoted(text, redactor));
    if !text.contains("://") {
        let host = text.trim_start_matches('/');
        let hint = format!("no scheme; write it as http://{}", quoted(host, redactor));
        return Err(problem(&hint));
    }
    let mut url = reqwest::Url::parse(text).map_err(|e| problem(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(problem("expected an http:// or https:// URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(problem("no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(problem(
            "a user or password in it; give the key in CLAWGATE_KEY",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(problem(
            "a query or fragment in it; give the key in CLAWGATE_KEY",
        ));
    }
    // The base URL clients are given (`http://HOST:PORT/v1`) names the
    // gateway too; a path before it (a proxy's) is kept.
    let base = url.path().trim_end_matches('/');
    let base = base.strip_suffix("/v1").unwrap_or(base);
    url.set_path(&format!("{base}/v1/status"));
    Ok(url.to_string())
}

/// `text`, a URL as given, as a message may quote it: all before its last
/// `@` (a user and password, whatever they hold), a query and a fragment
/// left out, any key the redactor knows `[redacted]`: a password it does
/// not know is still one.
fn quoted(text: &str, redactor: &Redactor) -> String {
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), text),
    };
    let rest = match rest.rfind('@') {
        Some(at) => format!("[left out]{}", &rest[at..]),
        None => rest.to_string(),
    };
    let rest = match rest.find(['?', '#']) {
        Some(at) => format!("{}?[left out]", &rest[..at]),
        None => rest,
    };
    redactor.provider_text(&format!("{scheme}{rest}"))
}

/// What to do about each target's last failure, one line each.
fn hints(body: &Value) -> String {
    let mut out = String::new();
    for target in body["targets"].as_array().into_iter().flatten() {
        let Some(reference) = target["ref"].as_str() else {
            continue;
        };
        let line = if let Some(why) = target["overBudget"].as_str() {
            format!("{reference}: skipped: {why}")
        } else if let Some(hint) = target["hint"].as_str() {
            let class = target["lastFailureClass"].as_str().unwrap_or("failure");
            format!("{reference}: {class}: {hint}")
        } else {
            continue;
        };
        out.push_str(&escape_controls(&line));
        out.push('\n');
    }
    out
}

/// Each provider account's quota windows or balance, under the targets.
fn quota_table(body: &Value) -> String {
    let Some(quotas) = body["quotas"].as_object().filter(|q| !q.is_empty()) else {
        return String::new();
    };
    let mut rows = headed("QUOTA|WINDOW|USED|LIMIT|USED%|RESETS IN|STATE");
    let number = |value: &Value| value.as_f64().map_or("-".to_string(), amount);
    for (provider, quota) in quotas {
        let state = match (quota["exhausted"].as_bool(), quota["problem"].as_str()) {
            (Some(true), _) => match quota["skippedUntil"].as_str() {
                Some(until) => format!("exhausted: skipped until {until}"),
                None => "exhausted: skipped".to_string(),
            },
            (_, Some(problem)) => format!("unread: {problem}"),
            _ if quota["readSecondsAgo"].is_null() => "not read yet".to_string(),
            _ => "ok".to_string(),
        };
        let mut cells: Vec<[String; 5]> = Vec::new();
        for window in quota["windows"].as_array().into_iter().flatten() {
            cells.push([
                window["name"].as_str().unwrap_or("-").to_string(),
                number(&window["used"]),
                number(&window["limit"]),
                format!("{}%", number(&window["usedPercent"])),
                window["resetInSeconds"]
                    .as_u64()
                    .map_or("-".to_string(), duration),
            ]);
        }
        if !quota["balance"].is_null() {
            let balance = number(&quota["balance"]);
            cells.push([
                "balance".into(),
                balance,
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
        }
        if cells.is_empty() {
            cells.push(["-".into(), "-".into(), "-".into(), "-".into(), "-".into()]);
        }
        for (index, cells) in cells.into_iter().enumerate() {
            let mut row = vec![provider.clone()];
            row.extend(cells);
            row.push(if index == 0 {
                state.clone()
            } else {
                String::new()
            });
            rows.push(row);
        }
    }
    format!("\n{}", aligned(rows))
}

/// Each capped provider's requests at once and its queue, under the
/// quotas; nothing when no provider has a cap.
fn concurrency_table(body: &Value) -> String {
    let Some(queues) = body["concurrency"].as_object().filter(|q| !q.is_empty()) else {
        return String::new();
    };
    let mut rows = headed("CONCURRENCY|IN FLIGHT|MAX|WAIT|WAITING|WAITED|SKIPPED");
    let number = |value: &Value| value.as_u64().map_or("-".to_string(), |n| n.to_string());
    for (provider, queue) in queues {
        rows.push(vec![
            provider.clone(),
            number(&queue["inFlight"]),
            number(&queue["maxConcurrent"]),
            queue["waitSeconds"]
                .as_f64()
                .map_or("-".to_string(), |s| format!("{s}s")),
            number(&queue["waiting"]),
            number(&queue["waited"]),
            number(&queue["skipped"]),
        ]);
    }
    format!("\n{}", aligned(rows))
}

/// The sessions' recent cache breaks, the latest first; nothing when
/// there were none.
fn cache_breaks_table(body: &Value) -> String {
    let Some(breaks) = body["sessions"]["recentBreaks"]
        .as_array()
        .filter(|b| !b.is_empty())
    else {
        return String::new();
    };
    let mut rows = headed("CACHE BREAK|SESSION|WHAT CHANGED|TARGET|AGO");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let text = |value: &Value| value.as_str().unwrap_or("-").to_string();
    for noted in breaks {
        let ago = noted["at"]
            .as_u64()
            .map_or("-".to_string(), |at| duration(now.saturating_sub(at)));
        rows.push(vec![
            text(&noted["cause"]),
            text(&noted["session"]),
            text(&noted["detail"]),
            text(&noted["target"]),
            ago,
        ]);
    }
    format!("\n{}", aligned(rows))
}

/// Each budget's spend against its limit, under the quotas; nothing when
/// no budget is set.
fn budget_table(body: &Value) -> String {
    let Some(budgets) = body["budgets"].as_array().filter(|b| !b.is_empty()) else {
        return String::new();
    };
    let mut rows = headed("BUDGET|PERIOD|SPENT|LIMIT|USED%|UNCOSTED|RESETS|STATE");
    for budget in budgets {
        // A client's key reads no figure of the gateway's own budgets.
        let (spent, limit) = (budget["spentUsd"].as_f64(), budget["limitUsd"].as_f64());
        let shown = |amount: Option<f64>| amount.map_or("-".to_string(), usd);
        let state = if budget["exceeded"] == true {
            "exceeded"
        } else if budget["warning"] == true {
            "warning"
        } else {
            "ok"
        };
        rows.push(vec![
            budget["scope"].as_str().unwrap_or("-").to_string(),
            budget["period"].as_str().unwrap_or("-").to_string(),
            shown(spent),
            shown(limit),
            match (spent, limit) {
                (Some(spent), Some(limit)) if limit > 0.0 => {
                    format!("{:.0}%", 100.0 * spent / limit)
                }
                _ => "-".to_string(),
            },
            budget["uncosted"]
                .as_u64()
                .map_or("-".to_string(), |n| n.to_string()),
            budget["resetsAt"].as_str().unwrap_or("-").to_string(),
            state.to_string(),
        ]);
    }
    format!("\n{}", aligned(rows))
}

/// The last hour's requests, fallbacks, failures and latency.
fn last_hour(body: &Value) -> String {
    let hour = &body["lastHour"];
    if !hour.is_object() {
        return String::new();
    }
    let count = |key: &str| hour[key].as_u64().unwrap_or_default().to_string();
    let ms = |key: &str| {
        hour[key]
            .as_u64()
            .map_or("-".to_string(), |v| format!("{v} ms"))
    };
    let mut rows = headed("LAST HOUR|PER MIN|FALLBACKS|FAILED|P50|P99");
    rows.push(vec![
        match (
            hour["requestsLastHour"].as_u64().unwrap_or_default(),
            hour["floor"] == true,
        ) {
            // More came than the gateway keeps: at least these.
            (n, true) => format!("{n}+ requests"),
            (1, false) => "1 request".to_string(),
            (n, false) => format!("{n} requests"),
        },
        format!(
            "{:.2}",
            hour["requestsPerMinute"].as_f64().unwrap_or_default()
        ),
        count("fallbacksLastHour"),
        count("failuresLastHour"),
        ms("p50Ms"),
        ms("p99Ms"),
    ]);
    format!("\n{}", aligned(rows))
}

/// Where the ledger writes (the SQLite file, or the PostgreSQL store with
/// its password as `****`) and whether rows get there, last.
fn ledger_table(body: &Value) -> String {
    let ledger = &body["ledger"];
    if !ledger.is_object() {
        return String::new();
    }
    let store = ledger["store"]
        .as_str()
        .or(ledger["path"].as_str())
        .unwrap_or("-");
    let count = |key: &str| ledger[key].as_u64().unwrap_or_default().to_string();
    let mut rows = headed("LEDGER|STATE|WRITTEN|DROPPED|LAST ERROR");
    rows.push(vec![
        store.to_string(),
        ledger["state"].as_str().unwrap_or("-").to_string(),
        count("rowsWritten"),
        match count("segmentsSetAside").as_str() {
            "0" => count("rowsDropped"),
            set_aside => format!("{} ({set_aside} segments set aside)", count("rowsDropped")),
        },
        ledger["lastError"].as_str().unwrap_or("-").to_string(),
    ]);
    format!("\n{}", aligned(rows))
}

/// Each client's spend and requests answered today and its limits, under the
/// quotas.
fn client_table(body: &Value) -> String {
    let clients = body["clients"].as_array().into_iter().flatten();
    let mut rows = headed("CLIENT|SPENT TODAY|ANSWERED TODAY|LIMITS|BUDGETS");
    for client in clients {
        let name = client["name"].as_str().unwrap_or("-");
        let limits = &client["limits"];
        let limits: Vec<String> = [
            ("requestsPerMinute", "req/min"),
            ("tokensPerMinute", "tokens/min"),
            ("concurrentRequests", "at once"),
        ]
        .iter()
        .filter_map(|(key, unit)| limits[key].as_u64().map(|n| format!("{n} {unit}")))
        .collect();
        let budgets: Vec<String> = body["budgets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| b["client"].as_str() == Some(name))
            .map(|b| {
                // Two of one period are told apart by what they cover.
                let of_client = format!(" of client {name}");
                let scope = b["scope"].as_str().unwrap_or_default();
                let scope = match scope.strip_suffix(&of_client).unwrap_or(scope) {
                    "all traffic" | "" => String::new(),
                    scope => format!(" ({scope})"),
                };
                format!(
                    "{} {}/{}{scope}",
                    b["period"].as_str().unwrap_or("-"),
                    usd(b["spentUsd"].as_f64().unwrap_or(0.0)),
                    usd(b["limitUsd"].as_f64().unwrap_or(0.0))
                )
            })
            .collect();
        let or_none = |items: Vec<String>| {
            if items.is_empty() {
                "-".to_string()
            } else {
                items.join(", ")
            }
        };
        rows.push(vec![
            name.to_string(),
            spent(client["today"]["costUsd"].as_f64().unwrap_or(0.0)),
            client["today"]["requests"]
                .as_u64()
                .unwrap_or(0)
                .to_string(),
            or_none(limits),
            or_none(budgets),
        ]);
    }
    if rows.len() == 1 {
        return String::new();
    }
    format!("\n{}", aligned(rows))
}

/// The status as aligned columns, one target a row.
fn table(body: &Value) -> String {
    let mut rows = headed("TARGET|CHAIN|STATE|COOLDOWN|FAILURES|LAST ERROR|LAST SUCCESS");
    for target in body["targets"].as_array().into_iter().flatten() {
        let text = |key: &str| target[key].as_str().unwrap_or("-").to_string();
        let failures = target["failures"]
            .as_object()
            .filter(|f| !f.is_empty())
            .map_or("-".to_string(), |f| {
                f.iter()
                    .map(|(class, n)| format!("{class}={n}"))
                    .collect::<Vec<_>>()
                    .join(",")
            });
        let state = match (
            target["missingKey"].as_str(),
            target["placeholderKey"].as_str(),
        ) {
            (Some(var), _) => format!("no key ({var} unset)"),
            (_, Some(source)) => format!("placeholder key ({source})"),
            _ => text("state"),
        };
        let last_error = match (
            target["lastFailureClass"].as_str(),
            target["lastFailureSecondsAgo"].as_f64(),
        ) {
            (Some(class), Some(ago)) => format!("{class} {}s ago", ago.round()),
            (Some(class), None) => class.to_string(),
            _ => "-".to_string(),
        };
        // What the provider answered (status and message), or the
        // transport failure.
        let last_error = match target["lastError"].as_str() {
            Some(said) if last_error != "-" => format!("{last_error}: {said}"),
            _ => last_error,
        };
        rows.push(vec![
            text("ref"),
            target["chainPosition"]
                .as_u64()
                .map_or("-".to_string(), |p| p.to_string()),
            state,
            target["cooldownRemainingSeconds"]
                .as_f64()
                .map_or("-".to_string(), |s| format!("{}s", s.ceil())),
            failures,
            last_error,
            text("lastSuccess"),
        ]);
    }
    aligned(rows)
}

/// The most characters a cell shows; the rest is cut, marked `…`
/// (`--json` shows all).
const CELL_CHARS: usize = 200;

/// A cell as it is printed: what came from the gateway (a provider's
/// message, a name) with its control characters escaped, so no answer
/// moves the cursor or forges a line, and no longer than [`CELL_CHARS`].
fn cell(text: &str) -> String {
    let mut shown = escape_controls(text);
    if let Some((cut, _)) = shown.char_indices().nth(CELL_CHARS) {
        shown.truncate(cut);
        shown.push('…');
    }
    shown
}

/// A table's rows, so far its header: `names`, split at each `|`.
fn headed(names: &str) -> Vec<Vec<String>> {
    vec![names.split('|').map(str::to_string).collect()]
}

/// Rows as columns padded to their widest cell.
fn aligned(rows: Vec<Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|text| cell(text)).collect())
        .collect();
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| {
                let pad = width.saturating_sub(cell.chars().count());
                format!("{cell}{}", " ".repeat(pad))
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{
        Redactor, budget_table, cache_breaks_table, client_table, concurrency_table, hints,
        last_hour, ledger_table, quota_table, status_url, table,
    };

    #[test]
    fn each_recent_cache_break_is_a_row_naming_its_session_and_cause() {
        let body = json!({"sessions": {"kept": 2, "recentBreaks": [
            {"session": "dev/abc", "cause": "tools", "detail": "tools: added grep",
             "target": "kimi/k2", "at": 0}]}});
        let table = cache_breaks_table(&body);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[1],
            "CACHE BREAK  SESSION  WHAT CHANGED       TARGET   AGO"
        );
        assert!(
            lines[2].starts_with("tools        dev/abc  tools: added grep  kimi/k2  "),
            "{table}"
        );
        assert_eq!(
            cache_breaks_table(&json!({"sessions": {"recentBreaks": []}})),
            ""
        );
        assert_eq!(cache_breaks_table(&json!({"sessions": null})), "");
    }

    #[test]
    fn a_wide_or_hostile_cell_is_cut_and_escaped_not_a_panic() {
        let said = format!("500 \u{1b}[2J{}\nforged line", "x".repeat(70_000));
        let body = json!({"targets": [{"ref": "p/m\r", "state": "cooling_down",
            "lastFailureClass": "server", "lastError": said,
            "hint": "a hint\u{7}", "failures": {"server": 1}}]});
        let shown = table(&body);
        assert!(
            !shown.chars().any(|c| c.is_control() && c != '\n'),
            "{shown:?}"
        );
        assert_eq!(shown.lines().count(), 2, "{shown:?}");
        assert!(shown.contains("p/m\\r"), "{shown:?}");
        assert!(shown.contains("\\u{1b}[2J"), "{shown:?}");
        assert!(shown.len() < 1000 && shown.contains('…'), "{}", shown.len());
        let hinted = hints(&body);
        assert!(
            !hinted.contains('\u{7}') && hinted.contains("a hint\\u{7}"),
            "{hinted:?}"
        );
    }

    #[test]
    fn the_ledger_row_names_the_store_or_the_file_and_what_reached_it() {
        let body = json!({"ledger": {"state": "writing",
            "store": "postgresql://gw:****@/usage?host=/run/postgresql",
            "rowsWritten": 1200, "rowsDropped": 3,
            "lastError": "the ledger database did not answer within 2 s"}});
        assert_eq!(
            ledger_table(&body),
            "\nLEDGER                                            STATE    WRITTEN  DROPPED  LAST ERROR\n\
             postgresql://gw:****@/usage?host=/run/postgresql  writing  1200     3        the ledger database did not answer within 2 s\n"
        );
        let body = json!({"ledger": {"state": "writing", "path": "/var/lib/clawgate/ledger.db",
            "rowsWritten": 7, "rowsDropped": 0}});
        assert_eq!(
            ledger_table(&body),
            "\nLEDGER                       STATE    WRITTEN  DROPPED  LAST ERROR\n\
             /var/lib/clawgate/ledger.db  writing  7        0        -\n"
        );
        let body = json!({"ledger": {"state": "writing", "store": "s",
            "rowsWritten": 7, "rowsDropped": 2, "segmentsSetAside": 1}});
        assert!(
            ledger_table(&body).contains("writing  7        2 (1 segments set aside)  -"),
            "{}",
            ledger_table(&body)
        );
        let body = json!({"ledger": {"state": "memory_only", "rowsWritten": 0, "rowsDropped": 0}});
        assert!(ledger_table(&body).contains("\n-       memory_only  0"));
        assert_eq!(ledger_table(&json!({})), "");
    }

    #[test]
    fn each_client_has_a_row_with_its_spend_limits_and_budgets() {
        let body = json!({
            "clients": [
                {"name": "alice", "today": {"requests": 12, "costUsd": 0.4321},
                 "limits": {"requestsPerMinute": 60, "tokensPerMinute": null, "concurrentRequests": 4}},
                {"name": "token", "today": {"requests": 0, "costUsd": 0.0}, "limits": {}},
            ],
            "budgets": [
                {"scope": "all traffic of client alice", "period": "day", "spentUsd": 0.004, "limitUsd": 0.001, "client": "alice"},
                {"scope": "provider openrouter of client alice", "period": "day", "spentUsd": 0.0, "limitUsd": 0.5, "client": "alice"},
                {"scope": "all traffic", "period": "month", "spentUsd": 9.0, "limitUsd": 40.0},
            ],
        });
        assert_eq!(
            client_table(&body),
            "\nCLIENT  SPENT TODAY  ANSWERED TODAY  LIMITS                 BUDGETS\n\
             alice   $0.4321      12              60 req/min, 4 at once  day $0.0040/$0.0010, day $0.00/$0.50 (provider openrouter)\n\
             token   $0.0000      0               -                      -\n"
        );
        assert_eq!(client_table(&json!({"clients": []})), "");
    }

    #[test]
    fn the_table_has_a_row_per_target_in_aligned_columns() {
        let body = json!({"targets": [
            {"ref": "kimi/k2", "chainPosition": 1, "state": "cooling_down",
             "cooldownRemainingSeconds": 29.2, "failures": {"timeout": 2},
             "lastFailureClass": "timeout", "lastFailureSecondsAgo": 0.6},
            {"ref": "openrouter/a-long-model", "state": "healthy", "failures": {},
             "lastSuccess": "Mon, 23 Nov 2026 10:00:00 GMT"},
            {"ref": "moonshot/k", "state": "no_key", "missingKey": "MOONSHOT_API_KEY", "failures": {}},
        ]});
        assert_eq!(
            table(&body),
            "TARGET                   CHAIN  STATE                            COOLDOWN  FAILURES   LAST ERROR      LAST SUCCESS\n\
             kimi/k2                  1      cooling_down                     30s       timeout=2  timeout 1s ago  -\n\
             openrouter/a-long-model  -      healthy                          -         -          -               Mon, 23 Nov 2026 10:00:00 GMT\n\
             moonshot/k               -      no key (MOONSHOT_API_KEY unset)  -         -          -               -\n"
        );
    }

    /// A target the budgets refuse says why under the table, where a
    /// failing one says what to do.
    #[test]
    fn a_target_over_budget_says_why() {
        let body = json!({"targets": [
            {"ref": "moonshot/k", "state": "over_budget", "failures": {},
             "overBudget": "the daily budget of $1.00 for all models is spent ($1.2000); it resets at 2026-11-26T00:00:00Z"},
        ]});
        assert!(table(&body).contains("moonshot/k  -      over_budget"));
        assert_eq!(
            hints(&body),
            "moonshot/k: skipped: the daily budget of $1.00 for all models is spent ($1.2000); it resets at 2026-11-26T00:00:00Z\n"
        );
    }

    #[test]
    fn a_url_without_a_scheme_or_host_says_so() {
        let token = "gw-token-0123456789abcdef";
        let redactor = Redactor::new([token]);
        let status_url = |text: &str| status_url(text, &redactor);
        assert_eq!(
            status_url("http://127.0.0.1:18700/").unwrap(),
            "http://127.0.0.1:18700/v1/status"
        );
        // The base URL a client is given names the gateway too; a proxy's
        // path is kept.
        for given in ["http://127.0.0.1:18700/v1", "http://127.0.0.1:18700/v1/"] {
            assert_eq!(
                status_url(given).unwrap(),
                "http://127.0.0.1:18700/v1/status"
            );
        }
        assert_eq!(
            status_url("https://gw.example/clawgate/v1").unwrap(),
            "https://gw.example/clawgate/v1/status"
        );
        let error = status_url("127.0.0.1:18700").unwrap_err();
        assert!(
            error.contains("no scheme; write it as http://127.0.0.1:18700"),
            "{error}"
        );
        assert!(status_url("ftp://h/").unwrap_err().contains("http://"));
        assert!(status_url("http://").is_err());
        // A key in what was given is never printed, and the URL of a
        // message names none.
        for given in [
            format!("not a url {token}"),
            format!("http://u:{token}@127.0.0.1:18700/"),
            format!("http://127.0.0.1:18700/?token={token}"),
            format!("http://127.0.0.1:18700/#{token}"),
        ] {
            let error = status_url(&given).unwrap_err();
            assert!(!error.contains(token), "{error}");
            assert!(
                error.contains("[redacted]") || error.contains("[left out]"),
                "{error}"
            );
        }
        // Nor a password, or a query, it does not know: only where it was.
        for (given, quoted) in [
            (
                "http://admin:hunter2hunter2@127.0.0.1:18700",
                "http://[left out]@127.0.0.1:18700",
            ),
            ("http://secret123456@h:1/v1", "http://[left out]@h:1/v1"),
            (
                "http://h:1/v1?key=secret123456#x",
                "http://h:1/v1?[left out]",
            ),
            (
                "http://u:secret123456@h:99999/",
                "http://[left out]@h:99999/",
            ),
            ("http://u:se#cret/123456@h:1", "http://[left out]@h:1"),
            ("admin:hunter2hunter2@h:1", "[left out]@h:1"),
            ("h:1/?key=secret123456", "h:1/?[left out]"),
        ] {
            let error = status_url(given).unwrap_err();
            assert!(
                !error.contains("hunter2") && !error.contains("secret"),
                "{error}"
            );
            assert!(error.contains(&format!("{quoted:?}")), "{error}");
        }
    }

    #[test]
    fn quota_windows_and_hints_are_shown_under_the_targets() {
        let body = json!({
            "targets": [{"ref": "kimi/k3", "lastFailureClass": "quota",
                         "hint": "the account's usage quota is used up"}],
            "quotas": {
                "kimi": {"kind": "usages", "exhausted": true, "readSecondsAgo": 3,
                         "skippedUntil": "Thu, 26 Nov 2026 10:00:00 GMT",
                         "windows": [
                             {"name": "Weekly limit", "used": 100.0, "limit": 100.0,
                              "usedPercent": 100.0, "resetInSeconds": 266_400},
                             {"name": "5h limit", "used": 2.0, "limit": 20.0, "usedPercent": 10.0}]},
                "moonshot": {"kind": "balance", "exhausted": false, "readSecondsAgo": 3,
                             "windows": [], "balance": 12.5},
                "proxy": {"kind": "usages", "exhausted": false, "windows": [],
                          "problem": "the endpoint answered 404 (not served here)"}
            }
        });
        assert_eq!(
            hints(&body),
            "kimi/k3: quota: the account's usage quota is used up\n"
        );
        assert_eq!(
            quota_table(&body),
            "\nQUOTA     WINDOW        USED   LIMIT  USED%  RESETS IN  STATE\n\
             kimi      Weekly limit  100    100    100%   3d 2h      exhausted: skipped until Thu, 26 Nov 2026 10:00:00 GMT\n\
             kimi      5h limit      2      20     10%    -\n\
             moonshot  balance       12.50  -      -      -          ok\n\
             proxy     -             -      -      -      -          unread: the endpoint answered 404 (not served here)\n"
        );
        assert_eq!(quota_table(&json!({"quotas": {}})), "");
    }

    #[test]
    fn each_capped_providers_queue_is_shown_under_the_quotas() {
        let body = json!({"concurrency": {"kimi": {"maxConcurrent": 30, "waitSeconds": 2.0,
            "inFlight": 30, "waiting": 4, "waited": 120, "skipped": 3}}});
        assert_eq!(
            concurrency_table(&body),
            "\nCONCURRENCY  IN FLIGHT  MAX  WAIT  WAITING  WAITED  SKIPPED\n\
             kimi         30         30   2s    4        120     3\n"
        );
        assert_eq!(concurrency_table(&json!({"concurrency": {}})), "");
    }

    #[test]
    fn budgets_and_the_last_hour_are_shown_under_the_quotas() {
        let body = json!({
            "budgets": [
                {"scope": "all traffic", "period": "day", "limitUsd": 5.0, "spentUsd": 1.2,
                 "uncosted": 0, "warning": false, "exceeded": false,
                 "resetsAt": "2026-11-26T00:00:00Z"},
                {"scope": "provider openrouter", "period": "month", "limitUsd": 20.0,
                 "spentUsd": 18.004, "uncosted": 3, "warning": true, "exceeded": false,
                 "resetsAt": "2026-12-01T00:00:00Z"},
                {"scope": "model kimi/k2", "period": "week", "limitUsd": 1.0,
                 "spentUsd": 1.5, "uncosted": 0, "warning": true, "exceeded": true,
                 "resetsAt": "2026-11-30T00:00:00Z"},
            ],
            "lastHour": {"requestsLastHour": 42, "fallbacksLastHour": 3, "failuresLastHour": 1,
                         "requestsPerMinute": 0.7, "fallbacksPerMinute": 0.05,
                         "p50Ms": 820, "p99Ms": 4100},
        });
        assert_eq!(
            budget_table(&body),
            "\nBUDGET               PERIOD  SPENT   LIMIT   USED%  UNCOSTED  RESETS                STATE\n\
             all traffic          day     $1.20   $5.00   24%    0         2026-11-26T00:00:00Z  ok\n\
             provider openrouter  month   $18.00  $20.00  90%    3         2026-12-01T00:00:00Z  warning\n\
             model kimi/k2        week    $1.50   $1.00   150%   0         2026-11-30T00:00:00Z  exceeded\n"
        );
        assert_eq!(
            last_hour(&body),
            "\nLAST HOUR    PER MIN  FALLBACKS  FAILED  P50     P99\n\
             42 requests  0.70     3          1       820 ms  4100 ms\n"
        );
        // No budget set, a gateway without the figures: nothing.
        assert_eq!(budget_table(&json!({"budgets": []})), "");
        assert_eq!(last_hour(&json!({})), "");
        // An hour without requests has no latency.
        assert_eq!(
            last_hour(&json!({"lastHour": {"requestsLastHour": 0, "requestsPerMinute": 0.0}})),
            "\nLAST HOUR   PER MIN  FALLBACKS  FAILED  P50  P99\n\
             0 requests  0.00     0          0       -    -\n"
        );
        // More than the gateway keeps: a floor, said as one.
        let busy = last_hour(&json!({"lastHour": {"requestsLastHour": 20000, "floor": true}}));
        assert!(busy.contains("20000+ requests"), "{busy}");
    }
}
