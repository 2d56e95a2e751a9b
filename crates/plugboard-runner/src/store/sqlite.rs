//! The embedded state store: one SQLite file in WAL mode, created with mode 0600.
//!
//! - The file (and its `-wal`/`-shm` companions, which SQLite creates with the database file's
//!   mode) is created 0600 before anything is written, because it holds tokens and secrets.
//! - `synchronous=NORMAL` keeps every commit durable across a process crash; the one write that
//!   must also survive a power loss, a rotated refresh token, is committed with `synchronous=FULL`.
//! - Writes that coordinate processes (limits, leases) use `BEGIN IMMEDIATE`, so they take the
//!   write lock before reading and two processes cannot both see the same free slot.
//! - The schema is versioned with `PRAGMA user_version`; [`SqliteStore::open`] migrates.
//! - Refresh leases and rate-limit slots record their process (pid and
//!   [`local_host_id`](super::local_host_id)): a lease or an in-flight request of a process that
//!   is provably dead on this machine stops blocking others at once, not after a timeout.
//! - The statements every call runs (its connection, partner settings and tokens, re-read so a
//!   change made by another process is seen at once, and the journal write) are prepared once
//!   (`prepare_cached`): parsing them anew was the largest part of a step's own CPU time.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use super::{
    Admission, CommitOutcome, ConnectionRecord, Endpoints, LeaseHolder, LeaseOutcome, LimitCharge,
    RunClaim, RunId, RunRecord, RunStatus, SlotTicket, StateStore, StoreError, TokenSet,
    VersionedTokens, local_host_id, process_is_provably_dead,
};
use crate::clock::system_now_ms;

/// The schema version this build writes; older files are migrated on open.
pub const SCHEMA_VERSION: i64 = 5;

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

const MIGRATIONS: &[&str] = &[
    // Version 1.
    r"
    CREATE TABLE partner_settings (
        connector_id TEXT PRIMARY KEY,
        settings     TEXT NOT NULL
    );
    CREATE TABLE connections (
        name         TEXT PRIMARY KEY,
        connector_id TEXT NOT NULL,
        settings     TEXT NOT NULL,
        endpoints    TEXT,
        created_at   INTEGER NOT NULL
    );
    CREATE TABLE tokens (
        connection    TEXT PRIMARY KEY,
        access_token  TEXT NOT NULL,
        refresh_token TEXT,
        expires_at    INTEGER,
        scope         TEXT,
        version       INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        lease_holder  TEXT,
        lease_until   INTEGER
    );
    CREATE TABLE rate_spacing (
        key    TEXT PRIMARY KEY,
        tat_us INTEGER NOT NULL
    );
    CREATE TABLE rate_slots (
        key     TEXT NOT NULL,
        seq     INTEGER NOT NULL,
        sent_us INTEGER NOT NULL,
        done_us INTEGER,
        PRIMARY KEY (key, seq)
    );
    CREATE TABLE rate_counters (
        key          TEXT PRIMARY KEY,
        window_start INTEGER NOT NULL,
        used         INTEGER NOT NULL
    );
    CREATE TABLE cursors (
        key        TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        workflow    TEXT NOT NULL,
        inputs      TEXT NOT NULL,
        status      TEXT NOT NULL,
        error       TEXT,
        started_at  INTEGER NOT NULL,
        finished_at INTEGER
    );
    CREATE TABLE run_steps (
        run_id      INTEGER NOT NULL,
        key         TEXT NOT NULL,
        output      TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        recorded_at INTEGER NOT NULL,
        PRIMARY KEY (run_id, key)
    );
    -- The next `seq` of a run is MAX(seq) + 1: without this index every journal write would scan
    -- the run's entries, and a 10,000-item run would slow down quadratically.
    CREATE INDEX run_steps_by_seq ON run_steps (run_id, seq);
    ",
    // Version 2: the refresh lease's process (its pid and `local_host_id`), so a waiter on the
    // same machine can take over the lease of a holder that died instead of waiting for it to
    // lapse. `lease_process_of` names the holder id the two were written for: a plugboard from
    // before version 2 that is still running sets `lease_holder` alone, and must not inherit the
    // pid of an earlier (dead) holder.
    r"
    ALTER TABLE tokens ADD COLUMN lease_pid INTEGER;
    ALTER TABLE tokens ADD COLUMN lease_host TEXT;
    ALTER TABLE tokens ADD COLUMN lease_process_of TEXT;
    -- Likewise the process that sent a rate-limited request: a request left in flight by a
    -- killed process is over (it can send nothing more), instead of blocking its budget for
    -- the in-flight cap (the request timeout; a minute by default). For a token endpoint
    -- limited to one request per second, that minute would follow every lease takeover.
    ALTER TABLE rate_slots ADD COLUMN sender_pid INTEGER;
    ALTER TABLE rate_slots ADD COLUMN sender_host TEXT;
    ",
    // Version 3: why a connection needs a new authorization (its refresh token was refused),
    // so nobody presents the dead grant again and `plugboard connections` can say so.
    r"
    ALTER TABLE tokens ADD COLUMN reauth_reason TEXT;
    ",
    // Version 4: the process running a run (pid and `local_host_id`), so a second process
    // cannot resume it while it still runs and send its remaining calls twice.
    r"
    ALTER TABLE runs ADD COLUMN owner_pid INTEGER;
    ALTER TABLE runs ADD COLUMN owner_host TEXT;
    ",
    // Version 5: a digest of the workflow's content, so a run is recognised whatever path names
    // its file and a resume notices changed steps; and a finished run is `completed`, the word
    // its events use.
    r"
    ALTER TABLE runs ADD COLUMN workflow_digest TEXT;
    UPDATE runs SET status = 'completed' WHERE status = 'succeeded';
    ",
];

