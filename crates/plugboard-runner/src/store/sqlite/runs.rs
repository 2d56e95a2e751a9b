//! [`RunStore`] for [`SqliteStore`]: the `runs`, `run_steps` and `cursors` tables.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde_json::Value;

use super::{SqliteStore, from_json, run, to_json};
use crate::clock::system_now_ms;
use crate::store::call_claim::{self, INTENT_PREFIX};
use crate::store::{
    CallClaim, LeaseHolder, RunClaim, RunId, RunRecord, RunStatus, RunStore, StoreError,
    StoreFuture, local_host_id, process_is_provably_dead,
};

fn read_run(row: &rusqlite::Row<'_>) -> Result<(RunRecord, String), rusqlite::Error> {
    let inputs: String = row.get(2)?;
    let mut status = RunStatus::parse(&row.get::<_, String>(3)?);
    let owner: (Option<u32>, Option<String>) = (row.get(8)?, row.get(9)?);
    if let (RunStatus::Running, (Some(pid), Some(host))) = (status, &owner)
        && process_is_provably_dead(*pid, host)
    {
        status = RunStatus::Interrupted;
    }
    Ok((
        RunRecord {
            id: RunId(row.get(0)?),
            workflow: row.get(1)?,
            workflow_digest: row.get(7)?,
            inputs: Value::Null,
            status,
            error: row.get(4)?,
            started_at_ms: row.get(5)?,
            finished_at_ms: row.get(6)?,
            owner_host: owner.1,
        },
        inputs,
    ))
}

fn finish_run_record((mut record, inputs): (RunRecord, String)) -> Result<RunRecord, StoreError> {
    record.inputs = from_json("run inputs", &inputs)?;
    Ok(record)
}

/// `NotFound` unless run `run_id` exists.
fn require_run(tx: &rusqlite::Transaction<'_>, run_id: RunId) -> Result<(), StoreError> {
    let exists = tx
        .prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?
        .query_row(params![run_id.0], |_| Ok(true))
        .optional()?
        .unwrap_or(false);
    if exists {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("run {run_id}")))
    }
}

impl SqliteStore {
    /// Applies a rule of [`call_claim`] to call `key` of run `run_id` in one immediate
    /// transaction: `rule` sees the call's journaled output and its intent entry, and the
    /// intent it says to write is written before the answer is returned.
    /// [`StoreError::NotFound`] for an unknown run.
    fn decide_on_call<T>(
        &self,
        run_id: RunId,
        key: &str,
        rule: impl FnOnce(Option<&Value>, Option<&Value>) -> call_claim::CallDecision<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        require_run(&tx, run_id)?;
        let intent_key = format!("{INTENT_PREFIX}{key}");
        let entry = |key: &str| -> Result<Option<Value>, StoreError> {
            let text: Option<String> = tx
                .prepare_cached("SELECT output FROM run_steps WHERE run_id = ?1 AND key = ?2")?
                .query_row(params![run_id.0, key], |row| row.get(0))
                .optional()?;
            text.map(|text| from_json("journal entry", &text))
                .transpose()
        };
        let (done, intent) = (entry(key)?, entry(&intent_key)?);
        let decision = rule(done.as_ref(), intent.as_ref());
        if let Some(write) = &decision.write {
            write_entry(&tx, run_id, &intent_key, write)?;
        }
        tx.commit()?;
        Ok(decision.answer)
    }
}

/// Writes journal entry `key` of a run, in its place when it exists (after the last otherwise).
fn write_entry(
    tx: &rusqlite::Transaction<'_>,
    run_id: RunId,
    key: &str,
    value: &Value,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO run_steps (run_id, key, output, seq, recorded_at)
         VALUES (?1, ?2, ?3,
                 (SELECT COALESCE(MAX(seq), 0) + 1 FROM run_steps WHERE run_id = ?1), ?4)
         ON CONFLICT(run_id, key) DO UPDATE SET output = excluded.output,
             recorded_at = excluded.recorded_at",
    )?
    .execute(params![run_id.0, key, to_json(value), system_now_ms()])?;
    Ok(())
}

const RUN_COLUMNS: &str = "id, workflow, inputs, status, error, started_at, finished_at, \
                           workflow_digest, owner_pid, owner_host";

impl RunStore for SqliteStore {
    fn cursor<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Value>> {
        run(move || {
            let text: Option<String> = self
                .lock()
                .query_row(
                    "SELECT value FROM cursors WHERE key = ?1",
                    params![key],
                    |row| row.get(0),
                )
                .optional()?;
            text.map(|t| from_json("cursor", &t)).transpose()
        })
    }

