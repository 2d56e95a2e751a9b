//! How a run and its steps ended, and why one failed.

use plugboard_core::ConnectorError;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::validate::Problem;

use super::JournalError;

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// It ran and succeeded.
    Completed,
    /// It failed, and `on_error: continue` recorded the error as its output.
    FailedContinued,
    /// Its `if` was false.
    Skipped,
    /// It completed in an earlier attempt; the journaled output was reused.
    Resumed,
}

/// One step's result in a finished run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    /// The step id.
    pub id: String,
    /// How it ended.
    pub status: StepStatus,
    /// Its output (`null` when skipped).
    pub output: Value,
}

/// The result of a successful run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunOutcome {
    /// The workflow's `outputs`, rendered.
    pub outputs: Map<String, Value>,
    /// Every step, in order.
    pub steps: Vec<StepReport>,
}

/// Why a call or a step failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Failure {
    /// The connector (or the host under it) returned an error.
    #[error("{0}")]
    Connector(ConnectorError),
    /// An expression could not be evaluated (undefined value, wrong type...).
    #[error("{0}")]
    Expression(String),
    /// A rendered input does not match the method's input schema; nothing was sent.
    #[error("{0}")]
    InvalidInput(String),
    /// A file could not be read or written.
    #[error("{0}")]
    File(String),
    /// The run journal could not store a result.
    #[error("{0}")]
    Journal(String),
    /// The run was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// A call that must take effect at most once was sent and never answered, and its method
    /// cannot tell whether it took effect: a person must (see `once.rs`).
    #[error(
        "outcome unknown: {message}. It may have taken effect, and sending it again could do it \
         twice. Check in the service, then resume with `--mark-done {key}` if it took effect or \
         `--resend {key}` if it did not"
    )]
    OutcomeUnknown {
        /// The call's journal key (`step` or `step[n]`).
        key: String,
        /// What happened to it.
        message: String,
    },
}

impl Failure {
    /// Whether the failure is about the connection or the run rather than the item: credentials
    /// refused (the connection needs reconnecting), a used-up quota, a cancelled run, a journal
    /// that cannot write. `on_error: continue` never swallows one: every later call would fail
    /// the same way, and journaling those items as done would make a resume skip them. (A
    /// failure it does swallow is journaled only in a run in pieces, so that the piece putting
    /// the loop together does not call it again.)
    pub fn stops_the_run(&self) -> bool {
        match self {
            // Continuing would journal the call as done with an error, and a resume would skip
            // it: whether it took effect would never be settled.
            Self::Cancelled | Self::Journal(_) | Self::OutcomeUnknown { .. } => true,
            Self::Connector(error) => matches!(
                error,
                ConnectorError::Unauthorized { .. }
                    | ConnectorError::QuotaExhausted { .. }
                    | ConnectorError::Store { .. }
                    | ConnectorError::Cancelled
            ),
            Self::Expression(_) | Self::InvalidInput(_) | Self::File(_) => false,
        }
    }

    /// The JSON recorded as the output of a step or item that failed under `on_error: continue`.
    pub fn to_output(&self) -> Value {
        let mut error = match self {
            Self::Connector(e) => serde_json::to_value(e).unwrap_or_else(|_| json!({})),
            Self::Expression(_) => json!({"kind": "expression"}),
            Self::InvalidInput(_) => json!({"kind": "invalid_input"}),
            Self::File(_) => json!({"kind": "file"}),
            Self::Journal(_) => json!({"kind": "journal"}),
            Self::Cancelled => json!({"kind": "cancelled"}),
            Self::OutcomeUnknown { key, .. } => json!({"kind": "outcome_unknown", "key": key}),
        };
        if let Some(map) = error.as_object_mut() {
            map.insert("message".to_owned(), Value::String(self.to_string()));
        }
        json!({ "error": error })
    }
}

/// Why a run stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    /// The run inputs do not match the workflow's `inputs` schema; nothing ran.
    #[error("invalid run inputs: {}", join_problems(.0))]
    InvalidInputs(Vec<Problem>),
    /// A step failed (and its `on_error` did not allow going on).
    #[error("step `{step}`{} failed: {failure}", item_suffix(*.item))]
    StepFailed {
        /// The step id.
        step: String,
        /// The failing call of a `for_each` (0-based), if any.
        item: Option<u64>,
        /// Why.
        failure: Failure,
    },
    /// The run was cancelled; completed steps are journaled and a resume continues from there.
    #[error("run cancelled{}", step.as_ref().map(|s| format!(" during step `{s}`")).unwrap_or_default())]
    Cancelled {
        /// The step that was running, if any.
        step: Option<String>,
    },
    /// A result could not be journaled.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A piece of the run (see [`run_piece`](super::run_piece)) that this workflow does not
    /// have: its orchestrator and its workflow disagree.
    #[error("no such piece of the run: {0}")]
    NoSuchPiece(String),
    /// An output could not be rendered.
    #[error("output `{name}`: {message}")]
    Output {
        /// The output's name.
        name: String,
        /// Why.
        message: String,
    },
}

fn join_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn item_suffix(item: Option<u64>) -> String {
    item.map(|i| format!(" (call {i})")).unwrap_or_default()
}
