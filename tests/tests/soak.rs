//! The soak test of `.ci/run` (issue "Reliability and safety for unattended runs"): twenty
//! `plugboard run --json` processes share one connection and one state file against a sandbox at
//! Constant Contact's real limits (4 API requests per second, 1 token request per second), while
//! - access tokens live 5 s and every one of them is revoked every 2 s,
//! - storms pass: 5xx on 30 % of API requests, bursts of forced 429s, and 20 % of creates whose
//!   answer is lost after the sandbox made the contact (then calm again),
//! - processes are stopped mid-run with SIGKILL or SIGTERM (seeded choices), and every stopped
//!   run is resumed (`--resume N`, after SIGTERM from what the process printed) until it completes.
//!
//! Each run creates 3 to 5 contacts with addresses no other run uses, between two reads. At the end
//! the test prints one line, `soak: runs=… completed=… unauthorized=… invalid_grant=… above_limit=…
//! sent_twice=… lost=… (…)`, computed from the sandbox's own data and counters and from the journal,
//! and asserts every figure but `runs` is 0 and `completed == runs`:
//! - `runs`: runs the state file holds (one per process: a process stopped before its run was
//!   journaled is started again, not resumed); `completed`: those whose status is `completed`.
//! - `unauthorized`: process attempts whose output says a call failed `unauthorized` (the
//!   `run_failed` error, or an item's error, also one the workflow's step retry then absorbed):
//!   a 401 the runner's refresh did not absorb, so a workflow without a retry would have failed.
//! - `invalid_grant`: the sandbox's refused refresh grants plus attempts that mention one.
//! - `above_limit`: requests the sandbox refused for being over a limit *because of the runner*:
//!   its `throttled_429` minus the 429s the storms forced (those are the server's doing, not our
//!   excess), plus its `quota_429`. The sandbox's `peak_per_second` cannot show an excess (its
//!   rolling window refuses a fifth request instead of admitting it), so the 429s it answered are
//!   the measure. Forced bursts are held until enough requests arrived to use them up, so their
//!   count is exact.
//! - `sent_twice`: creates sent again after one took effect: addresses with more than one
//!   contact, or that some output says already exist (409 `already_exists`), plus attempts whose
//!   debug log shows a 409 answer it could not attribute to an address.
//! - `lost`: addresses of completed runs without a contact, and addresses whose create a journal
//!   records as done while the sandbox has no contact (creates an unfinished run never got to are
//!   `not_done`, an extra figure).
//!
//! Besides, each completed run's journal must hold every key once, no call left in flight, and for
//! each create the sandbox's contact of that address; and no secret may be in the journal or logs.
//!
//! The line is written straight to the process's stderr (`std::io::stderr().write_all`), which the
//! test harness does not capture (it captures only the `print!`/`eprint!` macros), so `cargo test`
//! shows it whether the test passes or fails; it is also written to `target/soak-figures.txt`.
//!
//! Bounded: runs must complete within [`BUDGET`] of the first spawn, each attempt is bounded, each
//! run has at most [`ATTEMPTS`] attempts. Everything is on 127.0.0.1. `PLUGBOARD_CHAOS_SEED=<seed>`
//! replays the seeded choices (which processes are stopped, how and when; the storms).

#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use constant_contact_sandbox::{Faults, Sandbox};
use plugboard_tests::chaos;
use plugboard_tests::e2e::{
    EXAMPLE_CONNECTION, Output, Running, Workspace, fixture, sandbox_config, start_sandbox,
};
use serde_json::{Value, json};

/// Concurrent processes, one run each.
const PROCESSES: usize = 20;
/// Constant Contact's API limit per client_id and second (the sandbox's and the runner's).
const PER_SECOND: u32 = 4;
/// Constant Contact's daily limit: far above what the soak sends.
const DAILY: u32 = 10_000;
/// Access-token lifetime.
const TOKEN_TTL: Duration = Duration::from_secs(5);
/// Every access token issued so far is revoked this often.
const REVOKE_EVERY: Duration = Duration::from_secs(2);
/// Every run must have completed within this long of the first spawn; a process still running
/// then is killed and its run counts as not completed.
const BUDGET: Duration = Duration::from_secs(150);
/// Most process starts per run (the first one included).
const ATTEMPTS: usize = 8;
/// Most stops (SIGKILL or SIGTERM) per run.
const MAX_STOPS: usize = 2;
/// First attempts stopped with SIGKILL (seeded choice of which processes).
const FIRST_KILLS: usize = 4;
/// First attempts stopped with SIGTERM (seeded choice of which processes).
const FIRST_TERMS: usize = 4;
/// Share of resumes stopped again (while the run's stops last).
const RESUME_STOP_SHARE: f64 = 0.25;
/// How long a process may take to end after SIGTERM (requests in flight finish first).
const TERM_GRACE: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Kill,
    Term,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Self::Kill => "KILL",
            Self::Term => "TERM",
        }
    }
}

