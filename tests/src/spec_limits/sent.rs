//! What a method's requests carry at a constraint's place, so the limits audit can prove that an
//! input field it breaks is the one the request carries (mirroring is checked, not assumed), and
//! that a value the method sets itself keeps to the spec's limit.

use plugboard_core::{HttpRequest, PartContent, RequestBody};
use serde_json::Value;

use crate::openapi::matching_template;
use crate::spec_limits::{Constraint, Place, operation};

/// How the spec writes the key of an import's custom field, whose real name is `cf:<name>`.
const DYNAMIC_KEY: &str = "/cf:custom_field_name";

/// The values the requests to the constraint's operation carry at its place: for the body, the
/// JSON value at the field's pointer (array items at index 0); for parameters, every value given,
/// comma-separated lists split. `None` when no request goes to the operation or none carries it.
pub fn sent_values(
    spec: &Value,
    constraint: &Constraint,
    requests: &[HttpRequest],
) -> Option<Vec<Value>> {
    let (verb, template, _) = operation(spec, &constraint.operation)?;
    let to_operation = requests.iter().filter(|request| {
        let path = request
            .path
            .split_once('?')
            .map_or(request.path.as_str(), |(p, _)| p);
        request.method.as_str().eq_ignore_ascii_case(verb)
            && matching_template(spec, path) == Some(template)
    });
    let name = constraint.field.split('/').next().unwrap_or_default();
    let mut values = Vec::new();
    for request in to_operation {
        match constraint.place {
            Place::Body => {
                let Some(RequestBody::Json(body)) = &request.body else {
                    continue;
                };
                // The spec names a dynamic key by a placeholder: an import's custom field goes
                // as `cf:<its name>`.
                let field = constraint.field.replace("/*", "/0");
                match field.split_once(DYNAMIC_KEY) {
                    Some((object, _)) => {
                        let dynamic = body.pointer(object).and_then(Value::as_object);
                        values.extend(
                            dynamic
                                .into_iter()
                                .flatten()
                                .filter(|(key, _)| key.starts_with("cf:"))
                                .map(|(_, value)| value.clone()),
                        );
                    }
                    None => values.extend(body.pointer(&field).cloned()),
                }
            }
            Place::Query => values.extend(
                request
                    .query
                    .iter()
                    .filter(|(n, _)| n == name)
                    .flat_map(|(_, v)| v.split(','))
                    .map(|v| Value::String(v.to_owned())),
            ),
            // A form's text fields are sent as text (a list comma-separated); a file part
            // counts as sent by its file name.
            Place::Form => {
                let Some(RequestBody::Multipart(parts)) = &request.body else {
                    continue;
                };
                for part in parts.iter().filter(|part| part.name == name) {
                    match (&part.filename, &part.content) {
                        (Some(file), _) => values.push(Value::String(file.clone())),
                        (None, PartContent::Text(text)) => {
                            values.extend(text.split(',').map(|v| Value::String(v.to_owned())));
                        }
                        (None, PartContent::Base64(_)) => {}
                    }
                }
            }
            Place::Path => {
                let placeholder = format!("{{{name}}}");
                let index = template.split('/').position(|part| part == placeholder)?;
                let path = request
                    .path
                    .split_once('?')
                    .map_or(request.path.as_str(), |(p, _)| p);
                // A list in a path segment is comma-separated, as in a query.
                if let Some(segment) = path.split('/').nth(index) {
                    values.extend(segment.split(',').map(|v| Value::String(v.to_owned())));
                }
            }
        }
    }
    (!values.is_empty()).then_some(values)
}

/// Whether `input` (the method's input value) is what was `sent`: the same JSON in a body;
/// every scalar of it among the parameter values.
pub fn mirrors(constraint: &Constraint, input: &Value, sent: &[Value]) -> bool {
    // A required field is proven sent when the request has it (a value the method fills in,
    // e.g. a default, may be added inside it).
    if constraint.keyword == "required" {
        return !sent.is_empty();
    }
    if constraint.place == Place::Body {
        return sent.contains(input);
    }
    let scalars: Vec<&Value> = match input {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    scalars.iter().all(|scalar| {
        let text = match scalar {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        sent.iter().any(|v| v.as_str() == Some(text.as_str()))
    })
}

/// Whether a value the method sets itself keeps to the constraint: numbers within `minimum` and
/// `maximum`, texts (as sent) within `minLength` and `maxLength`, one of an `enum`.
pub fn keeps_to(constraint: &Constraint, sent: &Value) -> bool {
    let text = match sent {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let bound = &constraint.bound;
    match constraint.keyword {
        "minimum" => text
            .parse::<f64>()
            .ok()
            .zip(bound.as_f64())
            .is_some_and(|(v, b)| v >= b),
        "maximum" => text
            .parse::<f64>()
            .ok()
            .zip(bound.as_f64())
            .is_some_and(|(v, b)| v <= b),
        "minLength" => bound
            .as_u64()
            .is_some_and(|b| text.chars().count() as u64 >= b),
        "maxLength" => bound
            .as_u64()
            .is_some_and(|b| text.chars().count() as u64 <= b),
        "enum" => bound.as_array().is_some_and(|allowed| {
            allowed
                .iter()
                .any(|a| a.as_str() == Some(&text) || *a == *sent)
        }),
        "required" => true,
        _ => false,
    }
}
