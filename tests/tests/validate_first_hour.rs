//! `plugboard validate` as a new user meets it in their first hour: a misspelt field of a step's
//! output, a step used where its output was meant, a file that is not a workflow at all, a file an
//! editor saved with a byte order mark.
//!
//! Every test runs the real binary on a file in a fresh directory, with its own state file.

use std::path::{Path, PathBuf};
use std::process::Output;

use plugboard_tests::{plugboard_binary, temp_dir, workspace_root};
use serde_json::{Value, json};

/// A directory with a state file and the workflow files of one test.
struct Scratch {
    dir: plugboard_tests::TestDir,
}

impl Scratch {
    fn new(name: &str) -> Self {
        Self {
            dir: temp_dir(&format!("first-hour-{name}")),
        }
    }

    /// Writes `contents` to `name` in the directory.
    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, contents).expect("writes the file");
        path
    }

    /// Runs `plugboard --state <dir>/state.db <args>` from the repository root, where the
    /// examples' default paths point.
    fn plugboard(&self, args: &[&str]) -> Output {
        let state = self.dir.join("state.db");
        std::process::Command::new(plugboard_binary())
            .current_dir(workspace_root())
            .arg("--state")
            .arg(&state)
            .args(args)
            .env_remove("PLUGBOARD_PLUGIN_PATH")
            .env_remove("PLUGBOARD_STATE")
            .output()
            .expect("plugboard runs")
    }

    /// `plugboard validate FILE --sandbox` (the Constant Contact connection is the sandbox's).
    fn validate(&self, file: &Path, extra: &[&str]) -> Output {
        let file = file.to_string_lossy().into_owned();
        let mut args = vec!["validate", file.as_str(), "--sandbox"];
        args.extend_from_slice(extra);
        self.plugboard(&args)
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A workflow reading the Constant Contact account summary in step `acct` (and listing the
/// contact lists in step `lists`, when `with_lists`), with these outputs, pretty-printed.
fn account_workflow(outputs: Value, with_lists: bool) -> String {
    let mut steps = vec![json!({"id": "acct", "call": "cc.account.get_summary"})];
    if with_lists {
        steps.push(json!({"id": "lists", "call": "cc.contact_lists.list"}));
    }
    serde_json::to_string_pretty(&json!({
        "name": "First hour",
        "connections": {
            "cc": {"connector": "constant-contact", "connection": "constant-contact"}
        },
        "steps": steps,
        "outputs": outputs,
    }))
    .expect("serializes")
}

/// The 1-based line and character column where `needle` starts in `text`.
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let offset = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` is not in:\n{text}"));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// The line of `text` that starts with `prefix`.
fn line_with(text: &str, prefix: &str) -> String {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starts with `{prefix}` in:\n{text}"))
        .to_owned()
}

#[test]
fn a_misspelt_output_field_fails_at_its_position_with_the_nearest_field() {
    let scratch = Scratch::new("misspelt");
    let text = account_workflow(
        json!({"organization": "{{ steps.acct.output.organisation_name }}"}),
        false,
    );
    let file = scratch.write("account.json", &text);
    let out = scratch.validate(&file, &[]);
    assert!(!out.status.success(), "{out:?}");
    let (line, column) = position_of(&text, "\"{{ steps.acct.output.organisation_name");
    let found = line_with(
        &stderr(&out),
        &format!(
            "{}:{line}:{column}: /outputs/organization: ",
            file.display()
        ),
    );
    assert!(
        found.contains(
            "`steps.acct.output` has no field `organisation_name`; did you mean `organization_name`?"
        ),
        "{found}"
    );
    assert!(stderr(&out).contains(": 1 problem\n"), "{out:?}");
}

#[test]
fn the_right_field_passes_and_one_step_is_one_step() {
    let scratch = Scratch::new("right-field");
    let one = scratch.write(
        "one.json",
        account_workflow(
            json!({"organization": "{{ steps.acct.output.organization_name }}"}),
            false,
        ),
    );
    let out = scratch.validate(&one, &[]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout(&out),
        format!("{}: valid (1 step)\n", one.display()),
        "{out:?}"
    );
    assert!(!stderr(&out).contains("warning"), "{out:?}");

    let two = scratch.write(
        "two.json",
        account_workflow(
            json!({
                "city": "{{ steps.acct.output.physical_address.city if steps.acct.output.physical_address else '' }}",
                "lists": "{{ steps.lists.output.count }}"
            }),
            true,
        ),
    );
    let out = scratch.validate(&two, &[]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout(&out),
        format!("{}: valid (2 steps)\n", two.display())
    );
}

#[test]
fn a_field_under_a_free_form_value_warns_and_still_passes() {
    let scratch = Scratch::new("free-form");
    // The generic `http` connector's `http.request` returns the response `body` as any JSON, so
    // what is inside cannot be known before the run. Installing its connection needs no network.
    let connect = scratch.plugboard(&[
        "connect",
        "http",
        "--name",
        "api",
        "--set",
        "base_url=https://api.example.invalid/v1",
    ]);
    assert!(connect.status.success(), "{connect:?}");
    let text = serde_json::to_string_pretty(&json!({
        "name": "Post an event",
        "connections": {"api": {"connector": "http", "connection": "api"}},
        "steps": [
            {"id": "event", "call": "api.http.request",
             "input": {"method": "POST", "path": "/events", "body": {"kind": "test"}}}
        ],
        "outputs": {
            "status": "{{ steps.event.output.status }}",
            "id": "{{ steps.event.output.body.id }}"
        }
    }))
    .expect("serializes");
    let file = scratch.write("event.json", &text);
    let out = scratch.validate(&file, &[]);
    assert!(out.status.success(), "warnings alone pass: {out:?}");
    assert_eq!(
        stdout(&out),
        format!("{}: valid (1 step, 1 warning)\n", file.display())
    );
    let (line, column) = position_of(&text, "\"{{ steps.event.output.body.id");
    let warning = line_with(
        &stderr(&out),
        &format!("{}:{line}:{column}: warning: /outputs/id: ", file.display()),
    );
    assert!(
        warning.contains("`steps.event.output.body.id` cannot be checked before the run"),
        "{warning}"
    );

    let json_out = scratch.validate(&file, &["--json"]);
    assert!(json_out.status.success(), "{json_out:?}");
    let listing: Value = serde_json::from_str(stdout(&json_out).trim()).expect("JSON on stdout");
    assert_eq!(listing["problems"], json!([]), "{listing}");
    assert_eq!(
        listing["warnings"][0]["pointer"], "/outputs/id",
        "{listing}"
    );
    assert_eq!(listing["warnings"][0]["line"], line, "{listing}");
    assert_eq!(listing["warnings"][0]["column"], column, "{listing}");
}

#[test]
fn a_step_used_as_a_value_fails() {
    let scratch = Scratch::new("step-as-value");
    let text = account_workflow(json!({"lists": "{{ steps.lists | length }}"}), true);
    let file = scratch.write("lists.json", &text);
    let out = scratch.validate(&file, &[]);
    assert!(!out.status.success(), "{out:?}");
    let (line, column) = position_of(&text, "\"{{ steps.lists | length");
    let found = line_with(
        &stderr(&out),
        &format!("{}:{line}:{column}: /outputs/lists: ", file.display()),
    );
    assert!(
        found.contains(
            "`steps.lists` is the step's result, not a value: its output is `steps.lists.output`"
        ),
        "{found}"
    );
    assert!(found.contains("{{ steps.lists.records }}"), "{found}");
}

#[test]
fn a_huge_document_that_is_not_a_workflow_is_not_echoed() {
    let scratch = Scratch::new("huge-array");
    let mut text = String::with_capacity(5_300_000);
    text.push('[');
    while text.len() < 5 * 1024 * 1024 {
        text.push_str("{\"email\": \"someone@example.com\", \"n\": 12345},");
    }
    text.push_str("{}]");
    let file = scratch.write("contacts.json", &text);
    for extra in [&[][..], &["--json"][..]] {
        let out = scratch.validate(&file, extra);
        assert!(!out.status.success(), "{extra:?}: not a workflow");
        assert_eq!(out.status.code(), Some(1), "{extra:?}: a plain failure");
        let printed = out.stdout.len() + out.stderr.len();
        assert!(
            printed < 1_000,
            "{extra:?}: {printed} bytes printed, starting with:\n{}",
            &stderr(&out).chars().take(500).collect::<String>()
        );
        assert!(!stderr(&out).contains("panicked"), "{out:?}");
    }
    let out = scratch.validate(&file, &[]);
    let found = line_with(
        &stderr(&out),
        &format!("{}:1:1: (document): ", file.display()),
    );
    assert!(found.contains("…"), "the value is cut: {found}");
    assert!(found.ends_with("is not of type \"object\""), "{found}");
}

#[test]
fn a_file_saved_with_a_byte_order_mark_validates() {
    let scratch = Scratch::new("bom");
    let text = account_workflow(
        json!({"organization": "{{ steps.acct.output.organization_name }}"}),
        false,
    );
    let mut bytes = "\u{feff}".as_bytes().to_vec();
    bytes.extend_from_slice(text.as_bytes());
    let file = scratch.write("bom.json", bytes);
    let out = scratch.validate(&file, &[]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout(&out),
        format!("{}: valid (1 step)\n", file.display())
    );
}

#[test]
fn the_bulk_import_plan_counts_the_calls_of_its_file() {
    let scratch = Scratch::new("bulk-plan");
    let out = scratch.plugboard(&["run", "examples/bulk-import.json", "--sandbox", "--dry-run"]);
    assert!(out.status.success(), "{out:?}");
    let plan = stdout(&out);
    // `examples/data/contacts.csv` has 1,200 rows, imported in batches of 500.
    assert!(
        plan.contains("for each: 1,200 records of `rows` (streamed), in batches of 500"),
        "{plan}"
    );
    assert!(
        plan.contains("requests: 3 (1,200 records of `rows` in batches of 500)"),
        "{plan}"
    );
    assert!(
        plan.contains("Requests (against the API quota): 5\n"),
        "{plan}"
    );
    assert!(!plan.contains('≥'), "{plan}");

    // Without the file, the count says what it depends on.
    let missing = scratch
        .dir
        .join("missing.csv")
        .to_string_lossy()
        .into_owned();
    let input = format!("file={missing}");
    let out = scratch.plugboard(&[
        "run",
        "examples/bulk-import.json",
        "--sandbox",
        "--dry-run",
        "--input",
        &input,
    ]);
    assert!(out.status.success(), "{out:?}");
    let plan = stdout(&out);
    assert!(
        plan.contains("requests: 1 per batch of 500 records of `rows`"),
        "{plan}"
    );
    assert!(
        plan.contains(
            "Requests (against the API quota): at least 2\n  plus 1 per batch of 500 records of `rows` (step `import`)"
        ),
        "{plan}"
    );
}
