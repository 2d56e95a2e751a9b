//! Running a connector's method against any host and collecting everything it did.
//!
//! [`Harness::call`] invokes one method the way the runner does (an [`Invocation`] with the
//! connection's settings minus secrets), through any [`Host`] (a [`ReplayHost`], a
//! [`RecordingHost`](crate::RecordingHost) over a live session, or your own), and returns a [`Run`]:
//! the output or error, the streamed records, the requests sent, the log lines and the waits.
//! [`Run::snapshot`] and [`Run::requests_snapshot`] are serializable views for insta.
//!
//! Every call is also checked for output conformance: the output and each emitted record must
//! validate against the method's declared `output_schema` and `record_schema`, or the test
//! fails with a message naming the method, the JSON pointer and the schema rule (see
//! [`conformance`](crate::conformance)).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use plugboard_core::{
    Connector, ConnectorDefinition, ConnectorError, DefinedConnector, EFFECT_LOOKUP_SUFFIX, Host,
    HttpRequest, HttpResponse, Invocation, LogLevel, settings,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::KitError;
use crate::replay::ReplayHost;

/// Runs methods of one connector; see the module docs.
///
/// ```
/// use plugboard_core::{HttpRequest, HttpResponse};
/// use plugboard_testkit::{Cassette, Harness, Interaction, ReplayHost};
/// # use plugboard_core::*;
/// # struct Ping;
/// # impl Method for Ping {
/// #     type Input = serde_json::Value; type Output = u16; type Record = NoRecords;
/// #     const INFO: MethodInfo = MethodInfo { id: "ping", name: "Ping", category: Some("Health"),
/// #         description: "Pings.", kind: MethodKind::Action, idempotent: true };
/// #     fn call(&self, cx: &mut Context<'_, NoRecords>, _: serde_json::Value) -> Result<u16, ConnectorError> {
/// #         cx.sleep(std::time::Duration::from_secs(1))?;
/// #         Ok(cx.send(HttpRequest::get("/ping"))?.status)
/// #     }
/// # }
/// # #[derive(schemars::JsonSchema)] struct NoSettings {}
/// # struct Demo;
/// # impl ConnectorDefinition for Demo {
/// #     type Settings = NoSettings;
/// #     const ID: &'static str = "demo"; const NAME: &'static str = "Demo";
/// #     const VERSION: &'static str = "0.1.0"; const DESCRIPTION: &'static str = "A demo.";
/// #     const BASE_URL: &'static str = "https://api.example.com";
/// #     fn auth() -> AuthSpec { AuthSpec::None }
/// #     fn methods() -> MethodSet { MethodSet::new().with(Ping) }
/// # }
///
/// let mut cassette = Cassette::new("ping");
/// cassette.interactions.push(Interaction::new(
///     HttpRequest::get("/ping"),
///     Ok(HttpResponse::json(204, &serde_json::json!(null))),
/// ));
/// let host = ReplayHost::new(cassette);
/// let run = Harness::of::<Demo>().call(&host, "ping", serde_json::json!({}));
/// assert_eq!(run.ok(), &serde_json::json!(204));
/// assert_eq!(run.sleeps, [std::time::Duration::from_secs(1)]); // and no real waiting
/// host.assert_all_used();
/// ```
#[derive(Clone)]
pub struct Harness {
    connector: Arc<dyn Connector>,
    settings: Map<String, Value>,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("connector", &self.connector.manifest().id)
            .field("settings", &self.settings.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Harness {
    /// A harness over any connector (a built-in, or a plugin the runner loaded).
    pub fn new(connector: Arc<dyn Connector>) -> Self {
        Self {
            connector,
            settings: Map::new(),
        }
    }

    /// A harness over a connector defined in Rust.
    pub fn of<D: ConnectorDefinition>() -> Self {
        Self::new(Arc::new(DefinedConnector::new::<D>()))
    }

    /// The settings the connector sees; secret fields (per its settings schema) are removed, as
    /// the runner removes them (invariant 2).
    #[must_use]
    pub fn with_settings(mut self, settings: Map<String, Value>) -> Self {
        self.settings =
            settings::without_secrets(&self.connector.manifest().settings_schema, &settings);
        self
    }

    /// The connector.
    pub fn connector(&self) -> &Arc<dyn Connector> {
        &self.connector
    }

    /// Calls `method` with `input` through `host` and collects what happened.
    ///
    /// As in a workflow, the input is first checked against the method's declared input schema
    /// (the engine's own check, `plugboard_workflow::check_input`): one that breaks it fails the
    /// call with `InvalidInput`, naming the field and the rule, and nothing is sent. So a test can
    /// rely on a declared limit as the method does.
    ///
    /// # Panics
    /// When the output or an emitted record does not validate against the schemas the method
    /// declares (records are checked even when the call failed; an effect lookup's `null`, "no
    /// effect", is not checked): see [`conformance`](crate::conformance).
    #[track_caller]
    pub fn call(&self, host: &dyn Host, method: &str, input: Value) -> Run {
        let capture = Capture {
            inner: host,
            seen: Mutex::new(Seen::default()),
        };
        let invocation = Invocation {
            method: method.to_owned(),
            input: input.clone(),
            settings: self.settings.clone(),
        };
        let output = match self.check_input(method, &input) {
            Ok(()) => self.connector.invoke(&invocation, &capture),
            Err(message) => Err(ConnectorError::InvalidInput { message }),
        };
        let seen = capture.seen.into_inner().unwrap_or_else(|e| e.into_inner());
        let run = Run {
            method: method.to_owned(),
            input,
            output,
            records: seen.records,
            requests: seen.requests,
            logs: seen.logs,
            sleeps: seen.sleeps,
        };
        self.assert_conforms(&run);
        run
    }

    /// Checks `input` against the input schema `method` declares, as the engine does before a
    /// call. An effect lookup takes its call's input, checked with the call; a method the
    /// connector does not declare fails in the connector, as `unknown_method`.
    fn check_input(&self, method: &str, input: &Value) -> Result<(), String> {
        if method.ends_with(EFFECT_LOOKUP_SUFFIX) {
            return Ok(());
        }
        match self.connector.manifest().method(method) {
            Some(descriptor) => {
                plugboard_workflow::check_input(method, descriptor.input_schema.as_value(), input)
            }
            None => Ok(()),
        }
    }

    /// Fails when `run`'s output or records break the method's declared schemas. A method the
    /// connector does not declare is not checked (the call failed as `unknown_method`).
    #[track_caller]
    fn assert_conforms(&self, run: &Run) {
        let (id, lookup) = match run.method.strip_suffix(EFFECT_LOOKUP_SUFFIX) {
            Some(id) => (id, true),
            None => (run.method.as_str(), false),
        };
        let Some(descriptor) = self.connector.manifest().method(id) else {
            return;
        };
        let output = match &run.output {
            Ok(Value::Null) if lookup => None,
            Ok(output) => Some(output),
            Err(_) => None,
        };
        crate::conformance::assert_conforms(descriptor, output, &run.records);
    }

    /// Replays one call from the cassette file at `path` and checks that the call used every
    /// entry (see [`ReplayHost::assert_all_used`]); for cassettes holding exactly one call.
    #[track_caller]
    pub fn replay(
        &self,
        path: impl AsRef<std::path::Path>,
        method: &str,
        input: Value,
    ) -> Result<Run, KitError> {
        let host = ReplayHost::load(path)?;
        let run = self.call(&host, method, input);
        host.assert_all_used();
        Ok(run)
    }
}

/// Everything one call did.
#[derive(Debug, Clone)]
pub struct Run {
    /// The method called.
    pub method: String,
    /// Its input.
    pub input: Value,
    /// The output, or the error the call ended with.
    pub output: Result<Value, ConnectorError>,
    /// The records streamed, in order.
    pub records: Vec<Value>,
    /// The requests sent, in order, as the connector built them.
    pub requests: Vec<HttpRequest>,
    /// The log lines written.
    pub logs: Vec<(LogLevel, String)>,
    /// The waits asked for (virtual under replay: no real time passed).
    pub sleeps: Vec<Duration>,
}

impl Run {
    /// The output; panics with the error when the call failed.
    #[track_caller]
    pub fn ok(&self) -> &Value {
        match &self.output {
            Ok(value) => value,
            Err(error) => panic!("`{}` failed: {error}", self.method),
        }
    }

    /// The error; panics with the output when the call succeeded.
    #[track_caller]
    pub fn err(&self) -> &ConnectorError {
        match &self.output {
            Ok(value) => panic!(
                "`{}` succeeded with {value}, expected an error",
                self.method
            ),
            Err(error) => error,
        }
    }

    /// The total virtual time waited.
    pub fn waited(&self) -> Duration {
        self.sleeps.iter().sum()
    }

    /// A serializable view of the whole call, for `insta::assert_json_snapshot!`.
    pub fn snapshot(&self) -> RunSnapshot {
        RunSnapshot {
            method: self.method.clone(),
            input: self.input.clone(),
            requests: self.requests_snapshot(),
            sleeps_ms: self.sleeps_ms(),
            records: self.records.len(),
            output: self.output.as_ref().ok().cloned(),
            error: self.output.as_ref().err().cloned(),
            logs: self
                .logs
                .iter()
                .map(|(level, message)| LogLine {
                    level: *level,
                    message: message.clone(),
                })
                .collect(),
        }
    }

    /// A serializable view of the requests alone: what a connector change most often changes.
    pub fn requests_snapshot(&self) -> Vec<RequestView> {
        self.requests.iter().map(RequestView::of).collect()
    }

    fn sleeps_ms(&self) -> Vec<u64> {
        self.sleeps
            .iter()
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .collect()
    }
}

/// One request in a snapshot: the line people read first, then the details.
#[derive(Debug, Clone, Serialize)]
pub struct RequestView {
    /// `METHOD path?query`.
    pub line: String,
    /// Extra headers the connector set (never credentials).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Whether the host may retry it.
    pub idempotent: bool,
}

impl RequestView {
    /// The view of a request.
    pub fn of(request: &HttpRequest) -> Self {
        Self {
            line: crate::replay::describe(request),
            headers: request.headers.clone(),
            body: request
                .body
                .as_ref()
                .and_then(|body| serde_json::to_value(body).ok()),
            idempotent: request.idempotent,
        }
    }
}

/// One log line in a snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    /// Its level.
    pub level: LogLevel,
    /// Its text.
    pub message: String,
}

/// A serializable view of a [`Run`]; records are counted, not listed, to keep snapshots short
/// (snapshot `run.records` yourself when they matter).
#[derive(Debug, Clone, Serialize)]
pub struct RunSnapshot {
    /// The method called.
    pub method: String,
    /// Its input.
    pub input: Value,
    /// The requests sent.
    pub requests: Vec<RequestView>,
    /// The waits, in milliseconds.
    pub sleeps_ms: Vec<u64>,
    /// How many records were streamed.
    pub records: usize,
    /// The output, when the call succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The error, when the call failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ConnectorError>,
    /// The log lines.
    pub logs: Vec<LogLine>,
}

#[derive(Default)]
struct Seen {
    requests: Vec<HttpRequest>,
    records: Vec<Value>,
    logs: Vec<(LogLevel, String)>,
    sleeps: Vec<Duration>,
}

/// Forwards to the test's host and keeps a copy of everything.
struct Capture<'a> {
    inner: &'a dyn Host,
    seen: Mutex<Seen>,
}

