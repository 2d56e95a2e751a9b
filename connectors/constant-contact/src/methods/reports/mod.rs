//! Reporting: what contacts did with the emails, landing pages and SMS the account sent.
//!
//! One module per area of the API's reporting: [`email`] (campaign summaries, stats, links and
//! the per-activity tracking reports), [`contact`] (one contact's activity), [`landing_pages`]
//! and [`sms`]. What they share lives here: the tracking record every per-event report streams,
//! the checks on ids and dates the API would otherwise answer with a generic 400 or 404, and the
//! walk over summary pages that keeps each page's aggregate figures.

pub(crate) mod contact;
pub(crate) mod email;
pub(crate) mod landing_pages;
pub(crate) mod sms;

use plugboard_core::rest::excerpt;
use plugboard_core::{ConnectorError, Context, HttpRequest, Result, output};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::API;
use crate::timestamp::Timestamp;

/// The phone number of a contact reached over SMS, as a landing-page report gives it.
#[output]
pub struct SmsChannel {
    /// The number's two-letter country code.
    pub country_code: Option<String>,
    /// The number's SMS permission state, e.g. `explicit`.
    pub state: Option<String>,
    /// The number in international format.
    pub formatted_international: Option<String>,
    /// The number in national format.
    pub formatted_national: Option<String>,
}

/// One tracked event: a send, open, click, bounce, opt-out or forward of an email, or what a
/// contact did on a landing page. Which fields are present depends on the report.
#[output]
pub struct TrackingActivity {
    /// The contact's id.
    pub contact_id: String,
    /// The campaign activity the event belongs to.
    pub campaign_activity_id: String,
    /// What happened, e.g. `em_sends`, `em_clicks` or `p_contact_open`.
    pub tracking_activity_type: Option<String>,
    /// The address the email went to.
    pub email_address: Option<String>,
    /// The contact's first name.
    pub first_name: Option<String>,
    /// The contact's last name.
    pub last_name: Option<String>,
    /// When it happened (ISO-8601).
    pub created_time: Option<String>,
    /// When the contact was deleted, if it was (a date).
    pub deleted_at: Option<String>,
    /// Opens and clicks: `computer`, `mobile`, `tablet` or `other`.
    pub device_type: Option<String>,
    /// Clicks: the id of the clicked link (see `reports.email_links`).
    pub url_id: Option<String>,
    /// Clicks: the clicked link's URL.
    pub link_url: Option<String>,
    /// Opt-outs: the reason the contact gave.
    pub opt_out_reason: Option<String>,
    /// Bounces: the bounce code (`B`, `D`, `F`, `S`, `V`, `X` or `Z`).
    pub bounce_code: Option<String>,
    /// Bounces: the contact's address now, when it changed since.
    pub current_email_address: Option<String>,
    /// Contact activity details: the name of the campaign activity.
    pub campaign_activity_name: Option<String>,
    /// Landing pages: the contact's SMS number.
    pub sms_channel: Option<SmsChannel>,
}

/// What a summary report returns: how many records it streamed, the aggregate percentages over
/// all of them (every page repeats them), and anything else its first page said.
#[output]
pub struct StreamedWithAggregates<A> {
    /// How many records were streamed.
    pub count: u64,
    /// The report's aggregate percentages over every record, when the API gave them.
    pub aggregate_percents: Option<A>,
}

/// Streams the items at `items` of every page of the collection `first` asks for
/// (`API.stream`) and returns the count with the first page's other fields, decoded as `O`, so a
/// report can name the fields its pages carry (e.g. `aggregate_percents`).
pub(crate) fn stream_report<R, O>(
    cx: &mut Context<'_, R>,
    first: HttpRequest,
    items: &str,
) -> Result<O>
where
    R: DeserializeOwned + Serialize,
    O: DeserializeOwned,
{
    let streamed = API.stream(cx, first, items)?;
    let output = serde_json::to_value(streamed).map_err(|e| {
        ConnectorError::plugin(format!(
            "a streamed report could not be written as JSON: {e}"
        ))
    })?;
    O::deserialize(output).map_err(|e| {
        ConnectorError::unexpected_response(format_args!(
            "the first page's fields besides `{items}` do not match the expected shape: {e}"
        ))
    })
}

/// The name an enum value has on the wire (its serde name), for query parameters.
fn wire_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(name)) => name,
        _ => String::new(),
    }
}

/// An invalid-input error naming `field`.
fn invalid(field: &str, why: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::InvalidInput {
        message: format!("`{field}` {why}"),
    }
}

/// Whether `text` is a UUID (8-4-4-4-12 hex digits), the only id shape the reports accept.
fn is_uuid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(part, len)| part.len() == len && part.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Checks that `value` of `field` is a UUID, which the spec requires of report ids (a malformed
/// one is a 404 for the whole call); returns it for use in a path.
fn uuid<'a>(field: &str, value: &'a str) -> Result<&'a str> {
    if is_uuid(value) {
        Ok(value)
    } else {
        Err(invalid(
            field,
            format_args!(
                "must be a UUID like `8892baf9-970a-4de6-8400-fa4ec461987c`, not `{}`",
                excerpt(value)
            ),
        ))
    }
}

/// Checks a list of UUIDs of `field` (1 to `max` of them, the spec's limit per call) and joins
/// them with commas, as the stats paths take them.
fn uuid_list(field: &str, values: &[String], max: usize) -> Result<String> {
    if values.is_empty() || values.len() > max {
        return Err(invalid(
            field,
            format_args!("takes 1 to {max} ids per call, not {}", values.len()),
        ));
    }
    for value in values {
        uuid(field, value)?;
    }
    Ok(values.join(","))
}

/// Checks that `value` of `field` is an ISO-8601 date-time with an offset (or a date), as the
/// API requires of report ranges; returns the instant.
fn instant(field: &str, value: &str) -> Result<Timestamp> {
    Timestamp::parse(value).ok_or_else(|| {
        invalid(
            field,
            format_args!(
                "must be an ISO-8601 date-time such as `2026-01-01T00:00:00Z`, not `{}`",
                excerpt(value)
            ),
        )
    })
}

/// Checks that `start` is not after `end`.
fn ordered(start: (&str, Timestamp), end: (&str, Timestamp)) -> Result<()> {
    if start.1 > end.1 {
        return Err(invalid(
            end.0,
            format_args!("must not be before `{}`", start.0),
        ));
    }
    Ok(())
}
