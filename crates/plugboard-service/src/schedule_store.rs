//! Schedules: which workflow runs for which tenant, when it fires next, what its last fire did.
//!
//! Kept in their own table of the service's SQLite file (through their own connection, like
//! [`crate::workflow_store`]) so the next fire time survives a restart. The scheduler advances a
//! schedule's `next_fire_ms` with a compare-and-set *before* it starts the run: two fires of one
//! slot can never both win, and a crash between the two loses that fire rather than doubling it.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension as _, params};
use serde_json::Value;

use crate::store::{StoreError, StoreFuture};

/// How many skip times a schedule keeps (the count keeps going).
pub const RECENT_SKIPS_KEPT: usize = 20;

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timing {
    /// A cron expression (5 fields, or 6 with seconds), evaluated in UTC.
    Cron(String),
    /// Every this many seconds (≥ 1), counted from the schedule's creation.
    Every(u64),
}

impl Timing {
    /// Its columns as stored: `(cron, every_secs)`, exactly one set.
    pub fn columns(&self) -> (Option<String>, Option<i64>) {
        match self {
            Timing::Cron(cron) => (Some(cron.clone()), None),
            Timing::Every(secs) => (None, Some(i64::try_from(*secs).unwrap_or(i64::MAX))),
        }
    }

    /// Read back from [`Timing::columns`].
    pub fn from_columns(cron: Option<String>, every_secs: Option<i64>) -> Self {
        match (cron, every_secs) {
            (Some(cron), _) => Timing::Cron(cron),
            (None, every) => Timing::Every(every.and_then(|e| u64::try_from(e).ok()).unwrap_or(1)),
        }
    }
}

/// A stored schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Assigned by the store.
    pub id: i64,
    /// The tenant it runs for.
    pub tenant: String,
    /// The deployed workflow's name.
    pub workflow: String,
    /// The run inputs (not shown back: they may hold secrets, as a run's are not).
    pub inputs: Value,
    /// When it fires.
    pub timing: Timing,
    /// A paused schedule does not fire; resuming it picks the next slot after the resume.
    pub paused: bool,
    /// Milliseconds since the Unix epoch of the next fire.
    pub next_fire_ms: i64,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// The last time it fired (started a run or failed to).
    pub last_fired_ms: Option<i64>,
    /// The run its last fire started.
    pub last_run_id: Option<i64>,
    /// Why its last fire could not start a run.
    pub last_error: Option<String>,
    /// Fires skipped because the previous run was still queued or running.
    pub skipped: i64,
    /// The most recent skip times (ms), oldest first, at most [`RECENT_SKIPS_KEPT`].
    pub recent_skips_ms: Vec<i64>,
}

/// Schedules, asynchronous like the service's other stores.
pub trait ScheduleStore: Send + Sync {
    /// Stores a new schedule (its `id` is ignored) and returns it with its id.
    fn create_schedule(&self, schedule: Schedule) -> StoreFuture<'_, Schedule>;
    /// One schedule, whoever it belongs to (callers check the tenant).
    fn schedule(&self, id: i64) -> StoreFuture<'_, Option<Schedule>>;
    /// A tenant's schedules by id; every schedule when `tenant` is `None`.
    fn schedules(&self, tenant: Option<String>) -> StoreFuture<'_, Vec<Schedule>>;
    /// Pauses or resumes; on resume the next fire is `next_fire_ms`. `false` if none.
    fn set_paused(&self, id: i64, paused: bool, next_fire_ms: i64) -> StoreFuture<'_, bool>;
    /// Deletes one; `false` if there was none.
    fn delete_schedule(&self, id: i64) -> StoreFuture<'_, bool>;
    /// Every unpaused schedule due at `now_ms`.
    fn due(&self, now_ms: i64) -> StoreFuture<'_, Vec<Schedule>>;
    /// Moves the next fire from `expected` to `next`; `false` if someone else already did (or
    /// the schedule is gone or paused), in which case this fire must not happen.
    fn advance(&self, id: i64, expected: i64, next: i64) -> StoreFuture<'_, bool>;
    /// Records what a fire at `fired_ms` did: the run it started, or why it could not.
    fn record_fire(
        &self,
        id: i64,
        fired_ms: i64,
        run: Option<i64>,
        error: Option<String>,
    ) -> StoreFuture<'_, ()>;
    /// Records a fire skipped at `at_ms` because the previous run had not ended.
    fn record_skip(&self, id: i64, at_ms: i64) -> StoreFuture<'_, ()>;
}

