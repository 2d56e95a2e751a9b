//! The contract a generic connector needs, as the runner consumes it: an auth scheme chosen per
//! connection, a base URL from settings, and a rate limit from settings. The connector here is
//! declared as plain JSON, as any third connector (or plugin) could declare it.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, Uri};
use axum::routing;
use plugboard_core::{
    AuthSpec, Connector, ConnectorError, Host, HttpRequest, Invocation, Manifest, Window,
};
use plugboard_runner::{
    ConnectionRecord, ConnectionStore, ConnectorSource, ExecutorConfig, Registry, Session,
    SqliteStore, StateStore, TokenStore,
};
use serde_json::{Map, Value, json};

/// Waits for a store call on the test's own thread (the store's methods are async).
fn wait<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(future)
}

const API_KEY: &str = "key-SECRET-1234";
const PASSWORD: &str = "pw-SECRET-5678";
/// A key the test API answers 401.
const WRONG_KEY: &str = "key-WRONG-0000";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: String,
    headers: HashMap<String, String>,
    at: Instant,
}

struct Server {
    seen: Arc<Mutex<Vec<Seen>>>,
    base: String,
    runtime: tokio::runtime::Runtime,
}

impl Server {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let record = Arc::clone(&seen);
        let router = Router::new().fallback(routing::any(move |uri: Uri, headers: HeaderMap| {
            let record = Arc::clone(&record);
            async move {
                record.lock().unwrap().push(Seen {
                    path: uri.path().to_owned(),
                    query: uri.query().unwrap_or_default().to_owned(),
                    headers: headers
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                        .collect(),
                    at: Instant::now(),
                });
                // The one key this API refuses, for the connection check.
                let refused = headers
                    .get("authorization")
                    .is_some_and(|v| v.as_bytes() == format!("Bearer {WRONG_KEY}").as_bytes());
                let status = if refused {
                    axum::http::StatusCode::UNAUTHORIZED
                } else {
                    axum::http::StatusCode::OK
                };
                (status, axum::Json(json!({"ok": !refused})))
            }
        }));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            seen,
            base,
            runtime,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn session(&self, store: Arc<dyn StateStore>) -> Session {
        self.session_of(Generic::new(), store)
    }

    fn session_of(&self, connector: Generic, store: Arc<dyn StateStore>) -> Session {
        let mut registry = Registry::new();
        registry
            .add(Arc::new(connector), ConnectorSource::BuiltIn)
            .unwrap();
        Session::new(
            registry,
            store,
            ExecutorConfig::default(),
            self.runtime.handle().clone(),
        )
        .unwrap()
    }
}

/// A generic connector declared as JSON: `{base_url}`, a selected auth, a limit setting.
struct Generic {
    manifest: Manifest,
}

impl Generic {
    fn new() -> Self {
        let key = |placement: Value, name_setting: Option<&str>| {
            let mut spec =
                json!({"type": "api_key", "key_setting": "api_key", "placement": placement});
            if let Some(field) = name_setting {
                spec["name_setting"] = json!(field);
            }
            spec
        };
        let manifest = serde_json::from_value(json!({
            "id": "generic", "name": "Generic", "version": "0.0.0", "description": "test",
            "base_url": "{base_url}",
            "auth": {
                "type": "selected", "field": "auth_type", "default": "none",
                "options": {
                    "none": {"type": "none"},
                    "api_key_header": key(json!({"in": "header", "name": "X-API-Key"}), Some("api_key_name")),
                    "api_key_query": key(json!({"in": "query", "name": "api_key"}), Some("api_key_name")),
                    "bearer": key(json!({"in": "header", "name": "Authorization", "prefix": "Bearer "}), None),
                    "basic": {"type": "basic", "username_setting": "username", "password_setting": "password"}
                }
            },
            "settings_schema": {
                "type": "object",
                "properties": {
                    "base_url": {"type": "string"},
                    "auth_type": {"type": "string"},
                    "api_key_name": {"type": "string"},
                    "api_key": {"type": "string", "x-plugboard-secret": true},
                    "username": {"type": "string"},
                    "password": {"type": "string", "x-plugboard-secret": true},
                    "requests_per_second": {
                        "type": "integer",
                        "x-plugboard-rate-limit": {"window": "second", "scope": {"per": "connection"}, "reset": "rolling"}
                    }
                },
                "required": ["base_url"]
            },
            "methods": [{
                "id": "get", "name": "get", "category": "HTTP", "description": "GET a path",
                "kind": "action", "output": "one", "idempotent": true,
                "input_schema": {"type": "object"}, "output_schema": {}
            }]
        }))
        .unwrap();
        Self { manifest }
    }
}

