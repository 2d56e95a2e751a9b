//! `/v1/tenants/{tenant}/runs`: start a run of a deployed workflow for a tenant, list and show
//! runs, cancel one, follow its events.
//!
//! A run is a runner run like `plugboard run`'s: journaled in the runner's state store (so a
//! restarted service resumes it without repeating completed calls), executed on a blocking
//! thread through the runner's [`Session`](plugboard_runner::Session). What the service adds is
//! kept in [`crate::workflow_store`]: the tenant, the exact workflow, the outputs and the events.
//!
//! Isolation: before a run starts, the workflow's connection references are rewritten to the
//! tenant's own (`{tenant}/{connection}`, see [`crate::Service::runner_connection_name`]), so
//! whatever a deployed workflow names, its runs can only reach the tenant's connections.
//!
//! - [`execute`]: running one (queued → running → completed/failed/cancelled), recovery at start.
//! - [`view`]: what the API shows of a run (status, step progress from its events, outputs).
//! - [`events`]: the server-sent event stream.
//! - [`resume`]: resuming a failed or cancelled run on request.

mod events;
mod execute;
pub mod remote;
mod resume;
mod view;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use plugboard_runner::workflow::SessionCatalog;
use plugboard_runner::{Cancellation, RunId, RunStatus};
use plugboard_workflow::{Catalog as _, Locator, Problem, ValidWorkflow};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::{Semaphore, watch};

pub(crate) use events::event_stream;
pub use execute::recover;
pub(crate) use view::show as run_view;
pub(crate) use view::summary;
pub use view::{RunSummary, RunView};

use crate::Service;
use crate::auth::TenantScope;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::openapi::{
    JsonBodyErrors, KeyErrors, ProblemsBody, RunNotFound, StoreFailed, TenantKeyErrors,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::store::now_ms;
use crate::workflow_store::ServiceRun;
use crate::workflows::{DeployError, Problems, check_workflow};

/// How many runs execute at once; more wait, `queued`. Each holds a blocking thread for its
/// whole run, and the connectors' rate limits, not threads, bound what they get done.
pub const MAX_CONCURRENT_RUNS: usize = 16;

/// The run routes.
pub fn routes() -> OpenApiRouter<Arc<Service>> {
    OpenApiRouter::new()
        .routes(routes!(start, list))
        .routes(routes!(show))
        .routes(routes!(cancel))
        .routes(routes!(resume::resume))
        .routes(routes!(events::stream))
}

/// The runs this process is executing or about to: their cancellations, and a signal that any
/// run's events or status changed (event streams wait on it).
pub struct LiveRuns {
    runs: Mutex<HashMap<i64, LiveRun>>,
    changed: watch::Sender<u64>,
    slots: Arc<Semaphore>,
    /// Set when the service stops: runs cancelled then are left `running` in the journal, so
    /// the next start resumes them like those of a killed service.
    stopping: AtomicBool,
    /// Set once the process's watch for cancellations asked through other processes runs.
    watching_cancels: AtomicBool,
}

struct LiveRun {
    cancel: Cancellation,
    started: bool,
}

impl Default for LiveRuns {
    fn default() -> Self {
        Self {
            runs: Mutex::default(),
            changed: watch::channel(0).0,
            slots: Arc::new(Semaphore::new(MAX_CONCURRENT_RUNS)),
            stopping: AtomicBool::new(false),
            watching_cancels: AtomicBool::new(false),
        }
    }
}

/// Where a live run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Queued,
    Running,
}

