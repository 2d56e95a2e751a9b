//! Property-based tests of everything that comes from users or the network: workflow files,
//! connection settings, plugin manifests and API responses. Malformed input never panics; it gives
//! an error that says where the problem is, and never repeats a secret.
//!
//! Each property runs 64 cases (`PROPTEST_CASES` overrides it); found cases are pinned in
//! `malformed_inputs.proptest-regressions`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, OnceLock};

use plugboard_core::plugin::PluginConnector;
use plugboard_core::plugin::abi::{
    ABI_MAJOR, ABI_MINOR, ByteSlice, HostVTable, MAGIC, OwnedBuffer, PluginDeclaration,
    PluginVTable, STATUS_ERROR, STATUS_OK, Status,
};
use plugboard_core::{
    Connector, ConnectorError, DefinedConnector, Host, HttpRequest, HttpResponse, Invocation,
    LogLevel, Manifest, settings,
};
use plugboard_runner::Registry;
use plugboard_runner::workflow::SessionCatalog;
use plugboard_tests::{ScriptedHost, workspace_root};
use plugboard_workflow::{Problem, validate};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value, json};

/// 64 cases unless `PROPTEST_CASES` says otherwise: an explicit config ignores that variable.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64);
    ProptestConfig::with_cases(cases)
}

// ---------------------------------------------------------------------------------------------
// Shared strategies and mutations
// ---------------------------------------------------------------------------------------------

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn kind(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// `candidate`, or a value of another type than `original` when they have the same type.
fn other_type(original: &Value, candidate: Value) -> Value {
    if kind(original) != kind(&candidate) {
        return candidate;
    }
    [
        json!("x"),
        json!(7),
        json!(null),
        json!([]),
        json!({}),
        json!(true),
    ]
    .into_iter()
    .find(|v| kind(v) != kind(original))
    .expect("six kinds cover every type")
}

/// One step of a path into a JSON value.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    At(usize),
}

/// Every path in `value` (the root excluded), depth first.
fn paths(value: &Value) -> Vec<Vec<Seg>> {
    fn walk(value: &Value, prefix: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    prefix.push(Seg::Key(key.clone()));
                    out.push(prefix.clone());
                    walk(child, prefix, out);
                    prefix.pop();
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    prefix.push(Seg::At(i));
                    out.push(prefix.clone());
                    walk(child, prefix, out);
                    prefix.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

fn parent_mut<'v>(root: &'v mut Value, path: &[Seg]) -> Option<&'v mut Value> {
    let (_, parents) = path.split_last()?;
    parents.iter().try_fold(root, |value, seg| match seg {
        Seg::Key(key) => value.get_mut(key.as_str()),
        Seg::At(i) => value.get_mut(*i),
    })
}

/// What a structured mutation does.
#[derive(Debug, Clone)]
enum Mutation {
    /// Removes the key (or array element) at a random path.
    Delete(Index),
    /// Replaces the value at a random path with a value of another type.
    Retype(Index, Value),
    /// Cuts the text at a random character boundary.
    Truncate(Index),
    /// Inserts text at a random character boundary.
    Insert(Index, String),
    /// Repeats one `"key": scalar` line of the pretty-printed text, so the key appears twice.
    DuplicateKey(Index),
    /// Wraps the value at a random path in 10,000 arrays.
    DeepNesting(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => any::<Index>().prop_map(Mutation::Delete),
        3 => (any::<Index>(), json_value()).prop_map(|(i, v)| Mutation::Retype(i, v)),
        2 => any::<Index>().prop_map(Mutation::Truncate),
        2 => (any::<Index>(), prop_oneof![
            Just("}".to_owned()), Just(",".to_owned()), Just("\"".to_owned()),
            Just("\\".to_owned()), Just("\n".to_owned()), Just("ü".to_owned()),
            "\\PC{1,8}", "[\\[\\]{}\":, \\n]{1,6}",
        ]).prop_map(|(i, s)| Mutation::Insert(i, s)),
        1 => any::<Index>().prop_map(Mutation::DuplicateKey),
        1 => any::<Index>().prop_map(Mutation::DeepNesting),
    ]
}

/// Applies a mutation to a document, giving the mutated text and what was changed (a key name,
/// for a value mutation, so errors can be expected to name it).
fn apply(document: &Value, mutation: &Mutation) -> (String, Vec<Seg>) {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).expect("a value serializes");
    let mut value = document.clone();
    let all = paths(document);
    match mutation {
        Mutation::Delete(i) | Mutation::Retype(i, _) | Mutation::DeepNesting(i)
            if !all.is_empty() =>
        {
            let path = all[i.index(all.len())].clone();
            let parent = parent_mut(&mut value, &path).expect("the path exists");
            let last = path.last().expect("paths are not empty");
            match (mutation, last, parent) {
                (Mutation::Delete(_), Seg::Key(key), Value::Object(map)) => {
                    map.remove(key);
                }
                (Mutation::Delete(_), Seg::At(n), Value::Array(items)) => {
                    items.remove(*n);
                }
                (Mutation::Retype(_, candidate), seg, parent) => {
                    let slot = match seg {
                        Seg::Key(key) => parent.get_mut(key.as_str()),
                        Seg::At(n) => parent.get_mut(*n),
                    }
                    .expect("the path exists");
                    *slot = other_type(slot, candidate.clone());
                }
                (Mutation::DeepNesting(_), seg, parent) => {
                    let slot = match seg {
                        Seg::Key(key) => parent.get_mut(key.as_str()),
                        Seg::At(n) => parent.get_mut(*n),
                    }
                    .expect("the path exists");
                    let marker = "\"__deep__\"";
                    let inner = std::mem::replace(slot, json!("__deep__"));
                    let text = pretty(&value).replacen(
                        marker,
                        &format!(
                            "{}{}{}",
                            "[".repeat(10_000),
                            serde_json::to_string(&inner).expect("a value serializes"),
                            "]".repeat(10_000)
                        ),
                        1,
                    );
                    return (text, path);
                }
                _ => unreachable!("a path's parent is an object or an array"),
            }
            (pretty(&value), path)
        }
        Mutation::Truncate(i) => {
            let text = pretty(&value);
            let boundaries: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
            let cut = boundaries[i.index(boundaries.len())];
            (text[..cut].to_owned(), Vec::new())
        }
        Mutation::Insert(i, junk) => {
            let mut text = pretty(&value);
            let mut boundaries: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
            boundaries.push(text.len());
            text.insert_str(boundaries[i.index(boundaries.len())], junk);
            (text, Vec::new())
        }
        Mutation::DuplicateKey(i) => {
            let text = pretty(&value);
            let lines: Vec<&str> = text.lines().collect();
            let candidates: Vec<usize> = (0..lines.len())
                .filter(|&n| {
                    let line = lines[n].trim();
                    line.starts_with('"')
                        && line.contains("\": ")
                        && !line.ends_with('{')
                        && !line.ends_with('[')
                })
                .collect();
            if candidates.is_empty() {
                return (text, Vec::new());
            }
            let n = candidates[i.index(candidates.len())];
            let copy = lines[n].trim_end_matches(',');
            let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
            out.insert(n, format!("{copy},"));
            (out.join("\n"), Vec::new())
        }
        _ => (pretty(&value), Vec::new()),
    }
}

