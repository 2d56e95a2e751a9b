//! Installing a connection: the OAuth2 authorization-code flow, in two halves every flow shares
//! ([`Session::begin_authorization`] builds the request, [`Session::complete_authorization`]
//! exchanges the code and stores the connection), and the loopback flow around them
//! ([`Session::connect`], for `plugboard connect`). A hosted service calls the two halves itself.
//!
//! In the loopback flow the redirect URI must point at the loopback interface (`127.0.0.1`, `localhost` or `[::1]`);
//! the runner listens there (port 0 picks a free port, for tests), hands the authorize URL to a
//! caller-supplied function (the CLI prints it; the sandbox fetches it itself, acting as the
//! browser), waits (bounded) for the callback, exchanges the code with PKCE (S256) and stores the
//! connection and its tokens.
//!
//! Only a callback carrying this flow's `state` ends the wait. Any other (forged, stale, from
//! another tab) is answered 400 and ignored: anyone on the machine can reach a loopback port, and
//! letting the first caller end the flow would let them abort it before the real browser arrives.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use oauth2::{
    AuthUrl, AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
};
use plugboard_core::{AuthSpec, ConnectorError, OAuth2AuthorizationCode};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};

use crate::executor::ConnectionContext;
use crate::oauth::{client_credentials, token_error, token_http, token_set, token_url};
use crate::session::{PreparedConnection, Session};
use crate::store::{ConnectionRecord, Endpoints, StoreError};

/// What to connect.
#[derive(Clone)]
pub struct ConnectOptions {
    /// The connector id, e.g. `constant-contact`.
    pub connector_id: String,
    /// The new connection's name.
    pub name: String,
    /// Connection-level settings (including partner-level fields the partner left blank); may
    /// hold secrets, so `Debug` shows only the field names.
    pub settings: Map<String, Value>,
    /// Endpoint overrides (the sandbox).
    pub endpoints: Option<Endpoints>,
    /// How long to wait for the browser to come back to the callback.
    pub timeout: Duration,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("connector_id", &self.connector_id)
            .field("name", &self.name)
            .field("settings", &crate::store::RedactedKeys(&self.settings))
            .field("endpoints", &self.endpoints)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a connection could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No connector with this id is loaded.
    #[error("no connector `{0}` is loaded")]
    UnknownConnector(String),
    /// Settings are missing or invalid (every problem is listed, without values).
    #[error("the connection's settings are incomplete or invalid: {0}")]
    Settings(#[from] crate::settings::SettingsError),
    /// The connector does not use the OAuth2 authorization-code flow: returned by
    /// [`Session::complete_authorization`] when the connection's scheme is no longer OAuth2
    /// (its settings or the connector changed since the authorization began).
    /// [`Session::connect`] and [`Session::begin_authorization`] store other schemes directly.
    #[error("connector `{0}` does not use the OAuth2 authorization-code flow")]
    NotOAuth(String),
    /// The redirect URI cannot be served by a loopback listener.
    #[error("the redirect URI `{uri}` cannot be used: {reason}")]
    RedirectUri {
        /// The URI.
        uri: String,
        /// Why.
        reason: String,
    },
    /// The loopback listener could not be opened.
    #[error("cannot listen on {address} for the OAuth callback: {source}")]
    Listen {
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The caller's function could not open the authorize URL.
    #[error("cannot open the authorization page: {0}")]
    Browser(String),
    /// The user (or the server) refused the authorization.
    #[error("the authorization was refused: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Denied {
        /// The OAuth2 error code, e.g. `access_denied`.
        error: String,
        /// The server's description.
        description: Option<String>,
    },
    /// The callback's `state` is not the one sent: a forged or stale callback. (The listener
    /// answers such callbacks 400 and keeps waiting, so a flow no longer ends with this.)
    #[error(
        "the callback's `state` does not match the authorization request (forged or stale callback)"
    )]
    StateMismatch,
    /// The callback carried no code.
    #[error("the callback carried no authorization code")]
    MissingCode,
    /// Nobody came back to the callback in time.
    #[error("no authorization arrived at the callback within {} s", .0.as_secs())]
    Timeout(Duration),
    /// The flow was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The code exchange failed.
    #[error("the code exchange failed: {0}")]
    Exchange(ConnectorError),
    /// The connector's connection check failed: the settings are not those of a working
    /// account (a wrong API key, say). Nothing was stored, except after an OAuth2 exchange
    /// (`kept`): its tokens cannot be got again without the user, so the connection stays.
    #[error(
        "the connection does not work: its check (`{method}`) failed: {source}{}",
        if *kept { "; the connection was saved with its tokens: fix the account, then test it again or delete it" } else { "; nothing was saved" }
    )]
    CheckFailed {
        /// The check method.
        method: String,
        /// What it answered.
        source: ConnectorError,
        /// Whether the connection was stored anyway (OAuth2).
        kept: bool,
    },
    /// The settings do not make a usable connection (an unknown auth choice, a missing
    /// credential, a base URL that is not a URL); nothing was stored.
    #[error("the connection cannot be used: {0}")]
    Unusable(ConnectorError),
    /// The connection could not be stored.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A loopback redirect URI, checked.
