//! The state store: everything the runner keeps between calls and between processes.
//!
//! Connections and their tokens, partner settings, rate-limit state, refresh leases, trigger cursors
//! and the run journal. Cross-process safety comes from the store's transactions, not from
//! in-memory locks (DESIGN.md), so two `plugboard` processes on one machine share one budget per
//! API key and never spend the same rotating refresh token twice.
//!
//! [`StateStore`] is synchronous and object-safe: callers are blocking threads (connector calls)
//! or short sections of the executor, and a server backend (planned for scale-out) can implement
//! the same trait over a database client. [`SqliteStore`] is the embedded default.

mod liveness;
mod sqlite;

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use liveness::local_host_id;
pub(crate) use liveness::process_is_provably_dead;
pub use sqlite::{SCHEMA_VERSION, SqliteStore};

/// The API endpoints of one connection: the manifest's, or a sandbox's when overridden.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// The API root request paths are relative to.
    pub base_url: String,
    /// Where users grant access (OAuth2), if the auth scheme has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    /// Where codes and refresh tokens are exchanged (OAuth2), if the auth scheme has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
}

/// An installed connection: which connector, with which connection-level settings.
#[derive(Clone, PartialEq)]
pub struct ConnectionRecord {
    /// The connection's name, unique in the store (what workflows and `--name` refer to).
    pub name: String,
    /// The connector id, e.g. `constant-contact`.
    pub connector_id: String,
    /// Connection-level settings; may hold secrets, so `Debug` shows only the field names.
    pub settings: Map<String, Value>,
    /// Endpoint overrides (the sandbox); `None` uses the manifest's.
    pub endpoints: Option<Endpoints>,
}

impl fmt::Debug for ConnectionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionRecord")
            .field("name", &self.name)
            .field("connector_id", &self.connector_id)
            .field("settings", &RedactedKeys(&self.settings))
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

/// Shows a settings map as its field names only.
pub(crate) struct RedactedKeys<'a>(pub(crate) &'a Map<String, Value>);

impl fmt::Debug for RedactedKeys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "[redacted]")))
            .finish()
    }
}

/// A connection's OAuth2 tokens. The tokens are `SecretString`s, so `Debug` never shows them.
#[derive(Clone, Debug)]
pub struct TokenSet {
    /// The bearer token sent with API requests.
    pub access_token: SecretString,
    /// The token that buys a new access token; single-use when the API rotates it.
    pub refresh_token: Option<SecretString>,
    /// When the access token expires, in seconds since the Unix epoch, when known.
    pub expires_at: Option<i64>,
    /// The scopes granted, space-separated, when the server said.
    pub scope: Option<String>,
}

impl PartialEq for TokenSet {
    fn eq(&self, other: &Self) -> bool {
        self.access_token.expose_secret() == other.access_token.expose_secret()
            && self.refresh_token.as_ref().map(ExposeSecret::expose_secret)
                == other
                    .refresh_token
                    .as_ref()
                    .map(ExposeSecret::expose_secret)
            && self.expires_at == other.expires_at
            && self.scope == other.scope
    }
}

/// A [`TokenSet`] with its version: every write of a connection's tokens increments it, so a
/// process that waited for someone else's refresh can tell that the tokens changed.
#[derive(Clone, Debug, PartialEq)]
pub struct VersionedTokens {
    /// The tokens.
    pub tokens: TokenSet,
    /// Starts at 1 and grows by one with every write.
    pub version: i64,
    /// Why the connection must be authorised again, once the token endpoint refused its refresh
    /// token: kept, so every process and `plugboard connections` say so at once instead of
    /// spending token requests on a dead grant. Cleared by new tokens.
    pub needs_reauth: Option<String>,
    /// When these tokens were stored (ms since the epoch): with `expires_at`, their lifetime, so
    /// a refresh comes a fraction of it early, not a fixed time that may exceed it.
    pub stored_at_ms: Option<i64>,
}

