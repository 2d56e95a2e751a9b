//! Workflows end to end through the real `plugboard` binary: every example against the sandbox
//! (`--sandbox`, and against a sandbox the test holds, to check the data), and every kind of
//! validation error `plugboard validate` reports. Each command's output is checked for secrets by
//! the [`Workspace`] that ran it.

use plugboard_runner::{ConnectionRecord, ConnectionStore as _, TokenSet, TokenStore as _};
use plugboard_tests::e2e::{
    EXAMPLE_CONNECTION, Output, StoredTokens, Workspace, example, fixture, jsonl, position_of,
    sandbox_config, start_sandbox,
};
use plugboard_tests::wait;
use serde_json::{Value, json};

/// Flags of every `--sandbox` run: the limiter and the sandbox's limits are not under test here.
const FAST_SANDBOX: [&str; 4] = [
    "--sandbox",
    "--sandbox-unlimited",
    "--no-rate-limits",
    "--json",
];

fn path(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

/// `plugboard run <workflow> --sandbox ... --input k=v...`.
fn run_sandboxed(ws: &Workspace, workflow: &str, inputs: &[String]) -> Output {
    let workflow = path(&example(workflow));
    let mut args = vec!["run", workflow.as_str()];
    args.extend(FAST_SANDBOX);
    for input in inputs {
        args.extend(["--input", input.as_str()]);
    }
    ws.run(&args)
}

/// `plugboard run <workflow> --no-rate-limits --json --input k=v...` against installed connections.
fn run_installed(ws: &Workspace, workflow: &std::path::Path, inputs: &[String]) -> Output {
    let workflow = path(workflow);
    let mut args = vec!["run", workflow.as_str(), "--no-rate-limits", "--json"];
    for input in inputs {
        args.extend(["--input", input.as_str()]);
    }
    ws.run(&args)
}

#[test]
fn send_a_campaign_goes_from_a_new_list_to_a_scheduled_email() {
    let ws = Workspace::new("send-a-campaign");
    let out = run_sandboxed(
        &ws,
        "send-a-campaign.json",
        &["scheduled_date=2027-01-05T16:00:00.000Z".to_owned()],
    );
    let done = out.finished();
    let outputs = &done["outputs"];
    let list_id = outputs["list_id"].as_str().expect("a list id");
    assert_eq!(outputs["recipients"], json!([list_id]), "{out:?}");
    assert_eq!(outputs["status"], "SCHEDULED", "{out:?}");
    assert_eq!(outputs["scheduled_for"], "2027-01-05T16:00:00.000Z");
    assert_eq!(
        outputs["test_sent_to"],
        json!(["qa@acme.example"]),
        "{out:?}"
    );
    // One request per step and the connection's check when it is installed, nothing refused.
    let stats = &done["sandbox"];
    assert_eq!(stats["api_requests"], 7 + 1, "{stats}");
    assert_eq!(stats["invalid_grants"], 0, "{stats}");
}

#[test]
fn quickstart_puts_the_new_contact_on_the_new_list() {
    let ws = Workspace::new("quickstart");
    let members = ws.file("members.jsonl");
    let out = run_sandboxed(
        &ws,
        "quickstart.json",
        &[
            format!("members_file={members}"),
            "email=quick.start@example.com".into(),
        ],
    );
    let done = out.finished();
    let outputs = &done["outputs"];
    let list_id = outputs["list_id"].as_str().expect("a list id");
    let contact_id = outputs["contact_id"].as_str().expect("a contact id");
    assert_eq!(outputs["subscriber"], "created", "{out:?}");
    assert_eq!(outputs["organization"], "Plugboard Sandbox Inc.");
    // The contact as read back from the API is on the list the run created...
    let on_lists: Vec<&str> = outputs["on_lists"]
        .as_array()
        .expect("list memberships")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(on_lists, [list_id]);
    // ...and is the list's only member in the exported file.
    let exported = jsonl(&members);
    assert_eq!(outputs["members_exported"], 1);
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0]["contact_id"], contact_id);
    assert_eq!(
        exported[0]["email_address"]["address"],
        "quick.start@example.com"
    );
    // One request per step, one authorization and its check, nothing refused.
    let stats = &done["sandbox"];
    assert_eq!(stats["api_requests"], 5 + 1, "{stats}");
    assert_eq!(stats["code_exchanges"], 1, "{stats}");
    assert_eq!(stats["invalid_grants"], 0, "{stats}");
    ws.assert_private_state();
}

