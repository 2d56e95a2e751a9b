//! Live mode: a connection installed in a throw-away state store, sending through the runner's
//! real executor (auth injection, refresh, limits, retries) to a sandbox or any local server.
//!
//! [`LiveConnection::install`] needs no browser: it stores partner settings, a connection whose
//! endpoints point at the local server, and (for OAuth2 connectors) a token pair the caller minted
//! (a sandbox usually offers a way). [`LiveConnection::host`] is the [`Host`] to run methods
//! through, directly or inside a [`RecordingHost`](crate::RecordingHost); [`LiveConnection::scrubber`]
//! knows every secret the connection holds, for scrubbing what was recorded.

use std::sync::Arc;
use std::time::Duration;

use plugboard_core::{Connector, ConnectorError, Host, HttpRequest, HttpResponse, LogLevel};
use plugboard_runner::{
    ConnectionRecord, ConnectionStore, ConnectorSource, Endpoints, ExecutorConfig, Registry,
    Session, SqliteStore, StoreError, TokenSet, TokenStore,
};
use secrecy::ExposeSecret as _;
use serde_json::{Map, Value};

use crate::KitError;
use crate::scrub::Scrubber;

/// What a live connection is installed with. Its `Debug` shows setting names, never values.
#[derive(Default)]
pub struct LiveSetup {
    /// The connection's name in the throw-away store.
    pub connection: String,
    /// Partner-level settings (e.g. the OAuth app's client id and secret).
    pub partner_settings: Map<String, Value>,
    /// Connection-level settings.
    pub connection_settings: Map<String, Value>,
    /// Where the API (and its OAuth endpoints) live: the local server.
    pub endpoints: Option<Endpoints>,
    /// Tokens to store for the connection (OAuth2 connectors).
    pub tokens: Option<TokenSet>,
    /// The executor's configuration (limits, retries, timeouts).
    pub config: ExecutorConfig,
}

impl std::fmt::Debug for LiveSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSetup")
            .field("connection", &self.connection)
            .field(
                "partner_settings",
                &self.partner_settings.keys().collect::<Vec<_>>(),
            )
            .field(
                "connection_settings",
                &self.connection_settings.keys().collect::<Vec<_>>(),
            )
            .field("endpoints", &self.endpoints)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

/// A connection in its own temporary state store, with a runtime and a [`Session`]; see the
/// module docs. Dropping it stops the runtime and deletes the store.
pub struct LiveConnection {
    session: Option<Session>,
    runtime: Option<tokio::runtime::Runtime>,
    store: Arc<SqliteStore>,
    connector: Arc<dyn Connector>,
    connection: String,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for LiveConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveConnection")
            .field("connector", &self.connector.manifest().id)
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

impl LiveConnection {
    /// Installs `setup` for `connector` in a new temporary store and starts a session on a small
    /// runtime of its own. Call it (and the host's `send`) from a plain thread, not from inside a
    /// tokio runtime.
    pub fn install(connector: Arc<dyn Connector>, setup: LiveSetup) -> Result<Self, KitError> {
        let connector_id = connector.manifest().id.clone();
        let dir = tempfile::tempdir().map_err(|source| KitError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        let store = Arc::new(SqliteStore::open(dir.path().join("state.db")).map_err(live)?);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|source| KitError::Io {
                path: dir.path().to_owned(),
                source,
            })?;
        let connection = if setup.connection.is_empty() {
            "live".to_owned()
        } else {
            setup.connection
        };
        let record = ConnectionRecord {
            name: connection.clone(),
            connector_id: connector_id.clone(),
            settings: setup.connection_settings,
            endpoints: setup.endpoints,
        };
        runtime
            .block_on(async {
                store
                    .set_partner_settings(&connector_id, &setup.partner_settings)
                    .await?;
                store.put_connection(&record).await?;
                if let Some(tokens) = &setup.tokens {
                    store.put_tokens(&connection, tokens).await?;
                }
                Ok::<_, StoreError>(())
            })
            .map_err(live)?;
        let mut registry = Registry::new();
        registry
            .add(connector.clone(), ConnectorSource::BuiltIn)
            .map_err(live)?;
        let session = Session::new(
            registry,
            store.clone(),
            setup.config,
            runtime.handle().clone(),
        )
        .map_err(live)?;
        session.prepare(&connection).map_err(live)?;
        Ok(Self {
            session: Some(session),
            runtime: Some(runtime),
            store,
            connector,
            connection,
            _dir: dir,
        })
    }

