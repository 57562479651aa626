//! The systemd side of the service: readiness, status, reload and stop
//! notifications, and the watchdog. Outside systemd (no `NOTIFY_SOCKET`)
//! every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

fn notify(states: &[NotifyState<'_>]) {
    if let Err(err) = sd_notify::notify(false, states) {
        tracing::warn!("cannot notify systemd: {err}");
    }
}

/// The listener is bound and requests are served.
pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload starts; [`ready`] ends it.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now]),
        Err(_) => notify(&[NotifyState::Reloading]),
    }
}

pub fn stopping(status: &str) {
    notify(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

pub fn status(status: &str) {
    notify(&[NotifyState::Status(status)]);
}

/// Sends `STATUS=` with `summary()` every `every`, when it changed since
/// the last look (the first look only remembers it: until the gateway has
/// done something, the status [`ready`] set stays), so that `systemctl
/// status` shows how the gateway is doing. Nothing outside systemd.
pub fn spawn_live_status(every: Duration, summary: impl Fn() -> String + Send + 'static) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        ticks.tick().await;
        let mut last = summary();
        loop {
            ticks.tick().await;
            let line = summary();
            if line != last {
                status(&line);
                last = line;
            }
        }
    });
}

/// Sends `WATCHDOG=1` every half `WatchdogSec` while the runtime is alive.
/// The pings come from a task on the same runtime as the request handlers,
/// so a wedged runtime stops them and systemd restarts the service.
pub fn spawn_watchdog() {
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let period = Duration::from_micros(usec) / 2;
    tracing::info!("systemd watchdog enabled; pinging every {period:?}");
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        loop {
            ticks.tick().await;
            notify(&[NotifyState::Watchdog]);
        }
    });
}
