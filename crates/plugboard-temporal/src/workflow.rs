//! The Temporal workflow and activities: a run walked step by step, each step (and each call of
//! a `for_each` over an array) an activity any worker may take, and the run's end one last
//! activity.
//!
//! The workflow code is deterministic: it reads its input and the activities' results and
//! schedules activities, nothing else (no clock, no randomness, no timers, no I/O). What it
//! keeps in history is small whatever the run does: the run's request once per execution, then
//! per piece an index and an outcome (records go to their sinks inside the activity, inputs and
//! outputs stay in the shared journal). An execution whose history passes
//! [`HISTORY_EVENTS`] continues as new, taking the run up where it stands.
// The SDK's `#[workflow_methods]` and `#[activities]` write an undocumented constant per method
// (everything written here is documented).
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use plugboard_workflow::{Piece, PieceOutcome};
use temporalio_client::RetryPolicy;
use temporalio_common::error::ApplicationFailure;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{
    ActivityCancellationType, ActivityOptions, ContinueAsNewOptions, WorkflowContext,
    WorkflowResult,
};
use temporalio_workflow::{WorkflowCancellationToken, WorkflowTermination};

use crate::{PieceRequest, PieceResult, ResumeAt, RunExecutor, RunRequest, RunResult, Unfinished};

/// How often a running activity tells Temporal its worker is alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// How long Temporal waits for a heartbeat before giving the piece to another worker.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a piece (a record stream, say) may take on one worker.
pub const PIECE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// How many workers may try a piece: a retry resumes from the shared journal, which never
/// sends a completed call again and stops on a call whose outcome is unknown.
pub const MAX_ATTEMPTS: u32 = 5;
/// The history events an execution may reach before it continues as new: far below Temporal's
/// own limit (51,200 events), so a loop of 100,000 calls runs in a few dozen executions.
pub const HISTORY_EVENTS: u32 = 10_000;

/// A plugboard run on Temporal.
#[workflow]
#[derive(Default)]
pub struct PlugboardRun;

#[workflow_methods]
impl PlugboardRun {
    /// Runs the run's pieces in order, then its end, and returns its result. A workflow that
    /// stops without a piece ending its run (cancelled, or a piece failed on every attempt)
    /// records the run's end in a last activity.
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        request: RunRequest,
    ) -> WorkflowResult<RunResult> {
        let stopped = match walk(ctx, &request).await {
            Ok(Walked::Ended(result)) => return Ok(result),
            Ok(Walked::Continue(at)) => {
                let next = RunRequest {
                    resume_at: Some(at),
                    ..request
                };
                return ctx
                    .continue_as_new(next, ContinueAsNewOptions::default())
                    .map(|never| match never {});
            }
            // Evicted from the worker's cache: it must stop without a command.
            Err(evicted @ WorkflowTermination::Evicted) => return Err(evicted),
            Err(stopped) => stopped,
        };
        // No piece ended the run: a last activity says how it ended, on a cancellation token of
        // its own (the workflow's may be cancelled already).
        let cancelled = ctx.cancellation_token().is_cancelled();
        let unfinished = Unfinished {
            run: request.run,
            state: request.state.clone(),
            failure: (!cancelled).then(|| format!("its workflow on Temporal failed: {stopped}")),
        };
        let summary = format!("run {}: recording how it ended", request.run);
        let options = options(summary, Some(WorkflowCancellationToken::new()));
        let ended = ctx
            .execute_activity(RunActivities::end_unfinished, unfinished, options)
            .await?;
        if cancelled { Ok(ended) } else { Err(stopped) }
    }
}

/// How walking a run's pieces stopped.
enum Walked {
    /// The run ended: this is its result.
    Ended(RunResult),
    /// The history is long: a new execution takes the run up here.
    Continue(ResumeAt),
}

