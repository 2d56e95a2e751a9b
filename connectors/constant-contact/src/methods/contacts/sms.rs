//! A contact's SMS channel: the number and consents a contact write carries, and the consent
//! history.

use plugboard_core::rest::segment;
use plugboard_core::{Context, HttpRequest, Result, input, method, output};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DeleteContactInput;
use crate::api::API;

/// One SMS consent to write with a contact's number (`contacts.create`, `contacts.update`).
#[input]
#[derive(Clone)]
pub struct SmsConsentInput {
    /// The consent's status: `explicit`, `pending_confirmation`, `unsubscribed` or `not_set`.
    pub sms_consent_permission: String,
    /// The kind of consent, e.g. `promotional_sms`.
    pub consent_type: String,
    /// More about how consent was given, e.g. the device used.
    pub consent_medium_details: Option<String>,
}

/// A contact's SMS number and its consents (`contacts.create`, `contacts.update`). Only write
/// one with the contact's own permission to be sent SMS.
#[input]
#[derive(Clone)]
pub struct SmsChannelInput {
    /// The SMS-capable number with its dial code, e.g. `17815551212`.
    pub full_sms_address: String,
    /// The consents the contact gave.
    pub sms_channel_consents: Vec<SmsConsentInput>,
}

/// One SMS consent given through a sign-up (`contacts.create_or_update`): where and how.
#[input]
#[derive(Clone)]
pub struct SignUpSmsConsentInput {
    /// The consent's status, e.g. `pending_confirmation` or `explicit`.
    pub sms_consent_permission: String,
    /// The kind of consent, e.g. `promotional_sms`.
    pub consent_type: String,
    /// A code for where the consent was given, e.g. `LF` (a landing page form).
    pub consent_medium_type: String,
    /// The page where the consent was given.
    pub consent_medium_url: String,
    /// More about how the consent was given.
    pub consent_medium_details: String,
    /// How many messages per `advertised_interval` the contact was told to expect, e.g. `1`.
    pub advertised_frequency: Option<i64>,
    /// The period of `advertised_frequency`, e.g. `weekly`.
    pub advertised_interval: Option<String>,
}

/// A sign-up's SMS number, split as the sign-up takes it, and its consents.
#[input]
#[derive(Clone)]
pub struct SignUpSmsChannelInput {
    /// The number without its country's dial code, e.g. `7815551212`.
    pub sms_address: String,
    /// The country's dial code, e.g. `1`.
    pub dial_code: String,
    /// The two-letter country code, e.g. `US`.
    pub country_code: String,
    /// The consents the contact gave.
    pub sms_channel_consents: Vec<SignUpSmsConsentInput>,
}

/// One change of a contact's SMS consent.
#[output]
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
#[method(id = "contacts.sms_engagement_history", name = "Get SMS Engagement History", idempotent)]
pub fn sms_engagement_history(
    cx: &mut Context<'_>,
    input: DeleteContactInput,
) -> Result<SmsEngagementHistory> {
    let id = segment("contact_id", &input.contact_id)?;
    let path = format!("/contacts/sms_engagement_history/{id}");
    let history = API.call(cx, HttpRequest::get(path))?;
    Ok(SmsEngagementHistory { history })
}