#[test]
fn add_subscriber_creates_the_list_once_then_reuses_it() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("add-subscriber");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let workflow = example("add-subscriber.json");
    let before = sandbox.contact_count();
    let inputs = [
        "email=ada@example.com".to_owned(),
        "first_name=Ada".to_owned(),
        "list_name=E2E subscribers".to_owned(),
    ];

    let first = run_installed(&ws, &workflow, &inputs).finished();
    assert_eq!(first["outputs"]["list_created"], true, "{first}");
    assert_eq!(first["outputs"]["subscribers_added"], 1, "{first}");
    assert_eq!(sandbox.contact_count(), before + 1);

    // Same subscriber again: the list is found by name, the contact is updated, not duplicated.
    let second = run_installed(&ws, &workflow, &inputs).finished();
    assert_eq!(second["outputs"]["list_created"], false, "{second}");
    assert_eq!(second["outputs"]["subscribers_added"], 1, "{second}");
    assert_eq!(sandbox.contact_count(), before + 1);

    // And the same example as a user first runs it, against its own sandbox.
    let sandboxed = run_sandboxed(
        &ws,
        "add-subscriber.json",
        &["email=grace@example.com".into()],
    )
    .finished();
    assert_eq!(sandboxed["outputs"]["subscribers_added"], 1, "{sandboxed}");
}

#[test]
fn export_writes_one_line_per_contact() {
    let ws = Workspace::new("export");
    let file = ws.file("contacts.jsonl");
    let workflow = path(&example("export-contacts.json"));
    let input = format!("file={file}");
    let mut args = vec!["run", workflow.as_str(), "--contacts", "120", "--input"];
    args.push(&input);
    args.extend(FAST_SANDBOX);
    let done = ws.run(&args).finished();
    let lines = jsonl(&file);
    assert_eq!(lines.len(), 120);
    assert_eq!(done["outputs"]["contacts"], 120);
    let mut ids: Vec<&str> = lines
        .iter()
        .filter_map(|c| c["contact_id"].as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 120, "every contact exactly once");

    // Against a sandbox the test holds: as many lines as the account has contacts.
    let sandbox = start_sandbox(sandbox_config());
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let again = ws.file("again.jsonl");
    run_installed(
        &ws,
        &example("export-contacts.json"),
        &[format!("file={again}")],
    )
    .finished();
    assert_eq!(jsonl(&again).len(), sandbox.contact_count());
}

#[test]
fn bulk_import_puts_every_row_on_the_new_list() {
    let ws = Workspace::new("bulk-import");
    let csv = std::fs::read_to_string(example("data/contacts.csv")).expect("the example CSV");
    let rows = csv.lines().skip(1).filter(|l| !l.trim().is_empty()).count();
    assert_eq!(rows, 1200, "the example's data file");
    let done = run_sandboxed(&ws, "bulk-import.json", &[]).finished();
    let outputs = &done["outputs"];
    assert_eq!(outputs["rows"], 1200, "{done}");
    assert_eq!(outputs["imports"], 3, "batches of 500: {done}");
    assert_eq!(outputs["failed_imports"], 0, "{done}");
    assert_eq!(outputs["members"], 1200, "{done}");
}

#[test]
fn csv_file_import_puts_every_row_on_the_new_list_in_one_upload() {
    let ws = Workspace::new("csv-import");
    let done = run_sandboxed(&ws, "import-csv-file.json", &[]).finished();
    let outputs = &done["outputs"];
    assert_eq!(outputs["rows"], 1200, "{done}");
    assert_eq!(
        outputs["imports"], 1,
        "one file of at most 39,999 rows: {done}"
    );
    assert_eq!(outputs["failed_imports"], 0, "{done}");
    assert_eq!(outputs["members"], 1200, "{done}");
}

