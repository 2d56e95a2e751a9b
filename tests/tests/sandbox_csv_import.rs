//! The sandbox's CSV file import (`POST /activities/contacts_file_import`) over real HTTP on
//! 127.0.0.1, with real multipart forms: rows become contacts on the lists (custom fields and SMS
//! numbers included) and failed rows are reported by line; what the service refuses is refused
//! with its status; lines past the 40,000th are not processed, as the spec says. Every answer is
//! validated against the official spec's response definition.

mod sandbox_api;

use std::time::Duration;

use plugboard_tests::openapi::response_problems;
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use sandbox_api::{Api, Reply, num_of, spec, start, str_of};
use serde_json::Value;

const PATH: &str = "/v3/activities/contacts_file_import";

/// A form with the CSV `text` as the file `name`, the lists and an SMS permission.
fn form(name: &str, text: String, list_ids: Option<&str>, sms: Option<&str>) -> Form {
    let file = Part::text(text)
        .file_name(name.to_owned())
        .mime_str("text/csv")
        .expect("a MIME type");
    let mut form = Form::new().part("file", file);
    if let Some(ids) = list_ids {
        form = form.text("list_ids", ids.to_owned());
    }
    if let Some(permission) = sms {
        form = form.text("sms_permission_to_send", permission.to_owned());
    }
    form
}

/// Uploads the form, asserts the status and that the answer is one the spec defines.
async fn upload(api: &Api, form: Form, expected: u16) -> Value {
    let reply: Reply = api.send_form(PATH, form).await;
    assert_eq!(reply.status.as_u16(), expected, "{}", reply.text);
    let problems = response_problems(spec(), "POST", PATH, expected, &reply.json);
    assert!(problems.is_empty(), "{problems:?}");
    reply.json
}

/// Reads an activity until it is completed (bounded).
async fn completed(api: &Api, activity: &Value) -> Value {
    let path = str_of(activity, "/_links/self/href").to_owned();
    for _ in 0..100 {
        let read = api.send(Method::GET, &path, None).await.json;
        if read["state"] == "completed" {
            return read;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} did not complete");
}

#[tokio::test]
async fn a_csv_file_becomes_contacts_on_the_lists_and_bad_rows_are_reported_by_line() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let lists = api.send(Method::GET, "/v3/contact_lists", None).await.json;
    let (first, second) = (
        str_of(&lists, "/lists/0/list_id").to_owned(),
        str_of(&lists, "/lists/1/list_id").to_owned(),
    );
    let fields = api
        .send(Method::GET, "/v3/contact_custom_fields", None)
        .await
        .json;
    let field_name = str_of(&fields, "/custom_fields/0/name").to_owned();
    let before = sandbox.contact_count();

    // Row 3 has neither an email nor an SMS number.
    let csv = format!(
        "email,first_name,company_name,cf:{field_name},sms_number,sms_consent_date\r\n\
         csv.one@example.com,Ada,\"Engines, Ltd\",blue,,\r\n\
         ,,,,5555550123,2026-01-02\r\n\
         ,Nobody,,,,\r\n"
    );
    let ids = format!("{first},{second}");
    let activity = upload(
        &api,
        form("contacts.csv", csv, Some(&ids), Some("explicit")),
        201,
    )
    .await;
    let done = completed(&api, &activity).await;
    assert_eq!(num_of(&done, "/status/person_count"), 2, "{done}");
    assert_eq!(num_of(&done, "/status/error_count"), 1, "{done}");
    let errors = done["activity_errors"].to_string();
    assert!(errors.contains("line 3"), "{errors}");
    assert_eq!(sandbox.contact_count(), before + 2);

    let found = api
        .send(
            Method::GET,
            "/v3/contacts?email=csv.one@example.com&include=list_memberships,custom_fields",
            None,
        )
        .await
        .json;
    let contact = &found["contacts"][0];
    assert_eq!(contact["first_name"], "Ada");
    assert_eq!(contact["company_name"], "Engines, Ltd");
    assert_eq!(
        contact["list_memberships"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(contact["custom_fields"][0]["value"], "blue", "{contact}");
    sandbox.stop().await;
}

#[tokio::test]
async fn what_the_service_refuses_is_refused_and_lines_past_the_limit_are_not_processed() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let lists = api.send(Method::GET, "/v3/contact_lists", None).await.json;
    let list = str_of(&lists, "/lists/0/list_id").to_owned();
    let one = || "email\r\na@example.com\r\n".to_owned();
    let before = sandbox.contact_count();

    // A JSON body where a form belongs, a file that is not a CSV: 415.
    let json = api
        .send(
            Method::POST,
            PATH,
            Some(&serde_json::json!({"list_ids": [list]})),
        )
        .await;
    assert_eq!(json.status.as_u16(), 415, "{}", json.text);
    upload(&api, form("contacts.xlsx", one(), Some(&list), None), 415).await;
    // No lists, an unknown list, a permission the operation does not take, no address column.
    upload(&api, form("contacts.csv", one(), None, None), 400).await;
    upload(
        &api,
        form("contacts.csv", one(), Some("no-such-list"), None),
        400,
    )
    .await;
    upload(
        &api,
        form("contacts.csv", one(), Some(&list), Some("unsubscribed")),
        400,
    )
    .await;
    let nameless = "first_name\r\nAda\r\n".to_owned();
    upload(&api, form("contacts.csv", nameless, Some(&list), None), 400).await;
    assert_eq!(
        sandbox.contact_count(),
        before,
        "nothing refused was imported"
    );

    // 40,001 data lines: the 40,000 lines the spec allows (header included) are imported.
    let mut csv = String::from("email\r\n");
    for n in 0..40_001 {
        csv.push_str(&format!("limit{n}@example.com\r\n"));
    }
    let activity = upload(&api, form("big.csv", csv, Some(&list), None), 201).await;
    let done = completed(&api, &activity).await;
    assert_eq!(num_of(&done, "/status/person_count"), 39_999, "{done}");
    assert_eq!(sandbox.contact_count(), before + 39_999);
    sandbox.stop().await;
}
