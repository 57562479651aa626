//! Operations: what the service tells systemd, how it logs, the metrics it
//! exports, the traces it sends, keeping secrets out of all of them, and
//! giving memory back after a burst.

pub mod logging;
pub mod memory;
pub mod metrics;
pub mod redact;
pub mod scrub;
pub mod systemd;
pub mod telemetry;
pub mod throttle;
