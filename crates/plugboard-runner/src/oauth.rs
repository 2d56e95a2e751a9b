//! OAuth2 for the executor: token refresh serialized across threads and processes, and the token
//! requests of the authorization-code flow ([`crate::connect`]).
//!
//! # Refresh protocol (invariant 6)
//! 1. A request finds its access token expiring within [`ExecutorConfig::refresh_skew`] (or gets a
//!    401) while holding token version `v`.
//! 2. Threads of one process queue on a per-connection async mutex; processes meet at the store's
//!    refresh lease (`UPDATE … SET lease_holder = me, lease_until = now + lease WHERE free or
//!    expired`, in a `BEGIN IMMEDIATE` transaction).
//! 3. Whoever gets in re-reads the version first: if it moved past `v`, someone refreshed already
//!    and their tokens are used; the dead refresh token is never presented.
//! 4. The lease holder calls the token endpoint (within the token endpoint's own rate limit), and
//!    commits the new token set, bumping the version and releasing the lease, in one transaction
//!    (`synchronous=FULL`), before the new access token is used by anyone. Right before each
//!    send (after any wait for the endpoint's rate limit or a 429's `Retry-After`) it renews the
//!    lease, checking that it still holds it and the version has not moved: a lease that lapsed
//!    meanwhile may be another process's now, so the refresh token is not sent and the holder
//!    goes back to step 3. A commit that fails is retried for a while; if it never succeeds the
//!    error says the connection must be authorised again.
//! 5. A waiter polls the version (bounded by [`ExecutorConfig::refresh_wait`]) and uses the
//!    winner's tokens. After [`WAIT_NOTICE_AFTER`] it logs whose refresh it waits for (pid and
//!    host), and repeats that every [`WAIT_NOTICE_EVERY`], so a stall is never silent.
//! 6. A holder that dies leaves its lease behind. The lease records the holder's pid and machine
//!    ([`LeaseHolder`]): a waiter on the same machine that finds the process gone (`kill(pid, 0)`
//!    says ESRCH, or a zombie) takes the lease over at once, inside the transaction that checked
//!    it, so exactly one waiter does. Otherwise (another machine sharing the file, an unknown or
//!    reused pid, non-unix) the lease lapses after [`ExecutorConfig::refresh_lease`]. A dead holder
//!    that committed before dying has already released the lease and bumped the version, so its
//!    tokens are used (step 3); one that died after the token endpoint answered but before the
//!    commit has spent a rotating refresh token nobody stored, and the takeover's refresh gets
//!    `invalid_grant` (as it would after the lapse), telling the user to reconnect.
//!
//! The token request is never abandoned half-way on cancellation: a rotated refresh token that
//! was issued but not stored would end the connection. `invalid_grant` is final: the error tells
//! the user to reconnect, and nothing retries it.
//!
//! [`ExecutorConfig::refresh_skew`]: crate::ExecutorConfig::refresh_skew
//! [`ExecutorConfig::refresh_wait`]: crate::ExecutorConfig::refresh_wait
//! [`ExecutorConfig::refresh_lease`]: crate::ExecutorConfig::refresh_lease
//! [`LeaseHolder`]: crate::store::LeaseHolder

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use oauth2::basic::{BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthType, ClientId, ClientSecret, RefreshToken, RequestTokenError, TokenResponse, TokenUrl,
};
use plugboard_core::{AuthSpec, ClientAuth, ConnectorError, OAuth2AuthorizationCode};
use secrecy::{ExposeSecret, SecretString};

use crate::cancel::Cancellation;
use crate::executor::{ConnectionContext, Executor, authority, store_error, transport_error};
use crate::store::{CommitOutcome, LeaseHolder, LeaseOutcome, TokenSet, VersionedTokens};

/// A failure of the token endpoint's HTTP exchange, already mapped (and free of secrets).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct TokenHttpError(pub(crate) ConnectorError);

type TokenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, TokenHttpError>> + 'a>>;

/// How long a process waits quietly for another process's refresh before it logs whose refresh
/// it is waiting for (refreshes take well under a second when all is well).
pub const WAIT_NOTICE_AFTER: Duration = Duration::from_secs(2);

