//! `plugboard serve --state postgres://…` through the real binary (built with the `postgres`
//! feature) and HTTP.
//!
//! - Two service processes on one database serve one vendor: tenants, keys, workflows, runs and
//!   their events made through one are seen and used through the other; a schedule both of them
//!   poll fires each slot once; a tenant deleted through one is gone from the other; neither
//!   tenant reaches the other's records.
//! - The hosted OAuth install against the sandbox keeps its pending authorization (the PKCE
//!   verifier) and the tokens sealed; the callback cannot be replayed; the tokens work.
//! - No table holds an API key, a token or a schedule's inputs in the clear.
//! - The service's stores keep the same rules on SQLite and on PostgreSQL (the same test code
//!   runs on both): one-time rows, bounds, one fire per slot under concurrency, gapless event
//!   numbers, and what deleting a tenant takes with it.
//!
//! Without `PLUGBOARD_TEST_POSTGRES_URL` these tests fail (never skip): run them with
//! `cargo xtask test -p plugboard-tests --test service_postgres`.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use plugboard_service::install_store::{PendingInstall, now_ms};
use plugboard_service::page_sessions::PageGrant;
use plugboard_service::postgres::PgServiceStore;
use plugboard_service::schedule_store::{Schedule, Timing};
use plugboard_service::store::KeyOwner;
use plugboard_service::workflow_store::ServiceRun;
use plugboard_service::{
    ScheduleStore, ServiceStore, SqliteScheduleStore, SqliteServiceStore, SqliteWorkflowStore,
    WorkflowStore,
};
use plugboard_store_postgres::{PostgresStore, SecretKey};
use plugboard_tests::postgres::{Database, postgres_binary};
use plugboard_tests::service::{Launch, ServiceProcess, query_param};
use plugboard_tests::service_runs::{
    ADMIN_KEY, LocalApi, TOKEN_A, TOKEN_B, connect_on, create_tenant, deploy, ended, events_text,
    fetch_items, list_items, start_run, wait_for,
};
use plugboard_tests::{temp_dir, wait};
use secrecy::SecretString;
use serde_json::{Value, json};

const SECRET_KEY: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";

/// The PostgreSQL binary on `db`, with the secret key; the sandbox's account (if any) under `dir`.
fn launch(db: &Database, dir: &Path) -> Launch {
    Launch {
        binary: postgres_binary(),
        state: db.url.clone().into(),
        env: vec![
            ("PLUGBOARD_SECRET_KEY".to_owned(), SECRET_KEY.to_owned()),
            ("XDG_STATE_HOME".to_owned(), dir.display().to_string()),
        ],
    }
}

/// The ids of a listing's items (`id` fields).
fn ids(listing: &Value) -> Vec<String> {
    listing
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| item["id"].to_string().trim_matches('"').to_owned())
        .collect()
}

/// Asserts that no secret appears anywhere in the database.
fn assert_sealed(db: &Database, secrets: &[&str]) {
    let dump = db.dump();
    assert!(
        dump.contains("service_tenants"),
        "the dump reads the tables"
    );
    for secret in secrets {
        assert!(
            !dump.contains(secret),
            "a secret is readable in the database: {}…",
            &secret[..6]
        );
    }
}