impl Capture<'_> {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Host for Capture<'_> {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        self.seen().requests.push(request.clone());
        self.inner.send(request)
    }

    fn emit(&self, record: Value) -> Result<(), ConnectorError> {
        self.inner.emit(record.clone())?;
        self.seen().records.push(record);
        Ok(())
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.seen().logs.push((level, message.to_owned()));
        self.inner.log(level, message);
    }

    fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    fn sleep(&self, duration: Duration) -> Result<(), ConnectorError> {
        self.seen().sleeps.push(duration);
        self.inner.sleep(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::{Cassette, Interaction};
    use plugboard_core::{
        AuthSpec, Context, Method, MethodInfo, MethodKind, MethodSet, settings as core_settings,
    };
    use serde_json::json;

    /// Streams the ids of `/items`, logs the settings it sees, waits once.
    struct Items;

    impl Method for Items {
        type Input = Value;
        type Output = Value;
        type Record = Value;
        const INFO: MethodInfo = MethodInfo {
            id: "items.list",
            name: "List Items",
            category: Some("Items"),
            description: "Lists items.",
            kind: MethodKind::Action,
            idempotent: true,
        };

        fn call(&self, cx: &mut Context<'_, Value>, _: Value) -> Result<Value, ConnectorError> {
            let seen: Map<String, Value> = cx.settings()?;
            cx.log(LogLevel::Info, &format!("settings: {:?}", seen.keys()));
            cx.sleep(Duration::from_millis(250))?;
            let page: Value = cx.send(HttpRequest::get("/items"))?.decode()?;
            for item in page["items"].as_array().into_iter().flatten() {
                cx.emit(item)?;
            }
            Ok(json!({"count": cx.emitted()}))
        }
    }

    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Settings {
        region: String,
        #[schemars(transform = core_settings::secret)]
        api_key: String,
    }

    struct Demo;

    impl ConnectorDefinition for Demo {
        type Settings = Settings;
        const ID: &'static str = "demo";
        const NAME: &'static str = "Demo";
        const VERSION: &'static str = "0.1.0";
        const DESCRIPTION: &'static str = "A demo connector.";
        const BASE_URL: &'static str = "https://api.example.com";
        fn auth() -> AuthSpec {
            AuthSpec::None
        }
        fn methods() -> MethodSet {
            MethodSet::new().with(Items).with(Tallies)
        }
    }

    /// A tally whose declared schema says `count` is never negative.
    #[derive(Serialize, schemars::JsonSchema)]
    struct Tally {
        #[schemars(range(min = 0))]
        count: i64,
    }

    /// Streams the tallies of `/tallies` and returns their sum: whatever the API says, so a
    /// negative count breaks the declared schemas.
    struct Tallies;

    impl Method for Tallies {
        type Input = Value;
        type Output = Tally;
        type Record = Tally;
        const INFO: MethodInfo = MethodInfo {
            id: "tallies.list",
            name: "List Tallies",
            category: Some("Tallies"),
            description: "Lists tallies.",
            kind: MethodKind::Action,
            idempotent: true,
        };
        const FINDS_EFFECT: bool = true;

        fn call(&self, cx: &mut Context<'_, Tally>, _: Value) -> Result<Tally, ConnectorError> {
            let counts: Vec<i64> = cx.send(HttpRequest::get("/tallies"))?.decode()?;
            for &count in &counts {
                cx.emit(&Tally { count })?;
            }
            if counts.contains(&0) {
                return Err(ConnectorError::UnexpectedResponse {
                    message: "a zero tally".into(),
                });
            }
            Ok(Tally {
                count: counts.iter().sum(),
            })
        }

        fn find_effect(
            &self,
            _: &mut Context<'_, Tally>,
            _: &Value,
        ) -> Result<Option<Tally>, ConnectorError> {
            Ok(None)
        }
    }

    fn tallies(counts: Result<Value, ConnectorError>) -> ReplayHost {
        let mut cassette = Cassette::new("tallies");
        cassette.interactions.push(Interaction::new(
            HttpRequest::get("/tallies"),
            counts.map(|counts| HttpResponse::json(200, &counts)),
        ));
        ReplayHost::new(cassette)
    }

    /// The panic message of `f`, which must panic.
    fn panic_message(f: impl FnOnce()) -> String {
        let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .expect_err("the call fails the test");
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    }

    #[test]
    fn a_run_collects_output_records_requests_logs_and_waits_without_secrets() {
        let mut cassette = Cassette::new("items");
        cassette.interactions.push(Interaction::new(
            HttpRequest::get("/items"),
            Ok(HttpResponse::json(
                200,
                &json!({"items": [{"id": 1}, {"id": 2}]}),
            )),
        ));
        let host = ReplayHost::new(cassette);
        let settings = json!({"region": "eu", "api_key": "k-123456789"});
        let harness =
            Harness::of::<Demo>().with_settings(settings.as_object().cloned().unwrap_or_default());
        let run = harness.call(&host, "items.list", json!({}));
        assert_eq!(run.ok(), &json!({"count": 2}));
        assert_eq!(run.records, [json!({"id": 1}), json!({"id": 2})]);
        assert_eq!(run.requests, [HttpRequest::get("/items")]);
        assert_eq!(run.sleeps, [Duration::from_millis(250)]);
        assert_eq!(run.waited(), Duration::from_millis(250));
        assert_eq!(run.logs.len(), 1);
        assert!(run.logs[0].1.contains("region"), "{:?}", run.logs);
        assert!(
            !run.logs[0].1.contains("api_key"),
            "secret settings never reach the connector: {:?}",
            run.logs
        );
        host.assert_all_used();

        let snapshot = serde_json::to_value(run.snapshot()).expect("serializable");
        assert_eq!(snapshot["requests"][0]["line"], "GET /items");
        assert_eq!(snapshot["sleeps_ms"], json!([250]));
        assert_eq!(snapshot["records"], 2);
        assert!(snapshot.get("error").is_none(), "{snapshot}");
    }

    #[test]
    fn a_miss_ends_the_call_with_the_replay_error() {
        let host = ReplayHost::new(Cassette::new("empty"));
        let run = Harness::of::<Demo>().call(&host, "items.list", json!({}));
        assert!(
            run.err().to_string().contains("the cassette is empty"),
            "{:?}",
            run.output
        );
        let snapshot = serde_json::to_value(run.snapshot()).expect("serializable");
        assert_eq!(snapshot["error"]["kind"], "denied");
    }

    #[test]
    fn a_conforming_call_passes_the_check() {
        let host = tallies(Ok(json!([1, 2])));
        let run = Harness::of::<Demo>().call(&host, "tallies.list", json!({}));
        assert_eq!(run.ok(), &json!({"count": 3}));
        assert_eq!(run.records.len(), 2);
    }

    #[test]
    fn an_output_or_record_breaking_the_declared_schema_fails_the_call() {
        let host = tallies(Ok(json!([4, -5])));
        let message = panic_message(|| {
            Harness::of::<Demo>().call(&host, "tallies.list", json!({}));
        });
        assert!(
            message.starts_with(
                "`tallies.list` does not conform to its declared schemas (2 problems):"
            ),
            "{message}"
        );
        assert!(
            message.contains(
                "the output at `/count`: -1 is less than the minimum of 0 \
                 (rule `minimum` at `/properties/count/minimum` of the output_schema)"
            ),
            "{message}"
        );
        assert!(
            message.contains("record 1 at `/count`: -5 is less than the minimum of 0"),
            "{message}"
        );
        assert!(!message.contains("record 0"), "the good record: {message}");
    }

    #[test]
    fn records_are_checked_even_when_the_call_fails() {
        let failed = tallies(Err(ConnectorError::Transport {
            message: "down".into(),
        }));
        let run = Harness::of::<Demo>().call(&failed, "tallies.list", json!({}));
        assert!(
            run.records.is_empty() && run.output.is_err(),
            "an error alone passes"
        );

        // Emits -5 and 0, then fails on the 0: the output is not checked, the records are.
        let host = tallies(Ok(json!([-5, 0])));
        let message = panic_message(|| {
            Harness::of::<Demo>().call(&host, "tallies.list", json!({}));
        });
        assert!(message.contains("(1 problem):"), "{message}");
        assert!(
            message.contains("record 0 at `/count`: -5 is less than the minimum of 0"),
            "{message}"
        );
    }

    #[test]
    fn an_effect_lookup_that_found_nothing_is_not_checked() {
        let host = ReplayHost::new(Cassette::new("none"));
        let run = Harness::of::<Demo>().call(&host, "tallies.list#find-effect", json!({}));
        assert_eq!(run.ok(), &Value::Null);
    }
}
