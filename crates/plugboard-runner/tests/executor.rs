//! The HTTP executor against a fake OAuth2 server and API on 127.0.0.1.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Fake, get, now_secs, post, quick_config, wait};
use plugboard_core::ConnectorError;
use plugboard_runner::{
    ConnectionStore, ExecutorConfig, ManualClock, SqliteStore, TokenSet, TokenStore,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

fn temp_store() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    (dir, path)
}

#[test]
fn an_expired_token_is_refreshed_and_stored_before_it_is_used() {
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    let store = Arc::new(fake.seed(&path, "main", Some(now_secs() - 10)));
    *fake.state.check_store.lock().unwrap() = Some((path.clone(), "main".to_owned()));
    let session = fake.session(store.clone(), quick_config());

    let output = get(&session, "main", "/contacts").unwrap();
    assert_eq!(output["status"], 200, "{output}");
    assert_eq!(fake.state.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(fake.state.not_stored.load(Ordering::SeqCst), 0);
    let stored = wait(store.tokens("main")).unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert!(stored.tokens.expires_at.unwrap() > now_secs() + 3000);
    assert_eq!(
        stored.tokens.refresh_token.unwrap().expose_secret(),
        "refresh-token-2-SECRET"
    );

    // A fresh token is used as it is.
    get(&session, "main", "/contacts").unwrap();
    assert_eq!(fake.state.refreshes.load(Ordering::SeqCst), 1);
}

#[test]
fn a_401_refreshes_once_and_retries_once() {
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    let store = Arc::new(fake.seed(&path, "main", Some(now_secs() + 3600)));
    fake.state.valid_access.lock().unwrap().clear(); // revoked server-side
    let session = fake.session(store, quick_config());

    let output = get(&session, "main", "/lists").unwrap();
    assert_eq!(output["status"], 200);
    assert_eq!(fake.state.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(fake.state.api_count("/v1/lists"), 2);

    // A token refused again after the refresh is not refreshed in a loop.
    fake.state.valid_access.lock().unwrap().clear();
    fake.state.valid_refresh.lock().unwrap().clear();
    let error = get(&session, "main", "/lists").unwrap_err();
    assert!(
        matches!(error, ConnectorError::Unauthorized { .. }),
        "{error}"
    );
    assert_eq!(fake.state.invalid_grants.load(Ordering::SeqCst), 1);
}

/// A 401 for a token another process had already replaced is a race, not a refusal: five in a
/// row (each explained by a newer stored token) do not end the request, where three refusals of
/// the newest token would.
#[test]
fn refusals_of_tokens_already_replaced_do_not_count_against_the_request() {
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    let store = Arc::new(fake.seed(&path, "main", Some(now_secs() + 3600)));
    fake.state.valid_access.lock().unwrap().clear(); // revoked server-side
    *fake.state.rotate_after_401.lock().unwrap() = Some((path.clone(), "main".to_owned(), 5));
    let session = fake.session(store, quick_config());

    let output = get(&session, "main", "/lists").unwrap();
    assert_eq!(output["status"], 200);
    // Five 401s explained by newer tokens, one for the newest (refreshed), then the answer.
    assert_eq!(fake.state.api_count("/v1/lists"), 7);
    assert_eq!(fake.state.refreshes.load(Ordering::SeqCst), 1);
}

#[test]
fn eight_threads_with_an_expired_token_refresh_exactly_once() {
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    let store = Arc::new(fake.seed(&path, "main", Some(now_secs() - 10)));
    *fake.state.refresh_delay.lock().unwrap() = Duration::from_millis(200);
    let session = fake.session(store, quick_config());
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| get(&session, "main", "/contacts")))
            .collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap().unwrap()["status"], 200);
        }
    });
    assert_eq!(fake.state.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(fake.state.invalid_grants.load(Ordering::SeqCst), 0);
}

#[test]
fn two_processes_on_one_store_refresh_once_and_never_reuse_a_dead_token() {
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    fake.seed(&path, "main", Some(now_secs() - 10));
    *fake.state.refresh_delay.lock().unwrap() = Duration::from_millis(300);
    *fake.state.check_store.lock().unwrap() = Some((path.clone(), "main".to_owned()));
    // Two stores and two sessions: two executors with nothing shared but the file.
    let a = fake.session(Arc::new(SqliteStore::open(&path).unwrap()), quick_config());
    let b = fake.session(Arc::new(SqliteStore::open(&path).unwrap()), quick_config());
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let session = if i % 2 == 0 { &a } else { &b };
                scope.spawn(move || get(session, "main", "/contacts"))
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap().unwrap()["status"], 200);
        }
    });
    assert_eq!(fake.state.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(fake.state.invalid_grants.load(Ordering::SeqCst), 0);
    assert_eq!(fake.state.not_stored.load(Ordering::SeqCst), 0);
}

