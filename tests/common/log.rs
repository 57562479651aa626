//! The gateway's log, captured as JSON lines for one test thread (a
//! current-thread runtime: the subscriber is the thread's default).

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// The JSON log lines written while the guard lives.
#[derive(Clone, Default)]
pub struct Captured(Arc<(Mutex<Vec<u8>>, tokio::sync::Notify)>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.0.lock().unwrap().extend_from_slice(bytes);
        self.0.1.notify_one();
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Keeps every log callsite live for a capture on one thread. `tracing`
/// caches each callsite's interest for the whole process, worked out on
/// the thread that first reaches it: a sibling test's thread with no
/// subscriber would cache "never", and a capture would then see nothing.
/// A global subscriber that takes every event (and writes none) keeps
/// them live; a thread's own default still gets its events.
pub fn keep_callsites_live() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Another global default, set first, keeps them live too.
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
    });
}

impl Captured {
    pub fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        keep_callsites_live();
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    /// The lines logged so far.
    pub fn lines(&self) -> Vec<Value> {
        let bytes = self.0.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .collect()
    }

    /// The access lines (target `clawgate::access`) logged so far.
    pub fn access_lines(&self) -> Vec<Value> {
        let mut lines = self.lines();
        lines.retain(|line| line["target"] == "clawgate::access");
        lines
    }

    /// Waits (at most 10 s) until `count` access lines were written: a line
    /// is written when the server drops the response body, which may come
    /// just after the client has read it.
    pub async fn wait_for(&self, count: usize) -> Vec<Value> {
        let waited = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                let lines = self.access_lines();
                if lines.len() >= count {
                    return lines;
                }
                self.0.1.notified().await;
            }
        });
        match waited.await {
            Ok(lines) => lines,
            Err(_) => panic!(
                "expected {count} access lines, got:\n{}",
                String::from_utf8_lossy(&self.0.0.lock().unwrap())
            ),
        }
    }
}
