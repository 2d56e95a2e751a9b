//! `plugboard serve`: deployed workflows and runs, through the real binary and HTTP, against a
//! local API on 127.0.0.1 reached through each tenant's own `http` connection.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use plugboard_tests::e2e::Workspace;
use plugboard_tests::service::ServiceProcess;
use plugboard_tests::service_runs::*;
use plugboard_tests::temp_dir;
use serde_json::{Value, json};

#[test]
fn a_deploy_reports_every_problem_as_plugboard_validate_does() {
    let dir = temp_dir("service-runs-deploy");
    let service = ServiceProcess::start(&dir.join("state.db"), Some(ADMIN_KEY));
    let key = create_tenant(&service, "acme");

    // Several problems at once: an unknown connector, a reference to a later step, an
    // unknown method.
    let broken = "{\n  \"name\": \"Broken\",\n  \"connections\": {\n    \"api\": {\"connector\": \"http\", \"connection\": \"web\"},\n    \"x\": {\"connector\": \"no-such-connector\", \"connection\": \"x\"}\n  },\n  \"steps\": [\n    {\"id\": \"first\", \"call\": \"api.http.request\", \"input\": {\"path\": \"{{ steps.second.output.body }}\"}},\n    {\"id\": \"second\", \"call\": \"api.http.nope\"}\n  ]\n}\n";
    let (status, body) = service.call(
        "PUT",
        "/v1/workflows/broken",
        Some(ADMIN_KEY),
        Some(broken.as_bytes().to_vec()),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_workflow");
    let problems = body["problems"].as_array().expect("a list").clone();
    assert!(problems.len() >= 3, "{body}");

    // The same file through `plugboard validate --json`, with the connection it names
    // installed (a deploy does not check connections; validate does).
    let file = dir.join("broken.json");
    std::fs::write(&file, broken).expect("written");
    let cli_state = dir.join("cli.db");
    connect(&cli_state, "web", "http://127.0.0.1:9", TOKEN_A);
    let validated = plugboard(&[
        "--state",
        &cli_state.to_string_lossy(),
        "validate",
        &file.to_string_lossy(),
        "--json",
    ]);
    let listing: Value = serde_json::from_slice(&validated.stdout).expect("validate --json");
    let cli_problems: Vec<Value> = listing["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter(|p| {
            !p["message"]
                .as_str()
                .unwrap_or_default()
                .contains("connection `x`")
        })
        .cloned()
        .collect();
    assert_eq!(
        problems, cli_problems,
        "the deploy lists what validate lists"
    );
    for problem in &problems {
        assert!(problem["line"].as_u64() > Some(0), "{problem}");
        assert!(
            problem["pointer"]
                .as_str()
                .is_some_and(|p| p.starts_with("/")),
            "{problem}"
        );
    }

    // Malformed JSON: one problem, with its position.
    let (status, body) = service.call(
        "PUT",
        "/v1/workflows/broken",
        Some(ADMIN_KEY),
        Some(b"{\n  \"name\": \"x\",\n  \"steps\": [,]\n}".to_vec()),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["problems"][0]["line"], 3, "{body}");

    // A hosted workflow may not reach the service's files.
    let reader = json!({
        "name": "Reader",
        "steps": [{"id": "rows", "read": {"path": "/etc/passwd", "format": "csv"}}]
    });
    let (status, body) = deploy(&service, "reader", &reader);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["problems"][0]["pointer"], "/steps/0/read", "{body}");

    // Nothing was deployed by the refused ones; a valid one is 201, then 200 when replaced.
    let (status, body) = service.call("GET", "/v1/workflows", Some(ADMIN_KEY), None);
    assert_eq!((status, body), (200, json!([])));
    assert_eq!(deploy(&service, "fetch-items", &fetch_items()).0, 201);
    let (status, body) = deploy(&service, "fetch-items", &fetch_items());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["steps"], 2);
    assert_eq!(body["title"], "Fetch items");

    // Tenants may read workflows, not deploy them; no key is 401.
    assert_eq!(deploy_with(&service, "mine", Some(&key)), 403);
    assert_eq!(deploy_with(&service, "mine", None), 401);
    let (status, listed) = service.call("GET", "/v1/workflows", Some(&key), None);
    assert_eq!(status, 200);
    assert_eq!(listed[0]["name"], "fetch-items", "{listed}");
    let (status, shown) = service.call("GET", "/v1/workflows/fetch-items", Some(&key), None);
    assert_eq!(status, 200);
    assert_eq!(shown["workflow"], fetch_items());
    assert_eq!(
        service
            .call("GET", "/v1/workflows/nope", Some(&key), None)
            .0,
        404
    );
    assert_eq!(
        service
            .call(
                "PUT",
                "/v1/workflows/bad%20name",
                Some(ADMIN_KEY),
                Some(b"{}".to_vec())
            )
            .0,
        422
    );
}