#[test]
fn poll_returns_only_what_changed_since_the_last_run() {
    // With --sandbox: the first run writes what it found and returns a cursor.
    let ws = Workspace::new("poll");
    let first_file = ws.file("first.jsonl");
    let first = run_sandboxed(
        &ws,
        "poll-updated-contacts.json",
        &[format!("file={first_file}")],
    )
    .finished();
    let found = jsonl(&first_file).len();
    assert!(found > 0);
    assert_eq!(first["outputs"]["changed_contacts"], found);
    assert!(first["outputs"]["next_cursor"].is_string(), "{first}");

    // Against one sandbox across runs (a --sandbox run starts a fresh one each time).
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("poll-cursor");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let workflow = example("poll-updated-contacts.json");
    let poll = |name: &str| {
        let file = ws.file(name);
        let done = run_installed(&ws, &workflow, &[format!("file={file}")]).finished();
        (done, jsonl(&file))
    };
    let (done, all) = poll("run1.jsonl");
    assert!(!all.is_empty());
    assert_eq!(done["outputs"]["changed_contacts"], all.len());

    // Nothing changed: the second run (same state file, so same cursor) finds nothing.
    let (done, none) = poll("run2.jsonl");
    assert!(none.is_empty(), "unchanged contacts came back: {done}");

    // One contact changes: the next run returns exactly that one.
    run_installed(
        &ws,
        &fixture("create-contact.json"),
        &["email=changed.since@example.com".into()],
    )
    .finished();
    let (_, changed) = poll("run3.jsonl");
    let emails: Vec<&Value> = changed
        .iter()
        .map(|c| &c["email_address"]["address"])
        .collect();
    assert_eq!(emails, ["changed.since@example.com"]);
}

#[test]
fn a_resumed_run_still_moves_its_poll_triggers_cursor_on() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("poll-resume");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let workflow = fixture("poll-then-read.json");
    let later = ws.file("later.jsonl");
    let poll = |name: &str| {
        let file = ws.file(name);
        run_installed(
            &ws,
            &workflow,
            &[format!("file={file}"), format!("later={later}")],
        )
    };
    // The trigger completes, then the run fails on the missing file.
    let failed = poll("run1.jsonl").failed();
    assert!(!jsonl(&ws.file("run1.jsonl")).is_empty());
    let run_id = failed["run"].to_string();
    std::fs::write(&later, "").expect("the file appears");
    let resumed = ws.run(&[
        "run",
        &path(&workflow),
        "--resume",
        &run_id,
        "--no-rate-limits",
        "--json",
    ]);
    resumed.finished();
    // The resume reused the trigger's output; its cursor was still saved, so the next run
    // finds nothing new.
    let again = poll("run2.jsonl").finished();
    assert_eq!(again["outputs"]["changed_contacts"], 0, "{again}");
    assert!(jsonl(&ws.file("run2.jsonl")).is_empty());
}

#[cfg(target_os = "linux")]
#[test]
fn outputs_that_cannot_be_written_are_printed_and_the_run_stays_resumable() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("output-fails");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let workflow = path(&fixture("account.json"));
    // A place that opens for writing (so the check before the run passes) but whose writes fail,
    // like a disk that fills up during the run. A folder that does not exist is refused before
    // the run (see `first_hour.rs`).
    let unwritable = "/dev/full";
    let out = ws.run(&["run", &workflow, "--output", unwritable]);
    assert!(!out.success(), "{out:?}");
    assert!(
        out.stdout.contains("\"organization\""),
        "outputs printed: {out:?}"
    );
    assert!(out.stderr.contains("cannot write the outputs"), "{out:?}");
    // The hint repeats the command as typed: its state file, and `--resume`.
    let state = path(ws.state());
    let hint = out
        .stderr
        .lines()
        .find(|l| l.contains("that can be written with:"))
        .unwrap_or_else(|| panic!("a resume hint: {out:?}"));
    assert!(hint.contains("--resume 1"), "{hint}");
    assert!(hint.contains(&state), "{hint}");
    assert!(
        !hint.contains(unwritable),
        "not the same place again: {hint}"
    );
    let requests = sandbox.stats().requests;

    let written = ws.file("out.json");
    let resumed = ws.run(&["run", &workflow, "--resume", "1", "--output", &written]);
    assert!(resumed.success(), "{resumed:?}");
    let outputs: Value =
        serde_json::from_str(&std::fs::read_to_string(&written).expect("written")).expect("JSON");
    assert!(outputs["organization"].is_string(), "{outputs}");
    assert_eq!(
        sandbox.stats().requests,
        requests,
        "the resume sent nothing"
    );

    // A resume takes the run's own inputs; a new one must be one the workflow declares.
    let refused = ws.run(&["run", &workflow, "--resume", "1", "--input", "x=1"]);
    assert!(!refused.success(), "{refused:?}");
    assert!(refused.stderr.contains("--input"), "{refused:?}");
}

