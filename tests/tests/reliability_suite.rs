//! The reliability suite: `tests/tests/reliability.rs` scaled up. Twenty processes share one
//! connection whose rotating tokens expire every two seconds; fifty SIGKILLs land at random points
//! of runs on one state file (which must never be corrupt, and whose resumed runs must repeat no
//! journaled step); a runner killed while holding the refresh lease is taken over quickly; 429
//! storms, 5xx and latency at the API's real limit of 4 requests per second; and after each test,
//! a sweep of every log, journal, snapshot and cassette for the secrets it saw.
//!
//! Every random choice comes from `plugboard_tests::chaos::rng`: the seed is printed, and
//! `PLUGBOARD_CHAOS_SEED=<seed>` replays a failing run's choices.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use constant_contact_sandbox::{Faults, Sandbox, SandboxConfig};
use plugboard_runner::ExecutorConfig;
use plugboard_tests::chaos::{self, Killed};
use plugboard_tests::e2e::{
    EXAMPLE_CONNECTION, Output, Workspace, fixture, sandbox_config, start_sandbox,
};
use plugboard_tests::workspace_root;
use serde_json::{Value, json};

/// A sandbox with `tweak` applied to the end-to-end defaults (no limits, a unique client secret).
fn sandbox_with(tweak: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let mut config = sandbox_config();
    tweak(&mut config);
    start_sandbox(config)
}

/// A fixture path as a string argument.
fn fixture_arg(name: &str) -> String {
    fixture(name).to_string_lossy().into_owned()
}

/// How far the runner's refresh skew reaches, in seconds: a token expiring sooner is refreshed
/// before use.
fn skew_secs() -> i64 {
    i64::try_from(ExecutorConfig::default().refresh_skew.as_secs()).unwrap_or(60)
}

/// The last step of every test: the state file is intact and private, and no secret the test
/// saw (the sandbox's client secret, every token the state file held when looked at, plus every
/// secret other tests of this process remembered) is in the journal, in any file the test wrote
/// (logs, exports), or in any snapshot or cassette of the repository.
fn sweep(ws: &Workspace, sandbox: &Sandbox, extra: impl IntoIterator<Item = String>) {
    chaos::assert_intact(ws.state(), "final sweep");
    ws.assert_private_state();
    chaos::remember_secrets([sandbox.client_secret().to_owned()]);
    chaos::remember_secrets(chaos::stored_tokens(ws.state()));
    chaos::remember_secrets(extra);
    let secrets = chaos::seen_secrets();
    assert!(secrets.len() >= 3, "the sweep knows what to look for");

    let journal = chaos::sweep_journal(ws.state(), &secrets);
    assert!(journal.is_empty(), "secrets in the journal: {journal:?}");

    let state_name = ws
        .state()
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("state.db")
        .to_owned();
    let written = chaos::files_under(&[ws.dir()], |path| {
        !path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&state_name))
    });
    let leaks = chaos::sweep_files(&written, &secrets);
    assert!(
        leaks.is_empty(),
        "secrets in files the runs wrote: {leaks:?}"
    );

    let root = workspace_root();
    let recorded = chaos::files_under(&[root.as_path()], |path| {
        let in_dir = |name: &str| {
            path.parent()
                .and_then(Path::file_name)
                .is_some_and(|d| d == name)
        };
        (in_dir("snapshots") && path.extension().is_some_and(|e| e == "snap"))
            || (in_dir("cassettes") && path.extension().is_some_and(|e| e == "json"))
    });
    assert!(
        recorded.len() > 10,
        "the repository's snapshots and cassettes were found: {recorded:?}"
    );
    // The secrets themselves, and the shape of every client secret the end-to-end tests make.
    let mut patterns = secrets;
    patterns.push("e2e-secret-".into());
    let leaks = chaos::sweep_files(&recorded, &patterns);
    assert!(
        leaks.is_empty(),
        "secrets in snapshots or cassettes: {leaks:?}"
    );
}

// ---- twenty processes, one rotating connection ----

