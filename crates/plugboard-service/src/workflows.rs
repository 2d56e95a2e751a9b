//! `/v1/workflows`: the admin deploys workflow files under names; any key may read them.
//!
//! A deploy is validated exactly as `plugboard validate` validates a file (the same
//! [`plugboard_workflow::validate`], every problem with its JSON pointer, line and column),
//! except that installed connections are not checked: each tenant brings its own, and a run
//! checks them ([`crate::runs`]). Two things a file on one's own machine may do are refused in a
//! hosted workflow, because they would reach the service's file system: `read` steps and
//! `records_to`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use plugboard_runner::workflow::SessionCatalog;
use plugboard_workflow::{Locator, Problem, ValidWorkflow, validate};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::Service;
use crate::auth::{Admin, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::openapi::{
    AdminKeyErrors, DeployedWorkflowDoc, KeyErrors, ProblemsBody, StoreFailed, WorkflowDoc,
};
use crate::workflow_store::DeployedWorkflow;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The workflow routes.
pub fn routes() -> OpenApiRouter<Arc<Service>> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show, deploy))
}

/// 422 with every problem, as `plugboard validate --json` lists them.
pub struct Problems {
    /// A stable code (`invalid_workflow`, `invalid_inputs`, `connection_problems`).
    pub code: &'static str,
    /// The problems.
    pub problems: Vec<Problem>,
}

impl IntoResponse for Problems {
    fn into_response(self) -> Response {
        let count = self.problems.len();
        let message = format!(
            "{count} problem{}; see `problems`",
            if count == 1 { "" } else { "s" }
        );
        let body = json!({
            "error": {"code": self.code, "message": message},
            "problems": self.problems,
        });
        (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
    }
}

/// Either an API error or a list of problems.
pub enum DeployError {
    /// Refused before validation (name, encoding, store).
    Api(ApiError),
    /// The workflow's problems.
    Problems(Problems),
}

impl From<ApiError> for DeployError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl IntoResponse for DeployError {
    fn into_response(self) -> Response {
        match self {
            Self::Api(error) => error.into_response(),
            Self::Problems(problems) => problems.into_response(),
        }
    }
}

/// A deployed workflow as listed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WorkflowSummary {
    /// The name it is deployed under.
    pub name: String,
    /// Its own `name` field.
    pub title: String,
    /// Its `description`.
    pub description: Option<String>,
    /// How many steps it has.
    pub steps: usize,
    /// SHA-256 of the deployed file.
    pub digest: String,
    /// Seconds since the Unix epoch.
    pub deployed_at: i64,
}

/// Whether `name` may name a workflow (it appears in routes).
pub fn check_name(name: &str) -> Result<(), ApiError> {
    crate::names::check(name, "invalid_workflow_name", "a workflow name")
}

/// Validates a workflow for the service: everything `plugboard validate` checks but installed
/// connections, plus the service's own rules (no file access).
pub fn check_workflow(service: &Service, source: &str) -> Result<ValidWorkflow, Vec<Problem>> {
    let catalog = SessionCatalog::new(service.runner.registry(), None);
    let valid = validate(source, &catalog)?;
    let problems = file_access_problems(source, &valid);
    if problems.is_empty() {
        Ok(valid)
    } else {
        Err(problems)
    }
}

/// `read` steps and `records_to` would read or write the service's files.
fn file_access_problems(source: &str, valid: &ValidWorkflow) -> Vec<Problem> {
    let locator = Locator::new(source.strip_prefix('\u{feff}').unwrap_or(source));
    let mut problems = Vec::new();
    for (index, step) in valid.workflow().steps.iter().enumerate() {
        let mut refuse = |field: &str, what: &str| {
            let pointer = format!("/steps/{index}/{field}");
            let at = locator.position(&pointer);
            problems.push(Problem {
                pointer,
                line: at.line,
                column: at.column,
                message: format!(
                    "{what} is not available in a workflow run by the service: it would reach \
                     the service's own files"
                ),
            });
        };
        if step.read.is_some() {
            refuse("read", "a `read` step");
        }
        if step.records_to.is_some() {
            refuse("records_to", "`records_to`");
        }
    }
    problems
}

