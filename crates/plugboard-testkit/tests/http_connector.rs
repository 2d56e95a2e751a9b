//! The generic HTTP connector through the harness: both of its methods, each pagination style,
//! with every output and record checked against the schemas the connector declares (the harness
//! fails a call that breaks them).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use plugboard_core::{ConnectorError, Host, HttpRequest, HttpResponse, LogLevel};
use plugboard_testkit::Harness;
use serde_json::{Map, Value, json};

/// Answers by path (query included), like a small API; remembers nothing else.
struct Api;

impl Host for Api {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let query: Vec<String> = request
            .query
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let page = |items: Value| HttpResponse::json(200, &items);
        Ok(match (request.path.as_str(), query.join("&").as_str()) {
            ("/echo", _) => {
                let mut response = HttpResponse::json(201, &json!({"id": 7, "tags": ["a"]}));
                response.headers.push(("x-request-id".into(), "r-1".into()));
                response
            }
            ("/empty", _) => HttpResponse {
                status: 204,
                headers: Vec::new(),
                body: String::new(),
            },
            ("/flaky", _) => HttpResponse::json(503, &json!({"message": "try later"})),
            ("/text", _) => HttpResponse {
                status: 200,
                headers: vec![("content-type".into(), "text/plain".into())],
                body: "plain words".into(),
            },
            ("/linked", "") => {
                let mut response = page(json!([{"n": 1}, {"n": 2}]));
                response
                    .headers
                    .push(("link".into(), "</linked?page=2>; rel=\"next\"".into()));
                response
            }
            ("/linked", _) | ("/linked?page=2", _) => page(json!(["three", 4, null])),
            ("/cursored", "") => page(json!({"data": [{"id": "a"}], "meta": {"next": "c2"}})),
            ("/cursored", "cursor=c2") => {
                page(json!({"data": [{"id": "b"}], "meta": {"next": null}}))
            }
            ("/offsets", "offset=0&limit=2") => page(json!([{"n": 1, "new": {"x": 1}}, {"n": 2}])),
            ("/offsets", "offset=2&limit=2") => page(json!([{"n": 3}])),
            ("/numbered", "page=1&per_page=2") => page(json!([1, 2])),
            ("/numbered", "page=2&per_page=2") => page(json!([3])),
            (path, query) => {
                HttpResponse::json(404, &json!({"missing": format!("{path}?{query}")}))
            }
        })
    }
    fn emit(&self, _: Value) -> Result<(), ConnectorError> {
        Ok(())
    }
    fn log(&self, _: LogLevel, _: &str) {}
    fn is_cancelled(&self) -> bool {
        false
    }
    fn sleep(&self, _: Duration) -> Result<(), ConnectorError> {
        Ok(())
    }
}

fn harness() -> Harness {
    let mut settings = Map::new();
    settings.insert("base_url".into(), json!("https://api.example.com"));
    Harness::of::<http_api::HttpApi>().with_settings(settings)
}

#[test]
fn every_http_method_returns_and_streams_what_it_declares() {
    let harness = harness();
    let called = Mutex::new(BTreeSet::new());
    let call = |method: &str, input: Value| {
        let run = harness.call(&Api, method, input);
        called
            .lock()
            .expect("not poisoned")
            .insert(method.to_owned());
        run
    };

    let posted = call(
        "http.request",
        json!({"method": "POST", "path": "/echo", "body": {"name": "x"}}),
    );
    assert_eq!(posted.ok()["status"], 201);
    assert_eq!(posted.ok()["body"]["id"], 7);
    // Invariant 7: the API's fields reach the output as the API sent them, whatever they are.
    assert_eq!(posted.ok()["body"]["tags"], json!(["a"]));
    assert_eq!(
        call("http.request", json!({"path": "/empty"})).ok()["body"],
        Value::Null
    );
    assert_eq!(
        call("http.request", json!({"path": "/text"})).ok()["body"],
        "plain words"
    );
    let accepted = call(
        "http.request",
        json!({"path": "/nowhere", "accept_statuses": [404]}),
    );
    assert_eq!(accepted.ok()["status"], 404);

    let linked = call(
        "http.list",
        json!({"path": "/linked", "pagination": {"style": "link_header"}}),
    );
    assert_eq!(
        linked.ok(),
        &json!({"count": 5, "pages": 2, "truncated": false})
    );
    let cursored = call(
        "http.list",
        json!({"path": "/cursored", "items_field": "data",
            "pagination": {"style": "cursor", "cursor_field": "meta.next", "cursor_param": "cursor"}}),
    );
    assert_eq!(cursored.records, [json!({"id": "a"}), json!({"id": "b"})]);
    let numbered = call(
        "http.list",
        json!({"path": "/numbered", "pagination": {"style": "page_number", "page_param": "page",
            "page_size_param": "per_page", "page_size": 2}}),
    );
    assert_eq!(numbered.ok()["count"], 3);
    let offsets = call(
        "http.list",
        json!({"path": "/offsets", "pagination": {"style": "offset", "offset_param": "offset",
            "limit_param": "limit", "limit": 2}}),
    );
    assert_eq!(offsets.ok()["pages"], 2);
    assert_eq!(offsets.records[0], json!({"n": 1, "new": {"x": 1}}));
    let truncated = call(
        "http.list",
        json!({"path": "/linked", "pagination": {"style": "link_header"}, "max_pages": 1}),
    );
    assert_eq!(truncated.ok()["truncated"], true);

    let declared: BTreeSet<String> = harness
        .connector()
        .manifest()
        .methods
        .iter()
        .map(|m| m.id.clone())
        .collect();
    assert_eq!(
        *called.lock().expect("not poisoned"),
        declared,
        "every method is called"
    );
}

