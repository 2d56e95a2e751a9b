//! Landing-page and SMS reporting. The sandbox has no landing pages and sends no SMS, so nobody
//! ever visited a landing page or received a text: the reports answer empty, spec-shaped pages
//! after checking their parameters as the API does.
//!
//! The spec requires `_links.next.href` on every landing-page report page, even the last; the
//! last page's link is empty, which clients (the connector among them) read as "no more pages".

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use serde_json::json;

use super::{Params, is_uuid, json};
use crate::errors::{ApiError, ApiResult};
use crate::util::parse_iso;

/// The landing-page reports, the last segment of their paths.
const LANDING_PAGE_REPORTS: &[&str] = &[
    "p_unique_contact_clicks",
    "p_unique_contact_opens",
    "p_contact_opens",
    "p_unique_contact_updates",
    "p_unique_contact_adds",
    "p_unique_contact_sms_optins",
];

/// `GET /reports/landing_pages/campaign_details/{campaign_activity_id}/{report}`.
pub(crate) async fn landing_page_report(
    Path((id, report)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> ApiResult {
    if !LANDING_PAGE_REPORTS.contains(&report.as_str()) || !is_uuid(&id) {
        return Err(ApiError::not_found("landing page campaign activity"));
    }
    super::limit(&params, 50, 500)?;
    Ok(json(
        StatusCode::OK,
        json!({"tracking_activities": [], "_links": {"next": {"href": ""}}}),
    ))
}

/// `GET /reports/summary_reports/sms_campaign_summaries`: `start_at` is required, both dates are
/// ISO-8601, `limit` is 1–50.
pub(crate) async fn sms_campaign_summaries(Query(params): Query<Params>) -> ApiResult {
    super::limit(&params, 50, 50)?;
    let start = match params.get("start_at") {
        None => return Err(ApiError::validation("start_at is required.")),
        Some(text) => parse_iso(text)
            .ok_or_else(|| ApiError::validation("start_at must be an ISO-8601 date-time."))?,
    };
    if let Some(text) = params.get("end_at") {
        let end = parse_iso(text)
            .ok_or_else(|| ApiError::validation("end_at must be an ISO-8601 date-time."))?;
        if end < start {
            return Err(ApiError::validation("end_at must not be before start_at."));
        }
    }
    Ok(json(
        StatusCode::OK,
        json!({"bulk_sms_campaign_summaries": [],
            "aggregate_percents": {"deliver": 0.0, "click": 0.0, "bounce": 0.0, "unsubscribe": 0.0}}),
    ))
}
