//! Tokens and the refresh lease: one refresher at a time, fenced writers, refused grants.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugboard_runner::ConnectionRecord;
use plugboard_runner::store::{CommitOutcome, LeaseHolder, LeaseOutcome};
use secrecy::ExposeSecret;
use serde_json::Map;

use super::{Backend, LEASE_MS, Sleeper, dead_pid, local_holder, system_now_ms, tokens};

pub async fn tokens_are_versioned_and_deleted_with_their_connection(backend: &impl Backend) {
    let db = backend.database().await;
    let (a, b) = (
        backend.open(&db).await.unwrap(),
        backend.open(&db).await.unwrap(),
    );
    assert_eq!(a.tokens("c").await.unwrap(), None);
    assert_eq!(a.put_tokens("c", &tokens(1)).await.unwrap(), 1);
    assert_eq!(b.put_tokens("c", &tokens(2)).await.unwrap(), 2);
    let stored = a.tokens("c").await.unwrap().unwrap();
    assert_eq!(stored.tokens, tokens(2));
    assert_eq!(stored.version, 2);
    assert_eq!(stored.needs_reauth, None);
    let stored_at = stored.stored_at_ms.expect("when they were stored");
    assert!((system_now_ms() - stored_at).abs() < 60_000, "{stored_at}");
    let debug = format!("{stored:?}");
    for secret in ["access-SECRET", "refresh-SECRET"] {
        assert!(!debug.contains(secret), "{debug}");
    }
    // Tokens without a connection record are still a connection's tokens to delete.
    a.put_connection(&ConnectionRecord {
        name: "c".to_owned(),
        connector_id: "x".to_owned(),
        settings: Map::new(),
        endpoints: None,
    })
    .await
    .unwrap();
    assert!(b.delete_connection("c").await.unwrap());
    assert_eq!(a.tokens("c").await.unwrap(), None);
    // A new install starts again at version 1.
    assert_eq!(a.put_tokens("c", &tokens(3)).await.unwrap(), 1);
}

pub async fn the_refresh_lease_admits_one_holder_and_commits_atomically(backend: &impl Backend) {
    let db = backend.database().await;
    let (a, b) = (
        backend.open(&db).await.unwrap(),
        backend.open(&db).await.unwrap(),
    );
    // Both holders are this (live) process: only the lapse frees their leases.
    let (ha, hb) = (
        LeaseHolder::this_process("a"),
        LeaseHolder::this_process("b"),
    );
    assert_eq!(
        a.acquire_refresh_lease("c", &ha, 0, 1000).await.unwrap(),
        LeaseOutcome::NoTokens
    );
    a.put_tokens("c", &tokens(1)).await.unwrap();
    assert_eq!(
        a.acquire_refresh_lease("c", &ha, 1_000, 30_000)
            .await
            .unwrap(),
        LeaseOutcome::Acquired {
            version: 1,
            until_ms: 31_000,
            took_over: None
        }
    );
    assert_eq!(
        b.acquire_refresh_lease("c", &hb, 2_000, 30_000)
            .await
            .unwrap(),
        LeaseOutcome::Held {
            version: 1,
            holder: Some(ha.clone()),
            until_ms: 31_000
        }
    );
    assert_eq!(
        a.commit_refresh("c", "a", 1, &tokens(2)).await.unwrap(),
        CommitOutcome::Committed(2)
    );
    let seen = b.tokens("c").await.unwrap().unwrap();
    assert_eq!(seen.version, 2);
    assert_eq!(
        seen.tokens.refresh_token.unwrap().expose_secret(),
        "refresh-SECRET-2"
    );
    // The lease was released with the commit.
    assert!(matches!(
        b.acquire_refresh_lease("c", &hb, 3_000, 30_000)
            .await
            .unwrap(),
        LeaseOutcome::Acquired { version: 2, .. }
    ));
    // Released by its holder only: another holder's release leaves it alone.
    a.release_refresh_lease("c", "a").await.unwrap();
    assert!(matches!(
        a.acquire_refresh_lease("c", &ha, 4_000, 30_000).await.unwrap(),
        LeaseOutcome::Held { holder: Some(h), .. } if h == hb
    ));
    b.release_refresh_lease("c", "b").await.unwrap();
    assert!(matches!(
        a.acquire_refresh_lease("c", &ha, 5_000, 30_000)
            .await
            .unwrap(),
        LeaseOutcome::Acquired { version: 2, .. }
    ));
    // The holder asking again renews its own lease.
    assert!(matches!(
        a.acquire_refresh_lease("c", &ha, 6_000, 30_000)
            .await
            .unwrap(),
        LeaseOutcome::Acquired {
            until_ms: 36_000,
            ..
        }
    ));

    // Renewing before a send: only the holder, only at the version it leased.
    assert!(
        a.renew_refresh_lease("c", "a", 2, 10_000, 30_000)
            .await
            .unwrap()
    );
    assert!(matches!(
        b.acquire_refresh_lease("c", &hb, 20_000, 30_000)
            .await
            .unwrap(),
        LeaseOutcome::Held {
            until_ms: 40_000,
            ..
        }
    ));
    assert!(
        !b.renew_refresh_lease("c", "b", 2, 20_000, 30_000)
            .await
            .unwrap()
    );
    assert!(
        !a.renew_refresh_lease("c", "a", 1, 20_000, 30_000)
            .await
            .unwrap()
    );
    // Lapsed and taken over by b: a's renewal fails, so a never sends its refresh token.
    assert!(matches!(
        b.acquire_refresh_lease("c", &hb, 40_000, 30_000)
            .await
            .unwrap(),
        LeaseOutcome::Acquired {
            version: 2,
            took_over: None,
            ..
        }
    ));
    assert!(
        !a.renew_refresh_lease("c", "a", 2, 41_000, 30_000)
            .await
            .unwrap()
    );
    assert_eq!(
        b.commit_refresh("c", "b", 2, &tokens(3)).await.unwrap(),
        CommitOutcome::Committed(3)
    );

    // A connection deleted mid-refresh does not get its tokens back.
    assert!(matches!(
        a.acquire_refresh_lease("c", &ha, 50_000, 30_000)
            .await
            .unwrap(),
        LeaseOutcome::Acquired { version: 3, .. }
    ));
    b.delete_connection("c").await.unwrap();
    assert_eq!(
        a.commit_refresh("c", "a", 3, &tokens(4)).await.unwrap(),
        CommitOutcome::Gone
    );
    assert!(b.tokens("c").await.unwrap().is_none());
}

