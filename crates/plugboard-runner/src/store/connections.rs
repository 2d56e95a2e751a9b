//! Connections and the partner settings of the apps they use: [`ConnectionStore`].

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::StoreFuture;

/// The API endpoints of one connection: the manifest's, or a sandbox's when overridden.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// The API root request paths are relative to.
    pub base_url: String,
    /// Where users grant access (OAuth2), if the auth scheme has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    /// Where codes and refresh tokens are exchanged (OAuth2), if the auth scheme has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
}

/// An installed connection: which connector, with which connection-level settings.
#[derive(Clone, PartialEq)]
pub struct ConnectionRecord {
    /// The connection's name, unique in the store (what workflows and `--name` refer to).
    pub name: String,
    /// The connector id, e.g. `constant-contact`.
    pub connector_id: String,
    /// Connection-level settings; may hold secrets, so `Debug` shows only the field names.
    pub settings: Map<String, Value>,
    /// Endpoint overrides (the sandbox); `None` uses the manifest's.
    pub endpoints: Option<Endpoints>,
}

impl fmt::Debug for ConnectionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionRecord")
            .field("name", &self.name)
            .field("connector_id", &self.connector_id)
            .field("settings", &RedactedKeys(&self.settings))
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

/// Shows a settings map as its field names only.
pub(crate) struct RedactedKeys<'a>(pub(crate) &'a Map<String, Value>);

impl fmt::Debug for RedactedKeys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "[redacted]")))
            .finish()
    }
}

/// Installed connections and the partner-level settings of each connector (the app's client id
/// and secret): what a session reads to prepare a connection, and `connect` writes.
pub trait ConnectionStore: Send + Sync + fmt::Debug {
    /// Partner-level settings of a connector (empty when none were saved).
    fn partner_settings<'a>(&'a self, connector_id: &'a str)
    -> StoreFuture<'a, Map<String, Value>>;
    /// Replaces the partner-level settings of a connector.
    fn set_partner_settings<'a>(
        &'a self,
        connector_id: &'a str,
        settings: &'a Map<String, Value>,
    ) -> StoreFuture<'a, ()>;

    /// The connection with this name.
    fn connection<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<ConnectionRecord>>;
    /// Every connection, by name.
    fn connections(&self) -> StoreFuture<'_, Vec<ConnectionRecord>>;
    /// Creates or replaces a connection (its tokens are kept).
    fn put_connection<'a>(&'a self, connection: &'a ConnectionRecord) -> StoreFuture<'a, ()>;
    /// Removes a connection and its tokens (and with them its refresh lease), in one
    /// transaction; `false` when there was none.
    fn delete_connection<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool>;
}
