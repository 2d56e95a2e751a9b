//! The PostgreSQL side of the tests: the `plugboard` binary built with the `postgres` feature, and
//! a fresh database on the throwaway server `cargo xtask test` starts (its URL comes in
//! `PLUGBOARD_TEST_POSTGRES_URL`; without it these helpers fail, never skip).

use std::path::PathBuf;
use std::sync::OnceLock;

use tokio_postgres::NoTls;

use crate::{wait, workspace_root};

/// The binary built with the `postgres` feature (the one `cargo xtask test` built, when it did).
pub fn postgres_binary() -> PathBuf {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    CELL.get_or_init(
        || match std::env::var_os(xtask::test_command::POSTGRES_BINARY_VAR) {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => xtask::test_command::build_postgres_binary(&workspace_root())
                .unwrap_or_else(|e| panic!("cannot build plugboard with PostgreSQL: {e:#}")),
        },
    )
    .clone()
}

/// The test server's URL.
pub fn server_url() -> String {
    match std::env::var("PLUGBOARD_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "PLUGBOARD_TEST_POSTGRES_URL is not set: run these tests with `cargo xtask test -p \
             plugboard-tests -- postgres`, which starts a throwaway PostgreSQL"
        ),
    }
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, query) = match rest.split_once('/') {
        Some((authority, path)) => (authority, path.split_once('?').map(|(_, q)| q)),
        None => (rest, None),
    };
    match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// A plain client to `url`.
pub async fn raw(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connects to the test server");
    tokio::spawn(connection);
    client
}

/// A fresh database on the test server; dropped with this.
pub struct Database {
    /// Its URL.
    pub url: String,
    /// Its name.
    pub name: String,
}

impl Database {
    /// Creates one with a unique name.
    pub fn create() -> Self {
        let name = format!("pbtest_{}_{:016x}", std::process::id(), fastrand::u64(..));
        let server = server_url();
        wait(async {
            raw(&server)
                .await
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .expect("creates a database");
        });
        Self {
            url: with_database(&server, &name),
            name,
        }
    }

    /// Runs `sql` and returns the first column of every row, as text.
    pub fn query(&self, sql: &str) -> Vec<String> {
        wait(async {
            raw(&self.url)
                .await
                .query(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .iter()
                .map(|row| row.get::<_, Option<String>>(0).unwrap_or_default())
                .collect()
        })
    }

    /// Every row of every table, as text: what a dump of the database would show.
    pub fn dump(&self) -> String {
        let tables = self.query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'public' ORDER BY 1",
        );
        let mut text = String::new();
        for table in tables {
            for row in self.query(&format!("SELECT t::text FROM {table} t ORDER BY 1")) {
                text.push_str(&table);
                text.push(' ');
                text.push_str(&row);
                text.push('\n');
            }
        }
        text
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (server, name) = (server_url(), self.name.clone());
        let _ = std::thread::spawn(move || {
            wait(async move {
                raw(&server)
                    .await
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        })
        .join();
    }
}
