//! A fake OAuth2 server and API on 127.0.0.1, and a tiny connector that sends whatever it is told.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing;
use base64::Engine as _;
use plugboard_core::{Connector, ConnectorError, Host, HttpRequest, Invocation, Manifest};
use plugboard_runner::{
    ConnectionRecord, ConnectionStore, ConnectorSource, Endpoints, ExecutorConfig, Registry,
    Session, SqliteStore, StateStore, TokenSet, TokenStore,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::Digest;

pub const CLIENT_ID: &str = "test-client";
pub const CLIENT_SECRET: &str = "client-secret-XYZZY";

/// A scripted API answer: status, JSON body, `Retry-After`.
pub type Scripted = (u16, Value, Option<String>);

/// Everything the fake server knows and counts.
#[derive(Default)]
pub struct FakeState {
    pub valid_access: Mutex<Vec<String>>,
    pub valid_refresh: Mutex<Vec<String>>,
    pub issued: AtomicU32,
    pub refreshes: AtomicU32,
    pub invalid_grants: AtomicU32,
    pub bad_client_auth: AtomicU32,
    /// Path -> scripted responses, served before the normal answer.
    pub script: Mutex<HashMap<String, VecDeque<Scripted>>>,
    /// Every API request: (path, arrival).
    pub api_requests: Mutex<Vec<(String, Instant)>>,
    /// The store file and connection the API checks the presented token against.
    pub check_store: Mutex<Option<(PathBuf, String)>>,
    pub not_stored: AtomicU32,
    /// Delay before answering a refresh, to widen race windows.
    pub refresh_delay: Mutex<Duration>,
    /// Authorization codes -> (PKCE challenge, redirect URI).
    pub codes: Mutex<HashMap<String, (Option<String>, String)>>,
    /// How `/oauth/authorize` answers: "ok", "deny" or "bad-state".
    pub authorize_mode: Mutex<String>,
    pub pkce_failures: AtomicU32,
    /// When each token request arrived.
    pub token_requests: Mutex<Vec<Instant>>,
    /// "Another process" for the next N refused tokens: (store file, connection, N). Each 401
    /// stores a newer token pair in that store, which is then revoked before anyone uses it.
    pub rotate_after_401: Mutex<Option<(PathBuf, String, u32)>>,
}

impl FakeState {
    pub fn api_count(&self, path: &str) -> usize {
        self.api_requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .count()
    }

    pub fn script(&self, path: &str, responses: Vec<(u16, Value, Option<&str>)>) {
        self.script.lock().unwrap().insert(
            path.to_owned(),
            responses
                .into_iter()
                .map(|(s, b, r)| (s, b, r.map(str::to_owned)))
                .collect(),
        );
    }

    fn issue(&self) -> (String, String) {
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let access = format!("access-token-{n}-SECRET");
        let refresh = format!("refresh-token-{n}-SECRET");
        self.valid_access.lock().unwrap().push(access.clone());
        self.valid_refresh.lock().unwrap().push(refresh.clone());
        (access, refresh)
    }
}

/// The next scripted answer for `path`, if the test queued one.
fn scripted_response(state: &FakeState, path: &str) -> Option<Response> {
    let (status, body, retry_after) = state
        .script
        .lock()
        .unwrap()
        .get_mut(path)
        .and_then(VecDeque::pop_front)?;
    let mut response = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    if let Some(retry_after) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", retry_after.parse().unwrap());
    }
    Some(response)
}

fn oauth_error(error: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": error, "error_description": "refused by the fake server"})),
    )
        .into_response()
}

