//! What a connector may ask of the program running it.
//!
//! This is the connector's whole view of the outside world (invariant 1). The calls are synchronous:
//! the host runs connector code on a blocking thread and does the asynchronous work itself, so a
//! connector (and a plugin) needs no async runtime.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConnectorError;
use crate::http::{HttpRequest, HttpResponse, StreamedResponse};

/// Severity of a connector's log message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum LogLevel {
    /// Detail for debugging a connector.
    Debug = 0,
    /// Progress worth showing.
    Info = 1,
    /// Something unusual that did not stop the call.
    Warn = 2,
    /// Something failed.
    Error = 3,
}

impl LogLevel {
    /// The level with this numeric value; unknown values (from a newer plugin) read as `Info`.
    pub fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Debug,
            2 => Self::Warn,
            3 => Self::Error,
            _ => Self::Info,
        }
    }
}

/// The services a host gives a connector during one method call.
///
/// The runner's host sends through its HTTP executor; a test host answers from a script, which
/// is how a connector's methods are tested without a network:
///
/// ```
/// use std::sync::Mutex;
/// use std::time::Duration;
///
/// use plugboard_core::{ConnectorError, Host, HttpRequest, HttpResponse, LogLevel};
/// use serde_json::{Value, json};
///
/// /// Answers every request with one canned response and keeps what the connector did.
/// #[derive(Default)]
/// struct CannedHost {
///     requests: Mutex<Vec<HttpRequest>>,
///     records: Mutex<Vec<Value>>,
/// }
///
/// impl Host for CannedHost {
///     fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
///         self.requests.lock().expect("not poisoned").push(request);
///         Ok(HttpResponse::json(200, &json!({"ok": true})))
///     }
///     fn emit(&self, record: Value) -> Result<(), ConnectorError> {
///         self.records.lock().expect("not poisoned").push(record);
///         Ok(())
///     }
///     fn log(&self, _level: LogLevel, _message: &str) {}
///     fn is_cancelled(&self) -> bool {
///         false
///     }
///     /// Returns at once: a test does not wait for real.
///     fn sleep(&self, _duration: Duration) -> Result<(), ConnectorError> {
///         Ok(())
///     }
/// }
///
/// let host = CannedHost::default();
/// let response = host.send(HttpRequest::get("/status"))?;
/// assert!(response.is_success());
/// host.emit(json!({"id": 1}))?;
/// assert_eq!(host.requests.lock().expect("not poisoned")[0].path, "/status");
/// assert_eq!(host.records.lock().expect("not poisoned").len(), 1);
/// # Ok::<(), ConnectorError>(())
/// ```
pub trait Host {
    /// Sends an HTTP request with the connection's credentials, within its rate limits, retrying
    /// what is safe to retry. Error statuses come back as responses; `Err` means no response.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError>;

    /// Like [`Host::send`], with the body read as it arrives, as bytes: for downloads too large
    /// to hold (a contact export's CSV file). Limits, auth, refresh and retries apply until the
    /// answer's head arrives; an error status's body is read whole, as by `send`.
    ///
    /// The default reads the whole body through `send`, so a host that cannot stream (a test
    /// host, the plugin boundary) still serves every connector.
    fn send_streamed(&self, request: HttpRequest) -> Result<StreamedResponse<'_>, ConnectorError> {
        self.send(request).map(StreamedResponse::whole)
    }

    /// Hands one record of a streamed output to the host. An `Err` (e.g. cancellation) tells the
    /// connector to stop producing records.
    fn emit(&self, record: serde_json::Value) -> Result<(), ConnectorError>;

    /// Records a message in the run's log. Never pass secrets: the host cannot tell them apart.
    fn log(&self, level: LogLevel, message: &str);

    /// Whether the run was cancelled; long loops check it between requests.
    fn is_cancelled(&self) -> bool;

    /// Waits before the next poll of a long-running job (e.g. a bulk activity), and returns
    /// [`ConnectorError::Cancelled`] as soon as the run is cancelled. A connector has no timer of
    /// its own (invariant 1), and the host decides how waiting is done: a blocking thread in the
    /// runner, an instant return in a replaying test host.
    fn sleep(&self, duration: Duration) -> Result<(), ConnectorError>;
}

impl<H: Host + ?Sized> Host for &H {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        (**self).send(request)
    }
    fn send_streamed(&self, request: HttpRequest) -> Result<StreamedResponse<'_>, ConnectorError> {
        (**self).send_streamed(request)
    }
    fn emit(&self, record: serde_json::Value) -> Result<(), ConnectorError> {
        (**self).emit(record)
    }
    fn log(&self, level: LogLevel, message: &str) {
        (**self).log(level, message);
    }
    fn is_cancelled(&self) -> bool {
        (**self).is_cancelled()
    }
    fn sleep(&self, duration: Duration) -> Result<(), ConnectorError> {
        (**self).sleep(duration)
    }
}

/// Sleeps on the current thread in short slices, checking `is_cancelled` between them; the
/// building block of a blocking host's [`Host::sleep`].
pub fn sleep_unless_cancelled(
    duration: Duration,
    is_cancelled: impl Fn() -> bool,
) -> Result<(), ConnectorError> {
    const SLICE: Duration = Duration::from_millis(50);
    let deadline = std::time::Instant::now() + duration;
    loop {
        if is_cancelled() {
            return Err(ConnectorError::Cancelled);
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(SLICE));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn sleep_returns_after_the_duration_when_not_cancelled() {
        let started = Instant::now();
        sleep_unless_cancelled(Duration::from_millis(120), || false).expect("not cancelled");
        assert!(started.elapsed() >= Duration::from_millis(120));
    }

    #[test]
    fn sleep_stops_early_when_the_run_is_cancelled() {
        let checks = AtomicU32::new(0);
        let outcome = sleep_unless_cancelled(Duration::from_secs(600), || {
            checks.fetch_add(1, Ordering::Relaxed) >= 2
        });
        assert!(matches!(outcome, Err(ConnectorError::Cancelled)));
        assert_eq!(checks.load(Ordering::Relaxed), 3, "checked between slices");
    }
}
