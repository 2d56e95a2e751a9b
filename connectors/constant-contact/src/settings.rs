//! Settings, as Cyclr's Constant Contact (v3) setup guide presents them.

use plugboard_core::settings::{self, Secret};
use schemars::JsonSchema;
use serde::Deserialize;

/// Settings of a Constant Contact connection.
///
/// The Client ID and Secret belong to the partner's Constant Contact application (created with the
/// Authorization Code flow and Rotating Refresh Tokens). Left blank at partner level, each
/// connection must supply its own.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The "API Key" shown for your application under My Applications in the Constant Contact
    /// developer portal.
    #[schemars(title = "Client ID", transform = settings::partner, length(min = 1))]
    pub client_id: String,
    /// The secret generated for your application ("Generate Your Secret").
    #[schemars(title = "Client Secret", transform = settings::partner_secret, length(min = 1))]
    pub client_secret: Secret,
    /// The callback URL registered on the application, e.g.
    /// `https://{your service domain}/connector/callback`, or a loopback URL for local use.
    #[schemars(title = "Redirect URI", transform = settings::partner, url)]
    pub redirect_uri: String,
    /// Space-separated OAuth scopes; `offline_access` is needed for refresh tokens.
    #[serde(default = "default_scopes")]
    #[schemars(title = "Scopes", transform = settings::partner)]
    pub scopes: String,
}

fn default_scopes() -> String {
    crate::DEFAULT_SCOPES.join(" ")
}
