//! The SQLite state store: permissions, migrations, round trips, the limiter and the lease.
#![allow(clippy::unwrap_used, missing_docs)]

use std::os::unix::fs::PermissionsExt;

use plugboard_runner::store::{
    Admission, CommitOutcome, LeaseHolder, LeaseOutcome, LimitCharge, SCHEMA_VERSION,
};
use plugboard_runner::{
    ConnectionRecord, Endpoints, RunStatus, SqliteStore, StateStore, StoreError, TokenSet,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn tokens(n: u32) -> TokenSet {
    TokenSet {
        access_token: SecretString::from(format!("access-SECRET-{n}")),
        refresh_token: Some(SecretString::from(format!("refresh-SECRET-{n}"))),
        expires_at: Some(1_900_000_000),
        scope: Some("read".to_owned()),
    }
}

#[test]
fn the_file_and_its_wal_companions_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("state.db");
    let store = SqliteStore::open(&path).unwrap();
    store.put_tokens("c", &tokens(1)).unwrap();
    assert_eq!(mode(&path), 0o600);
    for suffix in ["-wal", "-shm"] {
        let companion = dir.path().join("nested").join(format!("state.db{suffix}"));
        assert!(companion.exists(), "{suffix} exists in WAL mode");
        assert_eq!(mode(&companion), 0o600, "{suffix}");
    }
    assert_eq!(mode(&dir.path().join("nested")), 0o700);

    // A file left world-readable is tightened on open.
    drop(store);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _store = SqliteStore::open(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn the_schema_is_versioned_and_migrations_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    store
        .set_cursor("poll", &json!({"since": "2026-01-01"}))
        .unwrap();
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.cursor("poll").unwrap(),
        Some(json!({"since": "2026-01-01"}))
    );
    drop(store);

    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::TooNew { found: 99, .. })
    ));
}

#[test]
fn connections_and_tokens_round_trip_and_debug_shows_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("state.db")).unwrap();
    let record = ConnectionRecord {
        name: "main".to_owned(),
        connector_id: "constant-contact".to_owned(),
        settings: json!({"client_secret": "hunter2-SECRET", "redirect_uri": "http://127.0.0.1/cb"})
            .as_object()
            .cloned()
            .unwrap(),
        endpoints: Some(Endpoints {
            base_url: "http://127.0.0.1:1/v3".to_owned(),
            authorize_url: None,
            token_url: None,
        }),
    };
    store.put_connection(&record).unwrap();
    store
        .set_partner_settings(
            "constant-contact",
            json!({"client_id": "app"}).as_object().unwrap(),
        )
        .unwrap();
    assert_eq!(store.connection("main").unwrap(), Some(record.clone()));
    assert_eq!(store.connections().unwrap(), vec![record.clone()]);
    assert_eq!(
        store.partner_settings("constant-contact").unwrap()["client_id"],
        "app"
    );
    assert_eq!(store.put_tokens("main", &tokens(1)).unwrap(), 1);
    assert_eq!(store.put_tokens("main", &tokens(2)).unwrap(), 2);
    let stored = store.tokens("main").unwrap().unwrap();
    assert_eq!(stored.tokens, tokens(2));
    assert_eq!(stored.version, 2);

    let debug = format!("{record:?} {stored:?} {store:?}");
    for secret in ["hunter2-SECRET", "access-SECRET", "refresh-SECRET"] {
        assert!(!debug.contains(secret), "{debug}");
    }
    assert!(store.delete_connection("main").unwrap());
    assert!(store.tokens("main").unwrap().is_none());
    assert!(!store.delete_connection("main").unwrap());
}

