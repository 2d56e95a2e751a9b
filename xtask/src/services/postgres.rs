//! A throwaway PostgreSQL server for the tests.
//!
//! - The programs come from `PATH` or Debian's `/usr/lib/postgresql/<version>/bin`; when neither
//!   has them, Debian's `postgresql` package is installed with apt-get.
//! - `initdb` makes a cluster in a new temporary folder (UTF-8, no locale, superuser
//!   `plugboard`), whose `pg_hba.conf` trusts connections from this machine only: TCP from
//!   127.0.0.1, and the unix socket, which lives in that folder (0700), not in /var/run.
//! - The server listens on a free port of 127.0.0.1 with fsync, synchronous commits and full-page
//!   writes off (a crash loses nothing worth keeping, and tests run faster), in a process group of
//!   its own so a Ctrl-C at the terminal reaches us, not it: we stop it in order.
//! - As root, both run as an unprivileged account (see [`super::account`]).
//! - Ready means `pg_isready` says so, within [`START_LIMIT`]; then `createdb` makes the
//!   database `plugboard`, and the tests get `PLUGBOARD_TEST_POSTGRES_URL`.
//! - Stopping is a fast shutdown (SIGINT: connections are ended, no waiting for them), bounded by
//!   [`STOP_LIMIT`] before a kill, then the folder is removed.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use tempfile::TempDir;

use super::account::{self, Account};
use super::{Running, log_tail, stop_child, wait_bounded};
use crate::signals::Interrupts;

/// The variable the tests read the server's URL from.
pub const URL_VAR: &str = "PLUGBOARD_TEST_POSTGRES_URL";

/// The superuser and the database the tests get.
const USER: &str = "plugboard";
const DATABASE: &str = "plugboard";

/// The programs used, all from one folder.
const PROGRAMS: [&str; 4] = ["initdb", "postgres", "pg_isready", "createdb"];

/// How long the server may take to accept connections.
pub const START_LIMIT: Duration = Duration::from_secs(60);
/// How long a fast shutdown may take before the server is killed.
pub const STOP_LIMIT: Duration = Duration::from_secs(20);
/// How long `initdb` and `createdb` may take.
const TOOL_LIMIT: Duration = Duration::from_secs(120);
/// Ports tried when another process takes the free port first.
const PORT_ATTEMPTS: usize = 3;

/// The folder holding the PostgreSQL programs: the folder of an `initdb` on `PATH` (symbolic
/// links followed), else the newest `/usr/lib/postgresql/<version>/bin`; the first that has all
/// of [`PROGRAMS`].
pub fn find_programs() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if account::is_executable(&initdb) {
                let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
                candidates.extend(real.parent().map(Path::to_path_buf));
                candidates.push(dir);
            }
        }
    }
    candidates.extend(debian_bin_dirs(Path::new("/usr/lib/postgresql")));
    candidates.into_iter().find(|dir| has_programs(dir))
}

