//! [`RunStore`] for [`PostgresStore`]: the `runs`, `journal_entries` and `cursors` tables. A
//! run's owner is the calling process (pid and `local_host_id`), as in SQLite; a journal write and
//! a claim lock the run's row, so two processes cannot number entries alike or both resume it.

use plugboard_runner::StoreError;
use plugboard_runner::store::call_claim::{self, INTENT_PREFIX};
use plugboard_runner::store::{
    CallClaim, LeaseHolder, RunClaim, RunId, RunRecord, RunStatus, RunStore, StoreFuture,
    local_host_id, process_is_provably_dead,
};
use serde_json::Value;

use crate::{DEFAULT_TENANT, PostgresStore};

const RUN_COLUMNS: &str = "id, workflow, inputs, status, error, started_at_ms, finished_at_ms, \
                           workflow_digest, owner_pid, owner_host";

fn this_pid() -> i32 {
    i32::try_from(std::process::id()).unwrap_or(i32::MAX)
}

fn read_run(row: &tokio_postgres::Row) -> RunRecord {
    let mut status = RunStatus::parse(row.get(3));
    let owner: (Option<i32>, Option<String>) = (row.get(8), row.get(9));
    if let (RunStatus::Running, (Some(pid), Some(host))) = (status, &owner)
        && u32::try_from(*pid).is_ok_and(|pid| process_is_provably_dead(pid, host))
    {
        status = RunStatus::Interrupted;
    }
    RunRecord {
        id: RunId(row.get(0)),
        workflow: row.get(1),
        workflow_digest: row.get(7),
        inputs: row.get(2),
        status,
        error: row.get(4),
        started_at_ms: row.get(5),
        finished_at_ms: row.get(6),
        owner_host: owner.1,
    }
}

fn not_found(run: RunId) -> StoreError {
    StoreError::NotFound(format!("run {run}"))
}

impl PostgresStore {
    /// Locks run `run`'s row until `tx` ends, so writers of the run's numbered rows (journal
    /// entries, events) take their numbers one after another; `NotFound` for an unknown run.
    async fn lock_run(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        run: RunId,
        doing: &'static str,
    ) -> Result<(), StoreError> {
        let exists = tx
            .query_opt(
                "SELECT 1 FROM runs WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
                &[&DEFAULT_TENANT, &run.0],
            )
            .await
            .map_err(self.failed(doing))?
            .is_some();
        if exists { Ok(()) } else { Err(not_found(run)) }
    }

    /// Applies a rule of [`call_claim`] to call `key` of run `run` in one transaction holding
    /// the run's row lock, which orders the claims on a run's calls as it orders its journal:
    /// `rule` sees the call's journaled output, its intent entry and the server's clock (every
    /// worker on every machine judges a lease by one clock), and the intent it says to write is
    /// written before the answer is returned.
    async fn decide_on_call<T>(
        &self,
        run: RunId,
        key: &str,
        doing: &'static str,
        rule: impl FnOnce(Option<&Value>, Option<&Value>, i64) -> call_claim::CallDecision<T>,
    ) -> Result<T, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(self.failed(doing))?;
        self.lock_run(&tx, run, doing).await?;
        let intent_key = format!("{INTENT_PREFIX}{key}");
        let row = tx
            .query_one(
                "SELECT plugboard_now_ms(),
                    (SELECT output FROM journal_entries WHERE run_id = $1 AND key = $2),
                    (SELECT output FROM journal_entries WHERE run_id = $1 AND key = $3)",
                &[&run.0, &key, &intent_key],
            )
            .await
            .map_err(self.failed(doing))?;
        let (now_ms, done, intent): (i64, Option<Value>, Option<Value>) =
            (row.get(0), row.get(1), row.get(2));
        let decision = rule(done.as_ref(), intent.as_ref(), now_ms);
        if let Some(write) = &decision.write {
            self.write_entry(&tx, run, &intent_key, write, doing)
                .await?;
        }
        tx.commit().await.map_err(self.failed(doing))?;
        Ok(decision.answer)
    }

    /// Writes journal entry `key` of run `run` (locked by `tx`), in its place when it exists
    /// (after the last otherwise).
    async fn write_entry(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        run: RunId,
        key: &str,
        value: &Value,
        doing: &'static str,
    ) -> Result<(), StoreError> {
        let statement = tx
            .prepare_cached(
                "INSERT INTO journal_entries (run_id, key, output, seq)
                 VALUES ($1, $2, $3,
                         (SELECT COALESCE(MAX(seq), 0) + 1 FROM journal_entries
                          WHERE run_id = $1))
                 ON CONFLICT (run_id, key) DO UPDATE SET output = excluded.output,
                     recorded_at_ms = plugboard_now_ms()",
            )
            .await
            .map_err(self.failed(doing))?;
        tx.execute(&statement, &[&run.0, &key, value])
            .await
            .map_err(self.failed(doing))?;
        Ok(())
    }
}

