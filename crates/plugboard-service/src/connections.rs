//! Connections of a tenant: installing them (the hosted OAuth2 authorization-code flow, or
//! settings stored directly for API-key and keyless connectors), the callback that finishes an
//! install, and listing, testing and deleting them without ever showing a secret.
//!
//! A tenant's connection `name` lives in the runner's store as
//! [`Service::runner_connection_name`] (`{tenant}/{name}`); a route only ever looks under the
//! caller's own tenant prefix, so a name from another tenant cannot be reached. The OAuth flow
//! itself is the runner's ([`Session::begin_authorization`], [`Session::complete_authorization`]),
//! the same code `plugboard connect` runs; this module only keeps the pending half server-side
//! between the two calls.
//!
//! [`Session::begin_authorization`]: plugboard_runner::Session::begin_authorization
//! [`Session::complete_authorization`]: plugboard_runner::Session::complete_authorization

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use plugboard_runner::{
    Begun, ConnectError, ConnectOptions, ConnectionRecord, PendingAuthorization,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::Service;
use crate::apps::{masked, runner_store_failed};
use crate::auth::{TenantScope, generate_key, hash_key};
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::openapi::{
    ConnectionDoc, ConnectionNotFound, ConnectionTestDoc, JsonBodyErrors, KeyErrors, StoreFailed,
    TenantKeyErrors,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::install_store::{PendingInstall, now_ms};
use crate::pages::{Page, message_page};

/// Where providers send the browser back, under the public URL.
pub const CALLBACK_PATH: &str = "/connector/callback";

/// The most unexpired pending installs and connect links one tenant may hold at once; far
/// above what people clicking "connect" need, low enough that a runaway client cannot fill the
/// service's store.
pub const MAX_OPEN_INSTALLS: i64 = 100;

/// Refuses (429) a new pending install or connect link when the tenant already holds
/// [`MAX_OPEN_INSTALLS`].
pub(crate) async fn check_open_installs(service: &Service, tenant: &str) -> Result<(), ApiError> {
    if service.store.open_installs(tenant.to_owned()).await? >= MAX_OPEN_INSTALLS {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_pending_installs",
            format!(
                "this tenant has {MAX_OPEN_INSTALLS} unfinished installs and connect links; \
                 finish some or wait until they expire"
            ),
        ));
    }
    Ok(())
}

/// The tenant's connection routes (tenant key or admin).
pub fn routes() -> OpenApiRouter<Arc<Service>> {
    OpenApiRouter::new()
        .routes(routes!(install, list))
        .routes(routes!(show, delete))
        .routes(routes!(test))
}

/// The provider's redirect; it carries no API key, only the one-time `state`.
pub fn callback_routes() -> Router<Arc<Service>> {
    Router::new().route(CALLBACK_PATH, get(callback))
}

/// Runs runner work (which blocks) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    service: &Arc<Service>,
    work: impl FnOnce(&Service) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let service = Arc::clone(service);
    tokio::task::spawn_blocking(move || work(&service))
        .await
        .map_err(|error| {
            tracing::error!(%error, "a blocking task failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the request's task failed; see the server log",
            )
        })
}

/// `POST /v1/tenants/{tenant}/connections`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallRequest {
    /// The connector id, e.g. `constant-contact`.
    pub connector: String,
    /// The connection's name within the tenant: letters, digits, `-`, `_`; 1 to 64 characters.
    pub name: String,
    /// Connection-level settings (an API key, a base URL…); none for Constant Contact.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: Map<String, Value>,
}

/// How an install started.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Started {
    /// Send the user to `authorization_url`; the provider comes back to the callback.
    AuthorizationRequired {
        /// The provider's consent page, with this install's `state` and PKCE challenge.
        authorization_url: String,
        /// When the `state` stops being accepted (seconds since the epoch).
        expires_at: i64,
    },
    /// Installed at once (no authorization needed).
    Installed {
        /// The connection, as listed.
        #[schema(value_type = ConnectionDoc)]
        connection: Value,
    },
}

pub(crate) fn check_name(name: &str) -> Result<(), ApiError> {
    crate::names::check(name, "invalid_name", "`name`")
}

/// A runner install error as the API reports it; none of these messages carries a value.
fn install_error(error: ConnectError) -> ApiError {
    match error {
        ConnectError::UnknownConnector(id) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_connector",
            format!("no connector `{id}` is loaded"),
        ),
        ConnectError::Settings(error) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_settings",
            error
                .problems
                .iter()
                .map(|p| format!("{}: {}", p.pointer, p.message))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        ConnectError::Store(error) => runner_store_failed(error),
        other @ (ConnectError::Unusable(_)
        | ConnectError::Exchange(_)
        | ConnectError::RedirectUri { .. }) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unusable_connection",
            other.to_string(),
        ),
        other => {
            tracing::warn!(error = %other, "an install failed");
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "install_failed",
                other.to_string(),
            )
        }
    }
}

