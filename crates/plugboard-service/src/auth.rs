//! API keys and who may call what.
//!
//! A key is 256 random bits, shown once; only its SHA-256 is stored. Extractors decide access
//! before a handler runs: [`Admin`] for admin routes, [`TenantScope`] for `/tenants/{tenant}/…`
//! routes, so isolation does not depend on each handler remembering it.

use std::sync::Arc;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sha2::{Digest as _, Sha256};

use crate::Service;
use crate::error::ApiError;
use crate::store::KeyOwner;

/// Every key starts with this, so a leaked one is recognisable in a scan.
const KEY_PREFIX: &str = "pbk_";

/// The operating system gave no random bytes.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random generator failed: {0}")]
pub struct NoRandomness(String);

/// A new random key (`pbk_` + 64 hex digits).
pub fn generate_key() -> Result<String, NoRandomness> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| NoRandomness(e.to_string()))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{KEY_PREFIX}{hex}"))
}

/// The stored form of a key.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Compares two hashes in constant time (for equal lengths).
pub fn same_hash(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whoever presented a valid key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub KeyOwner);

impl FromRequestParts<Arc<Service>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<Service>,
    ) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        match service.store.key_owner(hash_key(key)).await? {
            Some(owner) => Ok(Self(owner)),
            None => Err(ApiError::unauthorized()),
        }
    }
}

/// The admin key was presented.
pub struct Admin;

impl FromRequestParts<Arc<Service>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<Service>,
    ) -> Result<Self, Self::Rejection> {
        match Caller::from_request_parts(parts, service).await?.0 {
            KeyOwner::Admin => Ok(Self),
            KeyOwner::Tenant(_) => Err(ApiError::admin_only()),
        }
    }
}

/// The `{tenant}` of the route, checked: it exists, and the caller is the admin or that
/// tenant. Another tenant's key gets the same 404 as a tenant that does not exist.
pub struct TenantScope {
    /// The tenant's id.
    pub tenant: String,
    /// Whether the admin key was used.
    pub by_admin: bool,
}

impl FromRequestParts<Arc<Service>> for TenantScope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<Service>,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, service).await?;
        let params = RawPathParams::from_request_parts(parts, service)
            .await
            .map_err(|_| ApiError::not_found("tenant"))?;
        let tenant = params
            .iter()
            .find(|(name, _)| *name == "tenant")
            .map(|(_, value)| value.to_owned())
            .ok_or_else(|| ApiError::not_found("tenant"))?;
        let by_admin = match caller.0 {
            KeyOwner::Admin => true,
            KeyOwner::Tenant(own) if own == tenant => false,
            KeyOwner::Tenant(_) => return Err(ApiError::not_found("tenant")),
        };
        if service.store.tenant(tenant.clone()).await?.is_none() {
            return Err(ApiError::not_found("tenant"));
        }
        Ok(Self { tenant, by_admin })
    }
}