impl LiveRuns {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, LiveRun>> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, run: i64, cancel: Cancellation) {
        self.lock().insert(
            run,
            LiveRun {
                cancel,
                started: false,
            },
        );
        self.touch();
    }

    fn set_started(&self, run: i64) {
        if let Some(live) = self.lock().get_mut(&run) {
            live.started = true;
        }
        self.touch();
    }

    fn remove(&self, run: i64) {
        self.lock().remove(&run);
        self.touch();
    }

    /// Whether this process is executing `run`, and how far.
    pub(crate) fn phase(&self, run: i64) -> Option<Phase> {
        self.lock().get(&run).map(|live| {
            if live.started {
                Phase::Running
            } else {
                Phase::Queued
            }
        })
    }

    /// The runs this process has started executing (not those waiting for a slot).
    fn started(&self) -> Vec<RunId> {
        self.lock()
            .iter()
            .filter(|(_, live)| live.started)
            .map(|(run, _)| RunId(*run))
            .collect()
    }

    /// Cancels a started run not cancelled yet; whether it did.
    fn cancel_started(&self, run: i64) -> bool {
        match self.lock().get(&run) {
            Some(live) if live.started && !live.cancel.is_cancelled() => {
                live.cancel.cancel();
                true
            }
            _ => false,
        }
    }

    /// Whether this call is the first: the watch for cancellations starts once per process.
    fn start_watching_cancels(&self) -> bool {
        !self.watching_cancels.swap(true, Ordering::SeqCst)
    }

    /// Cancels a live run; `false` when it is not live.
    fn cancel(&self, run: i64) -> bool {
        match self.lock().get(&run) {
            Some(live) => {
                live.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Cancels every live run among `runs` and waits (at most `patience`) until none of them is
    /// live any more: a tenant being deleted must not leave a run writing for it afterwards.
    pub(crate) async fn cancel_and_wait(&self, runs: &[i64], patience: std::time::Duration) {
        for run in runs {
            self.cancel(*run);
        }
        let mut changes = self.subscribe();
        let deadline = tokio::time::Instant::now() + patience;
        while runs.iter().any(|run| self.lock().contains_key(run)) {
            tokio::select! {
                _ = changes.changed() => {}
                () = tokio::time::sleep_until(deadline) => return,
            }
        }
    }

    /// Stops every run at its next request or wait, to be resumed when the service starts again,
    /// and waits (at most `patience`) until none is left; returns how many are still live.
    pub async fn stop_all(&self, patience: std::time::Duration) -> usize {
        self.stopping.store(true, Ordering::SeqCst);
        for live in self.lock().values() {
            live.cancel.cancel();
        }
        let mut changes = self.subscribe();
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let left = self.lock().len();
            if left == 0 {
                return 0;
            }
            tokio::select! {
                _ = changes.changed() => {}
                () = tokio::time::sleep_until(deadline) => return self.lock().len(),
            }
        }
    }

    /// Whether the service is stopping (see [`LiveRuns::stop_all`]).
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Wakes every event stream.
    fn touch(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

/// `POST /v1/tenants/{tenant}/runs`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    /// The deployed workflow's name.
    pub workflow: String,
    /// The run inputs, checked against the workflow's `inputs` schema.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub inputs: Map<String, Value>,
}

/// The deployed `source` with every connection reference moved under `tenant`'s connections.
fn for_tenant(source: &str, tenant: &str) -> Result<String, ApiError> {
    let mut document: Value = serde_json::from_str(source).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the deployed workflow cannot be read; deploy it again",
        )
    })?;
    if let Some(connections) = document
        .get_mut("connections")
        .and_then(Value::as_object_mut)
    {
        for reference in connections.values_mut() {
            if let Some(name) = reference.get_mut("connection")
                && let Some(own) = name.as_str()
            {
                *name = Value::String(Service::runner_connection_name(tenant, own));
            }
        }
    }
    serde_json::to_string_pretty(&document).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the workflow cannot be prepared",
        )
    })
}

