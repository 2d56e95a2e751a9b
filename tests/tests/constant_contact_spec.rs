//! Every request the Constant Contact connector produces, checked against Constant Contact's own
//! contract (`shared/reference/constant-contact/openapi.yaml`, Swagger 2.0, read at test time):
//! the path and verb exist, every query parameter is declared, and JSON bodies validate against
//! the operation's body schema. The spec's `maxItems: 0` means "unspecified" and is ignored.
//! What each call returns and streams is checked against the method's own declared schemas.

use plugboard_core::{
    Connector, DefinedConnector, FormPart, HttpRequest, HttpResponse, Invocation,
};
use plugboard_tests::ScriptedHost;
use plugboard_tests::constant_contact_calls::{self as calls, *};
use plugboard_tests::openapi::{conformance_problems, load_spec, matching_template};
use serde_json::{Map, Value, json};

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
    let covered: Vec<&str> = calls::all().iter().map(|(m, _, _)| *m).collect();
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
    for (method, input, responses) in calls::all() {
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
    for (method, input, responses) in calls::all() {
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
    // A file upload's form: a text where the file belongs, an undeclared field, 51 lists and a
    // permission the operation does not take; and a form where a JSON body belongs.
    let ids = vec!["l"; 51].join(",");
    let bad_form = HttpRequest::post("/activities/contacts_file_import").multipart(vec![
        FormPart::field("file", "email\r\na@example.com\r\n"),
        FormPart::field("list_ids", ids),
        FormPart::field("sms_permission_to_send", "pending_confirmation"),
        FormPart::field("colour", "red"),
    ]);
    let problems = conformance_problems(&spec, &bad_form);
    assert_eq!(problems.len(), 4, "{problems:?}");
    let form_for_json =
        HttpRequest::post("/contact_lists").multipart(vec![FormPart::field("name", "Customers")]);
    assert!(
        conformance_problems(&spec, &form_for_json)
            .iter()
            .any(|p| p.contains("takes no multipart/form-data body")),
        "{:?}",
        conformance_problems(&spec, &form_for_json)
    );
}
