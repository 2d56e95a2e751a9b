//! The OAuth2 server (Constant Contact's `/oauth2/default/v1/authorize` and `/token`): an
//! auto-consenting authorization endpoint with PKCE S256, and a token endpoint for the
//! `authorization_code` and `refresh_token` grants with HTTP Basic (or body) client
//! authentication, single-use short-lived codes, rotating single-use refresh tokens and a
//! one-request-per-second limit per client.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::limits::SlidingWindow;
use crate::state::{AppState, Shared, lock};
use crate::stats::bump;
use crate::util::{percent_encode, random_token};

/// The scopes Constant Contact defines.
const KNOWN_SCOPES: &[&str] = &[
    "account_read",
    "account_update",
    "contact_data",
    "campaign_data",
    "offline_access",
    "billing_data",
    "openid",
    "profile",
];

/// The scope of tokens minted without the browser step.
pub const DEFAULT_SCOPE: &str =
    "account_read account_update contact_data campaign_data offline_access";

/// An access/refresh token pair, as the token endpoint returns it.
#[derive(Clone, Serialize)]
pub struct TokenGrant {
    /// The bearer token for API calls.
    pub access_token: String,
    /// The single-use refresh token (present when `offline_access` was granted).
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The granted scopes, space-separated.
    pub scope: String,
}

impl fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenGrant")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

#[derive(Debug)]
struct AccessToken {
    client_id: String,
    scope: String,
    expires_at: Instant,
}

#[derive(Debug)]
struct RefreshToken {
    client_id: String,
    grant: u64,
    scope: String,
    public: bool,
}

#[derive(Debug)]
struct AuthCode {
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
    scope: String,
    expires_at: Instant,
}

/// Every live code and token. Values are secrets: this type's Debug shows counts only.
#[derive(Default)]
pub(crate) struct TokenStore {
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    grants: HashMap<u64, String>,
    codes: HashMap<String, AuthCode>,
    next_grant: u64,
}

impl fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenStore")
            .field("access", &self.access.len())
            .field("refresh", &self.refresh.len())
            .field("codes", &self.codes.len())
            .finish()
    }
}

impl TokenStore {
    /// The client and the granted scopes of a known, unexpired access token.
    pub fn grant_of(&self, access_token: &str, now: Instant) -> Option<(&str, &str)> {
        self.access
            .get(access_token)
            .filter(|t| t.expires_at > now)
            .map(|t| (t.client_id.as_str(), t.scope.as_str()))
    }

    /// Forgets every access token: each one now gets 401 (refresh tokens stay valid).
    pub fn expire_all(&mut self) {
        self.access.clear();
    }

    /// Issues a new pair for `grant` (a new grant when `None`); the grant's previous refresh
    /// token, if any, stops working.
    fn issue(
        &mut self,
        client_id: &str,
        grant: Option<u64>,
        scope: &str,
        public: bool,
        ttl: Duration,
    ) -> TokenGrant {
        let grant = grant.unwrap_or_else(|| {
            self.next_grant += 1;
            self.next_grant
        });
        let access_token = random_token(48);
        self.access.insert(
            access_token.clone(),
            AccessToken {
                client_id: client_id.to_owned(),
                scope: scope.to_owned(),
                expires_at: Instant::now() + ttl,
            },
        );
        if let Some(previous) = self.grants.remove(&grant) {
            self.refresh.remove(&previous);
        }
        let refresh_token = scope.split(' ').any(|s| s == "offline_access").then(|| {
            let token = random_token(32);
            self.refresh.insert(
                token.clone(),
                RefreshToken {
                    client_id: client_id.to_owned(),
                    grant,
                    scope: scope.to_owned(),
                    public,
                },
            );
            self.grants.insert(grant, token.clone());
            token
        });
        TokenGrant {
            access_token,
            refresh_token,
            expires_in: ttl.as_secs(),
            scope: scope.to_owned(),
        }
    }
}

/// Issues a token pair for the registered client without the browser step.
pub(crate) fn mint(shared: &Shared) -> TokenGrant {
    lock(&shared.tokens).issue(
        &shared.config.client.client_id,
        None,
        DEFAULT_SCOPE,
        false,
        shared.config.access_token_ttl,
    )
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri is not a valid URI",
        ),
    }
}

