//! End-to-end helpers: the real `plugboard` binary run against its own state file and a Constant
//! Contact sandbox, every process bounded in time and every output checked for leaked secrets.
//!
//! A [`Workspace`] is one test's directory and state file. Each command it runs ([`Workspace::run`],
//! [`Workspace::spawn`]) is checked when it ends: neither stdout nor stderr may contain a secret the
//! workspace knows of: the client secret (the test's sandbox's, and the partner settings' after a
//! `--sandbox` run), its Basic form when registered, and every access or refresh token the state
//! file held before or after any command (read with [`SqliteStore`]'s own API). So invariant 2 is checked by every end-to-end test, not by one.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use constant_contact_sandbox::{RegisteredClient, Sandbox, SandboxConfig};
use plugboard_runner::{
    ConnectionRecord, ConnectionStore, Endpoints, SqliteStore, TokenSet, TokenStore,
};
use secrecy::ExposeSecret as _;
use serde_json::{Map, Value, json};

use crate::{TestDir, plugboard_binary, temp_dir, workspace_root};

/// The connector every end-to-end workflow uses.
pub const CONNECTOR: &str = "constant-contact";

/// The connection name the `examples/` workflows refer to.
pub const EXAMPLE_CONNECTION: &str = "constant-contact";

/// The longest any one `plugboard` process may take before the test kills it and fails.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(90);

/// A sandbox configuration for end-to-end tests: a small seed, no limits (the runner's limiter is
/// not what these tests measure; they pass `--no-rate-limits`), and a client secret unique to
/// this process, so finding it in any output cannot be a coincidence.
pub fn sandbox_config() -> SandboxConfig {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    SandboxConfig {
        contacts: 40,
        client: RegisteredClient {
            client_id: "e2e-client".into(),
            client_secret: format!("e2e-secret-{:x}-{nanos:x}", std::process::id()),
        },
        ..SandboxConfig::default()
    }
    .unlimited()
}

/// Starts a sandbox on its own thread (no runtime needed by the caller).
pub fn start_sandbox(config: SandboxConfig) -> Sandbox {
    Sandbox::spawn(config).expect("the sandbox starts on 127.0.0.1")
}

/// What one finished (or killed) `plugboard` process printed.
pub struct Output {
    /// The exit status (`None` when it could not be read).
    pub status: Option<ExitStatus>,
    /// Everything written to standard output.
    pub stdout: String,
    /// Everything written to standard error.
    pub stderr: String,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

impl Output {
    /// Whether the process exited with status 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// The JSON objects printed on stdout, one per line (`--json`); other lines are skipped.
    pub fn events(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
            .filter(Value::is_object)
            .collect()
    }

    /// The events of one kind (`"event": kind`).
    pub fn events_of(&self, kind: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == kind)
            .collect()
    }

    /// The last JSON line: `run_finished`, `run_failed`, or a `validate --json` listing.
    pub fn last_event(&self) -> Value {
        self.events()
            .pop()
            .unwrap_or_else(|| panic!("no JSON line on stdout:\n{self:?}"))
    }

    /// Asserts the run finished (exit 0, last line `run_finished`) and returns that line.
    pub fn finished(&self) -> Value {
        assert!(self.success(), "the run failed:\n{self:?}");
        let last = self.last_event();
        assert_eq!(last["event"], "run_finished", "{self:?}");
        last
    }

    /// Asserts the run failed (non-zero exit, last line `run_failed`) and returns that line.
    pub fn failed(&self) -> Value {
        assert!(!self.success(), "the run was expected to fail:\n{self:?}");
        let last = self.last_event();
        assert_eq!(last["event"], "run_failed", "{self:?}");
        last
    }
}

/// A connection's tokens as plain text, for tests only; `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredTokens {
    /// The access token.
    pub access: String,
    /// The refresh token.
    pub refresh: Option<String>,
    /// The store's version of this token set (grows with every write).
    pub version: i64,
}

impl std::fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTokens")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// One test's directory and state file, and the secrets no output of it may contain.
pub struct Workspace {
    dir: TestDir,
    state: PathBuf,
    secrets: Mutex<BTreeSet<String>>,
    env: Vec<(String, String)>,
}

impl Workspace {
    /// A fresh directory `plugboard-e2e-<name>-<pid>` with a state file path inside (not created).
    pub fn new(name: &str) -> Self {
        let dir = temp_dir(&format!("e2e-{name}"));
        let state = dir.join("state.db");
        Self {
            dir,
            state,
            secrets: Mutex::new(BTreeSet::new()),
            env: Vec::new(),
        }
    }

