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

// ---- paths into step outputs, warnings, excerpts ----

/// A workflow reading the account summary in step `acct`, with `outputs`.
fn account_workflow(outputs: serde_json::Value) -> String {
    workflow(
        json!({}),
        json!([
            {"id": "acct", "call": "acme.account.summary"},
            {"id": "list", "call": "acme.contacts.list"},
            {"id": "each", "for_each": ["a", "b"], "call": "acme.account.summary"}
        ]),
        outputs,
    )
}

#[test]
fn a_misspelt_output_field_is_an_error_with_the_nearest_field() {
    let source = account_workflow(json!({"org": "{{ steps.acct.output.organisation_name }}"}));
    let found = problems(&source);
    assert_eq!(found.len(), 1, "{}", listing(&found));
    assert_eq!(found[0].pointer, "/outputs/org");
    let (line, column) = position_of(&source, "\"{{ steps.acct.output.organisation_name");
    assert_eq!((found[0].line, found[0].column), (line, column));
    assert!(
        found[0].message.starts_with(
            "`steps.acct.output` has no field `organisation_name`; did you mean `organization_name`?"
        ),
        "{}",
        found[0]
    );
}

#[test]
fn paths_through_refs_nullable_objects_arrays_and_subscripts_are_checked() {
    let valid = account_workflow(json!({
        "name": "{{ steps.acct.output.organization_name }}",
        "city": "{{ steps.acct.output.address.city }}",
        "email": "{{ steps.acct.output.emails[0].address ~ steps.acct.output['emails'][-1]['address'] }}",
        "whole": "{{ steps.acct.output }}",
        "count": "{{ steps.list.output.count }}",
        "first": "{{ steps.each.output[0].organization_name }}",
        "dynamic": "{{ steps.acct.output[inputs.key] if inputs.key is defined else 1 }}"
    }));
    let workflow = validate(&valid, &FakeCatalog::new()).expect("valid");
    assert_eq!(workflow.warnings(), &[], "no warnings");

    for (path, expected) in [
        (
            "steps.acct.output.address.town",
            "`steps.acct.output.address` has no field `town`",
        ),
        (
            "steps.acct.output.emails.address",
            "is an array, so it has no field `address`",
        ),
        (
            "steps.acct.output['emails'][0]['adress']",
            "did you mean `address`?",
        ),
        (
            "steps.acct.output.organization_name.first",
            "is a string or null",
        ),
        (
            "steps.list.output.email",
            "go through them with `\"for_each\": \"{{ steps.list.records }}\"`",
        ),
        (
            "steps.each.output.organization_name",
            "step `each` repeats its call",
        ),
    ] {
        let found = problems(&account_workflow(json!({"x": format!("{{{{ {path} }}}}")})));
        assert_eq!(found.len(), 1, "{path}: {}", listing(&found));
        assert!(found[0].message.contains(expected), "{path}: {}", found[0]);
    }
}

#[test]
fn a_field_the_schema_leaves_open_is_a_warning() {
    let source = account_workflow(json!({"theme": "{{ steps.acct.output.settings.theme }}"}));
    let valid = validate(&source, &FakeCatalog::new()).expect("only a warning");
    let warnings = valid.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].pointer, "/outputs/theme");
    assert!(warnings[0].line > 0);
    assert!(
        warnings[0]
            .message
            .contains("`steps.acct.output.settings.theme` cannot be checked before the run"),
        "{}",
        warnings[0]
    );
}

#[test]
fn a_step_result_used_as_a_value_is_an_error() {
    let source = account_workflow(json!({"n": "{{ steps.acct | length }}"}));
    let found = problems(&source);
    assert_eq!(found.len(), 1, "{}", listing(&found));
    assert!(
        found[0].message.contains(
            "`steps.acct` is the step's result, not a value: its output is `steps.acct.output`"
        ),
        "{}",
        found[0]
    );
    let streaming = problems(&account_workflow(json!({"n": "{{ steps.list }}"})));
    assert!(
        streaming[0].message.contains("steps.list.records"),
        "{}",
        streaming[0]
    );
}

#[test]
fn continued_failures_can_be_read_from_the_output() {
    let source = workflow(
        json!({}),
        json!([{"id": "acct", "call": "acme.account.summary", "on_error": "continue"}]),
        json!({"failed": "{{ steps.acct.output.error.message }}", "name": "{{ steps.acct.output.organization_name }}"}),
    );
    let valid = validate(&source, &FakeCatalog::new()).expect("valid");
    assert_eq!(valid.warnings(), &[]);
}

#[test]
fn a_huge_document_of_the_wrong_type_is_quoted_by_an_excerpt() {
    let huge = format!("[{}1]", "1234567890,".repeat(500_000));
    let found = problems(&huge);
    assert_eq!(found.len(), 1);
    let text = found[0].to_string();
    assert!(
        text.len() < 400,
        "{} bytes: {}",
        text.len(),
        &text[..400.min(text.len())]
    );
    assert!(
        text.ends_with("…] is not of type \"object\"")
            || text.contains("… is not of type \"object\""),
        "{text}"
    );

    // A long value in a field is cut too, as is serde's own message quoting it.
    let long_name = workflow(json!({}), json!([]), json!({}))
        .replacen("\"test\"", &format!("{}", json!("x".repeat(100_000))), 1)
        .replacen(
            "\"steps\": []",
            &format!("\"steps\": {}", json!("y".repeat(100_000))),
            1,
        );
    for problem in problems(&long_name) {
        assert!(
            problem.message.len() < 1_000,
            "{} bytes",
            problem.message.len()
        );
    }
}

#[test]
fn many_schema_violations_are_capped() {
    let source = format!("{{\"name\": \"x\", \"steps\": [{}1]}}", "1,".repeat(10_000));
    let found = problems(&source);
    assert!(found.len() <= 101, "{}", found.len());
    assert!(
        found
            .iter()
            .any(|p| p.message.contains("and more problems")),
        "{}",
        listing(&found)
    );
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let source = format!("\u{feff}{}", include_str!("fixtures/subscriber.json"));
    validate(&source, &FakeCatalog::new()).expect("valid");
    // Positions are counted as an editor shows them: without the mark.
    let broken = "\u{feff}{\n  \"name\": 1\n}";
    let found = problems(broken);
    let name = found
        .iter()
        .find(|p| p.pointer == "/name")
        .expect("a problem at /name");
    assert_eq!((name.line, name.column), (2, 11), "{name}");
}

/// The 1-based line and character column where `needle` starts in `text`.
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).expect("needle in text");
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}
