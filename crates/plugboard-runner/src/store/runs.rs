//! Runs, their journal (completed steps, intents of calls that must take effect at most once)
//! and trigger cursors: [`RunStore`].

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::call_claim::CallClaim;
use super::{LeaseHolder, StoreFuture};

/// A run's identifier in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for RunId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(RunId)
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Recorded and waiting for a worker to take it (a run started on Temporal); a worker's
    /// claim makes it running.
    Queued,
    /// Started and not finished.
    Running,
    /// Marked running by a process that is provably dead (killed, or its machine restarted):
    /// never stored, reported in its place so nobody waits for a run nothing is running.
    Interrupted,
    /// Finished without error.
    Completed,
    /// Stopped by an error; may be resumed.
    Failed,
    /// Stopped by the user; may be resumed.
    Cancelled,
}

impl RunStatus {
    /// The status as stored and shown (`queued`, `running`, `interrupted`, `completed`,
    /// `failed`, `cancelled`), in the words a run's events use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Interrupted => "interrupted",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The status a stored word means (anything unknown reads as running).
    pub fn parse(text: &str) -> Self {
        match text {
            "queued" => Self::Queued,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => Self::Running,
        }
    }
}

impl RunStatus {
    /// Whether the run has ended (for now: a failed or cancelled one may be resumed); a queued
    /// or running one has no finish time.
    pub fn has_ended(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run as the journal knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's id.
    pub id: RunId,
    /// The workflow (its path or name, as the caller recorded it).
    pub workflow: String,
    /// What identifies the workflow's content (the caller's digest of what a resume must not
    /// change); `None` for runs recorded before schema version 5.
    pub workflow_digest: Option<String>,
    /// The run's inputs.
    pub inputs: Value,
    /// Where it stands.
    pub status: RunStatus,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// When it started, ms since the epoch.
    pub started_at_ms: i64,
    /// When it finished, ms since the epoch.
    pub finished_at_ms: Option<i64>,
    /// The machine of the process that last claimed it (see [`super::local_host_id`]), if any.
    #[serde(skip)]
    pub owner_host: Option<String>,
}

impl RunRecord {
    /// The machine (host name) of the process holding it as running, when that is another
    /// machine than this one. Whether that process still lives cannot be told from here, so in
    /// a shared store only its own machine, or a deliberate take-over, may resume it. Host names
    /// only: a reboot changes the rest of [`super::local_host_id`], not the machine.
    pub fn running_elsewhere(&self) -> Option<&str> {
        let host = |id: &'static str| id.split('/').next().unwrap_or_default();
        let this = host(super::local_host_id());
        self.owner_host
            .as_deref()
            .filter(|_| self.status == RunStatus::Running)
            .map(|owner| owner.split('/').next().unwrap_or_default())
            .filter(|owner| *owner != this)
    }
}

/// The answer to [`RunStore::claim_run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunClaim {
    /// This process now owns the run. `elsewhere` names the machine of a previous owner marked
    /// running there, whose liveness cannot be checked from here.
    Claimed {
        /// The host name of a previous owner on another machine, if any.
        elsewhere: Option<String>,
        /// Whether a cancellation was asked for before this claim (see
        /// [`RunStore::request_cancel`]); the claim clears it, so a resume that should honour
        /// it reads it here, in the same transaction.
        cancel_requested: bool,
    },
    /// A live process on this machine is running it.
    Busy {
        /// That process's id.
        pid: u32,
    },
    /// It completed; there is nothing to resume.
    Completed,
    /// There is no such run.
    Unknown,
}

