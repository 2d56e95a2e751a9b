//! The pages a tenant's end user sees: the connect page behind a one-time connect link, and the
//! short result pages of the OAuth callback. Plain HTML with a form, embedded with
//! `include_str!` (no front-end build); the one script only disables the button once clicked.
//!
//! Flow: the vendor's backend asks `POST /v1/tenants/{tenant}/connect-links` (tenant key) for a
//! link and hands `{public_url}/connect/{token}` to its user. `GET` shows the page and does not
//! use the link (link previewers fetch URLs); the button `POST`s to the same address, which
//! spends the link, starts the install and answers `303` to the provider's consent page. The
//! provider comes back to `/connector/callback`, which says "connected".
//!
//! Pages are `no-store`, send no referrer (the address holds the token) and refuse framing.
//!
//! The runs page and its page links and cookie sessions are in [`runs_page`].

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, ORIGIN, REFERRER_POLICY,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Map;

use crate::Service;
use crate::auth::{TenantScope, hash_key};
use crate::connections::{
    InstallRequest, Started, check_name, connector_display_name, random_token, start_install,
};
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::openapi::{JsonBodyErrors, StoreFailed, TenantKeyErrors};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::install_store::{ConnectLink, now_ms};

pub mod runs_page;

const CONNECT_HTML: &str = include_str!("pages/connect.html");
const CONNECT_JS: &str = include_str!("pages/connect.js");
const MESSAGE_HTML: &str = include_str!("pages/message.html");

/// What a page may load: its own scripts only, no frames, nothing fetched elsewhere.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
                        frame-ancestors 'none'; base-uri 'none'";

/// Every connect link token starts with this.
const LINK_PREFIX: &str = "pbc_";

/// The page routes and the API route that makes links.
pub fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/connect/{token}", get(show).post(start))
        .route("/assets/connect.js", get(script))
        .merge(runs_page::routes())
}

/// The API routes that make links to the pages (under `/v1`, so in the OpenAPI document).
pub fn api_routes() -> OpenApiRouter<Arc<Service>> {
    OpenApiRouter::new()
        .routes(routes!(create_link))
        .routes(routes!(runs_page::create_link))
}

/// An HTML page with the headers every page here carries.
pub struct Page {
    status: StatusCode,
    body: String,
    /// The Content-Security-Policy: [`PAGE_CSP`] unless the page fetches data from the service.
    csp: &'static str,
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        (
            self.status,
            [
                (CONTENT_TYPE, "text/html; charset=utf-8"),
                (CACHE_CONTROL, "no-store"),
                (REFERRER_POLICY, "no-referrer"),
                (X_FRAME_OPTIONS, "DENY"),
                (CONTENT_SECURITY_POLICY, self.csp),
            ],
            self.body,
        )
            .into_response()
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Fills `{{key}}` placeholders with escaped values.
fn render(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_owned(), |page, (key, value)| {
            page.replace(&format!("{{{{{key}}}}}"), &escape(value))
        })
}

/// A page with a title and one paragraph (both escaped).
pub fn message_page(status: StatusCode, title: &str, message: &str) -> Page {
    Page {
        status,
        body: render(MESSAGE_HTML, &[("title", title), ("message", message)]),
        csp: PAGE_CSP,
    }
}

/// `POST /v1/tenants/{tenant}/connect-links`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The connector to install.
    pub connector: String,
    /// The connection's name within the tenant.
    pub name: String,
}

/// A connect link, shown once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LinkView {
    /// `{public_url}/connect/{token}`: give it to the end user.
    pub url: String,
    /// When it stops working (seconds since the epoch).
    pub expires_at: i64,
}

#[utoipa::path(post, path = "/tenants/{tenant}/connect-links", tag = "links", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id.")),
    request_body = LinkRequest,
    responses(
        (status = 201, description = "A one-time link to the hosted connect page, shown only now.", body = LinkView),
        TenantKeyErrors, JsonBodyErrors, StoreFailed,
        (status = 422, description = "A bad name or an unknown connector.", body = ErrorBody),
        (status = 429, description = "Too many unfinished installs and links.", body = ErrorBody),
    ))]
async fn create_link(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
    ApiJson(body): ApiJson<LinkRequest>,
) -> Result<(StatusCode, Json<LinkView>), ApiError> {
    check_name(&body.name)?;
    if service.runner.registry().get(&body.connector).is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_connector",
            format!("no connector `{}` is loaded", body.connector),
        ));
    }
    crate::connections::check_open_installs(&service, &scope.tenant).await?;
    let token = random_token(LINK_PREFIX)?;
    let expires_at_ms = now_ms()
        .saturating_add(i64::try_from(service.install_expiry.as_millis()).unwrap_or(i64::MAX));
    service
        .store
        .put_connect_link(ConnectLink {
            token_hash: hash_key(&token),
            tenant: scope.tenant,
            name: body.name,
            connector: body.connector,
            expires_at_ms,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(LinkView {
            url: format!("{}/connect/{token}", service.public_url),
            expires_at: expires_at_ms.div_euclid(1000),
        }),
    ))
}

fn invalid_link() -> Page {
    invalid_link_page("connect")
}

/// The answer to an unknown, expired or spent one-time link of `kind` (`connect`, `page`).
pub(crate) fn invalid_link_page(kind: &str) -> Page {
    message_page(
        StatusCode::NOT_FOUND,
        "This link is not valid",
        &format!("This {kind} link is unknown, expired or already used. Ask for a new one."),
    )
}

pub(crate) fn store_failed(error: &crate::StoreError) -> Page {
    tracing::error!(%error, "service store failed");
    message_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The service could not read its records. Try again later.",
    )
}

