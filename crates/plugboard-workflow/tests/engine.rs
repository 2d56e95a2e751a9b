//! The engine against a fake step runner: mappings, loops, streams, errors, resume, cancellation.

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use common::{FakeCatalog, FakeRunner, workflow};
use plugboard_core::ConnectorError;
use plugboard_workflow::{
    Event, Failure, MemoryJournal, NoObserver, Observer, RunError, RunOptions, StepStatus,
    ValidWorkflow, run, run_with, validate,
};
use serde_json::{Map, Value, json};

fn valid(source: &str) -> ValidWorkflow {
    validate(source, &FakeCatalog::new()).unwrap_or_else(|problems| {
        panic!(
            "invalid workflow:\n{}",
            problems
                .iter()
                .map(|p| format!("{p}\n"))
                .collect::<String>()
        )
    })
}

fn inputs(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("inputs must be an object"),
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

impl Observer for Recorder {
    fn event(&self, event: &Event) {
        self.0.lock().expect("lock").push(event.clone());
    }
}

#[test]
fn mappings_keep_types_interpolate_and_reach_earlier_outputs() {
    let wf = valid(&workflow(
        json!({"type": "object", "properties": {"email": {"type": "string"}, "n": {"type": "integer"}}, "required": ["email"]}),
        json!([
            {"id": "first", "call": "acme.contacts.get", "input": {"id": "{{ inputs.email }}", "n": "{{ inputs.n }}"}},
            {"id": "second", "call": "acme.contacts.get",
             "input": {"id": "id-{{ steps.first.output.input.n + 1 }}", "echo": "{{ steps.first.output.input }}"}}
        ]),
        json!({"result": "{{ steps.second.output.input }}", "text": "{{ inputs.email }} done"}),
    ));
    let runner = FakeRunner::echo();
    let outcome = run(
        &wf,
        inputs(json!({"email": "a@b.c", "n": 4})),
        &runner,
        &MemoryJournal::new(),
        &NoObserver,
    )
    .expect("runs");
    assert_eq!(
        outcome.outputs["result"],
        json!({"id": "id-5", "echo": {"id": "a@b.c", "n": 4}})
    );
    assert_eq!(outcome.outputs["text"], json!("a@b.c done"));
    assert_eq!(runner.call_count(), 2);
}

#[test]
fn run_inputs_are_checked_before_anything_runs() {
    let wf = valid(&workflow(
        json!({"type": "object", "properties": {"email": {"type": "string"}}, "required": ["email"]}),
        json!([{"id": "a", "call": "acme.contacts.get", "input": {"id": "{{ inputs.email }}"}}]),
        json!({}),
    ));
    let runner = FakeRunner::echo();
    let error = run(
        &wf,
        inputs(json!({"email": 3})),
        &runner,
        &MemoryJournal::new(),
        &NoObserver,
    )
    .expect_err("bad input");
    let RunError::InvalidInputs(problems) = &error else {
        panic!("{error}")
    };
    assert_eq!(problems[0].pointer, "/email");
    let missing =
        run(&wf, Map::new(), &runner, &MemoryJournal::new(), &NoObserver).expect_err("missing");
    assert!(
        missing
            .to_string()
            .contains("\"email\" is a required property"),
        "{missing}"
    );
    assert_eq!(runner.call_count(), 0);
}

#[test]
fn an_undefined_value_fails_the_step_and_names_it() {
    let wf = valid(&workflow(
        json!({"type": "object"}),
        json!([
            {"id": "a", "call": "acme.contacts.get", "input": {}},
            {"id": "b", "call": "acme.contacts.get", "input": {"id": "{{ steps.a.output.nothing_here }}"}}
        ]),
        json!({}),
    ));
    let error = run(
        &wf,
        Map::new(),
        &FakeRunner::echo(),
        &MemoryJournal::new(),
        &NoObserver,
    )
    .expect_err("undefined");
    assert_eq!(
        error.to_string(),
        "step `b` failed: `input`: `{{ steps.a.output.nothing_here }}` is undefined"
    );
}

#[test]
fn a_false_condition_skips_the_step() {
    let wf = valid(&workflow(
        json!({"type": "object", "properties": {"go": {"type": "boolean"}}}),
        json!([
            {"id": "maybe", "if": "{{ inputs.go }}", "call": "acme.contacts.get", "input": {}},
            {"id": "always", "call": "acme.contacts.get", "input": {"skipped": "{{ steps.maybe.output is none }}"}}
        ]),
        json!({}),
    ));
    let runner = FakeRunner::echo();
    let recorder = Recorder::default();
    let outcome = run(
        &wf,
        inputs(json!({"go": false})),
        &runner,
        &MemoryJournal::new(),
        &recorder,
    )
    .expect("runs");
    assert_eq!(runner.call_count(), 1);
    assert_eq!(outcome.steps[0].status, StepStatus::Skipped);
    assert_eq!(outcome.steps[1].output["input"], json!({"skipped": true}));
    assert!(
        recorder
            .0
            .lock()
            .expect("lock")
            .iter()
            .any(|e| matches!(e, Event::StepSkipped { step, .. } if step == "maybe"))
    );
}

#[test]
fn for_each_over_an_array_runs_concurrently_and_keeps_order() {
    let wf = valid(&workflow(
        json!({"type": "object"}),
        json!([{"id": "each", "for_each": "{{ range(20) }}", "concurrency": 4, "as": "n",
                "call": "acme.contacts.get", "input": {"id": "{{ n }}", "i": "{{ loop.index }}"}}]),
        json!({"all": "{{ steps.each.output }}"}),
    ));
    let in_flight = AtomicI64::new(0);
    let peak = AtomicI64::new(0);
    let runner = FakeRunner::new(move |_, input, _| {
        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(now, Ordering::SeqCst);
        // Later items finish sooner, so completion order differs from input order.
        let n = input["id"].as_u64().unwrap_or(0);
        std::thread::sleep(Duration::from_millis(20 - n));
        in_flight.fetch_sub(1, Ordering::SeqCst);
        Ok(json!({"id": input["id"], "i": input["i"], "peak": peak.load(Ordering::SeqCst)}))
    });
    let outcome = run(&wf, Map::new(), &runner, &MemoryJournal::new(), &NoObserver).expect("runs");
    let all = outcome.outputs["all"].as_array().expect("array").clone();
    assert_eq!(all.len(), 20);
    for (k, out) in all.iter().enumerate() {
        assert_eq!(out["id"], json!(k));
        assert_eq!(out["i"], json!(k + 1));
    }
    let peak = all
        .iter()
        .filter_map(|o| o["peak"].as_i64())
        .max()
        .unwrap_or(0);
    assert!(peak > 1 && peak <= 4, "peak concurrency {peak}");
}

#[test]
fn array_batches_group_elements() {
    let wf = valid(&workflow(
        json!({"type": "object"}),
        json!([{"id": "imp", "for_each": [1, 2, 3, 4, 5], "batch": 2,
                "call": "acme.bulk.import", "input": {"contacts": "{{ batch }}"}}]),
        json!({}),
    ));
    let runner = FakeRunner::echo();
    run(&wf, Map::new(), &runner, &MemoryJournal::new(), &NoObserver).expect("runs");
    let calls = runner.calls.lock().expect("lock").clone();
    let batches: Vec<Value> = calls
        .into_iter()
        .map(|(_, input)| input["contacts"].clone())
        .collect();
    assert_eq!(batches, vec![json!([1, 2]), json!([3, 4]), json!([5])]);
}

/// A producer of 100,000 records feeds batches of 100 to two workers through a channel of 64: at
/// no time are more records in flight than the channel, the batches being filled and the one
/// record being sent.
#[test]
fn streams_flow_through_batches_with_backpressure() {
    const RECORDS: u64 = 100_000;
    const CAPACITY: usize = 64;
    const BATCH: u64 = 100;
    const WORKERS: u64 = 2;
    let wf = valid(&workflow(
        json!({"type": "object"}),
        json!([
            {"id": "exp", "call": "acme.contacts.export", "input": {}},
            {"id": "imp", "for_each": "{{ steps.exp.records }}", "batch": BATCH, "concurrency": WORKERS,
             "call": "acme.bulk.import", "input": {"contacts": "{{ batch }}"}}
        ]),
        json!({"summary": "{{ steps.imp.output }}", "exported": "{{ steps.exp.output }}"}),
    ));
    let produced = std::sync::Arc::new(AtomicU64::new(0));
    let consumed = std::sync::Arc::new(AtomicU64::new(0));
    let max_in_flight = std::sync::Arc::new(AtomicU64::new(0));
    let (p, c, m) = (produced.clone(), consumed.clone(), max_in_flight.clone());
    let runner = FakeRunner::new(move |method, input, on_record| match method {
        "contacts.export" => {
            for i in 0..RECORDS {
                let in_flight = p.fetch_add(1, Ordering::SeqCst) + 1 - c.load(Ordering::SeqCst);
                m.fetch_max(in_flight, Ordering::SeqCst);
                on_record(json!({"email": format!("user{i}@example.com")}))?;
            }
            Ok(json!({"total": RECORDS}))
        }
        "bulk.import" => {
            let n = input["contacts"].as_array().map_or(0, Vec::len) as u64;
            c.fetch_add(n, Ordering::SeqCst);
            Ok(json!({"imported": n}))
        }
        other => panic!("unexpected {other}"),
    });
    let options = RunOptions {
        channel_capacity: CAPACITY,
        ..RunOptions::default()
    };
    let outcome = run_with(
        &wf,
        Map::new(),
        &runner,
        &MemoryJournal::new(),
        &NoObserver,
        &options,
    )
    .expect("runs");
    assert_eq!(
        outcome.outputs["summary"],
        json!({"records": RECORDS, "calls": RECORDS / BATCH, "succeeded": RECORDS / BATCH, "failed": 0, "errors": []})
    );
    assert_eq!(outcome.outputs["exported"], json!({"total": RECORDS}));
    assert_eq!(consumed.load(Ordering::SeqCst), RECORDS);
    let bound = CAPACITY as u64 + WORKERS * BATCH + 1;
    let seen = max_in_flight.load(Ordering::SeqCst);
    assert!(seen <= bound, "{seen} records in flight, bound {bound}");
    assert_eq!(runner.calls_to("bulk.import") as u64, RECORDS / BATCH);
}

#[test]
fn read_steps_stream_jsonl_csv_and_json_arrays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = dir.path().join("in.jsonl");
    std::fs::write(&jsonl, "{\"e\":1}\n\n{\"e\":2}\n{\"e\":3}\n").expect("write");
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "email,name\na@x,A\nb@x,B\n").expect("write");
    let array = dir.path().join("in.json");
    std::fs::write(&array, "[{\"e\": 1}, {\"e\": 2}]").expect("write");
    for (path, format, expected) in [
        (
            &jsonl,
            "jsonl",
            vec![json!({"e": 1}), json!({"e": 2}), json!({"e": 3})],
        ),
        (
            &csv,
            "csv",
            vec![
                json!({"email": "a@x", "name": "A"}),
                json!({"email": "b@x", "name": "B"}),
            ],
        ),
        (&array, "json-array", vec![json!({"e": 1}), json!({"e": 2})]),
    ] {
        let wf = valid(&workflow(
            json!({"type": "object", "properties": {"file": {"type": "string"}}}),
            json!([
                {"id": "read", "read": {"path": "{{ inputs.file }}", "format": format}},
                {"id": "imp", "for_each": "{{ steps.read.records }}", "call": "acme.bulk.import",
                 "input": {"contacts": ["{{ item }}"]}}
            ]),
            json!({"read": "{{ steps.read.output.records }}"}),
        ));
        let runner = FakeRunner::echo();
        let outcome = run(
            &wf,
            inputs(json!({"file": path.to_str().expect("utf-8")})),
            &runner,
            &MemoryJournal::new(),
            &NoObserver,
        )
        .expect("runs");
        let seen: Vec<Value> = runner
            .calls
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, i)| i["contacts"][0].clone())
            .collect();
        assert_eq!(seen, expected, "{format}");
        assert_eq!(outcome.outputs["read"], json!(expected.len()), "{format}");
    }
}

