//! Method schemas as trees a person can read: each field with its type, whether it is required,
//! its allowed values and its limits.
//!
//! Connectors describe their inputs and outputs with generated JSON Schemas (schemars, draft
//! 2020-12): `$ref`s into `$defs`, `anyOf` with `null` for optional values, `oneOf` of `const`s for
//! enums. Those are exact but hard to read in a terminal, so this module folds them into the few
//! things a workflow author needs to know. It only reads schemas; it never validates data.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// How deep a tree is expanded: schemas of real APIs nest a handful of levels; anything deeper is
/// almost certainly a recursive definition that the cycle check did not catch by name.
const MAX_DEPTH: usize = 12;

/// Widest name column; longer (deeply nested) names push their own line's type right instead of
/// every line's.
const MAX_NAME_WIDTH: usize = 34;

/// One value a schema describes, simplified for reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The type as a person says it: `string`, `array of object`, `string or integer`, `any`.
    pub type_name: String,
    /// Whether `null` is allowed (an `anyOf`/`oneOf` with `null`, or `type: [T, "null"]`).
    pub nullable: bool,
    /// Allowed values, limits, formats and defaults, each already worded.
    pub notes: Vec<String>,
    /// The schema's description, on one line.
    pub description: Option<String>,
    /// What is inside the value.
    pub children: Children,
}

/// What is inside a value: an object's fields, the alternatives of a union, or nothing to show.
#[derive(Debug, Clone, PartialEq)]
pub enum Children {
    /// A scalar, or a container whose contents are not described.
    None,
    /// The fields of an object (for an array, of each element).
    Fields(Vec<Field>),
    /// The alternatives of an `anyOf`/`oneOf` that are not just `null` or constants.
    Variants(Vec<Node>),
    /// A definition that contains itself; it is shown once, higher up the tree.
    Recursive(String),
}

/// A named field of an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The property name.
    pub name: String,
    /// Listed in the object's `required`.
    pub required: bool,
    /// The field's value.
    pub node: Node,
}

impl Field {
    /// Whether a value must be given (or is always present, in an output): required and not
    /// nullable. A nullable field reads as optional: `null` and absent mean the same to the
    /// connectors, and telling them apart would only confuse the listing.
    pub fn must_be_given(&self) -> bool {
        self.required && !self.node.nullable
    }
}

/// Whose schema is rendered, which decides how "required" is worded: an input field must be
/// given, an output field is always there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// What the caller writes (a step's `input`).
    Input,
    /// What the method returns or streams.
    Output,
}

impl Role {
    fn presence(self, given: bool) -> &'static str {
        match (self, given) {
            (Role::Input, true) => "required",
            (Role::Input, false) => "optional",
            (Role::Output, true) => "always present",
            (Role::Output, false) => "may be absent",
        }
    }
}

/// The tree of a whole schema (a method's input, output or record).
pub fn tree(schema: &Value) -> Node {
    Builder { root: schema }.node(schema, &mut Vec::new())
}

/// The top-level fields of an object schema, for one-line summaries.
pub fn top_fields(schema: &Value) -> Vec<Field> {
    match tree(schema).children {
        Children::Fields(fields) => fields,
        _ => Vec::new(),
    }
}

/// The tree as indented text, every line starting with `indent`. An object's fields are listed
/// directly; any other value is one line, `value`.
pub fn render(schema: &Value, indent: &str, role: Role) -> String {
    let root = tree(schema);
    let mut rows = Vec::new();
    match &root.children {
        Children::Fields(fields) if !fields.is_empty() => field_rows(fields, 0, &mut rows),
        _ if root.type_name == "object" => {
            return format!("{indent}(no fields)\n");
        }
        _ => {
            rows.push(Row {
                depth: 0,
                name: "value".to_owned(),
                required: None,
                node: &root,
            });
            child_rows(&root, 1, &mut rows);
        }
    }
    let width = rows
        .iter()
        .map(|row| row.depth * 2 + row.name.chars().count())
        .filter(|&w| w <= MAX_NAME_WIDTH)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for row in rows {
        let name = format!("{}{}", "  ".repeat(row.depth), row.name);
        let _ = writeln!(out, "{indent}{name:width$}  {}", row.summary(role));
        if let Some(description) = &row.node.description {
            let _ = writeln!(out, "{indent}{:width$}    {description}", "");
        }
    }
    out
}

