//! A run in pieces (what Temporal schedules as activities) against a fake step runner: the
//! pieces make each call once, in any order, and the whole run resumed afterwards makes none and
//! ends as a run in one go would.

mod common;

use std::collections::VecDeque;

use common::{FakeCatalog, FakeRunner, workflow};
use plugboard_core::ConnectorError;
use plugboard_workflow::{
    Failure, MemoryJournal, NoObserver, Piece, PieceOutcome, RunError, RunOptions, ValidWorkflow,
    run, run_piece, validate,
};
use serde_json::{Map, Value, json};

fn valid(source: &str) -> ValidWorkflow {
    validate(source, &FakeCatalog::new()).unwrap_or_else(|problems| {
        panic!("invalid workflow: {problems:?}");
    })
}

fn piece(
    wf: &ValidWorkflow,
    runner: &FakeRunner,
    journal: &MemoryJournal,
    piece: Piece,
) -> Result<PieceOutcome, RunError> {
    run_piece(
        wf,
        Map::new(),
        runner,
        journal,
        &NoObserver,
        &RunOptions::default(),
        piece,
    )
}

/// Drives a run's pieces as the Temporal workflow does, but with a loop's calls taken last
/// first (any order must do), up to the run's end; returns the pieces run and the outputs.
fn drive(
    wf: &ValidWorkflow,
    runner: &FakeRunner,
    journal: &MemoryJournal,
) -> (Vec<Piece>, Map<String, Value>) {
    let mut ran = Vec::new();
    let mut next = Some(0);
    while let Some(step) = next {
        ran.push(Piece::Step { step });
        match piece(wf, runner, journal, Piece::Step { step }).expect("step piece") {
            PieceOutcome::StepDone { next: after } => next = after,
            PieceOutcome::Items { calls, .. } => {
                let mut items: VecDeque<u64> = (0..calls).collect();
                while let Some(item) = items.pop_back() {
                    ran.push(Piece::Item { step, item });
                    let done = piece(wf, runner, journal, Piece::Item { step, item });
                    assert_eq!(done.expect("item piece"), PieceOutcome::ItemDone);
                }
            }
            other => panic!("a step piece answered {other:?}"),
        }
    }
    match piece(wf, runner, journal, Piece::End).expect("the end") {
        PieceOutcome::Finished { outputs } => (ran, outputs),
        other => panic!("the end answered {other:?}"),
    }
}

fn sample() -> ValidWorkflow {
    valid(&workflow(
        json!({"type": "object"}),
        json!([
            {"id": "first", "call": "acme.contacts.get", "input": {"id": "a"}},
            {"id": "each", "for_each": "{{ range(5) }}", "concurrency": 3, "as": "n",
             "call": "acme.contacts.create", "input": {"email": "user{{ n }}@{{ steps.first.output.input.id }}.io"}},
            {"id": "never", "if": "{{ false }}", "call": "acme.contacts.get", "input": {"id": "b"}},
            {"id": "exp", "call": "acme.contacts.export", "input": {}},
            {"id": "imp", "for_each": "{{ steps.exp.records }}", "batch": 2,
             "call": "acme.bulk.import", "input": {"contacts": "{{ batch }}"}},
            {"id": "last", "call": "acme.contacts.get", "input": {"id": "{{ steps.each.output | length }}"}}
        ]),
        json!({"emails": "{{ steps.each.output | map(attribute='input') | map(attribute='email') | list }}",
               "imported": "{{ steps.imp.output }}", "last": "{{ steps.last.output }}"}),
    ))
}

fn sample_runner() -> FakeRunner {
    FakeRunner::new(|method, input, on_record| match method {
        "contacts.export" => {
            for i in 0..3 {
                on_record(json!({"email": format!("r{i}@x.io")}))?;
            }
            Ok(json!({"total": 3}))
        }
        _ => Ok(json!({"method": method, "input": input})),
    })
}

