//! The http connector through the real runner against a local axum server: the request method,
//! each pagination style, errors that keep the body, and credentials it never sees.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing;
use plugboard_core::{Connector as _, ConnectorError, DefinedConnector};
use plugboard_runner::{
    ConnectionRecord, ConnectionStore, ConnectorSource, ExecutorConfig, Registry, Session,
    SqliteStore,
};
use serde_json::{Value, json};

type Params = Query<HashMap<String, String>>;

fn page_of(page: u64) -> Vec<Value> {
    vec![json!({"id": page * 10 + 1}), json!({"id": page * 10 + 2})]
}

async fn echo(method: Method, headers: HeaderMap, Query(query): Params, body: String) -> Response {
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    (
        [("x-echo", "1")],
        axum::Json(
            json!({"method": method.as_str(), "query": query, "headers": headers, "body": body}),
        ),
    )
        .into_response()
}

async fn status(Path(code): Path<u16>) -> Response {
    (
        StatusCode::from_u16(code).unwrap(),
        [(header::CONTENT_TYPE, "text/plain")],
        format!("status {code} says no"),
    )
        .into_response()
}

/// Three pages, linked with absolute, then base-relative `Link` targets.
async fn linked(headers: HeaderMap, Query(query): Params) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let page: u64 = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let link = match page {
        1 => Some(format!(
            r#"<http://{host}/api/linked?page=2>; rel="next", <http://{host}/api/linked?page=3>; rel="last""#
        )),
        2 => Some(r#"</api/linked?page=3>; rel="next""#.to_owned()),
        _ => None,
    };
    let mut response = axum::Json(page_of(page)).into_response();
    if let Some(link) = link {
        response
            .headers_mut()
            .insert(header::LINK, link.parse().unwrap());
    }
    response
}

/// Pages chained by `meta.next_cursor`.
async fn cursored(Query(query): Params) -> axum::Json<Value> {
    let (page, next) = match query.get("cursor").map(String::as_str) {
        None => (1, json!("c2")),
        Some("c2") => (2, json!("c3")),
        _ => (3, Value::Null),
    };
    axum::Json(
        json!({"data": page_of(page), "meta": {"next_cursor": next}, "filter": query.get("filter")}),
    )
}

/// Numbered pages of `per_page` items out of five.
async fn numbered(Query(query): Params) -> axum::Json<Value> {
    let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let per_page: usize = query
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(2);
    let items: Vec<Value> = (1..=5)
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|i| json!({"n": i}))
        .collect();
    axum::Json(json!({"result": {"items": items}}))
}

/// A `Link` that leaves the base URL.
async fn escaping() -> Response {
    let mut response = axum::Json(json!([1])).into_response();
    response.headers_mut().insert(
        header::LINK,
        r#"</elsewhere?page=2>; rel="next""#.parse().unwrap(),
    );
    response
}

/// A cursor that never changes.
async fn looping() -> axum::Json<Value> {
    axum::Json(json!({"data": [1], "next": "same"}))
}

struct Fixture {
    session: Session,
    _dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

fn fixture(settings: Value) -> Fixture {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let router = Router::new()
        .route("/api/echo", routing::any(echo))
        .route("/api/status/{code}", routing::any(status))
        .route("/api/linked", routing::get(linked))
        .route("/api/cursored", routing::get(cursored))
        .route("/api/numbered", routing::get(numbered))
        .route("/api/escaping", routing::get(escaping))
        .route("/api/looping", routing::get(looping))
        .route(
            "/elsewhere",
            routing::get(|| async { axum::Json(json!([2])) }),
        );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}/api", listener.local_addr().unwrap());
    runtime.spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("state.db")).unwrap());
    let mut settings = settings.as_object().cloned().unwrap();
    settings.insert("base_url".into(), json!(base));
    let record = ConnectionRecord {
        name: "api".into(),
        connector_id: "http".into(),
        settings,
        endpoints: None,
    };
    runtime.block_on(store.put_connection(&record)).unwrap();
    let mut registry = Registry::new();
    registry
        .add(
            Arc::new(DefinedConnector::new::<http_api::HttpApi>()),
            ConnectorSource::BuiltIn,
        )
        .unwrap();
    let session = Session::new(
        registry,
        store,
        ExecutorConfig::default(),
        runtime.handle().clone(),
    )
    .unwrap();
    Fixture {
        session,
        _dir: dir,
        _runtime: runtime,
    }
}

fn call(
    fixture: &Fixture,
    method: &str,
    input: Value,
) -> (Result<Value, ConnectorError>, Vec<Value>) {
    let mut records = Vec::new();
    let result = fixture.session.call("api", method, input, &mut |record| {
        records.push(record);
        Ok(())
    });
    let connector = DefinedConnector::new::<http_api::HttpApi>();
    let descriptor = connector
        .manifest()
        .method(method)
        .expect("a declared method");
    plugboard_testkit::assert_conforms(descriptor, result.as_ref().ok(), &records);
    (result, records)
}

