//! Contacts: list and poll, read, create, replace, upsert by email, delete, count.

use std::time::Duration;

use plugboard_core::{
    ConnectorError, Context, HttpRequest, HttpResponse, LogLevel, Method, MethodInfo, MethodKind,
    NoRecords,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Deleted;
use crate::errors::{check, check_create};
use crate::pagination::{Pages, PagingLinks};
use crate::paths::segment;
use crate::timestamp::Timestamp;

/// The largest page `GET /contacts` serves.
const PAGE_SIZE: u32 = 500;
/// How many rounds one poll makes when changes span several pages (each round is one bounded
/// walk); past it the poll returns a cursor and the next poll goes on from there.
const MAX_POLL_ROUNDS: u32 = 100;
/// How often a page still "processing" (a segment being evaluated) is asked for again.
const PROCESSING_RETRIES: u32 = 6;
/// How often `POST /contacts/sign_up_form` is sent again after a 409 (another request was
/// changing the same contact); the upsert is safe to repeat, since a 409 changed nothing.
const CONFLICT_RETRIES: u32 = 3;
/// The pause before the first repeat of a conflicting sign-up; it doubles after each.
const FIRST_CONFLICT_DELAY: Duration = Duration::from_millis(500);
/// The longest pause before asking for a processing page again.
const MAX_PROCESSING_DELAY: Duration = Duration::from_secs(30);

/// A contact's email address and consent.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EmailAddress {
    /// The email address.
    pub address: String,
    /// `explicit`, `implicit`, `not_set`, `pending_confirmation`, `temp_hold` or `unsubscribed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_to_send: Option<String>,
    /// Who opted the address in: `Contact` or `Account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_in_source: Option<String>,
    /// When the address was opted in (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_in_date: Option<String>,
    /// Who opted the address out: `Contact` or `Account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_out_source: Option<String>,
    /// When the address was opted out (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_out_date: Option<String>,
    /// Why the contact opted out, in their words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_out_reason: Option<String>,
    /// Whether the contact confirmed the address: `pending`, `confirmed` or `off`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_status: Option<String>,
    /// When the address was added (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When the address last changed (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// A custom field value of a contact.
// Shared by requests and responses, so unknown keys are tolerated (and dropped).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ContactCustomField {
    /// The custom field's id.
    pub custom_field_id: String,
    /// The value (up to 255 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// For single- and multi-select fields, the ids of the chosen choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice_ids: Option<Vec<String>>,
}

/// A contact's phone number.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PhoneNumber {
    /// Unique id of the phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<String>,
    /// The number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// `home`, `work`, `mobile` or `other`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// When the number was added (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When the number last changed (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// A contact's street address.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StreetAddress {
    /// Unique id of the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address_id: Option<String>,
    /// `home`, `work` or `other`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Number and street.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State or province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Zip or postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// When the address was added (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When the address last changed (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// A note about a contact.
// Shared by requests and responses, so unknown keys are tolerated (and dropped).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Note {
    /// Unique id of the note (keep it when replacing a contact to keep the note).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_id: Option<String>,
    /// The note's text (up to 2,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// When the note was written (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// A contact, as the API returns it. Sub-resources (custom fields, phone numbers, addresses,
/// lists, tags, notes) are present only when asked for with `include`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Contact {
    /// Unique id of the contact.
    pub contact_id: String,
    /// The email address and its consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<EmailAddress>,
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Job title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    /// Company name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// Birthday month, 1-12.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday_month: Option<u8>,
    /// Birthday day, 1-31.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday_day: Option<u8>,
    /// Anniversary date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anniversary: Option<String>,
    /// Who added the contact: `Contact` or `Account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_source: Option<String>,
    /// Who last updated the contact: `Contact` or `Account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_source: Option<String>,
    /// When the contact was created (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When the contact last changed (ISO-8601); the poll trigger's cursor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// When the contact was deleted, for deleted contacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// Custom field values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<Vec<ContactCustomField>>,
    /// Phone numbers (up to 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_numbers: Option<Vec<PhoneNumber>>,
    /// Street addresses (up to 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_addresses: Option<Vec<StreetAddress>>,
    /// Ids of the lists the contact is a member of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_memberships: Option<Vec<String>>,
    /// Ids of the tags on the contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taggings: Option<Vec<String>>,
    /// Notes, most recent first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<Vec<Note>>,
}