// ---------------------------------------------------------------------------------------------
// Workflow files
// ---------------------------------------------------------------------------------------------

/// The built-in connectors, as `plugboard validate` sees them (connections are not checked).
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let (registry, problems) = Registry::with_builtins();
        assert!(problems.is_empty(), "{problems:?}");
        registry
    })
}

/// The example workflows, parsed.
fn examples() -> &'static [(String, Value)] {
    static EXAMPLES: OnceLock<Vec<(String, Value)>> = OnceLock::new();
    EXAMPLES.get_or_init(|| {
        let dir = workspace_root().join("examples");
        let mut found: Vec<(String, Value)> = std::fs::read_dir(&dir)
            .expect("the examples directory exists")
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .map(|path| {
                let text = std::fs::read_to_string(&path).expect("an example is readable");
                let value = serde_json::from_str(&text).expect("an example is JSON");
                (path.display().to_string(), value)
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        assert!(found.len() >= 3, "examples: {found:?}");
        found
    })
}

/// Validates like `plugboard validate` and checks what every outcome must satisfy.
fn check_workflow(source: &str) -> Result<(), TestCaseError> {
    let catalog = SessionCatalog::new(registry(), None);
    let outcome = catch_unwind(AssertUnwindSafe(|| validate(source, &catalog)));
    let Ok(outcome) = outcome else {
        return Err(TestCaseError::fail(format!(
            "validation panicked on {:?}",
            preview(source)
        )));
    };
    let parsed: Option<Value> = serde_json::from_str(source).ok();
    let problems = match outcome {
        Ok(_) => {
            prop_assert!(parsed.is_some(), "a valid workflow is JSON");
            return Ok(());
        }
        Err(problems) => problems,
    };
    prop_assert!(!problems.is_empty(), "an invalid document has a problem");
    let lines: Vec<&str> = source.split('\n').collect();
    for problem in &problems {
        check_location(problem, &lines)?;
        prop_assert!(!problem.message.is_empty(), "{problem:?}");
        if let Some(document) = &parsed {
            prop_assert!(
                document.pointer(&problem.pointer).is_some(),
                "the pointer of `{problem}` does not resolve in {}",
                preview(source)
            );
        }
    }
    Ok(())
}

fn check_location(problem: &Problem, lines: &[&str]) -> Result<(), TestCaseError> {
    if problem.line == 0 && problem.column == 0 {
        return Ok(()); // explicitly not in the file
    }
    prop_assert!(
        problem.line >= 1 && problem.line <= lines.len(),
        "line out of the document ({} lines): {problem:?}",
        lines.len()
    );
    let width = lines[problem.line - 1].chars().count();
    prop_assert!(
        problem.column >= 1 && problem.column <= width + 1,
        "column out of line {} ({width} characters): {problem:?}",
        problem.line
    );
    Ok(())
}

fn preview(text: &str) -> String {
    if text.len() <= 300 {
        return text.to_owned();
    }
    let mut end = 300;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}

#[test]
fn the_examples_are_valid_and_the_checker_sees_real_problems() {
    let catalog = SessionCatalog::new(registry(), None);
    for (path, value) in examples() {
        let text = serde_json::to_string_pretty(value).expect("serializes");
        if let Err(problems) = validate(&text, &catalog) {
            panic!("{path}: {problems:?}");
        }
    }
    // The pointer check fails on a problem whose pointer is not in the document.
    let made_up = Problem {
        pointer: "/nowhere".into(),
        line: 1,
        column: 1,
        message: "x".into(),
    };
    assert!(json!({}).pointer(&made_up.pointer).is_none());
    assert!(check_location(&made_up, &["{}"]).is_ok());
    let past_the_line = Problem {
        column: 4,
        ..made_up
    };
    assert!(check_location(&past_the_line, &["{}"]).is_err());
}

#[test]
fn deeply_nested_workflows_are_problems_not_stack_overflows() {
    for source in [
        "[".repeat(10_000),
        format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
        format!(
            "{{\"name\": \"x\", \"steps\": {}}}",
            "{\"a\":".repeat(10_000)
        ),
        // Under serde_json's recursion limit: parsed, so the schema and locator walk it.
        format!(
            "{{\"name\": \"x\", \"steps\": [{{\"id\": \"a\", \"call\": \"c.m\", \"input\": {}1{}}}]}}",
            "[".repeat(120),
            "]".repeat(120)
        ),
    ] {
        check_workflow(&source).unwrap_or_else(|e| panic!("{e}"));
        assert!(validate(&source, &SessionCatalog::new(registry(), None)).is_err());
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_is_never_a_panic(
        text in prop_oneof![
            "\\PC{0,200}",
            "[\\[\\]{}\":,0-9a-z \\n\\\\tfrunle.+-]{0,200}",
            prop::collection::vec(any::<u8>(), 0..200)
                .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        ]
    ) {
        check_workflow(&text)?;
    }

    #[test]
    fn mutated_examples_give_located_problems(
        example in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..3),
    ) {
        let (_, original) = &examples()[example.index(examples().len())];
        let mut value = original.clone();
        let mut text = serde_json::to_string_pretty(&value).expect("serializes");
        for m in &mutations {
            // A later mutation applies to the text of the earlier one when it is still JSON.
            if let Ok(parsed) = serde_json::from_str::<Value>(&text) {
                value = parsed;
                text = apply(&value, m).0;
            }
        }
        check_workflow(&text)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

fn connector(id: &str) -> Arc<dyn Connector> {
    Arc::clone(
        &registry()
            .get(id)
            .unwrap_or_else(|| panic!("{id} is built in"))
            .connector,
    )
}

/// A settings value: any JSON, a huge string, or a nested object.
fn setting_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => json_value(),
        1 => (1usize..200_000).prop_map(|n| Value::String("x".repeat(n))),
        1 => Just(json!("https://api.example.test/v1")),
        1 => Just(json!({"a": {"b": {"c": [1, 2, {"d": null}]}}})),
        1 => Just(json!("")),
    ]
}

/// A settings object: keys from the schema and unknown ones; some values carry a distinctive
/// `SECRET-...` token (as text, inside an array or an object), so a leak is seen.
fn settings_object(names: Vec<String>) -> impl Strategy<Value = Map<String, Value>> {
    let name = prop_oneof![
        3 => prop::sample::select(names),
        1 => "[a-z_~/]{1,10}",
    ];
    let secret = "[A-Za-z0-9]{12}".prop_flat_map(|token| {
        let token = format!("SECRET-{token}");
        prop_oneof![
            Just(json!(token)),
            Just(json!([token])),
            Just(json!({"nested": token})),
            Just(json!(format!("{token}{}", " ".repeat(100)))),
        ]
    });
    let value = prop_oneof![2 => setting_value(), 1 => secret];
    prop::collection::vec((name, value), 0..8).prop_map(|entries| entries.into_iter().collect())
}

/// The `SECRET-...` tokens in a value.
fn secret_tokens(value: &Value) -> Vec<String> {
    let text = value.to_string();
    text.match_indices("SECRET-")
        .filter_map(|(i, _)| text.get(i..i + 19))
        .map(str::to_owned)
        .collect()
}

fn check_settings(
    manifest: &Manifest,
    partner: &Map<String, Value>,
    connection: &Map<String, Value>,
) -> Result<(), TestCaseError> {
    let schema = &manifest.settings_schema;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        plugboard_runner::settings::resolve(schema, partner, connection)
    }));
    let Ok(outcome) = outcome else {
        return Err(TestCaseError::fail(format!(
            "settings::resolve of {} panicked",
            manifest.id
        )));
    };
    let Err(error) = outcome else {
        return Ok(());
    };
    prop_assert!(!error.problems.is_empty());
    let text = error.to_string();
    let debug = format!("{error:?}");
    // Every value given in a secret field must stay out of the error.
    for given in [partner, connection] {
        for (name, value) in given {
            if !settings::is_secret(schema, name) {
                continue;
            }
            for token in secret_tokens(value) {
                prop_assert!(
                    !text.contains(&token) && !debug.contains(&token),
                    "the secret `{name}` leaked: {text}"
                );
            }
        }
    }
    for problem in &error.problems {
        let field = problem
            .pointer
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default()
            .replace("~1", "/")
            .replace("~0", "~");
        prop_assert!(
            !field.is_empty(),
            "{} names no field: {text}",
            problem.message
        );
        let title = settings::field_title(schema, &field);
        prop_assert!(
            problem.message.contains(&field) || problem.message.contains(title),
            "`{}` does not name `{field}`",
            problem.message
        );
    }
    Ok(())
}

