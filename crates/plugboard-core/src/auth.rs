//! How a connector's API authenticates, declared as data so the host can do it.
//!
//! Connectors never see credentials (invariant 2); they declare the scheme here and the host runs
//! the OAuth2 flows, stores and refreshes tokens, and injects `Authorization` into every request.
//! Credentials that come from settings are named by their settings field, which ties the auth spec
//! to the settings schema and lets validation say which field is missing.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::rate_limit::RateLimit;

/// The authentication scheme of a connector's API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuthSpec {
    /// OAuth2 authorization-code flow, run by the host.
    #[serde(rename = "oauth2_authorization_code")]
    OAuth2AuthorizationCode(OAuth2AuthorizationCode),
    /// A static API key sent with every request.
    ApiKey(ApiKeyAuth),
    /// HTTP Basic authentication with a user name and password from settings.
    Basic(BasicAuth),
    /// No authentication.
    None,
}

/// The OAuth2 authorization-code flow as a specific API implements it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OAuth2AuthorizationCode {
    /// Where the user is sent to grant access.
    pub authorize_url: String,
    /// Where codes and refresh tokens are exchanged for tokens.
    pub token_url: String,
    /// Scopes requested when the settings do not name others.
    pub default_scopes: Vec<String>,
    /// Whether the API accepts PKCE (S256); the host then always uses it.
    pub pkce: bool,
    /// How the client proves its identity at the token endpoint.
    pub client_auth: ClientAuth,
    /// What a refresh does to the refresh token.
    pub refresh: RefreshBehaviour,
    /// Access-token lifetime when the token response has no `expires_in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_lifetime_secs: Option<u64>,
    /// The token endpoint's own rate limit, which the host must respect when refreshing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_limit: Option<RateLimit>,
    /// Which settings fields hold the client credentials, redirect URI and scopes.
    pub settings: OAuth2SettingsFields,
}

/// Names of the settings fields an OAuth2 flow reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OAuth2SettingsFields {
    /// The field holding the client id (the application's "API key").
    pub client_id: String,
    /// The field holding the client secret.
    pub client_secret: String,
    /// The field holding the redirect (callback) URI registered with the application.
    pub redirect_uri: String,
    /// The field holding space-separated scopes, if the scopes are configurable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<String>,
}

/// How an OAuth2 client authenticates at the token endpoint (RFC 6749 section 2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `Authorization: Basic base64(client_id:client_secret)`.
    Basic,
    /// `client_id` and `client_secret` as form fields in the request body.
    Body,
}

/// What the authorization server does with the refresh token on each refresh.
///
/// The difference decides how careful the host must be: a rotating token is single-use, so two
/// concurrent refreshes kill the connection unless they are serialized and the new token is stored
/// before it is used (invariant 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefreshBehaviour {
    /// Every refresh returns a new refresh token and invalidates the old one.
    Rotating,
    /// The same refresh token may be used again.
    Reusable,
}

/// A static API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApiKeyAuth {
    /// The settings field holding the key.
    pub key_setting: String,
    /// Where the key goes in each request.
    pub placement: ApiKeyPlacement,
}

/// Where an API key is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "in", rename_all = "snake_case")]
pub enum ApiKeyPlacement {
    /// In a header, optionally after a prefix such as `Bearer `.
    Header {
        /// The header name.
        name: String,
        /// Text put before the key, e.g. `Bearer `.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        prefix: String,
    },
    /// As a query parameter.
    Query {
        /// The parameter name.
        name: String,
    },
}

/// HTTP Basic credentials taken from settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BasicAuth {
    /// The settings field holding the user name.
    pub username_setting: String,
    /// The settings field holding the password.
    pub password_setting: String,
}

impl AuthSpec {
    /// The settings fields this scheme reads, so validation can check they are present.
    pub fn required_settings(&self) -> Vec<&str> {
        match self {
            Self::OAuth2AuthorizationCode(oauth) => vec![
                oauth.settings.client_id.as_str(),
                oauth.settings.client_secret.as_str(),
                oauth.settings.redirect_uri.as_str(),
            ],
            Self::ApiKey(key) => vec![key.key_setting.as_str()],
            Self::Basic(basic) => vec![
                basic.username_setting.as_str(),
                basic.password_setting.as_str(),
            ],
            Self::None => Vec::new(),
        }
    }

    /// A short human description, for `plugboard describe`.
    pub fn summary(&self) -> String {
        match self {
            Self::OAuth2AuthorizationCode(oauth) => format!(
                "OAuth2 authorization code{}, client auth {}, {} refresh tokens",
                if oauth.pkce { " with PKCE (S256)" } else { "" },
                match oauth.client_auth {
                    ClientAuth::Basic => "HTTP Basic",
                    ClientAuth::Body => "in the body",
                },
                match oauth.refresh {
                    RefreshBehaviour::Rotating => "rotating",
                    RefreshBehaviour::Reusable => "reusable",
                },
            ),
            Self::ApiKey(key) => match &key.placement {
                ApiKeyPlacement::Header { name, .. } => format!("API key in header `{name}`"),
                ApiKeyPlacement::Query { name } => format!("API key in query parameter `{name}`"),
            },
            Self::Basic(_) => "HTTP Basic".to_owned(),
            Self::None => "none".to_owned(),
        }
    }
}
