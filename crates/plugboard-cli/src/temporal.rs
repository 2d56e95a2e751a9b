//! `plugboard run FILE --temporal HOST:PORT`: the run is recorded in the shared store, started
//! on the Temporal cluster (workflow id = run id), executed by a `plugboard worker`, and its
//! outputs are printed here as a local run prints them.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use plugboard_runner::{RunId, RunStatus, Session};
use plugboard_service::runs::remote::{ClusterFuture, ClusterRefusal};
use plugboard_service::schedule_store::{Schedule, Timing};
use plugboard_temporal::client::{self, Started};
use plugboard_temporal::schedules::{self, FireTimes, ScheduleRefusal, ScheduledFire};
use plugboard_temporal::{RunRequest, workflow_id};
use serde_json::Value;

use crate::inputs;
use crate::progress::Reporter;
use crate::resume::WorkflowIdentity;
use crate::run::{self, RunArgs};

/// The shared store's label (`host:port/database`, no credentials), which workers compare with
/// their own.
pub fn state_label(state_file: &Path) -> anyhow::Result<String> {
    let url = crate::state::postgres_url(state_file)
        .context("the shared state must be a postgres:// URL")?;
    Ok(plugboard_store_postgres::Target::parse(url)?
        .label()
        .to_owned())
}

/// Starts (or, with `--resume ID`, finds) the run on the cluster at `address` and waits for it.
pub fn run_command(
    args: &RunArgs,
    address: &str,
    session: &Session,
    state_file: &Path,
) -> anyhow::Result<ExitCode> {
    if crate::state::postgres_url(state_file).is_none() {
        bail!(
            "--temporal needs the shared state: --state postgres://… (workers on other machines \
             cannot read the state file {})",
            state_file.display()
        );
    }
    if args.sandbox || args.dry_run {
        bail!("--temporal cannot be combined with --sandbox or --dry-run");
    }
    // Checked before anything is sent, so a typo fails fast.
    client::target_url(address)?;
    let workflow = match run::load(&args.workflow, session, false)? {
        Ok(workflow) => workflow,
        Err(problems) => {
            run::print_problems(&args.workflow, &problems, args.json);
            return Ok(ExitCode::FAILURE);
        }
    };
    let text = std::fs::read_to_string(&args.workflow)
        .with_context(|| format!("cannot read {}", args.workflow.display()))?;
    // Reached before the run is recorded: an unreachable cluster leaves no queued run behind.
    let client = session.block_on(client::connect(address))?;
    let store = session.store();
    let identity = WorkflowIdentity::of(&args.workflow, &workflow)?;
    let run_id = match args.resume {
        // The same run again: its workflow id exists, so Temporal starts nothing new.
        Some(id) => {
            let Some(record) = session.block_on(store.run(RunId(id)))? else {
                bail!("there is no run {id} in the shared state");
            };
            // Its workers would refuse another workflow's steps for this run's journal.
            if let Some(which) = crate::resume::changed_workflow(&record, &identity) {
                bail!(
                    "run {id} cannot be resumed with {}: {which}. Completed steps are matched by \
                     id; resume it with the workflow as it was, or start a new run",
                    identity.path
                );
            }
            RunId(id)
        }
        None => {
            let declared = inputs::Declared::new(workflow.workflow().inputs.as_ref());
            let given = inputs::read(&declared, args.inputs_file.as_deref(), &args.inputs)?;
            let inputs = match workflow.check_inputs(&given) {
                Ok(inputs) => inputs,
                Err(problems) => {
                    run::print_problems(&args.workflow, &problems, args.json);
                    return Ok(ExitCode::FAILURE);
                }
            };
            // Not ours to run: queued, for the worker that picks it up to claim.
            session.block_on(store.queue_run(
                &identity.path,
                &identity.digest,
                &Value::Object(inputs),
            ))?
        }
    };
    let request = RunRequest {
        run: run_id.0,
        state: state_label(state_file)?,
        name: workflow.workflow().name.clone(),
        workflow: text,
        rate_limits: !args.no_rate_limits,
        wait_for_quota: args.wait_for_quota,
        resume_at: None,
        history_events: Some(args.history_events),
    };
    let reporter = Reporter::new(args.json);
    let result = session.block_on(async {
        let started = client::start_run(&client, &args.task_queue, request).await?;
        let note = match started {
            Started::New => "started",
            Started::AlreadyStarted => "already started; not starting it again",
        };
        eprintln!(
            "run {}: {} on Temporal {address} as workflow {}; waiting for it",
            run_id.0,
            note,
            workflow_id(&args.task_queue, run_id.0)
        );
        // The worker publishes the run's events; they are shown here as a local run shows them.
        let finished = client::wait_for_run(&client, &args.task_queue, run_id.0);
        crate::run_events::follow(session, run_id, &reporter, finished).await
    })?;
    reporter.finish();
    let shown = serde_json::json!({
        "run": result.run,
        "status": result.status,
        "outputs": result.outputs,
    });
    if result.status == RunStatus::Completed.as_str() {
        run::write_result(args, &shown, None)?;
        Ok(ExitCode::SUCCESS)
    } else {
        let why = result.error.unwrap_or_else(|| result.status.clone());
        if args.json {
            println!(
                "{}",
                serde_json::json!({"event": "run_failed", "run": result.run, "error": why})
            );
        } else {
            eprintln!("error: run {} failed: {why}", result.run);
        }
        Ok(ExitCode::FAILURE)
    }
}

