//! The engine: runs a [`ValidWorkflow`] through the runner's I/O, journaling as it goes.
//!
//! The engine is synchronous and knows nothing of HTTP, tokens or storage: the runner plugs those in
//! through [`StepRunner`] (connector calls), [`Journal`] (results of completed steps, for resume)
//! and [`Observer`] (events for progress bars and `--json`). Steps run in file order; the calls of
//! a `for_each` may run on several threads; a record stream flows from its producer to its one
//! consumer through a bounded channel, so it is never collected in memory.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use minijinja::value::{Value as MjValue, ValueKind};
use plugboard_core::ConnectorError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::excerpt::{excerpt, value_excerpt};
use crate::expr::{Mapping, Scope, StepsView, loop_value};
use crate::input_check::InputSchema;
use crate::model::{OnError, RecordFormat};
use crate::validate::{Action, CompiledStep, Problem, Source, ValidWorkflow};

mod files;
mod once;

use once::Call;
pub(crate) use once::Effects;

/// Calls connector methods for the engine; the runner implements it over its registry and HTTP
/// executor. It may be called from several threads at once (a `for_each` with `concurrency`).
pub trait StepRunner: Sync {
    /// Calls `method` on the installed `connection` (its state-store name). Streamed records go to
    /// `on_record` as they arrive; an `Err` from `on_record` means "stop producing" and should be
    /// returned as the call's error.
    fn call(
        &self,
        connection: &str,
        method: &str,
        input: Value,
        on_record: &mut dyn FnMut(Value) -> Result<(), ConnectorError>,
    ) -> Result<Value, ConnectorError>;

    /// Whether the run was cancelled (Ctrl-C); checked between steps, items and records.
    fn is_cancelled(&self) -> bool;
}

/// Why the journal could not store a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("run journal: {message}")]
pub struct JournalError {
    /// What failed.
    pub message: String,
}

impl JournalError {
    /// A journal error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// Where results of completed steps are kept, so a resumed run repeats none of them.
///
/// Keys are step ids, and `<id>[<n>]` for the n-th call (0-based) of a `for_each` over an array.
pub trait Journal: Sync {
    /// The output of a step (or item) that completed in an earlier attempt of this run.
    fn completed(&self, key: &str) -> Option<Value>;
    /// Stores the output of a step (or item) that just completed.
    fn record(&self, key: &str, output: &Value) -> Result<(), JournalError>;
    /// Records that a call which must take effect at most once is about to be sent: until its
    /// output is recorded or the intent cleared, its outcome is unknown (see `once.rs`).
    fn record_intent(&self, key: &str) -> Result<(), JournalError>;
    /// Whether an earlier attempt sent the call `key` and never learned its outcome.
    fn intent_pending(&self, key: &str) -> bool;
    /// Forgets an intent: the call was answered without effect, or never sent.
    fn clear_intent(&self, key: &str) -> Result<(), JournalError>;
}

/// A journal in memory: for tests, and for runs that need no resume.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    entries: Mutex<HashMap<String, Value>>,
    intents: Mutex<HashSet<String>>,
}

impl MemoryJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    /// The keys recorded so far, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .entries
            .lock()
            .map(|e| e.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }

    /// Forgets one key, e.g. to simulate a crash before it was written.
    pub fn remove(&self, key: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }
}

impl Journal for MemoryJournal {
    fn completed(&self, key: &str) -> Option<Value> {
        self.entries.lock().ok()?.get(key).cloned()
    }

    fn record(&self, key: &str, output: &Value) -> Result<(), JournalError> {
        self.entries
            .lock()
            .map_err(|_| JournalError::new("the in-memory journal was poisoned by a panic"))?
            .insert(key.to_owned(), output.clone());
        self.clear_intent(key)
    }

    fn record_intent(&self, key: &str) -> Result<(), JournalError> {
        self.intents
            .lock()
            .map_err(|_| JournalError::new("the in-memory journal was poisoned by a panic"))?
            .insert(key.to_owned());
        Ok(())
    }

    fn intent_pending(&self, key: &str) -> bool {
        self.intents
            .lock()
            .is_ok_and(|intents| intents.contains(key))
    }

    fn clear_intent(&self, key: &str) -> Result<(), JournalError> {
        self.intents
            .lock()
            .map_err(|_| JournalError::new("the in-memory journal was poisoned by a panic"))?
            .remove(key);
        Ok(())
    }
}

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

