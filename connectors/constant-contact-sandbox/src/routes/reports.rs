//! Campaign reporting computed from what the sandbox sent ([`crate::events`]): the summary of
//! every sent campaign, the stats of campaigns and of campaign activities, and an activity's
//! links report. Due scheduled sends are carried out first, so a campaign whose time has passed
//! reports its send.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Params, flag, json, page, resume};
use crate::campaign::Campaign;
use crate::engagement::{self, BOUNCE_CODES, DEVICES};
use crate::errors::{ApiError, ApiResult};
use crate::events::{Counts, Rates, deliveries};
use crate::state::{AppState, lock};
use crate::store::Store;
use crate::util::{format_ms, now_ms};

/// How many campaign ids `GET /reports/stats/email_campaigns/{campaign_ids}` takes.
const MAX_CAMPAIGN_IDS: usize = 150;
/// How many activity ids `GET /reports/stats/email_campaign_activities/{ids}` takes.
const MAX_ACTIVITY_IDS: usize = 10;

/// The counts of every send of a campaign's activities.
fn campaign_counts(store: &Store, campaign: &Campaign) -> Counts {
    let mut counts = Counts::default();
    for activity in &campaign.activities {
        counts.add(&Counts::of(&deliveries(store.engagement_seed, activity)));
    }
    counts
}

/// `GET /reports/summary_reports/email_campaign_summaries`: sent campaigns, most recently sent
/// first, with unique counts and the rates over all of them.
pub(crate) async fn summaries(
    State(shared): State<AppState>,
    Query(params): Query<Params>,
) -> ApiResult {
    let (params, offset) = resume(params)?;
    let limit = super::limit(&params, 50, 500)?;
    let mut store = lock(&shared.store);
    store.settle_sends(now_ms());
    let mut sent: Vec<(&Campaign, i64, Counts)> = store
        .campaigns
        .iter()
        .filter_map(|c| c.last_sent().map(|at| (c, at, campaign_counts(&store, c))))
        .collect();
    sent.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.id.cmp(&b.0.id)));
    let (items, links) = page(
        &sent,
        "/reports/summary_reports/email_campaign_summaries",
        &params,
        offset,
        limit,
    );
    let summaries: Vec<Value> = items
        .iter()
        .map(|(c, at, n)| {
            json!({
                "campaign_id": c.id,
                "campaign_type": "Custom Code Email",
                "last_sent_date": format_ms(*at),
                "unique_counts": {"sends": n.sends, "opens": n.opens, "clicks": n.clicks,
                                  "forwards": n.forwards, "optouts": n.optouts, "abuse": 0,
                                  "bounces": n.bounces, "not_opened": n.not_opened},
            })
        })
        .collect();
    let mut total = Counts::default();
    for (_, _, counts) in &sent {
        total.add(counts);
    }
    let rates = Rates::of(&total);
    let mut body = json!({
        "bulk_email_campaign_summaries": summaries,
        "aggregate_percents": {"open": rates.open, "click": rates.click,
                               "did_not_open": rates.did_not_open, "bounce": rates.bounce,
                               "unsubscribe": rates.unsubscribe},
    });
    if let Some(links) = links {
        body["_links"] = links;
    }
    Ok(json(StatusCode::OK, body))
}

/// The stats every stats response has (`StatsEmail`).
fn stats_json(counts: &Counts) -> Value {
    let mut stats = json!({
        "em_sends": counts.sends,
        "em_opens": counts.opens,
        "em_opens_all": counts.opens_all,
        "em_clicks": counts.clicks,
        "em_clicks_all": counts.clicks_all,
        "em_forwards": counts.forwards,
        "em_optouts": counts.optouts,
        "em_bounces": counts.bounces,
        "em_not_opened": counts.not_opened,
        "em_opens_all_none": 0,
        "em_clicks_all_none": 0,
    });
    for (i, device) in DEVICES.iter().enumerate() {
        stats[format!("em_opens_all_{device}")] = json!(counts.opens_by_device[i]);
        stats[format!("em_clicks_all_{device}")] = json!(counts.clicks_by_device[i]);
    }
    stats
}

/// Comma-separated ids of a path: 1 to `max` of them, each shaped like a UUID.
fn path_ids(text: &str, what: &str, max: usize) -> Result<Vec<String>, ApiError> {
    let ids: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if ids.is_empty() || ids.len() > max {
        return Err(ApiError::validation(format!(
            "{what} takes 1 to {max} comma-separated ids."
        )));
    }
    if let Some(bad) = ids.iter().find(|id| !super::is_uuid(id)) {
        return Err(ApiError::not_found(&format!("{what} `{bad}`")));
    }
    Ok(ids)
}