fn settings_case(id: &str) -> impl Strategy<Value = (Map<String, Value>, Map<String, Value>)> {
    let manifest = connector(id).manifest().clone();
    let names: Vec<String> = settings::fields(&manifest.settings_schema)
        .into_iter()
        .map(|f| f.name)
        .collect();
    (settings_object(names.clone()), settings_object(names))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn constant_contact_settings_errors_name_fields_and_hide_secrets(
        (partner, connection) in settings_case("constant-contact")
    ) {
        check_settings(connector("constant-contact").manifest(), &partner, &connection)?;
    }

    #[test]
    fn http_settings_errors_name_fields_and_hide_secrets(
        (partner, connection) in settings_case("http")
    ) {
        check_settings(connector("http").manifest(), &partner, &connection)?;
    }
}

#[test]
fn a_secret_in_a_wrongly_typed_setting_is_not_repeated() {
    let manifest = connector("http").manifest().clone();
    let secrets: Vec<String> = settings::fields(&manifest.settings_schema)
        .into_iter()
        .filter(|f| f.secret)
        .map(|f| f.name)
        .collect();
    assert!(
        !secrets.is_empty(),
        "the http connector has secret settings"
    );
    let mut connection = Map::new();
    for name in &secrets {
        connection.insert(name.clone(), json!(["SECRET-in-an-array-1234"]));
    }
    let error =
        plugboard_runner::settings::resolve(&manifest.settings_schema, &Map::new(), &connection)
            .expect_err("a secret in an array is invalid");
    assert!(!error.to_string().contains("SECRET-in-an-array"), "{error}");
    check_settings(&manifest, &Map::new(), &connection).expect("the properties hold");
}

// ---------------------------------------------------------------------------------------------
// Plugin manifests, through the host's own loader
// ---------------------------------------------------------------------------------------------

