//! Operations: what the service tells systemd, how it logs, the metrics it
//! exports, keeping secrets out of all three, and giving memory back after
//! a burst.

pub mod logging;
pub mod memory;
pub mod metrics;
pub mod redact;
pub mod scrub;
pub mod systemd;
