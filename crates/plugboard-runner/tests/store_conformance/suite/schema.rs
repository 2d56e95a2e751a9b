//! The schema: a database of a newer schema is refused.

use plugboard_runner::StoreError;

use super::{Backend, tokens};

pub async fn a_database_of_a_newer_schema_is_refused(backend: &impl Backend) {
    let db = backend.database().await;
    let store = backend.open(&db).await.unwrap();
    store.put_tokens("c", &tokens(1)).await.unwrap();
    drop(store);
    backend.pretend_newer_schema(&db).await;
    match backend.open(&db).await {
        Err(StoreError::TooNew { found, supported }) => assert!(found > supported),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("a newer schema was opened"),
    }
}
