//! `plugboard --state postgres://…` through the real binary (built with the `postgres` feature by
//! `cargo xtask test`, which also starts the throwaway server): `partner set`, `connect` and a
//! workflow run against the Constant Contact sandbox give what they give on SQLite, the tokens
//! in the tables are ciphertext, and a wrong key, a newer schema or an unreachable server is a
//! clear error with nothing written.
//!
//! Without `PLUGBOARD_TEST_POSTGRES_URL` these tests fail (never skip): run them with
//! `cargo xtask test -p plugboard-tests -- postgres`.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use constant_contact_sandbox::Sandbox;
use plugboard_store_postgres::{PostgresStore, SCHEMA_VERSION, SecretKey};
use plugboard_tests::e2e::{browse, example, fixture, sandbox_config, start_sandbox};
use plugboard_tests::postgres::{Database, postgres_binary};
use plugboard_tests::{plugboard_binary, temp_dir, wait, workspace_root};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

const KEY_A: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
const KEY_B: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const TIMEOUT: Duration = Duration::from_secs(90);
const CONNECTION: &str = "constant-contact";

/// How many rows each table the store writes holds.
fn counts(db: &Database) -> Vec<String> {
    db.query(
        "SELECT concat_ws(' ', (SELECT count(*) FROM partner_settings),
                (SELECT count(*) FROM connections), (SELECT count(*) FROM tokens),
                (SELECT count(*) FROM runs), (SELECT count(*) FROM secret_keys),
                (SELECT count(*) FROM journal_entries))",
    )
}

/// What one `plugboard` process printed.
#[derive(Debug)]
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The `outputs` of the `run_finished` line of a `--json` run.
    fn run_outputs(&self) -> Value {
        assert!(self.success(), "the run failed:\n{self:#?}");
        let last: Value = self
            .stdout
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str::<Value>(line).ok())
            .unwrap_or_else(|| panic!("no JSON line:\n{self:#?}"));
        assert_eq!(last["event"], "run_finished", "{self:#?}");
        last["outputs"].clone()
    }
}

/// `plugboard args… --state state` with `key` as PLUGBOARD_SECRET_KEY, bounded in time; `on_line`
/// sees each stderr line as it comes (to play the browser for `connect`).
fn plugboard_with(
    binary: &Path,
    state: &str,
    key: Option<&str>,
    args: &[&str],
    mut on_line: impl FnMut(&str),
) -> Output {
    let mut command = Command::new(binary);
    command
        .current_dir(workspace_root())
        .args(args)
        .args(["--state", state])
        .env_remove("PLUGBOARD_STATE")
        .env_remove("PLUGBOARD_SECRET_KEY")
        .env_remove("PLUGBOARD_PLUGIN_PATH")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(key) = key {
        command.env("PLUGBOARD_SECRET_KEY", key);
    }
    let mut child = command.spawn().expect("plugboard starts");
    let mut stdout = child.stdout.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let (lines, seen) = mpsc::channel::<String>();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let err_reader = std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let deadline = Instant::now() + TIMEOUT;
    let mut stderr_text = String::new();
    loop {
        match seen.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                on_line(&line);
                stderr_text.push_str(&line);
                stderr_text.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("plugboard {args:?} ran past {TIMEOUT:?}:\n{stderr_text}");
        }
    }
    let status = child.wait().unwrap();
    let _ = err_reader.join();
    Output {
        code: status.code(),
        stdout: out_reader.join().unwrap(),
        stderr: stderr_text,
    }
}

fn plugboard(binary: &Path, state: &str, key: Option<&str>, args: &[&str]) -> Output {
    plugboard_with(binary, state, key, args, |_| {})
}

/// `partner set` and `connect` (playing the browser) against `sandbox`.
fn install(binary: &Path, state: &str, key: Option<&str>, sandbox: &Sandbox) {
    let client_id = format!("client_id={}", sandbox.client_id());
    let client_secret = format!("client_secret={}", sandbox.client_secret());
    let set = plugboard(
        binary,
        state,
        key,
        &[
            "partner",
            "set",
            "constant-contact",
            &client_id,
            &client_secret,
            "redirect_uri=http://127.0.0.1:0/plugboard/callback",
        ],
    );
    assert!(set.success(), "partner set:\n{set:#?}");
    let (base, authorize, token) = (
        sandbox.api_base_url(),
        sandbox.authorize_url(),
        sandbox.token_url(),
    );
    let mut browsed = false;
    let connected = plugboard_with(
        binary,
        state,
        key,
        &[
            "connect",
            "constant-contact",
            "--name",
            CONNECTION,
            "--base-url",
            &base,
            "--authorize-url",
            &authorize,
            "--token-url",
            &token,
            "--timeout",
            "30",
        ],
        |line| {
            if let Some(url) = line
                .split_whitespace()
                .find(|word| word.starts_with(&authorize))
                .filter(|_| !browsed)
            {
                browsed = true;
                let url = url.to_owned();
                // The callback server answers on the process's own threads: browse from another.
                std::thread::spawn(move || browse(&url).expect("the browser step"));
            }
        },
    );
    assert!(connected.success(), "connect:\n{connected:#?}");
}

