//! Email campaigns: `/emails` list/create/get, campaign activities, their schedules, and the
//! campaign summary report.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Params, check_len, json, page, resume};
use crate::errors::{ApiError, ApiResult, parse_body};
use crate::state::{AppState, lock};
use crate::store::{Campaign, CampaignActivity};
use crate::util::{format_ms, now_ms, parse_iso};

fn summary_json(campaign: &Campaign) -> Value {
    json!({
        "campaign_id": campaign.id,
        "created_at": format_ms(campaign.created_at),
        "current_status": campaign.status,
        "name": campaign.name,
        "type": "NEWSLETTER",
        "type_code": 10,
        "updated_at": format_ms(campaign.updated_at),
    })
}

fn campaign_json(campaign: &Campaign) -> Value {
    let mut out = summary_json(campaign);
    out["campaign_activities"] = campaign
        .activities
        .iter()
        .map(|a| json!({"campaign_activity_id": a.id, "role": a.role}))
        .collect();
    out
}

fn activity_json(campaign: &Campaign, activity: &CampaignActivity, include: &[&str]) -> Value {
    let mut out = json!({
        "campaign_activity_id": activity.id,
        "campaign_id": campaign.id,
        "role": activity.role,
        "contact_list_ids": activity.contact_list_ids,
        "segment_ids": [],
        "current_status": campaign.status.to_uppercase(),
        "format_type": activity.format_type,
        "from_email": activity.from_email,
        "from_name": activity.from_name,
        "reply_to_email": activity.reply_to_email,
        "subject": activity.subject,
    });
    if let Some(preheader) = &activity.preheader {
        out["preheader"] = json!(preheader);
    }
    if include.contains(&"html_content") {
        out["html_content"] = json!(activity.html_content);
    }
    if include.contains(&"permalink_url") {
        out["permalink_url"] = json!(format!(
            "https://myemail.constantcontact.com/sandbox-{}.html",
            activity.id
        ));
    }
    out
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
    let store = lock(&shared.store);
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
    check_len("name", Some(&name), 80)?;
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
    let from_name = required(activity.from_name, "from_name")?;
    let from_email = required(activity.from_email, "from_email")?;
    let reply_to_email = required(activity.reply_to_email, "reply_to_email")?;
    let subject = required(activity.subject, "subject")?;
    let html_content = required(activity.html_content, "html_content")?;
    check_len("from_name", Some(&from_name), 100)?;
    check_len("preheader", activity.preheader.as_deref(), 200)?;
    check_len("html_content", Some(&html_content), 150_000)?;
    if format_type == 5 && !html_content.contains("[[trackingImage]]") {
        return Err(ApiError::validation(
            "html_content of a custom code email (format_type 5) must contain [[trackingImage]].",
        ));
    }
    let mut store = lock(&shared.store);
    if store.campaigns.iter().any(|c| c.name == name) {
        return Err(ApiError::conflict(format!(
            "An email campaign named `{name}` already exists."
        )));
    }
    let now = store.tick();
    let make = |role: &str, store_rng: &mut fastrand::Rng| CampaignActivity {
        id: crate::util::uuid(store_rng),
        role: role.into(),
        from_name: from_name.clone(),
        from_email: from_email.clone(),
        reply_to_email: reply_to_email.clone(),
        subject: subject.clone(),
        preheader: activity.preheader.clone(),
        html_content: html_content.clone(),
        format_type,
        contact_list_ids: Vec::new(),
        schedules: Vec::new(),
    };
    let mut rng = store.rng.clone();
    let campaign = Campaign {
        id: crate::util::uuid(&mut rng),
        name,
        status: "Draft".into(),
        created_at: now,
        updated_at: now,
        activities: vec![make("primary_email", &mut rng), make("permalink", &mut rng)],
        counts: None,
    };
    store.rng = rng;
    let body = campaign_json(&campaign);
    store.campaigns.push(campaign);
    Ok(json(StatusCode::OK, body))
}

/// `GET /emails/{campaign_id}`.
pub(crate) async fn get_one(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let store = lock(&shared.store);
    let campaign = store
        .campaigns
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(|| ApiError::not_found("email campaign"))?;
    Ok(json(StatusCode::OK, campaign_json(campaign)))
}

fn find_activity<'a>(campaigns: &'a [Campaign], id: &str) -> Option<(usize, usize, &'a Campaign)> {
    campaigns.iter().enumerate().find_map(|(ci, c)| {
        c.activities
            .iter()
            .position(|a| a.id == id)
            .map(|ai| (ci, ai, c))
    })
}

