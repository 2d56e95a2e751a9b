//! What the runner promises when things go wrong, proven through the real `plugboard` binary
//! against a sandbox the test holds: token refresh (on expiry, on 401, two processes at once, a
//! process killed mid-refresh), 429/5xx/dropped-connection injection, a used-up daily quota,
//! resume after a failure (of a step, and inside a loop), secrets kept out of every output, and a
//! private state file.

use std::time::{Duration, Instant};

use base64::Engine as _;
use constant_contact_sandbox::{Faults, Sandbox, SandboxConfig, Stats};
use plugboard_runner::ExecutorConfig;
use plugboard_tests::e2e::{
    EXAMPLE_CONNECTION, Output, Running, Workspace, browse, example, fixture, get, jsonl,
    sandbox_config, start_sandbox,
};
use serde_json::Value;

/// The status the sandbox answers to `GET /account/summary` with this access token.
fn api_status(sandbox: &Sandbox, access_token: &str) -> u16 {
    get(
        &format!("{}/account/summary", sandbox.api_base_url()),
        Some(access_token),
    )
    .expect("the sandbox answers")
}

/// `plugboard run <fixture> --no-rate-limits --json [args...]`.
fn run(ws: &Workspace, workflow: &std::path::Path, args: &[&str]) -> Output {
    let workflow = workflow.to_string_lossy().into_owned();
    let mut all = vec!["run", workflow.as_str(), "--no-rate-limits", "--json"];
    all.extend(args);
    ws.run(&all)
}

/// A sandbox with `tweak` applied to the end-to-end defaults.
fn sandbox_with(tweak: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let mut config = sandbox_config();
    tweak(&mut config);
    start_sandbox(config)
}