#[test]
fn a_dry_run_plans_without_sending_anything() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("dry-run");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let workflow = path(&example("quickstart.json"));
    let members = format!("members_file={}", ws.file("members.jsonl"));
    let out = ws.run(&["run", &workflow, "--dry-run", "--input", &members]);
    assert!(out.success(), "{out:?}");
    for step in ["account", "list", "subscriber", "contact", "members"] {
        assert!(
            out.stdout.contains(step),
            "the plan names `{step}`: {out:?}"
        );
    }
    assert!(out.stdout.contains("/account/summary"), "{out:?}");
    assert_eq!(sandbox.stats().requests, 0, "a dry run sends nothing");
    assert!(!std::path::Path::new(&ws.file("members.jsonl")).exists());
}

// ---- validation ----

/// The `file:line:column: pointer: message` line `validate` prints for a problem whose value
/// starts at `needle` in the file.
fn located(file: &std::path::Path, text: &str, needle: &str, pointer: &str) -> String {
    let (line, column) = position_of(text, needle);
    format!("{}:{line}:{column}: {pointer}: ", file.display())
}

/// The line of `stderr` that starts with `prefix`.
fn line_with<'a>(stderr: &'a str, prefix: &str) -> &'a str {
    stderr
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starts with `{prefix}` in:\n{stderr}"))
}

#[test]
fn validate_reports_malformed_json_where_it_breaks() {
    let ws = Workspace::new("validate-malformed");
    let file = fixture("malformed.json");
    let text = std::fs::read_to_string(&file).expect("fixture");
    let out = ws.run(&["validate", &path(&file), "--sandbox"]);
    assert!(!out.success(), "{out:?}");
    // The trailing comma is reported where the parser gave up: at the `]` after it.
    let prefix = located(&file, &text, "]\n}", "(document)");
    let line = line_with(&out.stderr, &prefix);
    assert!(line.contains("malformed JSON: trailing comma"), "{line}");
    assert!(out.stderr.contains(": 1 problem"), "{out:?}");
}

#[test]
fn validate_reports_every_problem_at_once_with_its_location() {
    let ws = Workspace::new("validate-many");
    let file = fixture("many-problems.json");
    let text = std::fs::read_to_string(&file).expect("fixture");
    let out = ws.run(&["validate", &path(&file), "--sandbox"]);
    assert!(!out.success(), "{out:?}");
    let expected = [
        // Unknown connector.
        (
            "\"no-such-connector\"",
            "/connections/crm/connector",
            "unknown connector `no-such-connector`",
        ),
        // Unknown method.
        (
            "\"cc.contacts.fetch_everything\"",
            "/steps/1/call",
            "connector `constant-contact` has no method `contacts.fetch_everything`",
        ),
        // A reference to a step that runs later.
        (
            "\"{{ steps.late.output.contact_id }}\"",
            "/steps/2/input/contact_id",
            "step `late` runs after this one",
        ),
        // A literal input the method's input schema refuses.
        (
            "42 }",
            "/steps/3/input/name",
            "input of `contact_lists.create`: 42 is not of type \"string\"",
        ),
    ];
    for (needle, pointer, message) in expected {
        let line = line_with(&out.stderr, &located(&file, &text, needle, pointer));
        assert!(line.contains(message), "`{line}` lacks `{message}`");
    }
    assert!(out.stderr.contains(": 4 problems"), "{out:?}");
    // No connections were checked with --sandbox; nothing was started either.
    assert!(!out.stderr.contains("sandbox:"), "{out:?}");
}

