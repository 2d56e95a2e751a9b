//! The HTTP executor: every request a connector sends goes through here (invariant 1).
//!
//! For each request it checks the allow-list, waits for a slot in every rate-limit budget the
//! request shares (persisted in the [`StateStore`], so processes share them), injects credentials,
//! refreshes OAuth2 tokens (before expiry and once after a 401, one refresh per connection across
//! threads and processes: see [`crate::oauth`]), sends with one shared `reqwest` client, and
//! retries what is safe to retry within a bounded budget.
//!
//! # Per connection
//! [`ConnectionContext::new`] settles, once per connection, what a generic connector leaves to
//! its connections: an [`AuthSpec::Selected`] is resolved to the scheme its settings field names
//! (API-key names may come from settings too), a `{field}` base-URL template is filled from the
//! non-secret settings (the allow-list is that URL's origin and path), and settings marked with
//! `x-plugboard-rate-limit` add their limits to the manifest's.
//!
//! # Retry rules
//! - **429 throttled**: the server did not process the request, so any request is retried, after
//!   `Retry-After` (delta seconds) when present, else a jittered backoff of at least
//!   [`ExecutorConfig::min_throttle_backoff`].
//! - **429 quota**: a 429 whose JSON body has an `error_key`, `error`, `code` or `type` containing
//!   `quota` (Constant Contact: `quota_exceeded`), or whose `Retry-After` is longer than
//!   [`ExecutorConfig::quota_retry_after`], is a quota: no retry, [`ConnectorError::QuotaExhausted`]
//!   with the reset time of the manifest's calendar limit (else `Retry-After`, else the next
//!   00:00 UTC), and the local counter is marked used up so other requests stop early. The manifest
//!   cannot say which 429 is which, so the rule is generic.
//! - **429 queue full**: a 429 whose body's error code contains `queue` (Constant Contact:
//!   `too_many_queued_activities`, more than 1,000 queued bulk activities) clears only as queued
//!   jobs finish, so it is not retried: the response goes back to the connector, which reports it.
//! - **5xx, timeouts, broken connections**: retried with jittered exponential backoff only when
//!   the request is idempotent. A connection that could not be opened at all (`connect` error)
//!   never reached the server, so it is retried for any request.
//! - Anything else comes back as it is: error statuses are responses for the connector to map.
//!
//! When the budget ([`ExecutorConfig::max_attempts`], [`ExecutorConfig::max_retry_time`]) runs out,
//! the last response (or error) is returned.
//!
//! # Threads
//! The executor is asynchronous; connector code is synchronous and runs on blocking threads
//! (`spawn_blocking` or plain threads), which bridge with `Handle::block_on`. Never call a
//! connector from a runtime worker thread: `block_on` would panic there rather than deadlock.

mod answers;
mod connection;
mod credentials;
pub(crate) mod limits;
pub(crate) mod url;

use answers::{
    announce_quota_wait, is_queue_full, is_quota, next_utc_midnight_ms, outcome_unknown,
    quota_error, retry_after,
};
pub(crate) use answers::{authority, transport_error};
pub use connection::{ConnectionContext, default_endpoints, reconnect_command, state_option};
use credentials::Credentials;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plugboard_core::{
    ConnectorError, HttpRequest, HttpResponse, Manifest, RateLimit, RequestBody, ResetRule, Window,
};
use reqwest::Url;
use secrecy::ExposeSecret;

use crate::cancel::Cancellation;
use crate::clock::{Clock, SystemClock};
use crate::store::{Admission, LeaseHolder, LimitCharge, SlotTicket, StateStore, StoreError};
use limits::KeyedLimit;

/// A wait for a rate-limit slot longer than this re-reads the credentials before sending: the
/// access token read before the wait may have been replaced by another process (or come close
/// to expiry) meanwhile. Re-reading is one store read; an immediate admission skips it.
const REREAD_CREDENTIALS_AFTER: Duration = Duration::from_millis(50);