/// `GET /reports/stats/email_campaigns/{campaign_ids}`: stats and rates per campaign. An unknown
/// campaign fails the whole request (404), as the spec says; one never sent is listed under
/// `errors`.
pub(crate) async fn campaign_stats(
    State(shared): State<AppState>,
    Path(ids): Path<String>,
) -> ApiResult {
    let ids = path_ids(&ids, "campaign_ids", MAX_CAMPAIGN_IDS)?;
    let mut store = lock(&shared.store);
    let now = now_ms();
    store.settle_sends(now);
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for id in &ids {
        let campaign = store
            .campaigns
            .iter()
            .find(|c| c.id == *id)
            .ok_or_else(|| ApiError::not_found("email campaign"))?;
        if campaign.last_sent().is_none() {
            errors.push(json!({"error_key": "reportingsvc.not_found.campaign_stats",
                               "error_message": format!("No stats for campaign {id}: it was not sent.")}));
            continue;
        }
        let counts = campaign_counts(&store, campaign);
        let rates = Rates::of(&counts);
        results.push(json!({
            "campaign_id": id,
            "stats": stats_json(&counts),
            "percents": {"open": rates.open, "click": rates.click,
                         "did_not_open": rates.did_not_open, "bounce": rates.bounce,
                         "unsubscribe": rates.unsubscribe, "desktop_open": rates.desktop_open,
                         "mobile_open": rates.mobile_open, "desktop_click": rates.desktop_click,
                         "mobile_click": rates.mobile_click},
            "last_refresh_time": format_ms(now),
        }));
    }
    Ok(json(
        StatusCode::OK,
        json!({"results": results, "errors": errors}),
    ))
}

/// `GET /reports/stats/email_campaign_activities/{campaign_activity_ids}`: stats per activity
/// (bounces by reason and abuse included). Activities that do not exist or were never sent are
/// listed under `errors`.
pub(crate) async fn activity_stats(
    State(shared): State<AppState>,
    Path(ids): Path<String>,
) -> ApiResult {
    let ids = path_ids(&ids, "campaign_activity_ids", MAX_ACTIVITY_IDS)?;
    let mut store = lock(&shared.store);
    let now = now_ms();
    store.settle_sends(now);
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for id in &ids {
        let found = store.find_activity(id).map(|(ci, ai)| {
            let campaign = &store.campaigns[ci];
            (campaign, &campaign.activities[ai])
        });
        let Some((campaign, activity)) = found.filter(|(_, a)| !a.sends.is_empty()) else {
            errors.push(
                json!({"error_key": "reportingsvc.not_found.campaign_activity_stats",
                               "error_message": format!("No stats for campaign activity {id}.")}),
            );
            continue;
        };
        let counts = Counts::of(&deliveries(store.engagement_seed, activity));
        let mut stats = stats_json(&counts);
        stats["em_abuse"] = json!(0);
        for (i, (_, name)) in BOUNCE_CODES.iter().enumerate() {
            let key = format!("em_bounces_{name}");
            // Two codes share a stats name in the spec's list; add them up.
            let before = stats.get(&key).and_then(Value::as_i64).unwrap_or(0);
            stats[key] = json!(before + counts.bounces_by_code[i]);
        }
        results.push(json!({
            "campaign_id": campaign.id,
            "campaign_activity_id": id,
            "stats": stats,
            "last_refresh_time": format_ms(now),
        }));
    }
    Ok(json(
        StatusCode::OK,
        json!({"results": results, "errors": errors}),
    ))
}

/// The sent activity `id` a report is about (404 for an unknown activity; a permalink has no
/// reports).
pub(crate) fn reported_activity(store: &mut Store, id: &str) -> Result<(usize, usize), ApiError> {
    store.settle_sends(now_ms());
    let (ci, ai) = store
        .find_activity(id)
        .ok_or_else(|| ApiError::not_found("campaign activity"))?;
    if store.campaigns[ci].activities[ai].role != "primary_email" {
        return Err(ApiError::validation(
            "Reports exist for primary_email activities only.",
        ));
    }
    Ok((ci, ai))
}

/// `GET /reports/email_reports/{campaign_activity_id}/links`: unique clicks per link (links
/// nobody clicked only with `no_clicks=true`).
pub(crate) async fn links(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult {
    let with_unclicked = flag(&params, "no_clicks")?;
    let mut store = lock(&shared.store);
    let (ci, ai) = reported_activity(&mut store, &id)?;
    let activity = &store.campaigns[ci].activities[ai];
    let urls = engagement::links_of(&activity.html_content);
    let mut unique = vec![0_i64; urls.len()];
    for delivery in deliveries(store.engagement_seed, activity) {
        let mut clicked: Vec<usize> = delivery.outcome.clicks.iter().map(|c| c.link).collect();
        clicked.sort_unstable();
        clicked.dedup();
        for link in clicked {
            unique[link] += 1;
        }
    }
    let counts: Vec<Value> = urls
        .iter()
        .zip(&unique)
        .filter(|(_, n)| with_unclicked || **n > 0)
        .map(|(url, n)| {
            json!({"link_url": url, "url_id": engagement::url_id(&activity.id, url),
                   "unique_clicks": n})
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        json!({"campaign_activity_id": id, "link_click_counts": counts}),
    ))
}
