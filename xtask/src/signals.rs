//! Ctrl-C, SIGTERM and SIGHUP while `cargo xtask test` runs.
//!
//! Once [`Interrupts::install`] has run, these signals no longer end this process on the spot: a
//! background thread records them and forwards them to the process group of the running tests
//! (started in a group of their own, so that cargo and every test binary it runs get the signal).
//! This process then finishes in order: it waits for the tests, stops the services it started,
//! and exits with the tests' status. Starting a service checks [`Interrupts::received`] in its
//! waits, so an interrupt during start-up stops what was started too.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

/// The signals we handle, by number and by the name `kill -s` takes.
const SIGHUP: (i32, &str) = (1, "HUP");
const SIGINT: (i32, &str) = (2, "INT");
const SIGTERM: (i32, &str) = (15, "TERM");

/// What the signal thread shares with the rest of the program.
#[derive(Debug, Default)]
struct Shared {
    /// The last signal received, 0 if none.
    received: AtomicI32,
    /// The process group signals are forwarded to, 0 if none.
    forward_to: AtomicU32,
}

/// The signals received so far, and where they are forwarded.
#[derive(Debug, Clone, Default)]
pub struct Interrupts {
    shared: Arc<Shared>,
}

impl Interrupts {
    /// Takes over SIGINT, SIGTERM and SIGHUP for the rest of this process's life.
    pub fn install() -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .context("cannot start the signal handler")?;
        let (mut hangup, mut interrupt, mut terminate) = runtime
            .block_on(async {
                Ok::<_, std::io::Error>((
                    signal(SignalKind::hangup())?,
                    signal(SignalKind::interrupt())?,
                    signal(SignalKind::terminate())?,
                ))
            })
            .context("cannot handle signals")?;
        let interrupts = Self::default();
        let shared = Arc::clone(&interrupts.shared);
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                runtime.block_on(async move {
                    loop {
                        let (number, name) = tokio::select! {
                            _ = hangup.recv() => SIGHUP,
                            _ = interrupt.recv() => SIGINT,
                            _ = terminate.recv() => SIGTERM,
                        };
                        shared.received.store(number, Ordering::SeqCst);
                        let group = shared.forward_to.load(Ordering::SeqCst);
                        if group != 0 {
                            signal_group(group, name);
                        }
                    }
                });
            })
            .context("cannot start the signal thread")?;
        Ok(interrupts)
    }

    /// The last signal received, if any (its number).
    pub fn received(&self) -> Option<i32> {
        match self.shared.received.load(Ordering::SeqCst) {
            0 => None,
            number => Some(number),
        }
    }

    /// Fails with a clear message once a signal arrived: for the waits of a start-up.
    pub fn check(&self, doing: &str) -> anyhow::Result<()> {
        match self.received() {
            Some(number) => anyhow::bail!("interrupted (signal {number}) while {doing}"),
            None => Ok(()),
        }
    }

    /// Forwards every signal from now on to process group `group` (and one that arrived just
    /// before, so none falls between the start of the child and this call).
    pub fn forward_to(&self, group: u32) {
        self.shared.forward_to.store(group, Ordering::SeqCst);
        if let Some(number) = self.received() {
            let name = [SIGHUP, SIGINT, SIGTERM]
                .iter()
                .find(|(n, _)| *n == number)
                .map_or("TERM", |(_, name)| name);
            signal_group(group, name);
        }
    }

    /// Stops forwarding (the group is gone; its id may be reused).
    pub fn stop_forwarding(&self) {
        self.shared.forward_to.store(0, Ordering::SeqCst);
    }
}

/// Sends `SIG<name>` to process `pid` with `kill(1)` (no unsafe code, no libc binding).
pub fn signal_process(pid: u32, name: &str) -> bool {
    run_kill(name, &pid.to_string())
}

/// Sends `SIG<name>` to every process of group `group`.
fn signal_group(group: u32, name: &str) -> bool {
    run_kill(name, &format!("-{group}"))
}

fn run_kill(name: &str, target: &str) -> bool {
    Command::new("kill")
        .args(["-s", name, "--", target])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
