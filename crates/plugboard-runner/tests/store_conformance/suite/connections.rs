//! Connections and partner settings, and the tokens kept with a connection.

use plugboard_runner::{ConnectionRecord, Endpoints};
use serde_json::json;

use super::{Backend, settings, tokens};

pub async fn connections_and_partner_settings_round_trip(backend: &impl Backend) {
    let db = backend.database().await;
    let store = backend.open(&db).await.unwrap();
    assert!(store.connections().await.unwrap().is_empty());
    assert_eq!(store.connection("main").await.unwrap(), None);
    assert!(
        store
            .partner_settings("constant-contact")
            .await
            .unwrap()
            .is_empty()
    );

    let record = ConnectionRecord {
        name: "main".to_owned(),
        connector_id: "constant-contact".to_owned(),
        settings: settings(
            json!({"client_secret": "hunter2-SECRET", "redirect_uri": "http://127.0.0.1/cb"}),
        ),
        endpoints: Some(Endpoints {
            base_url: "http://127.0.0.1:1/v3".to_owned(),
            authorize_url: Some("http://127.0.0.1:1/authorize".to_owned()),
            token_url: None,
        }),
    };
    let other = ConnectionRecord {
        name: "another".to_owned(),
        connector_id: "http".to_owned(),
        settings: settings(json!({"base_url": "http://127.0.0.1:2"})),
        endpoints: None,
    };
    store.put_connection(&record).await.unwrap();
    store.put_connection(&other).await.unwrap();
    store
        .set_partner_settings("constant-contact", &settings(json!({"client_id": "app"})))
        .await
        .unwrap();

    // Another handle sees it all at once.
    let second = backend.open(&db).await.unwrap();
    assert_eq!(
        second.connection("main").await.unwrap(),
        Some(record.clone())
    );
    assert_eq!(
        second.connections().await.unwrap(),
        vec![other.clone(), record.clone()],
        "by name"
    );
    assert_eq!(
        second.partner_settings("constant-contact").await.unwrap(),
        settings(json!({"client_id": "app"}))
    );
    assert!(second.partner_settings("http").await.unwrap().is_empty());

    // Replacing a connection keeps its tokens; partner settings are replaced whole.
    store.put_tokens("main", &tokens(1)).await.unwrap();
    let mut changed = record.clone();
    changed.endpoints = None;
    changed.settings.insert("scopes".to_owned(), json!("a b"));
    second.put_connection(&changed).await.unwrap();
    assert_eq!(store.connection("main").await.unwrap(), Some(changed));
    assert_eq!(store.tokens("main").await.unwrap().unwrap().version, 1);
    store
        .set_partner_settings("constant-contact", &settings(json!({"client_secret": "s"})))
        .await
        .unwrap();
    assert_eq!(
        second.partner_settings("constant-contact").await.unwrap(),
        settings(json!({"client_secret": "s"}))
    );

    let debug = format!("{record:?} {store:?}");
    assert!(!debug.contains("hunter2-SECRET"), "{debug}");

    assert!(store.delete_connection("main").await.unwrap());
    assert!(!second.delete_connection("main").await.unwrap());
    assert_eq!(second.connections().await.unwrap(), vec![other]);
}
