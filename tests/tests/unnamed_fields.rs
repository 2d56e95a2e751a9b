//! Invariant 7 through the real binary: a field of an API response that no output type of the
//! connector names still reaches the workflow, which can validate and map it like any other.
//!
//! The Constant Contact account summary carries `encoded_partner_id` (in the API's contract, and
//! sent by the sandbox), which `AccountSummary` does not name. The http connector's outputs are
//! the API's JSON as it came; `http_connector.rs` maps such fields end to end.

use plugboard_tests::e2e::Workspace;
use serde_json::json;

#[test]
fn a_response_field_no_output_type_names_reaches_the_workflow() {
    let ws = Workspace::new("unnamed-fields");
    let workflow = json!({
        "name": "Unnamed fields",
        "connections": {
            "cc": {"connector": "constant-contact", "connection": "constant-contact"}
        },
        "steps": [{"id": "acct", "call": "cc.account.get_summary"}],
        "outputs": {
            "partner": "{{ steps.acct.output.encoded_partner_id }}",
            "organization": "{{ steps.acct.output.organization_name }}"
        }
    });
    let file = ws.dir().join("unnamed.json");
    std::fs::write(&file, workflow.to_string()).expect("writes the workflow");
    let file = file.to_string_lossy().into_owned();

    // Validation knows the field may be there (the output keeps what it does not name)...
    let validated = ws.run(&["validate", &file, "--sandbox"]);
    assert!(validated.success(), "{validated:?}");

    // ...and the run maps it.
    let run = ws.run(&[
        "run",
        &file,
        "--sandbox",
        "--sandbox-unlimited",
        "--no-rate-limits",
        "--json",
    ]);
    let outputs = &run.finished()["outputs"];
    assert_eq!(outputs["partner"], "a37sandbox95el", "{run:?}");
    assert_eq!(outputs["organization"], "Plugboard Sandbox Inc.");
}
