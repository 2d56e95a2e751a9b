//! `/v1/tenants/{tenant}/schedules`: run a deployed workflow for a tenant on a cron schedule or
//! every N seconds (poll triggers); list, show, pause, resume, delete.
//!
//! - [`timing`]: parsing a schedule's timing and computing its next fire.
//! - [`scheduler`]: the task that fires due schedules through the same path as `POST …/runs`.
//!
//! With runs on a cluster (`serve --temporal`), each schedule is also the cluster's (a Temporal
//! Schedule): the cluster fires it, a worker turns the fire into a run
//! ([`fire_on_cluster`]), and this service runs no scheduler. Creating, pausing and resuming a
//! schedule change it on the cluster first, so a refusal there changes nothing here; deleting
//! deletes it here first, then there (a fire of a schedule gone here deletes it there).
//!
//! A schedule's inputs are checked at creation like a run start (422 with every problem, the
//! tenant's connections included) and again at every fire (a connection may have gone since).

mod scheduler;
pub mod timing;

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use scheduler::{Fired, TICK, fire_on_cluster, spawn_scheduler};

use crate::Service;
use crate::auth::TenantScope;
use crate::error::{ApiError, ApiJson};
use crate::openapi::{
    ClusterUnavailable, JsonBodyErrors, KeyErrors, ProblemsBody, ScheduleNotFound, StoreFailed,
    TenantKeyErrors,
};
use crate::runs::remote::{ClusterRefusal, RemoteRuns};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::runs::{StartRun, check_start};
use crate::schedule_store::{Schedule, Timing};
use crate::store::{StoreError, now_ms};
use crate::workflows::DeployError;

/// The schedule routes.
pub fn routes() -> OpenApiRouter<Arc<Service>> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(show, delete))
        .routes(routes!(pause))
        .routes(routes!(resume))
}

/// `POST /v1/tenants/{tenant}/schedules`: exactly one of `cron` and `every_secs`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSchedule {
    /// The deployed workflow's name.
    pub workflow: String,
    /// The run inputs, checked like a run start's.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub inputs: Map<String, Value>,
    /// A cron expression in UTC: 5 fields, or 6 with seconds first.
    #[serde(default)]
    pub cron: Option<String>,
    /// An interval in seconds, at least 1.
    #[serde(default)]
    pub every_secs: Option<u64>,
    /// Created paused (does not fire until resumed).
    #[serde(default)]
    pub paused: bool,
}

/// The last run a schedule started.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LastRun {
    /// The run's id (`GET …/runs/{id}`).
    pub id: i64,
    /// Its status, as `GET …/runs/{id}` shows it.
    pub status: &'static str,
}

/// A schedule as the API shows it (never its inputs: they may hold secrets).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScheduleView {
    /// Its id.
    pub id: i64,
    /// The tenant it runs for.
    pub tenant: String,
    /// The deployed workflow it runs.
    pub workflow: String,
    /// Its cron expression, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Its interval, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every_secs: Option<u64>,
    /// Whether it is paused.
    pub paused: bool,
    /// When it fires next (ms since the Unix epoch); `null` while paused.
    pub next_fire_at_ms: Option<i64>,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// When it last fired.
    pub last_fired_at_ms: Option<i64>,
    /// The run its last fire started, with that run's status.
    pub last_run: Option<LastRun>,
    /// Why its last fire could not start a run.
    pub last_error: Option<String>,
    /// How many fires were skipped because the previous run had not ended.
    pub skipped: i64,
    /// When the most recent of them were (ms since the Unix epoch), oldest first.
    pub recent_skips_ms: Vec<i64>,
}

async fn view(service: &Service, schedule: Schedule) -> Result<ScheduleView, ApiError> {
    let last_run = match schedule.last_run_id {
        Some(id) => match service.workflows.run(id).await? {
            Some(run) => Some(LastRun {
                id,
                status: crate::runs::summary(service, &run).await?.status,
            }),
            None => None,
        },
        None => None,
    };
    let (cron, every_secs) = match schedule.timing {
        Timing::Cron(cron) => (Some(cron), None),
        Timing::Every(secs) => (None, Some(secs)),
    };
    Ok(ScheduleView {
        id: schedule.id,
        tenant: schedule.tenant,
        workflow: schedule.workflow,
        cron,
        every_secs,
        paused: schedule.paused,
        next_fire_at_ms: (!schedule.paused).then_some(schedule.next_fire_ms),
        created_at_ms: schedule.created_at_ms,
        last_fired_at_ms: schedule.last_fired_ms,
        last_run,
        last_error: schedule.last_error,
        skipped: schedule.skipped,
        recent_skips_ms: schedule.recent_skips_ms,
    })
}