/// SHA-256 of `source`, in hex.
pub fn digest(source: &str) -> String {
    Sha256::digest(source.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn summary(deployed: &DeployedWorkflow) -> WorkflowSummary {
    let parsed: Value = serde_json::from_str(&deployed.source).unwrap_or(Value::Null);
    WorkflowSummary {
        name: deployed.name.clone(),
        title: parsed["name"].as_str().unwrap_or_default().to_owned(),
        description: parsed["description"].as_str().map(str::to_owned),
        steps: parsed["steps"].as_array().map_or(0, Vec::len),
        digest: deployed.digest.clone(),
        deployed_at: deployed.deployed_at,
    }
}

/// `PUT /v1/workflows/{name}`: the body is the workflow file. 201 when new, 200 when replaced;
/// runs already started keep the version they started with.
#[utoipa::path(put, path = "/workflows/{name}", tag = "workflows", security(("admin_key" = [])),
    params(("name" = String, Path, description = "The name it is deployed under.")),
    request_body(content = Object, description = "The workflow file (`schemas/workflow.schema.json`)."),
    responses(
        (status = 200, description = "Replaced.", body = DeployedWorkflowDoc),
        (status = 201, description = "Deployed.", body = DeployedWorkflowDoc),
        AdminKeyErrors, StoreFailed,
        (status = 400, description = "Not UTF-8.", body = ErrorBody),
        (status = 422, description = "The workflow's problems (`invalid_workflow`).", body = ProblemsBody),
    ))]
async fn deploy(
    _: Admin,
    State(service): State<Arc<Service>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), DeployError> {
    check_name(&name)?;
    let source = String::from_utf8(body.to_vec()).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_encoding",
            "the workflow file must be UTF-8 JSON",
        )
    })?;
    let checked = {
        let service = Arc::clone(&service);
        let source = source.clone();
        tokio::task::spawn_blocking(move || {
            check_workflow(&service, &source).map(|valid| valid.warnings().to_vec())
        })
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "validation stopped abnormally",
            )
        })?
    };
    let warnings = checked.map_err(|problems| {
        DeployError::Problems(Problems {
            code: "invalid_workflow",
            problems,
        })
    })?;
    let digest = digest(&source);
    let created = service
        .workflows
        .put_workflow(name.clone(), source, digest)
        .await
        .map_err(ApiError::from)?;
    let deployed = service
        .workflows
        .workflow(name)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut body = serde_json::to_value(summary(&deployed)).unwrap_or_default();
    if let Some(fields) = body.as_object_mut() {
        fields.insert("warnings".into(), json!(warnings));
    }
    Ok((status, Json(body)))
}

/// `GET /v1/workflows`: any valid key.
#[utoipa::path(get, path = "/workflows", tag = "workflows", security(("admin_key" = []), ("tenant_key" = [])),
    responses(
        (status = 200, description = "Every deployed workflow.", body = Vec<WorkflowSummary>),
        KeyErrors, StoreFailed,
    ))]
async fn list(
    _: Caller,
    State(service): State<Arc<Service>>,
) -> Result<Json<Vec<WorkflowSummary>>, ApiError> {
    let deployed = service.workflows.workflows().await?;
    Ok(Json(deployed.iter().map(summary).collect()))
}

/// `GET /v1/workflows/{name}`: the summary and the file itself (`workflow`).
#[utoipa::path(get, path = "/workflows/{name}", tag = "workflows", security(("admin_key" = []), ("tenant_key" = [])),
    params(("name" = String, Path, description = "The name it is deployed under.")),
    responses(
        (status = 200, description = "The summary and the file.", body = WorkflowDoc),
        KeyErrors, StoreFailed,
        (status = 404, description = "No such workflow.", body = ErrorBody),
    ))]
async fn show(
    _: Caller,
    State(service): State<Arc<Service>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let deployed = service
        .workflows
        .workflow(name)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    let mut body = serde_json::to_value(summary(&deployed)).unwrap_or_default();
    if let Some(fields) = body.as_object_mut() {
        let file: Value = serde_json::from_str(&deployed.source).unwrap_or(Value::Null);
        fields.insert("workflow".into(), file);
    }
    Ok(Json(body))
}
