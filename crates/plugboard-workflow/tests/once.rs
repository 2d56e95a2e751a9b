//! Calls of methods that are not idempotent take effect at most once: a call sent and never
//! answered is not sent again by a step retry or a resume unless its method finds that it had no
//! effect; otherwise the run stops on it for a person to settle.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::{FakeCatalog, FakeRunner, workflow};
use plugboard_core::ConnectorError;
use plugboard_workflow::{
    Failure, Journal as _, MemoryJournal, NoObserver, RunError, ValidWorkflow, run, validate,
};
use serde_json::{Map, Value, json};

fn valid(steps: Value) -> ValidWorkflow {
    validate(&workflow(json!({}), steps, json!({})), &FakeCatalog::new())
        .unwrap_or_else(|problems| panic!("invalid: {problems:?}"))
}

fn lost_answer() -> ConnectorError {
    ConnectorError::OutcomeUnknown {
        message: "the connection closed before the answer".into(),
    }
}

fn unknown_key(error: &RunError) -> &str {
    match error {
        RunError::StepFailed {
            failure: Failure::OutcomeUnknown { key, .. },
            ..
        } => key,
        other => panic!("expected an unknown outcome, got {other}"),
    }
}

#[test]
fn a_lost_answer_is_never_retried_blindly_nor_resent_by_a_resume() {
    let wf = valid(json!([{
        "id": "add", "call": "acme.contacts.create", "input": {"email": "a@b.c"},
        "on_error": {"retry": {"attempts": 3, "backoff_ms": 1}}
    }]));
    let journal = MemoryJournal::new();
    let runner = FakeRunner::new(|_, _, _| Err(lost_answer()));
    let error = run(&wf, Map::new(), &runner, &journal, &NoObserver).expect_err("unknown");
    assert_eq!(unknown_key(&error), "add");
    assert_eq!(runner.call_count(), 1, "retries do not resend it");
    let message = error.to_string();
    assert!(message.contains("--mark-done add"), "{message}");
    assert!(message.contains("--resend add"), "{message}");
    assert!(journal.intent_pending("add"));

    // A resume meets the same unsettled call and sends nothing.
    let resumed = FakeRunner::echo();
    let again = run(&wf, Map::new(), &resumed, &journal, &NoObserver).expect_err("unsettled");
    assert_eq!(unknown_key(&again), "add");
    assert_eq!(resumed.call_count(), 0);

    // Told it had no effect (`--resend`), the resume sends it once.
    journal.clear_intent("add").expect("cleared");
    run(&wf, Map::new(), &resumed, &journal, &NoObserver).expect("sent again");
    assert_eq!(resumed.call_count(), 1);
    assert!(!journal.intent_pending("add"));
}

#[test]
fn a_method_that_finds_the_effect_settles_a_lost_answer_itself() {
    let wf = valid(json!([{
        "id": "tag", "call": "acme.tags.create", "input": {"name": "vip"},
        "on_error": {"retry": {"attempts": 3, "backoff_ms": 1}}
    }]));
    // The create's answer is lost, but the tag was made: the lookup finds it.
    let runner = FakeRunner::new(|method, _, _| match method {
        "tags.create" => Err(lost_answer()),
        "tags.create#find-effect" => Ok(json!({"id": "t1", "name": "vip"})),
        other => panic!("unexpected call {other}"),
    });
    let journal = MemoryJournal::new();
    let outcome = run(&wf, Map::new(), &runner, &journal, &NoObserver).expect("settled");
    assert_eq!(outcome.steps[0].output, json!({"id": "t1", "name": "vip"}));
    assert_eq!(runner.calls_to("tags.create"), 1, "not sent twice");
    assert_eq!(runner.calls_to("tags.create#find-effect"), 1);
    assert!(journal.completed("tag").is_some());

    // The answer is lost and the tag was not made: the retry sends it again.
    let attempts = AtomicUsize::new(0);
    let runner = FakeRunner::new(move |method, _, _| match method {
        "tags.create" if attempts.fetch_add(1, Ordering::SeqCst) == 0 => Err(lost_answer()),
        "tags.create" => Ok(json!({"id": "t2"})),
        "tags.create#find-effect" => Ok(Value::Null),
        other => panic!("unexpected call {other}"),
    });
    run(&wf, Map::new(), &runner, &MemoryJournal::new(), &NoObserver).expect("sent again");
    assert_eq!(runner.calls_to("tags.create"), 2);
    assert_eq!(runner.calls_to("tags.create#find-effect"), 1);
}

