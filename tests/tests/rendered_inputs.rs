//! Rendered inputs are checked against the method's input schema before the call, through the
//! real `plugboard` binary: validation can only check literal inputs, so an input built from
//! expressions that breaks the schema must fail its step at run time with the step and the field
//! named, a non-zero exit, only an excerpt of the value, and no request sent.

use plugboard_tests::e2e::{EXAMPLE_CONNECTION, Output, Workspace, sandbox_config, start_sandbox};
use serde_json::{Value, json};

/// A workflow whose steps call Constant Contact with inputs taken from the run inputs.
fn workflow(steps: Value) -> Value {
    json!({
        "name": "Rendered inputs",
        "connections": {"cc": {"connector": "constant-contact", "connection": EXAMPLE_CONNECTION}},
        "inputs": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "source": {"type": "string"},
                "list": {"type": "object"}
            }
        },
        "steps": steps
    })
}

/// Runs `workflow` against a sandbox the test holds and returns the output and the number of
/// requests the sandbox saw.
fn run(name: &str, workflow: &Value, inputs: &[&str]) -> (Output, u64, Workspace) {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new(name);
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let path = ws.file("workflow.json");
    std::fs::write(&path, workflow.to_string()).expect("write the workflow");
    let validated = ws.run(&["validate", &path]);
    assert!(validated.success(), "valid before the run: {validated:?}");
    let before = sandbox.stats().requests;
    let mut args = vec!["run", path.as_str(), "--no-rate-limits", "--json"];
    for input in inputs {
        args.extend(["--input", input]);
    }
    let out = ws.run(&args);
    let sent = sandbox.stats().requests - before;
    (out, sent, ws)
}

fn failure(out: &Output) -> String {
    let failed = out.failed();
    failed["error"].as_str().expect("an error").to_owned()
}

#[test]
fn a_rendered_input_over_max_length_fails_before_any_request() {
    let steps = json!([
        {"id": "list", "call": "cc.contact_lists.create", "input": {"name": "{{ inputs.name }}"}}
    ]);
    let long = format!("name={}", "n".repeat(5_000));
    let (out, sent, _ws) = run("rendered-max-length", &workflow(steps), &[&long]);
    let error = failure(&out);
    assert_eq!(sent, 0, "no request was sent: {out:?}");
    assert!(error.contains("step `list`"), "{error}");
    assert!(error.contains("`/name`"), "names the field: {error}");
    assert!(error.contains("maxLength"), "names the rule: {error}");
    assert!(
        !out.stdout.contains(&"n".repeat(500)) && !out.stderr.contains(&"n".repeat(500)),
        "only an excerpt of the value: {out:?}"
    );
}

#[test]
fn a_rendered_value_outside_the_allowed_ones_fails_before_any_request() {
    // `create_source` is one of `Contact` or `Account` (a `oneOf` of constants).
    let steps = json!([
        {"id": "account", "call": "cc.account.get_summary"},
        {
            "id": "contact",
            "call": "cc.contacts.create",
            "input": {
                "create_source": "{{ inputs.source }}",
                "email_address": {"address": "rendered@example.com"}
            }
        }
    ]);
    let (out, sent, _ws) = run("rendered-enum", &workflow(steps), &["source=Robot"]);
    let error = failure(&out);
    assert_eq!(sent, 1, "only the first step's request: {out:?}");
    assert!(error.contains("step `contact`"), "{error}");
    assert!(error.contains("`/create_source`"), "{error}");
    assert!(error.contains("Robot"), "quotes the short value: {error}");
}

#[test]
fn a_rendered_input_missing_a_required_field_fails_before_any_request() {
    // The whole input is one expression: validation cannot know its fields.
    let steps = json!([
        {"id": "list", "call": "cc.contact_lists.create", "input": "{{ inputs.list }}"}
    ]);
    let (out, sent, _ws) = run(
        "rendered-required",
        &workflow(steps),
        &[r#"list={"favorite": true}"#],
    );
    let error = failure(&out);
    assert_eq!(sent, 0, "no request was sent: {out:?}");
    assert!(error.contains("step `list`"), "{error}");
    assert!(error.contains("required"), "{error}");
    assert!(error.contains("name"), "names the missing field: {error}");
}

#[test]
fn a_valid_rendered_input_is_sent() {
    let steps = json!([
        {"id": "list", "call": "cc.contact_lists.create", "input": {"name": "{{ inputs.name }}"}}
    ]);
    let (out, sent, _ws) = run("rendered-valid", &workflow(steps), &["name=Rendered list"]);
    out.finished();
    assert_eq!(sent, 1, "{out:?}");
}