/// How the executor behaves; the defaults suit real APIs.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Whether the runner enforces rate limits itself (benchmarks against an unlimited sandbox
    /// switch this off).
    pub limits_enabled: bool,
    /// Limits to use instead of a connector's manifest limits, by connector id.
    pub limit_overrides: HashMap<String, Vec<RateLimit>>,
    /// Extra length added to rolling windows (0.005 = 0.5 %). Network delay is already covered by
    /// the window guard (a request counts until its response arrives); the margin covers the
    /// remaining differences between our clock and the server's.
    pub safety_margin: f64,
    /// Wait for a used-up quota to reset instead of failing with `QuotaExhausted`.
    pub wait_for_quota: bool,
    /// Most attempts per request, first one included.
    pub max_attempts: u32,
    /// Most time spent retrying one request before giving up.
    pub max_retry_time: Duration,
    /// First retry backoff (doubles per attempt, jittered).
    pub base_backoff: Duration,
    /// Longest single backoff.
    pub max_backoff: Duration,
    /// Least wait after a throttled 429 without `Retry-After`.
    pub min_throttle_backoff: Duration,
    /// A 429 asking to wait longer than this is a quota, not a throttle.
    pub quota_retry_after: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Connection-establishment timeout.
    pub connect_timeout: Duration,
    /// Refresh an access token that expires within this long.
    pub refresh_skew: Duration,
    /// How long a refresh lease lasts if its holder dies.
    pub refresh_lease: Duration,
    /// How long to wait for another thread's or process's refresh.
    pub refresh_wait: Duration,
    /// How long connector code may run without calling the host (no request, record, log or
    /// sleep) before its call is abandoned as hung. Time spent inside host calls never counts, so
    /// long exports are not cut short; `None` trusts connectors never to hang.
    pub connector_stall_timeout: Option<Duration>,
    /// The source of "now" for expiry, leases and windows.
    pub clock: Arc<dyn Clock>,
    /// The state file the store was opened from, when the caller knows it. Advice to (re)connect
    /// a connection repeats it as `--state FILE` unless it is the default file
    /// ([`SqliteStore::default_path`]), so following the advice reaches this same file.
    pub state_file: Option<PathBuf>,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            limits_enabled: true,
            limit_overrides: HashMap::new(),
            safety_margin: 0.005,
            wait_for_quota: false,
            max_attempts: 5,
            max_retry_time: Duration::from_secs(120),
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(20),
            min_throttle_backoff: Duration::from_secs(1),
            quota_retry_after: Duration::from_secs(3600),
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            refresh_skew: Duration::from_secs(60),
            refresh_lease: Duration::from_secs(90),
            refresh_wait: Duration::from_secs(120),
            connector_stall_timeout: Some(Duration::from_secs(60)),
            clock: Arc::new(SystemClock),
            state_file: None,
        }
    }
}

/// Why an executor could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The HTTP client could not be built (TLS setup).
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// The shared HTTP machinery: one client, one store, one configuration.
pub struct Executor {
    pub(crate) client: reqwest::Client,
    pub(crate) store: Arc<dyn StateStore>,
    pub(crate) config: ExecutorConfig,
    /// This executor's identity as a refresh-lease holder: a unique id, plus this process's pid
    /// and machine so another process can see when we died holding a lease and take it over.
    pub(crate) holder: LeaseHolder,
    /// In-process serialization of refreshes per connection (the store's lease serializes
    /// processes; this keeps threads of one process from polling it).
    pub(crate) refresh_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("store", &self.store)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

/// Installs ring as the process's rustls crypto provider (reqwest is built without one). Safe to
/// call many times; a provider installed earlier by someone else is kept.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How many times one request may have its newest, fresh token refused (a 401, then a refresh)
/// before it reports the connection unauthorized; a 401 for a token already replaced in the
/// store, or one that aged in the queue, is inconclusive and does not count (the loop stays
/// bounded by the retry time; see the 401 handling in [`Executor::send`]).
const MAX_REFRESHES_AFTER_401: u32 = 3;

/// A token refused at most this long after it was stored counts toward
/// [`MAX_REFRESHES_AFTER_401`]; an older one may have been revoked while it waited for a slot.
const CONCLUSIVE_REFUSAL_AGE_MS: i64 = 1_000;

/// What one attempt produced.
enum Outcome {
    Response(HttpResponse),
    /// A 2xx answer whose body is left to read as it arrives (`HttpResponse` holds the head).
    Streaming(HttpResponse, reqwest::Response),
    Failed(reqwest::Error),
}

/// A final answer: read whole, or (asked for with [`Executor::send_streamed`], and only for a
/// 2xx) with its body still to read.
pub enum Answer {
    /// Status, headers and body.
    Whole(HttpResponse),
    /// Status and headers (`head.body` is empty), and the response to read the body from.
    Streaming {
        /// Status and headers.
        head: HttpResponse,
        /// The body, still on the wire.
        body: reqwest::Response,
    },
}

impl Executor {
    /// An executor over `store`.
    pub fn new(store: Arc<dyn StateStore>, config: ExecutorConfig) -> Result<Self, ExecutorError> {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .user_agent(concat!("plugboard/", env!("CARGO_PKG_VERSION")))
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            // Our own retries go through the limiter; the client's would not.
            .retry(reqwest::retry::never())
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(ExecutorError::Client)?;
        Ok(Self {
            client,
            store,
            config,
            holder: LeaseHolder::this_process(format!(
                "{}-{:016x}",
                std::process::id(),
                fastrand::u64(..)
            )),
            refresh_locks: Mutex::new(HashMap::new()),
        })
    }

