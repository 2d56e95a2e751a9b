//! `assert_conforms` and `conformance::check` on hand-written descriptors: what a failure names,
//! how much of a value it quotes, and that each schema is compiled once.

use plugboard_core::{MethodDescriptor, MethodKind, OutputShape};
use plugboard_testkit::conformance::{
    self, MAX_EXCERPT_CHARS, MAX_LISTED_PROBLEMS, Part, times_compiled,
};
use plugboard_testkit::{Nonconformance, assert_conforms};
use schemars::{Schema, json_schema};
use serde_json::{Value, json};

/// A contact as a schemars-generated schema describes it: a `$ref` into `$defs`.
fn contact_schema() -> Schema {
    json_schema!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Contact",
        "type": "object",
        "properties": {
            "contact_id": {"type": "string"},
            "email_address": {"$ref": "#/$defs/EmailAddress"},
            "score": {"type": "integer", "format": "uint64", "minimum": 0}
        },
        "required": ["contact_id"],
        "$defs": {
            "EmailAddress": {
                "type": "object",
                "properties": {"address": {"type": "string"}},
                "required": ["address"]
            }
        }
    })
}

fn descriptor(id: &str, output_schema: Schema, record_schema: Option<Schema>) -> MethodDescriptor {
    MethodDescriptor {
        id: id.into(),
        name: "Test".into(),
        category: "Tests".into(),
        description: "A method under test.".into(),
        kind: MethodKind::Action,
        output: if record_schema.is_some() {
            OutputShape::Records
        } else {
            OutputShape::One
        },
        idempotent: true,
        input_schema: json_schema!({}),
        output_schema,
        record_schema,
        finds_effect: false,
        poll_cursor: None,
        cost: Default::default(),
    }
}

fn count_schema() -> Schema {
    json_schema!({
        "type": "object",
        "properties": {"count": {"type": "integer", "format": "uint64", "minimum": 0}},
        "required": ["count"]
    })
}

fn failure(descriptor: &MethodDescriptor, output: Option<&Value>, records: &[Value]) -> String {
    let payload = std::panic::catch_unwind(|| assert_conforms(descriptor, output, records))
        .expect_err("the assertion fails");
    payload
        .downcast_ref::<String>()
        .cloned()
        .expect("a formatted message")
}

#[test]
fn a_conforming_output_and_records_pass() {
    let contacts = descriptor("contacts.get", contact_schema(), None);
    assert_conforms(
        &contacts,
        Some(
            &json!({"contact_id": "c-1", "email_address": {"address": "a@example.com"}, "score": 3, "extra": true}),
        ),
        &[],
    );
    let list = descriptor("contacts.list", count_schema(), Some(contact_schema()));
    assert_conforms(
        &list,
        Some(&json!({"count": 2})),
        &[json!({"contact_id": "c-1"}), json!({"contact_id": "c-2"})],
    );
    // A failed call: only the records (none here) are checked.
    assert_conforms(&list, None, &[]);
}

#[test]
fn a_bad_output_fails_naming_the_method_the_pointer_and_the_rule() {
    let contacts = descriptor("contacts.get", contact_schema(), None);
    let message = failure(
        &contacts,
        Some(&json!({"contact_id": "c-1", "email_address": {"address": 42}, "score": -1})),
        &[],
    );
    assert_eq!(
        message,
        "`contacts.get` does not conform to its declared schemas (2 problems):\n  \
         - the output at `/email_address/address`: 42 is not of type \"string\" \
         (rule `type` at `/$defs/EmailAddress/properties/address/type` of the output_schema)\n  \
         - the output at `/score`: -1 is less than the minimum of 0 \
         (rule `minimum` at `/properties/score/minimum` of the output_schema)"
    );

    // A missing property is named by its own pointer: the field a test asserts on.
    let missing = failure(&contacts, Some(&json!({"email_address": {}})), &[]);
    assert!(
        missing.contains("the output at `/contact_id`: \"contact_id\" is a required property (rule `required` at `/required`"),
        "{missing}"
    );
    assert!(
        missing
            .contains("the output at `/email_address/address`: \"address\" is a required property"),
        "{missing}"
    );
}

