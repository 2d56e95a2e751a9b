//! `cargo xtask scale-check`: plugboard on Temporal with its state in PostgreSQL, across worker
//! processes, against the Constant Contact sandbox at its real limits.
//!
//! It starts everything it needs and stops all of it: a throwaway PostgreSQL server and a
//! Temporal dev server (the same ones `cargo xtask test` starts), the `plugboard` binary built
//! with the `postgres` and `temporal` features, one sandbox per check and the `plugboard worker`
//! processes. Each check has its own database, task queue and sandbox, so one check's traffic is
//! never counted in another's figures (see [`checks`] for what each asserts).
//!
//! It prints its progress on standard error and, last, one JSON line of figures on standard
//! output; it exits non-zero when any check failed (every check runs; the failures are listed).

mod checks;
pub mod deployment;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::services::postgres::{self, PostgresServer};
use crate::services::{temporal, wait_bounded};
use crate::signals::Interrupts;

/// The key the check's secrets are sealed with (a throwaway database, a throwaway key).
const SECRET_KEY: &str = "c2NhbGUtY2hlY2stdGhyb3dhd2F5LWtleS0wMTIzNDU=";

/// The workflow every run executes: one idempotent upsert per address.
const WORKLOAD: &str = include_str!("workload.json");

/// What the check measured, printed as one JSON line.
#[derive(Debug, Default, Serialize)]
pub struct Figures {
    /// Runs started, over every check.
    pub runs: u64,
    /// Of those, runs that completed.
    pub completed: u64,
    /// API requests the sandboxes received.
    pub api_requests: u64,
    /// 429 "too many requests per second" answers.
    pub throttled_429: u64,
    /// 429 "daily quota used up" answers.
    pub quota_429: u64,
    /// Refresh tokens refused with `invalid_grant`.
    pub invalid_grant: u64,
    /// Refresh-token grants served.
    pub refreshes: u64,
    /// The most API requests of one client within one second, over every check.
    pub peak_per_second: u64,
    /// Of the 4 requests/second one app may send, the share three workers sent together while
    /// their runs lasted (first to last request, the sandbox's clock).
    pub limiter_share: f64,
    /// Workers killed with SIGKILL in the middle of a run.
    pub worker_kills: u64,
    /// PostgreSQL restarts during runs.
    pub postgres_restarts: u64,
    /// Requests sent more than once: those the sandboxes served beyond the calls the runs make.
    pub repeated_calls: u64,
    /// Wrong set-ups refused with a clear error and nothing written.
    pub refusals: u64,
    /// Wall time of all checks, in seconds.
    pub seconds: f64,
}

impl Figures {
    /// Adds one check's sandbox counters.
    fn add_sandbox(&mut self, stats: &constant_contact_sandbox::Stats) {
        self.api_requests += stats.api_requests;
        self.throttled_429 += stats.throttled_429;
        self.quota_429 += stats.quota_429;
        self.invalid_grant += stats.invalid_grants;
        self.refreshes += stats.refreshes;
        self.peak_per_second = self.peak_per_second.max(stats.peak_per_second);
    }
}

/// What every check shares: the services, the binary and a scratch folder; all stopped and
/// removed when dropped (the folder kept with [`Cluster::keep_scratch`]).
pub struct Cluster {
    binary: PathBuf,
    postgres: Mutex<PostgresServer>,
    /// The Temporal front end, `127.0.0.1:<port>`.
    temporal: String,
    /// Held so the dev server lives as long as the cluster.
    _temporal_server: temporal::TemporalServer,
    scratch: Option<tempfile::TempDir>,
    /// Scratch files: logs, inputs, outputs.
    dir: PathBuf,
    /// The workload workflow's file.
    workload: PathBuf,
    interrupts: Interrupts,
}

/// A finished command's output.
pub struct Output {
    /// How it exited.
    pub status: ExitStatus,
    /// Everything it wrote to standard output.
    pub stdout: String,
    /// Everything it wrote to standard error.
    pub stderr: String,
}