/// How often a process still waiting for another's refresh repeats that (as a warning).
pub const WAIT_NOTICE_EVERY: Duration = Duration::from_secs(15);

/// How many times storing refreshed tokens is tried before they are given up.
const COMMIT_ATTEMPTS: u32 = 5;

/// The pause after the first failed attempt to store refreshed tokens (doubling after each).
const COMMIT_FIRST_PAUSE: Duration = Duration::from_millis(500);

/// How many times a throttled (429) token request is retried.
const TOKEN_THROTTLE_RETRIES: u32 = 3;

/// A check run right before each token request is sent (after any wait for the token
/// endpoint's rate limit); an error stops the exchange unsent. Asynchronous: it asks the store.
pub(crate) type BeforeSend<'a> = &'a (dyn Fn() -> CheckFuture<'a> + Send + Sync);

/// The future of a [`BeforeSend`] check.
pub(crate) type CheckFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(), ConnectorError>> + Send + 'a>>;

/// The HTTP client oauth2 uses: the executor's one `reqwest` client, within the token endpoint's
/// rate limit, retrying 429s (not processed). Nothing else is retried: a refresh that may have
/// reached the server may have spent the refresh token. `before_send` runs before every send,
/// retries included.
pub(crate) fn token_http<'a>(
    executor: &'a Executor,
    ctx: &'a ConnectionContext,
    cancel: &'a Cancellation,
    before_send: Option<BeforeSend<'a>>,
) -> impl Fn(oauth2::HttpRequest) -> TokenFuture<'a> + 'a {
    move |request: oauth2::HttpRequest| {
        Box::pin(async move {
            // Named in transport errors: the token endpoint's host and port, never its URL.
            let to = reqwest::Url::parse(&request.uri().to_string()).map_or_else(
                |_| "the token endpoint".to_owned(),
                |url| format!("the token endpoint {}", authority(&url)),
            );
            let failed = |e: reqwest::Error| TokenHttpError(transport_error(&e, &ctx.name, &to));
            let mut attempt = 0;
            loop {
                let tickets = executor
                    .admit(&ctx.token_limits, cancel)
                    .await
                    .map_err(TokenHttpError)?;
                if let Some(check) = before_send
                    && let Err(error) = check().await
                {
                    executor.complete(&tickets).await;
                    return Err(TokenHttpError(error));
                }
                attempt += 1;
                let builder = executor
                    .client
                    .request(request.method().clone(), request.uri().to_string())
                    .headers(request.headers().clone())
                    .body(request.body().clone());
                let response = builder.send().await;
                executor.complete(&tickets).await;
                let response = response.map_err(failed)?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = response.bytes().await.map_err(failed)?;
                if status.as_u16() == 429 && attempt <= TOKEN_THROTTLE_RETRIES {
                    let wait = headers
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs)
                        .unwrap_or(executor.config.min_throttle_backoff)
                        // Bounded: a refresh waits no longer than its waiters would.
                        .min(executor.config.refresh_wait);
                    tracing::info!(
                        connection = %ctx.name,
                        "the token endpoint throttled us (429); retrying"
                    );
                    cancel
                        .sleep(wait)
                        .await
                        .map_err(|_| TokenHttpError(ConnectorError::Cancelled))?;
                    continue;
                }
                let mut builder = oauth2::http::Response::builder().status(status);
                if let Some(map) = builder.headers_mut() {
                    *map = headers;
                }
                return builder.body(body.to_vec()).map_err(|e| {
                    TokenHttpError(ConnectorError::unexpected_response(format!(
                        "token endpoint response: {e}"
                    )))
                });
            }
        }) as TokenFuture<'a>
    }
}

/// The OAuth2 spec of a connection, or an error for connectors that do not use it.
pub(crate) fn oauth_spec(
    ctx: &ConnectionContext,
) -> Result<&OAuth2AuthorizationCode, ConnectorError> {
    match &ctx.auth {
        AuthSpec::OAuth2AuthorizationCode(spec) => Ok(spec),
        _ => Err(ConnectorError::NotImplemented {
            what: format!("connector `{}` does not use OAuth2", ctx.connector_id),
        }),
    }
}

