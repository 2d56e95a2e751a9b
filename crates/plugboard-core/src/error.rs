//! Typed errors that travel between a connector and its host.
//!
//! One enum serves both directions because both sides need the same vocabulary: the host tells a
//! connector that a request was throttled or refused, and the connector tells the host that the API
//! rejected its input. Every variant serializes to JSON (`{"kind": "...", ...}`), which is how errors
//! cross the plugin boundary unchanged.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The result of a method or of anything a method asks for.
pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;

/// One problem reported by an API, kept with the API's own wording.
///
/// Constant Contact, like many APIs, answers with `{error_key, error_message}` pairs; keeping both
/// lets a user search the vendor's docs for the key and read the message as the vendor wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApiErrorDetail {
    /// The API's machine-readable key, e.g. `contacts.api.conflict`.
    pub key: String,
    /// The API's human-readable message.
    pub message: String,
}

/// Everything that can go wrong in a connector call, as a typed value.
///
/// Variants are coarse on purpose: the host decides what to do (retry, refresh, wait, stop) from the
/// variant alone, and the message carries the detail for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConnectorError {
    /// The API's short-term limit was hit; the call may succeed after `retry_after_ms`.
    #[error("rate limited by the API{}", retry_after_suffix(*retry_after_ms))]
    RateLimited {
        /// How long to wait before retrying, when the API or the limiter knows.
        retry_after_ms: Option<u64>,
    },
    /// The API's long-term quota (e.g. requests per day) is used up until `resets_at`.
    #[error("API quota exhausted{}", resets_at_suffix(*resets_at))]
    QuotaExhausted {
        /// When the quota resets, as seconds since the Unix epoch (UTC), when known.
        resets_at: Option<u64>,
    },
    /// The credentials were refused; the host refreshes the token once before giving up.
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// Why the API refused the credentials, in its words.
        message: String,
    },
    /// The API answered with an error status and, usually, its own error details.
    #[error("API error (HTTP {status}){}", api_details(errors))]
    Api {
        /// The HTTP status code.
        status: u16,
        /// The API's errors, in the order it sent them.
        errors: Vec<ApiErrorDetail>,
    },
    /// The resource to create already exists (HTTP 409 on a create). The message says what
    /// already exists (it is shown as it is, so it must say so itself).
    #[error("{message}")]
    AlreadyExists {
        /// What already exists, in the API's words when it gave any.
        message: String,
    },
    /// The request took longer than the host allows.
    #[error("the request timed out")]
    Timeout,
    /// The request never got an HTTP answer (DNS, connection, TLS...).
    #[error("transport error: {message}")]
    Transport {
        /// What failed, with any secret removed.
        message: String,
    },
    /// A request that is not idempotent was sent and no answer came (the connection dropped, or
    /// the answer took too long): it may or may not have taken effect, so sending it again could
    /// do it twice.
    #[error("outcome unknown: {message}")]
    OutcomeUnknown {
        /// What happened, with any secret removed.
        message: String,
    },
    /// The host could not read or write its state (a full disk, a damaged or read-only state
    /// file): nothing about the API, and retrying soon will not help.
    #[error("state store: {message}")]
    Store {
        /// What failed.
        message: String,
    },
    /// The run was cancelled while the call was in progress.
    #[error("cancelled")]
    Cancelled,
    /// The host refused the request (e.g. a host outside the connector's allow-list).
    #[error("denied by the host: {message}")]
    Denied {
        /// Why the host refused.
        message: String,
    },
    /// The input given to a method does not fit the method's input type.
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What is wrong with the input, with its location when known.
        message: String,
    },
    /// The API answered with something the connector cannot understand.
    #[error("unexpected response from the API: {message}")]
    UnexpectedResponse {
        /// What was wrong with the response.
        message: String,
    },
    /// The connector has no method with this id.
    #[error("unknown method `{method}`")]
    UnknownMethod {
        /// The id that was asked for.
        method: String,
    },
    /// A feature the host or connector does not provide (yet).
    #[error("not implemented: {what}")]
    NotImplemented {
        /// What is missing.
        what: String,
    },
    /// A plugin misbehaved: it panicked, broke the ABI or returned malformed data.
    #[error("plugin failure: {message}")]
    Plugin {
        /// What the plugin did wrong.
        message: String,
    },
}

impl ConnectorError {
    /// Builds a [`ConnectorError::Plugin`]; plugin failures are reported from many places.
    pub fn plugin(message: impl Into<String>) -> Self {
        Self::Plugin {
            message: message.into(),
        }
    }

    /// Builds a [`ConnectorError::UnexpectedResponse`] from anything printable.
    pub fn unexpected_response(message: impl std::fmt::Display) -> Self {
        Self::UnexpectedResponse {
            message: message.to_string(),
        }
    }

    /// Whether trying the same request again later may succeed, regardless of idempotency.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Timeout | Self::Transport { .. } => true,
            Self::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

fn retry_after_suffix(retry_after_ms: Option<u64>) -> String {
    retry_after_ms
        .map(|ms| format!("; retry after {ms} ms"))
        .unwrap_or_default()
}

fn resets_at_suffix(resets_at: Option<u64>) -> String {
    resets_at
        .map(|secs| {
            format!(
                "; it resets at {} (Unix time {secs})",
                utc_time_of_day(secs)
            )
        })
        .unwrap_or_default()
}

/// Formats seconds since the epoch as `HH:MM:SS UTC`, enough to tell a user when to come back.
fn utc_time_of_day(secs: u64) -> String {
    let in_day = secs % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        in_day / 3600,
        (in_day % 3600) / 60,
        in_day % 60
    )
}

fn api_details(errors: &[ApiErrorDetail]) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let joined: Vec<String> = errors
        .iter()
        .map(|e| format!("{} ({})", e.message, e.key))
        .collect();
    format!(": {}", joined.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_round_trip_as_tagged_json() {
        let error = ConnectorError::Api {
            status: 409,
            errors: vec![ApiErrorDetail {
                key: "contacts.api.conflict".into(),
                message: "Email already exists".into(),
            }],
        };
        let json = serde_json::to_value(&error).expect("serializable");
        assert_eq!(json["kind"], "api");
        assert_eq!(json["status"], 409);
        let back: ConnectorError = serde_json::from_value(json).expect("deserializable");
        assert_eq!(back, error);
    }

    #[test]
    fn messages_name_the_api_wording_and_reset_time() {
        let api = ConnectorError::Api {
            status: 400,
            errors: vec![ApiErrorDetail {
                key: "contacts.api.validation".into(),
                message: "email_address is required".into(),
            }],
        };
        assert_eq!(
            api.to_string(),
            "API error (HTTP 400): email_address is required (contacts.api.validation)"
        );
        let quota = ConnectorError::QuotaExhausted {
            resets_at: Some(86_400 * 3),
        };
        assert!(quota.to_string().contains("00:00:00 UTC"), "{quota}");
    }

    #[test]
    fn only_transient_failures_are_transient() {
        assert!(ConnectorError::Timeout.is_transient());
        assert!(
            ConnectorError::Api {
                status: 503,
                errors: vec![]
            }
            .is_transient()
        );
        assert!(
            !ConnectorError::Api {
                status: 400,
                errors: vec![]
            }
            .is_transient()
        );
        assert!(!ConnectorError::Cancelled.is_transient());
    }
}
