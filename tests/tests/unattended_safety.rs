//! Safety for unattended runs, through the real `plugboard` binary: a workflow cannot steer the
//! `http` connector's request (and the credential the host attaches) with routing, framing or
//! credential headers; plugins are not loaded from files other users can change; and a plugin
//! claiming a huge buffer is refused instead of aborting the host.

#![cfg(unix)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use plugboard_tests::e2e::{Output, Workspace};
use plugboard_tests::{constant_contact_plugin, install, workspace_root};
use serde_json::{Value, json};

const TOKEN: &str = "unattended-token-SECRET-4711";
const TENANT_KEY: &str = "tenant-key-SECRET-0815";

/// The headers of each request a local API received.
struct LocalApi {
    base: String,
    seen: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

impl LocalApi {
    /// Answers every request with `200 {"ok": true}` and records its headers (names lower-cased).
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
        let address = listener.local_addr().expect("an address");
        let seen: Arc<Mutex<Vec<HashMap<String, String>>>> = Arc::default();
        let record = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let record = Arc::clone(&record);
                std::thread::spawn(move || serve(stream, &record));
            }
        });
        Self {
            base: format!("http://{address}/api"),
            seen,
        }
    }

    fn seen(&self) -> Vec<HashMap<String, String>> {
        self.seen.lock().expect("not poisoned").clone()
    }
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<HashMap<String, String>>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("a clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    seen.lock().expect("not poisoned").push(headers);
    let payload = r#"{"ok":true}"#;
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    let mut stream = stream;
    let _ = stream.write_all(response.as_bytes());
}

/// A workspace with two `http` connections to `api`: `api` (bearer token) and `keyed` (an API
/// key in the `X-Tenant-Key` header).
fn connected(name: &str, api: &LocalApi) -> Workspace {
    let ws = Workspace::new(name);
    ws.add_secret(TOKEN);
    ws.add_secret(TENANT_KEY);
    let base_url = format!("base_url={}", api.base);
    for (connection, auth) in [
        (
            "api",
            vec!["auth_type=bearer".to_owned(), format!("api_key={TOKEN}")],
        ),
        (
            "keyed",
            vec![
                "auth_type=api_key_header".to_owned(),
                "api_key_name=X-Tenant-Key".to_owned(),
                format!("api_key={TENANT_KEY}"),
            ],
        ),
    ] {
        let mut args = vec!["connect", "http", "--name", connection, "--set", &base_url];
        for setting in &auth {
            args.extend(["--set", setting.as_str()]);
        }
        let output = ws.run(&args);
        assert!(output.success(), "`{connection}` is installed:\n{output:?}");
    }
    ws
}

/// `plugboard run <steps> --json` with the two connections of [`connected`].
fn run(ws: &Workspace, steps: Value) -> Output {
    let workflow = json!({
        "name": "Workflow-supplied headers",
        "connections": {
            "api": {"connector": "http", "connection": "api"},
            "keyed": {"connector": "http", "connection": "keyed"}
        },
        "steps": steps,
        "outputs": {}
    });
    let file = ws.dir().join("workflow.json");
    std::fs::write(&file, workflow.to_string()).expect("the workflow is written");
    ws.run(&["run", &file.to_string_lossy(), "--json"])
}

/// A step calling `http.request` on `connection` with one extra header.
fn request_with(id: &str, connection: &str, header: &str, value: &str) -> Value {
    json!({
        "id": id,
        "call": format!("{connection}.http.request"),
        "input": {"path": "/whoami", "headers": {header: value}},
        "on_error": "continue"
    })
}

/// The error text of the `step_failed` event of `id`.
fn failure_of(output: &Output, id: &str) -> String {
    output
        .events_of("step_failed")
        .into_iter()
        .find(|event| event["step"] == id)
        .and_then(|event| event["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no step_failed event for `{id}`:\n{output:?}"))
}

