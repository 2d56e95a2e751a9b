//! Email campaigns: list, read, create, schedule, and the summary report.
//!
//! A campaign (`campaign_id`) owns activities (`campaign_activity_id`) such as its
//! `primary_email`; recipients and schedules belong to the activity.

use plugboard_core::{
    ConnectorError, Context, HttpRequest, LogLevel, Method, MethodInfo, MethodKind, NoRecords,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::errors::{check, check_create};
use crate::pagination::{Pages, PagingLinks};
use crate::paths::segment;

/// The largest page `GET /emails` and the summary report serve.
const PAGE_SIZE: u32 = 500;

/// A campaign in the campaign list.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EmailCampaignSummary {
    /// Unique id of the campaign.
    pub campaign_id: String,
    /// The campaign's name, unique in the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `Draft`, `Scheduled`, `Executing`, `Done`, `Error` or `Removed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_status: Option<String>,
    /// The kind of campaign, e.g. `NEWSLETTER` or `CUSTOM_CODE_EMAIL`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub campaign_type: Option<String>,
    /// The numeric code of the kind of campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_code: Option<i64>,
    /// When the campaign was created (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When the campaign last changed (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// Input of `emails.list`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListInput {
    /// Campaigns last updated after this time (ISO-8601).
    #[serde(default)]
    pub after_date: Option<String>,
    /// Campaigns last updated before this time (ISO-8601).
    #[serde(default)]
    pub before_date: Option<String>,
}

#[derive(Deserialize)]
struct CampaignPage {
    #[serde(default)]
    campaigns: Vec<EmailCampaignSummary>,
    #[serde(default, rename = "_links")]
    links: PagingLinks,
}

/// What a streaming email method returns once every record has been streamed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StreamSummary {
    /// How many records were streamed.
    pub count: u64,
}

/// `GET /emails`, every page.
pub struct List;

impl Method for List {
    type Input = ListInput;
    type Output = StreamSummary;
    type Record = EmailCampaignSummary;
    const INFO: MethodInfo = MethodInfo {
        id: "emails.list",
        name: "List Email Campaigns",
        category: "Email Campaigns",
        description: "Streams every email campaign, optionally within a last-updated range.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, EmailCampaignSummary>,
        input: ListInput,
    ) -> Result<StreamSummary, ConnectorError> {
        let mut pages = Pages::new(
            HttpRequest::get("/emails")
                .query("limit", PAGE_SIZE)
                .query_opt("before_date", input.before_date)
                .query_opt("after_date", input.after_date),
        );
        while let Some(request) = pages.next_request() {
            let page: CampaignPage = check(cx.send(request)?)?.decode()?;
            cx.log(
                LogLevel::Debug,
                &format!("emails.list: a page of {} campaigns", page.campaigns.len()),
            );
            for campaign in &page.campaigns {
                cx.emit(campaign)?;
            }
            pages.advance(&page.links)?;
        }
        Ok(StreamSummary {
            count: cx.emitted(),
        })
    }
}

/// One activity of a campaign.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ActivityReference {
    /// Unique id of the campaign activity.
    pub campaign_activity_id: String,
    /// Its role, e.g. `primary_email`, `permalink` or `resend`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// An email campaign and its activities.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EmailCampaign {
    /// Unique id of the campaign.
    pub campaign_id: String,
    /// The campaign's name, unique in the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `Draft`, `Scheduled`, `Executing`, `Done`, `Error` or `Removed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_status: Option<String>,
    /// The kind of campaign.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub campaign_type: Option<String>,
    /// The numeric code of the kind of campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_code: Option<i64>,
    /// The campaign's activities; the `primary_email` one is what gets sent.
    #[serde(default)]
    pub campaign_activities: Vec<ActivityReference>,
    /// When the campaign was created (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When the campaign last changed (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// Input of `emails.get`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetInput {
    /// The campaign's id.
    pub campaign_id: String,
}

/// `GET /emails/{campaign_id}`.
pub struct Get;

impl Method for Get {
    type Input = GetInput;
    type Output = EmailCampaign;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "emails.get",
        name: "Get Email Campaign",
        category: "Email Campaigns",
        description: "Gets one email campaign with the ids and roles of its activities.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: GetInput,
    ) -> Result<EmailCampaign, ConnectorError> {
        let path = format!("/emails/{}", segment("campaign_id", &input.campaign_id)?);
        check(cx.send(HttpRequest::get(path))?)?.decode()
    }
}

