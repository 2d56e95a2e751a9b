//! The connector's methods, one module per category.

mod account;
mod automations;
pub(crate) mod bulk;
mod contact_lists;
mod contacts;
mod custom_fields;
mod emails;
mod reports;
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
        .category("emails", "Email Campaigns")
        .category("bulk", "Bulk Activities")
        .method::<account::get_summary>()
        .method::<account::get_user_privileges>()
        .method::<account::update_summary>()
        .method::<account::get_physical_address>()
        .method::<account::add_physical_address>()
        .method::<account::update_physical_address>()
        .method::<account::list_emails>()
        .method::<account::add_email>()
        .method::<contacts::list>()
        .method::<contacts::get>()
        .method::<contacts::create>()
        .method::<contacts::update>()
        .method::<contacts::create_or_update>()
        .method::<contacts::delete>()
        .method::<contacts::counts>()
        .method::<contacts::poll_updated>()
        .method::<contacts::resubscribe>()
        .method::<contacts::sms::sms_engagement_history>()
        .method::<contact_lists::list>()
        .method::<contact_lists::get>()
        .method::<contact_lists::create>()
        .method::<contact_lists::update>()
        .method::<contact_lists::delete>()
        .method::<tags::list>()
        .method::<tags::create>()
        .method::<tags::update>()
        .method::<tags::delete>()
        .method::<tags::get>()
        .method::<custom_fields::list>()
        .method::<custom_fields::create>()
        .method::<custom_fields::update>()
        .method::<custom_fields::delete>()
        .method::<custom_fields::get>()
        .method::<segments::list>()
        .method::<segments::get>()
        .method::<segments::create>()
        .method::<segments::update>()
        .method::<segments::rename>()
        .method::<segments::delete>()
        .method::<bulk::import_contacts>()
        .method::<bulk::import_contacts_csv>()
        .method::<bulk::add_to_lists>()
        .method::<bulk::remove_from_lists>()
        .method::<bulk::delete_contacts>()
        .method::<bulk::get_activity>()
        .method::<bulk::wait_for_activity>()
        .method::<bulk::changes::add_tags>()
        .method::<bulk::changes::remove_tags>()
        .method::<bulk::changes::delete_tags>()
        .method::<bulk::changes::delete_lists>()
        .method::<bulk::changes::delete_custom_fields>()
        .method::<bulk::reading::list_activities>()
        .method::<bulk::reading::export_contacts>()
        .method::<bulk::reading::download_export>()
        .method::<emails::list>()
        .method::<emails::get>()
        .method::<emails::create>()
        .method::<emails::get_activity>()
        .method::<emails::update_activity>()
        .method::<emails::schedule>()
        .method::<emails::lifecycle::rename>()
        .method::<emails::lifecycle::delete>()
        .method::<emails::lifecycle::get_schedules>()
        .method::<emails::lifecycle::unschedule>()
        .method::<emails::lifecycle::send_test>()
        .method::<emails::lifecycle::preview>()
        .method::<emails::lifecycle::send_history>()
        .method::<emails::lifecycle::list_resends>()
        .method::<emails::lifecycle::create_resend>()
        .method::<emails::lifecycle::delete_resend>()
        .method::<emails::ab_tests::get_ab_test>()
        .method::<emails::ab_tests::create_ab_test>()
        .method::<emails::ab_tests::delete_ab_test>()
        .method::<automations::list>()
        .method::<automations::get>()
        .method::<automations::create>()
        .method::<automations::update>()
        .method::<reports::email::summary_report>()
        .method::<reports::email::campaign_stats>()
        .method::<reports::email::activity_stats>()
        .method::<reports::email::email_links>()
        .method::<reports::email::email_sends>()
        .method::<reports::email::email_opens>()
        .method::<reports::email::email_unique_opens>()
        .method::<reports::email::email_did_not_opens>()
        .method::<reports::email::email_clicks>()
        .method::<reports::email::email_forwards>()
        .method::<reports::email::email_opt_outs>()
        .method::<reports::email::email_bounces>()
        .method::<reports::contact::contact_activity_details>()
        .method::<reports::contact::contact_activity_summary>()
        .method::<reports::contact::contact_open_and_click_rates>()
        .method::<reports::landing_pages::landing_page_unique_clicks>()
        .method::<reports::landing_pages::landing_page_unique_opens>()
        .method::<reports::landing_pages::landing_page_opens>()
        .method::<reports::landing_pages::landing_page_unique_updates>()
        .method::<reports::landing_pages::landing_page_unique_adds>()
        .method::<reports::landing_pages::landing_page_unique_sms_opt_ins>()
        .method::<reports::sms::sms_campaign_summaries>()
}
