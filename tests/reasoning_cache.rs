//! The reasoning cache under load: many concurrent sessions of several
//! gateway tokens, each finding only its own turns and the bounds holding
//! throughout; and what an entry really costs in memory, measured with a
//! counting allocator against the cache's own accounting (the figure
//! docs/providers.md quotes).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clawgate::reasoning_cache::{Call, ENTRY_OVERHEAD_BYTES, Key, Limits, ReasoningCache, Scope};

struct Counting;

thread_local! {
    /// Bytes allocated by this thread and not freed: each test runs on its
    /// own thread, so the sessions' threads do not count in another test.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn counted(bytes: isize) {
    let _ = LIVE.try_with(|live| live.set(live.get() + bytes));
}

fn live() -> isize {
    LIVE.with(Cell::get)
}

// SAFETY: every call is passed to the system allocator unchanged; counting
// touches only a const-initialised thread-local without a destructor.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        counted(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn scope(token: usize) -> Scope {
    Scope::of_seed(format!("token-{token}").as_bytes())
}

/// Session `session`'s turn `turn`: Kimi-style ids that repeat across
/// sessions, told apart by their arguments.
fn key(scope: Scope, session: usize, turn: usize) -> Key {
    let arguments = format!(r#"{{"path":"s{session}/t{turn}.txt"}}"#);
    Key::new(
        scope,
        &[Call {
            id: "functions.read:0",
            name: "read",
            arguments: &arguments,
        }],
    )
}

fn reasoning(session: usize, turn: usize) -> String {
    format!("session {session} turn {turn}: {}", "why ".repeat(100))
}

#[test]
fn many_concurrent_sessions_each_get_only_their_own_reasoning_within_the_bounds() {
    let limits = Limits {
        max_entries: 2_000,
        max_bytes: 600 * 1024,
        max_age: Duration::from_secs(3600),
    };
    let cache = Arc::new(ReasoningCache::new(limits));
    let (sessions, turns, tokens) = (64, 200, 4);
    let threads: Vec<_> = (0..sessions)
        .map(|session| {
            let cache = cache.clone();
            std::thread::spawn(move || {
                let own = scope(session % tokens);
                let other = scope((session + 1) % tokens);
                let (mut found, mut evicted) = (0, 0);
                for turn in 0..turns {
                    let now = Instant::now();
                    cache.insert(key(own, session, turn), &reasoning(session, turn), now);
                    // The client replays the turn a little later.
                    let back = turn.saturating_sub(3);
                    match cache.get(&key(own, session, back), now) {
                        Some(text) => {
                            assert_eq!(*text, reasoning(session, back));
                            found += 1;
                        }
                        None => evicted += 1,
                    }
                    // Another token never sees it, even with the same calls.
                    assert_eq!(cache.get(&key(other, session, turn), now), None);
                    let (entries, bytes) = cache.usage();
                    assert!(entries <= limits.max_entries && bytes <= limits.max_bytes);
                }
                (found, evicted)
            })
        })
        .collect();
    let (mut found, mut evicted) = (0, 0);
    for thread in threads {
        let (f, e) = thread.join().expect("no session panicked");
        found += f;
        evicted += e;
    }
    let (entries, bytes) = cache.usage();
    assert!(entries <= limits.max_entries && bytes <= limits.max_bytes);
    // The byte bound holds about 1,000 of these entries: most recent turns
    // are still found.
    assert!(
        found > evicted,
        "found {found}, evicted {evicted} of {}",
        sessions * turns
    );
}

#[test]
fn an_entry_costs_what_the_cache_counts_it_for() {
    let entries = 20_000;
    let text = "x".repeat(2_000);
    let cache = ReasoningCache::new(Limits {
        max_entries: entries,
        max_bytes: 1 << 30,
        max_age: Duration::from_secs(3600),
    });
    let keys: Vec<Key> = (0..entries).map(|n| key(scope(0), n, n)).collect();
    let now = Instant::now();
    let before = live();
    for key in &keys {
        cache.insert(*key, &text, now);
    }
    let after = live();
    let per_entry = (after - before) as f64 / entries as f64;
    let overhead = per_entry - text.len() as f64;
    let (_, counted) = cache.usage();
    eprintln!(
        "reasoning cache: {entries} entries of {} bytes: {per_entry:.0} bytes each on the heap \
         ({overhead:.0} besides the text; counted as {ENTRY_OVERHEAD_BYTES}), {} MB in all, {} MB counted",
        text.len(),
        (after - before) / 1_000_000,
        counted / 1_000_000
    );
    // The accounting is honest to within a small factor of the overhead:
    // the table and queue grow by doubling, so their slack varies.
    assert!(
        overhead <= 3.0 * ENTRY_OVERHEAD_BYTES as f64,
        "{overhead} bytes of overhead"
    );
    assert!(overhead >= ENTRY_OVERHEAD_BYTES as f64 / 3.0, "{overhead}");
}
