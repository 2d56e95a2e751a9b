//! One check's deployment: its own database on the shared PostgreSQL server, its own task queue
//! on the shared Temporal dev server, its own Constant Contact sandbox, a connection installed
//! through the real binary, and `plugboard worker` processes that can be killed and replaced.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use constant_contact_sandbox::{RegisteredClient, Sandbox, SandboxConfig};
use serde_json::{Value, json};

use super::Cluster;
use crate::services::wait_bounded;

/// The connection every run uses (the workload's `connections.cc.connection`).
const CONNECTION: &str = "constant-contact";
/// The longest one `plugboard` command may take (runs included) before the check fails.
const COMMAND_LIMIT: Duration = Duration::from_secs(300);

/// A check's database, queue, sandbox and workers; the workers are killed when it is dropped.
pub struct Deployment<'c> {
    cluster: &'c Cluster,
    name: String,
    /// The `postgres://` URL of this deployment's database.
    pub state: String,
    /// The task queue its workers poll and its runs start on.
    pub queue: String,
    /// The sandbox its connection talks to.
    pub sandbox: Sandbox,
    /// A list of the sandbox account, for the workload's contacts.
    pub list_id: String,
    workers: Vec<Worker>,
    started_workers: usize,
    runs_started: usize,
}

/// A `plugboard worker` process and its log.
struct Worker {
    child: Child,
    log: PathBuf,
}

/// A run started with `plugboard run --temporal --json`, its output going to files.
pub struct RunProcess {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    /// The calls the run makes (its input's addresses).
    pub calls: u64,
}

/// How a run ended, from its `run_finished` line.
#[derive(Debug)]
pub struct RunEnd {
    /// `completed`, `failed`, `cancelled`, or `no result` when no such line was printed.
    pub status: String,
    /// What the process printed on standard error (its last lines), for a failure's message.
    pub stderr_tail: String,
}

impl<'c> Deployment<'c> {
    /// Creates the database, starts the sandbox with `config` (a client of its own) and installs
    /// the connection through `plugboard partner set` and `plugboard connect`, answering the
    /// sandbox's consent page as a browser would.
    pub fn new(cluster: &'c Cluster, name: &str, config: SandboxConfig) -> anyhow::Result<Self> {
        let state = cluster.create_database(&format!("scale_{name}"))?;
        let sandbox = Sandbox::spawn(SandboxConfig {
            client: RegisteredClient {
                client_id: format!("scale-check-{name}"),
                client_secret: format!("scale-check-secret-{name}-{:016x}", unique_suffix()),
            },
            ..config
        })
        .context("cannot start the Constant Contact sandbox")?;
        let mut deployment = Self {
            cluster,
            name: name.to_owned(),
            state,
            queue: format!("scale-check-{name}"),
            sandbox,
            list_id: String::new(),
            workers: Vec::new(),
            started_workers: 0,
            runs_started: 0,
        };
        deployment.install()?;
        deployment.list_id = first_list_id(&deployment.sandbox)?;
        Ok(deployment)
    }

    /// `plugboard args… --state <this database>` with the cluster's environment.
    pub fn command(&self, args: &[&str]) -> Command {
        self.cluster.plugboard(&self.state, args)
    }

    fn install(&self) -> anyhow::Result<()> {
        install_sandbox_connection(|args| self.command(args), &self.sandbox, CONNECTION)
    }

    /// Starts `count` workers, each executing at most `max_runs` pieces of runs at once.
    pub fn start_workers(&mut self, count: usize, max_runs: usize) -> anyhow::Result<()> {
        for _ in 0..count {
            self.start_worker(max_runs)?;
        }
        Ok(())
    }

    fn start_worker(&mut self, max_runs: usize) -> anyhow::Result<()> {
        let n = self.started_workers;
        self.started_workers += 1;
        let log = self.worker_log(n);
        let file =
            File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let max_runs = max_runs.to_string();
        let child = self
            .command(&[
                "worker",
                "--temporal",
                &self.cluster.temporal,
                "--task-queue",
                &self.queue,
                "--max-runs",
                &max_runs,
            ])
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .context("cannot start `plugboard worker`")?;
        self.workers.push(Worker { child, log });
        Ok(())
    }

    /// Writes the workload's inputs for `emails` to a file of its own; its path.
    pub fn inputs_file(&self, emails: &[String]) -> anyhow::Result<String> {
        let name = emails.first().map_or("none", String::as_str);
        let inputs = self.cluster.dir.join(format!("inputs-{name}.json"));
        std::fs::write(
            &inputs,
            json!({ "list_id": self.list_id, "emails": emails }).to_string(),
        )
        .with_context(|| format!("cannot write {}", inputs.display()))?;
        Ok(inputs.display().to_string())
    }

