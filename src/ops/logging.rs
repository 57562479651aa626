//! Log output: journald when systemd connected stderr to the journal,
//! human-readable text otherwise, or JSON lines on request.
//!
//! What is logged never includes a secret: configs are logged only as paths
//! and counts, request headers are never logged, and upstream messages are
//! scrubbed where they are read.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// journald when stderr is the journal, text otherwise.
    Auto,
    Text,
    Json,
    Journald,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "auto" => Ok(LogFormat::Auto),
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            "journald" => Ok(LogFormat::Journald),
            other => Err(format!(
                "expected one of auto, text, json, journald; found {other:?}"
            )),
        }
    }
}

/// Installs the global subscriber. `level` is an `EnvFilter` directive;
/// `RUST_LOG` overrides it.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let format = match format {
        LogFormat::Auto if stderr_is_journal() => LogFormat::Journald,
        LogFormat::Auto => LogFormat::Text,
        other => other,
    };
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Journald => match tracing_journald::layer() {
            Ok(journald) => registry
                .with(journald.with_syslog_identifier("clawgate".into()))
                .init(),
            Err(err) => {
                registry
                    .with(
                        tracing_subscriber::fmt::layer()
                            .with_ansi(std::io::stderr().is_terminal())
                            .with_writer(std::io::stderr),
                    )
                    .init();
                tracing::warn!("journald is not reachable ({err}); logging to stderr");
            }
        },
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .init(),
        LogFormat::Text | LogFormat::Auto => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}

/// systemd sets `JOURNAL_STREAM=<dev>:<inode>` for the stream it connected;
/// stderr is the journal only if it is still that stream.
fn stderr_is_journal() -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let Ok(expected) = std::env::var("JOURNAL_STREAM") else {
            return false;
        };
        let Ok(stderr) = std::fs::metadata("/proc/self/fd/2") else {
            return false;
        };
        expected == format!("{}:{}", stderr.dev(), stderr.ino())
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}