thread_local! {
    /// The bytes the fake plugin's `manifest` export returns on this thread.
    static MANIFEST_BYTES: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A stand-in for an instance; never dereferenced.
static INSTANCE: u8 = 0;

unsafe extern "C" fn fake_manifest(out: *mut OwnedBuffer) -> Status {
    let bytes = MANIFEST_BYTES.with(|b| b.borrow().clone());
    // SAFETY: the host passes a writable buffer.
    unsafe { out.write(OwnedBuffer::from_vec(bytes)) };
    STATUS_OK
}

unsafe extern "C" fn fake_instantiate(
    instance: *mut *mut c_void,
    _out: *mut OwnedBuffer,
) -> Status {
    // SAFETY: the host passes a writable pointer.
    unsafe { instance.write((&raw const INSTANCE).cast_mut().cast()) };
    STATUS_OK
}

unsafe extern "C" fn fake_invoke(
    _instance: *mut c_void,
    _invocation: ByteSlice,
    _host: *const HostVTable,
    _host_ctx: *mut c_void,
    _out: *mut OwnedBuffer,
) -> Status {
    STATUS_ERROR
}

unsafe extern "C" fn fake_destroy(_instance: *mut c_void) {}

unsafe extern "C" fn fake_buf_free(buffer: OwnedBuffer) {
    // SAFETY: every buffer this fake hands out comes from `OwnedBuffer::from_vec` in this binary.
    unsafe { buffer.free() }
}

static FAKE_VTABLE: PluginVTable = PluginVTable {
    size: std::mem::size_of::<PluginVTable>(),
    manifest: fake_manifest,
    instantiate: fake_instantiate,
    invoke: fake_invoke,
    destroy: fake_destroy,
    buf_free: fake_buf_free,
};

unsafe extern "C" fn fake_plugin_vtable() -> *const PluginVTable {
    &FAKE_VTABLE
}

static FAKE_DECLARATION: PluginDeclaration = PluginDeclaration {
    magic: MAGIC,
    abi_major: ABI_MAJOR,
    abi_minor: ABI_MINOR,
    panic_unwind: 1,
    plugin_vtable: fake_plugin_vtable,
};

/// Loads a plugin whose manifest export returns `bytes`, as the host loads a real one.
fn load_manifest(bytes: Vec<u8>) -> Result<Manifest, String> {
    MANIFEST_BYTES.with(|b| *b.borrow_mut() = bytes);
    // SAFETY: the declaration is a static of this binary, so its vtable lives forever.
    let loaded = unsafe { PluginConnector::from_declaration(&FAKE_DECLARATION) };
    loaded
        .map(|plugin| plugin.manifest().clone())
        .map_err(|e| e.to_string())
}

fn constant_contact_manifest() -> &'static Value {
    static MANIFEST: OnceLock<Value> = OnceLock::new();
    MANIFEST.get_or_init(|| {
        let connector = DefinedConnector::new::<constant_contact::ConstantContact>();
        serde_json::to_value(connector.manifest()).expect("a manifest serializes")
    })
}

#[test]
fn the_real_manifest_loads_through_the_fake_plugin() {
    let manifest = constant_contact_manifest();
    let loaded = load_manifest(serde_json::to_vec(&manifest).expect("serializes"))
        .expect("the real manifest loads");
    assert_eq!(
        &serde_json::to_value(&loaded).expect("serializes"),
        manifest
    );
    let error = load_manifest(b"{\"id\": 1".to_vec()).expect_err("malformed");
    assert!(error.contains("line 1 column"), "{error}");
}

