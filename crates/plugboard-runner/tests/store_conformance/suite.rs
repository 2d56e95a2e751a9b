//! The state store's conformance suite: what every backend must do, written against the role
//! traits only, so one suite checks SQLite today and a server backend tomorrow.
//!
//! A backend's test crate declares this file as its `suite` module at the crate root (from
//! another crate: `#[path = "…/plugboard-runner/tests/store_conformance/suite.rs"] #[macro_use]
//! mod suite;`), implements [`Backend`] and instantiates every test with
//! `store_conformance_tests!(MyBackend);`. Each test gets a fresh database and opens as many
//! handles on it as it needs; two handles stand for two processes sharing it.
//!
//! Times are explicit (`now_ms`): the limiter and the lease decide by the time they are given,
//! so the tests move time by hand. Processes are judged dead only on this machine (a pid of a
//! process the test spawned and reaped).
#![allow(dead_code)]

use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugboard_runner::store::{
    Admission, CommitOutcome, LeaseHolder, LeaseOutcome, LimitCharge, RunClaim, local_host_id,
};
use plugboard_runner::workflow::StoreJournal;
use plugboard_runner::{
    ConnectionRecord, Endpoints, RunId, RunStatus, StateStore, StoreError, TokenSet,
};
use plugboard_workflow::Journal as _;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

/// A backend under test.
#[allow(async_fn_in_trait)]
pub trait Backend {
    /// One test's database (and whatever must live as long as it, e.g. a temporary folder).
    type Database: Send + Sync;
    /// A fresh, empty database.
    async fn database(&self) -> Self::Database;
    /// A new handle on `database`, as another process would open it (its own connection).
    async fn open(&self, database: &Self::Database) -> Result<Arc<dyn StateStore>, StoreError>;
    /// Makes `database` look written by a newer plugboard (its schema version one past ours).
    async fn pretend_newer_schema(&self, database: &Self::Database);
}

/// Instantiates every test of the suite for a backend (an expression implementing [`Backend`]);
/// the suite must be this crate's `suite` module.
#[macro_export]
macro_rules! store_conformance_tests {
    ($backend:expr) => {
        $crate::store_conformance_tests!(
            $backend;
            connections_and_partner_settings_round_trip,
            tokens_are_versioned_and_deleted_with_their_connection,
            the_refresh_lease_admits_one_holder_and_commits_atomically,
            a_dead_holders_lease_is_taken_over_at_once,
            a_live_holders_lease_is_kept_until_it_lapses,
            a_dead_pid_on_another_machine_is_not_a_dead_holder,
            a_zombie_holder_counts_as_dead,
            waiters_racing_for_a_dead_holders_lease_take_it_over_exactly_once,
            a_commit_is_refused_to_a_fenced_writer,
            a_refused_grant_is_marked_until_new_tokens_arrive,
            rolling_limits_admit_four_per_second_shared_by_two_handles,
            slow_responses_push_the_window_back,
            a_daily_quota_stops_at_its_limit_and_resets_at_utc_midnight,
            a_used_up_quota_charges_no_other_budget,
            concurrent_admission_from_many_tasks_never_exceeds_the_rate,
            runs_and_their_journal_round_trip,
            a_runs_events_are_read_elsewhere_in_order_and_in_pages,
            a_run_is_claimed_for_a_resume_unless_completed,
            intents_survive_a_restart_until_settled,
            trigger_cursors_round_trip,
            a_database_of_a_newer_schema_is_refused,
        );
    };
    ($backend:expr; $($test:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                $crate::suite::$test(&$backend).await;
            }
        )+
    };
}

// ----- helpers -----

pub fn tokens(n: u32) -> TokenSet {
    TokenSet {
        access_token: SecretString::from(format!("access-SECRET-{n}")),
        refresh_token: Some(SecretString::from(format!("refresh-SECRET-{n}"))),
        expires_at: Some(1_900_000_000),
        scope: Some("read".to_owned()),
    }
}

