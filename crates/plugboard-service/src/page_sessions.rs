//! The service's records behind the tenant pages other than Connect: one-time page links
//! (keyed by the SHA-256 of their token) and the browser sessions they open (keyed by the
//! SHA-256 of the cookie's value).
//!
//! A page link is spent by `take_page_link` in one statement, so two browsers racing with one
//! link cannot both get a session. Both belong to a tenant (`ON DELETE CASCADE`): deleting the
//! tenant ends its sessions at once. Expired rows are swept whenever a new one is written.

use rusqlite::{OptionalExtension as _, TransactionBehavior, params};

use crate::install_store::now_ms;
use crate::store::{SqliteServiceStore, StoreFuture, hash_from};

/// The tables, created with the rest of the service's schema.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS page_links (
    token_hash BLOB PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    page TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS page_sessions (
    token_hash BLOB PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    page TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
";

/// At most this many unexpired page links per tenant: a tenant key cannot grow the table
/// without bound.
pub const MAX_OPEN_PAGE_LINKS: i64 = 100;

/// A one-time link to a tenant page, or the browser session it opened: both say which tenant
/// and which page, until when.
#[derive(Debug, Clone)]
pub struct PageGrant {
    /// SHA-256 of the link's token or of the session cookie's value.
    pub token_hash: [u8; 32],
    /// The tenant whose data the page shows.
    pub tenant: String,
    /// The page it opens (`runs`).
    pub page: String,
    /// When it stops working (ms since the epoch).
    pub expires_at_ms: i64,
}

/// Page links and page sessions. Every lookup is by hash.
pub trait PageStore: Send + Sync {
    /// Stores a page link (and sweeps expired ones); `false` when the tenant already has
    /// [`MAX_OPEN_PAGE_LINKS`] unexpired ones.
    fn put_page_link(&self, link: PageGrant) -> StoreFuture<'_, bool>;
    /// The page link with this token hash, left in place (showing it does not spend it).
    fn page_link(&self, token_hash: [u8; 32]) -> StoreFuture<'_, Option<PageGrant>>;
    /// Removes and returns the page link with this token hash, expired or not.
    fn take_page_link(&self, token_hash: [u8; 32]) -> StoreFuture<'_, Option<PageGrant>>;
    /// Stores a page session (and sweeps expired ones).
    fn put_page_session(&self, session: PageGrant) -> StoreFuture<'_, ()>;
    /// The page session with this cookie hash, expired or not (the caller checks).
    fn page_session(&self, token_hash: [u8; 32]) -> StoreFuture<'_, Option<PageGrant>>;
}

fn grant_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<PageGrant> {
    Ok(PageGrant {
        token_hash: hash_from(&row.get::<_, Vec<u8>>(0)?),
        tenant: row.get(1)?,
        page: row.get(2)?,
        expires_at_ms: row.get(3)?,
    })
}

impl PageStore for SqliteServiceStore {
    fn put_page_link(&self, link: PageGrant) -> StoreFuture<'_, bool> {
        self.with(move |c| {
            // Immediate: a deferred transaction that reads first and then writes gets SQLITE_BUSY at
            // once (no busy wait) when the service's other connection to this file wrote meanwhile.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = now_ms();
            tx.execute(
                "DELETE FROM page_links WHERE expires_at_ms < ?1",
                params![now],
            )?;
            let open: i64 = tx.query_row(
                "SELECT COUNT(*) FROM page_links WHERE tenant_id = ?1",
                params![link.tenant],
                |row| row.get(0),
            )?;
            if open >= MAX_OPEN_PAGE_LINKS {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO page_links (token_hash, tenant_id, page, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    link.token_hash.to_vec(),
                    link.tenant,
                    link.page,
                    link.expires_at_ms
                ],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn page_link(&self, token_hash: [u8; 32]) -> StoreFuture<'_, Option<PageGrant>> {
        self.with(move |c| {
            c.query_row(
                "SELECT token_hash, tenant_id, page, expires_at_ms
                 FROM page_links WHERE token_hash = ?1",
                params![token_hash.to_vec()],
                grant_from_row,
            )
            .optional()
        })
    }

    fn take_page_link(&self, token_hash: [u8; 32]) -> StoreFuture<'_, Option<PageGrant>> {
        self.with(move |c| {
            c.query_row(
                "DELETE FROM page_links WHERE token_hash = ?1
                 RETURNING token_hash, tenant_id, page, expires_at_ms",
                params![token_hash.to_vec()],
                grant_from_row,
            )
            .optional()
        })
    }

    fn put_page_session(&self, session: PageGrant) -> StoreFuture<'_, ()> {
        self.with(move |c| {
            // Immediate: a deferred transaction that reads first and then writes gets SQLITE_BUSY at
            // once (no busy wait) when the service's other connection to this file wrote meanwhile.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM page_sessions WHERE expires_at_ms < ?1",
                params![now_ms()],
            )?;
            tx.execute(
                "INSERT INTO page_sessions (token_hash, tenant_id, page, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    session.token_hash.to_vec(),
                    session.tenant,
                    session.page,
                    session.expires_at_ms
                ],
            )?;
            tx.commit()
        })
    }

    fn page_session(&self, token_hash: [u8; 32]) -> StoreFuture<'_, Option<PageGrant>> {
        self.with(move |c| {
            c.query_row(
                "SELECT token_hash, tenant_id, page, expires_at_ms
                 FROM page_sessions WHERE token_hash = ?1",
                params![token_hash.to_vec()],
                grant_from_row,
            )
            .optional()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ServiceStore as _;

    fn grant(token: u8, tenant: &str) -> PageGrant {
        PageGrant {
            token_hash: [token; 32],
            tenant: tenant.to_owned(),
            page: "runs".to_owned(),
            expires_at_ms: now_ms() + 60_000,
        }
    }

    #[test]
    fn links_are_one_time_bounded_per_tenant_and_go_with_their_tenant() {
        let dir =
            std::env::temp_dir().join(format!("plugboard-page-sessions-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let store = SqliteServiceStore::open(&dir.join("service.db")).expect("opens");
            assert!(
                store
                    .create_tenant("t".into(), [0xee; 32])
                    .await
                    .expect("creates")
            );
            for n in 0..MAX_OPEN_PAGE_LINKS {
                let token = u8::try_from(n).expect("small");
                assert!(
                    store
                        .put_page_link(grant(token, "t"))
                        .await
                        .expect("stores")
                );
            }
            assert!(
                !store.put_page_link(grant(200, "t")).await.expect("answers"),
                "the 101st unused link is refused"
            );
            assert!(store.page_link([0; 32]).await.expect("reads").is_some());
            assert!(
                store
                    .take_page_link([0; 32])
                    .await
                    .expect("takes")
                    .is_some()
            );
            assert!(
                store
                    .take_page_link([0; 32])
                    .await
                    .expect("takes")
                    .is_none()
            );
            assert!(store.page_link([0; 32]).await.expect("reads").is_none());
            // A spent link makes room for a new one.
            assert!(store.put_page_link(grant(200, "t")).await.expect("stores"));

            store
                .put_page_session(grant(201, "t"))
                .await
                .expect("stores");
            let session = store.page_session([201; 32]).await.expect("reads");
            assert_eq!(session.map(|s| s.tenant).as_deref(), Some("t"));
            assert!(store.delete_tenant("t".into()).await.expect("deletes"));
            assert!(
                store
                    .page_session([201; 32])
                    .await
                    .expect("reads")
                    .is_none()
            );
            assert!(store.page_link([1; 32]).await.expect("reads").is_none());
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
