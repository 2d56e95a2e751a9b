//! The plan of a run (`plugboard run --dry-run`): the steps, the requests they will make where that
//! can be known from the inputs alone, and what they will cost in requests.
//!
//! Planning sends nothing: a [`PlanProbe`] lets the runner show the first HTTP request a call would
//! make by running the connector against a recording host.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use minijinja::value::Value as MjValue;
use plugboard_core::{Cost, HttpRequest};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::expr::{Mapping, Scope, StepsView, environment, loop_value};
use crate::validate::{Action, CallCost, CompiledStep, Problem, Source, ValidWorkflow};

/// Lets the planner show the first request a call would make, without sending it.
pub trait PlanProbe {
    /// The first HTTP request of `method` on the installed `connection` with this input, if the
    /// runner can tell (it runs the connector against a recording host).
    fn first_request(&self, connection: &str, method: &str, input: &Value) -> Option<HttpRequest>;
}

/// A probe that knows nothing; plans then show inputs and counts only.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProbe;

impl PlanProbe for NoProbe {
    fn first_request(&self, _: &str, _: &str, _: &Value) -> Option<HttpRequest> {
        None
    }
}

/// A number of requests, as far as it can be known before the run.
///
/// What a minimum leaves out, or what an unknown count depends on, is said in words next to it
/// ([`PlannedStep::requests_note`], [`Plan::requests_notes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "count", rename_all = "snake_case")]
pub enum RequestCount {
    /// Exactly this many (retries aside).
    Exact(u64),
    /// At least this many (e.g. a stream follows pages).
    AtLeast(u64),
    /// Depends on data only known at run time (e.g. the number of records of a stream).
    Unknown,
}

impl RequestCount {
    fn add(&self, other: &Self) -> Self {
        match (self, other) {
            (Self::Exact(a), Self::Exact(b)) => Self::Exact(a + b),
            (Self::Exact(a) | Self::AtLeast(a), Self::Exact(b) | Self::AtLeast(b)) => {
                Self::AtLeast(a + b)
            }
            (Self::Exact(a) | Self::AtLeast(a), Self::Unknown)
            | (Self::Unknown, Self::Exact(a) | Self::AtLeast(a)) => Self::AtLeast(*a),
            (Self::Unknown, Self::Unknown) => Self::AtLeast(0),
        }
    }
}

impl fmt::Display for RequestCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(n) => write!(f, "{n}"),
            Self::AtLeast(n) => write!(f, "at least {n}"),
            Self::Unknown => f.write_str("known at run time"),
        }
    }
}

/// A value that may or may not be known before the run.
///
/// Serialized as `{"known": true, "value": ...}` or `{"known": false}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    /// Known from the inputs and literals.
    Known(Value),
    /// Depends on earlier steps or loop variables.
    RunTime,
}

/// The repetition of a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedLoop {
    /// The `for_each` as written.
    pub source: String,
    /// The producing step, when the elements are its record stream.
    pub stream_of: Option<String>,
    /// The number of elements, when known.
    pub elements: Option<u64>,
    /// Elements per call.
    pub batch: Option<u64>,
    /// Calls at once.
    pub concurrency: u32,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedStep {
    /// The step id.
    pub id: String,
    /// The condition as written, if any.
    pub condition: Option<String>,
    /// The installed connection called (for call steps).
    pub connection: Option<String>,
    /// The connector id (for call steps).
    pub connector: Option<String>,
    /// The method id (for call steps).
    pub method: Option<String>,
    /// The file read (for `read` steps).
    pub reads: Option<Planned>,
    /// The rendered input of the call (of the first call, for a `for_each` over known elements).
    pub input: Option<Planned>,
    /// The repetition, for `for_each` steps.
    pub for_each: Option<PlannedLoop>,
    /// Where records are written, for `records_to`.
    pub records_to: Option<Planned>,
    /// The first HTTP request, when the input is known and the runner could tell.
    pub first_request: Option<HttpRequest>,
    /// Requests this step will make when it runs (a step with `if` may make none).
    pub requests: RequestCount,
    /// What the count depends on or leaves out, in words, e.g. "1 per batch of 500 records of
    /// `rows`" for a loop over a stream, or "1 per page of results" for a streaming method.
    pub requests_note: Option<String>,
    /// Whether the call waits for a job by polling it (its count is a minimum).
    pub polls: bool,
    /// Calls that would get this step's records in a fixed number of requests, for a stream
    /// that pages through them (a bulk export instead of reading page after page).
    pub instead: Option<Alternative>,
}