fn settings(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

/// The pid of a process that existed and is now gone (exited and reaped).
pub fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("spawn `true`");
    let pid = child.id();
    child.wait().expect("reap `true`");
    pid
}

/// A live process, killed and reaped when dropped (also when the test panics).
pub struct Sleeper(pub Child);

impl Sleeper {
    pub fn start() -> Self {
        Self(
            Command::new("sleep")
                .arg("30")
                .spawn()
                .expect("spawn `sleep 30`"),
        )
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A holder on this machine with process `pid`.
pub fn local_holder(id: &str, pid: u32) -> LeaseHolder {
    LeaseHolder {
        id: id.to_owned(),
        pid,
        host: local_host_id().to_owned(),
    }
}

const LEASE_MS: i64 = 90_000;

/// An arbitrary moment (ms since the epoch) far from a UTC midnight.
const T0_MS: i64 = 1_000_000_000_000;

fn four_per_second(key: &str) -> LimitCharge {
    LimitCharge::Rolling {
        key: key.to_owned(),
        limit: 4,
        window_us: 1_010_000,
        interval_us: 252_500,
        inflight_cap_us: 61_000_000,
    }
}

fn daily(key: &str, now_ms: i64, limit: u64) -> LimitCharge {
    let start = now_ms.div_euclid(86_400_000) * 86_400_000;
    LimitCharge::Counter {
        key: key.to_owned(),
        window_start_ms: start,
        window_end_ms: start + 86_400_000,
        limit,
    }
}

/// Sends as fast as the limiter allows over `duration_ms` of simulated time, alternating between
/// handles, completing each request `latency_ms` after it is sent; returns the send times (ms
/// from the start).
async fn simulate(stores: &[Arc<dyn StateStore>], duration_ms: i64, latency_ms: i64) -> Vec<i64> {
    let charges = [four_per_second("k")];
    let mut now = T0_MS;
    let mut sent = Vec::new();
    let mut turn = 0;
    while now < T0_MS + duration_ms {
        let store = &stores[turn % stores.len()];
        match store.acquire(&charges, now).await.unwrap() {
            Admission::Granted { tickets } => {
                sent.push(now - T0_MS);
                store.complete(&tickets, now + latency_ms).await.unwrap();
                turn += 1;
            }
            Admission::Wait { wait_us } => now += (wait_us + 999) / 1000,
            Admission::Exhausted { .. } => panic!("no counter here"),
        }
    }
    sent
}

fn system_now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("fits")
}

// ----- connections -----

pub async fn connections_and_partner_settings_round_trip(backend: &impl Backend) {
    let db = backend.database().await;
    let store = backend.open(&db).await.unwrap();
    assert!(store.connections().await.unwrap().is_empty());
    assert_eq!(store.connection("main").await.unwrap(), None);
    assert!(
        store
            .partner_settings("constant-contact")
            .await
            .unwrap()
            .is_empty()
    );

    let record = ConnectionRecord {
        name: "main".to_owned(),
        connector_id: "constant-contact".to_owned(),
        settings: settings(
            json!({"client_secret": "hunter2-SECRET", "redirect_uri": "http://127.0.0.1/cb"}),
        ),
        endpoints: Some(Endpoints {
            base_url: "http://127.0.0.1:1/v3".to_owned(),
            authorize_url: Some("http://127.0.0.1:1/authorize".to_owned()),
            token_url: None,
        }),
    };
    let other = ConnectionRecord {
        name: "another".to_owned(),
        connector_id: "http".to_owned(),
        settings: settings(json!({"base_url": "http://127.0.0.1:2"})),
        endpoints: None,
    };
    store.put_connection(&record).await.unwrap();
    store.put_connection(&other).await.unwrap();
    store
        .set_partner_settings("constant-contact", &settings(json!({"client_id": "app"})))
        .await
        .unwrap();

    // Another handle sees it all at once.
    let second = backend.open(&db).await.unwrap();
    assert_eq!(
        second.connection("main").await.unwrap(),
        Some(record.clone())
    );
    assert_eq!(
        second.connections().await.unwrap(),
        vec![other.clone(), record.clone()],
        "by name"
    );
    assert_eq!(
        second.partner_settings("constant-contact").await.unwrap(),
        settings(json!({"client_id": "app"}))
    );
    assert!(second.partner_settings("http").await.unwrap().is_empty());

    // Replacing a connection keeps its tokens; partner settings are replaced whole.
    store.put_tokens("main", &tokens(1)).await.unwrap();
    let mut changed = record.clone();
    changed.endpoints = None;
    changed.settings.insert("scopes".to_owned(), json!("a b"));
    second.put_connection(&changed).await.unwrap();
    assert_eq!(store.connection("main").await.unwrap(), Some(changed));
    assert_eq!(store.tokens("main").await.unwrap().unwrap().version, 1);
    store
        .set_partner_settings("constant-contact", &settings(json!({"client_secret": "s"})))
        .await
        .unwrap();
    assert_eq!(
        second.partner_settings("constant-contact").await.unwrap(),
        settings(json!({"client_secret": "s"}))
    );

    let debug = format!("{record:?} {store:?}");
    assert!(!debug.contains("hunter2-SECRET"), "{debug}");

    assert!(store.delete_connection("main").await.unwrap());
    assert!(!second.delete_connection("main").await.unwrap());
    assert_eq!(second.connections().await.unwrap(), vec![other]);
}

// ----- tokens and the refresh lease -----

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

// ----- limits -----

pub async fn rolling_limits_admit_four_per_second_shared_by_two_handles(backend: &impl Backend) {
    let db = backend.database().await;
    let stores = [
        backend.open(&db).await.unwrap(),
        backend.open(&db).await.unwrap(),
    ];
    let sent = simulate(&stores, 2_000, 0).await;
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

pub async fn slow_responses_push_the_window_back(backend: &impl Backend) {
    let db = backend.database().await;
    let store = backend.open(&db).await.unwrap();
    // Each request is answered 400 ms after it is sent: the server may count it that late.
    let sent = simulate(&[store], 3_000, 400).await;
    assert!(sent.len() >= 6, "{sent:?}");
    for window in sent.windows(5) {
        assert!(window[4] - window[0] >= 1_400, "{sent:?}");
    }
}

pub async fn a_daily_quota_stops_at_its_limit_and_resets_at_utc_midnight(backend: &impl Backend) {
    let db = backend.database().await;
    let (a, b) = (
        backend.open(&db).await.unwrap(),
        backend.open(&db).await.unwrap(),
    );
    let day = 86_400_000 * 20_000;
    let late = day + 86_399_000;
    for store in [&a, &b] {
        assert!(matches!(
            store.acquire(&[daily("d", late, 2)], late).await.unwrap(),
            Admission::Granted { .. }
        ));
    }
    for store in [&a, &b] {
        assert_eq!(
            store.acquire(&[daily("d", late, 2)], late).await.unwrap(),
            Admission::Exhausted {
                resets_at_ms: day + 86_400_000
            }
        );
    }
    let next = day + 86_400_000;
    assert!(matches!(
        b.acquire(&[daily("d", next, 2)], next).await.unwrap(),
        Admission::Granted { .. }
    ));
    // The API saying the quota is used up wins over our count.
    a.exhaust("d", next.div_euclid(86_400_000) * 86_400_000, 2)
        .await
        .unwrap();
    assert_eq!(
        b.acquire(&[daily("d", next + 1, 2)], next + 1)
            .await
            .unwrap(),
        Admission::Exhausted {
            resets_at_ms: next + 86_400_000
        }
    );
}

pub async fn a_used_up_quota_charges_no_other_budget(backend: &impl Backend) {
    let db = backend.database().await;
    let store = backend.open(&db).await.unwrap();
    let now = T0_MS;
    // At 4/s and 3 a day: three go, the fourth is refused without taking a rolling slot.
    let charges = |now| [four_per_second("r"), daily("q", now, 3)];
    let mut t = now;
    let mut granted = 0;
    while granted < 3 {
        match store.acquire(&charges(t), t).await.unwrap() {
            Admission::Granted { tickets } => {
                assert_eq!(tickets.len(), 1, "one rolling slot");
                store.complete(&tickets, t).await.unwrap();
                granted += 1;
            }
            Admission::Wait { wait_us } => t += (wait_us + 999) / 1000,
            Admission::Exhausted { .. } => panic!("not yet"),
        }
    }
    t += 5_000;
    assert!(matches!(
        store.acquire(&charges(t), t).await.unwrap(),
        Admission::Exhausted { .. }
    ));
    // The rolling budget alone has room for a burst of 4 spaced requests: nothing was taken
    // from it by the refused one, and it never asks more than one interval of waiting.
    let mut rolling_grants = 0;
    let mut waited_us = 0;
    while rolling_grants < 4 {
        match store.acquire(&[four_per_second("r")], t).await.unwrap() {
            Admission::Granted { tickets } => {
                store.complete(&tickets, t).await.unwrap();
                rolling_grants += 1;
            }
            Admission::Wait { wait_us } => {
                assert!(wait_us <= 252_500, "{wait_us}");
                waited_us += wait_us;
                t += (wait_us + 999) / 1000;
            }
            Admission::Exhausted { .. } => panic!("no counter here"),
        }
    }
    assert!(waited_us <= 3 * 252_500 + 3_000, "{waited_us}");
}

/// Many tasks (each with its own handle, like processes) asking for one 4/s budget on the real
/// clock: whatever the interleaving, no window of the budget ever holds a fifth request.
pub async fn concurrent_admission_from_many_tasks_never_exceeds_the_rate(backend: &impl Backend) {
    const TASKS: usize = 12;
    const RUN: Duration = Duration::from_millis(2_500);
    let db = backend.database().await;
    let deadline = Instant::now() + RUN;
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let store = backend.open(&db).await.unwrap();
        tasks.push(tokio::spawn(async move {
            let charges = [four_per_second("shared")];
            let mut granted = Vec::new();
            // Bounded: by time, and each wait is at least a millisecond.
            while Instant::now() < deadline {
                let now = system_now_ms();
                match store.acquire(&charges, now).await.unwrap() {
                    Admission::Granted { tickets } => {
                        granted.push(now);
                        store.complete(&tickets, now).await.unwrap();
                    }
                    Admission::Wait { wait_us } => {
                        let wait = Duration::from_micros(wait_us.unsigned_abs())
                            .max(Duration::from_millis(1));
                        tokio::time::sleep(wait).await;
                    }
                    Admission::Exhausted { .. } => panic!("no counter here"),
                }
            }
            granted
        }));
    }
    let mut sent = Vec::new();
    for task in tasks {
        sent.extend(task.await.expect("no panic"));
    }
    sent.sort_unstable();
    // At most 4 per rolling 1.01 s: 10 in 2.5 s; at least more than one window's worth.
    assert!(
        (5..=10).contains(&sent.len()),
        "{} requests: {sent:?}",
        sent.len()
    );
    for (i, window) in sent.windows(5).enumerate() {
        assert!(
            window[4] - window[0] >= 1_010,
            "requests {i}..{} within {} ms: {sent:?}",
            i + 4,
            window[4] - window[0]
        );
    }
    for pair in sent.windows(2) {
        assert!(pair[1] - pair[0] >= 252, "spaced by the interval: {sent:?}");
    }
}

// ----- runs, journal, intents, cursors -----

pub async fn runs_and_their_journal_round_trip(backend: &impl Backend) {
    let db = backend.database().await;
    let (store, other) = (
        backend.open(&db).await.unwrap(),
        backend.open(&db).await.unwrap(),
    );
    assert!(store.runs().await.unwrap().is_empty());
    let run = store
        .create_run("examples/sync.json", "digest-1", &json!({"email": "a@b.c"}))
        .await
        .unwrap();
    let created = other.run(run).await.unwrap().unwrap();
    assert_eq!(created.status, RunStatus::Running);
    assert_eq!(created.workflow, "examples/sync.json");
    assert_eq!(created.error, None);
    assert_eq!(created.finished_at_ms, None);
    assert!((system_now_ms() - created.started_at_ms).abs() < 60_000);

    store
        .record_step(run, "find", &json!({"id": 1}))
        .await
        .unwrap();
    other
        .record_step(run, "add[0]", &json!(["x"]))
        .await
        .unwrap();
    store
        .record_step(run, "find", &json!({"id": 2}))
        .await
        .unwrap();
    assert_eq!(
        other.completed_steps(run).await.unwrap(),
        vec![
            ("find".to_owned(), json!({"id": 2})),
            ("add[0]".to_owned(), json!(["x"]))
        ],
        "in the order first recorded, the latest value"
    );
    store
        .finish_run(run, RunStatus::Failed, Some("HTTP 500"))
        .await
        .unwrap();
    let record = other.run(run).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(record.error.as_deref(), Some("HTTP 500"));
    assert_eq!(record.inputs, json!({"email": "a@b.c"}));
    assert_eq!(record.workflow_digest.as_deref(), Some("digest-1"));
    assert!(record.finished_at_ms.is_some());
    store
        .set_run_inputs(run, &json!({"email": "b@c.d"}))
        .await
        .unwrap();
    assert_eq!(
        other.run(run).await.unwrap().unwrap().inputs,
        json!({"email": "b@c.d"})
    );
    let second = other
        .create_run("other.json", "digest-2", &json!({}))
        .await
        .unwrap();
    assert_ne!(second, run);
    let ids: Vec<_> = store.runs().await.unwrap().iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![second, run], "newest first");
    assert!(other.completed_steps(second).await.unwrap().is_empty());

