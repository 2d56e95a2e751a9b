//! Validation: everything that can be checked before the first request, all at once, with locations.
//!
//! A [`ValidWorkflow`] can only be made here, so the engine and the planner never see a workflow
//! with unknown methods, bad references or expressions that do not compile; the expressions are
//! compiled once here and reused for every step and item of every run.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, OnceLock};

use plugboard_core::{Manifest, OutputShape};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::engine::Effects;
use crate::excerpt::{bounded, excerpt, value_excerpt};
use crate::expr::{Access, CompiledExpr, Mapping, Segment, Template, display_path, parse_template};
use crate::locate::{Locator, escape_token};
use crate::model::{OnError, RecordFormat, RecordsTo, Workflow};
use crate::shape::{self, Finding, Shape, StepOutput};

/// Names every expression scope defines (or the engine sets in a loop); a loop variable named
/// after one of them would be shadowed by it.
const RESERVED_NAMES: [&str; 4] = ["inputs", "steps", "batch", "loop"];

/// How many schema violations are reported; a large document of the wrong shape would otherwise
/// give one per element.
const MAX_SCHEMA_PROBLEMS: usize = 100;

/// What validation needs to know about the connectors and connections installed on this machine.
///
/// The runner implements it over its registry and state store; tests use a fake.
pub trait Catalog {
    /// The manifest of a connector, by id.
    fn manifest(&self, connector_id: &str) -> Option<&Manifest>;
    /// Why an installed connection cannot be used with this connector (missing, another connector,
    /// missing or invalid settings); empty when it is ready. Messages must not contain secrets.
    fn connection_problems(&self, connection: &str, connector_id: &str) -> Vec<String>;
}

/// One problem in a workflow file (or in run inputs), with its location.
///
/// The same type carries warnings ([`ValidWorkflow::warnings`]): things validation could not
/// check, which do not stop a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// JSON pointer to the value at fault (`""` for the whole document).
    pub pointer: String,
    /// 1-based line in the workflow file; 0 when the problem is not in the file (run inputs).
    pub line: usize,
    /// 1-based column (in characters); 0 when the problem is not in the file.
    pub column: usize,
    /// What is wrong, in plain words; it quotes the workflow's content only by short excerpts.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: ", self.line, self.column)?;
        }
        // A pointer is made of the document's keys, which can be as long as the document.
        let pointer = if self.pointer.is_empty() {
            "(document)".into()
        } else {
            excerpt(&self.pointer)
        };
        write!(f, "{pointer}: {}", self.message)
    }
}

/// A workflow that passed validation, with its expressions compiled.
pub struct ValidWorkflow {
    pub(crate) workflow: Workflow,
    pub(crate) steps: Vec<CompiledStep>,
    pub(crate) outputs: Vec<(String, Mapping)>,
    pub(crate) inputs_validator: Option<jsonschema::Validator>,
    pub(crate) step_ids: Arc<HashMap<String, usize>>,
    pub(crate) warnings: Vec<Problem>,
}

impl fmt::Debug for ValidWorkflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidWorkflow")
            .field("name", &self.workflow.name)
            .field("steps", &self.steps.len())
            .finish_non_exhaustive()
    }
}

impl ValidWorkflow {
    /// The workflow as written in the file.
    pub fn workflow(&self) -> &Workflow {
        &self.workflow
    }

    /// What validation could not check (e.g. a field of a step's output that the method's schema
    /// leaves open), sorted by position: worth a look, but no reason not to run.
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// The installed connections the workflow uses (state-store names), with their connector ids,
    /// so a runner can open each one before the run.
    pub fn connections(&self) -> Vec<(&str, &str)> {
        self.workflow
            .connections
            .values()
            .map(|c| (c.connection.as_str(), c.connector.as_str()))
            .collect()
    }

