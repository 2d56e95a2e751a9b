//! A cassette served over HTTP on 127.0.0.1: a stand-in for an API that cannot run on the test's
//! machine, so a connector's live path (the runner's real executor: the credential injected,
//! limits, retries, paging over real HTTP) and its recording can be tested offline, in CI.
//!
//! Each request that reaches the server is read back into the [`HttpRequest`] a connector sent
//! (method, path, query pairs, body) and answered by a [`ReplayHost`] with its rules: the first
//! unused entry it matches answers, [`SCRUBBED`](crate::SCRUBBED) values match anything, and
//! [`CassetteServer::assert_all_used`] reports misses and unused entries. A miss is answered 404
//! with the replay's message. A request that only matches an entry already used whose answer was
//! a 429 or a 5xx gets that answer again, so the executor's retries end as the recording did (a
//! recorded `Retry-After` is waited for, in real time).
//!
//! The credential the host adds is not in a cassette (a connector never sees it), so the server
//! can be told what to expect ([`CassetteServer::require_header`],
//! [`CassetteServer::require_query`]): a request without it is answered 401 and matches nothing,
//! which is how a live test shows the host injects the connection's credential. A required query
//! pair is taken out before matching, so it is never compared nor quoted.
//!
//! Not served: a multipart body (501: it is not read back into its parts); an entry that recorded
//! a host error instead of a response (500, naming it); a recorded absolute URL (an API's next
//! link to its own host), which the executor sends to that host, not here; an OAuth2 token
//! endpoint (mint tokens that outlive the test).
//!
//! ```no_run
//! use plugboard_testkit::{Cassette, CassetteServer};
//!
//! let server = CassetteServer::start(Cassette::load("tests/cassettes/items.json")?)?
//!     .require_header("authorization", "Bearer test-key");
//! // Point a `LiveSetup`'s endpoints (or `plugboard connect --base-url`) at it.
//! let base_url = server.base_url();
//! # let _ = base_url;
//! server.assert_all_used();
//! # Ok::<(), plugboard_testkit::KitError>(())
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use plugboard_core::{ConnectorError, HttpMethod, HttpRequest, RequestBody};
use url::Url;

use crate::KitError;
use crate::cassette::Cassette;
use crate::replay::ReplayHost;

/// The largest request body the server reads: cassettes hold requests, not uploads.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// The origin recorded paths are resolved against, as the executor resolves them against the
/// base URL: only their path and query are kept.
const ORIGIN: &str = "http://127.0.0.1";

/// A [`Cassette`] answering HTTP on a free port of 127.0.0.1 until dropped; see the module docs.
/// Its `Debug` names the credentials it requires, never their values.
pub struct CassetteServer {
    address: SocketAddr,
    state: Arc<Served>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the server's handler shares with it.
struct Served {
    replay: ReplayHost,
    credentials: RwLock<Credentials>,
}

/// The credential every request must carry.
#[derive(Default)]
struct Credentials {
    headers: Vec<(HeaderName, String)>,
    query: Vec<(String, String)>,
}

impl std::fmt::Debug for CassetteServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let credentials = self.credentials();
        let headers: Vec<&str> = credentials
            .headers
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        let query: Vec<&str> = credentials.query.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("CassetteServer")
            .field("address", &self.address)
            .field("cassette", &self.state.replay.cassette().name)
            .field("required_headers", &headers)
            .field("required_query", &query)
            .finish_non_exhaustive()
    }
}

