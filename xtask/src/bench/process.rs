//! Running the optimized `plugboard` binary against a sandbox: state files with installed
//! connections, workflow files, and child processes whose output and peak memory are read.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use constant_contact_sandbox::Sandbox;
use plugboard_runner::{
    ConnectionRecord, ConnectionStore, Endpoints, SqliteStore, StoreError, TokenSet, TokenStore,
};
use secrecy::SecretString;
use serde_json::{Map, Value, json};

/// The longest a single benchmarked run may take before it is killed.
const RUN_DEADLINE: Duration = Duration::from_secs(600);

/// A fresh state file (any old one is removed) with the sandbox app's partner settings and one
/// connection per name, with tokens minted by the sandbox (no browser, no request counted).
pub fn install(sandbox: &Sandbox, state: &Path, connections: &[String]) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut path = state.as_os_str().to_owned();
        path.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(path));
    }
    let store = SqliteStore::open(state)?;
    let mut partner = Map::new();
    partner.insert("client_id".into(), json!(sandbox.client_id()));
    partner.insert("client_secret".into(), json!(sandbox.client_secret()));
    partner.insert("redirect_uri".into(), json!("http://127.0.0.1:0/callback"));
    // The store is asynchronous; this is a plain thread, so a small runtime waits for it.
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    runtime.block_on(async {
        store
            .set_partner_settings("constant-contact", &partner)
            .await?;
        for name in connections {
            let record = ConnectionRecord {
                name: name.clone(),
                connector_id: "constant-contact".into(),
                settings: Map::new(),
                endpoints: Some(Endpoints {
                    base_url: sandbox.api_base_url(),
                    authorize_url: Some(sandbox.authorize_url()),
                    token_url: Some(sandbox.token_url()),
                }),
            };
            store.put_connection(&record).await?;
            let grant = sandbox.mint_tokens();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let tokens = TokenSet {
                access_token: SecretString::from(grant.access_token),
                refresh_token: grant.refresh_token.map(SecretString::from),
                expires_at: i64::try_from(now + grant.expires_in).ok(),
                scope: Some(grant.scope),
            };
            store.put_tokens(name, &tokens).await?;
        }
        Ok::<_, StoreError>(())
    })?;
    Ok(())
}

/// A workflow of `count` calls of `method` through a `for_each` with `concurrency` workers.
pub fn repeat_calls(connection: &str, method: &str, count: u32, concurrency: u32) -> Value {
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

/// Writes a workflow whose connections are the `cc*` connections named in `body`'s calls.
pub fn write_workflow(dir: &Path, name: &str, body: &Value) -> anyhow::Result<PathBuf> {
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

/// Starts `plugboard run <workflow> --state <state> <extra>` with its output piped.
pub fn spawn_run(
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
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))
}

/// What a finished run printed, and its peak memory when it was measured.
#[derive(Debug)]
pub struct Finished {
    /// The run's standard output: its outputs as JSON.
    pub stdout: String,
    /// The kernel's high-water mark of the run's resident set, in MB (0 when not measured).
    pub peak_mb: f64,
}

impl Finished {
    /// The run's `outputs`: `plugboard run` prints them, as JSON, on standard output.
    pub fn outputs(&self) -> anyhow::Result<Value> {
        serde_json::from_str(&self.stdout)
            .with_context(|| format!("the run printed no outputs JSON:\n{}", self.stdout))
    }
}

/// Waits for a run; a failed run fails the benchmark with its error output.
pub fn finish(child: Child) -> anyhow::Result<Finished> {
    wait(child, false)
}

/// Waits for a run like [`finish`] and also reads its own peak resident set: the kernel's
/// high-water mark of the process (`VmHWM`), polled until it exits. (`getrusage`/`wait4` would
/// report the benchmark's memory instead: a child's maximum RSS includes what the forking
/// process had mapped before `exec`, and this process holds a sandbox with the whole account.)
pub fn finish_measured(child: Child) -> anyhow::Result<Finished> {
    wait(child, true)
}

fn wait(mut child: Child, measure: bool) -> anyhow::Result<Finished> {
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0_u64;
    let deadline = Instant::now() + RUN_DEADLINE;
    let status: ExitStatus = loop {
        if measure
            && let Ok(text) = std::fs::read_to_string(&status_file)
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
            let _ = child.wait();
            bail!("plugboard ran for more than {} s", RUN_DEADLINE.as_secs());
        }
        // Wall times are taken around this wait: poll often (a `waitpid` costs microseconds).
        std::thread::sleep(Duration::from_millis(if measure { 10 } else { 1 }));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        bail!("plugboard run failed ({status}):\n{stderr}");
    }
    Ok(Finished {
        stdout,
        peak_mb: peak_kb as f64 / 1024.0,
    })
}

/// Reads a child's pipe to the end on its own thread, so a full pipe never blocks the child.
fn drain<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}
