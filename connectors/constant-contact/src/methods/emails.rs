//! Email campaigns: list, read, create, set an activity's content and recipients, schedule.
//! (The summary report `emails.summary_report` lives with the other reports, in `reports::email`.)
//!
//! A campaign (`campaign_id`) owns activities (`campaign_activity_id`) such as its
//! `primary_email`; recipients and schedules belong to the activity.

pub(crate) mod ab_tests;
pub(crate) mod lifecycle;

use plugboard_core::rest::{Streamed, segment};
use plugboard_core::{ConnectorError, Context, HttpRequest, Result, choice, input, method, output};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::API;

/// The largest page `GET /emails` serves.
const PAGE_SIZE: u32 = 500;

/// A campaign in the campaign list.
#[output]
pub struct EmailCampaignSummary {
    /// Unique id of the campaign.
    pub campaign_id: String,
    /// The campaign's name, unique in the account.
    pub name: Option<String>,
    /// `Draft`, `Scheduled`, `Executing`, `Done`, `Error` or `Removed`.
    pub current_status: Option<String>,
    /// The kind of campaign, e.g. `NEWSLETTER` or `CUSTOM_CODE_EMAIL`.
    #[serde(rename = "type")]
    pub campaign_type: Option<String>,
    /// The numeric code of the kind of campaign.
    pub type_code: Option<i64>,
    /// When the campaign was created (ISO-8601).
    pub created_at: Option<String>,
    /// When the campaign last changed (ISO-8601).
    pub updated_at: Option<String>,
}

/// Input of `emails.list`.
#[input]
#[derive(Default)]
pub struct ListInput {
    /// Campaigns last updated after this time (ISO-8601).
    pub after_date: Option<String>,
    /// Campaigns last updated before this time (ISO-8601).
    pub before_date: Option<String>,
}

/// Streams every email campaign, optionally within a last-updated range.
#[method(
    id = "emails.list",
    name = "List Email Campaigns",
    idempotent,
    cost(per_page = PAGE_SIZE)
)]
pub fn list(cx: &mut Context<'_, EmailCampaignSummary>, input: ListInput) -> Result<Streamed> {
    let first = HttpRequest::get("/emails")
        .query("limit", PAGE_SIZE)
        .query_opt("before_date", input.before_date)
        .query_opt("after_date", input.after_date);
    API.stream(cx, first, "campaigns")
}

/// One activity of a campaign.
#[output]
pub struct ActivityReference {
    /// Unique id of the campaign activity.
    pub campaign_activity_id: String,
    /// Its role, e.g. `primary_email`, `permalink` or `resend`.
    pub role: Option<String>,
}

/// An email campaign and its activities.
#[output]
pub struct EmailCampaign {
    /// Unique id of the campaign.
    pub campaign_id: String,
    /// The campaign's name, unique in the account.
    pub name: Option<String>,
    /// `Draft`, `Scheduled`, `Executing`, `Done`, `Error` or `Removed`.
    pub current_status: Option<String>,
    /// The kind of campaign.
    #[serde(rename = "type")]
    pub campaign_type: Option<String>,
    /// The numeric code of the kind of campaign.
    pub type_code: Option<i64>,
    /// The campaign's activities; the `primary_email` one is what gets sent.
    pub campaign_activities: Vec<ActivityReference>,
    /// When the campaign was created (ISO-8601).
    pub created_at: Option<String>,
    /// When the campaign last changed (ISO-8601).
    pub updated_at: Option<String>,
}

/// Input of `emails.get`.
#[input]
pub struct GetInput {
    /// The campaign's id.
    pub campaign_id: String,
}

/// Gets one email campaign with the ids and roles of its activities.
#[method(id = "emails.get", name = "Get Email Campaign", idempotent)]
pub fn get(cx: &mut Context<'_>, input: GetInput) -> Result<EmailCampaign> {
    let path = format!("/emails/{}", segment("campaign_id", &input.campaign_id)?);
    API.call(cx, HttpRequest::get(path))
}

/// The sender's physical address shown in an email's footer, as the API returns it.
#[output]
pub struct PhysicalAddress {
    /// The organization's name.
    pub organization_name: Option<String>,
    /// Line 1 of the street address.
    pub address_line1: Option<String>,
    /// Line 2 of the street address.
    pub address_line2: Option<String>,
    /// Line 3 of the street address.
    pub address_line3: Option<String>,
    /// Extra address text.
    pub address_optional: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Two-letter state code (US and Canada).
    pub state_code: Option<String>,
    /// State or province name elsewhere.
    pub state_non_us_name: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Two-letter ISO 3166-1 country code.
    pub country_code: Option<String>,
}

