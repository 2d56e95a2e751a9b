//! Email reporting: the summary of every sent campaign, the stats of campaigns and of campaign
//! activities, an activity's links report and its tracking reports (one record per send, open,
//! click, bounce, opt-out, forward or non-open).

use plugboard_core::rest::Streamed;
use plugboard_core::{Context, HttpRequest, Result, choice, input, method, output};

use super::{StreamedWithAggregates, TrackingActivity, stream_report, uuid, uuid_list, wire_name};
use crate::api::API;

/// The largest page the summary report and the tracking reports serve.
const PAGE_SIZE: u32 = 500;
/// How many campaigns one `reports.campaign_stats` call takes (the spec's limit).
const MAX_CAMPAIGN_IDS: usize = 150;
/// How many campaign activities one `reports.activity_stats` call takes (the spec's limit).
const MAX_ACTIVITY_IDS: usize = 10;

/// Unique counts of what contacts did with a campaign.
#[output]
pub struct UniqueCounts {
    /// Contacts it was sent to.
    pub sends: Option<i64>,
    /// Contacts who opened it.
    pub opens: Option<i64>,
    /// Contacts who clicked a link.
    pub clicks: Option<i64>,
    /// Contacts who forwarded it.
    pub forwards: Option<i64>,
    /// Contacts who unsubscribed.
    pub optouts: Option<i64>,
    /// Contacts who reported it as spam.
    pub abuse: Option<i64>,
    /// Addresses that bounced.
    pub bounces: Option<i64>,
    /// Contacts who did not open it.
    pub not_opened: Option<i64>,
}

/// The summary of one sent campaign.
#[output]
pub struct CampaignSummary {
    /// The campaign's id.
    pub campaign_id: String,
    /// The kind of campaign.
    pub campaign_type: Option<String>,
    /// When it was last sent (ISO-8601).
    pub last_sent_date: Option<String>,
    /// Unique counts of sends, opens, clicks and more.
    pub unique_counts: Option<UniqueCounts>,
}

/// Percentages over every sent campaign of the summary report.
#[output]
#[derive(Default)]
pub struct SummaryPercents {
    /// Opens per delivered email.
    pub open: Option<f64>,
    /// Clicks per open.
    pub click: Option<f64>,
    /// Delivered emails not opened.
    pub did_not_open: Option<f64>,
    /// Sends that bounced.
    pub bounce: Option<f64>,
    /// Delivered emails whose contact unsubscribed.
    pub unsubscribe: Option<f64>,
}

/// Input of `emails.summary_report` (none).
#[input]
#[derive(Default)]
pub struct SummaryReportInput {}

/// Streams the unique sends, opens, clicks, bounces and opt-outs of every sent campaign, most
/// recently sent first, and returns the percentages over all of them (`aggregate_percents`).
#[method(id = "emails.summary_report", name = "Email Campaigns Summary Report", idempotent)]
pub fn summary_report(
    cx: &mut Context<'_, CampaignSummary>,
    _input: SummaryReportInput,
) -> Result<StreamedWithAggregates<SummaryPercents>> {
    let first = HttpRequest::get("/reports/summary_reports/email_campaign_summaries")
        .query("limit", PAGE_SIZE);
    stream_report(cx, first, "bulk_email_campaign_summaries")
}