impl Connector for Generic {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn invoke(&self, invocation: &Invocation, host: &dyn Host) -> Result<Value, ConnectorError> {
        let seen = serde_json::to_string(&invocation.settings).unwrap();
        if seen.contains("SECRET") || invocation.settings.contains_key("api_key") {
            return Err(ConnectorError::plugin("a secret reached the connector"));
        }
        let path = invocation.input["path"].as_str().unwrap_or("/").to_owned();
        let mut request = HttpRequest::get(path);
        if let Some(header) = invocation.input["header"].as_str() {
            request = request.header(header, "from-the-connector");
        }
        if let Some(param) = invocation.input["param"].as_str() {
            request = request.query(param, "from-the-connector");
        }
        let response = host.send(request)?;
        if response.status == 401 {
            return Err(ConnectorError::Unauthorized {
                message: "the API refused the key".into(),
            });
        }
        Ok(json!({"status": response.status}))
    }
}

fn store() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("state.db")).unwrap());
    (dir, store)
}

fn connect(store: &SqliteStore, name: &str, settings: Value) {
    let record = ConnectionRecord {
        name: name.to_owned(),
        connector_id: "generic".to_owned(),
        settings: settings.as_object().cloned().unwrap(),
        endpoints: None,
    };
    wait(store.put_connection(&record)).unwrap();
}

fn get(session: &Session, connection: &str, path: &str) -> Result<Value, ConnectorError> {
    session.call(connection, "get", json!({"path": path}), &mut |_| Ok(()))
}

fn with(base: &str, extra: Value) -> Value {
    let mut settings: Map<String, Value> = extra.as_object().cloned().unwrap();
    settings.insert("base_url".into(), json!(base));
    Value::Object(settings)
}

#[test]
fn each_auth_type_injects_its_credential_and_the_connector_never_sees_a_secret() {
    let server = Server::start();
    let (_dir, store) = store();
    let base = format!("{}/api", server.base);
    let basic = {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("ann:{PASSWORD}"));
        format!("Basic {encoded}")
    };
    let cases = [
        ("none", json!({}), None, None),
        ("default", json!({"auth_type": null}), None, None),
        (
            "header",
            json!({"auth_type": "api_key_header", "api_key": API_KEY}),
            Some(("x-api-key", API_KEY.to_owned())),
            None,
        ),
        (
            "named-header",
            json!({"auth_type": "api_key_header", "api_key": API_KEY, "api_key_name": "X-Token"}),
            Some(("x-token", API_KEY.to_owned())),
            None,
        ),
        (
            "query",
            json!({"auth_type": "api_key_query", "api_key": API_KEY}),
            None,
            Some(format!("api_key={API_KEY}")),
        ),
        (
            "named-query",
            json!({"auth_type": "api_key_query", "api_key": API_KEY, "api_key_name": "token"}),
            None,
            Some(format!("token={API_KEY}")),
        ),
        (
            "bearer",
            json!({"auth_type": "bearer", "api_key": API_KEY}),
            Some(("authorization", format!("Bearer {API_KEY}"))),
            None,
        ),
        (
            "basic",
            json!({"auth_type": "basic", "username": "ann", "password": PASSWORD}),
            Some(("authorization", basic)),
            None,
        ),
    ];
    for (name, settings, _, _) in &cases {
        connect(&store, name, with(&base, settings.clone()));
    }
    let session = server.session(store.clone());
    for (name, _, header, query) in &cases {
        let output = get(&session, name, "/items").unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(output["status"], 200, "{name}");
        let seen = server.seen().pop().unwrap();
        assert_eq!(seen.path, "/api/items", "{name}");
        match header {
            Some((header, value)) => {
                assert_eq!(seen.headers.get(*header), Some(value), "{name}");
            }
            None => {
                assert!(!seen.headers.contains_key("authorization"), "{name}");
                assert!(!seen.headers.contains_key("x-api-key"), "{name}");
            }
        }
        assert_eq!(
            seen.query,
            query.clone().unwrap_or_default(),
            "{name}: only the chosen scheme's credential is sent"
        );
    }
    assert!(matches!(
        session.prepare("bearer").unwrap().context.auth(),
        AuthSpec::ApiKey(_)
    ));
    // Nothing that prints a session or a prepared connection shows a credential.
    let prepared = session.prepare("basic").unwrap();
    let debug = format!("{:?} {:?}", prepared.context, session);
    assert!(!debug.contains("SECRET"), "{debug}");
    assert!(!prepared.visible_settings.contains_key("password"));
}