async fn token(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    state.token_requests.lock().unwrap().push(Instant::now());
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        state.bad_client_auth.fetch_add(1, Ordering::SeqCst);
        return oauth_error("invalid_client");
    }
    if let Some(response) = scripted_response(&state, "/oauth/token") {
        return response;
    }
    match form.get("grant_type").map(String::as_str) {
        Some("refresh_token") => {
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            let delay = *state.refresh_delay.lock().unwrap();
            tokio::time::sleep(delay).await;
            let known = {
                let mut valid = state.valid_refresh.lock().unwrap();
                let before = valid.len();
                valid.retain(|t| t != &presented);
                before != valid.len()
            };
            if !known {
                state.invalid_grants.fetch_add(1, Ordering::SeqCst);
                return oauth_error("invalid_grant");
            }
            state.refreshes.fetch_add(1, Ordering::SeqCst);
            let (access, refresh) = state.issue();
            axum::Json(json!({
                "access_token": access, "refresh_token": refresh, "token_type": "Bearer",
                "expires_in": 3600, "scope": "read offline_access"
            }))
            .into_response()
        }
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            let Some((challenge, redirect)) = state.codes.lock().unwrap().remove(&code) else {
                return oauth_error("invalid_grant");
            };
            if form.get("redirect_uri") != Some(&redirect) {
                return oauth_error("invalid_grant");
            }
            if let Some(challenge) = challenge {
                let verifier = form.get("code_verifier").cloned().unwrap_or_default();
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(sha2::Sha256::digest(verifier.as_bytes()));
                if computed != challenge {
                    state.pkce_failures.fetch_add(1, Ordering::SeqCst);
                    return oauth_error("invalid_grant");
                }
            }
            let (access, refresh) = state.issue();
            axum::Json(json!({
                "access_token": access, "refresh_token": refresh, "token_type": "Bearer",
                "expires_in": 86400, "scope": "read offline_access"
            }))
            .into_response()
        }
        _ => oauth_error("unsupported_grant_type"),
    }
}

async fn authorize(
    State(state): State<Arc<FakeState>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let redirect = params.get("redirect_uri").cloned().unwrap_or_default();
    let csrf = params.get("state").cloned().unwrap_or_default();
    if params.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || params.get("response_type").map(String::as_str) != Some("code")
    {
        return (StatusCode::BAD_REQUEST, "bad authorize request").into_response();
    }
    let mode = state.authorize_mode.lock().unwrap().clone();
    let target = match mode.as_str() {
        "deny" => format!("{redirect}?error=access_denied&state={csrf}"),
        "bad-state" => format!("{redirect}?code=abc&state=forged"),
        _ => {
            let code = format!("code-{}", state.issued.load(Ordering::SeqCst));
            let challenge = params.get("code_challenge").cloned();
            if challenge.is_some()
                && params.get("code_challenge_method").map(String::as_str) != Some("S256")
            {
                return (StatusCode::BAD_REQUEST, "PKCE must be S256").into_response();
            }
            state
                .codes
                .lock()
                .unwrap()
                .insert(code.clone(), (challenge, redirect.clone()));
            format!("{redirect}?code={code}&state={csrf}")
        }
    };
    Redirect::to(&target).into_response()
}

async fn api(State(state): State<Arc<FakeState>>, headers: HeaderMap, uri: Uri) -> Response {
    let path = uri.path().to_owned();
    state
        .api_requests
        .lock()
        .unwrap()
        .push((path.clone(), Instant::now()));
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    if !state.valid_access.lock().unwrap().contains(&presented) {
        rotate_elsewhere(&state).await;
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error_key": "unauthorized", "error_message": "Unauthorized"})),
        )
            .into_response();
    }
    let check = state.check_store.lock().unwrap().clone();
    if let Some((file, connection)) = check {
        let store = SqliteStore::open(&file).unwrap();
        let stored = store.tokens(&connection).await.unwrap().unwrap();
        if stored.tokens.access_token.expose_secret() != presented {
            state.not_stored.fetch_add(1, Ordering::SeqCst);
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "token used before it was stored",
            )
                .into_response();
        }
    }
    if let Some(response) = scripted_response(&state, &path) {
        return response;
    }
    axum::Json(json!({"ok": true, "path": path})).into_response()
}