#[utoipa::path(post, path = "/tenants/{tenant}/schedules", tag = "schedules", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id.")),
    request_body = CreateSchedule,
    responses(
        (status = 201, description = "Created.", body = ScheduleView),
        TenantKeyErrors, JsonBodyErrors, StoreFailed,
        (status = 422, description = "A bad timing, no such workflow, or inputs or connections that do not fit (`problems` lists them).", body = ProblemsBody),
        ClusterUnavailable,
    ))]
async fn create(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
    ApiJson(body): ApiJson<CreateSchedule>,
) -> Result<(StatusCode, Json<ScheduleView>), DeployError> {
    let timing = timing::parse(body.cron.as_deref(), body.every_secs)?;
    let start = StartRun {
        workflow: body.workflow.clone(),
        inputs: body.inputs.clone(),
    };
    check_start(&service, &scope.tenant, start).await?;
    let now = now_ms();
    let next_fire_ms = timing::first_fire(&timing, now)?;
    let schedule = Schedule {
        id: 0,
        tenant: scope.tenant.clone(),
        workflow: body.workflow,
        inputs: Value::Object(body.inputs),
        timing,
        paused: body.paused,
        next_fire_ms,
        created_at_ms: now,
        last_fired_ms: None,
        last_run_id: None,
        last_error: None,
        skipped: 0,
        recent_skips_ms: Vec::new(),
    };
    let created = service
        .schedules
        .create_schedule(schedule)
        .await
        .map_err(ApiError::from)?;
    if let Some(remote) = &service.remote
        && let Err(refusal) = remote.put_schedule(&created).await
    {
        // Not kept here when the cluster does not have it: it would never fire.
        service
            .schedules
            .delete_schedule(created.id)
            .await
            .map_err(ApiError::from)?;
        return Err(match refusal {
            ClusterRefusal::Invalid(why) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_schedule",
                format!("{} cannot keep this schedule: {why}", remote.describe()),
            ),
            ClusterRefusal::Unavailable(why) => cluster_unavailable(remote.as_ref(), &why),
        }
        .into());
    }
    Ok((StatusCode::CREATED, Json(view(&service, created).await?)))
}

/// The schedule `id` of the scope's tenant; another tenant's is 404, like one that does not exist.
async fn owned(service: &Service, scope: &TenantScope, id: &str) -> Result<Schedule, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::not_found("schedule"))?;
    match service.schedules.schedule(id).await? {
        Some(schedule) if schedule.tenant == scope.tenant => Ok(schedule),
        _ => Err(ApiError::not_found("schedule")),
    }
}

#[utoipa::path(get, path = "/tenants/{tenant}/schedules", tag = "schedules", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id.")),
    responses(
        (status = 200, description = "The tenant's schedules.", body = Vec<ScheduleView>),
        TenantKeyErrors, StoreFailed,
    ))]
async fn list(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
) -> Result<Json<Vec<ScheduleView>>, ApiError> {
    let schedules = service.schedules.schedules(Some(scope.tenant)).await?;
    let mut listed = Vec::with_capacity(schedules.len());
    for schedule in schedules {
        listed.push(view(&service, schedule).await?);
    }
    Ok(Json(listed))
}

#[utoipa::path(get, path = "/tenants/{tenant}/schedules/{schedule}", tag = "schedules", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id."), ("schedule" = String, Path, description = "The schedule's id.")),
    responses(
        (status = 200, description = "The schedule.", body = ScheduleView),
        KeyErrors, ScheduleNotFound, StoreFailed,
    ))]
async fn show(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<ScheduleView>, ApiError> {
    let schedule = owned(&service, &scope, &id).await?;
    Ok(Json(view(&service, schedule).await?))
}

#[utoipa::path(delete, path = "/tenants/{tenant}/schedules/{schedule}", tag = "schedules", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id."), ("schedule" = String, Path, description = "The schedule's id.")),
    responses(
        (status = 204, description = "Deleted; a run it started goes on."),
        KeyErrors, ScheduleNotFound, StoreFailed,
    ))]
async fn delete(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let schedule = owned(&service, &scope, &id).await?;
    // A run it already started goes on; it can be cancelled through its own route.
    delete_everywhere(&service, schedule.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/tenants/{tenant}/schedules/{schedule}/pause", tag = "schedules", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id."), ("schedule" = String, Path, description = "The schedule's id.")),
    responses(
        (status = 200, description = "Paused.", body = ScheduleView),
        KeyErrors, ScheduleNotFound, StoreFailed, ClusterUnavailable,
    ))]
