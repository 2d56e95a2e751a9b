//! `cargo xtask bench`: the figures issue 5 promises, measured against the sandbox with the
//! optimized `plugboard` binary, printed rather than asserted (speed is not a test).
//!
//! - `limiter`: one process at Constant Contact's real limits (4/s): the share of the allowed rate
//!   used and the 429s seen.
//! - `shared-limiter`: three processes, three connections of one application key, one state file:
//!   their sum must stay within 4/s.
//! - `overhead`: the sandbox's and the runner's limits off: steps per second.
//! - `streaming`: exporting a large account to JSON Lines: the runner's peak memory.
//!
//! Each benchmark starts an in-process sandbox, installs connections straight into a fresh state
//! file (tokens minted by the sandbox, so no browser is involved) and runs workflow files it
//! writes under `target/bench/<name>/`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use constant_contact_sandbox::{Sandbox, SandboxConfig};
use plugboard_runner::{ConnectionRecord, Endpoints, SqliteStore, StateStore, TokenSet};
use secrecy::SecretString;
use serde_json::{Map, Value, json};

/// The benchmarks, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Bench {
    /// One process at 4 requests/second for about a minute.
    Limiter,
    /// Three processes sharing one application key's 4 requests/second.
    SharedLimiter,
    /// Steps per second with every limit off.
    Overhead,
    /// Peak memory while exporting 200,000 contacts.
    Streaming,
}

/// How long the rate-limited benchmarks run; `quick` shortens them for a smoke run.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Seconds of traffic at 4/s for the limiter benchmarks.
    pub limited_seconds: u32,
    /// Steps of the overhead benchmark.
    pub overhead_steps: u32,
    /// Contacts of the streaming benchmark.
    pub streamed_contacts: usize,
}

impl Scale {
    /// The sizes the figures are stated for.
    pub const FULL: Self = Self {
        limited_seconds: 60,
        overhead_steps: 10_000,
        streamed_contacts: 200_000,
    };
    /// A short run that checks the benchmarks work.
    pub const QUICK: Self = Self {
        limited_seconds: 5,
        overhead_steps: 1_000,
        streamed_contacts: 10_000,
    };
}

/// Runs the benchmarks and prints their figures.
pub fn run(root: &Path, benches: &[Bench], scale: Scale) -> anyhow::Result<()> {
    eprintln!("building the optimized plugboard binary…");
    let binary = crate::plugins::build_binary_profile(root, "plugboard-cli", "plugboard", true)?;
    for bench in benches {
        let dir = root
            .join("target/bench")
            .join(format!("{bench:?}").to_lowercase());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        match bench {
            Bench::Limiter => limiter(&binary, &dir, 1, scale)?,
            Bench::SharedLimiter => limiter(&binary, &dir, 3, scale)?,
            Bench::Overhead => overhead(&binary, &dir, scale)?,
            Bench::Streaming => streaming(&binary, &dir, scale)?,
        }
    }
    Ok(())
}

/// `processes` processes, each on its own connection of the same application key, share 4/s.
fn limiter(binary: &Path, dir: &Path, processes: u32, scale: Scale) -> anyhow::Result<()> {
    let sandbox = Sandbox::spawn(SandboxConfig {
        contacts: 20,
        ..SandboxConfig::default()
    })?;
    let state = dir.join("state.db");
    let connections: Vec<String> = (1..=processes).map(|n| format!("cc{n}")).collect();
    install(&sandbox, &state, &connections)?;
    // 4/s for the whole duration, split between the processes, plus the first request.
    let total = 4 * scale.limited_seconds + 1;
    let per_process = total.div_ceil(processes);
    let mut children = Vec::new();
    let started = Instant::now();
    for connection in &connections {
        let workflow = write_workflow(
            dir,
            connection,
            &repeat_calls(connection, "account.get_summary", per_process, 4),
        )?;
        children.push(spawn_run(binary, &state, &workflow, &[])?);
    }
    for child in children {
        finish(child)?;
    }
    let elapsed = started.elapsed();
    let stats = serde_json::to_value(sandbox.stats())?;
    let requests = u64::from(per_process * processes);
    let intervals = requests.saturating_sub(1) as f64;
    let rate = intervals / elapsed.as_secs_f64();
    println!(
        "{}: {processes} process(es), {requests} requests in {:.1} s = {rate:.3} req/s = {:.1} % of 4/s; \
         429 throttled: {}, 429 quota: {}; sandbox API requests: {}",
        if processes == 1 {
            "limiter"
        } else {
            "shared-limiter"
        },
        elapsed.as_secs_f64(),
        rate / 4.0 * 100.0,
        stats["throttled_429"],
        stats["quota_429"],
        stats["api_requests"],
    );
    sandbox.shutdown();
    Ok(())
}

