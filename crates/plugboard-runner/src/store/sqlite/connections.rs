//! [`ConnectionStore`] for [`SqliteStore`]: the `connections` and `partner_settings` tables.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde_json::{Map, Value};

use super::{SqliteStore, from_json, run, to_json};
use crate::clock::system_now_ms;
use crate::store::{ConnectionRecord, ConnectionStore, Endpoints, StoreError, StoreFuture};

impl SqliteStore {
    fn read_connection(&self, name: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        let row: Option<(String, String, Option<String>)> = self
            .lock()
            .prepare_cached(
                "SELECT connector_id, settings, endpoints FROM connections WHERE name = ?1",
            )?
            .query_row(params![name], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .optional()?;
        row.map(|(connector_id, settings, endpoints)| {
            Ok(ConnectionRecord {
                name: name.to_owned(),
                connector_id,
                settings: from_json("connection settings", &settings)?,
                endpoints: endpoints
                    .map(|e| from_json::<Endpoints>("connection endpoints", &e))
                    .transpose()?,
            })
        })
        .transpose()
    }
}

impl ConnectionStore for SqliteStore {
    fn partner_settings<'a>(
        &'a self,
        connector_id: &'a str,
    ) -> StoreFuture<'a, Map<String, Value>> {
        run(move || {
            let text: Option<String> = self
                .lock()
                .prepare_cached("SELECT settings FROM partner_settings WHERE connector_id = ?1")?
                .query_row(params![connector_id], |row| row.get(0))
                .optional()?;
            match text {
                Some(text) => from_json("partner settings", &text),
                None => Ok(Map::new()),
            }
        })
    }

    fn set_partner_settings<'a>(
        &'a self,
        connector_id: &'a str,
        settings: &'a Map<String, Value>,
    ) -> StoreFuture<'a, ()> {
        run(move || {
            self.lock().execute(
                "INSERT INTO partner_settings (connector_id, settings) VALUES (?1, ?2)
                 ON CONFLICT(connector_id) DO UPDATE SET settings = excluded.settings",
                params![connector_id, to_json(settings)],
            )?;
            Ok(())
        })
    }

    fn connection<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<ConnectionRecord>> {
        run(move || self.read_connection(name))
    }

    fn connections(&self) -> StoreFuture<'_, Vec<ConnectionRecord>> {
        run(move || {
            let names: Vec<String> = {
                let conn = self.lock();
                let mut statement = conn.prepare("SELECT name FROM connections ORDER BY name")?;
                statement
                    .query_map([], |row| row.get(0))?
                    .collect::<Result<_, _>>()?
            };
            names
                .iter()
                .filter_map(|name| self.read_connection(name).transpose())
                .collect()
        })
    }

    fn put_connection<'a>(&'a self, connection: &'a ConnectionRecord) -> StoreFuture<'a, ()> {
        run(move || {
            self.lock().execute(
                "INSERT INTO connections (name, connector_id, settings, endpoints, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(name) DO UPDATE SET connector_id = excluded.connector_id,
                     settings = excluded.settings, endpoints = excluded.endpoints",
                params![
                    connection.name,
                    connection.connector_id,
                    to_json(&connection.settings),
                    connection.endpoints.as_ref().map(to_json),
                    system_now_ms(),
                ],
            )?;
            Ok(())
        })
    }

    fn delete_connection<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        run(move || {
            let mut conn = self.lock();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM tokens WHERE connection = ?1", params![name])?;
            let removed = tx.execute("DELETE FROM connections WHERE name = ?1", params![name])?;
            tx.commit()?;
            Ok(removed > 0)
        })
    }
}