/// Whether a manifest error says where: a syntax error's line and column, or the field (and for
/// a method, which method) a value mutation touched.
fn says_where(error: &str, original: &Value, path: &[Seg]) -> Result<(), TestCaseError> {
    let positioned = error.contains("line ") && error.contains("column ");
    // Too deep to parse: a syntax error, located by line and column.
    if error.contains("recursion limit") {
        prop_assert!(positioned, "a syntax error without its position: {error}");
        return Ok(());
    }
    // A text mutation may leave valid JSON that is not a valid manifest (junk inside a key):
    // then the error names the field.
    if path.is_empty() {
        prop_assert!(
            positioned || error.contains(" at `") || error.contains("missing field `"),
            "an error that says neither line and column nor field: {error}"
        );
        return Ok(());
    }
    // The nearest named field on the path, and the method it is in.
    let method = match path {
        [Seg::Key(k), Seg::At(i), ..] if k == "methods" => Some(*i),
        _ => None,
    };
    if let (None, Some(Seg::Key(field))) = (method, path.first()) {
        prop_assert!(
            error.contains(&format!("`{field}`")),
            "names no field (expected `{field}`): {error}"
        );
    }
    if let Some(i) = method {
        let id = original["methods"][i]["id"].as_str().unwrap_or_default();
        prop_assert!(
            error.contains(&format!("`{id}`")) || error.contains(&format!("methods[{i}]")),
            "names no method (expected `{id}`, the method at index {i}): {error}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mutated_manifests_are_refused_with_a_location(mutation in mutation()) {
        let original = constant_contact_manifest();
        let (text, path) = match &mutation {
            // A manifest comes on one line; a pretty one is as valid.
            Mutation::DeepNesting(_) | Mutation::Delete(_) | Mutation::Retype(..) => {
                apply(original, &mutation)
            }
            other => (apply(original, other).0, Vec::new()),
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| load_manifest(text.into_bytes())));
        let Ok(outcome) = outcome else {
            return Err(TestCaseError::fail("loading the manifest panicked"));
        };
        if let Err(error) = outcome {
            prop_assert!(error.contains("manifest"), "{error}");
            says_where(&error, original, &path)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// API responses
// ---------------------------------------------------------------------------------------------

const CONTACT: &str = "1618ae62-4752-11e9-9c8a-fa163e6b01c1";
const LIST: &str = "07936f78-662a-11eb-af0a-fa163e56c9b0";
const TAG: &str = "e7ddac60-51da-11eb-b3a4-fa163e6b01c1";
const FIELD: &str = "6e7cd1d0-3e2a-11eb-b3a4-fa163e6b01c1";
const ACTIVITY: &str = "04fe9a97-a579-43c5-bb1a-58ed29bf0a6a";
const CAMPAIGN: &str = "91569d46-00e4-4a4d-9a4c-d17d98740d04";
const CAMPAIGN_ACTIVITY: &str = "8ca7e9c8-7d27-4b2e-9b0a-2b8a4a1c3f10";

/// A valid input of every Constant Contact method (as in `constant_contact_spec.rs`).
fn constant_contact_inputs() -> BTreeMap<&'static str, Value> {
    BTreeMap::from([
        ("account.get_summary", json!({})),
        ("account.get_user_privileges", json!({})),
        (
            "contact_lists.list",
            json!({"include_membership_count": "all"}),
        ),
        (
            "contacts.list",
            json!({"include_count": true, "lists": [LIST]}),
        ),
        ("contacts.get", json!({"contact_id": CONTACT})),
        (
            "contacts.create",
            json!({"create_source": "Account",
            "email_address": {"address": "dlang@example.com"}}),
        ),
        (
            "contacts.update",
            json!({"contact_id": CONTACT, "update_source": "Contact",
            "email_address": {"address": "dlang@example.com"}}),
        ),
        (
            "contacts.create_or_update",
            json!({"email_address": "jdodge@example.com",
            "list_memberships": [LIST]}),
        ),
        ("contacts.delete", json!({"contact_id": CONTACT})),
        ("contacts.counts", json!({})),
        (
            "contacts.poll_updated",
            json!({"cursor": "2026-01-01T00:00:00.000Z"}),
        ),
        ("contact_lists.get", json!({"list_id": LIST})),
        ("contact_lists.create", json!({"name": "Customers"})),
        (
            "contact_lists.update",
            json!({"list_id": LIST, "name": "Customers 2026"}),
        ),
        ("contact_lists.delete", json!({"list_id": LIST})),
        ("tags.list", json!({"include_count": true})),
        ("tags.create", json!({"name": "VIP"})),
        ("tags.update", json!({"tag_id": TAG, "name": "Very VIP"})),
        ("tags.delete", json!({"tag_id": TAG})),
        ("custom_fields.list", json!({})),
        (
            "custom_fields.create",
            json!({"label": "Favorite Fruit", "type": "string"}),
        ),
        (
            "custom_fields.update",
            json!({"custom_field_id": FIELD, "label": "Fruit"}),
        ),
        ("custom_fields.delete", json!({"custom_field_id": FIELD})),
        ("segments.list", json!({})),
        ("segments.get", json!({"segment_id": 14})),
        (
            "segments.create",
            json!({"name": "Engaged", "segment_criteria": "{\"version\":\"1.0.0\"}"}),
        ),
        (
            "segments.update",
            json!({"segment_id": 14, "name": "Engaged", "segment_criteria": "{\"version\":\"1.0.0\"}"}),
        ),
        (
            "segments.rename",
            json!({"segment_id": 14, "name": "Engaged readers"}),
        ),
        ("segments.delete", json!({"segment_id": 14})),
        ("automations.list", json!({})),
        ("automations.get", json!({"automation_flow_id": "f-1"})),
        ("automations.create", json!({"type": "contact_list"})),
        (
            "automations.update",
            json!({"automation_flow_id": "f-1", "automation_flow": {"name": "Welcome"}}),
        ),
        (
            "contacts.sms_engagement_history",
            json!({"contact_id": "c-1"}),
        ),
        (
            "emails.get_ab_test",
            json!({"campaign_activity_id": "8ca7e9c8-7d27-4b2e-9b0a-2b8a4a1c3f10"}),
        ),
        (
            "emails.create_ab_test",
            json!({"campaign_activity_id": "8ca7e9c8-7d27-4b2e-9b0a-2b8a4a1c3f10", "alternative_subject": "B",
                "test_size": 10, "winner_wait_duration": 6}),
        ),
        (
            "emails.delete_ab_test",
            json!({"campaign_activity_id": "8ca7e9c8-7d27-4b2e-9b0a-2b8a4a1c3f10"}),
        ),
        (
            "bulk.add_tags",
            json!({"source": {"contact_ids": ["c-1"]}, "tag_ids": ["e7ddac60-51da-11eb-b3a4-fa163e6b01c1"]}),
        ),
        (
            "bulk.remove_tags",
            json!({"source": {"all_active_contacts": true}, "tag_ids": ["e7ddac60-51da-11eb-b3a4-fa163e6b01c1"]}),
        ),
        (
            "bulk.delete_tags",
            json!({"tag_ids": ["e7ddac60-51da-11eb-b3a4-fa163e6b01c1"]}),
        ),
        ("bulk.delete_lists", json!({"list_ids": ["l-1"]})),
        (
            "bulk.delete_custom_fields",
            json!({"custom_field_ids": ["f-1"]}),
        ),
        ("bulk.list_activities", json!({})),
        ("bulk.export_contacts", json!({"list_ids": ["l-1"]})),
        ("bulk.download_export", json!({"file_export_id": "a-1"})),
        (
            "emails.rename",
            json!({"campaign_id": "91569d46-00e4-4a4d-9a4c-d17d98740d04", "name": "Renamed"}),
        ),
        (
            "emails.delete",
            json!({"campaign_id": "91569d46-00e4-4a4d-9a4c-d17d98740d04"}),
        ),
        (
            "emails.get_schedules",
            json!({"campaign_activity_id": "8ca7e9c8-7d27-4b2e-9b0a-2b8a4a1c3f10"}),
        ),
        (
            "emails.unschedule",
            json!({"campaign_activity_id": "8ca7e9c8-7d27-4b2e-9b0a-2b8a4a1c3f10"}),
        ),
        (
            "emails.send_test",
            json!({"campaign_activity_id": "8ca7e9c8-7d27-4b2e-9b0a-2b8a4a1c3f10", "email_addresses": ["qa@example.com"]}),
        ),
        (
            "emails.preview",
            json!({"campaign_activity_id": "8ca7e9c8-7d27-4b2e-9b0a-2b8a4a1c3f10"}),
        ),
        (
            "emails.send_history",
            json!({"campaign_activity_id": "8ca7e9c8-7d27-4b2e-9b0a-2b8a4a1c3f10"}),
        ),
        (
            "emails.list_resends",
            json!({"campaign_activity_id": "8ca7e9c8-7d27-4b2e-9b0a-2b8a4a1c3f10"}),
        ),
        (
            "emails.create_resend",
            json!({"campaign_activity_id": "8ca7e9c8-7d27-4b2e-9b0a-2b8a4a1c3f10", "resend_subject": "Again", "delay_days": 2}),
        ),
        (
            "emails.delete_resend",
            json!({"campaign_activity_id": "8ca7e9c8-7d27-4b2e-9b0a-2b8a4a1c3f10", "resend_request_id": "392"}),
        ),
        (
            "account.update_summary",
            json!({"website": "https://acme.example"}),
        ),
        ("account.get_physical_address", json!({})),
        (
            "account.add_physical_address",
            json!({"address_line1": "1 Main St", "city": "Boston", "country_code": "US"}),
        ),
        (
            "account.update_physical_address",
            json!({"address_line1": "1 Main St", "city": "Boston", "country_code": "US"}),
        ),
        ("account.list_emails", json!({})),
        (
            "account.add_email",
            json!({"email_address": "news@example.com"}),
        ),
        ("tags.get", json!({"tag_id": TAG})),
        (
            "custom_fields.get",
            json!({"custom_field_id": "6e7cd1d0-3e2a-11eb-b3a4-fa163e6b01c1"}),
        ),
        (
            "contacts.resubscribe",
            json!({"contact_id": "1618ae62-4752-11e9-9c8a-fa163e6b01c1", "list_ids": ["07936f78-662a-11eb-af0a-fa163e56c9b0"]}),
        ),
        (
            "bulk.import_contacts",
            json!({"contacts": [{"email": "a@example.com"}],
            "list_ids": [LIST], "wait": true}),
        ),
        (
            "bulk.import_contacts_csv",
            json!({"rows": [{"email": "a@example.com"}], "list_ids": [LIST], "wait": true}),
        ),
        (
            "bulk.add_to_lists",
            json!({"source": {"list_ids": [LIST]}, "list_ids": [LIST]}),
        ),
        (
            "bulk.remove_from_lists",
            json!({"source": {"contact_ids": [CONTACT]},
            "list_ids": [LIST]}),
        ),
        ("bulk.delete_contacts", json!({"contact_ids": [CONTACT]})),
        ("bulk.get_activity", json!({"activity_id": ACTIVITY})),
        (
            "bulk.wait_for_activity",
            json!({"activity_id": ACTIVITY, "timeout_secs": 120}),
        ),
        ("emails.list", json!({})),
        ("emails.get", json!({"campaign_id": CAMPAIGN})),
        (
            "emails.create",
            json!({"name": "Spring sale", "email": {
            "from_name": "Acme", "from_email": "news@acme.example",
            "reply_to_email": "news@acme.example", "subject": "Spring is here",
            "html_content": "<html><body>[[trackingImage]]</body></html>"}}),
        ),
        (
            "emails.get_activity",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
        ),
        (
            "emails.update_activity",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY,
            "email": {"from_name": "Acme", "from_email": "news@acme.example",
                    "reply_to_email": "news@acme.example", "subject": "Spring is here",
                    "html_content": "<html><body>[[trackingImage]]<p>Hello</p></body></html>"},
            "contact_list_ids": ["a1b2"]}),
        ),
        (
            "emails.schedule",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY,
            "scheduled_date": "2026-05-17T16:00:00.000Z"}),
        ),
        ("emails.summary_report", json!({})),
        (
            "reports.campaign_stats",
            json!({"campaign_ids": [CAMPAIGN]}),
        ),
        (
            "reports.activity_stats",
            json!({"campaign_activity_ids": [CAMPAIGN_ACTIVITY]}),
        ),
        (
            "reports.email_links",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
        ),
        (
            "reports.email_sends",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
        ),
        (
            "reports.email_opens",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
        ),
        (
            "reports.email_unique_opens",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
        ),
        (
            "reports.email_did_not_opens",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
        ),
        (
            "reports.email_clicks",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY, "url_id": 7}),
        ),
        (
            "reports.email_forwards",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
        ),
        (
            "reports.email_opt_outs",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
        ),
        (
            "reports.email_bounces",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY, "bounce_codes": ["B"]}),
        ),
        (
            "reports.contact_activity_details",
            json!({"contact_id": CONTACT, "tracking_activities": ["em_opens"]}),
        ),
        (
            "reports.contact_activity_summary",
            json!({"contact_id": CONTACT, "start": "2026-01-01", "end": "2026-02-01"}),
        ),
        (
            "reports.contact_open_and_click_rates",
            json!({"contact_id": CONTACT, "start": "2026-01-01", "end": "2026-02-01"}),
        ),
        (
            "reports.landing_page_unique_clicks",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
        ),
        (
            "reports.landing_page_unique_opens",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
        ),
        (
            "reports.landing_page_opens",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
        ),
        (
            "reports.landing_page_unique_updates",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
        ),
        (
            "reports.landing_page_unique_adds",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
        ),
        (
            "reports.landing_page_unique_sms_opt_ins",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
        ),
        (
            "reports.sms_campaign_summaries",
            json!({"start_at": "2026-01-01T00:00:00Z"}),
        ),
    ])
}

