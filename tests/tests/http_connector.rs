//! The generic `http` connector: built in and as a plugin it is the same connector, and it runs in
//! a workflow next to Constant Contact through the real `plugboard` binary (Constant Contact on
//! the sandbox, the http connection against a local server this test starts).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use plugboard_core::{ApiErrorDetail, Connector, ConnectorError, HttpResponse, Invocation};
use plugboard_runner::{Registry, load_plugin};
use plugboard_tests::{ScriptedHost, plugboard_binary, temp_dir, workspace_root};
use serde_json::{Map, Value, json};

const TOKEN: &str = "http-token-SECRET-31337";

/// The http connector built as a plugin, once per test process.
fn http_plugin() -> PathBuf {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    CELL.get_or_init(|| {
        let out = plugboard_tests::process_dir("lib-http-api-plugin");
        xtask::plugins::build_into(&workspace_root(), "http-api-plugin", &[], false, &out)
            .unwrap_or_else(|e| panic!("cannot build http-api-plugin: {e:#}"))
    })
    .clone()
}

/// The built-in, as the binary and xtask link it (`inventory`).
fn builtin() -> Arc<dyn Connector> {
    let (registry, problems) = Registry::with_builtins();
    assert!(problems.is_empty(), "{problems:?}");
    Arc::clone(
        &registry
            .get("http")
            .expect("the http connector is built in")
            .connector,
    )
}

fn invocation(method: &str, input: Value) -> Invocation {
    let settings = json!({"base_url": "https://api.example.test/v1", "auth_type": "bearer"});
    Invocation {
        method: method.into(),
        input,
        settings: settings.as_object().cloned().expect("an object"),
    }
}

fn observe(
    connector: &dyn Connector,
    call: &Invocation,
    responses: Vec<Result<HttpResponse, ConnectorError>>,
) -> (Result<Value, ConnectorError>, ScriptedHost) {
    let host = ScriptedHost::new(responses);
    let result = connector.invoke(call, &host);
    (result, host)
}

#[test]
fn the_plugin_and_the_builtin_have_identical_manifests() {
    let plugin = load_plugin(&http_plugin()).expect("the plugin loads");
    let builtin = builtin();
    assert_eq!(plugin.manifest(), builtin.manifest());
    assert_eq!(builtin.manifest().base_url, "{base_url}");
    assert_eq!(builtin.manifest().base_url_settings(), ["base_url"]);
}

#[test]
fn the_plugin_and_the_builtin_give_identical_results_for_the_same_calls() {
    let plugin = load_plugin(&http_plugin()).expect("the plugin loads");
    let builtin = builtin();
    let mut linked = HttpResponse::json(200, &json!({"data": [{"id": 1}, {"id": 2}]}));
    linked.headers.push((
        "link".into(),
        r#"<https://api.example.test/v1/items?page=2>; rel="next""#.into(),
    ));
    let cases: Vec<(Invocation, Vec<Result<HttpResponse, ConnectorError>>)> = vec![
        (
            invocation(
                "http.request",
                json!({"method": "POST", "path": "/events", "query": {"a": [1, "b"]},
                       "headers": {"X-Source": "test"}, "body": {"n": 1}}),
            ),
            vec![Ok(HttpResponse::json(201, &json!({"id": "e-1"})))],
        ),
        (
            invocation("http.request", json!({"path": "/missing"})),
            vec![Ok(HttpResponse {
                status: 404,
                headers: vec![],
                body: "not here".into(),
            })],
        ),
        (
            invocation(
                "http.request",
                json!({"path": "/x", "headers": {"Authorization": "Bearer mine"}}),
            ),
            vec![],
        ),
        (
            invocation(
                "http.list",
                json!({"path": "/items", "items_field": "data",
                       "pagination": {"style": "link_header"}}),
            ),
            vec![
                Ok(linked),
                Ok(HttpResponse::json(200, &json!({"data": [{"id": 3}]}))),
            ],
        ),
    ];
    for (call, responses) in cases {
        let (plugin_result, plugin_host) = observe(&plugin, &call, responses.clone());
        let (builtin_result, builtin_host) = observe(builtin.as_ref(), &call, responses);
        assert_eq!(plugin_result, builtin_result, "{}", call.method);
        assert_eq!(plugin_host.requests(), builtin_host.requests());
        assert_eq!(plugin_host.records(), builtin_host.records());
    }
    // The cases really ran: spot-check one result of each kind.
    let (missing, _) = observe(
        &plugin,
        &invocation("http.request", json!({"path": "/missing"})),
        vec![Ok(HttpResponse {
            status: 404,
            headers: vec![],
            body: "not here".into(),
        })],
    );
    assert_eq!(
        missing,
        Err(ConnectorError::Api {
            status: 404,
            errors: vec![ApiErrorDetail {
                key: "body".into(),
                message: "not here".into()
            }]
        })
    );
}

/// One request as the local API saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: String,
}

/// A minimal HTTP/1.1 API on 127.0.0.1 (the test package has no server framework): two linked
/// pages of items under `/api/items` and an event sink at `/api/events`. One request per
/// connection (`Connection: close`).
struct LocalApi {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl LocalApi {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
        let address = listener.local_addr().expect("an address");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let record = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let record = Arc::clone(&record);
                std::thread::spawn(move || serve(stream, address.port(), &record));
            }
        });
        Self {
            base: format!("http://{address}/api"),
            seen,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("not poisoned").clone()
    }
}

