//! Validation: every problem at once, each with its JSON pointer and line:column.

mod common;

use common::{FakeCatalog, workflow};
use plugboard_workflow::{Problem, validate};
use serde_json::json;

fn problems(source: &str) -> Vec<Problem> {
    validate(source, &FakeCatalog::new()).expect_err("the workflow is invalid")
}

fn listing(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("{p}\n")).collect()
}

#[test]
fn the_example_workflow_is_valid() {
    let source = include_str!("fixtures/subscriber.json");
    let valid = validate(source, &FakeCatalog::new()).expect("valid");
    assert_eq!(valid.workflow().steps.len(), 6);
    assert_eq!(valid.connections(), vec![("my-acme", "acme")]);
}

#[test]
fn every_semantic_problem_is_reported_at_once_with_its_location() {
    let found = problems(include_str!("fixtures/invalid.json"));
    insta::assert_snapshot!(listing(&found));
}

#[test]
fn malformed_json_reports_serde_position() {
    let found = problems("{\n  \"name\": \"x\",\n  \"steps\": [\n    {\"id\": \"a\",}\n  ]\n}");
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].line, found[0].column), (4, 16));
    assert!(
        found[0]
            .message
            .starts_with("malformed JSON: trailing comma"),
        "{}",
        found[0]
    );
}

#[test]
fn schema_violations_are_all_reported_with_pointers() {
    let source = r#"{
  "name": 3,
  "steps": [
    { "id": "has space", "call": "acme.contacts.get", "on_error": "sometimes", "concurrency": 0 },
    { "call": "acme.contacts.get", "typo": 1 }
  ]
}"#;
    let found = problems(source);
    insta::assert_snapshot!(listing(&found));
}

#[test]
fn a_literal_input_is_checked_against_the_method_schema() {
    let source = workflow(
        json!({"type": "object"}),
        json!([{"id": "a", "call": "acme.contacts.create", "input": {"list_ids": "x"}}]),
        json!({}),
    );
    let found = problems(&source);
    let messages: Vec<(&str, &str)> = found
        .iter()
        .map(|p| (p.pointer.as_str(), p.message.as_str()))
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0].0, "/steps/0/input");
    assert!(
        messages[0].1.contains("\"email\" is a required property"),
        "{messages:?}"
    );
    assert_eq!(messages[1].0, "/steps/0/input/list_ids");
}

#[test]
fn a_missing_input_is_reported_at_its_step() {
    let source = workflow(
        json!({"type": "object"}),
        json!([{"id": "a", "call": "acme.contacts.create"}]),
        json!({}),
    );
    let found = problems(&source);
    let document: serde_json::Value = serde_json::from_str(&source).expect("JSON");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].pointer, "/steps/0",
        "the step has no `input` to point at"
    );
    assert!(document.pointer(&found[0].pointer).is_some());
    assert!(
        found[0]
            .message
            .contains("\"email\" is a required property"),
        "{}",
        found[0]
    );
}

#[test]
fn problems_in_outputs_and_unknown_inputs_are_found() {
    let source = workflow(
        json!({"type": "object", "properties": {"email": {"type": "string"}}}),
        json!([{"id": "a", "call": "acme.contacts.get", "input": {"id": "{{ inputs.mail }}"}}]),
        json!({"x": "{{ steps.a.output.id }}", "y": "{{ steps.b.output }}"}),
    );
    let found = problems(&source);
    let pointers: Vec<&str> = found.iter().map(|p| p.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        vec!["/steps/0/input/id", "/outputs/y"],
        "{found:?}"
    );
    assert!(
        found[0].message.contains("unknown input `inputs.mail`"),
        "{}",
        found[0]
    );
}

#[test]
fn the_output_of_a_stream_is_unknown_until_its_consumer_ran() {
    let source = workflow(
        json!({}),
        json!([
            {"id": "exp", "call": "acme.contacts.export"},
            {"id": "peek", "call": "acme.contacts.get", "input": {"id": "{{ steps.exp.output.total }}"}},
            {"id": "imp", "for_each": "{{ steps.exp.records }}", "call": "acme.bulk.import", "input": {"contacts": ["{{ item }}"]}},
            {"id": "after", "call": "acme.contacts.get", "input": {"id": "{{ steps.exp.output.total }}"}}
        ]),
        json!({}),
    );
    let found = problems(&source);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].pointer, "/steps/1/input/id");
    assert!(
        found[0].message.contains("known only after step `imp`"),
        "{}",
        found[0]
    );
}

#[test]
fn the_generated_schema_describes_every_field() {
    let schema = plugboard_workflow::schema();
    let text = serde_json::to_string(&schema).expect("json");
    fn walk(value: &serde_json::Value, path: &str, missing: &mut Vec<String>) {
        if let Some(props) = value.get("properties").and_then(|p| p.as_object()) {
            for (name, prop) in props {
                let described = prop.get("description").is_some()
                    || prop.get("$ref").is_some() && prop.get("description").is_some();
                if !described && name != "$schema" {
                    missing.push(format!("{path}/{name}"));
                }
                walk(prop, &format!("{path}/{name}"), missing);
            }
        }
        if let Some(defs) = value.get("$defs").and_then(|d| d.as_object()) {
            for (name, def) in defs {
                walk(def, &format!("#/$defs/{name}"), missing);
            }
        }
    }
    let mut missing = Vec::new();
    walk(
        &serde_json::from_str(&text).expect("json"),
        "#",
        &mut missing,
    );
    assert!(
        missing.is_empty(),
        "fields without description: {missing:?}"
    );
}

#[test]
fn odd_documents_are_problems_not_panics() {
    for (source, expected) in [
        (
            "",
            "1:1: (document): malformed JSON: EOF while parsing a value",
        ),
        (
            "{\n  \"name\": \"x\",\n",
            "3:1: (document): malformed JSON: EOF while parsing a value",
        ),
        (
            "{\"ñäme\": \"x\" ü}",
            "1:14: (document): malformed JSON: expected `,` or `}`",
        ),
        ("[]", "1:1: (document): [] is not of type \"object\""),
        ("{}", "1:1: (document): \"name\" is a required property"),
        (
            "{\"name\": \"x\", \"steps\": []} trailing",
            "1:28: (document): malformed JSON: trailing characters",
        ),
    ] {
        let found = problems(source);
        assert_eq!(found[0].to_string(), expected, "{source:?}");
    }
}

#[test]
fn a_loop_variable_cannot_take_a_name_the_expressions_already_use() {
    for taken in ["loop", "batch", "inputs", "steps", "range"] {
        let source = workflow(
            json!({"type": "object"}),
            json!([{"id": "each", "for_each": ["a", "b"], "as": taken,
                    "call": "acme.contacts.get", "input": {"id": format!("{{{{ {taken} }}}}")}}]),
            json!({}),
        );
        let found = problems(&source);
        assert!(
            found.iter().any(|p| p.pointer == "/steps/0/as"
                && p.message.contains(&format!("`as` cannot be `{taken}`"))),
            "{taken}: {}",
            listing(&found)
        );
    }
}
