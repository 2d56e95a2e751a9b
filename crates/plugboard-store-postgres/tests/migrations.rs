//! Opening a database: migrations on an empty database, re-runs, concurrent openers, a newer or
//! edited schema, an unreachable server, and the server clock. Each test has its own database on
//! the server `cargo xtask test` started.

mod support;

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use plugboard_store_postgres::migrate::VERSION_TABLE;
use plugboard_store_postgres::{MigrationReport, PgStoreError, PostgresStore, SCHEMA_VERSION};
use support::{KEY_A, connect_raw, fresh_database, key, with_database};

/// The tables the migrations create: what the SQLite store holds, plus tenants, keys and the
/// rate-limit budgets' lock rows, and the service's records (`service_*`).
const TABLES: [&str; 25] = [
    "connections",
    "cursors",
    "journal_entries",
    "partner_settings",
    "plugboard_schema_migrations",
    "rate_budgets",
    "rate_counters",
    "rate_slots",
    "rate_spacing",
    "run_events",
    "runs",
    "secret_keys",
    "service_admin_key",
    "service_connect_links",
    "service_page_links",
    "service_page_sessions",
    "service_pending_installs",
    "service_run_events",
    "service_runs",
    "service_schedules",
    "service_tenant_keys",
    "service_tenants",
    "service_workflows",
    "tenants",
    "tokens",
];

async fn tables(url: &str) -> BTreeSet<String> {
    connect_raw(url)
        .await
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'public'",
            &[],
        )
        .await
        .expect("lists tables")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