    /// Sets an environment variable for every command of this workspace.
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The test's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A file in the test's directory, as a string for `--input` values.
    pub fn file(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// The state file.
    pub fn state(&self) -> &Path {
        &self.state
    }

    /// Adds a value that must never appear in any output.
    pub fn add_secret(&self, secret: impl Into<String>) {
        let secret = secret.into();
        if !secret.is_empty() {
            self.secrets
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(secret);
        }
    }

    /// The `plugboard` command with `args`, this workspace's state file, the workspace root as
    /// working directory (so `examples/data/...` resolves) and debug logging on (more output, so
    /// more chances to catch a leak).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(plugboard_binary());
        command
            .current_dir(workspace_root())
            .args(args)
            .arg("--state")
            .arg(&self.state)
            .env_remove("PLUGBOARD_PLUGIN_PATH")
            .env_remove("PLUGBOARD_STATE")
            .env("PLUGBOARD_LOG", "debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    /// Runs `plugboard args...` to the end (bounded by [`PROCESS_TIMEOUT`]) and checks its output
    /// for secrets.
    pub fn run(&self, args: &[&str]) -> Output {
        self.spawn(args).wait()
    }

    /// Starts `plugboard args...` in the background.
    pub fn spawn(&self, args: &[&str]) -> Running<'_> {
        let mut child = self.command(args).spawn().expect("plugboard starts");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            pump(child.stdout.take(), Arc::clone(&stdout)),
            pump(child.stderr.take(), Arc::clone(&stderr)),
        ];
        Running {
            workspace: self,
            child,
            stdout,
            stderr,
            readers,
            started: Instant::now(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// Opens the state file in-process (it must exist: opening creates it).
    pub fn store(&self) -> SqliteStore {
        SqliteStore::open(&self.state).expect("the state file opens")
    }

    /// The stored tokens of `connection`, if any.
    pub fn tokens(&self, connection: &str) -> Option<StoredTokens> {
        if !self.state.exists() {
            return None;
        }
        let stored =
            crate::wait(self.store().tokens(connection)).expect("the state file is readable")?;
        Some(StoredTokens {
            access: stored.tokens.access_token.expose_secret().to_owned(),
            refresh: stored
                .tokens
                .refresh_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            version: stored.version,
        })
    }

    /// Makes the runner believe the access token of `connection` expires in `secs` seconds (the
    /// server's view is unchanged), e.g. inside the refresh skew to force a refresh before use.
    pub fn expire_tokens_in(&self, connection: &str, secs: i64) {
        let store = self.store();
        let mut stored = crate::wait(store.tokens(connection))
            .expect("the state file is readable")
            .expect("the connection has tokens");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        stored.tokens.expires_at = i64::try_from(now).ok().map(|now| now + secs);
        crate::wait(store.put_tokens(connection, &stored.tokens)).expect("the tokens are stored");
        // As if they were issued a day ago: a token's lifetime sets how early it is refreshed
        // (a fifth of it, at most the configured margin), and a long-lived one that is about
        // to expire is what these tests mean.
        let issued_ms = (i64::try_from(now).unwrap_or(0) - 86_400) * 1000;
        rusqlite::Connection::open(&self.state)
            .and_then(|db| {
                db.execute(
                    "UPDATE tokens SET updated_at = ?1 WHERE connection = ?2",
                    rusqlite::params![issued_ms, connection],
                )
            })
            .expect("the tokens' issue time is set");
    }

    /// Remembers every token the state file holds now as a secret.
    fn learn_stored_secrets(&self) {
        if !self.state.exists() {
            return;
        }
        let store = self.store();
        // The partner's client secret (a `--sandbox` run stores its sandbox's there).
        let partner =
            crate::wait(store.partner_settings(CONNECTOR)).expect("partner settings are readable");
        if let Some(secret) = partner.get("client_secret").and_then(Value::as_str) {
            self.add_secret(secret);
        }
        let connections = crate::wait(store.connections()).expect("connections are readable");
        for connection in connections {
            if let Some(tokens) =
                crate::wait(store.tokens(&connection.name)).expect("tokens are readable")
            {
                self.add_secret(tokens.tokens.access_token.expose_secret());
                if let Some(refresh) = &tokens.tokens.refresh_token {
                    self.add_secret(refresh.expose_secret());
                }
            }
        }
    }

    /// Fails when `output` contains any known secret (after learning the state file's tokens).
    pub fn assert_no_secrets(&self, output: &Output) {
        self.learn_stored_secrets();
        let secrets = self.secrets.lock().unwrap_or_else(|e| e.into_inner());
        for secret in secrets.iter() {
            // Never print the secret itself: say which stream and how long it was.
            assert!(
                !output.stdout.contains(secret.as_str()),
                "a secret ({} characters) appears on stdout",
                secret.len()
            );
            assert!(
                !output.stderr.contains(secret.as_str()),
                "a secret ({} characters) appears on stderr",
                secret.len()
            );
        }
    }

    /// Makes every secret `other` knows a secret of this workspace too (e.g. for a copy of its
    /// state file).
    pub fn learn_secrets_of(&self, other: &Workspace) {
        other.learn_stored_secrets();
        let theirs = other
            .secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for secret in theirs {
            self.add_secret(secret);
        }
    }

    /// Copies this workspace's state file (and its `-wal`/`-shm`, if present) into `other`.
    pub fn copy_state_to(&self, other: &Workspace) {
        for suffix in ["", "-wal", "-shm"] {
            let mut from = self.state.as_os_str().to_owned();
            from.push(suffix);
            let mut to = other.state.as_os_str().to_owned();
            to.push(suffix);
            if Path::new(&from).exists() {
                std::fs::copy(&from, &to).expect("the state file copies");
            }
        }
        other.learn_secrets_of(self);
    }

    /// Registers the sandbox's client secret as a secret of this workspace.
    pub fn know_sandbox(&self, sandbox: &Sandbox) {
        self.add_secret(sandbox.client_secret());
    }

    /// Installs `connection` against `sandbox` directly through the state store's API (partner
    /// settings, the connection with the sandbox's endpoints, and a token pair minted by the
    /// sandbox): the quick way for tests that are not about the authorization flow.
    pub fn install_connection(&self, sandbox: &Sandbox, connection: &str) {
        self.know_sandbox(sandbox);
        let store = self.store();
        crate::wait(store.set_partner_settings(CONNECTOR, &partner_settings(sandbox)))
            .expect("partner settings are stored");
        let record = ConnectionRecord {
            name: connection.to_owned(),
            connector_id: CONNECTOR.to_owned(),
            settings: Map::new(),
            endpoints: Some(endpoints(sandbox)),
        };
        crate::wait(store.put_connection(&record)).expect("the connection is stored");
        let grant = sandbox.mint_tokens();
        self.add_secret(grant.access_token.clone());
        if let Some(refresh) = &grant.refresh_token {
            self.add_secret(refresh.clone());
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let tokens = TokenSet {
            access_token: grant.access_token.into(),
            refresh_token: grant.refresh_token.map(Into::into),
            expires_at: i64::try_from(now + grant.expires_in).ok(),
            scope: Some(grant.scope),
        };
        crate::wait(store.put_tokens(connection, &tokens)).expect("the tokens are stored");
    }

    /// Sets the sandbox's app as the partner settings with `plugboard partner set`.
    pub fn partner_set(&self, sandbox: &Sandbox) -> Output {
        self.know_sandbox(sandbox);
        let client_id = format!("client_id={}", sandbox.client_id());
        let client_secret = format!("client_secret={}", sandbox.client_secret());
        let output = self.run(&[
            "partner",
            "set",
            CONNECTOR,
            &client_id,
            &client_secret,
            "redirect_uri=http://127.0.0.1:0/plugboard/callback",
        ]);
        assert!(output.success(), "partner set failed:\n{output:?}");
        output
    }

    /// Installs `connection` with `plugboard connect` against `sandbox`: waits for the authorize
    /// URL on stderr, hands it to `browse` (which plays the user's browser: GET it and follow the
    /// redirect to the callback), and waits for the command to finish.
    pub fn connect(
        &self,
        sandbox: &Sandbox,
        connection: &str,
        browse: impl FnOnce(&str) -> Result<(), String>,
    ) -> Output {
        let base = sandbox.api_base_url();
        let authorize = sandbox.authorize_url();
        let token = sandbox.token_url();
        let running = self.spawn(&[
            "connect",
            CONNECTOR,
            "--name",
            connection,
            "--base-url",
            &base,
            "--authorize-url",
            &authorize,
            "--token-url",
            &token,
            "--timeout",
            "30",
        ]);
        let url = running.wait_for_stderr(Duration::from_secs(30), |stderr| {
            stderr
                .split_whitespace()
                .find(|word| word.starts_with(&authorize))
                .map(str::to_owned)
        });
        let Some(url) = url else {
            let output = running.kill();
            panic!("`plugboard connect` printed no authorize URL:\n{output:?}");
        };
        if let Err(error) = browse(&url) {
            let output = running.kill();
            panic!("the browser step failed: {error}\n{output:?}");
        }
        let output = running.wait();
        assert!(output.success(), "plugboard connect failed:\n{output:?}");
        output
    }

    /// Asserts the state file and its `-wal`/`-shm` companions (those present) are mode 0600;
    /// returns the files checked.
    #[cfg(unix)]
    pub fn assert_private_state(&self) -> Vec<PathBuf> {
        use std::os::unix::fs::PermissionsExt as _;
        let mut checked = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let mut name = self.state.as_os_str().to_owned();
            name.push(suffix);
            let path = PathBuf::from(name);
            if let Ok(meta) = std::fs::metadata(&path) {
                let mode = meta.permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
                checked.push(path);
            }
        }
        assert!(
            checked.first() == Some(&self.state),
            "the state file {} does not exist",
            self.state.display()
        );
        checked
    }
}

/// The partner settings of the sandbox's registered app.
pub fn partner_settings(sandbox: &Sandbox) -> Map<String, Value> {
    let mut partner = Map::new();
    partner.insert("client_id".into(), json!(sandbox.client_id()));
    partner.insert("client_secret".into(), json!(sandbox.client_secret()));
    partner.insert(
        "redirect_uri".into(),
        json!("http://127.0.0.1:0/plugboard/callback"),
    );
    partner
}

/// The sandbox's endpoints as a connection's overrides.
pub fn endpoints(sandbox: &Sandbox) -> Endpoints {
    Endpoints {
        base_url: sandbox.api_base_url(),
        authorize_url: Some(sandbox.authorize_url()),
        token_url: Some(sandbox.token_url()),
    }
}

/// Copies a pipe into a shared string until it closes.
fn pump<R: Read + Send + 'static>(pipe: Option<R>, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let Some(mut pipe) = pipe else { return };
        let mut buffer = [0u8; 8192];
        loop {
            match pipe.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => into
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&String::from_utf8_lossy(&buffer[..n])),
            }
        }
    })
}