/// One line of the rendered tree.
struct Row<'a> {
    depth: usize,
    name: String,
    /// `None` for lines that are not object fields (the whole value, a union's alternative).
    required: Option<bool>,
    node: &'a Node,
}

impl Row<'_> {
    /// `string, required, one of: "a", "b"`.
    fn summary(&self, role: Role) -> String {
        let mut parts = vec![self.node.type_name.clone()];
        match self.required {
            Some(given) => parts.push(role.presence(given).to_owned()),
            None if self.node.nullable => parts.push("may be null".to_owned()),
            None => {}
        }
        parts.extend(self.node.notes.iter().cloned());
        if let Children::Recursive(name) = &self.node.children {
            parts.push(format!("(a {name}, as above)"));
        }
        parts.join(", ")
    }
}

fn field_rows<'a>(fields: &'a [Field], depth: usize, rows: &mut Vec<Row<'a>>) {
    for field in fields {
        rows.push(Row {
            depth,
            name: field.name.clone(),
            required: Some(field.must_be_given()),
            node: &field.node,
        });
        child_rows(&field.node, depth + 1, rows);
    }
}

fn child_rows<'a>(node: &'a Node, depth: usize, rows: &mut Vec<Row<'a>>) {
    match &node.children {
        Children::Fields(fields) => field_rows(fields, depth, rows),
        Children::Variants(variants) => {
            for (i, variant) in variants.iter().enumerate() {
                rows.push(Row {
                    depth,
                    name: format!("(option {})", i + 1),
                    required: None,
                    node: variant,
                });
                child_rows(variant, depth + 1, rows);
            }
        }
        Children::None | Children::Recursive(_) => {}
    }
}

/// Builds [`Node`]s, resolving `$ref`s against the root schema.
struct Builder<'a> {
    root: &'a Value,
}

/// A schema with its `$ref`s and `allOf`s folded in, and the definitions that took.
struct Resolved {
    keywords: Map<String, Value>,
    refs: Vec<String>,
}

