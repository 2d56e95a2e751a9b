//! plugboard's workflows on Temporal, for scale-out: the Temporal workflow and activity a
//! `plugboard worker` serves, and the client `plugboard run --temporal` starts runs with.
//!
//! This first slice hands Temporal a whole run: the workflow code ([`workflow::PlugboardRun`])
//! is one deterministic step, "execute run N", scheduled as one activity. The activity runs
//! plugboard's own engine on a worker, through the runner's `Session` on the shared PostgreSQL
//! store, so limits, the one refresher and the run journal are the shared ones. When a worker
//! dies, Temporal gives the activity to another worker, which resumes the run from that journal:
//! completed calls are not sent again, and a call whose outcome is unknown stops the run instead
//! of being sent blindly (the runner's intent journal decides). Record streams never enter
//! workflow history: only the run's outputs and status come back.
//!
//! Schedules are Temporal Schedules ([`schedules`]): the cluster fires them, and a worker turns
//! each fire into a run.
//!
//! The binary provides what a run needs (connectors, the store) as a [`RunExecutor`]; this crate
//! knows nothing of connectors.
//!
//! The single-machine build never compiles it: only a binary built with the CLI's `temporal`
//! feature links it.
#![forbid(unsafe_code)]

pub mod client;
mod error;
pub mod schedules;
pub mod worker;
pub mod workflow;

pub use error::TemporalError;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The task queue plugboard workers poll and runs are started on, unless told another
/// (`--task-queue`: one per shared store when several share a cluster).
pub const TASK_QUEUE: &str = "plugboard";
/// The most runs one worker executes at once unless told (`plugboard worker --max-runs`).
pub const MAX_RUNS_PER_WORKER: u16 = 16;

/// The namespace runs live in (the dev server's default).
pub const NAMESPACE: &str = "default";

/// The Temporal workflow id of run `run` started on `task_queue`: one id per run, so starting it
/// twice runs it once (`plugboard-run-7` on the default queue). The queue is in it because run
/// ids are per store, and stores sharing a cluster have a queue each.
pub fn workflow_id(task_queue: &str, run: i64) -> String {
    format!("{task_queue}-run-{run}")
}

/// What a worker needs to execute a run: the workflow's text (workers need not share files)
/// and the run's id in the shared store, which already holds its inputs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRequest {
    /// The run's id in the shared store; with the task queue, its workflow id ([`workflow_id`]).
    pub run: i64,
    /// The shared store the run is recorded in (`host:port/database`, no credentials): a worker
    /// serving another store refuses it rather than run another store's run of the same id.
    pub state: String,
    /// The workflow's name, for people reading the Temporal UI.
    pub name: String,
    /// The workflow file's content (JSON).
    pub workflow: String,
    /// Whether the connectors' rate limits are enforced (`--no-rate-limits` turns them off).
    pub rate_limits: bool,
    /// Wait for a used-up daily quota to reset instead of failing.
    pub wait_for_quota: bool,
}

/// How a run ended, as the workflow returns it: small (outputs, never record streams).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunResult {
    /// The run's id.
    pub run: i64,
    /// `completed`, `failed` or `cancelled`, as a local run's result says.
    pub status: String,
    /// The workflow's outputs (`null` unless completed).
    pub outputs: Value,
    /// Why it did not complete.
    pub error: Option<String>,
}

/// Executes a run on this worker. Blocking: called on a thread of its own.
pub trait RunExecutor: Send + Sync + 'static {
    /// Runs (or resumes) `request.run` to its end. An `Err` is a failure of the worker's
    /// surroundings (the store unreachable, the run busy elsewhere): Temporal retries it, on this
    /// or another worker. A run that fails is an `Ok` with status `failed`, and is not retried.
    fn execute(&self, request: &RunRequest) -> Result<RunResult, String>;

    /// Asks run `run`, if this worker is executing it, to stop at its next request or wait and
    /// end `cancelled` (its workflow was cancelled). Returns at once.
    fn cancel(&self, run: i64);
}
