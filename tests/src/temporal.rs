//! The Temporal side of the tests: the `plugboard` binary built with the `temporal` feature, the
//! dev server `cargo xtask test` starts (its address in `PLUGBOARD_TEST_TEMPORAL_ADDRESS`; without
//! it these helpers fail, never skip), and `plugboard worker` processes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use crate::workspace_root;

/// The binary built with the `postgres` and `temporal` features.
pub fn temporal_binary() -> PathBuf {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    CELL.get_or_init(
        || match std::env::var_os(xtask::test_command::TEMPORAL_BINARY_VAR) {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => xtask::test_command::build_temporal_binary(&workspace_root())
                .unwrap_or_else(|e| panic!("cannot build plugboard with Temporal: {e:#}")),
        },
    )
    .clone()
}

/// An environment variable `cargo xtask test` sets for these tests.
pub fn required(var: &str) -> String {
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => value,
        _ => panic!(
            "{var} is not set: run these tests with `cargo xtask test -p plugboard-tests --test \
             <name>`, which starts PostgreSQL and a Temporal dev server"
        ),
    }
}

/// The dev server's `HOST:PORT`.
pub fn temporal_address() -> String {
    required("PLUGBOARD_TEST_TEMPORAL_ADDRESS")
}

/// What the dev server holds of Temporal Schedule `id`: `temporal schedule describe` as JSON,
/// or `None` when the server has no such schedule.
pub fn describe_schedule(id: &str) -> Option<serde_json::Value> {
    let output = Command::new(required("PLUGBOARD_TEST_TEMPORAL_CLI"))
        .args([
            "schedule",
            "describe",
            "--schedule-id",
            id,
            "--output",
            "json",
        ])
        .args(["--address", &temporal_address()])
        .stdin(Stdio::null())
        .output()
        .expect("the temporal program runs");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("not found"),
            "temporal schedule describe: {stderr}"
        );
        return None;
    }
    Some(serde_json::from_slice(&output.stdout).expect("temporal prints JSON"))
}

/// A task queue of one test's own: tests run in parallel on one dev server, each with its own
/// database, and a worker must only get its own database's runs.
pub fn task_queue(test: &str) -> String {
    format!("plugboard-test-{}-{test}", std::process::id())
}

/// `plugboard worker` processes, killed when dropped; their logs go to files in `dir`.
pub struct Workers {
    children: Vec<Child>,
}

impl Workers {
    /// Starts `count` workers of `binary` on `state` and `queue`, with `secret_key` as
    /// `PLUGBOARD_SECRET_KEY`.
    pub fn start(
        count: usize,
        binary: &Path,
        state: &str,
        queue: &str,
        dir: &Path,
        secret_key: &str,
    ) -> Self {
        Self::start_with(count, binary, state, queue, dir, secret_key, &[])
    }

    /// [`Workers::start`], each worker with `extra` arguments (`--max-runs 1`, say).
    pub fn start_with(
        count: usize,
        binary: &Path,
        state: &str,
        queue: &str,
        dir: &Path,
        secret_key: &str,
        extra: &[&str],
    ) -> Self {
        let address = temporal_address();
        let children = (0..count)
            .map(|n| {
                let log = std::fs::File::create(dir.join(format!("worker-{n}.log")))
                    .expect("a worker log");
                Command::new(binary)
                    .current_dir(workspace_root())
                    .args(["worker", "--temporal", &address, "--task-queue", queue])
                    .args(["--state", state])
                    .args(extra)
                    .env_remove("PLUGBOARD_STATE")
                    .env_remove("PLUGBOARD_PLUGIN_PATH")
                    .env("PLUGBOARD_SECRET_KEY", secret_key)
                    .env("NO_COLOR", "1")
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().expect("a worker log"))
                    .stderr(log)
                    .spawn()
                    .expect("a worker starts")
            })
            .collect();
        Self { children }
    }
}

/// `temporal ARGS… --address <the dev server> --output json`, parsed.
fn temporal_json(args: &[&str]) -> serde_json::Value {
    let output = Command::new(required("PLUGBOARD_TEST_TEMPORAL_CLI"))
        .args(args)
        .args(["--address", &temporal_address(), "--output", "json"])
        .stdin(Stdio::null())
        .output()
        .expect("the temporal program runs");
    assert!(
        output.status.success(),
        "temporal {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("temporal prints JSON")
}

/// The run ids of every execution of workflow `id` (one per continue-as-new), as `temporal
/// workflow list` gives them.
pub fn executions(id: &str) -> Vec<String> {
    let listed = temporal_json(&["workflow", "list", "--query", &format!("WorkflowId='{id}'")]);
    listed
        .as_array()
        .map(|executions| {
            executions
                .iter()
                .filter_map(|e| e["execution"]["runId"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The events of execution `run_id` of workflow `id`, as `temporal workflow show` gives them.
pub fn history(id: &str, run_id: &str) -> Vec<serde_json::Value> {
    let shown = temporal_json(&["workflow", "show", "--workflow-id", id, "--run-id", run_id]);
    shown["events"].as_array().cloned().unwrap_or_default()
}

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
