//! A/B tests of a campaign's subject line: `GET`, `POST` and `DELETE
//! /emails/activities/{campaign_activity_id}/abtest`. One test per campaign, created only while
//! the campaign is a draft, with the limits the contract states (5 to 50 percent of recipients,
//! a winner chosen after 6, 12, 24 or 48 hours).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::campaign_activities::find;
use super::json;
use crate::campaign::{AbTest, CampaignStatus};
use crate::errors::{ApiError, ApiResult, parse_body};
use crate::state::{AppState, lock};

/// The hours the API accepts as `winner_wait_duration`.
const WINNER_WAITS: [i64; 4] = [6, 12, 24, 48];

/// The body of `POST …/abtest`.
#[derive(Deserialize)]
struct AbTestIn {
    alternative_subject: Option<String>,
    test_size: Option<i64>,
    winner_wait_duration: Option<i64>,
}

fn ab_test_json(test: &AbTest) -> Value {
    json!({"alternative_subject": test.alternative_subject, "test_size": test.test_size,
        "winner_wait_duration": test.winner_wait_duration})
}

/// `GET …/abtest`: the campaign's A/B test; 404 when it has none.
pub(crate) async fn get(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let mut store = lock(&shared.store);
    let (ci, _) = find(&mut store, &id)?;
    let test =
        (store.campaigns[ci].ab_test.as_ref()).ok_or_else(|| ApiError::not_found("A/B test"))?;
    Ok(json(StatusCode::OK, ab_test_json(test)))
}

/// `POST …/abtest`: 201; 400 for values out of range or a campaign that is not a draft, 409 when
/// the campaign already has a test.
pub(crate) async fn create(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input: AbTestIn = parse_body(&body)?;
    let alternative_subject = (input.alternative_subject)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::validation("alternative_subject is required."))?;
    let test_size = input
        .test_size
        .filter(|size| (5..=50).contains(size))
        .ok_or_else(|| ApiError::validation("test_size must be from 5 to 50."))?;
    let winner_wait_duration = input
        .winner_wait_duration
        .filter(|hours| WINNER_WAITS.contains(hours))
        .ok_or_else(|| ApiError::validation("winner_wait_duration must be 6, 12, 24 or 48."))?;
    let mut store = lock(&shared.store);
    let (ci, _) = find(&mut store, &id)?;
    let campaign = &mut store.campaigns[ci];
    if campaign.status != CampaignStatus::Draft {
        return Err(ApiError::validation(
            "An A/B test can be created only for a campaign in DRAFT status.",
        ));
    }
    if campaign.ab_test.is_some() {
        return Err(ApiError::conflict("The campaign already has an A/B test."));
    }
    let test = AbTest {
        alternative_subject,
        test_size,
        winner_wait_duration,
    };
    let body = ab_test_json(&test);
    campaign.ab_test = Some(test);
    Ok(json(StatusCode::CREATED, body))
}

/// `DELETE …/abtest`: 204; 404 when the campaign has no test.
pub(crate) async fn delete(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let mut store = lock(&shared.store);
    let (ci, _) = find(&mut store, &id)?;
    if store.campaigns[ci].ab_test.take().is_none() {
        return Err(ApiError::not_found("A/B test"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
