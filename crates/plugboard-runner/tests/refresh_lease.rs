//! The refresh lease when its holder dies, through the executor: a holder provably dead on this
//! machine is taken over at once (by exactly one process), a live one is waited for (and the
//! wait is logged) until its lease lapses. The store's own lease rules are checked by the store
//! conformance suite (`store_conformance`).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::Write as _;
use std::process::{Child, Command};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{Fake, get, now_secs, quick_config, wait};
use plugboard_core::ConnectorError;
use plugboard_runner::store::{LeaseHolder, LeaseOutcome, local_host_id};
use plugboard_runner::{Clock, ExecutorConfig, ManualClock, SqliteStore, TokenStore};

const LEASE: Duration = Duration::from_secs(90);
const LEASE_MS: i64 = 90_000;

fn temp_store() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("state.db");
    (dir, path)
}

fn system_now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("fits")
}

/// The pid of a process that existed and is now gone (exited and reaped).
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("spawn `true`");
    let pid = child.id();
    child.wait().expect("reap `true`");
    pid
}

/// A live process, killed and reaped when dropped (also when the test panics).
struct Sleeper(Child);

impl Sleeper {
    fn start() -> Self {
        Self(
            Command::new("sleep")
                .arg("30")
                .spawn()
                .expect("spawn `sleep 30`"),
        )
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A holder on this machine with process `pid`.
fn local_holder(id: &str, pid: u32) -> LeaseHolder {
    LeaseHolder {
        id: id.to_owned(),
        pid,
        host: local_host_id().to_owned(),
    }
}

/// Every log line of this test binary (all tests share one global subscriber; each test looks
/// only for its own connection's name).
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    let logs = LOGS.get_or_init(|| Mutex::new(Vec::new()));
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(|| Capture)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
    });
    logs
}

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        logs()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_lines_with(needle: &str) -> Vec<String> {
    let text =
        String::from_utf8_lossy(&logs().lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    text.lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

fn config(refresh_wait: Duration) -> ExecutorConfig {
    ExecutorConfig {
        refresh_lease: LEASE,
        refresh_wait,
        ..quick_config()
    }
}

// ----- the executor -----

#[test]
fn a_refresh_left_by_a_dead_process_does_not_wait_for_its_lease() {
    logs();
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    let store = Arc::new(fake.seed(&path, "dead-holder", Some(now_secs() - 10)));
    let pid = dead_pid();
    // The holder took the lease a second ago and died: 89 s of it remain.
    assert!(matches!(
        wait(store.acquire_refresh_lease(
            "dead-holder",
            &local_holder("dead", pid),
            system_now_ms() - 1_000,
            LEASE_MS
        ))
        .unwrap(),
        LeaseOutcome::Acquired { .. }
    ));
    // Without the takeover this would time out after 10 s.
    let session = fake.session(store.clone(), config(Duration::from_secs(10)));
    let started = Instant::now();
    let output = get(&session, "dead-holder", "/contacts").unwrap();
    let took = started.elapsed();
    assert_eq!(output["status"], 200, "{output}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(fake.state.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(
        wait(store.tokens("dead-holder")).unwrap().unwrap().version,
        2
    );
    let lines = log_lines_with("connection `dead-holder`");
    assert!(
        lines.iter().any(|l| l.contains(&format!(
            "took over the refresh lease of connection `dead-holder` from pid {pid}"
        ))),
        "{lines:#?}"
    );
    eprintln!("takeover refresh took {took:?}");
}

#[test]
fn a_live_holders_lease_is_waited_for_out_loud_until_it_lapses() {
    logs();
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    let store = Arc::new(fake.seed(&path, "live-holder", Some(now_secs() - 10)));
    let sleeper = Sleeper::start();
    let pid = sleeper.0.id();
    let clock = ManualClock::new(system_now_ms());
    wait(store.acquire_refresh_lease(
        "live-holder",
        &local_holder("live", pid),
        clock.now_ms(),
        LEASE_MS,
    ))
    .unwrap();
    let session = fake.session(
        store.clone(),
        ExecutorConfig {
            clock: Arc::new(clock.clone()),
            ..config(Duration::from_millis(2_600))
        },
    );
    let started = Instant::now();
    let error = get(&session, "live-holder", "/contacts").unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(error, ConnectorError::Timeout), "{error}");
    assert!(waited >= Duration::from_millis(2_600), "{waited:?}");
    assert_eq!(fake.state.refreshes.load(Ordering::SeqCst), 0);
    let lines = log_lines_with("connection `live-holder`");
    let waiting = format!(
        "waiting for another process's refresh of connection `live-holder` (held by pid {pid})"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&waiting) && l.contains("INFO")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("gave up waiting")),
        "{lines:#?}"
    );

    // The holder is still alive, but its lease lapsed: the lapse is the fallback.
    clock.advance(LEASE_MS);
    let started = Instant::now();
    let output = get(&session, "live-holder", "/contacts").unwrap();
    assert_eq!(output["status"], 200, "{output}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(fake.state.refreshes.load(Ordering::SeqCst), 1);
    drop(sleeper);
}

