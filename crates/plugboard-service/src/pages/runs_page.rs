//! The runs page: a tenant's runs (status, steps with progress, outputs, errors), updated live
//! from each run's server-sent events, in a browser that holds no API key.
//!
//! How a browser is let in: the vendor's backend asks `POST /v1/tenants/{tenant}/page-links`
//! (tenant key) for a one-time link `{public_url}/pages/open/{token}` and hands it to its user.
//! `GET` shows a small page whose form (submitted by a script at once, or by a click without
//! scripts) `POST`s to the same address; that spends the link and answers `303` to
//! `/pages/runs` with a session cookie: random, stored hashed, `HttpOnly` (no script reads it),
//! `SameSite=Strict` (no other site's page can use it), `Path=/pages` (never sent to the API),
//! `Secure` when the public URL is `https`, bound to that tenant and that page, and ending after
//! [`SESSION_LIFETIME`]. Like connect links, a `GET` does not spend a link: link previewers
//! fetch URLs. The token leaves the address bar with the redirect.
//!
//! The page's data comes from `/pages/data/runs…`, the same views as the API's `/v1/…/runs`
//! routes, for the session's tenant only. Everything is put in the page as text
//! (`textContent`), never as HTML.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, REFERRER_POLICY, SET_COOKIE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{Page, invalid_link_page, message_page, render, store_failed, utc_time};
use crate::Service;
use crate::auth::{TenantScope, hash_key};
use crate::connections::random_token;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::install_store::now_ms;
use crate::openapi::{JsonBodyErrors, StoreFailed, TenantKeyErrors};
use crate::page_sessions::{MAX_OPEN_PAGE_LINKS, PageGrant};
use crate::runs::{RunView, event_stream, run_view, tenant_run};

const OPEN_HTML: &str = include_str!("open.html");
const OPEN_JS: &str = include_str!("open.js");
const RUNS_HTML: &str = include_str!("runs.html");
const RUNS_JS: &str = include_str!("runs.js");

/// Every page link token starts with this.
const LINK_PREFIX: &str = "pbp_";
/// Every session cookie value starts with this.
const SESSION_PREFIX: &str = "pbs_";
/// The session cookie's name.
const COOKIE_NAME: &str = "plugboard_page";

/// How long a browser session opened by a page link lasts: a working day, then a new link.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// The pages a link can open.
const PAGES: [&str; 1] = ["runs"];

/// The most runs the page lists, newest first.
const MAX_RUNS_SHOWN: usize = 50;

/// The runs page fetches its data and its event streams from this service, nothing else.
const RUNS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
                        connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The page-link API route and the page routes.
pub fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/pages/open/{token}", get(show_open).post(open))
        .route("/pages/runs", get(runs_page))
        .route("/pages/data/runs", get(list_runs))
        .route("/pages/data/runs/{run}", get(show_run))
        .route("/pages/data/runs/{run}/events", get(run_events))
        .route("/assets/open.js", get(|| script(OPEN_JS)))
        .route("/assets/runs.js", get(|| script(RUNS_JS)))
}

/// `POST /v1/tenants/{tenant}/page-links`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PageLinkRequest {
    /// The page to open: `runs`.
    pub page: String,
}

/// A page link, shown once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PageLinkView {
    /// `{public_url}/pages/open/{token}`: give it to the end user.
    pub url: String,
    /// When it stops working (seconds since the epoch).
    pub expires_at: i64,
}

fn lifetime_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[utoipa::path(post, path = "/tenants/{tenant}/page-links", tag = "links", security(("admin_key" = []), ("tenant_key" = [])),
    params(("tenant" = String, Path, description = "The tenant's id.")),
    request_body = PageLinkRequest,
    responses(
        (status = 201, description = "A link that opens a page session (`runs`), shown only now.", body = PageLinkView),
        TenantKeyErrors, JsonBodyErrors, StoreFailed,
        (status = 422, description = "No such page.", body = ErrorBody),
        (status = 429, description = "Too many unused page links.", body = ErrorBody),
    ))]
pub(super) async fn create_link(
    scope: TenantScope,
    State(service): State<Arc<Service>>,
    ApiJson(body): ApiJson<PageLinkRequest>,
) -> Result<(StatusCode, Json<PageLinkView>), ApiError> {
    if !PAGES.contains(&body.page.as_str()) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_page",
            format!(
                "no page `{}`; pages: {}",
                plugboard_workflow::excerpt::excerpt(&body.page),
                PAGES.join(", ")
            ),
        ));
    }
    let token = random_token(LINK_PREFIX)?;
    let expires_at_ms = now_ms().saturating_add(lifetime_ms(service.install_expiry));
    let stored = service
        .store
        .put_page_link(PageGrant {
            token_hash: hash_key(&token),
            tenant: scope.tenant,
            page: body.page,
            expires_at_ms,
        })
        .await?;
    if !stored {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_page_links",
            format!(
                "this tenant has {MAX_OPEN_PAGE_LINKS} unused page links; use some or wait \
                 until they expire"
            ),
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(PageLinkView {
            url: format!("{}/pages/open/{token}", service.public_url),
            expires_at: expires_at_ms.div_euclid(1000),
        }),
    ))
}

/// `GET /pages/open/{token}`: the page that opens the session; the link stays usable.
async fn show_open(State(service): State<Arc<Service>>, Path(token): Path<String>) -> Page {
    match service.store.page_link(hash_key(&token)).await {
        Ok(Some(link)) if link.expires_at_ms >= now_ms() => Page {
            status: StatusCode::OK,
            body: render(
                OPEN_HTML,
                &[("expires", &utc_time(link.expires_at_ms.div_euclid(1000)))],
            ),
            csp: super::PAGE_CSP,
        },
        Ok(_) => invalid_link_page("page"),
        Err(error) => store_failed(&error),
    }
}

