//! A session: what the CLI and the workflow engine call to run connector methods.
//!
//! It ties together the registry, the state store, one executor (one `reqwest` client) and a
//! tokio runtime handle, and is cheap to clone and safe to share between threads.
//!
//! # Hung connectors
//!
//! With [`ExecutorConfig::connector_stall_timeout`] set (the default), each call runs the
//! connector on a thread of its own while the calling thread hands its records to the caller's
//! callback and watches it. Connector code that runs longer than the timeout without calling the
//! host (a request, record, log, sleep or cancellation check) is taken for hung: the call fails
//! with a [`ConnectorError::Plugin`] naming the connector, the method and the time, and the thread
//! is abandoned. Time inside host calls never counts, so long requests, rate-limit waits and slow
//! record consumers are never cut short.
//!
//! An abandoned thread cannot be killed (Rust has no safe way to stop a thread, and a plugin's
//! code is foreign code): it keeps its CPU and memory until the process ends, and every host call
//! it makes afterwards fails with `Cancelled`, so it can no longer reach the API or emit records.
//! It holds its own clones of the session and the connector (an `Arc`), so nothing it uses is
//! freed under it, and a plugin's library is never unloaded (see [`crate::plugins`]).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plugboard_core::{ConnectorError, HttpRequest, HttpResponse, Invocation, settings};
use serde_json::{Map, Value};
use tokio::runtime::Handle;

use crate::cancel::Cancellation;
use crate::executor::{ConnectionContext, Executor, ExecutorConfig, ExecutorError, store_error};
use crate::host::{CallWatch, RecordCallback, RunnerHost};
use crate::registry::{RegisteredConnector, Registry};
use crate::store::{ConnectionRecord, StateStore};
use crate::workers::Workers;

/// How many records a watched call's connector may get ahead of the caller's callback.
const RECORD_QUEUE: usize = 256;

/// The longest a watcher sleeps between looks at its connector.
const LONGEST_TICK: Duration = Duration::from_millis(250);

/// How long a connector may stay outside the host once the run is cancelled (Ctrl-C) before the
/// call returns `Cancelled` without it, whatever the stall timeout.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// A connection ready to be called: its connector, its executor context and the settings the
/// connector may see.
#[derive(Clone)]
pub struct PreparedConnection {
    /// The connector.
    pub connector: RegisteredConnector,
    /// What the executor needs (holds secrets; `Debug` is redacted).
    pub context: Arc<ConnectionContext>,
    /// The effective settings without secrets: what the connector sees.
    pub visible_settings: Map<String, Value>,
}

struct CacheEntry {
    record: ConnectionRecord,
    partner: Map<String, Value>,
    prepared: PreparedConnection,
}

struct Inner {
    registry: Registry,
    executor: Executor,
    handle: Handle,
    prepared: Mutex<HashMap<String, CacheEntry>>,
    workers: Arc<Workers>,
}