/// A cheaper way to a step's records, from the method's declared cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alternative {
    /// The methods, in calling order.
    pub methods: Vec<String>,
    /// Their requests together, whatever the number of records.
    pub requests: RequestCount,
    /// What the count leaves out, in words.
    pub requests_note: Option<String>,
}

/// Pages of the worked example in a paged stream's note ("400 for 200,000"): a size where the
/// choice between paging and a bulk export matters against a daily quota.
const EXAMPLE_PAGES: u64 = 400;

/// The requests of one call, from the method's declared cost: an exact count when it states
/// one, else 1 (at least 1 for a stream or a poll), with what the rest depends on.
fn call_cost(cost: &Cost, streams: bool) -> (RequestCount, Option<String>) {
    if let Some(n) = cost.requests {
        return (RequestCount::Exact(u64::from(n)), None);
    }
    if cost.polls {
        return (
            RequestCount::AtLeast(1),
            Some("1 per status check until the job ends".to_owned()),
        );
    }
    if !streams {
        return (RequestCount::Exact(1), None);
    }
    let note = match cost.records_per_page {
        Some(size) => {
            let size = u64::from(size);
            format!(
                "1 per page of {}: {} for {}",
                counted(size, "record"),
                thousands(EXAMPLE_PAGES),
                thousands(EXAMPLE_PAGES * size)
            )
        }
        None => "1 per page of results".to_owned(),
    };
    (RequestCount::AtLeast(1), Some(note))
}

/// The cheaper way a call's descriptor names, with its cost.
fn alternative(cost: &CallCost) -> Option<Alternative> {
    if cost.instead.is_empty() {
        return None;
    }
    let mut requests = RequestCount::Exact(0);
    let mut fixed = 0;
    let mut polls = false;
    for (_, own, streams) in &cost.instead {
        let (count, _) = call_cost(own, *streams);
        requests = requests.add(&count);
        match count {
            _ if own.polls => polls = true,
            RequestCount::Exact(n) | RequestCount::AtLeast(n) => fixed += n,
            RequestCount::Unknown => {}
        }
    }
    Some(Alternative {
        methods: cost.instead.iter().map(|(id, ..)| id.clone()).collect(),
        requests,
        requests_note: Some(if polls {
            format!(
                "{} + 1 per status check while the job runs, whatever the number of records",
                counted(fixed, "request")
            )
        } else {
            "whatever the number of records".to_owned()
        }),
    })
}

/// What a run would do, step by step (`plugboard run --dry-run`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The workflow's name.
    pub name: String,
    /// Problems with the run inputs (the run would stop before the first step).
    pub input_problems: Vec<Problem>,
    /// The steps in order.
    pub steps: Vec<PlannedStep>,
    /// Requests of the whole run, against the API's quota.
    pub requests: RequestCount,
    /// What the run's count leaves out or cannot know yet, in words, e.g. "1 per batch of 500
    /// records of `rows` (step `import`)": a bare "≥ 2" told nobody what the rest depends on.
    pub requests_notes: Vec<String>,
}

/// Plans a run with these inputs, sending nothing.
pub fn plan(workflow: &ValidWorkflow, inputs: &Map<String, Value>, probe: &dyn PlanProbe) -> Plan {
    let (inputs, input_problems) = match workflow.check_inputs(inputs) {
        Ok(filled) => (filled, Vec::new()),
        Err(problems) => (inputs.clone(), problems),
    };
    let empty = StepsView::new(Arc::new(HashMap::new()), 0);
    let inputs = MjValue::from_serialize(&inputs);
    let scope = Scope::top(inputs.clone(), MjValue::from_object(empty)).value();
    let mut steps = Vec::with_capacity(workflow.steps.len());
    let mut total = RequestCount::Exact(0);
    for step in &workflow.steps {
        let planned = plan_step(workflow, step, &inputs, &scope, probe);
        total = total.add(&planned.requests);
        steps.push(planned);
    }
    let requests_notes = total_notes(&steps);
    Plan {
        name: workflow.workflow.name.clone(),
        input_problems,
        steps,
        requests: total,
        requests_notes,
    }
}

