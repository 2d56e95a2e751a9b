//! The server's clock. Lease and limiter decisions compare times written by different machines,
//! so they all read one clock, the database server's, never their own: a machine whose clock is
//! a second fast would otherwise take a lease another still holds, or send early.
//!
//! `plugboard_now_ms()` and `plugboard_now_us()` (defined by the first migration) read
//! `clock_timestamp()`, not `now()`: `now()` is frozen at the start of the transaction, which may
//! have waited for a row lock since. Statements that decide call them in SQL; these helpers are
//! for code that needs the time itself.

use tokio_postgres::Client;

use crate::PgStoreError;

/// The server's clock, in milliseconds since the Unix epoch.
pub async fn server_now_ms(client: &Client, database: &str) -> Result<i64, PgStoreError> {
    read(client, database, "SELECT plugboard_now_ms()").await
}

/// The server's clock, in microseconds since the Unix epoch.
pub async fn server_now_us(client: &Client, database: &str) -> Result<i64, PgStoreError> {
    read(client, database, "SELECT plugboard_now_us()").await
}

async fn read(client: &Client, database: &str, sql: &str) -> Result<i64, PgStoreError> {
    let row = client
        .query_one(sql, &[])
        .await
        .map_err(|source| PgStoreError::Database {
            database: database.to_owned(),
            doing: "reading the server's clock",
            source,
        })?;
    Ok(row.get(0))
}