/// `GET /connect/{token}`: the page; the link stays usable.
async fn show(State(service): State<Arc<Service>>, Path(token): Path<String>) -> Page {
    let link = match service.store.connect_link(hash_key(&token)).await {
        Ok(Some(link)) if link.expires_at_ms >= now_ms() => link,
        Ok(_) => return invalid_link(),
        Err(error) => return store_failed(&error),
    };
    let display = connector_display_name(&service, &link.connector);
    let expires = utc_time(link.expires_at_ms.div_euclid(1000));
    Page {
        status: StatusCode::OK,
        body: render(
            CONNECT_HTML,
            &[
                ("connector", &display),
                ("name", &link.name),
                ("expires", &expires),
            ],
        ),
        csp: PAGE_CSP,
    }
}

/// Whether a form `POST` comes from the service's own pages: one from another site must not
/// spend a link in the user's browser (an attacker's own link, posted from their page, would
/// otherwise connect the victim's account to the attacker's tenant). Browsers say where a
/// request comes from in `Sec-Fetch-Site`; older ones only in `Origin`, which is `null` from
/// our own pages (they send no referrer), so only another origin named there is refused. A
/// request with neither is no browser's cross-site post.
pub(crate) fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    if let Some(site) = headers.get(SEC_FETCH_SITE) {
        return site.as_bytes() == b"same-origin";
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let own = public_url
        .find("://")
        .and_then(|at| {
            let rest = &public_url[at + 3..];
            rest.find('/').map(|end| &public_url[..at + 3 + end])
        })
        .unwrap_or(public_url);
    origin
        .to_str()
        .is_ok_and(|origin| origin == own || origin == "null")
}

/// Set by browsers on every request: `same-origin`, `same-site`, `cross-site` or `none`.
const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// The answer to a form post from another site.
pub(crate) fn cross_site() -> Page {
    message_page(
        StatusCode::FORBIDDEN,
        "Open the link yourself",
        "This request came from another site. Open the link you were given directly.",
    )
}

/// `POST /connect/{token}`: spends the link and sends the browser to the provider.
async fn start(
    State(service): State<Arc<Service>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !same_origin(&headers, &service.public_url) {
        return cross_site().into_response();
    }
    let link = match service.store.take_connect_link(hash_key(&token)).await {
        Ok(Some(link)) if link.expires_at_ms >= now_ms() => link,
        Ok(_) => return invalid_link().into_response(),
        Err(error) => return store_failed(&error).into_response(),
    };
    let display = connector_display_name(&service, &link.connector);
    let request = InstallRequest {
        connector: link.connector.clone(),
        name: link.name.clone(),
        settings: Map::new(),
    };
    match start_install(&service, &link.tenant, request).await {
        Ok(Started::AuthorizationRequired {
            authorization_url, ..
        }) => match HeaderValue::from_str(&authorization_url) {
            Ok(location) => (
                StatusCode::SEE_OTHER,
                [
                    (LOCATION, location),
                    (CACHE_CONTROL, HeaderValue::from_static("no-store")),
                    (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
                ],
            )
                .into_response(),
            Err(_) => message_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Connection not started",
                "The provider's address is not usable; see the service log.",
            )
            .into_response(),
        },
        Ok(Started::Installed { .. }) => message_page(
            StatusCode::OK,
            &format!("{display} connected"),
            &format!(
                "The connection `{}` is ready. You can close this window.",
                link.name
            ),
        )
        .into_response(),
        Err(error) => {
            tracing::warn!(tenant = %link.tenant, connection = %link.name, %error, "a connect link's install failed");
            message_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Connection not started",
                &format!("{display} cannot be connected: {}", error.message),
            )
            .into_response()
        }
    }
}

async fn script() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        CONNECT_JS,
    )
}

/// `YYYY-MM-DD HH:MM` in UTC, for the page.
pub(crate) fn utc_time(epoch_secs: i64) -> String {
    chrono::DateTime::from_timestamp(epoch_secs, 0)
        .map(|at| at.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_in_pages() {
        let page = message_page(StatusCode::OK, "<b>", "a \"quoted\" & 'odd' <script>");
        assert!(page.body.contains("&lt;b&gt;"));
        assert!(
            page.body
                .contains("a &quot;quoted&quot; &amp; &#39;odd&#39; &lt;script&gt;")
        );
        assert!(!page.body.contains("<script>"));
    }

    #[test]
    fn only_the_services_own_origin_or_none_may_post() {
        let with = |origin: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(ORIGIN, HeaderValue::from_static(origin));
            headers
        };
        let public = "https://plugboard.example.com";
        assert!(same_origin(&HeaderMap::new(), public));
        assert!(same_origin(&with("https://plugboard.example.com"), public));
        assert!(same_origin(
            &with("https://plugboard.example.com"),
            "https://plugboard.example.com/base"
        ));
        assert!(!same_origin(&with("https://evil.example"), public));
        assert!(!same_origin(&with("http://plugboard.example.com"), public));
        // Our own pages send no referrer, so an older browser's Origin from them is `null`.
        assert!(same_origin(&with("null"), public));
        let site = |value: &'static str| {
            let mut headers = with("null");
            headers.insert(SEC_FETCH_SITE, HeaderValue::from_static(value));
            headers
        };
        assert!(same_origin(&site("same-origin"), public));
        assert!(!same_origin(&site("cross-site"), public));
        assert!(!same_origin(&site("same-site"), public));
    }

    #[test]
    fn utc_times_are_civil_dates() {
        assert_eq!(utc_time(0), "1970-01-01 00:00");
        assert_eq!(utc_time(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc_time(1_796_416_207), "2026-12-04 20:30");
    }
}
