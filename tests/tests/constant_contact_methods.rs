//! Behaviour of the Constant Contact methods against scripted API answers: pagination, import
//! splitting, polling, error mapping and the poll trigger's cursor. Every call's output and
//! records are also checked against the method's declared schemas.

use std::time::Duration;

use constant_contact::{MAX_CONTACTS_PER_IMPORT, MAX_IMPORT_BODY_BYTES};
use plugboard_core::{
    Connector, ConnectorError, DefinedConnector, HttpMethod, HttpRequest, HttpResponse, Invocation,
    RequestBody,
};
use plugboard_tests::ScriptedHost;
use serde_json::{Map, Value, json};

const LIST: &str = "07936f78-662a-11eb-af0a-fa163e56c9b0";
const ACTIVITY: &str = "04fe9a97-a579-43c5-bb1a-58ed29bf0a6a";

#[track_caller]
fn call(
    method: &str,
    input: Value,
    responses: Vec<HttpResponse>,
) -> (Result<Value, ConnectorError>, ScriptedHost) {
    let connector = DefinedConnector::new::<constant_contact::ConstantContact>();
    let host = ScriptedHost::new(responses.into_iter().map(Ok));
    let invocation = Invocation {
        method: method.into(),
        input,
        settings: Map::new(),
    };
    let result = connector.invoke(&invocation, &host);
    // Whatever the script answered, what the method returned and streamed must match the
    // schemas it declares.
    let descriptor = connector
        .manifest()
        .method(method)
        .expect("a declared method");
    plugboard_testkit::assert_conforms(descriptor, result.as_ref().ok(), &host.records());
    (result, host)
}

fn contact(n: u32, updated_at: &str) -> Value {
    json!({
        "contact_id": format!("00000000-0000-0000-0000-{n:012}"),
        "email_address": {"address": format!("c{n}@example.com")},
        "updated_at": updated_at,
    })
}

fn page(contacts: Vec<Value>, next: Option<&str>) -> HttpResponse {
    let mut body = json!({"contacts": contacts});
    if let Some(next) = next {
        body["_links"] = json!({"next": {"href": next}});
    }
    HttpResponse::json(200, &body)
}

fn activity(id: &str, state: &str) -> HttpResponse {
    HttpResponse::json(
        201,
        &json!({"activity_id": id, "state": state, "percent_done": 0}),
    )
}

fn json_body(request: &HttpRequest) -> &Value {
    match &request.body {
        Some(RequestBody::Json(body)) => body,
        other => panic!("expected a JSON body, got {other:?}"),
    }
}

#[test]
fn pagination_streams_every_page_in_order_and_stops_without_a_next_link() {
    let (result, host) = call(
        "contacts.list",
        json!({"include_count": true}),
        vec![
            HttpResponse::json(
                200,
                &json!({
                    "contacts": [contact(1, "2026-01-01T00:00:00Z"), contact(2, "2026-01-01T00:00:00Z")],
                    "contacts_count": 5,
                    "_links": {"next": {"href": "/v3/contacts?cursor=p2"}}
                }),
            ),
            page(
                vec![
                    contact(3, "2026-01-01T00:00:00Z"),
                    contact(4, "2026-01-01T00:00:00Z"),
                ],
                Some("/v3/contacts?cursor=p3"),
            ),
            page(vec![contact(5, "2026-01-01T00:00:00Z")], None),
            // Never asked for: the last page had no next link.
            page(vec![contact(6, "2026-01-01T00:00:00Z")], None),
        ],
    );
    let output = result.expect("lists every page");
    assert_eq!(output, json!({"count": 5, "contacts_count": 5}));
    let records = host.records();
    let emails: Vec<&str> = records
        .iter()
        .map(|r| r["email_address"]["address"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        emails,
        [
            "c1@example.com",
            "c2@example.com",
            "c3@example.com",
            "c4@example.com",
            "c5@example.com"
        ]
    );
    let paths: Vec<String> = host.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        ["/contacts", "/contacts?cursor=p2", "/contacts?cursor=p3"]
    );
    let first = &host.requests()[0];
    assert!(first.query.contains(&("limit".into(), "500".into())));
    assert!(
        first
            .query
            .contains(&("include_count".into(), "true".into()))
    );
}

