//! Contact lists.

use plugboard_core::{
    ConnectorError, Context, HttpRequest, LogLevel, Method, MethodInfo, MethodKind, NoRecords,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::bulk::Activity;
use crate::errors::{check, check_create};
use crate::pagination::{Pages, PagingLinks};
use crate::paths::segment;

/// The largest page the API serves for `GET /contact_lists` (its text says 1-500).
const PAGE_SIZE: u32 = 500;

/// Which lists to return by status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListStatus {
    /// Active and deleted lists.
    All,
    /// Lists in use.
    Active,
    /// Deleted lists.
    Deleted,
}

/// Which contacts to count per list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MembershipCount {
    /// Every member.
    All,
    /// Members that can be emailed.
    Active,
}

/// Input of `contact_lists.list`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListInput {
    /// Only the list with exactly this name.
    #[serde(default)]
    pub name: Option<String>,
    /// Lists with this status (the API's default is active lists).
    #[serde(default)]
    pub status: Option<ListStatus>,
    /// Include each list's number of members.
    #[serde(default)]
    pub include_membership_count: Option<MembershipCount>,
}

/// A contact list.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ContactList {
    /// Unique id of the list.
    pub list_id: String,
    /// The list's name.
    pub name: String,
    /// Text describing the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the account marked the list as a favorite.
    #[serde(default)]
    pub favorite: bool,
    /// When the list was created (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When the list last changed (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// When the list was deleted, for deleted lists (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// Number of members, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership_count: Option<u64>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    lists: Vec<ContactList>,
    #[serde(default, rename = "_links")]
    links: PagingLinks,
}

/// What `contact_lists.list` returns once every list has been streamed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ListSummary {
    /// How many lists were streamed.
    pub count: u64,
}

/// `GET /contact_lists`, every page.
pub struct List;

impl Method for List {
    type Input = ListInput;
    type Output = ListSummary;
    type Record = ContactList;
    const INFO: MethodInfo = MethodInfo {
        id: "contact_lists.list",
        name: "List Contact Lists",
        category: "Contact Lists",
        description: "Streams every contact list, following the API's pages.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, ContactList>,
        input: ListInput,
    ) -> Result<ListSummary, ConnectorError> {
        let mut pages = Pages::new(
            HttpRequest::get("/contact_lists")
                .query("limit", PAGE_SIZE)
                .query_opt("name", input.name)
                .query_opt("status", input.status.map(status_name))
                .query_opt(
                    "include_membership_count",
                    input.include_membership_count.map(count_name),
                ),
        );
        while let Some(next) = pages.next_request() {
            let page: Page = check(cx.send(next)?)?.decode()?;
            cx.log(
                LogLevel::Debug,
                &format!("contact_lists.list: a page of {} lists", page.lists.len()),
            );
            for list in &page.lists {
                cx.emit(list)?;
            }
            pages.advance(&page.links)?;
        }
        Ok(ListSummary {
            count: cx.emitted(),
        })
    }
}

fn status_name(status: ListStatus) -> &'static str {
    match status {
        ListStatus::All => "all",
        ListStatus::Active => "active",
        ListStatus::Deleted => "deleted",
    }
}

fn count_name(count: MembershipCount) -> &'static str {
    match count {
        MembershipCount::All => "all",
        MembershipCount::Active => "active",
    }
}

fn list_path(list_id: &str) -> Result<String, ConnectorError> {
    Ok(format!("/contact_lists/{}", segment("list_id", list_id)?))
}

/// Input of `contact_lists.get`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetInput {
    /// The list's id.
    pub list_id: String,
    /// Include the list's number of members.
    #[serde(default)]
    pub include_membership_count: Option<MembershipCount>,
}

/// `GET /contact_lists/{list_id}`.
pub struct Get;

impl Method for Get {
    type Input = GetInput;
    type Output = ContactList;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "contact_lists.get",
        name: "Get Contact List",
        category: "Contact Lists",
        description: "Gets one contact list by id, optionally with its number of members.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: GetInput,
    ) -> Result<ContactList, ConnectorError> {
        let request = HttpRequest::get(list_path(&input.list_id)?).query_opt(
            "include_membership_count",
            input.include_membership_count.map(count_name),
        );
        check(cx.send(request)?)?.decode()
    }
}

/// Input of `contact_lists.create`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInput {
    /// The list's name, unique in the account (up to 255 characters).
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Mark the list as a favorite.
    #[serde(default)]
    pub favorite: bool,
    /// Text describing the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `POST /contact_lists`.
pub struct Create;

impl Method for Create {
    type Input = CreateInput;
    type Output = ContactList;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "contact_lists.create",
        name: "Create Contact List",
        category: "Contact Lists",
        description: "Creates a contact list; fails with `already_exists` when the name is taken.",
        kind: MethodKind::Action,
        idempotent: false,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: CreateInput,
    ) -> Result<ContactList, ConnectorError> {
        let request = HttpRequest::post("/contact_lists").json(&input)?;
        let what = format!("a contact list named `{}`", input.name);
        check_create(cx.send(request)?, &what)?.decode()
    }

    const FINDS_EFFECT: bool = true;

    /// List names are unique in an account: a list of this name is there because of the lost
    /// call (or was before it, when the call would have failed as `already_exists`).
    fn find_effect(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: &CreateInput,
    ) -> Result<Option<ContactList>, ConnectorError> {
        let request = HttpRequest::get("/contact_lists").query("name", &input.name);
        let page: Page = check(cx.send(request)?)?.decode()?;
        Ok(page
            .lists
            .into_iter()
            .find(|list| list.name.eq_ignore_ascii_case(&input.name)))
    }
}

/// Input of `contact_lists.update`: the whole list, as it should be afterwards.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `PUT /contact_lists/{list_id}`.
pub struct Update;

impl Method for Update {
    type Input = UpdateInput;
    type Output = ContactList;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "contact_lists.update",
        name: "Update Contact List",
        category: "Contact Lists",
        description: "Replaces a contact list's name, favorite flag and description (PUT).",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: UpdateInput,
    ) -> Result<ContactList, ConnectorError> {
        let request = HttpRequest::put(list_path(&input.list_id)?).json(&input)?;
        check(cx.send(request)?)?.decode()
    }
}

/// Input of `contact_lists.delete`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteInput {
    /// The list's id.
    pub list_id: String,
}

/// `DELETE /contact_lists/{list_id}`: the API deletes lists in the background (202).
pub struct Delete;

impl Method for Delete {
    type Input = DeleteInput;
    type Output = Activity;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "contact_lists.delete",
        name: "Delete Contact List",
        category: "Contact Lists",
        description: "Starts deleting a contact list (its contacts stay) and returns the bulk \
            activity doing it.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: DeleteInput,
    ) -> Result<Activity, ConnectorError> {
        let request = HttpRequest::delete(list_path(&input.list_id)?);
        check(cx.send(request)?)?.decode()
    }
}