/// Bodies shaped like the API's, for mutations to start from.
fn plausible_bodies() -> Vec<Value> {
    let contact = json!({"contact_id": CONTACT, "email_address": {"address": "a@example.com",
        "permission_to_send": "implicit"}, "updated_at": "2026-01-01T00:00:00Z",
        "list_memberships": [LIST], "custom_fields": [{"custom_field_id": FIELD, "value": "v"}]});
    let next = json!({"next": {"href": "/v3/contacts?cursor=abc"}});
    vec![
        contact.clone(),
        json!({"contacts": [contact.clone(), contact], "contacts_count": 2, "_links": next}),
        json!({"lists": [{"list_id": LIST, "name": "L", "membership_count": 3}],
            "lists_count": 1, "_links": next}),
        json!({"tags": [{"tag_id": TAG, "name": "t"}], "_links": next}),
        json!({"custom_fields": [{"custom_field_id": FIELD, "label": "F", "type": "string"}]}),
        json!({"segments": [{"segment_id": 14, "name": "S"}], "_links": next}),
        json!({"activity_id": ACTIVITY, "state": "completed", "percent_done": 100,
            "activity_errors": [], "status": {"items_total_count": 1}}),
        json!({"campaigns": [{"campaign_id": CAMPAIGN, "name": "n", "current_status": "Draft"}],
            "campaign_activities": [{"campaign_activity_id": CAMPAIGN_ACTIVITY,
            "role": "primary_email"}], "_links": next}),
        json!([{"scheduled_date": "2026-05-17T16:00:00.000Z"}]),
        json!({"bulk_email_campaign_summaries": [{"campaign_id": CAMPAIGN,
            "unique_counts": {"sends": 1}}], "aggregate_percents": {"open": 40.0}}),
        json!({"tracking_activities": [{"contact_id": CONTACT,
            "campaign_activity_id": CAMPAIGN_ACTIVITY, "tracking_activity_type": "em_clicks",
            "url_id": "1", "link_url": "https://example.com"}], "_links": next}),
        json!({"results": [{"campaign_id": CAMPAIGN, "stats": {"em_sends": 1}}], "errors": []}),
        json!({"organization_name": "Acme", "contact_email": "a@acme.example",
            "encoded_account_id": "x", "physical_address": {"city": "Waltham"}}),
        json!({"contact_id": CONTACT, "action": "created", "list_id": LIST, "tag_id": TAG,
            "total_contacts": 3, "active_count": 2, "count": 1}),
        json!([{"error_key": "contacts.api.conflict", "error_message": "Conflict"}]),
        json!({"error_key": "throttled", "error_message": "Too Many Requests"}),
        json!({"items": [1, {"a": 2}], "data": [3], "meta": {"next": "c2"}}),
    ]
}