#[test]
fn the_token_endpoint_limit_spaces_refreshes() {
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    let store = Arc::new(fake.seed(&path, "main", Some(now_secs() - 10)));
    let session = fake.session(store, quick_config());
    get(&session, "main", "/a").unwrap();
    fake.state.valid_access.lock().unwrap().clear(); // forces a second refresh at once
    get(&session, "main", "/b").unwrap();
    let times = fake.state.token_requests.lock().unwrap().clone();
    assert_eq!(times.len(), 2);
    assert!(
        times[1] - times[0] >= Duration::from_secs(1),
        "the fake connector's token endpoint allows 1 request per second: {:?}",
        times[1] - times[0]
    );
}

#[test]
fn invalid_grant_asks_the_user_to_reconnect() {
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    let store = Arc::new(fake.seed(&path, "main", Some(now_secs() - 10)));
    fake.state.valid_refresh.lock().unwrap().clear();
    let session = fake.session(store, quick_config());
    let error = get(&session, "main", "/contacts").unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(error, ConnectorError::Unauthorized { .. }),
        "{text}"
    );
    assert!(text.contains("invalid_grant"), "{text}");
    assert!(
        text.contains("plugboard connect fake --name main"),
        "{text}"
    );
    assert_eq!(
        fake.state.invalid_grants.load(Ordering::SeqCst),
        1,
        "no retry loop"
    );
    assert_eq!(fake.state.api_count("/v1/contacts"), 0);

    // The connection is marked: another process fails at once, with the same advice, and
    // presents the dead grant to nobody.
    let marked = SqliteStore::open(&path).unwrap();
    let reason = wait(marked.tokens("main")).unwrap().unwrap().needs_reauth;
    assert!(
        reason
            .as_deref()
            .is_some_and(|r| r.contains("plugboard connect fake --name main")),
        "{reason:?}"
    );
    let other = fake.session(Arc::new(marked), quick_config());
    let again = get(&other, "main", "/contacts").unwrap_err();
    assert!(
        matches!(&again, ConnectorError::Unauthorized { message } if message.contains("plugboard connect fake --name main")),
        "{again}"
    );
    assert_eq!(fake.state.token_requests.lock().unwrap().len(), 1);

    // A new authorization clears the mark.
    let store = SqliteStore::open(&path).unwrap();
    let fresh = TokenSet {
        access_token: SecretString::from("fresh-access-SECRET".to_owned()),
        refresh_token: Some(SecretString::from("fresh-refresh-SECRET".to_owned())),
        expires_at: Some(now_secs() + 3_600),
        scope: None,
    };
    wait(store.put_tokens("main", &fresh)).unwrap();
    assert_eq!(
        wait(store.tokens("main")).unwrap().unwrap().needs_reauth,
        None
    );
}

#[test]
fn server_errors_are_retried_for_idempotent_requests_only() {
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    let store = Arc::new(fake.seed(&path, "main", None));
    let session = fake.session(store, quick_config());
    let unavailable = || (503, json!({"error": "down"}), None);

    fake.state
        .script("/v1/flaky", vec![unavailable(), unavailable()]);
    let output = get(&session, "main", "/flaky").unwrap();
    assert_eq!(output["status"], 200);
    assert_eq!(fake.state.api_count("/v1/flaky"), 3);

    fake.state
        .script("/v1/create", vec![unavailable(), unavailable()]);
    let output = post(&session, "main", "/create").unwrap();
    assert_eq!(
        output["status"], 503,
        "the error comes back to the connector"
    );
    assert_eq!(fake.state.api_count("/v1/create"), 1);

    // The budget is bounded: five attempts, then the last answer.
    fake.state.script("/v1/down", vec![unavailable(); 10]);
    let output = get(&session, "main", "/down").unwrap();
    assert_eq!(output["status"], 503);
    assert_eq!(fake.state.api_count("/v1/down"), 5);
}

