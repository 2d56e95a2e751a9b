//! Which operations of Constant Contact's contract the connector covers, checked and published.
//!
//! The claims are data in the connector (`constant_contact::coverage`): per operation, the methods
//! that call it, or the reason it is left out. This test holds them to the contract and to what
//! the methods really send, and keeps `docs/constant-contact-coverage.md` generated from them:
//! - every operation of the contract is claimed or left out, once, and nothing else is named;
//! - every request of every representative call goes to an operation its method claims, and every
//!   claim is borne out by one of the method's requests;
//! - the published table is what the claims say (regenerate it with
//!   `UPDATE_COVERAGE=1 cargo test -p plugboard-tests --test constant_contact_coverage`).

use std::collections::{BTreeMap, BTreeSet};

use constant_contact::coverage::{self, Claim};
use plugboard_core::{Connector, DefinedConnector, HttpRequest, Invocation};
use plugboard_tests::openapi::{load_spec, matching_template};
use plugboard_tests::{ScriptedHost, constant_contact_calls, workspace_root};
use serde_json::{Map, Value};

/// One operation of the contract.
struct Operation {
    id: String,
    verb: String,
    path: String,
    tag: String,
}

/// Every operation of the contract, in the order of its paths.
fn operations(spec: &Value) -> Vec<Operation> {
    let mut found = Vec::new();
    for (path, verbs) in spec["paths"].as_object().expect("the spec has paths") {
        for (verb, operation) in verbs.as_object().into_iter().flatten() {
            let Some(id) = operation["operationId"].as_str() else {
                continue;
            };
            found.push(Operation {
                id: id.to_owned(),
                verb: verb.to_ascii_uppercase(),
                path: path.clone(),
                tag: operation["tags"][0].as_str().unwrap_or("").to_owned(),
            });
        }
    }
    found
}

/// The operation `request` goes to, if the contract has one.
fn operation_of(spec: &Value, request: &HttpRequest) -> Option<String> {
    let path = request
        .path
        .split_once('?')
        .map_or(request.path.as_str(), |(p, _)| p);
    let path = path.strip_prefix("/v3").unwrap_or(path);
    let template = matching_template(spec, path)?;
    let verb = request.method.as_str().to_ascii_lowercase();
    spec["paths"][template][&verb]["operationId"]
        .as_str()
        .map(str::to_owned)
}

/// The operations each method's representative call sends requests to.
fn operations_reached(spec: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let connector = DefinedConnector::new::<constant_contact::ConstantContact>();
    let mut reached: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (method, input, responses) in constant_contact_calls::all() {
        let host = ScriptedHost::new(responses.into_iter().map(Ok));
        let call = Invocation {
            method: method.into(),
            input,
            settings: Map::new(),
        };
        connector
            .invoke(&call, &host)
            .unwrap_or_else(|e| panic!("{method} fails on its representative input: {e}"));
        let entry = reached.entry(method.to_owned()).or_default();
        for request in host.requests() {
            entry.insert(
                operation_of(spec, &request).unwrap_or_else(|| {
                    format!("(no operation: {} {})", request.method, request.path)
                }),
            );
        }
    }
    reached
}

#[test]
fn every_operation_is_claimed_or_left_out_once() {
    let spec = load_spec();
    let known: BTreeSet<String> = operations(&spec).into_iter().map(|o| o.id).collect();
    let mut named: BTreeMap<&str, usize> = BTreeMap::new();
    for claim in coverage::claims() {
        *named.entry(claim.operation).or_default() += 1;
        assert!(
            !claim.methods.is_empty(),
            "`{}` is claimed by no method",
            claim.operation
        );
    }
    for left_out in coverage::left_out() {
        *named.entry(left_out.operation).or_default() += 1;
        assert!(
            !left_out.reason.trim().is_empty(),
            "`{}` is left out without a reason",
            left_out.operation
        );
    }
    let mut problems = Vec::new();
    for (operation, times) in &named {
        if !known.contains(*operation) {
            problems.push(format!("`{operation}` is not an operation of the contract"));
        }
        if *times > 1 {
            problems.push(format!("`{operation}` is named {times} times"));
        }
    }
    for operation in &known {
        if !named.contains_key(operation.as_str()) {
            problems.push(format!("`{operation}` is neither claimed nor left out"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_claim_matches_what_its_methods_send() {
    let spec = load_spec();
    let reached = operations_reached(&spec);
    let connector = DefinedConnector::new::<constant_contact::ConstantContact>();
    let methods: BTreeSet<String> = (connector.manifest().methods.iter())
        .map(|m| m.id.clone())
        .collect();
    let mut claimed_by: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for Claim { operation, methods } in coverage::claims() {
        for method in *methods {
            claimed_by.entry(method).or_default().insert(operation);
        }
    }
    let mut problems = Vec::new();
    for (method, claims) in &claimed_by {
        if !methods.contains(*method) {
            problems.push(format!(
                "`{method}` is claimed but is not a method of the connector"
            ));
            continue;
        }
        let sent = reached.get(*method).cloned().unwrap_or_default();
        for claim in claims {
            if !sent.contains(*claim) {
                problems.push(format!(
                    "`{method}` claims `{claim}` but its representative call never sends to it"
                ));
            }
        }
    }
    for (method, sent) in &reached {
        let claims = claimed_by.get(method.as_str()).cloned().unwrap_or_default();
        for operation in sent {
            if !claims.contains(operation.as_str()) {
                problems.push(format!(
                    "`{method}` sends to `{operation}`, which it does not claim"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The published table, generated from the contract and the claims.
fn render(spec: &Value) -> String {
    let operations = operations(spec);
    let claims: BTreeMap<&str, &Claim> = coverage::claims().map(|c| (c.operation, c)).collect();
    let left_out: BTreeMap<&str, &str> = coverage::left_out()
        .map(|l| (l.operation, l.reason))
        .collect();
    let covered = operations
        .iter()
        .filter(|o| claims.contains_key(o.id.as_str()))
        .count();
    let mut text = format!(
        "# Constant Contact: coverage of the API\n\n\
         Generated by `tests/tests/constant_contact_coverage.rs` from the official contract\n\
         (`shared/reference/constant-contact/openapi.yaml`) and the connector's claims\n\
         (`connectors/constant-contact/src/coverage/`); do not edit by hand. The test fails when this\n\
         file is stale, and when a method sends a request to an operation it does not claim.\n\n\
         **{covered} of {} operations covered.**\n\n\
         | Operation | Request | Area | Covered by |\n|---|---|---|---|\n",
        operations.len()
    );
    for operation in &operations {
        let covered_by = match (
            claims.get(operation.id.as_str()),
            left_out.get(operation.id.as_str()),
        ) {
            (Some(claim), _) => claim
                .methods
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", "),
            (None, Some(reason)) => format!("left out: {reason}"),
            (None, None) => "**neither claimed nor left out**".to_owned(),
        };
        text.push_str(&format!(
            "| `{}` | `{} {}` | {} | {} |\n",
            operation.id, operation.verb, operation.path, operation.tag, covered_by
        ));
    }
    text
}

#[test]
fn the_published_coverage_table_is_current() {
    let spec = load_spec();
    let rendered = render(&spec);
    let path = workspace_root().join("docs/constant-contact-coverage.md");
    if std::env::var_os("UPDATE_COVERAGE").is_some() {
        std::fs::write(&path, &rendered).expect("the coverage table is written");
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == rendered,
        "docs/constant-contact-coverage.md is stale; regenerate it with \
         `UPDATE_COVERAGE=1 cargo test -p plugboard-tests --test constant_contact_coverage`"
    );
}