#[test]
fn twenty_processes_share_one_rotating_connection_while_its_tokens_expire() {
    // Access tokens live 2 s (the runner refreshes a fifth of a lifetime early, 0.4 s here);
    // every API answer takes 300 ms, so each run of 10 reads lasts 3 s or more: tokens expire
    // and rotate inside every run, with twenty processes competing for each refresh.
    let ttl = Duration::from_secs(2);
    let sandbox = sandbox_with(|c| c.access_token_ttl = ttl);
    sandbox.set_faults(Faults {
        latency: Duration::from_millis(300),
        ..Faults::default()
    });
    let ws = Workspace::new("suite-twenty");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let workflow = fixture_arg("suite-reads.json");
    let args = ["run", workflow.as_str(), "--no-rate-limits", "--json"];

    // Built before the clock starts.
    plugboard_tests::plugboard_binary();
    // Every token version the state file holds while the processes run, for the final sweep.
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let (outputs, seen) = std::thread::scope(|scope| {
        let collector = scope.spawn(|| {
            let mut seen = BTreeSet::new();
            while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(120) {
                seen.extend(chaos::stored_tokens(ws.state()));
                std::thread::sleep(Duration::from_millis(50));
            }
            seen
        });
        let running: Vec<_> = (0..20).map(|_| ws.spawn(&args)).collect();
        let outputs: Vec<Output> = running.into_iter().map(|r| r.wait()).collect();
        stop.store(true, Ordering::Relaxed);
        (outputs, collector.join().expect("the collector ends"))
    });
    let elapsed = started.elapsed();
    sandbox.set_faults(Faults::default());

    let mut run_ids = Vec::new();
    for (i, output) in outputs.iter().enumerate() {
        chaos::save_output(ws.dir(), &format!("twenty-{i}"), output);
        let done = output.finished();
        assert_eq!(done["outputs"]["reads"], 10, "process {i}: {done}");
        run_ids.push(done["run"].as_i64().expect("a run id"));
    }
    let stats = sandbox.stats();
    println!(
        "20 processes x 10 reads in {elapsed:?}: {} refreshes, {} 401s, {} invalid_grant, {} token versions seen",
        stats.refreshes,
        stats.unauthorized_401,
        stats.invalid_grants,
        seen.len() / 2
    );
    assert_eq!(stats.invalid_grants, 0, "{stats:?}");
    assert_eq!(stats.api_served, 200, "{stats:?}");
    assert_eq!(stats.code_exchanges, 0, "nobody reconnected: {stats:?}");
    // The runs outlived the tokens, and the tokens rotated while they ran: at least once per
    // lifetime that passed, never once per request.
    assert!(elapsed > ttl, "{elapsed:?}");
    let lifetimes = u64::try_from(elapsed.as_millis() / ttl.as_millis()).unwrap_or(u64::MAX);
    assert!(
        stats.refreshes >= lifetimes.saturating_sub(1).max(1),
        "{stats:?}"
    );
    assert!(stats.refreshes < 200, "{stats:?}");
    // Every 401 was answered by a refresh (one per request at most), never by a failure.
    assert!(
        stats.api_requests <= stats.api_served + stats.unauthorized_401,
        "{stats:?}"
    );
    // Every run journaled each of its reads once, the step, and its outputs (`#outputs`).
    run_ids.sort_unstable();
    run_ids.dedup();
    assert_eq!(run_ids.len(), 20);
    for run in &run_ids {
        let keys = chaos::journal_keys(ws.state(), *run);
        assert_eq!(keys.len(), 12, "run {run}: {keys:?}");
        assert_eq!(
            keys.last().map(String::as_str),
            Some("#outputs"),
            "run {run}"
        );
    }

    // The connection is as good as ever: one more run, without reconnecting.
    let after = ws.run(&args);
    chaos::save_output(ws.dir(), "twenty-after", &after);
    after.finished();
    assert_eq!(sandbox.stats().invalid_grants, 0);
    sweep(&ws, &sandbox, seen);
}

// ---- fifty kills on one state file ----

/// Where a run is killed.
#[derive(Debug, Clone, Copy)]
enum KillPoint {
    /// After a random delay from the start (anywhere: start-up, schema, refresh, steps, journal).
    Delay(Duration),
    /// When the sandbox has served this many more API requests (mid-run).
    Served(u64),
    /// When the state file holds this many more journal rows (just after a journal write).
    JournalRows(i64),
    /// The stored token is made due first; the kill lands when the refresh lease is seen held
    /// (before or during the token request).
    LeaseHeld,
    /// The stored token is made due first; the kill lands when the sandbox has answered the
    /// refresh (racing the commit of the rotated pair).
    Refreshed,
}

impl KillPoint {
    fn draw(rng: &mut fastrand::Rng, items: usize) -> Self {
        let items = u64::try_from(items).unwrap_or(4);
        // A run takes a few hundred milliseconds: the delays span all of it.
        match rng.u8(..8) {
            0 | 1 => Self::Delay(Duration::from_millis(rng.u64(50..=250))),
            2 | 3 => Self::Served(rng.u64(1..=items + 1)),
            4 | 5 => Self::JournalRows(i64::try_from(rng.u64(1..=items + 2)).unwrap_or(1)),
            6 => Self::LeaseHeld,
            _ => Self::Refreshed,
        }
    }