/// [`install`], then `run examples/quickstart.json` against `sandbox`; returns the run's outputs.
fn connect_and_run(
    binary: &Path,
    state: &str,
    key: Option<&str>,
    sandbox: &Sandbox,
    dir: &Path,
) -> Value {
    install(binary, state, key, sandbox);
    let members = dir.join(format!("members-{:x}.jsonl", fastrand::u64(..)));
    let members_input = format!("members_file={}", members.display());
    let run = plugboard(
        binary,
        state,
        key,
        &[
            "run",
            &example("quickstart.json").to_string_lossy(),
            "--no-rate-limits",
            "--json",
            "--input",
            &members_input,
        ],
    );
    run.run_outputs()
}

/// `outputs` with the sandbox's generated ids replaced by their role, so runs against two
/// sandboxes compare.
fn without_ids(outputs: &Value) -> String {
    let mut text = outputs.to_string();
    for (field, role) in [("list_id", "<list>"), ("contact_id", "<contact>")] {
        if let Some(id) = outputs[field].as_str() {
            text = text.replace(id, role);
        }
    }
    text
}

#[test]
fn postgres_state_connects_and_runs_like_sqlite_and_stores_tokens_sealed() {
    let binary = postgres_binary();
    let db = Database::create();
    let dir = temp_dir("postgres-cli-run");

    let on_postgres = start_sandbox(sandbox_config());
    let outputs = connect_and_run(&binary, &db.url, Some(KEY_A), &on_postgres, &dir);

    let on_sqlite = start_sandbox(sandbox_config());
    let file = dir.join("state.db");
    let expected = connect_and_run(
        &plugboard_binary(),
        &file.to_string_lossy(),
        None,
        &on_sqlite,
        &dir,
    );
    assert_eq!(without_ids(&outputs), without_ids(&expected));

    // The run is in the database's journal.
    let runs = plugboard(&binary, &db.url, Some(KEY_A), &["runs", "--json"]);
    assert!(runs.success(), "{runs:#?}");
    assert!(runs.stdout.contains("completed"), "{runs:#?}");
    assert_eq!(db.query("SELECT status FROM runs"), ["completed"]);

    // The token columns are ciphertext: neither token, nor the client secret, is in any column.
    let (access, refresh) = wait(async {
        let key = SecretKey::parse(&SecretString::from(KEY_A.to_owned())).unwrap();
        let store = PostgresStore::connect(&db.url, key).await.unwrap();
        let (tokens, _) = store.tokens("default", CONNECTION).await.unwrap().unwrap();
        (
            tokens.access_token.expose_secret().to_owned(),
            tokens.refresh_token.unwrap().expose_secret().to_owned(),
        )
    });
    let sealed = db.query("SELECT access_token_sealed || ' ' || refresh_token_sealed FROM tokens");
    assert_eq!(sealed.len(), 1);
    assert!(sealed[0].starts_with("pbs1:"), "{sealed:?}");
    let dump = db.query(
        "SELECT string_agg(t::text, E'\\n') FROM (
             SELECT p::text AS t FROM partner_settings p UNION ALL
             SELECT c::text FROM connections c UNION ALL
             SELECT k::text FROM tokens k) rows",
    );
    for secret in [
        access.as_str(),
        refresh.as_str(),
        on_postgres.client_secret(),
    ] {
        assert!(!secret.is_empty());
        assert!(
            !dump[0].contains(secret),
            "a secret is readable in the tables"
        );
    }
}

