//! A schedule's fire on the cluster: the workflow the Temporal Schedule starts at each slot, and
//! its one activity, which asks the binary's [`ScheduleFirer`] to make the slot's run.
// The SDK's `#[workflow_methods]` and `#[activities]` write an undocumented constant per method.
#![allow(missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use temporalio_client::RetryPolicy;
use temporalio_common::error::ApplicationFailure;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowResult};

use super::schedule_id;
use crate::workflow::anyhow_free;

/// How long a fire may take to record its run: the checks, a few store writes and the run's
/// start on the cluster.
const FIRE_TIMEOUT: Duration = Duration::from_secs(60);

/// A fire's input: which schedule, of which store.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScheduledFire {
    /// The schedule's id in the shared store.
    pub schedule: i64,
    /// The shared store's label (`host:port/database`): a worker serving another store refuses
    /// the fire rather than fire that store's schedule of the same id.
    pub state: String,
}

/// What a fire did, for people reading the cluster's UI.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FireResult {
    /// The schedule's id.
    pub schedule: i64,
    /// The run it started, if it started one.
    pub run: Option<i64>,
    /// What happened, in a few words (`started run 12`, `skipped: run 11 has not ended`).
    pub outcome: String,
}

/// Turns a slot of a schedule into a run, on a worker. Provided by the binary (this crate knows
/// nothing of the service's records).
pub trait ScheduleFirer: Send + Sync + 'static {
    /// Fires `fire.schedule` for the slot at `slot_ms` (ms since the Unix epoch, whole
    /// seconds): at most once per slot, however often it is called.
    fn fire<'a>(
        &'a self,
        fire: &'a ScheduledFire,
        slot_ms: i64,
    ) -> Pin<Box<dyn Future<Output = Result<FireResult, FireFailure>> + Send + 'a>>;
}

/// Why a fire made no run and ended in error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FireFailure {
    /// The worker's surroundings failed (the store unreachable): Temporal tries again.
    #[error("{0}")]
    Retry(String),
    /// This worker must not fire it (another store's schedule): the fire fails at once, and
    /// the schedule's next slot fires anew.
    #[error("{0}")]
    Refused(String),
}

/// The slot a fire's workflow id names: Temporal appends the slot, to the second, in RFC 3339
/// (`…-schedule-3-2026-12-05T10:00:05Z`).
pub fn slot_of(workflow_id: &str, schedule_id: &str) -> Option<i64> {
    let time = workflow_id.strip_prefix(schedule_id)?.strip_prefix('-')?;
    chrono::DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|time| time.timestamp_millis())
}

/// A schedule's fire on Temporal.
#[workflow]
#[derive(Default)]
pub struct PlugboardScheduledFire;

#[workflow_methods]
impl PlugboardScheduledFire {
    /// Fires the schedule as one activity (retried until a worker can reach the store: the
    /// slot is taken at most once) and returns what it did.
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        fire: ScheduledFire,
    ) -> WorkflowResult<FireResult> {
        let options = ActivityOptions::with_start_to_close_timeout(FIRE_TIMEOUT)
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_secs(1))
                    .maximum_interval(Duration::from_secs(30))
                    .build(),
            )
            .summary(format!("schedule {}", fire.schedule))
            .build();
        let result = ctx
            .execute_activity(FireActivities::fire_schedule, fire, options)
            .await?;
        Ok(result)
    }
}

/// The activity that fires a schedule, over the binary's [`ScheduleFirer`].
pub struct FireActivities {
    firer: Arc<dyn ScheduleFirer>,
    task_queue: String,
}

impl FireActivities {
    /// Activities that fire schedules of the store served on `task_queue` with `firer`.
    pub fn new(firer: Arc<dyn ScheduleFirer>, task_queue: &str) -> Self {
        Self {
            firer,
            task_queue: task_queue.to_owned(),
        }
    }
}

#[activities]
impl FireActivities {
    /// Fires the schedule for the slot its workflow id names.
    #[activity]
    pub async fn fire_schedule(
        self: Arc<Self>,
        ctx: ActivityContext,
        fire: ScheduledFire,
    ) -> Result<FireResult, ActivityError> {
        let workflow_id = ctx.info().workflow_id.clone().unwrap_or_default();
        let Some(slot_ms) = slot_of(&workflow_id, &schedule_id(&self.task_queue, fire.schedule))
        else {
            // Started by hand, or by a server that no longer appends the slot to the workflow
            // id (`keep_original_workflow_id`): no slot, no run, and loudly.
            tracing::error!(
                schedule = fire.schedule,
                workflow_id,
                "a scheduled fire whose workflow id names no slot: nothing fired"
            );
            return Err(ActivityError::application(
                ApplicationFailure::non_retryable(anyhow_free(format!(
                    "workflow id `{workflow_id}` names no slot"
                ))),
            ));
        };
        self.firer.fire(&fire, slot_ms).await.map_err(|failure| {
            let error = anyhow_free(failure.to_string());
            match failure {
                FireFailure::Retry(_) => ActivityError::from(error),
                FireFailure::Refused(_) => {
                    ActivityError::application(ApplicationFailure::non_retryable(error))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slot_is_read_from_the_fire_s_workflow_id() {
        let id = schedule_id("plugboard", 3);
        assert_eq!(
            slot_of(&format!("{id}-2026-01-01T00:00:05Z"), &id),
            Some(1_767_225_605_000)
        );
        assert_eq!(slot_of(&format!("{id}-soon"), &id), None);
        // Schedule 31's fires are not schedule 3's.
        assert_eq!(
            slot_of(
                &format!("{}-2026-01-01T00:00:05Z", schedule_id("plugboard", 31)),
                &id
            ),
            None
        );
    }
}
