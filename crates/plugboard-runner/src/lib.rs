//! The plugboard host.
//!
//! Everything a connector must not do itself lives here (invariant 1): finding and loading
//! connectors, and answering their calls through the [`Host`](plugboard_core::Host) trait.
//!
//! - [`registry`]: built-in connectors (`inventory`) and plugin files, with per-file load errors.
//! - [`plugins`]: opening a shared library and checking its declaration.
//! - [`host`]: the [`Host`](plugboard_core::Host) implementation connectors call back into.

pub mod host;
pub mod plugins;
pub mod registry;

pub use host::RunnerHost;
pub use plugins::{LoadError, load_plugin};
pub use registry::{ConnectorSource, RegisteredConnector, Registry};