    fn set_cursor<'a>(&'a self, key: &'a str, value: &'a Value) -> StoreFuture<'a, ()> {
        run(move || {
            self.lock().execute(
                "INSERT INTO cursors (key, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value,
                     updated_at = excluded.updated_at",
                params![key, to_json(value), system_now_ms()],
            )?;
            Ok(())
        })
    }

    fn create_run<'a>(
        &'a self,
        workflow: &'a str,
        digest: &'a str,
        inputs: &'a Value,
    ) -> StoreFuture<'a, RunId> {
        run(move || {
            let conn = self.lock();
            conn.execute(
                "INSERT INTO runs (workflow, workflow_digest, inputs, status, started_at,
                                   owner_pid, owner_host)
                 VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6)",
                params![
                    workflow,
                    digest,
                    to_json(inputs),
                    system_now_ms(),
                    std::process::id(),
                    local_host_id()
                ],
            )?;
            Ok(RunId(conn.last_insert_rowid()))
        })
    }

    fn queue_run<'a>(
        &'a self,
        workflow: &'a str,
        digest: &'a str,
        inputs: &'a Value,
    ) -> StoreFuture<'a, RunId> {
        run(move || {
            let conn = self.lock();
            conn.execute(
                "INSERT INTO runs (workflow, workflow_digest, inputs, status, started_at)
                 VALUES (?1, ?2, ?3, 'queued', ?4)",
                params![workflow, digest, to_json(inputs), system_now_ms()],
            )?;
            Ok(RunId(conn.last_insert_rowid()))
        })
    }

    fn set_run_inputs<'a>(&'a self, run_id: RunId, inputs: &'a Value) -> StoreFuture<'a, ()> {
        run(move || {
            let changed = self.lock().execute(
                "UPDATE runs SET inputs = ?2 WHERE id = ?1",
                params![run_id.0, to_json(inputs)],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("run {run_id}")));
            }
            Ok(())
        })
    }

    fn record_step<'a>(
        &'a self,
        run_id: RunId,
        key: &'a str,
        output: &'a Value,
    ) -> StoreFuture<'a, ()> {
        run(move || {
            let mut conn = self.lock();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            require_run(&tx, run_id)?;
            write_entry(&tx, run_id, key, output)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn claim_call<'a>(
        &'a self,
        run_id: RunId,
        key: &'a str,
        claimant: &'a LeaseHolder,
        lease_ms: i64,
    ) -> StoreFuture<'a, CallClaim> {
        run(move || {
            self.decide_on_call(run_id, key, |done, intent| {
                call_claim::decide(
                    done,
                    intent,
                    claimant,
                    system_now_ms(),
                    lease_ms,
                    process_is_provably_dead,
                )
            })
        })
    }

    fn release_call<'a>(
        &'a self,
        run_id: RunId,
        key: &'a str,
        claimant: &'a LeaseHolder,
    ) -> StoreFuture<'a, bool> {
        run(move || {
            self.decide_on_call(run_id, key, |_, intent| {
                call_claim::release(intent, claimant)
            })
        })
    }

    fn completed_steps(&self, run_id: RunId) -> StoreFuture<'_, Vec<(String, Value)>> {
        run(move || {
            let rows: Vec<(String, String)> = {
                let conn = self.lock();
                let mut statement = conn
                    .prepare("SELECT key, output FROM run_steps WHERE run_id = ?1 ORDER BY seq")?;
                statement
                    .query_map(params![run_id.0], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<Result<_, _>>()?
            };
            rows.into_iter()
                .map(|(key, output)| Ok((key, from_json("step output", &output)?)))
                .collect()
        })
    }

    fn journal_entry<'a>(&'a self, run_id: RunId, key: &'a str) -> StoreFuture<'a, Option<Value>> {
        run(move || {
            let output: Option<String> = self
                .lock()
                .prepare_cached("SELECT output FROM run_steps WHERE run_id = ?1 AND key = ?2")?
                .query_row(params![run_id.0, key], |row| row.get(0))
                .optional()?;
            output
                .map(|output| from_json("step output", &output))
                .transpose()
        })
    }

    fn request_cancel(&self, run_id: RunId) -> StoreFuture<'_, bool> {
        run(move || {
            let changed = self.lock().execute(
                "UPDATE runs SET cancel_requested = 1
                 WHERE id = ?1 AND status IN ('queued', 'running')",
                params![run_id.0],
            )?;
            Ok(changed > 0)
        })
    }

    fn cancels_requested<'a>(&'a self, runs: &'a [RunId]) -> StoreFuture<'a, Vec<RunId>> {
        run(move || {
            // The ids as one JSON array: one statement, whatever the number of runs.
            let ids = Value::from(runs.iter().map(|run| run.0).collect::<Vec<i64>>()).to_string();
            let conn = self.lock();
            let mut asked = conn.prepare_cached(
                "SELECT id FROM runs
                 WHERE cancel_requested = 1 AND id IN (SELECT value FROM json_each(?1))",
            )?;
            let cancelled = asked
                .query_map(params![ids], |row| row.get(0).map(RunId))?
                .collect::<Result<_, _>>()?;
            Ok(cancelled)
        })
    }

    fn claim_run(&self, run_id: RunId) -> StoreFuture<'_, RunClaim> {
        run(move || {
            let mut conn = self.lock();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row: Option<(String, Option<u32>, Option<String>, bool)> = tx
                .query_row(
                    "SELECT status, owner_pid, owner_host, cancel_requested FROM runs
                     WHERE id = ?1",
                    params![run_id.0],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                )
                .optional()?;
            let Some((status, owner_pid, owner_host, cancel_requested)) = row else {
                return Ok(RunClaim::Unknown);
            };
            let mut elsewhere = None;
            match (RunStatus::parse(&status), owner_pid, owner_host) {
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
                "UPDATE runs SET status = 'running', error = NULL, finished_at = NULL,
                     owner_pid = ?2, owner_host = ?3, cancel_requested = 0
                 WHERE id = ?1",
                params![run_id.0, std::process::id(), local_host_id()],
            )?;
            tx.commit()?;
            Ok(RunClaim::Claimed {
                elsewhere,
                cancel_requested,
            })
        })
    }

    fn finish_run<'a>(
        &'a self,
        run_id: RunId,
        status: RunStatus,
        error: Option<&'a str>,
    ) -> StoreFuture<'a, ()> {
        run(move || {
            let finished = status.has_ended().then(system_now_ms);
            let changed = self.lock().execute(
                "UPDATE runs SET status = ?2, error = ?3, finished_at = ?4, cancel_requested = 0
                 WHERE id = ?1",
                params![run_id.0, status.as_str(), error, finished],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("run {run_id}")));
            }
            Ok(())
        })
    }

    fn end_run<'a>(
        &'a self,
        run_id: RunId,
        status: RunStatus,
        error: Option<&'a str>,
    ) -> StoreFuture<'a, bool> {
        run(move || {
            let changed = self.lock().execute(
                "UPDATE runs SET status = ?2, error = ?3, finished_at = ?4, cancel_requested = 0
                 WHERE id = ?1 AND status IN ('queued', 'running')",
                params![run_id.0, status.as_str(), error, system_now_ms()],
            )?;
            Ok(changed > 0)
        })
    }

    fn run(&self, id: RunId) -> StoreFuture<'_, Option<RunRecord>> {
        run(move || {
            let row = self
                .lock()
                .query_row(
                    &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                    params![id.0],
                    read_run,
                )
                .optional()?;
            row.map(finish_run_record).transpose()
        })
    }

    fn runs(&self) -> StoreFuture<'_, Vec<RunRecord>> {
        run(move || {
            let rows: Vec<(RunRecord, String)> = {
                let conn = self.lock();
                let mut statement =
                    conn.prepare(&format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC"))?;
                statement
                    .query_map([], read_run)?
                    .collect::<Result<_, _>>()?
            };
            rows.into_iter().map(finish_run_record).collect()
        })
    }

    fn append_run_event<'a>(&'a self, run_id: RunId, event: &'a Value) -> StoreFuture<'a, ()> {
        run(move || {
            let inserted = self
                .lock()
                .prepare_cached(
                    "INSERT INTO run_events (run_id, event)
                     SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM runs WHERE id = ?1)",
                )?
                .execute(params![run_id.0, to_json(event)])?;
            if inserted == 0 {
                return Err(StoreError::NotFound(format!("run {run_id}")));
            }
            Ok(())
        })
    }

    fn run_events_after(
        &self,
        run_id: RunId,
        after: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<(i64, Value)>> {
        run(move || {
            let rows: Vec<(i64, String)> = {
                let conn = self.lock();
                let mut statement = conn.prepare_cached(
                    "SELECT seq, event FROM run_events WHERE run_id = ?1 AND seq > ?2
                     ORDER BY seq LIMIT ?3",
                )?;
                statement
                    .query_map(
                        params![run_id.0, after, i64::try_from(limit).unwrap_or(i64::MAX)],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )?
                    .collect::<Result<_, _>>()?
            };
            rows.into_iter()
                .map(|(seq, event)| Ok((seq, from_json("a run event", &event)?)))
                .collect()
        })
    }
}