#[test]
fn two_service_processes_on_one_database_serve_one_vendor() {
    let api = LocalApi::start();
    let dir = temp_dir("service-postgres-two");
    let db = Database::create();
    let launch = launch(&db, &dir);
    connect_on(&launch, "tenant-a/web", &api.base("/a"), TOKEN_A);
    connect_on(&launch, "tenant-b/web", &api.base("/b"), TOKEN_B);
    let one = ServiceProcess::start_on(&launch, Some(ADMIN_KEY), &[]);
    let two = ServiceProcess::start_on(&launch, Some(ADMIN_KEY), &[]);

    // Tenants made through either are the same tenants, with keys both accept.
    let key_a = create_tenant(&one, "tenant-a");
    let key_b = create_tenant(&two, "tenant-b");
    for service in [&one, &two] {
        let (status, tenants) = service.call("GET", "/v1/tenants", Some(ADMIN_KEY), None);
        assert_eq!(status, 200, "{tenants}");
        assert_eq!(ids(&tenants), ["tenant-a", "tenant-b"]);
        for (tenant, key) in [("tenant-a", &key_a), ("tenant-b", &key_b)] {
            let (status, body) =
                service.call("GET", &format!("/v1/tenants/{tenant}"), Some(key), None);
            assert_eq!(status, 200, "{tenant}: {body}");
        }
    }
    let (status, body) = two.call(
        "POST",
        "/v1/tenants",
        Some(ADMIN_KEY),
        Some(json!({"id": "tenant-a"}).to_string().into_bytes()),
    );
    assert_eq!(status, 409, "a tenant id is taken across processes: {body}");

    // Deployed through two, run through one, watched through two.
    let (status, body) = deploy(&two, "fetch-items", &fetch_items());
    assert_eq!(status, 201, "{body}");
    let (status, body) = one.call("GET", "/v1/workflows/fetch-items", Some(ADMIN_KEY), None);
    assert_eq!(status, 200, "{body}");
    let run = start_run(&one, "tenant-a", &key_a, &["x", "y"]);
    let done = wait_for(&two, "tenant-a", &key_a, run, ended);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["outputs"]["caller"], "a", "tenant A's token: {done}");
    assert_eq!(done["outputs"]["paths"], json!(["/a/slow/x", "/a/slow/y"]));
    let events = events_text(&two, "tenant-a", &key_a, run);
    assert!(events.contains("run_finished"), "{events}");

    // Neither process lets tenant B reach tenant A's run: 404, as if it did not exist.
    for service in [&one, &two] {
        for path in [
            format!("/v1/tenants/tenant-a/runs/{run}"),
            "/v1/tenants/tenant-a/runs".to_owned(),
            format!("/v1/tenants/tenant-b/runs/{run}"),
        ] {
            let (status, body) = service.call("GET", &path, Some(&key_b), None);
            assert!(
                [403, 404].contains(&status),
                "{path} with tenant B's key: {status} {body}"
            );
            assert!(!body.to_string().contains("/a/slow"), "{body}");
        }
    }

    // A schedule both processes poll fires each slot once: the compare-and-set on its next
    // fire time lets exactly one of them start the slot's run.
    let marker = "scheduled-item-7f3a";
    let (status, schedule) = one.json(
        "POST",
        "/v1/tenants/tenant-a/schedules",
        Some(&key_a),
        &json!({"workflow": "fetch-items", "inputs": {"items": [marker]}, "every_secs": 1}),
    );
    assert_eq!(status, 201, "{schedule}");
    let id = schedule["id"].as_i64().expect("an id");
    let created = Instant::now();
    std::thread::sleep(Duration::from_millis(4_500));
    let (status, paused) = two.call(
        "POST",
        &format!("/v1/tenants/tenant-a/schedules/{id}/pause"),
        Some(&key_a),
        None,
    );
    assert_eq!(status, 200, "{paused}");
    let elapsed = created.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let fired = api
        .counts()
        .get(&format!("/a/slow/{marker}"))
        .copied()
        .unwrap_or(0);
    let slots = usize::try_from(elapsed.as_secs()).unwrap_or(usize::MAX);
    assert!(
        (2..=slots + 1).contains(&fired),
        "{fired} fires in {elapsed:?}: one per slot, never one per process"
    );
    let (status, runs) = one.call("GET", "/v1/tenants/tenant-a/runs", Some(&key_a), None);
    assert_eq!(status, 200, "{runs}");
    assert_eq!(runs.as_array().map(Vec::len), Some(fired + 1), "{runs}");
    let sealed = db.query("SELECT inputs_sealed FROM service_schedules");
    assert_eq!(sealed.len(), 1);
    assert!(sealed[0].starts_with("pbs1:"), "{}", &sealed[0][..5]);
    assert!(!sealed[0].contains(marker));

    assert_sealed(&db, &[ADMIN_KEY, &key_a, &key_b, TOKEN_A, TOKEN_B]);

    // A run executing in one is cancelled through two: one reads the request within a second
    // and stops the run before its remaining calls.
    let calls = |path: &str| api.counts().get(path).copied().unwrap_or(0);
    api.delay_ms.store(1_000, Ordering::SeqCst);
    let slow = start_run(
        &one,
        "tenant-b",
        &key_b,
        &["c1", "c2", "c3", "c4", "c5", "c6"],
    );
    let first_call = |r: &Value| r["steps"][1]["calls_done"].as_u64() >= Some(1);
    wait_for(&two, "tenant-b", &key_b, slow, first_call);
    let (status, body) = two.call(
        "POST",
        &format!("/v1/tenants/tenant-b/runs/{slow}/cancel"),
        Some(&key_b),
        None,
    );
    assert_eq!(status, 202, "{body}");
    let cancelled = wait_for(&two, "tenant-b", &key_b, slow, ended);
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(calls("/b/slow/c6"), 0, "stopped before its last call");

    // Deleted through one while two executes its run: the run is stopped first (it ends
    // cancelled, not failed for want of its connection); the tenant is gone for two, its key
    // refused there.
    let last = start_run(
        &two,
        "tenant-b",
        &key_b,
        &["d1", "d2", "d3", "d4", "d5", "d6"],
    );
    wait_for(&one, "tenant-b", &key_b, last, first_call);
    let (status, body) = one.call("DELETE", "/v1/tenants/tenant-b", Some(ADMIN_KEY), None);
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        db.query(&format!("SELECT status FROM runs WHERE id = {last}")),
        ["cancelled"]
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(calls("/b/slow/d6"), 0, "stopped before its last call");
    api.delay_ms.store(0, Ordering::SeqCst);
    let (status, body) = two.call("GET", "/v1/tenants/tenant-b", Some(ADMIN_KEY), None);
    assert_eq!(status, 404, "{body}");
    let (status, body) = two.call("GET", "/v1/tenants/tenant-b/runs", Some(&key_b), None);
    assert_eq!(status, 401, "{body}");
}

