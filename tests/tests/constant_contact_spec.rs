//! Every request the Constant Contact connector produces, checked against Constant Contact's own
//! contract (`shared/reference/constant-contact/openapi.yaml`, Swagger 2.0, read at test time):
//! the path and verb exist, every query parameter is declared, and JSON bodies validate against
//! the operation's body schema. The spec's `maxItems: 0` means "unspecified" and is ignored.

use std::path::PathBuf;

use plugboard_core::{
    Connector, DefinedConnector, HttpRequest, HttpResponse, Invocation, RequestBody,
};
use plugboard_tests::{ScriptedHost, workspace_root};
use serde_json::{Map, Value, json};

fn spec_path() -> PathBuf {
    workspace_root().join("../shared/reference/constant-contact/openapi.yaml")
}

fn load_spec() -> Value {
    let path = spec_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| {
            panic!(
                "cannot read the spec at {}: {e} (the project's shared/ folder must sit beside the repository, as it does in CI)",
                path.display()
            )
        });
    let mut spec: Value = serde_norway::from_str(&text).expect("the spec is valid YAML");
    drop_unspecified_max_items(&mut spec);
    spec
}

/// The spec writes `maxItems: 0` where it means "no limit".
fn drop_unspecified_max_items(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("maxItems") == Some(&json!(0)) {
                map.remove("maxItems");
            }
            map.values_mut().for_each(drop_unspecified_max_items);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_unspecified_max_items),
        _ => {}
    }
}

/// The spec path template a concrete path matches, e.g. `/contacts/{contact_id}`. Literal segments
/// win over placeholders, so `/contacts/counts` is not taken for `/contacts/{contact_id}`.
fn matching_template<'s>(spec: &'s Value, path: &str) -> Option<&'s str> {
    let segments: Vec<&str> = path.split('/').collect();
    let is_placeholder = |part: &str| part.starts_with('{') && part.ends_with('}');
    spec["paths"]
        .as_object()?
        .keys()
        .map(String::as_str)
        .filter(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(part, segment)| {
                    (is_placeholder(part) && !segment.is_empty()) || part == segment
                })
        })
        .min_by_key(|template| template.split('/').filter(|p| is_placeholder(p)).count())
}

/// Checks one request against the spec; returns every problem found.
fn conformance_problems(spec: &Value, request: &HttpRequest) -> Vec<String> {
    let mut problems = Vec::new();
    // A query string inside the path comes verbatim from the API's own `_links.next.href` (its
    // `cursor` is undeclared for most collections), so only the parameters the connector sets
    // are checked against the declarations.
    let path = request
        .path
        .split_once('?')
        .map_or(request.path.as_str(), |(path, _)| path);
    let Some(template) = matching_template(spec, path) else {
        return vec![format!("no path in the spec matches {path}")];
    };
    let verb = request.method.as_str().to_ascii_lowercase();
    let Some(operation) = spec["paths"][template].get(&verb) else {
        return vec![format!("the spec has no {} {template}", request.method)];
    };
    let parameters: Vec<&Value> = operation["parameters"]
        .as_array()
        .into_iter()
        .chain(spec["paths"][template]["parameters"].as_array())
        .flatten()
        .collect();
    let declared_query: Vec<&Value> = parameters
        .iter()
        .copied()
        .filter(|p| p["in"] == "query")
        .collect();
    for (name, value) in &request.query {
        match declared_query.iter().find(|p| p["name"] == name.as_str()) {
            None => problems.push(format!(
                "{} {template}: query parameter `{name}` is not declared",
                request.method
            )),
            Some(declared) => problems.extend(query_value_problems(declared, value).map(|p| {
                format!(
                    "{} {template}: query parameter `{name}`: {p}",
                    request.method
                )
            })),
        }
    }
    if let Some(RequestBody::Json(body)) = &request.body {
        match parameters.iter().find(|p| p["in"] == "body") {
            None => problems.push(format!("{} {template} takes no JSON body", request.method)),
            Some(parameter) => {
                let mut schema = parameter["schema"].clone();
                if let Some(object) = schema.as_object_mut() {
                    object.insert("definitions".into(), spec["definitions"].clone());
                }
                let validator =
                    jsonschema::validator_for(&schema).expect("the body schema compiles");
                for error in validator.iter_errors(body) {
                    problems.push(format!(
                        "{} {template}: body at `{}`: {error}",
                        request.method,
                        error.instance_path()
                    ));
                }
            }
        }
    }
    problems
}

