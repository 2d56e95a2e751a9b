//! Typed methods and the method set that erases their types for the host.
//!
//! # Methods as functions
//!
//! A method is a function of a [`Context`] and a typed input, returning its output, the way an
//! axum handler is a function of its extractors. [`macro@method`] registers it: its arguments
//! give the id, name, category and behaviour, the first paragraph of its doc comment is the
//! description users see (one place, not a comment and a string repeating each other), and the
//! types come from the signature: the input from the second argument, the output from
//! `Result<Output, ConnectorError>`, and the records from the context, `&mut Context<'_>` for a
//! method that returns one value, `&mut Context<'_, Record>` for one that streams records.
//!
//! ```
//! use plugboard_core::{Context, HttpRequest, MethodKind, MethodSet, OutputShape, Result, choice, input, method};
//! use serde_json::json;
//!
//! /// How much a status report says.
//! #[choice]
//! pub enum Detail {
//!     /// Up or down.
//!     Summary,
//!     /// Every component, one by one.
//!     PerComponent,
//! }
//!
//! /// What to report.
//! #[input]
//! pub struct StatusInput {
//!     /// How much to report (the API's default: `summary`).
//!     pub detail: Option<Detail>,
//!     /// Only this component.
//!     pub component: Option<String>,
//! }
//!
//! /// Reports whether the API is up.
//! ///
//! /// Later paragraphs are for readers of the code; only the first is the description.
//! #[method(id = "status.get", name = "Get Status", category = "Health", idempotent)]
//! pub fn get_status(cx: &mut Context<'_>, input: StatusInput) -> Result<u16> {
//!     Ok(cx.send(HttpRequest::get("/status").query_from(&input)?)?.status)
//! }
//!
//! // The function is registered by its name, and stays an ordinary function.
//! let methods = MethodSet::new().method::<get_status>();
//! let descriptor = methods.descriptor("status.get").expect("registered");
//! assert_eq!(descriptor.description, "Reports whether the API is up.");
//! assert_eq!((descriptor.kind, descriptor.output), (MethodKind::Action, OutputShape::One));
//! assert!(descriptor.idempotent && !descriptor.finds_effect);
//! // `#[input]`: a misspelt field is refused, an option may be left out.
//! assert_eq!(descriptor.input_schema.get("additionalProperties"), Some(&json!(false)));
//! assert_eq!(descriptor.input_schema.get("required"), None);
//! // `#[choice]`: the values are written in snake_case.
//! let input = StatusInput { detail: Some(Detail::PerComponent), component: None };
//! assert_eq!(serde_json::to_value(&input)?, json!({"detail": "per_component"}));
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! [`macro@input`] marks a method's input type: it refuses unknown fields (a misspelt field is an
//! error before any request, not a filter silently left out) and makes every `Option` field
//! optional, left out when the input is written as a body or query (`None` is the API's default).
//! It derives what every input needs (`Debug`, serde's `Serialize` and `Deserialize`, schemars'
//! `JsonSchema`); write `#[derive(..)]` only for more, such as `Default`.
//!
//! [`macro@choice`] marks a unit enum as the values a field may take: it derives `Debug`, `Clone`,
//! `Copy`, `PartialEq`, `Eq`, serde and `JsonSchema` (an `enum` of the values in the schema), and
//! writes the values in snake_case unless the enum says `#[serde(rename_all = "..")]` itself.
//! Anything but unit variants is refused at compile time.
//!
//! The attribute's arguments: `id` and `name` (required); `category` (by default the id's prefix,
//! under the name [`MethodSet::category`] gives it, or in title case: `contact_lists.get` is in
//! "Contact Lists"); `idempotent` (repeating a
//! call with the same input is harmless, so the host may retry it); `poll(cursor = "..", next =
//! "..")` (the method is a poll trigger: the host passes the stored cursor in input field `cursor`
//! and keeps output field `next` for the next poll; both must be fields of the input and output
//! types, or the connector is refused at registration); `poll_trigger` (a poll trigger without a
//! cursor the host keeps); `find_effect = path` (a function
//! `fn(&mut Context<'_, R>, &Input) -> Result<Option<Output>, ConnectorError>` that tells whether
//! a call whose answer was lost took effect, see [`Method::find_effect`]). The attribute leaves
//! the function as it is and adds a type of the same name (a hidden empty struct, in the type
//! namespace only) that implements [`Method`], the layer underneath, which stays available for
//! methods that need state of their own; [`MethodSet::method`] registers it.
//!
//! Authors write [`Method`]s with real Rust input and output types; the [`MethodSet`] derives each
//! method's descriptor (with JSON Schemas generated from those types) and dispatches JSON calls by
//! id. The host only ever sees descriptors and JSON, which is what lets the same connector run built
//! in or as a plugin.