/// Polls the sandbox's stats (every 5 ms, bounded) until `done` holds; fails the test otherwise.
fn wait_for_stats(sandbox: &Sandbox, timeout: Duration, done: impl Fn(&Stats) -> bool) -> Stats {
    let deadline = Instant::now() + timeout;
    loop {
        let stats = sandbox.stats();
        if done(&stats) {
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "the sandbox never reached the expected state: {stats:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---- refresh ----

#[test]
fn an_expiring_token_is_refreshed_first_and_the_new_pair_is_stored() {
    // The runner refreshes a token that expires within its skew (60 s by default, at most a
    // fifth of the token's life): a day-old token with 5 s left is refreshed before it is used.
    let sandbox = sandbox_with(|_| {});
    let ws = Workspace::new("refresh-expiry");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    ws.expire_tokens_in(EXAMPLE_CONNECTION, 5);
    assert!(Duration::from_secs(5) < ExecutorConfig::default().refresh_skew);
    let before = ws.tokens(EXAMPLE_CONNECTION).expect("installed tokens");

    let done = run(&ws, &fixture("account.json"), &[]).finished();
    assert_eq!(done["outputs"]["organization"], "Plugboard Sandbox Inc.");
    let stats = sandbox.stats();
    assert_eq!(stats.refreshes, 1, "{stats:?}");
    assert_eq!(stats.unauthorized_401, 0, "refreshed before use: {stats:?}");
    assert_eq!(stats.invalid_grants, 0, "{stats:?}");
    assert_eq!(stats.api_served, 1, "{stats:?}");

    // The state file holds the new pair, and the new access token is the one that works.
    let after = ws.tokens(EXAMPLE_CONNECTION).expect("tokens");
    assert!(after.version > before.version, "{before:?} -> {after:?}");
    assert_ne!(after.access, before.access);
    assert_ne!(after.refresh, before.refresh, "the refresh token rotated");
    assert_eq!(api_status(&sandbox, &after.access), 200);

    // The next run presents the rotated refresh token from the file: no invalid_grant.
    ws.expire_tokens_in(EXAMPLE_CONNECTION, 5);
    run(&ws, &fixture("account.json"), &[]).finished();
    let stats = sandbox.stats();
    assert_eq!(stats.refreshes, 2, "{stats:?}");
    assert_eq!(stats.invalid_grants, 0, "{stats:?}");
    ws.assert_private_state();
}

#[test]
fn a_401_refreshes_once_and_the_request_is_sent_again() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("refresh-401");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let before = ws.tokens(EXAMPLE_CONNECTION).expect("installed tokens");
    // The server forgets every access token the runner still believes valid.
    sandbox.expire_all_tokens();

    run(&ws, &fixture("account.json"), &[]).finished();
    let stats = sandbox.stats();
    assert_eq!(stats.unauthorized_401, 1, "{stats:?}");
    assert_eq!(stats.refreshes, 1, "{stats:?}");
    assert_eq!(stats.invalid_grants, 0, "{stats:?}");
    assert_eq!(
        stats.api_requests, 2,
        "the request, then its retry: {stats:?}"
    );
    assert_eq!(stats.api_served, 1, "{stats:?}");

    let after = ws.tokens(EXAMPLE_CONNECTION).expect("tokens");
    assert_eq!(after.version, before.version + 1);
    assert_ne!(after.refresh, before.refresh);
    assert_eq!(api_status(&sandbox, &after.access), 200);
    assert_eq!(api_status(&sandbox, &before.access), 401);

    // The stored token is good: the next run needs no refresh.
    let before = sandbox.stats();
    run(&ws, &fixture("account.json"), &[]).finished();
    let stats = sandbox.stats();
    assert_eq!(stats.refreshes, 1, "{stats:?}");
    assert_eq!(stats.unauthorized_401, before.unauthorized_401, "{stats:?}");
}

#[test]
fn threads_of_one_process_share_one_refresh() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("refresh-threads");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    sandbox.expire_all_tokens();
    // Eight calls at a time, all with the forgotten token: up to eight 401s, one refresh.
    sandbox.set_faults(Faults {
        latency: Duration::from_millis(100),
        ..Faults::default()
    });
    let done = run(&ws, &fixture("concurrent-reads.json"), &[]).finished();
    assert_eq!(done["outputs"]["reads"], 16, "{done}");
    let stats = sandbox.stats();
    assert_eq!(stats.refreshes, 1, "{stats:?}");
    assert!(stats.unauthorized_401 >= 1, "{stats:?}");
    assert_eq!(stats.invalid_grants, 0, "{stats:?}");
    assert_eq!(stats.api_served, 16, "{stats:?}");
}

#[test]
fn two_processes_refreshing_one_rotating_token_spend_it_once() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("refresh-race");
    ws.partner_set(&sandbox);
    ws.connect(&sandbox, EXAMPLE_CONNECTION, browse);
    assert_eq!(sandbox.stats().code_exchanges, 1);
    let account = fixture("account.json").to_string_lossy().into_owned();
    let args = ["run", account.as_str(), "--no-rate-limits", "--json"];
    let skew = i64::try_from(ExecutorConfig::default().refresh_skew.as_secs()).unwrap_or(60);
    let version = |ws: &Workspace| ws.tokens(EXAMPLE_CONNECTION).expect("tokens").version;

    for round in 1..=4i64 {
        let before = version(&ws);
        if round % 2 == 1 {
            // Expiry: the stored token expires within the runner's refresh skew, so both
            // processes go for the refresh lease before their first request.
            ws.expire_tokens_in(EXAMPLE_CONNECTION, skew / 2);
        } else {
            // 401: the server forgets the access token; both requests are in flight together
            // (the latency) and both get a 401 at about the same time.
            sandbox.expire_all_tokens();
            sandbox.set_faults(Faults {
                latency: Duration::from_millis(150),
                ..Faults::default()
            });
        }
        let refreshes = sandbox.stats().refreshes;
        let (a, b) = (ws.spawn(&args), ws.spawn(&args));
        let (a, b) = (a.wait(), b.wait());
        sandbox.set_faults(Faults::default());
        a.finished();
        b.finished();
        let stats = sandbox.stats();
        assert_eq!(
            stats.refreshes,
            refreshes + 1,
            "round {round}: one refresh for both processes: {stats:?}"
        );
        assert_eq!(stats.invalid_grants, 0, "round {round}: {stats:?}");
        // One commit of the refreshed pair (plus our own rewrite of the expiry in odd rounds).
        let expected = before + 1 + round % 2;
        assert_eq!(version(&ws), expected, "round {round}");
    }

    // The connection still works; nobody had to reconnect.
    run(&ws, &fixture("account.json"), &[]).finished();
    let stats = sandbox.stats();
    assert_eq!(stats.code_exchanges, 1, "{stats:?}");
    assert_eq!(stats.invalid_grants, 0, "{stats:?}");
}

