//! One contact's reports, `/reports/contact_reports/{contact_id}/…`: its tracking activity
//! details (paged, newest first), a per-email summary of what it did, and its average open and
//! click rates over a date range, all computed from what the sandbox sent.

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Params, flag, json, page, resume};
use crate::campaign::Campaign;
use crate::engagement::{self, Outcome};
use crate::errors::{ApiError, ApiResult};
use crate::state::{AppState, lock};
use crate::store::Store;
use crate::util::{format_ms, now_ms, parse_iso};

const TYPES: &[&str] = &[
    "em_sends",
    "em_opens",
    "em_clicks",
    "em_bounces",
    "em_optouts",
    "em_forwards",
    "p_contact_open",
    "p_contact_click",
    "p_contact_add",
    "p_contact_update",
];

/// How far apart `start` and `end` of the open and click rates may be (five years).
const MAX_RANGE_DAYS: i64 = 5 * 365 + 1;
/// How many emails the activity summary covers.
const SUMMARY_EMAILS: usize = 200;

/// One email the contact was sent: the campaign, the activity id, when, and what it did.
struct Received<'a> {
    campaign: &'a Campaign,
    activity_id: &'a str,
    at: i64,
    outcome: Outcome,
}

/// Every email `contact_id` was sent, most recent first.
fn received<'a>(store: &'a Store, contact_id: &str) -> Vec<Received<'a>> {
    let mut out = Vec::new();
    for campaign in &store.campaigns {
        for activity in &campaign.activities {
            let links = engagement::links_of(&activity.html_content).len();
            for send in &activity.sends {
                if send.recipients.iter().any(|r| r.contact_id == contact_id) {
                    out.push(Received {
                        campaign,
                        activity_id: &activity.id,
                        at: send.at,
                        outcome: engagement::outcome(
                            store.engagement_seed,
                            &activity.id,
                            contact_id,
                            send.at,
                            engagement::window(send.at, send.settled_at),
                            links,
                        ),
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| {
        b.at.cmp(&a.at)
            .then_with(|| a.activity_id.cmp(b.activity_id))
    });
    out
}

/// Settles due sends and checks the contact exists.
fn contact(store: &mut Store, id: &str) -> Result<(), ApiError> {
    store.settle_sends(now_ms());
    if store.contacts.contains_key(id) {
        Ok(())
    } else {
        Err(ApiError::not_found("contact"))
    }
}

/// The types asked for: `tracking_activities_list` (comma-separated) or `tracking_activity_type`
/// (repeated), exactly one of the two.
fn wanted_types(params: &Params, raw: Option<&str>) -> Result<Vec<String>, ApiError> {
    let repeated: Vec<String> = raw
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| *name == "tracking_activity_type")
        .map(|(_, value)| value.to_owned())
        .collect();
    let listed: Vec<String> = params
        .get("tracking_activities_list")
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
        .unwrap_or_default();
    let types = match (listed.is_empty(), repeated.is_empty()) {
        (false, true) => listed,
        (true, false) => repeated,
        (false, false) => {
            return Err(ApiError::validation(
                "tracking_activities_list and tracking_activity_type cannot be used together.",
            ));
        }
        (true, true) => {
            return Err(ApiError::validation(
                "Give the tracking activity types with tracking_activities_list or tracking_activity_type.",
            ));
        }
    };
    match types.iter().find(|t| !TYPES.contains(&t.as_str())) {
        Some(bad) => Err(ApiError::validation(format!(
            "tracking activity type `{bad}` is not one of {}.",
            TYPES.join(", ")
        ))),
        None => Ok(types),
    }
}

/// `GET /reports/contact_reports/{contact_id}/activity_details`.
pub(crate) async fn activity_details(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let resumed = params.contains_key("cursor");
    let (mut params, offset) = resume(params)?;
    if !resumed {
        let types = wanted_types(&params, raw.as_deref())?;
        params.remove("tracking_activity_type");
        params.insert("tracking_activities_list".into(), types.join(","));
    }
    let types = wanted_types(&params, None)?;
    let limit = super::limit(&params, 100, 100)?;
    let names = !matches!(
        params
            .get("include_campaign_activity_names")
            .map(String::as_str),
        Some("false")
    );
    flag(&params, "include_campaign_activity_names")?;
    let mut store = lock(&shared.store);
    contact(&mut store, &id)?;
    let mut events: Vec<(i64, &str, &Campaign, &str)> = Vec::new();
    let emails = received(&store, &id);
    for email in &emails {
        let o = &email.outcome;
        let mut push = |at: i64, kind: &'static str| {
            if types.iter().any(|t| t == kind) {
                events.push((at, kind, email.campaign, email.activity_id));
            }
        };
        push(email.at, "em_sends");
        o.opens.iter().for_each(|e| push(e.at, "em_opens"));
        o.clicks.iter().for_each(|e| push(e.at, "em_clicks"));
        if let Some((_, at)) = o.bounce {
            push(at, "em_bounces");
        }
        if let Some((at, _)) = o.opt_out {
            push(at, "em_optouts");
        }
        if let Some(at) = o.forward_at {
            push(at, "em_forwards");
        }
    }
    events.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let path = format!("/reports/contact_reports/{id}/activity_details");
    let (items, next) = page(&events, &path, &params, offset, limit);
    let records: Vec<Value> = items
        .iter()
        .map(|(at, kind, campaign, activity)| {
            let mut record = json!({"contact_id": id, "campaign_activity_id": activity,
                                    "created_time": format_ms(*at), "tracking_activity_type": kind});
            if names {
                record["campaign_activity_name"] = json!(campaign.name);
            }
            record
        })
        .collect();
    let mut body = json!({"tracking_activities": records});
    if let Some(next) = next {
        body["_links"] = next;
    }
    Ok(json(StatusCode::OK, body))
}

/// The required `start` and `end` of a date range, at most `max_days` apart when limited.
fn range(params: &Params, max_days: Option<i64>) -> Result<(i64, i64), ApiError> {
    let bound = |name: &str| {
        let text = params
            .get(name)
            .ok_or_else(|| ApiError::validation(format!("{name} is required.")))?;
        parse_iso(text).ok_or_else(|| {
            ApiError::validation(format!("{name} must be an ISO-8601 date or date-time."))
        })
    };
    let (start, end) = (bound("start")?, bound("end")?);
    if end < start {
        return Err(ApiError::validation("end must not be before start."));
    }
    if max_days.is_some_and(|days| end - start > days * 86_400_000) {
        return Err(ApiError::validation(
            "The date range cannot exceed 5 years.",
        ));
    }
    Ok((start, end))
}

/// `GET /reports/contact_reports/{contact_id}/activity_summary`: per email sent to the contact
/// within `start`..`end` (the most recent 200), how often it was opened and clicked, and whether
/// it bounced, was forwarded or led to an opt-out.
pub(crate) async fn activity_summary(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult {
    let (start, end) = range(&params, None)?;
    let mut store = lock(&shared.store);
    contact(&mut store, &id)?;
    let activities: Vec<Value> = received(&store, &id)
        .iter()
        .filter(|e| (start..=end).contains(&e.at))
        .take(SUMMARY_EMAILS)
        .map(|e| {
            let o = &e.outcome;
            json!({"campaign_activity_id": e.activity_id, "start_on": format_ms(e.at),
                   "em_sends": 1, "em_opens": o.opens.len(), "em_clicks": o.clicks.len(),
                   "em_bounces": i64::from(o.bounce.is_some()),
                   "em_forwards": i64::from(o.forward_at.is_some()),
                   "em_unsubscribes": i64::from(o.opt_out.is_some())})
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        json!({"contact_id": id, "campaign_activities": activities}),
    ))
}

/// `GET /reports/contact_reports/{contact_id}/open_and_click_rates`: the share of emails sent to
/// the contact within `start`..`end` that it opened and clicked (0 to 1; all 0 when none).
pub(crate) async fn open_and_click_rates(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult {
    let (start, end) = range(&params, Some(MAX_RANGE_DAYS))?;
    let mut store = lock(&shared.store);
    contact(&mut store, &id)?;
    let emails: Vec<Received<'_>> = received(&store, &id)
        .into_iter()
        .filter(|e| (start..=end).contains(&e.at))
        .collect();
    let count = emails.len();
    let share = |n: usize| {
        if count == 0 {
            0.0
        } else {
            (n as f64 / count as f64 * 1000.0).round() / 1000.0
        }
    };
    let opened = emails
        .iter()
        .filter(|e| !e.outcome.opens.is_empty())
        .count();
    let clicked = emails
        .iter()
        .filter(|e| !e.outcome.clicks.is_empty())
        .count();
    Ok(json(
        StatusCode::OK,
        json!({"contact_id": id, "included_activities_count": count,
               "average_open_rate": share(opened), "average_click_rate": share(clicked)}),
    ))
}
