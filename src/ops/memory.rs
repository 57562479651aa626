//! Giving memory back after a burst. glibc's allocator keeps what a burst
//! of large requests freed in its arenas for reuse, so the resident size
//! stays at the burst's peak long after; when the gateway falls idle it
//! asks the allocator to return that memory to the system. Elsewhere (musl,
//! macOS) nothing is needed or done.

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

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release() {
    // SAFETY: malloc_trim only walks the allocator's own free lists; it
    // takes no pointer from us and is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release() {}

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
