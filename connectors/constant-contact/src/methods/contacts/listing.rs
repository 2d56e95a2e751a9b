//! Listing contacts, and polling them for changes.

use std::time::Duration;

use plugboard_core::rest::text_at;
use plugboard_core::{
    ConnectorError, Context, HttpRequest, HttpResponse, LogLevel, Result, Unnamed, input, method,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Contact, ContactStatus, Include, SmsStatus};
use crate::api::{API, NEXT_LINK};
use crate::timestamp::Timestamp;

/// The largest page `GET /contacts` serves.
const PAGE_SIZE: u32 = 500;
/// How many rounds one poll makes when changes span several pages (each round is one bounded
/// walk); past it the poll returns a cursor and the next poll goes on from there.
const MAX_POLL_ROUNDS: u32 = 100;
/// How often a page still "processing" (a segment being evaluated) is asked for again.
const PROCESSING_RETRIES: u32 = 6;
/// The longest pause before asking for a processing page again.
const MAX_PROCESSING_DELAY: Duration = Duration::from_secs(30);

/// Input of `contacts.list`.
#[input]
#[derive(Default)]
pub struct ListContactsInput {
    /// Contacts with any of these statuses (the API's default leaves deleted contacts out).
    #[serde(default)]
    pub status: Vec<ContactStatus>,
    /// Only the contact with exactly this email address.
    pub email: Option<String>,
    /// Members of any of these lists (up to 25 list ids).
    #[serde(default)]
    #[schemars(length(max = 25))]
    pub lists: Vec<String>,
    /// Members of this segment; no other field may be given with it (the API allows only a page
    /// size with `segment_id`). The API may need a while to evaluate a segment; the call then
    /// asks again, pausing 1 s, 2 s, 4 s... (about a minute in all) before giving up.
    pub segment_id: Option<i64>,
    /// Contacts with any of these tags (up to 50 tag ids).
    #[serde(default)]
    #[schemars(length(max = 50))]
    pub tags: Vec<String>,
    /// Contacts updated after this time (ISO-8601).
    pub updated_after: Option<String>,
    /// Contacts updated before this time (ISO-8601).
    pub updated_before: Option<String>,
    /// Contacts created after this time (ISO-8601).
    pub created_after: Option<String>,
    /// Contacts created before this time (ISO-8601).
    pub created_before: Option<String>,
    /// Contacts that opted out after this time (ISO-8601).
    pub optout_after: Option<String>,
    /// Contacts that opted out before this time (ISO-8601).
    pub optout_before: Option<String>,
    /// Contacts with any of these SMS statuses.
    #[serde(default)]
    pub sms_status: Vec<SmsStatus>,
    /// Sub-resources to include in each contact.
    #[serde(default)]
    pub include: Vec<Include>,
    /// Also return the total number of matching contacts.
    #[serde(default)]
    pub include_count: bool,
}

impl ListContactsInput {
    /// The API's `segment_id` "can only be combined with the limit query parameter", so other
    /// fields with it are refused before anything is sent, rather than be ignored or refused by
    /// the API in a way that does not name them.
    fn check_segment_alone(&self) -> Result<()> {
        if self.segment_id.is_none() {
            return Ok(());
        }
        let given = HttpRequest::get("/contacts").query_from(self)?.query;
        let others: Vec<String> = (given.iter())
            .filter(|(name, _)| name != "segment_id")
            .map(|(name, _)| format!("`{name}`"))
            .collect();
        if others.is_empty() {
            return Ok(());
        }
        Err(ConnectorError::InvalidInput {
            message: format!(
                "`segment_id` cannot be combined with other fields (the API allows only a page \
                 size with it); also given: {}",
                others.join(", ")
            ),
        })
    }
}

/// One page of contacts, as far as the connector reads it.
#[derive(Deserialize)]
struct ContactsPage {
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    contacts_count: Option<i64>,
}

impl ContactsPage {
    /// The page in `response`, its body kept for finding the next page.
    fn read(response: &HttpResponse) -> Result<(Self, Value)> {
        let body: Value = response.decode()?;
        let page = Self::deserialize(&body).map_err(|e| {
            ConnectorError::unexpected_response(format_args!(
                "a page of contacts does not match the expected shape: {e}"
            ))
        })?;
        Ok((page, body))
    }
}

