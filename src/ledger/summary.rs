//! The one-line summary systemd shows as the service's status (`STATUS=`):
//! `47 req/h, 2 fallbacks, moonshot/kimi-k2.6 cooling 3m, $0.42 today`.
//! Today's spend is as budgets count it (an answer of unknown cost at its
//! estimate, if any), and how many answers' cost was unknown is said
//! (`$0.42 today, 3 of unknown cost`).
//! Pure: the caller gathers the figures.

use std::time::Duration;

use super::DayTotal;
use super::recent::Stats;

pub fn line(stats: &Stats, cooling: &[(String, Duration)], today: DayTotal) -> String {
    let floor = if stats.floor { "+" } else { "" };
    let mut parts = vec![format!("{}{floor} req/h", stats.requests_last_hour)];
    match stats.fallbacks_last_hour {
        0 => {}
        1 => parts.push("1 fallback".to_string()),
        n => parts.push(format!("{n} fallbacks")),
    }
    if stats.failures_last_hour > 0 {
        parts.push(format!("{} failed", stats.failures_last_hour));
    }
    for (target, remaining) in cooling.iter().take(3) {
        parts.push(format!("{target} cooling {}", short(*remaining)));
    }
    if cooling.len() > 3 {
        parts.push(format!("{} more cooling", cooling.len() - 3));
    }
    parts.push(format!("${:.2} today", today.cost_usd));
    if today.uncosted > 0 {
        parts.push(format!("{} of unknown cost", today.uncosted));
    }
    parts.join(", ")
}

/// `45s`, `3m`, `2h`.
fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s.div_ceil(60)),
        _ => format!("{}h", s.div_ceil(3600)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let idle = Stats::default();
        assert_eq!(
            line(&idle, &[], DayTotal::default()),
            "0 req/h, $0.00 today"
        );
        let busy = Stats {
            requests_last_hour: 47,
            fallbacks_last_hour: 2,
            failures_last_hour: 1,
            ..Stats::default()
        };
        let cooling = [("moonshot/kimi-k2.6".to_string(), Duration::from_secs(170))];
        let today = |cost_usd, uncosted| DayTotal {
            cost_usd,
            uncosted,
            ..DayTotal::default()
        };
        assert_eq!(
            line(&busy, &cooling, today(0.4234, 0)),
            "47 req/h, 2 fallbacks, 1 failed, moonshot/kimi-k2.6 cooling 3m, $0.42 today"
        );
        assert_eq!(
            line(&busy, &[], today(0.0771, 2)),
            "47 req/h, 2 fallbacks, 1 failed, $0.08 today, 2 of unknown cost"
        );
    }
}