impl RunStore for PostgresStore {
    fn is_shared(&self) -> bool {
        true
    }

    fn cursor<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Value>> {
        Box::pin(async move {
            let client = self.client().await?;
            let row = client
                .query_opt(
                    "SELECT value FROM cursors WHERE tenant_id = $1 AND key = $2",
                    &[&DEFAULT_TENANT, &key],
                )
                .await
                .map_err(self.failed("reading a cursor"))?;
            Ok(row.map(|row| row.get(0)))
        })
    }

    fn set_cursor<'a>(&'a self, key: &'a str, value: &'a Value) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let client = self.client().await?;
            client
                .execute(
                    "INSERT INTO cursors (tenant_id, key, value) VALUES ($1, $2, $3)
                     ON CONFLICT (tenant_id, key) DO UPDATE SET value = excluded.value,
                         updated_at_ms = plugboard_now_ms()",
                    &[&DEFAULT_TENANT, &key, value],
                )
                .await
                .map_err(self.failed("storing a cursor"))?;
            Ok(())
        })
    }

    fn create_run<'a>(
        &'a self,
        workflow: &'a str,
        digest: &'a str,
        inputs: &'a Value,
    ) -> StoreFuture<'a, RunId> {
        Box::pin(async move {
            let client = self.client().await?;
            let row = client
                .query_one(
                    "INSERT INTO runs (tenant_id, workflow, workflow_digest, inputs, status,
                                       owner_pid, owner_host)
                     VALUES ($1, $2, $3, $4, 'running', $5, $6) RETURNING id",
                    &[
                        &DEFAULT_TENANT,
                        &workflow,
                        &digest,
                        inputs,
                        &this_pid(),
                        &local_host_id(),
                    ],
                )
                .await
                .map_err(self.failed("starting a run"))?;
            Ok(RunId(row.get(0)))
        })
    }

    fn queue_run<'a>(
        &'a self,
        workflow: &'a str,
        digest: &'a str,
        inputs: &'a Value,
    ) -> StoreFuture<'a, RunId> {
        Box::pin(async move {
            let client = self.client().await?;
            let row = client
                .query_one(
                    "INSERT INTO runs (tenant_id, workflow, workflow_digest, inputs, status)
                     VALUES ($1, $2, $3, $4, 'queued') RETURNING id",
                    &[&DEFAULT_TENANT, &workflow, &digest, inputs],
                )
                .await
                .map_err(self.failed("queueing a run"))?;
            Ok(RunId(row.get(0)))
        })
    }

    fn set_run_inputs<'a>(&'a self, run: RunId, inputs: &'a Value) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let client = self.client().await?;
            let changed = client
                .execute(
                    "UPDATE runs SET inputs = $3 WHERE tenant_id = $1 AND id = $2",
                    &[&DEFAULT_TENANT, &run.0, inputs],
                )
                .await
                .map_err(self.failed("changing a run's inputs"))?;
            if changed == 0 {
                return Err(not_found(run));
            }
            Ok(())
        })
    }

    fn record_step<'a>(
        &'a self,
        run: RunId,
        key: &'a str,
        output: &'a Value,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let doing = "recording a step in the journal";
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(self.failed(doing))?;
            // The run's row lock orders its journal writers: each numbers its entry after the
            // last one committed.
            self.lock_run(&tx, run, doing).await?;
            self.write_entry(&tx, run, key, output, doing).await?;
            tx.commit().await.map_err(self.failed(doing))?;
            Ok(())
        })
    }

    fn claim_call<'a>(
        &'a self,
        run: RunId,
        key: &'a str,
        claimant: &'a LeaseHolder,
        lease_ms: i64,
    ) -> StoreFuture<'a, CallClaim> {
        Box::pin(async move {
            self.decide_on_call(
                run,
                key,
                "claiming a call of a run",
                |done, intent, now_ms| {
                    call_claim::decide(
                        done,
                        intent,
                        claimant,
                        now_ms,
                        lease_ms,
                        process_is_provably_dead,
                    )
                },
            )
            .await
        })
    }

    fn release_call<'a>(
        &'a self,
        run: RunId,
        key: &'a str,
        claimant: &'a LeaseHolder,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            self.decide_on_call(run, key, "releasing a call of a run", |_, intent, _| {
                call_claim::release(intent, claimant)
            })
            .await
        })
    }

    fn completed_steps(&self, run: RunId) -> StoreFuture<'_, Vec<(String, Value)>> {
        Box::pin(async move {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT key, output FROM journal_entries WHERE run_id = $1 ORDER BY seq",
                    &[&run.0],
                )
                .await
                .map_err(self.failed("reading a run's journal"))?;
            Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
        })
    }

    fn journal_entry<'a>(&'a self, run: RunId, key: &'a str) -> StoreFuture<'a, Option<Value>> {
        Box::pin(async move {
            let client = self.client().await?;
            let row = client
                .query_opt(
                    "SELECT output FROM journal_entries WHERE run_id = $1 AND key = $2",
                    &[&run.0, &key],
                )
                .await
                .map_err(self.failed("reading a run's journal"))?;
            Ok(row.map(|row| row.get(0)))
        })
    }

    fn request_cancel(&self, run: RunId) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let client = self.client().await?;
            let changed = client
                .execute(
                    "UPDATE runs SET cancel_requested = true
                     WHERE tenant_id = $1 AND id = $2 AND status IN ('queued', 'running')",
                    &[&DEFAULT_TENANT, &run.0],
                )
                .await
                .map_err(self.failed("asking for a run's cancellation"))?;
            Ok(changed > 0)
        })
    }

    fn cancels_requested<'a>(&'a self, runs: &'a [RunId]) -> StoreFuture<'a, Vec<RunId>> {
        Box::pin(async move {
            if runs.is_empty() {
                return Ok(Vec::new());
            }
            let ids: Vec<i64> = runs.iter().map(|run| run.0).collect();
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT id FROM runs
                     WHERE tenant_id = $1 AND id = ANY($2) AND cancel_requested",
                    &[&DEFAULT_TENANT, &ids],
                )
                .await
                .map_err(self.failed("reading runs' cancellations"))?;
            Ok(rows.iter().map(|row| RunId(row.get(0))).collect())
        })
    }

    fn claim_run(&self, run: RunId) -> StoreFuture<'_, RunClaim> {
        Box::pin(async move {
            let doing = "claiming a run";
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(self.failed(doing))?;
            let row = tx
                .query_opt(
                    "SELECT status, owner_pid, owner_host, cancel_requested FROM runs
                     WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
                    &[&DEFAULT_TENANT, &run.0],
                )
                .await
                .map_err(self.failed(doing))?;
            let Some(row) = row else {
                return Ok(RunClaim::Unknown);
            };
            let status = RunStatus::parse(row.get(0));
            let owner_pid: Option<u32> = row
                .get::<_, Option<i32>>(1)
                .and_then(|pid| u32::try_from(pid).ok());
            let owner_host: Option<String> = row.get(2);
            let cancel_requested: bool = row.get(3);
            let mut elsewhere = None;
            match (status, owner_pid, owner_host) {
                (RunStatus::Completed, _, _) => return Ok(RunClaim::Completed),
                (RunStatus::Running, Some(pid), Some(host)) if pid != std::process::id() => {
                    if host != local_host_id() {
                        elsewhere = Some(host.split('/').next().unwrap_or_default().to_owned());
                    } else if !process_is_provably_dead(pid, &host) {
                        return Ok(RunClaim::Busy { pid });
                    }
                }
                _ => {}
            }
            tx.execute(
                "UPDATE runs SET status = 'running', error = NULL, finished_at_ms = NULL,
                     owner_pid = $3, owner_host = $4, cancel_requested = false
                 WHERE tenant_id = $1 AND id = $2",
                &[&DEFAULT_TENANT, &run.0, &this_pid(), &local_host_id()],
            )
            .await
            .map_err(self.failed(doing))?;
            tx.commit().await.map_err(self.failed(doing))?;
            Ok(RunClaim::Claimed {
                elsewhere,
                cancel_requested,
            })
        })
    }

    fn finish_run<'a>(
        &'a self,
        run: RunId,
        status: RunStatus,
        error: Option<&'a str>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let client = self.client().await?;
            let finished = status.has_ended();
            let changed = client
                .execute(
                    "UPDATE runs SET status = $3, error = $4,
                         finished_at_ms = CASE WHEN $5 THEN plugboard_now_ms() END,
                         cancel_requested = false
                     WHERE tenant_id = $1 AND id = $2",
                    &[&DEFAULT_TENANT, &run.0, &status.as_str(), &error, &finished],
                )
                .await
                .map_err(self.failed("finishing a run"))?;
            if changed == 0 {
                return Err(not_found(run));
            }
            Ok(())
        })
    }

    fn end_run<'a>(
        &'a self,
        run: RunId,
        status: RunStatus,
        error: Option<&'a str>,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let client = self.client().await?;
            let changed = client
                .execute(
                    "UPDATE runs SET status = $3, error = $4, finished_at_ms = plugboard_now_ms(),
                         cancel_requested = false
                     WHERE tenant_id = $1 AND id = $2 AND status IN ('queued', 'running')",
                    &[&DEFAULT_TENANT, &run.0, &status.as_str(), &error],
                )
                .await
                .map_err(self.failed("ending a run"))?;
            Ok(changed > 0)
        })
    }

    fn run(&self, id: RunId) -> StoreFuture<'_, Option<RunRecord>> {
        Box::pin(async move {
            let client = self.client().await?;
            let row = client
                .query_opt(
                    &format!("SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = $1 AND id = $2"),
                    &[&DEFAULT_TENANT, &id.0],
                )
                .await
                .map_err(self.failed("reading a run"))?;
            Ok(row.as_ref().map(read_run))
        })
    }

    fn runs(&self) -> StoreFuture<'_, Vec<RunRecord>> {
        Box::pin(async move {
            let client = self.client().await?;
            let rows = client
                .query(
                    &format!(
                        "SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = $1 ORDER BY id DESC"
                    ),
                    &[&DEFAULT_TENANT],
                )
                .await
                .map_err(self.failed("listing runs"))?;
            Ok(rows.iter().map(read_run).collect())
        })
    }

    fn append_run_event<'a>(&'a self, run: RunId, event: &'a Value) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let doing = "recording a run's event";
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(self.failed(doing))?;
            // Numbered under the run's row lock, as journal entries are (see the migration).
            self.lock_run(&tx, run, doing).await?;
            let statement = tx
                .prepare_cached(
                    "INSERT INTO run_events (run_id, seq, event)
                     VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM run_events
                                  WHERE run_id = $1), $2)",
                )
                .await
                .map_err(self.failed(doing))?;
            tx.execute(&statement, &[&run.0, event])
                .await
                .map_err(self.failed(doing))?;
            tx.commit().await.map_err(self.failed(doing))?;
            Ok(())
        })
    }

    fn run_events_after(
        &self,
        run: RunId,
        after: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<(i64, Value)>> {
        Box::pin(async move {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT seq, event FROM run_events WHERE run_id = $1 AND seq > $2
                     ORDER BY seq LIMIT $3",
                    &[&run.0, &after, &i64::try_from(limit).unwrap_or(i64::MAX)],
                )
                .await
                .map_err(self.failed("reading a run's events"))?;
            Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
        })
    }
}
