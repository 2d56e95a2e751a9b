//! `/account/summary` and `/account/user/privileges`: a fixed test account.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde_json::json;

use super::{Params, json};
use crate::errors::{ApiError, ApiResult};
use crate::state::AppState;

/// `GET /account/summary`.
pub(crate) async fn summary(
    State(_shared): State<AppState>,
    Query(params): Query<Params>,
) -> ApiResult {
    let mut body = json!({
        "contact_email": "owner@example.com",
        "contact_phone": "555-555-0100",
        "country_code": "US",
        "encoded_account_id": "a07e1sandbox0",
        "encoded_partner_id": "a37sandbox95el",
        "first_name": "Sandra",
        "last_name": "Box",
        "organization_name": "Plugboard Sandbox Inc.",
        "organization_phone": "555-555-0101",
        "state_code": "MA",
        "time_zone_id": "US/Eastern",
        "website": "https://example.com",
    });
    for extra in params
        .get("extra_fields")
        .map(|v| v.split(','))
        .into_iter()
        .flatten()
    {
        match extra.trim() {
            "physical_address" => {
                body["physical_address"] = json!({"address_line1": "1 Main St", "city": "Waltham",
                    "state_code": "MA", "postal_code": "02451", "country_code": "US"});
            }
            "company_logo" => {
                body["company_logo"] = json!({"url": "https://example.com/logo.png",
                    "external_url": "https://example.com/logo.png", "internal_id": "1"});
            }
            "" => {}
            other => {
                return Err(ApiError::validation(format!(
                    "extra_fields: `{other}` must be physical_address or company_logo."
                )));
            }
        }
    }
    Ok(json(StatusCode::OK, body))
}

/// `GET /account/user/privileges`.
pub(crate) async fn privileges(State(_shared): State<AppState>) -> ApiResult {
    let names = [
        "account:read",
        "account:update",
        "contacts:read",
        "contacts:write",
        "contacts:lists:write",
        "campaign:read",
        "campaign:create",
        "campaign:send",
        "ui:campaign:metrics",
    ];
    let body: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| json!({"privilege_id": i + 1, "privilege_name": name}))
        .collect();
    Ok(json(StatusCode::OK, json!(body)))
}
