//! Runs executed elsewhere: on a cluster's workers (Temporal) instead of in this process.
//!
//! The service records such a run as `queued` in the shared store and hands it to the cluster;
//! a worker executes it, publishing its events to the runner's `run_events` and journaling its
//! outputs (`#outputs`), which is where the service then reads them. The cluster resumes a run
//! whose worker died, so the service neither executes nor recovers these runs. The binary
//! provides the cluster (this crate does not link a Temporal SDK).
//!
//! Schedules are the cluster's too: it fires them (the service runs no scheduler of its own),
//! and a worker turns each fire into a run with [`crate::schedules::fire_on_cluster`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use crate::schedule_store::Schedule;

/// A boxed future, as the cluster's methods return.
pub type ClusterFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the cluster did not take a schedule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterRefusal {
    /// It cannot keep this schedule (a timing it does not read): its reason.
    #[error("{0}")]
    Invalid(String),
    /// It could not be reached, or failed: why.
    #[error("{0}")]
    Unavailable(String),
}

/// A cluster that executes the service's runs.
pub trait RemoteRuns: Send + Sync {
    /// Starts run `run` (recorded in the shared store, queued) of the workflow `source` (the
    /// tenant's workflow as it runs), named `name` for people: `true` when started now, `false`
    /// when the cluster already had it (a run id is executed once). `Err` says why the cluster
    /// did not take it, without any secret.
    fn start<'a>(
        &'a self,
        run: i64,
        name: &'a str,
        source: &'a str,
    ) -> ClusterFuture<'a, Result<bool, String>>;

    /// Asks the cluster to cancel run `run`: its worker stops it at its next request or wait,
    /// and it ends `cancelled`. `Err` says why the cluster did not take the request.
    fn cancel(&self, run: i64) -> ClusterFuture<'_, Result<(), String>>;

    /// Makes `schedule` fire on the cluster at its slots, paused or not as it says: created, or
    /// the one the cluster has brought to exactly this (so this also pauses and resumes it).
    fn put_schedule<'a>(
        &'a self,
        schedule: &'a Schedule,
    ) -> ClusterFuture<'a, Result<(), ClusterRefusal>>;

    /// The schedules the cluster holds, each with whether it is paused (a listing that may lag
    /// a change made a moment ago).
    fn held_schedules(&self) -> ClusterFuture<'_, Result<HashMap<i64, bool>, String>>;

    /// Deletes schedule `id` from the cluster (one it does not have is no error).
    fn delete_schedule(&self, id: i64) -> ClusterFuture<'_, Result<(), String>>;

    /// What it is, for messages (`Temporal 127.0.0.1:7233, task queue plugboard`).
    fn describe(&self) -> String;
}
