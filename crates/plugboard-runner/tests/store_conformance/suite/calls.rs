//! Claims on calls that must take effect at most once, by attempts that may overlap (the pieces
//! of a run on Temporal): one attempt holds a call until it is answered or its lease lapses.

use std::time::Duration;

use plugboard_runner::store::{CallClaim, LeaseHolder, local_host_id};
use plugboard_runner::workflow::StoreJournal;
use plugboard_runner::{RunId, StoreError};
use plugboard_workflow::{CallClaim as EngineClaim, Journal as _};
use serde_json::json;

use super::{Backend, dead_pid};

const MINUTE_MS: i64 = 60_000;

fn attempt(id: &str) -> LeaseHolder {
    LeaseHolder::this_process(id)
}

/// One attempt holds a call; another waits while it lives and holds it, and takes over once its
/// lease lapses or its process is dead, knowing the call's outcome is unknown; an answered call
/// is the other attempt's answer; a cleared intent is a fresh call.
pub async fn a_call_is_claimed_by_one_attempt_at_a_time(backend: &impl Backend) {
    let db = backend.database().await;
    let (store, other) = (
        backend.open(&db).await.unwrap(),
        backend.open(&db).await.unwrap(),
    );
    let run = store.queue_run("w.json", "d", &json!({})).await.unwrap();
    let (a, b) = (attempt("a"), attempt("b"));

    let taken = store
        .claim_call(run, "create", &a, MINUTE_MS)
        .await
        .unwrap();
    assert_eq!(taken, CallClaim::Taken { unknown: false });
    let waiting = other
        .claim_call(run, "create", &b, MINUTE_MS)
        .await
        .unwrap();
    assert!(
        matches!(waiting, CallClaim::Held { until_ms } if until_ms > 0),
        "{waiting:?}"
    );
    let renewed = store
        .claim_call(run, "create", &a, MINUTE_MS)
        .await
        .unwrap();
    assert_eq!(renewed, CallClaim::Taken { unknown: false });
    store
        .record_step(run, "create", &json!({"id": 7}))
        .await
        .unwrap();
    assert_eq!(
        other
            .claim_call(run, "create", &b, MINUTE_MS)
            .await
            .unwrap(),
        CallClaim::Done(json!({"id": 7}))
    );

    // A lapsed lease: its holder may be alive but unreachable; the call may have gone out.
    store.claim_call(run, "send", &a, 1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        other.claim_call(run, "send", &b, MINUTE_MS).await.unwrap(),
        CallClaim::Taken { unknown: true }
    );
    assert!(matches!(
        store.claim_call(run, "send", &a, MINUTE_MS).await.unwrap(),
        CallClaim::Held { .. }
    ));

    // A holder whose process is provably dead is not waited for.
    let dead = LeaseHolder {
        id: "dead".to_owned(),
        pid: dead_pid(),
        host: local_host_id().to_owned(),
    };
    store
        .claim_call(run, "import", &dead, MINUTE_MS)
        .await
        .unwrap();
    assert_eq!(
        other
            .claim_call(run, "import", &b, MINUTE_MS)
            .await
            .unwrap(),
        CallClaim::Taken { unknown: true }
    );

    // Settled intents: a cleared one is a fresh call; one pending without a lease, unknown.
    store
        .record_step(run, "#intent cleared", &json!(false))
        .await
        .unwrap();
    store
        .record_step(run, "#intent pending", &json!(true))
        .await
        .unwrap();
    assert_eq!(
        other
            .claim_call(run, "cleared", &b, MINUTE_MS)
            .await
            .unwrap(),
        CallClaim::Taken { unknown: false }
    );
    assert_eq!(
        other
            .claim_call(run, "pending", &b, MINUTE_MS)
            .await
            .unwrap(),
        CallClaim::Taken { unknown: true }
    );
    assert!(matches!(
        store.claim_call(RunId(i64::MAX), "x", &a, 1).await,
        Err(StoreError::NotFound(_))
    ));
}