/// `plugboard serve --temporal`: the service's runs start on the cluster, as `run --temporal`
/// starts them, and `plugboard worker`s execute them.
pub struct ServiceRuns {
    client: plugboard_temporal::client::Client,
    address: String,
    task_queue: String,
    state_label: String,
}

impl ServiceRuns {
    /// Connects to the cluster at `address` (refused at once when unreachable) for runs
    /// recorded in the shared store `state_file`.
    pub fn connect(
        address: &str,
        task_queue: &str,
        state_file: &Path,
        runtime: &tokio::runtime::Handle,
    ) -> anyhow::Result<Self> {
        let state_label = state_label(state_file)?;
        client::target_url(address)?;
        let client = runtime.block_on(client::connect(address))?;
        Ok(Self {
            client,
            address: address.to_owned(),
            task_queue: task_queue.to_owned(),
            state_label,
        })
    }
}

impl plugboard_service::runs::remote::RemoteRuns for ServiceRuns {
    fn start<'a>(
        &'a self,
        run: i64,
        name: &'a str,
        source: &'a str,
    ) -> ClusterFuture<'a, Result<bool, String>> {
        Box::pin(async move {
            let request = RunRequest {
                run,
                state: self.state_label.clone(),
                name: name.to_owned(),
                workflow: source.to_owned(),
                rate_limits: true,
                wait_for_quota: false,
                resume_at: None,
                history_events: None,
            };
            client::start_run(&self.client, &self.task_queue, request)
                .await
                .map(|started| started == Started::New)
                .map_err(|error| error.to_string())
        })
    }

    fn cancel(&self, run: i64) -> ClusterFuture<'_, Result<(), String>> {
        Box::pin(async move {
            client::cancel_run(&self.client, &self.task_queue, run)
                .await
                .map_err(|error| error.to_string())
        })
    }

    fn put_schedule<'a>(
        &'a self,
        schedule: &'a Schedule,
    ) -> ClusterFuture<'a, Result<(), ClusterRefusal>> {
        Box::pin(async move {
            let times = fire_times(schedule).map_err(ClusterRefusal::Invalid)?;
            let fire = ScheduledFire {
                schedule: schedule.id,
                state: self.state_label.clone(),
            };
            schedules::put_schedule(&self.client, &self.task_queue, fire, times, schedule.paused)
                .await
                .map_err(|refusal| match refusal {
                    ScheduleRefusal::Invalid(why) => ClusterRefusal::Invalid(why),
                    ScheduleRefusal::Unavailable(why) => ClusterRefusal::Unavailable(why),
                })
        })
    }

    fn held_schedules(
        &self,
    ) -> ClusterFuture<'_, Result<std::collections::HashMap<i64, bool>, String>> {
        Box::pin(async move {
            schedules::held_schedules(&self.client, &self.task_queue)
                .await
                .map_err(|refusal| refusal.to_string())
        })
    }

    fn delete_schedule(&self, id: i64) -> ClusterFuture<'_, Result<(), String>> {
        Box::pin(async move {
            schedules::delete_schedule(&self.client, &self.task_queue, id)
                .await
                .map_err(|refusal| refusal.to_string())
        })
    }

    fn describe(&self) -> String {
        format!("Temporal {}, task queue {}", self.address, self.task_queue)
    }
}

/// When `schedule` fires, in Temporal's terms (see [`FireTimes`]).
fn fire_times(schedule: &Schedule) -> Result<FireTimes, String> {
    match &schedule.timing {
        Timing::Every(secs) => FireTimes::every(*secs, schedule.created_at_ms),
        Timing::Cron(expression) => FireTimes::cron(expression),
    }
}
