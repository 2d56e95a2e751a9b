//! `multipart/form-data` bodies through the runner: each part (a field, a text file, a binary
//! file) reaches the server with its name, file name, content type and bytes, and a retried
//! request sends the same form again.

mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::{Fake, quick_config, wait};
use plugboard_runner::{ConnectionRecord, ConnectionStore as _, Endpoints, SqliteStore};
use serde_json::json;

/// What the server received: the content type and the body of each request.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A server whose `/upload` keeps each request and answers 503 to the first, then 201.
fn start_server(fake: &Fake) -> (String, Received) {
    let received: Received = Arc::default();
    let kept = Arc::clone(&received);
    let router = Router::new().route(
        "/upload",
        post(move |headers: HeaderMap, body: Bytes| {
            let kept = Arc::clone(&kept);
            async move {
                let content_type = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let mut all = kept.lock().expect("not poisoned");
                all.push((content_type, body.to_vec()));
                if all.len() == 1 {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::CREATED
                }
            }
        }),
    );
    let listener = fake
        .runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    fake.runtime.spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (base, received)
}

/// The parts of a multipart body: (headers text, content) per part, split at the boundary.
fn parts(content_type: &str, body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("a boundary")
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let text = body.to_vec();
    let mut found = Vec::new();
    let mut rest = &text[..];
    while let Some(at) = find(rest, delimiter.as_bytes()) {
        rest = &rest[at + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let end = find(rest, delimiter.as_bytes()).expect("a closing boundary");
        let part = &rest[2..end - 2]; // after CRLF, before CRLF
        let split = find(part, b"\r\n\r\n").expect("part headers");
        let headers = String::from_utf8_lossy(&part[..split]).into_owned();
        found.push((headers, part[split + 4..].to_vec()));
    }
    found
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn a_multipart_form_reaches_the_server_part_by_part_and_again_on_a_retry() {
    let fake = Fake::start();
    let (base, received) = start_server(&fake);
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = fake.seed(&dir.path().join("state.db"), "upload", None);
    let record = ConnectionRecord {
        name: "upload".into(),
        connector_id: "fake".into(),
        settings: json!({"redirect_uri": "http://127.0.0.1:0/callback"})
            .as_object()
            .cloned()
            .expect("an object"),
        endpoints: Some(Endpoints {
            base_url: base,
            ..fake.endpoints()
        }),
    };
    wait(store.put_connection(&record)).expect("stored");
    let store: Arc<SqliteStore> = Arc::new(store);
    let session = fake.session(store, quick_config());

    let csv = "email,first_name\nada@example.com,Ada\n";
    let output = session
        .call(
            "upload",
            "http.upload",
            json!({"path": "/upload", "csv": csv}),
            &mut |_| Ok(()),
        )
        .expect("the upload succeeds after one retry");
    assert_eq!(output, json!({"status": 201}));

    let received = received.lock().expect("not poisoned").clone();
    assert_eq!(received.len(), 2, "a 503, then the same form again");
    assert_eq!(received[0].1.len(), received[1].1.len());
    let (content_type, body) = &received[1];
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    let parts = parts(content_type, body);
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert!(parts[0].0.contains(r#"name="list_ids""#), "{}", parts[0].0);
    assert_eq!(parts[0].1, b"a,b");
    assert!(
        parts[1]
            .0
            .contains(r#"name="file"; filename="contacts.csv""#)
            && parts[1]
                .0
                .to_ascii_lowercase()
                .contains("content-type: text/csv"),
        "{}",
        parts[1].0
    );
    assert_eq!(parts[1].1, csv.as_bytes());
    assert!(
        parts[2].0.contains(r#"filename="raw.bin""#),
        "{}",
        parts[2].0
    );
    assert_eq!(parts[2].1, [0, 1, 2, 255]);
}
