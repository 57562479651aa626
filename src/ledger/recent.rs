//! The last hour in memory: requests, fallbacks and failures per minute,
//! and the latencies behind p50 and p99. Bounded: at most
//! [`MAX_SAMPLES`] requests are kept; past that, the hour's figures are
//! those of its last [`MAX_SAMPLES`] requests, and say so (`floor`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::Row;

const WINDOW: Duration = Duration::from_secs(3600);
pub const MAX_SAMPLES: usize = 20_000;

#[derive(Debug, Default)]
pub struct Recent {
    /// `(when, total ms, fallback, failed)`, oldest first.
    samples: VecDeque<(Instant, u64, bool, bool)>,
    /// When the newest sample let go for room was taken.
    let_go: Option<Instant>,
}

/// The last hour's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub requests_last_hour: u64,
    pub fallbacks_last_hour: u64,
    pub failures_last_hour: u64,
    pub requests_per_minute: f64,
    pub fallbacks_per_minute: f64,
    pub p50_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    /// The counts are at least these: more requests came in the hour than
    /// are kept.
    pub floor: bool,
}

impl Recent {
    pub fn add(&mut self, row: &Row) {
        self.add_at(
            Instant::now(),
            row.total_ms,
            row.fallback(),
            !row.succeeded(),
        );
    }

    fn add_at(&mut self, at: Instant, total_ms: u64, fallback: bool, failed: bool) {
        if self.samples.len() >= MAX_SAMPLES
            && let Some((taken, ..)) = self.samples.pop_front()
        {
            self.let_go = Some(taken);
        }
        self.samples.push_back((at, total_ms, fallback, failed));
    }

    pub fn stats(&mut self, now: Instant) -> Stats {
        while let Some((at, ..)) = self.samples.front() {
            if now.saturating_duration_since(*at) > WINDOW {
                self.samples.pop_front();
            } else {
                break;
            }
        }
        let requests = self.samples.len() as u64;
        let fallbacks = self.samples.iter().filter(|s| s.2).count() as u64;
        let failures = self.samples.iter().filter(|s| s.3).count() as u64;
        let mut latencies: Vec<u64> = self.samples.iter().map(|s| s.1).collect();
        latencies.sort_unstable();
        let quantile = |q: f64| -> Option<u64> {
            if latencies.is_empty() {
                return None;
            }
            let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
            Some(latencies[rank - 1])
        };
        Stats {
            requests_last_hour: requests,
            fallbacks_last_hour: fallbacks,
            failures_last_hour: failures,
            requests_per_minute: requests as f64 / 60.0,
            fallbacks_per_minute: fallbacks as f64 / 60.0,
            p50_ms: quantile(0.5),
            p99_ms: quantile(0.99),
            floor: self
                .let_go
                .is_some_and(|taken| now.saturating_duration_since(taken) <= WINDOW),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_forgets_the_hour_before_and_quantiles_are_nearest_rank() {
        let mut recent = Recent::default();
        let start = Instant::now();
        recent.add_at(start, 99_999, true, true);
        let later = start + WINDOW + Duration::from_secs(1);
        for ms in 1..=100 {
            recent.add_at(later, ms, ms == 7, false);
        }
        let stats = recent.stats(later);
        assert_eq!(
            (
                stats.requests_last_hour,
                stats.fallbacks_last_hour,
                stats.failures_last_hour
            ),
            (100, 1, 0)
        );
        assert_eq!((stats.p50_ms, stats.p99_ms), (Some(50), Some(99)));
        assert_eq!(Recent::default().stats(later).p50_ms, None);
        assert!(!stats.floor);
    }

    #[test]
    fn more_requests_than_are_kept_are_marked_as_a_floor() {
        let mut recent = Recent::default();
        let start = Instant::now();
        for _ in 0..=MAX_SAMPLES {
            recent.add_at(start, 1, false, false);
        }
        let stats = recent.stats(start);
        assert_eq!(stats.requests_last_hour, MAX_SAMPLES as u64);
        assert!(stats.floor);
        // An hour on, the one let go is out of the window anyway.
        let later = start + WINDOW;
        recent.add_at(later, 1, false, false);
        assert!(!recent.stats(later + Duration::from_secs(1)).floor);
    }
}