/// Runs `request`'s pieces from where it stands, then its end.
async fn walk(ctx: &WorkflowContext<PlugboardRun>, request: &RunRequest) -> WorkflowResult<Walked> {
    let history_limit = request.history_events.unwrap_or(HISTORY_EVENTS);
    let long = || ctx.history_length() >= history_limit || ctx.continue_as_new_suggested();
    let at = request.resume_at.unwrap_or_default();
    let (mut step, mut first_item) = (Some(at.step), at.item);
    // The loop whose calls are all done: its step must not answer with calls again.
    let mut put_together = None;
    while let Some(index) = step {
        if long() {
            return Ok(Walked::Continue(ResumeAt {
                step: index,
                item: first_item,
            }));
        }
        let piece = PieceRequest::of(request, Piece::Step { step: index });
        let summary = format!("run {}: {}", request.run, piece.piece);
        let ran = ctx
            .execute_activity(RunActivities::execute_piece, piece, options(summary, None))
            .await?;
        match ran {
            PieceResult::Ended { run } => return Ok(Walked::Ended(run)),
            PieceResult::Ran {
                outcome: PieceOutcome::StepDone { next },
            } => {
                step = next;
                first_item = 0;
            }
            PieceResult::Ran {
                outcome: PieceOutcome::Items { calls, concurrency },
            } if put_together != Some(index) => {
                let loop_calls = Loop {
                    step: index,
                    first: first_item,
                    calls,
                    concurrency,
                };
                match loop_calls.run(ctx, request, &long).await? {
                    Calls::Done => {
                        // The step again: every call is journaled, so it puts the output
                        // together.
                        put_together = Some(index);
                        first_item = calls;
                    }
                    Calls::Ended(run) => return Ok(Walked::Ended(run)),
                    Calls::Continue(item) => {
                        return Ok(Walked::Continue(ResumeAt { step: index, item }));
                    }
                }
            }
            PieceResult::Ran { .. } => {
                return Err(disagree(
                    request,
                    &format!("{}'s piece answered {ran:?}", Piece::Step { step: index }),
                ));
            }
        }
    }
    let end = PieceRequest::of(request, Piece::End);
    let options = options(format!("run {}: {}", request.run, end.piece), None);
    match ctx
        .execute_activity(RunActivities::execute_piece, end, options)
        .await?
    {
        PieceResult::Ended { run } => Ok(Walked::Ended(run)),
        PieceResult::Ran { outcome } => {
            Err(disagree(request, &format!("its end answered {outcome:?}")))
        }
    }
}

/// The calls of a loop over an array still to make: `first..calls` of step `step`.
struct Loop {
    step: usize,
    first: u64,
    calls: u64,
    concurrency: u32,
}

/// How a loop's calls stopped.
enum Calls {
    /// All were made.
    Done,
    /// One ended the run: this is its result.
    Ended(RunResult),
    /// The history is long: a new execution makes them from this call on.
    Continue(u64),
}

impl Loop {
    /// Makes the calls, at most `concurrency` at once, until they are done, one ends the run,
    /// or the history is `long`. The calls run under a cancellation of their own: when one ends
    /// the run, the others are cancelled and waited for, so none outlives the loop.
    async fn run(
        &self,
        ctx: &WorkflowContext<PlugboardRun>,
        request: &RunRequest,
        long: &impl Fn() -> bool,
    ) -> WorkflowResult<Calls> {
        let token = ctx.cancellation_token().child_token();
        // `select_all` polls its futures with the workflow's own waker (a `FuturesUnordered`
        // wakes them with its own, which the SDK refuses as nondeterministic), in order, so
        // replays choose alike.
        let mut pending = Vec::new();
        let mut item = self.first;
        loop {
            while pending.len() < self.concurrency as usize && item < self.calls && !long() {
                let piece = PieceRequest::of(
                    request,
                    Piece::Item {
                        step: self.step,
                        item,
                    },
                );
                let summary = format!("run {}: {}", request.run, piece.piece);
                pending.push(Box::pin(ctx.execute_activity(
                    RunActivities::execute_piece,
                    piece,
                    options(summary, Some(token.clone())),
                )));
                item += 1;
            }
            if pending.is_empty() {
                return Ok(if item < self.calls {
                    Calls::Continue(item)
                } else {
                    Calls::Done
                });
            }
            let (done, _, rest) = futures::future::select_all(pending).await;
            pending = rest;
            let stop = match done {
                Ok(PieceResult::Ran {
                    outcome: PieceOutcome::ItemDone,
                }) => continue,
                Ok(PieceResult::Ended { run }) => Ok(Calls::Ended(run)),
                Ok(PieceResult::Ran { outcome }) => Err(disagree(
                    request,
                    &format!("a call of step {} answered {outcome:?}", self.step),
                )),
                Err(error) => Err(error.into()),
            };
            token.cancel();
            let _stopped = temporalio_workflow::join_all(pending).await;
            return stop;
        }
    }
}

