//! A contact's SMS consent history.

use plugboard_core::rest::segment;
use plugboard_core::{Context, HttpRequest, Result, method, output};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DeleteContactInput;
use crate::api::API;

/// One change of a contact's SMS consent.
#[output]
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SmsEngagement {
    /// The contact's id.
    pub contact_id: Option<String>,
    /// The SMS channel (number) the change is about.
    pub sms_channel_id: Option<String>,
    /// The id of this history entry.
    pub sms_channel_history_id: Option<String>,
    /// When the change was recorded (ISO-8601).
    pub insert_time: Option<String>,
    /// What changed: the consent type, action, source and the like, as the API gives them.
    pub history_details: Option<Value>,
}

/// A contact's SMS consent history.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SmsEngagementHistory {
    /// Every consent change, as the API lists them.
    pub history: Vec<SmsEngagement>,
}

/// Gets a contact's SMS consent history (opt-ins, opt-outs and their sources).
#[method(
    id = "contacts.sms_engagement_history",
    name = "Get SMS Engagement History",
    idempotent
)]
pub fn sms_engagement_history(
    cx: &mut Context<'_>,
    input: DeleteContactInput,
) -> Result<SmsEngagementHistory> {
    let id = segment("contact_id", &input.contact_id)?;
    let path = format!("/contacts/sms_engagement_history/{id}");
    let history = API.call(cx, HttpRequest::get(path))?;
    Ok(SmsEngagementHistory { history })
}
