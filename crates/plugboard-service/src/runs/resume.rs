//! `POST …/runs/{run}/resume`: continues a failed or cancelled run from its journal, as
//! `plugboard run --resume` does, without repeating its completed calls.
//!
//! A call sent and never answered (its outcome unknown) is settled by the caller first, as with
//! `--resend` / `--mark-done`: `{"resend": ["fetch[2]"]}` if it did not take effect,
//! `{"mark_done": ["fetch[2]"]}` if it did (its output is then `null`). The run shows such calls
//! as `unknown_calls`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use plugboard_runner::store::RunClaim;
use plugboard_runner::workflow::StoreJournal;
use plugboard_runner::{RunId, RunStatus};
use plugboard_workflow::Journal as _;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::view::{self, RunView};
use super::{internal, owned_run, runner_error};
use crate::Service;
use crate::auth::TenantScope;
use crate::error::{ApiError, ErrorBody};
use crate::openapi::{KeyErrors, RunNotFound, StoreFailed};
use crate::workflows::check_workflow;

/// `POST …/resume`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeRun {
    /// Calls whose outcome is unknown that did not take effect: sent again.
    #[serde(default)]
    pub resend: Vec<String>,
    /// Calls whose outcome is unknown that did take effect: not sent again.
    #[serde(default)]
    pub mark_done: Vec<String>,
    /// Take over a run that a service on another machine holds as running (shared store only):
    /// for when that machine is gone for good. Were it still running the run, both would.
    #[serde(default)]
    pub take_over: bool,
}

/// The calls of `run` whose outcome is unknown (sent, never answered), sorted.
pub(super) async fn unknown_calls(service: &Service, run: RunId) -> Result<Vec<String>, ApiError> {
    let entries = service
        .runner
        .store()
        .completed_steps(run)
        .await
        .map_err(runner_error)?;
    Ok(plugboard_runner::workflow::unknown_calls(&entries))
}

#[utoipa::path(post, path = "/tenants/{tenant}/runs/{run}/resume", tag = "runs", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id."), ("run" = String, Path, description = "The run's id.")),
    request_body(content = Option<ResumeRun>, description = "Optional: how to settle calls whose outcome is unknown."),
    responses(
        (status = 202, description = "Resumed from its journal.", body = RunView),
        KeyErrors, RunNotFound, StoreFailed,
        (status = 409, description = "The run has not ended, completed, is held by a service on another machine (without `take_over`), or the cluster already has it (and resumes it itself).", body = ErrorBody),
        (status = 503, description = "The cluster did not take a run whose start it had refused (`cluster_unavailable`).", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB.", body = ErrorBody),
        (status = 422, description = "A body that is not `{\"resend\": [...], \"mark_done\": [...]}`, unknown calls left unsettled, or a workflow that no longer validates.", body = ErrorBody),
    ))]
