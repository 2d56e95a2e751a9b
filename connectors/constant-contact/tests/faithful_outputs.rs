//! Invariant 7 for Constant Contact: outputs keep every field the API returned, and integers the
//! API types as plain `integer` decode whatever their sign, so one odd value never fails a page.

use std::sync::Mutex;
use std::time::Duration;

use constant_contact::ConstantContact;
use plugboard_core::{
    Connector, ConnectorError, DefinedConnector, Host, HttpRequest, HttpResponse, LogLevel,
};
use plugboard_testkit::Harness;
use serde_json::{Value, json};

/// Answers each request with the next scripted response and remembers the requests.
struct Scripted {
    responses: Mutex<Vec<HttpResponse>>,
    requests: Mutex<Vec<HttpRequest>>,
}

impl Scripted {
    fn new(mut responses: Vec<HttpResponse>) -> Self {
        responses.reverse();
        Self {
            responses: Mutex::new(responses),
            requests: Mutex::new(Vec::new()),
        }
    }
}

impl Host for Scripted {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        self.requests.lock().expect("not poisoned").push(request);
        (self.responses.lock().expect("not poisoned").pop()).ok_or_else(|| {
            ConnectorError::Transport {
                message: "no more scripted responses".into(),
            }
        })
    }
    fn emit(&self, _: Value) -> Result<(), ConnectorError> {
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

#[test]
fn fields_no_type_names_and_negative_counts_reach_the_records() {
    let host = Scripted::new(vec![
        HttpResponse::json(
            200,
            &json!({
                "lists": [{"list_id": "l-1", "name": "VIP", "membership_count": -1,
                           "colour": "teal", "owner": {"team": "sales"}}],
                // An absolute link on the API's own host is followed like a relative one.
                "_links": {"next": {"href": "https://api.cc.email/v3/contact_lists?cursor=c2"}}
            }),
        ),
        HttpResponse::json(
            200,
            &json!({"lists": [{"list_id": "l-2", "name": "All", "membership_count": 12_000_000_000_i64}]}),
        ),
    ]);
    let run = Harness::of::<ConstantContact>().call(&host, "contact_lists.list", json!({}));
    assert_eq!(run.ok(), &json!({"count": 2}));
    assert_eq!(run.records[0]["membership_count"], -1);
    assert_eq!(run.records[0]["colour"], "teal");
    assert_eq!(run.records[0]["owner"], json!({"team": "sales"}));
    assert_eq!(run.records[1]["membership_count"], 12_000_000_000_i64);
    let requests = host.requests.lock().expect("not poisoned");
    assert_eq!(requests[1].path, "/contact_lists?cursor=c2");
}

/// The outputs the connector makes up itself (counts of what it streamed, what it deleted,
/// wrappers around an array the API returned): no API object, so nothing unnamed to keep.
const MADE_BY_THE_CONNECTOR: [&str; 16] = [
    "Streamed",
    "Deleted",
    "ListContactsSummary",
    "PollUpdatedOutput",
    "ImportContactsOutput",
    "ScheduleOutput",
    "UserPrivileges",
    // Wrappers of an array the API returns, whose items keep their unnamed fields.
    "AccountEmails",
    "Schedules",
    "SendHistory",
    "Resends",
    "SmsEngagementHistory",
    // What an action whose answer is empty (204) did.
    "Resubscribed",
    "Unscheduled",
    "TestSent",
    "AbTestDeleted",
];

/// Every object schema under `schema` that lists properties but keeps no unnamed field, by name.
fn closed_objects(schema: &Value, name: &str, found: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties")
                && map.get("additionalProperties") != Some(&json!(true))
            {
                let title = map.get("title").and_then(Value::as_str).unwrap_or(name);
                found.push(title.to_owned());
            }
            for (key, value) in map {
                let name = if matches!(key.as_str(), "$defs") {
                    ""
                } else {
                    name
                };
                if let Value::Object(defs) = value
                    && key == "$defs"
                {
                    for (def, schema) in defs {
                        closed_objects(schema, def, found);
                    }
                } else {
                    closed_objects(value, name, found);
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| closed_objects(item, name, found)),
        _ => {}
    }
}

#[test]
fn every_output_that_holds_an_api_object_keeps_what_it_does_not_name() {
    let connector = DefinedConnector::new::<ConstantContact>();
    let mut closed = Vec::new();
    for method in &connector.manifest().methods {
        let schemas = [Some(&method.output_schema), method.record_schema.as_ref()];
        for schema in schemas.into_iter().flatten() {
            closed_objects(&schema.clone().to_value(), &method.id, &mut closed);
        }
    }
    closed.retain(|name| !MADE_BY_THE_CONNECTOR.contains(&name.as_str()));
    assert_eq!(
        closed,
        Vec::<String>::new(),
        "outputs that drop fields the API returns"
    );
}
