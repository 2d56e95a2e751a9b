//! [`InstallStore`] on PostgreSQL: pending OAuth installs (their authorization sealed) and
//! connect links. Both are taken with one `DELETE … RETURNING`, so among all service processes
//! exactly one callback finishes an install.

use plugboard_store_postgres::PgStoreError;
use plugboard_store_postgres::crypto::SecretColumn;

use super::{PgServiceStore, open, query_one, query_opt, seal};
use crate::install_store::{ConnectLink, InstallStore, PendingInstall, now_ms};
use crate::store::StoreFuture;
use crate::store::hash_from;

/// The row a pending install's authorization is sealed to: its state hash, in hex.
fn install_row(state_hash: &[u8; 32]) -> String {
    state_hash.iter().map(|b| format!("{b:02x}")).collect()
}

fn pending_from(
    store: &plugboard_store_postgres::PostgresStore,
    row: &tokio_postgres::Row,
) -> Result<PendingInstall, PgStoreError> {
    let state_hash = hash_from(row.get(0));
    let tenant: String = row.get(1);
    let authorization = open(
        store,
        SecretColumn::ServicePendingInstall,
        &tenant,
        &install_row(&state_hash),
        row.get(4),
    )?;
    Ok(PendingInstall {
        state_hash,
        tenant,
        name: row.get(2),
        connector: row.get(3),
        authorization,
        expires_at_ms: row.get(5),
    })
}

fn link_from(row: &tokio_postgres::Row) -> ConnectLink {
    ConnectLink {
        token_hash: hash_from(row.get(0)),
        tenant: row.get(1),
        name: row.get(2),
        connector: row.get(3),
        expires_at_ms: row.get(4),
    }
}

impl InstallStore for PgServiceStore {
    fn put_pending_install(&self, install: PendingInstall) -> StoreFuture<'_, ()> {
        self.using(move |store| async move {
            let doing = "storing a pending install";
            let sealed = seal(
                store,
                SecretColumn::ServicePendingInstall,
                &install.tenant,
                &install_row(&install.state_hash),
                &install.authorization,
            )?;
            let mut client = store.client().await?;
            let tx = client.transaction().await.map_err(store.failed(doing))?;
            tx.execute(
                "DELETE FROM service_pending_installs WHERE expires_at_ms < $1",
                &[&now_ms()],
            )
            .await
            .map_err(store.failed(doing))?;
            tx.execute(
                "INSERT INTO service_pending_installs
                 (state_hash, tenant_id, name, connector, authorization_sealed, expires_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &install.state_hash.as_slice(),
                    &install.tenant,
                    &install.name,
                    &install.connector,
                    &sealed,
                    &install.expires_at_ms,
                ],
            )
            .await
            .map_err(store.failed(doing))?;
            tx.commit().await.map_err(store.failed(doing))
        })
    }

    fn take_pending_install(
        &self,
        state_hash: [u8; 32],
    ) -> StoreFuture<'_, Option<PendingInstall>> {
        self.using(move |store| async move {
            let row = query_opt(
                store,
                "taking a pending install",
                "DELETE FROM service_pending_installs WHERE state_hash = $1
                     RETURNING state_hash, tenant_id, name, connector, authorization_sealed,
                               expires_at_ms",
                &[&state_hash.as_slice()],
            )
            .await?;
            row.map(|row| pending_from(store, &row)).transpose()
        })
    }

    fn put_connect_link(&self, link: ConnectLink) -> StoreFuture<'_, ()> {
        self.using(move |store| async move {
            let doing = "storing a connect link";
            let mut client = store.client().await?;
            let tx = client.transaction().await.map_err(store.failed(doing))?;
            tx.execute(
                "DELETE FROM service_connect_links WHERE expires_at_ms < $1",
                &[&now_ms()],
            )
            .await
            .map_err(store.failed(doing))?;
            tx.execute(
                "INSERT INTO service_connect_links
                 (token_hash, tenant_id, name, connector, expires_at_ms)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &link.token_hash.as_slice(),
                    &link.tenant,
                    &link.name,
                    &link.connector,
                    &link.expires_at_ms,
                ],
            )
            .await
            .map_err(store.failed(doing))?;
            tx.commit().await.map_err(store.failed(doing))
        })
    }

    fn connect_link(&self, token_hash: [u8; 32]) -> StoreFuture<'_, Option<ConnectLink>> {
        self.using(move |store| async move {
            let row = query_opt(
                store,
                "reading a connect link",
                "SELECT token_hash, tenant_id, name, connector, expires_at_ms
                     FROM service_connect_links WHERE token_hash = $1",
                &[&token_hash.as_slice()],
            )
            .await?;
            Ok(row.as_ref().map(link_from))
        })
    }

    fn take_connect_link(&self, token_hash: [u8; 32]) -> StoreFuture<'_, Option<ConnectLink>> {
        self.using(move |store| async move {
            let row = query_opt(
                store,
                "taking a connect link",
                "DELETE FROM service_connect_links WHERE token_hash = $1
                     RETURNING token_hash, tenant_id, name, connector, expires_at_ms",
                &[&token_hash.as_slice()],
            )
            .await?;
            Ok(row.as_ref().map(link_from))
        })
    }

    fn open_installs(&self, tenant: String) -> StoreFuture<'_, i64> {
        self.using(move |store| async move {
            let row = query_one(
                store,
                "counting open installs",
                "SELECT (SELECT COUNT(*) FROM service_pending_installs
                             WHERE tenant_id = $1 AND expires_at_ms >= $2)
                          + (SELECT COUNT(*) FROM service_connect_links
                             WHERE tenant_id = $1 AND expires_at_ms >= $2)",
                &[&tenant, &now_ms()],
            )
            .await?;
            Ok(row.get(0))
        })
    }
}
