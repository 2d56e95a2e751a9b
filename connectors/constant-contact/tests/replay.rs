//! Constant Contact methods replayed from recorded cassettes: offline, deterministic, no sandbox.
//!
//! Each scenario below is one function that makes its calls through whatever host it is given and
//! asserts what must hold both live and replayed. The tests replay it from
//! `tests/cassettes/<scenario>.json`; `record_cassettes` (ignored by default) runs every scenario
//! against a fresh Constant Contact sandbox through the runner's real executor and rewrites the
//! cassettes, with every secret scrubbed:
//!
//! ```text
//! cargo test -p constant-contact --test replay -- --ignored record_cassettes
//! ```
//!
//! Re-recording changes ids and timestamps in the cassettes and may change the request
//! snapshots; review both (`cargo insta review`).
//!
//! Every replay test runs without a sandbox. Two more tests use one on 127.0.0.1:
//! `recording_against_the_sandbox_scrubs_and_replays` exercises record mode itself, into a scratch
//! file, and `a_poll_over_several_pages_against_the_sandbox_misses_nothing` runs the poll trigger's
//! bounded walks live while a contact is edited mid-poll (a cassette cannot edit the account).

mod common;

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use constant_contact::ConstantContact;
use constant_contact_sandbox::{Sandbox, SandboxConfig};
use plugboard_core::{ConnectorError, Host, HttpRequest, HttpResponse, LogLevel};
use plugboard_runner::ExecutorConfig;
use plugboard_testkit::{
    FakeClock, Harness, LiveConnection, RecordingHost, ReplayHost, Run, assert_requests_snapshot,
    assert_run_snapshot,
};
use serde_json::json;

/// A scenario: calls through `host`, asserting what holds live and replayed; returns its runs.
type Scenario = fn(&Harness, &dyn Host) -> Vec<Run>;

/// A scenario with its cassette name and the sandbox it is recorded against.
struct Spec {
    name: &'static str,
    run: Scenario,
    sandbox: fn() -> SandboxConfig,
}

/// Every scenario.
const SCENARIOS: [Spec; 6] = [
    Spec {
        name: "custom_fields_paginated",
        run: custom_fields_paginated,
        sandbox: many_custom_fields,
    },
    Spec {
        name: "sign_up_form_create_then_update",
        run: sign_up_form_create_then_update,
        sandbox: small_account,
    },
    Spec {
        name: "create_contact_conflict",
        run: create_contact_conflict,
        sandbox: small_account,
    },
    Spec {
        name: "bulk_import_with_wait",
        run: bulk_import_with_wait,
        sandbox: small_account,
    },
    Spec {
        name: "poll_updated_contacts",
        run: poll_updated_contacts,
        sandbox: small_account,
    },
    Spec {
        name: "account_summary",
        run: account_summary,
        sandbox: small_account,
    },
];

fn harness() -> Harness {
    Harness::of::<ConstantContact>()
}

fn cassette_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("cassettes")
        .join(format!("{name}.json"))
}

fn replay(name: &str) -> ReplayHost {
    ReplayHost::load(cassette_path(name)).expect("the cassette is committed and valid")
}

fn scenario(name: &str) -> Scenario {
    SCENARIOS
        .iter()
        .find(|spec| spec.name == name)
        .map(|spec| spec.run)
        .expect("a known scenario")
}