/// What the run's total leaves out: the per-element requests of loops whose length is known only
/// at run time, further pages, and steps with `if` (counted as if they run).
fn total_notes(steps: &[PlannedStep]) -> Vec<String> {
    let mut notes = Vec::new();
    let mut paged = Vec::new();
    let mut conditional = Vec::new();
    for step in steps.iter().filter(|s| s.connection.is_some()) {
        match (&step.requests, &step.requests_note) {
            (RequestCount::Unknown, Some(note)) => {
                notes.push(format!("plus {note} (step `{}`)", step.id));
            }
            (RequestCount::AtLeast(_), Some(note)) if step.polls => {
                notes.push(format!("plus {note} (step `{}`)", step.id));
            }
            (RequestCount::AtLeast(_), _) => paged.push(format!("`{}`", step.id)),
            _ => {}
        }
        if step.condition.is_some() && step.requests != RequestCount::Exact(0) {
            conditional.push(format!("`{}`", step.id));
        }
    }
    if !paged.is_empty() {
        notes.push(format!(
            "plus more when results take several pages (step{} {})",
            if paged.len() == 1 { "" } else { "s" },
            paged.join(", ")
        ));
    }
    if !conditional.is_empty() {
        notes.push(format!(
            "step{} with `if` ({}) counted as if {} run{}",
            if conditional.len() == 1 { "" } else { "s" },
            conditional.join(", "),
            if conditional.len() == 1 { "it" } else { "they" },
            if conditional.len() == 1 { "s" } else { "" },
        ));
    }
    notes
}

/// Files larger than this are not read at plan time to count their records: a dry run answers
/// at once.
const MAX_COUNTED_BYTES: u64 = 64 * 1024 * 1024;

/// The number of records of the file a `read` step will stream, when its path is known from the
/// inputs and the file is there and small enough to count now (reading sends nothing).
fn count_read_records(step: &CompiledStep, scope: &MjValue) -> Option<u64> {
    let Action::Read { path, format } = &step.action else {
        return None;
    };
    let Planned::Known(Value::String(path)) = known(path, scope) else {
        return None;
    };
    // Only a regular file: reading a pipe or a device now would block or consume what the run
    // is to read.
    let metadata = std::fs::metadata(&path).ok()?;
    if !metadata.is_file() || metadata.len() > MAX_COUNTED_BYTES {
        return None;
    }
    crate::engine::read_records(&path, *format, &mut |_| Ok(())).ok()
}

/// `1200` as `1,200`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 record`, `2 records`.
fn counted(n: u64, what: &str) -> String {
    format!("{} {what}{}", thousands(n), if n == 1 { "" } else { "s" })
}

/// Renders a mapping when it reads nothing but inputs, literals and global functions.
fn known(mapping: &Mapping, scope: &MjValue) -> Planned {
    known_with(mapping, scope, &[])
}

/// Like [`known`], also allowing the given loop variables.
fn known_with(mapping: &Mapping, scope: &MjValue, loop_vars: &[&str]) -> Planned {
    let env = environment();
    let static_only = mapping.expressions().iter().all(|(_, expr)| {
        expr.roots().all(|root| {
            root == "inputs" || loop_vars.contains(&root) || env.globals().any(|(g, _)| g == root)
        })
    });
    if !static_only {
        return Planned::RunTime;
    }
    mapping
        .render(scope)
        .map_or(Planned::RunTime, Planned::Known)
}

/// The scope of the first call of a `for_each` over known elements.
fn first_call_scope(step: &CompiledStep, items: &[Value], inputs: &MjValue) -> MjValue {
    let calls = match step.batch {
        Some(b) => (items.len() as u64).div_ceil(b.max(1)),
        None => items.len() as u64,
    };
    let (item, batch) = match step.batch {
        Some(b) => {
            let n = usize::try_from(b).unwrap_or(usize::MAX).min(items.len());
            (None, Some(MjValue::from_serialize(&items[..n])))
        }
        None => (Some(MjValue::from_serialize(&items[0])), None),
    };
    Scope {
        inputs: inputs.clone(),
        steps: MjValue::from_object(StepsView::new(Arc::new(HashMap::new()), 0)),
        item_name: Some(step.item_name.clone()),
        item,
        batch,
        loop_: Some(loop_value(0, Some(calls))),
    }
    .value()
}