/// Plays the other process of [`FakeState::rotate_after_401`]: stores a newer token pair whose
/// access token is revoked at once (its refresh token stays valid).
async fn rotate_elsewhere(state: &FakeState) {
    let target = {
        let mut rotate = state.rotate_after_401.lock().unwrap();
        match rotate.as_mut() {
            Some((file, connection, left)) if *left > 0 => {
                *left -= 1;
                Some((file.clone(), connection.clone()))
            }
            _ => None,
        }
    };
    let Some((file, connection)) = target else {
        return;
    };
    let (access, refresh) = state.issue();
    state.valid_access.lock().unwrap().retain(|a| *a != access);
    let tokens = TokenSet {
        access_token: SecretString::from(access),
        refresh_token: Some(SecretString::from(refresh)),
        expires_at: None,
        scope: Some("read".to_owned()),
    };
    let store = SqliteStore::open(&file).unwrap();
    store.put_tokens(&connection, &tokens).await.unwrap();
}

/// A running fake server.
pub struct Fake {
    pub state: Arc<FakeState>,
    pub base: String,
    pub runtime: tokio::runtime::Runtime,
}

impl Fake {
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let state = Arc::new(FakeState::default());
        *state.authorize_mode.lock().unwrap() = "ok".to_owned();
        let router = Router::new()
            .route("/oauth/token", routing::post(token))
            .route("/oauth/authorize", routing::get(authorize))
            .route("/v1/{*rest}", routing::any(api))
            .with_state(Arc::clone(&state));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            state,
            base,
            runtime,
        }
    }

    pub fn endpoints(&self) -> Endpoints {
        Endpoints {
            base_url: format!("{}/v1", self.base),
            authorize_url: Some(format!("{}/oauth/authorize", self.base)),
            token_url: Some(format!("{}/oauth/token", self.base)),
        }
    }

    /// Opens (or creates) a store at `path` with the test connector's partner settings and a
    /// connection named `name` with the tokens the fake server issues next.
    pub fn seed(&self, path: &std::path::Path, name: &str, expires_at: Option<i64>) -> SqliteStore {
        let store = SqliteStore::open(path).unwrap();
        let partner = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET});
        wait(store.set_partner_settings("fake", partner.as_object().unwrap())).unwrap();
        let connection = ConnectionRecord {
            name: name.to_owned(),
            connector_id: "fake".to_owned(),
            settings: json!({"redirect_uri": "http://127.0.0.1:0/callback"})
                .as_object()
                .cloned()
                .unwrap(),
            endpoints: Some(self.endpoints()),
        };
        wait(store.put_connection(&connection)).unwrap();
        let (access, refresh) = self.state.issue();
        let tokens = TokenSet {
            access_token: SecretString::from(access),
            refresh_token: Some(SecretString::from(refresh)),
            expires_at,
            scope: Some("read".to_owned()),
        };
        wait(store.put_tokens(name, &tokens)).unwrap();
        store
    }

    pub fn session(&self, store: Arc<dyn StateStore>, config: ExecutorConfig) -> Session {
        self.session_with(store, config, json!([]))
    }

    pub fn session_with(
        &self,
        store: Arc<dyn StateStore>,
        config: ExecutorConfig,
        rate_limits: Value,
    ) -> Session {
        let mut registry = Registry::new();
        registry
            .add(
                Arc::new(FakeConnector::new(rate_limits)),
                ConnectorSource::BuiltIn,
            )
            .unwrap();
        Session::new(registry, store, config, self.runtime.handle().clone()).unwrap()
    }
}

/// Waits for a store call on a test's own (synchronous) thread: the store's methods are async.
/// Never call it inside an async block.
pub fn wait<F: std::future::Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        })
        .block_on(future)
}