    fn is_refresh(self) -> bool {
        matches!(self, Self::LeaseHeld | Self::Refreshed)
    }
}

/// Whether the process died of SIGKILL (rather than finishing first).
#[cfg(unix)]
fn was_killed(killed: &Killed) -> bool {
    use std::os::unix::process::ExitStatusExt as _;
    killed.output.status.and_then(|s| s.signal()) == Some(9)
}

/// How many API requests a resume of the suite-kill workflow must send, given its journal: one
/// per key not journaled yet, and not one more.
fn requests_left(keys: &[String], items: usize) -> u64 {
    let has = |key: &str| keys.iter().any(|k| k == key);
    let creates_done = if has("creates") {
        items
    } else {
        keys.iter().filter(|k| k.starts_with("creates[")).count()
    };
    let left = usize::from(!has("first")) + (items - creates_done) + usize::from(!has("last"));
    u64::try_from(left).unwrap_or(u64::MAX)
}

/// Tallies of the kill loop, printed at the end.
#[derive(Debug, Default)]
struct KillTally {
    kills: u32,
    by_point: std::collections::BTreeMap<&'static str, u32>,
    finished_before_kill: u32,
    before_any_run: u32,
    lease_left_held: u32,
    reauthorised: u32,
    resent_in_flight: u32,
    slowest_resume: Duration,
}

/// After a kill during a refresh, the connection is either usable (a one-read run succeeds,
/// with the committed tokens or after taking the dead holder's lease over) or clearly needs
/// re-authorisation: the run fails with `invalid_grant` and says which command fixes it, having
/// sent nothing. Then the test re-authorises (a fresh grant), as the user would.
///
/// The probe comes before any resume: under `on_error: continue`, a refused refresh inside the
/// `for_each` would become the items' results (see the report on `continue`).
fn ensure_usable(ws: &Workspace, sandbox: &Sandbox, tally: &mut KillTally, round: u32) {
    let before = sandbox.stats();
    let started = Instant::now();
    let probe = ws.run(&[
        "run",
        &fixture_arg("account.json"),
        "--no-rate-limits",
        "--json",
    ]);
    let took = started.elapsed();
    chaos::save_output(ws.dir(), &format!("probe-{round}"), &probe);
    assert!(
        took < Duration::from_secs(20),
        "round {round}: the probe took {took:?} (a dead lease holder not taken over?)"
    );
    if probe.success() {
        return;
    }
    let failure = probe.failed();
    let error = failure["error"].as_str().unwrap_or_default();
    assert!(error.contains("invalid_grant"), "round {round}: {probe:?}");
    assert!(
        error.contains("plugboard connect constant-contact --name constant-contact"),
        "round {round}: the error says how to re-authorise: {probe:?}"
    );
    assert_eq!(
        sandbox.stats().api_requests,
        before.api_requests,
        "round {round}: nothing was sent without a token"
    );
    tally.reauthorised += 1;
    ws.install_connection(sandbox, EXAMPLE_CONNECTION);
}