#[test]
fn a_request_sends_method_query_headers_and_body_and_returns_the_response() {
    let fixture = fixture(json!({"auth_type": "bearer", "api_key": "tok-SECRET"}));
    let (output, _) = call(
        &fixture,
        "http.request",
        json!({
            "method": "POST", "path": "/echo",
            "query": {"q": "a b", "n": 2, "tags": ["x", "y"], "skip": null},
            "headers": {"X-Trace": "t-1"},
            "body": {"name": "Ann"}
        }),
    );
    let output = output.unwrap();
    assert_eq!(output["status"], 200);
    assert_eq!(output["headers"]["x-echo"], "1");
    let echoed = &output["body"];
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["query"]["q"], "a b");
    assert_eq!(echoed["query"]["n"], "2");
    assert_eq!(echoed["headers"]["x-trace"], "t-1");
    assert_eq!(echoed["headers"]["authorization"], "Bearer tok-SECRET");
    assert_eq!(echoed["headers"]["content-type"], "application/json");
    assert_eq!(echoed["body"], json!({"name": "Ann"}));

    let (refused, _) = call(
        &fixture,
        "http.request",
        json!({"path": "/echo", "headers": {"authorization": "Bearer mine"}}),
    );
    assert!(
        matches!(refused, Err(ConnectorError::InvalidInput { .. })),
        "{refused:?}"
    );
}

#[test]
fn a_non_2xx_status_fails_with_its_body_unless_accepted() {
    let fixture = fixture(json!({}));
    let (failed, _) = call(&fixture, "http.request", json!({"path": "/status/404"}));
    match failed {
        Err(ConnectorError::Api { status, errors }) => {
            assert_eq!(status, 404);
            assert_eq!(errors[0].message, "status 404 says no");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    let (accepted, _) = call(
        &fixture,
        "http.request",
        json!({"path": "/status/404", "accept_statuses": [404]}),
    );
    let accepted = accepted.unwrap();
    assert_eq!(accepted["status"], 404);
    assert_eq!(accepted["body"], "status 404 says no");
    let (unauthorized, _) = call(&fixture, "http.request", json!({"path": "/status/401"}));
    assert!(
        matches!(&unauthorized, Err(ConnectorError::Unauthorized { message }) if message.contains("says no")),
        "{unauthorized:?}"
    );
}

#[test]
fn link_header_pagination_follows_absolute_and_relative_next_links() {
    let fixture = fixture(json!({}));
    let (summary, records) = call(
        &fixture,
        "http.list",
        json!({"path": "/linked", "pagination": {"style": "link_header"}}),
    );
    assert_eq!(
        summary.unwrap(),
        json!({"count": 6, "pages": 3, "truncated": false})
    );
    let ids: Vec<i64> = records.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [11, 12, 21, 22, 31, 32]);
}

#[test]
fn cursor_pagination_keeps_the_query_and_stops_on_a_null_cursor() {
    let fixture = fixture(json!({}));
    let (summary, records) = call(
        &fixture,
        "http.list",
        json!({
            "path": "/cursored", "query": {"filter": "all"}, "items_field": "data",
            "pagination": {"style": "cursor", "cursor_field": "meta.next_cursor", "cursor_param": "cursor"}
        }),
    );
    assert_eq!(summary.unwrap()["count"], 6);
    assert_eq!(records.len(), 6);
    assert_eq!(records[5]["id"], 32);
}

#[test]
fn page_number_pagination_stops_on_a_short_page() {
    let fixture = fixture(json!({}));
    let (summary, records) = call(
        &fixture,
        "http.list",
        json!({
            "path": "/numbered", "items_field": "result.items",
            "pagination": {"style": "page_number", "page_param": "page",
                           "page_size_param": "per_page", "page_size": 2}
        }),
    );
    assert_eq!(
        summary.unwrap(),
        json!({"count": 5, "pages": 3, "truncated": false})
    );
    let numbers: Vec<i64> = records.iter().map(|r| r["n"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);

    let (bounded, records) = call(
        &fixture,
        "http.list",
        json!({
            "path": "/numbered", "items_field": "/result/items", "max_pages": 1,
            "pagination": {"style": "page_number", "page_param": "page"}
        }),
    );
    assert_eq!(
        bounded.unwrap(),
        json!({"count": 2, "pages": 1, "truncated": true})
    );
    assert_eq!(records.len(), 2);
}

#[test]
fn a_next_link_outside_the_base_url_is_denied_and_a_repeating_cursor_stops() {
    let fixture = fixture(json!({}));
    let (escaped, records) = call(
        &fixture,
        "http.list",
        json!({"path": "/escaping", "pagination": {"style": "link_header"}}),
    );
    assert!(
        matches!(escaped, Err(ConnectorError::Denied { .. })),
        "{escaped:?}"
    );
    assert_eq!(
        records,
        [json!(1)],
        "the page inside the base URL was streamed"
    );

    let (looped, _) = call(
        &fixture,
        "http.list",
        json!({"path": "/looping", "items_field": "data",
               "pagination": {"style": "cursor", "cursor_field": "next", "cursor_param": "c"}}),
    );
    assert!(
        matches!(looped, Err(ConnectorError::UnexpectedResponse { .. })),
        "{looped:?}"
    );
}

#[test]
fn an_api_key_in_the_query_is_added_by_the_host_not_the_connector() {
    let fixture = fixture(
        json!({"auth_type": "api_key_query", "api_key_name": "key", "api_key": "k-SECRET"}),
    );
    let (output, _) = call(
        &fixture,
        "http.request",
        json!({"path": "/echo", "query": {"a": "1"}}),
    );
    let query = &output.unwrap()["body"]["query"];
    assert_eq!(query, &json!({"a": "1", "key": "k-SECRET"}));
    let (refused, _) = call(
        &fixture,
        "http.request",
        json!({"path": "/echo", "query": {"key": "mine"}}),
    );
    assert!(
        matches!(refused, Err(ConnectorError::InvalidInput { .. })),
        "{refused:?}"
    );
}