/// Sub-resources a contact read can include.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Include {
    /// Custom field values.
    CustomFields,
    /// List memberships.
    ListMemberships,
    /// Phone numbers.
    PhoneNumbers,
    /// Street addresses.
    StreetAddresses,
    /// Tags.
    Taggings,
    /// Notes.
    Notes,
}

/// Contacts by email status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactStatus {
    /// Every contact, deleted ones included.
    All,
    /// Contacts that are not deleted.
    Active,
    /// Deleted contacts.
    Deleted,
    /// Contacts without email permission set.
    NotSet,
    /// Contacts that have not confirmed yet.
    PendingConfirmation,
    /// Contacts on temporary hold.
    TempHold,
    /// Contacts that unsubscribed.
    Unsubscribed,
}

/// Contacts by SMS status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmsStatus {
    /// Every SMS status.
    All,
    /// Explicit SMS permission.
    Explicit,
    /// Unsubscribed from SMS.
    Unsubscribed,
    /// SMS permission pending confirmation.
    PendingConfirmation,
    /// SMS permission not set.
    NotSet,
}

/// The name serde gives a unit variant, e.g. `pending_confirmation`.
fn wire_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// Joins values as the API's comma-separated lists; `None` when empty.
fn csv<T: Serialize>(values: &[T]) -> Option<String> {
    (!values.is_empty()).then(|| values.iter().map(wire_name).collect::<Vec<_>>().join(","))
}