fn loopback(uri: &str) -> Result<Url, ConnectError> {
    let bad = |reason: &str| ConnectError::RedirectUri {
        uri: uri.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(uri).map_err(|e| bad(&e.to_string()))?;
    if url.scheme() != "http" {
        return Err(bad("a loopback callback must use http://"));
    }
    match url.host_str() {
        Some("127.0.0.1" | "localhost" | "[::1]") => Ok(url),
        _ => Err(bad(
            "the host must be 127.0.0.1, localhost or [::1] (the runner listens there)",
        )),
    }
}

type Callback = HashMap<String, String>;

/// What the callback handler needs: the `state` this flow sent, and where to hand its callback.
#[derive(Clone)]
struct Listener {
    state: Arc<str>,
    sender: mpsc::Sender<Callback>,
}

async fn callback(
    State(listener): State<Listener>,
    Query(params): Query<Callback>,
) -> (StatusCode, Html<&'static str>) {
    let ours = params
        .get("state")
        .is_some_and(|state| same(state.as_bytes(), listener.state.as_bytes()));
    if !ours {
        tracing::warn!(
            "refused a callback whose `state` is not this authorization's (forged or stale); \
             still waiting for the real one"
        );
        return (
            StatusCode::BAD_REQUEST,
            Html(
                "<!doctype html><title>plugboard</title>\
                 <p>This authorization was not recognised: it does not belong to the sign-in \
                 plugboard is waiting for, so it was ignored. Finish the sign-in from the \
                 address plugboard printed.</p>",
            ),
        );
    }
    let refused = params.contains_key("error");
    let _ = listener.sender.try_send(params);
    let page = if refused {
        "<!doctype html><title>plugboard</title>\
         <p>The authorization was refused; plugboard stopped waiting. You can close this window.</p>"
    } else {
        "<!doctype html><title>plugboard</title>\
         <p>plugboard received the authorization. You can close this window.</p>"
    };
    (StatusCode::OK, Html(page))
}

/// Compares in time independent of where the inputs differ, so answers do not reveal how much of
/// a guessed `state` was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// An authorization request on its way to the provider, and what finishing it needs: made by
/// [`Session::begin_authorization`], finished by [`Session::complete_authorization`].
///
/// It serializes without `state` and `authorization_url` (both are `#[serde(skip)]`): a hosted
/// service keeps the rest server-side, keyed by a hash of the state, and the state itself only
/// travels in the user's browser. The PKCE verifier never leaves the server.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingAuthorization {
    /// The connector id.
    pub connector_id: String,
    /// The name the connection is stored under.
    pub name: String,
    /// The connection-level settings given at the start (may hold secrets).
    pub settings: Map<String, Value>,
    /// Endpoint overrides (the sandbox).
    #[serde(default)]
    pub endpoints: Option<Endpoints>,
    /// The redirect URI sent with the request; the code exchange must repeat it.
    pub redirect_uri: String,
    /// The PKCE (S256) verifier, when the connector uses PKCE.
    #[serde(default)]
    pub pkce_verifier: Option<String>,
    /// The one-time `state` sent with the request.
    #[serde(skip)]
    pub state: String,
    /// Where to send the user's browser.
    #[serde(skip)]
    pub authorization_url: String,
}