/// The fields of a contacts page besides its contacts, its count and its links (e.g. `status`):
/// the outputs keep them, so nothing the API returned is dropped.
fn page_extras(body: &Value) -> Unnamed {
    let mut extras = body.as_object().cloned().unwrap_or_default();
    for read in ["contacts", "contacts_count", "_links"] {
        extras.remove(read);
    }
    extras.into()
}

/// What `contacts.list` returns once every contact has been streamed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ListContactsSummary {
    /// How many contacts were streamed.
    pub count: u64,
    /// The API's total of matching contacts, when `include_count` was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts_count: Option<i64>,
    /// The first page's other fields.
    #[serde(flatten)]
    pub page: Unnamed,
}

/// Sends a contacts page request, asking again (with growing pauses) while the API answers 202
/// "processing" for a segment.
fn fetch_page(cx: &Context<'_, Contact>, request: &HttpRequest) -> Result<HttpResponse> {
    let mut delay = Duration::from_secs(1);
    let mut waited = Duration::ZERO;
    for attempt in 0..=PROCESSING_RETRIES {
        let response = API.send(cx, request.clone())?;
        if response.status != 202 {
            return Ok(response);
        }
        if attempt == PROCESSING_RETRIES {
            break;
        }
        cx.log(
            LogLevel::Info,
            &format!(
                "contacts: the API is still processing the segment; asking again in {} s",
                delay.as_secs()
            ),
        );
        cx.sleep(delay)?;
        waited += delay;
        delay = (delay * 2).min(MAX_PROCESSING_DELAY);
    }
    Err(ConnectorError::UnexpectedResponse {
        message: format!(
            "the API was still processing the segment after {} requests over {} s; try again later",
            PROCESSING_RETRIES + 1,
            waited.as_secs()
        ),
    })
}

/// Emits one page's contacts.
fn emit_page(cx: &mut Context<'_, Contact>, page: &ContactsPage) -> Result<()> {
    cx.log(
        LogLevel::Debug,
        &format!("contacts: a page of {} contacts", page.contacts.len()),
    );
    for contact in &page.contacts {
        cx.emit(contact)?;
    }
    Ok(())
}

/// Streams every contact of a collection, page by page; returns the API's `contacts_count`, when
/// it sent one, and the first page's other fields.
fn stream_contacts(
    cx: &mut Context<'_, Contact>,
    first: HttpRequest,
) -> Result<(Option<i64>, Unnamed)> {
    let mut pages = API.paging().pages(first);
    let mut contacts_count = None;
    let mut extras = None;
    while let Some(request) = pages.next_request() {
        let response = fetch_page(cx, &request)?;
        let (page, body) = ContactsPage::read(&response)?;
        contacts_count = contacts_count.or(page.contacts_count);
        extras.get_or_insert_with(|| page_extras(&body));
        emit_page(cx, &page)?;
        pages.advance(&response, &body, page.contacts.len())?;
    }
    Ok((contacts_count, extras.unwrap_or_default()))
}

/// The newest `updated_at` among `contacts`, compared as instants (UTC offsets and any number of
/// fractional digits), with its text as the API wrote it. Unparseable values are left out: a
/// cursor that is too early only repeats contacts, one that is too late would skip them.
fn newest_update(contacts: &[Contact]) -> Option<(Timestamp, &str)> {
    contacts
        .iter()
        .filter_map(|c| c.updated_at.as_deref())
        .filter_map(|text| Timestamp::parse(text).map(|at| (at, text)))
        .max_by_key(|(at, _)| *at)
}

/// Streams every contact matching the filters (status, email, lists, tags, dates) or the members
/// of one segment (alone: the API takes no other filter with it), following the API's pages.
#[method(
    id = "contacts.list",
    name = "List Contacts",
    idempotent,
    cost(
        per_page = PAGE_SIZE,
        instead = ["bulk.export_contacts", "bulk.wait_for_activity", "bulk.download_export"]
    )
)]
pub fn list(
    cx: &mut Context<'_, Contact>,
    input: ListContactsInput,
) -> Result<ListContactsSummary> {
    input.check_segment_alone()?;
    let first = HttpRequest::get("/contacts").query("limit", PAGE_SIZE);
    let (contacts_count, page) = stream_contacts(cx, first.query_from(&input)?)?;
    Ok(ListContactsSummary {
        count: cx.emitted(),
        contacts_count,
        page,
    })
}

