//! The service's records in PostgreSQL (`plugboard serve --state postgres://…`), so several
//! service processes, on several machines, serve one vendor from one database.
//!
//! [`PgServiceStore`] implements every store trait of the service ([`crate::ServiceStore`] with
//! its installs and page sessions, [`crate::WorkflowStore`], [`crate::ScheduleStore`]) on the
//! tables of migration 0005 (`plugboard-store-postgres/migrations/0005_service.sql`), through the
//! runner's [`PostgresStore`]: one pool, one schema version, one secret key. The statements are
//! the SQLite ones', one module per trait; what PostgreSQL changes:
//! - secrets the SQLite file keeps beside the tokens (a pending install's PKCE verifier and
//!   settings, a schedule's inputs) are sealed with `PLUGBOARD_SECRET_KEY`, bound to their row;
//! - read-then-write steps lock the row they depend on (`FOR UPDATE`), since other processes
//!   write the same rows at the same time;
//! - times are the caller's clock, as on SQLite: they are expiries and fire times a second of
//!   skew does not change, and every one-time step is a single statement or a compare-and-set,
//!   never a decision by time.

mod installs;
mod pages;
mod schedules;
mod tenants;
mod workflows;

use std::future::Future;
use std::sync::Arc;

use plugboard_store_postgres::crypto::{SecretColumn, SecretSlot};
use plugboard_store_postgres::{PgStoreError, PostgresStore};
use secrecy::ExposeSecret as _;

use crate::store::{StoreError, StoreFuture};

/// The service's stores on the runner's PostgreSQL database.
#[derive(Clone)]
pub struct PgServiceStore {
    store: Arc<PostgresStore>,
}

impl PgServiceStore {
    /// The service's records in the database `store` is connected to (migrated by it).
    pub fn new(store: Arc<PostgresStore>) -> Self {
        Self { store }
    }

    /// Boxes `work` as a [`StoreFuture`], turning the store's errors into [`StoreError`].
    fn using<'a, T, F>(&'a self, work: impl FnOnce(&'a PostgresStore) -> F) -> StoreFuture<'a, T>
    where
        F: Future<Output = Result<T, PgStoreError>> + Send + 'a,
    {
        let work = work(&self.store);
        Box::pin(async move { work.await.map_err(StoreError::from) })
    }
}

/// A statement's parameters.
type Params<'a> = &'a [&'a (dyn tokio_postgres::types::ToSql + Sync)];

/// Runs one statement on a pooled connection, saying what it was `doing` if it fails: every
/// read and single-statement write of these stores (transactions use the client directly).
async fn query(
    store: &PostgresStore,
    doing: &'static str,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<tokio_postgres::Row>, PgStoreError> {
    let client = store.client().await?;
    client.query(sql, params).await.map_err(store.failed(doing))
}

/// [`query`] for at most one row.
async fn query_opt(
    store: &PostgresStore,
    doing: &'static str,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<tokio_postgres::Row>, PgStoreError> {
    let client = store.client().await?;
    client
        .query_opt(sql, params)
        .await
        .map_err(store.failed(doing))
}

/// [`query`] for exactly one row.
async fn query_one(
    store: &PostgresStore,
    doing: &'static str,
    sql: &str,
    params: Params<'_>,
) -> Result<tokio_postgres::Row, PgStoreError> {
    let client = store.client().await?;
    client
        .query_one(sql, params)
        .await
        .map_err(store.failed(doing))
}

/// [`query`] for a statement that returns no rows: how many it changed.
async fn execute(
    store: &PostgresStore,
    doing: &'static str,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, PgStoreError> {
    let client = store.client().await?;
    client
        .execute(sql, params)
        .await
        .map_err(store.failed(doing))
}

/// Seals `plaintext` for `column` of the row `row` of `tenant`.
fn seal(
    store: &PostgresStore,
    column: SecretColumn,
    tenant: &str,
    row: &str,
    plaintext: &str,
) -> Result<String, plugboard_store_postgres::PgStoreError> {
    store.seal(
        &SecretSlot {
            column,
            tenant,
            row,
        },
        plaintext,
    )
}

/// Opens what [`seal`] sealed for the same slot.
fn open(
    store: &PostgresStore,
    column: SecretColumn,
    tenant: &str,
    row: &str,
    sealed: &str,
) -> Result<String, PgStoreError> {
    let slot = SecretSlot {
        column,
        tenant,
        row,
    };
    Ok(store.open(&slot, sealed)?.expose_secret().to_owned())
}