#[test]
fn run_refuses_an_invalid_workflow_before_any_request() {
    let ws = Workspace::new("run-invalid");
    let file = fixture("many-problems.json");
    let mut args = vec!["run".to_owned(), path(&file)];
    args.extend(FAST_SANDBOX.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ws.run(&args);
    assert!(!out.success(), "{out:?}");
    // With --json the problems come as one JSON document, and no sandbox was ever started.
    let listing = out.last_event();
    assert_eq!(
        listing["problems"].as_array().map(Vec::len),
        Some(4),
        "{out:?}"
    );
    assert!(!out.stdout.contains("sandbox"), "{out:?}");
}

#[test]
fn validate_reports_a_missing_connection_unless_sandboxed() {
    let ws = Workspace::new("validate-connection");
    let file = fixture("needs-connection.json");
    let text = std::fs::read_to_string(&file).expect("fixture");
    let out = ws.run(&["validate", &path(&file)]);
    assert!(!out.success(), "{out:?}");
    let needle = "\"e2e-not-installed\"";
    let line = line_with(
        &out.stderr,
        &located(&file, &text, needle, "/connections/cc/connection"),
    );
    assert!(
        line.contains("no connection named `e2e-not-installed`"),
        "{line}"
    );
    assert!(
        line.contains("plugboard connect <connector> --name e2e-not-installed"),
        "the message says how to fix it: {line}"
    );

    // --sandbox makes its own connections: nothing to check.
    let sandboxed = ws.run(&["validate", &path(&file), "--sandbox"]);
    assert!(sandboxed.success(), "{sandboxed:?}");
    assert!(sandboxed.stdout.contains("valid (1 step)"), "{sandboxed:?}");

    // Once installed, the same file validates without --sandbox.
    let sandbox = start_sandbox(sandbox_config());
    ws.install_connection(&sandbox, "e2e-not-installed");
    let installed = ws.run(&["validate", &path(&file)]);
    assert!(installed.success(), "{installed:?}");
}

#[test]
fn validate_reports_missing_connection_settings_by_name_not_value() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("validate-settings");
    ws.install_connection(&sandbox, "e2e-not-installed");
    // The partner settings lose their client secret: the connection cannot be used.
    let mut partner = plugboard_tests::e2e::partner_settings(&sandbox);
    partner.remove("client_secret");
    wait(
        ws.store()
            .set_partner_settings("constant-contact", &partner),
    )
    .expect("partner settings are stored");
    let file = fixture("needs-connection.json");
    let out = ws.run(&["validate", &path(&file)]);
    assert!(!out.success(), "{out:?}");
    let line = line_with(&out.stderr, &format!("{}:4:", file.display()));
    assert!(line.contains("/connections/cc/connection"), "{line}");
    assert!(line.contains("not usable"), "{line}");
    // The settings problems follow, by field.
    assert!(
        out.stderr.contains("/client_secret"),
        "names the missing setting: {out:?}"
    );
}

#[test]
fn validate_json_lists_problems_with_pointer_line_column_and_message() {
    let ws = Workspace::new("validate-json");
    let file = fixture("many-problems.json");
    let out = ws.run(&["validate", &path(&file), "--json"]);
    assert!(!out.success(), "{out:?}");
    let listing = out.last_event();
    assert_eq!(listing["file"], path(&file));
    let problems = listing["problems"].as_array().expect("a problem array");
    // Without --sandbox the missing connection is a fifth problem.
    assert_eq!(problems.len(), 5, "{listing}");
    for problem in problems {
        let mut fields: Vec<&str> = problem
            .as_object()
            .expect("a problem object")
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["column", "line", "message", "pointer"],
            "{problem}"
        );
        assert!(problem["line"].as_u64() > Some(0), "{problem}");
        assert!(problem["column"].as_u64() > Some(0), "{problem}");
    }
    let pointers: Vec<&str> = problems
        .iter()
        .filter_map(|p| p["pointer"].as_str())
        .collect();
    assert_eq!(
        pointers,
        [
            "/connections/cc/connection",
            "/connections/crm/connector",
            "/steps/1/call",
            "/steps/2/input/contact_id",
            "/steps/3/input/name",
        ]
    );
    // Problems go to stdout as JSON; stderr holds no problem lines.
    assert!(!out.stderr.contains("many-problems.json:"), "{out:?}");

    // A valid file: an empty problem list and the step count, exit 0.
    let ok = ws.run(&[
        "validate",
        &path(&fixture("resume.json")),
        "--json",
        "--sandbox",
    ]);
    assert!(ok.success(), "{ok:?}");
    let listing = ok.last_event();
    assert_eq!(listing["problems"], serde_json::json!([]));
    assert_eq!(listing["steps"], 4);
}