/// Tuning knobs with sensible defaults; [`run`] uses [`RunOptions::default`].
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Records buffered between a stream's producer and its consumer (backpressure bound).
    pub channel_capacity: usize,
    /// A [`Event::RecordsProgress`] is sent every this many records.
    pub progress_every: u64,
    /// Errors kept in the output of a `for_each` over a stream (the rest are only counted).
    pub max_stream_errors: usize,
    /// The state file, which no file the run writes may be (nor SQLite's files beside it): it
    /// holds every connection's tokens.
    pub state_file: Option<PathBuf>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            channel_capacity: 1_024,
            progress_every: 1_000,
            max_stream_errors: 100,
            state_file: None,
        }
    }
}

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
    /// the same way, and journaling those items as done would make a resume skip them.
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

/// A failure inside a step, before `on_error` decides what it means.
#[derive(Debug, Clone)]
struct StepFailure {
    item: Option<u64>,
    failure: Failure,
    /// The step to blame when it is not the one running (a stream's producer).
    step: Option<String>,
}

impl From<Failure> for StepFailure {
    fn from(failure: Failure) -> Self {
        Self {
            item: None,
            failure,
            step: None,
        }
    }
}

/// Runs a validated workflow with default [`RunOptions`].
pub fn run(
    workflow: &ValidWorkflow,
    inputs: Map<String, Value>,
    runner: &dyn StepRunner,
    journal: &dyn Journal,
    observer: &dyn Observer,
) -> Result<RunOutcome, RunError> {
    run_with(
        workflow,
        inputs,
        runner,
        journal,
        observer,
        &RunOptions::default(),
    )
}

/// Runs a validated workflow: checks the inputs, then runs each step in order, journaling each
/// result as it completes and reusing results journaled by an earlier attempt.
pub fn run_with(
    workflow: &ValidWorkflow,
    inputs: Map<String, Value>,
    runner: &dyn StepRunner,
    journal: &dyn Journal,
    observer: &dyn Observer,
    options: &RunOptions,
) -> Result<RunOutcome, RunError> {
    let inputs = workflow
        .check_inputs(&inputs)
        .map_err(RunError::InvalidInputs)?;
    let view = Arc::new(StepsView::new(
        workflow.step_ids.clone(),
        workflow.steps.len(),
    ));
    let engine = Engine {
        workflow,
        runner,
        journal,
        observer,
        options,
        inputs: MjValue::from_serialize(&inputs),
        steps_value: MjValue::from_dyn_object(view.clone()),
        view,
    };
    let mut reports: Vec<Option<StepReport>> = vec![None; workflow.steps.len()];
    for index in 0..workflow.steps.len() {
        if runner.is_cancelled() {
            return Err(RunError::Cancelled {
                step: Some(workflow.steps[index].id.clone()),
            });
        }
        engine.step(index, &mut reports)?;
    }
    let scope = engine.top_scope();
    let mut outputs = Map::new();
    for (name, mapping) in &workflow.outputs {
        let value = mapping.render(&scope).map_err(|e| RunError::Output {
            name: name.clone(),
            message: e.message,
        })?;
        outputs.insert(name.clone(), value);
    }
    Ok(RunOutcome {
        outputs,
        steps: reports
            .into_iter()
            .zip(&workflow.steps)
            .map(|(report, step)| {
                report.unwrap_or_else(|| StepReport {
                    id: step.id.clone(),
                    status: StepStatus::Skipped,
                    output: Value::Null,
                })
            })
            .collect(),
    })
}

struct Engine<'a> {
    workflow: &'a ValidWorkflow,
    runner: &'a dyn StepRunner,
    journal: &'a dyn Journal,
    observer: &'a dyn Observer,
    options: &'a RunOptions,
    inputs: MjValue,
    view: Arc<StepsView>,
    steps_value: MjValue,
}

