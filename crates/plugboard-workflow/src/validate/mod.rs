//! Validation: everything that can be checked before the first request, all at once, with locations.
//!
//! A [`ValidWorkflow`] can only be made here, so the engine and the planner never see a workflow
//! with unknown methods, bad references or expressions that do not compile; the expressions are
//! compiled once here and reused for every step and item of every run.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, OnceLock};

use plugboard_core::Manifest;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::engine::Effects;
use crate::excerpt::{bounded, excerpt, value_excerpt};
use crate::expr::{CompiledExpr, Mapping};
use crate::input_check::InputSchema;
use crate::locate::{Locator, escape_token};
use crate::model::{OnError, RecordFormat, RecordsTo, Workflow};
use crate::shape::StepOutput;

mod calls;
mod compile;
mod references;

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

/// A called method's declared request cost, with its cheaper alternative resolved.
#[derive(Debug, Default)]
pub(crate) struct CallCost {
    /// The method's own.
    pub own: plugboard_core::Cost,
    /// The methods its descriptor names under `instead`, in calling order, with their costs
    /// and whether each streams.
    pub instead: Vec<(String, plugboard_core::Cost, bool)>,
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
        /// What a call costs in requests, from the method's descriptor, and the calls that
        /// would get its records for fewer (for plans).
        cost: Box<CallCost>,
        /// Whether a repeat is harmless, from the method's descriptor.
        effects: Effects,
        input: Mapping,
        /// The method's input schema, compiled once and shared by every step calling the method;
        /// `None` only for a call that did not resolve (validation failed anyway).
        input_schema: Option<Arc<InputSchema>>,
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
    /// Input schemas compiled so far, by connector and method id (`None`: does not compile).
    input_schemas: HashMap<(String, String), Option<Arc<InputSchema>>>,
}
