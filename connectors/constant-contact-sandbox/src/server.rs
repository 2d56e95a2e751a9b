//! The running server and its handle: the listener (whose connections can be killed to emulate a
//! dropped connection), the gate every API request passes (faults, bearer auth, rate limits), the
//! `/__sandbox` control endpoints, and [`Sandbox`], which starts and stops it all.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::config::SandboxConfig;
use crate::errors::ApiError;
use crate::faults::{Fault, FaultState, Faults};
use crate::limits::Verdict;
use crate::oauth::{self, TokenGrant};
use crate::snapshot::AccountSnapshot;
use crate::state::{AppState, Shared, lock};
use crate::stats::{Stats, bump};
use crate::util::now_ms;
use crate::{routes, seed};

/// Largest request body accepted at all; the JSON import's own 4 MB rule is checked by its handler.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// A TCP connection that the sandbox can kill: once killed, writes fail, so hyper closes the
/// connection without sending a byte of the response.
pub(crate) struct KillableIo {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

fn killed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection dropped by fault injection",
    )
}

impl AsyncRead for KillableIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.kill.load(Ordering::Relaxed) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.kill.load(Ordering::Relaxed) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.kill.load(Ordering::Relaxed) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.kill.load(Ordering::Relaxed) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What a handler knows about its connection: the peer and the switch that kills it.
#[derive(Clone, Debug)]
pub(crate) struct ConnMeta {
    #[allow(dead_code, reason = "kept for logs and debugging")]
    remote: SocketAddr,
    kill: Arc<AtomicBool>,
}

/// A TCP listener whose connections are [`KillableIo`]s (with `TCP_NODELAY`, for latency).
pub(crate) struct SandboxListener {
    inner: TcpListener,
}

impl Listener for SandboxListener {
    type Io = KillableIo;
    type Addr = ConnMeta;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    let kill = Arc::new(AtomicBool::new(false));
                    return (
                        KillableIo {
                            inner: stream,
                            kill: kill.clone(),
                        },
                        ConnMeta { remote, kill },
                    );
                }
                // Out of file descriptors and the like: wait a little, as axum's own listener does.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ConnMeta {
            remote: self.inner.local_addr()?,
            kill: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl Connected<IncomingStream<'_, SandboxListener>> for ConnMeta {
    fn connect_info(stream: IncomingStream<'_, SandboxListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// Counts every request.
async fn count_all(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    bump(&shared.counters.requests);
    next.run(request).await
}

/// The gate of every `/v3` request: injected faults, then bearer auth, then the client's limits.
async fn api_gate(
    State(shared): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    request: Request,
    next: Next,
) -> Response {
    let counters = &shared.counters;
    bump(&counters.api_requests);
    let (latency, fault) = lock(&shared.faults).next();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(Fault::Drop) => {
            bump(&counters.dropped);
            conn.kill.store(true, Ordering::Relaxed);
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        Some(Fault::Throttle) => {
            bump(&counters.throttled_429);
            return ApiError::throttled().into_response();
        }
        Some(Fault::Unauthorized) => {
            bump(&counters.unauthorized_401);
            return ApiError::unauthorized().into_response();
        }
        Some(Fault::ServerError(status)) => {
            bump(&counters.injected_5xx);
            return ApiError::server_error(status).into_response();
        }
        None => {}
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let grant = token.and_then(|t| {
        lock(&shared.tokens)
            .grant_of(t, Instant::now())
            .map(|(client, scope)| (client.to_owned(), scope.to_owned()))
    });
    let Some((client, scope)) = grant else {
        bump(&counters.unauthorized_401);
        return ApiError::unauthorized().into_response();
    };
    if let Some(needed) = required_scope(request.method(), request.uri().path())
        && !scope.split(' ').any(|s| s == needed)
    {
        bump(&counters.forbidden_403);
        return ApiError::array(
            StatusCode::FORBIDDEN,
            "api.forbidden",
            format!("The access token lacks the `{needed}` scope."),
        )
        .into_response();
    }
    if let Some(problem) = unsupported_media_type(&request) {
        return problem;
    }
    let verdict = lock(&shared.limiter).check(&client, Instant::now(), now_ms());
    match verdict {
        Verdict::Throttled => {
            bump(&counters.throttled_429);
            return ApiError::throttled().into_response();
        }
        Verdict::QuotaExceeded => {
            bump(&counters.quota_429);
            return ApiError::quota_exceeded().into_response();
        }
        Verdict::Admitted(in_second) => {
            counters
                .peak_per_second
                .fetch_max(in_second as u64, Ordering::Relaxed);
            counters.admitted_at(u64::try_from(now_ms()).unwrap_or_default());
        }
    }
    let creates_activity = request.method() == axum::http::Method::POST && {
        let path = request.uri().path();
        path.strip_prefix("/v3")
            .unwrap_or(path)
            .starts_with("/activities/")
    };
    if creates_activity && lock(&shared.faults).queue_full() {
        bump(&counters.queue_full_429);
        return ApiError::queue_full().into_response();
    }
    bump(&counters.api_served);
    let changes = !matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let response = next.run(request).await;
    if changes && lock(&shared.faults).drop_after_processing() {
        bump(&counters.dropped);
        bump(&counters.dropped_after_processing);
        conn.kill.store(true, Ordering::Relaxed);
    }
    response
}

/// The OAuth scope an API path needs (paths relative to `/v3`, as the spec's security
/// declarations say); `None` for paths that need only a valid token.
fn required_scope(method: &axum::http::Method, path: &str) -> Option<&'static str> {
    let path = path.strip_prefix("/v3").unwrap_or(path);
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "account" if path.starts_with("/account/user/privileges") => None,
        "account" if method == axum::http::Method::GET => Some("account_read"),
        "account" => Some("account_update"),
        "contacts"
        | "contact_lists"
        | "contact_tags"
        | "contact_custom_fields"
        | "segments"
        | "activities"
        | "contact_exports" => Some("contact_data"),
        "reports" if path.starts_with("/reports/contact_reports") => Some("contact_data"),
        "emails" | "reports" => Some("campaign_data"),
        _ => None,
    }
}

