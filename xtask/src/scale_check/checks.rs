//! The checks of `cargo xtask scale-check`, each on its own deployment. Every figure that
//! decides a check comes from the sandbox's own counters, never from plugboard's.
//!
//! A request counted as *repeated* is one the sandbox served beyond the calls the runs make:
//! the workload's calls are idempotent upserts, so a call a dead worker sent and never heard
//! back from is sent again by the worker that resumes the run (its journal holds only answered
//! calls); an answered call is never sent again.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use constant_contact_sandbox::{SandboxConfig, Stats};

use super::deployment::{Deployment, RunProcess, emails};
use super::{Cluster, Figures};

/// A check: what it did, in a few words, or why it failed.
type Check = fn(&Cluster, &mut Figures) -> anyhow::Result<String>;

/// Every check, in order: its name (to run only some: `cargo xtask scale-check kills`), what it
/// checks, and the check.
pub const ALL: [(&str, &str, Check); 5] = [
    (
        "limit",
        "three workers share one app's 4 requests/second",
        shared_limit,
    ),
    (
        "tokens",
        "tokens expiring every 2 s, refreshed by one of three workers",
        expiring_tokens,
    ),
    (
        "kills",
        "kill -9 a worker in the middle of a run, 10 times",
        worker_kills,
    ),
    (
        "restarts",
        "restart PostgreSQL during runs",
        postgres_restarts,
    ),
    (
        "refusals",
        "wrong set-ups refused with nothing written",
        refusals,
    ),
];

/// The longest a check's runs may take, all together.
const RUNS_LIMIT: Duration = Duration::from_secs(360);
/// Constant Contact's limit on one app: requests per second.
const PER_SECOND: f64 = 4.0;

/// A sandbox with Constant Contact's real limits (4/s and 10,000/day per app) and a small
/// account.
fn real_limits() -> SandboxConfig {
    SandboxConfig {
        contacts: 10,
        ..SandboxConfig::default()
    }
}

/// Waits for every run; counts them in `figures`; fails unless all completed.
fn finish_all(runs: Vec<RunProcess>, figures: &mut Figures) -> anyhow::Result<()> {
    let deadline = Instant::now() + RUNS_LIMIT;
    let mut failed = Vec::new();
    for run in runs {
        let limit = deadline.saturating_duration_since(Instant::now());
        let end = run.finish(limit.max(Duration::from_secs(1)))?;
        figures.runs += 1;
        if end.status == "completed" {
            figures.completed += 1;
        } else {
            failed.push(format!("{}:\n{}", end.status, end.stderr_tail));
        }
    }
    ensure!(
        failed.is_empty(),
        "{} runs did not complete; the first: {}",
        failed.len(),
        failed[0]
    );
    Ok(())
}

/// Waits for `runs` (which make `calls` calls together), adds the sandbox's counters to
/// `figures`, and returns them with the requests served beyond the calls (sent again); fails,
/// with the workers' logs, unless every run completed and every call reached the sandbox.
fn settle(
    deployment: &Deployment<'_>,
    runs: Vec<RunProcess>,
    calls: u64,
    figures: &mut Figures,
) -> anyhow::Result<(Stats, u64)> {
    let finished = finish_all(runs, figures);
    let stats = deployment.sandbox.stats();
    figures.add_sandbox(&stats);
    let repeated = stats.api_served.saturating_sub(calls);
    figures.repeated_calls += repeated;
    finished.with_context(|| deployment.worker_logs())?;
    ensure!(
        stats.api_served >= calls,
        "only {} of {calls} calls reached the sandbox",
        stats.api_served
    );
    Ok((stats, repeated))
}

