//! A worker: polls a task queue (normally [`crate::TASK_QUEUE`]) for runs and executes them.

use std::sync::Arc;

use temporalio_sdk::runtime::worker_tuner::{FixedSizeSlotSupplier, TunerHolder};
use temporalio_sdk::{Runtime, Worker, WorkerOptions};

use crate::schedules::{FireActivities, PlugboardScheduledFire, ScheduleFirer};
use crate::workflow::{PlugboardRun, RunActivities};
use crate::{RunExecutor, TemporalError};

/// What a worker serves, and how much of it at once.
#[derive(Debug, Clone)]
pub struct Serving {
    /// The Temporal front end, `HOST:PORT`.
    pub address: String,
    /// The task queue polled.
    pub task_queue: String,
    /// The most pieces of runs executed at once ([`crate::MAX_RUNS_PER_WORKER`] unless told): a
    /// piece holds a thread and a database connection or two, and a worker that takes no more
    /// than it can serve leaves the rest to the cluster's other workers.
    pub max_runs: usize,
}

/// Serves runs, and the fires of schedules, as `serving` says until the worker fails. Must be
/// called inside a tokio runtime (the SDK runs on the current one).
pub async fn serve(
    serving: &Serving,
    executor: Arc<dyn RunExecutor>,
    firer: Arc<dyn ScheduleFirer>,
) -> Result<(), TemporalError> {
    let failed = |why: String| TemporalError::Worker {
        address: serving.address.clone(),
        why,
    };
    let runtime =
        Runtime::from_current_tokio(Default::default()).map_err(|e| failed(e.to_string()))?;
    let client = crate::client::connect(&serving.address).await?;
    // Workflow tasks are short (the workflow code only schedules pieces); the activity slots
    // are the pieces.
    let tuner = TunerHolder::builder()
        .workflow_task_slot_supplier(FixedSizeSlotSupplier::new(WORKFLOW_TASK_SLOTS))
        .activity_task_slot_supplier(FixedSizeSlotSupplier::new(serving.max_runs.max(1)))
        .local_activity_task_slot_supplier(FixedSizeSlotSupplier::new(1))
        .nexus_task_slot_supplier(FixedSizeSlotSupplier::new(1))
        .build();
    let mut options = WorkerOptions::new(&serving.task_queue)
        .register_workflow::<PlugboardRun>()
        .map_err(|e| failed(e.to_string()))?
        .register_workflow::<PlugboardScheduledFire>()
        .map_err(|e| failed(e.to_string()))?
        .register_activities(RunActivities::new(executor))
        .register_activities(FireActivities::new(firer, &serving.task_queue))
        .build();
    options.tuner = tuner.into();
    // Heartbeats reach the server as often as the activity sends them (the SDK would batch them
    // up to 0.8 × the heartbeat timeout): a cancelled run hears of it within one beat.
    options.max_heartbeat_throttle_interval = crate::workflow::HEARTBEAT_EVERY;
    let mut worker = Worker::new(&runtime, client, options).map_err(|e| failed(e.to_string()))?;
    worker.run().await.map_err(|e| failed(e.to_string()))
}

/// Workflow tasks handled at once.
const WORKFLOW_TASK_SLOTS: usize = 16;
