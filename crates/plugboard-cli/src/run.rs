//! `plugboard validate` and `plugboard run`: check a workflow file, plan it, run it, resume it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use constant_contact_sandbox::AccountSnapshot;
use plugboard_runner::store::RunClaim;
use plugboard_runner::workflow::{FirstRequestProbe, SessionCatalog, SessionSteps, StoreJournal};
use plugboard_runner::{RunId, RunStatus, Session};
use plugboard_workflow::{Failure, Problem, RunError, ValidWorkflow, validate};
use serde_json::Value;

use crate::inputs;
use crate::progress::Reporter;
use crate::resume::{self, Resume, WorkflowIdentity};
use crate::sandbox::{RunSandbox, SandboxOptions};
use crate::signals::StopSignal;

/// Options of `plugboard run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The workflow file (JSON).
    pub workflow: PathBuf,
    /// A run input, `name=value`; the value is JSON when the input's schema is not a string
    /// (e.g. `count=5`, `tags=["a","b"]`). Repeatable.
    #[arg(long = "input", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// A JSON file with the run inputs (an object); `--input` values win.
    #[arg(long, value_name = "FILE")]
    pub inputs_file: Option<PathBuf>,
    /// Connect this workflow's Constant Contact connections to a local sandbox started for this
    /// run (no network needed); connections of other connectors are used as installed.
    #[arg(long)]
    pub sandbox: bool,
    #[command(flatten)]
    pub sandbox_options: SandboxOptions,
    /// Write the run's outputs (JSON) to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print events and the result as JSON lines on standard output.
    #[arg(long)]
    pub json: bool,
    /// Print the plan (steps, first requests, request count) and send nothing to the API.
    #[arg(long)]
    pub dry_run: bool,
    /// Continue the failed run with this id, without repeating its completed steps. It keeps
    /// the run's inputs; `--input` may correct one that no completed step used. A `--sandbox`
    /// run resumes against the sandbox account it left.
    #[arg(long, value_name = "RUN_ID")]
    pub resume: Option<i64>,
    /// With --resume: go on although the workflow's steps or connections changed since the run
    /// started (completed steps are matched by id and still not repeated).
    #[arg(long, requires = "resume")]
    pub accept_changed_steps: bool,
    /// With --resume: a call whose outcome is unknown (sent, never answered) did not take
    /// effect; send it again. KEY is the step id, or `step[n]` for call n of a loop, as the
    /// error named it. Repeatable.
    #[arg(long, value_name = "KEY", requires = "resume")]
    pub resend: Vec<String>,
    /// With --resume: a call whose outcome is unknown did take effect; do not send it again
    /// (its output is `null`). Repeatable.
    #[arg(long, value_name = "KEY", requires = "resume")]
    pub mark_done: Vec<String>,
    /// Wait for a used-up daily quota to reset instead of failing.
    #[arg(long)]
    pub wait_for_quota: bool,
    /// Do not enforce the connectors' rate limits in the runner (for unlimited test servers).
    #[arg(long)]
    pub no_rate_limits: bool,
    /// Abandon a connector call whose own code runs this many seconds without calling the host
    /// (no request, record, log or sleep): a hung plugin fails its step instead of the run
    /// waiting forever. 0 never abandons a call.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub connector_stall_timeout: u64,
    /// Start the run on the Temporal cluster at HOST:PORT, where `plugboard worker`s execute
    /// it, and wait for it; needs `--state postgres://…`. With --resume ID: wait for run ID
    /// (never started twice).
    #[cfg(feature = "temporal")]
    #[arg(long, value_name = "HOST:PORT")]
    pub temporal: Option<String>,
    /// With --temporal: the task queue its workers poll.
    #[cfg(feature = "temporal")]
    #[arg(long, value_name = "NAME", requires = "temporal", default_value = plugboard_temporal::TASK_QUEUE)]
    pub task_queue: String,
    /// With --temporal: the history events one execution of the run may reach before it
    /// continues as new (each step and each call of a loop adds a few).
    #[cfg(feature = "temporal")]
    #[arg(long, value_name = "EVENTS", requires = "temporal", default_value_t = plugboard_temporal::workflow::HISTORY_EVENTS, value_parser = clap::value_parser!(u32).range(100..))]
    pub history_events: u32,
}

