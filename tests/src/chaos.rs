//! Fault injection for the reliability suite: seeded kill points, state-file integrity checks and
//! secret sweeps over everything a run left behind.
//!
//! Everything random comes from one seeded generator per test ([`rng`]): the seed is printed, and
//! `PLUGBOARD_CHAOS_SEED=<seed>` replays a failure with the same choices. The state file is read
//! with `rusqlite` directly, not through `SqliteStore`, so a corruption or a leak cannot hide
//! behind the store's own code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, OptionalExtension as _};
use serde_json::Value;

use crate::e2e::{Output, Running};

/// The environment variable that fixes the seed of every chaos test (to replay a failure).
pub const SEED_ENV: &str = "PLUGBOARD_CHAOS_SEED";

/// How often kill conditions are polled: often enough to land inside a refresh or a journal write.
const POLL: Duration = Duration::from_millis(1);

/// The seed for `test`: `PLUGBOARD_CHAOS_SEED` when set, else one drawn from the clock. Printed
/// either way (the harness shows it when the test fails), so any failure can be replayed.
pub fn seed(test: &str) -> u64 {
    let seed = match std::env::var(SEED_ENV) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{SEED_ENV}={value} is not a u64")),
        Err(_) => {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            // The low 64 bits of the clock, mixed with the pid: any of them make a seed.
            let low = u64::try_from(nanos & u128::from(u64::MAX)).unwrap_or_default();
            low ^ u64::from(std::process::id()).rotate_left(32)
        }
    };
    println!("chaos seed for {test}: {seed} (replay with {SEED_ENV}={seed})");
    seed
}

/// A generator seeded by [`seed`]: the only source of randomness of a chaos test.
pub fn rng(test: &str) -> fastrand::Rng {
    fastrand::Rng::with_seed(seed(test))
}

/// How a [`kill_when`] ended.
#[derive(Debug)]
pub struct Killed {
    /// What the process printed (checked for secrets by its workspace).
    pub output: Output,
    /// Whether the condition held and the process got SIGKILL (`false`: it exited by itself
    /// first, or the timeout passed and it was killed anyway).
    pub at_condition: bool,
    /// How long after the call the kill (or the exit) happened.
    pub after: Duration,
}

/// Polls `condition` (every millisecond) while the process runs and sends SIGKILL the moment it
/// holds: a kill at a chosen point (a sandbox counter, a journal row count, a held lease). A
/// process that exits first is collected as it is; after `timeout` it is killed regardless.
pub fn kill_when(
    mut running: Running<'_>,
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
) -> Killed {
    let started = Instant::now();
    loop {
        if condition() {
            let output = running.kill();
            return Killed {
                output,
                at_condition: true,
                after: started.elapsed(),
            };
        }
        if !running.is_running() {
            return Killed {
                output: running.wait(),
                at_condition: false,
                after: started.elapsed(),
            };
        }
        if started.elapsed() >= timeout {
            return Killed {
                output: running.kill(),
                at_condition: false,
                after: started.elapsed(),
            };
        }
        std::thread::sleep(POLL);
    }
}

/// SIGKILLs the process `delay` after the call (or collects it if it exited before).
pub fn kill_after(running: Running<'_>, delay: Duration) -> Killed {
    let deadline = Instant::now() + delay;
    kill_when(running, delay + Duration::from_secs(1), move || {
        Instant::now() >= deadline
    })
}

/// Opens the state file with `rusqlite` (never creating it), waiting out a writer's lock.
pub fn open(path: &Path) -> Connection {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    connection
        .busy_timeout(Duration::from_secs(10))
        .expect("a busy timeout can be set");
    connection
}

/// `PRAGMA integrity_check` of the state file, opened directly (as the next process would: a
/// leftover `-wal` is recovered first). `"ok"` when the file is sound.
pub fn integrity_check(path: &Path) -> String {
    let connection = open(path);
    let mut statement = connection
        .prepare("PRAGMA integrity_check")
        .expect("integrity_check prepares");
    let rows: Vec<String> = statement
        .query_map([], |row| row.get::<_, String>(0))
        .expect("integrity_check runs")
        .collect::<Result<_, _>>()
        .expect("integrity_check rows read");
    rows.join("\n")
}