/// `POST /pages/open/{token}`: spends the link, sets the session cookie, goes to the page.
async fn open(
    State(service): State<Arc<Service>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !super::same_origin(&headers, &service.public_url) {
        return super::cross_site().into_response();
    }
    let link = match service.store.take_page_link(hash_key(&token)).await {
        Ok(Some(link)) if link.expires_at_ms >= now_ms() => link,
        Ok(_) => return invalid_link_page("page").into_response(),
        Err(error) => return store_failed(&error).into_response(),
    };
    let session = match random_token(SESSION_PREFIX) {
        Ok(session) => session,
        Err(error) => return error.into_response(),
    };
    let grant = PageGrant {
        token_hash: hash_key(&session),
        tenant: link.tenant,
        page: link.page.clone(),
        expires_at_ms: now_ms().saturating_add(lifetime_ms(SESSION_LIFETIME)),
    };
    if let Err(error) = service.store.put_page_session(grant).await {
        return store_failed(&error).into_response();
    }
    let secure = if service.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE_NAME}={session}; Path=/pages; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        SESSION_LIFETIME.as_secs()
    );
    let Ok(cookie) = HeaderValue::from_str(&cookie) else {
        return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "bad cookie")
            .into_response();
    };
    let location = HeaderValue::from_static("/pages/runs");
    (
        StatusCode::SEE_OTHER,
        [
            (SET_COOKIE, cookie),
            (LOCATION, location),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        ],
    )
        .into_response()
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// Why a request has no usable session.
enum NoSession {
    /// No cookie, an unknown one, an expired one, or one for another page.
    Refused,
    /// The store failed.
    Store(crate::StoreError),
}

/// The tenant whose `page` the request's session cookie opens.
async fn session_tenant(
    service: &Service,
    headers: &HeaderMap,
    page: &str,
) -> Result<String, NoSession> {
    let value = cookie(headers, COOKIE_NAME).ok_or(NoSession::Refused)?;
    match service.store.page_session(hash_key(value)).await {
        Ok(Some(grant)) if grant.expires_at_ms >= now_ms() && grant.page == page => {
            Ok(grant.tenant)
        }
        Ok(_) => Err(NoSession::Refused),
        Err(error) => Err(NoSession::Store(error)),
    }
}

/// The tenant of a data request's session, or the API error to answer with.
async fn data_tenant(service: &Service, headers: &HeaderMap) -> Result<String, ApiError> {
    match session_tenant(service, headers, "runs").await {
        Ok(tenant) => Ok(tenant),
        Err(NoSession::Refused) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "no_page_session",
            "this page's session is missing or has ended; open a new page link",
        )),
        Err(NoSession::Store(error)) => Err(error.into()),
    }
}

/// `GET /pages/runs`.
async fn runs_page(State(service): State<Arc<Service>>, headers: HeaderMap) -> Page {
    match session_tenant(&service, &headers, "runs").await {
        Ok(tenant) => Page {
            status: StatusCode::OK,
            body: render(RUNS_HTML, &[("tenant", &tenant)]),
            csp: RUNS_CSP,
        },
        Err(NoSession::Refused) => message_page(
            StatusCode::UNAUTHORIZED,
            "This page needs a new link",
            "Your session for this page is missing or has ended. Ask for a new link.",
        ),
        Err(NoSession::Store(error)) => store_failed(&error),
    }
}

/// Data answers are the tenant's own and change: never cached.
fn no_store<T: IntoResponse>(body: T) -> Response {
    ([(CACHE_CONTROL, "no-store")], body).into_response()
}

/// `GET /pages/data/runs`: the newest runs in full.
async fn list_runs(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = data_tenant(&service, &headers).await?;
    let mut runs = service.workflows.runs(Some(tenant)).await?;
    runs.sort_by_key(|run| std::cmp::Reverse(run.id));
    runs.truncate(MAX_RUNS_SHOWN);
    let mut views: Vec<RunView> = Vec::with_capacity(runs.len());
    for run in &runs {
        views.push(run_view(&service, run).await?);
    }
    Ok(no_store(Json(views)))
}

/// `GET /pages/data/runs/{run}`.
async fn show_run(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = data_tenant(&service, &headers).await?;
    let run = tenant_run(&service, &tenant, &id).await?;
    Ok(no_store(Json(run_view(&service, &run).await?)))
}

/// `GET /pages/data/runs/{run}/events`: the run's server-sent events, as the API's.
async fn run_events(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = data_tenant(&service, &headers).await?;
    let run = tenant_run(&service, &tenant, &id).await?;
    Ok(event_stream(service, run.id, &headers).into_response())
}

async fn script(source: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        source,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            COOKIE,
            HeaderValue::from_static("a=1; plugboard_page=pbs_x ;b=2"),
        );
        assert_eq!(cookie(&headers, COOKIE_NAME), Some("pbs_x"));
        assert_eq!(cookie(&headers, "plugboard"), None);
        headers.clear();
        headers.append(COOKIE, HeaderValue::from_static("other=1"));
        headers.append(COOKIE, HeaderValue::from_static("plugboard_page=pbs_y"));
        assert_eq!(cookie(&headers, COOKIE_NAME), Some("pbs_y"));
    }

    #[test]
    fn the_runs_page_escapes_the_tenant() {
        let body = render(RUNS_HTML, &[("tenant", "<img src=x onerror=alert(1)>")]);
        assert!(body.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(!body.contains("<img"));
    }
}
