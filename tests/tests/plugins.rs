//! Loading connectors as plugins: the same connector built in and from its `.so` behaves the same,
//! and every kind of broken plugin file is reported clearly while the others load.

use std::sync::Arc;

use plugboard_core::{Connector, ConnectorError, DefinedConnector, HttpResponse, Invocation};
use plugboard_runner::{LoadError, Registry, load_plugin};
use plugboard_tests::{ScriptedHost, bad_plugin, constant_contact_plugin, install, temp_dir};
use serde_json::{Value, json};

fn builtin() -> DefinedConnector {
    DefinedConnector::new::<constant_contact::ConstantContact>()
}

fn invocation(method: &str, input: Value) -> Invocation {
    Invocation {
        method: method.into(),
        input,
        settings: serde_json::Map::new(),
    }
}

/// Runs one call with a scripted host and returns everything observable about it.
fn observe(
    connector: &dyn Connector,
    call: &Invocation,
    responses: Vec<Result<HttpResponse, ConnectorError>>,
) -> (Result<Value, ConnectorError>, ScriptedHost) {
    let host = ScriptedHost::new(responses);
    let result = connector.invoke(call, &host);
    (result, host)
}

fn two_pages_of_lists() -> Vec<Result<HttpResponse, ConnectorError>> {
    vec![
        Ok(HttpResponse::json(
            200,
            &json!({
                "lists": [{"list_id": "l-1", "name": "Newsletter", "favorite": true}],
                "_links": {"next": {"href": "/v3/contact_lists?cursor=page2"}}
            }),
        )),
        Ok(HttpResponse::json(
            200,
            &json!({"lists": [{"list_id": "l-2", "name": "Customers", "membership_count": 7}]}),
        )),
    ]
}

#[test]
fn the_plugin_and_the_builtin_have_identical_manifests() {
    let plugin = load_plugin(&constant_contact_plugin()).expect("the plugin loads");
    assert_eq!(plugin.manifest(), builtin().manifest());
}

#[test]
fn the_plugin_and_the_builtin_give_identical_results_for_the_same_call() {
    let plugin = load_plugin(&constant_contact_plugin()).expect("the plugin loads");
    let builtin = builtin();
    let cases = vec![
        (
            invocation(
                "account.get_summary",
                json!({"extra_fields": ["physical_address"]}),
            ),
            vec![Ok(HttpResponse::json(
                200,
                &json!({"organization_name": "Acme", "physical_address": {"city": "Boston"}}),
            ))],
        ),
        (
            invocation("contact_lists.list", json!({"status": "all"})),
            two_pages_of_lists(),
        ),
        (
            invocation("account.get_user_privileges", json!({})),
            vec![Ok(HttpResponse::json(
                401,
                &json!({"error_key": "unauthorized", "error_message": "Unauthorized"}),
            ))],
        ),
        (
            invocation("account.get_summary", json!({"extra_fields": "not a list"})),
            vec![],
        ),
        (invocation("no.such_method", json!({})), vec![]),
        (
            invocation("account.get_summary", json!({})),
            vec![Err(ConnectorError::Timeout)],
        ),
    ];
    for (call, responses) in cases {
        let (plugin_result, plugin_host) = observe(&plugin, &call, responses.clone());
        let (builtin_result, builtin_host) = observe(&builtin, &call, responses);
        assert_eq!(plugin_result, builtin_result, "result of {}", call.method);
        assert_eq!(
            plugin_host.requests(),
            builtin_host.requests(),
            "requests of {}",
            call.method
        );
        assert_eq!(
            plugin_host.records(),
            builtin_host.records(),
            "records of {}",
            call.method
        );
        assert_eq!(
            plugin_host.logs(),
            builtin_host.logs(),
            "logs of {}",
            call.method
        );
    }
}