#[test]
fn two_processes_racing_for_a_dead_holders_lease_refresh_once() {
    logs();
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    fake.seed(&path, "race", Some(now_secs() - 10));
    *fake.state.refresh_delay.lock().unwrap() = Duration::from_millis(300);
    *fake.state.check_store.lock().unwrap() = Some((path.clone(), "race".to_owned()));
    wait(SqliteStore::open(&path).unwrap().acquire_refresh_lease(
        "race",
        &local_holder("dead", dead_pid()),
        system_now_ms(),
        LEASE_MS,
    ))
    .unwrap();
    // Two stores and two sessions: two executors with nothing shared but the file.
    let a = fake.session(
        Arc::new(SqliteStore::open(&path).unwrap()),
        config(Duration::from_secs(10)),
    );
    let b = fake.session(
        Arc::new(SqliteStore::open(&path).unwrap()),
        config(Duration::from_secs(10)),
    );
    let started = Instant::now();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let session = if i % 2 == 0 { &a } else { &b };
                scope.spawn(move || get(session, "race", "/contacts"))
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap().unwrap()["status"], 200);
        }
    });
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(fake.state.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(fake.state.token_requests.lock().unwrap().len(), 1);
    assert_eq!(fake.state.invalid_grants.load(Ordering::SeqCst), 0);
    assert_eq!(fake.state.not_stored.load(Ordering::SeqCst), 0);
    assert_eq!(
        log_lines_with("took over the refresh lease of connection `race`").len(),
        1
    );
}

// ----- a real process killed mid-refresh -----

/// Set in the child process: the state file to refresh from.
const CHILD_ENV: &str = "PLUGBOARD_TEST_LEASE_HOLDER_STATE";

/// Run only as the child of `a_holder_sigkilled_mid_refresh_is_taken_over_at_once`: starts a
/// refresh against the parent's fake server (which stalls it) and is killed there.
#[test]
#[ignore = "helper process of a_holder_sigkilled_mid_refresh_is_taken_over_at_once"]
fn lease_holder_child() {
    let path = std::env::var_os(CHILD_ENV).expect("run by the parent test");
    let fake = Fake::start(); // only for its runtime and connector: the endpoints are stored
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let session = fake.session(store, config(Duration::from_secs(60)));
    let _ = get(&session, "killed", "/contacts");
    panic!("the refresh should have stalled until this process was killed");
}

