//! The SQLite schema: one migration per version, applied in order by
//! [`SqliteStore::open`](super::SqliteStore::open).

/// The schema version this build writes; older files are migrated on open.
pub const SCHEMA_VERSION: i64 = 7;

/// Migration `i` takes a file from version `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
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
    // Version 6: a run's progress events, for a run executed by another process (a Temporal
    // worker) to be followed from the one that started it.
    r"
    CREATE TABLE run_events (
        seq    INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL,
        event  TEXT NOT NULL
    );
    CREATE INDEX run_events_by_run ON run_events (run_id, seq);
    ",
    // Version 7: a cancellation asked for by another process than the one executing the run
    // (a service process on a shared store), which the executing one reads.
    r"
    ALTER TABLE runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
    ",
];

// `SCHEMA_VERSION` is the number of migrations; a new one must bump it.
const _: () = assert!(MIGRATIONS.len() as i64 == SCHEMA_VERSION);
