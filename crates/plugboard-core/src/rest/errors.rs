//! Turning an API's error responses into typed errors, declared once per connector.
//!
//! Every REST API answers errors with a status and a body in its own format. The host decides
//! what to do from the [`ConnectorError`] variant alone (refresh on `Unauthorized`, wait on
//! `RateLimited`, stop on `QuotaExhausted`, stop a create on `AlreadyExists`), so getting the
//! variant right matters more than anything else a connector does with an error. An
//! [`ErrorMapping`] says where the API writes its error details and which statuses (and error
//! keys) mean what; the defaults fit most APIs: 401 is `Unauthorized`, 429 `RateLimited`, and
//! every other error status is `Api` with the API's own details.

use serde_json::Value;

use crate::error::{ApiErrorDetail, ConnectorError};
use crate::http::HttpResponse;

/// The error body text an error keeps at most: enough for any API's error document, bounded
/// so a huge HTML error page cannot swamp a run's journal.
pub const MAX_ERROR_BODY: usize = 16 * 1024;

/// Where an API writes the details of an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorDetails {
    /// Objects with a key field and a message field (`{"error_key": .., "error_message": ..}`),
    /// alone or in an array, at the top of the body or in the array at `under`.
    Fields {
        /// The field holding the machine-readable key, e.g. `error_key` or `code`.
        key: String,
        /// The field holding the human-readable message, e.g. `error_message`.
        message: String,
        /// Where the objects are, when not at the top (e.g. `errors`); see
        /// [`value_at`](crate::rest::value_at).
        under: Option<String>,
    },
    /// The body text itself, cut at [`MAX_ERROR_BODY`] bytes, as one detail with key `body`: for
    /// APIs with no error format (or a connector that cannot know it).
    Body,
}

impl ErrorDetails {
    /// Objects with these key and message fields, alone or in an array, at the top of the body.
    pub fn fields(key: &str, message: &str) -> Self {
        Self::Fields {
            key: key.to_owned(),
            message: message.to_owned(),
            under: None,
        }
    }

    /// The same objects, found in the array at `path` instead of at the top (e.g. `errors`, or
    /// `error.details`; see [`value_at`](crate::rest::value_at)). No effect on [`ErrorDetails::Body`].
    ///
    /// ```
    /// # use plugboard_core::rest::ErrorDetails;
    /// let details = ErrorDetails::fields("code", "message").under("errors");
    /// assert!(matches!(details, ErrorDetails::Fields { under: Some(ref at), .. } if at == "errors"));
    /// ```
    #[must_use]
    pub fn under(self, path: &str) -> Self {
        match self {
            Self::Fields { key, message, .. } => Self::Fields {
                key,
                message,
                under: Some(path.to_owned()),
            },
            Self::Body => Self::Body,
        }
    }

    /// The details of an error response; empty when the body has none.
    pub fn read(&self, response: &HttpResponse) -> Vec<ApiErrorDetail> {
        match self {
            Self::Body => vec![ApiErrorDetail {
                key: "body".to_owned(),
                message: bounded_body(&response.body),
            }],
            Self::Fields {
                key,
                message,
                under,
            } => {
                let Ok(body) = serde_json::from_str::<Value>(&response.body) else {
                    return Vec::new();
                };
                let found = match under {
                    Some(field) => crate::rest::value_at(&body, field),
                    None => Some(&body),
                };
                let objects: Vec<&Value> = match found {
                    Some(Value::Array(items)) => items.iter().collect(),
                    Some(object @ Value::Object(_)) => vec![object],
                    _ => Vec::new(),
                };
                let text = |object: &Value, field: &str| match object.get(field) {
                    Some(Value::String(text)) => text.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                objects
                    .into_iter()
                    .map(|object| ApiErrorDetail {
                        key: text(object, key),
                        message: text(object, message),
                    })
                    .filter(|d| !d.key.is_empty() || !d.message.is_empty())
                    .collect()
            }
        }
    }
}

/// The body as text, cut at a character boundary at most [`MAX_ERROR_BODY`] bytes in.
fn bounded_body(body: &str) -> String {
    if body.len() <= MAX_ERROR_BODY {
        return body.to_owned();
    }
    let mut cut = MAX_ERROR_BODY;
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}... (truncated)", &body[..cut])
}

