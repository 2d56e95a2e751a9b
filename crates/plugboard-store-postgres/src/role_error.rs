//! How this crate's errors reach the runner's store roles: as [`StoreError`]s, keeping what the
//! runner tells apart (a newer schema, invalid stored JSON) and carrying everything else whole
//! (its message names the database and never a secret).

use plugboard_runner::StoreError;

use crate::PgStoreError;

impl From<PgStoreError> for StoreError {
    fn from(error: PgStoreError) -> Self {
        match error {
            PgStoreError::TooNew { found, known, .. } => StoreError::TooNew {
                found,
                supported: known,
            },
            other => StoreError::Backend(Box::new(other)),
        }
    }
}

/// A stored JSON document that does not parse (a damaged or foreign row).
pub(crate) fn corrupt(what: &str, source: serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        what: what.to_owned(),
        source,
    }
}
