//! The spec's input limits where users meet them, through the real `plugboard` binary against a
//! sandbox: a literal input over a limit fails `validate` with the field's place in the file; a
//! rendered one fails its step with the field named and nothing sent, including inside an
//! optional object (where the schema's "not valid under any of" used to hide the field); and a
//! limit only the connector can check (an imported contact's three addresses) is refused the
//! same way. The limits audit (`constant_contact_limits.rs`) shows every limit is held; this
//! shows what the user is told.

use plugboard_tests::e2e::{EXAMPLE_CONNECTION, Output, Workspace, sandbox_config, start_sandbox};
use serde_json::{Value, json};

/// A workflow whose steps call Constant Contact, with a `text` run input.
fn workflow(steps: Value) -> Value {
    json!({
        "name": "Input limits",
        "connections": {"cc": {"connector": "constant-contact", "connection": EXAMPLE_CONNECTION}},
        "inputs": {"type": "object", "properties": {"text": {"type": "string"}}},
        "steps": steps
    })
}

/// Writes `workflow` into a fresh workspace with a connection to a fresh sandbox; runs
/// `validate`, then (when it passes) `run` with `inputs`. Returns both outputs and how many
/// requests the sandbox saw during the run.
fn validate_and_run(
    name: &str,
    workflow: &Value,
    inputs: &[&str],
) -> (Output, Option<Output>, u64) {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new(name);
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let path = ws.file("workflow.json");
    std::fs::write(&path, serde_json::to_string_pretty(workflow).expect("JSON"))
        .expect("write the workflow");
    let validated = ws.run(&["validate", &path]);
    if !validated.success() {
        return (validated, None, 0);
    }
    let before = sandbox.stats().requests;
    let mut args = vec!["run", path.as_str(), "--no-rate-limits", "--json"];
    for input in inputs {
        args.extend(["--input", input]);
    }
    let out = ws.run(&args);
    let sent = sandbox.stats().requests - before;
    (validated, Some(out), sent)
}

#[test]
fn a_literal_input_over_a_nested_limit_fails_validation_at_the_field() {
    let steps = json!([{
        "id": "upsert",
        "call": "cc.contacts.create_or_update",
        "input": {
            "email_address": "limits@example.com",
            "list_memberships": ["07936f78-662a-11eb-af0a-fa163e56c9b0"],
            "street_address": {"kind": "home", "city": "c".repeat(51)}
        }
    }]);
    let (validated, ran, _) = validate_and_run("limits-literal", &workflow(steps), &[]);
    assert!(ran.is_none() && !validated.success(), "{validated:?}");
    let said = format!("{}{}", validated.stdout, validated.stderr);
    assert!(
        said.contains("/steps/0/input/street_address/city"),
        "names the field inside the optional object: {said}"
    );
    assert!(
        !said.contains("not valid under any of"),
        "the field, not the alternatives: {said}"
    );
}

#[test]
fn a_rendered_input_over_a_nested_limit_fails_its_step_naming_the_field_and_sends_nothing() {
    let steps = json!([{
        "id": "upsert",
        "call": "cc.contacts.create_or_update",
        "input": {
            "email_address": "limits@example.com",
            "list_memberships": ["07936f78-662a-11eb-af0a-fa163e56c9b0"],
            "street_address": {"kind": "home", "city": "{{ inputs.text }}"}
        }
    }]);
    let long = format!("text={}", "c".repeat(51));
    let (_, ran, sent) = validate_and_run("limits-rendered", &workflow(steps), &[&long]);
    let out = ran.expect("valid before the run");
    let error = out.failed()["error"].as_str().expect("an error").to_owned();
    assert_eq!(sent, 0, "no request was sent: {out:?}");
    assert!(error.contains("step `upsert`"), "{error}");
    assert!(error.contains("`/street_address/city`"), "{error}");
    assert!(error.contains("maxLength"), "{error}");
}

#[test]
fn an_imported_contact_with_four_addresses_is_refused_before_sending() {
    let steps = json!([{
        "id": "import",
        "call": "cc.bulk.import_contacts",
        "input": {
            "list_ids": ["07936f78-662a-11eb-af0a-fa163e56c9b0"],
            "contacts": [
                {"email": "one@example.com", "city": "Boston"},
                {"email": "two@example.com", "city": "A", "home_city": "B", "work_city": "C",
                    "other_city": "D"}
            ]
        }
    }]);
    let (_, ran, sent) = validate_and_run("limits-import", &workflow(steps), &[]);
    let out = ran.expect("valid before the run: the schema cannot count addresses");
    assert!(!out.success(), "{out:?}");
    let error = out.failed()["error"].as_str().expect("an error").to_owned();
    assert_eq!(sent, 0, "no request was sent: {out:?}");
    assert!(error.contains("`contacts[1]`"), "{error}");
    assert!(error.contains("4 addresses"), "{error}");
    assert!(error.contains("at most 3"), "{error}");
}

#[test]
fn a_csv_import_row_with_an_unknown_column_fails_validation_at_the_column() {
    let steps = json!([{
        "id": "import",
        "call": "cc.bulk.import_contacts_csv",
        "input": {
            "list_ids": ["07936f78-662a-11eb-af0a-fa163e56c9b0"],
            "rows": [{"email": "one@example.com", "shoe_size": "38"}]
        }
    }]);
    let (validated, ran, _) = validate_and_run("limits-csv-column", &workflow(steps), &[]);
    assert!(ran.is_none() && !validated.success(), "{validated:?}");
    let said = format!("{}{}", validated.stdout, validated.stderr);
    assert!(said.contains("/steps/0/input/rows/0"), "{said}");
    assert!(said.contains("shoe_size"), "names the column: {said}");
}

#[test]
fn a_csv_import_of_sms_numbers_without_a_permission_is_refused_before_sending() {
    let steps = json!([{
        "id": "import",
        "call": "cc.bulk.import_contacts_csv",
        "input": {
            "list_ids": ["07936f78-662a-11eb-af0a-fa163e56c9b0"],
            "rows": [{"email": "one@example.com"}, {"sms_number": "{{ inputs.text }}"}]
        }
    }]);
    let (_, ran, sent) = validate_and_run("limits-csv-sms", &workflow(steps), &["text=5555550123"]);
    let out = ran.expect("valid before the run: the rows decide whether SMS applies");
    let error = out.failed()["error"].as_str().expect("an error").to_owned();
    assert_eq!(sent, 0, "no request was sent: {out:?}");
    assert!(error.contains("rows[1] has an `sms_number`"), "{error}");
    assert!(error.contains("sms_permission_to_send"), "{error}");
}
