//! The Temporal workflow and activity: "execute run N" as one activity.
//!
//! The workflow code is deterministic: it reads its input and schedules the activity, nothing
//! else (no clock, no randomness, no timers). Its history holds the request (the workflow's
//! text, a few kB) and the result (the outputs): bounded whatever the run streams, because
//! records go to their sinks inside the activity.
// The SDK's `#[workflow_methods]` and `#[activities]` write an undocumented constant per method
// (everything written here is documented).
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use temporalio_client::RetryPolicy;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{ActivityCancellationType, ActivityOptions, WorkflowContext, WorkflowResult};

use crate::{RunExecutor, RunRequest, RunResult};

/// How often a running activity tells Temporal its worker is alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// How long Temporal waits for a heartbeat before giving the run to another worker.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a run may take on one worker.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// How many workers may try a run: a retry resumes from the shared journal, which never sends a
/// completed call again and stops on a call whose outcome is unknown.
pub const MAX_ATTEMPTS: u32 = 5;

/// A plugboard run on Temporal.
#[workflow]
#[derive(Default)]
pub struct PlugboardRun;

#[workflow_methods]
impl PlugboardRun {
    /// Executes the run as one activity and returns its result.
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        request: RunRequest,
    ) -> WorkflowResult<RunResult> {
        let options = ActivityOptions::with_start_to_close_timeout(RUN_TIMEOUT)
            .heartbeat_timeout(HEARTBEAT_TIMEOUT)
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_secs(1))
                    .maximum_attempts(MAX_ATTEMPTS)
                    .build(),
            )
            .summary(format!("run {}: {}", request.run, request.name))
            // A cancelled workflow waits for its run to stop and say so (`cancelled`), rather
            // than leave it running on a worker.
            .cancellation_type(ActivityCancellationType::WaitCancellationCompleted)
            .build();
        let result = ctx
            .execute_activity(RunActivities::execute_run, request, options)
            .await?;
        Ok(result)
    }
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
    /// Runs the request on a thread of its own, heartbeating while it runs; a cancellation
    /// (delivered with a heartbeat's answer) asks the run to stop, and the activity still waits
    /// for it to end.
    #[activity]
    pub async fn execute_run(
        self: Arc<Self>,
        ctx: ActivityContext,
        request: RunRequest,
    ) -> Result<RunResult, ActivityError> {
        let run = request.run;
        let executor = Arc::clone(&self.executor);
        let mut task = tokio::task::spawn_blocking(move || executor.execute(&request));
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
                    self.executor.cancel(run);
                }
            }
        };
        match outcome {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(why)) => Err(ActivityError::from(anyhow_free(why))),
            Err(join) => Err(ActivityError::from(anyhow_free(format!(
                "the run's thread ended abnormally: {join}"
            )))),
        }
    }
}

/// A plain error for the SDK's `ActivityError: From<impl Into<anyhow::Error>>`.
pub(crate) fn anyhow_free(message: String) -> std::io::Error {
    std::io::Error::other(message)
}