    /// Checks run inputs against the workflow's `inputs` schema and fills in the schema's
    /// top-level `default`s; the problems' pointers point into the inputs (line 0).
    pub fn check_inputs(
        &self,
        inputs: &Map<String, Value>,
    ) -> Result<Map<String, Value>, Vec<Problem>> {
        let mut filled = inputs.clone();
        if let Some(properties) = self
            .workflow
            .inputs
            .as_ref()
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
        {
            for (name, schema) in properties {
                if !filled.contains_key(name)
                    && let Some(default) = schema.get("default")
                {
                    filled.insert(name.clone(), default.clone());
                }
            }
        }
        let Some(validator) = &self.inputs_validator else {
            return Ok(filled);
        };
        let instance = Value::Object(filled);
        let problems: Vec<Problem> = validator
            .iter_errors(&instance)
            .map(|error| Problem {
                pointer: error.instance_path().as_str().to_owned(),
                line: 0,
                column: 0,
                message: bounded(format!("run input: {}", masked(&error))),
            })
            .collect();
        if problems.is_empty() {
            match instance {
                Value::Object(map) => Ok(map),
                _ => Ok(Map::new()),
            }
        } else {
            Err(problems)
        }
    }
}

/// A step ready to run.
#[derive(Debug)]
pub(crate) struct CompiledStep {
    pub id: String,
    pub condition: Option<CompiledExpr>,
    pub action: Action,
    pub for_each: Option<Source>,
    pub item_name: Arc<str>,
    pub batch: Option<u64>,
    pub concurrency: u32,
    pub on_error: OnError,
    /// The later step whose `for_each` consumes this step's records.
    pub consumer: Option<usize>,
    pub records_to: Option<RecordsTarget>,
}

/// The file a step's records go to.
#[derive(Debug)]
pub(crate) struct RecordsTarget {
    /// The path mapping.
    pub path: Mapping,
    /// `overwrite` as written: when absent, the engine decides from where the path comes from.
    pub overwrite: Option<bool>,
}

/// The pointer of a `records_to` path mapping: the value itself, or its `path`.
fn records_pointer(step: &str, records_to: &RecordsTo) -> String {
    match records_to {
        RecordsTo::Path(_) => format!("{step}/records_to"),
        RecordsTo::File(_) => format!("{step}/records_to/path"),
    }
}

/// What a step does.
#[derive(Debug)]
pub(crate) enum Action {
    Call {
        /// The installed connection's name in the state store.
        connection: String,
        connector: String,
        method: String,
        streams: bool,
        /// Whether a repeat is harmless, from the method's descriptor.
        effects: Effects,
        input: Mapping,
    },
    Read {
        path: Mapping,
        format: RecordFormat,
    },
}

/// Where a `for_each` takes its elements from.
#[derive(Debug)]
pub(crate) enum Source {
    /// The record stream of an earlier step.
    Stream(usize),
    /// A mapping that renders to an array.
    Values(Mapping),
}

fn workflow_validator() -> Result<&'static jsonschema::Validator, String> {
    static VALIDATOR: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| {
            jsonschema::validator_for(crate::model::schema().as_value()).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

struct Problems<'l> {
    locator: &'l Locator,
    list: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl Problems<'_> {
    fn add(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        let problem = self.located(pointer.into(), message.into());
        self.list.push(problem);
    }

    fn warn(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        let problem = self.located(pointer.into(), message.into());
        if !self.warnings.contains(&problem) {
            self.warnings.push(problem);
        }
    }

    fn located(&self, pointer: String, message: String) -> Problem {
        let position = self.locator.position(&pointer);
        Problem {
            pointer,
            line: position.line,
            column: position.column,
            message: bounded(message),
        }
    }
}

/// A JSON Schema error's message with the value it is about quoted by an excerpt: jsonschema
/// would print the whole value (a whole document, when the document is not an object).
fn masked(error: &jsonschema::ValidationError<'_>) -> String {
    error
        .masked_with(value_excerpt(error.instance()))
        .to_string()
}