/// Counts of what contacts did with a campaign or a campaign activity.
#[output]
pub struct EmailStats {
    /// Unique sends.
    pub em_sends: Option<i64>,
    /// Unique recipients who opened the email.
    pub em_opens: Option<i64>,
    /// Every open, counting repeats.
    pub em_opens_all: Option<i64>,
    /// Opens on a desktop or laptop computer.
    pub em_opens_all_computer: Option<i64>,
    /// Opens on a phone.
    pub em_opens_all_mobile: Option<i64>,
    /// Opens on a tablet.
    pub em_opens_all_tablet: Option<i64>,
    /// Opens on another device.
    pub em_opens_all_other: Option<i64>,
    /// Opens whose device was not captured.
    pub em_opens_all_none: Option<i64>,
    /// Unique recipients who clicked a link.
    pub em_clicks: Option<i64>,
    /// Every click, counting repeats.
    pub em_clicks_all: Option<i64>,
    /// Clicks on a desktop or laptop computer.
    pub em_clicks_all_computer: Option<i64>,
    /// Clicks on a phone.
    pub em_clicks_all_mobile: Option<i64>,
    /// Clicks on a tablet.
    pub em_clicks_all_tablet: Option<i64>,
    /// Clicks on another device.
    pub em_clicks_all_other: Option<i64>,
    /// Clicks whose device was not captured.
    pub em_clicks_all_none: Option<i64>,
    /// Unique recipients who forwarded the email.
    pub em_forwards: Option<i64>,
    /// Unique recipients who did not open the email.
    pub em_not_opened: Option<i64>,
    /// Unique recipients who unsubscribed because of it.
    pub em_optouts: Option<i64>,
    /// Unique bounces.
    pub em_bounces: Option<i64>,
    /// Activity stats only: spam complaints.
    pub em_abuse: Option<i64>,
    /// Activity stats only: bounces blocked by the receiving system.
    pub em_bounces_blocked: Option<i64>,
    /// Activity stats only: bounces for a full mailbox.
    pub em_bounces_mailbox_full: Option<i64>,
    /// Activity stats only: bounces for an address that does not exist.
    pub em_bounces_nonexistent_address: Option<i64>,
    /// Activity stats only: bounces without an identifiable cause.
    pub em_bounces_other: Option<i64>,
    /// Activity stats only: bounces for a suspended address.
    pub em_bounces_suspended: Option<i64>,
    /// Activity stats only: undeliverable bounces.
    pub em_bounces_undeliverable: Option<i64>,
    /// Activity stats only: vacation or out-of-office replies.
    pub em_bounces_vacation: Option<i64>,
}

/// A campaign's rates, in percent.
#[output]
pub struct EmailPercents {
    /// Recipients who received it (did not bounce) and opened it.
    pub open: Option<f64>,
    /// Openers who also clicked a link.
    pub click: Option<f64>,
    /// Sends that bounced.
    pub bounce: Option<f64>,
    /// Recipients who received it but did not open it.
    pub did_not_open: Option<f64>,
    /// Recipients who received it and unsubscribed.
    pub unsubscribe: Option<f64>,
    /// Opens from a desktop or laptop computer.
    pub desktop_open: Option<f64>,
    /// Opens from a phone or tablet.
    pub mobile_open: Option<f64>,
    /// Clicks from a desktop or laptop computer.
    pub desktop_click: Option<f64>,
    /// Clicks from a phone or tablet.
    pub mobile_click: Option<f64>,
}

/// The stats of one campaign, or of one campaign activity.
#[output]
pub struct StatsResult {
    /// The campaign's id.
    pub campaign_id: Option<String>,
    /// Activity stats: the campaign activity's id.
    pub campaign_activity_id: Option<String>,
    /// The counts.
    pub stats: Option<EmailStats>,
    /// Campaign stats: the rates, in percent.
    pub percents: Option<EmailPercents>,
    /// When the API last computed these stats (ISO-8601).
    pub last_refresh_time: Option<String>,
}

/// Why the stats of one requested id are missing.
#[output]
pub struct StatsError {
    /// The API's error key.
    pub error_key: Option<String>,
    /// What went wrong, naming the id.
    pub error_message: Option<String>,
}

/// The stats of the requested campaigns or campaign activities, and the ids without any.
#[output]
pub struct Stats {
    /// One entry per id that has stats.
    pub results: Vec<StatsResult>,
    /// One entry per id that does not exist, was deleted or has no stats yet.
    pub errors: Vec<StatsError>,
}

/// Input of `reports.campaign_stats`.
#[input]
pub struct CampaignStatsInput {
    /// The campaigns' ids (1 to 150 UUIDs).
    #[schemars(length(min = 1, max = 150))]
    pub campaign_ids: Vec<String>,
}

