//! Rows waiting for a shared store that cannot be reached, kept on disk
//! in the state directory so that a gateway killed during the outage
//! loses none of them: segments of at most [`SEGMENT_ROWS`] rows, one
//! JSON line a row, each fsynced as it is filled.
//!
//! A segment is sealed (no row added) before it is written, and written
//! to the store under its file name as the batch's id, so a segment
//! written again after a crash between the store's commit and the file's
//! removal is written once. Segments are written in the order of their
//! names: the time they were started, then this process's id and their
//! number. At most [`MAX_SEGMENTS`] are kept; rows past them are dropped,
//! counted, as rows past the queue's room are.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::{Row, Tokens};

/// Rows in one segment at most: one batch of the writer's.
pub const SEGMENT_ROWS: usize = 1024;
/// Segments kept at most: 64 Ki rows, about 30 MB.
pub const MAX_SEGMENTS: usize = 64;
const PREFIX: &str = "ledger-spool-";

/// The spool of one writer.
pub struct Spool {
    dir: PathBuf,
    /// This process's name among the segments.
    process: u64,
    numbered: u64,
    /// Sealed segments, oldest first, each with whether this process
    /// spooled its rows (a segment an earlier process left is not ours).
    sealed: VecDeque<(PathBuf, bool)>,
    /// The segment rows are added to, and how many it has.
    open: Option<(PathBuf, File, usize)>,
}

/// A row as a line of a segment.
#[derive(serde::Serialize, serde::Deserialize)]
struct Line {
    ts_ms: i64,
    request_id: Option<String>,
    front_end: String,
    model_asked: Option<String>,
    answered_by: Option<String>,
    attempts: Vec<String>,
    status: u16,
    end: String,
    first_byte_ms: u64,
    total_ms: u64,
    tokens: [Option<u64>; 4],
    cost_usd: Option<f64>,
    budget_estimate_usd: Option<f64>,
    agent: String,
    client: String,
}

impl Spool {
    /// The spool in `dir`, with the segments an earlier process left there
    /// (sealed: nothing adds to them any more).
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        super::store::create_private_dir(dir)?;
        let mut sealed: Vec<(PathBuf, bool)> = std::fs::read_dir(dir)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(".jsonl"))
            })
            .map(|path| (path, false))
            .collect();
        sealed.sort();
        Ok(Self {
            dir: dir.to_path_buf(),
            process: fastrand::u64(..),
            numbered: 0,
            sealed: sealed.into(),
            open: None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.sealed.is_empty() && self.open.is_none()
    }

    /// Adds `rows` at the end, each segment fsynced as it fills or ends;
    /// returns how many did not fit (or could not be written).
    pub fn append(&mut self, rows: &[Row], millis: i64) -> usize {
        let mut left = rows;
        while !left.is_empty() {
            if self.open.is_none() {
                if self.sealed.len() + 1 > MAX_SEGMENTS {
                    return left.len();
                }
                self.numbered += 1;
                let id = format!("{:016x}-s{:06}", self.process, self.numbered);
                let path = self.dir.join(format!("{PREFIX}{millis:013}-{id}.jsonl"));
                match create(&path) {
                    Ok(file) => self.open = Some((path, file, 0)),
                    Err(_) => return left.len(),
                }
            }
            let (_, file, count) = self.open.as_mut().expect("opened above");
            let room = (SEGMENT_ROWS - *count).min(left.len());
            if write_rows(file, &left[..room]).is_err() {
                return left.len();
            }
            *count += room;
            left = &left[room..];
            if *count == SEGMENT_ROWS {
                self.seal();
            }
        }
        0
    }

    /// Keeps `rows`, a batch the store was sent as `id` (its commit unheard
    /// of), as a sealed segment of that id, ahead of the open one, `ours`
    /// when this gateway recorded them; `false` when the spool is full or
    /// the file cannot be written.
    pub fn hold(&mut self, id: &str, rows: &[Row], ours: bool) -> bool {
        if self.sealed.len() + 1 > MAX_SEGMENTS {
            return false;
        }
        // Named before any segment this process opens next.
        let path = self.dir.join(format!("{PREFIX}{:013}-{id}.jsonl", 0));
        let written = create(&path).and_then(|mut file| write_rows(&mut file, rows));
        if written.is_err() {
            let _ = std::fs::remove_file(&path);
            return false;
        }
        self.sealed.push_back((path, ours));
        true
    }

    /// This writer's name in the ids of its segments.
    pub fn writer(&self) -> u64 {
        self.process
    }

    /// No more rows go in the open segment: it can be written.
    pub fn seal(&mut self) {
        if let Some((path, _, _)) = self.open.take() {
            self.sealed.push_back((path, true));
        }
    }

    /// The oldest sealed segment: its id (the file's name), its rows, and
    /// whether this process spooled them. A last line cut short (a crash
    /// mid-write) is left out.
    pub fn first(&self) -> Option<(String, Vec<Row>, bool)> {
        let (path, ours) = self.sealed.front()?;
        let name = path.file_name()?.to_string_lossy();
        // `ledger-spool-<millis>-<id>.jsonl`
        let id = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('-'))
            .map_or(&*name, |(_, id)| id)
            .trim_end_matches(".jsonl")
            .to_string();
        let rows = File::open(path)
            .map(|file| {
                BufReader::new(file)
                    .lines()
                    .map_while(Result::ok)
                    .filter_map(|line| serde_json::from_str::<Line>(&line).ok())
                    .map(row_of)
                    .collect()
            })
            .unwrap_or_default();
        Some((id, rows, *ours))
    }

    /// The oldest sealed segment is in the store (or given up): it goes.
    pub fn done_first(&mut self) {
        if let Some((path, _)) = self.sealed.pop_front() {
            let _ = std::fs::remove_file(path);
        }
    }

    /// The rows the spool holds, for the log: sealed segments counted full.
    pub fn rows(&self) -> usize {
        self.sealed.len() * SEGMENT_ROWS + self.open.as_ref().map_or(0, |(_, _, n)| *n)
    }
}

