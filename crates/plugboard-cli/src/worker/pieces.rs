//! One piece of a run on a worker: a step, one call of a loop, or the run's end (see
//! [`plugboard_workflow::Piece`]). A piece is the engine's, run against the shared journal: the
//! steps before it are read back, and what it does is journaled before it answers.
//!
//! Pieces of one run may run at once on several workers (a loop's calls), so the run's record
//! is ended by whichever piece ends it first ([`RunStore::end_run`]), never overwritten: a call
//! that fails the run is its end, not the cancellation of the calls running beside it. A piece
//! that is cancelled records nothing: its workflow, which knows whether it was itself cancelled
//! or only that attempt was, records it ([`SessionExecutor::unfinished`]).
//!
//! [`RunStore::end_run`]: plugboard_runner::store::RunStore::end_run

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use plugboard_core::ConnectorError;
use plugboard_runner::store::RunClaim;
use plugboard_runner::workflow::{
    SessionCatalog, SessionSteps, StoreJournal, record_outputs, record_workflow, recorded_outputs,
    recorded_workflow, workflow_digest,
};
use plugboard_runner::{Cancellation, RunId, RunRecord, RunStatus, Session};
use plugboard_temporal::{PieceRequest, PieceResult, RunResult};
use plugboard_workflow::{
    Failure, Piece, PieceOutcome, RunError, RunOptions, ValidWorkflow, run_piece, validate,
};
use serde_json::{Map, Value};

use super::{SessionExecutor, Settings};
use crate::progress::Reporter;
use crate::run_events::Published;

/// What a piece starts from, once the run is known to be going on.
struct Ready {
    record: RunRecord,
    workflow: Arc<Checked>,
}

/// A run's workflow, validated and matched with the run's digest.
pub(super) struct Checked {
    text: String,
    workflow: ValidWorkflow,
}

/// The workflows of the runs whose pieces ran here, each checked once: a loop of N calls would
/// otherwise read its text back, parse it, compile its expressions and input schemas and look
/// its connections up N times. Forgotten at a run's end; bounded by [`Workflows::MOST`].
#[derive(Default)]
pub(super) struct Workflows(Mutex<HashMap<i64, Arc<Checked>>>);

impl Workflows {
    /// Runs whose workflows are kept at once; past it, the oldest are checked again when needed.
    const MOST: usize = 256;

    /// Run `run`'s workflow if it was checked here, as `text` when that is given.
    fn get(&self, run: i64, text: Option<&str>) -> Option<Arc<Checked>> {
        let kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.get(&run)
            .filter(|checked| text.is_none_or(|text| checked.text == text))
            .cloned()
    }

    fn keep(&self, run: i64, checked: Arc<Checked>) {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= Self::MOST {
            kept.clear();
        }
        kept.insert(run, checked);
    }

    fn forget(&self, run: i64) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&run);
    }
}

impl SessionExecutor {
    /// Executes `request`'s piece; `Err` when the worker's surroundings failed or the piece was
    /// cancelled (Temporal retries it, or the workflow records the cancellation),
    /// [`PieceResult::Ended`] when the run ended in it, or had ended before it.
    pub(super) fn piece(&self, request: &PieceRequest) -> anyhow::Result<PieceResult> {
        self.check_state(&request.state)?;
        let run = RunId(request.run);
        let shared = self.session_for(Settings::of(request))?;
        let cancel = Cancellation::new();
        let session = shared.with_run_cancellation(cancel.clone());
        self.stop_with_the_worker(&shared, &cancel);
        let _running = self.running.register(request.run, request.piece, cancel);
        let Ready { record, workflow } = match self.take_up(&session, run, request)? {
            Ok(ready) => ready,
            Err(ended) => return Ok(PieceResult::Ended { run: ended }),
        };
        let store = session.store();
        let handle = session.handle().clone();
        let journal = match request.piece {
            // A loop's step reads its calls back: all of the journal, once per step.
            Piece::Step { .. } => StoreJournal::open(store.as_ref(), handle, run)?,
            piece => StoreJournal::open_keys(
                store.as_ref(),
                handle,
                run,
                plugboard_workflow::piece_keys(&workflow.workflow, piece),
            )?,
        }
        // Temporal may retry this piece while this attempt still sends a call (cut off from the
        // cluster, not from the store): each call is claimed, and the retry waits for it.
        .claiming_calls();
        let inputs = match record.inputs {
            Value::Object(inputs) => inputs,
            _ => Map::new(),
        };
        let reporter = Reporter::new(false);
        let published = Published::new(&session, run, &reporter);
        let steps = SessionSteps::new(&session, &workflow.workflow.workflow().name, run);
        let options = RunOptions {
            state_file: Some(self.state_file.clone()),
            ..RunOptions::default()
        };
        let outcome = run_piece(
            &workflow.workflow,
            inputs,
            &steps,
            &journal,
            &published,
            &options,
            request.piece,
        );
        reporter.finish();
        if published.dropped() > 0 {
            eprintln!(
                "worker: run {}: {} progress events could not be published (the shared state \
                 was unreachable); the run itself is not affected",
                run.0,
                published.dropped()
            );
        }
        match outcome {
            Ok(PieceOutcome::Finished { outputs }) => {
                steps.commit_cursors()?;
                // Kept with the run before it reads completed: a caller whose answer is lost
                // is handed them later.
                let outputs = Value::Object(outputs);
                session.block_on(record_outputs(store.as_ref(), run, &outputs))?;
                let run = self.finish(&session, run, RunStatus::Completed, None)?;
                Ok(PieceResult::Ended { run })
            }
            Ok(outcome) => {
                if matches!(outcome, PieceOutcome::Items { .. }) {
                    // The loop's calls carry no workflow: they read it here.
                    session.block_on(record_workflow(store.as_ref(), run, &workflow.text))?;
                }
                Ok(PieceResult::Ran { outcome })
            }
            Err(error) if self.stop.exit_code().is_some() => {
                anyhow::bail!("the worker is stopping ({error}); another worker takes the piece")
            }
            Err(error @ RunError::Cancelled { .. }) => anyhow::bail!("{error}"),
            Err(error) if about_the_surroundings(&error) => anyhow::bail!("{error}"),
            Err(error) => {
                let why = error.to_string();
                let run = self.finish(&session, run, RunStatus::Failed, Some(&why))?;
                Ok(PieceResult::Ended { run })
            }
        }
    }

