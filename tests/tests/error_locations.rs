//! Errors say where: a transport error names the connection and the `host:port` it could not
//! reach (never the URL, which may carry a key in its query), a `records_to` file that cannot be
//! written is named, and the advice after a refused refresh (`invalid_grant`) is the exact
//! `plugboard connect` command that fixes it: the state file in use and the endpoints the
//! connection was made with included, so following it literally reconnects this connection
//! instead of writing to the default state file against the real API. Everything runs through
//! the real `plugboard` binary.

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use constant_contact_sandbox::Sandbox;
use plugboard_runner::{ConnectionRecord, ConnectionStore as _, TokenStore as _};
use plugboard_tests::e2e::{
    CONNECTOR, EXAMPLE_CONNECTION, Output, Workspace, browse, endpoints, example, sandbox_config,
    start_sandbox,
};
use plugboard_tests::plugboard_binary;
use plugboard_tests::wait;
use serde_json::json;

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("a local address").port()
}

/// A workflow of one API read through connection `connection`, written into the workspace.
fn one_read(ws: &Workspace, connection: &str) -> PathBuf {
    let workflow = json!({
        "name": "One read",
        "connections": { "cc": { "connector": CONNECTOR, "connection": connection } },
        "steps": [ { "id": "account", "call": "cc.account.get_summary" } ]
    });
    let path = ws.dir().join(format!("read-{connection}.json"));
    std::fs::write(&path, workflow.to_string()).expect("the workflow is written");
    path
}

/// `plugboard run <workflow> --no-rate-limits --json [args...]`.
fn run(ws: &Workspace, workflow: &Path, args: &[&str]) -> Output {
    let workflow = workflow.to_string_lossy().into_owned();
    let mut all = vec!["run", workflow.as_str(), "--no-rate-limits", "--json"];
    all.extend(args);
    ws.run(&all)
}

/// The `error` of a failed run's last line.
fn run_error(output: &Output) -> String {
    output.failed()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Changes the stored endpoints of `connection` with `change`.
fn change_endpoints(ws: &Workspace, connection: &str, change: impl FnOnce(&mut ConnectionRecord)) {
    let store = ws.store();
    let mut record = wait(store.connection(connection))
        .expect("the state file is readable")
        .expect("the connection is installed");
    change(&mut record);
    wait(store.put_connection(&record)).expect("the connection is stored");
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

#[test]
fn a_refused_connection_names_the_connection_and_the_host_and_port() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("where-closed-api");
    let name = "closed-api";
    ws.install_connection(&sandbox, name);
    let port = closed_port();
    change_endpoints(&ws, name, |record| {
        if let Some(own) = record.endpoints.as_mut() {
            own.base_url = format!("http://127.0.0.1:{port}/v3");
        }
    });

    let output = run(&ws, &one_read(&ws, name), &[]);
    let error = run_error(&output);
    assert!(
        error.contains(&format!("`{name}`")),
        "names the connection: {output:?}"
    );
    assert!(
        error.contains(&format!("127.0.0.1:{port}")),
        "names the host and port: {output:?}"
    );
    assert!(
        !error.contains("http://") && !error.contains("/v3"),
        "never the URL: {output:?}"
    );
}

#[test]
fn a_refused_token_endpoint_names_the_connection_and_its_host_and_port() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("where-closed-token");
    let name = "closed-token";
    ws.install_connection(&sandbox, name);
    let port = closed_port();
    change_endpoints(&ws, name, |record| {
        if let Some(own) = record.endpoints.as_mut() {
            own.token_url = Some(format!("http://127.0.0.1:{port}/oauth2/token?tenant=t1"));
        }
    });
    // The access token is stale, so the run refreshes first.
    ws.expire_tokens_in(name, 0);

    let output = run(&ws, &one_read(&ws, name), &[]);
    let error = run_error(&output);
    assert!(
        error.contains(&format!("`{name}`")),
        "names the connection: {output:?}"
    );
    assert!(
        error.contains(&format!("token endpoint 127.0.0.1:{port}")),
        "names the token endpoint's host and port: {output:?}"
    );
    assert!(
        !error.contains("/oauth2") && !error.contains("tenant"),
        "never the URL: {output:?}"
    );
    assert_eq!(sandbox.stats().api_requests, 0);
}

#[test]
fn a_records_to_file_that_cannot_be_created_is_named() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("where-records-missing-dir");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    let file = ws.dir().join("no-such-dir").join("contacts.jsonl");
    let input = format!("file={}", file.display());

    let output = run(&ws, &example("export-contacts.json"), &["--input", &input]);
    let error = run_error(&output);
    assert!(
        error.contains(&file.display().to_string()),
        "names the file: {output:?}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_records_to_file_that_cannot_be_written_is_named() {
    // `/dev/full` opens for writing, then refuses every write (ENOSPC): a disk that fills up in
    // the middle of an export, whoever runs the test (root included).
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("where-records-full");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);

    let output = run(
        &ws,
        &example("export-contacts.json"),
        &["--input", "file=/dev/full"],
    );
    let error = run_error(&output);
    assert!(
        error.contains("/dev/full"),
        "names the file (the workflow engine writes `records_to`): {output:?}"
    );
}