/// A state file holding a real app and connection, as `plugboard partner set` and `connect`
/// against the real API leave them: no endpoint overrides, a client id of a real app.
fn install_real_records(ws: &Workspace, with_connection: bool) -> Option<StoredTokens> {
    let store = ws.store();
    let mut partner = serde_json::Map::new();
    partner.insert("client_id".into(), "real-app-0001".into());
    partner.insert("client_secret".into(), "real-client-secret-0001".into());
    partner.insert(
        "redirect_uri".into(),
        "http://127.0.0.1:8976/plugboard/callback".into(),
    );
    ws.add_secret("real-client-secret-0001");
    wait(store.set_partner_settings("constant-contact", &partner))
        .expect("partner settings are stored");
    if !with_connection {
        return None;
    }
    let record = ConnectionRecord {
        name: EXAMPLE_CONNECTION.to_owned(),
        connector_id: "constant-contact".to_owned(),
        settings: serde_json::Map::new(),
        endpoints: None,
    };
    wait(store.put_connection(&record)).expect("the connection is stored");
    ws.add_secret("real-access-token-0001");
    ws.add_secret("real-refresh-token-0001");
    let tokens = TokenSet {
        access_token: "real-access-token-0001".to_owned().into(),
        refresh_token: Some("real-refresh-token-0001".to_owned().into()),
        expires_at: None,
        scope: None,
    };
    wait(store.put_tokens(EXAMPLE_CONNECTION, &tokens)).expect("the tokens are stored");
    ws.tokens(EXAMPLE_CONNECTION)
}

#[test]
fn a_sandbox_run_never_replaces_a_real_app_or_connection_in_the_state_file() {
    let ws = Workspace::new("sandbox-over-real");
    let before = install_real_records(&ws, true);
    let partner_before = wait(ws.store().partner_settings("constant-contact")).expect("readable");

    let out = run_sandboxed(&ws, "quickstart.json", &["email=x@example.com".into()]);
    assert!(!out.success(), "{out:?}");
    for named in [
        "client_id `real-app-0001`",
        "the connection `constant-contact` (to the real API)",
        "leave out --state",
    ] {
        assert!(out.stderr.contains(named), "names {named}: {out:?}");
    }
    let store = ws.store();
    assert_eq!(
        wait(store.partner_settings("constant-contact")).expect("readable"),
        partner_before,
        "the real app's settings are kept"
    );
    let connection = wait(store.connection(EXAMPLE_CONNECTION))
        .expect("readable")
        .expect("still installed");
    assert_eq!(connection.endpoints, None, "still the real API");
    assert_eq!(
        ws.tokens(EXAMPLE_CONNECTION),
        before,
        "the tokens are untouched"
    );

    // An app set up before its first connection is just as real.
    let fresh = Workspace::new("sandbox-over-real-app");
    install_real_records(&fresh, false);
    let out = run_sandboxed(&fresh, "quickstart.json", &["email=x@example.com".into()]);
    assert!(!out.success(), "{out:?}");
    assert!(out.stderr.contains("client_id `real-app-0001`"), "{out:?}");
    assert!(!out.stderr.contains("the connection"), "{out:?}");
}

/// What the sandbox itself answers at `path` (under `/v3`), read with a token of its own.
fn sandbox_get(sandbox: &constant_contact_sandbox::Sandbox, path: &str) -> Value {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let token = sandbox.mint_tokens().access_token;
    let url = if path.starts_with("/v3") {
        format!("{}{path}", sandbox.url())
    } else {
        format!("{}/v3{path}", sandbox.url())
    };
    wait(async {
        reqwest::Client::new()
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("the sandbox answers")
            .json::<Value>()
            .await
            .expect("a JSON body")
    })
}