    /// The store this executor uses.
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &ExecutorConfig {
        &self.config
    }

    /// The shared HTTP client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.config.clock.now_ms()
    }

    /// Waits for a slot in every budget of `limits` and takes it, or fails when a quota is used
    /// up. The tickets must be completed ([`Executor::complete`]) when the request is over.
    pub(crate) async fn admit(
        &self,
        limits: &[KeyedLimit],
        cancel: &Cancellation,
    ) -> Result<Vec<SlotTicket>, ConnectorError> {
        if limits.is_empty() {
            return Ok(Vec::new());
        }
        let inflight_cap_us =
            i64::try_from((self.config.request_timeout + Duration::from_secs(1)).as_micros())
                .unwrap_or(i64::MAX);
        loop {
            if cancel.is_cancelled() {
                return Err(ConnectorError::Cancelled);
            }
            let now = self.now_ms();
            let charges = limits::charges(limits, now, self.config.safety_margin, inflight_cap_us);
            match self
                .store
                .acquire(&charges, now)
                .await
                .map_err(store_error)?
            {
                Admission::Granted { tickets } => return Ok(tickets),
                Admission::Wait { wait_us } => {
                    // A little jitter keeps waiters of one slot from all waking at once.
                    let wait = Duration::from_micros(wait_us.unsigned_abs())
                        .max(Duration::from_millis(1))
                        + Duration::from_micros(fastrand::u64(..250));
                    cancel
                        .sleep(wait)
                        .await
                        .map_err(|_| ConnectorError::Cancelled)?;
                }
                Admission::Exhausted { resets_at_ms } => {
                    if !self.config.wait_for_quota {
                        return Err(quota_error(Some(resets_at_ms)));
                    }
                    let wait = (resets_at_ms - self.now_ms()).max(0).unsigned_abs();
                    announce_quota_wait(None, Duration::from_millis(wait));
                    cancel
                        .sleep(Duration::from_millis(wait) + Duration::from_millis(10))
                        .await
                        .map_err(|_| ConnectorError::Cancelled)?;
                }
            }
        }
    }

    /// Records that the requests of `tickets` are over (now), so the rolling budgets can count
    /// them at the latest moment the server may have seen them.
    pub(crate) async fn complete(&self, tickets: &[SlotTicket]) {
        if tickets.is_empty() {
            return;
        }
        if let Err(error) = self.store.complete(tickets, self.now_ms()).await {
            tracing::warn!(%error, "cannot record a request's completion in the rate limiter");
        }
    }

    /// Sends one request for the connection of `ctx`: allow-list, limits, auth, refresh, retries.
    pub async fn send(
        &self,
        ctx: &ConnectionContext,
        request: HttpRequest,
        cancel: &Cancellation,
    ) -> Result<HttpResponse, ConnectorError> {
        match self.exchange(ctx, request, cancel, false).await? {
            Answer::Whole(response) => Ok(response),
            // Not asked for; read it rather than lose it.
            Answer::Streaming { mut head, body } => {
                head.body = String::from_utf8_lossy(
                    &body
                        .bytes()
                        .await
                        .map_err(|e| transport_error(&e, &ctx.name, "the server"))?,
                )
                .into_owned();
                Ok(head)
            }
        }
    }

    /// Like [`Executor::send`], leaving a 2xx answer's body to be read as it arrives (a
    /// download of any size); other answers are read whole, as by `send`.
    pub async fn send_streamed(
        &self,
        ctx: &ConnectionContext,
        request: HttpRequest,
        cancel: &Cancellation,
    ) -> Result<Answer, ConnectorError> {
        self.exchange(ctx, request, cancel, true).await
    }

