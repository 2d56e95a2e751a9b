//! Retries by time and by reason, through the real binary against the sandbox: throttling is
//! waited out within the retry time whatever the number of 429s, a 401 is first taken for a
//! token race, and a short-lived token is refreshed a fraction of its lifetime early instead of
//! on every request.

use std::time::Duration;

use constant_contact_sandbox::Faults;
use plugboard_tests::e2e::{EXAMPLE_CONNECTION, Workspace, fixture, sandbox_config, start_sandbox};
use serde_json::json;

fn account_run(ws: &Workspace) -> plugboard_tests::e2e::Output {
    let workflow = fixture("account.json").to_string_lossy().into_owned();
    ws.run(&["run", &workflow, "--no-rate-limits", "--json"])
}

#[test]
fn throttling_is_retried_by_time_not_by_count() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("retries-429");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    // More 429s than the 5 attempts a request had: each waits about a second, well within the
    // two minutes a request may be retried.
    sandbox.set_faults(Faults {
        force_throttle: 6,
        ..Faults::default()
    });
    let out = account_run(&ws);
    out.finished();
    assert_eq!(sandbox.stats().throttled_429, 6);
    assert_eq!(sandbox.stats().api_served, 1);
}

#[test]
fn a_401_is_taken_for_a_token_race_before_the_connection_is_called_unauthorized() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("retries-401");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    // Two refusals in a row, as when tokens are revoked faster than they are used: a refreshed
    // token refused once more is still a race.
    sandbox.set_faults(Faults {
        force_unauthorized: 2,
        ..Faults::default()
    });
    let out = account_run(&ws);
    out.finished();
    assert_eq!(sandbox.stats().refreshes, 2, "{out:?}");

    // Refused every time: the connection is reported unauthorized after a bounded number of
    // refreshes, not retried for ever.
    sandbox.set_faults(Faults {
        force_unauthorized: 50,
        ..Faults::default()
    });
    let refreshes = sandbox.stats().refreshes;
    let out = account_run(&ws);
    let failed = out.failed();
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("unauthorized")),
        "{out:?}"
    );
    assert_eq!(sandbox.stats().refreshes - refreshes, 3, "{out:?}");
}

#[test]
fn a_short_lived_token_is_refreshed_a_fraction_of_its_life_early_not_every_time() {
    let mut config = sandbox_config();
    config.access_token_ttl = Duration::from_secs(5);
    let sandbox = start_sandbox(config);
    let ws = Workspace::new("retries-short-tokens");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let workflow = ws.dir().join("reads.json");
    std::fs::write(
        &workflow,
        json!({
            "name": "Eight reads",
            "connections": {"cc": {"connector": "constant-contact", "connection": EXAMPLE_CONNECTION}},
            "steps": [{"id": "reads", "for_each": [1, 2, 3, 4, 5, 6, 7, 8], "call": "cc.account.get_summary"}]
        })
        .to_string(),
    )
    .expect("write");
    let out = ws.run(&[
        "run",
        &workflow.to_string_lossy(),
        "--no-rate-limits",
        "--json",
    ]);
    out.finished();
    // A 60 s refresh margin is longer than the token's whole life: every request would refresh
    // first. A fifth of its life (1 s) refreshes only when it is nearly spent.
    assert!(
        sandbox.stats().refreshes <= 1,
        "refreshes: {}",
        sandbox.stats().refreshes
    );
    assert_eq!(sandbox.stats().api_served, 8);
}

#[test]
fn a_wait_for_a_used_up_quota_says_how_long_it_will_be() {
    let mut config = sandbox_config();
    config.daily_limit = Some(1);
    let sandbox = start_sandbox(config);
    // With the default log filter, as a user runs it.
    let ws = Workspace::new("retries-quota-wait").with_env("PLUGBOARD_LOG", "");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let workflow = ws.dir().join("two-reads.json");
    std::fs::write(
        &workflow,
        json!({
            "name": "Two reads",
            "connections": {"cc": {"connector": "constant-contact", "connection": EXAMPLE_CONNECTION}},
            "steps": [{"id": "reads", "for_each": [1, 2], "call": "cc.account.get_summary"}]
        })
        .to_string(),
    )
    .expect("write");
    // The second read meets the used-up daily quota; the run waits for midnight UTC, hours
    // away, and must say so instead of looking hung.
    let running = ws.spawn(&[
        "run",
        &workflow.to_string_lossy(),
        "--no-rate-limits",
        "--wait-for-quota",
    ]);
    let said = running.wait_for_stderr(Duration::from_secs(30), |stderr| {
        stderr
            .lines()
            .find(|line| line.contains("WARN") && line.contains("for it to reset"))
            .map(str::to_owned)
    });
    let stopped = running.kill();
    let line = said.unwrap_or_else(|| panic!("no notice of the wait:\n{stopped:?}"));
    assert!(line.contains("quota is used up; waiting"), "{line}");
    assert!(
        line.contains(" min for it to reset (--wait-for-quota)"),
        "{line}"
    );
}
