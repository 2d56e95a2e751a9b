//! `cargo xtask test` through the real binary, with a stand-in for cargo (`CARGO` names the
//! program xtask runs): the tests get a PostgreSQL they can reach, their exit status is xtask's,
//! a Ctrl-C or SIGTERM reaches them, and the server is gone afterwards whatever happened.

use std::io::Read;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Records its arguments, the URL it was given and its pid, then does what `FAKE_CARGO_MODE`
/// says: `check` the server answers, just `record`, `fail` with status 3, or `hang` until
/// signalled.
const FAKE_CARGO: &str = r#"#!/bin/sh
out="$FAKE_CARGO_OUT"
printf '%s\n' "$@" > "$out/args"
printf '%s' "${PLUGBOARD_TEST_POSTGRES_URL-}" > "$out/url"
echo $$ > "$out/pid"
case "$FAKE_CARGO_MODE" in
  check)
    "$PG_BIN/pg_isready" -q -d "$PLUGBOARD_TEST_POSTGRES_URL" -t 5
    echo $? > "$out/ready"
    ;;
  record) ;;
  fail) exit 3 ;;
  hang) touch "$out/started"; exec sleep 60 ;;
esac
"#;

struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let script = dir.path().join("cargo");
        std::fs::write(&script, FAKE_CARGO).expect("writes the fake cargo");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("makes it executable");
        Self { dir }
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// `xtask test <args>` with this fake as cargo.
    fn xtask(&self, mode: &str, args: &[&str]) -> Child {
        let bin = xtask::services::postgres::find_or_install().expect("PostgreSQL programs");
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .arg("test")
            .args(args)
            .env("CARGO", self.dir.path().join("cargo"))
            .env("FAKE_CARGO_OUT", self.dir.path())
            .env("FAKE_CARGO_MODE", mode)
            .env("PG_BIN", bin)
            // The `cargo xtask test` running this test set it; this one must start its own.
            .env_remove(xtask::services::postgres::URL_VAR)
            // The rest is given, never inherited, so the test behaves the same under a bare
            // `cargo test`: the fake cargo builds no binary and runs no test that would use
            // them, and a Temporal dev server given by address is not started.
            .env(
                xtask::test_command::POSTGRES_BINARY_VAR,
                "/nonexistent/plugboard",
            )
            .env(
                xtask::test_command::TEMPORAL_BINARY_VAR,
                "/nonexistent/plugboard",
            )
            .env(xtask::services::temporal::ADDRESS_VAR, "127.0.0.1:9")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs xtask")
    }
}

/// Waits for `child` (at most `limit`) and returns its exit code and stderr.
fn finish(mut child: Child, limit: Duration) -> (Option<i32>, String) {
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().expect("kills a hung xtask");
            panic!("xtask test did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr).expect("reads stderr");
    }
    (status.code(), stderr)
}

/// The port and folder xtask reported for the server it started.
fn reported_server(stderr: &str) -> (u16, PathBuf) {
    let line = stderr
        .lines()
        .find(|line| line.starts_with("postgres: PostgreSQL"))
        .unwrap_or_else(|| panic!("no start line in:\n{stderr}"));
    let port = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line}"));
    let dir = line
        .split("(data in ")
        .nth(1)
        .and_then(|rest| rest.split([',', ')']).next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no folder in {line}"));
    (port, dir)
}

fn assert_gone(port: u16, dir: &Path, stderr: &str) {
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the server still listens on {port}:\n{stderr}"
    );
    assert!(!dir.exists(), "{} was left behind", dir.display());
    assert!(stderr.contains("postgres: stopped"), "{stderr}");
}

#[test]
fn the_tests_get_a_reachable_server_that_is_gone_afterwards() {
    let fake = Fake::new();
    let (code, stderr) = finish(
        fake.xtask("check", &["--", "--test-threads", "1"]),
        Duration::from_secs(120),
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        fake.read("args").lines().collect::<Vec<_>>(),
        ["test", "--workspace", "--", "--test-threads", "1"]
    );
    let (port, dir) = reported_server(&stderr);
    assert_eq!(
        fake.read("url"),
        format!("postgres://plugboard@127.0.0.1:{port}/plugboard")
    );
    assert_eq!(fake.read("ready").trim(), "0", "the server did not answer");
    assert_gone(port, &dir, &stderr);
}

#[test]
fn failing_tests_fail_xtask_with_their_status_and_the_server_still_stops() {
    let fake = Fake::new();
    let (code, stderr) = finish(
        fake.xtask("fail", &["-p", "plugboard-store-postgres"]),
        Duration::from_secs(120),
    );
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(
        fake.read("args").lines().collect::<Vec<_>>(),
        ["test", "-p", "plugboard-store-postgres"]
    );
    let (port, dir) = reported_server(&stderr);
    assert_gone(port, &dir, &stderr);
}

#[test]
fn a_signal_reaches_the_tests_and_the_server_is_stopped() {
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let fake = Fake::new();
        let child = fake.xtask("hang", &[]);
        let deadline = Instant::now() + Duration::from_secs(120);
        while !fake.dir.path().join("started").exists() {
            assert!(Instant::now() < deadline, "the fake tests never started");
            std::thread::sleep(Duration::from_millis(50));
        }
        let sent = Command::new("kill")
            .args(["-s", signal, &child.id().to_string()])
            .status()
            .expect("runs kill");
        assert!(sent.success());
        // The fake sleeps 60 s unless the signal reaches it.
        let started = Instant::now();
        let (exit, stderr) = finish(child, Duration::from_secs(40));
        assert!(started.elapsed() < Duration::from_secs(30), "{stderr}");
        assert_eq!(exit, Some(code), "SIG{signal}: {stderr}");
        let (port, dir) = reported_server(&stderr);
        assert_gone(port, &dir, &stderr);
        let pid = fake.read("pid");
        assert!(
            !Path::new(&format!("/proc/{}", pid.trim())).exists(),
            "the tests ({pid}) outlived SIG{signal}"
        );
    }
}

#[test]
fn tests_that_need_no_service_get_none() {
    let fake = Fake::new();
    let (code, stderr) = finish(
        fake.xtask("record", &["-p", "plugboard-core", "--", "--exact", "x"]),
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        fake.read("args").lines().collect::<Vec<_>>(),
        ["test", "-p", "plugboard-core", "--", "--exact", "x"]
    );
    assert_eq!(fake.read("url"), "", "{stderr}");
    assert!(!stderr.contains("postgres:"), "{stderr}");
}