/// Input of `contacts.poll_updated`.
// Serialized as the query of each page: only `include`; the cursor goes as `updated_after`.
#[input]
#[derive(Default)]
pub struct PollUpdatedInput {
    /// The `next_cursor` of the previous poll (an ISO-8601 time); contacts updated after it are
    /// returned.
    #[serde(default, skip_serializing)]
    pub cursor: Option<String>,
    /// Where the first poll starts (ISO-8601) when there is no cursor yet. With neither, the first
    /// poll returns every contact (a full initial sync), and later polls only the changes.
    #[serde(default, skip_serializing)]
    pub start: Option<String>,
    /// Sub-resources to include in each contact.
    #[serde(default)]
    pub include: Vec<Include>,
}

/// What one poll found.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PollUpdatedOutput {
    /// Pass this as `cursor` to the next poll: an `updated_at` the API returned, up to which every
    /// change has been streamed, or the previous cursor (or `start`) when nothing changed. A
    /// contact changed while the poll ran may come twice, in this poll or the next; none is
    /// skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// How many new or updated contacts were streamed.
    pub count: u64,
    /// The API's total of changed contacts, when `include_count` was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts_count: Option<i64>,
    /// The first page's other fields.
    #[serde(flatten)]
    pub page: Unnamed,
}