/// Starts `count` runs of `calls` upserts each.
fn start_runs(
    deployment: &mut Deployment<'_>,
    count: usize,
    calls: usize,
    check: &str,
) -> anyhow::Result<(Vec<RunProcess>, u64)> {
    let runs = (0..count)
        .map(|n| deployment.start_run(&emails(n, calls, check)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let total = runs.iter().map(|run| run.calls).sum();
    Ok((runs, total))
}

/// 3 workers, one `client_id`, 240 calls: at least 95 % of 4/s, no 429, never more than 4 in a
/// second, and every worker took part.
fn shared_limit(cluster: &Cluster, figures: &mut Figures) -> anyhow::Result<String> {
    let mut deployment = Deployment::new(cluster, "limit", real_limits())?;
    deployment.start_workers(3, 2)?;
    deployment.sandbox.reset_stats();
    let (runs, calls) = start_runs(&mut deployment, 12, 20, "limit")?;
    let (stats, _) = settle(&deployment, runs, calls, figures)?;
    let share = if stats.admitted_span_ms == 0 {
        0.0
    } else {
        (stats.api_served.saturating_sub(1)) as f64
            / (stats.admitted_span_ms as f64 / 1000.0 * PER_SECOND)
    };
    figures.limiter_share = (share * 1000.0).round() / 1000.0;
    let per_worker = deployment.pieces_per_worker();
    ensure!(
        stats.api_served == calls,
        "the sandbox served {} requests for {calls} calls: {stats:?}",
        stats.api_served
    );
    ensure!(stats.throttled_429 == 0, "429s: {stats:?}");
    ensure!(
        stats.peak_per_second <= 4,
        "more than 4 in a second: {stats:?}"
    );
    ensure!(
        share >= 0.95,
        "the workers reached {:.1} % of 4/s: {stats:?}",
        share * 100.0
    );
    ensure!(
        per_worker.iter().all(|&pieces| pieces > 0),
        "not every worker executed pieces of runs: {per_worker:?}"
    );
    Ok(format!(
        "{calls} calls in {:.1} s ({:.1} % of 4/s), peak {}/s, pieces per worker {per_worker:?}",
        stats.admitted_span_ms as f64 / 1000.0,
        share * 100.0,
        stats.peak_per_second
    ))
}

/// 20 runs over 3 workers on one connection whose access tokens expire every 2 s: no
/// `invalid_grant` (one refresher at a time, the rotated refresh token stored before use).
fn expiring_tokens(cluster: &Cluster, figures: &mut Figures) -> anyhow::Result<String> {
    let config = SandboxConfig {
        access_token_ttl: Duration::from_secs(2),
        ..real_limits()
    };
    let mut deployment = Deployment::new(cluster, "tokens", config)?;
    deployment.start_workers(3, 4)?;
    deployment.sandbox.reset_stats();
    let (runs, calls) = start_runs(&mut deployment, 20, 5, "tokens")?;
    let (stats, _) = settle(&deployment, runs, calls, figures)?;
    ensure!(stats.invalid_grants == 0, "invalid_grant: {stats:?}");
    ensure!(
        stats.refreshes >= 5,
        "tokens were refreshed only {} times in {:.1} s: the check did not test expiry",
        stats.refreshes,
        stats.admitted_span_ms as f64 / 1000.0
    );
    ensure!(stats.throttled_429 == 0, "429s: {stats:?}");
    Ok(format!(
        "{calls} calls, {} refreshes, 0 invalid_grant, {} answered 401 then refreshed",
        stats.refreshes, stats.unauthorized_401
    ))
}

/// How many workers are killed in the kill check.
const KILLS: u64 = 10;

/// 10 times, SIGKILL a worker executing a run (a replacement starts at once): every run
/// completes on the other workers, and no answered call is sent again (at most the one call in
/// flight on the killed worker: each worker runs one run at a time here).
fn worker_kills(cluster: &Cluster, figures: &mut Figures) -> anyhow::Result<String> {
    let mut deployment = Deployment::new(cluster, "kills", real_limits())?;
    deployment.start_workers(3, 1)?;
    deployment.sandbox.reset_stats();
    let (mut runs, calls) = start_runs(&mut deployment, 10, 20, "kills")?;
    let mut kills = 0;
    let deadline = Instant::now() + RUNS_LIMIT;
    std::thread::sleep(Duration::from_secs(3));
    while kills < KILLS && Instant::now() < deadline && runs.iter_mut().any(RunProcess::is_running)
    {
        if deployment.kill_a_busy_worker(1)? {
            kills += 1;
            eprintln!("   killed a busy worker ({kills}/{KILLS})");
            std::thread::sleep(Duration::from_secs(4));
        } else {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    figures.worker_kills += kills;
    let (stats, repeated) = settle(&deployment, runs, calls, figures)?;
    ensure!(
        kills == KILLS,
        "the runs ended after {kills} kills of {KILLS}"
    );
    ensure!(
        repeated <= kills,
        "{repeated} requests were sent again for {kills} kills: an answered call was repeated"
    );
    ensure!(stats.throttled_429 == 0, "429s: {stats:?}");
    Ok(format!(
        "{kills} kills, {calls} calls, {repeated} sent again (in flight when killed), {} \
         attempts retried",
        deployment.failed_attempts()
    ))
}

/// PostgreSQL restarted twice (a new server process each time) while runs are going: the runs
/// pause and continue, nothing is lost.
fn postgres_restarts(cluster: &Cluster, figures: &mut Figures) -> anyhow::Result<String> {
    let mut deployment = Deployment::new(cluster, "restarts", real_limits())?;
    deployment.start_workers(3, 2)?;
    deployment.sandbox.reset_stats();
    let (mut runs, calls) = start_runs(&mut deployment, 6, 20, "restarts")?;
    let mut restarts = 0;
    // Each restart once the runs are under way: after a sixth and after half of the calls
    // (bounded by the runs' own limit).
    for served in [calls / 6, calls / 2] {
        let deadline = Instant::now() + RUNS_LIMIT;
        while deployment.sandbox.stats().api_served < served && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        // A restart that lands after the runs ended would test nothing.
        ensure!(
            runs.iter_mut().any(RunProcess::is_running),
            "every run had ended before restart {}",
            restarts + 1
        );
        let before = cluster.postgres_pid()?;
        let began = Instant::now();
        cluster.restart_postgres()?;
        ensure!(
            cluster.postgres_pid()? != before,
            "PostgreSQL was not restarted (same process)"
        );
        restarts += 1;
        eprintln!(
            "   restarted PostgreSQL ({:.1} s)",
            began.elapsed().as_secs_f64()
        );
    }
    figures.postgres_restarts += restarts;
    let (stats, repeated) = settle(&deployment, runs, calls, figures)?;
    ensure!(stats.throttled_429 == 0, "429s: {stats:?}");
    ensure!(
        stats.peak_per_second <= 4,
        "more than 4 in a second: {stats:?}"
    );
    // Whether an attempt saw the restart depends on timing: a run between two store calls just
    // reconnects (the pool checks a connection before reuse); one in a store call fails its
    // attempt, is handed back and retried. Both are "pause and continue"; the count is shown.
    let retried = deployment.failed_attempts();
    Ok(format!(
        "{restarts} restarts during runs, {retried} attempts failed and were retried, {calls} \
         calls, {repeated} sent again"
    ))
}

/// Temporal or PostgreSQL unreachable, a wrong `PLUGBOARD_SECRET_KEY`, a database of a newer
/// schema: each a clear error naming what and where, a non-zero exit, nothing written.
fn refusals(cluster: &Cluster, figures: &mut Figures) -> anyhow::Result<String> {
    let deployment = Deployment::new(cluster, "refusals", real_limits())?;
    let counts = |url: &str| {
        cluster.query(
            url,
            "SELECT concat_ws(' ', (SELECT count(*) FROM partner_settings),
                    (SELECT count(*) FROM connections), (SELECT count(*) FROM tokens),
                    (SELECT count(*) FROM runs), (SELECT count(*) FROM journal_entries))",
        )
    };
    let before = counts(&deployment.state)?;
    let closed = free_port()?;
    let nowhere = format!("127.0.0.1:{closed}");
    let inputs = deployment.inputs_file(&emails(0, 1, "refusals"))?;
    let workload = cluster.workload.display().to_string();
    let run_args = |temporal: &str| {
        vec![
            "run".to_owned(),
            workload.clone(),
            "--temporal".to_owned(),
            temporal.to_owned(),
            "--task-queue".to_owned(),
            deployment.queue.clone(),
            "--inputs-file".to_owned(),
            inputs.clone(),
        ]
    };
    let worker_args = |temporal: &str| {
        vec![
            "worker".to_owned(),
            "--temporal".to_owned(),
            temporal.to_owned(),
            "--task-queue".to_owned(),
            deployment.queue.clone(),
        ]
    };

    let mut refused = 0;
    let mut expect_refusal = |what: &str,
                              state: &str,
                              args: &[String],
                              key: Option<&str>,
                              says: &[&str]|
     -> anyhow::Result<()> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut command = cluster.plugboard(state, &args);
        if let Some(key) = key {
            command.env("PLUGBOARD_SECRET_KEY", key);
        }
        let output = super::run_bounded(command, Duration::from_secs(60))?;
        ensure!(
            !output.status.success(),
            "{what}: `plugboard {}` succeeded",
            args.join(" ")
        );
        for needle in says {
            ensure!(
                output.stderr.contains(needle),
                "{what}: the error does not say `{needle}`:\n{}",
                output.stderr
            );
        }
        ensure!(
            !output.stderr.contains("panicked"),
            "{what}: a panic:\n{}",
            output.stderr
        );
        refused += 1;
        Ok(())
    };

    // Temporal unreachable: for the worker and for a run.
    expect_refusal(
        "Temporal unreachable (worker)",
        &deployment.state,
        &worker_args(&nowhere),
        None,
        &[&nowhere],
    )?;
    expect_refusal(
        "Temporal unreachable (run)",
        &deployment.state,
        &run_args(&nowhere),
        None,
        &[&nowhere],
    )?;
    ensure!(
        counts(&deployment.state)? == before,
        "a refused run wrote to the database"
    );

    // PostgreSQL unreachable, with a password that must not be repeated.
    let unreachable = format!("postgres://plugboard:PASSWORD-scale@{nowhere}/nowhere");
    let where_ = format!("{nowhere}/nowhere");
    for (what, args) in [
        (
            "PostgreSQL unreachable (worker)",
            worker_args(&cluster.temporal),
        ),
        ("PostgreSQL unreachable (run)", run_args(&cluster.temporal)),
    ] {
        expect_refusal(what, &unreachable, &args, None, &[&where_])?;
    }

    // Another key than the one the secrets were sealed with.
    let other_key = "b3RoZXIta2V5LW9mLXRoZS1zY2FsZS1jaGVjay0wMDA=";
    for (what, args) in [
        (
            "a wrong PLUGBOARD_SECRET_KEY (worker)",
            worker_args(&cluster.temporal),
        ),
        (
            "a wrong PLUGBOARD_SECRET_KEY (run)",
            run_args(&cluster.temporal),
        ),
    ] {
        expect_refusal(
            what,
            &deployment.state,
            &args,
            Some(other_key),
            &["PLUGBOARD_SECRET_KEY does not decrypt"],
        )?;
    }
    ensure!(
        counts(&deployment.state)? == before,
        "a wrong key wrote to the database"
    );

    // A database a newer plugboard migrated.
    cluster.query(
        &deployment.state,
        "INSERT INTO plugboard_schema_migrations (version, name, sha256) VALUES (9999, 'future', '')",
    )?;
    for (what, args) in [
        ("a newer schema (worker)", worker_args(&cluster.temporal)),
        ("a newer schema (run)", run_args(&cluster.temporal)),
    ] {
        expect_refusal(what, &deployment.state, &args, None, &["newer plugboard"])?;
    }
    ensure!(
        counts(&deployment.state)? == before,
        "a newer schema was written to"
    );
    figures.refusals += refused;
    Ok(format!("{refused} refusals, nothing written"))
}

/// A port of 127.0.0.1 nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("no free port")?;
    Ok(listener.local_addr()?.port())
}