/// Runs connector methods against stored connections; see the module docs.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
    /// Kept outside `inner` so a long-running host (`plugboard serve`) can give each run its own
    /// cancellation over one shared executor ([`Session::with_run_cancellation`]).
    cancel: Cancellation,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("executor", &self.inner.executor)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session over `store`, sending HTTP on `handle`'s (multi-thread) runtime.
    pub fn new(
        registry: Registry,
        store: Arc<dyn StateStore>,
        config: ExecutorConfig,
        handle: Handle,
    ) -> Result<Self, ExecutorError> {
        Self::with_cancellation(registry, store, config, handle, Cancellation::new())
    }

    /// Like [`Session::new`], with a cancellation the caller already holds (e.g. one its Ctrl-C
    /// handler cancels).
    pub fn with_cancellation(
        registry: Registry,
        store: Arc<dyn StateStore>,
        config: ExecutorConfig,
        handle: Handle,
        cancel: Cancellation,
    ) -> Result<Self, ExecutorError> {
        Ok(Self {
            inner: Arc::new(Inner {
                registry,
                executor: Executor::new(store, config)?,
                handle,
                prepared: Mutex::new(HashMap::new()),
                workers: Arc::new(Workers::default()),
            }),
            cancel,
        })
    }

    /// The session's cancellation: `cancel()` it on Ctrl-C.
    pub fn cancellation(&self) -> &Cancellation {
        &self.cancel
    }

    /// This session (same connectors, executor, limits and caches) with a cancellation of its
    /// own: a service running many runs at once cancels one without touching the others.
    #[must_use]
    pub fn with_run_cancellation(&self, cancel: Cancellation) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            cancel,
        }
    }

    /// The state store.
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.inner.executor.store
    }

    /// The connectors.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The HTTP executor.
    pub fn executor(&self) -> &Executor {
        &self.inner.executor
    }

    /// The runtime handle.
    pub fn handle(&self) -> &Handle {
        &self.inner.handle
    }

    /// Waits for `future` on the session's runtime: how synchronous callers (the CLI, tests)
    /// use the asynchronous [store](Session::store). Like [`Session::call`], call it from a
    /// blocking thread, never from a runtime worker thread (where it panics).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.inner.handle.block_on(future)
    }

    /// Loads a connection, resolves its settings (partner + connection) and prepares its
    /// executor context. A connection missing required settings is an error naming the fields.
    ///
    /// Both are read from the store every time (two reads), so a change another process made
    /// is seen at once; what is built from them is cached while they stay the same. Call it
    /// from a blocking thread, like [`Session::call`].
    pub fn prepare(&self, connection: &str) -> Result<PreparedConnection, ConnectorError> {
        let store = self.store();
        let (record, partner) = self
            .block_on(async {
                let record = store.connection(connection).await.map_err(store_error)?;
                let Some(record) = record else {
                    return Ok(None);
                };
                let partner = store
                    .partner_settings(&record.connector_id)
                    .await
                    .map_err(store_error)?;
                Ok::<_, ConnectorError>(Some((record, partner)))
            })?
            .ok_or_else(|| {
                let state =
                    crate::executor::state_option(self.inner.executor.config.state_file.as_deref())
                        .map(|option| format!(" {option}"))
                        .unwrap_or_default();
                ConnectorError::InvalidInput {
                    message: format!(
                        "there is no connection named `{connection}`; create it with \
                     `plugboard connect <connector> --name {connection}{state}`"
                    ),
                }
            })?;
        let mut cache = self
            .inner
            .prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = cache.get(connection)
            && entry.record == record
            && entry.partner == partner
        {
            return Ok(entry.prepared.clone());
        }
        let connector = self
            .inner
            .registry
            .get(&record.connector_id)
            .cloned()
            .ok_or_else(|| ConnectorError::InvalidInput {
                message: format!(
                    "connection `{connection}` uses connector `{}`, which is not loaded",
                    record.connector_id
                ),
            })?;
        let manifest = connector.manifest();
        let resolved =
            crate::settings::resolve(&manifest.settings_schema, &partner, &record.settings)
                .map_err(|error| ConnectorError::InvalidInput {
                    message: format!("connection `{connection}` is not usable: {error}"),
                })?;
        let visible_settings = settings::without_secrets(&manifest.settings_schema, &resolved);
        let context =
            ConnectionContext::new(manifest, &record, resolved, &self.inner.executor.config)?;
        let prepared = PreparedConnection {
            connector,
            context: Arc::new(context),
            visible_settings,
        };
        cache.insert(
            connection.to_owned(),
            CacheEntry {
                record,
                partner,
                prepared: prepared.clone(),
            },
        );
        Ok(prepared)
    }

    /// Calls `method` of the connection's connector with `input`, streaming records into
    /// `on_record`, and returns the method's output.
    ///
    /// Synchronous and thread-safe. Call it from blocking threads (`spawn_blocking` or plain
    /// threads), never from a runtime worker thread. With a stall timeout the connector runs on a
    /// thread of its own and a hung one is abandoned (see the module docs); `on_record` always
    /// runs on the calling thread, and an error it returns is what the connector's next `emit`
    /// gets (and what the call returns, even if the connector ignores it).
    pub fn call(
        &self,
        connection: &str,
        method: &str,
        input: Value,
        on_record: RecordCallback<'_>,
    ) -> Result<Value, ConnectorError> {
        if self.cancel.is_cancelled() {
            return Err(ConnectorError::Cancelled);
        }
        let prepared = self.prepare(connection)?;
        self.call_prepared(prepared, method, input, on_record)
    }

    /// Like [`Session::call`], for a connection the caller already prepared
    /// ([`Session::prepare`]) for this call: a workflow step prepares its connection once, to
    /// look at its manifest and to call it.
    /// Tests a connection with the connector's declared check ([`plugboard_core::Manifest::check`]):
    /// calls that method with `{}` and keeps nothing of its answer. Returns the method run, or
    /// `None` when the connector declares no check. Call it from a blocking thread.
    pub fn check_prepared(
        &self,
        prepared: PreparedConnection,
    ) -> Result<Option<String>, ConnectorError> {
        let Some(method) = prepared.connector.manifest().check.clone() else {
            return Ok(None);
        };
        self.call_prepared(
            prepared,
            &method,
            Value::Object(Map::new()),
            &mut |_| Ok(()),
        )?;
        Ok(Some(method))
    }

    /// [`Session::check_prepared`] on an installed connection.
    pub fn check(&self, connection: &str) -> Result<Option<String>, ConnectorError> {
        self.check_prepared(self.prepare(connection)?)
    }

    /// Calls `method` on a connection prepared beforehand.
    pub fn call_prepared(
        &self,
        prepared: PreparedConnection,
        method: &str,
        input: Value,
        on_record: RecordCallback<'_>,
    ) -> Result<Value, ConnectorError> {
        if self.cancel.is_cancelled() {
            return Err(ConnectorError::Cancelled);
        }
        // `<id>#find-effect` asks a method that declares it for the effect of a call.
        let declared = match method.strip_suffix(plugboard_core::EFFECT_LOOKUP_SUFFIX) {
            Some(id) => prepared
                .connector
                .manifest()
                .method(id)
                .is_some_and(|descriptor| descriptor.finds_effect),
            None => prepared.connector.manifest().method(method).is_some(),
        };
        if !declared {
            return Err(ConnectorError::UnknownMethod {
                method: method.to_owned(),
            });
        }
        let invocation = Invocation {
            method: method.to_owned(),
            input,
            settings: prepared.visible_settings.clone(),
        };
        let connector_id = prepared.connector.manifest().id.clone();
        let result = match self.inner.executor.config.connector_stall_timeout {
            Some(limit) => self.call_watched(prepared, invocation, on_record, limit),
            // Trusted connectors run inline: no thread, no queue, exactly as fast as a plain call.
            None => self.call_inline(&prepared, &invocation, on_record),
        };
        result.map_err(|error| name_the_culprit(error, &connector_id, method))
    }

    /// Runs the connector on the calling thread, records straight into `on_record`.
    fn call_inline(
        &self,
        prepared: &PreparedConnection,
        invocation: &Invocation,
        on_record: RecordCallback<'_>,
    ) -> Result<Value, ConnectorError> {
        let host = RunnerHost::connected(
            &prepared.context,
            &self.inner.executor,
            &self.inner.handle,
            on_record,
            self.cancel.clone(),
        );
        prepared.connector.connector.invoke(invocation, &host)
    }

    /// Runs the connector on a thread of its own and watches it; see the module docs.
    fn call_watched(
        &self,
        prepared: PreparedConnection,
        invocation: Invocation,
        on_record: RecordCallback<'_>,
        limit: Duration,
    ) -> Result<Value, ConnectorError> {
        let connector_id = prepared.connector.manifest().id.clone();
        let method = invocation.method.clone();
        let (records, events) = sync_channel(RECORD_QUEUE);
        // The result never goes through the bounded record queue: a worker must not block
        // delivering it once it is back on the idle list, or the next call would wait behind it.
        let outcome: Arc<Mutex<Option<Result<Value, ConnectorError>>>> = Arc::default();
        let watch = Arc::new(CallWatch::new());
        let spawned = {
            let session = self.clone();
            let watch = Arc::clone(&watch);
            let outcome = Arc::clone(&outcome);
            // The connector's log lines stay in the caller's tracing context.
            let span = tracing::Span::current();
            self.inner.workers.run(Box::new(move || {
                watch.begin();
                let result = span.in_scope(|| {
                    session.run_watched(&prepared, &invocation, records.clone(), watch)
                });
                *outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                // Run once the worker is back on the idle list, so the caller's next call finds
                // it there: closing the queue tells the caller the outcome is in.
                Box::new(move || drop(records))
            }))
        };
        if let Err(error) = spawned {
            // The job (and with it the connection) is gone; the call fails cleanly.
            return Err(ConnectorError::plugin(format!(
                "connector `{connector_id}` method `{method}`: cannot start a thread to run it: {error}"
            )));
        }
        // However this function ends, the connector's later host calls are refused.
        let _abandon_on_return = AbandonOnDrop(&watch);
        let tick = (limit / 10).clamp(Duration::from_millis(10), LONGEST_TICK);
        let mut refused: Option<ConnectorError> = None;
        loop {
            match events.recv_timeout(tick) {
                Ok(record) => {
                    if refused.is_none()
                        && let Err(error) = on_record(record)
                    {
                        watch.refuse_records(error.clone());
                        refused = Some(error);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let cancelled = self.cancel.is_cancelled();
                    let allowed = if cancelled {
                        limit.min(CANCEL_GRACE)
                    } else {
                        limit
                    };
                    if let Some(outside) = watch.outside_host_for()
                        && outside >= allowed
                        && watch.abandon_if_outside_host()
                    {
                        if cancelled {
                            return Err(ConnectorError::Cancelled);
                        }
                        tracing::warn!(
                            connector = %connector_id,
                            method = %method,
                            "abandoned a connector call that ran {:.1} s without calling the host; its thread keeps running",
                            outside.as_secs_f64()
                        );
                        return Err(ConnectorError::plugin(format!(
                            "connector `{connector_id}` method `{method}` ran {:.1} s without calling \
                             the host (stall timeout {}): it looks hung, so the call was abandoned \
                             (its thread cannot be stopped and is left running)",
                            outside.as_secs_f64(),
                            humanize(limit)
                        )));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let result = outcome.lock().unwrap_or_else(|e| e.into_inner()).take();
                    return match (result, refused) {
                        (Some(Ok(_)), Some(error)) => Err(error),
                        (Some(result), _) => result,
                        (None, _) => Err(ConnectorError::plugin(format!(
                            "connector `{connector_id}` method `{method}`: its thread ended without a result"
                        ))),
                    };
                }
            }
        }
    }

    /// The body of a watched call's thread: invoke with a host whose records go to `records`.
    fn run_watched(
        &self,
        prepared: &PreparedConnection,
        invocation: &Invocation,
        records: std::sync::mpsc::SyncSender<Value>,
        watch: Arc<CallWatch>,
    ) -> Result<Value, ConnectorError> {
        let host = RunnerHost::watched(
            &prepared.context,
            &self.inner.executor,
            &self.inner.handle,
            records,
            watch,
            self.cancel.clone(),
        );
        // A built-in connector's panic becomes the call's error instead of a silent dead thread
        // (a plugin's is already caught at its ABI boundary).
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            prepared.connector.connector.invoke(invocation, &host)
        }))
        .unwrap_or_else(|payload| {
            Err(ConnectorError::plugin(format!(
                "connector `{}` method `{}` panicked: {}",
                prepared.connector.manifest().id,
                invocation.method,
                panic_text(payload.as_ref())
            )))
        })
    }

    /// Sends one request for a connection as a connector would (auth, limits, retries); for
    /// tools and tests.
    pub fn send(
        &self,
        connection: &str,
        request: HttpRequest,
    ) -> Result<HttpResponse, ConnectorError> {
        let prepared = self.prepare(connection)?;
        self.inner.handle.block_on(self.inner.executor.send(
            &prepared.context,
            request,
            &self.cancel,
        ))
    }
}

