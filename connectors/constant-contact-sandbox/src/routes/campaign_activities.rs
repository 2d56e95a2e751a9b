//! One campaign activity: GET and PUT (content, sender and recipients), its schedule (GET, POST,
//! DELETE), test sends, the HTML preview, the send history and the resend to non-openers. Only a
//! `primary_email` activity is sent, and only when it has recipients (lists or one segment).
//! Activities of a removed campaign are not found.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Params, check_len, json};
use crate::campaign::{Campaign, CampaignActivity, CampaignStatus, Resend, Stamp};
use crate::errors::{ApiError, ApiResult, parse_body};
use crate::routes::contact_writes::check_email;
use crate::state::{AppState, lock};
use crate::store::Store;
use crate::util::{format_ms, now_ms, parse_iso, utc_day};

/// Test emails an account may send per UTC day.
const TEST_SENDS_PER_DAY: u32 = 50;
/// Recipients of one test send.
const TEST_RECIPIENTS: usize = 5;
/// The delay bounds of a resend to non-openers: 12 hours to 10 days.
const RESEND_MINUTES: std::ops::RangeInclusive<i64> = 720..=14_400;

/// The campaign and activity positions of activity `id`, after carrying out due sends (404 for
/// an unknown activity or one of a removed campaign).
pub(crate) fn find(store: &mut Store, id: &str) -> Result<(usize, usize), ApiError> {
    store.settle_sends(now_ms());
    store
        .find_activity(id)
        .filter(|(ci, _)| store.campaigns[*ci].status != CampaignStatus::Removed)
        .ok_or_else(|| ApiError::not_found("campaign activity"))
}

/// Refuses anything but a `primary_email` activity.
fn primary(activity: &CampaignActivity, what: &str) -> Result<(), ApiError> {
    if activity.role == "primary_email" {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "Only a primary_email activity can {what}; this one is a {}.",
            activity.role
        )))
    }
}

const INCLUDES: &[&str] = &[
    "physical_address_in_footer",
    "permalink_url",
    "html_content",
    "document_properties",
];

