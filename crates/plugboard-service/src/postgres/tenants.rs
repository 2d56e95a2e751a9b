//! [`ServiceStore`] on PostgreSQL: the admin key's hash, tenants and their keys' hashes.

use super::{PgServiceStore, execute, query, query_one, query_opt};
use crate::store::{KeyOwner, ServiceStore, StoreFuture, Tenant, now};

fn tenant_from(row: &tokio_postgres::Row) -> Tenant {
    Tenant {
        id: row.get(0),
        created_at: row.get(1),
    }
}

impl ServiceStore for PgServiceStore {
    fn set_admin_key_hash(&self, hash: [u8; 32]) -> StoreFuture<'_, ()> {
        self.using(move |store| async move {
            let doing = "storing the admin key's hash";
            execute(
                store,
                doing,
                "INSERT INTO service_admin_key (id, hash) VALUES (1, $1)
                     ON CONFLICT (id) DO UPDATE SET hash = excluded.hash",
                &[&hash.as_slice()],
            )
            .await?;
            Ok(())
        })
    }

    fn has_admin_key(&self) -> StoreFuture<'_, bool> {
        self.using(move |store| async move {
            let row = query_one(
                store,
                "looking for the admin key",
                "SELECT EXISTS (SELECT 1 FROM service_admin_key)",
                &[],
            )
            .await?;
            Ok(row.get(0))
        })
    }

    fn key_owner(&self, hash: [u8; 32]) -> StoreFuture<'_, Option<KeyOwner>> {
        self.using(move |store| async move {
            let doing = "looking up an API key";
            let client = store.client().await?;
            let admin = client
                .query_opt("SELECT hash FROM service_admin_key WHERE id = 1", &[])
                .await
                .map_err(store.failed(doing))?;
            if admin.is_some_and(|row| crate::auth::same_hash(row.get(0), &hash)) {
                return Ok(Some(KeyOwner::Admin));
            }
            // Looked up by hash: timing reveals at most something about a hash, never the key.
            let tenant = client
                .query_opt(
                    "SELECT tenant_id FROM service_tenant_keys WHERE hash = $1",
                    &[&hash.as_slice()],
                )
                .await
                .map_err(store.failed(doing))?;
            Ok(tenant.map(|row| KeyOwner::Tenant(row.get(0))))
        })
    }

    fn create_tenant(&self, id: String, key_hash: [u8; 32]) -> StoreFuture<'_, bool> {
        self.using(move |store| async move {
            let doing = "creating a tenant";
            let mut client = store.client().await?;
            let tx = client.transaction().await.map_err(store.failed(doing))?;
            let created = tx
                .execute(
                    "INSERT INTO service_tenants (id, created_at) VALUES ($1, $2)
                     ON CONFLICT (id) DO NOTHING",
                    &[&id, &now()],
                )
                .await
                .map_err(store.failed(doing))?;
            if created == 0 {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO service_tenant_keys (hash, tenant_id) VALUES ($1, $2)",
                &[&key_hash.as_slice(), &id],
            )
            .await
            .map_err(store.failed(doing))?;
            tx.commit().await.map_err(store.failed(doing))?;
            Ok(true)
        })
    }

    fn add_tenant_key(&self, id: String, key_hash: [u8; 32]) -> StoreFuture<'_, bool> {
        self.using(move |store| async move {
            let added = execute(
                store,
                "adding a tenant key",
                "INSERT INTO service_tenant_keys (hash, tenant_id)
                     SELECT $1, id FROM service_tenants WHERE id = $2",
                &[&key_hash.as_slice(), &id],
            )
            .await?;
            Ok(added == 1)
        })
    }

    fn tenants(&self) -> StoreFuture<'_, Vec<Tenant>> {
        self.using(move |store| async move {
            let rows = query(
                store,
                "listing tenants",
                "SELECT id, created_at FROM service_tenants ORDER BY id",
                &[],
            )
            .await?;
            Ok(rows.iter().map(tenant_from).collect())
        })
    }

    fn tenant(&self, id: String) -> StoreFuture<'_, Option<Tenant>> {
        self.using(move |store| async move {
            let row = query_opt(
                store,
                "reading a tenant",
                "SELECT id, created_at FROM service_tenants WHERE id = $1",
                &[&id],
            )
            .await?;
            Ok(row.as_ref().map(tenant_from))
        })
    }

    fn delete_tenant(&self, id: String) -> StoreFuture<'_, bool> {
        self.using(move |store| async move {
            // Its keys, installs, links and sessions go with it (ON DELETE CASCADE).
            let deleted = execute(
                store,
                "deleting a tenant",
                "DELETE FROM service_tenants WHERE id = $1",
                &[&id],
            )
            .await?;
            Ok(deleted == 1)
        })
    }
}