#[cfg(unix)]
#[test]
fn fifty_kills_never_corrupt_the_state_or_repeat_a_completed_step() {
    const KILLS: u32 = 50;
    let mut rng = chaos::rng("fifty-kills");
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("suite-kills");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let state = ws.state().to_path_buf();
    let workflow = fixture_arg("suite-kill.json");
    let mut tally = KillTally::default();
    let mut seen_tokens: BTreeSet<String> = BTreeSet::new();
    let started = Instant::now();

    for round in 0..(KILLS * 2) {
        if tally.kills >= KILLS {
            break;
        }
        let items = 3 + rng.usize(..4);
        let emails: Vec<String> = (0..items)
            .map(|i| format!("kill.{round}.{i}@example.com"))
            .collect();
        let inputs = json!({ "emails": emails });
        let inputs_file = ws.file(&format!("inputs-{round}.json"));
        std::fs::write(&inputs_file, inputs.to_string()).expect("the inputs are written");
        let contacts_before = sandbox.contact_count();
        let previous_run = chaos::latest_run(&state);
        let mut run_id: Option<i64> = None;
        let mut kills_of_run = 0_u32;
        let mut refresh_killed = false;

        // One kill of the fresh run, then (half the time) one of its first resume.
        loop {
            let point = KillPoint::draw(&mut rng, items);
            if point.is_refresh() {
                ws.expire_tokens_in(EXAMPLE_CONNECTION, skew_secs() / 2);
            }
            let base = sandbox.stats();
            let base_rows = chaos::journal_rows(&state);
            let args: Vec<String> = match run_id {
                None => vec![
                    "run".into(),
                    workflow.clone(),
                    "--no-rate-limits".into(),
                    "--json".into(),
                    "--inputs-file".into(),
                    inputs_file.clone(),
                ],
                Some(id) => vec![
                    "run".into(),
                    workflow.clone(),
                    "--no-rate-limits".into(),
                    "--json".into(),
                    "--resume".into(),
                    id.to_string(),
                ],
            };
            // A create an earlier attempt sent without learning its outcome costs one lookup
            // more (whether it took effect) before it is sent again or found.
            let left_before = run_id.map(|id| {
                let lookups = chaos::pending_intents(&state, id).len();
                requests_left(&chaos::journal_keys(&state, id), items)
                    + u64::try_from(lookups).unwrap_or(u64::MAX)
            });
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let running = ws.spawn(&args);
            let timeout = Duration::from_secs(20);
            let killed = match point {
                KillPoint::Delay(delay) => chaos::kill_after(running, delay),
                KillPoint::Served(n) => chaos::kill_when(running, timeout, || {
                    sandbox.stats().api_served >= base.api_served + n
                }),
                KillPoint::JournalRows(n) => chaos::kill_when(running, timeout, || {
                    chaos::journal_rows(&state) >= base_rows + n
                }),
                KillPoint::LeaseHeld => chaos::kill_when(running, timeout, || {
                    chaos::lease(&state, EXAMPLE_CONNECTION).is_some_and(|l| l.holder.is_some())
                }),
                KillPoint::Refreshed => chaos::kill_when(running, timeout, || {
                    sandbox.stats().refreshes > base.refreshes
                }),
            };
            chaos::save_output(
                ws.dir(),
                &format!("kill-{round}-{kills_of_run}"),
                &killed.output,
            );
            // Let the sandbox finish whatever the dead process had sent (no faults here: every
            // request that arrived is answered by a handler, unless the server dropped it).
            chaos::wait_until(Duration::from_millis(300), || {
                let stats = sandbox.stats();
                stats.api_requests == stats.api_served
            });
            chaos::assert_intact(&state, &format!("round {round}, after {point:?}"));
            ws.assert_private_state();
            seen_tokens.extend(chaos::stored_tokens(&state));

            if !was_killed(&killed) {
                // It finished before the kill point: nothing was killed.
                tally.finished_before_kill += 1;
                run_id = killed.output.finished()["run"].as_i64();
                break;
            }
            tally.kills += 1;
            kills_of_run += 1;
            refresh_killed |= point.is_refresh();
            *tally
                .by_point
                .entry(match point {
                    KillPoint::Delay(_) => "delay",
                    KillPoint::Served(_) => "served",
                    KillPoint::JournalRows(_) => "journal",
                    KillPoint::LeaseHeld => "lease-held",
                    KillPoint::Refreshed => "refreshed",
                })
                .or_default() += 1;
            if chaos::lease(&state, EXAMPLE_CONNECTION).is_some_and(|l| l.holder.is_some()) {
                tally.lease_left_held += 1;
            }
            let sent = sandbox.stats().api_requests - base.api_requests;
            if let Some(left) = left_before {
                // A killed resume sent nothing the journal already had.
                assert!(
                    sent <= left,
                    "round {round}: a killed resume sent {sent} requests, {left} were left"
                );
            }
            if run_id.is_none() {
                run_id = chaos::latest_run(&state).filter(|id| Some(*id) != previous_run);
            }
            if run_id.is_none() {
                // Killed before its run was journaled: nothing was sent, nothing to resume.
                tally.before_any_run += 1;
                assert_eq!(sent, 0, "round {round}: requests without a journaled run");
                assert_eq!(sandbox.contact_count(), contacts_before);
                if refresh_killed {
                    ensure_usable(&ws, &sandbox, &mut tally, round);
                }
                break;
            }
            let completed = chaos::runs(&state)
                .iter()
                .any(|r| Some(r.id) == run_id && r.status == "completed");
            // (A kill after the run's last commit, while the process exits, leaves it complete.)
            if completed || kills_of_run >= 2 || tally.kills >= KILLS || rng.bool() {
                break;
            }
            // The killed run is resumed and killed again.
            if refresh_killed {
                ensure_usable(&ws, &sandbox, &mut tally, round);
            }
        }

        let Some(run) = run_id else { continue };
        let status = chaos::runs(&state)
            .into_iter()
            .find(|r| r.id == run)
            .map(|r| r.status)
            .expect("the run is journaled");
        if status != "completed" {
            // Resume: the journal says exactly how many requests are left.
            if refresh_killed {
                ensure_usable(&ws, &sandbox, &mut tally, round);
            }
            let keys = chaos::journal_keys(&state, run);
            // The creates a kill caught in flight (at the sandbox, not journaled): never sent
            // again blindly. Each call whose intent is journaled without an output is first
            // looked up by its email (one request): one that reached the sandbox is found and
            // not sent; one that did not is sent.
            let created = sandbox.contact_count() - contacts_before;
            let journaled = keys.iter().filter(|k| k.starts_with("creates[")).count();
            let pending = chaos::pending_intents(&state, run).len();
            let journaled_step = chaos::journal(&state, run)
                .into_iter()
                .find(|(k, _)| k == "creates")
                .map(|(_, output)| output);
            let in_flight = match &journaled_step {
                // The step completed in an earlier attempt: its refusals are in its output.
                Some(output) => output.as_array().map_or(0, |items| {
                    items.iter().filter(|i| i.get("error").is_some()).count()
                }),
                None => created - journaled,
            };
            assert!(
                in_flight <= usize::try_from(kills_of_run).unwrap_or(0),
                "round {round}: {in_flight} unjournaled creates after {kills_of_run} kills"
            );
            assert!(
                in_flight <= pending,
                "round {round}: every create that reached the API was journaled as sent first \
                 ({in_flight} in flight, {pending} intents: {keys:?})"
            );
            let lookups = u64::try_from(pending).unwrap_or(0);
            let found = u64::try_from(in_flight).unwrap_or(0);
            let left = requests_left(&keys, items) + lookups - found;
            let before = sandbox.stats();
            let resume_started = Instant::now();
            let output = ws.run(&[
                "run",
                workflow.as_str(),
                "--no-rate-limits",
                "--json",
                "--resume",
                &run.to_string(),
            ]);
            let took = resume_started.elapsed();
            tally.slowest_resume = tally.slowest_resume.max(took);
            chaos::save_output(ws.dir(), &format!("resume-{round}"), &output);
            assert!(
                took < Duration::from_secs(20),
                "round {round}: the resume took {took:?} (a dead lease holder not taken over?)"
            );
            let after = sandbox.stats();
            assert!(
                output.success(),
                "round {round}: the resume failed: {output:?}"
            );
            assert_eq!(
                after.api_requests - before.api_requests,
                left,
                "round {round}: the resume sent exactly the unjournaled calls ({keys:?})"
            );
            tally.resent_in_flight += u32::try_from(in_flight).unwrap_or(0);
            let finished = output.finished();
            let creates = finished["outputs"]["creates"]
                .as_array()
                .expect("the creates");
            assert_eq!(creates.len(), items, "{finished}");
            // No create was sent twice: none was refused as a duplicate.
            let refused: Vec<&Value> = creates
                .iter()
                .filter(|c| c.get("error").is_some())
                .collect();
            assert!(
                refused.is_empty(),
                "round {round}: creates sent twice: {refused:?}"
            );
        }
        // Each address became one contact, and the journal holds every key once (a refused
        // create has no key of its own: only successful calls are journaled by index).
        assert_eq!(
            sandbox.contact_count() - contacts_before,
            items,
            "round {round}"
        );
        let keys = chaos::journal_keys(&state, run);
        let unique: BTreeSet<&String> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "round {round}: {keys:?}");
        let mut steps: Vec<&str> = keys
            .iter()
            .map(String::as_str)
            .filter(|k| !k.starts_with("creates[") && !k.starts_with("#intent creates["))
            .collect();
        steps.sort_unstable();
        assert_eq!(
            steps,
            ["#outputs", "creates", "first", "last"],
            "round {round}: {keys:?}"
        );
        let status = chaos::runs(&state)
            .into_iter()
            .find(|r| r.id == run)
            .map(|r| r.status);
        assert_eq!(status.as_deref(), Some("completed"), "round {round}");
        chaos::assert_intact(&state, &format!("round {round}, resumed"));
    }
    println!(
        "{} kills in {:?}: {tally:?}",
        tally.kills,
        started.elapsed()
    );
    assert_eq!(tally.kills, KILLS, "{tally:?}");
    let stats = sandbox.stats();
    assert_eq!(
        stats.invalid_grants,
        u64::from(tally.reauthorised),
        "every invalid_grant was a run that said so: {stats:?}"
    );
    // The connection works at the end.
    let last = ws.run(&[
        "run",
        &fixture_arg("account.json"),
        "--no-rate-limits",
        "--json",
    ]);
    last.finished();
    sweep(&ws, &sandbox, seen_tokens);
}

