//! `http.request`: one call to any endpoint.

use std::collections::BTreeMap;

use plugboard_core::{Context, HttpMethod, HttpRequest, RequestBody, Result, input, method};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ERRORS, QueryValue, body_value, header_map, with_query_and_headers};
use crate::settings::Settings;

fn get() -> HttpMethod {
    HttpMethod::Get
}

/// Input of `http.request`.
#[input]
#[derive(Clone)]
pub struct RequestInput {
    /// The HTTP verb (default `GET`).
    #[serde(default = "get")]
    pub method: HttpMethod,
    /// The path relative to the connection's base URL, starting with `/` (it may carry a query
    /// string), or an absolute URL inside the base URL.
    pub path: String,
    /// Query parameters; a list repeats the parameter, `null` leaves it out.
    #[serde(default)]
    pub query: BTreeMap<String, QueryValue>,
    /// Extra headers. Never `Authorization` or the API key's header: the host sets credentials.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body, sent as `application/json`.
    pub body: Option<Value>,
    /// Non-2xx statuses to return as output instead of failing (e.g. `[404]` to test for
    /// existence).
    #[serde(default)]
    pub accept_statuses: Vec<u16>,
    /// Whether the host may retry the request after a failure that may have reached the server;
    /// by default, as the verb says (`GET`, `PUT`, `DELETE` yes; `POST`, `PATCH` no).
    pub idempotent: Option<bool>,
}

/// What `http.request` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RequestOutput {
    /// The HTTP status.
    pub status: u16,
    /// Response headers, names in lower case; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The body: JSON when it parses as JSON, else text; `null` when empty.
    pub body: Value,
}

/// Sends one request (method, path, query, headers, JSON body) and returns the status, headers
/// and body; a non-2xx status fails unless `accept_statuses` lists it.
///
/// Whether a call repeats safely depends on the request, so the method is not idempotent; the
/// input's verb decides what the host may retry.
#[method(id = "http.request", name = "Send Request", category = "HTTP")]
pub fn request(cx: &mut Context<'_>, input: RequestInput) -> Result<RequestOutput> {
    let settings = Settings::of(cx)?;
    let mut request = with_query_and_headers(
        HttpRequest::new(input.method, input.path),
        &input.query,
        &input.headers,
        &settings,
    )?;
    if let Some(body) = input.body {
        request.body = Some(RequestBody::Json(body));
    }
    if let Some(idempotent) = input.idempotent {
        request = request.idempotent(idempotent);
    }
    let response = cx.send(request)?;
    if !response.is_success() && !input.accept_statuses.contains(&response.status) {
        return Err(ERRORS.error(&response));
    }
    Ok(RequestOutput {
        status: response.status,
        headers: header_map(&response),
        body: body_value(&response),
    })
}
