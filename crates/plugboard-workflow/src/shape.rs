//! What `steps.<id>.output` holds, as far as the manifests say, and checking the paths expressions
//! follow into it.
//!
//! A misspelt field (`steps.acct.output.organisation_name`) used to pass validation and fail the
//! run only when the expression was rendered, after earlier steps had made their changes. The
//! method's output schema says which fields exist, so every constant path is checked against it
//! before the first request: a field that cannot be there is an error (with the nearest field
//! suggested), a field under a part the schema leaves open (a free-form object, a map) is a
//! warning, since it may well be there.
//!
//! Output schemas are generated from the types the connectors serialize, so an object schema that
//! lists its `properties` without saying `additionalProperties` is taken as closed: the connector
//! returns exactly those fields. Only an explicit `additionalProperties` (true or a schema, as a
//! flattened map gives), `patternProperties` or an object whose fields are not listed leave room
//! for other fields. An API object that keeps the fields its type does not name (marked
//! `x-plugboard-unnamed`, invariant 7) is open too, except that a key one edit away from a field
//! it names is taken for that field misspelt: it is an error with the field suggested.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use crate::expr::{Segment, display_path};

/// How deep `$ref`s and combinators are followed for one segment; a schema that refers to itself
/// stops here instead of looping.
const MAX_DEPTH: usize = 32;

/// How many alternatives a path follows at once; past this the path is not checked further.
const MAX_ALTERNATIVES: usize = 64;

/// How many schema nodes one segment's lookup may visit: combinators that refer back to their
/// own document branch at every level, and a depth limit alone would still be exponential.
const MAX_VISITS: usize = 4_096;

/// How many field names a message lists.
const MAX_LISTED_FIELDS: usize = 12;

/// The shape of a value an expression can reach.
#[derive(Debug, Clone)]
pub(crate) enum Shape<'s> {
    /// A node of a JSON Schema document; `$ref`s resolve against `root`.
    Schema {
        /// The document the node is in.
        root: &'s Value,
        /// The node.
        node: &'s Value,
    },
    /// An array whose elements have this shape (the outputs of a `for_each`'s calls).
    Array(Box<Shape<'s>>),
    /// Any one of these (an output, or the error `on_error: continue` records instead).
    Either(Vec<Shape<'s>>),
}

impl<'s> Shape<'s> {
    /// A whole schema document.
    pub fn schema(root: &'s Value) -> Self {
        Self::Schema { root, node: root }
    }

    /// This shape, or the `{"error": {...}}` a step or call with `on_error: continue` records
    /// when it fails.
    pub fn or_continued_error(self) -> Self {
        Self::Either(vec![self, Self::schema(continued_error())])
    }
}

/// What validation knows of the output of one step.
#[derive(Debug, Clone)]
pub(crate) struct StepOutput<'s> {
    /// Its shape.
    pub shape: Shape<'s>,
    /// The method called, for messages.
    pub method: Option<String>,
    /// The schema of the records a streaming method sends; they are not in its output, which is
    /// only the final summary.
    pub records: Option<&'s Value>,
    /// Whether the step repeats its call over an array (`for_each`), making its output an array
    /// of the calls' outputs.
    pub repeated: bool,
}

/// What checking a path found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finding {
    /// The path cannot exist: the run would fail where the expression is rendered.
    Error(String),
    /// The path cannot be checked before the run: the schema allows fields it does not list.
    Warning(String),
}

/// The output of a `read` step: how many records the file had, and its path.
pub(crate) fn read_summary() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        json!({
            "type": "object",
            "properties": {
                "records": {"type": "integer"},
                "path": {"type": "string"}
            }
        })
    })
}

/// The output of a `for_each` over a record stream: counts, and the first errors.
pub(crate) fn stream_summary() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut error = continued_error().clone();
        if let Some(properties) = error.get_mut("properties").and_then(Value::as_object_mut) {
            properties.insert("item".to_owned(), json!({"type": "integer"}));
        }
        json!({
            "type": "object",
            "properties": {
                "records": {"type": "integer"},
                "calls": {"type": "integer"},
                "succeeded": {"type": "integer"},
                "failed": {"type": "integer"},
                "errors": {"type": "array", "items": error}
            }
        })
    })
}

/// What `on_error: continue` records instead of an output: the connector error's fields beyond
/// `kind` and `message` depend on the kind.
fn continued_error() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        json!({
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string"},
                        "message": {"type": "string"}
                    },
                    "additionalProperties": true
                }
            }
        })
    })
}

/// Anything: the elements of an array whose schema says nothing about them.
fn anything() -> &'static Value {
    static SCHEMA: Value = Value::Bool(true);
    &SCHEMA
}

/// A string: what an index into a string gives.
fn a_string() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| json!({"type": "string"}))
}

