//! The files a run writes, against a fake step runner: where API data may put a `records_to`
//! file, when an existing one is replaced, that retries empty the file they made, and that the
//! state file is never written.

#![cfg(unix)]

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{FakeCatalog, FakeRunner, workflow};
use plugboard_workflow::{
    Failure, MemoryJournal, NoObserver, RunError, RunOptions, ValidWorkflow, run_with, validate,
};
use serde_json::{Map, Value, json};

fn valid(source: &str) -> ValidWorkflow {
    validate(source, &FakeCatalog::new()).unwrap_or_else(|problems| {
        panic!(
            "invalid workflow:\n{}",
            problems
                .iter()
                .map(|p| format!("{p}\n"))
                .collect::<String>()
        )
    })
}

/// A workflow whose step `src` echoes `inputs.name` as `steps.src.output.input.id` (data from a
/// call), then exports records to `records_to`.
fn export(records_to: Value) -> ValidWorkflow {
    valid(&workflow(
        json!({"type": "object", "properties": {"name": {"type": "string"}, "dir": {"type": "string"}}}),
        json!([
            {"id": "src", "call": "acme.contacts.get", "input": {"id": "{{ inputs.name }}"}},
            {"id": "exp", "call": "acme.contacts.export", "records_to": records_to}
        ]),
        json!({}),
    ))
}

/// Echoes calls; the export streams two records.
fn runner() -> FakeRunner {
    FakeRunner::new(|method, input, on_record| {
        if method == "contacts.export" {
            on_record(json!({"n": 1}))?;
            on_record(json!({"n": 2}))?;
            return Ok(json!({"count": 2}));
        }
        Ok(json!({"method": method, "input": input}))
    })
}

fn run_in(
    wf: &ValidWorkflow,
    name: &str,
    dir: &Path,
    state_file: Option<&Path>,
) -> Result<(), RunError> {
    let inputs: Map<String, Value> = json!({"name": name, "dir": dir.to_str().expect("utf-8")})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let options = RunOptions {
        state_file: state_file.map(Path::to_owned),
        ..RunOptions::default()
    };
    run_with(
        wf,
        inputs,
        &runner(),
        &MemoryJournal::new(),
        &NoObserver,
        &options,
    )
    .map(drop)
}

fn file_failure(result: Result<(), RunError>) -> String {
    match result {
        Err(RunError::StepFailed {
            step,
            failure: Failure::File(message),
            ..
        }) if step == "exp" => message,
        other => panic!("expected the export to fail on its file: {other:?}"),
    }
}

#[test]
fn data_names_a_file_in_the_folder_the_workflow_names() {
    let dir = tempfile::tempdir().expect("a folder");
    let template = format!(
        "{}/{{{{ steps.src.output.input.id }}}}.jsonl",
        dir.path().display()
    );
    let in_name = export(json!(template));
    let as_folder = export(json!(format!(
        "{}/{{{{ steps.src.output.input.id }}}}/x.jsonl",
        dir.path().display()
    )));

    for (wf, name) in [
        (&in_name, "../up"),
        (&in_name, "/etc/passwd"),
        (&in_name, "a\\b"),
        (&as_folder, ".."),
        (&as_folder, "."),
        (&as_folder, ""),
    ] {
        let message = file_failure(run_in(wf, name, dir.path(), None));
        assert!(
            message.contains("name a file, not a folder"),
            "{name}: {message}"
        );
    }
    assert!(!dir.path().join("../up.jsonl").exists());

    // A folder the data names may not lead elsewhere through a link.
    let outside = tempfile::tempdir().expect("another folder");
    symlink(outside.path(), dir.path().join("away")).expect("a link");
    let message = file_failure(run_in(&as_folder, "away", dir.path(), None));
    assert!(message.contains("symbolic link"), "{message}");
    assert!(!outside.path().join("x.jsonl").exists());

    // A plain name, and `..` inside a name, are fine.
    run_in(&in_name, "weekly..2", dir.path(), None).expect("runs");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("weekly..2.jsonl")).expect("written"),
        "{\"n\":1}\n{\"n\":2}\n"
    );
}

#[test]
fn inputs_and_text_may_name_folders_but_data_mixed_into_them_may_not() {
    let dir = tempfile::tempdir().expect("a folder");
    std::fs::create_dir(dir.path().join("sub")).expect("a folder");
    // Only `inputs`: the person running the workflow chose it.
    let from_inputs = export(json!("{{ inputs.dir }}/sub/../{{ inputs.name }}"));
    run_in(&from_inputs, "sub/a.jsonl", dir.path(), None).expect("runs");
    assert!(dir.path().join("sub/a.jsonl").is_file());
    // One expression mixing a folder from `inputs` with data is data as a whole.
    let mixed = export(json!("{{ inputs.dir ~ '/' ~ steps.src.output.input.id }}"));
    file_failure(run_in(&mixed, "b.jsonl", dir.path(), None));
    let split = export(json!("{{ inputs.dir }}/{{ steps.src.output.input.id }}"));
    run_in(&split, "b.jsonl", dir.path(), None).expect("runs");
    assert!(dir.path().join("b.jsonl").is_file());
}

