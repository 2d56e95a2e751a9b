//! The [`Host`] the runner gives connectors, built in or plugin alike.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use plugboard_core::{ConnectorError, Host, HttpRequest, HttpResponse, LogLevel, StreamedResponse};
use serde_json::Value;
use tokio::runtime::Handle;

use crate::body::{HostCall, ResponseBody};
use crate::cancel::Cancellation;
use crate::executor::{Answer, ConnectionContext, Executor};

/// Where emitted records go; it may refuse more (e.g. on cancellation) by returning an error.
pub type RecordSink = Box<dyn Fn(Value) -> Result<(), ConnectorError> + Send + Sync>;

/// A borrowed record callback, as [`crate::Session::call`] receives it.
pub type RecordCallback<'a> = &'a mut dyn FnMut(Value) -> Result<(), ConnectorError>;

enum Sink<'a> {
    Shared(RecordSink),
    Borrowed(RefCell<RecordCallback<'a>>),
    /// A watched call: records travel to the caller's thread, which hands them to its callback.
    Channel(SyncSender<Value>),
}

/// Bit of [`CallWatch::state`] set once the caller gave up on the call.
const ABANDONED: u64 = 1 << 63;

/// What the caller of a watched call sees of the connector running on another thread: whether its
/// code is inside a host call right now and since when it has been outside one, so a hang in
/// connector code can be told from a long request, a long wait or a slow record consumer.
#[derive(Debug)]
pub(crate) struct CallWatch {
    /// The time base of `last_left`.
    started: Instant,
    /// [`ABANDONED`] plus how many host calls are in progress. One word, so "abandon only if
    /// outside the host" and "enter the host only if not abandoned" cannot interleave.
    state: AtomicU64,
    /// When connector code last left a host call (or started), in nanoseconds since `started`.
    last_left: AtomicU64,
    /// The error the caller's record callback returned: the connector's next `emit` gets it.
    refused: OnceLock<ConnectorError>,
}

impl CallWatch {
    /// A watch for a call starting now, outside any host call.
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            state: AtomicU64::new(0),
            last_left: AtomicU64::new(0),
            refused: OnceLock::new(),
        }
    }

    /// Restarts the stall clock as the connector's code begins on its thread, so time the job
    /// spent waiting to start is never taken for the connector's own.
    pub(crate) fn begin(&self) {
        self.last_left.store(self.now_nanos(), Ordering::SeqCst);
    }

    fn now_nanos(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Marks connector code as inside a host call until the guard drops; refused (`Cancelled`)
    /// once the call was abandoned, so an abandoned thread can no longer reach the API.
    fn enter(&self) -> Result<InHost<'_>, ConnectorError> {
        self.state
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |state| {
                (state & ABANDONED == 0).then_some(state + 1)
            })
            .map(|_| InHost(self))
            .map_err(|_| ConnectorError::Cancelled)
    }

    /// How long connector code has been running outside any host call; `None` while it is inside
    /// one (time in the host never counts as a stall).
    pub(crate) fn outside_host_for(&self) -> Option<Duration> {
        if self.state.load(Ordering::SeqCst) & !ABANDONED != 0 {
            return None;
        }
        let left = self.last_left.load(Ordering::SeqCst);
        Some(Duration::from_nanos(self.now_nanos().saturating_sub(left)))
    }

    /// Abandons the call if its connector is outside the host right now; `false` if it has just
    /// entered a host call (it is alive after all) or the call was already abandoned.
    pub(crate) fn abandon_if_outside_host(&self) -> bool {
        self.state
            .compare_exchange(0, ABANDONED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Abandons the call whatever the connector is doing: the caller has stopped listening.
    pub(crate) fn abandon(&self) {
        self.state.fetch_or(ABANDONED, Ordering::SeqCst);
    }

    fn is_abandoned(&self) -> bool {
        self.state.load(Ordering::SeqCst) & ABANDONED != 0
    }

    /// Records the record callback's error for the connector's next `emit` (the first one wins).
    pub(crate) fn refuse_records(&self, error: ConnectorError) {
        let _ = self.refused.set(error);
    }
}

/// Connector code is inside a host call while this lives.
struct InHost<'a>(&'a CallWatch);