#[test]
fn a_bad_record_is_named_by_its_index_and_checked_against_the_record_schema() {
    let list = descriptor("contacts.list", count_schema(), Some(contact_schema()));
    let error = conformance::check(
        &list,
        Some(&json!({"count": 3})),
        &[
            json!({"contact_id": "c-1"}),
            json!({"contact_id": "c-2"}),
            json!({"contact_id": ["c-3"]}),
        ],
    )
    .expect_err("record 2 is bad");
    assert_eq!(error.method, "contacts.list");
    assert_eq!(error.problems.len(), 1);
    let problem = &error.problems[0];
    assert_eq!(problem.part, Part::Record(2));
    assert_eq!(problem.pointer, "/contact_id");
    assert_eq!(problem.keyword, "type");
    assert_eq!(problem.rule, "/properties/contact_id/type");
    assert!(
        error.to_string().contains(
            "record 2 at `/contact_id`: [\"c-3\"] is not of type \"string\" \
             (rule `type` at `/properties/contact_id/type` of the record_schema)"
        ),
        "{error}"
    );
}

#[test]
fn records_from_a_method_that_declares_none_fail() {
    let get = descriptor("contacts.get", contact_schema(), None);
    let message = failure(
        &get,
        Some(&json!({"contact_id": "c-1"})),
        &[json!({"x": 1})],
    );
    assert!(
        message.starts_with("`contacts.get` does not conform"),
        "{message}"
    );
    assert!(
        message.contains(
            "record 0 at `(the whole value)`: 1 record(s) emitted, but the method declares none \
             (first: {\"x\":1}) (rule `false` of the record_schema)"
        ),
        "{message}"
    );
}

#[test]
fn a_huge_value_is_quoted_by_an_excerpt() {
    let counts = descriptor("things.count", count_schema(), None);
    let huge = "x".repeat(1_000_000);
    let message = failure(&counts, Some(&json!({"count": huge})), &[]);
    assert!(message.len() < 400, "{} characters", message.len());
    let quoted = format!("\"{}…", "x".repeat(MAX_EXCERPT_CHARS - 1));
    assert!(message.contains(&quoted), "{message}");
    assert!(message.contains("at `/count`"), "{message}");
}

#[test]
fn many_problems_are_listed_up_to_a_bound_and_counted() {
    let list = descriptor("contacts.list", count_schema(), Some(contact_schema()));
    let bad: Vec<Value> = (0..1_000).map(|n| json!({"contact_id": n})).collect();
    let error: Nonconformance =
        conformance::check(&list, Some(&json!({"count": 1_000})), &bad).expect_err("all bad");
    assert_eq!(error.problems.len(), MAX_LISTED_PROBLEMS);
    assert_eq!(error.unlisted, 1_000 - MAX_LISTED_PROBLEMS);
    let message = error.to_string();
    assert!(message.contains("(1000 problems)"), "{message}");
    assert!(message.ends_with("\n  - and 990 more"), "{message}");
    assert!(message.lines().count() < 15, "{message}");
}

#[test]
fn each_schema_is_compiled_once_and_reused() {
    // A schema no other test uses, so parallel tests cannot compile it.
    let schema = json_schema!({
        "$comment": "each_schema_is_compiled_once_and_reused",
        "type": "object",
        "properties": {"count": {"type": "integer", "minimum": 0}}
    });
    let counts = descriptor("things.count", schema.clone(), Some(schema.clone()));
    assert_eq!(times_compiled(schema.as_value()), 0);
    for n in 0..50 {
        assert_conforms(&counts, Some(&json!({"count": n})), &[json!({"count": n})]);
    }
    let copy = descriptor("things.count", schema.clone(), None);
    assert_conforms(&copy, Some(&json!({"count": 1})), &[]);
    assert_eq!(
        times_compiled(schema.as_value()),
        1,
        "100 outputs and records of two descriptors with the same schema: one compilation"
    );
}

#[test]
fn a_schema_that_does_not_compile_is_reported() {
    let broken = descriptor("things.count", json_schema!({"type": 5}), None);
    let message = failure(&broken, Some(&json!({})), &[]);
    assert!(
        message.contains("the declared schema does not compile"),
        "{message}"
    );
}
