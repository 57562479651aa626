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
//!
//! A write that fails part way (a full disk) is cut back to the last whole
//! line, so the rows after it start on a line of their own; a line that
//! cannot be read back (cut short by a crash) costs that row alone. A
//! segment that cannot be read at all is set aside, left on disk.
//!
//! Beside the segments, the spend the budgets last counted
//! ([`Spool::keep_spend`]): a gateway started while the store cannot be
//! reached counts from it, not from nothing.
//!
//! One process spools in a directory at a time ([`LOCK`]): a second
//! gateway given the same state directory would write and delete the
//! first one's open segment under it.

use std::borrow::Borrow;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::storage::DaySpend;
use super::{Row, Tokens};

/// Rows in one segment at most: one batch of the writer's.
pub const SEGMENT_ROWS: usize = 1024;
/// Segments kept at most: 64 Ki rows, about 30 MB.
pub const MAX_SEGMENTS: usize = 64;
const PREFIX: &str = "ledger-spool-";
/// The file whose write lock a spooling process holds.
const LOCK: &str = "ledger-spool.lock";
/// The spend last counted, in the spool's directory.
const SPEND: &str = "ledger-spend.json";

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
    /// Segments that could not be read, left on disk.
    set_aside: usize,
    /// Held while the spool is: the directory is this process's.
    _lock: File,
}

/// The file at `path`, its write lock taken for this process: a POSIX
/// record lock, which another process is refused while this one lives
/// and holds it (and this one may take again).
fn lock_for_this_process(path: &Path) -> std::io::Result<File> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    // SAFETY: an all-zero `flock` is a valid value of the plain C struct.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as _;
    lock.l_whence = libc::SEEK_SET as _;
    // SAFETY: the descriptor is open, and `lock` outlives the call.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock) } == -1 {
        let err = std::io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::EACCES | libc::EAGAIN) => std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "another clawgate process spools in this state directory; give each instance its own (CLAWGATE_STATE_DIR)",
            ),
            _ => err,
        });
    }
    Ok(file)
}

/// The oldest sealed segment, as read back.
#[derive(Debug)]
pub struct Segment {
    /// The file's name: the batch's id in the store.
    pub id: String,
    pub rows: Vec<Row>,
    /// Whether this process spooled the rows.
    pub ours: bool,
    /// Lines that could not be read (a last line cut short by a crash or
    /// a full disk): their rows are lost.
    pub torn: usize,
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
    /// Absent from the lines of a clawgate from before sessions.
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    tokens_written: Option<u64>,
    #[serde(default)]
    uncached_cost_usd: Option<f64>,
}

impl Spool {
    /// The spool in `dir`, with the segments an earlier process left there
    /// (sealed: nothing adds to them any more).
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        super::store::create_private_dir(dir)?;
        let lock = lock_for_this_process(&dir.join(LOCK))?;
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
        // Segments written before they were made their owner's alone.
        for (path, _) in &sealed {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            process: fastrand::u64(..),
            numbered: 0,
            sealed: sealed.into(),
            open: None,
            set_aside: 0,
            _lock: lock,
        })
    }

    /// Keeps `spend`, what the budgets count now, as the spend last
    /// known: written whole (readable by its owner alone, on disk before
    /// it counts) beside the one before, under this process's name, then
    /// moved over it.
    pub fn keep_spend(&self, spend: &[DaySpend]) -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let kept = self.dir.join(SPEND);
        let written = self.dir.join(format!("{SPEND}.{:016x}", self.process));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&written)?;
        file.write_all(&serde_json::to_vec(spend)?)?;
        file.sync_data()?;
        std::fs::rename(written, kept)
    }

    /// The spend [`Self::keep_spend`] kept last, when there is one that
    /// reads.
    pub fn kept_spend(&self) -> Option<Vec<DaySpend>> {
        let text = std::fs::read(self.dir.join(SPEND)).ok()?;
        serde_json::from_slice(&text).ok()
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
    /// the file cannot be written. A segment of that id already on disk
    /// (kept before a restart) holds those rows already.
    pub fn hold(&mut self, id: &str, rows: &[Row], ours: bool) -> bool {
        if self.sealed.len() + 1 > MAX_SEGMENTS {
            return false;
        }
        // Named before any segment this process opens next.
        let path = self.dir.join(format!("{PREFIX}{:013}-{id}.jsonl", 0));
        match create(&path) {
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                if self.sealed.iter().any(|(held, _)| *held == path) {
                    return true;
                }
            }
            Err(_) => return false,
            Ok(mut file) => {
                if write_rows(&mut file, rows).is_err() {
                    let _ = std::fs::remove_file(&path);
                    return false;
                }
            }
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

    /// The oldest sealed segment, a line that cannot be read left out and
    /// counted; an error (naming the file) when it cannot be read at all.
    pub fn first(&self) -> Option<std::io::Result<Segment>> {
        let (path, ours) = self.sealed.front()?;
        let name = path.file_name()?.to_string_lossy();
        // `ledger-spool-<millis>-<id>.jsonl`
        let id = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('-'))
            .map_or(&*name, |(_, id)| id)
            .trim_end_matches(".jsonl")
            .to_string();
        let read = read_rows(path).map(|(rows, torn)| Segment {
            id,
            rows,
            ours: *ours,
            torn,
        });
        Some(
            read.map_err(|err| {
                std::io::Error::new(err.kind(), format!("{}: {err}", path.display()))
            }),
        )
    }

    /// The oldest sealed segment cannot be read: it is left on disk, and
    /// the next is first.
    pub fn set_aside_first(&mut self) {
        if self.sealed.pop_front().is_some() {
            self.set_aside += 1;
        }
    }

    /// The segments this spool could not read and left on disk.
    pub fn set_aside(&self) -> usize {
        self.set_aside
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

/// A new segment, readable by its owner only, as the spend kept beside it
/// (rows name clients, sessions and models).
fn create(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    (OpenOptions::new().create_new(true).append(true))
        .mode(0o600)
        .open(path)
}

/// Appends `rows` to `file` (a segment opened to append), a line each,
/// and syncs them to disk. A write that fails part way is cut back to
/// where it started, the end of the last whole line.
fn write_rows<F: Write + Borrow<File>>(file: &mut F, rows: &[Row]) -> std::io::Result<()> {
    let mut text = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut text, &line_of(row)).map_err(std::io::Error::other)?;
        text.push(b'\n');
    }
    let start = Borrow::<File>::borrow(file).metadata()?.len();
    let written = file
        .write_all(&text)
        .and_then(|()| Borrow::<File>::borrow(file).sync_data());
    if written.is_err() {
        // Whatever this leaves is counted lost by the caller; a torn line
        // left would also take the next row with it.
        let _ = Borrow::<File>::borrow(file).set_len(start);
    }
    written
}