impl CassetteServer {
    /// Serves `cassette` from a thread and runtime of its own. Its recorded requests are read as
    /// the wire carries them: a path resolved as the executor resolves it (a query string in it
    /// becomes query pairs, before the others), a JSON text body as JSON, an empty body as none.
    pub fn start(mut cassette: Cassette) -> Result<Self, KitError> {
        for interaction in &mut cassette.interactions {
            as_on_the_wire(&mut interaction.request);
        }
        let failed = |what: &str, error: std::io::Error| KitError::Serve {
            message: format!("{what}: {error}"),
        };
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| failed("cannot listen on 127.0.0.1", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| failed("cannot make the listener non-blocking", e))?;
        let address = listener
            .local_addr()
            .map_err(|e| failed("cannot read the listener's address", e))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| failed("cannot start the server's runtime", e))?;
        let state = Arc::new(Served {
            replay: ReplayHost::new(cassette),
            credentials: RwLock::default(),
        });
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(state.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("cassette-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                });
            })
            .map_err(|e| failed("cannot start the server's thread", e))?;
        Ok(Self {
            address,
            state,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Requires header `name` to be `value` on every request, as the API does of its credential
    /// (e.g. `authorization`, `Bearer <key>`); a request without it is answered 401.
    ///
    /// # Panics
    /// When `name` is not a valid header name: a mistake in the test.
    #[must_use]
    pub fn require_header(self, name: &str, value: impl Into<String>) -> Self {
        let name = HeaderName::try_from(name)
            .unwrap_or_else(|_| panic!("`{name}` is not a valid header name"));
        self.credentials_mut().headers.push((name, value.into()));
        self
    }

    /// Requires query parameter `name` to be `value` on every request (a credential the host puts
    /// in the query); a request without it is answered 401. The pair is taken out before the
    /// request is matched, so the cassette, which never holds it, still matches.
    #[must_use]
    pub fn require_query(self, name: &str, value: impl Into<String>) -> Self {
        self.credentials_mut()
            .query
            .push((name.to_owned(), value.into()));
        self
    }

    /// The API root to point a connection at: `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Fails (panics, for a test) when a request matched no entry or an entry was never asked
    /// for, as [`ReplayHost::assert_all_used`] does.
    #[track_caller]
    pub fn assert_all_used(&self) {
        self.state.replay.assert_all_used();
    }

    fn credentials(&self) -> std::sync::RwLockReadGuard<'_, Credentials> {
        self.state
            .credentials
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn credentials_mut(&self) -> std::sync::RwLockWriteGuard<'_, Credentials> {
        self.state
            .credentials
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for CassetteServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers one request from the cassette.
async fn answer(State(served): State<Arc<Served>>, request: Request) -> Response {
    let mut sent = match read_back(request).await {
        Ok(sent) => sent,
        Err(refusal) => return refusal,
    };
    if let Err(missing) = take_credentials(&served, &mut sent) {
        let message = format!("the request lacks its credential: {missing}");
        return (StatusCode::UNAUTHORIZED, message).into_response();
    }
    match served.replay.answer_over_http(&sent.request) {
        Ok(response) => {
            let mut served = Response::new(Body::from(response.body));
            *served.status_mut() =
                StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let framing = [header::CONTENT_LENGTH, header::TRANSFER_ENCODING];
            for (name, value) in &response.headers {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::try_from(name.as_str()),
                    HeaderValue::try_from(value.as_str()),
                ) && !framing.contains(&name)
                {
                    served.headers_mut().append(name, value);
                }
            }
            served
        }
        Err(ConnectorError::Denied { message }) => (
            StatusCode::NOT_FOUND,
            format!("not in the cassette: {message}"),
        )
            .into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the cassette recorded a host error here, which a server cannot send: {error}"),
        )
            .into_response(),
    }
}

/// A request as it reached the server: what the connector sent, and the headers the host added.
struct Received {
    request: HttpRequest,
    headers: HeaderMap,
}

/// Checks the credentials the server requires, taking required query pairs out of the request;
/// what is missing (a name, never a value) when one is.
fn take_credentials(served: &Served, sent: &mut Received) -> Result<(), String> {
    let credentials = served.credentials.read().unwrap_or_else(|e| e.into_inner());
    for (name, value) in &credentials.headers {
        if sent.headers.get(name).and_then(|v| v.to_str().ok()) != Some(value.as_str()) {
            return Err(format!("header `{name}` missing or wrong"));
        }
    }
    for (name, value) in &credentials.query {
        let query = &mut sent.request.query;
        let Some(at) = query.iter().position(|(n, v)| n == name && v == value) else {
            return Err(format!("query parameter `{name}` missing or wrong"));
        };
        query.remove(at);
    }
    Ok(())
}

/// The [`HttpRequest`] a connector sent, read back from what reached the server; a response
/// refusing it when it cannot be.
async fn read_back(request: Request) -> Result<Received, Response> {
    let (parts, body) = request.into_parts();
    let refuse = |status: StatusCode, message: String| (status, message).into_response();
    let method = match parts.method.as_str() {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        other => {
            return Err(refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("a connector cannot send {other}"),
            ));
        }
    };
    let mut sent = HttpRequest::new(method, parts.uri.path());
    sent.query = pairs(parts.uri.query().unwrap_or_default().as_bytes());
    let bytes: Bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("cannot read the body: {e}"),
        )
    })?;
    if !bytes.is_empty() {
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        sent.body = Some(match media_type(&content_type).as_str() {
            "application/json" => {
                RequestBody::Json(serde_json::from_slice(&bytes).map_err(|e| {
                    refuse(
                        StatusCode::BAD_REQUEST,
                        format!("a JSON body that is not JSON: {e}"),
                    )
                })?)
            }
            "application/x-www-form-urlencoded" => RequestBody::Form(pairs(&bytes)),
            "multipart/form-data" => {
                return Err(refuse(
                    StatusCode::NOT_IMPLEMENTED,
                    "a multipart body is not read back into its parts: replay it with a \
                     ReplayHost"
                        .to_owned(),
                ));
            }
            _ => RequestBody::Text {
                content_type,
                text: String::from_utf8_lossy(&bytes).into_owned(),
            },
        });
    }
    Ok(Received {
        request: sent,
        headers: parts.headers,
    })
}

