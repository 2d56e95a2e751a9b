//! Nothing the API returns is dropped: every Constant Contact method, fed responses in which every
//! property the official contract declares is present, plus a field the contract does not know at
//! every object level, hands every one of those fields to the workflow, in its output or its
//! records.
//!
//! The responses are the representative calls' (`plugboard_tests::constant_contact_calls`, so
//! every method is covered and the control flow — pages, "processing" answers, final states —
//! stays as scripted), completed from the contract: each response is matched to the operation its
//! request went to, and every property of that operation's response schema that the scripted body
//! lacks is generated (with the contract's example value when it gives one). Links to further
//! pages are never generated, since they steer the paging; the scripted ones are consumed by it.
//! Later pages are answered as scripted: their envelope repeats the first page's.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Mutex;

use plugboard_core::{
    Connector, ConnectorError, DefinedConnector, Host, HttpRequest, HttpResponse, Invocation,
    LogLevel,
};
use plugboard_tests::constant_contact_calls;
use plugboard_tests::openapi::{load_spec, matching_template};
use serde_json::{Map, Value};

/// The prefix of the fields the contract does not know; each one's name is unique in an answer.
const UNKNOWN: &str = "plugboard_unknown_";

/// Answers each request with the next scripted response, completed from the contract, and keeps
/// what it answered and what the method emitted.
struct CompletingHost<'s> {
    spec: &'s Value,
    responses: Mutex<VecDeque<HttpResponse>>,
    /// The completed bodies, each with the request it answered (verb and full path).
    answered: Mutex<Vec<(String, Value)>>,
    records: Mutex<Vec<Value>>,
    unknown_fields: Mutex<u32>,
}

impl<'s> CompletingHost<'s> {
    fn new(spec: &'s Value, responses: Vec<HttpResponse>) -> Self {
        Self {
            spec,
            responses: Mutex::new(responses.into()),
            answered: Mutex::new(Vec::new()),
            records: Mutex::new(Vec::new()),
            unknown_fields: Mutex::new(0),
        }
    }

    /// The response schema the contract declares for `status` of the operation `request` went to.
    fn response_schema(&self, request: &HttpRequest, status: u16) -> Option<&'s Value> {
        let path = request
            .path
            .split_once('?')
            .map_or(request.path.as_str(), |(p, _)| p);
        let path = path.strip_prefix("/v3").unwrap_or(path);
        let template = matching_template(self.spec, path)?;
        let verb = request.method.as_str().to_ascii_lowercase();
        self.spec["paths"][template][&verb]["responses"][status.to_string()].get("schema")
    }

    /// `body` with every declared property present and an unknown field on every object.
    fn complete(&self, schema: &Value, body: &mut Value, depth: usize) {
        let schema = resolve(self.spec, schema);
        match body {
            Value::Object(object) => {
                for (name, property) in properties(self.spec, schema) {
                    if name == "_links" {
                        continue;
                    }
                    match object.get_mut(&name) {
                        Some(present) => self.complete(&property, present, depth + 1),
                        None => {
                            if let Some(value) = self.generate(&property, depth + 1) {
                                object.insert(name, value);
                            }
                        }
                    }
                }
                let mut count = self.unknown_fields.lock().expect("not poisoned");
                *count += 1;
                object.insert(
                    format!("{UNKNOWN}{count}"),
                    Value::String(format!("unknown {count}")),
                );
            }
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for item in items {
                        self.complete(item_schema, item, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }

    /// A value of `schema` with every property present; `None` past a sane depth (recursive
    /// definitions).
    fn generate(&self, schema: &Value, depth: usize) -> Option<Value> {
        if depth > 8 {
            return None;
        }
        let schema = resolve(self.spec, schema);
        if let Some(example) = schema.get("example").filter(|e| !e.is_null()) {
            let mut example = example.clone();
            self.complete(schema, &mut example, depth);
            return Some(example);
        }
        if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
            return Some(first.clone());
        }
        let kind = schema["type"]
            .as_str()
            .unwrap_or(if schema.get("properties").is_some() {
                "object"
            } else {
                "string"
            });
        Some(match kind {
            "object" => {
                let mut object = Value::Object(Map::new());
                self.complete(schema, &mut object, depth);
                object
            }
            "array" => {
                let item = self.generate(&schema["items"], depth + 1)?;
                Value::Array(vec![item])
            }
            "integer" => Value::from(7),
            "number" => Value::from(1.5),
            "boolean" => Value::Bool(true),
            _ => match schema["format"].as_str() {
                Some("date-time") => Value::from("2026-03-04T05:06:07.000Z"),
                Some("date") => Value::from("2026-03-04"),
                Some("uuid") => Value::from("0b1e2f3a-4c5d-4e6f-8a9b-0c1d2e3f4a5b"),
                Some("email") => Value::from("generated@example.com"),
                _ => Value::from("generated text"),
            },
        })
    }
}

impl Host for CompletingHost<'_> {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let mut response = self
            .responses
            .lock()
            .expect("not poisoned")
            .pop_front()
            .ok_or_else(|| ConnectorError::Transport {
                message: "the script has no more responses".into(),
            })?;
        // A later page (its path is the API's own next link, query included) repeats the first
        // page's envelope, which is what the method returns; its items are as scripted.
        let later_page = request.path.contains('?');
        // Unknown fields are numbered per answer, so that the same field of the same object
        // answered twice (a page read again, an activity polled) has the same name.
        *self.unknown_fields.lock().expect("not poisoned") = 0;
        if let (false, Some(schema), Ok(mut body)) = (
            later_page,
            self.response_schema(&request, response.status),
            serde_json::from_str::<Value>(&response.body),
        ) {
            self.complete(schema, &mut body, 0);
            response.body = body.to_string();
            let asked = format!("{} {} {:?}", request.method, request.path, request.query);
            self.answered
                .lock()
                .expect("not poisoned")
                .push((asked, body));
        }
        Ok(response)
    }

    fn emit(&self, record: Value) -> Result<(), ConnectorError> {
        self.records.lock().expect("not poisoned").push(record);
        Ok(())
    }

    fn log(&self, _: LogLevel, _: &str) {}

    fn is_cancelled(&self) -> bool {
        false
    }

    fn sleep(&self, _: std::time::Duration) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// The bodies that were not superseded: when a method asks the same thing again (polling a bulk
