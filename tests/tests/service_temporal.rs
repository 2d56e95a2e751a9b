//! `plugboard serve --state postgres://… --temporal HOST:PORT` through the real binary (built with
//! the `temporal` feature), the Temporal dev server `cargo xtask test` starts, and `plugboard
//! worker` processes: the service records runs and starts them on the cluster; workers execute
//! them, whether a client or a schedule started them; the service shows their status, events
//! and outputs from the shared store, and a run goes on when the service stops.
//!
//! Without `PLUGBOARD_TEST_POSTGRES_URL` and `PLUGBOARD_TEST_TEMPORAL_ADDRESS` these tests fail
//! (never skip): run them with `cargo xtask test -p plugboard-tests --test service_temporal`.

use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use plugboard_tests::postgres::Database;
use plugboard_tests::service::{Launch, ServiceProcess};
use plugboard_tests::service_runs::{
    ADMIN_KEY, LocalApi, TOKEN_A, connect_on, create_tenant, deploy, ended, events_text,
    fetch_items, start_run, wait_for,
};
use plugboard_tests::temp_dir;
use plugboard_tests::temporal::{
    Workers, describe_schedule, task_queue, temporal_address, temporal_binary,
};
use serde_json::{Value, json};

const SECRET_KEY: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";

fn launch(db: &Database) -> Launch {
    Launch {
        binary: temporal_binary(),
        state: db.url.clone().into(),
        env: vec![("PLUGBOARD_SECRET_KEY".to_owned(), SECRET_KEY.to_owned())],
    }
}

/// How many requests the local API received for `path`.
fn requests(api: &LocalApi, path: &str) -> usize {
    api.counts().get(path).copied().unwrap_or(0)
}

