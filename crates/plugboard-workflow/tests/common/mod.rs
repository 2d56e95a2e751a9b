//! Shared fakes: a small connector catalog and a scripted step runner.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use plugboard_core::{
    AuthSpec, ConnectorError, Manifest, MethodDescriptor, MethodKind, OutputShape,
};
use plugboard_workflow::{Catalog, StepRunner};
use serde_json::{Value, json};

fn method(id: &str, output: OutputShape, input: Value) -> MethodDescriptor {
    MethodDescriptor {
        id: id.to_owned(),
        name: id.to_owned(),
        category: id.split('.').next().unwrap_or(id).to_owned(),
        description: format!("The {id} method."),
        kind: MethodKind::Action,
        output,
        idempotent: output == OutputShape::Records,
        input_schema: serde_json::from_value(input).expect("schema"),
        output_schema: serde_json::from_value(json!({})).expect("schema"),
        record_schema: None,
        finds_effect: false,
        poll_cursor: None,
        cost: Default::default(),
    }
}

/// A method whose output (and, streaming, records) are described by schemas.
fn described(
    id: &str,
    output: OutputShape,
    output_schema: Value,
    records: Option<Value>,
) -> MethodDescriptor {
    MethodDescriptor {
        output_schema: serde_json::from_value(output_schema).expect("schema"),
        record_schema: records.map(|r| serde_json::from_value(r).expect("schema")),
        ..method(id, output, json!({"type": "object"}))
    }
}

/// A fake connector `acme` with four methods whose outputs can be anything (a strict create, a
/// get, a streaming export and a bulk import) and two whose outputs are described (an account
/// summary, a streaming list of contacts).
pub fn acme() -> Manifest {
    Manifest {
        id: "acme".into(),
        name: "Acme".into(),
        version: "0.1.0".into(),
        description: "A fake CRM.".into(),
        base_url: "https://api.acme.invalid/v1".into(),
        allowed_hosts: vec![],
        auth: AuthSpec::None,
        settings_schema: serde_json::from_value(json!({"type": "object"})).expect("schema"),
        rate_limits: vec![],
        methods: vec![
            method(
                "contacts.create",
                OutputShape::One,
                json!({
                    "type": "object",
                    "properties": {
                        "email": {"type": "string", "minLength": 3},
                        "list_ids": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                        "source": {"$ref": "#/$defs/Source"}
                    },
                    "required": ["email"],
                    "additionalProperties": false,
                    "$defs": {"Source": {"enum": ["web", "import"]}}
                }),
            ),
            // A create that can tell whether a call whose answer was lost took effect.
            MethodDescriptor {
                finds_effect: true,
                ..method(
                    "tags.create",
                    OutputShape::One,
                    json!({"type": "object", "properties": {"name": {"type": "string"}}}),
                )
            },
            method(
                "contacts.get",
                OutputShape::One,
                // Ids are strings or numbers: the engine tests loop over `range(n)`.
                json!({"type": "object", "properties": {"id": {"type": ["string", "integer"]}}}),
            ),
            method(
                "contacts.export",
                OutputShape::Records,
                json!({"type": "object", "properties": {"status": {"type": "string"}}}),
            ),
            method(
                "bulk.import",
                OutputShape::One,
                json!({"type": "object", "properties": {"contacts": {"type": "array"}}, "required": ["contacts"]}),
            ),
            described(
                "account.summary",
                OutputShape::One,
                json!({
                    "type": "object",
                    "properties": {
                        "organization_name": {"type": ["string", "null"]},
                        "address": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}]},
                        "emails": {"type": "array", "items": {"$ref": "#/$defs/Email"}},
                        "settings": {"type": "object"}
                    },
                    "$defs": {
                        "Address": {"type": "object", "properties": {"city": {"type": "string"}}},
                        "Email": {"type": "object", "properties": {"address": {"type": "string"}}}
                    }
                }),
                None,
            ),
            described(
                "contacts.list",
                OutputShape::Records,
                json!({"type": "object", "properties": {"count": {"type": "integer"}}}),
                Some(json!({"type": "object", "properties": {"email": {"type": "string"}}})),
            ),
        ],
        check: None,
    }
}

/// A catalog with `acme` installed as the connection `my-acme`.
pub struct FakeCatalog {
    manifests: HashMap<String, Manifest>,
}

impl FakeCatalog {
    pub fn new() -> Self {
        Self {
            manifests: HashMap::from([("acme".to_owned(), acme())]),
        }
    }
}

impl Catalog for FakeCatalog {
    fn manifest(&self, connector_id: &str) -> Option<&Manifest> {
        self.manifests.get(connector_id)
    }

    fn connection_problems(&self, connection: &str, connector_id: &str) -> Vec<String> {
        match connection {
            "my-acme" if connector_id == "acme" => vec![],
            "half-done" => vec!["setting `client_id` is missing".to_owned()],
            other => vec![format!(
                "no connection named `{other}` is installed (run `plugboard connect`)"
            )],
        }
    }
}

type Handler = dyn Fn(
        &str,
        &Value,
        &mut dyn FnMut(Value) -> Result<(), ConnectorError>,
    ) -> Result<Value, ConnectorError>
    + Sync;

/// A step runner answering from a closure and recording every call.
pub struct FakeRunner {
    handler: Box<Handler>,
    pub calls: Mutex<Vec<(String, Value)>>,
    pub cancelled: AtomicBool,
    /// Cancel the run once this many calls were made.
    pub cancel_after: Option<usize>,
    count: AtomicUsize,
}

impl FakeRunner {
    pub fn new(
        handler: impl Fn(
            &str,
            &Value,
            &mut dyn FnMut(Value) -> Result<(), ConnectorError>,
        ) -> Result<Value, ConnectorError>
        + Sync
        + 'static,
    ) -> Self {
        Self {
            handler: Box::new(handler),
            calls: Mutex::new(Vec::new()),
            cancelled: AtomicBool::new(false),
            cancel_after: None,
            count: AtomicUsize::new(0),
        }
    }

    /// An echo runner: returns `{"method": ..., "input": ...}`.
    pub fn echo() -> Self {
        Self::new(|method, input, _| Ok(json!({"method": method, "input": input})))
    }

    pub fn calls_to(&self, method: &str) -> usize {
        self.calls
            .lock()
            .expect("lock")
            .iter()
            .filter(|(m, _)| m == method)
            .count()
    }

    pub fn call_count(&self) -> usize {
        self.calls.lock().expect("lock").len()
    }
}

impl StepRunner for FakeRunner {
    fn call(
        &self,
        connection: &str,
        method: &str,
        input: Value,
        on_record: &mut dyn FnMut(Value) -> Result<(), ConnectorError>,
    ) -> Result<Value, ConnectorError> {
        assert_eq!(
            connection, "my-acme",
            "calls use the installed connection's name"
        );
        self.calls
            .lock()
            .expect("lock")
            .push((method.to_owned(), input.clone()));
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(limit) = self.cancel_after
            && n >= limit
        {
            self.cancelled.store(true, Ordering::SeqCst);
        }
        (self.handler)(method, &input, on_record)
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// Wraps steps in a workflow with the `acme` connection.
pub fn workflow(inputs: Value, steps: Value, outputs: Value) -> String {
    serde_json::to_string_pretty(&json!({
        "name": "test",
        "connections": {"acme": {"connector": "acme", "connection": "my-acme"}},
        "inputs": inputs,
        "steps": steps,
        "outputs": outputs,
    }))
    .expect("json")
}
