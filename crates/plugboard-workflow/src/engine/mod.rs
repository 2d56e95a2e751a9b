//! The engine: runs a [`ValidWorkflow`] through the runner's I/O, journaling as it goes.
//!
//! The engine is synchronous and knows nothing of HTTP, tokens or storage: the runner plugs those in
//! through [`StepRunner`] (connector calls), [`Journal`] (results of completed steps, for resume)
//! and [`Observer`] (events for progress bars and `--json`). Steps run in file order; the calls of
//! a `for_each` may run on several threads; a record stream flows from its producer to its one
//! consumer through a bounded channel, so it is never collected in memory.
//!
//! This module runs steps; its parts say what a run shows (`events`), keeps (`journal`) and
//! ends with (`outcome`), how a `for_each` goes over an array or a stream (`loops`), how a call
//! is made at most once (`once`), and how record files are read (`records`) and written
//! (`files`).

use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use minijinja::value::Value as MjValue;
use plugboard_core::ConnectorError;
use serde_json::{Map, Value, json};

use crate::excerpt::{excerpt, value_excerpt};
use crate::expr::{Mapping, Scope, StepsView, loop_value};
use crate::input_check::InputSchema;
use crate::model::OnError;
use crate::validate::{Action, CompiledStep, Source, ValidWorkflow};

mod events;
mod files;
mod journal;
mod loops;
mod once;
mod outcome;
mod pieces;
mod records;

pub use events::{Event, NoObserver, Observer, SkipReason};
pub use journal::{CallClaim, Journal, JournalError, MemoryJournal, claim_in_one_process};
use loops::Progress;
use once::Call;
pub(crate) use once::Effects;
pub use outcome::{Failure, RunError, RunOutcome, StepReport, StepStatus};
pub use pieces::{Piece, PieceOutcome, piece_keys, run_piece};
pub(crate) use records::read_records;

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
    let engine = Engine::new(
        workflow,
        inputs,
        runner,
        journal,
        observer,
        options,
        Mode::Whole,
    )?;
    let mut reports: Vec<Option<StepReport>> = vec![None; workflow.steps.len()];
    for index in 0..workflow.steps.len() {
        engine.next_step(index, &mut reports)?;
    }
    let outputs = engine.outputs()?;
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

/// Whether the engine runs a whole run, or one piece of it for an orchestrator (see `pieces`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Whole,
    Pieces,
}

/// What running one step left to do.
enum Stepped {
    /// The step ended (completed, skipped, resumed, or failed and continued).
    Done,
    /// Pieces only: the step is a `for_each` over an array whose `calls` calls are not all
    /// journaled; each is a piece of its own.
    Items { calls: u64 },
}

struct Engine<'a> {
    workflow: &'a ValidWorkflow,
    runner: &'a dyn StepRunner,
    journal: &'a dyn Journal,
    observer: &'a dyn Observer,
    options: &'a RunOptions,
    mode: Mode,
    /// A piece is reading the steps before it back from the journal (running them, should one
    /// not be done): that is not news, and is not reported.
    reading_back: AtomicBool,
    inputs: MjValue,
    view: Arc<StepsView>,
    steps_value: MjValue,
}

impl<'a> Engine<'a> {
    /// An engine for `workflow`, once its inputs check out.
    fn new(
        workflow: &'a ValidWorkflow,
        inputs: Map<String, Value>,
        runner: &'a dyn StepRunner,
        journal: &'a dyn Journal,
        observer: &'a dyn Observer,
        options: &'a RunOptions,
        mode: Mode,
    ) -> Result<Self, RunError> {
        let inputs = workflow
            .check_inputs(&inputs)
            .map_err(RunError::InvalidInputs)?;
        let view = Arc::new(StepsView::new(
            workflow.step_ids.clone(),
            workflow.steps.len(),
        ));
        Ok(Self {
            workflow,
            runner,
            journal,
            observer,
            options,
            mode,
            reading_back: AtomicBool::new(false),
            inputs: MjValue::from_serialize(&inputs),
            steps_value: MjValue::from_dyn_object(view.clone()),
            view,
        })
    }
}

impl Engine<'_> {
    /// Runs step `index` unless the run was cancelled.
    fn next_step(
        &self,
        index: usize,
        reports: &mut [Option<StepReport>],
    ) -> Result<Stepped, RunError> {
        if self.runner.is_cancelled() {
            return Err(RunError::Cancelled {
                step: Some(self.workflow.steps[index].id.clone()),
            });
        }
        self.step(index, reports)
    }

    /// The workflow's outputs, rendered once every step has run.
    fn outputs(&self) -> Result<Map<String, Value>, RunError> {
        let scope = self.top_scope();
        let mut outputs = Map::new();
        for (name, mapping) in &self.workflow.outputs {
            let value = mapping.render(&scope).map_err(|e| RunError::Output {
                name: name.clone(),
                message: e.message,
            })?;
            outputs.insert(name.clone(), value);
        }
        Ok(outputs)
    }

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
        if !self.reading_back.load(Ordering::Relaxed) {
            self.observer.event(&event);
        }
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

    fn step(&self, index: usize, reports: &mut [Option<StepReport>]) -> Result<Stepped, RunError> {
        let step = &self.workflow.steps[index];
        if step.consumer.is_some() {
            // Runs together with the step that consumes its records.
            return Ok(Stepped::Done);
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
            return Ok(Stepped::Done);
        }
        // In pieces, a loop over an array is started by the piece that finds calls to make, and
        // finished by the one that finds them all journaled.
        let items_elsewhere =
            self.mode == Mode::Pieces && matches!(step.for_each, Some(Source::Values(_)));
        if !items_elsewhere {
            self.emit(Event::StepStarted {
                step: step.id.clone(),
                calls: None,
            });
        }
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
            return Ok(Stepped::Done);
        }
        if let (true, Some(Source::Values(source))) = (items_elsewhere, &step.for_each) {
            let elements = self
                .array_elements(step, source)
                .map_err(|f| self.fail(step, f))?;
            let calls = elements.len() as u64;
            if (0..calls).any(|item| self.journal.completed(&item_key(step, item)).is_none()) {
                self.emit(Event::StepStarted {
                    step: step.id.clone(),
                    calls: Some(calls),
                });
                return Ok(Stepped::Items { calls });
            }
        } else if self.reading_back.load(Ordering::Relaxed) {
            // A piece reading the steps before it back would make this one's calls.
            return Err(RunError::NoSuchPiece(format!(
                "a piece after step `{}`, which is not done",
                step.id
            )));
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
        Ok(Stepped::Done)
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