#[test]
fn a_process_killed_right_after_a_refresh_leaves_a_usable_connection() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("refresh-kill");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let before = ws.tokens(EXAMPLE_CONNECTION).expect("installed tokens");
    sandbox.expire_all_tokens();
    // Every API request now waits 1.5 s in the sandbox before it is even authenticated; the
    // token endpoint answers at once.
    sandbox.set_faults(Faults {
        latency: Duration::from_millis(1500),
        ..Faults::default()
    });
    let account = fixture("account.json").to_string_lossy().into_owned();
    let running = ws.spawn(&["run", account.as_str(), "--no-rate-limits", "--json"]);

    // The first request gets its 401 after the latency; the runner refreshes (the sandbox has then
    // rotated the refresh token: the old one is dead) and sends the request again with the new
    // access token. That second request is counted when it arrives, then sits in the latency.
    //
    // Why this timing proves the property: we kill only once the second request has arrived,
    // i.e. once the process has *used* the new access token, and while that request is still
    // unanswered. A runner that stored the new pair only after a successful use (or never) would
    // lose the rotated refresh token here, and the next run would get `invalid_grant`. Only a
    // runner that commits the pair before using it leaves a state file that still works.
    let seen = wait_for_stats(&sandbox, Duration::from_secs(30), |s| {
        s.refreshes == 1 && s.api_requests == 2
    });
    assert_eq!(seen.api_served, 0, "{seen:?}");
    // While the process has the store open in WAL mode, the companions exist: all three private.
    let files = ws.assert_private_state();
    let killed = running.kill();
    assert!(!killed.success(), "the process was killed: {killed:?}");
    assert_eq!(
        sandbox.stats().api_served,
        0,
        "the new token was never served"
    );
    #[cfg(unix)]
    assert_eq!(
        files.len(),
        3,
        "the state file and its -wal and -shm: {files:?}"
    );
    // The rotated pair was committed before the kill.
    let committed = ws.tokens(EXAMPLE_CONNECTION).expect("tokens");
    assert!(committed.version > before.version, "{committed:?}");
    assert_ne!(committed.refresh, before.refresh);
    ws.assert_private_state();

    // A new run on the same state file works without reconnecting and without a new refresh.
    sandbox.set_faults(Faults::default());
    run(&ws, &fixture("account.json"), &[]).finished();
    let stats = sandbox.stats();
    assert_eq!(stats.invalid_grants, 0, "{stats:?}");
    assert_eq!(
        stats.refreshes, 1,
        "the committed access token was used as is: {stats:?}"
    );
    assert_eq!(stats.code_exchanges, 0, "{stats:?}");
}

// ---- 429, 5xx and dropped connections ----

