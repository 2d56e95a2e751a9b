//! The `/v3` API, one module per resource, and the helpers they share (paging, limits, JSON).

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::errors::ApiError;
use crate::state::AppState;
use crate::util::{decode_cursor, encode_cursor};

mod ab_tests;
mod account;
pub(crate) mod activities;
mod automations;
mod bulk;
mod campaign_activities;
mod campaigns;
mod contact_reports;
mod contact_writes;
mod contacts;
mod custom_fields;
mod exports;
pub(crate) mod import;
mod import_csv;
mod landing_page_reports;
mod lists;
mod reports;
mod segments;
mod sign_up;
mod sms_history;
mod tags;
mod tracking;

/// Every API route, relative to `/v3`.
pub(crate) fn api() -> Router<AppState> {
    Router::new()
        .merge(account_routes())
        .merge(contact_routes())
        .merge(bulk_routes())
        .merge(campaign_routes())
        .merge(report_routes())
}

fn account_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/account/summary",
            get(account::summary).put(account::put_summary),
        )
        .route(
            "/account/summary/physical_address",
            get(account::physical_address)
                .post(account::add_physical_address)
                .put(account::put_physical_address),
        )
        .route(
            "/account/emails",
            get(account::emails).post(account::add_email),
        )
        .route("/account/user/privileges", get(account::privileges))
}

fn contact_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/contacts",
            get(contacts::list).post(contact_writes::create),
        )
        .route("/contacts/counts", get(contacts::counts))
        .route("/contacts/sign_up_form", post(sign_up::sign_up_form))
        .route(
            "/contacts/resubscribe/{contact_id}",
            put(contacts::resubscribe),
        )
        .route(
            "/contacts/sms_engagement_history/{contact_id}",
            get(sms_history::history),
        )
        .route(
            "/contacts/{contact_id}",
            get(contacts::get_one)
                .put(contact_writes::put)
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
        .route("/segments", get(segments::list).post(segments::create))
        .route(
            "/segments/{segment_id}",
            get(segments::get_one)
                .put(segments::put)
                .delete(segments::delete),
        )
        .route("/segments/{segment_id}/name", patch(segments::rename))
}

fn bulk_routes() -> Router<AppState> {
    Router::new()
        .route("/activities", get(activities::list))
        .route(
            "/activities/contacts_json_import",
            post(import::json_import),
        )
        .route(
            "/activities/contacts_file_import",
            post(import_csv::csv_import),
        )
        .route(
            "/activities/add_list_memberships",
            post(bulk::add_list_memberships),
        )
        .route(
            "/activities/remove_list_memberships",
            post(bulk::remove_list_memberships),
        )
        .route("/activities/contact_delete", post(bulk::contact_delete))
        .route("/activities/list_delete", post(bulk::list_delete))
        .route(
            "/activities/contacts_taggings_add",
            post(bulk::taggings_add),
        )
        .route(
            "/activities/contacts_taggings_remove",
            post(bulk::taggings_remove),
        )
        .route("/activities/contacts_tags_delete", post(bulk::tags_delete))
        .route(
            "/activities/custom_fields_delete",
            post(bulk::custom_fields_delete),
        )
        .route("/activities/contact_exports", post(exports::create))
        .route("/activities/{activity_id}", get(activities::get_one))
        .route("/contact_exports/{file_export_id}", get(exports::file))
}

fn campaign_routes() -> Router<AppState> {
    Router::new()
        .route("/emails", get(campaigns::list).post(campaigns::create))
        .route(
            "/emails/{campaign_id}",
            get(campaigns::get_one)
                .patch(campaigns::rename)
                .delete(campaigns::delete),
        )
        .route(
            "/emails/activities/{campaign_activity_id}",
            get(campaign_activities::get_one).put(campaign_activities::put),
        )
        .route(
            "/emails/activities/{campaign_activity_id}/schedules",
            get(campaign_activities::schedules)
                .post(campaign_activities::schedule)
                .delete(campaign_activities::unschedule),
        )
        .route(
            "/emails/activities/{campaign_activity_id}/tests",
            post(campaign_activities::test_send),
        )
        .route(
            "/emails/activities/{campaign_activity_id}/previews",
            get(campaign_activities::preview),
        )
        .route(
            "/emails/activities/{campaign_activity_id}/send_history",
            get(campaign_activities::send_history),
        )
        .route(
            "/emails/activities/{campaign_activity_id}/non_opener_resends",
            get(campaign_activities::resends).post(campaign_activities::create_resend),
        )
        .route(
            "/emails/activities/{campaign_activity_id}/non_opener_resends/{resend_request_id}",
            delete(campaign_activities::delete_resend),
        )
        .route(
            "/automations/workflows",
            get(automations::list).post(automations::create),
        )
        .route(
            "/automations/workflows/{automation_flow_id}",
            get(automations::get_one).put(automations::put),
        )
        .route(
            "/emails/activities/{campaign_activity_id}/abtest",
            get(ab_tests::get)
                .post(ab_tests::create)
                .delete(ab_tests::delete),
        )
}

fn report_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/reports/summary_reports/email_campaign_summaries",
            get(reports::summaries),
        )
        .route(
            "/reports/stats/email_campaigns/{campaign_ids}",
            get(reports::campaign_stats),
        )
        .route(
            "/reports/stats/email_campaign_activities/{campaign_activity_ids}",
            get(reports::activity_stats),
        )
        .route(
            "/reports/email_reports/{campaign_activity_id}/links",
            get(reports::links),
        )
        .route(
            "/reports/email_reports/{campaign_activity_id}/tracking/{report}",
            get(tracking::report),
        )
        .route(
            "/reports/contact_reports/{contact_id}/activity_details",
            get(contact_reports::activity_details),
        )
        .route(
            "/reports/contact_reports/{contact_id}/activity_summary",
            get(contact_reports::activity_summary),
        )
        .route(
            "/reports/contact_reports/{contact_id}/open_and_click_rates",
            get(contact_reports::open_and_click_rates),
        )
        .route(
            "/reports/landing_pages/campaign_details/{campaign_activity_id}/{report}",
            get(landing_page_reports::landing_page_report),
        )
        .route(
            "/reports/summary_reports/sms_campaign_summaries",
            get(landing_page_reports::sms_campaign_summaries),
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

/// Whether `text` has the shape of a UUID (8-4-4-4-12 hex digits).
pub(crate) fn is_uuid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(part, len)| part.len() == len && part.bytes().all(|b| b.is_ascii_hexdigit()))
}
