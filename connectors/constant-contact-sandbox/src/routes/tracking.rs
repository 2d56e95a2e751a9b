//! The tracking reports of a campaign activity, `GET /reports/email_reports/{id}/tracking/
//! {sends|opens|unique_opens|didnotopens|clicks|forwards|optouts|bounces}`: one record per event
//! of what the sandbox sent, most recent first, `limit` (1–500, default 500) per page with
//! `_links.next.href` to the rest.

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::reports::reported_activity;
use super::{Params, json, page, resume};
use crate::engagement::{self, DEVICES};
use crate::errors::{ApiError, ApiResult};
use crate::events::{Delivery, deliveries};
use crate::state::{AppState, lock};
use crate::store::Store;
use crate::util::{format_date, format_ms};

const REPORTS: &[&str] = &[
    "sends",
    "opens",
    "unique_opens",
    "didnotopens",
    "clicks",
    "forwards",
    "optouts",
    "bounces",
];
const BOUNCE_CODES: &[&str] = &["B", "D", "F", "S", "V", "X", "Z"];

/// One record before it is rendered: when, whose delivery, and the report's own fields.
struct Event<'a> {
    at: i64,
    delivery: &'a Delivery<'a>,
    extra: Map<String, Value>,
}

/// The `bounce_code` values of the request (`bounce_code=B&bounce_code=D`, the spec's `multi`
/// format), or of its cursor (comma-separated).
fn bounce_codes(raw: Option<&str>, params: &Params) -> Result<Vec<String>, ApiError> {
    let mut codes: Vec<String> = raw
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| *name == "bounce_code")
        .map(|(_, value)| value.to_owned())
        .collect();
    if codes.is_empty()
        && let Some(saved) = params.get("bounce_code")
    {
        codes = saved.split(',').map(str::to_owned).collect();
    }
    match codes.iter().find(|c| !BOUNCE_CODES.contains(&c.as_str())) {
        Some(bad) => Err(ApiError::validation(format!(
            "bounce_code `{bad}` is not one of {}.",
            BOUNCE_CODES.join(", ")
        ))),
        None => Ok(codes),
    }
}

/// The events of report `report` in the deliveries, unsorted.
fn events<'a>(
    report: &str,
    activity_id: &str,
    urls: &[String],
    all: &'a [Delivery<'a>],
    url_id: Option<&str>,
    codes: &[String],
) -> Vec<Event<'a>> {
    let mut out = Vec::new();
    for delivery in all {
        let o = &delivery.outcome;
        let mut push = |at: i64, extra: Map<String, Value>| {
            out.push(Event {
                at,
                delivery,
                extra,
            });
        };
        let device = |d: usize| {
            let mut extra = Map::new();
            extra.insert("device_type".into(), json!(DEVICES[d]));
            extra
        };
        match report {
            "sends" => push(delivery.send.at, Map::new()),
            "opens" => o.opens.iter().for_each(|e| push(e.at, device(e.device))),
            "unique_opens" => {
                if let Some(last) = o.opens.last() {
                    push(last.at, device(last.device));
                }
            }
            "didnotopens" => {
                if o.delivered() && o.opens.is_empty() {
                    push(delivery.send.at, Map::new());
                }
            }
            "clicks" => {
                for click in &o.clicks {
                    let url = &urls[click.link];
                    let id = engagement::url_id(activity_id, url);
                    if url_id.is_some_and(|wanted| wanted != id) {
                        continue;
                    }
                    let mut extra = device(click.device);
                    extra.insert("url_id".into(), json!(id));
                    extra.insert("link_url".into(), json!(url));
                    push(click.at, extra);
                }
            }
            "forwards" => {
                if let Some(at) = o.forward_at {
                    push(at, Map::new());
                }
            }
            "optouts" => {
                if let Some((at, reason)) = o.opt_out {
                    let mut extra = Map::new();
                    extra.insert("opt_out_reason".into(), json!(reason));
                    push(at, extra);
                }
            }
            _ => {
                if let Some((code, at)) = o.bounce
                    && (codes.is_empty() || codes.iter().any(|c| c.starts_with(code)))
                {
                    let mut extra = Map::new();
                    extra.insert("bounce_code".into(), json!(code.to_string()));
                    push(at, extra);
                }
            }
        }
    }
    out
}

