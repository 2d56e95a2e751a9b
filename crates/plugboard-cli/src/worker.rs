//! `plugboard worker --temporal HOST:PORT --state postgres://…`: executes runs started on the
//! cluster, through one `Session` on the shared store (its limits and its one refresher are
//! every worker's).
//!
//! A worker executes pieces of runs ([`pieces`]): a step, one call of a loop, a run's end. The
//! journal in the shared store holds what is done, so a piece a dead worker left is taken up by
//! another without sending a completed call again.

mod pieces;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use plugboard_runner::{Cancellation, RunId, Session};
use plugboard_temporal::worker::Serving;
use plugboard_temporal::{PieceRequest, PieceResult, RunExecutor, RunResult, Unfinished};
use plugboard_workflow::Piece;

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
    /// The workflows of runs whose pieces executed here, checked once.
    workflows: pieces::Workflows,
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
    fn of(request: &PieceRequest) -> Self {
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
            workflows: pieces::Workflows::default(),
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
}

/// The cancellations of the pieces of runs executing here, so that a cancelled activity stops
/// its own piece alone (another attempt, or the run's other calls, go on).
#[derive(Default)]
struct Executing {
    next: AtomicU64,
    entries: Mutex<HashMap<u64, (i64, Piece, Cancellation)>>,
}

impl Executing {
    /// Registers piece `piece` of run `run` and its `cancel` until the returned guard drops.
    fn register(&self, run: i64, piece: Piece, cancel: Cancellation) -> Running<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, (run, piece, cancel));
        Running {
            executing: self,
            id,
        }
    }

    /// Cancels piece `piece` of run `run` if it executes here; whether it did.
    fn cancel(&self, run: i64, piece: Piece) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut found = false;
        for (_, _, cancel) in entries
            .values()
            .filter(|(of, which, _)| *of == run && *which == piece)
        {
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
        if let Some((_, _, cancel)) = removed {
            cancel.cancel();
        }
    }
}

impl RunExecutor for SessionExecutor {
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

    fn end_unfinished(&self, unfinished: &Unfinished) -> Result<RunResult, String> {
        let run = unfinished.run;
        self.check_state(&unfinished.state)
            .and_then(|()| self.unfinished(RunId(run), unfinished.failure.as_deref()))
            .map_err(|e| format!("run {run}: cannot record how it ended: {e:#}"))
    }

    fn cancel(&self, request: &PieceRequest) {
        if self.running.cancel(request.run, request.piece) {
            eprintln!(
                "worker: run {}: {} was cancelled; stopping it",
                request.run, request.piece
            );
        }
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
        "worker: serving task queue `{}` on Temporal {}, at most {} pieces of runs at once",
        serving.task_queue, serving.address, serving.max_runs
    );
    runtime.block_on(plugboard_temporal::worker::serve(
        serving,
        Arc::new(executor),
        Arc::new(firer),
    ))?;
    Ok(std::process::ExitCode::SUCCESS)
}