#[test]
fn a_page_linking_back_to_a_fetched_page_stops_the_call() {
    let (result, host) = call(
        "tags.list",
        json!({}),
        vec![
            HttpResponse::json(
                200,
                &json!({"tags": [{"tag_id": "t1", "name": "a"}],
                    "_links": {"next": {"href": "/v3/contact_tags?cursor=p2"}}}),
            ),
            HttpResponse::json(
                200,
                &json!({"tags": [{"tag_id": "t2", "name": "b"}],
                    "_links": {"next": {"href": "/v3/contact_tags?cursor=p2"}}}),
            ),
        ],
    );
    assert!(
        matches!(result, Err(ConnectorError::UnexpectedResponse { ref message }) if message.contains("already fetched")),
        "{result:?}"
    );
    assert_eq!(host.requests().len(), 2, "no page is fetched twice");
}

#[test]
fn a_processing_segment_is_asked_for_again_politely_then_given_up() {
    let processing = HttpResponse::json(202, &json!({"status": "processing"}));
    let (result, host) = call(
        "contacts.list",
        json!({"segment_id": 14}),
        vec![processing.clone(); 20],
    );
    assert!(
        matches!(result, Err(ConnectorError::UnexpectedResponse { ref message }) if message.contains("still processing the segment")),
        "{result:?}"
    );
    assert_eq!(host.requests().len(), 7, "bounded re-polls");
    let sleeps: Vec<u64> = host.sleeps().iter().map(Duration::as_secs).collect();
    assert_eq!(sleeps, [1, 2, 4, 8, 16, 30]);

    let (result, host) = call(
        "contacts.list",
        json!({"segment_id": 14}),
        vec![
            processing,
            page(vec![contact(1, "2026-01-01T00:00:00Z")], None),
        ],
    );
    assert_eq!(result.expect("second answer is the page")["count"], 1);
    assert_eq!(
        host.requests()[0],
        host.requests()[1],
        "the same request again"
    );
}