async fn applied_versions(url: &str) -> Vec<i64> {
    connect_raw(url)
        .await
        .query(
            &format!("SELECT version FROM {VERSION_TABLE} ORDER BY version"),
            &[],
        )
        .await
        .expect("reads versions")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn migrations_apply_to_an_empty_database_and_a_rerun_changes_nothing() {
    let url = fresh_database().await;
    assert!(tables(&url).await.is_empty(), "a fresh database is empty");

    let store = PostgresStore::connect(&url, key(KEY_A))
        .await
        .expect("opens an empty database");
    assert_eq!(
        store.migration(),
        &MigrationReport {
            from: 0,
            to: SCHEMA_VERSION
        }
    );
    let expected: BTreeSet<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
    assert_eq!(tables(&url).await, expected);
    assert_eq!(
        applied_versions(&url).await,
        (1..=SCHEMA_VERSION).collect::<Vec<_>>()
    );
    drop(store);

    let again = PostgresStore::connect(&url, key(KEY_A))
        .await
        .expect("opens a migrated database");
    assert_eq!(
        again.migration(),
        &MigrationReport {
            from: SCHEMA_VERSION,
            to: SCHEMA_VERSION
        }
    );
    assert_eq!(tables(&url).await, expected);
    assert_eq!(
        applied_versions(&url).await,
        (1..=SCHEMA_VERSION).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn processes_opening_an_empty_database_at_once_migrate_it_once() {
    let url = fresh_database().await;
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PostgresStore::connect_with(&url, key(KEY_A), 2).await })
        })
        .collect();
    let mut migrated = 0;
    for open in opens {
        let store = open
            .await
            .expect("the task ran")
            .expect("every opener succeeds");
        if store.migration().from == 0 {
            migrated += 1;
        }
    }
    assert_eq!(migrated, 1, "exactly one opener applied the migrations");
    assert_eq!(
        applied_versions(&url).await,
        (1..=SCHEMA_VERSION).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_database_of_a_newer_schema_is_refused_and_left_alone() {
    let url = fresh_database().await;
    drop(
        PostgresStore::connect(&url, key(KEY_A))
            .await
            .expect("opens"),
    );
    let raw = connect_raw(&url).await;
    let newer = SCHEMA_VERSION + 98;
    raw.execute(
        &format!("INSERT INTO {VERSION_TABLE} (version, name, sha256) VALUES ($1, 'future', 'x')"),
        &[&newer],
    )
    .await
    .expect("writes a future version");

    let error = PostgresStore::connect(&url, key(KEY_A))
        .await
        .expect_err("a newer schema is refused");
    assert!(
        matches!(error, PgStoreError::TooNew { found, known, .. } if found == newer && known == SCHEMA_VERSION),
        "{error:?}"
    );
    let database = url.rsplit('/').next().expect("a database name");
    let message = error.to_string();
    assert!(
        message.contains(&format!(
            "{database} was written by a newer plugboard (schema {newer}, this one knows {SCHEMA_VERSION})"
        )),
        "{message}"
    );
    assert!(message.contains("127.0.0.1:"), "{message}");
    let mut expected = (1..=SCHEMA_VERSION).collect::<Vec<_>>();
    expected.push(newer);
    assert_eq!(applied_versions(&url).await, expected);
}

#[tokio::test]
async fn a_database_whose_applied_migration_was_edited_is_refused() {
    let url = fresh_database().await;
    drop(
        PostgresStore::connect(&url, key(KEY_A))
            .await
            .expect("opens"),
    );
    connect_raw(&url)
        .await
        .execute(
            &format!("UPDATE {VERSION_TABLE} SET sha256 = 'edited' WHERE version = 1"),
            &[],
        )
        .await
        .expect("tampers");
    let error = PostgresStore::connect(&url, key(KEY_A))
        .await
        .expect_err("an edited migration is refused");
    assert!(
        matches!(error, PgStoreError::MigrationChanged { version: 1, .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("has migration 1 (initial) applied with different content"),
        "{error}"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_named_by_host_and_port_never_by_its_password() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let url = format!("postgres://plugboard:hunter2-pw@127.0.0.1:{port}/plugboard");
    let started = std::time::Instant::now();
    let error = PostgresStore::connect(&url, key(KEY_A))
        .await
        .expect_err("nothing listens there");
    assert!(started.elapsed().as_secs() < 30, "the attempt is bounded");
    let message = error.to_string();
    assert!(
        matches!(error, PgStoreError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(
        message.contains(&format!(
            "cannot connect to the PostgreSQL server at 127.0.0.1:{port}/plugboard"
        )),
        "{message}"
    );
    assert!(!message.contains("hunter2-pw"), "{message}");
    assert!(!format!("{error:?}").contains("hunter2-pw"));
}

#[tokio::test]
async fn a_missing_database_is_named_with_the_servers_reason() {
    let url = with_database(&support::server_url(), "no_such_database_here");
    let error = PostgresStore::connect(&url, key(KEY_A))
        .await
        .expect_err("no such database");
    let message = error.to_string();
    assert!(
        matches!(error, PgStoreError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(message.contains("/no_such_database_here"), "{message}");
    assert!(message.contains("does not exist"), "{message}");
}

#[tokio::test]
async fn the_server_clock_is_read_from_the_server() {
    let url = fresh_database().await;
    let store = PostgresStore::connect(&url, key(KEY_A))
        .await
        .expect("opens");
    let local_ms = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis() as i64
    };
    let before = local_ms(SystemTime::now());
    let server_ms = store.server_now_ms().await.expect("reads the clock");
    let server_us = store.server_now_us().await.expect("reads the clock");
    let after = local_ms(SystemTime::now());
    // Same machine, so the clocks agree; a second of slack for a slow CI.
    assert!(
        (before - 1000..=after + 1000).contains(&server_ms),
        "{before} <= {server_ms} <= {after}"
    );
    assert!(
        server_us / 1000 >= server_ms,
        "{server_us} after {server_ms}"
    );
    assert!(server_us / 1000 - server_ms < 5_000);
    // The SQL functions decisions use are the same clock.
    let in_sql: i64 = connect_raw(&url)
        .await
        .query_one("SELECT plugboard_now_ms()", &[])
        .await
        .expect("reads")
        .get(0);
    assert!(in_sql >= server_ms);
}

#[test]
fn the_test_database_url_keeps_everything_but_the_database() {
    assert_eq!(
        with_database("postgres://u@127.0.0.1:5/plugboard", "t1"),
        "postgres://u@127.0.0.1:5/t1"
    );
    assert_eq!(
        with_database("postgres://u:p@h:5/db?sslmode=disable", "t1"),
        "postgres://u:p@h:5/t1?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://u@h:5", "t1"),
        "postgres://u@h:5/t1"
    );
}
