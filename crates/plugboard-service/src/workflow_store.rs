//! Deployed workflows, the service's runs (which tenant and which workflow version each is) and
//! their progress events.
//!
//! Kept apart from [`crate::store`] (tenants, keys, apps, connections) in its own tables of the
//! same `service.db` file, through a second SQLite connection: runs write an event per step, and
//! these writes should not queue behind key lookups. The runner's own journal (completed calls,
//! status, inputs) stays in the runner's state store; this store only adds what the service needs
//! on top: the tenant a run belongs to, the exact workflow it runs, its outputs and its events.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};
use serde::Serialize;
use serde_json::Value;

use crate::store::{BlockingConnection, StoreError, StoreFuture};

/// A workflow deployed under a name.
#[derive(Debug, Clone, Serialize)]
pub struct DeployedWorkflow {
    /// The name it was deployed under (in routes and run requests).
    pub name: String,
    /// The workflow file as deployed.
    #[serde(skip)]
    pub source: String,
    /// SHA-256 (hex) of the source, so a client can tell versions apart.
    pub digest: String,
    /// Seconds since the Unix epoch.
    pub deployed_at: i64,
}

/// What the service knows of a run beyond the runner's journal.
#[derive(Debug, Clone)]
pub struct ServiceRun {
    /// The runner's run id.
    pub id: i64,
    /// The tenant it runs for.
    pub tenant: String,
    /// The deployed workflow's name.
    pub workflow: String,
    /// The workflow as it runs: the deployed source with its connections moved under the
    /// tenant's, kept so a resume after a restart runs exactly this, whatever is deployed since.
    pub source: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// The rendered outputs, once it succeeded.
    pub outputs: Option<Value>,
}

/// Workflows, runs and events. Asynchronous like [`crate::ServiceStore`], so a PostgreSQL
/// implementation can follow.
pub trait WorkflowStore: Send + Sync {
    /// Deploys (or replaces) a workflow; `true` when the name was new.
    fn put_workflow(&self, name: String, source: String, digest: String) -> StoreFuture<'_, bool>;
    /// Every deployed workflow, by name.
    fn workflows(&self) -> StoreFuture<'_, Vec<DeployedWorkflow>>;
    /// One deployed workflow.
    fn workflow(&self, name: String) -> StoreFuture<'_, Option<DeployedWorkflow>>;
    /// Records a new run.
    fn add_run(&self, run: ServiceRun) -> StoreFuture<'_, ()>;
    /// One run, whoever it belongs to (callers check the tenant).
    fn run(&self, id: i64) -> StoreFuture<'_, Option<ServiceRun>>;
    /// A tenant's runs, newest first; every run when `tenant` is `None`.
    fn runs(&self, tenant: Option<String>) -> StoreFuture<'_, Vec<ServiceRun>>;
    /// Stores a succeeded run's outputs.
    fn set_outputs(&self, id: i64, outputs: Value) -> StoreFuture<'_, ()>;
    /// Appends an event to a run's log; returns its sequence number (from 1).
    fn append_event(&self, id: i64, event: Value) -> StoreFuture<'_, i64>;
    /// Removes every run of `tenant` and its events (the tenant is being deleted); returns how
    /// many runs.
    fn delete_runs_of(&self, tenant: String) -> StoreFuture<'_, usize>;
    /// A run's events after sequence number `after`, in order, at most `limit`.
    fn events_after(&self, id: i64, after: i64, limit: i64) -> StoreFuture<'_, Vec<(i64, Value)>>;
}

/// [`WorkflowStore`] in the service's SQLite file.
#[derive(Clone)]
pub struct SqliteWorkflowStore {
    connection: BlockingConnection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS workflows (
    name TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    digest TEXT NOT NULL,
    deployed_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS service_runs (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    workflow TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    outputs TEXT
);
CREATE INDEX IF NOT EXISTS service_runs_by_tenant ON service_runs (tenant_id, id);
CREATE TABLE IF NOT EXISTS run_events (
    run_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
";

impl SqliteWorkflowStore {
    /// Opens the tables in the service's store file, which [`crate::SqliteServiceStore::open`]
    /// created (mode 0600) — open that first.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        // WAL is already on (set by the service store); NORMAL keeps a commit per event cheap
        // while WAL still never loses a committed transaction to a process crash.
        connection.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
        connection.execute_batch(SCHEMA)?;
        Ok(Self {
            connection: BlockingConnection::new(connection),
        })
    }

    fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        self.connection.with(f)
    }
}

fn workflow_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DeployedWorkflow> {
    Ok(DeployedWorkflow {
        name: row.get(0)?,
        source: row.get(1)?,
        digest: row.get(2)?,
        deployed_at: row.get(3)?,
    })
}

const RUN_COLUMNS: &str = "id, tenant_id, workflow, source, created_at_ms, outputs";

fn run_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ServiceRun> {
    let outputs: Option<String> = row.get(5)?;
    Ok(ServiceRun {
        id: row.get(0)?,
        tenant: row.get(1)?,
        workflow: row.get(2)?,
        source: row.get(3)?,
        created_at_ms: row.get(4)?,
        outputs: outputs.and_then(|text| serde_json::from_str(&text).ok()),
    })
}

impl WorkflowStore for SqliteWorkflowStore {
    fn put_workflow(&self, name: String, source: String, digest: String) -> StoreFuture<'_, bool> {
        self.with(move |c| {
            // Immediate: a deferred transaction that reads first and then writes gets SQLITE_BUSY at
            // once (no busy wait) when the service's other connection to this file wrote meanwhile.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let existed: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM workflows WHERE name = ?1",
                    params![name],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute(
                "INSERT INTO workflows (name, source, digest, deployed_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET source = excluded.source,
                     digest = excluded.digest, deployed_at = excluded.deployed_at",
                params![name, source, digest, crate::store::now()],
            )?;
            tx.commit()?;
            Ok(existed.is_none())
        })
    }

