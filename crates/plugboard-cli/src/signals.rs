//! Every way a run is asked to stop ends it the same graceful way: Ctrl-C (SIGINT), SIGTERM
//! (`kill`, `timeout`, `docker stop`, `systemctl stop`) and SIGHUP (a closed terminal) cancel the
//! run, so requests in flight finish, a token refresh is persisted and the journal says where
//! the run stopped; a second signal ends the process at once. The exit code is then 128 + the
//! signal's number, as shells expect.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use plugboard_runner::Cancellation;
use tokio::runtime::Handle;

/// The first stop signal received, if any.
#[derive(Clone, Default)]
pub struct StopSignal(Arc<AtomicI32>);

impl StopSignal {
    /// The exit code a run stopped by this signal ends with (130 for SIGINT, 143 for SIGTERM,
    /// 129 for SIGHUP), or `None` when no signal came.
    pub fn exit_code(&self) -> Option<u8> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            signal => u8::try_from(128 + signal).ok(),
        }
    }
}

/// Cancels `cancel` on the first stop signal and exits on the second.
pub fn watch(handle: &Handle, cancel: Cancellation) -> StopSignal {
    let received = StopSignal::default();
    let flag = received.0.clone();
    handle.spawn(async move {
        // Listening starts now, once, so a second signal is never missed between the two waits.
        let Some(mut stops) = Stops::listen() else {
            return;
        };
        let Some(first) = stops.next().await else {
            return;
        };
        flag.store(first.number, Ordering::SeqCst);
        eprintln!(
            "{}: cancelling, finishing requests in flight (send it again to stop at once)",
            first.name
        );
        cancel.cancel();
        if let Some(second) = stops.next().await {
            std::process::exit(128 + second.number);
        }
    });
    received
}

struct Signal {
    name: &'static str,
    number: i32,
}

#[cfg(unix)]
struct Stops {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Stops {
    fn listen() -> Option<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Some(Self {
            interrupt: signal(SignalKind::interrupt()).ok()?,
            terminate: signal(SignalKind::terminate()).ok()?,
            hangup: signal(SignalKind::hangup()).ok()?,
        })
    }

    async fn next(&mut self) -> Option<Signal> {
        tokio::select! {
            Some(()) = self.interrupt.recv() => Some(Signal { name: "interrupted (SIGINT)", number: 2 }),
            Some(()) = self.terminate.recv() => Some(Signal { name: "terminated (SIGTERM)", number: 15 }),
            Some(()) = self.hangup.recv() => Some(Signal { name: "hung up (SIGHUP)", number: 1 }),
            else => None,
        }
    }
}

#[cfg(not(unix))]
struct Stops;

#[cfg(not(unix))]
impl Stops {
    fn listen() -> Option<Self> {
        Some(Self)
    }

    async fn next(&mut self) -> Option<Signal> {
        tokio::signal::ctrl_c().await.ok()?;
        Some(Signal {
            name: "interrupted (Ctrl-C)",
            number: 2,
        })
    }
}
