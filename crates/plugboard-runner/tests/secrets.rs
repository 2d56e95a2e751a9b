//! No token or client secret in any error, `Debug` output or log line, at any log level.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{CLIENT_ID, CLIENT_SECRET, Fake, get, now_secs, post, quick_config, wait};
use plugboard_runner::{ConnectOptions, ConnectionStore, SqliteStore, TokenStore};
use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything secret in these tests contains one of these markers.
const MARKERS: [&str; 2] = ["SECRET", "XYZZY"];

#[test]
fn secrets_never_appear_in_errors_debug_output_or_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    assert!(CLIENT_SECRET.contains("XYZZY"));

    let fake = Fake::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = Arc::new(fake.seed(&path, "main", Some(now_secs() - 10)));
    let session = fake.session(store.clone(), quick_config());
    let mut texts = Vec::new();

    // Refresh on expiry, then a 401 with a refresh, then an invalid grant.
    texts.push(format!("{:?}", get(&session, "main", "/a")));
    fake.state.valid_access.lock().unwrap().clear();
    texts.push(format!("{:?}", get(&session, "main", "/b")));
    fake.state.valid_access.lock().unwrap().clear();
    fake.state.valid_refresh.lock().unwrap().clear();
    let error = get(&session, "main", "/c").unwrap_err();
    texts.push(error.to_string());
    texts.push(format!("{error:?}"));
    // Retries, a denied request, and a transport failure.
    fake.state.valid_access.lock().unwrap().push("x".into());
    fake.state.script(
        "/v1/d",
        vec![(503, json!({}), None), (429, json!({}), Some("0"))],
    );
    texts.push(format!("{:?}", post(&session, "main", "/d")));
    texts.push(format!("{:?}", get(&session, "main", "//evil.example/")));

    // The authorization-code flow, with the credentials given at connection level.
    plugboard_runner::executor::install_crypto_provider();
    wait(store.set_partner_settings("fake", json!({}).as_object().unwrap())).unwrap();
    let options = ConnectOptions {
        connector_id: "fake".to_owned(),
        name: "second".to_owned(),
        settings: json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                         "redirect_uri": "http://127.0.0.1:0/cb"})
        .as_object()
        .cloned()
        .unwrap(),
        endpoints: Some(fake.endpoints()),
        timeout: Duration::from_secs(10),
    };
    texts.push(format!("{options:?}"));
    let record = session
        .connect(options, &mut |url| {
            let url = url.to_owned();
            fake.runtime.block_on(async move {
                reqwest::get(&url)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        })
        .unwrap();
    texts.push(format!("{record:?}"));
    texts.push(format!("{:?}", get(&session, "second", "/e")));
    let prepared = session.prepare("second").unwrap();
    texts.push(format!("{:?} {session:?}", prepared.context));
    texts.push(format!("{:?}", wait(store.tokens("second")).unwrap()));
    texts.push(format!(
        "{:?}",
        wait(SqliteStore::open(&path).unwrap().connections())
    ));

    // A token endpoint that is down.
    let mut broken = fake.endpoints();
    broken.token_url = Some("http://127.0.0.1:9/oauth/token".to_owned());
    let mut record = wait(store.connection("main")).unwrap().unwrap();
    record.endpoints = Some(broken);
    wait(store.put_connection(&record)).unwrap();
    let partner = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET});
    wait(store.set_partner_settings("fake", partner.as_object().unwrap())).unwrap();
    let mut tokens = wait(store.tokens("main")).unwrap().unwrap().tokens;
    tokens.expires_at = Some(0);
    wait(store.put_tokens("main", &tokens)).unwrap();
    texts.push(format!("{:?}", get(&session, "main", "/f")));

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("tokens refreshed"),
        "the logs were captured: {logs}"
    );
    for text in texts.iter().chain(std::iter::once(&logs)) {
        for marker in MARKERS {
            assert!(!text.contains(marker), "`{marker}` leaked into: {text}");
        }
    }
}