/// A seeded stop of one attempt: this signal, this long after the spawn.
#[derive(Debug, Clone, Copy)]
struct Stop {
    signal: Signal,
    after: Duration,
}

/// One process's work: its addresses, and the stops drawn for its attempts (index = attempt).
#[derive(Debug)]
struct Job {
    index: usize,
    emails: Vec<String>,
    stops: Vec<Option<Stop>>,
}

/// How one process ended.
#[derive(Debug, Clone, PartialEq)]
enum Ended {
    /// Exit 0 with `run_finished`.
    Finished,
    /// `run_failed` without a signal of ours: the runner gave up on something.
    Failed { error: String },
    /// Our SIGTERM cancelled it gracefully (exit 143, `run_failed`, `resumable`).
    Cancelled,
    /// Our SIGTERM ended it gracefully (exit 143) before it had started a run.
    CancelledBeforeRun,
    /// Our signal ended it without its own cleanup (SIGKILL, or SIGTERM before its handler).
    Killed(Signal),
    /// It outlived the budget or the SIGTERM grace and was killed.
    TimedOut,
    /// Any other exit (no JSON result line): its `error:` lines.
    Other { error: String },
}

/// One process start of a run, with what its output showed.
#[derive(Debug, Clone)]
struct Attempt {
    job: usize,
    number: usize,
    resume: Option<i64>,
    args: Vec<String>,
    stop_sent: Option<Signal>,
    ended: Ended,
    exit: Option<i32>,
    took: Duration,
    log: PathBuf,
    unauthorized: bool,
    invalid_grant: bool,
    /// Answers 409 (creates refused as duplicates) in its log, or 1 for an `already exists`
    /// failure without a logged status.
    conflicts: usize,
    /// The job's addresses some line of its output says already exist (a create sent again).
    refused: BTreeSet<String>,
    /// The distinct errors its step retries reported (`retrying` events), first ones first.
    retried_for: Vec<String>,
    /// A SIGTERM-cancelled process said its run could be resumed (the `run_failed` line's
    /// `resumable`, or the `resume it with:` hint).
    resume_offered: bool,
}

/// What a job's thread reports.
#[derive(Debug)]
struct JobReport {
    run: Option<i64>,
    completed: bool,
    attempts: Vec<Attempt>,
}

/// One forced-429 burst of a storm: its size and how many of it were used, bounded.
#[derive(Debug, Clone, Copy)]
struct Burst {
    used_at_least: u64,
    used_at_most: u64,
}

/// What the chaos thread did.
#[derive(Debug, Default)]
struct ChaosLog {
    revocations: u32,
    storms: u32,
    storm_time: Duration,
    bursts: Vec<Burst>,
}

impl ChaosLog {
    fn forced(&self) -> (u64, u64) {
        self.bursts.iter().fold((0, 0), |(low, high), b| {
            (low + b.used_at_least, high + b.used_at_most)
        })
    }
}

fn fixture_arg(name: &str) -> String {
    fixture(name).to_string_lossy().into_owned()
}

