//! Schedules on Temporal: each plugboard schedule is a Temporal Schedule, so the cluster, not a
//! service process, decides when it fires, and it fires while every service process is down.
//!
//! At each slot the Temporal Schedule starts a [`PlugboardScheduledFire`] workflow. Its one
//! activity, on any worker, asks the binary's [`ScheduleFirer`] to turn the slot into a run: the
//! same checks and records as a run started through the API, the overlap rule, and at most one
//! run per slot (a retried activity finds its slot taken). The run then starts as a
//! [`crate::workflow::PlugboardRun`] of its own, so it is followed and cancelled like any other.
//! The fire's history holds the schedule's id and the store's label, never its inputs (they
//! stay sealed in the shared store).
//!
//! - [`times`]: when a schedule fires, in Temporal's terms.
//! - [`fire`]: the fire's workflow and activity.

mod fire;
mod times;

pub use fire::{
    FireActivities, FireFailure, FireResult, PlugboardScheduledFire, ScheduleFirer, ScheduledFire,
    slot_of,
};
pub use times::FireTimes;

use std::collections::HashMap;

use futures::TryStreamExt as _;
use temporalio_client::schedules::{
    CreateScheduleOptions, DeleteScheduleOptions, ListSchedulesOptions, ScheduleAction,
    ScheduleError, ScheduleOverlapPolicy,
};
use temporalio_client::tonic::Code;
use temporalio_client::{Client, RpcOptions};

/// The Temporal Schedule id of plugboard schedule `schedule` of the store served on
/// `task_queue`; each fire's workflow id is this and the slot (`plugboard-schedule-3-2026-…Z`).
pub fn schedule_id(task_queue: &str, schedule: i64) -> String {
    format!("{}{schedule}", schedule_ids(task_queue))
}

/// What every schedule id of `task_queue` starts with.
fn schedule_ids(task_queue: &str) -> String {
    format!("{task_queue}-schedule-")
}

/// Why the cluster did not take a schedule change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleRefusal {
    /// The cluster refused the schedule itself (a timing it cannot read): the reason is its own.
    #[error("Temporal refused the schedule: {0}")]
    Invalid(String),
    /// The cluster could not be reached or failed.
    #[error("Temporal did not take the change: {0}")]
    Unavailable(String),
}

fn refusal(error: ScheduleError) -> ScheduleRefusal {
    match &error {
        ScheduleError::Rpc(status) if status.code() == Code::InvalidArgument => {
            ScheduleRefusal::Invalid(status.message().to_owned())
        }
        _ => ScheduleRefusal::Unavailable(error.to_string()),
    }
}

/// Makes plugboard schedule `fire.schedule` a Temporal Schedule on `task_queue` firing at
/// `times`, paused or not: created, or, when the cluster has it already, brought to exactly
/// this (timing, action, overlap rule, paused), so this also pauses and resumes it and brings
/// the schedules of a service that ran without a cluster onto it.
///
/// Overlap `Skip`: a fire still waiting for a worker is not stacked by the next slot. The
/// catch-up window is Temporal's (a year): slots missed while the cluster was down are started
/// when it is back, and the first claims the schedule's next slot after now, so the others
/// start nothing (missed slots fire once).
pub async fn put_schedule(
    client: &Client,
    task_queue: &str,
    fire: ScheduledFire,
    times: FireTimes,
    paused: bool,
) -> Result<(), ScheduleRefusal> {
    let id = schedule_id(task_queue, fire.schedule);
    let action =
        ScheduleAction::start_workflow(PlugboardScheduledFire::run, fire, task_queue, id.clone());
    let spec = times.spec();
    let options = CreateScheduleOptions::builder()
        .action(action.clone())
        .spec(spec.clone())
        .overlap_policy(ScheduleOverlapPolicy::Skip)
        .paused(paused)
        .build();
    match client.create_schedule(id.clone(), options).await {
        Ok(_) => return Ok(()),
        Err(ScheduleError::Rpc(status)) if status.code() == Code::AlreadyExists => {}
        Err(error) => return Err(refusal(error)),
    }
    client
        .get_schedule_handle(id)
        .update(
            move |update| {
                update
                    .set_spec(spec)
                    .set_action(action)
                    .set_overlap_policy(ScheduleOverlapPolicy::Skip)
                    .set_paused(paused);
            },
            RpcOptions::default(),
        )
        .await
        .map_err(refusal)
}

/// Deletes schedule `schedule` from the cluster; one the cluster does not have is no error.
pub async fn delete_schedule(
    client: &Client,
    task_queue: &str,
    schedule: i64,
) -> Result<(), ScheduleRefusal> {
    let handle = client.get_schedule_handle(schedule_id(task_queue, schedule));
    match handle.delete(DeleteScheduleOptions::default()).await {
        Ok(()) => Ok(()),
        Err(ScheduleError::Rpc(status)) if status.code() == Code::NotFound => Ok(()),
        Err(error) => Err(refusal(error)),
    }
}

/// The schedules the cluster holds for the store served on `task_queue`, each with whether it
/// is paused: one listing, so a service starting up puts only what differs. The listing may lag
/// a change made a moment ago; putting a schedule again is harmless.
pub async fn held_schedules(
    client: &Client,
    task_queue: &str,
) -> Result<HashMap<i64, bool>, ScheduleRefusal> {
    let prefix = schedule_ids(task_queue);
    client
        .list_schedules(ListSchedulesOptions::default())
        .map_err(refusal)
        .try_fold(HashMap::new(), |mut held, summary| {
            if let Some(id) = summary
                .schedule_id()
                .strip_prefix(&prefix)
                .and_then(|id| id.parse().ok())
            {
                held.insert(id, summary.paused());
            }
            std::future::ready(Ok(held))
        })
        .await
}
