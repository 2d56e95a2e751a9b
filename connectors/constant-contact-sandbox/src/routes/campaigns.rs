//! Email campaigns: `GET /emails` (newest first, removed ones included as the spec says),
//! `POST /emails` (a draft with its primary email and permalink activities), and per campaign
//! GET, PATCH (rename) and DELETE (the campaign becomes `Removed`; a scheduled one cannot be
//! deleted). Scheduled sends whose time has passed are carried out before any of these answers.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Params, check_len, json, page, resume};
use crate::campaign::{ActivityContent, Campaign, CampaignActivity, CampaignStatus};
use crate::errors::{ApiError, ApiResult, parse_body};
use crate::state::{AppState, lock};
use crate::store::Store;
use crate::util::{format_ms, now_ms, parse_iso};

/// The longest campaign name.
const MAX_NAME: usize = 80;

/// A campaign as `GET /emails` lists it.
pub(crate) fn summary_json(campaign: &Campaign) -> Value {
    json!({
        "campaign_id": campaign.id,
        "created_at": format_ms(campaign.created_at),
        "current_status": campaign.status.name(),
        "name": campaign.name,
        "type": "NEWSLETTER",
        "type_code": 10,
        "updated_at": format_ms(campaign.updated_at),
    })
}

/// A campaign with its activities, as `GET /emails/{campaign_id}` shows it.
pub(crate) fn campaign_json(campaign: &Campaign) -> Value {
    let mut out = summary_json(campaign);
    out["campaign_activities"] = campaign
        .activities
        .iter()
        .map(|a| json!({"campaign_activity_id": a.id, "role": a.role}))
        .collect();
    out
}

/// The campaign `id`'s position, after carrying out due sends.
pub(crate) fn find_campaign(store: &mut Store, id: &str) -> Result<usize, ApiError> {
    store.settle_sends(now_ms());
    store
        .campaigns
        .iter()
        .position(|c| c.id == id)
        .ok_or_else(|| ApiError::not_found("email campaign"))
}

/// Whether another campaign that is not removed has this name.
fn name_taken(store: &Store, name: &str, except: Option<&str>) -> bool {
    store.campaigns.iter().any(|c| {
        c.status != CampaignStatus::Removed && c.name == name && Some(c.id.as_str()) != except
    })
}

/// `GET /emails`: newest first, optionally by `before_date`/`after_date` (last update).
pub(crate) async fn list(
    State(shared): State<AppState>,
    Query(params): Query<Params>,
) -> ApiResult {
    let (params, offset) = resume(params)?;
    let limit = super::limit(&params, 50, 500)?;
    let bound = |name: &str| {
        params
            .get(name)
            .map(|v| {
                parse_iso(v).ok_or_else(|| {
                    ApiError::validation(format!("{name} must be an ISO-8601 date."))
                })
            })
            .transpose()
    };
    let (before, after) = (bound("before_date")?, bound("after_date")?);
    let mut store = lock(&shared.store);
    store.settle_sends(now_ms());
    let campaigns: Vec<&Campaign> = store
        .campaigns
        .iter()
        .rev()
        .filter(|c| before.is_none_or(|t| c.updated_at < t))
        .filter(|c| after.is_none_or(|t| c.updated_at > t))
        .collect();
    let (items, links) = page(&campaigns, "/emails", &params, offset, limit);
    let mut body = json!({"campaigns": items.iter().map(|c| summary_json(c)).collect::<Vec<_>>()});
    if let Some(links) = links {
        body["_links"] = links;
    }
    Ok(json(StatusCode::OK, body))
}

#[derive(Deserialize)]
struct ActivityIn {
    format_type: Option<i64>,
    from_name: Option<String>,
    from_email: Option<String>,
    reply_to_email: Option<String>,
    subject: Option<String>,
    preheader: Option<String>,
    html_content: Option<String>,
    physical_address_in_footer: Option<Value>,
}

#[derive(Deserialize)]
struct CampaignIn {
    name: Option<String>,
    email_campaign_activities: Option<Vec<ActivityIn>>,
}