    /// The run's record and workflow for a piece, the run taken up when no live process holds
    /// it (queued, or left by a dead one); `Err` with the answer when the run has ended, or ends
    /// here because its workflow cannot be run.
    fn take_up(
        &self,
        session: &Session,
        run: RunId,
        request: &PieceRequest,
    ) -> anyhow::Result<Result<Ready, RunResult>> {
        let store = session.store();
        let record = session
            .block_on(store.run(run))?
            .with_context(|| format!("there is no run {} in the shared state", run.0))?;
        match record.status {
            RunStatus::Queued | RunStatus::Interrupted => {
                match session.block_on(store.claim_run(run))? {
                    RunClaim::Claimed { .. } => {}
                    RunClaim::Busy { pid } => anyhow::bail!("process {pid} holds it"),
                    RunClaim::Completed => {
                        return Ok(Err(answer(session, run, RunStatus::Completed, None)?));
                    }
                    RunClaim::Unknown => anyhow::bail!("run {} vanished", run.0),
                }
            }
            RunStatus::Running => {}
            status => {
                self.workflows.forget(run.0);
                return Ok(Err(answer(session, run, status, record.error)?));
            }
        }
        if let Some(workflow) = self.workflows.get(run.0, request.workflow.as_deref()) {
            return Ok(Ok(Ready { record, workflow }));
        }
        let text = match &request.workflow {
            Some(text) => text.clone(),
            None => session
                .block_on(recorded_workflow(store.as_ref(), run))?
                .with_context(|| format!("run {} has no workflow kept for its calls", run.0))?,
        };
        let catalog = SessionCatalog::new(session.registry(), Some(session));
        let workflow = match validate(&text, &catalog) {
            Ok(workflow) => workflow,
            Err(problems) => {
                let first = problems
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let why = format!("its workflow no longer validates on this worker: {first}");
                return Ok(Err(self.finish(
                    session,
                    run,
                    RunStatus::Failed,
                    Some(&why),
                )?));
            }
        };
        if record
            .workflow_digest
            .as_ref()
            .is_some_and(|digest| *digest != workflow_digest(&workflow))
        {
            // Another attempt would be given the same text: the run ends here.
            let why = "its workflow on Temporal is not the one it was started with";
            return Ok(Err(self.finish(
                session,
                run,
                RunStatus::Failed,
                Some(why),
            )?));
        }
        let workflow = Arc::new(Checked { text, workflow });
        self.workflows.keep(run.0, Arc::clone(&workflow));
        Ok(Ok(Ready { record, workflow }))
    }

    /// Ends run `run` with `status` unless it has ended, and answers how it ended.
    fn finish(
        &self,
        session: &Session,
        run: RunId,
        status: RunStatus,
        why: Option<&str>,
    ) -> anyhow::Result<RunResult> {
        let store = session.store();
        self.workflows.forget(run.0);
        if !session.block_on(store.end_run(run, status, why))? {
            // Another piece ended it first: that is its end.
            let record = session
                .block_on(store.run(run))?
                .with_context(|| format!("run {} vanished from the shared state", run.0))?;
            return answer(session, run, record.status, record.error);
        }
        answer(session, run, status, why.map(str::to_owned))
    }

    /// Ends run `run` unless it has ended: failed with `failure`, or cancelled (`None`). For a
    /// workflow that stopped without a piece ending its run.
    pub(super) fn unfinished(
        &self,
        run: RunId,
        failure: Option<&str>,
    ) -> anyhow::Result<RunResult> {
        match failure {
            Some(failure) => self.finish(&self.session, run, RunStatus::Failed, Some(failure)),
            None => self.finish(
                &self.session,
                run,
                RunStatus::Cancelled,
                Some("its workflow was cancelled"),
            ),
        }
    }
}

/// The answer for a run that ended with `status`: completed with its journaled outputs, or not.
fn answer(
    session: &Session,
    run: RunId,
    status: RunStatus,
    error: Option<String>,
) -> anyhow::Result<RunResult> {
    let outputs = match status {
        RunStatus::Completed => session
            .block_on(recorded_outputs(session.store().as_ref(), run))?
            .unwrap_or(Value::Null),
        _ => Value::Null,
    };
    Ok(RunResult {
        run: run.0,
        status: status.as_str().to_owned(),
        outputs,
        error,
    })
}

/// Whether a run's failure is the worker's surroundings failing (the shared store unreachable,
/// a journal write refused) rather than the run's own: those are retried, on this worker or
/// another, and never end the run.
fn about_the_surroundings(error: &RunError) -> bool {
    match error {
        RunError::Journal(_) => true,
        RunError::StepFailed { failure, .. } => matches!(
            failure,
            Failure::Journal(_) | Failure::Connector(ConnectorError::Store { .. })
        ),
        _ => false,
    }
}