/// Runs and their journal, and poll triggers' cursors.
///
/// The journal is a list of `(key, value)` entries per run, in the order first recorded: step
/// results (`<step>`, `<step>[<n>]`), intents (`#intent <key>`) and new cursors (`#cursor
/// <key>`); the keys are persisted in users' state files (see `plugboard_runner::workflow`).
/// A run's owner is the calling process (its pid and [`local_host_id`](super::local_host_id)).
pub trait RunStore: Send + Sync + fmt::Debug {
    /// A trigger's cursor.
    fn cursor<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Value>>;
    /// Saves a trigger's cursor.
    fn set_cursor<'a>(&'a self, key: &'a str, value: &'a Value) -> StoreFuture<'a, ()>;

    /// Starts a run in the journal, owned by this process: the workflow's path or name, the
    /// digest of its content that a resume must match (see [`RunRecord::workflow_digest`]) and
    /// the run's inputs.
    fn create_run<'a>(
        &'a self,
        workflow: &'a str,
        digest: &'a str,
        inputs: &'a Value,
    ) -> StoreFuture<'a, RunId>;
    /// Records a run that another process will execute (a Temporal worker): like
    /// [`RunStore::create_run`], but `queued` and owned by nobody until a worker claims it, in
    /// one write, so it never reads as running here.
    fn queue_run<'a>(
        &'a self,
        workflow: &'a str,
        digest: &'a str,
        inputs: &'a Value,
    ) -> StoreFuture<'a, RunId>;
    /// Replaces a run's inputs: a resume that corrects an input no completed step used.
    fn set_run_inputs<'a>(&'a self, run: RunId, inputs: &'a Value) -> StoreFuture<'a, ()>;
    /// Records a completed step's result under `key` (replacing an earlier one with that key,
    /// which keeps its place); [`StoreError::NotFound`](super::StoreError::NotFound) for an
    /// unknown run.
    fn record_step<'a>(
        &'a self,
        run: RunId,
        key: &'a str,
        output: &'a Value,
    ) -> StoreFuture<'a, ()>;
    /// The completed steps of a run, in the order they were first recorded.
    fn completed_steps(&self, run: RunId) -> StoreFuture<'_, Vec<(String, Value)>>;
    /// The journal entry `key` of run `run`, if recorded: one row, where
    /// [`RunStore::completed_steps`] reads a 200,000-call run's whole journal.
    fn journal_entry<'a>(&'a self, run: RunId, key: &'a str) -> StoreFuture<'a, Option<Value>>;
    /// Claims call `key` of run `run` (one that must take effect at most once) for `claimant`
    /// until `lease_ms` from now by the store's clock, before it is sent, or renews the
    /// claimant's own claim while it is in flight: in one transaction, [`decide`](super::call_claim::decide)
    /// on the call's output and its intent entry (`#intent <key>`), whose lease it writes.
    /// [`StoreError::NotFound`](super::StoreError::NotFound) for an unknown run.
    fn claim_call<'a>(
        &'a self,
        run: RunId,
        key: &'a str,
        claimant: &'a LeaseHolder,
        lease_ms: i64,
    ) -> StoreFuture<'a, CallClaim>;
    /// Clears the intent of call `key` of run `run`, answered without effect, when it is still
    /// `claimant`'s lease ([`release`](super::call_claim::release)), in one transaction:
    /// whether it was. A lease another attempt took after the claimant's lapsed stays.
    /// [`StoreError::NotFound`](super::StoreError::NotFound) for an unknown run.
    fn release_call<'a>(
        &'a self,
        run: RunId,
        key: &'a str,
        claimant: &'a LeaseHolder,
    ) -> StoreFuture<'a, bool>;
    /// Asks whichever process executes run `run` to cancel it (one service process cancelling
    /// a run another executes, on a shared store): a flag that process reads. `false` when the
    /// run has ended or does not exist. Claiming or finishing the run clears it.
    fn request_cancel(&self, run: RunId) -> StoreFuture<'_, bool>;
    /// Which of `runs` a cancellation was asked for ([`RunStore::request_cancel`]), in one
    /// query: a service process watches all the runs it executes at once, not each on its own.
    fn cancels_requested<'a>(&'a self, runs: &'a [RunId]) -> StoreFuture<'a, Vec<RunId>>;
    /// Takes run `run` over for this process, to resume it: in one transaction, refused when
    /// the run completed or is still running in a live process on this machine (resuming it then
    /// would send its remaining calls twice); otherwise the run is running again, owned by this
    /// process.
    fn claim_run(&self, run: RunId) -> StoreFuture<'_, RunClaim>;
    /// Marks a run finished (or back to running, when resumed).
    fn finish_run<'a>(
        &'a self,
        run: RunId,
        status: RunStatus,
        error: Option<&'a str>,
    ) -> StoreFuture<'a, ()>;
    /// Marks a run ended with `status` (an ended one) unless it has ended already, whoever
    /// ended it: whether this call did. For runs that several processes may each end (the
    /// pieces of a run on Temporal, one of which fails while others are cancelled): the first
    /// end is the run's, and a later one never overwrites it.
    fn end_run<'a>(
        &'a self,
        run: RunId,
        status: RunStatus,
        error: Option<&'a str>,
    ) -> StoreFuture<'a, bool>;
    /// Whether processes on other machines share this store (a database server): a run it shows
    /// running on another machine may be alive there. A local file's runs are all this
    /// machine's.
    fn is_shared(&self) -> bool {
        false
    }
    /// One run. A run marked running by a provably dead process reads as
    /// [`RunStatus::Interrupted`].
    fn run(&self, id: RunId) -> StoreFuture<'_, Option<RunRecord>>;
    /// Every run, newest first.
    fn runs(&self) -> StoreFuture<'_, Vec<RunRecord>>;

    /// Appends one event of a run's progress (an event object as `--json` prints it), after
    /// every earlier one: a run executed by another process (a Temporal worker) is followed
    /// from the process that started it with [`run_events_after`](Self::run_events_after).
    fn append_run_event<'a>(&'a self, run: RunId, event: &'a Value) -> StoreFuture<'a, ()>;
    /// At most `limit` of a run's events, oldest first, after the one numbered `after` (0: from
    /// the first), each with its number; numbers grow in the order the events were appended.
    fn run_events_after(
        &self,
        run: RunId,
        after: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<(i64, Value)>>;
}