/// Appends query parameters to a redirect URI.
fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut out = uri.to_owned();
    let mut separator = if uri.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        out.push(separator);
        out.push_str(name);
        out.push('=');
        out.push_str(&percent_encode(value));
        separator = '&';
    }
    out
}

/// Loopback `http://127.0.0.1:<port>/…` and `http://localhost:<port>/…` are always accepted
/// (RFC 8252 native-app redirects), plus the configured ones.
fn redirect_allowed(shared: &Shared, uri: &str) -> bool {
    if shared.config.redirect_uris.iter().any(|u| u == uri) {
        return true;
    }
    let Some(rest) = uri.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host,
        Some(_) => return false,
        None => authority,
    };
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// `GET /oauth2/default/v1/authorize`: validates the request and, consenting for the sandbox's
/// test user, redirects to `redirect_uri` with `code` and `state`.
pub(crate) async fn authorize(
    State(shared): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let get = |name: &str| params.get(name).map(String::as_str);
    if get("client_id") != Some(shared.config.client.client_id.as_str()) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "unknown client_id",
        );
    }
    let Some(redirect_uri) = get("redirect_uri").filter(|u| redirect_allowed(&shared, u)) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri is missing or not registered for this client",
        );
    };
    let state = get("state");
    let fail = |error: &str, description: &str| {
        let mut query = vec![("error", error), ("error_description", description)];
        if let Some(state) = state {
            query.push(("state", state));
        }
        redirect(&with_query(redirect_uri, &query))
    };
    if get("response_type") != Some("code") {
        return fail("unsupported_response_type", "response_type must be code");
    }
    let challenge = get("code_challenge");
    match (challenge, get("code_challenge_method")) {
        (None, None) => {}
        (Some(c), Some("S256")) if c.len() >= 43 && c.len() <= 128 => {}
        (Some(_), Some("S256")) => return fail("invalid_request", "invalid code_challenge"),
        _ => {
            return fail(
                "invalid_request",
                "code_challenge_method must be S256 and come with code_challenge",
            );
        }
    }
    let scope = get("scope")
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>();
    if scope.is_empty() {
        return fail("invalid_scope", "scope is required");
    }
    if let Some(unknown) = scope.iter().find(|s| !KNOWN_SCOPES.contains(s)) {
        return fail("invalid_scope", &format!("unknown scope {unknown}"));
    }
    let code = random_token(24);
    lock(&shared.tokens).codes.insert(
        code.clone(),
        AuthCode {
            client_id: shared.config.client.client_id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            challenge: challenge.map(str::to_owned),
            scope: scope.join(" "),
            expires_at: Instant::now() + shared.config.auth_code_ttl,
        },
    );
    let mut query = vec![("code", code.as_str())];
    if let Some(state) = state {
        query.push(("state", state));
    }
    redirect(&with_query(redirect_uri, &query))
}