/// The command inside the first `` `plugboard connect …` `` of `text`.
fn advised_connect(text: &str) -> Option<&str> {
    let start = text.find("`plugboard connect ")? + 1;
    let end = start + text[start..].find('`')?;
    Some(&text[start..end])
}

#[test]
fn the_invalid_grant_advice_is_the_exact_command_that_reconnects() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("where-invalid-grant");
    let name = "cc-revoked";
    ws.partner_set(&sandbox);
    ws.connect(&sandbox, name, browse);
    let workflow = one_read(&ws, name);
    run(&ws, &workflow, &[]).finished();

    // The grant is revoked: the stored refresh token is one the server no longer knows, and the
    // access token is stale, so the next run must refresh and is refused.
    let store = ws.store();
    let mut stored = wait(store.tokens(name))
        .expect("the state file is readable")
        .expect("the connection has tokens");
    stored.tokens.refresh_token = Some(format!("revoked-{}", now_secs()).into());
    stored.tokens.expires_at = Some(now_secs() - 10);
    wait(store.put_tokens(name, &stored.tokens)).expect("the tokens are stored");
    drop(store);

    let refused = run(&ws, &workflow, &[]);
    let error = run_error(&refused);
    assert!(error.contains("invalid_grant"), "{refused:?}");
    let own = endpoints(&sandbox);
    let expected = format!(
        "plugboard connect {CONNECTOR} --name {name} --base-url {} --authorize-url {} \
         --token-url {} --state {}",
        own.base_url,
        own.authorize_url.as_deref().unwrap_or_default(),
        own.token_url.as_deref().unwrap_or_default(),
        ws.state().display()
    );
    assert_eq!(
        advised_connect(&error),
        Some(expected.as_str()),
        "the advice repeats the endpoints and the state file (which the CLI hands the runner \
         as `ExecutorConfig::state_file`): {refused:?}"
    );
    assert!(sandbox.stats().invalid_grants >= 1);

    // Followed literally (with a default state file elsewhere, which it must not touch), it
    // reconnects this connection, and the workflow runs again.
    let home = ws.dir().join("home");
    std::fs::create_dir_all(&home).expect("a home directory");
    let connect = follow(&ws, &expected, &sandbox, &home);
    assert!(connect.success(), "the advised command fails:\n{connect:?}");
    assert!(
        std::fs::read_dir(&home)
            .expect("the home directory")
            .next()
            .is_none(),
        "the advised command wrote outside the state file it names"
    );
    run(&ws, &workflow, &[]).finished();
}

/// Runs the advised `plugboard connect …` command word for word (no shell: the test's paths and
/// URLs need no quoting), plays the browser for it, and returns what it printed (checked for
/// secrets). `HOME` and `XDG_STATE_HOME` point into `home`, so a command without `--state` would
/// leave its state file there.
fn follow(ws: &Workspace, command: &str, sandbox: &Sandbox, home: &Path) -> Output {
    assert!(!command.contains('\''), "needs no quoting: {command}");
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"plugboard"), "{command}");
    let mut child = Command::new(plugboard_binary())
        .args(&words[1..])
        .args(["--timeout", "30"])
        .env_remove("PLUGBOARD_STATE")
        .env_remove("PLUGBOARD_PLUGIN_PATH")
        .env("HOME", home)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("plugboard starts");
    let pump = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        let text = Arc::new(Mutex::new(String::new()));
        let into = Arc::clone(&text);
        let reader = std::thread::spawn(move || {
            let Some(mut pipe) = pipe else { return };
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buffer) {
                into.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        (text, reader)
    };
    let (stdout, out_reader) = pump(child.stdout.take().map(|p| Box::new(p) as _));
    let (stderr, err_reader) = pump(child.stderr.take().map(|p| Box::new(p) as _));
    let authorize = sandbox.authorize_url();
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = loop {
        let found = stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .split_whitespace()
            .find(|word| word.starts_with(&authorize))
            .map(str::to_owned);
        if found.is_some() || Instant::now() > deadline || matches!(child.try_wait(), Ok(Some(_))) {
            break found;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if let Some(url) = &url
        && let Err(error) = browse(url)
    {
        let _ = child.kill();
        panic!("the browser step failed: {error}");
    }
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break None,
        }
    };
    let _ = (out_reader.join(), err_reader.join());
    let take = |text: &Arc<Mutex<String>>| {
        std::mem::take(&mut *text.lock().unwrap_or_else(|e| e.into_inner()))
    };
    let output = Output {
        status,
        stdout: take(&stdout),
        stderr: take(&stderr),
    };
    ws.assert_no_secrets(&output);
    assert!(url.is_some(), "no authorize URL:\n{output:?}");
    output
}