/// Replays a scenario and checks it used its whole cassette.
fn replay_scenario(name: &str) -> (Vec<Run>, ReplayHost) {
    let host = replay(name);
    let runs = scenario(name)(&harness(), &host);
    host.assert_all_used();
    (runs, host)
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

fn many_custom_fields() -> SandboxConfig {
    SandboxConfig {
        contacts: 3,
        custom_fields: 105,
        ..SandboxConfig::default()
    }
}

fn small_account() -> SandboxConfig {
    SandboxConfig {
        contacts: 5,
        lists: 2,
        ..SandboxConfig::default()
    }
}

/// `custom_fields.list` pages 100 at a time, so 105 fields take two pages.
fn custom_fields_paginated(harness: &Harness, host: &dyn Host) -> Vec<Run> {
    let run = harness.call(host, "custom_fields.list", json!({}));
    assert_eq!(run.ok(), &json!({"count": 105}));
    assert_eq!(run.records.len(), 105);
    assert_eq!(run.requests.len(), 2, "two pages");
    assert!(
        run.requests[1].path.contains("cursor="),
        "the second page follows _links.next: {}",
        run.requests[1].path
    );
    vec![run]
}

fn first_list_id(harness: &Harness, host: &dyn Host) -> (Run, String) {
    let lists = harness.call(host, "contact_lists.list", json!({}));
    lists.ok();
    let id = lists.records[0]["list_id"]
        .as_str()
        .expect("a list id")
        .to_owned();
    (lists, id)
}

/// The sign-up form creates a contact (201) and then updates the same one (200).
fn sign_up_form_create_then_update(harness: &Harness, host: &dyn Host) -> Vec<Run> {
    let (lists, list_id) = first_list_id(harness, host);
    let create = harness.call(
        host,
        "contacts.create_or_update",
        json!({
            "email_address": "ada.replay@example.com",
            "list_memberships": [list_id],
            "first_name": "Ada",
        }),
    );
    assert_eq!(create.ok()["created"], true);
    assert_eq!(create.ok()["action"], "created");
    let update = harness.call(
        host,
        "contacts.create_or_update",
        json!({
            "email_address": "ada.replay@example.com",
            "list_memberships": [list_id],
            "last_name": "Lovelace",
        }),
    );
    assert_eq!(update.ok()["created"], false);
    assert_eq!(update.ok()["action"], "updated");
    assert_eq!(update.ok()["contact_id"], create.ok()["contact_id"]);
    vec![lists, create, update]
}

/// Creating a contact whose email address is taken is a 409, reported as `already_exists`.
fn create_contact_conflict(harness: &Harness, host: &dyn Host) -> Vec<Run> {
    let contacts = harness.call(host, "contacts.list", json!({}));
    assert_eq!(contacts.ok()["count"], 5);
    let taken = contacts.records[0]["email_address"]["address"]
        .as_str()
        .expect("an address")
        .to_owned();
    let create = harness.call(
        host,
        "contacts.create",
        json!({
            "email_address": {"address": taken, "permission_to_send": "implicit"},
            "create_source": "Account",
            "first_name": "Duplicate",
        }),
    );
    match create.err() {
        ConnectorError::AlreadyExists { message } => {
            assert!(message.contains(&taken), "{message}");
        }
        other => panic!("expected already_exists, got {other:?}"),
    }
    vec![contacts, create]
}

/// A JSON import with `wait`: the activity is polled (with waits through the host) until done.
fn bulk_import_with_wait(harness: &Harness, host: &dyn Host) -> Vec<Run> {
    let (lists, list_id) = first_list_id(harness, host);
    let import = harness.call(
        host,
        "bulk.import_contacts",
        json!({
            "contacts": [
                {"email": "grace.replay@example.com", "first_name": "Grace"},
                {"email": "alan.replay@example.com", "first_name": "Alan"},
            ],
            "list_ids": [list_id],
            "wait": true,
            "timeout_secs": 60,
        }),
    );
    let output = import.ok();
    assert_eq!(output["contacts"], 2);
    assert_eq!(output["activities"][0]["state"], "completed");
    assert!(!import.sleeps.is_empty(), "the wait polled politely");
    assert_eq!(
        import.requests.len(),
        1 + import.sleeps.len(),
        "one create, then one poll after each wait"
    );
    vec![lists, import]
}

/// The poll trigger: a first poll sees every contact, the next only what changed since.
fn poll_updated_contacts(harness: &Harness, host: &dyn Host) -> Vec<Run> {
    let first = harness.call(host, "contacts.poll_updated", json!({}));
    assert_eq!(first.ok()["count"], 5);
    let cursor = first.ok()["next_cursor"]
        .as_str()
        .expect("a cursor after a poll that saw contacts")
        .to_owned();
    let address = first.records[0]["email_address"]["address"]
        .as_str()
        .expect("an address")
        .to_owned();
    let (lists, list_id) = first_list_id(harness, host);
    let touch = harness.call(
        host,
        "contacts.create_or_update",
        json!({"email_address": address, "list_memberships": [list_id], "job_title": "Poller"}),
    );
    assert_eq!(touch.ok()["created"], false);
    let second = harness.call(host, "contacts.poll_updated", json!({"cursor": cursor}));
    assert_eq!(second.ok()["count"], 1, "only the contact updated since");
    assert_eq!(second.records[0]["email_address"]["address"], address);
    let next = second.ok()["next_cursor"].as_str().expect("a cursor");
    assert!(next > cursor.as_str(), "the cursor moves forward");
    vec![first, lists, touch, second]
}

/// One plain read.
fn account_summary(harness: &Harness, host: &dyn Host) -> Vec<Run> {
    let run = harness.call(host, "account.get_summary", json!({}));
    assert!(
        run.ok()["encoded_account_id"].is_string(),
        "{:?}",
        run.output
    );
    vec![run]
}

// ---------------------------------------------------------------------------------------------
// Replay tests: offline, from the committed cassettes.

#[test]
fn custom_fields_follow_pages_offline() {
    let (runs, _) = replay_scenario("custom_fields_paginated");
    assert_requests_snapshot!(runs[0]);
}

#[test]
fn sign_up_form_creates_then_updates() {
    let (runs, _) = replay_scenario("sign_up_form_create_then_update");
    // The list's id is whatever the sandbox's seed data made it, and changes with them: the
    // snapshots keep its place, and the requests are checked to carry the id the listing gave.
    let list_id = &runs[0].records[0]["list_id"];
    for run in &runs[1..] {
        let body = run.requests_snapshot()[0].body.clone().expect("a body");
        assert_eq!(&body["value"]["list_memberships"][0], list_id);
    }
    assert_requests_snapshot!("sign_up_form_create", runs[1], {
        "[].body.value.list_memberships[]" => "[list id]",
    });
    assert_requests_snapshot!("sign_up_form_update", runs[2], {
        "[].body.value.list_memberships[]" => "[list id]",
    });
}

#[test]
fn a_taken_email_address_is_a_409_conflict() {
    let (runs, host) = replay_scenario("create_contact_conflict");
    let status = host
        .cassette()
        .interactions
        .last()
        .map(|i| match &i.outcome {
            plugboard_testkit::Outcome::Response(response) => response.status,
            plugboard_testkit::Outcome::Error(_) => 0,
        });
    assert_eq!(status, Some(409), "the cassette holds the API's 409");
    assert_run_snapshot!("contact_conflict", runs[1]);
}

#[test]
fn a_bulk_import_waits_on_the_fake_clock() {
    let (runs, host) = replay_scenario("bulk_import_with_wait");
    let import = &runs[1];
    assert_eq!(
        import.sleeps[0],
        Duration::from_secs(1),
        "the first pause is 1 s"
    );
    assert_eq!(
        host.clock().now(),
        import.waited(),
        "every wait was virtual: the clock moved by exactly the waits"
    );
    assert_eq!(host.clock().sleeps(), import.sleeps);
    assert_eq!(
        host.cassette().waits(),
        import.sleeps,
        "the connector waits exactly as it did while recording"
    );
}

#[test]
fn a_bulk_wait_stops_when_the_run_is_cancelled_mid_wait() {
    let clock = FakeClock::new();
    clock.cancel_after(Duration::from_millis(500));
    let host = replay("bulk_import_with_wait").with_clock(clock.clone());
    let harness = harness();
    let (_, list_id) = first_list_id(&harness, &host);
    let import = harness.call(
        &host,
        "bulk.import_contacts",
        json!({
            "contacts": [
                {"email": "grace.replay@example.com", "first_name": "Grace"},
                {"email": "alan.replay@example.com", "first_name": "Alan"},
            ],
            "list_ids": [list_id],
            "wait": true,
            "timeout_secs": 60,
        }),
    );
    assert_eq!(import.err(), &ConnectorError::Cancelled);
    assert_eq!(import.requests.len(), 1, "no poll after the cancelled wait");
    assert_eq!(clock.now(), Duration::from_millis(500));
    assert!(host.misses().is_empty());
    assert!(!host.unused().is_empty(), "the polls were never made");
}

#[test]
fn the_poll_trigger_returns_only_changes_after_its_cursor() {
    let (runs, _) = replay_scenario("poll_updated_contacts");
    assert_requests_snapshot!("poll_first", runs[0]);
    let second = &runs[3];
    assert_eq!(second.requests.len(), 1);
    assert!(
        second.requests[0].query.contains(&(
            "updated_after".to_owned(),
            runs[0].ok()["next_cursor"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        )),
        "the second poll asks for changes after the first poll's cursor: {:?}",
        second.requests[0]
    );
}

#[test]
fn account_summary_replays() {
    let (runs, _) = replay_scenario("account_summary");
    assert_requests_snapshot!(runs[0]);
}

#[test]
fn a_request_missing_from_the_cassette_fails_clearly() {
    let host = replay("custom_fields_paginated");
    let run = harness().call(&host, "contact_lists.list", json!({}));
    let ConnectorError::Denied { message } = run.err() else {
        panic!("a replay miss is Denied, got {:?}", run.output);
    };
    assert!(
        message.contains("`GET /contact_lists?limit=500"),
        "names the request: {message}"
    );
    assert!(
        message.contains("cassette `custom_fields_paginated`"),
        "names the cassette: {message}"
    );
    assert!(
        message.contains("the closest entry is #0 `GET /contact_custom_fields?limit=100`"),
        "names the closest entry: {message}"
    );
    assert_eq!(host.misses().len(), 1);
    assert_eq!(host.unused().len(), 2, "both pages are unused");
}

/// A quick local check; `tests/tests/cassettes.rs` checks every cassette in the repository
/// thoroughly.
#[test]
fn cassettes_hold_no_credentials() {
    let client_secret = SandboxConfig::default().client.client_secret;
    for Spec { name, .. } in SCENARIOS {
        let text = std::fs::read_to_string(cassette_path(name)).expect("committed");
        assert!(!text.contains(&client_secret), "{name}");
        assert!(!text.to_ascii_lowercase().contains("bearer "), "{name}");
        assert!(!text.contains("authorization"), "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// Recording.

/// Installs a connection to `sandbox` with freshly minted tokens (no browser).
fn live_connection(sandbox: &Sandbox) -> LiveConnection {
    common::sandbox_connection(sandbox, "recording", ExecutorConfig::default())
}

/// Records `spec` against a fresh sandbox into `path`, checks that no secret the connection held
/// survived, and replays the new cassette through the same scenario.
fn record(spec: &Spec, path: &std::path::Path) {
    let sandbox = Sandbox::spawn((spec.sandbox)()).expect("the sandbox starts on 127.0.0.1");
    let live = live_connection(&sandbox);
    let recorder = RecordingHost::new(live.host());
    (spec.run)(&harness(), &recorder);
    let scrubber = live
        .scrubber()
        .expect("the connection's secrets")
        .secret(sandbox.client_secret());
    assert!(
        scrubber.secret_count() >= 3,
        "the client secret and both tokens are known: {scrubber:?}"
    );
    let mut cassette = recorder.cassette(spec.name, &scrubber).expect("scrubbed");
    cassette.recorded_at = Some(plugboard_testkit::cassette::today_utc());
    cassette.save(path).expect("written");
    let text = std::fs::read_to_string(path).expect("readable");
    assert!(
        !scrubber.leaks(&text),
        "{}: a secret survived scrubbing",
        spec.name
    );
    let replayed = ReplayHost::load(path).expect("the new cassette loads");
    (spec.run)(&harness(), &replayed);
    replayed.assert_all_used();
    drop(live);
    sandbox.shutdown();
}

/// Rewrites every cassette from a fresh sandbox per scenario. Needs no network beyond 127.0.0.1.
#[test]
#[ignore = "rewrites tests/cassettes against the sandbox; run it on purpose"]
fn record_cassettes() {
    for spec in &SCENARIOS {
        let path = cassette_path(spec.name);
        record(spec, &path);
        println!("recorded {}", path.display());
    }
}

/// Record mode itself, through the runner's real executor against a sandbox on 127.0.0.1, into a
/// scratch file: the recorder keeps working and keeps scrubbing, not only the committed cassettes.
#[test]
fn recording_against_the_sandbox_scrubs_and_replays() {
    let spec = SCENARIOS
        .iter()
        .find(|spec| spec.name == "sign_up_form_create_then_update")
        .expect("a known scenario");
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("replay-{}", std::process::id()))
        .join("sign_up_form.json");
    record(spec, &path);
    let text = std::fs::read_to_string(&path).expect("readable");
    assert!(!text.contains("sandbox-secret"), "{text}");
    assert!(!text.to_ascii_lowercase().contains("bearer"), "{text}");
    let _ = std::fs::remove_dir_all(path.parent().expect("a parent"));
}

/// Passes every call to a live host, and after the `edit_after`-th request edits the first
/// contact of the first answer, as another user of the account would while a poll is running.
struct EditingHost<'h> {
    inner: &'h dyn Host,
    list_id: String,
    edit_after: u32,
    sent: AtomicU32,
    first_email: Mutex<Option<String>>,
}

impl Host for EditingHost<'_> {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let response = self.inner.send(request)?;
        let sent = self.sent.fetch_add(1, Ordering::SeqCst) + 1;
        let mut first = self.first_email.lock().expect("not poisoned");
        if sent == 1 {
            let body: serde_json::Value = response.decode()?;
            *first = body
                .pointer("/contacts/0/email_address/address")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned);
        }
        if sent == self.edit_after {
            let email = first.clone().expect("the first page had a contact");
            let edit = HttpRequest::post("/contacts/sign_up_form").json(&json!({
                "email_address": email,
                "list_memberships": [self.list_id],
                "job_title": "Edited mid-poll",
            }))?;
            let answer = self.inner.send(edit)?;
            assert_eq!(answer.status, 200, "{}", answer.body);
        }
        Ok(response)
    }
    fn emit(&self, record: serde_json::Value) -> Result<(), ConnectorError> {
        self.inner.emit(record)
    }
    fn log(&self, level: LogLevel, message: &str) {
        self.inner.log(level, message);
    }
    fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }
    fn sleep(&self, duration: Duration) -> Result<(), ConnectorError> {
        self.inner.sleep(duration)
    }
}