/// Starts an install for `tenant` (shared by the API and the connect page): stores a direct
/// install at once, or keeps the pending authorization (hashed `state`) and returns its URL.
pub(crate) async fn start_install(
    service: &Arc<Service>,
    tenant: &str,
    request: InstallRequest,
) -> Result<Started, ApiError> {
    check_name(&request.name)?;
    let options = ConnectOptions {
        connector_id: request.connector.clone(),
        name: Service::runner_connection_name(tenant, &request.name),
        settings: request.settings,
        endpoints: service.endpoints.get(&request.connector).cloned(),
        timeout: Duration::ZERO,
    };
    let begun = blocking(service, move |service| {
        service
            .runner
            .begin_authorization(&options, Some(&service.callback_url()))
    })
    .await?
    .map_err(install_error)?;
    match begun {
        Begun::Installed(record) => {
            tracing::info!(%tenant, connection = %request.name, connector = %record.connector_id, "installed");
            let shown = blocking(service, move |service| describe(service, &record)).await?;
            Ok(Started::Installed { connection: shown })
        }
        Begun::Authorize(pending) => {
            check_open_installs(service, tenant).await?;
            let expires_at_ms = now_ms().saturating_add(
                i64::try_from(service.install_expiry.as_millis()).unwrap_or(i64::MAX),
            );
            let authorization = serde_json::to_string(&pending).map_err(|error| {
                tracing::error!(%error, "cannot serialize a pending authorization");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "cannot keep the install; see the server log",
                )
            })?;
            service
                .store
                .put_pending_install(PendingInstall {
                    state_hash: hash_key(&pending.state),
                    tenant: tenant.to_owned(),
                    name: request.name.clone(),
                    connector: pending.connector_id.clone(),
                    authorization,
                    expires_at_ms,
                })
                .await?;
            tracing::info!(%tenant, connection = %request.name, connector = %pending.connector_id, "install started");
            Ok(Started::AuthorizationRequired {
                authorization_url: pending.authorization_url,
                expires_at: expires_at_ms.div_euclid(1000),
            })
        }
    }
}

#[utoipa::path(post, path = "/tenants/{tenant}/connections", tag = "connections", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id.")),
    request_body = InstallRequest,
    responses(
        (status = 201, description = "Installed at once (`status: installed`).", body = Started),
        (status = 202, description = "Send the user to `authorization_url` (`status: authorization_required`).", body = Started),
        TenantKeyErrors, JsonBodyErrors, StoreFailed,
        (status = 422, description = "A bad name, unknown connector, or invalid settings.", body = ErrorBody),
        (status = 429, description = "Too many unfinished installs.", body = ErrorBody),
    ))]
async fn install(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
    ApiJson(body): ApiJson<InstallRequest>,
) -> Result<Response, ApiError> {
    let started = start_install(&service, &scope.tenant, body).await?;
    let status = match started {
        Started::AuthorizationRequired { .. } => StatusCode::ACCEPTED,
        Started::Installed { .. } => StatusCode::CREATED,
    };
    Ok((status, Json(started)).into_response())
}

/// A connection as any response shows it: secret settings as `{"set": …}`, endpoints, and
/// whether tokens are held (never the tokens).
fn describe(service: &Service, record: &ConnectionRecord) -> Value {
    let name = record
        .name
        .split_once('/')
        .map_or(record.name.as_str(), |(_, name)| name);
    let settings = service
        .runner
        .registry()
        .get(&record.connector_id)
        .map_or_else(
            // A connector no longer loaded: its schema is unknown, so show no values at all.
            || {
                record
                    .settings
                    .keys()
                    .map(|k| (k.clone(), json!({"set": true})))
                    .collect()
            },
            |connector| masked(connector.manifest(), &record.settings),
        );
    let tokens = service
        .runner
        .block_on(service.runner.store().tokens(&record.name))
        .ok()
        .flatten();
    json!({
        "name": name,
        "connector": record.connector_id,
        "settings": settings,
        "endpoints": record.endpoints,
        "tokens": {
            "present": tokens.is_some(),
            "expires_at": tokens.as_ref().and_then(|t| t.tokens.expires_at),
            "needs_reauth": tokens.as_ref().and_then(|t| t.needs_reauth.clone()),
        },
    })
}

