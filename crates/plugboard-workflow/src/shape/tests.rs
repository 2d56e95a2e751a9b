use super::*;

fn output(schema: &Value) -> StepOutput<'_> {
    StepOutput {
        shape: Shape::schema(schema),
        method: Some("acct.get".to_owned()),
        records: None,
        repeated: false,
    }
}

fn path(text: &str) -> Vec<Segment> {
    text.split('.')
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<i64>() {
            Ok(n) => Segment::Index(n),
            Err(_) => Segment::Key(s.to_owned()),
        })
        .collect()
}

fn finding(schema: &Value, at: &str) -> Option<Finding> {
    check(&output(schema), "acct", &path(at))
}

fn error(schema: &Value, at: &str) -> String {
    match finding(schema, at) {
        Some(Finding::Error(message)) => message,
        other => panic!("expected an error at `{at}`, got {other:?}"),
    }
}

fn warning(schema: &Value, at: &str) -> String {
    match finding(schema, at) {
        Some(Finding::Warning(message)) => message,
        other => panic!("expected a warning at `{at}`, got {other:?}"),
    }
}

fn account() -> Value {
    json!({
        "type": "object",
        "properties": {
            "organization_name": {"type": ["string", "null"]},
            "address": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}]},
            "emails": {"type": "array", "items": {"$ref": "#/$defs/Email"}},
            "extra": {"type": "object"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "body": {"description": "Anything."},
            "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"$ref": "#/$defs/Email"}]}
        },
        "allOf": [{"properties": {"plan": {"type": "string"}}}],
        "$defs": {
            "Address": {"type": "object", "properties": {"city": {"type": "string"}}},
            "Email": {
                "oneOf": [
                    {"type": "object", "properties": {"address": {"type": "string"}}},
                    {"type": "object", "properties": {"pending": {"type": "boolean"}}}
                ]
            }
        }
    })
}

#[test]
fn listed_fields_pass_through_refs_combinators_and_arrays() {
    let schema = account();
    for ok in [
        "",
        "organization_name",
        "plan",
        "address.city",
        "emails.0.address",
        "emails.-1.pending",
        "pair.1.address",
        "organization_name.0",
    ] {
        assert_eq!(finding(&schema, ok), None, "{ok}");
    }
}

#[test]
fn a_misspelt_field_is_an_error_with_the_nearest_field() {
    let schema = account();
    let message = error(&schema, "organisation_name");
    assert!(
        message.starts_with("`steps.acct.output` has no field `organisation_name`; did you mean `organization_name`?"),
        "{message}"
    );
    let far = error(&schema, "zzz");
    assert!(!far.contains("did you mean"), "{far}");
    assert!(
        far.contains("(the output of `acct.get` has organization_name, address,"),
        "{far}"
    );
    let nested = error(&schema, "address.town");
    assert!(
        nested.starts_with("`steps.acct.output.address` has no field `town` (its fields: city)"),
        "{nested}"
    );
}

#[test]
fn fields_of_values_that_have_none_are_errors() {
    let schema = account();
    let string = error(&schema, "organization_name.first");
    assert!(
        string.contains("is a string or null, so it has no field `first`"),
        "{string}"
    );
    let array = error(&schema, "emails.address");
    assert!(
        array.contains("pick one element (`steps.acct.output.emails[0].address`)"),
        "{array}"
    );
    let alternatives = error(&schema, "emails.0.other");
    assert!(
        alternatives.contains("(its fields: address, pending)"),
        "{alternatives}"
    );
    let index = error(&schema, "address.0");
    assert!(
        index.contains("is an object or null, not an array"),
        "{index}"
    );
}

#[test]
fn open_parts_are_warnings() {
    let schema = account();
    for open in ["extra.anything", "labels.x", "body.id"] {
        let message = warning(&schema, open);
        assert!(
            message.contains("cannot be checked before the run"),
            "{message}"
        );
    }
    assert!(warning(&json!({}), "x").contains("`acct.get`"));
}

#[test]
fn unnamed_api_fields_are_open_but_a_near_miss_is_a_typo() {
    let schema = json!({
        "type": "object",
        "properties": {"organization_name": {"type": "string"}, "created_at": {"type": "string"}},
        "additionalProperties": true,
        "x-plugboard-unnamed": true
    });
    let typo = error(&schema, "organisation_name");
    assert!(typo.contains("did you mean `organization_name`?"), "{typo}");
    for unnamed in ["created_by", "sms_channel", "anything"] {
        assert!(
            warning(&schema, unnamed).contains("cannot be checked before the run"),
            "{unnamed}"
        );
    }
}

#[test]
fn self_referring_schemas_end() {
    let schema = json!({"$ref": "#", "allOf": [{"$ref": "#"}]});
    assert!(matches!(finding(&schema, "a.b"), Some(Finding::Warning(_))));
}

#[test]
fn repeated_steps_and_streams_say_where_the_data_is() {
    let schema = account();
    let repeated = StepOutput {
        shape: Shape::Array(Box::new(Shape::schema(&schema))),
        method: Some("acct.get".to_owned()),
        records: None,
        repeated: true,
    };
    let Some(Finding::Error(message)) = check(&repeated, "acct", &path("plan")) else {
        panic!("an error");
    };
    assert!(message.contains("repeats its call"), "{message}");
    assert_eq!(check(&repeated, "acct", &path("0.plan")), None);

    let summary = json!({"type": "object", "properties": {"count": {"type": "integer"}}});
    let streamed = StepOutput {
        shape: Shape::schema(&summary),
        method: Some("contacts.list".to_owned()),
        records: Some(&schema),
        repeated: false,
    };
    let Some(Finding::Error(message)) = check(&streamed, "list", &path("plan")) else {
        panic!("an error");
    };
    assert!(message.contains("steps.list.records"), "{message}");
}

#[test]
fn continued_errors_are_part_of_the_output() {
    let schema = account();
    let continued = StepOutput {
        shape: Shape::schema(&schema).or_continued_error(),
        method: None,
        records: None,
        repeated: false,
    };
    assert_eq!(check(&continued, "a", &path("error.message")), None);
    assert_eq!(check(&continued, "a", &path("plan")), None);
    assert!(matches!(
        check(&continued, "a", &path("nope")),
        Some(Finding::Error(_))
    ));
}

#[test]
fn nearest_names() {
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(nearest("Name", &["name", "names"]), Some("name"));
    assert_eq!(nearest("id", &["list_id"]), None);
}