/// The one operation whose body is a form (a file upload) rather than JSON.
const FORM_UPLOAD_PATH: &str = "/activities/contacts_file_import";

/// A request body that is not declared as JSON (as a form, for the file upload): 415, as the
/// service answers.
fn unsupported_media_type(request: &Request) -> Option<Response> {
    let headers = request.headers();
    let has_body = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > 0)
        || headers.contains_key(header::TRANSFER_ENCODING);
    if !has_body {
        return None;
    }
    let expected = if request.uri().path().ends_with(FORM_UPLOAD_PATH) {
        "multipart/form-data"
    } else {
        "application/json"
    };
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(expected))
        });
    (!declared).then(|| {
        ApiError::array(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "api.unsupported_media_type",
            format!("The request body must be {expected}."),
        )
        .into_response()
    })
}

/// Unknown routes: 404 with Constant Contact's error array.
async fn not_found() -> Response {
    ApiError::array(
        StatusCode::NOT_FOUND,
        "api.resource.not_found",
        "The requested resource does not exist.",
    )
    .into_response()
}

/// A known path with a method it does not serve: 405 with Constant Contact's error array.
async fn method_not_allowed() -> Response {
    ApiError::array(
        StatusCode::METHOD_NOT_ALLOWED,
        "api.method.not_allowed",
        "The HTTP method is not supported for this resource.",
    )
    .into_response()
}

async fn admin_stats(State(shared): State<AppState>) -> Response {
    axum::Json(shared.counters.snapshot()).into_response()
}

async fn admin_faults(State(shared): State<AppState>, body: Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(faults) => {
            *lock(&shared.faults) = FaultState::new(faults);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => ApiError::malformed(format!("Invalid faults: {e}")).into_response(),
    }
}

async fn admin_expire_tokens(State(shared): State<AppState>) -> Response {
    lock(&shared.tokens).expire_all();
    StatusCode::NO_CONTENT.into_response()
}

/// The whole application.
fn router(shared: AppState) -> Router {
    let api = routes::api()
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(shared.clone(), api_gate));
    Router::new()
        .nest("/v3", api)
        .route("/oauth2/default/v1/authorize", get(oauth::authorize))
        .route("/oauth2/default/v1/token", post(oauth::token))
        .route("/__sandbox/stats", get(admin_stats))
        .route("/__sandbox/faults", post(admin_faults))
        .route("/__sandbox/expire_tokens", post(admin_expire_tokens))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), count_all))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared)
}

/// A server started on the current runtime.
struct Running {
    addr: SocketAddr,
    shared: AppState,
    stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

async fn launch(mut config: SandboxConfig) -> io::Result<Running> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).await?;
    let addr = listener.local_addr()?;
    let store = match config.account.take() {
        Some(account) => account.into_store(),
        None => {
            let seed_config = config.clone();
            tokio::task::spawn_blocking(move || seed::seed(&seed_config))
                .await
                .map_err(io::Error::other)?
        }
    };
    let shared = Arc::new(Shared::new(config, store));
    let app = router(shared.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let served = axum::serve(
            SandboxListener { inner: listener },
            app.into_make_service_with_connect_info::<ConnMeta>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
        })
        .await;
        if let Err(error) = served {
            tracing::warn!(%error, "the Constant Contact sandbox stopped with an error");
        }
    });
    tracing::debug!(%addr, "Constant Contact sandbox listening");
    Ok(Running {
        addr,
        shared,
        stop,
        server,
    })
}

/// How a [`Sandbox`] is stopped, depending on how it was started.
enum Stopper {
    /// Started with [`Sandbox::start`]: its server task runs on the caller's runtime.
    Task {
        stop: oneshot::Sender<()>,
        server: tokio::task::JoinHandle<()>,
    },
    /// Started with [`Sandbox::spawn`]: its own thread and runtime.
    Thread {
        stop: oneshot::Sender<()>,
        thread: std::thread::JoinHandle<()>,
    },
}

