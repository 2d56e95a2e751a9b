//! Secrets at rest: tokens are sealed in their columns, open only with the database's key and only
//! in their own row, and a wrong key is refused before anything is written.

mod support;

use plugboard_store_postgres::{PgStoreError, PostgresStore, StoredTokens};
use secrecy::{ExposeSecret, SecretString};
use support::{KEY_A, KEY_B, connect_raw, fresh_database, key};

const ACCESS: &str = "at-4f1c9e-very-secret-access";
const REFRESH: &str = "rt-77aa01-very-secret-refresh";

fn tokens(access: &str, refresh: &str) -> StoredTokens {
    StoredTokens {
        access_token: SecretString::from(access.to_owned()),
        refresh_token: Some(SecretString::from(refresh.to_owned())),
        expires_at: Some(1_900_000_000),
        scope: Some("contact_data offline_access".into()),
    }
}

/// Every row of every table, as text: what a dump of the database would show.
async fn dump(url: &str) -> String {
    let db = connect_raw(url).await;
    let mut text = String::new();
    for row in db
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'public' ORDER BY 1",
            &[],
        )
        .await
        .expect("lists tables")
    {
        let table: String = row.get(0);
        for line in db
            .query(
                &format!("SELECT t::text FROM {table} t ORDER BY t::text"),
                &[],
            )
            .await
            .expect("reads a table")
        {
            text.push_str(&table);
            text.push(' ');
            text.push_str(line.get(0));
            text.push('\n');
        }
    }
    text
}

#[tokio::test]
async fn tokens_are_ciphertext_in_their_columns_and_read_back_with_the_key() {
    let url = fresh_database().await;
    let store = PostgresStore::connect(&url, key(KEY_A))
        .await
        .expect("opens");
    assert_eq!(
        store
            .put_tokens("default", "crm", &tokens(ACCESS, REFRESH))
            .await
            .expect("stores"),
        1
    );

    let raw = connect_raw(&url)
        .await
        .query_one(
            "SELECT access_token_sealed, refresh_token_sealed FROM tokens
             WHERE tenant_id = 'default' AND connection = 'crm'",
            &[],
        )
        .await
        .expect("reads the raw columns");
    let (access, refresh): (String, String) = (raw.get(0), raw.get(1));
    for (sealed, plain) in [(&access, ACCESS), (&refresh, REFRESH)] {
        assert!(
            sealed.starts_with(&format!("pbs1:{}:", store.key_id())),
            "{sealed}"
        );
        assert!(
            !sealed.contains(plain),
            "the column holds the token: {sealed}"
        );
    }
    let everything = dump(&url).await;
    for secret in [ACCESS, REFRESH, KEY_A] {
        assert!(!everything.contains(secret), "the database holds {secret}");
    }

    let (read, version) = store
        .tokens("default", "crm")
        .await
        .expect("reads")
        .expect("stored");
    assert_eq!(version, 1);
    assert_eq!(read.access_token.expose_secret(), ACCESS);
    assert_eq!(
        read.refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
        Some(REFRESH.to_owned())
    );
    assert_eq!(read.expires_at, Some(1_900_000_000));
    assert!(!format!("{read:?}").contains(ACCESS));

    // A new authorization bumps the version and seals anew.
    assert_eq!(
        store
            .put_tokens("default", "crm", &tokens("at-2", "rt-2"))
            .await
            .expect("stores"),
        2
    );
    assert!(
        store
            .tokens("default", "nope")
            .await
            .expect("reads")
            .is_none()
    );

    // The same key opens them from another process (another store) too.
    drop(store);
    let reopened = PostgresStore::connect(&url, key(KEY_A))
        .await
        .expect("reopens");
    let (read, version) = reopened
        .tokens("default", "crm")
        .await
        .expect("reads")
        .expect("stored");
    assert_eq!((read.access_token.expose_secret(), version), ("at-2", 2));
}

