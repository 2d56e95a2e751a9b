//! Tests for connector authors: run a connector's methods against a local server, record what
//! went over the wire into readable cassettes, and replay them offline, deterministically, with a
//! fake clock.
//!
//! A connector never does I/O: it sends [`HttpRequest`](plugboard_core::HttpRequest)s through the
//! [`Host`](plugboard_core::Host) it is given. So testing one is choosing a host:
//!
//! - [`ReplayHost`]: answers from a [`Cassette`] (a JSON file of request/response pairs). Waits
//!   return at once on a [`FakeClock`] and are recorded. A request that is not in the cassette
//!   fails the call with an error naming it and the closest entry;
//!   [`ReplayHost::assert_all_used`] fails a test that left entries unused.
//! - [`SessionHost`] (from a [`LiveConnection`]): sends through the runner's real executor (auth,
//!   refresh, limits, retries) to a sandbox or any local server.
//! - [`CassetteServer`]: serves a cassette over HTTP on 127.0.0.1, a local stand-in for an API
//!   that cannot run on the test's machine, for testing the live path and recording in CI.
//! - [`RecordingHost`]: wraps a live host and writes what it saw as a cassette, with every secret
//!   scrubbed by a [`Scrubber`]: secret settings, tokens, `Authorization`/`Cookie`/`Set-Cookie`
//!   headers, and token-looking fields anywhere in bodies and query strings.
//!
//! [`Harness`] runs one method through any of them and returns a [`Run`] (output, records,
//! requests, logs, waits); [`assert_run_snapshot!`] and [`assert_requests_snapshot!`] pin a run
//! with insta.
//!
//! Every call the harness runs is checked for conformance: its output must validate against the
//! method's declared `output_schema` and each record against its `record_schema`, or the test
//! fails naming the method, the JSON pointer and the schema rule. [`assert_conforms`] makes the
//! same check for calls made some other way (see [`conformance`]).
//!
//! A typical replay test:
//!
//! ```no_run
//! use plugboard_testkit::{Harness, ReplayHost};
//! # struct MyConnector;
//! # impl plugboard_core::ConnectorDefinition for MyConnector {
//! #     type Settings = serde_json::Value;
//! #     const ID: &'static str = "x"; const NAME: &'static str = "x"; const VERSION: &'static str = "0";
//! #     const DESCRIPTION: &'static str = "x"; const BASE_URL: &'static str = "https://x";
//! #     fn auth() -> plugboard_core::AuthSpec { plugboard_core::AuthSpec::None }
//! #     fn methods() -> plugboard_core::MethodSet { plugboard_core::MethodSet::new() }
//! # }
//!
//! let harness = Harness::of::<MyConnector>();
//! let host = ReplayHost::load("tests/cassettes/list_things.json").expect("a cassette");
//! let run = harness.call(&host, "things.list", serde_json::json!({}));
//! assert_eq!(run.records.len(), 120);
//! plugboard_testkit::assert_requests_snapshot!(run);
//! host.assert_all_used();
//! ```
//!
//! Recording the same scenario against a local server (see `connectors/constant-contact/tests/replay.rs`
//! for a complete example with the Constant Contact sandbox):
//!
//! ```no_run
//! # fn setup() -> plugboard_testkit::LiveSetup { unimplemented!() }
//! # let connector: std::sync::Arc<dyn plugboard_core::Connector> = unimplemented!();
//! use plugboard_testkit::{Harness, LiveConnection, RecordingHost};
//!
//! let live = LiveConnection::install(connector.clone(), setup()).expect("installed");
//! let recorder = RecordingHost::new(live.host());
//! let run = Harness::new(connector).call(&recorder, "things.list", serde_json::json!({}));
//! run.ok();
//! let mut cassette = recorder
//!     .cassette("list_things", &live.scrubber().expect("secrets"))
//!     .expect("scrubbed");
//! cassette.recorded_at = Some(plugboard_testkit::cassette::today_utc());
//! cassette.save("tests/cassettes/list_things.json").expect("written");
//! ```

pub mod cassette;
pub mod clock;
pub mod conformance;
pub mod harness;
pub mod live;
pub mod plugin;
pub mod record;
pub mod replay;
pub mod scrub;
pub mod serve;

use std::path::PathBuf;