    fn workflows(&self) -> StoreFuture<'_, Vec<DeployedWorkflow>> {
        self.with(|c| {
            let mut statement =
                c.prepare("SELECT name, source, digest, deployed_at FROM workflows ORDER BY name")?;
            let rows = statement.query_map([], workflow_row)?;
            rows.collect()
        })
    }

    fn workflow(&self, name: String) -> StoreFuture<'_, Option<DeployedWorkflow>> {
        self.with(move |c| {
            c.query_row(
                "SELECT name, source, digest, deployed_at FROM workflows WHERE name = ?1",
                params![name],
                workflow_row,
            )
            .optional()
        })
    }

    fn add_run(&self, run: ServiceRun) -> StoreFuture<'_, ()> {
        self.with(move |c| {
            c.execute(
                "INSERT INTO service_runs (id, tenant_id, workflow, source, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    run.id,
                    run.tenant,
                    run.workflow,
                    run.source,
                    run.created_at_ms
                ],
            )
            .map(|_| ())
        })
    }

    fn run(&self, id: i64) -> StoreFuture<'_, Option<ServiceRun>> {
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {RUN_COLUMNS} FROM service_runs WHERE id = ?1"),
                params![id],
                run_row,
            )
            .optional()
        })
    }

    fn runs(&self, tenant: Option<String>) -> StoreFuture<'_, Vec<ServiceRun>> {
        self.with(move |c| {
            let mut statement = c.prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM service_runs
                 WHERE ?1 IS NULL OR tenant_id = ?1 ORDER BY id DESC"
            ))?;
            let rows = statement.query_map(params![tenant], run_row)?;
            rows.collect()
        })
    }

    fn set_outputs(&self, id: i64, outputs: Value) -> StoreFuture<'_, ()> {
        self.with(move |c| {
            // Immediate, like every write here: under many concurrent runs a deferred write could
            // meet another connection's commit and fail at once, and the outputs would be lost.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "UPDATE service_runs SET outputs = ?2 WHERE id = ?1",
                params![id, outputs.to_string()],
            )?;
            tx.commit()
        })
    }

    fn append_event(&self, id: i64, event: Value) -> StoreFuture<'_, i64> {
        self.with(move |c| {
            // Immediate: a deferred transaction that reads first and then writes gets SQLITE_BUSY at
            // once (no busy wait) when the service's other connection to this file wrote meanwhile.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let seq: i64 = tx.query_row(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM run_events WHERE run_id = ?1",
                params![id],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO run_events (run_id, seq, event) VALUES (?1, ?2, ?3)",
                params![id, seq, event.to_string()],
            )?;
            tx.commit()?;
            Ok(seq)
        })
    }

    fn delete_runs_of(&self, tenant: String) -> StoreFuture<'_, usize> {
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM run_events WHERE run_id IN
                 (SELECT id FROM service_runs WHERE tenant_id = ?1)",
                params![tenant],
            )?;
            let runs = tx.execute(
                "DELETE FROM service_runs WHERE tenant_id = ?1",
                params![tenant],
            )?;
            tx.commit()?;
            Ok(runs)
        })
    }

    fn events_after(&self, id: i64, after: i64, limit: i64) -> StoreFuture<'_, Vec<(i64, Value)>> {
        self.with(move |c| {
            let mut statement = c.prepare(
                "SELECT seq, event FROM run_events WHERE run_id = ?1 AND seq > ?2
                 ORDER BY seq LIMIT ?3",
            )?;
            let rows = statement.query_map(params![id, after, limit], |row| {
                let text: String = row.get(1)?;
                Ok((
                    row.get(0)?,
                    serde_json::from_str(&text).unwrap_or(Value::Null),
                ))
            })?;
            rows.collect()
        })
    }
}
