//! Contact lists.

use plugboard_core::rest::{Streamed, segment};
use plugboard_core::{Context, HttpRequest, Result, choice, input, method, output};
use serde::Deserialize;

use super::bulk::Activity;
use crate::api::API;

/// The largest page the API serves for `GET /contact_lists` (its text says 1-500).
const PAGE_SIZE: u32 = 500;

/// Which lists to return by status.
#[choice]
pub enum ListStatus {
    /// Active and deleted lists.
    All,
    /// Lists in use.
    Active,
    /// Deleted lists.
    Deleted,
}

/// Which contacts to count per list.
#[choice]
pub enum MembershipCount {
    /// Every member.
    All,
    /// Members that can be emailed.
    Active,
}

/// Which channel's lists to return.
#[choice]
pub enum ListChannel {
    /// Email lists (the API's default).
    Email,
    /// SMS lists.
    Sms,
}

/// Input of `contact_lists.list`.
#[input]
#[derive(Default)]
pub struct ListInput {
    /// Only the list with exactly this name.
    pub name: Option<String>,
    /// Lists with this status (the API's default is active lists).
    pub status: Option<ListStatus>,
    /// Include each list's number of members.
    pub include_membership_count: Option<MembershipCount>,
    /// Email lists (the default) or SMS lists.
    pub channel_type: Option<ListChannel>,
    /// With SMS lists, include each list's number of SMS members.
    pub include_sms_membership_count: Option<bool>,
}

/// A contact list.
#[output]
pub struct ContactList {
    /// Unique id of the list.
    pub list_id: String,
    /// The list's name.
    pub name: String,
    /// Text describing the list.
    pub description: Option<String>,
    /// Whether the account marked the list as a favorite.
    #[serde(default)]
    pub favorite: bool,
    /// When the list was created (ISO-8601).
    pub created_at: Option<String>,
    /// When the list last changed (ISO-8601).
    pub updated_at: Option<String>,
    /// When the list was deleted, for deleted lists (ISO-8601).
    pub deleted_at: Option<String>,
    /// Number of members, when asked for.
    pub membership_count: Option<i64>,
}

/// Streams every contact list, following the API's pages.
#[method(
    id = "contact_lists.list",
    name = "List Contact Lists",
    idempotent,
    cost(per_page = PAGE_SIZE)
)]
pub fn list(cx: &mut Context<'_, ContactList>, input: ListInput) -> Result<Streamed> {
    let first = HttpRequest::get("/contact_lists").query("limit", PAGE_SIZE);
    API.stream(cx, first.query_from(&input)?, "lists")
}

fn list_path(list_id: &str) -> Result<String> {
    Ok(format!("/contact_lists/{}", segment("list_id", list_id)?))
}

/// Input of `contact_lists.get`.
#[input]
pub struct GetInput {
    /// The list's id.
    #[serde(skip_serializing)]
    pub list_id: String,
    /// Include the list's number of members.
    pub include_membership_count: Option<MembershipCount>,
}

/// Gets one contact list by id, optionally with its number of members.
#[method(id = "contact_lists.get", name = "Get Contact List", idempotent)]
pub fn get(cx: &mut Context<'_>, input: GetInput) -> Result<ContactList> {
    let request = HttpRequest::get(list_path(&input.list_id)?).query_from(&input)?;
    API.call(cx, request)
}

/// Input of `contact_lists.create`.
#[input]
pub struct CreateInput {
    /// The list's name, unique in the account (up to 255 characters).
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Mark the list as a favorite.
    #[serde(default)]
    pub favorite: bool,
    /// Text describing the list.
    pub description: Option<String>,
}

/// Creates a contact list; fails with `already_exists` when the name is taken.
#[method(id = "contact_lists.create", name = "Create Contact List", find_effect = find_by_name)]
pub fn create(cx: &mut Context<'_>, input: CreateInput) -> Result<ContactList> {
    let what = format!("a contact list named `{}`", input.name);
    API.create(cx, HttpRequest::post("/contact_lists").json(&input)?, &what)
}

/// List names are unique in an account: a list of this name is there because of the lost call
/// (or was before it, when the call would have failed as `already_exists`).
fn find_by_name(cx: &mut Context<'_>, input: &CreateInput) -> Result<Option<ContactList>> {
    /// The one page a name lookup reads.
    #[derive(Deserialize)]
    struct Page {
        #[serde(default)]
        lists: Vec<ContactList>,
    }
    let request = HttpRequest::get("/contact_lists").query("name", &input.name);
    let page: Page = API.call(cx, request)?;
    Ok(page
        .lists
        .into_iter()
        .find(|list| list.name.eq_ignore_ascii_case(&input.name)))
}

/// Input of `contact_lists.update`: the whole list, as it should be afterwards.
#[input]
pub struct UpdateInput {
    /// The list's id.
    #[serde(skip_serializing)]
    pub list_id: String,
    /// The list's name (up to 255 characters).
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Whether the list is a favorite (left out: not a favorite).
    #[serde(default)]
    pub favorite: bool,
    /// Text describing the list (left out: cleared).
    pub description: Option<String>,
}

/// Replaces a contact list's name, favorite flag and description (PUT).
#[method(id = "contact_lists.update", name = "Update Contact List", idempotent)]
pub fn update(cx: &mut Context<'_>, input: UpdateInput) -> Result<ContactList> {
    API.call(
        cx,
        HttpRequest::put(list_path(&input.list_id)?).json(&input)?,
    )
}

/// Input of `contact_lists.delete`.
#[input]
pub struct DeleteInput {
    /// The list's id.
    pub list_id: String,
}

/// Starts deleting a contact list (its contacts stay) and returns the bulk activity doing it.
///
/// The API deletes lists in the background (202).
#[method(id = "contact_lists.delete", name = "Delete Contact List", idempotent)]
pub fn delete(cx: &mut Context<'_>, input: DeleteInput) -> Result<Activity> {
    API.call(cx, HttpRequest::delete(list_path(&input.list_id)?))
}
