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

/// A real `clawgate serve` on a free port with `config`, logging at
/// `log_level`: the process and the base URL it announced. Its log is
/// drained on a thread so that it never blocks on a full pipe.
pub fn serve(config: &std::path::Path, log_level: &str) -> (std::process::Child, String) {
    serve_pinned(config, log_level, None)
}

/// [`serve`], pinned to core `cpu` when one is given (with `taskset`).
pub fn serve_pinned(
    config: &std::path::Path,
    log_level: &str,
    cpu: Option<usize>,
) -> (std::process::Child, String) {
    let clawgate = std::path::Path::new(env!("CARGO_BIN_EXE_clawgate"));
    serve_binary(clawgate, config, log_level, cpu)
}

/// [`serve_pinned`] with another `clawgate` binary (an earlier build, to
/// measure two side by side).
pub fn serve_binary(
    clawgate: &std::path::Path,
    config: &std::path::Path,
    log_level: &str,
    cpu: Option<usize>,
) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    // Pinned with `taskset`, and run under the program
    // `CLAWGATE_BENCH_UNDER` names with its arguments, if any (`valgrind
    // --tool=callgrind ...`, to count what a request costs: see
    // docs/performance.md).
    let mut words: Vec<std::ffi::OsString> = Vec::new();
    if let Some(cpu) = cpu {
        words.extend(["taskset".into(), "-c".into(), cpu.to_string().into()]);
    }
    let under = std::env::var("CLAWGATE_BENCH_UNDER").unwrap_or_default();
    words.extend(under.split_whitespace().map(Into::into));
    words.push(clawgate.into());
    let mut command = Command::new(&words[0]);
    command.args(&words[1..]);
    // A fixed, small environment, so that what the bench was started from
    // (`cargo bench` adds some thirty variables) does not move the figures:
    // the size of a process's environment shifts its stack, which moved
    // nginx's cost per request by up to a quarter. The state (the ledger)
    // goes beside the config.
    command.env_clear();
    if let Some(dir) = config.parent() {
        command.env("CLAWGATE_STATE_DIR", dir);
    }
    // An instrumented build writes its profile where the training run
    // says (benches/train.rs).
    if let Some(file) = std::env::var_os("CLAWGATE_TRAIN_PROFILE") {
        command.env("LLVM_PROFILE_FILE", file);
    }
    let mut child = command
        .args(["serve", "--port", "0", "--log-format", "text"])
        .args(["--log-level", log_level])
        .arg("--config")
        .arg(config)
        .stderr(Stdio::piped())
        .spawn()
        .expect("clawgate starts");
    let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
    let base = loop {
        let line = lines.next().expect("clawgate logs its address").unwrap();
        if let Some(at) = line.find("listening on http://") {
            break line[at + "listening on ".len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}