/// Streams contacts created or updated since the cursor and returns the next cursor for the next
/// poll. Changes spanning several pages are read up to a fixed updated_at (updated_before), so
/// contacts edited while the pages are read come again later (in this poll or the next) instead
/// of being skipped.
///
/// One page is one consistent answer, so when the changes fit in it the newest `updated_at` on it
/// is a safe cursor. A walk over several pages takes time, and a contact edited meanwhile on a
/// page already read would be lost if the cursor jumped to a later edit read on a later page. So
/// when there is a next page, the poll fixes an upper bound first, walks only the contacts
/// updated before it (`updated_before`), and hands back the bound as the cursor: edits made during
/// the walk are later than the bound and come in the next round or poll. The connector has no
/// clock (invariant 1), and the `Date` header is neither kept by cassettes nor written by the
/// clock that stamps `updated_at`, so the bound is the newest `updated_at` on the first page: a
/// time the API itself wrote, no later than the moment that page was served.
#[method(
    id = "contacts.poll_updated",
    name = "New or Updated Contacts",
    poll(cursor = "cursor", next = "next_cursor"),
    idempotent,
    cost(per_page = PAGE_SIZE)
)]
pub fn poll_updated(
    cx: &mut Context<'_, Contact>,
    input: PollUpdatedInput,
) -> Result<PollUpdatedOutput> {
    let changes_since = |since: &Option<String>| {
        HttpRequest::get("/contacts")
            .query("limit", PAGE_SIZE)
            .query_opt("updated_after", since.clone())
            .query_from(&input)
    };
    let mut since = input.cursor.clone().or(input.start.clone());
    // The first answer's count and other fields, for the output.
    let mut first_page: Option<(Option<i64>, Unnamed)> = None;
    for _ in 0..MAX_POLL_ROUNDS {
        let response = fetch_page(cx, &changes_since(&since)?)?;
        let (page, body) = ContactsPage::read(&response)?;
        let since_at = since.as_deref().and_then(Timestamp::parse);
        let newest = newest_update(&page.contacts)
            .filter(|(at, _)| since_at.is_none_or(|since| *at > since))
            .map(|(at, text)| (at, text.to_owned()));
        let (contacts_count, extras) = first_page
            .get_or_insert_with(|| (page.contacts_count, page_extras(&body)))
            .clone();
        if text_at(&body, NEXT_LINK).is_none() {
            // Every change since the cursor, in one answer.
            emit_page(cx, &page)?;
            return Ok(PollUpdatedOutput {
                next_cursor: newest.map(|(_, text)| text).or(since),
                count: cx.emitted(),
                contacts_count,
                page: extras,
            });
        }
        let Some((bound, bound_text)) = newest else {
            // No usable `updated_at` to bound the walk (or none after the cursor, which the
            // API should not send): read everything and keep the cursor, which repeats these
            // contacts next time rather than risk skipping any.
            cx.log(
                LogLevel::Warn,
                "contacts.poll_updated: the first page has no updated_at after the cursor; \
                 reading every page and keeping the cursor",
            );
            stream_contacts(cx, changes_since(&since)?)?;
            return Ok(PollUpdatedOutput {
                next_cursor: since,
                count: cx.emitted(),
                contacts_count,
                page: extras,
            });
        };
        // The first page is read again within the bound, so it is not emitted here. One
        // millisecond past the bound keeps contacts updated exactly at it in this walk,
        // whether the API's `updated_before` is exclusive or not; the next round starts
        // after the bound, so nothing falls between the two.
        let until = bound.plus_millis(1).to_string();
        cx.log(
            LogLevel::Debug,
            &format!(
                "contacts.poll_updated: several pages of changes; reading those before {until}"
            ),
        );
        stream_contacts(cx, changes_since(&since)?.query("updated_before", until))?;
        since = Some(bound_text);
    }
    cx.log(
        LogLevel::Info,
        &format!(
            "contacts.poll_updated: stopping after {MAX_POLL_ROUNDS} rounds; the next poll \
             goes on from the cursor"
        ),
    );
    let (contacts_count, page) = first_page.unwrap_or_default();
    Ok(PollUpdatedOutput {
        next_cursor: since,
        count: cx.emitted(),
        contacts_count,
        page,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn updated(at: &str) -> Contact {
        serde_json::from_value(serde_json::json!({"contact_id": at, "updated_at": at}))
            .expect("a contact")
    }

    #[test]
    fn the_newest_update_is_found_by_instant_not_text() {
        let contacts = [
            // 10:00 UTC: sorts last as text.
            updated("2024-05-01T12:00:00+02:00"),
            updated("2024-05-01T10:30:00Z"),
            updated("2024-05-01T10:29:59.999-00:00"),
            updated("not a time"),
        ];
        let (_, text) = newest_update(&contacts).expect("one parses");
        assert_eq!(text, "2024-05-01T10:30:00Z");

        let contacts = [
            updated("2024-05-01T10:00:44Z"),
            updated("2024-05-01T10:00:44.108Z"),
        ];
        let (_, text) = newest_update(&contacts).expect("both parse");
        assert_eq!(text, "2024-05-01T10:00:44.108Z");
        assert!(newest_update(&[updated("garbage")]).is_none());
    }

    #[test]
    fn a_segment_goes_alone() {
        let alone = ListContactsInput {
            segment_id: Some(3),
            ..ListContactsInput::default()
        };
        assert!(alone.check_segment_alone().is_ok());
        let mixed = ListContactsInput {
            segment_id: Some(3),
            lists: vec!["l-1".into()],
            include_count: true,
            ..ListContactsInput::default()
        };
        let ConnectorError::InvalidInput { message } =
            mixed.check_segment_alone().expect_err("refused")
        else {
            panic!("expected invalid input");
        };
        assert!(message.contains("`lists`, `include_count`"), "{message}");
        let no_segment = ListContactsInput {
            lists: vec!["l-1".into()],
            ..ListContactsInput::default()
        };
        assert!(no_segment.check_segment_alone().is_ok());
    }

    #[test]
    fn filters_join_as_comma_separated_wire_names() {
        let input = ListContactsInput {
            status: vec![ContactStatus::PendingConfirmation, ContactStatus::TempHold],
            sms_status: vec![SmsStatus::NotSet],
            ..ListContactsInput::default()
        };
        let query = HttpRequest::get("/contacts")
            .query_from(&input)
            .expect("encodes")
            .query;
        assert_eq!(
            query,
            [
                (
                    "status".to_owned(),
                    "pending_confirmation,temp_hold".to_owned()
                ),
                ("sms_status".to_owned(), "not_set".to_owned())
            ]
        );
    }
}
