//! A fresh database per test on the server `cargo xtask test` started, so tests run in parallel
//! and never see each other's rows.

// Each test file uses its own part of this module.
#![allow(dead_code)]

use plugboard_store_postgres::SecretKey;
use secrecy::SecretString;
use tokio_postgres::{Client, NoTls};

/// Where the test server is: set by `cargo xtask test`.
pub const URL_VAR: &str = "PLUGBOARD_TEST_POSTGRES_URL";

/// Two different valid keys (32 bytes in base64).
pub const KEY_A: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
pub const KEY_B: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The test server's URL. Missing, the test fails (never skips): these tests are the only proof
/// that the store works on a real server.
pub fn server_url() -> String {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{URL_VAR} is not set: the PostgreSQL store's tests need a PostgreSQL server. Run \
             them with `cargo xtask test` (e.g. `cargo xtask test -p plugboard-store-postgres`), \
             which starts a throwaway server and sets it, or set it to a database URL of a \
             server you can throw away"
        ),
    }
}

/// Creates an empty database on the test server and returns its URL.
pub async fn fresh_database() -> String {
    let server = server_url();
    let admin = connect_raw(&server).await;
    let name = format!("pbtest_{}_{:016x}", std::process::id(), fastrand::u64(..));
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e:?}"));
    with_database(&server, &name)
}

/// `url` with its database replaced by `name` (a `postgres://…/db?…` URL).
pub fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url
        .split_once("://")
        .unwrap_or_else(|| panic!("{URL_VAR} must be a postgres:// URL"));
    let (authority, query) = match rest.split_once('/') {
        Some((authority, path)) => (authority, path.split_once('?').map(|(_, q)| q)),
        None => match rest.split_once('?') {
            Some((authority, query)) => (authority, Some(query)),
            None => (rest, None),
        },
    };
    match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// A plain client for SQL the store would never run (reading raw columns, tampering).
pub async fn connect_raw(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test server: {e:?}"));
    tokio::spawn(connection);
    client
}

/// A key from its base64 text.
pub fn key(text: &str) -> SecretKey {
    SecretKey::parse(&SecretString::from(text.to_owned())).expect("a valid test key")
}

/// A fresh database on the test server, dropped (its connections ended) when this is dropped,
/// also when the test panics.
pub struct TestDatabase {
    /// Its URL.
    pub url: String,
    name: String,
}

impl TestDatabase {
    /// Creates one.
    pub async fn create() -> Self {
        let url = fresh_database().await;
        let name = url
            .rsplit_once('/')
            .map(|(_, rest)| rest.split('?').next().unwrap_or(rest).to_owned())
            .expect("a database in the URL");
        Self { url, name }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own
        // with a runtime of its own does the dropping.
        let (server, name) = (server_url(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let admin = connect_raw(&server).await;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) && !std::thread::panicking() {
            eprintln!(
                "warning: the test database {} could not be dropped",
                self.name
            );
        }
    }
}