impl Builder<'_> {
    /// `expanding`: the definitions being expanded on the way down to this schema, so a
    /// definition that contains itself is shown once instead of forever.
    fn node(&self, schema: &Value, expanding: &mut Vec<String>) -> Node {
        let resolved = self.resolve(schema, 0);
        if let Some(again) = resolved.refs.iter().find(|r| expanding.contains(r)) {
            // Only this level's own keywords: building more would expand the definition again.
            let keywords = &resolved.keywords;
            let mut types = declared_types(keywords);
            let nullable = types.iter().any(|t| t == "null");
            types.retain(|t| t != "null");
            let type_name = if types.is_empty() {
                "object".to_owned()
            } else {
                types.join(" or ")
            };
            return Node {
                notes: self.notes(keywords, &type_name, &[]),
                type_name,
                nullable,
                description: keywords
                    .get("description")
                    .and_then(Value::as_str)
                    .map(one_line),
                children: Children::Recursive(def_name(again).to_owned()),
            };
        }
        let pushed = resolved.refs.len();
        expanding.extend(resolved.refs.iter().cloned());
        let deep_enough = expanding.len() >= MAX_DEPTH;
        let node = self.shape(&resolved.keywords, expanding, !deep_enough);
        expanding.truncate(expanding.len() - pushed);
        node
    }

    /// Follows `$ref` (sibling keywords win, as in draft 2020-12) and merges `allOf` parts.
    fn resolve(&self, schema: &Value, hops: usize) -> Resolved {
        let Some(map) = schema.as_object() else {
            // `true` (anything) and `false` (nothing) carry no keywords.
            return Resolved {
                keywords: Map::new(),
                refs: Vec::new(),
            };
        };
        let mut keywords = Map::new();
        let mut refs = Vec::new();
        if let Some(reference) = map.get("$ref").and_then(Value::as_str)
            && hops < MAX_DEPTH
            && let Some(target) = self.lookup(reference)
        {
            let inner = self.resolve(target, hops + 1);
            keywords = inner.keywords;
            refs.push(reference.to_owned());
            refs.extend(inner.refs);
        }
        for (key, value) in map {
            if key != "$ref" && key != "allOf" {
                keywords.insert(key.clone(), value.clone());
            }
        }
        for part in map
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let inner = self.resolve(part, hops + 1);
            merge_all_of(&mut keywords, inner.keywords);
            refs.extend(inner.refs);
        }
        Resolved { keywords, refs }
    }

    /// The schema a local reference (`#/$defs/Name`, any `#/...` pointer) points at.
    fn lookup(&self, reference: &str) -> Option<&Value> {
        let pointer = reference.strip_prefix('#')?;
        if pointer.is_empty() {
            Some(self.root)
        } else {
            self.root.pointer(pointer)
        }
    }

    /// The node of resolved keywords; `descend`: whether to build the children too.
    fn shape(
        &self,
        keywords: &Map<String, Value>,
        expanding: &mut Vec<String>,
        descend: bool,
    ) -> Node {
        let description = keywords
            .get("description")
            .and_then(Value::as_str)
            .map(one_line);
        let mut types = declared_types(keywords);
        let mut nullable = types.iter().any(|t| t == "null");
        types.retain(|t| t != "null");
        let mut enum_values: Vec<Value> = keywords
            .get("enum")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        nullable |= enum_values.iter().any(Value::is_null);
        enum_values.retain(|v| !v.is_null());

        // `anyOf`/`oneOf`: `null` makes the value optional, constants make an enum, and a single
        // remaining alternative is the value itself.
        let mut alternatives = Vec::new();
        for key in ["anyOf", "oneOf"] {
            for alternative in keywords
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let resolved = self.resolve(alternative, 0);
                if is_null_schema(&resolved.keywords) {
                    nullable = true;
                } else if let Some(value) = resolved.keywords.get("const") {
                    if !types.iter().any(|t| t == &json_type(value)) && !value.is_null() {
                        types.push(json_type(value));
                    }
                    enum_values.push(value.clone());
                } else {
                    alternatives.push(alternative);
                }
            }
        }
        if let [only] = alternatives.as_slice() {
            let mut inner = self.node(only, expanding);
            inner.nullable |= nullable;
            inner.description = description.or(inner.description);
            inner
                .notes
                .extend(self.notes(keywords, &inner.type_name, &enum_values));
            return inner;
        }
        if !alternatives.is_empty() {
            let variants: Vec<Node> = alternatives
                .iter()
                .map(|alternative| self.node(alternative, expanding))
                .collect();
            let mut names: Vec<String> = Vec::new();
            for name in types
                .iter()
                .cloned()
                .chain(variants.iter().map(|v| v.type_name.clone()))
            {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            let show_variants = descend
                && variants
                    .iter()
                    .any(|v| !matches!(v.children, Children::None) || !v.notes.is_empty());
            let type_name = names.join(" or ");
            return Node {
                notes: self.notes(keywords, &type_name, &enum_values),
                type_name,
                nullable,
                description,
                children: if show_variants {
                    Children::Variants(variants)
                } else {
                    Children::None
                },
            };
        }

        if types.is_empty() {
            if let Some(value) = keywords.get("const") {
                types.push(json_type(value));
            } else if keywords.contains_key("properties")
                || keywords.contains_key("additionalProperties")
            {
                types.push("object".to_owned());
            } else if keywords.contains_key("items") {
                types.push("array".to_owned());
            } else {
                for value in &enum_values {
                    if !types.contains(&json_type(value)) {
                        types.push(json_type(value));
                    }
                }
            }
        }

        let mut children = Children::None;
        let mut names = Vec::new();
        let mut each = Vec::new();
        for ty in &types {
            match ty.as_str() {
                "array" => {
                    let items = keywords.get("items").unwrap_or(&Value::Bool(true));
                    let element = self.node(items, expanding);
                    if descend {
                        children = element.children.clone();
                    }
                    // The element's own limits belong on the array's line ("each at most 50
                    // characters"): its fields, if any, are listed under the array's name.
                    if element.nullable {
                        each.push("each may be null".to_owned());
                    }
                    each.extend(element.notes.iter().map(|note| format!("each {note}")));
                    names.push(format!("array of {}", parenthesized(&element.type_name)));
                }
                "object" => {
                    if let Some(properties) = keywords.get("properties").and_then(Value::as_object)
                        && !properties.is_empty()
                    {
                        names.push("object".to_owned());
                        if descend {
                            children =
                                Children::Fields(self.fields(properties, keywords, expanding));
                        }
                    } else if let Some(values @ Value::Object(_)) =
                        keywords.get("additionalProperties")
                    {
                        let value = self.node(values, expanding);
                        names.push(format!("map of {}", parenthesized(&value.type_name)));
                        if value.nullable {
                            each.push("each value may be null".to_owned());
                        }
                        each.extend(value.notes.iter().map(|note| format!("each value {note}")));
                        if descend {
                            children = value.children.clone();
                        }
                    } else {
                        names.push("object".to_owned());
                    }
                }
                other => names.push(other.to_owned()),
            }
        }
        let type_name = if names.is_empty() {
            "any".to_owned()
        } else {
            names.join(" or ")
        };
        let mut notes = self.notes(keywords, &type_name, &enum_values);
        notes.extend(each);
        Node {
            notes,
            type_name,
            nullable,
            description,
            children,
        }
    }

    fn fields(
        &self,
        properties: &Map<String, Value>,
        keywords: &Map<String, Value>,
        expanding: &mut Vec<String>,
    ) -> Vec<Field> {
        let required: Vec<&str> = keywords
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        properties
            .iter()
            .map(|(name, schema)| Field {
                name: name.clone(),
                required: required.contains(&name.as_str()),
                node: self.node(schema, expanding),
            })
            .collect()
    }

    /// Allowed values, limits, format and default, worded for the listing.
    fn notes(
        &self,
        keywords: &Map<String, Value>,
        type_name: &str,
        enum_values: &[Value],
    ) -> Vec<String> {
        let mut notes = Vec::new();
        if !enum_values.is_empty() {
            let values: Vec<String> = enum_values.iter().map(Value::to_string).collect();
            notes.push(format!("one of: {}", values.join(", ")));
        } else if let Some(value) = keywords.get("const") {
            notes.push(format!("always {value}"));
        }
        let number = |key: &str| {
            keywords
                .get(key)
                .filter(|v| v.is_number())
                .map(Value::to_string)
        };
        // The bounds of the Rust type behind an integer format (0 to 255 for `uint8`) are not
        // the API's limits; only a narrower range, or "at least 0", tells the reader something.
        let format = keywords.get("format").and_then(Value::as_str).unwrap_or("");
        let (type_min, type_max) = integer_bounds(format);
        let minimum = number("minimum").filter(|min| Some(min.as_str()) != type_min);
        let maximum = number("maximum").filter(|max| Some(max.as_str()) != type_max);
        if let Some(range) = range(minimum, maximum, "") {
            notes.push(range);
        }
        if let Some(min) = number("exclusiveMinimum") {
            notes.push(format!("more than {min}"));
        }
        if let Some(max) = number("exclusiveMaximum") {
            notes.push(format!("less than {max}"));
        }
        if let Some(step) = number("multipleOf") {
            notes.push(format!("a multiple of {step}"));
        }
        if let Some(length) = range(number("minLength"), number("maxLength"), " characters") {
            notes.push(length);
        }
        if let Some(count) = range(number("minItems"), number("maxItems"), " items") {
            notes.push(count);
        }
        if keywords.get("uniqueItems") == Some(&Value::Bool(true)) {
            notes.push("no duplicates".to_owned());
        }
        if let Some(count) = range(number("minProperties"), number("maxProperties"), " entries") {
            notes.push(count);
        }
        if let Some(pattern) = keywords.get("pattern").and_then(Value::as_str) {
            notes.push(format!("pattern {pattern}"));
        }
        if let Some(format) = keywords.get("format").and_then(Value::as_str)
            && !is_numeric_format(format, type_name)
        {
            notes.push(format!("format {format}"));
        }
        if let Some(default) = keywords.get("default").filter(|v| !v.is_null()) {
            notes.push(format!("default {default}"));
        }
        if keywords.get("deprecated") == Some(&Value::Bool(true)) {
            notes.push("deprecated".to_owned());
        }
        notes
    }
}

