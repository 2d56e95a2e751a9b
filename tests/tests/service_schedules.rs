//! `plugboard serve`: schedules, through the real binary and HTTP, against a local API on
//! 127.0.0.1 reached through each tenant's own `http` connection.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use plugboard_tests::service::ServiceProcess;
use plugboard_tests::service_runs::*;
use plugboard_tests::temp_dir;
use serde_json::{Value, json};

/// How late a fire may start its run: the scheduler's tick (200 ms) plus the run's checks, with
/// room for a loaded machine.
const FIRE_LATENESS_MS: i64 = 900;

fn create_schedule(service: &ServiceProcess, key: &str, body: &Value) -> (u16, Value) {
    service.json("POST", "/v1/tenants/tenant-a/schedules", Some(key), body)
}

fn schedule(service: &ServiceProcess, key: &str, id: i64) -> Value {
    let (status, body) = service.call(
        "GET",
        &format!("/v1/tenants/tenant-a/schedules/{id}"),
        Some(key),
        None,
    );
    assert_eq!(status, 200, "{body}");
    body
}

/// Tenant A's runs, oldest first.
fn runs(service: &ServiceProcess, key: &str) -> Vec<Value> {
    let (status, body) = service.call("GET", "/v1/tenants/tenant-a/runs", Some(key), None);
    assert_eq!(status, 200, "{body}");
    let mut runs = body.as_array().expect("a list").clone();
    runs.reverse();
    runs
}