#[test]
fn two_tenants_run_with_their_own_connections_and_cannot_reach_each_other() {
    let api = LocalApi::start();
    let dir = temp_dir("service-runs-tenants");
    let (service, key_a, key_b) = service_with_tenants(&dir, &api);

    let run_a = start_run(&service, "tenant-a", &key_a, &["1", "2"]);
    let run_b = start_run(&service, "tenant-b", &key_b, &["3"]);
    let done_a = wait_for(&service, "tenant-a", &key_a, run_a, ended);
    let done_b = wait_for(&service, "tenant-b", &key_b, run_b, ended);
    assert_eq!(done_a["status"], "completed", "{done_a}");
    assert_eq!(done_b["status"], "completed", "{done_b}");
    assert_eq!(
        done_a["outputs"],
        json!({"caller": "a", "paths": ["/a/slow/1", "/a/slow/2"]})
    );
    assert_eq!(
        done_b["outputs"],
        json!({"caller": "b", "paths": ["/b/slow/3"]})
    );
    assert_eq!(done_a["steps"][0]["status"], "completed", "{done_a}");
    assert_eq!(done_a["steps"][1]["calls_done"], 2, "{done_a}");
    // Each tenant's calls went with its own token to its own base URL.
    for seen in api.seen() {
        let expected = if seen.target.starts_with("/a/") {
            "a"
        } else {
            "b"
        };
        assert_eq!(seen.caller, expected, "{seen:?}");
    }
    let text = format!("{done_a}{done_b}");
    assert!(!text.contains("SECRET"), "no token in a run: {text}");

    // The admin sees a tenant's runs too; a tenant lists only its own.
    let (status, listed) = service.call("GET", "/v1/tenants/tenant-a/runs", Some(&key_a), None);
    assert_eq!(status, 200);
    let ids: Vec<i64> = listed
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    assert_eq!(ids, vec![run_a]);
    let (status, _) = service.call("GET", "/v1/tenants/tenant-a/runs", Some(ADMIN_KEY), None);
    assert_eq!(status, 200);

    // Every run route with the other tenant's key: 404, and nothing changes.
    let a_runs = "/v1/tenants/tenant-a/runs";
    let refused = [
        ("GET", a_runs.to_owned(), None),
        (
            "POST",
            a_runs.to_owned(),
            Some(json!({"workflow": "fetch-items", "inputs": {"items": ["x"]}})),
        ),
        ("GET", format!("{a_runs}/{run_a}"), None),
        ("POST", format!("{a_runs}/{run_a}/cancel"), None),
        ("POST", format!("{a_runs}/{run_a}/resume"), None),
        ("GET", format!("{a_runs}/{run_a}/events"), None),
        // A's run under B's own tenant: not B's run.
        ("GET", format!("/v1/tenants/tenant-b/runs/{run_a}"), None),
        (
            "POST",
            format!("/v1/tenants/tenant-b/runs/{run_a}/cancel"),
            None,
        ),
        (
            "GET",
            format!("/v1/tenants/tenant-b/runs/{run_a}/events"),
            None,
        ),
    ];
    for (method, path, body) in &refused {
        let body = body.as_ref().map(|b| b.to_string().into_bytes());
        let (status, answer) = service.call(method, path, Some(&key_b), body);
        assert_eq!(status, 404, "{method} {path}: {answer}");
        assert_eq!(
            service.call(method, path, None, None).0,
            401,
            "{method} {path}"
        );
    }
    assert_eq!(api.seen().len(), 5, "the refused start sent nothing");

    // Bad starts: every input problem; a missing connection named; an unknown workflow.
    let (status, body) = service.json(
        "POST",
        a_runs,
        Some(&key_a),
        &json!({"workflow": "fetch-items", "inputs": {"items": [1, 2]}}),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_inputs");
    assert_eq!(body["problems"].as_array().map(Vec::len), Some(2), "{body}");
    let key_c = create_tenant(&service, "tenant-c");
    let (status, body) = service.json(
        "POST",
        "/v1/tenants/tenant-c/runs",
        Some(&key_c),
        &json!({"workflow": "fetch-items", "inputs": {"items": ["1"]}}),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "connection_problems");
    assert_eq!(
        body["problems"][0]["pointer"],
        "/connections/api/connection"
    );
    let message = body["problems"][0]["message"].as_str().unwrap_or_default();
    assert_eq!(
        message,
        "tenant `tenant-c` has no connection `web`; install a `http` connection named `web` for \
         it first"
    );
    assert!(body["problems"][0]["line"].as_u64() > Some(0), "{body}");
    let (status, body) = service.json(
        "POST",
        a_runs,
        Some(&key_a),
        &json!({"workflow": "nope", "inputs": {}}),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "unknown_workflow");
    assert_eq!(
        service
            .call(
                "POST",
                a_runs,
                Some(&key_a),
                Some(b"{\"workflow\":".to_vec())
            )
            .0,
        400
    );
    assert_eq!(api.seen().len(), 5, "no refused start sent anything");

    // The event stream: the same events as `plugboard run --json`, from the start, ending
    // with the outcome.
    let (status, text) = service.exchange(
        "GET",
        &format!("{a_runs}/{run_a}/events"),
        Some(&key_a),
        None,
    );
    assert_eq!(status, 200, "{text}");
    let events = sse_events(&text);
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "note",
            "step_started",
            "step_finished",
            "step_started",
            "item_finished",
            "item_finished",
            "step_finished",
            "run_finished"
        ],
        "{text}"
    );
    let started: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "step_started")
        .filter_map(|e| e["step"].as_str())
        .collect();
    assert_eq!(started, ["whoami", "fetch"]);
    assert_eq!(
        events.last().map(|e| &e["outputs"]),
        Some(&done_a["outputs"])
    );
    assert!(!text.contains("SECRET"), "{text}");
}