// ---- a runner killed while it holds the refresh lease ----

#[cfg(unix)]
#[test]
fn a_runner_killed_holding_the_refresh_lease_is_taken_over_within_seconds() {
    // With the runner's own limits on, a refresh waits for the token endpoint's slot (1 request
    // per second) while it holds the lease: a wide window to kill it in, before the token
    // request is sent (so the stored refresh token is still good).
    let sandbox = sandbox_with(|c| c.token_endpoint_per_second = Some(1));
    let ws = Workspace::new("suite-lease");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let account = fixture_arg("account.json");
    let args = ["run", account.as_str(), "--json"];
    let mut attempts = 0;
    let killed = loop {
        attempts += 1;
        assert!(attempts <= 10, "never saw a process hold the lease");
        // A refresh that spends this second's token request ...
        ws.expire_tokens_in(EXAMPLE_CONNECTION, skew_secs() / 2);
        ws.run(&args).finished();
        // ... and one that has to wait for the next second, holding the lease.
        ws.expire_tokens_in(EXAMPLE_CONNECTION, skew_secs() / 2);
        let refreshes = sandbox.stats().refreshes;
        let running = ws.spawn(&args);
        let killed = chaos::kill_when(running, Duration::from_secs(20), || {
            chaos::lease(ws.state(), EXAMPLE_CONNECTION).is_some_and(|l| l.holder.is_some())
        });
        let held = chaos::lease(ws.state(), EXAMPLE_CONNECTION).is_some_and(|l| l.holder.is_some());
        if was_killed(&killed) && held && sandbox.stats().refreshes == refreshes {
            break killed;
        }
    };
    chaos::save_output(ws.dir(), "lease-killed", &killed.output);
    chaos::assert_intact(ws.state(), "after the kill");
    let lease = chaos::lease(ws.state(), EXAMPLE_CONNECTION).expect("a lease row");
    let lapses_in = lease.until_ms.unwrap_or_default()
        - i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or_default(),
        )
        .unwrap_or_default();
    assert!(
        lapses_in > 20_000,
        "the dead holder's lease would lapse only in {lapses_in} ms"
    );

    // The next run takes the dead holder's lease over instead of waiting for it to lapse.
    let refreshes = sandbox.stats().refreshes;
    let started = Instant::now();
    let next = ws.run(&args);
    let took = started.elapsed();
    chaos::save_output(ws.dir(), "lease-next", &next);
    println!("the run after the kill took {took:?} (lease lapsing in {lapses_in} ms)");
    next.finished();
    assert!(took < Duration::from_secs(20), "{took:?}: {next:?}");
    let stats = sandbox.stats();
    assert_eq!(stats.refreshes, refreshes + 1, "{stats:?}");
    assert_eq!(stats.invalid_grants, 0, "{stats:?}");
    assert!(
        chaos::lease(ws.state(), EXAMPLE_CONNECTION).is_some_and(|l| l.holder.is_none()),
        "the lease is free again"
    );
    sweep(&ws, &sandbox, []);
}

