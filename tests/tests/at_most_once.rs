//! Creates take effect at most once, through the real binary against a sandbox that loses
//! answers: a create whose answer was lost is never sent again blindly, by a step retry or by a
//! resume. A method that can look its effect up settles it itself; any other stops the run with
//! "outcome unknown" and the two commands a person chooses between.

use std::time::{Duration, Instant};

use constant_contact_sandbox::{Faults, Sandbox};
use plugboard_tests::e2e::{EXAMPLE_CONNECTION, Output, Workspace, sandbox_config, start_sandbox};
use serde_json::{Value, json};

/// Writes a one-step workflow calling `method` with `input`, retried up to 3 times.
fn workflow(ws: &Workspace, name: &str, method: &str, input: Value) -> String {
    let path = ws.dir().join(format!("{name}.json"));
    let workflow = json!({
        "name": name,
        "connections": {"cc": {"connector": "constant-contact", "connection": EXAMPLE_CONNECTION}},
        "steps": [{
            "id": "create", "call": format!("cc.{method}"), "input": input,
            "on_error": {"retry": {"attempts": 3, "backoff_ms": 10}}
        }],
        "outputs": {"created": "{{ steps.create.output }}"}
    });
    std::fs::write(&path, workflow.to_string()).expect("write the workflow");
    path.to_string_lossy().into_owned()
}

/// `GET /v3{path}` on the sandbox with a token of its own.
fn api_get(sandbox: &Sandbox, path: &str) -> Value {
    plugboard_runner::executor::install_crypto_provider();
    let token = sandbox.mint_tokens().access_token;
    let url = format!("{}{path}", sandbox.api_base_url());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        reqwest::Client::new()
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .expect("the sandbox answers")
            .json()
            .await
            .expect("JSON")
    })
}

fn contacts_with_email(sandbox: &Sandbox, email: &str) -> usize {
    let page = api_get(sandbox, &format!("/contacts?email={email}&status=all"));
    page["contacts"].as_array().map_or(0, Vec::len)
}

fn tags_named(sandbox: &Sandbox, name: &str) -> usize {
    let page = api_get(sandbox, "/contact_tags?limit=500");
    page["tags"]
        .as_array()
        .map_or(0, |tags| tags.iter().filter(|t| t["name"] == name).count())
}

fn lists_named(sandbox: &Sandbox, name: &str) -> usize {
    let page = api_get(sandbox, &format!("/contact_lists?name={name}"));
    page["lists"].as_array().map_or(0, Vec::len)
}

fn run(ws: &Workspace, workflow: &str, extra: &[&str]) -> Output {
    let mut args = vec!["run", workflow, "--no-rate-limits"];
    args.extend(extra);
    ws.run(&args)
}

#[test]
fn a_create_whose_answer_is_lost_is_sent_once_and_found_by_its_email() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("once-lookup");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    sandbox.set_faults(Faults {
        drop_after_rate: 1.0,
        ..Faults::default()
    });
    let email = "lost.answer@example.com";
    let wf = workflow(
        &ws,
        "create-contact",
        "contacts.create",
        json!({"email_address": {"address": email}, "create_source": "Account"}),
    );
    let out = run(&ws, &wf, &[]);
    assert!(out.success(), "the lookup settles it:\n{out:?}");
    let outputs: Value = serde_json::from_str(&out.stdout).expect("outputs");
    assert!(outputs["created"]["contact_id"].is_string(), "{outputs}");
    assert_eq!(
        sandbox.stats().dropped_after_processing,
        1,
        "the create was sent once, though the step may retry 3 times"
    );
    sandbox.set_faults(Faults::default());
    assert_eq!(contacts_with_email(&sandbox, email), 1);
}

#[test]
fn a_create_that_cannot_be_looked_up_stops_and_a_person_settles_it() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("once-unknown");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    sandbox.set_faults(Faults {
        drop_after_rate: 1.0,
        ..Faults::default()
    });
    let wf = workflow(
        &ws,
        "create-tag",
        "tags.create",
        json!({"name": "Lost answer"}),
    );
    let failed = run(&ws, &wf, &[]);
    assert!(!failed.success(), "{failed:?}");
    assert!(failed.stderr.contains("outcome unknown"), "{failed:?}");
    assert!(
        !failed.stderr.contains("could not be sent"),
        "the error says truthfully that it was sent:\n{failed:?}"
    );
    assert_eq!(sandbox.stats().dropped_after_processing, 1, "no retry");
    let mark_done = failed
        .stderr
        .lines()
        .find_map(|line| line.strip_prefix("if it took effect, resume with: plugboard "))
        .unwrap_or_else(|| panic!("a --mark-done command:\n{failed:?}"))
        .to_owned();
    assert!(
        failed
            .stderr
            .contains("if it did not, resume with: plugboard "),
        "{failed:?}"
    );
    sandbox.set_faults(Faults::default());

    // A plain resume does not send it either.
    let served = sandbox.stats().api_served;
    let refused = run(&ws, &wf, &["--resume", "1"]);
    assert!(!refused.success(), "{refused:?}");
    assert!(refused.stderr.contains("outcome unknown"), "{refused:?}");
    assert_eq!(sandbox.stats().api_served, served, "nothing sent");

    // The printed command, without the `--state` the workspace adds itself.
    let words: Vec<&str> = mark_done.split_whitespace().collect();
    let mut args = Vec::new();
    let mut typed = words.iter();
    while let Some(word) = typed.next() {
        if *word == "--state" {
            typed.next();
        } else {
            args.push(*word);
        }
    }
    let settled = ws.run(&args);
    assert!(settled.success(), "{settled:?}");
    assert!(settled.stderr.contains("marked done"), "{settled:?}");
    assert_eq!(sandbox.stats().api_served, served, "still nothing sent");
    assert_eq!(tags_named(&sandbox, "Lost answer"), 1, "made once");
}

#[test]
fn a_runner_killed_while_a_create_is_in_flight_resumes_without_a_conflict() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("once-killed");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    sandbox.set_faults(Faults {
        latency: Duration::from_millis(1500),
        ..Faults::default()
    });
    let wf = workflow(
        &ws,
        "create-list",
        "contact_lists.create",
        json!({"name": "Killed mid-create"}),
    );
    let running = ws.spawn(&["run", &wf, "--no-rate-limits"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while sandbox.stats().api_requests == 0 {
        assert!(Instant::now() < deadline, "the create never arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    let killed = running.kill();
    assert!(!killed.success(), "{killed:?}");
    // Let the sandbox finish the request it holds (or drop it): either way the resume must
    // end with exactly one list and no `already_exists`.
    std::thread::sleep(Duration::from_millis(1700));
    sandbox.set_faults(Faults::default());
    let resumed = run(&ws, &wf, &["--resume", "1"]);
    assert!(resumed.success(), "{resumed:?}");
    assert!(!resumed.stderr.contains("already exists"), "{resumed:?}");
    assert_eq!(lists_named(&sandbox, "Killed%20mid-create"), 1);
}