/// [`ScheduleStore`] in the service's SQLite file.
#[derive(Clone)]
pub struct SqliteScheduleStore {
    connection: Arc<Mutex<Connection>>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS schedules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    workflow TEXT NOT NULL,
    inputs TEXT NOT NULL,
    cron TEXT,
    every_secs INTEGER,
    paused INTEGER NOT NULL DEFAULT 0,
    next_fire_ms INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    last_fired_ms INTEGER,
    last_run_id INTEGER,
    last_error TEXT,
    skipped INTEGER NOT NULL DEFAULT 0,
    recent_skips TEXT NOT NULL DEFAULT '[]',
    CHECK ((cron IS NULL) <> (every_secs IS NULL))
);
CREATE INDEX IF NOT EXISTS schedules_by_tenant ON schedules (tenant_id, id);
CREATE INDEX IF NOT EXISTS schedules_due ON schedules (paused, next_fire_ms);
";

const COLUMNS: &str = "id, tenant_id, workflow, inputs, cron, every_secs, paused, next_fire_ms, \
     created_at_ms, last_fired_ms, last_run_id, last_error, skipped, recent_skips";

impl SqliteScheduleStore {
    /// Opens the table in the service's store file, which [`crate::SqliteServiceStore::open`]
    /// created (mode 0600) — open that first.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch(SCHEMA)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        let connection = Arc::clone(&self.connection);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut connection = connection.lock().unwrap_or_else(|e| e.into_inner());
                f(&mut connection).map_err(StoreError::from)
            })
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
        })
    }
}

fn schedule_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Schedule> {
    let inputs: String = row.get(3)?;
    let recent: String = row.get(13)?;
    let timing = Timing::from_columns(row.get(4)?, row.get(5)?);
    Ok(Schedule {
        id: row.get(0)?,
        tenant: row.get(1)?,
        workflow: row.get(2)?,
        inputs: serde_json::from_str(&inputs).unwrap_or(Value::Null),
        timing,
        paused: row.get::<_, i64>(6)? != 0,
        next_fire_ms: row.get(7)?,
        created_at_ms: row.get(8)?,
        last_fired_ms: row.get(9)?,
        last_run_id: row.get(10)?,
        last_error: row.get(11)?,
        skipped: row.get(12)?,
        recent_skips_ms: serde_json::from_str(&recent).unwrap_or_default(),
    })
}

fn one(c: &Connection, id: i64) -> rusqlite::Result<Option<Schedule>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM schedules WHERE id = ?1"),
        params![id],
        schedule_row,
    )
    .optional()
}