/// A `plugboard` process started by a [`Workspace`].
pub struct Running<'a> {
    workspace: &'a Workspace,
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    started: Instant,
    args: Vec<String>,
}

impl Running<'_> {
    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Polls stderr (every 10 ms, at most `timeout`) until `find` returns something.
    pub fn wait_for_stderr<T>(
        &self,
        timeout: Duration,
        find: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        poll(&self.stderr, timeout, find)
    }

    /// Polls stdout (every 10 ms, at most `timeout`) until `find` returns something.
    pub fn wait_for_stdout<T>(
        &self,
        timeout: Duration,
        find: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        poll(&self.stdout, timeout, find)
    }

    /// Waits for the process to exit; kills it and fails the test after [`PROCESS_TIMEOUT`].
    pub fn wait(mut self) -> Output {
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if self.started.elapsed() > PROCESS_TIMEOUT => {
                    let args = self.args.join(" ");
                    let output = self.kill();
                    panic!("`plugboard {args}` ran longer than {PROCESS_TIMEOUT:?}:\n{output:?}");
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(error) => panic!("cannot wait for plugboard: {error}"),
            }
        }
        self.collect()
    }

    /// Kills the process with SIGKILL (no cleanup runs in it) and returns what it printed.
    pub fn kill(mut self) -> Output {
        let _ = self.child.kill();
        self.collect()
    }

    fn collect(mut self) -> Output {
        let status = self.child.wait().ok();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let take = |s: &Arc<Mutex<String>>| {
            std::mem::take(&mut *s.lock().unwrap_or_else(|e| e.into_inner()))
        };
        let output = Output {
            status,
            stdout: take(&self.stdout),
            stderr: take(&self.stderr),
        };
        self.workspace.assert_no_secrets(&output);
        output
    }
}

