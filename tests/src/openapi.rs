//! Constant Contact's own contract (`shared/reference/constant-contact/openapi.yaml`, Swagger 2.0),
//! read at test time, and the checks the tests make against it: whether a request the connector
//! builds is allowed by the spec. The spec's `maxItems: 0` means "unspecified" and is ignored.

use std::path::PathBuf;

use plugboard_core::{FormPart, HttpRequest, PartContent, RequestBody};
use serde_json::{Value, json};

use crate::workspace_root;

/// Where the spec sits: in `shared/` beside the repository.
pub fn spec_path() -> PathBuf {
    workspace_root().join("../shared/reference/constant-contact/openapi.yaml")
}

/// The spec as JSON, with `maxItems: 0` removed.
pub fn load_spec() -> Value {
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
pub fn matching_template<'s>(spec: &'s Value, path: &str) -> Option<&'s str> {
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

/// Checks one request against the spec; returns every problem found (empty when it conforms).
pub fn conformance_problems(spec: &Value, request: &HttpRequest) -> Vec<String> {
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
    if let Some(RequestBody::Multipart(parts)) = &request.body {
        problems.extend(
            form_problems(operation, &parameters, parts)
                .map(|p| format!("{} {template}: {p}", request.method)),
        );
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

/// Checks a `multipart/form-data` body against the operation's `formData` parameters: the
/// operation consumes a form, every part is declared, every required one is there, a `file`
/// parameter gets a file part, and a text part's value keeps to its declaration.
fn form_problems<'a>(
    operation: &Value,
    parameters: &[&'a Value],
    parts: &'a [FormPart],
) -> impl Iterator<Item = String> + 'a {
    let mut problems = Vec::new();
    let consumes_form = operation["consumes"]
        .as_array()
        .is_some_and(|types| types.iter().any(|t| t == "multipart/form-data"));
    if !consumes_form {
        problems.push("takes no multipart/form-data body".to_owned());
    }
    let declared: Vec<&Value> = parameters
        .iter()
        .copied()
        .filter(|p| p["in"] == "formData")
        .collect();
    for parameter in &declared {
        let name = parameter["name"].as_str().unwrap_or_default();
        if parameter["required"] == true && !parts.iter().any(|part| part.name == name) {
            problems.push(format!("form field `{name}` is required"));
        }
    }
    for part in parts {
        let name = &part.name;
        match declared.iter().find(|p| p["name"] == name.as_str()) {
            None => problems.push(format!("form field `{name}` is not declared")),
            Some(declared) if declared["type"] == "file" => {
                if part.filename.is_none() {
                    problems.push(format!("form field `{name}` must be a file"));
                }
            }
            Some(declared) => match &part.content {
                PartContent::Text(value) => problems.extend(
                    query_value_problems(declared, value)
                        .map(|p| format!("form field `{name}`: {p}")),
                ),
                PartContent::Base64(_) => {
                    problems.push(format!("form field `{name}` must be text"));
                }
            },
        }
    }
    problems.into_iter()
}

/// Checks a query value against its declaration: type, and enum membership of each item of a
/// comma-separated list.
pub fn query_value_problems(declared: &Value, value: &str) -> impl Iterator<Item = String> {
    let csv = declared["format"] == "csv" || declared["collectionFormat"] == "csv";
    let items: Vec<&str> = if csv {
        value.split(',').collect()
    } else {
        vec![value]
    };
    let mut problems = Vec::new();
    if let Some(max) = declared["maxItems"].as_u64()
        && items.len() as u64 > max
    {
        problems.push(format!("{} items, above the maximum {max}", items.len()));
    }
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

/// Checks one response against the spec: the operation must declare `status`, and when it
/// declares a schema for it, `body` must validate against it (definitions inlined, as in
/// [`conformance_problems`]). Returns every problem found (empty when it conforms). A query
/// string in `concrete_path` is ignored.
pub fn response_problems(
    spec: &Value,
    method: &str,
    concrete_path: &str,
    status: u16,
    body: &Value,
) -> Vec<String> {
    let path = concrete_path
        .split_once('?')
        .map_or(concrete_path, |(path, _)| path);
    let path = path.strip_prefix("/v3").unwrap_or(path);
    let Some(template) = matching_template(spec, path) else {
        return vec![format!("no path in the spec matches {path}")];
    };
    let verb = method.to_ascii_lowercase();
    let Some(operation) = spec["paths"][template].get(&verb) else {
        return vec![format!("the spec has no {method} {template}")];
    };
    let responses = &operation["responses"];
    let Some(declared) = responses
        .get(status.to_string())
        .or_else(|| responses.get("default"))
    else {
        return vec![format!(
            "{method} {template}: status {status} is not declared (declared: {})",
            responses
                .as_object()
                .map(|r| r.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        )];
    };
    let Some(schema) = declared.get("schema") else {
        return Vec::new();
    };
    let mut schema = schema.clone();
    if let Some(object) = schema.as_object_mut() {
        object.insert("definitions".into(), spec["definitions"].clone());
    }
    let validator = jsonschema::validator_for(&schema).expect("the response schema compiles");
    validator
        .iter_errors(body)
        .map(|error| {
            format!(
                "{method} {template} {status}: body at `{}`: {error}",
                error.instance_path()
            )
        })
        .collect()
}
