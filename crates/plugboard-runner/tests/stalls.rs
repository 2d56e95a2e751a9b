//! A connector call runs on its own thread under a stall timeout: a connector whose own code hangs
//! is abandoned with a clear error and can no longer reach the host, while time inside host calls
//! (a long sleep, a slow record consumer) never counts, and records keep flowing in order through
//! a bounded queue.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plugboard_core::{Connector, ConnectorError, Host, HttpRequest, Invocation, Manifest};
use plugboard_runner::{
    ConnectionRecord, ConnectionStore, ConnectorSource, ExecutorConfig, Registry, Session,
    SqliteStore,
};
use serde_json::{Value, json};

/// Waits for a store call on the test's own thread (the store's methods are async).
fn wait<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// The bound of the runner's record queue (`RECORD_QUEUE` in `session.rs`).
const QUEUE: usize = 256;
/// How long the hanging method hangs at most, so its thread never outlives the test binary by much.
const LONGEST_HANG: Duration = Duration::from_secs(30);

/// What an abandoned call's thread got when it tried the host again.
#[derive(Debug, Clone, PartialEq)]
struct AfterAbandon {
    emit: Result<(), ConnectorError>,
    send: Result<u16, ConnectorError>,
    sleep: Result<(), ConnectorError>,
    is_cancelled: bool,
}

/// A built-in connector whose methods hang, stream, nap, panic or report their thread.
struct Probe {
    manifest: Manifest,
    /// Lets the hanging method stop hanging, to see what the host says to it afterwards.
    release: AtomicBool,
    after_abandon: Mutex<Option<AfterAbandon>>,
    /// Records the `stream` method has handed to the host so far.
    emitted: AtomicUsize,
    /// The first error `emit` returned to `stream`, and how many emits were refused in all.
    emit_error: Mutex<Option<ConnectorError>>,
    refused: AtomicUsize,
}

impl Probe {
    fn new() -> Arc<Self> {
        let method = |id: &str| {
            json!({
                "id": id, "name": id, "category": "Probe", "description": "a probe",
                "kind": "action", "output": "one", "idempotent": true,
                "input_schema": {"type": "object"}, "output_schema": {}
            })
        };
        let methods = ["hang", "stream", "nap", "panic", "where"].map(method);
        let manifest = serde_json::from_value(json!({
            "id": "probe", "name": "Probe", "version": "0.0.0", "description": "test connector",
            "base_url": "http://127.0.0.1:9",
            "auth": {"type": "none"},
            "settings_schema": {"type": "object"},
            "methods": methods
        }))
        .expect("a valid manifest");
        Arc::new(Self {
            manifest,
            release: AtomicBool::new(false),
            after_abandon: Mutex::new(None),
            emitted: AtomicUsize::new(0),
            emit_error: Mutex::new(None),
            refused: AtomicUsize::new(0),
        })
    }

    fn hang(&self, host: &dyn Host) -> Result<Value, ConnectorError> {
        let started = Instant::now();
        // Hangs in its own code: no host call at all until released.
        while !self.release.load(Ordering::SeqCst) && started.elapsed() < LONGEST_HANG {
            std::thread::sleep(Duration::from_millis(20));
        }
        let after = AfterAbandon {
            emit: host.emit(json!({"late": true})),
            send: host.send(HttpRequest::get("/late")).map(|r| r.status),
            sleep: host.sleep(Duration::from_millis(1)),
            is_cancelled: host.is_cancelled(),
        };
        *self.after_abandon.lock().expect("not poisoned") = Some(after);
        Ok(json!("released"))
    }

    fn stream(&self, input: &Value, host: &dyn Host) -> Result<Value, ConnectorError> {
        let count = input["count"].as_u64().expect("a count");
        let ignore_errors = input["ignore_errors"].as_bool().unwrap_or(false);
        for n in 0..count {
            match host.emit(json!({"n": n})) {
                Ok(()) => {
                    self.emitted.fetch_add(1, Ordering::SeqCst);
                }
                Err(error) => {
                    self.refused.fetch_add(1, Ordering::SeqCst);
                    let mut first = self.emit_error.lock().expect("not poisoned");
                    first.get_or_insert_with(|| error.clone());
                    if !ignore_errors {
                        return Err(error);
                    }
                }
            }
        }
        Ok(json!({"emitted": count}))
    }
}

impl Connector for Probe {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn invoke(&self, invocation: &Invocation, host: &dyn Host) -> Result<Value, ConnectorError> {
        match invocation.method.as_str() {
            "hang" => self.hang(host),
            "stream" => self.stream(&invocation.input, host),
            "nap" => {
                let millis = invocation.input["ms"].as_u64().expect("ms");
                host.sleep(Duration::from_millis(millis))?;
                Ok(json!("rested"))
            }
            "panic" => panic!("the probe panics on purpose"),
            "where" => {
                let thread = std::thread::current();
                Ok(json!({"name": thread.name(), "id": format!("{:?}", thread.id())}))
            }
            other => Err(ConnectorError::UnknownMethod {
                method: other.to_owned(),
            }),
        }
    }
}

