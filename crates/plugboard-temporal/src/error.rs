//! What can go wrong talking to Temporal, each saying what and where.

/// An error of the Temporal client or worker.
#[derive(Debug, thiserror::Error)]
pub enum TemporalError {
    /// The address is not `HOST:PORT`.
    #[error("--temporal {address}: not HOST:PORT ({why})")]
    BadAddress {
        /// As given.
        address: String,
        /// Why it was refused.
        why: String,
    },
    /// The server did not answer.
    #[error("cannot reach Temporal at {address}: {why}")]
    Unreachable {
        /// Where.
        address: String,
        /// The client's reason.
        why: String,
    },
    /// Starting or waiting for a workflow failed.
    #[error("Temporal workflow {workflow_id}: {why}")]
    Workflow {
        /// Which.
        workflow_id: String,
        /// What happened.
        why: String,
    },
    /// The worker stopped with an error.
    #[error("the Temporal worker on {address} stopped: {why}")]
    Worker {
        /// The server it served.
        address: String,
        /// Why.
        why: String,
    },
}