/// The variants an error status can map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// [`ConnectorError::Unauthorized`]: the host refreshes the token once, then gives up.
    Unauthorized,
    /// [`ConnectorError::RateLimited`]: trying again later may succeed.
    RateLimited,
    /// [`ConnectorError::QuotaExhausted`]: nothing succeeds until the quota resets.
    QuotaExhausted,
    /// [`ConnectorError::AlreadyExists`]: what a create asked for is there already.
    AlreadyExists,
    /// [`ConnectorError::Api`], with the API's details.
    Api,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    status: u16,
    key: Option<String>,
    kind: ErrorKind,
}

/// How one API's error responses become [`ConnectorError`]s.
///
/// ```
/// use plugboard_core::rest::{ErrorDetails, ErrorKind, ErrorMapping};
/// use plugboard_core::{ConnectorError, HttpResponse};
/// use serde_json::json;
///
/// // Constant Contact: `{error_key, error_message}` objects; both limits answer 429, and only
/// // the key tells the daily quota from the per-second throttle.
/// let errors = ErrorMapping::new(ErrorDetails::fields("error_key", "error_message"))
///     .on_key(429, "quota_exceeded", ErrorKind::QuotaExhausted);
///
/// let quota = HttpResponse::json(429, &json!({"error_key": "quota_exceeded", "error_message": "Limit Exceeded"}));
/// assert_eq!(errors.error(&quota), ConnectorError::QuotaExhausted { resets_at: None });
/// let throttled = HttpResponse::json(429, &json!({"error_key": "throttled", "error_message": "Slow down"}));
/// assert!(matches!(errors.error(&throttled), ConnectorError::RateLimited { .. }));
///
/// let invalid = HttpResponse::json(400, &json!([{"error_key": "contacts.api.validation", "error_message": "email_address is required"}]));
/// assert_eq!(
///     errors.check(invalid).unwrap_err().to_string(),
///     "API error (HTTP 400): email_address is required (contacts.api.validation)"
/// );
///
/// // A create: a 409 means the thing is there already.
/// let taken = HttpResponse::json(409, &json!([{"error_key": "conflict", "error_message": "Name taken"}]));
/// assert_eq!(
///     errors.check_create(taken, "a list named `VIP`").unwrap_err().to_string(),
///     "a list named `VIP` already exists; the API says \"Name taken\" (conflict)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMapping {
    details: ErrorDetails,
    rules: Vec<Rule>,
    retry_after: bool,
}

impl ErrorMapping {
    /// The default mapping (401 `Unauthorized`, 429 `RateLimited`, anything else `Api`) over an
    /// API that writes its error details as `details` says.
    pub fn new(details: ErrorDetails) -> Self {
        Self {
            details,
            rules: Vec::new(),
            retry_after: false,
        }
    }

    /// `status` means `kind`, whatever the body says.
    #[must_use]
    pub fn on(mut self, status: u16, kind: ErrorKind) -> Self {
        self.rules.push(Rule {
            status,
            key: None,
            kind,
        });
        self
    }

    /// `status` with an error detail whose key is `key` means `kind`. Rules with a key are tried
    /// before rules without one.
    #[must_use]
    pub fn on_key(mut self, status: u16, key: &str, kind: ErrorKind) -> Self {
        self.rules.push(Rule {
            status,
            key: Some(key.to_owned()),
            kind,
        });
        self
    }

    /// Reads a 429's `Retry-After` header (seconds) into `RateLimited::retry_after_ms`.
    #[must_use]
    pub fn reading_retry_after(mut self) -> Self {
        self.retry_after = true;
        self
    }

