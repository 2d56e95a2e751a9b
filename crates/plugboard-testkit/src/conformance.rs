//! Output conformance: a method's output and streamed records checked against the JSON Schemas
//! its descriptor declares (`output_schema`, `record_schema`).
//!
//! The host, a workflow's mappings and the generated docs all read a method's output through
//! those schemas, so an output that breaks them is a bug in the connector even when the call
//! succeeded. [`Harness::call`](crate::Harness::call) checks every call it runs (replayed,
//! recorded or live) and fails the test when the output or a record does not conform;
//! [`assert_conforms`] does the same for tests that call methods some other way (a scripted
//! host, a runner session).
//!
//! A failure names the method, the part (the output, or record `n`), the JSON pointer of the
//! offending value, the schema rule it breaks (its keyword and where it is in the schema) and
//! an excerpt of the value, never the whole document. Each schema is compiled once per process
//! and kept (keyed by its text), so checking a call costs one validation per value.
//!
//! This file uses nothing else of the kit (only `plugboard-core`, `serde_json` and
//! `jsonschema`), so a test crate that does not depend on the kit can still include it with
//! `#[path]`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use plugboard_core::MethodDescriptor;
use serde_json::Value;

/// At most this many problems are listed in one failure; the others are counted.
pub const MAX_LISTED_PROBLEMS: usize = 10;

/// How many characters of a value a problem quotes (the workflow crate's excerpts, shared).
pub use plugboard_workflow::excerpt::{MAX_EXCERPT_CHARS, value_excerpt};

/// Which value of a call a [`Nonconformity`] is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The value the call returned, checked against `output_schema`.
    Output,
    /// The record emitted at this index (from 0), checked against `record_schema`.
    Record(usize),
}

impl Part {
    /// The descriptor field holding the schema this part is checked against.
    pub fn schema_field(self) -> &'static str {
        match self {
            Part::Output => "output_schema",
            Part::Record(_) => "record_schema",
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Output => f.write_str("the output"),
            Part::Record(index) => write!(f, "record {index}"),
        }
    }
}

/// One way a value breaks its declared schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonconformity {
    /// The output or the record.
    pub part: Part,
    /// JSON pointer of the offending value inside the part; empty for the part itself.
    pub pointer: String,
    /// The schema keyword broken, e.g. `type`, `required`, `minimum`, `additionalProperties`.
    pub keyword: String,
    /// Where the rule is in the schema, as a JSON pointer (through `$ref`s), e.g.
    /// `/properties/count/minimum`.
    pub rule: String,
    /// What is wrong, quoting at most [`MAX_EXCERPT_CHARS`] characters of the value.
    pub message: String,
}

impl fmt::Display for Nonconformity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "(the whole value)"
        } else {
            &self.pointer
        };
        write!(
            f,
            "{} at `{at}`: {} (rule `{}`",
            self.part, self.message, self.keyword
        )?;
        if !self.rule.is_empty() {
            write!(f, " at `{}`", self.rule)?;
        }
        write!(f, " of the {})", self.part.schema_field())
    }
}

/// A call whose output or records break the method's declared schemas; its `Display` is the
/// test failure message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonconformance {
    /// The method's id.
    pub method: String,
    /// The problems, at most [`MAX_LISTED_PROBLEMS`], in the order found (output first, then
    /// records in order).
    pub problems: Vec<Nonconformity>,
    /// How many more problems were found but not listed.
    pub unlisted: usize,
}

impl fmt::Display for Nonconformance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.problems.len() + self.unlisted;
        write!(
            f,
            "`{}` does not conform to its declared schemas ({total} problem{}):",
            self.method,
            if total == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        if self.unlisted > 0 {
            write!(f, "\n  - and {} more", self.unlisted)?;
        }
        Ok(())
    }
}

impl std::error::Error for Nonconformance {}

/// Checks a call's output (`None` when the call failed, or for an effect lookup that found no
/// effect) and its emitted records against the schemas `descriptor` declares.
///
/// A record from a method that declares no `record_schema` is a problem too: it streams what it
/// says it never streams.
pub fn check(
    descriptor: &MethodDescriptor,
    output: Option<&Value>,
    records: &[Value],
) -> Result<(), Nonconformance> {
    let mut found = Found::default();
    if let Some(output) = output {
        let validator = compiled(descriptor.output_schema.as_value());
        found.check(&validator, Part::Output, output);
    }
    match &descriptor.record_schema {
        Some(schema) if !records.is_empty() => {
            // Looked up once per call, not per record: a stream can be long.
            let validator = compiled(schema.as_value());
            for (index, record) in records.iter().enumerate() {
                found.check(&validator, Part::Record(index), record);
            }
        }
        Some(_) => {}
        None => {
            if let Some(first) = records.first() {
                found.push(Nonconformity {
                    part: Part::Record(0),
                    pointer: String::new(),
                    // What `NoRecords` declares: the schema that nothing validates against.
                    keyword: "false".into(),
                    rule: String::new(),
                    message: format!(
                        "{} record(s) emitted, but the method declares none (first: {})",
                        records.len(),
                        value_excerpt(first)
                    ),
                });
            }
        }
    }
    if found.problems.is_empty() {
        Ok(())
    } else {
        Err(Nonconformance {
            method: descriptor.id.clone(),
            problems: found.problems,
            unlisted: found.unlisted,
        })
    }
}