/// Polls what a process printed so far (every 10 ms, at most `timeout`) until `find` returns
/// something.
fn poll<T>(
    printed: &Mutex<String>,
    timeout: Duration,
    find: impl Fn(&str) -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = find(&printed.lock().unwrap_or_else(|e| e.into_inner())) {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for Running<'_> {
    /// A test that panics while a process runs must not leave it behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Plays the user's browser: GETs the authorize URL and follows its redirect to the runner's
/// loopback callback.
pub fn browse(url: &str) -> Result<(), String> {
    get(url, None).and_then(|status| {
        if status == 200 {
            Ok(())
        } else {
            Err(format!("the authorization ended with HTTP {status}"))
        }
    })
}

/// A GET on 127.0.0.1 (redirects followed), with a bearer token if given; returns the status.
pub fn get(url: &str, bearer: Option<&str>) -> Result<u16, String> {
    plugboard_runner::executor::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| e.to_string())?;
        let mut request = client.get(url);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        Ok(response.status().as_u16())
    })
}

/// The 1-based line and column (in characters) where `needle` starts in `text`, for checking
/// the locations validation reports without hard-coding them.
pub fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` is not in the text"));
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..at].chars().count() + 1;
    (line, column)
}

/// A fixture workflow under `tests/fixtures/workflows/`.
pub fn fixture(name: &str) -> PathBuf {
    workspace_root()
        .join("tests")
        .join("fixtures")
        .join("workflows")
        .join(name)
}

/// An example workflow under `examples/`.
pub fn example(name: &str) -> PathBuf {
    workspace_root().join("examples").join(name)
}

/// The records of a JSON Lines file, checking each line is a JSON object.
pub fn jsonl(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    text.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{path}: a line is not JSON: {e}"));
            assert!(value.is_object(), "{path}: a line is not an object");
            value
        })
        .collect()
}