#[test]
fn records_to_writes_each_record_as_a_json_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.jsonl");
    let wf = valid(&workflow(
        json!({"type": "object", "properties": {"out": {"type": "string"}}}),
        json!([{"id": "exp", "call": "acme.contacts.export", "records_to": "{{ inputs.out }}"}]),
        json!({}),
    ));
    let runner = FakeRunner::new(|_, _, on_record| {
        for i in 0..3 {
            on_record(json!({"n": i}))?;
        }
        Ok(json!({"total": 3}))
    });
    let outcome = run(
        &wf,
        inputs(json!({"out": out.to_str().expect("utf-8")})),
        &runner,
        &MemoryJournal::new(),
        &NoObserver,
    )
    .expect("runs");
    assert_eq!(outcome.steps[0].output, json!({"total": 3}));
    assert_eq!(
        std::fs::read_to_string(&out).expect("read"),
        "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n"
    );
}

fn api_error(status: u16) -> ConnectorError {
    ConnectorError::Api {
        status,
        errors: vec![],
    }
}

#[test]
fn a_rendered_input_that_breaks_the_schema_fails_the_item_without_a_call() {
    // `contacts.create` requires an `email` of at least 3 characters; validation cannot see
    // what `{{ item }}` renders to.
    let wf = valid(&workflow(
        json!({"type": "object"}),
        json!([
            {"id": "each", "for_each": ["ok@x.io", "x", "fine@x.io"], "call": "acme.contacts.create",
             "input": {"email": "{{ item }}"}, "on_error": "continue"},
            {"id": "whole", "call": "acme.contacts.create", "input": "{{ inputs.contact }}"}
        ]),
        json!({}),
    ));
    let runner = FakeRunner::echo();
    let error = run(
        &wf,
        inputs(json!({"contact": {"name": "no email"}})),
        &runner,
        &MemoryJournal::new(),
        &NoObserver,
    )
    .expect_err("the whole input lacks `email`");
    // The item that broke `minLength` was never sent; the others were.
    assert_eq!(runner.calls_to("contacts.create"), 2);
    let RunError::StepFailed {
        step,
        item: None,
        failure: Failure::InvalidInput(message),
    } = &error
    else {
        panic!("a step failure for the invalid input: {error:?}");
    };
    assert_eq!(step, "whole");
    assert!(message.contains("(the whole input)"), "{message}");
    assert!(message.contains("rule `required`"), "{message}");
    assert!(
        error.to_string().starts_with("step `whole` failed: "),
        "{error}"
    );
}

