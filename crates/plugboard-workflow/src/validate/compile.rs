//! Compiling a workflow's steps: inputs schema, mappings, expressions, one step at a time.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::excerpt::excerpt;
use crate::expr::{CompiledExpr, Mapping, Template, parse_template};
use crate::locate::escape_token;
use crate::model::{RecordFormat, Workflow};

use super::{
    Action, Catalog, Checked, Checker, CompiledStep, ExprContext, Problems, RESERVED_NAMES,
    RecordsTarget, masked, records_pointer,
};

impl<'w, 'p, 'l> Checker<'w, 'p, 'l> {
    pub(super) fn new(
        workflow: &'w Workflow,
        catalog: &'w dyn Catalog,
        problems: &'p mut Problems<'l>,
    ) -> Self {
        Self {
            workflow,
            catalog,
            problems,
            ids: HashMap::new(),
            input_names: None,
            consumers: vec![None; workflow.steps.len()],
            outputs: Vec::new(),
            input_schemas: HashMap::new(),
        }
    }

    pub(super) fn check(mut self) -> Checked {
        let workflow = self.workflow;
        for (name, connection) in &workflow.connections {
            let at = format!("/connections/{}", escape_token(name));
            if name.is_empty() || name.contains('.') {
                self.problems.add(
                    at.clone(),
                    format!(
                        "connection name `{}` must be non-empty and contain no `.`",
                        excerpt(name)
                    ),
                );
            }
            if self.catalog.manifest(&connection.connector).is_none() {
                self.problems.add(
                    format!("{at}/connector"),
                    format!("unknown connector `{}`", excerpt(&connection.connector)),
                );
            } else {
                for problem in self
                    .catalog
                    .connection_problems(&connection.connection, &connection.connector)
                {
                    self.problems.add(format!("{at}/connection"), problem);
                }
            }
        }
        let inputs_validator = self.check_inputs_schema();
        for (i, step) in workflow.steps.iter().enumerate() {
            if let Some(&first) = self.ids.get(step.id.as_str()) {
                self.problems.add(
                    format!("/steps/{i}/id"),
                    format!(
                        "duplicate step id `{}` (also the id of step {first})",
                        excerpt(&step.id)
                    ),
                );
            } else {
                self.ids.insert(&step.id, i);
            }
        }
        // First pass: what each step does and where its elements come from, so the reference
        // checks know which steps stream to which.
        let mut steps = Vec::with_capacity(workflow.steps.len());
        for i in 0..workflow.steps.len() {
            steps.push(self.compile_step(i));
        }
        for (i, step) in steps.iter_mut().enumerate() {
            step.consumer = self.consumers[i];
        }
        self.outputs = steps
            .iter()
            .enumerate()
            .map(|(i, step)| self.step_output(i, step))
            .collect();
        // Second pass: references in every expression.
        for (i, step) in steps.iter().enumerate() {
            self.check_references(i, step);
        }
        let mut outputs = Vec::new();
        for (name, value) in &workflow.outputs {
            let at = format!("/outputs/{}", escape_token(name));
            let mapping = self.compile_mapping(value, &at);
            let ctx = ExprContext {
                step: workflow.steps.len(),
                item: None,
                batch: false,
                in_loop: false,
            };
            self.check_mapping_refs(&mapping, &at, ctx);
            outputs.push((name.clone(), mapping));
        }
        (steps, outputs, inputs_validator)
    }

