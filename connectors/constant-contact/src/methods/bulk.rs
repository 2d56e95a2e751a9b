//! Bulk activities: asynchronous jobs (imports, list memberships, deletes) and waiting for them.
//!
//! Every bulk POST answers 201 with an activity whose `state` goes `initialized → processing →
//! completed | cancelled | failed | timed_out`; `GET /activities/{activity_id}` reports progress.

pub(crate) mod changes;
mod import;
mod import_csv;
pub(crate) mod reading;

use std::time::Duration;

use plugboard_core::rest::segment;
use plugboard_core::{
    ConnectorError, Context, HttpRequest, LogLevel, Result, input, method, output,
};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use crate::api::API;

pub use import::{MAX_CONTACTS_PER_IMPORT, MAX_IMPORT_BODY_BYTES, import_contacts};
pub use import_csv::import_contacts_csv;

/// The states after which an activity no longer changes.
pub const FINAL_STATES: [&str; 4] = ["completed", "cancelled", "failed", "timed_out"];
/// Default time budget of a wait, in seconds.
const DEFAULT_WAIT_SECS: u64 = 600;
/// The longest wait a caller may ask for, in seconds.
const MAX_WAIT_SECS: u64 = 3_600;
/// The longest pause between two polls.
const MAX_POLL_DELAY: Duration = Duration::from_secs(30);
/// A hard bound on polls per activity, whatever the time budget.
const MAX_POLLS: u32 = 200;

/// Counters of a bulk activity; which ones appear depends on the kind of activity.
#[output]
#[derive(Default)]
pub struct ActivityStatus {
    /// Total number of items (contacts, lists, rows) the activity processes.
    pub items_total_count: Option<i64>,
    /// Number of items processed so far.
    pub items_completed_count: Option<i64>,
    /// Number of contacts in an import.
    pub person_count: Option<i64>,
    /// Number of errors that cannot be corrected, for imports.
    pub error_count: Option<i64>,
    /// Number of errors that can be corrected in the Constant Contact UI, for imports.
    pub correctable_count: Option<i64>,
    /// Number of previously unsubscribed contacts that could not be added to a list.
    pub cannot_add_to_list_count: Option<i64>,
    /// Number of lists involved.
    pub list_count: Option<i64>,
}

/// A bulk activity (an asynchronous job) and how far it got.
#[output]
pub struct Activity {
    /// Unique id of the activity; poll it with `bulk.get_activity` or `bulk.wait_for_activity`.
    pub activity_id: String,
    /// `initialized`, `processing`, `completed`, `cancelled`, `failed` or `timed_out`.
    pub state: String,
    /// How much of the job is done, in percent.
    pub percent_done: Option<i64>,
    /// What went wrong, if anything, as the API wrote it.
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub activity_errors: Vec<ActivityError>,
    /// Counters of processed items.
    pub status: Option<ActivityStatus>,
    /// When the activity was created (ISO-8601).
    pub created_at: Option<String>,
    /// When processing started (ISO-8601).
    pub started_at: Option<String>,
    /// When processing finished (ISO-8601).
    pub completed_at: Option<String>,
    /// When the activity last changed (ISO-8601).
    pub updated_at: Option<String>,
}

impl Activity {
    /// Whether the activity reached a state it will not leave.
    pub fn is_final(&self) -> bool {
        FINAL_STATES.contains(&self.state.as_str())
    }
}

/// One error of a bulk activity, kept as the API wrote it: a string for most activities, a
/// `{message}` object for tag deletes.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ActivityError {
    /// The message alone.
    Text(String),
    /// The message and whatever else the API said about the error.
    Detail(ActivityErrorDetail),
}

/// An activity error given as an object.
#[output]
pub struct ActivityErrorDetail {
    /// What went wrong.
    pub message: Option<String>,
}

/// A list the API may send as `null`, read as empty.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// `GET /activities/{activity_id}`.
fn fetch_activity<R: Serialize>(cx: &Context<'_, R>, activity_id: &str) -> Result<Activity> {
    let path = format!("/activities/{}", segment("activity_id", activity_id)?);
    API.call(cx, HttpRequest::get(path))
}

