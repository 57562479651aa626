//! Log output: journald when systemd connected stderr to the journal,
//! human-readable text otherwise, or JSON lines on request.
//!
//! What is logged never includes a secret: configs are logged only as paths
//! and counts, request headers are never logged, and upstream messages are
//! scrubbed where they are read.
//!
//! On stderr (text or JSON), access lines are written in batches
//! ([`Stderr`]): at most [`FLUSH_AFTER`] after they are logged, and at once
//! before any other line, so the order holds. Under load one write carries
//! many lines, where a write per request woke the log's reader every time.
//! The journal gets one entry per line, as before.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
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

/// A `--log-level` value: a level, or a tracing filter (`warn,clawgate=debug`,
/// `clawgate::chain`). A word that is no level where one belongs (`warning`,
/// `verbose`, `clawgate=verbose`) would turn every line off, or that
/// target's: it is refused, naming the levels.
pub fn filter(text: &str) -> Result<String, String> {
    let directives = text.split(',').filter(|d| !d.trim().is_empty());
    match directives.filter_map(not_a_level).next() {
        Some(word) => Err(format!(
            "{word:?} is not a log level: write error, warn, info, debug or trace, or a tracing filter whose every part names one (warn,clawgate=debug)"
        )),
        None => Ok(text.to_string()),
    }
}

/// The word of one filter directive that should be a level and is not. A
/// bare word is a target only when it is a path (`clawgate::chain`) or a
/// crate clawgate logs from (`clawgate`, `hyper`).
fn not_a_level(directive: &str) -> Option<&str> {
    const CRATES: &[&str] = &[
        "axum",
        "clawgate",
        "h2",
        "hyper",
        "hyper_util",
        "reqwest",
        "rustls",
        "tokio",
        "tokio_postgres",
        "tower",
        "tower_http",
    ];
    let level = |word: &str| word.parse::<tracing::level_filters::LevelFilter>().is_ok();
    let directive = directive.trim();
    match directive.rsplit_once('=') {
        // A span's field filter (`[span{f=v}]`) is tracing's to read.
        _ if directive.contains('[') => None,
        Some((_, after)) => (!level(after.trim())).then(|| after.trim()),
        None if level(directive) || directive.contains("::") => None,
        None => (!CRATES.contains(&directive)).then_some(directive),
    }
}

/// Installs the global subscriber. `level` is an `EnvFilter` directive
/// ([`filter`]); `RUST_LOG` overrides it, unless it holds a word that is
/// no level, which would turn every line off: then it is said so on
/// stderr and `level` is used.
pub fn init(format: LogFormat, level: &str) {
    let from_env = std::env::var(EnvFilter::DEFAULT_ENV).ok();
    let from_env = from_env.filter(|text| match filter(text) {
        Ok(_) => true,
        Err(why) => {
            // Lost, not a panic, if nothing reads stderr.
            let _ = writeln!(
                std::io::stderr(),
                "warning: RUST_LOG: {why}; logging at --log-level {level} instead"
            );
            false
        }
    });
    let filter = (from_env.as_deref())
        .and_then(|text| EnvFilter::try_new(text).ok())
        .unwrap_or_else(|| EnvFilter::new(level));
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
                            .with_writer(Stderr::shared()),
                    )
                    .init();
                tracing::warn!("journald is not reachable ({err}); logging to stderr");
            }
        },
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(Stderr::shared()),
            )
            .init(),
        LogFormat::Text | LogFormat::Auto => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(Stderr::shared()),
            )
            .init(),
    }
}

/// Writes the access lines still waiting; called before the process
/// exits.
pub fn flush() {
    if let Some(stderr) = STDERR.get() {
        stderr.flush();
    }
}

/// The target of the access lines ([`crate::http::access_log`]).
const ACCESS: &str = "clawgate::access";

/// An access line waits at most this long to be written.
const FLUSH_AFTER: Duration = Duration::from_millis(50);

