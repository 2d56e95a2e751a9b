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

use plugboard_runner::RunId;

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

/// What one fire of a schedule did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    /// It started this run.
    Started(i64),
    /// The run its previous fire started had not ended: skipped, and the skip recorded.
    Skipped {
        /// That run.
        previous: i64,
    },
    /// The run could not start; why is the schedule's `last_error` (not here: it may quote the
    /// schedule's inputs, and this goes to logs and to the cluster's history).
    NotStarted,
    /// Its slot was already fired (by a retried fire, or a slot the service missed).
    AlreadyFired,
    /// The schedule is paused.
    Paused,
    /// The schedule, or its tenant, is gone.
    Gone,
}

impl std::fmt::Display for Fired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fired::Started(run) => write!(f, "started run {run}"),
            Fired::Skipped { previous } => write!(f, "skipped: run {previous} has not ended"),
            Fired::NotStarted => f.write_str("no run: its start was refused (see last_error)"),
            Fired::AlreadyFired => f.write_str("this slot was already fired"),
            Fired::Paused => f.write_str("the schedule is paused"),
            Fired::Gone => f.write_str("the schedule is gone"),
        }
    }
}

impl Fired {
    /// The run this fire started.
    pub fn run(&self) -> Option<i64> {
        match self {
            Fired::Started(run) => Some(*run),
            _ => None,
        }
    }
}

/// Fires schedule `id` for the slot at `slot_ms`, as the cluster asks a worker to (see
/// [`crate::runs::remote`]): the slot is taken by the same compare-and-set as here, so a fire the
/// cluster retries, or one for a slot a later fire superseded, starts nothing. Slots are
/// compared to the second (the cluster names them so).
pub async fn fire_on_cluster(
    service: &Arc<Service>,
    id: i64,
    slot_ms: i64,
) -> Result<Fired, StoreError> {
    let Some(schedule) = service.schedules.schedule(id).await? else {
        forget_on_cluster(service, id).await;
        return Ok(Fired::Gone);
    };
    if schedule.paused {
        return Ok(Fired::Paused);
    }
    if slot_ms.div_euclid(1000) < schedule.next_fire_ms.div_euclid(1000) {
        return Ok(Fired::AlreadyFired);
    }
    // Never before the slot it claims: a worker whose clock is behind (or a slot the cluster
    // names a fraction early) must still move the schedule past this slot, so a retried fire
    // finds it taken.
    let now = now_ms().max(schedule.next_fire_ms);
    fire(service, schedule, now).await
}

/// A schedule deleted here is deleted on the cluster too, so it stops firing there; a cluster
/// that cannot be told now is told at the schedule's next fire.
pub(super) async fn forget_on_cluster(service: &Service, id: i64) {
    if let Some(remote) = &service.remote
        && let Err(why) = remote.delete_schedule(id).await
    {
        tracing::warn!(schedule = id, %why, "cannot delete a schedule from the cluster");
    }
}

async fn fire(service: &Arc<Service>, schedule: Schedule, now: i64) -> Result<Fired, StoreError> {
    if service
        .store
        .tenant(schedule.tenant.clone())
        .await?
        .is_none()
    {
        // The tenant was deleted: its schedules go with it.
        super::delete_everywhere(service, schedule.id).await?;
        return Ok(Fired::Gone);
    }
    let Ok(next) = timing::next_after(&schedule.timing, schedule.next_fire_ms, now) else {
        // Cannot happen for a timing checked at creation; pausing keeps it from spinning.
        service
            .schedules
            .set_paused(schedule.id, true, schedule.next_fire_ms)
            .await?;
        return Ok(Fired::Paused);
    };
    if !service
        .schedules
        .advance(schedule.id, schedule.next_fire_ms, next)
        .await?
    {
        return Ok(Fired::AlreadyFired);
    }
    if let Some(previous) = schedule.last_run_id
        && still_going(service, previous).await
    {
        tracing::info!(
            schedule = schedule.id,
            run = previous,
            "skipping a fire: the previous run has not ended"
        );
        service.schedules.record_skip(schedule.id, now).await?;
        return Ok(Fired::Skipped { previous });
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
                .await?;
            Ok(Fired::Started(run.id))
        }
        Err(error) => {
            let why = describe(&error);
            // The reason may quote the schedule's inputs: it goes to `last_error` only, the log
            // gets its code.
            let code = match &error {
                DeployError::Api(error) => error.code.to_string(),
                DeployError::Problems(problems) => problems.code.to_string(),
            };
            tracing::warn!(
                schedule = schedule.id,
                code,
                "a scheduled run could not start"
            );
            service
                .schedules
                .record_fire(schedule.id, now, None, Some(why))
                .await?;
            Ok(Fired::NotStarted)
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
        Ok(Some(record)) => crate::runs::still_going(service, record.status),
        Ok(None) => false,
        Err(error) => {
            // Unknown: skipping this fire is the safe side (no stacked runs).
            tracing::error!(run, %error, "cannot read a schedule's previous run");
            true
        }
    }
}
