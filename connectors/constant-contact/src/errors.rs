//! Turning Constant Contact responses into typed errors.
//!
//! The API answers errors with an array of `{error_key, error_message}`, except for authorization and
//! rate-limit errors, which come as a single object. Both are kept in the API's own words.

use plugboard_core::{ApiErrorDetail, ConnectorError, HttpResponse};
use serde::Deserialize;

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error_key: String,
    #[serde(default)]
    error_message: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorBodies {
    Many(Vec<ErrorBody>),
    One(ErrorBody),
}

/// The API's error details from a response body; empty when the body has none.
fn details(response: &HttpResponse) -> Vec<ApiErrorDetail> {
    let bodies = match serde_json::from_str::<ErrorBodies>(&response.body) {
        Ok(ErrorBodies::Many(bodies)) => bodies,
        Ok(ErrorBodies::One(body)) => vec![body],
        Err(_) => Vec::new(),
    };
    bodies
        .into_iter()
        .filter(|b| !b.error_key.is_empty() || !b.error_message.is_empty())
        .map(|b| ApiErrorDetail {
            key: b.error_key,
            message: b.error_message,
        })
        .collect()
}

/// Passes 2xx responses through and turns every other status into the matching error.
pub(crate) fn check(response: HttpResponse) -> Result<HttpResponse, ConnectorError> {
    if response.is_success() {
        return Ok(response);
    }
    let errors = details(&response);
    Err(match response.status {
        401 => ConnectorError::Unauthorized {
            message: errors
                .first()
                .map(|e| e.message.clone())
                .unwrap_or_else(|| "the access token was refused".to_owned()),
        },
        // Both limits answer 429; only the body tells a daily quota from a per-second throttle.
        429 if errors.iter().any(|e| e.key == "quota_exceeded") => {
            ConnectorError::QuotaExhausted { resets_at: None }
        }
        429 => ConnectorError::RateLimited {
            retry_after_ms: None,
        },
        status => ConnectorError::Api { status, errors },
    })
}

/// Like [`check`], for requests that create something: a 409 there means the thing (e.g. a contact
/// with that email address, a list or tag with that name) already exists.
pub(crate) fn check_create(
    response: HttpResponse,
    what: &str,
) -> Result<HttpResponse, ConnectorError> {
    if response.status != 409 {
        return check(response);
    }
    // The API's words are quoted as its own, so its "… already exists." does not read as the
    // message repeating itself.
    let messages: Vec<String> = details(&response)
        .into_iter()
        .map(|e| {
            if e.key.is_empty() {
                format!("\"{}\"", e.message)
            } else {
                format!("\"{}\" ({})", e.message, e.key)
            }
        })
        .collect();
    Err(ConnectorError::AlreadyExists {
        message: if messages.is_empty() {
            format!("{what} already exists (HTTP 409)")
        } else {
            format!(
                "{what} already exists; the API says {}",
                messages.join("; ")
            )
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn array_bodies_keep_every_api_message() {
        let response = HttpResponse::json(
            400,
            &json!([
                {"error_key": "contacts.api.validation", "error_message": "email_address is required"},
                {"error_key": "contacts.api.validation", "error_message": "list_memberships is required"}
            ]),
        );
        let ConnectorError::Api { status, errors } = check(response).expect_err("an error") else {
            panic!("expected an API error");
        };
        assert_eq!(status, 400);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[1].message, "list_memberships is required");
    }

    #[test]
    fn the_two_429_bodies_map_to_different_errors() {
        let throttled = HttpResponse::json(
            429,
            &json!({"error_key": "throttled", "error_message": "Too Many Requests"}),
        );
        let quota = HttpResponse::json(
            429,
            &json!({"error_key": "quota_exceeded", "error_message": "Limit Exceeded"}),
        );
        assert!(matches!(
            check(throttled),
            Err(ConnectorError::RateLimited { .. })
        ));
        assert!(matches!(
            check(quota),
            Err(ConnectorError::QuotaExhausted { .. })
        ));
    }

    #[test]
    fn a_conflict_on_create_is_already_exists_with_the_api_message() {
        let response = HttpResponse::json(
            409,
            &json!([{"error_key": "contacts.api.conflict", "error_message": "Email already exists"}]),
        );
        let error = check_create(response, "a contact with this email address").expect_err("409");
        assert_eq!(
            error,
            ConnectorError::AlreadyExists {
                message: "a contact with this email address already exists; the API says \
                          \"Email already exists\" (contacts.api.conflict)"
                    .into()
            }
        );
    }

    #[test]
    fn unauthorized_keeps_the_api_message() {
        let response = HttpResponse::json(
            401,
            &json!({"error_key": "unauthorized", "error_message": "Unauthorized"}),
        );
        assert_eq!(
            check(response).expect_err("401"),
            ConnectorError::Unauthorized {
                message: "Unauthorized".into()
            }
        );
    }
}
