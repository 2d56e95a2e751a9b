//! `/v1/apps`: the partner-level settings of a connector (the app registered with the provider:
//! client id, secret, scopes, redirect URI), set by the admin and shown without secrets.
//!
//! They are the runner's partner settings, the same ones `plugboard partner set` writes, so a
//! workflow run by the CLI against the same state file uses the same app.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use plugboard_core::settings::{self, Level};
use plugboard_core::{AuthSpec, Manifest};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Service;
use crate::auth::Admin;
use crate::connections::blocking;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::openapi::{AdminKeyErrors, JsonBodyErrors, StoreFailed};

/// The app routes (admin only).
pub fn routes() -> OpenApiRouter<Arc<Service>> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show, set))
}

/// A connector's app as the API shows it: secret fields only as `{"set": true|false}`.
#[derive(Serialize, ToSchema)]
pub struct AppView {
    /// The connector id.
    pub connector: String,
    /// The connector's display name.
    pub name: String,
    /// The partner-level settings, secrets masked.
    #[schema(value_type = Object)]
    pub settings: Map<String, Value>,
    /// The redirect URI to register with the provider for hosted installs.
    pub callback_url: String,
}

/// Whether a settings value counts as not given (as the runner's settings resolution says).
pub(crate) fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// `settings` with every secret field replaced by `{"set": …}`: what any response may show.
pub(crate) fn masked(manifest: &Manifest, settings: &Map<String, Value>) -> Map<String, Value> {
    settings
        .iter()
        .map(|(name, value)| {
            let shown = if settings::is_secret(&manifest.settings_schema, name) {
                json!({"set": !is_blank(value)})
            } else {
                value.clone()
            };
            (name.clone(), shown)
        })
        .collect()
}

/// The settings field holding the OAuth2 redirect URI, if the connector uses that flow.
fn redirect_field(manifest: &Manifest) -> Option<&str> {
    match &manifest.auth {
        AuthSpec::OAuth2AuthorizationCode(spec) => Some(spec.settings.redirect_uri.as_str()),
        _ => None,
    }
}

fn unknown_connector() -> ApiError {
    ApiError::not_found("connector")
}

fn view(service: &Service, manifest: &Manifest, partner: &Map<String, Value>) -> AppView {
    AppView {
        connector: manifest.id.clone(),
        name: manifest.name.clone(),
        settings: masked(manifest, partner),
        callback_url: service.callback_url(),
    }
}

#[utoipa::path(get, path = "/apps", tag = "apps", security(("admin_key" = [])),
    responses(
        (status = 200, description = "The connectors with partner settings saved.", body = Vec<AppView>),
        AdminKeyErrors, StoreFailed,
    ))]
async fn list(
    _: Admin,
    State(service): State<Arc<Service>>,
) -> Result<Json<Vec<AppView>>, ApiError> {
    blocking(&service, |service| {
        let mut apps = Vec::new();
        for connector in service.runner.registry().iter() {
            let manifest = connector.manifest();
            let partner = service
                .runner
                .block_on(service.runner.store().partner_settings(&manifest.id))
                .map_err(runner_store_failed)?;
            if !partner.is_empty() {
                apps.push(view(service, manifest, &partner));
            }
        }
        apps.sort_by(|a, b| a.connector.cmp(&b.connector));
        Ok(Json(apps))
    })
    .await?
}

#[utoipa::path(get, path = "/apps/{connector}", tag = "apps", security(("admin_key" = [])),
    params(("connector" = String, Path, description = "A connector id, e.g. `constant-contact`.")),
    responses(
        (status = 200, description = "The connector's partner settings (secrets masked).", body = AppView),
        AdminKeyErrors, StoreFailed,
        (status = 404, description = "No such connector.", body = ErrorBody),
    ))]
async fn show(
    _: Admin,
    State(service): State<Arc<Service>>,
    Path(connector): Path<String>,
) -> Result<Json<AppView>, ApiError> {
    blocking(&service, move |service| {
        let manifest = service
            .runner
            .registry()
            .get(&connector)
            .ok_or_else(unknown_connector)?
            .manifest();
        let partner = service
            .runner
            .block_on(service.runner.store().partner_settings(&manifest.id))
            .map_err(runner_store_failed)?;
        Ok(Json(view(service, manifest, &partner)))
    })
    .await?
}

/// Replaces the partner settings. Every field must be a partner-level field of the connector;
/// given values are checked against its settings schema (fields left out stay blank, to be
/// supplied by each connection, as with `plugboard partner set`). The redirect URI defaults to
/// the hosted callback.
#[utoipa::path(put, path = "/apps/{connector}", tag = "apps", security(("admin_key" = [])),
    params(("connector" = String, Path, description = "A connector id, e.g. `constant-contact`.")),
    request_body(content = Object, description = "Partner-level settings by name (client id, secret…); the redirect URI defaults to the hosted callback."),
    responses(
        (status = 200, description = "Saved (secrets masked).", body = AppView),
        AdminKeyErrors, JsonBodyErrors, StoreFailed,
        (status = 404, description = "No such connector.", body = ErrorBody),
        (status = 422, description = "Unknown, connection-level or invalid settings (`invalid_settings`).", body = ErrorBody),
    ))]
async fn set(
    _: Admin,
    State(service): State<Arc<Service>>,
    Path(connector): Path<String>,
    ApiJson(mut body): ApiJson<Map<String, Value>>,
) -> Result<Json<AppView>, ApiError> {
    blocking(&service, move |service| {
        let manifest = service
            .runner
            .registry()
            .get(&connector)
            .ok_or_else(unknown_connector)?
            .manifest();
        let schema = &manifest.settings_schema;
        let fields = settings::fields(schema);
        let mut problems = Vec::new();
        for name in body.keys() {
            match fields.iter().find(|f| &f.name == name) {
                None => problems.push(format!("/{name}: `{connector}` has no setting `{name}`")),
                Some(field) if field.level != Level::Partner => problems.push(format!(
                    "/{name}: a connection-level setting; give it when installing a connection"
                )),
                Some(_) => {}
            }
        }
        if let Some(field) = redirect_field(manifest)
            && body.get(field).is_none_or(is_blank)
        {
            body.insert(field.to_owned(), Value::String(service.callback_url()));
        }
        if problems.is_empty() {
            // Values are validated as a connection would see them; a partner field left blank
            // is not a problem here (each connection then supplies it).
            if let Err(error) = plugboard_runner::settings::resolve(schema, &body, &Map::new()) {
                problems.extend(
                    error
                        .problems
                        .iter()
                        .filter(|p| body.contains_key(p.pointer.trim_start_matches('/')))
                        .map(|p| format!("{}: {}", p.pointer, p.message)),
                );
            }
        }
        if !problems.is_empty() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_settings",
                problems.join("; "),
            ));
        }
        service
            .runner
            .block_on(
                service
                    .runner
                    .store()
                    .set_partner_settings(&manifest.id, &body),
            )
            .map_err(runner_store_failed)?;
        tracing::info!(connector = %manifest.id, "app settings saved");
        Ok(Json(view(service, manifest, &body)))
    })
    .await?
}

/// The runner's store failed: the detail goes to the log, not the response.
pub(crate) fn runner_store_failed(error: plugboard_runner::StoreError) -> ApiError {
    tracing::error!(%error, "the runner's state store failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the state store failed; see the server log",
    )
}