async fn pause(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<ScheduleView>, ApiError> {
    set_paused(&service, &scope, &id, true).await
}

#[utoipa::path(post, path = "/tenants/{tenant}/schedules/{schedule}/resume", tag = "schedules", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id."), ("schedule" = String, Path, description = "The schedule's id.")),
    responses(
        (status = 200, description = "Resumed; `next_fire_at_ms` is set again.", body = ScheduleView),
        KeyErrors, ScheduleNotFound, StoreFailed, ClusterUnavailable,
    ))]
async fn resume(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<ScheduleView>, ApiError> {
    set_paused(&service, &scope, &id, false).await
}

/// Pausing keeps the schedule; resuming fires at the next slot after now, never for the slots
/// missed while paused.
async fn set_paused(
    service: &Service,
    scope: &TenantScope,
    id: &str,
    paused: bool,
) -> Result<Json<ScheduleView>, ApiError> {
    let schedule = owned(service, scope, id).await?;
    if let Some(remote) = &service.remote {
        // The cluster's copy first (created again if it lost it): refused, nothing changes.
        let wanted = Schedule {
            paused,
            ..schedule.clone()
        };
        if let Err(refusal) = remote.put_schedule(&wanted).await {
            return Err(cluster_unavailable(remote.as_ref(), &refusal.to_string()));
        }
    }
    let next = if paused {
        schedule.next_fire_ms
    } else {
        timing::next_after(&schedule.timing, schedule.next_fire_ms, now_ms())?
    };
    if let Err(error) = service
        .schedules
        .set_paused(schedule.id, paused, next)
        .await
    {
        // Not recorded here: the cluster goes back to what the store still says.
        if let Some(remote) = &service.remote
            && let Err(refusal) = remote.put_schedule(&schedule).await
        {
            tracing::error!(schedule = schedule.id, %refusal, "the cluster's copy of a schedule differs from the store's until the service restarts");
        }
        return Err(error.into());
    }
    let schedule = owned(service, scope, id).await?;
    Ok(Json(view(service, schedule).await?))
}

fn cluster_unavailable(remote: &dyn RemoteRuns, why: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "cluster_unavailable",
        format!("{} did not take the change: {why}", remote.describe()),
    )
}

/// Deletes schedule `id` here, then from the cluster. A cluster that cannot be told now hears of
/// it at the schedule's next fire, which finds it gone and deletes it there.
pub(crate) async fn delete_everywhere(service: &Service, id: i64) -> Result<(), StoreError> {
    service.schedules.delete_schedule(id).await?;
    scheduler::forget_on_cluster(service, id).await;
    Ok(())
}

/// At the start of a service on a cluster: every schedule in the store is made the cluster's,
/// in its paused state (schedules created while runs were in-process move onto it). One listing
/// says what the cluster holds already, so only the missing and the differing ones are put. One
/// the cluster cannot keep (a cron expression it reads otherwise) is paused here, with the
/// reason in the log and in what this returns, and the others go on; an unreachable cluster is
/// an error.
pub async fn sync_to_cluster(service: &Service) -> Result<Synced, String> {
    let mut synced = Synced::default();
    let Some(remote) = &service.remote else {
        return Ok(synced);
    };
    let schedules = service
        .schedules
        .schedules(None)
        .await
        .map_err(|error| format!("cannot read the schedules: {error}"))?;
    let held = remote
        .held_schedules()
        .await
        .map_err(|why| format!("{} did not list its schedules: {why}", remote.describe()))?;
    for schedule in schedules {
        if held.get(&schedule.id) == Some(&schedule.paused) {
            synced.on_cluster += 1;
            continue;
        }
        match remote.put_schedule(&schedule).await {
            Ok(()) => synced.on_cluster += 1,
            Err(ClusterRefusal::Invalid(why)) => {
                tracing::error!(schedule = schedule.id, tenant = schedule.tenant, %why, "the cluster cannot keep a schedule; it is paused");
                if !schedule.paused {
                    service
                        .schedules
                        .set_paused(schedule.id, true, schedule.next_fire_ms)
                        .await
                        .map_err(|error| {
                            format!("cannot pause schedule {}: {error}", schedule.id)
                        })?;
                }
                synced.refused.push(format!(
                    "schedule {} (tenant `{}`): {why}",
                    schedule.id, schedule.tenant
                ));
            }
            Err(ClusterRefusal::Unavailable(why)) => {
                return Err(format!(
                    "{} did not take schedule {} (tenant `{}`): {why}",
                    remote.describe(),
                    schedule.id,
                    schedule.tenant
                ));
            }
        }
    }
    Ok(synced)
}

/// What [`sync_to_cluster`] did.
#[derive(Debug, Default)]
pub struct Synced {
    /// How many schedules fire on the cluster.
    pub on_cluster: usize,
    /// The schedules it could not keep (now paused), each with the cluster's reason.
    pub refused: Vec<String>,
}
