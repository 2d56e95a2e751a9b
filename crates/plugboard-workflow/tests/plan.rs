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

#[test]
fn a_loop_over_a_file_that_is_there_is_counted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("new.jsonl");
    std::fs::write(
        &file,
        "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n\n{\"n\":4}\n{\"n\":5}\n",
    )
    .expect("writes");
    let wf = validate(
        include_str!("fixtures/subscriber.json"),
        &FakeCatalog::new(),
    )
    .expect("valid");
    let mut inputs = example_inputs();
    inputs.insert("file".into(), json!(file.to_str().expect("utf-8 path")));
    let plan = plan(&wf, &inputs, &NoProbe);
    let import = &plan.steps[4];
    assert_eq!(
        import.requests,
        RequestCount::Exact(3),
        "5 records in batches of 2"
    );
    assert_eq!(
        import.for_each.as_ref().and_then(|each| each.elements),
        Some(5)
    );
    let text = plan.to_string();
    assert!(
        text.contains("for each: 5 records of `read` (streamed), in batches of 2"),
        "{text}"
    );
    assert!(
        text.contains("requests: 3 (5 records of `read` in batches of 2)"),
        "{text}"
    );
    // Only the pages of the export and the condition are left to say.
    assert_eq!(plan.requests, RequestCount::AtLeast(8));
    assert!(!text.contains("per batch"), "{text}");
}