/// The sender's physical address to show in an email's footer.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PhysicalAddressInput {
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
#[input]
#[derive(Clone)]
pub struct NewEmailActivity {
    /// The email format: 5 (custom code HTML, the default) or 1 (legacy custom code).
    #[serde(default = "custom_code_format")]
    pub format_type: i32,
    /// The "From Name" (up to 100 characters).
    #[schemars(length(max = 100))]
    pub from_name: String,
    /// The "From Email": a confirmed email address of the account (up to 80 characters).
    #[schemars(length(max = 80))]
    pub from_email: String,
    /// The "Reply To Email": a confirmed email address of the account (up to 80 characters).
    #[schemars(length(max = 80))]
    pub reply_to_email: String,
    /// The subject line.
    pub subject: String,
    /// The preheader shown after the subject by many mail clients (up to 200 characters).
    #[schemars(length(max = 200))]
    pub preheader: Option<String>,
    /// The HTML content (up to 150,000 characters); include `[[trackingImage]]` to track opens.
    #[schemars(length(max = 150_000))]
    pub html_content: String,
    /// The physical address for the footer; the account's address when left out.
    pub physical_address_in_footer: Option<PhysicalAddressInput>,
}

fn custom_code_format() -> i32 {
    5
}

/// Input of `emails.create`.
#[input]
pub struct CreateInput {
    /// The campaign's name, unique in the account (up to 80 characters).
    #[schemars(length(min = 1, max = 80))]
    pub name: String,
    /// The email to send.
    pub email: NewEmailActivity,
}

/// Creates a draft email campaign with its email (custom code HTML); to send it, give its
/// primary_email activity recipients with emails.update_activity, then emails.schedule it.
#[method(id = "emails.create", name = "Create Email Campaign")]
pub fn create(cx: &mut Context<'_>, input: CreateInput) -> Result<EmailCampaign> {
    /// The API's campaign: a name and its one email.
    #[derive(Serialize)]
    struct Body<'a> {
        name: &'a str,
        email_campaign_activities: [&'a NewEmailActivity; 1],
    }
    let body = Body {
        name: &input.name,
        email_campaign_activities: [&input.email],
    };
    let what = format!("an email campaign named `{}`", input.name);
    API.create(cx, HttpRequest::post("/emails").json(&body)?, &what)
}

/// Extra parts of a campaign activity to include.
#[choice]
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
#[input]
pub struct GetActivityInput {
    /// The campaign activity's id.
    #[serde(skip_serializing)]
    pub campaign_activity_id: String,
    /// Extra parts to include.
    #[serde(default)]
    pub include: Vec<ActivityInclude>,
}

/// A campaign activity: one email of a campaign, with its recipients.
#[output]
pub struct EmailCampaignActivity {
    /// Unique id of the campaign activity.
    pub campaign_activity_id: String,
    /// The campaign it belongs to.
    pub campaign_id: Option<String>,
    /// Its role, e.g. `primary_email`.
    pub role: Option<String>,
    /// `DRAFT`, `SCHEDULED`, `EXECUTING`, `DONE`, `ERROR` or `REMOVED`.
    pub current_status: Option<String>,
    /// The email format (1-5; 5 is custom code).
    pub format_type: Option<i64>,
    /// The lists it is sent to.
    pub contact_list_ids: Option<Vec<String>>,
    /// The segment it is sent to.
    pub segment_ids: Option<Vec<i64>>,
    /// The "From Name".
    pub from_name: Option<String>,
    /// The "From Email".
    pub from_email: Option<String>,
    /// The "Reply To Email".
    pub reply_to_email: Option<String>,
    /// The subject line.
    pub subject: Option<String>,
    /// The preheader.
    pub preheader: Option<String>,
    /// The HTML content, when asked for.
    pub html_content: Option<String>,
    /// The web version's URL once sent, when asked for.
    pub permalink_url: Option<String>,
    /// The footer's physical address, when asked for.
    pub physical_address_in_footer: Option<PhysicalAddress>,
}

