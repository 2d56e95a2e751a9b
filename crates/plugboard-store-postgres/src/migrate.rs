//! Schema migrations: the SQL files under `migrations/`, applied when the store opens.
//!
//! Hand-written rather than a migration crate: it is one transaction and forty lines, and it
//! does the two things this store needs that the crates do differently or not at all: refuse a
//! database of a newer schema with a message naming both versions, and refuse one whose applied
//! migration was edited (each is recorded with its SHA-256).
//!
//! Every process opening the store runs [`migrate`]; all pending migrations are applied in one
//! transaction that first takes a transaction-level advisory lock, so of many processes starting
//! at once one migrates and the others, once it commits, find nothing left to do. PostgreSQL's
//! DDL is transactional: a failed migration leaves the database as it was.

use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use crate::PgStoreError;

/// One migration: its number (the file's prefix), its name and its SQL.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// 1, 2, …: the order they apply in.
    pub version: i64,
    /// The file name's rest, e.g. `initial`.
    pub name: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// Every migration this build ships, in order. A new file under `migrations/` must be listed
/// here (a test fails otherwise).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "rate_budgets",
        sql: include_str!("../migrations/0002_rate_budgets.sql"),
    },
    Migration {
        version: 3,
        name: "run_events",
        sql: include_str!("../migrations/0003_run_events.sql"),
    },
    Migration {
        version: 4,
        name: "queued_runs",
        sql: include_str!("../migrations/0004_queued_runs.sql"),
    },
    Migration {
        version: 5,
        name: "service",
        sql: include_str!("../migrations/0005_service.sql"),
    },
    Migration {
        version: 6,
        name: "cancel_requests",
        sql: include_str!("../migrations/0006_cancel_requests.sql"),
    },
];

/// The schema version this build writes: the newest migration's number.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The table that records applied migrations.
pub const VERSION_TABLE: &str = "plugboard_schema_migrations";

/// The advisory lock that serializes migrations ("plugboar" in ASCII). Advisory locks are per
/// database, so stores on different databases of one server do not wait for each other.
const MIGRATION_LOCK: i64 = 0x706c_7567_626f_6172;

/// How long a process waits for another one's migration before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The schema version before.
    pub from: i64,
    /// The schema version now.
    pub to: i64,
}

/// Applies the pending migrations to the database `client` is connected to (`database` names it
/// in errors), under the advisory lock.
pub async fn migrate(client: &mut Client, database: &str) -> Result<MigrationReport, PgStoreError> {
    let fail = |doing: &'static str| {
        move |source| PgStoreError::Database {
            database: database.to_owned(),
            doing,
            source,
        }
    };
    let tx = client
        .transaction()
        .await
        .map_err(fail("starting the migration"))?;
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = '{}s'",
        LOCK_WAIT.as_secs()
    ))
    .await
    .map_err(fail("setting the migration's lock timeout"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(fail("waiting for another process's migration"))?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
             version       BIGINT PRIMARY KEY,
             name          TEXT NOT NULL,
             sha256        TEXT NOT NULL,
             applied_at    TIMESTAMPTZ NOT NULL DEFAULT now()
         )"
    ))
    .await
    .map_err(fail("creating the schema version table"))?;
    let applied = tx
        .query(
            &format!("SELECT version, name, sha256 FROM {VERSION_TABLE} ORDER BY version"),
            &[],
        )
        .await
        .map_err(fail("reading the schema version"))?;
    let mut from = 0;
    for row in &applied {
        let version: i64 = row.get(0);
        let name: String = row.get(1);
        let sha256: String = row.get(2);
        from = from.max(version);
        if version > SCHEMA_VERSION {
            return Err(PgStoreError::TooNew {
                database: database.to_owned(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        let shipped = MIGRATIONS.iter().find(|m| m.version == version);
        if shipped.is_none_or(|m| checksum(m.sql) != sha256) {
            return Err(PgStoreError::MigrationChanged {
                database: database.to_owned(),
                version,
                name,
            });
        }
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > from) {
        tx.batch_execute(migration.sql)
            .await
            .map_err(fail("applying a migration"))?;
        tx.execute(
            &format!("INSERT INTO {VERSION_TABLE} (version, name, sha256) VALUES ($1, $2, $3)"),
            &[
                &migration.version,
                &migration.name,
                &checksum(migration.sql),
            ],
        )
        .await
        .map_err(fail("recording a migration"))?;
        tracing::info!(
            database,
            version = migration.version,
            name = migration.name,
            "migrated"
        );
    }
    tx.commit()
        .await
        .map_err(fail("committing the migration"))?;
    Ok(MigrationReport {
        from,
        to: SCHEMA_VERSION.max(from),
    })
}

/// The SHA-256 of a migration's SQL, in hex.
fn checksum(sql: &str) -> String {
    Sha256::digest(sql.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `migrations/NNNN_name.sql` is listed, numbered 1, 2, … without gaps.
    #[test]
    fn every_migration_file_is_listed_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("migrations/ exists")
            .map(|entry| {
                entry
                    .expect("readable entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{:04}_{}.sql", m.version, m.name))
            .collect();
        assert_eq!(files, listed);
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, index as i64 + 1);
            let on_disk =
                std::fs::read_to_string(dir.join(&listed[index])).expect("readable migration");
            assert_eq!(on_disk, migration.sql);
        }
    }
}