#[test]
fn imports_are_split_by_count() {
    let contacts: Vec<Value> = (0..=MAX_CONTACTS_PER_IMPORT)
        .map(|n| json!({"email": format!("c{n}@example.com")}))
        .collect();
    let (result, host) = call(
        "bulk.import_contacts",
        json!({"contacts": contacts, "list_ids": [LIST]}),
        vec![
            activity("a-1", "initialized"),
            activity("a-2", "initialized"),
        ],
    );
    let output = result.expect("imports");
    assert_eq!(output["activity_ids"], json!(["a-1", "a-2"]));
    assert_eq!(output["contacts"], 40_001);
    let requests = host.requests();
    let sizes: Vec<usize> = requests
        .iter()
        .map(|r| json_body(r)["import_data"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [40_000, 1]);
    assert_eq!(
        json_body(&requests[1])["import_data"][0]["email"],
        "c40000@example.com"
    );
    for request in &requests {
        assert_eq!(request.path, "/activities/contacts_json_import");
        assert_eq!(json_body(request)["list_ids"], json!([LIST]));
    }
    assert!(host.sleeps().is_empty(), "no waiting unless asked");
}

#[test]
fn imports_are_split_so_every_body_stays_under_the_size_limit() {
    // 60 contacts of about 150 KB each (9 MB in all): at most 26 fit under 4,000,000 bytes.
    let big = "x".repeat(150_000);
    let contacts: Vec<Value> = (0..60)
        .map(|n| json!({"email": format!("c{n}@example.com"), "custom_fields": {"notes": big}}))
        .collect();
    let responses = (0..10)
        .map(|n| activity(&format!("a-{n}"), "initialized"))
        .collect();
    let (result, host) = call(
        "bulk.import_contacts",
        json!({"contacts": contacts, "list_ids": [LIST], "sms_permission_to_send": "not_set"}),
        responses,
    );
    let output = result.expect("imports");
    let requests = host.requests();
    assert!(requests.len() >= 3, "{} requests", requests.len());
    assert_eq!(
        output["activity_ids"].as_array().map(Vec::len),
        Some(requests.len())
    );
    let mut emails = Vec::new();
    for request in &requests {
        let body = json_body(request);
        let bytes = serde_json::to_vec(body).expect("serializable").len();
        assert!(
            bytes < MAX_IMPORT_BODY_BYTES,
            "{bytes} bytes is not below {MAX_IMPORT_BODY_BYTES}"
        );
        assert!(
            bytes > MAX_IMPORT_BODY_BYTES - 160_000 || request == requests.last().expect("some"),
            "batches are filled before a new one starts ({bytes} bytes)"
        );
        for contact in body["import_data"].as_array().expect("an array") {
            assert_eq!(contact["cf:notes"].as_str().map(str::len), Some(150_000));
            emails.push(contact["email"].as_str().expect("an email").to_owned());
        }
    }
    let expected: Vec<String> = (0..60).map(|n| format!("c{n}@example.com")).collect();
    assert_eq!(emails, expected, "every contact once, in order");
}

#[test]
fn an_import_can_wait_until_every_activity_is_done() {
    let (result, host) = call(
        "bulk.import_contacts",
        json!({"contacts": [{"email": "a@example.com"}], "list_ids": [LIST], "wait": true}),
        vec![
            activity(ACTIVITY, "initialized"),
            HttpResponse::json(
                200,
                &json!({"activity_id": ACTIVITY, "state": "processing"}),
            ),
            HttpResponse::json(
                200,
                &json!({"activity_id": ACTIVITY, "state": "completed", "percent_done": 100,
                    "status": {"person_count": 1, "error_count": 0}}),
            ),
        ],
    );
    let output = result.expect("imports and waits");
    assert_eq!(output["activities"][0]["state"], "completed");
    assert_eq!(output["activities"][0]["status"]["person_count"], 1);
    assert_eq!(
        host.sleeps(),
        [Duration::from_secs(1), Duration::from_secs(2)]
    );
}

#[test]
fn waiting_backs_off_to_30_seconds_and_stops_at_the_time_budget() {
    let processing = HttpResponse::json(
        200,
        &json!({"activity_id": ACTIVITY, "state": "processing", "percent_done": 40}),
    );
    let (result, host) = call(
        "bulk.wait_for_activity",
        json!({"activity_id": ACTIVITY, "timeout_secs": 100}),
        vec![processing; 50],
    );
    let Err(ConnectorError::UnexpectedResponse { message }) = result else {
        panic!("expected a clear error, got {result:?}");
    };
    assert!(
        message.contains("still `processing` (40% done) after 100 s"),
        "{message}"
    );
    let sleeps: Vec<u64> = host.sleeps().iter().map(Duration::as_secs).collect();
    assert_eq!(sleeps, [1, 2, 4, 8, 16, 30, 30, 9]);
    assert_eq!(
        host.requests().len(),
        9,
        "one poll before each pause, one after the last"
    );
}

#[test]
fn waiting_returns_the_final_state_whatever_it_is() {
    let (result, host) = call(
        "bulk.wait_for_activity",
        json!({"activity_id": ACTIVITY}),
        vec![HttpResponse::json(
            200,
            &json!({"activity_id": ACTIVITY, "state": "failed",
                "activity_errors": ["list_ids: not found"]}),
        )],
    );
    let output = result.expect("a final state");
    assert_eq!(output["state"], "failed");
    assert_eq!(output["activity_errors"], json!(["list_ids: not found"]));
    assert!(host.sleeps().is_empty(), "already final: no waiting");
    let (too_long, _) = call(
        "bulk.wait_for_activity",
        json!({"activity_id": ACTIVITY, "timeout_secs": 86_400}),
        vec![],
    );
    assert!(matches!(too_long, Err(ConnectorError::InvalidInput { .. })));
}

#[test]
fn a_conflict_on_create_is_already_exists() {
    let (result, _) = call(
        "contacts.create",
        json!({"create_source": "Account", "email_address": {"address": "dlang@example.com"}}),
        vec![HttpResponse::json(
            409,
            &json!([{"error_key": "contacts.api.conflict",
                "error_message": "Email already exists for contact 1618ae62"}]),
        )],
    );
    let Err(ConnectorError::AlreadyExists { message }) = result else {
        panic!("expected AlreadyExists, got {result:?}");
    };
    assert!(message.contains("dlang@example.com"), "{message}");
    assert!(
        message.contains("Email already exists for contact 1618ae62"),
        "{message}"
    );
}

#[test]
fn array_and_single_object_error_bodies_keep_the_api_messages() {
    let (result, _) = call(
        "contacts.get",
        json!({"contact_id": "1618ae62"}),
        vec![HttpResponse::json(
            400,
            &json!([
                {"error_key": "contacts.api.bad.request", "error_message": "contact_id is in an invalid format."},
                {"error_key": "contacts.api.bad.request", "error_message": "include is not valid."}
            ]),
        )],
    );
    let Err(ConnectorError::Api { status, errors }) = result else {
        panic!("expected an API error, got {result:?}");
    };
    assert_eq!(status, 400);
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "contact_id is in an invalid format.",
            "include is not valid."
        ]
    );

    let (result, _) = call(
        "contacts.counts",
        json!({}),
        vec![HttpResponse::json(
            403,
            &json!({"error_key": "forbidden", "error_message": "Missing privilege contacts:read"}),
        )],
    );
    let Err(ConnectorError::Api { status, errors }) = result else {
        panic!("expected an API error, got {result:?}");
    };
    assert_eq!(status, 403);
    assert_eq!(errors[0].message, "Missing privilege contacts:read");

    let (result, _) = call(
        "contacts.counts",
        json!({}),
        vec![HttpResponse::json(
            401,
            &json!({"error_key": "unauthorized", "error_message": "Unauthorized"}),
        )],
    );
    assert_eq!(
        result,
        Err(ConnectorError::Unauthorized {
            message: "Unauthorized".into()
        })
    );
}