pub async fn a_dead_holders_lease_is_taken_over_at_once(backend: &impl Backend) {
    let db = backend.database().await;
    let store = backend.open(&db).await.unwrap();
    store.put_tokens("c", &tokens(1)).await.unwrap();
    let dead = local_holder("dead", dead_pid());
    let me = LeaseHolder::this_process("me");
    assert!(dead.is_provably_dead());
    assert!(!me.is_provably_dead());
    assert!(matches!(
        store
            .acquire_refresh_lease("c", &dead, 1_000, LEASE_MS)
            .await
            .unwrap(),
        LeaseOutcome::Acquired { version: 1, .. }
    ));
    // One second later: the lease runs for another 89 s, but its holder is gone.
    assert_eq!(
        store
            .acquire_refresh_lease("c", &me, 2_000, LEASE_MS)
            .await
            .unwrap(),
        LeaseOutcome::Acquired {
            version: 1,
            until_ms: 2_000 + LEASE_MS,
            took_over: Some(dead.clone()),
        }
    );
    // The new lease is ours (a live process) and is not taken from us.
    let other = LeaseHolder::this_process("other");
    assert_eq!(
        store
            .acquire_refresh_lease("c", &other, 3_000, LEASE_MS)
            .await
            .unwrap(),
        LeaseOutcome::Held {
            version: 1,
            holder: Some(me.clone()),
            until_ms: 2_000 + LEASE_MS,
        }
    );
    assert_eq!(
        store
            .commit_refresh("c", "me", 1, &tokens(2))
            .await
            .unwrap(),
        CommitOutcome::Committed(2)
    );
}

pub async fn a_live_holders_lease_is_kept_until_it_lapses(backend: &impl Backend) {
    let db = backend.database().await;
    let store = backend.open(&db).await.unwrap();
    store.put_tokens("c", &tokens(1)).await.unwrap();
    let sleeper = Sleeper::start();
    let asker = LeaseHolder::this_process("asker");
    for live in [
        LeaseHolder::this_process("same-process"),
        local_holder("child", sleeper.0.id()),
        // pid 1 exists but belongs to root: kill says EPERM, which means alive.
        local_holder("init", 1),
    ] {
        store.release_refresh_lease("c", "asker").await.unwrap();
        assert!(!live.is_provably_dead(), "{live:?}");
        assert!(matches!(
            store
                .acquire_refresh_lease("c", &live, 0, LEASE_MS)
                .await
                .unwrap(),
            LeaseOutcome::Acquired { .. }
        ));
        assert_eq!(
            store
                .acquire_refresh_lease("c", &asker, LEASE_MS - 1, LEASE_MS)
                .await
                .unwrap(),
            LeaseOutcome::Held {
                version: 1,
                holder: Some(live.clone()),
                until_ms: LEASE_MS,
            },
            "{live:?}"
        );
        // The time-based lapse stays the fallback.
        assert_eq!(
            store
                .acquire_refresh_lease("c", &asker, LEASE_MS, LEASE_MS)
                .await
                .unwrap(),
            LeaseOutcome::Acquired {
                version: 1,
                until_ms: 2 * LEASE_MS,
                took_over: None,
            }
        );
    }
}