use std::any::TypeId;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde::{Deserialize as _, Serialize};
use serde_json::{Map, Value};

use crate::error::ConnectorError;
use crate::host::{Host, LogLevel};
use crate::http::{HttpRequest, HttpResponse, StreamedResponse};
use crate::manifest::{
    Cost, EFFECT_LOOKUP_SUFFIX, MethodDescriptor, MethodKind, OutputShape, PollCursor,
};

/// The static facts about a method; the schemas come from its types.
#[derive(Debug, Clone, Copy)]
pub struct MethodInfo {
    /// Id unique within the connector, e.g. `contacts.create`.
    pub id: &'static str,
    /// Display name, e.g. "Create Contact".
    pub name: &'static str,
    /// Group shown to users, plural, e.g. "Contacts". `None` groups the method by its id's
    /// prefix: under the name the set gives that prefix ([`MethodSet::category`]), or else the
    /// prefix in title case (`contact_lists.get` is in "Contact Lists").
    pub category: Option<&'static str>,
    /// One line saying what the method does.
    pub description: &'static str,
    /// Action or poll trigger.
    pub kind: MethodKind,
    /// Whether repeating a call with the same input is harmless.
    pub idempotent: bool,
}

/// A poll trigger's cursor fields, as a method declares them (see [`Method::POLL_CURSOR`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollCursorInfo {
    /// The input field the host passes the stored cursor in.
    pub input: &'static str,
    /// The output field holding the cursor for the next poll.
    pub output: &'static str,
}

/// A method's request cost as it declares it (see [`Method::COST`] and [`crate::Cost`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostInfo {
    /// Records per page of a paged stream.
    pub records_per_page: Option<u32>,
    /// Requests of one call whatever its input and data.
    pub requests: Option<u32>,
    /// The call polls a job until it finishes.
    pub polls: bool,
    /// Methods that get the same records in a fixed number of requests, in calling order.
    pub instead: &'static [&'static str],
}

impl CostInfo {
    /// Nothing stated: one request per call, one per page of a stream.
    pub const UNSTATED: Self = Self {
        records_per_page: None,
        requests: None,
        polls: false,
        instead: &[],
    };
}

/// The record type of methods that return one value and stream nothing.
///
/// It has no values, so such a method cannot emit by mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NoRecords {}

impl JsonSchema for NoRecords {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "NoRecords".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        false.into()
    }
}