/// A response body: empty, truncated JSON, JSON of the wrong type or with a wrongly typed field,
/// HTML, random bytes or huge numbers.
fn body() -> impl Strategy<Value = String> {
    let plausible = prop::sample::select(plausible_bodies());
    prop_oneof![
        1 => Just(String::new()),
        3 => plausible.clone().prop_map(|b| b.to_string()),
        2 => (plausible.clone(), any::<Index>()).prop_map(|(b, i)| {
            let text = b.to_string();
            let cut = i.index(text.len().max(1));
            text.get(..cut).unwrap_or_default().to_owned()
        }),
        2 => json_value().prop_map(|v| v.to_string()),
        4 => (plausible, any::<Index>(), json_value()).prop_map(|(b, i, v)| {
            apply(&b, &Mutation::Retype(i, v)).0
        }),
        1 => Just("<html><body><h1>502 Bad Gateway</h1></body></html>".to_owned()),
        1 => prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => prop_oneof![
            Just("1e400".to_owned()),
            Just("-1e400".to_owned()),
            Just("123456789012345678901234567890".to_owned()),
            Just(format!("{{\"percent_done\": 1e999, \"contacts_count\": {}, \"segment_id\": -1}}", u64::MAX)),
            Just("{\"contacts_count\": 123456789012345678901234567890}".to_owned()),
        ],
    ]
}

fn header() -> impl Strategy<Value = (String, String)> {
    let value = prop_oneof![
        Just(String::new()),
        "\\PC{0,30}",
        Just("<https://api.example.test/v1/items?page=2>; rel=\"next\"".to_owned()),
        Just("<>; rel=next".to_owned()),
        Just("<relative?p=3>; rel=\"next prev\", <".to_owned()),
        Just("<https://evil.test/x>; rel=next".to_owned()),
        Just("<?page=2>; rel=\"next\"; title=\"a,b\"; x=\"unterminated".to_owned()),
        Just(";;;,,,<<>>\"\\".to_owned()),
        Just("99999999999999999999".to_owned()),
        Just("-1".to_owned()),
        Just("application/json".to_owned()),
        Just("text/html; charset=utf-8".to_owned()),
    ];
    let name = prop_oneof![
        Just("content-type".to_owned()),
        Just("link".to_owned()),
        Just("retry-after".to_owned()),
        Just("x-ratelimit-reset".to_owned()),
        Just("location".to_owned()),
        "[a-z-]{1,12}",
    ];
    (name, value)
}

const STATUSES: [u16; 11] = [200, 201, 202, 204, 400, 401, 404, 409, 429, 500, 503];

fn response() -> impl Strategy<Value = HttpResponse> {
    (
        prop::sample::select(STATUSES.to_vec()),
        prop::collection::vec(header(), 0..3),
        body(),
    )
        .prop_map(|(status, headers, body)| HttpResponse {
            status,
            headers,
            body,
        })
}

/// Invokes a method against scripted responses; a panic fails the property with the method.
fn invoke_without_panic(
    connector: &dyn Connector,
    invocation: &Invocation,
    responses: Vec<HttpResponse>,
) -> Result<(Result<Value, ConnectorError>, ScriptedHost), TestCaseError> {
    let host = ScriptedHost::new(responses.into_iter().map(Ok));
    let outcome = catch_unwind(AssertUnwindSafe(|| connector.invoke(invocation, &host)));
    match outcome {
        Ok(result) => Ok((result, host)),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Err(TestCaseError::fail(format!(
                "{} panicked with input {}: {message}",
                invocation.method, invocation.input
            )))
        }
    }
}