    /// Starts a run of the workload upserting `emails` (bounded in time when waited for).
    pub fn start_run(&mut self, emails: &[String]) -> anyhow::Result<RunProcess> {
        let inputs = self.inputs_file(emails)?;
        let workload = self.cluster.workload.clone();
        let mut run = self.start_run_of(&workload, &inputs, &[])?;
        run.calls = emails.len() as u64;
        Ok(run)
    }

    /// Starts a run of `workflow` with the inputs in the file `inputs` and `extra` arguments
    /// (`--no-rate-limits`), as `plugboard run --temporal --json`.
    pub fn start_run_of(
        &mut self,
        workflow: &std::path::Path,
        inputs: &str,
        extra: &[&str],
    ) -> anyhow::Result<RunProcess> {
        let n = self.runs_started;
        self.runs_started += 1;
        let dir = &self.cluster.dir;
        let stdout = dir.join(format!("{}-run-{n}.out", self.name));
        let stderr = dir.join(format!("{}-run-{n}.err", self.name));
        let workflow = workflow.display().to_string();
        let mut args = vec![
            "run",
            &workflow,
            "--temporal",
            &self.cluster.temporal,
            "--task-queue",
            &self.queue,
            "--inputs-file",
            inputs,
            "--json",
        ];
        args.extend(extra);
        let child = self
            .command(&args)
            .stdout(File::create(&stdout)?)
            .stderr(File::create(&stderr)?)
            .spawn()
            .context("cannot start `plugboard run --temporal`")?;
        Ok(RunProcess {
            child,
            stdout,
            stderr,
            calls: 0,
        })
    }

    /// The workers alive now that are executing a piece of a run (their log says it began and
    /// not yet that it ended).
    fn busy_workers(&mut self) -> Vec<usize> {
        (0..self.workers.len())
            .filter(|&i| {
                let worker = &mut self.workers[i];
                if !matches!(worker.child.try_wait(), Ok(None)) {
                    return false;
                }
                let log = std::fs::read_to_string(&worker.log).unwrap_or_default();
                let began = log.matches("worker: executing run").count();
                let ended = log.matches("worker: run ").count();
                began > ended
            })
            .collect()
    }

    /// Kills (SIGKILL) one worker that is executing a piece of a run, and starts a replacement
    /// so the queue keeps its workers; `false` when none is busy.
    pub fn kill_a_busy_worker(&mut self, max_runs: usize) -> anyhow::Result<bool> {
        let Some(&victim) = self.busy_workers().first() else {
            return Ok(false);
        };
        let mut worker = self.workers.remove(victim);
        worker.child.kill().context("cannot kill a worker")?;
        worker.child.wait()?;
        self.start_worker(max_runs)?;
        Ok(true)
    }

    /// How many pieces of runs (steps, calls of loops, ends) each worker started so far, in
    /// start order (killed ones included).
    pub fn pieces_per_worker(&self) -> Vec<usize> {
        (0..self.started_workers)
            .map(|n| {
                std::fs::read_to_string(self.worker_log(n))
                    .unwrap_or_default()
                    .matches("worker: executing run")
                    .count()
            })
            .collect()
    }

    /// How many times a worker's attempt at a piece of a run failed on its surroundings (a
    /// store restart) and was left to Temporal to retry (the workers' logs say so).
    pub fn failed_attempts(&self) -> usize {
        (0..self.started_workers)
            .map(|n| {
                std::fs::read_to_string(self.worker_log(n))
                    .unwrap_or_default()
                    .matches("not finished here")
                    .count()
            })
            .sum()
    }

    fn worker_log(&self, n: usize) -> PathBuf {
        self.cluster
            .dir
            .join(format!("{}-worker-{n}.log", self.name))
    }

    /// Every worker's log, for a failure's message (their last lines).
    pub fn worker_logs(&self) -> String {
        (0..self.started_workers)
            .map(|n| {
                let log = crate::services::log_tail(&self.worker_log(n), 8);
                format!("--- worker {n}:\n{log}")
            })
            .collect()
    }
}

impl Drop for Deployment<'_> {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            let _ = worker.child.kill();
            let _ = worker.child.wait();
        }
    }
}