// ---- 429 storms, 5xx and latency at the real limit ----

#[test]
fn the_real_limit_holds_through_429_storms_and_no_create_is_sent_twice() {
    // Constant Contact's real limits: 4 API requests per second (and 1 token request), enforced
    // by the sandbox; the runner's own limiter is on (no `--no-rate-limits`).
    let sandbox = sandbox_with(|c| {
        c.per_second_limit = Some(4);
        c.token_endpoint_per_second = Some(1);
    });
    let ws = Workspace::new("suite-storms");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let reads = fixture_arg("suite-storm-reads.json");
    let read_args = ["run", reads.as_str(), "--json"];

    // 1. Two processes, 32 reads four at a time: the shared limiter keeps both within 4/s, so
    //    the sandbox never has to refuse one.
    plugboard_tests::plugboard_binary();
    let started = Instant::now();
    let (a, b) = (ws.spawn(&read_args), ws.spawn(&read_args));
    let (a, b) = (a.wait(), b.wait());
    let took = started.elapsed();
    for (name, output) in [("limit-a", &a), ("limit-b", &b)] {
        chaos::save_output(ws.dir(), name, output);
        assert_eq!(output.finished()["outputs"]["reads"], 16, "{output:?}");
    }
    let stats = sandbox.stats();
    println!("32 reads at 4/s by two processes in {took:?}: {stats:?}");
    assert_eq!(
        stats.throttled_429, 0,
        "no request above the limit: {stats:?}"
    );
    assert!(stats.peak_per_second <= 4, "{stats:?}");
    assert_eq!(stats.api_served, 32, "{stats:?}");
    assert!(
        took >= Duration::from_secs(6),
        "32 requests at 4/s: {took:?}"
    );

    // 2. A storm of 429s with 5xx and latency: reads back off and are retried until served, and
    //    the only 429s are the injected ones.
    let storm = 6;
    sandbox.set_faults(Faults {
        force_throttle: storm,
        error_rate: 0.2,
        latency: Duration::from_millis(80),
        seed: 7,
        ..Faults::default()
    });
    let before = sandbox.stats();
    let output = ws.run(&read_args);
    chaos::save_output(ws.dir(), "storm", &output);
    let done = output.finished();
    let after = sandbox.stats();
    println!("the storm: {after:?}");
    assert_eq!(done["outputs"]["reads"], 16, "{done}");
    let organizations = done["outputs"]["organizations"]
        .as_array()
        .expect("every read's result");
    assert_eq!(organizations.len(), 16);
    assert!(
        organizations.iter().all(|o| o == "Plugboard Sandbox Inc."),
        "{done}"
    );
    assert_eq!(
        after.throttled_429 - before.throttled_429,
        u64::from(storm),
        "only the injected 429s: none caused by our excess: {after:?}"
    );
    assert!(after.peak_per_second <= 4, "{after:?}");
    assert!(after.injected_5xx > before.injected_5xx, "{after:?}");
    assert_eq!(after.api_served - before.api_served, 16, "{after:?}");
    assert_eq!(
        after.api_requests - before.api_requests,
        (after.api_served - before.api_served)
            + (after.throttled_429 - before.throttled_429)
            + (after.injected_5xx - before.injected_5xx),
        "every extra request was a fault, retried: {after:?}"
    );
    // No step result lost: the journal has all 16 reads, the step and the run's outputs.
    let run = done["run"].as_i64().expect("a run id");
    let journal = chaos::journal(ws.state(), run);
    let mut keys: Vec<&str> = journal.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    let mut expected: Vec<String> = (0..16).map(|i| format!("reads[{i}]")).collect();
    expected.push("reads".into());
    expected.push("#outputs".into());
    expected.sort_unstable();
    assert_eq!(keys, expected);

    // 3. Creates under 5xx: each POST reaches the sandbox once; a failed one is a result, not a
    //    retry.
    sandbox.set_faults(Faults {
        error_rate: 0.4,
        latency: Duration::from_millis(50),
        seed: 3,
        ..Faults::default()
    });
    let emails: Vec<String> = (0..8).map(|i| format!("storm.{i}@example.com")).collect();
    let inputs = format!("emails={}", json!(emails));
    let contacts = sandbox.contact_count();
    let before = sandbox.stats();
    let output = ws.run(&[
        "run",
        &fixture_arg("suite-creates.json"),
        "--json",
        "--input",
        &inputs,
    ]);
    chaos::save_output(ws.dir(), "creates", &output);
    let done = output.finished();
    let after = sandbox.stats();
    sandbox.set_faults(Faults::default());
    println!("the creates: {after:?}");
    let creates = done["outputs"]["creates"].as_array().expect("the creates");
    assert_eq!(creates.len(), 8, "{done}");
    let failed: Vec<usize> = (0..8)
        .filter(|i| creates[*i].get("error").is_some())
        .collect();
    let injected = after.injected_5xx - before.injected_5xx;
    assert!(injected > 0, "the seed injects 5xx: {after:?}");
    assert_eq!(
        u64::try_from(failed.len()).unwrap_or(0),
        injected,
        "each 5xx is one failed create: {done}"
    );
    assert_eq!(
        after.api_requests - before.api_requests,
        8 + (after.throttled_429 - before.throttled_429),
        "one POST per create (429s excepted: the server did not process those): {after:?}"
    );
    assert_eq!(after.throttled_429, before.throttled_429, "{after:?}");
    assert_eq!(sandbox.contact_count(), contacts + 8 - failed.len());
    for i in &failed {
        let message = creates[*i]["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("(HTTP 50"),
            "the 5xx is kept: {}",
            creates[*i]
        );
    }
    // Every result is journaled: the step with all eight, each success by itself.
    let run = done["run"].as_i64().expect("a run id");
    let journal = chaos::journal(ws.state(), run);
    let step = journal
        .iter()
        .find(|(k, _)| k == "creates")
        .map(|(_, v)| v.clone())
        .expect("the step is journaled");
    assert_eq!(&step, &Value::Array(creates.clone()));
    let calls: BTreeSet<String> = journal
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| k.starts_with("creates["))
        .collect();
    let succeeded: BTreeSet<String> = (0..8)
        .filter(|i| !failed.contains(i))
        .map(|i| format!("creates[{i}]"))
        .collect();
    assert_eq!(calls, succeeded);
    assert!(sandbox.stats().peak_per_second <= 4);
    sweep(&ws, &sandbox, []);
}