/// What one segment finds in one shape.
#[derive(Debug)]
enum Outcome<'s> {
    /// There, with these shapes.
    Found(Vec<Shape<'s>>),
    /// Maybe there: the schema allows fields it does not list.
    Open,
    /// An object whose fields the schema does not list.
    Unlisted,
    /// An object that cannot have this field; the fields it can have.
    Missing(Vec<&'s str>),
    /// Not an object (or, for an index, not an array or string): the types it can be.
    Wrong(Vec<&'s str>),
    /// The schema says nothing here (any value).
    NoInfo,
}

/// Checks the path an expression follows into `steps.<id>.output`; `path` is what follows
/// `output`.
pub(crate) fn check(output: &StepOutput<'_>, step: &str, path: &[Segment]) -> Option<Finding> {
    let base = [
        Segment::Key(step.to_owned()),
        Segment::Key("output".to_owned()),
    ];
    let full: Vec<Segment> = base.iter().chain(path).cloned().collect();
    let mut current = vec![output.shape.clone()];
    for (k, segment) in path.iter().enumerate() {
        let here = display_path("steps", &full[..2 + k]);
        let mut budget = MAX_VISITS;
        let outcomes = current
            .iter()
            .map(|shape| lookup(shape, segment, 0, &mut budget))
            .collect();
        let outcome = disjunction(outcomes);
        match outcome {
            Outcome::Found(next) if next.len() <= MAX_ALTERNATIVES => current = next,
            Outcome::Found(_) => return None,
            open @ (Outcome::Open | Outcome::Unlisted | Outcome::NoInfo) => {
                let whose = match &output.method {
                    Some(method) => format!("the output schema of `{method}`"),
                    None => "the output's schema".to_owned(),
                };
                let why = if matches!(open, Outcome::Open) {
                    format!("`{here}` may hold fields {whose} does not list")
                } else {
                    format!("{whose} does not list what `{here}` holds")
                };
                return Some(Finding::Warning(format!(
                    "`{}` cannot be checked before the run: {why}",
                    display_path("steps", &full[..3 + k]),
                )));
            }
            Outcome::Missing(fields) => {
                return Some(Finding::Error(missing_field(
                    output, step, &here, segment, &fields, k,
                )));
            }
            Outcome::Wrong(types) => {
                return Some(Finding::Error(wrong_type(
                    output, step, &here, segment, &types, k,
                )));
            }
        }
    }
    None
}

fn missing_field(
    output: &StepOutput<'_>,
    step: &str,
    here: &str,
    segment: &Segment,
    fields: &[&str],
    k: usize,
) -> String {
    let name = match segment {
        Segment::Key(name) => name.as_str(),
        // An index only ever gives `Wrong`.
        Segment::Index(_) => "",
    };
    let mut message = format!("`{here}` has no field `{}`", crate::excerpt::excerpt(name));
    if let Some(nearest) = nearest(name, fields) {
        // The likely fix says enough; the list of fields would bury it.
        message.push_str(&format!("; did you mean `{nearest}`?"));
    } else if fields.is_empty() {
        message.push_str(" (it has no fields)");
    } else {
        let listed: Vec<&str> = fields.iter().take(MAX_LISTED_FIELDS).copied().collect();
        let more = fields.len().saturating_sub(MAX_LISTED_FIELDS);
        let whose = match (&output.method, k) {
            (Some(method), 0) => format!("the output of `{method}` has"),
            _ => "its fields:".to_owned(),
        };
        message.push_str(&format!(
            " ({whose} {}{})",
            listed.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    let mut budget = MAX_VISITS;
    if k == 0
        && let Some(records) = output.records
        && lookup(&Shape::schema(records), segment, 0, &mut budget).is_found()
    {
        message.push_str(&format!(
            "; `{}` streams its records, which are not in its output: go through them with \
             `\"for_each\": \"{{{{ steps.{step}.records }}}}\"` or write them to a file with \
             `records_to`",
            output.method.as_deref().unwrap_or("the method")
        ));
    }
    message
}

fn wrong_type(
    output: &StepOutput<'_>,
    step: &str,
    here: &str,
    segment: &Segment,
    types: &[&str],
    k: usize,
) -> String {
    let is = describe_types(types);
    match segment {
        Segment::Key(name) if types.contains(&"array") => {
            let example = format!("{here}[0]{}", Segment::Key(name.clone()));
            if k == 0 && output.repeated {
                format!(
                    "step `{step}` repeats its call (`for_each`), so `{here}` is an array with \
                     the output of each call: pick one (`{}`) or go through them with a \
                     `for_each`",
                    crate::excerpt::excerpt(&example)
                )
            } else {
                format!(
                    "`{here}` is {is}, so it has no field `{}`: pick one element (`{}`) or go \
                     through them with a `for_each`",
                    crate::excerpt::excerpt(name),
                    crate::excerpt::excerpt(&example)
                )
            }
        }
        Segment::Key(name) => format!(
            "`{here}` is {is}, so it has no field `{}`",
            crate::excerpt::excerpt(name)
        ),
        Segment::Index(index) => {
            format!("`{here}` is {is}, not an array, so it has no element [{index}]")
        }
    }
}

impl Outcome<'_> {
    fn is_found(&self) -> bool {
        matches!(self, Self::Found(_))
    }
}

/// `a string or null`, `an object`.
fn describe_types(types: &[&str]) -> String {
    if types.is_empty() {
        return "never set".to_owned();
    }
    let mut sorted: Vec<&str> = types.to_vec();
    sorted.sort_by_key(|t| (*t == "null", *t));
    sorted.dedup();
    sorted
        .iter()
        .map(|t| match *t {
            "array" => "an array",
            "object" => "an object",
            "string" => "a string",
            "integer" => "an integer",
            "number" => "a number",
            "boolean" => "a boolean",
            "null" => "null",
            _ => "a value",
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

fn lookup<'s>(
    shape: &Shape<'s>,
    segment: &Segment,
    depth: usize,
    budget: &mut usize,
) -> Outcome<'s> {
    match shape {
        Shape::Schema { root, node } => lookup_node(root, node, segment, depth, budget),
        Shape::Array(items) => match segment {
            Segment::Key(_) => Outcome::Wrong(vec!["array"]),
            Segment::Index(_) => Outcome::Found(vec![(**items).clone()]),
        },
        Shape::Either(shapes) => {
            let mut outcomes = Vec::with_capacity(shapes.len());
            for shape in shapes {
                outcomes.push(lookup(shape, segment, depth + 1, budget));
            }
            disjunction(outcomes)
        }
    }
}

/// The outcome in a schema node: its `$ref`, `allOf` parts and `anyOf`/`oneOf` alternatives all
/// apply together with its own keywords.
fn lookup_node<'s>(
    root: &'s Value,
    node: &'s Value,
    segment: &Segment,
    depth: usize,
    budget: &mut usize,
) -> Outcome<'s> {
    if depth > MAX_DEPTH || *budget == 0 {
        return Outcome::Open;
    }
    *budget -= 1;
    let map = match node {
        Value::Object(map) => map,
        Value::Bool(false) => return Outcome::Wrong(Vec::new()),
        _ => return Outcome::NoInfo,
    };
    // The node's own keywords first, so its fields are listed before those of its parts.
    let mut parts = vec![own(root, map, segment)];
    if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
        parts.push(match resolve(root, reference) {
            Some(target) => lookup_node(root, target, segment, depth + 1, budget),
            // Another document: nothing to go by.
            None => Outcome::Open,
        });
    }
    if let Some(all) = map.get("allOf").and_then(Value::as_array) {
        for part in all {
            parts.push(lookup_node(root, part, segment, depth + 1, budget));
        }
    }
    for keyword in ["anyOf", "oneOf"] {
        if let Some(alternatives) = map.get(keyword).and_then(Value::as_array) {
            let mut outcomes = Vec::with_capacity(alternatives.len());
            for alternative in alternatives {
                outcomes.push(lookup_node(root, alternative, segment, depth + 1, budget));
            }
            parts.push(disjunction(outcomes));
        }
    }
    conjunction(parts)
}

/// A `$ref` inside the same document (`#`, `#/$defs/Name`, any JSON pointer).
fn resolve<'s>(root: &'s Value, reference: &str) -> Option<&'s Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

/// The outcome of a node's own keywords.
fn own<'s>(root: &'s Value, map: &'s Map<String, Value>, segment: &Segment) -> Outcome<'s> {
    let types = types_of(map);
    let properties = map.get("properties").and_then(Value::as_object);
    let additional = map.get("additionalProperties");
    let open = matches!(additional, Some(Value::Bool(true) | Value::Object(_)))
        || map.contains_key("patternProperties");
    let describes_array = map.contains_key("items") || map.contains_key("prefixItems");
    match segment {
        Segment::Key(name) => {
            if let Some(property) = properties.and_then(|p| p.get(name)) {
                return Outcome::Found(vec![Shape::Schema {
                    root,
                    node: property,
                }]);
            }
            if open {
                let keeps_unnamed =
                    map.get(plugboard_core::unnamed::UNNAMED_KEYWORD) == Some(&Value::Bool(true));
                if keeps_unnamed
                    && let Some(named) = properties.and_then(|p| misspelt(name, p.keys()))
                {
                    return Outcome::Missing(vec![named]);
                }
                return Outcome::Open;
            }
            if let Some(types) = &types
                && !types.contains(&"object")
            {
                return Outcome::Wrong(types.clone());
            }
            if properties.is_some() || additional == Some(&Value::Bool(false)) {
                return Outcome::Missing(
                    properties
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default(),
                );
            }
            if types.is_some() {
                return Outcome::Unlisted;
            }
            if describes_array {
                return Outcome::Wrong(vec!["array"]);
            }
            Outcome::NoInfo
        }
        Segment::Index(index) => {
            let is_array = types
                .as_ref()
                .map_or(describes_array, |t| t.contains(&"array"));
            if is_array {
                let prefix = map.get("prefixItems").and_then(Value::as_array);
                if let Some(item) = usize::try_from(*index)
                    .ok()
                    .and_then(|i| prefix.and_then(|p| p.get(i)))
                {
                    return Outcome::Found(vec![Shape::Schema { root, node: item }]);
                }
                return Outcome::Found(vec![match map.get("items") {
                    Some(items) => Shape::Schema { root, node: items },
                    None => Shape::schema(anything()),
                }]);
            }
            match types {
                Some(types) if types.contains(&"string") => {
                    Outcome::Found(vec![Shape::schema(a_string())])
                }
                Some(types) => Outcome::Wrong(types),
                None => Outcome::NoInfo,
            }
        }
    }
}

/// The JSON types a node allows, when it says (`type`, or the values of `const`/`enum`).
fn types_of(map: &Map<String, Value>) -> Option<Vec<&'static str>> {
    fn name(t: &str) -> &'static str {
        match t {
            "array" => "array",
            "object" => "object",
            "string" => "string",
            "integer" => "integer",
            "number" => "number",
            "boolean" => "boolean",
            "null" => "null",
            _ => "value",
        }
    }
    fn of_value(value: &Value) -> &'static str {
        match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
    match map.get("type") {
        Some(Value::String(t)) => return Some(vec![name(t)]),
        Some(Value::Array(ts)) => {
            return Some(ts.iter().filter_map(Value::as_str).map(name).collect());
        }
        _ => {}
    }
    if let Some(constant) = map.get("const") {
        return Some(vec![of_value(constant)]);
    }
    map.get("enum")
        .and_then(Value::as_array)
        .map(|values| values.iter().map(of_value).collect())
}