/// Simple steps per second with every limit off: one GET per step, journaled.
fn overhead(binary: &Path, dir: &Path, scale: Scale) -> anyhow::Result<()> {
    let sandbox = Sandbox::spawn(
        SandboxConfig {
            contacts: 20,
            ..SandboxConfig::default()
        }
        .unlimited(),
    )?;
    let state = dir.join("state.db");
    install(&sandbox, &state, &["cc".to_owned()])?;
    for concurrency in [1, 4] {
        let workflow = write_workflow(
            dir,
            &format!("overhead-{concurrency}"),
            &repeat_calls(
                "cc",
                "account.get_summary",
                scale.overhead_steps,
                concurrency,
            ),
        )?;
        let started = Instant::now();
        finish(spawn_run(binary, &state, &workflow, &["--no-rate-limits"])?)?;
        let elapsed = started.elapsed();
        println!(
            "overhead: {} steps (concurrency {concurrency}) in {:.2} s = {:.0} steps/s (process start included)",
            scale.overhead_steps,
            elapsed.as_secs_f64(),
            f64::from(scale.overhead_steps) / elapsed.as_secs_f64()
        );
    }
    sandbox.shutdown();
    Ok(())
}

/// Exports every contact of a large account to JSON Lines; reports the runner's peak memory.
fn streaming(binary: &Path, dir: &Path, scale: Scale) -> anyhow::Result<()> {
    let started = Instant::now();
    let sandbox = Sandbox::spawn(
        SandboxConfig {
            contacts: scale.streamed_contacts,
            ..SandboxConfig::default()
        }
        .unlimited(),
    )?;
    eprintln!(
        "sandbox seeded with {} contacts in {:.1} s",
        scale.streamed_contacts,
        started.elapsed().as_secs_f64()
    );
    let state = dir.join("state.db");
    install(&sandbox, &state, &["cc".to_owned()])?;
    let out = dir.join("contacts.jsonl");
    let workflow = write_workflow(
        dir,
        "export",
        &json!({
            "steps": [{
                "id": "export",
                "call": "cc.contacts.list",
                "input": { "status": ["all"], "include": ["list_memberships", "taggings"] },
                "records_to": out.display().to_string(),
            }],
            "outputs": { "contacts": "{{ steps.export.output.count }}" }
        }),
    )?;
    let started = Instant::now();
    let peak_mb = finish_measured(spawn_run(binary, &state, &workflow, &["--no-rate-limits"])?)?;
    let elapsed = started.elapsed();
    let lines = std::fs::read_to_string(&out)
        .with_context(|| format!("cannot read {}", out.display()))?
        .lines()
        .count();
    println!(
        "streaming: {lines} contacts exported in {:.1} s ({:.0} contacts/s); peak memory of the runner: {:.1} MB",
        elapsed.as_secs_f64(),
        lines as f64 / elapsed.as_secs_f64(),
        peak_mb
    );
    if lines != scale.streamed_contacts {
        bail!(
            "the export has {lines} lines, the sandbox {} contacts",
            scale.streamed_contacts
        );
    }
    sandbox.shutdown();
    Ok(())
}

