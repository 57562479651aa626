//! The ledger in a running `clawgate serve`. It survives a crash: the
//! process is killed (SIGKILL) while requests are being written, started
//! again on the same state directory, and the database is whole, its
//! rollups agree with its rows, and `clawgate usage` reads it. And systemd's
//! `STATUS=` follows the traffic.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tokio::process::Child;

async fn serve(config: &std::path::Path, state: &std::path::Path) -> (Child, String) {
    serve_with(config, state, None).await
}

async fn serve_with(
    config: &std::path::Path,
    state: &std::path::Path,
    notify: Option<&std::path::Path>,
) -> (Child, String) {
    let mut env = vec![
        ("CLAWGATE_STATE_DIR", state.as_os_str()),
        ("MOCK_KEY", KEY.as_ref()),
    ];
    if let Some(socket) = notify {
        env.push(("NOTIFY_SOCKET", socket.as_os_str()));
    }
    serve_process(config, &env).await
}

fn chat(client: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
    client
        .post(format!("{url}/v1/chat/completions"))
        .json(&json!({"messages": user_message()}))
}

/// One chat request, its answer read to the end.
async fn chat_to_the_end(client: &reqwest::Client, url: &str) {
    chat(client, url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
}

fn write_config(dir: &std::path::Path, mock: &clawgate_mock::MockServer) -> std::path::PathBuf {
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        json!({
            "models": {"mode": "replace", "providers": {"p": {
                "baseUrl": mock.base_url(), "apiKey": "${MOCK_KEY}",
                "models": [{"id": "m", "cost": {"input": 1, "output": 2}}]}}},
            "agents": {"defaults": {"model": {"primary": "p/m"}}},
        })
        .to_string(),
    )
    .unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_status_follows_the_traffic() {
    let mock = healthy_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &mock);
    let socket_path = dir.path().join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&socket_path).unwrap();
    let (child, url) = serve_with(&config, &dir.path().join("state"), Some(&socket_path)).await;
    let mut buffer = vec![0; 4096];
    let mut next = async || {
        let size = tokio::time::timeout(Duration::from_secs(30), socket.recv(&mut buffer))
            .await
            .expect("a notification within 30 s")
            .unwrap();
        String::from_utf8_lossy(&buffer[..size]).into_owned()
    };
    let ready = next().await;
    assert!(
        ready.contains("READY=1") && ready.contains("STATUS=serving on"),
        "{ready}"
    );
    let client = reqwest::Client::new();
    for _ in 0..2 {
        chat_to_the_end(&client, &url).await;
    }
    // The next STATUS= says what happened (sent within 5 s of the change).
    let status = next().await;
    assert!(status.starts_with("STATUS=2 req/h, $0.00"), "{status}");
    assert!(status.trim_end().ends_with(" today"), "{status}");

    // A refused reload stays in the status line through later traffic,
    // until a reload succeeds.
    std::fs::write(&config, "{ not json").unwrap();
    let pid = child.id().expect("running") as libc::pid_t;
    // SAFETY: a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let refused = loop {
        let note = next().await;
        if note.contains("READY=1") {
            break note;
        }
    };
    assert!(refused.contains("last reload refused"), "{refused}");
    chat_to_the_end(&client, &url).await;
    let status = next().await;
    assert!(
        status.starts_with("STATUS=last reload refused: ") && status.contains("3 req/h"),
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_killed_mid_write_restarts_with_rows_and_rollups_intact() {
    let mock = healthy_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &mock);
    let state = dir.path().join("state");

    let (mut child, url) = serve(&config, &state).await;
    let client = reqwest::Client::new();
    // Sixteen clients send requests without pause; the gateway is killed
    // once 200 have been answered, while the writer is busy.
    let answered = Arc::new(AtomicUsize::new(0));
    let (enough, mut reached) = tokio::sync::mpsc::channel::<()>(1);
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (client, url, answered, enough) = (
            client.clone(),
            url.clone(),
            answered.clone(),
            enough.clone(),
        );
        senders.push(tokio::spawn(async move {
            while let Ok(response) = chat(&client, &url).send().await {
                if response.text().await.is_err() {
                    break;
                }
                if answered.fetch_add(1, Ordering::SeqCst) + 1 >= 200 {
                    let _ = enough.try_send(());
                }
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(60), reached.recv())
        .await
        .expect("200 requests answered");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    for sender in senders {
        sender.await.unwrap();
    }

    // Started again, it serves, and a clean stop writes what it recorded.
    let (mut child, url) = serve(&config, &state).await;
    for _ in 0..5 {
        let response = chat(&client, &url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap();
    }
    let status: Value = client
        .get(format!("{url}/v1/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let written_before_restart = status["ledger"]["rowsWritten"].as_u64().unwrap();
    assert!(written_before_restart <= 5);
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");

    let path = state.join("ledger.db");
    let conn = clawgate::ledger::store::open_read_only(&path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM requests", [], |r| r.get(0))
        .unwrap();
    let rolled: i64 = conn
        .query_row("SELECT SUM(requests) FROM daily", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        rows, rolled,
        "rows and rollups are written together or not at all"
    );
    // 200 were answered before the kill; the writer keeps up within
    // milliseconds, so most of them must be there.
    assert!(rows > 5 + 100, "rows from before the kill survive: {rows}");
    let costed: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM requests WHERE cost_usd > 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(costed, rows);

    // `clawgate usage` reads the same ledger.
    let output = std::process::Command::new(BIN)
        .args([
            "usage", "--json", "--since", "today", "--by", "model", "--ledger",
        ])
        .arg(&path)
        .env_clear()
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["total"]["requests"], rows, "{report}");
    assert_eq!(report["lines"][0]["key"], "p/m");
    let table = std::process::Command::new(BIN)
        .args(["usage", "--since", "7d", "--per", "day", "--ledger"])
        .arg(&path)
        .env_clear()
        .output()
        .unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.contains("requests") && table.contains(&rows.to_string()),
        "{table}"
    );
    let missing = std::process::Command::new(BIN)
        .args(["usage", "--ledger", "/nonexistent/ledger.db"])
        .env_clear()
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("--ledger /nonexistent/ledger.db: no such file")
    );
    // A folder named as the ledger is said to be one.
    let folder = std::process::Command::new(BIN)
        .args(["usage", "--ledger"])
        .arg(path.parent().unwrap())
        .env_clear()
        .output()
        .unwrap();
    assert!(!folder.status.success());
    let said = String::from_utf8_lossy(&folder.stderr);
    assert!(said.contains("is not a ledger file (a folder?)"), "{said}");
    let bad_since = std::process::Command::new(BIN)
        .args(["usage", "--since", "soon", "--ledger"])
        .arg(&path)
        .env_clear()
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad_since.stderr).contains("--since: expected a duration"));
}

/// A second SIGTERM (or SIGINT) while streams drain ends them at once as
/// the grace's end does: each stream gets its `gateway_shutdown` event,
/// and each request its access line and its ledger row, before the
/// process exits, a second or so later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_ends_the_streams_told_and_counted() {
    let slow = mock(clawgate_mock::MockOptions {
        chunk_delay_ms: 60_000,
        reasoning: String::new(),
        first_event: Some(
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi "}}]}"#.into(),
        ),
        ..clawgate_mock::MockOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &slow);
    let state = dir.path().join("state");
    let env = [
        ("CLAWGATE_STATE_DIR", state.as_os_str()),
        ("MOCK_KEY", KEY.as_ref()),
    ];
    let (mut child, url, log) = serve_process_logged(&config, &env).await;
    let client = reqwest::Client::new();
    let mut streams = Vec::new();
    for session in ["cut1", "cut2"] {
        let response = chat(&client, &url)
            .header("x-clawgate-session", session)
            .json(&json!({"messages": user_message(), "stream": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.bytes_stream();
        use futures_util::StreamExt;
        let first = body.next().await.unwrap().unwrap();
        assert!(first.starts_with(b"data: "));
        streams.push(tokio::spawn(async move {
            let mut rest = first.to_vec();
            while let Some(Ok(chunk)) = body.next().await {
                rest.extend_from_slice(&chunk);
            }
            String::from_utf8(rest).unwrap()
        }));
    }
    let pid = child.id().unwrap() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    log.wait_for(&["draining in-flight requests"], Duration::from_secs(10))
        .await;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let exit = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("the second signal ends the drain")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    for stream in streams {
        let text = stream.await.unwrap();
        let events = sse_data(&text);
        let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
        assert_eq!(last["error"]["code"], "gateway_shutdown", "{text}");
    }
    let access = log.lines(&["clawgate::access", "end=\"stream_broken\""]);
    assert_eq!(access.len(), 2, "{:?}", log.lines(&[]));
    let path = state.join("ledger.db");
    let conn = clawgate::ledger::store::open_read_only(&path).unwrap();
    let rows: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM requests WHERE session LIKE '%cut%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 2);
}
