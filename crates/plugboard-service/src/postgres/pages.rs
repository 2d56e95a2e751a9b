//! [`PageStore`] on PostgreSQL: one-time page links and the browser sessions they open.

use super::{PgServiceStore, query_opt};
use crate::install_store::now_ms;
use crate::page_sessions::{MAX_OPEN_PAGE_LINKS, PageGrant, PageStore};
use crate::store::StoreFuture;
use crate::store::hash_from;

fn grant_from(row: &tokio_postgres::Row) -> PageGrant {
    PageGrant {
        token_hash: hash_from(row.get(0)),
        tenant: row.get(1),
        page: row.get(2),
        expires_at_ms: row.get(3),
    }
}

impl PageStore for PgServiceStore {
    fn put_page_link(&self, link: PageGrant) -> StoreFuture<'_, bool> {
        self.using(move |store| async move {
            let doing = "storing a page link";
            let mut client = store.client().await?;
            let tx = client.transaction().await.map_err(store.failed(doing))?;
            // The tenant's row lock makes count-then-insert one step among all processes, so
            // two racing requests cannot both take the last free place. NO KEY: adding a key or
            // an install for the tenant meanwhile is not held up. An unknown tenant fails at the
            // insert (its foreign key), as on SQLite.
            tx.execute(
                "SELECT 1 FROM service_tenants WHERE id = $1 FOR NO KEY UPDATE",
                &[&link.tenant],
            )
            .await
            .map_err(store.failed(doing))?;
            tx.execute(
                "DELETE FROM service_page_links WHERE expires_at_ms < $1",
                &[&now_ms()],
            )
            .await
            .map_err(store.failed(doing))?;
            let open: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM service_page_links WHERE tenant_id = $1",
                    &[&link.tenant],
                )
                .await
                .map_err(store.failed(doing))?
                .get(0);
            if open >= MAX_OPEN_PAGE_LINKS {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO service_page_links (token_hash, tenant_id, page, expires_at_ms)
                 VALUES ($1, $2, $3, $4)",
                &[
                    &link.token_hash.as_slice(),
                    &link.tenant,
                    &link.page,
                    &link.expires_at_ms,
                ],
            )
            .await
            .map_err(store.failed(doing))?;
            tx.commit().await.map_err(store.failed(doing))?;
            Ok(true)
        })
    }

    fn page_link(&self, token_hash: [u8; 32]) -> StoreFuture<'_, Option<PageGrant>> {
        self.using(move |store| async move {
            let row = query_opt(
                store,
                "reading a page link",
                "SELECT token_hash, tenant_id, page, expires_at_ms
                     FROM service_page_links WHERE token_hash = $1",
                &[&token_hash.as_slice()],
            )
            .await?;
            Ok(row.as_ref().map(grant_from))
        })
    }

    fn take_page_link(&self, token_hash: [u8; 32]) -> StoreFuture<'_, Option<PageGrant>> {
        self.using(move |store| async move {
            let row = query_opt(
                store,
                "taking a page link",
                "DELETE FROM service_page_links WHERE token_hash = $1
                     RETURNING token_hash, tenant_id, page, expires_at_ms",
                &[&token_hash.as_slice()],
            )
            .await?;
            Ok(row.as_ref().map(grant_from))
        })
    }

    fn put_page_session(&self, session: PageGrant) -> StoreFuture<'_, ()> {
        self.using(move |store| async move {
            let doing = "storing a page session";
            let mut client = store.client().await?;
            let tx = client.transaction().await.map_err(store.failed(doing))?;
            tx.execute(
                "DELETE FROM service_page_sessions WHERE expires_at_ms < $1",
                &[&now_ms()],
            )
            .await
            .map_err(store.failed(doing))?;
            tx.execute(
                "INSERT INTO service_page_sessions (token_hash, tenant_id, page, expires_at_ms)
                 VALUES ($1, $2, $3, $4)",
                &[
                    &session.token_hash.as_slice(),
                    &session.tenant,
                    &session.page,
                    &session.expires_at_ms,
                ],
            )
            .await
            .map_err(store.failed(doing))?;
            tx.commit().await.map_err(store.failed(doing))
        })
    }

    fn page_session(&self, token_hash: [u8; 32]) -> StoreFuture<'_, Option<PageGrant>> {
        self.using(move |store| async move {
            let row = query_opt(
                store,
                "reading a page session",
                "SELECT token_hash, tenant_id, page, expires_at_ms
                     FROM service_page_sessions WHERE token_hash = $1",
                &[&token_hash.as_slice()],
            )
            .await?;
            Ok(row.as_ref().map(grant_from))
        })
    }
}