/// A fresh state file with the sandbox app's partner settings and one connection per name, with
/// tokens minted by the sandbox.
fn install(sandbox: &Sandbox, state: &Path, connections: &[String]) -> anyhow::Result<()> {
    let store = SqliteStore::open(state)?;
    let mut partner = Map::new();
    partner.insert("client_id".into(), json!(sandbox.client_id()));
    partner.insert("client_secret".into(), json!(sandbox.client_secret()));
    partner.insert("redirect_uri".into(), json!("http://127.0.0.1:0/callback"));
    store.set_partner_settings("constant-contact", &partner)?;
    for name in connections {
        store.put_connection(&ConnectionRecord {
            name: name.clone(),
            connector_id: "constant-contact".into(),
            settings: Map::new(),
            endpoints: Some(Endpoints {
                base_url: sandbox.api_base_url(),
                authorize_url: Some(sandbox.authorize_url()),
                token_url: Some(sandbox.token_url()),
            }),
        })?;
        let grant = sandbox.mint_tokens();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        store.put_tokens(
            name,
            &TokenSet {
                access_token: SecretString::from(grant.access_token),
                refresh_token: grant.refresh_token.map(SecretString::from),
                expires_at: i64::try_from(now + grant.expires_in).ok(),
                scope: Some(grant.scope),
            },
        )?;
    }
    Ok(())
}

/// A workflow of `count` calls of `method` through a `for_each` with `concurrency` workers.
fn repeat_calls(connection: &str, method: &str, count: u32, concurrency: u32) -> Value {
    json!({
        "steps": [{
            "id": "calls",
            "for_each": format!("{{{{ range({count}) | list }}}}"),
            "concurrency": concurrency,
            "call": format!("{connection}.{method}"),
        }],
        "outputs": { "calls": "{{ steps.calls.output | length }}" }
    })
}

/// Writes a workflow over the `cc*` connections named in `body`'s calls.
fn write_workflow(dir: &Path, name: &str, body: &Value) -> anyhow::Result<PathBuf> {
    let mut workflow = json!({
        "name": format!("bench {name}"),
        "connections": {},
    });
    let calls = body["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["call"].as_str())
        .filter_map(|c| {
            c.split_once('.')
                .map(|(connection, _)| connection.to_owned())
        });
    for connection in calls {
        workflow["connections"][&connection] =
            json!({ "connector": "constant-contact", "connection": connection });
    }
    if let (Some(target), Some(extra)) = (workflow.as_object_mut(), body.as_object()) {
        target.extend(extra.clone());
    }
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&workflow)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

fn spawn_run(
    binary: &Path,
    state: &Path,
    workflow: &Path,
    extra: &[&str],
) -> anyhow::Result<Child> {
    Command::new(binary)
        .arg("run")
        .arg(workflow)
        .arg("--state")
        .arg(state)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))
}

/// Waits for a run; a failed run fails the benchmark with its error output.
fn finish(child: Child) -> anyhow::Result<()> {
    let output = child
        .wait_with_output()
        .context("cannot wait for plugboard")?;
    if !output.status.success() {
        bail!(
            "plugboard run failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Waits for a run like [`finish`] and returns its own peak resident set in MB: the kernel's
/// high-water mark of the process (`VmHWM`), read until it exits. (`getrusage`/`wait4` would
/// report the benchmark's own memory: a child's maximum includes what it shared before `exec`.)
fn finish_measured(mut child: Child) -> anyhow::Result<f64> {
    let stderr = child.stderr.take();
    let drain = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        }
        text
    });
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0_u64;
    let deadline = Instant::now() + Duration::from_secs(600);
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kb) = text
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        {
            peak_kb = peak_kb.max(kb);
        }
        if let Some(status) = child.try_wait().context("cannot wait for plugboard")? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("plugboard ran for more than 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let errors = drain.join().unwrap_or_default();
    if !status.success() {
        bail!("plugboard run failed ({status}):\n{errors}");
    }
    Ok(peak_kb as f64 / 1024.0)
}