// `SCHEMA_VERSION` is the number of migrations; a new one must bump it.
const _: () = assert!(MIGRATIONS.len() as i64 == SCHEMA_VERSION);

/// The SQL assignments that clear a connection's refresh lease (every lease column); a macro so
/// the statements that use it stay `&'static str`s.
macro_rules! no_lease {
    () => {
        "lease_holder = NULL, lease_until = NULL, lease_pid = NULL, lease_host = NULL, \
         lease_process_of = NULL"
    };
}

/// The embedded [`StateStore`]: one SQLite file shared by every process that opens it.
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

fn file_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::File {
        path: path.to_owned(),
        source,
    }
}

/// Creates `path` with mode 0600 if missing, and tightens it to 0600 if it exists.
fn create_private(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| file_error(path, e))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| file_error(path, e))?;
    }
    #[cfg(not(unix))]
    {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| file_error(path, e))?;
    }
    Ok(())
}

/// What SQLite writes at the start of every database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Refuses a path that exists and is not a state file, without changing it.
fn check_is_state_file(path: &Path) -> Result<(), StoreError> {
    let refuse = |why| {
        Err(StoreError::NotAStateFile {
            path: path.to_owned(),
            why,
        })
    };
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(file_error(path, error)),
    };
    if metadata.file_type().is_symlink() {
        return refuse("a symbolic link; give the path of the file itself");
    }
    if metadata.is_dir() {
        return refuse("a folder");
    }
    if !metadata.is_file() {
        return refuse("not a regular file");
    }
    if metadata.len() == 0 {
        // An empty file is a new database to SQLite (e.g. one made with `touch`).
        return Ok(());
    }
    let mut header = [0u8; 16];
    let read = std::fs::File::open(path)
        .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut header));
    match read {
        Ok(()) if &header == SQLITE_HEADER => Ok(()),
        Ok(()) => refuse("not an SQLite database"),
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            refuse("not an SQLite database")
        }
        Err(error) => Err(file_error(path, error)),
    }
}

/// `path` for a `file:` URI: every byte but unreserved characters and `/` percent-encoded.
fn uri_path(path: &Path) -> String {
    let mut encoded = String::new();
    for byte in path.as_os_str().as_encoded_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                encoded.push(char::from(*byte));
            }
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded
}

/// Whether an I/O error says the file system or file cannot be written.
fn is_read_only(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::ReadOnlyFilesystem
        || error.kind() == std::io::ErrorKind::PermissionDenied
}

/// Tightens an existing companion file (`-wal`, `-shm`) to 0600.
fn tighten_if_present(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| file_error(path, e))?;
        }
    }
    let _ = path;
    Ok(())
}

fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
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
        let state_home = std::env::var_os("XDG_STATE_HOME")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|p| !p.is_empty())
                    .map(|home| PathBuf::from(home).join(".local").join("state"))
            })?;
        Some(state_home.join("plugboard").join("state.db"))
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

