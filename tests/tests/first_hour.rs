//! A new user's first hour, through the real binary: resumes that work (against the sandbox,
//! from any spelling of the workflow's path, with a corrected input), inputs checked before
//! anything starts, signals that stop a run the way Ctrl-C does, loop progress, a standalone
//! sandbox that says how to connect to it, and the listing of runs.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use plugboard_tests::e2e::{Output, Workspace, browse, example, fixture};
use plugboard_tests::{chaos, plugboard_binary};
use serde_json::Value;

/// The line a run (or the sandbox) prints when it has started, i.e. a sandbox was started and a
/// connection was authorized for it: pre-run errors must come before it.
const SANDBOX_STARTED: &str = "sandbox: Constant Contact emulator";

fn path(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The run id from `run N: <name>`.
fn run_id(output: &Output) -> String {
    output
        .stderr
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix("run ")?;
            let (id, _) = rest.split_once(": ")?;
            id.parse::<u64>().ok().map(|id| id.to_string())
        })
        .unwrap_or_else(|| panic!("no `run N:` line:\n{output:?}"))
}

/// The outputs a human-mode run printed on stdout.
fn outputs(output: &Output) -> Value {
    assert!(output.success(), "the run failed:\n{output:?}");
    serde_json::from_str(&output.stdout).unwrap_or_else(|e| panic!("{e}:\n{output:?}"))
}

/// The words of the `resume it with: …` hint, without `plugboard` and `--state FILE`.
fn resume_hint(output: &Output) -> Vec<String> {
    chaos::resume_hint(output).unwrap_or_else(|| panic!("no resume hint:\n{output:?}"))
}

fn signal(pid: u32, name: &str) {
    assert!(chaos::send_signal(pid, name), "kill -{name} {pid}");
}

fn emails(count: usize, tag: &str) -> String {
    let list: Vec<String> = (0..count)
        .map(|i| format!("\"{tag}.{i}@example.com\""))
        .collect();
    format!("emails=[{}]", list.join(","))
}

/// Starts `list-and-members.json` against a sandbox (at the real 4/s, so its loop of 20 calls
/// takes about 5 s) and sends `signal_name` once the loop has begun.
fn stop_during_the_loop(ws: &Workspace, signal_name: &str) -> Output {
    let workflow = path(&fixture("list-and-members.json"));
    let emails = emails(20, signal_name);
    let running = ws.spawn(&["run", &workflow, "--sandbox", "--input", &emails]);
    let looping = running.wait_for_stderr(Duration::from_secs(60), |stderr| {
        stderr.contains("▸ members").then_some(())
    });
    assert!(looping.is_some(), "the loop never started");
    std::thread::sleep(Duration::from_millis(600));
    if signal_name == "KILL" {
        return running.kill();
    }
    signal(running.id(), signal_name);
    running.wait()
}

#[test]
fn a_sandbox_run_stopped_by_sigterm_resumes_with_the_command_it_printed() {
    let ws = Workspace::new("first-hour-sigterm");
    let stopped = stop_during_the_loop(&ws, "TERM");
    assert_eq!(
        stopped.status.and_then(|s| s.code()),
        Some(143),
        "SIGTERM ends a run as 128 + 15, like Ctrl-C's 130:\n{stopped:?}"
    );
    assert!(
        stopped.stderr.contains("terminated (SIGTERM)"),
        "{stopped:?}"
    );
    assert!(
        stopped.stderr.contains("/20 calls, 0 failed"),
        "a loop over an array shows its progress:\n{stopped:?}"
    );
    let records = ws.store();
    let runs = plugboard_tests::wait(plugboard_runner::RunStore::runs(&records)).expect("runs");
    assert_eq!(runs[0].status.as_str(), "cancelled", "{stopped:?}");

    // The hint, followed literally, resumes against the sandbox account the run left: the list
    // its first step created is still there, so the loop and the count go on.
    let hint = resume_hint(&stopped);
    let words: Vec<&str> = hint.iter().map(String::as_str).collect();
    let resumed = ws.run(&words);
    let outputs = outputs(&resumed);
    assert_eq!(outputs["members"], 20, "{resumed:?}");
    assert!(
        resumed
            .stderr
            .contains("(with the account as the run left it)"),
        "{resumed:?}"
    );
    assert!(
        resumed
            .stderr
            .contains("· list: done in an earlier attempt"),
        "{resumed:?}"
    );
}

