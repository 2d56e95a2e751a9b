//! The limits audit's inputs: where a constraint's field sits in a method's input, and inputs
//! made to break it (or keep to it, to prove the field reaches the request).

use serde_json::{Value, json};

use crate::spec_limits::{Constraint, Place};

/// The input pointer that mirrors the constraint's place: body fields at the same pointer,
/// parameters under their own name; array items are tried at index 0.
pub fn mirrored_pointer(constraint: &Constraint) -> String {
    let pointer = match constraint.place {
        Place::Body => constraint.field.clone(),
        Place::Path | Place::Query | Place::Form => format!("/{}", constraint.field),
    };
    pointer.replace("/*", "/0")
}

/// A pointer's segments (`/a/0/b` → `a`, `0`, `b`).
pub fn segments(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// The last named segment of a pointer: what an error must name.
pub fn field_name(pointer: &str) -> String {
    segments(pointer)
        .into_iter()
        .rev()
        .find(|s| s.parse::<usize>().is_err())
        .unwrap_or_default()
}

/// Follows `$ref` (`#/$defs/…`) within the input schema.
pub fn resolve<'s>(root: &'s Value, mut schema: &'s Value) -> &'s Value {
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
pub fn declares(root: &Value, schema: &Value, path: &[String]) -> bool {
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

/// The input with the field at `pointer` made to break `constraint`, building missing objects
/// and arrays on the way. `None` when no violating value can be built.
pub fn violate(input: &Value, pointer: &str, constraint: &Constraint) -> Option<Value> {
    if constraint.keyword == "required" {
        return with_field(input, pointer, |_| Some(None));
    }
    with_field(input, pointer, |current| {
        violating_value(constraint, current).map(Some)
    })
}

/// The input with the field at `pointer` given a value that keeps to `constraint` (to prove
/// that the field reaches the request). `None` when no such value can be built.
pub fn keep(input: &Value, pointer: &str, constraint: &Constraint) -> Option<Value> {
    with_field(input, pointer, |current| {
        keeping_value(constraint, current).map(Some)
    })
}

/// `input` with the field at `pointer` replaced by what `change` makes of its current value
/// (`Some(None)` removes it), building missing objects and arrays on the way.
fn with_field(
    input: &Value,
    pointer: &str,
    change: impl FnOnce(Option<Value>) -> Option<Option<Value>>,
) -> Option<Value> {
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
    match last.parse::<usize>() {
        Ok(index) => {
            let current = parent.as_array().and_then(|a| a.get(index)).cloned();
            let value = change(current)??;
            let items = parent.as_array_mut()?;
            while items.len() <= index {
                items.push(Value::Null);
            }
            items[index] = value;
        }
        Err(_) => {
            let current = parent.get(last.as_str()).cloned();
            let object = parent.as_object_mut()?;
            match change(current)? {
                Some(value) => {
                    object.insert(last.clone(), value);
                }
                None => {
                    object.remove(last);
                }
            }
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

/// A value that keeps to `constraint`, as small as it allows; `current` is the value there, if
/// any.
fn keeping_value(constraint: &Constraint, current: Option<Value>) -> Option<Value> {
    let bound = &constraint.bound;
    let count = || bound.as_u64().map(|n| n as usize);
    let item = || {
        current
            .as_ref()
            .and_then(|c| c.as_array())
            .and_then(|items| items.first().cloned())
            .unwrap_or_else(|| sample(&constraint.schema["items"]))
    };
    Some(match constraint.keyword {
        "maxLength" => Value::String("k".repeat(count()?.min(3))),
        "minLength" => Value::String("k".repeat(count()?.max(1))),
        "maxItems" => Value::Array(vec![item(); count()?.min(1)]),
        "minItems" => Value::Array(vec![item(); count()?]),
        "maximum" | "minimum" => bound.clone(),
        "enum" => bound.as_array()?.first()?.clone(),
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
