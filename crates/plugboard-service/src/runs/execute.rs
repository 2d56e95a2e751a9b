//! Executing a run on a blocking thread, and resuming the runs a previous process left.
//!
//! Every event goes to the run's event log in the service store before the engine goes on, so
//! a subscriber that comes late (or after a restart) reads the run from its start. The terminal
//! event is written before the runner's status changes, so whoever sees the run ended has its
//! whole log.

use std::sync::Arc;

use plugboard_runner::store::RunClaim;
use plugboard_runner::workflow::{SessionSteps, StoreJournal};
use plugboard_runner::{Cancellation, RunId, RunStatus, Session};
use plugboard_workflow::coalesce::Coalescing;
use plugboard_workflow::{Event, Observer, RunError, RunOptions, ValidWorkflow};
use serde_json::{Map, Value, json};

use crate::Service;
use crate::workflows::check_workflow;

/// Queues run `run` and executes it when a slot is free. `note` is written to its log first
/// (e.g. why it is resumed).
pub(super) fn spawn(
    service: &Arc<Service>,
    run: RunId,
    workflow: ValidWorkflow,
    inputs: Map<String, Value>,
    note: Option<String>,
) {
    let cancel = Cancellation::new();
    service.live_runs.add(run.0, cancel.clone());
    watch_for_cancels(service);
    let service = Arc::clone(service);
    tokio::spawn(async move {
        let slots = Arc::clone(&service.live_runs.slots);
        let permit = slots.acquire_owned().await;
        let executing = Arc::clone(&service);
        // Watched (`watch_for_cancels`) from when it has its slot: a request made while it
        // waited is read at the next look.
        let thread = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            executing.live_runs.set_started(run.0);
            execute(&executing, run, &workflow, inputs, cancel, note);
        });
        if let Err(error) = thread.await {
            // A panic in the engine: the run must still end, with a reason.
            tracing::error!(run = run.0, %error, "a run's thread ended abnormally");
            let why = "the run stopped abnormally; see the server log";
            let log = EventLog::new(&service, run);
            let _ = service
                .workflows
                .append_event(run.0, log.failed_event(why, RunStatus::Failed))
                .await;
            if let Err(error) = service
                .runner
                .store()
                .finish_run(run, RunStatus::Failed, Some(why))
                .await
            {
                tracing::error!(run = run.0, %error, "cannot mark the run failed");
            }
        }
        service.live_runs.remove(run.0);
    });
}

/// How often a service process on a shared store looks whether another one asked to cancel
/// any of the runs it executes.
const CANCEL_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// On a store other service processes share, a cancellation may be asked for through any of
/// them ([`plugboard_runner::RunStore::request_cancel`]). One task per process reads the flags of
/// all the runs it executes every [`CANCEL_POLL`], in one query, and cancels those asked for;
/// it starts with the first run and ends with the service.
fn watch_for_cancels(service: &Arc<Service>) {
    if !service.runner.store().is_shared() || !service.live_runs.start_watching_cancels() {
        return;
    }
    let service = Arc::downgrade(service);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(CANCEL_POLL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(service) = service.upgrade() else {
                return;
            };
            let started = service.live_runs.started();
            if started.is_empty() {
                continue;
            }
            match service.runner.store().cancels_requested(&started).await {
                Ok(asked) => {
                    for run in asked {
                        if service.live_runs.cancel_started(run.0) {
                            tracing::info!(
                                run = run.0,
                                "cancelled through another service process"
                            );
                        }
                    }
                }
                // Read again at the next tick: a store restart must not cancel runs.
                Err(error) => tracing::warn!(%error, "cannot read the runs' cancellations"),
            }
        }
    });
}

/// The run's observer: appends each event, as `plugboard run --json` prints it, to the run's log.
struct EventLog<'a> {
    service: &'a Service,
    run: RunId,
}