#[test]
fn throttled_failed_and_dropped_reads_are_retried_until_they_succeed() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("faults-reads");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    sandbox.set_faults(Faults {
        error_rate: 0.2,
        drop_rate: 0.05,
        force_throttle: 2,
        seed: 11,
        ..Faults::default()
    });
    let file = ws.file("contacts.jsonl");
    let done = run(
        &ws,
        &fixture("reads.json"),
        &["--input", &format!("file={file}")],
    )
    .finished();
    assert_eq!(done["outputs"]["summaries"], 12, "{done}");
    assert_eq!(
        done["outputs"]["contacts"],
        sandbox.contact_count(),
        "{done}"
    );
    assert_eq!(jsonl(&file).len(), sandbox.contact_count());

    let stats = sandbox.stats();
    assert_eq!(stats.throttled_429, 2, "{stats:?}");
    assert!(stats.injected_5xx > 0, "the seed injects 5xx: {stats:?}");
    // Every request was answered once by a handler, and every other one was a fault retried.
    assert_eq!(stats.api_served, 13, "12 summaries and one page: {stats:?}");
    assert_eq!(
        stats.api_requests,
        stats.api_served + stats.throttled_429 + stats.injected_5xx + stats.dropped,
        "{stats:?}"
    );
}

#[test]
fn a_create_is_never_retried_after_a_server_error() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("faults-create");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let contacts = sandbox.contact_count();
    sandbox.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });

    let before = sandbox.stats();
    let failed = run(
        &ws,
        &fixture("create-contact.json"),
        &["--input", "email=never.twice@example.com"],
    )
    .failed();
    let after = sandbox.stats();
    assert_eq!(
        after.api_requests - before.api_requests,
        1,
        "exactly one POST reached the sandbox: {after:?}"
    );
    assert_eq!(after.injected_5xx - before.injected_5xx, 1, "{after:?}");
    assert_eq!(sandbox.contact_count(), contacts, "nothing was created");
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(error.contains("(HTTP 50"), "the 5xx is reported: {error}");

    // A read under the same fault is retried, up to the executor's attempt budget.
    let before = sandbox.stats();
    run(&ws, &fixture("account.json"), &[]).failed();
    let after = sandbox.stats();
    let attempts = u64::from(ExecutorConfig::default().max_attempts);
    assert_eq!(
        after.api_requests - before.api_requests,
        attempts,
        "{after:?}"
    );

    // Without the fault, the same create goes through, once.
    sandbox.set_faults(Faults::default());
    run(
        &ws,
        &fixture("create-contact.json"),
        &["--input", "email=never.twice@example.com"],
    )
    .finished();
    assert_eq!(sandbox.contact_count(), contacts + 1);
}

#[test]
fn a_bulk_import_under_faults_loses_and_duplicates_nothing() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("faults-bulk");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let contacts = sandbox.contact_count();
    sandbox.set_faults(Faults {
        error_rate: 0.25,
        force_throttle: 1,
        // A seed whose faults spare the list's create (a POST the example does not retry) and
        // hit the imports and the reads (checked below).
        seed: 1,
        ..Faults::default()
    });
    let done = run(
        &ws,
        &example("bulk-import.json"),
        &["--input", "list_name=E2E imported under faults"],
    )
    .finished();
    let outputs = &done["outputs"];
    assert_eq!(outputs["rows"], 1200, "{done}");
    assert_eq!(outputs["failed_imports"], 0, "{done}");
    assert_eq!(outputs["members"], 1200, "{done}");
    // Every row is one new contact (the file's addresses are not in the seed): none twice.
    assert_eq!(sandbox.contact_count(), contacts + 1200);
    let stats = sandbox.stats();
    assert_eq!(stats.throttled_429, 1, "{stats:?}");
    assert!(stats.injected_5xx > 0, "the seed injects 5xx: {stats:?}");
}

// ---- resume ----

