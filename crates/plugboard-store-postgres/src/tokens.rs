//! A connection's tokens, sealed at rest: sealing and opening them, and the tenant-aware reads and
//! writes the token store's trait implementation ([`refresh`](crate::refresh)) builds on.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::crypto::{SecretColumn, SecretSlot};
use crate::{PgStoreError, PostgresStore};

/// A connection's OAuth2 tokens as the store keeps them. `Debug` never shows the tokens.
#[derive(Clone)]
pub struct StoredTokens {
    /// The bearer token.
    pub access_token: SecretString,
    /// The token that buys a new access token.
    pub refresh_token: Option<SecretString>,
    /// When the access token expires, seconds since the epoch.
    pub expires_at: Option<i64>,
    /// The scopes granted, space-separated.
    pub scope: Option<String>,
}

impl fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredTokens")
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Where a connection's access and refresh tokens are sealed.
fn slots<'a>(tenant: &'a str, connection: &'a str) -> (SecretSlot<'a>, SecretSlot<'a>) {
    let slot = |column| SecretSlot {
        column,
        tenant,
        row: connection,
    };
    (
        slot(SecretColumn::AccessToken),
        slot(SecretColumn::RefreshToken),
    )
}

impl PostgresStore {
    /// Seals a connection's access and refresh tokens, each bound to its column and row.
    pub(crate) fn seal_tokens(
        &self,
        tenant: &str,
        connection: &str,
        tokens: &StoredTokens,
    ) -> Result<(String, Option<String>), PgStoreError> {
        let (access_slot, refresh_slot) = slots(tenant, connection);
        let access = self
            .key
            .seal_str(&access_slot, tokens.access_token.expose_secret())?;
        let refresh = match &tokens.refresh_token {
            Some(token) => Some(self.key.seal_str(&refresh_slot, token.expose_secret())?),
            None => None,
        };
        Ok((access, refresh))
    }

    /// Opens a connection's sealed access and refresh tokens.
    pub(crate) fn open_tokens(
        &self,
        tenant: &str,
        connection: &str,
        access_sealed: &str,
        refresh_sealed: Option<&str>,
    ) -> Result<(SecretString, Option<SecretString>), PgStoreError> {
        let (access_slot, refresh_slot) = slots(tenant, connection);
        let open = |slot: &SecretSlot<'_>, sealed: &str| {
            self.key
                .open_string(slot, sealed)
                .map_err(|e| PgStoreError::secret(self.database(), slot, e))
        };
        let access_token = open(&access_slot, access_sealed)?;
        let refresh_token = match refresh_sealed {
            Some(sealed) => Some(open(&refresh_slot, sealed)?),
            None => None,
        };
        Ok((access_token, refresh_token))
    }

    /// Stores a connection's tokens unconditionally (a fresh authorization): sealed, with the
    /// version one past the previous one (1 for the first), any refresh lease released and any
    /// need for a new authorization cleared. Returns the new version.
    pub async fn put_tokens(
        &self,
        tenant: &str,
        connection: &str,
        tokens: &StoredTokens,
    ) -> Result<i64, PgStoreError> {
        let (access, refresh) = self.seal_tokens(tenant, connection, tokens)?;
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO tokens (tenant_id, connection, access_token_sealed,
                                     refresh_token_sealed, expires_at, scope, version)
                 VALUES ($1, $2, $3, $4, $5, $6, 1)
                 ON CONFLICT (tenant_id, connection) DO UPDATE SET
                     access_token_sealed = excluded.access_token_sealed,
                     refresh_token_sealed = excluded.refresh_token_sealed,
                     expires_at = excluded.expires_at, scope = excluded.scope,
                     version = tokens.version + 1, updated_at_ms = plugboard_now_ms(),
                     reauth_reason = NULL, lease_holder = NULL, lease_until_ms = NULL,
                     lease_pid = NULL, lease_host = NULL
                 RETURNING version",
            )
            .await
            .map_err(self.failed("storing tokens"))?;
        let row = client
            .query_one(
                &statement,
                &[
                    &tenant,
                    &connection,
                    &access,
                    &refresh,
                    &tokens.expires_at,
                    &tokens.scope,
                ],
            )
            .await
            .map_err(self.failed("storing tokens"))?;
        Ok(row.get(0))
    }

    /// A connection's tokens and their version, opened with the store's key.
    pub async fn tokens(
        &self,
        tenant: &str,
        connection: &str,
    ) -> Result<Option<(StoredTokens, i64)>, PgStoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT access_token_sealed, refresh_token_sealed, expires_at, scope, version
                 FROM tokens WHERE tenant_id = $1 AND connection = $2",
            )
            .await
            .map_err(self.failed("reading tokens"))?;
        let Some(row) = client
            .query_opt(&statement, &[&tenant, &connection])
            .await
            .map_err(self.failed("reading tokens"))?
        else {
            return Ok(None);
        };
        let (access_token, refresh_token) =
            self.open_tokens(tenant, connection, row.get(0), row.get(1))?;
        let tokens = StoredTokens {
            access_token,
            refresh_token,
            expires_at: row.get(2),
            scope: row.get(3),
        };
        Ok(Some((tokens, row.get(4))))
    }
}
