//! Every request the Constant Contact connector produces, checked against Constant Contact's own
//! contract (`shared/reference/constant-contact/openapi.yaml`, Swagger 2.0, read at test time):
//! the path and verb exist, every query parameter is declared, and JSON bodies validate against
//! the operation's body schema. The spec's `maxItems: 0` means "unspecified" and is ignored.
//! What each call returns and streams is checked against the method's own declared schemas.

use plugboard_core::{Connector, DefinedConnector, HttpRequest, HttpResponse, Invocation};
use plugboard_tests::ScriptedHost;
use plugboard_tests::openapi::{conformance_problems, load_spec, matching_template};
use serde_json::{Map, Value, json};

/// A representative call of every method, with responses shaped like the API's, so that every
/// request a method can make (including follow-up pages) is produced.
fn representative_calls() -> Vec<(&'static str, Value, Vec<HttpResponse>)> {
    vec![
        (
            "account.get_summary",
            json!({"extra_fields": ["physical_address", "company_logo"]}),
            vec![HttpResponse::json(
                200,
                &json!({"organization_name": "Acme"}),
            )],
        ),
        (
            "account.get_user_privileges",
            json!({}),
            vec![HttpResponse::json(
                200,
                &json!([{"privilege_id": 30, "privilege_name": "campaign:create"}]),
            )],
        ),
        (
            "contact_lists.list",
            json!({"name": "Customers", "status": "all", "include_membership_count": "active"}),
            vec![
                HttpResponse::json(
                    200,
                    &json!({
                        "lists": [{"list_id": "l-1", "name": "Customers"}],
                        "_links": {"next": {"href": "/v3/contact_lists?cursor=bGltaXQ9NTAw"}}
                    }),
                ),
                HttpResponse::json(200, &json!({"lists": []})),
            ],
        ),
        (
            "contacts.list",
            json!({
                "status": ["active", "unsubscribed"],
                "email": "dlang@example.com",
                "lists": [LIST, LIST_2],
                // `segment_id` goes alone (see `a_segment_request_conforms_on_its_own`).
                "tags": [TAG],
                "updated_after": "2026-01-01T00:00:00.000Z",
                "updated_before": "2026-07-01T00:00:00.000Z",
                "created_after": "2025-01-01T00:00:00.000Z",
                "created_before": "2026-07-01T00:00:00.000Z",
                "optout_after": "2025-01-01T00:00:00.000Z",
                "optout_before": "2026-07-01T00:00:00.000Z",
                "sms_status": ["explicit"],
                "include": ["custom_fields", "list_memberships", "taggings"],
                "include_count": true
            }),
            vec![
                HttpResponse::json(202, &json!({"status": "processing"})),
                HttpResponse::json(
                    200,
                    &json!({
                        "contacts": [contact()],
                        "contacts_count": 2,
                        "_links": {"next": {"href": "/v3/contacts?cursor=bGltaXQ9NTAw"}}
                    }),
                ),
                HttpResponse::json(200, &json!({"contacts": [contact()]})),
            ],
        ),
        (
            "contacts.get",
            json!({"contact_id": CONTACT, "include": ["phone_numbers", "street_addresses", "notes"]}),
            vec![HttpResponse::json(200, &contact())],
        ),
        (
            "contacts.create",
            json!({
                "create_source": "Account",
                "email_address": {"address": "dlang@example.com", "permission_to_send": "implicit"},
                "first_name": "Debora",
                "last_name": "Lang",
                "job_title": "Musician",
                "company_name": "Acme Corp.",
                "birthday_month": 11,
                "birthday_day": 24,
                "anniversary": "2006-11-15",
                "custom_fields": [{"custom_field_id": FIELD, "value": "Tesla S 2017"}],
                "phone_numbers": [{"phone_number": "+1-555-555-5555", "kind": "mobile"}],
                "street_addresses": [{"kind": "home", "street": "123 Kashmir Valley Road",
                    "city": "Chicago", "state": "Illinois", "postal_code": "60609",
                    "country": "United States"}],
                "list_memberships": [LIST],
                "taggings": [TAG],
                "notes": [{"content": "Met at the fair."}]
            }),
            vec![HttpResponse::json(201, &contact())],
        ),
        (
            "contacts.update",
            json!({
                "contact_id": CONTACT,
                "update_source": "Contact",
                "email_address": {"address": "dlang@example.com", "permission_to_send": "explicit"},
                "first_name": "Debora",
                "last_name": "Lang-Smith",
                "list_memberships": [LIST, LIST_2]
            }),
            vec![HttpResponse::json(200, &contact())],
        ),
        (
            "contacts.create_or_update",
            json!({
                "email_address": "jdodge@example.com",
                "list_memberships": [LIST],
                "first_name": "Jake",
                "last_name": "Dodge",
                "job_title": "Musician",
                "company_name": "Acme Corp.",
                "phone_number": "(555) 555-1212",
                "anniversary": "2006-11-15",
                "birthday_month": 11,
                "birthday_day": 24,
                "street_address": {"kind": "work", "street": "1601 Trapelo Rd", "city": "Waltham",
                    "state": "Massachusetts", "postal_code": "02451", "country": "United States"},
                "custom_fields": [{"custom_field_id": FIELD, "value": "Tesla S 2017"}]
            }),
            vec![HttpResponse::json(
                201,
                &json!({"contact_id": CONTACT, "action": "created"}),
            )],
        ),
        (
            "contacts.delete",
            json!({"contact_id": CONTACT}),
            vec![no_content()],
        ),
        (
            "contacts.counts",
            json!({"include_new_subscriber": true}),
            vec![HttpResponse::json(
                200,
                &json!({"total": 72, "explicit": 10, "implicit": 20, "pending": 30,
                    "unsubscribed": 12, "new_subscriber": 1}),
            )],
        ),
        (
            "contacts.poll_updated",
            json!({"cursor": "2026-01-01T00:00:00.000Z", "include": ["list_memberships"]}),
            vec![
                // Several pages of changes: the first page fixes the bound...
                HttpResponse::json(
                    200,
                    &json!({
                        "contacts": [contact()],
                        "_links": {"next": {"href": "/v3/contacts?cursor=bGltaXQ9NTAw"}}
                    }),
                ),
                // ...the bounded walk reads up to it, page by page...
                HttpResponse::json(
                    200,
                    &json!({
                        "contacts": [contact()],
                        "_links": {"next": {"href": "/v3/contacts?cursor=Ym91bmRlZA"}}
                    }),
                ),
                HttpResponse::json(200, &json!({"contacts": []})),
                // ...and the next round finds one page of later changes.
                HttpResponse::json(200, &json!({"contacts": []})),
            ],
        ),
        (
            "contact_lists.get",
            json!({"list_id": LIST, "include_membership_count": "all"}),
            vec![HttpResponse::json(200, &list())],
        ),
        (
            "contact_lists.create",
            json!({"name": "Customers", "favorite": true, "description": "Who bought"}),
            vec![HttpResponse::json(201, &list())],
        ),
        (
            "contact_lists.update",
            json!({"list_id": LIST, "name": "Customers 2026", "description": "Who bought"}),
            vec![HttpResponse::json(200, &list())],
        ),
        (
            "contact_lists.delete",
            json!({"list_id": LIST}),
            vec![HttpResponse::json(202, &activity("initialized"))],
        ),
        (
            "tags.list",
            json!({"include_count": true}),
            vec![
                HttpResponse::json(
                    200,
                    &json!({
                        "tags": [{"tag_id": TAG, "name": "VIP", "contacts_count": 3}],
                        "_links": {"next": {"href": "/v3/contact_tags?cursor=dGFncz01MDA="}}
                    }),
                ),
                HttpResponse::json(200, &json!({"tags": []})),
            ],
        ),
        (
            "tags.create",
            json!({"name": "VIP", "tag_source": "Shopify"}),
            vec![HttpResponse::json(
                201,
                &json!({"tag_id": TAG, "name": "VIP"}),
            )],
        ),
        (
            "tags.update",
            json!({"tag_id": TAG, "name": "Very VIP"}),
            vec![HttpResponse::json(
                200,
                &json!({"tag_id": TAG, "name": "Very VIP"}),
            )],
        ),
        (
            "tags.delete",
            json!({"tag_id": TAG}),
            vec![HttpResponse::json(
                202,
                &json!({"activity_id": ACTIVITY, "state": "initialized",
                    "activity_errors": [{"message": "none yet"}]}),
            )],
        ),
        (
            "custom_fields.list",
            json!({}),
            vec![
                HttpResponse::json(
                    200,
                    &json!({
                        "custom_fields": [custom_field()],
                        "_links": {"next": {"href": "/v3/contact_custom_fields?cursor=Y2Y9MTAw"}}
                    }),
                ),
                HttpResponse::json(200, &json!({"custom_fields": []})),
            ],
        ),
        (
            "custom_fields.create",
            json!({
                "label": "Favorite Fruit",
                "type": "single_select",
                "metadata": {"display_type": "radio"},
                "choices": [{"choice_label": "Apple", "display_order": 1},
                    {"choice_label": "Pear", "display_order": 2}]
            }),
            vec![HttpResponse::json(201, &custom_field())],
        ),
        (
            "custom_fields.update",
            json!({
                "custom_field_id": FIELD,
                "label": "Favourite Fruit",
                "choices": [{"choice_id": 1, "choice_label": "Apple", "display_order": 1},
                    {"choice_label": "Plum", "display_order": 3}]
            }),
            vec![HttpResponse::json(200, &custom_field())],
        ),
        (
            "custom_fields.delete",
            json!({"custom_field_id": FIELD}),
            vec![no_content()],
        ),
        (
            "segments.list",
            json!({"sort_by": "name"}),
            vec![
                HttpResponse::json(
                    200,
                    &json!({
                        "segments": [{"segment_id": 14, "name": "Engaged"}],
                        "_links": {"next": {"href": "/v3/segments?cursor=c2VnPTEwMDA="}}
                    }),
                ),
                HttpResponse::json(
                    200,
                    &json!({"segments": [], "_links": {"next": {"href": null}}}),
                ),
            ],
        ),
        (
            "segments.get",
            json!({"segment_id": 14}),
            vec![HttpResponse::json(
                200,
                &json!({"segment_id": 14, "name": "Engaged", "segment_criteria": "{}"}),
            )],
        ),
        (
            "bulk.import_contacts",
            json!({
                "contacts": [
                    {"email": "a@example.com", "first_name": "Ann", "phone": "555-0100",
                        "street": "1 Main St", "city": "Waltham", "zip": "02451",
                        "custom_fields": {"favorite_fruit": "Apple"}},
                    {"email": "b@example.com", "work_city": "Boston", "birthday_month": 2,
                        "birthday_day": 3}
                ],
                "list_ids": [LIST],
                "wait": true
            }),
            vec![
                HttpResponse::json(201, &activity("initialized")),
                HttpResponse::json(200, &activity("processing")),
                HttpResponse::json(200, &activity("completed")),
            ],
        ),
        (
            "bulk.add_to_lists",
            json!({"source": {"list_ids": [LIST]}, "list_ids": [LIST_2],
                "exclude_contact_ids": [CONTACT]}),
            vec![HttpResponse::json(201, &activity("initialized"))],
        ),
        (
            "bulk.remove_from_lists",
            json!({"source": {"contact_ids": [CONTACT]}, "list_ids": [LIST]}),
            vec![HttpResponse::json(201, &activity("initialized"))],
        ),
        (
            "bulk.delete_contacts",
            json!({"contact_ids": [CONTACT]}),
            vec![HttpResponse::json(201, &activity("initialized"))],
        ),
        (
            "bulk.get_activity",
            json!({"activity_id": ACTIVITY}),
            vec![HttpResponse::json(200, &activity("processing"))],
        ),
        (
            "bulk.wait_for_activity",
            json!({"activity_id": ACTIVITY, "timeout_secs": 120}),
            vec![
                HttpResponse::json(200, &activity("processing")),
                HttpResponse::json(200, &activity("completed")),
            ],
        ),
        (
            "emails.list",
            json!({"after_date": "2026-01-01T00:00:00.000Z", "before_date": "2026-07-01T00:00:00.000Z"}),
            vec![
                HttpResponse::json(
                    200,
                    &json!({
                        "campaigns": [{"campaign_id": CAMPAIGN, "name": "Spring sale",
                            "current_status": "Draft", "type": "NEWSLETTER", "type_code": 10}],
                        "_links": {"next": {"href": "/v3/emails?next=cGFnZT0y"}}
                    }),
                ),
                HttpResponse::json(200, &json!({"campaigns": []})),
            ],
        ),
        (
            "emails.get",
            json!({"campaign_id": CAMPAIGN}),
            vec![HttpResponse::json(200, &campaign())],
        ),
        (
            "emails.create",
            json!({
                "name": "Spring sale",
                "email": {
                    "from_name": "Acme",
                    "from_email": "news@acme.example",
                    "reply_to_email": "news@acme.example",
                    "subject": "Spring is here",
                    "preheader": "20% off",
                    "html_content": "<html><body>[[trackingImage]]<p>Hello</p></body></html>",
                    "physical_address_in_footer": {"organization_name": "Acme",
                        "address_line1": "1 Main St", "city": "Waltham", "state_code": "MA",
                        "postal_code": "02451", "country_code": "US"}
                }
            }),
            vec![HttpResponse::json(200, &campaign())],
        ),
        (
            "emails.get_activity",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY,
                "include": ["html_content", "permalink_url"]}),
            vec![HttpResponse::json(
                200,
                &json!({"campaign_activity_id": CAMPAIGN_ACTIVITY, "campaign_id": CAMPAIGN,
                    "role": "primary_email", "current_status": "DRAFT", "format_type": 5,
                    "from_name": "Acme", "from_email": "news@acme.example",
                    "reply_to_email": "news@acme.example", "subject": "Spring is here",
                    "contact_list_ids": [LIST]}),
            )],
        ),
        (
            "emails.update_activity",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY,
                "email": {"from_name": "Acme", "from_email": "news@acme.example",
                    "reply_to_email": "news@acme.example", "subject": "Spring is here",
                    "html_content": "<html><body>[[trackingImage]]<p>Hello</p></body></html>"},
                "contact_list_ids": [LIST]}),
            vec![HttpResponse::json(
                200,
                &json!({"campaign_activity_id": CAMPAIGN_ACTIVITY, "campaign_id": CAMPAIGN,
                    "role": "primary_email", "current_status": "DRAFT", "format_type": 5,
                    "from_name": "Acme", "from_email": "news@acme.example",
                    "reply_to_email": "news@acme.example", "subject": "Spring is here",
                    "contact_list_ids": [LIST]}),
            )],
        ),
        (
            "emails.schedule",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY,
                "scheduled_date": "2026-05-17T16:00:00.000Z"}),
            vec![HttpResponse::json(
                201,
                &json!([{"scheduled_date": "2026-05-17T16:00:00.000Z"}]),
            )],
        ),
        (
            "emails.summary_report",
            json!({}),
            vec![
                HttpResponse::json(
                    200,
                    &json!({
                        "bulk_email_campaign_summaries": [{"campaign_id": CAMPAIGN,
                            "campaign_type": "NEWSLETTER", "last_sent_date": "2026-05-17T16:00:00.000Z",
                            "unique_counts": {"sends": 10, "opens": 4, "clicks": 1}}],
                        "aggregate_percents": {"open": 40.0},
                        "_links": {"next": {"href": "/v3/reports/summary_reports/email_campaign_summaries?next=bGltaXQ9NTAw"}}
                    }),
                ),
                HttpResponse::json(200, &json!({"bulk_email_campaign_summaries": []})),
            ],
        ),
    ]
}