#[test]
fn campaign_clicks_writes_every_click_of_a_sent_campaign() {
    let ws = Workspace::new("campaign-clicks");
    let sandbox = start_sandbox(sandbox_config());
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);

    // The sent campaign (the sandbox seeds sent ones) with the most clicks, and its clicks as
    // the sandbox reports them.
    let summaries = sandbox_get(
        &sandbox,
        "/reports/summary_reports/email_campaign_summaries",
    );
    let campaign = summaries["bulk_email_campaign_summaries"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .max_by_key(|s| s["unique_counts"]["clicks"].as_i64())
        })
        .and_then(|s| s["campaign_id"].as_str())
        .expect("the sandbox has sent a campaign")
        .to_owned();
    let activity = sandbox_get(&sandbox, &format!("/emails/{campaign}"))["campaign_activities"]
        .as_array()
        .and_then(|all| all.iter().find(|a| a["role"] == "primary_email"))
        .and_then(|a| a["campaign_activity_id"].as_str())
        .expect("a primary email")
        .to_owned();
    let mut expected = Vec::new();
    let mut next = format!("/reports/email_reports/{activity}/tracking/clicks?limit=50");
    for _ in 0..100 {
        let page = sandbox_get(&sandbox, &next);
        expected.extend(
            page["tracking_activities"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        match page.pointer("/_links/next/href").and_then(Value::as_str) {
            Some(href) => next = href.to_owned(),
            None => break,
        }
    }
    assert!(
        !expected.is_empty(),
        "the sandbox's recipients clicked: {summaries}"
    );

    let file = ws.file("clicks.jsonl");
    let done = run_installed(
        &ws,
        &example("campaign-clicks.json"),
        &[format!("campaign_id={campaign}"), format!("file={file}")],
    )
    .finished();
    // Every click, as the sandbox reports it, in its order (most recent first).
    assert_eq!(jsonl(&file), expected);
    let outputs = &done["outputs"];
    assert_eq!(outputs["clicks"], expected.len(), "{done}");
    assert_eq!(outputs["campaign_activity_id"], activity.as_str());
    let unique: i64 = outputs["links"]
        .as_array()
        .expect("the links report")
        .iter()
        .filter_map(|l| l["unique_clicks"].as_i64())
        .sum();
    let clickers: std::collections::BTreeSet<(&str, &str)> = expected
        .iter()
        .filter_map(|c| Some((c["contact_id"].as_str()?, c["url_id"].as_str()?)))
        .collect();
    assert_eq!(unique, clickers.len() as i64, "unique clicks per link");

    // A campaign the account does not have fails the first step, naming it.
    let out = run_installed(
        &ws,
        &example("campaign-clicks.json"),
        &[
            "campaign_id=00000000-0000-4000-8000-000000000000".to_owned(),
            format!("file={}", ws.file("none.jsonl")),
        ],
    );
    let failed = out.failed();
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("step `campaign` failed") && error.contains("404"),
        "{failed}"
    );
    // As a user first runs it, with --sandbox: without a campaign it lists the sent ones, and
    // a fresh sandbox seeded the same way has the same ones, so the second run finds its pick.
    // (Its own workspace: a --sandbox run points the connection at the sandbox it starts.)
    let ws = Workspace::new("campaign-clicks-sandboxed");
    let campaigns_file = ws.file("sent.jsonl");
    let listed = run_sandboxed(
        &ws,
        "campaign-clicks.json",
        &[format!("campaigns_file={campaigns_file}")],
    )
    .finished();
    let sent = jsonl(&campaigns_file);
    assert_eq!(listed["outputs"]["sent_campaigns"], sent.len(), "{listed}");
    assert_eq!(listed["outputs"]["clicks"], Value::Null);
    let pick = sent
        .iter()
        .max_by_key(|s| s["unique_counts"]["clicks"].as_i64())
        .expect("the sandbox has sent campaigns");
    let sandboxed_file = ws.file("sandboxed-clicks.jsonl");
    let read = run_sandboxed(
        &ws,
        "campaign-clicks.json",
        &[
            format!(
                "campaign_id={}",
                pick["campaign_id"].as_str().unwrap_or_default()
            ),
            format!("file={sandboxed_file}"),
        ],
    )
    .finished();
    let lines = jsonl(&sandboxed_file);
    assert_eq!(read["outputs"]["clicks"], lines.len(), "{read}");
    assert!(!lines.is_empty(), "{read}");
    let clickers: std::collections::BTreeSet<&str> = lines
        .iter()
        .filter_map(|c| c["contact_id"].as_str())
        .collect();
    assert_eq!(
        pick["unique_counts"]["clicks"],
        clickers.len(),
        "the summary's unique clicks are the file's clicking contacts"
    );

    sandbox.shutdown();
}

