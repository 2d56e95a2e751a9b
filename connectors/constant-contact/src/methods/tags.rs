//! Tags: labels on contacts.

use plugboard_core::{
    ConnectorError, Context, HttpRequest, LogLevel, Method, MethodInfo, MethodKind, NoRecords,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::bulk::Activity;
use crate::errors::{check, check_create};
use crate::pagination::{Pages, PagingLinks};
use crate::paths::segment;

/// The largest page `GET /contact_tags` serves.
const PAGE_SIZE: u32 = 500;

/// A tag.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Tag {
    /// Unique id of the tag.
    pub tag_id: String,
    /// The tag's name, unique in the account.
    pub name: String,
    /// How many contacts carry the tag, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts_count: Option<u64>,
    /// Where the tagged contacts came from, as given when the tag was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_source: Option<String>,
    /// When the tag was created (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When the tag last changed (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// Input of `tags.list`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListInput {
    /// Include each tag's number of contacts.
    #[serde(default)]
    pub include_count: bool,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(default, rename = "_links")]
    links: PagingLinks,
}

/// What `tags.list` returns once every tag has been streamed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ListSummary {
    /// How many tags were streamed.
    pub count: u64,
}

/// `GET /contact_tags`, every page.
pub struct List;

impl Method for List {
    type Input = ListInput;
    type Output = ListSummary;
    type Record = Tag;
    const INFO: MethodInfo = MethodInfo {
        id: "tags.list",
        name: "List Tags",
        category: "Tags",
        description: "Streams every tag, following the API's pages.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, Tag>,
        input: ListInput,
    ) -> Result<ListSummary, ConnectorError> {
        let mut pages = Pages::new(
            HttpRequest::get("/contact_tags")
                .query("limit", PAGE_SIZE)
                .query_opt("include_count", input.include_count.then_some(true)),
        );
        while let Some(request) = pages.next_request() {
            let page: Page = check(cx.send(request)?)?.decode()?;
            cx.log(
                LogLevel::Debug,
                &format!("tags.list: a page of {} tags", page.tags.len()),
            );
            for tag in &page.tags {
                cx.emit(tag)?;
            }
            pages.advance(&page.links)?;
        }
        Ok(ListSummary {
            count: cx.emitted(),
        })
    }
}

/// Input of `tags.create`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInput {
    /// The tag's name, unique in the account (1-255 characters).
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Where the tagged contacts come from, e.g. `Shopify` (free text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_source: Option<String>,
}

/// `POST /contact_tags`.
pub struct Create;

impl Method for Create {
    type Input = CreateInput;
    type Output = Tag;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "tags.create",
        name: "Create Tag",
        category: "Tags",
        description: "Creates a tag; fails with `already_exists` when the name is taken.",
        kind: MethodKind::Action,
        idempotent: false,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: CreateInput,
    ) -> Result<Tag, ConnectorError> {
        let request = HttpRequest::post("/contact_tags").json(&input)?;
        let what = format!("a tag named `{}`", input.name);
        check_create(cx.send(request)?, &what)?.decode()
    }
}

/// Input of `tags.update`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateInput {
    /// The tag's id.
    #[serde(skip_serializing)]
    pub tag_id: String,
    /// The tag's new name (1-255 characters).
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
}

/// `PUT /contact_tags/{tag_id}`.
pub struct Update;

impl Method for Update {
    type Input = UpdateInput;
    type Output = Tag;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "tags.update",
        name: "Rename Tag",
        category: "Tags",
        description: "Renames a tag; fails with `already_exists` when the new name is taken.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: UpdateInput,
    ) -> Result<Tag, ConnectorError> {
        let path = format!("/contact_tags/{}", segment("tag_id", &input.tag_id)?);
        let request = HttpRequest::put(path).json(&input)?;
        let what = format!("a tag named `{}`", input.name);
        check_create(cx.send(request)?, &what)?.decode()
    }
}

/// Input of `tags.delete`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteInput {
    /// The tag's id.
    pub tag_id: String,
}

/// `DELETE /contact_tags/{tag_id}`: the API removes the tag in the background (202).
pub struct Delete;

impl Method for Delete {
    type Input = DeleteInput;
    type Output = Activity;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "tags.delete",
        name: "Delete Tag",
        category: "Tags",
        description: "Starts deleting a tag (and un-tagging its contacts) and returns the bulk \
            activity doing it.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: DeleteInput,
    ) -> Result<Activity, ConnectorError> {
        let path = format!("/contact_tags/{}", segment("tag_id", &input.tag_id)?);
        check(cx.send(HttpRequest::delete(path))?)?.decode()
    }
}
