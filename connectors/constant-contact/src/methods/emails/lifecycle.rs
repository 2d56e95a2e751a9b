//! A campaign's life after it is created: renaming and deleting it, reading and removing its
//! schedule, test sends and previews before sending, the history of its sends, and resends to
//! contacts who did not open it.

use plugboard_core::rest::segment;
use plugboard_core::{Context, HttpRequest, Result, input, method, output};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{EmailCampaign, GetInput, Schedule, activity_path};
use crate::api::API;
use crate::methods::Deleted;

/// Input of the methods that act on one campaign activity.
#[input]
pub struct ActivityInput {
    /// The campaign activity's id (the `primary_email` activity of a campaign).
    pub campaign_activity_id: String,
}

/// Input of `emails.rename`.
#[input]
pub struct RenameInput {
    /// The campaign's id.
    #[serde(skip_serializing)]
    pub campaign_id: String,
    /// The campaign's new name, unique in the account (at most 80 characters).
    #[schemars(length(min = 1, max = 80))]
    pub name: String,
}

/// Renames an email campaign.
#[method(id = "emails.rename", name = "Rename Email Campaign")]
pub fn rename(cx: &mut Context<'_>, input: RenameInput) -> Result<EmailCampaign> {
    let path = format!("/emails/{}", segment("campaign_id", &input.campaign_id)?);
    API.call(cx, HttpRequest::patch(path).json(&input)?)
}

/// Deletes an email campaign; a sent campaign keeps its reports.
#[method(id = "emails.delete", name = "Delete Email Campaign", idempotent)]
pub fn delete(cx: &mut Context<'_>, input: GetInput) -> Result<Deleted> {
    let path = format!("/emails/{}", segment("campaign_id", &input.campaign_id)?);
    API.send(cx, HttpRequest::delete(path))?;
    Ok(Deleted {
        id: input.campaign_id,
    })
}

/// A campaign activity's schedules.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Schedules {
    /// When the activity will be sent; empty when it is not scheduled.
    pub schedules: Vec<Schedule>,
}

/// Gets when a campaign activity is scheduled to be sent.
#[method(id = "emails.get_schedules", name = "Get Email Schedules", idempotent)]
pub fn get_schedules(cx: &mut Context<'_>, input: ActivityInput) -> Result<Schedules> {
    let path = format!("{}/schedules", activity_path(&input.campaign_activity_id)?);
    let schedules = API.call(cx, HttpRequest::get(path))?;
    Ok(Schedules { schedules })
}

/// What `emails.unschedule` did.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Unscheduled {
    /// The activity, back to a draft.
    pub campaign_activity_id: String,
}

/// Unschedules a campaign activity: it goes back to a draft and is not sent.
#[method(id = "emails.unschedule", name = "Unschedule Email Campaign Activity", idempotent)]
pub fn unschedule(cx: &mut Context<'_>, input: ActivityInput) -> Result<Unscheduled> {
    let path = format!("{}/schedules", activity_path(&input.campaign_activity_id)?);
    API.send(cx, HttpRequest::delete(path))?;
    Ok(Unscheduled {
        campaign_activity_id: input.campaign_activity_id,
    })
}

/// Input of `emails.send_test`.
#[input]
pub struct SendTestInput {
    /// The campaign activity to test.
    #[serde(skip_serializing)]
    pub campaign_activity_id: String,
    /// Who receives the test (1 to 5 addresses a call).
    #[schemars(length(min = 1, max = 5))]
    pub email_addresses: Vec<String>,
    /// A note shown above the email's content.
    pub personal_message: Option<String>,
}

/// What `emails.send_test` did.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TestSent {
    /// The addresses the test went to.
    pub email_addresses: Vec<String>,
}

/// Sends a test of a campaign activity to up to 5 addresses; it does not count as a send.
#[method(id = "emails.send_test", name = "Send Test Email")]
pub fn send_test(cx: &mut Context<'_>, input: SendTestInput) -> Result<TestSent> {
    let path = format!("{}/tests", activity_path(&input.campaign_activity_id)?);
    API.send(cx, HttpRequest::post(path).json(&input)?)?;
    Ok(TestSent {
        email_addresses: input.email_addresses,
    })
}

/// A campaign activity as its recipients will see it.
#[output]
pub struct Preview {
    /// The activity's id.
    pub campaign_activity_id: Option<String>,
    /// The sender's address.
    pub from_email: Option<String>,
    /// The sender's name.
    pub from_name: Option<String>,
    /// The preheader shown after the subject.
    pub preheader: Option<String>,
    /// The HTML the recipients get, with its placeholders filled in.
    pub preview_html_content: Option<String>,
    /// The plain-text version.
    pub preview_text_content: Option<String>,
    /// The reply-to address.
    pub reply_to_email: Option<String>,
    /// The subject.
    pub subject: Option<String>,
}

