//! `plugboard worker --temporal HOST:PORT --state postgres://…`: executes runs started on the
//! cluster, through one `Session` on the shared store (its limits and its one refresher are
//! every worker's).
//!
//! A run is executed as `plugboard run FILE --resume ID` would resume it, in this process: the
//! journal in the shared store holds what is done, so a run a dead worker left is continued
//! without sending a completed call again.

mod pieces;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::Parser;
use plugboard_runner::store::RunClaim;
use plugboard_runner::workflow::recorded_outputs;
use plugboard_runner::{Cancellation, RunId, RunStatus, Session};
use plugboard_temporal::worker::Serving;
use plugboard_temporal::{PieceRequest, PieceResult, RunExecutor, RunRequest, RunResult};
use serde_json::Value;

use crate::run::{self, RunArgs};
use crate::signals::StopSignal;

/// Executes runs with the worker's sessions.
pub struct SessionExecutor {
    /// The session of runs with the default settings (the connectors' limits enforced).
    session: Arc<Session>,
    /// Sessions for runs started with other executor settings (`--no-rate-limits`,
    /// `--wait-for-quota`), made when first asked for; they share the store, the connectors
    /// and the cancellation a stop signal triggers.
    other_sessions: Mutex<HashMap<Settings, Arc<Session>>>,
    /// The runs and pieces of runs executing here.
    running: Executing,
    state_file: PathBuf,
    state_label: String,
    stop: StopSignal,
}

/// The executor settings a run asks for: the runner's rate limits enforced, waiting for a used
/// quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Settings {
    rate_limits: bool,
    wait_for_quota: bool,
}

impl Settings {
    fn of_run(request: &RunRequest) -> Self {
        Self {
            rate_limits: request.rate_limits,
            wait_for_quota: request.wait_for_quota,
        }
    }

    /// The worker's own session's settings.
    fn default_ones() -> Self {
        let config = plugboard_runner::ExecutorConfig::default();
        Self {
            rate_limits: config.limits_enabled,
            wait_for_quota: config.wait_for_quota,
        }
    }
}

