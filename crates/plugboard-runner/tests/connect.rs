//! The authorization-code flow with a loopback callback, against a fake authorize + token server.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{CLIENT_ID, CLIENT_SECRET, Fake, get, quick_config, wait};
use plugboard_runner::{
    ConnectError, ConnectOptions, ConnectionStore, Session, SqliteStore, TokenStore,
};
use secrecy::ExposeSecret;
use serde_json::json;

fn setup(fake: &Fake) -> (tempfile::TempDir, Arc<SqliteStore>, Session) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("state.db")).unwrap());
    // The partner left the client credentials blank: the connection supplies them.
    wait(store.set_partner_settings("fake", json!({"client_id": ""}).as_object().unwrap()))
        .unwrap();
    let session = fake.session(store.clone(), quick_config());
    (dir, store, session)
}

fn options(fake: &Fake, timeout: Duration) -> ConnectOptions {
    ConnectOptions {
        connector_id: "fake".to_owned(),
        name: "main".to_owned(),
        settings: json!({
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "redirect_uri": "http://127.0.0.1:0/callback"
        })
        .as_object()
        .cloned()
        .unwrap(),
        endpoints: Some(fake.endpoints()),
        timeout,
    }
}

/// Plays the browser: follows the authorize URL and its redirect to the loopback callback.
fn browser(fake: &Fake) -> impl FnMut(&str) -> Result<(), String> + '_ {
    move |url: &str| {
        let url = url.to_owned();
        fake.runtime.block_on(async move {
            let response = reqwest::get(&url).await.map_err(|e| e.to_string())?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(format!("HTTP {}", response.status()))
            }
        })
    }
}

#[test]
fn the_loopback_flow_stores_the_connection_and_its_tokens() {
    plugboard_runner::executor::install_crypto_provider();
    let fake = Fake::start();
    let (_dir, store, session) = setup(&fake);
    let mut seen_url = String::new();
    let mut open = browser(&fake);
    let record = session
        .connect(options(&fake, Duration::from_secs(10)), &mut |url| {
            seen_url = url.to_owned();
            open(url)
        })
        .unwrap();
    assert_eq!(record.name, "main");
    assert!(
        seen_url.contains("code_challenge_method=S256"),
        "{seen_url}"
    );
    assert!(seen_url.contains("scope=read+offline_access"), "{seen_url}");
    assert!(!seen_url.contains(CLIENT_SECRET));
    assert_eq!(fake.state.pkce_failures.load(Ordering::SeqCst), 0);
    let tokens = wait(store.tokens("main")).unwrap().unwrap();
    assert_eq!(
        tokens.tokens.access_token.expose_secret(),
        "access-token-1-SECRET"
    );
    assert_eq!(tokens.version, 1);
    assert!(wait(store.connection("main")).unwrap().is_some());
    // The new connection works.
    assert_eq!(get(&session, "main", "/contacts").unwrap()["status"], 200);
}

#[test]
fn a_refused_authorization_says_so() {
    plugboard_runner::executor::install_crypto_provider();
    let fake = Fake::start();
    let (_dir, store, session) = setup(&fake);
    *fake.state.authorize_mode.lock().unwrap() = "deny".to_owned();
    let error = session
        .connect(options(&fake, Duration::from_secs(10)), &mut browser(&fake))
        .unwrap_err();
    assert!(
        matches!(&error, ConnectError::Denied { error, .. } if error == "access_denied"),
        "{error}"
    );
    assert!(wait(store.connection("main")).unwrap().is_none());
}

#[test]
fn a_forged_state_is_refused_and_the_flow_keeps_waiting() {
    plugboard_runner::executor::install_crypto_provider();
    let fake = Fake::start();
    let (_dir, _store, session) = setup(&fake);
    *fake.state.authorize_mode.lock().unwrap() = "bad-state".to_owned();
    // The forged callback is answered 400 and changes nothing: the flow goes on waiting for
    // the real one, which never comes here, until its timeout.
    let mut browse = browser(&fake);
    let error = session
        .connect(options(&fake, Duration::from_millis(500)), &mut |url| {
            let _refused = browse(url);
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(error, ConnectError::Timeout(_)), "{error}");
}

#[test]
fn nobody_coming_back_times_out_and_missing_settings_are_named() {
    let fake = Fake::start();
    let (_dir, _store, session) = setup(&fake);
    let error = session
        .connect(options(&fake, Duration::from_millis(300)), &mut |_| Ok(()))
        .unwrap_err();
    assert!(matches!(error, ConnectError::Timeout(_)), "{error}");

    let mut incomplete = options(&fake, Duration::from_secs(1));
    incomplete.settings.remove("client_id");
    incomplete.settings.remove("client_secret");
    let error = session.connect(incomplete, &mut |_| Ok(())).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("/client_id") && text.contains("/client_secret"),
        "{text}"
    );
    assert!(!text.contains(CLIENT_SECRET));
}