pub(super) async fn resume(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    // The body is optional: no calls to settle.
    let body: ResumeRun = if body.iter().all(u8::is_ascii_whitespace) {
        ResumeRun::default()
    } else {
        serde_json::from_slice(&body).map_err(|error| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                format!(
                    "the body must be {{\"resend\": [...], \"mark_done\": [...], \
                     \"take_over\": false}}: {error}"
                ),
            )
        })?
    };
    let run = owned_run(&service, &scope, &id).await?;
    let id = RunId(run.id);
    let conflict = |message: String| ApiError::new(StatusCode::CONFLICT, "not_resumable", message);
    if let Some(remote) = &service.remote {
        return resume_on_cluster(&service, &run, remote.as_ref()).await;
    }
    if service.live_runs.phase(run.id).is_some() {
        return Err(conflict(format!("run {} is still running", run.id)));
    }
    let record = service
        .runner
        .store()
        .run(id)
        .await
        .map_err(runner_error)?
        .ok_or_else(|| ApiError::not_found("run"))?;
    if let Some(machine) = record
        .running_elsewhere()
        .filter(|_| service.runner.store().is_shared())
        .filter(|_| !body.take_over)
    {
        return Err(conflict(format!(
            "run {} is running in a service on {machine}; if that machine is gone for good, \
             resume with {{\"take_over\": true}}",
            run.id
        )));
    }
    if record.status == RunStatus::Completed {
        return Err(conflict(format!(
            "run {} completed; there is nothing to resume",
            run.id
        )));
    }
    // Checked before the run is claimed: a refused resume changes nothing.
    let workflow = check_workflow(&service, &run.source).map_err(|problems| {
        let first = problems
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        ApiError::new(
            StatusCode::CONFLICT,
            "not_resumable",
            format!("run {}'s workflow no longer validates: {first}", run.id),
        )
    })?;
    let pending = unknown_calls(&service, id).await?;
    for key in body.resend.iter().chain(&body.mark_done) {
        if !pending.contains(key) {
            let known = if pending.is_empty() {
                "it has none".to_owned()
            } else {
                format!("they are: {}", pending.join(", "))
            };
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_call",
                format!(
                    "run {} has no call `{}` whose outcome is unknown; {known}",
                    run.id,
                    plugboard_workflow::excerpt::excerpt(key)
                ),
            ));
        }
    }
    match service
        .runner
        .store()
        .claim_run(id)
        .await
        .map_err(runner_error)?
    {
        RunClaim::Claimed { .. } => {}
        RunClaim::Busy { pid } => {
            return Err(conflict(format!(
                "run {} is running in process {pid}",
                run.id
            )));
        }
        RunClaim::Completed => {
            return Err(conflict(format!(
                "run {} completed; there is nothing to resume",
                run.id
            )));
        }
        RunClaim::Unknown => return Err(ApiError::not_found("run")),
    }
    let settled = {
        let service = Arc::clone(&service);
        let (resend, mark_done) = (body.resend.clone(), body.mark_done.clone());
        tokio::task::spawn_blocking(move || settle(&service, id, &resend, &mark_done))
            .await
            .map_err(|_| internal("the run's journal could not be written"))?
    };
    if let Err(error) = settled {
        tracing::error!(run = run.id, %error, "cannot settle unknown calls");
        // Claimed but not resumed: put it back as it was, so it can be tried again.
        let _ = service
            .runner
            .store()
            .finish_run(id, record.status, record.error.as_deref())
            .await;
        return Err(internal(
            "the run's journal could not be written; see the server log",
        ));
    }
    let inputs = match record.inputs {
        Value::Object(inputs) => inputs,
        _ => Map::new(),
    };
    let mut note = format!("run {}: resumed on request", run.id);
    if !body.resend.is_empty() {
        note.push_str(&format!("; sending again: {}", body.resend.join(", ")));
    }
    if !body.mark_done.is_empty() {
        note.push_str(&format!("; marked done: {}", body.mark_done.join(", ")));
    }
    super::execute::spawn(&service, id, workflow, inputs, Some(note));
    Ok((
        StatusCode::ACCEPTED,
        Json(view::show(&service, &run).await?),
    ))
}

/// Resumes a run on the cluster: only one the cluster never took (its start was refused), which
/// is then started again. A run the cluster has is resumed by the cluster itself, and a run id
/// is executed there once.
async fn resume_on_cluster(
    service: &Arc<Service>,
    run: &crate::workflow_store::ServiceRun,
    remote: &dyn super::remote::RemoteRuns,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    let id = RunId(run.id);
    let conflict = |message: String| ApiError::new(StatusCode::CONFLICT, "not_resumable", message);
    let store = service.runner.store();
    let record = store
        .run(id)
        .await
        .map_err(runner_error)?
        .ok_or_else(|| ApiError::not_found("run"))?;
    if !matches!(record.status, RunStatus::Failed | RunStatus::Cancelled) {
        return Err(conflict(format!(
            "run {} executes on {}, which resumes it on another worker by itself",
            run.id,
            remote.describe()
        )));
    }
    store
        .finish_run(id, RunStatus::Queued, None)
        .await
        .map_err(runner_error)?;
    let started = remote
        .start(
            run.id,
            &format!("{}:{}", run.tenant, run.workflow),
            &run.source,
        )
        .await;
    if started != Ok(true) {
        // Put back as it was: nothing was started.
        let _ = store
            .finish_run(id, record.status, record.error.as_deref())
            .await;
    }
    match started {
        Ok(true) => Ok((StatusCode::ACCEPTED, Json(view::show(service, run).await?))),
        Ok(false) => Err(conflict(format!(
            "run {} ended on {}, where a run id is executed once; start a new run",
            run.id,
            remote.describe()
        ))),
        Err(why) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cluster_unavailable",
            format!("{} did not take run {}: {why}", remote.describe(), run.id),
        )),
    }
}

/// Applies the caller's word on unknown calls to the journal.
fn settle(
    service: &Service,
    run: RunId,
    resend: &[String],
    mark_done: &[String],
) -> Result<(), String> {
    let store = service.runner.store();
    let journal = StoreJournal::open(store.as_ref(), service.runner.handle().clone(), run)
        .map_err(|e| e.to_string())?;
    for key in resend {
        journal.clear_intent(key).map_err(|e| e.message)?;
    }
    for key in mark_done {
        journal.record(key, &Value::Null).map_err(|e| e.message)?;
    }
    Ok(())
}