#[test]
fn a_run_is_cancelled_and_its_live_events_say_so() {
    let api = LocalApi::start();
    api.delay_ms.store(1_500, Ordering::SeqCst);
    let dir = temp_dir("service-runs-cancel");
    let (service, key_a, _) = service_with_tenants(&dir, &api);
    let run = start_run(
        &service,
        "tenant-a",
        &key_a,
        &["1", "2", "3", "4", "5", "6"],
    );
    let events_path = format!("/v1/tenants/tenant-a/runs/{run}/events");

    // A subscriber from the start, live.
    let subscriber = {
        let base = service.base_url.clone();
        let key = key_a.clone();
        let path = events_path.clone();
        std::thread::spawn(move || sse_get(&base, &path, &key, ""))
    };
    wait_for(&service, "tenant-a", &key_a, run, |r| {
        r["status"] == "running" && r["steps"][1]["calls_done"].as_u64() >= Some(1)
    });
    let (status, body) = service.call(
        "POST",
        &format!("/v1/tenants/tenant-a/runs/{run}/cancel"),
        Some(&key_a),
        None,
    );
    assert_eq!(status, 202, "{body}");
    let cancelled_at = Instant::now();
    let done = wait_for(&service, "tenant-a", &key_a, run, ended);
    assert_eq!(done["status"], "cancelled", "{done}");
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(5),
        "the call in flight was abandoned, not waited for"
    );
    assert!(api.seen().len() < 7, "the run stopped: {:?}", api.counts());
    let (status, body) = service.call(
        "POST",
        &format!("/v1/tenants/tenant-a/runs/{run}/cancel"),
        Some(&key_a),
        None,
    );
    assert_eq!(status, 409, "{body}");

    let live = sse_events(&subscriber.join().expect("the subscriber"));
    let last = live.last().expect("events");
    assert_eq!(last["event"], "run_failed", "{live:?}");
    assert_eq!(last["status"], "cancelled", "{live:?}");
    assert!(
        live.iter().any(|e| e["event"] == "item_finished"),
        "{live:?}"
    );
    // A late subscriber reads the same events.
    let (_, late) = service.exchange("GET", &events_path, Some(&key_a), None);
    assert_eq!(sse_events(&late), live);
    // A reconnecting client goes on after the last event it saw.
    let resumed = sse_get(
        &service.base_url,
        &events_path,
        &key_a,
        "Last-Event-ID: 3\r\n",
    );
    assert_eq!(sse_events(&resumed), live[3..]);
    assert!(
        resumed.contains("id: 4\n") || resumed.contains("id:4\n"),
        "{resumed}"
    );
}