impl std::fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("connector_id", &self.connector_id)
            .field("name", &self.name)
            .field("settings", &crate::store::RedactedKeys(&self.settings))
            .field("endpoints", &self.endpoints)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// What [`Session::begin_authorization`] did.
#[derive(Debug)]
pub enum Begun {
    /// The connector needs no authorization (API key, Basic, none): the connection was checked
    /// and stored.
    Installed(ConnectionRecord),
    /// Send the user to [`PendingAuthorization::authorization_url`]; finish with
    /// [`Session::complete_authorization`].
    Authorize(PendingAuthorization),
}

/// An OAuth2 install, planned: the settings resolved and checked, nothing sent yet.
struct OAuthPlan {
    record: ConnectionRecord,
    context: ConnectionContext,
    spec: OAuth2AuthorizationCode,
    scopes: Vec<String>,
    redirect_setting: String,
}

/// What an install needs: nothing more (stored), or an authorization.
enum Plan {
    Installed(ConnectionRecord),
    OAuth(Box<OAuthPlan>),
}

/// The oauth2 client with its authorize and token endpoints set.
type ConfiguredClient = oauth2::basic::BasicClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

/// The client for `context`'s endpoints and credentials, sending `redirect` with its requests.
fn oauth_client(
    context: &ConnectionContext,
    spec: &OAuth2AuthorizationCode,
    redirect: &str,
) -> Result<ConfiguredClient, ConnectError> {
    let (id, secret, auth_type) =
        client_credentials(context, spec).map_err(ConnectError::Exchange)?;
    let authorize = context.endpoints.authorize_url.clone().unwrap_or_default();
    let auth_url = AuthUrl::new(authorize.clone()).map_err(|e| ConnectError::RedirectUri {
        uri: authorize,
        reason: format!("the authorize URL is invalid: {e}"),
    })?;
    let redirect_url =
        RedirectUrl::new(redirect.to_owned()).map_err(|e| ConnectError::RedirectUri {
            uri: redirect.to_owned(),
            reason: e.to_string(),
        })?;
    let mut client = oauth2::basic::BasicClient::new(id)
        .set_auth_uri(auth_url)
        .set_token_uri(token_url(context).map_err(ConnectError::Exchange)?)
        .set_redirect_uri(redirect_url)
        .set_auth_type(auth_type);
    if let Some(secret) = secret {
        client = client.set_client_secret(secret);
    }
    Ok(client)
}

impl Session {
    /// Installs a connection: for OAuth2, runs the authorization-code flow and stores the
    /// connection with its tokens; for any other scheme (API key, Basic, none), checks the
    /// settings as the executor will use them and stores the connection without calling `open`.
    ///
    /// The loopback flow around [`Session::begin_authorization`] and
    /// [`Session::complete_authorization`]: the redirect URI must be a loopback URL, where this
    /// listens for the callback.
    ///
    /// `open` receives the authorize URL: print it, open a browser, or (for the sandbox) fetch
    /// it. It runs on the calling thread while the listener waits, so it may block. Call this
    /// from a blocking thread, like [`Session::call`].
    pub fn connect(
        &self,
        options: ConnectOptions,
        open: &mut dyn FnMut(&str) -> Result<(), String>,
    ) -> Result<ConnectionRecord, ConnectError> {
        let plan = match self.plan_install(&options)? {
            Plan::Installed(record) => return Ok(record),
            Plan::OAuth(plan) => plan,
        };
        let mut redirect = loopback(&plan.redirect_setting)?;

        // Listen first, so the callback cannot arrive before anyone waits for it.
        let host = match redirect.host_str() {
            Some("[::1]") => "::1",
            _ => "127.0.0.1",
        };
        let port = redirect.port_or_known_default().unwrap_or(80);
        let address = format!("{host}:{port}");
        let listener = self
            .handle()
            .block_on(tokio::net::TcpListener::bind((host, port)))
            .map_err(|source| ConnectError::Listen {
                address: address.clone(),
                source,
            })?;
        let bound = listener
            .local_addr()
            .map_err(|source| ConnectError::Listen { address, source })?;
        if port == 0 {
            let _ = redirect.set_port(Some(bound.port()));
        }
        // Made before the listener starts, so the handler can tell this flow's callback apart.
        let pending = self.authorization_request(&plan, redirect.as_str())?;
        let (sender, mut receiver) = mpsc::channel::<Callback>(4);
        let (stop, stopped) = oneshot::channel::<()>();
        let router = Router::new()
            .route(redirect.path(), get(callback))
            .with_state(Listener {
                state: Arc::from(pending.state.as_str()),
                sender,
            });
        let server = self.handle().spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        let outcome = self.wait_for_callback(&pending, &mut receiver, open, options.timeout);
        let _ = stop.send(());
        let _ = self
            .handle()
            .block_on(async { tokio::time::timeout(Duration::from_secs(2), server).await });
        let params = outcome?;
        // The listener passes on only callbacks with this state; checked again here so the
        // exchange never depends on the handler alone.
        let ours = params
            .get("state")
            .is_some_and(|state| same(state.as_bytes(), pending.state.as_bytes()));
        if !ours {
            return Err(ConnectError::StateMismatch);
        }
        self.complete_authorization(&pending, &params)
    }