#[test]
fn throttling_and_the_daily_quota_are_different_errors() {
    let (throttled, _) = call(
        "segments.get",
        json!({"segment_id": 14}),
        vec![HttpResponse::json(
            429,
            &json!({"error_key": "throttled", "error_message": "Too Many Requests"}),
        )],
    );
    assert!(
        matches!(throttled, Err(ConnectorError::RateLimited { .. })),
        "{throttled:?}"
    );
    let (quota, _) = call(
        "segments.get",
        json!({"segment_id": 14}),
        vec![HttpResponse::json(
            429,
            &json!({"error_key": "quota_exceeded", "error_message": "Limit Exceeded"}),
        )],
    );
    assert!(
        matches!(quota, Err(ConnectorError::QuotaExhausted { .. })),
        "{quota:?}"
    );
}

#[test]
fn sign_up_form_reports_created_or_updated() {
    let input = json!({"email_address": "jdodge@example.com", "list_memberships": [LIST]});
    let answer = |status, action| {
        HttpResponse::json(
            status,
            &json!({"contact_id": "ab7ab702-b935-11e9-8a58-fa163e6b01c1", "action": action}),
        )
    };
    let (created, _) = call(
        "contacts.create_or_update",
        input.clone(),
        vec![answer(201, "created")],
    );
    assert_eq!(
        created.expect("created"),
        json!({"contact_id": "ab7ab702-b935-11e9-8a58-fa163e6b01c1", "created": true, "action": "created"})
    );
    let (updated, _) = call(
        "contacts.create_or_update",
        input,
        vec![answer(200, "updated")],
    );
    assert_eq!(updated.expect("updated")["created"], false);
}

/// The value of query parameter `name` in `request`, if it has one.
fn query_value<'r>(request: &'r HttpRequest, name: &str) -> Option<&'r str> {
    request
        .query
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn the_poll_trigger_returns_the_latest_updated_at_of_a_single_page_as_next_cursor() {
    let (result, host) = call(
        "contacts.poll_updated",
        json!({"cursor": "2026-03-01T00:00:00Z"}),
        vec![page(
            vec![
                contact(1, "2026-03-02T10:00:44Z"),
                // Later than the one before, though it sorts earlier as text.
                contact(2, "2026-03-02T10:00:44.500Z"),
                contact(3, "2026-03-01T12:00:00Z"),
            ],
            None,
        )],
    );
    let output = result.expect("polls");
    assert_eq!(
        output,
        json!({"next_cursor": "2026-03-02T10:00:44.500Z", "count": 3})
    );
    assert_eq!(host.records().len(), 3);
    assert_eq!(host.requests().len(), 1, "one page, one request");
    let request = &host.requests()[0];
    assert_eq!(
        query_value(request, "updated_after"),
        Some("2026-03-01T00:00:00Z")
    );
    assert_eq!(
        query_value(request, "updated_before"),
        None,
        "one page is one consistent answer: no bound needed"
    );

    let (nothing_new, _) = call(
        "contacts.poll_updated",
        json!({"cursor": "2026-03-01T00:00:00Z"}),
        vec![page(vec![], None)],
    );
    assert_eq!(
        nothing_new.expect("polls"),
        json!({"next_cursor": "2026-03-01T00:00:00Z", "count": 0})
    );

    let (first_run, host) = call(
        "contacts.poll_updated",
        json!({}),
        vec![page(vec![contact(1, "2026-03-02T10:00:00Z")], None)],
    );
    assert_eq!(
        first_run.expect("polls")["next_cursor"],
        "2026-03-02T10:00:00Z"
    );
    assert!(
        host.requests()[0]
            .query
            .iter()
            .all(|(name, _)| name != "updated_after"),
        "no cursor and no start: a full initial sync"
    );
}

