//! A run in pieces, for an orchestrator that makes each call a task of its own, which any of
//! its workers may take (Temporal, where each piece is an activity).
//!
//! A piece starts as a resumed run does: the steps before it are read back from the journal,
//! so a piece needs nothing but the workflow, the inputs and the journal, and any process can
//! run any piece. [`Piece::Step`] runs one step, except a `for_each` over an array whose calls
//! are not all journaled: that stops and says how many there are. The orchestrator runs each as
//! a [`Piece::Item`], at most `concurrency` at once, then the step again, which finds them
//! journaled and puts the step's output together. [`Piece::End`] renders the run's outputs.
//!
//! A piece reports only what it does: the steps it reads back are not news.
//!
//! A record stream and the `for_each` reading it stay one piece: records never leave the
//! process that reads them, so they never reach the orchestrator's history.

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    Engine, Journal, Mode, Observer, RunError, RunOptions, StepReport, StepRunner, Stepped,
    item_key,
};
use crate::validate::{Source, ValidWorkflow};

/// A part of a run that can be run on its own, once the parts before it are journaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "piece")]
pub enum Piece {
    /// Step `step` (0-based, in file order), with a stream it reads.
    Step {
        /// The step's index.
        step: usize,
    },
    /// Call `item` (0-based) of the `for_each` over an array at step `step`.
    Item {
        /// The step's index.
        step: usize,
        /// The call's index.
        item: u64,
    },
    /// The run's end, once every step is done: its outputs.
    End,
}

impl std::fmt::Display for Piece {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Step { step } => write!(f, "step {step}"),
            Self::Item { step, item } => write!(f, "step {step}, call {item}"),
            Self::End => f.write_str("the end"),
        }
    }
}

/// What is left after a piece.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum PieceOutcome {
    /// The step ended (completed, skipped, or failed and continued under `on_error`). `next`
    /// is the next step to run as a piece, `None` when only the run's end is left.
    StepDone {
        /// The next step's index.
        next: Option<usize>,
    },
    /// The step is a `for_each` over an array with calls not yet journaled: run each of its
    /// `calls` as a [`Piece::Item`], at most `concurrency` at once, then the step again.
    Items {
        /// How many calls the loop makes.
        calls: u64,
        /// How many may run at once (the step's `concurrency`).
        concurrency: u32,
    },
    /// The call was made and journaled (or had been), or failed and `on_error` let it pass.
    ItemDone,
    /// Every step is done: the run's outputs.
    Finished {
        /// The workflow's outputs.
        outputs: Map<String, Value>,
    },
}

/// The journal entries `piece` reads: the steps before it (a stream's producer among them), and
/// for a loop's call the call itself. A step's piece may read all of a loop's calls; only a
/// call's piece is this narrow.
pub fn piece_keys(workflow: &ValidWorkflow, piece: Piece) -> Vec<String> {
    let (index, item) = match piece {
        Piece::Step { step } => (step, None),
        Piece::Item { step, item } => (step, Some(item)),
        Piece::End => (workflow.steps.len(), None),
    };
    let mut keys: Vec<String> = workflow
        .steps
        .iter()
        .take(index)
        .map(|earlier| earlier.id.clone())
        .collect();
    if let (Some(step), Some(item)) = (workflow.steps.get(index), item) {
        keys.push(item_key(step, item));
    }
    keys
}

/// Runs one piece of a run: the steps before it are resumed from `journal` (run, should an
/// earlier piece have left one undone), then the piece runs and journals what it did. An `Err`
/// is the run's failure, as [`run_with`](super::run_with) would report it.
pub fn run_piece(
    workflow: &ValidWorkflow,
    inputs: Map<String, Value>,
    runner: &dyn StepRunner,
    journal: &dyn Journal,
    observer: &dyn Observer,
    options: &RunOptions,
    piece: Piece,
) -> Result<PieceOutcome, RunError> {
    let engine = Engine::new(
        workflow,
        inputs,
        runner,
        journal,
        observer,
        options,
        Mode::Pieces,
    )?;
    let steps = workflow.steps.len();
    let mut reports: Vec<Option<StepReport>> = vec![None; steps];
    let (index, item) = match piece {
        Piece::End => {
            engine.read_back(steps, &mut reports, piece)?;
            return Ok(PieceOutcome::Finished {
                outputs: engine.outputs()?,
            });
        }
        Piece::Step { step } => (step, None),
        Piece::Item { step, item } => (step, Some(item)),
    };
    let Some(step) = workflow.steps.get(index) else {
        return Err(RunError::NoSuchPiece(format!(
            "{piece}, in a workflow of {steps} steps"
        )));
    };
    let source = match (&step.for_each, item) {
        (_, None) => None,
        (Some(Source::Values(source)), Some(_)) => Some(source),
        (_, Some(_)) => {
            return Err(RunError::NoSuchPiece(format!(
                "{piece}: step `{}` is not a `for_each` over an array",
                step.id
            )));
        }
    };
    engine.read_back(index, &mut reports, piece)?;
    let (Some(item), Some(source)) = (item, source) else {
        return Ok(match engine.next_step(index, &mut reports)? {
            Stepped::Done => PieceOutcome::StepDone {
                next: (index + 1..steps).find(|&next| workflow.steps[next].consumer.is_none()),
            },
            Stepped::Items { calls } => PieceOutcome::Items {
                calls,
                concurrency: step.concurrency.max(1),
            },
        });
    };
    if runner.is_cancelled() {
        return Err(RunError::Cancelled {
            step: Some(step.id.clone()),
        });
    }
    let elements = engine
        .array_elements(step, source)
        .map_err(|f| engine.fail(step, f))?;
    engine
        .array_item(step, &elements, item)
        .map_err(|f| engine.fail(step, f))?;
    Ok(PieceOutcome::ItemDone)
}

impl Engine<'_> {
    /// Reads the steps before step `upto` back from the journal, reporting nothing: a step
    /// skipped by its `if` is skipped again (conditions are pure), and a step not done is
    /// refused, never run (each of a loop's calls would run it again).
    fn read_back(
        &self,
        upto: usize,
        reports: &mut [Option<StepReport>],
        piece: Piece,
    ) -> Result<(), RunError> {
        self.reading_back.store(true, Ordering::Relaxed);
        let read = (0..upto).try_for_each(|earlier| match self.next_step(earlier, reports)? {
            Stepped::Done => Ok(()),
            Stepped::Items { .. } => Err(RunError::NoSuchPiece(format!(
                "{piece}, while the calls of step `{}` are not all done",
                self.workflow.steps[earlier].id
            ))),
        });
        self.reading_back.store(false, Ordering::Relaxed);
        read
    }
}