/// Checks, in this order, the workflow, the inputs and the tenant's connections; every problem
/// of the first failing check. Positions point into the deployed file (`deployed`).
fn prepare_run(
    service: &Service,
    tenant: &str,
    deployed: &str,
    source: &str,
    inputs: &Map<String, Value>,
) -> Result<(ValidWorkflow, Map<String, Value>), Problems> {
    let valid = check_workflow(service, source).map_err(|problems| Problems {
        code: "invalid_workflow",
        problems,
    })?;
    let inputs = valid.check_inputs(inputs).map_err(|problems| Problems {
        code: "invalid_inputs",
        problems,
    })?;
    let locator = Locator::new(deployed);
    let catalog = SessionCatalog::new(service.runner.registry(), Some(&service.runner));
    let mut problems = Vec::new();
    for (local, reference) in &valid.workflow().connections {
        let own = reference
            .connection
            .strip_prefix(&format!("{tenant}/"))
            .unwrap_or(&reference.connection);
        let installed = service
            .runner
            .block_on(service.runner.store().connection(&reference.connection));
        let messages = match installed {
            // The runner's own message would advise `plugboard connect`, a command the
            // tenant does not have.
            Ok(None) => vec![format!(
                "tenant `{tenant}` has no connection `{own}`; install a `{}` connection named \
                 `{own}` for it first",
                reference.connector
            )],
            _ => catalog
                .connection_problems(&reference.connection, &reference.connector)
                .into_iter()
                .map(|message| format!("tenant `{tenant}`'s connection `{own}`: {message}"))
                .collect(),
        };
        for message in messages {
            let pointer = format!("/connections/{local}/connection");
            let at = locator.position(&pointer);
            problems.push(Problem {
                pointer,
                line: at.line,
                column: at.column,
                message,
            });
        }
    }
    if problems.is_empty() {
        Ok((valid, inputs))
    } else {
        Err(Problems {
            code: "connection_problems",
            problems,
        })
    }
}

fn internal(what: &str) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", what)
}

fn runner_error(error: plugboard_runner::StoreError) -> ApiError {
    tracing::error!(%error, "runner store failed");
    internal("the runner's store failed; see the server log")
}

#[utoipa::path(post, path = "/tenants/{tenant}/runs", tag = "runs", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id.")),
    request_body = StartRun,
    responses(
        (status = 202, description = "Queued; follow it with `GET …/runs/{run}` or its events.", body = RunView),
        TenantKeyErrors, JsonBodyErrors, StoreFailed,
        (status = 422, description = "No such workflow, or its inputs or the tenant's connections do not fit (`invalid_inputs`, `connection_problems` list `problems`).", body = ProblemsBody),
        (status = 503, description = "The cluster runs execute on did not take it (`cluster_unavailable`); the run is recorded as failed.", body = ErrorBody),
    ))]
async fn start(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
    ApiJson(body): ApiJson<StartRun>,
) -> Result<(StatusCode, Json<RunView>), DeployError> {
    let record = start_run(&service, &scope.tenant, body).await?;
    let view = view::show(&service, &record).await?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// A run checked and ready to start: what [`check_start`] found.
pub(crate) struct CheckedRun {
    workflow_name: String,
    source: String,
    workflow: ValidWorkflow,
    inputs: Map<String, Value>,
}

/// Checks a run start for `tenant` as `POST …/runs` does (workflow deployed, inputs, the
/// tenant's connections), without starting anything; schedules check their inputs with it.
pub(crate) async fn check_start(
    service: &Arc<Service>,
    tenant: &str,
    body: StartRun,
) -> Result<CheckedRun, DeployError> {
    let Some(deployed) = service
        .workflows
        .workflow(body.workflow.clone())
        .await
        .map_err(ApiError::from)?
    else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_workflow",
            format!(
                "no workflow named `{}` is deployed",
                plugboard_workflow::excerpt::excerpt(&body.workflow)
            ),
        )
        .into());
    };
    let source = for_tenant(&deployed.source, tenant)?;
    let prepared = {
        let service = Arc::clone(service);
        let tenant = tenant.to_owned();
        let source = source.clone();
        // Connection checks read the runner's store synchronously: not on a runtime worker.
        tokio::task::spawn_blocking(move || {
            prepare_run(&service, &tenant, &deployed.source, &source, &body.inputs)
        })
        .await
        .map_err(|_| internal("the run's checks stopped abnormally"))?
    };
    let (workflow, inputs) = prepared.map_err(DeployError::Problems)?;
    Ok(CheckedRun {
        workflow_name: body.workflow,
        source,
        workflow,
        inputs,
    })
}

