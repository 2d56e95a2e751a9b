//! Cancellation of a run (Ctrl-C), shared by every wait and request of the run.
//!
//! A flag anyone can read synchronously (connectors poll [`Host::is_cancelled`]) plus a
//! notification that wakes asynchronous waits at once. Waits also re-check the flag every 100 ms,
//! so a flag set directly through [`Cancellation::flag`] (e.g. by a signal handler that only has
//! the `AtomicBool`) is noticed too.
//!
//! [`Host::is_cancelled`]: plugboard_core::Host::is_cancelled

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// How often waits re-check the flag when nobody notified them.
const POLL: Duration = Duration::from_millis(100);

/// A cancellation signal; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Cancellation {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Cancellation {
    /// A signal that is not cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A signal driven by an existing flag (e.g. one a Ctrl-C handler sets).
    pub fn from_flag(flag: Arc<AtomicBool>) -> Self {
        Self {
            flag,
            notify: Arc::new(Notify::new()),
        }
    }

    /// Cancels: every wait returns, every later request is refused.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The underlying flag, for code that can only set an `AtomicBool`.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.flag)
    }

    /// Completes once the run is cancelled; used in `select!` against sleeps and requests.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_cancelled() {
                return;
            }
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Sleeps for `duration` unless cancelled first; `Err(Cancelled)` means cancelled.
    pub async fn sleep(&self, duration: Duration) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            return Err(Cancelled);
        }
        tokio::select! {
            () = tokio::time::sleep(duration) => Ok(()),
            () = self.cancelled() => Err(Cancelled),
        }
    }
}

/// The run was cancelled during a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;
