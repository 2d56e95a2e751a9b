//! Reading an answer or a failure: where a request went (never its URL), what a transport error
//! means, and which 429 is a throttle, a used-up quota or a full queue.

use std::time::Duration;

use plugboard_core::{ConnectorError, HttpResponse};
use reqwest::Url;
use serde_json::{Map, Value};

use super::ExecutorConfig;

/// `host:port` of `url`, the port made explicit: where a request went, for error messages. Never
/// the path or the query (a query may carry a key), nor any userinfo.
pub(crate) fn authority(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// Maps a reqwest error on a request of connection `connection` to `to` (a `host:port`, see
/// [`authority`], perhaps with what is there), naming both, without the URL (a query may carry a
/// key) or any header.
pub(crate) fn transport_error(
    error: &reqwest::Error,
    connection: &str,
    to: &str,
) -> ConnectorError {
    if error.is_timeout() {
        return ConnectorError::Timeout;
    }
    let kind = if error.is_connect() {
        format!("cannot connect to {to}")
    } else if error.is_body() || error.is_decode() {
        format!("the response body from {to} could not be read")
    } else if error.is_request() {
        format!("the request to {to} could not be sent")
    } else {
        format!("the HTTP exchange with {to} failed")
    };
    let mut message = format!("connection `{connection}`: {kind}");
    let mut source = std::error::Error::source(error);
    // Sources are hyper/io/rustls errors; none of them carries our headers or URL.
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ConnectorError::Transport { message }
}

/// Says, at `warn` (shown by default), that a run waits for a used-up quota and for how long:
/// a wait of hours must not look like a hung process.
pub(super) fn announce_quota_wait(connection: Option<&str>, wait: Duration) {
    let minutes = wait.as_secs().div_ceil(60);
    let how_long = if minutes >= 60 {
        format!("{} h {:02} min", minutes / 60, minutes % 60)
    } else {
        format!("{minutes} min")
    };
    match connection {
        Some(connection) => tracing::warn!(
            connection,
            "the API's quota is used up; waiting {how_long} for it to reset (--wait-for-quota)"
        ),
        None => tracing::warn!(
            "a quota is used up; waiting {how_long} for it to reset (--wait-for-quota)"
        ),
    }
}

/// The error for a request that is not idempotent and failed once it may have reached the
/// server: sent, then no answer (or not in time).
pub(super) fn outcome_unknown(
    error: &reqwest::Error,
    connection: &str,
    to: &str,
) -> ConnectorError {
    let what = if error.is_timeout() {
        "no answer came in time"
    } else {
        "no answer came"
    };
    let mut message = format!("connection `{connection}`: the request to {to} was sent and {what}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ConnectorError::OutcomeUnknown { message }
}

/// `Retry-After` as delta seconds (HTTP dates are treated as absent).
pub(super) fn retry_after(response: &HttpResponse) -> Option<Duration> {
    response
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// The generic quota rule of the module docs.
pub(super) fn is_quota(
    response: &HttpResponse,
    retry_after: Option<Duration>,
    config: &ExecutorConfig,
) -> bool {
    retry_after.is_some_and(|d| d > config.quota_retry_after)
        || error_code_contains(response, "quota")
}

/// Whether a 429 says a queue of the account's jobs is full (Constant Contact:
/// `too_many_queued_activities`): it clears only as the queued jobs finish, minutes later, so
/// retrying it like a throttle would spend requests (and the daily quota) for nothing.
pub(super) fn is_queue_full(response: &HttpResponse) -> bool {
    error_code_contains(response, "queue")
}

/// Whether the JSON body's `error_key`, `error`, `code` or `type` (in an object, or in any object
/// of an array) contains `word`, case-insensitively.
pub(super) fn error_code_contains(response: &HttpResponse, word: &str) -> bool {
    let Ok(body) = serde_json::from_str::<Value>(&response.body) else {
        return false;
    };
    let objects: Vec<&Map<String, Value>> = match &body {
        Value::Object(object) => vec![object],
        Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
        _ => Vec::new(),
    };
    objects.iter().any(|object| {
        ["error_key", "error", "code", "type"].iter().any(|field| {
            object
                .get(*field)
                .and_then(Value::as_str)
                .is_some_and(|v| v.to_ascii_lowercase().contains(word))
        })
    })
}

pub(super) fn next_utc_midnight_ms(now_ms: i64) -> i64 {
    (now_ms.div_euclid(86_400_000) + 1) * 86_400_000
}

pub(super) fn quota_error(resets_at_ms: Option<i64>) -> ConnectorError {
    ConnectorError::QuotaExhausted {
        resets_at: resets_at_ms.map(|ms| u64::try_from(ms.div_euclid(1000)).unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_a_request_went_is_host_and_port_only() {
        let url = |text: &str| Url::parse(text).expect("a URL");
        assert_eq!(
            authority(&url("https://user:pw@api.example.com/v3/x?api_key=k")),
            "api.example.com:443"
        );
        assert_eq!(authority(&url("http://127.0.0.1:9/v3")), "127.0.0.1:9");
        assert_eq!(authority(&url("http://[::1]:8080/")), "[::1]:8080");
    }

    #[test]
    fn quota_429s_are_told_from_throttles_by_body_or_retry_after() {
        let config = ExecutorConfig::default();
        let quota = HttpResponse::json(
            429,
            &serde_json::json!({"error_key": "quota_exceeded", "error_message": "Limit Exceeded"}),
        );
        let throttle = HttpResponse::json(
            429,
            &serde_json::json!({"error_key": "throttled", "error_message": "Too Many Requests"}),
        );
        assert!(is_quota(&quota, None, &config));
        assert!(!is_quota(&throttle, None, &config));
        assert!(is_quota(
            &throttle,
            Some(Duration::from_secs(7200)),
            &config
        ));
        assert_eq!(next_utc_midnight_ms(86_400_000 + 5), 2 * 86_400_000);
        let queue_full = HttpResponse::json(
            429,
            &serde_json::json!([{"error_key": "too_many_queued_activities",
                "error_message": "Too many requests. You exceeded 1,000 queued activities."}]),
        );
        assert!(is_queue_full(&queue_full));
        assert!(!is_queue_full(&throttle));
        assert!(!is_quota(&queue_full, None, &config));
    }
}