#[test]
fn records_and_requests_really_cross_the_boundary() {
    let plugin = load_plugin(&constant_contact_plugin()).expect("the plugin loads");
    let (result, host) = observe(
        &plugin,
        &invocation("contact_lists.list", json!({})),
        two_pages_of_lists(),
    );
    assert_eq!(result.expect("succeeds"), json!({"count": 2}));
    let requests = host.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/contact_lists");
    assert_eq!(requests[0].query, vec![("limit".into(), "500".into())]);
    assert_eq!(requests[1].path, "/contact_lists?cursor=page2");
    let names: Vec<String> = host
        .records()
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["Newsletter", "Customers"]);
    let logs = host.logs();
    assert_eq!(logs.len(), 2, "one log line per page: {logs:?}");
    assert_eq!(logs[0].0, plugboard_core::LogLevel::Debug);
}

/// Serves a contact export's CSV file (`rows` rows, made as it is read) through
/// `send_streamed` only, counting the bytes read.
struct ExportFile {
    rows: usize,
    served: std::sync::atomic::AtomicUsize,
    records: std::sync::Mutex<Vec<Value>>,
}

impl plugboard_core::Host for ExportFile {
    fn send(&self, request: plugboard_core::HttpRequest) -> Result<HttpResponse, ConnectorError> {
        Err(ConnectorError::plugin(format!(
            "{} must come through send_streamed",
            request.path
        )))
    }

    fn send_streamed(
        &self,
        _: plugboard_core::HttpRequest,
    ) -> Result<plugboard_core::StreamedResponse<'_>, ConnectorError> {
        let header = std::iter::once("email_address,first_name\n".to_owned());
        let rows = (0..self.rows).map(|n| format!("c{n}@example.com,\"N{n}, Jr.\"\n"));
        let served = &self.served;
        let body = Lines {
            lines: header.chain(rows),
            line: Vec::new(),
            at: 0,
        };
        Ok(plugboard_core::StreamedResponse {
            status: 200,
            headers: vec![("content-type".into(), "text/csv".into())],
            body: Box::new(Counted { body, served }),
        })
    }

    fn emit(&self, record: Value) -> Result<(), ConnectorError> {
        self.records.lock().expect("not poisoned").push(record);
        Ok(())
    }

    fn log(&self, _: plugboard_core::LogLevel, _: &str) {}

    fn is_cancelled(&self) -> bool {
        false
    }

    fn sleep(&self, _: std::time::Duration) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// A body made a line at a time, as it is read.
struct Lines<I> {
    lines: I,
    line: Vec<u8>,
    at: usize,
}