/// The seeded plan: addresses and stops of every job.
fn plan(rng: &mut fastrand::Rng) -> Vec<Job> {
    let mut firsts: Vec<Option<Signal>> = (0..PROCESSES)
        .map(|i| {
            if i < FIRST_KILLS {
                Some(Signal::Kill)
            } else if i < FIRST_KILLS + FIRST_TERMS {
                Some(Signal::Term)
            } else {
                None
            }
        })
        .collect();
    rng.shuffle(&mut firsts);
    firsts
        .into_iter()
        .enumerate()
        .map(|(index, first)| {
            let creates = 3 + rng.usize(..3);
            let emails = (0..creates)
                .map(|i| format!("soak.{index}.{i}@example.com"))
                .collect();
            // The first attempt's stop lands within its first 20 s (twenty runs at 4/s take 30 s
            // or more); a resume's within its first seconds.
            let mut stops = vec![first.map(|signal| Stop {
                signal,
                after: Duration::from_millis(rng.u64(800..=20_000)),
            })];
            for _ in 1..ATTEMPTS {
                let stop = (rng.f64() < RESUME_STOP_SHARE).then(|| Stop {
                    signal: if rng.bool() {
                        Signal::Kill
                    } else {
                        Signal::Term
                    },
                    after: Duration::from_millis(rng.u64(300..=5_000)),
                });
                stops.push(stop);
            }
            Job {
                index,
                emails,
                stops,
            }
        })
        .collect()
}

