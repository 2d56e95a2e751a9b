//! A cassette served over HTTP on 127.0.0.1: a stand-in for an API that cannot run on the test's
//! machine, so a connector's live path (the runner's real executor: auth, limits, retries, paging
//! over real HTTP) and its recording can be tested offline, in CI.
//!
//! Each request that reaches the server is read back into the [`HttpRequest`] a connector would
//! have sent (method, path, query pairs, body) and answered by a [`ReplayHost`] with the same
//! rules: the first unused entry it matches answers, [`SCRUBBED`](crate::SCRUBBED) values match
//! anything, and [`CassetteServer::assert_all_used`] reports misses and unused entries. Two things
//! a wire cannot carry are not served: a multipart body (answered 501, it is not read back into
//! its parts), and an entry that recorded a host error instead of a response (a timeout, a used-up
//! quota: answered 500, naming it).
//!
//! ```no_run
//! use plugboard_testkit::{Cassette, CassetteServer};
//!
//! let server = CassetteServer::start(Cassette::load("tests/cassettes/items.json")?)?;
//! // Point a `LiveConnection`'s endpoints (or `plugboard connect --base-url`) at it.
//! let base_url = server.base_url();
//! # let _ = base_url;
//! server.assert_all_used();
//! # Ok::<(), plugboard_testkit::KitError>(())
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use plugboard_core::{ConnectorError, Host as _, HttpMethod, HttpRequest, RequestBody};

use crate::KitError;
use crate::cassette::Cassette;
use crate::replay::ReplayHost;

/// The largest request body the server reads: cassettes hold requests, not uploads.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A [`Cassette`] answering HTTP on a free port of 127.0.0.1 until dropped; see the module docs.
#[derive(Debug)]
pub struct CassetteServer {
    address: SocketAddr,
    replay: Arc<ReplayHost>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CassetteServer {
    /// Serves `cassette` from a thread and runtime of its own. Requests written with a query
    /// string in their path (an API's next-page link) are matched by their query pairs, as the
    /// wire carries them.
    pub fn start(mut cassette: Cassette) -> Result<Self, KitError> {
        for interaction in &mut cassette.interactions {
            move_query_out_of_path(&mut interaction.request);
        }
        let io = |source| KitError::Io {
            path: "127.0.0.1".into(),
            source,
        };
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(io)?;
        listener.set_nonblocking(true).map_err(io)?;
        let address = listener.local_addr().map_err(io)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io)?;
        let replay = Arc::new(ReplayHost::new(cassette));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(replay.clone());
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
            .map_err(io)?;
        Ok(Self {
            address,
            replay,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The API root to point a connection at: `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Fails (panics, for a test) when a request matched no entry or an entry was never asked
    /// for, as [`ReplayHost::assert_all_used`] does.
    pub fn assert_all_used(&self) {
        self.replay.assert_all_used();
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
async fn answer(State(replay): State<Arc<ReplayHost>>, request: Request) -> Response {
    let sent = match read_back(request).await {
        Ok(sent) => sent,
        Err(refusal) => return refusal,
    };
    match replay.send(sent) {
        Ok(response) => {
            let mut served = Response::new(Body::from(response.body));
            *served.status_mut() =
                StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            for (name, value) in &response.headers {
                let framing = [header::CONTENT_LENGTH, header::TRANSFER_ENCODING];
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

/// The [`HttpRequest`] a connector sent, read back from what reached the server; a response
/// refusing it when it cannot be.
async fn read_back(request: Request) -> Result<HttpRequest, Response> {
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
    if bytes.is_empty() {
        return Ok(sent);
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    sent.body = Some(match media_type.as_str() {
        "application/json" => RequestBody::Json(serde_json::from_slice(&bytes).map_err(|e| {
            refuse(
                StatusCode::BAD_REQUEST,
                format!("a JSON body that is not JSON: {e}"),
            )
        })?),
        "application/x-www-form-urlencoded" => RequestBody::Form(pairs(&bytes)),
        "multipart/form-data" => {
            return Err(refuse(
                StatusCode::NOT_IMPLEMENTED,
                "a multipart body is not read back into its parts: replay it with a ReplayHost"
                    .to_owned(),
            ));
        }
        _ => RequestBody::Text {
            content_type,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        },
    });
    Ok(sent)
}

/// URL-encoded `name=value` pairs, decoded, in order.
fn pairs(encoded: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(encoded).into_owned().collect()
}

/// Moves a query string written into a recorded request's path (an API's next-page link) into
/// its query pairs, before the pairs it had: the order the host sends them in.
fn move_query_out_of_path(request: &mut HttpRequest) {
    let Some((path, query)) = request.path.split_once('?') else {
        return;
    };
    let mut query_pairs = pairs(query.as_bytes());
    query_pairs.append(&mut request.query);
    request.query = query_pairs;
    request.path = path.to_owned();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_next_page_link_in_a_path_becomes_query_pairs_before_the_others() {
        let mut request =
            HttpRequest::get("/items?cursor=a%2Bb&limit=2").query("search", "café & co");
        move_query_out_of_path(&mut request);
        assert_eq!(request.path, "/items");
        assert_eq!(
            request.query,
            [
                ("cursor".to_owned(), "a+b".to_owned()),
                ("limit".to_owned(), "2".to_owned()),
                ("search".to_owned(), "café & co".to_owned()),
            ]
        );
    }
}
