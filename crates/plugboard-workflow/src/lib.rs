//! The plugboard workflow language: the file format, its validation against connector manifests,
//! expressions, the engine that runs steps, and the dry-run plan.
//!
//! - [`model`]: the format as Rust types; [`schema`] generates `schemas/workflow.schema.json`.
//! - [`validate()`]: every problem that can be found before the first request, with JSON pointer
//!   and line:column, against a [`Catalog`] of connectors and installed connections.
//! - [`run`]: runs a [`ValidWorkflow`] through the runner's [`StepRunner`], [`Journal`] and
//!   [`Observer`]; record streams flow through bounded channels and are never collected.
//! - [`plan()`]: what a run would do and cost, without sending anything.
//! - [`output`]: creating the files a run writes (`records_to`, the CLI's `--output`): never the
//!   state file, never through a final symbolic link, private when new.
//!
//! The crate depends on `plugboard-core` only: the CLI validates with it, `xtask` generates the
//! schema from it, and the runner plugs its I/O into the engine through the traits.
//!
#![doc = include_str!("../../../docs/workflow-format.md")]

pub mod coalesce;
pub mod engine;
pub mod excerpt;
pub(crate) mod expr;
pub(crate) mod input_check;
pub(crate) mod limits;
pub mod locate;
pub mod model;
pub mod output;
pub mod plan;
pub(crate) mod shape;
pub mod validate;

pub use engine::{
    CallClaim, Event, Failure, Journal, JournalError, MemoryJournal, NoObserver, Observer, Piece,
    PieceOutcome, RunError, RunOptions, RunOutcome, SkipReason, StepReport, StepRunner, StepStatus,
    claim_in_one_process, piece_keys, run, run_piece, run_with,
};
pub use expr::ExprError;
pub use input_check::check_input;
pub use locate::{Locator, Position};
pub use model::{
    ConnectionRef, OnError, ReadSpec, RecordFormat, RecordsFile, RecordsTo, RetryPolicy, Step,
    Workflow, schema,
};
pub use plan::{NoProbe, Plan, PlanProbe, Planned, PlannedLoop, PlannedStep, RequestCount, plan};
pub use validate::{Catalog, Problem, ValidWorkflow, validate};
