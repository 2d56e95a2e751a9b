//! Bulk activities (asynchronous jobs) and their status: `GET /activities/{activity_id}` and
//! `GET /activities`. The work itself is done when an activity is created (see `import`, `bulk`
//! and `exports`); its state reads `initialized` in the creation response, `processing` on the
//! first read within a second, `completed` afterwards. Bodies carry `_links.self` and, for a
//! completed export, `_links.results` (its file).

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::{Params, json, page, resume};
use crate::errors::{ApiError, ApiResult};
use crate::state::{AppState, lock};
use crate::store::Store;
use crate::util::format_ms;

/// How long an activity may stay `processing` when read.
const PROCESSING_FOR: Duration = Duration::from_secs(1);

/// Renders activity `index`. `read` advances its state as a status poll does; a creation
/// response shows it `initialized`.
pub(crate) fn render(store: &mut Store, index: usize, read: bool) -> Value {
    let activity = &mut store.activities[index];
    let (state, percent) = if read {
        activity.reads += 1;
        if activity.reads == 1 && activity.created_instant.elapsed() < PROCESSING_FOR {
            ("processing", 50)
        } else {
            ("completed", 100)
        }
    } else {
        ("initialized", 0)
    };
    let mut out = Map::new();
    out.insert("activity_id".into(), json!(activity.id));
    out.insert("state".into(), json!(state));
    out.insert("created_at".into(), json!(format_ms(activity.created_at)));
    out.insert("updated_at".into(), json!(format_ms(activity.created_at)));
    if state != "initialized" {
        out.insert("started_at".into(), json!(format_ms(activity.created_at)));
    }
    if state == "completed" {
        out.insert("completed_at".into(), json!(format_ms(activity.created_at)));
    }
    out.insert("percent_done".into(), json!(percent));
    out.insert(
        "activity_errors".into(),
        if state == "completed" {
            json!(activity.errors)
        } else {
            json!([])
        },
    );
    let mut status = activity.status.clone();
    if state != "completed"
        && let Some(done) = status.get_mut("items_completed_count")
    {
        *done = json!(0);
    }
    out.insert("status".into(), status);
    let mut links = json!({"self": {"href": format!("/v3/activities/{}", activity.id)}});
    if state == "completed" {
        activity.completed_seen = true;
        if activity.export.is_some() {
            links["results"] = json!({"href": format!("/v3/contact_exports/{}", activity.id)});
        }
    }
    out.insert("_links".into(), links);
    Value::Object(out)
}

/// `GET /activities/{activity_id}`.
pub(crate) async fn get_one(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let mut store = lock(&shared.store);
    let index = store
        .activities
        .iter()
        .position(|a| a.id == id)
        .ok_or_else(|| ApiError::not_found("activity"))?;
    Ok(json(StatusCode::OK, render(&mut store, index, true)))
}

/// `GET /activities`: newest first, optionally by state.
pub(crate) async fn list(
    State(shared): State<AppState>,
    Query(params): Query<Params>,
) -> ApiResult {
    let (params, offset) = resume(params)?;
    let limit = super::limit(&params, 50, 500)?;
    let wanted = params.get("state").cloned();
    if let Some(state) = &wanted
        && !matches!(
            state.as_str(),
            "processing" | "completed" | "cancelled" | "failed" | "timed_out"
        )
    {
        return Err(ApiError::validation(format!(
            "state: `{state}` is not valid."
        )));
    }
    let mut store = lock(&shared.store);
    // Listing is a read of each activity's status, as polling one is.
    let rendered: Vec<Value> = (0..store.activities.len())
        .rev()
        .map(|i| render(&mut store, i, true))
        .filter(|a| wanted.as_ref().is_none_or(|s| a["state"] == s.as_str()))
        .collect();
    let (items, links) = page(&rendered, "/activities", &params, offset, limit);
    let mut body = json!({"activities": items});
    if let Some(links) = links {
        body["_links"] = links;
    }
    Ok(json(StatusCode::OK, body))
}

/// Records a finished activity and answers 201 with it (`initialized`).
pub(crate) fn created(store: &mut Store, status: Value, errors: Vec<String>) -> ApiResult {
    let index = store.add_activity(status, errors);
    Ok(json(StatusCode::CREATED, render(store, index, false)))
}

/// Checks `list_ids`: 1 to `max` lists that exist.
pub(crate) fn check_lists(store: &Store, ids: &[String], max: usize) -> Result<(), ApiError> {
    if ids.is_empty() || ids.len() > max {
        return Err(ApiError::validation(format!(
            "list_ids requires 1 to {max} list ids."
        )));
    }
    match store.unknown_lists(ids).first() {
        Some(id) => Err(ApiError::validation(format!(
            "list_ids: `{id}` does not exist."
        ))),
        None => Ok(()),
    }
}
