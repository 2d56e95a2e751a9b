//! The limits audit: every limit Constant Contact's contract states on an input of an operation a
//! method covers (`maxLength`, `minLength`, `maxItems`, `minItems`, `minimum`, `maximum`, `enum`,
//! `pattern`, `required`, on parameters and nested body fields, read from the spec at test time)
//! is either refused before any request is sent, with an error naming the field, or listed in
//! the reviewed exceptions (`plugboard_tests::spec_limits::reviewed`) with its reason. A new
//! constraint with neither fails this test, and so does an exception or mapping that no longer
//! applies.
//!
//! A constraint is tried on each method that claims the operation. Its input field is found by
//! mirroring (a body field at the same pointer of the input, a parameter under its own name)
//! when the method's input schema declares it, else by the reviewed hand mapping. The violating
//! input is the representative call's input with that one field made to break the limit. It
//! counts as refused when the input schema (which the host checks before every call, as
//! `plugboard run` does) reports the violation at that field, or when the connector itself
//! answers `InvalidInput` naming the field without sending anything.

use std::collections::{BTreeMap, BTreeSet};

use plugboard_core::{Connector, ConnectorError, DefinedConnector, Invocation, MethodDescriptor};
use plugboard_tests::ScriptedHost;
use plugboard_tests::constant_contact_calls;
use plugboard_tests::openapi::load_spec;
use plugboard_tests::spec_limits::reviewed::{self, Check, Reason};
use plugboard_tests::spec_limits::{Constraint, Place, input_constraints};
use serde_json::{Map, Value, json};

/// What the audit concluded for one constraint on one method.
#[derive(Debug)]
enum Outcome {
    /// The input schema refuses it at the field.
    Schema,
    /// The connector refuses it, naming the field, before sending.
    Connector,
    /// Not checked, for a reviewed reason.
    Excepted(Reason),
    /// Neither checked nor excepted: what happened instead.
    Gap(String),
}