impl<'a> EventLog<'a> {
    fn new(service: &'a Service, run: RunId) -> Self {
        Self { service, run }
    }

    /// Appends from a blocking thread.
    fn append(&self, event: Value) {
        let appended = self
            .service
            .runner
            .block_on(self.service.workflows.append_event(self.run.0, event));
        if let Err(error) = appended {
            tracing::error!(run = self.run.0, %error, "cannot log a run event");
        }
        self.service.live_runs.touch();
    }

    fn note(&self, message: &str) {
        self.append(json!({"event": "note", "message": message}));
    }

    fn failed_event(&self, error: &str, status: RunStatus) -> Value {
        json!({"event": "run_failed", "run": self.run.0, "status": status.as_str(), "error": error})
    }
}

impl Observer for EventLog<'_> {
    fn event(&self, event: &Event) {
        match serde_json::to_value(event) {
            Ok(value) => self.append(value),
            Err(error) => tracing::error!(%error, "an event cannot be encoded"),
        }
    }
}

/// Runs (or resumes) `run` to its end on this blocking thread.
fn execute(
    service: &Service,
    run: RunId,
    workflow: &ValidWorkflow,
    inputs: Map<String, Value>,
    cancel: Cancellation,
    note: Option<String>,
) {
    let session: Session = service.runner.with_run_cancellation(cancel);
    let store = session.store();
    let log = EventLog::new(service, run);
    if let Some(note) = note {
        log.note(&note);
    }
    let journal = match StoreJournal::open(store.as_ref(), session.handle().clone(), run) {
        Ok(journal) => journal,
        Err(error) => {
            let why = format!("cannot read the run's journal: {error}");
            finish(&session, &log, Err((why, RunStatus::Failed)));
            return;
        }
    };
    let done = journal.resumed_entries();
    log.note(&format!(
        "run {}: {}{}",
        run.0,
        workflow.workflow().name,
        match done {
            0 => String::new(),
            1 => " (resumed; 1 entry done)".to_owned(),
            n => format!(" (resumed; {n} entries done)"),
        }
    ));
    let steps = SessionSteps::new(&session, &workflow.workflow().name, run);
    // Long loops are logged compactly: a 100,000-call loop writes a few hundred events.
    let observer = Coalescing::new(&log);
    let outcome = plugboard_workflow::run_with(
        workflow,
        inputs,
        &steps,
        &journal,
        &observer,
        &RunOptions::default(),
    );
    let result = match outcome {
        Ok(outcome) => match steps.commit_cursors() {
            Ok(_) => Ok(outcome.outputs),
            Err(error) => Err((
                format!("cannot save the triggers' cursors: {error}"),
                RunStatus::Failed,
            )),
        },
        Err(error) => {
            let status = if matches!(error, RunError::Cancelled { .. }) {
                RunStatus::Cancelled
            } else {
                RunStatus::Failed
            };
            Err((error.to_string(), status))
        }
    };
    finish(&session, &log, result);
}

/// Stores the outcome: outputs and the terminal event first, then the runner's status.
fn finish(
    session: &Session,
    log: &EventLog<'_>,
    result: Result<Map<String, Value>, (String, RunStatus)>,
) {
    let service = log.service;
    let run = log.run;
    let (status, error) = match result {
        Ok(outputs) => {
            let outputs = Value::Object(outputs);
            if let Err(error) =
                session.block_on(service.workflows.set_outputs(run.0, outputs.clone()))
            {
                tracing::error!(run = run.0, %error, "cannot store the run's outputs");
            }
            log.append(json!({
                "event": "run_finished", "run": run.0, "status": "completed", "outputs": outputs,
            }));
            (RunStatus::Completed, None)
        }
        Err((_, RunStatus::Cancelled)) if service.live_runs.stopping() => {
            // Not the tenant's cancel: the service is stopping. Left `running`, the run is
            // resumed from its journal when the service starts again.
            log.note(&format!(
                "run {}: the service is stopping; the run continues when it starts again",
                run.0
            ));
            return;
        }
        Err((why, status)) => {
            log.append(log.failed_event(&why, status));
            (status, Some(why))
        }
    };
    if let Err(error) = session.block_on(session.store().finish_run(run, status, error.as_deref()))
    {
        tracing::error!(run = run.0, %error, "cannot record the run's end");
    }
}