/// All of `parts` apply: a field listed by any of them is there.
fn conjunction<'s>(parts: Vec<Outcome<'s>>) -> Outcome<'s> {
    combine(parts, false)
}

/// One of `alternatives` applies: a field listed by any of them may be there, and an alternative
/// that leaves fields open leaves the value open.
fn disjunction(alternatives: Vec<Outcome<'_>>) -> Outcome<'_> {
    combine(alternatives, true)
}

fn combine<'s>(outcomes: Vec<Outcome<'s>>, alternatives: bool) -> Outcome<'s> {
    let mut found = Vec::new();
    let (mut open, mut unlisted, mut no_info) = (false, false, false);
    let mut missing: Option<Vec<&'s str>> = None;
    let mut wrong: Option<Vec<&'s str>> = None;
    for outcome in outcomes {
        match outcome {
            Outcome::Found(shapes) => found.extend(shapes),
            Outcome::Open => open = true,
            Outcome::Unlisted => unlisted = true,
            Outcome::NoInfo => no_info = true,
            Outcome::Missing(fields) => {
                let all = missing.get_or_insert_with(Vec::new);
                for field in fields {
                    if !all.contains(&field) {
                        all.push(field);
                    }
                }
            }
            Outcome::Wrong(types) => wrong.get_or_insert_with(Vec::new).extend(types),
        }
    }
    if !found.is_empty() {
        return Outcome::Found(found);
    }
    if open || (alternatives && (unlisted || no_info)) {
        return Outcome::Open;
    }
    if let Some(fields) = missing {
        return Outcome::Missing(fields);
    }
    if unlisted {
        return Outcome::Unlisted;
    }
    if let Some(types) = wrong {
        return Outcome::Wrong(types);
    }
    Outcome::NoInfo
}

/// The field closest to `name`, when it is close enough to be a typo.
fn nearest<'f>(name: &str, fields: &[&'f str]) -> Option<&'f str> {
    let limit = (name.chars().count() / 3).max(1);
    fields
        .iter()
        .map(|field| {
            let distance = if field.eq_ignore_ascii_case(name) {
                0
            } else {
                edit_distance(name, field)
            };
            (distance, *field)
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, field)| field)
}

/// The field `name` is most likely a misspelling of: one edit away, or equal but for case.
fn misspelt<'f>(name: &str, fields: impl Iterator<Item = &'f String>) -> Option<&'f str> {
    fields
        .map(String::as_str)
        .find(|field| field.eq_ignore_ascii_case(name) || edit_distance(name, field) == 1)
}

/// Levenshtein distance in characters; names longer than a field name could be are not compared.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(256).collect();
    let b: Vec<char> = b.chars().take(256).collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests;