#[test]
fn the_poll_cursor_compares_timestamps_with_offsets_as_instants() {
    let (result, _) = call(
        "contacts.poll_updated",
        json!({"cursor": "2026-03-02T09:00:00Z"}),
        vec![page(
            vec![
                // 11:30 UTC, the newest, though "T09" sorts before "T10" as text.
                contact(1, "2026-03-02T09:30:00-02:00"),
                contact(2, "2026-03-02T10:30:00Z"),
                // 10:00 UTC.
                contact(3, "2026-03-02T12:00:00+02:00"),
            ],
            None,
        )],
    );
    assert_eq!(
        result.expect("polls")["next_cursor"],
        "2026-03-02T09:30:00-02:00"
    );

    // A cursor written with an offset is later than it reads as text.
    let (result, _) = call(
        "contacts.poll_updated",
        json!({"cursor": "2026-03-02T09:00:00-05:00"}),
        vec![page(vec![contact(1, "2026-03-02T13:00:00Z")], None)],
    );
    assert_eq!(
        result.expect("polls")["next_cursor"],
        "2026-03-02T09:00:00-05:00",
        "13:00 UTC is before the cursor's 14:00 UTC, so the cursor stays"
    );
}

/// The reviewer's case: a contact on page 1 is edited while later pages are read, and a contact
/// on a later page is edited after it. An unbounded walk would hand back the later edit's
/// `updated_at` and skip the first edit forever.
#[test]
fn a_poll_over_several_pages_reads_up_to_a_fixed_bound_so_edits_made_meanwhile_are_not_skipped() {
    let since = "2026-03-01T00:00:00Z";
    let (result, host) = call(
        "contacts.poll_updated",
        json!({"cursor": since, "include": ["list_memberships"]}),
        vec![
            // Round 1: the first page has a next link, so the changes span several pages.
            page(
                vec![
                    contact(1, "2026-03-01T09:00:00Z"),
                    contact(2, "2026-03-01T10:00:00.250Z"),
                ],
                Some("/v3/contacts?cursor=first"),
            ),
            // The bounded walk: everything updated up to the bound, over two pages.
            page(
                vec![
                    contact(1, "2026-03-01T09:00:00Z"),
                    contact(2, "2026-03-01T10:00:00.250Z"),
                ],
                Some("/v3/contacts?cursor=bounded"),
            ),
            page(vec![contact(3, "2026-03-01T08:00:00Z")], None),
            // Round 2: what changed after the bound, meanwhile: contact 2 again (edited while
            // the walk went on) and contact 4, edited later still. One page: done.
            page(
                vec![
                    contact(2, "2026-03-01T11:00:00Z"),
                    contact(4, "2026-03-01T12:00:00Z"),
                ],
                None,
            ),
        ],
    );
    let output = result.expect("polls");
    assert_eq!(
        output,
        json!({"next_cursor": "2026-03-01T12:00:00Z", "count": 5})
    );
    let requests = host.requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    // The first page only tells that there are several; it is read again within the bound.
    assert_eq!(query_value(&requests[0], "updated_after"), Some(since));
    assert_eq!(query_value(&requests[0], "updated_before"), None);
    assert_eq!(query_value(&requests[1], "updated_after"), Some(since));
    assert_eq!(
        query_value(&requests[1], "updated_before"),
        Some("2026-03-01T10:00:00.251Z"),
        "bounded just past the newest updated_at of the first page"
    );
    assert_eq!(
        query_value(&requests[1], "include"),
        Some("list_memberships")
    );
    assert_eq!(requests[2].path, "/contacts?cursor=bounded");
    assert_eq!(
        query_value(&requests[3], "updated_after"),
        Some("2026-03-01T10:00:00.250Z"),
        "the next round starts at the bound"
    );
    assert_eq!(query_value(&requests[3], "updated_before"), None);
    let emitted: Vec<Value> = host
        .records()
        .iter()
        .map(|c| json!([c["contact_id"], c["updated_at"]]))
        .collect();
    let expected: Vec<Value> = [
        (1, "2026-03-01T09:00:00Z"),
        (2, "2026-03-01T10:00:00.250Z"),
        (3, "2026-03-01T08:00:00Z"),
        (2, "2026-03-01T11:00:00Z"),
        (4, "2026-03-01T12:00:00Z"),
    ]
    .into_iter()
    .map(|(n, at)| json!([contact(n, at)["contact_id"], at]))
    .collect();
    assert_eq!(
        emitted, expected,
        "the first page is not emitted twice, and the edit of contact 2 comes through"
    );
}