#[test]
fn the_service_starts_runs_on_temporal_and_workers_execute_them() {
    let api = LocalApi::start();
    let dir = temp_dir("service-temporal");
    let db = Database::create();
    let launch = launch(&db);
    connect_on(&launch, "tenant-a/web", &api.base("/a"), TOKEN_A);
    let queue = task_queue("service");
    let address = temporal_address();
    let cluster = ["--temporal", &address, "--task-queue", &queue];
    let service = ServiceProcess::start_on(&launch, Some(ADMIN_KEY), &cluster);
    let key = create_tenant(&service, "tenant-a");
    let (status, body) = deploy(&service, "fetch-items", &fetch_items());
    assert_eq!(status, 201, "{body}");

    // No worker yet: the run waits, queued; the service does not execute it itself.
    let run = start_run(&service, "tenant-a", &key, &["x", "y"]);
    std::thread::sleep(Duration::from_millis(1_500));
    let (status, waiting) = service.call(
        "GET",
        &format!("/v1/tenants/tenant-a/runs/{run}"),
        Some(&key),
        None,
    );
    assert_eq!(status, 200, "{waiting}");
    assert_eq!(waiting["status"], "queued", "{waiting}");
    assert!(api.seen().is_empty(), "nothing was sent by the service");

    // A worker takes it; the service shows its end, outputs and events from the shared store.
    let workers = Workers::start(1, &launch.binary, &db.url, &queue, &dir, SECRET_KEY);
    let done = wait_for(&service, "tenant-a", &key, run, ended);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["outputs"]["caller"], "a", "{done}");
    assert_eq!(done["outputs"]["paths"], json!(["/a/slow/x", "/a/slow/y"]));
    assert_eq!(done["steps"][1]["calls_done"], 2, "{done}");
    let events = events_text(&service, "tenant-a", &key, run);
    assert!(events.contains("\"fetch\""), "{events}");
    assert_eq!(requests(&api, "/a/slow/x"), 1);

    // The cluster resumes a run it has (the service does not), and a cancel reaches the run on
    // its worker, which stops it before its remaining calls.
    api.delay_ms.store(1_500, Ordering::SeqCst);
    let slow = start_run(&service, "tenant-a", &key, &["s1", "s2", "s3", "s4"]);
    wait_for(&service, "tenant-a", &key, slow, |r| {
        r["steps"][1]["calls_done"].as_u64() >= Some(1)
    });
    let (status, body) = service.call(
        "POST",
        &format!("/v1/tenants/tenant-a/runs/{slow}/resume"),
        Some(&key),
        None,
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "not_resumable", "{body}");
    assert!(body.to_string().contains("Temporal"), "{body}");
    let (status, body) = service.call(
        "POST",
        &format!("/v1/tenants/tenant-a/runs/{slow}/cancel"),
        Some(&key),
        None,
    );
    assert_eq!(status, 202, "{body}");
    let cancelled = wait_for(&service, "tenant-a", &key, slow, ended);
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(
        requests(&api, "/a/slow/s4"),
        0,
        "stopped before its last call"
    );
    let (status, body) = service.call(
        "POST",
        &format!("/v1/tenants/tenant-a/runs/{slow}/cancel"),
        Some(&key),
        None,
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "run_ended", "{body}");
    // A queued run (no worker has it yet) is cancelled at once.
    drop(workers);
    let queued = start_run(&service, "tenant-a", &key, &["never"]);
    let (status, body) = service.call(
        "POST",
        &format!("/v1/tenants/tenant-a/runs/{queued}/cancel"),
        Some(&key),
        None,
    );
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "cancelled", "{body}");
    let workers = Workers::start(1, &launch.binary, &db.url, &queue, &dir, SECRET_KEY);
    api.delay_ms.store(0, Ordering::SeqCst);

    // A schedule's runs go to the cluster too.
    let (status, schedule) = service.json(
        "POST",
        "/v1/tenants/tenant-a/schedules",
        Some(&key),
        &json!({"workflow": "fetch-items", "inputs": {"items": ["s"]}, "every_secs": 1}),
    );
    assert_eq!(status, 201, "{schedule}");
    let id = schedule["id"].as_i64().expect("an id");
    std::thread::sleep(Duration::from_millis(2_500));
    let (status, body) = service.call(
        "POST",
        &format!("/v1/tenants/tenant-a/schedules/{id}/pause"),
        Some(&key),
        None,
    );
    assert_eq!(status, 200, "{body}");
    // A fire a worker had already begun when the pause came still makes its run.
    std::thread::sleep(Duration::from_secs(2));
    let (status, runs) = service.call("GET", "/v1/tenants/tenant-a/runs", Some(&key), None);
    assert_eq!(status, 200, "{runs}");
    let scheduled: Vec<i64> = runs
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .filter(|r| ![run, slow, queued].contains(r))
        .collect();
    assert!(!scheduled.is_empty(), "the schedule fired: {runs}");
    for scheduled in &scheduled {
        let done = wait_for(&service, "tenant-a", &key, *scheduled, ended);
        assert_eq!(done["status"], "completed", "{done}");
    }
    assert_eq!(requests(&api, "/a/slow/s"), scheduled.len());

    // A run goes on while no service is up: the next one shows it completed.
    api.delay_ms.store(1_500, Ordering::SeqCst);
    let last = start_run(&service, "tenant-a", &key, &["z"]);
    let (status, body) = service.call(
        "GET",
        &format!("/v1/tenants/tenant-a/runs/{last}"),
        Some(&key),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        !ended(&body),
        "unfinished when the service is killed: {body}"
    );
    drop(service); // SIGKILL
    let service = ServiceProcess::start_on(&launch, Some(ADMIN_KEY), &cluster);
    let done = wait_for(&service, "tenant-a", &key, last, ended);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["outputs"]["paths"], json!(["/a/slow/z"]));
    assert_eq!(
        requests(&api, "/a/slow/never"),
        0,
        "the run cancelled while queued never ran"
    );
    drop(workers);
}

/// Tenant A's runs of deployed workflow `workflow`, oldest first.
fn runs_of(service: &ServiceProcess, key: &str, workflow: &str) -> Vec<Value> {
    let (status, runs) = service.call("GET", "/v1/tenants/tenant-a/runs", Some(key), None);
    assert_eq!(status, 200, "{runs}");
    let mut runs: Vec<Value> = runs
        .as_array()
        .expect("a list")
        .iter()
        .filter(|run| run["workflow"] == workflow)
        .cloned()
        .collect();
    runs.sort_by_key(|run| run["id"].as_i64());
    runs
}