#[test]
fn an_unusable_auth_choice_is_refused_before_any_request_without_echoing_values() {
    let server = Server::start();
    let (_dir, store) = store();
    let base = format!("{}/api", server.base);
    connect(
        &store,
        "unknown",
        with(&base, json!({"auth_type": "kerberos-SECRET"})),
    );
    connect(
        &store,
        "keyless",
        with(&base, json!({"auth_type": "bearer"})),
    );
    connect(
        &store,
        "no-password",
        with(&base, json!({"auth_type": "basic", "username": "ann"})),
    );
    let session = server.session(store);

    let error = get(&session, "unknown", "/items").unwrap_err();
    assert!(
        matches!(error, ConnectorError::InvalidInput { .. }),
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.contains("auth_type") && text.contains("bearer"),
        "{text}"
    );
    assert!(!text.contains("SECRET"), "{text}");

    let error = get(&session, "keyless", "/items").unwrap_err().to_string();
    assert!(error.contains("`api_key`"), "{error}");
    let error = get(&session, "no-password", "/items")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`password`") && !error.contains("`username`"),
        "{error}"
    );
    assert!(server.seen().is_empty(), "nothing was sent");
}

#[test]
fn the_base_url_comes_from_settings_and_requests_cannot_leave_it() {
    let server = Server::start();
    let (_dir, store) = store();
    connect(
        &store,
        "a",
        with(&format!("{}/tenants/a/", server.base), json!({})),
    );
    connect(
        &store,
        "b",
        with(&format!("{}/tenants/b", server.base), json!({})),
    );
    connect(
        &store,
        "bad",
        with("https://user:pw@example.invalid/x", json!({})),
    );
    connect(&store, "ftp", with("ftp://example.invalid/x", json!({})));
    let session = server.session(store);

    get(&session, "a", "/items?x=1").unwrap();
    get(&session, "b", "/items").unwrap();
    let absolute_inside = format!("{}/tenants/a/more", server.base);
    get(&session, "a", &absolute_inside).unwrap();
    let paths: Vec<String> = server.seen().iter().map(|s| s.path.clone()).collect();
    assert_eq!(
        paths,
        ["/tenants/a/items", "/tenants/b/items", "/tenants/a/more"]
    );

    let other_tenant = format!("{}/tenants/b/items", server.base);
    let other_port = "http://127.0.0.1:1/tenants/a/items";
    for path in [
        other_tenant.as_str(),
        other_port,
        "/../b/items",
        "//example.invalid/x",
        "https://example.invalid/tenants/a/x",
    ] {
        let error = get(&session, "a", path).unwrap_err();
        assert!(
            matches!(error, ConnectorError::Denied { .. }),
            "{path}: {error}"
        );
    }
    assert_eq!(server.seen().len(), 3, "no denied request was sent");

    for name in ["bad", "ftp"] {
        let error = get(&session, name, "/items").unwrap_err();
        let text = error.to_string();
        assert!(text.contains("`base_url`"), "{name}: {text}");
        assert!(!text.contains("pw@"), "{text}");
    }
}

#[test]
fn a_per_second_limit_from_settings_is_enforced_and_no_value_means_no_limit() {
    let server = Server::start();
    let (_dir, store) = store();
    let base = format!("{}/api", server.base);
    connect(
        &store,
        "limited",
        with(&base, json!({"requests_per_second": 2})),
    );
    connect(&store, "unlimited", with(&base, json!({})));
    let session = server.session(store);

    for _ in 0..6 {
        get(&session, "limited", "/limited").unwrap();
    }
    let arrivals: Vec<Instant> = server
        .seen()
        .iter()
        .filter(|s| s.path == "/api/limited")
        .map(|s| s.at)
        .collect();
    assert_eq!(arrivals.len(), 6);
    for window in arrivals.windows(3) {
        let span = window[2] - window[0];
        assert!(
            span >= Duration::from_millis(1000),
            "three requests within {span:?}: the connection's limit is 2 per rolling second"
        );
    }

    let limited = session.prepare("limited").unwrap();
    let limits = limited.context.rate_limits();
    assert_eq!(limits.len(), 1);
    assert_eq!((limits[0].limit, limits[0].window), (2, Window::Second));
    let unlimited = session.prepare("unlimited").unwrap();
    assert!(
        unlimited.context.rate_limits().is_empty(),
        "a connection without the setting gets no limit"
    );
    for _ in 0..3 {
        get(&session, "unlimited", "/free").unwrap();
    }
    assert_eq!(server.seen().len(), 9);
}