#[test]
fn a_run_survives_kill_9_of_the_service_without_repeating_a_completed_call() {
    let api = LocalApi::start();
    // Long enough that the kill surely lands inside a call, even on a loaded machine.
    api.delay_ms.store(1_200, Ordering::SeqCst);
    let dir = temp_dir("service-runs-kill");
    let state = dir.join("state.db");
    let (service, key_a, _) = service_with_tenants(&dir, &api);
    let items = ["1", "2", "3", "4", "5", "6"];
    let run = start_run(&service, "tenant-a", &key_a, &items);
    wait_for(&service, "tenant-a", &key_a, run, |r| {
        r["steps"][1]["calls_done"].as_u64() >= Some(2)
    });
    // Mid-way through the third call.
    std::thread::sleep(Duration::from_millis(300));
    drop(service); // SIGKILL
    let killed_at = Instant::now();
    let before: Vec<Seen> = api.seen();
    let completed_before: Vec<String> = before
        .iter()
        .filter(|s| s.answered.is_some_and(|t| t < killed_at))
        .map(|s| s.target.clone())
        .collect();
    assert!(completed_before.len() >= 3, "{before:?}");

    let service = ServiceProcess::start(&state, Some(ADMIN_KEY));
    let done = wait_for(&service, "tenant-a", &key_a, run, ended);
    // The kill came mid-way through call 2 of `fetch` (sent, never answered). Resending it
    // could do it twice, so the resumed run stops on it and says so instead.
    assert_eq!(done["status"], "failed", "{done}");
    let error = done["error"].as_str().unwrap_or_default();
    assert!(error.contains("outcome unknown"), "{error}");
    assert_eq!(done["unknown_calls"], json!(["fetch[2]"]), "{done}");
    assert_eq!(done["steps"][1]["calls_done"], 2, "{done}");
    // No completed call was sent again; indeed no call at all was sent twice.
    for (target, count) in api.counts() {
        assert_eq!(count, 1, "{target} was requested {count} times");
    }
    for target in &completed_before {
        assert!(api.counts().contains_key(target));
    }
    let run_path = format!("/v1/tenants/tenant-a/runs/{run}");
    // The run is still listed, and its events tell of the restart.
    let (_, text) = service.exchange(
        "GET",
        &format!("/v1/tenants/tenant-a/runs/{run}/events"),
        Some(&key_a),
        None,
    );
    let events = sse_events(&text);
    assert!(
        events.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("resuming it from its journal"))),
        "{text}"
    );
    assert_eq!(
        events.last().map(|e| &e["event"]),
        Some(&json!("run_failed"))
    );

    // Resuming without a word on the unknown call does not send it blindly.
    let resume = format!("{run_path}/resume");
    let (status, body) = service.call("POST", &resume, Some(&key_a), None);
    assert_eq!(status, 202, "{body}");
    let again = wait_for(&service, "tenant-a", &key_a, run, ended);
    assert_eq!(again["status"], "failed", "{again}");
    assert_eq!(again["unknown_calls"], json!(["fetch[2]"]), "{again}");
    assert!(api.counts().values().all(|n| *n == 1), "{:?}", api.counts());
    // Only calls whose outcome is unknown can be settled.
    let (status, body) = service.json(
        "POST",
        &resume,
        Some(&key_a),
        &json!({"resend": ["fetch[0]"]}),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "unknown_call");
    // The tenant says it did not take effect: it is sent again, and the run finishes without
    // sending any completed call again.
    let (status, body) = service.json(
        "POST",
        &resume,
        Some(&key_a),
        &json!({"resend": ["fetch[2]"]}),
    );
    assert_eq!(status, 202, "{body}");
    let finished = wait_for(&service, "tenant-a", &key_a, run, ended);
    assert_eq!(finished["status"], "completed", "{finished}");
    let paths: Vec<String> = items.iter().map(|i| format!("/a/slow/{i}")).collect();
    assert_eq!(finished["outputs"]["paths"], json!(paths), "{finished}");
    for (target, count) in api.counts() {
        let expected = if target == "/a/slow/3" { 2 } else { 1 };
        assert_eq!(count, expected, "{target}");
    }
    let (status, body) = service.call("POST", &resume, Some(&key_a), None);
    assert_eq!(status, 409, "{body}");
}