#[test]
fn a_workflow_cannot_set_host_and_nothing_is_sent() {
    let api = LocalApi::start();
    let ws = connected("unattended-host", &api);
    let mut step = request_with("evil", "api", "Host", "evil.example");
    step.as_object_mut().expect("an object").remove("on_error");
    let output = run(&ws, json!([step]));
    output.failed();
    let error = failure_of(&output, "evil");
    assert!(
        error.contains("`Host`") && error.contains("invalid input"),
        "the error names the header: {error}"
    );
    assert!(
        api.seen().is_empty(),
        "no request reached the server: {:?}",
        api.seen()
    );
}

#[test]
fn routing_framing_hop_by_hop_and_credential_headers_are_refused_and_others_pass() {
    let api = LocalApi::start();
    let ws = connected("unattended-headers", &api);
    let refused = [
        ("api", "host", "evil.example"),
        ("api", "X-Forwarded-Host", "evil.example"),
        ("api", "x-forwarded-for", "10.0.0.1"),
        ("api", "X-Forwarded-Proto", "https"),
        ("api", "Forwarded", "host=evil.example"),
        ("api", "Connection", "close"),
        ("api", "Keep-Alive", "timeout=5"),
        ("api", "Proxy-Authenticate", "Basic"),
        ("api", "Proxy-Authorization", "Basic eA=="),
        ("api", "TE", "trailers"),
        ("api", "Trailer", "X-Checksum"),
        ("api", "Transfer-Encoding", "chunked"),
        ("api", "Upgrade", "websocket"),
        ("api", "Content-Length", "0"),
        ("api", "AUTHORIZATION", "Bearer mine"),
        ("keyed", "x-tenant-key", "mine"),
    ];
    let mut steps: Vec<Value> = refused
        .iter()
        .enumerate()
        .map(|(i, (connection, header, value))| {
            request_with(&format!("h{i}"), connection, header, value)
        })
        .collect();
    let fine = json!({
        "id": "fine",
        "call": "keyed.http.request",
        "input": {"path": "/whoami", "headers": {"X-Source": "plugboard", "Cookie": "session=1"}}
    });
    steps.push(fine);
    let output = run(&ws, json!(steps));
    output.finished();
    for (i, (_, header, _)) in refused.iter().enumerate() {
        let error = failure_of(&output, &format!("h{i}"));
        assert!(
            error.contains(&format!("`{header}`")),
            "the error names `{header}`: {error}"
        );
    }
    let seen = api.seen();
    assert_eq!(seen.len(), 1, "only the fine request was sent: {seen:?}");
    let request = &seen[0];
    assert_eq!(
        request.get("x-source").map(String::as_str),
        Some("plugboard")
    );
    assert_eq!(request.get("cookie").map(String::as_str), Some("session=1"));
    assert_eq!(
        request.get("x-tenant-key").map(String::as_str),
        Some(TENANT_KEY)
    );
    let host = request.get("host").expect("a host header");
    assert!(host.starts_with("127.0.0.1:"), "{host}");
    assert!(!request.contains_key("x-forwarded-host"), "{request:?}");
}

/// `plugboard connectors --no-builtin --plugins DIR --json`.
fn connectors(ws: &Workspace, dir: &Path) -> Output {
    ws.run(&[
        "connectors",
        "--no-builtin",
        "--plugins",
        &dir.to_string_lossy(),
        "--json",
    ])
}

/// The connector ids `connectors --json` listed.
fn listed(output: &Output) -> Vec<String> {
    let listing: Value = serde_json::from_str(&output.stdout)
        .unwrap_or_else(|e| panic!("a JSON listing ({e}):\n{output:?}"));
    listing
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["id"].as_str().expect("an id").to_owned())
        .collect()
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A directory `name` in `ws` with mode `dir_mode` holding the Constant Contact plugin with mode
/// `file_mode`; returns the directory and the plugin file.
fn plugin_dir(ws: &Workspace, name: &str, dir_mode: u32, file_mode: u32) -> (PathBuf, PathBuf) {
    let dir = ws.dir().join(name);
    std::fs::create_dir_all(&dir).expect("a directory");
    let file = install(&constant_contact_plugin(), &dir, "cc");
    set_mode(&file, file_mode);
    set_mode(&dir, dir_mode);
    (dir, file)
}