#[test]
fn sigint_ends_a_run_with_130() {
    let ws = Workspace::new("first-hour-sigint");
    let stopped = stop_during_the_loop(&ws, "INT");
    assert_eq!(
        stopped.status.and_then(|s| s.code()),
        Some(130),
        "{stopped:?}"
    );
    assert!(stopped.stderr.contains("resume it with: "), "{stopped:?}");
}

#[test]
fn a_killed_sandbox_run_is_not_resumed_against_a_fresh_sandbox() {
    let ws = Workspace::new("first-hour-killed");
    let killed = stop_during_the_loop(&ws, "KILL");
    let id = run_id(&killed);
    let runs = ws.run(&["runs"]);
    assert!(
        runs.stdout.contains("interrupted"),
        "a run whose process died is not shown as running:\n{runs:?}"
    );
    let workflow = path(&fixture("list-and-members.json"));
    let resumed = ws.run(&["run", &workflow, "--sandbox", "--resume", &id]);
    assert!(!resumed.success(), "{resumed:?}");
    assert!(
        resumed
            .stderr
            .contains("cannot be resumed against a sandbox"),
        "{resumed:?}"
    );
    assert!(
        !resumed.stderr.contains(SANDBOX_STARTED),
        "refused before a sandbox starts:\n{resumed:?}"
    );
}

#[test]
fn a_run_that_failed_on_an_input_is_resumed_with_the_input_corrected() {
    let ws = Workspace::new("first-hour-input");
    let workflow = path(&example("bulk-import.json"));
    let missing = ws.file("missing.csv");
    let failed = ws.run(&[
        "run",
        &workflow,
        "--sandbox",
        "--input",
        &format!("file={missing}"),
    ]);
    assert!(!failed.success(), "{failed:?}");
    assert!(failed.stderr.contains("missing.csv"), "{failed:?}");
    let id = run_id(&failed);

    // The list was created with the old list name: that input can no longer change.
    let renamed = ws.run(&[
        "run",
        &workflow,
        "--sandbox",
        "--resume",
        &id,
        "--input",
        "list_name=Another name",
    ]);
    assert!(!renamed.success(), "{renamed:?}");
    assert!(
        renamed
            .stderr
            .contains("input `list_name`: step `list` already ran"),
        "{renamed:?}"
    );
    assert!(!renamed.stderr.contains(SANDBOX_STARTED), "{renamed:?}");

    // The file was never read: it can.
    let resumed = ws.run(&[
        "run",
        &workflow,
        "--sandbox",
        "--resume",
        &id,
        "--input",
        "file=examples/data/contacts.csv",
    ]);
    let outputs = outputs(&resumed);
    assert_eq!(outputs["rows"], 1200, "{resumed:?}");
    assert_eq!(outputs["members"], 1200, "{resumed:?}");
    assert!(
        resumed
            .stderr
            .contains(&format!("run {id}: input file corrected")),
        "{resumed:?}"
    );
}