/// Gets the sends, opens, clicks, bounces, opt-outs and rates of up to 150 campaigns at once.
#[method(id = "reports.campaign_stats", name = "Email Campaign Stats", idempotent)]
pub fn campaign_stats(cx: &mut Context<'_>, input: CampaignStatsInput) -> Result<Stats> {
    let ids = uuid_list("campaign_ids", &input.campaign_ids, MAX_CAMPAIGN_IDS)?;
    API.call(
        cx,
        HttpRequest::get(format!("/reports/stats/email_campaigns/{ids}")),
    )
}

/// Input of `reports.activity_stats`.
#[input]
pub struct ActivityStatsInput {
    /// The campaign activities' ids (1 to 10 UUIDs).
    #[schemars(length(min = 1, max = 10))]
    pub campaign_activity_ids: Vec<String>,
}

/// Gets the sends, opens, clicks, bounces (by cause) and opt-outs of up to 10 campaign activities.
#[method(id = "reports.activity_stats", name = "Email Campaign Activity Stats", idempotent)]
pub fn activity_stats(cx: &mut Context<'_>, input: ActivityStatsInput) -> Result<Stats> {
    let ids = uuid_list(
        "campaign_activity_ids",
        &input.campaign_activity_ids,
        MAX_ACTIVITY_IDS,
    )?;
    let path = format!("/reports/stats/email_campaign_activities/{ids}");
    API.call(cx, HttpRequest::get(path))
}

/// One link of an email and how many contacts clicked it.
#[output]
pub struct LinkClickCount {
    /// The link's URL.
    pub link_url: Option<String>,
    /// The link's id, for `reports.email_clicks`'s `url_id`.
    pub url_id: Option<String>,
    /// Unique contacts who clicked it.
    pub unique_clicks: Option<i64>,
    /// What clicking does besides opening the URL, e.g. `ADD_TO_LIST`.
    pub list_action: Option<String>,
    /// The list a click adds the contact to, for such links.
    pub list_id: Option<String>,
    /// The link's tag.
    pub link_tag: Option<String>,
}

/// The links report of a campaign activity.
#[output]
pub struct EmailLinks {
    /// The campaign activity's id.
    pub campaign_activity_id: Option<String>,
    /// Each link and its unique clicks.
    pub link_click_counts: Vec<LinkClickCount>,
}

/// Input of `reports.email_links`.
#[input]
pub struct LinksInput {
    /// The campaign activity (a `primary_email` or `resend`), a UUID.
    #[serde(skip_serializing)]
    pub campaign_activity_id: String,
    /// Also list the links nobody clicked.
    #[serde(default)]
    pub no_clicks: bool,
}

/// Gets every link of a sent email with its unique clicks and the id that filters
/// `reports.email_clicks`.
#[method(id = "reports.email_links", name = "Email Links Report", idempotent)]
pub fn email_links(cx: &mut Context<'_>, input: LinksInput) -> Result<EmailLinks> {
    let id = uuid("campaign_activity_id", &input.campaign_activity_id)?;
    let request = HttpRequest::get(format!("/reports/email_reports/{id}/links"));
    API.call(cx, request.query_from(&input)?)
}

/// Input of the tracking reports that take only the activity.
#[input]
pub struct TrackingInput {
    /// The campaign activity, a UUID.
    pub campaign_activity_id: String,
}

/// The first page of the tracking report `report` of the activity `id`.
fn tracking(id: &str, report: &str) -> Result<HttpRequest> {
    let id = uuid("campaign_activity_id", id)?;
    Ok(
        HttpRequest::get(format!("/reports/email_reports/{id}/tracking/{report}"))
            .query("limit", PAGE_SIZE),
    )
}

/// Streams every send of a campaign activity: who it went to and when, most recent first.
#[method(id = "reports.email_sends", name = "Email Sends Report", idempotent)]
pub fn email_sends(
    cx: &mut Context<'_, TrackingActivity>,
    input: TrackingInput,
) -> Result<Streamed> {
    let first = tracking(&input.campaign_activity_id, "sends")?;
    API.stream(cx, first, "tracking_activities")
}