/// Input of `contacts.list`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListContactsInput {
    /// Contacts with any of these statuses (the API's default leaves deleted contacts out).
    #[serde(default)]
    pub status: Vec<ContactStatus>,
    /// Only the contact with exactly this email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Members of any of these lists (up to 25 list ids).
    #[serde(default)]
    #[schemars(length(max = 25))]
    pub lists: Vec<String>,
    /// Members of this segment; no other field may be given with it (the API allows only a page
    /// size with `segment_id`). The API may need a while to evaluate a segment; the call then
    /// asks again, pausing 1 s, 2 s, 4 s... (about a minute in all) before giving up.
    #[serde(default)]
    pub segment_id: Option<i64>,
    /// Contacts with any of these tags (up to 50 tag ids).
    #[serde(default)]
    #[schemars(length(max = 50))]
    pub tags: Vec<String>,
    /// Contacts updated after this time (ISO-8601).
    #[serde(default)]
    pub updated_after: Option<String>,
    /// Contacts updated before this time (ISO-8601).
    #[serde(default)]
    pub updated_before: Option<String>,
    /// Contacts created after this time (ISO-8601).
    #[serde(default)]
    pub created_after: Option<String>,
    /// Contacts created before this time (ISO-8601).
    #[serde(default)]
    pub created_before: Option<String>,
    /// Contacts that opted out after this time (ISO-8601).
    #[serde(default)]
    pub optout_after: Option<String>,
    /// Contacts that opted out before this time (ISO-8601).
    #[serde(default)]
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
    /// The names of the fields given besides `segment_id`.
    fn fields_besides_segment(&self) -> Vec<&'static str> {
        [
            ("status", !self.status.is_empty()),
            ("email", self.email.is_some()),
            ("lists", !self.lists.is_empty()),
            ("tags", !self.tags.is_empty()),
            ("updated_after", self.updated_after.is_some()),
            ("updated_before", self.updated_before.is_some()),
            ("created_after", self.created_after.is_some()),
            ("created_before", self.created_before.is_some()),
            ("optout_after", self.optout_after.is_some()),
            ("optout_before", self.optout_before.is_some()),
            ("sms_status", !self.sms_status.is_empty()),
            ("include", !self.include.is_empty()),
            ("include_count", self.include_count),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }

    /// The API's `segment_id` "can only be combined with the limit query parameter", so other
    /// fields with it are refused before anything is sent, rather than be ignored or refused by
    /// the API in a way that does not name them.
    fn check_segment_alone(&self) -> Result<(), ConnectorError> {
        if self.segment_id.is_none() {
            return Ok(());
        }
        let others = self.fields_besides_segment();
        if others.is_empty() {
            return Ok(());
        }
        Err(ConnectorError::InvalidInput {
            message: format!(
                "`segment_id` cannot be combined with other fields (the API allows only a page \
                 size with it); also given: {}",
                others
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }
}

#[derive(Deserialize)]
struct ContactsPage {
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    contacts_count: Option<u64>,
    #[serde(default, rename = "_links")]
    links: PagingLinks,
}

/// What `contacts.list` returns once every contact has been streamed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ListContactsSummary {
    /// How many contacts were streamed.
    pub count: u64,
    /// The API's total of matching contacts, when `include_count` was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts_count: Option<u64>,
}

/// Sends a contacts page request, asking again (with growing pauses) while the API answers 202
/// "processing" for a segment.
fn fetch_page(
    cx: &Context<'_, Contact>,
    request: &HttpRequest,
) -> Result<HttpResponse, ConnectorError> {
    let mut delay = Duration::from_secs(1);
    let mut waited = Duration::ZERO;
    for attempt in 0..=PROCESSING_RETRIES {
        let response = check(cx.send(request.clone())?)?;
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
fn emit_page(cx: &mut Context<'_, Contact>, page: &ContactsPage) -> Result<(), ConnectorError> {
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
/// it sent one.
fn stream_contacts(
    cx: &mut Context<'_, Contact>,
    first: HttpRequest,
) -> Result<Option<u64>, ConnectorError> {
    let mut pages = Pages::new(first);
    let mut contacts_count = None;
    while let Some(request) = pages.next_request() {
        let page: ContactsPage = fetch_page(cx, &request)?.decode()?;
        contacts_count = contacts_count.or(page.contacts_count);
        emit_page(cx, &page)?;
        pages.advance(&page.links)?;
    }
    Ok(contacts_count)
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

/// `GET /contacts`, every page.
pub struct List;

impl Method for List {
    type Input = ListContactsInput;
    type Output = ListContactsSummary;
    type Record = Contact;
    const INFO: MethodInfo = MethodInfo {
        id: "contacts.list",
        name: "List Contacts",
        category: "Contacts",
        description: "Streams every contact matching the filters (status, email, lists, tags, \
            dates) or the members of one segment (alone: the API takes no other filter with \
            it), following the API's pages.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, Contact>,
        input: ListContactsInput,
    ) -> Result<ListContactsSummary, ConnectorError> {
        input.check_segment_alone()?;
        let request = HttpRequest::get("/contacts")
            .query("limit", PAGE_SIZE)
            .query_opt("status", csv(&input.status))
            .query_opt("email", input.email)
            .query_opt(
                "lists",
                (!input.lists.is_empty()).then(|| input.lists.join(",")),
            )
            .query_opt("segment_id", input.segment_id)
            .query_opt(
                "tags",
                (!input.tags.is_empty()).then(|| input.tags.join(",")),
            )
            .query_opt("updated_after", input.updated_after)
            .query_opt("updated_before", input.updated_before)
            .query_opt("created_after", input.created_after)
            .query_opt("created_before", input.created_before)
            .query_opt("optout_after", input.optout_after)
            .query_opt("optout_before", input.optout_before)
            .query_opt("sms_status", csv(&input.sms_status))
            .query_opt("include", csv(&input.include))
            .query_opt("include_count", input.include_count.then_some(true));
        let contacts_count = stream_contacts(cx, request)?;
        Ok(ListContactsSummary {
            count: cx.emitted(),
            contacts_count,
        })
    }
}

/// Input of `contacts.poll_updated`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PollUpdatedInput {
    /// The `next_cursor` of the previous poll (an ISO-8601 time); contacts updated after it are
    /// returned.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Where the first poll starts (ISO-8601) when there is no cursor yet. With neither, the first
    /// poll returns every contact (a full initial sync), and later polls only the changes.
    #[serde(default)]
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
}

/// `GET /contacts?updated_after=<cursor>`, every page, with the next cursor.
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
pub struct PollUpdated;

impl Method for PollUpdated {
    type Input = PollUpdatedInput;
    type Output = PollUpdatedOutput;
    type Record = Contact;
    const INFO: MethodInfo = MethodInfo {
        id: "contacts.poll_updated",
        name: "New or Updated Contacts",
        category: "Contacts",
        description: "Streams contacts created or updated since the cursor and returns the next \
            cursor for the next poll. Changes spanning several pages are read up to a fixed \
            updated_at (updated_before), so contacts edited while the pages are read come again \
            later (in this poll or the next) instead of being skipped.",
        kind: MethodKind::PollTrigger,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, Contact>,
        input: PollUpdatedInput,
    ) -> Result<PollUpdatedOutput, ConnectorError> {
        let include = csv(&input.include);
        let changes_since = |since: &Option<String>| {
            HttpRequest::get("/contacts")
                .query("limit", PAGE_SIZE)
                .query_opt("updated_after", since.clone())
                .query_opt("include", include.clone())
        };
        let mut since = input.cursor.or(input.start);
        for _ in 0..MAX_POLL_ROUNDS {
            let page: ContactsPage = fetch_page(cx, &changes_since(&since))?.decode()?;
            let since_at = since.as_deref().and_then(Timestamp::parse);
            let newest = newest_update(&page.contacts)
                .filter(|(at, _)| since_at.is_none_or(|since| *at > since))
                .map(|(at, text)| (at, text.to_owned()));
            if page.links.next_request()?.is_none() {
                // Every change since the cursor, in one answer.
                emit_page(cx, &page)?;
                return Ok(PollUpdatedOutput {
                    next_cursor: newest.map(|(_, text)| text).or(since),
                    count: cx.emitted(),
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
                stream_contacts(cx, changes_since(&since))?;
                return Ok(PollUpdatedOutput {
                    next_cursor: since,
                    count: cx.emitted(),
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
            stream_contacts(cx, changes_since(&since).query("updated_before", until))?;
            since = Some(bound_text);
        }
        cx.log(
            LogLevel::Info,
            &format!(
                "contacts.poll_updated: stopping after {MAX_POLL_ROUNDS} rounds; the next poll \
                 goes on from the cursor"
            ),
        );
        Ok(PollUpdatedOutput {
            next_cursor: since,
            count: cx.emitted(),
        })
    }
}

/// Input of `contacts.get`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetContactInput {
    /// The contact's id.
    pub contact_id: String,
    /// Sub-resources to include.
    #[serde(default)]
    pub include: Vec<Include>,
}

/// `GET /contacts/{contact_id}`.
pub struct Get;

impl Method for Get {
    type Input = GetContactInput;
    type Output = Contact;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "contacts.get",
        name: "Get Contact",
        category: "Contacts",
        description: "Gets one contact by id, with the sub-resources asked for.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: GetContactInput,
    ) -> Result<Contact, ConnectorError> {
        let path = format!("/contacts/{}", segment("contact_id", &input.contact_id)?);
        let request = HttpRequest::get(path).query_opt("include", csv(&input.include));
        check(cx.send(request)?)?.decode()
    }
}

/// Who performed a change, for compliance: the contact themselves or the account (integration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Source {
    /// The contact acted (e.g. filled in a sign-up form).
    Contact,
    /// The account or an integration acting for it.
    Account,
}

/// Email consent a contact gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PermissionToSend {
    /// The contact agreed explicitly.
    Explicit,
    /// Consent is inferred (e.g. an existing customer).
    Implicit,
    /// Not set.
    NotSet,
    /// Waiting for the contact to confirm.
    PendingConfirmation,
    /// Temporarily held.
    TempHold,
    /// The contact unsubscribed.
    Unsubscribed,
}

/// An email address to write.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailAddressInput {
    /// The email address (up to 80 characters, unique per account).
    pub address: String,
    /// The consent the contact gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_to_send: Option<PermissionToSend>,
}

/// Kinds of phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhoneKind {
    /// Home.
    Home,
    /// Work.
    Work,
    /// Mobile.
    Mobile,
    /// Other.
    Other,
}

/// A phone number to write.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneNumberInput {
    /// The number (up to 25 characters).
    pub phone_number: String,
    /// What kind of number it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<PhoneKind>,
}

/// Kinds of street address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddressKind {
    /// Home.
    Home,
    /// Work.
    Work,
    /// Other.
    Other,
}

/// A street address to write.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreetAddressInput {
    /// What kind of address it is.
    pub kind: AddressKind,
    /// Number and street (up to 255 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State or province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Zip or postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// Declares a contact-writing input: its own fields, then the contact fields it shares with the
/// other writes (so create and replace cannot drift apart).
macro_rules! contact_write_input {
    ($(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty,)*
            /// The email address and its consent.
            pub email_address: EmailAddressInput,
            /// First name (up to 50 characters).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub first_name: Option<String>,
            /// Last name (up to 50 characters).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub last_name: Option<String>,
            /// Job title (up to 50 characters).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub job_title: Option<String>,
            /// Company name (up to 50 characters).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub company_name: Option<String>,
            /// Birthday month, 1-12 (with `birthday_day`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(range(min = 1, max = 12))]
            pub birthday_month: Option<u8>,
            /// Birthday day, 1-31 (with `birthday_month`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(range(min = 1, max = 31))]
            pub birthday_day: Option<u8>,
            /// Anniversary date, e.g. `2006-11-15`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub anniversary: Option<String>,
            /// Custom field values (up to 25).
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            #[schemars(length(max = 25))]
            pub custom_fields: Vec<ContactCustomField>,
            /// Phone numbers (up to 3).
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            #[schemars(length(max = 3))]
            pub phone_numbers: Vec<PhoneNumberInput>,
            /// Street addresses (up to 3).
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            #[schemars(length(max = 3))]
            pub street_addresses: Vec<StreetAddressInput>,
            /// Ids of the lists the contact belongs to (up to 50).
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            #[schemars(length(max = 50))]
            pub list_memberships: Vec<String>,
            /// Ids of the tags on the contact (up to 50).
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            #[schemars(length(max = 50))]
            pub taggings: Vec<String>,
            /// Notes about the contact (up to 150).
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            #[schemars(length(max = 150))]
            pub notes: Vec<Note>,
        }
    };
}

