//! Issue 20 items 1 and 2 end to end through `clawgate-mock`: Kimi Coding's
//! weekly-quota 403 is a quota failure (not the User-Agent gate, not a bad
//! key), Moonshot's zero balance is billing; the quota endpoint and the
//! balance are read, shown in `/v1/status`, `/metrics`, `clawgate status`
//! and the status page, and a spent account's targets are skipped before
//! they refuse.

mod common;

use clawgate_mock::{MockOptions, MockServer, WEEKLY_QUOTA_MESSAGE};
use common::log::Captured;
use common::*;
use serde_json::{Value, json};

/// A Kimi Coding provider on a mock (a custom `baseUrl`, so `quota` is
/// set on explicitly unless `quota` is `null`).
fn kimi_provider(mock: &MockServer, quota: Value) -> Value {
    let mut provider = json!({"dialect": "kimi-coding", "baseUrl": mock.base_url(), "apiKey": KEY,
                              "models": [{"id": "m", "name": "Mock", "reasoning": true}]});
    if !quota.is_null() {
        provider["quota"] = quota;
    }
    provider
}

fn config(primary: Value, backup: &MockServer) -> Value {
    config_naming("primary", primary, backup)
}

/// [`config`] with the primary provider named `id`.
fn config_naming(id: &str, primary: Value, backup: &MockServer) -> Value {
    json!({
        "models": {"mode": "replace", "providers": {id: primary, "backup": provider(backup)}},
        "agents": {"defaults": {"model": {"primary": format!("{id}/m"), "fallbacks": ["backup/m"]}}},
    })
}

fn chat_requests(mock: &MockServer) -> usize {
    mock.requests()
        .iter()
        .filter(|r| r["path"] == "/v1/chat/completions")
        .count()
}

fn quota_reads(mock: &MockServer, path: &str) -> usize {
    mock.requests().iter().filter(|r| r["path"] == path).count()
}

fn ask() -> Value {
    ask_for("primary/m")
}

fn ask_for(model: &str) -> Value {
    json!({"model": model, "messages": user_message()})
}