/// Test defaults: quick backoffs.
pub fn quick_config() -> ExecutorConfig {
    ExecutorConfig {
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        min_throttle_backoff: Duration::from_millis(50),
        ..ExecutorConfig::default()
    }
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A connector whose methods send the request they are given.
pub struct FakeConnector {
    manifest: Manifest,
}

impl FakeConnector {
    pub fn new(rate_limits: Value) -> Self {
        let method = |id: &str, idempotent: bool| {
            json!({
                "id": id, "name": id, "category": "HTTP", "description": "sends a request",
                "kind": "action", "output": "one", "idempotent": idempotent,
                "input_schema": {"type": "object"}, "output_schema": {}
            })
        };
        let manifest = serde_json::from_value(json!({
            "id": "fake", "name": "Fake", "version": "0.0.0", "description": "test connector",
            "base_url": "https://api.invalid/v1",
            "auth": {
                "type": "oauth2_authorization_code",
                "authorize_url": "https://auth.invalid/authorize",
                "token_url": "https://auth.invalid/token",
                "default_scopes": ["read", "offline_access"],
                "pkce": true, "client_auth": "basic", "refresh": "rotating",
                "access_token_lifetime_secs": 3600,
                "token_endpoint_limit": {"limit": 1, "window": "second",
                    "scope": {"per": "setting", "field": "client_id"}, "reset": "rolling"},
                "settings": {"client_id": "client_id", "client_secret": "client_secret",
                             "redirect_uri": "redirect_uri"}
            },
            "settings_schema": {
                "type": "object",
                "properties": {
                    "client_id": {"type": "string", "x-plugboard-level": "partner"},
                    "client_secret": {"type": "string", "x-plugboard-level": "partner",
                                      "x-plugboard-secret": true},
                    "redirect_uri": {"type": "string"}
                },
                "required": ["client_id", "client_secret", "redirect_uri"]
            },
            "rate_limits": rate_limits,
            "methods": [
                method("http.get", true), method("http.post", false), method("http.lines", true),
                method("http.upload", true)
            ]
        }))
        .unwrap();
        Self { manifest }
    }
}

impl Connector for FakeConnector {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn invoke(&self, invocation: &Invocation, host: &dyn Host) -> Result<Value, ConnectorError> {
        if invocation.settings.contains_key("client_secret") {
            return Err(ConnectorError::plugin("a secret reached the connector"));
        }
        let path = invocation.input["path"].as_str().unwrap_or("/").to_owned();
        if invocation.method == "http.lines" {
            return lines(host, path);
        }
        if invocation.method == "http.upload" {
            let csv = invocation.input["csv"].as_str().unwrap_or_default();
            let request = HttpRequest::post(path).idempotent(true).multipart(vec![
                plugboard_core::FormPart::field("list_ids", "a,b"),
                plugboard_core::FormPart::text_file("file", "contacts.csv", "text/csv", csv),
                plugboard_core::FormPart::file(
                    "raw",
                    "raw.bin",
                    "application/octet-stream",
                    &[0, 1, 2, 255],
                ),
            ]);
            let response = host.send(request)?;
            return Ok(json!({"status": response.status}));
        }
        let request = match invocation.method.as_str() {
            "http.get" => HttpRequest::get(path),
            _ => HttpRequest::post(path),
        };
        let response = host.send(request)?;
        if response.status == 401 {
            return Err(ConnectorError::Unauthorized {
                message: "refused".into(),
            });
        }
        let body: Value = serde_json::from_str(&response.body).unwrap_or(Value::Null);
        for record in body["records"].as_array().into_iter().flatten() {
            host.emit(record.clone())?;
        }
        Ok(json!({"status": response.status, "body": body}))
    }
}

/// `http.lines`: streams the body's lines as records while it arrives.
fn lines(host: &dyn Host, path: String) -> Result<Value, ConnectorError> {
    use std::io::BufRead as _;
    let response = host.send_streamed(HttpRequest::get(path))?;
    let status = response.status;
    let mut count = 0;
    for line in std::io::BufReader::new(response.body).lines() {
        let line = line.map_err(|e| plugboard_core::body_error(&e))?;
        host.emit(json!(line))?;
        count += 1;
    }
    Ok(json!({"status": status, "lines": count}))
}

pub fn get(session: &Session, connection: &str, path: &str) -> Result<Value, ConnectorError> {
    session.call(connection, "http.get", json!({"path": path}), &mut |_| {
        Ok(())
    })
}

pub fn post(session: &Session, connection: &str, path: &str) -> Result<Value, ConnectorError> {
    session.call(connection, "http.post", json!({"path": path}), &mut |_| {
        Ok(())
    })
}
