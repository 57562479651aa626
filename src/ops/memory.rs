//! Giving memory back after a burst. The gateway allocates through
//! mimalloc (`src/main.rs`), which keeps freed pages of a thread's heap for
//! a while for reuse; glibc's allocator, which the bundled SQLite still
//! uses, keeps what it freed in its arenas, so the resident size would stay
//! near the burst's peak long after. When the gateway falls idle it asks
//! both to return that memory to the system. Elsewhere (musl, macOS) only
//! mimalloc is asked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// At most one release per this many milliseconds: light traffic falls
/// idle after every request.
const MIN_INTERVAL_MS: u64 = 1_000;

static LAST_RELEASE_MS: AtomicU64 = AtomicU64::new(0);

/// Called when the last request in flight has ended.
pub fn release_after_burst() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64);
    let last = LAST_RELEASE_MS.load(Ordering::Relaxed);
    if now.saturating_sub(last) < MIN_INTERVAL_MS {
        return;
    }
    if LAST_RELEASE_MS
        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
    {
        release();
    }
}

fn release() {
    // SAFETY: mi_collect frees only pages mimalloc itself holds and no longer
    // uses; it takes no pointer from us and is safe on any thread (when
    // mimalloc is not the global allocator, as in tests, it has nothing to
    // give back).
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists; it takes no
    // pointer from us and is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_given_back_at_most_once_a_second() {
        release_after_burst();
        let first = LAST_RELEASE_MS.load(Ordering::Relaxed);
        assert!(first > 0, "the first call releases");
        release_after_burst();
        assert_eq!(LAST_RELEASE_MS.load(Ordering::Relaxed), first);
    }
}