#[test]
fn on_error_continue_records_the_error_and_goes_on() {
    let wf = valid(&workflow(
        json!({"type": "object"}),
        json!([
            {"id": "bad", "call": "acme.contacts.get", "input": {"id": "x"}, "on_error": "continue"},
            {"id": "items", "for_each": [1, 2, 3], "call": "acme.contacts.get", "input": {"id": "{{ item }}"}, "on_error": "continue"},
            {"id": "next", "call": "acme.contacts.create", "input": {"email": "{{ steps.bad.output.error.kind }}"}}
        ]),
        json!({}),
    ));
    let runner = FakeRunner::new(|method, input, _| match (method, &input["id"]) {
        ("contacts.get", id) if id == &json!("x") || id == &json!(2) => Err(api_error(404)),
        _ => Ok(json!({"ok": input})),
    });
    let recorder = Recorder::default();
    let outcome = run(&wf, Map::new(), &runner, &MemoryJournal::new(), &recorder).expect("runs");
    // The item's failure is reported with its reason as it happens.
    assert!(
        recorder.0.lock().expect("lock").iter().any(|e| matches!(e,
            Event::ItemFinished { step, item: 1, ok: false, error: Some(error), .. }
                if step == "items" && error.contains("HTTP 404"))),
        "no failed item event with its reason"
    );
    assert_eq!(outcome.steps[0].status, StepStatus::FailedContinued);
    assert_eq!(outcome.steps[0].output["error"]["kind"], json!("api"));
    assert_eq!(
        outcome.steps[0].output["error"]["message"],
        json!("API error (HTTP 404)")
    );
    assert_eq!(outcome.steps[1].output[1]["error"]["status"], json!(404));
    assert_eq!(outcome.steps[1].output[2], json!({"ok": {"id": 3}}));
    assert_eq!(outcome.steps[2].output, json!({"ok": {"email": "api"}}));
}

