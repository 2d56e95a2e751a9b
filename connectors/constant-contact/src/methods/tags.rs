//! Tags: labels on contacts.

use plugboard_core::rest::{Streamed, segment};
use plugboard_core::{Context, HttpRequest, Result, input, method, output};

use super::bulk::Activity;
use crate::api::API;

/// The largest page `GET /contact_tags` serves.
const PAGE_SIZE: u32 = 500;

/// A tag.
#[output]
pub struct Tag {
    /// Unique id of the tag.
    pub tag_id: String,
    /// The tag's name, unique in the account.
    pub name: String,
    /// How many contacts carry the tag, when asked for.
    pub contacts_count: Option<i64>,
    /// Where the tagged contacts came from, as given when the tag was created.
    pub tag_source: Option<String>,
    /// When the tag was created (ISO-8601).
    pub created_at: Option<String>,
    /// When the tag last changed (ISO-8601).
    pub updated_at: Option<String>,
}

/// Input of `tags.list`.
#[input]
#[derive(Default)]
pub struct ListInput {
    /// Include each tag's number of contacts.
    #[serde(default)]
    pub include_count: bool,
}

/// Streams every tag, following the API's pages.
#[method(
    id = "tags.list",
    name = "List Tags",
    idempotent,
    cost(per_page = PAGE_SIZE)
)]
pub fn list(cx: &mut Context<'_, Tag>, input: ListInput) -> Result<Streamed> {
    let first = HttpRequest::get("/contact_tags").query("limit", PAGE_SIZE);
    API.stream(cx, first.query_from(&input)?, "tags")
}

/// Input of `tags.create`.
#[input]
pub struct CreateInput {
    /// The tag's name, unique in the account (1-255 characters).
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Where the tagged contacts come from, e.g. `Shopify` (free text).
    pub tag_source: Option<String>,
}

/// Creates a tag; fails with `already_exists` when the name is taken.
#[method(id = "tags.create", name = "Create Tag")]
pub fn create(cx: &mut Context<'_>, input: CreateInput) -> Result<Tag> {
    let what = format!("a tag named `{}`", input.name);
    API.create(cx, HttpRequest::post("/contact_tags").json(&input)?, &what)
}

/// Input of `tags.update`.
#[input]
pub struct UpdateInput {
    /// The tag's id.
    #[serde(skip_serializing)]
    pub tag_id: String,
    /// The tag's new name (1-255 characters).
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
}

/// Renames a tag; fails with `already_exists` when the new name is taken.
#[method(id = "tags.update", name = "Rename Tag", idempotent)]
pub fn update(cx: &mut Context<'_>, input: UpdateInput) -> Result<Tag> {
    let path = format!("/contact_tags/{}", segment("tag_id", &input.tag_id)?);
    let what = format!("a tag named `{}`", input.name);
    API.create(cx, HttpRequest::put(path).json(&input)?, &what)
}

/// Input of `tags.delete`.
#[input]
pub struct DeleteInput {
    /// The tag's id.
    pub tag_id: String,
}

/// Starts deleting a tag (and un-tagging its contacts) and returns the bulk activity doing it.
///
/// `DELETE /contact_tags/{tag_id}`: the API removes the tag in the background (202).
#[method(id = "tags.delete", name = "Delete Tag", idempotent)]
pub fn delete(cx: &mut Context<'_>, input: DeleteInput) -> Result<Activity> {
    let path = format!("/contact_tags/{}", segment("tag_id", &input.tag_id)?);
    API.call(cx, HttpRequest::delete(path))
}

/// Input of `tags.get`.
#[input]
pub struct GetInput {
    /// The tag's id.
    #[serde(skip_serializing)]
    pub tag_id: String,
    /// Include the number of contacts carrying the tag.
    #[serde(default)]
    pub include_count: bool,
}

/// Gets one tag by id.
#[method(id = "tags.get", name = "Get Tag", idempotent)]
pub fn get(cx: &mut Context<'_>, input: GetInput) -> Result<Tag> {
    let path = format!("/contact_tags/{}", segment("tag_id", &input.tag_id)?);
    API.call(cx, HttpRequest::get(path).query_from(&input)?)
}