/// Starts a run of a deployed workflow for `tenant`: the one path every run takes, whether a
/// client asked (`POST …/runs`) or a schedule fired, so both get the same checks, isolation,
/// journal and events.
pub(crate) async fn start_run(
    service: &Arc<Service>,
    tenant: &str,
    body: StartRun,
) -> Result<ServiceRun, DeployError> {
    let checked = check_start(service, tenant, body).await?;
    let label = format!("{tenant}:{}", checked.workflow_name);
    let store = service.runner.store();
    let digest = plugboard_runner::workflow::workflow_digest(&checked.workflow);
    let inputs = Value::Object(checked.inputs.clone());
    // On a cluster the run is not this process's: queued, for the worker that picks it up.
    let id = match service.remote {
        None => store.create_run(&label, &digest, &inputs).await,
        Some(_) => store.queue_run(&label, &digest, &inputs).await,
    }
    .map_err(runner_error)?;
    let record = ServiceRun {
        id: id.0,
        tenant: tenant.to_owned(),
        workflow: checked.workflow_name,
        source: checked.source,
        created_at_ms: now_ms(),
        outputs: None,
    };
    service
        .workflows
        .add_run(record.clone())
        .await
        .map_err(ApiError::from)?;
    match &service.remote {
        None => execute::spawn(service, id, checked.workflow, checked.inputs, None),
        Some(remote) => {
            if let Err(why) = remote.start(id.0, &label, &record.source).await {
                let why = format!("{} did not take the run: {why}", remote.describe());
                tracing::error!(run = id.0, %why, "cannot start a run");
                // Failed where its events are read from; `POST …/resume` starts it again.
                let event = serde_json::json!(
                    {"event": "run_failed", "run": id.0, "status": "failed", "error": why}
                );
                let _ = store.append_run_event(id, &event).await;
                let _ = store.finish_run(id, RunStatus::Failed, Some(&why)).await;
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cluster_unavailable",
                    format!("run {} could not be started: {why}", id.0),
                )
                .into());
            }
        }
    }
    Ok(record)
}

/// The run `id` of the scope's tenant; another tenant's run is 404, like one that does not exist.
async fn owned_run(
    service: &Service,
    scope: &TenantScope,
    id: &str,
) -> Result<ServiceRun, ApiError> {
    tenant_run(service, &scope.tenant, id).await
}

/// The run `id` of `tenant` (for the runs page, whose session names the tenant); another
/// tenant's run is 404, like one that does not exist.
pub(crate) async fn tenant_run(
    service: &Service,
    tenant: &str,
    id: &str,
) -> Result<ServiceRun, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::not_found("run"))?;
    match service.workflows.run(id).await? {
        Some(run) if run.tenant == tenant => Ok(run),
        _ => Err(ApiError::not_found("run")),
    }
}

#[utoipa::path(get, path = "/tenants/{tenant}/runs", tag = "runs", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id.")),
    responses(
        (status = 200, description = "The tenant's runs, newest first.", body = Vec<RunSummary>),
        TenantKeyErrors, StoreFailed,
    ))]
async fn list(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
) -> Result<Json<Vec<RunSummary>>, ApiError> {
    let runs = service.workflows.runs(Some(scope.tenant)).await?;
    let mut listed = Vec::with_capacity(runs.len());
    for run in &runs {
        listed.push(view::summary(&service, run).await?);
    }
    Ok(Json(listed))
}

#[utoipa::path(get, path = "/tenants/{tenant}/runs/{run}", tag = "runs", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id."), ("run" = String, Path, description = "The run's id.")),
    responses(
        (status = 200, description = "The run with its steps and outputs.", body = RunView),
        KeyErrors, RunNotFound, StoreFailed,
    ))]