/// Reads and validates a workflow file, with the installed connections it names; for a
/// `sandbox` run the sandbox's connector's connections are made later, so they are not checked.
pub fn load(
    path: &Path,
    session: &Session,
    sandbox: bool,
) -> anyhow::Result<Result<ValidWorkflow, Vec<Problem>>> {
    let source = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the workflow {}", path.display()))?;
    let mut catalog = SessionCatalog::new(session.registry(), Some(session));
    if sandbox {
        catalog = catalog.without_checking(crate::sandbox::CONNECTOR);
    }
    Ok(validate(&source, &catalog))
}

/// Prints validation problems as `file:line:column: pointer: message`, or as JSON.
///
/// A document of the wrong shape can have a problem per element; the human listing shows the
/// first 50 and says how many more there are (the JSON has them all).
pub fn print_problems(path: &Path, problems: &[Problem], json: bool) {
    const MAX_LISTED: usize = 50;
    if json {
        let listing = serde_json::json!({ "file": path, "problems": problems });
        println!("{listing}");
        return;
    }
    for problem in problems.iter().take(MAX_LISTED) {
        eprintln!("{}:{problem}", path.display());
    }
    if problems.len() > MAX_LISTED {
        eprintln!(
            "{}: … and {} more (--json lists them all)",
            path.display(),
            problems.len() - MAX_LISTED
        );
    }
    eprintln!(
        "{}: {} problem{}",
        path.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
}

/// Prints warnings as `file:line:column: warning: pointer: message` on standard error.
fn print_warnings(path: &Path, warnings: &[Problem]) {
    for warning in warnings {
        let at = if warning.line > 0 {
            format!("{}:{}:", warning.line, warning.column)
        } else {
            String::new()
        };
        // Without its position, a problem displays as `pointer: message`, the pointer cut to
        // an excerpt.
        let unplaced = Problem {
            line: 0,
            column: 0,
            ..warning.clone()
        };
        eprintln!("{}:{at} warning: {unplaced}", path.display());
    }
}

/// `plugboard validate`.
///
/// Warnings (what could not be checked before the run, e.g. a field of an output whose schema
/// leaves it open) are printed as `file:line:column: warning: pointer: message` on standard
/// error, or under `warnings` in the JSON, and keep the exit status 0.
pub fn validate_command(
    path: &Path,
    session: &Session,
    sandbox: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    fn counted(n: usize, what: &str) -> String {
        format!("{n} {what}{}", if n == 1 { "" } else { "s" })
    }
    match load(path, session, sandbox)? {
        Ok(workflow) => {
            let steps = workflow.workflow().steps.len();
            let warnings = workflow.warnings();
            if json {
                let ok = serde_json::json!({
                    "file": path,
                    "problems": [],
                    "warnings": warnings,
                    "steps": steps,
                });
                println!("{ok}");
            } else {
                print_warnings(path, warnings);
                let warned = if warnings.is_empty() {
                    String::new()
                } else {
                    format!(", {}", counted(warnings.len(), "warning"))
                };
                println!(
                    "{}: valid ({}{warned})",
                    path.display(),
                    counted(steps, "step")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            print_problems(path, &problems, json);
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `plugboard run`: checks everything that can be checked (workflow, inputs, the run to resume,
/// the output file) before a sandbox starts or a token is spent, then runs, journals and reports.
pub fn run_command(
    args: &RunArgs,
    session: &Session,
    state_file: &Path,
    stop: &StopSignal,
) -> anyhow::Result<ExitCode> {
    let workflow = match load(&args.workflow, session, args.sandbox)? {
        Ok(workflow) => workflow,
        Err(problems) => {
            print_problems(&args.workflow, &problems, args.json);
            return Ok(ExitCode::FAILURE);
        }
    };
    if !args.json {
        print_warnings(&args.workflow, workflow.warnings());
    }
    let identity = WorkflowIdentity::of(&args.workflow, &workflow)?;
    let declared = inputs::Declared::new(workflow.workflow().inputs.as_ref());
    let given = inputs::read(&declared, args.inputs_file.as_deref(), &args.inputs)?;
    let resume = match args.resume {
        Some(id) => Some(resume::prepare(
            session,
            RunId(id),
            &identity,
            &workflow,
            given.clone(),
            args.accept_changed_steps,
        )?),
        None => None,
    };
    let given = resume
        .as_ref()
        .map_or(given, |resume| resume.inputs.clone());
    let inputs = match workflow.check_inputs(&given) {
        Ok(inputs) => inputs,
        Err(problems) => {
            print_problems(&args.workflow, &problems, args.json);
            return Ok(ExitCode::FAILURE);
        }
    };
    if let Some(output) = &args.output {
        check_output(output, state_file)?;
    }
    let saved_account = match (&resume, args.sandbox) {
        (Some(resume), true) => sandbox_account_for(resume, state_file, &args.workflow)?,
        _ => None,
    };

    // Only the emulated connector's connections go to the sandbox; the others are used as
    // installed (validation checked them).
    let emulated: Vec<&str> = workflow
        .connections()
        .into_iter()
        .filter(|(_, connector)| args.sandbox && *connector == crate::sandbox::CONNECTOR)
        .map(|(connection, _)| connection)
        .collect();
    if args.dry_run {
        let probe = FirstRequestProbe::new(session).with_unconnected(
            emulated
                .iter()
                .map(|name| ((*name).to_owned(), crate::sandbox::CONNECTOR.to_owned())),
        );
        let plan = plugboard_workflow::plan(&workflow, &inputs, &probe);
        if args.json {
            println!("{}", serde_json::to_string(&plan)?);
        } else {
            print!("{plan}");
        }
        return Ok(ExitCode::SUCCESS);
    }

    let reporter = Reporter::new(args.json);
    let sandbox = if args.sandbox {
        let restored = saved_account.is_some();
        let sandbox = RunSandbox::start(session, &args.sandbox_options, &emulated, saved_account)?;
        reporter.note(&format!(
            "sandbox: Constant Contact emulator on {}{}",
            sandbox.sandbox().url(),
            if restored {
                " (with the account as the run left it)"
            } else {
                ""
            }
        ));
        for connection in &emulated {
            sandbox.connect(session, connection)?;
            reporter.note(&format!(
                "sandbox: connected `{connection}` (authorization code + PKCE)"
            ));
        }
        Some(sandbox)
    } else {
        None
    };

    let store = session.store();
    let run_id = match &resume {
        Some(resume) => {
            claim(session, resume.run, &reporter)?;
            if !resume.changed.is_empty() {
                let inputs = Value::Object(resume.inputs.clone());
                session.block_on(store.set_run_inputs(resume.run, &inputs))?;
                reporter.note(&format!(
                    "run {}: input{} {} corrected",
                    resume.run.0,
                    if resume.changed.len() == 1 { "" } else { "s" },
                    resume.changed.join(", ")
                ));
            }
            resume.run
        }
        None => session.block_on(store.create_run(
            &identity.path,
            &identity.digest,
            &Value::Object(inputs.clone()),
        ))?,
    };
    if !args.resend.is_empty() || !args.mark_done.is_empty() {
        // Settled in a journal of their own: the run's is read afterwards, with them in it.
        let settling = StoreJournal::open(store.as_ref(), session.handle().clone(), run_id)?;
        for note in resume::settle_unknown_calls(&settling, run_id, &args.resend, &args.mark_done)?
        {
            reporter.note(&note);
        }
    }
    let journal = StoreJournal::open(store.as_ref(), session.handle().clone(), run_id)?;
    reporter.note(&format!(
        "run {}: {}{}",
        run_id.0,
        workflow.workflow().name,
        match journal.resumed_entries() {
            0 => String::new(),
            1 => " (resumed; 1 entry done)".to_owned(),
            n => format!(" (resumed; {n} entries done)"),
        }
    ));
    let steps = SessionSteps::new(session, &workflow.workflow().name, run_id);
    let options = plugboard_workflow::RunOptions {
        state_file: Some(state_file.to_owned()),
        ..plugboard_workflow::RunOptions::default()
    };
    let outcome =
        plugboard_workflow::run_with(&workflow, inputs, &steps, &journal, &reporter, &options);
    reporter.finish();
    let account_file = crate::sandbox::account_file(state_file, run_id);
    let sandbox_stats = sandbox
        .as_ref()
        .map(|s| crate::sandbox::stats_line(s.sandbox()));
    match outcome {
        Ok(outcome) => {
            steps.commit_cursors()?;
            // Kept with the run before it reads completed: a caller whose answer is lost (a
            // Temporal worker killed before it reported) is handed them later.
            let outputs = Value::Object(outcome.outputs);
            session.block_on(plugboard_runner::workflow::record_outputs(
                store.as_ref(),
                run_id,
                &outputs,
            ))?;
            let result = serde_json::json!({
                "run": run_id.0,
                "status": "completed",
                "outputs": outputs,
            });
            // Marked completed only once its outputs are out: a run whose `--output` file
            // cannot be written stays resumable (every step is journaled, so a resume sends
            // nothing and writes them again), and the outputs go to standard output meanwhile.
            if let Err(error) = write_result(args, &result, sandbox_stats) {
                let why = format!("{error:#}");
                session.block_on(store.finish_run(run_id, RunStatus::Failed, Some(&why)))?;
                if let Some(sandbox) = &sandbox {
                    crate::sandbox::save_account(sandbox.sandbox(), &account_file)?;
                }
                println!("{}", serde_json::to_string_pretty(&result["outputs"])?);
                eprintln!("error: {error:#}");
                eprintln!(
                    "every step of run {} is done; its outputs are printed above. Write them \
                     to a file that can be written with: {} --output FILE",
                    run_id.0,
                    resume_command(run_id, &["--output"])
                );
                return Ok(ExitCode::FAILURE);
            }
            session.block_on(store.finish_run(run_id, RunStatus::Completed, None))?;
            if sandbox.is_some() {
                // Nothing is left to resume; a file that cannot be removed is merely left over.
                let _ = std::fs::remove_file(&account_file);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            let cancelled = matches!(error, RunError::Cancelled { .. });
            let status = if cancelled {
                RunStatus::Cancelled
            } else {
                RunStatus::Failed
            };
            let why = error.to_string();
            session.block_on(store.finish_run(run_id, status, Some(&why)))?;
            let resumable = match &sandbox {
                Some(sandbox) => crate::sandbox::save_account(sandbox.sandbox(), &account_file)
                    .map_err(|error| format!("{error:#}")),
                None => Ok(()),
            };
            if args.json {
                let result = serde_json::json!({
                    "event": "run_failed", "run": run_id.0, "error": error.to_string(),
                    "resumable": resumable.is_ok(),
                });
                println!("{result}");
            } else {
                eprintln!("error: run {} failed: {error}", run_id.0);
                let unknown = match &error {
                    RunError::StepFailed {
                        failure: Failure::OutcomeUnknown { key, .. },
                        ..
                    } => Some(key),
                    _ => None,
                };
                match (&resumable, unknown) {
                    (Ok(()), Some(key)) => {
                        let resume = resume_command(run_id, &[]);
                        let key = shell_quoted(key);
                        eprintln!("if it took effect, resume with: {resume} --mark-done {key}");
                        eprintln!("if it did not, resume with: {resume} --resend {key}");
                    }
                    (Ok(()), None) => {
                        eprintln!("resume it with: {}", resume_command(run_id, &[]));
                    }
                    (Err(why), _) => eprintln!(
                        "it cannot be resumed: {why}; a new sandbox would not hold what its \
                         completed steps created. Start it again instead"
                    ),
                }
            }
            let code = match stop.exit_code() {
                Some(code) if cancelled => ExitCode::from(code),
                _ => ExitCode::FAILURE,
            };
            Ok(code)
        }
    }
}

/// Takes run `run` over for this process, or says why it cannot be.
fn claim(session: &Session, run: RunId, reporter: &Reporter) -> anyhow::Result<()> {
    match session.block_on(session.store().claim_run(run))? {
        RunClaim::Claimed {
            elsewhere: None, ..
        } => Ok(()),
        RunClaim::Claimed {
            elsewhere: Some(host),
            ..
        } => {
            reporter.note(&format!(
                "run {} was marked running on host `{host}`, whose processes cannot be checked \
                 from here; resuming it",
                run.0
            ));
            Ok(())
        }
        RunClaim::Busy { pid } => bail!(
            "run {} is still running in process {pid}: resuming it now would send its remaining \
             calls twice. Wait for it to end, or stop it (Ctrl-C) and resume then",
            run.0
        ),
        RunClaim::Completed => bail!(
            "run {} already completed; there is nothing to resume",
            run.0
        ),
        RunClaim::Unknown => bail!("there is no run {} in this state file", run.0),
    }
}

/// The sandbox account a `--sandbox` resume starts from: the one its run left. A run that
/// journaled something but left no account (it was killed) cannot go on against a fresh sandbox,
/// which would not hold what its completed steps created.
fn sandbox_account_for(
    resume: &Resume,
    state_file: &Path,
    workflow: &Path,
) -> anyhow::Result<Option<AccountSnapshot>> {
    let file = crate::sandbox::account_file(state_file, resume.run);
    match crate::sandbox::load_account(&file)? {
        Some(account) => Ok(Some(account)),
        None if resume.journaled == 0 => Ok(None),
        None => bail!(
            "run {} cannot be resumed against a sandbox: the sandbox account it ran against was \
             not saved (the process was killed before it could save it), and a new sandbox would \
             not hold what its completed steps created. Start a new run instead: plugboard run \
             {} --sandbox",
            resume.run.0,
            shell_quoted(&workflow.display().to_string())
        ),
    }
}

/// Refuses an `--output` that cannot be written, before anything runs: the state file (which
/// holds every connection's tokens), a symbolic link (no output is written through one), a
/// directory, or a place without write permission.
fn check_output(path: &Path, state_file: &Path) -> anyhow::Result<()> {
    if crate::state::is_state_file(path, state_file) {
        bail!(
            "--output {} is the state file (or its journal); writing there would destroy every \
             connection and token. Name another file",
            path.display()
        );
    }
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        bail!(
            "--output {} is a symbolic link; no output is written through one. Name the file \
             itself",
            path.display()
        );
    }
    if path.is_dir() {
        bail!("--output {} is a directory; name a file", path.display());
    }
    let probe = std::fs::OpenOptions::new().write(true).open(path);
    match probe {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            // Create it and take it back: the only sure test that the folder takes a new file.
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .and_then(|_| std::fs::remove_file(path))
                .with_context(|| format!("--output {} cannot be written", path.display()))
        }
        Err(error) => {
            Err(error).with_context(|| format!("--output {} cannot be written", path.display()))
        }
    }
}

/// The command that resumes `run`: this one as it was typed (state file, plugins, sandbox and
/// all), without its inputs (a resume reuses the run's), without the options in `leave_out`,
/// and with `--resume`.
fn resume_command(run: RunId, leave_out: &[&str]) -> String {
    let with_value = ["--input", "--inputs-file", "--resume"];
    let mut words = vec!["plugboard".to_owned()];
    let mut typed = std::env::args().skip(1);
    while let Some(arg) = typed.next() {
        let dropped = |flag: &&str| {
            arg.strip_prefix(*flag)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('='))
        };
        if with_value.iter().chain(leave_out).any(dropped) {
            if !arg.contains('=') {
                typed.next();
            }
        } else {
            words.push(shell_quoted(&arg));
        }
    }
    words.push(format!("--resume {}", run.0));
    words.join(" ")
}

/// `word` as a POSIX shell would need it typed.
pub fn shell_quoted(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Prints (or writes) the result of a successful run.
pub(crate) fn write_result(
    args: &RunArgs,
    result: &Value,
    sandbox_stats: Option<Value>,
) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(&result["outputs"])?;
    if let Some(path) = &args.output {
        // The file the user named is replaced; new, it is private (outputs may hold contact
        // data); never written through a symbolic link. `check_output` refused the state file.
        plugboard_workflow::output::create(
            path,
            plugboard_workflow::output::Existing::Replace,
            None,
        )
        .map_err(anyhow::Error::from)
        .and_then(|mut file| {
            std::io::Write::write_all(&mut file, format!("{text}\n").as_bytes())?;
            Ok(())
        })
        .with_context(|| format!("cannot write the outputs to {}", path.display()))?;
    }
    if args.json {
        let mut line = serde_json::json!({ "event": "run_finished" });
        if let (Some(line), Some(result)) = (line.as_object_mut(), result.as_object()) {
            line.extend(result.clone());
            if let Some(stats) = sandbox_stats {
                line.insert("sandbox".into(), stats);
            }
        }
        println!("{line}");
    } else if args.output.is_none() {
        println!("{text}");
    } else {
        eprintln!(
            "run {} completed; outputs written to {}",
            result["run"],
            args.output.as_deref().unwrap_or(Path::new("")).display()
        );
    }
    Ok(())
}
