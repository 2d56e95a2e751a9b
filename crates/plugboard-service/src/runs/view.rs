//! What the API shows of a run: its status, each step's progress (folded from the run's
//! events), its outputs and its error. Inputs are not shown: they may carry secrets.

use plugboard_runner::{RunRecord, RunStatus};
use serde::Serialize;
use serde_json::Value;

use super::{Phase, runner_error, runner_id};
use crate::Service;
use crate::error::ApiError;
use crate::workflow_store::ServiceRun;

/// The most events read to show one run's steps.
const MAX_EVENTS_READ: i64 = 100_000;

/// A run in a listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunSummary {
    /// The run's id.
    pub id: i64,
    /// The tenant it runs for.
    pub tenant: String,
    /// The deployed workflow's name.
    pub workflow: String,
    /// `queued`, `running`, `completed`, `failed` or `cancelled`.
    pub status: &'static str,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// When it ended, milliseconds since the Unix epoch.
    pub finished_at_ms: Option<i64>,
}

/// One run in full.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunView {
    /// What a listing shows.
    #[serde(flatten)]
    pub summary: RunSummary,
    /// Each step of the workflow, in order.
    pub steps: Vec<StepProgress>,
    /// The workflow's outputs, once it completed.
    #[schema(value_type = Option<Object>)]
    pub outputs: Option<Value>,
    /// Calls of a failed or cancelled run that were sent and never answered: a resume must be
    /// told whether each took effect (`resend` or `mark_done`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown_calls: Vec<String>,
}

/// How far one step got.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StepProgress {
    /// The step id.
    pub id: String,
    /// `pending`, `running`, `completed`, `failed` or `skipped`.
    pub status: &'static str,
    /// The calls a `for_each` makes, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<u64>,
    /// The calls of a `for_each` done so far.
    pub calls_done: u64,
    /// Of which failed (`on_error: continue`).
    pub calls_failed: u64,
    /// Records a streaming step produced so far.
    pub records: u64,
    /// How long it took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The API's word for where a run stands. A finished run is `completed`, the word of the
/// runner's store, of `plugboard run` and of the `run_finished` event, so clients read one
/// vocabulary.
pub(crate) fn status_word(phase: Option<Phase>, record: Option<&RunRecord>) -> &'static str {
    match (phase, record.map(|r| r.status)) {
        (Some(Phase::Queued), _) => "queued",
        (Some(Phase::Running), _) => "running",
        (None, Some(RunStatus::Completed)) => "completed",
        (None, Some(RunStatus::Cancelled)) => "cancelled",
        (None, Some(RunStatus::Failed | RunStatus::Interrupted) | None) => "failed",
        // Running in the runner's store but not here: another process on the same state file
        // has it, or this one is taking it over at start-up.
        (None, Some(RunStatus::Running)) => "running",
        (None, Some(RunStatus::Queued)) => "queued",
    }
}

async fn record(service: &Service, run: &ServiceRun) -> Result<Option<RunRecord>, ApiError> {
    service
        .runner
        .store()
        .run(runner_id(run))
        .await
        .map_err(runner_error)
}

fn summary_of(service: &Service, run: &ServiceRun, record: Option<&RunRecord>) -> RunSummary {
    let phase = service.live_runs.phase(run.id);
    let status = status_word(phase, record);
    let error = match status {
        "failed" | "cancelled" => Some(match record {
            Some(RunRecord {
                status: RunStatus::Interrupted,
                ..
            }) => "the service stopped during this run and has not resumed it yet".to_owned(),
            Some(record) => record.error.clone().unwrap_or_default(),
            None => "the runner has no record of this run".to_owned(),
        }),
        _ => None,
    };
    RunSummary {
        id: run.id,
        tenant: run.tenant.clone(),
        workflow: run.workflow.clone(),
        status,
        error,
        created_at_ms: run.created_at_ms,
        finished_at_ms: record
            .and_then(|r| r.finished_at_ms)
            .filter(|_| phase.is_none()),
    }
}

/// A run as listed.
pub async fn summary(service: &Service, run: &ServiceRun) -> Result<RunSummary, ApiError> {
    let record = record(service, run).await?;
    Ok(summary_of(service, run, record.as_ref()))
}

