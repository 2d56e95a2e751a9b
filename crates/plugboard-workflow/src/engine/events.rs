//! What the engine tells the outside as it runs: progress bars, log lines and `--json` events.

use serde::{Deserialize, Serialize};

/// Receives the engine's events (progress bars, plain log lines, `--json`).
pub trait Observer: Sync {
    /// Called for each event, possibly from several threads.
    fn event(&self, event: &Event);
}

impl<O: Observer + ?Sized> Observer for &O {
    fn event(&self, event: &Event) {
        (**self).event(event);
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl Observer for NoObserver {
    fn event(&self, _: &Event) {}
}

/// Why a step did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Its `if` was false.
    Condition,
    /// It completed in an earlier attempt of this run; its journaled output is reused.
    Completed,
}

/// Something that happened during a run. Serialized with an `event` tag for `--json` (and read
/// back by a process following a run executed elsewhere).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A step began (for a stream consumer, together with its producer).
    StepStarted {
        /// The step id.
        step: String,
        /// The number of calls, when known in advance (a `for_each` over an array).
        calls: Option<u64>,
    },
    /// A step was skipped.
    StepSkipped {
        /// The step id.
        step: String,
        /// Why.
        reason: SkipReason,
    },
    /// A step completed.
    StepFinished {
        /// The step id.
        step: String,
        /// How long it took, in milliseconds.
        elapsed_ms: u64,
    },
    /// A step failed; with `continued`, the run goes on (`on_error: continue`).
    StepFailed {
        /// The step id.
        step: String,
        /// The failing call of a `for_each` (0-based), if any.
        item: Option<u64>,
        /// Why, in words.
        error: String,
        /// Whether the run goes on.
        continued: bool,
    },
    /// A call failed and will be tried again (`on_error: {retry: ...}`).
    Retrying {
        /// The step id.
        step: String,
        /// The call of a `for_each` (0-based), if any.
        item: Option<u64>,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// The wait before the next attempt.
        delay_ms: u64,
        /// Why the attempt failed.
        error: String,
    },
    /// One call of a `for_each` finished.
    ItemFinished {
        /// The step id.
        step: String,
        /// The call (0-based).
        item: u64,
        /// How many calls the loop makes, when known (a loop over an array; not over a stream),
        /// so progress can say `12/40`.
        #[serde(skip_serializing_if = "Option::is_none")]
        of: Option<u64>,
        /// Whether it succeeded.
        ok: bool,
        /// Why it failed (with `on_error: continue`; the item's output holds the details).
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Several calls of a `for_each` finished, all successfully, reported together: what a
    /// [`Coalescing`](crate::coalesce::Coalescing) observer sends in place of their
    /// [`Event::ItemFinished`] events once a loop is long (the engine itself never does).
    ItemsFinished {
        /// The step id.
        step: String,
        /// How many calls this event stands for.
        count: u64,
        /// How many calls the loop makes, when known.
        #[serde(skip_serializing_if = "Option::is_none")]
        of: Option<u64>,
    },
    /// Records produced so far by a streaming step.
    RecordsProgress {
        /// The producing step.
        step: String,
        /// Records so far.
        count: u64,
    },
}