    /// The one loop behind [`Executor::send`] and [`Executor::send_streamed`].
    async fn exchange(
        &self,
        ctx: &ConnectionContext,
        request: HttpRequest,
        cancel: &Cancellation,
        streaming: bool,
    ) -> Result<Answer, ConnectorError> {
        let url = url::resolve(&ctx.base, &ctx.allowed_hosts, &request)?;
        let mut started = Instant::now();
        let mut attempt: u32 = 0;
        let mut refreshes_after_401: u32 = 0;
        loop {
            if cancel.is_cancelled() {
                return Err(ConnectorError::Cancelled);
            }
            // Credentials before the wait for a slot: a refresh (or a wait for another
            // process's) must not hold a slot of the API's budget that others could use.
            let early = self.credentials(ctx, &request, cancel).await?;
            let waiting = Instant::now();
            let tickets = self.admit(&ctx.limits, cancel).await?;
            // After a long wait for a slot the token may have gone stale: read it again
            // (a refresh then holds this slot, but only after such a wait).
            let credentials = if waiting.elapsed() >= REREAD_CREDENTIALS_AFTER {
                self.credentials(ctx, &request, cancel).await
            } else {
                Ok(early)
            };
            let prepared = credentials.and_then(|credentials| {
                self.build(&request, url.clone(), &credentials)
                    .map(|builder| (credentials, builder))
            });
            let (credentials, builder) = match prepared {
                Ok(prepared) => prepared,
                Err(error) => {
                    self.complete(&tickets).await;
                    return Err(error);
                }
            };
            attempt += 1;
            tracing::debug!(
                connection = %ctx.name,
                method = %request.method,
                path = %url.path(),
                attempt,
                "sending"
            );
            // Dropping an in-flight request on cancellation is clean: the store was written
            // before it started and nothing is written after it. A request that is not
            // idempotent may have reached the server by then: say so, so the caller keeps it
            // as sent (see the workflow engine's at-most-once calls).
            let sent_at_ms = self.now_ms();
            let outcome = tokio::select! {
                result = send_and_read(builder, streaming) => result,
                () = cancel.cancelled() => {
                    self.complete(&tickets).await;
                    return Err(if request.idempotent {
                        ConnectorError::Cancelled
                    } else {
                        ConnectorError::OutcomeUnknown {
                            message: format!(
                                "connection `{}`: the run was cancelled while the request to {} \
                                 was in flight",
                                ctx.name,
                                authority(&url)
                            ),
                        }
                    });
                }
            };
            self.complete(&tickets).await;
            let time_left = self.config.max_retry_time.saturating_sub(started.elapsed());
            let budget_left = attempt < self.config.max_attempts && !time_left.is_zero();
            match outcome {
                Outcome::Response(response) => {
                    tracing::debug!(connection = %ctx.name, status = response.status, "answered");
                    // A 401 is first taken for a race: another process (or the provider) replaced
                    // the token between reading and sending it. The token is refreshed (or the
                    // newer one another process stored is read) and the request goes again
                    // within the retry time; only fresh tokens refused again and again mean the
                    // connection is unauthorized.
                    if response.status == 401
                        && refreshes_after_401 < MAX_REFRESHES_AFTER_401
                        && !time_left.is_zero()
                        && let Credentials::OAuthBearer {
                            version,
                            stored_at_ms,
                            ..
                        } = credentials
                    {
                        // A refusal is conclusive only for the newest token, sent right after it
                        // was stored: a newer token explains the 401 (a replaced token was sent),
                        // and a token that aged in the queue for a slot may have been revoked
                        // meanwhile while the grant stays good (the refresh says which).
                        let fresh = stored_at_ms.is_none_or(|stored| {
                            sent_at_ms.saturating_sub(stored) <= CONCLUSIVE_REFUSAL_AGE_MS
                        });
                        if fresh && !self.newer_tokens_stored(ctx, version).await? {
                            refreshes_after_401 += 1;
                        }
                        attempt -= 1;
                        self.refresh(ctx, version, cancel).await?;
                        continue;
                    }
                    if response.status == 429 {
                        let retry_after = retry_after(&response);
                        if is_quota(&response, retry_after, &self.config) {
                            let error = self.quota_from_server(ctx, retry_after).await;
                            let ConnectorError::QuotaExhausted {
                                resets_at: Some(resets_at),
                            } = error
                            else {
                                return Err(error);
                            };
                            if !self.config.wait_for_quota {
                                return Err(error);
                            }
                            let wait_ms = (i64::try_from(resets_at).unwrap_or(i64::MAX / 1000)
                                * 1000
                                - self.now_ms())
                            .max(0)
                            .unsigned_abs();
                            announce_quota_wait(Some(&ctx.name), Duration::from_millis(wait_ms));
                            cancel
                                .sleep(Duration::from_millis(wait_ms + 10))
                                .await
                                .map_err(|_| ConnectorError::Cancelled)?;
                            attempt -= 1;
                            started = Instant::now();
                            continue;
                        }
                        if is_queue_full(&response) {
                            // Not a throttle: the connector reports the API's reason.
                            return Ok(Answer::Whole(response));
                        }
                        // Throttling is retried by time, not by count: a storm of 429s passes, and
                        // the request goes out once the API admits it, within the retry time.
                        let wait = retry_after.unwrap_or_else(|| {
                            self.backoff(attempt).max(self.config.min_throttle_backoff)
                        });
                        if wait > time_left {
                            return Ok(Answer::Whole(response));
                        }
                        tracing::info!(
                            connection = %ctx.name,
                            wait_ms = wait.as_millis() as u64,
                            "throttled by the API (429); retrying"
                        );
                        cancel
                            .sleep(wait)
                            .await
                            .map_err(|_| ConnectorError::Cancelled)?;
                        continue;
                    }
                    if response.status >= 500 && request.idempotent && budget_left {
                        let wait = self.backoff(attempt);
                        tracing::info!(
                            connection = %ctx.name,
                            status = response.status,
                            wait_ms = wait.as_millis() as u64,
                            "server error; retrying an idempotent request"
                        );
                        cancel
                            .sleep(wait)
                            .await
                            .map_err(|_| ConnectorError::Cancelled)?;
                        continue;
                    }
                    return Ok(Answer::Whole(response));
                }
                Outcome::Streaming(head, body) => {
                    tracing::debug!(connection = %ctx.name, status = head.status, "answered");
                    return Ok(Answer::Streaming { head, body });
                }
                Outcome::Failed(error) => {
                    let retryable = error.is_connect() || request.idempotent;
                    let mapped = transport_error(&error, &ctx.name, &authority(&url));
                    // A request that is not idempotent and may have been sent: whether it took
                    // effect is unknown, and the error says so instead of "could not be sent".
                    let mapped = if error.is_connect() || request.idempotent {
                        mapped
                    } else {
                        outcome_unknown(&error, &ctx.name, &authority(&url))
                    };
                    if retryable && budget_left {
                        let wait = self.backoff(attempt);
                        tracing::info!(
                            connection = %ctx.name,
                            error = %mapped,
                            wait_ms = wait.as_millis() as u64,
                            "request failed; retrying"
                        );
                        cancel
                            .sleep(wait)
                            .await
                            .map_err(|_| ConnectorError::Cancelled)?;
                        continue;
                    }
                    return Err(mapped);
                }
            }
        }
    }