#[test]
fn continue_never_swallows_a_refused_connection_or_a_used_up_quota() {
    for (error, expected) in [
        (
            ConnectorError::Unauthorized {
                message: "invalid_grant".into(),
            },
            "unauthorized: invalid_grant",
        ),
        (
            ConnectorError::QuotaExhausted { resets_at: None },
            "API quota exhausted",
        ),
    ] {
        let wf = valid(&workflow(
            json!({"type": "object"}),
            json!([
                {"id": "one", "call": "acme.contacts.get", "input": {"id": "x"}, "on_error": "continue"},
                {"id": "items", "for_each": [1, 2, 3], "call": "acme.contacts.get", "input": {"id": "{{ item }}"}, "on_error": "continue"}
            ]),
            json!({}),
        ));
        let runner = FakeRunner::new(move |_, input, _| match &input["id"] {
            id if id == &json!(2) => Err(error.clone()),
            _ => Ok(json!({})),
        });
        let journal = MemoryJournal::new();
        let failed = run(&wf, Map::new(), &runner, &journal, &NoObserver).expect_err("stops");
        assert!(
            failed.to_string().contains(expected),
            "{expected}: {failed}"
        );
        // The loop is not journaled as done, so a resume after reconnecting redoes item 2.
        let resumed = run(&wf, Map::new(), &FakeRunner::echo(), &journal, &NoObserver)
            .expect("the resume runs");
        assert_eq!(resumed.steps[1].status, StepStatus::Completed, "{expected}");
        assert!(
            resumed.steps[1].output[1].get("error").is_none(),
            "{expected}: {}",
            resumed.steps[1].output
        );
    }
}