/// Runs `command` with its output captured, to its end; killed (and an error) after `limit`.
pub fn run_bounded(mut command: Command, limit: Duration) -> anyhow::Result<Output> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run plugboard")?;
    let mut stdout = child.stdout.take().context("stdout")?;
    let mut stderr = child.stderr.take().context("stderr")?;
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + limit;
    while !wait_bounded(&mut child, Duration::from_millis(200)) {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let said = err.join().unwrap_or_default();
            bail!("plugboard ran past {} s:\n{said}", limit.as_secs());
        }
    }
    let status = child.wait()?;
    Ok(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

impl Cluster {
    /// Starts PostgreSQL and a Temporal dev server for `binary` (built with the `postgres` and
    /// `temporal` features).
    pub fn start(root: &Path, binary: PathBuf) -> anyhow::Result<Self> {
        let interrupts = Interrupts::install()?;
        let postgres = postgres::start(&interrupts)?;
        let temporal_server = temporal::start(root, &interrupts)?;
        let scratch = tempfile::Builder::new()
            .prefix("plugboard-scale-check-")
            .tempdir()
            .context("cannot make a scratch folder")?;
        let workload = scratch.path().join("workload.json");
        std::fs::write(&workload, WORKLOAD)?;
        Ok(Self {
            binary,
            postgres: Mutex::new(postgres),
            temporal: temporal_server.address(),
            _temporal_server: temporal_server,
            dir: scratch.path().to_path_buf(),
            scratch: Some(scratch),
            workload,
            interrupts,
        })
    }

    /// Keeps the scratch folder (logs) after the cluster is dropped; its path.
    pub fn keep_scratch(&mut self) -> PathBuf {
        match self.scratch.take() {
            Some(scratch) => scratch.keep(),
            None => self.dir.clone(),
        }
    }

    /// The scratch folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `plugboard args… --state state`, with the check's key and nothing from the caller's
    /// plugboard environment.
    fn plugboard(&self, state: &str, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .current_dir(&self.dir)
            .args(args)
            .args(["--state", state])
            .env_remove("PLUGBOARD_STATE")
            .env_remove("PLUGBOARD_PLUGIN_PATH")
            .env("PLUGBOARD_SECRET_KEY", SECRET_KEY)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        command
    }

    fn postgres(&self) -> anyhow::Result<std::sync::MutexGuard<'_, PostgresServer>> {
        self.postgres
            .lock()
            .map_err(|_| anyhow::anyhow!("the PostgreSQL handle is poisoned"))
    }

    /// A new database on the server; its URL.
    fn create_database(&self, name: &str) -> anyhow::Result<String> {
        self.postgres()?.create_database(name, &self.interrupts)
    }

    /// Restarts the PostgreSQL server (every check's database) and waits until it answers.
    fn restart_postgres(&self) -> anyhow::Result<()> {
        self.postgres()?.restart(&self.interrupts)
    }

    /// The PostgreSQL server's process id.
    fn postgres_pid(&self) -> anyhow::Result<Option<u32>> {
        Ok(self.postgres()?.pid())
    }

    /// The rows of `sql` on the database at `url`.
    fn query(&self, url: &str, sql: &str) -> anyhow::Result<String> {
        self.postgres()?.query(url, sql)
    }
}

/// Builds the binary, starts the services, runs the checks named in `only` (every check when
/// empty) and prints the figures; returns the exit code.
pub fn run(root: &Path, only: &[String]) -> anyhow::Result<u8> {
    if let Some(unknown) = only
        .iter()
        .find(|name| !checks::ALL.iter().any(|(known, ..)| known == name))
    {
        let known: Vec<&str> = checks::ALL.iter().map(|(name, ..)| *name).collect();
        bail!(
            "there is no check `{unknown}`; the checks are {}",
            known.join(", ")
        );
    }
    let started = Instant::now();
    let binary = crate::test_command::build_temporal_binary(root)?;
    let mut cluster = Cluster::start(root, binary)?;

    let mut figures = Figures::default();
    let mut failures = Vec::new();
    let chosen = checks::ALL
        .into_iter()
        .filter(|(name, ..)| only.is_empty() || only.iter().any(|o| o == name));
    for (name, what, check) in chosen {
        eprintln!("== scale-check {name}: {what}");
        let began = Instant::now();
        match check(&cluster, &mut figures) {
            Ok(summary) => eprintln!("   ok in {:.1} s: {summary}", began.elapsed().as_secs_f64()),
            Err(error) => {
                eprintln!("   FAILED: {error:#}");
                failures.push(name);
            }
        }
        cluster.interrupts.check("running the scale check")?;
    }
    figures.seconds = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;

    if !failures.is_empty() {
        eprintln!(
            "scale-check: logs kept in {}",
            cluster.keep_scratch().display()
        );
    }
    drop(cluster);
    println!("{}", serde_json::to_string(&figures)?);
    if failures.is_empty() {
        Ok(0)
    } else {
        eprintln!("scale-check failed: {}", failures.join(", "));
        Ok(1)
    }
}
