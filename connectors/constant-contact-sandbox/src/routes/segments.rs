//! `/segments` (integer ids): list (deleted ones left out), create, get (deleted ones too, as the
//! spec says), PUT (name and criteria), PATCH of the name, DELETE (204; refused while a scheduled
//! campaign sends to the segment). Criteria are checked when given ([`crate::criteria`]), so a
//! segment the sandbox cannot evaluate is refused at once, naming what it does not understand.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Params, check_len, json, page, resume};
use crate::campaign::CampaignStatus;
use crate::criteria::Criteria;
use crate::errors::{ApiError, ApiResult, parse_body};
use crate::state::{AppState, lock};
use crate::store::{Segment, Store};
use crate::util::format_ms;

/// The longest `segment_criteria` the spec allows.
const MAX_CRITERIA: usize = 20_000;
/// The longest segment name the sandbox accepts (the spec states none; the UI allows 80).
const MAX_NAME: usize = 80;

fn detail_json(segment: &Segment) -> Value {
    json!({"segment_id": segment.id, "name": segment.name, "segment_criteria": segment.criteria,
           "created_at": format_ms(segment.created_at), "edited_at": format_ms(segment.edited_at)})
}

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
    let mut segments: Vec<_> = store
        .segments
        .iter()
        .filter(|s| s.deleted_at.is_none())
        .collect();
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

fn segment_id(text: &str) -> Result<i64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::validation("segment_id must be an integer."))
}

/// The live segment `id`'s position (404 for unknown and deleted ones).
fn live(store: &Store, id: i64) -> Result<usize, ApiError> {
    store
        .segments
        .iter()
        .position(|s| s.id == id && s.deleted_at.is_none())
        .ok_or_else(|| ApiError::not_found("segment"))
}

/// `GET /segments/{segment_id}`: deleted segments too.
pub(crate) async fn get_one(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = segment_id(&id)?;
    let store = lock(&shared.store);
    let segment = store
        .segments
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ApiError::not_found("segment"))?;
    Ok(json(StatusCode::OK, detail_json(segment)))
}

#[derive(Deserialize)]
struct SegmentIn {
    name: Option<String>,
    segment_criteria: Option<String>,
}

/// A name that is given, not too long and not another live segment's.
fn checked_name(
    store: &Store,
    name: Option<String>,
    except: Option<i64>,
) -> Result<String, ApiError> {
    let name = name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::validation("name is required."))?;
    check_len("name", Some(&name), MAX_NAME)?;
    if store.segments.iter().any(|s| {
        s.deleted_at.is_none() && Some(s.id) != except && s.name.eq_ignore_ascii_case(&name)
    }) {
        return Err(ApiError::conflict(format!(
            "A segment named `{name}` already exists."
        )));
    }
    Ok(name)
}

/// Criteria that are given, not too long and understood.
fn checked_criteria(criteria: Option<String>) -> Result<String, ApiError> {
    let criteria = criteria.ok_or_else(|| ApiError::validation("segment_criteria is required."))?;
    check_len("segment_criteria", Some(&criteria), MAX_CRITERIA)?;
    Criteria::parse(&criteria).map_err(ApiError::validation)?;
    Ok(criteria)
}

/// `POST /segments`: 201 with the new segment.
pub(crate) async fn create(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let input: SegmentIn = parse_body(&body)?;
    let criteria = checked_criteria(input.segment_criteria)?;
    let mut store = lock(&shared.store);
    let name = checked_name(&store, input.name, None)?;
    let now = store.tick();
    let segment = Segment {
        id: store.segments.iter().map(|s| s.id).max().unwrap_or(0) + 1,
        name,
        criteria,
        created_at: now,
        edited_at: now,
        deleted_at: None,
    };
    let body = detail_json(&segment);
    store.segments.push(segment);
    Ok(json(StatusCode::CREATED, body))
}

/// `PUT /segments/{segment_id}`: both the name and the criteria are required.
pub(crate) async fn put(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let id = segment_id(&id)?;
    let input: SegmentIn = parse_body(&body)?;
    let mut store = lock(&shared.store);
    let index = live(&store, id)?;
    let criteria = checked_criteria(input.segment_criteria)?;
    let name = checked_name(&store, input.name, Some(id))?;
    let now = store.tick();
    let segment = &mut store.segments[index];
    segment.name = name;
    segment.criteria = criteria;
    segment.edited_at = now;
    Ok(json(StatusCode::OK, detail_json(segment)))
}

#[derive(Deserialize)]
struct NameIn {
    name: Option<String>,
}

/// `PATCH /segments/{segment_id}/name`.
pub(crate) async fn rename(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let id = segment_id(&id)?;
    let input: NameIn = parse_body(&body)?;
    let mut store = lock(&shared.store);
    let index = live(&store, id)?;
    let name = checked_name(&store, input.name, Some(id))?;
    let now = store.tick();
    let segment = &mut store.segments[index];
    segment.name = name;
    segment.edited_at = now;
    Ok(json(StatusCode::OK, detail_json(segment)))
}

/// `DELETE /segments/{segment_id}`: 204; the segment stays readable by id.
pub(crate) async fn delete(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = segment_id(&id)?;
    let mut store = lock(&shared.store);
    let index = live(&store, id)?;
    let scheduled = store.campaigns.iter().any(|c| {
        c.status == CampaignStatus::Scheduled
            && c.activities.iter().any(|a| a.segment_ids.contains(&id))
    });
    if scheduled {
        return Err(ApiError::validation(
            "The segment is used by a scheduled email campaign; unschedule the campaign first.",
        ));
    }
    let now = store.tick();
    store.segments[index].deleted_at = Some(now);
    Ok(StatusCode::NO_CONTENT.into_response())
}
