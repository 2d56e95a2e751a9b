//! The state store's conformance suite ([`suite`]) run for [`SqliteStore`], and what only the
//! SQLite backend does: its file's permissions, its migrations, rows written by older
//! plugboards, and what a killed process leaves in the file.
#![allow(clippy::unwrap_used, missing_docs)]

#[macro_use]
mod suite;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use plugboard_runner::store::{
    Admission, CommitOutcome, LeaseHolder, LeaseOutcome, LimitCharge, SCHEMA_VERSION,
};
use plugboard_runner::{LimitStore, RunStore, SqliteStore, StateStore, StoreError, TokenStore};
use secrecy::ExposeSecret;
use suite::{Backend, dead_pid, local_holder, tokens};

/// The embedded backend: each test's database is a file in a temporary folder.
struct Sqlite;

struct SqliteFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Backend for Sqlite {
    type Database = SqliteFile;

    async fn database(&self) -> SqliteFile {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("state.db");
        SqliteFile { _dir: dir, path }
    }

    async fn open(&self, database: &SqliteFile) -> Result<Arc<dyn StateStore>, StoreError> {
        Ok(Arc::new(SqliteStore::open(&database.path)?))
    }

    async fn pretend_newer_schema(&self, database: &SqliteFile) {
        let conn = rusqlite::Connection::open(&database.path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
}

store_conformance_tests!(Sqlite);

// ----- SQLite only -----

const LEASE_MS: i64 = 90_000;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn temp_store() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("state.db");
    (dir, path)
}

#[tokio::test]
async fn the_file_and_its_wal_companions_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("state.db");
    let store = SqliteStore::open(&path).unwrap();
    store.put_tokens("c", &tokens(1)).await.unwrap();
    assert_eq!(mode(&path), 0o600);
    for suffix in ["-wal", "-shm"] {
        let companion = dir.path().join("nested").join(format!("state.db{suffix}"));
        assert!(companion.exists(), "{suffix} exists in WAL mode");
        assert_eq!(mode(&companion), 0o600, "{suffix}");
    }
    assert_eq!(mode(&dir.path().join("nested")), 0o700);

    // A file left world-readable is tightened on open.
    drop(store);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _store = SqliteStore::open(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
}

#[tokio::test]
async fn the_schema_is_versioned_and_migrations_run_once() {
    let (_dir, path) = temp_store();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    store
        .set_cursor("poll", &serde_json::json!({"since": "2026-01-01"}))
        .await
        .unwrap();
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(
        store.cursor("poll").await.unwrap(),
        Some(serde_json::json!({"since": "2026-01-01"}))
    );
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::TooNew {
            found: 99,
            supported: SCHEMA_VERSION
        })
    ));
}

#[tokio::test]
async fn a_pid_recorded_for_an_earlier_holder_is_not_trusted() {
    // A plugboard from before the lease recorded its process, still running after the file was
    // migrated, takes a lapsed lease by setting `lease_holder` and `lease_until` alone: the dead
    // pid left by the previous holder must not make its live lease look dead.
    let (_dir, path) = temp_store();
    let store = SqliteStore::open(&path).unwrap();
    store.put_tokens("c", &tokens(1)).await.unwrap();
    let dead = local_holder("dead", dead_pid());
    store
        .acquire_refresh_lease("c", &dead, 0, LEASE_MS)
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE tokens SET lease_holder = ?2, lease_until = ?3 WHERE connection = ?1",
        rusqlite::params!["c", "4242-00000000deadbeef", 200_000],
    )
    .unwrap();
    drop(conn);
    assert_eq!(
        store
            .acquire_refresh_lease("c", &LeaseHolder::this_process("me"), 100_000, LEASE_MS)
            .await
            .unwrap(),
        LeaseOutcome::Held {
            version: 1,
            holder: None,
            until_ms: 200_000,
        }
    );
}