/// A session over a fresh store with one connection, `p`, to the probe.
struct Fixture {
    _dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
    session: Session,
    probe: Arc<Probe>,
}

fn fixture(stall_timeout: Option<Duration>) -> Fixture {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Arc::new(SqliteStore::open(dir.path().join("state.db")).expect("a store"));
    let record = ConnectionRecord {
        name: "p".to_owned(),
        connector_id: "probe".to_owned(),
        settings: serde_json::Map::new(),
        endpoints: None,
    };
    wait(store.put_connection(&record)).expect("a connection");
    let probe = Probe::new();
    let mut registry = Registry::new();
    registry
        .add(
            Arc::clone(&probe) as Arc<dyn Connector>,
            ConnectorSource::BuiltIn,
        )
        .expect("the probe registers");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let config = ExecutorConfig {
        connector_stall_timeout: stall_timeout,
        ..ExecutorConfig::default()
    };
    let session =
        Session::new(registry, store, config, runtime.handle().clone()).expect("a session");
    Fixture {
        _dir: dir,
        _runtime: runtime,
        session,
        probe,
    }
}

fn call(session: &Session, method: &str, input: Value) -> Result<Value, ConnectorError> {
    session.call("p", method, input, &mut |_| Ok(()))
}

/// Waits (bounded) for the released hanging thread to report what the host told it.
fn after_abandon(probe: &Probe) -> AfterAbandon {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(after) = probe.after_abandon.lock().expect("not poisoned").clone() {
            return after;
        }
        assert!(
            Instant::now() < deadline,
            "the released thread never reported"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_hung_connector_is_abandoned_and_can_no_longer_use_the_host() {
    let f = fixture(Some(Duration::from_millis(300)));
    let started = Instant::now();
    let error = call(&f.session, "hang", json!({})).expect_err("a hung call fails");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "abandoned after {took:?}"
    );
    let ConnectorError::Plugin { message } = &error else {
        panic!("a hang is a plugin failure (not a retried timeout): {error:?}");
    };
    assert!(!error.is_transient(), "a hang must not be retried");
    for part in ["`probe`", "`hang`", "without calling the host", "300 ms"] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }

    // The session still works while the abandoned thread hangs on.
    assert_eq!(
        call(&f.session, "nap", json!({"ms": 1})),
        Ok(json!("rested"))
    );

    // Revived, the abandoned thread finds every door closed.
    f.probe.release.store(true, Ordering::SeqCst);
    let after = after_abandon(&f.probe);
    assert_eq!(
        after,
        AfterAbandon {
            emit: Err(ConnectorError::Cancelled),
            send: Err(ConnectorError::Cancelled),
            sleep: Err(ConnectorError::Cancelled),
            is_cancelled: true,
        }
    );
}

#[test]
fn time_inside_host_calls_is_never_a_stall() {
    let f = fixture(Some(Duration::from_millis(200)));
    // A host sleep four times the stall timeout.
    let started = Instant::now();
    assert_eq!(
        call(&f.session, "nap", json!({"ms": 800})),
        Ok(json!("rested"))
    );
    assert!(started.elapsed() >= Duration::from_millis(800));

    // A consumer slower than the stall timeout: the connector waits inside `emit`.
    let mut seen = 0;
    let output = f
        .session
        .call("p", "stream", json!({"count": 3}), &mut |_| {
            std::thread::sleep(Duration::from_millis(300));
            seen += 1;
            Ok(())
        })
        .expect("a slow consumer is not a hung connector");
    assert_eq!(output, json!({"emitted": 3}));
    assert_eq!(seen, 3);
}

#[test]
fn many_records_flow_in_order_through_a_bounded_queue() {
    let f = fixture(Some(Duration::from_secs(10)));
    let count = QUEUE * 8;
    let mut received = Vec::with_capacity(count);
    let mut furthest_ahead = 0;
    let output = f
        .session
        .call("p", "stream", json!({"count": count}), &mut |record| {
            received.push(record["n"].as_u64().expect("n"));
            let ahead = f
                .probe
                .emitted
                .load(Ordering::SeqCst)
                .saturating_sub(received.len());
            furthest_ahead = furthest_ahead.max(ahead);
            if received.len() % 64 == 0 {
                // Let the connector fill the queue.
                std::thread::sleep(Duration::from_millis(2));
            }
            Ok(())
        })
        .expect("the stream completes");
    assert_eq!(output, json!({"emitted": count}));
    let expected: Vec<u64> = (0..count as u64).collect();
    assert_eq!(received, expected, "every record, once, in order");
    // Records in the queue plus the one blocked in `emit`: never more.
    assert!(
        furthest_ahead <= QUEUE + 1,
        "the connector got {furthest_ahead} records ahead of the consumer"
    );
    assert!(
        furthest_ahead >= QUEUE / 2,
        "the queue never filled ({furthest_ahead}); the bound was not exercised"
    );
}