#[test]
fn a_run_is_its_workflow_content_whatever_path_names_it() {
    let ws = Workspace::new("first-hour-identity");
    let original = std::fs::read_to_string(example("bulk-import.json")).expect("example");
    let first = ws.dir().join("import.json");
    std::fs::write(&first, &original).expect("write");
    let missing = format!("file={}", ws.file("missing.csv"));
    let failed = ws.run(&["run", &path(&first), "--sandbox", "--input", &missing]);
    assert!(!failed.success(), "{failed:?}");
    let id = run_id(&failed);

    // Changed steps are refused, wherever the file is...
    let changed = ws.dir().join("changed.json");
    std::fs::write(
        &changed,
        original.replace("\"batch\": 500", "\"batch\": 400"),
    )
    .expect("write");
    let refused = ws.run(&["run", &path(&changed), "--sandbox", "--resume", &id]);
    assert!(!refused.success(), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("whose steps or connections differ from this file's"),
        "{refused:?}"
    );
    assert!(
        refused.stderr.contains("--accept-changed-steps"),
        "{refused:?}"
    );
    assert!(!refused.stderr.contains(SANDBOX_STARTED), "{refused:?}");

    // ... but the same steps are the same run, under another spelling of the path and with a
    // different output mapping.
    let dir_name = ws
        .dir()
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a name");
    let other_spelling = ws
        .dir()
        .join("..")
        .join(dir_name)
        .join(".")
        .join("moved.json");
    std::fs::write(
        &other_spelling,
        original.replace("\"failed_imports\"", "\"failures\""),
    )
    .expect("write");
    let resumed = ws.run(&[
        "run",
        &path(&other_spelling),
        "--sandbox",
        "--resume",
        &id,
        "--input",
        "file=examples/data/contacts.csv",
    ]);
    assert_eq!(outputs(&resumed)["failures"], 0, "{resumed:?}");

    // `runs` lists it completed, with its canonical path and when it started.
    let runs = ws.run(&["runs"]);
    assert!(runs.success(), "{runs:?}");
    let canonical = std::fs::canonicalize(&first).expect("canonical");
    let line = runs
        .stdout
        .lines()
        .find(|line| line.trim_start().starts_with(&format!("{id} ")))
        .unwrap_or_else(|| panic!("run {id} is not listed:\n{runs:?}"));
    assert!(line.contains("completed"), "{line}");
    assert!(line.contains(&path(&canonical)), "{line}");
    assert!(runs.stdout.contains("started (UTC)"), "{runs:?}");
}

#[test]
fn inputs_and_outputs_are_checked_before_a_sandbox_starts() {
    let ws = Workspace::new("first-hour-inputs");
    let subscriber = path(&example("add-subscriber.json"));
    let members = path(&fixture("list-and-members.json"));
    let refused = |args: &[&str], expected: &[&str]| {
        let output = ws.run(args);
        assert!(!output.success(), "{output:?}");
        for text in expected {
            assert!(
                output.stderr.contains(text),
                "`{text}` expected:\n{output:?}"
            );
        }
        assert!(
            !output.stderr.contains(SANDBOX_STARTED) && !output.stderr.contains('▸'),
            "nothing starts before the error:\n{output:?}"
        );
        assert!(!output.stderr.contains("panicked"), "{output:?}");
    };
    refused(
        &["run", &subscriber, "--sandbox", "--input", "emial=a@b.c"],
        &["the input `emial`", "email (string, required)"],
    );
    refused(
        &["run", &members, "--sandbox", "--input", "emails=[\"a@b.c\""],
        &["--input emails", "is not JSON", "declared as array"],
    );
    refused(&["run", &subscriber, "--sandbox"], &["email"]);
    refused(
        &["run", &subscriber, "--sandbox", "--resume", "9999"],
        &["there is no run 9999"],
    );
    let no_dir = ws.file("no/such/dir/out.json");
    refused(
        &[
            "run",
            &subscriber,
            "--sandbox",
            "--input",
            "email=a@b.c",
            "--output",
            &no_dir,
        ],
        &["--output", "no/such/dir/out.json", "cannot be written"],
    );
    let state = path(ws.state());
    refused(
        &[
            "run",
            &subscriber,
            "--sandbox",
            "--input",
            "email=a@b.c",
            "--output",
            &format!("{state}-wal"),
        ],
        &["is the state file"],
    );

    // A dry run plans without a sandbox or an authorization, and still shows the requests.
    let plan = ws.run(&[
        "run",
        &subscriber,
        "--sandbox",
        "--input",
        "email=a@b.c",
        "--dry-run",
    ]);
    assert!(plan.success(), "{plan:?}");
    assert!(!plan.stderr.contains(SANDBOX_STARTED), "{plan:?}");
    assert!(
        plan.stdout.contains("POST /"),
        "first requests shown:\n{plan:?}"
    );
}