#[tokio::test]
async fn a_wrong_key_is_refused_naming_the_database_and_nothing_is_written() {
    let url = fresh_database().await;
    let store = PostgresStore::connect(&url, key(KEY_A))
        .await
        .expect("opens");
    store
        .put_tokens("default", "crm", &tokens(ACCESS, REFRESH))
        .await
        .expect("stores");
    drop(store);
    let before = dump(&url).await;

    let error = PostgresStore::connect(&url, key(KEY_B))
        .await
        .expect_err("another key is refused");
    assert!(matches!(error, PgStoreError::WrongKey { .. }), "{error:?}");
    let database = url.rsplit_once('@').map(|(_, rest)| rest).expect("a host");
    let message = error.to_string();
    assert!(
        message.contains(&format!(
            "PLUGBOARD_SECRET_KEY does not decrypt the secrets in {database}"
        )),
        "{message}"
    );
    assert!(message.contains("Nothing was written"), "{message}");
    for key_text in [KEY_A, KEY_B] {
        assert!(
            !message.contains(key_text.trim_end_matches('=')),
            "{message}"
        );
    }
    assert_eq!(dump(&url).await, before, "the refused open wrote something");
}

#[tokio::test]
async fn two_keys_opening_an_empty_database_at_once_cannot_both_win() {
    let url = fresh_database().await;
    let (a, b) = tokio::join!(
        PostgresStore::connect(&url, key(KEY_A)),
        PostgresStore::connect(&url, key(KEY_B))
    );
    assert!(
        a.is_ok() != b.is_ok(),
        "exactly one key is recorded: {:?} / {:?}",
        a.as_ref().err(),
        b.as_ref().err()
    );
    let refused = a.err().or(b.err()).expect("one was refused");
    assert!(
        matches!(refused, PgStoreError::WrongKey { .. }),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_token_moved_to_another_row_or_column_does_not_open() {
    let url = fresh_database().await;
    let store = PostgresStore::connect(&url, key(KEY_A))
        .await
        .expect("opens");
    store
        .put_tokens("default", "alpha", &tokens("at-alpha", "rt-alpha"))
        .await
        .expect("stores");
    store
        .put_tokens("default", "beta", &tokens("at-beta", "rt-beta"))
        .await
        .expect("stores");
    let db = connect_raw(&url).await;

    // Swap the access tokens of the two rows.
    db.batch_execute(
        "UPDATE tokens AS t SET access_token_sealed = o.access_token_sealed
         FROM tokens AS o
         WHERE t.tenant_id = o.tenant_id AND t.connection <> o.connection",
    )
    .await
    .expect("swaps");
    let error = store
        .tokens("default", "alpha")
        .await
        .expect_err("beta's token does not open as alpha's");
    assert!(matches!(error, PgStoreError::Secret { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("tokens.access_token_sealed of 'alpha' (tenant 'default')"),
        "{message}"
    );
    assert!(message.contains("does not belong to this row"), "{message}");
    for token in ["at-alpha", "at-beta", "rt-alpha", "rt-beta"] {
        assert!(!message.contains(token), "{message}");
    }

    // A refresh token copied into the access token column of its own row.
    store
        .put_tokens("default", "gamma", &tokens("at-gamma", "rt-gamma"))
        .await
        .expect("stores");
    db.batch_execute(
        "UPDATE tokens SET access_token_sealed = refresh_token_sealed
         WHERE connection = 'gamma'",
    )
    .await
    .expect("moves");
    assert!(matches!(
        store.tokens("default", "gamma").await,
        Err(PgStoreError::Secret { .. })
    ));

    // The same connection name in another tenant is another row.
    db.batch_execute(
        "INSERT INTO tenants (id, name) VALUES ('acme', 'Acme');
         INSERT INTO tokens (tenant_id, connection, access_token_sealed, version)
         SELECT 'acme', connection, access_token_sealed, 1 FROM tokens
         WHERE connection = 'beta'",
    )
    .await
    .expect("copies to another tenant");
    assert!(matches!(
        store.tokens("acme", "beta").await,
        Err(PgStoreError::Secret { .. })
    ));
    assert!(
        store.tokens("default", "beta").await.is_err(),
        "beta got alpha's token"
    );

    // A row nobody touched still opens.
    store
        .put_tokens("default", "delta", &tokens("at-delta", "rt-delta"))
        .await
        .expect("stores");
    let (delta, _) = store
        .tokens("default", "delta")
        .await
        .expect("reads")
        .expect("stored");
    assert_eq!(delta.access_token.expose_secret(), "at-delta");
}