#[test]
fn the_journal_and_cursors_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("state.db")).unwrap();
    let run = store
        .create_run("examples/sync.json", "digest-1", &json!({"email": "a@b.c"}))
        .unwrap();
    store.record_step(run, "find", &json!({"id": 1})).unwrap();
    store.record_step(run, "add[0]", &json!(["x"])).unwrap();
    store.record_step(run, "find", &json!({"id": 2})).unwrap();
    assert_eq!(
        store.completed_steps(run).unwrap(),
        vec![
            ("find".to_owned(), json!({"id": 2})),
            ("add[0]".to_owned(), json!(["x"]))
        ]
    );
    store
        .finish_run(run, RunStatus::Failed, Some("HTTP 500"))
        .unwrap();
    let record = store.run(run).unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(record.error.as_deref(), Some("HTTP 500"));
    assert_eq!(record.inputs, json!({"email": "a@b.c"}));
    assert_eq!(record.workflow_digest.as_deref(), Some("digest-1"));
    assert!(record.finished_at_ms.is_some());
    store
        .set_run_inputs(run, &json!({"email": "b@c.d"}))
        .unwrap();
    assert_eq!(
        store.run(run).unwrap().unwrap().inputs,
        json!({"email": "b@c.d"})
    );
    let second = store
        .create_run("other.json", "digest-2", &json!({}))
        .unwrap();
    let ids: Vec<_> = store.runs().unwrap().iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![second, run]);
    assert!(
        store
            .record_step(plugboard_runner::RunId(999), "x", &json!(1))
            .is_err()
    );

    assert_eq!(store.cursor("c").unwrap(), None);
    store
        .set_cursor("c", &json!("2026-11-26T00:00:00Z"))
        .unwrap();
    assert_eq!(
        store.cursor("c").unwrap(),
        Some(json!("2026-11-26T00:00:00Z"))
    );
}

fn four_per_second(key: &str) -> LimitCharge {
    LimitCharge::Rolling {
        key: key.to_owned(),
        limit: 4,
        window_us: 1_010_000,
        interval_us: 252_500,
        inflight_cap_us: 61_000_000,
    }
}

/// Sends as fast as the limiter allows over `duration_ms` of simulated time, alternating between
/// stores, completing each request `latency_ms` after it is sent; returns the send times (ms).
fn simulate(stores: &[&SqliteStore], duration_ms: i64, latency_ms: i64) -> Vec<i64> {
    let charges = [four_per_second("k")];
    let mut now = 1_000_000_000_000;
    let start = now;
    let mut sent = Vec::new();
    let mut turn = 0;
    while now < start + duration_ms {
        match stores[turn % stores.len()].acquire(&charges, now).unwrap() {
            Admission::Granted { tickets } => {
                sent.push(now - start);
                stores[turn % stores.len()]
                    .complete(&tickets, now + latency_ms)
                    .unwrap();
                turn += 1;
            }
            Admission::Wait { wait_us } => now += (wait_us + 999) / 1000,
            Admission::Exhausted { .. } => panic!("no counter here"),
        }
    }
    sent
}

#[test]
fn rolling_limits_admit_four_per_second_shared_by_two_stores_on_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let a = SqliteStore::open(&path).unwrap();
    let b = SqliteStore::open(&path).unwrap();
    let sent = simulate(&[&a, &b], 2_000, 0);
    // 8 in 2 s at 4/s (no more: any window of 1 s holds at most 4).
    assert_eq!(sent.len(), 8, "{sent:?}");
    for window in sent.windows(5) {
        assert!(window[4] - window[0] >= 1_000, "{sent:?}");
    }
    for second in 0..2 {
        let in_second = sent.iter().filter(|t| **t / 1000 == second).count();
        assert!(in_second <= 4, "{sent:?}");
    }
}

#[test]
fn slow_responses_push_the_window_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("state.db")).unwrap();
    // Each request is answered 400 ms after it is sent: the server may count it that late.
    let sent = simulate(&[&store], 3_000, 400);
    for window in sent.windows(5) {
        assert!(window[4] - window[0] >= 1_400, "{sent:?}");
    }
}

#[test]
fn daily_counters_stop_at_the_limit_and_reset_at_utc_midnight() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("state.db")).unwrap();
    let day = 86_400_000 * 20_000;
    let daily = |now: i64| {
        let start = now.div_euclid(86_400_000) * 86_400_000;
        [LimitCharge::Counter {
            key: "daily".to_owned(),
            window_start_ms: start,
            window_end_ms: start + 86_400_000,
            limit: 2,
        }]
    };
    let late = day + 86_399_000;
    for _ in 0..2 {
        assert!(matches!(
            store.acquire(&daily(late), late).unwrap(),
            Admission::Granted { .. }
        ));
    }
    assert_eq!(
        store.acquire(&daily(late), late).unwrap(),
        Admission::Exhausted {
            resets_at_ms: day + 86_400_000
        }
    );
    let next = day + 86_400_000;
    assert!(matches!(
        store.acquire(&daily(next), next).unwrap(),
        Admission::Granted { .. }
    ));
}

