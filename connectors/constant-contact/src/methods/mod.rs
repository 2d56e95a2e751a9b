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
        .method::<account::get_summary>()
        .method::<account::get_user_privileges>()
        .method::<contacts::list>()
        .method::<contacts::get>()
        .method::<contacts::create>()
        .method::<contacts::update>()
        .method::<contacts::create_or_update>()
        .method::<contacts::delete>()
        .method::<contacts::counts>()
        .method::<contacts::poll_updated>()
        .method::<contact_lists::list>()
        .method::<contact_lists::get>()
        .method::<contact_lists::create>()
        .method::<contact_lists::update>()
        .method::<contact_lists::delete>()
        .method::<tags::list>()
        .method::<tags::create>()
        .method::<tags::update>()
        .method::<tags::delete>()
        .method::<custom_fields::list>()
        .method::<custom_fields::create>()
        .method::<custom_fields::update>()
        .method::<custom_fields::delete>()
        .method::<segments::list>()
        .method::<segments::get>()
        .method::<bulk::import_contacts>()
        .method::<bulk::add_to_lists>()
        .method::<bulk::remove_from_lists>()
        .method::<bulk::delete_contacts>()
        .method::<bulk::get_activity>()
        .method::<bulk::wait_for_activity>()
        .method::<emails::list>()
        .method::<emails::get>()
        .method::<emails::create>()
        .method::<emails::get_activity>()
        .method::<emails::update_activity>()
        .method::<emails::schedule>()
        .method::<emails::summary_report>()
}
