//! The OpenAPI 3.1 document of the `/v1` API, served at `GET /v1/openapi.json` and checked in as
//! `schemas/service.openapi.json`.
//!
//! It is built from the same [`OpenApiRouter`] that serves the routes (each module's `routes()`
//! registers handlers with `routes!`, which takes path and method from their `#[utoipa::path]`),
//! so a `/v1` route cannot exist without its entry. Schemas come from the types the handlers
//! serialize; where a handler builds its JSON by hand, a schema type here describes it, and the
//! integration tests validate real answers against the document so such a description cannot
//! drift unnoticed.

use std::sync::{Arc, OnceLock};

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Service;
use crate::error::{ErrorBody, ErrorDetail};
use crate::workflows::WorkflowSummary;

/// The security scheme of the admin key.
pub const ADMIN_KEY: &str = "admin_key";
/// The security scheme of a tenant's key.
pub const TENANT_KEY: &str = "tenant_key";

/// The document's fixed parts; paths and schemas are added by the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "plugboard serve",
        description = "The multi-tenant HTTP API of `plugboard serve`: tenants and their keys, \
            partner app settings, connections, workflows, runs and schedules. Every route but \
            this document needs `Authorization: Bearer <key>`. Errors answer \
            `{\"error\": {\"code\", \"message\"}}`; a workflow or run refused for its content \
            answers 422 with `problems` too."
    ),
    // The error groups below refer to `ErrorBody` without registering it (utoipa collects
    // schemas from response tuples only), so it is registered here.
    components(schemas(ErrorBody)),
    modifiers(&KeySchemes),
    tags(
        (name = "tenants", description = "Tenants and their API keys (admin)."),
        (name = "apps", description = "Partner app settings per connector (admin)."),
        (name = "connections", description = "A tenant's connections to SaaS accounts."),
        (name = "workflows", description = "Deployed workflow files."),
        (name = "runs", description = "A tenant's workflow runs and their events."),
        (name = "schedules", description = "Runs started on a cron or an interval."),
        (name = "links", description = "One-time links to the hosted pages."),
        (name = "meta", description = "This document."),
    )
)]
struct ApiDoc;

/// Declares the two bearer keys.
struct KeySchemes;

impl Modify for KeySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, what) in [
            (ADMIN_KEY, "The admin key, given to `plugboard serve`."),
            (
                TENANT_KEY,
                "A tenant's key (`POST /v1/tenants` or `…/keys` shows it once); it sees only \
                 its own tenant.",
            ),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(what))
                        .build(),
                ),
            );
        }
    }
}

/// The `/v1` API: its routes and its document, from one place.
pub fn api() -> OpenApiRouter<Arc<Service>> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(document_route))
        .merge(crate::tenants::routes())
        .merge(crate::apps::routes())
        .merge(crate::connections::routes())
        .merge(crate::workflows::routes())
        .merge(crate::runs::routes())
        .merge(crate::schedules::routes())
        .merge(crate::pages::api_routes());
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/v1", v1)
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    api().into_openapi()
}

/// The document as served and checked in: pretty JSON with a final newline.
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        // Rendering plain data with string keys cannot fail; an empty object would show it did.
        let mut text = document().to_pretty_json().unwrap_or_else(|_| "{}".into());
        text.push('\n');
        text
    })
}

/// `GET /v1/openapi.json`: no key, since it holds no data.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "This document (OpenAPI 3.1).", content_type = "application/json", body = Object))
)]
async fn document_route() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], document_json())
}

// Error rows that many operations share, written once and mixed into `responses(...)` beside
// the operation's own tuples. A row whose wording differs per operation (a 404 naming the
// resource, a 422 naming what was refused) stays a tuple there. The enums are never built: they
// only carry the rows (a variant's doc comment is its description) to the document; they are
// public, like the schema-only types below, so nothing flags them as never constructed.

/// 401 on any keyed route.
#[derive(utoipa::IntoResponses)]
pub enum KeyErrors {
    /// No or unknown key.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
}