/// The time budget of a wait from the caller's `timeout_secs`.
fn wait_budget(timeout_secs: Option<u64>) -> Result<Duration> {
    let secs = timeout_secs.unwrap_or(DEFAULT_WAIT_SECS);
    if secs > MAX_WAIT_SECS {
        return Err(ConnectorError::InvalidInput {
            message: format!("`timeout_secs` may be at most {MAX_WAIT_SECS}, got {secs}"),
        });
    }
    Ok(Duration::from_secs(secs))
}

/// Polls an activity until it reaches a final state, pausing 1 s, 2 s, 4 s... (at most 30 s)
/// between polls through the host, within `budget` and [`MAX_POLLS`].
///
/// `known` is the activity as a create call returned it: when given, the first poll comes after
/// a pause (the job was just queued) instead of at once.
pub(crate) fn wait_until_final<R: Serialize>(
    cx: &Context<'_, R>,
    activity_id: &str,
    known: Option<Activity>,
    budget: Duration,
) -> Result<Activity> {
    let mut current = known;
    let mut delay = Duration::from_secs(1);
    let mut waited = Duration::ZERO;
    let mut polls = 0u32;
    loop {
        if let Some(activity) = &current {
            if activity.is_final() {
                return Ok(activity.clone());
            }
            let left = budget.saturating_sub(waited);
            if left.is_zero() || polls >= MAX_POLLS {
                let message = format!(
                    "activity {activity_id} is still `{}` ({}% done) after {} s and {polls} polls; \
                     check it later with bulk.get_activity",
                    activity.state,
                    activity.percent_done.unwrap_or(0),
                    waited.as_secs()
                );
                cx.log(LogLevel::Warn, &message);
                return Err(ConnectorError::UnexpectedResponse { message });
            }
            let pause = delay.min(left);
            cx.sleep(pause)?;
            waited += pause;
            delay = (delay * 2).min(MAX_POLL_DELAY);
        }
        polls += 1;
        current = Some(fetch_activity(cx, activity_id)?);
    }
}

/// Input of `bulk.get_activity`.
#[input]
pub struct GetActivityInput {
    /// The activity's id, as a bulk method returned it.
    pub activity_id: String,
}

/// Gets the state, progress and errors of a bulk activity.
#[method(id = "bulk.get_activity", name = "Get Bulk Activity", idempotent)]
pub fn get_activity(cx: &mut Context<'_>, input: GetActivityInput) -> Result<Activity> {
    fetch_activity(cx, &input.activity_id)
}

/// Input of `bulk.wait_for_activity`.
#[input]
pub struct WaitForActivityInput {
    /// The activity's id, as a bulk method returned it.
    pub activity_id: String,
    /// How long to keep polling, in seconds (default 600, at most 3600). Polls pause 1 s, 2 s,
    /// 4 s... up to 30 s apart.
    #[schemars(range(min = 0, max = 3600))]
    pub timeout_secs: Option<u64>,
}

/// Polls a bulk activity politely until it is completed, failed, cancelled or timed out, and
/// returns it; fails with a clear message when the time budget runs out.
#[method(id = "bulk.wait_for_activity", name = "Wait for Bulk Activity", idempotent, cost(polls))]
pub fn wait_for_activity(cx: &mut Context<'_>, input: WaitForActivityInput) -> Result<Activity> {
    let budget = wait_budget(input.timeout_secs)?;
    wait_until_final(cx, &input.activity_id, None, budget)
}