fn event_json(store: &Store, report: &str, activity_id: &str, event: &Event<'_>) -> Value {
    let recipient = event.delivery.recipient;
    let contact = store.contacts.get(&recipient.contact_id);
    let mut out = Map::new();
    out.insert("contact_id".into(), json!(recipient.contact_id));
    out.insert("campaign_activity_id".into(), json!(activity_id));
    let kind = match report {
        "unique_opens" => "em_opens".to_owned(),
        other => format!("em_{other}"),
    };
    out.insert("tracking_activity_type".into(), json!(kind));
    out.insert("email_address".into(), json!(recipient.email));
    if let Some(contact) = contact {
        if let Some(first) = &contact.first_name {
            out.insert("first_name".into(), json!(first));
        }
        if let Some(last) = &contact.last_name {
            out.insert("last_name".into(), json!(last));
        }
        if report == "bounces" {
            let current = contact
                .email
                .as_ref()
                .map_or_else(|| recipient.email.clone(), |e| e.address.clone());
            out.insert("current_email_address".into(), json!(current));
        }
        if let Some(deleted) = contact.deleted_at {
            out.insert("deleted_at".into(), json!(format_date(deleted)));
        }
    }
    out.extend(event.extra.clone());
    out.insert("created_time".into(), json!(format_ms(event.at)));
    Value::Object(out)
}

/// `GET /reports/email_reports/{campaign_activity_id}/tracking/{report}`.
pub(crate) async fn report(
    State(shared): State<AppState>,
    Path((id, report)): Path<(String, String)>,
    Query(params): Query<Params>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    if !REPORTS.contains(&report.as_str()) {
        return Err(ApiError::array(
            StatusCode::NOT_FOUND,
            "api.resource.not_found",
            "The requested resource does not exist.",
        ));
    }
    let resumed = params.contains_key("cursor");
    let (mut params, offset) = resume(params)?;
    let limit = super::limit(&params, 500, 500)?;
    let codes = if report == "bounces" {
        bounce_codes(if resumed { None } else { raw.as_deref() }, &params)?
    } else {
        Vec::new()
    };
    if !codes.is_empty() {
        params.insert("bounce_code".into(), codes.join(","));
    }
    let url_id = params.get("url_id").cloned();
    if let Some(url) = &url_id
        && url.parse::<i64>().is_err()
    {
        return Err(ApiError::validation("url_id must be an integer."));
    }
    let mut store = lock(&shared.store);
    let (ci, ai) = reported_activity(&mut store, &id)?;
    let activity = &store.campaigns[ci].activities[ai];
    let urls = engagement::links_of(&activity.html_content);
    let all = deliveries(store.engagement_seed, activity);
    let mut found = events(&report, &id, &urls, &all, url_id.as_deref(), &codes);
    found.sort_by(|a, b| {
        b.at.cmp(&a.at).then_with(|| {
            a.delivery
                .recipient
                .contact_id
                .cmp(&b.delivery.recipient.contact_id)
        })
    });
    let path = format!("/reports/email_reports/{id}/tracking/{report}");
    let (items, next) = page(&found, &path, &params, offset, limit);
    let records: Vec<Value> = items
        .iter()
        .map(|e| event_json(&store, &report, &id, e))
        .collect();
    // The spec requires `_links` on some of these pages; it is always there, with `next` when
    // there is more.
    Ok(json(
        StatusCode::OK,
        json!({"tracking_activities": records, "_links": next.unwrap_or_else(|| json!({}))}),
    ))
}