    /// Starts an install. For a connector (or a chosen scheme) that needs no authorization, the
    /// connection is checked and stored at once ([`Begun::Installed`]). For the OAuth2
    /// authorization-code flow, builds the authorization request (a random one-time `state`,
    /// PKCE S256 when the connector uses it) and returns it, storing nothing
    /// ([`Begun::Authorize`]).
    ///
    /// `redirect_uri` replaces the connector's redirect URI setting (a hosted service passes its
    /// own callback); it must be an `http` or `https` URL. Call from a blocking thread.
    pub fn begin_authorization(
        &self,
        options: &ConnectOptions,
        redirect_uri: Option<&str>,
    ) -> Result<Begun, ConnectError> {
        let plan = match self.plan_install(options)? {
            Plan::Installed(record) => return Ok(Begun::Installed(record)),
            Plan::OAuth(plan) => plan,
        };
        let redirect = redirect_uri.unwrap_or(&plan.redirect_setting).to_owned();
        let url = Url::parse(&redirect).map_err(|e| ConnectError::RedirectUri {
            uri: redirect.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConnectError::RedirectUri {
                uri: redirect,
                reason: "a redirect URI must use http:// or https://".to_owned(),
            });
        }
        self.authorization_request(&plan, &redirect)
            .map(Begun::Authorize)
    }

    /// Finishes an install from the provider's callback parameters: a provider `error` becomes
    /// [`ConnectError::Denied`]; otherwise the `code` is exchanged (with the PKCE verifier) and
    /// the connection and its tokens are stored under [`PendingAuthorization::name`].
    ///
    /// The caller must already have matched the callback's `state` to `pending` (the loopback
    /// flow compares it in memory, a hosted service looks it up by hash) and made sure `pending`
    /// is used once. Settings are resolved again, so partner settings changed meanwhile apply.
    /// Call from a blocking thread.
    pub fn complete_authorization(
        &self,
        pending: &PendingAuthorization,
        callback: &HashMap<String, String>,
    ) -> Result<ConnectionRecord, ConnectError> {
        if let Some(error) = callback.get("error") {
            return Err(ConnectError::Denied {
                error: error.clone(),
                description: callback.get("error_description").cloned(),
            });
        }
        let code = callback
            .get("code")
            .filter(|c| !c.is_empty())
            .ok_or(ConnectError::MissingCode)?;
        let options = ConnectOptions {
            connector_id: pending.connector_id.clone(),
            name: pending.name.clone(),
            settings: pending.settings.clone(),
            endpoints: pending.endpoints.clone(),
            timeout: Duration::ZERO,
        };
        let plan = match self.resolve_install(&options)? {
            Resolved::Other { .. } => {
                return Err(ConnectError::NotOAuth(pending.connector_id.clone()));
            }
            Resolved::OAuth(plan) => plan,
        };
        let client = oauth_client(&plan.context, &plan.spec, &pending.redirect_uri)?;
        let cancel = self.cancellation().clone();
        let http = token_http(self.executor(), &plan.context, &cancel, None);
        let mut exchange = client.exchange_code(AuthorizationCode::new(code.clone()));
        if let Some(verifier) = &pending.pkce_verifier {
            exchange = exchange.set_pkce_verifier(PkceCodeVerifier::new(verifier.clone()));
        }
        let response = self
            .handle()
            .block_on(exchange.request_async(&http))
            .map_err(|e| {
                ConnectError::Exchange(token_error(e, &plan.context, "authorization code"))
            })?;
        let tokens = token_set(&response, &plan.spec, None, self.executor().now_ms());
        let record = plan.record;
        self.block_on(self.store().put_connection(&record))?;
        self.block_on(self.store().put_tokens(&record.name, &tokens))?;
        tracing::info!(connection = %record.name, connector = %record.connector_id, "connected");
        // Checked once its tokens are stored (a call needs them); a failure keeps them.
        self.check(&record.name)
            .map_err(|source| ConnectError::CheckFailed {
                method: (self.registry().get(&record.connector_id))
                    .and_then(|c| c.manifest().check.clone())
                    .unwrap_or_default(),
                source,
                kept: true,
            })?;
        Ok(record)
    }