/// The client credentials from the settings, and how to present them.
pub(crate) fn client_credentials(
    ctx: &ConnectionContext,
    spec: &OAuth2AuthorizationCode,
) -> Result<(ClientId, Option<ClientSecret>, AuthType), ConnectorError> {
    let id =
        ctx.setting_str(&spec.settings.client_id)
            .ok_or_else(|| ConnectorError::Unauthorized {
                message: format!(
                    "connection `{}` has no `{}` setting",
                    ctx.name, spec.settings.client_id
                ),
            })?;
    let secret = ctx
        .setting_str(&spec.settings.client_secret)
        .map(|s| ClientSecret::new(s.to_owned()));
    let auth_type = match spec.client_auth {
        ClientAuth::Basic => AuthType::BasicAuth,
        ClientAuth::Body => AuthType::RequestBody,
    };
    Ok((ClientId::new(id.to_owned()), secret, auth_type))
}

pub(crate) fn token_url(ctx: &ConnectionContext) -> Result<TokenUrl, ConnectorError> {
    let url = ctx
        .endpoints
        .token_url
        .clone()
        .ok_or_else(|| ConnectorError::NotImplemented {
            what: format!("connector `{}` declares no token URL", ctx.connector_id),
        })?;
    TokenUrl::new(url).map_err(|e| ConnectorError::Denied {
        message: format!("the token URL is invalid: {e}"),
    })
}

/// The stored form of a token response; keeps `previous_refresh` when the server sent none
/// (reusable refresh tokens).
pub(crate) fn token_set(
    response: &BasicTokenResponse,
    spec: &OAuth2AuthorizationCode,
    previous_refresh: Option<&SecretString>,
    now_ms: i64,
) -> TokenSet {
    let lifetime = response
        .expires_in()
        .map(|d| d.as_secs())
        .or(spec.access_token_lifetime_secs);
    TokenSet {
        access_token: SecretString::from(response.access_token().secret().to_owned()),
        refresh_token: response
            .refresh_token()
            .map(|t| SecretString::from(t.secret().to_owned()))
            .or_else(|| previous_refresh.cloned()),
        expires_at: lifetime.map(|secs| {
            now_ms
                .div_euclid(1000)
                .saturating_add(i64::try_from(secs).unwrap_or(i64::MAX))
        }),
        scope: response.scopes().map(|scopes| {
            scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        }),
    }
}

/// Maps oauth2's error without ever printing a response body (it may hold tokens).
pub(crate) fn token_error(
    error: RequestTokenError<TokenHttpError, oauth2::basic::BasicErrorResponse>,
    ctx: &ConnectionContext,
    what: &str,
) -> ConnectorError {
    match error {
        RequestTokenError::ServerResponse(response) => {
            let code = response.error().as_ref().to_owned();
            let description = response
                .error_description()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            if matches!(response.error(), BasicErrorResponseType::InvalidGrant) {
                ConnectorError::Unauthorized {
                    message: format!(
                        "the authorization server refused the {what} for connection `{}` \
                         (invalid_grant{description}): the grant was revoked, expired or already \
                         used. Reconnect with `{}`",
                        ctx.name, ctx.reconnect
                    ),
                }
            } else {
                ConnectorError::Unauthorized {
                    message: format!(
                        "the token endpoint refused the {what} for connection `{}`: {code}{description}",
                        ctx.name
                    ),
                }
            }
        }
        RequestTokenError::Request(TokenHttpError(error)) => error,
        RequestTokenError::Parse(error, _body) => ConnectorError::unexpected_response(format!(
            "the token endpoint's answer to the {what} is not an OAuth2 token response \
             (at `{}`)",
            error.path()
        )),
        RequestTokenError::Other(message) => ConnectorError::unexpected_response(format!(
            "the token endpoint's answer to the {what}: {message}"
        )),
    }
}

impl Executor {
    fn refresh_lock(&self, connection: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.refresh_locks.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(locks.entry(connection.to_owned()).or_default())
    }