/// Asserts the plugin was loaded.
fn assert_loads(ws: &Workspace, dir: &Path, case: &str) {
    let output = connectors(ws, dir);
    assert!(output.success(), "{case}: the plugin loads:\n{output:?}");
    assert_eq!(listed(&output), ["constant-contact"], "{case}");
}

/// Asserts the plugin was refused with an error naming `file` and containing `reason`.
fn assert_refused(ws: &Workspace, dir: &Path, file: &Path, reason: &str, case: &str) {
    let output = connectors(ws, dir);
    assert_eq!(
        output.status.and_then(|s| s.code()),
        Some(1),
        "{case}: a load problem fails the command:\n{output:?}"
    );
    assert!(listed(&output).is_empty(), "{case}: nothing loaded");
    let error = output
        .stderr
        .lines()
        .find(|line| line.starts_with("error: ") && line.contains(&*file.to_string_lossy()))
        .unwrap_or_else(|| panic!("{case}: no error names {}:\n{output:?}", file.display()));
    assert!(
        error.contains("refused") && error.contains(reason),
        "{case}: `{reason}` in: {error}"
    );
}

#[test]
fn plugins_other_users_could_change_are_refused() {
    let ws = Workspace::new("unattended-plugin-modes");

    let (safe, _) = plugin_dir(&ws, "safe", 0o755, 0o644);
    assert_loads(&ws, &safe, "0755 directory, 0644 file");

    let (dir, file) = plugin_dir(&ws, "writable-file", 0o755, 0o666);
    assert_refused(&ws, &dir, &file, "writable by every user", "0666 file");

    let (dir, file) = plugin_dir(&ws, "writable-dir", 0o777, 0o644);
    assert_refused(&ws, &dir, &file, "writable by every user", "0777 directory");
    let output = connectors(&ws, &dir);
    assert!(
        output.stderr.contains(&*dir.to_string_lossy()),
        "the unsafe directory is named:\n{output:?}"
    );

    // The issue's case: both at once.
    let (dir, file) = plugin_dir(&ws, "writable-both", 0o777, 0o666);
    assert_refused(
        &ws,
        &dir,
        &file,
        "writable by every user",
        "0777 dir, 0666 file",
    );

    // Like /tmp: others may add files but not replace ours.
    let (sticky, _) = plugin_dir(&ws, "sticky", 0o1777, 0o644);
    assert_loads(&ws, &sticky, "1777 directory, 0644 file");

    // A link in a safe directory to a file in an unsafe one is judged by where the file is.
    let (unsafe_dir, _) = plugin_dir(&ws, "link-target", 0o777, 0o644);
    let links = ws.dir().join("links");
    std::fs::create_dir_all(&links).expect("a directory");
    let link = links.join(format!("cc.{}", std::env::consts::DLL_EXTENSION));
    symlink(
        unsafe_dir.join(format!("cc.{}", std::env::consts::DLL_EXTENSION)),
        &link,
    )
    .expect("a symlink");
    assert_refused(
        &ws,
        &links,
        &link,
        "writable by every user",
        "link into a 0777 directory",
    );
}

/// Whether this process runs as root (a new file's owner is the effective user).
fn running_as_root(ws: &Workspace) -> bool {
    use std::os::unix::fs::MetadataExt;
    let probe = ws.dir().join("whoami");
    std::fs::write(&probe, "").expect("a file");
    std::fs::metadata(&probe).expect("metadata").uid() == 0
}