#[test]
fn retry_tries_again_then_fails_with_the_step_and_item() {
    let wf = valid(&workflow(
        json!({"type": "object"}),
        json!([
            {"id": "flaky", "call": "acme.contacts.get", "input": {"id": "f"}, "on_error": {"retry": {"attempts": 3, "backoff_ms": 1}}},
            {"id": "each", "for_each": ["ok", "never"], "call": "acme.contacts.get", "input": {"id": "{{ item }}"},
             "on_error": {"retry": {"attempts": 2, "backoff_ms": 1}}}
        ]),
        json!({}),
    ));
    let flaky_calls = AtomicU64::new(0);
    let runner = FakeRunner::new(move |_, input, _| match input["id"].as_str() {
        Some("f") if flaky_calls.fetch_add(1, Ordering::SeqCst) < 2 => Err(api_error(503)),
        Some("never") => Err(api_error(500)),
        _ => Ok(json!({})),
    });
    let recorder = Recorder::default();
    let error = run(&wf, Map::new(), &runner, &MemoryJournal::new(), &recorder).expect_err("fails");
    assert_eq!(
        error.to_string(),
        "step `each` (call 1) failed: API error (HTTP 500)"
    );
    assert!(matches!(
        &error,
        RunError::StepFailed {
            failure: Failure::Connector(_),
            item: Some(1),
            ..
        }
    ));
    let calls: Vec<String> = runner
        .calls
        .lock()
        .expect("lock")
        .iter()
        .map(|(_, i)| i["id"].to_string())
        .collect();
    assert_eq!(
        calls,
        vec![
            "\"f\"",
            "\"f\"",
            "\"f\"",
            "\"ok\"",
            "\"never\"",
            "\"never\""
        ]
    );
    let retries = recorder
        .0
        .lock()
        .expect("lock")
        .iter()
        .filter(|e| matches!(e, Event::Retrying { .. }))
        .count();
    assert_eq!(retries, 3);
}

