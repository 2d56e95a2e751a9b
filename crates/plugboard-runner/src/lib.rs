//! The plugboard host.
//!
//! Everything a connector must not do itself lives here (invariant 1): finding and loading
//! connectors, sending their HTTP (auth, refresh, limits, retries), and keeping state.
//!
//! - [`registry`]: built-in connectors (`inventory`) and plugin files, with per-file load errors.
//! - [`plugins`]: opening a shared library and checking its declaration.
//! - [`host`]: the [`Host`](plugboard_core::Host) implementation connectors call back into.
//! - [`store`]: the state store's role traits ([`StateStore`] is all of them), the limiter and
//!   lease rules every backend shares, and the embedded SQLite implementation.
//! - [`executor`]: the HTTP executor: allow-list, rate limits, credentials, retries.
//! - [`oauth`]: token refresh serialized across threads and processes (invariant 6).
//! - [`connect`]: the authorization-code flow with a loopback callback.
//! - [`session`]: [`Session::call`], what the CLI and the workflow engine use.
//! - [`settings`]: partner and connection settings merged and validated (host-side JSON Schema).
//! - [`workflow`]: the workflow engine's traits over a session and its store (runs, resume,
//!   trigger cursors, dry-run probes).
//! - [`cancel`], [`clock`]: cancellation and a replaceable clock.

mod body;
pub mod cancel;
pub mod clock;
pub mod connect;
pub mod executor;
pub mod host;
pub mod oauth;
pub mod plugins;
pub mod registry;
pub mod session;
pub mod settings;
pub mod store;
mod workers;
pub mod workflow;

pub use cancel::Cancellation;
pub use clock::{Clock, ManualClock, SystemClock};
pub use connect::{Begun, ConnectError, ConnectOptions, PendingAuthorization};
pub use executor::{ConnectionContext, Executor, ExecutorConfig, ExecutorError};
pub use host::RunnerHost;
pub use plugins::{LoadError, load_plugin};
pub use registry::{ConnectorSource, RegisteredConnector, Registry};
pub use session::{PreparedConnection, Session};
pub use store::{
    ConnectionRecord, ConnectionStore, Endpoints, LimitStore, RunId, RunRecord, RunStatus,
    RunStore, SqliteStore, StateStore, StoreError, StoreFuture, TokenSet, TokenStore,
    VersionedTokens,
};