/// Who holds (or asks for) a refresh lease: enough for another process to tell that the holder
/// died, so a lease left by a killed process is taken over at once instead of after it lapses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// Unique per executor: only the holder that took a lease commits or releases it.
    pub id: String,
    /// The holder's process id; meaningful only where [`LeaseHolder::host`] matches ours.
    pub pid: u32,
    /// Which process table `pid` belongs to (see [`local_host_id`]); pids on another machine or
    /// in another pid namespace say nothing about our processes.
    pub host: String,
}

impl LeaseHolder {
    /// A holder named `id` in this process, on this machine.
    pub fn this_process(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            pid: std::process::id(),
            host: local_host_id().to_owned(),
        }
    }

    /// True only when the holder ran on this machine (same [`local_host_id`]) and its process no
    /// longer exists (or is a zombie). Anything uncertain (another machine, a reused pid, no
    /// permission to ask, a non-unix system) counts as alive: the lease then lapses by time.
    pub fn is_provably_dead(&self) -> bool {
        process_is_provably_dead(self.pid, &self.host)
    }

    /// The host name part of [`LeaseHolder::host`], for messages.
    pub fn host_name(&self) -> &str {
        self.host.split('/').next().unwrap_or_default()
    }
}

/// The answer to a refresh-lease request.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaseOutcome {
    /// The caller holds the lease until `until_ms` and may call the token endpoint.
    Acquired {
        /// Token version when the lease was taken; the refresh must start from it.
        version: i64,
        /// When the lease lapses (ms since the epoch) if never released.
        until_ms: i64,
        /// The holder whose unexpired lease was taken over because its process is dead (worth
        /// a log line: it may have spent the refresh token before dying).
        took_over: Option<LeaseHolder>,
    },
    /// Someone else holds it; wait for the version to change.
    Held {
        /// The current token version.
        version: i64,
        /// Who holds it, when known (a lease taken by an older plugboard records no process).
        holder: Option<LeaseHolder>,
        /// When it lapses (ms since the epoch) unless released first.
        until_ms: i64,
    },
    /// The connection has no tokens to refresh.
    NoTokens,
}

/// What [`StateStore::commit_refresh`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum CommitOutcome {
    /// The new tokens are stored under this version (and the lease released).
    Committed(i64),
    /// The version moved while we refreshed (our lease had lapsed): the stored tokens win.
    Conflict(VersionedTokens),
    /// The connection was deleted while we refreshed; nothing was written.
    Gone,
}

/// One rate limit to charge for a request, already resolved to its key.
#[derive(Debug, Clone, PartialEq)]
pub enum LimitCharge {
    /// A rolling limit: at most `limit` requests in any `window_us`, as seen by the server.
    ///
    /// Two rules apply together. GCRA spacing: requests are at least `interval_us` apart (the
    /// theoretical arrival time is persisted). The window guard: a request is sent no earlier than
    /// `window_us` after the moment the `limit`-th previous request was known to be over (its
    /// response arrived), which is the latest the server can have counted it; so network delay
    /// on one request cannot squeeze `limit + 1` arrivals into one window.
    Rolling {
        /// The budget's key (connector, limit and scope value; never a raw secret).
        key: String,
        /// Requests allowed per window.
        limit: u64,
        /// The window, with the safety margin applied, in microseconds.
        window_us: i64,
        /// The GCRA emission interval (window / limit), in microseconds.
        interval_us: i64,
        /// How long an unfinished request (no completion recorded) still counts as in flight;
        /// after that (its process died) its send time is used.
        inflight_cap_us: i64,
    },
    /// A calendar window counter (e.g. a daily quota reset at 00:00 UTC).
    Counter {
        /// The budget's key.
        key: String,
        /// Start of the current window, ms since the epoch.
        window_start_ms: i64,
        /// When the window ends and the budget returns, ms since the epoch.
        window_end_ms: i64,
        /// Requests allowed per window.
        limit: u64,
    },
}

/// A slot taken in a rolling budget; report the request's end with [`StateStore::complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotTicket {
    /// The budget's key.
    pub key: String,
    /// The slot's sequence number in that budget.
    pub seq: i64,
}