    /// Resolves the settings and, for a scheme without authorization, stores the connection.
    fn plan_install(&self, options: &ConnectOptions) -> Result<Plan, ConnectError> {
        match self.resolve_install(options)? {
            Resolved::OAuth(plan) => Ok(Plan::OAuth(plan)),
            Resolved::Other { record, prepared } => {
                // Checked before it is stored: a wrong key is reported now, and keeps nothing.
                let method = prepared.connector.manifest().check.clone();
                self.check_prepared(*prepared)
                    .map_err(|source| ConnectError::CheckFailed {
                        method: method.unwrap_or_default(),
                        source,
                        kept: false,
                    })?;
                self.block_on(self.store().put_connection(&record))?;
                tracing::info!(connection = %record.name, connector = %record.connector_id, "installed");
                Ok(Plan::Installed(record))
            }
        }
    }

    /// Resolves and checks the settings of an install, storing nothing.
    fn resolve_install(&self, options: &ConnectOptions) -> Result<Resolved, ConnectError> {
        let connector = self
            .registry()
            .get(&options.connector_id)
            .cloned()
            .ok_or_else(|| ConnectError::UnknownConnector(options.connector_id.clone()))?;
        let manifest = connector.manifest();
        let partner = self.block_on(self.store().partner_settings(&manifest.id))?;
        let resolved =
            crate::settings::resolve(&manifest.settings_schema, &partner, &options.settings)?;
        let record = ConnectionRecord {
            name: options.name.clone(),
            connector_id: manifest.id.clone(),
            settings: options.settings.clone(),
            endpoints: options.endpoints.clone(),
        };
        // A connector whose connections choose their scheme runs the flow only when this one
        // chose OAuth2. Any other scheme (an API key, Basic, none) has nothing to authorize:
        // the connection is checked as the executor will use it.
        let chosen = manifest.auth.resolve(&resolved).map_err(|e| {
            ConnectError::Unusable(ConnectorError::InvalidInput {
                message: e.to_string(),
            })
        })?;
        let AuthSpec::OAuth2AuthorizationCode(spec) = chosen else {
            let visible_settings =
                plugboard_core::settings::without_secrets(&manifest.settings_schema, &resolved);
            let context =
                ConnectionContext::new(manifest, &record, resolved, &self.executor().config)
                    .map_err(ConnectError::Unusable)?;
            let prepared = PreparedConnection {
                connector: connector.clone(),
                context: Arc::new(context),
                visible_settings,
            };
            return Ok(Resolved::Other {
                record,
                prepared: Box::new(prepared),
            });
        };
        let spec = spec.clone();
        let redirect_setting = resolved
            .get(&spec.settings.redirect_uri)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let scopes: Vec<String> = spec
            .settings
            .scopes
            .as_ref()
            .and_then(|field| resolved.get(field))
            .and_then(Value::as_str)
            .map(|s| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| spec.default_scopes.clone());
        let context = ConnectionContext::new(manifest, &record, resolved, &self.executor().config)
            .map_err(ConnectError::Exchange)?;
        Ok(Resolved::OAuth(Box::new(OAuthPlan {
            record,
            context,
            spec,
            scopes,
            redirect_setting,
        })))
    }

