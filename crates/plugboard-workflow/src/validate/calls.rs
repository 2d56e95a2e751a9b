//! Resolving a step's call: its connection and method, literal inputs against the method's
//! schema, and where its items come from (a list or another step's record stream).

use std::sync::Arc;

use plugboard_core::OutputShape;
use serde_json::Value;

use crate::engine::Effects;
use crate::excerpt::excerpt;
use crate::expr::Mapping;
use crate::input_check::{InputSchema, most_specific};
use crate::locate::escape_token;

use super::{Action, CallCost, Checker, Source, describe_schema_error, masked};

impl<'w, 'p, 'l> Checker<'w, 'p, 'l> {
    pub(super) fn resolve_call(
        &mut self,
        i: usize,
        call: &str,
        input: Mapping,
        input_value: &Value,
    ) -> Action {
        let at = format!("/steps/{i}/call");
        let unresolved = |input| Action::Call {
            connection: String::new(),
            connector: String::new(),
            method: String::new(),
            streams: false,
            cost: Box::default(),
            effects: Effects::Repeatable,
            input,
            input_schema: None,
        };
        let Some((local, method_id)) = call
            .split_once('.')
            .filter(|(c, m)| !c.is_empty() && !m.is_empty())
        else {
            self.problems.add(
                at,
                format!(
                    "`call` must be `<connection>.<method>`, e.g. `cc.contacts.create`; got `{}`",
                    excerpt(call)
                ),
            );
            return unresolved(input);
        };
        let Some(connection) = self.workflow.connections.get(local) else {
            let declared: Vec<&str> = self
                .workflow
                .connections
                .keys()
                .map(String::as_str)
                .collect();
            self.problems.add(
                at,
                format!(
                    "unknown connection `{}` (declared in `connections`: {})",
                    excerpt(local),
                    if declared.is_empty() {
                        "none".to_owned()
                    } else {
                        excerpt(&declared.join(", ")).into_owned()
                    }
                ),
            );
            return unresolved(input);
        };
        let Some(manifest) = self.catalog.manifest(&connection.connector) else {
            // Reported once, at the connection.
            return unresolved(input);
        };
        let Some(method) = manifest.method(method_id) else {
            self.problems.add(
                at,
                format!(
                    "connector `{}` has no method `{}`",
                    manifest.id,
                    excerpt(method_id)
                ),
            );
            return unresolved(input);
        };
        let input_schema =
            self.input_schema(&manifest.id, method_id, method.input_schema.as_value(), &at);
        if let Some(compiled) = &input_schema {
            self.check_literal_input(
                i,
                &input,
                input_value,
                method.input_schema.as_value(),
                compiled,
            );
        }
        Action::Call {
            connection: connection.connection.clone(),
            connector: manifest.id.clone(),
            method: method.id.clone(),
            streams: method.output == OutputShape::Records,
            cost: Box::new(CallCost {
                own: method.cost.clone(),
                instead: (method.cost.instead.iter())
                    .filter_map(|id| manifest.method(id))
                    .map(|m| {
                        let streams = m.output == OutputShape::Records;
                        (m.id.clone(), m.cost.clone(), streams)
                    })
                    .collect(),
            }),
            effects: if method.idempotent {
                Effects::Repeatable
            } else {
                Effects::Once {
                    finds_effect: method.finds_effect,
                }
            },
            input,
            input_schema,
        }
    }

    /// The compiled input schema of `connector`'s `method`, compiled on first use: a workflow
    /// calling one method from ten steps compiles its schema once.
    fn input_schema(
        &mut self,
        connector: &str,
        method: &str,
        schema: &Value,
        at: &str,
    ) -> Option<Arc<InputSchema>> {
        let key = (connector.to_owned(), method.to_owned());
        if let Some(compiled) = self.input_schemas.get(&key) {
            return compiled.clone();
        }
        let compiled = match InputSchema::compile(method, schema) {
            Ok(compiled) => Some(Arc::new(compiled)),
            Err(error) => {
                self.problems.add(
                    at,
                    format!("the input schema of method `{method}` is invalid: {error}"),
                );
                None
            }
        };
        self.input_schemas.insert(key, compiled.clone());
        compiled
    }

