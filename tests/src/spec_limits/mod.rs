//! The limits Constant Contact's contract states on the inputs of an operation: every `maxLength`,
//! `minLength`, `maxItems`, `minItems`, `minimum`, `maximum`, `enum`, `pattern` and `required` on
//! its path and query parameters and in its JSON body, nested objects and array items included.
//! The limits audit (`tests/constant_contact_limits.rs`) checks each against the methods.
//!
//! A place is written the way the audit's tables name it: `path contact_id`, `query limit`,
//! `body /email_address/address`, with `*` for "every item of an array":
//! `body /phone_numbers/*/kind`.

use std::fmt;

use serde_json::Value;

/// The keywords that limit a value. `maxItems: 0` means "unspecified" in this spec and is
/// dropped when the spec is loaded ([`crate::openapi::load_spec`]).
const KEYWORDS: &[&str] = &[
    "maxLength",
    "minLength",
    "maxItems",
    "minItems",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "enum",
    "pattern",
];

/// How deep nested definitions are followed; the contract's request bodies are shallower.
const MAX_DEPTH: usize = 12;

/// Where a constrained value sits in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Place {
    /// A path parameter.
    Path,
    /// A query parameter.
    Query,
    /// The JSON body.
    Body,
    /// A field of a `multipart/form-data` body (a file upload's form).
    Form,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Place::Path => "path",
            Place::Query => "query",
            Place::Body => "body",
            Place::Form => "form",
        })
    }
}

/// One limit the spec states on one input of one operation.
#[derive(Debug, Clone)]
pub struct Constraint {
    /// The operation's `operationId`.
    pub operation: String,
    /// Where the constrained value goes.
    pub place: Place,
    /// The value's place: for parameters its name (`limit`, `include/*`), for the body a JSON
    /// pointer with `*` for array items (`/phone_numbers/*/kind`, empty for the whole body).
    pub field: String,
    /// The keyword (`maxLength`, …, `required`).
    pub keyword: &'static str,
    /// The keyword's value (for `required`, `true`).
    pub bound: Value,
    /// The constrained schema, references resolved (for `required`, the property's own).
    pub schema: Value,
    /// Whether the spec marks the value `readOnly`: the API sets it and a request never
    /// carries it.
    pub read_only: bool,
}

impl Constraint {
    /// `operation place field`, the key the audit's tables use.
    pub fn location(&self) -> String {
        format!("{} {} {}", self.operation, self.place, self.field)
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.location(), self.keyword, self.bound)
    }
}

/// The operation with this `operationId`: its verb, path template and operation object.
pub fn operation<'s>(spec: &'s Value, id: &str) -> Option<(&'s str, &'s str, &'s Value)> {
    spec["paths"].as_object()?.iter().find_map(|(path, item)| {
        item.as_object()?
            .iter()
            .find(|(_, op)| op["operationId"] == id)
            .map(|(verb, op)| (verb.as_str(), path.as_str(), op))
    })
}

/// Every limit the spec states on the inputs of operation `id`, in the spec's order.
pub fn input_constraints(spec: &Value, id: &str) -> Vec<Constraint> {
    let Some((_, template, op)) = operation(spec, id) else {
        panic!("the spec has no operation `{id}`");
    };
    let parameters = op["parameters"]
        .as_array()
        .into_iter()
        .chain(spec["paths"][template]["parameters"].as_array())
        .flatten();
    let mut walker = Walker {
        spec,
        operation: id,
        found: Vec::new(),
    };
    for parameter in parameters {
        let parameter = walker.resolve(parameter);
        let name = parameter["name"].as_str().unwrap_or_default();
        match parameter["in"].as_str() {
            Some("body") => walker.walk(Place::Body, "", &parameter["schema"], false, 0),
            Some(place @ ("path" | "query" | "formData")) => {
                let place = match place {
                    "path" => Place::Path,
                    "query" => Place::Query,
                    _ => Place::Form,
                };
                if parameter["required"] == true {
                    walker.push(place, name, "required", Value::Bool(true), parameter, false);
                }
                walker.walk(place, name, parameter, false, 0);
            }
            _ => {}
        }
    }
    walker.found
}

/// Collects the constraints of one operation.
struct Walker<'s> {
    spec: &'s Value,
    operation: &'s str,
    found: Vec<Constraint>,
}

impl<'s> Walker<'s> {
    /// Follows `$ref`s into `definitions` (or `parameters`).
    fn resolve(&self, mut schema: &'s Value) -> &'s Value {
        for _ in 0..MAX_DEPTH {
            let Some(reference) = schema["$ref"].as_str() else {
                return schema;
            };
            let mut parts = reference.trim_start_matches("#/").split('/');
            let (Some(table), Some(name)) = (parts.next(), parts.next()) else {
                return schema;
            };
            schema = &self.spec[table][name];
        }
        schema
    }

    fn push(
        &mut self,
        place: Place,
        field: &str,
        keyword: &'static str,
        bound: Value,
        schema: &Value,
        read_only: bool,
    ) {
        self.found.push(Constraint {
            operation: self.operation.to_owned(),
            place,
            field: field.to_owned(),
            keyword,
            bound,
            schema: schema.clone(),
            read_only,
        });
    }

    fn walk(
        &mut self,
        place: Place,
        field: &str,
        schema: &'s Value,
        read_only: bool,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        let schema = self.resolve(schema);
        let read_only = read_only || schema["readOnly"] == true;
        for keyword in KEYWORDS {
            if let Some(bound) = schema.get(*keyword) {
                self.push(place, field, keyword, bound.clone(), schema, read_only);
            }
        }
        for part in schema["allOf"].as_array().into_iter().flatten() {
            self.walk(place, field, part, read_only, depth + 1);
        }
        let properties = schema["properties"].as_object();
        for name in schema["required"].as_array().into_iter().flatten() {
            let Some(name) = name.as_str() else { continue };
            let property = properties
                .and_then(|p| p.get(name))
                .map(|p| self.resolve(p))
                .unwrap_or(&Value::Null);
            let property_read_only = read_only || property["readOnly"] == true;
            self.push(
                place,
                &format!("{field}/{name}"),
                "required",
                Value::Bool(true),
                property,
                property_read_only,
            );
        }
        for (name, property) in properties.into_iter().flatten() {
            self.walk(
                place,
                &format!("{field}/{name}"),
                property,
                read_only,
                depth + 1,
            );
        }
        if let Some(items) = schema.get("items") {
            self.walk(place, &format!("{field}/*"), items, read_only, depth + 1);
        }
    }
}

pub mod inputs;
pub mod reviewed;
pub mod sent;