#[test]
fn a_broken_connector_is_not_retried() {
    let wf = valid(&workflow(
        json!({"type": "object"}),
        json!([
            {"id": "broken", "call": "acme.contacts.get", "input": {"id": "b"}, "on_error": {"retry": {"attempts": 3, "backoff_ms": 1}}}
        ]),
        json!({}),
    ));
    let runner = FakeRunner::new(|_, _, _| {
        Err(ConnectorError::plugin(
            "connector `acme` method `contacts.get` ran 60.0 s without calling the host",
        ))
    });
    let error =
        run(&wf, Map::new(), &runner, &MemoryJournal::new(), &NoObserver).expect_err("fails");
    assert!(
        error.to_string().contains("without calling the host"),
        "{error}"
    );
    assert_eq!(
        runner.calls.lock().expect("lock").len(),
        1,
        "one attempt only"
    );
}

#[test]
fn resume_repeats_no_completed_step_or_item() {
    let wf = valid(&workflow(
        json!({"type": "object"}),
        json!([
            {"id": "one", "call": "acme.contacts.get", "input": {"id": "1"}},
            {"id": "each", "for_each": "{{ range(10) }}", "call": "acme.contacts.get", "input": {"id": "{{ item }}"}},
            {"id": "last", "call": "acme.contacts.create", "input": {"email": "n={{ steps.one.output.n }}"}}
        ]),
        json!({"each": "{{ steps.each.output | length }}"}),
    ));
    let journal = MemoryJournal::new();
    let broken = FakeRunner::new(|_, input, _| {
        if input["id"] == json!(6) {
            Err(api_error(500))
        } else {
            Ok(json!({"n": input["id"]}))
        }
    });
    let error = run(&wf, Map::new(), &broken, &journal, &NoObserver).expect_err("fails at item 6");
    assert!(
        matches!(&error, RunError::StepFailed { step, item: Some(6), .. } if step == "each"),
        "{error}"
    );
    assert!(journal.keys().contains(&"each[5]".to_owned()));
    assert!(!journal.keys().contains(&"each".to_owned()));

    let fixed = FakeRunner::echo();
    let outcome = run(&wf, Map::new(), &fixed, &journal, &NoObserver).expect("resumes");
    let calls: Vec<(String, Value)> = fixed.calls.lock().expect("lock").clone();
    let ids: Vec<Value> = calls
        .iter()
        .map(|(_, i)| i.get("id").cloned().unwrap_or(Value::Null))
        .collect();
    assert_eq!(
        ids,
        vec![json!(6), json!(7), json!(8), json!(9), Value::Null],
        "only the rest ran"
    );
    assert_eq!(outcome.steps[0].status, StepStatus::Resumed);
    assert_eq!(outcome.outputs["each"], json!(10));
    // The resumed step's journaled output feeds later steps.
    assert_eq!(calls[4].1, json!({"email": "n=1"}));
}

#[test]
fn a_stream_is_replayed_with_its_consumer_on_resume() {
    let wf = valid(&workflow(
        json!({"type": "object"}),
        json!([
            {"id": "exp", "call": "acme.contacts.export", "input": {}},
            {"id": "imp", "for_each": "{{ steps.exp.records }}", "call": "acme.bulk.import", "input": {"contacts": ["{{ item }}"]}},
            {"id": "after", "call": "acme.contacts.get", "input": {"id": "{{ steps.exp.output.total }}"}}
        ]),
        json!({}),
    ));
    let journal = MemoryJournal::new();
    let failing = FakeRunner::new(|method, input, on_record| match method {
        "contacts.export" => {
            for i in 0..5 {
                on_record(json!(i))?;
            }
            Ok(json!({"total": 5}))
        }
        "bulk.import" if input["contacts"][0] == json!(3) => Err(api_error(400)),
        _ => Ok(json!({})),
    });
    let error = run(&wf, Map::new(), &failing, &journal, &NoObserver).expect_err("fails");
    assert!(
        matches!(&error, RunError::StepFailed { step, .. } if step == "imp"),
        "{error}"
    );

    let ok = FakeRunner::new(|method, _, on_record| match method {
        "contacts.export" => {
            for i in 0..5 {
                on_record(json!(i))?;
            }
            Ok(json!({"total": 5}))
        }
        _ => Ok(json!({})),
    });
    run(&wf, Map::new(), &ok, &journal, &NoObserver).expect("resumes");
    assert_eq!(
        ok.calls_to("contacts.export"),
        1,
        "the producer is replayed"
    );
    // The consumer is not idempotent: its calls that completed are journaled one by one and
    // skipped, so the two that did not are the only ones sent again.
    assert_eq!(
        ok.calls_to("bulk.import"),
        2,
        "with its consumer's unfinished calls"
    );

    let third = FakeRunner::echo();
    run(&wf, Map::new(), &third, &journal, &NoObserver).expect("nothing left");
    assert_eq!(third.call_count(), 0);
}