    /// The authorization request of `plan` with this redirect URI: a fresh `state` and PKCE pair.
    fn authorization_request(
        &self,
        plan: &OAuthPlan,
        redirect: &str,
    ) -> Result<PendingAuthorization, ConnectError> {
        let client = oauth_client(&plan.context, &plan.spec, redirect)?;
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(plan.scopes.iter().cloned().map(Scope::new));
        let verifier = if plan.spec.pkce {
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            request = request.set_pkce_challenge(challenge);
            Some(verifier.secret().to_owned())
        } else {
            None
        };
        let (url, state) = request.url();
        Ok(PendingAuthorization {
            connector_id: plan.record.connector_id.clone(),
            name: plan.record.name.clone(),
            settings: plan.record.settings.clone(),
            endpoints: plan.record.endpoints.clone(),
            redirect_uri: redirect.to_owned(),
            pkce_verifier: verifier,
            state: state.secret().clone(),
            authorization_url: url.to_string(),
        })
    }

    /// Hands the URL to `open` and waits (bounded) for the loopback listener's callback.
    fn wait_for_callback(
        &self,
        pending: &PendingAuthorization,
        receiver: &mut mpsc::Receiver<Callback>,
        open: &mut dyn FnMut(&str) -> Result<(), String>,
        timeout: Duration,
    ) -> Result<Callback, ConnectError> {
        open(&pending.authorization_url).map_err(ConnectError::Browser)?;
        let cancel = self.cancellation().clone();
        self.handle().block_on(async {
            tokio::select! {
                params = receiver.recv() => params.ok_or(ConnectError::Cancelled),
                () = tokio::time::sleep(timeout) => Err(ConnectError::Timeout(timeout)),
                () = cancel.cancelled() => Err(ConnectError::Cancelled),
            }
        })
    }
}

/// An install's settings, resolved and checked.
enum Resolved {
    /// Needs the authorization-code flow.
    OAuth(Box<OAuthPlan>),
    /// Any other scheme: storable as it is, once its check passed.
    Other {
        record: ConnectionRecord,
        prepared: Box<PreparedConnection>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(!same(b"", b"abc"));
    }

    #[test]
    fn a_pending_authorization_serializes_without_its_state_or_url() {
        let pending = PendingAuthorization {
            connector_id: "constant-contact".into(),
            name: "t/cc".into(),
            settings: Map::new(),
            endpoints: None,
            redirect_uri: "https://svc.example/connector/callback".into(),
            pkce_verifier: Some("verifier-stays-server-side".into()),
            state: "the-one-time-state".into(),
            authorization_url: "https://idp.example/authorize?state=the-one-time-state".into(),
        };
        let stored = serde_json::to_string(&pending).expect("serializes");
        assert!(!stored.contains("the-one-time-state"), "{stored}");
        let back: PendingAuthorization = serde_json::from_str(&stored).expect("deserializes");
        assert_eq!(back.pkce_verifier, pending.pkce_verifier);
        assert_eq!(back.redirect_uri, pending.redirect_uri);
        assert!(back.state.is_empty() && back.authorization_url.is_empty());
        let shown = format!("{pending:?}");
        assert!(
            !shown.contains("verifier-stays") && !shown.contains("the-one-time"),
            "{shown}"
        );
    }

    #[test]
    fn only_loopback_redirects_are_served() {
        assert!(loopback("http://127.0.0.1:0/callback").is_ok());
        assert!(loopback("http://localhost:8080/cb").is_ok());
        for bad in [
            "https://127.0.0.1/cb",
            "http://example.com/cb",
            "http://10.0.0.1/cb",
            "nope",
        ] {
            assert!(
                matches!(loopback(bad), Err(ConnectError::RedirectUri { .. })),
                "{bad}"
            );
        }
    }
}