/// `<root>/<version>/bin`, newest version first.
pub fn debian_bin_dirs(root: &Path) -> Vec<PathBuf> {
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version: Option<Vec<u32>> = name.split('.').map(|n| n.parse().ok()).collect();
            Some((version?, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

fn has_programs(dir: &Path) -> bool {
    PROGRAMS
        .iter()
        .all(|name| account::is_executable(&dir.join(name)))
}

/// The programs' folder, installing Debian's `postgresql` package if there is none.
pub fn find_or_install() -> anyhow::Result<PathBuf> {
    if let Some(dir) = find_programs() {
        return Ok(dir);
    }
    eprintln!(
        "postgres: PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql)"
    );
    account::apt_install(&["postgresql"])?;
    find_programs().context(
        "the postgresql package was installed, but initdb, postgres, pg_isready and createdb \
         are still not found in one folder of PATH or /usr/lib/postgresql/<version>/bin",
    )
}

/// A running throwaway server; stopped and removed when dropped.
pub struct PostgresServer {
    child: Option<Child>,
    dir: Option<TempDir>,
    port: u16,
    /// The folder of the programs, and the account they run as (for a restart).
    bin: PathBuf,
    account: Option<Account>,
}

impl PostgresServer {
    /// The URL of its database (no password: it trusts this machine).
    pub fn url(&self) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its temporary folder (data, socket, log).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(TempDir::path)
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Creates database `name` (letters, digits, `_`) and returns its URL.
    pub fn create_database(&self, name: &str, interrupts: &Interrupts) -> anyhow::Result<String> {
        anyhow::ensure!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "`{name}` is not a plain database name"
        );
        let dir = self.dir().context("postgres is not running")?;
        create_database(&self.bin, self.port, dir, name, interrupts)?;
        Ok(format!("postgres://{USER}@127.0.0.1:{}/{name}", self.port))
    }

    /// The rows `psql` prints for `sql` on the database at `url` (unaligned, tuples only).
    pub fn query(&self, url: &str, sql: &str) -> anyhow::Result<String> {
        let output = Command::new(self.bin.join("psql"))
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .output()
            .context("cannot run psql")?;
        ensure!(
            output.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Stops the server (a fast shutdown: its clients' connections are cut) and starts it again
    /// on the same data and port, as an operator's restart would; returns when it accepts
    /// connections again.
    pub fn restart(&mut self, interrupts: &Interrupts) -> anyhow::Result<()> {
        let mut child = self.child.take().context("postgres is not running")?;
        stop_child(&mut child, "INT", STOP_LIMIT).context("stopping PostgreSQL to restart it")?;
        let dir = self.dir().context("postgres has no folder")?.to_path_buf();
        let log_path = dir.join("postgres.log");
        let log = File::options()
            .append(true)
            .create(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        let mut command = postgres_command(&self.bin, &dir, self.port, self.account.as_ref());
        command.stdout(log.try_clone()?).stderr(log);
        self.child = Some(command.spawn().context("cannot start postgres again")?);
        let bin = self.bin.clone();
        match wait_until_ready(&bin, self, &log_path, interrupts)? {
            Readiness::Ready => Ok(()),
            Readiness::PortTaken => bail!(
                "postgres could not bind port {} again after its restart:\n{}",
                self.port,
                log_tail(&log_path, 20)
            ),
        }
    }
}

impl Running for PostgresServer {
    fn env(&self) -> Vec<(String, String)> {
        vec![(URL_VAR.to_owned(), self.url())]
    }

    fn stop(&mut self) -> anyhow::Result<()> {
        let was_running = self.child.is_some();
        let stopped = match self.child.take() {
            // SIGINT is PostgreSQL's fast shutdown.
            Some(mut child) => stop_child(&mut child, "INT", STOP_LIMIT),
            None => Ok(()),
        };
        let removed = match self.dir.take() {
            Some(dir) => {
                let path = dir.path().to_path_buf();
                dir.close()
                    .with_context(|| format!("cannot remove {}", path.display()))
            }
            None => Ok(()),
        };
        if was_running && stopped.is_ok() && removed.is_ok() {
            eprintln!("postgres: stopped");
        }
        stopped.context("stopping PostgreSQL").and(removed)
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            eprintln!("postgres: {error:#}");
        }
    }
}

/// Starts a throwaway server with an empty database (see the module docs).
pub fn start(interrupts: &Interrupts) -> anyhow::Result<PostgresServer> {
    let started = Instant::now();
    let bin = find_or_install()?;
    let account = account::unprivileged()?;
    let dir = tempfile::Builder::new()
        .prefix("plugboard-postgres-")
        .tempdir_in(account::temp_base(account.as_ref()))
        .context("cannot make a temporary folder for PostgreSQL")?;
    let mut server = PostgresServer {
        child: None,
        dir: None,
        port: 0,
        bin: bin.clone(),
        account: account.clone(),
    };
    let data = dir.path().join("data");
    let log_path = dir.path().join("postgres.log");
    if let Some(account) = &account {
        account.take_ownership(dir.path())?;
    }
    // From here on, dropping `server` removes the folder.
    let dir_path = dir.path().to_path_buf();
    server.dir = Some(dir);

    interrupts.check("preparing PostgreSQL")?;
    init_cluster(&bin, &dir_path, &data, account.as_ref(), interrupts)?;

    for attempt in 1..=PORT_ATTEMPTS {
        let port = free_port()?;
        let log = File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let mut command = postgres_command(&bin, &dir_path, port, account.as_ref());
        command.stdout(log.try_clone()?).stderr(log);
        let child = command.spawn().context("cannot start postgres")?;
        server.child = Some(child);
        server.port = port;
        match wait_until_ready(&bin, &mut server, &log_path, interrupts)? {
            Readiness::Ready => break,
            Readiness::PortTaken if attempt < PORT_ATTEMPTS => {
                server.child = None;
                continue;
            }
            Readiness::PortTaken => bail!(
                "postgres could not bind a free port of 127.0.0.1 in {PORT_ATTEMPTS} tries:\n{}",
                log_tail(&log_path, 20)
            ),
        }
    }

    create_database(&bin, server.port, &dir_path, DATABASE, interrupts)?;
    eprintln!(
        "postgres: {} on 127.0.0.1:{} (data in {}{}), ready in {:.1} s",
        version(&bin),
        server.port,
        dir_path.display(),
        account
            .as_ref()
            .map(|a| format!(", run as {}", a.name))
            .unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
    Ok(server)
}

/// The server on `port` over the cluster in `dir/data` (see the module docs for the settings),
/// in a process group of its own; the caller sets its output.
fn postgres_command(bin: &Path, dir: &Path, port: u16, account: Option<&Account>) -> Command {
    let mut command = Command::new(bin.join("postgres"));
    command
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-c", "listen_addresses=127.0.0.1", "-c"])
        .arg(format!("port={port}"))
        .arg("-c")
        .arg(format!("unix_socket_directories={}", dir.display()))
        .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
        .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
        .current_dir(dir)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .process_group(0);
    if let Some(account) = account {
        account.apply(&mut command);
    }
    command
}

/// `createdb name` on the server at `port` (its log in `dir`).
fn create_database(
    bin: &Path,
    port: u16,
    dir: &Path,
    name: &str,
    interrupts: &Interrupts,
) -> anyhow::Result<()> {
    let mut createdb = Command::new(bin.join("createdb"));
    createdb
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", USER, name])
        .env("LC_ALL", "C");
    run_bounded(
        createdb,
        &dir.join(format!("createdb-{name}.log")),
        "createdb",
        interrupts,
    )
}

/// `initdb` into `data`, then a `pg_hba.conf` that trusts this machine only.
fn init_cluster(
    bin: &Path,
    dir: &Path,
    data: &Path,
    account: Option<&Account>,
    interrupts: &Interrupts,
) -> anyhow::Result<()> {
    let mut initdb = Command::new(bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(data)
        .args(["-U", USER, "--auth=trust", "--no-locale", "--encoding=UTF8"])
        // No fsync of the new cluster: it lives as long as this run.
        .arg("--no-sync")
        .current_dir(dir)
        .env("LC_ALL", "C");
    if let Some(account) = account {
        account.apply(&mut initdb);
    }
    run_bounded(initdb, &dir.join("initdb.log"), "initdb", interrupts)?;
    let hba = data.join("pg_hba.conf");
    std::fs::write(
        &hba,
        "# plugboard's throwaway test server: trusts this machine only.\n\
         local all all trust\n\
         host  all all 127.0.0.1/32 trust\n",
    )
    .with_context(|| format!("cannot write {}", hba.display()))?;
    if let Some(account) = account {
        account.take_ownership(&hba)?;
    }
    Ok(())
}

enum Readiness {
    Ready,
    PortTaken,
}

/// Polls `pg_isready` until the server accepts connections, it exits, or [`START_LIMIT`].
fn wait_until_ready(
    bin: &Path,
    server: &mut PostgresServer,
    log_path: &Path,
    interrupts: &Interrupts,
) -> anyhow::Result<Readiness> {
    let deadline = Instant::now() + START_LIMIT;
    loop {
        interrupts.check("waiting for PostgreSQL to start")?;
        let child = server.child.as_mut().context("postgres was not started")?;
        if let Some(status) = child.try_wait()? {
            let log = log_tail(log_path, 20);
            if log.contains("could not bind") || log.contains("Address already in use") {
                return Ok(Readiness::PortTaken);
            }
            bail!("postgres exited ({status}) before accepting connections:\n{log}");
        }
        let ready = Command::new(bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &server.port.to_string()])
            .args(["-U", USER, "-d", "postgres", "-t", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("cannot run pg_isready")?;
        if ready.success() {
            return Ok(Readiness::Ready);
        }
        if Instant::now() > deadline {
            bail!(
                "postgres did not accept connections within {} s:\n{}",
                START_LIMIT.as_secs(),
                log_tail(log_path, 20)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs a tool with its output in `log`, killed after [`TOOL_LIMIT`]; fails with the log's end.
fn run_bounded(
    mut command: Command,
    log: &Path,
    what: &str,
    interrupts: &Interrupts,
) -> anyhow::Result<()> {
    let file = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot run {what}"))?;
    let deadline = Instant::now() + TOOL_LIMIT;
    while Instant::now() < deadline && interrupts.received().is_none() {
        if wait_bounded(&mut child, Duration::from_millis(200)) {
            break;
        }
    }
    if child.try_wait()?.is_none() {
        child.kill()?;
        child.wait()?;
        interrupts.check(&format!("running {what}"))?;
        bail!("{what} did not finish within {} s", TOOL_LIMIT.as_secs());
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{what} failed ({status}):\n{}", log_tail(log, 20));
    }
    Ok(())
}

/// A port of 127.0.0.1 nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// `PostgreSQL 15.18`, from `postgres --version`.
fn version(bin: &Path) -> String {
    Command::new(bin.join("postgres"))
        .arg("--version")
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .and_then(|text| {
            text.strip_prefix("postgres (PostgreSQL) ")
                .map(str::to_owned)
        })
        .map_or_else(|| "PostgreSQL".to_owned(), |v| format!("PostgreSQL {v}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_versions_are_tried_newest_first() {
        let root = tempfile::tempdir().expect("a temp dir");
        for version in ["9.6", "15", "13", "not-a-version"] {
            std::fs::create_dir_all(root.path().join(version).join("bin")).expect("mkdir");
        }
        let dirs = debian_bin_dirs(root.path());
        let names: Vec<String> = dirs
            .iter()
            .map(|d| {
                d.parent()
                    .and_then(Path::file_name)
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(names, ["15", "13", "9.6"]);
        assert!(
            !has_programs(&dirs[0]),
            "an empty bin folder does not count"
        );
    }
}