impl RunProcess {
    /// Whether the run's process is still going.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the run (at most `limit`, then it is killed) and reads how it ended.
    pub fn finish(mut self, limit: Duration) -> anyhow::Result<RunEnd> {
        let deadline = Instant::now() + limit;
        while !wait_bounded(&mut self.child, Duration::from_millis(200)) {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!(
                    "a run did not end within {} s:\n{}",
                    limit.as_secs(),
                    crate::services::log_tail(&self.stderr, 10)
                );
            }
        }
        let stdout = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        let status = stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|event| event["event"] == "run_finished")
            .find_map(|event| event["status"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "no result".to_owned());
        Ok(RunEnd {
            status,
            stderr_tail: crate::services::log_tail(&self.stderr, 10),
        })
    }
}

/// Installs the Constant Contact connection `name` against `sandbox` as a person would:
/// `plugboard partner set` with the sandbox's app, then `plugboard connect` with the consent page
/// followed. `plugboard` makes the command for the given arguments (the binary, its state).
pub fn install_sandbox_connection(
    plugboard: impl Fn(&[&str]) -> Command,
    sandbox: &Sandbox,
    name: &str,
) -> anyhow::Result<()> {
    let set = super::run_bounded(
        plugboard(&[
            "partner",
            "set",
            "constant-contact",
            &format!("client_id={}", sandbox.client_id()),
            &format!("client_secret={}", sandbox.client_secret()),
            "redirect_uri=http://127.0.0.1:0/plugboard/callback",
        ]),
        COMMAND_LIMIT,
    )?;
    ensure!(
        set.status.success(),
        "`plugboard partner set` failed:\n{}",
        set.stderr
    );
    let authorize = sandbox.authorize_url();
    let connect = plugboard(&[
        "connect",
        "constant-contact",
        "--name",
        name,
        "--base-url",
        &sandbox.api_base_url(),
        "--authorize-url",
        &authorize,
        "--token-url",
        &sandbox.token_url(),
        "--timeout",
        "30",
    ]);
    connect_with_consent(connect, &authorize)
}

/// Runs `connect` (a `plugboard connect` against a sandbox whose authorization page is at
/// `authorize`) and, when it prints the authorization URL, follows it as the person's browser
/// would; fails unless the connection was made.
pub fn connect_with_consent(mut connect: Command, authorize: &str) -> anyhow::Result<()> {
    let mut connect = connect
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run `plugboard connect`")?;
    let stderr = connect.stderr.take().context("connect's stderr")?;
    let mut said = String::new();
    let mut consented = None;
    // `connect` ends by itself (its own timeout), so this read ends too.
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        said.push_str(&line);
        said.push('\n');
        if consented.is_none()
            && let Some(url) = line.split_whitespace().find(|w| w.starts_with(authorize))
        {
            let url = url.to_owned();
            consented = Some(std::thread::spawn(move || browse(&url)));
        }
    }
    let status = connect.wait()?;
    if let Some(browser) = consented {
        browser
            .join()
            .map_err(|_| anyhow::anyhow!("the consent thread panicked"))??;
    }
    ensure!(status.success(), "`plugboard connect` failed:\n{said}");
    Ok(())
}

/// Follows the authorization URL to the loopback callback, as the person's browser would (the
/// sandbox's consent page agrees at once).
fn browse(url: &str) -> anyhow::Result<()> {
    plugboard_runner::executor::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let status = runtime.block_on(async {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()?
            .get(url)
            .send()
            .await
            .map(|response| response.status())
    })?;
    ensure!(status.is_success(), "the authorization ended with {status}");
    Ok(())
}

/// The id of the first list of the sandbox's account, read with a token the sandbox mints (one
/// API request, made before the check counts any).
fn first_list_id(sandbox: &Sandbox) -> anyhow::Result<String> {
    plugboard_runner::executor::install_crypto_provider();
    let token = sandbox.mint_tokens().access_token;
    let url = format!("{}/contact_lists", sandbox.api_base_url());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let lists: Value = runtime.block_on(async {
        reqwest::Client::new()
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    })?;
    lists["lists"][0]["list_id"]
        .as_str()
        .map(str::to_owned)
        .context("the sandbox account has no list")
}

/// A number unlikely to repeat between runs of the check (a client secret's suffix).
fn unique_suffix() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

/// `count` addresses no other run of this check uses.
pub fn emails(run: usize, count: usize, check: &str) -> Vec<String> {
    (0..count)
        .map(|i| format!("{check}-{run}-{i}@scale-check.example.com"))
        .collect()
}
