//! `temporal`: the runner's step rate and per-step latency on Temporal with its state in
//! PostgreSQL, with 1 and 3 workers, beside the same workload embedded (SQLite, in-process
//! engine, one process). Every limit is off (an unlimited sandbox, `--no-rate-limits`), so the
//! figures are the platform's own cost per step, not the API's pace.
//!
//! The services and workers are the scale check's ([`crate::scale_check`]); the binaries are
//! the optimized ones (the `postgres,temporal` build for Temporal, the default one embedded).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use constant_contact_sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

use super::process::{finish, install, repeat_calls, spawn_run, write_workflow};
use super::table::Row;
use super::{Scale, timed, timed_with};
use crate::scale_check::Cluster;
use crate::scale_check::deployment::Deployment;

/// The method every step calls: a cheap read.
const METHOD: &str = "account.get_summary";

/// Measures Temporal with 1 and 3 workers and the embedded runner with `embedded` (the
/// optimized default binary).
pub fn temporal(
    root: &Path,
    embedded: &Path,
    dir: &Path,
    scale: Scale,
) -> anyhow::Result<Vec<Row>> {
    eprintln!("building the optimized plugboard with Temporal…");
    let binary = crate::test_command::build_temporal_binary_optimized(root)?;
    let steps = scale.temporal_steps.max(2);
    let one = workflow(dir, "one", 1)?;
    let many = workflow(dir, "many", steps)?;
    let unlimited = SandboxConfig {
        contacts: 10,
        ..SandboxConfig::default()
    }
    .unlimited();

    let mut cluster = Cluster::start(root, binary)?;
    let measured = (|| {
        let inputs = cluster.dir().join("no-inputs.json");
        std::fs::write(&inputs, "{}")?;
        let inputs = inputs.display().to_string();
        let mut single = Deployment::new(&cluster, "bench_one", unlimited.clone())?;
        // The workers' own default slots: a worker with one slot has no poll waiting while it
        // executes, so each next piece waits in the task queue (~50 ms more per piece here).
        single.start_workers(1, WORKER_SLOTS)?;
        let mut triple = Deployment::new(&cluster, "bench_three", unlimited.clone())?;
        triple.start_workers(3, WORKER_SLOTS)?;
        let (mut fixed_ms, mut per_step_ms, mut rate_one, mut rate_three) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..scale.runs {
            let fixed = timed(|| completed(single.start_run_of(&one, &inputs, NO_LIMITS)?))?;
            let serial = timed(|| completed(single.start_run_of(&many, &inputs, NO_LIMITS)?))?;
            let together = timed(|| {
                let runs = (0..3)
                    .map(|_| triple.start_run_of(&many, &inputs, NO_LIMITS))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                runs.into_iter().try_for_each(completed)
            })?;
            fixed_ms.push(fixed * 1e3);
            per_step_ms.push((serial - fixed) * 1e3 / f64::from(steps - 1));
            rate_one.push(f64::from(steps) / serial);
            rate_three.push(f64::from(3 * steps) / together);
        }
        Ok::<_, anyhow::Error>((fixed_ms, per_step_ms, rate_one, rate_three))
    })();
    let (fixed_ms, per_step_ms, rate_one, rate_three) = match measured {
        Ok(figures) => figures,
        Err(error) => {
            eprintln!("   logs kept in {}", cluster.keep_scratch().display());
            return Err(error);
        }
    };
    drop(cluster);

    let (embedded_fixed, embedded_step, embedded_rate) = embedded_figures(embedded, dir, scale)?;
    let shown = super::table::number(f64::from(steps), 0);
    let bench = "temporal";
    Ok(vec![
        Row::new(
            bench,
            format!("steps/s, one run of {shown} `{METHOD}` steps, embedded (SQLite, 1 process)"),
            embedded_rate,
            0,
        ),
        Row::new(
            bench,
            format!("steps/s, one run of {shown} steps on Temporal, 1 worker, PostgreSQL state"),
            rate_one,
            0,
        ),
        Row::new(
            bench,
            format!("steps/s, three runs of {shown} steps at once on Temporal, 3 workers"),
            rate_three,
            0,
        ),
        Row::new(
            bench,
            "ms per step, embedded, one-step run subtracted",
            embedded_step,
            2,
        ),
        Row::new(
            bench,
            "ms per step on Temporal, 1 worker, one-step run subtracted",
            per_step_ms,
            2,
        ),
        Row::new(
            bench,
            "ms for a one-step run, embedded (process start, store, validation, 1 request)",
            embedded_fixed,
            1,
        ),
        Row::new(
            bench,
            "ms for a one-step run on Temporal (client start, workflow start, worker pick-up, \
             result)",
            fixed_ms,
            1,
        ),
    ])
}

/// `plugboard worker --max-runs`'s default: the pieces one worker executes at once.
const WORKER_SLOTS: usize = 16;

/// Every limit off: the runner's and (with an unlimited sandbox) the API's.
const NO_LIMITS: &[&str] = &["--no-rate-limits"];

/// A workflow of `steps` sequential calls on the connection the scale check installs.
fn workflow(dir: &Path, name: &str, steps: u32) -> anyhow::Result<PathBuf> {
    let mut body = repeat_calls("cc", METHOD, steps, 1);
    body["name"] = json!(format!("bench temporal {name}"));
    body["connections"] =
        json!({"cc": {"connector": "constant-contact", "connection": "constant-contact"}});
    let file = dir.join(format!("temporal-{name}.json"));
    std::fs::write(&file, serde_json::to_vec_pretty(&body)?)
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(file)
}

/// Waits for a run on Temporal; fails unless it completed.
fn completed(run: crate::scale_check::deployment::RunProcess) -> anyhow::Result<()> {
    let end = run.finish(std::time::Duration::from_secs(600))?;
    if end.status != "completed" {
        bail!("a run ended {}:\n{}", end.status, end.stderr_tail);
    }
    Ok(())
}

/// The same workload embedded: one-step time, per-step time, steps per second.
fn embedded_figures(
    binary: &Path,
    dir: &Path,
    scale: Scale,
) -> anyhow::Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    let steps = scale.temporal_steps.max(2);
    let sandbox = Sandbox::spawn(
        SandboxConfig {
            contacts: 10,
            ..SandboxConfig::default()
        }
        .unlimited(),
    )?;
    let one = write_workflow(dir, "embedded-one", &repeat_calls("cc", METHOD, 1, 1))?;
    let many = write_workflow(dir, "embedded-many", &repeat_calls("cc", METHOD, steps, 1))?;
    let (mut fixed_ms, mut per_step_ms, mut rate) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..scale.runs {
        let state = dir.join(format!("embedded-{round}.db"));
        install(&sandbox, &state, &["cc".to_owned()])?;
        let fixed = timed(|| finish(spawn_run(binary, &state, &one, NO_LIMITS)?))?;
        let (serial, _) = timed_with(|| finish(spawn_run(binary, &state, &many, NO_LIMITS)?))?;
        fixed_ms.push(fixed * 1e3);
        per_step_ms.push((serial - fixed) * 1e3 / f64::from(steps - 1));
        rate.push(f64::from(steps) / serial);
    }
    sandbox.shutdown();
    Ok((fixed_ms, per_step_ms, rate))
}