/// `1 to 12`, `at least 1`, `at most 25 items`.
fn range(min: Option<String>, max: Option<String>, unit: &str) -> Option<String> {
    match (min, max) {
        (Some(min), Some(max)) if min == max => Some(format!("exactly {min}{unit}")),
        (Some(min), Some(max)) => Some(format!("{min} to {max}{unit}")),
        (Some(min), None) => Some(format!("at least {min}{unit}")),
        (None, Some(max)) => Some(format!("at most {max}{unit}")),
        (None, None) => None,
    }
}

/// The smallest (when below zero) and largest values of the integer type a format names.
fn integer_bounds(format: &str) -> (Option<&'static str>, Option<&'static str>) {
    match format {
        "uint8" => (None, Some("255")),
        "uint16" => (None, Some("65535")),
        "uint32" => (None, Some("4294967295")),
        "uint64" | "uint" => (None, Some("18446744073709551615")),
        "int8" => (Some("-128"), Some("127")),
        "int16" => (Some("-32768"), Some("32767")),
        "int32" => (Some("-2147483648"), Some("2147483647")),
        "int64" | "int" => (Some("-9223372036854775808"), Some("9223372036854775807")),
        _ => (None, None),
    }
}

/// `(string or number)` inside `array of ...`, so the `or` cannot be read as the array's.
fn parenthesized(type_name: &str) -> String {
    if type_name.contains(" or ") {
        format!("({type_name})")
    } else {
        type_name.to_owned()
    }
}