/// The sender's physical address shown in an email's footer.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PhysicalAddress {
    /// The organization's name.
    pub organization_name: String,
    /// Line 1 of the street address.
    pub address_line1: String,
    /// Line 2 of the street address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line2: Option<String>,
    /// Line 3 of the street address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line3: Option<String>,
    /// Extra address text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_optional: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Two-letter state code (US and Canada).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_code: Option<String>,
    /// State or province name elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_non_us_name: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Two-letter ISO 3166-1 country code.
    pub country_code: String,
}

/// The content and sender of a new campaign's email.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEmailActivity {
    /// The email format: 5 (custom code HTML, the default) or 1 (legacy custom code).
    #[serde(default = "custom_code_format")]
    pub format_type: i32,
    /// The "From Name" (up to 100 characters).
    pub from_name: String,
    /// The "From Email": a confirmed email address of the account (up to 80 characters).
    pub from_email: String,
    /// The "Reply To Email": a confirmed email address of the account (up to 80 characters).
    pub reply_to_email: String,
    /// The subject line.
    pub subject: String,
    /// The preheader shown after the subject by many mail clients (up to 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preheader: Option<String>,
    /// The HTML content (up to 150,000 characters); include `[[trackingImage]]` to track opens.
    pub html_content: String,
    /// The physical address for the footer; the account's address when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_address_in_footer: Option<PhysicalAddress>,
}

fn custom_code_format() -> i32 {
    5
}

/// Input of `emails.create`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInput {
    /// The campaign's name, unique in the account (up to 80 characters).
    #[schemars(length(min = 1, max = 80))]
    pub name: String,
    /// The email to send.
    pub email: NewEmailActivity,
}

#[derive(Serialize)]
struct CreateBody<'a> {
    name: &'a str,
    email_campaign_activities: [&'a NewEmailActivity; 1],
}

/// `POST /emails`.
pub struct Create;

impl Method for Create {
    type Input = CreateInput;
    type Output = EmailCampaign;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "emails.create",
        name: "Create Email Campaign",
        category: "Email Campaigns",
        description: "Creates a draft email campaign with its email (custom code HTML); add \
            recipients and schedule its primary_email activity to send it.",
        kind: MethodKind::Action,
        idempotent: false,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: CreateInput,
    ) -> Result<EmailCampaign, ConnectorError> {
        let body = CreateBody {
            name: &input.name,
            email_campaign_activities: [&input.email],
        };
        let request = HttpRequest::post("/emails").json(&body)?;
        let what = format!("an email campaign named `{}`", input.name);
        check_create(cx.send(request)?, &what)?.decode()
    }
}

/// Extra parts of a campaign activity to include.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityInclude {
    /// The footer's physical address.
    PhysicalAddressInFooter,
    /// The permalink URL.
    PermalinkUrl,
    /// The HTML content.
    HtmlContent,
    /// Document properties of editor-made emails.
    DocumentProperties,
}

/// Input of `emails.get_activity`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetActivityInput {
    /// The campaign activity's id.
    pub campaign_activity_id: String,
    /// Extra parts to include.
    #[serde(default)]
    pub include: Vec<ActivityInclude>,
}

/// A campaign activity: one email of a campaign, with its recipients.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EmailCampaignActivity {
    /// Unique id of the campaign activity.
    pub campaign_activity_id: String,
    /// The campaign it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    /// Its role, e.g. `primary_email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// `DRAFT`, `SCHEDULED`, `EXECUTING`, `DONE`, `ERROR` or `REMOVED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_status: Option<String>,
    /// The email format (1-5; 5 is custom code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_type: Option<i32>,
    /// The lists it is sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_list_ids: Option<Vec<String>>,
    /// The segment it is sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_ids: Option<Vec<i64>>,
    /// The "From Name".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    /// The "From Email".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_email: Option<String>,
    /// The "Reply To Email".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_email: Option<String>,
    /// The subject line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The preheader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preheader: Option<String>,
    /// The HTML content, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_content: Option<String>,
    /// The web version's URL once sent, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permalink_url: Option<String>,
    /// The footer's physical address, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_address_in_footer: Option<PhysicalAddress>,
}

/// Joins include names as the API's comma-separated list.
fn include_csv(include: &[ActivityInclude]) -> Option<String> {
    let names: Vec<&str> = include
        .iter()
        .map(|i| match i {
            ActivityInclude::PhysicalAddressInFooter => "physical_address_in_footer",
            ActivityInclude::PermalinkUrl => "permalink_url",
            ActivityInclude::HtmlContent => "html_content",
            ActivityInclude::DocumentProperties => "document_properties",
        })
        .collect();
    (!names.is_empty()).then(|| names.join(","))
}

/// `GET /emails/activities/{campaign_activity_id}`.
pub struct GetActivity;