fn plan_step(
    workflow: &ValidWorkflow,
    step: &CompiledStep,
    inputs: &MjValue,
    scope: &MjValue,
    probe: &dyn PlanProbe,
) -> PlannedStep {
    let source = workflow.workflow.steps.iter().find(|s| s.id == step.id);
    let mut planned = PlannedStep {
        id: step.id.clone(),
        condition: source.and_then(|s| s.condition.clone()),
        connection: None,
        connector: None,
        method: None,
        reads: None,
        input: None,
        for_each: None,
        records_to: step.records_to.as_ref().map(|r| known(&r.path, scope)),
        first_request: None,
        requests: RequestCount::Exact(0),
        requests_note: None,
        polls: false,
        instead: None,
    };
    let for_each_source = source
        .and_then(|s| s.for_each.as_ref())
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
    let known_items = match &step.for_each {
        Some(Source::Values(mapping)) => match known(mapping, scope) {
            Planned::Known(Value::Array(items)) => Some(items),
            _ => None,
        },
        _ => None,
    };
    // A loop over the records of a file is as long as the file, which can be counted now.
    let streamed_records = match &step.for_each {
        Some(Source::Stream(j)) => count_read_records(&workflow.steps[*j], scope),
        _ => None,
    };
    let elements = known_items
        .as_ref()
        .map(|items| items.len() as u64)
        .or(streamed_records);
    if let Some(for_each) = &step.for_each {
        planned.for_each = Some(PlannedLoop {
            source: for_each_source.unwrap_or_default(),
            stream_of: match for_each {
                Source::Stream(j) => Some(workflow.steps[*j].id.clone()),
                Source::Values(_) => None,
            },
            elements,
            batch: step.batch,
            concurrency: step.concurrency,
        });
    }
    match &step.action {
        Action::Call {
            connection,
            connector,
            method,
            streams,
            input,
            cost,
            ..
        } => {
            planned.connection = Some(connection.clone());
            planned.connector = Some(connector.clone());
            planned.method = Some(method.clone());
            let (per_call, per_call_note) = call_cost(&cost.own, *streams);
            planned.polls = cost.own.polls;
            planned.instead = alternative(cost);
            if step.for_each.is_some() {
                planned.input = Some(Planned::RunTime);
                if let Some(items) = known_items.as_ref().filter(|items| !items.is_empty()) {
                    let first = first_call_scope(step, items, inputs);
                    let input = known_with(input, &first, &[&step.item_name, "batch", "loop"]);
                    if let Planned::Known(value) = &input {
                        planned.first_request = probe.first_request(connection, method, value);
                    }
                    planned.input = Some(input);
                }
                let paged = match (per_call, cost.own.polls) {
                    (RequestCount::Exact(_), _) => "",
                    (_, true) => ", more while a job runs",
                    _ => ", more when a call's results take several pages",
                };
                let (unit, of) = match step.for_each.as_ref() {
                    Some(Source::Stream(j)) => ("record", format!("`{}`", workflow.steps[*j].id)),
                    _ => (
                        "element",
                        planned.for_each.as_ref().map_or_else(String::new, |each| {
                            crate::excerpt::excerpt(&each.source).into_owned()
                        }),
                    ),
                };
                let per = match step.batch {
                    Some(b) => format!("batch of {} of {of}", counted(b, unit)),
                    None => format!("{unit} of {of}"),
                };
                (planned.requests, planned.requests_note) = match elements {
                    Some(n) => {
                        let calls = match step.batch {
                            Some(b) => n.div_ceil(b.max(1)),
                            None => n,
                        };
                        let count = match per_call {
                            RequestCount::Exact(each) => RequestCount::Exact(calls * each),
                            RequestCount::AtLeast(each) => RequestCount::AtLeast(calls * each),
                            RequestCount::Unknown => RequestCount::Unknown,
                        };
                        let note = match (streamed_records, step.batch) {
                            (Some(_), Some(b)) => Some(format!(
                                "{} of {of} in batches of {b}{paged}",
                                counted(n, unit)
                            )),
                            (Some(_), None) => Some(format!("{} of {of}{paged}", counted(n, unit))),
                            (None, _) if !paged.is_empty() => Some(format!("1 per call{paged}")),
                            (None, _) => None,
                        };
                        (count, note)
                    }
                    None => (RequestCount::Unknown, Some(format!("1 per {per}{paged}"))),
                };
            } else {
                let input = known(input, scope);
                if let Planned::Known(value) = &input {
                    planned.first_request = probe.first_request(connection, method, value);
                }
                planned.input = Some(input);
                planned.requests = per_call;
                planned.requests_note = per_call_note;
            }
        }
        Action::Read { path, .. } => {
            planned.reads = Some(known(path, scope));
        }
    }
    planned
}