#[test]
fn throttled_429s_are_retried_even_for_posts() {
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    let store = Arc::new(fake.seed(&path, "main", None));
    let session = fake.session(store, quick_config());
    let throttled = json!({"error_key": "throttled", "error_message": "Too Many Requests"});
    fake.state
        .script("/v1/create", vec![(429, throttled.clone(), None)]);
    assert_eq!(post(&session, "main", "/create").unwrap()["status"], 200);
    assert_eq!(fake.state.api_count("/v1/create"), 2);

    fake.state
        .script("/v1/later", vec![(429, throttled, Some("0"))]);
    assert_eq!(get(&session, "main", "/later").unwrap()["status"], 200);
    assert_eq!(fake.state.api_count("/v1/later"), 2);
}

fn daily_limit(limit: u64) -> serde_json::Value {
    json!([{"limit": limit, "window": "day", "scope": {"per": "setting", "field": "client_id"},
            "reset": "calendar_utc"}])
}

#[test]
fn a_quota_429_stops_with_the_next_utc_midnight() {
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    let store = Arc::new(fake.seed(&path, "main", None));
    let session = fake.session_with(store, quick_config(), daily_limit(10_000));
    let quota = json!({"error_key": "quota_exceeded", "error_message": "Limit Exceeded"});
    fake.state.script("/v1/contacts", vec![(429, quota, None)]);
    let error = get(&session, "main", "/contacts").unwrap_err();
    let next_midnight = (now_secs().div_euclid(86_400) + 1) * 86_400;
    assert_eq!(
        error,
        ConnectorError::QuotaExhausted {
            resets_at: Some(next_midnight as u64)
        }
    );
    assert_eq!(fake.state.api_count("/v1/contacts"), 1, "no retry");
    // The local counter now knows: the next request stops before sending.
    assert!(matches!(
        get(&session, "main", "/contacts"),
        Err(ConnectorError::QuotaExhausted { .. })
    ));
    assert_eq!(fake.state.api_count("/v1/contacts"), 1);
}

#[test]
fn the_daily_quota_is_counted_locally_and_resets_at_utc_midnight() {
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    let store = Arc::new(fake.seed(&path, "main", None));
    let day = now_secs().div_euclid(86_400) * 86_400_000;
    let clock = ManualClock::new(day + 86_400_000 - 5_000); // 23:59:55 UTC
    let config = ExecutorConfig {
        clock: Arc::new(clock.clone()),
        ..quick_config()
    };
    let session = fake.session_with(store, config, daily_limit(3));
    for _ in 0..3 {
        get(&session, "main", "/contacts").unwrap();
    }
    let error = get(&session, "main", "/contacts").unwrap_err();
    assert_eq!(
        error,
        ConnectorError::QuotaExhausted {
            resets_at: Some(((day + 86_400_000) / 1000) as u64)
        }
    );
    assert!(error.to_string().contains("00:00:00 UTC"), "{error}");
    assert_eq!(fake.state.api_count("/v1/contacts"), 3);
    clock.advance(6_000);
    get(&session, "main", "/contacts").unwrap();
    assert_eq!(fake.state.api_count("/v1/contacts"), 4);
}

#[test]
fn a_run_that_asked_to_wait_for_the_quota_waits_for_the_reset() {
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    let store = Arc::new(fake.seed(&path, "main", None));
    let day = now_secs().div_euclid(86_400) * 86_400_000;
    let clock = ManualClock::new(day + 86_400_000 - 100);
    let config = ExecutorConfig {
        clock: Arc::new(clock.clone()),
        wait_for_quota: true,
        ..quick_config()
    };
    let session = fake.session_with(store, config, daily_limit(1));
    get(&session, "main", "/contacts").unwrap();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            assert_eq!(fake.state.api_count("/v1/contacts"), 1, "still waiting");
            clock.advance(1_000);
        });
        assert_eq!(get(&session, "main", "/contacts").unwrap()["status"], 200);
    });
    assert_eq!(fake.state.api_count("/v1/contacts"), 2);
}

#[test]
fn per_second_limits_keep_every_rolling_second_within_budget() {
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    fake.seed(&path, "main", None);
    let limits = json!([{"limit": 4, "window": "second",
        "scope": {"per": "setting", "field": "client_id"}, "reset": "rolling"}]);
    // Two "processes" on one file share the client_id budget.
    let a = fake.session_with(
        Arc::new(SqliteStore::open(&path).unwrap()),
        quick_config(),
        limits.clone(),
    );
    let b = fake.session_with(
        Arc::new(SqliteStore::open(&path).unwrap()),
        quick_config(),
        limits,
    );
    std::thread::scope(|scope| {
        for session in [&a, &b] {
            scope.spawn(move || {
                for _ in 0..5 {
                    get(session, "main", "/contacts").unwrap();
                }
            });
        }
    });
    let mut arrivals: Vec<_> = fake
        .state
        .api_requests
        .lock()
        .unwrap()
        .iter()
        .map(|(_, at)| *at)
        .collect();
    arrivals.sort();
    assert_eq!(arrivals.len(), 10);
    for window in arrivals.windows(5) {
        let span = window[4] - window[0];
        assert!(
            span >= Duration::from_millis(1000),
            "five requests within {span:?}: the limit is 4 per rolling second"
        );
    }
}