fn read_tokens(
    conn: &Connection,
    connection: &str,
) -> Result<Option<VersionedTokens>, rusqlite::Error> {
    conn.prepare_cached(
        "SELECT access_token, refresh_token, expires_at, scope, version, reauth_reason,
                updated_at
         FROM tokens WHERE connection = ?1",
    )?
    .query_row(params![connection], |row| {
        Ok(VersionedTokens {
            tokens: TokenSet {
                access_token: SecretString::from(row.get::<_, String>(0)?),
                refresh_token: row.get::<_, Option<String>>(1)?.map(SecretString::from),
                expires_at: row.get(2)?,
                scope: row.get(3)?,
            },
            version: row.get(4)?,
            needs_reauth: row.get(5)?,
            stored_at_ms: row.get(6)?,
        })
    })
    .optional()
}

/// Clears the refresh lease of `connection` if `holder` holds it (a lease since taken over by
/// another holder is left alone).
fn release_lease(conn: &Connection, connection: &str, holder: &str) -> rusqlite::Result<()> {
    conn.execute(
        concat!(
            "UPDATE tokens SET ",
            no_lease!(),
            " WHERE connection = ?1 AND lease_holder = ?2"
        ),
        params![connection, holder],
    )?;
    Ok(())
}

fn write_tokens(
    conn: &Connection,
    connection: &str,
    tokens: &TokenSet,
    version: i64,
) -> Result<(), rusqlite::Error> {
    conn.execute(
        concat!(
            "INSERT INTO tokens (connection, access_token, refresh_token, expires_at, scope,
                                 version, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(connection) DO UPDATE SET
                 access_token = excluded.access_token, refresh_token = excluded.refresh_token,
                 expires_at = excluded.expires_at, scope = excluded.scope,
                 version = excluded.version, updated_at = excluded.updated_at,
                 reauth_reason = NULL, ",
            no_lease!()
        ),
        params![
            connection,
            tokens.access_token.expose_secret(),
            tokens.refresh_token.as_ref().map(|t| t.expose_secret()),
            tokens.expires_at,
            tokens.scope,
            version,
            system_now_ms(),
        ],
    )?;
    Ok(())
}

/// A connection's lease columns as stored.
struct StoredLease {
    version: i64,
    holder: Option<String>,
    until: Option<i64>,
    pid: Option<i64>,
    host: Option<String>,
    process_of: Option<String>,
}

impl StoredLease {
    /// The lease of someone other than `requester` that is still running at `now_ms`: its
    /// holder (when its process was recorded, for that very holder) and when it lapses.
    fn running(self, requester: &str, now_ms: i64) -> Option<(Option<LeaseHolder>, i64)> {
        let (Some(id), Some(until)) = (self.holder, self.until) else {
            return None;
        };
        if id == requester || until <= now_ms {
            return None;
        }
        let holder = match (self.pid, self.host) {
            (Some(pid), Some(host)) if self.process_of.as_deref() == Some(id.as_str()) => {
                u32::try_from(pid)
                    .ok()
                    .map(|pid| LeaseHolder { id, pid, host })
            }
            _ => None,
        };
        Some((holder, until))
    }
}

/// One of the latest slots of a rolling budget.
struct RecentSlot {
    seq: i64,
    sent: i64,
    done: Option<i64>,
    sender_pid: Option<i64>,
    sender_host: Option<String>,
}

impl RecentSlot {
    /// Whether the process that took the slot is provably gone (never for slots written before
    /// senders were recorded).
    fn sender_is_dead(&self) -> bool {
        match (self.sender_pid, &self.sender_host) {
            (Some(pid), Some(host)) => {
                u32::try_from(pid).is_ok_and(|pid| process_is_provably_dead(pid, host))
            }
            _ => false,
        }
    }
}

fn read_run(row: &rusqlite::Row<'_>) -> Result<(RunRecord, String), rusqlite::Error> {
    let inputs: String = row.get(2)?;
    let mut status = RunStatus::parse(&row.get::<_, String>(3)?);
    let owner: (Option<u32>, Option<String>) = (row.get(8)?, row.get(9)?);
    if let (RunStatus::Running, (Some(pid), Some(host))) = (status, &owner)
        && process_is_provably_dead(*pid, host)
    {
        status = RunStatus::Interrupted;
    }
    Ok((
        RunRecord {
            id: RunId(row.get(0)?),
            workflow: row.get(1)?,
            workflow_digest: row.get(7)?,
            inputs: Value::Null,
            status,
            error: row.get(4)?,
            started_at_ms: row.get(5)?,
            finished_at_ms: row.get(6)?,
        },
        inputs,
    ))
}

