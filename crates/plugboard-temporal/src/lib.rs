//! plugboard's workflows on Temporal, for scale-out: the Temporal workflow and activity a
//! `plugboard worker` serves, and the client `plugboard run --temporal` starts runs with.
//!
//! The workflow code ([`workflow::PlugboardRun`]) walks the run's steps in order and makes each
//! a piece ([`plugboard_workflow::Piece`]) that an activity executes on any worker: a step, or
//! one call of a `for_each` over an array, `concurrency` of them at once. The activity runs
//! plugboard's own engine for that piece, through the runner's `Session` on the shared
//! PostgreSQL store, so limits, the one refresher and the run journal are the shared ones. When
//! a worker dies, Temporal gives its piece to another worker, which resumes it from that
//! journal: completed calls are not sent again, and a call whose outcome is unknown stops the
//! run instead of being sent blindly (the runner's intent journal decides). The run's end (its
//! outputs, its status) is one last activity, the whole run resumed with every step journaled.
//!
//! History stays bounded: pieces carry indexes, never records or inputs (a record stream and
//! the loop reading it are one piece), and a run whose history grows long continues as new.
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

use plugboard_workflow::{Piece, PieceOutcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The task queue plugboard workers poll and runs are started on, unless told another
/// (`--task-queue`: one per shared store when several share a cluster).
pub const TASK_QUEUE: &str = "plugboard";
/// The most pieces of runs one worker executes at once unless told (`plugboard worker
/// --max-runs`).
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
    /// Where an execution continued as new takes the run up (`None`: from its first step).
    #[serde(default)]
    pub resume_at: Option<ResumeAt>,
    /// How many history events an execution may reach before it continues as new (`None`:
    /// [`workflow::HISTORY_EVENTS`]); tests set it low to see a run continue.
    #[serde(default)]
    pub history_events: Option<u32>,
}

/// Where a run's next execution starts: step `step`, and when that step is a loop whose calls
/// are pieces, its call `item` (the calls before it are done).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResumeAt {
    /// The step's index.
    pub step: usize,
    /// The first call not yet made of the step's loop.
    pub item: u64,
}

/// One piece of a run for a worker: which run, and which piece. Small on purpose, since every
/// piece's request stays in the run's history: a loop's call does not carry the workflow's text
/// (its step's piece kept it with the run).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PieceRequest {
    /// The run's id in the shared store.
    pub run: i64,
    /// The shared store the run is recorded in, as in [`RunRequest::state`].
    pub state: String,
    /// The workflow file's content; `None` for a loop's call, whose step's piece kept it.
    pub workflow: Option<String>,
    /// Whether the connectors' rate limits are enforced.
    pub rate_limits: bool,
    /// Wait for a used-up daily quota to reset instead of failing.
    pub wait_for_quota: bool,
    /// The piece.
    pub piece: Piece,
}

impl PieceRequest {
    /// Piece `piece` of `request`'s run.
    pub fn of(request: &RunRequest, piece: Piece) -> Self {
        Self {
            run: request.run,
            state: request.state.clone(),
            workflow: (!matches!(piece, Piece::Item { .. })).then(|| request.workflow.clone()),
            rate_limits: request.rate_limits,
            wait_for_quota: request.wait_for_quota,
            piece,
        }
    }
}

/// What became of a piece.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum PieceResult {
    /// It ran; what is left.
    Ran {
        /// What the engine says is left.
        outcome: PieceOutcome,
    },
    /// The run ended in it (failed or cancelled, and recorded so), or had ended before.
    Ended {
        /// How.
        run: RunResult,
    },
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

/// A run whose workflow stopped without a piece ending it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Unfinished {
    /// The run's id.
    pub run: i64,
    /// The shared store the run is recorded in, as in [`RunRequest::state`].
    pub state: String,
    /// Why its workflow failed; `None` when it was cancelled.
    pub failure: Option<String>,
}

/// Executes pieces of runs on this worker. Blocking: called on a thread of its own.
pub trait RunExecutor: Send + Sync + 'static {
    /// Executes one piece of a run. An `Err` is a failure of the worker's surroundings (the
    /// store unreachable, the worker stopping) or a cancelled piece: Temporal retries it, on
    /// this or another worker, unless its workflow was cancelled. A run that fails in the piece
    /// is recorded so and answered as [`PieceResult::Ended`], and is not retried.
    fn execute_piece(&self, request: &PieceRequest) -> Result<PieceResult, String>;

    /// Records the end of a run its pieces did not end, unless it has one: its workflow was
    /// cancelled between pieces, or failed (a piece failed on every attempt). Answers how the
    /// run ended.
    fn end_unfinished(&self, unfinished: &Unfinished) -> Result<RunResult, String>;

    /// Asks `request`'s piece, if this worker is executing it, to stop at its next request or
    /// wait (its activity was cancelled: its workflow was, or Temporal gave up on this attempt).
    /// Returns at once; the piece then ends with an `Err` and records nothing.
    fn cancel(&self, request: &PieceRequest);
}
