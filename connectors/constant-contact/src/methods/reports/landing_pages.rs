//! Landing-page reporting: the contacts who opened a landing page, clicked its links, were added
//! or updated through it, or opted in to SMS on it.

use plugboard_core::rest::Streamed;
use plugboard_core::{Context, HttpRequest, Result, input, method};

use super::{TrackingActivity, invalid, uuid};
use crate::api::API;

/// The largest page the landing-page reports serve.
const PAGE_SIZE: u32 = 500;

/// Input of the landing-page reports.
#[input]
pub struct LandingPageInput {
    /// The landing page's campaign activity, a UUID.
    #[serde(skip_serializing)]
    pub campaign_activity_id: String,
    /// Only contacts whose first name, last name or email contains this text (e.g. `Jo`).
    #[schemars(length(min = 1))]
    pub contacts_filter: Option<String>,
}

/// Streams the landing-page report `report` of the input's activity.
fn landing_page_report(
    cx: &mut Context<'_, TrackingActivity>,
    input: &LandingPageInput,
    report: &str,
) -> Result<Streamed> {
    let id = uuid("campaign_activity_id", &input.campaign_activity_id)?;
    if input
        .contacts_filter
        .as_deref()
        .is_some_and(|f| f.trim().is_empty())
    {
        return Err(invalid(
            "contacts_filter",
            "must not be empty; leave it out for every contact",
        ));
    }
    let path = format!("/reports/landing_pages/campaign_details/{id}/{report}");
    let first = HttpRequest::get(path)
        .query("limit", PAGE_SIZE)
        .query_from(input)?;
    API.stream(cx, first, "tracking_activities")
}

/// Streams each contact's clicks on a landing page's links, one record per contact and link.
#[method(
    id = "reports.landing_page_unique_clicks",
    name = "Landing Page Unique Contact Clicks",
    idempotent
)]
pub fn landing_page_unique_clicks(
    cx: &mut Context<'_, TrackingActivity>,
    input: LandingPageInput,
) -> Result<Streamed> {
    landing_page_report(cx, &input, "p_unique_contact_clicks")
}

/// Streams each contact who opened a landing page, once per contact.
#[method(
    id = "reports.landing_page_unique_opens",
    name = "Landing Page Unique Contact Opens",
    idempotent
)]
pub fn landing_page_unique_opens(
    cx: &mut Context<'_, TrackingActivity>,
    input: LandingPageInput,
) -> Result<Streamed> {
    landing_page_report(cx, &input, "p_unique_contact_opens")
}

/// Streams every open of a landing page, repeats included.
#[method(id = "reports.landing_page_opens", name = "Landing Page Contact Opens", idempotent)]
pub fn landing_page_opens(
    cx: &mut Context<'_, TrackingActivity>,
    input: LandingPageInput,
) -> Result<Streamed> {
    landing_page_report(cx, &input, "p_contact_opens")
}

/// Streams each contact who updated its details through a landing page.
#[method(
    id = "reports.landing_page_unique_updates",
    name = "Landing Page Unique Contact Updates",
    idempotent
)]
pub fn landing_page_unique_updates(
    cx: &mut Context<'_, TrackingActivity>,
    input: LandingPageInput,
) -> Result<Streamed> {
    landing_page_report(cx, &input, "p_unique_contact_updates")
}

/// Streams each contact added to the account through a landing page.
#[method(
    id = "reports.landing_page_unique_adds",
    name = "Landing Page Unique Contact Adds",
    idempotent
)]
pub fn landing_page_unique_adds(
    cx: &mut Context<'_, TrackingActivity>,
    input: LandingPageInput,
) -> Result<Streamed> {
    landing_page_report(cx, &input, "p_unique_contact_adds")
}

/// Streams each contact who opted in to SMS on a landing page.
#[method(
    id = "reports.landing_page_unique_sms_opt_ins",
    name = "Landing Page Unique SMS Opt-ins",
    idempotent
)]
pub fn landing_page_unique_sms_opt_ins(
    cx: &mut Context<'_, TrackingActivity>,
    input: LandingPageInput,
) -> Result<Streamed> {
    landing_page_report(cx, &input, "p_unique_contact_sms_optins")
}
