//! A fake clock: waits return at once and move virtual time forward.
//!
//! A connector has no timer of its own; it waits through [`Host::sleep`](plugboard_core::Host::sleep)
//! (between polls of a bulk job, or while an API is still processing). Under replay those waits
//! must cost nothing and be repeatable, yet a test still wants to know they happened and for how
//! long, and to cancel a run at a chosen moment. [`FakeClock`] does all three.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use plugboard_core::ConnectorError;

#[derive(Debug, Default)]
struct State {
    now: Duration,
    sleeps: Vec<Duration>,
    cancelled: bool,
    cancel_at: Option<Duration>,
}

/// Virtual time, shared by clones: sleeping advances it instantly and is recorded.
///
/// ```
/// use std::time::Duration;
/// use plugboard_testkit::FakeClock;
///
/// let clock = FakeClock::new();
/// clock.sleep(Duration::from_secs(2)).expect("not cancelled");
/// clock.sleep(Duration::from_secs(4)).expect("not cancelled");
/// assert_eq!(clock.now(), Duration::from_secs(6));
/// assert_eq!(clock.sleeps(), [Duration::from_secs(2), Duration::from_secs(4)]);
///
/// clock.cancel_after(Duration::from_secs(10)); // at virtual time 16 s
/// assert!(clock.sleep(Duration::from_secs(30)).is_err(), "cancelled during the wait");
/// assert_eq!(clock.now(), Duration::from_secs(16));
/// ```
#[derive(Debug, Clone, Default)]
pub struct FakeClock {
    state: Arc<Mutex<State>>,
}

impl FakeClock {
    /// A clock at virtual time zero.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Virtual time elapsed since the clock was made.
    pub fn now(&self) -> Duration {
        self.state().now
    }

    /// Every wait asked for, in order (a wait cut short by cancellation included).
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state().sleeps.clone()
    }

    /// Moves virtual time forward without recording a wait.
    pub fn advance(&self, duration: Duration) {
        let mut state = self.state();
        state.now += duration;
    }

    /// Cancels the run now.
    pub fn cancel(&self) {
        self.state().cancelled = true;
    }

    /// Cancels the run once virtual time reaches `now() + after`; a wait that would pass that
    /// moment stops there and fails with [`ConnectorError::Cancelled`].
    pub fn cancel_after(&self, after: Duration) {
        let mut state = self.state();
        state.cancel_at = Some(state.now + after);
    }

    /// Whether the run is cancelled at the current virtual time.
    pub fn is_cancelled(&self) -> bool {
        let state = self.state();
        state.cancelled || state.cancel_at.is_some_and(|at| state.now >= at)
    }

    /// Waits `duration` of virtual time: returns at once, or fails with
    /// [`ConnectorError::Cancelled`] when the run is (or becomes, during the wait) cancelled.
    pub fn sleep(&self, duration: Duration) -> Result<(), ConnectorError> {
        let mut state = self.state();
        if state.cancelled || state.cancel_at.is_some_and(|at| state.now >= at) {
            return Err(ConnectorError::Cancelled);
        }
        state.sleeps.push(duration);
        let until = state.now + duration;
        match state.cancel_at {
            Some(at) if until >= at => {
                state.now = at;
                Err(ConnectorError::Cancelled)
            }
            _ => {
                state.now = until;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_virtual_time() {
        let clock = FakeClock::new();
        let other = clock.clone();
        other
            .sleep(Duration::from_millis(1500))
            .expect("not cancelled");
        clock.advance(Duration::from_millis(500));
        assert_eq!(clock.now(), Duration::from_secs(2));
        assert_eq!(other.sleeps(), [Duration::from_millis(1500)]);
    }

    #[test]
    fn a_cancelled_clock_refuses_to_wait() {
        let clock = FakeClock::new();
        clock.cancel();
        assert!(clock.is_cancelled());
        assert_eq!(
            clock.sleep(Duration::from_secs(1)),
            Err(ConnectorError::Cancelled)
        );
        assert!(clock.sleeps().is_empty());
    }

    #[test]
    fn cancellation_at_a_virtual_moment_cuts_the_wait_short() {
        let clock = FakeClock::new();
        clock.cancel_after(Duration::from_secs(5));
        clock
            .sleep(Duration::from_secs(3))
            .expect("before the moment");
        assert!(!clock.is_cancelled());
        assert_eq!(
            clock.sleep(Duration::from_secs(3)),
            Err(ConnectorError::Cancelled)
        );
        assert_eq!(clock.now(), Duration::from_secs(5));
        assert!(clock.is_cancelled());
    }
}