impl ScheduleStore for SqliteScheduleStore {
    fn create_schedule(&self, schedule: Schedule) -> StoreFuture<'_, Schedule> {
        self.with(move |c| {
            let (cron, every) = schedule.timing.columns();
            c.execute(
                "INSERT INTO schedules (tenant_id, workflow, inputs, cron, every_secs, paused,
                     next_fire_ms, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    schedule.tenant,
                    schedule.workflow,
                    schedule.inputs.to_string(),
                    cron,
                    every,
                    i64::from(schedule.paused),
                    schedule.next_fire_ms,
                    schedule.created_at_ms,
                ],
            )?;
            let id = c.last_insert_rowid();
            one(c, id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)
        })
    }

    fn schedule(&self, id: i64) -> StoreFuture<'_, Option<Schedule>> {
        self.with(move |c| one(c, id))
    }

    fn schedules(&self, tenant: Option<String>) -> StoreFuture<'_, Vec<Schedule>> {
        self.with(move |c| {
            let mut statement = c.prepare(&format!(
                "SELECT {COLUMNS} FROM schedules WHERE ?1 IS NULL OR tenant_id = ?1 ORDER BY id"
            ))?;
            let rows = statement.query_map(params![tenant], schedule_row)?;
            rows.collect()
        })
    }

    fn set_paused(&self, id: i64, paused: bool, next_fire_ms: i64) -> StoreFuture<'_, bool> {
        self.with(move |c| {
            let changed = if paused {
                c.execute("UPDATE schedules SET paused = 1 WHERE id = ?1", params![id])?
            } else {
                c.execute(
                    "UPDATE schedules SET paused = 0, next_fire_ms = ?2 WHERE id = ?1",
                    params![id, next_fire_ms],
                )?
            };
            Ok(changed == 1)
        })
    }

    fn delete_schedule(&self, id: i64) -> StoreFuture<'_, bool> {
        self.with(move |c| Ok(c.execute("DELETE FROM schedules WHERE id = ?1", params![id])? == 1))
    }

    fn due(&self, now_ms: i64) -> StoreFuture<'_, Vec<Schedule>> {
        self.with(move |c| {
            let mut statement = c.prepare(&format!(
                "SELECT {COLUMNS} FROM schedules WHERE paused = 0 AND next_fire_ms <= ?1
                 ORDER BY next_fire_ms"
            ))?;
            let rows = statement.query_map(params![now_ms], schedule_row)?;
            rows.collect()
        })
    }

    fn advance(&self, id: i64, expected: i64, next: i64) -> StoreFuture<'_, bool> {
        self.with(move |c| {
            Ok(c.execute(
                "UPDATE schedules SET next_fire_ms = ?3
                 WHERE id = ?1 AND next_fire_ms = ?2 AND paused = 0",
                params![id, expected, next],
            )? == 1)
        })
    }

    fn record_fire(
        &self,
        id: i64,
        fired_ms: i64,
        run: Option<i64>,
        error: Option<String>,
    ) -> StoreFuture<'_, ()> {
        self.with(move |c| {
            // A failed fire keeps the previous run id: that run may still be going, and the
            // overlap check must keep seeing it.
            c.execute(
                "UPDATE schedules SET last_fired_ms = ?2,
                     last_run_id = COALESCE(?3, last_run_id), last_error = ?4
                 WHERE id = ?1",
                params![id, fired_ms, run, error],
            )
            .map(|_| ())
        })
    }

    fn record_skip(&self, id: i64, at_ms: i64) -> StoreFuture<'_, ()> {
        self.with(move |c| {
            let tx = c.transaction()?;
            let recent: Option<String> = tx
                .query_row(
                    "SELECT recent_skips FROM schedules WHERE id = ?1",
                    params![id],
                    |row| row.get(0),
                )
                .optional()?;
            let Some(recent) = recent else {
                return Ok(());
            };
            let mut recent: Vec<i64> = serde_json::from_str(&recent).unwrap_or_default();
            recent.push(at_ms);
            let excess = recent.len().saturating_sub(RECENT_SKIPS_KEPT);
            recent.drain(..excess);
            tx.execute(
                "UPDATE schedules SET skipped = skipped + 1, recent_skips = ?2 WHERE id = ?1",
                params![
                    id,
                    serde_json::to_string(&recent).unwrap_or_else(|_| "[]".into())
                ],
            )?;
            tx.commit()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(tenant: &str, next: i64) -> Schedule {
        Schedule {
            id: 0,
            tenant: tenant.into(),
            workflow: "w".into(),
            inputs: serde_json::json!({"a": 1}),
            timing: Timing::Every(5),
            paused: false,
            next_fire_ms: next,
            created_at_ms: 0,
            last_fired_ms: None,
            last_run_id: None,
            last_error: None,
            skipped: 0,
            recent_skips_ms: vec![],
        }
    }

    #[tokio::test]
    async fn advance_is_a_compare_and_set_and_skips_are_kept() {
        let dir = std::env::temp_dir().join(format!("pb-schedstore-{}", std::process::id()));
        let file = dir.join("s.db");
        crate::SqliteServiceStore::open(&file).expect("works");
        let store = SqliteScheduleStore::open(&file).expect("works");
        let a = store
            .create_schedule(sample("a", 100))
            .await
            .expect("works");
        store
            .create_schedule(sample("b", 900))
            .await
            .expect("works");
        assert_eq!(store.due(500).await.expect("works").len(), 1);
        assert!(store.advance(a.id, 100, 200).await.expect("works"));
        assert!(
            !store.advance(a.id, 100, 300).await.expect("works"),
            "a second fire of one slot"
        );
        for at in 0..25 {
            store.record_skip(a.id, at).await.expect("works");
        }
        let a = store.schedule(a.id).await.expect("works").expect("works");
        assert_eq!(a.skipped, 25);
        assert_eq!(a.recent_skips_ms.len(), RECENT_SKIPS_KEPT);
        assert_eq!(a.recent_skips_ms.last(), Some(&24));
        assert_eq!(
            store
                .schedules(Some("b".into()))
                .await
                .expect("works")
                .len(),
            1
        );
        assert!(store.set_paused(a.id, true, 0).await.expect("works"));
        assert!(
            store
                .due(i64::MAX)
                .await
                .expect("works")
                .iter()
                .all(|s| s.id != a.id)
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