/// Starts a `list-items` run over four items through `service` and kills the service once the
/// first call is done; returns the run's id.
fn start_and_kill(service: ServiceProcess, key: &str) -> i64 {
    let (status, body) = service.json(
        "POST",
        "/v1/tenants/tenant-a/runs",
        Some(key),
        &json!({"workflow": "list-items", "inputs": {"items": ["1", "2", "3", "4"]}}),
    );
    assert_eq!(status, 202, "{body}");
    let run = body["id"].as_i64().expect("an id");
    wait_for(&service, "tenant-a", key, run, |r| {
        r["steps"][0]["calls_done"].as_u64() >= Some(1)
    });
    drop(service); // SIGKILL
    run
}

#[test]
fn a_run_held_by_another_machine_is_left_to_it_taken_over_on_request_and_resumed_after_a_reboot() {
    let api = LocalApi::start();
    api.delay_ms.store(800, Ordering::SeqCst);
    let dir = temp_dir("service-postgres-elsewhere");
    let db = Database::create();
    let launch = launch(&db, &dir);
    connect_on(&launch, "tenant-a/web", &api.base("/a"), TOKEN_A);
    let service = ServiceProcess::start_on(&launch, Some(ADMIN_KEY), &[]);
    let key = create_tenant(&service, "tenant-a");
    let (status, body) = deploy(&service, "list-items", &list_items());
    assert_eq!(status, 201, "{body}");
    let run = start_and_kill(service, &key);
    let here = db.query(&format!("SELECT owner_host FROM runs WHERE id = {run}"));
    let host_name = here[0].split('/').next().expect("a host name").to_owned();

    // As if the killed service had been on another machine, which may still be running it:
    // a service starting here leaves the run alone, and a plain resume is refused.
    db.query(&format!(
        "UPDATE runs SET owner_host = 'another-machine/boot/pidns' WHERE id = {run}"
    ));
    let sent_before = api.seen().len();
    let other = ServiceProcess::start_on(&launch, Some(ADMIN_KEY), &[]);
    std::thread::sleep(Duration::from_millis(2_000));
    assert_eq!(api.seen().len(), sent_before, "nothing resumed it here");
    assert_eq!(
        db.query(&format!("SELECT status FROM runs WHERE id = {run}")),
        ["running"]
    );
    let resume = format!("/v1/tenants/tenant-a/runs/{run}/resume");
    let (status, body) = other.call("POST", &resume, Some(&key), None);
    assert_eq!(status, 409, "{body}");
    assert!(
        body.to_string().contains("another-machine") && body.to_string().contains("take_over"),
        "{body}"
    );
    assert_eq!(api.seen().len(), sent_before);

    // A cancel through this process is asked for in the store (that machine would read it)...
    let (status, body) = other.call(
        "POST",
        &format!("/v1/tenants/tenant-a/runs/{run}/cancel"),
        Some(&key),
        None,
    );
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        db.query(&format!(
            "SELECT cancel_requested::text FROM runs WHERE id = {run}"
        )),
        ["true"]
    );

    // ...and the operator's take-over, later, is the last word: resumed to the end.
    let (status, body) = other.json("POST", &resume, Some(&key), &json!({"take_over": true}));
    assert_eq!(status, 202, "{body}");
    let done = wait_for(&other, "tenant-a", &key, run, ended);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["outputs"]["counts"], json!([1, 1, 1, 1]), "{done}");

    // This machine after a reboot (same host name, another boot): its next service resumes the
    // run a killed predecessor left.
    let run = start_and_kill(other, &key);
    db.query(&format!(
        "UPDATE runs SET owner_host = '{}/rebooted/pidns' WHERE id = {run}",
        host_name.replace('\'', "''")
    ));
    let own = ServiceProcess::start_on(&launch, Some(ADMIN_KEY), &[]);
    let done = wait_for(&own, "tenant-a", &key, run, ended);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["outputs"]["counts"], json!([1, 1, 1, 1]), "{done}");

    // Cancelled (through another service process) while this machine's service was down: its
    // next start ends the run cancelled instead of resuming it.
    let run = start_and_kill(own, &key);
    let sent_before = api.seen().len();
    db.query(&format!(
        "UPDATE runs SET cancel_requested = true WHERE id = {run}"
    ));
    let own = ServiceProcess::start_on(&launch, Some(ADMIN_KEY), &[]);
    let done = wait_for(&own, "tenant-a", &key, run, ended);
    assert_eq!(done["status"], "cancelled", "{done}");
    assert!(done["error"].to_string().contains("was down"), "{done}");
    assert_eq!(api.seen().len(), sent_before, "nothing sent for it");
}

