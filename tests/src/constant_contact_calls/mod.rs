//! A representative call of every Constant Contact method, with responses shaped like the API's,
//! so that every request a method can make (including follow-up pages) is produced. The spec test
//! checks those requests against the official contract; one file per area of the API, so that
//! adding methods to one area never touches another's calls.

mod campaigns;
mod contacts;
mod reports;

use plugboard_core::HttpResponse;
use serde_json::{Value, json};

/// A method id, its input, and the responses the API would send, in order.
pub type Call = (&'static str, Value, Vec<HttpResponse>);

/// Every representative call, area by area.
pub fn all() -> Vec<Call> {
    let mut calls = contacts::calls();
    calls.extend(campaigns::calls());
    calls.extend(reports::calls());
    calls
}

/// A contact id in the API's format.
pub const CONTACT: &str = "1618ae62-4752-11e9-9c8a-fa163e6b01c1";
/// A contact list id in the API's format.
pub const LIST: &str = "07936f78-662a-11eb-af0a-fa163e56c9b0";
/// A second contact list id in the API's format.
pub const LIST_2: &str = "9f3a8c52-662a-11eb-af0a-fa163e56c9b0";
/// A tag id in the API's format.
pub const TAG: &str = "e7ddac60-51da-11eb-b3a4-fa163e6b01c1";
/// A custom field id in the API's format.
pub const FIELD: &str = "6e7cd1d0-3e2a-11eb-b3a4-fa163e6b01c1";
/// A bulk activity id in the API's format.
pub const ACTIVITY: &str = "04fe9a97-a579-43c5-bb1a-58ed29bf0a6a";
/// A campaign id in the API's format.
pub const CAMPAIGN: &str = "91569d46-00e4-4a4d-9a4c-d17d98740d04";
/// A campaign activity id in the API's format.
pub const CAMPAIGN_ACTIVITY: &str = "8ca7e9c8-7d27-4b2e-9b0a-2b8a4a1c3f10";

/// A contact as the API returns it.
pub fn contact() -> Value {
    json!({
        "contact_id": CONTACT,
        "email_address": {"address": "dlang@example.com", "permission_to_send": "implicit"},
        "first_name": "Debora",
        "last_name": "Lang",
        "create_source": "Account",
        "created_at": "2026-01-23T13:48:44.108Z",
        "updated_at": "2026-02-01T09:00:00Z",
        "list_memberships": [LIST]
    })
}

/// A contact list as the API returns it.
pub fn list() -> Value {
    json!({"list_id": LIST, "name": "Customers", "favorite": true, "membership_count": 12})
}

/// A custom field as the API returns it.
pub fn custom_field() -> Value {
    json!({"custom_field_id": FIELD, "label": "Favorite Fruit", "name": "favorite_fruit",
        "type": "single_select", "choices": [{"choice_id": 1, "choice_label": "Apple"}]})
}

/// An email campaign as the API returns it.
pub fn campaign() -> Value {
    json!({"campaign_id": CAMPAIGN, "name": "Spring sale", "current_status": "Draft",
        "campaign_activities": [{"campaign_activity_id": CAMPAIGN_ACTIVITY, "role": "primary_email"}]})
}

/// A bulk activity in a given state.
pub fn activity(state: &str) -> Value {
    json!({"activity_id": ACTIVITY, "state": state, "percent_done": 50,
        "_links": {"self": {"href": format!("/v3/activities/{ACTIVITY}")}}})
}

/// A "204 No Content" answer.
pub fn no_content() -> HttpResponse {
    HttpResponse {
        status: 204,
        headers: Vec::new(),
        body: String::new(),
    }
}
