//! Workflows on Temporal through the real binary (built with the `postgres` and `temporal`
//! features by `cargo xtask test`, which also starts a throwaway PostgreSQL and a Temporal dev
//! server on 127.0.0.1): `plugboard worker` processes execute what `plugboard run --temporal`
//! starts, against the Constant Contact sandbox.
//!
//! Without `PLUGBOARD_TEST_POSTGRES_URL` and `PLUGBOARD_TEST_TEMPORAL_ADDRESS` these tests fail
//! (never skip): run them with `cargo xtask test -p plugboard-tests --test temporal_run`.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use constant_contact_sandbox::Sandbox;
use plugboard_tests::e2e::{example, sandbox_config, start_sandbox};
use plugboard_tests::temporal::{
    Workers, executions, history, required, task_queue, temporal_address, temporal_binary,
};
use plugboard_tests::{plugboard_binary, temp_dir, wait, workspace_root};
use serde_json::Value;
use tokio_postgres::NoTls;

const KEY: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
const TIMEOUT: Duration = Duration::from_secs(120);
const CONNECTION: &str = "constant-contact";

/// A fresh database on the test server (left for the throwaway server to take with it).
fn database() -> String {
    let server = required("PLUGBOARD_TEST_POSTGRES_URL");
    let name = format!("pbtmp_{}_{:016x}", std::process::id(), fastrand::u64(..));
    wait(async {
        let (client, connection) = tokio_postgres::connect(&server, NoTls).await.unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
    });
    let (base, _) = server.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

#[derive(Debug)]
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The progress events of a `--json` run (`event` and `step`, times left out), notes and the
    /// result line excluded.
    fn progress(&self) -> Vec<(String, String)> {
        self.stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|event| !matches!(event["event"].as_str(), Some("note" | "run_finished")))
            .map(|event| {
                (
                    event["event"].as_str().unwrap_or_default().to_owned(),
                    event["step"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// The `outputs` of the `run_finished` line of a `--json` run.
    fn run_finished(&self) -> Value {
        assert!(self.success(), "the run failed:\n{self:#?}");
        let last: Value = self
            .stdout
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str::<Value>(line).ok())
            .unwrap_or_else(|| panic!("no JSON line:\n{self:#?}"));
        assert_eq!(last["event"], "run_finished", "{self:#?}");
        last
    }
}

fn command(binary: &Path, state: &str, args: &[&str]) -> Command {
    let mut command = Command::new(binary);
    command
        .current_dir(workspace_root())
        .args(args)
        .args(["--state", state])
        .env_remove("PLUGBOARD_STATE")
        .env_remove("PLUGBOARD_PLUGIN_PATH")
        .env("PLUGBOARD_SECRET_KEY", KEY)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

/// `plugboard args… --state state`, bounded in time.
fn plugboard(binary: &Path, state: &str, args: &[&str]) -> Output {
    let output = xtask::scale_check::run_bounded(command(binary, state, args), TIMEOUT)
        .unwrap_or_else(|e| panic!("plugboard {args:?}: {e:#}"));
    Output {
        code: output.status.code(),
        stdout: output.stdout,
        stderr: output.stderr,
    }
}

/// `partner set` and `connect` (playing the browser) against `sandbox`.
fn install(binary: &Path, state: &str, sandbox: &Sandbox) {
    xtask::scale_check::deployment::install_sandbox_connection(
        |args| command(binary, state, args),
        sandbox,
        CONNECTION,
    )
    .unwrap_or_else(|e| panic!("installing the connection: {e:#}"));
}

/// `outputs` with the sandbox's generated ids replaced by their role, so runs against two
/// sandboxes compare.
fn without_ids(outputs: &Value) -> String {
    let mut text = outputs.to_string();
    for (field, role) in [("list_id", "<list>"), ("contact_id", "<contact>")] {
        if let Some(id) = outputs[field].as_str() {
            text = text.replace(id, role);
        }
    }
    text
}

/// `run WORKFLOW --temporal ADDRESS --task-queue QUEUE`.
fn run_on_temporal<'a>(workflow: &'a str, address: &'a str, queue: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        workflow,
        "--temporal",
        address,
        "--task-queue",
        queue,
    ]
}

fn quickstart_args(members: &str) -> Vec<&str> {
    vec!["--json", "--no-rate-limits", "--input", members]
}

#[test]
fn a_run_on_temporal_gives_the_embedded_outputs_and_a_second_start_sends_nothing() {
    let binary = temporal_binary();
    let state = database();
    let dir = temp_dir("temporal-run");
    let sandbox = start_sandbox(sandbox_config());
    install(&binary, &state, &sandbox);
    let queue = task_queue("one");
    let _workers = Workers::start(1, &binary, &state, &queue, &dir, KEY);
    // Only the run's requests count from here (not the connection's check at connect).
    sandbox.reset_stats();

    let members = format!("members_file={}", dir.join("members.jsonl").display());
    let quickstart = example("quickstart.json").to_string_lossy().into_owned();
    let address = temporal_address();
    let mut args = run_on_temporal(&quickstart, &address, &queue);
    args.extend(quickstart_args(&members));
    let on_temporal = plugboard(&binary, &state, &args);
    let finished = on_temporal.run_finished();
    assert_eq!(finished["status"], "completed", "{on_temporal:#?}");
    let run = finished["run"].as_i64().unwrap();
    assert!(
        on_temporal
            .stderr
            .contains(&format!("as workflow {queue}-run-{run}")),
        "{on_temporal:#?}"
    );
    // The records went to their file on the worker, not through the workflow.
    let exported = std::fs::read_to_string(dir.join("members.jsonl")).unwrap();
    assert_eq!(
        exported.lines().count() as i64,
        finished["outputs"]["members_exported"].as_i64().unwrap()
    );
    let stats = sandbox.stats();
    let sent = stats.api_requests;
    assert_eq!(sent, 5, "one request per step");
    // `--no-rate-limits` reached the worker: at the connector's 4/s, five calls span a second.
    assert!(
        stats.admitted_span_ms < 750,
        "the worker enforced the rate limit it was told to leave off: {stats:?}"
    );

    // The same run started again: Temporal starts nothing, the sandbox sees nothing new, and
    // the outputs are the same.
    let run_text = run.to_string();
    let mut again_args = args.clone();
    again_args.extend(["--resume", run_text.as_str()]);
    let again = plugboard(&binary, &state, &again_args);
    assert_eq!(again.run_finished()["outputs"], finished["outputs"]);
    assert!(again.stderr.contains("already started"), "{again:#?}");
    assert_eq!(sandbox.stats().api_requests, sent, "nothing was sent twice");

    // `plugboard runs` on the shared state lists the run the worker executed, once, completed.
    let runs = plugboard(&binary, &state, &["runs", "--json"]);
    let listed: Vec<Value> = serde_json::from_str(&runs.stdout).unwrap();
    let ours: Vec<&Value> = listed.iter().filter(|r| r["id"] == run).collect();
    assert_eq!(ours.len(), 1, "{listed:#?}");
    assert_eq!(ours[0]["status"], "completed", "{listed:#?}");
    assert!(ours[0]["finished_at_ms"].is_i64(), "{listed:#?}");

    // The embedded run of the same workflow, on SQLite against another sandbox.
    let local_sandbox = start_sandbox(sandbox_config());
    let file = dir.join("state.db");
    let file = file.to_string_lossy();
    install(&plugboard_binary(), &file, &local_sandbox);
    let local_members = format!("members_file={}", dir.join("local.jsonl").display());
    let mut local_args = vec!["run", quickstart.as_str()];
    local_args.extend(quickstart_args(&local_members));
    let local = plugboard(&plugboard_binary(), &file, &local_args);
    assert_eq!(
        without_ids(&finished["outputs"]),
        without_ids(&local.run_finished()["outputs"])
    );
    // The worker's progress reached the process that started the run: the same events, in the
    // same order, as the local run printed.
    let progress = on_temporal.progress();
    assert_eq!(progress, local.progress());
    assert_eq!(
        progress.len(),
        11,
        "started and finished for each of 5 steps, and the export's records: {progress:?}"
    );
}

/// A run that completed without its answer reaching Temporal (its worker died between the two)
/// is answered from the outputs it journaled: the next attempt sends nothing and gives the same
/// outputs. Stood in for by a run completed on the shared state, then started on Temporal.
#[test]
fn a_completed_run_whose_answer_was_lost_is_answered_from_its_journal() {
    let binary = temporal_binary();
    let state = database();
    let dir = temp_dir("temporal-completed");
    let sandbox = start_sandbox(sandbox_config());
    install(&binary, &state, &sandbox);
    let members = format!("members_file={}", dir.join("members.jsonl").display());
    let quickstart = example("quickstart.json").to_string_lossy().into_owned();
    let mut local_args = vec!["run", quickstart.as_str()];
    local_args.extend(quickstart_args(&members));
    let local = plugboard(&binary, &state, &local_args);
    let finished = local.run_finished();
    let run = finished["run"].as_i64().unwrap().to_string();
    let sent = sandbox.stats().api_requests;

    let queue = task_queue("completed");
    let _workers = Workers::start(1, &binary, &state, &queue, &dir, KEY);
    let address = temporal_address();
    let mut args = run_on_temporal(&quickstart, &address, &queue);
    args.extend(["--resume", run.as_str()]);
    args.extend(quickstart_args(&members));
    let again = plugboard(&binary, &state, &args);
    let answered = again.run_finished();
    assert_eq!(answered["status"], "completed", "{again:#?}");
    assert_eq!(answered["outputs"], finished["outputs"], "{again:#?}");
    assert_eq!(sandbox.stats().api_requests, sent, "nothing was sent again");

    // The run with another workflow's steps is refused before anything starts.
    let other = example("add-subscriber.json")
        .to_string_lossy()
        .into_owned();
    let mut changed = run_on_temporal(&other, &address, &queue);
    changed.extend(["--resume", run.as_str(), "--input", "email=ada@example.com"]);
    let refused = plugboard(&binary, &state, &changed);
    assert!(!refused.success(), "{refused:#?}");
    assert!(
        refused
            .stderr
            .contains(&format!("run {run} cannot be resumed with")),
        "{refused:#?}"
    );
    assert_eq!(sandbox.stats().api_requests, sent, "nothing was sent");
}

#[test]
fn a_bad_address_or_a_state_file_is_refused_before_anything_is_sent() {
    let binary = temporal_binary();
    let quickstart = example("quickstart.json").to_string_lossy().into_owned();
    let dir = temp_dir("temporal-refused");
    let file = dir.join("state.db");
    let refused = plugboard(
        &binary,
        &file.to_string_lossy(),
        &["run", &quickstart, "--temporal", "127.0.0.1:7233"],
    );
    assert!(!refused.success(), "{refused:#?}");
    assert!(
        refused.stderr.contains("--temporal needs the shared state"),
        "{refused:#?}"
    );
    let worker = plugboard(
        &binary,
        &database(),
        &["worker", "--temporal", "no-port-here"],
    );
    assert!(!worker.success(), "{worker:#?}");
    assert!(
        worker
            .stderr
            .contains("--temporal no-port-here: not HOST:PORT"),
        "{worker:#?}"
    );
}

#[test]
fn three_workers_share_one_rate_limit() {
    let binary = temporal_binary();
    let state = database();
    let dir = temp_dir("temporal-workers");
    // The sandbox at Constant Contact's real per-second limit: a 429 would show a worker that
    // does not share the limiter.
    let config = constant_contact_sandbox::SandboxConfig {
        per_second_limit: constant_contact_sandbox::SandboxConfig::default().per_second_limit,
        ..sandbox_config()
    };
    let sandbox = start_sandbox(config);
    install(&binary, &state, &sandbox);
    let queue = task_queue("three");
    let _workers = Workers::start(3, &binary, &state, &queue, &dir, KEY);

    let quickstart = example("quickstart.json").to_string_lossy().into_owned();
    let address = temporal_address();
    // Four runs of five calls each at once: 20 calls, spread over the workers.
    let runs: Vec<_> = (0..4)
        .map(|n| {
            let (binary, state, quickstart, address, dir, queue) = (
                binary.clone(),
                state.clone(),
                quickstart.clone(),
                address.clone(),
                dir.to_path_buf(),
                queue.clone(),
            );
            std::thread::spawn(move || {
                let members = format!("members_file={}", dir.join(format!("m{n}.jsonl")).display());
                let list = format!("list_name=Temporal list {n}");
                let email = format!("email=ada{n}@example.com");
                let mut args = run_on_temporal(&quickstart, &address, &queue);
                args.extend([
                    "--json", "--input", &members, "--input", &list, "--input", &email,
                ]);
                plugboard(&binary, &state, &args)
            })
        })
        .collect();
    for run in runs {
        let output = run.join().unwrap();
        assert_eq!(output.run_finished()["status"], "completed", "{output:#?}");
    }
    let stats = sandbox.stats();
    // Five steps for each of four runs, and the connection's check at connect.
    assert_eq!(stats.api_requests, 20 + 1, "{stats:?}");
    assert_eq!(stats.throttled_429, 0, "{stats:?}");
    assert!(stats.peak_per_second <= 4, "{stats:?}");
    let executed: Vec<usize> = (0..3)
        .map(|n| {
            std::fs::read_to_string(dir.join(format!("worker-{n}.log")))
                .unwrap_or_default()
                .matches("executing run")
                .count()
        })
        .collect();
    // Each of the five steps is a piece, and the run's end one more.
    assert_eq!(executed.iter().sum::<usize>(), 4 * 6, "{executed:?}");
    eprintln!("pieces per worker: {executed:?}; sandbox: {stats:?}");
}

/// A workflow (and its inputs file) that makes a list, subscribes each of `emails` to it, three
/// at once, and reads the list back.
fn loop_workflow(dir: &Path, emails: &[String]) -> (std::path::PathBuf, std::path::PathBuf) {
    let workflow = dir.join("loop.json");
    std::fs::write(
        &workflow,
        serde_json::json!({
            "name": "Subscribe each address",
            "connections": {"cc": {"connector": "constant-contact", "connection": CONNECTION}},
            "inputs": {"type": "object", "properties": {"emails": {"type": "array", "items": {"type": "string"}}}, "required": ["emails"]},
            "steps": [
                {"id": "list", "call": "cc.contact_lists.create", "input": {"name": "Loop on Temporal"}},
                {"id": "each", "for_each": "{{ inputs.emails }}", "concurrency": 3, "call": "cc.contacts.create_or_update",
                 "input": {"email_address": "{{ item }}", "list_memberships": ["{{ steps.list.output.list_id }}"]}},
                {"id": "after", "call": "cc.contact_lists.get", "input": {"list_id": "{{ steps.list.output.list_id }}"}}
            ],
            "outputs": {
                "actions": "{{ steps.each.output | map(attribute='action') | list }}",
                "list": "{{ steps.after.output.name }}"
            }
        })
        .to_string(),
    )
    .unwrap();
    let inputs = dir.join("inputs.json");
    std::fs::write(&inputs, serde_json::json!({ "emails": emails }).to_string()).unwrap();
    (workflow, inputs)
}

/// A loop over an array on Temporal: each call is an activity of its own, `concurrency` at once
/// on any of the workers, and a run whose history grows long continues as new; every call is
/// made once, and the outputs are those of a run in one go.
#[test]
fn a_loop_s_calls_are_activities_spread_over_workers_and_a_long_run_continues_as_new() {
    const CALLS: usize = 30;
    let binary = temporal_binary();
    let state = database();
    let dir = temp_dir("temporal-loop");
    let sandbox = start_sandbox(sandbox_config());
    install(&binary, &state, &sandbox);
    let queue = task_queue("loop");
    // One piece at a time per worker: the loop's three calls at once are on three workers.
    let _workers = Workers::start_with(3, &binary, &state, &queue, &dir, KEY, &["--max-runs", "1"]);
    sandbox.reset_stats();

    let emails: Vec<String> = (0..CALLS).map(|n| format!("loop{n}@example.com")).collect();
    let (workflow, inputs) = loop_workflow(&dir, &emails);
    let (workflow, inputs) = (workflow.to_string_lossy(), inputs.to_string_lossy());
    let address = temporal_address();
    let mut args = run_on_temporal(&workflow, &address, &queue);
    args.extend(["--json", "--no-rate-limits", "--inputs-file", &inputs]);
    args.extend(["--history-events", "100"]);
    let on_temporal = plugboard(&binary, &state, &args);
    let finished = on_temporal.run_finished();
    assert_eq!(finished["status"], "completed", "{on_temporal:#?}");
    let actions = finished["outputs"]["actions"].as_array().unwrap();
    assert_eq!(actions.len(), CALLS, "{finished:#}");
    assert!(actions.iter().all(|a| a == "created"), "{finished:#}");
    assert_eq!(finished["outputs"]["list"], "Loop on Temporal");
    // Every call once: the list, each address, the list read back.
    assert_eq!(sandbox.stats().api_requests, 1 + CALLS as u64 + 1);

    // The workflow's executions: each call an activity (`execute_piece`), the history of each
    // execution short of the limit it was given, and the run continued as new to get there.
    let run = finished["run"].as_i64().unwrap();
    let id = format!("{queue}-run-{run}");
    let runs = executions(&id);
    assert!(runs.len() >= 2, "it never continued as new: {runs:?}");
    let mut pieces = Vec::new();
    let mut lengths = Vec::new();
    for execution in &runs {
        let events = history(&id, execution);
        lengths.push(events.len());
        assert!(events.len() < 150, "{} events in {execution}", events.len());
        pieces.extend(
            events
                .iter()
                .filter_map(|e| {
                    e["activityTaskScheduledEventAttributes"]["activityType"]["name"].as_str()
                })
                .map(str::to_owned),
        );
    }
    // 3 steps, the loop's step twice (started, then put together), 30 calls and the end; a step
    // cut by a continue-as-new is asked again.
    assert!(
        pieces
            .iter()
            .all(|name| name == "RunActivities::execute_piece"),
        "{pieces:?}"
    );
    assert!(
        (3 + 1 + CALLS + 1..=3 + 1 + CALLS + 1 + runs.len()).contains(&pieces.len()),
        "{} pieces in {} executions",
        pieces.len(),
        runs.len()
    );

    // The calls were spread over the workers.
    let calls: Vec<usize> = (0..3)
        .map(|n| {
            std::fs::read_to_string(dir.join(format!("worker-{n}.log")))
                .unwrap_or_default()
                .lines()
                .filter(|line| {
                    line.starts_with("worker: executing run") && line.contains(", call ")
                })
                .count()
        })
        .collect();
    assert_eq!(calls.iter().sum::<usize>(), CALLS, "{calls:?}");
    assert!(
        calls.iter().filter(|&&n| n > 0).count() >= 2,
        "one worker made every call: {calls:?}"
    );
    eprintln!(
        "{} pieces in {} executions of {lengths:?} events; calls per worker: {calls:?}",
        pieces.len(),
        runs.len()
    );
}

/// A call of a loop that fails the run while others of the loop are in flight: the run is
/// recorded failed with that call's reason (the calls cancelled beside it do not overwrite it),
/// nothing after it runs, and no call is sent twice.
#[test]
fn a_call_that_fails_a_loop_on_temporal_is_the_run_s_end() {
    const CALLS: usize = 12;
    const BAD: usize = 7;
    let binary = temporal_binary();
    let state = database();
    let dir = temp_dir("temporal-loop-fails");
    let sandbox = start_sandbox(sandbox_config());
    install(&binary, &state, &sandbox);
    let queue = task_queue("loop-fails");
    let _workers = Workers::start(2, &binary, &state, &queue, &dir, KEY);
    sandbox.reset_stats();
    // Longer than the 50 characters the API takes: refused before it is sent.
    let emails: Vec<String> = (0..CALLS)
        .map(|n| match n {
            BAD => format!("{}@example.com", "x".repeat(60)),
            n => format!("fails{n}@example.com"),
        })
        .collect();
    let (workflow, inputs) = loop_workflow(&dir, &emails);
    let (workflow, inputs) = (workflow.to_string_lossy(), inputs.to_string_lossy());
    let address = temporal_address();
    let mut args = run_on_temporal(&workflow, &address, &queue);
    // At the API's own pace, so the calls beside the bad one are still going when it fails.
    args.extend(["--json", "--inputs-file", &inputs]);
    let failed = plugboard(&binary, &state, &args);
    assert!(!failed.success(), "{failed:#?}");
    let line = failed
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["event"] == "run_failed")
        .unwrap_or_else(|| panic!("no run_failed line: {failed:#?}"));
    let error = line["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("step `each` (call {BAD}) failed")),
        "{failed:#?}"
    );
    let run = line["run"].as_i64().unwrap();
    let runs = plugboard(&binary, &state, &["runs", "--json"]);
    let listed: Vec<Value> = serde_json::from_str(&runs.stdout).unwrap();
    let ours = listed.iter().find(|r| r["id"] == run).unwrap();
    assert_eq!(ours["status"], "failed", "{listed:#?}");
    assert!(
        ours["error"]
            .as_str()
            .is_some_and(|e| e.contains(&format!("(call {BAD})"))),
        "{listed:#?}"
    );
    // The list, and at most the other calls; the bad one never left, and `after` never ran.
    let sent = sandbox.stats().api_requests;
    assert!(sent <= CALLS as u64, "{sent} requests");
    let logs: String = (0..2)
        .map(|n| std::fs::read_to_string(dir.join(format!("worker-{n}.log"))).unwrap_or_default())
        .collect();
    assert!(
        !logs.contains(&format!("executing run {run}: step 2")),
        "{logs}"
    );
    eprintln!("{sent} requests; the run ended: {error}");
}