#[test]
fn every_limit_the_spec_states_on_an_input_is_checked_or_excepted_with_a_reason() {
    let spec = load_spec();
    let connector = DefinedConnector::new::<constant_contact::ConstantContact>();
    let representative: BTreeMap<&str, Value> = constant_contact_calls::all()
        .into_iter()
        .map(|(method, input, _)| (method, input))
        .rev()
        .collect();
    let mut used_exceptions = BTreeSet::new();
    let mut used_mappings = BTreeSet::new();
    let mut outcomes: Vec<(String, Constraint, Outcome)> = Vec::new();
    for claim in constant_contact::coverage::claims() {
        let constraints = input_constraints(&spec, claim.operation);
        for method in claim.methods {
            let descriptor = connector
                .manifest()
                .method(method)
                .unwrap_or_else(|| panic!("`{method}` is claimed but not declared"));
            let input = representative
                .get(method)
                .unwrap_or_else(|| panic!("`{method}` has no representative call"));
            for constraint in &constraints {
                let outcome = audit(
                    &connector,
                    descriptor,
                    input,
                    constraint,
                    &mut used_exceptions,
                    &mut used_mappings,
                );
                outcomes.push(((*method).to_owned(), constraint.clone(), outcome));
            }
        }
    }

    let mut problems: Vec<String> = outcomes
        .iter()
        .filter_map(|(method, constraint, outcome)| match outcome {
            Outcome::Gap(why) => Some(format!("{method}: {constraint}: {why}")),
            _ => None,
        })
        .collect();
    for (index, exception) in reviewed::EXCEPTIONS.iter().enumerate() {
        if !used_exceptions.contains(&index) {
            problems.push(format!(
                "the exception {exception:?} matches no constraint of a claimed operation (stale)"
            ));
        }
    }
    for (index, mapping) in reviewed::MAPPINGS.iter().enumerate() {
        if !used_mappings.contains(&index) {
            problems.push(format!("the mapping {mapping:?} is never used (stale)"));
        }
    }

    // The figures, for the report: `cargo test --test constant_contact_limits -- --nocapture`.
    let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
    let (mut schema, mut checked_by_connector) = (0, 0);
    for (_, _, outcome) in &outcomes {
        match outcome {
            Outcome::Schema => schema += 1,
            Outcome::Connector => checked_by_connector += 1,
            Outcome::Excepted(reason) => *by_reason.entry(format!("{reason:?}")).or_default() += 1,
            Outcome::Gap(_) => {}
        }
    }
    let distinct: BTreeSet<String> = outcomes.iter().map(|(_, c, _)| c.to_string()).collect();
    eprintln!(
        "{} constraints on {} claimed operations; {} (method, constraint) pairs: {schema} refused by \
         the input schema, {checked_by_connector} by the connector, excepted: {by_reason:?}, gaps: {}",
        distinct.len(),
        constant_contact::coverage::claims().count(),
        outcomes.len(),
        problems.len()
    );
    if std::env::var_os("PLUGBOARD_LIMITS_TABLE").is_some() {
        for (method, constraint, outcome) in &outcomes {
            eprintln!("{method}\t{constraint}\t{outcome:?}");
        }
    }
    assert!(
        problems.is_empty(),
        "{} limits of the spec are neither checked nor excepted:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_limit_the_spec_states_only_in_words_is_quoted_and_checked_or_excepted() {
    let spec = load_spec();
    let connector = DefinedConnector::new::<constant_contact::ConstantContact>();
    let mut problems = Vec::new();
    let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
    let mut checked = 0;
    for described in reviewed::DESCRIBED {
        let words = description_at(&spec, described.location);
        if !normalised(&words).contains(&normalised(described.quote)) {
            problems.push(format!(
                "{}: the spec does not say \"{}\" (any more)",
                described.location, described.quote
            ));
        }
        let method = described.method;
        let claims_it = constant_contact::coverage::claims().any(|claim| {
            claim.methods.contains(&method)
                && described.location.split(' ').next() == Some(claim.operation)
        });
        if !claims_it {
            problems.push(format!("{method} does not claim {}", described.location));
        }
        let (input, field) = match described.check {
            Check::Excepted(reason, _) => {
                *by_reason.entry(format!("{reason:?}")).or_default() += 1;
                continue;
            }
            Check::Refuses { input, field } => (input, field),
        };
        let input = expand(serde_json::from_str(input).expect("the violating input is JSON"));
        let descriptor = connector.manifest().method(method).expect("declared");
        let schema = descriptor.input_schema.as_value();
        if let Err(message) = plugboard_workflow::check_input(method, schema, &input) {
            if message.contains(&format!("at `{field}`")) {
                checked += 1;
            } else {
                problems.push(format!(
                    "{method}: refused without naming `{field}`: {message}"
                ));
            }
            continue;
        }
        let host = ScriptedHost::new([]);
        let call = Invocation {
            method: method.to_owned(),
            input,
            settings: Map::new(),
        };
        let result = connector.invoke(&call, &host);
        let sent = host.requests().len();
        let name = field_name(field);
        match result {
            Err(ConnectorError::InvalidInput { message })
                if sent == 0 && message.contains(&name) =>
            {
                checked += 1;
            }
            other => problems.push(format!(
                "{method}: \"{}\" is not held: {sent} requests sent, answer {other:?}",
                described.quote
            )),
        }
    }
    eprintln!(
        "{} limits stated only in words: {checked} refused before sending, excepted: {by_reason:?}",
        reviewed::DESCRIBED.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The description at `location`: `operation description`, or `operation place field`.
fn description_at(spec: &Value, location: &str) -> String {
    let mut parts = location.splitn(3, ' ');
    let (Some(operation), Some(place)) = (parts.next(), parts.next()) else {
        return String::new();
    };
    let Some((_, _, op)) = plugboard_tests::spec_limits::operation(spec, operation) else {
        return String::new();
    };
    if place == "description" {
        return op["description"].as_str().unwrap_or_default().to_owned();
    }
    let field = parts.next().unwrap_or_default();
    let parameters = op["parameters"].as_array().cloned().unwrap_or_default();
    if place != "body" {
        return parameters
            .iter()
            .find(|p| p["in"] == place && p["name"] == field)
            .and_then(|p| p["description"].as_str())
            .unwrap_or_default()
            .to_owned();
    }
    let Some(body) = parameters.iter().find(|p| p["in"] == "body") else {
        return String::new();
    };
    let mut schema = body["schema"].clone();
    for segment in segments(field) {
        schema = spec_resolve(spec, &schema);
        schema = if segment == "*" {
            schema["items"].clone()
        } else {
            schema["properties"][segment.as_str()].clone()
        };
    }
    spec_resolve(spec, &schema)["description"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Follows `$ref`s into the spec's `definitions`.
fn spec_resolve(spec: &Value, schema: &Value) -> Value {
    let mut schema = schema.clone();
    for _ in 0..16 {
        let Some(name) = schema["$ref"].as_str().and_then(|r| r.rsplit('/').next()) else {
            break;
        };
        schema = spec["definitions"][name].clone();
    }
    schema
}

/// Whitespace collapsed, so quotes survive the spec's line folding.
fn normalised(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Expands `{"$repeat": [value, n]}` into `n` copies of `value`.
fn expand(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(repeat)) = map.get("$repeat")
                && let [item, Value::Number(n)] = repeat.as_slice()
            {
                let n = n.as_u64().unwrap_or(0) as usize;
                return Value::Array(vec![expand(item.clone()); n]);
            }
            Value::Object(map.into_iter().map(|(k, v)| (k, expand(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(expand).collect()),
        other => other,
    }
}

/// Audits one constraint on one method.
fn audit(
    connector: &DefinedConnector,
    descriptor: &MethodDescriptor,
    input: &Value,
    constraint: &Constraint,
    used_exceptions: &mut BTreeSet<usize>,
    used_mappings: &mut BTreeSet<usize>,
) -> Outcome {
    let method = descriptor.id.as_str();
    if let Some(index) = reviewed::exception(method, constraint) {
        used_exceptions.insert(index);
        return Outcome::Excepted(reviewed::EXCEPTIONS[index].reason);
    }
    if constraint.read_only {
        return Outcome::Excepted(Reason::ReadOnly);
    }
    let schema = descriptor.input_schema.as_value();
    let mut base = input.clone();
    let pointer = match reviewed::mapping(method, constraint) {
        Some(index) => {
            used_mappings.insert(index);
            let mapping = &reviewed::MAPPINGS[index];
            if let Some(text) = mapping.base {
                base = serde_json::from_str(text).expect("a mapping's base input is JSON");
            }
            mapping
                .pointer_for(&constraint.location())
                .expect("the mapping covers the constraint")
        }
        None => {
            let mirrored = mirrored_pointer(constraint);
            if !declares(schema, schema, &segments(&mirrored)) {
                return Outcome::Gap(format!(
                    "the input does not declare `{mirrored}`: map it by hand or give a reason"
                ));
            }
            mirrored
        }
    };
    let Some(violating) = violate(&base, &pointer, constraint) else {
        return Outcome::Gap(format!("cannot build a violating input at `{pointer}`"));
    };
    let field = field_name(&pointer);
    match refused_by_schema(method, schema, &violating, &pointer, constraint) {
        Ok(true) => return Outcome::Schema,
        Ok(false) => {}
        Err(elsewhere) => return Outcome::Gap(elsewhere),
    }
    let host = ScriptedHost::new([]);
    let call = Invocation {
        method: method.to_owned(),
        input: violating.clone(),
        settings: Map::new(),
    };
    let result = connector.invoke(&call, &host);
    let sent = host.requests().len();
    match result {
        Err(ConnectorError::InvalidInput { message }) if sent == 0 && message.contains(&field) => {
            Outcome::Connector
        }
        other => Outcome::Gap(format!(
            "the input {} is not refused naming `{field}` before sending ({sent} requests sent, \
             answer {other:?})",
            excerpt(&violating)
        )),
    }
}

/// The input pointer that mirrors the constraint's place: body fields at the same pointer,
/// parameters under their own name; array items are tried at index 0.
fn mirrored_pointer(constraint: &Constraint) -> String {
    let pointer = match constraint.place {
        Place::Body => constraint.field.clone(),
        Place::Path | Place::Query => format!("/{}", constraint.field),
    };
    pointer.replace("/*", "/0")
}

/// A pointer's segments (`/a/0/b` → `a`, `0`, `b`).
fn segments(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// The last named segment of a pointer: what an error must name.
fn field_name(pointer: &str) -> String {
    segments(pointer)
        .into_iter()
        .rev()
        .find(|s| s.parse::<usize>().is_err())
        .unwrap_or_default()
}

/// Follows `$ref` (`#/$defs/…`) within the input schema.
fn resolve<'s>(root: &'s Value, mut schema: &'s Value) -> &'s Value {
    for _ in 0..16 {
        let Some(reference) = schema["$ref"].as_str() else {
            return schema;
        };
        let Some(pointer) = reference.strip_prefix('#') else {
            return schema;
        };
        match root.pointer(pointer) {
            Some(target) => schema = target,
            None => return schema,
        }
    }
    schema
}

/// Whether the input schema declares a field at `path` (through objects, arrays and the
/// alternatives of `anyOf`/`oneOf`/`allOf`).
fn declares(root: &Value, schema: &Value, path: &[String]) -> bool {
    let schema = resolve(root, schema);
    let Some((first, rest)) = path.split_first() else {
        return true;
    };
    let alternatives = ["anyOf", "oneOf", "allOf"]
        .iter()
        .filter_map(|k| schema[k].as_array())
        .flatten()
        .any(|alternative| declares(root, alternative, path));
    if alternatives {
        return true;
    }
    if first.parse::<usize>().is_ok() {
        return schema
            .get("items")
            .is_some_and(|items| declares(root, items, rest));
    }
    schema["properties"]
        .get(first)
        .is_some_and(|property| declares(root, property, rest))
}

/// The representative input with the field at `pointer` made to break `constraint`, building
/// missing objects and arrays on the way. `None` when no violating value can be built.
fn violate(input: &Value, pointer: &str, constraint: &Constraint) -> Option<Value> {
    let mut input = input.clone();
    let path = segments(pointer);
    let (last, parents) = path.split_last()?;
    let mut parent = &mut input;
    for (depth, segment) in parents.iter().enumerate() {
        let next_is_index = path[depth + 1].parse::<usize>().is_ok();
        let fresh = || if next_is_index { json!([]) } else { json!({}) };
        parent = match segment.parse::<usize>() {
            Ok(index) => {
                let items = parent.as_array_mut()?;
                while items.len() <= index {
                    items.push(fresh());
                }
                &mut items[index]
            }
            Err(_) => {
                let object = parent.as_object_mut()?;
                object.entry(segment.clone()).or_insert_with(fresh)
            }
        };
    }
    if constraint.keyword == "required" {
        match last.parse::<usize>() {
            Ok(_) => return None,
            Err(_) => {
                parent.as_object_mut()?.remove(last);
            }
        }
        return Some(input);
    }
    let current = match last.parse::<usize>() {
        Ok(index) => parent.as_array().and_then(|a| a.get(index)).cloned(),
        Err(_) => parent.get(last.as_str()).cloned(),
    };
    let value = violating_value(constraint, current)?;
    match last.parse::<usize>() {
        Ok(index) => {
            let items = parent.as_array_mut()?;
            while items.len() <= index {
                items.push(Value::Null);
            }
            items[index] = value;
        }
        Err(_) => {
            parent.as_object_mut()?.insert(last.clone(), value);
        }
    }
    Some(input)
}

/// A value that breaks `constraint`; `current` is the representative value, if any.
fn violating_value(constraint: &Constraint, current: Option<Value>) -> Option<Value> {
    let bound = &constraint.bound;
    let count = || bound.as_u64().map(|n| n as usize);
    let sample_item = || {
        current
            .as_ref()
            .and_then(|c| c.as_array())
            .and_then(|items| items.first().cloned())
            .unwrap_or_else(|| sample(&constraint.schema["items"]))
    };
    Some(match constraint.keyword {
        "maxLength" => Value::String("x".repeat(count()? + 1)),
        "minLength" => Value::String("x".repeat(count()?.checked_sub(1)?)),
        "maxItems" => Value::Array(vec![sample_item(); count()? + 1]),
        "minItems" => Value::Array(vec![sample_item(); count()?.checked_sub(1)?]),
        "maximum" | "exclusiveMaximum" => number_beyond(bound, 1)?,
        "minimum" | "exclusiveMinimum" => number_beyond(bound, -1)?,
        "enum" => {
            if constraint.schema["type"] == "integer" || constraint.schema["type"] == "number" {
                let biggest = bound
                    .as_array()?
                    .iter()
                    .filter_map(Value::as_i64)
                    .max()
                    .unwrap_or(0);
                json!(biggest + 1)
            } else {
                json!("not-one-of-the-spec-s-values")
            }
        }
        "pattern" => json!("\u{7}"),
        _ => return None,
    })
}

/// `bound` moved by `step` (beyond it, for `maximum` with 1 and `minimum` with -1).
fn number_beyond(bound: &Value, step: i64) -> Option<Value> {
    if let Some(n) = bound.as_i64() {
        return Some(json!(n + step));
    }
    bound.as_f64().map(|n| json!(n + step as f64))
}

/// A plausible value of a spec schema, for array items the representative call lacks.
fn sample(schema: &Value) -> Value {
    match schema["type"].as_str() {
        Some("integer") | Some("number") => json!(1),
        Some("boolean") => json!(true),
        Some("object") => json!({}),
        _ => json!("00000000-0000-4000-8000-000000000001"),
    }
}

/// `Ok(true)` when the check the engine makes before every call
/// ([`plugboard_workflow::check_input`]) refuses `violating` naming the field at `pointer` (for
/// `required`, the property at its parent); `Ok(false)` when it accepts it; `Err` when it refuses
/// it for something else (the violating input broke something else too).
fn refused_by_schema(
    method: &str,
    schema: &Value,
    violating: &Value,
    pointer: &str,
    constraint: &Constraint,
) -> Result<bool, String> {
    let Err(message) = plugboard_workflow::check_input(method, schema, violating) else {
        return Ok(false);
    };
    let named = if constraint.keyword == "required" {
        let (parent, field) = pointer.rsplit_once('/').unwrap_or(("", pointer));
        let at = if parent.is_empty() {
            "at (the whole input)".to_owned()
        } else {
            format!("at `{parent}`")
        };
        message.contains(&at) && message.contains(&format!("\"{field}\""))
    } else {
        message.contains(&format!("at `{pointer}`"))
    };
    if named {
        Ok(true)
    } else {
        Err(format!(
            "the input schema refuses {} without naming `{pointer}`: {message}",
            excerpt(violating)
        ))
    }
}

/// A short excerpt of a JSON value, for failure messages.
fn excerpt(value: &Value) -> String {
    let text = value.to_string();
    if text.len() <= 200 {
        return text;
    }
    let cut = (0..=200)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    format!("{}…", &text[..cut])
}
