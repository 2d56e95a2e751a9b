//! Automation workflows: `GET`/`POST /automations/workflows` and `GET`/`PUT
//! /automations/workflows/{automation_flow_id}`. A workflow is created from its trigger (what
//! starts it: a list join, a birthday…), starts as a draft holding that trigger, and is kept as
//! the API shows it. The list answers 209, as the contract says.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Params, json};
use crate::errors::{ApiError, ApiResult, parse_body};
use crate::state::{AppState, lock};
use crate::util::format_ms;

/// A workflow as the list shows it: its summary, with the states of its draft and active
/// definitions.
fn summary(flow: &Value) -> Value {
    json!({
        "id": flow["id"], "name": flow["name"], "description": flow["description"],
        "status": flow["status"], "structured_tags": flow["structured_tags"],
        "draft_state": flow["draft_definition"]["state"],
        "active_state": flow["active_definition"]["state"],
        "created_date": flow["created_date"], "update_date": flow["update_date"],
    })
}

/// `GET /automations/workflows`: 209 with every workflow, `name` matching exactly when given,
/// newest first unless `sort_direction=ASC`.
pub(crate) async fn list(
    State(shared): State<AppState>,
    Query(params): Query<Params>,
) -> ApiResult {
    let ascending = match params.get("sort_direction").map(String::as_str) {
        None | Some("DESC") => false,
        Some("ASC") => true,
        Some(other) => {
            return Err(ApiError::validation(format!(
                "sort_direction must be ASC or DESC, not `{other}`."
            )));
        }
    };
    let store = lock(&shared.store);
    let mut flows: Vec<Value> = (store.automations.iter())
        .filter(|flow| {
            params
                .get("name")
                .is_none_or(|name| flow["name"] == name.as_str())
        })
        .map(summary)
        .collect();
    if !ascending {
        flows.reverse();
    }
    let status = StatusCode::from_u16(209).unwrap_or(StatusCode::OK);
    Ok(json(status, json!({"flow_summaries": flows})))
}

/// `POST /automations/workflows`: 201 with the new draft workflow; its trigger needs a `type`.
pub(crate) async fn create(
    State(shared): State<AppState>,
    Query(params): Query<Params>,
    body: Bytes,
) -> ApiResult {
    let trigger: Value = parse_body(&body)?;
    let kind = (trigger.get("type").and_then(Value::as_str))
        .filter(|kind| !kind.is_empty())
        .ok_or_else(|| ApiError::validation("type is required."))?
        .to_owned();
    let mut store = lock(&shared.store);
    let id = store.new_id();
    let now = format_ms(store.tick());
    let name = params
        .get("workflowName")
        .cloned()
        .unwrap_or_else(|| format!("Untitled {kind} automation"));
    let flow = json!({
        "id": id, "name": name, "description": "", "structured_tags": [], "status": "DRAFT",
        "name_explicitly_set": params.contains_key("workflowName"),
        "draft_definition": {"state": "DRAFT", "trigger": {"trigger_def": trigger,
            "trigger_version": "1"}, "workflow": {"workflow_def": {}}},
        "active_definition": null,
        "created_date": now, "update_date": now,
    });
    store.automations.push(flow.clone());
    Ok(json(StatusCode::CREATED, flow))
}

/// `GET /automations/workflows/{automation_flow_id}`.
pub(crate) async fn get_one(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let store = lock(&shared.store);
    let flow = (store.automations.iter())
        .find(|flow| flow["id"] == id.as_str())
        .ok_or_else(|| ApiError::not_found("automation workflow"))?;
    Ok(json(StatusCode::OK, flow.clone()))
}

/// `PUT /automations/workflows/{automation_flow_id}`: replaces the workflow's name, description,
/// tags and definitions with those of `automation_flow`; its id and dates stay the server's.
pub(crate) async fn put(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let update: Value = parse_body(&body)?;
    let Some(Value::Object(changes)) = update.get("automation_flow") else {
        return Err(ApiError::validation("automation_flow is required."));
    };
    let mut store = lock(&shared.store);
    let now = format_ms(store.tick());
    let flow = (store.automations.iter_mut())
        .find(|flow| flow["id"] == id.as_str())
        .ok_or_else(|| ApiError::not_found("automation workflow"))?;
    for (key, value) in changes {
        if !matches!(key.as_str(), "id" | "created_date" | "update_date") {
            flow[key] = value.clone();
        }
    }
    flow["update_date"] = Value::from(now);
    Ok(json(StatusCode::OK, flow.clone()))
}