    /// The session (for `Session::call` and the rest of the runner's API).
    pub fn session(&self) -> &Session {
        self.session
            .as_ref()
            .expect("the session lives until the connection is dropped")
    }

    /// The connection's name.
    pub fn connection(&self) -> &str {
        &self.connection
    }

    /// The host that sends this connection's requests through the session.
    pub fn host(&self) -> SessionHost<'_> {
        SessionHost {
            session: self.session(),
            connection: &self.connection,
        }
    }

    /// A scrubber that knows every secret of the connection: the values of its secret settings
    /// (partner and connection level) and its current tokens. Call it after recording, so tokens
    /// rotated during the run are known too.
    pub fn scrubber(&self) -> Result<Scrubber, KitError> {
        let schema = &self.connector.manifest().settings_schema;
        let (partner, record, tokens) = self
            .session()
            .block_on(async {
                let partner = self
                    .store
                    .partner_settings(&self.connector.manifest().id)
                    .await?;
                let record = self.store.connection(&self.connection).await?;
                let tokens = self.store.tokens(&self.connection).await?;
                Ok::<_, StoreError>((partner, record, tokens))
            })
            .map_err(live)?;
        let record = record.ok_or_else(|| KitError::Live {
            message: format!("connection `{}` disappeared", self.connection),
        })?;
        let mut scrubber = Scrubber::new()
            .secret_settings(schema, &partner)
            .secret_settings(schema, &record.settings);
        if let Some(stored) = tokens {
            scrubber.add_secret(stored.tokens.access_token.expose_secret());
            if let Some(refresh) = &stored.tokens.refresh_token {
                scrubber.add_secret(refresh.expose_secret());
            }
        }
        Ok(scrubber)
    }
}

impl Drop for LiveConnection {
    fn drop(&mut self) {
        drop(self.session.take());
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

fn live(error: impl std::fmt::Display) -> KitError {
    KitError::Live {
        message: error.to_string(),
    }
}

/// A [`Host`] over a [`Session`] and one connection: `send` goes through the executor (so the
/// request gets credentials, limits and retries), waits are real (and end early on cancellation),
/// `emit` and `log` are accepted (a [`Harness`](crate::Harness) collects them).
#[derive(Debug, Clone, Copy)]
pub struct SessionHost<'a> {
    session: &'a Session,
    connection: &'a str,
}

impl<'a> SessionHost<'a> {
    /// A host sending as `connection` through `session`.
    pub fn new(session: &'a Session, connection: &'a str) -> Self {
        Self {
            session,
            connection,
        }
    }
}

impl Host for SessionHost<'_> {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        self.session.send(self.connection, request)
    }

    fn emit(&self, _record: Value) -> Result<(), ConnectorError> {
        if self.is_cancelled() {
            return Err(ConnectorError::Cancelled);
        }
        Ok(())
    }

    fn log(&self, _level: LogLevel, _message: &str) {}

    fn is_cancelled(&self) -> bool {
        self.session.cancellation().is_cancelled()
    }

    fn sleep(&self, duration: Duration) -> Result<(), ConnectorError> {
        plugboard_core::sleep_unless_cancelled(duration, || self.is_cancelled())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    #[test]
    fn setup_debug_shows_no_secret_values() {
        let mut partner = Map::new();
        partner.insert("client_secret".into(), Value::from("shh-partner-secret"));
        let setup = LiveSetup {
            connection: "c".into(),
            partner_settings: partner,
            tokens: Some(TokenSet {
                access_token: SecretString::from("shh-access-token"),
                refresh_token: None,
                expires_at: None,
                scope: None,
            }),
            ..LiveSetup::default()
        };
        let debug = format!("{setup:?}");
        assert!(debug.contains("client_secret"), "{debug}");
        assert!(!debug.contains("shh-"), "{debug}");
    }
}