#[test]
fn pieces_make_each_call_once_and_the_resumed_run_ends_as_a_whole_run() {
    let wf = sample();
    let whole_runner = sample_runner();
    let whole = run(
        &wf,
        Map::new(),
        &whole_runner,
        &MemoryJournal::new(),
        &NoObserver,
    )
    .expect("whole run");

    let runner = sample_runner();
    let journal = MemoryJournal::new();
    let (ran, outputs) = drive(&wf, &runner, &journal);
    assert_eq!(outputs, whole.outputs);
    // One piece per step (the stream's producer rides with its consumer), the loop's step
    // twice (started, then put together), and one piece per call of the loop.
    let steps: Vec<usize> = ran
        .iter()
        .filter_map(|p| match p {
            Piece::Step { step } => Some(*step),
            Piece::Item { .. } | Piece::End => None,
        })
        .collect();
    assert_eq!(steps, vec![0, 1, 1, 2, 4, 5]);
    assert_eq!(ran.len(), 6 + 5);
    assert_eq!(runner.call_count(), whole_runner.call_count());
    assert_eq!(runner.calls_to("contacts.create"), 5);

    // The whole run resumed: nothing left to call, the same outputs.
    let calls = runner.call_count();
    let resumed = run(&wf, Map::new(), &runner, &journal, &NoObserver).expect("resumed run");
    assert_eq!(runner.call_count(), calls, "the resumed run called again");
    assert_eq!(resumed.outputs, whole.outputs);
    assert_eq!(
        resumed.outputs["emails"],
        json!([
            "user0@a.io",
            "user1@a.io",
            "user2@a.io",
            "user3@a.io",
            "user4@a.io"
        ])
    );
}

#[test]
fn a_loop_piece_says_its_calls_and_concurrency_until_they_are_journaled() {
    let wf = sample();
    let runner = sample_runner();
    let journal = MemoryJournal::new();
    piece(&wf, &runner, &journal, Piece::Step { step: 0 }).expect("first");
    let items = PieceOutcome::Items {
        calls: 5,
        concurrency: 3,
    };
    assert_eq!(
        piece(&wf, &runner, &journal, Piece::Step { step: 1 }).expect("loop"),
        items
    );
    // A call made twice (its activity retried after it journaled) is not sent again.
    for _ in 0..2 {
        piece(&wf, &runner, &journal, Piece::Item { step: 1, item: 3 }).expect("item");
    }
    assert_eq!(runner.calls_to("contacts.create"), 1);
    assert_eq!(
        piece(&wf, &runner, &journal, Piece::Step { step: 1 }).expect("loop"),
        items,
        "four calls are still to make"
    );
    for item in [0, 1, 2, 4] {
        piece(&wf, &runner, &journal, Piece::Item { step: 1, item }).expect("item");
    }
    assert_eq!(
        piece(&wf, &runner, &journal, Piece::Step { step: 1 }).expect("loop"),
        PieceOutcome::StepDone { next: Some(2) }
    );
    assert_eq!(runner.calls_to("contacts.create"), 5);
    // The stream's producer (step 3) runs with its consumer: the piece after step 2 is step 4.
    assert_eq!(
        piece(&wf, &runner, &journal, Piece::Step { step: 2 }).expect("skipped"),
        PieceOutcome::StepDone { next: Some(4) }
    );
    assert_eq!(
        piece(&wf, &runner, &journal, Piece::Step { step: 4 }).expect("stream"),
        PieceOutcome::StepDone { next: Some(5) }
    );
    assert_eq!(
        piece(&wf, &runner, &journal, Piece::Step { step: 5 }).expect("last"),
        PieceOutcome::StepDone { next: None }
    );
}

#[test]
fn a_call_that_fails_under_continue_is_journaled_and_not_made_again() {
    let wf = valid(&workflow(
        json!({"type": "object"}),
        json!([
            {"id": "items", "for_each": [1, 2, 3], "call": "acme.contacts.get",
             "input": {"id": "{{ item }}"}, "on_error": "continue"}
        ]),
        json!({"items": "{{ steps.items.output }}"}),
    ));
    let runner = FakeRunner::new(|_, input, _| match &input["id"] {
        id if id == &json!(2) => Err(ConnectorError::Api {
            status: 404,
            errors: vec![],
        }),
        _ => Ok(json!({"ok": input})),
    });
    let journal = MemoryJournal::new();
    drive(&wf, &runner, &journal);
    assert_eq!(runner.call_count(), 3);
    let outcome = run(&wf, Map::new(), &runner, &journal, &NoObserver).expect("resumed run");
    assert_eq!(runner.call_count(), 3, "the failed call was made again");
    assert_eq!(outcome.outputs["items"][1]["error"]["status"], json!(404));
    assert_eq!(outcome.outputs["items"][2], json!({"ok": {"id": 3}}));
}

