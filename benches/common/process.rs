//! What the benchmarks read of a running `clawgate serve` process from
//! `/proc`: its memory and its open file descriptors.

/// A numeric field of `/proc/PID/status` (`VmRSS:`, `Threads:`), 0 when
/// unreadable; memory fields are in KiB.
pub fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// How many file descriptors the process has open.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}