/// The limiter's answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Every budget was charged: send now, then report completion of the tickets.
    Granted {
        /// The rolling slots taken.
        tickets: Vec<SlotTicket>,
    },
    /// Not yet: nothing was charged; ask again after `wait_us` microseconds.
    Wait {
        /// How long until a slot may be free.
        wait_us: i64,
    },
    /// A counter is used up until `resets_at_ms`; nothing was charged.
    Exhausted {
        /// When the exhausted window ends, ms since the epoch.
        resets_at_ms: i64,
    },
}

/// A run's identifier in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for RunId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(RunId)
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not finished.
    Running,
    /// Marked running by a process that is provably dead (killed, or its machine restarted):
    /// never stored, reported in its place so nobody waits for a run nothing is running.
    Interrupted,
    /// Finished without error.
    Completed,
    /// Stopped by an error; may be resumed.
    Failed,
    /// Stopped by the user; may be resumed.
    Cancelled,
}

impl RunStatus {
    /// The status as stored and shown (`running`, `interrupted`, `completed`, `failed`,
    /// `cancelled`), in the words a run's events use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Interrupted => "interrupted",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(text: &str) -> Self {
        match text {
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => Self::Running,
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run as the journal knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's id.
    pub id: RunId,
    /// The workflow (its path or name, as the caller recorded it).
    pub workflow: String,
    /// What identifies the workflow's content (the caller's digest of what a resume must not
    /// change); `None` for runs recorded before schema version 5.
    pub workflow_digest: Option<String>,
    /// The run's inputs.
    pub inputs: Value,
    /// Where it stands.
    pub status: RunStatus,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// When it started, ms since the epoch.
    pub started_at_ms: i64,
    /// When it finished, ms since the epoch.
    pub finished_at_ms: Option<i64>,
}

/// The answer to [`StateStore::claim_run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunClaim {
    /// This process now owns the run. `elsewhere` names the machine of a previous owner marked
    /// running there, whose liveness cannot be checked from here.
    Claimed {
        /// The host name of a previous owner on another machine, if any.
        elsewhere: Option<String>,
    },
    /// A live process on this machine is running it.
    Busy {
        /// That process's id.
        pid: u32,
    },
    /// It completed; there is nothing to resume.
    Completed,
    /// There is no such run.
    Unknown,
}

/// A state-store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused an operation.
    #[error("state store error: {0}")]
    Database(rusqlite::Error),
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

/// Everything the runner persists, behind one object-safe, synchronous trait.
///
/// Implementations must make each method atomic and safe to call concurrently from many threads
/// and processes: the refresh lease and the rate-limit reservations are the cross-process locks.
pub trait StateStore: Send + Sync + fmt::Debug {
    /// Partner-level settings of a connector (empty when none were saved).
    fn partner_settings(&self, connector_id: &str) -> Result<Map<String, Value>, StoreError>;
    /// Replaces the partner-level settings of a connector.
    fn set_partner_settings(
        &self,
        connector_id: &str,
        settings: &Map<String, Value>,
    ) -> Result<(), StoreError>;

    /// The connection with this name.
    fn connection(&self, name: &str) -> Result<Option<ConnectionRecord>, StoreError>;
    /// Every connection, by name.
    fn connections(&self) -> Result<Vec<ConnectionRecord>, StoreError>;
    /// Creates or replaces a connection (its tokens are kept).
    fn put_connection(&self, connection: &ConnectionRecord) -> Result<(), StoreError>;
    /// Removes a connection and its tokens; `false` when there was none.
    fn delete_connection(&self, name: &str) -> Result<bool, StoreError>;

    /// The connection's tokens and their version.
    fn tokens(&self, connection: &str) -> Result<Option<VersionedTokens>, StoreError>;
    /// Stores tokens unconditionally (a fresh authorization); returns the new version.
    fn put_tokens(&self, connection: &str, tokens: &TokenSet) -> Result<i64, StoreError>;