#[test]
fn requests_that_leave_the_api_host_are_denied_and_never_sent() {
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    let store = Arc::new(fake.seed(&path, "main", None));
    let session = fake.session(store, quick_config());
    let elsewhere = format!("{}/oauth/token", fake.base);
    for path in [
        "//evil.example/x",
        "http://evil.example/x",
        "/../oauth/token",
        "/%2e%2e/oauth/token",
        elsewhere.as_str(),
        "@evil.example/x",
    ] {
        let error = get(&session, "main", path).unwrap_err();
        assert!(
            matches!(error, ConnectorError::Denied { .. }),
            "{path}: {error}"
        );
    }
    assert!(fake.state.api_requests.lock().unwrap().is_empty());
    assert_eq!(fake.state.refreshes.load(Ordering::SeqCst), 0);
}

#[test]
fn a_connection_missing_settings_is_named_and_secrets_never_reach_the_connector() {
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    let store = Arc::new(fake.seed(&path, "main", None));
    wait(store.set_partner_settings("fake", json!({"client_id": ""}).as_object().unwrap()))
        .unwrap();
    let session = fake.session(store.clone(), quick_config());
    let error = get(&session, "main", "/contacts").unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("/client_id") && text.contains("/client_secret"),
        "{text}"
    );

    let partner = json!({"client_id": common::CLIENT_ID, "client_secret": common::CLIENT_SECRET});
    wait(store.set_partner_settings("fake", partner.as_object().unwrap())).unwrap();
    // The fake connector fails if it sees `client_secret`.
    assert_eq!(get(&session, "main", "/contacts").unwrap()["status"], 200);
    let error = get(&session, "nope", "/contacts").unwrap_err();
    assert!(
        error.to_string().contains("no connection named `nope`"),
        "{error}"
    );
}

#[test]
fn cancellation_stops_waits_and_refuses_new_requests() {
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    let store = Arc::new(fake.seed(&path, "main", None));
    let limits = json!([{"limit": 1, "window": "minute",
        "scope": {"per": "connection"}, "reset": "rolling"}]);
    let session = fake.session_with(store.clone(), quick_config(), limits);
    get(&session, "main", "/contacts").unwrap();
    let canceller = session.cancellation().clone();
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(200));
            canceller.cancel();
        });
        // The next slot is a minute away; cancelling ends the wait.
        assert_eq!(
            get(&session, "main", "/contacts"),
            Err(ConnectorError::Cancelled)
        );
    });
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(
        get(&session, "main", "/contacts"),
        Err(ConnectorError::Cancelled)
    );
    assert_eq!(fake.state.api_count("/v1/contacts"), 1);
    // The store is still usable and consistent.
    assert_eq!(wait(store.tokens("main")).unwrap().unwrap().version, 1);
}

#[test]
fn records_stream_to_the_callback_and_sleep_is_cancellable() {
    use plugboard_core::Host as _;
    let fake = Fake::start();
    let (_dir, path) = temp_store();
    let store = Arc::new(fake.seed(&path, "main", None));
    let session = fake.session(store, quick_config());
    fake.state.script(
        "/v1/list",
        vec![(200, json!({"records": [{"n": 1}, {"n": 2}]}), None)],
    );
    let mut seen = Vec::new();
    let output = session
        .call(
            "main",
            "http.get",
            json!({"path": "/list"}),
            &mut |record| {
                seen.push(record);
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(output["status"], 200);
    assert_eq!(seen, vec![json!({"n": 1}), json!({"n": 2})]);

    let prepared = session.prepare("main").unwrap();
    let cancel = plugboard_runner::Cancellation::new();
    let mut sink = |_| Ok(());
    let host = plugboard_runner::RunnerHost::connected(
        &prepared.context,
        session.executor(),
        session.handle(),
        &mut sink,
        cancel.clone(),
    );
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            cancel.cancel();
        });
        assert_eq!(
            host.sleep(Duration::from_secs(60)),
            Err(ConnectorError::Cancelled)
        );
    });
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(host.emit(json!(1)), Err(ConnectorError::Cancelled));
}
