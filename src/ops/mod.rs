//! Operations: what the service tells systemd, how it logs, the metrics it
//! exports, and keeping secrets out of all three.

pub mod logging;
pub mod metrics;
pub mod redact;
pub mod systemd;
