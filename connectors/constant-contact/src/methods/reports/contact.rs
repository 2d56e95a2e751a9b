//! One contact's reports: its tracking activity, a per-email summary of what it did, and its
//! average open and click rates over a date range.

use plugboard_core::rest::{Streamed, segment};
use plugboard_core::{Context, HttpRequest, Result, choice, input, method, output};

use super::{TrackingActivity, instant, invalid, ordered, wire_name};
use crate::api::API;

/// The largest page of a contact's activity details (the spec's limit).
const DETAILS_PAGE_SIZE: u32 = 100;
/// The longest range the open and click rates cover: five years (the spec's limit), counting
/// one leap day.
const MAX_RATES_RANGE_MS: i64 = (5 * 365 + 1) * 24 * 60 * 60 * 1000;

/// A kind of tracking activity of a contact.
#[choice]
pub enum ContactActivityType {
    /// Emails sent to the contact.
    EmSends,
    /// Opens.
    EmOpens,
    /// Link clicks.
    EmClicks,
    /// Bounces.
    EmBounces,
    /// Opt-outs.
    EmOptouts,
    /// Forwards.
    EmForwards,
    /// Landing page opens.
    PContactOpen,
    /// Landing page clicks.
    PContactClick,
    /// Added through a landing page.
    PContactAdd,
    /// Updated through a landing page.
    PContactUpdate,
}

/// Input of `reports.contact_activity_details`.
#[input]
pub struct ActivityDetailsInput {
    /// The contact's id.
    pub contact_id: String,
    /// Which kinds of activity to list (at least one).
    #[schemars(length(min = 1))]
    pub tracking_activities: Vec<ContactActivityType>,
    /// Leave out each activity's campaign activity name, which the API says is faster.
    #[serde(default)]
    pub without_campaign_activity_names: bool,
}

/// Streams what one contact did with the emails and landing pages it was sent, newest first.
#[method(id = "reports.contact_activity_details", name = "Contact Activity Details", idempotent)]
pub fn contact_activity_details(
    cx: &mut Context<'_, TrackingActivity>,
    input: ActivityDetailsInput,
) -> Result<Streamed> {
    if input.tracking_activities.is_empty() {
        return Err(invalid(
            "tracking_activities",
            "must name at least one kind of activity",
        ));
    }
    // One comma-separated `tracking_activities_list`: the API refuses it combined with the
    // alternative `tracking_activity_type` array, so the method only ever sends this one.
    let kinds: Vec<String> = input.tracking_activities.iter().map(wire_name).collect();
    let path = format!(
        "/reports/contact_reports/{}/activity_details",
        segment("contact_id", &input.contact_id)?
    );
    let first = HttpRequest::get(path)
        .query("tracking_activities_list", kinds.join(","))
        .query_opt(
            "include_campaign_activity_names",
            input.without_campaign_activity_names.then_some(false),
        )
        .query("limit", DETAILS_PAGE_SIZE);
    API.stream(cx, first, "tracking_activities")
}

/// Input of the contact reports over a date range.
#[input]
pub struct ContactRangeInput {
    /// The contact's id.
    #[serde(skip_serializing)]
    pub contact_id: String,
    /// The start of the range (ISO-8601, e.g. `2026-01-01T00:00:00Z`).
    pub start: String,
    /// The end of the range (ISO-8601).
    pub end: String,
}

impl ContactRangeInput {
    /// The request to the contact's report `report`, once the range is checked.
    fn request(&self, report: &str) -> Result<HttpRequest> {
        let start = instant("start", &self.start)?;
        let end = instant("end", &self.end)?;
        ordered(("start", start), ("end", end))?;
        let path = format!(
            "/reports/contact_reports/{}/{report}",
            segment("contact_id", &self.contact_id)?
        );
        HttpRequest::get(path).query_from(self)
    }
}

/// What a contact did with one email.
#[output]
pub struct CampaignActivitySummary {
    /// The campaign activity (email) the contact was sent.
    pub campaign_activity_id: String,
    /// When it was sent (ISO-8601).
    pub start_on: Option<String>,
    /// Sends to the contact.
    pub em_sends: Option<i64>,
    /// Opens.
    pub em_opens: Option<i64>,
    /// Clicks.
    pub em_clicks: Option<i64>,
    /// Bounces.
    pub em_bounces: Option<i64>,
    /// Forwards.
    pub em_forwards: Option<i64>,
    /// Unsubscribes.
    pub em_unsubscribes: Option<i64>,
}

/// A contact's recent emails and what it did with each.
#[output]
pub struct ContactActivitySummary {
    /// The contact's id.
    pub contact_id: String,
    /// The emails sent to it in the range (the most recent 200), newest first.
    pub campaign_activities: Vec<CampaignActivitySummary>,
}

/// Gets the emails sent to a contact in a date range (the latest 200) with its opens, clicks,
/// bounces, forwards and unsubscribes for each.
#[method(id = "reports.contact_activity_summary", name = "Contact Action Summary", idempotent)]
pub fn contact_activity_summary(
    cx: &mut Context<'_>,
    input: ContactRangeInput,
) -> Result<ContactActivitySummary> {
    API.call(cx, input.request("activity_summary")?)
}

/// A contact's average open and click rates.
#[output]
pub struct ContactOpenAndClickRates {
    /// The contact's id.
    pub contact_id: String,
    /// How many emails the averages cover (0 when none was sent in the range).
    pub included_activities_count: i64,
    /// The share of those emails the contact opened.
    pub average_open_rate: f64,
    /// The share of those emails in which the contact clicked a link.
    pub average_click_rate: f64,
}

/// Gets a contact's average open and click rates over the emails sent to it in a date range of
/// at most five years.
#[method(
    id = "reports.contact_open_and_click_rates",
    name = "Contact Open and Click Rates",
    idempotent
)]
pub fn contact_open_and_click_rates(
    cx: &mut Context<'_>,
    input: ContactRangeInput,
) -> Result<ContactOpenAndClickRates> {
    let request = input.request("open_and_click_rates")?;
    let (start, end) = (instant("start", &input.start)?, instant("end", &input.end)?);
    if start.plus_millis(MAX_RATES_RANGE_MS) < end {
        return Err(invalid("end", "must be at most five years after `start`"));
    }
    API.call(cx, request)
}