/// Gets the HTML and text a campaign activity's recipients will see.
#[method(id = "emails.preview", name = "Preview Email Campaign Activity", idempotent)]
pub fn preview(cx: &mut Context<'_>, input: ActivityInput) -> Result<Preview> {
    let path = format!("{}/previews", activity_path(&input.campaign_activity_id)?);
    API.call(cx, HttpRequest::get(path))
}

/// One send of a campaign activity.
#[output]
pub struct Send {
    /// Which send this is, counting from 1.
    pub send_id: Option<i64>,
    /// The lists it went to.
    pub contact_list_ids: Vec<String>,
    /// The segments it went to.
    pub segment_ids: Vec<i64>,
    /// How many contacts it went to.
    pub count: Option<i64>,
    /// When it ran (ISO-8601).
    pub run_date: Option<String>,
    /// `COMPLETED` or `ERRORED`.
    pub send_status: Option<String>,
    /// Why it failed, for an errored send.
    pub reason_code: Option<i64>,
}

/// A campaign activity's sends.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SendHistory {
    /// Every send, first to last.
    pub sends: Vec<Send>,
}

/// Gets every send of a campaign activity: when, to which lists or segments, how many contacts.
#[method(id = "emails.send_history", name = "Get Email Send History", idempotent)]
pub fn send_history(cx: &mut Context<'_>, input: ActivityInput) -> Result<SendHistory> {
    let path = format!(
        "{}/send_history",
        activity_path(&input.campaign_activity_id)?
    );
    let sends = API.call(cx, HttpRequest::get(path))?;
    Ok(SendHistory { sends })
}

/// A resend of a campaign activity to the contacts who did not open it.
#[output]
pub struct Resend {
    /// The resend's id.
    pub resend_request_id: Option<String>,
    /// The subject the resend uses.
    pub resend_subject: Option<String>,
    /// Days after the first send it goes out.
    pub delay_days: Option<i64>,
    /// Minutes after the first send it goes out.
    pub delay_minutes: Option<i64>,
    /// When it goes or went out (ISO-8601).
    pub resend_date: Option<String>,
    /// Its state, e.g. `SCHEDULED`.
    pub resend_status: Option<String>,
}

/// A campaign activity's resends.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Resends {
    /// Every resend set up (the API allows one per activity).
    pub resends: Vec<Resend>,
}

/// Gets the resend to non-openers set up for a campaign activity.
#[method(id = "emails.list_resends", name = "List Resends to Non-openers", idempotent)]
pub fn list_resends(cx: &mut Context<'_>, input: ActivityInput) -> Result<Resends> {
    let path = format!(
        "{}/non_opener_resends",
        activity_path(&input.campaign_activity_id)?
    );
    let resends = API.call(cx, HttpRequest::get(path))?;
    Ok(Resends { resends })
}

/// Input of `emails.create_resend`: when to resend, in days or in minutes (not both).
#[input]
pub struct CreateResendInput {
    /// The campaign activity to resend.
    #[serde(skip_serializing)]
    pub campaign_activity_id: String,
    /// The subject of the resend.
    #[schemars(length(min = 1))]
    pub resend_subject: String,
    /// Days after the first send (1 to 10).
    #[schemars(range(min = 1, max = 10))]
    pub delay_days: Option<i64>,
    /// Minutes after the first send, instead of days (720, twelve hours, to 14,400, ten days).
    #[schemars(range(min = 720, max = 14_400))]
    pub delay_minutes: Option<i64>,
}

/// Sets up a resend of a campaign activity to the contacts who did not open it.
#[method(id = "emails.create_resend", name = "Create Resend to Non-openers")]
pub fn create_resend(cx: &mut Context<'_>, input: CreateResendInput) -> Result<Resend> {
    if input.delay_days.is_some() == input.delay_minutes.is_some() {
        return Err(plugboard_core::ConnectorError::InvalidInput {
            message: "give one of `delay_days` or `delay_minutes` (the API takes exactly one)"
                .into(),
        });
    }
    let path = format!(
        "{}/non_opener_resends",
        activity_path(&input.campaign_activity_id)?
    );
    API.create(
        cx,
        HttpRequest::post(path).json(&input)?,
        "a resend of this activity",
    )
}

/// Input of `emails.delete_resend`.
#[input]
pub struct DeleteResendInput {
    /// The campaign activity.
    pub campaign_activity_id: String,
    /// The resend's id (`resend_request_id`).
    pub resend_request_id: String,
}

/// Deletes a resend to non-openers that has not gone out yet.
#[method(id = "emails.delete_resend", name = "Delete Resend to Non-openers", idempotent)]
pub fn delete_resend(cx: &mut Context<'_>, input: DeleteResendInput) -> Result<Deleted> {
    let resend = segment("resend_request_id", &input.resend_request_id)?;
    let activity = activity_path(&input.campaign_activity_id)?;
    API.send(
        cx,
        HttpRequest::delete(format!("{activity}/non_opener_resends/{resend}")),
    )?;
    Ok(Deleted {
        id: input.resend_request_id,
    })
}