#[test]
fn an_existing_file_is_replaced_only_when_the_workflow_says_so() {
    let dir = tempfile::tempdir().expect("a folder");
    let existing = dir.path().join("weekly.jsonl");
    let template = format!(
        "{}/{{{{ steps.src.output.input.id }}}}.jsonl",
        dir.path().display()
    );
    let reset = || std::fs::write(&existing, "keep\n").expect("written");
    let content = || std::fs::read_to_string(&existing).expect("read");

    reset();
    let message = file_failure(run_in(&export(json!(template)), "weekly", dir.path(), None));
    assert!(message.contains("already exists"), "{message}");
    assert!(message.contains("\"overwrite\": true"), "{message}");
    assert_eq!(content(), "keep\n");

    let overwrite = export(json!({"path": template, "overwrite": true}));
    run_in(&overwrite, "weekly", dir.path(), None).expect("runs");
    assert_eq!(content(), "{\"n\":1}\n{\"n\":2}\n");

    // Named by the inputs alone: replaced, unless the step says `overwrite: false`.
    reset();
    let named = export(json!("{{ inputs.dir }}/weekly.jsonl"));
    run_in(&named, "x", dir.path(), None).expect("runs");
    assert_eq!(content(), "{\"n\":1}\n{\"n\":2}\n");
    reset();
    let kept = export(json!({"path": "{{ inputs.dir }}/weekly.jsonl", "overwrite": false}));
    let message = file_failure(run_in(&kept, "x", dir.path(), None));
    assert!(message.contains("`\"overwrite\": false`"), "{message}");
    assert_eq!(content(), "keep\n");
}

#[test]
fn a_retry_empties_the_file_its_step_made() {
    let dir = tempfile::tempdir().expect("a folder");
    let wf = valid(&workflow(
        json!({"type": "object"}),
        json!([{"id": "exp", "call": "acme.contacts.export",
                "records_to": format!("{}/{{{{ 'out' }}}}.jsonl", dir.path().display()),
                "on_error": {"retry": {"attempts": 2, "backoff_ms": 1}}}]),
        json!({}),
    ));
    let attempts = AtomicU64::new(0);
    let runner = FakeRunner::new(move |_, _, on_record| {
        on_record(json!({"attempt": attempts.fetch_add(1, Ordering::SeqCst)}))?;
        if attempts.load(Ordering::SeqCst) == 1 {
            return Err(plugboard_core::ConnectorError::Api {
                status: 503,
                errors: vec![],
            });
        }
        Ok(json!({"count": 1}))
    });
    run_with(
        &wf,
        Map::new(),
        &runner,
        &MemoryJournal::new(),
        &NoObserver,
        &RunOptions::default(),
    )
    .expect("the second attempt succeeds");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.jsonl")).expect("read"),
        "{\"attempt\":1}\n"
    );
}

#[test]
fn the_state_file_is_never_written() {
    let dir = tempfile::tempdir().expect("a folder");
    let state = dir.path().join("state.db");
    std::fs::write(&state, "tokens").expect("written");
    let named = export(json!("{{ inputs.name }}"));
    for path in [
        state.clone(),
        dir.path().join("./state.db-wal"),
        dir.path().join("state.db-journal"),
    ] {
        let message = file_failure(run_in(
            &named,
            path.to_str().expect("utf-8"),
            dir.path(),
            Some(&state),
        ));
        assert!(message.contains("state file"), "{message}");
    }
    assert_eq!(std::fs::read_to_string(&state).expect("kept"), "tokens");
}

#[test]
fn records_to_takes_a_path_or_a_path_and_overwrite() {
    for (records_to, expected) in [
        (json!(5), "`records_to` must be a path, or"),
        (
            json!({"path": "x", "replace": true}),
            "`records_to` must be a path, or",
        ),
        (
            json!({"overwrite": true}),
            "`records_to` must be a path, or",
        ),
    ] {
        let source = workflow(
            json!({"type": "object"}),
            json!([{"id": "exp", "call": "acme.contacts.export", "records_to": records_to}]),
            json!({}),
        );
        let problems = validate(&source, &FakeCatalog::new()).expect_err("invalid");
        assert!(
            problems
                .iter()
                .any(|p| p.pointer == "/steps/0/records_to" && p.message.starts_with(expected)),
            "{records_to}: {problems:?}"
        );
    }
    // An expression error in the object form points at its `path`.
    let source = workflow(
        json!({"type": "object"}),
        json!([{"id": "exp", "call": "acme.contacts.export",
                "records_to": {"path": "{{ steps.nope.output }}", "overwrite": true}}]),
        json!({}),
    );
    let problems = validate(&source, &FakeCatalog::new()).expect_err("invalid");
    assert!(
        problems
            .iter()
            .any(|p| p.pointer == "/steps/0/records_to/path"),
        "{problems:?}"
    );
}
