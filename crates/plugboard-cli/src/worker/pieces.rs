//! One piece of a run on a worker: a step, or one call of a loop (see
//! [`plugboard_workflow::Piece`]). A piece is the engine's, run against the shared journal: the
//! steps before it are read back, and what it does is journaled before it answers. Pieces of
//! one run may run at once on several workers (a loop's calls), so none claims the run: the
//! run's record only says it is running, and the piece that ends it (or the run's end) says how.

use anyhow::Context;
use plugboard_core::ConnectorError;
use plugboard_runner::workflow::{
    SessionCatalog, SessionSteps, StoreJournal, record_outputs, record_workflow, recorded_outputs,
    recorded_workflow, workflow_digest,
};
use plugboard_runner::{Cancellation, RunId, RunStatus, Session};
use plugboard_temporal::{PieceRequest, PieceResult, RunResult};
use plugboard_workflow::{Failure, Piece, PieceOutcome, RunError, run_piece, validate};
use serde_json::{Map, Value};

use super::{SessionExecutor, Settings};
use crate::progress::Reporter;
use crate::run_events::Published;

impl SessionExecutor {
    /// Executes `request`'s piece; `Err` when the worker's surroundings failed (Temporal
    /// retries the piece), [`PieceResult::Ended`] when the run ended in it, or before it.
    pub(super) fn piece(&self, request: &PieceRequest) -> anyhow::Result<PieceResult> {
        self.check_state(&request.state)?;
        let run = RunId(request.run);
        let shared = self.session_for(Settings::of(request))?;
        let cancel = Cancellation::new();
        let session = shared.with_run_cancellation(cancel.clone());
        self.stop_with_the_worker(&shared, &cancel);
        let _running = self.running.register(request.run, cancel);
        let store = session.store();
        let record = session
            .block_on(store.run(run))?
            .with_context(|| format!("there is no run {} in the shared state", run.0))?;
        if record.status.has_ended() {
            return Ok(PieceResult::Ended {
                run: ended(&session, run, record.status, record.error)?,
            });
        }
        let text = match &request.workflow {
            Some(text) => text.clone(),
            None => session
                .block_on(recorded_workflow(store.as_ref(), run))?
                .with_context(|| format!("run {} has no workflow kept for its calls", run.0))?,
        };
        let workflow = match validate(
            &text,
            &SessionCatalog::new(session.registry(), Some(&session)),
        ) {
            Ok(workflow) => workflow,
            Err(problems) => {
                let first = problems
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                return self.end(
                    &session,
                    run,
                    RunStatus::Failed,
                    &format!("its workflow no longer validates on this worker: {first}"),
                );
            }
        };
        if record
            .workflow_digest
            .as_ref()
            .is_some_and(|digest| *digest != workflow_digest(&workflow))
        {
            // Another attempt would be given the same text: the run ends here.
            let why = "its workflow on Temporal is not the one it was started with";
            return self.end(&session, run, RunStatus::Failed, why);
        }
        if record.status != RunStatus::Running {
            session.block_on(store.finish_run(run, RunStatus::Running, None))?;
        }
        let inputs = match record.inputs {
            Value::Object(inputs) => inputs,
            _ => Map::new(),
        };
        let handle = session.handle().clone();
        let journal = match request.piece {
            // A loop's step reads its calls back: all of the journal, once per step.
            Piece::Step { .. } => StoreJournal::open(store.as_ref(), handle, run)?,
            piece => StoreJournal::open_keys(
                store.as_ref(),
                handle,
                run,
                plugboard_workflow::piece_keys(&workflow, piece),
            )?,
        };
        let reporter = Reporter::new(false);
        let published = Published::new(&session, run, &reporter);
        let steps = SessionSteps::new(&session, &workflow.workflow().name, run);
        let options = plugboard_workflow::RunOptions {
            state_file: Some(self.state_file.clone()),
            ..plugboard_workflow::RunOptions::default()
        };
        let outcome = run_piece(
            &workflow,
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
                session.block_on(store.finish_run(run, RunStatus::Completed, None))?;
                Ok(PieceResult::Ended {
                    run: RunResult {
                        run: run.0,
                        status: RunStatus::Completed.as_str().to_owned(),
                        outputs,
                        error: None,
                    },
                })
            }
            Ok(outcome) => {
                if matches!(outcome, PieceOutcome::Items { .. }) {
                    // The loop's calls carry no workflow: they read it here.
                    session.block_on(record_workflow(store.as_ref(), run, &text))?;
                }
                Ok(PieceResult::Ran { outcome })
            }
            Err(error) if self.stop.exit_code().is_some() => {
                anyhow::bail!("the worker is stopping ({error}); another worker takes the piece")
            }
            Err(error) if about_the_surroundings(&error) => Err(anyhow::anyhow!("{error}")),
            Err(error) => {
                let status = match error {
                    RunError::Cancelled { .. } => RunStatus::Cancelled,
                    _ => RunStatus::Failed,
                };
                self.end(&session, run, status, &error.to_string())
            }
        }
    }

    /// Records run `run` ended with `status`, and answers so.
    fn end(
        &self,
        session: &Session,
        run: RunId,
        status: RunStatus,
        why: &str,
    ) -> anyhow::Result<PieceResult> {
        session.block_on(session.store().finish_run(run, status, Some(why)))?;
        Ok(PieceResult::Ended {
            run: RunResult {
                run: run.0,
                status: status.as_str().to_owned(),
                outputs: Value::Null,
                error: Some(why.to_owned()),
            },
        })
    }

    /// Records run `run` ended, unless it has: failed with `failure`, or cancelled (`None`).
    /// Answers how it ended.
    pub(super) fn unfinished(
        &self,
        run: RunId,
        failure: Option<&str>,
    ) -> anyhow::Result<RunResult> {
        let session = &self.session;
        let record = session
            .block_on(session.store().run(run))?
            .with_context(|| format!("there is no run {} in the shared state", run.0))?;
        if record.status.has_ended() {
            return ended(session, run, record.status, record.error);
        }
        let (status, why) = match failure {
            Some(failure) => (RunStatus::Failed, failure),
            None => (RunStatus::Cancelled, "its workflow was cancelled"),
        };
        session.block_on(session.store().finish_run(run, status, Some(why)))?;
        Ok(RunResult {
            run: run.0,
            status: status.as_str().to_owned(),
            outputs: Value::Null,
            error: Some(why.to_owned()),
        })
    }
}

/// The answer for a run that has ended: completed with its journaled outputs, or not.
fn ended(
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
