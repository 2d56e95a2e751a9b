//! `/v1/tenants`: the admin creates, lists and deletes tenants and issues their keys; a tenant's
//! own key may read its own record.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Service;
use crate::auth::{Admin, TenantScope, generate_key, hash_key};
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::openapi::{AdminKeyErrors, JsonBodyErrors, KeyErrors, StoreFailed};
use crate::store::Tenant;

/// How long deleting a tenant waits for its running runs to stop.
const RUNS_STOP_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);
/// How long it waits for a run a schedule's fire started while the tenant was being deleted.
const LATE_RUNS_STOP_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// The tenant routes.
pub fn routes() -> OpenApiRouter<Arc<Service>> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(show, delete))
        .routes(routes!(new_key))
}

/// `POST /v1/tenants`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// Letters, digits, `-` and `_`; 1 to 64 characters.
    pub id: String,
}

/// A tenant with a key that is shown this once.
#[derive(Serialize, ToSchema)]
pub struct TenantWithKey {
    /// The tenant.
    pub tenant: Tenant,
    /// The tenant-scoped API key; only its hash is kept.
    pub api_key: String,
}

fn check_id(id: &str) -> Result<(), ApiError> {
    crate::names::check(id, "invalid_tenant_id", "`id`")
}

fn new_api_key() -> Result<String, ApiError> {
    generate_key().map_err(|error| {
        tracing::error!(%error, "no randomness for a key");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "no randomness available",
        )
    })
}

#[utoipa::path(post, path = "/tenants", tag = "tenants", security(("admin_key" = [])),
    request_body = CreateTenant,
    responses(
        (status = 201, description = "Created; `api_key` is shown only now.", body = TenantWithKey),
        AdminKeyErrors, JsonBodyErrors, StoreFailed,
        (status = 409, description = "The id is taken.", body = ErrorBody),
        (status = 422, description = "A bad `id` or body.", body = ErrorBody),
    ))]
async fn create(
    _: Admin,
    State(service): State<Arc<Service>>,
    ApiJson(body): ApiJson<CreateTenant>,
) -> Result<(StatusCode, Json<TenantWithKey>), ApiError> {
    check_id(&body.id)?;
    let api_key = new_api_key()?;
    if !service
        .store
        .create_tenant(body.id.clone(), hash_key(&api_key))
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "tenant_exists",
            format!("tenant `{}` already exists", body.id),
        ));
    }
    let tenant = service
        .store
        .tenant(body.id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok((StatusCode::CREATED, Json(TenantWithKey { tenant, api_key })))
}

#[utoipa::path(get, path = "/tenants", tag = "tenants", security(("admin_key" = [])),
    responses(
        (status = 200, description = "Every tenant.", body = Vec<Tenant>),
        AdminKeyErrors, StoreFailed,
    ))]
async fn list(
    _: Admin,
    State(service): State<Arc<Service>>,
) -> Result<Json<Vec<Tenant>>, ApiError> {
    Ok(Json(service.store.tenants().await?))
}

#[utoipa::path(get, path = "/tenants/{tenant}", tag = "tenants", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id.")),
    responses(
        (status = 200, description = "The tenant.", body = Tenant),
        KeyErrors, StoreFailed,
        (status = 404, description = "No such tenant, or another tenant's.", body = ErrorBody),
    ))]
async fn show(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
) -> Result<Json<Tenant>, ApiError> {
    service
        .store
        .tenant(scope.tenant)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("tenant"))
}

/// Deleting is for the admin only; a tenant's own key gets 403 (it can see the tenant). It
/// removes the tenant's connections and tokens, pending installs and connect links too.
#[utoipa::path(delete, path = "/tenants/{tenant}", tag = "tenants", security(("admin_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id.")),
    responses(
        (status = 204, description = "Deleted with its connections, runs and schedules."),
        AdminKeyErrors, StoreFailed,
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ))]
async fn delete(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
) -> Result<StatusCode, ApiError> {
    if !scope.by_admin {
        return Err(ApiError::admin_only());
    }
    // Its schedules go first (nothing new fires), then its runs stop, then its connections and
    // tokens go: if this fails, the tenant is still there to retry. Its run records go last.
    for schedule in service
        .schedules
        .schedules(Some(scope.tenant.clone()))
        .await?
    {
        crate::schedules::delete_everywhere(&service, schedule.id).await?;
    }
    let runs: Vec<i64> = (service.workflows.runs(Some(scope.tenant.clone())).await?)
        .iter()
        .map(|run| run.id)
        .collect();
    crate::runs::stop_runs(&service, &runs, RUNS_STOP_PATIENCE).await;
    // A fire that was starting a run as its schedule went (on a cluster's worker) has made it
    // by now: stopped too, briefly (it has barely begun).
    let late: Vec<i64> = (service.workflows.runs(Some(scope.tenant.clone())).await?)
        .iter()
        .map(|run| run.id)
        .filter(|run| !runs.contains(run))
        .collect();
    if !late.is_empty() {
        crate::runs::stop_runs(&service, &late, LATE_RUNS_STOP_PATIENCE).await;
    }
    crate::connections::remove_tenant_connections(&service, scope.tenant.clone()).await?;
    if !service.store.delete_tenant(scope.tenant.clone()).await? {
        return Err(ApiError::not_found("tenant"));
    }
    service.workflows.delete_runs_of(scope.tenant).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/tenants/{tenant}/keys", tag = "tenants", security(("admin_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id.")),
    responses(
        (status = 201, description = "A new key, shown only now; older keys stay valid.", body = TenantWithKey),
        AdminKeyErrors, StoreFailed,
        (status = 404, description = "No such tenant.", body = ErrorBody),
    ))]
async fn new_key(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
) -> Result<(StatusCode, Json<TenantWithKey>), ApiError> {
    if !scope.by_admin {
        return Err(ApiError::admin_only());
    }
    let api_key = new_api_key()?;
    if !service
        .store
        .add_tenant_key(scope.tenant.clone(), hash_key(&api_key))
        .await?
    {
        return Err(ApiError::not_found("tenant"));
    }
    let tenant = service
        .store
        .tenant(scope.tenant)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok((StatusCode::CREATED, Json(TenantWithKey { tenant, api_key })))
}