#[test]
fn connecting_a_non_oauth_connection_checks_and_stores_it_without_a_browser() {
    let server = Server::start();
    let (_dir, store) = store();
    let session = server.session(store.clone());
    let options = |name: &str, settings: Value| plugboard_runner::ConnectOptions {
        connector_id: "generic".into(),
        name: name.into(),
        settings: settings.as_object().cloned().unwrap(),
        endpoints: None,
        timeout: Duration::from_secs(1),
    };
    let base = format!("{}/api", server.base);
    let mut opened = 0;
    let record = session
        .connect(
            options(
                "good",
                with(&base, json!({"auth_type": "bearer", "api_key": API_KEY})),
            ),
            &mut |_| {
                opened += 1;
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(record.name, "good");
    assert_eq!(opened, 0, "there is nothing to authorize");
    assert!(wait(store.connection("good")).unwrap().is_some());
    assert!(wait(store.tokens("good")).unwrap().is_none());
    get(&session, "good", "/after-connect").unwrap();
    assert_eq!(
        server.seen().pop().unwrap().headers.get("authorization"),
        Some(&format!("Bearer {API_KEY}"))
    );

    for (name, settings) in [
        ("keyless", with(&base, json!({"auth_type": "bearer"}))),
        ("unknown", with(&base, json!({"auth_type": "nope"}))),
        ("not-a-url", with("example.invalid", json!({}))),
    ] {
        let error = session
            .connect(options(name, settings), &mut |_| Ok(()))
            .unwrap_err();
        assert!(
            matches!(error, plugboard_runner::ConnectError::Unusable(_)),
            "{name}: {error}"
        );
        assert!(
            wait(store.connection(name)).unwrap().is_none(),
            "{name} was not stored"
        );
    }
}

#[test]
fn a_connector_cannot_set_the_header_or_parameter_that_carries_the_credential() {
    let server = Server::start();
    let (_dir, store) = store();
    let base = format!("{}/api", server.base);
    connect(
        &store,
        "header",
        with(
            &base,
            json!({"auth_type": "api_key_header", "api_key": API_KEY, "api_key_name": "X-Token"}),
        ),
    );
    connect(
        &store,
        "query",
        with(
            &base,
            json!({"auth_type": "api_key_query", "api_key": API_KEY}),
        ),
    );
    let session = server.session(store);
    let call =
        |connection: &str, input: Value| session.call(connection, "get", input, &mut |_| Ok(()));
    let error = call("header", json!({"path": "/x", "header": "x-token"})).unwrap_err();
    assert!(matches!(error, ConnectorError::Denied { .. }), "{error}");
    let error = call("query", json!({"path": "/x", "param": "api_key"})).unwrap_err();
    assert!(matches!(error, ConnectorError::Denied { .. }), "{error}");
    let error = call("query", json!({"path": "/x?api_key=mine"})).unwrap_err();
    assert!(matches!(error, ConnectorError::Denied { .. }), "{error}");
    assert!(server.seen().is_empty(), "nothing was sent");
    // Other headers and parameters pass.
    call(
        "header",
        json!({"path": "/x", "header": "x-other", "param": "api_key"}),
    )
    .unwrap();
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn a_declared_check_refuses_a_wrong_key_before_anything_is_stored() {
    let server = Server::start();
    let (_dir, store) = store();
    let mut checked = Generic::new();
    checked.manifest.check = Some("get".into());
    let session = server.session_of(checked, store.clone());
    let base = format!("{}/api", server.base);
    let options = |name: &str, key: &str| plugboard_runner::ConnectOptions {
        connector_id: "generic".into(),
        name: name.into(),
        settings: with(&base, json!({"auth_type": "bearer", "api_key": key}))
            .as_object()
            .cloned()
            .unwrap(),
        endpoints: None,
        timeout: Duration::from_secs(1),
    };

    let error = session
        .connect(options("wrong", WRONG_KEY), &mut |_| Ok(()))
        .unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(
            &error,
            plugboard_runner::ConnectError::CheckFailed { method, kept: false, source: ConnectorError::Unauthorized { .. } }
                if method == "get"
        ),
        "{text}"
    );
    assert!(
        text.contains("nothing was saved") && !text.contains(WRONG_KEY),
        "{text}"
    );
    assert!(
        wait(store.connection("wrong")).unwrap().is_none(),
        "nothing stored"
    );
    assert_eq!(server.seen().len(), 1, "one check request");

    session
        .connect(options("right", API_KEY), &mut |_| Ok(()))
        .unwrap();
    assert!(wait(store.connection("right")).unwrap().is_some());
    let check = server.seen().pop().unwrap();
    assert_eq!(check.path, "/api/");
    assert_eq!(
        check.headers.get("authorization"),
        Some(&format!("Bearer {API_KEY}"))
    );

    // A check naming a method the connector lacks is refused when the connector is added.
    let mut broken = Generic::new();
    broken.manifest.check = Some("nope".into());
    let refused = Registry::new()
        .add(Arc::new(broken), ConnectorSource::BuiltIn)
        .map(|_| ())
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("`nope` as its connection check"),
        "{refused}"
    );
}