/// Fails the test unless [`integrity_check`] says `ok`.
pub fn assert_intact(path: &Path, context: &str) {
    let verdict = integrity_check(path);
    assert_eq!(verdict, "ok", "{context}: the state file is corrupt");
}

/// One row of the `runs` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    /// The run id (what `--resume` takes).
    pub id: i64,
    /// `running`, `completed`, `failed` or `cancelled` as the store writes them.
    pub status: String,
    /// The error of a failed run.
    pub error: Option<String>,
}

/// Every run of the state file, oldest first.
pub fn runs(path: &Path) -> Vec<RunRow> {
    let connection = open(path);
    let mut statement = connection
        .prepare("SELECT id, status, error FROM runs ORDER BY id")
        .expect("runs prepares");
    statement
        .query_map([], |row| {
            Ok(RunRow {
                id: row.get(0)?,
                status: row.get(1)?,
                error: row.get(2)?,
            })
        })
        .expect("runs are read")
        .collect::<Result<_, _>>()
        .expect("run rows read")
}

/// The newest run id, if any run was journaled (`None` also before the schema exists).
pub fn latest_run(path: &Path) -> Option<i64> {
    if !path.exists() {
        return None;
    }
    let connection = open(path);
    let table: Option<String> = connection
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'runs'",
            [],
            |row| row.get(0),
        )
        .optional()
        .expect("the schema is readable");
    table?;
    connection
        .query_row("SELECT MAX(id) FROM runs", [], |row| row.get(0))
        .expect("runs are readable")
}

/// The journal of one run: each key with its output, in the order they were written.
pub fn journal(path: &Path, run: i64) -> Vec<(String, Value)> {
    let connection = open(path);
    let mut statement = connection
        .prepare("SELECT key, output FROM run_steps WHERE run_id = ?1 ORDER BY seq")
        .expect("the journal query prepares");
    statement
        .query_map([run], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .expect("the journal is read")
        .map(|row| {
            let (key, output) = row.expect("a journal row reads");
            let output = serde_json::from_str(&output)
                .unwrap_or_else(|e| panic!("journal entry `{key}` is not JSON: {e}"));
            (key, output)
        })
        .collect()
}

/// The calls of one run journaled as sent (`#intent <key>` = true) and never answered (no
/// output under `<key>`, no later `false`), sorted.
pub fn pending_intents(path: &Path, run: i64) -> Vec<String> {
    let journal = journal(path, run);
    let mut pending: Vec<String> = Vec::new();
    for (key, value) in &journal {
        if let Some(call) = key.strip_prefix("#intent ") {
            pending.retain(|p| p != call);
            if *value == Value::Bool(true) {
                pending.push(call.to_owned());
            }
        }
    }
    pending.retain(|call| !journal.iter().any(|(key, _)| key == call));
    pending.sort();
    pending
}

/// The journaled keys of one run, in order.
pub fn journal_keys(path: &Path, run: i64) -> Vec<String> {
    journal(path, run).into_iter().map(|(key, _)| key).collect()
}

/// How many journal rows the state file holds over all runs (0 before the schema exists): a
/// cheap condition to kill on ("right after the n-th journal write").
pub fn journal_rows(path: &Path) -> i64 {
    if !path.exists() {
        return 0;
    }
    let Ok(connection) = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
    else {
        return 0;
    };
    let _ = connection.busy_timeout(Duration::from_millis(200));
    connection
        .query_row("SELECT COUNT(*) FROM run_steps", [], |row| row.get(0))
        .unwrap_or(0)
}

/// The refresh lease of a connection as the state file holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The holder's id (`None`: free).
    pub holder: Option<String>,
    /// When it lapses, in ms since the epoch.
    pub until_ms: Option<i64>,
    /// The token version.
    pub version: i64,
}