/// Waits for `running` to end, sending `stop` when due, and killing it at `deadline` (or when it
/// outlives the SIGTERM grace). Returns its output, the signal sent (if one was), and whether it
/// had to be killed for time.
fn supervise(
    mut running: Running<'_>,
    stop: Option<Stop>,
    deadline: Instant,
) -> (Output, Option<Signal>, bool) {
    let started = Instant::now();
    let mut term_sent: Option<Instant> = None;
    loop {
        if !running.is_running() {
            // Already exited: `kill` only collects it.
            let sent = term_sent.map(|_| Signal::Term);
            return (running.kill(), sent, false);
        }
        let now = Instant::now();
        if now >= deadline || term_sent.is_some_and(|at| at.elapsed() >= TERM_GRACE) {
            let sent = term_sent.map(|_| Signal::Term);
            return (running.kill(), sent, true);
        }
        if let Some(stop) = stop
            && term_sent.is_none()
            && started.elapsed() >= stop.after
        {
            match stop.signal {
                Signal::Kill => return (running.kill(), Some(Signal::Kill), false),
                Signal::Term => {
                    if chaos::send_signal(running.id(), Signal::Term.name()) {
                        term_sent = Some(now);
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Which of `emails` a line of the output says already exist (409 `already_exists`: a create
/// of that address was sent again after one took effect).
fn refused_in(output: &Output, emails: &[String]) -> BTreeSet<String> {
    output
        .stdout
        .lines()
        .chain(output.stderr.lines())
        .filter(|line| line.contains("already exist"))
        .flat_map(|line| emails.iter().filter(|e| line.contains(e.as_str())))
        .cloned()
        .collect()
}

/// The distinct errors of an attempt's step retries, in order (at most 4).
fn retried_for(output: &Output) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for event in output.events_of("retrying") {
        let error = event["error"].as_str().unwrap_or_default().to_owned();
        if !seen.contains(&error) && seen.len() < 4 {
            seen.push(error);
        }
    }
    seen
}

/// How many answers 409 a process's debug log shows (`answered … status=409`).
fn conflicts_in(output: &Output) -> usize {
    let logged = output
        .stderr
        .lines()
        .filter(|line| line.contains("status=409"))
        .count();
    let said = [&output.stdout, &output.stderr]
        .iter()
        .any(|text| text.contains("already_exists") || text.contains("already exists"));
    if logged == 0 && said { 1 } else { logged }
}

/// Classifies one process's end.
fn ended(output: &Output, sent: Option<Signal>, timed_out: bool) -> Ended {
    use std::os::unix::process::ExitStatusExt as _;
    if timed_out {
        return Ended::TimedOut;
    }
    let status = output.status;
    let code = status.and_then(|s| s.code());
    let by_signal = status.and_then(|s| s.signal());
    let last = output
        .events()
        .into_iter()
        .rev()
        .find(|e| e["event"] == "run_finished" || e["event"] == "run_failed");
    match (last, code, by_signal) {
        (Some(event), Some(0), _) if event["event"] == "run_finished" => Ended::Finished,
        (Some(event), Some(143), _)
            if sent == Some(Signal::Term) && event["event"] == "run_failed" =>
        {
            Ended::Cancelled
        }
        (None, Some(143), _) if sent == Some(Signal::Term) => Ended::CancelledBeforeRun,
        (_, _, Some(9)) if sent == Some(Signal::Kill) => Ended::Killed(Signal::Kill),
        (_, _, Some(15)) if sent == Some(Signal::Term) => Ended::Killed(Signal::Term),
        (Some(event), _, _) if event["event"] == "run_failed" => Ended::Failed {
            error: event["error"].as_str().unwrap_or_default().to_owned(),
        },
        _ => Ended::Other {
            error: output
                .stderr
                .lines()
                .filter(|line| line.starts_with("error"))
                .collect::<Vec<_>>()
                .join(" / "),
        },
    }
}

/// Whether a SIGTERM-cancelled process offered a resume: the `resume it with:` hint (human
/// mode) or, under `--json`, a `run_failed` line with `resumable: true` and the run's id.
fn offered_resume(output: &Output, run: Option<i64>) -> bool {
    if chaos::resume_hint(output).is_some() {
        return true;
    }
    output
        .events()
        .iter()
        .any(|e| e["event"] == "run_failed" && e["resumable"] == true && e["run"].as_i64() == run)
}

/// The arguments of the next attempt: a fresh run with the job's inputs, or a resume of `run`
/// (after a graceful stop, as the stopped process said to: its hint's words when it printed one,
/// else the same command with `--resume N` in place of the inputs, which is what the hint says).
fn next_args(
    workflow: &str,
    inputs_file: &str,
    run: Option<i64>,
    last: Option<&Output>,
) -> Vec<String> {
    let Some(run) = run else {
        return vec![
            "run".into(),
            workflow.into(),
            "--json".into(),
            "--inputs-file".into(),
            inputs_file.into(),
        ];
    };
    if let Some(hint) = last.and_then(chaos::resume_hint) {
        return hint;
    }
    vec![
        "run".into(),
        workflow.into(),
        "--json".into(),
        "--resume".into(),
        run.to_string(),
    ]
}

/// One job's life: its first process, then resumes until its run completes (bounded by
/// [`ATTEMPTS`] and `deadline`).
fn drive(ws: &Workspace, workflow: &str, job: &Job, deadline: Instant) -> JobReport {
    let inputs = json!({ "emails": job.emails });
    let inputs_file = ws.file(&format!("inputs-{}.json", job.index));
    std::fs::write(&inputs_file, inputs.to_string()).expect("the inputs are written");
    let mut report = JobReport {
        run: None,
        completed: false,
        attempts: Vec::new(),
    };
    let mut stops_used = 0;
    let mut last: Option<Output> = None;
    for number in 0..ATTEMPTS {
        if Instant::now() >= deadline {
            break;
        }
        let resuming = report.run;
        let args = next_args(workflow, &inputs_file, resuming, last.as_ref());
        let stop = job.stops[number].filter(|_| stops_used < MAX_STOPS);
        let started = Instant::now();
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let running = ws.spawn(&arg_refs);
        let (output, sent, timed_out) = supervise(running, stop, deadline);
        let took = started.elapsed();
        let name = format!("job{:02}-attempt{number}", job.index);
        chaos::save_output(ws.dir(), &name, &output);
        if sent.is_some() {
            stops_used += 1;
        }
        let ended = ended(&output, sent, timed_out);
        // The run: as printed, else as journaled with these inputs (a process killed before it
        // printed its id); none when it was stopped before the run was journaled.
        if report.run.is_none() {
            report.run = chaos::printed_run_id(&output).or_else(|| {
                chaos::runs_with_inputs(ws.state(), &inputs)
                    .first()
                    .copied()
            });
        }
        // What the process reported as failed: its `run_failed` line, items' errors, and (with
        // no JSON result) its `error:` lines.
        let mut failure_text = output
            .events()
            .iter()
            .filter(|e| e["event"] == "run_failed" || e.get("error").is_some())
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        if let Ended::Other { error } = &ended {
            failure_text.push_str(error);
        }
        let attempt = Attempt {
            job: job.index,
            number,
            resume: resuming,
            args: args.clone(),
            stop_sent: sent,
            exit: output.status.and_then(|s| s.code()),
            took,
            log: ws.dir().join(format!("{name}.log")),
            unauthorized: failure_text.to_lowercase().contains("unauthorized"),
            invalid_grant: output.stdout.contains("invalid_grant")
                || output.stderr.contains("invalid_grant"),
            conflicts: conflicts_in(&output),
            refused: refused_in(&output, &job.emails),
            retried_for: retried_for(&output),
            resume_offered: ended == Ended::Cancelled && offered_resume(&output, report.run),
            ended: ended.clone(),
        };
        report.attempts.push(attempt);
        if ended == Ended::Finished {
            report.completed = true;
            break;
        }
        if matches!(ended, Ended::Failed { .. } | Ended::Other { .. }) {
            // The runner gave up (its retry budget, a failed refresh...): a supervisor resumes
            // after a pause, as it would after any failure.
            std::thread::sleep(Duration::from_secs(1));
        }
        last = Some(output);
    }
    report
}

/// The storm of a given seed: 5xx, a burst of forced 429s, lost answers of creates.
fn storm(seed: u64, burst: u32) -> Faults {
    Faults {
        error_rate: 0.3,
        drop_after_rate: 0.2,
        force_throttle: burst,
        latency: Duration::from_millis(20),
        seed,
        ..Faults::default()
    }
}

/// The chaos thread: revokes every access token every [`REVOKE_EVERY`], and alternates calm
/// (4–8 s) with storms (3–5 s) until `stop` is set (bounded by `deadline`). A storm's burst of
/// forced 429s is kept until enough API requests arrived to use it up, so the forced 429s are
/// known exactly (a burst cut short at the end is bounded by what arrived meanwhile).
fn chaos_loop(
    sandbox: &Sandbox,
    rng: &mut fastrand::Rng,
    stop: &AtomicBool,
    deadline: Instant,
) -> ChaosLog {
    let mut log = ChaosLog::default();
    let started = Instant::now();
    let mut next_revoke = started + REVOKE_EVERY;
    let mut calm_until = started + Duration::from_millis(rng.u64(2_000..=5_000));
    // (storm began, storm ends, burst size, api_requests read before and after it was set)
    let mut storming: Option<(Instant, Instant, u64, u64, u64)> = None;
    let end_storm = |log: &mut ChaosLog, began: Instant, size: u64, before: u64, after: u64| {
        let reading_before = sandbox.stats().api_requests;
        sandbox.set_faults(Faults::default());
        let reading_after = sandbox.stats().api_requests;
        log.storm_time += began.elapsed();
        log.bursts.push(Burst {
            used_at_least: size.min(reading_before.saturating_sub(after)),
            used_at_most: size.min(reading_after.saturating_sub(before)),
        });
    };
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let now = Instant::now();
        if now >= next_revoke {
            sandbox.expire_all_tokens();
            log.revocations += 1;
            next_revoke += REVOKE_EVERY;
        }
        match storming {
            None if now >= calm_until => {
                let size = rng.u32(3..=8);
                let seed = rng.u64(..);
                let before = sandbox.stats().api_requests;
                sandbox.set_faults(storm(seed, size));
                let after = sandbox.stats().api_requests;
                log.storms += 1;
                let ends = now + Duration::from_millis(rng.u64(3_000..=5_000));
                storming = Some((now, ends, u64::from(size), before, after));
            }
            Some((began, ends, size, before, after)) if now >= ends => {
                // Used up for sure once `size` requests arrived after it was set.
                let used_up = sandbox.stats().api_requests.saturating_sub(after) >= size;
                if used_up || now >= ends + Duration::from_secs(10) {
                    end_storm(&mut log, began, size, before, after);
                    storming = None;
                    calm_until = now + Duration::from_millis(rng.u64(4_000..=8_000));
                }
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    if let Some((began, _, size, before, after)) = storming {
        end_storm(&mut log, began, size, before, after);
    }
    sandbox.set_faults(Faults::default());
    log
}

/// Writes `line` where `cargo test` shows it (the raw stderr handle, not the captured macros) and
/// to `target/soak-figures.txt`.
fn publish(line: &str) {
    let mut stderr = std::io::stderr();
    let _ = stderr.write_all(format!("\n{line}\n").as_bytes());
    let _ = stderr.flush();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| plugboard_tests::workspace_root().join("target"));
    let _ = std::fs::create_dir_all(&target);
    let _ = std::fs::write(target.join("soak-figures.txt"), format!("{line}\n"));
}

/// The journal checks of one completed run: every key once, no call left in flight, and the
/// contact each journaled create returned is the sandbox's contact of that address.
fn journal_problems(
    state: &Path,
    run: i64,
    emails: &[String],
    contacts: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let keys = chaos::journal_keys(state, run);
    let unique: BTreeSet<&String> = keys.iter().collect();
    if unique.len() != keys.len() {
        problems.push(format!("run {run}: a journal key twice: {keys:?}"));
    }
    let pending = chaos::pending_intents(state, run);
    if !pending.is_empty() {
        problems.push(format!(
            "run {run}: completed with calls in flight: {pending:?}"
        ));
    }
    let journal = chaos::journal(state, run);
    let creates = journal
        .iter()
        .find(|(key, _)| key == "creates")
        .and_then(|(_, output)| output.as_array().cloned())
        .unwrap_or_default();
    if creates.len() != emails.len() {
        problems.push(format!(
            "run {run}: {} creates journaled for {} addresses",
            creates.len(),
            emails.len()
        ));
    }
    for (email, created) in emails.iter().zip(&creates) {
        let id = created["contact_id"].as_str().unwrap_or_default();
        let held = contacts
            .get(&email.to_lowercase())
            .cloned()
            .unwrap_or_default();
        if held != [id.to_owned()] {
            problems.push(format!(
                "run {run}: {email} was journaled as contact `{id}`, the sandbox holds {held:?}"
            ));
        }
    }
    problems
}

#[test]
fn soak_twenty_processes_one_connection_token_churn_storms_and_stops() {
    let seed = chaos::seed("soak");
    let mut rng = fastrand::Rng::with_seed(seed);
    let jobs = plan(&mut rng);
    let mut chaos_rng = fastrand::Rng::with_seed(rng.u64(..));

    let mut config = sandbox_config();
    config.per_second_limit = Some(PER_SECOND);
    config.daily_limit = Some(DAILY);
    config.token_endpoint_per_second = Some(1);
    config.access_token_ttl = TOKEN_TTL;
    let sandbox = start_sandbox(config);
    let ws = Workspace::new("soak");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let workflow = fixture_arg("soak-creates.json");
    // Built before the clock starts.
    plugboard_tests::plugboard_binary();

    let started = Instant::now();
    let deadline = started + BUDGET;
    let stop_chaos = AtomicBool::new(false);
    let reports: Mutex<Vec<(usize, JobReport)>> = Mutex::new(Vec::new());
    let chaos_log = std::thread::scope(|scope| {
        let chaos = scope.spawn(|| chaos_loop(&sandbox, &mut chaos_rng, &stop_chaos, deadline));
        let drivers: Vec<_> = jobs
            .iter()
            .map(|job| {
                let (ws, workflow, reports) = (&ws, workflow.as_str(), &reports);
                scope.spawn(move || {
                    let report = drive(ws, workflow, job, deadline);
                    reports
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((job.index, report));
                })
            })
            .collect();
        for driver in drivers {
            driver.join().expect("a job's thread ends");
        }
        stop_chaos.store(true, Ordering::Relaxed);
        chaos.join().expect("the chaos thread ends")
    });
    let wall = started.elapsed();
    sandbox.set_faults(Faults::default());
    let mut reports = reports.into_inner().unwrap_or_else(|e| e.into_inner());
    reports.sort_by_key(|(index, _)| *index);

    // ---- the figures ----
    let state = ws.state();
    chaos::assert_intact(state, "after the soak");
    let stats = sandbox.stats();
    let rows = chaos::runs(state);
    let runs = rows.len();
    let completed = rows.iter().filter(|r| r.status == "completed").count();
    let attempts: Vec<&Attempt> = reports.iter().flat_map(|(_, r)| &r.attempts).collect();
    let unauthorized = attempts.iter().filter(|a| a.unauthorized).count();
    let invalid_grant_mentions = attempts.iter().filter(|a| a.invalid_grant).count();
    let invalid_grant = stats.invalid_grants + invalid_grant_mentions as u64;
    let (forced_low, forced_high) = chaos_log.forced();
    // The doubtful ones (a burst cut short at the end) are counted as forced: `above_limit` is
    // then the least excess the sandbox saw; the range is printed.
    let above_limit = stats.throttled_429.saturating_sub(forced_high) + stats.quota_429;
    let contacts = chaos::sandbox_contacts_by_email(&sandbox);
    let expected: Vec<&String> = jobs.iter().flat_map(|j| &j.emails).collect();
    let duplicates: usize = expected
        .iter()
        .map(|e| {
            contacts
                .get(&e.to_lowercase())
                .map_or(0, Vec::len)
                .saturating_sub(1)
        })
        .sum();
    // A create sent twice: an address with more than one contact, or one some output says
    // already existed; plus attempts whose log shows a 409 it could not attribute (killed right
    // after the answer, before it reported which call failed).
    let mut twice: BTreeSet<String> = expected
        .iter()
        .filter(|e| {
            contacts
                .get(&e.to_lowercase())
                .is_some_and(|ids| ids.len() > 1)
        })
        .map(|e| (*e).clone())
        .collect();
    twice.extend(attempts.iter().flat_map(|a| a.refused.iter().cloned()));
    let unattributed = attempts
        .iter()
        .filter(|a| a.conflicts > 0 && a.refused.is_empty())
        .count();
    let sent_twice = twice.len() + unattributed;
    let conflicts: usize = attempts.iter().map(|a| a.conflicts).sum();
    // A create lost: an address of a completed run without a contact, or one whose create the
    // journal of a run that did not complete records as done while the sandbox lacks it. (The
    // creates an unfinished run never got to are `not_done`, not lost.)
    let mut lost = 0;
    let mut not_done = 0;
    for (index, report) in &reports {
        let emails = &jobs[*index].emails;
        let done = report
            .run
            .is_some_and(|run| rows.iter().any(|r| r.id == run && r.status == "completed"));
        let journaled: BTreeSet<String> = report
            .run
            .map(|run| chaos::journal_keys(state, run))
            .unwrap_or_default()
            .into_iter()
            .collect();
        for (i, email) in emails.iter().enumerate() {
            if contacts.contains_key(&email.to_lowercase()) {
                continue;
            }
            if done || journaled.contains(&format!("creates[{i}]")) {
                lost += 1;
            } else {
                not_done += 1;
            }
        }
    }

    // Consistency of each completed run's journal with the sandbox.
    let mut journal_issues = Vec::new();
    for (index, report) in &reports {
        if let Some(run) = report.run
            && rows.iter().any(|r| r.id == run && r.status == "completed")
        {
            journal_issues.extend(journal_problems(
                state,
                run,
                &jobs[*index].emails,
                &contacts,
            ));
        }
    }
    let secrets = {
        chaos::remember_secrets([sandbox.client_secret().to_owned()]);
        chaos::remember_secrets(chaos::stored_tokens(state));
        chaos::seen_secrets()
    };
    let mut leaks = chaos::sweep_journal(state, &secrets);
    let logs = chaos::files_under(&[ws.dir()], |p| p.extension().is_some_and(|e| e == "log"));
    leaks.extend(chaos::sweep_files(&logs, &secrets));

    let count = |f: &dyn Fn(&Attempt) -> bool| attempts.iter().filter(|a| f(a)).count();
    let kills = count(&|a| a.ended == Ended::Killed(Signal::Kill));
    let terms = count(&|a| a.ended == Ended::Cancelled);
    let terms_early =
        count(&|a| a.ended == Ended::Killed(Signal::Term) || a.ended == Ended::CancelledBeforeRun);
    let stops_missed = count(&|a| a.stop_sent.is_some() && a.ended == Ended::Finished);
    let failed_attempts = count(&|a| matches!(a.ended, Ended::Failed { .. } | Ended::Other { .. }));
    let timed_out = count(&|a| a.ended == Ended::TimedOut);
    let no_resume_offered = count(&|a| a.ended == Ended::Cancelled && !a.resume_offered);
    let resumes = count(&|a| a.resume.is_some());
    let slowest = attempts.iter().map(|a| a.took).max().unwrap_or_default();
    let line = format!(
        "soak: runs={runs} completed={completed} unauthorized={unauthorized} \
         invalid_grant={invalid_grant} above_limit={above_limit} sent_twice={sent_twice} \
         lost={lost} (seed={seed}, wall={:.1}s, processes={PROCESSES}, attempts={}, \
         resumes={resumes}, sigkill={kills}, sigterm_cancelled={terms}, sigterm_before_handler={terms_early}, \
         stops_after_finish={stops_missed}, failed_attempts={failed_attempts}, timed_out={timed_out}, \
         slowest_attempt={:.1}s, contacts_expected={}, revocations={}, storms={} ({:.1}s), \
         forced_429={forced_low}..={forced_high}, throttled_429={}, quota_429={}, \
         token_429={}, unauthorized_401={}, refreshes={}, invalid_grants_sandbox={}, \
         injected_5xx={}, dropped_after_processing={}, api_requests={}, api_served={}, \
         peak_per_second={}, duplicates={duplicates}, conflicts_409={conflicts}, \
         sent_twice_emails={twice:?}, not_done={not_done}, \
         journal_issues={}, leaks={})",
        wall.as_secs_f64(),
        attempts.len(),
        slowest.as_secs_f64(),
        expected.len(),
        chaos_log.revocations,
        chaos_log.storms,
        chaos_log.storm_time.as_secs_f64(),
        stats.throttled_429,
        stats.quota_429,
        stats.token_throttled_429,
        stats.unauthorized_401,
        stats.refreshes,
        stats.invalid_grants,
        stats.injected_5xx,
        stats.dropped_after_processing,
        stats.api_requests,
        stats.api_served,
        stats.peak_per_second,
        journal_issues.len(),
        leaks.len(),
    );
    publish(&line);

    // ---- what went wrong, precisely ----
    let mut problems: Vec<String> = Vec::new();
    let describe = |a: &Attempt| {
        format!(
            "job {} attempt {} ({}) ended {:?} after {:.1}s, exit {:?}, log {}",
            a.job,
            a.number,
            a.args.join(" "),
            a.ended,
            a.took.as_secs_f64(),
            a.exit,
            a.log.display()
        )
    };
    if runs != PROCESSES {
        problems.push(format!("{runs} runs journaled for {PROCESSES} processes"));
    }
    if completed != runs {
        for (index, report) in &reports {
            if !report.completed {
                let last = report.attempts.last().map(describe).unwrap_or_default();
                problems.push(format!(
                    "job {index} (run {:?}) never completed; last: {last}",
                    report.run
                ));
            }
        }
    }
    for a in attempts
        .iter()
        .filter(|a| a.unauthorized || a.invalid_grant || a.conflicts > 0)
    {
        problems.push(format!(
            "unauthorized={} invalid_grant={} 409s={} refused={:?}: {}; its step retries \
             were for: {:?}",
            a.unauthorized,
            a.invalid_grant,
            a.conflicts,
            a.refused,
            describe(a),
            a.retried_for
        ));
    }
    for a in attempts
        .iter()
        .filter(|a| matches!(a.ended, Ended::Failed { .. } | Ended::Other { .. }))
    {
        problems.push(format!("(a failure, resumed) {}", describe(a)));
    }
    if no_resume_offered > 0 {
        problems.push(format!(
            "{no_resume_offered} SIGTERM-cancelled processes offered no resume"
        ));
    }
    problems.extend(journal_issues.iter().cloned());
    if !leaks.is_empty() {
        problems.push(format!("secrets found: {leaks:?}"));
    }
    let report = problems.join("\n  ");
    // The soak did what it says.
    assert!(chaos_log.revocations >= 5, "{line}");
    assert!(chaos_log.storms >= 1, "{line}");
    assert!(
        kills + terms + terms_early >= 2,
        "no stop landed mid-run: {line}"
    );
    // The figures of the issue.
    assert_eq!(completed, runs, "{line}\n  {report}");
    assert_eq!(runs, PROCESSES, "{line}\n  {report}");
    assert_eq!(unauthorized, 0, "{line}\n  {report}");
    assert_eq!(invalid_grant, 0, "{line}\n  {report}");
    assert_eq!(above_limit, 0, "{line}\n  {report}");
    assert_eq!(sent_twice, 0, "{line}\n  {report}");
    assert_eq!(lost, 0, "{line}\n  {report}");
    // And what they rest on.
    assert_eq!(no_resume_offered, 0, "{line}\n  {report}");
    assert!(journal_issues.is_empty(), "{line}\n  {report}");
    assert!(leaks.is_empty(), "{line}\n  {report}");
}
