//! Set-up shared by the connector's tests that run against a live sandbox.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use constant_contact::ConstantContact;
use constant_contact_sandbox::Sandbox;
use plugboard_core::DefinedConnector;
use plugboard_runner::{Endpoints, ExecutorConfig, TokenSet};
use plugboard_testkit::{LiveConnection, LiveSetup};
use serde_json::{Map, json};

/// Installs a connection named `name` to `sandbox` with freshly minted tokens (no browser).
pub fn sandbox_connection(sandbox: &Sandbox, name: &str, config: ExecutorConfig) -> LiveConnection {
    let mut partner = Map::new();
    partner.insert("client_id".into(), json!(sandbox.client_id()));
    partner.insert("client_secret".into(), json!(sandbox.client_secret()));
    partner.insert(
        "redirect_uri".into(),
        json!("http://127.0.0.1:0/plugboard/callback"),
    );
    let grant = sandbox.mint_tokens();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let setup = LiveSetup {
        connection: name.into(),
        partner_settings: partner,
        connection_settings: Map::new(),
        endpoints: Some(Endpoints {
            base_url: sandbox.api_base_url(),
            authorize_url: Some(sandbox.authorize_url()),
            token_url: Some(sandbox.token_url()),
        }),
        tokens: Some(TokenSet {
            access_token: grant.access_token.into(),
            refresh_token: grant.refresh_token.map(Into::into),
            expires_at: i64::try_from(now + grant.expires_in).ok(),
            scope: Some(grant.scope),
        }),
        config,
    };
    let connector = Arc::new(DefinedConnector::new::<ConstantContact>());
    LiveConnection::install(connector, setup).expect("the connection installs")
}