fn finish_run_record((mut record, inputs): (RunRecord, String)) -> Result<RunRecord, StoreError> {
    record.inputs = from_json("run inputs", &inputs)?;
    Ok(record)
}

const RUN_COLUMNS: &str = "id, workflow, inputs, status, error, started_at, finished_at, \
                           workflow_digest, owner_pid, owner_host";

impl SqliteStore {
    /// Takes the refresh lease (see [`StateStore::acquire_refresh_lease`]).
    fn take_lease(
        &self,
        connection: &str,
        holder: &LeaseHolder,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<LeaseOutcome, StoreError> {
        let mut conn = self.lock();
        // The write lock is taken before reading: the liveness check and the takeover below are
        // one step for every other process, so two waiters cannot both take a dead lease over.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row = tx
            .query_row(
                "SELECT version, lease_holder, lease_until, lease_pid, lease_host, lease_process_of
                 FROM tokens WHERE connection = ?1",
                params![connection],
                |row| {
                    Ok(StoredLease {
                        version: row.get(0)?,
                        holder: row.get(1)?,
                        until: row.get(2)?,
                        pid: row.get(3)?,
                        host: row.get(4)?,
                        process_of: row.get(5)?,
                    })
                },
            )
            .optional()?;
        let Some(stored) = row else {
            return Ok(LeaseOutcome::NoTokens);
        };
        let version = stored.version;
        let mut took_over = None;
        if let Some((current, until)) = stored.running(&holder.id, now_ms) {
            match current {
                Some(current) if current.is_provably_dead() => took_over = Some(current),
                current => {
                    return Ok(LeaseOutcome::Held {
                        version,
                        holder: current,
                        until_ms: until,
                    });
                }
            }
        }
        let until_ms = now_ms.saturating_add(lease_ms);
        tx.execute(
            "UPDATE tokens SET lease_holder = ?2, lease_until = ?3, lease_pid = ?4,
                 lease_host = ?5, lease_process_of = ?2
             WHERE connection = ?1",
            params![connection, holder.id, until_ms, holder.pid, holder.host],
        )?;
        tx.commit()?;
        Ok(LeaseOutcome::Acquired {
            version,
            until_ms,
            took_over,
        })
    }

    /// Stores refreshed tokens (see [`StateStore::commit_refresh`]).
    fn write_refreshed(
        &self,
        connection: &str,
        holder: &str,
        expected_version: i64,
        tokens: &TokenSet,
    ) -> Result<CommitOutcome, StoreError> {
        let mut conn = self.lock();
        // The rotated refresh token is the only copy of the connection's access: make this one
        // commit survive a power loss, not just a process crash.
        conn.pragma_update(None, "synchronous", "FULL")?;
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current = read_tokens(&tx, connection)?;
            let outcome = match current {
                Some(current) if current.version != expected_version => {
                    release_lease(&tx, connection, holder)?;
                    CommitOutcome::Conflict(current)
                }
                // Deleted while we refreshed: writing would bring its tokens back.
                None => CommitOutcome::Gone,
                Some(_) => {
                    let version = expected_version + 1;
                    write_tokens(&tx, connection, tokens, version)?;
                    CommitOutcome::Committed(version)
                }
            };
            tx.commit()?;
            Ok::<_, rusqlite::Error>(outcome)
        })();
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(result?)
    }

    /// The file of space put aside for a refresh's new tokens: `<state file>-reserve`.
    fn reserve_path(&self) -> PathBuf {
        companion(&self.path, "-reserve")
    }

    /// Makes sure the space for a refresh's new tokens is put aside: a file of
    /// [`RESERVE_BYTES`] beside the state file, written when missing. Fails with
    /// [`StoreError::DiskFull`] when the disk cannot hold it, before a refresh token is spent.
    fn ensure_reserve(&self) -> Result<(), StoreError> {
        let path = self.reserve_path();
        if std::fs::metadata(&path).is_ok_and(|m| m.len() >= RESERVE_BYTES as u64) {
            return Ok(());
        }
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .and_then(|mut file| {
                std::io::Write::write_all(&mut file, &[0u8; RESERVE_BYTES])?;
                file.sync_all()
            });
        match written {
            Ok(()) => Ok(()),
            Err(error) => {
                let _ = std::fs::remove_file(&path);
                if is_disk_full(&error) {
                    Err(StoreError::DiskFull)
                } else {
                    Err(file_error(&path, error))
                }
            }
        }
    }

    /// Runs a write of the refresh protocol; when the disk is full, gives the reserve's space
    /// back and tries once more, so a refresh that has spent its refresh token can still store
    /// the new one. The reserve is written again before the next refresh.
    fn with_reserve<T>(&self, write: impl Fn() -> Result<T, StoreError>) -> Result<T, StoreError> {
        match write() {
            Err(StoreError::DiskFull) if std::fs::remove_file(self.reserve_path()).is_ok() => {
                tracing::warn!("the disk is full: the space put aside for new tokens is used");
                write()
            }
            other => other,
        }
    }
}