#[test]
fn a_run_of_repeatable_calls_is_resumed_to_its_end_after_kill_9() {
    let api = LocalApi::start();
    api.delay_ms.store(800, Ordering::SeqCst);
    let dir = temp_dir("service-runs-kill-resume");
    let state = dir.join("state.db");
    let (service, key_a, _) = service_with_tenants(&dir, &api);
    let (status, body) = deploy(&service, "list-items", &list_items());
    assert_eq!(status, 201, "{body}");
    let items = ["1", "2", "3", "4", "5"];
    let (status, body) = service.json(
        "POST",
        "/v1/tenants/tenant-a/runs",
        Some(&key_a),
        &json!({"workflow": "list-items", "inputs": {"items": items}}),
    );
    assert_eq!(status, 202, "{body}");
    let run = body["id"].as_i64().expect("an id");
    wait_for(&service, "tenant-a", &key_a, run, |r| {
        r["steps"][0]["calls_done"].as_u64() >= Some(2)
    });
    std::thread::sleep(Duration::from_millis(300));
    drop(service); // SIGKILL
    let killed_at = Instant::now();
    let completed_before: Vec<String> = api
        .seen()
        .iter()
        .filter(|s| s.answered.is_some_and(|t| t < killed_at))
        .map(|s| s.target.clone())
        .collect();
    assert!(completed_before.len() >= 2, "{:?}", api.seen());

    let service = ServiceProcess::start(&state, Some(ADMIN_KEY));
    let done = wait_for(&service, "tenant-a", &key_a, run, ended);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["outputs"]["counts"], json!([1, 1, 1, 1, 1]), "{done}");
    assert_eq!(done["steps"][0]["calls_done"], items.len(), "{done}");
    let counts = api.counts();
    for target in &completed_before {
        assert_eq!(
            counts[target], 1,
            "{target} completed before the kill and was sent again"
        );
    }
    for item in items {
        assert!(
            counts.contains_key(&format!("/a/slow/{item}")),
            "{counts:?}"
        );
    }
}