impl Session {
    /// Refreshes an OAuth2 connection's tokens now, through the refresh protocol (lease,
    /// durable commit before use): proves the grant and the app's credentials still work with
    /// the provider, without calling any API method. Returns when the new access token expires
    /// (seconds since the epoch), when known. Call from a blocking thread.
    pub fn refresh_now(&self, connection: &str) -> Result<Option<i64>, ConnectorError> {
        let prepared = self.prepare(connection)?;
        let executor = &self.inner.executor;
        let context = &prepared.context;
        self.inner.handle.block_on(async {
            let current = executor
                .store
                .tokens(connection)
                .await
                .map_err(crate::executor::store_error)?
                .ok_or_else(|| ConnectorError::Unauthorized {
                    message: format!("connection `{connection}` has no tokens; connect it again"),
                })?;
            let fresh = executor
                .refresh(context, current.version, &self.cancel)
                .await?;
            Ok(fresh.tokens.expires_at)
        })
    }
}

/// A plugin failure says which connector and method misbehaved (the ABI layer only knows it was
/// "the plugin's invoke"); a run with several plugins would otherwise leave people guessing.
fn name_the_culprit(error: ConnectorError, connector_id: &str, method: &str) -> ConnectorError {
    match error {
        ConnectorError::Plugin { message } if !message.starts_with("connector `") => {
            ConnectorError::plugin(format!(
                "connector `{connector_id}` method `{method}`: {message}"
            ))
        }
        other => other,
    }
}

/// Abandons a watched call when its caller stops listening, however that happens.
struct AbandonOnDrop<'a>(&'a CallWatch);

impl Drop for AbandonOnDrop<'_> {
    fn drop(&mut self) {
        self.0.abandon();
    }
}

/// A duration as people write it: `1 s`, `1.5 s`, `250 ms`.
fn humanize(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

/// The text of a panic payload, when it has one.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "a non-text panic payload"
    }
}
