//! The [`Host`] the runner gives connectors, built in or plugin alike.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use plugboard_core::{ConnectorError, Host, HttpRequest, HttpResponse, LogLevel};
use serde_json::Value;
use tokio::runtime::Handle;

use crate::cancel::Cancellation;
use crate::executor::{ConnectionContext, Executor};

/// Where emitted records go; it may refuse more (e.g. on cancellation) by returning an error.
pub type RecordSink = Box<dyn Fn(Value) -> Result<(), ConnectorError> + Send + Sync>;

/// A borrowed record callback, as [`crate::Session::call`] receives it.
pub type RecordCallback<'a> = &'a mut dyn FnMut(Value) -> Result<(), ConnectorError>;

enum Sink<'a> {
    Shared(RecordSink),
    Borrowed(RefCell<RecordCallback<'a>>),
}

/// The executor a host sends through, for one connection.
struct HttpBinding<'a> {
    executor: &'a Executor,
    context: &'a ConnectionContext,
    handle: &'a Handle,
}

/// The runner's host for one connector call.
///
/// Connector code is synchronous and must run on a blocking thread (`spawn_blocking` or a plain
/// thread, never a runtime worker): [`Host::send`] and [`Host::sleep`] bridge into the runtime
/// with `Handle::block_on`, which would panic on a worker thread rather than deadlock it.
pub struct RunnerHost<'a> {
    connector_id: String,
    sink: Sink<'a>,
    cancel: Cancellation,
    http: Option<HttpBinding<'a>>,
}

impl RunnerHost<'static> {
    /// A host without HTTP (its `send` answers `NotImplemented`), streaming records into `sink`;
    /// for code that only needs records and logs, such as plugin tests.
    pub fn new(
        connector_id: impl Into<String>,
        sink: RecordSink,
        cancelled: Arc<AtomicBool>,
    ) -> Self {
        Self {
            connector_id: connector_id.into(),
            sink: Sink::Shared(sink),
            cancel: Cancellation::from_flag(cancelled),
            http: None,
        }
    }
}

impl<'a> RunnerHost<'a> {
    /// A host that sends through `executor` for the connection of `context`, running the async
    /// work on `handle`'s runtime.
    pub fn connected(
        context: &'a ConnectionContext,
        executor: &'a Executor,
        handle: &'a Handle,
        on_record: RecordCallback<'a>,
        cancel: Cancellation,
    ) -> Self {
        Self {
            connector_id: context.connector_id.clone(),
            sink: Sink::Borrowed(RefCell::new(on_record)),
            cancel,
            http: Some(HttpBinding {
                executor,
                context,
                handle,
            }),
        }
    }
}

impl Host for RunnerHost<'_> {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        if self.is_cancelled() {
            return Err(ConnectorError::Cancelled);
        }
        let Some(http) = &self.http else {
            return Err(ConnectorError::NotImplemented {
                what: format!(
                    "HTTP for {} {} from `{}`: this host has no connection to send through",
                    request.method, request.path, self.connector_id
                ),
            });
        };
        http.handle
            .block_on(http.executor.send(http.context, request, &self.cancel))
    }

    fn emit(&self, record: Value) -> Result<(), ConnectorError> {
        if self.is_cancelled() {
            return Err(ConnectorError::Cancelled);
        }
        match &self.sink {
            Sink::Shared(sink) => sink(record),
            Sink::Borrowed(callback) => {
                let mut callback = callback.try_borrow_mut().map_err(|_| {
                    ConnectorError::plugin("emit was called again from inside the record callback")
                })?;
                (*callback)(record)
            }
        }
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
        self.cancel.is_cancelled()
    }

    fn sleep(&self, duration: Duration) -> Result<(), ConnectorError> {
        match &self.http {
            Some(http) => http
                .handle
                .block_on(self.cancel.sleep(duration))
                .map_err(|_| ConnectorError::Cancelled),
            None => plugboard_core::sleep_unless_cancelled(duration, || self.is_cancelled()),
        }
    }
}