/// 100 runs started at once through the API, by four tenants, against the Constant Contact
/// sandbox at its real limit (4 requests/s per application): every run completes and the
/// sandbox never answers 429, because the runner's limiter, shared by every run of the service,
/// keeps them under it.
#[test]
fn a_hundred_concurrent_runs_complete_under_the_real_rate_limit_without_a_429() {
    const RUNS: usize = 100;
    const TENANTS: usize = 4;
    let workspace = Workspace::new("service-runs-hundred");
    let mut config = plugboard_tests::e2e::sandbox_config();
    let real = constant_contact_sandbox::SandboxConfig::default();
    config.per_second_limit = real.per_second_limit;
    config.daily_limit = real.daily_limit;
    config.token_endpoint_per_second = real.token_endpoint_per_second;
    assert_eq!(config.per_second_limit, Some(4));
    let sandbox = plugboard_tests::e2e::start_sandbox(config);
    for tenant in 0..TENANTS {
        workspace.install_connection(&sandbox, &format!("t{tenant}/cc"));
    }
    let service = ServiceProcess::start(workspace.state(), Some(ADMIN_KEY));
    let keys: Vec<String> = (0..TENANTS)
        .map(|tenant| create_tenant(&service, &format!("t{tenant}")))
        .collect();
    let workflow = json!({
        "name": "Account summary",
        "connections": {"cc": {"connector": "constant-contact", "connection": "cc"}},
        "steps": [{"id": "account", "call": "cc.account.get_summary"}],
        "outputs": {"organization": "{{ steps.account.output.organization_name }}"}
    });
    assert_eq!(deploy(&service, "account", &workflow).0, 201);

    let started = Instant::now();
    let service = Arc::new(service);
    let starters: Vec<_> = (0..RUNS)
        .map(|n| {
            let service = Arc::clone(&service);
            let key = keys[n % TENANTS].clone();
            std::thread::spawn(move || {
                let tenant = format!("t{}", n % TENANTS);
                let (status, body) = service.json(
                    "POST",
                    &format!("/v1/tenants/{tenant}/runs"),
                    Some(&key),
                    &json!({"workflow": "account"}),
                );
                assert_eq!(status, 202, "{body}");
                (tenant, key, body["id"].as_i64().expect("an id"))
            })
        })
        .collect();
    let runs: Vec<(String, String, i64)> = starters
        .into_iter()
        .map(|starter| starter.join().expect("a start"))
        .collect();
    let accepted_in = started.elapsed();
    for (tenant, key, run) in &runs {
        let done = wait_for(&service, tenant, key, *run, ended);
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["outputs"]["organization"], "Plugboard Sandbox Inc.");
    }
    let elapsed = started.elapsed();
    let stats = sandbox.stats();
    eprintln!(
        "{RUNS} runs: accepted in {accepted_in:?}, all done in {elapsed:?}; sandbox: {} API \
         requests, {} throttled",
        stats.api_requests, stats.throttled_429
    );
    assert_eq!(
        (
            stats.throttled_429,
            stats.quota_429,
            stats.token_throttled_429,
            stats.queue_full_429
        ),
        (0, 0, 0, 0),
        "{stats:?}"
    );
    assert!(stats.api_served >= RUNS as u64, "{stats:?}");
    // At 4/s, 100 calls cannot take less than ~24 s: the limit was really there.
    assert!(elapsed >= Duration::from_secs(20), "{elapsed:?}");
}

/// The fenced blocks (`json`, `sh`) of the "Workflows and runs" section of `docs/service.md`.
fn documented_blocks() -> (String, String) {
    let docs = std::fs::read_to_string(plugboard_tests::workspace_root().join("docs/service.md"))
        .expect("docs/service.md");
    let section = docs
        .split("\n## ")
        .find(|s| s.starts_with("Workflows and runs"))
        .expect("a \"Workflows and runs\" section");
    let block = |language: &str| {
        let fence = format!("```{language}\n");
        let start = section.find(&fence).expect("the block") + fence.len();
        let end = start + section[start..].find("```").expect("its end");
        section[start..end].to_owned()
    };
    (block("json"), block("sh"))
}