impl Drop for InHost<'_> {
    fn drop(&mut self) {
        // `last_left` first: a watcher that sees the count drop to 0 also sees the new time.
        self.0.last_left.store(self.0.now_nanos(), Ordering::SeqCst);
        self.0.state.fetch_sub(1, Ordering::SeqCst);
    }
}

impl HostCall for RunnerHost<'_> {
    fn within(&self, read: &mut dyn FnMut() -> std::io::Result<usize>) -> std::io::Result<usize> {
        let _in_host = self.enter().map_err(std::io::Error::other)?;
        read()
    }
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
    /// Set for a watched call (see [`crate::Session::call`]): host calls are tracked and refused
    /// once the call is abandoned.
    watch: Option<Arc<CallWatch>>,
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
            watch: None,
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
            watch: None,
        }
    }

    /// Like [`RunnerHost::connected`], for a call running on its own thread under `watch`:
    /// records go to `records` (bounded, so a slow consumer slows the connector down).
    pub(crate) fn watched(
        context: &'a ConnectionContext,
        executor: &'a Executor,
        handle: &'a Handle,
        records: SyncSender<Value>,
        watch: Arc<CallWatch>,
        cancel: Cancellation,
    ) -> Self {
        Self {
            connector_id: context.connector_id.clone(),
            sink: Sink::Channel(records),
            cancel,
            http: Some(HttpBinding {
                executor,
                context,
                handle,
            }),
            watch: Some(watch),
        }
    }

    /// Marks a host call (see [`CallWatch::enter`]); nothing to track for an unwatched call.
    fn enter(&self) -> Result<Option<InHost<'_>>, ConnectorError> {
        self.watch.as_deref().map(CallWatch::enter).transpose()
    }
}

impl Host for RunnerHost<'_> {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let _in_host = self.enter()?;
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

    fn send_streamed(&self, request: HttpRequest) -> Result<StreamedResponse<'_>, ConnectorError> {
        let _in_host = self.enter()?;
        if self.is_cancelled() {
            return Err(ConnectorError::Cancelled);
        }
        let Some(http) = &self.http else {
            return self.send(request).map(StreamedResponse::whole);
        };
        let answer = http.handle.block_on(http.executor.send_streamed(
            http.context,
            request,
            &self.cancel,
        ))?;
        Ok(match answer {
            Answer::Whole(response) => StreamedResponse::whole(response),
            Answer::Streaming { head, body } => StreamedResponse {
                status: head.status,
                headers: head.headers,
                body: Box::new(ResponseBody::new(
                    self,
                    http.handle,
                    self.cancel.clone(),
                    body,
                    &http.context.name,
                )),
            },
        })
    }

    fn emit(&self, record: Value) -> Result<(), ConnectorError> {
        let _in_host = self.enter()?;
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
            Sink::Channel(records) => {
                if let Some(refused) = self.watch.as_ref().and_then(|w| w.refused.get()) {
                    return Err(refused.clone());
                }
                // Blocks while the queue is full: the caller's pace is the connector's pace. A
                // closed queue means the caller has gone.
                records.send(record).map_err(|_| ConnectorError::Cancelled)
            }
        }
    }

    fn log(&self, level: LogLevel, message: &str) {
        // Logged even from an abandoned call: what a revived thread says may explain its hang.
        let _in_host = self.enter();
        let connector = self.connector_id.as_str();
        match level {
            LogLevel::Debug => tracing::debug!(connector, "{message}"),
            LogLevel::Info => tracing::info!(connector, "{message}"),
            LogLevel::Warn => tracing::warn!(connector, "{message}"),
            LogLevel::Error => tracing::error!(connector, "{message}"),
        }
    }

    /// Also counts as activity: a connector polling this is responsive, and once abandoned it is
    /// told to stop.
    fn is_cancelled(&self) -> bool {
        let Ok(_in_host) = self.enter() else {
            return true;
        };
        self.cancel.is_cancelled() || self.watch.as_ref().is_some_and(|w| w.is_abandoned())
    }

    fn sleep(&self, duration: Duration) -> Result<(), ConnectorError> {
        let _in_host = self.enter()?;
        match &self.http {
            Some(http) => http
                .handle
                .block_on(self.cancel.sleep(duration))
                .map_err(|_| ConnectorError::Cancelled),
            None => plugboard_core::sleep_unless_cancelled(duration, || self.is_cancelled()),
        }
    }
}