/// A connector method with typed input, output and streamed records.
///
/// ```
/// use plugboard_core::{ConnectorError, Context, HttpRequest, Method, MethodInfo, MethodKind, NoRecords};
///
/// /// Input of `ping`.
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct PingInput { echo: String }
///
/// struct Ping;
/// impl Method for Ping {
///     type Input = PingInput;
///     type Output = String;
///     type Record = NoRecords;
///     const INFO: MethodInfo = MethodInfo {
///         id: "ping", name: "Ping", category: Some("Health"),
///         description: "Calls the API's health endpoint.",
///         kind: MethodKind::Action, idempotent: true,
///     };
///     fn call(&self, cx: &mut Context<'_, NoRecords>, input: PingInput) -> Result<String, ConnectorError> {
///         let response = cx.send(HttpRequest::get("/health"))?;
///         Ok(format!("{} {}", input.echo, response.status))
///     }
/// }
/// ```
pub trait Method: Send + Sync + 'static {
    /// What the caller passes; its schema becomes the descriptor's input schema.
    type Input: DeserializeOwned + JsonSchema;
    /// What the call returns when it completes.
    type Output: Serialize + JsonSchema;
    /// What the call streams through [`Context::emit`]; [`NoRecords`] for single-value methods.
    type Record: Serialize + JsonSchema + 'static;
    /// The method's id, name, category and behaviour.
    const INFO: MethodInfo;

    /// Whether [`Method::find_effect`] is implemented (it becomes the descriptor's
    /// `finds_effect`).
    const FINDS_EFFECT: bool = false;

    /// For a poll trigger, where its cursor goes in and comes out (it becomes the descriptor's
    /// `poll_cursor`); the host keeps the cursor between runs only for a method declaring it.
    const POLL_CURSOR: Option<PollCursorInfo> = None;

    /// What a call costs in requests, where the method can say (it becomes the descriptor's
    /// `cost`, which `--dry-run` plans with).
    const COST: CostInfo = CostInfo::UNSTATED;

    /// Runs the method: builds requests, sends them through the context, shapes the output.
    fn call(
        &self,
        cx: &mut Context<'_, Self::Record>,
        input: Self::Input,
    ) -> Result<Self::Output, ConnectorError>;

    /// For a method that is not idempotent: whether an earlier call with this input took effect
    /// although its answer was lost, found through the API (a contact by its email, a list by
    /// its name). `Some(output)`: it did, and `output` is what the call would have returned;
    /// `None`: it did not, so the call may be sent again. Set [`Method::FINDS_EFFECT`] when
    /// implementing it; without it, a lost answer stops the run for a person to decide.
    fn find_effect(
        &self,
        cx: &mut Context<'_, Self::Record>,
        input: &Self::Input,
    ) -> Result<Option<Self::Output>, ConnectorError> {
        let _ = (cx, input);
        Err(ConnectorError::NotImplemented {
            what: format!("finding the effect of a `{}` call", Self::INFO.id),
        })
    }
}

/// What a method can use during a call: the host's services and the connection's non-secret
/// settings, with typed record emission.
pub struct Context<'a, R = NoRecords> {
    host: &'a dyn Host,
    settings: &'a Map<String, Value>,
    emitted: u64,
    _record: PhantomData<fn(R)>,
}

impl<'a, R: Serialize> Context<'a, R> {
    /// A context over a host and the connection's settings (secrets already removed).
    pub fn new(host: &'a dyn Host, settings: &'a Map<String, Value>) -> Self {
        Self {
            host,
            settings,
            emitted: 0,
            _record: PhantomData,
        }
    }

    /// Sends a request through the host; see [`Host::send`].
    pub fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        if self.host.is_cancelled() {
            return Err(ConnectorError::Cancelled);
        }
        self.host.send(request)
    }

    /// Sends a request whose answer's body is read as it arrives; see [`Host::send_streamed`].
    pub fn send_streamed(
        &self,
        request: HttpRequest,
    ) -> Result<StreamedResponse<'a>, ConnectorError> {
        if self.host.is_cancelled() {
            return Err(ConnectorError::Cancelled);
        }
        self.host.send_streamed(request)
    }

    /// Streams one record to the host.
    pub fn emit(&mut self, record: &R) -> Result<(), ConnectorError> {
        let value =
            serde_json::to_value(record).map_err(|e| ConnectorError::UnexpectedResponse {
                message: format!("cannot encode a record as JSON: {e}"),
            })?;
        self.host.emit(value)?;
        self.emitted += 1;
        Ok(())
    }

    /// How many records this call has emitted so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Writes to the run's log.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.host.log(level, message);
    }

    /// Whether the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.host.is_cancelled()
    }

    /// Waits between polls of a long-running job; see [`Host::sleep`].
    pub fn sleep(&self, duration: std::time::Duration) -> Result<(), ConnectorError> {
        self.host.sleep(duration)
    }

    /// The connection's settings as a typed value (secret fields are absent: invariant 2).
    pub fn settings<S: DeserializeOwned>(&self) -> Result<S, ConnectorError> {
        serde_json::from_value(Value::Object(self.settings.clone())).map_err(|e| {
            ConnectorError::InvalidInput {
                message: format!("connection settings: {e}"),
            }
        })
    }
}

/// A method with its types erased, as the method set stores it.
trait ErasedMethod: Send + Sync {
    fn call_json(
        &self,
        host: &dyn Host,
        settings: &Map<String, Value>,
        input: &Value,
    ) -> Result<Value, ConnectorError>;

    /// [`Method::find_effect`] in JSON: the output, or `null` when the call had no effect.
    fn find_effect_json(
        &self,
        host: &dyn Host,
        settings: &Map<String, Value>,
        input: &Value,
    ) -> Result<Value, ConnectorError>;