#[test]
fn resume_continues_a_failed_run_without_repeating_completed_steps() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("resume");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let email = "email=resumed@example.com";
    // The cause of the failure: a contact with this email exists already (409 on create).
    let existing = run(&ws, &fixture("create-contact.json"), &["--input", email]).finished();
    let existing_id = existing["outputs"]["contact_id"]
        .as_str()
        .expect("a contact id")
        .to_owned();

    let workflow = fixture("resume.json");
    let before = sandbox.stats();
    let first = run(
        &ws,
        &workflow,
        &["--input", email, "--input", "list_name=E2E resume"],
    );
    let failure = first.failed();
    let run_id = failure["run"].as_i64().expect("a run id").to_string();
    assert!(
        failure["error"]
            .as_str()
            .is_some_and(|e| e.contains("already exists")),
        "{failure}"
    );
    let finished: Vec<Value> = first
        .events_of("step_finished")
        .into_iter()
        .map(|e| e["step"].clone())
        .collect();
    assert_eq!(finished, ["account", "list"]);
    let failed: Vec<Value> = first
        .events_of("step_failed")
        .into_iter()
        .map(|e| e["step"].clone())
        .collect();
    assert_eq!(failed, ["contact"]);
    let after_first = sandbox.stats();
    assert_eq!(after_first.api_requests - before.api_requests, 3);

    // Fix the cause, then resume: steps 1 and 2 come from the journal, 3 and 4 run.
    run(
        &ws,
        &fixture("delete-contact.json"),
        &["--input", &format!("contact_id={existing_id}")],
    )
    .finished();
    let before_resume = sandbox.stats();
    let resumed = run(&ws, &workflow, &["--resume", &run_id]);
    let done = resumed.finished();
    let skipped: Vec<(Value, Value)> = resumed
        .events_of("step_skipped")
        .into_iter()
        .map(|e| (e["step"].clone(), e["reason"].clone()))
        .collect();
    assert_eq!(
        skipped,
        [
            ("account".into(), "completed".into()),
            ("list".into(), "completed".into())
        ]
    );
    let after_resume = sandbox.stats();
    assert_eq!(
        after_resume.api_requests - before_resume.api_requests,
        2,
        "only the create and the read-back were sent: {after_resume:?}"
    );
    // The list created in the first attempt (a second create would have been a 409) is reused.
    let list_id = done["outputs"]["list_id"].as_str().expect("a list id");
    assert_eq!(done["outputs"]["on_lists"], serde_json::json!([list_id]));
    assert_eq!(
        done["run"].as_i64().map(|r| r.to_string()),
        Some(run_id.clone())
    );

    // A completed run is not resumed again.
    let again = run(&ws, &workflow, &["--resume", &run_id]);
    assert!(!again.success(), "{again:?}");
    assert!(again.stderr.contains("already completed"), "{again:?}");
}

#[test]
fn resume_does_not_repeat_the_completed_calls_of_a_loop() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("resume-loop");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    // The third address is taken: the loop fails at its third create.
    let taken = run(
        &ws,
        &fixture("create-contact.json"),
        &["--input", "email=loop.3@example.com"],
    )
    .finished();
    let taken_id = taken["outputs"]["contact_id"]
        .as_str()
        .expect("a contact id")
        .to_owned();
    let contacts = sandbox.contact_count();
    let emails = r#"emails=["loop.1@example.com","loop.2@example.com","loop.3@example.com","loop.4@example.com"]"#;
    let workflow = fixture("resume-loop.json");
    let first = run(&ws, &workflow, &["--input", emails]);
    let run_id = first.failed()["run"]
        .as_i64()
        .expect("a run id")
        .to_string();
    assert_eq!(
        sandbox.contact_count(),
        contacts + 2,
        "two created before the 409"
    );

    run(
        &ws,
        &fixture("delete-contact.json"),
        &["--input", &format!("contact_id={taken_id}")],
    )
    .finished();
    let before = sandbox.stats();
    let done = run(&ws, &workflow, &["--resume", &run_id]).finished();
    let after = sandbox.stats();
    // Calls 0 and 1 come from the journal (sending them again would be two 409s).
    assert_eq!(
        after.api_requests - before.api_requests,
        2,
        "only the third and fourth creates: {after:?}"
    );
    assert_eq!(done["outputs"]["created"], 4, "{done}");
    // Two new contacts, and the third address revived: nothing twice.
    assert_eq!(sandbox.contact_count(), contacts + 3);
}