/// `POST /emails`: creates a draft campaign with its primary email and permalink activities;
/// answers 200 (as the spec says) with the campaign.
pub(crate) async fn create(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let input: CampaignIn = parse_body(&body)?;
    let name = input
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::validation("name is required."))?;
    check_len("name", Some(&name), MAX_NAME)?;
    let mut activities = input.email_campaign_activities.unwrap_or_default();
    if activities.len() != 1 {
        return Err(ApiError::validation(
            "email_campaign_activities must contain exactly one activity.",
        ));
    }
    let activity = activities.remove(0);
    let required = |value: Option<String>, field: &str| {
        value.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
            ApiError::validation(format!("email_campaign_activities.{field} is required."))
        })
    };
    let format_type = activity.format_type.ok_or_else(|| {
        ApiError::validation("email_campaign_activities.format_type is required.")
    })?;
    let content = ActivityContent {
        from_name: required(activity.from_name, "from_name")?,
        from_email: required(activity.from_email, "from_email")?,
        reply_to_email: required(activity.reply_to_email, "reply_to_email")?,
        subject: required(activity.subject, "subject")?,
        preheader: activity.preheader,
        html_content: required(activity.html_content, "html_content")?,
        format_type,
        physical_address_in_footer: activity.physical_address_in_footer,
    };
    check_len("from_name", Some(&content.from_name), 100)?;
    check_len("preheader", content.preheader.as_deref(), 200)?;
    check_len("html_content", Some(&content.html_content), 150_000)?;
    if format_type == 5 && !content.html_content.contains("[[trackingImage]]") {
        return Err(ApiError::validation(
            "html_content of a custom code email (format_type 5) must contain [[trackingImage]].",
        ));
    }
    let mut store = lock(&shared.store);
    if name_taken(&store, &name, None) {
        return Err(ApiError::conflict(format!(
            "An email campaign named `{name}` already exists."
        )));
    }
    let now = store.tick();
    let campaign_id = store.new_id();
    let primary = store.new_id();
    let permalink = store.new_id();
    let campaign = Campaign {
        id: campaign_id,
        name,
        status: CampaignStatus::Draft,
        status_before_schedule: None,
        created_at: now,
        updated_at: now,
        activities: vec![
            CampaignActivity::new(primary, "primary_email", content.clone()),
            CampaignActivity::new(permalink, "permalink", content),
        ],
        resend: None,
        ab_test: None,
    };
    let body = campaign_json(&campaign);
    store.campaigns.push(campaign);
    Ok(json(StatusCode::OK, body))
}

/// `GET /emails/{campaign_id}`.
pub(crate) async fn get_one(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let mut store = lock(&shared.store);
    let index = find_campaign(&mut store, &id)?;
    Ok(json(StatusCode::OK, campaign_json(&store.campaigns[index])))
}

#[derive(Deserialize)]
struct NameIn {
    name: Option<String>,
}

/// `PATCH /emails/{campaign_id}`: renames (unique, ≤ 80 characters; not a removed campaign).
pub(crate) async fn rename(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input: NameIn = parse_body(&body)?;
    let name = input
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::validation("name is required."))?;
    check_len("name", Some(&name), MAX_NAME)?;
    let mut store = lock(&shared.store);
    let index = find_campaign(&mut store, &id)?;
    if store.campaigns[index].status == CampaignStatus::Removed {
        return Err(ApiError::validation(
            "A campaign with the Removed status cannot be renamed.",
        ));
    }
    if name_taken(&store, &name, Some(&id)) {
        return Err(ApiError::conflict(format!(
            "An email campaign named `{name}` already exists."
        )));
    }
    let now = store.tick();
    let campaign = &mut store.campaigns[index];
    campaign.name = name;
    campaign.updated_at = now;
    Ok(json(StatusCode::OK, campaign_json(campaign)))
}

/// `DELETE /emails/{campaign_id}`: 204; the campaign stays listed as `Removed` and its
/// activities can no longer be read. A scheduled campaign must be unscheduled first.
pub(crate) async fn delete(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let mut store = lock(&shared.store);
    let index = find_campaign(&mut store, &id)?;
    match store.campaigns[index].status {
        CampaignStatus::Removed => return Err(ApiError::not_found("email campaign")),
        CampaignStatus::Scheduled => {
            return Err(ApiError::validation(
                "A scheduled campaign cannot be deleted; unschedule it first.",
            ));
        }
        CampaignStatus::Draft | CampaignStatus::Done => {}
    }
    let now = store.tick();
    let campaign = &mut store.campaigns[index];
    campaign.status = CampaignStatus::Removed;
    campaign.updated_at = now;
    Ok(StatusCode::NO_CONTENT.into_response())
}
