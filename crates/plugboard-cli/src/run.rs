//! `plugboard validate` and `plugboard run`: check a workflow file, plan it, run it, resume it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use plugboard_runner::store::RunClaim;
use plugboard_runner::{RunId, RunStatus, Session};
use plugboard_workflow::{Problem, RunError, ValidWorkflow, validate};
use serde_json::{Map, Value};

use crate::progress::Reporter;
use crate::sandbox::{RunSandbox, SandboxOptions};
use plugboard_runner::workflow::{FirstRequestProbe, SessionCatalog, SessionSteps, StoreJournal};

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
    /// Continue the failed run with this id, without repeating its completed steps (with the
    /// run's own inputs).
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["inputs", "inputs_file"])]
    pub resume: Option<i64>,
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
pub fn print_problems(path: &Path, problems: &[Problem], json: bool) {
    if json {
        let listing = serde_json::json!({ "file": path, "problems": problems });
        println!("{listing}");
        return;
    }
    for problem in problems {
        eprintln!("{}:{problem}", path.display());
    }
    eprintln!(
        "{}: {} problem{}",
        path.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
}

/// `plugboard validate`.
pub fn validate_command(
    path: &Path,
    session: &Session,
    sandbox: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match load(path, session, sandbox)? {
        Ok(workflow) => {
            if json {
                let ok = serde_json::json!({ "file": path, "problems": [], "steps": workflow.workflow().steps.len() });
                println!("{ok}");
            } else {
                println!(
                    "{}: valid ({} steps)",
                    path.display(),
                    workflow.workflow().steps.len()
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

/// `plugboard run`.
pub fn run_command(args: &RunArgs, session: &Session) -> anyhow::Result<ExitCode> {
    let workflow = match load(&args.workflow, session, args.sandbox)? {
        Ok(workflow) => workflow,
        Err(problems) => {
            print_problems(&args.workflow, &problems, args.json);
            return Ok(ExitCode::FAILURE);
        }
    };
    let reporter = Reporter::new(args.json);
    let sandbox = if args.sandbox {
        // Only the emulated connector's connections go to the sandbox; the others are used as
        // installed (validation checked them).
        let emulated: Vec<&str> = workflow
            .connections()
            .into_iter()
            .filter(|(_, connector)| *connector == crate::sandbox::CONNECTOR)
            .map(|(connection, _)| connection)
            .collect();
        let sandbox = RunSandbox::start(session, &args.sandbox_options, &emulated)?;
        reporter.note(&format!(
            "sandbox: Constant Contact emulator on {}",
            sandbox.sandbox().url()
        ));
        for connection in emulated {
            sandbox.connect(session, connection)?;
            reporter.note(&format!(
                "sandbox: connected `{connection}` (authorization code + PKCE)"
            ));
        }
        Some(sandbox)
    } else {
        None
    };

    let (run_id, inputs) = match args.resume {
        Some(id) => resume_target(session, RunId(id), &args.workflow)?,
        None => (None, read_inputs(args, &workflow)?),
    };
    let inputs = match workflow.check_inputs(&inputs) {
        Ok(inputs) => inputs,
        Err(problems) => {
            reporter.finish();
            print_problems(&args.workflow, &problems, args.json);
            return Ok(ExitCode::FAILURE);
        }
    };

    if args.dry_run {
        reporter.finish();
        let plan = plugboard_workflow::plan(&workflow, &inputs, &FirstRequestProbe::new(session));
        if args.json {
            println!("{}", serde_json::to_string(&plan)?);
        } else {
            print!("{plan}");
        }
        return Ok(ExitCode::SUCCESS);
    }

    let store = session.store();
    let run_id = match run_id {
        Some(id) => {
            match store.claim_run(id)? {
                RunClaim::Claimed { elsewhere: None } => {}
                RunClaim::Claimed {
                    elsewhere: Some(host),
                } => reporter.note(&format!(
                    "run {} was marked running on host `{host}`, whose processes cannot be \
                     checked from here; resuming it",
                    id.0
                )),
                RunClaim::Busy { pid } => bail!(
                    "run {} is still running in process {pid}: resuming it now would send its \
                     remaining calls twice. Wait for it to end, or stop it (Ctrl-C) and resume then",
                    id.0
                ),
                RunClaim::Completed => {
                    bail!("run {} already completed; there is nothing to resume", id.0)
                }
                RunClaim::Unknown => bail!("there is no run {} in this state file", id.0),
            }
            id
        }
        None => store.create_run(
            &args.workflow.display().to_string(),
            &Value::Object(inputs.clone()),
        )?,
    };
    let journal = StoreJournal::open(store.as_ref(), run_id)?;
    reporter.note(&format!(
        "run {}: {}{}",
        run_id.0,
        workflow.workflow().name,
        if journal.resumed_entries() > 0 {
            format!(" (resumed; {} entries done)", journal.resumed_entries())
        } else {
            String::new()
        }
    ));
    let steps = SessionSteps::new(session, &workflow.workflow().name, run_id);
    let outcome = plugboard_workflow::run(&workflow, inputs, &steps, &journal, &reporter);
    reporter.finish();
    let sandbox_stats = sandbox
        .as_ref()
        .map(|s| crate::sandbox::stats_line(s.sandbox()));
    match outcome {
        Ok(outcome) => {
            steps.commit_cursors()?;
            let result = serde_json::json!({
                "run": run_id.0,
                "status": "completed",
                "outputs": outcome.outputs,
            });
            // Marked succeeded only once its outputs are out: a run whose `--output` file
            // cannot be written stays resumable (every step is journaled, so a resume sends
            // nothing and writes them again), and the outputs go to standard output meanwhile.
            if let Err(error) = write_result(args, &result, sandbox_stats) {
                store.finish_run(run_id, RunStatus::Failed, Some(&format!("{error:#}")))?;
                println!("{}", serde_json::to_string_pretty(&result["outputs"])?);
                eprintln!("error: {error:#}");
                eprintln!(
                    "every step of run {} is done; its outputs are printed above. Write them \
                     again with: {}",
                    run_id.0,
                    resume_command(run_id)
                );
                return Ok(ExitCode::FAILURE);
            }
            store.finish_run(run_id, RunStatus::Succeeded, None)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            let status = if matches!(error, RunError::Cancelled { .. }) {
                RunStatus::Cancelled
            } else {
                RunStatus::Failed
            };
            store.finish_run(run_id, status, Some(&error.to_string()))?;
            if args.json {
                let result = serde_json::json!({
                    "event": "run_failed", "run": run_id.0, "error": error.to_string(),
                });
                println!("{result}");
            } else {
                eprintln!("error: run {} failed: {error}", run_id.0);
                eprintln!("resume it with: {}", resume_command(run_id));
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The run to resume and its recorded inputs; it must be this workflow's and not completed.
fn resume_target(
    session: &Session,
    id: RunId,
    workflow: &Path,
) -> anyhow::Result<(Option<RunId>, Map<String, Value>)> {
    let Some(record) = session.store().run(id)? else {
        bail!("there is no run {} in this state file", id.0);
    };
    if record.workflow != workflow.display().to_string() {
        bail!(
            "run {} is of workflow {}, not {}",
            id.0,
            record.workflow,
            workflow.display()
        );
    }
    if record.status == RunStatus::Succeeded {
        bail!("run {} already completed; there is nothing to resume", id.0);
    }
    let inputs = match record.inputs {
        Value::Object(inputs) => inputs,
        _ => Map::new(),
    };
    Ok((Some(id), inputs))
}

/// The run inputs from `--inputs-file` and `--input`.
fn read_inputs(args: &RunArgs, workflow: &ValidWorkflow) -> anyhow::Result<Map<String, Value>> {
    let mut inputs = match &args.inputs_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the inputs file {}", path.display()))?;
            match serde_json::from_str(&text)
                .with_context(|| format!("the inputs file {} is not JSON", path.display()))?
            {
                Value::Object(inputs) => inputs,
                _ => bail!("the inputs file {} must hold a JSON object", path.display()),
            }
        }
        None => Map::new(),
    };
    let schema = workflow.workflow().inputs.as_ref();
    for pair in &args.inputs {
        let Some((name, text)) = pair.split_once('=') else {
            bail!("--input `{pair}` is not of the form NAME=VALUE");
        };
        let declared_string = schema
            .and_then(|s| s.get("properties"))
            .and_then(|p| p.get(name))
            .and_then(|p| p.get("type"))
            .is_some_and(|t| t == "string");
        let value = if declared_string {
            Value::String(text.to_owned())
        } else {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
        };
        inputs.insert(name.to_owned(), value);
    }
    Ok(inputs)
}

/// The command that resumes `run`: this one as it was typed (state file, plugins, sandbox and
/// all), without its inputs (a resume reuses the run's) and with `--resume`.
fn resume_command(run: RunId) -> String {
    let mut words = vec!["plugboard".to_owned()];
    let mut typed = std::env::args().skip(1);
    while let Some(arg) = typed.next() {
        if matches!(arg.as_str(), "--input" | "--inputs-file" | "--resume") {
            typed.next();
        } else if !["--input=", "--inputs-file=", "--resume="]
            .iter()
            .any(|flag| arg.starts_with(flag))
        {
            words.push(shell_quoted(&arg));
        }
    }
    words.push(format!("--resume {}", run.0));
    words.join(" ")
}

/// `word` as a POSIX shell would need it typed.
fn shell_quoted(word: &str) -> String {
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
fn write_result(
    args: &RunArgs,
    result: &Value,
    sandbox_stats: Option<Value>,
) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(&result["outputs"])?;
    if let Some(path) = &args.output {
        std::fs::write(path, format!("{text}\n"))
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