#[test]
fn a_failing_call_fails_its_piece_as_it_fails_a_run() {
    let wf = valid(&workflow(
        json!({"type": "object"}),
        json!([
            {"id": "items", "for_each": ["ok@x.io", "x"], "call": "acme.contacts.create",
             "input": {"email": "{{ item }}"}}
        ]),
        json!({}),
    ));
    let runner = FakeRunner::echo();
    let journal = MemoryJournal::new();
    let failed = piece(&wf, &runner, &journal, Piece::Item { step: 0, item: 1 });
    match failed {
        Err(RunError::StepFailed {
            step,
            item: Some(1),
            failure: Failure::InvalidInput(_),
        }) => assert_eq!(step, "items"),
        other => panic!("expected the call's invalid input, got {other:?}"),
    }
    assert_eq!(
        runner.call_count(),
        0,
        "a call with an invalid input was sent"
    );
    assert!(journal.keys().is_empty());
}

#[test]
fn a_piece_the_workflow_does_not_have_is_refused_without_a_call() {
    let wf = sample();
    let runner = sample_runner();
    let journal = MemoryJournal::new();
    for missing in [Piece::Step { step: 6 }, Piece::Item { step: 0, item: 0 }] {
        match piece(&wf, &runner, &journal, missing) {
            Err(RunError::NoSuchPiece(_)) => {}
            other => panic!("{missing:?}: expected no such piece, got {other:?}"),
        }
    }
    // A loop's call before the steps it reads are done: refused, not run (every call of the
    // loop would run them again).
    let early = piece(&wf, &runner, &journal, Piece::Item { step: 1, item: 0 });
    assert!(
        matches!(&early, Err(RunError::NoSuchPiece(why)) if why.contains("`first`")),
        "{early:?}"
    );
    assert_eq!(runner.call_count(), 0);
    // Past the loop's calls: refused once the array is known.
    piece(&wf, &runner, &journal, Piece::Step { step: 0 }).expect("first");
    let past = piece(&wf, &runner, &journal, Piece::Item { step: 1, item: 9 });
    assert!(
        matches!(&past, Err(RunError::StepFailed { item: Some(9), .. })),
        "{past:?}"
    );
    assert_eq!(runner.calls_to("contacts.create"), 0);
    // Anything valid parses back from what a Temporal history holds.
    let text = serde_json::to_value(Piece::Item { step: 1, item: 2 }).expect("json");
    assert_eq!(text, json!({"piece": "item", "step": 1, "item": 2}));
    let back: Piece = serde_json::from_value::<Value>(text)
        .and_then(serde_json::from_value)
        .expect("parses");
    assert_eq!(back, Piece::Item { step: 1, item: 2 });
}

/// A journal that answers only the entries `piece_keys` names for the piece: what a worker's
/// narrow journal does (`StoreJournal::open_keys`).
struct Narrow<'a> {
    journal: &'a MemoryJournal,
    keys: Vec<String>,
}

impl plugboard_workflow::Journal for Narrow<'_> {
    fn completed(&self, key: &str) -> Option<Value> {
        self.keys
            .iter()
            .any(|k| k == key)
            .then(|| self.journal.completed(key))
            .flatten()
    }
    fn record(&self, key: &str, output: &Value) -> Result<(), plugboard_workflow::JournalError> {
        self.journal.record(key, output)
    }
    fn record_intent(&self, key: &str) -> Result<(), plugboard_workflow::JournalError> {
        self.journal.record_intent(key)
    }
    fn intent_pending(&self, key: &str) -> bool {
        self.journal.intent_pending(key)
    }
    fn clear_intent(&self, key: &str) -> Result<(), plugboard_workflow::JournalError> {
        self.journal.clear_intent(key)
    }
}

