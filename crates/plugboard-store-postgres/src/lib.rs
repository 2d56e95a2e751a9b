//! plugboard's state store on PostgreSQL, for scale-out: many `plugboard` processes on many
//! machines sharing connections, tokens, rate-limit budgets, cursors and run journals.
//!
//! This crate is the groundwork the store's role traits are implemented on: it connects (a pool,
//! TLS to remote servers), migrates the schema under an advisory lock ([`migrate`]), seals
//! secrets with the operator's key ([`crypto`]), and reads the server's clock ([`clock`]), which
//! every lease and limiter decision must use so that machines with skewed clocks agree.
//!
//! [`PostgresStore`] implements the runner's four store roles (`ConnectionStore`, `TokenStore`,
//! `LimitStore`, `RunStore`, one module each), so it is a `StateStore` the CLI can hand a session.
//! The lease and limiter rules are the runner's pure functions (`store::lease`,
//! `store::limiter`), called inside a transaction that holds the rows' locks (`SELECT … FOR
//! UPDATE`) and reads the server's clock ([`decision_clock`]). Everything runs under the tenant
//! [`DEFAULT_TENANT`].
//!
//! The single-machine build never compiles it: only a binary that asks for it links it.
//!
//! # Tests
//! Its tests need a PostgreSQL server and fail (never skip) without one: `cargo xtask test` starts
//! a throwaway server and passes its URL in `PLUGBOARD_TEST_POSTGRES_URL`.
#![forbid(unsafe_code)]

pub mod clock;
mod connections;
pub mod crypto;
pub mod decision_clock;
mod error;
mod limits;
pub mod migrate;
mod pool;
mod refresh;
mod role_error;
mod runs;
mod secret_keys;
mod target;
mod tokens;

use std::fmt;

pub use crypto::{SECRET_KEY_VAR, SecretKey};
pub use decision_clock::DecisionClock;
pub use error::PgStoreError;
pub use migrate::{MigrationReport, SCHEMA_VERSION};
pub use target::{Target, Transport};
pub use tokens::StoredTokens;

/// The tenant of the single-machine path and of a service without tenants (created by the first
/// migration).
pub const DEFAULT_TENANT: &str = "default";

/// How many connections one store keeps open at most, unless told otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// An open PostgreSQL store: a connection pool to a migrated database whose secrets this store's
/// key opens.
pub struct PostgresStore {
    pool: deadpool_postgres::Pool,
    target: Target,
    key: SecretKey,
    migration: MigrationReport,
    clock: DecisionClock,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("database", &self.target.label())
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url`, applies pending migrations and checks that `key` is the one the
    /// database's secrets are sealed with (recording it when the database has none yet).
    ///
    /// Refused, with nothing written: an unreachable server or a refused login
    /// ([`PgStoreError::Unreachable`], naming `host:port/database`, never the password), a
    /// database of a newer schema ([`PgStoreError::TooNew`]), another key
    /// ([`PgStoreError::WrongKey`]).
    pub async fn connect(url: &str, key: SecretKey) -> Result<Self, PgStoreError> {
        Self::connect_with(url, key, DEFAULT_MAX_CONNECTIONS).await
    }

    /// [`PostgresStore::connect`] with at most `max_connections` open connections.
    pub async fn connect_with(
        url: &str,
        key: SecretKey,
        max_connections: usize,
    ) -> Result<Self, PgStoreError> {
        let target = Target::parse(url)?;
        let pool = pool::build(&target, max_connections)?;
        let mut client = pool::first_connection(&pool, &target).await?;
        let migration = migrate::migrate(&mut client, target.label()).await?;
        secret_keys::check_or_record(&mut client, &key, target.label()).await?;
        drop(client);
        Ok(Self {
            pool,
            target,
            key,
            migration,
            clock: DecisionClock::Server,
        })
    }

    /// The same store deciding leases and rate limits by the `now_ms` each call passes instead of
    /// the server's clock: for the shared conformance suite, which moves time by hand. Never for
    /// processes that share a database (see [`decision_clock`]).
    #[doc(hidden)]
    pub fn deciding_by_caller_clock_for_tests(mut self) -> Self {
        self.clock = DecisionClock::Caller;
        self
    }

    /// The clock leases and rate limits are decided by.
    pub fn decision_clock(&self) -> DecisionClock {
        self.clock
    }

    /// Where it is connected, as `host:port/database`.
    pub fn database(&self) -> &str {
        self.target.label()
    }

    /// What the migration at open did.
    pub fn migration(&self) -> &MigrationReport {
        &self.migration
    }

    /// The key's id (never the key).
    pub fn key_id(&self) -> &str {
        self.key.id()
    }

    /// The server's clock, in milliseconds since the Unix epoch (see [`clock`]).
    pub async fn server_now_ms(&self) -> Result<i64, PgStoreError> {
        let client = self.client().await?;
        clock::server_now_ms(&client, self.database()).await
    }

    /// The server's clock, in microseconds since the Unix epoch (the limiter's unit).
    pub async fn server_now_us(&self) -> Result<i64, PgStoreError> {
        let client = self.client().await?;
        clock::server_now_us(&client, self.database()).await
    }

    /// A pooled connection: for the service's records (`plugboard-service`), which live in the
    /// same database and share the pool.
    pub async fn client(&self) -> Result<deadpool_postgres::Object, PgStoreError> {
        pool::get(&self.pool, &self.target).await
    }

    /// Seals a UTF-8 secret for `slot` with this store's key.
    pub fn seal(
        &self,
        slot: &crypto::SecretSlot<'_>,
        plaintext: &str,
    ) -> Result<String, PgStoreError> {
        Ok(self.key.seal_str(slot, plaintext)?)
    }

    /// Opens a value [`PostgresStore::seal`] sealed for `slot`; a wrong key or a value moved from
    /// another row is an error naming the slot, never the value.
    pub fn open(
        &self,
        slot: &crypto::SecretSlot<'_>,
        sealed: &str,
    ) -> Result<secrecy::SecretString, PgStoreError> {
        self.key
            .open_string(slot, sealed)
            .map_err(|e| PgStoreError::secret(self.database(), slot, e))
    }

    /// A `Database` error for this store, saying what it was `doing`.
    pub fn failed(
        &self,
        doing: &'static str,
    ) -> impl FnOnce(tokio_postgres::Error) -> PgStoreError + '_ {
        move |source| PgStoreError::Database {
            database: self.target.label().to_owned(),
            doing,
            source,
        }
    }
}