#[test]
fn plugins_owned_by_another_user_or_writable_by_a_shared_group_are_refused() {
    let ws = Workspace::new("unattended-plugin-owners");
    if !running_as_root(&ws) {
        eprintln!("skipped: changing a file's owner or group needs root");
        return;
    }
    const NOBODY: u32 = 65534;

    // Root's own group is private (named after it, no other members): group-writable is fine,
    // as with umask 002 and user-private groups every file a user builds is.
    let (private, _) = plugin_dir(&ws, "private-group", 0o775, 0o664);
    assert_loads(
        &ws,
        &private,
        "0664 file, 0775 directory of a private group",
    );

    let (dir, file) = plugin_dir(&ws, "shared-group", 0o755, 0o664);
    std::os::unix::fs::chown(&file, None, Some(NOBODY)).expect("chgrp");
    assert_refused(
        &ws,
        &dir,
        &file,
        "writable by group",
        "0664 file of a shared group",
    );

    let (dir, file) = plugin_dir(&ws, "shared-group-dir", 0o775, 0o644);
    std::os::unix::fs::chown(&dir, None, Some(NOBODY)).expect("chgrp");
    assert_refused(
        &ws,
        &dir,
        &file,
        "writable by group",
        "0775 directory of a shared group",
    );

    let (dir, file) = plugin_dir(&ws, "other-owner", 0o755, 0o644);
    std::os::unix::fs::chown(&file, Some(NOBODY), Some(NOBODY)).expect("chown");
    assert_refused(
        &ws,
        &dir,
        &file,
        "owned by uid 65534",
        "a file of another user",
    );

    // In a sticky directory anyone may add a file: it is refused for its owner.
    let (dir, file) = plugin_dir(&ws, "sticky-other-owner", 0o1777, 0o644);
    std::os::unix::fs::chown(&file, Some(NOBODY), Some(NOBODY)).expect("chown");
    assert_refused(
        &ws,
        &dir,
        &file,
        "owned by uid 65534",
        "a stranger's file in /tmp",
    );

    let (dir, file) = plugin_dir(&ws, "other-owner-dir", 0o755, 0o644);
    std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).expect("chown");
    assert_refused(
        &ws,
        &dir,
        &file,
        "owned by uid 65534",
        "a directory of another user",
    );
}

/// The broken-plugin fixture with its `huge-manifest` defect, built once. (Built here rather than
/// with `plugboard_tests::bad_plugin`, which knows only the older defects; this file builds no
/// other feature of the package, so no other build can overwrite the library before the copy.)
fn huge_manifest_plugin() -> PathBuf {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    CELL.get_or_init(|| {
        let out = plugboard_tests::process_dir("lib-bad-plugin-huge-manifest");
        xtask::plugins::build_into(
            &workspace_root(),
            "bad-plugin",
            &["huge-manifest"],
            false,
            &out,
        )
        .unwrap_or_else(|e| panic!("cannot build bad-plugin/huge-manifest: {e:#}"))
    })
    .clone()
}

#[test]
fn a_plugin_claiming_a_huge_manifest_is_refused_without_aborting() {
    let ws = Workspace::new("unattended-huge-manifest");
    let dir = ws.dir().join("plugins");
    std::fs::create_dir_all(&dir).expect("a directory");
    let file = install(&huge_manifest_plugin(), &dir, "huge");
    let output = connectors(&ws, &dir);
    assert_eq!(
        output.status.and_then(|s| s.code()),
        Some(1),
        "refused, not aborted (134) or killed by a signal:\n{output:?}"
    );
    assert!(!output.stderr.contains("memory allocation"), "{output:?}");
    let error = output
        .stderr
        .lines()
        .find(|line| line.contains(&*file.to_string_lossy()))
        .unwrap_or_else(|| panic!("no error names the plugin:\n{output:?}"));
    assert!(
        error.contains("manifest")
            && error.contains("1099511627776 bytes")
            && error.contains("64 MiB"),
        "{error}"
    );
}