#[test]
fn a_call_and_the_end_need_only_the_entries_piece_keys_names() {
    use plugboard_workflow::{Journal, piece_keys};
    let wf = sample();
    let runner = sample_runner();
    let journal = MemoryJournal::new();
    let narrow = |piece: Piece| Narrow {
        journal: &journal,
        keys: piece_keys(&wf, piece),
    };
    piece(&wf, &runner, &journal, Piece::Step { step: 0 }).expect("first");
    piece(&wf, &runner, &journal, Piece::Step { step: 1 }).expect("loop");
    for item in 0..5 {
        let call = Piece::Item { step: 1, item };
        let outcome = run_piece(
            &wf,
            Map::new(),
            &runner,
            &narrow(call),
            &NoObserver,
            &RunOptions::default(),
            call,
        );
        assert_eq!(outcome.expect("call"), PieceOutcome::ItemDone);
    }
    assert_eq!(runner.calls_to("contacts.create"), 5);
    for step in [1, 2, 4, 5] {
        piece(&wf, &runner, &journal, Piece::Step { step }).expect("step");
    }
    let calls = runner.call_count();
    let end = run_piece(
        &wf,
        Map::new(),
        &runner,
        &narrow(Piece::End),
        &NoObserver,
        &RunOptions::default(),
        Piece::End,
    );
    assert!(matches!(end, Ok(PieceOutcome::Finished { .. })), "{end:?}");
    assert_eq!(runner.call_count(), calls, "the end made a call");
    assert!(journal.completed("each[4]").is_some());
}

#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<plugboard_workflow::Event>>);

impl plugboard_workflow::Observer for Recorder {
    fn event(&self, event: &plugboard_workflow::Event) {
        self.0.lock().expect("lock").push(event.clone());
    }
}

#[test]
fn a_piece_reports_what_it_does_and_not_the_steps_read_back() {
    use plugboard_workflow::Event;
    let wf = sample();
    let runner = sample_runner();
    let journal = MemoryJournal::new();
    drive(&wf, &runner, &journal);
    let recorder = Recorder::default();
    let again = |piece: Piece| {
        run_piece(
            &wf,
            Map::new(),
            &runner,
            &journal,
            &recorder,
            &RunOptions::default(),
            piece,
        )
        .expect("piece")
    };
    // A piece done before (its activity retried) says so; the steps before it, and the end,
    // say nothing.
    again(Piece::Step { step: 5 });
    again(Piece::End);
    assert_eq!(
        *recorder.0.lock().expect("lock"),
        vec![Event::StepSkipped {
            step: "last".into(),
            reason: plugboard_workflow::SkipReason::Completed
        }],
    );
    // A loop's first piece reports the step started with its number of calls, each call its
    // end, and the piece that puts it together the step's end.
    let fresh = MemoryJournal::new();
    let recorder = Recorder::default();
    let piece = |piece: Piece| {
        run_piece(
            &wf,
            Map::new(),
            &runner,
            &fresh,
            &recorder,
            &RunOptions::default(),
            piece,
        )
        .expect("piece")
    };
    piece(Piece::Step { step: 0 });
    piece(Piece::Step { step: 1 });
    for item in 0..5 {
        piece(Piece::Item { step: 1, item });
    }
    piece(Piece::Step { step: 1 });
    let events: Vec<String> = recorder
        .0
        .lock()
        .expect("lock")
        .iter()
        .map(|event| match event {
            Event::StepStarted { step, calls } => format!("started {step} {calls:?}"),
            Event::StepFinished { step, .. } => format!("finished {step}"),
            Event::ItemFinished { step, item, .. } => format!("item {step} {item}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        events,
        [
            "started first None",
            "finished first",
            "started each Some(5)",
            "item each 0",
            "item each 1",
            "item each 2",
            "item each 3",
            "item each 4",
            "finished each",
        ]
    );
}