/// Validates a workflow file against its schema, the catalog and its own references.
///
/// Returns every problem found, sorted by position, or the workflow ready to plan and run (with
/// its [warnings](ValidWorkflow::warnings)). A leading UTF-8 byte order mark, which some editors
/// write, is skipped; positions are counted after it, as editors show them.
pub fn validate(source: &str, catalog: &dyn Catalog) -> Result<ValidWorkflow, Vec<Problem>> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let document: Value = match serde_json::from_str(source) {
        Ok(value) => value,
        Err(error) => {
            let (line, column) = syntax_error_position(source, error.line(), error.column());
            return Err(vec![Problem {
                pointer: String::new(),
                line,
                column,
                message: bounded(format!(
                    "malformed JSON: {}",
                    strip_position(&error.to_string())
                )),
            }]);
        }
    };
    let locator = Locator::new(source);
    let mut problems = Problems {
        locator: &locator,
        list: Vec::new(),
        warnings: Vec::new(),
    };
    match workflow_validator() {
        Ok(validator) => {
            for (n, error) in validator.iter_errors(&document).enumerate() {
                if n == MAX_SCHEMA_PROBLEMS {
                    // A large document of the wrong shape has a problem per element.
                    problems.add(
                        error.instance_path().as_str(),
                        "and more problems of the same kind; fix the ones before first",
                    );
                    break;
                }
                for (pointer, message) in describe_schema_error(&error, "field") {
                    problems.add(pointer, message);
                }
            }
        }
        Err(error) => problems.add(
            "",
            format!("internal error: the workflow schema is invalid: {error}"),
        ),
    }
    if !problems.list.is_empty() {
        return Err(sorted(problems.list));
    }
    let workflow: Workflow = match serde_json::from_value(document) {
        Ok(w) => w,
        Err(error) => {
            // serde's message quotes the value it refused; `add` bounds it.
            problems.add("", format!("does not match the workflow format: {error}"));
            return Err(problems.list);
        }
    };
    let checked = Checker::new(&workflow, catalog, &mut problems).check();
    if problems.list.is_empty() {
        let (steps, outputs, inputs_validator) = checked;
        let step_ids = Arc::new(
            steps
                .iter()
                .enumerate()
                .map(|(i, s)| (s.id.clone(), i))
                .collect(),
        );
        let warnings = sorted(problems.warnings);
        Ok(ValidWorkflow {
            workflow,
            steps,
            outputs,
            inputs_validator,
            step_ids,
            warnings,
        })
    } else {
        Err(sorted(problems.list))
    }
}

/// Turns a JSON Schema error into located messages: an unexpected property is reported at the
/// property itself, and `on_error`'s alternatives are spelled out.
fn describe_schema_error(
    error: &jsonschema::ValidationError<'_>,
    what: &str,
) -> Vec<(String, String)> {
    let pointer = error.instance_path().as_str();
    match error.kind() {
        jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|name| {
                (
                    format!("{pointer}/{}", escape_token(name)),
                    format!("unknown {what} `{}`", excerpt(name)),
                )
            })
            .collect(),
        jsonschema::error::ValidationErrorKind::AnyOf { .. } if pointer.ends_with("/records_to") => vec![(
            pointer.to_owned(),
            "`records_to` must be a path, or {\"path\": PATH, \"overwrite\": true or false}".to_owned(),
        )],
        jsonschema::error::ValidationErrorKind::OneOfNotValid { .. } if pointer.ends_with("/on_error") => vec![(
            pointer.to_owned(),
            "`on_error` must be \"fail\", \"continue\" or {\"retry\": {\"attempts\": N, \"backoff_ms\": MS}}".to_owned(),
        )],
        _ => vec![(pointer.to_owned(), masked(error))],
    }
}

fn sorted(mut list: Vec<Problem>) -> Vec<Problem> {
    list.sort_by_key(|p| (p.line, p.column));
    list
}