#[test]
fn serve_sandbox_refuses_a_database_holding_a_real_app() {
    let dir = temp_dir("service-postgres-real-app");
    let db = Database::create();
    let launch = launch(&db, &dir);
    let set = std::process::Command::new(&launch.binary)
        .args(["--state", &db.url, "partner", "set", "constant-contact"])
        .args([
            "client_id=the-vendors-real-app",
            "redirect_uri=https://vendor.example/cb",
        ])
        .env("PLUGBOARD_SECRET_KEY", SECRET_KEY)
        .env_remove("PLUGBOARD_STATE")
        .output()
        .expect("plugboard runs");
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let app = "SELECT settings_sealed || updated_at_ms::text FROM partner_settings";
    let before = db.query(app);
    let output = std::process::Command::new(&launch.binary)
        .args(["--state", &db.url, "serve", "--listen", "127.0.0.1:0"])
        .args(["--public-url", "http://127.0.0.1:9", "--sandbox"])
        .envs(launch.env.iter().map(|(name, value)| (name, value)))
        .env("PLUGBOARD_ADMIN_KEY", ADMIN_KEY)
        .env_remove("PLUGBOARD_STATE")
        .output()
        .expect("plugboard runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Constant Contact app"), "{stderr}");
    assert!(stderr.contains("database of its own"), "{stderr}");
    assert_eq!(db.query(app), before, "the real app is untouched");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("listening"));
}

#[test]
fn a_hosted_install_on_postgres_keeps_its_verifier_and_tokens_sealed() {
    let dir = temp_dir("service-postgres-install");
    let db = Database::create();
    let service = ServiceProcess::start_sandbox_on(&launch(&db, &dir), Some(ADMIN_KEY), &[]);
    let key = create_tenant(&service, "alpha");

    let (status, started) = service.json(
        "POST",
        "/v1/tenants/alpha/connections",
        Some(&key),
        &json!({"connector": "constant-contact", "name": "cc"}),
    );
    assert_eq!(status, 202, "{started}");
    let url = started["authorization_url"]
        .as_str()
        .expect("a URL")
        .to_owned();
    let state = query_param(&url, "state");
    // Pending: only the state's hash is kept, and the authorization is sealed to its row.
    let pending = db.query("SELECT authorization_sealed FROM service_pending_installs");
    assert_eq!(pending.len(), 1);
    assert!(pending[0].starts_with("pbs1:"), "sealed");
    assert!(
        !db.dump().contains(&state),
        "the state itself is never stored"
    );

    // The sandbox consents and redirects to the hosted callback, which finishes the install.
    let consent = service.browse("GET", &url, None);
    assert_eq!(consent.status, 302, "{consent:?}");
    let callback = consent.header("location").expect("a redirect").to_owned();
    let page = service.browse("GET", &callback, None);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Constant Contact connected"),
        "{}",
        page.body
    );
    assert!(
        db.query("SELECT state_hash::text FROM service_pending_installs")
            .is_empty(),
        "the install is spent"
    );
    let again = service.browse("GET", &callback, None);
    assert!(
        again.status >= 400,
        "a replayed callback is refused: {}",
        again.status
    );
    assert!(again.body.contains("already used"), "{}", again.body);

    // The tokens are sealed in the runner's table, and they work (the test refreshes them).
    let tokens = db.query("SELECT access_token_sealed FROM tokens WHERE connection = 'alpha/cc'");
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert!(tokens[0].starts_with("pbs1:"));
    let (status, tested) = service.call(
        "POST",
        "/v1/tenants/alpha/connections/cc/test",
        Some(&key),
        None,
    );
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["ok"], true, "{tested}");
    assert_sealed(&db, &[ADMIN_KEY, &key]);
}