#[test]
fn a_wrong_key_a_newer_schema_and_an_unreachable_server_are_refused_with_nothing_written() {
    let binary = postgres_binary();
    let db = Database::create();
    let set = |key: Option<&str>, state: &str| {
        plugboard(
            &binary,
            state,
            key,
            &[
                "partner",
                "set",
                "constant-contact",
                "client_id=x",
                "client_secret=SEKRIT-1",
            ],
        )
    };
    assert!(set(Some(KEY_A), &db.url).success());
    let before = counts(&db);
    let label = {
        let authority = db
            .url
            .split_once("://")
            .unwrap()
            .1
            .split('/')
            .next()
            .unwrap();
        format!("{}/{}", authority.rsplit('@').next().unwrap(), db.name)
    };

    // Another key.
    let refused = set(Some(KEY_B), &db.url);
    assert!(!refused.success(), "{refused:#?}");
    assert!(
        refused
            .stderr
            .contains("PLUGBOARD_SECRET_KEY does not decrypt"),
        "{refused:#?}"
    );
    assert!(
        refused.stderr.contains(&label),
        "names {label}: {refused:#?}"
    );
    assert!(!refused.stderr.contains(KEY_B) && !refused.stderr.contains(KEY_A));
    assert_eq!(counts(&db), before, "nothing was written");

    // No key at all.
    let missing = set(None, &db.url);
    assert!(!missing.success(), "{missing:#?}");
    assert!(
        missing.stderr.contains("PLUGBOARD_SECRET_KEY is not set"),
        "{missing:#?}"
    );
    assert_eq!(counts(&db), before, "nothing was written");

    // A database a newer plugboard migrated.
    db.query(&format!(
        "INSERT INTO plugboard_schema_migrations (version, name, sha256)
         VALUES ({}, 'future', '') RETURNING name",
        SCHEMA_VERSION + 1
    ));
    let newer = set(Some(KEY_A), &db.url);
    assert!(!newer.success(), "{newer:#?}");
    assert!(newer.stderr.contains("newer plugboard"), "{newer:#?}");
    assert!(newer.stderr.contains(&label), "names {label}: {newer:#?}");
    assert_eq!(counts(&db), before, "nothing was written");

    // A closed port on 127.0.0.1, with a password in the URL that must not be repeated.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let closed = format!("postgres://plugboard:PASSWORD-9d1f@127.0.0.1:{port}/nowhere");
    let unreachable = set(Some(KEY_A), &closed);
    assert!(!unreachable.success(), "{unreachable:#?}");
    assert!(
        unreachable
            .stderr
            .contains(&format!("127.0.0.1:{port}/nowhere")),
        "{unreachable:#?}"
    );
    assert!(
        !unreachable.stderr.contains("PASSWORD-9d1f"),
        "{unreachable:#?}"
    );
    for output in [&refused, &missing, &newer, &unreachable] {
        assert!(!output.stderr.contains("panicked"), "{output:#?}");
        assert!(output.stderr.len() < 2_000, "a short message: {output:#?}");
    }
}

#[test]
fn a_sandbox_run_never_uses_the_postgres_state() {
    let db = Database::create();
    let refused = plugboard(
        &postgres_binary(),
        &db.url,
        Some(KEY_A),
        &[
            "run",
            &example("quickstart.json").to_string_lossy(),
            "--sandbox",
        ],
    );
    assert!(!refused.success(), "{refused:#?}");
    assert!(
        refused
            .stderr
            .contains("--sandbox run keeps its state in a file"),
        "{refused:#?}"
    );
    assert_eq!(
        db.query("SELECT count(*)::text FROM pg_tables WHERE tablename = 'runs'"),
        ["0"]
    );
}

#[test]
fn two_processes_on_one_database_share_the_real_limit_and_one_refresh() {
    // Constant Contact's real limits, enforced by the sandbox; the runner's limiter is on.
    let mut config = sandbox_config();
    config.per_second_limit = Some(4);
    config.token_endpoint_per_second = Some(1);
    let sandbox = start_sandbox(config);
    let db = Database::create();
    let binary = postgres_binary();
    install(&binary, &db.url, Some(KEY_A), &sandbox);
    // Both processes start with an access token the server has forgotten: each gets a 401, and
    // exactly one of them may spend the rotating refresh token.
    sandbox.expire_all_tokens();
    let before = sandbox.stats();
    let reads = fixture("suite-storm-reads.json")
        .to_string_lossy()
        .into_owned();
    let args = ["run", reads.as_str(), "--json"];
    let started = Instant::now();
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| plugboard(&binary, &db.url, Some(KEY_A), &args));
        let b = scope.spawn(|| plugboard(&binary, &db.url, Some(KEY_A), &args));
        (a.join().unwrap(), b.join().unwrap())
    });
    let took = started.elapsed();
    for output in [&a, &b] {
        assert_eq!(output.run_outputs()["reads"], 16, "{output:#?}");
    }
    let stats = sandbox.stats();
    println!("32 reads at 4/s by two processes on PostgreSQL in {took:?}: {stats:?}");
    assert_eq!(
        stats.throttled_429, 0,
        "no request above the limit: {stats:?}"
    );
    assert!(stats.peak_per_second <= 4, "{stats:?}");
    assert_eq!(stats.api_served - before.api_served, 32, "{stats:?}");
    assert_eq!(
        stats.refreshes - before.refreshes,
        1,
        "one refresher: {stats:?}"
    );
    assert_eq!(stats.invalid_grants, 0, "{stats:?}");
    assert!(
        took >= Duration::from_secs(6),
        "32 requests at 4/s: {took:?}"
    );
    assert_eq!(
        db.query("SELECT string_agg(status, ' ') FROM runs"),
        ["completed completed"]
    );
}
