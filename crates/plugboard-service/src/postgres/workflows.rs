//! [`WorkflowStore`] on PostgreSQL: deployed workflows, the service's runs and their events.

use serde_json::Value;

use super::{PgServiceStore, execute, query, query_one, query_opt};
use crate::store::{StoreFuture, now};
use crate::workflow_store::{DeployedWorkflow, ServiceRun, WorkflowStore};

const RUN_COLUMNS: &str = "id, tenant_id, workflow, source, created_at_ms, outputs";

fn workflow_from(row: &tokio_postgres::Row) -> DeployedWorkflow {
    DeployedWorkflow {
        name: row.get(0),
        source: row.get(1),
        digest: row.get(2),
        deployed_at: row.get(3),
    }
}

fn run_from(row: &tokio_postgres::Row) -> ServiceRun {
    ServiceRun {
        id: row.get(0),
        tenant: row.get(1),
        workflow: row.get(2),
        source: row.get(3),
        created_at_ms: row.get(4),
        outputs: row.get(5),
    }
}

impl WorkflowStore for PgServiceStore {
    fn put_workflow(&self, name: String, source: String, digest: String) -> StoreFuture<'_, bool> {
        self.using(move |store| async move {
            // `xmax = 0` only on a row this statement inserted: new, not replaced.
            let row = query_one(
                store,
                "deploying a workflow",
                "INSERT INTO service_workflows (name, source, digest, deployed_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (name) DO UPDATE SET source = excluded.source,
                         digest = excluded.digest, deployed_at = excluded.deployed_at
                     RETURNING xmax = 0",
                &[&name, &source, &digest, &now()],
            )
            .await?;
            Ok(row.get(0))
        })
    }

    fn workflows(&self) -> StoreFuture<'_, Vec<DeployedWorkflow>> {
        self.using(move |store| async move {
            let rows = query(
                store,
                "listing workflows",
                "SELECT name, source, digest, deployed_at FROM service_workflows
                     ORDER BY name",
                &[],
            )
            .await?;
            Ok(rows.iter().map(workflow_from).collect())
        })
    }

    fn workflow(&self, name: String) -> StoreFuture<'_, Option<DeployedWorkflow>> {
        self.using(move |store| async move {
            let row = query_opt(
                store,
                "reading a workflow",
                "SELECT name, source, digest, deployed_at FROM service_workflows
                     WHERE name = $1",
                &[&name],
            )
            .await?;
            Ok(row.as_ref().map(workflow_from))
        })
    }

    fn add_run(&self, run: ServiceRun) -> StoreFuture<'_, ()> {
        self.using(move |store| async move {
            execute(
                store,
                "recording a run",
                "INSERT INTO service_runs (id, tenant_id, workflow, source, created_at_ms)
                     VALUES ($1, $2, $3, $4, $5)",
                &[
                    &run.id,
                    &run.tenant,
                    &run.workflow,
                    &run.source,
                    &run.created_at_ms,
                ],
            )
            .await?;
            Ok(())
        })
    }

    fn run(&self, id: i64) -> StoreFuture<'_, Option<ServiceRun>> {
        self.using(move |store| async move {
            let row = query_opt(
                store,
                "reading a run",
                &format!("SELECT {RUN_COLUMNS} FROM service_runs WHERE id = $1"),
                &[&id],
            )
            .await?;
            Ok(row.as_ref().map(run_from))
        })
    }

    fn runs(&self, tenant: Option<String>) -> StoreFuture<'_, Vec<ServiceRun>> {
        self.using(move |store| async move {
            let rows = query(
                store,
                "listing runs",
                &format!(
                    "SELECT {RUN_COLUMNS} FROM service_runs
                         WHERE $1::TEXT IS NULL OR tenant_id = $1 ORDER BY id DESC"
                ),
                &[&tenant],
            )
            .await?;
            Ok(rows.iter().map(run_from).collect())
        })
    }

    fn set_outputs(&self, id: i64, outputs: Value) -> StoreFuture<'_, ()> {
        self.using(move |store| async move {
            execute(
                store,
                "storing a run's outputs",
                "UPDATE service_runs SET outputs = $2 WHERE id = $1",
                &[&id, &outputs],
            )
            .await?;
            Ok(())
        })
    }

    fn append_event(&self, id: i64, event: Value) -> StoreFuture<'_, i64> {
        self.using(move |store| async move {
            let doing = "recording a run's event";
            let mut client = store.client().await?;
            let tx = client.transaction().await.map_err(store.failed(doing))?;
            // Numbered under the run's row lock: a reader that has seen number n has seen every
            // event before it, whichever process wrote them.
            tx.execute(
                "SELECT 1 FROM service_runs WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(store.failed(doing))?;
            let seq: i64 = tx
                .query_one(
                    "INSERT INTO service_run_events (run_id, seq, event)
                     VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM service_run_events
                                  WHERE run_id = $1), $2)
                     RETURNING seq",
                    &[&id, &event],
                )
                .await
                .map_err(store.failed(doing))?
                .get(0);
            tx.commit().await.map_err(store.failed(doing))?;
            Ok(seq)
        })
    }

    fn delete_runs_of(&self, tenant: String) -> StoreFuture<'_, usize> {
        self.using(move |store| async move {
            // Their events go with them (ON DELETE CASCADE).
            let deleted = execute(
                store,
                "deleting a tenant's runs",
                "DELETE FROM service_runs WHERE tenant_id = $1",
                &[&tenant],
            )
            .await?;
            Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
        })
    }

    fn events_after(&self, id: i64, after: i64, limit: i64) -> StoreFuture<'_, Vec<(i64, Value)>> {
        self.using(move |store| async move {
            let rows = query(
                store,
                "reading a run's events",
                "SELECT seq, event FROM service_run_events WHERE run_id = $1 AND seq > $2
                     ORDER BY seq LIMIT $3",
                &[&id, &after, &limit],
            )
            .await?;
            Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
        })
    }
}