/// The 1-based line and character column of a serde_json syntax error, inside the document.
///
/// serde_json counts columns in bytes and says column 0 when the error comes before the first
/// byte of a line (e.g. the end of an empty document), but a problem's column is in characters
/// and 0 means "not in the file"; so the byte position is clamped to the line, moved back to a
/// character boundary and counted in characters.
fn syntax_error_position(source: &str, line: usize, byte_column: usize) -> (usize, usize) {
    let lines: Vec<&str> = source.split('\n').collect();
    let line = line.clamp(1, lines.len());
    let text = lines[line - 1];
    // serde_json's column counts the offending byte itself: the error is at byte `column - 1`.
    let mut offset = byte_column.saturating_sub(1).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    (line, text[..offset].chars().count() + 1)
}

/// serde_json appends " at line L column C"; the problem carries the position already.
fn strip_position(message: &str) -> &str {
    message
        .rfind(" at line ")
        .map_or(message, |i| &message[..i])
}

/// Where an expression sits, which decides the variables it may read.
#[derive(Clone, Copy)]
struct ExprContext<'s> {
    /// Index of the step the expression belongs to (`steps.len()` for outputs).
    step: usize,
    /// The loop variable, when the expression is evaluated per item without `batch`.
    item: Option<&'s str>,
    /// Whether `batch` is defined.
    batch: bool,
    /// Whether `loop` is defined.
    in_loop: bool,
}

type Checked = (
    Vec<CompiledStep>,
    Vec<(String, Mapping)>,
    Option<jsonschema::Validator>,
);

struct Checker<'w, 'p, 'l> {
    workflow: &'w Workflow,
    catalog: &'w dyn Catalog,
    problems: &'p mut Problems<'l>,
    /// First index of each step id.
    ids: HashMap<&'w str, usize>,
    /// Declared input names, when the inputs schema lists its properties.
    input_names: Option<BTreeSet<String>>,
    /// For each step, the step consuming its records.
    consumers: Vec<Option<usize>>,
    /// For each step, what its output holds, when the manifests say.
    outputs: Vec<Option<StepOutput<'w>>>,
}