/// Starts `reads.json` in the background against `sandbox`, slowed to 200 ms an answer so the
/// test can act while it runs.
#[cfg(unix)]
fn spawn_slow_reads<'a>(ws: &'a Workspace, sandbox: &Sandbox) -> Running<'a> {
    sandbox.set_faults(Faults {
        latency: Duration::from_millis(200),
        ..Faults::default()
    });
    let workflow = fixture("reads.json").to_string_lossy().into_owned();
    let input = format!("file={}", ws.file("contacts.jsonl"));
    ws.spawn(&[
        "run",
        workflow.as_str(),
        "--no-rate-limits",
        "--json",
        "--input",
        input.as_str(),
    ])
}

#[cfg(unix)]
#[test]
fn an_interrupted_run_can_be_resumed() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("interrupt");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let running = spawn_slow_reads(&ws, &sandbox);
    wait_for_stats(&sandbox, Duration::from_secs(30), |s| s.api_served >= 3);
    // Ctrl-C, as a user would press it.
    let signal = std::process::Command::new("kill")
        .args(["-INT", &running.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(signal.success());
    let interrupted = running.wait();
    let failure = interrupted.failed();
    let run_id = failure["run"].as_i64().expect("a run id").to_string();
    assert!(
        failure["error"]
            .as_str()
            .is_some_and(|e| e.contains("cancel")),
        "{interrupted:?}"
    );

    sandbox.set_faults(Faults::default());
    let before = sandbox.stats();
    let done = run(&ws, &fixture("reads.json"), &["--resume", &run_id]).finished();
    assert_eq!(done["outputs"]["summaries"], 12, "{done}");
    let after = sandbox.stats();
    // The summaries answered before the interruption were journaled and are not asked again.
    assert!(
        after.api_requests - before.api_requests < 13,
        "the resumed run repeated completed calls: {after:?}"
    );
}

#[cfg(unix)]
#[test]
fn a_run_still_running_cannot_be_resumed_by_another_process() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("resume-running");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let workflow = fixture("reads.json");
    let running = spawn_slow_reads(&ws, &sandbox);
    wait_for_stats(&sandbox, Duration::from_secs(30), |s| s.api_served >= 2);
    // A fresh state file: the run is run 1.
    let refused = run(&ws, &workflow, &["--resume", "1"]);
    assert!(!refused.success(), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains(&format!("still running in process {}", running.id())),
        "{refused:?}"
    );

    // Once its process is gone (killed, so the run is still marked running), it can be resumed.
    let killed = running.kill();
    assert!(!killed.success(), "{killed:?}");
    sandbox.set_faults(Faults::default());
    let done = run(&ws, &workflow, &["--resume", "1"]).finished();
    assert_eq!(done["outputs"]["summaries"], 12, "{done}");
}

// ---- quotas ----

#[test]
fn a_used_up_daily_quota_stops_the_run_with_its_reset_time_and_no_retry() {
    let sandbox = sandbox_with(|c| c.daily_limit = Some(3));
    let ws = Workspace::new("quota");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let file = ws.file("contacts.jsonl");
    let failure = run(
        &ws,
        &fixture("reads.json"),
        &["--input", &format!("file={file}")],
    )
    .failed();
    let error = failure["error"].as_str().unwrap_or_default();
    assert!(error.contains("quota"), "{failure}");
    assert!(
        error.contains("00:00:00 UTC"),
        "it says when the quota resets: {failure}"
    );
    let stats = sandbox.stats();
    assert_eq!(stats.api_served, 3, "{stats:?}");
    assert_eq!(
        stats.quota_429, 1,
        "a quota answer is not retried: {stats:?}"
    );
    assert_eq!(stats.api_requests, 4, "{stats:?}");
}

// ---- secrets and the state file ----