    /// The variant `response` maps to, and the API's details.
    fn classify(&self, response: &HttpResponse) -> (ErrorKind, Vec<ApiErrorDetail>) {
        let details = self.details.read(response);
        let keyed = self.rules.iter().filter(|rule| {
            rule.status == response.status
                && rule
                    .key
                    .as_deref()
                    .is_some_and(|key| details.iter().any(|d| d.key == key))
        });
        let plain = self
            .rules
            .iter()
            .filter(|rule| rule.status == response.status && rule.key.is_none());
        let kind = keyed.chain(plain).map(|rule| rule.kind).next();
        let kind = kind.unwrap_or(match response.status {
            401 => ErrorKind::Unauthorized,
            429 => ErrorKind::RateLimited,
            _ => ErrorKind::Api,
        });
        (kind, details)
    }

    /// The error for a response that is not a success.
    pub fn error(&self, response: &HttpResponse) -> ConnectorError {
        let (kind, errors) = self.classify(response);
        match kind {
            ErrorKind::Unauthorized => ConnectorError::Unauthorized {
                message: match (&self.details, errors.first()) {
                    (ErrorDetails::Body, Some(body)) => {
                        format!("HTTP {}: {}", response.status, body.message)
                    }
                    (_, Some(first)) if !first.message.is_empty() => first.message.clone(),
                    _ => format!("the API refused the credentials (HTTP {})", response.status),
                },
            },
            ErrorKind::RateLimited => ConnectorError::RateLimited {
                retry_after_ms: self
                    .retry_after
                    .then(|| response.header("retry-after"))
                    .flatten()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|secs| secs.saturating_mul(1000)),
            },
            ErrorKind::QuotaExhausted => ConnectorError::QuotaExhausted { resets_at: None },
            ErrorKind::AlreadyExists => already_exists("the resource", response.status, &errors),
            ErrorKind::Api => ConnectorError::Api {
                status: response.status,
                errors,
            },
        }
    }

    /// Passes a 2xx response through and turns any other into its error.
    pub fn check(&self, response: HttpResponse) -> Result<HttpResponse, ConnectorError> {
        if response.is_success() {
            Ok(response)
        } else {
            Err(self.error(&response))
        }
    }

    /// Like [`check`](Self::check), for a request that creates `what` (e.g. "a contact with
    /// email ada@example.com"): a 409 means it already exists, which the host treats as final.
    pub fn check_create(
        &self,
        response: HttpResponse,
        what: &str,
    ) -> Result<HttpResponse, ConnectorError> {
        if response.status == 409 {
            return Err(already_exists(
                what,
                response.status,
                &self.details.read(&response),
            ));
        }
        self.check(response)
    }
}