impl<I: Iterator<Item = String>> std::io::Read for Lines<I> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.line.len() {
            match self.lines.next() {
                Some(line) => (self.line, self.at) = (line.into_bytes(), 0),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.line.len() - self.at);
        buf[..n].copy_from_slice(&self.line[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A body that counts the bytes read from it.
struct Counted<'a, R> {
    body: R,
    served: &'a std::sync::atomic::AtomicUsize,
}

impl<R: std::io::Read> std::io::Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.body.read(buf)?;
        self.served
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

#[test]
fn a_download_is_streamed_through_the_plugin_as_through_the_builtin() {
    let plugin = load_plugin(&constant_contact_plugin()).expect("the plugin loads");
    let call = invocation(
        "bulk.download_export",
        json!({"file_export_id": "04fe9a97-a579-43c5-bb1a-58ed29bf0a6a"}),
    );
    let mut seen = Vec::new();
    for connector in [&plugin as &dyn Connector, &builtin()] {
        let host = ExportFile {
            rows: 20_000,
            served: std::sync::atomic::AtomicUsize::new(0),
            records: std::sync::Mutex::new(Vec::new()),
        };
        let result = connector
            .invoke(&call, &host)
            .expect("the download succeeds");
        let records = host.records.into_inner().expect("not poisoned");
        assert_eq!(records.len(), 20_000, "{result}");
        assert_eq!(records[19_999]["first_name"], "N19999, Jr.");
        seen.push((result, records, host.served.into_inner()));
    }
    assert_eq!(
        seen[0], seen[1],
        "the plugin and the built-in give the same"
    );
}

#[test]
fn a_cancelled_host_stops_the_plugin_before_it_sends() {
    let plugin = load_plugin(&constant_contact_plugin()).expect("the plugin loads");
    let host = ScriptedHost::cancelled();
    let result = plugin.invoke(&invocation("account.get_summary", json!({})), &host);
    assert_eq!(result, Err(ConnectorError::Cancelled));
    assert!(host.requests().is_empty());
}

#[test]
fn the_runner_host_answers_through_the_callback_table() {
    let plugin = load_plugin(&constant_contact_plugin()).expect("the plugin loads");
    let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let host =
        plugboard_runner::RunnerHost::new("constant-contact", Box::new(|_| Ok(())), cancelled);
    let error = plugin
        .invoke(&invocation("account.get_summary", json!({})), &host)
        .expect_err("HTTP is not wired yet");
    let ConnectorError::NotImplemented { what } = error else {
        panic!("expected NotImplemented, got {error:?}");
    };
    assert!(what.contains("GET /account/summary"), "{what}");
}

fn load_error(path: &std::path::Path) -> LoadError {
    match load_plugin(path) {
        Ok(_) => panic!("{} should not load", path.display()),
        Err(error) => error,
    }
}

#[test]
fn a_plugin_for_another_abi_major_is_refused() {
    let path = bad_plugin(Some("wrong-abi"));
    let message = load_error(&path).to_string();
    assert!(
        message.starts_with(&path.display().to_string()),
        "{message}"
    );
    assert!(message.contains("plugin ABI 99.x"), "{message}");
    assert!(message.contains("ABI 1.x"), "{message}");
}

#[test]
fn a_library_without_the_plugin_symbol_is_refused() {
    let path = bad_plugin(None);
    let error = load_error(&path);
    assert!(matches!(error, LoadError::MissingSymbol { .. }), "{error}");
    assert!(error.to_string().contains("PLUGBOARD_PLUGIN_V1"), "{error}");
    assert_eq!(error.path(), path);
}

#[test]
fn a_file_that_is_not_a_library_is_refused() {
    let dir = temp_dir("not-a-library");
    let path = dir.join(format!("notes.{}", std::env::consts::DLL_EXTENSION));
    std::fs::write(&path, "this is text, not ELF").expect("write");
    let error = load_error(&path);
    assert!(matches!(error, LoadError::NotALibrary { .. }), "{error}");
    assert!(error.to_string().contains("notes."), "{error}");
}

#[test]
fn a_panicking_export_is_reported_not_propagated() {
    let path = bad_plugin(Some("panicking-manifest"));
    let message = load_error(&path).to_string();
    assert!(message.contains("manifest export failed"), "{message}");
    assert!(message.contains("panics on purpose"), "{message}");
}

#[test]
fn a_plugin_that_would_abort_on_panic_is_refused() {
    let message = load_error(&bad_plugin(Some("panic-abort"))).to_string();
    assert!(message.contains("panic = \"abort\""), "{message}");
}

#[test]
fn a_directory_of_mixed_plugins_loads_the_good_ones_and_names_each_bad_file() {
    let dir = temp_dir("mixed-plugins");
    install(&constant_contact_plugin(), &dir, "a-constant-contact");
    install(&constant_contact_plugin(), &dir, "b-constant-contact-again");
    install(&bad_plugin(Some("wrong-abi")), &dir, "c-wrong-abi");
    install(&bad_plugin(None), &dir, "d-no-symbol");
    install(&bad_plugin(Some("panicking-manifest")), &dir, "e-panicking");
    std::fs::write(
        dir.join(format!("f-text.{}", std::env::consts::DLL_EXTENSION)),
        "text",
    )
    .expect("write");
    std::fs::write(
        dir.join("README.txt"),
        "not a library, not even named like one",
    )
    .expect("write");

    let mut registry = Registry::new();
    let problems = registry.load_plugin_dir(&dir);
    let loaded: Vec<&str> = registry.iter().map(|c| c.manifest().id.as_str()).collect();
    assert_eq!(loaded, ["constant-contact"]);

    let described: Vec<(String, String)> = problems
        .iter()
        .map(|p| {
            let file = p
                .path()
                .file_name()
                .expect("a file")
                .to_string_lossy()
                .into_owned();
            let kind = match p {
                LoadError::DuplicateId { .. } => "duplicate",
                LoadError::Refused { .. } => "refused",
                LoadError::MissingSymbol { .. } => "missing symbol",
                LoadError::NotALibrary { .. } => "not a library",
                LoadError::Directory { .. } => "directory",
                LoadError::InvalidMethod { .. } => "invalid method",
            };
            (file, kind.to_owned())
        })
        .collect();
    let so = std::env::consts::DLL_EXTENSION;
    let expected: Vec<(String, String)> = [
        ("b-constant-contact-again", "duplicate"),
        ("c-wrong-abi", "refused"),
        ("d-no-symbol", "missing symbol"),
        ("e-panicking", "refused"),
        ("f-text", "not a library"),
    ]
    .iter()
    .map(|(f, k)| (format!("{f}.{so}"), (*k).to_owned()))
    .collect();
    assert_eq!(described, expected);
    let duplicate = problems[0].to_string();
    assert!(
        duplicate.contains("a-constant-contact"),
        "names the first file: {duplicate}"
    );
}

#[test]
fn a_plugin_duplicating_a_builtin_is_reported_and_the_builtin_stays() {
    let dir = temp_dir("duplicate-of-builtin");
    install(&constant_contact_plugin(), &dir, "constant-contact");
    let (mut registry, problems) = Registry::with_builtins();
    assert!(problems.is_empty());
    let problems = registry.load_plugin_dir(&dir);
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0]
            .to_string()
            .contains("already provided by built in"),
        "{}",
        problems[0]
    );
    let source = &registry
        .get("constant-contact")
        .expect("still there")
        .source;
    assert_eq!(*source, plugboard_runner::ConnectorSource::BuiltIn);
}