async fn show(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<RunView>, ApiError> {
    let run = owned_run(&service, &scope, &id).await?;
    Ok(Json(view::show(&service, &run).await?))
}

/// `POST …/cancel`: 202 with the run; the run stops at its next request or wait and ends
/// `cancelled`, whichever service process on a shared store executes it. 409 for a run that
/// already ended.
#[utoipa::path(post, path = "/tenants/{tenant}/runs/{run}/cancel", tag = "runs", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id."), ("run" = String, Path, description = "The run's id.")),
    responses(
        (status = 202, description = "Cancelling.", body = RunView),
        KeyErrors, RunNotFound, StoreFailed,
        (status = 409, description = "The run already ended (`run_ended`), or, on a state file of one machine, another process there executes it (`running_elsewhere`).", body = ErrorBody),
        (status = 503, description = "The cluster the run executes on did not take the cancellation (`cluster_unavailable`).", body = ErrorBody),
    ))]
async fn cancel(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
    Path((_, id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    let run = owned_run(&service, &scope, &id).await?;
    let cancelled_here = service.remote.is_none() && service.live_runs.cancel(run.id);
    if !cancelled_here {
        ask_for_cancel(&service, &run).await?;
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(view::show(&service, &run).await?),
    ))
}

/// Asks whoever executes `run` (not this process) to cancel it, or says why that cannot be.
async fn ask_for_cancel(service: &Service, run: &ServiceRun) -> Result<(), ApiError> {
    match ask_to_stop(service, runner_id(run), |status| !status.has_ended()).await {
        Ok(StopAsked::Asked) => Ok(()),
        Ok(StopAsked::Ended) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "run_ended",
            format!("run {} has already ended", run.id),
        )),
        Ok(StopAsked::OnlyByItsProcess) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "running_elsewhere",
            format!(
                "run {} is executing in another process on this machine; only that process can \
                 cancel it",
                run.id
            ),
        )),
        Err(StopFailure::Store(error)) => Err(runner_error(error)),
        Err(StopFailure::Cluster(why)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cluster_unavailable",
            format!(
                "{} did not take the cancellation of run {}: {why}",
                service
                    .remote
                    .as_ref()
                    .map_or_else(|| "the cluster".to_owned(), |remote| remote.describe()),
                run.id
            ),
        )),
    }
}

/// A run's events after sequence number `after`, at most `limit`: the service's own log of a run
/// it executes, or what the worker of a run on a cluster published to the shared store.
pub(crate) async fn events_after(
    service: &Service,
    run: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, Value)>, ApiError> {
    if service.remote.is_some() {
        let limit = usize::try_from(limit).unwrap_or(0);
        return service
            .runner
            .store()
            .run_events_after(RunId(run), after, limit)
            .await
            .map_err(runner_error);
    }
    Ok(service.workflows.events_after(run, after, limit).await?)
}

/// What asking for a run that this process does not execute to stop did.
enum StopAsked {
    /// Asked: the process executing it (through the shared store) or the cluster stops it.
    Asked,
    /// It is not going any more (or not known).
    Ended,
    /// On a state file of one machine, another live process there executes it: only that
    /// process can stop it.
    OnlyByItsProcess,
}

/// Why a stop could not be asked for.
enum StopFailure {
    /// The store failed.
    Store(plugboard_runner::StoreError),
    /// The cluster did not take the cancellation.
    Cluster(String),
}

/// Asks whoever executes run `run` to stop it, when `going(status)` says it still is: the
/// cluster (one no worker has taken yet is recorded cancelled at once), or through a shared
/// store the service process executing it (which reads it within a second). The one way to stop
/// a run this process does not execute: cancelling one, and stopping a deleted tenant's.
async fn ask_to_stop(
    service: &Service,
    run: RunId,
    going: impl Fn(RunStatus) -> bool,
) -> Result<StopAsked, StopFailure> {
    let store = service.runner.store();
    let status = match store.run(run).await.map_err(StopFailure::Store)? {
        Some(record) if going(record.status) => record.status,
        _ => return Ok(StopAsked::Ended),
    };
    if let Some(remote) = &service.remote {
        cancel_remote(service, remote.as_ref(), run, status)
            .await
            .map_err(StopFailure::Cluster)?;
        return Ok(StopAsked::Asked);
    }
    if !store.is_shared() {
        return Ok(StopAsked::OnlyByItsProcess);
    }
    // `false`: it ended between the read and the request.
    match store
        .request_cancel(run)
        .await
        .map_err(StopFailure::Store)?
    {
        true => Ok(StopAsked::Asked),
        false => Ok(StopAsked::Ended),
    }
}