/// `GET /emails/activities/{campaign_activity_id}`.
pub(crate) async fn get_activity(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult {
    let include: Vec<&str> = params
        .get("include")
        .map(|v| v.split(',').collect())
        .unwrap_or_default();
    const ALLOWED: &[&str] = &[
        "physical_address_in_footer",
        "permalink_url",
        "html_content",
        "document_properties",
    ];
    if let Some(bad) = include.iter().find(|i| !ALLOWED.contains(i)) {
        return Err(ApiError::validation(format!(
            "include: `{bad}` is not valid."
        )));
    }
    let store = lock(&shared.store);
    let (_, ai, campaign) = find_activity(&store.campaigns, &id)
        .ok_or_else(|| ApiError::not_found("campaign activity"))?;
    Ok(json(
        StatusCode::OK,
        activity_json(campaign, &campaign.activities[ai], &include),
    ))
}

#[derive(Deserialize)]
struct ScheduleIn {
    scheduled_date: Option<String>,
}

/// `POST /emails/activities/{campaign_activity_id}/schedules`: 201 with the schedule list;
/// `"0"` means now.
pub(crate) async fn schedule(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input: ScheduleIn = parse_body(&body)?;
    let date = input
        .scheduled_date
        .ok_or_else(|| ApiError::validation("scheduled_date is required."))?;
    let when = if date == "0" {
        now_ms()
    } else {
        parse_iso(&date).ok_or_else(|| {
            ApiError::validation("scheduled_date must be an ISO-8601 date-time or 0.")
        })?
    };
    let mut store = lock(&shared.store);
    let now = store.tick();
    let (ci, ai, _) = find_activity(&store.campaigns, &id)
        .ok_or_else(|| ApiError::not_found("campaign activity"))?;
    let campaign = &mut store.campaigns[ci];
    if campaign.activities[ai].role != "primary_email" {
        return Err(ApiError::validation(
            "Only a primary_email activity can be scheduled.",
        ));
    }
    if campaign.status == "Done" {
        return Err(ApiError::validation("The campaign was already sent."));
    }
    campaign.status = "Scheduled".into();
    campaign.updated_at = now;
    let activity = &mut campaign.activities[ai];
    activity.schedules = vec![format_ms(when)];
    let body: Vec<Value> = activity
        .schedules
        .iter()
        .map(|d| json!({"scheduled_date": d}))
        .collect();
    Ok(json(StatusCode::CREATED, json!(body)))
}

/// `GET /emails/activities/{campaign_activity_id}/schedules`.
pub(crate) async fn get_schedules(
    State(shared): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    let store = lock(&shared.store);
    let (_, ai, campaign) = find_activity(&store.campaigns, &id)
        .ok_or_else(|| ApiError::not_found("campaign activity"))?;
    let body: Vec<Value> = campaign.activities[ai]
        .schedules
        .iter()
        .map(|d| json!({"scheduled_date": d}))
        .collect();
    Ok(json(StatusCode::OK, json!(body)))
}

/// `GET /reports/summary_reports/email_campaign_summaries`: sent campaigns, newest first.
pub(crate) async fn summaries(
    State(shared): State<AppState>,
    Query(params): Query<Params>,
) -> ApiResult {
    let (params, offset) = resume(params)?;
    let limit = super::limit(&params, 50, 500)?;
    let store = lock(&shared.store);
    let sent: Vec<(&Campaign, [i64; 8])> = store
        .campaigns
        .iter()
        .rev()
        .filter_map(|c| c.counts.map(|n| (c, n)))
        .collect();
    let (items, links) = page(
        &sent,
        "/reports/summary_reports/email_campaign_summaries",
        &params,
        offset,
        limit,
    );
    let summaries: Vec<Value> = items
        .iter()
        .map(|(c, n)| {
            json!({
                "campaign_id": c.id,
                "campaign_type": "Custom Code Email",
                "last_sent_date": format_ms(c.updated_at),
                "unique_counts": {"sends": n[0], "opens": n[1], "clicks": n[2], "forwards": n[3],
                                  "optouts": n[4], "abuse": n[5], "bounces": n[6], "not_opened": n[7]},
            })
        })
        .collect();
    let total = |i: usize| sent.iter().map(|(_, n)| n[i]).sum::<i64>() as f64;
    let sends = total(0).max(1.0);
    let percent = |x: f64| (x / sends * 1000.0).round() / 10.0;
    let mut body = json!({
        "bulk_email_campaign_summaries": summaries,
        "aggregate_percents": {"open": percent(total(1)), "click": percent(total(2)),
                               "did_not_open": percent(total(7)), "bounce": percent(total(6)),
                               "unsubscribe": percent(total(4))},
    });
    if let Some(links) = links {
        body["_links"] = links;
    }
    Ok(json(StatusCode::OK, body))
}
