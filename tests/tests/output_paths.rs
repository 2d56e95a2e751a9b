//! Files a run writes, through the real `plugboard` binary against the sandbox: a `records_to`
//! file (or `--output`) never lands on the state file or SQLite's files beside it, whatever path
//! leads there; a path taken from API data stays in the folder the workflow names; no write follows
//! a final symbolic link; an existing file is replaced only when the workflow says so (or names
//! the file itself, through its inputs); new files are private to the user; and an expression
//! that would make a huge value fails its step instead of exhausting memory.

#![cfg(unix)]

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use plugboard_tests::e2e::{EXAMPLE_CONNECTION, Output, Workspace, example};
use plugboard_tests::{plugboard_binary, workspace_root};
use serde_json::{Value, json};

/// Flags of every run: the sandbox's and the limiter's limits are not under test here.
const FAST_SANDBOX: [&str; 4] = [
    "--sandbox",
    "--sandbox-unlimited",
    "--no-rate-limits",
    "--json",
];

fn text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// `plugboard run <workflow> --sandbox ... <extra>`.
fn run(ws: &Workspace, workflow: &Path, extra: &[&str]) -> Output {
    let workflow = text(workflow);
    let mut args = vec!["run", workflow.as_str()];
    args.extend(FAST_SANDBOX);
    args.extend(extra);
    ws.run(&args)
}

/// The export example (`contacts.list` streamed to `records_to: {{ inputs.file }}`) into `file`.
fn export_to(ws: &Workspace, file: &Path) -> Output {
    let input = format!("file={}", text(file));
    run(ws, &example("export-contacts.json"), &["--input", &input])
}

/// Writes a workflow into the workspace.
fn workflow(ws: &Workspace, name: &str, workflow: &Value) -> PathBuf {
    let path = ws.dir().join(name);
    std::fs::write(&path, workflow.to_string()).expect("the workflow is written");
    path
}

/// A workflow that creates a list named `inputs.name` and exports its members to `records_to`,
/// a path template that may use the list's name as the API returned it.
fn list_export(ws: &Workspace, name: &str, records_to: Value) -> PathBuf {
    workflow(
        ws,
        name,
        &json!({
            "name": "Export a list's members",
            "connections": { "cc": { "connector": "constant-contact", "connection": EXAMPLE_CONNECTION } },
            "inputs": { "type": "object", "properties": { "name": { "type": "string" } } },
            "steps": [
                { "id": "list", "call": "cc.contact_lists.create", "input": { "name": "{{ inputs.name }}" } },
                {
                    "id": "members",
                    "call": "cc.contacts.list",
                    "input": { "lists": ["{{ steps.list.output.list_id }}"] },
                    "records_to": records_to
                }
            ]
        }),
    )
}

/// The error of a failed `--json` run.
fn run_error(output: &Output) -> String {
    output.failed()["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error text:\n{output:?}"))
        .to_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn records_to_never_writes_the_state_file() {
    let ws = Workspace::new("out-state-file");
    let state = ws.state().to_owned();
    export_to(&ws, &ws.dir().join("first.jsonl")).finished();
    let size = std::fs::metadata(&state)
        .expect("the state file exists")
        .len();
    assert!(size > 0);
    assert!(ws.tokens(EXAMPLE_CONNECTION).is_some(), "the run connected");

    let dir = ws.dir().to_owned();
    std::fs::create_dir(dir.join("sub")).expect("a folder");
    symlink(&state, dir.join("link.db")).expect("a link to the state file");
    symlink(&dir, dir.join("alias")).expect("a link to the folder");
    std::fs::hard_link(&state, dir.join("hard.db")).expect("a hard link to the state file");
    let spellings = [
        state.clone(),
        dir.join(".").join("state.db"),
        dir.join("sub").join("..").join("state.db"),
        dir.join("link.db"),
        dir.join("alias").join("state.db"),
        dir.join("hard.db"),
        dir.join("state.db-wal"),
        dir.join("state.db-shm"),
        dir.join("alias").join("state.db-journal"),
    ];
    for spelling in &spellings {
        let output = export_to(&ws, spelling);
        let error = run_error(&output);
        assert!(
            error.contains("state file"),
            "{} is refused as the state file:\n{output:?}",
            spelling.display()
        );
        assert!(
            std::fs::metadata(&state)
                .expect("the state file is there")
                .len()
                >= size,
            "{} left the state file whole:\n{output:?}",
            spelling.display()
        );
        assert!(
            ws.tokens(EXAMPLE_CONNECTION).is_some(),
            "{} left the connection's tokens:\n{output:?}",
            spelling.display()
        );
    }
}