impl<'w, 'p, 'l> Checker<'w, 'p, 'l> {
    fn new(
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
        }
    }

    fn check(mut self) -> Checked {
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

    fn check_inputs_schema(&mut self) -> Option<jsonschema::Validator> {
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

    fn compile_mapping(&mut self, value: &Value, at: &str) -> Mapping {
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
    fn compile_single(&mut self, text: &str, at: &str, what: &str) -> Option<CompiledExpr> {
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

    fn compile_step(&mut self, i: usize) -> CompiledStep {
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

    fn resolve_call(
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
            effects: Effects::Repeatable,
            input,
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
        self.check_literal_input(
            i,
            &input,
            input_value,
            method.input_schema.as_value(),
            method_id,
        );
        Action::Call {
            connection: connection.connection.clone(),
            connector: manifest.id.clone(),
            method: method.id.clone(),
            streams: method.output == OutputShape::Records,
            effects: if method.idempotent {
                Effects::Repeatable
            } else {
                Effects::Once {
                    finds_effect: method.finds_effect,
                }
            },
            input,
        }
    }

    /// Checks what can be known of an input before the run against the method's input schema.
    fn check_literal_input(
        &mut self,
        i: usize,
        input: &Mapping,
        value: &Value,
        schema: &Value,
        method: &str,
    ) {
        // A step without `input` is reported at the step, so the pointer exists in the file.
        let at = if self.workflow.steps[i].input.is_some() {
            format!("/steps/{i}/input")
        } else {
            format!("/steps/{i}")
        };
        if input.is_literal() {
            self.validate_against(schema, value, &at, method);
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

    fn validate_against(&mut self, schema: &Value, value: &Value, at: &str, method: &str) {
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

    fn compile_source(&mut self, i: usize, value: &Value) -> Option<Source> {
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

    fn stream_source(&mut self, i: usize, producer: &str, at: &str) -> Option<Source> {
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

    fn check_references(&mut self, i: usize, step: &CompiledStep) {
        let at = format!("/steps/{i}");
        let top = ExprContext {
            step: i,
            item: None,
            batch: false,
            in_loop: false,
        };
        if let Some(condition) = &step.condition {
            self.check_expr_refs(condition, &format!("{at}/if"), top);
        }
        if let Some(Source::Values(mapping)) = &step.for_each {
            self.check_mapping_refs(mapping, &format!("{at}/for_each"), top);
        }
        if let (Some(records_to), Some(written)) =
            (&step.records_to, &self.workflow.steps[i].records_to)
        {
            self.check_mapping_refs(&records_to.path, &records_pointer(&at, written), top);
        }
        match &step.action {
            Action::Call { input, .. } => {
                // The written `for_each` decides the loop variables, even when it did not compile,
                // so one mistake is not reported twice.
                let ctx = if self.workflow.steps[i].for_each.is_some() {
                    ExprContext {
                        step: i,
                        item: step.batch.is_none().then_some(&*step.item_name),
                        batch: step.batch.is_some(),
                        in_loop: true,
                    }
                } else {
                    top
                };
                self.check_mapping_refs(input, &format!("{at}/input"), ctx);
            }
            Action::Read { path, .. } => {
                self.check_mapping_refs(path, &format!("{at}/read/path"), top)
            }
        }
    }

    fn check_mapping_refs(&mut self, mapping: &Mapping, at: &str, ctx: ExprContext<'_>) {
        for (pointer, expr) in mapping.expressions() {
            self.check_expr_refs(expr, &format!("{at}{pointer}"), ctx);
        }
    }

    fn check_expr_refs(&mut self, expr: &CompiledExpr, at: &str, ctx: ExprContext<'_>) {
        for access in expr.accesses() {
            match self.reference_problem(access, ctx) {
                Some(Finding::Error(message)) => self.problems.add(at, message),
                Some(Finding::Warning(message)) => self.problems.warn(at, message),
                None => {}
            }
        }
    }

    /// What the engine will find at `steps.<id>.output` for step `i`: the value its method
    /// returns (a streaming method's final summary, not its records), an array of them for a
    /// `for_each` over values, counts for a `for_each` over a stream or a `read`, and the error
    /// `on_error: continue` records instead of a failed call's output.
    fn step_output(&self, i: usize, step: &CompiledStep) -> Option<StepOutput<'w>> {
        let written = &self.workflow.steps[i];
        if written.for_each.is_some() && step.for_each.is_none() {
            // The `for_each` did not compile: reported already, and the shape is unknown.
            return None;
        }
        let continues = written.on_error == OnError::Continue;
        let catalog: &'w dyn Catalog = self.catalog;
        match &step.action {
            Action::Call {
                connector, method, ..
            } => {
                let descriptor = catalog.manifest(connector)?.method(method)?;
                let returned = Shape::schema(descriptor.output_schema.as_value());
                let (shape, repeated) = match &step.for_each {
                    Some(Source::Stream(_)) => (Shape::schema(shape::stream_summary()), false),
                    Some(Source::Values(_)) if continues => {
                        (Shape::Array(Box::new(returned.or_continued_error())), true)
                    }
                    Some(Source::Values(_)) => (Shape::Array(Box::new(returned)), true),
                    None if continues => (returned.or_continued_error(), false),
                    None => (returned, false),
                };
                Some(StepOutput {
                    shape,
                    method: Some(descriptor.id.clone()),
                    records: match &step.for_each {
                        None if descriptor.output == OutputShape::Records => descriptor
                            .record_schema
                            .as_ref()
                            .map(schemars::Schema::as_value),
                        _ => None,
                    },
                    repeated,
                })
            }
            Action::Read { .. } => {
                let read = Shape::schema(shape::read_summary());
                Some(StepOutput {
                    shape: if continues {
                        read.or_continued_error()
                    } else {
                        read
                    },
                    method: None,
                    records: None,
                    repeated: false,
                })
            }
        }
    }

    /// Whether step `j` gives a record stream a later `for_each` can read: a `read`, or a call
    /// of a streaming method, without a `for_each` of its own.
    fn streams_records(&self, j: usize) -> bool {
        let step = &self.workflow.steps[j];
        if step.for_each.is_some() {
            return false;
        }
        if step.read.is_some() {
            return true;
        }
        step.call
            .as_deref()
            .and_then(|call| call.split_once('.'))
            .and_then(|(local, method)| {
                let connection = self.workflow.connections.get(local)?;
                self.catalog.manifest(&connection.connector)?.method(method)
            })
            .is_some_and(|method| method.output == OutputShape::Records)
    }

    fn reference_problem(&self, access: &Access, ctx: ExprContext<'_>) -> Option<Finding> {
        let error = |message: String| Some(Finding::Error(message));
        let variable = access.display();
        let mut segments = access.path.iter();
        match access.root.as_str() {
            "inputs" => {
                let Some(Segment::Key(name)) = segments.next() else {
                    return None;
                };
                let names = self.input_names.as_ref()?;
                (!names.contains(name)).then(|| {
                    Finding::Error(format!(
                        "unknown input `{}` (declared inputs: {})",
                        display_path("inputs", std::slice::from_ref(&Segment::Key(name.clone()))),
                        names.iter().cloned().collect::<Vec<_>>().join(", ")
                    ))
                })
            }
            "steps" => {
                let Some(first) = segments.next() else {
                    return error("refer to a step as `steps.<id>.output`; `steps` itself cannot be checked before the run".to_owned());
                };
                let Segment::Key(id) = first else {
                    return error(format!(
                        "refer to a step by its id, as `steps.<id>.output`, not as `{variable}`"
                    ));
                };
                let Some(&j) = self.ids.get(id.as_str()) else {
                    return error(format!("unknown step `{}` in `{variable}`", excerpt(id)));
                };
                if j == ctx.step {
                    return error(format!(
                        "a step cannot refer to its own result (`{variable}`)"
                    ));
                }
                if j > ctx.step {
                    return error(format!(
                        "step `{id}` runs after this one, so `{variable}` is not known yet"
                    ));
                }
                match segments.next() {
                    // Looked into with a computed subscript: cannot be followed.
                    None if access.looked_into => return None,
                    None => {
                        return error(format!(
                            "`steps.{id}` is the step's result, not a value: its output is \
                             `steps.{id}.output` (e.g. `{{{{ steps.{id}.output | length }}}}`){}",
                            if self.streams_records(j) {
                                format!(
                                    ", and a `for_each` goes through its records with `{{{{ steps.{id}.records }}}}`"
                                )
                            } else {
                                String::new()
                            }
                        ));
                    }
                    Some(Segment::Key(output)) if output == "output" => {}
                    Some(Segment::Key(records)) if records == "records" => {
                        return error(format!(
                            "`steps.{id}.records` is a record stream; it can only be the whole `for_each` of one later step"
                        ));
                    }
                    Some(other) => {
                        return error(format!(
                            "steps have no `{}`; use `steps.{id}.output`",
                            excerpt(other.to_string().trim_start_matches('.'))
                        ));
                    }
                }
                if let Some(k) = self.consumers[j]
                    && ctx.step <= k
                {
                    return error(format!(
                        "the output of `{id}` is known only after step `{}`, which consumes its records, has run",
                        self.workflow.steps[k].id
                    ));
                }
                let output = self.outputs.get(j)?.as_ref()?;
                shape::check(output, id, &access.path[2..])
            }
            "loop" if ctx.in_loop => None,
            "batch" if ctx.batch => None,
            name if ctx.item == Some(name) => None,
            name if crate::expr::environment().globals().any(|(g, _)| g == name) => None,
            name => {
                let mut available = vec!["inputs", "steps"];
                if let Some(item) = ctx.item {
                    available.push(item);
                }
                if ctx.batch {
                    available.push("batch");
                }
                if ctx.in_loop {
                    available.push("loop");
                }
                error(format!(
                    "unknown variable `{}` (available here: {})",
                    excerpt(name),
                    available.join(", ")
                ))
            }
        }
    }
}