/// Decodes `application/x-www-form-urlencoded` text.
fn parse_form(text: &str) -> HashMap<String, String> {
    fn decode(part: &str) -> String {
        let bytes = part.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                    match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        Some(byte) => {
                            out.push(byte);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                byte => out.push(byte),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// `(client_id, client_secret)` from HTTP Basic, else from the body.
fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Option<(String, Option<String>)> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(encoded) = value.strip_prefix("Basic ")
    {
        let decoded = STANDARD.decode(encoded.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':')?;
        return Some((id.to_owned(), Some(secret.to_owned())));
    }
    let id = form.get("client_id")?.clone();
    Some((id, form.get("client_secret").cloned()))
}

fn token_response(grant: &TokenGrant) -> Response {
    let mut body = json!({
        "access_token": grant.access_token,
        "token_type": "Bearer",
        "expires_in": grant.expires_in,
        "scope": grant.scope,
    });
    if let Some(refresh) = &grant.refresh_token {
        body["refresh_token"] = json!(refresh);
    }
    let mut response = (StatusCode::OK, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /oauth2/default/v1/token`: the `authorization_code` and `refresh_token` grants.
pub(crate) async fn token(
    State(shared): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut form = query;
    form.extend(parse_form(&String::from_utf8_lossy(&body)));
    let Some((client_id, secret)) = client_credentials(&headers, &form) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    };
    let client = &shared.config.client;
    if client_id != client.client_id || secret.as_ref().is_some_and(|s| *s != client.client_secret)
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    }
    if let Some(limit) = shared.config.token_endpoint_per_second {
        let admitted = lock(&shared.token_limiter)
            .entry(client_id.clone())
            .or_insert_with(|| SlidingWindow::new(limit))
            .try_acquire(Instant::now());
        if !admitted {
            bump(&shared.counters.token_throttled_429);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"error_key": "throttled", "error_message": "Too Many Requests"})),
            )
                .into_response();
        }
    }
    let confidential = secret.is_some();
    let ttl = shared.config.access_token_ttl;
    let invalid_grant = |description: &str| {
        bump(&shared.counters.invalid_grants);
        oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
    };
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(code) = form.get("code") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "code is required",
                );
            };
            let mut tokens = lock(&shared.tokens);
            // A code is consumed by the first attempt to use it, successful or not.
            let Some(issued) = tokens.codes.remove(code) else {
                drop(tokens);
                return invalid_grant("The authorization code is invalid or has expired.");
            };
            if issued.client_id != client_id || issued.expires_at <= Instant::now() {
                drop(tokens);
                return invalid_grant("The authorization code is invalid or has expired.");
            }
            if form.get("redirect_uri") != Some(&issued.redirect_uri) {
                drop(tokens);
                return invalid_grant(
                    "The 'redirect_uri' does not match the redirection URI used in the authorization request.",
                );
            }
            match (&issued.challenge, form.get("code_verifier")) {
                (Some(challenge), Some(verifier)) => {
                    let digest = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                    if digest != *challenge {
                        drop(tokens);
                        return invalid_grant("PKCE verification failed.");
                    }
                }
                (Some(_), None) => {
                    drop(tokens);
                    return invalid_grant("PKCE verification failed: code_verifier is required.");
                }
                (None, _) if !confidential => {
                    drop(tokens);
                    return oauth_error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        "client authentication failed",
                    );
                }
                (None, _) => {}
            }
            let public = issued.challenge.is_some() && !confidential;
            let grant = tokens.issue(&client_id, None, &issued.scope, public, ttl);
            drop(tokens);
            bump(&shared.counters.code_exchanges);
            token_response(&grant)
        }
        Some("refresh_token") => {
            let Some(presented) = form.get("refresh_token") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "refresh_token is required",
                );
            };
            let mut tokens = lock(&shared.tokens);
            let usable = tokens
                .refresh
                .get(presented)
                .is_some_and(|r| r.client_id == client_id && (confidential || r.public));
            let Some(old) = usable.then(|| tokens.refresh.remove(presented)).flatten() else {
                drop(tokens);
                return invalid_grant("The refresh token is invalid or expired.");
            };
            let grant = tokens.issue(&client_id, Some(old.grant), &old.scope, old.public, ttl);
            drop(tokens);
            bump(&shared.counters.refreshes);
            token_response(&grant)
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_plus_and_percent() {
        let form = parse_form("a=b+c&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcb&x=%zz&e=");
        assert_eq!(form["a"], "b c");
        assert_eq!(form["redirect_uri"], "http://127.0.0.1:1/cb");
        assert_eq!(form["x"], "%zz");
        assert_eq!(form["e"], "");
    }

    #[test]
    fn rotation_kills_the_previous_refresh_token() {
        let mut store = TokenStore::default();
        let first = store.issue(
            "c",
            None,
            "contact_data offline_access",
            false,
            Duration::from_secs(60),
        );
        let old = first
            .refresh_token
            .expect("offline_access yields a refresh token");
        let grant = store.refresh[&old].grant;
        let second = store.issue(
            "c",
            Some(grant),
            "contact_data offline_access",
            false,
            Duration::from_secs(60),
        );
        assert!(!store.refresh.contains_key(&old));
        assert!(
            store
                .refresh
                .contains_key(&second.refresh_token.expect("rotated"))
        );
        let no_offline = store.issue("c", None, "contact_data", false, Duration::from_secs(60));
        assert!(no_offline.refresh_token.is_none());
        assert_eq!(
            store.grant_of(&second.access_token, Instant::now()),
            Some(("c", "contact_data offline_access"))
        );
    }
}