#[test]
fn the_refresh_lease_admits_one_holder_and_commits_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let a = SqliteStore::open(&path).unwrap();
    let b = SqliteStore::open(&path).unwrap();
    // Both holders are this (live) process: only the lapse frees their leases.
    let (ha, hb) = (
        LeaseHolder::this_process("a"),
        LeaseHolder::this_process("b"),
    );
    assert_eq!(
        a.acquire_refresh_lease("c", &ha, 0, 1000).unwrap(),
        LeaseOutcome::NoTokens
    );
    a.put_tokens("c", &tokens(1)).unwrap();
    assert_eq!(
        a.acquire_refresh_lease("c", &ha, 1_000, 30_000).unwrap(),
        LeaseOutcome::Acquired {
            version: 1,
            until_ms: 31_000,
            took_over: None
        }
    );
    assert_eq!(
        b.acquire_refresh_lease("c", &hb, 2_000, 30_000).unwrap(),
        LeaseOutcome::Held {
            version: 1,
            holder: Some(ha.clone()),
            until_ms: 31_000
        }
    );
    assert_eq!(
        a.commit_refresh("c", "a", 1, &tokens(2)).unwrap(),
        CommitOutcome::Committed(2)
    );
    let seen = b.tokens("c").unwrap().unwrap();
    assert_eq!(seen.version, 2);
    assert_eq!(
        seen.tokens.refresh_token.unwrap().expose_secret(),
        "refresh-SECRET-2"
    );
    // The lease was released with the commit.
    assert!(matches!(
        b.acquire_refresh_lease("c", &hb, 3_000, 30_000).unwrap(),
        LeaseOutcome::Acquired { version: 2, .. }
    ));
    // A lapsed lease can be taken over; the late holder's commit then conflicts.
    assert!(matches!(
        a.acquire_refresh_lease("c", &ha, 40_000, 30_000).unwrap(),
        LeaseOutcome::Acquired { version: 2, .. }
    ));
    assert_eq!(
        b.commit_refresh("c", "b", 2, &tokens(3)).unwrap(),
        CommitOutcome::Committed(3)
    );
    assert!(matches!(
        a.commit_refresh("c", "a", 2, &tokens(4)).unwrap(),
        CommitOutcome::Conflict(current) if current.version == 3
    ));

    // Renewing before a send: only the holder, only at the version it leased.
    assert!(matches!(
        a.acquire_refresh_lease("c", &ha, 50_000, 30_000).unwrap(),
        LeaseOutcome::Acquired { version: 3, .. }
    ));
    assert!(a.renew_refresh_lease("c", "a", 3, 90_000, 30_000).unwrap());
    assert!(matches!(
        b.acquire_refresh_lease("c", &hb, 100_000, 30_000).unwrap(),
        LeaseOutcome::Held {
            until_ms: 120_000,
            ..
        }
    ));
    assert!(!b.renew_refresh_lease("c", "b", 3, 100_000, 30_000).unwrap());
    assert!(!a.renew_refresh_lease("c", "a", 2, 100_000, 30_000).unwrap());
    // Lapsed and taken over by b: a's renewal fails, so a never sends its refresh token.
    assert!(matches!(
        b.acquire_refresh_lease("c", &hb, 130_000, 30_000).unwrap(),
        LeaseOutcome::Acquired { version: 3, .. }
    ));
    assert!(!a.renew_refresh_lease("c", "a", 3, 131_000, 30_000).unwrap());

    // A connection deleted mid-refresh does not get its tokens back.
    a.delete_connection("c").unwrap();
    assert!(a.tokens("c").unwrap().is_none());
    assert_eq!(
        b.commit_refresh("c", "b", 3, &tokens(5)).unwrap(),
        CommitOutcome::Gone
    );
    assert!(a.tokens("c").unwrap().is_none());
}