contact_write_input! {
    /// Input of `contacts.create`.
    CreateContactInput {
        /// Who is adding the contact: `Contact` (they signed up themselves) or `Account`. Set it
        /// truthfully: it is kept for compliance and cannot change later.
        create_source: Source,
    }
}

contact_write_input! {
    /// Input of `contacts.update`: the whole contact, as it should be afterwards.
    UpdateContactInput {
        /// The contact's id.
        #[serde(skip_serializing)]
        contact_id: String,
        /// Who is making the change: `Contact` or `Account`. Only `Account` revives a deleted
        /// contact (the API's rule for restoring one with a PUT).
        update_source: Source,
    }
}

/// `POST /contacts`.
pub struct Create;

impl Method for Create {
    type Input = CreateContactInput;
    type Output = Contact;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "contacts.create",
        name: "Create Contact",
        category: "Contacts",
        description: "Creates a contact; fails with `already_exists` when the email address is \
            taken (use contacts.create_or_update to upsert).",
        kind: MethodKind::Action,
        idempotent: false,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: CreateContactInput,
    ) -> Result<Contact, ConnectorError> {
        let request = HttpRequest::post("/contacts").json(&input)?;
        let what = format!("a contact with email {}", input.email_address.address);
        check_create(cx.send(request)?, &what)?.decode()
    }

    const FINDS_EFFECT: bool = true;

    /// The address is unique in an account: a contact with it, in any status, is there because
    /// of the lost call (or was before it, when the call would have failed as `already_exists`).
    fn find_effect(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: &CreateContactInput,
    ) -> Result<Option<Contact>, ConnectorError> {
        let request = HttpRequest::get("/contacts")
            .query("email", &input.email_address.address)
            .query("status", "all")
            .query(
                "include",
                "custom_fields,list_memberships,phone_numbers,street_addresses,notes,taggings",
            );
        let page: ContactsPage = check(cx.send(request)?)?.decode()?;
        Ok(page.contacts.into_iter().find(|contact| {
            contact.email_address.as_ref().is_some_and(|email| {
                email
                    .address
                    .eq_ignore_ascii_case(&input.email_address.address)
            })
        }))
    }
}

