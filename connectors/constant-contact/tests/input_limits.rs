//! Methods check the limits the spec states on their inputs before sending anything, with an
//! error naming the field (those a JSON Schema can say are in the input schemas, which the host
//! checks before every call; these are the rest); and the summary reports keep their page-level
//! `aggregate_percents`.

use std::sync::Mutex;
use std::time::Duration;

use constant_contact::ConstantContact;
use plugboard_core::{
    Connector, ConnectorError, DefinedConnector, Host, HttpRequest, HttpResponse, Invocation,
    LogLevel,
};
use serde_json::{Map, Value, json};

const ACTIVITY: &str = "8ca7e9c8-7d27-4b2e-9b0a-2b8a4a1c3f10";
const CONTACT: &str = "1618ae62-4752-11e9-9c8a-fa163e6b01c1";

/// Answers each request with the next scripted response; remembers requests and records.
struct Scripted {
    responses: Mutex<Vec<HttpResponse>>,
    requests: Mutex<Vec<HttpRequest>>,
    records: Mutex<Vec<Value>>,
}

impl Host for Scripted {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        self.requests.lock().expect("not poisoned").push(request);
        let mut responses = self.responses.lock().expect("not poisoned");
        if responses.is_empty() {
            return Err(ConnectorError::Transport {
                message: "no more scripted responses".into(),
            });
        }
        Ok(responses.remove(0))
    }
    fn emit(&self, record: Value) -> Result<(), ConnectorError> {
        self.records.lock().expect("not poisoned").push(record);
        Ok(())
    }
    fn log(&self, _: LogLevel, _: &str) {}
    fn is_cancelled(&self) -> bool {
        false
    }
    fn sleep(&self, _: Duration) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// Calls `method` with `input` against scripted `responses`; returns the result, the requests
/// sent and the records streamed.
fn call(
    method: &str,
    input: Value,
    responses: Vec<HttpResponse>,
) -> (Result<Value, ConnectorError>, Vec<HttpRequest>, Vec<Value>) {
    let host = Scripted {
        responses: Mutex::new(responses),
        requests: Mutex::new(Vec::new()),
        records: Mutex::new(Vec::new()),
    };
    let connector = DefinedConnector::new::<ConstantContact>();
    let invocation = Invocation {
        method: method.into(),
        input,
        settings: Map::new(),
    };
    let result = connector.invoke(&invocation, &host);
    let requests = host.requests.into_inner().expect("not poisoned");
    let records = host.records.into_inner().expect("not poisoned");
    (result, requests, records)
}

/// Asserts that `method` refuses `input` before sending, with a message that names `field`.
#[track_caller]
fn refused(method: &str, input: Value, field: &str) -> String {
    let (result, requests, _) = call(method, input, Vec::new());
    let Err(ConnectorError::InvalidInput { message }) = result else {
        panic!("{method} should refuse its input, got {result:?}");
    };
    assert!(requests.is_empty(), "{method} sent {requests:?}");
    assert!(
        message.contains(&format!("`{field}`")),
        "{method}: `{message}` should name `{field}`"
    );
    message
}

fn uuids(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("00000000-0000-4000-8000-{i:012x}"))
        .collect()
}

#[test]
fn stats_take_at_most_the_spec_s_number_of_well_formed_ids() {
    refused(
        "reports.campaign_stats",
        json!({"campaign_ids": []}),
        "campaign_ids",
    );
    let message = refused(
        "reports.campaign_stats",
        json!({"campaign_ids": uuids(151)}),
        "campaign_ids",
    );
    assert!(message.contains("1 to 150"), "{message}");
    refused(
        "reports.activity_stats",
        json!({"campaign_activity_ids": uuids(11)}),
        "campaign_activity_ids",
    );
    let message = refused(
        "reports.activity_stats",
        json!({"campaign_activity_ids": [ACTIVITY, "not-a-uuid,../x"]}),
        "campaign_activity_ids",
    );
    assert!(message.contains("not-a-uuid"), "{message}");

    // At the limit, the ids go out comma-separated in one request.
    let answer = HttpResponse::json(200, &json!({"results": [], "errors": []}));
    let (result, requests, _) = call(
        "reports.activity_stats",
        json!({"campaign_activity_ids": uuids(10)}),
        vec![answer],
    );
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path.matches(',').count(), 9);
}

#[test]
fn tracking_reports_refuse_malformed_ids_and_unknown_bounce_codes() {
    for method in [
        "reports.email_sends",
        "reports.email_opens",
        "reports.email_clicks",
        "reports.email_links",
        "reports.landing_page_opens",
    ] {
        let message = refused(
            method,
            json!({"campaign_activity_id": "../../contacts"}),
            "campaign_activity_id",
        );
        assert!(message.contains("UUID"), "{message}");
    }
    refused(
        "reports.landing_page_unique_opens",
        json!({"campaign_activity_id": ACTIVITY, "contacts_filter": " "}),
        "contacts_filter",
    );
    let (result, requests, _) = call(
        "reports.email_bounces",
        json!({"campaign_activity_id": ACTIVITY, "bounce_codes": ["Q"]}),
        Vec::new(),
    );
    assert!(result.is_err() && requests.is_empty(), "{result:?}");
}