/// A call answered without effect is released by its holder only: an attempt whose lease lapsed
/// and was taken over leaves the new holder's lease be, so a third attempt still waits for it.
pub async fn only_the_holder_of_a_call_releases_it(backend: &impl Backend) {
    let db = backend.database().await;
    let (store, other) = (
        backend.open(&db).await.unwrap(),
        backend.open(&db).await.unwrap(),
    );
    let run = store.queue_run("w.json", "d", &json!({})).await.unwrap();
    let (a, b, c) = (attempt("a"), attempt("b"), attempt("c"));

    store.claim_call(run, "add", &a, MINUTE_MS).await.unwrap();
    assert!(!other.release_call(run, "add", &b).await.unwrap());
    assert!(matches!(
        other.claim_call(run, "add", &b, MINUTE_MS).await.unwrap(),
        CallClaim::Held { .. }
    ));
    assert!(store.release_call(run, "add", &a).await.unwrap());
    assert_eq!(
        store.journal_entry(run, "#intent add").await.unwrap(),
        Some(json!(false))
    );
    assert_eq!(
        other.claim_call(run, "add", &b, MINUTE_MS).await.unwrap(),
        CallClaim::Taken { unknown: false }
    );

    // `a`'s lease lapses, `b` takes the call over; `a`'s answer comes back without effect.
    store.claim_call(run, "send", &a, 1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    other.claim_call(run, "send", &b, MINUTE_MS).await.unwrap();
    assert!(!store.release_call(run, "send", &a).await.unwrap());
    assert!(matches!(
        store.claim_call(run, "send", &c, MINUTE_MS).await.unwrap(),
        CallClaim::Held { .. }
    ));
    // An intent without a lease is no attempt's to release.
    store
        .record_step(run, "#intent old", &json!(true))
        .await
        .unwrap();
    assert!(!store.release_call(run, "old", &a).await.unwrap());
    assert!(matches!(
        store.release_call(RunId(i64::MAX), "x", &a).await,
        Err(StoreError::NotFound(_))
    ));
}

/// The engine's journal of a run's piece claims its calls through the store: a second attempt's
/// journal finds the call held, then answered; a resumed journal reads a held call as pending.
pub async fn journals_of_overlapping_attempts_claim_calls_through_the_store(
    backend: &impl Backend,
) {
    let db = backend.database().await;
    let (store, other) = (
        backend.open(&db).await.unwrap(),
        backend.open(&db).await.unwrap(),
    );
    let run = store.queue_run("w.json", "d", &json!({})).await.unwrap();
    let handle = tokio::runtime::Handle::current();
    // The journal is synchronous: it runs on a blocking thread, like the engine.
    tokio::task::spawn_blocking(move || {
        let first = StoreJournal::open(store.as_ref(), handle.clone(), run)
            .unwrap()
            .claiming_calls();
        let second = StoreJournal::open_keys(
            other.as_ref(),
            handle.clone(),
            run,
            ["each[0]".to_owned(), "each[1]".to_owned()],
        )
        .unwrap()
        .claiming_calls();
        assert!(first.claim_renewal().is_some() && second.claim_renewal().is_some());
        assert_eq!(
            first.claim_call("each[0]").unwrap(),
            EngineClaim::Taken { unknown: false }
        );
        first.hold_call("each[0]").unwrap();
        assert_eq!(second.claim_call("each[0]").unwrap(), EngineClaim::Held);
        let resumed = StoreJournal::open(other.as_ref(), handle.clone(), run).unwrap();
        assert_eq!(resumed.pending_intents(), vec!["each[0]".to_owned()]);
        first.record("each[0]", &json!({"id": 1})).unwrap();
        assert_eq!(
            second.claim_call("each[0]").unwrap(),
            EngineClaim::Done(json!({"id": 1}))
        );
        // A journal that does not claim with leases keeps the one-process rules.
        let alone = StoreJournal::open(store.as_ref(), handle, run).unwrap();
        assert_eq!(alone.claim_renewal(), None);
        assert_eq!(
            alone.claim_call("each[1]").unwrap(),
            EngineClaim::Taken { unknown: false }
        );
        assert_eq!(
            second.claim_call("each[1]").unwrap(),
            EngineClaim::Taken { unknown: true },
            "an intent without a lease is an earlier attempt's unanswered call"
        );
        // Claimed again by the attempt that sent it and settled nothing (a step retry after a
        // lost answer whose effect could not be looked up): unknown, though the lease is its own.
        assert_eq!(
            second.claim_call("each[1]").unwrap(),
            EngineClaim::Taken { unknown: true }
        );
        second.clear_intent("each[1]").unwrap();
        assert_eq!(
            second.claim_call("each[1]").unwrap(),
            EngineClaim::Taken { unknown: false },
            "cleared, it is a fresh call"
        );
        assert_eq!(
            second.claim_call("each[1]").unwrap(),
            EngineClaim::Taken { unknown: true }
        );
        second.record("each[1]", &json!({"id": 2})).unwrap();
        assert_eq!(
            second.claim_call("each[1]").unwrap(),
            EngineClaim::Done(json!({"id": 2}))
        );
    })
    .await
    .expect("no panic");
}