/// The service's stores as the service holds them: on SQLite files or on PostgreSQL.
struct Stores {
    service: Arc<dyn ServiceStore>,
    workflows: Arc<dyn WorkflowStore>,
    schedules: Arc<dyn ScheduleStore>,
}

fn grant(token: u8, tenant: &str) -> PageGrant {
    PageGrant {
        token_hash: [token; 32],
        tenant: tenant.to_owned(),
        page: "runs".to_owned(),
        expires_at_ms: now_ms() + 60_000,
    }
}

/// The rules both backends keep, with the same test code: one-time rows, bounds, compare-and-set
/// fires under concurrency, gapless event numbers, and what a tenant's deletion takes with it.
async fn the_rules_of_the_service_stores(stores: Stores) {
    let Stores {
        service,
        workflows,
        schedules,
    } = stores;
    assert!(service.create_tenant("t".into(), [1; 32]).await.unwrap());
    assert!(
        !service.create_tenant("t".into(), [2; 32]).await.unwrap(),
        "taken"
    );
    assert!(service.add_tenant_key("t".into(), [3; 32]).await.unwrap());
    assert!(
        !service
            .add_tenant_key("none".into(), [4; 32])
            .await
            .unwrap()
    );
    assert_eq!(
        service.key_owner([3; 32]).await.unwrap(),
        Some(KeyOwner::Tenant("t".into()))
    );
    service.set_admin_key_hash([9; 32]).await.unwrap();
    assert_eq!(
        service.key_owner([9; 32]).await.unwrap(),
        Some(KeyOwner::Admin)
    );
    assert_eq!(service.key_owner([8; 32]).await.unwrap(), None);

    // A pending install is taken once, its authorization intact.
    let install = PendingInstall {
        state_hash: [5; 32],
        tenant: "t".into(),
        name: "cc".into(),
        connector: "constant-contact".into(),
        authorization: r#"{"verifier":"v-123"}"#.into(),
        expires_at_ms: now_ms() + 60_000,
    };
    service.put_pending_install(install).await.unwrap();
    assert_eq!(service.open_installs("t".into()).await.unwrap(), 1);
    let taken = service.take_pending_install([5; 32]).await.unwrap();
    assert_eq!(
        taken.map(|i| i.authorization).as_deref(),
        Some(r#"{"verifier":"v-123"}"#)
    );
    assert!(
        service
            .take_pending_install([5; 32])
            .await
            .unwrap()
            .is_none()
    );

    // Page links: at most 100 unused per tenant, each spent once.
    for token in 0..100u8 {
        assert!(service.put_page_link(grant(token, "t")).await.unwrap());
    }
    assert!(
        !service.put_page_link(grant(200, "t")).await.unwrap(),
        "the 101st"
    );
    assert!(service.take_page_link([0; 32]).await.unwrap().is_some());
    assert!(service.take_page_link([0; 32]).await.unwrap().is_none());
    service.put_page_session(grant(201, "t")).await.unwrap();

    // Eight fires of one slot at once: exactly one wins.
    let schedule = schedules
        .create_schedule(Schedule {
            id: 0,
            tenant: "t".into(),
            workflow: "w".into(),
            inputs: json!({"items": ["secret-ish"]}),
            timing: Timing::Every(5),
            paused: false,
            next_fire_ms: 1_000,
            created_at_ms: 0,
            last_fired_ms: None,
            last_run_id: None,
            last_error: None,
            skipped: 0,
            recent_skips_ms: vec![],
        })
        .await
        .unwrap();
    assert_eq!(schedule.inputs, json!({"items": ["secret-ish"]}));
    let mut fires = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let schedules = Arc::clone(&schedules);
        fires.spawn(async move { schedules.advance(schedule.id, 1_000, 6_000).await.unwrap() });
    }
    let won = fires
        .join_all()
        .await
        .into_iter()
        .filter(|won| *won)
        .count();
    assert_eq!(won, 1, "one fire per slot");
    for at in 0..25 {
        schedules.record_skip(schedule.id, at).await.unwrap();
    }
    let kept = schedules.schedule(schedule.id).await.unwrap().unwrap();
    assert_eq!(kept.skipped, 25);
    assert_eq!(
        kept.recent_skips_ms,
        (5..25).collect::<Vec<i64>>(),
        "the newest 20"
    );
    assert!(schedules.set_paused(schedule.id, true, 0).await.unwrap());
    assert!(schedules.due(i64::MAX).await.unwrap().is_empty());
    assert!(
        schedules
            .set_paused(schedule.id, false, 7_000)
            .await
            .unwrap()
    );
    let due = schedules.due(7_000).await.unwrap();
    assert_eq!(
        due.iter().map(|s| s.next_fire_ms).collect::<Vec<_>>(),
        [7_000]
    );

    // Events appended at once are numbered 1..=n, without a gap or a repeat.
    assert!(
        workflows
            .put_workflow("w".into(), "{}".into(), "d1".into())
            .await
            .unwrap()
    );
    assert!(
        !workflows
            .put_workflow("w".into(), "{}".into(), "d2".into())
            .await
            .unwrap()
    );
    assert_eq!(
        workflows
            .workflow("w".into())
            .await
            .unwrap()
            .unwrap()
            .digest,
        "d2"
    );
    workflows
        .add_run(ServiceRun {
            id: 77,
            tenant: "t".into(),
            workflow: "w".into(),
            source: "{}".into(),
            created_at_ms: 1,
            outputs: None,
        })
        .await
        .unwrap();
    let mut appends = tokio::task::JoinSet::new();
    for n in 0..10 {
        let workflows = Arc::clone(&workflows);
        appends.spawn(async move { workflows.append_event(77, json!({"n": n})).await.unwrap() });
    }
    let mut numbers = appends.join_all().await;
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=10).collect::<Vec<i64>>());
    assert_eq!(workflows.events_after(77, 8, 100).await.unwrap().len(), 2);
    workflows.set_outputs(77, json!({"done": 1})).await.unwrap();
    assert_eq!(
        workflows.run(77).await.unwrap().and_then(|r| r.outputs),
        Some(json!({"done": 1}))
    );

    // A deleted tenant takes its keys, links and sessions; its runs go on request.
    assert!(service.delete_tenant("t".into()).await.unwrap());
    assert_eq!(service.key_owner([3; 32]).await.unwrap(), None);
    assert!(service.page_link([1; 32]).await.unwrap().is_none());
    assert!(service.page_session([201; 32]).await.unwrap().is_none());
    assert_eq!(workflows.delete_runs_of("t".into()).await.unwrap(), 1);
    assert!(workflows.events_after(77, 0, 100).await.unwrap().is_empty());
    assert!(service.tenants().await.unwrap().is_empty());
}