/// Waiting lines are written at once past this many bytes.
const FLUSH_BYTES: usize = 64 * 1024;

static STDERR: OnceLock<Stderr> = OnceLock::new();

/// A log output that writes access lines (target [`ACCESS`], at info,
/// debug or trace) in batches and every other line at once, after the lines
/// waiting. A thread writes the waiting lines [`FLUSH_AFTER`] after the
/// first of them; while lines keep coming it wakes that often, and when
/// none came it sleeps until one does.
#[derive(Clone)]
struct Stderr(Arc<Shared>);

/// Where the lines go: stderr, or what a test watches.
type Sink = Box<dyn Fn(&[u8]) + Send + Sync>;

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    sink: Sink,
}

#[derive(Default)]
struct State {
    waiting: Vec<u8>,
    /// The writing thread sleeps until a line comes.
    idle: bool,
    /// There is no writing thread: every line is written at once.
    at_once: bool,
}

impl Stderr {
    /// The process's stderr, with its writing thread (started once).
    fn shared() -> Self {
        STDERR
            .get_or_init(|| {
                Stderr::new(|bytes| {
                    // Nothing to say about a log that cannot be written.
                    let _ = std::io::stderr().lock().write_all(bytes);
                })
            })
            .clone()
    }

    /// An output writing to `sink`, with its writing thread.
    fn new(sink: impl Fn(&[u8]) + Send + Sync + 'static) -> Self {
        let output = Self::without_thread(sink);
        let shared = &output.0;
        let writer = Arc::downgrade(shared);
        let started = std::thread::Builder::new()
            .name("clawgate-log".into())
            .spawn(move || write_waiting(&writer));
        if started.is_err() {
            shared.lock().at_once = true;
        }
        output
    }

    /// An output whose waiting lines are written only by a line that does
    /// not wait, by [`FLUSH_BYTES`] or by `flush` (tests watch it so).
    fn without_thread(sink: impl Fn(&[u8]) + Send + Sync + 'static) -> Self {
        Self(Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            sink: Box::new(sink),
        }))
    }

    fn flush(&self) {
        let mut state = self.0.lock();
        self.0.write_out(&mut state);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_out(&self, state: &mut State) {
        if !state.waiting.is_empty() {
            (self.sink)(&state.waiting);
            state.waiting.clear();
        }
    }
}

/// The writing thread: sleeps until a line waits, lets [`FLUSH_AFTER`]
/// pass, writes what waits; ends when the output is dropped.
fn write_waiting(output: &std::sync::Weak<Shared>) {
    loop {
        let Some(shared) = output.upgrade() else {
            return;
        };
        let mut state = shared.lock();
        while state.waiting.is_empty() {
            state.idle = true;
            state = shared
                .wake
                .wait_timeout(state, Duration::from_secs(60))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            if Arc::strong_count(&shared) == 1 {
                // Only this thread holds the output: nothing can log to it.
                return;
            }
        }
        state.idle = false;
        drop(state);
        drop(shared);
        std::thread::sleep(FLUSH_AFTER);
        let Some(shared) = output.upgrade() else {
            return;
        };
        let mut state = shared.lock();
        shared.write_out(&mut state);
    }
}