    /// The connection's tokens, refreshed first when the access token is about to expire.
    pub(crate) async fn fresh_tokens(
        &self,
        ctx: &ConnectionContext,
        cancel: &Cancellation,
    ) -> Result<VersionedTokens, ConnectorError> {
        let tokens = self
            .store
            .tokens(&ctx.name)
            .await
            .map_err(store_error)?
            .ok_or_else(|| no_tokens(ctx))?;
        if let Some(reason) = &tokens.needs_reauth {
            return Err(needs_reauth(reason));
        }
        let stale = tokens.tokens.expires_at.is_some_and(|at| {
            let expires_ms = at.saturating_mul(1000);
            let skew_ms =
                refresh_skew_ms(self.config.refresh_skew, expires_ms, tokens.stored_at_ms);
            expires_ms.saturating_sub(skew_ms) <= self.now_ms()
        });
        if stale {
            self.refresh(ctx, tokens.version, cancel).await
        } else {
            Ok(tokens)
        }
    }

    /// Whether the store holds tokens newer than `version` for the connection of `ctx`.
    pub(crate) async fn newer_tokens_stored(
        &self,
        ctx: &ConnectionContext,
        version: i64,
    ) -> Result<bool, ConnectorError> {
        let tokens = self.store.tokens(&ctx.name).await.map_err(store_error)?;
        Ok(tokens.is_some_and(|tokens| tokens.version != version))
    }

    /// Replaces token version `stale_version` with fresh tokens (or returns the tokens someone
    /// else already refreshed), following the protocol of the module docs.
    pub(crate) async fn refresh(
        &self,
        ctx: &ConnectionContext,
        stale_version: i64,
        cancel: &Cancellation,
    ) -> Result<VersionedTokens, ConnectorError> {
        let spec = oauth_spec(ctx)?;
        let lock = self.refresh_lock(&ctx.name);
        let _guard = tokio::select! {
            guard = lock.lock_owned() => guard,
            () = cancel.cancelled() => return Err(ConnectorError::Cancelled),
        };
        let started = Instant::now();
        let deadline = started + self.config.refresh_wait;
        let mut next_notice = started + WAIT_NOTICE_AFTER;
        let mut notices = 0_u32;
        let lease_ms = i64::try_from(self.config.refresh_lease.as_millis()).unwrap_or(60_000);
        loop {
            let current = self
                .store
                .tokens(&ctx.name)
                .await
                .map_err(store_error)?
                .ok_or_else(|| no_tokens(ctx))?;
            if let Some(reason) = &current.needs_reauth {
                return Err(needs_reauth(reason));
            }
            if current.version != stale_version {
                return Ok(current);
            }
            let now_ms = self.now_ms();
            match self
                .store
                .acquire_refresh_lease(&ctx.name, &self.holder, now_ms, lease_ms)
                .await
                .map_err(store_error)?
            {
                LeaseOutcome::NoTokens => return Err(no_tokens(ctx)),
                LeaseOutcome::Held {
                    holder, until_ms, ..
                } => {
                    let now = Instant::now();
                    let waited = now.duration_since(started);
                    if now >= deadline {
                        tracing::warn!(
                            connection = %ctx.name,
                            holder_pid = holder.as_ref().map(|h| h.pid),
                            waited_secs = waited.as_secs(),
                            "gave up waiting for another process's refresh of connection `{}` ({})",
                            ctx.name,
                            describe_holder(holder.as_ref()),
                        );
                        return Err(ConnectorError::Timeout);
                    }
                    if now >= next_notice {
                        let lapses_in_secs = until_ms.saturating_sub(now_ms).max(0) / 1000;
                        if notices == 0 {
                            tracing::info!(
                                connection = %ctx.name,
                                holder_pid = holder.as_ref().map(|h| h.pid),
                                lapses_in_secs,
                                "waiting for another process's refresh of connection `{}` ({}); \
                                 its lease lapses in {lapses_in_secs}s if that process is stuck",
                                ctx.name,
                                describe_holder(holder.as_ref()),
                            );
                        } else {
                            tracing::warn!(
                                connection = %ctx.name,
                                holder_pid = holder.as_ref().map(|h| h.pid),
                                lapses_in_secs,
                                waited_secs = waited.as_secs(),
                                "still waiting for another process's refresh of connection `{}` \
                                 ({}) after {}s; its lease lapses in {lapses_in_secs}s",
                                ctx.name,
                                describe_holder(holder.as_ref()),
                                waited.as_secs(),
                            );
                        }
                        notices += 1;
                        next_notice = now + WAIT_NOTICE_EVERY;
                    }
                    cancel
                        .sleep(Duration::from_millis(25 + fastrand::u64(..25)))
                        .await
                        .map_err(|_| ConnectorError::Cancelled)?;
                }
                LeaseOutcome::Acquired {
                    version, took_over, ..
                } => {
                    if let Some(dead) = took_over {
                        tracing::warn!(
                            connection = %ctx.name,
                            holder_pid = dead.pid,
                            "took over the refresh lease of connection `{}` from pid {}, which \
                             died while refreshing it",
                            ctx.name,
                            dead.pid,
                        );
                    }
                    if version != stale_version {
                        self.release(ctx).await;
                        continue;
                    }
                    match self
                        .refresh_holding_lease(ctx, spec, &current, lease_ms, cancel)
                        .await
                    {
                        Ok(Some(tokens)) => {
                            return self.commit_refreshed(ctx, version, tokens).await;
                        }
                        Ok(None) => {
                            tracing::warn!(
                                connection = %ctx.name,
                                "the refresh lease of connection `{}` lapsed before its refresh \
                                 token was sent (another process may be refreshing); not sending it",
                                ctx.name
                            );
                        }
                        Err(error) => {
                            self.release(ctx).await;
                            return Err(error);
                        }
                    }
                }
            }
        }
    }