    /// Takes the connection's refresh lease for `holder` unless another holder's lease is still
    /// running at `now_ms` and that holder is not provably dead
    /// ([`LeaseHolder::is_provably_dead`]). The check and the takeover are one transaction, so
    /// of many waiters for a dead holder exactly one takes its lease over.
    fn acquire_refresh_lease(
        &self,
        connection: &str,
        holder: &LeaseHolder,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<LeaseOutcome, StoreError>;
    /// In one transaction: stores the refreshed tokens if the version is still
    /// `expected_version`, bumps the version and releases the lease of the holder with id
    /// `holder`.
    fn commit_refresh(
        &self,
        connection: &str,
        holder: &str,
        expected_version: i64,
        tokens: &TokenSet,
    ) -> Result<CommitOutcome, StoreError>;
    /// Extends the refresh lease of the holder with id `holder` to `now_ms + lease_ms`, provided
    /// it still holds it and the tokens are still at `expected_version`; `false` otherwise.
    /// Called right before the refresh token is sent: a lease that lapsed during a long wait
    /// (a throttled token endpoint, a suspended machine) may have passed to another process
    /// that is sending the same single-use refresh token, and must not be acted on.
    fn renew_refresh_lease(
        &self,
        connection: &str,
        holder: &str,
        expected_version: i64,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Marks the connection as needing a new authorization (why: `reason`) and releases the
    /// lease of `holder`, unless its tokens moved past `version` meanwhile (someone
    /// reconnected or refreshed).
    fn mark_needs_reauth(
        &self,
        connection: &str,
        holder: &str,
        version: i64,
        reason: &str,
    ) -> Result<(), StoreError>;
    /// Releases the lease of the holder with id `holder` (after a failed refresh).
    fn release_refresh_lease(&self, connection: &str, holder: &str) -> Result<(), StoreError>;

    /// Charges every limit for one request about to be sent at `now_ms`, atomically across
    /// processes: either all are charged, or none (and the answer says how long to wait or when
    /// a used-up quota resets).
    fn acquire(&self, charges: &[LimitCharge], now_ms: i64) -> Result<Admission, StoreError>;
    /// Records that the requests holding `tickets` were over (answered or abandoned) at
    /// `done_ms`, the latest moment the server can have counted them.
    fn complete(&self, tickets: &[SlotTicket], done_ms: i64) -> Result<(), StoreError>;
    /// Marks a counter window as used up (the API said so before our count did).
    fn exhaust(&self, key: &str, window_start_ms: i64, limit: u64) -> Result<(), StoreError>;

    /// A trigger's cursor.
    fn cursor(&self, key: &str) -> Result<Option<Value>, StoreError>;
    /// Saves a trigger's cursor.
    fn set_cursor(&self, key: &str, value: &Value) -> Result<(), StoreError>;

    /// Starts a run in the journal: the workflow's path or name, the digest of its content that
    /// a resume must match (see [`RunRecord::workflow_digest`]) and the run's inputs.
    fn create_run(&self, workflow: &str, digest: &str, inputs: &Value)
    -> Result<RunId, StoreError>;
    /// Replaces a run's inputs: a resume that corrects an input no completed step used.
    fn set_run_inputs(&self, run: RunId, inputs: &Value) -> Result<(), StoreError>;
    /// Records a completed step's result under `key` (replacing an earlier one with that key).
    fn record_step(&self, run: RunId, key: &str, output: &Value) -> Result<(), StoreError>;
    /// The completed steps of a run, in the order they were recorded.
    fn completed_steps(&self, run: RunId) -> Result<Vec<(String, Value)>, StoreError>;
    /// Takes run `run` over for this process, to resume it: in one transaction, refused when
    /// the run completed or is still running in a live process on this machine (resuming it then
    /// would send its remaining calls twice); otherwise the run is running again, owned by this
    /// process.
    fn claim_run(&self, run: RunId) -> Result<RunClaim, StoreError>;
    /// Marks a run finished (or back to running, when resumed).
    fn finish_run(
        &self,
        run: RunId,
        status: RunStatus,
        error: Option<&str>,
    ) -> Result<(), StoreError>;
    /// One run.
    fn run(&self, id: RunId) -> Result<Option<RunRecord>, StoreError>;
    /// Every run, newest first.
    fn runs(&self) -> Result<Vec<RunRecord>, StoreError>;
}