#[test]
fn the_standalone_sandbox_prints_commands_that_connect_to_it() {
    let ws = Workspace::new("first-hour-standalone");
    // Not through the workspace, whose output check would take the banner's client secret (the
    // sandbox app's own, printed on purpose) for a leak once the state file holds it.
    let mut sandbox = Command::new(plugboard_binary())
        .args(["sandbox", "constant-contact", "--port", "0", "--state"])
        .arg(ws.state())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the sandbox starts");
    let stdout = sandbox.stdout.take().expect("piped");
    let (lines, banner_lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut banner = String::new();
    while !banner.contains("Press Ctrl-C") {
        let line = banner_lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the sandbox printed no full banner:\n{banner}"));
        banner.push_str(&line);
        banner.push('\n');
    }
    let state = path(ws.state());
    let commands: Vec<Vec<String>> = banner
        .lines()
        .filter_map(|line| line.trim().strip_prefix("plugboard --state "))
        .map(|rest| {
            let rest = rest
                .strip_prefix(&state)
                .unwrap_or_else(|| panic!("the commands use the state file given:\n{banner}"));
            rest.split_whitespace().map(str::to_owned).collect()
        })
        .collect();
    assert_eq!(commands.len(), 3, "{banner}");
    assert!(banner.contains("client_secret  "), "{banner}");

    let partner: Vec<&str> = commands[0].iter().map(String::as_str).collect();
    let set = ws.run(&partner);
    assert!(set.success(), "{set:?}");

    let connect: Vec<&str> = commands[1].iter().map(String::as_str).collect();
    let connecting = ws.spawn(&connect);
    let url = connecting
        .wait_for_stderr(Duration::from_secs(30), |stderr| {
            stderr
                .split_whitespace()
                .find(|word| word.starts_with("http://127.0.0.1") && word.contains("authorize"))
                .map(str::to_owned)
        })
        .expect("connect prints the authorization address");
    browse(&url).expect("the sandbox consents");
    let connected = connecting.wait();
    assert!(connected.success(), "{connected:?}");

    let account = ws.run(&["run", &path(&fixture("account.json"))]);
    assert_eq!(
        outputs(&account)["organization"],
        "Plugboard Sandbox Inc.",
        "{account:?}"
    );
    let _ = sandbox.kill();
    let _ = sandbox.wait();
}

#[test]
fn the_help_names_the_state_files_real_default() {
    let output = Command::new(plugboard_binary())
        .arg("--help")
        .output()
        .expect("plugboard runs");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains("$XDG_STATE_HOME/plugboard/state.db"),
        "{help}"
    );
}

#[test]
fn a_conflict_says_once_what_already_exists() {
    let ws = Workspace::new("first-hour-conflict");
    let workflow = ws.dir().join("twice.json");
    std::fs::write(
        &workflow,
        r#"{
  "name": "The same list twice",
  "connections": { "cc": { "connector": "constant-contact", "connection": "constant-contact" } },
  "steps": [
    { "id": "first", "call": "cc.contact_lists.create", "input": { "name": "Twice" } },
    { "id": "second", "call": "cc.contact_lists.create", "input": { "name": "Twice" } }
  ]
}"#,
    )
    .expect("write");
    let failed = ws.run(&["run", &path(&workflow), "--sandbox"]);
    assert!(!failed.success(), "{failed:?}");
    let line = failed
        .stderr
        .lines()
        .find(|line| line.starts_with("error: run"))
        .unwrap_or_else(|| panic!("no error line:\n{failed:?}"));
    assert!(!line.contains("already exists: "), "{line}");
    let (ours, api) = line
        .split_once("; the API says ")
        .expect("the API's words, quoted");
    assert_eq!(ours.matches("already exists").count(), 1, "{line}");
    assert!(api.starts_with('"'), "{line}");
}
