//! Tenant ids, connection names and workflow names: they appear in routes and in the runner's
//! connection names (`{tenant}/{name}`), so they hold only letters, digits, `-` and `_` (never a
//! `/`, which keeps one tenant's names out of another's prefix).

use axum::http::StatusCode;

use crate::error::ApiError;

/// The longest id or name accepted.
pub const MAX_CHARS: usize = 64;

/// Checks `value`; the error (422 `code`) says what `subject` must be.
pub fn check(value: &str, code: &'static str, subject: &str) -> Result<(), ApiError> {
    let valid = !value.is_empty()
        && value.chars().count() <= MAX_CHARS
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            format!("{subject} must be 1 to {MAX_CHARS} letters, digits, `-` or `_`"),
        ))
    }
}