fn schedule_action(service: &ServiceProcess, key: &str, id: i64, action: &str) -> Value {
    let (status, body) = service.call(
        "POST",
        &format!("/v1/tenants/tenant-a/schedules/{id}/{action}"),
        Some(key),
        None,
    );
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn schedules_are_the_cluster_s_and_fire_while_no_service_is_up() {
    let api = LocalApi::start();
    let dir = temp_dir("service-temporal-schedules");
    let db = Database::create();
    let launch = launch(&db);
    connect_on(&launch, "tenant-a/web", &api.base("/a"), TOKEN_A);
    let queue = task_queue("schedules");
    let address = temporal_address();
    let cluster = ["--temporal", &address, "--task-queue", &queue];
    // A schedule made while runs were in-process (paused) moves onto the cluster with it.
    let embedded = ServiceProcess::start_on(&launch, Some(ADMIN_KEY), &[]);
    let key = create_tenant(&embedded, "tenant-a");
    for name in ["by-cron", "slow", "fetch-items"] {
        let (status, body) = deploy(&embedded, name, &fetch_items());
        assert_eq!(status, 201, "{body}");
    }
    let (status, slow) = embedded.json(
        "POST",
        "/v1/tenants/tenant-a/schedules",
        Some(&key),
        &json!({"workflow": "slow", "inputs": {"items": ["s"]}, "every_secs": 1, "paused": true}),
    );
    assert_eq!(status, 201, "{slow}");
    let slow = slow["id"].as_i64().expect("an id");
    // One the cluster cannot keep as the embedded scheduler does: paused when it moves.
    let (status, both_days) = embedded.json(
        "POST",
        "/v1/tenants/tenant-a/schedules",
        Some(&key),
        &json!({"workflow": "slow", "inputs": {"items": ["b"]}, "cron": "0 12 1 * MON"}),
    );
    assert_eq!(status, 201, "{both_days}");
    let both_days = both_days["id"].as_i64().expect("an id");
    drop(embedded);
    let service = ServiceProcess::start_on(&launch, Some(ADMIN_KEY), &cluster);
    let on_cluster = |id: i64| describe_schedule(&format!("{queue}-schedule-{id}"));
    let paused_there = |id: i64| {
        on_cluster(id).expect("the cluster has it")["schedule"]["state"]["paused"] == true
    };
    assert!(paused_there(slow), "moved onto the cluster, paused");
    assert!(on_cluster(both_days).is_none());
    let (_, kept) = service.call(
        "GET",
        &format!("/v1/tenants/tenant-a/schedules/{both_days}"),
        Some(&key),
        None,
    );
    assert_eq!(kept["paused"], true, "{kept}");
    let workers = Workers::start(2, &launch.binary, &db.url, &queue, &dir, SECRET_KEY);
    let create =
        |body: Value| service.json("POST", "/v1/tenants/tenant-a/schedules", Some(&key), &body);

    // A timing the cluster cannot keep as the embedded scheduler would is refused, and kept
    // nowhere.
    let (status, body) = create(json!(
        {"workflow": "by-cron", "inputs": {"items": ["c"]}, "cron": "0 12 1 * MON"}
    ));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_schedule", "{body}");
    assert!(body.to_string().contains("both"), "{body}");
    let (_, listed) = service.call("GET", "/v1/tenants/tenant-a/schedules", Some(&key), None);
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");

    // A cron schedule with seconds (every 2 s), and the one every second, whose runs take
    // longer, resumed on the cluster.
    api.delay_ms.store(1_300, Ordering::SeqCst);
    let (status, by_cron) = create(json!(
        {"workflow": "by-cron", "inputs": {"items": ["c"]}, "cron": "*/2 * * * * *"}
    ));
    assert_eq!(status, 201, "{by_cron}");
    let by_cron = by_cron["id"].as_i64().expect("an id");
    schedule_action(&service, &key, slow, "resume");
    assert!(!paused_there(by_cron) && !paused_there(slow));

    // The cluster fires them, not the service: with no service up, runs go on starting.
    drop(service); // SIGKILL
    let before = (requests(&api, "/a/slow/c"), requests(&api, "/a/slow/s"));
    std::thread::sleep(Duration::from_secs(8));
    let while_down = (
        requests(&api, "/a/slow/c") - before.0,
        requests(&api, "/a/slow/s") - before.1,
    );
    assert!(
        while_down.0 >= 2 && while_down.1 >= 2,
        "{while_down:?} scheduled calls in 8 s with no service up"
    );

    // Back up: every fire made one run, and the slow schedule's runs never overlapped.
    let service = ServiceProcess::start_on(&launch, Some(ADMIN_KEY), &cluster);
    schedule_action(&service, &key, by_cron, "pause");
    let shown = schedule_action(&service, &key, slow, "pause");
    assert!(shown["skipped"].as_i64() >= Some(1), "{shown}");
    // A fire a worker had already begun when the pause came still makes its run.
    std::thread::sleep(Duration::from_secs(2));
    for workflow in ["by-cron", "slow"] {
        for run in runs_of(&service, &key, workflow) {
            let id = run["id"].as_i64().expect("an id");
            let done = wait_for(&service, "tenant-a", &key, id, ended);
            assert_eq!(done["status"], "completed", "{done}");
        }
    }
    let cron_runs = runs_of(&service, &key, "by-cron");
    assert!(cron_runs.len() >= 3, "{cron_runs:?}");
    assert_eq!(
        requests(&api, "/a/slow/c"),
        cron_runs.len(),
        "one call per run"
    );
    let starts: Vec<i64> = cron_runs
        .iter()
        .map(|run| run["created_at_ms"].as_i64().expect("a time"))
        .collect();
    for pair in starts.windows(2) {
        assert!(
            pair[1] - pair[0] >= 1_000,
            "two runs for one slot: {starts:?}"
        );
    }
    let slow_runs = runs_of(&service, &key, "slow");
    let spans: Vec<(i64, i64)> = slow_runs
        .iter()
        .map(|run| {
            let times = (
                run["created_at_ms"].as_i64(),
                run["finished_at_ms"].as_i64(),
            );
            (times.0.expect("a start"), times.1.expect("an end"))
        })
        .collect();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "runs overlap: {spans:?}");
    }

    // Paused on the cluster: nothing fires.
    assert!(paused_there(by_cron) && paused_there(slow));
    let count = requests(&api, "/a/slow/c") + requests(&api, "/a/slow/s");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        requests(&api, "/a/slow/c") + requests(&api, "/a/slow/s"),
        count,
        "a paused schedule fired"
    );

    // Resumed, it fires again; deleted, it stops (the cluster's schedule goes too).
    api.delay_ms.store(0, Ordering::SeqCst);
    schedule_action(&service, &key, by_cron, "resume");
    let resumed = cron_runs.len();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while runs_of(&service, &key, "by-cron").len() <= resumed {
        assert!(std::time::Instant::now() < deadline, "no fire after resume");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, body) = service.call(
        "DELETE",
        &format!("/v1/tenants/tenant-a/schedules/{by_cron}"),
        Some(&key),
        None,
    );
    assert_eq!(status, 204, "{body}");
    assert!(on_cluster(by_cron).is_none(), "deleted on the cluster");
    std::thread::sleep(Duration::from_secs(1));
    let after_delete = runs_of(&service, &key, "by-cron").len();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        runs_of(&service, &key, "by-cron").len(),
        after_delete,
        "a deleted schedule fired"
    );

    // Deleting the tenant deletes its schedules on the cluster (a resumed one stops too) and
    // cancels its runs there.
    schedule_action(&service, &key, slow, "resume");
    let slow_calls = requests(&api, "/a/slow/s");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while requests(&api, "/a/slow/s") == slow_calls {
        assert!(std::time::Instant::now() < deadline, "no fire after resume");
        std::thread::sleep(Duration::from_millis(200));
    }
    api.delay_ms.store(1_000, Ordering::SeqCst);
    let long = start_run(
        &service,
        "tenant-a",
        &key,
        &["l1", "l2", "l3", "l4", "l5", "l6", "l7"],
    );
    wait_for(&service, "tenant-a", &key, long, |r| {
        r["steps"][1]["calls_done"].as_u64() >= Some(1)
    });
    let (status, body) = service.call("DELETE", "/v1/tenants/tenant-a", Some(ADMIN_KEY), None);
    assert_eq!(status, 204, "{body}");
    assert!(
        on_cluster(slow).is_none(),
        "deleted on the cluster with its tenant"
    );
    std::thread::sleep(Duration::from_secs(2));
    let settled = requests(&api, "/a/slow/s");
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        requests(&api, "/a/slow/s"),
        settled,
        "a deleted tenant's schedule fired"
    );
    assert_eq!(
        requests(&api, "/a/slow/l7"),
        0,
        "a deleted tenant's run went on"
    );
    // Stopped by the deletion, not by its connection going from under it.
    assert_eq!(
        db.query(&format!("SELECT status FROM runs WHERE id = {long}")),
        ["cancelled"]
    );
    drop(workers);
}

#[test]
fn serve_on_temporal_refuses_a_state_file_and_an_unreachable_cluster() {
    let dir = temp_dir("service-temporal-refused");
    let db = Database::create();
    let file = dir.join("state.db");
    for (state, address, says) in [
        (
            file.display().to_string(),
            temporal_address(),
            "--state postgres://",
        ),
        (db.url.clone(), "127.0.0.1:9".to_owned(), "127.0.0.1:9"),
    ] {
        let output = Command::new(temporal_binary())
            .args(["--state", &state, "serve", "--listen", "127.0.0.1:0"])
            .args(["--public-url", "http://127.0.0.1:9", "--temporal", &address])
            .env("PLUGBOARD_SECRET_KEY", SECRET_KEY)
            .env("PLUGBOARD_ADMIN_KEY", ADMIN_KEY)
            .env_remove("PLUGBOARD_STATE")
            .output()
            .expect("plugboard runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            !String::from_utf8_lossy(&output.stdout).contains("listening"),
            "it never listened"
        );
    }
}
