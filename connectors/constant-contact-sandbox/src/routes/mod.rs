//! The `/v3` API, one module per resource, and the helpers they share (paging, limits, JSON).

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::errors::ApiError;
use crate::state::AppState;
use crate::util::{decode_cursor, encode_cursor};

mod account;
pub(crate) mod activities;
mod contacts;
mod custom_fields;
mod emails;
mod lists;
mod segments;
mod tags;

/// Every API route, relative to `/v3`.
pub(crate) fn api() -> Router<AppState> {
    Router::new()
        .route("/account/summary", get(account::summary))
        .route("/account/user/privileges", get(account::privileges))
        .route("/contacts", get(contacts::list).post(contacts::create))
        .route("/contacts/counts", get(contacts::counts))
        .route("/contacts/sign_up_form", post(contacts::sign_up_form))
        .route(
            "/contacts/{contact_id}",
            get(contacts::get_one)
                .put(contacts::put)
                .delete(contacts::delete),
        )
        .route("/contact_lists", get(lists::list).post(lists::create))
        .route(
            "/contact_lists/{list_id}",
            get(lists::get_one).put(lists::put).delete(lists::delete),
        )
        .route("/contact_tags", get(tags::list).post(tags::create))
        .route(
            "/contact_tags/{tag_id}",
            get(tags::get_one).put(tags::put).delete(tags::delete),
        )
        .route(
            "/contact_custom_fields",
            get(custom_fields::list).post(custom_fields::create),
        )
        .route(
            "/contact_custom_fields/{custom_field_id}",
            get(custom_fields::get_one)
                .put(custom_fields::put)
                .delete(custom_fields::delete),
        )
        .route("/segments", get(segments::list))
        .route("/segments/{segment_id}", get(segments::get_one))
        .route("/activities", get(activities::list))
        .route(
            "/activities/contacts_json_import",
            post(activities::json_import),
        )
        .route(
            "/activities/add_list_memberships",
            post(activities::add_list_memberships),
        )
        .route(
            "/activities/remove_list_memberships",
            post(activities::remove_list_memberships),
        )
        .route(
            "/activities/contact_delete",
            post(activities::contact_delete),
        )
        .route("/activities/{activity_id}", get(activities::get_one))
        .route("/emails", get(emails::list).post(emails::create))
        .route("/emails/{campaign_id}", get(emails::get_one))
        .route(
            "/emails/activities/{campaign_activity_id}",
            get(emails::get_activity),
        )
        .route(
            "/emails/activities/{campaign_activity_id}/schedules",
            get(emails::get_schedules).post(emails::schedule),
        )
        .route(
            "/reports/summary_reports/email_campaign_summaries",
            get(emails::summaries),
        )
}

/// A JSON response with `status`.
pub(crate) fn json(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// Query parameters as a map (last value wins).
pub(crate) type Params = HashMap<String, String>;

/// The paging state of the small collections (lists, tags, custom fields, …): an offset and the
/// caller's other parameters, so `_links.next.href` alone carries the whole query.
#[derive(Serialize, Deserialize)]
struct OffsetCursor {
    o: usize,
    q: Params,
}

/// The effective parameters and offset of a request: from its `cursor` when it has one.
pub(crate) fn resume(params: Params) -> Result<(Params, usize), ApiError> {
    match params.get("cursor") {
        Some(cursor) => {
            let state: OffsetCursor = decode_cursor(cursor)
                .ok_or_else(|| ApiError::validation("The cursor is invalid."))?;
            Ok((state.q, state.o))
        }
        None => Ok((params, 0)),
    }
}

/// `/v3<path>?cursor=…` continuing at `offset` with `params`.
pub(crate) fn offset_href(path: &str, params: &Params, offset: usize) -> String {
    let cursor = encode_cursor(&OffsetCursor {
        o: offset,
        q: params.clone(),
    });
    format!("/v3{path}?cursor={cursor}")
}

/// The `limit` parameter: `default` when absent, 400 outside `1..=max`.
pub(crate) fn limit(params: &Params, default: usize, max: usize) -> Result<usize, ApiError> {
    match params.get("limit") {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::validation(format!(
                "limit must be an integer from 1 to {max}."
            ))),
        },
    }
}

/// A boolean query parameter (absent: false; anything but true/false: 400).
pub(crate) fn flag(params: &Params, name: &str) -> Result<bool, ApiError> {
    match params.get(name).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::validation(format!(
            "{name} must be true or false."
        ))),
    }
}

/// Checks a string's length, as the spec's `maxLength`.
pub(crate) fn check_len(name: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    match value {
        Some(v) if v.chars().count() > max => Err(ApiError::validation(format!(
            "{name} must be at most {max} characters."
        ))),
        _ => Ok(()),
    }
}

/// Slices one page of `items` and the link to the next page, if any.
pub(crate) fn page<'a, T>(
    items: &'a [T],
    path: &str,
    params: &Params,
    offset: usize,
    limit: usize,
) -> (&'a [T], Option<Value>) {
    let start = offset.min(items.len());
    let end = (start + limit).min(items.len());
    let next = (end < items.len())
        .then(|| serde_json::json!({"next": {"href": offset_href(path, params, end)}}));
    (&items[start..end], next)
}