impl SessionExecutor {
    /// An executor over `session`, whose store is `state_file` (a `postgres://` URL).
    pub fn new(
        session: Arc<Session>,
        state_file: PathBuf,
        stop: StopSignal,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            session,
            other_sessions: Mutex::default(),
            running: Executing::default(),
            state_label: crate::temporal::state_label(&state_file)?,
            state_file,
            stop,
        })
    }

    /// The session for a run with `request`'s settings: the run is executed exactly as its
    /// `plugboard run` options say (a worker once ignored `--no-rate-limits` this way).
    fn session_for(&self, settings: Settings) -> anyhow::Result<Arc<Session>> {
        if settings == Settings::default_ones() {
            return Ok(Arc::clone(&self.session));
        }
        let mut sessions = self
            .other_sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(session) = sessions.get(&settings) {
            return Ok(Arc::clone(session));
        }
        let config = plugboard_runner::ExecutorConfig {
            limits_enabled: settings.rate_limits,
            wait_for_quota: settings.wait_for_quota,
            ..plugboard_runner::ExecutorConfig::default()
        };
        let session = Arc::new(
            Session::with_cancellation(
                self.session.registry().clone(),
                Arc::clone(self.session.store()),
                config,
                self.session.handle().clone(),
                self.session.cancellation().clone(),
            )
            .context("cannot start the HTTP executor")?,
        );
        sessions.insert(settings, Arc::clone(&session));
        Ok(session)
    }

    /// Refuses a run of another store: another store's run 7 is not ours (Temporal retries it
    /// elsewhere, and it fails if only such workers poll the queue), never executed on the
    /// wrong journal.
    fn check_state(&self, state: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            state == self.state_label,
            "it was started on the state {state}, and this worker serves {}; give the stores \
             different --task-queue names",
            self.state_label
        );
        Ok(())
    }

    /// Cancels `run` (a run's own cancellation) when the worker is asked to stop.
    fn stop_with_the_worker(&self, shared: &Session, run: &Cancellation) {
        let (stop, run) = (shared.cancellation().clone(), run.clone());
        shared.handle().spawn(async move {
            tokio::select! {
                () = stop.cancelled() => run.cancel(),
                () = run.cancelled() => {}
            }
        });
    }

    fn execute_in(&self, dir: &Path, request: &RunRequest) -> anyhow::Result<RunResult> {
        self.check_state(&request.state)?;
        let workflow = dir.join("workflow.json");
        std::fs::write(&workflow, &request.workflow)
            .with_context(|| format!("cannot write {}", workflow.display()))?;
        let output = dir.join("outputs.json");
        let mut words: Vec<String> = vec![
            "run".into(),
            workflow.display().to_string(),
            "--resume".into(),
            request.run.to_string(),
            "--output".into(),
            output.display().to_string(),
            "--publish-events".into(),
        ];
        if !request.rate_limits {
            words.push("--no-rate-limits".into());
        }
        if request.wait_for_quota {
            words.push("--wait-for-quota".into());
        }
        let args = ResumeArgs::run_args(words).context("cannot form the run's arguments")?;
        // The run's own cancellation, also cancelled when the worker is asked to stop.
        let shared = self.session_for(Settings::of_run(request))?;
        let cancel = Cancellation::new();
        let session = shared.with_run_cancellation(cancel.clone());
        self.stop_with_the_worker(&shared, &cancel);
        let _running = self.running.register(request.run, cancel);
        let store = session.store();
        let record = session
            .block_on(store.run(RunId(request.run)))?
            .with_context(|| format!("there is no run {} in the shared state", request.run))?;
        if record.status == RunStatus::Completed {
            // Finished by an earlier attempt whose answer to Temporal was lost: its journaled
            // outputs are the answer, and nothing runs again.
            let outputs = session
                .block_on(recorded_outputs(store.as_ref(), RunId(request.run)))?
                .with_context(|| {
                    format!(
                        "run {} already completed before its outputs were kept with it; it is \
                         not run again",
                        request.run
                    )
                })?;
            return Ok(RunResult {
                run: request.run,
                status: record.status.as_str().to_owned(),
                outputs,
                error: None,
            });
        }
        // Claimed here first (the command claims it again, as this process), so that a failure
        // after this point knows the run is this attempt's to hand back.
        match session.block_on(store.claim_run(RunId(request.run)))? {
            RunClaim::Claimed { .. } => {}
            RunClaim::Busy { pid } => anyhow::bail!("it is still running in process {pid}"),
            RunClaim::Completed => anyhow::bail!("it already completed"),
            RunClaim::Unknown => anyhow::bail!("there is no such run in the shared state"),
        }
        if let Err(error) = run::run_command(&args, &session, &self.state_file, &self.stop) {
            self.hand_back(RunId(request.run), &error);
            return Err(error);
        }
        let record = session
            .block_on(store.run(RunId(request.run)))?
            .with_context(|| format!("run {} vanished from the shared state", request.run))?;
        let outputs = match record.status {
            RunStatus::Completed => {
                let text = std::fs::read_to_string(&output)
                    .with_context(|| format!("cannot read {}", output.display()))?;
                serde_json::from_str(&text).context("the run's outputs are not JSON")?
            }
            _ => Value::Null,
        };
        Ok(RunResult {
            run: request.run,
            status: record.status.as_str().to_owned(),
            outputs,
            error: record.error,
        })
    }
}

impl SessionExecutor {
    /// Marks a run this attempt claimed as no longer running here, so the attempt Temporal
    /// makes next (on any worker) can claim it: without this, a run whose attempt failed on a
    /// store error (a PostgreSQL restart) would read as running in this live process, and every
    /// retry would be refused. The store may be the very thing that failed, so this waits for
    /// it, a bounded time.
    fn hand_back(&self, run: RunId, error: &anyhow::Error) {
        let why = format!("{HANDED_BACK}: {error:#}");
        let deadline = std::time::Instant::now() + HAND_BACK_LIMIT;
        loop {
            let store = self.session.store();
            match self
                .session
                .block_on(store.finish_run(run, RunStatus::Failed, Some(&why)))
            {
                Ok(()) => return,
                Err(store_error) if std::time::Instant::now() > deadline => {
                    eprintln!(
                        "worker: run {} could not be handed back ({store_error}); it reads as \
                         running here until this worker exits",
                        run.0
                    );
                    return;
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(500)),
            }
        }
    }
}

/// The cancellations of the runs, and pieces of runs, executing here: a cancelled workflow
/// stops its own alone. Several pieces of one run may execute here at once (a loop's calls).
#[derive(Default)]
struct Executing {
    next: AtomicU64,
    entries: Mutex<HashMap<u64, (i64, Cancellation)>>,
}

impl Executing {
    /// Registers run `run`'s `cancel` until the returned guard drops.
    fn register(&self, run: i64, cancel: Cancellation) -> Running<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, (run, cancel));
        Running {
            executing: self,
            id,
        }
    }

    /// Cancels whatever of run `run` executes here; whether anything did.
    fn cancel(&self, run: i64) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut found = false;
        for (_, cancel) in entries.values().filter(|(of, _)| *of == run) {
            cancel.cancel();
            found = true;
        }
        found
    }
}

