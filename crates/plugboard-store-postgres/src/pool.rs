//! The connection pool, plain or over TLS as the [`Target`] says.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use rustls_platform_verifier::BuilderVerifierExt as _;
use tokio_postgres::NoTls;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::PgStoreError;
use crate::error::describe;
use crate::target::{Target, Transport};

/// How long a caller waits for a pooled connection to come free.
const WAIT_FOR_A_CONNECTION: Duration = Duration::from_secs(30);

/// Builds the pool; no connection is made yet.
pub(crate) fn build(target: &Target, max_connections: usize) -> Result<Pool, PgStoreError> {
    let manager_config = ManagerConfig {
        // A pooled connection is checked with a round trip before reuse: a server restart or a
        // dropped connection costs a reconnect, not a failed store call.
        recycling_method: RecyclingMethod::Verified,
    };
    let config = target.config().clone();
    let manager = match target.transport() {
        Transport::Plain => Manager::from_config(config, NoTls, manager_config),
        Transport::Tls => Manager::from_config(
            config,
            MakeRustlsConnect::new(tls_config(target)?),
            manager_config,
        ),
    };
    // Creating a connection is bounded by the URL's connect_timeout (a default is always set).
    let create_timeout = target
        .config()
        .get_connect_timeout()
        .map(|timeout| *timeout + Duration::from_secs(5));
    Pool::builder(manager)
        .max_size(max_connections.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(WAIT_FOR_A_CONNECTION))
        .create_timeout(create_timeout)
        .build()
        .map_err(|e| PgStoreError::Pool {
            database: target.label().to_owned(),
            reason: e.to_string(),
        })
}

/// rustls with the ring provider (the workspace's; no process-wide default needed) and the
/// system's trust store.
fn tls_config(target: &Target) -> Result<rustls::ClientConfig, PgStoreError> {
    let tls_error = |e: rustls::Error| PgStoreError::Tls {
        database: target.label().to_owned(),
        reason: e.to_string(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(tls_error)?
    .with_platform_verifier()
    .map_err(tls_error)?
    .with_no_client_auth())
}

/// The first connection, whose failure means the server cannot be used at all.
pub(crate) async fn first_connection(pool: &Pool, target: &Target) -> Result<Object, PgStoreError> {
    pool.get().await.map_err(|e| match e {
        PoolError::Backend(source) => PgStoreError::Unreachable {
            database: target.label().to_owned(),
            reason: describe(&source),
        },
        PoolError::Timeout(_) => PgStoreError::Unreachable {
            database: target.label().to_owned(),
            reason: "no answer in time".into(),
        },
        other => pool_error(target, other),
    })
}

/// A pooled connection.
pub(crate) async fn get(pool: &Pool, target: &Target) -> Result<Object, PgStoreError> {
    pool.get().await.map_err(|e| pool_error(target, e))
}

fn pool_error(target: &Target, error: PoolError) -> PgStoreError {
    let reason = match &error {
        PoolError::Backend(source) => describe(source),
        other => other.to_string(),
    };
    PgStoreError::Pool {
        database: target.label().to_owned(),
        reason,
    }
}