#[test]
fn a_failure_in_a_later_round_fails_the_poll() {
    // Round 1 finishes; round 2 fails: the call fails and hands back no cursor, so the next poll
    // starts from the old one and repeats round 1 rather than skipping anything.
    let (result, host) = call(
        "contacts.poll_updated",
        json!({"cursor": "2026-03-01T00:00:00Z"}),
        vec![
            page(
                vec![contact(1, "2026-03-01T09:00:00Z")],
                Some("/v3/contacts?cursor=first"),
            ),
            page(vec![contact(1, "2026-03-01T09:00:00Z")], None),
            HttpResponse::json(500, &json!([{"error_key": "server_error"}])),
        ],
    );
    assert!(
        matches!(result, Err(ConnectorError::Api { status: 500, .. })),
        "{result:?}"
    );
    assert_eq!(host.requests().len(), 3);
}

#[test]
fn a_multi_page_poll_without_updated_at_keeps_its_cursor() {
    let (result, host) = call(
        "contacts.poll_updated",
        json!({"cursor": "2026-03-01T00:00:00Z"}),
        vec![
            page(
                vec![json!({"contact_id": "c-1"})],
                Some("/v3/contacts?cursor=next"),
            ),
            page(
                vec![json!({"contact_id": "c-1"})],
                Some("/v3/contacts?cursor=next"),
            ),
            page(vec![json!({"contact_id": "c-2"})], None),
        ],
    );
    assert_eq!(
        result.expect("polls"),
        json!({"next_cursor": "2026-03-01T00:00:00Z", "count": 2}),
        "nothing to bound the walk with: every page is read and the cursor is kept"
    );
    assert_eq!(host.requests().len(), 3);
}

#[test]
fn a_segment_cannot_be_combined_with_other_filters() {
    let (result, host) = call(
        "contacts.list",
        json!({"segment_id": 14, "lists": [LIST], "include": ["taggings"]}),
        vec![],
    );
    match result {
        Err(ConnectorError::InvalidInput { message }) => {
            assert!(message.contains("`segment_id`"), "{message}");
            assert!(message.contains("`lists`, `include`"), "{message}");
        }
        other => panic!("expected invalid input, got {other:?}"),
    }
    assert!(host.requests().is_empty(), "nothing is sent");

    let (result, host) = call(
        "contacts.list",
        json!({"segment_id": 14}),
        vec![page(vec![contact(1, "2026-01-01T00:00:00Z")], None)],
    );
    assert_eq!(result.expect("a segment alone")["count"], 1);
    let names: Vec<String> = host.requests()[0]
        .query
        .iter()
        .map(|(n, _)| n.clone())
        .collect();
    assert_eq!(names, ["limit", "segment_id"]);
}

