//! Which key the database's secrets are sealed with, checked when the store opens.
//!
//! The first store to open a database records its key (its id, and a known text sealed with it)
//! in `secret_keys`. Every later open must bring that key: another one is refused before
//! anything is written, instead of sealing new secrets with a key the old ones do not open.

use secrecy::ExposeSecret;
use tokio_postgres::Client;

use crate::PgStoreError;
use crate::crypto::{SecretColumn, SecretKey, SecretSlot};

/// The text sealed in the check value.
const CHECK_TEXT: &[u8] = b"plugboard secret key check";

/// Checks `key` against the keys recorded in the database, or records it in a database that has
/// none.
pub(crate) async fn check_or_record(
    client: &mut Client,
    key: &SecretKey,
    database: &str,
) -> Result<(), PgStoreError> {
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
        .map_err(fail("checking the secret key"))?;
    // Two stores opening an empty database with different keys: one records its key, the other
    // then finds it and is refused.
    tx.batch_execute("LOCK TABLE secret_keys IN SHARE ROW EXCLUSIVE MODE")
        .await
        .map_err(fail("checking the secret key"))?;
    let rows = tx
        .query(
            "SELECT key_id, check_sealed FROM secret_keys ORDER BY key_id",
            &[],
        )
        .await
        .map_err(fail("reading the recorded secret keys"))?;
    let slot = SecretSlot {
        column: SecretColumn::KeyCheck,
        tenant: "",
        row: key.id(),
    };
    if rows.is_empty() {
        let check = key.seal(&slot, CHECK_TEXT)?;
        tx.execute(
            "INSERT INTO secret_keys (key_id, check_sealed) VALUES ($1, $2)",
            &[&key.id(), &check],
        )
        .await
        .map_err(fail("recording the secret key"))?;
        tx.commit()
            .await
            .map_err(fail("recording the secret key"))?;
        tracing::info!(database, key_id = key.id(), "recorded the secret key");
        return Ok(());
    }
    let known: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    let Some(ours) = rows.iter().find(|row| row.get::<_, &str>(0) == key.id()) else {
        return Err(PgStoreError::WrongKey {
            database: database.to_owned(),
            why: format!(
                "its secrets are encrypted with key {}; PLUGBOARD_SECRET_KEY is key {}",
                known.join(", "),
                key.id()
            ),
        });
    };
    let opened = key.open(&slot, ours.get::<_, &str>(1));
    match opened {
        Ok(text) if text.expose_secret().as_slice() == CHECK_TEXT => Ok(()),
        _ => Err(PgStoreError::WrongKey {
            database: database.to_owned(),
            why: format!(
                "PLUGBOARD_SECRET_KEY has the id {} of the database's key but is another key",
                key.id()
            ),
        }),
    }
}