/// A lost answer whose effect lookup fails too (the API unreachable for a moment): the step's
/// retry looks again before it sends anything, whether claims are one process's or leases. The
/// engine relies on the journal's contract (`Journal::claim_call`: a call this attempt claimed and
/// never settled is `unknown`); the leased journal here follows it, and the store's journal is
/// held to it by the conformance suite (`journals_of_overlapping_attempts_claim_calls_through_the_store`).
#[test]
fn a_retry_after_a_failed_effect_lookup_looks_again_and_sends_nothing_twice() {
    let wf = valid(json!([{
        "id": "tag", "call": "acme.tags.create", "input": {"name": "vip"},
        "on_error": {"retry": {"attempts": 3, "backoff_ms": 1}}
    }]));
    // The create took effect; the first lookup cannot reach the API, the second finds the tag.
    let runner = || {
        let lookups = AtomicUsize::new(0);
        FakeRunner::new(move |method, _, _| match method {
            "tags.create" => Err(lost_answer()),
            "tags.create#find-effect" if lookups.fetch_add(1, Ordering::SeqCst) == 0 => {
                Err(ConnectorError::Transport {
                    message: "connection refused".into(),
                })
            }
            "tags.create#find-effect" => Ok(json!({"id": "t1", "name": "vip"})),
            other => panic!("unexpected call {other}"),
        })
    };
    let memory = MemoryJournal::new();
    let shared = overlapping::Shared::default();
    let leased = overlapping::Attempt {
        shared: &shared,
        name: "only",
    };
    let journals: [&dyn plugboard_workflow::Journal; 2] = [&memory, &leased];
    for journal in journals {
        let runner = runner();
        let outcome = run(&wf, Map::new(), &runner, journal, &NoObserver).expect("settled");
        assert_eq!(outcome.steps[0].output, json!({"id": "t1", "name": "vip"}));
        assert_eq!(runner.calls_to("tags.create"), 1, "sent once");
        assert_eq!(runner.calls_to("tags.create#find-effect"), 2);
    }
}

#[test]
fn an_answered_failure_clears_the_intent_and_retries_as_before() {
    let wf = valid(json!([{
        "id": "add", "call": "acme.contacts.create", "input": {"email": "a@b.c"},
        "on_error": {"retry": {"attempts": 2, "backoff_ms": 1}}
    }]));
    let attempts = AtomicUsize::new(0);
    let runner = FakeRunner::new(move |_, _, _| {
        if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
            Err(ConnectorError::Api {
                status: 503,
                errors: vec![],
            })
        } else {
            Ok(json!({"id": 1}))
        }
    });
    let journal = MemoryJournal::new();
    run(&wf, Map::new(), &runner, &journal, &NoObserver).expect("second attempt");
    assert_eq!(runner.call_count(), 2);
    assert!(!journal.intent_pending("add"));
}

#[test]
fn a_resumed_stream_of_creates_skips_the_calls_that_completed() {
    let wf = valid(json!([
        {"id": "rows", "call": "acme.contacts.export"},
        {"id": "add", "for_each": "{{ steps.rows.records }}", "as": "row",
         "call": "acme.contacts.create", "input": {"email": "{{ row.email }}"}}
    ]));
    let handler = |fail_at: Option<&'static str>| {
        move |method: &str,
              input: &Value,
              on_record: &mut dyn FnMut(Value) -> Result<(), ConnectorError>| {
            match method {
                "contacts.export" => {
                    for n in 0..5 {
                        on_record(json!({"email": format!("{n}@x.y")}))?;
                    }
                    Ok(json!({"count": 5}))
                }
                _ if Some(input["email"].as_str().unwrap_or_default()) == fail_at => {
                    Err(ConnectorError::Api {
                        status: 400,
                        errors: vec![],
                    })
                }
                _ => Ok(json!({"created": input["email"]})),
            }
        }
    };
    let journal = MemoryJournal::new();
    let first = FakeRunner::new(handler(Some("3@x.y")));
    run(&wf, Map::new(), &first, &journal, &NoObserver).expect_err("fails at the fourth");
    assert_eq!(first.calls_to("contacts.create"), 4);

    let resumed = FakeRunner::new(handler(None));
    run(&wf, Map::new(), &resumed, &journal, &NoObserver).expect("completes");
    let sent: Vec<Value> = resumed
        .calls
        .lock()
        .expect("lock")
        .iter()
        .filter(|(method, _)| method == "contacts.create")
        .map(|(_, input)| input["email"].clone())
        .collect();
    assert_eq!(
        sent,
        vec![json!("3@x.y"), json!("4@x.y")],
        "only what did not complete"
    );
}