pub use cassette::{Cassette, Interaction, Outcome, RecordedResponse};
pub use clock::FakeClock;
pub use conformance::{Nonconformance, Nonconformity, assert_conforms};
pub use harness::{Harness, RequestView, Run, RunSnapshot};
pub use live::{LiveConnection, LiveSetup, SessionHost};
/// Where a live connection sends (its API root, and OAuth2's endpoints): the local server.
pub use plugboard_runner::Endpoints;
/// The host's settings resolution (partner and connection values merged and validated), so a
/// connector's tests can check its settings schema the way `plugboard connect` will use it.
pub use plugboard_runner::settings::{SettingsError, resolve as resolve_settings};
pub use plugin::build_plugin;
pub use record::RecordingHost;
pub use replay::ReplayHost;
pub use scrub::{SCRUBBED, Scrubber};
pub use serve::CassetteServer;

#[doc(hidden)]
pub use insta;

/// What can go wrong in the kit itself (as opposed to in the connector under test).
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// A cassette file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A cassette is not valid cassette JSON.
    #[error("invalid cassette{}: {message}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Format {
        /// The file, when the cassette came from one.
        path: Option<PathBuf>,
        /// What is wrong.
        message: String,
    },
    /// A build with cargo failed (see the compiler output it printed).
    #[error("build: {message}")]
    Build {
        /// What failed.
        message: String,
    },
    /// A built plugin did not load.
    #[error("plugin: {message}")]
    Plugin {
        /// Why (the loader's error, naming the file).
        message: String,
    },
    /// A cassette server could not start.
    #[error("cassette server: {message}")]
    Serve {
        /// What failed.
        message: String,
    },
    /// A live connection could not be set up (store, executor, settings).
    #[error("live connection: {message}")]
    Live {
        /// What failed (never with a secret: the runner's errors carry none).
        message: String,
    },
}

/// Snapshots a [`Run`] (requests, waits, output or error, logs, record count) with insta.
///
/// `assert_run_snapshot!(run)` or `assert_run_snapshot!("name", run)`. Values that change at
/// every recording (an id the server makes, a time) are redacted with insta's selectors, so a
/// re-recorded cassette keeps the snapshot:
/// `assert_run_snapshot!("name", run, {".output.created_at" => "[time]"})`.
#[macro_export]
macro_rules! assert_run_snapshot {
    ($run:expr $(,)?) => {
        $crate::insta::assert_json_snapshot!($run.snapshot())
    };
    ($run:expr, {$($selector:expr => $replacement:expr),* $(,)?} $(,)?) => {
        $crate::insta::assert_json_snapshot!($run.snapshot(), {$($selector => $replacement),*})
    };
    ($name:expr, $run:expr $(,)?) => {
        $crate::insta::assert_json_snapshot!($name, $run.snapshot())
    };
    ($name:expr, $run:expr, {$($selector:expr => $replacement:expr),* $(,)?} $(,)?) => {
        $crate::insta::assert_json_snapshot!(
            $name,
            $run.snapshot(),
            {$($selector => $replacement),*}
        )
    };
}

/// Snapshots the requests of a [`Run`] with insta: the part of a call a connector change most
/// often changes.
///
/// `assert_requests_snapshot!(run)` or `assert_requests_snapshot!("name", run)`, with redactions
/// as in [`assert_run_snapshot!`]: `assert_requests_snapshot!(run, {"[].body.value.id" => "[id]"})`.
#[macro_export]
macro_rules! assert_requests_snapshot {
    ($run:expr $(,)?) => {
        $crate::insta::assert_json_snapshot!($run.requests_snapshot())
    };
    ($run:expr, {$($selector:expr => $replacement:expr),* $(,)?} $(,)?) => {
        $crate::insta::assert_json_snapshot!(
            $run.requests_snapshot(),
            {$($selector => $replacement),*}
        )
    };
    ($name:expr, $run:expr $(,)?) => {
        $crate::insta::assert_json_snapshot!($name, $run.requests_snapshot())
    };
    ($name:expr, $run:expr, {$($selector:expr => $replacement:expr),* $(,)?} $(,)?) => {
        $crate::insta::assert_json_snapshot!(
            $name,
            $run.requests_snapshot(),
            {$($selector => $replacement),*}
        )
    };
}