/// The tenant's connection records (runner names under its prefix).
fn tenant_records(service: &Service, tenant: &str) -> Result<Vec<ConnectionRecord>, ApiError> {
    let prefix = Service::runner_connection_name(tenant, "");
    Ok(service
        .runner
        .block_on(service.runner.store().connections())
        .map_err(runner_store_failed)?
        .into_iter()
        .filter(|record| record.name.starts_with(&prefix))
        .collect())
}

#[utoipa::path(get, path = "/tenants/{tenant}/connections", tag = "connections", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id.")),
    responses(
        (status = 200, description = "The tenant's connections.", body = Vec<ConnectionDoc>),
        TenantKeyErrors, StoreFailed,
    ))]
async fn list(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
) -> Result<Json<Vec<Value>>, ApiError> {
    blocking(&service, move |service| {
        let records = tenant_records(service, &scope.tenant)?;
        Ok(Json(records.iter().map(|r| describe(service, r)).collect()))
    })
    .await?
}

/// The tenant's connection `name`, or 404.
fn record_of(service: &Service, tenant: &str, name: &str) -> Result<ConnectionRecord, ApiError> {
    check_name(name).map_err(|_| ApiError::not_found("connection"))?;
    service
        .runner
        .block_on(
            service
                .runner
                .store()
                .connection(&Service::runner_connection_name(tenant, name)),
        )
        .map_err(runner_store_failed)?
        .ok_or_else(|| ApiError::not_found("connection"))
}

#[utoipa::path(get, path = "/tenants/{tenant}/connections/{name}", tag = "connections", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id."), ("name" = String, Path, description = "The connection's name within the tenant.")),
    responses(
        (status = 200, description = "The connection.", body = ConnectionDoc),
        KeyErrors, ConnectionNotFound, StoreFailed,
    ))]
async fn show(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
    Path((_, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    blocking(&service, move |service| {
        let record = record_of(service, &scope.tenant, &name)?;
        Ok(Json(describe(service, &record)))
    })
    .await?
}

#[utoipa::path(delete, path = "/tenants/{tenant}/connections/{name}", tag = "connections", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id."), ("name" = String, Path, description = "The connection's name within the tenant.")),
    responses(
        (status = 204, description = "Deleted with its tokens."),
        KeyErrors, ConnectionNotFound, StoreFailed,
    ))]
async fn delete(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
    Path((_, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    blocking(&service, move |service| {
        let record = record_of(service, &scope.tenant, &name)?;
        service
            .runner
            .block_on(service.runner.store().delete_connection(&record.name))
            .map_err(runner_store_failed)?;
        tracing::info!(tenant = %scope.tenant, connection = %name, "connection deleted");
        Ok(StatusCode::NO_CONTENT)
    })
    .await?
}

/// Checks a connection: with OAuth tokens, refreshes them now (the provider confirms the grant
/// and the app's credentials; the rotated tokens are stored); otherwise resolves its settings
/// as a run would (no request is sent: which read is cheap is the connector's business).
#[utoipa::path(post, path = "/tenants/{tenant}/connections/{name}/test", tag = "connections", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id."), ("name" = String, Path, description = "The connection's name within the tenant.")),
    responses(
        (status = 200, description = "The check's outcome (`ok` false says why).", body = ConnectionTestDoc),
        KeyErrors, ConnectionNotFound, StoreFailed,
    ))]