/// activity, waiting out a "processing" answer), only the last answer is its result.
fn latest_answers(answered: Vec<(String, Value)>) -> Vec<Value> {
    let mut latest: Vec<(String, Value)> = Vec::new();
    for (asked, body) in answered {
        latest.retain(|(earlier, _)| *earlier != asked);
        latest.push((asked, body));
    }
    latest.into_iter().map(|(_, body)| body).collect()
}

/// `schema` with `$ref`s followed.
fn resolve<'s>(spec: &'s Value, mut schema: &'s Value) -> &'s Value {
    for _ in 0..16 {
        let Some(reference) = schema["$ref"].as_str() else {
            break;
        };
        let name = reference.trim_start_matches("#/definitions/");
        schema = &spec["definitions"][name];
    }
    schema
}

/// The properties of an object schema, `allOf` parts included.
fn properties(spec: &Value, schema: &Value) -> Vec<(String, Value)> {
    let schema = resolve(spec, schema);
    let mut found: Vec<(String, Value)> = schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, property)| (name.clone(), property.clone()))
        .collect();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        found.extend(properties(spec, part));
    }
    found
}

/// Every leaf of `value` as a path of object keys (array positions left out). An empty array or
/// object is a leaf of the output (it says "none"), but not of a response (`empty_is_leaf`
/// false), where it carries no field that could be dropped.
fn leaf_paths(
    value: &Value,
    empty_is_leaf: bool,
    prefix: &mut Vec<String>,
    into: &mut BTreeSet<Vec<String>>,
) {
    match value {
        Value::Object(object) if !object.is_empty() => {
            for (key, child) in object {
                prefix.push(key.clone());
                leaf_paths(child, empty_is_leaf, prefix, into);
                prefix.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                leaf_paths(item, empty_is_leaf, prefix, into);
            }
        }
        Value::Object(_) | Value::Array(_) if !empty_is_leaf => {}
        _ => {
            into.insert(prefix.clone());
        }
    }
}

/// The fields of `answered` that reach neither `output` nor a record. A field reaches the workflow
/// when its path is in the output or a record as it is, without its first key (the collection it
/// came in), or under one key more (a wrapper the method adds). Links to further pages are the
/// paging's own and are left out.
fn dropped(answered: &[Value], output: &Value, records: &[Value]) -> BTreeSet<String> {
    let mut delivered = BTreeSet::new();
    leaf_paths(output, true, &mut Vec::new(), &mut delivered);
    for record in records {
        leaf_paths(record, true, &mut Vec::new(), &mut delivered);
    }
    let mut sent = BTreeSet::new();
    for body in answered {
        leaf_paths(body, false, &mut Vec::new(), &mut sent);
    }
    let reaches = |path: &Vec<String>| {
        delivered.contains(path)
            || delivered.contains(&path[1.min(path.len())..])
            || delivered
                .iter()
                .any(|d| d.len() == path.len() + 1 && d.ends_with(path))
    };
    sent.into_iter()
        .filter(|path| !(path.len() >= 2 && path[0] == "_links" && path[1] == "next"))
        .filter(|path| !reaches(path))
        .map(|path| path.join("."))
        .collect()
}

#[test]
fn every_field_the_api_returns_reaches_the_workflow() {
    let spec = load_spec();
    let connector = DefinedConnector::new::<constant_contact::ConstantContact>();
    let mut problems = Vec::new();
    for (method, input, responses) in constant_contact_calls::all() {
        let host = CompletingHost::new(&spec, responses);
        let call = Invocation {
            method: method.into(),
            input,
            settings: Map::new(),
        };
        let output = match connector.invoke(&call, &host) {
            Ok(output) => output,
            Err(error) => {
                problems.push(format!("{method} fails on a complete response: {error}"));
                continue;
            }
        };
        let answered = latest_answers(host.answered.lock().expect("not poisoned").clone());
        let records = host.records.lock().expect("not poisoned").clone();
        for field in dropped(&answered, &output, &records) {
            problems.push(format!("{method} drops `{field}`"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} fields are dropped:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The check itself: a field the output lacks is reported, one it keeps is not.
#[test]
fn the_check_reports_a_dropped_field_and_only_that() {
    let answered = vec![serde_json::json!({
        "contacts": [{"contact_id": "c-1", "email_address": {"address": "a@example.com"}}],
        "contacts_count": 1,
        "_links": {"next": {"href": "/v3/contacts?cursor=x"}}
    })];
    let records = vec![serde_json::json!({"contact_id": "c-1"})];
    let output = serde_json::json!({"contacts_count": 1});
    let dropped = dropped(&answered, &output, &records);
    assert_eq!(
        dropped.into_iter().collect::<Vec<_>>(),
        vec!["contacts.email_address.address".to_owned()]
    );
}