/// What one log line is written through.
enum LineWriter<'a> {
    Waits(&'a Shared),
    AtOnce(&'a Shared),
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self {
            LineWriter::Waits(shared) => {
                let mut state = shared.lock();
                state.waiting.extend_from_slice(bytes);
                if state.at_once {
                    shared.write_out(&mut state);
                } else if state.idle {
                    state.idle = false;
                    shared.wake.notify_one();
                }
                if state.waiting.len() >= FLUSH_BYTES {
                    shared.write_out(&mut state);
                }
            }
            LineWriter::AtOnce(shared) => {
                let mut state = shared.lock();
                shared.write_out(&mut state);
                (shared.sink)(bytes);
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter::AtOnce(&self.0)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        if meta.target() == ACCESS && *meta.level() >= Level::INFO {
            LineWriter::Waits(&self.0)
        } else {
            LineWriter::AtOnce(&self.0)
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_level_that_is_no_level_is_refused_not_read_as_a_module() {
        for good in [
            "info",
            "WARN",
            "trace",
            "off",
            "warn,clawgate=debug",
            "clawgate::cli=info",
            "clawgate",
            "warn,hyper",
            "clawgate::chain",
        ] {
            assert_eq!(filter(good).as_deref(), Ok(good), "{good}");
        }
        for bad in ["warning", "verbose", "info,verbose", "clawgate=verbose"] {
            let error = filter(bad).unwrap_err();
            assert!(error.contains("is not a log level"), "{bad}: {error}");
        }
    }

    /// What a sink was given, one entry per write.
    #[derive(Clone, Default)]
    struct Writes(Arc<Mutex<Vec<String>>>);

    impl Writes {
        fn sink(&self) -> impl Fn(&[u8]) + Send + Sync + 'static {
            let writes = self.clone();
            move |bytes| {
                let text = String::from_utf8_lossy(bytes).into_owned();
                writes.0.lock().unwrap().push(text);
            }
        }

        fn taken(&self) -> Vec<String> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    fn logged(output: &Stderr, log: impl FnOnce()) {
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_max_level(Level::DEBUG)
            .with_writer(output.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
    }

    #[test]
    fn access_lines_wait_and_are_written_together_before_any_other_line() {
        let writes = Writes::default();
        let output = Stderr::without_thread(writes.sink());
        logged(&output, || {
            tracing::info!(target: "clawgate::access", "POST /v1/chat/completions 200");
            tracing::info!(target: "clawgate::access", "POST /v1/messages 200");
        });
        assert_eq!(writes.taken(), Vec::<String>::new(), "they wait");
        logged(&output, || tracing::warn!("attempt failed"));
        let written = writes.taken();
        assert_eq!(written.len(), 2, "{written:?}");
        assert!(
            written[0].contains("POST /v1/chat/completions 200")
                && written[0].contains("POST /v1/messages 200"),
            "the waiting lines in one write: {written:?}"
        );
        assert!(written[1].contains("attempt failed"), "{written:?}");

        // A line of another target is written at once; a probe's access
        // line, at debug, waits like the others.
        logged(&output, || {
            tracing::debug!(target: "clawgate::access", "GET /healthz 200");
            tracing::info!("listening");
        });
        let written = writes.taken();
        assert_eq!(written.len(), 2, "{written:?}");
        assert!(written[0].contains("GET /healthz 200"), "{written:?}");

        // `flush` writes what waits; past FLUSH_BYTES it is written anyway.
        logged(&output, || {
            tracing::info!(target: "clawgate::access", "GET /v1/models 200");
        });
        output.flush();
        assert!(writes.taken()[0].contains("GET /v1/models 200"));
        let long = "x".repeat(1024);
        logged(&output, || {
            for _ in 0..(FLUSH_BYTES / 1024 + 1) {
                tracing::info!(target: "clawgate::access", "{long}");
            }
        });
        assert_eq!(writes.taken().len(), 1, "written once, past the bound");
    }

    /// The writing thread writes a waiting line by itself, within a bound.
    #[test]
    fn the_writing_thread_writes_what_waits() {
        let (sent, received) = std::sync::mpsc::channel();
        let sent = Mutex::new(sent);
        let output = Stderr::new(move |bytes| {
            let _ = sent
                .lock()
                .unwrap()
                .send(String::from_utf8_lossy(bytes).into_owned());
        });
        for round in 0..3 {
            logged(&output, || {
                tracing::info!(target: "clawgate::access", "POST /v1/responses 200 round={round}");
            });
            let line = received
                .recv_timeout(Duration::from_secs(10))
                .expect("written within the bound");
            assert!(line.contains(&format!("round={round}")), "{line}");
        }
    }
}