#[test]
fn contact_reports_check_their_range_and_activity_kinds() {
    refused(
        "reports.contact_activity_details",
        json!({"contact_id": CONTACT, "tracking_activities": []}),
        "tracking_activities",
    );
    refused(
        "reports.contact_activity_summary",
        json!({"contact_id": CONTACT, "start": "last week", "end": "2026-02-01"}),
        "start",
    );
    refused(
        "reports.contact_activity_summary",
        json!({"contact_id": CONTACT, "start": "2026-03-01", "end": "2026-02-01"}),
        "end",
    );
    let message = refused(
        "reports.contact_open_and_click_rates",
        json!({"contact_id": CONTACT, "start": "2020-01-01T00:00:00Z",
            "end": "2026-01-01T00:00:00Z"}),
        "end",
    );
    assert!(message.contains("five years"), "{message}");
    // Exactly five years (with a leap day) is allowed.
    let answer = HttpResponse::json(
        200,
        &json!({"contact_id": CONTACT, "included_activities_count": 0,
            "average_open_rate": 0.0, "average_click_rate": 0.0}),
    );
    let (result, requests, _) = call(
        "reports.contact_open_and_click_rates",
        json!({"contact_id": CONTACT, "start": "2021-01-01T00:00:00Z",
            "end": "2026-01-01T00:00:00Z"}),
        vec![answer],
    );
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(requests.len(), 1);
    refused(
        "reports.sms_campaign_summaries",
        json!({"start_at": "yesterday"}),
        "start_at",
    );
    refused(
        "reports.sms_campaign_summaries",
        json!({"start_at": "2026-02-01T00:00:00Z", "end_at": "2026-01-01T00:00:00Z"}),
        "end_at",
    );
}

#[test]
fn summary_reports_return_their_aggregate_percents_and_stream_every_page() {
    let percents = json!({"open": 40.0, "click": 25.0, "did_not_open": 50.0, "bounce": 10.0,
        "unsubscribe": 0.0, "spam": 0.5});
    let (result, requests, records) = call(
        "emails.summary_report",
        json!({}),
        vec![
            HttpResponse::json(
                200,
                &json!({"bulk_email_campaign_summaries": [{"campaign_id": "c1"}],
                    "aggregate_percents": percents,
                    "_links": {"next": {"href": "/v3/reports/summary_reports/email_campaign_summaries?next=p2"}}}),
            ),
            HttpResponse::json(
                200,
                &json!({"bulk_email_campaign_summaries": [{"campaign_id": "c2"}],
                    "aggregate_percents": percents}),
            ),
        ],
    );
    let output = result.expect("the report streams");
    assert_eq!(requests.len(), 2);
    assert_eq!(records.len(), 2);
    assert_eq!(output["count"], 2);
    // Every percentage arrives, including one the connector does not name.
    assert_eq!(output["aggregate_percents"], percents);

    let (result, _, records) = call(
        "reports.sms_campaign_summaries",
        json!({"start_at": "2026-01-01T00:00:00Z"}),
        vec![HttpResponse::json(
            200,
            &json!({"bulk_sms_campaign_summaries": [{"campaign_id": "s1", "campaign_name": "n",
                "campaign_type": "SMS", "last_sent_date": "2026-01-02T00:00:00Z",
                "unique_counts": {"sends": 1, "delivers": 1, "clicks": 0, "optouts": 0}}],
                "aggregate_percents": {"deliver": 100.0}}),
        )],
    );
    let output = result.expect("the report streams");
    assert_eq!(records.len(), 1);
    assert_eq!(output["aggregate_percents"]["deliver"], 100.0);
}

#[test]
fn a_tracking_report_returns_what_its_first_page_says_besides_records_and_links() {
    let next = format!("/v3/reports/email_reports/{ACTIVITY}/tracking/sends?next=p2");
    let record = json!({"contact_id": CONTACT, "campaign_activity_id": ACTIVITY,
        "tracking_activity_type": "em_sends", "email_address": "a@example.com",
        "created_time": "2026-05-17T16:00:00.000Z", "sent_by": "sandbox"});
    let (result, requests, records) = call(
        "reports.email_sends",
        json!({"campaign_activity_id": ACTIVITY}),
        vec![
            HttpResponse::json(
                200,
                &json!({"tracking_activities": [record], "report_version": 2,
                    "_links": {"next": {"href": next}}}),
            ),
            HttpResponse::json(
                200,
                &json!({"tracking_activities": [record], "report_version": 2, "_links": {}}),
            ),
        ],
    );
    let output = result.expect("the report streams");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].query, [("limit".to_owned(), "500".to_owned())]);
    assert_eq!(records, [record.clone(), record]);
    assert_eq!(output, json!({"count": 2, "report_version": 2}));
}

