//! A gateway on port 0 with a ledger in a temporary directory, for the
//! tests that read what it recorded.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clawgate::config::{self, Environment, Secrets};
use clawgate::gateway::Gateway;
use clawgate::ledger::{self, Ledger};
use serde_json::Value;

use super::{TestGateway, serve};

pub struct Ledgered {
    pub test: TestGateway,
    pub ledger: Arc<Ledger>,
    _dir: tempfile::TempDir,
}

/// Serves `config` (its `${VAR}`s read from `env`) with a fresh ledger.
pub async fn start(config: Value, env: &[(&str, &str)]) -> Ledgered {
    let dir = tempfile::tempdir().unwrap();
    let env = Environment::from_pairs(env.iter().copied());
    let loaded = config::load_str(&config.to_string(), &env, Secrets::Required)
        .unwrap_or_else(|errors| panic!("test config is invalid:\n{errors}"))
        .config;
    let ledger = Arc::new(Ledger::open(
        &dir.path().join("ledger.db"),
        &loaded.ledger,
        ledger::system_clock(),
    ));
    let gateway = Gateway::new(loaded).unwrap().with_ledger(ledger.clone());
    Ledgered {
        test: serve(Arc::new(gateway)).await,
        ledger,
        _dir: dir,
    }
}

impl Ledgered {
    /// The ledger's SQLite file.
    pub fn path(&self) -> PathBuf {
        self.ledger.path().unwrap().to_path_buf()
    }

    /// Waits (at most 10 s) until `rows` rows are written: a row is
    /// recorded when the server drops the response body.
    pub async fn rows(&self, rows: usize) {
        for _ in 0..200 {
            let ledger = self.ledger.clone();
            tokio::task::spawn_blocking(move || ledger.flush(Duration::from_secs(5)))
                .await
                .unwrap();
            let conn = clawgate::ledger::store::open_read_only(&self.path()).unwrap();
            let written: i64 = conn
                .query_row("SELECT count(*) FROM requests", [], |r| r.get(0))
                .unwrap();
            if written as usize >= rows {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("fewer than {rows} rows");
    }
}