// ---- secrets ----

#[test]
fn secrets_stay_out_of_logs_journals_and_recordings_after_refreshes_and_failures() {
    // Trace logging: the most output the runner can produce, kept as log files and swept.
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("suite-secrets").with_env("PLUGBOARD_LOG", "trace");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let mut seen: BTreeSet<String> = chaos::stored_tokens(ws.state()).into_iter().collect();
    let account = fixture_arg("account.json");
    let args = ["run", account.as_str(), "--no-rate-limits", "--json"];

    // A refresh because the token is due, one after a 401, and a streamed export.
    ws.expire_tokens_in(EXAMPLE_CONNECTION, skew_secs() / 2);
    let output = ws.run(&args);
    chaos::save_output(ws.dir(), "refresh", &output);
    output.finished();
    seen.extend(chaos::stored_tokens(ws.state()));
    sandbox.expire_all_tokens();
    let output = ws.run(&args);
    chaos::save_output(ws.dir(), "after-401", &output);
    output.finished();
    seen.extend(chaos::stored_tokens(ws.state()));
    let export = ws.file("export.jsonl");
    let reads = fixture_arg("reads.json");
    let output = ws.run(&[
        "run",
        reads.as_str(),
        "--no-rate-limits",
        "--json",
        "--input",
        &format!("file={export}"),
    ]);
    chaos::save_output(ws.dir(), "export", &output);
    output.finished();
    seen.extend(chaos::stored_tokens(ws.state()));

    // A failed create (its error is journaled in `runs.error`).
    sandbox.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let output = ws.run(&[
        "run",
        &fixture_arg("create-contact.json"),
        "--no-rate-limits",
        "--json",
        "--input",
        "email=secret.sweep@example.com",
    ]);
    chaos::save_output(ws.dir(), "failed-create", &output);
    output.failed();
    sandbox.set_faults(Faults::default());

    // A spent refresh token: the state file still holds it after the sandbox rotated it away.
    let spent = chaos::stored_tokens(ws.state());
    seen.extend(spent.iter().cloned());
    // The sandbox's refresh of the stored token by someone else (another copy of the file).
    let copy = Workspace::new("suite-secrets-copy").with_env("PLUGBOARD_LOG", "trace");
    ws.copy_state_to(&copy);
    copy.expire_tokens_in(EXAMPLE_CONNECTION, skew_secs() / 2);
    let output = copy.run(&args);
    chaos::save_output(ws.dir(), "copy-refresh", &output);
    output.finished();
    seen.extend(chaos::stored_tokens(copy.state()));
    ws.expire_tokens_in(EXAMPLE_CONNECTION, skew_secs() / 2);
    let output = ws.run(&args);
    chaos::save_output(ws.dir(), "invalid-grant", &output);
    let failure = output.failed();
    assert!(
        failure["error"]
            .as_str()
            .is_some_and(|e| e.contains("invalid_grant")),
        "{output:?}"
    );
    assert!(sandbox.stats().invalid_grants >= 1);
    assert!(seen.len() >= 8, "tokens rotated: {} seen", seen.len());

    let runs = chaos::runs(ws.state());
    assert!(runs.len() >= 5, "{runs:?}");
    assert!(
        runs.iter().any(|r| r.error.is_some()),
        "failures are journaled: {runs:?}"
    );
    sweep(&copy, &sandbox, seen.iter().cloned());
    sweep(&ws, &sandbox, seen);
}

