//! Runs executed elsewhere: on a cluster's workers (Temporal) instead of in this process.
//!
//! The service records such a run as `queued` in the shared store and hands it to the cluster;
//! a worker executes it, publishing its events to the runner's `run_events` and journaling its
//! outputs (`#outputs`), which is where the service then reads them. The cluster resumes a run
//! whose worker died, so the service neither executes nor recovers these runs. The binary
//! provides the cluster (this crate does not link a Temporal SDK).

use std::future::Future;
use std::pin::Pin;

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
    ) -> Pin<Box<dyn Future<Output = Result<bool, String>> + Send + 'a>>;

    /// Asks the cluster to cancel run `run`: its worker stops it at its next request or wait,
    /// and it ends `cancelled`. `Err` says why the cluster did not take the request.
    fn cancel(&self, run: i64) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;

    /// What it is, for messages (`Temporal 127.0.0.1:7233, task queue plugboard`).
    fn describe(&self) -> String;
}
