//! What only the PostgreSQL store does through the store roles: it decides leases and rate limits
//! by the server's clock whatever clock its callers pass (machines' clocks differ), answers in
//! each caller's own frame, and keeps every secret the roles write sealed.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plugboard_runner::store::{Admission, LeaseHolder, LeaseOutcome, LimitCharge};
use plugboard_runner::{ConnectionRecord, ConnectionStore, LimitStore, TokenSet, TokenStore};
use plugboard_store_postgres::{DecisionClock, PostgresStore};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use support::{KEY_A, TestDatabase, connect_raw, key};

const HOUR_MS: i64 = 3_600_000;

fn system_now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn tokens(n: u32) -> TokenSet {
    TokenSet {
        access_token: SecretString::from(format!("access-SECRET-{n}-7f3a")),
        refresh_token: Some(SecretString::from(format!("refresh-SECRET-{n}-91bc"))),
        expires_at: Some(1_900_000_000),
        scope: None,
    }
}

async fn open(db: &TestDatabase) -> PostgresStore {
    let store = PostgresStore::connect_with(&db.url, key(KEY_A), 4)
        .await
        .unwrap();
    assert_eq!(store.decision_clock(), DecisionClock::Server);
    store
}

/// `value` is within `tolerance_ms` of `expected`.
fn near(value: i64, expected: i64, tolerance_ms: i64) -> bool {
    (value - expected).abs() <= tolerance_ms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_judged_by_the_server_clock_and_reported_in_each_callers_frame() {
    let db = TestDatabase::create().await;
    let (slow, fast) = (open(&db).await, open(&db).await);
    TokenStore::put_tokens(&slow, "c", &tokens(1))
        .await
        .unwrap();
    // One machine's clock says 1970, the other's an hour ahead: neither matters.
    let (slow_now, fast_now) = (0, system_now_ms() + HOUR_MS);
    let me = LeaseHolder::this_process("slow");
    let LeaseOutcome::Acquired { until_ms, .. } = slow
        .acquire_refresh_lease("c", &me, slow_now, 30_000)
        .await
        .unwrap()
    else {
        panic!("the free lease is taken");
    };
    assert!(near(until_ms, slow_now + 30_000, 2_000), "{until_ms}");
    // An hour "later" by its own clock, the other machine still sees the lease running, and
    // learns when it lapses on its own clock.
    let held = fast
        .acquire_refresh_lease("c", &LeaseHolder::this_process("fast"), fast_now, 30_000)
        .await
        .unwrap();
    let LeaseOutcome::Held {
        until_ms, holder, ..
    } = held
    else {
        panic!("a running lease was taken by a fast clock: {held:?}");
    };
    assert_eq!(holder, Some(me));
    assert!(near(until_ms, fast_now + 30_000, 2_000), "{until_ms}");
    // Renewal extends from the server's clock, not the caller's 1970.
    assert!(
        slow.renew_refresh_lease("c", "slow", 1, slow_now, 30_000)
            .await
            .unwrap()
    );
    let raw = connect_raw(&db.url).await;
    let (stored_until, server_now): (i64, i64) = {
        let row = raw
            .query_one(
                "SELECT lease_until_ms, plugboard_now_ms() FROM tokens WHERE connection = 'c'",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert!(
        near(stored_until, server_now + 30_000, 2_000),
        "{stored_until} vs {server_now}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_judged_by_the_server_clock() {
    let db = TestDatabase::create().await;
    let (slow, fast) = (open(&db).await, open(&db).await);
    let one_per_second = [LimitCharge::Rolling {
        key: "k".to_owned(),
        limit: 1,
        window_us: 1_000_000,
        interval_us: 1_000_000,
        inflight_cap_us: 61_000_000,
    }];
    let Admission::Granted { tickets } = slow.acquire(&one_per_second, 0).await.unwrap() else {
        panic!("the first request is admitted");
    };
    // "Done" at the caller's 1970: recorded at the server's now instead.
    slow.complete(&tickets, 0).await.unwrap();
    let raw = connect_raw(&db.url).await;
    let row = raw
        .query_one("SELECT done_us, plugboard_now_us() FROM rate_slots", &[])
        .await
        .unwrap();
    let (done_us, server_now_us): (i64, i64) = (row.get(0), row.get(1));
    assert!(
        (server_now_us - done_us).abs() < 2_000_000,
        "{done_us} vs {server_now_us}"
    );
    // A clock an hour ahead does not buy a second request within the same second.
    match fast
        .acquire(&one_per_second, system_now_ms() + HOUR_MS)
        .await
        .unwrap()
    {
        Admission::Wait { wait_us } => assert!((1..=1_000_000).contains(&wait_us), "{wait_us}"),
        other => panic!("a fast clock jumped the queue: {other:?}"),
    }
    // After the wait (real time, bounded), it goes.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match fast.acquire(&one_per_second, 0).await.unwrap() {
            Admission::Granted { .. } => break,
            Admission::Wait { wait_us } => {
                assert!(std::time::Instant::now() < deadline, "never admitted");
                tokio::time::sleep(Duration::from_micros(wait_us.unsigned_abs())).await;
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_reveals_no_secret_the_store_roles_wrote() {
    let db = TestDatabase::create().await;
    let store = open(&db).await;
    store
        .set_partner_settings(
            "constant-contact",
            &json!({"client_id": "app-1", "client_secret": "CLIENT-SECRET-5d2e"})
                .as_object()
                .cloned()
                .unwrap(),
        )
        .await
        .unwrap();
    store
        .put_connection(&ConnectionRecord {
            name: "crm".to_owned(),
            connector_id: "http-api".to_owned(),
            settings: json!({"api_key": "API-KEY-SECRET-0c41"})
                .as_object()
                .cloned()
                .unwrap(),
            endpoints: None,
        })
        .await
        .unwrap();
    TokenStore::put_tokens(&store, "crm", &tokens(1))
        .await
        .unwrap();
    let me = LeaseHolder::this_process("me");
    store
        .acquire_refresh_lease("crm", &me, 0, 30_000)
        .await
        .unwrap();
    store
        .commit_refresh("crm", "me", 1, &tokens(2))
        .await
        .unwrap();

    let raw = connect_raw(&db.url).await;
    let mut dump = String::new();
    for row in raw
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'public'",
            &[],
        )
        .await
        .unwrap()
    {
        let table: String = row.get(0);
        for line in raw
            .query(&format!("SELECT t::text FROM {table} t"), &[])
            .await
            .unwrap()
        {
            dump.push_str(line.get(0));
            dump.push('\n');
        }
    }
    assert!(dump.contains("crm"), "the dump holds the rows: {dump}");
    for secret in [
        "CLIENT-SECRET-5d2e",
        "API-KEY-SECRET-0c41",
        "access-SECRET-1-7f3a",
        "refresh-SECRET-1-91bc",
        "access-SECRET-2-7f3a",
        "refresh-SECRET-2-91bc",
        "SECRET",
    ] {
        assert!(!dump.contains(secret), "{secret} is in the dump");
    }
    // And the key opens them again.
    let read = store.connection("crm").await.unwrap().unwrap();
    assert_eq!(read.settings["api_key"], "API-KEY-SECRET-0c41");
    assert_eq!(
        store.partner_settings("constant-contact").await.unwrap()["client_secret"],
        "CLIENT-SECRET-5d2e"
    );
    let stored = TokenStore::tokens(&store, "crm").await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(
        stored.tokens.access_token.expose_secret(),
        "access-SECRET-2-7f3a"
    );
}