#[test]
fn cancellation_stops_between_items() {
    let wf = valid(&workflow(
        json!({"type": "object"}),
        json!([
            {"id": "each", "for_each": "{{ range(100) }}", "call": "acme.contacts.get", "input": {"id": "{{ item }}"}},
            {"id": "never", "call": "acme.contacts.get", "input": {}}
        ]),
        json!({}),
    ));
    let mut runner = FakeRunner::echo();
    runner.cancel_after = Some(3);
    let journal = MemoryJournal::new();
    let error = run(&wf, Map::new(), &runner, &journal, &NoObserver).expect_err("cancelled");
    assert_eq!(
        error,
        RunError::Cancelled {
            step: Some("each".to_owned())
        }
    );
    assert_eq!(runner.call_count(), 3);
    assert_eq!(journal.keys(), vec!["each[0]", "each[1]", "each[2]"]);
}

#[test]
fn cancellation_stops_a_stream_producer() {
    let wf = valid(&workflow(
        json!({"type": "object"}),
        json!([
            {"id": "exp", "call": "acme.contacts.export", "input": {}},
            {"id": "imp", "for_each": "{{ steps.exp.records }}", "call": "acme.bulk.import", "input": {"contacts": ["{{ item }}"]}}
        ]),
        json!({}),
    ));
    let emitted = std::sync::Arc::new(AtomicU64::new(0));
    let e = emitted.clone();
    let mut runner = FakeRunner::new(move |method, _, on_record| match method {
        "contacts.export" => {
            for i in 0..1_000_000u64 {
                e.fetch_add(1, Ordering::SeqCst);
                on_record(json!(i))?;
            }
            Ok(json!({}))
        }
        _ => Ok(json!({})),
    });
    runner.cancel_after = Some(10);
    let options = RunOptions {
        channel_capacity: 8,
        ..RunOptions::default()
    };
    let error = run_with(
        &wf,
        Map::new(),
        &runner,
        &MemoryJournal::new(),
        &NoObserver,
        &options,
    )
    .expect_err("cancelled");
    assert!(matches!(error, RunError::Cancelled { .. }), "{error}");
    assert!(
        emitted.load(Ordering::SeqCst) < 100,
        "the producer stopped early"
    );
}