async fn test(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
    Path((_, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    blocking(&service, move |service| {
        let record = record_of(service, &scope.tenant, &name)?;
        let has_tokens = service
            .runner
            .block_on(service.runner.store().tokens(&record.name))
            .map_err(runner_store_failed)?
            .is_some();
        let (check, outcome) = if has_tokens {
            (
                "token_refresh",
                service.runner.refresh_now(&record.name).map(|at| json!(at)),
            )
        } else {
            (
                "settings",
                service.runner.prepare(&record.name).map(|_| Value::Null),
            )
        };
        Ok(Json(match outcome {
            Ok(expires_at) => json!({"ok": true, "check": check, "expires_at": expires_at}),
            Err(error) => {
                tracing::info!(tenant = %scope.tenant, connection = %name, %error, "connection test failed");
                json!({"ok": false, "check": check, "error": error.to_string()})
            }
        }))
    })
    .await?
}

/// Removes every connection (with its tokens) of `tenant` from the runner's store; its pending
/// installs and connect links go with the tenant's row in the service store.
pub async fn remove_tenant_connections(
    service: &Arc<Service>,
    tenant: String,
) -> Result<usize, ApiError> {
    blocking(service, move |service| {
        let records = tenant_records(service, &tenant)?;
        for record in &records {
            service
                .runner
                .block_on(service.runner.store().delete_connection(&record.name))
                .map_err(runner_store_failed)?;
        }
        Ok(records.len())
    })
    .await?
}

/// `GET /connector/callback`: finishes the install whose `state` this is. Unknown, reused and
/// expired states are refused before anything is sent or stored; the state is consumed by its
/// first use whatever the outcome, so it can never finish a second install.
async fn callback(
    State(service): State<Arc<Service>>,
    Query(params): Query<HashMap<String, String>>,
) -> Page {
    let Some(state) = params.get("state").filter(|s| !s.is_empty()) else {
        tracing::warn!("refused a callback without `state`");
        return message_page(
            StatusCode::BAD_REQUEST,
            "Connection not completed",
            "This address carries no authorization state. Start the connection again.",
        );
    };
    let taken = match service.store.take_pending_install(hash_key(state)).await {
        Ok(taken) => taken,
        Err(error) => {
            tracing::error!(%error, "service store failed");
            return message_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Connection not completed",
                "The service could not read its records. Try again later.",
            );
        }
    };
    let Some(install) = taken else {
        tracing::warn!("refused a callback with an unknown or already used `state`");
        return message_page(
            StatusCode::BAD_REQUEST,
            "Connection not completed",
            "This authorization is unknown or was already used. Start the connection again.",
        );
    };
    if install.expires_at_ms < now_ms() {
        tracing::warn!(tenant = %install.tenant, connection = %install.name, "refused a callback whose `state` expired");
        return message_page(
            StatusCode::BAD_REQUEST,
            "Connection not completed",
            "This authorization expired. Start the connection again.",
        );
    }
    let display = connector_display_name(&service, &install.connector);
    let pending: PendingAuthorization = match serde_json::from_str(&install.authorization) {
        Ok(pending) => pending,
        Err(error) => {
            tracing::error!(%error, "a stored pending authorization is unreadable");
            return message_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Connection not completed",
                "The service could not read this authorization. Start the connection again.",
            );
        }
    };
    let tenant = install.tenant.clone();
    let name = install.name.clone();
    let finished = blocking(&service, move |service| {
        service.runner.complete_authorization(&pending, &params)
    })
    .await;
    // The tenant may have been deleted while the code was exchanged: then the connection just
    // stored must not outlive it.
    let tenant_gone = matches!(finished, Ok(Ok(_)))
        && matches!(service.store.tenant(tenant.clone()).await, Ok(None));
    if tenant_gone {
        let runner_name = Service::runner_connection_name(&tenant, &name);
        let _ = blocking(&service, move |service| {
            service
                .runner
                .block_on(service.runner.store().delete_connection(&runner_name))
        })
        .await;
        tracing::warn!(%tenant, connection = %name, "the tenant was deleted during its install");
        return message_page(
            StatusCode::BAD_REQUEST,
            "Connection not completed",
            "This account no longer exists here. Nothing was kept.",
        );
    }
    match finished {
        Ok(Ok(_)) => {
            tracing::info!(%tenant, connection = %name, "connected");
            message_page(
                StatusCode::OK,
                &format!("{display} connected"),
                &format!("The connection `{name}` is ready. You can close this window."),
            )
        }
        Ok(Err(error)) => {
            tracing::warn!(%tenant, connection = %name, %error, "an install's callback failed");
            message_page(
                StatusCode::BAD_REQUEST,
                "Connection not completed",
                &format!("{display} was not connected: {error}"),
            )
        }
        Err(_) => message_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Connection not completed",
            "The service failed while finishing the connection; see its log.",
        ),
    }
}

/// The connector's name as an end user knows the product: "Constant Contact" for the manifest's
/// "Constant Contact (v3)" (a qualifier in parentheses is for developers), or the id.
pub(crate) fn connector_display_name(service: &Service, connector: &str) -> String {
    service.runner.registry().get(connector).map_or_else(
        || connector.to_owned(),
        |c| {
            let name = c.manifest().name.as_str();
            name.split_once(" (")
                .map_or(name, |(product, _)| product)
                .trim()
                .to_owned()
        },
    )
}

/// A fresh random token for a one-time link.
pub(crate) fn random_token(prefix: &str) -> Result<String, ApiError> {
    generate_key()
        .map(|key| format!("{prefix}{}", key.trim_start_matches("pbk_")))
        .map_err(|error| {
            tracing::error!(%error, "no randomness");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "no randomness available",
            )
        })
}
