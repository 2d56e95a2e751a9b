//! The embedded state store: one SQLite file in WAL mode, created with mode 0600.
//!
//! - The file (and its `-wal`/`-shm` companions, which SQLite creates with the database file's
//!   mode) is created 0600 before anything is written, because it holds tokens and secrets.
//! - `synchronous=NORMAL` keeps every commit durable across a process crash; the one write that
//!   must also survive a power loss, a rotated refresh token, is committed with `synchronous=FULL`.
//! - Writes that coordinate processes (limits, leases) use `BEGIN IMMEDIATE`, so they take the
//!   write lock before reading and two processes cannot both see the same free slot; inside it,
//!   the shared rules decide ([`limiter`](super::limiter), [`lease`](super::lease)).
//! - The schema is versioned with `PRAGMA user_version`; [`SqliteStore::open`] migrates
//!   ([`schema`]).
//! - Refresh leases and rate-limit slots record their process (pid and
//!   [`local_host_id`](super::local_host_id)): a lease or an in-flight request of a process that
//!   is provably dead on this machine stops blocking others at once, not after a timeout.
//! - The statements every call runs (its connection, partner settings and tokens, re-read so a
//!   change made by another process is seen at once, and the journal write) are prepared once
//!   (`prepare_cached`): parsing them anew was the largest part of a step's own CPU time.
//! - Every method's work is short and local, so it runs when its future is first polled, on
//!   whichever thread polls it; the one connection is behind a mutex.
//!
//! One module per role ([`connections`], [`tokens`], [`limits`], [`runs`]); the file itself, its
//! permissions and the space put aside for refreshed tokens are in [`files`].

mod connections;
mod files;
mod limits;
mod runs;
mod schema;
mod tokens;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use schema::MIGRATIONS;
pub use schema::SCHEMA_VERSION;

use super::{StoreError, StoreFuture};
use files::{
    check_is_state_file, companion, create_private, file_error, is_read_only, lacks_space_to_open,
    tighten_if_present, uri_path,
};

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

/// The embedded [`StateStore`](super::StateStore): one SQLite file shared by every process that
/// opens it.
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::Corrupt {
        what: what.to_owned(),
        source,
    })
}

/// The future of a store method whose work is short and local: `work` runs when it is first
/// polled (not when the method is called, like any future), on the polling thread.
fn run<'a, T: Send + 'a>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'a,
) -> StoreFuture<'a, T> {
    Box::pin(async move { work() })
}

impl SqliteStore {
    /// Opens (creating if needed, 0600) the store at `path` and migrates its schema.
    ///
    /// A path that is not a state file is refused before anything is changed in it: a symbolic
    /// link (writing through it would change a file elsewhere), a folder, or a file that is not
    /// an SQLite database (a mistyped path must not be chmodded or replaced). On a read-only file
    /// system or file, the store opens read-only when its schema is current: listings work,
    /// changes fail with [`StoreError::ReadOnly`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        check_is_state_file(&path)?;
        match Self::open_checked(&path) {
            // SQLite cannot even create its `-wal`/`-shm` files on a full disk: the space put
            // aside for new tokens lets the store open and say so, instead of "disk I/O error".
            Err(error)
                if lacks_space_to_open(&error)
                    && std::fs::remove_file(companion(&path, "-reserve")).is_ok() =>
            {
                tracing::warn!("the disk is full: the space put aside for new tokens is used");
                Self::open_checked(&path)
            }
            other => other,
        }
    }

    fn open_checked(path: &Path) -> Result<Self, StoreError> {
        let path = path.to_owned();
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
            && !parent.exists()
        {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder.create(parent).map_err(|e| file_error(parent, e))?;
        }
        if let Err(error) = create_private(&path) {
            return match error {
                StoreError::File { source, .. } if is_read_only(&source) && path.is_file() => {
                    Self::open_read_only(path)
                }
                other => Err(other),
            };
        }
        let conn = Connection::open(&path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(mode, "the state store could not switch to WAL mode");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let store = Self {
            path,
            conn: Mutex::new(conn),
        };
        store.migrate()?;
        // SQLite creates the companions with the database file's mode; tightening them again
        // covers files left by an older, laxer writer.
        for suffix in ["-wal", "-shm"] {
            tighten_if_present(&companion(&store.path, suffix))?;
        }
        Ok(store)
    }

    /// Opens an existing store that cannot be written here, for reading; its schema must be
    /// current, since migrating would write. It is opened `immutable`: a WAL database cannot
    /// otherwise be read where its `-shm` index cannot be created, and on a read-only file
    /// system nobody can change it meanwhile.
    fn open_read_only(path: PathBuf) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(
            format!("file:{}?immutable=1", uri_path(&path)),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                | rusqlite::OpenFlags::SQLITE_OPEN_URI
                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let found: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if found != SCHEMA_VERSION {
            return Err(StoreError::ReadOnly { path });
        }
        tracing::info!(path = %path.display(), "the state store is read-only here");
        Ok(Self {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// Where the store lives unless told otherwise: `$PLUGBOARD_STATE` if set, else
    /// `$XDG_STATE_HOME/plugboard/state.db`, else `~/.local/state/plugboard/state.db`.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os("PLUGBOARD_STATE").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(path));
        }
        Some(Self::user_state_dir()?.join("state.db"))
    }

    /// This user's directory for plugboard's files: `$XDG_STATE_HOME/plugboard`, else
    /// `~/.local/state/plugboard`, whatever `$PLUGBOARD_STATE` says.
    pub fn user_state_dir() -> Option<PathBuf> {
        let state_home = std::env::var_os("XDG_STATE_HOME")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|p| !p.is_empty())
                    .map(|home| PathBuf::from(home).join(".local").join("state"))
            })?;
        Some(state_home.join("plugboard"))
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .lock()
            .query_row("PRAGMA user_version", [], |row| row.get(0))?)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (transactions roll back
        // on drop), so a poisoned lock is still safe to use.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        let supported = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
        if found > supported {
            return Err(StoreError::TooNew { found, supported });
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", index as i64 + 1)?;
        }
        tx.commit()?;
        Ok(())
    }
}