/// The worker that ran a stream goes back on the idle list while its last records are still
/// queued; a call made from the record callback then gets that worker, and must run at once
/// rather than wait behind the stream's result (and be taken for hung).
#[test]
fn a_call_from_the_record_callback_never_waits_behind_the_streams_result() {
    let f = fixture(Some(Duration::from_secs(2)));
    // One record in the callback and a full queue behind it when the stream returns.
    let count = QUEUE + 1;
    let mut nested = None;
    let mut received = 0;
    let output = f
        .session
        .call("p", "stream", json!({"count": count}), &mut |_| {
            received += 1;
            if nested.is_none() {
                let deadline = Instant::now() + Duration::from_secs(10);
                while f.probe.emitted.load(Ordering::SeqCst) < count {
                    assert!(Instant::now() < deadline, "the stream never finished");
                    std::thread::sleep(Duration::from_millis(5));
                }
                // Let its worker return to the idle list.
                std::thread::sleep(Duration::from_millis(100));
                nested = Some(call(&f.session, "where", json!({})));
            }
            Ok(())
        })
        .expect("the stream completes");
    assert_eq!(output, json!({"emitted": count}));
    assert_eq!(received, count, "every record arrived");
    let nested = nested.expect("the callback made its call");
    assert!(
        nested.is_ok(),
        "the nested call waited behind the stream: {nested:?}"
    );
}

#[test]
fn a_record_callback_error_reaches_the_connectors_next_emit_and_the_caller() {
    let refusal = ConnectorError::InvalidInput {
        message: "no more, thanks".into(),
    };
    for ignore_errors in [false, true] {
        let f = fixture(Some(Duration::from_secs(10)));
        let mut calls = 0;
        let result = f.session.call(
            "p",
            "stream",
            json!({"count": 5_000, "ignore_errors": ignore_errors}),
            &mut |_| {
                calls += 1;
                if calls == 10 {
                    Err(refusal.clone())
                } else {
                    Ok(())
                }
            },
        );
        // Even a connector that ignores the refusal and succeeds does not hide it.
        assert_eq!(
            result,
            Err(refusal.clone()),
            "ignore_errors: {ignore_errors}"
        );
        assert_eq!(calls, 10, "no record reaches the callback after its error");
        assert_eq!(
            f.probe.emit_error.lock().expect("not poisoned").clone(),
            Some(refusal.clone()),
            "the connector's emit got the callback's error"
        );
        assert!(
            f.probe.emitted.load(Ordering::SeqCst) <= 10 + QUEUE + 1,
            "the connector was stopped within a queue's length"
        );
        if !ignore_errors {
            assert_eq!(f.probe.refused.load(Ordering::SeqCst), 1);
        }
    }
}

#[test]
fn a_panicking_builtin_connector_fails_its_call_with_the_panic_message() {
    let f = fixture(Some(Duration::from_secs(10)));
    let error = call(&f.session, "panic", json!({})).expect_err("a panic is an error");
    let ConnectorError::Plugin { message } = &error else {
        panic!("a panic is a plugin failure: {error:?}");
    };
    for part in ["`probe`", "`panic`", "panics on purpose"] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    assert_eq!(
        call(&f.session, "nap", json!({"ms": 1})),
        Ok(json!("rested"))
    );
}

#[test]
fn a_cancelled_run_does_not_wait_the_stall_timeout_for_a_hung_connector() {
    let f = fixture(Some(Duration::from_secs(60)));
    let cancel = f.session.cancellation().clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        cancel.cancel();
    });
    let started = Instant::now();
    assert_eq!(
        call(&f.session, "hang", json!({})),
        Err(ConnectorError::Cancelled)
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    canceller.join().expect("the canceller ends");
    f.probe.release.store(true, Ordering::SeqCst);
    assert_eq!(after_abandon(&f.probe).send, Err(ConnectorError::Cancelled));
}

#[test]
fn watched_calls_run_on_reused_threads_and_unwatched_ones_inline() {
    let here = std::thread::current();
    let watched = fixture(Some(Duration::from_secs(10)));
    let first = call(&watched.session, "where", json!({})).expect("where");
    assert_eq!(first["name"], "plugboard-call");
    assert_ne!(first["id"], format!("{:?}", here.id()));
    for _ in 0..5 {
        assert_eq!(
            call(&watched.session, "where", json!({})),
            Ok(first.clone()),
            "a finished call's thread serves the next call"
        );
    }
    let trusted = fixture(None);
    assert_eq!(
        call(&trusted.session, "where", json!({})),
        Ok(json!({"name": here.name(), "id": format!("{:?}", here.id())}))
    );
}