    /// Checks what can be known of an input before the run against the method's input schema.
    pub(super) fn check_literal_input(
        &mut self,
        i: usize,
        input: &Mapping,
        value: &Value,
        schema: &Value,
        compiled: &InputSchema,
    ) {
        let method = compiled.method();
        // A step without `input` is reported at the step, so the pointer exists in the file.
        let at = if self.workflow.steps[i].input.is_some() {
            format!("/steps/{i}/input")
        } else {
            format!("/steps/{i}")
        };
        if input.is_literal() {
            let errors: Vec<_> = compiled.validator().iter_errors(value).collect();
            for error in errors.iter().flat_map(most_specific) {
                for (pointer, message) in describe_schema_error(error, "input") {
                    self.problems.add(
                        format!("{at}{pointer}"),
                        format!("input of `{method}`: {message}"),
                    );
                }
            }
            return;
        }
        let Mapping::Object(entries) = input else {
            return;
        };
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !entries.iter().any(|(k, _)| k == name) {
                    self.problems.add(
                        at.clone(),
                        format!("method `{method}` requires input `{name}`"),
                    );
                }
            }
        }
        let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
        for (key, mapping) in entries {
            let key_at = format!("{at}/{}", escape_token(key));
            let property = properties.and_then(|p| p.get(key));
            match property {
                None if closed => {
                    let known: Vec<&str> = properties
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    self.problems.add(
                        key_at,
                        format!(
                            "method `{method}` has no input `{}` (its inputs: {})",
                            excerpt(key),
                            known.join(", ")
                        ),
                    );
                }
                Some(property) if mapping.is_literal() => {
                    let mut sub = property.clone();
                    if let (Some(obj), Some(defs)) = (sub.as_object_mut(), schema.get("$defs")) {
                        obj.insert("$defs".to_owned(), defs.clone());
                    }
                    if let (Some(literal), Some(item)) = (value.get(key), Some(&sub)) {
                        self.validate_against(item, literal, &key_at, method);
                    }
                }
                _ => {}
            }
        }
    }

    pub(super) fn validate_against(
        &mut self,
        schema: &Value,
        value: &Value,
        at: &str,
        method: &str,
    ) {
        match jsonschema::validator_for(schema) {
            Ok(validator) => {
                for error in validator.iter_errors(value) {
                    for (pointer, message) in describe_schema_error(&error, "input") {
                        self.problems.add(
                            format!("{at}{pointer}"),
                            format!("input of `{method}`: {message}"),
                        );
                    }
                }
            }
            Err(error) => self.problems.add(
                at,
                format!(
                    "the input schema of method `{method}` is invalid: {}",
                    masked(&error)
                ),
            ),
        }
    }

    pub(super) fn compile_source(&mut self, i: usize, value: &Value) -> Option<Source> {
        let at = format!("/steps/{i}/for_each");
        if let Value::String(text) = value {
            let expr = self.compile_single(text, &at, "for_each")?;
            let parts: Vec<&str> = expr.source.split('.').map(str::trim).collect();
            if let ["steps", producer, "records"] = parts.as_slice() {
                return self.stream_source(i, producer, &at);
            }
            return Some(Source::Values(Mapping::Expr(expr)));
        }
        Some(Source::Values(self.compile_mapping(value, &at)))
    }

    pub(super) fn stream_source(&mut self, i: usize, producer: &str, at: &str) -> Option<Source> {
        let Some(&j) = self.ids.get(producer) else {
            self.problems
                .add(at, format!("unknown step `{}`", excerpt(producer)));
            return None;
        };
        if j >= i {
            self.problems.add(
                at,
                format!("`for_each` can only read the records of an earlier step; `{producer}` is not earlier"),
            );
            return None;
        }
        let producer_step = &self.workflow.steps[j];
        let streams = if producer_step.read.is_some() {
            true
        } else if let Some((local, method)) = producer_step
            .call
            .as_deref()
            .and_then(|c| c.split_once('.'))
        {
            match self
                .workflow
                .connections
                .get(local)
                .and_then(|c| self.catalog.manifest(&c.connector))
                .and_then(|m| m.method(method))
            {
                Some(m) if m.output == OutputShape::Records => true,
                Some(_) => {
                    self.problems.add(
                        at,
                        format!("method `{method}` of step `{producer}` returns one value, not records; use `{{{{ steps.{producer}.output... }}}}`"),
                    );
                    return None;
                }
                // Unknown method: reported at the producer.
                None => return None,
            }
        } else {
            return None;
        };
        if !streams {
            return None;
        }
        if producer_step.for_each.is_some() {
            self.problems.add(
                at,
                format!("step `{producer}` has a `for_each`; the records of repeated calls cannot be streamed"),
            );
            return None;
        }
        if let Some(k) = self.consumers[j] {
            self.problems.add(
                at,
                format!(
                    "the records of `{producer}` are already consumed by step `{}`; a stream has exactly one consumer",
                    self.workflow.steps[k].id
                ),
            );
            return None;
        }
        if producer_step.records_to.is_some() {
            self.problems.add(
                at,
                format!("the records of `{producer}` already go to its `records_to` file; a stream has exactly one consumer"),
            );
            return None;
        }
        self.consumers[j] = Some(i);
        Some(Source::Stream(j))
    }
}
