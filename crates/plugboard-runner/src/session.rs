//! A session: what the CLI and the workflow engine call to run connector methods.
//!
//! It ties together the registry, the state store, one executor (one `reqwest` client) and a
//! tokio runtime handle, and is cheap to clone and safe to share between threads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use plugboard_core::{ConnectorError, HttpRequest, HttpResponse, Invocation, settings};
use serde_json::{Map, Value};
use tokio::runtime::Handle;

use crate::cancel::Cancellation;
use crate::executor::{ConnectionContext, Executor, ExecutorConfig, ExecutorError, store_error};
use crate::host::{RecordCallback, RunnerHost};
use crate::registry::{RegisteredConnector, Registry};
use crate::store::{ConnectionRecord, StateStore};

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
    cancel: Cancellation,
    prepared: Mutex<HashMap<String, CacheEntry>>,
}

/// Runs connector methods against stored connections; see the module docs.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
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
                cancel,
                prepared: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The session's cancellation: `cancel()` it on Ctrl-C.
    pub fn cancellation(&self) -> &Cancellation {
        &self.inner.cancel
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

    /// Loads a connection, resolves its settings (partner + connection) and prepares its
    /// executor context. A connection missing required settings is an error naming the fields.
    pub fn prepare(&self, connection: &str) -> Result<PreparedConnection, ConnectorError> {
        let store = self.store();
        let record = store
            .connection(connection)
            .map_err(store_error)?
            .ok_or_else(|| ConnectorError::InvalidInput {
                message: format!(
                    "there is no connection named `{connection}`; create it with \
                     `plugboard connect <connector> --name {connection}`"
                ),
            })?;
        let partner = store
            .partner_settings(&record.connector_id)
            .map_err(store_error)?;
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
        let resolved = settings::resolve(&manifest.settings_schema, &partner, &record.settings)
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
    /// threads), never from a runtime worker thread.
    pub fn call(
        &self,
        connection: &str,
        method: &str,
        input: Value,
        on_record: RecordCallback<'_>,
    ) -> Result<Value, ConnectorError> {
        if self.inner.cancel.is_cancelled() {
            return Err(ConnectorError::Cancelled);
        }
        let prepared = self.prepare(connection)?;
        if prepared.connector.manifest().method(method).is_none() {
            return Err(ConnectorError::UnknownMethod {
                method: method.to_owned(),
            });
        }
        let invocation = Invocation {
            method: method.to_owned(),
            input,
            settings: prepared.visible_settings.clone(),
        };
        let host = RunnerHost::connected(
            &prepared.context,
            &self.inner.executor,
            &self.inner.handle,
            on_record,
            self.inner.cancel.clone(),
        );
        prepared.connector.connector.invoke(&invocation, &host)
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
            &self.inner.cancel,
        ))
    }
}
