//! `GET /contacts/sms_engagement_history/{contact_id}`: a contact's SMS consent history, one
//! entry per consent change the sandbox recorded (an opt-in, then an opt-out when there was one);
//! an empty list for a contact without an SMS number.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::json;
use crate::errors::{ApiError, ApiResult};
use crate::state::{AppState, lock};
use crate::store::{SmsChannel, SmsConsent};
use crate::util::format_ms;

/// One history entry: `action` (`opt_in` or `opt_out`) of `consent` at `at`.
fn entry(
    contact_id: &str,
    channel: &SmsChannel,
    consent: &SmsConsent,
    action: &str,
    at: i64,
) -> Value {
    json!({
        "contact_id": contact_id,
        "sms_channel_id": channel.id,
        "sms_channel_history_id": format!("{}-{}-{action}", channel.id, consent.consent_type),
        "insert_time": format_ms(at),
        "history_details": {
            "state": consent.permission,
            "source": channel.update_source,
            "consent_type": consent.consent_type,
            "consent_action_time": format_ms(at),
            "consent_action_type": action,
            "consent_medium_type": "SMS",
            "source_sms_number": channel.full_address(),
            "advertised_frequency": consent.advertised_frequency.as_deref().and_then(|f| f.parse::<i64>().ok()),
            "advertised_interval": consent.advertised_interval,
        }
    })
}

/// `GET /contacts/sms_engagement_history/{contact_id}`: 200 with the history; 404 for an unknown
/// or deleted contact.
pub(crate) async fn history(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let store = lock(&shared.store);
    let contact = (store.contacts.get(&id))
        .filter(|c| c.deleted_at.is_none())
        .ok_or_else(|| ApiError::not_found("contact"))?;
    let mut history = Vec::new();
    if let Some(channel) = &contact.sms {
        for consent in &channel.consents {
            let opt_in = consent.opt_in_date.unwrap_or(consent.created_at);
            history.push(entry(&id, channel, consent, "opt_in", opt_in));
            if let Some(opt_out) = consent.opt_out_date {
                history.push(entry(&id, channel, consent, "opt_out", opt_out));
            }
        }
    }
    Ok(json(StatusCode::OK, Value::Array(history)))
}
