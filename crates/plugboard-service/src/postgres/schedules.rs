//! [`ScheduleStore`] on PostgreSQL. `advance` is a compare-and-set on `next_fire_ms`, so when
//! several service processes poll the same schedules, exactly one of them fires each slot.

use plugboard_store_postgres::PgStoreError;
use plugboard_store_postgres::crypto::SecretColumn;
use serde_json::Value;

use super::{PgServiceStore, execute, open, query, query_opt, seal};
use crate::schedule_store::{RECENT_SKIPS_KEPT, Schedule, ScheduleStore, Timing};
use crate::store::StoreFuture;

const COLUMNS: &str = "id, tenant_id, workflow, inputs_sealed, cron, every_secs, paused, \
     next_fire_ms, created_at_ms, last_fired_ms, last_run_id, last_error, skipped, recent_skips";

fn schedule_from(
    store: &plugboard_store_postgres::PostgresStore,
    row: &tokio_postgres::Row,
) -> Result<Schedule, PgStoreError> {
    let id: i64 = row.get(0);
    let tenant: String = row.get(1);
    let inputs = open(
        store,
        SecretColumn::ServiceScheduleInputs,
        &tenant,
        &id.to_string(),
        row.get(3),
    )?;
    let timing = Timing::from_columns(row.get(4), row.get(5));
    Ok(Schedule {
        id,
        tenant,
        workflow: row.get(2),
        inputs: serde_json::from_str(&inputs).unwrap_or(Value::Null),
        timing,
        paused: row.get(6),
        next_fire_ms: row.get(7),
        created_at_ms: row.get(8),
        last_fired_ms: row.get(9),
        last_run_id: row.get(10),
        last_error: row.get(11),
        skipped: row.get(12),
        recent_skips_ms: row.get(13),
    })
}

fn schedules_from(
    store: &plugboard_store_postgres::PostgresStore,
    rows: &[tokio_postgres::Row],
) -> Result<Vec<Schedule>, PgStoreError> {
    rows.iter().map(|row| schedule_from(store, row)).collect()
}

impl ScheduleStore for PgServiceStore {
    fn create_schedule(&self, schedule: Schedule) -> StoreFuture<'_, Schedule> {
        self.using(move |store| async move {
            let doing = "creating a schedule";
            let (cron, every) = schedule.timing.columns();
            let client = store.client().await?;
            // The id first: the inputs are sealed to their row.
            let id: i64 = client
                .query_one(
                    "SELECT nextval(pg_get_serial_sequence('service_schedules', 'id'))",
                    &[],
                )
                .await
                .map_err(store.failed(doing))?
                .get(0);
            let sealed = seal(
                store,
                SecretColumn::ServiceScheduleInputs,
                &schedule.tenant,
                &id.to_string(),
                &schedule.inputs.to_string(),
            )?;
            let row = client
                .query_one(
                    &format!(
                        "INSERT INTO service_schedules (id, tenant_id, workflow, inputs_sealed,
                             cron, every_secs, paused, next_fire_ms, created_at_ms)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                         RETURNING {COLUMNS}"
                    ),
                    &[
                        &id,
                        &schedule.tenant,
                        &schedule.workflow,
                        &sealed,
                        &cron,
                        &every,
                        &schedule.paused,
                        &schedule.next_fire_ms,
                        &schedule.created_at_ms,
                    ],
                )
                .await
                .map_err(store.failed(doing))?;
            schedule_from(store, &row)
        })
    }

    fn schedule(&self, id: i64) -> StoreFuture<'_, Option<Schedule>> {
        self.using(move |store| async move {
            let row = query_opt(
                store,
                "reading a schedule",
                &format!("SELECT {COLUMNS} FROM service_schedules WHERE id = $1"),
                &[&id],
            )
            .await?;
            row.map(|row| schedule_from(store, &row)).transpose()
        })
    }

    fn schedules(&self, tenant: Option<String>) -> StoreFuture<'_, Vec<Schedule>> {
        self.using(move |store| async move {
            let rows = query(
                store,
                "listing schedules",
                &format!(
                    "SELECT {COLUMNS} FROM service_schedules
                         WHERE $1::TEXT IS NULL OR tenant_id = $1 ORDER BY id"
                ),
                &[&tenant],
            )
            .await?;
            schedules_from(store, &rows)
        })
    }

    fn set_paused(&self, id: i64, paused: bool, next_fire_ms: i64) -> StoreFuture<'_, bool> {
        self.using(move |store| async move {
            // Resuming also moves the next fire; pausing leaves it.
            let changed = execute(
                store,
                "pausing or resuming a schedule",
                "UPDATE service_schedules
                     SET paused = $2, next_fire_ms = CASE WHEN $2 THEN next_fire_ms ELSE $3 END
                     WHERE id = $1",
                &[&id, &paused, &next_fire_ms],
            )
            .await?;
            Ok(changed == 1)
        })
    }

    fn delete_schedule(&self, id: i64) -> StoreFuture<'_, bool> {
        self.using(move |store| async move {
            let deleted = execute(
                store,
                "deleting a schedule",
                "DELETE FROM service_schedules WHERE id = $1",
                &[&id],
            )
            .await?;
            Ok(deleted == 1)
        })
    }

    fn due(&self, now_ms: i64) -> StoreFuture<'_, Vec<Schedule>> {
        self.using(move |store| async move {
            let rows = query(
                store,
                "looking for due schedules",
                &format!(
                    "SELECT {COLUMNS} FROM service_schedules
                         WHERE NOT paused AND next_fire_ms <= $1 ORDER BY next_fire_ms"
                ),
                &[&now_ms],
            )
            .await?;
            schedules_from(store, &rows)
        })
    }

    fn advance(&self, id: i64, expected: i64, next: i64) -> StoreFuture<'_, bool> {
        self.using(move |store| async move {
            let changed = execute(
                store,
                "advancing a schedule",
                "UPDATE service_schedules SET next_fire_ms = $3
                     WHERE id = $1 AND next_fire_ms = $2 AND NOT paused",
                &[&id, &expected, &next],
            )
            .await?;
            Ok(changed == 1)
        })
    }

    fn record_fire(
        &self,
        id: i64,
        fired_ms: i64,
        run: Option<i64>,
        error: Option<String>,
    ) -> StoreFuture<'_, ()> {
        self.using(move |store| async move {
            // A failed fire keeps the previous run id: that run may still be going, and the
            // overlap check must keep seeing it.
            execute(
                store,
                "recording a schedule's fire",
                "UPDATE service_schedules SET last_fired_ms = $2,
                         last_run_id = COALESCE($3, last_run_id), last_error = $4
                     WHERE id = $1",
                &[&id, &fired_ms, &run, &error],
            )
            .await?;
            Ok(())
        })
    }

    fn record_skip(&self, id: i64, at_ms: i64) -> StoreFuture<'_, ()> {
        self.using(move |store| async move {
            let kept = i32::try_from(RECENT_SKIPS_KEPT).unwrap_or(i32::MAX);
            // One statement: the newest `kept` times, oldest first.
            execute(
                store,
                "recording a skipped fire",
                "UPDATE service_schedules SET skipped = skipped + 1,
                         recent_skips = (recent_skips || $2::BIGINT)
                             [greatest(1, cardinality(recent_skips) + 2 - $3::INTEGER):]
                     WHERE id = $1",
                &[&id, &at_ms, &kept],
            )
            .await?;
            Ok(())
        })
    }
}