fn serve(stream: TcpStream, port: u16, seen: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("a clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
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
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length.min(1 << 20)];
    let _ = reader.read_exact(&mut body);
    let body = String::from_utf8_lossy(&body).into_owned();
    seen.lock().expect("not poisoned").push(Seen {
        method: method.clone(),
        target: target.clone(),
        headers,
        body: body.clone(),
    });
    let (status, extra, payload) = match (method.as_str(), target.as_str()) {
        ("GET", "/api/items") => (
            "200 OK",
            format!("Link: <http://127.0.0.1:{port}/api/items?page=2>; rel=\"next\"\r\n"),
            json!({"data": [{"id": 1}, {"id": 2}]}),
        ),
        ("GET", "/api/items?page=2") => ("200 OK", String::new(), json!({"data": [{"id": 3}]})),
        ("POST", "/api/events") => (
            "201 Created",
            String::new(),
            json!({"accepted": serde_json::from_str::<Value>(&body).unwrap_or(Value::Null)}),
        ),
        _ => ("404 Not Found", String::new(), json!({"error": "no route"})),
    };
    let payload = payload.to_string();
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{payload}",
        payload.len()
    );
    let mut stream = stream;
    let _ = stream.write_all(response.as_bytes());
}

fn plugboard(args: &[&str]) -> std::process::Output {
    std::process::Command::new(plugboard_binary())
        .args(args)
        .env_remove("PLUGBOARD_PLUGIN_PATH")
        .env_remove("PLUGBOARD_STATE")
        .output()
        .expect("plugboard runs")
}

fn text(output: &std::process::Output) -> String {
    format!(
        "status: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_workflow_calls_any_api_next_to_constant_contact_on_the_sandbox() {
    let api = LocalApi::start();
    let dir = temp_dir("http-workflow");
    let state = dir.join("sandbox.db").to_string_lossy().into_owned();
    let items_file = dir.join("items.jsonl").to_string_lossy().into_owned();

    // A non-OAuth connection installs without a browser; the token goes to the state file only.
    let base_url = format!("base_url={}", api.base);
    let token = format!("api_key={TOKEN}");
    let connect = plugboard(&[
        "--state",
        &state,
        "connect",
        "http",
        "--name",
        "http-api",
        "--set",
        &base_url,
        "--set",
        "auth_type=bearer",
        "--set",
        &token,
    ]);
    assert!(connect.status.success(), "{}", text(&connect));
    let listed = plugboard(&["--state", &state, "connections", "--json"]);
    let listing = text(&listed);
    assert!(listed.status.success(), "{listing}");
    assert!(listing.contains("http-api"), "{listing}");
    assert!(
        !listing.contains(TOKEN),
        "a listing never shows the token:\n{listing}"
    );

    let workflow = workspace_root()
        .join("examples/http-and-constant-contact.json")
        .to_string_lossy()
        .into_owned();
    let items_input = format!("items_file={items_file}");
    let run = plugboard(&[
        "--state",
        &state,
        "run",
        &workflow,
        "--sandbox",
        "--sandbox-unlimited",
        "--no-rate-limits",
        "--json",
        "--input",
        &items_input,
    ]);
    let all = text(&run);
    assert!(run.status.success(), "{all}");
    assert!(
        !all.contains(TOKEN),
        "the token never appears in output:\n{all}"
    );
    let last: Value = String::from_utf8_lossy(&run.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .next_back()
        .expect("a JSON line");
    assert_eq!(last["event"], "run_finished", "{all}");
    let outputs = &last["outputs"];
    assert_eq!(outputs["organization"], "Plugboard Sandbox Inc.", "{all}");
    assert_eq!(outputs["items"], 3);
    assert_eq!(outputs["pages"], 2);
    assert_eq!(outputs["event_status"], 201);
    assert_eq!(
        outputs["event_response"]["accepted"]["organization"],
        "Plugboard Sandbox Inc."
    );

    // The items were streamed to the file, one per line.
    let exported: Vec<Value> = std::fs::read_to_string(&items_file)
        .expect("the items file")
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON lines"))
        .collect();
    assert_eq!(
        exported,
        [json!({"id": 1}), json!({"id": 2}), json!({"id": 3})]
    );

    // The local API saw three requests, each with the host-injected bearer token.
    let seen = api.seen();
    let calls: Vec<(String, String)> = seen
        .iter()
        .map(|s| (s.method.clone(), s.target.clone()))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET".to_owned(), "/api/items".to_owned()),
            ("GET".to_owned(), "/api/items?page=2".to_owned()),
            ("POST".to_owned(), "/api/events".to_owned()),
        ]
    );
    for request in &seen {
        assert_eq!(
            request.headers.get("authorization"),
            Some(&format!("Bearer {TOKEN}"))
        );
    }
    assert_eq!(
        seen[2].headers.get("x-source").map(String::as_str),
        Some("plugboard")
    );
    let event: Map<String, Value> = serde_json::from_str(&seen[2].body).expect("a JSON body");
    assert_eq!(event["items"], 3);
}