/// Which contacts to add to lists; exactly one kind of source.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddSource {
    /// Up to 500 contacts by id.
    ContactIds(#[schemars(length(min = 1, max = 500))] Vec<String>),
    /// Every member of up to 50 lists.
    ListIds(#[schemars(length(min = 1, max = 50))] Vec<String>),
    /// Every contact with any of these tags.
    TagIds(Vec<String>),
    /// Every contact of one segment.
    SegmentId(i64),
    /// Every active (billable) contact; must be `true`.
    AllActiveContacts(bool),
    /// Every contact at this engagement level.
    EngagementLevel(String),
}

/// Which contacts to remove from lists; exactly one kind of source.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemoveSource {
    /// Up to 500 contacts by id.
    ContactIds(#[schemars(length(min = 1, max = 500))] Vec<String>),
    /// Every member of up to 50 lists.
    ListIds(#[schemars(length(min = 1, max = 50))] Vec<String>),
    /// Every contact with any of these tags.
    TagIds(Vec<String>),
    /// Every active (billable) contact; must be `true`.
    AllActiveContacts(bool),
    /// Every contact at this engagement level.
    EngagementLevel(String),
}

/// Contacts left out of a membership or tagging change.
#[derive(Serialize)]
pub(super) struct Exclude {
    contact_ids: Vec<String>,
}

/// Input of `bulk.add_to_lists`.
#[input]
pub struct AddToListsInput {
    /// The contacts to add, e.g. `{"contact_ids": ["..."]}` or `{"list_ids": ["..."]}`.
    pub source: AddSource,
    /// The lists to add them to (up to 50; a contact can be in at most 50 lists).
    #[schemars(length(min = 1, max = 50))]
    pub list_ids: Vec<String>,
    /// Contacts to leave out; only with an `all_active_contacts` or `list_ids` source.
    #[serde(default)]
    pub exclude_contact_ids: Vec<String>,
}

#[derive(Serialize)]
struct MembershipBody<'a, S> {
    source: &'a S,
    list_ids: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    exclude: Option<Exclude>,
}

/// The `exclude` of a membership change; the API takes it only with a whole population (every
/// active contact, or lists), so with another source it is refused before sending.
pub(super) fn exclude(ids: Vec<String>, whole_population: bool) -> Result<Option<Exclude>> {
    if ids.is_empty() {
        return Ok(None);
    }
    if !whole_population {
        return Err(ConnectorError::InvalidInput {
            message: "`exclude_contact_ids` works only with a `list_ids` or `all_active_contacts` \
                      source"
                .into(),
        });
    }
    Ok(Some(Exclude { contact_ids: ids }))
}

/// Starts a bulk activity adding contacts (by id, list, tag, segment...) to lists.
#[method(id = "bulk.add_to_lists", name = "Add Contacts to Lists")]
pub fn add_to_lists(cx: &mut Context<'_>, input: AddToListsInput) -> Result<Activity> {
    let body = MembershipBody {
        source: &input.source,
        list_ids: &input.list_ids,
        exclude: exclude(
            input.exclude_contact_ids,
            matches!(
                input.source,
                AddSource::ListIds(_) | AddSource::AllActiveContacts(_)
            ),
        )?,
    };
    API.call(
        cx,
        HttpRequest::post("/activities/add_list_memberships").json(&body)?,
    )
}

/// Input of `bulk.remove_from_lists`.
#[input]
pub struct RemoveFromListsInput {
    /// The contacts to remove, e.g. `{"contact_ids": ["..."]}`.
    pub source: RemoveSource,
    /// The lists to remove them from (up to 50).
    #[schemars(length(min = 1, max = 50))]
    pub list_ids: Vec<String>,
    /// Contacts to leave out; only with an `all_active_contacts` or `list_ids` source.
    #[serde(default)]
    pub exclude_contact_ids: Vec<String>,
}

/// Starts a bulk activity removing contacts (by id, list, tag...) from lists.
#[method(id = "bulk.remove_from_lists", name = "Remove Contacts from Lists")]
pub fn remove_from_lists(cx: &mut Context<'_>, input: RemoveFromListsInput) -> Result<Activity> {
    let body = MembershipBody {
        source: &input.source,
        list_ids: &input.list_ids,
        exclude: exclude(
            input.exclude_contact_ids,
            matches!(
                input.source,
                RemoveSource::ListIds(_) | RemoveSource::AllActiveContacts(_)
            ),
        )?,
    };
    API.call(
        cx,
        HttpRequest::post("/activities/remove_list_memberships").json(&body)?,
    )
}

/// Input of `bulk.delete_contacts`: contacts by id, or every member of some lists.
#[input]
pub struct DeleteContactsInput {
    /// Up to 500 contacts to delete by id (not together with `list_ids`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500))]
    pub contact_ids: Vec<String>,
    /// Delete every member of these lists, up to 50 (not together with `contact_ids`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub list_ids: Vec<String>,
}

/// Starts a bulk activity deleting contacts by id or every member of lists.
#[method(id = "bulk.delete_contacts", name = "Delete Contacts in Bulk")]
pub fn delete_contacts(cx: &mut Context<'_>, input: DeleteContactsInput) -> Result<Activity> {
    if input.contact_ids.is_empty() == input.list_ids.is_empty() {
        return Err(ConnectorError::InvalidInput {
            message: "give either `contact_ids` or `list_ids`, not both and not neither".into(),
        });
    }
    API.call(
        cx,
        HttpRequest::post("/activities/contact_delete").json(&input)?,
    )
}
