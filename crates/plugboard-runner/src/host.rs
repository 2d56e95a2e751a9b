//! The [`Host`] the runner gives connectors, built in or plugin alike.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use plugboard_core::{ConnectorError, Host, HttpRequest, HttpResponse, LogLevel};
use serde_json::Value;

/// Where emitted records go; it may refuse more (e.g. on cancellation) by returning an error.
pub type RecordSink = Box<dyn Fn(Value) -> Result<(), ConnectorError> + Send + Sync>;

/// The runner's host for one connector call.
///
/// HTTP is not wired yet: the executor (auth, refresh, limits, retries) comes with the runner issue,
/// and until then `send` answers `NotImplemented` instead of pretending.
pub struct RunnerHost {
    connector_id: String,
    sink: RecordSink,
    cancelled: Arc<AtomicBool>,
}

impl RunnerHost {
    /// A host for calls to `connector_id`, streaming records into `sink`.
    pub fn new(
        connector_id: impl Into<String>,
        sink: RecordSink,
        cancelled: Arc<AtomicBool>,
    ) -> Self {
        Self {
            connector_id: connector_id.into(),
            sink,
            cancelled,
        }
    }
}

impl Host for RunnerHost {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        Err(ConnectorError::NotImplemented {
            what: format!(
                "HTTP for {} {} from `{}`: the runner's HTTP executor is not built yet",
                request.method, request.path, self.connector_id
            ),
        })
    }

    fn emit(&self, record: Value) -> Result<(), ConnectorError> {
        if self.is_cancelled() {
            return Err(ConnectorError::Cancelled);
        }
        (self.sink)(record)
    }

    fn log(&self, level: LogLevel, message: &str) {
        let connector = self.connector_id.as_str();
        match level {
            LogLevel::Debug => tracing::debug!(connector, "{message}"),
            LogLevel::Info => tracing::info!(connector, "{message}"),
            LogLevel::Warn => tracing::warn!(connector, "{message}"),
            LogLevel::Error => tracing::error!(connector, "{message}"),
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    fn sleep(&self, duration: std::time::Duration) -> Result<(), ConnectorError> {
        plugboard_core::sleep_unless_cancelled(duration, || self.is_cancelled())
    }
}