/// Streams every open of a campaign activity (repeats included), with the device, most recent
/// first.
#[method(id = "reports.email_opens", name = "Email Opens Report", idempotent)]
pub fn email_opens(
    cx: &mut Context<'_, TrackingActivity>,
    input: TrackingInput,
) -> Result<Streamed> {
    let first = tracking(&input.campaign_activity_id, "opens")?;
    API.stream(cx, first, "tracking_activities")
}

/// Streams each contact's last open of a campaign activity, most recent first.
#[method(id = "reports.email_unique_opens", name = "Email Unique Opens Report", idempotent)]
pub fn email_unique_opens(
    cx: &mut Context<'_, TrackingActivity>,
    input: TrackingInput,
) -> Result<Streamed> {
    let first = tracking(&input.campaign_activity_id, "unique_opens")?;
    API.stream(cx, first, "tracking_activities")
}

/// Streams each contact who was sent a campaign activity but did not open it.
#[method(id = "reports.email_did_not_opens", name = "Email Did Not Opens Report", idempotent)]
pub fn email_did_not_opens(
    cx: &mut Context<'_, TrackingActivity>,
    input: TrackingInput,
) -> Result<Streamed> {
    let first = tracking(&input.campaign_activity_id, "didnotopens")?;
    API.stream(cx, first, "tracking_activities")
}

/// Input of `reports.email_clicks`.
#[input]
pub struct ClicksInput {
    /// The campaign activity, a UUID.
    pub campaign_activity_id: String,
    /// Only the clicks of this link (its `url_id` in `reports.email_links`).
    pub url_id: Option<i64>,
}

/// Streams every click on a link of a campaign activity, with the link and the device, most
/// recent first.
#[method(id = "reports.email_clicks", name = "Email Clicks Report", idempotent)]
pub fn email_clicks(
    cx: &mut Context<'_, TrackingActivity>,
    input: ClicksInput,
) -> Result<Streamed> {
    let first = tracking(&input.campaign_activity_id, "clicks")?.query_opt("url_id", input.url_id);
    API.stream(cx, first, "tracking_activities")
}

/// Streams every forward of a campaign activity through its footer link, most recent first.
#[method(id = "reports.email_forwards", name = "Email Forwards Report", idempotent)]
pub fn email_forwards(
    cx: &mut Context<'_, TrackingActivity>,
    input: TrackingInput,
) -> Result<Streamed> {
    let first = tracking(&input.campaign_activity_id, "forwards")?;
    API.stream(cx, first, "tracking_activities")
}

/// Streams every contact who unsubscribed through a campaign activity, with the reason given.
#[method(id = "reports.email_opt_outs", name = "Email Opt-outs Report", idempotent)]
pub fn email_opt_outs(
    cx: &mut Context<'_, TrackingActivity>,
    input: TrackingInput,
) -> Result<Streamed> {
    let first = tracking(&input.campaign_activity_id, "optouts")?;
    API.stream(cx, first, "tracking_activities")
}

/// A bounce code of the bounces report.
#[choice]
#[serde(rename_all = "PascalCase")]
pub enum BounceCode {
    /// Non-existent address.
    B,
    /// Undeliverable.
    D,
    /// Mailbox full.
    F,
    /// Suspended.
    S,
    /// Vacation or out-of-office reply.
    V,
    /// Other.
    X,
    /// Blocked.
    Z,
}

/// Input of `reports.email_bounces`.
#[input]
pub struct BouncesInput {
    /// The campaign activity, a UUID.
    pub campaign_activity_id: String,
    /// Only bounces with these codes (all when empty).
    #[serde(default)]
    pub bounce_codes: Vec<BounceCode>,
}

/// Streams every bounce of a campaign activity with its code, most recent first.
#[method(id = "reports.email_bounces", name = "Email Bounces Report", idempotent)]
pub fn email_bounces(
    cx: &mut Context<'_, TrackingActivity>,
    input: BouncesInput,
) -> Result<Streamed> {
    // The spec's `multi` format: one `bounce_code` parameter per code.
    let first = input.bounce_codes.iter().fold(
        tracking(&input.campaign_activity_id, "bounces")?,
        |request, code| request.query("bounce_code", wire_name(code)),
    );
    API.stream(cx, first, "tracking_activities")
}