/// A run in full.
pub async fn show(service: &Service, run: &ServiceRun) -> Result<RunView, ApiError> {
    let record = record(service, run).await?;
    let summary = summary_of(service, run, record.as_ref());
    let events = super::events_after(service, run.id, 0, MAX_EVENTS_READ).await?;
    let step_ids: Vec<String> = serde_json::from_str::<Value>(&run.source)
        .ok()
        .and_then(|w| w.get("steps").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|step| step.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let steps = fold_steps(&step_ids, events.iter().map(|(_, event)| event));
    let outputs = match (summary.status, &service.remote) {
        ("completed", None) => run.outputs.clone(),
        // A worker executed it: its outputs are journaled with the run.
        ("completed", Some(_)) => plugboard_runner::workflow::recorded_outputs(
            service.runner.store().as_ref(),
            runner_id(run),
        )
        .await
        .map_err(runner_error)?,
        _ => None,
    };
    let unknown_calls = if matches!(summary.status, "failed" | "cancelled") {
        super::resume::unknown_calls(service, runner_id(run)).await?
    } else {
        Vec::new()
    };
    Ok(RunView {
        summary,
        steps,
        outputs,
        unknown_calls,
    })
}

/// Each step's progress from the run's events (those of `plugboard run --json`).
pub(crate) fn fold_steps<'a>(
    step_ids: &[String],
    events: impl IntoIterator<Item = &'a Value>,
) -> Vec<StepProgress> {
    let mut steps: Vec<StepProgress> = step_ids
        .iter()
        .map(|id| StepProgress {
            id: id.clone(),
            status: "pending",
            calls: None,
            calls_done: 0,
            calls_failed: 0,
            records: 0,
            elapsed_ms: None,
            error: None,
        })
        .collect();
    for event in events {
        let Some(step) = event
            .get("step")
            .and_then(Value::as_str)
            .and_then(|id| steps.iter_mut().find(|s| s.id == id))
        else {
            continue;
        };
        match event.get("event").and_then(Value::as_str) {
            Some("step_started") => {
                step.status = "running";
                step.calls = event.get("calls").and_then(Value::as_u64).or(step.calls);
                // A resumed run starts its step again, and reuses the calls the attempt before
                // journaled without reporting them again: those counts stand.
                step.error = None;
            }
            Some("step_skipped") => {
                step.status = if event["reason"] == "completed" {
                    "completed"
                } else {
                    "skipped"
                };
            }
            Some("step_finished") => {
                step.status = "completed";
                step.elapsed_ms = event.get("elapsed_ms").and_then(Value::as_u64);
            }
            Some("step_failed") => {
                step.error = event
                    .get("error")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                if event["continued"] != Value::Bool(true) {
                    step.status = "failed";
                }
            }
            Some("item_finished") => {
                step.calls_done += 1;
                if event["ok"] != Value::Bool(true) {
                    step.calls_failed += 1;
                }
                if let Some(of) = event.get("of").and_then(Value::as_u64) {
                    step.calls = Some(of);
                }
            }
            // Calls a stored log reports together once a loop is long (`Coalescing`).
            Some("items_finished") => {
                step.calls_done += event.get("count").and_then(Value::as_u64).unwrap_or(0);
                if let Some(of) = event.get("of").and_then(Value::as_u64) {
                    step.calls = Some(of);
                }
            }
            Some("records_progress") => {
                step.records = event.get("count").and_then(Value::as_u64).unwrap_or(0);
            }
            _ => {}
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::fold_steps;

    #[test]
    fn steps_are_folded_from_events() {
        let ids = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let events = [
            json!({"event": "step_skipped", "step": "a", "reason": "completed"}),
            json!({"event": "step_started", "step": "b", "calls": 3}),
            json!({"event": "item_finished", "step": "b", "item": 0, "of": 3, "ok": true}),
            json!({"event": "item_finished", "step": "b", "item": 1, "of": 3, "ok": false}),
            json!({"event": "step_failed", "step": "b", "item": 2, "error": "boom", "continued": false}),
        ];
        let steps = fold_steps(&ids, &events);
        assert_eq!(steps[0].status, "completed");
        assert_eq!(steps[1].status, "failed");
        assert_eq!(
            (steps[1].calls, steps[1].calls_done, steps[1].calls_failed),
            (Some(3), 2, 1)
        );
        assert_eq!(steps[1].error.as_deref(), Some("boom"));
        assert_eq!(steps[2].status, "pending");
    }
}
