//! The multi-tenant HTTP service behind `plugboard serve`.
//!
//! Routes live under `/v1`, one module per resource. Who may do what is decided by extractors
//! ([`auth::Admin`], [`auth::TenantScope`]) so a handler cannot forget it: a handler that takes a
//! `TenantScope` only ever sees the tenant its caller is allowed to see.
#![forbid(unsafe_code)]

pub mod auth;
pub mod error;
pub mod store;
pub mod tenants;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;

pub use error::ApiError;
pub use store::{ServiceStore, SqliteServiceStore, StoreError};

/// Requests larger than this are refused with 413: no resource of this API needs more.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// What every handler shares.
pub struct Service {
    /// The service's own records (tenants, key hashes).
    pub store: Arc<dyn ServiceStore>,
    /// The externally visible base URL (for redirect URIs), without a trailing slash.
    pub public_url: String,
}

/// The whole API, ready to be served.
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .nest("/v1", tenants::routes())
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .with_state(service)
}