/// The poll trigger over several pages against the sandbox, through the runner's executor: the
/// walks are bounded with `updated_before`, every contact comes once, and a contact edited while
/// the poll runs comes again with its edit, in the same poll; the next poll finds nothing.
#[test]
fn a_poll_over_several_pages_against_the_sandbox_misses_nothing() {
    let sandbox = Sandbox::spawn(SandboxConfig {
        contacts: 1_200,
        lists: 2,
        ..SandboxConfig::default()
    })
    .expect("the sandbox starts on 127.0.0.1");
    let live = live_connection(&sandbox);
    let host = live.host();
    let harness = harness();
    let (_, list_id) = first_list_id(&harness, &host);
    let all = harness.call(&host, "contacts.list", json!({}));
    let active = all.ok()["count"].as_u64().expect("a count");
    assert!(active > 1_000, "{active} contacts: more than two pages");

    let editing = EditingHost {
        inner: &host,
        list_id,
        edit_after: 2,
        sent: AtomicU32::new(0),
        first_email: Mutex::new(None),
    };
    let poll = harness.call(&editing, "contacts.poll_updated", json!({}));
    let output = poll.ok().clone();
    assert_eq!(output["count"].as_u64(), Some(active + 1), "{output}");
    let ids: std::collections::HashSet<&str> = poll
        .records
        .iter()
        .filter_map(|c| c["contact_id"].as_str())
        .collect();
    assert_eq!(
        ids.len() as u64,
        active,
        "every contact, the edited one twice"
    );
    let last = poll.records.last().expect("records");
    assert_eq!(last["job_title"], "Edited mid-poll", "the edit came last");
    assert_eq!(output["next_cursor"], last["updated_at"], "{output}");
    assert!(
        poll.requests
            .iter()
            .any(|r| r.query.iter().any(|(name, _)| name == "updated_before")),
        "the walks over several pages are bounded: {:#?}",
        poll.requests
    );

    let again = harness.call(
        &host,
        "contacts.poll_updated",
        json!({"cursor": output["next_cursor"]}),
    );
    assert_eq!(again.ok()["count"], 0);
    assert_eq!(again.ok()["next_cursor"], output["next_cursor"]);
    drop(live);
    sandbox.shutdown();
}

#[test]
fn every_scenario_has_a_cassette() {
    for Spec { name, .. } in SCENARIOS {
        let host = replay(name);
        assert_eq!(host.cassette().name, name);
        assert!(
            !host.cassette().interactions.is_empty(),
            "{name} recorded nothing"
        );
    }
}