/// 401 and 403 on an admin-only route.
#[derive(utoipa::IntoResponses)]
pub enum AdminKeyErrors {
    /// No or unknown key.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// Not the admin key.
    #[response(status = 403)]
    Forbidden(ErrorBody),
}

/// 401 and 404 on a route under `/tenants/{tenant}` that finds nothing else by id
/// (`TenantScope` answers another tenant's key with the same 404 as a missing tenant).
#[derive(utoipa::IntoResponses)]
pub enum TenantKeyErrors {
    /// No or unknown key.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// No such tenant (or another tenant's).
    #[response(status = 404)]
    NoSuchTenant(ErrorBody),
}

/// 404 on a route under `/tenants/{tenant}/runs/{run}`.
#[derive(utoipa::IntoResponses)]
pub enum RunNotFound {
    /// No such tenant (or another tenant's), or no such run.
    #[response(status = 404)]
    NotFound(ErrorBody),
}

/// 404 on a route under `/tenants/{tenant}/schedules/{schedule}`.
#[derive(utoipa::IntoResponses)]
pub enum ScheduleNotFound {
    /// No such tenant (or another tenant's), or no such schedule.
    #[response(status = 404)]
    NotFound(ErrorBody),
}

/// 404 on a route under `/tenants/{tenant}/connections/{name}`.
#[derive(utoipa::IntoResponses)]
pub enum ConnectionNotFound {
    /// No such tenant (or another tenant's), or no such connection.
    #[response(status = 404)]
    NotFound(ErrorBody),
}

/// What `ApiJson` answers for a body it cannot read (422, for a body of the wrong shape, is
/// left to each operation, which says what else it refuses).
#[derive(utoipa::IntoResponses)]
pub enum JsonBodyErrors {
    /// Not JSON.
    #[response(status = 400)]
    NotJson(ErrorBody),
    /// Body over 1 MiB.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// Not `application/json`.
    #[response(status = 415)]
    NotJsonContentType(ErrorBody),
}

/// 500 when the service's store fails; the detail goes to the log, never to the client.
#[derive(utoipa::IntoResponses)]
pub enum StoreFailed {
    /// The service's store failed (details in its log).
    #[response(status = 500)]
    Internal(ErrorBody),
}

/// 503 when the service runs on a cluster (`serve --temporal`) and the cluster did not take a
/// schedule change; nothing changed.
#[derive(utoipa::IntoResponses)]
pub enum ClusterUnavailable {
    /// The cluster did not take it (`cluster_unavailable`).
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// A 422 refusal with the problems found (`plugboard validate --json` lists the same).
#[derive(Serialize, ToSchema)]
#[schema(as = ProblemsBody)]
pub struct ProblemsBody {
    /// `code` is `invalid_workflow`, `invalid_inputs` or `connection_problems` when
    /// `problems` lists what is wrong; another code when the request was refused before.
    pub error: ErrorDetail,
    /// Every problem found.
    pub problems: Option<Vec<ProblemDoc>>,
}

/// One problem of a workflow or of run inputs (`plugboard_workflow::Problem`).
#[derive(Serialize, ToSchema)]
#[schema(as = Problem)]
#[serde(deny_unknown_fields)]
pub struct ProblemDoc {
    /// JSON pointer to the value at fault (`""` for the whole document).
    pub pointer: String,
    /// 1-based line in the workflow file; 0 when the problem is not in the file.
    pub line: u64,
    /// 1-based column; 0 when the problem is not in the file.
    pub column: u64,
    /// What is wrong.
    pub message: String,
}

/// A deployed workflow as `PUT /v1/workflows/{name}` answers it.
#[derive(Serialize, ToSchema)]
pub struct DeployedWorkflowDoc {
    /// The summary, as listed.
    #[serde(flatten)]
    pub summary: WorkflowSummary,
    /// What validation warned about (the workflow was deployed anyway).
    pub warnings: Vec<ProblemDoc>,
}

/// A deployed workflow as `GET /v1/workflows/{name}` answers it.
#[derive(Serialize, ToSchema)]
pub struct WorkflowDoc {
    /// The summary, as listed.
    #[serde(flatten)]
    pub summary: WorkflowSummary,
    /// The workflow file itself.
    #[schema(value_type = Object)]
    pub workflow: Value,
}

/// A connection as the API shows it (never its secrets or tokens).
#[derive(Serialize, ToSchema)]
pub struct ConnectionDoc {
    /// Its name within the tenant.
    pub name: String,
    /// The connector id.
    pub connector: String,
    /// Connection-level settings; a secret one shows only `{"set": true|false}`.
    #[schema(value_type = Object)]
    pub settings: Map<String, Value>,
    /// Endpoint overrides (the sandbox), or `null`.
    #[schema(value_type = Option<Object>)]
    pub endpoints: Option<Value>,
    /// Whether OAuth tokens are held.
    pub tokens: TokensDoc,
}

/// What a connection shows of its tokens.
#[derive(Serialize, ToSchema)]
pub struct TokensDoc {
    /// Whether tokens are held.
    pub present: bool,
    /// When the access token expires (seconds since the epoch).
    pub expires_at: Option<i64>,
    /// Why the user must authorize again, if they must.
    pub needs_reauth: Option<String>,
}

/// The outcome of `POST …/connections/{name}/test`.
#[derive(Serialize, ToSchema)]
pub struct ConnectionTestDoc {
    /// Whether the check passed.
    pub ok: bool,
    /// `token_refresh` or `settings`.
    pub check: String,
    /// After a token refresh, when the new access token expires.
    #[schema(value_type = Option<Object>)]
    pub expires_at: Option<Value>,
    /// Why it failed.
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Every `.rs` file under `dir`, with its text.
    fn sources(dir: &Path, found: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("src/ is readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("a source file");
                found.push((path.display().to_string(), text));
            }
        }
    }