/// schemars names the Rust integer and float types (`uint8`, `int64`, `double`) as formats; they
/// say nothing a reader needs beyond the minimum and maximum already shown, so they are left out.
/// String formats (`date-time`, `email`, `uri`) are kept.
fn is_numeric_format(format: &str, type_name: &str) -> bool {
    let numeric = type_name.starts_with("integer") || type_name.starts_with("number");
    numeric
        && matches!(
            format,
            "int"
                | "int8"
                | "int16"
                | "int32"
                | "int64"
                | "int128"
                | "uint"
                | "uint8"
                | "uint16"
                | "uint32"
                | "uint64"
                | "uint128"
                | "float"
                | "double"
        )
}

/// `allOf` parts add to each other: their properties and required lists are combined, other
/// keywords of the first part that has them win.
fn merge_all_of(into: &mut Map<String, Value>, part: Map<String, Value>) {
    for (key, value) in part {
        match (key.as_str(), into.get_mut(&key), value) {
            ("properties", Some(Value::Object(existing)), Value::Object(more)) => {
                for (name, schema) in more {
                    existing.entry(name).or_insert(schema);
                }
            }
            ("required", Some(Value::Array(existing)), Value::Array(more)) => {
                for name in more {
                    if !existing.contains(&name) {
                        existing.push(name);
                    }
                }
            }
            (_, Some(_), _) => {}
            (_, None, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// The `type` keyword as a list (it may be one name or several).
fn declared_types(keywords: &Map<String, Value>) -> Vec<String> {
    match keywords.get("type") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(several)) => several
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn is_null_schema(keywords: &Map<String, Value>) -> bool {
    keywords.get("type").and_then(Value::as_str) == Some("null")
        || keywords.get("const") == Some(&Value::Null)
}

/// The JSON Schema type name of a value.
fn json_type(value: &Value) -> String {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
    .to_owned()
}

/// `Contact` for `#/$defs/Contact`.
fn def_name(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

/// Descriptions come from doc comments, wrapped at the source's width.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "source": { "description": "Who.", "$ref": "#/$defs/Source" },
                "email": { "$ref": "#/$defs/Email" },
                "month": { "type": ["integer", "null"], "format": "uint8", "minimum": 1, "maximum": 12 },
                "lists": { "type": "array", "items": { "type": "string", "maxLength": 50 }, "maxItems": 50 },
                "kind": { "anyOf": [{ "$ref": "#/$defs/Source" }, { "type": "null" }] },
                "tree": { "$ref": "#/$defs/Tree" }
            },
            "required": ["source", "email", "month"],
            "$defs": {
                "Source": { "oneOf": [
                    { "type": "string", "const": "Contact" },
                    { "type": "string", "const": "Account" }
                ] },
                "Email": {
                    "type": "object",
                    "properties": { "address": { "type": "string", "format": "email" } },
                    "required": ["address"]
                },
                "Tree": {
                    "type": "object",
                    "properties": { "children": { "type": "array", "items": { "$ref": "#/$defs/Tree" } } }
                }
            }
        })
    }

    #[test]
    fn fields_have_types_requirement_enums_and_limits() {
        let fields = top_fields(&schema());
        let by_name = |name: &str| {
            fields
                .iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("no field {name}"))
        };
        let source = by_name("source");
        assert_eq!(source.node.type_name, "string");
        assert!(source.must_be_given());
        assert_eq!(source.node.notes, ["one of: \"Contact\", \"Account\""]);
        assert_eq!(source.node.description.as_deref(), Some("Who."));

        let month = by_name("month");
        assert!(!month.must_be_given(), "nullable reads as optional");
        assert_eq!(month.node.notes, ["1 to 12"]);

        let lists = by_name("lists");
        assert_eq!(lists.node.type_name, "array of string");
        assert_eq!(
            lists.node.notes,
            ["at most 50 items", "each at most 50 characters"]
        );

        let kind = by_name("kind");
        assert!(kind.node.nullable);
        assert_eq!(kind.node.type_name, "string");

        let Children::Fields(email) = &by_name("email").node.children else {
            panic!("email has fields");
        };
        assert_eq!(email[0].name, "address");
        assert_eq!(email[0].node.notes, ["format email"]);
    }

    #[test]
    fn a_recursive_definition_is_shown_once() {
        let text = render(&schema(), "  ", Role::Input);
        assert!(text.contains("(a Tree, as above)"), "{text}");
        assert!(text.lines().count() < 20, "{text}");

        // A definition that is directly an array of itself ends too.
        let nested = json!({
            "$ref": "#/$defs/Nested",
            "$defs": { "Nested": { "type": "array", "items": { "$ref": "#/$defs/Nested" } } }
        });
        let text = render(&nested, "", Role::Output);
        assert_eq!(text, "value  array of array, (a Nested, as above)\n");
    }

    #[test]
    fn non_object_values_are_one_line() {
        let text = render(
            &json!({ "type": "array", "items": { "type": "string" } }),
            "",
            Role::Output,
        );
        assert_eq!(text, "value  array of string\n");
        assert_eq!(
            render(&json!({ "type": "object" }), "  ", Role::Input),
            "  (no fields)\n"
        );
        assert_eq!(render(&json!(true), "", Role::Output), "value  any\n");
    }
}