#[test]
fn a_path_from_api_data_stays_in_its_folder() {
    let ws = Workspace::new("out-data-path");
    let exports = ws.dir().join("exports");
    std::fs::create_dir(&exports).expect("the export folder");
    let in_name = list_export(
        &ws,
        "in-name.json",
        json!(format!(
            "{}/{{{{ steps.list.output.name }}}}.jsonl",
            text(&exports)
        )),
    );
    let as_folder = list_export(
        &ws,
        "as-folder.json",
        json!(format!(
            "{}/{{{{ steps.list.output.name }}}}/members.jsonl",
            text(&exports)
        )),
    );

    let output = run(&ws, &in_name, &["--input", "name=../pwned"]);
    let error = run_error(&output);
    assert!(error.contains("step `members`"), "{output:?}");
    assert!(!ws.dir().join("pwned.jsonl").exists(), "{output:?}");

    let output = run(&ws, &as_folder, &["--input", "name=.."]);
    run_error(&output);
    assert!(!ws.dir().join("members.jsonl").exists(), "{output:?}");

    // A folder the data names must not lead elsewhere either.
    let outside = ws.dir().join("outside");
    std::fs::create_dir(&outside).expect("a folder outside");
    symlink(&outside, exports.join("elsewhere")).expect("a link out of the export folder");
    let output = run(&ws, &as_folder, &["--input", "name=elsewhere"]);
    run_error(&output);
    assert!(!outside.join("members.jsonl").exists(), "{output:?}");

    // A plain name is fine, and the export is private to the user.
    run(&ws, &in_name, &["--input", "name=weekly"]).finished();
    let written = exports.join("weekly.jsonl");
    assert!(written.is_file());
    assert_eq!(mode(&written), 0o600);
}

#[test]
fn an_existing_file_is_replaced_only_when_the_workflow_says_so() {
    let ws = Workspace::new("out-existing");
    let exports = ws.dir().join("exports");
    std::fs::create_dir(&exports).expect("the export folder");
    let kept = exports.join("weekly.jsonl");
    std::fs::write(&kept, "keep me\n").expect("an earlier file");
    let template = format!("{}/{{{{ steps.list.output.name }}}}.jsonl", text(&exports));

    // Named by API data: an existing file is kept, and the step fails.
    let plain = list_export(&ws, "plain.json", json!(template));
    let output = run(&ws, &plain, &["--input", "name=weekly"]);
    let error = run_error(&output);
    assert!(error.contains("exists"), "{output:?}");
    assert_eq!(std::fs::read_to_string(&kept).expect("kept"), "keep me\n");

    // `overwrite: true` replaces it, and makes it private.
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let overwrite = list_export(
        &ws,
        "overwrite.json",
        json!({ "path": template, "overwrite": true }),
    );
    run(&ws, &overwrite, &["--input", "name=weekly"]).finished();
    assert_eq!(std::fs::read_to_string(&kept).expect("replaced"), "");
    assert_eq!(mode(&kept), 0o600);

    // A file the workflow names through its inputs is the person's choice: it is replaced, as
    // running an example twice needs.
    let named = ws.dir().join("contacts.jsonl");
    std::fs::write(&named, "old\n").expect("an earlier export");
    export_to(&ws, &named).finished();
    assert_ne!(std::fs::read_to_string(&named).expect("replaced"), "old\n");
    assert_eq!(mode(&named), 0o600);
}

#[test]
fn no_output_follows_a_final_symbolic_link() {
    let ws = Workspace::new("out-symlink");
    let victim = ws.dir().join("victim.txt");
    std::fs::write(&victim, "precious\n").expect("a file");

    let link = ws.dir().join("link.jsonl");
    symlink(&victim, &link).expect("a link");
    let output = export_to(&ws, &link);
    let error = run_error(&output);
    assert!(error.contains("symbolic link"), "{output:?}");
    assert_eq!(
        std::fs::read_to_string(&victim).expect("kept"),
        "precious\n"
    );

    // A dangling link would create its target.
    let target = ws.dir().join("created-through-a-link.jsonl");
    let dangling = ws.dir().join("dangling.jsonl");
    symlink(&target, &dangling).expect("a dangling link");
    let output = export_to(&ws, &dangling);
    run_error(&output);
    assert!(!target.exists(), "{output:?}");

    // `--output` is refused before the run starts.
    let out_link = ws.dir().join("outputs.json");
    symlink(&victim, &out_link).expect("a link");
    let output = run(
        &ws,
        &example("export-contacts.json"),
        &[
            "--input",
            &format!("file={}", ws.file("contacts.jsonl")),
            "--output",
            &text(&out_link),
        ],
    );
    assert!(!output.success(), "{output:?}");
    assert!(output.stderr.contains("symbolic link"), "{output:?}");
    assert!(
        !output.stderr.contains("sandbox: Constant Contact emulator"),
        "refused before the run: {output:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&victim).expect("kept"),
        "precious\n"
    );
}

