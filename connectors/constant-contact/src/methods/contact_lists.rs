//! Contact lists.

use plugboard_core::{
    ConnectorError, Context, HttpRequest, LogLevel, Method, MethodInfo, MethodKind,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::errors::check;
use crate::pagination::PagingLinks;

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
        let mut request = Some(
            HttpRequest::get("/contact_lists")
                .query("limit", PAGE_SIZE)
                .query_opt("name", input.name)
                .query_opt("status", input.status.map(status_name))
                .query_opt(
                    "include_membership_count",
                    input.include_membership_count.map(count_name),
                ),
        );
        while let Some(next) = request.take() {
            let page: Page = check(cx.send(next)?)?.decode()?;
            cx.log(
                LogLevel::Debug,
                &format!("contact_lists.list: a page of {} lists", page.lists.len()),
            );
            for list in &page.lists {
                cx.emit(list)?;
            }
            request = page.links.next_request()?;
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
