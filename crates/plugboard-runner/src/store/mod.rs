//! The state store: everything the runner keeps between calls and between processes.
//!
//! Connections and their tokens, partner settings, rate-limit state, refresh leases, trigger cursors
//! and the run journal. Cross-process safety comes from the store's transactions, not from
//! in-memory locks (DESIGN.md), so two `plugboard` processes on one machine share one budget per
//! API key and never spend the same rotating refresh token twice.
//!
//! The store is split by role, one trait each, so a component can ask for only what it uses
//! and a backend can be written (and tested) one role at a time:
//! - [`ConnectionStore`]: connections and the partner settings of their apps;
//! - [`TokenStore`]: tokens with their versions, the refresh lease, the needs-reauthorisation mark;
//! - [`LimitStore`]: rate-limit slots and quota counters;
//! - [`RunStore`]: runs, their journal (results, intents, new cursors) and trigger cursors.
//!
//! [`StateStore`] is all four at once, what the executor, a session and the CLI hold (as
//! `Arc<dyn StateStore>`; it upcasts to any role).
//!
//! The methods are `async` (they return a boxed [`StoreFuture`], so the traits stay
//! dyn-compatible without a macro crate): a server backend must not block the runtime's worker
//! threads while it waits for its database. [`SqliteStore`], the embedded default, does its short
//! local work when the future is first polled. Synchronous callers (the CLI, the workflow
//! engine's journal) wait with their runtime's `Handle::block_on`, never on a worker thread.
//!
//! The decisions that coordinate processes are pure functions every backend calls inside its own
//! transaction, with its own clock: [`limiter::decide`] (admit, wait, or quota exhausted) and
//! [`lease::decide`] (acquire, held, taken over from a dead or lapsed holder), and
//! [`call_claim::decide`] (who may send a call that must take effect at most once).

pub mod call_claim;
mod connections;
pub mod lease;
pub mod limiter;
mod limits;
mod liveness;
mod runs;
mod sqlite;
mod tokens;

use std::future::Future;
use std::pin::Pin;

pub use call_claim::CallClaim;
pub(crate) use connections::RedactedKeys;
pub use connections::{ConnectionRecord, ConnectionStore, Endpoints};
pub use limits::{Admission, LimitCharge, LimitStore, SlotTicket};
pub use liveness::{local_host_id, process_is_provably_dead};
pub use runs::{RunClaim, RunId, RunRecord, RunStatus, RunStore};
pub use sqlite::{SCHEMA_VERSION, SqliteStore};
pub use tokens::{CommitOutcome, LeaseHolder, LeaseOutcome, TokenSet, TokenStore, VersionedTokens};

/// What every store method returns: a boxed future of its result, `Send` so it can be awaited
/// anywhere on a multi-thread runtime. Boxing keeps the role traits dyn-compatible.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Every role at once: what the executor, a session and the CLI hold. Implemented for any type
/// that implements the four role traits.
pub trait StateStore: ConnectionStore + TokenStore + LimitStore + RunStore {}

impl<T: ConnectionStore + TokenStore + LimitStore + RunStore + ?Sized> StateStore for T {}

/// A state-store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused an operation.
    #[error("state store error: {0}")]
    Database(rusqlite::Error),
    /// A server backend's own failure (a lost connection, a refused query). Its message must
    /// hold no secret: it reaches users' errors and logs.
    #[error("state store error: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    /// The disk holding the state file is full: nothing more can be stored until space is
    /// freed. A refresh never spends a refresh token it could not store (see `SqliteStore`).
    #[error("the disk holding the state file is full; free some space and run again")]
    DiskFull,
    /// The store file or its folder could not be created or protected.
    #[error("cannot prepare the state store file {path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A stored document is not valid JSON (a damaged or foreign file).
    #[error("the state store holds invalid data in {what}: {source}")]
    Corrupt {
        /// Which value.
        what: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The file was written by a newer plugboard.
    #[error(
        "the state store schema version {found} is newer than this plugboard supports ({supported})"
    )]
    TooNew {
        /// The file's version.
        found: i64,
        /// The newest this build knows.
        supported: i64,
    },
    /// The named thing does not exist.
    #[error("{0} not found in the state store")]
    NotFound(String),
    /// The path given as the state file is not one: a symbolic link, a folder, or a file that
    /// is not an SQLite database. Nothing was changed in it.
    #[error("{path} is not a plugboard state file ({why}); it was left as it is")]
    NotAStateFile {
        /// The path.
        path: std::path::PathBuf,
        /// What it is instead.
        why: &'static str,
    },
    /// The store is open read-only (a read-only file system or file): it can be read, not
    /// changed.
    #[error("the state store {path} is read-only here, and this needs to change it")]
    ReadOnly {
        /// The file.
        path: std::path::PathBuf,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        if error.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            Self::DiskFull
        } else {
            Self::Database(error)
        }
    }
}