/// The refresh lease of `connection` (`None` when the connection has no tokens or the file no
/// schema yet).
pub fn lease(path: &Path, connection: &str) -> Option<Lease> {
    if !path.exists() {
        return None;
    }
    let db = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).ok()?;
    let _ = db.busy_timeout(Duration::from_millis(200));
    db.query_row(
        "SELECT lease_holder, lease_until, version FROM tokens WHERE connection = ?1",
        [connection],
        |row| {
            Ok(Lease {
                holder: row.get(0)?,
                until_ms: row.get(1)?,
                version: row.get(2)?,
            })
        },
    )
    .ok()
}

/// Where a secret was found; never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// The file (or `file#table.column` for a state file's table).
    pub place: String,
    /// The secret's length, to tell which one without printing it.
    pub secret_len: usize,
}

/// Secrets seen anywhere in this test process, for sweeps that run after the tests that saw them.
static SEEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Remembers secrets (client secrets, tokens) for [`seen_secrets`]; empty strings are ignored.
pub fn remember_secrets<I, S>(secrets: I)
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    for secret in secrets {
        let secret = secret.into();
        if !secret.is_empty() {
            seen.insert(secret);
        }
    }
}

/// Every secret remembered so far by any test of this process.
pub fn seen_secrets() -> Vec<String> {
    SEEN.lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect()
}

/// Every token value the state file holds now (access and refresh, every connection), read with
/// `rusqlite`: what a sweep must look for.
pub fn stored_tokens(path: &Path) -> Vec<String> {
    if !path.exists() {
        return Vec::new();
    }
    let connection = open(path);
    let mut statement = connection
        .prepare("SELECT access_token, refresh_token FROM tokens")
        .expect("the tokens query prepares");
    let rows: Vec<(String, Option<String>)> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("tokens are read")
        .collect::<Result<_, _>>()
        .expect("token rows read");
    rows.into_iter()
        .flat_map(|(access, refresh)| std::iter::once(access).chain(refresh))
        .collect()
}