impl Serialize for Planned {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        match self {
            Self::Known(value) => {
                map.serialize_entry("known", &true)?;
                map.serialize_entry("value", value)?;
            }
            Self::RunTime => map.serialize_entry("known", &false)?,
        }
        map.end()
    }
}

impl fmt::Display for Planned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Known(Value::String(s)) => f.write_str(s),
            Self::Known(value) => write!(f, "{value}"),
            Self::RunTime => f.write_str("known at run time"),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Plan for \"{}\" ({})",
            self.name,
            counted(self.steps.len() as u64, "step")
        )?;
        for problem in &self.input_problems {
            writeln!(f, "  input problem: {problem}")?;
        }
        for (n, step) in self.steps.iter().enumerate() {
            write!(f, "{:>3}. {}", n + 1, step.id)?;
            if let (Some(connection), Some(method)) = (&step.connection, &step.method) {
                write!(
                    f,
                    ": call {method} on connection `{connection}` ({})",
                    step.connector.as_deref().unwrap_or("?")
                )?;
            }
            if let Some(reads) = &step.reads {
                write!(f, ": read {reads}")?;
            }
            writeln!(f)?;
            if let Some(condition) = &step.condition {
                writeln!(f, "       if: {condition}")?;
            }
            if let Some(each) = &step.for_each {
                write!(f, "       for each: ")?;
                match (&each.stream_of, each.elements) {
                    (Some(producer), Some(n)) => {
                        write!(f, "{} of `{producer}` (streamed)", counted(n, "record"))?
                    }
                    (None, Some(n)) => write!(f, "{} of {}", counted(n, "element"), each.source)?,
                    (Some(producer), _) => write!(f, "record of `{producer}` (streamed)")?,
                    (None, None) => write!(f, "element of {}", each.source)?,
                }
                if let Some(batch) = each.batch {
                    write!(f, ", in batches of {batch}")?;
                }
                writeln!(f, ", concurrency {}", each.concurrency)?;
            }
            if let Some(input) = &step.input {
                let label = if step.for_each.is_some() {
                    "input of the first call"
                } else {
                    "input"
                };
                match input {
                    Planned::Known(value) => writeln!(f, "       {label}: {value}")?,
                    Planned::RunTime => writeln!(f, "       input: known at run time")?,
                }
            }
            if let Some(records_to) = &step.records_to {
                writeln!(f, "       records to: {records_to}")?;
            }
            if let Some(request) = &step.first_request {
                write!(
                    f,
                    "       first request: {} {}",
                    request.method, request.path
                )?;
                if !request.query.is_empty() {
                    let query: Vec<String> = request
                        .query
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    write!(f, "?{}", query.join("&"))?;
                }
                writeln!(f)?;
            }
            if step.connection.is_some() {
                let condition = if step.condition.is_some() {
                    " (if the condition holds)"
                } else {
                    ""
                };
                match (&step.requests, &step.requests_note) {
                    (RequestCount::Unknown, Some(note)) => {
                        writeln!(f, "       requests: {note}{condition}")?;
                    }
                    (count, Some(note)) => {
                        writeln!(f, "       requests: {count} ({note}){condition}")?;
                    }
                    (count, None) => writeln!(f, "       requests: {count}{condition}")?,
                }
            }
            if let Some(instead) = &step.instead {
                write!(
                    f,
                    "       fewer requests for many records: {}: {}",
                    instead.methods.join(" → "),
                    instead.requests
                )?;
                match &instead.requests_note {
                    Some(note) => writeln!(f, " ({note})")?,
                    None => writeln!(f)?,
                }
            }
        }
        writeln!(f, "Requests (against the API quota): {}", self.requests)?;
        for note in &self.requests_notes {
            writeln!(f, "  {note}")?;
        }
        Ok(())
    }
}