#[test]
fn every_constant_contact_method_has_a_valid_input_here() {
    let connector = DefinedConnector::new::<constant_contact::ConstantContact>();
    let inputs = constant_contact_inputs();
    let methods: Vec<&str> = connector
        .manifest()
        .methods
        .iter()
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(methods.len(), inputs.len(), "{methods:?}");
    for method in methods {
        let input = inputs
            .get(method)
            .unwrap_or_else(|| panic!("no input for {method}"))
            .clone();
        let invocation = Invocation {
            method: method.into(),
            input,
            settings: Map::new(),
        };
        let host = ScriptedHost::new([]);
        let _ = connector.invoke(&invocation, &host);
        assert!(
            !host.requests().is_empty(),
            "{method} refused its input before sending anything"
        );
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn constant_contact_methods_survive_any_response(
        scripts in prop::collection::vec(prop::collection::vec(response(), 1..4), 38)
    ) {
        let connector = DefinedConnector::new::<constant_contact::ConstantContact>();
        for ((method, input), responses) in constant_contact_inputs().into_iter().zip(scripts) {
            let invocation = Invocation {
                method: method.into(),
                input,
                settings: Map::new(),
            };
            let (_, host) = invoke_without_panic(&connector, &invocation, responses)?;
            prop_assert!(!host.requests().is_empty(), "{method} sent nothing");
        }
    }
}

fn http_invocation(method: &str, input: Value) -> Invocation {
    let settings = json!({"base_url": "https://api.example.test/v1", "auth_type": "bearer"});
    Invocation {
        method: method.into(),
        input,
        settings: settings.as_object().cloned().expect("an object"),
    }
}

/// `http.list` inputs covering every pagination style, with extreme page numbers and limits.
fn list_input() -> impl Strategy<Value = Value> {
    let pagination = prop_oneof![
        Just(json!({"style": "none"})),
        Just(json!({"style": "link_header"})),
        prop_oneof![
            Just("meta.next"),
            Just("/meta/next"),
            Just("items"),
            Just("")
        ]
        .prop_map(|f| json!({"style": "cursor", "cursor_field": f, "cursor_param": "cursor"})),
        (
            prop_oneof![Just(0u64), Just(1), Just(u64::MAX - 1), Just(u64::MAX)],
            prop::option::of(0u32..4)
        )
            .prop_map(
                |(first, size)| json!({"style": "page_number", "page_param": "page",
                "first_page": first, "page_size_param": "per_page", "page_size": size})
            ),
    ];
    (
        pagination,
        prop::option::of(prop_oneof![
            Just("items"),
            Just("data"),
            Just("/meta"),
            Just("a.b.c")
        ]),
        prop::option::of(1u32..20),
    )
        .prop_map(|(pagination, items_field, max_pages)| {
            let mut input = json!({"path": "/items", "pagination": pagination});
            if let Some(field) = items_field {
                input["items_field"] = json!(field);
            }
            if let Some(max) = max_pages {
                input["max_pages"] = json!(max);
            }
            input
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn http_request_survives_any_response(
        responses in prop::collection::vec(response(), 1..3),
        accept in prop::collection::vec(prop::sample::select(STATUSES.to_vec()), 0..3),
    ) {
        let connector = connector("http");
        let invocation = http_invocation(
            "http.request",
            json!({"path": "/items", "accept_statuses": accept}),
        );
        let (result, host) = invoke_without_panic(&*connector, &invocation, responses)?;
        prop_assert_eq!(host.requests().len(), 1);
        if let Ok(output) = result {
            prop_assert!(output.get("status").is_some(), "{output}");
        }
    }

    #[test]
    fn http_list_survives_any_response_and_stops(
        input in list_input(),
        responses in prop::collection::vec(response(), 1..12),
    ) {
        let connector = connector("http");
        let invocation = http_invocation("http.list", input.clone());
        let sent = responses.len();
        let (result, host) = invoke_without_panic(&*connector, &invocation, responses)?;
        let requests = host.requests().len();
        // Never more requests than the script had answers, plus the one that found it empty.
        prop_assert!(requests <= sent + 1, "{requests} requests for {sent} answers");
        if let Some(max) = input.get("max_pages").and_then(Value::as_u64) {
            prop_assert!(requests as u64 <= max, "{requests} requests, max_pages {max}");
        }
        if let Ok(summary) = result {
            prop_assert!(summary.get("pages").is_some(), "{summary}");
        }
    }
}

/// A host whose API never runs out of pages: every page has items and a fresh next cursor and
/// `Link`, and page numbers never end. It refuses to answer past `cap`, so a missing guard
/// fails the test instead of hanging it.
struct EndlessHost {
    sent: Mutex<u64>,
    cap: u64,
}

impl Host for EndlessHost {
    fn send(&self, _request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let mut sent = self.sent.lock().expect("not poisoned");
        *sent += 1;
        if *sent > self.cap {
            return Err(ConnectorError::Transport {
                message: "the endless host's cap was reached".into(),
            });
        }
        let n = *sent;
        let mut response = HttpResponse::json(
            200,
            &json!({"items": [n], "meta": {"next": format!("c{n}")}}),
        );
        response.headers.push((
            "link".into(),
            format!("<https://api.example.test/v1/items?page={n}>; rel=\"next\""),
        ));
        Ok(response)
    }

    fn emit(&self, _record: Value) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn log(&self, _level: LogLevel, _message: &str) {}

    fn is_cancelled(&self) -> bool {
        false
    }

    fn sleep(&self, _duration: std::time::Duration) -> Result<(), ConnectorError> {
        Ok(())
    }
}

#[test]
fn pages_that_never_end_stop_at_the_page_limit() {
    let connector = connector("http");
    let styles = [
        json!({"style": "link_header"}),
        json!({"style": "cursor", "cursor_field": "meta.next", "cursor_param": "cursor"}),
        json!({"style": "page_number", "page_param": "page"}),
    ];
    for pagination in styles {
        // Beyond its range, `max_pages` is clamped to the ceiling.
        for (max_pages, expected) in [(None, 1_000), (Some(10_000_000u64), 10_000), (Some(3), 3)] {
            let mut input = json!({"path": "/items", "items_field": "items",
                "pagination": pagination});
            if let Some(max) = max_pages {
                input["max_pages"] = json!(max);
            }
            let host = EndlessHost {
                sent: Mutex::new(0),
                cap: 20_000,
            };
            let result = connector.invoke(&http_invocation("http.list", input), &host);
            let sent = *host.sent.lock().expect("not poisoned");
            let summary = result.unwrap_or_else(|e| panic!("{pagination}: {e}"));
            assert_eq!(summary["pages"], expected, "{pagination}");
            assert_eq!(summary["truncated"], true, "{pagination}");
            assert_eq!(sent, expected, "{pagination}");
        }
    }
}

#[test]
fn a_page_number_at_the_top_of_its_range_stops_the_listing_instead_of_overflowing() {
    let connector = connector("http");
    let input = json!({"path": "/items", "items_field": "items",
        "pagination": {"style": "page_number", "page_param": "page", "first_page": u64::MAX}});
    let host = EndlessHost {
        sent: Mutex::new(0),
        cap: 10,
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        connector.invoke(&http_invocation("http.list", input), &host)
    }));
    let result = outcome.expect("no overflow panic");
    let summary = result.expect("the last possible page number ends the listing");
    assert_eq!(summary["pages"], 1);
    assert_eq!(summary["truncated"], true, "more pages may remain");
    assert_eq!(*host.sent.lock().expect("not poisoned"), 1);
}
