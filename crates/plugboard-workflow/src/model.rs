//! The workflow file format, as Rust types.
//!
//! These types are the single source of the format: serde reads files with them and schemars turns
//! their doc comments into `schemas/workflow.schema.json` (invariant 5), so the schema and the
//! parser cannot drift apart. Semantic rules that a JSON Schema cannot express (references between
//! steps, methods of connectors, expressions) are checked by [`crate::validate()`].

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A workflow: named connections, typed run inputs, steps run in order, and outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// Path or URL of this schema, for editors; ignored by plugboard.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Display name of the workflow.
    pub name: String,
    /// What the workflow does, for people reading `plugboard run --dry-run`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Connections the steps use, by local name (the part of `call` before the first dot).
    #[serde(default)]
    pub connections: BTreeMap<String, ConnectionRef>,
    /// JSON Schema of the run inputs (an object schema); run inputs are validated against it before
    /// anything runs, and expressions read them as `inputs.<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "object_schema")]
    pub inputs: Option<Value>,
    /// The steps, run in order (the items of a `for_each` may run concurrently).
    pub steps: Vec<Step>,
    /// Values the run returns, by name; each value is a mapping (see `Step.input`) over `inputs`
    /// and `steps`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub outputs: Map<String, Value>,
}

/// Which connector a local connection name stands for, and which installed connection it uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionRef {
    /// The connector id, e.g. `constant-contact` (see `plugboard connectors`).
    pub connector: String,
    /// The name of the installed connection in the state store (`plugboard connect ... --name`).
    pub connection: String,
}

/// One step: a connector call or a built-in `read`, optionally conditional and repeated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique id; later steps read this step's result as `steps.<id>.output`. Letters, digits and
    /// `_`, not starting with a digit, so it can be used in expressions.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub id: String,
    /// A condition, exactly one `{{ expression }}`: the step runs only when it is true; otherwise it
    /// is skipped and its output is `null`.
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The method to call, `<connection>.<method id>`, e.g. `cc.contacts.create_or_update` (split
    /// at the first dot; method ids contain dots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// The method's input: a mapping. A string that is exactly one `{{ expression }}` takes the
    /// expression's JSON value; other strings interpolate; objects and arrays map recursively; other
    /// values are used as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// Built-in step: read a file as a stream of records (for a later `for_each`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<ReadSpec>,
    /// Repeat the call for each element: a `{{ expression }}` giving an array, a literal array
    /// (a mapping), or `{{ steps.<id>.records }}`, the record stream of an earlier step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "for_each_schema")]
    pub for_each: Option<Value>,
    /// Name of the loop variable holding the current element (default `item`).
    #[serde(rename = "as", default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub item_name: Option<String>,
    /// Group this many elements per call; the group is the array variable `batch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub batch: Option<u64>,
    /// How many calls of a `for_each` may run at once (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub concurrency: Option<u32>,
    /// For a call of a method that streams records: write each record as one JSON line to this file
    /// as it arrives. A path (a mapping giving one), or `{"path": ..., "overwrite": true}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_to: Option<RecordsTo>,
    /// What to do when the step (or, in a `for_each`, one call) fails.
    #[serde(default)]
    pub on_error: OnError,
}

/// The file a streaming call's records are written to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RecordsTo {
    /// The file's path, a mapping, e.g. `{{ inputs.file }}`. A part taken from a step's output
    /// (API data) may name a file but no folder: no `/` or backslash, no `.` or `..` segment.
    Path(String),
    /// The file's path, and whether an existing file there is replaced.
    File(RecordsFile),
}

/// `records_to` as an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordsFile {
    /// The file's path, as in the plain form of `records_to`.
    pub path: String,
    /// Whether a file already there is emptied and written (`true`) or kept, failing the step
    /// (`false`). When absent: replaced only when no part of the path comes from a step's output,
    /// i.e. the workflow and its inputs name the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overwrite: Option<bool>,
}

impl RecordsTo {
    /// The path mapping.
    pub fn path(&self) -> &str {
        match self {
            Self::Path(path) | Self::File(RecordsFile { path, .. }) => path,
        }
    }

    /// Whether an existing file is replaced, when the workflow says.
    pub fn overwrite(&self) -> Option<bool> {
        match self {
            Self::Path(_) => None,
            Self::File(file) => file.overwrite,
        }
    }
}

/// The built-in `read` step: a file of records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadSpec {
    /// The file to read (a mapping giving a path, e.g. `{{ inputs.file }}`).
    pub path: String,
    /// How records are stored in the file.
    pub format: RecordFormat,
}

/// File formats of record files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RecordFormat {
    /// One JSON value per line; blank lines are skipped.
    Jsonl,
    /// Comma-separated values with a header row; each row becomes an object of strings.
    Csv,
    /// One JSON array whose elements are the records (read incrementally, never whole).
    JsonArray,
}

impl RecordFormat {
    /// The name used in workflow files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
            Self::JsonArray => "json-array",
        }
    }
}

/// What a failure does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Stop the run with the error (the default).
    #[default]
    Fail,
    /// Record the error as the step's (or the item's) output, `{"error": {...}}`, and go on.
    Continue,
    /// Try again (for a `for_each`, per call), then fail.
    Retry(RetryPolicy),
}

/// Step-level retries, on top of the host's own retries of transient HTTP failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Total attempts, the first included.
    #[schemars(range(min = 1, max = 100))]
    pub attempts: u32,
    /// Wait before the second attempt; each later wait doubles.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
}

fn default_backoff_ms() -> u64 {
    1_000
}

fn object_schema(_: &mut schemars::SchemaGenerator) -> Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "JSON Schema of the run inputs (an object schema); run inputs are validated against it before anything runs, and expressions read them as `inputs.<name>`."
    })
}

fn for_each_schema(_: &mut schemars::SchemaGenerator) -> Schema {
    schemars::json_schema!({
        "description": "Repeat the call for each element: a `{{ expression }}` giving an array, a literal array (a mapping), or `{{ steps.<id>.records }}`, the record stream of an earlier step.",
        "type": ["string", "array"]
    })
}

/// The JSON Schema of workflow files, generated from these types (written to
/// `schemas/workflow.schema.json` by `cargo xtask schemas`).
pub fn schema() -> Schema {
    schemars::schema_for!(Workflow)
}