#[test]
fn the_sweep_finds_a_planted_secret() {
    // The sweeps must be able to fail: plant a token in a log and in a journal entry.
    let ws = Workspace::new("suite-sweep-check");
    let out = ws.run(&["connections"]);
    assert!(out.success(), "{out:?}");
    let planted = "planted-token-0123456789abcdefghijklmnopqrstuvwxyz".to_owned();
    let log = ws.dir().join("planted.log");
    std::fs::write(&log, format!("refresh with {planted} done")).expect("a log");
    let clean = ws.dir().join("clean.log");
    std::fs::write(&clean, "nothing here").expect("a log");
    let leaks = chaos::sweep_files(&[log.clone(), clean], std::slice::from_ref(&planted));
    assert_eq!(leaks.len(), 1, "{leaks:?}");
    assert_eq!(leaks[0].place, log.display().to_string());
    assert_eq!(leaks[0].secret_len, planted.len());

    let db = chaos::open(ws.state());
    db.execute(
        "INSERT INTO runs (workflow, inputs, status, error, started_at) VALUES ('w', '{}', 'failed', ?1, 0)",
        [format!("refused {planted}")],
    )
    .expect("a run row");
    drop(db);
    let leaks = chaos::sweep_journal(ws.state(), std::slice::from_ref(&planted));
    assert_eq!(leaks.len(), 1, "{leaks:?}");
    assert_eq!(chaos::integrity_check(ws.state()), "ok");
}