/// `AlreadyExists`, quoting the API's words as its own so its "… already exists." does not read
/// as the message repeating itself.
fn already_exists(what: &str, status: u16, details: &[ApiErrorDetail]) -> ConnectorError {
    let quoted: Vec<String> = details
        .iter()
        .map(|e| {
            if e.key.is_empty() || e.key == "body" {
                format!("\"{}\"", e.message)
            } else {
                format!("\"{}\" ({})", e.message, e.key)
            }
        })
        .collect();
    ConnectorError::AlreadyExists {
        message: if quoted.is_empty() {
            format!("{what} already exists (HTTP {status})")
        } else {
            format!("{what} already exists; the API says {}", quoted.join("; "))
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn constant_contact() -> ErrorMapping {
        ErrorMapping::new(ErrorDetails::fields("error_key", "error_message")).on_key(
            429,
            "quota_exceeded",
            ErrorKind::QuotaExhausted,
        )
    }

    #[test]
    fn array_bodies_keep_every_api_message() {
        let response = HttpResponse::json(
            400,
            &json!([
                {"error_key": "contacts.api.validation", "error_message": "email_address is required"},
                {"error_key": "contacts.api.validation", "error_message": "list_memberships is required"}
            ]),
        );
        let ConnectorError::Api { status, errors } = constant_contact().error(&response) else {
            panic!("expected an API error");
        };
        assert_eq!(status, 400);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[1].message, "list_memberships is required");
    }

    #[test]
    fn details_under_a_field_and_non_text_keys() {
        let errors = ErrorMapping::new(ErrorDetails::Fields {
            key: "code".into(),
            message: "message".into(),
            under: Some("errors".into()),
        });
        let response = HttpResponse::json(
            422,
            &json!({"errors": [{"code": 17, "message": "bad"}, {"other": 1}]}),
        );
        assert_eq!(
            errors.error(&response),
            ConnectorError::Api {
                status: 422,
                errors: vec![ApiErrorDetail {
                    key: "17".into(),
                    message: "bad".into()
                }]
            }
        );
        let not_json = HttpResponse {
            status: 500,
            headers: Vec::new(),
            body: "<html>oops</html>".into(),
        };
        assert_eq!(
            errors.error(&not_json),
            ConnectorError::Api {
                status: 500,
                errors: vec![]
            }
        );
    }

    #[test]
    fn keyed_rules_win_over_plain_ones_and_defaults() {
        let mapping = constant_contact();
        let quota = HttpResponse::json(
            429,
            &json!({"error_key": "quota_exceeded", "error_message": "Limit Exceeded"}),
        );
        let throttled = HttpResponse::json(
            429,
            &json!({"error_key": "throttled", "error_message": "Too Many Requests"}),
        );
        assert_eq!(
            mapping.error(&quota),
            ConnectorError::QuotaExhausted { resets_at: None }
        );
        assert_eq!(
            mapping.error(&throttled),
            ConnectorError::RateLimited {
                retry_after_ms: None
            }
        );
        let gone = ErrorMapping::new(ErrorDetails::Body).on(403, ErrorKind::Unauthorized);
        assert!(matches!(
            gone.error(&HttpResponse::json(403, &json!({}))),
            ConnectorError::Unauthorized { .. }
        ));
    }

    #[test]
    fn unauthorized_keeps_the_api_message_or_says_what_happened() {
        let response = HttpResponse::json(
            401,
            &json!({"error_key": "unauthorized", "error_message": "Unauthorized"}),
        );
        assert_eq!(
            constant_contact().error(&response),
            ConnectorError::Unauthorized {
                message: "Unauthorized".into()
            }
        );
        assert_eq!(
            constant_contact().error(&HttpResponse::json(401, &json!([]))),
            ConnectorError::Unauthorized {
                message: "the API refused the credentials (HTTP 401)".into()
            }
        );
    }

    #[test]
    fn a_conflict_on_create_is_already_exists_with_the_api_message() {
        let response = HttpResponse::json(
            409,
            &json!([{"error_key": "contacts.api.conflict", "error_message": "Email already exists"}]),
        );
        let error = constant_contact()
            .check_create(response, "a contact with this email address")
            .expect_err("409");
        assert_eq!(
            error,
            ConnectorError::AlreadyExists {
                message: "a contact with this email address already exists; the API says \
                          \"Email already exists\" (contacts.api.conflict)"
                    .into()
            }
        );
        let bare = constant_contact()
            .check_create(HttpResponse::json(409, &json!({})), "a tag named `x`")
            .expect_err("409");
        assert_eq!(
            bare.to_string(),
            "a tag named `x` already exists (HTTP 409)"
        );
    }

    #[test]
    fn body_details_are_bounded_and_retry_after_is_read_when_asked() {
        let mapping = ErrorMapping::new(ErrorDetails::Body).reading_retry_after();
        let huge = HttpResponse {
            status: 500,
            headers: Vec::new(),
            body: "é".repeat(MAX_ERROR_BODY),
        };
        let ConnectorError::Api { errors, .. } = mapping.error(&huge) else {
            panic!("expected an API error");
        };
        assert!(errors[0].message.len() < MAX_ERROR_BODY + 20);
        assert!(errors[0].message.ends_with("(truncated)"));
        let throttled = HttpResponse {
            status: 429,
            headers: vec![("retry-after".into(), "3".into())],
            body: String::new(),
        };
        assert_eq!(
            mapping.error(&throttled),
            ConnectorError::RateLimited {
                retry_after_ms: Some(3000)
            }
        );
        let unauthorized = HttpResponse {
            status: 401,
            headers: Vec::new(),
            body: "no".into(),
        };
        assert_eq!(
            mapping.error(&unauthorized),
            ConnectorError::Unauthorized {
                message: "HTTP 401: no".into()
            }
        );
        assert!(mapping.check(HttpResponse::json(204, &json!(null))).is_ok());
    }
}