    /// Stores freshly refreshed tokens, retrying a failing store for a while: they hold the only
    /// valid refresh token, so giving up means the connection must be authorised again, which
    /// the error then says.
    async fn commit_refreshed(
        &self,
        ctx: &ConnectionContext,
        version: i64,
        tokens: TokenSet,
    ) -> Result<VersionedTokens, ConnectorError> {
        let mut attempt = 1;
        let mut pause = COMMIT_FIRST_PAUSE;
        loop {
            match self
                .store
                .commit_refresh(&ctx.name, &self.holder.id, version, &tokens)
                .await
            {
                Ok(CommitOutcome::Committed(version)) => {
                    tracing::info!(connection = %ctx.name, version, "tokens refreshed");
                    return Ok(VersionedTokens {
                        tokens,
                        version,
                        needs_reauth: None,
                        stored_at_ms: Some(self.now_ms()),
                    });
                }
                Ok(CommitOutcome::Conflict(theirs)) => {
                    tracing::warn!(
                        connection = %ctx.name,
                        "another process refreshed while our lease had lapsed; using its tokens"
                    );
                    return Ok(theirs);
                }
                Ok(CommitOutcome::Gone) => return Err(no_tokens(ctx)),
                Err(error) if attempt < COMMIT_ATTEMPTS => {
                    tracing::warn!(
                        connection = %ctx.name,
                        attempt,
                        %error,
                        "cannot store the refreshed tokens yet; trying again"
                    );
                    // Not cut short by cancellation: these tokens must not be dropped.
                    tokio::time::sleep(pause).await;
                    pause = pause.saturating_mul(2);
                    attempt += 1;
                }
                Err(error) => {
                    self.release(ctx).await;
                    return Err(ConnectorError::Unauthorized {
                        message: format!(
                            "the refreshed tokens of connection `{}` could not be stored \
                             ({error}), and the refresh token they replace is used up. \
                             Reconnect with `{}`",
                            ctx.name, ctx.reconnect
                        ),
                    });
                }
            }
        }
    }

    async fn release(&self, ctx: &ConnectionContext) {
        if let Err(error) = self
            .store
            .release_refresh_lease(&ctx.name, &self.holder.id)
            .await
        {
            tracing::warn!(connection = %ctx.name, %error, "cannot release the refresh lease");
        }
    }