    /// The routers built with plain axum (`.route`, `.nest`) serve the pages only: a `/v1`
    /// route registered there would be served without being in the document.
    #[test]
    fn no_v1_route_is_registered_outside_the_documented_router() {
        let mut files = Vec::new();
        sources(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut plain_routes = 0;
        for (path, text) in &files {
            for call in [".route(", ".nest(", ".route_service(", ".nest_service("] {
                for (at, _) in text.match_indices(call) {
                    let rest = text[at + call.len()..].trim_start();
                    let literal = rest.strip_prefix('"').unwrap_or_default();
                    plain_routes += 1;
                    assert!(
                        !literal.starts_with("/v1") || path.ends_with("openapi.rs"),
                        "{path}: `{call}\"{}…` serves a /v1 route outside the OpenAPI router; \
                         register it with `routes!` and `#[utoipa::path]`",
                        literal.chars().take(40).collect::<String>()
                    );
                }
            }
        }
        assert!(
            plain_routes > 5,
            "the scan found the page routes ({plain_routes})"
        );
    }

    #[test]
    fn every_operation_is_under_v1_and_names_its_keys() {
        let document = serde_json::to_value(document()).expect("the document renders");
        let paths = document["paths"].as_object().expect("paths");
        assert!(paths.len() >= 20, "{} paths", paths.len());
        for (path, item) in paths {
            assert!(path.starts_with("/v1/"), "{path}");
            for (method, operation) in item.as_object().expect("a path item") {
                if path == "/v1/openapi.json" {
                    assert!(
                        operation.get("security").is_none(),
                        "the document needs no key"
                    );
                    continue;
                }
                let schemes: Vec<&str> = operation["security"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{method} {path} names no security"))
                    .iter()
                    .filter_map(|s| s.as_object()?.keys().next().map(String::as_str))
                    .collect();
                assert!(schemes.contains(&ADMIN_KEY), "{method} {path}: {schemes:?}");
                let responses = operation["responses"].as_object().expect("responses");
                let error = &responses["401"]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    error, "#/components/schemas/ErrorBody",
                    "{method} {path} documents its 401"
                );
            }
        }
    }

    #[test]
    fn the_served_text_is_the_document() {
        let parsed: Value = serde_json::from_str(document_json()).expect("JSON");
        assert_eq!(parsed["openapi"], "3.1.0");
        assert!(document_json().ends_with("}\n"));
    }
}
