//! The multi-tenant HTTP service behind `plugboard serve`.
//!
//! Routes live under `/v1`, one module per resource. Who may do what is decided by extractors
//! ([`auth::Admin`], [`auth::TenantScope`]) so a handler cannot forget it: a handler that takes a
//! `TenantScope` only ever sees the tenant its caller is allowed to see.
#![forbid(unsafe_code)]

pub mod apps;
pub mod auth;
pub mod connections;
pub mod error;
pub mod install_store;
pub mod names;
pub mod openapi;
pub mod page_sessions;
pub mod pages;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod runs;
pub mod schedule_store;
pub mod schedules;
pub mod store;
pub mod tenants;
pub mod workflow_store;
pub mod workflows;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use plugboard_runner::{Endpoints, Session};

pub use error::ApiError;
pub use schedule_store::{ScheduleStore, SqliteScheduleStore};
pub use store::{ServiceStore, SqliteServiceStore, StoreError};
pub use workflow_store::{SqliteWorkflowStore, WorkflowStore};

/// Requests larger than this are refused with 413: no resource of this API needs more.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// What every handler shares.
pub struct Service {
    /// The service's own records (tenants, key hashes).
    pub store: Arc<dyn ServiceStore>,
    /// The externally visible base URL (for redirect URIs), without a trailing slash.
    pub public_url: String,
    /// The runner: connectors, the state store (partner settings, connections, tokens, limits,
    /// journal) and the HTTP executor. Its calls block: handlers run them on
    /// `tokio::task::spawn_blocking`, never on a runtime worker.
    pub runner: Session,
    /// Endpoint overrides per connector id, given to every connection installed for it (the
    /// sandbox, under `plugboard serve --sandbox`); empty in production.
    pub endpoints: BTreeMap<String, Endpoints>,
    /// Deployed workflows, the service's runs and their events.
    pub workflows: Arc<dyn WorkflowStore>,
    /// Schedules and their next fire times.
    pub schedules: Arc<dyn ScheduleStore>,
    /// The runs this process is executing.
    pub live_runs: runs::LiveRuns,
    /// How long an install's `state` and a connect link stay valid.
    pub install_expiry: Duration,
    /// The cluster runs execute on (`serve --temporal`); `None`: in this process.
    pub remote: Option<Arc<dyn runs::remote::RemoteRuns>>,
}

impl Service {
    /// The name under which tenant `tenant`'s connection `name` is kept in the runner's store.
    /// Tenant ids hold no `/`, so two tenants' names never meet, and a workflow run for a tenant
    /// is given only names under its own prefix.
    pub fn runner_connection_name(tenant: &str, name: &str) -> String {
        format!("{tenant}/{name}")
    }

    /// The hosted OAuth callback: what to register with the provider as the redirect URI.
    pub fn callback_url(&self) -> String {
        format!("{}{}", self.public_url, connections::CALLBACK_PATH)
    }
}

/// The whole API, ready to be served.
pub fn router(service: Arc<Service>) -> Router {
    // The `/v1` routes come with their OpenAPI entries (see [`openapi`]); the document itself
    // is built from the same list by `openapi::document`.
    let (api, _document) = openapi::api().split_for_parts();
    Router::new()
        .merge(api)
        .merge(connections::callback_routes())
        .merge(pages::routes())
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .with_state(service)
}