    /// Jittered exponential backoff for retry number `attempt` (1-based): a random value in
    /// `[d/2, d]` where `d = base * 2^(attempt-1)`, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .config
            .base_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.config.max_backoff);
        let half = exp / 2;
        half + half.mul_f64(fastrand::f64())
    }

    async fn quota_from_server(
        &self,
        ctx: &ConnectionContext,
        retry_after: Option<Duration>,
    ) -> ConnectorError {
        let now = self.now_ms();
        // Mark the local counters used up, so other requests of this budget stop before sending.
        let mut resets_at: Option<i64> = None;
        for charge in limits::charges(&ctx.limits, now, self.config.safety_margin, 0) {
            if let LimitCharge::Counter {
                key,
                window_start_ms,
                window_end_ms,
                limit,
            } = charge
                && window_end_ms - window_start_ms >= 3_600_000
            {
                if let Err(error) = self.store.exhaust(&key, window_start_ms, limit).await {
                    tracing::warn!(%error, "cannot record the exhausted quota");
                }
                resets_at = Some(resets_at.map_or(window_end_ms, |r: i64| r.max(window_end_ms)));
            }
        }
        let resets_at = resets_at
            .or_else(|| {
                retry_after
                    .map(|d| now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
            })
            .unwrap_or_else(|| next_utc_midnight_ms(now));
        quota_error(Some(resets_at))
    }

    fn build(
        &self,
        request: &HttpRequest,
        mut url: Url,
        credentials: &Credentials,
    ) -> Result<reqwest::RequestBuilder, ConnectorError> {
        if let Credentials::Query { name, value } = credentials {
            // A connector's own parameter of that name would travel beside (or be read before)
            // the credential; the host owns it.
            if url.query_pairs().any(|(k, _)| k == name.as_str()) {
                return Err(ConnectorError::Denied {
                    message: format!(
                        "connectors must not set the query parameter `{name}`: the host puts \
                         the connection's credential there"
                    ),
                });
            }
            url.query_pairs_mut()
                .append_pair(name, value.expose_secret());
        }
        let method =
            reqwest::Method::from_bytes(request.method.as_str().as_bytes()).map_err(|e| {
                ConnectorError::InvalidInput {
                    message: format!("invalid HTTP method: {e}"),
                }
            })?;
        let mut builder = self.client.request(method, url);
        let credential_header = match credentials {
            Credentials::Header { name, .. } => Some(name.as_str()),
            _ => None,
        };
        for (name, value) in &request.headers {
            if name.eq_ignore_ascii_case("authorization") {
                return Err(ConnectorError::Denied {
                    message:
                        "connectors must not set `Authorization`: the host injects credentials"
                            .to_owned(),
                });
            }
            if let Some(reason) = plugboard_core::http::forbidden_request_header(name) {
                return Err(ConnectorError::Denied {
                    message: format!("connectors must not set `{name}`: {reason}"),
                });
            }
            if credential_header.is_some_and(|h| h.eq_ignore_ascii_case(name)) {
                return Err(ConnectorError::Denied {
                    message: format!(
                        "connectors must not set `{name}`: the host puts the connection's \
                         credential there"
                    ),
                });
            }
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(value) = credentials.header_value() {
            let mut header = reqwest::header::HeaderValue::from_str(value.expose_secret())
                .map_err(|_| ConnectorError::Denied {
                    message: "the stored credential is not a valid header value".to_owned(),
                })?;
            header.set_sensitive(true);
            builder = builder.header(credentials.header_name(), header);
        }
        builder = match &request.body {
            None => builder,
            Some(RequestBody::Json(value)) => builder.json(value),
            Some(RequestBody::Form(fields)) => builder.form(fields),
            Some(RequestBody::Text { content_type, text }) => builder
                .header(reqwest::header::CONTENT_TYPE, content_type.as_str())
                .body(text.clone()),
            // Built again for each attempt: a form is consumed by sending it.
            Some(RequestBody::Multipart(parts)) => builder.multipart(multipart_form(parts)?),
        };
        Ok(builder)
    }
}

/// The `multipart/form-data` form of `parts`; the boundary is reqwest's.
fn multipart_form(
    parts: &[plugboard_core::FormPart],
) -> Result<reqwest::multipart::Form, ConnectorError> {
    let mut form = reqwest::multipart::Form::new();
    for part in parts {
        let mut body = reqwest::multipart::Part::bytes(part.content.bytes()?);
        if let Some(filename) = &part.filename {
            body = body.file_name(filename.clone());
        }
        if let Some(content_type) = &part.content_type {
            body = body
                .mime_str(content_type)
                .map_err(|_| ConnectorError::InvalidInput {
                    message: format!(
                        "the multipart part `{}` has an invalid content type",
                        part.name
                    ),
                })?;
        }
        form = form.part(part.name.clone(), body);
    }
    Ok(form)
}

/// Sends and reads the answer; with `streaming`, a 2xx answer's body is left unread.
async fn send_and_read(builder: reqwest::RequestBuilder, streaming: bool) -> Outcome {
    let response = match builder.send().await {
        Ok(response) => response,
        Err(error) => return Outcome::Failed(error),
    };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    if streaming && response.status().is_success() {
        let head = HttpResponse {
            status,
            headers,
            body: String::new(),
        };
        return Outcome::Streaming(head, response);
    }
    match response.bytes().await {
        Ok(bytes) => Outcome::Response(HttpResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }),
        Err(error) => Outcome::Failed(error),
    }
}

pub(crate) fn store_error(error: StoreError) -> ConnectorError {
    ConnectorError::Store {
        message: error.to_string(),
    }
}

/// Every limit a manifest declares that resets on a calendar window of a day or more, for
/// callers (the dry-run planner) that want to show the quota a run costs.
pub fn daily_quotas(manifest: &Manifest) -> Vec<&RateLimit> {
    manifest
        .rate_limits
        .iter()
        .filter(|l| l.reset == ResetRule::CalendarUtc && l.window == Window::Day)
        .collect()
}