/// Fails the test (panics with the [`Nonconformance`] message) when the output (`None`: the
/// call failed) or any record breaks the schemas `descriptor` declares.
///
/// For tests that call methods without a [`Harness`](crate::Harness), which checks its calls
/// itself:
///
/// ```
/// # use plugboard_core::*;
/// # #[derive(serde::Serialize, schemars::JsonSchema)] struct Count { count: u64 }
/// # struct Things;
/// # impl Method for Things {
/// #     type Input = serde_json::Value; type Output = Count; type Record = NoRecords;
/// #     const INFO: MethodInfo = MethodInfo { id: "things.count", name: "Count Things",
/// #         category: Some("Things"), description: "Counts.", kind: MethodKind::Action, idempotent: true };
/// #     fn call(&self, _: &mut Context<'_, NoRecords>, _: serde_json::Value) -> Result<Count, ConnectorError> {
/// #         Ok(Count { count: 3 })
/// #     }
/// # }
/// let methods = MethodSet::new().with(Things);
/// let descriptor = methods.descriptor("things.count").expect("declared");
/// plugboard_testkit::assert_conforms(descriptor, Some(&serde_json::json!({"count": 3})), &[]);
///
/// let broken = std::panic::catch_unwind(|| {
///     plugboard_testkit::assert_conforms(descriptor, Some(&serde_json::json!({"count": -1})), &[])
/// });
/// assert!(broken.is_err());
/// ```
#[track_caller]
pub fn assert_conforms(descriptor: &MethodDescriptor, output: Option<&Value>, records: &[Value]) {
    if let Err(nonconformance) = check(descriptor, output, records) {
        panic!("{nonconformance}");
    }
}

/// How many times this process compiled `schema` (0 before its first check, then 1: each
/// schema is compiled once and kept).
#[doc(hidden)]
pub fn times_compiled(schema: &Value) -> usize {
    cache()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&schema.to_string())
        .map_or(0, |(_, times)| *times)
}

#[derive(Default)]
struct Found {
    problems: Vec<Nonconformity>,
    unlisted: usize,
}

impl Found {
    fn push(&mut self, problem: Nonconformity) {
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push(problem);
        } else {
            self.unlisted += 1;
        }
    }

    fn check(&mut self, validator: &Compiled, part: Part, value: &Value) {
        let validator = match validator {
            Ok(validator) => validator,
            Err(error) => {
                self.push(Nonconformity {
                    part,
                    pointer: String::new(),
                    keyword: "$schema".into(),
                    rule: String::new(),
                    message: format!("the declared schema does not compile: {error}"),
                });
                return;
            }
        };
        for error in validator.iter_errors(value) {
            if self.problems.len() >= MAX_LISTED_PROBLEMS {
                // Counted without formatting: a huge stream of bad records stays cheap.
                self.unlisted += 1;
                continue;
            }
            self.push(Nonconformity {
                part,
                pointer: pointer_of(&error),
                keyword: error.kind().keyword().to_owned(),
                rule: error.schema_path().as_str().to_owned(),
                message: error
                    .masked_with(value_excerpt(error.instance()))
                    .to_string(),
            });
        }
    }
}

/// Where `error` is: the value's JSON pointer, and for a missing property the property's own
/// (`/name`, not the object holding it), which is the field a test names.
fn pointer_of(error: &jsonschema::ValidationError<'_>) -> String {
    let at = error.instance_path().as_str().to_owned();
    match error.kind() {
        jsonschema::error::ValidationErrorKind::Required {
            property: Value::String(property),
        } => format!("{at}/{}", property.replace('~', "~0").replace('/', "~1")),
        _ => at,
    }
}

type Compiled = Result<jsonschema::Validator, String>;

/// Validators by schema text, with how many times each was compiled.
type Cache = Mutex<HashMap<String, (Arc<Compiled>, usize)>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The validator of `schema`, compiled on first use and kept for the process.
fn compiled(schema: &Value) -> Arc<Compiled> {
    let key = schema.to_string();
    if let Some((hit, _)) = cache()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
    {
        return Arc::clone(hit);
    }
    // Compiled outside the lock so parallel tests do not wait on each other; two threads racing
    // on the same new schema may both compile it, and the first one in is kept.
    let built = Arc::new(jsonschema::validator_for(schema).map_err(|e| e.to_string()));
    let mut cache = cache().lock().unwrap_or_else(PoisonError::into_inner);
    let (kept, times) = cache.entry(key).or_insert((built, 0));
    *times += 1;
    Arc::clone(kept)
}
