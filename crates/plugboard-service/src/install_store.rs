//! The service's records of installs in progress: pending OAuth authorizations (keyed by the
//! SHA-256 of their `state`) and connect links (keyed by the SHA-256 of their token).
//!
//! Both are one-time: `take_*` deletes the row it returns in the same statement, so two
//! callbacks racing with one `state` cannot both finish an install. Both belong to a tenant
//! (`ON DELETE CASCADE`), so deleting the tenant removes them. Expired rows are swept whenever a
//! new one is written, so the tables stay small without a background task.

use rusqlite::{OptionalExtension as _, params};

use crate::store::{SqliteServiceStore, StoreFuture, hash_from};

/// The tables, created with the rest of the service's schema.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS pending_installs (
    state_hash BLOB PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    connector TEXT NOT NULL,
    authorization TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS connect_links (
    token_hash BLOB PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    connector TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
";

/// An OAuth authorization a tenant started and the provider has not sent back yet.
#[derive(Clone)]
pub struct PendingInstall {
    /// SHA-256 of the `state` sent to the provider (the state itself is not kept).
    pub state_hash: [u8; 32],
    /// The tenant the install is bound to.
    pub tenant: String,
    /// The connection's name within the tenant.
    pub name: String,
    /// The connector id.
    pub connector: String,
    /// The runner's `PendingAuthorization` as JSON (PKCE verifier, redirect URI, settings).
    pub authorization: String,
    /// When the `state` stops being accepted (ms since the epoch).
    pub expires_at_ms: i64,
}

impl std::fmt::Debug for PendingInstall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingInstall")
            .field("tenant", &self.tenant)
            .field("name", &self.name)
            .field("connector", &self.connector)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// A one-time link that lets a tenant's end user start an install from a browser.
#[derive(Debug, Clone)]
pub struct ConnectLink {
    /// SHA-256 of the link's token.
    pub token_hash: [u8; 32],
    /// The tenant the install will belong to.
    pub tenant: String,
    /// The connection's name within the tenant.
    pub name: String,
    /// The connector id.
    pub connector: String,
    /// When the link stops working (ms since the epoch).
    pub expires_at_ms: i64,
}

/// Installs in progress. Every lookup is by hash; rows are one-time.
pub trait InstallStore: Send + Sync {
    /// Stores a pending install (and sweeps expired ones).
    fn put_pending_install(&self, install: PendingInstall) -> StoreFuture<'_, ()>;
    /// Removes and returns the pending install with this state hash, expired or not (the
    /// caller refuses an expired one; either way it cannot be used again).
    fn take_pending_install(&self, state_hash: [u8; 32])
    -> StoreFuture<'_, Option<PendingInstall>>;
    /// Stores a connect link (and sweeps expired ones).
    fn put_connect_link(&self, link: ConnectLink) -> StoreFuture<'_, ()>;
    /// The connect link with this token hash, left in place (showing the page does not use it).
    fn connect_link(&self, token_hash: [u8; 32]) -> StoreFuture<'_, Option<ConnectLink>>;
    /// Removes and returns the connect link with this token hash.
    fn take_connect_link(&self, token_hash: [u8; 32]) -> StoreFuture<'_, Option<ConnectLink>>;
    /// How many unexpired pending installs and connect links the tenant has: bounded by the
    /// caller, so one tenant cannot grow the tables without limit.
    fn open_installs(&self, tenant: String) -> StoreFuture<'_, i64>;
}

pub use crate::store::now_ms;

fn pending_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<PendingInstall> {
    Ok(PendingInstall {
        state_hash: hash_from(&row.get::<_, Vec<u8>>(0)?),
        tenant: row.get(1)?,
        name: row.get(2)?,
        connector: row.get(3)?,
        authorization: row.get(4)?,
        expires_at_ms: row.get(5)?,
    })
}

fn link_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ConnectLink> {
    Ok(ConnectLink {
        token_hash: hash_from(&row.get::<_, Vec<u8>>(0)?),
        tenant: row.get(1)?,
        name: row.get(2)?,
        connector: row.get(3)?,
        expires_at_ms: row.get(4)?,
    })
}

impl InstallStore for SqliteServiceStore {
    fn put_pending_install(&self, install: PendingInstall) -> StoreFuture<'_, ()> {
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "DELETE FROM pending_installs WHERE expires_at_ms < ?1",
                params![now_ms()],
            )?;
            tx.execute(
                "INSERT INTO pending_installs
                 (state_hash, tenant_id, name, connector, authorization, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    install.state_hash.to_vec(),
                    install.tenant,
                    install.name,
                    install.connector,
                    install.authorization,
                    install.expires_at_ms
                ],
            )?;
            tx.commit()
        })
    }

    fn take_pending_install(
        &self,
        state_hash: [u8; 32],
    ) -> StoreFuture<'_, Option<PendingInstall>> {
        self.with(move |c| {
            c.query_row(
                "DELETE FROM pending_installs WHERE state_hash = ?1
                 RETURNING state_hash, tenant_id, name, connector, authorization, expires_at_ms",
                params![state_hash.to_vec()],
                pending_from_row,
            )
            .optional()
        })
    }

    fn put_connect_link(&self, link: ConnectLink) -> StoreFuture<'_, ()> {
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "DELETE FROM connect_links WHERE expires_at_ms < ?1",
                params![now_ms()],
            )?;
            tx.execute(
                "INSERT INTO connect_links (token_hash, tenant_id, name, connector, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    link.token_hash.to_vec(),
                    link.tenant,
                    link.name,
                    link.connector,
                    link.expires_at_ms
                ],
            )?;
            tx.commit()
        })
    }

    fn connect_link(&self, token_hash: [u8; 32]) -> StoreFuture<'_, Option<ConnectLink>> {
        self.with(move |c| {
            c.query_row(
                "SELECT token_hash, tenant_id, name, connector, expires_at_ms
                 FROM connect_links WHERE token_hash = ?1",
                params![token_hash.to_vec()],
                link_from_row,
            )
            .optional()
        })
    }

    fn open_installs(&self, tenant: String) -> StoreFuture<'_, i64> {
        self.with(move |c| {
            c.query_row(
                "SELECT (SELECT COUNT(*) FROM pending_installs
                         WHERE tenant_id = ?1 AND expires_at_ms >= ?2)
                      + (SELECT COUNT(*) FROM connect_links
                         WHERE tenant_id = ?1 AND expires_at_ms >= ?2)",
                params![tenant, now_ms()],
                |row| row.get(0),
            )
        })
    }

    fn take_connect_link(&self, token_hash: [u8; 32]) -> StoreFuture<'_, Option<ConnectLink>> {
        self.with(move |c| {
            c.query_row(
                "DELETE FROM connect_links WHERE token_hash = ?1
                 RETURNING token_hash, tenant_id, name, connector, expires_at_ms",
                params![token_hash.to_vec()],
                link_from_row,
            )
            .optional()
        })
    }
}