/// How much space a refresh puts aside for its new tokens (the WAL pages of a few small writes).
const RESERVE_BYTES: usize = 256 * 1024;

/// Whether opening failed the way it does on a full disk (no room for `-wal`/`-shm`): not a
/// damaged or foreign file, whose error must not cost the reserve.
fn lacks_space_to_open(error: &StoreError) -> bool {
    use rusqlite::ErrorCode::{CannotOpen, DiskFull, SystemIoFailure};
    match error {
        StoreError::DiskFull => true,
        StoreError::Database(error) => matches!(
            error.sqlite_error_code(),
            Some(CannotOpen | DiskFull | SystemIoFailure)
        ),
        _ => false,
    }
}

/// Whether an I/O error says the disk is full.
fn is_disk_full(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::StorageFull || error.raw_os_error() == Some(28)
}

impl StateStore for SqliteStore {
    fn partner_settings(&self, connector_id: &str) -> Result<Map<String, Value>, StoreError> {
        let text: Option<String> = self
            .lock()
            .prepare_cached("SELECT settings FROM partner_settings WHERE connector_id = ?1")?
            .query_row(params![connector_id], |row| row.get(0))
            .optional()?;
        match text {
            Some(text) => from_json("partner settings", &text),
            None => Ok(Map::new()),
        }
    }