/// Checks a query value against its declaration: type, and enum membership of each item of a
/// comma-separated list.
fn query_value_problems(declared: &Value, value: &str) -> impl Iterator<Item = String> {
    let csv = declared["format"] == "csv" || declared["collectionFormat"] == "csv";
    let items: Vec<&str> = if csv {
        value.split(',').collect()
    } else {
        vec![value]
    };
    let mut problems = Vec::new();
    for item in items {
        let type_ok = match declared["type"].as_str() {
            Some("integer") => item.parse::<i64>().is_ok(),
            Some("boolean") => item == "true" || item == "false",
            _ => true,
        };
        if !type_ok {
            problems.push(format!("`{item}` is not of type {}", declared["type"]));
        }
        if let Some(allowed) = declared["enum"].as_array()
            && !allowed.iter().any(|a| a.as_str() == Some(item))
        {
            problems.push(format!("`{item}` is not one of {}", declared["enum"]));
        }
        if let (Some(max), Ok(number)) = (declared["maximum"].as_i64(), item.parse::<i64>())
            && number > max
        {
            problems.push(format!("{number} is above the maximum {max}"));
        }
    }
    problems.into_iter()
}

/// A representative call of every method, with responses shaped like the API's, so that every
/// request a method can make (including follow-up pages) is produced.
fn representative_calls() -> Vec<(&'static str, Value, Vec<HttpResponse>)> {
    vec![
        (
            "account.get_summary",
            json!({"extra_fields": ["physical_address", "company_logo"]}),
            vec![HttpResponse::json(
                200,
                &json!({"organization_name": "Acme"}),
            )],
        ),
        (
            "account.get_user_privileges",
            json!({}),
            vec![HttpResponse::json(
                200,
                &json!([{"privilege_id": 30, "privilege_name": "campaign:create"}]),
            )],
        ),
        (
            "contact_lists.list",
            json!({"name": "Customers", "status": "all", "include_membership_count": "active"}),
            vec![
                HttpResponse::json(
                    200,
                    &json!({
                        "lists": [{"list_id": "l-1", "name": "Customers"}],
                        "_links": {"next": {"href": "/v3/contact_lists?cursor=bGltaXQ9NTAw"}}
                    }),
                ),
                HttpResponse::json(200, &json!({"lists": []})),
            ],
        ),
    ]
}

fn requests_of(method: &str, input: Value, responses: Vec<HttpResponse>) -> Vec<HttpRequest> {
    let connector = DefinedConnector::new::<constant_contact::ConstantContact>();
    let host = ScriptedHost::new(responses.into_iter().map(Ok));
    let call = Invocation {
        method: method.into(),
        input,
        settings: Map::new(),
    };
    connector
        .invoke(&call, &host)
        .unwrap_or_else(|e| panic!("{method} fails on its representative input: {e}"));
    host.requests()
}

#[test]
fn every_method_has_a_representative_call() {
    let connector = DefinedConnector::new::<constant_contact::ConstantContact>();
    let covered: Vec<&str> = representative_calls().iter().map(|(m, _, _)| *m).collect();
    for method in &connector.manifest().methods {
        assert!(
            covered.contains(&method.id.as_str()),
            "`{}` has no representative call in this test",
            method.id
        );
    }
}

#[test]
fn every_request_conforms_to_the_official_spec() {
    let spec = load_spec();
    let mut problems = Vec::new();
    for (method, input, responses) in representative_calls() {
        for request in requests_of(method, input, responses) {
            problems.extend(
                conformance_problems(&spec, &request)
                    .into_iter()
                    .map(|p| format!("{method}: {p}")),
            );
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_request_shape_is_pinned() {
    for (method, input, responses) in representative_calls() {
        let requests = requests_of(method, input, responses);
        insta::assert_json_snapshot!(format!("requests_{method}"), requests);
    }
}

#[test]
fn the_checker_catches_requests_the_spec_does_not_allow() {
    let spec = load_spec();
    let unknown_path = HttpRequest::get("/contacts/abc/nonsense");
    assert!(!conformance_problems(&spec, &unknown_path).is_empty());
    assert_eq!(
        matching_template(&spec, "/contacts/counts"),
        Some("/contacts/counts")
    );
    assert_eq!(
        matching_template(&spec, "/contacts/0b6b3f5e"),
        Some("/contacts/{contact_id}")
    );
    let wrong_verb = HttpRequest::patch("/account/summary");
    assert!(!conformance_problems(&spec, &wrong_verb).is_empty());
    let undeclared_query = HttpRequest::get("/contact_lists").query("colour", "red");
    assert_eq!(conformance_problems(&spec, &undeclared_query).len(), 1);
    let bad_values = HttpRequest::get("/contact_lists")
        .query("limit", 5000)
        .query("status", "archived")
        .query("include_count", "yes");
    assert_eq!(
        conformance_problems(&spec, &bad_values).len(),
        3,
        "{:?}",
        conformance_problems(&spec, &bad_values)
    );
    let bad_body = HttpRequest::post("/contact_lists")
        .json(&json!({"favorite": "yes"}))
        .expect("encodes");
    let problems = conformance_problems(&spec, &bad_body);
    assert!(
        problems.iter().any(|p| p.contains("favorite"))
            && problems.iter().any(|p| p.contains("name")),
        "a missing required `name` and a mistyped `favorite`: {problems:?}"
    );
    let good_body = HttpRequest::post("/contact_lists")
        .json(&json!({"name": "Customers", "favorite": true}))
        .expect("encodes");
    assert_eq!(
        conformance_problems(&spec, &good_body),
        Vec::<String>::new()
    );
}
