//! Lines the log says at most once a period each, however often their
//! cause recurs (a field dropped on every request to a target): owned by
//! the gateway, so each gateway, and each test, has its own.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Lines said at most once per [`Throttle::EVERY`] each: when each was
/// last said, for at most [`Throttle::KEPT`] lines (a line not said within
/// the period is forgotten first, then the one said longest ago).
#[derive(Default)]
pub struct Throttle(Mutex<HashMap<String, Instant>>);

impl Throttle {
    const EVERY: Duration = Duration::from_secs(60);
    const KEPT: usize = 256;

    /// Whether `line` is to be said `now`; if so, it is noted as said.
    pub fn due(&self, line: String, now: Instant) -> bool {
        let mut said = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let recent = |at: &Instant| now.saturating_duration_since(*at) < Self::EVERY;
        if said.get(&line).is_some_and(recent) {
            return false;
        }
        if said.len() >= Self::KEPT && !said.contains_key(&line) {
            said.retain(|_, at| recent(at));
            if said.len() >= Self::KEPT {
                let oldest = said
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(l, _)| l.clone());
                if let Some(oldest) = oldest {
                    said.remove(&oldest);
                }
            }
        }
        said.insert(line, now);
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_line_is_said_again_after_a_minute_not_before() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        let line = || "p/m: top_k".to_string();
        assert!(throttle.due(line(), t0));
        assert!(!throttle.due(line(), t0 + Duration::from_secs(1)));
        assert!(!throttle.due(line(), t0 + Duration::from_secs(59)));
        // Another target or set of fields is its own line.
        assert!(throttle.due("p/m: top_k, seed".into(), t0 + Duration::from_secs(1)));
        assert!(throttle.due("q/m: top_k".into(), t0 + Duration::from_secs(1)));
        assert!(throttle.due(line(), t0 + Throttle::EVERY));
        assert!(!throttle.due(line(), t0 + Throttle::EVERY + Duration::from_secs(30)));
        assert!(throttle.due(line(), t0 + 2 * Throttle::EVERY + Duration::from_secs(1)));
    }

    #[test]
    fn the_lines_remembered_are_bounded() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        for n in 0..3 * Throttle::KEPT {
            let at = t0 + Duration::from_millis(n as u64);
            assert!(throttle.due(format!("p/m{n}: top_k"), at));
            assert!(throttle.len() <= Throttle::KEPT);
        }
        // The most recent lines are still remembered, the oldest forgotten.
        let late = t0 + Duration::from_millis(3 * Throttle::KEPT as u64);
        assert!(!throttle.due(format!("p/m{}: top_k", 3 * Throttle::KEPT - 1), late));
        assert!(throttle.due("p/m0: top_k".into(), late));
        // Lines not said within the period make room first.
        let later = late + Throttle::EVERY;
        assert!(throttle.due("fresh".into(), later));
        assert_eq!(throttle.len(), 1);
    }
}