#[test]
fn new_exports_and_outputs_are_private() {
    let ws = Workspace::new("out-private");
    let file = ws.dir().join("contacts.jsonl");
    let outputs = ws.dir().join("outputs.json");
    let output = run(
        &ws,
        &example("export-contacts.json"),
        &[
            "--input",
            &format!("file={}", text(&file)),
            "--output",
            &text(&outputs),
        ],
    );
    output.finished();
    assert_eq!(mode(&file), 0o600, "{output:?}");
    assert_eq!(mode(&outputs), 0o600, "{output:?}");
    // An existing outputs file is replaced in place, private too.
    std::fs::set_permissions(&outputs, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let inode = std::fs::metadata(&outputs).expect("there").ino();
    run(
        &ws,
        &example("export-contacts.json"),
        &[
            "--input",
            &format!("file={}", text(&file)),
            "--output",
            &text(&outputs),
        ],
    )
    .finished();
    assert_eq!(std::fs::metadata(&outputs).expect("there").ino(), inode);
    assert_eq!(mode(&outputs), 0o600);
}

/// Runs `plugboard args...` with at most 4 GiB of address space, as a small machine would have:
/// an expression that allocates without bound aborts the process instead of swapping the test
/// machine to a halt.
fn run_bounded(ws: &Workspace, args: &[&str]) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4194304 && exec \"$0\" \"$@\"")
        .arg(plugboard_binary())
        .args(args)
        .arg("--state")
        .arg(ws.state())
        .current_dir(workspace_root())
        .env_remove("PLUGBOARD_PLUGIN_PATH")
        .env_remove("PLUGBOARD_STATE")
        .env("NO_COLOR", "1")
        // glibc reserves address space per thread arena; a machine with many cores would run
        // out of the 4 GiB on reservations alone.
        .env("MALLOC_ARENA_MAX", "2")
        .stdin(Stdio::null())
        .output()
        .expect("plugboard runs")
}

/// A workflow whose step `big` creates a list with a description made by `expression`.
fn make_big(ws: &Workspace, name: &str, expression: &str) -> PathBuf {
    workflow(
        ws,
        name,
        &json!({
            "name": "A big value",
            "connections": { "cc": { "connector": "constant-contact", "connection": EXAMPLE_CONNECTION } },
            "steps": [
                {
                    "id": "big",
                    "call": "cc.contact_lists.create",
                    "input": { "name": "big", "description": format!("{{{{ {expression} }}}}") }
                }
            ]
        }),
    )
}

#[test]
fn an_expression_cannot_exhaust_memory() {
    let ws = Workspace::new("out-expression-memory");
    let expressions = [
        "[1] * 100000000",
        "[[1] * 1000] * 1000000",
        "['x' * 1000000] * 1000",
        "([1] * 10000) | batch(10000000000, 0)",
        "[1] | slice(10000000000)",
        "range(100000) | join('x' * 1000000)",
        "('a' * 1000000) | replace('a', 'b' * 10000)",
        "'x' | indent(10000000000, true)",
        "'%10000000000s' | format('x')",
    ];
    for (n, expression) in expressions.iter().enumerate() {
        let path = make_big(&ws, &format!("big-{n}.json"), expression);
        let output = run_bounded(&ws, &["run", &text(&path), "--sandbox", "--json"]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(1),
            "`{expression}` fails the run without aborting:\n{stdout}\n{stderr}"
        );
        let last: Value = stdout
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str(line).ok())
            .unwrap_or_else(|| panic!("no JSON line:\n{stdout}\n{stderr}"));
        assert_eq!(last["event"], "run_failed", "{stdout}");
        let error = last["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("step `big`") && error.contains("limit"),
            "`{expression}`: the error names the step and the limit: {error}"
        );
    }

    // Small repetitions still work.
    let path = make_big(&ws, "small.json", "'-' * 20 ~ ([1, 2] * 3) | string");
    let output = run_bounded(&ws, &["run", &text(&path), "--sandbox", "--json"]);
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