    /// The category the method names itself, if any ([`MethodInfo::category`]).
    fn named_category(&self) -> Option<&'static str>;
}

fn decode_input<M: Method>(input: &Value) -> Result<M::Input, ConnectorError> {
    // Decoded from the borrowed value: a bulk input of many records is not copied first.
    M::Input::deserialize(input).map_err(|e| ConnectorError::InvalidInput {
        message: format!("input of `{}`: {e}", M::INFO.id),
    })
}

fn encode_output<M: Method>(output: &M::Output) -> Result<Value, ConnectorError> {
    serde_json::to_value(output).map_err(|e| ConnectorError::UnexpectedResponse {
        message: format!("cannot encode the output of `{}` as JSON: {e}", M::INFO.id),
    })
}

struct Typed<M>(M);

impl<M: Method> ErasedMethod for Typed<M> {
    fn named_category(&self) -> Option<&'static str> {
        M::INFO.category
    }

    fn call_json(
        &self,
        host: &dyn Host,
        settings: &Map<String, Value>,
        input: &Value,
    ) -> Result<Value, ConnectorError> {
        let input = decode_input::<M>(input)?;
        let mut cx = Context::new(host, settings);
        let output = self.0.call(&mut cx, input)?;
        encode_output::<M>(&output)
    }

    fn find_effect_json(
        &self,
        host: &dyn Host,
        settings: &Map<String, Value>,
        input: &Value,
    ) -> Result<Value, ConnectorError> {
        let input = decode_input::<M>(input)?;
        let mut cx = Context::new(host, settings);
        match self.0.find_effect(&mut cx, &input)? {
            Some(output) => encode_output::<M>(&output),
            None => Ok(Value::Null),
        }
    }
}