impl Engine<'_> {
    fn top_scope(&self) -> MjValue {
        Scope::top(self.inputs.clone(), self.steps_value.clone()).value()
    }

    fn item_scope(
        &self,
        step: &CompiledStep,
        element: MjValue,
        index0: u64,
        length: Option<u64>,
    ) -> MjValue {
        let (item, batch) = if step.batch.is_some() {
            (None, Some(element))
        } else {
            (Some(element), None)
        };
        Scope {
            inputs: self.inputs.clone(),
            steps: self.steps_value.clone(),
            item_name: Some(step.item_name.clone()),
            item,
            batch,
            loop_: Some(loop_value(index0, length)),
        }
        .value()
    }

    fn emit(&self, event: Event) {
        self.observer.event(&event);
    }

    fn finish(
        &self,
        index: usize,
        status: StepStatus,
        output: Value,
        reports: &mut [Option<StepReport>],
    ) {
        self.view.set(index, &output);
        reports[index] = Some(StepReport {
            id: self.workflow.steps[index].id.clone(),
            status,
            output,
        });
    }

    fn step(&self, index: usize, reports: &mut [Option<StepReport>]) -> Result<(), RunError> {
        let step = &self.workflow.steps[index];
        if step.consumer.is_some() {
            // Runs together with the step that consumes its records.
            return Ok(());
        }
        if let Some(output) = self.journal.completed(&step.id) {
            if let Some(Source::Stream(producer)) = step.for_each {
                let produced = self
                    .journal
                    .completed(&self.workflow.steps[producer].id)
                    .unwrap_or(Value::Null);
                self.resumed(producer, produced, reports);
            }
            self.resumed(index, output, reports);
            return Ok(());
        }
        self.emit(Event::StepStarted {
            step: step.id.clone(),
            calls: None,
        });
        let started = Instant::now();
        if !self.condition(step).map_err(|f| self.fail(step, f))? {
            self.emit(Event::StepSkipped {
                step: step.id.clone(),
                reason: SkipReason::Condition,
            });
            if let Some(Source::Stream(producer)) = step.for_each {
                // Nobody reads the stream, so its producer does not run either.
                self.finish(producer, StepStatus::Skipped, Value::Null, reports);
            }
            self.finish(index, StepStatus::Skipped, Value::Null, reports);
            return Ok(());
        }
        let result = match &step.for_each {
            None => self.single(step),
            Some(Source::Values(mapping)) => self.over_array(step, mapping),
            Some(Source::Stream(producer)) => self.over_stream(step, *producer, reports),
        };
        let (status, output) = match result {
            Ok(output) => (StepStatus::Completed, output),
            Err(StepFailure {
                failure: Failure::Cancelled,
                ..
            }) => {
                return Err(RunError::Cancelled {
                    step: Some(step.id.clone()),
                });
            }
            Err(failure)
                if step.on_error == OnError::Continue
                    && step.for_each.is_none()
                    && !failure.failure.stops_the_run() =>
            {
                self.emit(Event::StepFailed {
                    step: step.id.clone(),
                    item: failure.item,
                    error: failure.failure.to_string(),
                    continued: true,
                });
                (StepStatus::FailedContinued, failure.failure.to_output())
            }
            Err(failure) => return Err(self.fail(step, failure)),
        };
        self.journal.record(&step.id, &output)?;
        self.emit(Event::StepFinished {
            step: step.id.clone(),
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
        self.finish(index, status, output, reports);
        Ok(())
    }

    fn resumed(&self, index: usize, output: Value, reports: &mut [Option<StepReport>]) {
        self.emit(Event::StepSkipped {
            step: self.workflow.steps[index].id.clone(),
            reason: SkipReason::Completed,
        });
        self.finish(index, StepStatus::Resumed, output, reports);
    }

    fn fail(&self, step: &CompiledStep, failure: impl Into<StepFailure>) -> RunError {
        let failure = failure.into();
        let id = failure.step.clone().unwrap_or_else(|| step.id.clone());
        if failure.failure == Failure::Cancelled {
            return RunError::Cancelled { step: Some(id) };
        }
        self.emit(Event::StepFailed {
            step: id.clone(),
            item: failure.item,
            error: failure.failure.to_string(),
            continued: false,
        });
        RunError::StepFailed {
            step: id,
            item: failure.item,
            failure: failure.failure,
        }
    }

    fn condition(&self, step: &CompiledStep) -> Result<bool, Failure> {
        match &step.condition {
            None => Ok(true),
            Some(condition) => condition
                .eval(&self.top_scope())
                .map(|v| v.is_true())
                .map_err(|e| Failure::Expression(format!("`if`: {e}"))),
        }
    }

    /// A step without `for_each`: one call, or reading a file nobody consumes.
    fn single(&self, step: &CompiledStep) -> Result<Value, StepFailure> {
        let scope = self.top_scope();
        match &step.action {
            Action::Call {
                connection,
                method,
                input,
                input_schema,
                effects,
                ..
            } => {
                let call = Call {
                    key: &step.id,
                    connection,
                    method,
                    effects: *effects,
                };
                let render_input = || render_call_input(input, input_schema.as_deref(), &scope);
                // Opened once, before the first attempt: a refused path fails the step without
                // retries, and a retry empties the file this step made instead of refusing it.
                let records_to = match &step.records_to {
                    Some(target) => {
                        let path = files::render_target(&target.path, &scope)?;
                        let file = files::open(
                            &path,
                            target.overwrite,
                            self.options.state_file.as_deref(),
                        )?;
                        let regular = file.metadata().is_ok_and(|m| m.is_file());
                        Some((path.path, file, regular))
                    }
                    None => None,
                };
                let progress = Progress::new(self, &step.id);
                let mut attempts = 0u32;
                let output = self.with_retry(step, None, render_input, |input| {
                    attempts += 1;
                    let mut writer = match &records_to {
                        Some((path, file, regular)) => {
                            if attempts > 1 && *regular {
                                file.set_len(0)
                                    .and_then(|()| (&*file).seek(SeekFrom::Start(0)).map(drop))
                                    .map_err(|e| {
                                        Failure::File(format!(
                                            "cannot empty `{}` for another attempt: {e}",
                                            excerpt(path)
                                        ))
                                    })?;
                            }
                            Some((path, BufWriter::new(file)))
                        }
                        None => None,
                    };
                    let mut write_error = None;
                    let mut on_record = |record: Value| {
                        if self.runner.is_cancelled() {
                            return Err(ConnectorError::Cancelled);
                        }
                        if let Some((_, w)) = writer.as_mut()
                            && let Err(e) = serde_json::to_writer(&mut *w, &record)
                                .map_err(std::io::Error::from)
                                .and_then(|()| w.write_all(b"\n"))
                        {
                            write_error = Some(e.to_string());
                            return Err(ConnectorError::Cancelled);
                        }
                        progress.tick();
                        Ok(())
                    };
                    let result = self.call_once(&call, input, &mut on_record);
                    let cannot_write = |path: &str, e: &dyn std::fmt::Display| {
                        Failure::File(format!("cannot write records to `{}`: {e}", excerpt(path)))
                    };
                    if let (Some(e), Some((path, _))) = (write_error, &writer) {
                        return Err(cannot_write(path, &e));
                    }
                    if let Some((path, mut w)) = writer {
                        w.flush().map_err(|e| cannot_write(path, &e))?;
                    }
                    result
                })?;
                progress.done();
                Ok(output)
            }
            Action::Read { path, format } => {
                let path = render_path(path, &scope, "read.path")?;
                let progress = Progress::new(self, &step.id);
                let count = read_records(&path, *format, &mut |_| {
                    if self.runner.is_cancelled() {
                        return Err(ConnectorError::Cancelled);
                    }
                    progress.tick();
                    Ok(())
                })?;
                progress.done();
                Ok(json!({ "records": count, "path": path }))
            }
        }
    }

    /// Runs `attempt` under the step's retry policy. Each attempt renders its own input instead
    /// of copying a kept one: a bulk input of many records would otherwise be held twice while
    /// the first attempt runs. Rendering is pure, so every attempt gets the same input.
    fn with_retry(
        &self,
        step: &CompiledStep,
        item: Option<u64>,
        render_input: impl Fn() -> Result<Value, Failure>,
        mut attempt: impl FnMut(Value) -> Result<Value, Failure>,
    ) -> Result<Value, StepFailure> {
        let (attempts, backoff_ms) = match step.on_error {
            OnError::Retry(policy) => (policy.attempts.max(1), policy.backoff_ms),
            _ => (1, 0),
        };
        for n in 1..=attempts {
            match render_input().and_then(&mut attempt) {
                Ok(output) => return Ok(output),
                Err(failure) if n < attempts && retryable(&failure) => {
                    let delay_ms = backoff_ms.saturating_mul(1 << (n - 1).min(16));
                    self.emit(Event::Retrying {
                        step: step.id.clone(),
                        item,
                        attempt: n,
                        delay_ms,
                        error: failure.to_string(),
                    });
                    if !self.sleep(Duration::from_millis(delay_ms)) {
                        return Err(StepFailure {
                            item,
                            failure: Failure::Cancelled,
                            step: None,
                        });
                    }
                }
                Err(failure) => {
                    return Err(StepFailure {
                        item,
                        failure,
                        step: None,
                    });
                }
            }
        }
        Err(StepFailure {
            item,
            failure: Failure::Cancelled,
            step: None,
        })
    }

    /// Sleeps in short slices, returning false as soon as the run is cancelled.
    fn sleep(&self, total: Duration) -> bool {
        let deadline = Instant::now() + total;
        loop {
            if self.runner.is_cancelled() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
        }
    }

    /// One call of a `for_each`: render the input in the item's scope, call, retry as configured.
    fn call_item(
        &self,
        step: &CompiledStep,
        scope: &MjValue,
        item: u64,
    ) -> Result<Value, StepFailure> {
        let Action::Call {
            connection,
            method,
            input,
            input_schema,
            effects,
            ..
        } = &step.action
        else {
            return Err(StepFailure {
                item: Some(item),
                failure: Failure::Expression("`for_each` needs a `call`".to_owned()),
                step: None,
            });
        };
        let key = item_key(step, item);
        let call = Call {
            key: &key,
            connection,
            method,
            effects: *effects,
        };
        if self.runner.is_cancelled() {
            return Err(StepFailure {
                item: Some(item),
                failure: Failure::Cancelled,
                step: None,
            });
        }
        self.with_retry(
            step,
            Some(item),
            || render_call_input(input, input_schema.as_deref(), scope),
            |input| self.call_once(&call, input, &mut |_| Ok(())),
        )
    }

    /// A `for_each` over an array: outputs in order, each call journaled as `<id>[<n>]`.
    fn over_array(&self, step: &CompiledStep, source: &Mapping) -> Result<Value, StepFailure> {
        let value = source
            .render_value(&self.top_scope())
            .map_err(|e| Failure::Expression(format!("`for_each`: {e}")))?;
        if !matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable) {
            return Err(Failure::Expression(format!(
                "`for_each` must give an array, got {}",
                value.kind()
            ))
            .into());
        }
        let items: Vec<MjValue> = value
            .try_iter()
            .map_err(|e| Failure::Expression(format!("`for_each`: {}", excerpt(&e.to_string()))))?
            .collect();
        let elements: Vec<MjValue> = match step.batch {
            Some(size) => items
                .chunks(usize::try_from(size).unwrap_or(usize::MAX).max(1))
                .map(|chunk| MjValue::from(chunk.to_vec()))
                .collect(),
            None => items,
        };
        let calls = elements.len();
        let length = Some(calls as u64);
        let results: Vec<OnceLock<Value>> = (0..calls).map(|_| OnceLock::new()).collect();
        let process = |k: usize| -> Result<(), StepFailure> {
            let item = k as u64;
            let key = item_key(step, item);
            if let Some(output) = self.journal.completed(&key) {
                let _first = results[k].set(output);
                return Ok(());
            }
            let scope = self.item_scope(step, elements[k].clone(), item, length);
            match self.call_item(step, &scope, item) {
                Ok(output) => {
                    self.journal
                        .record(&key, &output)
                        .map_err(|e| StepFailure {
                            item: Some(item),
                            failure: Failure::Journal(e.to_string()),
                            step: None,
                        })?;
                    let _first = results[k].set(output);
                    self.emit(Event::ItemFinished {
                        step: step.id.clone(),
                        item,
                        of: length,
                        ok: true,
                        error: None,
                    });
                    Ok(())
                }
                Err(failure)
                    if step.on_error == OnError::Continue && !failure.failure.stops_the_run() =>
                {
                    self.emit(Event::ItemFinished {
                        step: step.id.clone(),
                        item,
                        of: length,
                        ok: false,
                        error: Some(failure.failure.to_string()),
                    });
                    let _first = results[k].set(failure.failure.to_output());
                    Ok(())
                }
                Err(failure) => Err(failure),
            }
        };
        let workers = usize::try_from(step.concurrency)
            .unwrap_or(1)
            .clamp(1, calls.max(1));
        if workers == 1 {
            for k in 0..calls {
                if self.runner.is_cancelled() {
                    return Err(Failure::Cancelled.into());
                }
                process(k)?;
            }
        } else {
            let next = AtomicUsize::new(0);
            let stop = AtomicBool::new(false);
            let first_error: Mutex<Option<StepFailure>> = Mutex::new(None);
            std::thread::scope(|threads| {
                for _ in 0..workers {
                    threads.spawn(|| {
                        while !stop.load(Ordering::Relaxed) {
                            let outcome = if self.runner.is_cancelled() {
                                Err(Failure::Cancelled.into())
                            } else {
                                let k = next.fetch_add(1, Ordering::Relaxed);
                                if k >= calls {
                                    break;
                                }
                                process(k)
                            };
                            if let Err(failure) = outcome {
                                stop.store(true, Ordering::Relaxed);
                                if let Ok(mut slot) = first_error.lock() {
                                    slot.get_or_insert(failure);
                                }
                            }
                        }
                    });
                }
            });
            if let Some(failure) = first_error.into_inner().ok().flatten() {
                return Err(failure);
            }
        }
        Ok(Value::Array(
            results
                .into_iter()
                .map(|r| r.into_inner().unwrap_or(Value::Null))
                .collect(),
        ))
    }

    /// A `for_each` over the records of an earlier step: the producer runs on its own thread and
    /// sends records through a bounded channel; `concurrency` workers take elements (or batches)
    /// from it and call the method. Only counts and the first errors are kept.
    fn over_stream(
        &self,
        step: &CompiledStep,
        producer_index: usize,
        reports: &mut [Option<StepReport>],
    ) -> Result<Value, StepFailure> {
        let producer = &self.workflow.steps[producer_index];
        let fail_producer = |failure: Failure| StepFailure {
            item: None,
            failure: Failure::Expression(format!("producer `{}`: {failure}", producer.id)),
            step: None,
        };
        let runs = self.condition(producer).map_err(fail_producer)?;
        if !runs {
            self.emit(Event::StepSkipped {
                step: producer.id.clone(),
                reason: SkipReason::Condition,
            });
        } else {
            self.emit(Event::StepStarted {
                step: producer.id.clone(),
                calls: None,
            });
        }
        let scope = self.top_scope();
        enum Produce<'p> {
            Nothing,
            Call(&'p str, &'p str, Value),
            Read(String, RecordFormat),
        }
        let produce = if !runs {
            Produce::Nothing
        } else {
            match &producer.action {
                Action::Call {
                    connection,
                    method,
                    input,
                    input_schema,
                    ..
                } => Produce::Call(
                    connection,
                    method,
                    render_call_input(input, input_schema.as_deref(), &scope)
                        .map_err(fail_producer)?,
                ),
                Action::Read { path, format } => Produce::Read(
                    render_path(path, &scope, "read.path").map_err(fail_producer)?,
                    *format,
                ),
            }
        };
        let started = Instant::now();
        let (tx, rx) = sync_channel::<MjValue>(self.options.channel_capacity.max(1));
        let rx_slot: Mutex<Option<Receiver<MjValue>>> = Mutex::new(Some(rx));
        let consumer_stopped = AtomicBool::new(false);
        let stop = AtomicBool::new(false);
        let first_error: Mutex<Option<StepFailure>> = Mutex::new(None);
        let sequence = AtomicU64::new(0);
        let records = AtomicU64::new(0);
        let succeeded = AtomicU64::new(0);
        let failed = AtomicU64::new(0);
        let errors: Mutex<Vec<Value>> = Mutex::new(Vec::new());
        let once = matches!(
            step.action,
            Action::Call {
                effects: Effects::Once { .. },
                ..
            }
        );
        let group_size = step
            .batch
            .map_or(1, |b| usize::try_from(b).unwrap_or(usize::MAX).max(1));
        let workers = usize::try_from(step.concurrency).unwrap_or(1).max(1);

        let produced: Result<Value, Failure> = std::thread::scope(|threads| {
            let producer_thread = threads.spawn(|| {
                let progress = Progress::new(self, &producer.id);
                let mut send = |record: Value| -> Result<(), ConnectorError> {
                    if self.runner.is_cancelled() {
                        return Err(ConnectorError::Cancelled);
                    }
                    if tx.send(MjValue::from_serialize(&record)).is_err() {
                        consumer_stopped.store(true, Ordering::Relaxed);
                        return Err(ConnectorError::Cancelled);
                    }
                    progress.tick();
                    Ok(())
                };
                let result = match produce {
                    Produce::Nothing => Ok(Value::Null),
                    Produce::Call(connection, method, input) => self
                        .runner
                        .call(connection, method, input, &mut send)
                        .map_err(connector_failure),
                    Produce::Read(path, format) => read_records(&path, format, &mut send)
                        .map(|count| json!({"records": count, "path": path})),
                };
                drop(tx);
                progress.done();
                result
            });
            let worker_handles: Vec<_> = (0..workers)
                .map(|_| {
                    threads.spawn(|| {
                        loop {
                            if stop.load(Ordering::Relaxed) {
                                break;
                            }
                            if self.runner.is_cancelled() {
                                stop.store(true, Ordering::Relaxed);
                                if let Ok(mut slot) = first_error.lock() {
                                    slot.get_or_insert(Failure::Cancelled.into());
                                }
                                break;
                            }
                            // Take one element (or one batch) while holding the receiver, so a
                            // batch is made of consecutive records.
                            let (group, index) = {
                                let Ok(guard) = rx_slot.lock() else { break };
                                let Some(rx) = guard.as_ref() else { break };
                                let mut group = Vec::with_capacity(group_size.min(4_096));
                                while group.len() < group_size {
                                    match rx.recv() {
                                        Ok(record) => group.push(record),
                                        Err(_) => break,
                                    }
                                }
                                if group.is_empty() {
                                    break;
                                }
                                (group, sequence.fetch_add(1, Ordering::Relaxed))
                            };
                            records.fetch_add(group.len() as u64, Ordering::Relaxed);
                            // The calls of a stream are journaled one by one only when a repeat
                            // would act twice: a resume skips those that completed.
                            let key = once.then(|| item_key(step, index));
                            if key
                                .as_ref()
                                .is_some_and(|key| self.journal.completed(key).is_some())
                            {
                                succeeded.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            let element = if step.batch.is_some() {
                                MjValue::from(group)
                            } else {
                                group.into_iter().next().unwrap_or_default()
                            };
                            let scope = self.item_scope(step, element, index, None);
                            match self.call_item(step, &scope, index).and_then(
                                |output| match &key {
                                    Some(key) => {
                                        self.journal.record(key, &output).map_err(|e| StepFailure {
                                            item: Some(index),
                                            failure: Failure::Journal(e.message),
                                            step: None,
                                        })
                                    }
                                    None => Ok(()),
                                },
                            ) {
                                Ok(()) => {
                                    succeeded.fetch_add(1, Ordering::Relaxed);
                                    self.emit(Event::ItemFinished {
                                        step: step.id.clone(),
                                        item: index,
                                        of: None,
                                        ok: true,
                                        error: None,
                                    });
                                }
                                Err(failure)
                                    if step.on_error == OnError::Continue
                                        && !failure.failure.stops_the_run() =>
                                {
                                    failed.fetch_add(1, Ordering::Relaxed);
                                    if let Ok(mut errors) = errors.lock()
                                        && errors.len() < self.options.max_stream_errors
                                    {
                                        let mut entry = failure.failure.to_output();
                                        entry["item"] = json!(index);
                                        errors.push(entry);
                                    }
                                    self.emit(Event::ItemFinished {
                                        step: step.id.clone(),
                                        item: index,
                                        of: None,
                                        ok: false,
                                        error: Some(failure.failure.to_string()),
                                    });
                                }
                                Err(failure) => {
                                    stop.store(true, Ordering::Relaxed);
                                    if let Ok(mut slot) = first_error.lock() {
                                        slot.get_or_insert(failure);
                                    }
                                    break;
                                }
                            }
                        }
                    })
                })
                .collect();
            for handle in worker_handles {
                if handle.join().is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            // Closing the receiver wakes a producer blocked on a full channel, so it stops.
            if let Ok(mut slot) = rx_slot.lock() {
                slot.take();
            }
            producer_thread
                .join()
                .unwrap_or_else(|_| Err(Failure::Expression("the producer panicked".to_owned())))
        });

        if let Some(failure) = first_error.into_inner().ok().flatten() {
            return Err(failure);
        }
        let produced_output = match produced {
            Ok(output) => output,
            Err(Failure::Cancelled)
                if !consumer_stopped.load(Ordering::Relaxed) || self.runner.is_cancelled() =>
            {
                return Err(Failure::Cancelled.into());
            }
            Err(failure) if producer.on_error == OnError::Continue && !failure.stops_the_run() => {
                self.emit(Event::StepFailed {
                    step: producer.id.clone(),
                    item: None,
                    error: failure.to_string(),
                    continued: true,
                });
                failure.to_output()
            }
            Err(failure) => {
                // Reported as the producer's failure: that is where the fix belongs.
                return Err(StepFailure {
                    item: None,
                    failure,
                    step: Some(producer.id.clone()),
                });
            }
        };
        let producer_status = if runs {
            StepStatus::Completed
        } else {
            StepStatus::Skipped
        };
        self.journal
            .record(&producer.id, &produced_output)
            .map_err(|e| Failure::Journal(e.to_string()))?;
        if runs {
            self.emit(Event::StepFinished {
                step: producer.id.clone(),
                elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
        }
        self.finish(producer_index, producer_status, produced_output, reports);
        Ok(json!({
            "records": records.load(Ordering::Relaxed),
            "calls": succeeded.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed),
            "succeeded": succeeded.load(Ordering::Relaxed),
            "failed": failed.load(Ordering::Relaxed),
            "errors": errors.into_inner().unwrap_or_default(),
        }))
    }
}

/// Counts records and reports progress every `progress_every`.
struct Progress<'e, 'a> {
    engine: &'e Engine<'a>,
    step: &'e str,
    count: AtomicU64,
}

impl<'e, 'a> Progress<'e, 'a> {
    fn new(engine: &'e Engine<'a>, step: &'e str) -> Self {
        Self {
            engine,
            step,
            count: AtomicU64::new(0),
        }
    }

    fn tick(&self) {
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        if count.is_multiple_of(self.engine.options.progress_every.max(1)) {
            self.engine.emit(Event::RecordsProgress {
                step: self.step.to_owned(),
                count,
            });
        }
    }

    fn done(&self) {
        let count = self.count.load(Ordering::Relaxed);
        if !count.is_multiple_of(self.engine.options.progress_every.max(1)) {
            self.engine.emit(Event::RecordsProgress {
                step: self.step.to_owned(),
                count,
            });
        }
    }
}

/// The journal key of call `item` of a `for_each` step.
fn item_key(step: &CompiledStep, item: u64) -> String {
    format!("{}[{item}]", step.id)
}

fn connector_failure(error: ConnectorError) -> Failure {
    match error {
        ConnectorError::Cancelled => Failure::Cancelled,
        other => Failure::Connector(other),
    }
}

/// Whether a step-level retry can help: not for cancellation, bad input or a used-up quota.
fn retryable(failure: &Failure) -> bool {
    match failure {
        Failure::Connector(error) => !matches!(
            error,
            ConnectorError::InvalidInput { .. }
                | ConnectorError::UnknownMethod { .. }
                | ConnectorError::QuotaExhausted { .. }
                | ConnectorError::Denied { .. }
                | ConnectorError::NotImplemented { .. }
                | ConnectorError::Store { .. }
                // A connector that panicked, hung or answered garbage is broken, not unlucky:
                // another attempt would fail the same way, and a hung one leaves a thread
                // spinning per attempt.
                | ConnectorError::Plugin { .. }
        ),
        Failure::File(_) => true,
        Failure::Expression(_)
        | Failure::InvalidInput(_)
        | Failure::Journal(_)
        | Failure::Cancelled
        | Failure::OutcomeUnknown { .. } => false,
    }
}

/// Renders a call's input and checks it against the method's input schema, so a call never
/// receives an input its method did not declare (see `input_check`).
fn render_call_input(
    input: &Mapping,
    schema: Option<&InputSchema>,
    scope: &MjValue,
) -> Result<Value, Failure> {
    let value = input
        .render(scope)
        .map_err(|e| Failure::Expression(format!("`input`: {e}")))?;
    if let Some(schema) = schema {
        schema.check(&value).map_err(Failure::InvalidInput)?;
    }
    Ok(value)
}

fn render_path(path: &Mapping, scope: &MjValue, what: &str) -> Result<String, Failure> {
    match path.render(scope) {
        Ok(Value::String(s)) if !s.is_empty() => Ok(s),
        Ok(other) => Err(Failure::Expression(format!(
            "`{what}` must give a file path, got {}",
            value_excerpt(&other)
        ))),
        Err(e) => Err(Failure::Expression(format!("`{what}`: {e}"))),
    }
}

/// Reads a record file incrementally, handing each record to `emit`; returns the record count.
pub(crate) fn read_records(
    path: &str,
    format: RecordFormat,
    emit: &mut dyn FnMut(Value) -> Result<(), ConnectorError>,
) -> Result<u64, Failure> {
    // The path comes from the workflow or its inputs: quoted by an excerpt.
    let shown = excerpt(path);
    let file =
        File::open(path).map_err(|e| Failure::File(format!("cannot open `{shown}`: {e}")))?;
    let reader = BufReader::new(file);
    let stopped = |e: ConnectorError| match e {
        ConnectorError::Cancelled => Failure::Cancelled,
        other => Failure::Connector(other),
    };
    let mut count = 0u64;
    match format {
        RecordFormat::Jsonl => {
            for (n, line) in reader.lines().enumerate() {
                let line =
                    line.map_err(|e| Failure::File(format!("cannot read `{shown}`: {e}")))?;
                if line.trim().is_empty() {
                    continue;
                }
                let record: Value = serde_json::from_str(&line).map_err(|e| {
                    Failure::File(format!("`{shown}` line {}: not JSON: {e}", n + 1))
                })?;
                count += 1;
                emit(record).map_err(stopped)?;
            }
        }
        RecordFormat::Csv => {
            let mut csv = csv::Reader::from_reader(reader);
            let headers = csv
                .headers()
                .map_err(|e| Failure::File(format!("`{shown}`: {e}")))?
                .clone();
            for row in csv.records() {
                let row = row.map_err(|e| Failure::File(format!("`{shown}`: {e}")))?;
                let record: Map<String, Value> = headers
                    .iter()
                    .zip(row.iter())
                    .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
                    .collect();
                count += 1;
                emit(Value::Object(record)).map_err(stopped)?;
            }
        }
        RecordFormat::JsonArray => {
            let mut deserializer = serde_json::Deserializer::from_reader(reader);
            let mut visitor = ArrayVisitor {
                emit,
                count: 0,
                stopped: None,
            };
            let parsed = serde::Deserializer::deserialize_seq(&mut deserializer, &mut visitor);
            if let Some(error) = visitor.stopped.take() {
                return Err(stopped(error));
            }
            parsed
                .and_then(|()| deserializer.end())
                .map_err(|e| Failure::File(format!("`{shown}`: {e}")))?;
            count = visitor.count;
        }
    }
    Ok(count)
}

/// Visits the elements of a JSON array one at a time, so the array is never held in memory.
struct ArrayVisitor<'f> {
    emit: &'f mut dyn FnMut(Value) -> Result<(), ConnectorError>,
    count: u64,
    stopped: Option<ConnectorError>,
}

impl<'de> serde::de::Visitor<'de> for &mut ArrayVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of records")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(record) = seq.next_element::<Value>()? {
            self.count += 1;
            if let Err(e) = (self.emit)(record) {
                self.stopped = Some(e);
                return Err(serde::de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}
