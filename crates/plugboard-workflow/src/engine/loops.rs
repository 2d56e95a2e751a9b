//! `for_each`: over an array (outputs in order) and over the records of an earlier step (a
//! producer thread, a bounded channel, `concurrency` workers).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use minijinja::value::{Value as MjValue, ValueKind};
use plugboard_core::ConnectorError;
use serde_json::{Value, json};

use crate::excerpt::excerpt;
use crate::expr::Mapping;
use crate::model::{OnError, RecordFormat};
use crate::validate::{Action, CompiledStep};

use super::{
    Effects, Engine, Event, Failure, Mode, SkipReason, StepFailure, StepReport, StepStatus,
    connector_failure, item_key, read_records, render_call_input, render_path,
};

impl Engine<'_> {
    /// The elements a `for_each` over an array calls with: its items, or their batches.
    pub(super) fn array_elements(
        &self,
        step: &CompiledStep,
        source: &Mapping,
    ) -> Result<Vec<MjValue>, StepFailure> {
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
        Ok(match step.batch {
            Some(size) => items
                .chunks(usize::try_from(size).unwrap_or(usize::MAX).max(1))
                .map(|chunk| MjValue::from(chunk.to_vec()))
                .collect(),
            None => items,
        })
    }

    /// Call `item` of a `for_each` over `elements`: its journaled output, or the call made and
    /// journaled. A failure `on_error: continue` lets pass is the item's output; in pieces it is
    /// journaled too, so the piece that puts the step together does not call it again.
    pub(super) fn array_item(
        &self,
        step: &CompiledStep,
        elements: &[MjValue],
        item: u64,
    ) -> Result<Value, StepFailure> {
        let key = item_key(step, item);
        if let Some(output) = self.journal.completed(&key) {
            return Ok(output);
        }
        let length = Some(elements.len() as u64);
        let element = usize::try_from(item)
            .ok()
            .and_then(|k| elements.get(k))
            .cloned()
            .ok_or_else(|| StepFailure {
                item: Some(item),
                failure: Failure::Expression(format!(
                    "`for_each` gives {} elements; there is no call {item}",
                    elements.len()
                )),
                step: None,
            })?;
        let journal = |output: &Value| {
            self.journal.record(&key, output).map_err(|e| StepFailure {
                item: Some(item),
                failure: Failure::Journal(e.to_string()),
                step: None,
            })
        };
        let scope = self.item_scope(step, element, item, length);
        match self.call_item(step, &scope, item) {
            Ok(output) => {
                journal(&output)?;
                self.emit(Event::ItemFinished {
                    step: step.id.clone(),
                    item,
                    of: length,
                    ok: true,
                    error: None,
                });
                Ok(output)
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
                let output = failure.failure.to_output();
                if self.mode == Mode::Pieces {
                    journal(&output)?;
                }
                Ok(output)
            }
            Err(failure) => Err(failure),
        }
    }

    /// A `for_each` over an array: outputs in order, each call journaled as `<id>[<n>]`.
    pub(super) fn over_array(
        &self,
        step: &CompiledStep,
        source: &Mapping,
    ) -> Result<Value, StepFailure> {
        let elements = self.array_elements(step, source)?;
        let calls = elements.len();
        let results: Vec<OnceLock<Value>> = (0..calls).map(|_| OnceLock::new()).collect();
        let process = |k: usize| -> Result<(), StepFailure> {
            let output = self.array_item(step, &elements, k as u64)?;
            let _first = results[k].set(output);
            Ok(())
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
    pub(super) fn over_stream(
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
pub(super) struct Progress<'e, 'a> {
    engine: &'e Engine<'a>,
    step: &'e str,
    count: AtomicU64,
}

impl<'e, 'a> Progress<'e, 'a> {
    pub(super) fn new(engine: &'e Engine<'a>, step: &'e str) -> Self {
        Self {
            engine,
            step,
            count: AtomicU64::new(0),
        }
    }

    pub(super) fn tick(&self) {
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        if count.is_multiple_of(self.engine.options.progress_every.max(1)) {
            self.engine.emit(Event::RecordsProgress {
                step: self.step.to_owned(),
                count,
            });
        }
    }

    pub(super) fn done(&self) {
        let count = self.count.load(Ordering::Relaxed);
        if !count.is_multiple_of(self.engine.options.progress_every.max(1)) {
            self.engine.emit(Event::RecordsProgress {
                step: self.step.to_owned(),
                count,
            });
        }
    }
}