/// Every curl command of the section, run as written (with `curl` and `bash`) against the
/// service, in a directory holding the section's workflow as `fetch-items.json`.
#[test]
fn the_documented_curl_examples_work_as_shown() {
    let api = LocalApi::start();
    let dir = temp_dir("service-runs-docs");
    let state = dir.join("state.db");
    let (workflow, script) = documented_blocks();
    std::fs::write(dir.join("fetch-items.json"), &workflow).expect("written");
    connect(&state, "acme/web", &api.base("/acme"), TOKEN_A);
    let service = ServiceProcess::start(&state, Some(ADMIN_KEY));
    let acme_key = create_tenant(&service, "acme");
    let documented_base = "S=http://127.0.0.1:8080\n";
    assert!(script.starts_with(documented_base), "{script}");
    let script = script.replacen(documented_base, &format!("S={}\n", service.base_url), 1);
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(&dir)
        .env("ADMIN_KEY", ADMIN_KEY)
        .env("ACME_KEY", &acme_key)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Deployed, listed, shown.
    assert!(
        stdout.starts_with(r#"{"name":"fetch-items","title":"Fetch items""#),
        "{stdout}"
    );
    assert!(stdout.contains(r#"[{"name":"fetch-items""#), "{stdout}");
    assert!(stdout.contains(r#""workflow":{"#), "{stdout}");
    // The event stream ran to the end of the run, then the run shows it completed, with the
    // outputs of acme's own API, and is listed.
    let events = sse_events(&stdout);
    assert_eq!(events.first().map(|e| &e["event"]), Some(&json!("note")));
    let finished = events.last().expect("events");
    assert_eq!(finished["event"], "run_finished", "{stdout}");
    let outputs = json!({"caller": "a", "paths": ["/acme/slow/1", "/acme/slow/2"]});
    assert_eq!(finished["outputs"], outputs);
    // The run itself, not the `run_finished` event, which says `completed` too.
    assert!(
        stdout.contains(r#""workflow":"fetch-items","status":"completed""#),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(r#""outputs":{outputs}"#)),
        "{stdout}"
    );
    assert!(stdout.contains(r#"[{"id":1,"tenant":"acme""#), "{stdout}");
    // Cancelling or resuming the run that completed: 409.
    assert!(
        stdout.ends_with(
            r#"{"error":{"code":"run_ended","message":"run 1 has already ended"}}{"error":{"code":"not_resumable","message":"run 1 completed; there is nothing to resume"}}"#
        ),
        "{stdout}"
    );
}

/// Ctrl-C (SIGINT) stops the service within seconds, runs included; they are neither failed nor
/// cancelled but resumed by the next start, without repeating their completed calls.
#[test]
fn a_stopped_service_resumes_its_runs_when_it_starts_again() {
    let api = LocalApi::start();
    api.delay_ms.store(600, Ordering::SeqCst);
    let dir = temp_dir("service-runs-stop");
    let state = dir.join("state.db");
    let (service, key_a, _) = service_with_tenants(&dir, &api);
    assert_eq!(deploy(&service, "list-items", &list_items()).0, 201);
    let items = ["1", "2", "3", "4", "5"];
    let (status, body) = service.json(
        "POST",
        "/v1/tenants/tenant-a/runs",
        Some(&key_a),
        &json!({"workflow": "list-items", "inputs": {"items": items}}),
    );
    assert_eq!(status, 202, "{body}");
    let run = body["id"].as_i64().expect("an id");
    wait_for(&service, "tenant-a", &key_a, run, |r| {
        r["steps"][0]["calls_done"].as_u64() >= Some(1)
    });
    // A subscriber is following the run: it does not hold the service up.
    let subscriber = {
        let (base, key) = (service.base_url.clone(), key_a.clone());
        let path = format!("/v1/tenants/tenant-a/runs/{run}/events");
        std::thread::spawn(move || sse_get(&base, &path, &key, ""))
    };
    std::thread::sleep(Duration::from_millis(200));
    let stopped_at = Instant::now();
    let exit = service.interrupt(Duration::from_secs(15));
    assert!(exit.is_some_and(|s| s.success()), "{exit:?}");
    assert!(
        stopped_at.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopped_at.elapsed()
    );
    let followed = sse_events(&subscriber.join().expect("the subscriber"));
    assert!(
        followed.last().is_some_and(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("the service is stopping"))),
        "{followed:?}"
    );
    let stopped = stopped_at;
    let completed_before: Vec<String> = api
        .seen()
        .iter()
        .filter(|s| s.answered.is_some_and(|t| t < stopped))
        .map(|s| s.target.clone())
        .collect();
    assert!(
        api.seen().len() < items.len() + 1,
        "it stopped mid-run: {:?}",
        api.counts()
    );

    let service = ServiceProcess::start(&state, Some(ADMIN_KEY));
    let done = wait_for(&service, "tenant-a", &key_a, run, ended);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["outputs"]["counts"], json!([1, 1, 1, 1, 1]), "{done}");
    let counts = api.counts();
    for target in &completed_before {
        assert_eq!(counts[target], 1, "{target} was sent again");
    }
    let (_, text) = service.exchange(
        "GET",
        &format!("/v1/tenants/tenant-a/runs/{run}/events"),
        Some(&key_a),
        None,
    );
    assert!(text.contains("the service is stopping"), "{text}");
}

/// Deleting a tenant stops its running run and removes its runs with it: a tenant created again
/// under the same id starts with none, and the service's store keeps none of them.
#[test]
fn deleting_a_tenant_stops_and_removes_its_runs() {
    let api = LocalApi::start();
    api.delay_ms.store(1_000, Ordering::SeqCst);
    let dir = temp_dir("service-runs-delete-tenant");
    let (service, key_a, key_b) = service_with_tenants(&dir, &api);
    let finished = start_run(&service, "tenant-a", &key_a, &["1"]);
    wait_for(&service, "tenant-a", &key_a, finished, ended);
    let running = start_run(&service, "tenant-a", &key_a, &["1", "2", "3", "4", "5"]);
    wait_for(&service, "tenant-a", &key_a, running, |r| {
        r["status"] == "running"
    });
    let other = start_run(&service, "tenant-b", &key_b, &["9"]);

    let (status, body) = service.call("DELETE", "/v1/tenants/tenant-a", Some(ADMIN_KEY), None);
    assert_eq!(status, 204, "{body}");
    // A request is recorded when its (1 s) answer is written: the one in flight at the delete
    // may still land; a run that went on would add one more each second.
    let calls = api.seen().len();
    std::thread::sleep(Duration::from_millis(3_500));
    assert!(
        api.seen().len() <= calls + 1,
        "the deleted tenant's run sent nothing more: {:?}",
        api.counts()
    );

    let key_again = create_tenant(&service, "tenant-a");
    let (status, listed) = service.call("GET", "/v1/tenants/tenant-a/runs", Some(&key_again), None);
    assert_eq!((status, listed), (200, json!([])));
    for run in [finished, running] {
        let (status, _) = service.call(
            "GET",
            &format!("/v1/tenants/tenant-a/runs/{run}"),
            Some(&key_again),
            None,
        );
        assert_eq!(status, 404, "run {run} went with its tenant");
    }
    // The other tenant's run is untouched.
    let done = wait_for(&service, "tenant-b", &key_b, other, ended);
    assert_eq!(done["status"], "completed", "{done}");
}

#[test]
fn a_long_loop_is_logged_in_a_few_hundred_events_with_exact_counts() {
    let dir = temp_dir("service-runs-long-loop");
    let api = LocalApi::start();
    let (service, key_a, _) = service_with_tenants(&dir, &api);
    let items: Vec<String> = (0..3_000).map(|n| n.to_string()).collect();
    let items: Vec<&str> = items.iter().map(String::as_str).collect();
    let run = start_run(&service, "tenant-a", &key_a, &items);
    let done = wait_for(&service, "tenant-a", &key_a, run, ended);
    assert_eq!(done["status"], "completed", "{done}");
    let fetch = done["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["id"] == "fetch"))
        .expect("the loop's step");
    assert_eq!(
        (&fetch["calls"], &fetch["calls_done"]),
        (&json!(3_000), &json!(3_000)),
        "{fetch}"
    );

    // The stored log: every call counted, in far fewer events than calls.
    let events = sse_events(&sse_get(
        &service.base_url,
        &format!("/v1/tenants/tenant-a/runs/{run}/events"),
        &key_a,
        "",
    ));
    let (mut logged, mut counted) = (0, 0);
    for event in &events {
        match event["event"].as_str() {
            Some("item_finished") => {
                logged += 1;
                counted += 1;
            }
            Some("items_finished") => {
                logged += 1;
                counted += event["count"].as_u64().expect("a count");
            }
            _ => {}
        }
    }
    assert_eq!(counted, 3_000);
    assert!(logged < 400, "{logged} events for 3,000 calls");
    assert_eq!(
        api.seen().len(),
        3_000 + 1,
        "each call sent once, and the whoami"
    );
}