#[test]
fn the_sqlite_service_stores_keep_the_rules() {
    let dir = temp_dir("service-store-rules");
    let file = dir.join("service.db");
    let stores = Stores {
        service: Arc::new(SqliteServiceStore::open(&file).unwrap()),
        workflows: Arc::new(SqliteWorkflowStore::open(&file).unwrap()),
        schedules: Arc::new(SqliteScheduleStore::open(&file).unwrap()),
    };
    wait(the_rules_of_the_service_stores(stores));
}

#[test]
fn the_postgres_service_stores_keep_the_same_rules() {
    let db = Database::create();
    wait(async {
        let key = SecretKey::parse(&SecretString::from(SECRET_KEY)).unwrap();
        let store = Arc::new(PostgresStore::connect(&db.url, key).await.unwrap());
        let pg = Arc::new(PgServiceStore::new(store));
        let stores = Stores {
            service: Arc::clone(&pg) as Arc<dyn ServiceStore>,
            workflows: Arc::clone(&pg) as Arc<dyn WorkflowStore>,
            schedules: pg,
        };
        the_rules_of_the_service_stores(stores).await;
    });
    // The schedule outlives its tenant until deleted (as on SQLite); its inputs stay sealed.
    let sealed = db.query("SELECT inputs_sealed FROM service_schedules");
    assert_eq!(sealed.len(), 1);
    assert!(sealed[0].starts_with("pbs1:") && !sealed[0].contains("secret-ish"));
}