#[test]
fn a_holder_sigkilled_mid_refresh_is_taken_over_at_once() {
    logs();
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    let store = Arc::new(fake.seed(&path, "killed", Some(now_secs() - 10)));
    *fake.state.refresh_delay.lock().unwrap() = Duration::from_secs(60);
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", "lease_holder_child", "--ignored", "--nocapture"])
        .env(CHILD_ENV, &path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the child");
    let child_pid = child.id();
    // Wait (bounded) until the child holds the lease and its token request reached the server.
    let deadline = Instant::now() + Duration::from_secs(20);
    let conn = rusqlite::Connection::open(&path).unwrap();
    loop {
        let asked = !fake.state.token_requests.lock().unwrap().is_empty();
        let holder_pid: Option<i64> = conn
            .query_row(
                "SELECT lease_pid FROM tokens WHERE connection = 'killed'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        if asked && holder_pid.is_some() {
            assert_eq!(holder_pid, Some(i64::from(child_pid)));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the child never took the lease and asked the token endpoint"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child exited early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(conn);
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    // The child's token request is still stalled in the server; ours is answered at once.
    *fake.state.refresh_delay.lock().unwrap() = Duration::ZERO;

    let session = fake.session(store.clone(), config(Duration::from_secs(10)));
    let started = Instant::now();
    let output = get(&session, "killed", "/contacts").unwrap();
    let took = started.elapsed();
    assert_eq!(output["status"], 200, "{output}");
    // One window of the token endpoint's 1/s limit (the child's request counts until it died),
    // where the lease alone would have held us for 90 s and the in-flight request for 61 s.
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(fake.state.refreshes.load(Ordering::SeqCst), 1);
    assert!(
        log_lines_with(&format!(
            "took over the refresh lease of connection `killed` from pid {child_pid}"
        ))
        .len()
            == 1
    );
    let _ = std::io::stderr().flush();
    eprintln!("refresh after the holder was killed took {took:?}");
}

/// A holder whose lease lapses while the token endpoint makes it wait (a 429 with `Retry-After`)
/// must not send the refresh token afterwards: another process took the lease over and spent it.
#[test]
fn a_lease_that_lapses_during_a_throttled_refresh_is_not_acted_on() {
    logs();
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    fake.seed(&path, "slow", Some(now_secs() - 10));
    // The first refresh is throttled for 3 s; a lease lasts 1 s, and 1 s more (the request
    // timeout) when renewed right before a send.
    fake.state.script(
        "/oauth/token",
        vec![(429, serde_json::json!({}), Some("3"))],
    );
    let short_lease = ExecutorConfig {
        refresh_lease: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
        refresh_wait: Duration::from_secs(20),
        ..quick_config()
    };
    // Two "processes": separate stores on one file, separate executors (and lease holders).
    let first = fake.session(
        Arc::new(SqliteStore::open(&path).unwrap()),
        short_lease.clone(),
    );
    let second = fake.session(Arc::new(SqliteStore::open(&path).unwrap()), short_lease);
    let throttled = std::thread::spawn(move || get(&first, "slow", "/contacts"));
    // Well after the first lease lapsed, well before the throttle ends.
    std::thread::sleep(Duration::from_millis(1_500));
    let meanwhile = get(&second, "slow", "/contacts").unwrap();
    assert_eq!(meanwhile["status"], 200, "{meanwhile}");
    let late = throttled.join().expect("no panic").unwrap();
    assert_eq!(late["status"], 200, "{late}");
    assert_eq!(
        fake.state.invalid_grants.load(Ordering::SeqCst),
        0,
        "the spent refresh token was sent again"
    );
    assert_eq!(fake.state.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(fake.state.token_requests.lock().unwrap().len(), 2);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(wait(store.tokens("slow")).unwrap().unwrap().version, 2);
    assert!(
        !log_lines_with("lapsed before its refresh token was sent").is_empty(),
        "the skipped send is logged: {:#?}",
        log_lines_with("`slow`")
    );
}

/// A request waiting for another process's refresh holds no slot of the API's budget: other
/// connections of the same client_id go on meanwhile.
#[test]
fn a_request_waiting_for_a_refresh_holds_no_rate_limit_slot() {
    logs();
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    fake.seed(&path, "other", Some(now_secs() + 3_600));
    let store = Arc::new(fake.seed(&path, "waiting", Some(now_secs() - 10)));
    let sleeper = Sleeper::start();
    wait(store.acquire_refresh_lease(
        "waiting",
        &local_holder("live", sleeper.0.id()),
        system_now_ms(),
        LEASE_MS,
    ))
    .unwrap();
    // One request per second for the whole client_id.
    let limits = serde_json::json!([{"limit": 1, "window": "second",
        "scope": {"per": "setting", "field": "client_id"}, "reset": "rolling"}]);
    let session = fake.session_with(store, config(Duration::from_millis(2_000)), limits);
    let waiting = {
        let session = session.clone();
        std::thread::spawn(move || get(&session, "waiting", "/contacts"))
    };
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let output = get(&session, "other", "/contacts").unwrap();
    let took = started.elapsed();
    assert_eq!(output["status"], 200, "{output}");
    let error = waiting.join().expect("no panic").unwrap_err();
    assert!(matches!(error, ConnectorError::Timeout), "{error}");
    assert!(
        took < Duration::from_millis(1_000),
        "`other` waited {took:?} behind a refresh wait"
    );
    drop(sleeper);
}