    let unknown = RunId(i64::MAX);
    assert_eq!(store.run(unknown).await.unwrap(), None);
    assert!(matches!(
        store.record_step(unknown, "x", &json!(1)).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.finish_run(unknown, RunStatus::Completed, None).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_run_inputs(unknown, &json!({})).await,
        Err(StoreError::NotFound(_))
    ));
}

/// A worker appends a run's events (from several threads); the process that started the run
/// reads them from another handle, page by page, each exactly once and in order.
pub async fn a_runs_events_are_read_elsewhere_in_order_and_in_pages(backend: &impl Backend) {
    let db = backend.database().await;
    let (writer, reader) = (
        Arc::new(backend.open(&db).await.unwrap()),
        backend.open(&db).await.unwrap(),
    );
    let run = writer
        .create_run("w.json", "digest", &json!({}))
        .await
        .unwrap();
    let other = writer
        .create_run("x.json", "digest", &json!({}))
        .await
        .unwrap();
    assert!(
        reader
            .run_events_after(run, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    writer
        .append_run_event(other, &json!({"event": "elsewhere"}))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..4)
        .map(|task| {
            let writer = Arc::clone(&writer);
            tokio::spawn(async move {
                for n in 0..10 {
                    writer
                        .append_run_event(run, &json!({"event": "item", "task": task, "n": n}))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = reader.run_events_after(run, after, 7).await.unwrap();
        assert!(page.len() <= 7);
        let Some(&(last, _)) = page.last() else { break };
        assert!(page.iter().all(|(seq, _)| *seq > after));
        after = last;
        seen.extend(page.into_iter().map(|(_, event)| event));
    }
    assert_eq!(seen.len(), 40, "every event once, none of the other run's");
    for task in 0..4 {
        let ns: Vec<_> = seen
            .iter()
            .filter(|e| e["task"] == task)
            .map(|e| e["n"].as_i64().unwrap())
            .collect();
        assert_eq!(
            ns,
            (0..10).collect::<Vec<_>>(),
            "each writer's events in its order"
        );
    }
    assert_eq!(
        reader.run_events_after(other, 0, 10).await.unwrap(),
        vec![(
            reader.run_events_after(other, 0, 1).await.unwrap()[0].0,
            json!({"event": "elsewhere"})
        )]
    );
    assert!(matches!(
        writer.append_run_event(RunId(i64::MAX), &json!({})).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn a_run_is_claimed_for_a_resume_unless_completed(backend: &impl Backend) {
    let db = backend.database().await;
    let store = backend.open(&db).await.unwrap();
    assert_eq!(
        store.claim_run(RunId(i64::MAX)).await.unwrap(),
        RunClaim::Unknown
    );
    let run = store.create_run("w.json", "d", &json!({})).await.unwrap();
    store
        .finish_run(run, RunStatus::Failed, Some("boom"))
        .await
        .unwrap();
    assert_eq!(
        store.claim_run(run).await.unwrap(),
        RunClaim::Claimed { elsewhere: None }
    );
    let claimed = store.run(run).await.unwrap().unwrap();
    assert_eq!(
        (claimed.status, claimed.error, claimed.finished_at_ms),
        (RunStatus::Running, None, None)
    );
    // Running in this very process: claiming it again is this process's own resume.
    assert_eq!(
        store.claim_run(run).await.unwrap(),
        RunClaim::Claimed { elsewhere: None }
    );
    store
        .finish_run(run, RunStatus::Completed, None)
        .await
        .unwrap();
    assert_eq!(store.claim_run(run).await.unwrap(), RunClaim::Completed);
}

/// Intents are journal entries; the runner's journal reads them back after a restart (a new
/// journal over a new handle) as pending until an output or a clear settles them.
pub async fn intents_survive_a_restart_until_settled(backend: &impl Backend) {
    let db = backend.database().await;
    let store = backend.open(&db).await.unwrap();
    let run = store.create_run("w.json", "d", &json!({})).await.unwrap();
    let before_restart = backend.open(&db).await.unwrap();
    let after_restart = backend.open(&db).await.unwrap();
    let handle = tokio::runtime::Handle::current();
    // The journal is synchronous: it runs on a blocking thread, like the engine.
    tokio::task::spawn_blocking(move || {
        let journal = StoreJournal::open(before_restart.as_ref(), handle.clone(), run).unwrap();
        journal.record_intent("create").unwrap();
        journal.record_intent("update").unwrap();
        journal.record_intent("delete").unwrap();
        journal.record("update", &json!({"ok": true})).unwrap();
        journal.clear_intent("delete").unwrap();
        assert!(journal.intent_pending("create"));
        drop(journal);

        let resumed = StoreJournal::open(after_restart.as_ref(), handle, run).unwrap();
        assert_eq!(resumed.pending_intents(), vec!["create".to_owned()]);
        assert_eq!(resumed.completed("update"), Some(json!({"ok": true})));
        assert_eq!(resumed.resumed_entries(), 1);
        assert_eq!(resumed.completed("create"), None);
    })
    .await
    .expect("no panic");
}

pub async fn trigger_cursors_round_trip(backend: &impl Backend) {
    let db = backend.database().await;
    let (a, b) = (
        backend.open(&db).await.unwrap(),
        backend.open(&db).await.unwrap(),
    );
    assert_eq!(a.cursor("trigger/w/c/m/{}").await.unwrap(), None);
    a.set_cursor("trigger/w/c/m/{}", &json!("2026-11-26T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        b.cursor("trigger/w/c/m/{}").await.unwrap(),
        Some(json!("2026-11-26T00:00:00Z"))
    );
    b.set_cursor("trigger/w/c/m/{}", &json!({"since": 5}))
        .await
        .unwrap();
    assert_eq!(
        a.cursor("trigger/w/c/m/{}").await.unwrap(),
        Some(json!({"since": 5}))
    );
    assert_eq!(a.cursor("another").await.unwrap(), None);
}

// ----- the schema -----

pub async fn a_database_of_a_newer_schema_is_refused(backend: &impl Backend) {
    let db = backend.database().await;
    let store = backend.open(&db).await.unwrap();
    store.put_tokens("c", &tokens(1)).await.unwrap();
    drop(store);
    backend.pretend_newer_schema(&db).await;
    match backend.open(&db).await {
        Err(StoreError::TooNew { found, supported }) => assert!(found > supported),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("a newer schema was opened"),
    }
}