/// `PUT /contacts/{contact_id}`.
pub struct Update;

impl Method for Update {
    type Input = UpdateContactInput;
    type Output = Contact;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "contacts.update",
        name: "Replace Contact",
        category: "Contacts",
        description: "Replaces a contact as a whole (PUT): top-level fields left out are cleared, \
            sub-resources left out are kept. A deleted contact is revived only when \
            update_source is Account.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: UpdateContactInput,
    ) -> Result<Contact, ConnectorError> {
        let path = format!("/contacts/{}", segment("contact_id", &input.contact_id)?);
        let request = HttpRequest::put(path).json(&input)?;
        check(cx.send(request)?)?.decode()
    }
}

/// Input of `contacts.delete`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteContactInput {
    /// The contact's id.
    pub contact_id: String,
}

/// `DELETE /contacts/{contact_id}`.
pub struct Delete;

impl Method for Delete {
    type Input = DeleteContactInput;
    type Output = Deleted;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "contacts.delete",
        name: "Delete Contact",
        category: "Contacts",
        description: "Deletes a contact (it can be revived later by a create-or-update, an import \
            or a replace with update_source Account).",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: DeleteContactInput,
    ) -> Result<Deleted, ConnectorError> {
        let path = format!("/contacts/{}", segment("contact_id", &input.contact_id)?);
        check(cx.send(HttpRequest::delete(path))?)?;
        Ok(Deleted {
            id: input.contact_id,
        })
    }
}