const CONTACT: &str = "1618ae62-4752-11e9-9c8a-fa163e6b01c1";
const LIST: &str = "07936f78-662a-11eb-af0a-fa163e56c9b0";
const LIST_2: &str = "9f3a8c52-662a-11eb-af0a-fa163e56c9b0";
const TAG: &str = "e7ddac60-51da-11eb-b3a4-fa163e6b01c1";
const FIELD: &str = "6e7cd1d0-3e2a-11eb-b3a4-fa163e6b01c1";
const ACTIVITY: &str = "04fe9a97-a579-43c5-bb1a-58ed29bf0a6a";
const CAMPAIGN: &str = "91569d46-00e4-4a4d-9a4c-d17d98740d04";
const CAMPAIGN_ACTIVITY: &str = "8ca7e9c8-7d27-4b2e-9b0a-2b8a4a1c3f10";

/// A contact as the API returns it.
fn contact() -> Value {
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
fn list() -> Value {
    json!({"list_id": LIST, "name": "Customers", "favorite": true, "membership_count": 12})
}

/// A custom field as the API returns it.
fn custom_field() -> Value {
    json!({"custom_field_id": FIELD, "label": "Favorite Fruit", "name": "favorite_fruit",
        "type": "single_select", "choices": [{"choice_id": 1, "choice_label": "Apple"}]})
}

/// An email campaign as the API returns it.
fn campaign() -> Value {
    json!({"campaign_id": CAMPAIGN, "name": "Spring sale", "current_status": "Draft",
        "campaign_activities": [{"campaign_activity_id": CAMPAIGN_ACTIVITY, "role": "primary_email"}]})
}

/// A bulk activity in a given state.
fn activity(state: &str) -> Value {
    json!({"activity_id": ACTIVITY, "state": state, "percent_done": 50,
        "_links": {"self": {"href": format!("/v3/activities/{ACTIVITY}")}}})
}

/// A "204 No Content" answer.
fn no_content() -> HttpResponse {
    HttpResponse {
        status: 204,
        headers: Vec::new(),
        body: String::new(),
    }
}

#[track_caller]
fn requests_of(method: &str, input: Value, responses: Vec<HttpResponse>) -> Vec<HttpRequest> {
    let connector = DefinedConnector::new::<constant_contact::ConstantContact>();
    let host = ScriptedHost::new(responses.into_iter().map(Ok));
    let call = Invocation {
        method: method.into(),
        input,
        settings: Map::new(),
    };
    let output = connector
        .invoke(&call, &host)
        .unwrap_or_else(|e| panic!("{method} fails on its representative input: {e}"));
    // The API-shaped answers decode into an output and records that match the declared schemas.
    let descriptor = connector
        .manifest()
        .method(method)
        .expect("a declared method");
    plugboard_testkit::assert_conforms(descriptor, Some(&output), &host.records());
    host.requests()
}

#[test]
fn every_method_has_a_representative_call() {
    let connector = DefinedConnector::new::<constant_contact::ConstantContact>();
    let covered: Vec<&str> = representative_calls().iter().map(|(m, _, _)| *m).collect();
    for method in &connector.manifest().methods {
        assert!(
            covered.contains(&method.id.as_str()),
            "`{}` has no representative call in this test",
            method.id
        );
    }
}

#[test]
fn every_request_conforms_to_the_official_spec() {
    let spec = load_spec();
    let mut problems = Vec::new();
    for (method, input, responses) in representative_calls() {
        for request in requests_of(method, input, responses) {
            problems.extend(
                conformance_problems(&spec, &request)
                    .into_iter()
                    .map(|p| format!("{method}: {p}")),
            );
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `segment_id` can only be combined with `limit`, so the representative `contacts.list` call
/// leaves it out; this one sends it alone, through a "processing" answer.
#[test]
fn a_segment_request_conforms_on_its_own() {
    let spec = load_spec();
    let requests = requests_of(
        "contacts.list",
        // The spec declares `maximum: 1` on segment_id (meaning one segment), so the
        // representative id is 1.
        json!({"segment_id": 1}),
        vec![
            HttpResponse::json(202, &json!({"status": "processing"})),
            HttpResponse::json(200, &json!({"contacts": [contact()]})),
        ],
    );
    assert_eq!(requests.len(), 2);
    let problems: Vec<String> = requests
        .iter()
        .flat_map(|request| conformance_problems(&spec, request))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let names: Vec<&str> = requests[0].query.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["limit", "segment_id"]);
}

#[test]
fn every_request_shape_is_pinned() {
    for (method, input, responses) in representative_calls() {
        let requests = requests_of(method, input, responses);
        insta::assert_json_snapshot!(format!("requests_{method}"), requests);
    }
}

#[test]
fn the_checker_catches_requests_the_spec_does_not_allow() {
    let spec = load_spec();
    let unknown_path = HttpRequest::get("/contacts/abc/nonsense");
    assert!(!conformance_problems(&spec, &unknown_path).is_empty());
    assert_eq!(
        matching_template(&spec, "/contacts/counts"),
        Some("/contacts/counts")
    );
    assert_eq!(
        matching_template(&spec, "/contacts/0b6b3f5e"),
        Some("/contacts/{contact_id}")
    );
    let wrong_verb = HttpRequest::patch("/account/summary");
    assert!(!conformance_problems(&spec, &wrong_verb).is_empty());
    let undeclared_query = HttpRequest::get("/contact_lists").query("colour", "red");
    assert_eq!(conformance_problems(&spec, &undeclared_query).len(), 1);
    let bad_values = HttpRequest::get("/contact_lists")
        .query("limit", 5000)
        .query("status", "archived")
        .query("include_count", "yes");
    assert_eq!(
        conformance_problems(&spec, &bad_values).len(),
        3,
        "{:?}",
        conformance_problems(&spec, &bad_values)
    );
    let bad_body = HttpRequest::post("/contact_lists")
        .json(&json!({"favorite": "yes"}))
        .expect("encodes");
    let problems = conformance_problems(&spec, &bad_body);
    assert!(
        problems.iter().any(|p| p.contains("favorite"))
            && problems.iter().any(|p| p.contains("name")),
        "a missing required `name` and a mistyped `favorite`: {problems:?}"
    );
    let good_body = HttpRequest::post("/contact_lists")
        .json(&json!({"name": "Customers", "favorite": true}))
        .expect("encodes");
    assert_eq!(
        conformance_problems(&spec, &good_body),
        Vec::<String>::new()
    );
}
