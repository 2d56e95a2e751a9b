//! Settings of a generic HTTP connection: all at connection level, since each connection names
//! its own API.

use plugboard_core::rate_limit;
use plugboard_core::settings::{self, Secret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a connection authenticates; the host reads this field to choose the auth scheme.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    /// No credentials.
    #[default]
    None,
    /// `api_key` in the header named by `api_key_name` (default `X-API-Key`).
    ApiKeyHeader,
    /// `api_key` in the query parameter named by `api_key_name` (default `api_key`).
    ApiKeyQuery,
    /// `Authorization: Bearer <api_key>`.
    Bearer,
    /// HTTP Basic with `username` and `password`.
    Basic,
}

impl AuthType {
    /// The value as written in settings (the option names of the manifest's auth selection).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ApiKeyHeader => "api_key_header",
            Self::ApiKeyQuery => "api_key_query",
            Self::Bearer => "bearer",
            Self::Basic => "basic",
        }
    }
}

/// Settings of a generic HTTP connection.
// Also what the methods read (`Settings::of`): the secrets are `Secret`, absent on this side.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The API root every request path is relative to, e.g. `https://api.example.com/v1`.
    /// Requests cannot leave it (its scheme, host, port and path).
    #[schemars(title = "Base URL", transform = settings::connection, url)]
    pub base_url: String,
    /// How requests authenticate.
    #[serde(default)]
    #[schemars(title = "Auth type", transform = settings::connection)]
    pub auth_type: AuthType,
    /// The header (`api_key_header`) or query parameter (`api_key_query`) that carries the key.
    #[serde(default)]
    #[schemars(title = "API key name", transform = settings::connection)]
    pub api_key_name: Option<String>,
    /// The API key (`api_key_header`, `api_key_query`) or token (`bearer`).
    #[serde(default)]
    #[schemars(title = "API key or token", transform = settings::connection_secret)]
    pub api_key: Option<Secret>,
    /// The user name for `basic`.
    #[serde(default)]
    #[schemars(title = "User name", transform = settings::connection)]
    pub username: Option<String>,
    /// The password for `basic`.
    #[serde(default)]
    #[schemars(title = "Password", transform = settings::connection_secret)]
    pub password: Option<Secret>,
    /// The most requests per second this connection sends (none: no limit of its own).
    #[serde(default)]
    #[schemars(
        title = "Requests per second",
        transform = connection_rate_limit,
        range(min = 1)
    )]
    pub requests_per_second: Option<u32>,
}

fn connection_rate_limit(schema: &mut schemars::Schema) {
    settings::connection(schema);
    rate_limit::per_second_setting(schema);
}

impl Settings {
    /// The settings of the connection `cx` serves, as the host hands them over (no secrets).
    pub(crate) fn of<R: Serialize>(
        cx: &plugboard_core::Context<'_, R>,
    ) -> Result<Self, plugboard_core::ConnectorError> {
        cx.settings()
    }

    fn key_name(&self, default: &str) -> String {
        self.api_key_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(default)
            .to_owned()
    }

    /// The header the host puts the credential in, which a request must not set itself.
    pub(crate) fn credential_header(&self) -> Option<String> {
        match self.auth_type {
            AuthType::ApiKeyHeader => Some(self.key_name(crate::DEFAULT_KEY_HEADER)),
            _ => None,
        }
    }

    /// The query parameter the host puts the credential in.
    pub(crate) fn credential_param(&self) -> Option<String> {
        match self.auth_type {
            AuthType::ApiKeyQuery => Some(self.key_name(crate::DEFAULT_KEY_PARAM)),
            _ => None,
        }
    }
}