/// A custom field value for the sign-up form.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpCustomField {
    /// The custom field's id.
    pub custom_field_id: String,
    /// The value (up to 255 characters).
    pub value: String,
}

/// Input of `contacts.create_or_update`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrUpdateInput {
    /// The email address that identifies the contact (up to 50 characters).
    pub email_address: String,
    /// Lists to add the contact to (1-50 list ids); existing memberships are kept.
    #[schemars(length(min = 1, max = 50))]
    pub list_memberships: Vec<String>,
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Job title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    /// Company name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// Phone number (up to 25 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Anniversary date, e.g. `2006-11-15`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anniversary: Option<String>,
    /// Birthday month, 1-12 (with `birthday_day`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 12))]
    pub birthday_month: Option<u8>,
    /// Birthday day, 1-31 (with `birthday_month`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 31))]
    pub birthday_day: Option<u8>,
    /// One street address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<StreetAddressInput>,
    /// Custom field values to add (up to 50); existing values of other fields are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub custom_fields: Vec<SignUpCustomField>,
}

/// What `contacts.create_or_update` did.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CreateOrUpdateOutput {
    /// The contact's id.
    pub contact_id: String,
    /// Whether a new contact was created (HTTP 201) rather than an existing one updated (200).
    pub created: bool,
    /// `created` or `updated`.
    pub action: String,
}