    /// Exchanges the refresh token of `current` for new tokens; `None` when the lease was lost
    /// before the token was sent (it was not sent).
    async fn refresh_holding_lease(
        &self,
        ctx: &ConnectionContext,
        spec: &OAuth2AuthorizationCode,
        current: &VersionedTokens,
        lease_ms: i64,
        cancel: &Cancellation,
    ) -> Result<Option<TokenSet>, ConnectorError> {
        let refresh_token = current.tokens.refresh_token.as_ref().ok_or_else(|| {
            ConnectorError::Unauthorized {
                message: format!(
                    "the access token of connection `{}` expired and there is no refresh token. \
                     Reconnect with `{}`",
                    ctx.name, ctx.reconnect
                ),
            }
        })?;
        let (id, secret, auth_type) = client_credentials(ctx, spec)?;
        let mut client = oauth2::basic::BasicClient::new(id)
            .set_token_uri(token_url(ctx)?)
            .set_auth_type(auth_type);
        if let Some(secret) = secret {
            client = client.set_client_secret(secret);
        }
        // Renewed right before each send: the usual lease, counted from when the request will
        // have ended at the latest.
        let timeout_ms = i64::try_from(self.config.request_timeout.as_millis()).unwrap_or(i64::MAX);
        let renew_ms = lease_ms.saturating_add(timeout_ms);
        let lease_lost = AtomicBool::new(false);
        let lost = &lease_lost;
        let keep_lease = move || {
            Box::pin(async move {
                let kept = self
                    .store
                    .renew_refresh_lease(
                        &ctx.name,
                        &self.holder.id,
                        current.version,
                        self.now_ms(),
                        renew_ms,
                    )
                    .await
                    .map_err(store_error)?;
                if kept {
                    Ok(())
                } else {
                    lost.store(true, Ordering::SeqCst);
                    Err(ConnectorError::Cancelled)
                }
            }) as CheckFuture<'_>
        };
        let http = token_http(self, ctx, cancel, Some(&keep_lease));
        let presented = RefreshToken::new(refresh_token.expose_secret().to_owned());
        tracing::debug!(connection = %ctx.name, "refreshing the access token");
        let response = match client
            .exchange_refresh_token(&presented)
            .request_async(&http)
            .await
        {
            Ok(response) => response,
            Err(_) if lease_lost.load(Ordering::SeqCst) => return Ok(None),
            Err(error) => {
                let refused = matches!(
                    &error,
                    RequestTokenError::ServerResponse(response)
                        if matches!(response.error(), BasicErrorResponseType::InvalidGrant)
                );
                let error = token_error(error, ctx, "refresh token");
                // Final: no process may present this grant again.
                if refused
                    && let ConnectorError::Unauthorized { message } = &error
                    && let Err(store) = self
                        .store
                        .mark_needs_reauth(&ctx.name, &self.holder.id, current.version, message)
                        .await
                {
                    tracing::warn!(
                        connection = %ctx.name,
                        error = %store,
                        "cannot mark the connection as needing re-authorisation"
                    );
                }
                return Err(error);
            }
        };
        Ok(Some(token_set(
            &response,
            spec,
            Some(refresh_token),
            self.now_ms(),
        )))
    }
}

/// "held by pid N" (with the host when it is another machine), for the waiting messages.
fn describe_holder(holder: Option<&LeaseHolder>) -> String {
    match holder {
        Some(holder) if holder.host == crate::store::local_host_id() => {
            format!("held by pid {}", holder.pid)
        }
        Some(holder) => format!(
            "held by pid {} on host `{}`",
            holder.pid,
            holder.host_name()
        ),
        None => "held by a process that did not record its pid".to_owned(),
    }
}

/// The error of a connection marked as needing a new authorization; `reason` already says
/// which command gives it one.
fn needs_reauth(reason: &str) -> ConnectorError {
    ConnectorError::Unauthorized {
        message: reason.to_owned(),
    }
}

fn no_tokens(ctx: &ConnectionContext) -> ConnectorError {
    ConnectorError::Unauthorized {
        message: format!(
            "connection `{}` has no tokens. Connect it with `{}`",
            ctx.name, ctx.reconnect
        ),
    }
}

/// How long before it expires a token is refreshed: [`ExecutorConfig::refresh_skew`], but at
/// most a fifth of the token's lifetime (from when it was stored to when it expires), so a
/// token that lives 5 s is not refreshed on every request.
///
/// [`ExecutorConfig::refresh_skew`]: crate::ExecutorConfig::refresh_skew
fn refresh_skew_ms(configured: Duration, expires_ms: i64, stored_at_ms: Option<i64>) -> i64 {
    let configured = i64::try_from(configured.as_millis()).unwrap_or(i64::MAX);
    match stored_at_ms {
        Some(stored) if expires_ms > stored => configured.min((expires_ms - stored) / 5),
        _ => configured,
    }
}