/// Waits (bounded) until tenant A has at least `count` runs; returns them.
fn wait_for_runs(service: &ServiceProcess, key: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        let runs = runs(service, key);
        if runs.len() >= count {
            return runs;
        }
        assert!(
            Instant::now() < deadline,
            "only {} run(s) after {RUN_TIMEOUT:?}: {runs:?}",
            runs.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ms(value: &Value) -> i64 {
    value.as_i64().unwrap_or_else(|| panic!("a time: {value}"))
}

#[test]
fn an_interval_schedule_fires_on_time_and_is_invisible_to_other_tenants() {
    let api = LocalApi::start();
    let dir = temp_dir("service-schedules-on-time");
    let (service, key_a, key_b) = service_with_tenants(&dir, &api);

    // Refused before anything is stored: every problem of the first failing check.
    let (status, body) = create_schedule(
        &service,
        &key_a,
        &json!({"workflow": "fetch-items", "inputs": {"items": []}, "every_secs": 1}),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_inputs", "{body}");
    for (bad, code, says) in [
        (
            json!({"workflow": "fetch-items", "inputs": {"items": ["1"]}, "every_secs": 0}),
            "invalid_schedule",
            "at least 1",
        ),
        (
            json!({"workflow": "fetch-items", "inputs": {"items": ["1"]}}),
            "invalid_schedule",
            "every_secs",
        ),
        (
            json!({"workflow": "fetch-items", "inputs": {"items": ["1"]}, "cron": "* * * * *", "every_secs": 5}),
            "invalid_schedule",
            "not both",
        ),
        (
            json!({"workflow": "fetch-items", "inputs": {"items": ["1"]}, "cron": "99 * * * *"}),
            "invalid_schedule",
            "99 * * * *",
        ),
        (
            json!({"workflow": "nope", "every_secs": 5}),
            "unknown_workflow",
            "nope",
        ),
    ] {
        let (status, body) = create_schedule(&service, &key_a, &bad);
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["error"]["code"], code, "{bad}: {body}");
        assert!(body.to_string().contains(says), "{bad}: {body}");
    }
    // A tenant without the workflow's connection: named, like a run start.
    let key_c = create_tenant(&service, "tenant-c");
    let (status, body) = service.json(
        "POST",
        "/v1/tenants/tenant-c/schedules",
        Some(&key_c),
        &json!({"workflow": "fetch-items", "inputs": {"items": ["1"]}, "every_secs": 1}),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "connection_problems", "{body}");
    assert!(runs(&service, &key_a).is_empty());

    let (status, created) = create_schedule(
        &service,
        &key_a,
        &json!({"workflow": "fetch-items", "inputs": {"items": ["1"]}, "every_secs": 1}),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().expect("an id");
    let created_at = ms(&created["created_at_ms"]);
    assert_eq!(
        ms(&created["next_fire_at_ms"]),
        created_at + 1000,
        "{created}"
    );
    assert!(
        created.get("inputs").is_none(),
        "inputs are not shown back: {created}"
    );

    // Every route of it, with the other tenant's key: 404, as if it did not exist.
    let base = format!("/v1/tenants/tenant-a/schedules/{id}");
    for (method, path) in [
        ("GET", "/v1/tenants/tenant-a/schedules".to_owned()),
        ("POST", "/v1/tenants/tenant-a/schedules".to_owned()),
        ("GET", base.clone()),
        ("POST", format!("{base}/pause")),
        ("POST", format!("{base}/resume")),
        ("DELETE", base.clone()),
    ] {
        let body =
            (method == "POST").then(|| b"{\"workflow\":\"fetch-items\",\"every_secs\":1}".to_vec());
        let (status, answer) = service.call(method, &path, Some(&key_b), body);
        assert_eq!(status, 404, "{method} {path}: {answer}");
    }
    // Its own path, another tenant's schedule id: 404 too.
    let (status, _) = service.call(
        "GET",
        &format!("/v1/tenants/tenant-b/schedules/{id}"),
        Some(&key_b),
        None,
    );
    assert_eq!(status, 404);

    // Fires each second, each within the tick of its slot.
    let fired = wait_for_runs(&service, &key_a, 4);
    for (slot, run) in fired.iter().take(4).enumerate() {
        let due = created_at + 1000 * (slot as i64 + 1);
        let started = ms(&run["created_at_ms"]);
        assert!(
            (due..due + FIRE_LATENESS_MS).contains(&started),
            "run {slot} of the schedule started at {started}, its slot was {due}: {fired:?}"
        );
        assert_eq!(run["workflow"], "fetch-items");
    }
    let first = wait_for(
        &service,
        "tenant-a",
        &key_a,
        fired[0]["id"].as_i64().expect("id"),
        ended,
    );
    assert_eq!(first["status"], "completed", "{first}");
    assert!(
        api.seen().iter().all(|seen| seen.caller == "a"),
        "only tenant A's token"
    );
    let shown = schedule(&service, &key_a, id);
    assert!(shown["last_run"]["id"].as_i64().is_some(), "{shown}");
    assert!(shown["last_fired_at_ms"].as_i64().is_some(), "{shown}");
    assert_eq!(shown["skipped"], 0, "{shown}");

    // Paused: no fire; resumed: the next slot after the resume, not the missed ones.
    let (status, paused) = service.call("POST", &format!("{base}/pause"), Some(&key_a), None);
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["paused"], true);
    assert!(paused["next_fire_at_ms"].is_null(), "{paused}");
    std::thread::sleep(Duration::from_millis(400));
    let before = runs(&service, &key_a).len();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        runs(&service, &key_a).len(),
        before,
        "a paused schedule fired"
    );
    let (status, resumed) = service.call("POST", &format!("{base}/resume"), Some(&key_a), None);
    assert_eq!(status, 200, "{resumed}");
    wait_for_runs(&service, &key_a, before + 1);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        runs(&service, &key_a).len(),
        before + 1,
        "missed slots fired more than once"
    );

    // Deleted: gone, and it fires no more.
    let (status, _) = service.call("DELETE", &base, Some(&key_a), None);
    assert_eq!(status, 204);
    let (status, _) = service.call("GET", &base, Some(&key_a), None);
    assert_eq!(status, 404);
    std::thread::sleep(Duration::from_millis(400));
    let after = runs(&service, &key_a).len();
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(
        runs(&service, &key_a).len(),
        after,
        "a deleted schedule fired"
    );
    drop(service);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_slow_run_is_not_stacked_and_the_skips_are_recorded() {
    let api = LocalApi::start();
    // Each run takes 2.5 s; the schedule fires every second.
    api.delay_ms.store(2500, Ordering::SeqCst);
    let dir = temp_dir("service-schedules-overlap");
    let (service, key_a, _) = service_with_tenants(&dir, &api);
    let (status, created) = create_schedule(
        &service,
        &key_a,
        &json!({"workflow": "fetch-items", "inputs": {"items": ["1"]}, "every_secs": 1}),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().expect("an id");

    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline {
        let running = runs(&service, &key_a)
            .iter()
            .filter(|run| !ended(run))
            .count();
        assert!(running <= 1, "{running} runs of one schedule at once");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, _) = service.call(
        "POST",
        &format!("/v1/tenants/tenant-a/schedules/{id}/pause"),
        Some(&key_a),
        None,
    );
    assert_eq!(status, 200);
    let shown = schedule(&service, &key_a, id);
    let all = runs(&service, &key_a);
    // ~8 slots, each run spanning ~3 of them: a few runs, the rest skipped, none stacked.
    assert!((2..=4).contains(&all.len()), "{all:?}");
    let skipped = shown["skipped"].as_i64().expect("a count");
    assert!(skipped >= 3, "{shown}");
    let skips = shown["recent_skips_ms"].as_array().expect("a list");
    assert_eq!(skips.len() as i64, skipped, "{shown}");
    // Every skip happened while one of the runs was going.
    for last in all.iter().filter(|run| !ended(run)) {
        let id = last["id"].as_i64().expect("id");
        wait_for(&service, "tenant-a", &key_a, id, ended);
    }
    let all = runs(&service, &key_a);
    let spans: Vec<(i64, i64)> = all
        .iter()
        .filter_map(|run| Some((ms(&run["created_at_ms"]), run["finished_at_ms"].as_i64()?)))
        .collect();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "runs overlap: {spans:?}");
    }
    for skip in skips {
        let at = ms(skip);
        assert!(
            all.iter().any(|run| {
                ms(&run["created_at_ms"]) < at
                    && run["finished_at_ms"].as_i64().is_none_or(|end| at <= end)
            }),
            "a skip at {at} with no run going: {all:?}"
        );
    }
    // The local API never had two of this schedule's slow calls in flight at once.
    let slow: Vec<_> = api
        .seen()
        .into_iter()
        .filter(|seen| seen.target.contains("/slow/"))
        .collect();
    assert_eq!(slow.len(), all.len(), "{slow:?}");
    drop(service);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_schedule_survives_a_restart_and_a_missed_slot_fires_once() {
    let api = LocalApi::start();
    let dir = temp_dir("service-schedules-restart");
    let (service, key_a, _) = service_with_tenants(&dir, &api);
    let (status, created) = create_schedule(
        &service,
        &key_a,
        &json!({"workflow": "fetch-items", "inputs": {"items": ["1"]}, "every_secs": 2}),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().expect("an id");
    let created_at = ms(&created["created_at_ms"]);
    wait_for_runs(&service, &key_a, 2);

    // kill -9, and stay down over more than two slots.
    drop(service);
    std::thread::sleep(Duration::from_millis(4500));
    let service = ServiceProcess::start(&dir.join("state.db"), Some(ADMIN_KEY));
    let restarted_at = plugboard_tests_now_ms();
    let shown = schedule(&service, &key_a, id);
    assert_eq!(shown["every_secs"], 2, "{shown}");

    let before_restart = runs(&service, &key_a).len();
    let all = wait_for_runs(&service, &key_a, before_restart + 3);
    // The slots missed while down fire once, at start-up, and no slot fires twice: each run
    // belongs to a different 2-second slot (a fire per missed slot would put them all in one).
    let mut slots: Vec<i64> = all
        .iter()
        .map(|run| (ms(&run["created_at_ms"]) - created_at) / 2000)
        .collect();
    let count = slots.len();
    slots.dedup();
    assert_eq!(slots.len(), count, "two fires in one slot: {all:?}");
    // And it goes on after the restart, on its own slots.
    let after: Vec<i64> = all
        .iter()
        .map(|run| ms(&run["created_at_ms"]))
        .filter(|at| *at >= restarted_at + FIRE_LATENESS_MS)
        .collect();
    assert!(!after.is_empty(), "{all:?}");
    for at in after {
        let late = (at - created_at) % 2000;
        assert!(
            late < FIRE_LATENESS_MS,
            "a fire {late} ms after its slot: {all:?}"
        );
    }
    drop(service);
    std::fs::remove_dir_all(&dir).ok();
}

fn plugboard_tests_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The "Schedules" section's shell block, run as written (with `curl` and `bash`) against a
/// service where acme's connection exists and `fetch-items` (the section before's) is deployed.
#[test]
fn the_documented_schedule_examples_work_as_shown() {
    let api = LocalApi::start();
    let dir = temp_dir("service-schedules-docs");
    let state = dir.join("state.db");
    let docs = std::fs::read_to_string(plugboard_tests::workspace_root().join("docs/service.md"))
        .expect("docs/service.md");
    let section = docs
        .split("\n## ")
        .find(|s| s.starts_with("Schedules"))
        .expect("a \"Schedules\" section");
    let start = section.find("```sh\n").expect("a shell block") + "```sh\n".len();
    let script = &section[start..start + section[start..].find("```").expect("its end")];
    connect(&state, "acme/web", &api.base("/acme"), TOKEN_A);
    let service = ServiceProcess::start(&state, Some(ADMIN_KEY));
    let acme_key = create_tenant(&service, "acme");
    assert_eq!(deploy(&service, "fetch-items", &fetch_items()).0, 201);
    let documented_base = "S=http://127.0.0.1:8080\n";
    assert!(script.starts_with(documented_base), "{script}");
    let script = script.replacen(documented_base, &format!("S={}\n", service.base_url), 1);
    let output = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(&dir)
        .env("ACME_KEY", &acme_key)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with(
            r#"{"id":1,"tenant":"acme","workflow":"fetch-items","every_secs":60,"paused":false,"next_fire_at_ms":"#
        ),
        "{stdout}"
    );
    assert!(stdout.contains(r#"{"id":2,"tenant":"acme","workflow":"fetch-items","cron":"30 6 * * 1-5","paused":false"#), "{stdout}");
    assert!(stdout.contains(r#"[{"id":1,"#), "{stdout}");
    assert!(
        stdout.contains(r#""paused":true,"next_fire_at_ms":null"#),
        "{stdout}"
    );
    assert!(stdout.ends_with(r#""recent_skips_ms":[]}"#), "{stdout}");
    // The resume's answer is last: running again, and the delete removed schedule 2.
    let resumed = stdout.rsplit("}{").next().unwrap_or_default();
    assert!(resumed.contains(r#""paused":false"#), "{stdout}");
    let (status, _) = service.call("GET", "/v1/tenants/acme/schedules/2", Some(&acme_key), None);
    assert_eq!(status, 404);
    let (status, list) = service.call("GET", "/v1/tenants/acme/schedules", Some(&acme_key), None);
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    drop(service);
    std::fs::remove_dir_all(&dir).ok();
}

/// A poll trigger scheduled every 2 s against `plugboard serve --sandbox`, for a tenant that
/// installed Constant Contact through the hosted callback: each contact created between fires
/// is delivered by exactly one run (the runner keeps the cursor under the tenant's connection).
#[test]
fn a_scheduled_poll_trigger_delivers_each_changed_contact_once_across_a_restart() {
    let dir = temp_dir("service-schedules-poll");
    let mut service = ServiceProcess::start_sandbox(&dir.join("state.db"), Some(ADMIN_KEY), &[]);
    let key = create_tenant(&service, "acme");
    // The hosted install, the browser played by the test: the sandbox consents at once.
    let (status, body) = service.json(
        "POST",
        "/v1/tenants/acme/connections",
        Some(&key),
        &json!({"connector": "constant-contact", "name": "newsletter"}),
    );
    assert_eq!(status, 202, "{body}");
    let consent = service.browse(
        "GET",
        body["authorization_url"].as_str().expect("a URL"),
        None,
    );
    assert_eq!(consent.status, 302, "{consent:?}");
    let callback = service.browse("GET", consent.header("location").expect("a redirect"), None);
    assert_eq!(callback.status, 200, "{callback:?}");

    // Where the poll hands each contact it delivers: a local API that records every request.
    let api = LocalApi::start();
    let (status, body) = service.json(
        "POST",
        "/v1/tenants/acme/connections",
        Some(&key),
        &json!({"connector": "http", "name": "web", "settings": {
            "base_url": api.base("/acme"), "auth_type": "bearer", "api_key": TOKEN_A}}),
    );
    assert_eq!(status, 201, "{body}");
    let cc = json!({"cc": {"connector": "constant-contact", "connection": "newsletter"}});
    let poll = json!({
        "name": "Poll contacts",
        "connections": {
            "cc": {"connector": "constant-contact", "connection": "newsletter"},
            "web": {"connector": "http", "connection": "web"}
        },
        "inputs": {"type": "object", "properties": {"since": {"type": "string"}}, "required": ["since"]},
        "steps": [
            {"id": "changes", "call": "cc.contacts.poll_updated", "input": {"start": "{{ inputs.since }}"}},
            {"id": "each", "for_each": "{{ steps.changes.records }}", "call": "web.http.request",
             "input": {"path": "/delivered/{{ item.email_address.address }}"}}
        ],
        "outputs": {"delivered": "{{ steps.each.output.calls }}"}
    });
    let create = json!({
        "name": "Create one contact",
        "connections": cc,
        "inputs": {"type": "object", "properties": {"email": {"type": "string"}}, "required": ["email"]},
        "steps": [{"id": "create", "call": "cc.contacts.create",
                   "input": {"create_source": "Account", "email_address": {"address": "{{ inputs.email }}"}}}]
    });
    assert_eq!(deploy(&service, "poll-contacts", &poll).0, 201);
    assert_eq!(deploy(&service, "create-contact", &create).0, 201);

    // From now on: the sandbox's seeded contacts are older.
    let since = chrono_now_rfc3339();
    let (status, created) = service.json(
        "POST",
        "/v1/tenants/acme/schedules",
        Some(&key),
        &json!({"workflow": "poll-contacts", "inputs": {"since": since}, "every_secs": 2}),
    );
    assert_eq!(status, 201, "{created}");
    let schedule_id = created["id"].as_i64().expect("an id");

    let mut expected = Vec::new();
    for round in 0..3 {
        if round == 1 {
            // A graceful restart: the sandbox's account is saved and restored, its connections
            // re-pointed at the new sandbox; the schedule and the poll's cursor are in the state.
            let stopped = service.interrupt(Duration::from_secs(30));
            assert!(stopped.is_some_and(|s| s.success()), "{stopped:?}");
            assert!(dir.join("state.db.sandbox-account.json").is_file());
            service = ServiceProcess::start_sandbox(&dir.join("state.db"), Some(ADMIN_KEY), &[]);
        }
        for n in 0..2 {
            let email = format!("round{round}.contact{n}@example.com");
            let (status, body) = service.json(
                "POST",
                "/v1/tenants/acme/runs",
                Some(&key),
                &json!({"workflow": "create-contact", "inputs": {"email": email}}),
            );
            assert_eq!(status, 202, "{body}");
            let run = body["id"].as_i64().expect("an id");
            let done = wait_for(&service, "acme", &key, run, ended);
            assert_eq!(done["status"], "completed", "{done}");
            expected.push(email);
        }
        // Two more fires, so at least one polls after these changes.
        let fires = schedule_fires(&service, &key, schedule_id);
        let deadline = Instant::now() + RUN_TIMEOUT;
        while schedule_fires(&service, &key, schedule_id) < fires + 2 {
            assert!(Instant::now() < deadline, "the schedule stopped firing");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let (status, _) = service.call(
        "POST",
        &format!("/v1/tenants/acme/schedules/{schedule_id}/pause"),
        Some(&key),
        None,
    );
    assert_eq!(status, 200);

    // Every poll run ended well; together they delivered each created contact exactly once.
    let (status, list) = service.call("GET", "/v1/tenants/acme/runs", Some(&key), None);
    assert_eq!(status, 200);
    let mut polls = 0;
    let mut counted = 0;
    for run in list.as_array().expect("a list") {
        if run["workflow"] != "poll-contacts" {
            continue;
        }
        polls += 1;
        let id = run["id"].as_i64().expect("an id");
        let done = wait_for(&service, "acme", &key, id, ended);
        assert_eq!(done["status"], "completed", "{done}");
        counted += done["outputs"]["delivered"].as_u64().expect("a count");
    }
    let mut delivered: Vec<String> = api
        .seen()
        .into_iter()
        .filter_map(|seen| Some(seen.target.strip_prefix("/acme/delivered/")?.to_owned()))
        .collect();
    assert_eq!(counted, delivered.len() as u64);
    delivered.sort();
    expected.sort();
    assert_eq!(delivered, expected, "over {polls} polls");
    assert!(polls >= 6, "{polls}");
    // The runner keeps the cursor under the tenant's own connection (`acme/newsletter`), so
    // another tenant running the same deployed workflow has a cursor of its own.
    let state = plugboard_tests::chaos::open(&dir.join("state.db"));
    let keys: Vec<String> = state
        .prepare("SELECT key FROM cursors")
        .expect("the query prepares")
        .query_map([], |row| row.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("keys");
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].starts_with("trigger/Poll contacts/acme/newsletter/contacts.poll_updated/"),
        "{keys:?}"
    );
    drop(service);
    std::fs::remove_dir_all(&dir).ok();
}

/// How many runs a schedule has started so far, read from its runs' count.
fn schedule_fires(service: &ServiceProcess, key: &str, id: i64) -> usize {
    let (status, list) = service.call("GET", "/v1/tenants/acme/runs", Some(key), None);
    assert_eq!(status, 200, "{list}");
    let shown = service.call(
        "GET",
        &format!("/v1/tenants/acme/schedules/{id}"),
        Some(key),
        None,
    );
    assert_eq!(shown.0, 200, "{}", shown.1);
    list.as_array()
        .expect("a list")
        .iter()
        .filter(|run| run["workflow"] == "poll-contacts")
        .count()
}

fn chrono_now_rfc3339() -> String {
    let secs = plugboard_tests_now_ms() / 1000;
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Deleting a tenant deletes its schedules at once: nothing fires for it afterwards, and a
/// tenant created again under that id starts with none.
#[test]
fn deleting_a_tenant_deletes_its_schedules() {
    let api = LocalApi::start();
    let dir = temp_dir("service-schedules-tenant-deleted");
    let (service, key_a, _) = service_with_tenants(&dir, &api);
    let (status, body) = create_schedule(
        &service,
        &key_a,
        &json!({"workflow": "fetch-items", "inputs": {"items": ["1"]}, "every_secs": 3600}),
    );
    assert_eq!(status, 201, "{body}");

    let (status, body) = service.call("DELETE", "/v1/tenants/tenant-a", Some(ADMIN_KEY), None);
    assert_eq!(status, 204, "{body}");
    let key_again = create_tenant(&service, "tenant-a");
    let (status, listed) = service.call(
        "GET",
        "/v1/tenants/tenant-a/schedules",
        Some(&key_again),
        None,
    );
    assert_eq!((status, listed), (200, json!([])));
}