#[test]
fn a_conflicting_sign_up_is_sent_again_after_short_pauses() {
    let input = json!({"email_address": "jdodge@example.com", "list_memberships": [LIST]});
    let conflict = || {
        HttpResponse::json(
            409,
            &json!([{"error_key": "contacts.api.conflict",
                "error_message": "Another request is modifying this contact"}]),
        )
    };
    let updated = HttpResponse::json(
        200,
        &json!({"contact_id": "ab7ab702-b935-11e9-8a58-fa163e6b01c1", "action": "updated"}),
    );
    let (result, host) = call(
        "contacts.create_or_update",
        input.clone(),
        vec![conflict(), conflict(), updated],
    );
    assert_eq!(
        result.expect("the third try goes through")["created"],
        false
    );
    let requests = host.requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests
            .iter()
            .all(|r| json_body(r) == json_body(&requests[0])),
        "the same upsert each time"
    );
    assert_eq!(
        host.sleeps(),
        [Duration::from_millis(500), Duration::from_secs(1)]
    );

    // Bounded: after three repeats the 409 is the answer.
    let (result, host) = call(
        "contacts.create_or_update",
        input,
        (0..10).map(|_| conflict()).collect(),
    );
    match result {
        Err(ConnectorError::Api {
            status: 409,
            errors,
        }) => {
            assert_eq!(errors[0].key, "contacts.api.conflict");
        }
        other => panic!("expected the API's 409, got {other:?}"),
    }
    assert_eq!(host.requests().len(), 4, "one try and three repeats");
    assert_eq!(
        host.sleeps(),
        [
            Duration::from_millis(500),
            Duration::from_secs(1),
            Duration::from_secs(2)
        ]
    );

    // Other errors are not repeated.
    let (result, host) = call(
        "contacts.create_or_update",
        json!({"email_address": "jdodge@example.com", "list_memberships": [LIST]}),
        vec![HttpResponse::json(400, &json!([{"error_key": "bad"}]))],
    );
    assert!(matches!(
        result,
        Err(ConnectorError::Api { status: 400, .. })
    ));
    assert_eq!(host.requests().len(), 1);
    assert!(host.sleeps().is_empty());
}

#[test]
fn a_custom_field_update_replaces_the_whole_field() {
    let field = json!({"custom_field_id": "6e7cd1d0-3e2a-11eb-b3a4-fa163e6b01c1",
        "label": "Favourite Fruit", "type": "single_select",
        "choices": [{"choice_id": 1, "choice_label": "Apple"}]});
    // Without a label the PUT would clear it: the input is refused before anything is sent.
    let (result, host) = call(
        "custom_fields.update",
        json!({"custom_field_id": "6e7cd1d0-3e2a-11eb-b3a4-fa163e6b01c1",
            "choices": [{"choice_id": 1, "choice_label": "Apple"}]}),
        vec![HttpResponse::json(200, &field)],
    );
    match result {
        Err(ConnectorError::InvalidInput { message }) => {
            assert!(message.contains("label"), "{message}");
        }
        other => panic!("expected invalid input, got {other:?}"),
    }
    assert!(host.requests().is_empty());

    let (result, host) = call(
        "custom_fields.update",
        json!({"custom_field_id": "6e7cd1d0-3e2a-11eb-b3a4-fa163e6b01c1",
            "label": "Favourite Fruit",
            "choices": [{"choice_id": 1, "choice_label": "Apple"}, {"choice_label": "Plum"}]}),
        vec![HttpResponse::json(200, &field)],
    );
    result.expect("replaced");
    let requests = host.requests();
    assert_eq!(requests[0].method, HttpMethod::Put);
    assert_eq!(
        json_body(&requests[0]),
        &json!({"label": "Favourite Fruit",
            "choices": [{"choice_id": 1, "choice_label": "Apple"}, {"choice_label": "Plum"}]})
    );
}

#[test]
fn the_account_summary_keeps_the_company_logo() {
    let logo = json!({"url": "https://files.constantcontact.com/3a20c2f5701/logo.jpg",
        "external_url": "https://www.example.com/logo.png", "internal_id": "ACCOUNT.IMAGE.5"});
    let (result, host) = call(
        "account.get_summary",
        json!({"extra_fields": ["company_logo"]}),
        vec![HttpResponse::json(
            200,
            &json!({"organization_name": "Acme", "company_logo": logo}),
        )],
    );
    assert_eq!(result.expect("a summary")["company_logo"], logo);
    assert_eq!(
        query_value(&host.requests()[0], "extra_fields"),
        Some("company_logo")
    );
}