/// The schema of version 1, as plugboard created it before the lease recorded its process.
const SCHEMA_V1: &str = r"
    CREATE TABLE partner_settings (connector_id TEXT PRIMARY KEY, settings TEXT NOT NULL);
    CREATE TABLE connections (
        name TEXT PRIMARY KEY, connector_id TEXT NOT NULL, settings TEXT NOT NULL,
        endpoints TEXT, created_at INTEGER NOT NULL
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
    CREATE TABLE rate_spacing (key TEXT PRIMARY KEY, tat_us INTEGER NOT NULL);
    CREATE TABLE rate_slots (
        key TEXT NOT NULL, seq INTEGER NOT NULL, sent_us INTEGER NOT NULL, done_us INTEGER,
        PRIMARY KEY (key, seq)
    );
    CREATE TABLE rate_counters (
        key TEXT PRIMARY KEY, window_start INTEGER NOT NULL, used INTEGER NOT NULL
    );
    CREATE TABLE cursors (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL);
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, workflow TEXT NOT NULL, inputs TEXT NOT NULL,
        status TEXT NOT NULL, error TEXT, started_at INTEGER NOT NULL, finished_at INTEGER
    );
    CREATE TABLE run_steps (
        run_id INTEGER NOT NULL, key TEXT NOT NULL, output TEXT NOT NULL, seq INTEGER NOT NULL,
        recorded_at INTEGER NOT NULL, PRIMARY KEY (run_id, key)
    );
    CREATE INDEX run_steps_by_seq ON run_steps (run_id, seq);
    PRAGMA user_version = 1;
";

#[tokio::test]
async fn a_state_file_from_before_the_lease_recorded_its_process_is_migrated_and_works() {
    let (_dir, path) = temp_store();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(SCHEMA_V1).unwrap();
    // Tokens at version 3, with a lease an old plugboard took (no pid recorded).
    conn.execute(
        "INSERT INTO tokens (connection, access_token, refresh_token, expires_at, scope, version,
                             updated_at, lease_holder, lease_until)
         VALUES ('c', 'access-SECRET-old', 'refresh-SECRET-old', 1900000000, 'read', 3, 0,
                 '1234-0123456789abcdef', 50000)",
        [],
    )
    .unwrap();
    drop(conn);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let stored = store.tokens("c").await.unwrap().unwrap();
    assert_eq!(stored.version, 3);
    assert_eq!(stored.needs_reauth, None, "migrated tokens are usable");
    assert_eq!(
        stored.tokens.refresh_token.unwrap().expose_secret(),
        "refresh-SECRET-old"
    );
    // The old lease is honoured until it lapses (its holder's process is unknown).
    let me = LeaseHolder::this_process("me");
    assert_eq!(
        store
            .acquire_refresh_lease("c", &me, 10_000, LEASE_MS)
            .await
            .unwrap(),
        LeaseOutcome::Held {
            version: 3,
            holder: None,
            until_ms: 50_000,
        }
    );
    assert_eq!(
        store
            .acquire_refresh_lease("c", &me, 50_000, LEASE_MS)
            .await
            .unwrap(),
        LeaseOutcome::Acquired {
            version: 3,
            until_ms: 50_000 + LEASE_MS,
            took_over: None,
        }
    );
    assert_eq!(
        store
            .commit_refresh("c", "me", 3, &tokens(4))
            .await
            .unwrap(),
        CommitOutcome::Committed(4)
    );
    drop(store);
    // Reopening does not migrate again, and the new columns are there.
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let dead = local_holder("dead", dead_pid());
    store
        .acquire_refresh_lease("c", &dead, 60_000, LEASE_MS)
        .await
        .unwrap();
    assert!(matches!(
        store.acquire_refresh_lease("c", &me, 61_000, LEASE_MS).await.unwrap(),
        LeaseOutcome::Acquired { version: 4, took_over: Some(h), .. } if h == dead
    ));
}

#[tokio::test]
async fn a_request_left_in_flight_by_a_dead_process_frees_its_budget_after_one_window() {
    let (_dir, path) = temp_store();
    let store = SqliteStore::open(&path).unwrap();
    let one_per_second = || LimitCharge::Rolling {
        key: "token-endpoint".to_owned(),
        limit: 1,
        window_us: 1_000_000,
        interval_us: 1_000_000,
        inflight_cap_us: 61_000_000,
    };
    let granted = async |at_ms: i64| match store.acquire(&[one_per_second()], at_ms).await.unwrap()
    {
        Admission::Granted { tickets } => Some(tickets),
        Admission::Wait { .. } => None,
        other => panic!("{other:?}"),
    };
    // Our own request, never completed: we are alive, so it may still be in flight.
    assert!(granted(0).await.is_some());
    assert!(
        granted(10_000).await.is_none(),
        "a live sender's request is in flight"
    );
    assert!(granted(60_900).await.is_none());
    assert!(granted(61_000).await.is_some(), "the in-flight cap ends it");
    // The same, sent by a process that was killed before the response came.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let changed = conn
        .execute(
            "UPDATE rate_slots SET sender_pid = ?1 WHERE done_us IS NULL",
            rusqlite::params![dead_pid()],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    // Over when first seen dead (61.1 s), not at the cap (122 s): one window later the budget
    // is back.
    assert!(granted(61_100).await.is_none());
    assert!(granted(62_000).await.is_none());
    assert!(granted(62_101).await.is_some());
}