impl Method for GetActivity {
    type Input = GetActivityInput;
    type Output = EmailCampaignActivity;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "emails.get_activity",
        name: "Get Email Campaign Activity",
        category: "Email Campaigns",
        description: "Gets one campaign activity: sender, subject, recipients and status.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: GetActivityInput,
    ) -> Result<EmailCampaignActivity, ConnectorError> {
        let path = format!(
            "/emails/activities/{}",
            segment("campaign_activity_id", &input.campaign_activity_id)?
        );
        let request = HttpRequest::get(path).query_opt("include", include_csv(&input.include));
        check(cx.send(request)?)?.decode()
    }
}

/// Input of `emails.schedule`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    /// The campaign activity to send (its `primary_email` activity); it needs recipients.
    pub campaign_activity_id: String,
    /// When to send, ISO-8601 (e.g. `2026-05-17T16:00:00.000Z`), or `0` to send now.
    pub scheduled_date: String,
}

#[derive(Serialize)]
struct ScheduleBody<'a> {
    scheduled_date: &'a str,
}

/// One schedule of a campaign activity.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Schedule {
    /// When the activity will be sent (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_date: Option<String>,
}

/// What `emails.schedule` returns.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleOutput {
    /// The activity's schedules after the change.
    pub schedules: Vec<Schedule>,
}

/// `POST /emails/activities/{campaign_activity_id}/schedules`.
pub struct ScheduleActivity;

impl Method for ScheduleActivity {
    type Input = ScheduleInput;
    type Output = ScheduleOutput;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "emails.schedule",
        name: "Schedule Email Campaign Activity",
        category: "Email Campaigns",
        description: "Schedules a campaign activity to be sent at a time, or now with `0`.",
        kind: MethodKind::Action,
        idempotent: false,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: ScheduleInput,
    ) -> Result<ScheduleOutput, ConnectorError> {
        let path = format!(
            "/emails/activities/{}/schedules",
            segment("campaign_activity_id", &input.campaign_activity_id)?
        );
        let body = ScheduleBody {
            scheduled_date: &input.scheduled_date,
        };
        let request = HttpRequest::post(path).json(&body)?;
        Ok(ScheduleOutput {
            schedules: check(cx.send(request)?)?.decode()?,
        })
    }
}

/// Unique counts of what contacts did with a campaign.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UniqueCounts {
    /// Contacts it was sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sends: Option<u64>,
    /// Contacts who opened it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opens: Option<u64>,
    /// Contacts who clicked a link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clicks: Option<u64>,
    /// Contacts who forwarded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwards: Option<u64>,
    /// Contacts who unsubscribed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optouts: Option<u64>,
    /// Contacts who reported it as spam.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abuse: Option<u64>,
    /// Addresses that bounced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounces: Option<u64>,
    /// Contacts who did not open it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_opened: Option<u64>,
}

/// The summary of one sent campaign.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CampaignSummary {
    /// The campaign's id.
    pub campaign_id: String,
    /// The kind of campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_type: Option<String>,
    /// When it was last sent (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sent_date: Option<String>,
    /// Unique counts of sends, opens, clicks and more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_counts: Option<UniqueCounts>,
}

/// Input of `emails.summary_report` (none).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryReportInput {}

#[derive(Deserialize)]
struct SummaryPage {
    #[serde(default)]
    bulk_email_campaign_summaries: Vec<CampaignSummary>,
    #[serde(default, rename = "_links")]
    links: PagingLinks,
}

/// `GET /reports/summary_reports/email_campaign_summaries`, every page.
pub struct SummaryReport;

impl Method for SummaryReport {
    type Input = SummaryReportInput;
    type Output = StreamSummary;
    type Record = CampaignSummary;
    const INFO: MethodInfo = MethodInfo {
        id: "emails.summary_report",
        name: "Email Campaigns Summary Report",
        category: "Email Campaigns",
        description: "Streams the unique sends, opens, clicks, bounces and opt-outs of every sent \
            campaign, most recently sent first.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, CampaignSummary>,
        _input: SummaryReportInput,
    ) -> Result<StreamSummary, ConnectorError> {
        let mut pages = Pages::new(
            HttpRequest::get("/reports/summary_reports/email_campaign_summaries")
                .query("limit", PAGE_SIZE),
        );
        while let Some(request) = pages.next_request() {
            let page: SummaryPage = check(cx.send(request)?)?.decode()?;
            for summary in &page.bulk_email_campaign_summaries {
                cx.emit(summary)?;
            }
            pages.advance(&page.links)?;
        }
        Ok(StreamSummary {
            count: cx.emitted(),
        })
    }
}