#[tokio::test]
async fn the_weekly_quota_403_is_quota_and_the_chain_falls_over_then_skips_until_the_reset() {
    let primary = mock(MockOptions {
        weekly_quota: (100, 100),
        require_user_agent: Some("KimiCLI".into()),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    // A provider id of this test's own: the metrics registry is
    // process-wide, and other tests' `primary` set the same gauges.
    let gw = gateway(config_naming(
        "spent",
        kimi_provider(&primary, json!(true)),
        &backup,
    ))
    .await;

    // The first request meets the 403 itself: not a key problem, not the
    // gate; the backup answers.
    let response = gw.chat(ask_for("spent/m")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");
    assert_eq!(chat_requests(&primary), 1);

    // The quota failure had the endpoint read (in the background, with the
    // same User-Agent as requests): the status shows the spent window.
    let mut shown = Value::Null;
    for _ in 0..200 {
        shown = gw.status().await;
        if shown["quotas"]["spent"]["exhausted"] == true {
            break;
        }
        tokio::task::yield_now().await;
    }
    let quota = &shown["quotas"]["spent"];
    assert_eq!(quota["exhausted"], true, "{shown:#}");
    assert_eq!(quota["windows"][0]["name"], "Weekly limit");
    assert_eq!(quota["windows"][0]["usedPercent"], 100.0);
    assert_eq!(quota["windows"][0]["exhausted"], true);
    assert_eq!(quota["windows"][1]["name"], "5h limit");
    assert_eq!(quota["windows"][1]["exhausted"], false);
    assert!(quota["skippedUntil"].as_str().unwrap().ends_with("GMT"));
    let target = &shown["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["ref"] == "spent/m")
        .unwrap();
    assert_eq!(target["lastFailureClass"], "quota");
    assert!(target["hint"].as_str().unwrap().contains("the key is fine"));
    assert_eq!(target["quotaExhausted"], true);

    // Now the primary is skipped before it is asked.
    let response = gw.chat(ask_for("spent/m")).await;
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");
    assert_eq!(chat_requests(&primary), 1, "a spent account is not asked");

    let metrics = gw.metrics().await;
    assert!(
        metrics.contains(r#"clawgate_quota_used{provider="spent",window="weekly"} 100"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"clawgate_quota_exhausted{provider="spent"} 1"#));
}

#[tokio::test]
async fn when_every_target_is_spent_the_client_is_told_it_is_quota_not_a_bad_key() {
    let primary = mock(MockOptions {
        weekly_quota: (100, 100),
        ..MockOptions::default()
    })
    .await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {"primary": kimi_provider(&primary, Value::Null)}},
        "agents": {"defaults": {"model": {"primary": "primary/m"}}},
    }))
    .await;
    let response = gw.chat(ask()).await;
    assert_eq!(response.status(), 402);
    let body: Value = response.json().await.unwrap();
    let attempt = &body["error"]["attempts"][0];
    assert_eq!(attempt["outcome"], "quota");
    assert_eq!(attempt["status"], 403);
    assert_eq!(attempt["type"], "access_terminated_error");
    let hint = attempt["hint"].as_str().unwrap();
    assert!(hint.contains("quota") && !hint.contains("User-Agent") && !hint.contains("API key"));
    assert!(
        attempt["message"]
            .as_str()
            .unwrap()
            .contains(&WEEKLY_QUOTA_MESSAGE[..40])
    );
    // No quota key on a custom baseUrl: the endpoint is left alone.
    gw.status().await;
    assert_eq!(quota_reads(&primary, "/v1/usages"), 0);
}

#[tokio::test]
async fn a_window_over_the_threshold_is_skipped_before_the_provider_refuses() {
    let (captured, _guard) = Captured::start();
    // At the default threshold (100%), 95% still goes to the primary.
    let (_primary, backup, gw) = quota_gateway(MockOptions {
        weekly_quota: (95, 100),
        ..MockOptions::default()
    })
    .await;
    let shown = gw.status().await;
    assert_eq!(shown["quotas"]["primary"]["exhausted"], false);
    let response = gw.chat(ask()).await;
    assert_eq!(header(&response, "x-clawgate-provider"), "primary");

    // At 90%, it is skipped: read on demand by the status, then no request.
    let primary = mock(MockOptions {
        weekly_quota: (95, 100),
        ..MockOptions::default()
    })
    .await;
    let quota = json!({"thresholdPercent": 90});
    let gw = gateway(config(kimi_provider(&primary, quota), &backup)).await;
    let shown = gw.status().await;
    assert_eq!(shown["quotas"]["primary"]["exhausted"], true, "{shown:#}");
    assert_eq!(shown["quotas"]["primary"]["thresholdPercent"], 90.0);
    let response = gw.chat(ask()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");
    assert_eq!(chat_requests(&primary), 0);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from clawgate-mock."
    );
    // The access line says it was skipped, as a budget's or a cooldown's
    // skip does: no call was made.
    let lines = captured.wait_for(4).await;
    let line = lines.last().unwrap();
    assert_eq!(
        line["fields"]["attempts"], "primary/m:skipped(quota),backup/m:ok",
        "{lines:#?}"
    );
}

#[tokio::test]
async fn a_zero_balance_is_billing_and_skips_the_target() {
    let broke = mock(MockOptions {
        balance: 0.0,
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let moonshot = |quota: Value| {
        let mut p = json!({"dialect": "moonshot", "baseUrl": broke.base_url(), "apiKey": KEY,
                           "models": [{"id": "m", "name": "Mock"}]});
        if !quota.is_null() {
            p["quota"] = quota;
        }
        p
    };
    // Without the balance read: the 429 is billing, not a passing limit
    // (no retry on the same target).
    let gw = gateway(config(moonshot(Value::Null), &backup)).await;
    let response = gw.chat(ask()).await;
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");
    assert_eq!(chat_requests(&broke), 1, "billing is not retried");
    let shown = gw.status().await;
    let target = shown["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["ref"] == "primary/m")
        .unwrap()
        .clone();
    assert_eq!(target["lastFailureClass"], "billing");
    assert!(target["hint"].as_str().unwrap().contains("top it up"));
    assert!(shown["quotas"].as_object().unwrap().is_empty());

    // With it: read, shown, and the target is skipped.
    let gw = gateway(config(moonshot(json!(true)), &backup)).await;
    let shown = gw.status().await;
    assert_eq!(shown["quotas"]["primary"]["kind"], "balance");
    assert_eq!(shown["quotas"]["primary"]["balance"], 0.0);
    assert_eq!(shown["quotas"]["primary"]["exhausted"], true);
    assert_eq!(quota_reads(&broke, "/v1/users/me/balance"), 1);
    let before = chat_requests(&broke);
    let response = gw.chat(ask()).await;
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");
    assert_eq!(chat_requests(&broke), before);
    // The status asked again within a minute does not read again.
    gw.status().await;
    assert_eq!(quota_reads(&broke, "/v1/users/me/balance"), 1);
}

#[tokio::test]
async fn an_absent_or_changed_quota_endpoint_never_fails_a_request() {
    let backup = healthy_mock().await;
    for (options, problem) in [
        (
            MockOptions {
                usages_status: Some(404),
                ..MockOptions::default()
            },
            "the endpoint answered 404 (not served here)",
        ),
        (
            MockOptions {
                usages_answer: Some(r#"{"quota": {"weekly": "plenty"}}"#.into()),
                ..MockOptions::default()
            },
            "its shape has changed: the answer holds no usage window",
        ),
        (
            MockOptions {
                usages_answer: Some("<html>".into()),
                ..MockOptions::default()
            },
            "the answer is not JSON",
        ),
    ] {
        let primary = mock(options).await;
        let gw = gateway(config(kimi_provider(&primary, json!(true)), &backup)).await;
        let shown = gw.status().await;
        let quota = &shown["quotas"]["primary"];
        assert!(
            quota["problem"].as_str().unwrap().starts_with(problem),
            "{quota}"
        );
        assert_eq!(quota["exhausted"], false);
        let response = gw.chat(ask()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-clawgate-provider"), "primary");
    }
}

#[tokio::test]
async fn the_5h_window_is_a_quota_too() {
    let (primary, _backup, gw) = quota_gateway(MockOptions {
        five_hour_quota: (20, 20),
        ..MockOptions::default()
    })
    .await;
    let shown = gw.status().await;
    let quota = &shown["quotas"]["primary"];
    assert_eq!(quota["exhausted"], true, "{quota}");
    // The 5-hour window's reset is not in the answer: skipped until the
    // next reading says otherwise.
    assert!(quota["skippedUntil"].is_null());
    let response = gw.chat(ask()).await;
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");
    assert_eq!(chat_requests(&primary), 0);
}

/// A gateway whose primary is a Kimi Coding account with its weekly window
/// spent, resetting in 2 days, 3 hours and 2 minutes; the mocks are kept
/// alive with it.
async fn spent_weekly_window() -> (MockServer, MockServer, TestGateway) {
    quota_gateway(MockOptions {
        weekly_quota: (100, 100),
        quota_reset_seconds: 2 * 86_400 + 3 * 3600 + 120,
        ..MockOptions::default()
    })
    .await
}

/// A gateway whose primary is a mock Kimi Coding account of `options`,
/// its quota read, and a healthy fallback.
async fn quota_gateway(options: MockOptions) -> (MockServer, MockServer, TestGateway) {
    let primary = mock(options).await;
    let backup = healthy_mock().await;
    let gw = gateway(config(kimi_provider(&primary, json!(true)), &backup)).await;
    (primary, backup, gw)
}

/// `clawgate status` against a gateway whose primary is a mock Kimi
/// Coding account: the quota windows under the targets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clawgate_status_shows_the_quota_windows() {
    let (_primary, _backup, gw) = spent_weekly_window().await;
    gw.chat(ask()).await;
    let stdout = clawgate_status(&gw).await;
    // Lines with their columns' padding squeezed to one space.
    let line = |start: &str| {
        stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line {start:?} in:\n{stdout}"))
    };
    assert!(line("QUOTA").starts_with("QUOTA WINDOW USED LIMIT USED% RESETS IN STATE"));
    let weekly = line("primary Weekly limit");
    assert!(
        weekly.starts_with("primary Weekly limit 100 100 100% 2d 3h exhausted: skipped until "),
        "{weekly}"
    );
    assert_eq!(line("primary 5h limit"), "primary 5h limit 2 20 10% -");
    assert!(line("primary/m:").starts_with("primary/m: quota: the account's usage quota"));
}

/// What `clawgate status --url` prints of `gw`; it must succeed.
async fn clawgate_status(gw: &TestGateway) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    std::fs::write(&file, "{}").unwrap();
    let url = gw.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_clawgate"))
            .args(["status", "--config", file.to_str().unwrap(), "--url", &url])
            .env_clear()
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}");
    stdout
}

/// `doctor --probe` reads the quota of each provider of the chain that
/// has one, and says what the spent one means.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_probe_reads_the_quota() {
    use std::os::unix::fs::PermissionsExt;
    let primary = mock(MockOptions {
        weekly_quota: (100, 100),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    let config = config(kimi_provider(&primary, json!(true)), &backup);
    std::fs::write(&file, config.to_string()).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_clawgate"))
            .args(["doctor", "--probe", "--config", file.to_str().unwrap()])
            .env_clear()
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let probe = stdout
        .lines()
        .find(|l| l.contains("probe primary/m"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        probe.starts_with("FAIL probe primary/m: quota (403)"),
        "{probe}"
    );
    assert!(probe.contains("the key is fine"), "{probe}");
    let quota = stdout
        .lines()
        .find(|l| l.contains("quota primary:"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        quota.starts_with(
            "warn quota primary: Weekly limit 100/100 (100%, resets in 2d 23h); 5h limit 2/20 (10%)"
        ),
        "{quota}"
    );
    assert!(
        quota.contains("spent (Weekly limit 100/100): requests skip it until"),
        "{quota}"
    );
    assert!(!stdout.contains(KEY), "no key in doctor's output");
}

/// The page's quota row for `provider`'s `window` (`weekly`, `5h`,
/// `balance`, or `""` for a provider with nothing read).
fn quota_row<'a>(html: &'a str, provider: &str, window: &str) -> Option<&'a str> {
    let start = html.find(&format!(
        "<tr data-provider=\"{provider}\" data-window=\"{window}\""
    ))?;
    let row = &html[start..];
    Some(&row[..row.find("</tr>")? + 5])
}

/// The Quotas section of the status page: each window of a Kimi Coding
/// account with its use, its reset and whether it is spent, read by the
/// page itself (no request or status call before it).
#[tokio::test]
async fn the_status_page_shows_the_quota_windows() {
    let (primary, _backup, gw) = spent_weekly_window().await;
    // The page waits a moment for a stale reading; under load a slow one
    // shows on a later load (bounded).
    let mut html = gw.page().await;
    for _ in 0..100 {
        if html.contains("id=\"quotas\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        html = gw.page().await;
    }
    assert!(html.contains("<h2>Quotas</h2>"), "{html}");
    assert_eq!(quota_reads(&primary, "/v1/usages"), 1);
    let weekly = quota_row(&html, "primary", "weekly").unwrap_or_else(|| panic!("{html}"));
    assert!(weekly.contains("data-state=\"exhausted\""), "{weekly}");
    assert!(weekly.contains("<td>Weekly limit</td>"), "{weekly}");
    assert!(weekly.contains(">100 / 100</td><td>100%</td>"), "{weekly}");
    assert!(weekly.contains("style=\"width:100.0%\""), "{weekly}");
    assert!(weekly.contains(">2d 3h</td>"), "{weekly}");
    assert!(weekly.contains("skipped until "), "{weekly}");
    let five = quota_row(&html, "primary", "5h").unwrap_or_else(|| panic!("{html}"));
    assert!(five.contains("data-state=\"ok\""), "{five}");
    assert!(five.contains(">2 / 20</td><td>10%</td>"), "{five}");
    // The backup has no quota endpoint: no row.
    assert!(!html.contains("data-provider=\"backup\""));

    // A later load within the minute does not read again.
    gw.page().await;
    assert_eq!(quota_reads(&primary, "/v1/usages"), 1);
}

#[tokio::test]
async fn the_status_page_shows_a_balance_and_an_unreadable_quota_escaped() {
    let broke = mock(MockOptions {
        balance: 0.0,
        ..MockOptions::default()
    })
    .await;
    let absent = mock(MockOptions {
        usages_status: Some(404),
        ..MockOptions::default()
    })
    .await;
    // A window whose name is markup: the provider's text is shown, escaped.
    let hostile = mock(MockOptions {
        usages_answer: Some(
            r#"{"usage": {"name": "<img src=x onerror=alert(1)>", "limit": "100", "used": "40", "remaining": "60"}}"#
                .into(),
        ),
        ..MockOptions::default()
    })
    .await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {
            "broke": {"dialect": "moonshot", "baseUrl": broke.base_url(), "apiKey": KEY,
                      "models": [{"id": "m", "name": "Mock"}], "quota": true},
            "absent": kimi_provider(&absent, json!(true)),
            "hostile": kimi_provider(&hostile, json!(true)),
        }},
        "agents": {"defaults": {"model": {"primary": "absent/m", "fallbacks": ["hostile/m", "broke/m"]}}},
    }))
    .await;
    // The status reads every quota and waits for them: the page then shows
    // them all.
    gw.status().await;
    let html = gw.page().await;
    let balance = quota_row(&html, "broke", "balance").unwrap_or_else(|| panic!("{html}"));
    assert!(balance.contains("data-state=\"exhausted\""), "{balance}");
    assert!(balance.contains(">0 available<"), "{balance}");
    let unread = quota_row(&html, "absent", "").unwrap_or_else(|| panic!("{html}"));
    assert!(unread.contains("data-state=\"unread\""), "{unread}");
    assert!(
        unread.contains("the endpoint answered 404 (not served here)"),
        "{unread}"
    );
    let named = quota_row(&html, "hostile", "other").unwrap_or_else(|| panic!("{html}"));
    assert!(named.contains("data-state=\"ok\""), "{named}");
    assert!(
        named.contains("<td>&lt;img src=x onerror=alert(1)&gt;</td>"),
        "{named}"
    );
    assert!(!html.contains("<img"), "no markup from a provider's answer");
}

/// A provider whose key is not set is never read: its quota says why,
/// in `/v1/status`, `clawgate status` and the page, rather than "not read
/// yet" for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_without_a_key_says_why_it_is_not_read() {
    let (kimi, backup) = (healthy_mock().await, healthy_mock().await);
    let mut keyless = kimi_provider(&kimi, json!(true));
    keyless["apiKey"] = json!("${CLAWGATE_TEST_UNSET_KIMI_KEY}");
    let mut config = config(provider(&backup), &backup);
    config["models"]["providers"]["keyless"] = keyless;
    let gw = gateway(config).await;
    assert_eq!(gw.chat(ask()).await.status(), 200);
    let shown = gw.status().await;
    assert_eq!(
        shown["quotas"]["keyless"]["problem"], "no key: ${CLAWGATE_TEST_UNSET_KIMI_KEY} is not set",
        "{shown:#}"
    );
    assert_eq!(quota_reads(&kimi, "/v1/usages"), 0);
    let printed = clawgate_status(&gw).await;
    assert!(
        printed.contains("unread: no key: ${CLAWGATE_TEST_UNSET_KIMI_KEY} is not set"),
        "{printed}"
    );
    let page = gw.page().await;
    assert!(!page.contains("not read yet"), "{page}");
    assert!(page.contains("no key: ${CLAWGATE_TEST_UNSET_KIMI_KEY} is not set"));
}

#[tokio::test]
async fn the_status_page_has_no_quotas_section_without_a_quota_endpoint() {
    let primary = healthy_mock().await;
    let backup = healthy_mock().await;
    // A custom baseUrl: the quota is off unless configured on.
    let gw = gateway(config(kimi_provider(&primary, Value::Null), &backup)).await;
    let html = gw.page().await;
    assert!(html.contains("id=\"chain\""), "{html}");
    assert!(!html.contains("id=\"quotas\""), "{html}");
    assert_eq!(quota_reads(&primary, "/v1/usages"), 0);
}

/// Health and quota belong to an account: a reload that gives the spent
/// provider another key ends the old account's quota skip at once (the
/// new account is asked; it used to be skipped until the reading aged).
#[tokio::test]
async fn a_key_changed_on_reload_ends_the_old_accounts_quota_skip_at_once() {
    let primary = mock(MockOptions {
        weekly_quota: (100, 100),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let config = config_naming("acct", kimi_provider(&primary, json!(true)), &backup);
    let gw = gateway(config.clone()).await;
    assert_eq!(gw.chat(ask_for("acct/m")).await.status(), 200);
    let mut skipped = false;
    for _ in 0..200 {
        if gw.status().await["quotas"]["acct"]["exhausted"] == true {
            skipped = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(skipped, "the old account's window is read as spent");
    let response = gw.chat(ask_for("acct/m")).await;
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");
    assert_eq!(chat_requests(&primary), 1, "the spent account is skipped");

    let mut other_account = config;
    other_account["models"]["providers"]["acct"]["apiKey"] = json!("sk-another-account-0123456789");
    let reloaded = clawgate::config::load_str(
        &other_account.to_string(),
        &clawgate::config::Environment::from_pairs::<&str, &str>([]),
        clawgate::config::Secrets::Required,
    )
    .unwrap();
    gw.gateway.replace_config(reloaded.config);
    gw.chat(ask_for("acct/m")).await.bytes().await.unwrap();
    assert_eq!(chat_requests(&primary), 2, "the new account is asked");
}

/// A status request whose client stops waiting for a slow quota reading
/// leaves the reading to finish: it is stored, and the provider is read
/// again when due. (Dropped with the request, it left the provider marked
/// as being read, and its quota unread for good.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_request_given_up_on_leaves_its_quota_reading_to_finish() {
    let (primary, _backup, gw) = quota_gateway(MockOptions {
        usages_delay_ms: 1_000,
        ..MockOptions::default()
    })
    .await;
    let status = || reqwest::Client::new().get(format!("{}/v1/status", gw.url));
    let given_up = status()
        .timeout(std::time::Duration::from_millis(200))
        .send()
        .await;
    assert!(
        given_up.is_err(),
        "the client gives up before the reading ends"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let shown: Value = status().send().await.unwrap().json().await.unwrap();
    let windows = &shown["quotas"]["primary"]["windows"];
    assert_eq!(windows[0]["name"], "Weekly limit", "{shown:#}");
    assert_eq!(quota_reads(&primary, "/v1/usages"), 1);
}

/// A provider that echoes its key in a window's name (an account's name,
/// say) has it masked wherever the window is shown: `/v1/status` and
/// `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_echoed_in_a_windows_name_is_masked() {
    let answer = json!({"usage": {"limit": "100", "used": "5", "name": format!("weekly {KEY}")}});
    let (_primary, _backup, gw) = quota_gateway(MockOptions {
        usages_answer: Some(answer.to_string()),
        ..MockOptions::default()
    })
    .await;
    let shown = gw.status().await;
    let name = shown["quotas"]["primary"]["windows"][0]["name"].as_str();
    assert!(
        name.is_some_and(|name| name.starts_with("weekly ")),
        "{shown:#}"
    );
    assert!(!shown.to_string().contains(KEY), "{shown:#}");
    let metrics = gw.metrics().await;
    assert!(metrics.contains("clawgate_quota_used{"), "{metrics}");
    assert!(!metrics.contains(KEY), "{metrics}");
}