#[test]
fn ids_cannot_escape_their_path_segment() {
    let (result, host) = call(
        "contacts.get",
        json!({"contact_id": "../account/summary"}),
        vec![HttpResponse::json(404, &json!([]))],
    );
    assert!(result.is_err());
    assert_eq!(host.requests()[0].path, "/contacts/..%2Faccount%2Fsummary");
    let (result, host) = call("contacts.delete", json!({"contact_id": ".."}), vec![]);
    assert!(
        matches!(result, Err(ConnectorError::InvalidInput { .. })),
        "{result:?}"
    );
    assert!(
        host.requests().is_empty(),
        "nothing is sent for a dot segment"
    );
}

#[test]
fn a_failed_import_names_the_imports_already_started() {
    let contacts: Vec<Value> = (0..=MAX_CONTACTS_PER_IMPORT)
        .map(|n| json!({"email": format!("c{n}@example.com")}))
        .collect();
    let (result, host) = call(
        "bulk.import_contacts",
        json!({"contacts": contacts, "list_ids": [LIST]}),
        vec![
            activity("a-1", "initialized"),
            HttpResponse::json(
                429,
                &json!({"error_key": "throttled", "error_message": "Too Many Requests"}),
            ),
        ],
    );
    assert!(
        matches!(result, Err(ConnectorError::RateLimited { .. })),
        "{result:?}"
    );
    assert!(
        host.logs()
            .iter()
            .any(|(level, line)| *level == plugboard_core::LogLevel::Warn
                && line.contains("import 2 of 2 failed")
                && line.contains("a-1")),
        "{:?}",
        host.logs()
    );
}

#[test]
fn responses_with_fields_the_connector_does_not_know_decode_and_keep_them() {
    let (result, _) = call(
        "contacts.get",
        json!({"contact_id": "1618ae62-4752-11e9-9c8a-fa163e6b01c1", "include": ["custom_fields", "notes"]}),
        vec![HttpResponse::json(
            200,
            &json!({
                "contact_id": "1618ae62-4752-11e9-9c8a-fa163e6b01c1",
                "email_address": {"address": "dlang@example.com", "permission_to_send": "implicit",
                    "opt_in_source": "Account", "brand_new_flag": true},
                "custom_fields": [{"custom_field_id": "cf-1", "value": "Tesla", "created_at": "2026-01-01"}],
                "notes": [{"note_id": "n-1", "content": "hi", "author": "someone"}],
                "sms_channel": {"sms_address": "7815551212", "dial_code": "1"}
            }),
        )],
    );
    let contact = result.expect("decodes");
    assert_eq!(contact["custom_fields"][0]["value"], "Tesla");
    assert_eq!(contact["notes"][0]["content"], "hi");
    // Invariant 7: fields no output type names reach the workflow, at every depth.
    assert_eq!(
        contact["sms_channel"],
        json!({"sms_address": "7815551212", "dial_code": "1"})
    );
    assert_eq!(contact["email_address"]["brand_new_flag"], json!(true));
    assert_eq!(contact["custom_fields"][0]["created_at"], "2026-01-01");
    assert_eq!(contact["notes"][0]["author"], "someone");
}

#[test]
fn an_activity_gets_lists_or_one_segment_checked_before_sending() {
    let email = json!({"from_name": "Acme", "from_email": "news@acme.example",
        "reply_to_email": "news@acme.example", "subject": "Spring is here",
        "html_content": "<html><body><p>Hello</p></body></html>"});
    for (recipients, expected) in [
        (
            json!({"contact_list_ids": [LIST], "segment_ids": [14]}),
            "cannot be used together",
        ),
        (json!({"segment_ids": [14, 15]}), "one segment, not 2"),
    ] {
        let mut input = json!({"campaign_activity_id": "8ca7e9c8-7d27-4b2e-9b0a-2b8a4a1c3f10",
            "email": email});
        for key in ["contact_list_ids", "segment_ids"] {
            if let Some(value) = recipients.get(key) {
                input[key] = value.clone();
            }
        }
        let (result, host) = call("emails.update_activity", input, vec![]);
        match result {
            Err(ConnectorError::InvalidInput { message }) => {
                assert!(message.contains(expected), "{message}");
            }
            other => panic!("expected invalid input, got {other:?}"),
        }
        assert!(host.requests().is_empty(), "nothing is sent");
    }
}