#[test]
fn secrets_never_appear_in_any_output() {
    let sandbox = start_sandbox(sandbox_config());
    // Trace logging: the most output the program can produce.
    let ws = Workspace::new("secrets").with_env("PLUGBOARD_LOG", "trace");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        sandbox.client_id(),
        sandbox.client_secret()
    ));
    ws.add_secret(basic.clone());
    // Every command below is checked by the workspace: the client secret (plain and in its Basic
    // form) and every token the state file ever held must not appear on stdout or stderr.
    ws.partner_set(&sandbox);
    ws.connect(&sandbox, EXAMPLE_CONNECTION, browse);
    for args in [
        &["connections"][..],
        &["connections", "--json"],
        &["partner", "show", "constant-contact"],
    ] {
        let out = ws.run(args);
        assert!(out.success(), "{out:?}");
    }
    let listing = ws.run(&["connections", "--json"]);
    assert!(listing.stdout.contains("\"usable\": true"), "{listing:?}");

    // A refresh after a 401, with every log line on.
    sandbox.expire_all_tokens();
    let out = run(&ws, &fixture("account.json"), &[]);
    out.finished();
    assert!(sandbox.stats().refreshes >= 1);

    // A refused refresh: a copy of the state file still holds the refresh token the run above
    // spent. Its error must say what to do, and still show no secret.
    let stale = Workspace::new("secrets-stale").with_env("PLUGBOARD_LOG", "trace");
    stale.add_secret(basic);
    ws.copy_state_to(&stale);
    // (The copy is taken after the refresh; rotate once more so the copy's token is spent.)
    sandbox.expire_all_tokens();
    run(&ws, &fixture("account.json"), &[]).finished();
    stale.learn_secrets_of(&ws);
    sandbox.expire_all_tokens();
    let refused = run(&stale, &fixture("account.json"), &[]);
    let failure = refused.failed();
    let error = failure["error"].as_str().unwrap_or_default();
    assert!(error.contains("invalid_grant"), "{refused:?}");
    assert!(
        error.contains("plugboard connect constant-contact --name constant-contact"),
        "the error says how to fix it: {refused:?}"
    );
    assert!(sandbox.stats().invalid_grants >= 1);
}

#[test]
fn a_sandboxed_run_at_trace_level_shows_no_secret() {
    // The in-process sandbox's client secret (from the partner settings it stores) and the
    // tokens it issued (from the state file) are learned after the run and checked.
    let ws = Workspace::new("secrets-sandboxed").with_env("PLUGBOARD_LOG", "trace");
    let members = ws.file("members.jsonl");
    let quickstart = example("quickstart.json").to_string_lossy().into_owned();
    let input = format!("members_file={members}");
    let out = ws.run(&[
        "run",
        quickstart.as_str(),
        "--sandbox",
        "--sandbox-unlimited",
        "--no-rate-limits",
        "--input",
        &input,
    ]);
    assert!(out.success(), "{out:?}");
    assert!(ws.tokens(EXAMPLE_CONNECTION).is_some());
}

#[test]
fn the_leak_check_catches_a_leak() {
    // The check every end-to-end command goes through must be able to fail.
    let ws = Workspace::new("leak-check");
    ws.add_secret("s3cr3t-value-for-the-check");
    let leaky = Output {
        status: None,
        stdout: String::new(),
        stderr: "error: token s3cr3t-value-for-the-check refused".into(),
    };
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ws.assert_no_secrets(&leaky);
    }));
    assert!(caught.is_err(), "a leaked secret went unnoticed");
    let clean = Output {
        status: None,
        stdout: "nothing to see".into(),
        stderr: String::new(),
    };
    ws.assert_no_secrets(&clean);
}

#[cfg(unix)]
#[test]
fn the_state_file_is_created_private_and_tightened_when_lax() {
    use std::os::unix::fs::PermissionsExt as _;
    let ws = Workspace::new("state-mode");
    let out = ws.run(&["connections"]);
    assert!(out.success(), "{out:?}");
    ws.assert_private_state();

    // A state file someone made world-readable is made private again on the next open.
    let lax = Workspace::new("state-mode-lax");
    std::fs::write(lax.state(), b"").expect("an empty file");
    std::fs::set_permissions(lax.state(), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = lax.run(&["connections"]);
    assert!(out.success(), "{out:?}");
    lax.assert_private_state();
}
