//! `/segments` (integer ids): list and get.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde_json::json;

use super::{Params, json, page, resume};
use crate::errors::{ApiError, ApiResult};
use crate::state::{AppState, lock};
use crate::util::format_ms;

/// `GET /segments`.
pub(crate) async fn list(
    State(shared): State<AppState>,
    Query(params): Query<Params>,
) -> ApiResult {
    let (params, offset) = resume(params)?;
    let limit = super::limit(&params, 1000, 1000)?;
    if let Some(sort) = params.get("sort_by")
        && !matches!(sort.as_str(), "date" | "name")
    {
        return Err(ApiError::validation("sort_by must be date or name."));
    }
    let store = lock(&shared.store);
    let mut segments: Vec<_> = store.segments.iter().collect();
    if params.get("sort_by").is_some_and(|s| s == "name") {
        segments.sort_by(|a, b| a.name.cmp(&b.name));
    } else {
        segments.sort_by_key(|s| std::cmp::Reverse(s.edited_at));
    }
    let (items, links) = page(&segments, "/segments", &params, offset, limit);
    let items: Vec<_> = items
        .iter()
        .map(|s| {
            json!({"segment_id": s.id, "name": s.name, "created_at": format_ms(s.created_at),
                   "edited_at": format_ms(s.edited_at)})
        })
        .collect();
    let mut body = json!({"segments": items});
    if let Some(links) = links {
        body["_links"] = links;
    }
    Ok(json(StatusCode::OK, body))
}

/// `GET /segments/{segment_id}`.
pub(crate) async fn get_one(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::validation("segment_id must be an integer."))?;
    let store = lock(&shared.store);
    let segment = store
        .segments
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ApiError::not_found("segment"))?;
    let criteria = json!({"version": "1.0.0", "criteria": {"type": "and", "group": [
        {"source": "contact", "field": "list_membership", "op": "contains-any",
         "const_value": segment.list_id}]}});
    Ok(json(
        StatusCode::OK,
        json!({"segment_id": segment.id, "name": segment.name,
               "segment_criteria": criteria.to_string(),
               "created_at": format_ms(segment.created_at), "edited_at": format_ms(segment.edited_at)}),
    ))
}
