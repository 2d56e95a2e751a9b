//! SMS reporting: the summary of every SMS campaign sent in a date range.

use plugboard_core::{Context, HttpRequest, Result, input, method, output};

use super::{StreamedWithAggregates, instant, ordered, stream_report};

/// The largest page the SMS summary report serves (the spec's limit).
const PAGE_SIZE: u32 = 50;

/// Unique counts of what contacts did with an SMS campaign.
#[output]
pub struct SmsUniqueCounts {
    /// Contacts it was sent to.
    pub sends: Option<i64>,
    /// Contacts it was delivered to.
    pub delivers: Option<i64>,
    /// Contacts who opened it.
    pub opens: Option<i64>,
    /// Contacts who clicked a link.
    pub clicks: Option<i64>,
    /// Contacts who opted out.
    pub optouts: Option<i64>,
}

/// The summary of one sent SMS campaign.
#[output]
pub struct SmsCampaignSummary {
    /// The campaign's id.
    pub campaign_id: String,
    /// The campaign's name.
    pub campaign_name: Option<String>,
    /// The kind of campaign.
    pub campaign_type: Option<String>,
    /// When it was last sent (ISO-8601).
    pub last_sent_date: Option<String>,
    /// Unique counts of sends, deliveries, clicks and opt-outs.
    pub unique_counts: Option<SmsUniqueCounts>,
}

/// Percentages over every SMS campaign of the report.
#[output]
#[derive(Default)]
pub struct SmsPercents {
    /// Sends delivered.
    pub deliver: Option<f64>,
    /// Deliveries clicked.
    pub click: Option<f64>,
    /// Sends that bounced.
    pub bounce: Option<f64>,
    /// Deliveries whose contact opted out.
    pub unsubscribe: Option<f64>,
}

/// Input of `reports.sms_campaign_summaries`.
#[input]
pub struct SmsSummariesInput {
    /// Campaigns sent on or after this time (ISO-8601, e.g. `2026-01-01T00:00:00Z`).
    pub start_at: String,
    /// Campaigns sent on or before this time (ISO-8601); now when absent.
    pub end_at: Option<String>,
}

/// Streams the unique sends, deliveries, clicks and opt-outs of every SMS campaign sent in a date
/// range, most recently sent first, and returns the percentages over all of them.
#[method(id = "reports.sms_campaign_summaries", name = "SMS Campaigns Summary Report", idempotent)]
pub fn sms_campaign_summaries(
    cx: &mut Context<'_, SmsCampaignSummary>,
    input: SmsSummariesInput,
) -> Result<StreamedWithAggregates<SmsPercents>> {
    let start = instant("start_at", &input.start_at)?;
    if let Some(end) = &input.end_at {
        ordered(("start_at", start), ("end_at", instant("end_at", end)?))?;
    }
    let first = HttpRequest::get("/reports/summary_reports/sms_campaign_summaries")
        .query("limit", PAGE_SIZE)
        .query_from(&input)?;
    stream_report(cx, first, "bulk_sms_campaign_summaries")
}