/// The rows of the segment at `path`, and how many of its lines could not
/// be read as a row (each costing that row alone).
fn read_rows(path: &Path) -> std::io::Result<(Vec<Row>, usize)> {
    let mut rows = Vec::new();
    let mut torn = 0;
    for line in BufReader::new(File::open(path)?).split(b'\n') {
        let line = line?;
        match serde_json::from_slice::<Line>(&line) {
            Ok(line) => rows.push(row_of(line)),
            Err(_) if line.is_empty() => {}
            Err(_) => torn += 1,
        }
    }
    Ok((rows, torn))
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
        session: row.session.as_deref().map(str::to_string),
        tokens_written: row.tokens.written,
        uncached_cost_usd: row.uncached_cost_usd,
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
            written: line.tokens_written,
            output,
            reasoning,
        },
        cost_usd: line.cost_usd,
        uncached_cost_usd: line.uncached_cost_usd,
        budget_estimate_usd: line.budget_estimate_usd,
        agent: interned(&line.agent),
        client: Arc::from(line.client),
        session: line.session.map(Arc::from),
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
                written: Some(i / 2),
                output: Some(1),
                reasoning: None,
            },
            cost_usd: Some(0.5),
            uncached_cost_usd: Some(1.5),
            budget_estimate_usd: None,
            agent: "codex",
            client: "alice".into(),
            session: i
                .is_multiple_of(2)
                .then(|| format!("conversation-{i}").into()),
        }
    }

    /// A segment an older clawgate left, its lines without sessions or
    /// cache writes, is still read.
    #[test]
    fn a_line_from_before_sessions_is_read() {
        let mut line = serde_json::to_value(line_of(&row(4))).unwrap();
        for field in ["session", "tokens_written", "uncached_cost_usd"] {
            line.as_object_mut().unwrap().remove(field);
        }
        let read = row_of(serde_json::from_value(line).unwrap());
        assert_eq!(
            read,
            Row {
                session: None,
                uncached_cost_usd: None,
                tokens: Tokens {
                    written: None,
                    ..row(4).tokens
                },
                ..row(4)
            }
        );
    }

    #[test]
    fn rows_come_back_in_order_from_another_process_a_cut_line_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        let rows: Vec<Row> = (0..1500).map(row).collect();
        assert_eq!(spool.append(&rows[..1000], 1), 0);
        assert_eq!(spool.append(&rows[1000..], 2), 0);
        // Each segment is its owner's alone.
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let mode = entry.unwrap().metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Killed mid-line: the open segment ends in half a row.
        let (open, _, _) = spool.open.as_ref().unwrap();
        let mut file = OpenOptions::new().append(true).open(open).unwrap();
        file.write_all(br#"{"ts_ms":9,"req"#).unwrap();
        // One from before segments were their owner's alone is made so.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(open, std::fs::Permissions::from_mode(0o644)).unwrap();

        let mut again = Spool::open(dir.path()).unwrap();
        let mode = std::fs::metadata(open).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let first = again.first().unwrap().unwrap();
        assert!(first.id.ends_with("-s000001") && !first.ours, "{first:?}");
        assert_eq!((first.rows, first.torn), (rows[..SEGMENT_ROWS].to_vec(), 0));
        again.done_first();
        let second = again.first().unwrap().unwrap();
        assert_eq!(
            (second.rows, second.torn),
            (rows[SEGMENT_ROWS..].to_vec(), 1)
        );
        again.done_first();
        assert!(again.is_empty());
        let left = std::fs::read_dir(dir.path()).unwrap();
        let left: Vec<_> = left.map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, [LOCK], "the segments are gone");
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

    /// A file that takes `room` more bytes, then fails as a full disk does.
    struct Full {
        file: File,
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if self.room == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
            }
            let n = bytes.len().min(self.room);
            self.room -= n;
            self.file.write(&bytes[..n])
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.file.flush()
        }
    }

    impl Borrow<File> for Full {
        fn borrow(&self) -> &File {
            &self.file
        }
    }

    /// A segment in a directory of its own, `n` rows and the file with
    /// the first two of them written, open to write more.
    fn first_two_of(n: u64) -> (tempfile::TempDir, PathBuf, Vec<Row>, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("segment.jsonl");
        let rows: Vec<Row> = (0..n).map(row).collect();
        let mut file = create(&path).unwrap();
        write_rows(&mut file, &rows[..2]).unwrap();
        (dir, path, rows, file)
    }

    #[test]
    fn a_write_cut_short_by_a_full_disk_leaves_only_whole_lines() {
        let (_dir, path, rows, file) = first_two_of(6);
        let whole = std::fs::metadata(&path).unwrap().len();
        let mut full = Full { file, room: 70 };
        assert!(write_rows(&mut full, &rows[2..4]).is_err());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole, "cut back");
        // Room again: the next rows start on a line of their own.
        full.room = usize::MAX;
        write_rows(&mut full, &rows[4..]).unwrap();
        let (read, torn) = read_rows(&path).unwrap();
        assert_eq!(torn, 0);
        assert_eq!(read, [&rows[..2], &rows[4..]].concat());
    }

    #[test]
    fn a_torn_line_costs_its_row_alone_and_is_counted() {
        let (_dir, path, rows, mut file) = first_two_of(4);
        // A line cut inside a character, then whole lines after it.
        file.write_all(b"{\"ts_ms\":9,\"request_id\":\"\xe2\x82\n")
            .unwrap();
        write_rows(&mut file, &rows[2..]).unwrap();
        assert_eq!(read_rows(&path).unwrap(), (rows.clone(), 1));
        // And one cut short at the end.
        file.write_all(br#"{"ts_ms":9,"req"#).unwrap();
        assert_eq!(read_rows(&path).unwrap(), (rows, 2));
    }

    #[test]
    fn a_segment_that_cannot_be_read_is_left_on_disk_and_the_next_one_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        let rows: Vec<Row> = (0..3).map(row).collect();
        assert_eq!(spool.append(&rows, 2), 0);
        spool.seal();
        // A directory where the oldest segment would be, and a segment
        // no one may read.
        let directory = dir
            .path()
            .join(format!("{PREFIX}0000000000000-a-s000001.jsonl"));
        std::fs::create_dir(&directory).unwrap();
        let locked = dir
            .path()
            .join(format!("{PREFIX}0000000000001-b-s000001.jsonl"));
        std::fs::write(&locked, "{}\n").unwrap();
        std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000))
            .unwrap();
        // Who may read it anyway (root) reads a line that is no row.
        let readable = File::open(&locked).is_ok();

        let mut again = Spool::open(dir.path()).unwrap();
        let err = again.first().unwrap().unwrap_err();
        assert!(err.to_string().contains("0000000000000-a-s000001"), "{err}");
        again.set_aside_first();
        if readable {
            assert_eq!(again.first().unwrap().unwrap().torn, 1);
            again.done_first();
        } else {
            assert!(again.first().unwrap().is_err());
            again.set_aside_first();
            assert!(locked.exists());
        }
        assert_eq!(again.first().unwrap().unwrap().rows, rows);
        again.done_first();
        assert!(again.is_empty());
        assert!(directory.is_dir(), "left on disk");
        assert_eq!(again.set_aside(), if readable { 1 } else { 2 });
    }
}