#[test]
fn exclude_goes_only_with_a_whole_population() {
    let refusal = refused(
        "bulk.add_to_lists",
        json!({"source": {"contact_ids": [CONTACT]}, "list_ids": ["l-1"],
            "exclude_contact_ids": [CONTACT]}),
        "exclude_contact_ids",
    );
    assert!(refusal.contains("list_ids"), "{refusal}");
    refused(
        "bulk.remove_from_lists",
        json!({"source": {"tag_ids": ["t-1"]}, "list_ids": ["l-1"], "exclude_contact_ids": [CONTACT]}),
        "exclude_contact_ids",
    );
    refused(
        "bulk.add_tags",
        json!({"source": {"contact_ids": [CONTACT]}, "tag_ids": ["t-1"], "exclude_contact_ids": [CONTACT]}),
        "exclude_contact_ids",
    );
    // With lists as the source, the exclusion is sent.
    let (result, requests, _) = call(
        "bulk.add_tags",
        json!({"source": {"list_ids": ["l-1"]}, "tag_ids": ["t-1"], "exclude_contact_ids": [CONTACT]}),
        vec![HttpResponse::json(
            201,
            &json!({"activity_id": "a-1", "state": "initialized"}),
        )],
    );
    result.expect("tagged");
    assert_eq!(requests.len(), 1);
}

#[test]
fn an_imported_contact_carries_at_most_three_phones_and_twenty_five_custom_fields() {
    let phones = refused(
        "bulk.import_contacts",
        json!({"contacts": [{"email": "a@example.com", "phone": "1", "home_phone": "2",
            "work_phone": "3", "mobile_phone": "4"}]}),
        "contacts[0]",
    );
    assert!(phones.contains("at most 3"), "{phones}");
    let fields: Map<String, Value> = (0..26)
        .map(|n| (format!("field_{n}"), Value::from("x")))
        .collect();
    let custom = refused(
        "bulk.import_contacts",
        json!({"contacts": [{"email": "a@example.com"}, {"email": "b@example.com", "custom_fields": fields}]}),
        "contacts[1].custom_fields",
    );
    assert!(custom.contains("at most 25"), "{custom}");
}

#[test]
fn campaign_inputs_the_schema_cannot_express_are_checked() {
    refused(
        "emails.create_resend",
        json!({"campaign_activity_id": ACTIVITY, "resend_subject": "Again", "delay_days": 2,
            "delay_minutes": 1440}),
        "delay_minutes",
    );
    refused(
        "emails.create_resend",
        json!({"campaign_activity_id": ACTIVITY, "resend_subject": "Again"}),
        "delay_days",
    );
    refused(
        "emails.create_ab_test",
        json!({"campaign_activity_id": ACTIVITY, "alternative_subject": "B", "test_size": 20,
            "winner_wait_duration": 7}),
        "winner_wait_duration",
    );
    refused(
        "bulk.export_contacts",
        json!({"list_ids": ["l-1"], "tag_ids": ["t-1"]}),
        "segment_id",
    );
}

#[test]
fn an_imported_contact_carries_at_most_three_addresses() {
    let refusal = refused(
        "bulk.import_contacts",
        json!({"list_ids": ["l-1"], "contacts": [{"email": "a@example.com", "city": "A",
            "home_street": "B", "work_zip": "C", "other_country": "D"}]}),
        "contacts[0]",
    );
    assert!(refusal.contains("4 addresses"), "{refusal}");
    // Three addresses, each given by any one of its parts, are sent.
    let (result, requests, _) = call(
        "bulk.import_contacts",
        json!({"list_ids": ["l-1"], "contacts": [{"email": "a@example.com", "city": "A",
            "home_street": "B", "work_zip": "C"}]}),
        vec![HttpResponse::json(
            201,
            &json!({"activity_id": "a-1", "state": "initialized"}),
        )],
    );
    result.expect("imported");
    assert_eq!(requests.len(), 1);
}

#[test]
fn a_new_custom_field_keeps_to_the_limits_the_spec_states_in_words() {
    let places = refused(
        "custom_fields.create",
        json!({"label": "Price", "type": "currency",
            "metadata": {"integer": false, "decimal_places": 0}}),
        "metadata.decimal_places",
    );
    assert!(places.contains("1 to 4"), "{places}");
    let choices: Vec<Value> = (0..21)
        .map(|n| json!({"choice_label": format!("Choice {n}")}))
        .collect();
    let refusal = refused(
        "custom_fields.create",
        json!({"label": "Fruit", "type": "single_select",
            "metadata": {"display_type": "checkbox"}, "choices": choices}),
        "choices",
    );
    assert!(refusal.contains("at most 20"), "{refusal}");
    // A dropdown may have 21 choices (up to 100, which the input schema says).
    let (result, requests, _) = call(
        "custom_fields.create",
        json!({"label": "Fruit", "type": "single_select",
            "metadata": {"display_type": "dropdown"}, "choices": choices}),
        vec![HttpResponse::json(
            201,
            &json!({"custom_field_id": "f-1", "label": "Fruit", "type": "single_select"}),
        )],
    );
    result.expect("created");
    assert_eq!(requests.len(), 1);
}