    fn set_partner_settings(
        &self,
        connector_id: &str,
        settings: &Map<String, Value>,
    ) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO partner_settings (connector_id, settings) VALUES (?1, ?2)
             ON CONFLICT(connector_id) DO UPDATE SET settings = excluded.settings",
            params![connector_id, to_json(settings)],
        )?;
        Ok(())
    }

    fn connection(&self, name: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        let row: Option<(String, String, Option<String>)> = self
            .lock()
            .prepare_cached(
                "SELECT connector_id, settings, endpoints FROM connections WHERE name = ?1",
            )?
            .query_row(params![name], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .optional()?;
        row.map(|(connector_id, settings, endpoints)| {
            Ok(ConnectionRecord {
                name: name.to_owned(),
                connector_id,
                settings: from_json("connection settings", &settings)?,
                endpoints: endpoints
                    .map(|e| from_json::<Endpoints>("connection endpoints", &e))
                    .transpose()?,
            })
        })
        .transpose()
    }

    fn connections(&self) -> Result<Vec<ConnectionRecord>, StoreError> {
        let names: Vec<String> = {
            let conn = self.lock();
            let mut statement = conn.prepare("SELECT name FROM connections ORDER BY name")?;
            statement
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?
        };
        names
            .iter()
            .filter_map(|name| self.connection(name).transpose())
            .collect()
    }

    fn put_connection(&self, connection: &ConnectionRecord) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO connections (name, connector_id, settings, endpoints, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(name) DO UPDATE SET connector_id = excluded.connector_id,
                 settings = excluded.settings, endpoints = excluded.endpoints",
            params![
                connection.name,
                connection.connector_id,
                to_json(&connection.settings),
                connection.endpoints.as_ref().map(to_json),
                system_now_ms(),
            ],
        )?;
        Ok(())
    }

    fn delete_connection(&self, name: &str) -> Result<bool, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM tokens WHERE connection = ?1", params![name])?;
        let removed = tx.execute("DELETE FROM connections WHERE name = ?1", params![name])?;
        tx.commit()?;
        Ok(removed > 0)
    }

    fn tokens(&self, connection: &str) -> Result<Option<VersionedTokens>, StoreError> {
        Ok(read_tokens(&self.lock(), connection)?)
    }

    fn put_tokens(&self, connection: &str, tokens: &TokenSet) -> Result<i64, StoreError> {
        let mut conn = self.lock();
        conn.pragma_update(None, "synchronous", "FULL")?;
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let version: i64 = tx
                .query_row(
                    "SELECT version FROM tokens WHERE connection = ?1",
                    params![connection],
                    |row| row.get(0),
                )
                .optional()?
                .unwrap_or(0)
                + 1;
            write_tokens(&tx, connection, tokens, version)?;
            tx.commit()?;
            Ok::<_, rusqlite::Error>(version)
        })();
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(result?)
    }

    fn acquire_refresh_lease(
        &self,
        connection: &str,
        holder: &LeaseHolder,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<LeaseOutcome, StoreError> {
        // No refresh starts (and so no refresh token is spent) without the space its new tokens
        // need put aside.
        self.ensure_reserve()?;
        self.with_reserve(|| self.take_lease(connection, holder, now_ms, lease_ms))
    }

    fn commit_refresh(
        &self,
        connection: &str,
        holder: &str,
        expected_version: i64,
        tokens: &TokenSet,
    ) -> Result<CommitOutcome, StoreError> {
        self.with_reserve(|| self.write_refreshed(connection, holder, expected_version, tokens))
    }

    fn renew_refresh_lease(
        &self,
        connection: &str,
        holder: &str,
        expected_version: i64,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        self.with_reserve(|| {
            let renewed = self.lock().execute(
                "UPDATE tokens SET lease_until = ?4
                 WHERE connection = ?1 AND lease_holder = ?2 AND version = ?3",
                params![
                    connection,
                    holder,
                    expected_version,
                    now_ms.saturating_add(lease_ms)
                ],
            )?;
            Ok(renewed == 1)
        })
    }

    fn mark_needs_reauth(
        &self,
        connection: &str,
        holder: &str,
        version: i64,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE tokens SET reauth_reason = ?3 WHERE connection = ?1 AND version = ?2",
            params![connection, version, reason],
        )?;
        release_lease(&tx, connection, holder)?;
        tx.commit()?;
        Ok(())
    }

    fn release_refresh_lease(&self, connection: &str, holder: &str) -> Result<(), StoreError> {
        Ok(release_lease(&self.lock(), connection, holder)?)
    }

    fn acquire(&self, charges: &[LimitCharge], now_ms: i64) -> Result<Admission, StoreError> {
        if charges.is_empty() {
            return Ok(Admission::Granted {
                tickets: Vec::new(),
            });
        }
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now_us = now_ms.saturating_mul(1000);
        let mut allowed_at_us = now_us;
        let mut exhausted: Option<i64> = None;
        let mut counters = Vec::new();
        let mut next_seqs = Vec::new();
        let mut ended_dead_slots = false;
        for charge in charges {
            match charge {
                LimitCharge::Counter {
                    key,
                    window_start_ms,
                    window_end_ms,
                    limit,
                } => {
                    let row: Option<(i64, i64)> = tx
                        .query_row(
                            "SELECT window_start, used FROM rate_counters WHERE key = ?1",
                            params![key],
                            |row| Ok((row.get(0)?, row.get(1)?)),
                        )
                        .optional()?;
                    let used = match row {
                        Some((start, used)) if start == *window_start_ms => used,
                        _ => 0,
                    };
                    if used >= i64::try_from(*limit).unwrap_or(i64::MAX) {
                        exhausted =
                            Some(exhausted.map_or(*window_end_ms, |e| e.max(*window_end_ms)));
                    }
                    counters.push((key, *window_start_ms, used + 1));
                }
                LimitCharge::Rolling {
                    key,
                    limit,
                    window_us,
                    interval_us,
                    inflight_cap_us,
                } => {
                    let tat: Option<i64> = tx
                        .query_row(
                            "SELECT tat_us FROM rate_spacing WHERE key = ?1",
                            params![key],
                            |row| row.get(0),
                        )
                        .optional()?;
                    // Slots are taken at send time, so the stored times are never more than
                    // one interval (or window) ahead of now unless the clock went back; the
                    // caps keep such a jump from stalling the budget for longer than that.
                    if let Some(tat) = tat {
                        allowed_at_us = allowed_at_us.max(tat.min(now_us + interval_us));
                    }
                    let recent: Vec<RecentSlot> = tx
                        .prepare_cached(
                            "SELECT seq, sent_us, done_us, sender_pid, sender_host FROM rate_slots
                             WHERE key = ?1 ORDER BY seq DESC LIMIT ?2",
                        )?
                        .query_map(
                            params![key, i64::try_from(*limit).unwrap_or(i64::MAX)],
                            |row| {
                                Ok(RecentSlot {
                                    seq: row.get(0)?,
                                    sent: row.get(1)?,
                                    done: row.get(2)?,
                                    sender_pid: row.get(3)?,
                                    sender_host: row.get(4)?,
                                })
                            },
                        )?
                        .collect::<Result<_, _>>()?;
                    next_seqs.push(recent.first().map_or(1, |slot| slot.seq + 1));
                    if recent.len() as u64 >= *limit
                        && let Some(slot) = recent.last()
                    {
                        let over = match slot.done {
                            Some(done) => done,
                            // In flight, but its sender is gone (killed mid-request): nothing
                            // more can leave it, so it is over now. Recorded, so the window
                            // runs from this moment instead of moving with every retry.
                            None if slot.sender_is_dead() => {
                                tx.execute(
                                    "UPDATE rate_slots SET done_us = ?3
                                     WHERE key = ?1 AND seq = ?2 AND done_us IS NULL",
                                    params![key, slot.seq, now_us],
                                )?;
                                ended_dead_slots = true;
                                now_us
                            }
                            // Still in flight: it may reach the server at any moment. Its
                            // sender died if it is older than the cap.
                            None if now_us - slot.sent < *inflight_cap_us => now_us,
                            None => slot.sent,
                        };
                        allowed_at_us = allowed_at_us.max(over.min(now_us) + window_us);
                    }
                }
            }
        }
        if let Some(resets_at_ms) = exhausted {
            // Nothing is charged (only the end of dead senders' slots is kept).
            if ended_dead_slots {
                tx.commit()?;
            }
            return Ok(Admission::Exhausted { resets_at_ms });
        }
        if allowed_at_us > now_us {
            if ended_dead_slots {
                tx.commit()?;
            }
            return Ok(Admission::Wait {
                wait_us: allowed_at_us - now_us,
            });
        }
        for (key, window_start, used) in counters {
            tx.execute(
                "INSERT INTO rate_counters (key, window_start, used) VALUES (?1, ?2, ?3)
                 ON CONFLICT(key) DO UPDATE SET window_start = excluded.window_start,
                     used = excluded.used",
                params![key, window_start, used],
            )?;
        }
        let mut tickets = Vec::new();
        let rolling = charges.iter().filter_map(|c| match c {
            LimitCharge::Rolling {
                key,
                limit,
                interval_us,
                ..
            } => Some((key, *limit, *interval_us)),
            LimitCharge::Counter { .. } => None,
        });
        for ((key, limit, interval_us), seq) in rolling.zip(next_seqs) {
            tx.execute(
                "INSERT INTO rate_spacing (key, tat_us) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET tat_us = excluded.tat_us",
                params![key, now_us.saturating_add(interval_us)],
            )?;
            tx.execute(
                "INSERT INTO rate_slots (key, seq, sent_us, done_us, sender_pid, sender_host)
                 VALUES (?1, ?2, ?3, NULL, ?4, ?5)",
                params![key, seq, now_us, std::process::id(), local_host_id()],
            )?;
            tx.execute(
                "DELETE FROM rate_slots WHERE key = ?1 AND seq <= ?2",
                params![key, seq - i64::try_from(limit).unwrap_or(i64::MAX)],
            )?;
            tickets.push(SlotTicket {
                key: key.clone(),
                seq,
            });
        }
        tx.commit()?;
        Ok(Admission::Granted { tickets })
    }

    fn complete(&self, tickets: &[SlotTicket], done_ms: i64) -> Result<(), StoreError> {
        if tickets.is_empty() {
            return Ok(());
        }
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for ticket in tickets {
            tx.execute(
                "UPDATE rate_slots SET done_us = MAX(COALESCE(done_us, 0), ?3)
                 WHERE key = ?1 AND seq = ?2",
                params![ticket.key, ticket.seq, done_ms.saturating_mul(1000)],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn exhaust(&self, key: &str, window_start_ms: i64, limit: u64) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO rate_counters (key, window_start, used) VALUES (?1, ?2, ?3)
             ON CONFLICT(key) DO UPDATE SET window_start = excluded.window_start,
                 used = excluded.used",
            params![
                key,
                window_start_ms,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
        )?;
        Ok(())
    }

    fn cursor(&self, key: &str) -> Result<Option<Value>, StoreError> {
        let text: Option<String> = self
            .lock()
            .query_row(
                "SELECT value FROM cursors WHERE key = ?1",
                params![key],
                |row| row.get(0),
            )
            .optional()?;
        text.map(|t| from_json("cursor", &t)).transpose()
    }

    fn set_cursor(&self, key: &str, value: &Value) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO cursors (key, value, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value,
                 updated_at = excluded.updated_at",
            params![key, to_json(value), system_now_ms()],
        )?;
        Ok(())
    }

    fn create_run(
        &self,
        workflow: &str,
        digest: &str,
        inputs: &Value,
    ) -> Result<RunId, StoreError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO runs (workflow, workflow_digest, inputs, status, started_at, owner_pid,
                               owner_host)
             VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6)",
            params![
                workflow,
                digest,
                to_json(inputs),
                system_now_ms(),
                std::process::id(),
                local_host_id()
            ],
        )?;
        Ok(RunId(conn.last_insert_rowid()))
    }

    fn set_run_inputs(&self, run: RunId, inputs: &Value) -> Result<(), StoreError> {
        let changed = self.lock().execute(
            "UPDATE runs SET inputs = ?2 WHERE id = ?1",
            params![run.0, to_json(inputs)],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("run {run}")));
        }
        Ok(())
    }

    fn record_step(&self, run: RunId, key: &str, output: &Value) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: bool = tx
            .prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?
            .query_row(params![run.0], |_| Ok(true))
            .optional()?
            .unwrap_or(false);
        if !exists {
            return Err(StoreError::NotFound(format!("run {run}")));
        }
        tx.prepare_cached(
            "INSERT INTO run_steps (run_id, key, output, seq, recorded_at)
             VALUES (?1, ?2, ?3,
                     (SELECT COALESCE(MAX(seq), 0) + 1 FROM run_steps WHERE run_id = ?1), ?4)
             ON CONFLICT(run_id, key) DO UPDATE SET output = excluded.output,
                 recorded_at = excluded.recorded_at",
        )?
        .execute(params![run.0, key, to_json(output), system_now_ms()])?;
        tx.commit()?;
        Ok(())
    }

    fn completed_steps(&self, run: RunId) -> Result<Vec<(String, Value)>, StoreError> {
        let rows: Vec<(String, String)> = {
            let conn = self.lock();
            let mut statement =
                conn.prepare("SELECT key, output FROM run_steps WHERE run_id = ?1 ORDER BY seq")?;
            statement
                .query_map(params![run.0], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        rows.into_iter()
            .map(|(key, output)| Ok((key, from_json("step output", &output)?)))
            .collect()
    }

    fn claim_run(&self, run: RunId) -> Result<RunClaim, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(String, Option<u32>, Option<String>)> = tx
            .query_row(
                "SELECT status, owner_pid, owner_host FROM runs WHERE id = ?1",
                params![run.0],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        let Some((status, owner_pid, owner_host)) = row else {
            return Ok(RunClaim::Unknown);
        };
        let mut elsewhere = None;
        match (RunStatus::parse(&status), owner_pid, owner_host) {
            (RunStatus::Completed, _, _) => return Ok(RunClaim::Completed),
            (RunStatus::Running, Some(pid), Some(host)) if pid != std::process::id() => {
                if host != local_host_id() {
                    elsewhere = Some(host.split('/').next().unwrap_or_default().to_owned());
                } else if !process_is_provably_dead(pid, &host) {
                    return Ok(RunClaim::Busy { pid });
                }
            }
            _ => {}
        }
        tx.execute(
            "UPDATE runs SET status = 'running', error = NULL, finished_at = NULL,
                 owner_pid = ?2, owner_host = ?3
             WHERE id = ?1",
            params![run.0, std::process::id(), local_host_id()],
        )?;
        tx.commit()?;
        Ok(RunClaim::Claimed { elsewhere })
    }

    fn finish_run(
        &self,
        run: RunId,
        status: RunStatus,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let finished = (status != RunStatus::Running).then(system_now_ms);
        let changed = self.lock().execute(
            "UPDATE runs SET status = ?2, error = ?3, finished_at = ?4 WHERE id = ?1",
            params![run.0, status.as_str(), error, finished],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("run {run}")));
        }
        Ok(())
    }

    fn run(&self, id: RunId) -> Result<Option<RunRecord>, StoreError> {
        let row = self
            .lock()
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                params![id.0],
                read_run,
            )
            .optional()?;
        row.map(finish_run_record).transpose()
    }

    fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let rows: Vec<(RunRecord, String)> = {
            let conn = self.lock();
            let mut statement =
                conn.prepare(&format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC"))?;
            statement
                .query_map([], read_run)?
                .collect::<Result<_, _>>()?
        };
        rows.into_iter().map(finish_run_record).collect()
    }
}
