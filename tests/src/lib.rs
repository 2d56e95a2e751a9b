//! Shared helpers of the integration tests: a scripted [`Host`] and freshly built artifacts.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

pub mod chaos;
pub mod constant_contact_calls;
pub mod e2e;
pub mod openapi;
pub mod postgres;
pub mod service;
pub mod service_runs;
pub mod spec_limits;
pub mod temporal;

use plugboard_core::{ConnectorError, Host, HttpRequest, HttpResponse, LogLevel};
use serde_json::Value;

/// A host that answers requests from a script and records everything the connector did, so the
/// same call can be compared across a built-in and a plugin.
#[derive(Default)]
pub struct ScriptedHost {
    responses: Mutex<VecDeque<Result<HttpResponse, ConnectorError>>>,
    requests: Mutex<Vec<HttpRequest>>,
    records: Mutex<Vec<Value>>,
    logs: Mutex<Vec<(LogLevel, String)>>,
    sleeps: Mutex<Vec<std::time::Duration>>,
    cancelled: bool,
}

impl ScriptedHost {
    /// A host that answers the given responses in order, then fails.
    pub fn new(responses: impl IntoIterator<Item = Result<HttpResponse, ConnectorError>>) -> Self {
        Self {
            responses: Mutex::new(responses.into_iter().collect()),
            ..Self::default()
        }
    }

    /// A host whose run is already cancelled.
    pub fn cancelled() -> Self {
        Self {
            cancelled: true,
            ..Self::default()
        }
    }

    /// The requests sent so far.
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.requests.lock().expect("not poisoned").clone()
    }

    /// The log lines written so far.
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.logs.lock().expect("not poisoned").clone()
    }

    /// The waits the connector asked for, in order.
    pub fn sleeps(&self) -> Vec<std::time::Duration> {
        self.sleeps.lock().expect("not poisoned").clone()
    }

    /// The records emitted so far.
    pub fn records(&self) -> Vec<Value> {
        self.records.lock().expect("not poisoned").clone()
    }
}

impl Host for ScriptedHost {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        self.requests.lock().expect("not poisoned").push(request);
        self.responses
            .lock()
            .expect("not poisoned")
            .pop_front()
            .unwrap_or_else(|| {
                Err(ConnectorError::Transport {
                    message: "the script has no more responses".into(),
                })
            })
    }

    fn emit(&self, record: Value) -> Result<(), ConnectorError> {
        self.records.lock().expect("not poisoned").push(record);
        Ok(())
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.logs
            .lock()
            .expect("not poisoned")
            .push((level, message.to_owned()));
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled
    }

    /// Records the wait and returns at once: scripted calls replay without real delays.
    fn sleep(&self, duration: std::time::Duration) -> Result<(), ConnectorError> {
        if self.cancelled {
            return Err(ConnectorError::Cancelled);
        }
        self.sleeps.lock().expect("not poisoned").push(duration);
        Ok(())
    }
}

/// Waits for a call of the (asynchronous) state store from a test's own thread; never call it
/// inside an async block.
pub fn wait<F: std::future::Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the store")
        })
        .block_on(future)
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    xtask::workspace_root()
}

/// A fresh, empty directory for one test, removed when the test is done with it (unless
/// `PLUGBOARD_KEEP_SCRATCH` is set, to inspect a failure). Tests copy plugin libraries and write
/// state files here: left behind, a CI run's directories fill the disk its builds need.
pub fn temp_dir(name: &str) -> TestDir {
    let dir = std::env::temp_dir().join(format!("plugboard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("can create a temp dir");
    TestDir(dir)
}

/// A test's own directory (see [`temp_dir`]); it reads as the [`Path`] it is.
#[derive(Debug)]
pub struct TestDir(PathBuf);

impl std::ops::Deref for TestDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TestDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TestDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::env::var_os("PLUGBOARD_KEEP_SCRATCH").is_some() {
            eprintln!("kept the test directory {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A directory for libraries a test process builds once and keeps for its whole life: under the
/// target directory, which `cargo clean` empties, since a process-wide copy is never dropped.
pub fn process_dir(name: &str) -> PathBuf {
    // A test binary runs from `<target>/<profile>/deps/`.
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("a test binary under <target>/<profile>/deps");
    let dir = profile_dir
        .join("tmp")
        .join(format!("plugboard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("can create a directory under the target directory");
    dir
}

/// Builds a library once per test process and keeps a private copy. Builds are serialized here, not
/// only by cargo's lock: a build of the same package with other features writes the same file name,
/// so each copy must be taken before the next build starts.
fn built_once(cell: &'static OnceLock<PathBuf>, package: &str, features: &[&str]) -> PathBuf {
    static BUILDING: Mutex<()> = Mutex::new(());
    cell.get_or_init(|| {
        let _one_build_at_a_time = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
        let label = if features.is_empty() {
            package.to_owned()
        } else {
            format!("{package}-{}", features.join("-"))
        };
        let out = process_dir(&format!("lib-{label}"));
        xtask::plugins::build_into(&workspace_root(), package, features, false, &out)
            .unwrap_or_else(|e| panic!("cannot build {label}: {e:#}"))
    })
    .clone()
}

/// The Constant Contact connector built as a plugin, freshly.
pub fn constant_contact_plugin() -> PathBuf {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    built_once(&CELL, "constant-contact-plugin", &[])
}

/// The broken-plugin fixture built with one defect (`None`: no plugin symbol at all;
/// `misbehaving-invoke`: a loadable `misbehaving` connector whose calls panic, hang or answer
/// garbage).
pub fn bad_plugin(defect: Option<&'static str>) -> PathBuf {
    static NONE: OnceLock<PathBuf> = OnceLock::new();
    static WRONG_ABI: OnceLock<PathBuf> = OnceLock::new();
    static PANICKING: OnceLock<PathBuf> = OnceLock::new();
    static ABORT: OnceLock<PathBuf> = OnceLock::new();
    static MISBEHAVING: OnceLock<PathBuf> = OnceLock::new();
    match defect {
        None => built_once(&NONE, "bad-plugin", &[]),
        Some("wrong-abi") => built_once(&WRONG_ABI, "bad-plugin", &["wrong-abi"]),
        Some("panicking-manifest") => built_once(&PANICKING, "bad-plugin", &["panicking-manifest"]),
        Some("panic-abort") => built_once(&ABORT, "bad-plugin", &["panic-abort"]),
        Some("misbehaving-invoke") => {
            built_once(&MISBEHAVING, "bad-plugin", &["misbehaving-invoke"])
        }
        Some(other) => panic!("no bad-plugin defect `{other}`"),
    }
}

/// The `plugboard` binary, built if needed.
pub fn plugboard_binary() -> PathBuf {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    CELL.get_or_init(|| {
        xtask::plugins::build_binary(&workspace_root(), "plugboard-cli", "plugboard")
            .unwrap_or_else(|e| panic!("cannot build plugboard: {e:#}"))
    })
    .clone()
}

/// Copies `library` into `dir` under `name` (with the platform's library extension).
pub fn install(library: &Path, dir: &Path, name: &str) -> PathBuf {
    let target = dir.join(format!("{name}.{}", std::env::consts::DLL_EXTENSION));
    std::fs::copy(library, &target).expect("can copy a library");
    target
}