/// All of a connector's methods: their descriptors, and dispatch by id.
///
/// The set is where typed methods become JSON: [`MethodSet::call`] decodes the input, runs the
/// method with a [`Context`] over the host, and encodes the output.
///
/// ```
/// use plugboard_core::{
///     ConnectorError, Context, Host, HttpRequest, HttpResponse, LogLevel, Method, MethodInfo,
///     MethodKind, MethodSet, NoRecords, OutputShape,
/// };
/// use serde_json::{Map, Value, json};
///
/// /// Input of `echo`.
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct EchoInput {
///     text: String,
/// }
///
/// struct Echo;
/// impl Method for Echo {
///     type Input = EchoInput;
///     type Output = String;
///     type Record = NoRecords;
///     const INFO: MethodInfo = MethodInfo {
///         id: "text.echo", name: "Echo", category: Some("Text"),
///         description: "Returns its input.", kind: MethodKind::Action, idempotent: true,
///     };
///     fn call(&self, _cx: &mut Context<'_, NoRecords>, input: EchoInput) -> Result<String, ConnectorError> {
///         Ok(input.text)
///     }
/// }
///
/// /// A host for methods that send nothing.
/// struct Offline;
/// impl Host for Offline {
///     fn send(&self, _: HttpRequest) -> Result<HttpResponse, ConnectorError> {
///         Err(ConnectorError::Transport { message: "offline".into() })
///     }
///     fn emit(&self, _: Value) -> Result<(), ConnectorError> { Ok(()) }
///     fn log(&self, _: LogLevel, _: &str) {}
///     fn is_cancelled(&self) -> bool { false }
///     fn sleep(&self, _: std::time::Duration) -> Result<(), ConnectorError> { Ok(()) }
/// }
///
/// let methods = MethodSet::new().with(Echo);
/// let descriptor = methods.descriptor("text.echo").expect("declared");
/// assert_eq!(descriptor.output, OutputShape::One);
/// assert_eq!(descriptor.input_schema.get("required"), Some(&json!(["text"])));
///
/// let settings = Map::new();
/// let output = methods.call("text.echo", &Offline, &settings, &json!({"text": "hi"}));
/// assert_eq!(output, Ok(json!("hi")));
/// let bad_input = methods.call("text.echo", &Offline, &settings, &json!({"txt": "hi"}));
/// assert!(matches!(bad_input, Err(ConnectorError::InvalidInput { .. })));
/// let unknown = methods.call("text.shout", &Offline, &settings, &json!({}));
/// assert!(matches!(unknown, Err(ConnectorError::UnknownMethod { .. })));
/// ```
pub struct MethodSet {
    entries: Vec<(MethodDescriptor, Box<dyn ErasedMethod>)>,
    /// The names given to id prefixes ([`MethodSet::category`]).
    category_names: Vec<(&'static str, &'static str)>,
}

impl Default for MethodSet {
    fn default() -> Self {
        Self::new()
    }
}

impl MethodSet {
    /// An empty set.
    pub fn new() -> Self {
        Self {
            entries: Vec::new(),
            category_names: Vec::new(),
        }
    }

    /// Names the category of every method whose id starts with `prefix.` and whose
    /// [`MethodInfo::category`] is `None`, before or after it is added: the name is written once
    /// per connector, not on each method. Without it, such a method is grouped under its prefix in
    /// title case.
    ///
    /// ```
    /// # use plugboard_core::{Context, HttpRequest, MethodSet, Result, input, method};
    /// # #[input] pub struct NoInput {}
    /// /// Deletes a campaign.
    /// #[method(id = "emails.delete", name = "Delete Email Campaign")]
    /// pub fn delete(cx: &mut Context<'_>, _input: NoInput) -> Result<()> { Ok(()) }
    ///
    /// let grouped = MethodSet::new().method::<delete>();
    /// assert_eq!(grouped.descriptor("emails.delete").expect("added").category, "Emails");
    /// let named = grouped.category("emails", "Email Campaigns");
    /// assert_eq!(named.descriptor("emails.delete").expect("added").category, "Email Campaigns");
    /// ```
    ///
    /// A method without `category` needs an id with a prefix to be grouped by:
    ///
    /// ```compile_fail
    /// # use plugboard_core::{Context, Result, input, method};
    /// # #[input] pub struct NoInput {}
    /// /// Deletes a campaign.
    /// #[method(id = ".delete", name = "Delete Email Campaign")]
    /// pub fn delete(cx: &mut Context<'_>, _input: NoInput) -> Result<()> { Ok(()) }
    /// ```
    #[must_use]
    pub fn category(mut self, prefix: &'static str, name: &'static str) -> Self {
        self.category_names.retain(|(named, _)| *named != prefix);
        self.category_names.push((prefix, name));
        for (descriptor, method) in &mut self.entries {
            if method.named_category().is_none() && id_prefix(&descriptor.id) == prefix {
                descriptor.category = name.to_owned();
            }
        }
        self
    }

    /// Adds a method.
    ///
    /// # Panics
    /// When a method with the same id is already in the set: that is a bug in the connector, and
    /// failing as soon as its manifest is built is the earliest place to catch it.
    #[must_use]
    pub fn with<M: Method>(mut self, method: M) -> Self {
        assert!(
            self.descriptor(M::INFO.id).is_none(),
            "method id `{}` is declared twice",
            M::INFO.id
        );
        let mut descriptor = describe::<M>();
        if M::INFO.category.is_none() {
            let prefix = id_prefix(M::INFO.id);
            if let Some((_, name)) = self.category_names.iter().find(|(p, _)| *p == prefix) {
                descriptor.category = (*name).to_owned();
            }
        }
        self.entries.push((descriptor, Box::new(Typed(method))));
        self
    }

    /// Adds a method written as a function with [`macro@method`]: `.method::<tags::list>()`.
    ///
    /// # Panics
    /// Like [`with`](Self::with), when a method with the same id is already in the set.
    #[must_use]
    pub fn method<M: Method + Default>(self) -> Self {
        self.with(M::default())
    }

    /// The descriptors, in the order the methods were added.
    pub fn descriptors(&self) -> Vec<MethodDescriptor> {
        self.entries.iter().map(|(d, _)| d.clone()).collect()
    }

    /// The descriptor of one method.
    pub fn descriptor(&self, id: &str) -> Option<&MethodDescriptor> {
        self.entries.iter().map(|(d, _)| d).find(|d| d.id == id)
    }

    /// Calls the method `id` with a JSON input and returns its JSON output. An id ending in
    /// [`EFFECT_LOOKUP_SUFFIX`] asks the method for the effect of such a call instead
    /// ([`Method::find_effect`]; `null` when it had none).
    pub fn call(
        &self,
        id: &str,
        host: &dyn Host,
        settings: &Map<String, Value>,
        input: &Value,
    ) -> Result<Value, ConnectorError> {
        let (method_id, lookup) = match id.strip_suffix(EFFECT_LOOKUP_SUFFIX) {
            Some(method_id) => (method_id, true),
            None => (id, false),
        };
        let (_, method) = self
            .entries
            .iter()
            .find(|(d, _)| d.id == method_id)
            .ok_or_else(|| ConnectorError::UnknownMethod { method: id.into() })?;
        if lookup {
            method.find_effect_json(host, settings, input)
        } else {
            method.call_json(host, settings, input)
        }
    }
}

/// The descriptor of a typed method; schemas are self-contained (definitions inlined at the root).
pub fn describe<M: Method>() -> MethodDescriptor {
    let streams = TypeId::of::<M::Record>() != TypeId::of::<NoRecords>();
    MethodDescriptor {
        id: M::INFO.id.to_owned(),
        name: M::INFO.name.to_owned(),
        category: M::INFO
            .category
            .map_or_else(|| title_case(id_prefix(M::INFO.id)), str::to_owned),
        description: M::INFO.description.to_owned(),
        kind: M::INFO.kind,
        output: if streams {
            OutputShape::Records
        } else {
            OutputShape::One
        },
        idempotent: M::INFO.idempotent,
        input_schema: schemars::schema_for!(M::Input),
        output_schema: schemars::schema_for!(M::Output),
        record_schema: streams.then(|| schemars::schema_for!(M::Record)),
        finds_effect: M::FINDS_EFFECT,
        poll_cursor: M::POLL_CURSOR.map(|cursor| PollCursor {
            input: cursor.input.to_owned(),
            output: cursor.output.to_owned(),
        }),
        cost: Cost {
            records_per_page: M::COST.records_per_page,
            requests: M::COST.requests,
            polls: M::COST.polls,
            instead: M::COST.instead.iter().map(|id| (*id).to_owned()).collect(),
        },
    }
}

/// An id's category prefix: what comes before its first `.` (`contact_lists` of
/// `contact_lists.get`), or the whole id.
fn id_prefix(id: &str) -> &str {
    id.split_once('.').map_or(id, |(prefix, _)| prefix)
}

/// `contact_lists` → "Contact Lists".
fn title_case(prefix: &str) -> String {
    let words: Vec<String> = prefix
        .split('_')
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        })
        .collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;
    use crate::method;

    /// Answers every request with `{"n": 1}` and keeps what is emitted.
    #[derive(Default)]
    struct Recorder {
        emitted: Mutex<Vec<Value>>,
    }

    impl Host for Recorder {
        fn send(&self, _: HttpRequest) -> Result<HttpResponse, ConnectorError> {
            Ok(HttpResponse::json(200, &json!({"n": 1})))
        }
        fn emit(&self, record: Value) -> Result<(), ConnectorError> {
            self.emitted.lock().expect("not poisoned").push(record);
            Ok(())
        }
        fn log(&self, _: LogLevel, _: &str) {}
        fn is_cancelled(&self) -> bool {
            false
        }
        fn sleep(&self, _: std::time::Duration) -> Result<(), ConnectorError> {
            Ok(())
        }
    }

    /// Input of the test methods.
    #[derive(serde::Deserialize, JsonSchema)]
    struct Times {
        times: u64,
    }

    /// Streams `times` numbers
    /// and returns how many.
    ///
    /// Not part of the description.
    #[method(
        id = "numbers.stream",
        name = "Stream Numbers",
        category = "Numbers",
        poll(cursor = "times", next = "never"),
        cost(per_page = 2 * 50, instead = ["numbers.create", "numbers.export"])
    )]
    fn stream(cx: &mut Context<'_, u64>, input: Times) -> Result<u64, ConnectorError> {
        for n in 0..input.times {
            cx.emit(&n)?;
        }
        Ok(cx.emitted())
    }

    /// Creates a number.
    #[method(id = "numbers.create", name = "Create Number", find_effect = find)]
    fn create(cx: &mut Context<'_>, input: Times) -> Result<i64, ConnectorError> {
        let body: Value = cx.send(HttpRequest::post("/numbers"))?.decode()?;
        Ok(body["n"].as_i64().unwrap_or_default() * i64::try_from(input.times).unwrap_or(0))
    }

    fn find(_: &mut Context<'_>, input: &Times) -> Result<Option<i64>, ConnectorError> {
        Ok((input.times == 7).then_some(7))
    }

    #[test]
    fn a_function_becomes_a_method_with_its_doc_comment_as_description() {
        let methods = MethodSet::new().method::<stream>().method::<create>();
        let streaming = methods.descriptor("numbers.stream").expect("registered");
        assert_eq!(
            streaming.description,
            "Streams `times` numbers and returns how many."
        );
        assert_eq!(streaming.kind, MethodKind::PollTrigger);
        let cursor = streaming.poll_cursor.as_ref().expect("declared");
        assert_eq!(
            (cursor.input.as_str(), cursor.output.as_str()),
            ("times", "never")
        );
        // `Output` is an integer: it has no field `never`, which registration refuses.
        let problem = streaming.poll_cursor_problem().expect("a problem");
        assert!(problem.contains("output field `never`"), "{problem}");
        assert_eq!(streaming.output, OutputShape::Records);
        assert!(!streaming.idempotent);
        assert_eq!(
            streaming.record_schema.as_ref().and_then(|s| s.get("type")),
            Some(&json!("integer"))
        );
        let creating = methods.descriptor("numbers.create").expect("registered");
        assert_eq!(creating.output, OutputShape::One);
        assert!(creating.finds_effect);
        assert_eq!(creating.name, "Create Number");
        assert_eq!(creating.category, "Numbers");
    }

    #[test]
    fn a_declared_cost_reaches_the_descriptor_and_a_missing_alternative_is_found() {
        let methods = MethodSet::new().method::<stream>().method::<create>();
        let all: Vec<MethodDescriptor> = ["numbers.stream", "numbers.create"]
            .iter()
            .filter_map(|id| methods.descriptor(id).cloned())
            .collect();
        let streaming = &all[0];
        assert_eq!(
            streaming.cost,
            Cost {
                records_per_page: Some(100),
                requests: None,
                polls: false,
                instead: vec!["numbers.create".into(), "numbers.export".into()],
            }
        );
        let problem = streaming.cost_problem(&all).expect("a problem");
        assert!(problem.contains("`numbers.export`"), "{problem}");
        // A method that states nothing has an unstated cost, left out of its manifest.
        assert!(all[1].cost.is_unstated());
        assert_eq!(all[1].cost_problem(&all), None);
        let manifest = serde_json::to_value(&all[1]).expect("serializable");
        assert!(manifest.get("cost").is_none(), "{manifest}");
    }

    #[test]
    fn the_function_stays_a_function_and_its_name_a_free_name() {
        let host = Recorder::default();
        let settings = Map::new();
        let mut cx = Context::new(&host, &settings);
        assert_eq!(stream(&mut cx, Times { times: 2 }), Ok(2));
        // A local of the method's name is a binding, not a pattern matching the method.
        let create = 5;
        assert_eq!(create, 5);
    }

    #[test]
    fn calls_and_effect_lookups_reach_the_function() {
        let methods = MethodSet::new().method::<stream>().method::<create>();
        let host = Recorder::default();
        let settings = Map::new();
        assert_eq!(
            methods.call("numbers.stream", &host, &settings, &json!({"times": 3})),
            Ok(json!(3))
        );
        assert_eq!(
            *host.emitted.lock().expect("not poisoned"),
            [json!(0), json!(1), json!(2)]
        );
        assert_eq!(
            methods.call("numbers.create", &host, &settings, &json!({"times": 2})),
            Ok(json!(2))
        );
        let lookup = format!("numbers.create{EFFECT_LOOKUP_SUFFIX}");
        assert_eq!(
            methods.call(&lookup, &host, &settings, &json!({"times": 7})),
            Ok(json!(7))
        );
        assert_eq!(
            methods.call(&lookup, &host, &settings, &json!({"times": 1})),
            Ok(Value::Null)
        );
        let streaming_lookup = format!("numbers.stream{EFFECT_LOOKUP_SUFFIX}");
        assert!(matches!(
            methods.call(&streaming_lookup, &host, &settings, &json!({"times": 1})),
            Err(ConnectorError::NotImplemented { .. })
        ));
    }
}
