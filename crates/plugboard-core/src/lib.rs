//! The plugboard connector contract.
//!
//! This crate is what a connector author depends on, and all a plugin shares with its host: plain
//! data types, traits and the plugin ABI. It does no I/O and needs no async runtime (invariant 1:
//! the host owns the network, credentials, limits and retries).
//!
//! - [`Manifest`], [`AuthSpec`], [`RateLimit`], [`MethodDescriptor`]: what a connector declares.
//! - [`settings`]: partner-level and per-connection settings, secrets, merge and validation.
//! - [`macro@method`], [`Method`], [`MethodSet`], [`Context`]: methods written as functions of a
//!   context and a typed input ([`macro@input`]: unknown fields refused; [`macro@choice`]: a
//!   field's set of values), erased for the host.
//! - [`rest`]: the toolkit of REST connectors: error mapping, paging, items, path segments.
//! - [`macro@output`], [`Unnamed`]: output types that keep every field of the API object they
//!   hold, named or not (invariant 7).
//! - [`Host`], [`HttpRequest`], [`HttpResponse`], [`ConnectorError`]: what a method may ask for.
//! - [`Connector`], [`ConnectorDefinition`], [`register_connector!`], [`export_connector!`]: how a
//!   connector is defined, registered as a built-in and exported as a plugin.
//! - [`plugin`]: the versioned C ABI between a host and a plugin.
//!
//! An input type refuses unknown fields, so it cannot flatten another type into itself (serde
//! would then refuse every input); `#[input]` says so at compile time:
//!
//! ```compile_fail
//! # use plugboard_core::input;
//! # #[derive(Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
//! # struct Email { subject: String }
//! #[input]
//! struct UpdateInput {
//!     id: String,
//!     #[serde(flatten)]
//!     email: Email,
//! }
//! ```
//!
//! Nor can a [`macro@choice`] hold data: each variant is one value of the field.
//!
//! ```compile_fail
//! # use plugboard_core::choice;
//! #[choice]
//! enum Period {
//!     Day,
//!     Days(u32),
//! }
//! ```

pub mod auth;
pub mod connector;
pub mod error;
pub mod host;
pub mod http;
pub mod manifest;
pub mod method;
pub mod plugin;
pub mod rate_limit;
pub mod rest;
pub mod settings;
pub mod unnamed;

// Lets `#[method]`, which names `::plugboard_core`, be used inside this crate's own tests.
#[cfg(test)]
extern crate self as plugboard_core;

pub use auth::{
    ApiKeyAuth, ApiKeyPlacement, AuthSelectionError, AuthSpec, BasicAuth, ClientAuth,
    OAuth2AuthorizationCode, OAuth2SettingsFields, RefreshBehaviour, SelectedAuth,
};
pub use connector::{
    Connector, ConnectorDefinition, DefinedConnector, Invocation, Registration,
    builtin_registrations,
};
pub use error::{ApiErrorDetail, ConnectorError, Result};
pub use host::{Host, LogLevel, sleep_unless_cancelled};
pub use http::{
    FormPart, HttpMethod, HttpRequest, HttpResponse, MAX_READ_WHOLE_BYTES, PartContent,
    RequestAuth, RequestBody, StreamedResponse, body_error,
};
pub use manifest::{
    BaseUrlError, Cost, EFFECT_LOOKUP_SUFFIX, Manifest, MethodDescriptor, MethodKind, OutputShape,
    PollCursor,
};
pub use method::{Context, CostInfo, Method, MethodInfo, MethodSet, NoRecords, PollCursorInfo};
pub use plugboard_macros::{choice, input, method, output};
pub use rate_limit::{LimitScope, RateLimit, ResetRule, SettingLimit, Window};
pub use unnamed::Unnamed;

#[doc(hidden)]
pub use inventory;
