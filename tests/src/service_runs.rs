//! `plugboard serve`'s workflows and runs, for tests: a small API on 127.0.0.1 for tenants'
//! `http` connections to reach ([`LocalApi`]), the workflows the tests deploy, and the calls
//! that install connections, create tenants, deploy, start and wait for runs and read their
//! event streams.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::plugboard_binary;
use crate::service::{Launch, ServiceProcess};

/// The admin key every service of these tests is started with.
pub const ADMIN_KEY: &str = "admin-key-for-tests-0123456789abcdef";
/// Tenant A's API token (its connection's secret): must never appear in any answer.
pub const TOKEN_A: &str = "token-of-tenant-a-SECRET-1111";
/// Tenant B's API token.
pub const TOKEN_B: &str = "token-of-tenant-b-SECRET-2222";

/// How long a test waits for a run to end.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// One request the local API received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The request target (path and query).
    pub target: String,
    /// Whose token came with it (`a`, `b`, or `?`).
    pub caller: String,
    /// When its response was written in full; `None` while (or if never) answered.
    pub answered: Option<Instant>,
}

/// A small HTTP/1.1 API on 127.0.0.1: every GET answers `{"path", "caller", "items"}`; paths under
/// `/slow/` first wait `delay_ms`. It records every request and when it was answered.
pub struct LocalApi {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// How long `/slow/` paths wait before answering, in milliseconds.
    pub delay_ms: Arc<AtomicU64>,
}

impl LocalApi {
    /// Listens on a free port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
        let port = listener.local_addr().expect("an address").port();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (record, delay) = (Arc::clone(&seen), Arc::clone(&delay_ms));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (record, delay) = (Arc::clone(&record), Arc::clone(&delay));
                std::thread::spawn(move || answer(stream, &record, &delay));
            }
        });
        Self {
            port,
            seen,
            delay_ms,
        }
    }

    /// A base URL for a connection: this server, under `prefix`.
    pub fn base(&self, prefix: &str) -> String {
        format!("http://127.0.0.1:{}{prefix}", self.port)
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("not poisoned").clone()
    }

    /// How many requests each path received.
    pub fn counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for seen in self.seen() {
            *counts.entry(seen.target).or_default() += 1;
        }
        counts
    }
}

fn answer(stream: TcpStream, seen: &Mutex<Vec<Seen>>, delay_ms: &AtomicU64) {
    let mut reader = BufReader::new(stream.try_clone().expect("a clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let target = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let mut caller = "?".to_owned();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        let lower = header.to_ascii_lowercase();
        if lower.starts_with("authorization:") {
            if header.contains(TOKEN_A) {
                caller = "a".into();
            } else if header.contains(TOKEN_B) {
                caller = "b".into();
            }
        } else if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length.min(1 << 16)];
    let _ = reader.read_exact(&mut body);
    let index = {
        let mut seen = seen.lock().expect("not poisoned");
        seen.push(Seen {
            target: target.clone(),
            caller: caller.clone(),
            answered: None,
        });
        seen.len() - 1
    };
    let path = target.split('?').next().unwrap_or_default();
    if path.contains("/slow/") {
        std::thread::sleep(Duration::from_millis(delay_ms.load(Ordering::SeqCst)));
    }
    let payload = json!({"path": path, "caller": caller, "items": [{"path": path}]}).to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{payload}",
        payload.len()
    );
    let mut stream = stream;
    if stream.write_all(response.as_bytes()).is_ok() && stream.flush().is_ok() {
        seen.lock().expect("not poisoned")[index].answered = Some(Instant::now());
    }
}