/// Many small steps, each reading the previous output: checks the engine's per-step path and
/// prints the rate (run with `--nocapture`; not asserted, speed depends on the machine).
#[test]
fn thousands_of_small_steps_chain_their_outputs() {
    const STEPS: usize = 2_000;
    let mut steps = vec![json!({"id": "s0", "call": "acme.contacts.get", "input": {"id": "0"}})];
    for k in 1..STEPS {
        steps.push(json!({"id": format!("s{k}"), "call": "acme.contacts.get",
                          "input": {"id": format!("{{{{ steps.s{}.output.n }}}}", k - 1)}}));
    }
    let wf = valid(&workflow(
        json!({"type": "object"}),
        Value::Array(steps),
        json!({"last": format!("{{{{ steps.s{}.output.n }}}}", STEPS - 1)}),
    ));
    let runner = FakeRunner::new(|_, input, _| {
        let n: u64 = input["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok(json!({"n": (n + 1).to_string()}))
    });
    let started = std::time::Instant::now();
    let outcome = run(&wf, Map::new(), &runner, &MemoryJournal::new(), &NoObserver).expect("runs");
    let elapsed = started.elapsed();
    assert_eq!(outcome.outputs["last"], json!(STEPS.to_string()));
    println!(
        "{STEPS} steps in {elapsed:?}: {:.0} steps/s",
        STEPS as f64 / elapsed.as_secs_f64()
    );
}

#[test]
fn a_failing_producer_is_named_and_continue_keeps_stream_errors() {
    let wf = valid(&workflow(
        json!({"type": "object"}),
        json!([
            {"id": "exp", "call": "acme.contacts.export", "input": {}},
            {"id": "imp", "for_each": "{{ steps.exp.records }}", "call": "acme.bulk.import",
             "input": {"contacts": ["{{ item }}"]}, "on_error": "continue"}
        ]),
        json!({"imp": "{{ steps.imp.output }}"}),
    ));
    let runner = FakeRunner::new(|method, input, on_record| match method {
        "contacts.export" => {
            for i in 0..4 {
                on_record(json!(i))?;
            }
            Err(ConnectorError::Timeout)
        }
        _ if input["contacts"][0] == json!(1) => Err(api_error(422)),
        _ => Ok(json!({})),
    });
    let error = run(&wf, Map::new(), &runner, &MemoryJournal::new(), &NoObserver)
        .expect_err("producer fails");
    assert_eq!(
        error.to_string(),
        "step `exp` failed: the request timed out"
    );

    let healthy = FakeRunner::new(|method, input, on_record| match method {
        "contacts.export" => {
            for i in 0..4 {
                on_record(json!(i))?;
            }
            Ok(json!({}))
        }
        _ if input["contacts"][0] == json!(1) => Err(api_error(422)),
        _ => Ok(json!({})),
    });
    let outcome = run(
        &wf,
        Map::new(),
        &healthy,
        &MemoryJournal::new(),
        &NoObserver,
    )
    .expect("runs");
    assert_eq!(outcome.outputs["imp"]["succeeded"], json!(3));
    assert_eq!(outcome.outputs["imp"]["failed"], json!(1));
    assert_eq!(outcome.outputs["imp"]["errors"][0]["item"], json!(1));
    assert_eq!(
        outcome.outputs["imp"]["errors"][0]["error"]["status"],
        json!(422)
    );
}

#[test]
fn a_skipped_consumer_skips_its_producer() {
    let wf = valid(&workflow(
        json!({"type": "object"}),
        json!([
            {"id": "exp", "call": "acme.contacts.export", "input": {}},
            {"id": "imp", "if": "{{ false }}", "for_each": "{{ steps.exp.records }}", "call": "acme.bulk.import",
             "input": {"contacts": ["{{ item }}"]}},
            {"id": "after", "call": "acme.contacts.get", "input": {"exp": "{{ steps.exp.output }}"}}
        ]),
        json!({}),
    ));
    let runner = FakeRunner::echo();
    let outcome = run(&wf, Map::new(), &runner, &MemoryJournal::new(), &NoObserver).expect("runs");
    assert_eq!(runner.call_count(), 1);
    assert_eq!(outcome.steps[0].status, StepStatus::Skipped);
    assert_eq!(outcome.steps[2].output["input"], json!({"exp": null}));
}

#[test]
fn events_serialize_with_an_event_tag() {
    let event = Event::RecordsProgress {
        step: "exp".into(),
        count: 1000,
    };
    assert_eq!(
        serde_json::to_value(&event).expect("json"),
        json!({"event": "records_progress", "step": "exp", "count": 1000})
    );
    let wf = valid(&workflow(
        json!({"type": "object"}),
        json!([{"id": "a", "call": "acme.contacts.get", "input": {}}]),
        json!({}),
    ));
    let recorder = Recorder::default();
    run(
        &wf,
        Map::new(),
        &FakeRunner::echo(),
        &MemoryJournal::new(),
        &recorder,
    )
    .expect("runs");
    let names: Vec<Value> = recorder
        .0
        .lock()
        .expect("lock")
        .iter()
        .map(|e| serde_json::to_value(e).expect("json")["event"].clone())
        .collect();
    assert_eq!(names, vec![json!("step_started"), json!("step_finished")]);
}
