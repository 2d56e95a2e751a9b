//! `Host::send_streamed` through the runner: a download's body reaches the connector as it
//! arrives (records flow before the server has finished sending), and a cancelled run stops
//! reading at once instead of waiting for the rest.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Fake, quick_config, wait};
use plugboard_core::ConnectorError;
use plugboard_runner::{ConnectionRecord, ConnectionStore as _, Endpoints, SqliteStore};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// How long the server holds the rest of the body back at most, waiting for the test's signal.
const HOLD_BACK: Duration = Duration::from_secs(5);

/// A server that answers one request with a chunked body: `first` at once, then, once `go` is
/// set (or after [`HOLD_BACK`]), `rest`. Says whether it had to give up waiting.
struct ChunkedServer {
    base: String,
    go: Arc<AtomicBool>,
    gave_up: Arc<AtomicBool>,
}

impl ChunkedServer {
    fn start(fake: &Fake, first: &'static str, rest: &'static str) -> Self {
        let listener = fake
            .runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let go = Arc::new(AtomicBool::new(false));
        let gave_up = Arc::new(AtomicBool::new(false));
        let (go_seen, gave_up_set) = (Arc::clone(&go), Arc::clone(&gave_up));
        fake.runtime.spawn(async move {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let chunk = |text: &str| format!("{:x}\r\n{text}\r\n", text.len());
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\
                        transfer-encoding: chunked\r\n\r\n";
            let _ = socket
                .write_all(format!("{head}{}", chunk(first)).as_bytes())
                .await;
            let started = Instant::now();
            while !go_seen.load(Ordering::SeqCst) {
                if started.elapsed() > HOLD_BACK {
                    gave_up_set.store(true, Ordering::SeqCst);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let _ = socket
                .write_all(format!("{}0\r\n\r\n", chunk(rest)).as_bytes())
                .await;
        });
        Self { base, go, gave_up }
    }
}

/// A session with connection `lines` whose API is `server`.
fn session_for(
    fake: &Fake,
    server: &ChunkedServer,
) -> (tempfile::TempDir, plugboard_runner::Session) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = fake.seed(&dir.path().join("state.db"), "lines", None);
    let record = ConnectionRecord {
        name: "lines".into(),
        connector_id: "fake".into(),
        settings: json!({"redirect_uri": "http://127.0.0.1:0/callback"})
            .as_object()
            .cloned()
            .expect("an object"),
        endpoints: Some(Endpoints {
            base_url: server.base.clone(),
            ..fake.endpoints()
        }),
    };
    wait(store.put_connection(&record)).expect("stored");
    let store: Arc<SqliteStore> = Arc::new(store);
    let session = fake.session(store, quick_config());
    (dir, session)
}

#[test]
fn records_flow_while_the_body_is_still_arriving() {
    let fake = Fake::start();
    let server = ChunkedServer::start(&fake, "first\n", "second\nthird\n");
    let (_dir, session) = session_for(&fake, &server);
    let mut records = Vec::new();
    let output = session
        .call(
            "lines",
            "http.lines",
            json!({"path": "/export.txt"}),
            &mut |record| {
                // The first line arrived with the rest held back: let the server finish.
                server.go.store(true, Ordering::SeqCst);
                records.push(record);
                Ok(())
            },
        )
        .expect("the call succeeds");
    assert_eq!(records, [json!("first"), json!("second"), json!("third")]);
    assert_eq!(output, json!({"status": 200, "lines": 3}));
    assert!(
        !server.gave_up.load(Ordering::SeqCst),
        "the first record reached the caller before the body was complete"
    );
}

#[test]
fn a_cancelled_run_stops_reading_a_body_at_once() {
    let fake = Fake::start();
    let server = ChunkedServer::start(&fake, "first\n", "never read\n");
    let (_dir, session) = session_for(&fake, &server);
    let started = Instant::now();
    let outcome = session.call(
        "lines",
        "http.lines",
        json!({"path": "/export.txt"}),
        &mut |_| {
            // Cancelled while the server holds the rest back.
            session.cancellation().cancel();
            Ok(())
        },
    );
    assert_eq!(outcome, Err(ConnectorError::Cancelled));
    assert!(
        started.elapsed() < HOLD_BACK / 2,
        "stopped without waiting for the body: {:?}",
        started.elapsed()
    );
}