/// At start-up: every run the service started that the runner still has as running (the
/// process that ran it died: kill -9, a crash, a power cut) is taken over and resumed from its
/// journal, so completed calls are not repeated; one that cannot be resumed is marked failed
/// with the reason. Returns how many were resumed.
pub async fn recover(service: &Arc<Service>) -> Result<usize, crate::StoreError> {
    // Runs on a cluster are resumed by the cluster, on its workers.
    if service.remote.is_some() {
        return Ok(0);
    }
    let mut resumed = 0;
    for run in service.workflows.runs(None).await? {
        let id = RunId(run.id);
        let record = match service.runner.store().run(id).await {
            Ok(Some(record)) => record,
            Ok(None) => continue,
            Err(error) => {
                tracing::error!(run = run.id, %error, "cannot read a run to recover");
                continue;
            }
        };
        if !matches!(record.status, RunStatus::Running | RunStatus::Interrupted) {
            continue;
        }
        // Several services may share a PostgreSQL store: a run another machine's service is
        // executing is left to it (it resumes its own after a restart); an operator whose
        // machine is gone for good resumes it with `POST …/resume`.
        if let Some(machine) = record
            .running_elsewhere()
            .filter(|_| service.runner.store().is_shared())
        {
            tracing::warn!(
                run = run.id,
                machine,
                "run is held by a service on another machine"
            );
            continue;
        }
        let cancel_requested = match service.runner.store().claim_run(id).await {
            Ok(RunClaim::Claimed {
                cancel_requested, ..
            }) => cancel_requested,
            Ok(RunClaim::Busy { pid }) => {
                tracing::warn!(run = run.id, pid, "run is still running in another process");
                continue;
            }
            Ok(_) => continue,
            Err(error) => {
                tracing::error!(run = run.id, %error, "cannot take over a run");
                continue;
            }
        };
        if cancel_requested {
            // Cancelled through another service process while this one was down: taken over
            // first (so no live process still runs it, and no request is lost in between),
            // then ended as asked instead of resumed.
            let why = "cancelled while the service that ran it was down";
            end_unresumed(service, id, RunStatus::Cancelled, why).await?;
            continue;
        }
        let inputs = match record.inputs {
            Value::Object(inputs) => inputs,
            _ => Map::new(),
        };
        match check_workflow(service, &run.source) {
            Ok(workflow) => {
                let note = format!(
                    "run {}: the service stopped during this run; resuming it from its journal",
                    run.id
                );
                super::execute::spawn(service, id, workflow, inputs, Some(note));
                resumed += 1;
            }
            Err(problems) => {
                let first = problems
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let why = format!(
                    "the service stopped during this run, and it cannot be resumed: its \
                     workflow no longer validates ({first})"
                );
                end_unresumed(service, id, RunStatus::Failed, &why).await?;
            }
        }
    }
    Ok(resumed)
}

/// Ends a run [`recover`] does not resume, `status` for `why`: its terminal event first, then
/// the runner's status (as [`finish`] orders them).
async fn end_unresumed(
    service: &Service,
    run: RunId,
    status: RunStatus,
    why: &str,
) -> Result<(), crate::StoreError> {
    let event =
        json!({"event": "run_failed", "run": run.0, "status": status.as_str(), "error": why});
    service.workflows.append_event(run.0, event).await?;
    if let Err(error) = service
        .runner
        .store()
        .finish_run(run, status, Some(why))
        .await
    {
        tracing::error!(run = run.0, %error, "cannot record the end of a run");
    }
    Ok(())
}