/// The workflow's failure when a worker answers what this code does not expect (a worker of
/// another version): not retried, since another attempt would disagree the same way.
fn disagree(request: &RunRequest, what: &str) -> WorkflowTermination {
    ApplicationFailure::non_retryable(anyhow_free(format!(
        "run {}: {what}; the workers and this workflow code disagree",
        request.run
    )))
    .into()
}

/// The options of a piece's activity: `summary` for people reading the Temporal UI, and the
/// workflow's cancellation unless told another.
fn options(summary: String, cancellation: Option<WorkflowCancellationToken>) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(PIECE_TIMEOUT)
        .heartbeat_timeout(HEARTBEAT_TIMEOUT)
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(1))
                .maximum_attempts(MAX_ATTEMPTS)
                .build(),
        )
        .summary(summary)
        // A cancelled workflow waits for its piece to stop and say so (`cancelled`), rather
        // than leave it running on a worker.
        .cancellation_type(ActivityCancellationType::WaitCancellationCompleted)
        .maybe_cancellation_token(cancellation)
        .build()
}

/// The activity a worker serves, over the binary's [`RunExecutor`].
pub struct RunActivities {
    executor: Arc<dyn RunExecutor>,
}

impl RunActivities {
    /// Activities that execute runs with `executor`.
    pub fn new(executor: Arc<dyn RunExecutor>) -> Self {
        Self { executor }
    }
}

#[activities]
impl RunActivities {
    /// One piece of a run: a step, one call of a loop, or the run's end.
    #[activity]
    pub async fn execute_piece(
        self: Arc<Self>,
        ctx: ActivityContext,
        request: PieceRequest,
    ) -> Result<PieceResult, ActivityError> {
        let (executor, stopper) = (Arc::clone(&self.executor), Arc::clone(&self.executor));
        let stopped = request.clone();
        on_a_thread(
            &ctx,
            move || executor.execute_piece(&request),
            move || stopper.cancel(&stopped),
        )
        .await
    }

    /// Records the end of a run its pieces did not end, unless it has one.
    #[activity]
    pub async fn end_unfinished(
        self: Arc<Self>,
        ctx: ActivityContext,
        unfinished: Unfinished,
    ) -> Result<RunResult, ActivityError> {
        let executor = Arc::clone(&self.executor);
        on_a_thread(&ctx, move || executor.end_unfinished(&unfinished), || {}).await
    }
}

/// Runs `work` (blocking) on a thread of its own, heartbeating while it runs. A cancellation
/// (delivered with a heartbeat's answer) calls `stop`, and the activity still waits for `work`
/// to end; if it then fails, the activity reports itself cancelled.
async fn on_a_thread<T: Send + 'static>(
    ctx: &ActivityContext,
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
    stop: impl Fn(),
) -> Result<T, ActivityError> {
    let mut task = tokio::task::spawn_blocking(work);
    let mut beat = tokio::time::interval(HEARTBEAT_EVERY);
    let mut cancel_asked = false;
    let outcome = loop {
        tokio::select! {
            done = &mut task => break done,
            _ = beat.tick() => {
                // A missed beat only delays noticing this worker's death.
                let _ = ctx.record_heartbeat(()).await;
            }
            () = ctx.cancelled(), if !cancel_asked => {
                cancel_asked = true;
                stop();
            }
        }
    };
    match outcome {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(_)) if cancel_asked => Err(ActivityError::cancelled()),
        Ok(Err(why)) => Err(ActivityError::from(anyhow_free(why))),
        Err(join) => Err(ActivityError::from(anyhow_free(format!(
            "the piece's thread ended abnormally: {join}"
        )))),
    }
}

/// A plain error for the SDK's `ActivityError: From<impl Into<anyhow::Error>>`.
pub(crate) fn anyhow_free(message: String) -> std::io::Error {
    std::io::Error::other(message)
}