/// Cancels run `run` (now `status`, not ended) on the cluster; one no worker has taken yet is
/// recorded cancelled at once (a worker that takes it meanwhile stops it at its first
/// heartbeat). `Err`: the cluster did not take the request.
async fn cancel_remote(
    service: &Service,
    remote: &dyn remote::RemoteRuns,
    run: RunId,
    status: RunStatus,
) -> Result<(), String> {
    remote.cancel(run.0).await?;
    if status == RunStatus::Queued {
        let store = service.runner.store();
        let why = "cancelled before a worker took it";
        if let Err(error) = store.finish_run(run, RunStatus::Cancelled, Some(why)).await {
            tracing::error!(run = run.0, %error, "cannot record a run cancelled");
        }
        let event = serde_json::json!(
            {"event": "run_failed", "run": run.0, "status": "cancelled", "error": why}
        );
        let _ = store.append_run_event(run, &event).await;
    }
    Ok(())
}

/// Stops `runs` before their tenant goes, waiting (at most `patience`) until none is left
/// going: this process's are cancelled here; another service process's on a shared store are
/// asked to cancel through the store (that process reads it within a second); on a cluster,
/// each one not ended is cancelled there and its worker stops it within a heartbeat. Only then
/// do the tenant's connections go, so no run of a deleted tenant writes, or fails for want of a
/// connection, afterwards.
pub(crate) async fn stop_runs(service: &Service, runs: &[i64], patience: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + patience;
    let store = service.runner.store();
    // Other processes (or the cluster) are asked first, so their runs stop while this process's
    // do, all within one `patience`.
    let mut going = Vec::new();
    if service.remote.is_some() || store.is_shared() {
        for run in runs
            .iter()
            .filter(|run| service.live_runs.phase(**run).is_none())
        {
            match ask_to_stop(service, RunId(*run), |status| still_going(service, status)).await {
                Ok(StopAsked::Asked) => going.push(*run),
                Ok(StopAsked::Ended | StopAsked::OnlyByItsProcess) => {}
                Err(StopFailure::Store(error)) => {
                    tracing::error!(run, %error, "cannot ask a run to stop");
                }
                Err(StopFailure::Cluster(why)) => {
                    tracing::warn!(run, %why, "a run's cancellation was not taken");
                }
            }
        }
    }
    service
        .live_runs
        .cancel_and_wait(
            runs,
            deadline.saturating_duration_since(tokio::time::Instant::now()),
        )
        .await;
    while !going.is_empty() && tokio::time::Instant::now() < deadline {
        let mut still = Vec::new();
        for run in going {
            if let Ok(Some(record)) = store.run(RunId(run)).await
                && still_going(service, record.status)
            {
                still.push(run);
            }
        }
        going = still;
        if !going.is_empty() {
            tokio::time::sleep(STOP_POLL).await;
        }
    }
}

/// Whether a run in `status` may still make calls: not ended, or, on a cluster, interrupted
/// (the cluster retries it).
pub(crate) fn still_going(service: &Service, status: RunStatus) -> bool {
    !status.has_ended() || (service.remote.is_some() && status == RunStatus::Interrupted)
}

/// How often [`stop_runs`] looks whether the runs it cancelled elsewhere have ended.
const STOP_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// The runner's id of a service run.
fn runner_id(run: &ServiceRun) -> RunId {
    RunId(run.id)
}