    pub(super) fn check_inputs_schema(&mut self) -> Option<jsonschema::Validator> {
        let schema = self.workflow.inputs.as_ref()?;
        let validator = match jsonschema::validator_for(schema) {
            Ok(v) => Some(v),
            Err(error) => {
                self.problems.add(
                    "/inputs",
                    format!("`inputs` is not a valid JSON Schema: {}", masked(&error)),
                );
                None
            }
        };
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            let names: BTreeSet<String> = properties.keys().cloned().collect();
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for (i, name) in required.iter().enumerate() {
                    if let Some(name) = name.as_str()
                        && !names.contains(name)
                    {
                        self.problems.add(
                            format!("/inputs/required/{i}"),
                            format!(
                                "required input `{}` is not declared in `inputs.properties`",
                                excerpt(name)
                            ),
                        );
                    }
                }
            }
            if schema.get("additionalProperties") == Some(&Value::Bool(false))
                || schema.get("additionalProperties").is_none()
            {
                self.input_names = Some(names);
            }
        }
        validator
    }

    pub(super) fn compile_mapping(&mut self, value: &Value, at: &str) -> Mapping {
        let mut found = Vec::new();
        let mapping = Mapping::compile(value, &mut found);
        for problem in found {
            self.problems.add(
                format!("{at}{}", problem.pointer),
                format!("expression error: {}", problem.error),
            );
        }
        mapping
    }

    /// Compiles a string that must be exactly one `{{ expression }}`.
    pub(super) fn compile_single(
        &mut self,
        text: &str,
        at: &str,
        what: &str,
    ) -> Option<CompiledExpr> {
        match parse_template(text) {
            Ok(Template::Single(source)) => match CompiledExpr::compile(source) {
                Ok(expr) => Some(expr),
                Err(error) => {
                    self.problems.add(at, format!("expression error: {error}"));
                    None
                }
            },
            Ok(_) => {
                self.problems.add(
                    at,
                    format!("`{what}` must be exactly one `{{{{ expression }}}}`, e.g. \"{{{{ steps.find.output.found }}}}\""),
                );
                None
            }
            Err(error) => {
                self.problems.add(at, format!("expression error: {error}"));
                None
            }
        }
    }

    pub(super) fn compile_step(&mut self, i: usize) -> CompiledStep {
        let step = &self.workflow.steps[i];
        let at = format!("/steps/{i}");
        let condition = step
            .condition
            .as_deref()
            .and_then(|c| self.compile_single(c, &format!("{at}/if"), "if"));
        let input_value = step
            .input
            .clone()
            .unwrap_or_else(|| Value::Object(Map::new()));
        let input = self.compile_mapping(&input_value, &format!("{at}/input"));
        let action = match (&step.call, &step.read) {
            (Some(call), read) => {
                if read.is_some() {
                    self.problems.add(
                        format!("{at}/read"),
                        "a step has either `call` or `read`, not both",
                    );
                }
                self.resolve_call(i, call, input, &input_value)
            }
            (None, Some(read)) => {
                if step.input.is_some() {
                    self.problems.add(
                        format!("{at}/input"),
                        "`input` belongs to `call` steps; `read` takes `path` and `format`",
                    );
                }
                let path = self.compile_mapping(
                    &Value::String(read.path.clone()),
                    &format!("{at}/read/path"),
                );
                Action::Read {
                    path,
                    format: read.format,
                }
            }
            (None, None) => {
                self.problems.add(
                    at.clone(),
                    "a step needs `call` (a connector method) or `read` (a file)",
                );
                Action::Read {
                    path: Mapping::Literal(Value::Null),
                    format: RecordFormat::Jsonl,
                }
            }
        };
        let for_each = step
            .for_each
            .as_ref()
            .and_then(|value| self.compile_source(i, value));
        if step.for_each.is_none() {
            for (present, key) in [
                (step.batch.is_some(), "batch"),
                (step.item_name.is_some(), "as"),
                (step.concurrency.is_some(), "concurrency"),
            ] {
                if present {
                    self.problems.add(
                        format!("{at}/{key}"),
                        format!("`{key}` only applies to a step with `for_each`"),
                    );
                }
            }
        } else if matches!(action, Action::Read { .. }) {
            self.problems.add(
                format!("{at}/for_each"),
                "`for_each` repeats a `call`; a `read` step cannot have one",
            );
        }
        if let Some(name) = &step.item_name
            && (RESERVED_NAMES.contains(&name.as_str())
                || crate::expr::environment()
                    .globals()
                    .any(|(global, _)| global == name.as_str()))
        {
            // The scope would resolve the name to the built-in, never to the element.
            self.problems.add(
                format!("{at}/as"),
                format!(
                    "`as` cannot be `{}`: that name is already taken by the expression language",
                    excerpt(name)
                ),
            );
        }
        let records_to = step.records_to.as_ref().map(|path| {
            let streams = matches!(action, Action::Call { streams: true, .. });
            let unresolved = matches!(&action, Action::Call { method, .. } if method.is_empty());
            if !streams && !unresolved {
                self.problems.add(
                    format!("{at}/records_to"),
                    "`records_to` needs a call of a method that streams records",
                );
            } else if step.for_each.is_some() {
                self.problems.add(
                    format!("{at}/records_to"),
                    "`records_to` cannot be combined with `for_each`",
                );
            }
            RecordsTarget {
                path: self.compile_mapping(
                    &Value::String(path.path().to_owned()),
                    &records_pointer(&at, path),
                ),
                overwrite: path.overwrite(),
            }
        });
        CompiledStep {
            id: step.id.clone(),
            condition,
            action,
            for_each,
            item_name: Arc::from(step.item_name.as_deref().unwrap_or("item")),
            batch: step.batch,
            concurrency: step.concurrency.unwrap_or(1),
            on_error: step.on_error,
            consumer: None,
            records_to,
        }
    }
}