/// A running sandbox: its URLs, the registered client, its counters and fault controls.
/// Dropping it stops the server.
pub struct Sandbox {
    addr: SocketAddr,
    shared: AppState,
    stopper: Option<Stopper>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").field("addr", &self.addr).finish()
    }
}

impl Sandbox {
    /// Seeds the account and starts serving on `127.0.0.1:config.port`, on the current tokio
    /// runtime.
    pub async fn start(config: SandboxConfig) -> io::Result<Sandbox> {
        let running = launch(config).await?;
        Ok(Sandbox {
            addr: running.addr,
            shared: running.shared,
            stopper: Some(Stopper::Task {
                stop: running.stop,
                server: running.server,
            }),
        })
    }

    /// Like [`Sandbox::start`], for callers without a runtime: the server runs on its own thread
    /// and runtime until the handle is shut down or dropped.
    pub fn spawn(config: SandboxConfig) -> io::Result<Sandbox> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("cc-sandbox".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("cc-sandbox-worker")
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match launch(config).await {
                        Ok(running) => {
                            let _ = ready_tx.send(Ok((running.addr, running.shared.clone())));
                            let _ = stop_rx.await;
                            let _ = running.stop.send(());
                            let _ =
                                tokio::time::timeout(Duration::from_secs(5), running.server).await;
                        }
                        Err(error) => {
                            let _ = ready_tx.send(Err(error));
                        }
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;
        let (addr, shared) = ready_rx
            .recv()
            .map_err(|_| io::Error::other("the sandbox thread exited before starting"))??;
        Ok(Sandbox {
            addr,
            shared,
            stopper: Some(Stopper::Thread { stop, thread }),
        })
    }

    /// The origin, e.g. `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The API base URL the connector uses instead of `https://api.cc.email/v3`.
    pub fn api_base_url(&self) -> String {
        format!("{}/v3", self.url())
    }

    /// The authorization endpoint (browser step).
    pub fn authorize_url(&self) -> String {
        format!("{}/oauth2/default/v1/authorize", self.url())
    }

    /// The token endpoint (code exchange and refresh).
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/default/v1/token", self.url())
    }

    /// The registered client's id.
    pub fn client_id(&self) -> &str {
        &self.shared.config.client.client_id
    }

    /// The registered client's secret.
    pub fn client_secret(&self) -> &str {
        &self.shared.config.client.client_secret
    }

    /// The configuration the sandbox runs with.
    pub fn config(&self) -> &SandboxConfig {
        &self.shared.config
    }

    /// The account's data as it is now, to start another sandbox with
    /// ([`SandboxConfig::account`]).
    pub fn account(&self) -> AccountSnapshot {
        AccountSnapshot::of(&lock(&self.shared.store))
    }

    /// A snapshot of the counters (also `GET /__sandbox/stats`).
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Sets every counter back to zero, so the next snapshot counts only what follows (a load
    /// check measures its runs, not the set-up before them). The limits' own state is kept.
    pub fn reset_stats(&self) {
        self.shared.counters.reset();
    }

    /// Replaces the injected faults, restarting their seeded sequence (also
    /// `POST /__sandbox/faults`).
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = FaultState::new(faults);
    }

    /// Makes every access token issued so far invalid (also `POST /__sandbox/expire_tokens`).
    pub fn expire_all_tokens(&self) {
        lock(&self.shared.tokens).expire_all();
    }

    /// Issues an access + refresh token pair for the registered client directly, for tests that
    /// skip the browser step. Not counted against the token endpoint's limit.
    pub fn mint_tokens(&self) -> TokenGrant {
        oauth::mint(&self.shared)
    }

    /// How many contacts the account holds (deleted ones included).
    pub fn contact_count(&self) -> usize {
        lock(&self.shared.store).contacts.len()
    }

    /// Stops the server: in-flight requests finish, idle connections close. A sandbox made with
    /// [`Sandbox::spawn`] is stopped before this returns; one made with [`Sandbox::start`] stops
    /// in the background (await [`Sandbox::stop`] to wait for it).
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    /// Stops the server and waits until it has stopped.
    pub async fn stop(mut self) {
        match self.stopper.take() {
            Some(Stopper::Task { stop, server }) => {
                let _ = stop.send(());
                let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
            }
            Some(Stopper::Thread { stop, thread }) => {
                let _ = stop.send(());
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
            None => {}
        }
    }

    fn stop_now(&mut self) {
        match self.stopper.take() {
            Some(Stopper::Task { stop, server: _ }) => {
                let _ = stop.send(());
            }
            Some(Stopper::Thread { stop, thread }) => {
                let _ = stop.send(());
                let _ = thread.join();
            }
            None => {}
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Runs a sandbox until `shutdown` completes: the standalone entry point
/// (`plugboard sandbox constant-contact --port N`). `on_ready` is called once it listens, e.g. to
/// print its URLs.
pub async fn serve_until(
    config: SandboxConfig,
    on_ready: impl FnOnce(&Sandbox),
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let sandbox = Sandbox::start(config).await?;
    on_ready(&sandbox);
    shutdown.await;
    sandbox.stop().await;
    Ok(())
}