pub async fn a_dead_pid_on_another_machine_is_not_a_dead_holder(backend: &impl Backend) {
    let db = backend.database().await;
    let store = backend.open(&db).await.unwrap();
    store.put_tokens("c", &tokens(1)).await.unwrap();
    // The same pid on a machine sharing the database (or in another pid namespace) may be alive.
    let remote = LeaseHolder {
        id: "remote".to_owned(),
        pid: dead_pid(),
        host: "elsewhere/boot/pid:[1]".to_owned(),
    };
    assert!(!remote.is_provably_dead());
    store
        .acquire_refresh_lease("c", &remote, 0, LEASE_MS)
        .await
        .unwrap();
    let me = LeaseHolder::this_process("me");
    assert!(matches!(
        store.acquire_refresh_lease("c", &me, 1_000, LEASE_MS).await.unwrap(),
        LeaseOutcome::Held { holder: Some(h), .. } if h == remote
    ));
    assert!(matches!(
        store
            .acquire_refresh_lease("c", &me, LEASE_MS, LEASE_MS)
            .await
            .unwrap(),
        LeaseOutcome::Acquired {
            took_over: None,
            ..
        }
    ));
}

pub async fn a_zombie_holder_counts_as_dead(backend: &impl Backend) {
    if !cfg!(target_os = "linux") {
        // Zombies are told from /proc; elsewhere a zombie is alive until reaped.
        return;
    }
    let db = backend.database().await;
    let store = backend.open(&db).await.unwrap();
    store.put_tokens("c", &tokens(1)).await.unwrap();
    // Exited but not reaped: `kill(pid, 0)` still succeeds on it.
    let mut child = Command::new("true").spawn().expect("spawn `true`");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
    }) {
        assert!(Instant::now() < deadline, "`true` did not exit in 10 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let zombie = local_holder("zombie", pid);
    store
        .acquire_refresh_lease("c", &zombie, 0, LEASE_MS)
        .await
        .unwrap();
    let outcome = store
        .acquire_refresh_lease("c", &LeaseHolder::this_process("me"), 1, LEASE_MS)
        .await
        .unwrap();
    child.wait().expect("reap `true`");
    assert!(
        matches!(outcome, LeaseOutcome::Acquired { took_over: Some(ref h), .. } if *h == zombie),
        "{outcome:?}"
    );
}

pub async fn waiters_racing_for_a_dead_holders_lease_take_it_over_exactly_once(
    backend: &impl Backend,
) {
    let db = backend.database().await;
    let first = backend.open(&db).await.unwrap();
    first.put_tokens("c", &tokens(1)).await.unwrap();
    let dead = local_holder("dead", dead_pid());
    const WAITERS: usize = 6;
    for round in 0..5 {
        let mut stores = Vec::new();
        for _ in 0..WAITERS {
            stores.push(backend.open(&db).await.unwrap());
        }
        // Give the lease to the dead holder (the last round's winner holds it).
        for i in 0..WAITERS {
            first
                .release_refresh_lease("c", &format!("w{i}"))
                .await
                .unwrap();
        }
        assert!(matches!(
            first
                .acquire_refresh_lease("c", &dead, 0, LEASE_MS)
                .await
                .unwrap(),
            LeaseOutcome::Acquired { .. }
        ));
        let start = Arc::new(tokio::sync::Barrier::new(WAITERS));
        let tasks: Vec<_> = stores
            .into_iter()
            .enumerate()
            .map(|(i, store)| {
                let start = Arc::clone(&start);
                tokio::spawn(async move {
                    let me = LeaseHolder::this_process(format!("w{i}"));
                    start.wait().await;
                    store
                        .acquire_refresh_lease("c", &me, 1_000, LEASE_MS)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.expect("no panic"));
        }
        let took_over = outcomes
            .iter()
            .filter(
                |o| matches!(o, LeaseOutcome::Acquired { took_over: Some(h), .. } if *h == dead),
            )
            .count();
        let held = outcomes
            .iter()
            .filter(|o| matches!(o, LeaseOutcome::Held { .. }))
            .count();
        assert_eq!(
            (took_over, held),
            (1, WAITERS - 1),
            "round {round}: {outcomes:?}"
        );
    }
}

/// A writer fenced off (its lease lapsed and was taken over, and the new holder committed) can
/// neither renew nor commit: its refresh started from tokens that are no longer current.
pub async fn a_commit_is_refused_to_a_fenced_writer(backend: &impl Backend) {
    let db = backend.database().await;
    let (late, fresh) = (
        backend.open(&db).await.unwrap(),
        backend.open(&db).await.unwrap(),
    );
    late.put_tokens("c", &tokens(1)).await.unwrap();
    let (hl, hf) = (
        LeaseHolder::this_process("late"),
        LeaseHolder::this_process("fresh"),
    );
    assert!(matches!(
        late.acquire_refresh_lease("c", &hl, 0, 1_000)
            .await
            .unwrap(),
        LeaseOutcome::Acquired { version: 1, .. }
    ));
    // The late holder stalls past its lease; the fresh one takes it over and commits.
    assert!(matches!(
        fresh
            .acquire_refresh_lease("c", &hf, 1_000, 1_000)
            .await
            .unwrap(),
        LeaseOutcome::Acquired { version: 1, .. }
    ));
    assert!(
        !late
            .renew_refresh_lease("c", "late", 1, 1_500, 1_000)
            .await
            .unwrap(),
        "a holder whose lease was taken over cannot renew it (and so never sends)"
    );
    assert_eq!(
        fresh
            .commit_refresh("c", "fresh", 1, &tokens(2))
            .await
            .unwrap(),
        CommitOutcome::Committed(2)
    );
    let refused = late
        .commit_refresh("c", "late", 1, &tokens(99))
        .await
        .unwrap();
    let CommitOutcome::Conflict(current) = refused else {
        panic!("the fenced commit went through: {refused:?}");
    };
    assert_eq!((current.version, &current.tokens), (2, &tokens(2)));
    let stored = fresh.tokens("c").await.unwrap().unwrap();
    assert_eq!((stored.version, stored.tokens), (2, tokens(2)));
    // Its renewal at the old version fails too, even with the lease free.
    assert!(
        !late
            .renew_refresh_lease("c", "late", 1, 2_000, 1_000)
            .await
            .unwrap()
    );
    // A conflicting commit releases the fenced writer's lease if it still had one.
    assert!(matches!(
        late.acquire_refresh_lease("c", &hl, 3_000, 1_000)
            .await
            .unwrap(),
        LeaseOutcome::Acquired { version: 2, .. }
    ));
    assert!(matches!(
        late.commit_refresh("c", "late", 1, &tokens(98))
            .await
            .unwrap(),
        CommitOutcome::Conflict(_)
    ));
    assert!(matches!(
        fresh
            .acquire_refresh_lease("c", &hf, 3_100, 1_000)
            .await
            .unwrap(),
        LeaseOutcome::Acquired { version: 2, .. }
    ));
}

pub async fn a_refused_grant_is_marked_until_new_tokens_arrive(backend: &impl Backend) {
    let db = backend.database().await;
    let (a, b) = (
        backend.open(&db).await.unwrap(),
        backend.open(&db).await.unwrap(),
    );
    a.put_tokens("c", &tokens(1)).await.unwrap();
    let holder = LeaseHolder::this_process("a");
    a.acquire_refresh_lease("c", &holder, 0, LEASE_MS)
        .await
        .unwrap();
    a.mark_needs_reauth("c", "a", 1, "reconnect with `plugboard connect`")
        .await
        .unwrap();
    let marked = b.tokens("c").await.unwrap().unwrap();
    assert_eq!(
        marked.needs_reauth.as_deref(),
        Some("reconnect with `plugboard connect`")
    );
    // The mark released the lease.
    assert!(matches!(
        b.acquire_refresh_lease("c", &LeaseHolder::this_process("b"), 1, LEASE_MS)
            .await
            .unwrap(),
        LeaseOutcome::Acquired { .. }
    ));
    // New tokens clear it; a mark for a version already replaced is ignored.
    assert_eq!(b.put_tokens("c", &tokens(2)).await.unwrap(), 2);
    assert_eq!(a.tokens("c").await.unwrap().unwrap().needs_reauth, None);
    a.mark_needs_reauth("c", "a", 1, "too late").await.unwrap();
    assert_eq!(a.tokens("c").await.unwrap().unwrap().needs_reauth, None);
}