fn create(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create_new(true).append(true).open(path)
}

/// Appends `rows`, a line each, and syncs them to disk.
fn write_rows(file: &mut File, rows: &[Row]) -> std::io::Result<()> {
    let mut text = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut text, &line_of(row)).map_err(std::io::Error::other)?;
        text.push(b'\n');
    }
    file.write_all(&text)?;
    file.sync_data()
}

fn line_of(row: &Row) -> Line {
    Line {
        ts_ms: row.ts_ms,
        request_id: row.request_id.clone(),
        front_end: row.front_end.into(),
        model_asked: row.model_asked.clone(),
        answered_by: row.answered_by.clone(),
        attempts: row.attempts.clone(),
        status: row.status,
        end: row.end.into(),
        first_byte_ms: row.first_byte_ms,
        total_ms: row.total_ms,
        tokens: [
            row.tokens.input,
            row.tokens.cached,
            row.tokens.output,
            row.tokens.reasoning,
        ],
        cost_usd: row.cost_usd,
        budget_estimate_usd: row.budget_estimate_usd,
        agent: row.agent.into(),
        client: row.client.to_string(),
    }
}

fn row_of(line: Line) -> Row {
    let [input, cached, output, reasoning] = line.tokens;
    Row {
        ts_ms: line.ts_ms,
        request_id: line.request_id,
        front_end: interned(&line.front_end),
        model_asked: line.model_asked,
        answered_by: line.answered_by,
        attempts: line.attempts,
        status: line.status,
        end: interned(&line.end),
        first_byte_ms: line.first_byte_ms,
        total_ms: line.total_ms,
        tokens: Tokens {
            input,
            cached,
            output,
            reasoning,
        },
        cost_usd: line.cost_usd,
        budget_estimate_usd: line.budget_estimate_usd,
        agent: interned(&line.agent),
        client: Arc::from(line.client),
    }
}

/// The few names a row holds as `&'static str` (front end, end, agent
/// family), each made static once; past [`INTERNED`] names (a segment
/// that was not ours), `other`.
fn interned(name: &str) -> &'static str {
    const INTERNED: usize = 64;
    static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = names.iter().find(|n| **n == name) {
        return known;
    }
    if names.len() >= INTERNED {
        return "other";
    }
    let name: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.push(name);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: u64) -> Row {
        Row {
            ts_ms: i as i64,
            request_id: Some(format!("req_{i}")),
            front_end: "openai-chat",
            model_asked: Some("default".into()),
            answered_by: Some("p/m".into()),
            attempts: vec!["p/m:ok".into()],
            status: 200,
            end: "complete",
            first_byte_ms: 5,
            total_ms: 40,
            tokens: Tokens {
                input: Some(i),
                cached: None,
                output: Some(1),
                reasoning: None,
            },
            cost_usd: Some(0.5),
            budget_estimate_usd: None,
            agent: "codex",
            client: "alice".into(),
        }
    }

    #[test]
    fn rows_come_back_in_order_from_another_process_a_cut_line_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        let rows: Vec<Row> = (0..1500).map(row).collect();
        assert_eq!(spool.append(&rows[..1000], 1), 0);
        assert_eq!(spool.append(&rows[1000..], 2), 0);
        // Killed mid-line: the open segment ends in half a row.
        let (open, _, _) = spool.open.as_ref().unwrap();
        let mut file = OpenOptions::new().append(true).open(open).unwrap();
        file.write_all(br#"{"ts_ms":9,"req"#).unwrap();

        let mut again = Spool::open(dir.path()).unwrap();
        let (id, first, ours) = again.first().unwrap();
        assert!(id.ends_with("-s000001") && !ours, "{id}");
        assert_eq!(first, rows[..SEGMENT_ROWS]);
        again.done_first();
        let (_, second, _) = again.first().unwrap();
        assert_eq!(second, rows[SEGMENT_ROWS..]);
        again.done_first();
        assert!(again.is_empty());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_full_spool_says_how_many_rows_did_not_fit() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        let rows: Vec<Row> = (0..SEGMENT_ROWS as u64).map(row).collect();
        for _ in 0..MAX_SEGMENTS {
            assert_eq!(spool.append(&rows, 1), 0);
        }
        assert_eq!(spool.append(&rows[..10], 1), 10);
        assert_eq!(spool.rows(), SEGMENT_ROWS * MAX_SEGMENTS);
    }
}