#[derive(Deserialize)]
struct SignUpResponse {
    contact_id: String,
}

/// `POST /contacts/sign_up_form`.
pub struct CreateOrUpdate;

impl Method for CreateOrUpdate {
    type Input = CreateOrUpdateInput;
    type Output = CreateOrUpdateOutput;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "contacts.create_or_update",
        name: "Create or Update Contact",
        category: "Contacts",
        description: "Creates a contact, or updates the one with this email address (only the \
            fields given; lists and custom fields are added), and says which. Needs the contact's \
            own consent. A 409 (simultaneous changes to the contact) is retried a few times.",
        kind: MethodKind::Action,
        // Sent twice, it leaves the account as one call does (the contact, the given fields,
        // the lists added), so a call whose answer was lost can be sent again; only `created`
        // may then read `false` for a contact the lost call created.
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: CreateOrUpdateInput,
    ) -> Result<CreateOrUpdateOutput, ConnectorError> {
        let request = HttpRequest::post("/contacts/sign_up_form").json(&input)?;
        let response = check(send_unless_conflicting(cx, &request)?)?;
        let created = response.status == 201;
        let body: SignUpResponse = response.decode()?;
        Ok(CreateOrUpdateOutput {
            contact_id: body.contact_id,
            created,
            action: if created { "created" } else { "updated" }.to_owned(),
        })
    }
}

/// Sends a sign-up, sending it again (after 0.5 s, 1 s, 2 s) while the API answers 409: per the
/// spec that means simultaneous requests were modifying the same contact, which passes, and the
/// refused request changed nothing. The last answer is returned whatever it is.
fn send_unless_conflicting(
    cx: &Context<'_, NoRecords>,
    request: &HttpRequest,
) -> Result<HttpResponse, ConnectorError> {
    let mut delay = FIRST_CONFLICT_DELAY;
    let mut response = cx.send(request.clone())?;
    for retry in 1..=CONFLICT_RETRIES {
        if response.status != 409 {
            break;
        }
        cx.log(
            LogLevel::Info,
            &format!(
                "contacts.create_or_update: the contact is being changed by another request \
                 (409); sending again in {} ms ({retry} of {CONFLICT_RETRIES})",
                delay.as_millis()
            ),
        );
        cx.sleep(delay)?;
        delay *= 2;
        response = cx.send(request.clone())?;
    }
    Ok(response)
}

/// Input of `contacts.counts`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CountsInput {
    /// Also count new subscribers.
    #[serde(default)]
    pub include_new_subscriber: bool,
}

/// Contacts by email consent.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ContactCounts {
    /// Every contact of the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Contacts with explicit consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explicit: Option<u64>,
    /// Contacts with implicit consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implicit: Option<u64>,
    /// Contacts pending confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<u64>,
    /// Contacts that unsubscribed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsubscribed: Option<u64>,
    /// New subscribers, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_subscriber: Option<u64>,
}

/// `GET /contacts/counts`.
pub struct Counts;

impl Method for Counts {
    type Input = CountsInput;
    type Output = ContactCounts;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "contacts.counts",
        name: "Count Contacts",
        category: "Contacts",
        description: "Counts the account's contacts by email consent (explicit, implicit, \
            pending, unsubscribed).",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: CountsInput,
    ) -> Result<ContactCounts, ConnectorError> {
        let request = HttpRequest::get("/contacts/counts").query_opt(
            "include",
            input.include_new_subscriber.then_some("new_subscriber"),
        );
        check(cx.send(request)?)?.decode()
    }
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
        assert_eq!(
            csv(&[ContactStatus::PendingConfirmation, ContactStatus::TempHold]).as_deref(),
            Some("pending_confirmation,temp_hold")
        );
        assert_eq!(csv::<Include>(&[]), None);
    }
}
