//! The dry-run plan: steps, known inputs, first requests and request counts.

mod common;

use common::FakeCatalog;
use plugboard_core::HttpRequest;
use plugboard_workflow::{NoProbe, PlanProbe, RequestCount, plan, validate};
use serde_json::{Map, Value, json};

/// Answers like a connector run against a recording host would.
struct Probe;

impl PlanProbe for Probe {
    fn first_request(&self, connection: &str, method: &str, input: &Value) -> Option<HttpRequest> {
        assert_eq!(connection, "my-acme");
        match method {
            "contacts.create" => HttpRequest::post("/contacts").json(input).ok(),
            "contacts.export" => Some(HttpRequest::get("/contacts").query("limit", 500)),
            _ => None,
        }
    }
}

fn example_inputs() -> Map<String, Value> {
    match json!({"email": "ada@example.com", "out": "contacts.jsonl", "file": "new.jsonl"}) {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

#[test]
fn the_plan_shows_steps_requests_and_costs() {
    let wf = validate(
        include_str!("fixtures/subscriber.json"),
        &FakeCatalog::new(),
    )
    .expect("valid");
    let plan = plan(&wf, &example_inputs(), &Probe);
    assert!(plan.input_problems.is_empty());
    assert_eq!(plan.requests, RequestCount::AtLeast(5));
    insta::assert_snapshot!(plan.to_string());
    insta::assert_json_snapshot!(serde_json::to_value(&plan.steps[0]).expect("json"));
}

#[test]
fn the_plan_reports_input_problems() {
    let wf = validate(
        include_str!("fixtures/subscriber.json"),
        &FakeCatalog::new(),
    )
    .expect("valid");
    let plan = plan(&wf, &Map::new(), &NoProbe);
    let pointers: Vec<&str> = plan
        .input_problems
        .iter()
        .map(|p| p.message.as_str())
        .collect();
    assert_eq!(plan.input_problems.len(), 3, "{pointers:?}");
    assert!(
        plan.to_string()
            .contains("input problem: (document): run input: \"email\" is a required property"),
        "{plan}"
    );
}
