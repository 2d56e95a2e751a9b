//! A plugin that panics, hangs, answers garbage or hands the host a huge length during a call
//! fails that call with an error naming the connector and the method, and nothing else: the same
//! plugin keeps working, and so do the other steps of a workflow, through the runner's `Session`
//! and through the real `plugboard run`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugboard_core::ConnectorError;
use plugboard_runner::{
    ConnectionRecord, ExecutorConfig, Registry, Session, SqliteStore, StateStore,
};
use plugboard_tests::e2e::{Output, Workspace};
use plugboard_tests::{TestDir, bad_plugin, install, plugboard_binary, temp_dir};
use serde_json::{Value, json};

/// The stall timeout of these tests: the shortest the CLI accepts (whole seconds).
const STALL: Duration = Duration::from_secs(1);

/// A directory holding only the misbehaving plugin.
fn plugin_dir(name: &str) -> TestDir {
    let dir = temp_dir(name);
    install(&bad_plugin(Some("misbehaving-invoke")), &dir, "misbehaving");
    dir
}

fn connect_misbehaving(store: &dyn StateStore, name: &str) {
    let record = ConnectionRecord {
        name: name.to_owned(),
        connector_id: "misbehaving".to_owned(),
        settings: serde_json::Map::new(),
        endpoints: None,
    };
    plugboard_tests::wait(store.put_connection(&record)).expect("the connection is stored");
}

/// The message of a plugin failure; any other error fails the test.
fn plugin_failure(result: Result<Value, ConnectorError>, method: &str) -> String {
    match result {
        Err(ConnectorError::Plugin { message }) => {
            assert!(
                message.contains("`misbehaving`") && message.contains(&format!("`{method}`")),
                "the error names the connector and the method: {message}"
            );
            message
        }
        other => panic!("`{method}` should be a plugin failure, got {other:?}"),
    }
}

#[test]
fn through_the_runner_each_misbehaviour_fails_only_its_own_call() {
    let dir = plugin_dir("misbehaving-session");
    let mut registry = Registry::new();
    registry
        .load_plugin_file(&dir.join(format!("misbehaving.{}", std::env::consts::DLL_EXTENSION)))
        .expect("the misbehaving plugin loads: it only misbehaves when called");
    let store = Arc::new(SqliteStore::open(dir.join("state.db")).expect("a store"));
    connect_misbehaving(store.as_ref(), "bad");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let config = ExecutorConfig {
        connector_stall_timeout: Some(STALL),
        ..ExecutorConfig::default()
    };
    let session =
        Session::new(registry, store, config, runtime.handle().clone()).expect("a session");
    let call = |method: &str| session.call("bad", method, json!({}), &mut |_| Ok(()));

    assert_eq!(call("ok"), Ok(json!({"ok": true})));

    let panicked = plugin_failure(call("panic"), "panic");
    assert!(panicked.contains("panics on purpose"), "{panicked}");
    assert_eq!(call("ok"), Ok(json!({"ok": true})), "alive after a panic");

    let garbage = plugin_failure(call("garbage"), "garbage");
    assert!(garbage.contains("malformed result of invoke"), "{garbage}");
    assert_eq!(call("ok"), Ok(json!({"ok": true})), "alive after garbage");

    let started = Instant::now();
    let hung = plugin_failure(call("hang"), "hang");
    let took = started.elapsed();
    assert!(
        took >= STALL && took < STALL * 5,
        "the hang was cut after {took:?}"
    );
    assert!(hung.contains("without calling the host"), "{hung}");
    assert_eq!(call("ok"), Ok(json!({"ok": true})), "alive after a hang");
}

/// `plugboard run <workflow> --plugins <dir> --sandbox ... --connector-stall-timeout 1 --json`.
fn run(ws: &Workspace, plugins: &Path, steps: Value) -> (Output, Duration) {
    let workflow = json!({
        "name": "Misbehaving plugin",
        "connections": {
            "bad": {"connector": "misbehaving", "connection": "bad"},
            "cc": {"connector": "constant-contact", "connection": "cc"}
        },
        "steps": steps,
        "outputs": {}
    });
    let file = ws.dir().join("workflow.json");
    std::fs::write(&file, workflow.to_string()).expect("the workflow is written");
    let file = file.to_string_lossy().into_owned();
    let plugins = plugins.to_string_lossy().into_owned();
    // Built (once) before the clock starts: only the run is timed.
    plugboard_binary();
    let started = Instant::now();
    let output = ws.run(&[
        "run",
        &file,
        "--plugins",
        &plugins,
        "--sandbox",
        "--sandbox-unlimited",
        "--no-rate-limits",
        "--connector-stall-timeout",
        &STALL.as_secs().to_string(),
        "--json",
    ]);
    (output, started.elapsed())
}

fn step(id: &str, call: &str, continue_on_error: bool) -> Value {
    let mut step = json!({"id": id, "call": call});
    if continue_on_error {
        step["on_error"] = json!("continue");
    }
    step
}

