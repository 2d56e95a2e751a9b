//! The scheduler: a task that wakes every [`TICK`], fires the schedules that are due, and
//! starts their runs through [`crate::runs::start_run`], the path `POST …/runs` takes.
//!
//! Per due schedule, in this order:
//! 1. its next fire moves to the first slot after now, by compare-and-set in the store, so a
//!    fire happens at most once per slot, and a service that was down fires once, not once per
//!    missed slot;
//! 2. if the run its previous fire started is still queued or running, this fire is skipped and
//!    the skip recorded (overlapping runs are never stacked);
//! 3. otherwise a run starts (re-checked like any run start: a connection may have gone), and
//!    the run's id, or why it could not start, is recorded.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use plugboard_runner::{RunId, RunStatus};

use crate::Service;
use crate::runs::{StartRun, start_run};
use crate::schedule_store::Schedule;
use crate::store::StoreError;
use crate::store::now_ms;
use crate::workflows::DeployError;

use super::timing;

/// How often the scheduler looks for due schedules: a fire is at most this late (plus the time
/// to start the run).
pub const TICK: Duration = Duration::from_millis(200);

/// How many problems a failed fire's error lists.
const PROBLEMS_SHOWN: usize = 3;

/// Starts the scheduler; it ends when the service stops (see
/// [`crate::runs::LiveRuns::stop_all`]). Start it after [`crate::runs::recover`], so the runs a
/// previous process left count as still running for the overlap check.
pub fn spawn_scheduler(service: &Arc<Service>) -> JoinHandle<()> {
    let service = Arc::clone(service);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            if service.live_runs.stopping() {
                return;
            }
            if let Err(error) = fire_due(&service).await {
                tracing::error!(%error, "the scheduler cannot read or update schedules");
            }
        }
    })
}

async fn fire_due(service: &Arc<Service>) -> Result<(), StoreError> {
    let now = now_ms();
    for schedule in service.schedules.due(now).await? {
        if service.live_runs.stopping() {
            return Ok(());
        }
        fire(service, schedule, now).await?;
    }
    Ok(())
}

async fn fire(service: &Arc<Service>, schedule: Schedule, now: i64) -> Result<(), StoreError> {
    if service
        .store
        .tenant(schedule.tenant.clone())
        .await?
        .is_none()
    {
        // The tenant was deleted: its schedules go with it.
        service.schedules.delete_schedule(schedule.id).await?;
        return Ok(());
    }
    let Ok(next) = timing::next_after(&schedule.timing, schedule.next_fire_ms, now) else {
        // Cannot happen for a timing checked at creation; pausing keeps it from spinning.
        service
            .schedules
            .set_paused(schedule.id, true, schedule.next_fire_ms)
            .await?;
        return Ok(());
    };
    if !service
        .schedules
        .advance(schedule.id, schedule.next_fire_ms, next)
        .await?
    {
        return Ok(());
    }
    if let Some(previous) = schedule.last_run_id
        && still_going(service, previous).await
    {
        tracing::info!(
            schedule = schedule.id,
            run = previous,
            "skipping a fire: the previous run has not ended"
        );
        return service.schedules.record_skip(schedule.id, now).await;
    }
    let start = StartRun {
        workflow: schedule.workflow.clone(),
        inputs: schedule.inputs.as_object().cloned().unwrap_or_default(),
    };
    match start_run(service, &schedule.tenant, start).await {
        Ok(run) => {
            service
                .schedules
                .record_fire(schedule.id, now, Some(run.id), None)
                .await
        }
        Err(error) => {
            let why = describe(&error);
            tracing::warn!(schedule = schedule.id, %why, "a scheduled run could not start");
            service
                .schedules
                .record_fire(schedule.id, now, None, Some(why))
                .await
        }
    }
}

/// A failed start in one line, for the schedule's `last_error`.
fn describe(error: &DeployError) -> String {
    match error {
        DeployError::Api(error) => format!("{}: {}", error.code, error.message),
        DeployError::Problems(problems) => {
            let shown: Vec<&str> = problems
                .problems
                .iter()
                .take(PROBLEMS_SHOWN)
                .map(|p| p.message.as_str())
                .collect();
            format!("{}: {}", problems.code, shown.join("; "))
        }
    }
}

/// Whether run `run` has not ended: live in this process, or queued or running in the shared
/// store, which is where another service process's runs and a cluster's runs show. A run whose
/// process provably died (interrupted) has ended for this purpose: it is resumed, not waited
/// for (in this process's service; on a cluster it is retried there, so it is still going).
async fn still_going(service: &Service, run: i64) -> bool {
    if service.live_runs.phase(run).is_some() {
        return true;
    }
    match service.runner.store().run(RunId(run)).await {
        // On a cluster, a run whose worker died is retried there: still going.
        Ok(Some(record)) => {
            !record.status.has_ended()
                || (service.remote.is_some() && record.status == RunStatus::Interrupted)
        }
        Ok(None) => false,
        Err(error) => {
            // Unknown: skipping this fire is the safe side (no stacked runs).
            tracing::error!(run, %error, "cannot read a schedule's previous run");
            true
        }
    }
}
