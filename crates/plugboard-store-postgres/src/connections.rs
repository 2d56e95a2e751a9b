//! [`ConnectionStore`] for [`PostgresStore`]: the `connections` and `partner_settings` tables.
//! Both settings documents may hold secrets (a client secret, an API key), so each is sealed
//! whole, bound to its column, tenant and row.

use plugboard_runner::StoreError;
use plugboard_runner::store::{ConnectionRecord, ConnectionStore, Endpoints, StoreFuture};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use crate::crypto::{SecretColumn, SecretSlot};
use crate::role_error::corrupt;
use crate::{DEFAULT_TENANT, PgStoreError, PostgresStore};

fn slot(column: SecretColumn, row: &str) -> SecretSlot<'_> {
    SecretSlot {
        column,
        tenant: DEFAULT_TENANT,
        row,
    }
}

impl PostgresStore {
    /// Seals a settings document for `slot`.
    fn seal_settings(
        &self,
        slot: &SecretSlot<'_>,
        settings: &Map<String, Value>,
    ) -> Result<String, StoreError> {
        let text = serde_json::to_string(settings).map_err(|e| corrupt("settings", e))?;
        Ok(self.key.seal_str(slot, &text).map_err(PgStoreError::from)?)
    }

    /// Opens a settings document sealed for `slot`.
    fn open_settings(
        &self,
        slot: &SecretSlot<'_>,
        sealed: &str,
    ) -> Result<Map<String, Value>, StoreError> {
        let text = self
            .key
            .open_string(slot, sealed)
            .map_err(|e| PgStoreError::secret(self.database(), slot, e))?;
        serde_json::from_str(text.expose_secret()).map_err(|e| corrupt(slot.column.as_str(), e))
    }

    fn connection_from_row(
        &self,
        row: &tokio_postgres::Row,
    ) -> Result<ConnectionRecord, StoreError> {
        let name: String = row.get(0);
        let settings =
            self.open_settings(&slot(SecretColumn::ConnectionSettings, &name), row.get(2))?;
        let endpoints = row
            .get::<_, Option<Value>>(3)
            .map(serde_json::from_value::<Endpoints>)
            .transpose()
            .map_err(|e| corrupt("connection endpoints", e))?;
        Ok(ConnectionRecord {
            name,
            connector_id: row.get(1),
            settings,
            endpoints,
        })
    }
}

impl ConnectionStore for PostgresStore {
    fn partner_settings<'a>(
        &'a self,
        connector_id: &'a str,
    ) -> StoreFuture<'a, Map<String, Value>> {
        Box::pin(async move {
            let client = self.client().await?;
            let row = client
                .query_opt(
                    "SELECT settings_sealed FROM partner_settings
                     WHERE tenant_id = $1 AND connector_id = $2",
                    &[&DEFAULT_TENANT, &connector_id],
                )
                .await
                .map_err(self.failed("reading partner settings"))?;
            match row {
                Some(row) => self.open_settings(
                    &slot(SecretColumn::PartnerSettings, connector_id),
                    row.get(0),
                ),
                None => Ok(Map::new()),
            }
        })
    }

    fn set_partner_settings<'a>(
        &'a self,
        connector_id: &'a str,
        settings: &'a Map<String, Value>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let sealed =
                self.seal_settings(&slot(SecretColumn::PartnerSettings, connector_id), settings)?;
            let client = self.client().await?;
            client
                .execute(
                    "INSERT INTO partner_settings (tenant_id, connector_id, settings_sealed)
                     VALUES ($1, $2, $3)
                     ON CONFLICT (tenant_id, connector_id) DO UPDATE SET
                         settings_sealed = excluded.settings_sealed,
                         updated_at_ms = plugboard_now_ms()",
                    &[&DEFAULT_TENANT, &connector_id, &sealed],
                )
                .await
                .map_err(self.failed("storing partner settings"))?;
            Ok(())
        })
    }

    fn connection<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<ConnectionRecord>> {
        Box::pin(async move {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(
                    "SELECT name, connector_id, settings_sealed, endpoints FROM connections
                     WHERE tenant_id = $1 AND name = $2",
                )
                .await
                .map_err(self.failed("reading a connection"))?;
            let row = client
                .query_opt(&statement, &[&DEFAULT_TENANT, &name])
                .await
                .map_err(self.failed("reading a connection"))?;
            row.map(|row| self.connection_from_row(&row)).transpose()
        })
    }

    fn connections(&self) -> StoreFuture<'_, Vec<ConnectionRecord>> {
        Box::pin(async move {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT name, connector_id, settings_sealed, endpoints FROM connections
                     WHERE tenant_id = $1 ORDER BY name",
                    &[&DEFAULT_TENANT],
                )
                .await
                .map_err(self.failed("listing connections"))?;
            rows.iter()
                .map(|row| self.connection_from_row(row))
                .collect()
        })
    }

    fn put_connection<'a>(&'a self, connection: &'a ConnectionRecord) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let sealed = self.seal_settings(
                &slot(SecretColumn::ConnectionSettings, &connection.name),
                &connection.settings,
            )?;
            let endpoints = connection
                .endpoints
                .as_ref()
                .map(serde_json::to_value)
                .transpose()
                .map_err(|e| corrupt("connection endpoints", e))?;
            let client = self.client().await?;
            client
                .execute(
                    "INSERT INTO connections (tenant_id, name, connector_id, settings_sealed,
                                              endpoints)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (tenant_id, name) DO UPDATE SET
                         connector_id = excluded.connector_id,
                         settings_sealed = excluded.settings_sealed,
                         endpoints = excluded.endpoints",
                    &[
                        &DEFAULT_TENANT,
                        &connection.name,
                        &connection.connector_id,
                        &sealed,
                        &endpoints,
                    ],
                )
                .await
                .map_err(self.failed("storing a connection"))?;
            Ok(())
        })
    }

    fn delete_connection<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client
                .transaction()
                .await
                .map_err(self.failed("deleting a connection"))?;
            tx.execute(
                "DELETE FROM tokens WHERE tenant_id = $1 AND connection = $2",
                &[&DEFAULT_TENANT, &name],
            )
            .await
            .map_err(self.failed("deleting a connection's tokens"))?;
            let removed = tx
                .execute(
                    "DELETE FROM connections WHERE tenant_id = $1 AND name = $2",
                    &[&DEFAULT_TENANT, &name],
                )
                .await
                .map_err(self.failed("deleting a connection"))?;
            tx.commit()
                .await
                .map_err(self.failed("deleting a connection"))?;
            Ok(removed > 0)
        })
    }
}