/// The `step_failed` event of `id`.
fn failure_of(output: &Output, id: &str) -> Value {
    output
        .events_of("step_failed")
        .into_iter()
        .find(|event| event["step"] == id)
        .unwrap_or_else(|| panic!("no step_failed event for `{id}`:\n{output:?}"))
}

fn assert_no_crash(output: &Output) {
    assert!(
        !output.stderr.contains("panicked at") && !output.stderr.contains("RUST_BACKTRACE"),
        "no panic escapes to the process:\n{output:?}"
    );
}

#[test]
fn through_the_cli_bad_steps_are_reported_and_independent_steps_complete() {
    let plugins = plugin_dir("misbehaving-cli");
    let ws = Workspace::new("misbehaving-continue");
    connect_misbehaving(&ws.store(), "bad");
    let (output, took) = run(
        &ws,
        &plugins,
        json!([
            step("panic", "bad.panic", true),
            step("hang", "bad.hang", true),
            step("garbage", "bad.garbage", true),
            step("ok", "bad.ok", false),
            step("account", "cc.account.get_summary", false),
        ]),
    );
    let finished = output.finished();
    assert_no_crash(&output);
    assert!(took < Duration::from_secs(60), "the run took {took:?}");

    for (id, detail) in [
        ("panic", "panics on purpose"),
        ("hang", "without calling the host"),
        ("garbage", "malformed result of invoke"),
    ] {
        let event = failure_of(&output, id);
        let error = event["error"].as_str().expect("an error text");
        assert!(
            error.contains("`misbehaving`") && error.contains(&format!("`{id}`")),
            "`{id}` names the connector and the method: {error}"
        );
        assert!(error.contains(detail), "`{id}`: {error}");
        assert_eq!(event["continued"], true);
    }
    let completed: Vec<Value> = output
        .events_of("step_finished")
        .into_iter()
        .map(|event| event["step"].clone())
        .collect();
    for id in ["ok", "account"] {
        assert!(
            completed.contains(&json!(id)),
            "`{id}` completed: {completed:?}\n{output:?}"
        );
    }
    assert!(
        output.events_of("step_failed").len() == 3,
        "only the three bad steps failed:\n{output:?}"
    );
    assert_eq!(finished["event"], "run_finished");
}

#[test]
fn through_the_cli_a_hung_step_fails_the_run_quickly_and_the_next_run_works() {
    let plugins = plugin_dir("misbehaving-cli-fail");
    let ws = Workspace::new("misbehaving-fail");
    connect_misbehaving(&ws.store(), "bad");
    let (output, took) = run(
        &ws,
        &plugins,
        json!([
            step("hang", "bad.hang", false),
            step("never", "bad.ok", false)
        ]),
    );
    output.failed();
    assert_no_crash(&output);
    assert!(
        took < Duration::from_secs(30),
        "a hung plugin does not hold the process: {took:?}"
    );
    let error = failure_of(&output, "hang")["error"]
        .as_str()
        .expect("an error text")
        .to_owned();
    assert!(
        error.contains("`misbehaving`")
            && error.contains("`hang`")
            && error.contains("without calling the host"),
        "{error}"
    );
    assert!(
        output.events_of("step_finished").is_empty(),
        "nothing ran after the failed step:\n{output:?}"
    );

    // The same state, plugin and connection serve the next run as if nothing had happened.
    let (again, _) = run(
        &ws,
        &plugins,
        json!([
            step("ok", "bad.ok", false),
            step("account", "cc.account.get_summary", false)
        ]),
    );
    again.finished();
}

#[test]
fn through_the_cli_huge_lengths_fail_their_steps_without_aborting_the_host() {
    let plugins = plugin_dir("misbehaving-cli-huge");
    let ws = Workspace::new("misbehaving-huge");
    connect_misbehaving(&ws.store(), "bad");
    let huge = ["huge_result", "huge_log", "huge_record", "huge_request"];
    let mut steps: Vec<Value> = huge
        .iter()
        .map(|id| step(id, &format!("bad.{id}"), true))
        .collect();
    steps.push(step("ok", "bad.ok", false));
    let (output, _) = run(&ws, &plugins, json!(steps));
    assert_no_crash(&output);
    assert!(
        !output.stderr.contains("memory allocation"),
        "the host allocated nothing for the length:\n{output:?}"
    );
    output.finished();
    for id in huge {
        let event = failure_of(&output, id);
        let error = event["error"].as_str().expect("an error text");
        assert!(
            error.contains("`misbehaving`") && error.contains(&format!("`{id}`")),
            "`{id}` names the connector and the method: {error}"
        );
        assert!(
            error.contains("1099511627776 bytes") && error.contains("64 MiB"),
            "`{id}` says what was refused: {error}"
        );
    }
    let completed: Vec<Value> = output
        .events_of("step_finished")
        .into_iter()
        .map(|event| event["step"].clone())
        .collect();
    assert!(completed.contains(&json!("ok")), "{output:?}");
    assert_eq!(
        output.events_of("step_failed").len(),
        huge.len(),
        "only the huge steps failed:\n{output:?}"
    );
}
