//! A worker: polls a task queue (normally [`crate::TASK_QUEUE`]) for runs and executes them.

use std::sync::Arc;

use temporalio_sdk::{Runtime, Worker, WorkerOptions};

use crate::workflow::{PlugboardRun, RunActivities};
use crate::{RunExecutor, TemporalError};

/// Serves runs from the Temporal front end at `address` until the worker fails. Must be called
/// inside a tokio runtime (the SDK runs on the current one).
pub async fn serve(
    address: &str,
    task_queue: &str,
    executor: Arc<dyn RunExecutor>,
) -> Result<(), TemporalError> {
    let failed = |why: String| TemporalError::Worker {
        address: address.to_owned(),
        why,
    };
    let runtime =
        Runtime::from_current_tokio(Default::default()).map_err(|e| failed(e.to_string()))?;
    let client = crate::client::connect(address).await?;
    let options = WorkerOptions::new(task_queue)
        .register_workflow::<PlugboardRun>()
        .map_err(|e| failed(e.to_string()))?
        .register_activities(RunActivities::new(executor))
        .build();
    let mut worker = Worker::new(&runtime, client, options).map_err(|e| failed(e.to_string()))?;
    worker.run().await.map_err(|e| failed(e.to_string()))
}
