//! `clawgate status`: asks the running gateway (at the configured address,
//! with the configured token) for `GET /v1/status` and prints every
//! target's health as a table, or the JSON as it came.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use secrecy::ExposeSecret;
use serde_json::Value;

use super::{CliError, SourceArgs, print_json};
use crate::config::Secrets;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Print the gateway's JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// The gateway's base URL, when it does not listen where the config
    /// says (`serve --port`/`--bind`); the token still comes from the config.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
}

/// How long the running gateway has to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

pub async fn status(args: &StatusArgs) -> Result<ExitCode, CliError> {
    // Only the gateway token is needed, not the providers' keys (those are
    // in the service's environment file, not in this shell).
    let (_, loaded) = args.source.load(Secrets::Offline)?;
    let gateway = &loaded.config.gateway;
    let host = match gateway.bind {
        IpAddr::V4(bind) if bind.is_unspecified() => "127.0.0.1".to_string(),
        IpAddr::V6(bind) if bind.is_unspecified() => "[::1]".to_string(),
        IpAddr::V6(bind) => format!("[{bind}]"),
        IpAddr::V4(bind) => bind.to_string(),
    };
    let base = match &args.url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => format!("http://{host}:{}", gateway.port),
    };
    let url = format!("{base}/v1/status");
    let unreachable = |err: reqwest::Error| {
        CliError::Other(format!(
            "the gateway at {url} did not answer ({err}); is `clawgate serve` running?"
        ))
    };
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(unreachable)?;
    let mut request = client.get(&url);
    if let Some(token) = &gateway.auth_token {
        request = request.bearer_auth(token.expose_secret());
    }
    let response = request.send().await.map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(CliError::Other(format!(
            "the gateway at {url} answered {}",
            response.status()
        )));
    }
    let body: Value = response.json().await.map_err(unreachable)?;
    if args.json {
        print_json(&body);
    } else {
        print!("{}", table(&body));
    }
    Ok(ExitCode::SUCCESS)
}

/// The status as aligned columns, one target a row.
fn table(body: &Value) -> String {
    let header = [
        "TARGET",
        "CHAIN",
        "STATE",
        "COOLDOWN",
        "FAILURES",
        "LAST SUCCESS",
    ];
    let mut rows = vec![header.map(str::to_string).to_vec()];
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
        rows.push(vec![
            text("ref"),
            target["chainPosition"]
                .as_u64()
                .map_or("-".to_string(), |p| p.to_string()),
            text("state"),
            target["cooldownRemainingSeconds"]
                .as_f64()
                .map_or("-".to_string(), |s| format!("{}s", s.ceil())),
            failures,
            text("lastSuccess"),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
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
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::table;

    #[test]
    fn the_table_has_a_row_per_target_in_aligned_columns() {
        let body = json!({"targets": [
            {"ref": "kimi/k2", "chainPosition": 1, "state": "cooling_down",
             "cooldownRemainingSeconds": 29.2, "failures": {"timeout": 2}},
            {"ref": "openrouter/a-long-model", "state": "healthy", "failures": {},
             "lastSuccess": "Mon, 23 Nov 2026 10:00:00 GMT"},
        ]});
        assert_eq!(
            table(&body),
            "TARGET                   CHAIN  STATE         COOLDOWN  FAILURES   LAST SUCCESS\n\
             kimi/k2                  1      cooling_down  30s       timeout=2  -\n\
             openrouter/a-long-model  -      healthy       -         -          Mon, 23 Nov 2026 10:00:00 GMT\n"
        );
    }
}
