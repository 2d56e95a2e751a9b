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

use plugboard_core::{
    Connector, ConnectorError, DefinedConnector, HttpRequest, HttpResponse, Invocation,
    MethodDescriptor,
};
use plugboard_tests::ScriptedHost;
use plugboard_tests::constant_contact_calls;
use plugboard_tests::openapi::load_spec;
use plugboard_tests::spec_limits::inputs::{
    declares, field_name, keep, mirrored_pointer, segments, violate,
};
use plugboard_tests::spec_limits::reviewed::{self, Check, Reason};
use plugboard_tests::spec_limits::sent::{keeps_to, mirrors, sent_values};
use plugboard_tests::spec_limits::{Constraint, Place, input_constraints};
use serde_json::{Map, Value};

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
    let calls: BTreeMap<&str, (Value, Vec<HttpResponse>)> = constant_contact_calls::all()
        .into_iter()
        .map(|(method, input, responses)| (method, (input, responses)))
        .rev()
        .collect();
    // What each representative call sends, to prove mirroring and limits kept by the methods.
    let sent: BTreeMap<&str, Vec<HttpRequest>> = calls
        .iter()
        .map(|(method, (input, responses))| {
            let host = ScriptedHost::new(responses.iter().cloned().map(Ok));
            let call = Invocation {
                method: (*method).to_owned(),
                input: input.clone(),
                settings: Map::new(),
            };
            let _ = connector.invoke(&call, &host);
            (*method, host.requests())
        })
        .collect();
    let mut unproven = 0;
    let mut proof_problems = Vec::new();
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
            let (input, _) = calls
                .get(method)
                .unwrap_or_else(|| panic!("`{method}` has no representative call"));
            let requests = sent[method].as_slice();
            for constraint in &constraints {
                let (outcome, proof) = audit(
                    &connector,
                    descriptor,
                    input,
                    constraint,
                    &mut used_exceptions,
                    &mut used_mappings,
                );
                let carried = sent_values(&spec, constraint, requests);
                match (&outcome, proof) {
                    // The broken field is the one the request carries.
                    (Outcome::Schema | Outcome::Connector, Some((base, pointer))) => {
                        let responses = &calls[method].1;
                        match prove(
                            &connector,
                            &spec,
                            method,
                            (input, requests),
                            responses,
                            &base,
                            &pointer,
                            constraint,
                        ) {
                            Proof::Carried => {}
                            Proof::Unproven(why) => {
                                unproven += 1;
                                if std::env::var_os("PLUGBOARD_LIMITS_TABLE").is_some() {
                                    eprintln!("unproven\t{method}\t{constraint}\t{why}");
                                }
                            }
                            Proof::NotCarried(why) => proof_problems.push(format!(
                                "{method}: {constraint}: {why}: map the field by hand"
                            )),
                        }
                    }
                    // A value the method sets itself keeps to the limit.
                    (Outcome::Excepted(Reason::SetByMethod), _)
                        if matches!(constraint.place, Place::Query | Place::Form) =>
                    {
                        let kept = carried
                            .as_ref()
                            .is_some_and(|values| values.iter().all(|v| keeps_to(constraint, v)));
                        if !kept {
                            proof_problems.push(format!(
                                "{method}: {constraint}: the method sets it, but sends {carried:?}"
                            ));
                        }
                    }
                    _ => {}
                }
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
    problems.extend(proof_problems);
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
         the input schema, {checked_by_connector} by the connector ({unproven} of these refused \
         fields not proven to reach the request: no input with a value there could be sent), \
         excepted: {by_reason:?}, problems: {}",
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
            // A missing field is reported at its parent, naming it.
            let (parent, name) = field.rsplit_once('/').unwrap_or(("", field));
            let at_parent = if parent.is_empty() {
                "at (the whole input)".to_owned()
            } else {
                format!("at `{parent}`")
            };
            let missing = message.contains(&at_parent) && message.contains(&format!("\"{name}\""));
            if message.contains(&format!("at `{field}`")) || missing {
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

/// Whether the field a violation was made at reaches the request.
enum Proof {
    /// The request carries the input's value at the constraint's place.
    Carried,
    /// It carries something else there: the field is not the request's.
    NotCarried(String),
    /// No input with a value there could be sent (e.g. a required field of an object the
    /// inputs leave out).
    Unproven(String),
}

/// Proves that the input field at `pointer` of `base` is the request's field at the constraint's
/// place: from the representative call when it has a value there, else by sending `base` with
/// a value there that keeps to the limit.
#[allow(clippy::too_many_arguments)]
fn prove(
    connector: &DefinedConnector,
    spec: &Value,
    method: &str,
    (representative, requests): (&Value, &[HttpRequest]),
    responses: &[HttpResponse],
    base: &Value,
    pointer: &str,
    constraint: &Constraint,
) -> Proof {
    let (input, requests) = match base.pointer(pointer) {
        Some(_) if base == representative => (base.clone(), requests.to_vec()),
        _ => {
            let Some(kept) = keep(base, pointer, constraint) else {
                return Proof::Unproven("no value keeping to the limit can be built".into());
            };
            let host = ScriptedHost::new(responses.iter().cloned().map(Ok));
            let call = Invocation {
                method: method.to_owned(),
                input: kept.clone(),
                settings: Map::new(),
            };
            if let Err(error) = connector.invoke(&call, &host) {
                return Proof::Unproven(format!("the input with a value there fails: {error}"));
            }
            (kept, host.requests())
        }
    };
    let Some(value) = input.pointer(pointer) else {
        return Proof::Unproven("the input has no value there".into());
    };
    match sent_values(spec, constraint, &requests) {
        Some(values) if mirrors(constraint, value, &values) => Proof::Carried,
        carried => Proof::NotCarried(format!(
            "the input's {} does not reach the request (it carries {carried:?})",
            excerpt(value)
        )),
    }
}

/// Audits one constraint on one method. With a refusal come the input that was broken and the
/// pointer it was broken at, so that the caller can prove the request carries that field.
fn audit(
    connector: &DefinedConnector,
    descriptor: &MethodDescriptor,
    input: &Value,
    constraint: &Constraint,
    used_exceptions: &mut BTreeSet<usize>,
    used_mappings: &mut BTreeSet<usize>,
) -> (Outcome, Option<(Value, String)>) {
    let method = descriptor.id.as_str();
    if let Some(index) = reviewed::exception(method, constraint) {
        used_exceptions.insert(index);
        return (Outcome::Excepted(reviewed::EXCEPTIONS[index].reason), None);
    }
    if constraint.read_only {
        return (Outcome::Excepted(Reason::ReadOnly), None);
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
                let why = format!(
                    "the input does not declare `{mirrored}`: map it by hand or give a reason"
                );
                return (Outcome::Gap(why), None);
            }
            mirrored
        }
    };
    let Some(violating) = violate(&base, &pointer, constraint) else {
        let why = format!("cannot build a violating input at `{pointer}`");
        return (Outcome::Gap(why), None);
    };
    let proof = Some((base.clone(), pointer.clone()));
    let field = field_name(&pointer);
    match refused_by_schema(method, schema, &violating, &pointer, constraint) {
        Ok(true) => return (Outcome::Schema, proof),
        Ok(false) => {}
        Err(elsewhere) => return (Outcome::Gap(elsewhere), None),
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
            (Outcome::Connector, proof)
        }
        other => (
            Outcome::Gap(format!(
                "the input {} is not refused naming `{field}` before sending ({sent} requests \
                 sent, answer {other:?})",
                excerpt(&violating)
            )),
            None,
        ),
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
