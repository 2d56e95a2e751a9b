//! Bulk activities that change many contacts, tags, lists or custom fields at once: tagging and
//! untagging contacts, and deleting tags, lists and custom fields in bulk.

use plugboard_core::{Context, HttpRequest, Result, input, method};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Activity, Exclude, exclude};
use crate::api::API;

/// Which contacts to tag or untag; exactly one kind of source.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaggingSource {
    /// Up to 500 contacts by id.
    ContactIds(#[schemars(length(min = 1, max = 500))] Vec<String>),
    /// Every member of up to 50 lists.
    ListIds(#[schemars(length(min = 1, max = 50))] Vec<String>),
    /// Every contact with any of up to 50 tags.
    TagIds(#[schemars(length(min = 1, max = 50))] Vec<String>),
    /// Every active (billable) contact; must be `true`.
    AllActiveContacts(bool),
    /// Every contact added in the last 30 days; must be `true`.
    NewSubscriber(bool),
}

impl TaggingSource {
    /// Whether the API takes `exclude` with this source (only with whole populations).
    fn takes_exclude(&self) -> bool {
        matches!(self, Self::ListIds(_) | Self::AllActiveContacts(_))
    }
}

/// Input of `bulk.add_tags` and `bulk.remove_tags`.
#[input]
pub struct TaggingInput {
    /// The contacts, e.g. `{"contact_ids": ["..."]}` or `{"list_ids": ["..."]}`.
    pub source: TaggingSource,
    /// The tags to add or remove (1 to 50).
    #[schemars(length(min = 1, max = 50))]
    pub tag_ids: Vec<String>,
    /// Contacts to leave out; only with a `list_ids` or `all_active_contacts` source.
    #[serde(default)]
    pub exclude_contact_ids: Vec<String>,
}

#[derive(Serialize)]
struct TaggingBody<'a> {
    source: &'a TaggingSource,
    tag_ids: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    exclude: Option<Exclude>,
}

impl TaggingInput {
    /// The request body, or an invalid input when `exclude` goes with a source the API refuses.
    fn body(&self) -> Result<TaggingBody<'_>> {
        Ok(TaggingBody {
            source: &self.source,
            tag_ids: &self.tag_ids,
            exclude: exclude(
                self.exclude_contact_ids.clone(),
                self.source.takes_exclude(),
            )?,
        })
    }
}

/// Starts a bulk activity adding tags to contacts.
#[method(id = "bulk.add_tags", name = "Tag Contacts")]
pub fn add_tags(cx: &mut Context<'_>, input: TaggingInput) -> Result<Activity> {
    let request = HttpRequest::post("/activities/contacts_taggings_add").json(&input.body()?)?;
    API.call(cx, request)
}

/// Starts a bulk activity removing tags from contacts.
#[method(id = "bulk.remove_tags", name = "Untag Contacts")]
pub fn remove_tags(cx: &mut Context<'_>, input: TaggingInput) -> Result<Activity> {
    let request = HttpRequest::post("/activities/contacts_taggings_remove").json(&input.body()?)?;
    API.call(cx, request)
}

/// Input of `bulk.delete_tags`.
#[input]
pub struct DeleteTagsInput {
    /// The tags to delete (1 to 500); their contacts stay, untagged.
    #[schemars(length(min = 1, max = 500))]
    pub tag_ids: Vec<String>,
}

/// Starts a bulk activity deleting tags.
#[method(id = "bulk.delete_tags", name = "Delete Tags in Bulk")]
pub fn delete_tags(cx: &mut Context<'_>, input: DeleteTagsInput) -> Result<Activity> {
    API.call(
        cx,
        HttpRequest::post("/activities/contacts_tags_delete").json(&input)?,
    )
}

/// Input of `bulk.delete_lists`.
#[input]
pub struct DeleteListsInput {
    /// The lists to delete (1 to 100); their contacts stay.
    #[schemars(length(min = 1, max = 100))]
    pub list_ids: Vec<String>,
}

/// Starts a bulk activity deleting contact lists.
#[method(id = "bulk.delete_lists", name = "Delete Lists in Bulk")]
pub fn delete_lists(cx: &mut Context<'_>, input: DeleteListsInput) -> Result<Activity> {
    API.call(
        cx,
        HttpRequest::post("/activities/list_delete").json(&input)?,
    )
}

/// Input of `bulk.delete_custom_fields`.
#[input]
pub struct DeleteCustomFieldsInput {
    /// The custom fields to delete (1 to 100), with their values on every contact.
    #[schemars(length(min = 1, max = 100))]
    pub custom_field_ids: Vec<String>,
}

/// Starts a bulk activity deleting custom fields.
#[method(id = "bulk.delete_custom_fields", name = "Delete Custom Fields in Bulk")]
pub fn delete_custom_fields(
    cx: &mut Context<'_>,
    input: DeleteCustomFieldsInput,
) -> Result<Activity> {
    API.call(
        cx,
        HttpRequest::post("/activities/custom_fields_delete").json(&input)?,
    )
}