/// Two attempts sharing one run's journal, whose claims on calls lapse unless held: what the
/// pieces of a run on Temporal see in the state store (`StoreJournal::claiming_calls`).
mod overlapping {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use plugboard_workflow::{CallClaim, Journal, JournalError};
    use serde_json::Value;

    /// How long a claim lasts unless held again.
    pub const LEASE: Duration = Duration::from_millis(150);

    #[derive(Default)]
    pub struct Shared {
        entries: Mutex<HashMap<String, Value>>,
        /// Each claimed call's holder and when its lease lapses.
        claims: Mutex<HashMap<String, (&'static str, Instant)>>,
        pub renewals: Mutex<usize>,
    }

    /// One attempt's view of the shared journal.
    pub struct Attempt<'s> {
        pub shared: &'s Shared,
        pub name: &'static str,
    }

    impl Journal for Attempt<'_> {
        fn completed(&self, key: &str) -> Option<Value> {
            self.shared.entries.lock().expect("lock").get(key).cloned()
        }

        fn record(&self, key: &str, output: &Value) -> Result<(), JournalError> {
            let mut entries = self.shared.entries.lock().expect("lock");
            entries.insert(key.to_owned(), output.clone());
            Ok(())
        }

        fn record_intent(&self, _key: &str) -> Result<(), JournalError> {
            unreachable!("calls are claimed, not intended")
        }

        fn intent_pending(&self, key: &str) -> bool {
            self.shared.claims.lock().expect("lock").contains_key(key)
        }

        fn clear_intent(&self, key: &str) -> Result<(), JournalError> {
            self.shared.claims.lock().expect("lock").remove(key);
            Ok(())
        }

        fn claim_call(&self, key: &str) -> Result<CallClaim, JournalError> {
            if let Some(output) = self.completed(key) {
                return Ok(CallClaim::Done(output));
            }
            let mut claims = self.shared.claims.lock().expect("lock");
            let unknown = match claims.get(key) {
                Some((holder, until)) if *holder != self.name && *until > Instant::now() => {
                    return Ok(CallClaim::Held);
                }
                // A lapsed claim of another attempt, or this attempt's own unsettled one.
                Some(_) => true,
                None => false,
            };
            claims.insert(key.to_owned(), (self.name, Instant::now() + LEASE));
            Ok(CallClaim::Taken { unknown })
        }

        fn claim_renewal(&self) -> Option<Duration> {
            Some(LEASE / 3)
        }

        fn hold_call(&self, key: &str) -> Result<(), JournalError> {
            let mut claims = self.shared.claims.lock().expect("lock");
            if let Some((holder, until)) = claims.get_mut(key)
                && *holder == self.name
            {
                *until = Instant::now() + LEASE;
                *self.shared.renewals.lock().expect("lock") += 1;
            }
            Ok(())
        }
    }
}

#[test]
fn an_attempt_overlapping_one_still_sending_waits_for_its_answer_and_sends_nothing() {
    use plugboard_workflow::{Piece, PieceOutcome, RunOptions, run_piece};

    let wf =
        valid(json!([{"id": "add", "call": "acme.contacts.create", "input": {"email": "a@b.c"}}]));
    // The call takes four leases: only renewals keep the first attempt's claim alive.
    let runner = FakeRunner::new(|_, _, _| {
        std::thread::sleep(overlapping::LEASE * 4);
        Ok(json!({"contact_id": "c-1"}))
    });
    let shared = overlapping::Shared::default();
    let attempt = |name| {
        let journal = overlapping::Attempt {
            shared: &shared,
            name,
        };
        let options = RunOptions::default();
        run_piece(
            &wf,
            Map::new(),
            &runner,
            &journal,
            &NoObserver,
            &options,
            Piece::Step { step: 0 },
        )
    };
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| attempt("first"));
        std::thread::sleep(overlapping::LEASE / 2);
        let second = scope.spawn(|| attempt("second"));
        (first.join().expect("first"), second.join().expect("second"))
    });
    assert_eq!(runner.calls_to("contacts.create"), 1, "sent once");
    for outcome in [first, second] {
        assert_eq!(
            outcome.expect("done"),
            PieceOutcome::StepDone { next: None }
        );
    }
    assert!(
        *shared.renewals.lock().expect("lock") >= 3,
        "held while in flight"
    );
    let journal = overlapping::Attempt {
        shared: &shared,
        name: "later",
    };
    assert_eq!(journal.completed("add"), Some(json!({"contact_id": "c-1"})));
}