/// Item 5 of the Constant Contact issue: the export costs a handful of requests where paging
/// costs one per 500 contacts, the plan shows both, and both get the same contacts.
#[test]
fn a_bulk_export_gets_every_contact_for_fewer_requests_and_the_plan_says_so() {
    const CONTACTS: usize = 4_000;
    let sandbox = start_sandbox(constant_contact_sandbox::SandboxConfig {
        contacts: CONTACTS,
        ..sandbox_config()
    });
    let ws = Workspace::new("bulk-export");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);

    // The paged export's plan offers the bulk methods, with both costs.
    let paged = path(&example("export-contacts.json"));
    let plan = ws.run(&["run", &paged, "--dry-run", "--json"]);
    assert!(plan.success(), "{plan:?}");
    let plan: Value = serde_json::from_str(&plan.stdout).expect("a JSON plan");
    let step = &plan["steps"][0];
    assert_eq!(
        step["requests_note"],
        "1 per page of 500 records: 400 for 200,000"
    );
    assert_eq!(
        step["instead"]["methods"],
        json!([
            "bulk.export_contacts",
            "bulk.wait_for_activity",
            "bulk.download_export"
        ])
    );
    assert_eq!(
        step["instead"]["requests"],
        json!({"kind": "at_least", "count": 3})
    );
    let text = ws.run(&["run", &paged, "--dry-run"]);
    assert!(
        text.stdout.contains(
            "fewer requests for many records: bulk.export_contacts → bulk.wait_for_activity → \
             bulk.download_export: at least 3 (2 requests + 1 per status check while the job \
             runs, whatever the number of records)"
        ),
        "{text:?}"
    );
    assert_eq!(sandbox.stats().requests, 0, "plans send nothing");

    // Both ways, against the same account.
    let paged_file = ws.file("paged.jsonl");
    run_installed(
        &ws,
        &example("export-contacts.json"),
        &[format!("file={paged_file}")],
    )
    .finished();
    let paging_requests = sandbox.stats().requests;
    let bulk_file = ws.file("bulk.jsonl");
    let done = run_installed(
        &ws,
        &example("export-contacts-bulk.json"),
        &[format!("file={bulk_file}")],
    )
    .finished();
    let bulk_requests = sandbox.stats().requests - paging_requests;
    assert_eq!(done["outputs"]["state"], "completed", "{done}");
    assert_eq!(done["outputs"]["contacts"], CONTACTS, "{done}");

    let ids = |rows: Vec<Value>| -> std::collections::BTreeSet<(String, String)> {
        rows.iter()
            .map(|row| {
                let text = |field: &str| row[field].as_str().unwrap_or_default().to_owned();
                let email = match &row["email_address"] {
                    Value::Object(address) => {
                        address["address"].as_str().unwrap_or_default().to_owned()
                    }
                    other => other.as_str().unwrap_or_default().to_owned(),
                };
                (text("contact_id"), email)
            })
            .collect()
    };
    let paged_contacts = ids(jsonl(&paged_file));
    assert_eq!(paged_contacts.len(), CONTACTS);
    assert_eq!(
        ids(jsonl(&bulk_file)),
        paged_contacts,
        "the same contacts, by id and address"
    );
    // Paging: one request per 500 contacts. The export: create, at least one status check,
    // download — however many contacts there are.
    assert_eq!(paging_requests, CONTACTS.div_ceil(500) as u64);
    assert!(
        (3..paging_requests).contains(&bulk_requests),
        "the export took {bulk_requests} requests, paging {paging_requests}"
    );
}