/// A `Content-Type`'s media type, lower case, without its parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// URL-encoded `name=value` pairs, decoded, in order.
fn pairs(encoded: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(encoded).into_owned().collect()
}

/// A recorded request as the server reads one back: its path resolved as the executor resolves
/// it against the base URL (escaping what the URL parser escapes, a query string in the path
/// becoming query pairs before the others), a JSON text body as JSON, an empty body as none. A
/// path that does not resolve (an absolute URL to another host) stays as it is: nothing will
/// match it.
fn as_on_the_wire(request: &mut HttpRequest) {
    if request.path.starts_with('/')
        && let Ok(url) = Url::parse(&format!("{ORIGIN}{}", request.path))
    {
        let mut query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        query.append(&mut request.query);
        request.query = query;
        request.path = url.path().to_owned();
    }
    let wire_body = match request.body.take() {
        Some(RequestBody::Text { content_type, text })
            if media_type(&content_type) == "application/json" =>
        {
            match serde_json::from_str(&text) {
                Ok(json) => Some(RequestBody::Json(json)),
                Err(_) => Some(RequestBody::Text { content_type, text }),
            }
        }
        Some(RequestBody::Text { text, .. }) if text.is_empty() => None,
        Some(RequestBody::Form(fields)) if fields.is_empty() => None,
        body => body,
    };
    request.body = wire_body;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_path_is_read_as_the_executor_sends_it() {
        let mut request =
            HttpRequest::get("/items/{id}/café?cursor=a%2Bb&limit=2").query("search", "café & co");
        as_on_the_wire(&mut request);
        assert_eq!(request.path, "/items/%7Bid%7D/caf%C3%A9");
        assert_eq!(
            request.query,
            [
                ("cursor".to_owned(), "a+b".to_owned()),
                ("limit".to_owned(), "2".to_owned()),
                ("search".to_owned(), "café & co".to_owned()),
            ]
        );
        let mut absolute = HttpRequest::get("https://api.example.com/items?page=2");
        as_on_the_wire(&mut absolute);
        assert_eq!(absolute.path, "https://api.example.com/items?page=2");
    }

    #[test]
    fn recorded_bodies_are_read_as_the_wire_tells_them_apart() {
        let text = |content_type: &str, text: &str| RequestBody::Text {
            content_type: content_type.to_owned(),
            text: text.to_owned(),
        };
        for (recorded, read) in [
            (
                text("application/json; charset=utf-8", r#"{"a":1}"#),
                Some(RequestBody::Json(serde_json::json!({"a": 1}))),
            ),
            (text("text/csv", ""), None),
            (RequestBody::Form(Vec::new()), None),
            (text("text/csv", "a,b"), Some(text("text/csv", "a,b"))),
        ] {
            let mut request = HttpRequest::get("/x");
            request.body = Some(recorded);
            as_on_the_wire(&mut request);
            assert_eq!(request.body, read);
        }
    }
}
