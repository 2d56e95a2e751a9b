//! Runs, their journal, intents and events, claims, and trigger cursors.

use std::sync::Arc;

use plugboard_runner::store::RunClaim;
use plugboard_runner::workflow::{StoreJournal, record_outputs, recorded_outputs};
use plugboard_runner::{RunId, RunStatus, StoreError};
use plugboard_workflow::Journal as _;
use serde_json::json;

use super::{Backend, system_now_ms};

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
        RunClaim::Claimed {
            elsewhere: None,
            cancel_requested: false
        }
    );
    let claimed = store.run(run).await.unwrap().unwrap();
    assert_eq!(
        (claimed.status, claimed.error, claimed.finished_at_ms),
        (RunStatus::Running, None, None)
    );
    // Running in this very process: claiming it again is this process's own resume.
    assert_eq!(
        store.claim_run(run).await.unwrap(),
        RunClaim::Claimed {
            elsewhere: None,
            cancel_requested: false
        }
    );
    store
        .finish_run(run, RunStatus::Completed, None)
        .await
        .unwrap();
    assert_eq!(store.claim_run(run).await.unwrap(), RunClaim::Completed);
}

/// A run that several processes may end (pieces of a run on Temporal) keeps the first end.
pub async fn the_first_end_of_a_run_is_its_end(backend: &impl Backend) {
    let db = backend.database().await;
    let store = backend.open(&db).await.unwrap();
    let other = backend.open(&db).await.unwrap();
    assert!(
        !store
            .end_run(RunId(i64::MAX), RunStatus::Failed, None)
            .await
            .unwrap()
    );
    let run = store.queue_run("w.json", "d", &json!({})).await.unwrap();
    assert!(
        store
            .end_run(run, RunStatus::Failed, Some("step `a` failed"))
            .await
            .unwrap()
    );
    assert!(
        !other
            .end_run(run, RunStatus::Cancelled, Some("its piece was cancelled"))
            .await
            .unwrap()
    );
    let ended = other.run(run).await.unwrap().unwrap();
    assert_eq!(
        (ended.status, ended.error.as_deref()),
        (RunStatus::Failed, Some("step `a` failed"))
    );
    assert!(ended.finished_at_ms.is_some());
    // A running run ends too, and a completed one stays completed.
    let running = store.create_run("w.json", "d", &json!({})).await.unwrap();
    assert!(
        store
            .end_run(running, RunStatus::Completed, None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .end_run(running, RunStatus::Failed, Some("late"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.run(running).await.unwrap().unwrap().status,
        RunStatus::Completed
    );
}

/// A cancellation asked for by another process stays until the run is claimed again or ends;
/// an ended run cannot be asked to cancel.
pub async fn a_cancellation_is_asked_for_across_processes(backend: &impl Backend) {
    let db = backend.database().await;
    let store = backend.open(&db).await.unwrap();
    let other = backend.open(&db).await.unwrap();
    assert!(!store.request_cancel(RunId(i64::MAX)).await.unwrap());
    let run = store.create_run("w.json", "d", &json!({})).await.unwrap();
    assert!(store.cancels_requested(&[run]).await.unwrap().is_empty());
    assert!(other.request_cancel(run).await.unwrap());
    assert_eq!(store.cancels_requested(&[run]).await.unwrap(), vec![run]);
    store
        .finish_run(run, RunStatus::Cancelled, Some("asked"))
        .await
        .unwrap();
    assert!(store.cancels_requested(&[run]).await.unwrap().is_empty());
    assert!(!other.request_cancel(run).await.unwrap(), "it has ended");
    // A claim says whether a cancellation was pending, and clears it: the new attempt is not
    // stopped by it unless its resumer chooses so.
    assert!(matches!(
        store.claim_run(run).await.unwrap(),
        RunClaim::Claimed {
            cancel_requested: false,
            ..
        }
    ));
    assert!(other.request_cancel(run).await.unwrap());
    assert!(matches!(
        store.claim_run(run).await.unwrap(),
        RunClaim::Claimed {
            cancel_requested: true,
            ..
        }
    ));
    assert!(store.cancels_requested(&[run]).await.unwrap().is_empty());
    let queued = store.queue_run("w.json", "d", &json!({})).await.unwrap();
    assert!(other.request_cancel(queued).await.unwrap());
    assert_eq!(
        store.cancels_requested(&[queued]).await.unwrap(),
        vec![queued]
    );
    // Many runs are read at once: only those asked to cancel come back, unknown ones ignored.
    let asked = store
        .cancels_requested(&[run, queued, RunId(i64::MAX)])
        .await
        .unwrap();
    assert_eq!(asked, vec![queued]);
    assert!(store.cancels_requested(&[]).await.unwrap().is_empty());
}

/// A run started on Temporal waits `queued`, unfinished, until a worker claims it; once it
/// completed, its journaled outputs are there for a worker whose answer was lost, and the
/// engine's journal does not mistake them for a step.
pub async fn a_queued_run_is_claimed_and_its_outputs_kept(backend: &impl Backend) {
    let db = backend.database().await;
    let store = backend.open(&db).await.unwrap();
    let run = store.queue_run("w.json", "d", &json!({})).await.unwrap();
    let queued = store.run(run).await.unwrap().unwrap();
    assert_eq!(
        (queued.status, queued.error, queued.finished_at_ms),
        (RunStatus::Queued, None, None)
    );
    let worker = backend.open(&db).await.unwrap();
    assert_eq!(
        worker.claim_run(run).await.unwrap(),
        RunClaim::Claimed {
            elsewhere: None,
            cancel_requested: false
        }
    );
    assert_eq!(
        worker.run(run).await.unwrap().unwrap().status,
        RunStatus::Running
    );

    assert_eq!(recorded_outputs(worker.as_ref(), run).await.unwrap(), None);
    worker
        .record_step(run, "fetch", &json!({"n": 1}))
        .await
        .unwrap();
    let outputs = json!({"members": 3});
    record_outputs(worker.as_ref(), run, &outputs)
        .await
        .unwrap();
    worker
        .finish_run(run, RunStatus::Completed, None)
        .await
        .unwrap();
    assert_eq!(
        recorded_outputs(store.as_ref(), run).await.unwrap(),
        Some(outputs)
    );
    let journal = tokio::task::spawn_blocking({
        let store = Arc::clone(&store);
        move || {
            let handle = tokio::runtime::Handle::current();
            let journal = StoreJournal::open(store.as_ref(), handle, run).unwrap();
            (journal.resumed_entries(), journal.completed("#outputs"))
        }
    })
    .await
    .unwrap();
    assert_eq!(journal, (1, None), "only the step is a journal entry");
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