/// Finds every occurrence of `secrets` in the text the state file keeps outside the token and
/// settings tables: the run journal (`runs`: workflow, inputs, error; `run_steps`: key, output)
/// and the trigger cursors. Those are the tables a run writes from what it saw.
pub fn sweep_journal(path: &Path, secrets: &[String]) -> Vec<Leak> {
    let connection = open(path);
    let mut leaks = Vec::new();
    for (table, columns) in [
        (
            "runs",
            "workflow || ' ' || inputs || ' ' || COALESCE(error, '')",
        ),
        ("run_steps", "key || ' ' || output"),
        ("cursors", "key || ' ' || value"),
    ] {
        let sql = format!("SELECT {columns} FROM {table}");
        let mut statement = connection
            .prepare(&sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let texts: Vec<String> = statement
            .query_map([], |row| row.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        for text in texts {
            for secret in secrets.iter().filter(|s| !s.is_empty()) {
                if text.contains(secret.as_str()) {
                    leaks.push(Leak {
                        place: format!("{}#{table}", path.display()),
                        secret_len: secret.len(),
                    });
                }
            }
        }
    }
    leaks
}

/// Every file under `roots` (recursively; `target` and `.git` directories skipped) that `keep`
/// accepts.
pub fn files_under(roots: &[&Path], keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending: Vec<PathBuf> = roots.iter().map(|r| r.to_path_buf()).collect();
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name == "target" || name == ".git" {
                continue;
            }
            if let Ok(entries) = std::fs::read_dir(&path) {
                pending.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
            }
        } else if meta.is_file() && keep(&path) {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// Finds every occurrence of `secrets` in the bytes of `files`.
pub fn sweep_files(files: &[PathBuf], secrets: &[String]) -> Vec<Leak> {
    let mut leaks = Vec::new();
    for file in files {
        let Ok(bytes) = std::fs::read(file) else {
            continue;
        };
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            let needle = secret.as_bytes();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                leaks.push(Leak {
                    place: file.display().to_string(),
                    secret_len: secret.len(),
                });
            }
        }
    }
    leaks
}

/// Keeps what a process printed as a log file in `dir`, so the final sweep covers it too.
pub fn save_output(dir: &Path, name: &str, output: &Output) {
    let text = format!(
        "exit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n",
        output.status, output.stdout, output.stderr
    );
    let path = dir.join(format!("{name}.log"));
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Polls `condition` every 5 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---- appended for the soak test (`tests/tests/soak.rs`); reusable by any chaos test ----

/// Sends signal `name` (`TERM`, `INT`, `HUP`, `KILL`...) to process `pid` (one this test
/// started) with `kill(1)`. Returns whether it was delivered (`false`: the process is gone).
pub fn send_signal(pid: u32, name: &str) -> bool {
    std::process::Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The run id a `plugboard run` printed: the `run` of its `run_finished` or `run_failed` line,
/// else its `run N: …` note (a JSON `note` event, or a plain line on stderr). `None` when it was
/// stopped before it said.
pub fn printed_run_id(output: &Output) -> Option<i64> {
    let events = output.events();
    let last = events
        .iter()
        .rev()
        .find(|event| event["event"] == "run_finished" || event["event"] == "run_failed");
    if let Some(id) = last.and_then(|event| event["run"].as_i64()) {
        return Some(id);
    }
    let from_note = |line: &str| -> Option<i64> {
        let rest = line.trim().strip_prefix("run ")?;
        let (id, _) = rest.split_once(':')?;
        id.trim().parse().ok()
    };
    events
        .iter()
        .filter(|event| event["event"] == "note")
        .filter_map(|event| event["message"].as_str())
        .chain(output.stderr.lines())
        .find_map(from_note)
}

/// The words of the `resume it with: …` hint a stopped or failed run printed (human mode), as
/// a POSIX shell splits them (the hint quotes with single quotes), without the leading
/// `plugboard` and without `--state FILE` (a [`crate::e2e::Workspace`] adds its own). `None`
/// when no hint was printed (e.g. `--json`, where `run_failed` carries `run` and `resumable`).
pub fn resume_hint(output: &Output) -> Option<Vec<String>> {
    let hint = output
        .stderr
        .lines()
        .find_map(|line| line.strip_prefix("resume it with: "))?;
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut started) = (false, false);
    for c in hint.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                started = true;
            }
            ' ' if !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                }
                started = false;
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    if words.first().map(String::as_str) != Some("plugboard") {
        return None;
    }
    let mut typed = words.into_iter().skip(1);
    let mut kept = Vec::new();
    while let Some(word) = typed.next() {
        if word == "--state" {
            typed.next();
        } else {
            kept.push(word);
        }
    }
    Some(kept)
}

/// The runs of the state file that were started with exactly `inputs`, oldest first: how a
/// supervisor finds the run of a process killed before it printed its id.
pub fn runs_with_inputs(path: &Path, inputs: &Value) -> Vec<i64> {
    if latest_run(path).is_none() {
        return Vec::new();
    }
    let connection = open(path);
    let mut statement = connection
        .prepare("SELECT id, inputs FROM runs ORDER BY id")
        .expect("runs prepares");
    let rows: Vec<(i64, String)> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("runs are read")
        .collect::<Result<_, _>>()
        .expect("run rows read");
    rows.into_iter()
        .filter(|(_, text)| serde_json::from_str::<Value>(text).is_ok_and(|v| v == *inputs))
        .map(|(id, _)| id)
        .collect()
}

/// Every contact the sandbox holds (deleted ones included), by lower-cased email address: the
/// ids of the contacts with that address, read from the sandbox's own account data (no API
/// request, so no limit or fault applies).
pub fn sandbox_contacts_by_email(
    sandbox: &constant_contact_sandbox::Sandbox,
) -> std::collections::BTreeMap<String, Vec<String>> {
    let account = serde_json::to_value(sandbox.account()).expect("the account serializes");
    let mut by_email: std::collections::BTreeMap<String, Vec<String>> =
        std::collections::BTreeMap::new();
    let contacts = account["store"]["contacts"]
        .as_object()
        .expect("the account's contacts are an object by id");
    for (id, contact) in contacts {
        if let Some(address) = contact["email"]["address"].as_str() {
            by_email
                .entry(address.to_lowercase())
                .or_default()
                .push(id.clone());
        }
    }
    by_email
}
