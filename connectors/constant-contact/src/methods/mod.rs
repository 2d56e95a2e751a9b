//! The connector's methods, one module per category.

mod account;
pub(crate) mod bulk;
mod contact_lists;
mod contacts;
mod custom_fields;
mod emails;
mod segments;
mod tags;

use plugboard_core::MethodSet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a delete that answers "204 No Content" returns: which resource is gone.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Deleted {
    /// The id of the deleted resource.
    pub id: String,
}

/// Every method, in the order `plugboard describe` lists them.
pub(crate) fn all() -> MethodSet {
    MethodSet::new()
        .with(account::GetSummary)
        .with(account::GetUserPrivileges)
        .with(contacts::List)
        .with(contacts::Get)
        .with(contacts::Create)
        .with(contacts::Update)
        .with(contacts::CreateOrUpdate)
        .with(contacts::Delete)
        .with(contacts::Counts)
        .with(contacts::PollUpdated)
        .with(contact_lists::List)
        .with(contact_lists::Get)
        .with(contact_lists::Create)
        .with(contact_lists::Update)
        .with(contact_lists::Delete)
        .with(tags::List)
        .with(tags::Create)
        .with(tags::Update)
        .with(tags::Delete)
        .with(custom_fields::List)
        .with(custom_fields::Create)
        .with(custom_fields::Update)
        .with(custom_fields::Delete)
        .with(segments::List)
        .with(segments::Get)
        .with(bulk::ImportContacts)
        .with(bulk::AddToLists)
        .with(bulk::RemoveFromLists)
        .with(bulk::DeleteContacts)
        .with(bulk::GetActivity)
        .with(bulk::WaitForActivity)
        .with(emails::List)
        .with(emails::Get)
        .with(emails::Create)
        .with(emails::GetActivity)
        .with(emails::ScheduleActivity)
        .with(emails::SummaryReport)
}