/// A cassette recorded from the calls above, served over HTTP on 127.0.0.1: the connector,
/// installed live with a key in the query and sending through the runner's real executor, gets
/// the recorded answers (paging by link header, cursor and page number over real HTTP, a JSON
/// body posted, a text and an empty response, a 503 the executor retries), and what it sends is
/// recorded again, the same.
#[test]
fn a_cassette_served_over_http_answers_the_real_executor_as_recorded() {
    use std::io::{Read as _, Write as _};

    use plugboard_runner::ExecutorConfig;
    use plugboard_testkit::{CassetteServer, LiveConnection, LiveSetup, RecordingHost, Scrubber};

    const KEY: &str = "query-key-never-quoted";

    let calls = [
        (
            "http.request",
            json!({"method": "POST", "path": "/echo", "body": {"name": "x"}}),
        ),
        ("http.request", json!({"path": "/text"})),
        ("http.request", json!({"path": "/empty"})),
        (
            "http.list",
            json!({"path": "/linked", "pagination": {"style": "link_header"}}),
        ),
        (
            "http.list",
            json!({"path": "/cursored", "items_field": "data", "pagination": {"style": "cursor",
                "cursor_field": "meta.next", "cursor_param": "cursor"}}),
        ),
        (
            "http.list",
            json!({"path": "/numbered", "pagination": {"style": "page_number",
                "page_param": "page", "page_size_param": "per_page", "page_size": 2}}),
        ),
        ("http.request", json!({"path": "/flaky"})),
    ];
    let harness = harness();
    let recorder = RecordingHost::new(Api);
    let recorded: Vec<_> = calls
        .iter()
        .map(|(method, input)| harness.call(&recorder, method, input.clone()))
        .collect();
    let cassette = recorder
        .cassette("http", &Scrubber::new())
        .expect("recorded");
    assert_eq!(cassette.interactions.len(), 10, "four calls and six pages");

    let server = CassetteServer::start(cassette.clone())
        .expect("serving")
        .require_query("api_key", KEY);
    let mut settings = Map::new();
    settings.insert("base_url".into(), json!(server.base_url()));
    settings.insert("auth_type".into(), json!("api_key_query"));
    settings.insert("api_key".into(), json!(KEY));
    let live = LiveConnection::install(
        harness.connector().clone(),
        LiveSetup {
            connection_settings: settings,
            config: ExecutorConfig {
                max_attempts: 3,
                base_backoff: Duration::from_millis(5),
                ..ExecutorConfig::default()
            },
            ..LiveSetup::default()
        },
    )
    .expect("installed");
    let again = RecordingHost::new(live.host());
    for ((method, input), expected) in calls.iter().zip(&recorded) {
        let run = harness.call(&again, method, input.clone());
        if run.output.is_err() {
            // The 503, answered again to each of the executor's retries.
            assert_eq!(run.err(), expected.err(), "{input}");
        } else if *method == "http.request" {
            // The headers are the server's own (`date`, `content-length`) and the cassette's,
            // which leaves volatile ones out (`x-request-id`).
            for field in ["status", "body"] {
                assert_eq!(run.ok()[field], expected.ok()[field], "{input}");
            }
        } else {
            assert_eq!(run.ok(), expected.ok(), "{input}");
        }
        assert_eq!(run.records, expected.records, "{method} {input}");
    }
    server.assert_all_used();
    let rerecorded = again
        .cassette("http", &live.scrubber().expect("secrets"))
        .expect("recorded");
    let requests = |cassette: &plugboard_testkit::Cassette| -> Vec<String> {
        cassette
            .interactions
            .iter()
            .map(|i| plugboard_testkit::replay::describe(&i.request))
            .collect()
    };
    assert_eq!(requests(&rerecorded), requests(&cassette));

    // A request the cassette does not hold is a 404 naming it and the closest entry.
    let missing = harness.call(&live.host(), "http.request", json!({"path": "/echo"}));
    let missed = missing.err().to_string();
    assert!(missed.contains("not in the cassette"), "{missed}");
    assert!(
        !missed.contains(KEY),
        "the key is taken out before matching: {missed}"
    );

    // Without the credential, the server answers 401, naming the parameter, never its value.
    let address = server.base_url().replace("http://", "");
    let mut stream = std::net::TcpStream::connect(&address).expect("connects");
    stream
        .write_all(
            b"GET /text?api_key=forged-value HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .expect("sends");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("reads");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("query parameter `api_key`"), "{answer}");
    assert!(
        !answer.contains(KEY) && !answer.contains("forged-value"),
        "{answer}"
    );
}

/// The harness checks an input against the method's declared schema before the call, as the
/// engine does: a limit only the schema states (serde would take the value) fails naming the
/// field, and nothing is sent.
#[test]
fn an_input_that_breaks_the_declared_schema_fails_before_any_request() {
    let run = harness().call(
        &Api,
        "http.list",
        json!({"path": "/linked", "pagination": {"style": "link_header"}, "max_pages": 0}),
    );
    let ConnectorError::InvalidInput { message } = run.err() else {
        panic!("expected invalid_input, got {:?}", run.err());
    };
    assert!(message.contains("/max_pages"), "{message}");
    assert!(run.requests.is_empty(), "nothing is sent");
}
