//! What can go wrong with the PostgreSQL store. Every message names the database as
//! `host:port/database` (see [`Target::label`](crate::Target::label)) and never carries the URL's
//! password, the secret key or a secret value.

use crate::crypto::{KeyError, OpenError, SealError, SecretSlot};

/// A PostgreSQL store failure.
#[derive(Debug, thiserror::Error)]
pub enum PgStoreError {
    /// The URL cannot be used (its text is not repeated: it may hold a password).
    #[error("the PostgreSQL URL is not valid: {0}")]
    BadUrl(String),
    /// No connection could be made: the server is down, unreachable, refused the login or has
    /// no such database.
    #[error("cannot connect to the PostgreSQL server at {database}: {reason}")]
    Unreachable {
        /// `host:port/database`.
        database: String,
        /// Why, as the client or the server said it.
        reason: String,
    },
    /// The database's schema is newer than this build knows.
    #[error(
        "the PostgreSQL database {database} was written by a newer plugboard (schema {found}, \
         this one knows {known}); upgrade plugboard, or point it at another database"
    )]
    TooNew {
        /// `host:port/database`.
        database: String,
        /// The newest migration applied there.
        found: i64,
        /// The newest this build ships.
        known: i64,
    },
    /// A migration applied to the database is not the one this build ships under its number.
    #[error(
        "the PostgreSQL database {database} has migration {version} ({name}) applied with \
         different content than this plugboard ships; it was changed after its release, or \
         the database belongs to another build"
    )]
    MigrationChanged {
        /// `host:port/database`.
        database: String,
        /// Its number.
        version: i64,
        /// Its name.
        name: String,
    },
    /// `PLUGBOARD_SECRET_KEY` is missing or malformed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The configured key is not the one the database's secrets were sealed with. Nothing was
    /// written.
    #[error(
        "PLUGBOARD_SECRET_KEY does not decrypt the secrets in {database} ({why}); set the key \
         this database was set up with. Nothing was written"
    )]
    WrongKey {
        /// `host:port/database`.
        database: String,
        /// Which key the secrets need (by id, never the key).
        why: String,
    },
    /// One stored secret cannot be opened with the right key: it was moved or altered.
    #[error("the secret in {slot} in {database} cannot be read: {source}")]
    Secret {
        /// `host:port/database`.
        database: String,
        /// Where it is (column, row, tenant).
        slot: String,
        /// Why.
        source: OpenError,
    },
    /// A secret could not be sealed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// TLS could not be set up (no trust store).
    #[error("cannot set up TLS for {database}: {reason}")]
    Tls {
        /// `host:port/database`.
        database: String,
        /// Why.
        reason: String,
    },
    /// The server refused or failed a statement.
    #[error("PostgreSQL error in {database} while {doing}: {}", describe(.source))]
    Database {
        /// `host:port/database`.
        database: String,
        /// What the store was doing.
        doing: &'static str,
        /// The client's error.
        source: tokio_postgres::Error,
    },
    /// No pooled connection became free in time, or a new one could not be made.
    #[error("no connection to {database} could be had: {reason}")]
    Pool {
        /// `host:port/database`.
        database: String,
        /// Why.
        reason: String,
    },
    /// A stored document is not valid JSON, or a stored value is out of its range.
    #[error("the PostgreSQL store {database} holds invalid data in {what}")]
    Corrupt {
        /// `host:port/database`.
        database: String,
        /// Which value.
        what: String,
    },
}

impl PgStoreError {
    /// A secret that did not open, told apart: another key is [`PgStoreError::WrongKey`].
    pub(crate) fn secret(database: &str, slot: &SecretSlot<'_>, source: OpenError) -> Self {
        match source {
            OpenError::OtherKey { .. } => Self::WrongKey {
                database: database.to_owned(),
                why: source.to_string(),
            },
            source => Self::Secret {
                database: database.to_owned(),
                slot: slot.to_string(),
                source,
            },
        }
    }
}

/// The client error with its causes (the server's message, the OS error), once each: the
/// client's own `Display` stops at its kind ("db error", "error connecting to server").
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        let part = inner.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = inner.source();
    }
    text
}