/// The workflow most tests deploy: who am I (one call), then one slow call per item.
pub fn fetch_items() -> Value {
    json!({
        "name": "Fetch items",
        "description": "Asks the tenant's API who is calling, then fetches each item.",
        "connections": {"api": {"connector": "http", "connection": "web"}},
        "inputs": {
            "type": "object",
            "properties": {"items": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
            "required": ["items"]
        },
        "steps": [
            {"id": "whoami", "call": "api.http.request", "input": {"path": "/whoami"}},
            {
                "id": "fetch",
                "for_each": "{{ inputs.items }}",
                "call": "api.http.request",
                "input": {"path": "/slow/{{ item }}"}
            }
        ],
        "outputs": {
            "caller": "{{ steps.whoami.output.body.caller }}",
            "paths": "{{ steps.fetch.output | map(attribute='body') | map(attribute='path') | list }}"
        }
    })
}

/// Runs `plugboard args…` to its end, without the environment's plugin path or state file.
pub fn plugboard(args: &[&str]) -> std::process::Output {
    Command::new(plugboard_binary())
        .args(args)
        .env_remove("PLUGBOARD_PLUGIN_PATH")
        .env_remove("PLUGBOARD_STATE")
        .output()
        .expect("plugboard runs")
}

/// Installs `name` (e.g. `tenant-a/web`) in `state`: the http connector against `base_url`.
pub fn connect(state: &Path, name: &str, base_url: &str, token: &str) {
    connect_on(&Launch::file(state), name, base_url, token);
}

/// [`connect`] with `launch`'s binary, state and environment.
pub fn connect_on(launch: &Launch, name: &str, base_url: &str, token: &str) {
    let output = Command::new(&launch.binary)
        .arg("--state")
        .arg(&launch.state)
        .args(["connect", "http", "--name", name])
        .args(["--set", &format!("base_url={base_url}")])
        .args(["--set", "auth_type=bearer", "--set"])
        .arg(format!("api_key={token}"))
        .envs(launch.env.iter().map(|(name, value)| (name, value)))
        .env_remove("PLUGBOARD_PLUGIN_PATH")
        .env_remove("PLUGBOARD_STATE")
        .output()
        .expect("plugboard runs");
    assert!(
        output.status.success(),
        "connect {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Creates tenant `id` with the admin key; returns the tenant's key.
pub fn create_tenant(service: &ServiceProcess, id: &str) -> String {
    let (status, body) = service.json("POST", "/v1/tenants", Some(ADMIN_KEY), &json!({"id": id}));
    assert_eq!(status, 201, "{body}");
    body["api_key"].as_str().expect("a key").to_owned()
}

/// Deploys `workflow` as `name` with the admin key; the status and the answer.
pub fn deploy(service: &ServiceProcess, name: &str, workflow: &Value) -> (u16, Value) {
    service.call(
        "PUT",
        &format!("/v1/workflows/{name}"),
        Some(ADMIN_KEY),
        Some(workflow.to_string().into_bytes()),
    )
}

/// Starts a run of `fetch-items` for `tenant` over `items`; returns its id.
pub fn start_run(service: &ServiceProcess, tenant: &str, key: &str, items: &[&str]) -> i64 {
    let (status, body) = service.json(
        "POST",
        &format!("/v1/tenants/{tenant}/runs"),
        Some(key),
        &json!({"workflow": "fetch-items", "inputs": {"items": items}}),
    );
    assert_eq!(status, 202, "{body}");
    assert!(
        ["queued", "running"].contains(&body["status"].as_str().unwrap_or_default()),
        "{body}"
    );
    body["id"].as_i64().expect("a run id")
}

/// Polls the run until `done` says so (bounded by [`RUN_TIMEOUT`]).
pub fn wait_for(
    service: &ServiceProcess,
    tenant: &str,
    key: &str,
    run: i64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        let (status, body) = service.call(
            "GET",
            &format!("/v1/tenants/{tenant}/runs/{run}"),
            Some(key),
            None,
        );
        assert_eq!(status, 200, "{body}");
        if done(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not get there: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A run's server-sent event stream read to its end (the run has ended), as text.
pub fn events_text(service: &ServiceProcess, tenant: &str, key: &str, run: i64) -> String {
    let (status, events) = service.exchange(
        "GET",
        &format!("/v1/tenants/{tenant}/runs/{run}/events"),
        Some(key),
        None,
    );
    assert_eq!(status, 200, "{events}");
    events
}

/// Whether a run (as `GET …/runs/{id}` shows it) has ended.
pub fn ended(run: &Value) -> bool {
    ["completed", "failed", "cancelled"].contains(&run["status"].as_str().unwrap_or_default())
}

/// The `data:` payloads of a server-sent event stream.
pub fn sse_events(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|data| serde_json::from_str(data.trim()).expect("each event is JSON"))
        .collect()
}

/// Sets up a state file with each tenant's connection, then starts the service on it.
pub fn service_with_tenants(dir: &Path, api: &LocalApi) -> (ServiceProcess, String, String) {
    let state = dir.join("state.db");
    connect(&state, "tenant-a/web", &api.base("/a"), TOKEN_A);
    connect(&state, "tenant-b/web", &api.base("/b"), TOKEN_B);
    let service = ServiceProcess::start(&state, Some(ADMIN_KEY));
    let key_a = create_tenant(&service, "tenant-a");
    let key_b = create_tenant(&service, "tenant-b");
    let (status, body) = deploy(&service, "fetch-items", &fetch_items());
    assert_eq!(status, 201, "{body}");
    (service, key_a, key_b)
}

/// Like [`fetch_items`], with an idempotent method (`http.list`, a GET), whose calls the runner
/// may send again when their outcome is unknown.
pub fn list_items() -> Value {
    json!({
        "name": "List items",
        "connections": {"api": {"connector": "http", "connection": "web"}},
        "inputs": {
            "type": "object",
            "properties": {"items": {"type": "array", "items": {"type": "string"}}},
            "required": ["items"]
        },
        "steps": [{
            "id": "fetch",
            "for_each": "{{ inputs.items }}",
            "call": "api.http.list",
            "input": {"path": "/slow/{{ item }}", "items_field": "items", "max_pages": 1}
        }],
        "outputs": {"counts": "{{ steps.fetch.output | map(attribute='count') | list }}"}
    })
}

/// Deploys `fetch-items` as `name` with `key`; the status.
pub fn deploy_with(service: &ServiceProcess, name: &str, key: Option<&str>) -> u16 {
    service
        .call(
            "PUT",
            &format!("/v1/workflows/{name}"),
            key,
            Some(fetch_items().to_string().into_bytes()),
        )
        .0
}

/// A server-sent event stream read to its end on a raw socket (for a subscriber thread).
pub fn sse_get(base: &str, path: &str, key: &str, extra_headers: &str) -> String {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a timeout");
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nAuthorization: Bearer {key}\r\n{extra_headers}\r\n"
    );
    stream.write_all(head.as_bytes()).expect("sent");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}
