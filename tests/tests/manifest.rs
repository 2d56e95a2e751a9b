//! The Constant Contact manifest, pinned: any change to methods, schemas, auth or limits shows up
//! as a snapshot diff to review.

use plugboard_core::{Connector, DefinedConnector};

#[test]
fn constant_contact_manifest() {
    let connector = DefinedConnector::new::<constant_contact::ConstantContact>();
    insta::assert_json_snapshot!("constant_contact_manifest", connector.manifest());
}

#[test]
fn a_connection_without_client_credentials_is_refused_naming_them() {
    let connector = DefinedConnector::new::<constant_contact::ConstantContact>();
    let schema = &connector.manifest().settings_schema;
    let partner = serde_json::json!({"client_id": "", "client_secret": "", "redirect_uri": "https://plugboard.example/connector/callback"});
    let connection = serde_json::json!({});
    let error = plugboard_runner::settings::resolve(
        schema,
        partner.as_object().expect("object"),
        connection.as_object().expect("object"),
    )
    .expect_err("no client credentials anywhere");
    insta::assert_snapshot!("missing_client_credentials", error);

    let connection = serde_json::json!({"client_id": "own-app", "client_secret": "own-secret"});
    let settings = plugboard_runner::settings::resolve(
        schema,
        partner.as_object().expect("object"),
        connection.as_object().expect("object"),
    )
    .expect("the connection supplies them");
    assert_eq!(settings["client_id"], "own-app");
    assert!(
        !plugboard_core::settings::without_secrets(schema, &settings).contains_key("client_secret"),
        "the connector never sees the secret"
    );
}
