//! The state store's conformance suite, the same test code the SQLite store passes (included
//! from plugboard-runner's tests), run against PostgreSQL: each test gets a fresh database on the
//! server `cargo xtask test` started, dropped when the test ends.
//!
//! The suite moves time by hand (`now_ms`), so its handles decide by the caller's clock
//! ([`PostgresStore::deciding_by_caller_clock_for_tests`]); `server_clock.rs` checks the server
//! clock, which every real handle uses.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

#[path = "../../plugboard-runner/tests/store_conformance/suite/mod.rs"]
#[macro_use]
mod suite;

use std::sync::Arc;

use plugboard_runner::{StateStore, StoreError};
use plugboard_store_postgres::{PostgresStore, SCHEMA_VERSION, migrate::VERSION_TABLE};
use suite::Backend;
use support::{KEY_A, TestDatabase, key};

struct Postgres;

impl Backend for Postgres {
    type Database = TestDatabase;

    async fn database(&self) -> TestDatabase {
        TestDatabase::create().await
    }

    async fn open(&self, database: &TestDatabase) -> Result<Arc<dyn StateStore>, StoreError> {
        // A small pool per handle: the suite opens several handles per database and runs its
        // tests in parallel on one server.
        let store = PostgresStore::connect_with(&database.url, key(KEY_A), 4).await?;
        Ok(Arc::new(store.deciding_by_caller_clock_for_tests()))
    }

    async fn pretend_newer_schema(&self, database: &TestDatabase) {
        support::connect_raw(&database.url)
            .await
            .execute(
                &format!(
                    "INSERT INTO {VERSION_TABLE} (version, name, sha256) VALUES ($1, 'future', '')"
                ),
                &[&(SCHEMA_VERSION + 1)],
            )
            .await
            .unwrap();
    }
}

store_conformance_tests!(Postgres);