fn activity_path(campaign_activity_id: &str) -> Result<String> {
    let id = segment("campaign_activity_id", campaign_activity_id)?;
    Ok(format!("/emails/activities/{id}"))
}

/// Gets one campaign activity: sender, subject, recipients and status.
#[method(id = "emails.get_activity", name = "Get Email Campaign Activity", idempotent)]
pub fn get_activity(
    cx: &mut Context<'_>,
    input: GetActivityInput,
) -> Result<EmailCampaignActivity> {
    let path = activity_path(&input.campaign_activity_id)?;
    API.call(cx, HttpRequest::get(path).query_from(&input)?)
}

/// Input of `emails.update_activity`.
#[input]
pub struct UpdateActivityInput {
    /// The campaign activity's id (e.g. the `primary_email` activity `emails.create` returned).
    pub campaign_activity_id: String,
    /// Its sender, subject and content: the API replaces them all, so give them all.
    pub email: NewEmailActivity,
    /// The contact lists to send to (not with `segment_ids`).
    #[serde(default)]
    pub contact_list_ids: Vec<String>,
    /// The one segment to send to (not with `contact_list_ids`).
    #[serde(default)]
    #[schemars(length(max = 1))]
    pub segment_ids: Vec<i64>,
}

/// Replaces a draft campaign activity's sender, subject, content and recipients (contact lists
/// or one segment); the API schedules only an activity that has recipients.
#[method(id = "emails.update_activity", name = "Update Email Campaign Activity", idempotent)]
pub fn update_activity(
    cx: &mut Context<'_>,
    input: UpdateActivityInput,
) -> Result<EmailCampaignActivity> {
    /// The API's activity body: the writable fields only (`format_type` is read-only there).
    #[derive(Serialize)]
    struct Body<'a> {
        from_name: &'a str,
        from_email: &'a str,
        reply_to_email: &'a str,
        subject: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        preheader: Option<&'a str>,
        html_content: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        physical_address_in_footer: Option<&'a PhysicalAddressInput>,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        contact_list_ids: &'a [String],
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        segment_ids: &'a [i64],
    }
    if !input.contact_list_ids.is_empty() && !input.segment_ids.is_empty() {
        return Err(ConnectorError::InvalidInput {
            message: "`contact_list_ids` and `segment_ids` cannot be used together".to_owned(),
        });
    }
    if input.segment_ids.len() > 1 {
        return Err(ConnectorError::InvalidInput {
            message: format!(
                "`segment_ids` holds one segment, not {}",
                input.segment_ids.len()
            ),
        });
    }
    let email = &input.email;
    let body = Body {
        from_name: &email.from_name,
        from_email: &email.from_email,
        reply_to_email: &email.reply_to_email,
        subject: &email.subject,
        preheader: email.preheader.as_deref(),
        html_content: &email.html_content,
        physical_address_in_footer: email.physical_address_in_footer.as_ref(),
        contact_list_ids: &input.contact_list_ids,
        segment_ids: &input.segment_ids,
    };
    let path = activity_path(&input.campaign_activity_id)?;
    API.call(cx, HttpRequest::put(path).json(&body)?)
}

/// Input of `emails.schedule`.
#[input]
pub struct ScheduleInput {
    /// The campaign activity to send (its `primary_email` activity); it needs recipients.
    #[serde(skip_serializing)]
    pub campaign_activity_id: String,
    /// When to send, ISO-8601 (e.g. `2026-05-17T16:00:00.000Z`), or `0` to send now.
    pub scheduled_date: String,
}

/// One schedule of a campaign activity.
#[output]
pub struct Schedule {
    /// When the activity will be sent (ISO-8601).
    pub scheduled_date: Option<String>,
}

/// What `emails.schedule` returns.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleOutput {
    /// The activity's schedules after the change.
    pub schedules: Vec<Schedule>,
}

/// Schedules a campaign activity to be sent at a time, or now with `0`.
#[method(id = "emails.schedule", name = "Schedule Email Campaign Activity")]
pub fn schedule(cx: &mut Context<'_>, input: ScheduleInput) -> Result<ScheduleOutput> {
    let path = format!("{}/schedules", activity_path(&input.campaign_activity_id)?);
    let schedules = API.call(cx, HttpRequest::post(path).json(&input)?)?;
    Ok(ScheduleOutput { schedules })
}