fn activity_json(
    store: &Store,
    campaign: &Campaign,
    activity: &CampaignActivity,
    include: &[&str],
) -> Value {
    let mut out = json!({
        "campaign_activity_id": activity.id,
        "campaign_id": campaign.id,
        "role": activity.role,
        "contact_list_ids": activity.contact_list_ids,
        "segment_ids": activity.segment_ids,
        "current_status": campaign.status.activity_name(),
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
    if include.contains(&"physical_address_in_footer") {
        // The activity's own, else the account's (the service falls back to it as well).
        let address = activity.physical_address_in_footer.clone().or_else(|| {
            store.account.physical_address.as_ref().map(|a| {
                let mut footer = a.to_json();
                footer["organization_name"] = json!(
                    store
                        .account
                        .summary
                        .organization_name
                        .clone()
                        .unwrap_or_default()
                );
                footer
            })
        });
        if let Some(address) = address {
            out["physical_address_in_footer"] = address;
        }
    }
    if include.contains(&"document_properties")
        && let Some(properties) = &activity.document_properties
    {
        out["document_properties"] = properties.clone();
    }
    out
}

/// `GET /emails/activities/{campaign_activity_id}`.
pub(crate) async fn get_one(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult {
    let include: Vec<&str> = params
        .get("include")
        .map(|v| v.split(',').map(str::trim).collect())
        .unwrap_or_default();
    if let Some(bad) = include.iter().find(|i| !INCLUDES.contains(i)) {
        return Err(ApiError::validation(format!(
            "include: `{bad}` is not one of {}.",
            INCLUDES.join(", ")
        )));
    }
    let mut store = lock(&shared.store);
    let (ci, ai) = find(&mut store, &id)?;
    let campaign = &store.campaigns[ci];
    Ok(json(
        StatusCode::OK,
        activity_json(&store, campaign, &campaign.activities[ai], &include),
    ))
}

/// The body of `PUT /emails/activities/{campaign_activity_id}` (read-only properties ignored).
#[derive(Deserialize)]
struct ActivityIn {
    from_email: Option<String>,
    from_name: Option<String>,
    reply_to_email: Option<String>,
    subject: Option<String>,
    preheader: Option<String>,
    html_content: Option<String>,
    contact_list_ids: Option<Vec<String>>,
    segment_ids: Option<Vec<i64>>,
    physical_address_in_footer: Option<Value>,
    document_properties: Option<Value>,
}

/// `PUT /emails/activities/{campaign_activity_id}`: replaces the activity's properties (those
/// left out are cleared) but keeps the sub-resources left out (`html_content`,
/// `physical_address_in_footer`, `document_properties`). Only a `primary_email` activity of a
/// Draft or Done campaign can be updated.
pub(crate) async fn put(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input: ActivityIn = parse_body(&body)?;
    let required = |value: Option<String>, field: &str| {
        value
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| ApiError::validation(format!("{field} is required.")))
    };
    let from_email = required(input.from_email, "from_email")?;
    let from_name = required(input.from_name, "from_name")?;
    let reply_to_email = required(input.reply_to_email, "reply_to_email")?;
    let subject = required(input.subject, "subject")?;
    check_email(&from_email, 80).map_err(|_| {
        ApiError::validation(format!("from_email `{from_email}` is not a valid address."))
    })?;
    check_email(&reply_to_email, 80).map_err(|_| {
        ApiError::validation(format!(
            "reply_to_email `{reply_to_email}` is not a valid address."
        ))
    })?;
    check_len("from_name", Some(&from_name), 100)?;
    check_len("preheader", input.preheader.as_deref(), 200)?;
    check_len("html_content", input.html_content.as_deref(), 150_000)?;
    let lists = input.contact_list_ids.unwrap_or_default();
    let segments = input.segment_ids.unwrap_or_default();
    if !lists.is_empty() && !segments.is_empty() {
        return Err(ApiError::validation(
            "contact_list_ids and segment_ids cannot be used together.",
        ));
    }
    if segments.len() > 1 {
        return Err(ApiError::validation(
            "segment_ids can hold a single segment id.",
        ));
    }
    let mut store = lock(&shared.store);
    let (ci, ai) = find(&mut store, &id)?;
    if let Some(unknown) = store.unknown_lists(&lists).first() {
        return Err(ApiError::validation(format!(
            "contact_list_ids: `{unknown}` does not exist."
        )));
    }
    if let Some(unknown) = segments.iter().find(|s| {
        !store
            .segments
            .iter()
            .any(|x| x.id == **s && x.deleted_at.is_none())
    }) {
        return Err(ApiError::validation(format!(
            "segment_ids: `{unknown}` does not exist."
        )));
    }
    let campaign = &store.campaigns[ci];
    let activity = &campaign.activities[ai];
    primary(activity, "be updated")?;
    if !matches!(
        campaign.status,
        CampaignStatus::Draft | CampaignStatus::Done
    ) {
        return Err(ApiError::validation(format!(
            "Only an activity in DRAFT or DONE status can be updated; this one is {}.",
            campaign.status.activity_name()
        )));
    }
    if !segments.is_empty() && !matches!(activity.format_type, 3..=5) {
        return Err(ApiError::validation(
            "Only format_type 3, 4 and 5 activities can be sent to a segment.",
        ));
    }
    let html = input
        .html_content
        .unwrap_or_else(|| activity.html_content.clone());
    if activity.format_type == 5 && !html.contains("[[trackingImage]]") {
        return Err(ApiError::validation(
            "html_content of a custom code email (format_type 5) must contain [[trackingImage]].",
        ));
    }
    let now = store.tick();
    let campaign = &mut store.campaigns[ci];
    campaign.updated_at = now;
    let activity = &mut campaign.activities[ai];
    activity.from_email = from_email;
    activity.from_name = from_name;
    activity.reply_to_email = reply_to_email;
    activity.subject = subject;
    activity.preheader = input.preheader;
    activity.html_content = html;
    activity.contact_list_ids = lists;
    activity.segment_ids = segments;
    if let Some(address) = input.physical_address_in_footer {
        activity.physical_address_in_footer = Some(address);
    }
    if let Some(properties) = input.document_properties {
        activity.document_properties = Some(properties);
    }
    let campaign = &store.campaigns[ci];
    let body = activity_json(&store, campaign, &campaign.activities[ai], INCLUDES);
    Ok(json(StatusCode::OK, body))
}

fn schedule_json(activity: &CampaignActivity) -> Value {
    json!(
        activity
            .scheduled_at
            .iter()
            .map(|at| json!({"scheduled_date": format_ms(*at)}))
            .collect::<Vec<_>>()
    )
}

/// `GET /emails/activities/{campaign_activity_id}/schedules`: empty unless scheduled.
pub(crate) async fn schedules(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let mut store = lock(&shared.store);
    let (ci, ai) = find(&mut store, &id)?;
    Ok(json(
        StatusCode::OK,
        schedule_json(&store.campaigns[ci].activities[ai]),
    ))
}

#[derive(Deserialize)]
struct ScheduleIn {
    scheduled_date: Option<String>,
}

/// `POST /emails/activities/{campaign_activity_id}/schedules`: `"0"` sends at once (201 with an
/// empty array); a future date schedules the send (201 with it). The activity must be the
/// primary email of a Draft or Done campaign and have recipients; a Done one is sent only to
/// contacts who did not receive it yet.
pub(crate) async fn schedule(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input: ScheduleIn = parse_body(&body)?;
    let date = input
        .scheduled_date
        .ok_or_else(|| ApiError::validation("scheduled_date is required."))?;
    let when = if date.trim() == "0" {
        None
    } else {
        Some(parse_iso(&date).ok_or_else(|| {
            ApiError::validation("scheduled_date must be an ISO-8601 date-time or 0.")
        })?)
    };
    let mut store = lock(&shared.store);
    let (ci, ai) = find(&mut store, &id)?;
    let campaign = &store.campaigns[ci];
    let activity = &campaign.activities[ai];
    primary(activity, "be scheduled")?;
    if !matches!(
        campaign.status,
        CampaignStatus::Draft | CampaignStatus::Done
    ) {
        return Err(ApiError::validation(format!(
            "Only an activity in DRAFT, DONE or ERROR status can be scheduled; this one is {}.",
            campaign.status.activity_name()
        )));
    }
    if !activity.has_recipients() {
        return Err(ApiError::validation(
            "The email campaign activity has no contacts to send to: add contact_list_ids or \
             segment_ids with PUT /emails/activities/{campaign_activity_id} first.",
        ));
    }
    let now = store.tick();
    match when {
        None => {
            store.send(ci, ai, now, now, Stamp::Now);
            Ok(json(StatusCode::CREATED, json!([])))
        }
        Some(at) if at <= now => Err(ApiError::validation(
            "scheduled_date must be in the future (or 0 to send now).",
        )),
        Some(at) => {
            let campaign = &mut store.campaigns[ci];
            campaign.status_before_schedule = Some(campaign.status);
            campaign.status = CampaignStatus::Scheduled;
            campaign.updated_at = now;
            let activity = &mut campaign.activities[ai];
            activity.scheduled_at = Some(at);
            Ok(json(StatusCode::CREATED, schedule_json(activity)))
        }
    }
}

/// `DELETE /emails/activities/{campaign_activity_id}/schedules`: 204; the campaign returns to
/// the status it had before it was scheduled (Draft, or Done).
pub(crate) async fn unschedule(
    State(shared): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    let mut store = lock(&shared.store);
    let (ci, ai) = find(&mut store, &id)?;
    let now = store.tick();
    let campaign = &mut store.campaigns[ci];
    if campaign.status != CampaignStatus::Scheduled
        || campaign.activities[ai].scheduled_at.is_none()
    {
        return Err(ApiError::validation(format!(
            "Only a SCHEDULED activity can be unscheduled; this one is {}.",
            campaign.status.activity_name()
        )));
    }
    campaign.status = campaign
        .status_before_schedule
        .take()
        .unwrap_or(CampaignStatus::Draft);
    campaign.updated_at = now;
    campaign.activities[ai].scheduled_at = None;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct TestIn {
    email_addresses: Option<Vec<String>>,
    personal_message: Option<String>,
}

/// `POST /emails/activities/{campaign_activity_id}/tests`: 204. Up to 5 recipients a send and
/// 50 test emails a UTC day per account.
pub(crate) async fn test_send(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input: TestIn = parse_body(&body)?;
    let addresses = input
        .email_addresses
        .ok_or_else(|| ApiError::validation("email_addresses is required."))?;
    if addresses.is_empty() || addresses.len() > TEST_RECIPIENTS {
        return Err(ApiError::validation(format!(
            "email_addresses requires 1 to {TEST_RECIPIENTS} addresses."
        )));
    }
    for address in &addresses {
        check_email(address, 80)?;
    }
    check_len("personal_message", input.personal_message.as_deref(), 1_000)?;
    let mut store = lock(&shared.store);
    let (ci, ai) = find(&mut store, &id)?;
    primary(&store.campaigns[ci].activities[ai], "be sent as a test")?;
    let today = utc_day(now_ms());
    let account = &mut store.account;
    if account.test_sends_day != today {
        account.test_sends_day = today;
        account.test_sends = 0;
    }
    let wanted = u32::try_from(addresses.len()).unwrap_or(u32::MAX);
    if account.test_sends + wanted > TEST_SENDS_PER_DAY {
        return Err(ApiError::validation(format!(
            "The account can send {TEST_SENDS_PER_DAY} test emails a day; {} are left today.",
            TEST_SENDS_PER_DAY - account.test_sends
        )));
    }
    account.test_sends += wanted;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The HTML as the preview shows it: without the tracking image, with the account owner's
/// details in the contact variables.
fn preview_html(store: &Store, html: &str) -> String {
    let summary = &store.account.summary;
    let owner = |value: &Option<String>| value.clone().unwrap_or_default();
    html.replace("[[trackingImage]]", "")
        .replace("[[FIRSTNAME]]", &owner(&summary.first_name))
        .replace("[[LASTNAME]]", &owner(&summary.last_name))
        .replace("[[EMAILADDRESS]]", &owner(&summary.contact_email))
}

/// The text of an HTML body: tags removed, whitespace collapsed.
fn text_of(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `GET /emails/activities/{campaign_activity_id}/previews`.
pub(crate) async fn preview(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let mut store = lock(&shared.store);
    let (ci, ai) = find(&mut store, &id)?;
    let activity = &store.campaigns[ci].activities[ai];
    let html = preview_html(&store, &activity.html_content);
    let mut body = json!({
        "campaign_activity_id": activity.id,
        "from_email": activity.from_email,
        "from_name": activity.from_name,
        "reply_to_email": activity.reply_to_email,
        "subject": activity.subject,
        "preview_text_content": text_of(&html),
        "preview_html_content": html,
    });
    if let Some(preheader) = &activity.preheader {
        body["preheader"] = json!(preheader);
    }
    Ok(json(StatusCode::OK, body))
}

/// `GET /emails/activities/{campaign_activity_id}/send_history`: one entry per send, oldest
/// first (empty before the first).
pub(crate) async fn send_history(
    State(shared): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    let mut store = lock(&shared.store);
    let (ci, ai) = find(&mut store, &id)?;
    let history: Vec<Value> = store.campaigns[ci].activities[ai]
        .sends
        .iter()
        .map(|s| {
            json!({"send_id": s.send_id, "contact_list_ids": s.contact_list_ids,
                   "segment_ids": s.segment_ids, "count": s.recipients.len(),
                   "run_date": format_ms(s.at), "send_status": "COMPLETED", "reason_code": 0})
        })
        .collect();
    Ok(json(StatusCode::OK, json!(history)))
}

/// When a campaign's resend goes out and its status: DRAFT before the campaign is scheduled,
/// SCHEDULED until the delay after its send has passed, DONE afterwards.
fn resend_state(campaign: &Campaign, resend: &Resend) -> (Option<i64>, &'static str) {
    let delay = resend.delay_minutes * 60_000;
    let scheduled = campaign.activities.iter().find_map(|a| a.scheduled_at);
    match (campaign.last_sent(), scheduled) {
        (Some(sent), _) if sent + delay <= now_ms() => (Some(sent + delay), "DONE"),
        (Some(sent), _) => (Some(sent + delay), "SCHEDULED"),
        (None, Some(at)) => (Some(at + delay), "SCHEDULED"),
        (None, None) => (None, "DRAFT"),
    }
}

fn resend_json(campaign: &Campaign, resend: &Resend, with_status: bool) -> Value {
    let (date, status) = resend_state(campaign, resend);
    let mut out = json!({"resend_subject": resend.subject, "resend_request_id": resend.id});
    match resend.delay_days {
        Some(days) => out["delay_days"] = json!(days),
        None => out["delay_minutes"] = json!(resend.delay_minutes),
    }
    if let Some(date) = date {
        out["resend_date"] = json!(format_ms(date));
    }
    if with_status {
        out["resend_status"] = json!(status);
    }
    out
}

/// `GET /emails/activities/{campaign_activity_id}/non_opener_resends`: the campaign's resend
/// (or none).
pub(crate) async fn resends(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let mut store = lock(&shared.store);
    let (ci, _) = find(&mut store, &id)?;
    let campaign = &store.campaigns[ci];
    let body: Vec<Value> = campaign
        .resend
        .iter()
        .map(|r| resend_json(campaign, r, true))
        .collect();
    Ok(json(StatusCode::OK, json!(body)))
}

#[derive(Deserialize)]
struct ResendIn {
    resend_subject: Option<String>,
    delay_days: Option<i64>,
    delay_minutes: Option<i64>,
}

/// `POST /emails/activities/{campaign_activity_id}/non_opener_resends`: 201. One per campaign
/// (409 for a second); the delay is `delay_days` (1–10; `delay_minutes` is then ignored) or
/// `delay_minutes` (720–14,400).
pub(crate) async fn create_resend(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input: ResendIn = parse_body(&body)?;
    let subject = input
        .resend_subject
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::validation("resend_subject is required."))?;
    check_len("resend_subject", Some(&subject), 200)?;
    let minutes = match (input.delay_days, input.delay_minutes) {
        (Some(days), _) if (1..=10).contains(&days) => days * 1440,
        (Some(_), _) => {
            return Err(ApiError::validation("delay_days must be from 1 to 10."));
        }
        (None, Some(minutes)) if RESEND_MINUTES.contains(&minutes) => minutes,
        (None, Some(_)) => {
            return Err(ApiError::validation(
                "delay_minutes must be from 720 (12 hours) to 14400 (10 days).",
            ));
        }
        (None, None) => {
            return Err(ApiError::validation(
                "delay_days or delay_minutes is required.",
            ));
        }
    };
    let mut store = lock(&shared.store);
    let (ci, ai) = find(&mut store, &id)?;
    primary(
        &store.campaigns[ci].activities[ai],
        "be resent to non-openers",
    )?;
    if store.campaigns[ci].resend.is_some() {
        return Err(ApiError::conflict(
            "The campaign already has a resend to non-openers; only one is allowed.",
        ));
    }
    let resend = Resend {
        id: store.new_id(),
        subject,
        delay_days: input.delay_days,
        delay_minutes: minutes,
    };
    let now = store.tick();
    let campaign = &mut store.campaigns[ci];
    campaign.updated_at = now;
    let body = resend_json(campaign, &resend, false);
    campaign.resend = Some(resend);
    Ok(json(StatusCode::CREATED, body))
}

/// `DELETE /emails/activities/{campaign_activity_id}/non_opener_resends/{resend_request_id}`:
/// 204; 409 when the resend was already sent.
pub(crate) async fn delete_resend(
    State(shared): State<AppState>,
    Path((id, resend_id)): Path<(String, String)>,
) -> ApiResult {
    let mut store = lock(&shared.store);
    let (ci, _) = find(&mut store, &id)?;
    let campaign = &store.campaigns[ci];
    let resend = campaign
        .resend
        .as_ref()
        .filter(|r| r.id == resend_id)
        .ok_or_else(|| ApiError::not_found("resend to non-openers"))?;
    if resend_state(campaign, resend).1 == "DONE" {
        return Err(ApiError::conflict(
            "The resend to non-openers was already sent.",
        ));
    }
    let now = store.tick();
    let campaign = &mut store.campaigns[ci];
    campaign.resend = None;
    campaign.updated_at = now;
    Ok(StatusCode::NO_CONTENT.into_response())
}