#[test]
fn waits_between_polls_cross_the_boundary_to_the_host() {
    let activity = |state: &str| {
        Ok(HttpResponse::json(
            200,
            &json!({"activity_id": "a-1", "state": state, "percent_done": 50}),
        ))
    };
    let call = invocation("bulk.wait_for_activity", json!({"activity_id": "a-1"}));
    let responses = || {
        vec![
            activity("initialized"),
            activity("processing"),
            activity("completed"),
        ]
    };
    let plugin = load_plugin(&constant_contact_plugin()).expect("the plugin loads");
    let (from_plugin, plugin_host) = observe(&plugin, &call, responses());
    let (from_builtin, builtin_host) = observe(&builtin(), &call, responses());
    assert_eq!(
        from_plugin.expect("the plugin's wait succeeds"),
        from_builtin.expect("the built-in's wait succeeds")
    );
    assert_eq!(
        plugin_host.sleeps().len(),
        2,
        "one wait before each poll after the first"
    );
    assert_eq!(plugin_host.sleeps(), builtin_host.sleeps());
}

#[test]
fn a_cancelled_run_stops_a_plugin_wait_before_its_first_poll() {
    let plugin = load_plugin(&constant_contact_plugin()).expect("the plugin loads");
    let host = ScriptedHost::cancelled();
    let call = invocation("bulk.wait_for_activity", json!({"activity_id": "a-1"}));
    assert!(matches!(
        plugin.invoke(&call, &host),
        Err(ConnectorError::Cancelled)
    ));
}