/// An entry of [`Executing`], removed when its run or piece ends here (its cancellation is then
/// cancelled, which ends the task linking it to the worker's stop).
struct Running<'a> {
    executing: &'a Executing,
    id: u64,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let removed = self
            .executing
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
        if let Some((_, cancel)) = removed {
            cancel.cancel();
        }
    }
}

/// What a run handed back by a failed attempt says until the next attempt claims it.
const HANDED_BACK: &str = "this attempt failed and Temporal retries the run";
/// How long a failed attempt waits for the store to record that it handed its run back.
const HAND_BACK_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

impl RunExecutor for SessionExecutor {
    fn execute(&self, request: &RunRequest) -> Result<RunResult, String> {
        eprintln!("worker: executing run {} ({})", request.run, request.name);
        let dir = tempfile_dir().map_err(|e| format!("{e:#}"))?;
        let result = self
            .execute_in(&dir, request)
            .map_err(|e| format!("run {}: {e:#}", request.run));
        // A folder left behind is harmless; its name says whose it is.
        let _ = std::fs::remove_dir_all(&dir);
        match &result {
            Ok(ended) => eprintln!("worker: run {} ended: {}", request.run, ended.status),
            Err(why) => eprintln!("worker: run {} not finished here: {why}", request.run),
        }
        result
    }

    fn execute_piece(&self, request: &PieceRequest) -> Result<PieceResult, String> {
        let what = request.piece;
        eprintln!("worker: executing run {}: {what}", request.run);
        let result = self
            .piece(request)
            .map_err(|e| format!("run {}, {what}: {e:#}", request.run));
        match &result {
            Ok(PieceResult::Ran { .. }) => eprintln!("worker: run {}: {what} done", request.run),
            Ok(PieceResult::Ended { run }) => {
                eprintln!("worker: run {} ended: {} ({what})", request.run, run.status);
            }
            Err(why) => eprintln!("worker: run {} not finished here: {why}", request.run),
        }
        result
    }

    fn end_cancelled(&self, run: i64) -> Result<RunResult, String> {
        self.cancelled(RunId(run))
            .map_err(|e| format!("run {run}: cannot record its cancellation: {e:#}"))
    }

    fn cancel(&self, run: i64) {
        if self.running.cancel(run) {
            eprintln!("worker: run {run}: its workflow was cancelled; stopping it");
        }
    }
}

/// `plugboard run`'s own options, parsed from words, so a worker runs exactly what the command
/// would.
#[derive(Parser)]
struct ResumeArgs {
    #[command(subcommand)]
    command: ResumeCommand,
}

/// The one command parsed.
#[derive(clap::Subcommand)]
enum ResumeCommand {
    Run(RunArgs),
}

impl ResumeArgs {
    fn run_args(words: Vec<String>) -> Result<RunArgs, clap::Error> {
        let mut all = vec!["plugboard".to_owned()];
        all.extend(words);
        let ResumeCommand::Run(args) = <Self as Parser>::try_parse_from(all)?.command;
        Ok(args)
    }
}

/// Runs a worker until it fails or a stop signal: one session on the shared store at `state`,
/// serving the cluster at `address`.
pub fn command(
    serving: &Serving,
    state: Option<PathBuf>,
    registry: plugboard_runner::Registry,
) -> anyhow::Result<std::process::ExitCode> {
    plugboard_temporal::client::target_url(&serving.address)?;
    let state_file = crate::state::path(state.as_deref(), false)?;
    let Some(url) = crate::state::postgres_url(&state_file) else {
        anyhow::bail!(
            "a worker needs the shared state: --state postgres://… (not the state file {})",
            state_file.display()
        );
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let store = crate::state::connect_postgres(url, runtime.handle())?;
    let session = Session::new(
        registry,
        Arc::clone(&store) as _,
        plugboard_runner::ExecutorConfig::default(),
        runtime.handle().clone(),
    )
    .context("cannot start the HTTP executor")?;
    let session = Arc::new(session);
    let stop = crate::signals::watch(session.handle(), session.cancellation().clone());
    let firer = crate::fires::ServiceFirer::new(
        &session,
        store,
        &state_file,
        &serving.address,
        &serving.task_queue,
    )?;
    let executor = SessionExecutor::new(Arc::clone(&session), state_file, stop)?;
    eprintln!(
        "worker: serving task queue `{}` on Temporal {}, at most {} runs at once",
        serving.task_queue, serving.address, serving.max_runs
    );
    runtime.block_on(plugboard_temporal::worker::serve(
        serving,
        Arc::new(executor),
        Arc::new(firer),
    ))?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// A private folder for one run's files.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let base = std::env::temp_dir();
    for attempt in 0..100u32 {
        let dir = base.join(format!("plugboard-worker-{}-{attempt}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
        }
    }
    anyhow::bail!("cannot create a folder for the run in {}", base.display())
}
